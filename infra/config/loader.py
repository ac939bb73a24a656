"""Reads a stack's Pulumi config into the typed model, validating everything before any resource exists.

Errors are collected, never raised one at a time: a user sees every problem of a stack file at once,
each naming the file, the key path, the value and what would be valid, e.g.
`Pulumi.prod.yaml: pipeworks:platform.nodePools[2].maxSize=1 is below minSize=3`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from infra.config.base import ConfigModel, is_placeholder
from infra.config.platform import Environment, PlatformConfig
from infra.config.policy import EnforcementLevel, PolicySettings
from infra.config.profiles import DEPLOYER_PLACEHOLDER, deep_merge, defaults_for, zones_default

PROJECT = "pipeworks"

# Top-level config keys that hold objects, and the model of each (workloads is supplied by the program,
# so infra/ never imports workloads/).
OBJECT_KEYS = ("platform", "workloads", "policy")

# Top-level credential keys. Each must be a `secure:` value; the description says what it is for.
SECRET_KEYS: dict[str, str] = {
    "kubeconfig": "kubeconfig of an existing cluster (platform.cluster.kind: existing)",
    "alertWebhookUrl": "URL Alertmanager posts alerts to (platform.monitoring.alertReceiver: webhook or slack)",
}

CREDENTIAL_NAME = re.compile(
    r"(?i)(password|passwd|secret(?!sprovider)|token|api[-_]?key|access[-_]?key|private[-_]?key|credential|kubeconfig)"
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a stack file."""

    key: str  # pipeworks:platform.nodePools[2].maxSize
    message: str  # "=1 is below minSize=3" or " is required; ..."

    def render(self, file: str) -> str:
        return f"{file}: {self.key}{self.message}"


class StackConfigError(Exception):
    """An invalid stack: every problem, ready to print."""

    def __init__(self, file: str, problems: list[Problem]):
        self.file = file
        self.problems = problems
        super().__init__("\n".join(p.render(file) for p in problems))


@dataclass(frozen=True)
class StackConfig:
    """The validated config of one stack."""

    stack: str
    file: str
    platform: PlatformConfig
    policy: PolicySettings
    workloads: BaseModel | None
    secret_keys: frozenset[str] = field(default_factory=frozenset)
    placeholders: tuple[tuple[str, str], ...] = ()
    """(key, value) of every `<...>` value: only the owner can fill these; `pulumi up` refuses them."""

    @property
    def environment(self) -> Environment:
        return self.platform.environment

    def effective_enforcement(self) -> EnforcementLevel:
        assert self.policy.enforcement is not None  # filled from the profile
        return self.policy.enforcement


def _fmt_value(v: Any) -> str:
    if isinstance(v, str):
        return v if re.fullmatch(r"[\w./@+-]+", v, re.ASCII) else json.dumps(v)
    return json.dumps(v, default=str)


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_:/-]+$")


