"""Stream scorer without a broker: message parsing, idempotent keys, settings, and commit-only-after-write."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from kafka.structs import TopicPartition
from prometheus_client import generate_latest

from workloads.common.envconfig import SettingError
from workloads.common.objectstore import ObjectStore
from workloads.common.s3settings import S3Settings
from workloads.fraud import scorer, synthetic
from workloads.fraud.features import BASE_FEATURE_NAMES
from workloads.fraud.scorer import ApiClient, BadMessage, Scorer, ScorerConfig, ScorerMetrics, parse_message

from .test_api import metric_value

NAMES = BASE_FEATURE_NAMES


def msg(**fields: Any) -> bytes:
    base = {"transaction_id": "t1", "timestamp": "2026-03-01T23:59:59.500Z", "amount": 12.5,
            "amount_past_month": 900, "merchant_txn_count": 2}
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not ...}).encode()


def test_parse_message_uses_the_event_time_not_the_wall_clock() -> None:
    tx = parse_message("transactions", 2, 41, msg(), 1_000, NAMES)
    assert tx.event_time == datetime(2026, 3, 1, 23, 59, 59, 500000, tzinfo=UTC)
    assert tx.features == (12.5, 900.0, 2.0) and tx.transaction_id == "t1"
    assert scorer.result_key("scores/fraud", tx) == \
        "scores/fraud/date=2026-03-01/hour=23/transactions-p0002-o00000000000000000041.json"
    # An offset in the payload's zone is converted to UTC before partitioning.
    shifted = parse_message("t", 0, 1, msg(timestamp="2026-03-02T01:30:00+02:00"), None, NAMES)
    assert scorer.result_key("p", shifted).startswith("p/date=2026-03-01/hour=23/")
    # Without a timestamp field the Kafka record timestamp (ms) is the event time.
    fallback = parse_message("t", 0, 1, msg(timestamp=...), 1_772_409_600_000, NAMES)
    assert fallback.event_time == datetime(2026, 3, 2, tzinfo=UTC)
    epoch = parse_message("t", 0, 1, msg(timestamp=1_772_409_600_000), None, NAMES)
    assert epoch.event_time == fallback.event_time


@pytest.mark.parametrize(("value", "reason"), [
    (None, "tombstone"),
    (b"not json", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[1,2,3]", "must be a JSON object"),
    pytest.param(b"[" * 100000, "nested too deeply", id="deep-nesting"),
    (msg(amount=...), "feature amount is missing"),
    (msg(amount="12"), "amount must be a number"),
    (msg(merchant_txn_count=True), "got a boolean"),
    (b'{"amount": NaN, "amount_past_month": 1, "merchant_txn_count": 1, "timestamp": 0}', "finite"),
    (msg(amount=1e39), "too large"),
    (msg(timestamp="yesterday"), "not ISO 8601"),
    (msg(timestamp="2026-03-01T10:00:00"), "no time zone"),
    (msg(timestamp=-5), "not plausible"),
    (msg(timestamp=...), "no event time"),
])
def test_bad_messages_are_reported_not_raised(value: bytes | None, reason: str) -> None:
    with pytest.raises(BadMessage, match=re.escape(reason)):
        parse_message("t", 0, 7, value, None, NAMES)


def test_documents_are_deterministic() -> None:
    tx = parse_message("t", 1, 2, msg(), None, NAMES)
    a = scorer.result_document(tx, NAMES, "v1", 1, 0.75)
    assert a == scorer.result_document(tx, NAMES, "v1", 1, 0.75)
    doc = json.loads(a)
    assert doc["features"] == {"amount": 12.5, "amount_past_month": 900.0, "merchant_txn_count": 2.0}
    assert doc["event_time"] == "2026-03-01T23:59:59.500Z" and doc["offset"] == 2
    dead = json.loads(scorer.dead_letter_document("t", 1, 2, b"k", b"\x00raw", 5, "unparseable: x"))
    assert dead["value_base64"] == "AHJhdw==" and dead["reason"] == "unparseable: x"
    assert scorer.dead_letter_key("dlq", "t", 1, 2) == "dlq/t-p0001-o00000000000000000002.json"


def test_main_reads_kafka_and_s3_settings_and_exits_2_on_a_bad_one(caplog: pytest.LogCaptureFixture) -> None:
    """The scorer's Kafka settings are the shared reader's under the FF_KAFKA_ prefix; every settings problem
    (its own, Kafka's, the bucket's) is the one SettingError, reported and exit status 2."""
    assert scorer.KAFKA_PREFIX == "FF_KAFKA_"
    api = {"FF_API_URL": "http://api:8080"}
    assert scorer.main([], api) == 2
    assert "FF_KAFKA_BOOTSTRAP is required" in caplog.text
    caplog.clear()
    assert scorer.main([], {**api, "FF_KAFKA_BOOTSTRAP": "k:9092"}) == 2
    assert "BUCKET_HOST is missing or empty" in caplog.text


def test_scorer_config_errors() -> None:
    with pytest.raises(SettingError, match="FF_API_URL is required"):
        ScorerConfig.from_env({})
    with pytest.raises(SettingError, match="FF_API_URL='ftp://x' is invalid"):
        ScorerConfig.from_env({"FF_API_URL": "ftp://x"})
    with pytest.raises(SettingError, match="FF_BATCH_SIZE='0' is out of range"):
        ScorerConfig.from_env({"FF_API_URL": "http://api:8080", "FF_BATCH_SIZE": "0"})
    assert ScorerConfig.from_env({"FF_API_URL": "http://api:8080/"}).api_url == "http://api:8080"


@pytest.mark.parametrize(("value", "ok"), [("5999", False), ("1000", False), ("6000", True), ("300000", True),
                                           ("300001", False)])
def test_session_timeout_is_one_the_broker_accepts(value: str, ok: bool) -> None:
    """Kafka refuses a JoinGroup whose session timeout is under group.min.session.timeout.ms (6000 by default,
    GroupCoordinatorConfig.GROUP_MIN_SESSION_TIMEOUT_MS_DEFAULT in Apache Kafka 4.3.1): such a scorer would loop on
    InvalidSessionTimeoutError forever (seen against the real broker), so the setting is refused when read."""
    env = {"FF_API_URL": "http://api:8080", "FF_KAFKA_SESSION_TIMEOUT_MS": value}
    if ok:
        assert ScorerConfig.from_env(env).session_timeout_ms == int(value)
    else:
        with pytest.raises(SettingError, match=f"FF_KAFKA_SESSION_TIMEOUT_MS='{value}' is out of range"):
            ScorerConfig.from_env(env)


# ---------------------------------------------------------------------------------------------
# The batch loop against a scripted consumer (real API over HTTP, real S3 on moto)
# ---------------------------------------------------------------------------------------------


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = None
    timestamp: int = 1_772_409_600_000


@dataclass
class ScriptedConsumer:
    """Hands out the same batch until it is committed, like Kafka after a seek back."""

    records: list[Record]
    commits: list[dict] = field(default_factory=list)
    seeks: list[tuple[TopicPartition, int]] = field(default_factory=list)

    def poll(self, timeout_ms: int, max_records: int) -> dict:
        if self.commits:
            return {}
        return {TopicPartition("transactions", 0): list(self.records)}

    def commit(self, offsets: dict) -> None:
        self.commits.append({tp: om.offset for tp, om in offsets.items()})

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))

    def assignment(self) -> set:
        return {TopicPartition("transactions", 0)}

    def highwater(self, tp: TopicPartition) -> int:
        return len(self.records) + 5

    def position(self, tp: TopicPartition) -> int:
        return len(self.records)


def exposition(metrics: ScorerMetrics) -> str:
    return generate_latest(metrics.registry).decode()


def make_records(n: int, bad: tuple[int, ...] = ()) -> list[Record]:
    rows = synthetic.generate(n, seed=11)
    return [Record("transactions", 0, i, b"{broken" if i in bad else synthetic.to_message(row))
            for i, row in enumerate(rows)]


def test_commits_only_after_every_write_succeeded(api_url: str, store: ObjectStore, s3_env: dict[str, str]) -> None:
    records = make_records(20, bad=(3,))
    consumer = ScriptedConsumer(records)
    config = ScorerConfig(api_url=api_url, max_backoff_seconds=1)
    # A bucket that does not exist yet: every write fails, as when object storage is down.
    missing = ObjectStore(S3Settings.from_env({**s3_env, "BUCKET_NAME": "not-created-yet"}))
    metrics = ScorerMetrics()
    failing = Scorer(config, consumer, missing, ApiClient(api_url, 5), metrics)
    assert failing.run_once() == 0
    assert consumer.commits == [] and consumer.seeks == [(TopicPartition("transactions", 0), 0)]
    assert metric_value(exposition(metrics), "fraud_scorer_failures_total", {"stage": "write"}) == 1

    # Storage is back: the same batch is written and only then committed.
    working = Scorer(config, consumer, store, ApiClient(api_url, 5), metrics)
    assert working.run_once() == 20
    assert consumer.commits == [{TopicPartition("transactions", 0): 20}]
    results = sorted(store.list_keys("scores/fraud/"))
    dead = sorted(store.list_keys("dead-letter/fraud/"))
    assert len(results) == 19 and dead == ["dead-letter/fraud/transactions-p0000-o00000000000000000003.json"]
    assert json.loads(store.get_bytes(dead[0]))["reason"].startswith("unparseable: not JSON")
    for key in results:
        doc = json.loads(store.get_bytes(key))
        assert key.endswith(f"-o{doc['offset']:020d}.json") and doc["model_version"] == "test-v1"
        assert f"hour={doc['event_time'][11:13]}" in key
    text = urllib.request.urlopen(api_url + "/metrics").read().decode()  # the API really scored them
    assert metric_value(text, "fraud_api_batch_size_count") >= 1

    text = exposition(metrics)
    assert metric_value(text, "fraud_scorer_consumed_total") == 40  # the batch, twice
    assert metric_value(text, "fraud_scorer_scored_total") == 19
    assert metric_value(text, "fraud_scorer_dead_letters_total", {"reason": "unparseable"}) == 1
    assert metric_value(text, "fraud_scorer_committed_batches_total") == 1
    assert metric_value(text, "fraud_scorer_lag", {"topic": "transactions", "partition": "0"}) == 5
    working._pool.shutdown()
    failing._pool.shutdown()


def test_api_down_means_no_commit(store: ObjectStore) -> None:
    consumer = ScriptedConsumer(make_records(5))
    metrics = ScorerMetrics()
    # Port 9 (discard) on loopback: connection refused.
    dead_api = Scorer(ScorerConfig(api_url="http://127.0.0.1:9"), consumer, store, ApiClient("http://127.0.0.1:9", 1),
                      metrics)
    assert dead_api.run_once() == 0
    assert consumer.commits == [] and list(store.list_keys("scores/")) == []
    assert metric_value(exposition(metrics), "fraud_scorer_failures_total", {"stage": "score"}) == 1
    dead_api._pool.shutdown()


class ScriptedApi:
    """Stands in for the API where a real one cannot be made to misbehave on cue."""

    def __init__(self, features: list[tuple[str, ...]], reject_value: float | None = None) -> None:
        self.features = features  # what GET /model answers, call by call (the last one repeats)
        self.reject_value = reject_value
        self.posts = 0

    def request(self, method: str, path: str, body: Any = None, headers: dict | None = None) -> Any:
        if method == "GET":
            names = self.features.pop(0) if len(self.features) > 1 else self.features[0]
            self._names = names
            return {"version": f"v{len(names)}", "features": [{"name": n} for n in names], "max_batch": 100}
        self.posts += 1
        rows = body["instances"]
        if any(len(r) != len(self._names) for r in rows):
            raise scorer.ApiRejected("HTTP 400: wrong number of features")
        if self.reject_value is not None and any(self.reject_value in r for r in rows):
            raise scorer.ApiRejected("HTTP 400: value refused")
        return {"model_version": f"v{len(self._names)}", "predictions": [0] * len(rows),
                "probabilities": [0.25] * len(rows)}


def test_an_instance_the_api_refuses_is_dead_lettered_and_the_rest_scored(store: ObjectStore) -> None:
    records = make_records(6)
    payload = json.loads(records[4].value)
    payload["amount"] = 666.0
    records[4].value = json.dumps(payload).encode()
    consumer = ScriptedConsumer(records)
    api = ScriptedApi([NAMES], reject_value=666.0)
    worker = Scorer(ScorerConfig(api_url="http://unused"), consumer, store, api, ScorerMetrics())
    assert worker.run_once() == 6
    assert consumer.commits == [{TopicPartition("transactions", 0): 6}]
    assert len(list(store.list_keys("scores/fraud/"))) == 5
    (dead,) = list(store.list_keys("dead-letter/fraud/"))
    letter = json.loads(store.get_bytes(dead))
    assert dead.endswith("-o00000000000000000004.json") and letter["reason"] == "rejected by the API: HTTP 400: value refused"
    worker._pool.shutdown()


def test_a_model_change_under_the_scorer_retries_the_batch_with_the_new_features(store: ObjectStore) -> None:
    consumer = ScriptedConsumer(make_records(4))
    # The API starts with the base model, then serves one that also wants hour_of_day.
    api = ScriptedApi([NAMES, (*NAMES, "hour_of_day")])
    worker = Scorer(ScorerConfig(api_url="http://unused", max_backoff_seconds=1), consumer, store, api, ScorerMetrics())
    worker._model = scorer.fetch_model(api)  # learned the base model at start-up
    api._names = (*NAMES, "hour_of_day")  # ...then the API was redeployed
    assert worker.run_once() == 0  # refused, model re-read, batch not committed
    assert consumer.commits == [] and consumer.seeks
    assert worker.run_once() == 4
    docs = [json.loads(store.get_bytes(k)) for k in store.list_keys("scores/fraud/")]
    assert len(docs) == 4 and all(d["model_version"] == "v4" and "hour_of_day" in d["features"] for d in docs)
    worker._pool.shutdown()


# ---------------------------------------------------------------------------------------------
# Rollouts, server errors, liveness, rebalances
# ---------------------------------------------------------------------------------------------


class Pods:
    """Two API pods behind one Service during a rollout: each request lands on a random one (seeded), exactly as
    kube-proxy spreads connections. They are real apps (workloads/fraud/api.py), so the X-Model-Version pin is
    answered by the real code; the transport maps statuses with the scorer's own ``interpret``."""

    def __init__(self, apps: list, script: list[int], seed: int = 0) -> None:
        import random

        self.clients = [app.test_client() for app in apps]
        self.script = list(script)  # the pods of the first requests, then random ones
        self.rng = random.Random(seed)

    def request(self, method: str, path: str, body: Any = None, headers: dict | None = None) -> Any:
        client = self.clients[self.script.pop(0)] if self.script else self.rng.choice(self.clients)
        response = client.open(path, method=method, json=body, headers=headers or {})
        return scorer.interpret(method, path, response.status_code, response.get_data())


