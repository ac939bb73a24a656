"""The Cassandra component in the dev and prod plans: upstream CRD (cass-operator v1.32.0
config/crd/bases/cassandra.datastax.com_cassandradatacenters.yaml, structural copy in tests/schemas/crds) and
Kubernetes schema validity, the operator before the datacenter, racks over zones in prod, NVMe placement with
the hot-data class, sizes per environment, metrics, NetworkPolicies and no credential in the plan."""

from __future__ import annotations

import pytest

from infra.placement import LABEL_ROLE, TAINT_NVME, ZONE_LABEL
from pipeworks.plan import validate
from tests.infra.planned import REPO, cluster_version, core_validator, crd_validator, errors, in_namespace, planned, releases

STACKS = ("dev", "prod")
NS = "cassandra"


def _records(stack: str) -> list[dict]:
    return [r for r in planned(stack) if r["custom"] and r["type"].startswith("kubernetes:")
            and "pipeworks:services:Cassandra" in r["urn"]]


def _kind(stack: str, kind: str) -> list[dict]:
    return [o for o in in_namespace(planned(stack), NS) if o.get("kind") == kind]


def shipped_config(stack: str):
    return validate(REPO, stack)[1].platform.cassandra


def _dc(stack: str) -> dict:
    (dc,) = _kind(stack, "CassandraDatacenter")
    return dc


@pytest.mark.parametrize("stack", STACKS)
def test_custom_resources_are_valid_upstream(stack):
    crs = [o for o in in_namespace(planned(stack), NS) if "/" in o["apiVersion"]
           and o["apiVersion"].split("/")[0] in ("cassandra.datastax.com", "monitoring.coreos.com")]
    assert {"CassandraDatacenter", "ServiceMonitor"} <= {o["kind"] for o in crs}
    for obj in crs:
        problems = errors(crd_validator(obj["apiVersion"], obj["kind"]), obj)
        assert not problems, f"{obj['kind']}/{obj['metadata']['name']}: {problems}"


def test_the_crd_check_catches_a_broken_datacenter():
    dc = _dc("dev")
    broken = {**dc, "spec": {**dc["spec"], "serverType": "scylla", "serverVersion": "five"}}
    problems = errors(crd_validator(dc["apiVersion"], "CassandraDatacenter"), broken)
    assert any("serverType" in p for p in problems) and any("serverVersion" in p for p in problems)


@pytest.mark.parametrize("stack", STACKS)
def test_core_objects_are_valid_kubernetes(stack):
    def is_core(obj: dict) -> bool:
        group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
        return "." not in group or group.endswith(".k8s.io")

    objs = [r["inputs"] for r in _records(stack) if not r["type"].startswith("kubernetes:helm.sh/")
            and is_core(r["inputs"])]
    assert {"Namespace", "NetworkPolicy"} <= {o["kind"] for o in objs}
    for obj in objs:
        problems = errors(core_validator(obj["kind"], obj["apiVersion"], cluster_version(stack)), obj)
        assert not problems, f"{obj['kind']}/{obj['metadata']['name']}: {problems}"


@pytest.mark.parametrize("stack", STACKS)
def test_operator_from_its_chart_before_the_datacenter(stack):
    release = releases(planned(stack))["cass-operator"]
    assert release["chart"] == "cass-operator" and release["version"] == "0.66.0"
    assert release["repositoryOpts"]["repo"] == "https://helm.k8ssandra.io/stable"
    assert release["values"]["image"]["tag"] == "v1.32.0"
    op_urn = next(r["urn"] for r in planned(stack) if r["type"] == "kubernetes:helm.sh/v3:Release"
                  and r["inputs"]["name"] == "cass-operator")
    (dc,) = [r for r in _records(stack) if r["inputs"].get("kind") == "CassandraDatacenter"]
    assert op_urn in dc["dependencies"], "the datacenter must wait for the operator and its CRD"
    mon = [r["urn"] for r in planned(stack) if r["type"] == "kubernetes:helm.sh/v3:Release"
           and r["inputs"]["name"] == "kube-prometheus-stack"]
    (sm,) = [r for r in _records(stack) if r["inputs"].get("kind") == "ServiceMonitor"]
    assert mon and mon[0] in sm["dependencies"], "the ServiceMonitor must wait for the monitoring CRDs"


@pytest.mark.parametrize("stack,size,rf,racks,heap", [("dev", 1, 1, 1, "512M"), ("prod", 3, 3, 3, "6G")])
def test_sizes_racks_and_heap_per_environment(stack, size, rf, racks, heap):
    spec = _dc(stack)["spec"]
    assert spec["size"] == size and len(spec["racks"]) == racks
    (conf,) = [o for o in _kind(stack, "Secret") if o["metadata"]["name"] == spec["configSecret"]]
    assert conf["stringData"] == {"config": "[secret]"}  # its heap is the config model's (test_cassandra_spec)
    assert shipped_config(stack).heap_size == heap
    if racks > 1:  # prod: each rack pinned to its own zone, so every replica is in another zone
        zones = [r["nodeAffinityLabels"][ZONE_LABEL] for r in spec["racks"]]
        assert len(set(zones)) == racks
    else:
        assert "nodeAffinityLabels" not in spec["racks"][0]
    assert spec["allowMultipleNodesPerWorker"] is False


@pytest.mark.parametrize("stack", STACKS)
def test_nodes_on_nvme_with_the_hot_data_class(stack):
    spec = _dc(stack)["spec"]
    assert spec["nodeSelector"][LABEL_ROLE] == "nvme"
    assert any(t["key"] == TAINT_NVME for t in spec["tolerations"])
    assert spec["storageConfig"]["cassandraDataVolumeClaimSpec"]["storageClassName"] == "ceph-block"


@pytest.mark.parametrize("stack", STACKS)
def test_no_credential_in_the_plan(stack):
    """The superuser Secret is the operator's (superuserSecretName unset); nothing in the component's inputs
    carries a password."""
    dc = _dc(stack)
    assert "superuserSecretName" not in dc["spec"] and "users" not in dc["spec"]
    for r in _records(stack):
        text = repr(r["inputs"]).lower()
        assert "password:" not in text and "'password': '" not in text.replace("'password': '[secret]'", "")


@pytest.mark.parametrize("stack", STACKS)
def test_namespace_denies_by_default(stack):
    policies = {o["metadata"]["name"] for o in _kind(stack, "NetworkPolicy")}
    assert {"default-deny-ingress", "cassandra-internode", "cassandra-operator", "cassandra-clients",
            "allow-prometheus"} <= policies
