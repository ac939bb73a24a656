"""The serving layer: a small query API over the speed layer's Cassandra table (``results.py``), with its OpenAPI
document, JSON 4xx errors naming the bad parameter (never a 5xx for bad input), and Prometheus metrics.

    GET /v1/keywords/{keyword}/sentiment?from=&to=&step_minutes=   sentiment over time (count, positives, mean)
    GET /v1/keywords/{keyword}/latest?limit=                       the latest scored tweets, newest first
    GET /healthz   GET /metrics   GET /openapi.json
Settings: CASSANDRA_* (as the stream, ``stream.CassandraSettings``). Run with gunicorn:
``gunicorn 'workloads.sentiment.api:app_from_env()'``.
Application code: never imports pulumi or infra.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, Response, jsonify, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from workloads.sentiment.results import buckets

KEYWORD = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_RANGE = timedelta(days=31)
MAX_BUCKETS = 2000


class BadRequest(Exception):
    def __init__(self, param: str, message: str):
        super().__init__(message)
        self.param, self.message = param, message


def _keyword(value: str) -> str:
    kw = value.lower()
    if not KEYWORD.match(kw):
        raise BadRequest("keyword", "must be 1-64 characters: letters, digits, '-' or '_'")
    return kw


EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)
TIME_RANGE_RULE = "must be between 1970-01-01T00:00:00Z and 9000-01-01T00:00:00Z"


def _time(name: str, default: datetime) -> datetime:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        ts = datetime.fromisoformat(raw)
    except ValueError:
        raise BadRequest(name, "must be an ISO 8601 timestamp with a UTC offset, e.g. 2026-11-02T10:00:00Z") from None
    if ts.tzinfo is None:
        raise BadRequest(name, "needs a UTC offset (e.g. Z or +00:00)")
    # Bounded so that every derived instant (the default from = to - 24 h, bucket starts, the day partitions)
    # stays inside datetime's range: a year-1 or year-9999 timestamp must be a 400, never an OverflowError.
    try:
        ts = ts.astimezone(UTC)
    except OverflowError:
        ts = EARLIEST - timedelta(days=1)  # an offset pushed it past datetime's range: out of bounds below
    if not EARLIEST <= ts < LATEST:
        raise BadRequest(name, TIME_RANGE_RULE)
    return ts


def _int(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"\d{1,9}", raw) or not low <= int(raw) <= high:
        raise BadRequest(name, f"must be an integer from {low} to {high}")
    return int(raw)


def openapi() -> dict[str, Any]:
    err = {"description": "bad parameter", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    kw = {"name": "keyword", "in": "path", "required": True,
          "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"}}
    ts = {"type": "string", "format": "date-time"}
    return {
        "openapi": "3.0.3", "info": {"title": "sentiment query API", "version": "1"},
        "paths": {
            "/v1/keywords/{keyword}/sentiment": {"get": {
                "summary": "Sentiment over time for a keyword",
                "parameters": [kw, {"name": "from", "in": "query", "schema": ts,
                                    "description": f"Default: to - 24 h; {TIME_RANGE_RULE}."},
                               {"name": "to", "in": "query", "schema": ts,
                                "description": f"Default: now; {TIME_RANGE_RULE}."},
                               {"name": "step_minutes", "in": "query",
                                "schema": {"type": "integer", "minimum": 1, "maximum": 1440}}],
                "responses": {"200": {"description": "buckets", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["keyword", "buckets"], "properties": {
                        "keyword": {"type": "string"},
                        "buckets": {"type": "array", "items": {"$ref": "#/components/schemas/Bucket"}}}}}}},
                    "400": err}}},
            "/v1/keywords/{keyword}/latest": {"get": {
                "summary": "The latest scored tweets for a keyword",
                "parameters": [kw, {"name": "limit", "in": "query",
                                    "schema": {"type": "integer", "minimum": 1, "maximum": 100}}],
                "responses": {"200": {"description": "tweets", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["keyword", "tweets"], "properties": {
                        "keyword": {"type": "string"},
                        "tweets": {"type": "array", "items": {"$ref": "#/components/schemas/Tweet"}}}}}}},
                    "400": err}}},
            "/healthz": {"get": {"responses": {"200": {"description": "alive", "content": {"application/json": {
                "schema": {"type": "object"}}}}}}},
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error", "parameter"],
                      "properties": {"error": {"type": "string"}, "parameter": {"type": "string"}}},
            "Bucket": {"type": "object", "required": ["start", "count", "positive", "mean_score"], "properties": {
                "start": {"type": "string"}, "count": {"type": "integer"}, "positive": {"type": "integer"},
                "mean_score": {"type": "number", "nullable": True}}},
            "Tweet": {"type": "object", "required": ["tweet_id", "created_at", "sentiment", "score", "model_version"],
                      "properties": {"tweet_id": {"type": "string"}, "created_at": {"type": "string"},
                                     "text": {"type": "string"}, "sentiment": {"type": "integer"},
                                     "score": {"type": "number"}, "model_version": {"type": "string"}}}}},
    }


def create_app(store_factory: Callable[[], Any], clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Flask:
    """`store_factory()` returns the ResultStore (called once, lazily, so the app starts without Cassandra)."""
    app = Flask("sentiment-api")
    registry = CollectorRegistry()
    requests_total = Counter("sentiment_api_requests_total", "Requests by route and status", ["route", "status"],
                             registry=registry)
    latency = Histogram("sentiment_api_request_seconds", "Request latency by route", ["route"], registry=registry)
    holder: dict[str, Any] = {}

    def store() -> Any:
        if "store" not in holder:
            holder["store"] = store_factory()
        return holder["store"]

    @app.errorhandler(BadRequest)
    def bad(e: BadRequest):  # type: ignore[no-untyped-def]
        return jsonify(error=e.message, parameter=e.param), 400

    @app.errorhandler(404)
    def not_found(_e):  # type: ignore[no-untyped-def]
        return jsonify(error="no such route", parameter="path"), 404

    @app.errorhandler(405)
    def not_allowed(e):  # type: ignore[no-untyped-def]
        resp = jsonify(error="method not allowed", parameter="method")
        resp.status_code = 405
        resp.headers["Allow"] = ", ".join(sorted(e.valid_methods or ["GET"]))  # RFC 9110 requires it
        return resp

    @app.before_request
    def started() -> None:
        request.environ["sentiment.t0"] = time.monotonic()

    @app.after_request
    def count(resp: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else "unmatched"
        requests_total.labels(route, str(resp.status_code)).inc()
        latency.labels(route).observe(time.monotonic() - request.environ.get("sentiment.t0", time.monotonic()))
        return resp

    @app.get("/v1/keywords/<keyword>/sentiment")
    def sentiment(keyword: str):  # type: ignore[no-untyped-def]
        kw = _keyword(keyword)
        end = _time("to", clock())
        start = _time("from", end - timedelta(hours=24))
        step = timedelta(minutes=_int("step_minutes", 60, 1, 1440))
        if start >= end:
            raise BadRequest("from", "must be before to")
        if end - start > MAX_RANGE:
            raise BadRequest("from", "the range from..to may span at most 31 days")
        if (end - start) / step > MAX_BUCKETS:
            raise BadRequest("step_minutes", f"too small for the range: at most {MAX_BUCKETS} buckets")
        rows = store().rows(kw, start, end)
        return jsonify(keyword=kw, buckets=buckets(rows, start, end, step))

    @app.get("/v1/keywords/<keyword>/latest")
    def latest(keyword: str):  # type: ignore[no-untyped-def]
        kw = _keyword(keyword)
        limit = _int("limit", 20, 1, 100)
        end = clock()
        rows = store().rows(kw, end - timedelta(days=7), end + timedelta(minutes=5), limit=limit)
        return jsonify(keyword=kw, tweets=[{**r, "created_at": r["created_at"].isoformat()} for r in rows])

    @app.get("/healthz")
    def healthz():  # type: ignore[no-untyped-def]
        return jsonify(status="ok")

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")

    @app.get("/openapi.json")
    def spec():  # type: ignore[no-untyped-def]
        return jsonify(openapi())

    return app


def app_from_env() -> Flask:
    """The gunicorn entry point: Cassandra from CASSANDRA_* (a bad setting fails the start, naming it)."""
    import os

    from workloads.sentiment.results import ResultStore
    from workloads.sentiment.stream import CassandraSettings

    settings = CassandraSettings.from_env(os.environ)

    def factory() -> Any:
        _, session = settings.connect()
        return ResultStore(session, settings.keyspace)

    return create_app(factory)
