"""The policy packs judge a CassandraDatacenter (cass-operator v1.32.0, cassandra.datastax.com/v1beta1) from what
the stack declares: its pods (per rack, from nodeSelector, tolerations, nodeAffinityLabels, resources) land on
NVMe pools, replicas spread over hosts and, with zone-pinned racks, zones; its volumes count against Ceph; it
keeps password authentication. Compliant, violating and property-missing cases."""

from __future__ import annotations

import base64
import json
from typing import Any

from policies.rules.podspec import pod_templates
from policies.rules.storage_capacity import claims
from policies.rules.model import Context
from tests.policies.builders import NVME_TOL, k8s, messages

NVME = {"pipeworks.io/role": "nvme", "pipeworks.io/nvme-mode": "raid0"}
ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]


def dc(**spec: Any) -> Any:
    body = {"clusterName": "pipeworks", "serverType": "cassandra", "serverVersion": "5.0.6", "size": 3.0,
            "racks": [{"name": f"r{i + 1}", "nodeAffinityLabels": {"topology.kubernetes.io/zone": z}}
                      for i, z in enumerate(ZONES)],
            "storageConfig": {"cassandraDataVolumeClaimSpec": {
                "storageClassName": "ceph-block", "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "100Gi"}}}},
            "resources": {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"memory": "4Gi"}},
            "nodeSelector": NVME, "tolerations": [NVME_TOL],
            "config": {"cassandra-yaml": {"authenticator": "PasswordAuthenticator",
                                          "authorizer": "CassandraAuthorizer"}}}
    body.update(spec)
    return k8s("cassandra.datastax.com/v1beta1", "CassandraDatacenter", "dc1", body, namespace="cassandra")


def test_pods_per_rack_with_zone_affinity_and_the_operators_containers():
    pts = pod_templates(dc())
    assert [pt.replicas for pt in pts] == [1, 1, 1]
    assert [pt.selected_values("topology.kubernetes.io/zone") for pt in pts] == [{z} for z in ZONES]
    names = {c.name for c in pts[0].containers}
    assert {"cassandra", "server-system-logger", "server-config-init"} <= names
    assert pts[0].requests()["memory"] == 4 * 1024 ** 3
    assert {"kubernetes.io/hostname", "topology.kubernetes.io/zone"} <= pts[0].operator_spread


def test_cassandra_on_nvme_is_compliant():
    assert messages("nvme-placement", [dc()]) == []


def test_cassandra_moved_off_nvme_is_a_violation():
    msgs = messages("nvme-placement", [dc(nodeSelector={"pipeworks.io/role": "general"}, tolerations=[])])
    assert msgs and all("Cassandra node" in m for m in msgs)


def test_cassandra_selecting_nvme_without_the_toleration_is_a_violation():
    msgs = messages("nvme-placement", [dc(tolerations=[])])
    assert msgs and "does not tolerate" in msgs[0]


def test_cassandra_without_any_placement_is_a_violation():
    body = dc()
    for key in ("nodeSelector", "tolerations"):
        body.props["spec"].pop(key)
    assert messages("nvme-placement", [body])


def test_multiple_nodes_per_worker_loses_the_host_spread():
    (one,) = pod_templates(dc(racks=[{"name": "r1"}], allowMultipleNodesPerWorker=True))
    assert one.operator_spread == set() and one.replicas == 3


def test_volumes_count_against_ceph_times_size():
    ctx = Context(environment="prod", resources=[dc()])
    (claim,) = claims(ctx)
    assert claim.count == 3 and claim.storage_class == "ceph-block"


def test_password_authentication_is_compliant_and_allow_all_is_a_violation():
    assert messages("cassandra-authentication", [dc()]) == []
    msgs = messages("cassandra-authentication", [dc(config={"cassandra-yaml": {
        "authenticator": "org.apache.cassandra.auth.AllowAllAuthenticator", "authorizer": "AllowAllAuthorizer"}})])
    assert len(msgs) == 2 and "PasswordAuthenticator" in msgs[0] and "CassandraAuthorizer" in msgs[1]


def test_no_inline_cassandra_yaml_leaves_the_operator_default():
    assert messages("cassandra-authentication", [dc(config={})]) == []


def config_secret(conf: Any, key: str = "stringData") -> Any:
    body = json.dumps(conf) if key == "stringData" else base64.b64encode(json.dumps(conf).encode()).decode()
    return k8s("v1", "Secret", "dc1-config", None, namespace="cassandra", **{key: {"config": body}})


def test_the_config_secret_is_judged_too():
    """The shipped stacks pass the server config through `configSecret` (the inline form is refused by the
    v1.32.0 CRD); a pack sees the Secret's plain value."""
    ref = dc(configSecret="dc1-config")
    ref.props["spec"].pop("config")
    open_auth = {"cassandra-yaml": {"authenticator": "AllowAllAuthenticator"}}
    assert messages("cassandra-authentication", [ref, config_secret(open_auth)])
    assert messages("cassandra-authentication", [ref, config_secret(open_auth, "data")])
    assert messages("cassandra-authentication", [ref, config_secret(
        {"cassandra-yaml": {"authenticator": "PasswordAuthenticator"}})]) == []
    # the offline plan shows a secret output as "[secret]": nothing to judge, nothing reported
    hidden = k8s("v1", "Secret", "dc1-config", None, namespace="cassandra", stringData={"config": "[secret]"})
    assert messages("cassandra-authentication", [ref, hidden]) == []
