"""Where a workload's bucket lives and the credentials to reach it, read from the environment (standard library only).

Rook's ObjectBucketClaim writes ``BUCKET_HOST``/``BUCKET_PORT``/``BUCKET_NAME``/``BUCKET_REGION`` into a ConfigMap
and ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` into a Secret, both named after the claim; the pod takes
them with ``envFrom``. ``S3Settings`` validates them (and the same fields when built by hand) and raises
``SettingError`` naming the variable and what is valid, never a credential. The client that uses them is
``workloads.common.objectstore``.

Application code: never imports pulumi or infra.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from workloads.common.envconfig import BLANKS, SettingError, parse_decimal

__all__ = ["DEFAULT_REGION", "PUT_ACLS", "S3Settings", "check_bucket"]

DEFAULT_REGION = "us-east-1"

# Environment variables of the ObjectBucketClaim convention (Rook writes the BUCKET_* keys into a
# ConfigMap and the AWS_* keys into a Secret, both named after the claim) plus our one override.
ENV_HOST = "BUCKET_HOST"
ENV_PORT = "BUCKET_PORT"
ENV_BUCKET = "BUCKET_NAME"
ENV_REGION = "BUCKET_REGION"
ENV_ACCESS_KEY = "AWS_ACCESS_KEY_ID"
ENV_SECRET_KEY = "AWS_SECRET_ACCESS_KEY"
ENV_ENDPOINT_URL = "S3_ENDPOINT_URL"
ENV_PUT_ACL = "S3_PUT_ACL"
PUT_ACLS = ("bucket-owner-full-control",)

# S3 bucket naming rules (what both AWS and RGW with default settings accept).
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


def check_bucket(value: str, source: str) -> str:
    """``value`` if it is a valid S3 bucket name, else SettingError naming ``source`` and the rules."""
    if not _BUCKET_RE.fullmatch(value) or ".." in value or _is_ip(value):
        raise SettingError(
            f"{source}={value!r} is not a valid bucket name: use 3-63 characters of lowercase "
            "letters, digits, '.' and '-', starting and ending with a letter or digit "
            "(not an IP address, no '..')"
        )
    return value


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _check_endpoint_url(value: str, source: str) -> str:
    hint = "expected http(s)://host[:port] with no path, query or credentials, e.g. http://rook-ceph-rgw-lake.rook-ceph.svc:80"
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError when the port is not a number in range
    except ValueError:
        raise SettingError(f"{source}={value!r} is not a valid endpoint URL: {hint}") from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username is not None
        or port == 0
    ):
        # Never echo a URL carrying credentials back into logs.
        shown = "<redacted: URL contains credentials>" if "@" in value else repr(value)
        raise SettingError(f"{source}={shown} is not a valid endpoint URL: {hint}")
    return value.rstrip("/")


def _check_region(value: str, source: str) -> str:
    if not re.fullmatch(r"[a-z0-9-]{1,64}", value):
        raise SettingError(f"{source}={value!r} is not a valid region: use lowercase letters, digits and '-', e.g. us-east-1")
    return value


def _check_credential(value: str, source: str) -> None:
    # The value itself is a secret: describe the problem without repeating it.
    if not value or value != value.strip() or any(c in value for c in "\r\n"):
        raise SettingError(f"{source} is empty or has surrounding whitespace/newlines: set it to the key without padding")


def _endpoint_from_host_port(host: str, port_text: str) -> str:
    if "://" in host or "/" in host:
        raise SettingError(
            f"{ENV_HOST}={host!r} must be a bare host name (e.g. rook-ceph-rgw-lake.rook-ceph.svc); "
            f"to give a full URL set {ENV_ENDPOINT_URL} instead"
        )
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not (_HOST_RE.fullmatch(bare) or _is_ip(bare)):
        raise SettingError(f"{ENV_HOST}={host!r} is not a valid host name or IP address")
    port = parse_decimal(port_text)
    if port is None or not 1 <= port <= 65535:
        raise SettingError(f"{ENV_PORT}={port_text!r} is not a port number: use an integer from 1 to 65535")
    # Rook's OBC only tells us host and port; it serves TLS on the secure port (443) only.
    scheme = "https" if port == 443 else "http"
    netloc = f"[{bare}]" if ":" in bare else bare
    return f"{scheme}://{netloc}:{port}"


@dataclass(frozen=True)
class S3Settings:
    """Where the bucket lives and the credentials to reach it; secrets are kept out of repr."""

    endpoint_url: str
    bucket: str
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    region: str = DEFAULT_REGION
    put_acl: str | None = None
    """Canned ACL on every write: ``bucket-owner-full-control`` for a user writing into a bucket it does not own
    (S3 and RGW make the writer the object's owner; without it the bucket owner cannot read what the roles wrote)."""

    def __post_init__(self) -> None:
        # Validated here too so hand-built settings fail as early as env-built ones.
        object.__setattr__(self, "endpoint_url", _check_endpoint_url(self.endpoint_url, "endpoint_url"))
        check_bucket(self.bucket, "bucket")
        _check_credential(self.access_key, "access_key")
        _check_credential(self.secret_key, "secret_key")
        _check_region(self.region, "region")
        if self.put_acl is not None and self.put_acl not in PUT_ACLS:
            raise SettingError(f"put_acl={self.put_acl!r} is not supported; valid: {', '.join(PUT_ACLS)} or none")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, bucket: str | None = None) -> S3Settings:
        """Read the ObjectBucketClaim variables (see the ENV_* constants).

        ``S3_ENDPOINT_URL`` overrides ``BUCKET_HOST``/``BUCKET_PORT`` (which are then not needed);
        ``bucket`` overrides ``BUCKET_NAME``. Empty values count as missing.
        """

        def need(name: str, why: str) -> str:
            value = environ.get(name, "")
            if not value.strip(BLANKS):
                raise SettingError(f"environment variable {name} is missing or empty: {why}")
            return value.strip(BLANKS) if name not in (ENV_ACCESS_KEY, ENV_SECRET_KEY) else value

        override = environ.get(ENV_ENDPOINT_URL, "").strip(BLANKS)
        if override:
            endpoint = _check_endpoint_url(override, ENV_ENDPOINT_URL)
        else:
            obc = f"set by the ObjectBucketClaim ConfigMap, or set {ENV_ENDPOINT_URL}=http(s)://host:port instead"
            endpoint = _endpoint_from_host_port(need(ENV_HOST, obc), need(ENV_PORT, obc))

        if bucket is not None:
            bucket_name = check_bucket(bucket, "bucket argument")
        else:
            bucket_name = check_bucket(
                need(ENV_BUCKET, "set by the ObjectBucketClaim ConfigMap, or pass bucket=..."), ENV_BUCKET
            )

        secret_hint = "set by the ObjectBucketClaim Secret (mount it with envFrom.secretRef)"
        access_key = need(ENV_ACCESS_KEY, secret_hint)
        secret_key = need(ENV_SECRET_KEY, secret_hint)
        _check_credential(access_key, ENV_ACCESS_KEY)
        _check_credential(secret_key, ENV_SECRET_KEY)

        region = environ.get(ENV_REGION, "").strip(BLANKS) or DEFAULT_REGION
        _check_region(region, ENV_REGION)
        acl = environ.get(ENV_PUT_ACL, "").strip(BLANKS) or None
        if acl is not None and acl not in PUT_ACLS:
            raise SettingError(f"{ENV_PUT_ACL}={acl!r} is invalid: use {', '.join(PUT_ACLS)} (a role writing into a "
                               "bucket it does not own) or leave it unset")
        return cls(endpoint_url=endpoint, bucket=bucket_name, access_key=access_key, secret_key=secret_key, region=region,
                   put_acl=acl)
