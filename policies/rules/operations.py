"""Rules about how the platform behaves once running (not only whether its objects are valid): alerts reach
someone in prod; hard zone spreads do not depend on a scale-up the cluster-autoscaler cannot make.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from policies.rules import vocabulary as v
from policies.rules.model import Context, Finding, as_dict, as_list, dig
from policies.rules.placement import landing_pools
from policies.rules.podspec import PodTemplate, all_pod_templates

ALERT_RECEIVER = "alert-receiver"
ZONE_SPREAD_AUTOSCALING = "zone-spread-autoscaling"

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


def _hard_zone_terms(pt: PodTemplate) -> list[str]:
    """Where the pod requires a zone topology: DoNotSchedule spreads (the default whenUnsatisfiable) and required
    pod anti-affinity on the zone key."""
    out = []
    for i, c in enumerate(as_list(pt.spec.get("topologySpreadConstraints"))):
        c = as_dict(c)
        if c.get("topologyKey") == v.ZONE_KEY and c.get("whenUnsatisfiable", "DoNotSchedule") == "DoNotSchedule":
            out.append(f"topologySpreadConstraints[{i}] ({v.ZONE_KEY}, DoNotSchedule)")
    anti = as_list(dig(pt.spec, "affinity", "podAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution"))
    for i, t in enumerate(anti):
        if as_dict(t).get("topologyKey") == v.ZONE_KEY:
            out.append(f"podAntiAffinity.required[{i}] ({v.ZONE_KEY})")
    return out


def zone_spread_autoscaling(ctx: Context) -> Iterable[Finding]:
    """A hard zone constraint on a pod whose pool is one autoscaled node group over several zones: the
    cluster-autoscaler assumes every node of a group is alike, zone included, so it cannot pick the zone a
    pending pod needs and either scales the wrong zone or not at all (kubernetes/autoscaler FAQ "I'm running
    cluster with nodes in multiple zones for HA purposes"; issues #1681, #4848). Either one node group per
    zone (with --balance-similar-node-groups) or a soft zone spread (ScheduleAnyway). Accepted: no more pods
    than zones on a pool whose minSize is at least its zone count (the ASG keeps a node in every zone, so
    the pods never wait for a zonal scale-up)."""
    if ctx.pools is None:
        return
    for pt in all_pod_templates(ctx):
        terms = _hard_zone_terms(pt)
        if not terms or pt.daemon:
            continue
        # Safe without a scale-up: no more pods than zones, on a pool whose minimum already has a node per zone.
        risky = [p for p in landing_pools(pt, ctx.pools)
                 if len(p.zones) > 1 and p.max_size > p.min_size and p.source == "node group"
                 and not (pt.replicas <= len(p.zones) <= p.min_size)]
        if risky:
            yield Finding(ZONE_SPREAD_AUTOSCALING, pt.resource.urn,
                          f"{pt.label} requires a zone spread ({'; '.join(terms)}) but may land on "
                          + ", ".join(f"{p.name} ({len(p.zones)} zones, {p.min_size}..{p.max_size} nodes)" for p in risky)
                          + ": the cluster-autoscaler cannot scale a multi-zone node group into the zone the pod needs; "
                          "use whenUnsatisfiable: ScheduleAnyway or one node group per zone")
