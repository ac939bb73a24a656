"""`pipeworks diff BASE HEAD`: what a change does to a stack, as Markdown fit for a pull-request comment.

Resources are matched by URN; inputs are compared path by path, list items by their `name` (or `key`).
A change to a create-only field (pipeworks/replacements.py) or to the resource's provider is a
replacement, listed first. Secret values were replaced by "[secret]" when the plans were written; their
keyed digests (`secretDigests`) tell whether a secret changed, shown as "(secret changed)".

Rendering survives GitHub: every line starts with a bold action word (`+ add`, `- remove`, `+- replace`,
`~ update`) instead of a bare `+`/`-` that Markdown would take for a list marker, and every value is in a
code span. Each component folds into `<details>`; the whole comment stays under a size cap (GitHub
refuses comments over 65,536 characters), with a pointer to the full diff.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeworks import prices
from pipeworks.plan import SECRET
from pipeworks.replacements import forced_fields
from policies.saferead import InputError, read_json
from pipeworks.summary import component_of
from policies.rules import vocabulary

MAX_PATHS = 12  # per resource: a comment stays readable
MAX_VALUE = 80
MAX_AFFECTED = 20  # resources named under a replaced provider
COMMENT_LIMIT = 65_536  # GitHub's limit for a comment body
DEFAULT_MAX_CHARS = 60_000  # under the limit with room for the workflow's own lines
SECRET_CHANGED = object()  # marks a secret whose digest changed
LIST_KEYS = ("name", "key")  # list items are matched by the first of these that identifies each item

ACTIONS = {  # action -> label; bold words, never a bare +/- at the start of a Markdown line
    "replace": "**+- replace**", "add": "**+ add**", "remove": "**- remove**", "update": "**~ update**"}
ORDER = ("replace", "add", "remove", "update")


class DiffInputError(Exception):
    pass


def load_plan_records(path: Path) -> list[dict[str, Any]]:
    """A plan's resources.json, read once through the safe reader (size, depth, encoding, duplicate keys) and
    checked for the shape the diff relies on; DiffInputError names the file and what is valid."""
    f = path / "resources.json" if path.is_dir() else path
    if not f.is_file():
        raise DiffInputError(f"{path}: no resources.json (expected a plan directory written by `pipeworks plan`)")
    try:
        data = read_json(f)
    except InputError as e:
        raise DiffInputError(str(e)) from None
    if not isinstance(data, list) or not all(
            isinstance(r, dict) and isinstance(r.get("urn"), str) and isinstance(r.get("type"), str)
            and isinstance(r.get("inputs", {}), dict) for r in data):
        raise DiffInputError(f"{f}: not a plan's resources (valid: a JSON list of objects with string urn and type "
                             "and an inputs object)")
    return data


def _item_key(items: list[Any]) -> str | None:
    """The field that identifies every item of a list of objects uniquely, if any."""
    if not items or not all(isinstance(x, dict) for x in items):
        return None
    for k in LIST_KEYS:
        vals = [x.get(k) for x in items]
        if all(isinstance(v, (str, int)) for v in vals) and len(set(vals)) == len(vals):
            return k
    return None


def changed_paths(old: Any, new: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(path, old, new) for every leaf that differs; a missing side is None. Strings holding JSON
    (ConfigMap data, IAM policies) are compared inside, so a diff names the field that changed. Lists of
    objects with a `name` (or `key`) are matched by it (`containers[name=api].image`), so an added pool
    shows as one added item, not every later item changed."""
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
    if isinstance(old, list) and isinstance(new, list):
        key = _item_key(old) if old and new and _item_key(old) == _item_key(new) else None
        if key:
            a, b = {x[key]: x for x in old}, {x[key]: x for x in new}
            out = []
            for name in [*a, *(n for n in b if n not in a)]:
                out += changed_paths(a.get(name), b.get(name), f"{path}[{key}={name}]")
            return out
        if len(old) == len(new) or not (old and new):
            out = []
            for i in range(max(len(old), len(new))):
                out += changed_paths(old[i] if i < len(old) else None, new[i] if i < len(new) else None,
                                     f"{path}[{i}]")
            return out if old and new else ([] if old == new else [(path, old or None, new or None)])
        return [] if old == new else [(path, old, new)]
    return [] if old == new else [(path, old, new)]


