"""The GitHub workflows (.github/workflows/) as a maintainer lints them, offline, with the linters
pinned in pyproject.toml's test extra: actionlint (with shellcheck on every `run:` script) and zizmor
(supply-chain audit, pedantic persona) find nothing; every action is pinned to the full commit SHA of
a release that GitHub's runners still run (node20 actions stopped starting on 2026-09-23); and the
Pulumi steps use the policy packs, pack configs and CLI version the rest of the project uses.

Each linter is also run on a deliberately bad workflow, so a clean result means the linter looked,
not that it was missing or skipped its checks.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GITHUB = ROOT / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.y*ml"))
ZIZMOR_CONFIG = GITHUB / "zizmor.yml"

# `uses: owner/repo[/path]@<ref>  # comment` as written on one line of a workflow
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>[^\s#]+)\s*(?:#\s*(?P<comment>.*?))?\s*$")
SHA = re.compile(r"[0-9a-f]{40}")
RELEASE = re.compile(r"v(?P<major>\d+)\.\d+\.\d+")

# The first major release of each action whose action.yml says `runs: using: node24`, read at the
# tags in the actions' repositories (the last release before it is node20, which the runners removed):
#   actions/checkout                     v5.0.0 action.yml: node24   (v4.3.1: node20)
#   actions/setup-python                 v6.0.0 action.yml: node24   (v5.6.0: node20)
#   aws-actions/configure-aws-credentials v6.0.0 action.yml: node24  (v5.1.1: node20; CHANGELOG 6.0.0
#                                        "BREAKING CHANGES: Update action to use node24")
#   pulumi/actions                       v7.0.0 action.yml: node24   (v6.6.1: node20; CHANGELOG 7.0.0)
#   github/codeql-action/upload-sarif    v4.30.7.. upload-sarif/action.yml: node24 (v3.36.2: node20)
#   actions/cache                        v5.0.0 action.yml: node24   (v4.2.0: node20)
# actionlint knows most of these runtimes itself, but only for a ref it can read (`@v7`), not behind a
# SHA pin, and not upload-sarif at all; an action missing here fails the test until someone has
# looked up its runtime.
FIRST_NODE24_MAJOR = {
    "actions/checkout": 5,
    "actions/setup-python": 6,
    "aws-actions/configure-aws-credentials": 6,
    "pulumi/actions": 7,
    "github/codeql-action/upload-sarif": 4,
    "actions/cache": 5,
}


def tool(name: str) -> str:
    """A linter's executable from the project venv (pip installs the pinned wheels there)."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.is_file() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: it is pinned in pyproject.toml's test extra; "
                    "run `make test-unit` (or `make test`) to install it into .venv")
    return found


def actionlint(*args: str, stdin: str | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    # -pyflakes= : no step runs `shell: python`; set it explicitly so the result does not depend
    # on whether some pyflakes happens to be on PATH.
    cmd = [tool("actionlint"), "-oneline", "-no-color", f"-shellcheck={tool('shellcheck')}", "-pyflakes=", *args]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, cwd=cwd, timeout=120)


def run_zizmor(target: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # --strict-collection: a workflow or dependabot.yml zizmor cannot load is an error, not a skip
    cmd = [tool("zizmor"), "--offline", "--persona=pedantic", "--strict-collection", "--no-progress",
           "--config", str(ZIZMOR_CONFIG), "--format=json", target]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=120)


def zizmor(target: str, cwd: Path) -> tuple[list[dict[str, Any]], str]:
    """zizmor's findings (JSON) on a directory (relative to cwd) and its log; offline: no GitHub API."""
    r = run_zizmor(target, cwd)
    try:
        findings = json.loads(r.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"zizmor printed no JSON (exit {r.returncode}):\n{r.stdout}\n{r.stderr}")
    return findings, r.stderr


def describe(findings: list[dict[str, Any]]) -> list[str]:
    out = []
    for f in findings:
        loc = f["locations"][0]
        path = loc["symbolic"]["key"]["Local"]["verbatim_path"]
        row = loc["concrete"]["location"]["start_point"]["row"] + 1
        out.append(f"{path}:{row}: {f['ident']} ({f['determinations']['severity']}): {f['desc']}"
                   f" — {loc['symbolic']['annotation']}")
    return out


