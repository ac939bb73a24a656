"""The input side of the offline tooling: argument checks every command shares, the plan folder guard
(`plan --out` never deletes what it did not write), stack names, and the `plan`/`diff` entry points.

Every refusal is a `BadInput` whose message names the file or argument and what would be valid; the
entry points turn it into exit code 2 (ExitCode.INVALID_INPUT) without a traceback."""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

from pipeworks.commands import ExitCode

# Written into every plan folder; a non-empty folder without it is never replaced.
PLAN_MARKER = ".pipeworks-plan"
# What `pipeworks plan` writes into OUT/STACK: the only entries it removes when it replaces a plan.
PLAN_ENTRIES = frozenset({PLAN_MARKER, "resources.json", "manifests", "helm", "stack.json", "summary.md",
                          "capacity.json"})
# Pulumi's stack names: letters, digits, '-', '_', '.'; not starting with '.', so never a path.
STACK_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}$")


class BadInput(Exception):
    """Unusable input; the message is fit for stderr."""


def check_stack_name(stack: str) -> str:
    if not STACK_NAME.match(stack):
        raise BadInput(f"stack name {stack!r} is not valid; valid: letters, digits, '-', '_' and '.' "
                       "(not first), e.g. dev or prod")
    return stack


def check_plan_dir(out_dir: Path, stack: str) -> Path:
    """OUT/STACK if a plan may be written there (missing, empty, or an earlier plan); BadInput when it
    holds anything a plan did not write: a folder without the marker, unknown entries, a file or a
    symlink. Touches nothing."""
    check_stack_name(stack)
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInput(f"--out {out_dir}: is a file, not a folder; name a folder (it is created when missing)")
    target = out_dir / stack
    if target.is_symlink():
        raise BadInput(f"--out {out_dir}: {target} is a symbolic link; refused (a plan replaces only a folder it wrote)")
    if target.exists() and not target.is_dir():
        raise BadInput(f"--out {out_dir}: {target} is a file, not an earlier plan; refused: move it or choose "
                       "another --out")
    if target.is_dir():
        entries = {p.name for p in target.iterdir()}
        if entries and PLAN_MARKER not in entries:
            raise BadInput(f"--out {out_dir}: {target} is not empty and was not written by `pipeworks plan` (no "
                           f"{PLAN_MARKER}); refused to replace it: choose another --out or empty it yourself")
        foreign = sorted(entries - PLAN_ENTRIES)
        if foreign:
            raise BadInput(f"--out {out_dir}: {target} holds files a plan does not write ({', '.join(foreign[:5])}); "
                           "refused to replace it: move them or choose another --out")
    return target


def prepare_plan_dir(out_dir: Path, stack: str) -> Path:
    """OUT/STACK, emptied of an earlier plan's entries and marked (check_plan_dir's refusals first)."""
    target = check_plan_dir(out_dir, stack)
    if target.is_dir():
        for name in {p.name for p in target.iterdir()}:
            p = target / name
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
    target.mkdir(parents=True, exist_ok=True)
    # Marked before anything else is written, so an interrupted plan can still be replaced.
    (target / PLAN_MARKER).write_text("written by `pipeworks plan`; this folder is replaced by the next plan\n")
    return target


