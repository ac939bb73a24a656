"""Property (issue 9): any mutation of the shipped dev and prod stack files (types swapped, keys dropped,
values out of range, garbage added) is either a valid stack or refused with every line naming
Pulumi.STACK.yaml; never another exception (which the CLI would print as a traceback).

In process through pipeworks.plan.validate (what `pipeworks plan` runs before the program), so a few
hundred examples stay fast; tests/pipeworks/test_bad_input_plan.py runs the CLI in fresh processes too."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pipeworks.plan import InvalidStack, validate
from tests.pipeworks.badinput import CIPHERTEXT, DEV, PROD

STACKS = {"dev": DEV, "prod": PROD}


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key and list index in the document, depth first."""
    out: list[tuple[Any, ...]] = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.append((*prefix, k))
            out.extend(paths(v, (*prefix, k)))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.append((*prefix, i))
            out.extend(paths(v, (*prefix, i)))
    return out


scalars = (st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=12) | st.sampled_from(["", "0", "-1", "true", "m6i.xlarge", "g5.xlarge", "raw", "raid0",
                                                      "prod", "dev", "existing", "AKIAIOSFODNN7EXAMPLE",
                                                      "https://u:p@h.example", "Mars/Phobos", "8Gi", "-4"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)
mutation = st.tuples(st.sampled_from(["drop", "replace", "add", "secure"]), st.integers(0, 10**6), values,
                     st.text(min_size=1, max_size=10))


def apply(doc: dict[str, Any], op: str, pick: int, value: Any, key: str) -> None:
    all_paths = paths(doc["config"])
    if not all_paths:
        return
    path = all_paths[pick % len(all_paths)]
    parent: Any = doc["config"]
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if op == "drop":
        del parent[last]
    elif op == "replace":
        parent[last] = value
    elif op == "secure":
        parent[last] = {"secure": value if not isinstance(value, str) or pick % 2 else CIPHERTEXT}
    elif isinstance(parent[last], dict):
        parent[last][key] = value
    elif isinstance(parent[last], list):
        parent[last].append(value)
    else:
        parent[last] = value


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stack=st.sampled_from(sorted(STACKS)), mutations=st.lists(mutation, min_size=1, max_size=3))
def test_mutated_stack_is_valid_or_refused_naming_the_file(stack: str, mutations: list[Any]) -> None:
    doc = copy.deepcopy(STACKS[stack])
    for m in mutations:
        apply(doc, *m)
    file = f"Pulumi.{stack}.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / file).write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=False))
        try:
            validate(Path(tmp), stack)
            event("valid")
        except InvalidStack as e:
            event("refused")
            lines = str(e).splitlines()
            assert lines, "an empty refusal"
            # every problem names the file (a multi-line problem continues with indented lines)
            assert all(ln.startswith(f"{file}: ") or ln.startswith((" ", "\t")) for ln in lines), str(e)


@settings(max_examples=60, deadline=None)
@given(stack=st.sampled_from(sorted(STACKS)), cut=st.integers(0, 10**6), garbage=st.binary(max_size=20))
def test_mutated_stack_bytes_are_valid_or_refused(stack: str, cut: int, garbage: bytes) -> None:
    """Raw byte edits (truncation, inserted bytes: bad UTF-8, tabs, stray brackets) of the real file."""
    file = f"Pulumi.{stack}.yaml"
    data = (Path(__file__).resolve().parents[2] / file).read_bytes()
    at = cut % (len(data) + 1)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / file).write_bytes(data[:at] + garbage + data[at:])
        try:
            validate(Path(tmp), stack)
        except InvalidStack as e:
            assert str(e).startswith(f"{file}: "), str(e)
