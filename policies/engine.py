"""Runs the rules over a list of resources with a stack's enforcement and exemptions, producing
violations: the one evaluation path behind `pipeworks check`, `pipeworks capacity` and the packs.

Enforcement: every policy is advisory in dev and mandatory in prod by default; a stack overrides a
policy to advisory, mandatory or disabled. Exemptions: the annotation
`policy.pipeworks.io/exempt.<policy>: "<reason>"` (a tag of that key on AWS resources) lifts one
policy for one resource; `policy.pipeworks.io/exempt.<policy>.<control>` lifts one control of a
policy that has controls (the Pod Security Standards controls of the two PSS policies) and leaves the
others judged. An empty reason is itself a violation, and a stack that does not allow exemptions (prod by
default) refuses them and says so in the violation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from policies.rules import BY_NAME, RULES, Rule
from policies.rules import vocabulary as v
from policies.rules.model import Context, Finding, Resource, as_dict
from policies.rules.pools import Pool, attach_pools

LEVELS = ("advisory", "mandatory", "disabled")


class EnforcementError(ValueError):
    """A policy section that cannot be honoured; the message names the key and the valid values."""


@dataclass(frozen=True)
class Enforcement:
    """How a stack enforces: its environment, default level, per-policy overrides, exemptions."""

    environment: str = "dev"
    default: str = "advisory"
    overrides: Mapping[str, str] = field(default_factory=dict)
    allow_exemptions: bool = True

    @classmethod
    def for_environment(cls, environment: str, **kw: Any) -> "Enforcement":
        prod = environment == "prod"
        return cls(environment=environment, default=kw.pop("default", None) or ("mandatory" if prod else "advisory"),
                   allow_exemptions=kw.pop("allow_exemptions", not prod), **kw)

    @classmethod
    def from_stack_json(cls, stack: Mapping[str, Any], origin: str = "stack.json") -> "Enforcement":
        env = stack.get("environment")
        if env not in ("dev", "prod"):
            raise EnforcementError(f"{origin}: environment={env!r}; valid: dev, prod")
        policy = as_dict(stack.get("policy"))
        default = policy.get("enforcement")
        if default is not None and default not in LEVELS:
            raise EnforcementError(f"{origin}: policy.enforcement={default!r}; valid: {', '.join(LEVELS)}")
        overrides = as_dict(policy.get("overrides"))
        for name, level in overrides.items():
            if level not in LEVELS:
                raise EnforcementError(f"{origin}: policy.overrides.{name}={level!r}; valid: {', '.join(LEVELS)}")
            if name not in BY_NAME:
                raise EnforcementError(f"{origin}: policy.overrides.{name} names no policy; valid: "
                                       f"{', '.join(sorted(BY_NAME))}")
        allow = policy.get("allowExemptions")
        if allow is not None and not isinstance(allow, bool):
            raise EnforcementError(f"{origin}: policy.allowExemptions={allow!r}; valid: true, false")
        kw: dict[str, Any] = {"default": default, "overrides": dict(overrides)}
        if allow is not None:
            kw["allow_exemptions"] = allow
        return cls.for_environment(env, **kw)

    def level(self, policy: str) -> str:
        return self.overrides.get(policy, self.default)


@dataclass(frozen=True)
class Violation:
    policy: str
    concern: str
    level: str  # mandatory | advisory
    resource: str  # URN (stacks, plans) or "<path>#<index> <Kind>/<name>" (manifests)
    message: str
    control: str | None = None  # the part of the policy broken (a Pod Security Standards control)

    @property
    def rule_id(self) -> str:
        """`<policy>/<control>` when the finding names a control, else the policy: the SARIF rule id."""
        return f"{self.policy}/{self.control}" if self.control else self.policy

    def to_json(self) -> dict[str, str]:
        out = asdict(self)
        if self.control is None:
            del out["control"]
        return out


@dataclass(frozen=True)
class Exemption:
    policy: str
    resource: str
    reason: str
    control: str | None = None  # set when the annotation lifted one control only


@dataclass
class Report:
    violations: list[Violation]
    exemptions: list[Exemption]
    notes: list[str]
    context: Context

    @property
    def mandatory(self) -> list[Violation]:
        return [x for x in self.violations if x.level == "mandatory"]


def exemption_marks(r: Resource | None) -> dict[str, str]:
    """{policy or policy.control: reason} from the resource's exemption annotations (or AWS tags)."""
    if r is None:
        return {}
    marks = dict(r.annotations) if r.is_kubernetes else dict(as_dict(r.props.get("tags")))
    return {k[len(v.EXEMPT_PREFIX):]: str(val if val is not None else "") for k, val in marks.items()
            if isinstance(k, str) and k.startswith(v.EXEMPT_PREFIX)}


