"""Pure builders of the Spark component (no mocks): s3a conf, NVMe scratch, worker sizing, the operator's
values, and a SparkApplication assembled from the helpers validated against the upstream CRD."""

from __future__ import annotations

import pytest

from infra.config import load_stack_config
from infra.config.spark import SparkConfig
from infra.placement import LABEL_NVME_MODE, LABEL_ROLE, TAINT_NVME, NvmeMode
from infra.services.spark.spec import (
    daemon_memory,
    event_log_env,
    executor_placement,
    executor_scratch,
    operator_values,
    sparkconf_s3a,
    worker_offer,
)
from tests.infra.planned import crd_validator, errors

RGW = "http://rook-ceph-rgw-datalake.rook-ceph.svc:80"


def test_s3a_conf_is_path_style_against_the_rgw_without_credentials():
    conf = sparkconf_s3a(RGW)
    assert conf["spark.hadoop.fs.s3a.endpoint"] == RGW
    assert conf["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false"
    assert conf["spark.hadoop.fs.s3a.endpoint.region"] == "us-east-1"
    assert not any("key" in k.lower() or "secret" in k.lower() for k in conf)  # credentials come from env
    assert "spark.eventLog.dir" not in conf
    assert sparkconf_s3a("https://s3.example:443")["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "true"


def test_s3a_conf_writes_event_logs_with_the_event_buckets_own_keys_from_env():
    conf = sparkconf_s3a(RGW, event_log_dir="s3a://spark-events/events")
    assert conf["spark.eventLog.enabled"] == "true" and conf["spark.eventLog.dir"] == "s3a://spark-events/events"
    # Hadoop expands ${env.X}; the values are variable names, never keys
    assert conf["spark.hadoop.fs.s3a.bucket.spark-events.access.key"] == "${env.SPARK_EVENT_LOG_ACCESS_KEY_ID}"
    assert conf["spark.hadoop.fs.s3a.bucket.spark-events.secret.key"] == "${env.SPARK_EVENT_LOG_SECRET_ACCESS_KEY}"
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in event_log_env("spark-events")}
    assert env == {"SPARK_EVENT_LOG_ACCESS_KEY_ID": {"name": "spark-events", "key": "AWS_ACCESS_KEY_ID"},
                   "SPARK_EVENT_LOG_SECRET_ACCESS_KEY": {"name": "spark-events", "key": "AWS_SECRET_ACCESS_KEY"}}


@pytest.mark.parametrize("endpoint,event_dir,msg", [
    ("rook-ceph-rgw:80", None, "valid: an http"),
    (RGW, "/tmp/events", "valid: an s3a:// URL"),
])
def test_s3a_conf_refuses_bad_input(endpoint, event_dir, msg):
    with pytest.raises(ValueError, match=msg):
        sparkconf_s3a(endpoint, event_log_dir=event_dir)


def test_executor_scratch_is_a_spark_local_dir_on_nvme_raid0():
    (volume,), (mount,) = executor_scratch()
    # emptyDir: on raid0 pools the kubelet's directory is bind-mounted onto the NVMe array
    assert volume == {"name": "spark-local-dir-1", "emptyDir": {}}
    assert mount["name"] == "spark-local-dir-1"
    placement = executor_placement()
    assert placement["nodeSelector"] == {LABEL_ROLE: "nvme", LABEL_NVME_MODE: NvmeMode.RAID0.value}
    assert any(t["key"] == TAINT_NVME for t in placement["tolerations"])


@pytest.mark.parametrize("cpu,memory,offer", [("2", "8Gi", (2, "5632m")), ("1500m", "4Gi", (1, "2560m")),
                                              ("250m", "2Gi", (1, "1024m"))])
def test_worker_offers_whole_cores_and_memory_that_fits_beside_its_daemon(cpu, memory, offer):
    cores, mem = worker_offer(cpu, memory)
    assert (cores, mem) == offer
    limit_mib = {"8Gi": 8192, "4Gi": 4096, "2Gi": 2048}[memory]
    assert int(mem[:-1]) + 512 <= limit_mib * 3 // 4  # executors + worker heap leave a quarter for off-heap


def test_worker_too_small_is_refused():
    with pytest.raises(ValueError, match="workerResources.memory=1Gi leaves 256Mi"):
        worker_offer("1", "1Gi")


@pytest.mark.parametrize("memory,heap", [("1Gi", "512m"), ("2Gi", "1024m"), ("256Mi", "256m")])
def test_daemon_heap_is_half_the_container(memory, heap):
    assert daemon_memory(memory) == heap


def test_operator_keeps_the_webhook_and_its_job_namespace():
    values = operator_values(SparkConfig(operatorReplicas=2), across_zones=True)
    assert values["webhook"]["enable"] is True
    assert values["spark"]["jobNamespaces"] == ["spark"]
    assert values["spark"]["serviceAccount"] == {"create": False, "name": "spark"} and not values["spark"]["rbac"]["create"]
    assert values["prometheus"]["podMonitor"]["create"] is True
    for part in ("controller", "webhook"):
        assert values[part]["podDisruptionBudget"] == {"enable": True, "minAvailable": 1}
        assert values[part]["nodeSelector"] == {LABEL_ROLE: "general"}
        assert values[part]["resources"]["limits"]["memory"]
        assert {c["topologyKey"] for c in values[part]["topologySpreadConstraints"]} == {
            "kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    single = operator_values(SparkConfig(), across_zones=False)
    assert single["controller"]["podDisruptionBudget"]["enable"] is False  # one replica: a PDB would block drains


def test_a_spark_application_built_from_the_helpers_is_valid_upstream():
    volumes, mounts = executor_scratch()
    app = {
        "apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
        "metadata": {"name": "etl", "namespace": "spark"},
        "spec": {
            "type": "Python", "mode": "cluster", "sparkVersion": "4.0.4", "image": "docker.io/apache/spark:4.0.4",
            "mainApplicationFile": "s3a://lake/jobs/etl.py",
            "sparkConf": sparkconf_s3a(RGW, event_log_dir="s3a://spark-events/events"),
            "volumes": volumes,
            "driver": {"cores": 1, "memory": "2g", "serviceAccount": "spark", "env": event_log_env("spark-events"),
                       "envFrom": [{"secretRef": {"name": "lake"}}]},
            "executor": {"instances": 2, "cores": 2, "memory": "4g", **executor_placement(), "volumeMounts": mounts,
                         "envFrom": [{"secretRef": {"name": "lake"}}]},
        },
    }
    assert not errors(crd_validator(app["apiVersion"], "SparkApplication"), app)
    app["spec"]["executor"]["cores"] = 0
    assert any("executor/cores" in e for e in errors(crd_validator(app["apiVersion"], "SparkApplication"), app))


@pytest.mark.parametrize("image", ["docker.io/apache/spark:latest", "docker.io/apache/spark", "spark :1"])
def test_unpinned_images_are_refused(image):
    with pytest.raises(ValueError, match="needs a pinned tag or digest"):
        SparkConfig(image=image)
    assert SparkConfig(image="registry.local:5000/team/spark:4.0.4-s3a").image.endswith("4.0.4-s3a")


@pytest.mark.parametrize("image", ["docker.io/apache/spark:4.0.4", "apache/spark:4.0.4-python3", "spark:4.0.4",
                                   "docker.io/library/spark:4.0.4", "apache/spark-py:v3.4.0",
                                   "apache/spark@sha256:" + "0" * 64])
def test_stock_spark_images_without_hadoop_aws_are_refused(image):
    with pytest.raises(ValueError, match="stock Spark image without hadoop-aws, so nothing can read s3a"):
        SparkConfig(image=image)


def test_standalone_bounds_and_the_raid0_pool_rule():
    with pytest.raises(ValueError, match="spark.standalone.minWorkers=4 exceeds maxWorkers=2"):
        SparkConfig.model_validate({"standalone": {"minWorkers": 4, "maxWorkers": 2}})
    prod = load_stack_config({"pipeworks:platform": {"environment": "prod"}}, set(), stack="prod").platform
    assert prod.spark.stack_problems(prod) == []
    no_raid0 = prod.model_copy(update={"node_pools": [p for p in prod.node_pools if p.nvme_mode is not NvmeMode.RAID0]})
    (problem,) = prod.spark.stack_problems(no_raid0)
    assert problem[0] == "spark.enabled" and "nvmeMode: raid0" in problem[2]
