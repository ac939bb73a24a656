"""Stack config of the Gateway section (`pipeworks:platform.gateway`): the Gateway API implementation the
platform installs (Envoy Gateway from its upstream `gateway-helm` chart, which brings the Gateway API CRDs),
its GatewayClass and the shared Gateway that workloads' HTTPRoutes attach to."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from infra.config.base import ConfigModel, check_dns_label
from infra.config.resources import PodResources


class GatewayConfig(ConfigModel):
    """Envoy Gateway (controller + GatewayClass) and the platform's shared Gateway."""

    enabled: bool = Field(True, description="Install Envoy Gateway, its GatewayClass and the shared Gateway. Off: "
                                            "no Gateway exists in the stack, and a workload that publishes a route "
                                            "must name a Gateway operated outside it.")
    namespace: str = Field("gateway", description="Namespace of the controller, the Gateway and its Envoy proxies "
                                                  "(Envoy Gateway runs a Gateway's proxies in its own namespace).")
    chart_version: str = Field("v1.9.0", description="envoyproxy/gateway `gateway-helm` chart (OCI, docker.io/"
                                                     "envoyproxy); v1.9.0 bundles the Gateway API v1.6.1 CRDs.")
    name: str = Field("platform", description="Name of the shared Gateway workloads attach their routes to.")
    class_name: str = Field("envoy-gateway", description="Name of the GatewayClass (cluster-scoped).")
    http_port: int = Field(80, ge=1, le=65535, description="Port of the Gateway's HTTP listener `http`.")
    allowed_route_namespaces: list[str] | None = Field(
        None, description="Namespaces whose routes the listener accepts; none: every namespace (the platform's "
                          "workloads each have their own).")
    controller_replicas: int = Field(1, ge=1, le=3, description="Envoy Gateway controller replicas (leader "
                                                                 "election); replicated ones spread and get a PDB.")
    controller_resources: PodResources = Field(
        default_factory=lambda: PodResources(cpu="100m", memory="256Mi"), description="The controller's container.")

    @field_validator("namespace", "name", "class_name")
    @classmethod
    def _names(cls, v: str) -> str:
        return check_dns_label(v, 63)

    @field_validator("allowed_route_namespaces")
    @classmethod
    def _route_namespaces(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            if not v:
                raise PydanticCustomError("pipeworks", "is empty: no route could attach; list namespaces or leave it unset (all)")
            for ns in v:
                check_dns_label(ns, 63)
        return v
