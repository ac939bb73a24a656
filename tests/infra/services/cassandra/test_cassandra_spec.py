"""The Cassandra component's pure parts: config rules (errors name the key and what is valid), the datacenter
spec (racks over zones, NVMe placement, heap and resources from config), the role statements and Job.

Upstream: k8ssandra/cass-operator v1.32.0 apis/cassandra/v1beta1/cassandradatacenter_types.go (labels, Service
names, SplitRacks), pkg/reconciliation/construct_service.go (ports), pkg/reconciliation/constructor.go (the
operator's PodDisruptionBudget: minAvailable = size - maxUnavailable); k8ssandra/k8ssandra
charts/cass-operator/values.yaml and templates/deployment.yaml (values; webhooks need cert-manager)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from infra.config.cassandra import CassandraConfig, heap_bytes
from infra.placement import LABEL_NVME_MODE, LABEL_ROLE, TAINT_NVME, ZONE_LABEL
from infra.services.cassandra import roles, spec
from policies.rules.podspec import _split_racks

ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]


def prod_cfg(**kw) -> CassandraConfig:
    base = dict(size=3, racks=3, replication_factor=3, heap_size="8G",
                resources={"cpu": "2", "memory": "32Gi"}, storage_size="500Gi")
    return CassandraConfig.model_validate({**base, **kw})


def test_racks_are_pinned_one_per_zone_in_order():
    racks = spec.racks(prod_cfg(), ZONES)
    assert [r["name"] for r in racks] == ["r1", "r2", "r3"]
    assert [r["nodeAffinityLabels"] for r in racks] == [{ZONE_LABEL: z} for z in ZONES]


def test_a_single_rack_or_unknown_zones_are_not_pinned():
    assert spec.racks(CassandraConfig(), ZONES) == [{"name": "r1"}]
    assert all("nodeAffinityLabels" not in r for r in spec.racks(prod_cfg(), None))


def test_datacenter_spec_places_on_nvme_with_class_heap_and_resources():
    cfg = prod_cfg()
    s = spec.datacenter_spec(cfg, storage_class="ceph-block", zones=ZONES)
    assert s["serverType"] == "cassandra" and s["serverVersion"] == cfg.server_version and s["size"] == 3
    assert s["nodeSelector"] == {LABEL_ROLE: "nvme", LABEL_NVME_MODE: "raid0"}
    assert {"key": TAINT_NVME, "operator": "Equal", "value": "nvme", "effect": "NoSchedule"} in s["tolerations"]
    claim = s["storageConfig"]["cassandraDataVolumeClaimSpec"]
    assert claim["storageClassName"] == "ceph-block" and claim["resources"]["requests"]["storage"] == "500Gi"
    assert "config" not in s and s["configSecret"] == "dc1-config"
    conf = json.loads(spec.config_secret_data(cfg)["config"])
    assert conf["jvm-server-options"] == {"initial_heap_size": "8G", "max_heap_size": "8G"}
    assert conf["cassandra-yaml"]["authenticator"] == "PasswordAuthenticator"
    assert s["resources"] == {"requests": {"cpu": "2", "memory": "32Gi"}, "limits": {"memory": "32Gi"}}
    # no superuser Secret named: the operator generates <cluster>-superuser in the cluster
    assert "superuserSecretName" not in s and spec.superuser_secret(cfg) == "pipeworks-superuser"
    assert "storageClassName" not in spec.datacenter_spec(cfg, storage_class=None, zones=ZONES)[
        "storageConfig"]["cassandraDataVolumeClaimSpec"]


def test_operator_values_pin_the_operator_and_turn_webhooks_off():
    v = spec.operator_values(CassandraConfig())
    assert v["image"]["tag"] == "v1.32.0"
    assert v["admissionWebhooks"] == {"enabled": False}, "the chart refuses webhooks without cert-manager"
    assert v["global"] == {"clusterScoped": False}
    assert v["nodeSelector"] == {LABEL_ROLE: "general"}
    assert "cpu" not in v["resources"]["limits"]


def test_names_follow_the_operator():
    cfg = CassandraConfig()
    assert spec.service_host(cfg) == "pipeworks-dc1-service.cassandra.svc"
    assert spec.datacenter_labels(cfg) == {"cassandra.datastax.com/cluster": "pipeworks",
                                           "cassandra.datastax.com/datacenter": "dc1"}
    mon = spec.service_monitor_spec(cfg)
    assert mon["selector"]["matchLabels"][spec.PROM_METRICS_LABEL] == "true"
    assert mon["endpoints"][0]["port"] == "metrics"


def test_network_policies_admit_only_what_each_party_needs():
    pols = spec.network_policies(CassandraConfig(), "monitoring")
    assert pols["default-deny-ingress"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    clients = pols["cassandra-clients"]["ingress"][0]
    assert clients["from"][0]["podSelector"]["matchLabels"] == {spec.CLIENT_LABEL: "pipeworks"}
    assert [p["port"] for p in clients["ports"]] == [9042]
    prom = pols["allow-prometheus"]["ingress"][0]
    assert prom["from"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}
    assert 9000 in [p["port"] for p in prom["ports"]]
    ops = pols["cassandra-operator"]["ingress"][0]
    assert ops["from"][0]["podSelector"]["matchLabels"] == spec.OPERATOR_POD_LABELS
    assert 8080 in [p["port"] for p in ops["ports"]]


@pytest.mark.parametrize("field,value,key,hint", [
    ({"heapSize": "2G", "resources": {"cpu": "1", "memory": "2Gi"}}, None, "cassandra.heapSize", "half"),
    ({"size": 4, "racks": 3}, None, "cassandra.size", "multiple"),
    ({"replicationFactor": 3, "size": 1}, None, "cassandra.replicationFactor", "exceeds"),
    ({"serverVersion": "3.11.4"}, None, "serverVersion", "5.0.x"),
    ({"heapSize": "8 gigs"}, None, "heapSize", "512M"),
    ({"clusterName": "Bad_Name"}, None, "clusterName", "lowercase"),
])
def test_bad_config_names_the_key_and_what_is_valid(field, value, key, hint):
    with pytest.raises(ValidationError) as e:
        CassandraConfig.model_validate(field)
    text = str(e.value)
    assert key.split(".")[-1] in text and hint in text


@given(size=st.integers(1, 30), racks=st.integers(1, 6))
def test_split_racks_matches_the_operator(size, racks):
    counts = _split_racks(size, racks)
    assert sum(counts) == size and len(counts) == racks and max(counts) - min(counts) <= 1
    assert counts == sorted(counts, reverse=True)  # the first racks take the remainder


@given(n=st.integers(1, 64), unit=st.sampled_from(["M", "G"]))
def test_heap_bytes(n, unit):
    assert heap_bytes(f"{n}{unit}") == n * (1024 ** 3 if unit == "G" else 1024 ** 2)


def test_role_statements_never_carry_the_password_and_reject_bad_identifiers():
    cfg = prod_cfg()
    cql = roles.role_cql(cfg, "sentiment", "sentiment")
    assert "'dc1': 3" in cql and "NetworkTopologyStrategy" in cql
    assert "PASSWORD = '${ROLE_PASSWORD}'" in cql  # substituted from the Secret by the Job's shell
    assert "GRANT ALL PERMISSIONS ON KEYSPACE sentiment TO sentiment" in cql
    assert "ALTER" not in cql  # a second password change within 5 s fails: password_cql runs only when needed
    assert roles.password_cql("sentiment") == "ALTER ROLE sentiment WITH PASSWORD = '${ROLE_PASSWORD}';"
    for bad in ("Sentiment", "drop table x", "a" * 49, "1abc"):
        with pytest.raises(ValueError, match="CQL identifier"):
            roles.role_cql(cfg, bad, "ks")
    assert roles.job_name("sentiment", cql) != roles.job_name("sentiment", cql + " ")


def test_role_job_reads_every_credential_from_secrets():
    job = roles.role_job_spec(CassandraConfig(), role="app", superuser_secret="pipeworks-superuser", role_secret="r",
                              cql_config_map="c")
    pod = job["template"]["spec"]
    (c,) = pod["containers"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in c["env"] if "valueFrom" in e}
    assert refs["SUPERUSER_PASSWORD"] == {"name": "pipeworks-superuser", "key": "password"}
    assert refs["ROLE_PASSWORD"] == {"name": "r", "key": "password"}
    assert c["securityContext"]["readOnlyRootFilesystem"] and pod["securityContext"]["runAsNonRoot"]
    assert job["template"]["metadata"]["labels"][spec.CLIENT_LABEL] == "pipeworks"
