"""The sentiment workload as the shipped dev and prod stacks declare it (the real program under the plan's
mocks): every object validates against the Kubernetes (kubernetes-validate, strict) or upstream CRD schemas
(SparkApplication v1beta2 of kubeflow/spark-operator, KafkaTopic/KafkaUser of Strimzi, ObjectBucketClaim,
ServiceMonitor: the structural copies in tests/schemas/crds), pods land where the platform's placement API says,
credentials arrive only by reference and the application's own settings readers accept what the manifests give
them, the Cassandra and Kafka NetworkPolicies admit the pods, ordering holds, and the platform's policies find
nothing wrong. Bad config ends in an error naming the key."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest

from infra.placement import Role, place
from infra.services.spark.spec import executor_placement, executor_scratch
from pipeworks.plan import REPO_ROOT, InvalidStack, plan_stack, validate
from policies.engine import Enforcement, evaluate
from policies.rules.model import Resource
from tests.infra.planned import core_validator, crd_validator, errors, planned
from workloads.common.kafkasettings import KafkaSettings
from workloads.common.s3settings import S3Settings
from workloads.sentiment import manifests as m
from workloads.sentiment.config import SentimentConfig
from workloads.sentiment.stream import CassandraSettings

STACKS = ("dev", "prod")
COMPONENT = "pipeworks:workloads:Sentiment"
CRD_GROUPS = {"monitoring.coreos.com", "sparkoperator.k8s.io", "kafka.strimzi.io", "objectbucket.io"}
JOBS_NS = "spark"  # the Spark component's job namespace in both stacks


@functools.lru_cache(maxsize=None)
def config(stack: str) -> SentimentConfig:
    _, cfg = validate(REPO_ROOT, stack)
    return cfg.workloads.sentiment  # type: ignore[union-attr]


def records(stack: str) -> list[dict[str, Any]]:
    return [r for r in planned(stack) if COMPONENT in r["urn"]]


def objects(stack: str, kind: str | None = None) -> list[dict[str, Any]]:
    return [r["inputs"] for r in records(stack) if r["custom"] and r["type"].startswith("kubernetes:")
            and (kind is None or r["inputs"]["kind"] == kind)]


def one(stack: str, kind: str, name: str) -> dict[str, Any]:
    (obj,) = [o for o in objects(stack, kind) if o["metadata"]["name"] == name]
    return obj


def urn_of(stack: str, kind: str, name: str) -> str:
    return next(r["urn"] for r in records(stack) if r["custom"] and r["type"].startswith("kubernetes:")
                and r["inputs"]["kind"] == kind and r["inputs"]["metadata"]["name"] == name)


def deps_of(stack: str, urn: str) -> list[str]:
    return next(r["dependencies"] for r in planned(stack) if r["urn"] == urn)


def api_pod(stack: str) -> dict[str, Any]:
    return one(stack, "Deployment", m.API_NAME)["spec"]["template"]["spec"]


def trainer_pod(stack: str) -> dict[str, Any]:
    return one(stack, "CronJob", m.TRAINER)["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def stream(stack: str) -> dict[str, Any]:
    return one(stack, "SparkApplication", m.STREAM_APP)["spec"]


@pytest.fixture(scope="module", params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    return request.param


def test_the_stack_files_enable_it(stack: str) -> None:
    assert config(stack).enabled
    kinds = {o["kind"] for o in objects(stack)}
    assert kinds == {"Namespace", "ObjectBucketClaim", "KafkaTopic", "KafkaUser", "Secret", "ConfigMap", "Job",
                     "SparkApplication", "CronJob", "Deployment", "Service", "HorizontalPodAutoscaler",
                     "PodDisruptionBudget", "ServiceMonitor", "NetworkPolicy"}
    where = {(o["kind"], o["metadata"]["name"]): o["metadata"].get("namespace") for o in objects(stack)}
    assert where[("SparkApplication", m.STREAM_APP)] == where[("CronJob", m.TRAINER)] == JOBS_NS
    assert where[("ObjectBucketClaim", "sentiment-datalake")] == JOBS_NS  # beside the pods that read its Secret
    assert where[("Deployment", m.API_NAME)] == "sentiment"
    assert where[("KafkaTopic", "tweets")] == "kafka"


def test_the_namespace_is_restricted(stack: str) -> None:
    ns = one(stack, "Namespace", "sentiment")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_objects_validate_against_their_schemas(stack: str) -> None:
    checked = set()
    for obj in objects(stack):
        kind, av = obj["kind"], obj["apiVersion"]
        if kind == "Secret":
            continue  # its stringData is the scrubbed "[secret]" placeholder (test_credentials_... below)
        validator = crd_validator(av, kind) if av.split("/")[0] in CRD_GROUPS else core_validator(kind, av)
        assert errors(validator, obj) == [], f"{kind}/{obj['metadata']['name']}"
        checked.add(kind)
    assert {"SparkApplication", "KafkaTopic", "KafkaUser", "ObjectBucketClaim", "ServiceMonitor", "CronJob",
            "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"} <= checked


def _canon(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True)


def test_pods_are_placed_through_the_placement_api(stack: str) -> None:
    general = place(Role.GENERAL).pod_spec()
    for name, pod in (("api", api_pod(stack)), ("trainer", trainer_pod(stack)), ("driver", stream(stack)["driver"])):
        for key, value in general.items():
            assert pod[key] == value, f"{name}: {key}"
    executor = stream(stack)["executor"]
    for key, value in executor_placement().items():
        assert executor[key] == value, key
    # Spark's local dirs on the NVMe RAID0 array of the scratch pools
    volumes, mounts = executor_scratch()
    assert set(map(_canon, mounts)) <= set(map(_canon, executor["volumeMounts"]))
    assert set(map(_canon, volumes)) <= set(map(_canon, stream(stack)["volumes"]))
    cfg = config(stack)
    assert executor["instances"] == cfg.stream.executor.instances
    api_spread = api_pod(stack)["topologySpreadConstraints"]
    assert ("topology.kubernetes.io/zone" in {c["topologyKey"] for c in api_spread}) == (stack == "prod")


def test_prod_sizes_differ_from_dev() -> None:
    assert stream("prod")["executor"]["instances"] == 3 and stream("dev")["executor"]["instances"] == 1
    assert one("prod", "KafkaTopic", "tweets")["spec"]["partitions"] == 12
    assert one("prod", "HorizontalPodAutoscaler", m.API_NAME)["spec"]["minReplicas"] == 3
    assert one("prod", "PodDisruptionBudget", m.API_NAME)["spec"]["minAvailable"] == 2


def test_pods_are_restricted(stack: str) -> None:
    for name, pod in (("api", api_pod(stack)), ("trainer", trainer_pod(stack))):
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    for role in ("driver", "executor"):
        spec = stream(stack)[role]
        assert spec["podSecurityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert spec["securityContext"]["allowPrivilegeEscalation"] is False


def _env(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in entries}


def test_credentials_only_by_reference(stack: str) -> None:
    for secret in objects(stack, "Secret"):
        assert set(secret["stringData"].values()) == {"[secret]"}, secret["metadata"]["name"]
    containers = [("api", c) for c in api_pod(stack)["containers"]] + \
                 [("trainer", c) for c in trainer_pod(stack)["containers"]] + \
                 [(role, stream(stack)[role]) for role in ("driver", "executor")]
    for name, c in containers:
        for e in c.get("env", []):
            if any(w in e["name"] for w in ("PASSWORD", "SECRET", "USERNAME", "ACCESS_KEY")):
                assert "value" not in e and "secretKeyRef" in e["valueFrom"], f"{name}: {e['name']}"
    assert not any("password" in k.lower() or "secret" in k.lower() for k in stream(stack)["sparkConf"])


def test_each_party_gets_exactly_its_own_credentials(stack: str) -> None:
    def refs(entries: list[dict[str, Any]]) -> set[tuple[str, str]]:
        return {(e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
                for e in entries if "valueFrom" in e}

    claim = m.claim_name(config(stack))
    s3 = {(claim, "AWS_ACCESS_KEY_ID"), (claim, "AWS_SECRET_ACCESS_KEY")}
    kafka = {(m.KAFKA_USER, "username"), (m.KAFKA_USER, "password")}
    cass_stream = {(f"cassandra-{m.CASSANDRA_STREAM_ROLE}", "username"),
                   (f"cassandra-{m.CASSANDRA_STREAM_ROLE}", "password")}
    assert refs(stream(stack)["driver"]["env"]) == s3 | kafka | cass_stream
    assert refs(stream(stack)["executor"]["env"]) == s3 | kafka  # executors read Kafka; only the driver writes
    assert refs(trainer_pod(stack)["containers"][0]["env"]) == s3
    assert refs(api_pod(stack)["containers"][0]["env"]) == {(f"cassandra-{m.CASSANDRA_API_ROLE}", "username"),
                                                            (f"cassandra-{m.CASSANDRA_API_ROLE}", "password")}
    # the Secrets referenced are declared in the namespace of the pods that read them
    declared = {(s["metadata"]["namespace"], s["metadata"]["name"]) for s in objects(stack, "Secret")}
    assert (JOBS_NS, f"cassandra-{m.CASSANDRA_STREAM_ROLE}") in declared
    # the KafkaUser's Secret: Strimzi generates it beside the brokers and the Kafka component's copy CronJob writes
    # it into the job namespace (never the program)
    copies = {(env.get("TARGET_NAMESPACE"), env.get("TARGET_SECRET")) for env in (
        {e["name"]: e.get("value") for e in r["inputs"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
         ["containers"][0]["env"]} for r in planned(stack) if r["type"] == "kubernetes:batch/v1:CronJob")}
    assert (JOBS_NS, m.KAFKA_USER) in copies and (JOBS_NS, m.KAFKA_USER) not in declared
    assert ("sentiment", f"cassandra-{m.CASSANDRA_API_ROLE}") in declared


def _resolved(entries: list[dict[str, Any]], configmap: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a container would see: secretKeyRefs as placeholder values, envFrom a ConfigMap."""
    env = dict(configmap or {})
    for e in entries:
        env[e["name"]] = e.get("value", "from-secret")
    return env


