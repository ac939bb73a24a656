"""Pure naming rules: resource and Kubernetes object names derived from the stack and component."""

from __future__ import annotations

import hashlib
import re

_DNS_LABEL = re.compile(r"[^a-z0-9-]+")


def join_dns_label(*parts: str, max_len: int = 63) -> str:
    """A valid DNS-1123 label BUILT from parts (lowercased, other characters to '-'); too-long names keep a short
    hash so they stay unique. (infra.config.base.check_dns_label VALIDATES a configured name instead.)"""
    raw = "-".join(p for p in parts if p)
    name = _DNS_LABEL.sub("-", raw.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)
    if len(name) <= max_len:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f"{name[: max_len - 7].rstrip('-')}-{digest}"


def cluster_name(project: str, stack: str) -> str:
    """The EKS cluster name: one cluster per stack (e.g. pipeworks-prod)."""
    return join_dns_label(project, stack, max_len=100)
