"""The fraud classification API (the report's Flask service, production-grade).

``gunicorn_app()`` builds the Flask app with its model loaded; gunicorn serves it with ``workloads/fraud/gunicorn.conf.py``:

    gunicorn -c workloads/fraud/gunicorn.conf.py "workloads.fraud.api:gunicorn_app()"

Under gunicorn (``gunicorn_app()``, with ``preload_app``) the master loads the model version named by
``FF_CLF_VERSION`` from object storage BEFORE forking, verified against the digest the stack pins
(``FF_CLF_DIGEST``): every worker is born with the model, so the pod's one Ready bit is true for all of them.
``create_app()`` alone (tests) loads in a background thread and ``/readyz`` answers 503 until it succeeded (and
for good if verification failed). A request may pin the version it expects with the ``X-Model-Version``
header: another version answers 409 instead of scoring with features the caller did not ask for. A sample
of predictions (``FF_PREDICTION_SAMPLE``) goes to object storage with the version, for outcome evaluation.
Endpoints (the OpenAPI 3 document at ``/openapi.json``
is generated from the same constants and describes each one):

- ``GET /classify?f1=..&f2=..&f3=..`` one transaction, as in the report (f4.. when the model has extra features);
- ``POST /classify`` with ``{"instances": [[f1, f2, f3], ...]}`` or ``{"instances": [{"amount": .., ...}, ...]}``
  (arrays in feature order, or objects keyed by feature name), at most ``FF_MAX_BATCH`` instances;
- ``GET /model`` the loaded version, its features and metrics; ``/healthz``, ``/readyz``, ``/metrics``.

Every invalid request gets a 4xx JSON body ``{"error": ..., "message": ...}``; a model that cannot
score a validated input is a bug, never the caller's fault.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from flask import Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess
from werkzeug.exceptions import HTTPException, UnsupportedMediaType

from workloads.common import modelregistry
from workloads.common.envconfig import SettingError, get_float, get_int, get_str
from workloads.common.objectstore import ObjectStore, ObjectStoreError
from workloads.common.predictionlog import PredictionLog
from workloads.common.s3settings import S3Settings

from . import registry
from .features import MAX_ABS_VALUE, BASE_FEATURES, InvalidFeature, api_param, check_number, parse_text
from .registry import LoadedModel

log = logging.getLogger("fraud.api")

DEFAULT_MAX_BATCH = 1000
VERSION_HEADER = "X-Model-Version"
PREDICTIONS_PREFIX = "predictions/fraud"


@dataclass(frozen=True)
class ApiConfig:
    """The API's settings, each from one environment variable."""

    version: str
    """FF_CLF_VERSION (required, as in the report): the published model version to serve."""
    digest: str | None = None
    """FF_CLF_DIGEST (required from the environment): the version's digest as pinned in the stack."""
    model_prefix: str = "models/fraud"
    """FF_MODEL_PREFIX: where versions are published."""
    max_batch: int = DEFAULT_MAX_BATCH
    """FF_MAX_BATCH: most instances accepted by one POST /classify."""
    load_retry_seconds: float = 5.0
    """FF_LOAD_RETRY_SECONDS: longest wait between attempts while the model cannot be fetched."""
    prediction_sample: float = 0.0
    """FF_PREDICTION_SAMPLE: share of classified instances logged to object storage (0 = none, 1 = all)."""
    predictions_prefix: str = PREDICTIONS_PREFIX
    """FF_PREDICTIONS_PREFIX: where the sampled predictions go (the serving user may only write there)."""

    @property
    def max_body_bytes(self) -> int:
        # Generous per-instance allowance (a row of long decimals in an object) plus the envelope.
        return 1024 * 1024 + self.max_batch * 512

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ApiConfig:
        version = get_str(env, "FF_CLF_VERSION", hint="set it to a published model version, e.g. 20260301T120000Z-1a2b3c4d")
        digest = get_str(env, "FF_CLF_DIGEST", hint="set it to the version's digest pinned in the stack "
                                                    "(sha256:..., printed by the trainer)")
        prefix = get_str(env, "FF_MODEL_PREFIX", "models/fraud")
        predictions = get_str(env, "FF_PREDICTIONS_PREFIX", PREDICTIONS_PREFIX)
        try:
            registry.check_version(version, "FF_CLF_VERSION")
            registry.check_digest(digest, "FF_CLF_DIGEST")
            prefix = registry.check_prefix(prefix, "FF_MODEL_PREFIX")
            predictions = registry.check_prefix(predictions, "FF_PREDICTIONS_PREFIX")
        except ValueError as exc:
            raise SettingError(str(exc)) from None
        max_batch = get_int(env, "FF_MAX_BATCH", DEFAULT_MAX_BATCH, minimum=1, maximum=100_000)
        retry = get_int(env, "FF_LOAD_RETRY_SECONDS", 5, minimum=1, maximum=300)
        return cls(version=version, digest=digest, model_prefix=prefix, max_batch=int(max_batch or DEFAULT_MAX_BATCH),
                   load_retry_seconds=float(retry or 5),
                   prediction_sample=get_float(env, "FF_PREDICTION_SAMPLE", 0.0, minimum=0.0, maximum=1.0),
                   predictions_prefix=predictions)