def code(s: str) -> str:
    """`s` as a Markdown code span, whatever backticks it holds."""
    run = max((len(r) for r in _backtick_runs(s)), default=0)
    fence = "`" * (run + 1)
    pad = " " if run or s.startswith(" ") or s.endswith(" ") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def _backtick_runs(s: str) -> list[str]:
    runs, cur = [], ""
    for c in s:
        if c == "`":
            cur += c
        elif cur:
            runs.append(cur)
            cur = ""
    return runs + ([cur] if cur else [])


def _show(v: Any, other: Any = None) -> str:
    if v is None:
        return "∅"
    if v is SECRET_CHANGED:
        return "(secret changed)"
    if v == SECRET:
        return "(secret)"
    s = json.dumps(v, sort_keys=True, ensure_ascii=False)
    if len(s) <= MAX_VALUE:
        return code(s)
    if isinstance(v, str) and isinstance(other, str):  # long text: show where it starts to differ
        o = json.dumps(other, sort_keys=True, ensure_ascii=False)
        i = next((j for j, (x, y) in enumerate(zip(s, o)) if x != y), min(len(s), len(o)))
        start = max(0, i - 20)
        s = ("…" if start else "") + s[start:start + MAX_VALUE - 2] + "…"
        return code(s)
    return code(s[: MAX_VALUE - 1] + "…")


def _stack_dirs(base: Path, head: Path) -> list[tuple[str, Path, Path]]:
    """Accept two plan dirs (with resources.json) or two OUT dirs holding one subdir per stack."""
    if (base / "resources.json").is_file() or (head / "resources.json").is_file():
        return [(head.name, base, head)]
    names = sorted({p.name for d in (base, head) if d.is_dir() for p in d.iterdir() if (p / "resources.json").is_file()})
    if not names:
        raise DiffInputError(f"neither {base} nor {head} holds a plan (resources.json)")
    return [(n, base / n, head / n) for n in names]


def _provider_urn(ref: str | None) -> str | None:
    """A provider reference is `URN::ID`; the URN itself contains `::`."""
    return ref.rsplit("::", 1)[0] if ref else None


@dataclass
class Entry:
    action: str
    rec: dict[str, Any]
    paths: list[tuple[str, Any, Any]] = field(default_factory=list)
    forced: list[str] = field(default_factory=list)  # create-only fields that changed; "(provider)" when that
    affected: list[str] = field(default_factory=list)  # for a replaced provider: the resources it replaces

    @property
    def provider_only(self) -> bool:
        return self.action == "replace" and self.forced == ["(provider)"] and not self.paths

    def render(self) -> str:
        r = self.rec
        head = f"- {ACTIONS[self.action]} {code(r['type'])} {code(r['name'])}"
        if self.forced:
            head += " (forced by " + ", ".join(code(f) if f != "(provider)" else "its provider" for f in self.forced) + ")"
        lines = [head]
        for p, x, y in self.paths[:MAX_PATHS]:
            if y is SECRET_CHANGED:
                lines.append(f"  - {code(p)}: (secret changed)")
            else:
                lines.append(f"  - {code(p)}: {_show(x, y)} → {_show(y, x)}")
        if len(self.paths) > MAX_PATHS:
            lines.append(f"  - … and {len(self.paths) - MAX_PATHS} more properties")
        warning = storage_node_warning(self)
        if warning:
            lines.append(f"  - {warning}")
        if self.affected:
            names = ", ".join(code(n) for n in self.affected[:MAX_AFFECTED])
            more = f" and {len(self.affected) - MAX_AFFECTED} more" if len(self.affected) > MAX_AFFECTED else ""
            lines.append(f"  - replaces every resource it manages ({len(self.affected)}): {names}{more}")
        return "\n".join(lines)


def storage_node_warning(entry: Entry) -> str | None:
    """A replaced (or removed) node group of an nvme pool takes its instance-store disks with it: on raw pools
    every Ceph OSD of the pool, on raid0 pools the scratch of Kafka/Elasticsearch hot data."""
    r = entry.rec
    if r.get("type") != "aws:eks/nodeGroup:NodeGroup" or entry.action not in ("replace", "remove"):
        return None
    labels = (r.get("inputs") or {}).get("labels") or {}
    if labels.get(vocabulary.LABEL_ROLE) != "nvme":
        return None
    pool = labels.get(vocabulary.LABEL_POOL, r.get("name"))
    mode = labels.get(vocabulary.LABEL_NVME_MODE)
    what = "every Ceph OSD on it" if mode == "raw" else "the NVMe scratch on it"
    return (f"**replaces storage nodes**: every node of pool {code(str(pool))} goes with its instance-store "
            f"NVMe ({what}); raw pools in prod are protected and change by the blue/green migration "
            "(docs/ARCHITECTURE.md, Node pools)")


