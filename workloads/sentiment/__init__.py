"""Streaming sentiment analysis (report chapter 4, figure 4-7, the Kubernetes lambda architecture): tweets arrive
on Kafka, a Spark Structured Streaming job scores them with the current model and writes the results to Cassandra
(and the raw tweets to the datalake bucket), a nightly trainer retrains on what was collected and publishes a new
model version only if it scores at least as well on fixed known examples, and a small API answers queries.

Application code (runs in the containers, never imports pulumi or infra): ``synthetic.py`` (tweets with known
sentiment, the seed set and the known examples), ``model.py`` (the classifier), ``results.py`` (the Cassandra
table and its idempotent writes and queries), ``scoring.py`` (a micro-batch: score, write, archive; the model
watcher), ``stream.py``, ``trainer.py``, ``producer.py``, ``api.py``.

Declaration side (imports pulumi and infra, never runs in a container): ``config.py`` (the stack section
``pipeworks:workloads.sentiment``), ``manifests.py`` (pure specs), ``deploy.py`` (``WORKLOAD``)."""
