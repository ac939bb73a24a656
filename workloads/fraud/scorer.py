"""The stream scorer: Kafka topic ``transactions`` → fraud API ``POST /classify`` → object storage.

    python -m workloads.fraud.scorer

The report's "quick glance" pipeline (figure 2-3), made safe to restart at any moment:

- each poll is a batch; its results are written one object per message at an idempotent key
  ``<FF_RESULTS_PREFIX>/date=YYYY-MM-DD/hour=HH/<topic>-p<partition>-o<offset>.json`` (date and hour from
  the message's own event time, never the wall clock), so a replay rewrites the same key with the same bytes;
- offsets are committed only after every write of the batch succeeded (at-least-once: a crash
  replays the batch, and the replay's writes are harmless overwrites);
- a message that cannot be parsed or is refused by the API goes to ``<FF_DEAD_LETTER_PREFIX>/...``
  with the raw bytes and the reason, and counts as handled; so does one the API keeps failing on with a
  server error (5xx other than 503) after ``FF_API_ATTEMPTS`` tries with backoff; nothing else is ever skipped
  (API unreachable or not ready: the batch is retried, lag grows, the lag alert fires);
- every classify request pins the model version the scorer read from ``GET /model`` (``X-Model-Version``): during
  a rollout a pod serving another version answers 409, the scorer re-reads the model and retries the batch,
  instead of dead-lettering valid records scored against features they were not parsed for;
- ``/healthz`` on the metrics port answers 503 when the consume loop has not turned for
  ``FF_LIVENESS_SECONDS`` (the liveness probe), whatever the metrics thread does;
- on SIGTERM the current batch is finished (or abandoned uncommitted if it cannot finish) and the
  consumer leaves its group.

Message format: a JSON object with the model's feature columns as numbers (``amount``,
``amount_past_month``, ``merchant_txn_count``, plus any extra features the served model declares),
optionally ``transaction_id`` and ``timestamp`` (ISO 8601 with zone, or epoch milliseconds); without
``timestamp`` the Kafka record timestamp is the event time.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import signal
import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from workloads.common.envconfig import SettingError, get_int, get_str
from workloads.common.healthserver import serve_metrics_and_health
from workloads.common.kafkasettings import SESSION_TIMEOUT_MAX_MS, SESSION_TIMEOUT_MIN_MS, KafkaSettings
from workloads.common.objectstore import ObjectStore, ObjectStoreError
from workloads.common.s3settings import S3Settings

from .features import InvalidFeature, check_number

log = logging.getLogger("fraud.scorer")

KAFKA_PREFIX = "FF_KAFKA_"  # the scorer's Kafka client settings: FF_KAFKA_BOOTSTRAP, ... (workloads.common.kafkasettings)


# ---------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScorerConfig:
    """The scorer's settings, each from one FF_* variable."""

    api_url: str
    """FF_API_URL (required): base URL of the fraud API, e.g. http://fraud-api.ml.svc:8080."""
    topic: str = "transactions"
    """FF_KAFKA_TOPIC."""
    group: str = "fraud-scorer"
    """FF_KAFKA_GROUP: consumer group (offsets are committed for it)."""
    results_prefix: str = "scores/fraud"
    """FF_RESULTS_PREFIX."""
    dead_letter_prefix: str = "dead-letter/fraud"
    """FF_DEAD_LETTER_PREFIX."""
    batch_size: int = 256
    """FF_BATCH_SIZE: most records per poll (one committed batch)."""
    poll_timeout_ms: int = 1000
    """FF_POLL_TIMEOUT_MS."""
    write_concurrency: int = 8
    """FF_WRITE_CONCURRENCY: parallel object writes per batch."""
    api_timeout_seconds: float = 10.0
    """FF_API_TIMEOUT_SECONDS."""
    metrics_port: int = 9100
    """FF_METRICS_PORT: Prometheus endpoint port; 0 disables it."""
    session_timeout_ms: int = 10000
    """FF_KAFKA_SESSION_TIMEOUT_MS: how soon the group notices a dead scorer and reassigns its partitions; at least
    the broker's group.min.session.timeout.ms (6 s by default), which refuses shorter ones."""
    max_backoff_seconds: float = 30.0
    """FF_MAX_BACKOFF_SECONDS: longest wait between retries of a failing batch."""
    api_attempts: int = 4
    """FF_API_ATTEMPTS: tries of a classify call answered with a server error (5xx but 503) before its records
    are dead-lettered with the reason."""
    liveness_seconds: float = 180.0
    """FF_LIVENESS_SECONDS: /healthz fails when the consume loop has not turned for this long."""
    fault_kill_after_writes: int | None = None
    """FF_FAULT_KILL_AFTER_WRITES: TEST-ONLY fault injection; SIGKILL the process after this many writes."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ScorerConfig:
        api_url = get_str(env, "FF_API_URL", hint="set it to the fraud API's base URL, e.g. http://fraud-api:8080")
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.username:
            raise SettingError(f"FF_API_URL={api_url!r} is invalid: use http(s)://host[:port][/path] without credentials")
        prefix_pattern = r"[A-Za-z0-9._=-]+(/[A-Za-z0-9._=-]+)*"
        return cls(
            api_url=api_url.rstrip("/"),
            topic=get_str(env, "FF_KAFKA_TOPIC", "transactions", pattern=r"[A-Za-z0-9._-]{1,249}"),
            group=get_str(env, "FF_KAFKA_GROUP", "fraud-scorer", pattern=r"[A-Za-z0-9._-]{1,249}"),
            results_prefix=get_str(env, "FF_RESULTS_PREFIX", "scores/fraud", pattern=prefix_pattern).strip("/"),
            dead_letter_prefix=get_str(env, "FF_DEAD_LETTER_PREFIX", "dead-letter/fraud", pattern=prefix_pattern).strip("/"),
            batch_size=int(get_int(env, "FF_BATCH_SIZE", 256, minimum=1, maximum=100_000) or 256),
            poll_timeout_ms=int(get_int(env, "FF_POLL_TIMEOUT_MS", 1000, minimum=10, maximum=60_000) or 1000),
            write_concurrency=int(get_int(env, "FF_WRITE_CONCURRENCY", 8, minimum=1, maximum=128) or 8),
            api_timeout_seconds=float(get_int(env, "FF_API_TIMEOUT_SECONDS", 10, minimum=1, maximum=600) or 10),
            metrics_port=int(get_int(env, "FF_METRICS_PORT", 9100, minimum=0, maximum=65535) or 0),
            session_timeout_ms=int(get_int(env, "FF_KAFKA_SESSION_TIMEOUT_MS", 10000, minimum=SESSION_TIMEOUT_MIN_MS,
                                           maximum=min(300_000, SESSION_TIMEOUT_MAX_MS)) or 10000),
            max_backoff_seconds=float(get_int(env, "FF_MAX_BACKOFF_SECONDS", 30, minimum=1, maximum=3600) or 30),
            api_attempts=int(get_int(env, "FF_API_ATTEMPTS", 4, minimum=1, maximum=20) or 4),
            liveness_seconds=float(get_int(env, "FF_LIVENESS_SECONDS", 180, minimum=10, maximum=86400) or 180),
            fault_kill_after_writes=get_int(env, "FF_FAULT_KILL_AFTER_WRITES", None, minimum=1),
        )


# ---------------------------------------------------------------------------------------------
# Messages (pure)
# ---------------------------------------------------------------------------------------------


class BadMessage(ValueError):
    """The message cannot be scored; it goes to the dead-letter prefix with this reason."""


@dataclass(frozen=True)
class Transaction:
    """A parsed message: where it came from, its event time and its feature values in model order."""

    topic: str
    partition: int
    offset: int
    event_time: datetime
    transaction_id: str | None
    features: tuple[float, ...]


def parse_event_time(value: Any) -> datetime:
    """ISO 8601 with a zone (``Z`` or ``+hh:mm``) or epoch milliseconds → an aware UTC datetime."""
    if isinstance(value, bool):
        raise BadMessage("timestamp must be an ISO 8601 string or epoch milliseconds, got a boolean")
    if isinstance(value, (int, float)):
        if not 0 <= value < 253402300800000:  # up to 9999-12-31
            raise BadMessage(f"timestamp {value!r} is not plausible epoch milliseconds")
        return datetime.fromtimestamp(value / 1000.0, tz=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
        except ValueError:
            raise BadMessage(f"timestamp {value[:40]!r} is not ISO 8601") from None
        if parsed.tzinfo is None:
            raise BadMessage(f"timestamp {value[:40]!r} has no time zone; add Z or an offset")
        return parsed.astimezone(UTC)
    raise BadMessage("timestamp must be an ISO 8601 string or epoch milliseconds")


def parse_message(topic: str, partition: int, offset: int, value: bytes | None, record_timestamp_ms: int | None,
                  feature_names: Sequence[str]) -> Transaction:
    """Decode one record; BadMessage says why it cannot be scored."""
    if value is None:
        raise BadMessage("empty message (tombstone)")
    try:
        payload = json.loads(value)
    except RecursionError:
        raise BadMessage("JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadMessage(f"not JSON: {str(exc)[:120]}") from None
    if not isinstance(payload, dict):
        raise BadMessage("the message must be a JSON object")
    features = []
    for name in feature_names:
        if name not in payload:
            raise BadMessage(f"feature {name} is missing")
        try:
            features.append(check_number(name, payload[name]))
        except InvalidFeature as exc:
            raise BadMessage(str(exc)) from None
    if "timestamp" in payload:
        event_time = parse_event_time(payload["timestamp"])
    elif record_timestamp_ms is not None and record_timestamp_ms >= 0:
        event_time = datetime.fromtimestamp(record_timestamp_ms / 1000.0, tz=UTC)
    else:
        raise BadMessage("no event time: neither a timestamp field nor a Kafka record timestamp")
    tx_id = payload.get("transaction_id")
    if tx_id is not None and not isinstance(tx_id, str):
        tx_id = json.dumps(tx_id)
    return Transaction(topic, partition, offset, event_time, tx_id, tuple(features))


def message_name(topic: str, partition: int, offset: int) -> str:
    """The identity of a record: unique per message, the same on every replay."""
    return f"{topic}-p{partition:04d}-o{offset:020d}.json"


def result_key(prefix: str, tx: Transaction) -> str:
    hour = tx.event_time
    return f"{prefix}/date={hour:%Y-%m-%d}/hour={hour:%H}/{message_name(tx.topic, tx.partition, tx.offset)}"


def dead_letter_key(prefix: str, topic: str, partition: int, offset: int) -> str:
    return f"{prefix}/{message_name(topic, partition, offset)}"


def result_document(tx: Transaction, feature_names: Sequence[str], model_version: str, prediction: int,
                    probability: float) -> bytes:
    """The stored result: deterministic for a message and a model version (no wall-clock fields)."""
    doc = {
        "topic": tx.topic, "partition": tx.partition, "offset": tx.offset, "transaction_id": tx.transaction_id,
        "event_time": tx.event_time.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "features": dict(zip(feature_names, tx.features, strict=True)),
        "model_version": model_version, "prediction": prediction, "probability": probability,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")


def dead_letter_document(topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
                         timestamp_ms: int | None, reason: str) -> bytes:
    doc = {
        "topic": topic, "partition": partition, "offset": offset, "timestamp_ms": timestamp_ms, "reason": reason,
        "key_base64": base64.b64encode(key).decode() if key is not None else None,
        "value_base64": base64.b64encode(value).decode() if value is not None else None,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")


# ---------------------------------------------------------------------------------------------
# The API client
# ---------------------------------------------------------------------------------------------


VERSION_HEADER = "X-Model-Version"  # the API's version pin (workloads/fraud/api.py)


class ApiUnavailable(Exception):
    """The API did not answer usefully (connection error, timeout, 5xx, 429): retry later. ``status`` is the
    HTTP status, or None when there was no answer."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ApiRejected(Exception):
    """The API answered 4xx for a request: the input (or the model's expectations) is at fault."""


