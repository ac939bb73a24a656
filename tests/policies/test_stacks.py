"""The shipped stacks pass their own policies (no mandatory violation in dev or prod), and mutated
copies of their plans fail with the right policy and concern.

A mutation needs the thing it breaks (a GPU pod, a Kafka node pool...). Where the shipped stack
does not declare one yet, the test first adds a compliant one, placed with the stack's real pools,
checks it passes, and then breaks it; once the stack declares its own, the test breaks that one.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeworks.check import load_plan, main as check_main, run_check
from policies.engine import Enforcement, Report, evaluate
from policies.rules import vocabulary as v
from policies.rules.model import Resource
from policies.rules.podspec import pod_templates
from tests.policies.builders import GPU_TOL, NVME_TOL, container, k8s, pod, spread, workload

from tests.infra.planned import SHIPPED, plan_dir


@pytest.fixture(scope="module")
def plans() -> dict[str, Path]:
    """The shipped stacks' plan directories (the suite-wide cache; read-only)."""
    return {s: plan_dir(s) for s in SHIPPED}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_shipped_stack_has_no_mandatory_violation(plans: dict[str, Path], stack: str) -> None:
    target = load_plan(plans[stack])
    report = run_check(target)
    assert report.mandatory == [], "\n".join(f"{x.policy}: {x.resource}: {x.message}" for x in report.mandatory)
    assert report.context.pools, "the plan's node pools were read"
    assert {p.source for p in report.context.pools} >= {"node group"}


def test_check_stack_by_name_plans_it_first(plans: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert check_main(["dev", "--format", "json"]) == 0  # dev is advisory: never blocks
    by_name = json.loads(capsys.readouterr().out)
    assert by_name == [x.to_json() for x in run_check(load_plan(plans["dev"])).violations]
    assert check_main(["no-such-stack"]) == 2
    assert "no stack file Pulumi.no-such-stack.yaml" in capsys.readouterr().err


# --- mutations -------------------------------------------------------------------------------------

def prod(plans: dict[str, Path]) -> list[Resource]:
    return load_plan(plans["prod"]).resources


def evaluate_prod(resources: list[Resource]) -> Report:
    return evaluate(resources, Enforcement.for_environment("prod"))


def mandatory(resources: list[Resource], baseline: list[Resource] | None = None) -> set[tuple[str, str]]:
    """(policy, concern) of the mandatory violations `resources` has beyond those of `baseline` (the
    shipped stack the mutation started from), so the mutation tests judge only what they changed."""
    before = {(x.policy, x.resource, x.message) for x in evaluate_prod(baseline).mandatory} if baseline else set()
    return {(x.policy, x.concern) for x in evaluate_prod(resources).mandatory
            if (x.policy, x.resource, x.message) not in before}


def replace(resources: list[Resource], old: Resource, props: dict[str, Any]) -> list[Resource]:
    new = Resource(urn=old.urn, type=old.type, name=old.name, props=props, parent=old.parent,
                   dependencies=old.dependencies)
    return [new if r.urn == old.urn else r for r in resources]


def pick_or_add(resources: list[Resource], wanted: Callable[[Resource], bool],
                compliant: Callable[[], list[Resource]]) -> tuple[list[Resource], Resource]:
    """The stack's own resource of this kind, or a compliant one added to it (asserted compliant)."""
    for r in resources:
        if wanted(r):
            return resources, r
    added = compliant()
    rs = resources + added
    assert mandatory(rs, resources) == set(), f"the compliant stand-in is itself flagged: {mandatory(rs, resources)}"
    return rs, next(r for r in added if wanted(r))


def requests_gpu(r: Resource) -> bool:
    # native workloads only: the mutation below edits pod specs in place (a Helm release's GPU profile,
    # which the walker also sees, keeps its tolerations in chart values)
    return any(pt.native and pt.gpu_request() > 0 for pt in pod_templates(r))


def gpu_deployment() -> list[Resource]:
    c = container("trainer", cpu="1", memory="4Gi", limit="4Gi")
    c["resources"]["limits"]["nvidia.com/gpu"] = "1"
    labels = {"app": "trainer"}
    return [workload("Deployment", "trainer", pod(c, nodeSelector={v.LABEL_ROLE: "gpu"}, tolerations=[GPU_TOL],
                                                  securityContext={"runAsNonRoot": True}), replicas=1.0,
                     labels=labels)]


def test_gpu_toleration_removed(plans: dict[str, Path]) -> None:
    rs, target = pick_or_add(prod(plans), requests_gpu, gpu_deployment)
    props = copy.deepcopy(target.props)
    for pt_spec in _pod_specs(props):
        pt_spec["tolerations"] = [t for t in pt_spec.get("tolerations", []) if t.get("key") != v.TAINT_GPU]
    assert ("gpu-placement", "placement") in mandatory(replace(rs, target, props), rs)


def is_kafka_broker_pool(r: Resource) -> bool:
    return r.is_k8s("kafka.strimzi.io", "KafkaNodePool") and "broker" in r.props.get("spec", {}).get("roles", [])


def kafka_stand_in() -> list[Resource]:
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": v.LABEL_ROLE, "operator": "In", "values": ["nvme"]},
                              {"key": v.LABEL_NVME_MODE, "operator": "In", "values": ["raid0"]}]}]}},
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"topologyKey": v.HOSTNAME_KEY, "labelSelector": {"matchLabels": {"strimzi.io/pool-name": "broker"}}}]}}
    kafka = k8s("kafka.strimzi.io/v1", "Kafka", "events", {"kafka": {
        "listeners": [{"name": "tls", "port": 9093.0, "type": "internal", "tls": True}],
        "rack": {"topologyKey": v.ZONE_KEY},
        "config": {"default.replication.factor": 3.0, "min.insync.replicas": 2.0}}}, namespace="kafka")
    pools = [k8s("kafka.strimzi.io/v1", "KafkaNodePool", name, {
        "replicas": 3.0, "roles": [role],
        "resources": {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"memory": "4Gi"}},
        "storage": {"type": "jbod", "volumes": [{"id": 0.0, "type": "persistent-claim", "size": "100Gi",
                                                 "class": "gp3-encrypted"}]},
        "template": {"pod": {"affinity": copy.deepcopy(affinity), "tolerations": [NVME_TOL]}}},
        namespace="kafka", labels={"strimzi.io/cluster": "events"}) for name, role in (("broker", "broker"),
                                                                                        ("controller", "controller"))]
    for p in pools:  # each pool spreads its own pods
        p.props["spec"]["template"]["pod"]["affinity"]["podAntiAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"][0]["labelSelector"]["matchLabels"][
            "strimzi.io/pool-name"] = p.name
    return [kafka, *pools]


