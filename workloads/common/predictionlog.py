"""Sampled prediction payloads to object storage, with the model version, so models can be judged on outcomes.

Serving pods call ``record`` per classified batch; a Bernoulli sample of the instances (``rate``) is buffered and
written as one JSON-lines object per flush (every ``max_records`` or ``interval`` seconds) at

    <prefix>/date=YYYY-MM-DD/hour=HH/version=<v>/<host>-<pid>-<n>.jsonl

Joining these with the labels that arrive later (chargebacks) by ``request_id``/features and ``version`` is how
a candidate is judged on outcomes rather than on offline metrics. Logging never fails a request: a full buffer
drops (counted), a failed write is counted and logged. The flusher thread starts lazily in the process that
records (safe with gunicorn's preload: the master never records). Never imports pulumi or infra.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np

from workloads.common.objectstore import ObjectStore, ObjectStoreError

log = logging.getLogger("common.predictionlog")


class PredictionLog:
    def __init__(self, store: ObjectStore, prefix: str, rate: float, *, max_records: int = 5000,
                 interval: float = 60.0, max_buffer: int = 50_000,
                 on_outcome: Callable[[str, int], None] | None = None, clock: Callable[[], datetime] | None = None,
                 rng: random.Random | None = None) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"prediction sample rate {rate} must be between 0 and 1")
        self.store, self.prefix, self.rate = store, prefix.strip("/"), rate
        self.max_records, self.interval, self.max_buffer = max_records, interval, max_buffer
        self._on_outcome = on_outcome or (lambda _outcome, _n: None)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._buffer: list[dict[str, Any]] = []
        self._pid = -1
        self._seq = 0
        self._wake = threading.Event()

    def record(self, version: str, rows: np.ndarray, proba: np.ndarray, labels: np.ndarray) -> None:
        """Sample ``rows`` (one per instance) with their probability and predicted label under ``version``."""
        if self.rate <= 0:
            return
        picked = [i for i in range(len(rows)) if self.rate >= 1 or self._rng.random() < self.rate]
        if not picked:
            return
        now = self._clock().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        entries = [{"time": now, "version": version, "features": rows[i].tolist(),
                    "probability": float(proba[i]), "prediction": int(labels[i])} for i in picked]
        with self._lock:
            self._ensure_flusher()
            room = self.max_buffer - len(self._buffer)
            if room < len(entries):
                self._on_outcome("dropped", len(entries) - max(room, 0))
                entries = entries[:max(room, 0)]
            self._buffer.extend(entries)
            full = len(self._buffer) >= self.max_records
        if full:
            self._wake.set()

    def _ensure_flusher(self) -> None:
        if self._pid != os.getpid():  # first record in this process (or after a fork)
            self._pid = os.getpid()
            threading.Thread(target=self._run, name="prediction-log", daemon=True).start()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            self.flush()

    def flush(self) -> int:
        """Write what is buffered, one object per version; returns how many records were written."""
        with self._lock:
            pending, self._buffer = self._buffer, []
        written = 0
        by_version: dict[str, list[dict[str, Any]]] = {}
        for entry in pending:
            by_version.setdefault(entry["version"], []).append(entry)
        now = self._clock()
        for version, entries in by_version.items():
            self._seq += 1
            key = (f"{self.prefix}/date={now:%Y-%m-%d}/hour={now:%H}/version={version}/"
                   f"{socket.gethostname()}-{os.getpid()}-{int(time.time() * 1000)}-{self._seq}.jsonl")
            body = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in entries).encode()
            try:
                self.store.put_bytes(key, body, "application/x-ndjson")
            except ObjectStoreError as exc:
                log.warning("could not write %d sampled predictions to %s: %s", len(entries), key, exc)
                self._on_outcome("failed", len(entries))
                continue
            written += len(entries)
            self._on_outcome("written", len(entries))
        return written
