"""JupyterHub: profiles, notebook environment (credentials only by reference), network reach to Spark and
the object store, and the component in the plans."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from infra.config import StackConfigError, load_stack_config
from infra.config.jupyterhub import JupyterHubConfig
from infra.placement import GPU_RESOURCE, LABEL_ROLE, TAINT_GPU
from infra.services.jupyterhub import hub_values, notebook_env, spark_defaults
from infra.services.spark.spec import CLIENT_LABEL
from pipeworks.plan import validate
from policies.rules.instances import shape
from tests.infra.service_plans import NAMESPACES, REPO, in_namespace, planned, release

NS = NAMESPACES["jupyterhub"]


@dataclass
class FakeBucket:
    secret_name: str = "notebooks"
    configmap_name: str = "notebooks"
    endpoint: str = "http://rook-ceph-rgw-store.rook-ceph.svc:80"


def values(**kw):
    args = dict(gpu_profile=True, block_class="ceph-block", env={}, extra_labels={}, egress_namespaces=["spark"],
                ingress_namespaces=["spark"], spark_conf_mounted=True)
    args.update(kw)
    return hub_values(JupyterHubConfig(), **args)


def test_cpu_profile_on_general_gpu_profile_on_the_gpu_pool():
    profiles = {p["slug"]: p for p in values()["singleuser"]["profileList"]}
    assert list(profiles) == ["cpu", "gpu"] and profiles["cpu"]["default"] is True
    cpu, gpu = profiles["cpu"]["kubespawner_override"], profiles["gpu"]["kubespawner_override"]
    assert cpu["node_selector"] == {LABEL_ROLE: "general"} and GPU_RESOURCE not in cpu.get("extra_resource_limits", {})
    assert gpu["node_selector"] == {LABEL_ROLE: "gpu"}
    assert gpu["extra_resource_limits"] == {GPU_RESOURCE: "1"} == gpu["extra_resource_guarantees"]
    assert [t["key"] for t in gpu["tolerations"]] == [TAINT_GPU]
    for p in (cpu, gpu):
        assert p["mem_guarantee"] and p["mem_limit"] and p["cpu_guarantee"] > 0 and p["cpu_limit"] >= p["cpu_guarantee"]
        assert ":" in p["image"] and not p["image"].endswith(":latest")
    assert cpu["cpu_guarantee"] == 0.5  # '500m' as KubeSpawner's float of cores
    assert [p["slug"] for p in values(gpu_profile=False)["singleuser"]["profileList"]] == ["cpu"]


def test_notebook_credentials_come_from_the_bucket_secret_never_inline():
    env = notebook_env(bucket=FakeBucket(), spark_master="spark://spark-master.spark.svc:7077")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert env[key]["valueFrom"]["secretKeyRef"] == {"name": "notebooks", "key": key}
    for key in ("BUCKET_HOST", "BUCKET_PORT", "BUCKET_NAME"):
        assert env[key]["valueFrom"]["configMapKeyRef"]["name"] == "notebooks"
    assert env["SPARK_MASTER"] == "spark://spark-master.spark.svc:7077"
    # Executors must reach the client-mode driver: it advertises SPARK_LOCAL_HOSTNAME (the pod IP), not the pod's
    # unresolvable hostname jupyter-<user>.
    assert env["SPARK_LOCAL_HOSTNAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert env["SPARK_CONF_DIR"] == "/etc/spark/conf"
    assert notebook_env(bucket=None, spark_master=None) == {}


def test_network_policies_reach_spark_and_the_store_and_block_the_metadata_server():
    v = values(egress_namespaces=["rook-ceph", "spark"])
    hub, su = v["hub"], v["singleuser"]
    assert hub["networkPolicy"]["enabled"] and v["proxy"]["chp"]["networkPolicy"]["enabled"]
    np = su["networkPolicy"]
    assert np["enabled"] and np["egressAllowRules"]["cloudMetadataServer"] is False
    assert su["cloudMetadata"]["blockWithIptables"] is False, "no privileged init container"
    peers = [p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in np["egress"][0]["to"]]
    assert peers == ["rook-ceph", "spark"]
    assert np["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "spark"}
    assert values(egress_namespaces=[], ingress_namespaces=[])["singleuser"]["networkPolicy"]["egress"] == []


def test_spark_defaults_renders_and_refuses_injection():
    text = spark_defaults({"spark.master": "spark://m:7077", "spark.hadoop.fs.s3a.path.style.access": "true"})
    assert text == "spark.hadoop.fs.s3a.path.style.access true\nspark.master spark://m:7077\n"
    with pytest.raises(ValueError, match="no newlines"):
        spark_defaults({"spark.master": "x\nspark.evil true"})


def test_bad_config_names_the_key():
    with pytest.raises(Exception, match="pinned tag"):
        JupyterHubConfig.model_validate({"cpuProfile": {"image": "quay.io/jupyter/pyspark-notebook:latest",
                                                        "resources": {"cpu": "1", "memory": "2Gi"}}})
    platform = {"environment": "dev", "cluster": {"eks": {"publicAccessCidrs": ["198.51.100.0/24"]}},
                "gpu": {"enabled": False},
                "jupyterhub": {"gpuProfile": {"image": "quay.io/jupyter/pytorch-notebook:cuda12-2025-08-18",
                                              "resources": {"cpu": "1", "memory": "4Gi"}}}}
    with pytest.raises(StackConfigError) as e:
        load_stack_config({"pipeworks:platform": platform}, set(), stack="dev", file="Pulumi.dev.yaml")
    assert "pipeworks:platform.jupyterhub.gpuProfile=set needs gpu.enabled: true" in str(e.value)
    stacks = {"environment": "dev", "cluster": {"eks": {"publicAccessCidrs": ["198.51.100.0/24"]}},
              "jupyterhub": {"cpuProfile": {"image": "quay.io/jupyter/pyspark-notebook:spark-4.0.1",
                                            "resources": {"cpu": "1", "memory": "4Gi"}}}}
    with pytest.raises(StackConfigError) as e:
        load_stack_config({"pipeworks:platform": stacks}, set(), stack="dev", file="Pulumi.dev.yaml")
    assert ('pipeworks:platform.jupyterhub.cpuProfile.image="quay.io/jupyter/pyspark-notebook:spark-4.0.1" is a Jupyter '
            "docker-stacks image: its Python differs from the Spark workers'") in str(e.value)
    stacks["spark"] = {"enabled": False}  # no standalone cluster to match
    assert load_stack_config({"pipeworks:platform": stacks}, set(), stack="dev").platform.jupyterhub.enabled


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_plan_wires_spark_bucket_and_profiles(stack):
    recs = planned(stack)
    rel = release(recs, "jupyterhub")
    assert rel["chart"] == "jupyterhub" and rel["version"] == "4.4.0"
    assert rel["repositoryOpts"]["repo"] == "https://hub.jupyter.org/helm-chart/"
    su = rel["values"]["singleuser"]
    assert [p["slug"] for p in su["profileList"]] == ["cpu", "gpu"]
    assert su["extraEnv"]["SPARK_MASTER"] == "spark://spark-master.spark.svc:7077"
    assert su["extraEnv"]["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "notebooks"
    assert su["extraLabels"][CLIENT_LABEL] == "true", "the Spark master admits labelled clients only"
    objs = in_namespace(recs, NS)
    obc = [o for o in objs if o["kind"] == "ObjectBucketClaim"]
    assert [o["metadata"]["name"] for o in obc] == ["notebooks"]
    conf = [o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "spark-defaults"][0]
    text = conf["data"]["spark-defaults.conf"]
    assert "spark.hadoop.fs.s3a.endpoint http://" in text and "spark.master spark://" in text
    assert "access.key" not in text and "secret.key" not in text
    mount = su["storage"]["extraVolumeMounts"][0]
    assert mount["mountPath"] == su["extraEnv"]["SPARK_CONF_DIR"] and mount["readOnly"] is True
    assert su["storage"]["dynamic"]["storageClass"] == "ceph-block"


def _bytes(q: str) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    for u, f in units.items():
        if q.endswith(u):
            return float(q[: -len(u)]) * f
    return float(q)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_profiles_fit_the_smallest_node_of_their_pool(stack):
    """A notebook that asks more than a node offers would wait forever (the autoscaler cannot help)."""
    cfg = validate(REPO, stack)[1].platform
    profiles = {p["slug"]: p["kubespawner_override"] for p in
                release(planned(stack), "jupyterhub")["values"]["singleuser"]["profileList"]}
    for slug, role in (("cpu", "general"), ("gpu", "gpu")):
        nodes = [shape(t) for p in cfg.node_pools if p.role.value == role for t in p.instance_types]
        smallest = min((n for n in nodes if n), key=lambda n: (n.cpu, n.memory))
        o = profiles[slug]
        # room for the node agents (Filebeat, node-exporter, GPU operands) beside the notebook
        assert o["cpu_guarantee"] + 0.5 <= smallest.cpu, (slug, smallest.source)
        assert _bytes(o["mem_guarantee"]) + 1.5 * 2**30 <= smallest.memory, (slug, smallest.source)


def _guarded_authenticator(monkeypatch, password: str | None):
    """Run the hub's extraConfig snippet against a stand-in for nativeauthenticator's create_user, whose upstream
    behaviour (nativeauthenticator.py) authorizes any sign-up named in admin_users."""
    import sys
    import types

    from infra.services.jupyterhub import ADMIN_GUARD, ADMIN_PASSWORD_ENV

    class NativeAuthenticator:
        admin_users = {"admin"}

        def normalize_username(self, name):
            return name.lower()

        def create_user(self, username, pw, **kwargs):
            return {"username": username, "is_authorized": username in self.admin_users}

    monkeypatch.setitem(sys.modules, "nativeauthenticator", types.SimpleNamespace(NativeAuthenticator=NativeAuthenticator))
    if password is None:
        monkeypatch.delenv(ADMIN_PASSWORD_ENV, raising=False)
    else:
        monkeypatch.setenv(ADMIN_PASSWORD_ENV, password)
    exec(compile(ADMIN_GUARD, "extraConfig/pipeworks-admin-guard", "exec"), {})
    return NativeAuthenticator()


def test_only_the_generated_password_signs_up_the_admin(monkeypatch):
    auth = _guarded_authenticator(monkeypatch, "s3cret-generated-pw")
    assert auth.create_user("Admin", "first-come-first-served") is None
    assert auth.create_user("admin", "s3cret-generated-pw") == {"username": "admin", "is_authorized": True}
    assert auth.create_user("alice", "any-password-1") == {"username": "alice", "is_authorized": False}
    assert _guarded_authenticator(monkeypatch, None).create_user("admin", "") is None, "no Secret: no admin sign-up"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_hub_reads_the_admin_password_from_a_generated_secret(stack):
    from infra.services.jupyterhub import ADMIN_PASSWORD_ENV, ADMIN_SECRET

    recs = planned(stack)
    hub = release(recs, "jupyterhub")["values"]["hub"]
    assert hub["config"]["Authenticator"]["admin_users"] == ["admin"]
    assert "pipeworks-admin-guard" in hub["extraConfig"]
    assert hub["extraEnv"][ADMIN_PASSWORD_ENV]["valueFrom"]["secretKeyRef"] == {"name": ADMIN_SECRET, "key": "password"}
    (secret,) = [o for o in in_namespace(recs, NS) if o["kind"] == "Secret" and o["metadata"]["name"] == ADMIN_SECRET]
    assert secret["stringData"] == {"password": "[secret]"}
