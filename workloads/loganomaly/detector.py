"""The log-anomaly detector: `python -m workloads.loganomaly.detector run` (the CronJob) scores every complete
window of the klog indices since the last one it scored; `serve` (the exporter Deployment) exposes what the
runs wrote as Prometheus metrics; `lines FILE` scores a raw klog file offline through the grok twin.

Indices it owns (`LOGANOMALY_INDEX_PREFIX`, default `loganomaly`; ECK's Logstash role does not own them):
`<prefix>-windows` (one document per window: its counts, the baseline of later runs), `<prefix>-anomalies` (one
per anomalous window, with the evidence) and `<prefix>-state` (the vocabulary of templates and call sites with
their first sighting). Every document id derives from the source pattern and the window
(`detect.window_id`), so a re-run of a window overwrites its documents: never a duplicate.

Client: `elasticsearch` 9.4 (the platform's Elasticsearch is 9.4.3, infra/config/elk.py), calls used:
`indices.exists`, `indices.create`, `search` (query, sort, size, `_source` filter, `track_total_hits`, terms
and max aggregations), `get`, `bulk` (index with ids, `refresh=wait_for`), `index`.

Application code: never imports pulumi or infra."""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import os
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Iterable

from workloads.common.envconfig import SettingError, get_float, get_int, get_secret, get_str
from workloads.loganomaly.detect import WindowResult, anomaly_doc, iso, process_window, window_doc, window_id
from workloads.loganomaly.features import Thresholds, Vocabulary
from workloads.loganomaly.klog import KlogParser, KlogRecord, record_time

INDEX_NAME = r"[a-z0-9][a-z0-9_.*,-]{0,200}"
KEYWORD = {"type": "keyword"}
VOCABULARY_CAP = 50_000  # entries per table; the oldest first sightings go first beyond it


@dataclass(frozen=True)
class Settings:
    es_url: str
    es_user: str
    es_password: str | None
    es_ca: str | None
    grok: str
    source_index: str
    index_prefix: str
    window_s: int
    history_windows: int
    lag_s: int
    max_windows_per_run: int
    backfill_windows: int
    max_docs_per_window: int
    z: float
    metrics_port: int
    recent_s: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Settings":
        window = get_int(env, "LOGANOMALY_WINDOW_SECONDS", 300, minimum=10, maximum=86400)
        assert window is not None
        return cls(
            es_url=get_str(env, "LOGANOMALY_ES_URL", pattern=r"https?://[^\s]+",
                           hint="the Elasticsearch URL, e.g. https://logs-es-http.logging.svc:9200"),
            es_user=get_str(env, "LOGANOMALY_ES_USER", "loganomaly"),
            es_password=get_secret(env, "LOGANOMALY_ES_PASSWORD", file_name="LOGANOMALY_ES_PASSWORD_FILE"),
            es_ca=env.get("LOGANOMALY_ES_CA", "").strip() or None,
            grok=get_str(env, "LOGANOMALY_KLOG_GROK", hint="the platform's klog grok (infra/services/elk/spec.py)"),
            source_index=get_str(env, "LOGANOMALY_SOURCE_INDEX", "logstash-klog-*", pattern=INDEX_NAME,
                                 hint="an index name or pattern"),
            index_prefix=get_str(env, "LOGANOMALY_INDEX_PREFIX", "loganomaly", pattern=r"[a-z0-9][a-z0-9_-]{0,60}",
                                 hint="lowercase letters, digits, '-' and '_'"),
            window_s=window,
            history_windows=get_int(env, "LOGANOMALY_HISTORY_WINDOWS", 48, minimum=6, maximum=2016) or 48,
            lag_s=get_int(env, "LOGANOMALY_LAG_SECONDS", 120, minimum=0, maximum=86400) or 0,
            max_windows_per_run=get_int(env, "LOGANOMALY_MAX_WINDOWS_PER_RUN", 24, minimum=1, maximum=2016) or 24,
            backfill_windows=get_int(env, "LOGANOMALY_BACKFILL_WINDOWS", 12, minimum=1, maximum=2016) or 12,
            max_docs_per_window=get_int(env, "LOGANOMALY_MAX_DOCS_PER_WINDOW", 10000, minimum=100,
                                        maximum=10000) or 10000,
            z=get_float(env, "LOGANOMALY_Z", 6.0, minimum=1.0, maximum=100.0),
            metrics_port=get_int(env, "LOGANOMALY_METRICS_PORT", 9100, minimum=1, maximum=65535) or 9100,
            recent_s=get_int(env, "LOGANOMALY_RECENT_SECONDS", 3600, minimum=60, maximum=7 * 86400) or 3600,
        )