def test_the_applications_settings_readers_accept_what_the_manifests_give(stack: str, tmp_path: Path) -> None:
    """The declaration and the containers agree on names: stream.main's readers (CassandraSettings, the shared
    KafkaSettings and S3Settings) parse the driver's environment; the API's CassandraSettings its own."""
    rook_cm = {"BUCKET_HOST": "rook-ceph-rgw-store.rook-ceph.svc", "BUCKET_PORT": "80",
               "BUCKET_NAME": m.bucket_name(config(stack))}
    driver = _resolved(stream(stack)["driver"]["env"], rook_cm)
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    assert driver["SENTIMENT_KAFKA_CA_FILE"] == f"{m.CA_DIR}/ca.crt"
    mounts = {v["mountPath"] for v in stream(stack)["driver"]["volumeMounts"]}
    assert m.CA_DIR in mounts and m.CA_DIR in {v["mountPath"] for v in stream(stack)["executor"]["volumeMounts"]}
    cass = CassandraSettings.from_env(driver)
    assert (cass.keyspace, cass.port) == (config(stack).keyspace, 9042)
    kafka = KafkaSettings.from_env({**driver, "SENTIMENT_KAFKA_CA_FILE": str(ca)}, prefix="SENTIMENT_KAFKA_")
    assert kafka.security_protocol == "SASL_SSL" and kafka.bootstrap.endswith(":9093")
    assert S3Settings.from_env(driver).bucket == m.bucket_name(config(stack))
    assert driver["SENTIMENT_CHECKPOINT"].startswith(f"s3a://{m.bucket_name(config(stack))}/")
    assert driver["SENTIMENT_TOPIC"] == "tweets"
    api = _resolved(api_pod(stack)["containers"][0]["env"])
    assert CassandraSettings.from_env(api).host == cass.host
    trainer = _resolved(trainer_pod(stack)["containers"][0]["env"], rook_cm)
    assert S3Settings.from_env(trainer).bucket == m.bucket_name(config(stack))
    assert stream(stack)["mainApplicationFile"] == "local:///opt/app/workloads/sentiment/stream.py"


