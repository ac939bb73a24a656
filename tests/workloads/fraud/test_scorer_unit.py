"""Stream scorer without a broker: message parsing, idempotent keys, settings, and commit-only-after-write."""

from __future__ import annotations

import json
import re
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from kafka.structs import TopicPartition
from prometheus_client import generate_latest

from workloads.common.objectstore import ObjectStore, S3Settings
from workloads.fraud import scorer, synthetic
from workloads.fraud.envconfig import SettingError
from workloads.fraud.features import BASE_FEATURE_NAMES
from workloads.fraud.scorer import (ApiClient, BadMessage, KafkaSettings, Scorer, ScorerConfig, ScorerMetrics,
                                    parse_message)

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


def test_strimzi_jaas_config_and_sasl_settings(tmp_path) -> None:
    jaas = 'org.apache.kafka.common.security.scram.ScramLoginModule required username="fraud-scorer" password="s3cr\\"et";'
    assert scorer.parse_jaas_config(jaas) == ("fraud-scorer", 's3cr"et')
    (tmp_path / "sasl.jaas.config").write_text(jaas)
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    settings = KafkaSettings.from_env({
        "FF_KAFKA_BOOTSTRAP": "pipeworks-kafka-bootstrap.kafka.svc:9093", "FF_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "FF_KAFKA_SASL_JAAS_CONFIG_FILE": str(tmp_path / "sasl.jaas.config"), "FF_KAFKA_CA_FILE": str(tmp_path / "ca.crt")})
    kwargs = settings.client_kwargs()
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512" and kwargs["sasl_plain_username"] == "fraud-scorer"
    assert kwargs["ssl_cafile"] == str(tmp_path / "ca.crt") and kwargs["security_protocol"] == "SASL_SSL"
    assert 's3cr"et' not in repr(settings)

    (tmp_path / "password").write_text("pw-from-secret\n")
    by_key = KafkaSettings.from_env({"FF_KAFKA_BOOTSTRAP": "k:9093", "FF_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                                     "FF_KAFKA_USERNAME": "u", "FF_KAFKA_PASSWORD_FILE": str(tmp_path / "password")})
    assert by_key.password == "pw-from-secret"
    plain = KafkaSettings.from_env({"FF_KAFKA_BOOTSTRAP": "127.0.0.1:9092"}).client_kwargs()
    assert plain == {"bootstrap_servers": ["127.0.0.1:9092"], "security_protocol": "PLAINTEXT"}


@pytest.mark.parametrize(("env", "message"), [
    ({}, "FF_KAFKA_BOOTSTRAP is required"),
    ({"FF_KAFKA_BOOTSTRAP": "nohost"}, "FF_KAFKA_BOOTSTRAP='nohost' is invalid"),
    ({"FF_KAFKA_BOOTSTRAP": "k:1", "FF_KAFKA_SECURITY_PROTOCOL": "TLS"}, "FF_KAFKA_SECURITY_PROTOCOL='TLS' is invalid"),
    ({"FF_KAFKA_BOOTSTRAP": "k:1", "FF_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "FF_KAFKA_USERNAME is required"),
    ({"FF_KAFKA_BOOTSTRAP": "k:1", "FF_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "FF_KAFKA_USERNAME": "u"},
     "needs FF_KAFKA_PASSWORD_FILE"),
    ({"FF_KAFKA_BOOTSTRAP": "k:1", "FF_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "FF_KAFKA_SASL_JAAS_CONFIG": "x"},
     "not a ScramLoginModule"),
    ({"FF_KAFKA_BOOTSTRAP": "k:1", "FF_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "FF_KAFKA_USERNAME": "u",
      "FF_KAFKA_PASSWORD_FILE": "/nonexistent/password"}, "FF_KAFKA_PASSWORD_FILE='/nonexistent/password': cannot read"),
    ({"FF_KAFKA_BOOTSTRAP": "k:1", "FF_KAFKA_CA_FILE": "/nonexistent/ca.crt"}, "FF_KAFKA_CA_FILE='/nonexistent/ca.crt'"),
])
def test_kafka_settings_errors_name_the_variable_never_the_secret(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingError, match=re.escape(message)) as info:
        KafkaSettings.from_env(env)
    assert "hunter2" not in str(info.value)


def test_scorer_config_errors() -> None:
    with pytest.raises(SettingError, match="FF_API_URL is required"):
        ScorerConfig.from_env({})
    with pytest.raises(SettingError, match="FF_API_URL='ftp://x' is invalid"):
        ScorerConfig.from_env({"FF_API_URL": "ftp://x"})
    with pytest.raises(SettingError, match="FF_BATCH_SIZE='0' is out of range"):
        ScorerConfig.from_env({"FF_API_URL": "http://api:8080", "FF_BATCH_SIZE": "0"})
    assert ScorerConfig.from_env({"FF_API_URL": "http://api:8080/"}).api_url == "http://api:8080"


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

    def request(self, method: str, path: str, body: Any = None) -> Any:
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
