"""The payment fraud-detection workload (report chapter 5 and figure 2-3): a nightly trainer (logistic regression
by default, a bounded forest as the alternative), the Flask classification API and the Kafka stream scorer.

Two sides live here. Application code runs in the containers (each ``Dockerfile.*`` copies exactly its entry
point's import closure, with what it needs from ``workloads.common``): ``trainer.py``, ``api.py`` (with
``gunicorn.conf.py``), ``scorer.py``, ``registry.py`` and ``features.py``; ``synthetic.py`` (demo data) runs
locally. None of them imports pulumi or infra (a test parses the imports).
The declaration runs in the Pulumi program, never in a container: ``config.py`` (the
``workloads.fraud`` config section) and ``manifests.py`` (pure renderers) import ``infra``; ``deploy.py``, which
wires them through the platform's handles, also imports pulumi."""
