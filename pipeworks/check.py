"""`pipeworks check`: the policy packs' rules outside the Pulumi CLI, on a stack (planned first), an
offline plan directory, or plain Kubernetes manifests; text, Markdown (a CI step summary), JSON or
SARIF output.

Exit status: 1 when a mandatory violation remains, 0 otherwise, 2 on unusable input.
Also `pipeworks policy-config STACK|PLAN_DIR`: the `--policy-pack-config` file of a stack.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from policies.engine import Enforcement, EnforcementError, Report, evaluate
from policies.manifests import ManifestError, load_paths
from policies.rules import BY_NAME, RULES, rules_of_pack
from policies.rules.model import Finding, Resource
from policies.rules.pools import Pool, PoolsError, parse_pools
from policies.rules.stackfile import lint_stack_file
from policies.saferead import STACK_FILE_BYTES, InputError, read_json, read_text, read_yaml
from pipeworks.commands import ExitCode
from pipeworks.inputs import (STACK_NAME, BadInput, check_plan_dir, check_pools_document, check_stack_name, parser,
                              stack_file_in_repo)

REPO_ROOT = Path(__file__).resolve().parents[1]


class UnusableInput(Exception):
    """Input the check cannot evaluate at all (exit 2); the message says what and how to fix it."""


@dataclass
class Target:
    label: str
    source: str  # plan | manifests
    resources: list[Resource]
    enforcement: Enforcement
    pools: list[Pool] | None = None
    pools_known: bool = True
    stack_file: str | None = None  # repository-relative path of the stack file, for locations
    extra: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --- loading ---------------------------------------------------------------------------------------

def read_plan_resources(plan_dir: Path) -> list[Resource]:
    path = plan_dir / "resources.json"
    try:
        records = read_json(path)
    except InputError as e:
        raise UnusableInput(str(e)) from None
    if not isinstance(records, list):
        raise UnusableInput(f"{path}: must be a JSON list of resources")
    out = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict) or not all(isinstance(rec.get(k), str) for k in ("urn", "type", "name")):
            raise UnusableInput(f"{path}[{i}]: each resource needs string urn, type and name")
        inputs = rec.get("inputs") if isinstance(rec.get("inputs"), dict) else {}
        # where the program declared it (recorded by the plan's mocks), for SARIF locations
        src = rec.get("source") if isinstance(rec.get("source"), dict) else {}
        file, line = src.get("file"), src.get("line")
        out.append(Resource(urn=rec["urn"], type=rec["type"], name=rec["name"], props=inputs,
                            parent=rec.get("parent") or None, dependencies=tuple(rec.get("dependencies") or ()),
                            source=str(REPO_ROOT / file) if isinstance(file, str) else None,
                            line=line if isinstance(line, int) else None))
    return out


def _find_stack_file(name: object, plan_dir: Path) -> Path | None:
    try:
        return stack_file_in_repo(name, plan_dir, REPO_ROOT)  # never a file outside the repository
    except BadInput as e:
        raise UnusableInput(str(e)) from None


def _relative(p: Path) -> str:
    for base in (Path.cwd(), REPO_ROOT):
        try:
            return str(p.resolve().relative_to(base.resolve()))
        except ValueError:
            continue
    return str(p)


def load_plan(plan_dir: Path, environment: str | None = None) -> Target:
    resources = read_plan_resources(plan_dir)
    stack_json = plan_dir / "stack.json"
    notes = []
    extra: list[Finding] = []
    stack_file_label = None
    if stack_json.is_file():
        try:
            info = read_json(stack_json)
        except InputError as e:
            raise UnusableInput(str(e)) from None
        if not isinstance(info, dict):
            raise UnusableInput(f"{stack_json}: must be a JSON object")
        try:
            enforcement = Enforcement.from_stack_json(info, str(stack_json))
        except EnforcementError as e:
            raise UnusableInput(str(e)) from e
        name = info.get("stackFile")
        found = _find_stack_file(name, plan_dir)
        stack_file_label = _relative(found) if found else (name if isinstance(name, str) else None)
        document: Any = {}
        if found is not None:
            try:
                document = read_yaml(found, _relative(found), max_bytes=STACK_FILE_BYTES) or {}
            except InputError as e:
                raise UnusableInput(str(e)) from None
        elif isinstance(name, str):
            notes.append(f"stack file {name} not found: only its secrets provider was linted")
        extra = lint_stack_file(stack_file_label or "stack file", document, enforcement.environment,
                                info.get("secretsProvider"))
        label = f"stack {info.get('stack', plan_dir.name)} (plan {plan_dir})"
    else:
        enforcement = Enforcement.for_environment(environment or "dev")
        notes.append(f"{plan_dir} has no stack.json: judged as {enforcement.environment} with default enforcement")
        label = f"plan {plan_dir}"
    return Target(label=label, source="plan", resources=resources, enforcement=enforcement, extra=extra,
                  notes=notes, stack_file=stack_file_label)


def load_pools_file(path: Path) -> list[Pool]:
    try:
        raw = read_yaml(path) if path.suffix in (".yaml", ".yml") else read_json(path)
        check_pools_document(raw, f"--pools {path}")
        return parse_pools(raw, str(path))
    except (InputError, BadInput, PoolsError) as e:
        raise UnusableInput(str(e)) from None


@contextmanager
def _plan_dir_for(stack: str, out: Path | None) -> Iterator[Path]:
    try:
        from pipeworks.plan import InvalidStack, plan_stack
    except ImportError as e:  # pragma: no cover - pipeworks.plan ships with the repo
        raise UnusableInput(f"cannot plan stack {stack!r}: pipeworks.plan is unavailable ({e})") from e
    with tempfile.TemporaryDirectory(prefix="pipeworks-check-") as tmp:
        try:
            if out is not None:
                check_plan_dir(out, stack)  # before the program runs
            yield plan_stack(stack, out or Path(tmp))
        except InvalidStack as e:
            raise UnusableInput(f"invalid stack {stack!r}:\n{e}") from e
        except BadInput as e:
            raise UnusableInput(str(e)) from None


def _project_dir() -> Path:
    import pipeworks.plan

    return pipeworks.plan.REPO_ROOT  # where `plan` reads stack files


def is_plan_dir(p: Path) -> bool:
    return p.is_dir() and (p / "resources.json").is_file()


@contextmanager
def load_target(args: argparse.Namespace) -> Iterator[Target]:
    """The resources, enforcement and pools of what the command line names."""
    pools = load_pools_file(args.pools) if args.pools else None
    if args.manifests:
        try:
            loaded = load_paths(args.manifests)
        except ManifestError as e:
            raise UnusableInput(str(e)) from e
        if not loaded.resources:
            raise UnusableInput(f"--manifests {' '.join(args.manifests)}: nothing to judge: no Kubernetes object "
                                "(apiVersion and kind) was found" + "".join(f"\n  {n}" for n in loaded.notes[:10]))
        env = args.environment or "prod"
        enforcement = Enforcement.for_environment(env, default=getattr(args, "enforcement", None))
        yield Target(label=f"{loaded.files} manifest file(s)", source="manifests", resources=loaded.resources,
                     enforcement=enforcement, pools=pools, pools_known=pools is not None, notes=loaded.notes)
        return
    if not args.target:
        raise UnusableInput("name a STACK, a PLAN_DIR (with resources.json) or --manifests PATH...")
    p = Path(args.target)
    if is_plan_dir(p):
        t = load_plan(p, args.environment)
    elif p.exists():
        raise UnusableInput(f"{p} is not a plan directory (no resources.json); for manifests use --manifests {p}")
    elif not STACK_NAME.match(args.target) or "/" in args.target or args.target.endswith((".yaml", ".yml", ".json")):
        raise UnusableInput(f"{p}: no such file or directory; valid: a stack name (e.g. dev), a plan directory "
                            "(with resources.json) or --manifests PATH...")
    elif not (_project_dir() / f"Pulumi.{args.target}.yaml").is_file():
        stacks = sorted(f.name[len("Pulumi."):-len(".yaml")] for f in _project_dir().glob("Pulumi.*.yaml"))
        raise UnusableInput(f"{args.target}: no such file or directory, and no stack file Pulumi.{args.target}.yaml; "
                            f"valid: a stack ({', '.join(stacks) or 'none'}), a plan directory (with resources.json) "
                            "or --manifests PATH...")
    else:
        with _plan_dir_for(args.target, args.out) as plan_dir:
            t = load_plan(plan_dir)
    t.pools = pools if pools is not None else t.pools
    yield t


# --- output ------------------------------------------------------------------------------------------

def _render_text(report: Report, target: Target) -> str:
    e = target.enforcement
    lines = [f"pipeworks check: {target.label}",
             f"environment {e.environment}, default level {e.default}, exemptions "
             f"{'allowed' if e.allow_exemptions else 'refused'}"]
    for v in sorted(report.violations, key=lambda v: (v.level != "mandatory", v.policy, v.resource)):
        lines += [f"{v.level.upper():9} {v.policy} [{v.concern}]", f"  {v.resource}", f"  {v.message}"]
    mand = len(report.mandatory)
    lines.append(f"{len(report.violations)} violation(s): {mand} mandatory, {len(report.violations) - mand} advisory; "
                 f"{len(report.exemptions)} exemption(s) applied")
    for x in report.exemptions:
        lines.append(f"exempt    {x.policy}{'.' + x.control if x.control else ''} {x.resource}: {x.reason}")
    lines += [f"note: {n}" for n in target.notes + report.notes]
    return "\n".join(lines)


def _md_cell(text: str, code: bool = False) -> str:
    """One Markdown table cell: a `|` or a line break would end the cell or the row, and HTML-looking
    text (`<none>`, `a<b`) would be swallowed by the renderer, so both are escaped."""
    if code:  # inside a code span `&lt;` would show literally; only the delimiters need care
        body = text.replace("|", "\\|").replace("\r", "").replace("\n", " ")
        fence = "``" if "`" in body else "`"
        return f"{fence} {body} {fence}" if fence == "``" else f"`{body}`"
    body = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return body.replace("|", "\\|").replace("\r\n", "\n").replace("\n", "<br>")


def _render_markdown(report: Report, target: Target) -> str:
    """GitHub-flavoured Markdown for `$GITHUB_STEP_SUMMARY`: a table per violation instead of text
    lines, which Markdown would join into one paragraph."""
    e = target.enforcement
    mand = len(report.mandatory)
    lines = [f"### pipeworks check: {_md_cell(target.label)}", "",
             f"environment **{e.environment}**, default level **{e.default}**, exemptions "
             f"**{'allowed' if e.allow_exemptions else 'refused'}**", "",
             f"**{len(report.violations)} violation(s): {mand} mandatory, {len(report.violations) - mand} advisory; "
             f"{len(report.exemptions)} exemption(s) applied**", ""]
    if report.violations:
        lines += ["| level | policy | concern | resource | message |", "|---|---|---|---|---|"]
        for v in sorted(report.violations, key=lambda v: (v.level != "mandatory", v.policy, v.resource)):
            lines.append(f"| {v.level} | {_md_cell(v.policy, code=True)} | {_md_cell(v.concern)} | "
                         f"{_md_cell(v.resource, code=True)} | {_md_cell(v.message)} |")
        lines.append("")
    if report.exemptions:
        lines += ["| exempt policy | resource | reason |", "|---|---|---|"]
        lines += [f"| {_md_cell(x.policy + ('.' + x.control if x.control else ''), code=True)} | "
                  f"{_md_cell(x.resource, code=True)} | {_md_cell(x.reason)} |"
                  for x in report.exemptions]
        lines.append("")
    lines += [f"- note: {_md_cell(n)}" for n in target.notes + report.notes]
    return "\n".join(lines).rstrip("\n")


def _git_root(p: Path) -> Path | None:
    for d in p.parents:
        if (d / ".git").exists():
            return d
    return None


def sarif_uri(path: Path) -> tuple[str, str | None]:
    """(uri, uriBaseId) of a file for SARIF: relative to the repository it lives in (code scanning
    resolves %SRCROOT% to the checkout), else to the working directory, else an absolute file:// URI."""
    from urllib.parse import quote

    p = (path if path.is_absolute() else Path.cwd() / path).resolve()
    for base in (_git_root(p), REPO_ROOT, Path.cwd()):
        if base is None:
            continue
        try:
            return quote(p.relative_to(base.resolve()).as_posix()), "%SRCROOT%"
        except ValueError:
            continue
    return p.as_uri(), None


