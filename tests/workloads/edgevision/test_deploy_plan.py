"""The edge vision workload as the shipped dev and prod stacks declare it (the real program under the plan's
mocks): every object validates against its schema (TFJob against the training-operator v1.9.4 CRD, core kinds
with kubernetes-validate's strict schema), one inference Deployment per declared location pinned by
edgeLocation and GPU product with the GPU pool's tolerations, credentials by reference only, NetworkPolicies
that keep each location to itself, ordering (TFJob after the operator's CRD and webhook; rules after the
monitoring CRDs), and the placement proof: the platform's own placement code shows every edge inference pod
lands only on its location's pools with the declared GPU model, and nothing else lands there."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from pipeworks.plan import REPO_ROOT, validate
from policies.engine import Enforcement, evaluate
from policies.rules.model import Context, Resource
from policies.rules.placement import landing_pools
from policies.rules.podspec import all_pod_templates
from policies.rules.pools import attach_pools
from tests.infra.planned import core_validator, crd_validator, errors, planned
from workloads.edgevision.config import Accelerator, EdgeVisionConfig

STACKS = ("dev", "prod")
COMPONENT = "pipeworks:workloads:EdgeVision"
CRD_GROUPS = {"kubeflow.org", "monitoring.coreos.com", "objectbucket.io", "ceph.rook.io"}
LOCATION = "edgevision.pipeworks.io/location"


@functools.lru_cache(maxsize=None)
def config(stack: str) -> EdgeVisionConfig:
    _, cfg = validate(REPO_ROOT, stack)
    return cfg.workloads.edgevision  # type: ignore[union-attr]


def objects(stack: str, kind: str | None = None) -> list[dict[str, Any]]:
    out = []
    for r in planned(stack):
        if r["custom"] and r["type"].startswith("kubernetes:") and COMPONENT in r["urn"]:
            if kind is None or r["inputs"]["kind"] == kind:
                out.append(r["inputs"])
    return out


def by_name(stack: str, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects(stack, kind)}


def resources(stack: str) -> list[Resource]:
    return [Resource(urn=r["urn"], type=r["type"], name=r["name"], props=r["inputs"], parent=r["parent"],
                     dependencies=tuple(r["dependencies"])) for r in planned(stack)]


@pytest.fixture(scope="module", params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    return request.param


def test_the_stacks_enable_it_with_one_deployment_per_location(stack: str) -> None:
    cfg = config(stack)
    assert cfg.enabled and cfg.locations
    deployments = by_name(stack, "Deployment")
    assert set(deployments) == {f"edgevision-inspect-{loc.name}" for loc in cfg.locations}
    assert set(by_name(stack, "Service")) == set(deployments)
    ns = by_name(stack, "Namespace")[cfg.namespace]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    (job,) = objects(stack, "TFJob")
    assert job["metadata"]["name"] == f"edgevision-train-{cfg.training.run_id}"


def test_each_location_is_pinned_to_its_nodes_and_gpu_model(stack: str) -> None:
    for loc in config(stack).locations:
        dep = by_name(stack, "Deployment")[f"edgevision-inspect-{loc.name}"]
        pod = dep["spec"]["template"]["spec"]
        sel = pod["nodeSelector"]
        assert sel["edgeLocation"] == loc.name and sel["pipeworks.io/role"] == "edge"
        (c,) = pod["containers"]
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["EV_LOCATION"] == loc.name and env["EV_ACCELERATOR"] == loc.accelerator.value
        assert env["EV_MODEL_VERSION"] == config(stack).model.version
        assert env["EV_MODEL_DIGEST"] == config(stack).model.digest
        tolerations = {(t["key"], t["value"]) for t in pod["tolerations"]}
        assert ("pipeworks.io/edge", loc.name) in tolerations
        if loc.accelerator is Accelerator.GPU:
            assert sel["nvidia.com/gpu.product"] == loc.gpu_model
            assert c["resources"]["limits"]["nvidia.com/gpu"] == "1" == c["resources"]["requests"]["nvidia.com/gpu"]
            assert ("nvidia.com/gpu", "true") in tolerations
            assert dep["spec"]["strategy"] == {"type": "Recreate"}  # one GPU: the old pod must free it first


def _ctx(stack: str) -> Context:
    ctx = Context(environment=stack, resources=resources(stack))
    attach_pools(ctx)
    assert ctx.pools, "the plan's node pools were not found"
    return ctx


def test_placement_proof_every_edge_pod_lands_only_at_its_location_on_its_gpu_model(stack: str) -> None:
    """With the platform's policy code (the same `landing_pools` the placement and schedulability rules use)."""
    ctx = _ctx(stack)
    cfg = config(stack)
    edge_pools = {p.name: p for p in ctx.pools or [] if p.role == "edge"}
    seen = set()
    for pt in all_pod_templates(ctx):
        if COMPONENT not in pt.resource.urn:
            continue
        land = landing_pools(pt, ctx.pools or [])
        assert land, f"{pt.label} lands nowhere"
        if pt.resource.kind == "TFJob":
            assert {p.role for p in land} == {"gpu"} and pt.gpu_request() == cfg.training.gpus_per_worker
            continue
        loc = next(loc for loc in cfg.locations if pt.label.endswith(f"edgevision-inspect-{loc.name}"))
        for p in land:
            assert p.labels["edgeLocation"] == loc.name, f"{pt.label} may land on {p.name} at another location"
            assert p.labels.get("nvidia.com/gpu.product") == loc.gpu_model, f"{pt.label} may land on {p.name}"
        # and it can land on every pool of its location that has its model (none is missed)
        expected = {n for n, p in edge_pools.items()
                    if p.labels["edgeLocation"] == loc.name and p.labels.get("nvidia.com/gpu.product") == loc.gpu_model}
        assert {p.name for p in land} == expected and expected
        seen.add(loc.name)
    assert seen == {loc.name for loc in cfg.locations}


