"""The recommendations workload as the shipped dev and prod stacks declare it (the real program under the plan's
mocks): every object validates against the Kubernetes or upstream CRD schema (tests/schemas/crds, the structural
copies of the pinned spark-operator 2.5.2, Strimzi, Rook and Prometheus Operator CRDs), Spark executors are placed
on the NVMe RAID0 scratch pool through the platform's placement API with their local dirs on the array, s3a and
Kafka credentials arrive only by reference, the API is probed, autoscaled and budgeted, and the platform's
policies find nothing wrong with any of it."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest

from infra.placement import NvmeMode, Role, place
from infra.services.spark.spec import LOCAL_DIR_MOUNT, LOCAL_DIR_VOLUME
from pipeworks.plan import REPO_ROOT, validate
from policies.engine import Enforcement, evaluate
from policies.rules.model import Resource
from tests.infra.planned import core_validator, crd_validator, errors, planned
from workloads.recommendations import manifests as m
from workloads.recommendations.config import RecommendationsConfig

STACKS = ("dev", "prod")
COMPONENT = "pipeworks:workloads:Recommendations"
CRD_GROUPS = {"kafka.strimzi.io", "monitoring.coreos.com", "objectbucket.io", "ceph.rook.io", "sparkoperator.k8s.io"}


@functools.lru_cache(maxsize=None)
def recs_config(stack: str) -> RecommendationsConfig:
    _, cfg = validate(REPO_ROOT, stack)
    return cfg.workloads.recommendations  # type: ignore[union-attr]


def objects(stack: str, kind: str | None = None) -> list[dict[str, Any]]:
    """The Kubernetes objects the workload's component declares (its namespace's and the job namespace's)."""
    out = []
    for r in planned(stack):
        if r["custom"] and r["type"].startswith("kubernetes:") and COMPONENT in r["urn"]:
            if kind is None or r["inputs"]["kind"] == kind:
                out.append(r["inputs"])
    return out


def by_name(stack: str, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects(stack, kind)}


