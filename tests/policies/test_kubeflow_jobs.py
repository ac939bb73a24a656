"""Kubeflow v1 training jobs (TFJob, PyTorchJob ...; kubeflow/trainer v1.9.4 pkg/apis/kubeflow.org/v1) as pod
shapes: one template per replica type under `spec.<framework>ReplicaSpecs`, `replicas` pods each, judged by the
placement, schedulability and capacity rules like any Deployment (compliant, violating and property-missing)."""

from __future__ import annotations

from typing import Any

from policies.rules.model import Context
from policies.rules.podspec import all_pod_templates
from tests.policies.builders import GPU_TOL, container, k8s, messages, pod


def gpu_container() -> dict[str, Any]:
    c = container(name="tensorflow")
    c["resources"]["limits"]["nvidia.com/gpu"] = "1"
    c["resources"]["requests"]["nvidia.com/gpu"] = "1"
    return c


def tfjob(worker_pod: dict[str, Any], replicas: Any = 2, kind: str = "TFJob",
          field: str = "tfReplicaSpecs") -> Any:
    spec = {field: {"Worker": {"template": {"metadata": {"labels": {"job": "t"}}, "spec": worker_pod}}}}
    if replicas is not None:
        spec[field]["Worker"]["replicas"] = replicas
    return k8s("kubeflow.org/v1", kind, "train", spec)


def test_each_replica_type_is_a_pod_template_with_its_count() -> None:
    job = tfjob(pod(container(name="tensorflow")), replicas=3)
    job.props["spec"]["tfReplicaSpecs"]["PS"] = {"replicas": 1, "template": {"spec": pod(container(name="ps"))}}
    pts = all_pod_templates(Context(resources=[job]))
    assert {(pt.label, pt.replicas, pt.long_running) for pt in pts} == {
        ("TFJob/train Worker", 3, False), ("TFJob/train PS", 1, False)}
    # replicas missing: the operator defaults to 1
    (pt,) = all_pod_templates(Context(resources=[tfjob(pod(container()), replicas=None)]))
    assert pt.replicas == 1


def test_the_other_frameworks_share_the_shape() -> None:
    (pt,) = all_pod_templates(Context(resources=[tfjob(pod(container()), kind="PyTorchJob",
                                                       field="pytorchReplicaSpecs")]))
    assert pt.path == "spec.pytorchReplicaSpecs.Worker.template.spec"


def test_gpu_workers_on_the_gpu_pool_are_compliant() -> None:
    good = tfjob(pod(gpu_container(), nodeSelector={"pipeworks.io/role": "gpu"}, tolerations=[GPU_TOL]))
    assert messages("gpu-placement", [good]) == []
    assert messages("pod-schedulable", [good]) == []


def test_gpu_workers_without_the_toleration_or_the_pool_are_violations() -> None:
    (msg,) = messages("gpu-placement", [tfjob(pod(gpu_container(), nodeSelector={"pipeworks.io/role": "gpu"}))])
    assert "TFJob/train Worker requests 1 nvidia.com/gpu but does not tolerate" in msg
    msgs = messages("gpu-placement", [tfjob(pod(gpu_container(), tolerations=[GPU_TOL]))])
    assert any("does not select a GPU pool" in m for m in msgs)


def test_workers_count_against_the_gpu_pools_capacity() -> None:
    """Twenty replicas x 4 GPUs is more than the standard GPU pool holds at its maximum size."""
    c = gpu_container()
    c["resources"]["limits"]["nvidia.com/gpu"] = c["resources"]["requests"]["nvidia.com/gpu"] = "4"
    big = tfjob(pod(c, nodeSelector={"pipeworks.io/role": "gpu"}, tolerations=[GPU_TOL]), replicas=20)
    assert any("GPUs" in m for m in messages("pool-capacity", [big]))
