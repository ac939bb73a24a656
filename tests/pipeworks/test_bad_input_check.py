"""`pipeworks check` (and `policy-config`): every bad entry ends in exit 2 naming the file or argument and
the key, never a traceback; exit 1 stays reserved for mandatory violations (issue 9)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from pipeworks.commands import ExitCode
from tests.infra.planned import plan_dir
from tests.pipeworks.badinput import assert_refused, run, run_process

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "ml"},
       "spec": {"containers": [{"name": "web", "image": "nginx:latest"}]}}
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8))


@pytest.fixture(scope="module")
def dev_plan() -> Path:
    """The shipped dev plan (the suite-wide cache; tests copy before changing)."""
    return plan_dir("dev")


def copy_plan(src: Path, dst: Path, stack_json: object | None = None) -> Path:
    dst.mkdir(parents=True)
    shutil.copy(src / "resources.json", dst / "resources.json")
    if stack_json is not None:
        (dst / "stack.json").write_text(json.dumps(stack_json))
    return dst


def _stack_json(plan: Path, **changes: object) -> dict[str, object]:
    info = json.loads((plan / "stack.json").read_text())
    info.update(changes)
    return info


# (name, build(tmp, plan) -> argv, expected fragments)
Case = tuple[str, Callable[[Path, Path], list[str]], tuple[str, ...]]


def _manifest_file(name: str, data: bytes) -> Callable[[Path, Path], list[str]]:
    def build(tmp: Path, plan: Path) -> list[str]:
        (tmp / name).write_bytes(data)
        return ["check", "--manifests", str(tmp / name)]
    return build


def _empty_dir(tmp: Path, plan: Path) -> list[str]:
    (tmp / "empty").mkdir()
    return ["check", "--manifests", str(tmp / "empty")]


def _plan_with(resources: bytes | None = None, stack_json: Callable[[Path], object] | None = None):  # type: ignore[no-untyped-def]
    def build(tmp: Path, plan: Path) -> list[str]:
        d = copy_plan(plan, tmp / "plan", stack_json(plan) if stack_json else None)
        if resources is not None:
            (d / "resources.json").write_bytes(resources)
        return ["check", str(d)]
    return build


def _pools(doc: object, suffix: str = ".json") -> Callable[[Path, Path], list[str]]:
    def build(tmp: Path, plan: Path) -> list[str]:
        f = tmp / f"pools{suffix}"
        f.write_text(json.dumps(doc) if suffix == ".json" else yaml.safe_dump(doc))
        (tmp / "m.yaml").write_text(yaml.safe_dump(POD))
        return ["check", "--manifests", str(tmp / "m.yaml"), "--pools", str(f)]
    return build


GOOD_POOL = {"name": "general", "role": "general", "instanceTypes": ["m6i.xlarge"], "minSize": 1, "maxSize": 3}

CASES: list[Case] = [
    ("missing-path", lambda t, p: ["check", str(t / "no" / "such" / "plan")], ("no such file or directory",)),
    ("missing-name", lambda t, p: ["check", "myplan"], ("myplan: no such file or directory",
                                                        "no stack file Pulumi.myplan.yaml", "dev, prod")),
    ("missing-yaml-path", lambda t, p: ["check", "Pulumi.staging.yaml"], ("Pulumi.staging.yaml: no such file",)),
    ("file-not-plan", lambda t, p: (t.joinpath("x.txt").write_text("x"), ["check", str(t / "x.txt")])[1],
     ("is not a plan directory",)),
    ("manifests-empty-dir", _empty_dir, ("nothing to judge", "no .yaml/.yml/.json files")),
    ("manifests-nothing-judgeable", _manifest_file("notk8s.yaml", b"a: 1\n---\nb: [1, 2]\n"),
     ("nothing to judge", "notk8s.yaml#0: no apiVersion/kind")),
    ("manifests-missing", lambda t, p: ["check", "--manifests", str(t / "gone.yaml")], ("gone.yaml: no such file",)),
    ("manifests-alias-bomb", _manifest_file("bomb.yaml", BOMB.encode()), ("bomb.yaml", "alias bomb")),
    ("manifests-not-utf8", _manifest_file("bin.yaml", b"kind: Pod\nmetadata: {name: \xff}\n"), ("bin.yaml", "not UTF-8")),
    ("manifests-duplicate-key", _manifest_file("dup.yaml", b"apiVersion: v1\nkind: Pod\nkind: Service\n"),
     ("dup.yaml", "duplicate key 'kind'")),
    ("manifests-non-string-key", _manifest_file("nsk.yaml", b"apiVersion: v1\nkind: ConfigMap\ndata: {1: one}\n"),
     ("nsk.yaml", "key '1' is not a string")),
    ("manifests-deep-json", _manifest_file("deep.json", b"[" * 3000 + b"]" * 3000), ("deep.json", "nested deeper")),
    ("manifests-deep-yaml", _manifest_file("deep.yaml", b"a: " + b"[" * 3000 + b"]" * 3000), ("deep.yaml", "nested deeper")),
    ("manifests-json-duplicate", _manifest_file("d.json", b'{"kind": "Pod", "kind": "Service"}'),
     ("d.json", "duplicate key 'kind'")),
    ("manifests-bad-yaml", _manifest_file("bad.yaml", b"kind: [\n"), ("bad.yaml", "not valid YAML")),
    ("plan-resources-not-json", _plan_with(b"{not json"), ("resources.json", "not valid JSON")),
    ("plan-resources-not-list", _plan_with(b'{"urn": "x"}'), ("resources.json", "must be a JSON list")),
    ("plan-resources-bad-record", _plan_with(b'[{"urn": 1}]'), ("resources.json[0]", "string urn, type and name")),
    ("plan-resources-not-utf8", _plan_with(b'["\xff"]'), ("resources.json", "not UTF-8")),
    ("plan-resources-duplicate", _plan_with(b'[{"urn": "a", "urn": "b"}]'), ("resources.json", "duplicate key 'urn'")),
    ("stackfile-absolute", _plan_with(stack_json=lambda p: _stack_json(p, stackFile="/etc/passwd")),
     ("stack.json", "stackFile=\"/etc/passwd\" is not valid")),
    ("stackfile-escape", _plan_with(stack_json=lambda p: _stack_json(p, stackFile="../../../Pulumi.dev.yaml")),
     ("stack.json", "stackFile")),
    ("stackfile-not-stack", _plan_with(stack_json=lambda p: _stack_json(p, stackFile="pyproject.toml")),
     ("stack.json", "stackFile=\"pyproject.toml\"")),
    ("stackfile-not-string", _plan_with(stack_json=lambda p: _stack_json(p, stackFile=["Pulumi.dev.yaml"])),
     ("stack.json", "stackFile")),
    ("stack-json-not-object", _plan_with(stack_json=lambda p: [1, 2]), ("stack.json", "must be a JSON object")),
    ("stack-json-bad-override", _plan_with(stack_json=lambda p: _stack_json(
        p, policy={"enforcement": "advisory", "overrides": {"nope": "advisory"}, "allowExemptions": True})),
     ("policy.overrides.nope",)),
    ("pools-negative", _pools([{**GOOD_POOL, "minSize": -1}]), ("--pools", "[0].minSize=-1")),
    ("pools-non-numeric", _pools([{**GOOD_POOL, "maxSize": "ten"}]), ("--pools", "[0].maxSize=\"ten\"")),
    ("pools-bool-size", _pools([{**GOOD_POOL, "maxSize": True}]), ("--pools", "[0].maxSize=true")),
    ("pools-max-below-min", _pools([{**GOOD_POOL, "minSize": 5, "maxSize": 2}]), ("[0].maxSize=2 is below minSize=5",)),
    ("pools-not-list", _pools({"general": GOOD_POOL}, ".yaml"), ("--pools", "must be a list of pools")),
    ("pools-empty", _pools([]), ("--pools", "lists no pools")),
    ("pools-bad-role", _pools([{**GOOD_POOL, "role": "huge"}]), ("pools.json[0].role='huge'",)),
    ("pools-negative-cpu", _pools([{**GOOD_POOL, "capacity": {"cpu": "-4", "memory": "8Gi"}}]), ("[0].capacity.cpu",)),
    ("pools-missing-file", lambda t, p: ["check", "--manifests", str(t), "--pools", str(t / "none.json")],
     ("none.json: cannot read",)),
    ("unknown-flag", lambda t, p: ["check", "dev", "--bogus"], ("unrecognized arguments: --bogus",)),
    ("abbreviated-flag", lambda t, p: ["check", "--manifest", str(t)], ("unrecognized arguments",)),
    ("bad-format", lambda t, p: ["check", "dev", "--format", "xml"], ("--format", "invalid choice")),
    ("bad-environment", lambda t, p: ["check", "--manifests", str(t), "--environment", "qa"], ("--environment",)),
    ("output-folder-missing", lambda t, p: (t.joinpath("m.yaml").write_text(yaml.safe_dump(POD)),
                                            ["check", "--manifests", str(t / "m.yaml"), "--output", str(t / "no" / "r")])[1],
     ("--output", "its folder does not exist")),
    ("output-is-dir", lambda t, p: (t.joinpath("m.yaml").write_text(yaml.safe_dump(POD)),
                                    ["check", "--manifests", str(t / "m.yaml"), "--output", str(t)])[1],
     ("--output", "is a directory")),
    ("nothing-named", lambda t, p: ["check"], ("name a STACK",)),
    ("check-out-foreign-folder", lambda t, p: (t.joinpath("dev").mkdir(), t.joinpath("dev", "mine.md").write_text("x"),
                                               ["check", "dev", "--out", str(t)])[2], ("was not written by `pipeworks plan`",)),
    ("policy-config-output-dir", lambda t, p: ["policy-config", str(p), "--output", str(t)], ("--output", "is a directory")),
    ("policy-config-missing", lambda t, p: ["policy-config", str(t / "missing" / "plan")], ("no such",)),
    ("policy-config-unknown-flag", lambda t, p: ["policy-config", "dev", "--bogus"], ("unrecognized arguments",)),
]


@pytest.mark.parametrize("name,build,expect", CASES, ids=[c[0] for c in CASES])
def test_check_refuses(name: str, build: Callable[[Path, Path], list[str]], expect: tuple[str, ...], tmp_path: Path,
                       dev_plan: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = run(build(tmp_path, dev_plan), capsys)
    assert_refused(r, *expect)
    assert r.out == ""  # no report on stdout for an input that could not be judged


def test_a_bare_list_is_judged_like_a_kind_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bare, wrapped = tmp_path / "bare.yaml", tmp_path / "list.yaml"
    bare.write_text(yaml.safe_dump([POD, {**POD, "metadata": {"name": "api", "namespace": "ml"}}]))
    wrapped.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": yaml.safe_load(bare.read_text())}))
    a = run(["check", "--manifests", str(bare), "--format", "json"], capsys)
    b = run(["check", "--manifests", str(wrapped), "--format", "json"], capsys)
    assert a.code == b.code == ExitCode.VIOLATIONS
    strip = lambda out: sorted((v["policy"], v["resource"].split(" ", 1)[1]) for v in json.loads(out))  # noqa: E731
    assert strip(a.out) == strip(b.out) and any("Pod/api" in r for _, r in strip(a.out))


def test_a_stack_file_inside_the_repo_is_still_found(tmp_path: Path, dev_plan: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    d = copy_plan(dev_plan, tmp_path / "plan", _stack_json(dev_plan))
    r = run(["check", str(d), "--format", "json"], capsys)
    assert r.code in (0, 1) and "not found" not in r.err


def test_check_in_a_fresh_process(tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text(BOMB)
    assert_refused(run_process(["check", "--manifests", str(tmp_path / "bomb.yaml")]), "bomb.yaml", "alias")
    assert_refused(run_process(["check", str(tmp_path / "nope")]), "no such file or directory")
