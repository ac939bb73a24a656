"""The recommendations API: the newest published top-N per user, over HTTP.

    gunicorn -k gthread -w 1 --threads 8 -b 0.0.0.0:8080 "workloads.recommendations.api:create_app()"

One process with threads: a lookup is a dict read, and one process keeps one copy of the recommendations and
plain Prometheus metrics. A background thread loads the version ``NEWEST.json`` names (verified against the
digest the pointer carries, ``recsstore.load``) and checks the pointer every ``RS_REFRESH_SECONDS``; a newer
version replaces the served one atomically. ``/readyz`` answers 503 until a version is loaded. Endpoints (the
OpenAPI 3 document at ``/openapi.json`` describes each):

- ``GET /users/{id}/recommendations?n=`` a user's top n (1..``RS_MAX_N``, default ``RS_DEFAULT_N``); 404 for a
  user the model has no recommendations for;
- ``POST /recommendations`` with ``{"users": [1, 2, ...], "n": 10}`` (at most ``RS_MAX_BATCH`` users), unknown users
  listed apart;
- ``GET /model`` the served version and its quality report; ``/healthz``, ``/readyz``, ``/metrics``.

Every invalid request gets a 4xx JSON body ``{"error": ..., "message": ...}``.
Application code: never imports pulumi or infra.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, UnsupportedMediaType

from workloads.common import modelregistry
from workloads.common.envconfig import SettingError, get_int, get_str
from workloads.common.objectstore import ObjectStore, ObjectStoreError
from workloads.common.s3settings import S3Settings

from . import recsstore
from .ratings import MAX_ID

log = logging.getLogger("recommendations.api")


@dataclass(frozen=True)
class ApiSettings:
    """The API's settings, each from one RS_* variable."""

    model_prefix: str = recsstore.DEFAULT_PREFIX
    """RS_MODEL_PREFIX: where the batch job publishes."""
    default_n: int = 10
    """RS_DEFAULT_N: products returned when the request names no n."""
    max_n: int = 100
    """RS_MAX_N: most products per user a request may ask for."""
    max_batch: int = 1000
    """RS_MAX_BATCH: most users per POST /recommendations."""
    refresh_seconds: int = 60
    """RS_REFRESH_SECONDS: how often NEWEST.json is checked (and the wait between failed loads)."""

    def __post_init__(self) -> None:
        if not 1 <= self.default_n <= self.max_n:
            raise SettingError(f"RS_DEFAULT_N={self.default_n} must be between 1 and RS_MAX_N={self.max_n}")

    @property
    def max_body_bytes(self) -> int:
        return 4096 + self.max_batch * 16  # an id is at most 10 digits plus a separator

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ApiSettings:
        prefix = get_str(env, "RS_MODEL_PREFIX", recsstore.DEFAULT_PREFIX)
        try:
            prefix = modelregistry.check_prefix(prefix, "RS_MODEL_PREFIX")
        except ValueError as exc:
            raise SettingError(str(exc)) from None
        max_n = int(get_int(env, "RS_MAX_N", 100, minimum=1, maximum=1000) or 100)
        return cls(model_prefix=prefix, max_n=max_n,
                   default_n=int(get_int(env, "RS_DEFAULT_N", min(10, max_n), minimum=1, maximum=1000) or 10),
                   max_batch=int(get_int(env, "RS_MAX_BATCH", 1000, minimum=1, maximum=100_000) or 1000),
                   refresh_seconds=int(get_int(env, "RS_REFRESH_SECONDS", 60, minimum=1, maximum=86400) or 60))