def test_the_kafka_user_may_read_the_topic_with_sparks_generated_groups(stack: str) -> None:
    acls = one(stack, "KafkaUser", m.KAFKA_USER)["spec"]["authorization"]["acls"]
    by_type = {a["resource"]["type"]: a for a in acls}
    assert by_type["topic"]["resource"]["name"] == "tweets"
    assert set(by_type["topic"]["operations"]) == {"Describe", "Read"}
    assert by_type["group"]["resource"] == {"type": "group", "name": "spark-kafka-source", "patternType": "prefix"}
    assert "Write" not in {op for a in acls for op in a["operations"]}


def _admitted(policy: dict[str, Any], pod_labels: dict[str, str]) -> bool:
    for rule in policy["spec"].get("ingress", []):
        for peer in rule.get("from", []):
            want = peer.get("podSelector", {}).get("matchLabels")
            if want is not None and want.items() <= pod_labels.items():
                return True
    return False


def test_cassandra_and_kafka_admit_the_pods(stack: str) -> None:
    everything = [r["inputs"] for r in planned(stack) if r["custom"] and r["type"].startswith("kubernetes:")]
    cass_policies = [o for o in everything if o.get("kind") == "NetworkPolicy"
                     and o["metadata"].get("namespace") == "cassandra"]
    driver_labels = stream(stack)["driver"]["labels"]
    api_labels = one(stack, "Deployment", m.API_NAME)["spec"]["template"]["metadata"]["labels"]
    assert any(_admitted(p, driver_labels) for p in cass_policies)
    assert any(_admitted(p, api_labels) for p in cass_policies)
    # Kafka's ingress is Strimzi's: the listener's networkPolicyPeers become the NetworkPolicy its operator writes
    (kafka_cr,) = [o for o in everything if o.get("kind") == "Kafka"]
    (listener,) = [lst for lst in kafka_cr["spec"]["kafka"]["listeners"] if lst["port"] == 9093]
    for role in ("driver", "executor"):
        assert _admitted({"spec": {"ingress": [{"from": listener["networkPolicyPeers"]}]}},
                         stream(stack)[role]["labels"]), role
    # the API's own egress: DNS and Cassandra's CQL port only
    egress = one(stack, "NetworkPolicy", "sentiment-api-egress")["spec"]["egress"]
    assert len(egress) == 2 and {"protocol": "TCP", "port": 9042} in egress[1]["ports"]


