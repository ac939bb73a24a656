"""The pods a Helm release runs, read from its values: charts are not rendered offline, so this
catalogue names, per chart, where each workload's values live (resources, nodeSelector, tolerations,
affinity, replicas) and its upstream defaults, so the walker (podspec.py) sees operators and
chart-deployed pods like any other.

Pinned charts and the upstream values files the defaults come from:
- kube-prometheus-stack 88.5.3 (`charts/kube-prometheus-stack/values.yaml`: `prometheus.enabled`,
  `alertmanager.enabled`, `grafana.enabled`, `kubeStateMetrics.enabled`, `nodeExporter.enabled` all
  default true; `prometheusSpec.replicas`/`alertmanagerSpec.replicas` default 1) and its
  prometheus-node-exporter subchart (a DaemonSet; `tolerations` default `[{effect: NoSchedule,
  operator: Exists}]`);
- jupyterhub 4.4.0 (`jupyterhub/values.yaml`: `hub`, `proxy.chp`, `singleuser.profileList[].kubespawner_override`
  with KubeSpawner's `cpu_guarantee`, `mem_guarantee`, `extra_resource_guarantees`, `node_selector`,
  `tolerations`); a user server is counted 0 at minimum and 1 per profile at maximum;
- spark-operator 2.5.2 (`charts/spark-operator-chart/values.yaml`: `controller`, `webhook`, replicas 1);
- gpu-operator v26.7.0 (`deployments/gpu-operator/values.yaml`: `operator`; the operand DaemonSets
  `driver`, `toolkit`, `devicePlugin`, `dcgmExporter`, `gfd`, `migManager`, `validator` run on nodes
  labelled `nvidia.com/gpu.present=true` with `daemonsets.tolerations`; node-feature-discovery's
  `worker` DaemonSet runs on every node it tolerates, `master`/`gc` are Deployments);
- ceph-csi-drivers 1.0.4 (`operatorConfig.driverSpecDefaults.controllerPlugin` / `nodePlugin`, one
  controller Deployment and one node-plugin DaemonSet per driver in `drivers`; resources per container).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from policies.rules.model import as_dict, as_list, dig


@dataclass(frozen=True)
class ChartPod:
    path: str  # dotted values path of the workload's settings ("" = top level)
    name: str  # for labels: "prometheus", "alertmanager" ...
    daemon: bool = False
    replicas_key: str | None = "replicas"
    default_replicas: int = 1
    enabled: str | None = None  # dotted values path of its switch
    enabled_default: bool = True
    node_selector: tuple[tuple[str, str], ...] = ()  # selector the chart/operator always sets
    tolerations_path: str | None = None  # where its tolerations live when not beside its resources
    default_tolerations: tuple[dict[str, Any], ...] = ()
    extra_containers: tuple[str, ...] = ()  # dotted paths (relative) of sidecars' settings with `resources`
    per_container: bool = False  # `resources` maps container name -> resources


_GPU_NODES = (("nvidia.com/gpu.present", "true"),)
_GPU_TOLERATION = ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},)
_GPU_DAEMONS = ("driver", "toolkit", "devicePlugin", "dcgmExporter", "gfd", "migManager", "validator")

CATALOGUE: dict[str, tuple[ChartPod, ...]] = {
    "kube-prometheus-stack": (
        ChartPod("prometheusOperator", "operator", replicas_key=None, enabled="prometheusOperator.enabled"),
        ChartPod("prometheus.prometheusSpec", "prometheus", enabled="prometheus.enabled"),
        ChartPod("alertmanager.alertmanagerSpec", "alertmanager", enabled="alertmanager.enabled"),
        ChartPod("grafana", "grafana", enabled="grafana.enabled", extra_containers=("sidecar",)),
        ChartPod("kube-state-metrics", "kube-state-metrics", enabled="kubeStateMetrics.enabled"),
        ChartPod("prometheus-node-exporter", "node-exporter", daemon=True, enabled="nodeExporter.enabled",
                 default_tolerations=({"effect": "NoSchedule", "operator": "Exists"},)),
    ),
    "jupyterhub": (
        ChartPod("hub", "hub", replicas_key=None),
        ChartPod("proxy.chp", "proxy", replicas_key=None),
    ),
    "spark-operator": (
        ChartPod("controller", "controller"),
        ChartPod("webhook", "webhook", enabled="webhook.enable"),
    ),
    "gpu-operator": (
        ChartPod("operator", "operator", replicas_key=None),
        *(ChartPod(d, d, daemon=True, enabled=f"{d}.enabled", node_selector=_GPU_NODES,
                   tolerations_path="daemonsets.tolerations", default_tolerations=_GPU_TOLERATION)
          for d in _GPU_DAEMONS),
        ChartPod("node-feature-discovery.worker", "nfd-worker", daemon=True, enabled="nfd.enabled"),
        ChartPod("node-feature-discovery.master", "nfd-master", enabled="nfd.enabled"),
        ChartPod("node-feature-discovery.gc", "nfd-gc", replicas_key=None, enabled="nfd.enabled"),
    ),
}


def chart_name(chart: Any) -> str:
    """`kube-prometheus-stack` for `kube-prometheus-stack`, `oci://quay.io/x/strimzi-kafka-operator`."""
    return str(chart or "").rstrip("/").rsplit("/", 1)[-1]


def _get(values: dict[str, Any], path: str) -> Any:
    return values if not path else dig(values, *path.split("."))


def _pod(settings: dict[str, Any], containers: list[dict[str, Any]], cp: ChartPod,
         values: dict[str, Any]) -> dict[str, Any]:
    tolerations = settings.get("tolerations")
    if cp.tolerations_path is not None:
        tolerations = _get(values, cp.tolerations_path)
    if tolerations is None:
        tolerations = [dict(t) for t in cp.default_tolerations]
    node_selector = {**dict(cp.node_selector), **as_dict(settings.get("nodeSelector"))}
    return {"nodeSelector": node_selector, "tolerations": as_list(tolerations),
            "affinity": settings.get("affinity"), "containers": containers}


def chart_pods(chart: Any, values: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], int, int, bool]]:
    """(values path, name, pod spec, min replicas, max replicas, daemon) per workload of a known chart."""
    name = chart_name(chart)
    out = []
    for cp in CATALOGUE.get(name, ()):
        if cp.enabled is not None:
            switch = _get(values, cp.enabled)
            if (cp.enabled_default if switch is None else switch is True) is False:
                continue
        settings = as_dict(_get(values, cp.path))
        containers = [{"name": cp.name, "resources": as_dict(settings.get("resources"))}]
        for extra in cp.extra_containers:
            res = dig(settings, *extra.split("."), "resources")
            if isinstance(res, dict):
                containers.append({"name": f"{cp.name}-{extra}", "resources": res})
        n = cp.default_replicas
        if cp.replicas_key and isinstance(settings.get(cp.replicas_key), int):
            n = settings[cp.replicas_key]
        out.append((cp.path or "values", cp.name, _pod(settings, containers, cp, values), n, n, cp.daemon))
    if name == "jupyterhub":
        out += _jupyter_users(values)
    if name == "ceph-csi-drivers":
        out += _ceph_csi(values)
    return out


def _spawner_resources(override: dict[str, Any], singleuser: dict[str, Any], kind: str) -> dict[str, Any]:
    """KubeSpawner's `cpu_<kind>`/`mem_<kind>`/`extra_resource_<kind>s` of a profile, falling back to
    the chart's `singleuser.cpu.<kind>`/`singleuser.memory.<kind>`, as Kubernetes requests/limits."""
    out: dict[str, Any] = {}
    for key, spawner, chart in (("cpu", f"cpu_{kind}", "cpu"), ("memory", f"mem_{kind}", "memory")):
        value = override.get(spawner, dig(singleuser, chart, kind))
        if value is not None:
            out[key] = str(value)
    out.update({str(k): str(x) for k, x in as_dict(override.get(f"extra_resource_{kind}s")).items()})
    return out


