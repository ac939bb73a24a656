"""`pipeworks config-docs`: the reference of every stack config key, generated from the pydantic models
(docs/CONFIG.md), so the documentation cannot drift from what the loader accepts."""

from __future__ import annotations

import sys
import typing
from enum import Enum
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from infra.config import SECRET_KEYS, PlatformConfig, PolicySettings
from infra.config.loader import fill_derived_defaults
from infra.config.profiles import PROFILES, deep_merge, defaults_for


def _type_name(t: Any) -> str:
    origin = typing.get_origin(t)
    args = typing.get_args(t)
    if origin is typing.Annotated:  # Quantity, Size: the validator is metadata, the type is the first argument
        return _type_name(args[0])
    if origin in (list, tuple):
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"map of {_type_name(args[1])}" if len(args) == 2 else "map"
    if args and type(None) in args:
        inner = [a for a in args if a is not type(None)]
        return _type_name(inner[0]) if len(inner) == 1 else " or ".join(_type_name(a) for a in inner)
    if isinstance(t, type) and issubclass(t, Enum):
        return " \\| ".join(f"`{m.value}`" for m in t)
    if isinstance(t, type) and issubclass(t, BaseModel):
        return "object"
    return getattr(t, "__name__", str(t))


def _models(t: Any) -> list[type[BaseModel]]:
    if isinstance(t, type) and issubclass(t, BaseModel):
        return [t]
    return [m for a in typing.get_args(t) for m in _models(a)]


ENVIRONMENTS = ("dev", "prod")
MISSING = object()  # no default: the stack file must set it


def _plain(value: Any) -> Any:
    """A default as the stack file would spell it (models and enums dumped by alias, lists item by item)."""
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True, mode="json")
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _field_default(f: Any) -> Any:
    if f.default_factory is not None:
        return _plain(f.default_factory())  # type: ignore[call-arg]
    if f.is_required() or f.default is PydanticUndefined:
        return MISSING
    return _plain(f.default)


def _env_value(f: Any, key: str, parent: Any) -> Any:
    """The value a stack that leaves `key` unset gets: the profile's (already merged into `parent`, the value of the
    enclosing object in this environment) over the model's default, merged key by key as the loader merges."""
    default = _field_default(f)
    if isinstance(parent, dict) and key in parent:
        given = parent[key]
        return deep_merge(default, given) if isinstance(default, dict) and isinstance(given, dict) else given
    return default


def _show(value: Any, has_models: bool) -> str:
    if value is MISSING:
        return "**required**"
    if value is None:
        return "none"
    if isinstance(value, dict) and has_models:
        return "see below"
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        names = [str(v["name"]) for v in value if "name" in v]
        return f"{len(value)}: " + ", ".join(f"`{n}`" for n in names) if names else f"{len(value)} entries"
    return f"`{value!r}`".replace("|", "\\|")


def entries(model: type[BaseModel], prefix: str, parents: dict[str, Any]) -> list[tuple[str, Any, dict[str, Any]]]:
    """(key, field, value per environment) of every field, depth first; `parents` holds the enclosing object's
    value per environment (None inside list items, whose defaults hold in every environment). A value is
    MISSING where the stack file must set the key."""
    out: list[tuple[str, Any, dict[str, Any]]] = []
    for name, f in model.model_fields.items():
        alias = f.alias or name
        key = f"{prefix}.{alias}"
        values = {env: _env_value(f, alias, parent) for env, parent in parents.items()}
        out.append((key, f, values))
        for sub in _models(f.annotation):
            if typing.get_origin(f.annotation) is list:
                out += entries(sub, f"{key}[]", {env: None for env in ENVIRONMENTS})
            else:
                out += entries(sub, key, values)
    return out


def _rows(model: type[BaseModel], prefix: str, parents: dict[str, Any]) -> list[str]:
    rows = []
    for key, f, values in entries(model, prefix, parents):
        subs = bool(_models(f.annotation))
        shown = " | ".join(_show(values[env], subs) for env in ENVIRONMENTS)
        desc = (f.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{key}` | {_type_name(f.annotation)} | {shown} | {desc} |")
    return rows


def section_defaults(section: str, env: str) -> dict[str, Any]:
    """What the profile of `env` sets in a section (`platform`, `policy`, `workloads`), before model defaults."""
    profile = defaults_for(env)
    policy = profile.pop("policy", {})
    fill_derived_defaults(profile, env)  # zones from the region, the deployer-network placeholder: as the loader
    return {"platform": profile, "policy": policy}.get(section, {})


def render() -> str:
    out = ["# Stack configuration reference", "",
           "Generated by `pipeworks config-docs` from `infra/config/` — do not edit by hand.", "",
           "Every key shows the value a stack gets when its file leaves the key unset, in each environment: the",
           "environment's profile (`infra/config/profiles.py`) merged over the model's default, as the loader does.",
           "The rule: **a model's default is the dev value; the prod profile states every value where prod differs;",
           "the dev profile states only what no model defaults** (the cluster's endpoint and NAT choices, the node",
           "pools, the policy enforcement). A list in a stack file replaces the default list whole, so the keys under",
           "`[]` show the defaults of each entry. `cluster.eks.availabilityZones` defaults to the first 2 (dev) or 3",
           "(prod) zones of the region, and `cluster.eks.deployerNetworks` to a placeholder that `pulumi up` refuses",
           "(both shown for the default region). Stack files (`Pulumi.<stack>.yaml`) hold only what differs.",
           "Unknown keys are errors.", "",
           "## Credentials (top-level `secure:` values only)", "", "| key | what |", "|---|---|"]
    out += [f"| `pipeworks:{k}` | {v} |" for k, v in SECRET_KEYS.items()]
    import program  # the program owns the workloads model (infra/ never imports workloads/)

    sections = [("platform", PlatformConfig), ("policy", PolicySettings)]
    if getattr(program, "WORKLOADS_MODEL", None) is not None:
        sections.append(("workloads", program.WORKLOADS_MODEL))
    for section, model in sections:
        title = f"pipeworks:{section}"
        out += ["", f"## `{title}`", "", "| key | type | dev | prod | description |", "|---|---|---|---|---|"]
        out += _rows(model, title, {env: section_defaults(section, env) for env in ENVIRONMENTS})
    out += ["", "## Environment profiles", ""]
    for env, prof in PROFILES.items():
        pools = ", ".join(f"{p['name']} ({p['role']}, {p['minSize']}..{p['maxSize']}, {p.get('capacityType', 'ON_DEMAND')})"
                          for p in prof.get("nodePools", []))
        out.append(f"- **{env}**: node pools {pools}.")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    from pipeworks.commands import ExitCode
    from pipeworks.inputs import parser

    ap = parser("pipeworks config-docs", "The stack config reference (docs/CONFIG.md) from the models.")
    ap.add_argument("--check", action="store_true", help="exit 1 when docs/CONFIG.md differs from the models")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        from pathlib import Path
        current = (Path(__file__).resolve().parent.parent / "docs" / "CONFIG.md").read_text()
        if current != text:
            print("docs/CONFIG.md is stale: run `.venv/bin/pipeworks config-docs > docs/CONFIG.md`", file=sys.stderr)
            return ExitCode.VIOLATIONS
        return ExitCode.CLEAN
    sys.stdout.write(text)
    return ExitCode.CLEAN