def test_prometheus_may_scrape_the_api_and_finds_it(stack: str) -> None:
    ingress = one(stack, "NetworkPolicy", "sentiment-api-ingress")["spec"]["ingress"][0]
    names = {p.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
             for p in ingress["from"]}
    assert "monitoring" in names and ingress["ports"] == [{"protocol": "TCP", "port": m.API_PORT}]
    sm = one(stack, "ServiceMonitor", m.API_NAME)
    svc = one(stack, "Service", m.API_NAME)
    dep = one(stack, "Deployment", m.API_NAME)
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    assert one(stack, "PodDisruptionBudget", m.API_NAME)["spec"]["selector"]["matchLabels"].items() \
        <= dep["spec"]["template"]["metadata"]["labels"].items()
    assert one(stack, "HorizontalPodAutoscaler", m.API_NAME)["spec"]["scaleTargetRef"]["name"] == \
        dep["metadata"]["name"]


def test_ordering(stack: str) -> None:
    app = deps_of(stack, urn_of(stack, "SparkApplication", m.STREAM_APP))
    assert any(d.endswith("::spark-operator") for d in app), app  # the operator's CRDs and webhook first
    assert urn_of(stack, "ObjectBucketClaim", "sentiment-datalake") in app
    assert urn_of(stack, "KafkaTopic", "tweets") in app
    assert urn_of(stack, "ObjectBucketClaim", "sentiment-datalake") in deps_of(stack, urn_of(stack, "CronJob",
                                                                                              m.TRAINER))
    assert urn_of(stack, "Deployment", m.API_NAME) in deps_of(stack, urn_of(stack, "HorizontalPodAutoscaler",
                                                                            m.API_NAME))
    sm = deps_of(stack, urn_of(stack, "ServiceMonitor", m.API_NAME))
    assert any("kube-prometheus-stack" in d or "monitoring" in d for d in sm)
    # each role's Job runs after the datacenter exists
    for job in objects(stack, "Job"):
        deps = deps_of(stack, urn_of(stack, "Job", job["metadata"]["name"]))
        assert any("CassandraDatacenter" in d for d in deps), job["metadata"]["name"]


def test_policies_find_nothing_wrong_with_the_workload(stack: str) -> None:
    resources = [Resource(urn=r["urn"], type=r["type"], name=r["name"], props=r["inputs"], parent=r["parent"],
                          dependencies=tuple(r["dependencies"])) for r in planned(stack)]
    report = evaluate(resources, Enforcement.for_environment(stack))
    mine = [f"{v.policy}: {v.resource}: {v.message}" for v in report.violations if COMPONENT in v.resource]
    assert mine == []
    assert any(COMPONENT in r.urn and r.kind == "SparkApplication" for r in resources)


# --- bad config --------------------------------------------------------------------------------------------