@pytest.fixture(scope="module", params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    return request.param


def test_stack_files_enable_the_workload_with_its_jobs_in_the_spark_job_namespace(stack: str) -> None:
    cfg = recs_config(stack)
    assert cfg.enabled and cfg.stream.enabled
    assert [r["name"] for r in planned(stack) if r["type"] == COMPONENT] == ["recommendations"]
    ns = by_name(stack, "Namespace")[cfg.namespace]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    # the operator only watches its job namespace; the claim whose Secret the drivers read must be there too
    for kind in ("ScheduledSparkApplication", "SparkApplication", "ObjectBucketClaim"):
        (obj,) = objects(stack, kind)
        assert obj["metadata"]["namespace"] == "spark", kind
    # the KafkaUser lives with the brokers; Strimzi generates its password and the Kafka component's copy
    # CronJob writes the user's Secret into the job namespace for the drivers (never the program: no Secret here)
    (stream,) = objects(stack, "SparkApplication")
    ref = {e["name"]: e for e in stream["spec"]["driver"]["env"]}["RS_KAFKA_PASSWORD"]["valueFrom"]["secretKeyRef"]
    copies = [{e["name"]: e["value"] for e in r["inputs"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
               ["containers"][0]["env"]} for r in planned(stack) if r["type"] == "kubernetes:batch/v1:CronJob"
              and r["inputs"]["metadata"]["name"].endswith("-sync-spark")]
    assert {"TARGET_NAMESPACE": "spark", "TARGET_SECRET": ref["name"]}.items() <= next(
        c for c in copies if c.get("TARGET_SECRET") == ref["name"]).items()


def test_objects_validate_against_their_schemas(stack: str) -> None:
    checked = set()
    for obj in objects(stack):
        kind, av = obj["kind"], obj["apiVersion"]
        if kind == "Secret":
            continue  # stringData is the scrubbed "[secret]" placeholder
        validator = crd_validator(av, kind) if av.split("/")[0] in CRD_GROUPS else core_validator(kind, av)
        assert errors(validator, obj) == [], f"{kind}/{obj['metadata']['name']}"
        checked.add(kind)
    assert checked >= {"Namespace", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
                       "NetworkPolicy", "ServiceMonitor", "PrometheusRule", "ObjectBucketClaim", "CephObjectStoreUser",
                       "KafkaTopic", "KafkaUser", "ScheduledSparkApplication", "SparkApplication"}


def test_the_schema_check_is_real() -> None:
    (als,) = objects("dev", "ScheduledSparkApplication")
    broken = json.loads(json.dumps(als))
    broken["spec"]["template"]["executor"]["instances"] = "two"
    broken["spec"]["template"]["type"] = "Python3"
    found = errors(crd_validator(als["apiVersion"], "ScheduledSparkApplication"), broken)
    assert any("instances" in e for e in found) and any("type" in e for e in found)


def spark_apps(stack: str) -> dict[str, dict[str, Any]]:
    """Application spec by name (the scheduled one's template)."""
    (als,) = objects(stack, "ScheduledSparkApplication")
    (stream,) = objects(stack, "SparkApplication")
    return {"als": als["spec"]["template"], "stream": stream["spec"]}


def test_executors_on_the_nvme_scratch_pool_drivers_on_the_general_pool(stack: str) -> None:
    scratch = place(Role.NVME, nvme_mode=NvmeMode.RAID0).pod_spec()
    general = place(Role.GENERAL).pod_spec()
    for name, app in spark_apps(stack).items():
        ex, drv = app["executor"], app["driver"]
        assert ex["nodeSelector"] == scratch["nodeSelector"] and ex["tolerations"] == scratch["tolerations"], name
        assert drv["nodeSelector"] == general["nodeSelector"], name
        # Spark's local dirs (shuffle, spills) on the array: the volume named spark-local-dir-* is what Spark on
        # Kubernetes uses as local dir (docs/running-on-kubernetes.md, "Using Volume for Spark local dirs")
        volumes = {v["name"]: v for v in app["volumes"]}
        assert LOCAL_DIR_VOLUME.startswith("spark-local-dir-") and LOCAL_DIR_VOLUME in volumes
        assert {"name": LOCAL_DIR_VOLUME, "mountPath": LOCAL_DIR_MOUNT} in [
            {k: v for k, v in mnt.items() if k in ("name", "mountPath")} for mnt in ex["volumeMounts"]]


def test_jobs_follow_the_config_and_read_s3a_with_the_claims_secret_by_reference(stack: str) -> None:
    cfg = recs_config(stack)
    apps = spark_apps(stack)
    (scheduled,) = objects(stack, "ScheduledSparkApplication")
    assert scheduled["spec"]["schedule"] == cfg.batch.schedule and scheduled["spec"]["concurrencyPolicy"] == "Forbid"
    claim = m.claim_name(cfg)
    for name, app in apps.items():
        assert app["image"] == cfg.jobs_image.ref() and app["mainApplicationFile"] == m.MAIN_FILE
        assert app["arguments"] == [name] and app["sparkVersion"] == "4.0.4"
        assert app["sparkConf"]["spark.hadoop.fs.s3a.path.style.access"] == "true"
        assert not any("access.key" in k and "${env." not in v for k, v in app["sparkConf"].items())
        for role in ("driver", "executor"):
            env = {e["name"]: e for e in app[role]["env"]}
            for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
                assert env[var]["valueFrom"]["secretKeyRef"]["name"] == claim, (name, role, var)
    env = {e["name"]: e.get("value") for e in apps["als"]["driver"]["env"]}
    bucket = m.bucket_name(cfg)
    assert env["RS_RATINGS_PATH"] == f"s3a://{bucket}/{cfg.batch.ratings_prefix}/"
    assert (env["RS_RANK"], env["RS_MAX_ITER"], env["RS_IMPLICIT"]) == (
        str(cfg.batch.rank), str(cfg.batch.max_iter), str(cfg.batch.implicit).lower())
    assert float(env["RS_REG_PARAM"]) == cfg.batch.reg_param
    assert apps["als"]["executor"]["instances"] == cfg.batch.executor.instances
    stream_env = {e["name"]: e for e in apps["stream"]["driver"]["env"]}
    assert stream_env["RS_CHECKPOINT"]["value"] == f"s3a://{bucket}/checkpoints/clicks"  # on object storage
    assert stream_env["RS_KAFKA_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "password"
    assert apps["stream"]["restartPolicy"]["type"] == "Always"


def test_no_secret_in_plain_text(stack: str) -> None:
    """Every credential-like variable of every container comes from a Secret, never a literal value."""
    specs = [c for d in objects(stack, "Deployment") for c in d["spec"]["template"]["spec"]["containers"]]
    specs += [app[role] for app in spark_apps(stack).values() for role in ("driver", "executor")]
    seen = 0
    for c in specs:
        for e in c.get("env", []):
            if any(w in e["name"] for w in ("SECRET", "PASSWORD", "ACCESS_KEY", "JAAS")):
                assert "value" not in e and "secretKeyRef" in e["valueFrom"], e["name"]
                seen += 1
    assert seen >= 8


def test_api_is_probed_autoscaled_budgeted_and_reads_with_the_serving_user(stack: str) -> None:
    cfg = recs_config(stack)
    dep = by_name(stack, "Deployment")[m.API_NAME]
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz" and c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["securityContext"]["readOnlyRootFilesystem"] and pod["securityContext"]["runAsNonRoot"]
    env = {e["name"]: e for e in c["env"]}
    user_secret = env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"]
    (user,) = objects(stack, "CephObjectStoreUser")
    assert user["metadata"]["name"] == m.serving_user(cfg) and user_secret.endswith(m.serving_user(cfg))
    hpa = by_name(stack, "HorizontalPodAutoscaler")[m.API_NAME]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (cfg.api.min_replicas, cfg.api.max_replicas)
    pdb = by_name(stack, "PodDisruptionBudget")[m.API_NAME]["spec"]
    assert pdb["minAvailable"] == cfg.api.min_replicas - 1
    assert pdb["selector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    svc = by_name(stack, "Service")[m.API_NAME]["spec"]
    assert svc["selector"] == dep["spec"]["selector"]["matchLabels"]


def test_bucket_policy_lets_the_api_read_only_the_published_versions(stack: str) -> None:
    cfg = recs_config(stack)
    (claim,) = objects(stack, "ObjectBucketClaim")
    policy = json.loads(claim["spec"]["additionalConfig"]["bucketPolicy"])
    (grant,) = policy["Statement"]
    assert grant["Action"] == ["s3:GetObject"]
    assert grant["Resource"] == [f"arn:aws:s3:::{m.bucket_name(cfg)}/{m.MODEL_PREFIX}/*"]


def test_kafka_user_may_only_read_the_clicks_topic(stack: str) -> None:
    cfg = recs_config(stack)
    (user,) = objects(stack, "KafkaUser")
    acls = user["spec"]["authorization"]["acls"]
    ops = {(a["resource"]["type"], a["resource"]["name"], a["resource"]["patternType"]): set(a["operations"])
           for a in acls}
    assert ops == {("topic", cfg.stream.topic, "literal"): {"Describe", "Read"},
                   ("group", m.GROUP_PREFIX, "prefix"): {"Read"}}
    (topic,) = objects(stack, "KafkaTopic")
    assert topic["spec"]["partitions"] == cfg.stream.partitions


def test_network_policies(stack: str) -> None:
    pols = by_name(stack, "NetworkPolicy")
    assert pols["default-deny-ingress"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    egress_ns = {p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                 for rule in pols["recommendations-api-egress"]["spec"]["egress"] for p in rule["to"]}
    assert egress_ns == {"rook-ceph", "kube-system"}
    ingress_ns = {p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                  for rule in pols["recommendations-api-ingress"]["spec"]["ingress"] for p in rule["from"]
                  if "namespaceSelector" in p}
    assert ingress_ns == {"monitoring"}


def test_policies_find_nothing_wrong_with_the_workload(stack: str) -> None:
    records = planned(stack)
    resources = [Resource(urn=r["urn"], type=r["type"], name=r["name"], props=r["inputs"], parent=r["parent"],
                          dependencies=tuple(r["dependencies"])) for r in records]
    report = evaluate(resources, Enforcement.for_environment(stack))
    mine = [f"{v.policy}: {v.resource}: {v.message}" for v in report.violations if COMPONENT in v.resource]
    assert mine == []
    kinds = {r.kind for r in resources if COMPONENT in r.urn}
    assert {"Deployment", "ScheduledSparkApplication", "SparkApplication"} <= kinds


def test_policies_do_judge_the_spark_executors_placement() -> None:
    """A policy must see these objects: an executor moved off the scratch pool is a violation."""
    records = json.loads(json.dumps(planned("prod")))
    for r in records:
        if COMPONENT in r["urn"] and r["inputs"].get("kind") == "SparkApplication":
            r["inputs"]["spec"]["executor"]["nodeSelector"] = place(Role.GENERAL).pod_spec()["nodeSelector"]
            r["inputs"]["spec"]["executor"].pop("tolerations", None)
    resources = [Resource(urn=r["urn"], type=r["type"], name=r["name"], props=r["inputs"], parent=r["parent"],
                          dependencies=tuple(r["dependencies"])) for r in records]
    report = evaluate(resources, Enforcement.for_environment("prod"))
    assert any(COMPONENT in v.resource and "SparkApplication" in v.resource for v in report.violations), \
        [v.policy for v in report.violations]