def test_rollout_race_never_dead_letters_valid_records(store: ObjectStore) -> None:
    """Today /model and /classify could reach different pods mid-rollout, and the 400 of the new version (one more
    feature) dead-lettered valid records. Pinned per request, the batch is retried until both agree."""
    from workloads.fraud.api import create_app

    from .conftest import build_model

    old, _, _ = build_model(version="v-old", n_estimators=5)
    new, _, _ = build_model(version="v-new", extra=("hour_of_day",), n_estimators=5)
    # GET /model reaches the new pod, POST /classify the old one, and so on: the unlucky interleaving under
    # which today's scorer (no pin) dead-letters every record of the batch.
    pods = Pods([create_app(model=old), create_app(model=new)], script=[1, 0] * 40, seed=3)
    records = make_records(30)
    consumer = ScriptedConsumer(records)
    worker = Scorer(ScorerConfig(api_url="http://unused", batch_size=30, max_backoff_seconds=1), consumer, store,
                    pods, ScorerMetrics())
    worker.stop.wait = lambda _seconds: False  # no real sleeping between retries
    for _ in range(100):
        if worker.run_once():
            break
    assert consumer.commits == [{TopicPartition("transactions", 0): 30}]
    assert list(store.list_keys("dead-letter/")) == []
    docs = [json.loads(store.get_bytes(k)) for k in store.list_keys("scores/fraud/")]
    assert len(docs) == 30
    # Every result was scored by the version whose features it carries.
    for doc in docs:
        assert ("hour_of_day" in doc["features"]) == (doc["model_version"] == "v-new")
    worker._pool.shutdown()


