"""One step of the detector, the same for the CronJob (records from Elasticsearch) and offline runs (raw lines
through the grok twin: the benchmark and the tests): features of a window, its score against the windows
before it, and the documents that record both, with ids derived from the window so a re-run overwrites
instead of duplicating. Pure: no client, no clock."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Iterable, Sequence

from workloads.loganomaly.features import Score, Thresholds, Vocabulary, WindowFeatures, score_window, window_features
from workloads.loganomaly.klog import KlogParser, KlogRecord


@dataclass(frozen=True)
class WindowResult:
    start: dt.datetime
    end: dt.datetime
    features: WindowFeatures
    score: Score


def window_id(source: str, start: dt.datetime, end: dt.datetime) -> str:
    """The document id of a window's features and of its anomaly: same source and window, same id."""
    return hashlib.sha256(f"{source}|{start.isoformat()}|{end.isoformat()}".encode()).hexdigest()[:40]


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def process_window(start: dt.datetime, end: dt.datetime, records: Iterable[KlogRecord],
                   history: Sequence[dict[str, float]], vocabulary: Vocabulary, thresholds: Thresholds,
                   total: int | None = None) -> WindowResult:
    features = window_features(records, total=total)
    new_t, new_s = vocabulary.observe(start.timestamp(), features)
    return WindowResult(start, end, features, score_window(features, history, new_t, new_s, thresholds))


def window_doc(source: str, result: WindowResult) -> dict[str, object]:
    """The per-window features document (index `<prefix>-windows`): the next runs' baseline."""
    return {"window_start": iso(result.start), "window_end": iso(result.end), "source": source,
            "counts": result.features.counts, "score": result.score.score, "anomalous": result.score.anomalous}


def anomaly_doc(source: str, result: WindowResult) -> dict[str, object]:
    """The anomaly document (index `<prefix>-anomalies`), with the evidence: which fields drove the score."""
    kinds = sorted({str(e["kind"]) for e in result.score.evidence})
    return {"@timestamp": iso(result.end), "window_start": iso(result.start), "window_end": iso(result.end),
            "source": source, "score": result.score.score, "kinds": kinds,
            "evidence": [{k: (v if k not in ("value",) else str(v)) for k, v in e.items()}
                         for e in result.score.evidence],
            "lines": result.features.counts.get("lines", 0.0)}


def offline(stream: Sequence[tuple[dt.datetime, str]], parser: KlogParser, start: dt.datetime, window_s: float,
            windows: int, thresholds: Thresholds = Thresholds(), history_windows: int = 48) -> list[WindowResult]:
    """Detect over raw lines (time, klog line): window by window, each against the `history_windows` before it."""
    buckets: list[list[KlogRecord]] = [[] for _ in range(windows)]
    for t, line in stream:
        i = int((t - start).total_seconds() // window_s)
        rec = parser.parse(line)
        if rec is not None and 0 <= i < windows:
            buckets[i].append(rec)
    vocabulary = Vocabulary()
    results: list[WindowResult] = []
    for i, recs in enumerate(buckets):
        w_start = start + dt.timedelta(seconds=i * window_s)
        history = [r.features.counts for r in results[-history_windows:]]
        results.append(process_window(w_start, w_start + dt.timedelta(seconds=window_s), recs, history, vocabulary,
                                      thresholds))
    return results
