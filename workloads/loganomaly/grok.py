"""A grok expression compiled to a Python regular expression, as Logstash's grok filter compiles it for Joni
(the Java port of Oniguruma): `%{NAME}` and `%{NAME:field}` expand recursively from the pattern definitions,
`(?<name>...)` is Oniguruma's named group, and `^`/`$` are line anchors in Ruby syntax.

The definitions below are the ones the platform's klog grok uses (infra/services/elk/spec.py KLOG_GROK),
transcribed from logstash-plugins/logstash-patterns-core `patterns/ecs-v1/grok-patterns` (the set Logstash 8+
loads with its default `ecs_compatibility => v8`; `patterns/legacy/grok-patterns` defines these eight the same
way), including upstream's quirks (TIME's `(?!<[0-9])` is a lookahead for a literal `<`, not a lookbehind).
A name the table lacks is refused, never guessed. Runs in the detector's container: stdlib only.

Translation to Python `re` (3.11: atomic groups `(?>...)` are supported):
- `(?<name>` -> `(?P<name>`; grok field names with `[` `]` `.` `@` are mapped to valid group names, the
  original name kept for the result;
- `re.MULTILINE` (Ruby's `^`/`$` match at every line boundary) and `re.ASCII` (Ruby's `\\s`, `\\d`, `\\w` are ASCII:
  a U+2003 space is not `\\s` there);
- `search`, not `match`: grok finds the pattern anywhere unless the expression anchors it.
tests/workloads/loganomaly/test_grok.py checks the result against Oniguruma itself on the corpus."""

from __future__ import annotations

import re
from dataclasses import dataclass

# name -> definition, exactly as in patterns/ecs-v1/grok-patterns (logstash-patterns-core 4.3.x).
PATTERNS: dict[str, str] = {
    "BASE10NUM": r"(?<![0-9.+-])(?>[+-]?(?:(?:[0-9]+(?:\.[0-9]+)?)|(?:\.[0-9]+)))",
    "NUMBER": r"(?:%{BASE10NUM})",
    "INT": r"(?:[+-]?(?:[0-9]+))",
    "POSINT": r"\b(?:[1-9][0-9]*)\b",
    "WORD": r"\b\w+\b",
    "NOTSPACE": r"\S+",
    "SPACE": r"\s*",
    "DATA": r".*?",
    "GREEDYDATA": r".*",
    "HOUR": r"(?:2[0123]|[01]?[0-9])",
    "MINUTE": r"(?:[0-5][0-9])",
    "SECOND": r"(?:(?:[0-5]?[0-9]|60)(?:[:.,][0-9]+)?)",
    "TIME": r"(?!<[0-9])%{HOUR}:%{MINUTE}(?::%{SECOND})(?![0-9])",
}

_REF = re.compile(r"%\{(?P<name>\w+)(?::(?P<field>[^:}]+))?(?::(?P<type>int|float))?\}")
_ONIG_NAMED = re.compile(r"\(\?<(?P<name>[A-Za-z_@\[\]][\w@.\[\]-]*)>")
_MAX_DEPTH = 32


class GrokError(ValueError):
    """The expression names a pattern the table lacks, or does not compile."""


@dataclass(frozen=True)
class Grok:
    """One compiled grok expression: `match(line)` gives {field: value} (str, or int/float for `:int`/`:float`)
    or None when the line does not match (Logstash tags such events `_grokparsefailure`, ours `not_klog`)."""

    expression: str
    regex: re.Pattern[str]
    fields: dict[str, tuple[str, str | None]]  # python group name -> (grok field name, type)

    def match(self, line: str) -> dict[str, object] | None:
        m = self.regex.search(line)
        if m is None:
            return None
        out: dict[str, object] = {}
        for group, (field, kind) in self.fields.items():
            value = m.group(group)
            if value is None:
                continue
            out[field] = int(value) if kind == "int" else float(value) if kind == "float" else value
        return out


def expand(expression: str, patterns: dict[str, str] | None = None) -> tuple[str, dict[str, tuple[str, str | None]]]:
    """The Oniguruma-syntax regex of `expression` (every `%{...}` replaced) and its named fields in order."""
    table = PATTERNS if patterns is None else patterns
    fields: dict[str, tuple[str, str | None]] = {}

    def group_name(field: str, kind: str | None) -> str:
        safe = re.sub(r"\W", "_", field).strip("_") or "field"
        name, n = f"g_{safe}", 1
        while name in fields:
            n += 1
            name = f"g_{safe}_{n}"
        fields[name] = (field, kind)
        return name

    def sub(text: str, depth: int) -> str:
        if depth > _MAX_DEPTH:
            raise GrokError(f"grok expression nests deeper than {_MAX_DEPTH} pattern references (a cycle?)")

        def one(m: re.Match[str]) -> str:
            name = m.group("name")
            if name not in table:
                raise GrokError(f"grok pattern %{{{name}}} is not in the twin's table (workloads/loganomaly/grok.py "
                                f"PATTERNS: {', '.join(sorted(table))}); transcribe its upstream definition first")
            body = sub(table[name], depth + 1)
            if m.group("field"):
                return f"(?<{group_name(m.group('field'), m.group('type'))}>{body})"
            return f"(?:{body})"

        return _REF.sub(one, text)

    expanded = sub(expression, 0)

    def named(m: re.Match[str]) -> str:  # the expression's own (?<name>...) groups are fields too
        name = m.group("name")
        return m.group(0) if name in fields else f"(?<{group_name(name, None)}>"

    onig = _ONIG_NAMED.sub(named, expanded)
    # in the order the groups open (Oniguruma numbers named groups that way when a pattern has only named ones)
    order = sorted(fields, key=lambda g: onig.index(f"(?<{g}>"))
    return onig, {g: fields[g] for g in order}


def to_python(onig: str) -> str:
    """Oniguruma named groups in Python spelling (the only syntax difference the table's patterns have)."""
    return re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", onig)


def compile_grok(expression: str, patterns: dict[str, str] | None = None) -> Grok:
    onig, fields = expand(expression, patterns)
    try:
        regex = re.compile(to_python(onig), re.MULTILINE | re.ASCII)
    except re.error as e:
        raise GrokError(f"grok expression {expression!r} does not compile as a Python regex: {e}") from e
    return Grok(expression=expression, regex=regex, fields=fields)