def _path(prefix: str, loc: tuple[Any, ...]) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(str(part)):
            out += f".{part}"
        else:  # keys with dots, spaces or control characters stay readable and on one line
            out += f"[{json.dumps(str(part))}]"
    return out


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that owns the key at loc (for listing valid keys)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        fld = next((f for n, f in current.model_fields.items() if part in (n, f.alias)), None)
        if fld is None:
            return None
        current = fld.annotation
        # unwrap list[X] / X | None
        for _ in range(3):
            args = getattr(current, "__args__", None)
            if args and not (isinstance(current, type) and issubclass(current, BaseModel)):
                current = next((a for a in args if a is not type(None)), current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _problems_from(err: ValidationError, key: str, model: type[BaseModel]) -> list[Problem]:
    problems = []
    for e in err.errors():
        loc = tuple(e["loc"])
        etype = e["type"]
        if etype == "pipeworks_field":
            ctx = e.get("ctx") or {}
            path = _path(f"{PROJECT}:{key}", loc)
            if "field" in ctx:
                problems.append(Problem(f"{path}.{ctx['field']}", f"={_fmt_value(ctx['value'])} {ctx['msg']}"))
            else:
                problems.append(Problem(path, "." + e["msg"]))
            continue
        path = _path(f"{PROJECT}:{key}", loc)
        if etype == "extra_forbidden":
            name = str(loc[-1])
            owner = _model_at(model, loc[:-1])
            valid = ", ".join(sorted(f.alias or n for n, f in owner.model_fields.items())) if owner else "see the docs"
            hint = " (credentials belong in top-level secure: values, e.g. `pulumi config set --secret pipeworks:<key>`)" \
                if CREDENTIAL_NAME.search(name) else ""
            problems.append(Problem(path, f" is not a known key{hint}; valid keys here: {valid}"))
        elif etype == "missing":
            problems.append(Problem(path, " is required" + ("; valid: dev, prod" if loc == ("environment",) else "")))
        elif etype == "enum":
            problems.append(Problem(path, f"={_fmt_value(e['input'])} is not valid; valid: {e['ctx']['expected']}"))
        elif etype == "pipeworks":
            problems.append(Problem(path, f"={_fmt_value(e['input'])} {e['msg']}"))
        else:
            problems.append(Problem(path, f"={_fmt_value(e['input'])} is not valid: {e['msg']}"))
    return problems


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(json.dumps(k))
        out[k] = v
    return out


def _parse_object(key: str, raw: Any, problems: list[Problem]) -> dict[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, str):
        try:
            # the engine hands objects as JSON text: duplicate keys and absurd nesting are refused here too
            raw = json.loads(raw, object_pairs_hook=_no_duplicates)
        except _DuplicateKey as e:
            problems.append(Problem(f"{PROJECT}:{key}", f" has the key {e} twice; keep one"))
            return {}
        except (json.JSONDecodeError, RecursionError):
            problems.append(Problem(f"{PROJECT}:{key}", " must be an object (a YAML mapping)"))
            return {}
    if not isinstance(raw, dict):
        problems.append(Problem(f"{PROJECT}:{key}", f"={_fmt_value(raw)} must be an object (a YAML mapping)"))
        return {}
    return raw


def _credential_problems(obj: Any, path: str) -> list[Problem]:
    """Credential-looking keys with literal values nested inside an object config value."""
    found: list[Problem] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            p = _path(path, (k,))
            if CREDENTIAL_NAME.search(str(k)) and isinstance(v, (str, int, float)) and not isinstance(v, bool):
                found.append(Problem(p, " holds a plaintext credential; store it as a top-level secure: value "
                                        f"(`pulumi config set --secret {PROJECT}:<name>`)"))
            else:
                found.extend(_credential_problems(v, p))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            found.extend(_credential_problems(v, f"{path}[{i}]"))
    return found


def _placeholders(obj: Any, path: str) -> list[tuple[str, str]]:
    if is_placeholder(obj):
        return [(path, obj)]
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in _placeholders(v, _path(path, (k,)))]
    if isinstance(obj, list):
        return [p for i, v in enumerate(obj) for p in _placeholders(v, f"{path}[{i}]")]
    return []


def refuse_placeholders(cfg: StackConfig) -> None:
    """A stack about to touch the cloud: every `<...>` value must have been replaced by the owner's own."""
    if cfg.placeholders:
        raise StackConfigError(cfg.file, [
            Problem(key, f"={_fmt_value(value)} is a placeholder for a value only you know; set yours before "
                         f"`pulumi preview/up` (`pulumi config set --path '{key}' "
                         "<value>`); `pipeworks plan` accepts it offline")
            for key, value in cfg.placeholders])


def fill_derived_defaults(merged: dict[str, Any], env: str) -> None:
    """Defaults that derive from other values (the zones from the region, the deployer network from a private
    endpoint), filled into the profile-merged platform mapping in place; docs/CONFIG.md shows them the same way."""
    eks = merged.setdefault("cluster", {}).setdefault("eks", {}) if isinstance(merged.get("cluster", {}), dict) else {}
    if isinstance(eks, dict) and "availabilityZones" not in eks:
        eks["availabilityZones"] = zones_default(str(eks.get("region", "us-east-1")), env)
    # Only a stack that creates the EKS cluster deploys through its private endpoint: an existing cluster's
    # (unused) eks defaults must not carry a placeholder that `pulumi preview/up` would then refuse.
    creates_eks = isinstance(merged.get("cluster"), dict) and merged["cluster"].get("kind", "eks") == "eks"
    if creates_eks and isinstance(eks, dict) and eks.get("endpointPublicAccess") is False \
            and "deployerNetworks" not in eks:
        eks["deployerNetworks"] = [DEPLOYER_PLACEHOLDER]