def apply_exemption(finding: Finding, resource: Resource | None, allow_exemptions: bool,
                    environment: str) -> tuple[str | None, Exemption | None]:
    """(message to report or None when exempted, the exemption granted). An exemption of the finding's
    control (`<policy>.<control>`) is looked up before one of the whole policy."""
    marks = exemption_marks(resource)
    key = f"{finding.policy}.{finding.control}" if finding.control else finding.policy
    if key not in marks:
        key = finding.policy
    reason = marks.get(key)
    if reason is None:
        return finding.message, None
    if not reason.strip():
        return (finding.message + f" (its exemption annotation {v.EXEMPT_PREFIX}{key} has an empty "
                "reason and is ignored: write why the exemption is safe)"), None
    if not allow_exemptions:
        return (finding.message + f" (exemption refused: {environment} does not allow exemptions; reason given: "
                f"{reason.strip()!r})"), None
    return None, Exemption(finding.policy, finding.urn, reason.strip(), finding.control if key != finding.policy
                           else None)


def split_mark(mark: str) -> tuple[str, str | None] | None:
    """(policy, control or None) an exemption key names, or None when it names no policy (or no control of it)."""
    if mark in BY_NAME:
        return mark, None
    policy, _, control = mark.rpartition(".")
    if policy in BY_NAME and control in BY_NAME[policy].controls:
        return policy, control
    return None


def _empty_reason_findings(ctx: Context, enabled: set[str]) -> Iterable[Finding]:
    for r in ctx.resources:
        for mark, reason in exemption_marks(r).items():
            named = split_mark(mark)
            if named and named[0] in enabled and not reason.strip():
                yield Finding(named[0], r.urn, f"{r.display}: exemption annotation {v.EXEMPT_PREFIX}{mark} has an "
                              "empty reason; an exemption must say why it is safe", control=named[1])


def evaluate(resources: list[Resource], enforcement: Enforcement, *, source: str = "plan",
             pools: list[Pool] | None = None, pools_known: bool = True, rules: Iterable[Rule] = RULES,
             extra_findings: Iterable[Finding] = ()) -> Report:
    """Run `rules` over `resources`. `pools` given explicitly (a --pools file) replace the stack's;
    `pools_known=False` (plain manifests) switches off the checks that need pools."""
    ctx = Context(environment=enforcement.environment, resources=resources, pools=pools, source=source)
    notes: list[str] = []
    if pools is None and pools_known:
        attach_pools(ctx)
        if ctx.pools is None:
            notes.append("the stack declares no node pools (no NodeGroup, no kube-system/pipeworks-node-pools "
                         "ConfigMap): checks that need pools were skipped")
    elif pools is None:
        notes.append("no node pools given (use --pools FILE): checks that need pools were skipped and placement "
                     "was judged against the label vocabulary only")
    active = [r for r in rules if enforcement.level(r.name) != "disabled"]
    findings: list[Finding] = []
    for rule in active:
        findings.extend(rule.run(ctx))
    findings.extend(f for f in extra_findings if enforcement.level(f.policy) != "disabled")
    # a finding the empty exemption would have covered already carries the note (apply_exemption)
    seen_empty = {(f.policy, f.urn, c) for f in findings for c in {f.control, None}}
    for f in _empty_reason_findings(ctx, {r.name for r in active}):
        if (f.policy, f.urn, f.control) not in seen_empty:
            findings.append(f)
    by_urn = ctx.by_urn
    violations, exemptions, seen = [], [], set()
    for f in findings:
        message, exemption = apply_exemption(f, by_urn.get(f.urn), enforcement.allow_exemptions,
                                             enforcement.environment)
        if exemption is not None:
            exemptions.append(exemption)
            continue
        rule = BY_NAME.get(f.policy)
        concern = f.concern or (rule.concern if rule else "placement")
        key = (f.policy, f.urn, message)
        if key in seen:
            continue
        seen.add(key)
        violations.append(Violation(f.policy, concern, enforcement.level(f.policy), f.urn, message or "", f.control))
    for r in ctx.resources:
        for mark in exemption_marks(r):
            if split_mark(mark) is None:
                policy = mark.rpartition(".")[0]
                controls = BY_NAME[policy].controls if policy in BY_NAME else {}
                notes.append(f"{r.urn}: exemption annotation names no policy: {v.EXEMPT_PREFIX}{mark}" + (
                    f" ({policy} has the controls {', '.join(sorted(controls))})" if controls else ""))
    return Report(violations, exemptions, notes, ctx)
