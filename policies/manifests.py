"""Plain Kubernetes YAML (or JSON) files as the resources the rules judge: multi-document files,
`kind: List` expanded, each object named `<path>#<document index> <Kind>/<name>` and remembering the
line it starts on (for SARIF)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policies.rules.model import Resource
from policies.saferead import InputError, load_json, load_yaml, read_text

_DOC_MARKER = re.compile(r"^(---|\.\.\.)(?=\s|$)", re.M)
SUFFIXES = (".yaml", ".yml", ".json")


class ManifestError(ValueError):
    """A file that cannot be read as Kubernetes manifests; the message names the file and document."""


@dataclass
class Loaded:
    resources: list[Resource] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: int = 0


def type_token(api_version: str, kind: str) -> str:
    """`kubernetes:<group>/<version>:<Kind>` as pulumi-kubernetes spells it (core group for v1)."""
    gv = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{gv}:{kind}"


def _has_content(lines: list[str]) -> bool:
    return any(ln.strip() and not ln.lstrip().startswith("#") for ln in lines)


def _first_content_line(start: int, lines: list[str]) -> int:
    """Where the object itself starts (past leading comments), so locations point at it."""
    for i, ln in enumerate(lines):
        if ln.strip() and not ln.lstrip().startswith("#"):
            return start + i
    return start


def _split(text: str) -> list[tuple[int, str]]:
    """(1-based start line, text) per YAML document, indexed as a YAML parser counts them: text
    before the first `---` is a document only if it holds more than comments."""
    docs: list[tuple[int, str]] = []
    buf: list[str] = []
    start, explicit = 1, False
    for line_no, line in enumerate(text.splitlines(keepends=True), start=1):
        m = _DOC_MARKER.match(line)
        if not m:
            buf.append(line)
            continue
        if explicit or _has_content(buf):
            docs.append((_first_content_line(start, buf), "".join(buf)))
        rest = line[3:]
        explicit = m.group(1) == "---"
        buf = [rest] if explicit and rest.strip() else []
        start = line_no if buf else line_no + 1
    if explicit or _has_content(buf):
        docs.append((_first_content_line(start, buf), "".join(buf)))
    return docs


def _objects(doc: Any) -> Iterable[dict[str, Any]]:
    if isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
        yield from (i for i in doc["items"] if isinstance(i, dict))
    elif isinstance(doc, list):  # a bare list of objects (what `kubectl get -o yaml` minus the List wrapper)
        yield from (i for i in doc if isinstance(i, dict))
    elif isinstance(doc, dict):
        yield doc


def _resource(obj: dict[str, Any], label_path: str, index: int, line: int) -> Resource | None:
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return None
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    name = meta.get("name") if isinstance(meta.get("name"), str) else (meta.get("generateName") or "<unnamed>")
    label = f"{label_path}#{index} {kind}/{name}"
    return Resource(urn=label, type=type_token(api_version, kind), name=str(name), props=obj,
                    source=label_path, line=line)


def load_file(path: Path, label_path: str | None = None) -> Loaded:
    out = Loaded(files=1)
    label_path = label_path or str(path)
    try:
        text = read_text(path)  # bounded size, strict UTF-8
        if path.suffix == ".json":
            chunks: list[tuple[int, Any]] = [(1, load_json(text, str(path)))]
        else:
            chunks = []
            for start, chunk in _split(text):
                # each document on its own: alias bombs, depth, duplicate and non-string keys refused
                chunks.append((start, load_yaml(chunk, f"{path}: document {len(chunks)} (from line {start})",
                                                      line_offset=start - 1)))
    except InputError as e:
        raise ManifestError(str(e)) from None
    for index, (start, doc) in enumerate(chunks):
        if doc is None:
            continue
        objs = list(_objects(doc))
        if not objs:
            out.notes.append(f"{label_path}#{index}: not a Kubernetes object, skipped")
        for obj in objs:
            r = _resource(obj, label_path, index, start)
            if r is None:
                out.notes.append(f"{label_path}#{index}: no apiVersion/kind, skipped")
            else:
                out.resources.append(r)
    return out


def load_paths(paths: Iterable[str | Path]) -> Loaded:
    """Every manifest under the given files and directories (directories: *.yaml, *.yml, *.json, recursively)."""
    out = Loaded()
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.suffix in SUFFIXES and f.is_file())
            if not files:
                out.notes.append(f"{p}: no .yaml/.yml/.json files")
        elif p.is_file():
            files = [p]
        else:
            raise ManifestError(f"{p}: no such file or directory")
        for f in files:
            one = load_file(f)
            out.resources.extend(one.resources)
            out.notes.extend(one.notes)
            out.files += 1
    return out