def compose_stack_file(path: Path) -> yaml.Node | None:
    """The stack file's YAML node tree (with line marks), or None when it cannot be read; the same bounded,
    strict read as every stack file (nesting was checked when the plan was loaded)."""
    try:
        return yaml.compose(read_text(path, max_bytes=STACK_FILE_BYTES), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (InputError, yaml.YAMLError, RecursionError):
        return None


def key_line(node: yaml.Node | None, key: str) -> int:
    """1-based line of a key path (`pipeworks:platform.elk.password`, `a.b[2].c`, `secretsprovider`) in a
    composed stack file; the deepest part of the path that exists, else 1."""
    import re

    parts = re.findall(r"\[(\d+)\]|([^.\[\]]+)", key)
    line = 1
    if isinstance(node, yaml.MappingNode) and parts and parts[0][1] != "secretsprovider":
        node = next((v for k, v in node.value if k.value == "config"), None)
    for index, name in parts:
        if isinstance(node, yaml.MappingNode) and name:
            hit = next(((k, v) for k, v in node.value if k.value == name), None)
        elif isinstance(node, yaml.SequenceNode) and index and int(index) < len(node.value):
            item = node.value[int(index)]
            hit = (item, item)
        else:
            hit = None
        if hit is None:
            break
        line, node = hit[0].start_mark.line + 1, hit[1]
    return line


def stack_key_line(path: Path, key: str) -> int:
    """`key_line` of a stack file read now (one lookup; `locator` reads the file once for all its findings)."""
    return key_line(compose_stack_file(path), key)


def locator(target: Target, report: Report):  # type: ignore[no-untyped-def]
    """(resource label, message) -> (uri, line, uriBaseId) for SARIF: where the program declared the
    resource (recorded in the plan), the manifest document, or the stack-file key a finding names."""
    import re

    by_urn = report.context.by_urn
    # the label is the path load_plan found (relative to the working directory) or a checked stackFile name
    stack_file = _find_stack_file(target.stack_file, Path.cwd()) if target.stack_file else None
    fallback = stack_file or Path(target.stack_file or "Pulumi.yaml")
    composed: list[yaml.Node | None] = []  # the stack file, read and composed at the first finding that needs it

    def locate(resource: str, message: str = "") -> tuple[str, int, str | None]:
        r = by_urn.get(resource)
        if r is not None and r.source:
            uri, base = sarif_uri(Path(r.source))
            return uri, r.line or 1, base
        line = 1
        if stack_file is not None and resource == target.stack_file:
            # stack-file findings read "<file>: <key path> is a credential ..." or name the secrets provider
            m = re.match(re.escape(resource) + r": (\S+) is ", message)
            key = m.group(1) if m else ("secretsprovider" if "secrets with" in message else "")
            if key and not composed:
                composed.append(compose_stack_file(stack_file))
            line = key_line(composed[0], key) if key else 1
        uri, base = sarif_uri(fallback)
        return uri, line, base
    return locate


def run_check(target: Target) -> Report:
    return evaluate(target.resources, target.enforcement, source=target.source, pools=target.pools,
                    pools_known=target.pools_known, extra_findings=target.extra)


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    ap = parser(prog, description)  # no abbreviations: an unknown flag is an error
    ap.add_argument("target", nargs="?", help="a stack name (planned first) or a plan directory (has resources.json)")
    ap.add_argument("--manifests", nargs="+", metavar="PATH", help="plain Kubernetes YAML files or directories")
    ap.add_argument("--pools", type=Path, metavar="FILE",
                    help="node pools as the pools.json list (JSON or YAML); replaces the stack's")
    ap.add_argument("--environment", choices=("dev", "prod"),
                    help="for manifests (default prod: strictest) or a plan without stack.json")
    ap.add_argument("--out", type=Path, metavar="DIR", help="where to write the plan of a STACK (default: a temp dir)")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = _parser("pipeworks check", "Evaluate the pipeworks policies on a stack, a plan directory or manifests.")
    ap.add_argument("--format", choices=("text", "markdown", "json", "sarif"), default="text",
                    help="markdown: tables for a CI step summary ($GITHUB_STEP_SUMMARY)")
    ap.add_argument("--output", type=Path, metavar="FILE", help="write the report here instead of stdout")
    ap.add_argument("--enforcement", choices=("advisory", "mandatory"),
                    help="default level for manifests (default: that of --environment)")
    args = ap.parse_args(argv)
    if args.output is not None and (args.output.is_dir() or not args.output.parent.is_dir()):
        print(f"pipeworks check: --output {args.output}: " + ("is a directory" if args.output.is_dir() else
              "its folder does not exist") + "; valid: a file path in an existing folder", file=sys.stderr)
        return ExitCode.INVALID_INPUT
    try:
        with load_target(args) as target:
            report = run_check(target)
            if args.format == "json":
                out = json.dumps([v.to_json() for v in report.violations], indent=1)
            elif args.format == "sarif":
                from pipeworks.sarif import to_sarif
                out = json.dumps(to_sarif(report, locator(target, report), enforcement=target.enforcement), indent=1)
            elif args.format == "markdown":
                out = _render_markdown(report, target)
            else:
                out = _render_text(report, target)
            if args.format not in ("text", "markdown"):
                for n in target.notes + report.notes:
                    print(f"note: {n}", file=sys.stderr)
    except UnusableInput as e:
        print(f"pipeworks check: {e}", file=sys.stderr)
        return ExitCode.INVALID_INPUT
    if args.output:
        args.output.write_text(out + "\n")
    else:
        print(out)
    return ExitCode.VIOLATIONS if report.mandatory else ExitCode.CLEAN


# --- policy-pack config --------------------------------------------------------------------------------

def policy_pack_config(enforcement: Enforcement) -> dict[str, Any]:
    """The `--policy-pack-config` document for a stack: every pack policy's level, environment and
    exemption setting (standard pulumi policy config: {"all": level, "<policy>": {...}})."""
    cfg: dict[str, Any] = {"all": enforcement.default}
    for pack in ("placement", "secrets", "guardrails"):
        for rule in rules_of_pack(pack):
            cfg[rule.name] = {"enforcementLevel": enforcement.level(rule.name),
                              "environment": enforcement.environment,
                              "allowExemptions": enforcement.allow_exemptions}
    return cfg


def main_policy_config(argv: list[str] | None = None) -> int:
    ap = parser("pipeworks policy-config", "Write the --policy-pack-config file of a stack.")
    ap.add_argument("target", help="a stack name (planned first) or a plan directory")
    ap.add_argument("--output", type=Path, metavar="FILE",
                    help="default: policies/config/<stack>.json; '-' for stdout")
    args = ap.parse_args(argv)
    try:
        p = Path(args.target)
        if is_plan_dir(p):
            t = load_plan(p)
            info = read_json(p / "stack.json") if (p / "stack.json").is_file() else {}
            stack = str(info.get("stack", p.name)) if isinstance(info, dict) else p.name
            check_stack_name(stack)
        else:
            with _plan_dir_for(args.target, None) as plan_dir:
                t = load_plan(plan_dir)
            stack = args.target
    except (UnusableInput, InputError, BadInput) as e:
        print(f"pipeworks policy-config: {e}", file=sys.stderr)
        return ExitCode.INVALID_INPUT
    text = json.dumps(policy_pack_config(t.enforcement), indent=1) + "\n"
    if args.output is not None and str(args.output) != "-" and args.output.is_dir():
        print(f"pipeworks policy-config: --output {args.output}: is a directory; valid: a file path", file=sys.stderr)
        return ExitCode.INVALID_INPUT
    if str(args.output) == "-":
        print(text, end="")
        return ExitCode.CLEAN
    out = args.output or REPO_ROOT / "policies" / "config" / f"{stack}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}")
    return ExitCode.CLEAN


__all__ = ["BY_NAME", "RULES", "main", "main_policy_config", "policy_pack_config", "run_check"]
