"""A Secret whose values the cluster generates (a Job of the stack), so the platform never holds them.

    admin = GeneratedSecret("grafana-admin", GeneratedSecretArgs(
        provider=k8s_provider, namespace="monitoring", secret="grafana-admin", generated_keys=("admin-password",),
        literal={"admin-user": "admin"}), opts=ResourceOptions(parent=self, depends_on=[ns]))
    # consumers reference Secret `grafana-admin` by name; admin.ready (the Job) can go into their depends_on.

What happens to the value (docs/ARCHITECTURE.md, "Generated secrets"): generated once by the first run of
the Job (infra/secretgen/generate.py) and kept for the life of the Secret: `pulumi up` again, `pulumi refresh`
and a replaced Job never change it (the state does not hold it, so nothing can drift); a CronJob runs the same
pod every 10 minutes, so a deleted Secret comes back (with a new value: that is how to rotate it, and how a stack
whose program used to hold the Secret recovers after the upgrade's `pulumi up` deletes the old one); `pulumi
destroy` deletes the generator's ServiceAccount, which owns the Secret, and the garbage collector deletes the
Secret with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from infra.secretgen.spec import SCRIPT_KEY, heal_cron_job_spec, job_spec, names, role_rules

__all__ = ["GeneratedSecret", "GeneratedSecretArgs"]


@dataclass(frozen=True)
class GeneratedSecretArgs:
    provider: pulumi.ProviderResource  # the cluster's Kubernetes provider (default providers are disabled)
    namespace: str
    secret: str  # the Secret's name: consumers reference it by name
    generated_keys: tuple[str, ...]  # keys whose values are generated
    literal: dict[str, str] = field(default_factory=dict)  # plain, non-secret keys (e.g. a user name)
    length: int = 32


class GeneratedSecret(pulumi.ComponentResource):
    """pipeworks:secrets:GeneratedSecret — ServiceAccount, Role, RoleBinding, script ConfigMap, Job and CronJob."""

    def __init__(self, name: str, args: GeneratedSecretArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pipeworks:secrets:GeneratedSecret", name, None, opts)
        self.secret_name = args.secret
        n = names(args.secret)
        spec = job_spec(args.namespace, args.secret, args.generated_keys, args.literal, args.length)
        mine = pulumi.ResourceOptions(parent=self, provider=args.provider)

        def meta(key: str) -> dict:
            return {"name": n[key], "namespace": args.namespace}

        sa = k8s.core.v1.ServiceAccount(f"{name}-sa", metadata=meta("service_account"),
                                        automount_service_account_token=True, opts=mine)
        role = k8s.rbac.v1.Role(f"{name}-role", metadata=meta("role"),
                                rules=role_rules(args.secret, n["service_account"]), opts=mine)
        binding = k8s.rbac.v1.RoleBinding(
            f"{name}-binding", metadata=meta("role"),
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": n["role"]},
            subjects=[{"kind": "ServiceAccount", "name": n["service_account"], "namespace": args.namespace}],
            opts=pulumi.ResourceOptions.merge(mine, pulumi.ResourceOptions(depends_on=[role, sa])))
        script = k8s.core.v1.ConfigMap(f"{name}-script", metadata=meta("config_map"),
                                       data={SCRIPT_KEY: (Path(__file__).parent / SCRIPT_KEY).read_text()}, opts=mine)
        after = pulumi.ResourceOptions.merge(mine, pulumi.ResourceOptions(depends_on=[binding, script]))
        # The Job makes the Secret before its consumers (they wait for it); the CronJob re-makes it if deleted.
        self.ready = k8s.batch.v1.Job(f"{name}-job", metadata=meta("job"), spec=spec, opts=after)
        k8s.batch.v1.CronJob(f"{name}-heal", metadata=meta("cron_job"), spec=heal_cron_job_spec(spec), opts=after)
        self.register_outputs({"secret": args.secret})
