"""Pure tests of the fraud workload's Kubernetes renderers (workloads/fraud/manifests.py), without Pulumi."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.placement import LABEL_ROLE
from infra.workloads import kit
from workloads.fraud import manifests as m
from workloads.fraud.config import ApiConfig, FraudConfig, model_memory_budget

BUCKET = m.BucketRefs(configmap="fraud-data", secret="fraud-data", endpoint="http://rgw.rook-ceph.svc:80")
KAFKA = m.KafkaRefs(bootstrap="events-kafka-bootstrap.kafka.svc:9093", secret="fraud-scorer",
                    ca_secret="events-cluster-ca-cert",
                    client_labels={"kafka.pipeworks.io/client": "events"})
SERVING = m.UserRefs(secret="rook-ceph-object-user-datalake-fraud-serving")
SCORING = m.UserRefs(secret="rook-ceph-object-user-datalake-fraud-scoring")
D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
# What the storage and Kafka handles supply (StorageHandle.object_store_egress(), KafkaUserHandle.egress()).
RGW_EGRESS = kit.egress_to("rook-ceph", kit.tcp_ports(8080), {"app": "rook-ceph-rgw"})
KAFKA_EGRESS = kit.egress_to("kafka", kit.tcp_ports(9093))


def ab(weight: int = 10, **api: Any) -> FraudConfig:
    return FraudConfig(enabled=True, api=ApiConfig(stable_version="v1", stable_digest=D1, candidate_version="v2",
                                                   candidate_digest=D2, candidate_weight=weight, **api))


def stable_only(**fields: Any) -> FraudConfig:
    return FraudConfig(enabled=True, api=ApiConfig(stable_version="v1", stable_digest=D1), **fields)


@given(st.integers(0, 100))
def test_weights_always_sum_to_100(weight: int) -> None:
    got = m.backends(ab(weight).api)
    assert [(b.track, b.version, b.weight) for b in got] == [("stable", "v1", 100 - weight), ("candidate", "v2", weight)]


def test_without_candidate_stable_takes_everything() -> None:
    assert [(b.name, b.weight, b.digest) for b in m.backends(ApiConfig(stable_version="v1", stable_digest=D1))] == \
        [("fraud-api-stable", 100, D1)]
    with pytest.raises(ValueError, match="api.stableVersion is required"):
        m.backends(ApiConfig())


@pytest.mark.parametrize(("q", "cpus"), [("500m", 1), ("1", 1), ("2", 2), ("2500m", 2), ("0.5", 1), ("4000m", 4)])
def test_whole_cpus(q: str, cpus: int) -> None:
    assert m.whole_cpus(q) == cpus


@given(st.integers(2, 100))
def test_pdb_leaves_one_eviction_and_keeps_one_pod(min_replicas: int) -> None:
    n = m.pdb_min_available(min_replicas)
    assert 1 <= n < min_replicas


def test_pdb_refuses_a_single_pod() -> None:
    with pytest.raises(ValueError, match="blocks every eviction"):
        m.pdb_min_available(1)


def test_api_pod_versions_credentials_probes_and_placement() -> None:
    cfg = ab()
    stable, candidate = m.backends(cfg.api)
    spec = m.api_deployment_spec(cfg, candidate, BUCKET, across_zones=True, user=SERVING)
    pod = spec["template"]["spec"]
    (c,) = pod["containers"]
    env = {e["name"]: e for e in c["env"]}
    assert env["FF_CLF_VERSION"]["value"] == "v2" and env["FF_CLF_DIGEST"]["value"] == D2
    # The serving role's own keys (read-only to the models by the bucket policy), never the bucket owner's.
    assert env["AWS_SECRET_ACCESS_KEY"] == {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {
        "secretKeyRef": {"name": SERVING.secret, "key": "SecretKey"}}}
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"] == {"name": SERVING.secret, "key": "AccessKey"}
    assert env["S3_PUT_ACL"]["value"] == "bucket-owner-full-control"  # its prediction samples stay the owner's to read
    assert c["envFrom"] == [{"configMapRef": {"name": "fraud-data"}}]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz" and c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    # Loading happens before gunicorn listens: the startup probe gives it 5 minutes; draining before SIGTERM.
    assert c["startupProbe"]["failureThreshold"] * c["startupProbe"]["periodSeconds"] == 300
    assert c["lifecycle"] == {"preStop": {"sleep": {"seconds": m.PRESTOP_SECONDS}}}
    assert pod["terminationGracePeriodSeconds"] >= m.PRESTOP_SECONDS + 20  # + gunicorn's graceful_timeout
    assert pod["nodeSelector"] == {LABEL_ROLE: "general"}
    assert {t["topologyKey"] for t in pod["topologySpreadConstraints"]} == {"kubernetes.io/hostname",
                                                                           "topology.kubernetes.io/zone"}
    assert spec["selector"]["matchLabels"] == {"app.kubernetes.io/name": "fraud-api", "track": "candidate"}
    # the two versions' pods never match each other's selector (their Services, HPAs and PDBs stay apart)
    other = m.api_deployment_spec(cfg, stable, BUCKET, across_zones=False)["selector"]["matchLabels"]
    assert other["track"] == "stable" and other != spec["selector"]["matchLabels"]


def test_route_sends_only_public_paths_to_weighted_versions() -> None:
    cfg = FraudConfig(enabled=True, api=ApiConfig(stable_version="v1", stable_digest=D1, candidate_version="v2",
                                                  candidate_digest=D2, candidate_weight=30),
                      gateway={"name": "edge", "namespace": "gw", "sectionName": "https",
                               "hostnames": ["fraud.example.com"]})
    spec = m.http_route_spec(cfg)
    assert spec["parentRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "edge",
                                   "namespace": "gw", "sectionName": "https"}]
    assert spec["hostnames"] == ["fraud.example.com"]
    *pinned, rule = spec["rules"]
    assert {x["path"]["value"] for x in rule["matches"]} == {"/classify", "/model", "/openapi.json"}
    assert [(b["name"], b["weight"]) for b in rule["backendRefs"]] == [("fraud-api-stable", 70),
                                                                       ("fraud-api-candidate", 30)]
    # A request pinning a version (X-Model-Version) reaches that version only, whatever the weights.
    for pin, (name, version) in zip(pinned, [("fraud-api-stable", "v1"), ("fraud-api-candidate", "v2")], strict=True):
        assert [b["name"] for b in pin["backendRefs"]] == [name]
        assert {x["path"]["value"] for x in pin["matches"]} == {"/classify", "/model", "/openapi.json"}
        assert all(x["headers"] == [{"type": "Exact", "name": "x-model-version", "value": version}]
                   for x in pin["matches"])


def test_trainer_cronjob_never_overlaps_and_gets_whole_cpus() -> None:
    cfg = stable_only(trainer={"schedule": "15 2 * * *", "resources": {"cpu": "3", "memory": "4Gi"}})
    spec = m.trainer_cronjob_spec(cfg, BUCKET)
    assert spec["schedule"] == "15 2 * * *" and spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["FF_TRAIN_JOBS"] == "3" and env["FF_TRAIN_DATA_PREFIX"] == "training/transactions"
    # Judged against what the stack deploys, verified by its pinned digest; sized for the API's pods.
    assert (env["FF_STABLE_VERSION"], env["FF_STABLE_DIGEST"]) == ("v1", D1)
    assert env["FF_MODEL_MEMORY_BUDGET_BYTES"] == str(model_memory_budget("512Mi", 2))
    # The trainer alone holds the bucket owner's keys.
    secrets = {e["valueFrom"]["secretKeyRef"]["name"] for e in pod["containers"][0]["env"] if "valueFrom" in e}
    assert secrets == {BUCKET.secret}
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_scorer_kafka_credentials_by_reference_and_client_labels() -> None:
    cfg = stable_only(scorer={"replicas": 2})
    spec = m.scorer_deployment_spec(cfg, BUCKET, KAFKA, across_zones=False, user=SCORING)
    pod = spec["template"]["spec"]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"] == {"name": SCORING.secret, "key": "AccessKey"}
    assert pod["containers"][0]["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert env["FF_KAFKA_PASSWORD"]["valueFrom"] == {"secretKeyRef": {"name": "fraud-scorer", "key": "password"}}
    assert env["FF_KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
    assert env["FF_API_URL"]["value"] == "http://fraud-api-stable.fraud.svc:8080"
    assert pod["volumes"][0]["secret"]["secretName"] == "events-cluster-ca-cert"
    assert spec["template"]["metadata"]["labels"]["kafka.pipeworks.io/client"] == "events"
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
    single = m.scorer_deployment_spec(cfg.model_copy(update={"scorer": cfg.scorer.model_copy(update={"replicas": 1})}),
                                      BUCKET, KAFKA, across_zones=True)
    assert "topologySpreadConstraints" not in single["template"]["spec"]


def test_network_policies_admit_only_the_clients() -> None:
    cfg = ab()
    pols = m.network_policies(cfg, monitoring_namespace="monitoring", object_store_egress=RGW_EGRESS,
                              kafka_egress=KAFKA_EGRESS)
    assert pols["default-deny-ingress"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    sources = [peer for rule in pols["fraud-api-ingress"]["ingress"] for peer in rule["from"]]
    namespaces = {p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in sources
                  if "namespaceSelector" in p}
    assert namespaces == {cfg.gateway.namespace, "monitoring"}
    assert {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "fraud-scorer"}}} in sources
    egress = pols["fraud-scorer-egress"]["egress"]
    ports = {(p["protocol"], p["port"]) for rule in egress for p in rule["ports"]}
    assert ports == {("UDP", 53), ("TCP", 53), ("TCP", 8080), ("TCP", 9093)}
    kafka_rule = next(r for r in egress if ("TCP", 9093) in {(p["protocol"], p["port"]) for p in r["ports"]})
    assert kafka_rule["to"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kafka"}}}]


def test_namespace_is_restricted() -> None:
    assert m.namespace_labels()["pod-security.kubernetes.io/enforce"] == "restricted"


def test_bucket_policy_gives_each_role_only_its_prefixes() -> None:
    cfg = ab()
    policy = m.bucket_policy(cfg)
    grants = {(st["Principal"]["AWS"][0], tuple(st["Action"]), st["Resource"][0]) for st in policy["Statement"]}
    bucket = m.bucket_name(cfg)
    assert grants == {
        ("arn:aws:iam:::user/fraud-serving", ("s3:GetObject",), f"arn:aws:s3:::{bucket}/models/fraud/*"),
        ("arn:aws:iam:::user/fraud-serving", ("s3:PutObject",), f"arn:aws:s3:::{bucket}/predictions/fraud/*"),
        ("arn:aws:iam:::user/fraud-scoring", ("s3:PutObject",), f"arn:aws:s3:::{bucket}/scores/fraud/*"),
        ("arn:aws:iam:::user/fraud-scoring", ("s3:PutObject",), f"arn:aws:s3:::{bucket}/dead-letter/fraud/*"),
    }
    assert all(st["Effect"] == "Allow" for st in policy["Statement"])


def test_alert_rules_cover_the_scorer_and_the_trainer() -> None:
    names = {r["alert"] for g in m.alert_rules(stable_only())["groups"] for r in g["rules"]}
    assert names == {"FraudScorerLagHigh", "FraudScorerErrors", "FraudScorerDeadLetters", "FraudTrainerFailing",
                     "FraudTrainerRefusedModel"}
    # With traffic on a candidate, the alert for a candidate without ready pods joins them.
    assert "FraudCandidateWeightedWithoutReadyPods" in {r["alert"] for g in m.alert_rules(ab(10))["groups"]
                                                        for r in g["rules"]}
