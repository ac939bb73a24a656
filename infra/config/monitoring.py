"""Stack config of the monitoring section (`pipeworks:platform.monitoring`): kube-prometheus-stack (Prometheus,
Alertmanager, Grafana, the operator), the platform's alert rules and Grafana dashboards."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from infra.config.base import ConfigModel
from infra.config.resources import PodResources, Size

if TYPE_CHECKING:
    from infra.config.platform import PlatformConfig

_DURATION = re.compile(r"^\d+(h|d|w|y)$")


class PrometheusSizing(ConfigModel):
    replicas: int = Field(1, ge=1, le=5, description="Prometheus replicas (each scrapes everything; HA pair in prod).")
    retention: str = Field("7d", description="How long samples are kept (a Prometheus duration, e.g. 15d).")
    storage_size: Size = Field("20Gi", description="Volume per replica.")
    resources: PodResources = Field(
        default_factory=lambda: PodResources(cpu="250m", memory="2Gi"), description="The prometheus container.")

    @field_validator("retention")
    @classmethod
    def _retention(cls, v: str) -> str:
        if not _DURATION.match(v):
            raise PydanticCustomError("pipeworks", "is not a Prometheus duration; valid: e.g. '12h', '15d', '4w'")
        return v


class AlertThresholds(ConfigModel):
    """Knobs of the platform's alert rules."""

    model_api_error_ratio: float = Field(
        0.05, gt=0, lt=1, description="Share of model-API requests answered 5xx over 5 minutes that fires "
                                      "ModelApiErrorRate.")
    model_api_requests_metric: str = Field(
        "fraud_api_requests_total", description="The model API's request counter (labels: status).")


class AlertReceiver(StrEnum):
    NONE = "none"  # alerts stay visible in Alertmanager's UI only
    WEBHOOK = "webhook"  # any Alertmanager webhook receiver (PagerDuty/Opsgenie bridges, chat relays)
    SLACK = "slack"  # a Slack incoming webhook


class MonitoringConfig(ConfigModel):
    """kube-prometheus-stack, set to select every ServiceMonitor, PodMonitor and PrometheusRule in the cluster."""

    enabled: bool = Field(True, description="Install kube-prometheus-stack, the alert rules and dashboards.")
    namespace: str = Field("monitoring", description="Namespace of the stack, its rules and dashboards.")
    chart_version: str = Field("88.5.3", description="prometheus-community kube-prometheus-stack chart version.")
    prometheus: PrometheusSizing = Field(default_factory=PrometheusSizing, description="Prometheus.")
    alertmanager_replicas: int = Field(1, ge=1, le=5, description="Alertmanager replicas (a cluster of 3 in prod).")
    alertmanager_resources: PodResources = Field(
        default_factory=lambda: PodResources(cpu="50m", memory="128Mi"), description="Each Alertmanager.")
    grafana_resources: PodResources = Field(
        default_factory=lambda: PodResources(cpu="100m", memory="256Mi"), description="Grafana.")
    operator_resources: PodResources = Field(
        default_factory=lambda: PodResources(cpu="100m", memory="256Mi"), description="The prometheus-operator.")
    alerts: AlertThresholds = Field(default_factory=AlertThresholds, description="Alert rule thresholds.")
    alert_receiver: AlertReceiver = Field(
        AlertReceiver.NONE, description="Where Alertmanager sends alerts: none, webhook or slack. webhook and slack "
        "post to the URL in the secure config value pipeworks:alertWebhookUrl.")
    slack_channel: str | None = Field(None, description="Slack channel for alertReceiver: slack, e.g. #platform-alerts.")

    @field_validator("slack_channel")
    @classmethod
    def _channel(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[#@][a-z0-9_.-]{1,80}", v):
            raise PydanticCustomError("pipeworks", "is not a Slack channel; valid: e.g. #platform-alerts")
        return v

    def stack_problems(self, platform: "PlatformConfig") -> list[tuple[str, object, str]]:
        problems: list[tuple[str, object, str]] = []
        if self.enabled and self.alert_receiver is AlertReceiver.SLACK and not self.slack_channel:
            problems.append(("monitoring.slackChannel", None, "is required for alertReceiver: slack"))
        if not self.enabled or platform.environment.value != "prod":
            return problems
        if self.prometheus.replicas < 2:
            problems.append(("monitoring.prometheus.replicas", self.prometheus.replicas,
                             "is below 2; prod keeps scraping and alerting through one Prometheus's loss"))
        if self.alertmanager_replicas < 3:
            problems.append(("monitoring.alertmanagerReplicas", self.alertmanager_replicas,
                             "is below 3; an Alertmanager cluster needs 3 for a quorum that survives one loss"))
        return problems
