"""For every Helm release of dev and prod: what the chart at its pinned version renders from the values the plan
passes (replicas, placement, resources, PDB and spread), not only that the keys exist. Each renderer below is
written from the chart's templates at the pinned tag (cited), over Helm's coalescing of our values with the
chart defaults that matter (cited from the chart's values.yaml at the same tag). The platform's rules checked
against what renders: operators on the general pool, no CPU limit, a PDB and spread only where replicated, and
the replicas the stack asks for.

Checked by hand beside these tests: `helm template` of each fetched chart at its tag with the dev/prod values."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from pipeworks.plan import validate
from tests.charts.helm_model import MISSING, ChartFail, coalesce, dig, nested, truthy, user_values
from tests.infra.planned import REPO, planned, releases

STACKS = ("dev", "prod")
GENERAL_POOL = {"key": "pipeworks.io/role", "operator": "In", "values": ["general"]}


@functools.lru_cache(maxsize=None)
def release(stack: str, name: str) -> dict[str, Any]:
    rels = releases(planned(stack))
    assert name in rels, f"no Helm release {name} in {stack}: {sorted(rels)}"
    return rels[name]


@functools.lru_cache(maxsize=None)
def config(stack: str):
    return validate(REPO, stack)[1]


def _on_general_pool(pod: dict[str, Any]) -> bool:
    """nodeSelector or required node affinity that lands only on the general pool."""
    if (pod.get("nodeSelector") or {}).get("pipeworks.io/role") == "general":
        return True
    terms = dig(pod.get("affinity") or {},
                "nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms", [])
    return bool(terms) and all(GENERAL_POOL in t.get("matchExpressions", []) for t in terms)


def _no_cpu_limit(resources: dict[str, Any]) -> bool:
    return "cpu" not in (resources.get("limits") or {})


def _pod(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    p = f"{prefix}." if prefix else ""
    return {k: dig(values, p + k, None) for k in ("nodeSelector", "affinity", "tolerations",
                                                 "topologySpreadConstraints")}


# --- kubeflow spark-operator 2.5.2 ------------------------------------------------------------------------------
# values.yaml @ v2.5.2: controller/webhook replicas 1, topologySpreadConstraints [], podDisruptionBudget.enable
# false, resources {}.
SPARK_DEFAULTS = nested(controller__replicas=1, controller__topologySpreadConstraints=[],
                        controller__podDisruptionBudget={"enable": False, "minAvailable": 1},
                        controller__resources={}, webhook__enable=True, webhook__replicas=1,
                        webhook__topologySpreadConstraints=[],
                        webhook__podDisruptionBudget={"enable": False, "minAvailable": 1}, webhook__resources={})


def render_spark_operator(user: dict[str, Any]) -> dict[str, Any]:
    """charts/spark-operator-chart/templates/{controller,webhook}/{deployment,poddisruptionbudget}.yaml @ v2.5.2:
    each `fail`s when spread constraints or a PDB are asked for with `replicas` <= 1."""
    v = coalesce(SPARK_DEFAULTS, user)
    out = {}
    for part in ("controller", "webhook"):
        if part == "webhook" and not v["webhook"]["enable"]:
            continue
        replicas = int(v[part]["replicas"])
        spread = v[part].get("topologySpreadConstraints")
        if truthy(spread) and replicas <= 1:
            raise ChartFail(f"{part}.replicas must be greater than 1 to enable topology spread constraints")
        pdb = v[part]["podDisruptionBudget"]["enable"]
        if pdb and replicas <= 1:
            raise ChartFail(f"{part}.replicas must be greater than 1 to enable pod disruption budget")
        out[part] = {"replicas": replicas, "spread": spread or [], "pdb": bool(pdb),
                     "resources": v[part]["resources"], "pod": _pod(v, part)}
    return out


@pytest.mark.parametrize("stack", STACKS)
def test_spark_operator_renders_and_spreads_only_when_replicated(stack):
    want = config(stack).platform.spark.operator_replicas
    rendered = render_spark_operator(user_values(release(stack, "spark-operator")))
    for part in ("controller", "webhook"):
        r = rendered[part]
        assert r["replicas"] == want
        assert r["pdb"] is (want > 1) and bool(r["spread"]) is (want > 1)
        assert _on_general_pool(r["pod"]) and _no_cpu_limit(r["resources"]) and r["resources"]["requests"]


def test_spark_operator_model_refuses_what_the_chart_refuses():
    """The dev values before this fix (spread with one replica) fail to install, as the chart's `fail` does."""
    with pytest.raises(ChartFail, match="controller.replicas must be greater than 1"):
        render_spark_operator({"controller": {"replicas": 1, "topologySpreadConstraints": [{"maxSkew": 1}]}})
    with pytest.raises(ChartFail, match="webhook.replicas must be greater than 1 to enable pod disruption"):
        render_spark_operator({"webhook": {"replicas": 1, "podDisruptionBudget": {"enable": True}}})


