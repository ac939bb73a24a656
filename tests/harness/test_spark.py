"""The Spark harness (tests/harness/spark.py): its configuration without a JVM, and pyspark against the real Ceph
RGW through ``s3a://`` and against the real Kafka broker over SASL_SSL with Structured Streaming."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.harness import artifacts
from tests.harness.spark import SPARK_JARS, base_conf, s3a_conf, spark_session


class _Rgw:  # the two attributes s3a_conf reads from tests.harness.ceph.RgwEndpoint
    def __init__(self, url: str) -> None:
        self.url, self.region = url, "us-east-1"


def test_the_jars_are_the_locked_spark_set_for_pysparks_hadoop() -> None:
    """hadoop-aws must equal the Hadoop client pyspark ships (pyspark/jars/hadoop-client-api-3.4.1.jar), and the
    Kafka connector must be Spark's own version."""
    import pyspark

    names = {(j.group, j.artifact): j.version for j in SPARK_JARS}
    client = sorted(p.name for p in (Path(pyspark.__file__).parent / "jars").glob("hadoop-client-api-*.jar"))
    assert client == [f"hadoop-client-api-{names['org.apache.hadoop', 'hadoop-aws']}.jar"]
    assert names["org.apache.spark", "spark-sql-kafka-0-10_2.13"] == pyspark.__version__
    assert ("software.amazon.awssdk", "bundle") in names
    assert {"kafka-clients", "commons-pool2", "spark-token-provider-kafka-0-10_2.13"} <= {a for _, a in names}


def test_base_conf_puts_every_jar_on_the_session_classpath(tmp_path: Path) -> None:
    conf = base_conf(app="t", tmp_dir=tmp_path)
    classpath = conf["spark.jars"].split(",")
    assert "spark.driver.extraClassPath" not in conf  # would put the AWS bundle's slf4j 1 ahead of Spark's
    assert classpath == [str(p) for p in artifacts.classpath("spark")] and len(classpath) == len(SPARK_JARS)
    assert conf["spark.master"] == "local[2]" and conf["spark.ui.enabled"] == "false"
    assert conf["spark.hadoop.fs.s3a.impl.disable.cache"] == "true"


@pytest.mark.parametrize(("url", "ssl"), [("http://127.0.0.1:7480", "false"), ("https://rgw.example:443", "true")])
def test_s3a_conf_is_the_platforms_plus_the_users_keys(url: str, ssl: str) -> None:
    conf = s3a_conf(_Rgw(url), "AK", "SK")  # type: ignore[arg-type]
    assert conf["fs.s3a.endpoint"] == url and conf["fs.s3a.connection.ssl.enabled"] == ssl
    assert conf["fs.s3a.path.style.access"] == "true" and conf["fs.s3a.endpoint.region"] == "us-east-1"
    assert (conf["fs.s3a.access.key"], conf["fs.s3a.secret.key"]) == ("AK", "SK")
    assert conf["fs.s3a.s3.signing-algorithm"] == "AWS4UnsignedPayloadSignerType"  # Ceph 16's RGW, see spark.py
    assert not any(k.startswith("spark.") for k in conf)


@pytest.fixture(scope="module")
def spark_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("spark")


