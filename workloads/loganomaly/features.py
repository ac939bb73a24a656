"""Window features of klog records and their robust-baseline score (pure: no client, no clock).

Features of one window: line count, counts by level (W, E, F) and error share, counts per source file, the
templates and call sites (file:line) first seen in this window, and the request log's latency (p99, max,
requests slower than a second).

Scoring: a robust baseline, not an IsolationForest. Each count is compared with the median of the previous
windows in units of their MAD (floored by a Poisson-like sqrt(median)+1, so a feature that was constant does not
turn every new value into an infinite z), latency in log10 seconds, and novelty (templates or call sites never
seen before) counts on its own. Why: (1) the history is short (a day is 288 five-minute windows) and the feature
space wide and sparse (one count per source file), where a forest's random splits are noisy; (2) the anomalies
index must say *which fields drove the score*: a per-feature z is that evidence, a forest's path length is not;
(3) it is deterministic, so a re-run of a window writes the same document. `benchmarks/loganomaly.py` measures it
on the captured corpus with injected anomalies."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from workloads.loganomaly.klog import KlogRecord, request_latency, template

SLOW_REQUEST_S = 1.0


@dataclass(frozen=True)
class WindowFeatures:
    """What the detector knows of one window; `counts` are compared with the baseline, the sets are novelty."""

    counts: dict[str, float]
    templates: dict[str, int]  # template -> lines in this window
    sources: dict[str, int]  # file:line -> lines
    template_levels: dict[str, str] = field(default_factory=dict)  # template -> the most severe level seen
    source_levels: dict[str, str] = field(default_factory=dict)  # file:line -> the most severe level seen


_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}


def window_features(records: Iterable[KlogRecord], total: int | None = None) -> WindowFeatures:
    """The features of one window's records. `total`: the index's exact count when only a sample was fetched."""
    counts: dict[str, float] = {"lines": 0.0, "level.W": 0.0, "level.E": 0.0, "level.F": 0.0}
    templates: dict[str, int] = {}
    levels: dict[str, str] = {}
    source_levels: dict[str, str] = {}
    sources: dict[str, int] = {}
    latencies: list[float] = []
    for r in records:
        counts["lines"] += 1
        if r.level in ("W", "E", "F"):
            counts[f"level.{r.level}"] += 1
        counts[f"file.{r.file}"] = counts.get(f"file.{r.file}", 0.0) + 1
        t = template(r.message)
        templates[t] = templates.get(t, 0) + 1
        if _SEVERITY.get(r.level, 0) >= _SEVERITY.get(levels.get(t, "I"), 0):
            levels[t] = r.level
        sources[r.source] = sources.get(r.source, 0) + 1
        if _SEVERITY.get(r.level, 0) >= _SEVERITY.get(source_levels.get(r.source, "I"), 0):
            source_levels[r.source] = r.level
        lat = request_latency(r.file, r.message)
        if lat is not None:
            latencies.append(lat)
    if total is not None:
        counts["lines"] = float(total)
    counts["error_ratio"] = (counts["level.E"] + counts["level.F"]) / counts["lines"] if counts["lines"] else 0.0
    if latencies:
        latencies.sort()
        counts["latency.p99_log10"] = math.log10(max(latencies[min(len(latencies) - 1,
                                                                   int(0.99 * len(latencies)))], 1e-6))
        counts["latency.max_log10"] = math.log10(max(latencies[-1], 1e-6))
        counts["latency.slow"] = float(sum(1 for x in latencies if x >= SLOW_REQUEST_S))
    return WindowFeatures(counts=counts, templates=templates, sources=sources, template_levels=levels,
                          source_levels=source_levels)


@dataclass(frozen=True)
class Thresholds:
    z: float = 6.0  # a count this many robust deviations above its baseline is anomalous
    min_history: int = 6  # windows of history before anything is judged (before that, everything is new)
    # A new template or call site at INFO must repeat this often in the window (one info line from a rare code
    # path is everyday life); at W/E/F it counts at once.
    new_lines: int = 2


@dataclass(frozen=True)
class Score:
    score: float
    anomalous: bool
    evidence: list[dict[str, object]]  # the fields that drove the score, strongest first


_LOG_FEATURES = ("latency.p99_log10", "latency.max_log10")
_TWO_SIDED = ("lines",)  # a log stream going quiet is as suspicious as a flood


def _scale(feature: str, median: float, mad: float) -> float:
    if feature in _LOG_FEATURES:
        return max(1.4826 * mad, 0.25)  # log10 units: x1.8; six of them are a 30-fold latency
    if feature == "error_ratio":
        return max(1.4826 * mad, 0.02)
    return max(1.4826 * mad, math.sqrt(max(median, 0.0)) + 1.0)


def score_window(current: WindowFeatures, history: Sequence[dict[str, float]],
                 new_templates: dict[str, int], new_sources: dict[str, int],
                 thresholds: Thresholds = Thresholds()) -> Score:
    """Score one window against the counts of the windows before it (`history`, oldest first) and the
    templates/call sites first seen in it (the caller's vocabulary decides what is new)."""
    evidence: list[dict[str, object]] = []
    if len(history) >= thresholds.min_history:
        keys = set(current.counts)
        for h in history:
            keys.update(h)
        for key in sorted(keys):
            past = [h.get(key, 0.0) for h in history]
            if key in _LOG_FEATURES:
                # a window without requests has no latency; judge latency only against windows that had some
                past = [h[key] for h in history if key in h]
                if len(past) < thresholds.min_history or key not in current.counts:
                    continue
            value = current.counts.get(key, 0.0)
            median = statistics.median(past)
            mad = statistics.median([abs(x - median) for x in past])
            z = (value - median) / _scale(key, median, mad)
            if key not in _TWO_SIDED:
                z = max(z, 0.0)
            if abs(z) >= thresholds.z:
                evidence.append({"kind": "count", "field": key, "value": round(value, 6),
                                 "baseline": round(median, 6), "z": round(z, 2)})
    if len(history) < thresholds.min_history:
        new_templates, new_sources = {}, {}  # still learning what is normal: everything is new at first
    for t, n in sorted(new_templates.items()):
        level = current.template_levels.get(t, "I")
        if n >= thresholds.new_lines or level in ("W", "E", "F"):
            evidence.append({"kind": "new_template", "field": "template", "value": t, "lines": n, "level": level,
                             "z": float(thresholds.z)})
    for s, n in sorted(new_sources.items()):
        level = current.source_levels.get(s, "I")
        if n >= thresholds.new_lines or level in ("W", "E", "F"):
            evidence.append({"kind": "new_source", "field": "file_line", "value": s, "lines": n, "level": level,
                             "z": float(thresholds.z)})
    evidence.sort(key=lambda e: (-abs(float(e["z"])), str(e["field"]), str(e["value"])))
    top = max((abs(float(e["z"])) for e in evidence), default=0.0)
    return Score(score=round(top, 2), anomalous=bool(evidence), evidence=evidence[:20])


class Vocabulary:
    """Templates and call sites with the window they were first seen in (epoch seconds), so that a re-run of a
    window finds the same novelty: something is new in window w when its first sighting is w."""

    def __init__(self, templates: dict[str, float] | None = None, sources: dict[str, float] | None = None):
        self.templates = dict(templates or {})
        self.sources = dict(sources or {})

    def observe(self, start: float, features: WindowFeatures) -> tuple[dict[str, int], dict[str, int]]:
        """Record this window's templates and sources; return those first seen in it (with their line counts)."""
        new_t, new_s = {}, {}
        for table, seen, out in ((self.templates, features.templates, new_t), (self.sources, features.sources, new_s)):
            for key, n in seen.items():
                first = table.get(key)
                if first is None or first > start:
                    table[key] = start
                    first = start
                if first == start:
                    out[key] = n
        return new_t, new_s