def uses_lines() -> list[tuple[Path, int, str, str | None]]:
    """(file, line number, ref, comment) of every `uses:` in the workflows."""
    out = []
    for wf in WORKFLOWS:
        for n, line in enumerate(wf.read_text().splitlines(), 1):
            m = USES_LINE.match(line)
            if m:
                out.append((wf, n, m["ref"], m["comment"]))
    return out


def split_ref(ref: str) -> tuple[str, str]:
    action, _, pin = ref.partition("@")
    return action, pin


# --- the linters find nothing ----------------------------------------------------------------------

def test_there_are_workflows_to_lint() -> None:
    assert {p.name for p in WORKFLOWS} >= {"pull-request.yml", "deploy.yml"}


def test_actionlint_finds_nothing() -> None:
    r = actionlint(*[str(p.relative_to(ROOT)) for p in WORKFLOWS])
    assert r.returncode == 0 and not r.stdout.strip(), f"actionlint:\n{r.stdout}{r.stderr}"


def test_zizmor_finds_nothing() -> None:
    findings, log = zizmor(".github", ROOT)
    assert findings == [], "zizmor --offline --persona=pedantic:\n" + "\n".join(describe(findings))
    # it audited every workflow and the Dependabot config, not an empty selection
    audited = set(re.findall(r"completed (\S+)", log))
    expected = {str(p.relative_to(ROOT)) for p in WORKFLOWS} | {".github/dependabot.yml"}
    assert expected <= audited, f"zizmor did not audit {sorted(expected - audited)}:\n{log}"


# --- the linters would have found something ------------------------------------------------------

BAD_WORKFLOW = """\
name: bad
on: pull_request
permissions: {}
jobs:
  j:
    name: j
    runs-on: ubuntu-24.04
    permissions:
      contents: read  # checkout
    steps:
      - uses: actions/checkout@v4
      - name: title
        run: echo "${{ github.event.pull_request.title }}"
      - name: unquoted
        run: cd $HOME/x
      - uses: actions/setup-python@v5
        with: {python-versions: "3.11"}
"""


def test_actionlint_reports_node20_actions_unquoted_shell_and_unknown_inputs(tmp_path: Path) -> None:
    wf = tmp_path / ".github" / "workflows" / "bad.yml"
    wf.parent.mkdir(parents=True)
    wf.write_text(BAD_WORKFLOW)
    r = actionlint(str(wf), cwd=tmp_path)
    assert r.returncode == 1
    assert re.search(r':11:\d+: runtime "node20" is deprecated .*actions/checkout@v4', r.stdout), r.stdout
    assert re.search(r':16:\d+: runtime "node20" is deprecated .*actions/setup-python@v5', r.stdout), r.stdout
    assert re.search(r':15:\d+: shellcheck reported issue in this script: SC2086', r.stdout), r.stdout
    assert re.search(r':17:\d+: input "python-versions" is not defined', r.stdout), r.stdout


def test_zizmor_reports_unpinned_persisted_injected_and_uncooled(tmp_path: Path) -> None:
    wf = tmp_path / ".github" / "workflows" / "bad.yml"
    wf.parent.mkdir(parents=True)
    wf.write_text(BAD_WORKFLOW)
    (tmp_path / ".github" / "dependabot.yml").write_text(
        "version: 2\nupdates:\n  - package-ecosystem: github-actions\n    directory: /\n"
        "    schedule: {interval: weekly}\n")
    findings, _ = zizmor(".github", tmp_path)
    idents = {f["ident"] for f in findings}
    assert {"unpinned-uses", "artipacked", "template-injection", "dependabot-cooldown"} <= idents, describe(findings)
    # the configured policy pins GitHub's own actions too (zizmor's `ref-pin` would accept actions/*@v4)
    assert sum(f["ident"] == "unpinned-uses" for f in findings) == 2, describe(findings)


def test_zizmor_refuses_a_dependabot_config_it_cannot_load(tmp_path: Path) -> None:
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "dependabot.yml").write_text(
        "version: 2\nupdates:\n  - package-ecosystem: pypi\n    directory: /\n    schedule: {interval: weekly}\n")
    r = run_zizmor(".github", tmp_path)
    assert r.returncode != 0 and "failed to load file://.github/dependabot.yml" in r.stderr, r.stderr


# --- pins and runtimes -----------------------------------------------------------------------------