@pytest.mark.integration
def test_parquet_round_trip_through_s3a_on_the_real_rgw(ceph_rgw, spark_tmp: Path) -> None:
    """pyspark writes parquet to s3a://bucket/prefix on the Ceph RGW and reads it back; the objects are there
    for a plain S3 client too, and another user's keys are refused (the session's keys are the ones used)."""
    access, secret = ceph_rgw.create_user("spark-harness")
    bucket = f"spark-{uuid.uuid4().hex[:8]}"
    ceph_rgw.boto3_client(access, secret).create_bucket(Bucket=bucket)
    spark = spark_session(app="harness-s3a", s3=(ceph_rgw, access, secret), tmp_dir=spark_tmp)
    rows = [(i, f"user-{i % 7}", float(i) / 3) for i in range(500)]
    df = spark.createDataFrame(rows, "id INT, user STRING, score DOUBLE")
    df.repartition(3).write.mode("overwrite").parquet(f"s3a://{bucket}/ratings/v1")

    back = spark.read.parquet(f"s3a://{bucket}/ratings/v1")
    assert sorted(tuple(r) for r in back.collect()) == rows
    assert back.groupBy("user").count().count() == 7
    keys = [o["Key"] for o in ceph_rgw.boto3_client(access, secret).list_objects_v2(
        Bucket=bucket, Prefix="ratings/v1/").get("Contents", [])]
    assert "ratings/v1/_SUCCESS" in keys and sum(k.endswith(".parquet") for k in keys) >= 3

    other = ceph_rgw.create_user("spark-harness-other")
    spark = spark_session(app="harness-s3a", s3=(ceph_rgw, *other), tmp_dir=spark_tmp)
    with pytest.raises(Exception, match=r"(?i)AccessDenied|403|Forbidden"):
        spark.read.parquet(f"s3a://{bucket}/ratings/v1").count()


@pytest.mark.integration
def test_structured_streaming_reads_the_real_kafka_over_sasl_ssl(kafka_broker, ceph_rgw, spark_tmp: Path) -> None:
    """A Structured Streaming query reads a topic over SASL_SSL/SCRAM-SHA-512 (spark-sql-kafka-0-10 with the
    broker's spark_options) into parquet on s3a, checkpointing on s3a as the platform's streaming jobs do; a
    second run from the same checkpoint reads only what arrived since."""
    from kafka import KafkaProducer

    topic = f"clicks-{uuid.uuid4().hex[:6]}"
    kafka_broker.create_topic(topic, partitions=2)
    user = kafka_broker.user("spark-streaming")
    producer = KafkaProducer(acks="all", **kafka_broker.client_kwargs(user))

    def send(first: int, count: int) -> None:
        for i in range(first, first + count):
            producer.send(topic, key=b"u%d" % (i % 5), value=b"click-%d" % i, partition=i % 2)
        producer.flush()

    try:
        send(0, 200)
        _stream_twice(kafka_broker, ceph_rgw, spark_tmp, topic, user, send)
    finally:
        producer.close()


def _stream_twice(kafka_broker, ceph_rgw, spark_tmp: Path, topic: str, user, send) -> None:
    access, secret = ceph_rgw.create_user("spark-streaming")
    bucket = f"stream-{uuid.uuid4().hex[:8]}"
    ceph_rgw.boto3_client(access, secret).create_bucket(Bucket=bucket)
    spark = spark_session(app="harness-kafka", s3=(ceph_rgw, access, secret), kafka=True, tmp_dir=spark_tmp)

    def run_once() -> None:
        stream = (spark.readStream.format("kafka").options(**kafka_broker.spark_options(user))
                  .option("subscribe", topic).option("startingOffsets", "earliest").load()
                  .selectExpr("CAST(key AS STRING) AS key", "CAST(value AS STRING) AS value", "partition", "offset"))
        query = (stream.writeStream.format("parquet").option("path", f"s3a://{bucket}/clicks")
                 .option("checkpointLocation", f"s3a://{bucket}/checkpoints/clicks")
                 .trigger(availableNow=True).start())
        query.awaitTermination(240)
        assert query.exception() is None, query.exception()

    run_once()
    first = spark.read.parquet(f"s3a://{bucket}/clicks")
    assert sorted(r.value for r in first.collect()) == sorted(f"click-{i}" for i in range(200))
    send(200, 50)
    run_once()
    rows = spark.read.parquet(f"s3a://{bucket}/clicks").collect()
    assert len(rows) == 250  # the restart from the checkpoint re-read nothing
    assert {r.value for r in rows} == {f"click-{i}" for i in range(250)}
    assert {r.partition for r in rows} == {0, 1}
