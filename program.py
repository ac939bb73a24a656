def build():\n    pass