# --- strimzi-kafka-operator 1.2.0 -------------------------------------------------------------------------------
# packaging/helm-charts/helm3/strimzi-kafka-operator/values.yaml @ 1.2.0: replicas 1, resources limits
# {memory: 384Mi, cpu: 1000m}, requests {memory: 384Mi, cpu: 200m}.
STRIMZI_DEFAULTS = nested(replicas=1, resources={"limits": {"memory": "384Mi", "cpu": "1000m"},
                                                 "requests": {"memory": "384Mi", "cpu": "200m"}})


def render_strimzi(user: dict[str, Any]) -> dict[str, Any]:
    """templates/060-Deployment-strimzi-cluster-operator.yaml @ 1.2.0: replicas, resources (toYaml), top-level
    nodeSelector/affinity/tolerations/topologySpreadConstraints."""
    v = coalesce(STRIMZI_DEFAULTS, user)
    return {"replicas": int(v["replicas"]), "resources": v["resources"], "pod": _pod(v)}


# --- eck-operator 3.5.0 -----------------------------------------------------------------------------------------
# deploy/eck-operator/values.yaml @ v3.5.0: replicaCount 1, resources limits {cpu: 1, memory: 1Gi}, requests
# {cpu: 100m, memory: 150Mi}, config.enableLeaderElection true.
ECK_DEFAULTS = nested(replicaCount=1, config__enableLeaderElection=True,
                      resources={"limits": {"cpu": 1, "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "150Mi"}})


def render_eck(user: dict[str, Any]) -> dict[str, Any]:
    """templates/statefulset.yaml and validate-chart.yaml @ v3.5.0 (`fail` without leader election above one
    replica)."""
    v = coalesce(ECK_DEFAULTS, user)
    if not v["config"]["enableLeaderElection"] and int(v["replicaCount"]) > 1:
        raise ChartFail("Leader election must be enabled with more than one replica")
    return {"replicas": int(v["replicaCount"]), "resources": v["resources"], "pod": _pod(v)}


# --- gpu-operator v26.7.0 (+ node-feature-discovery subchart) ---------------------------------------------------
# deployments/gpu-operator/values.yaml @ v26.7.0: operator.resources limits {cpu: 500m, memory: 350Mi}, requests
# {cpu: 200m, memory: 100Mi}; charts/node-feature-discovery/values.yaml: master.resources limits {memory: 4Gi}.
GPU_DEFAULTS = nested(operator__resources={"limits": {"cpu": "500m", "memory": "350Mi"},
                                           "requests": {"cpu": "200m", "memory": "100Mi"}},
                      **{"node-feature-discovery__master__resources": {"limits": {"memory": "4Gi"},
                                                                       "requests": {"cpu": "100m", "memory": "128Mi"}}})


def render_gpu_operator(user: dict[str, Any]) -> dict[str, Any]:
    """templates/operator.yaml @ v26.7.0 (replicas 1; operator.resources/nodeSelector/affinity/tolerations) and
    the NFD subchart's master Deployment."""
    v = coalesce(GPU_DEFAULTS, user)
    out = {"operator": {"replicas": 1, "resources": v["operator"]["resources"], "pod": _pod(v, "operator")}}
    if dig(v, "nfd.enabled", True):
        nfd = v["node-feature-discovery"]
        out["nfd-master"] = {"resources": nfd["master"]["resources"], "pod": _pod(nfd, "master")}
        out["nfd-gc"] = {"resources": dig(nfd, "gc.resources", {}), "pod": _pod(nfd, "gc")}
    return out


# --- rook-ceph v1.20.6 ------------------------------------------------------------------------------------------
# deploy/charts/rook-ceph/values.yaml @ v1.20.6: resources limits {memory: 512Mi}, requests {cpu: 200m, memory:
# 128Mi}; scaleDownOperator false.
ROOK_DEFAULTS = nested(scaleDownOperator=False, resources={"limits": {"memory": "512Mi"},
                                                           "requests": {"cpu": "200m", "memory": "128Mi"}})


def render_rook(user: dict[str, Any]) -> dict[str, Any]:
    """deploy/charts/rook-ceph/templates/deployment.yaml @ v1.20.6: `replicas: scaleDownOperator ? 0 : 1`."""
    v = coalesce(ROOK_DEFAULTS, user)
    return {"replicas": 0 if v["scaleDownOperator"] else 1, "resources": v["resources"], "pod": _pod(v)}


# --- ceph-csi-drivers 1.0.4 -------------------------------------------------------------------------------------
# deploy/charts/ceph-csi-drivers/values.yaml @ ceph-csi-operator v1.0.4: every drivers.<d>.controllerPlugin.replicas
# is 1 and operatorConfig.driverSpecDefaults.controllerPlugin.replicas 1.
CSI_DEFAULTS = nested(
    operatorConfig__driverSpecDefaults__controllerPlugin__replicas=1,
    **{f"drivers__{d}__controllerPlugin__replicas": 1 for d in ("rbd", "cephfs", "nfs", "nvmeof")},
    **{f"drivers__{d}__enabled": True for d in ("rbd", "cephfs", "nfs", "nvmeof")})


def render_csi_drivers(user: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """deploy/charts/ceph-csi-drivers/templates/driver.yaml @ v1.0.4 writes each enabled driver's Driver object
    with `replicas: {{ $driver.controllerPlugin.replicas | default 2 }}` (always set, so the operator, which only
    fills unset fields from the OperatorConfig's driverSpecDefaults, never applies the defaults' replicas);
    returns the controller plugin Deployment each Driver yields."""
    v = coalesce(CSI_DEFAULTS, user)
    defaults = dig(v, "operatorConfig.driverSpecDefaults.controllerPlugin", {})
    out = {}
    for d, spec in v["drivers"].items():
        if not spec.get("enabled"):
            continue
        ctrl = spec.get("controllerPlugin")
        replicas = (ctrl.get("replicas") or 2) if truthy(ctrl) else defaults.get("replicas")
        # unset Driver fields come from the defaults (the operator's merge); replicas never is unset here
        out[d] = {"replicas": replicas, "affinity": (ctrl or {}).get("affinity") or defaults.get("affinity"),
                  "resources": (ctrl or {}).get("resources") or defaults.get("resources")}
    return out


# --- kube-prometheus-stack 88.5.3 -------------------------------------------------------------------------------
# charts/kube-prometheus-stack/values.yaml @ kube-prometheus-stack-88.5.3: prometheus/alertmanager
# podDisruptionBudget {enabled: false, minAvailable: 1}, *Spec.replicas 1.
KPS_DEFAULTS = nested(prometheus__podDisruptionBudget={"enabled": False, "minAvailable": 1},
                      prometheus__prometheusSpec__replicas=1,
                      alertmanager__podDisruptionBudget={"enabled": False, "minAvailable": 1},
                      alertmanager__alertmanagerSpec__replicas=1)


def render_kube_prometheus_stack(user: dict[str, Any]) -> dict[str, Any]:
    """templates/prometheus/{prometheus,podDisruptionBudget}.yaml and templates/alertmanager/{alertmanager,
    podDisruptionBudget}.yaml @ 88.5.3: the Prometheus/Alertmanager CRs take replicas, resources, placement and
    spread from *Spec; a PDB (the rest of the podDisruptionBudget map) when `enabled`."""
    v = coalesce(KPS_DEFAULTS, user)
    out = {}
    for part, spec in (("prometheus", "prometheusSpec"), ("alertmanager", "alertmanagerSpec")):
        s = v[part][spec]
        pdb = v[part]["podDisruptionBudget"]
        out[part] = {"replicas": int(s["replicas"]), "resources": s.get("resources", {}), "pod": _pod(s),
                     "spread": s.get("topologySpreadConstraints") or [],
                     "pdb": {k: x for k, x in pdb.items() if k != "enabled"} if pdb["enabled"] else None}
    return out


# --- jupyterhub 4.4.0 -------------------------------------------------------------------------------------------
def render_jupyterhub(user: dict[str, Any]) -> dict[str, Any]:
    """jupyterhub/templates/hub/deployment.yaml and proxy/deployment.yaml @ 4.4.0: `replicas: 1` fixed, hub and
    proxy.chp resources/nodeSelector from values."""
    v = coalesce({}, user)
    return {"hub": {"replicas": 1, "resources": dig(v, "hub.resources", {}), "pod": _pod(v, "hub")},
            "proxy": {"replicas": 1, "resources": dig(v, "proxy.chp.resources", {}), "pod": _pod(v, "proxy.chp")}}


# --- cluster-autoscaler 9.53.0 ----------------------------------------------------------------------------------
# charts/cluster-autoscaler/values.yaml @ cluster-autoscaler-chart-9.53.0: replicaCount 1, podDisruptionBudget
# {maxUnavailable: 1}, resources {}.
AUTOSCALER_DEFAULTS = nested(replicaCount=1, podDisruptionBudget={"maxUnavailable": 1}, resources={})


def render_autoscaler(user: dict[str, Any]) -> dict[str, Any]:
    """templates/{deployment,pdb}.yaml @ cluster-autoscaler-chart-9.53.0: a PDB whenever podDisruptionBudget is
    set (`fail` with both minAvailable and maxUnavailable)."""
    v = coalesce(AUTOSCALER_DEFAULTS, user)
    pdb = v.get("podDisruptionBudget")
    if truthy(pdb) and pdb.get("minAvailable") and pdb.get("maxUnavailable"):
        raise ChartFail("Only one of podDisruptionBudget.minAvailable or podDisruptionBudget.maxUnavailable")
    return {"replicas": int(v["replicaCount"]), "resources": v["resources"], "pod": _pod(v),
            "pdb": pdb if truthy(pdb) else None}


# --- envoyproxy gateway-helm v1.9.0 -----------------------------------------------------------------------------
# charts/gateway-helm/values.tmpl.yaml @ envoyproxy/gateway v1.9.0: deployment.replicas 1, podDisruptionBudget
# {minAvailable: 0}, deployment.envoyGateway.resources limits {memory: 1024Mi} requests {cpu: 100m, memory: 256Mi},
# deployment.pod.topologySpreadConstraints [].
EG_DEFAULTS = nested(deployment__replicas=1, podDisruptionBudget={"minAvailable": 0},
                     deployment__envoyGateway__resources={"limits": {"memory": "1024Mi"},
                                                          "requests": {"cpu": "100m", "memory": "256Mi"}},
                     deployment__pod__topologySpreadConstraints=[], crds__enabled=True)


def render_envoy_gateway(user: dict[str, Any]) -> dict[str, Any]:
    """templates/envoy-gateway-deployment.yaml (replicas unless hpa.enabled; deployment.pod.* placement) and
    envoy-gateway-poddisruptionbudget.yaml (a PDB when minAvailable or maxUnavailable >= 1) @ v1.9.0."""
    v = coalesce(EG_DEFAULTS, user)
    pdb = v["podDisruptionBudget"]
    has_pdb = int(pdb.get("minAvailable") or 0) >= 1 or int(pdb.get("maxUnavailable") or 0) >= 1
    return {"replicas": int(v["deployment"]["replicas"]), "resources": v["deployment"]["envoyGateway"]["resources"],
            "pod": _pod(v, "deployment.pod"), "spread": v["deployment"]["pod"].get("topologySpreadConstraints") or [],
            "pdb": has_pdb, "crds": v["crds"]["enabled"]}


# --- cilium 1.16.5 (the edge nodes' CNI, infra/cluster/hybrid.py) ------------------------------------------------
# The cilium/cilium snapshot is over this workplace's fetch limit, so the tag was not read here: the operator's PDB
# follows templates/cilium-operator/poddisruptionbudget.yaml as indexed (`if .Values.operator.podDisruptionBudget
# .enabled`), replicas `operator.replicas` (chart default 2), agent and operator resources as given.
CILIUM_DEFAULTS = nested(operator__replicas=2, operator__podDisruptionBudget={"enabled": False})


def render_cilium(user: dict[str, Any]) -> dict[str, Any]:
    v = coalesce(CILIUM_DEFAULTS, user)
    op = v["operator"]
    return {"agent": {"resources": v.get("resources", {}), "pod": _pod(v)},
            "operator": {"replicas": int(op["replicas"]), "resources": op.get("resources", {}), "pod": _pod(op),
                         "pdb": bool(op["podDisruptionBudget"].get("enabled"))}}


# --- per release ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_strimzi_operator_renders_without_the_chart_cpu_limit(stack):
    r = render_strimzi(user_values(release(stack, "strimzi-kafka-operator")))
    assert r["replicas"] == 1 and _on_general_pool(r["pod"])
    assert _no_cpu_limit(r["resources"]), r["resources"]
    assert r["resources"]["limits"]["memory"] == r["resources"]["requests"]["memory"]


@pytest.mark.parametrize("stack", STACKS)
def test_eck_operator_renders_without_the_chart_cpu_limit(stack):
    r = render_eck(user_values(release(stack, "elastic-operator")))
    assert r["replicas"] == 1 and _on_general_pool(r["pod"]) and _no_cpu_limit(r["resources"]), r


@pytest.mark.parametrize("stack", STACKS)
def test_gpu_operator_and_nfd_render_on_the_general_pool_without_cpu_limits(stack):
    rendered = render_gpu_operator(user_values(release(stack, "gpu-operator")))
    assert set(rendered) == {"operator", "nfd-master", "nfd-gc"}
    for part, r in rendered.items():
        assert _on_general_pool(r["pod"]) and _no_cpu_limit(r["resources"]), part
    assert rendered["nfd-master"]["resources"]["limits"]["memory"] == "512Mi"  # ours, not the chart's 4Gi


def test_a_chart_cpu_limit_survives_a_resources_map_without_its_null():
    """Why the nulls: Helm merges our `resources` with the chart's key by key."""
    ours = {"resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "256Mi"}}}
    assert render_strimzi(ours)["resources"]["limits"]["cpu"] == "1000m"
    assert render_eck(ours)["resources"]["limits"]["cpu"] == 1
    assert render_gpu_operator({"operator": ours})["operator"]["resources"]["limits"]["cpu"] == "500m"
    # and the null travels in the Release's valueYamlFiles, merged under `values`, so a limit we set wins
    rel = {"valueYamlFiles": [{"text": "resources:\n  limits:\n    cpu: null\n"}], "values": ours}
    assert _no_cpu_limit(render_strimzi(user_values(rel))["resources"])
    rel["values"] = {"resources": {"limits": {"cpu": "2", "memory": "1Gi"}}}
    assert render_strimzi(user_values(rel))["resources"]["limits"]["cpu"] == "2"


@pytest.mark.parametrize("stack", STACKS)
def test_the_null_reaches_helm_through_the_release_inputs(stack):
    """The plan records what the engine receives: the Release inputs carry valueYamlFiles with explicit nulls
    (pulumi-kubernetes >= 4.30 hands them to Helm unchanged, pulumi/pulumi-kubernetes#4293)."""
    import yaml

    for name, path in (("strimzi-kafka-operator", "resources.limits.cpu"), ("elastic-operator", "resources.limits.cpu"),
                       ("gpu-operator", "operator.resources.limits.cpu")):
        docs = [yaml.safe_load(f["text"]) for f in release(stack, name)["valueYamlFiles"]]
        assert any(dig(d, path) is None for d in docs), name
        assert dig(user_values(release(stack, name)), path) is None  # present, null: deletes the default


@pytest.mark.parametrize("stack", STACKS)
def test_rook_operator_renders_one_replica_on_the_general_pool(stack):
    r = render_rook(user_values(release(stack, "rook-ceph")))
    assert r["replicas"] == 1 and _on_general_pool(r["pod"]) and _no_cpu_limit(r["resources"])


@pytest.mark.parametrize("stack", STACKS)
def test_ceph_csi_controller_replicas_apply_per_driver(stack):
    want = 2 if config(stack).environment.value == "prod" else 1
    drivers = render_csi_drivers(user_values(release(stack, "ceph-csi-drivers")))
    assert set(drivers) == {"rbd", "cephfs"}
    for d, r in drivers.items():
        assert r["replicas"] == want, d
        assert _on_general_pool({"affinity": r["affinity"]}) and r["resources"], d


def test_csi_replicas_only_in_the_defaults_never_apply():
    """prod's values before this fix: 2 in driverSpecDefaults, the Drivers rendered with the chart's 1."""
    old = {"operatorConfig": {"driverSpecDefaults": {"controllerPlugin": {"replicas": 2}}},
           "drivers": {"nfs": {"enabled": False}, "nvmeof": {"enabled": False}}}
    assert {d: r["replicas"] for d, r in render_csi_drivers(old).items()} == {"rbd": 1, "cephfs": 1}


@pytest.mark.parametrize("stack", STACKS)
def test_prometheus_and_alertmanager_render_replicas_pdb_and_spread(stack):
    cfg = config(stack).platform.monitoring
    rendered = render_kube_prometheus_stack(user_values(release(stack, "kube-prometheus-stack")))
    for part, want in (("prometheus", cfg.prometheus.replicas), ("alertmanager", cfg.alertmanager_replicas)):
        r = rendered[part]
        assert r["replicas"] == want and _on_general_pool(r["pod"]) and _no_cpu_limit(r["resources"]), part
        assert (r["pdb"] is not None) is (want > 1), part
        if r["pdb"]:
            assert r["pdb"]["minAvailable"] == want - 1 and "maxUnavailable" not in r["pdb"]
        if want > 1:  # the Prometheus operator accepts a spread for one replica too; only replicas need one
            assert r["spread"], part


@pytest.mark.parametrize("stack", STACKS)
def test_jupyterhub_hub_and_proxy_render_on_the_general_pool(stack):
    for part, r in render_jupyterhub(user_values(release(stack, "jupyterhub"))).items():
        assert _on_general_pool(r["pod"]) and _no_cpu_limit(r["resources"]) and r["resources"]["requests"], part


@pytest.mark.parametrize("stack", STACKS)
def test_cluster_autoscaler_builds_a_pdb_only_with_a_standby_replica(stack):
    r = render_autoscaler(user_values(release(stack, "cluster-autoscaler")))
    want = 2 if config(stack).environment.value == "prod" else 1
    assert r["replicas"] == want and _on_general_pool(r["pod"]) and _no_cpu_limit(r["resources"])
    assert (r["pdb"] == {"maxUnavailable": 1}) if want > 1 else r["pdb"] is None
    # the chart's default maxUnavailable: 1 would otherwise give the single pod a PDB
    assert render_autoscaler({"replicaCount": 1})["pdb"] == {"maxUnavailable": 1}


@pytest.mark.parametrize("stack", STACKS)
def test_envoy_gateway_renders_replicas_pdb_and_spread_only_when_replicated(stack):
    want = config(stack).platform.gateway.controller_replicas
    r = render_envoy_gateway(user_values(release(stack, "eg")))
    assert r["replicas"] == want and r["crds"] and _on_general_pool(r["pod"]) and _no_cpu_limit(r["resources"])
    assert r["pdb"] is (want > 1) and bool(r["spread"]) is (want > 1)


@pytest.mark.parametrize("stack", STACKS)
def test_cilium_renders_its_operator_on_the_general_pool_and_its_agent_on_edge_nodes(stack):
    # Both shipped stacks declare edge (hybrid) pools, so both install Cilium for them.
    assert "cilium" in releases(planned(stack)), f"{stack} plans no cilium release: this check lost its subject"
    r = render_cilium(user_values(release(stack, "cilium")))
    op = r["operator"]
    assert 1 <= op["replicas"] <= 2 and _on_general_pool(op["pod"]) and op["pod"]["tolerations"] == []
    assert _no_cpu_limit(op["resources"]) and _no_cpu_limit(r["agent"]["resources"])
    assert not _on_general_pool(r["agent"]["pod"])  # the agent runs on edge nodes only


def test_every_release_of_the_stacks_has_a_renderer():
    covered = {"cilium", "eg", "spark-operator", "strimzi-kafka-operator", "elastic-operator", "gpu-operator", "rook-ceph",
               "ceph-csi-drivers", "kube-prometheus-stack", "jupyterhub", "cluster-autoscaler"}
    for stack in STACKS:
        assert set(releases(planned(stack))) <= covered, "a new Helm release needs its rendered-intent test here"


def test_the_model_follows_helm_semantics():
    assert coalesce({"a": {"b": 1, "c": 2}}, {"a": {"b": None, "d": 3}}) == {"a": {"c": 2, "d": 3}}
    assert coalesce({"a": {"b": 1}}, {"a": None}) == {}
    assert dig({"a": {"b": None}}, "a.b") is None and dig({}, "a.b") is MISSING