def test_every_action_is_pinned_to_a_full_sha_with_its_release_in_a_comment() -> None:
    refs = uses_lines()
    # every `uses:` YAML sees is on a line of its own, where the pin and its comment can be read
    in_yaml = [u for wf in WORKFLOWS for job in load(wf)["jobs"].values()
               for u in [job.get("uses")] + [st.get("uses") for st in job.get("steps", [])] if u]
    assert refs and sorted(r for _, _, r, _ in refs) == sorted(in_yaml)
    bad = [f"{wf.name}:{n}: {ref}  # {comment}" for wf, n, ref, comment in refs
           if not ref.startswith("./") and not (SHA.fullmatch(split_ref(ref)[1]) and comment
                                                and RELEASE.fullmatch(comment))]
    assert not bad, "pin as `owner/repo@<40-hex sha> # vX.Y.Z` (what Dependabot keeps up to date):\n" + "\n".join(bad)


def test_one_release_of_each_action_across_the_workflows() -> None:
    """A half-done bump (one file moved, the other not) is caught here rather than in CI."""
    seen: dict[str, set[tuple[str, str | None]]] = {}
    for _, _, ref, comment in uses_lines():
        action, pin = split_ref(ref)
        seen.setdefault(action, set()).add((pin, comment))
    assert {a: p for a, p in seen.items() if len(p) > 1} == {}


def test_pinned_releases_run_on_node24() -> None:
    used = [(wf.name, n, split_ref(ref)[0], comment) for wf, n, ref, comment in uses_lines()
            if not ref.startswith("./")]
    unknown = sorted({a for _, _, a, _ in used} - set(FIRST_NODE24_MAJOR))
    assert not unknown, (f"look up the runtime (`runs.using` of action.yml) of {unknown} at the pinned tag "
                         "and add its first node24 major to FIRST_NODE24_MAJOR")
    old = [f"{wf}:{n}: {a} {c}" for wf, n, a, c in used
           if not (c and (m := RELEASE.fullmatch(c)) and int(m["major"]) >= FIRST_NODE24_MAJOR[a])]
    assert old == [], f"releases on a runtime GitHub's runners no longer run (or no release named): {old}"


def test_actionlint_on_the_releases_the_pins_name() -> None:
    """Behind a SHA actionlint cannot see which action it is; with each pin replaced by the major
    release its comment names (`@v7`), it checks runtimes and inputs against that release's action.yml."""
    for wf in WORKFLOWS:
        text = wf.read_text()
        rewritten = re.sub(r"(uses:\s*[^\s@#]+)@[0-9a-f]{40}\s*#\s*v(\d+)\.\d+\.\d+", r"\1@v\2", text)
        assert rewritten != text or "uses:" not in text
        r = actionlint("-stdin-filename", str(wf.relative_to(ROOT)), "-", stdin=rewritten)
        assert r.returncode == 0 and not r.stdout.strip(), f"actionlint on the named releases:\n{r.stdout}{r.stderr}"


# --- what the steps run ----------------------------------------------------------------------------

