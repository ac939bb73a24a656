"""Pure builders of a workload's Cassandra role: the CQL that creates (or re-passwords) the role, its keyspace
and the grant, and the Job that runs it with cqlsh as the superuser.

Why a Job: cass-operator's `spec.users` bootstraps roles, but only from Secrets in the datacenter's namespace
named when the datacenter is declared (before any workload exists), and it grants nothing. The Job runs after
the datacenter, is idempotent (IF NOT EXISTS, ALTER ROLE keeps the password in step with the Secret) and is
renamed when its statements change, so Pulumi runs it again."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from infra.config.cassandra import CassandraConfig
from infra.config.resources import PodResources
from infra.placement import Role, place
from infra.services.cassandra.spec import CLIENT_LABEL, NATIVE_PORT, service_host

ROLE_JOB_RESOURCES = PodResources(cpu="100m", memory="256Mi")
_IDENT = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
CASSANDRA_UID = 999  # the `cassandra` user of the official image


def check_identifier(kind: str, value: str) -> str:
    """A role or keyspace name as an unquoted CQL identifier (lowercase, so no quoting rules apply)."""
    if not _IDENT.match(value):
        raise ValueError(f"cassandra {kind} {value!r} is not a lowercase CQL identifier (a-z, 0-9, '_', starting "
                         "with a letter, at most 48 characters)")
    return value


def role_cql(cfg: CassandraConfig, role: str, keyspace: str) -> str:
    """The keyspace, the login role and its grant. The password is a placeholder the Job's shell fills from the
    Secret (never in the text); an existing role's password is re-set by `password_cql` only when logging in with
    the Secret's password fails: Cassandra 5.0 refuses a second password change within 5 s of the first
    ("Password for role ... can only be changed every 5000ms"), so CREATE followed by ALTER would fail."""
    check_identifier("role", role)
    check_identifier("keyspace", keyspace)
    return "\n".join([
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
        f"{{'class': 'NetworkTopologyStrategy', '{cfg.datacenter}': {cfg.replication_factor}}};",
        f"CREATE ROLE IF NOT EXISTS {role} WITH LOGIN = true AND PASSWORD = '${{ROLE_PASSWORD}}';",
        f"GRANT ALL PERMISSIONS ON KEYSPACE {keyspace} TO {role};",
    ])


def password_cql(role: str) -> str:
    """Re-set a role's password to the Secret's (after a rotation, or a role that existed before)."""
    check_identifier("role", role)
    return f"ALTER ROLE {role} WITH PASSWORD = '${{ROLE_PASSWORD}}';"


def job_name(role: str, cql: str) -> str:
    """Changes with the statements, so a changed grant or keyspace runs a new Job (Jobs are immutable)."""
    digest = hashlib.sha256(cql.encode()).hexdigest()[:8]
    return f"cassandra-role-{role.replace('_', '-')}-{digest}"[:63]


# The shell writes cqlsh's credentials files (cqlshlib/authproviderhandling.py: section [PlainTextAuthProvider] of
# ~/.cassandra/credentials) for the superuser and for the role, and substitutes the role password into the CQL,
# under a read-only root (HOME=/tmp); it waits for the CQL service, since the datacenter's pods start long after
# the CR exists. The password is re-set only when the role cannot log in with the Secret's. (The ConfigMap key is
# rotate.cql, not password.cql: a key named after a password reads as a literal credential to the secrets policy,
# and the file holds only the ${ROLE_PASSWORD} placeholder.)
_SCRIPT = """set -eu
umask 077
creds() { mkdir -p "$1/.cassandra"; printf '[PlainTextAuthProvider]\\nusername = %s\\npassword = %s\\n' "$2" "$3" \\
  > "$1/.cassandra/credentials"; }
creds "$HOME" "$SUPERUSER" "$SUPERUSER_PASSWORD"
creds "$HOME/role" "$ROLE_NAME" "$ROLE_PASSWORD"
for f in role rotate; do sed "s|\\${ROLE_PASSWORD}|$ROLE_PASSWORD|g" "/etc/role/$f.cql" > "$HOME/$f.cql"; done
for _ in $(seq 1 60); do
  cqlsh "$CQL_HOST" "$CQL_PORT" -e 'SELECT release_version FROM system.local' >/dev/null 2>&1 && break
  sleep 10
done
cqlsh "$CQL_HOST" "$CQL_PORT" -f "$HOME/role.cql"
if ! HOME="$HOME/role" cqlsh "$CQL_HOST" "$CQL_PORT" -e 'SELECT release_version FROM system.local' >/dev/null 2>&1; then
  sleep 6  # Cassandra allows one password change per role every 5 s
  cqlsh "$CQL_HOST" "$CQL_PORT" -f "$HOME/rotate.cql"
fi
"""


def role_job_spec(cfg: CassandraConfig, *, role: str, superuser_secret: str, role_secret: str,
                  cql_config_map: str) -> dict[str, Any]:
    """The Job spec: cqlsh from the official image of the datacenter's Cassandra version, as the superuser."""
    def secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
        return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}

    return {
        "backoffLimit": 6, "activeDeadlineSeconds": 1800, "ttlSecondsAfterFinished": 86400,
        "template": {
            "metadata": {"labels": {"app.kubernetes.io/name": "cassandra-role", CLIENT_LABEL: cfg.cluster_name}},
            "spec": {
                **place(Role.GENERAL).pod_spec(),
                "restartPolicy": "OnFailure",
                "automountServiceAccountToken": False,
                "securityContext": {"runAsNonRoot": True, "runAsUser": CASSANDRA_UID, "runAsGroup": CASSANDRA_UID,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "cqlsh", "image": f"docker.io/library/cassandra:{cfg.server_version}",
                    "command": ["bash", "-c", _SCRIPT],
                    "env": [{"name": "HOME", "value": "/tmp"},
                            {"name": "CQL_HOST", "value": service_host(cfg)},
                            {"name": "CQL_PORT", "value": str(NATIVE_PORT)},
                            {"name": "ROLE_NAME", "value": role},
                            secret_env("SUPERUSER", superuser_secret, "username"),
                            secret_env("SUPERUSER_PASSWORD", superuser_secret, "password"),
                            secret_env("ROLE_PASSWORD", role_secret, "password")],
                    "resources": ROLE_JOB_RESOURCES.k8s(),
                    "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                        "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
                    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"},
                                     {"name": "role", "mountPath": "/etc/role", "readOnly": True}],
                }],
                "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                            {"name": "role", "configMap": {"name": cql_config_map}}],
            },
        },
    }
