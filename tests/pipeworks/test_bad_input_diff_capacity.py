"""`pipeworks diff`, `capacity` and `config-docs`: bad entries end in exit 2 naming the folder or file and
the key, never a traceback (issue 9); diffing two different stacks warns."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.infra.planned import plan_dir
from tests.pipeworks.badinput import assert_refused, run


@pytest.fixture(scope="module")
def plans() -> Path:
    """The directory holding dev/ (the suite-wide cache of the shipped plans; tests copy before changing)."""
    return plan_dir("dev").parent


def _plan_copy(plans: Path, dst: Path, resources: bytes | None = None) -> Path:
    shutil.copytree(plans / "dev", dst)
    if resources is not None:
        (dst / "resources.json").write_bytes(resources)
    return dst


DiffCase = tuple[str, Callable[[Path, Path], list[str]], tuple[str, ...]]
DIFF: list[DiffCase] = [
    ("base-missing", lambda t, p: ["diff", str(t / "nope"), str(p)], ("BASE_DIR", "nope: no such folder")),
    ("head-missing", lambda t, p: ["diff", str(p), str(t / "nope")], ("HEAD_DIR", "no such folder")),
    ("base-is-file", lambda t, p: (t.joinpath("f").write_text("x"), ["diff", str(t / "f"), str(p)])[1],
     ("BASE_DIR", "is a file")),
    ("base-empty-folder", lambda t, p: (t.joinpath("e").mkdir(), ["diff", str(t / "e"), str(p)])[1],
     ("BASE_DIR", "not a plan folder")),
    ("base-docs-folder", lambda t, p: ["diff", str(Path(__file__).resolve().parents[2] / "docs"), str(p)],
     ("not a plan folder",)),
    ("resources-not-json", lambda t, p: ["diff", str(_plan_copy(p, t / "b", b"{oops")), str(p / "dev")],
     ("resources.json", "not valid JSON")),
    ("resources-not-list", lambda t, p: ["diff", str(_plan_copy(p, t / "b", b'{"a": 1}')), str(p / "dev")],
     ("resources.json", "not a plan's resources")),
    ("resources-bad-record", lambda t, p: ["diff", str(_plan_copy(p, t / "b", b'[{"urn": 5}]')), str(p / "dev")],
     ("resources.json", "string urn and type")),
    ("resources-not-utf8", lambda t, p: ["diff", str(_plan_copy(p, t / "b", b'["\xfe"]')), str(p / "dev")],
     ("resources.json", "not UTF-8")),
    ("resources-deep", lambda t, p: ["diff", str(_plan_copy(p, t / "b", b"[" * 5000 + b"]" * 5000)), str(p / "dev")],
     ("resources.json", "nested deeper")),
    ("resources-duplicate-key", lambda t, p: ["diff", str(_plan_copy(p, t / "b", b'[{"urn": "a", "urn": "b"}]')),
                                               str(p / "dev")], ("resources.json", "urn")),
    ("mixed-forms", lambda t, p: ["diff", str(p), str(p / "dev")], ("one is a single plan",)),
    ("unknown-flag", lambda t, p: ["diff", str(p), str(p), "--bogus"], ("unrecognized arguments",)),
    ("one-argument", lambda t, p: ["diff", str(p)], ("required: head",)),
]


@pytest.mark.parametrize("name,build,expect", DIFF, ids=[c[0] for c in DIFF])
def test_diff_refuses(name: str, build: Callable[[Path, Path], list[str]], expect: tuple[str, ...], tmp_path: Path,
                      plans: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = run(build(tmp_path, plans), capsys)
    assert_refused(r, *expect)
    assert r.out == ""


def test_diff_reads_each_plan_once_through_the_safe_reader(tmp_path: Path, plans: Path,
                                                           capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeworks.diff as diff

    reads: list[str] = []
    real = diff.read_json

    def counting(path: Path, *a: object, **kw: object) -> object:
        reads.append(Path(path).name)
        return real(path, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(diff, "read_json", counting)
    r = run(["diff", str(plans / "dev"), str(_plan_copy(plans, tmp_path / "head"))], capsys)
    assert r.code == 0
    assert reads.count("resources.json") == 2  # base and head, once each (it was four: a check and a load)


def test_diff_of_two_stacks_warns(tmp_path: Path, plans: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = _plan_copy(plans, tmp_path / "staging")
    info = json.loads((other / "stack.json").read_text())
    (other / "stack.json").write_text(json.dumps({**info, "stack": "staging"}))
    r = run(["diff", str(plans / "dev"), str(other)], capsys)
    assert r.code == 0 and "warning" in r.err and "'dev'" in r.err and "'staging'" in r.err
    r = run(["diff", str(plans / "dev"), str(plans / "dev")], capsys)
    assert r.code == 0 and "warning" not in r.err


POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "ml"},
       "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]}}
POOL = {"name": "general", "role": "general", "instanceTypes": ["m6i.xlarge"], "minSize": 1, "maxSize": 3}


def _capacity(pools: object, raw: bytes | None = None, suffix: str = ".json") -> Callable[[Path], list[str]]:
    def build(tmp: Path) -> list[str]:
        (tmp / "m.yaml").write_text(yaml.safe_dump(POD))
        f = tmp / f"pools{suffix}"
        f.write_bytes(raw if raw is not None else json.dumps(pools).encode())
        return ["capacity", "--manifests", str(tmp / "m.yaml"), "--pools", str(f)]
    return build


CAPACITY: list[tuple[str, Callable[[Path], list[str]], tuple[str, ...]]] = [
    ("negative-min", _capacity([{**POOL, "minSize": -2}]), ("pools.json", "[0].minSize=-2")),
    ("negative-max", _capacity([{**POOL, "maxSize": -1}]), ("[0].maxSize=-1",)),
    ("string-size", _capacity([{**POOL, "maxSize": "3"}]), ("[0].maxSize=\"3\"",)),
    ("float-size", _capacity([{**POOL, "maxSize": 2.5}]), ("[0].maxSize=2.5",)),
    ("bool-gpu", _capacity([{**POOL, "capacity": {"cpu": "4", "memory": "8Gi", "gpu": True}}]), ("[0].capacity.gpu=true",)),
    ("negative-gpu", _capacity([{**POOL, "capacity": {"cpu": "4", "memory": "8Gi", "gpu": -1}}]), ("[0].capacity.gpu=-1",)),
    ("max-below-min", _capacity([{**POOL, "minSize": 3, "maxSize": 1}]), ("[0].maxSize=1 is below minSize=3",)),
    ("not-a-list", _capacity({"pools": []}), ("must be a list of pools",)),
    ("pool-not-object", _capacity(["general"]), ("[0] must be an object",)),
    ("instance-types-not-list", _capacity([{**POOL, "instanceTypes": "m6i.xlarge"}]), ("[0].instanceTypes",)),
    ("pools-not-utf8", _capacity(None, b'[{"name": "\xff"}]'), ("pools.json", "not UTF-8")),
    ("pools-duplicate-key", _capacity(None, b"- name: a\n  name: b\n", ".yaml"), ("pools.yaml", "duplicate key 'name'")),
    ("pools-alias-bomb", _capacity(None, ("- " + "a: &a [x, x, x, x, x, x, x, x, x]\n  " + "\n  ".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(8)) + "\n").encode(), ".yaml"),
     ("pools.yaml", "alias")),
    ("no-pools-for-manifests", lambda t: (t.joinpath("m.yaml").write_text(yaml.safe_dump(POD)),
                                          ["capacity", "--manifests", str(t / "m.yaml")])[1], ("no node pools",)),
    ("unknown-flag", lambda t: ["capacity", "dev", "--bogus"], ("unrecognized arguments",)),
    ("bad-format", lambda t: ["capacity", "dev", "--format", "sarif"], ("invalid choice",)),
]


@pytest.mark.parametrize("name,build,expect", CAPACITY, ids=[c[0] for c in CAPACITY])
def test_capacity_refuses(name: str, build: Callable[[Path], list[str]], expect: tuple[str, ...], tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    r = run(build(tmp_path), capsys)
    assert_refused(r, *expect)
    assert r.out == ""


def test_capacity_accepts_a_good_pools_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = run(_capacity([POOL])(tmp_path), capsys)
    assert r.code == 0 and "pool general" in r.out


CONFIG_DOCS = [(["config-docs", "--bogus"], "unrecognized arguments"), (["config-docs", "extra"], "unrecognized"),
               (["config-docs", "--che"], "unrecognized"), (["nosuchcommand"], "unknown command 'nosuchcommand'"),
               ([], "exit codes")]


@pytest.mark.parametrize("argv,expect", CONFIG_DOCS, ids=[" ".join(c[0]) or "nothing" for c in CONFIG_DOCS])
def test_config_docs_and_dispatcher_refuse(argv: list[str], expect: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert_refused(run(argv, capsys), expect)


def test_usage_comes_from_the_command_table(capsys: pytest.CaptureFixture[str]) -> None:
    from pipeworks.commands import COMMANDS

    r = run(["--help"], capsys)
    assert r.code == 0
    for c in COMMANDS:
        assert f"pipeworks {c.name} {c.usage}" in r.out and c.summary in r.out
