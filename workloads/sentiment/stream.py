"""The speed layer: a Spark Structured Streaming job (the SparkApplication's main file) reading tweets from Kafka,
handing each micro-batch to ``scoring.process_batch`` through ``foreachBatch``, checkpointing on object storage.

Why the Python driver writes Cassandra (inside foreachBatch) rather than the Spark Cassandra connector: a
micro-batch is bounded (``maxOffsetsPerTrigger``) and small, the idempotent write is one tested function shared
with the tests and the benchmark, and the platform's Spark image needs no extra Scala connector jars; the price is
that a batch is collected to the driver, which is why the batch size is bounded.

Settings (environment; a bad value exits 2 naming the variable):
  SENTIMENT_SOURCE            kafka (default) | files (a directory of JSON-lines files; demos and tests)
  SENTIMENT_KAFKA_*           the Kafka connection (workloads.common.kafkasettings), SENTIMENT_TOPIC (tweets)
  SENTIMENT_SOURCE_DIR        the directory for SENTIMENT_SOURCE=files
  SENTIMENT_CHECKPOINT        checkpoint location (s3a://<bucket>/checkpoints/sentiment on the cluster)
  SENTIMENT_MAX_PER_TRIGGER   records per micro-batch (default 5000); SENTIMENT_TRIGGER_SECONDS (default 5)
  CASSANDRA_HOST/PORT/KEYSPACE/LOCAL_DC, CASSANDRA_USERNAME, CASSANDRA_PASSWORD or CASSANDRA_PASSWORD_FILE
  SENTIMENT_MODEL_DIR         a directory of published model versions (<version>.json), or the object store:
  BUCKET_* / AWS_* + SENTIMENT_MODEL_PREFIX (models/sentiment) read through the model registry
  SENTIMENT_RAW_DIR           local archive directory, or the bucket (BUCKET_*) under SENTIMENT_RAW_PREFIX (raw/tweets)
Application code: never imports pulumi or infra.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workloads.common.envconfig import SettingError, get_int, get_secret, get_str
from workloads.sentiment.model import SentimentModel
from workloads.sentiment.results import ResultStore
from workloads.sentiment.scoring import ModelWatcher, process_batch

log = logging.getLogger("sentiment.stream")


@dataclass(frozen=True)
class CassandraSettings:
    host: str
    port: int
    keyspace: str
    local_dc: str
    username: str
    password: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "CassandraSettings":
        password = get_secret(env, "CASSANDRA_PASSWORD", file_name="CASSANDRA_PASSWORD_FILE")
        if not password:
            raise SettingError("CASSANDRA_PASSWORD_FILE (the role Secret's password key) or CASSANDRA_PASSWORD "
                               "is required")
        return cls(host=get_str(env, "CASSANDRA_HOST"), port=get_int(env, "CASSANDRA_PORT", 9042, minimum=1, maximum=65535),
                   keyspace=get_str(env, "CASSANDRA_KEYSPACE", pattern=r"[a-z][a-z0-9_]{0,47}",
                                    hint="a lowercase CQL identifier"),
                   local_dc=get_str(env, "CASSANDRA_LOCAL_DC", "dc1"), username=get_str(env, "CASSANDRA_USERNAME"),
                   password=password)

    def connect(self) -> tuple[Any, Any]:
        """(Cluster, Session) with DC-aware, token-aware routing to the local datacenter."""
        from cassandra.auth import PlainTextAuthProvider
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

        profile = ExecutionProfile(load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(self.local_dc)))
        cluster = Cluster([self.host], port=self.port, protocol_version=5,
                          auth_provider=PlainTextAuthProvider(self.username, self.password),
                          execution_profiles={EXEC_PROFILE_DEFAULT: profile})
        return cluster, cluster.connect()


def dir_model_loader(directory: Path) -> Callable[[], tuple[str, SentimentModel] | None]:
    """Published versions as files <version>.json in a directory (local runs and tests): the newest name wins."""
    def load() -> tuple[str, SentimentModel] | None:
        files = sorted(directory.glob("*.json"))
        if not files:
            return None
        return files[-1].stem, SentimentModel.from_bytes(files[-1].read_bytes())
    return load


def registry_model_loader(env: Mapping[str, str]) -> Callable[[], tuple[str, SentimentModel] | None]:
    """The newest version the trainer published (its last run report), verified against the manifest digest."""
    from workloads.common import modelregistry
    from workloads.common.objectstore import ObjectStore
    from workloads.common.s3settings import S3Settings

    store = ObjectStore(S3Settings.from_env(env))
    prefix = modelregistry.check_prefix(get_str(env, "SENTIMENT_MODEL_PREFIX", "models/sentiment"),
                                        "SENTIMENT_MODEL_PREFIX")

    def load() -> tuple[str, SentimentModel] | None:
        run = modelregistry.latest_run(store, prefix)
        current = (run or {}).get("current") or {}
        if not current.get("version") or not current.get("digest"):
            return None
        art = modelregistry.fetch_verified(store, prefix, current["version"], current["digest"])
        return current["version"], SentimentModel.from_bytes(art.artifact)
    return load


def archiver(env: Mapping[str, str]) -> Callable[[str, bytes], None]:
    local = env.get("SENTIMENT_RAW_DIR", "").strip()
    if local:
        root = Path(local)

        def put_local(key: str, body: bytes) -> None:
            path = root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(body)
            tmp.replace(path)  # a replayed batch rewrites the whole object
        return put_local
    from workloads.common.objectstore import ObjectStore
    from workloads.common.s3settings import S3Settings

    store = ObjectStore(S3Settings.from_env(env))
    return lambda key, body: store.put_bytes(key, body, content_type="application/x-ndjson")


def build_query(spark: Any, env: Mapping[str, str], handle_batch: Callable[[Any, int], None]) -> Any:
    source = get_str(env, "SENTIMENT_SOURCE", "kafka")
    per_trigger = get_int(env, "SENTIMENT_MAX_PER_TRIGGER", 5000, minimum=1, maximum=1_000_000)
    if source == "files":
        reader = (spark.readStream.format("text").option("maxFilesPerTrigger", 1)
                  .load(get_str(env, "SENTIMENT_SOURCE_DIR")))
    elif source == "kafka":
        from workloads.common.kafkasettings import KafkaSettings

        k = KafkaSettings.from_env(env, prefix="SENTIMENT_KAFKA_")
        opts = {"kafka.bootstrap.servers": k.bootstrap, "kafka.security.protocol": k.security_protocol,
                "subscribe": get_str(env, "SENTIMENT_TOPIC", "tweets"), "startingOffsets": "earliest",
                "maxOffsetsPerTrigger": str(per_trigger), "failOnDataLoss": "true"}
        if k.security_protocol.startswith("SASL_"):
            opts["kafka.sasl.mechanism"] = "SCRAM-SHA-512"
            opts["kafka.sasl.jaas.config"] = (
                'org.apache.kafka.common.security.scram.ScramLoginModule required '
                f'username="{k.username}" password="{k.password}";')
        if k.ca_file:
            opts.update({"kafka.ssl.truststore.type": "PEM", "kafka.ssl.truststore.location": k.ca_file})
        reader = spark.readStream.format("kafka").options(**opts).load().selectExpr("CAST(value AS STRING) AS value")
    else:
        raise SettingError(f"SENTIMENT_SOURCE={source!r} is invalid: use kafka or files")
    trigger = get_int(env, "SENTIMENT_TRIGGER_SECONDS", 5, minimum=1, maximum=3600)
    return (reader.writeStream.foreachBatch(handle_batch)
            .option("checkpointLocation", get_str(env, "SENTIMENT_CHECKPOINT"))
            .trigger(processingTime=f"{trigger} seconds"))


def main(env: Mapping[str, str] = os.environ) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        cass = CassandraSettings.from_env(env)
        model_dir = env.get("SENTIMENT_MODEL_DIR", "").strip()
        loader = dir_model_loader(Path(model_dir)) if model_dir else registry_model_loader(env)
        archive = archiver(env)
        raw_prefix = get_str(env, "SENTIMENT_RAW_PREFIX", "raw/tweets")
        watcher = ModelWatcher(loader, refresh_s=float(get_int(env, "SENTIMENT_MODEL_REFRESH_SECONDS", 60,
                                                                 minimum=1, maximum=86400)))
    except SettingError as e:
        print(f"sentiment stream: {e}", file=sys.stderr)
        return 2
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.appName("sentiment-stream").getOrCreate()
    cluster, session = cass.connect()
    store = ResultStore(session, cass.keyspace)
    store.ensure_schema()

    def handle_batch(df: Any, batch_id: int) -> None:
        values = [r.value for r in df.select("value").collect()]
        stats = process_batch(values, batch_id, watcher=watcher, write=store.write, archive=archive,
                              raw_prefix=raw_prefix)
        log.info("batch %d: %d received, %d scored with %s, %d rejected", batch_id, stats.received, stats.scored,
                 stats.model_version or "-", stats.rejected)

    try:
        query = build_query(spark, env, handle_batch).start()
        query.awaitTermination()
    except SettingError as e:
        print(f"sentiment stream: {e}", file=sys.stderr)
        return 2
    finally:
        cluster.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
