"""The training step distributed over two local worker processes on the CPU, with the strategy and the cluster
spec the TFJob's pods get on the cluster: the real entry point (`python -m workloads.edgevision.train`), each
process with the TF_CONFIG the training-operator writes (kubeflow/trainer v1.9.4
pkg/controller.v1/tensorflow/tensorflow.go genTFConfigJSONStr/genClusterSpec: `cluster.worker` lists
`<job>-worker-<i>.<namespace>.svc:<port>` for every replica, `task` is this replica's type and index,
`environment: cloud`), the hosts swapped for loopback ports. Worker 0 (the chief, the TFJob has no Chief replica)
publishes to a moto bucket; the quality gate is then exercised against that published model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.ports import free_port
from workloads.common.modelregistry import fetch_verified, latest_run, list_versions
from workloads.edgevision import manifests as em
from workloads.edgevision.config import EdgeVisionConfig

REPO = Path(__file__).resolve().parents[3]


def operator_tf_config(job: str, namespace: str, workers: int, index: int, port: int) -> dict:
    """The TF_CONFIG training-operator v1.9.4 writes into worker `index` of a TFJob with only Worker replicas."""
    hosts = [f"{job}-worker-{i}.{namespace}.svc:{port}" for i in range(workers)]
    return {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}, "environment": "cloud"}


def test_the_declared_job_is_what_the_local_run_reproduces() -> None:
    """The stack's TFJob: Worker replicas only, on the default port and container name, so its pods get exactly
    the operator_tf_config shape the local run below uses."""
    cfg = EdgeVisionConfig(enabled=True)
    spec = em.tfjob_spec(cfg, em_refs())
    assert list(spec["tfReplicaSpecs"]) == ["Worker"]
    worker = spec["tfReplicaSpecs"]["Worker"]
    assert worker["replicas"] == cfg.training.workers == 2
    (container,) = worker["template"]["spec"]["containers"]
    assert container["name"] == "tensorflow" and container["ports"][0]["containerPort"] == 2222
    assert container["command"] == ["python", "-m", "workloads.edgevision.train"]
    tf = operator_tf_config(em.tfjob_name(cfg), cfg.namespace, 2, 1, 2222)
    assert tf["cluster"]["worker"][0] == "edgevision-train-initial-worker-0.edgevision.svc:2222"


def em_refs():  # noqa: ANN201
    from infra.workloads.kit import BucketRefs

    return BucketRefs(configmap="cm", secret="sec", endpoint="http://rgw:80")


def _worker_env(base: dict[str, str], tf_config: dict, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EV_", "TF_CONFIG", "BUCKET_", "AWS_"))}
    env.update(base)
    env.update({"TF_CONFIG": json.dumps(tf_config), "EV_TRAIN_IMAGES": "1024", "EV_HELDOUT_IMAGES": "200",
                "EV_EPOCHS": "6", "EV_BATCH_PER_WORKER": "16", "EV_MIN_ACCURACY": "0.6", "EV_RUN_ID": "twoworkers",
                "CUDA_VISIBLE_DEVICES": "-1", "PYTHONPATH": str(REPO), **extra})
    return env


def test_two_local_workers_train_together_and_the_chief_publishes(s3_env: dict[str, str], store) -> None:  # noqa: ANN001
    ports = [free_port(), free_port()]
    hosts = [f"127.0.0.1:{p}" for p in ports]
    procs = []
    for index in (0, 1):
        tf_config = operator_tf_config("edgevision-train-twoworkers", "edgevision", 2, index, 2222)
        tf_config["cluster"]["worker"] = hosts  # the Services' names resolve to the pods on the cluster; here: loopback
        # Only the chief holds object-store settings, as the bucket is not needed by the others: proves they never
        # touch it.
        env = _worker_env(s3_env if index == 0 else {}, tf_config)
        procs.append(subprocess.Popen([sys.executable, "-m", "workloads.edgevision.train"], cwd=REPO, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=420)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail("the two workers did not finish in 7 minutes (a collective op waiting for a peer?)")
        assert p.returncode == 0, err[-3000:]
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    chief, other = outputs
    assert chief["workers"] == other["workers"] == 2
    assert chief["chief"] is True and other["chief"] is False and other["verdict"] == "worker"
    assert chief["published"] is True, chief["reason"]
    assert chief["heldoutAccuracy"] >= 0.6
    # published as a verifiable version, with the report recorded
    assert list_versions(store, "models/edgevision") == [chief["version"]]
    art = fetch_verified(store, "models/edgevision", chief["version"], chief["digest"])
    assert art.format == "keras" and art.manifest["trainedBy"]["workers"] == 2
    assert latest_run(store, "models/edgevision")["version"] == chief["version"]

    # The quality gate: a run that does not beat the approved model publishes nothing (one worker, one epoch on
    # few images: clearly worse), and says so in its report.
    from workloads.edgevision import train as t

    settings = t.TrainSettings(train_images=96, heldout_images=200, epochs=1, min_accuracy=0.0, run_id="weak",
                               current_version=chief["version"], current_digest=chief["digest"])
    report = t.run(settings, store, env={})
    assert report["published"] is False, report
    assert "does not beat the approved model" in report["reason"]
    assert report["current"]["heldoutAccuracy"] == pytest.approx(chief["heldoutAccuracy"], abs=1e-4)
    assert list_versions(store, "models/edgevision") == [chief["version"]]
    assert latest_run(store, "models/edgevision")["reason"] == report["reason"]
