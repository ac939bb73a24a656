"""The streaming job: clicks -> per-user recent-interest features -> the batch top-N re-ranked.

    spark-submit spark_main.py stream      (the SparkApplication's mainApplicationFile and arguments)

Structured Streaming reads the ``clicks`` topic (``userId::productId::timestamp`` values; ``RS_CLICKS_SOURCE=files``
replays click files from object storage instead, e.g. a backfill). Each micro-batch (``foreachBatch``):

1. counts the batch's valid clicks per (user, product) and adds them to the previous features snapshot, giving
   the snapshot of this batch: ``<RS_OUTPUT_PATH>/features/batch=<id>/`` (user, item, clicks, last_ts);
2. re-ranks the newest published batch top-N (``recsstore``) of every user who clicked, by ``ranking.rerank``'s
   rule (ALS score + ``RS_BOOST`` per click), into ``<RS_OUTPUT_PATH>/reranked/batch=<id>/``.

Why this is at-least-once and restart-safe without double counting: Spark records a batch's offsets in the
checkpoint (``RS_CHECKPOINT``, on object storage) before running it and marks it committed only after
``foreachBatch`` returned. A driver killed mid-batch replays the same batch id over the same offsets on restart.
Every write of batch ``b`` overwrites ``batch=<b>`` and reads only the newest COMPLETE snapshot before ``b``
(a ``_SUCCESS`` marker written last by Hadoop's committer), so a replay produces the same output instead of
adding the clicks twice, and a torn write of a killed attempt is never read. Snapshots older than the newest
``RS_KEEP_SNAPSHOTS`` are deleted.

Exit status: 2 bad configuration; otherwise the query's own failure (the operator restarts the driver).
Application code: never imports pulumi or infra.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable

from workloads.common import modelregistry
from workloads.common.envconfig import SettingError, get_float, get_int, get_str
from workloads.common.kafkasettings import KafkaSettings, spark_kafka_options
from workloads.common.objectstore import ObjectStore
from workloads.common.s3settings import S3Settings

from . import recsstore
from .ratings import CLICK_PATTERN

log = logging.getLogger("recommendations.stream")

EXIT_CONFIG = 2
KAFKA_PREFIX = "RS_KAFKA_"
GROUP_PREFIX = "recommendations-stream"  # consumer groups <prefix>-...: the KafkaUser's prefix ACL (manifests.py)
_PATH = r"(s3a://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/\S*)?|file:/\S+|/\S+)"
_TOPIC = r"[A-Za-z0-9._-]{1,249}"
_BATCH_DIR = re.compile(r"batch=(\d+)/?$")


@dataclass(frozen=True)
class StreamSettings:
    """Every field from one RS_* variable (the SparkApplication's driver env)."""

    checkpoint: str
    """RS_CHECKPOINT (required): the query's checkpoint directory, e.g. s3a://recs-data/checkpoints/clicks."""
    output_path: str
    """RS_OUTPUT_PATH (required): where features/ and reranked/ go, e.g. s3a://recs-data/live."""
    source: str = "kafka"
    """RS_CLICKS_SOURCE: kafka (the clicks topic) or files (text files under RS_CLICKS_PATH)."""
    topic: str = "clicks"
    """RS_CLICKS_TOPIC: the topic (kafka source)."""
    clicks_path: str | None = None
    """RS_CLICKS_PATH: directory of click files (files source)."""
    kafka: KafkaSettings | None = field(default=None, repr=False)
    """RS_KAFKA_*: the brokers and the KafkaUser's credentials (kafka source; workloads.common.kafkasettings)."""
    model_prefix: str = recsstore.DEFAULT_PREFIX
    """RS_MODEL_PREFIX: where the batch job publishes (NEWEST.json)."""
    boost: float = 0.5
    """RS_BOOST: score added per recent click on a product of the user's top-N."""
    top_n: int = 20
    """RS_TOP_N: products per re-ranked list."""
    trigger_seconds: int = 30
    """RS_TRIGGER_SECONDS: micro-batch interval."""
    max_per_trigger: int = 100_000
    """RS_MAX_PER_TRIGGER: most records (kafka) or files (files) per micro-batch."""
    keep_snapshots: int = 3
    """RS_KEEP_SNAPSHOTS: feature snapshots kept (the newest ones)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> StreamSettings:
        source = get_str(env, "RS_CLICKS_SOURCE", "kafka", pattern="kafka|files", hint="use kafka or files")
        prefix = get_str(env, "RS_MODEL_PREFIX", recsstore.DEFAULT_PREFIX)
        try:
            prefix = modelregistry.check_prefix(prefix, "RS_MODEL_PREFIX")
        except ValueError as exc:
            raise SettingError(str(exc)) from None
        return cls(
            checkpoint=get_str(env, "RS_CHECKPOINT", pattern=_PATH, hint="an s3a://bucket/prefix URL or an absolute "
                                                                         "path, e.g. s3a://recs-data/checkpoints/clicks"),
            output_path=get_str(env, "RS_OUTPUT_PATH", pattern=_PATH, hint="an s3a://bucket/prefix URL or an "
                                                                           "absolute path"),
            source=source, topic=get_str(env, "RS_CLICKS_TOPIC", "clicks", pattern=_TOPIC,
                                         hint="1-249 letters, digits, '.', '_', '-'"),
            clicks_path=get_str(env, "RS_CLICKS_PATH", pattern=_PATH, hint="a directory of click files")
            if source == "files" else None,
            kafka=KafkaSettings.from_env(env, prefix=KAFKA_PREFIX) if source == "kafka" else None,
            model_prefix=prefix,
            boost=get_float(env, "RS_BOOST", 0.5, minimum=0.0, maximum=1000.0),
            top_n=int(get_int(env, "RS_TOP_N", 20, minimum=1, maximum=1000) or 20),
            trigger_seconds=int(get_int(env, "RS_TRIGGER_SECONDS", 30, minimum=1, maximum=3600) or 30),
            max_per_trigger=int(get_int(env, "RS_MAX_PER_TRIGGER", 100_000, minimum=1, maximum=None) or 1),
            keep_snapshots=int(get_int(env, "RS_KEEP_SNAPSHOTS", 3, minimum=2, maximum=1000) or 3))


def read_clicks(spark: Any, s: StreamSettings) -> Any:
    """The streaming DataFrame of raw values (one string column `value`)."""
    if s.source == "files":
        return spark.readStream.option("maxFilesPerTrigger", s.max_per_trigger).text(s.clicks_path)
    assert s.kafka is not None
    return (spark.readStream.format("kafka").options(**spark_kafka_options(s.kafka))
            .option("subscribe", s.topic).option("startingOffsets", "earliest").option("groupIdPrefix", GROUP_PREFIX)
            # a retention-deleted offset is lost data: fail loudly instead of skipping it
            .option("failOnDataLoss", "true").option("maxOffsetsPerTrigger", s.max_per_trigger)
            .load().selectExpr("CAST(value AS STRING) AS value"))


def parse_clicks(df: Any) -> Any:
    """(user int, item int, ts long) of the valid click lines; malformed lines are dropped."""
    from pyspark.sql import functions as F
    parts = [F.regexp_extract("value", CLICK_PATTERN, i) for i in (1, 2, 3)]
    return (df.select(*[p.alias(n) for p, n in zip(parts, ("u", "i", "t"))]).where(F.col("u") != "")
            .where((F.col("u").cast("long") <= 2**31 - 1) & (F.col("i").cast("long") <= 2**31 - 1))
            .select(F.col("u").cast("int").alias("user"), F.col("i").cast("int").alias("item"),
                    F.col("t").cast("long").alias("ts")))


class Snapshots:
    """The features snapshots under <output>/features through Hadoop's FileSystem (s3a:// or local)."""

    def __init__(self, spark: Any, output_path: str):
        self.spark = spark
        self.root = output_path.rstrip("/") + "/features"
        jvm = spark.sparkContext._jvm
        self._path = jvm.org.apache.hadoop.fs.Path
        self._fs = self._path(self.root).getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())

    def path(self, batch_id: int) -> str:
        return f"{self.root}/batch={batch_id}"

    def complete(self) -> list[int]:
        """Batch ids of the snapshots whose write finished (a _SUCCESS marker), ascending."""
        root = self._path(self.root)
        if not self._fs.exists(root):
            return []
        ids = []
        for status in self._fs.listStatus(root):
            m = _BATCH_DIR.search(status.getPath().toString())
            if m and self._fs.exists(self._path(status.getPath(), "_SUCCESS")):
                ids.append(int(m.group(1)))
        return sorted(ids)

    def previous(self, batch_id: int) -> int | None:
        earlier = [b for b in self.complete() if b < batch_id]
        return earlier[-1] if earlier else None

    def prune(self, keep: int) -> None:
        for b in self.complete()[:-keep]:
            self._fs.delete(self._path(self.path(b)), True)


