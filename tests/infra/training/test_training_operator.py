"""The Kubeflow training-operator v1.9.4 component (TFJob only): its pure specs follow the release's manifests
(kubeflow/trainer tag v1.9.4: manifests/base/deployment.yaml, service.yaml, rbac/role.yaml,
webhook/manifests.yaml + patch.yaml, overlays/standalone/kustomization.yaml; the names
cmd/training-operator.v1/main.go expects), its objects in the dev and prod plans validate against the
Kubernetes schema, it runs restricted on the general pool, and it can be switched off."""

from __future__ import annotations

import copy

import pytest

from infra.config.training import OPERATOR_IMAGE, OPERATOR_TAG, TrainingConfig
from infra.services.training import spec
from tests.infra.planned import core_validator, errors
from tests.infra.service_plans import component_records, plan_in_tmp, planned, shipped_stack

COMPONENT = "pipeworks:services:TrainingOperator"


def test_the_release_image_and_tfjob_only() -> None:
    cfg = TrainingConfig(enabled=True)
    assert spec.image(cfg) == f"{OPERATOR_IMAGE}:{OPERATOR_TAG}" == \
        "ghcr.io/kubeflow/training-v1/training-operator:v1-93c5489"  # standalone overlay's newTag at v1.9.4
    (c,) = spec.deployment_spec(cfg)["template"]["spec"]["containers"]
    assert "--enable-scheme=tfjob" in c["args"] and c["command"] == ["/manager"]
    assert spec.crd_url("v1.9.4") == ("https://raw.githubusercontent.com/kubeflow/trainer/v1.9.4/"
                                      "manifests/base/crds/kubeflow.org_tfjobs.yaml")


def test_rbac_grants_tfjobs_and_nothing_of_the_other_frameworks() -> None:
    rules = spec.cluster_role_rules()
    kubeflow = {r for rule in rules if rule["apiGroups"] == ["kubeflow.org"] for r in rule["resources"]}
    assert kubeflow == {"tfjobs", "tfjobs/status", "tfjobs/finalizers"}
    core = {r for rule in rules if rule["apiGroups"] == [""] for r in rule["resources"]}
    assert "pods/exec" not in core and {"pods", "services", "events", "secrets"} <= core
    assert not any(g in rule["apiGroups"] for rule in rules
                   for g in ("rbac.authorization.k8s.io", "scheduling.volcano.sh", "scheduling.x-k8s.io"))
    for rule in rules:  # never a wildcard
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]


def test_webhook_and_service_use_the_names_the_operator_expects() -> None:
    (hook,) = spec.webhooks("kubeflow")
    assert hook["clientConfig"]["service"] == {"name": "training-operator", "namespace": "kubeflow",
                                               "path": "/validate-kubeflow-org-v1-tfjob"}
    assert hook["rules"][0]["resources"] == ["tfjobs"] and hook["failurePolicy"] == "Fail"
    ports = {p["name"]: (p["port"], p["targetPort"]) for p in spec.service_spec()["ports"]}
    assert ports == {"monitoring-port": (8080, 8080), "webhook-server": (443, 9443)}
    assert spec.webhook_secret_metadata("kubeflow")["name"] == "training-operator-webhook-cert"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_plan_objects_validate_and_run_restricted_on_the_general_pool(stack: str) -> None:
    recs = component_records(planned(stack), COMPONENT)
    objs = [r["inputs"] for r in recs if r["type"].startswith("kubernetes:") and "yaml/v2" not in r["type"]]
    kinds = set()
    for obj in objs:
        if obj["kind"] == "Secret":
            assert "data" not in obj and "stringData" not in obj  # the operator fills it
        assert errors(core_validator(obj["kind"], obj["apiVersion"]), obj) == [], obj["kind"]
        kinds.add(obj["kind"])
    assert kinds == {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Secret", "Service",
                     "Deployment", "ValidatingWebhookConfiguration", "NetworkPolicy"}
    (dep,) = [o for o in objs if o["kind"] == "Deployment"]
    pod = dep["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pipeworks.io/role": "general"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    (ns,) = [o for o in objs if o["kind"] == "Namespace"]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    (crd,) = [r for r in recs if r["type"] == "kubernetes:yaml/v2:ConfigFile"]
    assert crd["inputs"]["file"] == spec.crd_url("v1.9.4")


def test_the_operator_keeps_what_its_cert_controller_writes() -> None:
    recs = component_records(planned("dev"), COMPONENT)
    (hook,) = [r for r in recs if r["type"].endswith("ValidatingWebhookConfiguration")]
    deployment = next(r["urn"] for r in recs if r["type"] == "kubernetes:apps/v1:Deployment")
    assert deployment in hook["dependencies"]


def test_it_can_be_switched_off() -> None:
    doc = copy.deepcopy(shipped_stack("dev"))
    doc["config"]["pipeworks:platform"]["training"] = {"enabled": False}
    doc["config"]["pipeworks:workloads"]["edgevision"]["training"]["enabled"] = False
    recs = plan_in_tmp("dev", doc)
    assert not component_records(recs, COMPONENT)
    assert not [r for r in recs if r["type"].endswith(":TFJob")]
    # the edge servers still run (they only need the approved model)
    assert [r for r in recs if r["type"] == "kubernetes:apps/v1:Deployment"
            and "edgevision-inspect-store-1" == r["inputs"]["metadata"]["name"]]


def test_an_air_gapped_crd_source_must_exist(tmp_path) -> None:  # noqa: ANN001
    from pipeworks.plan import InvalidStack

    doc = copy.deepcopy(shipped_stack("dev"))
    doc["config"]["pipeworks:platform"]["training"]["crdSource"] = str(tmp_path / "missing.yaml")
    with pytest.raises(InvalidStack, match=r"pipeworks:platform\.training\.crdSource=.*missing.yaml is not a file"):
        plan_in_tmp("dev", doc)
    present = tmp_path / "kubeflow.org_tfjobs.yaml"
    present.write_text("# the release's CRD file\n")
    doc["config"]["pipeworks:platform"]["training"]["crdSource"] = str(present)
    recs = plan_in_tmp("dev", doc)
    (crd,) = [r for r in recs if r["type"] == "kubernetes:yaml/v2:ConfigFile"]
    assert crd["inputs"]["file"] == str(present)
