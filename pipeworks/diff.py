"""`pipeworks diff BASE HEAD`: what a change does to a stack, as Markdown fit for a pull-request comment.

Resources are matched by URN; inputs are compared path by path. Secrets were replaced by "[secret]"
when the plans were written, so a changed secret shows as changed without its value."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from pipeworks.plan import SECRET
from pipeworks.summary import component_of

MAX_PATHS = 12  # per resource: a comment stays readable
MAX_VALUE = 80


class DiffInputError(Exception):
    pass


def _load(path: Path) -> list[dict[str, Any]]:
    f = path / "resources.json" if path.is_dir() else path
    if not f.is_file():
        raise DiffInputError(f"{path}: no resources.json (expected a plan directory written by `pipeworks plan`)")
    try:
        data = json.loads(f.read_text())
    except json.JSONDecodeError as e:
        raise DiffInputError(f"{f}: not valid JSON: {e}") from None
    if not isinstance(data, list):
        raise DiffInputError(f"{f}: expected a list of resources")
    return data


def changed_paths(old: Any, new: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(path, old, new) for every leaf that differs; a missing side is None. Strings holding JSON
    (ConfigMap data, IAM policies) are compared inside, so a diff names the field that changed."""
    if isinstance(old, str) and isinstance(new, str) and old != new and old[:1] in "[{" and new[:1] in "[{":
        try:
            return changed_paths(json.loads(old), json.loads(new), path + "(json)")
        except (json.JSONDecodeError, RecursionError):  # not JSON, or nested too deep to compare inside
            pass
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new), key=str):
            out += changed_paths(old.get(k), new.get(k), f"{path}.{k}" if path else str(k))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new)):
            out += changed_paths(a, b, f"{path}[{i}]")
        return out
    return [] if old == new else [(path, old, new)]


def _show(v: Any) -> str:
    if v is None:
        return "∅"
    if v == SECRET:
        return "(secret)"
    s = json.dumps(v, sort_keys=True)
    return s if len(s) <= MAX_VALUE else s[: MAX_VALUE - 1] + "…"


def _stack_dirs(base: Path, head: Path) -> list[tuple[str, Path, Path]]:
    """Accept two plan dirs (with resources.json) or two OUT dirs holding one subdir per stack."""
    if (base / "resources.json").is_file() or (head / "resources.json").is_file():
        return [(head.name, base, head)]
    names = sorted({p.name for d in (base, head) if d.is_dir() for p in d.iterdir() if (p / "resources.json").is_file()})
    if not names:
        raise DiffInputError(f"neither {base} nor {head} holds a plan (resources.json)")
    return [(n, base / n, head / n) for n in names]


def render_stack_diff(stack: str, base_dir: Path, head_dir: Path) -> tuple[str, tuple[int, int, int]]:
    base = _load(base_dir) if base_dir.exists() else []
    head = _load(head_dir) if head_dir.exists() else []
    old, new = {r["urn"]: r for r in base}, {r["urn"]: r for r in head}
    by_urn = {**old, **new}
    groups: dict[str, dict[str, list[str]]] = defaultdict(lambda: {"added": [], "removed": [], "changed": []})
    for urn, r in new.items():
        if urn not in old and r.get("custom"):
            groups[component_of(r, by_urn)]["added"].append(f"`{r['type']}` {r['name']}")
    for urn, r in old.items():
        if urn not in new and r.get("custom"):
            groups[component_of(r, by_urn)]["removed"].append(f"`{r['type']}` {r['name']}")
    for urn in sorted(set(old) & set(new)):
        a, b = old[urn], new[urn]
        if not b.get("custom"):
            continue
        paths = changed_paths(a.get("inputs"), b.get("inputs"))
        if a.get("provider") != b.get("provider"):
            paths.append(("(provider)", a.get("provider"), b.get("provider")))
        if paths:
            lines = [f"`{b['type']}` {b['name']}"]
            for p, x, y in paths[:MAX_PATHS]:
                lines.append(f"  - `{p}`: {_show(x)} → {_show(y)}")
            if len(paths) > MAX_PATHS:
                lines.append(f"  - … and {len(paths) - MAX_PATHS} more properties")
            groups[component_of(b, by_urn)]["changed"].append("\n".join(lines))
    counts = tuple(sum(len(g[k]) for g in groups.values()) for k in ("added", "removed", "changed"))
    out = [f"### Stack `{stack}`", ""]
    if not groups:
        out.append("No changes.")
    for comp in sorted(groups):
        g = groups[comp]
        out.append(f"#### `{comp}`: {len(g['added'])} to add, {len(g['removed'])} to remove, {len(g['changed'])} to change")
        for kind, sign in (("added", "+"), ("removed", "-"), ("changed", "~")):
            for item in g[kind]:
                out.append(f"- {sign} {item}")
        out.append("")
    return "\n".join(out), counts  # type: ignore[return-value]


def render_diff(base: Path, head: Path) -> str:
    sections, total = [], [0, 0, 0]
    for stack, b, h in _stack_dirs(base, head):
        text, counts = render_stack_diff(stack, b, h)
        sections.append(text)
        total = [x + y for x, y in zip(total, counts)]
    summary = f"**pipeworks plan diff: {total[0]} to add, {total[1]} to remove, {total[2]} to change.**"
    return "\n".join(["## Offline plan diff", "", summary, "", *sections])