# ---------------------------------------------------------------------------------------------
# Model state and start-up loading
# ---------------------------------------------------------------------------------------------


class ModelHolder:
    """The served model and the loading state (loading → ready, or loading → failed)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.model: LoadedModel | None = None
        self.state = "loading"
        self.detail = "the model has not been loaded yet"
        self.stop = threading.Event()

    def set_ready(self, model: LoadedModel) -> None:
        with self._lock:
            self.model, self.state, self.detail = model, "ready", f"model {model.version} loaded and verified"

    def set_failed(self, detail: str) -> None:
        with self._lock:
            self.state, self.detail = "failed", detail

    def set_waiting(self, detail: str) -> None:
        with self._lock:
            self.detail = detail


def load_until_ready(holder: ModelHolder, load: Callable[[], LoadedModel], retry_seconds: float,
                     on_ready: Callable[[LoadedModel], None]) -> None:
    """Retry transient failures (storage down, version not yet published) with capped backoff;
    stop for good on an integrity failure, since retrying cannot make a tampered artefact valid."""
    delay = 0.2
    while not holder.stop.is_set():
        try:
            model = load()
        except registry.IntegrityError as exc:
            log.critical("refusing to serve: %s", exc)
            holder.set_failed(f"model verification failed: {exc}")
            return
        except (registry.ModelNotPublished, registry.RegistryUnavailable, ObjectStoreError) as exc:
            # The log keeps the cause (bucket, endpoint); the HTTP body gets only the registry's own words.
            log.warning("model not loaded yet (retrying in %.1f s): %s (cause: %s)", delay, exc, exc.__cause__)
            holder.set_waiting(str(exc) if isinstance(exc, registry.RegistryError)
                               else "the model store is unavailable; see the server log")
        except Exception as exc:  # a bug while loading: permanent, and never a traceback in an HTTP body
            log.critical("refusing to serve: loading the model failed: %s: %s", type(exc).__name__, exc)
            holder.set_failed(f"model could not be loaded: {type(exc).__name__}")
            return
        else:
            holder.set_ready(model)
            on_ready(model)
            log.info("serving model %s (%d features, threshold %.3f)", model.version, model.n_features, model.threshold)
            return
        holder.stop.wait(delay)
        delay = min(delay * 2, retry_seconds)


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


class ApiMetrics:
    """The API's Prometheus metrics, on their own registry so several apps can live in one process.

    Under gunicorn with several workers, ``PROMETHEUS_MULTIPROC_DIR`` is set (gunicorn.conf.py) and
    the values live in shared files; ``/metrics`` then aggregates every worker's files.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        r = self.registry
        self.requests = Counter("fraud_api_requests", "HTTP requests by endpoint, method and status.",
                                ["endpoint", "method", "status"], registry=r)
        self.latency = Histogram("fraud_api_request_duration_seconds", "Request latency by endpoint.", ["endpoint"],
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
                                 registry=r)
        self.predictions = Counter("fraud_api_predictions", "Classified transactions by predicted class.",
                                   ["predicted_class"], registry=r)
        self.batch_size = Histogram("fraud_api_batch_size", "Instances per POST /classify.",
                                    buckets=(1, 4, 16, 64, 256, 1024, 4096, 16384), registry=r)
        # Gauges: "livemax" keeps one series per label set across live workers in multiprocess mode.
        self.model_info = Gauge("fraud_api_model_info", "1 for the model version this process serves.",
                                ["version"], registry=r, multiprocess_mode="livemax")
        # "livemin": 1 only when EVERY live worker has the model (one worker without it makes the pod's series 0).
        self.model_ready = Gauge("fraud_api_model_ready", "1 once every worker has the model loaded and verified.",
                                 registry=r, multiprocess_mode="livemin")
        self.version_conflicts = Counter("fraud_api_version_conflicts", "Requests pinning another model version "
                                         "(X-Model-Version) answered 409.", registry=r)
        self.predictions_logged = Counter("fraud_api_predictions_logged", "Sampled predictions written to object "
                                          "storage, by outcome.", ["outcome"], registry=r)
        # The trainer's last quality report (runs/LATEST.json of the registry), exported here because the trainer
        # is a short-lived Job with nothing to scrape: the alerts on refusals and on a trainer that stopped
        # reporting read these.
        self.trainer_last_run = Gauge("fraud_trainer_last_run_timestamp_seconds", "When the trainer last finished "
                                      "a run (its quality report).", registry=r, multiprocess_mode="max")
        self.trainer_refused = Gauge("fraud_trainer_last_run_refused", "1 when the trainer's last run refused its "
                                     "model.", registry=r, multiprocess_mode="max")
        for outcome in ("written", "dropped", "failed"):
            self.predictions_logged.labels(outcome)
        for cls in ("fraud", "legitimate"):
            self.predictions.labels(cls)

    def exposition(self) -> bytes:
        if self.multiprocess:
            aggregate = CollectorRegistry()
            multiprocess.MultiProcessCollector(aggregate)
            return generate_latest(aggregate)
        return generate_latest(self.registry)

    def model_loaded(self, model: LoadedModel) -> None:
        self.model_info.labels(model.version).set(1)
        self.model_ready.set(1)

    def trainer_report(self, report: dict[str, Any] | None) -> None:
        if report is None:
            return
        finished = report.get("finished_at_epoch")
        if isinstance(finished, (int, float)):
            self.trainer_last_run.set(float(finished))
        self.trainer_refused.set(1.0 if report.get("verdict") == "refused" else 0.0)