def process_batch(spark: Any, clicks: Any, batch_id: int, s: StreamSettings, snapshots: Snapshots,
                  top_n: Any | None) -> None:
    """One micro-batch (see the module docstring); `top_n`: DataFrame(user, item, score, pos) or None."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    # read once: the snapshot and the re-ranking both use it (a Kafka batch would be fetched twice otherwise)
    batch = clicks.groupBy("user", "item").agg(F.count("*").alias("clicks"), F.max("ts").alias("last_ts")).persist()
    prev = snapshots.previous(batch_id)
    if prev is not None:
        before = spark.read.parquet(snapshots.path(prev))
        merged = before.unionByName(batch).groupBy("user", "item").agg(
            F.sum("clicks").cast("long").alias("clicks"), F.max("last_ts").alias("last_ts"))
    else:
        merged = batch.select("user", "item", F.col("clicks").cast("long"), "last_ts")
    # Overwrite: a replay of this batch id after a crash writes the same snapshot again, never on top of it.
    merged.write.mode("overwrite").parquet(snapshots.path(batch_id))
    if top_n is not None:
        users = batch.select("user").distinct()
        interest = spark.read.parquet(snapshots.path(batch_id)).join(users, "user")
        scored = top_n.join(users, "user").join(interest.select("user", "item", "clicks"), ["user", "item"], "left")
        # ranking.rerank's rule in SQL: score + boost * clicks, ties by the batch position
        scored = scored.withColumn("new_score", F.col("score") + F.lit(s.boost) * F.coalesce(F.col("clicks"), F.lit(0)))
        window = Window.partitionBy("user").orderBy(F.col("new_score").desc(), F.col("pos").asc())
        ranked = scored.withColumn("rank", F.row_number().over(window)).where(F.col("rank") <= s.top_n)
        out = ranked.groupBy("user").agg(F.sort_array(F.collect_list(
            F.struct("rank", "item", F.col("new_score").alias("score")))).alias("items"))
        out.write.mode("overwrite").parquet(f"{s.output_path.rstrip('/')}/reranked/batch={batch_id}")
    batch.unpersist()
    snapshots.prune(s.keep_snapshots)


def top_n_frame(spark: Any, recs: dict[int, list[tuple[int, float]]]) -> Any:
    rows = [(u, i, float(score), pos) for u, items in recs.items() for pos, (i, score) in enumerate(items)]
    return spark.createDataFrame(rows, "user int, item int, score double, pos int")


def start(spark: Any, s: StreamSettings, load_top_n: Callable[[], Any | None], *, available_now: bool = False) -> Any:
    """Start the query; `load_top_n()` gives the newest batch top-N frame (or None) and is asked every batch.
    `available_now`: process what the source holds now, then stop (a backfill; the benchmark)."""
    snapshots = Snapshots(spark, s.output_path)
    clicks = parse_clicks(read_clicks(spark, s))

    def each(df: Any, batch_id: int) -> None:
        process_batch(spark, df, batch_id, s, snapshots, load_top_n())

    writer = clicks.writeStream.foreachBatch(each).option("checkpointLocation", s.checkpoint)
    writer = writer.trigger(availableNow=True) if available_now else writer.trigger(
        processingTime=f"{s.trigger_seconds} seconds")
    return writer.queryName("recommendations-clicks").start()


class NewestRecs:
    """The newest published top-N as a DataFrame, reloaded only when NEWEST.json moves."""

    def __init__(self, spark: Any, store: ObjectStore, prefix: str):
        self.spark, self.store, self.prefix = spark, store, prefix
        self.loaded: tuple[str, str] | None = None
        self.frame: Any | None = None

    def __call__(self) -> Any | None:
        try:
            pointer = recsstore.newest_pointer(self.store, self.prefix)
            if pointer is not None and pointer != self.loaded:
                published = recsstore.load(self.store, self.prefix, *pointer)
                if self.frame is not None:
                    self.frame.unpersist()
                self.frame = top_n_frame(self.spark, published.recommendations).cache()
                self.loaded = pointer
        except modelregistry.RegistryError as exc:  # keep the previous lists; features are still updated
            log.warning("batch recommendations not (re)loaded: %s", exc)
        return self.frame


def main(env: Mapping[str, str] = os.environ) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = StreamSettings.from_env(env)
        store = ObjectStore(S3Settings.from_env(env))
    except SettingError as exc:
        log.error("configuration: %s", exc)
        return EXIT_CONFIG
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.appName("recommendations-stream").getOrCreate()
    query = start(spark, settings, NewestRecs(spark, store, settings.model_prefix))
    query.awaitTermination()
    return 0


if __name__ == "__main__":
    sys.exit(main())
