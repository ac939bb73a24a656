"""JupyterHub (zero-to-jupyterhub) for data scientists, as in the report's figure 2-2: notebooks reach the
standalone Spark cluster (client mode) and a shared Ceph bucket whose credentials come from the bucket
claim's Secret; a CPU (PySpark) profile on the general pool and a GPU profile that lands on the GPU pool.

Chart pin: zero-to-jupyterhub 4.4.0 (see infra/config/jupyterhub.py `chart_version`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra.config.jupyterhub import JupyterHubConfig, NotebookProfile
from infra.context import PlatformContext
from infra.placement import Role, gpu_limits, place
from infra.podsecurity import pod_security_labels
from infra.storage import StorageHandle
from infra.storage.specs import OBC_CONFIGMAP_KEYS, OBC_SECRET_KEYS

__all__ = ["JupyterHub", "JupyterHubArgs", "hub_values", "spark_defaults"]

CHART = "jupyterhub"
CHART_REPO = "https://hub.jupyter.org/helm-chart/"
RELEASE = "jupyterhub"
SPARK_DEFAULTS_CM = "spark-defaults"
# Spark reads spark-defaults.conf from SPARK_CONF_DIR whatever the image's SPARK_HOME is.
SPARK_CONF_DIR = "/etc/spark/conf"


ADMIN_USER = "admin"
ADMIN_SECRET = "jupyterhub-admin"  # key `password`: the only password the `admin` account can be signed up with
ADMIN_PASSWORD_ENV = "PIPEWORKS_HUB_ADMIN_PASSWORD"

# hub.extraConfig: NativeAuthenticator authorizes any sign-up whose name is in admin_users
# (nativeauthenticator.py create_user: `if username in self.admin_users or self.open_signup: is_authorized`), so
# whoever signs up first as `admin` would own the hub. Guard it: an admin account is created only with the
# generated password from the Secret above (operators read it with kubectl); everyone else still waits for an
# admin's approval.
ADMIN_GUARD = f"""
import hmac
import os

from nativeauthenticator import NativeAuthenticator

_pipeworks_create_user = NativeAuthenticator.create_user


def _create_user_with_admin_guard(self, username, pw, **kwargs):
    if self.normalize_username(username) in self.admin_users:
        expected = os.environ.get("{ADMIN_PASSWORD_ENV}", "")
        if not expected or not hmac.compare_digest((pw or "").encode(), expected.encode()):
            return None
    return _pipeworks_create_user(self, username, pw, **kwargs)


