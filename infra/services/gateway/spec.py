"""Pure builders of the Gateway component: Envoy Gateway's chart values, the GatewayClass, the shared Gateway
and what a workload needs to admit the Gateway's proxies. The component (`__init__.py`) only wires them.

Upstream: envoyproxy/gateway v1.9.0, chart `charts/gateway-helm` (values.tmpl.yaml; published as
oci://docker.io/envoyproxy/gateway-helm). Its `crds` subchart installs the Gateway API v1.6.1 CRDs (the
experimental-channel bundle, a superset of the standard channel the workloads' objects are validated against)."""

from __future__ import annotations

from typing import Any

from infra.config.gateway import GatewayConfig
from infra.placement import Role, place, spread

CHART = "oci://docker.io/envoyproxy/gateway-helm"
RELEASE = "eg"
# config.envoyGateway.gateway.controllerName default of the chart: the controller claims GatewayClasses naming it.
CONTROLLER_NAME = "gateway.envoyproxy.io/gatewayclass-controller"
LISTENER = "http"
# The labels Envoy Gateway puts on every proxy pod of a Gateway (internal/infrastructure/kubernetes/proxy/
# resource.go EnvoyAppLabel and internal/gatewayapi/translator.go Owning* labels at v1.9.0); its proxies run in
# the controller's namespace (the default, not GatewayNamespaceMode).
PROXY_APP_LABELS = {"app.kubernetes.io/name": "envoy", "app.kubernetes.io/component": "proxy",
                    "app.kubernetes.io/managed-by": "envoy-gateway"}
CONTROLLER_LABELS = {"control-plane": "envoy-gateway"}


def proxy_pod_labels(cfg: GatewayConfig) -> dict[str, str]:
    """The labels of the shared Gateway's proxy pods (what a workload's NetworkPolicy admits)."""
    return {**PROXY_APP_LABELS, "gateway.envoyproxy.io/owning-gateway-name": cfg.name,
            "gateway.envoyproxy.io/owning-gateway-namespace": cfg.namespace}


def chart_values(cfg: GatewayConfig, across_zones: bool) -> dict[str, Any]:
    """gateway-helm values: the controller on the general pool with requests and a memory limit; spread and a
    PDB only when replicated (the chart renders a PDB when minAvailable >= 1; its default is 0)."""
    replicated = cfg.controller_replicas > 1
    pod: dict[str, Any] = {**place(Role.GENERAL).pod_spec()}
    if replicated:
        pod["topologySpreadConstraints"] = spread(CONTROLLER_LABELS, across_zones=across_zones)
    return {
        "crds": {"enabled": True},  # the Gateway API and Envoy Gateway CRDs, before any Gateway object
        "deployment": {"replicas": cfg.controller_replicas,
                       "envoyGateway": {"resources": cfg.controller_resources.k8s()},
                       "pod": pod},
        "podDisruptionBudget": {"minAvailable": 1 if replicated else 0},
        "certgen": {"job": {**place(Role.GENERAL).pod_spec(),
                            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"},
                                          "limits": {"memory": "64Mi"}}}},
    }


def gateway_class_spec() -> dict[str, Any]:
    return {"controllerName": CONTROLLER_NAME}


def gateway_spec(cfg: GatewayConfig) -> dict[str, Any]:
    """One HTTP listener; routes from every namespace, or only from the listed ones."""
    if cfg.allowed_route_namespaces is None:
        allowed: dict[str, Any] = {"from": "All"}
    else:
        allowed = {"from": "Selector", "selector": {"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": list(cfg.allowed_route_namespaces)}]}}
    return {"gatewayClassName": cfg.class_name,
            "listeners": [{"name": LISTENER, "protocol": "HTTP", "port": cfg.http_port,
                           "allowedRoutes": {"namespaces": allowed}}]}
