"""The fraud workload as the shipped dev and prod stacks declare it (the real program under the plan's mocks):
the A/B weights follow the stack file, both versions run side by side, credentials arrive only by reference,
probes, HPAs and PDBs are sane, objects validate against the Kubernetes and upstream CRD schemas, ordering
holds, and the platform's policies find nothing wrong with any of its resources."""

from __future__ import annotations

import functools
import json
from typing import Any

import kubernetes_validate
import pytest

from pipeworks.plan import REPO_ROOT, InvalidStack, validate
from policies.engine import Enforcement, evaluate
from policies.rules.model import Resource
from policies.rules.reliability import selector_matches_labels
from tests.infra.planned import core_validator, crd_validator, errors, planned
from workloads.fraud.config import FraudConfig

STACKS = ("dev", "prod")
COMPONENT = "pipeworks:workloads:FraudDetection"
# Custom resources of the workload, checked against their upstream CRD schemas (tests/schemas/crds/).
CRD_GROUPS = {"kafka.strimzi.io", "monitoring.coreos.com", "objectbucket.io", "ceph.rook.io", "gateway.networking.k8s.io"}


@functools.lru_cache(maxsize=None)
def fraud_config(stack: str) -> FraudConfig:
    _, cfg = validate(REPO_ROOT, stack)
    return cfg.workloads.fraud  # type: ignore[union-attr]


def records(stack: str) -> list[dict[str, Any]]:
    return planned(stack)


def objects(stack: str, kind: str | None = None) -> list[dict[str, Any]]:
    """The workload's Kubernetes objects in its namespace (and the Kafka CRs it declares), as manifests."""
    ns = fraud_config(stack).namespace
    out = []
    for r in records(stack):
        if not (r["custom"] and r["type"].startswith("kubernetes:") and "helm.sh" not in r["type"]):
            continue
        obj = r["inputs"]
        mine = (obj.get("metadata") or {}).get("namespace") == ns or COMPONENT in r["urn"]
        if mine and (kind is None or obj["kind"] == kind):
            out.append(obj)
    return out


def by_name(stack: str, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects(stack, kind)}


