"""The detector's client code against a real search server (tests/harness/opensearch.py): OpenSearch 2.19.6
from Maven Central on loopback, reached by the unchanged `elasticsearch` 9.4 client through the harness's
media-type proxy (or any server named by PIPEWORKS_SEARCH_URL, e.g. an Elasticsearch 9.4).

The klog documents are what the platform's Logstash writes: the grok's fields (computed by the twin, which
test_grok.py checks against Oniguruma) with `klog_message` renamed to `message`, `@timestamp` the event time,
into a daily `logstash-klog-YYYY.MM.dd` index with the mappings of the platform's index template
(infra/services/elk/spec.py index_template; its ILM and tier settings are Elasticsearch-only and left out here).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import pytest
from elasticsearch import Elasticsearch

from infra.config.elk import ElkConfig
from infra.services.elk import spec
from workloads.loganomaly import detect, detector, synthetic
from workloads.loganomaly.klog import KlogParser

pytestmark = pytest.mark.integration

WINDOW_S = 60
WINDOWS = 40
WARMUP = 12


@pytest.fixture(scope="module")
def loaded(opensearch, corpus: list[str], parser: KlogParser):
    """A fresh klog index filled with a seeded stream; the settings of a detector reading it."""
    es = Elasticsearch(opensearch.es_url, request_timeout=120)
    stream = synthetic.generate(corpus, parser, seed=5, windows=WINDOWS, window_s=WINDOW_S, lines_per_window=150,
                                warmup_windows=WARMUP, anomaly_share=0.2)
    run_id = uuid.uuid4().hex[:8]
    index = f"logstash-klog-{run_id}-{stream.start:%Y.%m.%d}"
    es.indices.create(index=index, mappings={"properties": {
        **spec.index_template(ElkConfig())["template"]["mappings"]["properties"], "@timestamp": {"type": "date"}}})
    ops: list[dict] = []
    for t, line in stream.lines:
        fields = parser.fields(line)
        assert fields is not None
        doc = {k: v for k, v in fields.items() if k != "klog_message"}
        doc["message"] = fields["klog_message"]  # the pipeline's mutate rename
        doc["@timestamp"] = t.isoformat().replace("+00:00", "Z")
        ops += [{"index": {"_index": index}}, doc]
    for i in range(0, len(ops), 4000):
        assert not es.bulk(operations=ops[i:i + 4000], refresh="wait_for")["errors"]
    env = {"LOGANOMALY_ES_URL": opensearch.es_url, "LOGANOMALY_KLOG_GROK": spec.KLOG_GROK,
           "LOGANOMALY_SOURCE_INDEX": f"logstash-klog-{run_id}-*", "LOGANOMALY_INDEX_PREFIX": f"loganomaly-{run_id}",
           "LOGANOMALY_WINDOW_SECONDS": str(WINDOW_S), "LOGANOMALY_LAG_SECONDS": "0",
           "LOGANOMALY_MAX_WINDOWS_PER_RUN": str(WINDOWS), "LOGANOMALY_BACKFILL_WINDOWS": str(WINDOWS)}
    settings = detector.Settings.from_env(env)
    end = (stream.start + dt.timedelta(seconds=WINDOWS * WINDOW_S)).timestamp()
    offline = detect.offline(stream.lines, parser, stream.start, WINDOW_S, WINDOWS)
    return es, stream, settings, end, offline


def anomalies(es: Elasticsearch, settings: detector.Settings) -> dict[str, dict]:
    index = f"{settings.index_prefix}-anomalies"
    es.indices.refresh(index=index)
    r = es.search(index=index, size=1000, query={"match_all": {}})
    return {h["_id"]: h["_source"] for h in r["hits"]["hits"]}


def test_a_run_scores_every_window_and_finds_the_injected_anomalies(loaded, opensearch) -> None:
    es, stream, settings, end, offline = loaded
    summary = detector.run(settings, es, now=end)
    assert summary["windows"] == WINDOWS
    found = anomalies(es, settings)
    start = stream.start.timestamp()
    flagged = {int((dt.datetime.fromisoformat(d["window_start"].replace("Z", "+00:00")).timestamp() - start)
                   // WINDOW_S) for d in found.values()}
    flagged = {w for w in flagged if w >= WARMUP}
    truth = set(stream.labels)
    tp = len(flagged & truth)
    assert tp / len(truth) >= 0.9 and tp / max(len(flagged), 1) >= 0.8, (sorted(flagged), stream.labels)
    # the server path computes exactly what the offline path (raw lines through the twin) computes
    by_start = {d["window_start"]: d for d in found.values()}
    expected = {detect.iso(r.start): r for r in offline if r.score.anomalous}
    assert by_start.keys() == expected.keys()
    for key, r in expected.items():
        assert by_start[key]["score"] == r.score.score
        assert by_start[key]["evidence"] == detect.anomaly_doc("x", r)["evidence"]
    doc = next(iter(found.values()))
    assert doc["evidence"] and {"kind", "field", "value", "z"} <= set(doc["evidence"][0])
    # nothing left to do: the next run finds no complete new window
    assert detector.run(settings, es, now=end)["windows"] == 0


def test_a_rerun_never_duplicates_anomalies(loaded) -> None:
    es, stream, settings, end, offline = loaded
    detector.run(settings, es, now=end, rerun_from=stream.start)
    first = anomalies(es, settings)
    detector.run(settings, es, now=end, rerun_from=stream.start)
    second = anomalies(es, settings)
    assert first and first.keys() == second.keys()
    assert {k: v["score"] for k, v in first.items()} == {k: v["score"] for k, v in second.items()}
    windows = f"{settings.index_prefix}-windows"
    es.indices.refresh(index=windows)
    assert es.count(index=windows)["count"] == WINDOWS


def test_the_exporter_reports_what_the_runs_wrote(loaded) -> None:
    es, stream, settings, end, offline = loaded
    detector.run(settings, es, now=end, rerun_from=stream.start)
    recent = detector.Settings.from_env({**_env(settings), "LOGANOMALY_RECENT_SECONDS": str(7 * 86400)})
    # the stream is dated 2026-11-30; "recent" is measured from now, so widen it only when the data is older
    collector = detector.AnomalyCollector(es, recent)
    fams = {f.name: f for f in collector.collect()}
    assert fams["loganomaly_search_up"].samples[0].value == 1.0
    assert fams["loganomaly_last_window_end_timestamp_seconds"].samples[0].value == end
    if time.time() - end < 7 * 86400:
        total = sum(s.value for s in fams["loganomaly_recent_anomalies"].samples)
        assert total >= 1


def test_a_search_failure_is_up_zero_not_a_failed_scrape(loaded) -> None:
    es, _, settings, _, _ = loaded
    broken = Elasticsearch("http://127.0.0.1:9", request_timeout=2, max_retries=0)
    fams = {f.name: f for f in detector.AnomalyCollector(broken, settings).collect()}
    assert fams["loganomaly_search_up"].samples[0].value == 0.0


def test_the_calls_proven_on_the_server(loaded, opensearch) -> None:
    """The REST calls the detector's run and exporter made, as the proxy saw them; the list is in
    workloads/loganomaly/README.md (what was proven on OpenSearch 2.19.6 through the elasticsearch 9.4 client)."""
    es, stream, settings, end, _ = loaded
    if opensearch.proxy is None:
        pytest.skip("an external server (PIPEWORKS_SEARCH_URL): no proxy to list the calls")
    opensearch.proxy.requests.clear()
    detector.run(settings, es, now=end, rerun_from=stream.start)
    list(detector.AnomalyCollector(es, settings).collect())
    p = settings.index_prefix
    calls = {(m, path.replace(p, "<prefix>").replace(settings.source_index.rstrip("*"), "<source>"))
             for m, path in opensearch.proxy.requests}
    assert calls == {("HEAD", "/<prefix>-windows"), ("HEAD", "/<prefix>-anomalies"), ("HEAD", "/<prefix>-state"),
                     ("POST", "/<prefix>-windows/_search"), ("GET", "/<prefix>-state/_doc/" + calls_id(settings)),
                     ("POST", "/<source>*/_search"), ("PUT", "/<prefix>-state/_doc/" + calls_id(settings)),
                     ("PUT", "/_bulk"), ("POST", "/<prefix>-anomalies/_search")}, sorted(calls)


def calls_id(settings: detector.Settings) -> str:
    return detector.Store(None, settings)._vocabulary_id()


def _env(settings: detector.Settings) -> dict[str, str]:
    return {"LOGANOMALY_ES_URL": settings.es_url, "LOGANOMALY_KLOG_GROK": settings.grok,
            "LOGANOMALY_SOURCE_INDEX": settings.source_index, "LOGANOMALY_INDEX_PREFIX": settings.index_prefix,
            "LOGANOMALY_WINDOW_SECONDS": str(settings.window_s)}
