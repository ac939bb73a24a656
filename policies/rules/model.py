"""The data every rule judges: resources as the Pulumi engine hands them to an analyzer, findings,
and the evaluation context (environment, node pools, the rest of the stack).

Rules are pure functions over these types, so the same rule runs inside a CrossGuard pack, on an
offline plan (`resources.json`) and on plain Kubernetes manifests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

try:  # the sentinels the engine sends for values unknown during preview
    from pulumi_policy.proxy import (
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_OBJECT_VALUE,
        UNKNOWN_STRING_VALUE,
    )

    UNKNOWNS = frozenset({UNKNOWN_ARCHIVE_VALUE, UNKNOWN_ARRAY_VALUE, UNKNOWN_ASSET_VALUE, UNKNOWN_BOOLEAN_VALUE,
                          UNKNOWN_NUMBER_VALUE, UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE})
except ImportError:  # pragma: no cover - pulumi_policy is a pinned dependency
    UNKNOWNS = frozenset()

if TYPE_CHECKING:
    from policies.rules.pools import Pool

#: What the offline plan writes in place of every Pulumi secret value.
SECRET_PLACEHOLDER = "[secret]"

CONCERNS = (
    "placement", "schedulability", "secrets", "limits", "probes", "image-tag", "privileged", "host-namespaces",
    "host-path", "pdb", "replicas", "spread", "storage-class", "encryption", "network", "alerting",
    # the other Pod Security Standards controls (policies/rules/security.py): a PSS finding's concern is its control
    "host-process", "capabilities", "host-ports", "apparmor", "selinux", "proc-mount", "seccomp", "sysctls",
    "volume-types", "privilege-escalation", "run-as-non-root", "run-as-user",
)


def is_unknown(value: Any) -> bool:
    """True for a value the engine cannot know during preview (rules must not judge it)."""
    return isinstance(value, str) and value in UNKNOWNS


def plain(value: Any) -> Any:
    """A deep copy as plain dicts/lists: unwraps pulumi_policy's unknown-checking proxies without
    tripping them, so a rule decides itself which unknown values matter."""
    if isinstance(value, Mapping):
        target = value.get("__target") if type(value).__name__ == "_DictProxy" else None
        items = target.items() if isinstance(target, dict) else value.items()
        return {str(k): plain(v) for k, v in items}
    if isinstance(value, (str, bytes)):
        return value
    if isinstance(value, Sequence):
        if type(value).__name__ == "_ListProxy":
            return [plain(v) for v in value["__target"]]  # type: ignore[call-overload]
        return [plain(v) for v in value]
    return value


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def dig(obj: Any, *path: str | int) -> Any:
    """obj[p0][p1]... or None when any step is missing or of the wrong shape."""
    cur = obj
    for p in path:
        if isinstance(p, int):
            if not isinstance(cur, list) or p >= len(cur):
                return None
            cur = cur[p]
        else:
            if not isinstance(cur, dict):
                return None
            cur = cur.get(p)
    return cur


def to_int(value: Any) -> int | None:
    """Numbers arrive as floats from the engine (2.0) and sometimes as strings; None when not a number."""
    if isinstance(value, bool) or value is None or is_unknown(value):
        return None
    if isinstance(value, (int, float)):
        return int(value) if float(value) == int(value) else None
    if isinstance(value, str):
        try:
            f = float(value)
        except ValueError:
            return None
        return int(f) if f == int(f) else None
    return None


def truthy(value: Any) -> bool:
    """true / "true" (the AWS provider takes both for `encrypted`)."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


@dataclass(frozen=True)
class Resource:
    """One resource as an analyzer sees it: type token, URN, name and input properties."""

    urn: str
    type: str
    name: str
    props: dict[str, Any]
    parent: str | None = None
    dependencies: tuple[str, ...] = ()
    source: str | None = None  # manifests: the file; plans: None
    line: int | None = None  # manifests: 1-based line where the document starts

    @property
    def kind(self) -> str:
        """The last segment of the type token (Deployment, NodeGroup, Release ...)."""
        return self.type.rsplit(":", 1)[-1]

    @property
    def is_kubernetes(self) -> bool:
        return self.type.startswith("kubernetes:")

    @property
    def api_group(self) -> str:
        """`apps`, `core`, `kafka.strimzi.io` ... for Kubernetes types; '' otherwise."""
        if not self.is_kubernetes:
            return ""
        module = self.type.split(":")[1] if self.type.count(":") >= 2 else ""
        return module.rsplit("/", 1)[0] if "/" in module else module

    def is_k8s(self, group: str, kind: str) -> bool:
        return self.is_kubernetes and self.kind == kind and self.api_group == group

    @property
    def metadata(self) -> dict[str, Any]:
        return as_dict(self.props.get("metadata"))

    @property
    def annotations(self) -> dict[str, Any]:
        return as_dict(self.metadata.get("annotations"))

    @property
    def labels(self) -> dict[str, Any]:
        return as_dict(self.metadata.get("labels"))

    @property
    def namespace(self) -> str:
        ns = self.metadata.get("namespace")
        if not isinstance(ns, str) and self.kind == "Release":
            ns = self.props.get("namespace")
        return ns if isinstance(ns, str) and not is_unknown(ns) else "default"

    @property
    def k8s_name(self) -> str:
        """metadata.name, or the Pulumi name when the SDK auto-names the object."""
        n = self.metadata.get("name")
        return n if isinstance(n, str) and n and not is_unknown(n) else self.name

    @property
    def display(self) -> str:
        return f"{self.kind}/{self.k8s_name}" if self.is_kubernetes else f"{self.kind} {self.name}"


@dataclass(frozen=True)
class Finding:
    """What a rule reports: the rule, the resource in violation and why. `concern` overrides the
    rule's default concern; `control` names the part of a policy the finding breaks (the Pod Security
    Standards control of a PSS finding): it makes the finding's rule id `<policy>/<control>` and lets an
    exemption name that control alone (`policy.pipeworks.io/exempt.<policy>.<control>`)."""

    policy: str
    urn: str
    message: str
    concern: str | None = None
    control: str | None = None

    @property
    def rule_id(self) -> str:
        return f"{self.policy}/{self.control}" if self.control else self.policy


@dataclass
class Context:
    """Everything a rule may know beyond the resource itself.

    `resources` is the whole stack (empty for a resource-scoped check inside a pack); `pools` is
    None when the node pools are unknown (plain manifests without --pools), which switches off
    the checks that need them.
    """

    environment: str = "dev"
    resources: list[Resource] = field(default_factory=list)
    pools: list["Pool"] | None = None
    pool_notes: list[Finding] = field(default_factory=list)  # pool mismatches found while reading pools
    source: str = "plan"  # plan | manifests | pack
    pod_cache: dict[str, Any] = field(default_factory=dict)  # urn -> pod templates (rules share the walk)

    @property
    def prod(self) -> bool:
        return self.environment == "prod"

    @cached_property
    def by_urn(self) -> dict[str, Resource]:
        return {r.urn: r for r in self.resources}

    def of_kind(self, group: str, kind: str) -> list[Resource]:
        return [r for r in self.resources if r.is_k8s(group, kind)]