def pod_specs(stack: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for o in objects(stack):
        if o["kind"] == "Deployment":
            out.append((o["metadata"]["name"], o["spec"]["template"]["spec"]))
        elif o["kind"] == "CronJob":
            out.append((o["metadata"]["name"], o["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
    return out


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


@pytest.fixture(scope="module", params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    return request.param


def test_stack_files_enable_the_workload(stack: str) -> None:
    assert fraud_config(stack).enabled
    comps = [r for r in records(stack) if r["type"] == COMPONENT]
    assert [c["name"] for c in comps] == ["fraud"]
    ns = by_name(stack, "Namespace")[fraud_config(stack).namespace]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_route_weights_match_the_stack_config(stack: str) -> None:
    cfg = fraud_config(stack)
    (route,) = objects(stack, "HTTPRoute")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    *pinned, rule = route["spec"]["rules"]
    assert {r["backendRefs"][0]["name"] for r in pinned} == {b for b in ("fraud-api-stable", "fraud-api-candidate")
                                                             if b != "fraud-api-candidate" or cfg.api.candidate_version}
    weights = {b["name"]: b["weight"] for b in rule["backendRefs"]}
    expected = {"fraud-api-stable": 100 - cfg.api.candidate_weight}
    if cfg.api.candidate_version:
        expected["fraud-api-candidate"] = cfg.api.candidate_weight
    assert weights == expected and sum(weights.values()) == 100
    assert route["spec"]["parentRefs"][0]["name"] == cfg.gateway.name
    assert route["spec"]["parentRefs"][0]["namespace"] == cfg.gateway.namespace


def test_dev_runs_stable_and_candidate_side_by_side() -> None:
    cfg = fraud_config("dev")
    assert cfg.api.candidate_version and 0 < cfg.api.candidate_weight < 100, "dev ships an A/B split"
    deployments = by_name("dev", "Deployment")
    versions = {name: env_of(d["spec"]["template"]["spec"]["containers"][0])["FF_CLF_VERSION"]["value"]
                for name, d in deployments.items() if name.startswith("fraud-api-")}
    assert versions == {"fraud-api-stable": cfg.api.stable_version, "fraud-api-candidate": cfg.api.candidate_version}


def test_prod_serves_its_stable_version_only() -> None:
    cfg = fraud_config("prod")
    api = {n: d for n, d in by_name("prod", "Deployment").items() if n.startswith("fraud-api-")}
    assert list(api) == ["fraud-api-stable"]
    assert env_of(api["fraud-api-stable"]["spec"]["template"]["spec"]["containers"][0])["FF_CLF_VERSION"]["value"] \
        == cfg.api.stable_version


def test_route_backends_are_services_of_the_api_port(stack: str) -> None:
    services = by_name(stack, "Service")
    (route,) = objects(stack, "HTTPRoute")
    deployments = by_name(stack, "Deployment")
    for ref in route["spec"]["rules"][-1]["backendRefs"]:
        svc = services[ref["name"]]
        port = next(p for p in svc["spec"]["ports"] if p["port"] == ref["port"])
        pod_labels = deployments[ref["name"]]["spec"]["template"]["metadata"]["labels"]
        # each backend Service selects exactly its own version's pods
        assert selector_matches_labels({"matchLabels": svc["spec"]["selector"]}, pod_labels)
        others = [d for n, d in deployments.items() if n != ref["name"]]
        assert not any(selector_matches_labels({"matchLabels": svc["spec"]["selector"]},
                                               d["spec"]["template"]["metadata"]["labels"]) for d in others)
        container = deployments[ref["name"]]["spec"]["template"]["spec"]["containers"][0]
        assert port["targetPort"] in {p["name"] for p in container["ports"]}


CREDENTIAL_VARS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "FF_KAFKA_USERNAME", "FF_KAFKA_PASSWORD"}


def test_credentials_only_by_reference_and_least_privilege(stack: str) -> None:
    """Only the trainer holds the bucket owner's keys; the API and the scorer hold their roles' users' keys, whose
    rights the claim's bucket policy limits to their prefixes."""
    cfg = fraud_config(stack)
    bucket_secret, kafka_secret = cfg.bucket, "fraud-scorer"
    users = {r["inputs"]["metadata"]["name"]: r["inputs"] for r in records(stack)
             if r["type"].endswith(":CephObjectStoreUser") and COMPONENT in r["urn"]}
    assert set(users) == {f"{cfg.namespace}-serving", f"{cfg.namespace}-scoring"}
    assert all(u["metadata"]["namespace"] == cfg.namespace for u in users.values())
    role_secrets = {f"rook-ceph-object-user-datalake-{n}": n.rsplit("-", 1)[1] for n in users}
    expected_secret = {"fraud-trainer": bucket_secret, "fraud-scorer": "rook-ceph-object-user-datalake-fraud-scoring",
                       "fraud-api-stable": "rook-ceph-object-user-datalake-fraud-serving",
                       "fraud-api-candidate": "rook-ceph-object-user-datalake-fraud-serving"}
    seen = set()
    for name, pod in pod_specs(stack):
        for c in pod["containers"]:
            env = env_of(c)
            for var, e in env.items():
                assert var not in CREDENTIAL_VARS or "value" not in e, f"{name}: {var} is a literal"
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] in {bucket_secret, kafka_secret, *role_secrets} and ref["key"], (name, var, ref)
                    seen.add(var)
            for src in c.get("envFrom", []):
                assert set(src) == {"configMapRef"}, f"{name}: envFrom {src} (credentials come by secretKeyRef)"
            assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == expected_secret[name], name
    assert seen == CREDENTIAL_VARS
    (claim,) = [o for o in objects(stack, "ObjectBucketClaim")]
    policy = json.loads(claim["spec"]["additionalConfig"]["bucketPolicy"])
    assert claim["spec"]["bucketName"] == f"{cfg.namespace}-{cfg.bucket}"
    principals = {a for st in policy["Statement"] for a in st["Principal"]["AWS"]}
    assert principals == {f"arn:aws:iam:::user/{n}" for n in users}
    # nobody but the owner may write the models
    assert not [st for st in policy["Statement"] if "s3:PutObject" in st["Action"]
                and any("/models/" in r for r in st["Resource"])]
    # the Kafka credentials are the User Operator's (generated in the cluster): the program declares no Secret of
    # them, a copy CronJob of the Kafka component brings Secret <user> into the namespace
    assert kafka_secret not in by_name(stack, "Secret")
    copies = [r["inputs"] for r in records(stack) if r["type"] == "kubernetes:batch/v1:CronJob"]
    targets = {(e["TARGET_NAMESPACE"], e["TARGET_SECRET"], e.get("KEYS")) for e in (
        {v["name"]: v.get("value") for v in c["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]}
        for c in copies) if "TARGET_SECRET" in e}
    assert (cfg.namespace, kafka_secret, "password,sasl.jaas.config") in targets


def test_long_running_pods_have_probes_resources_and_restricted_security(stack: str) -> None:
    for name, pod in pod_specs(stack):
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["nodeSelector"] == {"pipeworks.io/role": "general"}
        for c in pod["containers"]:
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
            assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]) and "memory" in c["resources"]["limits"]
            assert not c["image"].endswith(":latest") and ":" in c["image"].rsplit("/", 1)[-1]
    for name, d in by_name(stack, "Deployment").items():
        c = d["spec"]["template"]["spec"]["containers"][0]
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert c["readinessProbe"]["httpGet"]["path"] in ("/readyz", "/metrics"), name
        if name.startswith("fraud-api-"):
            assert (c["livenessProbe"]["httpGet"]["path"], c["readinessProbe"]["httpGet"]["path"]) == ("/healthz",
                                                                                                       "/readyz")


def test_trainer_cronjob_follows_the_config(stack: str) -> None:
    cfg = fraud_config(stack)
    cron = by_name(stack, "CronJob")["fraud-trainer"]
    assert cron["spec"]["schedule"] == cfg.trainer.schedule
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    env = env_of(cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0])
    # judged against the version the stack deploys, with its pinned digest
    assert (env["FF_STABLE_VERSION"]["value"], env["FF_STABLE_DIGEST"]["value"]) == (cfg.api.stable_version,
                                                                                     cfg.api.stable_digest)
    api = env_of(by_name(stack, "Deployment")["fraud-api-stable"]["spec"]["template"]["spec"]["containers"][0])
    assert api["FF_CLF_DIGEST"]["value"] == cfg.api.stable_digest


def test_route_waits_for_the_api_deployments(stack: str) -> None:
    (route,) = [r for r in records(stack) if r["type"].endswith(":HTTPRoute") and COMPONENT in r["urn"]]
    deployments = {r["urn"] for r in records(stack) if r["type"] == "kubernetes:apps/v1:Deployment"
                   and COMPONENT in r["urn"] and "fraud-api-" in r["inputs"]["metadata"]["name"]}
    assert deployments and deployments <= set(route["dependencies"])


def test_alert_rules_are_declared_after_the_monitoring_crds(stack: str) -> None:
    (rule,) = [r for r in records(stack) if r["type"].endswith(":PrometheusRule") and COMPONENT in r["urn"]]
    names = {a["alert"] for g in rule["inputs"]["spec"]["groups"] for a in g["rules"]}
    assert {"FraudScorerLagHigh", "FraudScorerErrors", "FraudScorerDeadLetters", "FraudTrainerFailing",
            "FraudTrainerRefusedModel"} <= names
    release = next(r["urn"] for r in records(stack) if r["type"] == "kubernetes:helm.sh/v3:Release"
                   and "pipeworks:services:Monitoring" in r["urn"])
    assert release in rule["dependencies"]


def test_hpa_and_pdb_are_sane(stack: str) -> None:
    cfg = fraud_config(stack)
    deployments = by_name(stack, "Deployment")
    hpas = by_name(stack, "HorizontalPodAutoscaler")
    pdbs = by_name(stack, "PodDisruptionBudget")
    api = [n for n in deployments if n.startswith("fraud-api-")]
    assert set(hpas) == set(api)
    for name in api:
        hpa, dep = hpas[name], deployments[name]
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert hpa["spec"]["minReplicas"] == cfg.api.min_replicas == dep["spec"]["replicas"]
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"] == cfg.api.max_replicas
        assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == cfg.api.target_cpu_percent
    for d_name, dep in deployments.items():
        labels = dep["spec"]["template"]["metadata"]["labels"]
        covering = [p for p in pdbs.values() if selector_matches_labels(p["spec"]["selector"], labels)]
        if dep["spec"]["replicas"] < 2:
            continue
        assert len(covering) == 1, d_name
        spec = covering[0]["spec"]
        if "minAvailable" in spec:
            # at least one pod stays, and a drain can still evict one (at the HPA's floor too)
            assert 1 <= spec["minAvailable"] < dep["spec"]["replicas"], d_name
        else:
            assert spec["maxUnavailable"] >= 1, d_name


def test_replicated_pods_spread_over_hosts_and_prod_zones(stack: str) -> None:
    for name, d in by_name(stack, "Deployment").items():
        if d["spec"]["replicas"] < 2:
            continue
        keys = {t["topologyKey"] for t in d["spec"]["template"]["spec"]["topologySpreadConstraints"]}
        assert "kubernetes.io/hostname" in keys, name
        assert ("topology.kubernetes.io/zone" in keys) == (stack == "prod"), name


def test_scorer_has_its_topic_and_consume_acls(stack: str) -> None:
    cfg = fraud_config(stack)
    topics = [r["inputs"] for r in records(stack) if r["type"].endswith("KafkaTopic") and COMPONENT in r["urn"]]
    assert [(t["metadata"]["name"], t["spec"]["partitions"]) for t in topics] == [(cfg.scorer.topic,
                                                                                   cfg.scorer.partitions)]
    (user,) = [r["inputs"] for r in records(stack) if r["type"].endswith("KafkaUser") and COMPONENT in r["urn"]]
    acls = {(a["resource"]["type"], a["resource"]["name"], op) for a in user["spec"]["authorization"]["acls"]
            for op in a["operations"]}
    assert {("topic", cfg.scorer.topic, "Read"), ("group", cfg.scorer.group, "Read")} <= acls
    assert not {op for (_, _, op) in acls} & {"Write", "Alter", "Delete", "All"}, "the scorer only consumes"
    scorer = by_name(stack, "Deployment")["fraud-scorer"]
    assert scorer["spec"]["replicas"] == cfg.scorer.replicas <= cfg.scorer.partitions
    assert scorer["spec"]["template"]["metadata"]["labels"]["kafka.pipeworks.io/client"]  # the listener admits it


def test_service_monitors_wait_for_the_monitoring_crds(stack: str) -> None:
    monitors = [r for r in records(stack) if r["type"].endswith(":ServiceMonitor") and COMPONENT in r["urn"]]
    assert sorted(r["inputs"]["metadata"]["name"] for r in monitors) == ["fraud-api", "fraud-scorer"]
    release = next(r["urn"] for r in records(stack) if r["type"] == "kubernetes:helm.sh/v3:Release"
                   and "pipeworks:services:Monitoring" in r["urn"])
    assert all(release in r["dependencies"] for r in monitors)
    services = by_name(stack, "Service")
    for r in monitors:
        sel = r["inputs"]["spec"]["selector"]
        ports = {r["inputs"]["spec"]["endpoints"][0]["port"]}
        matched = [s for s in services.values() if selector_matches_labels(sel, s["metadata"]["labels"])]
        assert matched and all(ports <= {p["name"] for p in s["spec"]["ports"]} for s in matched)


def test_network_policies(stack: str) -> None:
    cfg = fraud_config(stack)
    pols = by_name(stack, "NetworkPolicy")
    assert pols["default-deny-ingress"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    api_from = {p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                for rule in pols["fraud-api-ingress"]["spec"]["ingress"] for p in rule["from"] if "namespaceSelector" in p}
    assert api_from == {cfg.gateway.namespace, "monitoring"}
    egress_ns = {p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                 for rule in pols["fraud-scorer-egress"]["spec"]["egress"] for p in rule["to"] if "namespaceSelector" in p}
    assert egress_ns == {"kafka", "rook-ceph", "kube-system"}


def test_objects_validate_against_their_schemas(stack: str) -> None:
    checked = set()
    for obj in objects(stack):
        kind, av = obj["kind"], obj["apiVersion"]
        if av.split("/")[0] in CRD_GROUPS:
            validator = crd_validator(av, kind)
        elif kind == "Secret":
            continue  # its stringData is the scrubbed "[secret]" placeholder, not a map
        else:
            validator = core_validator(kind, av)
        assert errors(validator, obj) == [], f"{kind}/{obj['metadata']['name']}"
        checked.add(kind)
    assert checked >= {"Namespace", "Deployment", "CronJob", "Service", "HorizontalPodAutoscaler",
                       "PodDisruptionBudget", "NetworkPolicy", "ServiceMonitor", "ObjectBucketClaim", "KafkaUser",
                       "KafkaTopic", "PrometheusRule", "CephObjectStoreUser", "HTTPRoute"}


def test_deployment_validates_with_kubernetes_validate_directly() -> None:
    # the cached validator above is kubernetes-validate's own schema; one direct call keeps the two honest
    dep = by_name("prod", "Deployment")["fraud-api-stable"]
    assert kubernetes_validate.validate(dep, "1.34", strict=True) == "1.34"
    broken = {**dep, "spec": {**dep["spec"], "replicaz": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.34", strict=True)


def test_policies_find_nothing_wrong_with_the_workload(stack: str) -> None:
    resources = [Resource(urn=r["urn"], type=r["type"], name=r["name"], props=r["inputs"], parent=r["parent"],
                          dependencies=tuple(r["dependencies"])) for r in records(stack)]
    report = evaluate(resources, Enforcement.for_environment(stack))
    mine = [f"{v.policy}: {v.resource}: {v.message}" for v in report.violations if COMPONENT in v.resource]
    assert mine == []
    # the evaluation did look at the workload's pods (a policy that sees nothing would pass vacuously)
    assert any(COMPONENT in r.urn and r.kind == "Deployment" for r in resources)


def test_pipeworks_plan_refuses_a_bad_split_naming_the_key(tmp_path) -> None:
    # the loader `pipeworks plan` runs before the program: a weight without a candidate stops it, with the key
    text = (REPO_ROOT / "Pulumi.dev.yaml").read_text()
    assert "candidateVersion: " in text
    bad = "\n".join(line for line in text.splitlines() if "candidateVersion:" not in line) + "\n"
    (tmp_path / "Pulumi.dev.yaml").write_text(bad)
    (tmp_path / "Pulumi.yaml").write_text((REPO_ROOT / "Pulumi.yaml").read_text())
    with pytest.raises(InvalidStack) as info:
        validate(tmp_path, "dev")
    weight = fraud_config("dev").api.candidate_weight
    assert f"Pulumi.dev.yaml: pipeworks:workloads.fraud.api.candidateWeight={weight} needs api.candidateVersion" \
        in str(info.value)


def test_program_refuses_the_workload_without_kafka() -> None:
    # program.load_config adds the rules between the workload and the platform sections it needs
    import pulumi

    import program
    from pipeworks.mocks import install
    from pipeworks.stackfile import read_stack_file

    sf = read_stack_file(REPO_ROOT, "dev")
    values = dict(sf.values)
    values["pipeworks:platform"] = {**values["pipeworks:platform"], "kafka": {"enabled": False}}
    try:
        install("pipeworks", "dev", values, sorted(sf.secret_keys))
        with pytest.raises(pulumi.RunError) as info:
            program.load_config()
    finally:  # leave the runtime with the shipped stack's config for whoever runs next in this process
        install("pipeworks", "dev", dict(sf.values), sorted(sf.secret_keys))
    assert "Pulumi.dev.yaml: pipeworks:workloads.fraud.enabled=true needs pipeworks:platform.kafka.enabled" \
        in str(info.value)
    assert program.load_config().workloads.fraud.enabled  # type: ignore[union-attr]
