"""The generated-secret Job's objects as plain dicts (pure; infra/secretgen/__init__.py declares them)."""

from __future__ import annotations

import json
from typing import Any

from infra.config.resources import PodResources
from infra.naming import join_dns_label
from infra.placement import Role, place

IMAGE = "docker.io/library/python:3.12.12-slim"  # the same pinned image as Kafka's ca-sync CronJob
RESOURCES = PodResources(cpu="10m", memory="64Mi")
UID = 65534  # nobody: the script needs no file it does not bring in its ConfigMap
SCRIPT_KEY = "generate.py"
# The CronJob that re-creates a deleted Secret (a rotation, or an upgrade from a stack whose program held the
# Secret: `pulumi up` deletes the old Secret after the Job has already found it and kept it).
HEAL_SCHEDULE = "*/10 * * * *"


def names(secret: str) -> dict[str, str]:
    """The names of the generator's own objects, derived from the Secret's (at most 52 characters: a CronJob's
    name, to which the controller appends an 11-character suffix for its Jobs)."""
    base = join_dns_label(secret, "gen", max_len=52)
    return {"service_account": base, "role": base, "config_map": base, "job": base, "cron_job": base}


def role_rules(secret: str, service_account: str) -> list[dict[str, Any]]:
    """Read only its own Secret and its owner ServiceAccount; `create` cannot be narrowed by name in RBAC."""
    return [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": [secret]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
            {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get"],
             "resourceNames": [service_account]}]


def job_spec(namespace: str, secret: str, generated_keys: tuple[str, ...], literal: dict[str, str],
             length: int) -> dict[str, Any]:
    """The Job: one pod on the general pool, Pod Security restricted, that runs generate.py once."""
    if not generated_keys:
        raise ValueError(f"generated secret {namespace}/{secret}: name at least one key to generate")
    if set(generated_keys) & set(literal):
        raise ValueError(f"generated secret {namespace}/{secret}: keys both generated and literal: "
                         f"{sorted(set(generated_keys) & set(literal))}")
    if length < 16:
        raise ValueError(f"generated secret {namespace}/{secret}: length {length} is below 16 characters")
    n = names(secret)
    env = {"NAMESPACE": namespace, "SECRET_NAME": secret, "GENERATED_KEYS": ",".join(generated_keys),
           "LITERAL_DATA": json.dumps(literal, sort_keys=True), "OWNER_SERVICE_ACCOUNT": n["service_account"],
           "LENGTH": str(length)}
    pod = {
        **place(Role.GENERAL).pod_spec(),
        "serviceAccountName": n["service_account"],
        "restartPolicy": "OnFailure",
        "securityContext": {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "generate", "image": IMAGE, "command": ["python3", f"/opt/secretgen/{SCRIPT_KEY}"],
            "env": [{"name": k, "value": v} for k, v in env.items()],
            "resources": RESOURCES.k8s(),
            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
            "volumeMounts": [{"name": "script", "mountPath": "/opt/secretgen", "readOnly": True}]}],
        "volumes": [{"name": "script", "configMap": {"name": n["config_map"]}}],
    }
    # No ttlSecondsAfterFinished: the Job is a resource of the stack, and one the cluster deleted by itself would
    # be drift for `pulumi refresh`. Re-running it is harmless (an existing Secret is kept).
    return {"backoffLimit": 6, "activeDeadlineSeconds": 600,
            "template": {"metadata": {"labels": {"app.kubernetes.io/name": "secretgen",
                                                 "app.kubernetes.io/instance": secret}}, "spec": pod}}


def heal_cron_job_spec(job: dict[str, Any]) -> dict[str, Any]:
    """The CronJob that runs the same pod on HEAL_SCHEDULE; its Jobs are the cluster's, so they may expire."""
    return {"schedule": HEAL_SCHEDULE, "concurrencyPolicy": "Forbid", "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 2, "jobTemplate": {"spec": {**job, "ttlSecondsAfterFinished": 3600}}}
