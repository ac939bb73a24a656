"""The Gateway component: Envoy Gateway v1.9.0 from its upstream chart (bringing the Gateway API v1.6.1 CRDs),
its GatewayClass and the shared `platform` Gateway; the fraud API's route waits for it and its NetworkPolicy
admits exactly the Gateway's proxy pods."""

from __future__ import annotations

import pytest

from infra.config.gateway import GatewayConfig
from infra.services.gateway import spec
from tests.infra.planned import crd_validator, errors, in_namespace, k8s_objects, planned, releases
from tests.infra.service_plans import depends_transitively

STACKS = ("dev", "prod")


def _by(records, kind, name):
    (rec,) = [r for r in records if r["type"].startswith("kubernetes:") and r["type"].endswith(f":{kind}")
              and r["inputs"]["metadata"]["name"] == name]
    return rec


@pytest.mark.parametrize("stack", STACKS)
def test_the_chart_the_class_and_the_gateway_are_declared_in_order(stack):
    records = planned(stack)
    rel = releases(records)["eg"]
    assert (rel["chart"], rel["version"], rel["namespace"]) == (spec.CHART, "v1.9.0", "gateway")
    assert rel["values"]["crds"]["enabled"] is True  # the Gateway API CRDs come with the chart
    release_urn = next(r["urn"] for r in records if r["type"] == "kubernetes:helm.sh/v3:Release"
                       and r["inputs"]["name"] == "eg")
    gc = _by(records, "GatewayClass", "envoy-gateway")
    gw = _by(records, "Gateway", "platform")
    assert gc["inputs"]["spec"] == {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"}
    assert gw["inputs"]["metadata"]["namespace"] == "gateway"
    assert gw["inputs"]["spec"]["gatewayClassName"] == "envoy-gateway"
    assert depends_transitively(records, gc["urn"], release_urn) and depends_transitively(records, gw["urn"], gc["urn"])
    for obj in (gc["inputs"], gw["inputs"]):
        assert errors(crd_validator(obj["apiVersion"], obj["kind"]), obj) == []
    route = _by(records, "HTTPRoute", "fraud-api")
    assert depends_transitively(records, route["urn"], gw["urn"])  # after the Gateway, so after the CRDs
    (parent,) = route["inputs"]["spec"]["parentRefs"]
    assert (parent["name"], parent["namespace"]) == ("platform", "gateway")


@pytest.mark.parametrize("stack", STACKS)
def test_the_fraud_api_admits_the_gateway_proxies_and_nothing_else_of_that_namespace(stack):
    pol = next(o for o in in_namespace(planned(stack), "fraud") if o["kind"] == "NetworkPolicy"
               and o["metadata"]["name"] == "fraud-api-ingress")
    peers = [p for rule in pol["spec"]["ingress"] for p in rule["from"]
             if (p.get("namespaceSelector") or {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") == "gateway"]
    assert peers == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gateway"}},
                      "podSelector": {"matchLabels": spec.proxy_pod_labels(GatewayConfig())}}]
    assert peers[0]["podSelector"]["matchLabels"]["gateway.envoyproxy.io/owning-gateway-name"] == "platform"


def test_the_gateway_namespace_runs_the_controller_only_as_declared():
    objs = [o for o in k8s_objects(planned("prod")) if (o.get("metadata") or {}).get("namespace") == "gateway"
            or o.get("kind") == "Namespace" and o["metadata"]["name"] == "gateway"]
    assert {o["kind"] for o in objs} == {"Namespace", "Gateway"}
    (ns,) = [o for o in objs if o["kind"] == "Namespace"]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"


def test_allowed_route_namespaces_become_a_selector():
    assert spec.gateway_spec(GatewayConfig())["listeners"][0]["allowedRoutes"] == {"namespaces": {"from": "All"}}
    sel = spec.gateway_spec(GatewayConfig(allowed_route_namespaces=["fraud"]))["listeners"][0]["allowedRoutes"]
    assert sel == {"namespaces": {"from": "Selector", "selector": {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["fraud"]}]}}}
    obj = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "g", "namespace": "n"},
           "spec": spec.gateway_spec(GatewayConfig(allowed_route_namespaces=["fraud"]))}
    assert errors(crd_validator("gateway.networking.k8s.io/v1", "Gateway"), obj) == []


def test_bad_gateway_config_names_the_key():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="allowed_route_namespaces|allowedRouteNamespaces"):
        GatewayConfig(allowed_route_namespaces=[])
    with pytest.raises(ValidationError, match="DNS label"):
        GatewayConfig(name="Platform_GW")


def test_a_workload_naming_another_gateway_is_refused_while_the_platform_installs_one():
    from pipeworks.plan import validate
    from tests.infra.planned import REPO
    from infra.workloads.config import GatewayRef
    from workloads.fraud.config import platform_problems

    _, cfg = validate(REPO, "dev")
    platform = cfg.platform
    assert not platform_problems(cfg.workloads.fraud, platform)  # dev names the platform's Gateway
    fraud = cfg.workloads.fraud.model_copy(update={"gateway": GatewayRef(name="edge", namespace="ingress")})
    (problem,) = [p for p in platform_problems(fraud, platform) if "gateway" in p]
    assert "pipeworks:workloads.fraud.gateway=ingress/edge" in problem and "gateway/platform" in problem
    off = platform.model_copy(update={"gateway": GatewayConfig(enabled=False)})
    assert not [p for p in platform_problems(fraud, off) if "gateway" in p]