def client(settings: Settings) -> Any:
    from elasticsearch import Elasticsearch  # imported here: `lines` mode and the tests of Settings need no client

    kwargs: dict[str, Any] = {"request_timeout": 60, "retry_on_timeout": True, "max_retries": 3}
    if settings.es_password is not None:
        kwargs["basic_auth"] = (settings.es_user, settings.es_password)
    if settings.es_ca:
        kwargs["ca_certs"] = settings.es_ca
    return Elasticsearch(settings.es_url, **kwargs)


def _floor(t: float, step: int) -> float:
    return math.floor(t / step) * step


def _utc(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, tz=dt.timezone.utc)


def _parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


class Store:
    """The detector's reads and writes, through an `elasticsearch.Elasticsearch` client."""

    def __init__(self, es: Any, settings: Settings):
        self.es, self.s = es, settings
        p = settings.index_prefix
        self.windows, self.anomalies, self.state = f"{p}-windows", f"{p}-anomalies", f"{p}-state"

    def ensure_indices(self) -> None:
        date = {"type": "date"}
        mappings = {
            self.windows: {"properties": {"window_start": date, "window_end": date, "source": KEYWORD,
                                          "score": {"type": "float"}, "anomalous": {"type": "boolean"},
                                          # counts keys are per source file: kept, not indexed (no mapping growth)
                                          "counts": {"type": "object", "enabled": False}}},
            self.anomalies: {"properties": {"@timestamp": date, "window_start": date, "window_end": date,
                                            "source": KEYWORD, "score": {"type": "float"}, "kinds": KEYWORD,
                                            "lines": {"type": "float"},
                                            "evidence": {"properties": {"kind": KEYWORD, "field": KEYWORD,
                                                                        "value": KEYWORD, "z": {"type": "float"}}}}},
            self.state: {"properties": {"source": KEYWORD, "vocabulary": {"type": "object", "enabled": False}}},
        }
        for index, mapping in mappings.items():
            if not self.es.indices.exists(index=index):
                self.es.indices.create(index=index, mappings=mapping)

    def last_window_end(self) -> dt.datetime | None:
        r = self.es.search(index=self.windows, size=0, query={"term": {"source": self.s.source_index}},
                           aggs={"last": {"max": {"field": "window_end"}}})
        value = r["aggregations"]["last"].get("value")
        return None if value is None else _utc(value / 1000.0)

    def history(self, before: dt.datetime, n: int) -> list[dict[str, float]]:
        r = self.es.search(index=self.windows, size=n, sort=[{"window_start": {"order": "desc"}}],
                           query={"bool": {"filter": [{"term": {"source": self.s.source_index}},
                                                      {"range": {"window_start": {"lt": iso(before)}}}]}})
        return [h["_source"]["counts"] for h in reversed(r["hits"]["hits"])]

    def vocabulary(self) -> Vocabulary:
        from elasticsearch import NotFoundError

        try:
            doc = self.es.get(index=self.state, id=self._vocabulary_id())
        except NotFoundError:
            return Vocabulary()
        v = doc["_source"]["vocabulary"]
        return Vocabulary(json.loads(v["templates"]), json.loads(v["sources"]))

    def save_vocabulary(self, vocabulary: Vocabulary) -> None:
        def capped(table: dict[str, float]) -> str:
            keep = sorted(table.items(), key=lambda kv: kv[1])[-VOCABULARY_CAP:]
            return json.dumps(dict(sorted(keep)), separators=(",", ":"))

        self.es.index(index=self.state, id=self._vocabulary_id(), refresh="wait_for",
                      document={"source": self.s.source_index, "vocabulary": {
                          "templates": capped(vocabulary.templates), "sources": capped(vocabulary.sources)}})

    def _vocabulary_id(self) -> str:
        return "vocabulary-" + hashlib.sha256(self.s.source_index.encode()).hexdigest()[:16]

    def records(self, start: dt.datetime, end: dt.datetime, parser: KlogParser) -> tuple[list[KlogRecord], int]:
        """The window's klog documents (at most max_docs_per_window, oldest first) and the exact total."""
        r = self.es.search(index=self.s.source_index, size=self.s.max_docs_per_window, track_total_hits=True,
                           query={"range": {"@timestamp": {"gte": iso(start), "lt": iso(end)}}},
                           sort=[{"@timestamp": {"order": "asc"}}],
                           source=["level", "month", "day", "time", "thread_id", "file", "line", "message"])
        records = [rec for rec in (doc_record(h["_source"], parser) for h in r["hits"]["hits"]) if rec is not None]
        return records, int(r["hits"]["total"]["value"])

    def write(self, results: Iterable[WindowResult]) -> int:
        ops: list[dict[str, Any]] = []
        anomalies = 0
        for res in results:
            doc_id = window_id(self.s.source_index, res.start, res.end)
            ops += [{"index": {"_index": self.windows, "_id": doc_id}}, window_doc(self.s.source_index, res)]
            if res.score.anomalous:
                anomalies += 1
                ops += [{"index": {"_index": self.anomalies, "_id": doc_id}}, anomaly_doc(self.s.source_index, res)]
        if ops:
            r = self.es.bulk(operations=ops, refresh="wait_for")
            if r.get("errors"):
                failed = [i for i in r["items"] if next(iter(i.values())).get("error")]
                raise RuntimeError(f"bulk write failed for {len(failed)} document(s): "
                                   f"{next(iter(failed[0].values()))['error']}")
        return anomalies


