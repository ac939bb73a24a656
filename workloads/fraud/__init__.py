"""The payment fraud-detection workload (report chapter 5 and figure 2-3): a RandomForest trainer, the
Flask classification API and the Kafka stream scorer.

Run in the containers (the Dockerfile.* here copy them): api.py (with gunicorn.conf.py), scorer.py, trainer.py
and what they import (envconfig.py, features.py, registry.py, workloads/common); synthetic.py makes test data.
These never import pulumi or infra. Run only by `pulumi up`, never in a container: config.py (the
`pipeworks:workloads.fraud` model, built on infra.config), deploy.py (the Kubernetes objects, with pulumi) and
manifests.py (their pure specs)."""