def _jupyter_users(values: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], int, int, bool]]:
    su = as_dict(values.get("singleuser"))
    profiles = as_list(su.get("profileList")) or [{"slug": "default", "kubespawner_override": {}}]
    out = []
    for i, prof in enumerate(profiles):
        o = as_dict(as_dict(prof).get("kubespawner_override"))
        req = _spawner_resources(o, su, "guarantee")
        lim = _spawner_resources(o, su, "limit")
        pod = {"nodeSelector": as_dict(o.get("node_selector", su.get("nodeSelector"))),
               "tolerations": as_list(o.get("tolerations", su.get("extraTolerations"))),
               "containers": [{"name": "notebook", "image": o.get("image"), "resources": {"requests": req, "limits": lim}}]}
        slug = as_dict(prof).get("slug") or i
        out.append((f"singleuser.profileList[{i}]", f"user server ({slug})", pod, 0, 1, False))
    return out


def _ceph_csi(values: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], int, int, bool]]:
    defaults = as_dict(dig(values, "operatorConfig", "driverSpecDefaults"))
    out = []
    for driver, spec in sorted(as_dict(values.get("drivers")).items()):
        spec = as_dict(spec)
        if spec.get("enabled") is False:
            continue
        for part, daemon in (("controllerPlugin", False), ("nodePlugin", True)):
            settings = {**as_dict(defaults.get(part)), **as_dict(spec.get(part))}
            containers = [{"name": c, "resources": as_dict(r)} for c, r in sorted(as_dict(settings.get("resources")).items())]
            n = settings.get("replicas") if isinstance(settings.get("replicas"), int) else (1 if not daemon else 1)
            pod = {"nodeSelector": as_dict(settings.get("nodeSelector")), "tolerations": as_list(settings.get("tolerations")),
                   "affinity": settings.get("affinity"), "containers": containers or [{"name": part}]}
            out.append((f"drivers.{driver}.{part}", f"{driver} {part}", pod, n, n, daemon))
    return out