def test_kafka_moved_off_nvme(plans: dict[str, Path]) -> None:
    rs, target = pick_or_add(prod(plans), is_kafka_broker_pool, kafka_stand_in)
    props = copy.deepcopy(target.props)
    tpl = props["spec"].setdefault("template", {}).setdefault("pod", {})
    tpl["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": v.LABEL_ROLE, "operator": "In", "values": ["general"]}]}]}}}
    got = mandatory(replace(rs, target, props), rs)
    assert ("nvme-placement", "placement") in got


def has_native_container(r: Resource) -> bool:
    return any(pt.native for pt in pod_templates(r))


def api_stand_in() -> list[Resource]:
    labels = {"app": "api"}
    d = workload("Deployment", "api", pod(container(), securityContext={"runAsNonRoot": True},
                                          topologySpreadConstraints=spread(labels)), replicas=2.0, labels=labels)
    pdb = k8s("policy/v1", "PodDisruptionBudget", "api", {"selector": {"matchLabels": labels}, "maxUnavailable": 1.0})
    return [d, pdb]


def test_literal_password_in_an_env_var(plans: dict[str, Path]) -> None:
    rs, target = pick_or_add(prod(plans), has_native_container, api_stand_in)
    props = copy.deepcopy(target.props)
    first = _pod_specs(props)[0]["containers"][0]
    first.setdefault("env", []).append({"name": "DB_PASSWORD", "value": "hunter2"})
    report = evaluate_prod(replace(rs, target, props))
    assert ("no-literal-credentials", "secrets") in mandatory(replace(rs, target, props), rs)
    assert "hunter2" not in json.dumps([x.to_json() for x in report.violations])


def _first(rs: list[Resource], type_: str, pred: Callable[[Resource], bool] = lambda r: True) -> Resource:
    return next(r for r in rs if r.type == type_ and pred(r))


def test_gpu_node_group_taint_removed(plans: dict[str, Path]) -> None:
    rs = prod(plans)
    ng = _first(rs, "aws:eks/nodeGroup:NodeGroup", lambda r: r.props.get("labels", {}).get(v.LABEL_ROLE) == "gpu")
    props = copy.deepcopy(ng.props)
    props["taints"] = []
    assert ("pool-consistency", "placement") in mandatory(replace(rs, ng, props), rs)


