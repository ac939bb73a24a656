"""Pod Security Standards labels of a namespace (pure): the level the API server enforces, and the
(usually stricter) level it warns and audits against, so anything looser than intended still shows."""

from __future__ import annotations

from typing import Literal

Level = Literal["privileged", "baseline", "restricted"]


def pod_security_labels(enforce: Level, warn_and_audit: Level | None = None) -> dict[str, str]:
    """`pod-security.kubernetes.io/{enforce,warn,audit}`; warn and audit default to the enforced level."""
    report = warn_and_audit or enforce
    return {"pod-security.kubernetes.io/enforce": enforce,
            "pod-security.kubernetes.io/warn": report,
            "pod-security.kubernetes.io/audit": report}