class Metrics:
    """The API's Prometheus metrics on their own registry (several apps can live in one test process)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("recommendations_api_requests", "HTTP requests by endpoint, method and status.",
                                ["endpoint", "method", "status"], registry=r)
        self.latency = Histogram("recommendations_api_request_duration_seconds", "Request latency by endpoint.",
                                 ["endpoint"], buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                        0.5, 1.0), registry=r)
        self.unknown_users = Counter("recommendations_api_unknown_users", "Users asked for without "
                                     "recommendations (new since the last batch run).", registry=r)
        self.ready = Gauge("recommendations_api_ready", "1 once a version is loaded.", registry=r)
        self.version_info = Gauge("recommendations_api_version_info", "1 for the served version.", ["version"],
                                  registry=r)
        self.published_at = Gauge("recommendations_api_version_created_timestamp_seconds", "When the served "
                                  "version's batch run started (staleness alerts).", registry=r)
        self.users = Gauge("recommendations_api_users", "Users with recommendations in the served version.",
                           registry=r)
        self.load_failures = Counter("recommendations_api_load_failures", "Failed loads of the newest version, by "
                                     "reason.", ["reason"], registry=r)
        for reason in ("unavailable", "integrity"):
            self.load_failures.labels(reason)


class Served:
    """The version being served; replaced atomically by the loader thread."""

    def __init__(self) -> None:
        self.current: recsstore.Published | None = None
        self.detail = "no version loaded yet"


def refresh(served: Served, store: ObjectStore, settings: ApiSettings, metrics: Metrics) -> bool:
    """Load the version NEWEST.json names when it is not the served one; True when something new was loaded."""
    try:
        pointer = recsstore.newest_pointer(store, settings.model_prefix)
        if pointer is None:
            served.detail = "nothing is published yet (no NEWEST.json): the batch job has not passed its gate"
            return False
        if served.current is not None and (served.current.version, served.current.digest) == pointer:
            return False
        published = recsstore.load(store, settings.model_prefix, *pointer)
    except modelregistry.IntegrityError as exc:
        metrics.load_failures.labels("integrity").inc()
        served.detail = f"the newest version was refused: {exc}"
        log.error("%s", served.detail)
        return False
    except (modelregistry.RegistryError, ObjectStoreError) as exc:
        metrics.load_failures.labels("unavailable").inc()
        served.detail = f"the newest version could not be read: {exc}"
        log.warning("%s", served.detail)
        return False
    old = served.current
    served.current = published  # one reference assignment: requests see the old or the new version, whole
    served.detail = f"serving {published.version}"
    if old is not None:
        metrics.version_info.remove(old.version)
    metrics.version_info.labels(published.version).set(1)
    metrics.users.set(len(published.recommendations))
    metrics.ready.set(1)
    created = published.manifest.get("createdAt")
    if isinstance(created, str):
        try:
            metrics.published_at.set(datetime.fromisoformat(created).timestamp())
        except ValueError:
            pass
    log.info("serving recommendations version %s (%d users)", published.version, len(published.recommendations))
    return True


class InvalidRequest(ValueError):
    def __init__(self, message: str, status: int = 400, error: str = "bad_request") -> None:
        super().__init__(message)
        self.status, self.error = status, error


def parse_user(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 10 or int(text) > MAX_ID:
        raise InvalidRequest(f"user id {text[:40]!r} is not an integer from 0 to {MAX_ID}")
    return int(text)


def parse_n(raw: str | None, settings: ApiSettings) -> int:
    if raw is None:
        return settings.default_n
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6 and 1 <= int(raw) <= settings.max_n):
        raise InvalidRequest(f"n={raw[:40]!r} is invalid: use an integer from 1 to {settings.max_n}")
    return int(raw)


def parse_batch(body: Any, settings: ApiSettings) -> tuple[list[int], int]:
    """(users, n) of a POST /recommendations body."""
    if not isinstance(body, dict):
        raise InvalidRequest('the body must be a JSON object {"users": [...], "n": ...}')
    extra = sorted(set(body) - {"users", "n"})
    if extra:
        raise InvalidRequest(f"unknown field(s) {', '.join(repr(e)[:40] for e in extra[:5])}: only users and n")
    users = body.get("users")
    if not isinstance(users, list) or not users:
        raise InvalidRequest("users must be a non-empty array of user ids")
    if len(users) > settings.max_batch:
        raise InvalidRequest(f"{len(users)} users; at most {settings.max_batch} per request (RS_MAX_BATCH)")
    for i, u in enumerate(users):
        if type(u) is not int or not 0 <= u <= MAX_ID:
            raise InvalidRequest(f"users[{i}] is not an integer from 0 to {MAX_ID}")
    n = body.get("n", settings.default_n)
    if type(n) is not int or not 1 <= n <= settings.max_n:
        raise InvalidRequest(f"n must be an integer from 1 to {settings.max_n}")
    return users, n


def _items(items: list[tuple[int, float]], n: int) -> list[dict[str, Any]]:
    return [{"productId": i, "score": s} for i, s in items[:n]]


def openapi_document(settings: ApiSettings) -> dict[str, Any]:
    error = {"type": "object", "required": ["error", "message"],
             "properties": {"error": {"type": "string"}, "message": {"type": "string"}}}
    item = {"type": "object", "required": ["productId", "score"],
            "properties": {"productId": {"type": "integer"}, "score": {"type": "number"}}}
    user_recs = {"type": "object", "required": ["user", "version", "items"],
                 "properties": {"user": {"type": "integer"}, "version": {"type": "string"},
                                "items": {"type": "array", "items": item}}}

    def resp(description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": schema}}}

    errors = {"400": resp("Invalid request", error), "503": resp("No version loaded yet", error)}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Recommendations API", "version": "1.0.0",
                 "description": "Top-N products per user from the newest published ALS run."},
        "paths": {
            "/users/{userId}/recommendations": {"get": {
                "summary": "A user's top-n products, best first.",
                "parameters": [
                    {"name": "userId", "in": "path", "required": True,
                     "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID}},
                    {"name": "n", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 1, "maximum": settings.max_n,
                                "default": settings.default_n}}],
                "responses": {"200": resp("The user's recommendations", user_recs),
                              "404": resp("No recommendations for this user (not in the last batch run)", error),
                              **errors}}},
            "/recommendations": {"post": {
                "summary": "Recommendations for several users at once.",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["users"], "additionalProperties": False,
                    "properties": {
                        "users": {"type": "array", "minItems": 1, "maxItems": settings.max_batch,
                                  "items": {"type": "integer", "minimum": 0, "maximum": MAX_ID}},
                        "n": {"type": "integer", "minimum": 1, "maximum": settings.max_n,
                              "default": settings.default_n}}}}}},
                "responses": {"200": resp("Recommendations of the known users; the others in unknownUsers", {
                    "type": "object", "required": ["version", "results", "unknownUsers"],
                    "properties": {"version": {"type": "string"},
                                   "results": {"type": "array", "items": user_recs},
                                   "unknownUsers": {"type": "array", "items": {"type": "integer"}}}}),
                    "413": resp("Body too large", error), "415": resp("Not application/json", error), **errors}}},
            "/model": {"get": {"summary": "The served version and its quality report.", "responses": {
                "200": resp("The served version", {"type": "object"}), "503": errors["503"]}}},
            "/healthz": {"get": {"summary": "Liveness.", "responses": {"200": resp("Alive", {"type": "object"})}}},
            "/readyz": {"get": {"summary": "Readiness: 200 once a version is loaded.", "responses": {
                "200": resp("Ready", {"type": "object"}), "503": resp("Not ready", {"type": "object"})}}},
        },
    }


def create_app(settings: ApiSettings | None = None, store: ObjectStore | None = None, *,
               env: Mapping[str, str] = os.environ, start_loader: bool = True) -> Flask:
    """The Flask app; it loads the newest version from ``store`` (default: from ``env``) in a background thread."""
    settings = settings or ApiSettings.from_env(env)
    store = store if store is not None else ObjectStore(S3Settings.from_env(env))
    app = Flask("recommendations-api")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    metrics, served = Metrics(), Served()
    stop = threading.Event()
    app.extensions["recommendations"] = {"served": served, "metrics": metrics, "settings": settings,
                                         "stop": stop, "refresh": lambda: refresh(served, store, settings, metrics)}

    def loader() -> None:
        while not stop.is_set():
            refresh(served, store, settings, metrics)
            stop.wait(settings.refresh_seconds)

    if start_loader:
        threading.Thread(target=loader, name="recommendations-loader", daemon=True).start()

    def current() -> recsstore.Published:
        cur = served.current
        if cur is None:
            raise InvalidRequest(f"not ready: {served.detail}", status=503, error="not_ready")
        return cur

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        metrics.requests.labels(endpoint, request.method if request.url_rule else "other",
                                str(response.status_code)).inc()
        if "started" in g:
            metrics.latency.labels(endpoint).observe(time.perf_counter() - g.started)
        return response

    @app.errorhandler(InvalidRequest)
    def _invalid(exc: InvalidRequest) -> tuple[Response, int]:
        return jsonify(error=exc.error, message=str(exc)), exc.status

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        response = exc.get_response()
        response.data = json.dumps({"error": (exc.name or "error").lower().replace(" ", "_"),
                                    "message": exc.description or exc.name or ""}).encode()
        response.content_type = "application/json"
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return jsonify(error="internal_error", message="internal error; see the server log"), 500

    @app.get("/users/<user_id>/recommendations")
    def one(user_id: str) -> Response:
        user = parse_user(user_id)
        n = parse_n(request.args.get("n"), settings)
        cur = current()
        items = cur.recommendations.get(user)
        if items is None:
            metrics.unknown_users.inc()
            raise InvalidRequest(f"no recommendations for user {user} in version {cur.version} (a user newer than "
                                 "the last batch run)", status=404, error="unknown_user")
        return jsonify(user=user, version=cur.version, items=_items(items, n))

    @app.post("/recommendations")
    def batch() -> Response:
        if request.mimetype != "application/json":
            raise UnsupportedMediaType("send the body as application/json")
        try:
            body = json.loads(request.get_data(cache=False))
        except RecursionError:
            raise InvalidRequest("the JSON body is nested too deeply") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidRequest(f"the body is not valid JSON: {str(exc)[:200]}") from None
        users, n = parse_batch(body, settings)
        cur = current()
        results, unknown = [], []
        for u in users:
            items = cur.recommendations.get(u)
            if items is None:
                unknown.append(u)
            else:
                results.append({"user": u, "version": cur.version, "items": _items(items, n)})
        if unknown:
            metrics.unknown_users.inc(len(unknown))
        return jsonify(version=cur.version, results=results, unknownUsers=unknown)

    @app.get("/model")
    def model() -> Response:
        cur = current()
        return jsonify(version=cur.version, digest=cur.digest, createdAt=cur.manifest.get("createdAt"),
                       params=cur.manifest.get("params"), quality=cur.manifest.get("quality"),
                       users=len(cur.recommendations))

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="alive")

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        cur = served.current
        if cur is not None:
            return jsonify(status="ready", version=cur.version), 200
        return jsonify(status="loading", detail=served.detail), 503

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(openapi_document(settings))

    return app