class VersionChanged(ApiRejected):
    """409: the pod that answered serves another model version than the request pinned."""


def interpret(method: str, path: str, status: int, raw: bytes) -> Any:
    """The decoded answer of a call, or the exception its status means (shared by every transport)."""
    if status >= 500 or status == 429:
        raise ApiUnavailable(f"{method} {path}: HTTP {status}: {raw[:200]!r}", status)
    try:
        answer = json.loads(raw)
    except ValueError:
        raise ApiUnavailable(f"{method} {path}: HTTP {status} with a non-JSON body", status) from None
    message = answer.get("message") if isinstance(answer, dict) else answer
    if status == 409:
        raise VersionChanged(f"HTTP 409: {message}")
    if status >= 400:
        raise ApiRejected(f"HTTP {status}: {message}")
    return answer


class ApiClient:
    """A small keep-alive HTTP client for the fraud API (stdlib only: one dependency fewer in the image)."""

    def __init__(self, base_url: str, timeout: float, ca_file: str | None = None) -> None:
        parts = urlsplit(base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._https else 80)
        self._path = parts.path.rstrip("/")
        self._timeout = timeout
        self._ssl = ssl.create_default_context(cafile=ca_file) if self._https else None
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._https:
                self._conn = http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout, context=self._ssl)
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: Any = None, headers: Mapping[str, str] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        sent = {"Content-Type": "application/json"} if data is not None else {}
        sent.update(headers or {})
        try:
            conn = self._connection()
            conn.request(method, self._path + path, body=data, headers=sent)
            response = conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise ApiUnavailable(f"{method} {path}: {type(exc).__name__}: {exc}") from None
        return interpret(method, path, response.status, raw)


