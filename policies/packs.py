"""The rules as pulumi_policy policies, one list per pack.

Building the lists is cheap and side-effect free; only each pack's `__main__.py` constructs a
`PolicyPack` (which starts a gRPC server and never returns). Enforcement levels come from the
policy-pack config the CLI passes (`--policy-pack-config policies/config/<stack>.json`); the same
file carries each policy's `environment` and `allowExemptions` properties so rules and exemptions
behave as `pipeworks check` does for that stack.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies.engine import apply_exemption
from policies.rules import PACKS, Rule, rules_of_pack
from policies.rules.model import Context, Finding, Resource, plain
from policies.rules.pools import attach_pools

CONFIG_SCHEMA = PolicyConfigSchema(properties={
    "environment": {"type": "string", "enum": ["dev", "prod"],
                    "description": "The stack's environment (prod adds zone spread and replication checks)."},
    "allowExemptions": {"type": "boolean",
                        "description": "Honour policy.pipeworks.io/exempt.<policy> annotations with a reason."},
})


def _environment(config: Mapping[str, Any]) -> str:
    env = config.get("environment")
    if env in ("dev", "prod"):
        return str(env)
    # Without config, judge by the stack name the engine exports to the pack's process.
    return "prod" if os.environ.get("PULUMI_STACK", "").startswith("prod") else "dev"


def _allow(config: Mapping[str, Any], env: str) -> bool:
    allow = config.get("allowExemptions")
    return allow if isinstance(allow, bool) else env != "prod"


def _report(findings: list[Finding], by_urn: Mapping[str, Resource], config: Mapping[str, Any],
            report: ReportViolation, with_urn: bool) -> None:
    env = _environment(config)
    allow = _allow(config, env)
    seen = set()
    for f in findings:
        message, _ = apply_exemption(f, by_urn.get(f.urn), allow, env)
        if message is None or (f.urn, message) in seen:
            continue
        seen.add((f.urn, message))
        report(message, f.urn if with_urn and f.urn in by_urn else None)


def resource_validator(rule: Rule):  # type: ignore[no-untyped-def]
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        config = dict(args.get_config() or {})
        r = Resource(urn=args.urn, type=args.resource_type, name=args.name, props=plain(args.props),
                     parent=args.opts.parent if args.opts else None)
        ctx = Context(environment=_environment(config), resources=[], source="pack")
        assert rule.resource_check is not None
        _report(list(rule.resource_check(r, ctx)), {r.urn: r}, config, report, with_urn=False)
    return validate


def to_resource(pr: Any) -> Resource:
    """A pulumi_policy PolicyResource as the rules' Resource."""
    parent = pr.parent.urn if getattr(pr, "parent", None) is not None else getattr(pr.opts, "parent", None)
    return Resource(urn=pr.urn, type=pr.resource_type, name=pr.name, props=plain(pr.props), parent=parent,
                    dependencies=tuple(d.urn for d in pr.dependencies or []))


def stack_validator(rule: Rule):  # type: ignore[no-untyped-def]
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        config = dict(args.get_config() or {})
        resources = [to_resource(pr) for pr in args.resources]
        ctx = attach_pools(Context(environment=_environment(config), resources=resources, source="pack"))
        _report(list(rule.run(ctx)), ctx.by_urn, config, report, with_urn=True)
    return validate


def policy_for(rule: Rule) -> ResourceValidationPolicy | StackValidationPolicy:
    if rule.resource_check is not None:
        return ResourceValidationPolicy(name=rule.name, description=rule.description,
                                        validate=resource_validator(rule), config_schema=CONFIG_SCHEMA)
    return StackValidationPolicy(name=rule.name, description=rule.description, validate=stack_validator(rule),
                                 config_schema=CONFIG_SCHEMA)


def pack_policies(pack: str) -> list[ResourceValidationPolicy | StackValidationPolicy]:
    if pack not in PACKS:
        raise ValueError(f"unknown pack {pack!r}; valid: {', '.join(PACKS)}")
    return [policy_for(r) for r in rules_of_pack(pack)]


PACK_NAMES = {pack: f"pipeworks-{pack}" for pack in PACKS}
