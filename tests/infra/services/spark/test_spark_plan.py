"""The Spark component in the dev and prod plans: the operator release, the driver RBAC, the history
server on its Ceph bucket, the standalone master/workers with their HPA and PDB, NetworkPolicies, and
schema validity of every object (Kubernetes OpenAPI; upstream CRDs for custom resources)."""

from __future__ import annotations

import pytest

from infra.placement import LABEL_NVME_MODE, LABEL_ROLE
from tests.infra.planned import (CRDS, REPO, cluster_version, core_validator, crd_validator, errors, in_namespace, planned,
                                 releases)

STACKS = ("dev", "prod")


def _component(stack: str) -> list[dict]:
    """The Spark component's own objects in its namespace (workloads put their jobs, claims and Kafka
    credentials in the same job namespace; their tests check those)."""
    return [o for o in in_namespace([r for r in planned(stack) if "pipeworks:services:Spark" in r["urn"]], "spark")]


def _kind(stack: str, kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in _component(stack) if o.get("kind") == kind}


def _urn(stack: str, kind: str, name: str) -> str:
    return next(r["urn"] for r in planned(stack) if r["custom"] and r["inputs"].get("kind") == kind
                and r["inputs"]["metadata"]["name"] == name)


@pytest.mark.parametrize("stack", STACKS)
def test_operator_release_pinned_with_webhook_and_job_namespace(stack):
    rel = releases(planned(stack))["spark-operator"]
    assert (rel["chart"], rel["version"], rel["repositoryOpts"]["repo"]) == (
        "spark-operator", "2.5.2", "https://kubeflow.github.io/spark-operator")
    assert rel["namespace"] == "spark"
    assert rel["values"]["webhook"]["enable"] is True and rel["values"]["spark"]["jobNamespaces"] == ["spark"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_object_is_schema_valid(stack):
    objs = _component(stack)
    objs += [r["inputs"] for r in planned(stack) if r["custom"] and r["inputs"].get("kind") == "Namespace"
             and r["inputs"]["metadata"]["name"] == "spark"]
    checked = set()
    for obj in objs:
        group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
        # a group with an upstream CRD copy is a custom resource, even under *.k8s.io (sparkoperator.k8s.io:
        # the SparkApplications workloads declare in the job namespace)
        validator = (crd_validator(obj["apiVersion"], obj["kind"]) if group and (CRDS / group).is_dir()
                     else core_validator(obj["kind"], obj["apiVersion"], cluster_version(stack)))
        problems = errors(validator, obj)
        assert not problems, f"{obj['kind']}/{obj['metadata']['name']}: {problems}"
        checked.add(obj["kind"])
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "Role",
            "RoleBinding", "ServiceAccount", "Namespace", "ObjectBucketClaim"} <= checked


@pytest.mark.parametrize("stack", STACKS)
def test_driver_service_account_and_rbac(stack):
    assert "spark" in _kind(stack, "ServiceAccount")
    (role,) = _kind(stack, "Role").values()
    assert {"pods", "services", "configmaps"} <= set(role["rules"][0]["resources"])
    (binding,) = _kind(stack, "RoleBinding").values()
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "spark", "namespace": "spark"}]