@dataclass(frozen=True)
class ModelView:
    """What the scorer needs to know about the served model."""

    version: str
    feature_names: tuple[str, ...]
    max_batch: int


def fetch_model(client: ApiClient) -> ModelView:
    info = client.request("GET", "/model")
    try:
        return ModelView(version=str(info["version"]), feature_names=tuple(str(f["name"]) for f in info["features"]),
                         max_batch=int(info.get("max_batch", 256)))
    except (KeyError, TypeError, ValueError) as exc:
        raise ApiUnavailable(f"GET /model answered an unexpected document ({exc})") from None


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


class ScorerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.consumed = Counter("fraud_scorer_consumed", "Records polled from Kafka (replays included).", registry=r)
        self.scored = Counter("fraud_scorer_scored", "Records scored and written to object storage.", registry=r)
        self.dead_letters = Counter("fraud_scorer_dead_letters", "Records written to the dead-letter prefix.",
                                    ["reason"], registry=r)
        self.failures = Counter("fraud_scorer_failures", "Failed batch attempts by stage (the batch is retried).",
                                ["stage"], registry=r)
        self.committed = Counter("fraud_scorer_committed_batches", "Batches whose offsets were committed.", registry=r)
        self.lag = Gauge("fraud_scorer_lag", "Records behind the partition's high watermark.",
                         ["topic", "partition"], registry=r)
        self.last_loop = Gauge("fraud_scorer_last_loop_timestamp_seconds", "When the consume loop last turned.",
                               registry=r)
        self.batch_seconds = Histogram("fraud_scorer_batch_duration_seconds", "Time to score and write one batch.",
                                       buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=r)
        for stage in ("poll", "score", "write", "commit"):
            self.failures.labels(stage)
        for reason in ("unparseable", "rejected_by_api", "api_error"):
            self.dead_letters.labels(reason)


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------