class FailingApi(ScriptedApi):
    """Answers POST /classify with a server error ``status`` for instances holding ``bad_value`` (or all)."""

    def __init__(self, status: int, bad_value: float | None = None) -> None:
        super().__init__([NAMES])
        self.status, self.bad_value = status, bad_value
        self.failed = 0

    def request(self, method: str, path: str, body: Any = None, headers: dict | None = None) -> Any:
        if method == "POST":
            rows = body["instances"]
            if self.bad_value is None or any(self.bad_value in r for r in rows):
                self.failed += 1
                raise scorer.ApiUnavailable(f"{method} {path}: HTTP {self.status}", self.status)
        return super().request(method, path, body, headers)


def test_server_errors_are_retried_with_a_bound_then_dead_lettered_with_the_reason(store: ObjectStore) -> None:
    records = make_records(5)
    payload = json.loads(records[2].value)
    payload["amount"] = 777.0
    records[2].value = json.dumps(payload).encode()
    consumer = ScriptedConsumer(records)
    api = FailingApi(500, bad_value=777.0)
    metrics = ScorerMetrics()
    worker = Scorer(ScorerConfig(api_url="http://unused", api_attempts=3), consumer, store, api, metrics)
    sleeps: list[float] = []
    worker._sleep = sleeps.append
    assert worker.run_once() == 5  # committed: four scored, the poison one dead-lettered
    (dead,) = list(store.list_keys("dead-letter/fraud/"))
    letter = json.loads(store.get_bytes(dead))
    assert dead.endswith("-o00000000000000000002.json")
    assert letter["reason"].startswith("api_error:") and "HTTP 500" in letter["reason"] and "3 attempts" in letter["reason"]
    assert len(list(store.list_keys("scores/fraud/"))) == 4
    assert sleeps[:2] == [0.2, 0.4]  # backoff between the attempts of the batch call
    assert api.failed == 3 + 1  # three tries of the batch, then one try of the failing instance alone
    assert metric_value(exposition(metrics), "fraud_scorer_dead_letters_total", {"reason": "api_error"}) == 1
    worker._pool.shutdown()


