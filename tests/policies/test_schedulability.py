"""Schedulability: pods must match, tolerate and fit a declared pool; pools must hold their pods;
the instance table's allocatable arithmetic."""

from __future__ import annotations

import json

import pytest

from pipeworks.capacity import main as capacity_main
from policies.rules.instances import known_instance_types, reserved_cpu, shape
from tests.policies.builders import GPU_TOL, container, k8s, messages, pod, pool, pools_configmap, workload

GIB = 2**30


def test_instance_allocatable_subtracts_the_kubelet_reservation() -> None:
    s = shape("m6i.xlarge")
    assert s is not None
    # 4 vCPU: 60m + 10m + 2 x 5m reserved
    assert s.cpu == pytest.approx(4 - 0.08)
    assert reserved_cpu(4) == pytest.approx(0.08)
    # 58 pods: 255 + 11*58 MiB kube-reserved, 100 MiB eviction, 7.5% of 16 GiB never reaches the kubelet
    assert s.max_pods == 58
    assert s.memory == pytest.approx(16 * GIB * 0.925 - (255 + 638 + 100) * 2**20)
    assert shape("g5.xlarge").gpu == 1  # type: ignore[union-attr]
    assert shape("m5.4xlarge").max_pods == 110  # type: ignore[union-attr]  # capped below 30 vCPUs
    assert shape("no.such") is None


def test_every_instance_type_of_the_shipped_profiles_is_in_the_table() -> None:
    from infra.config.profiles import PROFILES

    types = {t for prof in PROFILES.values() for p in prof.get("nodePools", []) for t in p.get("instanceTypes", [])}
    assert types and types <= set(known_instance_types())


def test_pod_that_fits_a_matching_pool_is_schedulable() -> None:
    assert messages("pod-schedulable", [workload("Deployment", "web")]) == []


def test_pod_selecting_no_declared_pool_is_unschedulable() -> None:
    d = workload("Deployment", "web", pod(container(), nodeSelector={"pipeworks.io/pool": "missing"}))
    (msg,) = messages("pod-schedulable", [d])
    assert "no declared pool matches" in msg


def test_pod_not_tolerating_the_pool_it_selects_is_unschedulable() -> None:
    d = workload("Deployment", "web", pod(container(), nodeSelector={"pipeworks.io/role": "gpu"}))
    (msg,) = messages("pod-schedulable", [d])
    assert "cannot tolerate" in msg and "nvidia.com/gpu=true:NoSchedule" in msg


def test_pod_larger_than_any_node_is_unschedulable() -> None:
    d = workload("Deployment", "big", pod(container(cpu="6", memory="8Gi", limit="8Gi")))
    (msg,) = messages("pod-schedulable", [d])
    assert "more than one node" in msg and "m6i.xlarge" in msg


def test_requests_sum_containers_and_take_the_largest_init_container() -> None:
    two = pod(container("a", cpu="2"), container("b", cpu="2"))
    assert len(messages("pod-schedulable", [workload("Deployment", "two", two)])) == 1
    init = pod(container("a", cpu="1"), initContainers=[container("init", cpu="3")])
    assert messages("pod-schedulable", [workload("Deployment", "init", init)]) == []


def test_gpu_requests_must_fit_the_gpu_count() -> None:
    c = container("trainer")
    c["resources"]["limits"]["nvidia.com/gpu"] = "2"
    d = workload("Deployment", "t", pod(c, nodeSelector={"pipeworks.io/role": "gpu"}, tolerations=[GPU_TOL]))
    (msg,) = messages("pod-schedulable", [d])
    assert "nvidia.com/gpu 2" in msg


def test_limits_stand_in_for_missing_requests() -> None:
    c = {"name": "c", "image": "x:1", "resources": {"limits": {"cpu": "8", "memory": "1Gi"}}}
    assert len(messages("pod-schedulable", [workload("Deployment", "lim", pod(c))])) == 1


