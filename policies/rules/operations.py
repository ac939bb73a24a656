"""Rules about how the platform behaves once running (not only whether its objects are valid): alerts reach
someone in prod.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from policies.rules.model import Context, Finding, as_dict, as_list, dig

ALERT_RECEIVER = "alert-receiver"

_NOTIFIERS = ("email_configs", "pagerduty_configs", "slack_configs", "webhook_configs", "opsgenie_configs",
              "victorops_configs", "pushover_configs", "sns_configs", "telegram_configs", "discord_configs",
              "msteams_configs", "msteamsv2_configs", "webex_configs", "wechat_configs", "jira_configs",
              "rocketchat_configs", "incidentio_configs")


def _inline_routes_somewhere(config: Any) -> bool:
    """An inline Alertmanager config whose default route ends at a receiver with at least one notifier."""
    config = as_dict(config)
    name = dig(config, "route", "receiver")
    for r in as_list(config.get("receivers")):
        r = as_dict(r)
        if r.get("name") == name and any(as_list(r.get(k)) for k in _NOTIFIERS):
            return True
    return False


def alert_receiver(ctx: Context) -> Iterable[Finding]:
    """Prod's Alertmanager sends alerts somewhere. kube-prometheus-stack 88.5.3's default
    `alertmanager.config` routes everything to the receiver `null` (charts/kube-prometheus-stack/values.yaml),
    so without a config Secret (`alertmanagerSpec.configSecret`) or an inline config whose default route has a
    notifier, every alert of the platform is dropped."""
    if not ctx.prod:
        return
    for r in ctx.resources:
        if not (r.is_kubernetes and r.kind == "Release" and r.props.get("chart") == "kube-prometheus-stack"):
            continue
        am = as_dict(dig(r.props, "values", "alertmanager"))
        if am.get("enabled") is False:
            yield Finding(ALERT_RECEIVER, r.urn, f"{r.display}: Alertmanager is disabled in prod, so no alert is "
                          "delivered; enable it with a receiver (platform.monitoring.alertReceiver)")
            continue
        if dig(am, "alertmanagerSpec", "configSecret") or _inline_routes_somewhere(am.get("config")):
            continue
        yield Finding(ALERT_RECEIVER, r.urn, f"{r.display}: Alertmanager routes every alert to the chart's `null` "
                      "receiver (no alertmanagerSpec.configSecret, no inline receiver with a notifier); prod must page "
                      "someone: set platform.monitoring.alertReceiver to webhook or slack and the secure "
                      "pipeworks:alertWebhookUrl")
