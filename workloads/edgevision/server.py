"""The edge inference server: one per edge location, next to the line's cameras.

    POST /inspect   {"image": "<base64 PNG/JPEG>"} or {"images": [...]} (at most EV_MAX_BATCH)
                    -> {"model": version, "results": [{"label", "confidence", "defective", "needsReview"}]}
                    needsReview: confidence below EV_REVIEW_THRESHOLD (a human operator looks at it)
    GET /model, /healthz, /readyz, /metrics, /openapi.json

Bad input is a 4xx naming what is wrong (400 not JSON / not base64 / not an image, 413 too large, 422 wrong
size or batch), never a 5xx. It serves the approved version the stack pins (EV_MODEL_VERSION + EV_MODEL_DIGEST),
verified against the digest before it is deserialised. EV_ACCELERATOR=gpu refuses to start without a visible
GPU, so a pod that lands without one fails loudly instead of serving slowly on the CPU; cpu is the stack's
explicit fallback. Metrics: inference latency, a confidence histogram and images by label and review flag
(the review rate is their ratio). Application code: never imports pulumi or infra."""

from __future__ import annotations

import base64
import binascii
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from flask import Flask, Response, jsonify, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from werkzeug.exceptions import HTTPException

from workloads.common.envconfig import SettingError, get_float, get_int, get_str
from workloads.common.modelregistry import VERSION_PATTERN, check_digest, fetch_verified
from workloads.common.objectstore import ObjectStore
from workloads.common.s3settings import S3Settings
from workloads.edgevision import model as m
from workloads.edgevision.synthetic import LABELS
from workloads.edgevision.train import MODEL_PREFIX

import tensorflow as tf  # noqa: E402,I001 - after model (which sets TF's log level)

MAX_IMAGE_BYTES = 1 << 20  # one encoded image; a 64x64 PNG is a few kB
CONFIDENCE_BUCKETS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99, 1.0)
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


