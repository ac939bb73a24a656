"""Invariants of the fraud workload's Dockerfiles (Docker cannot build here, so the files themselves are checked).

Each image: a pinned slim Python base (never ``latest``), a non-root numeric USER, requirements pinned with ``==``
and matching pyproject.toml, exactly the repository modules its entry point imports (computed from the source),
and no third-party package the code does not need.
"""

from __future__ import annotations

import ast
import re
import shlex
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
FRAUD = REPO / "workloads" / "fraud"

IMAGES = {
    # image: (entry module, ENTRYPOINT, distributions needed at runtime that no module imports)
    "trainer": ("workloads.fraud.trainer", ["python", "-m", "workloads.fraud.trainer"], set()),
    "api": ("workloads.fraud.api",
            ["gunicorn", "-c", "/app/workloads/fraud/gunicorn.conf.py", "workloads.fraud.api:gunicorn_app()"],
            # gunicorn is the server; unpickling the RandomForest needs scikit-learn without importing it.
            {"gunicorn", "scikit-learn"}),
    "scorer": ("workloads.fraud.scorer", ["python", "-m", "workloads.fraud.scorer"], set()),
}
EXTRA_FILES = {"api": {"workloads/fraud/gunicorn.conf.py"}}

# Top-level import name -> the distribution that provides it.
DISTRIBUTION = {"numpy": "numpy", "sklearn": "scikit-learn", "joblib": "joblib", "boto3": "boto3",
                "botocore": "botocore", "flask": "flask", "werkzeug": "werkzeug", "gunicorn": "gunicorn",
                "prometheus_client": "prometheus-client", "kafka": "kafka-python"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with continuation lines joined and comments dropped."""
    joined, out = "", []
    for line in path.read_text().splitlines():
        if line.strip().startswith("#") or not line.strip():
            continue
        joined += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            keyword, _, rest = joined.strip().partition(" ")
            out.append((keyword.upper(), rest.strip()))
            joined = ""
    return out


def module_file(module: str) -> Path:
    base = REPO / Path(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def import_closure(entry: str) -> tuple[set[str], set[str]]:
    """(repository files the entry module needs, incl. package __init__s; third-party top-level imports)."""
    files: set[str] = set()
    third_party: set[str] = set()
    pending = [entry]
    seen: set[str] = set()
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        path = module_file(module)
        files.add(str(path.relative_to(REPO)))
        parts = module.split(".")
        for i in range(1, len(parts)):  # importing a.b.c runs a/__init__ and a/b/__init__
            pending.append(".".join(parts[:i]))
        package = module if path.name == "__init__.py" else ".".join(parts[:-1])
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                    names = [base] + [f"{base}.{a.name}" for a in node.names]
                elif node.module and node.module != "__future__":
                    names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                top = name.split(".")[0]
                if top == "workloads":
                    if module_file(name).exists():
                        pending.append(name)
                elif top not in sys.stdlib_module_names:
                    third_party.add(top)
    return files, third_party


def pyproject_pins() -> dict[str, str]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    pins = {}
    for spec in data["project"]["optional-dependencies"]["workloads"]:
        name, _, version = spec.partition("==")
        pins[canonical(name)] = version.strip()
    return pins


def requirements(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(direct pins, transitive pins); the '# transitive' comment separates them."""
    direct: dict[str, str] = {}
    transitive: dict[str, str] = {}
    target = direct
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.lower() == "# transitive":
            target = transitive
            continue
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][0-9A-Za-z.+-]*)", line)
        assert match, f"{path.name}: {line!r} is not pinned as name==version"
        target[canonical(match.group(1))] = match.group(2)
    return direct, transitive


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_dockerfile_invariants(image: str) -> None:
    dockerfile = FRAUD / f"Dockerfile.{image}"
    steps = instructions(dockerfile)
    keywords = [k for k, _ in steps]

    # Pinned slim base: an exact Python patch release, never latest or an implicit tag.
    froms = [args for k, args in steps if k == "FROM"]
    assert len(froms) == 1, f"{dockerfile.name}: expected one FROM, got {froms}"
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", froms[0]), froms[0]
    assert "latest" not in froms[0]

    # Non-root: the last USER is a numeric uid:gid other than 0, and it comes after every RUN.
    users = [(i, args) for i, (k, args) in enumerate(steps) if k == "USER"]
    assert users, f"{dockerfile.name} has no USER (would run as root)"
    index, user = users[-1]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) >= 1000 and (not gid or (gid.isdigit() and int(gid) != 0)), user
    assert all(k != "RUN" for k, _ in steps[index:]), "a RUN after USER would undo nothing but runs as the app user"

    # Requirements: the file beside the Dockerfile, every line name==version, direct pins equal pyproject's.
    req_file = FRAUD / f"requirements-{image}.txt"
    copies = [shlex.split(args) for k, args in steps if k == "COPY"]
    assert [f"workloads/fraud/{req_file.name}", "/app/requirements.txt"] in copies
    runs = [args for k, args in steps if k == "RUN" and "pip install" in args]
    assert runs == ["pip install --no-cache-dir -r /app/requirements.txt"], runs
    direct, transitive = requirements(req_file)
    pins = pyproject_pins()
    for name, version in direct.items():
        assert name in pins, f"{req_file.name}: {name} is not a [workloads] dependency in pyproject.toml"
        assert pins[name] == version, f"{req_file.name}: {name}=={version} but pyproject.toml pins {pins[name]}"
    assert not set(direct) & set(transitive)

    # Exactly the modules the entry point imports, nothing else from the repository.
    entry, entrypoint, runtime_only = IMAGES[image]
    needed_files, imports = import_closure(entry)
    needed_files |= EXTRA_FILES.get(image, set())
    copied: set[str] = set()
    for args in copies:
        sources, destination = args[:-1], args[-1]
        assert destination.startswith("/app/"), args
        copied |= {s for s in sources if s.startswith("workloads/") and not s.endswith(".txt")}
        for source in sources:
            assert source != "." and "*" not in source, f"{dockerfile.name}: COPY {source} copies more than needed"
            # The destination keeps the repository path, so imports resolve under /app.
            if not source.endswith(".txt"):
                target = destination + (Path(source).name if destination.endswith("/") else "")
                assert target == "/app/" + source, f"{source} copied to {target}"
    assert copied == needed_files, (f"{dockerfile.name}: copies {sorted(copied - needed_files)} it does not need, "
                                    f"misses {sorted(needed_files - copied)}")
    assert "ADD" not in keywords

    # Every third-party import is installed; every direct requirement is used.
    unknown = imports - set(DISTRIBUTION)
    assert not unknown, f"add {unknown} to DISTRIBUTION in this test"
    installed = set(direct) | set(transitive)
    needed = {DISTRIBUTION[i] for i in imports}
    assert needed <= installed, f"{req_file.name} misses {needed - installed}"
    assert set(direct) <= needed | runtime_only, f"{req_file.name} installs unused {set(direct) - needed - runtime_only}"

    entrypoints = [args for k, args in steps if k == "ENTRYPOINT"]
    assert len(entrypoints) == 1 and ast.literal_eval(entrypoints[0]) == entrypoint


def test_scorer_image_needs_no_numpy_or_sklearn() -> None:
    _, imports = import_closure("workloads.fraud.scorer")
    assert not imports & {"numpy", "sklearn", "joblib", "flask"}, imports
    assert "numpy" in import_closure("workloads.fraud.api")[1]


def test_float32_limit_literal_matches_numpy() -> None:
    import numpy as np

    from workloads.fraud.features import MAX_ABS_VALUE

    assert MAX_ABS_VALUE == float(np.finfo(np.float32).max)
