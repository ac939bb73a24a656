"""Platform services built on the cluster and storage: Kafka, Spark, ELK, the GPU operator, monitoring and
JupyterHub, one component per subpackage, composed by infra/platform.py."""