class _Parser(argparse.ArgumentParser):
    """argparse, but an error names the command and exits 2 (argparse's own code, kept explicit)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: {message}", file=sys.stderr)
        raise SystemExit(ExitCode.INVALID_INPUT)


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    # allow_abbrev=False: `--o` is not silently `--out`; unknown flags are errors.
    return _Parser(prog=prog, description=description, allow_abbrev=False)


def plan_main(argv: list[str]) -> int:
    from pipeworks.plan import REPO_ROOT, InvalidStack, plan_validated, validate

    ap = parser("pipeworks plan", "Offline plan of a stack under Pulumi mocks.")
    ap.add_argument("stack")
    ap.add_argument("--out", default="out", type=Path,
                    help="folder for the plan (written to OUT/STACK; an existing OUT/STACK is replaced only if "
                         "an earlier plan wrote it)")
    args = ap.parse_args(argv)
    try:
        check_plan_dir(args.out, args.stack)  # before the program runs: a refusal costs nothing
        sf, cfg = validate(REPO_ROOT, args.stack)
        target = plan_validated(args.stack, sf, cfg, args.out)
    except InvalidStack as e:
        print(f"pipeworks plan: invalid stack {args.stack!r}:\n{e}", file=sys.stderr)
        return ExitCode.INVALID_INPUT
    except BadInput as e:
        print(f"pipeworks plan: {e}", file=sys.stderr)
        return ExitCode.INVALID_INPUT
    print((target / "summary.md").read_text())
    print(f"plan written to {target}/ (resources.json, manifests/, helm/, stack.json, summary.md)")
    # `<...>` values plan offline but `pulumi preview/up` refuses them: say which ones are left to set.
    for key, value in cfg.placeholders:
        print(f"before `pulumi up`: set {key} (now the placeholder {value})", file=sys.stderr)
    return ExitCode.CLEAN


def diff_main(argv: list[str]) -> int:
    from pipeworks.diff import DEFAULT_MAX_CHARS, DiffInputError, render_diff

    ap = parser("pipeworks diff", "Compare two plan outputs as Markdown.")
    ap.add_argument("base", type=Path)
    ap.add_argument("head", type=Path)
    ap.add_argument("--max-chars", type=_non_negative, default=DEFAULT_MAX_CHARS,
                    help=f"fold components until the Markdown fits (default {DEFAULT_MAX_CHARS}, under GitHub's "
                         "65,536-character comment limit); 0: no limit (for the job summary)")
    ap.add_argument("--full-link", metavar="URL", help="where the full diff is, named when the diff is folded")
    args = ap.parse_args(argv)
    try:
        for label, p in (("BASE_DIR", args.base), ("HEAD_DIR", args.head)):
            check_plan_folder(p, label)
        if (args.base / "resources.json").is_file() != (args.head / "resources.json").is_file():
            raise BadInput(f"{args.base} and {args.head}: one is a single plan (OUT/STACK) and the other a plan "
                           "output folder (OUT); valid: two of the same kind")
        for warning in stack_mismatch(args.base, args.head):
            print(f"pipeworks diff: warning: {warning}", file=sys.stderr)
        print(render_diff(args.base, args.head, max_chars=args.max_chars, full_link=args.full_link))
    except (DiffInputError, BadInput) as e:
        print(f"pipeworks diff: {e}", file=sys.stderr)
        return ExitCode.INVALID_INPUT
    return ExitCode.CLEAN


def _non_negative(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"{n} is negative; valid: 0 (no limit) or a number of characters")
    return n


def _plan_dirs(p: Path) -> list[Path]:
    """The plan folders at p: p itself (it has resources.json) or its STACK subfolders."""
    if (p / "resources.json").is_file():
        return [p]
    return sorted(d for d in p.iterdir() if d.is_dir() and (d / "resources.json").is_file()) if p.is_dir() else []


def check_plan_folder(p: Path, label: str) -> None:
    if not p.exists():
        raise BadInput(f"{label} {p}: no such folder; valid: a folder written by `pipeworks plan` (OUT or OUT/STACK)")
    if not p.is_dir():
        raise BadInput(f"{label} {p}: is a file; valid: a folder written by `pipeworks plan` (OUT or OUT/STACK)")
    if not _plan_dirs(p):
        raise BadInput(f"{label} {p}: not a plan folder (no resources.json in it or its STACK subfolders); "
                       "valid: a folder written by `pipeworks plan`")
    # The records themselves are read once, by the diff (pipeworks.diff.load_plan_records: the safe reader and
    # the shape check), which reports a bad file the same way (exit 2, the file named).


def _stack_of(d: Path) -> str:
    from policies.saferead import InputError, read_json

    try:
        info = read_json(d / "stack.json")
    except InputError:
        return d.name
    return str(info.get("stack", d.name)) if isinstance(info, dict) else d.name


def stack_mismatch(base: Path, head: Path) -> list[str]:
    """Two single plans of different stacks: the diff is meaningful only as a comparison, so say so."""
    b, h = _plan_dirs(base), _plan_dirs(head)
    if len(b) == 1 and len(h) == 1 and (sb := _stack_of(b[0])) != (sh := _stack_of(h[0])):
        return [f"BASE_DIR is a plan of stack {sb!r} and HEAD_DIR of stack {sh!r}: this compares two different stacks"]
    return []


def _size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10_000


def check_pools_document(raw: object, label: str) -> None:
    """A --pools file beyond what the ConfigMap parser tolerates: sizes are non-negative whole numbers (not
    strings, not booleans), maxSize is at least minSize, lists are lists."""
    if not isinstance(raw, list):
        raise BadInput(f"{label}: must be a list of pools (the pools.json form), got {type(raw).__name__}")
    if not raw:
        raise BadInput(f"{label}: lists no pools; valid: at least one {{name, role, minSize, maxSize, ...}}")
    for i, p in enumerate(raw):
        where = f"{label}: [{i}]"
        if not isinstance(p, dict):
            raise BadInput(f"{where} must be an object {{name, role, minSize, maxSize, ...}}, got {p!r}")
        for key in ("minSize", "maxSize"):
            if key in p and not _size(p[key]):
                raise BadInput(f"{where}.{key}={json_value(p[key])} is not valid; valid: a whole number 0..10000")
        if _size(p.get("minSize", 0)) and _size(p.get("maxSize", 0)) and p.get("maxSize", 0) < p.get("minSize", 0):
            raise BadInput(f"{where}.maxSize={p['maxSize']} is below minSize={p.get('minSize')}")
        for key in ("instanceTypes", "zones", "taints"):
            if key in p and not isinstance(p[key], list):
                raise BadInput(f"{where}.{key}={json_value(p[key])} must be a list")
        cap = p.get("capacity")
        if cap is not None:
            if not isinstance(cap, dict):
                raise BadInput(f"{where}.capacity must be an object {{cpu, memory, gpu}}, got {json_value(cap)}")
            if "gpu" in cap and not _size(cap["gpu"]):
                raise BadInput(f"{where}.capacity.gpu={json_value(cap['gpu'])} is not valid; valid: a whole number >= 0")
            for key in ("cpu", "memory"):
                v = cap.get(key)
                if isinstance(v, bool) or (isinstance(v, (int, float)) and v < 0) or \
                        (isinstance(v, str) and v.strip().startswith("-")):
                    raise BadInput(f"{where}.capacity.{key}={json_value(v)} is not valid; valid: a positive quantity "
                                   "(e.g. 4, \"3500m\", \"15Gi\")")


def json_value(v: object) -> str:
    import json

    try:
        return json.dumps(v)
    except (TypeError, ValueError):
        return repr(v)


def stack_file_in_repo(name: object, plan_dir: Path, repo_root: Path) -> Path | None:
    """The stack file a plan's stack.json names, only if it is a Pulumi.<stack>.yaml inside the repository
    (or the plan folder): a plan must not point the tools at files elsewhere. BadInput otherwise."""
    if name is None:
        return None
    if not isinstance(name, str) or not re.fullmatch(r"(?:[\w.-]+/)*Pulumi\.[\w.-]+\.yaml", name) \
            or ".." in Path(name).parts:
        raise BadInput(f"{plan_dir / 'stack.json'}: stackFile={json_value(name)} is not valid; valid: a stack file "
                       "of the repository as `pipeworks plan` writes it, e.g. Pulumi.dev.yaml")
    for base in (repo_root, plan_dir):
        candidate = (base / name).resolve()
        if candidate.is_file() and candidate.is_relative_to(base.resolve()):
            return candidate
    return None