def load_stack_config(
    values: dict[str, Any],
    secret_keys: set[str] | frozenset[str],
    *,
    stack: str,
    file: str | None = None,
    workloads_model: type[ConfigModel] | None = None,
    workload_rules: Callable[[PlatformConfig, BaseModel], list[str]] | None = None,
    known_policies: Collection[str] | None = None,
) -> StackConfig:
    """Validate a stack's config (`values`: full keys like `pipeworks:platform` to raw values, objects
    as dicts or JSON strings; `secret_keys`: the keys that were `secure:`). Raises StackConfigError
    listing every problem: field rules and cross-field rules alike, in one run.

    workload_rules: the program's rules between its workloads and the platform (infra/ never imports
    workloads/), each returning rendered `key=value message` lines. known_policies: the policy names of
    the packs, for `policy.overrides` (infra/ never imports policies/; the caller passes them)."""
    file = file or f"Pulumi.{stack}.yaml"
    problems: list[Problem] = []
    objects: dict[str, dict[str, Any]] = {}
    for full_key, raw in sorted(values.items()):
        ns, _, key = full_key.partition(":")
        if ns == "pulumi":
            continue  # engine settings (disable-default-providers, tags) belong to Pulumi
        if ns != PROJECT:
            problems.append(Problem(full_key, " is not a pipeworks setting; providers are explicit and configured "
                                              f"from {PROJECT}:platform (e.g. platform.cluster.eks.region)"))
            continue
        if key in OBJECT_KEYS:
            if full_key in secret_keys:
                problems.append(Problem(full_key, " must not be secure: as a whole; keep credentials in their own "
                                                  "top-level secure: keys"))
            objects[key] = _parse_object(key, raw, problems)
            problems.extend(_credential_problems(objects[key], full_key))
        elif key in SECRET_KEYS:
            if full_key not in secret_keys:
                problems.append(Problem(full_key, f" is a credential ({SECRET_KEYS[key]}) stored in plain text; set it "
                                                  f"with `pulumi config set --secret {full_key}`"))
        else:
            valid = ", ".join(sorted([*OBJECT_KEYS, *SECRET_KEYS]))
            hint = " and looks like a credential: never store one in plain text" \
                if CREDENTIAL_NAME.search(key) and full_key not in secret_keys else ""
            problems.append(Problem(full_key, f" is not a known key{hint}; valid keys: {valid}"))

    platform_raw = objects.get("platform", {})
    env = platform_raw.get("environment")
    if "platform" not in objects:
        problems.append(Problem(f"{PROJECT}:platform", " is required (at least {environment: dev|prod})"))
    profile = defaults_for(str(env)) if isinstance(env, str) else {}
    policy_default = profile.pop("policy", {})
    merged = deep_merge(profile, platform_raw)
    if isinstance(env, str):
        fill_derived_defaults(merged, env)

    platform = policy = workloads = None
    platform_view = workloads_view = None  # the model, or a repaired one, for the cross-field rules
    dropped: list[str] = []
    try:
        # collect: the cross-field rules come from stack_problems() below, all of them, not the first
        platform = platform_view = PlatformConfig.model_validate(merged, context={"collect": True})
    except ValidationError as e:
        problems.extend(_problems_from(e, "platform", PlatformConfig))
        platform_view = _repaired(PlatformConfig, merged, e, f"{PROJECT}:platform", dropped)
    try:
        policy = PolicySettings.model_validate(deep_merge(policy_default, objects.get("policy", {})))
    except ValidationError as e:
        problems.extend(_problems_from(e, "policy", PolicySettings))
    if workloads_model is not None:
        try:
            workloads = workloads_view = workloads_model.model_validate(objects.get("workloads", {}))
        except ValidationError as e:
            problems.extend(_problems_from(e, "workloads", workloads_model))
            workloads_view = _repaired(workloads_model, objects.get("workloads", {}), e, f"{PROJECT}:workloads", dropped)
    elif objects.get("workloads"):
        problems.append(Problem(f"{PROJECT}:workloads", " is set but this program declares no workloads"))
    cross: list[Problem] = []
    if platform_view is not None:
        cross.extend(Problem(f"{PROJECT}:platform.{path}", f"={_fmt_value(value)} {msg}")
                     for path, value, msg in platform_view.stack_problems(complete=True))
        cross.extend(_environment_problems(stack, platform_view))
    if workload_rules is not None and platform_view is not None and workloads_view is not None:
        cross.extend(Problem(line, "") for line in workload_rules(platform_view, workloads_view))
    # a rule about a key whose bad value was set aside would only repeat (or guess at) the field error
    problems.extend(p for p in cross if not any(p.key.startswith(d) for d in dropped))
    if known_policies is not None and policy is not None:
        for name in sorted(set(policy.overrides) - set(known_policies)):
            problems.append(Problem(f"{PROJECT}:policy.overrides.{name}",
                                    f" names no policy of the packs; valid: {', '.join(sorted(known_policies))}"))

    if platform is not None and platform.cluster.kind.value == "existing" and f"{PROJECT}:kubeconfig" not in values:
        problems.append(Problem(f"{PROJECT}:kubeconfig", " is required for cluster.kind: existing; set it with "
                                                         f"`pulumi config set --secret {PROJECT}:kubeconfig < kubeconfig`"))
    if platform is not None and platform.monitoring.enabled and platform.monitoring.alert_receiver.value != "none" \
            and f"{PROJECT}:alertWebhookUrl" not in values:
        problems.append(Problem(f"{PROJECT}:alertWebhookUrl", " is required for platform.monitoring.alertReceiver: "
                                f"{platform.monitoring.alert_receiver.value}; set it with `pulumi config set --secret "
                                f"{PROJECT}:alertWebhookUrl <url>`"))
    if problems or platform is None or policy is None:
        # one problem per key, the first found (a nested credential is also an unknown key)
        seen: set[str] = set()
        unique = [p for p in problems if not (p.key in seen or seen.add(p.key))]
        raise StackConfigError(file, unique)
    return StackConfig(stack=stack, file=file, platform=platform, policy=policy, workloads=workloads,
                       secret_keys=frozenset(secret_keys),
                       placeholders=tuple(_placeholders(merged, f"{PROJECT}:platform")))


