"""The sentiment declaration's pure parts, without Pulumi: config rules, the platform rules, and the specs
`manifests.py` renders from config and the platform's references."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from infra.workloads.kit import BucketRefs
from workloads.sentiment import manifests as m
from workloads.sentiment.config import SentimentConfig, platform_problems

BUCKET = BucketRefs(configmap="sentiment-datalake", secret="sentiment-datalake", endpoint="http://rgw.rook-ceph.svc:80")
KAFKA = m.KafkaRefs(bootstrap="events-kafka-bootstrap.kafka.svc:9093", secret="sentiment-stream",
                    ca_secret="events-cluster-ca-cert", client_labels={"kafka.pipeworks.io/client": "events"})
CASS = m.CassandraRefs(contact_point="dc1-service.cassandra.svc", port=9042, local_datacenter="dc1",
                       secret="cassandra-sentiment", client_labels={"pipeworks.io/cassandra-client": "pipeworks"})
SPARK = m.SparkRefs(namespace="spark", spark_version="4.0.4", s3a_conf={"spark.hadoop.fs.s3a.endpoint": "http://x"})


def cfg(**kw) -> SentimentConfig:
    return SentimentConfig.model_validate({"enabled": True, **kw})


def env_names(entries) -> set[str]:
    return {e["name"] for e in entries}


def test_only_the_driver_gets_the_cassandra_login_and_both_get_kafka_and_s3() -> None:
    spec = m.stream_spec(cfg(), SPARK, BUCKET, KAFKA, CASS)
    driver, executor = env_names(spec["driver"]["env"]), env_names(spec["executor"]["env"])
    assert {"CASSANDRA_USERNAME", "CASSANDRA_PASSWORD"} <= driver
    assert not any(n.startswith("CASSANDRA_") for n in executor)
    for names in (driver, executor):
        assert {"SENTIMENT_KAFKA_USERNAME", "SENTIMENT_KAFKA_PASSWORD", "AWS_ACCESS_KEY_ID"} <= names
    assert spec["driver"]["envFrom"] == [{"configMapRef": {"name": BUCKET.configmap}}]
    assert spec["driver"]["labels"].items() >= {**KAFKA.client_labels, **CASS.client_labels}.items()
    assert spec["restartPolicy"]["type"] == "Always"  # a streaming job is never done


@given(instances=st.integers(1, 500), cores=st.integers(1, 64))
def test_shuffle_partitions_follow_the_executors(instances: int, cores: int) -> None:
    c = cfg(stream={"executor": {"instances": instances, "cores": cores}})
    conf = m.stream_spec(c, SPARK, BUCKET, KAFKA, CASS)["sparkConf"]
    assert int(conf["spark.sql.shuffle.partitions"]) == max(2, 2 * instances * cores)
    assert conf["spark.hadoop.fs.s3a.endpoint"] == "http://x"


@given(per_trigger=st.integers(1, 1_000_000), trigger=st.integers(1, 3600), refresh=st.integers(1, 86400))
def test_stream_settings_reach_the_environment(per_trigger: int, trigger: int, refresh: int) -> None:
    env = m.stream_env(cfg(stream={"maxPerTrigger": per_trigger, "triggerSeconds": trigger,
                                   "modelRefreshSeconds": refresh}), KAFKA)
    assert (env["SENTIMENT_MAX_PER_TRIGGER"], env["SENTIMENT_TRIGGER_SECONDS"],
            env["SENTIMENT_MODEL_REFRESH_SECONDS"]) == (str(per_trigger), str(trigger), str(refresh))


def test_the_trainer_never_runs_twice_at_once_and_is_bounded() -> None:
    spec = m.trainer_cronjob_spec(cfg(trainer={"timeoutSeconds": 900, "schedule": "@daily"}), BUCKET)
    assert spec["concurrencyPolicy"] == "Forbid" and spec["schedule"] == "@daily"
    assert spec["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 900
    # bad settings (exit 2) fail the Job at once instead of being retried
    (rule,) = spec["jobTemplate"]["spec"]["podFailurePolicy"]["rules"]
    assert rule["action"] == "FailJob" and rule["onExitCodes"]["values"] == [2]
    assert spec["jobTemplate"]["spec"]["template"]["metadata"]["labels"].items() >= m.selector("trainer").items()


def test_api_ingress_admits_the_configured_client_namespaces() -> None:
    pols = m.network_policies(cfg(api={"clientNamespaces": ["shop"]}), monitoring_namespace="monitoring",
                              cassandra_egress={"to": [], "ports": []})
    peers = pols["sentiment-api-ingress"]["ingress"][0]["from"]
    names = {p.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") for p in peers}
    assert names == {None, "shop", "monitoring"}  # None: the own namespace's pods
    assert pols["default-deny-ingress"] == {"podSelector": {}, "policyTypes": ["Ingress"]}


def test_kafka_acls_read_only() -> None:
    acls = [a.k8s() for a in m.kafka_acls("tweets")]
    assert all(set(a["operations"]) <= {"Describe", "Read"} for a in acls)


@pytest.mark.parametrize(("values", "loc"), [
    ({"keyspace": "9bad"}, "keyspace"),
    ({"api": {"minReplicas": 1}}, "minReplicas"),
    ({"stream": {"executor": {"memory": "4Gi"}}}, "memory"),
    ({"trainer": {"schedule": "* * *"}}, "schedule"),
])
def test_bad_values_are_refused(values, loc) -> None:
    with pytest.raises(ValidationError) as info:
        cfg(**values)
    assert loc in str(info.value)


def _platform(**off: bool) -> SimpleNamespace:
    sections = {s: SimpleNamespace(enabled=not off.get(s, False), namespace=s)
                for s in ("storage", "kafka", "spark", "cassandra", "monitoring")}
    return SimpleNamespace(**sections)


def test_platform_rules() -> None:
    assert platform_problems(cfg(), _platform()) == []
    assert platform_problems(SentimentConfig(), _platform(cassandra=True)) == []  # disabled: no demands
    problems = platform_problems(cfg(), _platform(cassandra=True, spark=True))
    assert len(problems) == 2 and all("sentiment.enabled: false" in p for p in problems)
    assert any("platform.cassandra.enabled" in p for p in problems)
    (clash,) = platform_problems(cfg(namespace="kafka"), _platform())
    assert "namespace=kafka is the namespace of platform.kafka" in clash
