"""Alertmanager's receiver: chosen in config, its URL only from the secure value pipeworks:alertWebhookUrl,
written into a Secret from a Pulumi secret and never into Helm values or the plan."""

from __future__ import annotations

import copy

import pytest
import yaml

from infra.config import StackConfigError, load_stack_config
from infra.config.cluster import ClusterKind
from infra.config.monitoring import MonitoringConfig
from infra.services.monitoring import spec
from tests.infra.service_plans import REPO, of_type, plan_in_tmp, release

URL_CIPHERTEXT = "v1:YWxlcnR3ZWJob29r:aHR0cHM6Ly9ob29rcy5zbGFjay5jb20vc2VydmljZXMvWA=="


def test_webhook_and_slack_configs_route_everything_but_the_heartbeat():
    hook = spec.alertmanager_config(MonitoringConfig(alert_receiver="webhook"), "https://relay.example/alerts")
    assert hook["route"]["receiver"] == "pipeworks"
    assert hook["receivers"][1] == {"name": "pipeworks", "webhook_configs": [
        {"url": "https://relay.example/alerts", "send_resolved": True}]}
    assert hook["route"]["routes"] == [{"receiver": "null", "matchers": ['alertname =~ "Watchdog|InfoInhibitor"']}]
    slack = spec.alertmanager_config(MonitoringConfig(alert_receiver="slack", slack_channel="#platform"), "https://h/x")
    (cfg,) = slack["receivers"][1]["slack_configs"]
    assert cfg["api_url"] == "https://h/x" and cfg["channel"] == "#platform"
    with pytest.raises(ValueError, match="needs alertReceiver"):
        spec.alertmanager_config(MonitoringConfig(), "https://h/x")


def test_values_point_alertmanager_at_the_secret_only_with_a_receiver():
    none = spec.prometheus_values(MonitoringConfig(), storage_class=None, cluster_kind=ClusterKind.EKS, across_zones=False)
    assert "configSecret" not in none["alertmanager"]["alertmanagerSpec"]
    hook = spec.prometheus_values(MonitoringConfig(alert_receiver="webhook"), storage_class=None, cluster_kind=ClusterKind.EKS,
                                  across_zones=False)
    am = hook["alertmanager"]["alertmanagerSpec"]
    assert am["useExistingSecret"] is True and am["configSecret"] == spec.ALERTMANAGER_CONFIG_SECRET
    assert "config" not in hook["alertmanager"]


def _platform(monitoring: dict) -> dict:
    return {"environment": "dev", "cluster": {"eks": {"publicAccessCidrs": ["198.51.100.0/24"]}},
            "monitoring": monitoring}


def test_config_errors_name_the_key():
    with pytest.raises(StackConfigError) as e:
        load_stack_config({"pipeworks:platform": _platform({"alertReceiver": "slack"})}, set(), stack="dev")
    assert "pipeworks:platform.monitoring.slackChannel=null is required for alertReceiver: slack" in str(e.value)
    with pytest.raises(StackConfigError, match="pipeworks:alertWebhookUrl is required for "
                                               "platform.monitoring.alertReceiver: webhook"):
        load_stack_config({"pipeworks:platform": _platform({"alertReceiver": "webhook"})}, set(), stack="dev")
    with pytest.raises(StackConfigError, match="pipeworks:alertWebhookUrl is a credential"):
        load_stack_config({"pipeworks:platform": _platform({"alertReceiver": "webhook"}),
                           "pipeworks:alertWebhookUrl": "https://relay.example/x"}, set(), stack="dev")
    with pytest.raises(StackConfigError, match=r"alertReceiver=pager is not valid; valid: 'none', 'webhook' or 'slack'"):
        load_stack_config({"pipeworks:platform": _platform({"alertReceiver": "pager"})}, set(), stack="dev")


def test_plan_writes_the_config_secret_from_a_pulumi_secret():
    doc = yaml.safe_load((REPO / "Pulumi.dev.yaml").read_text())
    doc = copy.deepcopy(doc)
    doc["config"]["pipeworks:platform"]["monitoring"] = {"alertReceiver": "slack", "slackChannel": "#platform"}
    doc["config"]["pipeworks:alertWebhookUrl"] = {"secure": URL_CIPHERTEXT}
    records = plan_in_tmp("dev", doc)
    secrets = [r for r in of_type(records, "kubernetes:core/v1:Secret")
               if r["inputs"]["metadata"]["name"] == spec.ALERTMANAGER_CONFIG_SECRET]
    assert len(secrets) == 1 and secrets[0]["inputs"]["stringData"] == {"alertmanager.yaml": "[secret]"}
    values = release(records, spec.RELEASE)["values"]
    assert values["alertmanager"]["alertmanagerSpec"]["configSecret"] == spec.ALERTMANAGER_CONFIG_SECRET
    helm = next(r for r in of_type(records, "kubernetes:helm.sh/v3:Release") if r["inputs"]["name"] == spec.RELEASE)
    assert secrets[0]["urn"] in helm["dependencies"], "the Secret exists before Alertmanager reads it"
    assert URL_CIPHERTEXT not in str(records)