def diff_resources(base: list[dict[str, Any]], head: list[dict[str, Any]]) -> list[Entry]:
    """Every change between two plans, one Entry per resource (components themselves are not listed)."""
    old, new = {r["urn"]: r for r in base}, {r["urn"]: r for r in head}
    entries: list[Entry] = []
    # Providers first: a replaced provider replaces everything it manages.
    replaced_providers: dict[str, list[str]] = {}
    for urn in sorted(set(old) & set(new)):
        a, b = old[urn], new[urn]
        if b["type"].startswith("pulumi:providers:"):
            # Digests are left out here: a rotated kubeconfig credential for the same cluster does not
            # replace the provider (pulumi-kubernetes compares the cluster it names, which the offline
            # plan cannot see inside a secret); the change still shows as "(secret changed)".
            f = forced_fields(b["type"], a.get("inputs") or {}, b.get("inputs") or {})
            if f:
                replaced_providers[urn] = f
    for urn, r in sorted(new.items()):
        if urn not in old and r.get("custom"):
            entries.append(Entry("add", r))
    for urn, r in sorted(old.items()):
        if urn not in new and r.get("custom"):
            entries.append(Entry("remove", r))
    by_provider: dict[str, list[str]] = defaultdict(list)
    for urn in sorted(set(old) & set(new)):
        a, b = old[urn], new[urn]
        if not b.get("custom"):
            continue
        ai, bi = a.get("inputs") or {}, b.get("inputs") or {}
        paths = changed_paths(ai, bi)
        da, db = a.get("secretDigests") or {}, b.get("secretDigests") or {}
        paths += [(p, None, SECRET_CHANGED) for p in sorted(set(da) | set(db))
                  if da.get(p) != db.get(p) and p in da and p in db]
        prov_a, prov_b = _provider_urn(a.get("provider")), _provider_urn(b.get("provider"))
        prov_inputs = (new.get(prov_b) or {}).get("inputs") if prov_b else None
        if b["type"].startswith("pulumi:providers:"):
            forced = list(replaced_providers.get(urn, []))
        else:
            forced = forced_fields(b["type"], ai, bi, prov_inputs, da, db)
        if prov_a != prov_b or prov_b in replaced_providers:
            forced.append("(provider)")
            by_provider[prov_b or ""].append(f"{b['type'].rsplit(':', 1)[-1]}/{b['name']}")
        if paths or forced:
            entries.append(Entry("replace" if forced else "update", b, paths, forced))
    for e in entries:
        if e.rec["urn"] in by_provider:
            e.affected = sorted(by_provider[e.rec["urn"]])
            if e.action == "update":
                e.action = "replace"
    return entries


def cost_line(base_dir: Path, head_dir: Path) -> str | None:
    """One line: the stack's estimated monthly cost at min and max size, base → head (capacity.json)."""
    def totals(d: Path) -> dict[str, float] | None:
        f = d / "capacity.json"
        try:
            data = read_json(f) if f.is_file() else None
        except InputError:
            return None  # the cost line is a courtesy: an unreadable capacity.json drops it, never the diff
        t = data.get("totals") if isinstance(data, dict) else None
        return t if isinstance(t, dict) else None

    a, b = totals(base_dir), totals(head_dir)
    if b is None:
        return None

    def span(t: dict[str, float]) -> str:
        return f"{prices.money(t.get('monthlyOnDemandMin', 0))}–{prices.money(t.get('monthlyOnDemandMax', 0))}"

    if a is None:
        return f"Estimated cost (on-demand, min–max nodes): {code(span(b) + '/month')}."
    dmin = b.get("monthlyOnDemandMin", 0) - a.get("monthlyOnDemandMin", 0)
    dmax = b.get("monthlyOnDemandMax", 0) - a.get("monthlyOnDemandMax", 0)
    delta = f"{'+' if dmin >= 0 else '-'}{prices.money(abs(dmin))} at min, {'+' if dmax >= 0 else '-'}{prices.money(abs(dmax))} at max"
    return (f"Estimated cost (on-demand, min–max nodes): {code(span(a) + '/month')} → {code(span(b) + '/month')} "
            f"({code(delta)} per month).")


