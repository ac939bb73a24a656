"""Product recommendations (the report's e-commerce chapter): Spark's ALS learns from users' ratings read from
object storage (``s3a://``), a Structured Streaming job keeps the top-N fresh from the ``clicks`` topic, and a
Flask API serves the newest published recommendations.

Two sides live here. Application code runs in the containers and never imports pulumi or infra (a test parses
the imports): ``ratings.py`` (the ``userId::productId::rating::timestamp`` format), ``quality.py`` (metrics and
the publish gate, pure), ``ranking.py`` (re-ranking by recent interest, pure), ``settings.py`` (the jobs'
environment), ``als_job.py`` (the batch job, pyspark), ``stream_job.py`` (the streaming job, pyspark),
``recsstore.py`` (publishing and reading recommendation versions) and ``api.py`` (the API). ``synthetic.py``
(ratings and clicks with a known structure) feeds tests and benchmarks.
The declaration runs in the Pulumi program, never in a container: ``config.py`` (the ``workloads.recommendations``
config section) and ``manifests.py`` (pure renderers) import ``infra``; ``deploy.py`` also imports pulumi."""