def test_public_endpoint_and_missing_encryption(plans: dict[str, Path]) -> None:
    rs = prod(plans)
    cl = _first(rs, "aws:eks/cluster:Cluster")
    props = copy.deepcopy(cl.props)
    props["vpcConfig"].update(endpointPublicAccess=True, publicAccessCidrs=["0.0.0.0/0"])
    props.pop("encryptionConfig", None)
    got = mandatory(replace(rs, cl, props), rs)
    assert {("eks-private-endpoint", "network"), ("eks-secrets-encryption", "encryption")} <= got


def test_imdsv1_and_unencrypted_root_volume(plans: dict[str, Path]) -> None:
    rs = prod(plans)
    lt = _first(rs, "aws:ec2/launchTemplate:LaunchTemplate")
    props = copy.deepcopy(lt.props)
    props["metadataOptions"]["httpTokens"] = "optional"
    for m in props["blockDeviceMappings"]:
        m["ebs"]["encrypted"] = "false"
    got = mandatory(replace(rs, lt, props), rs)
    assert {("imdsv2-required", "network"), ("encrypted-volumes", "encryption")} <= got


def test_oversized_operator_is_unschedulable(plans: dict[str, Path]) -> None:
    rs = prod(plans)
    rel = _first(rs, "kubernetes:helm.sh/v3:Release", lambda r: isinstance(r.props.get("values", {}).get("resources"),
                                                                            dict))
    props = copy.deepcopy(rel.props)
    props["values"]["resources"]["requests"]["cpu"] = "64"
    assert ("pod-schedulable", "schedulability") in mandatory(replace(rs, rel, props), rs)


def test_latest_image_in_helm_values(plans: dict[str, Path]) -> None:
    rs = prod(plans)
    rel = _first(rs, "kubernetes:helm.sh/v3:Release")
    props = copy.deepcopy(rel.props)
    props["values"]["image"] = {"repository": "registry.k8s.io/autoscaling/cluster-autoscaler", "tag": "latest"}
    assert ("image-tag", "image-tag") in mandatory(replace(rs, rel, props), rs)


def test_unspread_stateful_set_and_undeclared_storage_class(plans: dict[str, Path]) -> None:
    rs = prod(plans)
    sc = next(r.k8s_name for r in rs if r.is_k8s("storage.k8s.io", "StorageClass"))
    labels = {"app": "db"}

    def db(spread_it: bool, cls: str) -> Resource:
        fields: dict[str, Any] = {"securityContext": {"runAsNonRoot": True}}
        if spread_it:
            fields["topologySpreadConstraints"] = spread(labels)
        return workload("StatefulSet", "db", pod(container(), **fields), replicas=3.0, labels=labels,
                        volumeClaimTemplates=[{"metadata": {"name": "data"}, "spec": {"storageClassName": cls}}])

    pdb = k8s("policy/v1", "PodDisruptionBudget", "db", {"selector": {"matchLabels": labels}, "maxUnavailable": 1.0})
    assert mandatory(rs + [db(True, sc), pdb], rs) == set()
    got = mandatory(rs + [db(False, "fast-nvme"), pdb], rs)
    assert {("replica-spread", "spread"), ("storage-class", "storage-class")} <= got


def test_secret_with_literal_data_in_the_plan(plans: dict[str, Path]) -> None:
    rs = prod(plans)
    leak = rs + [k8s("v1", "Secret", "leak", None, stringData={"password": "hunter2"})]
    assert ("secret-provenance", "secrets") in mandatory(leak, rs)


def test_prod_refuses_an_exemption_that_dev_accepts(plans: dict[str, Path]) -> None:
    rs, target = pick_or_add(prod(plans), requests_gpu, gpu_deployment)
    props = copy.deepcopy(target.props)
    for spec in _pod_specs(props):
        spec["tolerations"] = []
    props["metadata"].setdefault("annotations", {})["policy.pipeworks.io/exempt.gpu-placement"] = "test"
    mutated = replace(rs, target, props)
    assert ("gpu-placement", "placement") in mandatory(mutated, rs)
    dev = evaluate(mutated, Enforcement.for_environment("dev"))
    assert not [x for x in dev.violations if x.policy == "gpu-placement"]
    assert [x.reason for x in dev.exemptions] == ["test"]


def _pod_specs(props: dict[str, Any]) -> list[dict[str, Any]]:
    spec = props.get("spec", {})
    if "template" in spec and "spec" in spec["template"]:
        return [spec["template"]["spec"]]
    if "jobTemplate" in spec:
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    if "containers" in spec:
        return [spec]
    if "driver" in spec or "executor" in spec:
        return [spec[k] for k in ("driver", "executor") if k in spec]
    return []