@pytest.mark.parametrize("stack", STACKS)
def test_history_server_reads_event_logs_from_its_bucket(stack):
    (obc,) = _kind(stack, "ObjectBucketClaim").values()
    assert obc["spec"]["bucketName"] == "spark-events"
    pod = _kind(stack, "Deployment")["spark-history"]["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    opts = next(e["value"] for e in c["env"] if e["name"] == "SPARK_HISTORY_OPTS")
    assert "-Dspark.history.fs.logDirectory=s3a://$(BUCKET_NAME)/events" in opts
    assert "-Dspark.hadoop.fs.s3a.path.style.access=true" in opts
    assert c["envFrom"] == [{"secretRef": {"name": obc["metadata"]["name"]}}]
    assert _urn(stack, "Namespace", "spark") in next(
        r for r in planned(stack) if r["inputs"].get("kind") == "ObjectBucketClaim"
        and r["inputs"]["metadata"]["namespace"] == "spark" and r["inputs"]["metadata"]["name"] == obc["metadata"]["name"]
    )["dependencies"]


@pytest.mark.parametrize("stack,lo,hi,zones", [("dev", 1, 3, False), ("prod", 2, 10, True)])
def test_standalone_master_and_autoscaled_workers_on_nvme_scratch(stack, lo, hi, zones):
    deployments = _kind(stack, "Deployment")
    master = deployments["spark-master"]["spec"]["template"]["spec"]
    assert master["nodeSelector"] == {LABEL_ROLE: "general"}
    svc = _kind(stack, "Service")["spark-master"]
    assert {p["port"] for p in svc["spec"]["ports"]} == {7077, 8080}
    worker = deployments["spark-worker"]["spec"]["template"]["spec"]
    assert worker["nodeSelector"] == {LABEL_ROLE: "nvme", LABEL_NVME_MODE: "raid0"}
    assert worker["volumes"] == [{"name": "spark-local-dir-1", "emptyDir": {"sizeLimit": "200Gi"}}]
    assert worker["containers"][0]["args"][0] == "spark://spark-master.spark.svc:7077"
    assert {c["topologyKey"] for c in worker["topologySpreadConstraints"]} == (
        {"kubernetes.io/hostname", "topology.kubernetes.io/zone"} if zones else {"kubernetes.io/hostname"})
    hpa = _kind(stack, "HorizontalPodAutoscaler")["spark-worker"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "spark-worker"}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (lo, hi)
    pdb = _kind(stack, "PodDisruptionBudget")["spark-worker"]["spec"]
    assert pdb == {"maxUnavailable": 1, "selector": deployments["spark-worker"]["spec"]["selector"]}


@pytest.mark.parametrize("stack", STACKS)
def test_every_container_has_requests_limits_and_probes(stack):
    for name, dep in _kind(stack, "Deployment").items():
        pod = dep["spec"]["template"]["spec"]
        for c in pod["containers"] + pod.get("initContainers", []):
            res = c["resources"]
            assert res["requests"]["cpu"] and res["requests"]["memory"] and res["limits"]["memory"], (name, c["name"])
        for c in pod["containers"]:
            assert c["readinessProbe"] and c["livenessProbe"], (name, c["name"])
            assert ":" in c["image"] and not c["image"].endswith(":latest")


@pytest.mark.parametrize("stack", STACKS)
def test_network_policies_admit_only_clients(stack):
    pols = {n: o["spec"] for n, o in _kind(stack, "NetworkPolicy").items()}
    assert pols["default-deny-ingress"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    clients = {"namespaceSelector": {}, "podSelector": {"matchLabels": {"spark.pipeworks.io/client": "true"}}}
    for name in ("allow-master", "allow-history"):
        (rule,) = pols[name]["ingress"]
        assert rule["from"] == [{"podSelector": {}}, clients] and rule["ports"]
    (prom,) = pols["allow-prometheus"]["ingress"]
    assert prom["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]


@pytest.mark.parametrize("stack", STACKS)
def test_operator_waits_for_the_monitoring_crds(stack):
    mon = [r["urn"] for r in planned(stack) if r["type"] == "kubernetes:helm.sh/v3:Release"
           and r["inputs"]["name"] == "kube-prometheus-stack"]
    # Both shipped stacks run monitoring (the monitoring-off stack is tests/stacks/test_monitoring_off.py).
    assert mon, f"{stack} plans no kube-prometheus-stack release: this check lost its subject"
    spark = next(r for r in planned(stack) if r["type"] == "kubernetes:helm.sh/v3:Release"
                 and r["inputs"]["name"] == "spark-operator")
    assert mon[0] in spark["dependencies"]  # the chart's PodMonitor needs the CRD


def _env(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


@pytest.mark.parametrize("stack", STACKS)
def test_every_spark_process_runs_the_projects_s3a_image(stack):
    """The stock apache/spark images have no hadoop-aws (harness-facts §4a), so s3a:// fails wherever they run: the
    history server, master, workers and the seeding init container all run spark.image, which is the image of
    infra/services/spark/image/Dockerfile; the notebook profile is built FROM it."""
    from infra.config.jupyterhub import NOTEBOOK_IMAGE
    from infra.config.spark import SPARK_IMAGE

    images = {c["image"] for d in _kind(stack, "Deployment").values()
              for c in d["spec"]["template"]["spec"].get("initContainers", []) + d["spec"]["template"]["spec"]["containers"]}
    assert images == {SPARK_IMAGE}
    dockerfile = (REPO / "infra/services/jupyterhub/image/Dockerfile").read_text()
    assert f"ARG SPARK_IMAGE={SPARK_IMAGE}\nFROM ${{SPARK_IMAGE}}" in dockerfile
    profiles = {p["slug"]: p for p in releases(planned(stack))["jupyterhub"]["values"]["singleuser"]["profileList"]}
    assert profiles["cpu"]["kubespawner_override"]["image"] == NOTEBOOK_IMAGE


@pytest.mark.parametrize("stack", STACKS)
def test_history_server_seeds_its_event_log_prefix_first(stack):
    """FsHistoryProvider (Spark 4.0) stops on a missing log directory, and a new bucket has no `events/` prefix:
    an init container creates it with Hadoop's FsShell (`-mkdir -p`, an s3a directory marker) against the same
    endpoint and path-style settings, with the bucket's own credentials."""
    pod = _kind(stack, "Deployment")["spark-history"]["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    cmd = init["command"]
    assert cmd[:2] == ["/opt/spark/bin/spark-class", "org.apache.hadoop.fs.FsShell"]
    assert cmd[-3:] == ["-mkdir", "-p", "s3a://$(BUCKET_NAME)/events"]
    assert "-Dfs.s3a.path.style.access=true" in cmd
    assert any(c.startswith("-Dfs.s3a.endpoint=http://rook-ceph-rgw-") for c in cmd)
    (c,) = pod["containers"]
    assert init["envFrom"] == c["envFrom"]
    opts = _env(c)["SPARK_HISTORY_OPTS"]
    assert "-Dspark.history.fs.logDirectory=s3a://$(BUCKET_NAME)/events" in opts


@pytest.mark.parametrize("stack", STACKS)
def test_workers_decommission_gracefully_and_never_scale_down_on_cpu(stack):
    """A CPU HPA scale-down kills executors of idle-but-live sessions with their shuffle output. The HPA only
    scales up; a stopping worker gets SIGPWR (Worker.scala registers spark.worker.decommission.signal when
    spark.decommission.enabled) and waits for its executors' block migration; applications opt into shuffle/RDD
    block migration and are capped in cores; finished apps' work dirs are cleaned and the scratch is bounded."""
    worker = _kind(stack, "Deployment")["spark-worker"]["spec"]["template"]["spec"]
    (c,) = worker["containers"]
    opts = _env(c)["SPARK_WORKER_OPTS"]
    for flag in ("-Dspark.decommission.enabled=true", "-Dspark.worker.cleanup.enabled=true"):
        assert flag in opts
    assert c["lifecycle"]["preStop"]["exec"]["command"] == ["/bin/bash", "-c", "kill -PWR 1; sleep 120"]
    assert worker["terminationGracePeriodSeconds"] > 120
    hpa = _kind(stack, "HorizontalPodAutoscaler")["spark-worker"]["spec"]
    assert hpa["behavior"]["scaleDown"] == {"selectPolicy": "Disabled"}
    master = _kind(stack, "Deployment")["spark-master"]["spec"]["template"]["spec"]["containers"][0]
    assert _env(master)["SPARK_MASTER_OPTS"] == "-Dspark.deploy.defaultCores=4"
    conf = next(r["inputs"] for r in planned(stack) if r["inputs"].get("kind") == "ConfigMap"
                and r["inputs"]["metadata"]["name"] == "spark-defaults")["data"]["spark-defaults.conf"]
    for line in ("spark.cores.max 4", "spark.decommission.enabled true", "spark.storage.decommission.enabled true",
                 "spark.storage.decommission.shuffleBlocks.enabled true"):
        assert line + "\n" in conf
