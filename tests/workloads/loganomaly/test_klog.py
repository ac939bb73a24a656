"""The klog record, message templates and request latency (workloads/loganomaly/klog.py)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workloads.loganomaly.klog import KlogParser, go_duration_seconds, request_latency, template


def test_the_whole_corpus_parses_into_records(corpus: list[str], parser: KlogParser) -> None:
    records = [parser.parse(line) for line in corpus]
    assert all(r is not None for r in records)
    levels = {r.level for r in records if r}
    assert levels <= {"I", "W", "E", "F"} and {"I", "W", "E"} <= levels
    first = records[0]
    assert first is not None and first.month.isdigit() and first.line > 0 and first.source.endswith(f":{first.line}")


def test_a_decimal_line_number_is_not_a_record(parser: KlogParser) -> None:
    # The grok's NUMBER takes 6.4; the index template maps `line` as an integer, so the twin does not pass it on.
    assert parser.fields("I1201 19:51:20.465035 1 f.go:6.4] m") is not None
    assert parser.parse("I1201 19:51:20.465035 1 f.go:6.4] m") is None


def test_template_masks_variable_parts_and_keeps_the_statement() -> None:
    a = template('"HTTP" verb="GET" URI="/readyz" latency="1.2ms" audit-ID="cc84cb48-97ab-458a-bb26-942e18d707a7" resp=200')
    b = template('"HTTP" verb="LIST" URI="/api/v1/pods?limit=500" latency="3s" audit-ID="0a0a0a0a-97ab-458a-bb26-942e18d707a7" resp=404')
    assert a == b == '"HTTP" verb=<*> URI=<*> latency=<*> audit-ID=<*> resp=<*>'
    assert template("Replaced watchCache (rev: 812)") == template("Replaced watchCache (rev: 99)")
    assert template("dial tcp 10.0.0.1:2379: connection refused") == "dial tcp <*>: connection refused"
    assert template("Replaced watchCache (rev: 1)") != template("Dropped watchCache (rev: 1)")


@settings(deadline=None)  # the machine is shared: no per-example time limit
@given(st.integers(0, 10**9), st.integers(0, 10**9))
def test_numbers_never_make_a_new_template(a: int, b: int) -> None:
    assert template(f"synced {a} objects in {b}ms") == template("synced 1 objects in 2ms")


@pytest.mark.parametrize("text,seconds", [("727.034µs", 727.034e-6), ("1.5s", 1.5), ("1m2.5s", 62.5),
                                          ("0s", 0.0), ("12ns", 12e-9), ("3ms", 3e-3), ("1h0m0s", 3600.0)])
def test_go_durations(text: str, seconds: float) -> None:
    assert math.isclose(go_duration_seconds(text) or 0.0, seconds, rel_tol=1e-9, abs_tol=1e-15)


@pytest.mark.parametrize("text", ["", "abc", "1.5", "s", "1.5sx", "x1s"])
def test_bad_go_durations(text: str) -> None:
    assert go_duration_seconds(text) is None


def test_request_latency_only_for_short_requests(corpus: list[str], parser: KlogParser) -> None:
    records = [r for r in (parser.parse(line) for line in corpus) if r and r.file == "httplog.go"]
    lat = [request_latency(r.file, r.message) for r in records]
    assert sum(x is not None for x in lat) > 500
    assert max(x for x in lat if x is not None) < 5.0  # watches (about a minute) are excluded
    assert request_latency("httplog.go", '"HTTP" verb="WATCH" URI="/api/v1/pods?watch=true" latency="1m0s"') is None
    assert request_latency("other.go", 'latency="1s"') is None
