"""The Python twin of the platform's klog grok against Oniguruma, the engine family Logstash's grok runs on
(Joni, its Java port): the SAME expression (infra/services/elk/spec.py KLOG_GROK, which the Logstash pipeline
embeds) expanded from the SAME pattern definitions (logstash-plugins/logstash-patterns-core
patterns/ecs-v1/grok-patterns, transcribed in workloads/loganomaly/grok.py), run by both engines on the same
lines: the captured corpus, the synthetic anomalies, edge cases and Hypothesis-generated lines. They must agree
on whether a line matches and on every field.

Not covered by Oniguruma here: Ruby's ASCII-only `\\s`/`\\d`/`\\w` (JRuby's Regexp, which grok uses, keeps Ruby
semantics; the C Oniguruma in onigurumacffi treats `\\s` as Unicode), so lines with non-ASCII spaces in the
klog header are compared against the documented Ruby behaviour instead (test_ruby_ascii_classes)."""

from __future__ import annotations

import re

import onigurumacffi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.services.elk import spec
from infra.services.elk.spec import KLOG_GROK
from workloads.loganomaly import grok, synthetic
from workloads.loganomaly.klog import KlogParser

ONIG_PATTERN, FIELDS = grok.expand(KLOG_GROK)
ONIG = onigurumacffi.compile(ONIG_PATTERN)
TWIN = grok.compile_grok(KLOG_GROK)


def both(line: str) -> tuple[list[str | None] | None, list[str | None] | None]:
    """(Oniguruma's groups, the twin's groups) of `line`, in field order; None for no match."""
    m = ONIG.search(line)
    onig = None if m is None else [m.group(i) if m.start(i) >= 0 else None for i in range(1, len(FIELDS) + 1)]
    t = TWIN.regex.search(line)
    twin = None if t is None else [t.group(name) for name in FIELDS]
    return onig, twin


def test_the_pipeline_embeds_the_expression_the_twin_compiles() -> None:
    from infra.config.elk import ElkConfig
    assert f'"message" => "{KLOG_GROK}"' in spec.logstash_pipeline(ElkConfig())
    assert [f for f, _ in FIELDS.values()] == ["level", "month", "day", "time", "thread_id", "file", "line",
                                                "klog_message"]


def test_every_corpus_line_agrees(corpus: list[str]) -> None:
    assert len(corpus) > 1000
    for line in corpus:
        onig, twin = both(line)
        assert onig is not None, line
        assert onig == twin, line


def test_the_synthetic_lines_agree(corpus: list[str], parser: KlogParser) -> None:
    stream = synthetic.generate(corpus, parser, windows=30, warmup_windows=2, anomaly_share=0.5)
    for _, line in stream.lines[::7]:
        onig, twin = both(line)
        assert onig is not None and onig == twin, line


EDGE_CASES = [
    "not a klog line at all",
    "",
    "I1201 19:51:20.465035   13357 flags.go:64] ",  # empty message
    "E0101 00:00:00.000000       1 x.go:1] first line\nsecond line",  # multi-line event: ^/$ are line anchors
    "junk before\nW1231 23:59:59.999999 42 a/b/c.go:9999] after a newline",
    "I1201 19:51:20.465035   13357 file.with:colons.go:64] m",  # DATA is lazy: file stops at the first ':N]'
    "I1201 19:51:20.465035   13357 f.go:6.4] decimal line number",  # NUMBER takes decimals
    "I1201 19:51:20.465035   -13357 f.go:64] signed thread id",
    "I1301 25:61:20.465035   1 f.go:64] impossible date and time",
    "XYZI1201 19:51:20.465035 1 f.go:64] level is DATA: anything before the month",
    "I1201 9:51:20 1 f.go:64] one-digit hour, no fraction",
    "I1201 19:51:20.465035 1 f.go:64]missing space",
    "I1201 19:51:20.465035 1 f.go:64] message with µ and ü and 漢字",
]


@pytest.mark.parametrize("line", EDGE_CASES)
def test_edge_cases_agree(line: str) -> None:
    onig, twin = both(line)
    assert onig == twin


def test_the_multiline_event_matches_its_first_line_only() -> None:
    fields = TWIN.match(EDGE_CASES[3])
    assert fields is not None and fields["klog_message"] == "first line"


def test_ruby_ascii_classes() -> None:
    # Ruby (and JRuby's Regexp, which grok uses): \s is [ \t\r\n\f\v], so an EM SPACE after the time is no match.
    assert TWIN.match("I1201 19:51:20.465035\u2003 1 f.go:64] x") is None
    assert TWIN.match("I1201 19:51:20.465035 \t1 f.go:64] x") is not None


klog_like = st.builds(
    lambda level, mm, dd, hh, mi, ss, tid, pad, file, line, msg: (
        f"{level}{mm:02d}{dd:02d} {hh:02d}:{mi:02d}:{ss:02d}.{tid % 1000000:06d}{' ' * pad}{tid} {file}:{line}] {msg}"),
    st.sampled_from(["I", "W", "E", "F", "", "X"]), st.integers(0, 19), st.integers(0, 39), st.integers(0, 29),
    st.integers(0, 69), st.integers(0, 69), st.integers(0, 10**7), st.integers(0, 8),
    st.text(st.sampled_from("abc./_-:0123456789"), min_size=0, max_size=20), st.integers(-5, 100000),
    st.text(st.characters(codec="ascii"), max_size=60))


@settings(max_examples=300, deadline=None)
@given(klog_like)
def test_generated_klog_like_lines_agree(line: str) -> None:
    onig, twin = both(line)
    assert onig == twin


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(codec="ascii"), max_size=80))
def test_arbitrary_ascii_agrees(line: str) -> None:
    onig, twin = both(line)
    assert onig == twin


def test_the_table_covers_exactly_what_the_platform_grok_needs() -> None:
    used: set[str] = set()
    todo = [KLOG_GROK]
    while todo:
        for name in re.findall(r"%\{(\w+)", todo.pop()):
            if name not in used:
                used.add(name)
                todo.append(grok.PATTERNS[name])
    assert used <= set(grok.PATTERNS)
    assert {"DATA", "TIME", "NUMBER", "GREEDYDATA", "HOUR", "MINUTE", "SECOND", "BASE10NUM"} <= used


def test_an_unknown_pattern_is_refused_by_name() -> None:
    with pytest.raises(grok.GrokError, match=r"%\{IPV4\} is not in the twin's table"):
        grok.compile_grok("%{IPV4:ip}")


def test_a_reference_cycle_is_refused() -> None:
    with pytest.raises(grok.GrokError, match="nests deeper"):
        grok.compile_grok("%{A}", {"A": "%{B}", "B": "%{A}"})


def test_typed_captures_convert() -> None:
    g = grok.compile_grok("%{NUMBER:n:int} %{NUMBER:f:float} %{WORD:w}")
    assert g.match("12 3.5 abc") == {"n": 12, "f": 3.5, "w": "abc"}


def test_parser_refuses_a_grok_without_the_fields_it_reads() -> None:
    with pytest.raises(ValueError, match="lacks the field"):
        KlogParser("%{GREEDYDATA:klog_message}")
