"""Every YAML and JSON file the project reads from a user (stack files, manifests, pools files, plan
folders) goes through here: bounded size, strict UTF-8, bounded nesting, no alias bomb, no duplicate
keys (YAML silently keeps the last one), string keys only. Errors name the file, the line and the key.

It lives in policies/ because that is the lowest layer both the packs (manifests) and the offline
tooling (pipeworks/) import; it imports nothing of the project.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_BYTES = 64 * 2**20  # one file; a 64 MB manifest is far beyond any real one
STACK_FILE_BYTES = 2**20  # a stack file is a few kilobytes
MAX_DEPTH = 64  # Kubernetes objects and Helm values nest ~20 deep
# Aliases may add at most this many nodes beyond the document's own: anchors for shared settings are
# fine, a "billion laughs" (aliases of aliases, 10^9 nodes from a few hundred bytes) is refused.
MAX_ALIAS_NODES = 100_000


class InputError(ValueError):
    """An input file that cannot be read safely; the message names the file (and line and key)."""


def read_text(path: Path, label: str | None = None, *, max_bytes: int = MAX_BYTES) -> str:
    """The file's text: at most max_bytes, strictly UTF-8 (the byte offset of the first bad byte)."""
    label = label or str(path)
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except IsADirectoryError:
        raise InputError(f"{label}: is a directory, expected a file") from None
    except OSError as e:
        raise InputError(f"{label}: cannot read: {e.strerror or e}") from None
    if len(data) > max_bytes:
        raise InputError(f"{label}: larger than {max_bytes // 2**20 or 1} MB; refused (valid: a file below that size)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise InputError(f"{label}: line {line}: byte {e.start} is not UTF-8 ({data[e.start:e.start + 1]!r}); "
                         "valid: UTF-8 text") from None


def _precheck(text: str, label: str, max_depth: int) -> None:
    """One pass over the parser's events (libyaml keeps its own stack, so no recursion here): the
    nesting depth and the number of nodes aliases would add when the document is walked."""
    depth = 0
    anchored: dict[str, int] = {}
    stack: list[list[Any]] = []  # [anchor, expanded node count] per open collection
    own = alias_nodes = 0
    for ev in yaml.parse(text, Loader=_BASE):
        if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            own += 1
            if depth > max_depth:
                raise InputError(f"{label}: line {ev.start_mark.line + 1}: nested deeper than {max_depth} levels; "
                                 f"refused (valid: at most {max_depth})")
            stack.append([ev.anchor, 1])
        elif isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
            anchor, size = stack.pop()
            if anchor is not None:
                anchored[anchor] = size
            if stack:
                stack[-1][1] += size
        elif isinstance(ev, yaml.ScalarEvent):
            own += 1
            if ev.anchor is not None:
                anchored[ev.anchor] = 1
            if stack:
                stack[-1][1] += 1
        elif isinstance(ev, yaml.AliasEvent):
            size = anchored.get(ev.anchor, 1)
            alias_nodes += size
            if alias_nodes > MAX_ALIAS_NODES + own:
                raise InputError(f"{label}: line {ev.start_mark.line + 1}: YAML aliases (*{ev.anchor}) expand to more "
                                 f"than {MAX_ALIAS_NODES + own} nodes (an alias bomb?); refused: write the values out")
            if stack:
                stack[-1][1] += size
        elif isinstance(ev, yaml.DocumentEndEvent):
            anchored.clear()  # anchors do not cross documents


class _StrictLoader(_BASE):  # type: ignore[misc,valid-type]
    """SafeLoader that refuses duplicate and non-string mapping keys."""

    label = "input"

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *defaults` merges on purpose: its keys may be overridden
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                shown = repr(key_node.value) if isinstance(key_node, yaml.ScalarNode) else f"a {key_node.id}"
                raise InputError(f"{self.label}: line {line}: key {shown} is not a string "
                                 f"({key_node.tag.rsplit(':', 1)[-1]}); valid: string keys (quote it)")
            key = key_node.value
            if key in seen:
                raise InputError(f"{self.label}: line {line}: duplicate key {key!r} (first at line {seen[key]}); "
                                 "YAML would silently keep the last: keep one")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str, label: str, *, max_depth: int = MAX_DEPTH, line_offset: int = 0) -> Any:
    """One YAML document, safely. Raises InputError naming `label` (and the line)."""
    docs = load_yaml_all(text, label, max_depth=max_depth, line_offset=line_offset)
    if len(docs) > 1:
        raise InputError(f"{label}: holds {len(docs)} YAML documents; valid: one")
    return docs[0] if docs else None


def load_yaml_all(text: str, label: str, *, max_depth: int = MAX_DEPTH, line_offset: int = 0) -> list[Any]:
    try:
        _precheck(text, label, max_depth)
        loader = _StrictLoader(text)
        loader.label = label
        try:
            return list(_documents(loader))
        finally:
            loader.dispose()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1 + line_offset}: " if mark is not None else ""
        what = getattr(e, "problem", None) or str(e)
        raise InputError(f"{label}: {where}not valid YAML: {what}") from None
    except RecursionError:  # pragma: no cover - the depth precheck keeps construction shallow
        raise InputError(f"{label}: nested too deep to read") from None


def _documents(loader: yaml.Loader) -> Any:
    while loader.check_data():
        yield loader.get_data()


def _json_pairs(label: str):  # type: ignore[no-untyped-def]
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise InputError(f"{label}: duplicate key {k!r}; keep one")
            out[k] = v
        return out
    return hook


def check_depth(obj: Any, label: str, max_depth: int = MAX_DEPTH) -> None:
    """Iteratively (no recursion): refuse objects nested deeper than max_depth."""
    todo = [(obj, 1)]
    while todo:
        cur, d = todo.pop()
        if isinstance(cur, dict):
            children = cur.values()
        elif isinstance(cur, list):
            children = cur
        else:
            continue
        if d > max_depth:
            raise InputError(f"{label}: nested deeper than {max_depth} levels; refused (valid: at most {max_depth})")
        todo.extend((c, d + 1) for c in children)


def load_json(text: str, label: str, *, max_depth: int = MAX_DEPTH) -> Any:
    try:
        doc = json.loads(text, object_pairs_hook=_json_pairs(label))
    except json.JSONDecodeError as e:
        raise InputError(f"{label}: line {e.lineno}: not valid JSON: {e.msg}") from None
    except RecursionError:
        raise InputError(f"{label}: nested deeper than {max_depth} levels; refused (valid: at most {max_depth})") from None
    check_depth(doc, label, max_depth)
    return doc


def read_yaml(path: Path, label: str | None = None, *, max_bytes: int = MAX_BYTES) -> Any:
    label = label or str(path)
    return load_yaml(read_text(path, label, max_bytes=max_bytes), label)


def read_json(path: Path, label: str | None = None, *, max_bytes: int = MAX_BYTES) -> Any:
    label = label or str(path)
    return load_json(read_text(path, label, max_bytes=max_bytes), label)