# ---------------------------------------------------------------------------------------------
# Request parsing (pure)
# ---------------------------------------------------------------------------------------------


class InvalidRequest(ValueError):
    """A client error; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def parse_query(args: Any, model: LoadedModel) -> np.ndarray:
    """GET /classify query parameters → a (1, n_features) matrix."""
    params = model.params
    unknown = sorted(set(args.keys()) - set(params))
    if unknown:
        raise InvalidRequest(f"unknown query parameter(s) {', '.join(unknown)[:200]}; this model takes {', '.join(params)}")
    row = []
    for param in params:
        values = args.getlist(param)
        if len(values) > 1:
            raise InvalidRequest(f"{param} is given {len(values)} times; give it once")
        row.append(parse_text(param, values[0] if values else None))
    return np.array([row], dtype=np.float64)


def parse_instances(body: Any, model: LoadedModel, max_batch: int) -> np.ndarray:
    """A decoded POST /classify body → an (n, n_features) matrix; InvalidRequest names the bad field."""
    if not isinstance(body, dict):
        raise InvalidRequest('the body must be a JSON object {"instances": [...]}')
    extra = sorted(set(body) - {"instances"})
    if extra:
        raise InvalidRequest(f"unknown field(s) {', '.join(map(repr, extra))[:200]}; the body has only \"instances\"")
    instances = body.get("instances")
    if not isinstance(instances, list):
        raise InvalidRequest('"instances" is required and must be an array of instances')
    if not instances:
        raise InvalidRequest('"instances" is empty: send at least one instance')
    if len(instances) > max_batch:
        raise InvalidRequest(f'"instances" has {len(instances)} items; the maximum batch is {max_batch} (FF_MAX_BATCH)')
    n = model.n_features
    names = model.feature_names
    out = np.empty((len(instances), n), dtype=np.float64)
    for i, instance in enumerate(instances):
        if isinstance(instance, list):
            if len(instance) != n:
                raise InvalidRequest(f"instances[{i}] has {len(instance)} values; this model takes {n} ({', '.join(names)})")
            for j, value in enumerate(instance):
                out[i, j] = _number(value, i, j, names)
        elif isinstance(instance, dict):
            unknown = sorted(set(instance) - set(names))
            if unknown:
                raise InvalidRequest(f"instances[{i}] has unknown key(s) {', '.join(map(repr, unknown))[:200]}; "
                                     f"use {', '.join(names)}")
            for j, name in enumerate(names):
                if name not in instance:
                    raise InvalidRequest(f"instances[{i}].{name} is required")
                out[i, j] = _number(instance[name], i, j, names)
        else:
            raise InvalidRequest(f"instances[{i}] must be an array of {n} numbers or an object keyed by "
                                 f"{', '.join(names)}")
    return out


def _number(value: Any, i: int, j: int, names: tuple[str, ...]) -> float:
    # Fast path for the common case; check_number gives the precise message otherwise.
    if type(value) is float and math.isfinite(value) and -MAX_ABS_VALUE <= value <= MAX_ABS_VALUE:
        return value
    try:
        return check_number(f"instances[{i}].{names[j]}", value)
    except InvalidFeature as exc:
        raise InvalidRequest(str(exc)) from None


def decode_json_body(max_bytes: int) -> Any:
    """The request body as JSON, or an HTTP 4xx (wrong content type, too large, malformed)."""
    if request.mimetype != "application/json" and not request.mimetype.endswith("+json"):
        raise UnsupportedMediaType(f"send the body as application/json (got {request.mimetype or 'no content type'!r})")
    if request.content_length is not None and request.content_length > max_bytes:
        raise InvalidRequest(f"the body is {request.content_length} bytes; the limit is {max_bytes}", status=413)
    raw = request.get_data(cache=False)
    if len(raw) > max_bytes:
        raise InvalidRequest(f"the body is larger than the limit of {max_bytes} bytes", status=413)
    try:
        return json.loads(raw)
    except RecursionError:
        raise InvalidRequest("the JSON body is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"the body is not valid JSON: {str(exc)[:200]}") from None


# ---------------------------------------------------------------------------------------------
# OpenAPI
# ---------------------------------------------------------------------------------------------


def openapi_document(feature_names: tuple[str, ...], max_batch: int, version: str | None) -> dict[str, Any]:
    """The OpenAPI 3.0 description of this API for a model with ``feature_names``."""
    n = len(feature_names)
    number = {"type": "number", "minimum": -MAX_ABS_VALUE, "maximum": MAX_ABS_VALUE}
    descriptions = {f.name: f.description for f in BASE_FEATURES}
    error = {"$ref": "#/components/schemas/Error"}

    def resp(description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": schema}}}

    not_ready = resp("The model is not loaded (yet, or verification failed).", error)
    bad = resp("Invalid input: a missing, unknown, duplicated, non-numeric, non-finite or out-of-range "
               "feature, a wrong shape, or more than the maximum batch.", error)
    query_params = [
        {"name": api_param(i), "in": "query", "required": True, "schema": number,
         "description": descriptions.get(name, f"extra feature column {name}")}
        for i, name in enumerate(feature_names)
    ]
    return {
        "openapi": "3.0.3",
        "info": {"title": "pipeworks fraud classification API", "version": "1",
                 "description": f"Serves model version {version}." if version else "The model is not loaded yet."},
        "paths": {
            "/classify": {
                "get": {
                    "operationId": "classifyOne", "summary": "Classify one transaction (the report's API).",
                    "parameters": query_params,
                    "responses": {"200": resp("The classification.", {"$ref": "#/components/schemas/Classification"}),
                                  "400": bad, "503": not_ready},
                },
                "post": {
                    "operationId": "classifyBatch", "summary": "Classify a batch of transactions.",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {
                        "type": "object", "required": ["instances"], "additionalProperties": False,
                        "properties": {"instances": {
                            "type": "array", "minItems": 1, "maxItems": max_batch,
                            "items": {"oneOf": [
                                {"type": "array", "items": number, "minItems": n, "maxItems": n,
                                 "description": f"Values in feature order: {', '.join(feature_names)}."},
                                {"type": "object", "required": list(feature_names), "additionalProperties": False,
                                 "properties": {name: number for name in feature_names}},
                            ]},
                        }},
                    }}}},
                    "responses": {
                        "200": resp("One prediction and probability per instance, in order.",
                                    {"$ref": "#/components/schemas/BatchClassification"}),
                        "400": bad,
                        "413": resp("The body is larger than the limit.", error),
                        "415": resp("The body is not application/json.", error),
                        "503": not_ready,
                    },
                },
            },
            "/model": {"get": {"operationId": "model", "summary": "The served model version, features and metrics.",
                               "responses": {"200": resp("The model.", {"type": "object", "required": ["version", "features"],
                                                                       "properties": {"version": {"type": "string"},
                                                                                      "features": {"type": "array"}}}),
                                             "503": not_ready}}},
            "/healthz": {"get": {"operationId": "healthz", "summary": "Liveness: the process answers.",
                                 "responses": {"200": resp("Alive.", {"type": "object"})}}},
            "/readyz": {"get": {"operationId": "readyz", "summary": "Readiness: the model is loaded and verified.",
                                "responses": {"200": resp("Ready.", {"$ref": "#/components/schemas/Status"}),
                                              "503": resp("Not ready.", {"$ref": "#/components/schemas/Status"})}}},
            "/metrics": {"get": {"operationId": "metrics", "summary": "Prometheus metrics.",
                                 "responses": {"200": {"description": "Prometheus text exposition format.",
                                                       "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/openapi.json": {"get": {"operationId": "openapi", "summary": "This document.",
                                      "responses": {"200": resp("OpenAPI 3 document.", {"type": "object"})}}},
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error", "message"],
                      "properties": {"error": {"type": "string"}, "message": {"type": "string"}}},
            "Status": {"type": "object", "required": ["status"],
                       "properties": {"status": {"type": "string", "enum": ["ready", "loading", "failed"]},
                                      "detail": {"type": "string"}, "model_version": {"type": "string"}}},
            "Classification": {"type": "object",
                               "required": ["model_version", "prediction", "probability", "threshold"],
                               "properties": {"model_version": {"type": "string"},
                                              "prediction": {"type": "integer", "enum": [0, 1],
                                                             "description": "1 = fraud"},
                                              "probability": {"type": "number", "minimum": 0, "maximum": 1},
                                              "threshold": {"type": "number"}}},
            "BatchClassification": {"type": "object",
                                    "required": ["model_version", "predictions", "probabilities", "threshold"],
                                    "properties": {"model_version": {"type": "string"},
                                                   "predictions": {"type": "array",
                                                                   "items": {"type": "integer", "enum": [0, 1]}},
                                                   "probabilities": {"type": "array",
                                                                     "items": {"type": "number", "minimum": 0, "maximum": 1}},
                                                   "threshold": {"type": "number"}}},
        }},
    }


# ---------------------------------------------------------------------------------------------
# The app
# ---------------------------------------------------------------------------------------------


def model_loader(config: ApiConfig, store: ObjectStore) -> Callable[[], LoadedModel]:
    """What loads and verifies the configured version against the digest the stack pins (refused without one)."""
    digest = config.digest
    if digest is None:
        raise SettingError("FF_CLF_DIGEST is required: the API loads only the digest the stack pins")
    return lambda: registry.load_model(store, config.model_prefix, config.version, digest)


def load_blocking(config: ApiConfig, store: ObjectStore) -> LoadedModel:
    """Load and verify the model in this thread, retrying while it is not published or the store is down; exit
    the process (status 3) when verification fails, since no retry can make a tampered version valid."""
    holder = ModelHolder()
    load_until_ready(holder, model_loader(config, store), config.load_retry_seconds, lambda _model: None)
    if holder.model is None:
        raise SystemExit(3)
    return holder.model


def create_app(config: ApiConfig | None = None, store: ObjectStore | None = None, *,
               model: LoadedModel | None = None, env: Mapping[str, str] = os.environ,
               predictions: PredictionLog | None = None) -> Flask:
    """The Flask app. With ``model`` it serves that model at once (gunicorn's preloaded master, tests, benchmarks);
    otherwise it loads ``config.version`` (default: from ``env``) from ``store`` (default: from ``env``) in the background."""
    app = Flask("fraud-api")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    metrics = ApiMetrics()
    holder = ModelHolder()
    if config is None:
        config = ApiConfig.from_env(env) if model is None else ApiConfig(version=model.version, digest=model.digest)
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.extensions["fraud"] = {"holder": holder, "metrics": metrics, "config": config}
    object_store = store
    if model is not None:
        holder.set_ready(model)
        metrics.model_loaded(model)
    else:
        object_store = store if store is not None else ObjectStore(S3Settings.from_env(env))
        loader = threading.Thread(
            target=load_until_ready, name="model-loader", daemon=True,
            args=(holder, model_loader(config, object_store), config.load_retry_seconds, metrics.model_loaded))
        loader.start()
    if predictions is None and object_store is not None and config.prediction_sample > 0:
        predictions = PredictionLog(object_store, config.predictions_prefix, config.prediction_sample,
                                    on_outcome=lambda outcome, n: metrics.predictions_logged.labels(outcome).inc(n))
    app.extensions["fraud"]["predictions"] = predictions
    report_state = {"read_at": 0.0}

    def refresh_trainer_report() -> None:
        # At most once a minute, on a scrape: the report pointer is one small GET.
        if object_store is None or time.monotonic() - report_state["read_at"] < 60:
            return
        report_state["read_at"] = time.monotonic()
        try:
            metrics.trainer_report(modelregistry.latest_run(object_store, config.model_prefix))
        except (registry.RegistryError, ObjectStoreError) as exc:
            log.info("trainer report not read: %s", exc)

    def ready_model() -> LoadedModel:
        current = holder.model
        if current is None:
            raise InvalidRequest(f"not ready: {holder.detail}", status=503)
        wanted = request.headers.get(VERSION_HEADER)
        if wanted is not None and wanted.strip() != current.version:
            metrics.version_conflicts.inc()
            raise InvalidRequest(f"this server serves model {current.version}, not the {VERSION_HEADER} "
                                 f"{wanted.strip()[:100]!r} the request pins; re-read GET /model", status=409)
        return current

    @app.before_request
    def _start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        metrics.requests.labels(endpoint, request.method if request.url_rule else "other", str(response.status_code)).inc()
        started = g.get("started")
        if started is not None:
            metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
        return response

    @app.errorhandler(InvalidRequest)
    def _invalid(exc: InvalidRequest) -> tuple[Response, int]:
        name = {400: "bad_request", 409: "model_version_mismatch", 413: "payload_too_large",
                503: "not_ready"}.get(exc.status, "error")
        return jsonify(error=name, message=str(exc)), exc.status

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        response = exc.get_response()
        response.data = json.dumps({"error": (exc.name or "error").lower().replace(" ", "_"),
                                    "message": exc.description or exc.name or ""}).encode()
        response.content_type = "application/json"
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        # A bug, not bad input: log it with the traceback, answer without internals.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return jsonify(error="internal_error", message="internal error; see the server log"), 500

    def _count(predictions: np.ndarray) -> None:
        fraud = int(predictions.sum())
        if fraud:
            metrics.predictions.labels("fraud").inc(fraud)
        if len(predictions) - fraud:
            metrics.predictions.labels("legitimate").inc(len(predictions) - fraud)

    @app.get("/classify")
    def classify_one() -> Response:
        current = ready_model()
        try:
            rows = parse_query(request.args, current)
        except InvalidFeature as exc:
            raise InvalidRequest(str(exc)) from None
        labels, proba = current.classify(rows)
        _count(labels)
        if predictions is not None:
            predictions.record(current.version, rows, proba, labels)
        return jsonify(model_version=current.version, prediction=int(labels[0]), probability=float(proba[0]),
                       threshold=current.threshold)

    @app.post("/classify")
    def classify_batch() -> Response:
        current = ready_model()
        body = decode_json_body(config.max_body_bytes)
        rows = parse_instances(body, current, config.max_batch)
        labels, proba = current.classify(rows)
        metrics.batch_size.observe(len(rows))
        _count(labels)
        if predictions is not None:
            predictions.record(current.version, rows, proba, labels)
        # Build the JSON by hand: jsonify walks every float through Python's encoder twice.
        payload = (f'{{"model_version":{json.dumps(current.version)},"threshold":{current.threshold!r},'
                   f'"predictions":{json.dumps(labels.tolist())},"probabilities":{json.dumps(proba.tolist())}}}')
        return Response(payload, mimetype="application/json")

    @app.get("/model")
    def model_info() -> Response:
        current = ready_model()
        meta = current.metadata
        return jsonify(version=current.version, features=meta.get("features"), threshold=current.threshold,
                       metrics=meta.get("metrics"), created_at=meta.get("created_at"), max_batch=config.max_batch)

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="alive")

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        if holder.model is not None:
            return jsonify(status="ready", model_version=holder.model.version, detail=holder.detail), 200
        return jsonify(status=holder.state, detail=holder.detail), 503

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        refresh_trainer_report()
        return Response(metrics.exposition(), mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                        headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.get("/openapi.json")
    def openapi() -> Response:
        current = holder.model
        names = current.feature_names if current else tuple(f.name for f in BASE_FEATURES)
        return jsonify(openapi_document(names, config.max_batch, current.version if current else None))

    return app


def gunicorn_app(env: Mapping[str, str] = os.environ) -> Flask:
    """The app gunicorn preloads (gunicorn.conf.py ``preload_app``): the model is loaded and verified here, in the
    master, before any worker forks, so every worker can serve from its first request."""
    config = ApiConfig.from_env(env)
    store = ObjectStore(S3Settings.from_env(env))
    model = load_blocking(config, store)
    return create_app(config, store, model=model, env=env)
