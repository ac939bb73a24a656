"""Fixtures of the recommendations tests: ONE local SparkSession for the whole pytest session (a JVM start costs
~7 s on this machine, and more under load), a fresh moto bucket per test for the registry, and small synthetic
ratings with a known structure.

The session comes from the shared Spark harness (tests/harness/spark.py, `spark_session`) when the project has it,
else a local[2] session carrying the jars tests/harness/artifacts.py fetched and verified for the `spark` set
(hadoop-aws, the AWS SDK bundle, spark-sql-kafka) when they are in the cache, so s3a:// and the Kafka source work
in both cases; without the jars only local files do (the tests that need them skip or fail per the harness)."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

logging.getLogger("werkzeug").setLevel(logging.WARNING)

from workloads.common.objectstore import ObjectStore  # noqa: E402
from workloads.common.s3settings import S3Settings  # noqa: E402
from workloads.recommendations import ratings, synthetic  # noqa: E402

LOCAL_CONF = {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2", "spark.driver.memory": "1g",
              "spark.default.parallelism": "2", "spark.sql.adaptive.enabled": "false"}


def spark_jars() -> list[str]:
    """The harness's locked `spark` jar set when fetched, else []."""
    from tests.harness import artifacts

    return [] if artifacts.missing_reason("spark") else [str(p) for p in artifacts.classpath("spark")]


def local_session(app: str, tmp_dir: Path) -> Any:
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master("local[2]").appName(app)
    conf = {**LOCAL_CONF, "spark.local.dir": str(tmp_dir)}
    if spark_jars():
        conf["spark.jars"] = ",".join(spark_jars())
    for k, v in conf.items():
        builder = builder.config(k, v)
    return builder.getOrCreate()


def submit_args(master: str = "local[1]") -> str:
    """PYSPARK_SUBMIT_ARGS of a job run as a child process (the same jars as the session)."""
    jars = f"--jars {','.join(spark_jars())} " if spark_jars() else ""
    return (f"--master {master} --driver-memory 512m {jars}--conf spark.ui.enabled=false "
            "--conf spark.sql.shuffle.partitions=2 pyspark-shell")


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    pytest.importorskip("pyspark", reason="pyspark is in the workloads extra (make test-unit installs it)")
    tmp = tmp_path_factory.mktemp("spark")
    try:
        from tests.harness.spark import spark_session  # the shared harness, once merged
    except ImportError:
        session = local_session("recommendations-tests", tmp)
    else:
        session = spark_session(app="recommendations-tests", tmp_dir=tmp)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    # the harness may share it with other packages' tests; a local one ends with the interpreter


@pytest.fixture
def s3_env(moto_endpoint: str) -> dict[str, str]:
    env = {"S3_ENDPOINT_URL": moto_endpoint, "BUCKET_NAME": f"recs-{uuid.uuid4().hex[:12]}",
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    ObjectStore(S3Settings.from_env(env)).ensure_bucket()
    return env


@pytest.fixture
def store(s3_env: dict[str, str]) -> ObjectStore:
    return ObjectStore(S3Settings.from_env(s3_env))


SMALL = dict(users=120, items=120, groups=3, per_user=20, seed=5)  # 40 products a group: room for a top-10


@pytest.fixture(scope="session")
def small_ratings(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, synthetic.Structure, list[Any]]:
    """2,400 ratings with 3 latent groups, in two files (the job reads a directory)."""
    data, structure = synthetic.ratings(**SMALL)
    d = tmp_path_factory.mktemp("ratings")
    half = len(data) // 2
    (d / "part-0.dat").write_text(ratings.to_text(data[:half]))
    (d / "part-1.dat").write_text(ratings.to_text(data[half:]))
    return d, structure, data


def pyspark_python() -> dict[str, str]:
    """Environment for a child process running a Spark job with this interpreter."""
    import sys
    return {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}


class MemoryStore:
    """An in-process stand-in of workloads.common.objectstore.ObjectStore (the calls recsstore and modelregistry
    make), for the API's fuzzing and benchmarks where a server per example would dominate."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def get_bytes(self, key: str) -> bytes:
        from workloads.common.objectstore import ObjectNotFound
        if key not in self.objects:
            raise ObjectNotFound(f"{key} not found")
        return self.objects[key]

    def exists(self, key: str) -> bool:
        return key in self.objects

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self.objects[key] = data

    def put_if_absent(self, key: str, data: bytes, content_type: str | None = None) -> bool:
        if key in self.objects:
            return False
        self.objects[key] = data
        return True

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        return iter(sorted(k for k in self.objects if k.startswith(prefix)))


def publish_recs(store: Any, version: str, recs: dict[int, list[tuple[int, float]]],
                 prefix: str = "models/recommendations") -> str:
    """Publish `recs` as the batch job does (immutable version, NEWEST.json); returns the digest."""
    from workloads.recommendations import recsstore
    return recsstore.publish(store, prefix, version, recsstore.encode(sorted(recs.items())),
                             {"createdAt": "2026-12-01T02:00:00+00:00", "params": {"rank": 10},
                              "quality": {"publishable": True}})