def _stack_with(tmp_path: Path, stack: str, old: str, new: str) -> None:
    text = (REPO_ROOT / f"Pulumi.{stack}.yaml").read_text()
    assert old in text
    (tmp_path / f"Pulumi.{stack}.yaml").write_text(text.replace(old, new))
    (tmp_path / "Pulumi.yaml").write_text((REPO_ROOT / "Pulumi.yaml").read_text())


PROD_SECTION = "    sentiment:\n      enabled: true\n"


@pytest.mark.parametrize(("extra", "key", "says"), [
    ("      trainer:\n        schedule: '0 25 * * *'\n", "sentiment.trainer.schedule", "hour"),
    ("      trainer:\n        timeZone: Mars/Olympus\n", "sentiment.trainer.timeZone", ""),
    ("      keyspace: Sentiment-1\n", "sentiment.keyspace", ""),
    ("      namespace: Sentiment\n", "sentiment.namespace", ""),
    ("      bucket: no_underscores\n", "sentiment.bucket", ""),
    ("      api:\n        minReplicas: 5\n        maxReplicas: 4\n", "sentiment.api.minReplicas", "maxReplicas"),
    ("      streamm: {}\n", "sentiment.streamm", ""),
    ("      stream:\n        topic: 'bad topic'\n", "sentiment.stream.topic", ""),
    ("      stream:\n        driver: {memory: 2Gi}\n", "sentiment.stream.driver.memory", ""),
])
def test_bad_config_names_the_key(tmp_path: Path, extra: str, key: str, says: str) -> None:
    text = (REPO_ROOT / "Pulumi.prod.yaml").read_text()
    section = text[text.index(PROD_SECTION):]
    # replace the whole section so a sub-key the shipped file sets does not appear twice
    _stack_with(tmp_path, "prod", section, PROD_SECTION + extra)
    with pytest.raises(InvalidStack) as info:
        validate(tmp_path, "prod")
    message = str(info.value)
    assert f"pipeworks:workloads.{key}" in message and "Pulumi.prod.yaml" in message, message
    assert says in message


@pytest.mark.parametrize("section", ["cassandra", "spark", "kafka", "storage"])
def test_plan_refuses_it_without_a_platform_service(tmp_path: Path, section: str) -> None:
    text = (REPO_ROOT / "Pulumi.dev.yaml").read_text().replace("    cassandra: {enabled: true}\n", "")
    (tmp_path / "Pulumi.dev.yaml").write_text(text.replace(
        "  pipeworks:platform:\n", f"  pipeworks:platform:\n    {section}:\n      enabled: false\n", 1))
    (tmp_path / "Pulumi.yaml").write_text((REPO_ROOT / "Pulumi.yaml").read_text())
    with pytest.raises(InvalidStack) as info:
        validate(tmp_path, "dev")
    assert f"pipeworks:workloads.sentiment.enabled=true needs pipeworks:platform.{section}.enabled" \
        in str(info.value)


def test_plan_refuses_a_namespace_of_the_platform(tmp_path: Path) -> None:
    _stack_with(tmp_path, "dev", "    sentiment:\n      enabled: true",
                "    sentiment:\n      namespace: cassandra\n      enabled: true")
    with pytest.raises(InvalidStack) as info:
        validate(tmp_path, "dev")
    assert "pipeworks:workloads.sentiment.namespace=cassandra is the namespace of platform.cassandra" \
        in str(info.value)


def test_without_the_platforms_monitoring_the_api_gets_no_service_monitor(tmp_path: Path) -> None:
    """platform.monitoring off: everything else is declared, the ServiceMonitor is not (and its CRD would be
    missing); the program warns instead."""
    text = (REPO_ROOT / "Pulumi.dev.yaml").read_text()
    (tmp_path / "Pulumi.dev.yaml").write_text(text.replace(
        "  pipeworks:platform:\n", "  pipeworks:platform:\n    monitoring:\n      enabled: false\n", 1))
    (tmp_path / "Pulumi.yaml").write_text((REPO_ROOT / "Pulumi.yaml").read_text())
    target = plan_stack("dev", tmp_path / "out", project_dir=tmp_path)
    mine = [r["inputs"] for r in json.loads((target / "resources.json").read_text())
            if COMPONENT in r["urn"] and r["custom"] and r["type"].startswith("kubernetes:")]
    kinds = {o["kind"] for o in mine}
    assert "ServiceMonitor" not in kinds
    assert {"SparkApplication", "CronJob", "Deployment", "NetworkPolicy"} <= kinds
