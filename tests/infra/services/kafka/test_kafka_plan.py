"""The Kafka component in the dev and prod plans: upstream CRD and Kubernetes schema validity, the
operator before its custom resources, NVMe placement with the hot-data class, replication per
environment, metrics and NetworkPolicies."""

from __future__ import annotations

import pytest

from infra.placement import LABEL_ROLE, TAINT_NVME
from tests.infra.planned import cluster_version, core_validator, crd_validator, errors, in_namespace, planned, releases

STACKS = ("dev", "prod")


def _kafka_records(stack: str) -> list[dict]:
    return [r for r in planned(stack) if r["custom"] and r["type"].startswith("kubernetes:")
            and (r["inputs"].get("metadata") or {}).get("namespace") == "kafka"]


def _kind(stack: str, kind: str) -> list[dict]:
    return [o for o in in_namespace(planned(stack), "kafka") if o.get("kind") == kind]


@pytest.mark.parametrize("stack", STACKS)
def test_custom_resources_are_valid_upstream_v1(stack):
    crs = [o for o in in_namespace(planned(stack), "kafka") if "/" in o["apiVersion"]
           and o["apiVersion"].split("/")[0] in ("kafka.strimzi.io", "monitoring.coreos.com")]
    kinds = {o["kind"] for o in crs}
    assert {"Kafka", "KafkaNodePool", "PodMonitor"} <= kinds
    for obj in crs:
        if obj["apiVersion"].startswith("kafka.strimzi.io/"):
            assert obj["apiVersion"] == "kafka.strimzi.io/v1", "Strimzi 1.x serves v1 only"
        problems = errors(crd_validator(obj["apiVersion"], obj["kind"]), obj)
        assert not problems, f"{obj['kind']}/{obj['metadata']['name']}: {problems}"


def test_the_crd_check_catches_a_broken_pool():
    (pool,) = [o for o in _kind("dev", "KafkaNodePool") if o["metadata"]["name"] == "broker"]
    broken = {**pool, "spec": {**pool["spec"], "roles": ["leader"], "replicas": "three"}}
    problems = errors(crd_validator(pool["apiVersion"], "KafkaNodePool"), broken)
    assert any("spec/roles/0" in p for p in problems) and any("spec/replicas" in p for p in problems)


def _is_core(obj: dict) -> bool:
    group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
    return "." not in group or group.endswith(".k8s.io")


def _schema_view(obj: dict) -> dict:
    """The object as the API server gets it: a secret Secret body stands for a map of strings."""
    if obj.get("kind") == "Secret":
        return {k: ({} if v == "[secret]" else v) for k, v in obj.items()}
    return obj


@pytest.mark.parametrize("stack", STACKS)
def test_core_objects_are_valid_kubernetes(stack):
    """Everything in the kafka namespace and everything the component writes elsewhere (client Secrets,
    the CA copy's Roles) against the Kubernetes 1.34 OpenAPI schema, strictly."""
    mine = [r["inputs"] for r in planned(stack) if r["custom"] and r["type"].startswith("kubernetes:")
            and not r["type"].startswith("kubernetes:helm.sh/") and "pipeworks:services:Kafka$" in r["urn"]]
    objs = [o for o in in_namespace(planned(stack), "kafka") + mine if _is_core(o)]
    assert {"Namespace", "NetworkPolicy"} <= {o["kind"] for o in objs}
    for obj in objs:
        problems = errors(core_validator(obj["kind"], obj["apiVersion"], cluster_version(stack)), _schema_view(obj))
        assert not problems, f"{obj['kind']}/{obj['metadata']['name']}: {problems}"


def _all(stack: str) -> list[dict]:
    return [r["inputs"] for r in planned(stack) if r["custom"] and r["type"].startswith("kubernetes:")]


@pytest.mark.parametrize("stack", STACKS)
def test_operator_from_its_oci_chart_before_every_custom_resource(stack):
    release = releases(planned(stack))["strimzi-kafka-operator"]
    assert release["chart"] == "oci://quay.io/strimzi-helm/strimzi-kafka-operator"
    assert release["version"] == "1.2.0" and release["namespace"] == "kafka"
    assert not (release.get("repositoryOpts") or {}).get("repo")
    op_urn = next(r["urn"] for r in planned(stack) if r["type"] == "kubernetes:helm.sh/v3:Release"
                  and r["inputs"]["name"] == "strimzi-kafka-operator")
    for r in _kafka_records(stack):
        if r["inputs"]["apiVersion"].startswith(("kafka.strimzi.io/", "monitoring.coreos.com/")):
            assert op_urn in r["dependencies"], f"{r['name']} does not wait for the operator and its CRDs"


