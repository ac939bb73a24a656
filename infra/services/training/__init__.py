"""The Kubeflow training-operator v1.9.4 for TFJob (`kubeflow.org/v1`): distributed TensorFlow training jobs
of the workloads (workloads/edgevision). TFJob rather than Kubeflow Trainer v2.3.0's TrainJob: v2 has no
TensorFlow runtime upstream (its built-in runtimes are torch, deepspeed, jax, mlx, xgboost), so a TrainJob would
need a ClusterTrainingRuntime of our own plus JobSet, while TFJob writes the TF_CONFIG cluster spec that
`MultiWorkerMirroredStrategy` reads into every replica itself.

Upstream ships the operator as kustomize manifests (no Helm chart at v1.9.4), so the objects are declared
here from the pure specs of `spec.py`; the CRD (611 kB of generated schema) is loaded from the release's file,
or from a local copy for air-gapped clusters (`training.crdSource`), before anything that uses it."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.config.training import TrainingConfig
from infra.context import PlatformContext
from infra.services.training import spec

__all__ = ["TrainingOperator", "TrainingOperatorArgs"]


@dataclass(frozen=True)
class TrainingOperatorArgs:
    cfg: TrainingConfig
    ctx: PlatformContext  # provider, monitoring namespace


class TrainingOperator(pulumi.ComponentResource):
    """pipeworks:services:TrainingOperator"""

    def __init__(self, name: str, args: TrainingOperatorArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pipeworks:services:TrainingOperator", name, None, opts)
        cfg, ns = args.cfg, args.cfg.namespace
        self.namespace = ns
        base = pulumi.ResourceOptions(parent=self, provider=args.ctx.provider)

        def after(*deps: pulumi.Resource, **extra: object) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=list(deps), **extra))

        def meta(obj: str, namespaced: bool = True) -> dict:
            out = {"name": obj, "labels": {"app.kubernetes.io/part-of": "training-operator"}}
            return {**out, "namespace": ns} if namespaced else out

        # the loader refused a crdSource that is not a file (TrainingConfig.stack_problems)
        source = cfg.crd_path() or spec.crd_url(cfg.version)
        # Everything that declares a TFJob waits for this (`ready`).
        self.crd = k8s.yaml.v2.ConfigFile(f"{name}-crd", file=source, opts=base)
        self.ns = k8s.core.v1.Namespace(f"{name}-ns", metadata={"name": ns, "labels": spec.namespace_labels()},
                                        opts=base)
        sa = k8s.core.v1.ServiceAccount(f"{name}-sa", metadata=meta(spec.NAME), opts=after(self.ns))
        role = k8s.rbac.v1.ClusterRole(f"{name}-role", metadata=meta(spec.NAME, False),
                                       rules=spec.cluster_role_rules(), opts=base)
        binding = k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-binding", metadata=meta(spec.NAME, False),
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": spec.NAME},
            subjects=[{"kind": "ServiceAccount", "name": spec.NAME, "namespace": ns}], opts=after(role, sa))
        # Empty: the operator's cert controller writes the CA and serving certificate into it (and the CA into
        # the webhook's caBundle), so Pulumi must not put back what it did not write.
        cert = k8s.core.v1.Secret(f"{name}-webhook-cert", metadata=spec.webhook_secret_metadata(ns), type="Opaque",
                                  opts=after(self.ns, ignore_changes=["data", "stringData"]))
        service = k8s.core.v1.Service(f"{name}-svc", metadata=meta(spec.NAME), spec=spec.service_spec(),
                                      opts=after(self.ns))
        self.deployment = k8s.apps.v1.Deployment(f"{name}-operator", metadata=meta(spec.NAME),
                                                 spec=spec.deployment_spec(cfg),
                                                 opts=after(binding, cert, service, self.crd))
        self.webhook = k8s.admissionregistration.v1.ValidatingWebhookConfiguration(
            f"{name}-webhook", metadata=meta(spec.WEBHOOK_CONFIG, False), webhooks=spec.webhooks(ns),
            opts=after(self.deployment, ignore_changes=["webhooks[0].clientConfig.caBundle"]))
        for pol, pol_spec in spec.network_policies(args.ctx.monitoring_namespace).items():
            k8s.networking.v1.NetworkPolicy(f"{name}-{pol}", metadata=meta(pol), spec=pol_spec, opts=after(self.ns))
        # A TFJob needs the CRD and, since the webhook fails closed, a running operator behind it.
        self.ready: tuple[pulumi.Resource, ...] = (self.crd, self.webhook)
        self.register_outputs({"namespace": ns, "version": cfg.version, "image": spec.image(cfg)})
