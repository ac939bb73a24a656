"""One set of Spark versions everywhere: the platform's image (infra/services/spark/image/Dockerfile, which the
history server, the standalone cluster, the jobs and the notebook image run), the pyspark the tests and the
workloads' jobs use (pyproject.toml), the Spark version the SparkApplications declare, and the jars the
integration tests put on pyspark's classpath (scripts/artifacts/jars.lock set `spark`, tests/harness/spark.py).

Upstream facts relied on: hadoop-aws must equal the Hadoop client of the Spark build (pyspark 4.0.4 ships
hadoop-client-api-3.4.1.jar; so does the apache/spark:4.0.4 image built from the same release), and hadoop-aws
3.4.1 was built against AWS SDK v2 2.24.6 (apache/hadoop rel/release-3.4.1, hadoop-project/pom.xml
`aws-java-sdk-v2.version`); the published spark-sql-kafka-0-10_2.13-4.0.4.pom names kafka-clients 3.9.1,
commons-pool2 2.12.0 and spark-token-provider-kafka-0-10_2.13 4.0.4.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from infra.config.spark import SPARK_IMAGE, SparkConfig
from tests.harness import artifacts

REPO = Path(__file__).resolve().parents[4]
DOCKERFILE = REPO / "infra" / "services" / "spark" / "image" / "Dockerfile"


def _pyspark_pin() -> str:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    (pin,) = [d for deps in pyproject["project"]["optional-dependencies"].values() for d in deps
              if d.startswith("pyspark==")]
    return pin.split("==")[1]


def test_the_dockerfile_adds_exactly_the_locked_jars_with_their_checksums() -> None:
    """The image's jar block is the one the lock generates (`python3 -m tests.harness.artifacts dockerfile`):
    same artifacts, versions, Maven Central URLs and SHA-256, nothing else downloaded."""
    text = DOCKERFILE.read_text()
    assert artifacts.dockerfile_block() in text, (
        "infra/services/spark/image/Dockerfile's jar block differs from scripts/artifacts/jars.lock: regenerate it "
        "with `python3 -m tests.harness.artifacts dockerfile`")
    urls = re.findall(r"https?://\S+", text)
    assert sorted(urls) == sorted(j.url for j in artifacts.locked("spark"))
    assert text.splitlines()[0] == "# syntax=docker/dockerfile:1.6"  # ADD --checksum is stable from 1.6


def test_the_spark_version_is_one_everywhere() -> None:
    pyspark = _pyspark_pin()
    base = re.search(r"^ARG SPARK_IMAGE=docker\.io/apache/spark:(\S+)$", DOCKERFILE.read_text(), re.M)
    assert base and base.group(1) == pyspark
    assert SparkConfig().spark_version == pyspark
    assert SPARK_IMAGE.rsplit(":", 1)[1].startswith(f"{pyspark}-")
    notebook = (REPO / "infra" / "services" / "jupyterhub" / "image" / "Dockerfile").read_text()
    assert f"ARG PYSPARK_VERSION={pyspark}\n" in notebook
    assert artifacts.version_of("spark", "org.apache.spark", "spark-sql-kafka-0-10_2.13") == pyspark


def test_hadoop_aws_matches_the_hadoop_client_of_pyspark() -> None:
    import pyspark

    assert pyspark.__version__ == _pyspark_pin()
    jars = {p.name for p in (Path(pyspark.__file__).parent / "jars").glob("hadoop-client-*.jar")}
    hadoop = artifacts.version_of("spark", "org.apache.hadoop", "hadoop-aws")
    assert jars == {f"hadoop-client-api-{hadoop}.jar", f"hadoop-client-runtime-{hadoop}.jar"}
    assert artifacts.version_of("spark", "software.amazon.awssdk", "bundle") == "2.24.6"


def test_the_kafka_connector_brings_the_clients_its_pom_names() -> None:
    assert artifacts.version_of("spark", "org.apache.kafka", "kafka-clients") == "3.9.1"
    assert artifacts.version_of("spark", "org.apache.commons", "commons-pool2") == "2.12.0"
    # Maven Central here serves spark-token-provider-kafka-0-10 only at 4.0.0 within 4.0.x (jars.lock says so)
    assert artifacts.version_of("spark", "org.apache.spark", "spark-token-provider-kafka-0-10_2.13").startswith("4.0.")
