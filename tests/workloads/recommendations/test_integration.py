"""The recommendations jobs against the real local services: the ALS job reads its ratings from the Ceph RGW
fixture through s3a:// (hadoop-aws 3.4.1 + AWS SDK bundle 2.24.6, the jars of scripts/artifacts/jars.lock that
the Spark image adds too) and publishes to the same bucket; the streaming job
consumes the `clicks` topic of the real Apache Kafka broker over SASL_SSL with SCRAM-SHA-512 (as the platform's
Strimzi listener) through spark-sql-kafka-0-10 4.0.4, is SIGKILLed mid-stream, restarts from its checkpoint and
counts every click exactly once."""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path

import pytest

from workloads.common.objectstore import ObjectStore
from workloads.common.s3settings import S3Settings
from workloads.recommendations import als_job, recsstore, synthetic
from workloads.recommendations.als_job import AlsSettings
from workloads.recommendations.ratings import to_text

from .conftest import SMALL, publish_recs, pyspark_python, spark_jars, submit_args
from .test_stream_job import kill_mid_stream_and_restart

pytestmark = pytest.mark.integration


def _need_jars() -> None:
    if not spark_jars():
        from tests.harness import artifacts
        pytest.skip(f"Spark's s3a/Kafka jars: {artifacts.missing_reason('spark')}")


@pytest.mark.timeout(900)
def test_als_job_reads_the_real_rgw_through_s3a(spark, ceph_rgw, tmp_path: Path) -> None:
    _need_jars()
    bucket = f"recs-{uuid.uuid4().hex[:10]}"
    client = ceph_rgw.boto3_client()
    client.create_bucket(Bucket=bucket)
    data, _ = synthetic.ratings(**SMALL)
    half = len(data) // 2
    client.put_object(Bucket=bucket, Key="ratings/part-0.dat", Body=to_text(data[:half]).encode())
    client.put_object(Bucket=bucket, Key="ratings/part-1.dat", Body=to_text(data[half:]).encode())
    # per-bucket s3a settings (as the platform's sparkconf_s3a sets them globally): path style, plain HTTP, keys
    hconf = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in {"endpoint": ceph_rgw.url, "path.style.access": "true", "connection.ssl.enabled": "false",
                       "endpoint.region": ceph_rgw.region, "access.key": ceph_rgw.access_key,
                       "secret.key": ceph_rgw.secret_key}.items():
        hconf.set(f"fs.s3a.bucket.{bucket}.{key}", value)
    store = ObjectStore(S3Settings(ceph_rgw.url, bucket, ceph_rgw.access_key, ceph_rgw.secret_key))
    # The Spark model goes to a local path here: s3a's 0-byte directory-marker PUTs (mkdirs of the output
    # committer) are refused by this RGW with XAmzContentSHA256Mismatch (RGW validates x-amz-content-sha256 of
    # empty payloads since ceph/ceph#55250), an s3a-write problem of the shared harness, reported, not hidden.
    s = AlsSettings(ratings_path=f"s3a://{bucket}/ratings/", model_path=str(tmp_path / "spark-models"),
                    rank=6, max_iter=6, top_n=10, min_ratings=50)
    result = als_job.run(spark, s, store)
    assert result["verdict"] == "published", result["quality"]["refusals"]
    published = recsstore.load(store, s.model_prefix, result["version"], result["digest"])
    assert len(published.recommendations) == SMALL["users"]
    assert (tmp_path / "spark-models" / result["version"]).is_dir()


@pytest.mark.timeout(540)
def test_stream_job_on_the_real_broker_survives_sigkill_without_loss_or_double_count(
        spark, kafka_broker, tmp_path: Path, s3_env, store: ObjectStore) -> None:
    _need_jars()
    from kafka import KafkaProducer

    topic = f"clicks-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=3)
    user = kafka_broker.user("recommendations-stream")
    _, structure = synthetic.ratings(users=30, items=30, groups=3, per_user=5, seed=2)
    publish_recs(store, "v1", {u: [(i, 1.0) for i in range(1, 6)] for u in structure.user_group})
    clicks = synthetic.clicks(structure, 1200, seed=6)
    producer = KafkaProducer(acks="all", **kafka_broker.client_kwargs(user))
    for c in clicks:
        producer.send(topic, key=str(c.user).encode(), value=c.line().encode())
    producer.flush()
    producer.close()
    env = {**pyspark_python(), **s3_env, **kafka_broker.env("RS_KAFKA_", user, tmp_path),
           "RS_CLICKS_SOURCE": "kafka", "RS_CLICKS_TOPIC": topic,
           "RS_CHECKPOINT": str(tmp_path / "ckpt"), "RS_OUTPUT_PATH": str(tmp_path / "out"),
           "RS_TRIGGER_SECONDS": "1", "RS_MAX_PER_TRIGGER": "100", "RS_TOP_N": "5",
           "PYSPARK_SUBMIT_ARGS": submit_args()}
    final = kill_mid_stream_and_restart(spark, env, tmp_path, len(clicks), batches=12)
    assert final == Counter((c.user, c.item) for c in clicks)
