"""Log anomaly detection on the Kubernetes API server's klog lines in ELK (report: site-reliability chapter).

Application code (runs in the detector's container; stdlib, `elasticsearch` and `prometheus_client` only, never
pulumi or infra): ``grok.py`` (grok expressions compiled as Logstash compiles them), ``klog.py`` (the twin of the
platform's klog grok, message templates, request latency), ``features.py`` (window features, robust-baseline
score, vocabulary), ``detect.py`` (one window: features, score, documents with deterministic ids) and
``detector.py`` (the CronJob's entry point and the metrics exporter). ``synthetic.py`` (the seeded stream with
injected anomalies) runs locally for the benchmark and tests.
Declaration side (runs in the Pulumi program, never in the container): ``config.py``, ``manifests.py``,
``deploy.py``."""