def doc_record(src: Mapping[str, Any], parser: KlogParser) -> KlogRecord | None:
    """A klog index document as a record: the fields Logstash's grok set, or, for a document that only has the
    raw line (shipped without the pipeline's grok), the twin's parse of it."""
    try:
        return KlogRecord(level=str(src["level"]), month=str(src.get("month", "")), day=str(src.get("day", "")),
                          time=str(src.get("time", "")), thread_id=int(src.get("thread_id", 0)),
                          file=str(src["file"]), line=int(src["line"]), message=str(src.get("message", "")))
    except (KeyError, TypeError, ValueError):
        message = src.get("message")
        return parser.parse(message) if isinstance(message, str) else None


def run(settings: Settings, es: Any, now: float | None = None, rerun_from: dt.datetime | None = None) -> dict[str, Any]:
    """Score every complete window since the last scored one (or from `rerun_from`), oldest first."""
    parser = KlogParser(settings.grok)
    store = Store(es, settings)
    store.ensure_indices()
    step = settings.window_s
    limit = _floor((time.time() if now is None else now) - settings.lag_s, step)
    if rerun_from is not None:
        first = _floor(rerun_from.timestamp(), step)
    else:
        last = store.last_window_end()
        first = last.timestamp() if last is not None else limit - settings.backfill_windows * step
    starts = [first + i * step for i in range(settings.max_windows_per_run) if first + (i + 1) * step <= limit]
    thresholds = Thresholds(z=settings.z)
    results: list[WindowResult] = []
    if starts:
        history = store.history(_utc(starts[0]), settings.history_windows)
        vocabulary = store.vocabulary()
        for start in starts:
            w_start, w_end = _utc(start), _utc(start + step)
            records, total = store.records(w_start, w_end, parser)
            res = process_window(w_start, w_end, records, history, vocabulary, thresholds, total=total)
            history = (history + [res.features.counts])[-settings.history_windows:]
            results.append(res)
        store.save_vocabulary(vocabulary)
    anomalies = store.write(results)
    return {"windows": len(results), "anomalies": anomalies,
            "from": iso(_utc(starts[0])) if starts else None, "to": iso(_utc(starts[-1] + step)) if starts else None}


# --- metrics ---------------------------------------------------------------------------------------------

