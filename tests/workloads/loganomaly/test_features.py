"""Window features, the robust-baseline score and the vocabulary (workloads/loganomaly/features.py, detect.py)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from workloads.loganomaly import detect, synthetic
from workloads.loganomaly.features import Thresholds, Vocabulary, score_window, window_features
from workloads.loganomaly.klog import KlogParser, KlogRecord


def rec(level: str = "I", file: str = "a.go", line: int = 1, message: str = "ok") -> KlogRecord:
    return KlogRecord(level, "12", "01", "10:00:00.000000", 1, file, line, message)


def normal(n: int = 100) -> list[KlogRecord]:
    return [rec(message=f"ok {i}") for i in range(n)] + [rec("W", "b.go", 2, "slow")] * 3


def history(k: int = 12) -> list[dict[str, float]]:
    return [window_features(normal(95 + (i % 10))).counts for i in range(k)]


def test_counts_by_level_file_and_error_ratio() -> None:
    f = window_features([rec(), rec("E", "x.go", 3, "boom"), rec("W")])
    assert f.counts["lines"] == 3 and f.counts["level.E"] == 1 and f.counts["level.W"] == 1
    assert f.counts["file.a.go"] == 2 and abs(f.counts["error_ratio"] - 1 / 3) < 1e-9
    assert f.sources == {"a.go:1": 2, "x.go:3": 1}


def test_a_normal_window_is_not_anomalous() -> None:
    s = score_window(window_features(normal(101)), history(), {}, {})
    assert not s.anomalous and s.evidence == []


def test_an_error_burst_is_anomalous_with_the_error_fields_as_evidence() -> None:
    burst = normal(100) + [rec("E", "etcd.go", 9, "timeout")] * 30
    s = score_window(window_features(burst), history(), {}, {})
    assert s.anomalous
    fields = [e["field"] for e in s.evidence]
    assert "level.E" in fields and "error_ratio" in fields and "file.etcd.go" in fields


def test_novelty_is_evidence_only_after_the_learning_windows() -> None:
    f = window_features(normal())
    assert not score_window(f, history(3), {"new thing": 3}, {"n.go:1": 2}).anomalous
    s = score_window(f, history(), {"new thing": 3}, {"n.go:1": 2})
    assert {e["kind"] for e in s.evidence} == {"new_template", "new_source"}


def test_a_single_new_info_line_is_not_enough_but_a_new_error_is() -> None:
    f = window_features(normal() + [rec(message="once"), rec("E", message="broken")])
    s = score_window(f, history(), {"once": 1, "broken": 1}, {})
    assert [e["value"] for e in s.evidence] == ["broken"]


def test_a_stream_going_quiet_is_anomalous() -> None:
    s = score_window(window_features(normal(5)), history(), {}, {})
    assert s.anomalous and s.evidence[0]["field"] == "lines" and float(s.evidence[0]["z"]) < 0


def test_vocabulary_reports_first_sightings_the_same_way_on_a_rerun() -> None:
    v = Vocabulary()
    f1, f2 = window_features([rec(message="a")]), window_features([rec(message="a"), rec(message="b")])
    assert v.observe(0.0, f1) == ({"a": 1}, {"a.go:1": 1})
    assert v.observe(300.0, f2) == ({"b": 1}, {})
    assert v.observe(300.0, f2) == ({"b": 1}, {})  # the same window again: the same novelty
    assert v.observe(0.0, f1) == ({"a": 1}, {"a.go:1": 1})


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(80, 120), min_size=6, max_size=30), st.integers(80, 120))
def test_in_range_volumes_never_alarm(volumes: list[int], now: int) -> None:
    hist = [window_features(normal(v)).counts for v in volumes]
    assert not score_window(window_features(normal(now)), hist, {}, {}).anomalous


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32))
def test_scores_are_deterministic(seed: int) -> None:
    f = window_features(normal(100 + seed % 50) + [rec("E")] * (seed % 40))
    assert score_window(f, history(), {}, {}) == score_window(f, history(), {}, {})


def test_window_ids_are_deterministic_and_distinct() -> None:
    t0 = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    t1 = t0 + dt.timedelta(minutes=5)
    assert detect.window_id("logstash-klog-*", t0, t1) == detect.window_id("logstash-klog-*", t0, t1)
    assert detect.window_id("logstash-klog-*", t0, t1) != detect.window_id("logstash-klog-*", t1, t1 + (t1 - t0))


def test_the_detector_finds_the_injected_anomalies_of_a_small_corpus(corpus: list[str], parser: KlogParser) -> None:
    """Quality on a small seeded stream (the benchmark measures the full one): recall >= 0.9 at precision >= 0.8."""
    stream = synthetic.generate(corpus, parser, seed=3, windows=80, warmup_windows=12, anomaly_share=0.15)
    results = detect.offline(stream.lines, parser, stream.start, stream.window_s, stream.windows)
    flagged = {i for i, r in enumerate(results) if i >= 12 and r.score.anomalous}
    truth = set(stream.labels)
    tp = len(flagged & truth)
    assert truth and tp / len(truth) >= 0.9 and tp / max(len(flagged), 1) >= 0.8, (flagged, stream.labels)
    assert set(stream.labels.values()) == set(synthetic.KINDS)


def test_the_anomaly_document_carries_the_evidence() -> None:
    t0 = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    result = detect.process_window(t0, t0 + dt.timedelta(minutes=5), normal() + [rec("E")] * 40, history(),
                                   Vocabulary(), Thresholds())
    doc = detect.anomaly_doc("logstash-klog-*", result)
    assert doc["window_start"] == "2026-12-01T00:00:00Z" and doc["window_end"] == "2026-12-01T00:05:00Z"
    assert "count" in doc["kinds"] and any(e["field"] == "level.E" for e in doc["evidence"])


def test_a_single_new_info_call_site_is_not_enough_but_a_new_warning_one_is() -> None:
    f = window_features(normal() + [rec(file="once.go", line=7), rec("W", "warn.go", 8, "w")])
    s = score_window(f, history(), {}, {"once.go:7": 1, "warn.go:8": 1})
    assert [e["value"] for e in s.evidence] == ["warn.go:8"]
