"""pyspark with ``s3a://`` and the Kafka source/sink, for integration tests against the real Ceph RGW and Kafka.

pyspark 4.0.4 (the platform's Spark, pyproject.toml) ships Hadoop's client 3.4.1 but neither hadoop-aws, the AWS
SDK bundle nor spark-sql-kafka-0-10. ``SPARK_JARS`` are those, pinned with SHA-256 in scripts/artifacts/jars.lock
(set ``spark``), fetched by scripts/setup-services.sh into ~/.cache/pipeworks/jars, and exactly what the platform's
Spark image adds (infra/services/spark/image/Dockerfile; tests/infra/spark/test_spark_image.py checks both).

``spark_session(app=..., s3=(rgw, access_key, secret_key), kafka=True, tmp_dir=...)`` returns a local[2]
SparkSession whose driver classpath holds every jar of the set, with the platform's own s3a settings
(``infra.services.spark.spec.sparkconf_s3a``: path-style, region, TLS only for https) for the given RGW plus the
user's keys. One JVM serves the whole pytest session (its start costs ~7 s): a later call with other S3 keys or
endpoint re-points the Hadoop configuration of the running session (S3A's FileSystem cache is off, so the next
``s3a://`` access uses them); the first call's ``app`` and ``tmp_dir`` stay.
"""

from __future__ import annotations

import atexit
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.harness import artifacts

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from tests.harness.ceph import RgwEndpoint

JAR_SET = "spark"
SPARK_JARS: tuple[artifacts.Jar, ...] = artifacts.locked(JAR_SET)
# Keys the harness sets per call on the running session's Hadoop configuration (the rest are fixed at start).
_S3_KEYS = ("fs.s3a.endpoint", "fs.s3a.path.style.access", "fs.s3a.endpoint.region", "fs.s3a.connection.ssl.enabled",
            "fs.s3a.access.key", "fs.s3a.secret.key", "fs.s3a.aws.credentials.provider", "fs.s3a.s3.signing-algorithm")
# The test RGW is Debian bookworm's Ceph 16.2.15. Over http the AWS SDK v2 signs a PUT body with the aws-chunked
# streaming signature, and that RGW answers XAmzContentSHA256Mismatch when the body is empty: S3A's directory
# markers and empty files (every Spark write's `_temporary/` and `_SUCCESS`) fail while non-empty objects work
# (measured: docs/ARCHITECTURE.md "Real services in the tests"). The unsigned-payload SigV4 signer (headers still
# signed, so the keys are still checked) avoids the streaming signature. Only the harness sets it: whether the
# platform's newer Rook Ceph needs it too is not verified here.
_TEST_RGW_SIGNER = {"fs.s3a.s3.signing-algorithm": "AWS4UnsignedPayloadSignerType"}

_lock = threading.Lock()
_session: SparkSession | None = None


def s3a_conf(rgw: RgwEndpoint, access_key: str, secret_key: str) -> dict[str, str]:
    """Hadoop settings (without ``spark.hadoop.``) for s3a against the RGW: the platform's sparkconf_s3a, the user's
    keys through the simple provider (on the platform they come from the pod's AWS_* variables), and the signer
    the test RGW needs (_TEST_RGW_SIGNER)."""
    from infra.services.spark.spec import sparkconf_s3a

    conf = {key.removeprefix("spark.hadoop."): value
            for key, value in sparkconf_s3a(rgw.url, region=rgw.region).items()}
    conf.update({"fs.s3a.access.key": access_key, "fs.s3a.secret.key": secret_key,
                 "fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
                 **_TEST_RGW_SIGNER})
    return conf


def base_conf(*, app: str, tmp_dir: Path) -> dict[str, str]:
    """What the session's JVM starts with: small, quiet, all jars of the set on the driver classpath."""
    jars = ",".join(str(p) for p in artifacts.classpath(JAR_SET))
    return {
        "spark.app.name": app,
        "spark.master": "local[2]",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.default.parallelism": "4",
        "spark.driver.memory": "1g",
        # spark-submit's class loader, the context loader Hadoop's FileSystem lookup and Spark's data source
        # lookup use; parent-first, so Spark's own slf4j 2 wins over the unshaded slf4j 1 in the AWS SDK bundle
        # (on spark.driver.extraClassPath, prepended to the JVM's classpath, Spark logged nothing)
        "spark.jars": jars,
        "spark.driver.extraJavaOptions": f"-Djava.io.tmpdir={tmp_dir}",
        "spark.local.dir": str(Path(tmp_dir) / "spark-local"),
        "spark.sql.warehouse.dir": str(Path(tmp_dir) / "spark-warehouse"),
        # re-pointing s3a at another endpoint or user between tests must take effect: no FileSystem cache
        "spark.hadoop.fs.s3a.impl.disable.cache": "true",
        # Structured Streaming tests keep their checkpoints where the test says; no stale temp ones
        "spark.sql.streaming.forceDeleteTempCheckpointLocation": "true",
    }


def spark_session(*, app: str, s3: tuple[RgwEndpoint, str, str] | None = None, kafka: bool = False,
                  tmp_dir: Path) -> SparkSession:
    """The session's local[2] SparkSession, configured for ``s3`` (RGW endpoint, access key, secret key) when given.

    ``kafka=True`` asks for the Kafka source/sink, whose jars are always on the classpath (one JVM for every
    test); it is accepted so a test says what it needs, and it fails early with the fix when they are absent.
    """
    global _session
    artifacts.require(JAR_SET, "Spark with s3a and the Kafka connector")
    from pyspark.sql import SparkSession

    with _lock:
        if _session is None or _session.sparkContext._jsc is None:  # none yet, or stopped by a test
            Path(tmp_dir).mkdir(parents=True, exist_ok=True)
            builder = SparkSession.builder
            for key, value in base_conf(app=app, tmp_dir=Path(tmp_dir)).items():
                builder = builder.config(key, value)
            _session = builder.getOrCreate()
            _session.sparkContext.setLogLevel("WARN")
        hadoop = _session.sparkContext._jsc.hadoopConfiguration()
        for key in _S3_KEYS:
            hadoop.unset(key)
        if s3 is not None:
            for key, value in s3a_conf(*s3).items():
                hadoop.set(key, value)
        if kafka:
            _check_kafka_source(_session)
        return _session


def _check_kafka_source(session: Any) -> None:
    """The Kafka data source resolves (spark-sql-kafka-0-10 and kafka-clients on the classpath)."""
    jvm = session.sparkContext._jvm
    try:  # Spark's own lookup: the spark.jars loader (py4j's Class.forName would only see the JVM's classpath)
        jvm.org.apache.spark.util.Utils.classForName("org.apache.spark.sql.kafka010.KafkaSourceProvider", True, False)
    except Exception as exc:  # py4j wraps ClassNotFoundException
        raise RuntimeError("spark-sql-kafka-0-10 is not on the session's classpath: fetch the jars with "
                           f"`bash scripts/setup-services.sh` ({type(exc).__name__})") from None


def stop_spark_session() -> None:
    """Stop the session's SparkSession (at interpreter exit; a test may call it too)."""
    global _session
    with _lock:
        if _session is not None:
            _session.stop()
            _session = None


atexit.register(stop_spark_session)
