"""Entry point the Pulumi engine runs (`pulumi up -s dev|prod`)."""

import program

program.build()