def test_declared_capacity_is_used_for_existing_cluster_pools() -> None:
    edge = [pool("shop", "edge", [], location="shop", capacity={"cpu": "2", "memory": "4Gi", "gpu": 0})]
    tol = {"key": "pipeworks.io/edge", "operator": "Exists", "effect": "NoSchedule"}
    small = workload("Deployment", "s", pod(container(cpu="1", memory="1Gi"), nodeSelector={"edgeLocation": "shop"},
                                           tolerations=[tol]))
    big = workload("Deployment", "b", pod(container(cpu="3", memory="1Gi"), nodeSelector={"edgeLocation": "shop"},
                                         tolerations=[tol]))
    assert messages("pod-schedulable", [small], pools=edge) == []
    assert len(messages("pod-schedulable", [big], pools=edge)) == 1


def test_schedulability_needs_pools() -> None:
    d = workload("Deployment", "web", pod(container(), nodeSelector={"pipeworks.io/pool": "missing"}))
    assert messages("pod-schedulable", [d], with_pools=False) == []


def test_pool_capacity_flags_overcommitted_pools() -> None:
    many = workload("Deployment", "many", pod(container(cpu="3", memory="1Gi")), replicas=6.0)
    (msg,) = messages("pool-capacity", [many])
    assert "pool 'general'" in msg and "cpu" in msg and "maxSize 4" in msg
    few = workload("Deployment", "few", pod(container(cpu="1", memory="1Gi")), replicas=3.0)
    assert messages("pool-capacity", [few]) == []


def test_daemonsets_count_once_per_node_of_every_pool_they_reach() -> None:
    ds = workload("DaemonSet", "agent", pod(container(cpu="3", memory="1Gi")), replicas=None)
    few = workload("Deployment", "few", pod(container(cpu="1", memory="1Gi")), replicas=4.0)
    (msg,) = messages("pool-capacity", [ds, few])  # 4 nodes x 3 cpu + 4 x 1 > general's 4 x 3.92
    assert "general" in msg and "102%" in msg
    assert messages("pool-capacity", [ds]) == []


def test_unknown_instance_types_are_reported_once_per_pool() -> None:
    odd = [pool("general", "general", ["z9.mega"])]
    (msg,) = messages("pool-capacity", [workload("Deployment", "web")], pools=odd)
    assert "z9.mega" in msg and "instances.py" in msg


def test_capacity_command_reports_per_pool_shares(tmp_path, capsys) -> None:
    manifest = tmp_path / "web.yaml"
    manifest.write_text(json.dumps(workload("Deployment", "web", pod(container(cpu="1", memory="1Gi")),
                                            replicas=2.0).props))
    manifest.rename(tmp_path / "web.json")
    pools = tmp_path / "pools.json"
    pools.write_text(json.dumps([pool("general", "general", ["m6i.xlarge"], 1, 2)]))
    assert capacity_main(["--manifests", str(tmp_path / "web.json"), "--pools", str(pools), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    (general,) = data["pools"]
    assert general["requested"]["cpu"] == 2
    assert general["share"]["cpu"] == pytest.approx(2 / (2 * (4 - 0.08)))
    assert general["pods"][0]["count"] == 2
    assert capacity_main(["--manifests", str(tmp_path / "web.json")]) == 2  # no pools: unusable
    assert "no node pools" in capsys.readouterr().err


def test_capacity_command_on_a_plan(tmp_path, capsys) -> None:
    plan = tmp_path / "plan"
    plan.mkdir()
    rs = [pools_configmap(), workload("Deployment", "web")]
    (plan / "resources.json").write_text(json.dumps([
        {"urn": r.urn, "type": r.type, "name": r.name, "parent": None, "provider": None, "dependencies": [],
         "custom": True, "inputs": r.props} for r in rs]))
    assert capacity_main([str(plan)]) == 0
    out = capsys.readouterr().out
    assert "pool general" in out and "Deployment/web x2" in out and "pool gpu" in out
    assert k8s  # builders imported for their side-effect free helpers