class BatchFailed(Exception):
    """A batch could not be completed; it is rewound and retried, nothing is committed."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage


class Scorer:
    """Poll → parse → score → write → commit, one batch at a time."""

    def __init__(self, config: ScorerConfig, consumer: Any, store: ObjectStore, api: ApiClient,
                 metrics: ScorerMetrics, stop: threading.Event | None = None,
                 on_write: Callable[[], None] | None = None) -> None:
        self.config = config
        self.consumer = consumer
        self.store = store
        self.api = api
        self.metrics = metrics
        self.stop = stop or threading.Event()
        self._on_write = on_write
        self._model: ModelView | None = None
        self._pool = ThreadPoolExecutor(max_workers=config.write_concurrency, thread_name_prefix="writer")
        self._backoff = 0.5
        self._lag_series: set[tuple[str, str]] = set()
        self.last_loop = time.monotonic()
        self._sleep = self.stop.wait  # the pause between retries of one call; tests replace it

    def alive(self) -> bool:
        """Whether the consume loop turned recently (what the liveness probe asks, via /healthz)."""
        return time.monotonic() - self.last_loop < self.config.liveness_seconds

    def _beat(self) -> None:
        self.last_loop = time.monotonic()
        self.metrics.last_loop.set_to_current_time()

    def model(self) -> ModelView:
        if self._model is None:
            self._model = fetch_model(self.api)
            log.info("scoring with model %s (features %s)", self._model.version, ", ".join(self._model.feature_names))
        return self._model

    def run(self) -> None:
        log.info("consuming %s as group %s", self.config.topic, self.config.group)
        while not self.stop.is_set():
            self.run_once()
        self._pool.shutdown(wait=True)
        log.info("stopped")

    def run_once(self) -> int:
        """One poll and its batch; returns how many records were handled and committed."""
        self._beat()
        try:
            polled = self.consumer.poll(timeout_ms=self.config.poll_timeout_ms, max_records=self.config.batch_size)
        except Exception as exc:  # broker unreachable, auth failure...: keep trying, visibly
            self.metrics.failures.labels("poll").inc()
            log.error("poll failed: %s: %s", type(exc).__name__, exc)
            self.stop.wait(self._next_backoff())
            return 0
        records = [r for batch in polled.values() for r in batch]
        if not records:
            self._update_lag()
            return 0
        self.metrics.consumed.inc(len(records))
        started = time.perf_counter()
        try:
            self.process(records)
        except BatchFailed as exc:
            self.metrics.failures.labels(exc.stage).inc()
            log.error("batch of %d records failed at %s, will retry: %s", len(records), exc.stage, exc)
            self._rewind(records)
            self.stop.wait(self._next_backoff())
            return 0
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        if not self._commit(records):
            return 0
        self._backoff = 0.5
        self._update_lag()
        return len(records)

    # -- stages -----------------------------------------------------------------------------

    def process(self, records: Sequence[Any]) -> None:
        """Parse, score and write every record of the batch, or raise BatchFailed."""
        try:
            model = self.model()
        except (ApiUnavailable, ApiRejected) as exc:
            raise BatchFailed("score", f"cannot read the model from the API: {exc}") from None
        writes: list[tuple[str, bytes]] = []
        dead: list[tuple[str, bytes, str]] = []
        good: list[Transaction] = []
        for r in records:
            try:
                good.append(parse_message(r.topic, r.partition, r.offset, r.value, r.timestamp, model.feature_names))
            except BadMessage as exc:
                dead.append(self._dead_letter(r, f"unparseable: {exc}", "unparseable"))
        chunk = max(1, min(model.max_batch, 1000))
        for start in range(0, len(good), chunk):
            part = good[start:start + chunk]
            writes.extend(self._score(part, model, records, dead))
        self._write_all(writes + [(k, b) for k, b, _ in dead])
        self.metrics.scored.inc(len(writes))
        for _, _, reason in dead:
            self.metrics.dead_letters.labels(reason).inc()

    def _classify(self, part: list[Transaction], model: ModelView, attempts: int) -> Any:
        """POST /classify pinned to ``model.version``; server errors (5xx but 503) are retried with backoff up to
        ``attempts`` times and then re-raised; anything else is raised at once."""
        body = {"instances": [list(tx.features) for tx in part]}
        delay = 0.2
        for attempt in range(1, attempts + 1):
            try:
                return self.api.request("POST", "/classify", body, {VERSION_HEADER: model.version})
            except ApiUnavailable as exc:
                if exc.status is None or exc.status in (503, 429) or attempt == attempts:
                    raise
                log.warning("classify attempt %d of %d failed (%s); retrying in %.1f s", attempt, attempts, exc, delay)
                self._sleep(delay)
                delay = min(delay * 2, self.config.max_backoff_seconds)
        raise AssertionError("unreachable")  # pragma: no cover

    def _score(self, part: list[Transaction], model: ModelView, records: Sequence[Any],
               dead: list[tuple[str, bytes, str]], single_try: bool = False) -> list[tuple[str, bytes]]:
        by_offset = {(r.topic, r.partition, r.offset): r for r in records}
        try:
            answer = self._classify(part, model, 1 if single_try else self.config.api_attempts)
        except VersionChanged as exc:
            # A rollout: this pod serves another version than the one the records were parsed for. Re-read the
            # model and retry the whole batch; nothing is dead-lettered for it.
            self._model = None
            raise BatchFailed("score", f"the API's model changed under the batch ({exc}); re-reading it") from None
        except ApiUnavailable as exc:
            if exc.status is None or exc.status in (503, 429):  # unreachable or not ready: the whole batch waits
                raise BatchFailed("score", str(exc)) from None
            if len(part) == 1 or single_try:
                for tx in part:
                    dead.append(self._dead_letter(by_offset[(tx.topic, tx.partition, tx.offset)],
                                                  f"api_error: {exc} (after {self.config.api_attempts} attempts)",
                                                  "api_error"))
                return []
            # A server error on a batch: find which instances cause it; each gets one more try.
            out: list[tuple[str, bytes]] = []
            for tx in part:
                out.extend(self._score([tx], model, records, dead, single_try=True))
            return out
        except ApiRejected as exc:
            # The served model may have changed (new features): learn it and let the batch retry.
            self._model = None
            fresh = self._refresh_model()
            if fresh is not None and (fresh.feature_names != model.feature_names or fresh.version != model.version):
                raise BatchFailed("score", f"the API's model changed to {fresh.version}; re-reading the batch") from None
            if len(part) == 1:
                tx = part[0]
                dead.append(self._dead_letter(by_offset[(tx.topic, tx.partition, tx.offset)],
                                              f"rejected by the API: {exc}", "rejected_by_api"))
                return []
            # Find the offending instances one by one; the others are scored normally.
            out = []
            for tx in part:
                out.extend(self._score([tx], model, records, dead))
            return out
        version = str(answer.get("model_version", model.version))
        if version != model.version:
            self._model = None  # features may differ next time; this answer was valid for what we sent
        predictions, probabilities = answer.get("predictions"), answer.get("probabilities")
        if not isinstance(predictions, list) or not isinstance(probabilities, list) or len(predictions) != len(part) \
                or len(probabilities) != len(part):
            raise BatchFailed("score", "the API answered a malformed batch classification")
        return [(result_key(self.config.results_prefix, tx),
                 result_document(tx, model.feature_names, version, int(pred), float(prob)))
                for tx, pred, prob in zip(part, predictions, probabilities, strict=True)]

    def _refresh_model(self) -> ModelView | None:
        try:
            return self.model()
        except (ApiUnavailable, ApiRejected):
            return None

    def _dead_letter(self, record: Any, reason: str, kind: str) -> tuple[str, bytes, str]:
        key = dead_letter_key(self.config.dead_letter_prefix, record.topic, record.partition, record.offset)
        body = dead_letter_document(record.topic, record.partition, record.offset, record.key, record.value,
                                    record.timestamp, reason)
        log.warning("dead-lettering %s: %s", key, reason)
        return key, body, kind

    def _write_all(self, objects: list[tuple[str, bytes]]) -> None:
        def put(item: tuple[str, bytes]) -> None:
            self.store.put_bytes(item[0], item[1], "application/json")
            if self._on_write is not None:
                self._on_write()

        futures = [self._pool.submit(put, item) for item in objects]
        errors = []
        for future in futures:  # wait for all: a commit must never race an unfinished write
            exc = future.exception()
            if exc is not None:
                errors.append(exc)
        if errors:
            first = errors[0]
            if not isinstance(first, ObjectStoreError):
                raise first
            raise BatchFailed("write", f"{len(errors)} of {len(objects)} writes failed, e.g. {first}")

    def _commit(self, records: Sequence[Any]) -> bool:
        from kafka.structs import OffsetAndMetadata, TopicPartition

        offsets: dict[Any, Any] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            offsets[tp] = max(offsets.get(tp, -1), r.offset + 1)
        try:
            self.consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()})
        except Exception as exc:  # rebalance in between: the new owner replays; writes are idempotent
            self.metrics.failures.labels("commit").inc()
            log.warning("commit failed (the batch will be replayed, harmlessly): %s: %s", type(exc).__name__, exc)
            return False
        self.metrics.committed.inc()
        return True

    def _rewind(self, records: Sequence[Any]) -> None:
        from kafka.structs import TopicPartition

        first: dict[Any, int] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            first[tp] = min(first.get(tp, r.offset), r.offset)
        for tp, offset in first.items():
            try:
                self.consumer.seek(tp, offset)
            except Exception as exc:  # the partition was revoked meanwhile: its new owner starts at the commit
                log.info("not rewinding %s: %s", tp, exc)

    def _update_lag(self) -> None:
        try:
            assigned = set()
            for tp in self.consumer.assignment():
                series = (tp.topic, str(tp.partition))
                assigned.add(series)
                high = self.consumer.highwater(tp)
                if high is not None:
                    self.metrics.lag.labels(*series).set(max(0, high - self.consumer.position(tp)))
                    self._lag_series.add(series)
            # A partition lost in a rebalance is another scorer's now: its last value here would stay frozen (and
            # be summed with the new owner's) forever.
            for series in self._lag_series - assigned:
                self.metrics.lag.remove(*series)
            self._lag_series &= assigned
        except Exception as exc:  # lag is informational; never let it stop the loop
            log.debug("lag not updated: %s", exc)

    def _next_backoff(self) -> float:
        delay = self._backoff
        self._backoff = min(self._backoff * 2, self.config.max_backoff_seconds)
        return delay


def kill_after(n: int) -> Callable[[], None]:
    """The FF_FAULT_KILL_AFTER_WRITES hook: SIGKILL this process on the n-th object write."""
    lock = threading.Lock()
    count = [0]

    def on_write() -> None:
        with lock:
            count[0] += 1
            if count[0] >= n:
                os.kill(os.getpid(), signal.SIGKILL)

    return on_write


def make_consumer(config: ScorerConfig, kafka: KafkaSettings) -> Any:
    from kafka import KafkaConsumer

    return KafkaConsumer(
        config.topic,
        group_id=config.group,
        client_id=f"fraud-scorer-{os.getpid()}",
        enable_auto_commit=False,  # offsets move only after the batch's writes succeeded
        auto_offset_reset="earliest",  # a new group starts at the beginning: nothing unscored is skipped
        max_poll_records=config.batch_size,
        session_timeout_ms=config.session_timeout_ms,
        heartbeat_interval_ms=max(300, config.session_timeout_ms // 3),
        **kafka.client_kwargs(),
    )


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] = os.environ) -> int:
    """Run until SIGTERM/SIGINT. Exit status 0 after a graceful stop, 2 on bad configuration."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        config = ScorerConfig.from_env(env)
        kafka = KafkaSettings.from_env(env, prefix=KAFKA_PREFIX)
        store = ObjectStore(S3Settings.from_env(env))
    except SettingError as exc:
        log.error("configuration error: %s", exc)
        return 2
    stop = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        log.info("signal %d: finishing the current batch, then leaving the group", signum)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    metrics = ScorerMetrics()
    api = ApiClient(config.api_url, config.api_timeout_seconds)
    consumer = make_consumer(config, kafka)
    on_write = kill_after(config.fault_kill_after_writes) if config.fault_kill_after_writes else None
    if on_write is not None:
        log.warning("FAULT INJECTION: this process will SIGKILL itself after %d object writes",
                    config.fault_kill_after_writes)
    scorer = Scorer(config, consumer, store, api, metrics, stop=stop, on_write=on_write)
    if config.metrics_port:
        serve_metrics_and_health(config.metrics_port, metrics.registry, scorer.alive, subject="consume loop")
    try:
        scorer.run()
    finally:
        consumer.close(autocommit=False)
        api.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