def test_policies_find_nothing_wrong_with_the_workload(stack: str) -> None:
    report = evaluate(resources(stack), Enforcement.for_environment(stack))
    mine = [f"{v.policy}: {v.resource}: {v.message}" for v in report.violations if COMPONENT in v.resource]
    assert mine == []
    assert any(COMPONENT in r.urn and r.kind == "TFJob" for r in resources(stack))


def test_objects_validate_against_their_schemas(stack: str) -> None:
    checked = set()
    for obj in objects(stack):
        kind, av = obj["kind"], obj["apiVersion"]
        validator = crd_validator(av, kind) if av.split("/")[0] in CRD_GROUPS else core_validator(kind, av)
        assert errors(validator, obj) == [], f"{kind}/{obj['metadata']['name']}"
        checked.add(kind)
    assert checked == {"Namespace", "Deployment", "Service", "NetworkPolicy", "ServiceMonitor", "PrometheusRule",
                       "TFJob", "ObjectBucketClaim", "CephObjectStoreUser"} | ({"PodDisruptionBudget"}
                                                                             if any(loc.replicas > 1 for loc in
                                                                                    config(stack).locations) else set())


def test_credentials_only_by_reference(stack: str) -> None:
    """Object-store keys come from Secrets by reference: the edge servers from the read-only serving user, the
    TFJob (the only writer of models) from the bucket claim's owner."""
    for name, obj in by_name(stack, "Deployment").items():
        env = {e["name"]: e for e in obj["spec"]["template"]["spec"]["containers"][0]["env"]}
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            ref = env[key]["valueFrom"]["secretKeyRef"]
            assert "value" not in env[key] and ref["name"].startswith("rook-ceph-object-user-"), name
    (job,) = objects(stack, "TFJob")
    (c,) = job["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in c["env"]}
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "edgevision-data"
    assert not any(k in env and "value" in env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"))


def test_no_traffic_crosses_locations(stack: str) -> None:
    cfg = config(stack)
    pols = by_name(stack, "NetworkPolicy")
    assert pols["default-deny-ingress"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    for loc in cfg.locations:
        spec = pols[f"edgevision-inspect-{loc.name}-ingress"]["spec"]
        assert spec["podSelector"]["matchLabels"][LOCATION] == loc.name
        for rule in spec["ingress"]:
            for peer in rule["from"]:
                if "podSelector" in peer:  # pods: only this location's
                    assert peer["podSelector"]["matchLabels"] == {LOCATION: loc.name}
                elif "ipBlock" in peer:
                    assert peer["ipBlock"]["cidr"] in loc.client_networks
                else:
                    assert peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "monitoring"
    egress = pols["edgevision-inspect-egress"]["spec"]
    targets = {p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
               for rule in egress["egress"] for p in rule["to"]}
    assert targets == {"kube-system", "rook-ceph"}  # DNS and the object store: no pod of any location


def test_ordering_tfjob_after_the_operator_and_rules_after_monitoring(stack: str) -> None:
    recs = planned(stack)
    (job,) = [r for r in recs if r["type"].endswith(":TFJob")]
    crd = next(r["urn"] for r in recs if r["type"] == "kubernetes:yaml/v2:ConfigFile"
               and "pipeworks:services:TrainingOperator" in r["urn"])
    webhook = next(r["urn"] for r in recs if r["type"].endswith("ValidatingWebhookConfiguration")
                   and "pipeworks:services:TrainingOperator" in r["urn"])
    assert {crd, webhook} <= set(job["dependencies"])
    (rule,) = [r for r in recs if r["type"].endswith(":PrometheusRule") and COMPONENT in r["urn"]]
    release = next(r["urn"] for r in recs if r["type"] == "kubernetes:helm.sh/v3:Release"
                   and "pipeworks:services:Monitoring" in r["urn"])
    assert release in rule["dependencies"]
    assert {a["alert"] for a in rule["inputs"]["spec"]["groups"][0]["rules"]} == {"EdgeVisionReviewRateHigh",
                                                                                  "EdgeVisionInspectorDown"}


def test_the_training_job_runs_on_the_gpu_pool(stack: str) -> None:
    cfg = config(stack)
    (job,) = objects(stack, "TFJob")
    worker = job["spec"]["tfReplicaSpecs"]["Worker"]
    pod = worker["template"]["spec"]
    assert worker["replicas"] == cfg.training.workers and worker["restartPolicy"] == "OnFailure"
    assert pod["nodeSelector"]["pipeworks.io/role"] == "gpu"
    if cfg.training.gpu_model:
        assert pod["nodeSelector"]["nvidia.com/gpu.product"] == cfg.training.gpu_model
    (c,) = pod["containers"]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == str(cfg.training.gpus_per_worker)
    assert job["spec"]["runPolicy"]["activeDeadlineSeconds"] == cfg.training.timeout_seconds
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["EV_CURRENT_VERSION"] == cfg.model.version  # the run has to beat what the edge serves
