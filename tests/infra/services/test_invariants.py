"""Whole-stack invariants of the ELK, GPU, monitoring and JupyterHub components in the dev and prod plans:
schemas (CRDs and the Kubernetes OpenAPI of the cluster version), one namespace each with Pod Security labels,
requests and limits on every container and in every Helm release's values, NetworkPolicies, and the
per-stack switches."""

from __future__ import annotations

import copy
from typing import Any, Iterator

import pytest

from tests.infra.service_plans import (
    NAMESPACES,
    component_records,
    core_validator,
    crd_validator,
    errors,
    k8s_objects,
    of_type,
    plan_in_tmp,
    planned,
    pod_specs,
    pod_template_errors,
    release,
    shipped_stack,
)

STACKS = ["dev", "prod"]
COMPONENTS = {"elk": "pipeworks:services:Elk", "gpu": "pipeworks:services:GpuOperator",
              "monitoring": "pipeworks:services:Monitoring", "jupyterhub": "pipeworks:services:JupyterHub"}
RELEASES = {"elastic-operator", "gpu-operator", "kube-prometheus-stack", "jupyterhub"}
CUSTOM_GROUPS = (".k8s.elastic.co/", "monitoring.coreos.com/", "nvidia.com/", "objectbucket.io/")


def my_objects(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for typ in COMPONENTS.values():
        out.extend(r for r in component_records(records, typ)
                   if r["custom"] and r["type"].startswith("kubernetes:") and not r["type"].startswith("kubernetes:helm"))
    return out


def unscrub(obj: dict[str, Any]) -> dict[str, Any]:
    """The plan replaces secret values by "[secret]"; schema checks need a value of the right shape there."""
    obj = copy.deepcopy(obj)
    for key in ("data", "stringData"):
        if obj.get(key) == "[secret]":
            obj[key] = {"redacted": "x"}
    return obj


@pytest.mark.parametrize("stack", STACKS)
def test_custom_resources_valid_against_upstream_crds(stack):
    crs = [r["inputs"] for r in my_objects(planned(stack)) if any(g in r["inputs"]["apiVersion"] for g in CUSTOM_GROUPS)]
    kinds = {o["kind"] for o in crs}
    assert {"Elasticsearch", "Kibana", "Logstash", "Beat", "ServiceMonitor", "PrometheusRule"} <= kinds
    for obj in crs:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        assert errors(crd_validator(obj["apiVersion"], obj["kind"]), obj) == [], where
        # ECK's CRDs leave podTemplate free-form: check it as a core PodTemplateSpec
        for pod_where, pod in pod_specs(obj):
            assert pod_template_errors({"spec": pod}) == [], pod_where


@pytest.mark.parametrize("stack", STACKS)
def test_core_objects_valid_against_the_kubernetes_schema(stack):
    core = [r["inputs"] for r in my_objects(planned(stack))
            if not any(g in r["inputs"]["apiVersion"] for g in CUSTOM_GROUPS)]
    assert {"Namespace", "NetworkPolicy", "Deployment", "Job", "ConfigMap", "Secret", "Service"} <= {o["kind"] for o in core}
    for obj in core:
        assert errors(core_validator(obj["kind"], obj["apiVersion"]), unscrub(obj)) == [], \
            f"{obj['kind']}/{obj['metadata']['name']}"


def containers(pod: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from pod.get("initContainers", [])
    yield from pod["containers"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_container_has_requests_and_a_memory_limit(stack):
    pods = [(where, pod) for r in my_objects(planned(stack)) for where, pod in pod_specs(r["inputs"])]
    assert len(pods) >= 8
    for where, pod in pods:
        for c in containers(pod):
            res = c.get("resources") or {}
            assert res.get("requests", {}).get("cpu") and res["requests"].get("memory"), f"{where}/{c['name']}"
            assert res.get("limits", {}).get("memory"), f"{where}/{c['name']}"
            if "image" in c:
                assert ":" in c["image"].rsplit("/", 1)[-1] and not c["image"].endswith(":latest"), c["image"]


def resources_blocks(values: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(values, dict):
        for k, v in values.items():
            if k == "volumeClaimTemplate":
                continue  # a claim's `resources` is its storage request, not a container's
            if k == "resources":
                yield f"{path}.{k}", v
            else:
                yield from resources_blocks(v, f"{path}.{k}")
    elif isinstance(values, list):
        for i, v in enumerate(values):
            yield from resources_blocks(v, f"{path}[{i}]")


@pytest.mark.parametrize("stack", STACKS)
def test_helm_values_size_every_pod_they_set(stack):
    recs = planned(stack)
    expected = {  # the pods each release's values size (paths of their `resources` blocks)
        "elastic-operator": {".resources"},
        "gpu-operator": {".operator.resources", ".validator.resources", ".migManager.resources", ".devicePlugin.resources", ".gfd.resources", ".dcgmExporter.resources",
                         ".node-feature-discovery.master.resources", ".node-feature-discovery.gc.resources",
                         ".node-feature-discovery.worker.resources"},
        "kube-prometheus-stack": {".prometheusOperator.resources", ".prometheusOperator.admissionWebhooks.patch.resources",
                                  ".prometheus.prometheusSpec.resources", ".alertmanager.alertmanagerSpec.resources",
                                  ".prometheusOperator.prometheusConfigReloader.resources",
                                  ".grafana.resources", ".grafana.sidecar.resources", ".kube-state-metrics.resources",
                                  ".prometheus-node-exporter.resources"},
        "jupyterhub": {".hub.resources", ".proxy.chp.resources"},
    }
    for name in RELEASES:
        blocks = dict(resources_blocks(release(recs, name)["values"]))
        assert expected[name] <= set(blocks), f"{name}: {expected[name] - set(blocks)}"
        for path, res in blocks.items():
            assert res["requests"]["cpu"] and res["requests"]["memory"] and res["limits"]["memory"], f"{name}{path}"
    # notebooks: every profile has guarantees and a memory limit
    for p in release(recs, "jupyterhub")["values"]["singleuser"]["profileList"]:
        o = p["kubespawner_override"]
        assert o["cpu_guarantee"] and o["mem_guarantee"] and o["mem_limit"], p["slug"]


@pytest.mark.parametrize("stack", STACKS)
def test_one_namespace_per_component_with_pod_security_and_default_deny(stack):
    recs = planned(stack)
    for comp, typ in COMPONENTS.items():
        objs = [r["inputs"] for r in component_records(recs, typ)
                if r["custom"] and r["type"].startswith("kubernetes:") and not r["type"].startswith("kubernetes:helm")]
        namespaces = [o for o in objs if o["kind"] == "Namespace"]
        assert [n["metadata"]["name"] for n in namespaces] == [NAMESPACES[comp]], comp
        labels = namespaces[0]["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] in ("baseline", "restricted", "privileged")
        if labels["pod-security.kubernetes.io/enforce"] == "privileged":
            assert labels["pod-security.kubernetes.io/warn"] == "baseline", "privileged only where reasoned"
        namespaced = {o["metadata"].get("namespace") for o in objs if o["kind"] not in
                      ("Namespace", "ClusterRole", "ClusterRoleBinding")}
        assert namespaced == {NAMESPACES[comp]}, comp
        for name in (r["inputs"]["namespace"] for r in component_records(recs, typ)
                     if r["type"] == "kubernetes:helm.sh/v3:Release"):
            assert name == NAMESPACES[comp]
        pols = {o["metadata"]["name"]: o["spec"] for o in objs if o["kind"] == "NetworkPolicy"}
        if comp == "jupyterhub":  # the chart renders hub, proxy and singleuser policies
            values = release(recs, "jupyterhub")["values"]
            assert values["hub"]["networkPolicy"]["enabled"] and values["singleuser"]["networkPolicy"]["enabled"]
            continue
        assert pols.get("default-deny-ingress") == {"podSelector": {}, "policyTypes": ["Ingress"]}, comp
        assert len(pols) >= 2, f"{comp} admits nobody at all"


def test_each_component_can_be_switched_off():
    doc = shipped_stack("dev")
    platform = doc["config"]["pipeworks:platform"]
    for comp in COMPONENTS:
        platform[comp] = {"enabled": False}
    recs = plan_in_tmp("dev", doc)
    types = {r["type"] for r in recs}
    assert not types & set(COMPONENTS.values())
    assert not [r for r in of_type(recs, "kubernetes:helm.sh/v3:Release") if r["inputs"]["name"] in RELEASES]
    assert not [o for o in k8s_objects(recs) if (o.get("metadata") or {}).get("namespace") in NAMESPACES.values()]
    # Kafka and Spark still build, with nothing to wait for from monitoring
    assert "pipeworks:services:Kafka" in types
