"""Copies Strimzi's cluster CA certificate, or a KafkaUser's credentials, into a Kafka client's namespace (run by
a CronJob, stdlib only).

Strimzi writes `<cluster>-cluster-ca-cert` only in the Kafka namespace, and pods cannot mount a Secret of
another namespace; Strimzi's maintainers point at copying it (strimzi-kafka-operator#3304). The CA is
renewed by the operator ahead of expiry, so the copy runs on a schedule and server-side-applies the
current `ca.crt`. A KafkaUser's Secret is the User Operator's too (it generates the SCRAM password, so the
platform never holds it): the same copy carries its `password` and `sasl.jaas.config`, plus `username`.
This file is shipped into a ConfigMap and runs as `python3 ca_sync.py`; it imports nothing from the project.
Environment: SOURCE_NAMESPACE, SOURCE_SECRET, TARGET_NAMESPACE, TARGET_SECRET, KEYS (comma-separated keys to
copy, default `ca.crt`), LITERAL_DATA (JSON object of plain values to add, e.g. the user name).
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import sys
import urllib.error
import urllib.request

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
FIELD_MANAGER = "pipeworks-kafka-ca-sync"


def apply_body(ca_b64: str, name: str, namespace: str, source: str) -> dict:
    """The Secret to server-side-apply in the client namespace: only the public CA certificate."""
    return copy_body({"ca.crt": ca_b64}, ("ca.crt",), {}, name, namespace, source)


def copy_body(data: dict, keys: tuple[str, ...] | list[str], literal: dict[str, str], name: str, namespace: str,
              source: str) -> dict:
    """The Secret to server-side-apply in the client namespace: exactly `keys` of the source's data (never the
    rest, e.g. the CA's PKCS#12 store and its password) plus `literal` values."""
    missing = [k for k in keys if not data.get(k)]
    if missing:
        raise ValueError(f"{source} has no {', '.join(missing)} yet (its operator has not written it)")
    return {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"app.kubernetes.io/managed-by": FIELD_MANAGER},
                     "annotations": {"pipeworks.io/copied-from": source}},
        "data": {**{k: base64.b64encode(v.encode()).decode() for k, v in literal.items()},
                 **{k: data[k] for k in keys}},
    }


def _request(api: str, method: str, path: str, token: str, ctx: ssl.SSLContext | None, body: dict | None = None,
             content_type: str = "application/json") -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{api}{path}", data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": content_type,
                                          "Accept": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:  # noqa: S310 (the API server only)
        return json.loads(resp.read() or b"{}")


def sync(api: str, token: str, ctx: ssl.SSLContext | None, src_ns: str, src: str, dst_ns: str, dst: str,
         keys: tuple[str, ...] = ("ca.crt",), literal: dict[str, str] | None = None) -> int:
    """Copy `keys` (and `literal`) once; 0 on success, 1 (with a message that carries no Secret data) on failure."""
    try:
        secret = _request(api, "GET", f"/api/v1/namespaces/{src_ns}/secrets/{src}", token, ctx)
        body = copy_body(secret.get("data") or {}, keys, literal or {}, dst, dst_ns, f"{src_ns}/{src}")
        _request(api, "PATCH", f"/api/v1/namespaces/{dst_ns}/secrets/{dst}?fieldManager={FIELD_MANAGER}&force=true",
                 token, ctx, body, content_type="application/apply-patch+yaml")
    except urllib.error.HTTPError as e:  # never print the response: it could hold a Secret's data
        print(f"ca-sync {src_ns}/{src} -> {dst_ns}/{dst} failed: HTTP {e.code} {e.reason}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError, ValueError) as e:
        print(f"ca-sync {src_ns}/{src} -> {dst_ns}/{dst} failed: {e}", file=sys.stderr)
        return 1
    print(f"ca-sync {src_ns}/{src} -> {dst_ns}/{dst} applied")
    return 0


def main() -> int:
    host = os.environ["KUBERNETES_SERVICE_HOST"]
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    with open(f"{SA_DIR}/token") as f:
        token = f.read().strip()
    ctx = ssl.create_default_context(cafile=f"{SA_DIR}/ca.crt")
    if ":" in host:  # an IPv6 service address
        host = f"[{host}]"
    keys = tuple(k for k in os.environ.get("KEYS", "ca.crt").split(",") if k)
    return sync(f"https://{host}:{port}", token, ctx, os.environ["SOURCE_NAMESPACE"], os.environ["SOURCE_SECRET"],
                os.environ["TARGET_NAMESPACE"], os.environ["TARGET_SECRET"], keys,
                json.loads(os.environ.get("LITERAL_DATA") or "{}"))


if __name__ == "__main__":
    sys.exit(main())