class AnomalyCollector:
    """Prometheus collector reading the detector's indices at scrape time (cached for 15 s): what the runs of
    the CronJob found, for the platform's alert rules."""

    def __init__(self, es: Any, settings: Settings, cache_s: float = 15.0):
        self.store, self.s, self.cache_s = Store(es, settings), settings, cache_s
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Any]] | None = None

    def collect(self) -> Iterable[Any]:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] > self.cache_s:
                self._cached = (time.monotonic(), self._read())
            return list(self._cached[1])

    def _read(self) -> list[Any]:
        from prometheus_client.core import GaugeMetricFamily

        up = GaugeMetricFamily("loganomaly_search_up", "1 when the last read of the detector's indices succeeded")
        last = GaugeMetricFamily("loganomaly_last_window_end_timestamp_seconds",
                                 "End of the newest window the detector has scored (Unix seconds)")
        recent = GaugeMetricFamily("loganomaly_recent_anomalies",
                                   "Anomalous windows that ended within LOGANOMALY_RECENT_SECONDS, by kind of evidence",
                                   labels=["kind"])
        score = GaugeMetricFamily("loganomaly_recent_max_score",
                                  "Highest score of those windows (robust z; novelty counts as the threshold)")
        try:
            end = self.store.last_window_end()
            since = iso(_utc(time.time() - self.s.recent_s))
            r = self.store.es.search(index=self.store.anomalies, size=0,
                                     query={"bool": {"filter": [{"term": {"source": self.s.source_index}},
                                                                {"range": {"window_end": {"gte": since}}}]}},
                                     aggs={"kinds": {"terms": {"field": "kinds", "size": 10}},
                                           "top": {"max": {"field": "score"}}})
        except Exception as e:  # noqa: BLE001 - any failure to read is `up 0`, never a failed scrape
            print(f"loganomaly: reading the indices failed: {type(e).__name__}: {e}", file=sys.stderr)
            up.add_metric([], 0.0)
            return [up]
        up.add_metric([], 1.0)
        if end is not None:
            last.add_metric([], end.timestamp())
        counts = {b["key"]: float(b["doc_count"]) for b in r["aggregations"]["kinds"]["buckets"]}
        for kind in ("count", "new_template", "new_source"):
            recent.add_metric([kind], counts.get(kind, 0.0))
        score.add_metric([], float(r["aggregations"]["top"].get("value") or 0.0))
        return [up, last, recent, score]


def serve(settings: Settings, es: Any) -> None:  # pragma: no cover - the loop of the Deployment
    from prometheus_client import CollectorRegistry

    from workloads.common.healthserver import serve_metrics_and_health

    registry = CollectorRegistry()
    registry.register(AnomalyCollector(es, settings))
    serve_metrics_and_health(settings.metrics_port, registry, lambda: True, subject="loganomaly exporter")
    threading.Event().wait()


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="loganomaly", description="klog anomaly detector")
    sub = ap.add_subparsers(dest="cmd", required=True)
    run_p = sub.add_parser("run", help="score the windows since the last run (the CronJob)")
    run_p.add_argument("--rerun-from", help="ISO time: score again from this window on (idempotent)")
    sub.add_parser("serve", help="serve the metrics of the detector's indices (the exporter)")
    lines_p = sub.add_parser("lines", help="score a raw klog file offline (year and window from options)")
    lines_p.add_argument("file")
    lines_p.add_argument("--year", type=int, default=dt.datetime.now(dt.timezone.utc).year)
    args = ap.parse_args(argv)
    environ = os.environ if env is None else env
    try:
        if args.cmd == "lines":
            return _lines(args.file, args.year, environ)
        settings = Settings.from_env(environ)
        KlogParser(settings.grok)  # a grok that does not compile or lacks the fields: refused before any call
        rerun = _parse_time(args.rerun_from) if getattr(args, "rerun_from", None) else None
    except (SettingError, ValueError) as e:
        print(f"loganomaly: {e}", file=sys.stderr)
        return 2
    es = client(settings)
    if args.cmd == "serve":
        serve(settings, es)
        return 0
    print(json.dumps(run(settings, es, rerun_from=rerun), sort_keys=True))
    return 0


def _lines(path: str, year: int, env: Mapping[str, str]) -> int:
    from workloads.loganomaly.detect import offline

    grok = get_str(env, "LOGANOMALY_KLOG_GROK", hint="the platform's klog grok (infra/services/elk/spec.py)")
    window = get_int(env, "LOGANOMALY_WINDOW_SECONDS", 300, minimum=10, maximum=86400) or 300
    parser = KlogParser(grok)
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            raw = f.read().splitlines()
    except OSError as e:
        raise SettingError(f"{path}: cannot read ({e.strerror})") from None
    stream = []
    for line in raw:
        rec = parser.parse(line)
        if rec is not None:
            stream.append((record_time(rec, year), line))
    if not stream:
        raise SettingError(f"{path}: no klog line in it")
    start = _utc(_floor(min(t for t, _ in stream).timestamp(), window))
    windows = int((max(t for t, _ in stream) - start).total_seconds() // window) + 1
    for res in offline(stream, parser, start, window, windows, Thresholds(z=get_float(env, "LOGANOMALY_Z", 6.0))):
        if res.score.anomalous:
            print(json.dumps(anomaly_doc(path, res), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