def _repaired(model: type[BaseModel], data: Any, err: ValidationError, prefix: str, dropped: list[str]) -> Any:
    """The model validated with every key that failed a field rule set aside (its default applies), so the
    cross-field rules can still run and a user sees those problems in the same run; None when a failure
    cannot be set aside (a required key, a rule of a whole object). The paths set aside go to `dropped`."""
    import copy

    data = copy.deepcopy(data)
    for _ in range(4):
        for e in err.errors():
            loc = tuple(e["loc"])
            if e["type"] == "pipeworks_field":  # a model's own rule naming one of its keys: set that key aside
                fld = str((e.get("ctx") or {}).get("field", ""))
                if not re.fullmatch(r"[A-Za-z]\w*", fld):
                    return None
                loc = (*loc, fld)
            if not loc or e["type"] == "missing" or not isinstance(loc[-1], str):
                return None
            parent: Any = data
            for part in loc[:-1]:
                try:
                    parent = parent[part]
                except (KeyError, IndexError, TypeError):
                    return None
            if not isinstance(parent, dict):
                return None
            parent.pop(loc[-1], None)
            parent.pop(_camel_or_snake(loc[-1]), None)
            dropped.append(_path(prefix, loc))
        try:
            return model.model_validate(data, context={"collect": True})
        except ValidationError as e:
            err = e
    return None


def _camel_or_snake(name: str) -> str:
    """The other spelling of a key (errors name fields by alias; data may use either)."""
    if "_" in name:
        head, *rest = name.split("_")
        return head + "".join(w.title() for w in rest)
    return re.sub(r"(?<!^)([A-Z])", lambda m: "_" + m.group(1).lower(), name)


# The first word of a stack name that says which environment the stack is.
_ENV_WORD = re.compile(r"^(dev|prod)(?:$|[-_.])")


def _environment_problems(stack: str, platform: PlatformConfig) -> list[Problem]:
    """A stack named prod (prod-eu, ...) on the dev profile, or the reverse, is refused unless the file says
    so on purpose (platform.environmentMismatchIntended: true)."""
    m = _ENV_WORD.match(stack)
    if m and m.group(1) != platform.environment.value and not platform.environment_mismatch_intended:
        return [Problem(f"{PROJECT}:platform.environment",
                        f"={platform.environment.value} but the stack is named {stack!r}; valid: {m.group(1)}, or "
                        "set platform.environmentMismatchIntended: true if that is on purpose")]
    return []


def from_pulumi(*, workloads_model: type[ConfigModel] | None = None,
                workload_rules: Callable[[PlatformConfig, BaseModel], list[str]] | None = None) -> StackConfig:
    """Load the running program's config (real engine or mocks) through the Pulumi SDK."""
    import pulumi
    from pulumi.runtime import config as rc

    values = {**rc.get_config_env(), **rc.CONFIG.get()}
    secret = {k for k in values if rc.is_config_secret(k)} | set(rc.get_config_secret_keys_env())
    cfg = load_stack_config(values, secret, stack=pulumi.get_stack(), workloads_model=workloads_model,
                            workload_rules=workload_rules)
    if not under_mocks():
        refuse_placeholders(cfg)
    return cfg


def under_mocks() -> bool:
    """True when the program runs under Pulumi's mocks (`pipeworks plan`, tests), not the engine."""
    from pulumi.runtime.mocks import MockMonitor
    from pulumi.runtime.settings import get_monitor

    return isinstance(get_monitor(), MockMonitor)