def load(wf: Path) -> dict[str, Any]:
    doc = yaml.safe_load(wf.read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as true
    return doc


def pulumi_steps() -> list[tuple[str, str, dict[str, Any], list[str]]]:
    """(workflow, job, the pulumi/actions step's `with`, the job's matrix stacks)."""
    out = []
    for wf in WORKFLOWS:
        for job_id, job in load(wf)["jobs"].items():
            stacks = job.get("strategy", {}).get("matrix", {}).get("stack", [])
            for step in job.get("steps", []):
                if split_ref(step.get("uses", ""))[0] == "pulumi/actions":
                    out.append((wf.name, job_id, step.get("with", {}), stacks))
    return out


def documented_pack_pairs(doc: Path, stack: str) -> list[tuple[str, str]]:
    """(pack, config) pairs of the `pulumi preview ... --policy-pack P --policy-pack-config C` a doc shows."""
    (line,) = [ln for ln in doc.read_text().splitlines()
               if "pulumi preview" in ln and re.search(rf"(?:-s|--stack) {stack}\b", ln)]
    return re.findall(r"--policy-pack (\S+) --policy-pack-config ([^\s`]+)", line)


def split_list(value: str) -> list[str]:
    # pulumi/actions splits these inputs on commas and lines (src/libs/utils.ts parseSemicolorToArray, v7.0.0)
    return [x.strip() for x in re.split(r"[,\n]", value) if x.strip()]


def test_pulumi_steps_use_every_pack_with_its_stacks_config_as_documented() -> None:
    """The packs and `--policy-pack-config policies/config/<stack>.json` pairs of the PR workflow's
    preview and the deploy workflow's up are those of README.md (dev) and policies/README.md (prod),
    and the config files are those tests/policies/test_packs.py feeds the packs over gRPC."""
    steps = pulumi_steps()
    assert {(wf, cmd["command"]) for wf, _, cmd, _ in steps} >= {("pull-request.yml", "preview"), ("deploy.yml", "up")}
    packs_on_disk = sorted(f"policies/{p.parent.name}" for p in (ROOT / "policies").glob("*/PulumiPolicy.yaml"))
    documented = {"dev": documented_pack_pairs(ROOT / "README.md", "dev"),
                  "prod": documented_pack_pairs(ROOT / "policies" / "README.md", "prod")}
    for stack, pairs in documented.items():
        assert sorted(p for p, _ in pairs) == packs_on_disk
        assert {c for _, c in pairs} == {f"policies/config/{stack}.json"}
    for wf, job, with_, stacks in steps:
        assert stacks, f"{wf} {job}: pulumi step without a matrix of stacks"
        for stack in stacks:
            assert (ROOT / f"Pulumi.{stack}.yaml").is_file(), f"{wf} {job}: no Pulumi.{stack}.yaml"
            packs = split_list(with_["policyPacks"])
            configs = split_list(with_["policyPackConfigs"].replace("${{ matrix.stack }}", stack))
            # the CLI pairs the n-th --policy-pack-config with the n-th --policy-pack
            pairs = list(zip(packs, configs, strict=True))
            assert sorted(packs) == packs_on_disk, f"{wf} {job}: packs {packs}"
            assert all(c == f"policies/config/{stack}.json" and (ROOT / c).is_file() for _, c in pairs), (
                f"{wf} {job}: configs {configs}")
            if stack in documented:
                assert pairs == documented[stack], f"{wf} {job}: {pairs} != the documented {documented[stack]}"


def test_pulumi_cli_version_is_the_pinned_sdks() -> None:
    """pulumi/actions installs `^3` (the newest CLI) unless told; the CLI must match the pinned SDK."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (sdk,) = [d.split("==")[1] for d in deps if d.startswith("pulumi==")]
    versions = {(wf, job): str(w.get("pulumi-version")) for wf, job, w, _ in pulumi_steps()}
    assert versions and all(v == sdk for v in versions.values()), f"pulumi==={sdk} in pyproject.toml; {versions}"


def test_policy_check_summary_is_markdown() -> None:
    """Text appended to $GITHUB_STEP_SUMMARY is rendered as Markdown, where the check's text lines
    would run together into one paragraph."""
    appended = [ln for wf in WORKFLOWS for ln in wf.read_text().splitlines()
                if "pipeworks check" in ln and "GITHUB_STEP_SUMMARY" in ln]
    assert appended and all("--format markdown" in ln for ln in appended), appended


def test_no_checkout_persists_credentials() -> None:
    """No job pushes, so no checkout leaves the token in .git/config (zizmor's artipacked finds the
    missing key; this also refuses an explicit `true`)."""
    for wf in WORKFLOWS:
        for job_id, job in load(wf)["jobs"].items():
            for step in job.get("steps", []):
                if split_ref(step.get("uses", ""))[0] == "actions/checkout":
                    assert step.get("with", {}).get("persist-credentials") is False, f"{wf.name} {job_id}"


def test_permissions_are_granted_per_job() -> None:
    """The workflow grants nothing; each job names what it uses (least privilege per job)."""
    for wf in WORKFLOWS:
        doc = load(wf)
        assert doc.get("permissions") == {}, f"{wf.name}: workflow-level permissions should be {{}}"
        assert "concurrency" in doc, f"{wf.name}: no concurrency group"
        for job_id, job in doc["jobs"].items():
            assert isinstance(job.get("permissions"), dict), f"{wf.name} {job_id}: no job permissions"
            assert "write-all" not in str(job["permissions"]), f"{wf.name} {job_id}"