@dataclass(frozen=True)
class ServerSettings:
    version: str
    digest: str
    threshold: float = 0.8
    max_batch: int = 32
    accelerator: str = "gpu"
    location: str = "local"
    model_prefix: str = MODEL_PREFIX

    @property
    def max_body_bytes(self) -> int:
        return self.max_batch * (MAX_IMAGE_BYTES * 4 // 3 + 8) + 1024

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ServerSettings:
        digest = get_str(env, "EV_MODEL_DIGEST")
        check_digest(digest, "EV_MODEL_DIGEST")
        return cls(version=get_str(env, "EV_MODEL_VERSION", pattern=VERSION_PATTERN), digest=digest,
                   threshold=get_float(env, "EV_REVIEW_THRESHOLD", 0.8, minimum=0.0, maximum=1.0),
                   max_batch=get_int(env, "EV_MAX_BATCH", 32, minimum=1, maximum=256),  # type: ignore[arg-type]
                   accelerator=get_str(env, "EV_ACCELERATOR", "gpu", pattern=r"gpu|cpu", hint="gpu or cpu"),
                   location=get_str(env, "EV_LOCATION", "local", pattern=r"[A-Za-z0-9._-]{1,63}"),
                   model_prefix=get_str(env, "EV_MODEL_PREFIX", MODEL_PREFIX))


def check_accelerator(accelerator: str, gpus: list[Any] | None = None) -> str:
    """The device the server will run on; SettingError when a GPU is required and none is visible."""
    found = tf.config.list_physical_devices("GPU") if gpus is None else gpus
    if accelerator == "gpu" and not found:
        raise SettingError("EV_ACCELERATOR=gpu but TensorFlow sees no GPU (no nvidia.com/gpu in this pod, or the "
                           "driver/runtime is missing); fix the node, or make the CPU fallback explicit with "
                           "accelerator: cpu for this location in the stack")
    return "gpu" if found and accelerator == "gpu" else "cpu"


@dataclass(frozen=True)
class LoadedModel:
    version: str
    keras: Any
    image_size: int


def load_model(settings: ServerSettings, store: ObjectStore) -> LoadedModel:
    art = fetch_verified(store, settings.model_prefix, settings.version, settings.digest)
    if art.format != m.ARTIFACT_FORMAT:
        raise SettingError(f"model {settings.version} is a {art.format!r} artefact; this server loads "
                           f"{m.ARTIFACT_FORMAT!r}")
    model = m.load(art.artifact)
    return LoadedModel(settings.version, model, int(model.input_shape[1]))


class BadImage(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def decode_images(body: Any, size: int, max_batch: int) -> np.ndarray:
    """The request's images as float32 (n, size, size, 3) in [0, 1]; BadImage naming the field otherwise."""
    if not isinstance(body, dict) or len(body) != 1 or not ({"image", "images"} & body.keys()):
        raise BadImage('the body must be a JSON object with exactly one of "image" (one base64 image) or '
                       '"images" (a list of them)')
    if "image" in body:
        items, field = [body["image"]], "image"
    else:
        items, field = body["images"], "images"
        if not isinstance(items, list) or not items:
            raise BadImage('"images" must be a non-empty list of base64-encoded images', 422)
        if len(items) > max_batch:
            raise BadImage(f'"images" holds {len(items)} images; at most {max_batch} per request', 422)
    out = []
    for i, item in enumerate(items):
        where = field if field == "image" else f"images[{i}]"
        if not isinstance(item, str):
            raise BadImage(f"{where} must be a base64 string", 422)
        if len(item) > MAX_IMAGE_BYTES * 4 // 3 + 8:
            raise BadImage(f"{where} is larger than {MAX_IMAGE_BYTES} bytes", 413)
        try:
            raw = base64.b64decode(item, validate=True)
        except (binascii.Error, ValueError):
            raise BadImage(f"{where} is not valid base64") from None
        try:
            pixels = tf.io.decode_image(raw, channels=3, expand_animations=False).numpy()
        except (tf.errors.InvalidArgumentError, ValueError):
            raise BadImage(f"{where} is not a PNG, JPEG, GIF or BMP image") from None
        if pixels.shape[:2] != (size, size):
            raise BadImage(f"{where} is {pixels.shape[1]}x{pixels.shape[0]} pixels; the model takes {size}x{size}",
                           422)
        out.append(pixels.astype(np.float32) / 255.0)
    return np.stack(out)


class Metrics:
    def __init__(self, location: str) -> None:
        self.registry = CollectorRegistry()
        self.location = location
        self.latency = Histogram("edgevision_inference_seconds", "Model inference time per request (decode excluded).",
                                 ["location"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.confidence = Histogram("edgevision_confidence", "Confidence of each image's predicted label.",
                                    ["location"], buckets=CONFIDENCE_BUCKETS, registry=self.registry)
        self.images = Counter("edgevision_images", "Images inspected, by predicted label and review flag.",
                              ["location", "label", "needs_review"], registry=self.registry)
        self.rejected = Counter("edgevision_rejected_requests", "Requests refused as bad input, by status.",
                                ["location", "status"], registry=self.registry)
        for label in LABELS:  # every series exists from the start, so the review-rate ratio is defined
            for flag in ("true", "false"):
                self.images.labels(location, label, flag)


def classify(model: LoadedModel, images: np.ndarray, threshold: float) -> list[dict[str, Any]]:
    probs = m.predict(model.keras, images)
    out = []
    for row in probs:
        k = int(np.argmax(row))
        conf = float(row[k])
        out.append({"label": LABELS[k], "confidence": round(conf, 6), "defective": k != 0,
                    "needsReview": conf < threshold})
    return out


def openapi_document(max_batch: int, size: int) -> dict[str, Any]:
    b64 = {"type": "string", "format": "byte", "description": f"a base64 PNG/JPEG of {size}x{size} pixels"}
    error = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
    result = {"type": "object", "required": ["label", "confidence", "defective", "needsReview"], "properties": {
        "label": {"type": "string", "enum": list(LABELS)}, "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "defective": {"type": "boolean"}, "needsReview": {"type": "boolean"}}}

    def resp(description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": schema}}}

    errors = {"400": resp("Not JSON, not base64 or not an image.", error),
              "413": resp("An image or the body is too large.", error),
              "415": resp("The body is not application/json.", error),
              "422": resp("Wrong image size or batch.", error)}
    return {
        "openapi": "3.0.3",
        "info": {"title": "edgevision inspection", "version": "1"},
        "paths": {
            "/inspect": {"post": {
                "operationId": "inspect", "summary": "Classify one product photo or a batch.",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
                    {"type": "object", "required": ["image"], "additionalProperties": False,
                     "properties": {"image": b64}},
                    {"type": "object", "required": ["images"], "additionalProperties": False,
                     "properties": {"images": {"type": "array", "minItems": 1, "maxItems": max_batch,
                                               "items": b64}}}]}}}},
                "responses": {"200": resp("One result per image, in order.", {
                    "type": "object", "required": ["model", "results"], "properties": {
                        "model": {"type": "string"}, "results": {"type": "array", "items": result}}}), **errors}}},
            "/model": {"get": {"operationId": "model", "summary": "The served version.", "responses": {
                "200": resp("Version, labels, image size, threshold.", {"type": "object"})}}},
            "/healthz": {"get": {"operationId": "healthz", "summary": "The process answers.",
                                 "responses": {"200": resp("Alive.", {"type": "object"})}}},
            "/readyz": {"get": {"operationId": "readyz", "summary": "The model is loaded.",
                                "responses": {"200": resp("Ready.", {"type": "object"})}}},
            "/openapi.json": {"get": {"operationId": "openapi", "summary": "This document.",
                                      "responses": {"200": resp("OpenAPI 3.", {"type": "object"})}}},
        },
    }


def create_app(settings: ServerSettings, loaded: LoadedModel) -> Flask:
    app = Flask("edgevision")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    metrics = Metrics(settings.location)
    loc = settings.location

    def error(message: str, status: int, headers: dict[str, str] | None = None) -> tuple[Response, int]:
        metrics.rejected.labels(loc, str(status)).inc()
        response = jsonify(error=message)
        response.headers.update(headers or {})
        return response, status

    @app.errorhandler(BadImage)
    def _bad(exc: BadImage) -> tuple[Response, int]:
        return error(str(exc), exc.status)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[Response, int]:
        # keep what the exception's own response says (Allow on a 405, as RFC 9110 requires)
        allow = {k: v for k, v in exc.get_headers() if k == "Allow"}
        return error(exc.description or exc.name, exc.code or 400, allow)

    @app.post("/inspect")
    def inspect() -> Response:
        if not request.is_json:
            raise BadImage("send Content-Type: application/json", 415)
        body = request.get_json(silent=True)
        if body is None:
            raise BadImage("the body is not valid JSON")
        images = decode_images(body, loaded.image_size, settings.max_batch)
        start = time.perf_counter()
        results = classify(loaded, images, settings.threshold)
        metrics.latency.labels(loc).observe(time.perf_counter() - start)
        for r in results:
            metrics.confidence.labels(loc).observe(r["confidence"])
            metrics.images.labels(loc, r["label"], "true" if r["needsReview"] else "false").inc()
        return jsonify(model=loaded.version, results=results)

    @app.get("/model")
    def model_info() -> Response:
        return jsonify(version=loaded.version, labels=list(LABELS), imageSize=loaded.image_size,
                       reviewThreshold=settings.threshold, maxBatch=settings.max_batch, location=loc)

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz() -> Response:  # the app exists only once the model is loaded (the worker loads it first)
        return jsonify(status="ready", version=loaded.version)

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), mimetype=CONTENT_TYPE_LATEST)

    @app.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(openapi_document(settings.max_batch, loaded.image_size))

    return app


def gunicorn_app(env: Mapping[str, str] = os.environ) -> Flask:
    """The WSGI app the gunicorn worker builds: settings, accelerator check, verified model; a bad setting stops
    the pod with the variable named (the worker fails to boot), never a half-working server."""
    settings = ServerSettings.from_env(env)
    check_accelerator(settings.accelerator)
    return create_app(settings, load_model(settings, ObjectStore(S3Settings.from_env(env))))