@pytest.mark.parametrize("stack", STACKS)
def test_pod_monitors_wait_for_the_monitoring_crds(stack):
    mon = [r["urn"] for r in planned(stack) if r["type"] == "kubernetes:helm.sh/v3:Release"
           and r["inputs"]["name"] == "kube-prometheus-stack"]
    # Both shipped stacks run monitoring (the monitoring-off stack is tests/stacks/test_monitoring_off.py).
    assert mon, f"{stack} plans no kube-prometheus-stack release: this check lost its subject"
    pms = [r for r in _kafka_records(stack) if r["inputs"]["kind"] == "PodMonitor"]
    assert pms and all(mon[0] in r["dependencies"] for r in pms)


@pytest.mark.parametrize("stack,replicas,zones", [("dev", 1, False), ("prod", 3, True)])
def test_pools_on_nvme_with_hot_class_spread_per_environment(stack, replicas, zones):
    pools = {o["metadata"]["name"]: o["spec"] for o in _kind(stack, "KafkaNodePool")}
    assert set(pools) == {"controller", "broker"}
    hot = "ceph-block"  # storage.hot_data_class of the shipped stacks
    for name, spec in pools.items():
        assert spec["roles"] == [name] and spec["replicas"] == replicas
        assert all(v["class"] == hot for v in spec["storage"]["volumes"])
        pod = spec["template"]["pod"]
        terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert {"key": LABEL_ROLE, "operator": "In", "values": ["nvme"]} in terms[0]["matchExpressions"]
        assert any(t["key"] == TAINT_NVME for t in pod["tolerations"])
        keys = {c["topologyKey"] for c in pod["topologySpreadConstraints"]}
        assert ("topology.kubernetes.io/zone" in keys) is zones and "kubernetes.io/hostname" in keys


@pytest.mark.parametrize("stack,rf,isr,cc", [("dev", 1, 1, False), ("prod", 3, 2, True)])
def test_replication_and_cruise_control_per_environment(stack, rf, isr, cc):
    (kafka,) = _kind(stack, "Kafka")
    conf = kafka["spec"]["kafka"]["config"]
    assert conf["default.replication.factor"] == rf and conf["min.insync.replicas"] == isr
    assert ("cruiseControl" in kafka["spec"]) is cc
    assert kafka["spec"]["kafka"]["rack"]["topologyKey"] == "topology.kubernetes.io/zone"
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    assert listener["tls"] is True and listener["authentication"]["type"] == "scram-sha-512"
    assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"
    assert kafka["spec"]["kafka"]["metricsConfig"]["type"] == "strimziMetricsReporter"


@pytest.mark.parametrize("stack", STACKS)
def test_namespace_denies_by_default_and_admits_prometheus(stack):
    (ns,) = [o for o in _all(stack) if o.get("kind") == "Namespace" and o["metadata"]["name"] == "kafka"]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] in ("baseline", "restricted")
    policies = {o["metadata"]["name"]: o["spec"] for o in _kind(stack, "NetworkPolicy")}
    assert policies["default-deny-ingress"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    (rule,) = policies["allow-prometheus"]["ingress"]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]


@pytest.mark.parametrize("stack", STACKS)
def test_every_kafka_user_has_quotas(stack):
    """Strimzi 1.2.0 KafkaUser spec.quotas: every user (the fraud scorer included) is throttled per broker."""
    users = [o for o in (r["inputs"] for r in planned(stack)) if o.get("kind") == "KafkaUser"]
    assert users, "the shipped stacks declare the fraud scorer's user"
    for u in users:
        q = u["spec"]["quotas"]
        assert q["producerByteRate"] > 0 and q["consumerByteRate"] > 0 and q["requestPercentage"] > 0, u["metadata"]


@pytest.mark.parametrize("stack,cruise", [("dev", False), ("prod", True)])
def test_cruise_control_rebalances_when_brokers_come_and_go(stack, cruise):
    """Cruise Control alone only proposes; Strimzi 1.2.0 Kafka spec.cruiseControl.autoRebalance moves partitions onto
    added brokers and off brokers being removed, with no KafkaRebalance to approve by hand."""
    (kafka,) = [o for o in (r["inputs"] for r in planned(stack)) if o.get("kind") == "Kafka"]
    if not cruise:
        assert "cruiseControl" not in kafka["spec"]
        return
    assert kafka["spec"]["cruiseControl"]["autoRebalance"] == [{"mode": "add-brokers"}, {"mode": "remove-brokers"}]