def _counts(entries: list[Entry]) -> dict[str, int]:
    return {a: sum(1 for e in entries if e.action == a) for a in ORDER}


def _count_text(c: dict[str, int]) -> str:
    words = {"replace": "to replace", "add": "to add", "remove": "to remove", "update": "to change"}
    return ", ".join(f"{c[a]} {words[a]}" for a in ORDER)


@dataclass
class Block:
    """One component of one stack: its full rendering and a compact one (counts only) for the size cap."""
    full: str
    compact: str


def _component_blocks(entries: list[Entry], by_urn: dict[str, dict[str, Any]], open_: bool) -> list[Block]:
    groups: dict[str, list[Entry]] = defaultdict(list)
    for e in entries:
        groups[component_of(e.rec, by_urn)].append(e)
    blocks = []
    for comp in sorted(groups, key=lambda c: (-_counts(groups[c])["replace"], c)):
        es = sorted(groups[comp], key=lambda e: (ORDER.index(e.action), e.rec["type"], e.rec["name"]))
        # Markdown is not rendered inside <summary>: HTML there, a code span in the compact form.
        summary = f"<code>{html.escape(comp)}</code>: {_count_text(_counts(es))}"
        lines = [e.render() for e in es if not e.provider_only]
        only = [e for e in es if e.provider_only]
        if only:
            more = " more" if lines else ""
            lines.append(f"- {ACTIONS['replace']} {len(only)}{more} resource(s) only because their provider is replaced "
                         "or changed (listed under the provider)")
        body = "\n".join(lines)
        full = f"<details{' open' if open_ else ''}>\n<summary>{summary}</summary>\n\n{body}\n\n</details>\n"
        blocks.append(Block(full, f"- {code(comp)}: {_count_text(_counts(es))} (details in the full diff)\n"))
    return blocks


def render_stack_diff(stack: str, base_dir: Path, head_dir: Path) -> tuple[list[str], list[Block], dict[str, int]]:
    """(header lines, component blocks, counts) of one stack."""
    base = load_plan_records(base_dir) if base_dir.exists() else []
    head = load_plan_records(head_dir) if head_dir.exists() else []
    by_urn = {**{r["urn"]: r for r in base}, **{r["urn"]: r for r in head}}
    entries = diff_resources(base, head)
    counts = _counts(entries)
    header = [f"### Stack {code(stack)}: {_count_text(counts)}", ""]
    cost = cost_line(base_dir, head_dir)
    if cost:
        header += [cost, ""]
    if not entries:
        header += ["No changes.", ""]
    return header, _component_blocks(entries, by_urn, open_=len(entries) <= 10), counts


def render_diff(base: Path, head: Path, max_chars: int | None = DEFAULT_MAX_CHARS, full_link: str | None = None) -> str:
    """The Markdown diff of every stack, at most `max_chars` long (None or 0: no limit)."""
    stacks = [(s, *render_stack_diff(s, b, h)) for s, b, h in _stack_dirs(base, head)]
    total = {a: sum(c[a] for *_, c in stacks) for a in ORDER}
    top = ["## Offline plan diff", "", f"**pipeworks plan diff: {_count_text(total)}.**", ""]
    compacted: set[tuple[int, int]] = set()

    def assemble(note: str = "") -> str:
        out = list(top) + ([note, ""] if note else [])
        for i, (_, header, blocks, _) in enumerate(stacks):
            out += header
            out += [b.compact if (i, j) in compacted else b.full for j, b in enumerate(blocks)]
        return "\n".join(out)

    text = assemble()
    if not max_chars or len(text) <= max_chars:
        return text
    where = f"[the full diff]({full_link})" if full_link else "the full diff (the job summary of this workflow run)"
    note = (f"> This diff is longer than a comment allows ({len(text):,} characters): the largest components are "
            f"shown as counts only; see {where}.")
    # Fold the largest components first until the comment fits.
    sizes = sorted(((len(b.full), i, j) for i, (*_, blocks, _) in enumerate(stacks) for j, b in
                    enumerate(blocks)), reverse=True)
    for _, i, j in sizes:
        compacted.add((i, j))
        text = assemble(note)
        if len(text) <= max_chars:
            return text
    # Still too long (thousands of components): cut at a line boundary, never inside a <details>.
    cut = text[: max_chars - 200].rsplit("\n- ", 1)[0]
    return cut + f"\n\n… cut to fit; see {where}.\n"