def test_api_not_ready_is_never_dead_lettered(store: ObjectStore) -> None:
    consumer = ScriptedConsumer(make_records(3))
    worker = Scorer(ScorerConfig(api_url="http://unused", api_attempts=2), consumer, store, FailingApi(503),
                    ScorerMetrics())
    worker.stop.wait = lambda _seconds: False
    assert worker.run_once() == 0
    assert consumer.commits == [] and list(store.list_keys("dead-letter/")) == []
    worker._pool.shutdown()


def test_liveness_follows_the_consume_loop_not_the_metrics_thread(store: ObjectStore) -> None:
    from .test_integration_ceph import free_port

    consumer = ScriptedConsumer([])
    worker = Scorer(ScorerConfig(api_url="http://unused", liveness_seconds=30), consumer, store,
                    ScriptedApi([NAMES]), ScorerMetrics())
    port = free_port()
    server = scorer.serve_metrics_and_health(port, worker.metrics.registry, worker.alive, host="127.0.0.1",
                                             subject="consume loop")
    try:
        worker.run_once()
        healthy = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert healthy.status == 200 and healthy.read() == b"consume loop alive\n"
        worker.last_loop -= 31  # the loop is stuck (e.g. a hung call) while the metrics thread still answers
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert info.value.code == 503 and info.value.read() == b"consume loop stalled\n"
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert metric_value(text, "fraud_scorer_last_loop_timestamp_seconds") > 0
    finally:
        server.shutdown()
        worker._pool.shutdown()


def test_lag_series_of_partitions_lost_in_a_rebalance_are_dropped(store: ObjectStore) -> None:
    consumer = ScriptedConsumer([])
    owned = {TopicPartition("transactions", 0), TopicPartition("transactions", 1)}
    consumer.assignment = lambda: set(owned)  # type: ignore[method-assign]
    metrics = ScorerMetrics()
    worker = Scorer(ScorerConfig(api_url="http://unused"), consumer, store, ScriptedApi([NAMES]), metrics)
    worker.run_once()
    text = exposition(metrics)
    assert metric_value(text, "fraud_scorer_lag", {"topic": "transactions", "partition": "1"}) == 5
    owned.discard(TopicPartition("transactions", 1))  # partition 1 went to another scorer
    worker.run_once()
    text = exposition(metrics)
    assert 'partition="1"' not in text
    assert metric_value(text, "fraud_scorer_lag", {"topic": "transactions", "partition": "0"}) == 5
    worker._pool.shutdown()