NativeAuthenticator.create_user = _create_user_with_admin_guard
"""


def _ns_peer(namespace: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}


def spark_defaults(conf: dict[str, str]) -> str:
    """spark-defaults.conf text: one `key value` line per setting, sorted for stable diffs."""
    for k, v in conf.items():
        if "\n" in k or "\n" in v or " " in k:
            raise ValueError(f"spark conf {k!r}: keys may not contain spaces and values no newlines")
    return "".join(f"{k} {v}\n" for k, v in sorted(conf.items()))


def _profile(slug: str, display: str, description: str, p: NotebookProfile, *, default: bool,
             role: Role) -> dict[str, Any]:
    placement = place(role)
    limits = p.resources.k8s()["limits"]
    override: dict[str, Any] = {
        "image": p.image,
        "cpu_guarantee": _cpu(p.resources.cpu),
        "mem_guarantee": p.resources.memory,
        "mem_limit": limits["memory"],
        "node_selector": placement.node_selector,
    }
    if "cpu" in limits:
        override["cpu_limit"] = _cpu(limits["cpu"])
    if role is Role.GPU:
        override["extra_resource_limits"] = gpu_limits(1)
        override["extra_resource_guarantees"] = gpu_limits(1)
        override["tolerations"] = placement.toleration_list()
    return {"display_name": display, "slug": slug, "description": description, "default": default,
            "kubespawner_override": override}


def _cpu(q: str) -> float:
    """KubeSpawner takes CPU as a float of cores."""
    return float(q[:-1]) / 1000 if q.endswith("m") else float(q)


def hub_values(cfg: JupyterHubConfig, *, gpu_profile: bool, block_class: str | None, env: dict[str, Any],
               extra_labels: dict[str, str],
               egress_namespaces: list[str], ingress_namespaces: list[str],
               spark_conf_mounted: bool) -> dict[str, Any]:
    """zero-to-jupyterhub values (jupyterhub/values.yaml of the 4.x chart)."""
    general = place(Role.GENERAL)
    cpu_image, cpu_tag = cfg.cpu_profile.image.rsplit(":", 1)
    profiles = [_profile("cpu", "CPU (PySpark)", "PySpark notebook on the general pool; Spark and the shared "
                         "bucket are preconfigured.", cfg.cpu_profile, default=True, role=Role.GENERAL)]
    if gpu_profile and cfg.gpu_profile is not None:
        profiles.append(_profile("gpu", "GPU (PyTorch, 1 GPU)", "PyTorch/CUDA notebook with one whole GPU on the "
                                 "GPU pool.", cfg.gpu_profile, default=False, role=Role.GPU))
    storage: dict[str, Any] = {"capacity": cfg.storage_size, "dynamic": {"storageClass": block_class}}
    if spark_conf_mounted:
        storage["extraVolumes"] = [{"name": "spark-defaults", "configMap": {"name": SPARK_DEFAULTS_CM}}]
        storage["extraVolumeMounts"] = [{"name": "spark-defaults", "mountPath": SPARK_CONF_DIR, "readOnly": True}]
    hub_db: dict[str, Any] = {"type": "sqlite-pvc", "pvc": {"storage": "1Gi"}}
    if block_class:
        hub_db["pvc"]["storageClassName"] = block_class
    return {
        "hub": {
            "resources": cfg.hub_resources.k8s(),
            "nodeSelector": general.node_selector,
            "networkPolicy": {"enabled": True},
            "db": hub_db,
            # Sign-up with admin approval; passwords are stored hashed in the hub database. Swap for an
            # OAuthenticator once the organisation's identity provider is known.
            "config": {"JupyterHub": {"authenticator_class": "nativeauthenticator.NativeAuthenticator"},
                       "NativeAuthenticator": {"open_signup": False, "minimum_password_length": 12,
                                               "check_common_password": True},
                       "Authenticator": {"admin_users": [ADMIN_USER]}},
            "extraConfig": {"pipeworks-admin-guard": ADMIN_GUARD},
            "extraEnv": {ADMIN_PASSWORD_ENV: {"name": ADMIN_PASSWORD_ENV, "valueFrom": {"secretKeyRef": {
                "name": ADMIN_SECRET, "key": "password"}}}},
        },
        "proxy": {
            "service": {"type": "ClusterIP"},
            "chp": {"resources": cfg.proxy_resources.k8s(), "nodeSelector": general.node_selector,
                    "networkPolicy": {"enabled": True}},
        },
        "singleuser": {
            "image": {"name": cpu_image, "tag": cpu_tag},
            "defaultUrl": "/lab",
            "nodeSelector": general.node_selector,
            "cpu": {"guarantee": _cpu(cfg.cpu_profile.resources.cpu)},
            "memory": {"guarantee": cfg.cpu_profile.resources.memory, "limit": cfg.cpu_profile.resources.memory},
            # The chart's iptables init container is privileged; the NetworkPolicy below blocks the
            # metadata server instead (egressAllowRules.cloudMetadataServer: false).
            "cloudMetadata": {"blockWithIptables": False},
            "networkPolicy": {
                "enabled": True,
                "egressAllowRules": {"cloudMetadataServer": False, "privateIPs": False, "nonPrivateIPs": True,
                                     "dnsPortsKubeSystemNamespace": True, "dnsPortsPrivateIPs": True},
                # Spark master/workers and the object store; Spark executors call back into the driver.
                "egress": [{"to": [_ns_peer(ns) for ns in egress_namespaces]}] if egress_namespaces else [],
                "ingress": [{"from": [_ns_peer(ns) for ns in ingress_namespaces]}] if ingress_namespaces else [],
            },
            "extraLabels": {"hub.jupyter.org/network-access-hub": "true", **extra_labels},
            "extraEnv": env,
            "storage": storage,
            "profileList": profiles,
        },
        # The user scheduler and placeholders pin a kube-scheduler binary and keep idle capacity: the
        # cluster-autoscaler is enough here. Pre-pullers would start pods on every node, GPU nodes included.
        "scheduling": {"userScheduler": {"enabled": False}, "userPlaceholder": {"enabled": False},
                       "podPriority": {"enabled": False}},
        "prePuller": {"hook": {"enabled": False}, "continuous": {"enabled": False}},
        "cull": {"enabled": True, "timeout": cfg.cull_after_seconds, "every": 600},
    }


def notebook_env(*, bucket: Any | None, spark_master: str | None) -> dict[str, Any]:
    """Notebook environment: bucket credentials and location from the claim's Secret and ConfigMap (never
    inlined), the Spark master, and the pod IP Spark executors must call back to (client mode)."""
    env: dict[str, Any] = {}
    if bucket is not None:
        for key in OBC_SECRET_KEYS:
            env[key] = {"name": key, "valueFrom": {"secretKeyRef": {"name": bucket.secret_name, "key": key}}}
        for key in OBC_CONFIGMAP_KEYS:
            env[key] = {"name": key, "valueFrom": {"configMapKeyRef": {"name": bucket.configmap_name, "key": key}}}
        env["S3_ENDPOINT_URL"] = bucket.endpoint
    if spark_master:
        env["SPARK_MASTER"] = spark_master
        env["SPARK_CONF_DIR"] = SPARK_CONF_DIR
        # A client-mode driver advertises Utils.localHostName(): the pod's hostname `jupyter-<user>`, which no
        # executor can resolve. SPARK_LOCAL_HOSTNAME overrides it (the default of spark.driver.host), so
        # executors call back to the pod IP; the NetworkPolicy admits them from the Spark namespace.
        env["SPARK_LOCAL_HOSTNAME"] = {"name": "SPARK_LOCAL_HOSTNAME",
                                       "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
    return env


@dataclass(frozen=True)
class JupyterHubArgs:
    cfg: JupyterHubConfig
    ctx: PlatformContext  # provider, cluster kind, pools, across_zones, monitoring namespace and CRD owners, storage readiness
    storage: StorageHandle | None  # bucket(), s3_endpoint, namespace; None when storage is off
    spark: Any | None  # Spark: master_url, sparkconf_s3a(), client_labels, namespace; None when Spark is off
    block_class: str | None
    gpu_profile: bool = True  # JupyterHubConfig.gpu_offered(platform): a GPU pool and the GPU operator exist


class JupyterHub(pulumi.ComponentResource):
    """pipeworks:services:JupyterHub"""

    def __init__(self, name: str, args: JupyterHubArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pipeworks:services:JupyterHub", name, None, opts)
        cfg = args.cfg
        ns = self.namespace = cfg.namespace
        base = pulumi.ResourceOptions(parent=self, provider=args.ctx.provider)
        self.ns = k8s.core.v1.Namespace(f"{name}-ns", metadata={"name": ns, "labels": pod_security_labels("baseline", "restricted")}, opts=base)
        after_ns = pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=[self.ns]))
        deps: list[pulumi.Resource] = [self.ns]
        self.bucket = None
        egress: list[str] = []
        ingress: list[str] = []
        if args.storage is not None:
            self.bucket = args.storage.bucket(cfg.bucket, ns, parent=self, depends_on=[self.ns])
            deps.append(self.bucket.claim)
            egress.append(args.storage.namespace)
        spark_master = None
        extra_labels: dict[str, str] = {}
        spark_conf_mounted = False
        if args.spark is not None:
            spark_master = args.spark.master_url
            extra_labels.update(args.spark.client_labels)
            egress.append(args.spark.namespace)
            ingress.append(args.spark.namespace)
            conf = {"spark.master": spark_master, **args.spark.client_conf()}
            if args.storage is not None:
                conf.update(args.spark.sparkconf_s3a(args.storage.s3_endpoint))
            deps.append(k8s.core.v1.ConfigMap(
                f"{name}-spark-defaults", metadata={"name": SPARK_DEFAULTS_CM, "namespace": ns},
                data={"spark-defaults.conf": spark_defaults(conf)}, opts=after_ns))
            spark_conf_mounted = True
        # Default providers are disabled for the whole project (Pulumi.yaml): pulumi-random needs its own.
        random_provider = random.Provider(f"{name}-random", opts=pulumi.ResourceOptions(parent=self))
        admin_password = random.RandomPassword(f"{name}-admin-password", length=24, special=False,
                                               opts=pulumi.ResourceOptions(parent=self, provider=random_provider))
        deps.append(k8s.core.v1.Secret(
            f"{name}-admin", metadata={"name": ADMIN_SECRET, "namespace": ns},
            string_data={"password": pulumi.Output.secret(admin_password.result)}, opts=after_ns))
        values = hub_values(cfg, gpu_profile=args.gpu_profile, block_class=args.block_class,
                            env=notebook_env(bucket=self.bucket, spark_master=spark_master),
                            extra_labels=extra_labels, egress_namespaces=egress, ingress_namespaces=ingress,
                            spark_conf_mounted=spark_conf_mounted)
        self.release = k8s.helm.v3.Release(
            f"{name}-hub", name=RELEASE, chart=CHART, version=cfg.chart_version, namespace=ns,
            repository_opts={"repo": CHART_REPO}, values=values,
            opts=pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=deps)))
        self.register_outputs({"namespace": ns, "release": self.release.name,
                               "profiles": [p["slug"] for p in values["singleuser"]["profileList"]]})
