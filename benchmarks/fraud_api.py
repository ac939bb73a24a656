"""Fraud API throughput and latency: real HTTP to gunicorn on loopback beside in-process ``predict`` on the same batches.

The model is the trainer's default forest (100 trees) fitted on synthetic transactions and published to an
in-process S3 server (moto), so gunicorn loads and verifies it exactly as in production. One client
connection (keep-alive) sends the batches sequentially; the in-process side calls the same
``LoadedModel.classify`` on the same arrays in this process. Rounds alternate the two sides.

Figures: rows/s for batch sizes 1, 32 and 256 on both sides and their ratio (target: HTTP >= 0.5 of
in-process at batch 256), single-row GET latency p50/p99, and the report's design (one row per
``GET /classify``) as the baseline the batch endpoint is compared with. Loopback only; bounded loops.
Prints one JSON object on its last line.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from workloads.common.objectstore import ObjectStore  # noqa: E402
from workloads.common.s3settings import S3Settings  # noqa: E402
from workloads.fraud import registry, synthetic, trainer  # noqa: E402

BATCH_SIZES = (1, 32, 256)
ROUNDS = 3
# Rows per measurement (per side, per round): fewer for small batches, where each call costs the most.
ROWS = {1: 200, 32: 1024, 256: 4096}
REPORT_ROWS = 200
LATENCY_REQUESTS = 300
TARGET_RATIO_AT_256 = 0.5
VERSION = "bench-v1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_model() -> tuple[registry.LoadedModel, bytes, dict]:
    config = trainer.TrainerConfig(data_prefix="bench")  # the trainer's defaults: 100 trees, min leaf 3
    rows = synthetic.generate(6000, seed=3)
    x = synthetic.feature_matrix(rows, config.features)
    y = np.array([r["is_fraud"] for r in rows])
    # The forest: the heavier of the trainer's two model families (FF_MODEL_TYPE), so the ratios stay comparable.
    estimator = trainer.fit_forest(x, y, config)
    artifact, fmt = registry.serialize_estimator(estimator)
    metadata = trainer.build_metadata(version=VERSION, artifact=artifact, fmt=fmt, config=config,
                                      metrics={"roc_auc": 0.0}, quality={}, snapshot={"rows": len(rows)},
                                      created_at=datetime.now(UTC),
                                      artifact_key=registry.artifact_key("models/fraud", VERSION, fmt))
    return registry.model_from_bytes(VERSION, artifact, metadata), artifact, metadata


class Client:
    """One keep-alive connection, as a scorer or a payment service would hold."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def get(self, path: str) -> dict:
        self.conn.request("GET", path)
        response = self.conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status}: {body[:200]!r}")
        return json.loads(body)

    def post(self, path: str, payload: bytes) -> dict:
        self.conn.request("POST", path, body=payload, headers={"Content-Type": "application/json"})
        response = self.conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"POST {path}: HTTP {response.status}: {body[:200]!r}")
        return json.loads(body)


def query(row: np.ndarray) -> str:
    f1, f2, f3 = (float(v) for v in row[:3])
    return f"/classify?f1={f1!r}&f2={f2!r}&f3={f3!r}"


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    in_a_row = 0
    while in_a_row < 6:  # both workers load the model independently
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError("gunicorn did not become ready")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            status = conn.getresponse().status
            conn.close()
        except OSError:
            status = 0
        in_a_row = in_a_row + 1 if status == 200 else 0
        time.sleep(0.05)


def main() -> None:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request lines

    model, artifact, metadata = build_model()
    pool = synthetic.feature_matrix(synthetic.generate(max(ROWS.values()), seed=99), model.feature_names)
    batches = {size: [pool[i:i + size] for i in range(0, ROWS[size], size)] for size in BATCH_SIZES}
    # The client's own JSON encoding is part of an HTTP call's cost; build payloads inside the timed loop.

    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    s3.start()
    host, s3_port = s3.get_host_and_port()
    env_s3 = {"S3_ENDPOINT_URL": f"http://{host}:{s3_port}", "BUCKET_NAME": "bench-models",
              "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
    store = ObjectStore(S3Settings.from_env(env_s3))
    store.ensure_bucket()
    digest = registry.publish(store, "models/fraud", VERSION, artifact, metadata)

    port = free_port()
    workers = int(os.environ.get("FF_API_WORKERS", "2"))
    metrics_dir = tempfile.mkdtemp(prefix="fraud-bench-metrics-")
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("FF_", "PROMETHEUS_"))}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(REPO / "workloads/fraud/gunicorn.conf.py"),
         "workloads.fraud.api:gunicorn_app()"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**base_env, **env_s3, "FF_CLF_VERSION": VERSION, "FF_CLF_DIGEST": digest, "FF_API_HOST": "127.0.0.1",
             "FF_API_PORT": str(port),
             "FF_API_WORKERS": str(workers), "FF_METRICS_DIR": metrics_dir, "FF_API_ACCESS_LOG": "false",
             "FF_MAX_BATCH": "1024"})
    try:
        wait_ready(port, server)
        client = Client(port)
        # Same answers on both sides before anything is timed.
        check = pool[:256]
        remote = client.post("/classify", json.dumps({"instances": check.tolist()}).encode())
        local_labels, local_proba = model.classify(check)
        assert remote["predictions"] == local_labels.tolist()
        assert np.allclose(remote["probabilities"], local_proba)
        for size in BATCH_SIZES:  # warm-up
            model.classify(batches[size][0])
            client.post("/classify", json.dumps({"instances": batches[size][0].tolist()}).encode())

        inproc: dict[int, list[float]] = {s: [] for s in BATCH_SIZES}
        remote_rps: dict[int, list[float]] = {s: [] for s in BATCH_SIZES}
        report_rps: list[float] = []
        for _ in range(ROUNDS):
            for size in BATCH_SIZES:
                t = time.perf_counter()
                for batch in batches[size]:
                    model.classify(batch)
                inproc[size].append(ROWS[size] / (time.perf_counter() - t))

                t = time.perf_counter()
                for batch in batches[size]:
                    answer = client.post("/classify", json.dumps({"instances": batch.tolist()}).encode())
                    assert len(answer["predictions"]) == len(batch)
                remote_rps[size].append(ROWS[size] / (time.perf_counter() - t))

            # The report's design: one transaction per GET with query parameters.
            rows = pool[:REPORT_ROWS]
            t = time.perf_counter()
            for row in rows:
                client.get(query(row))
            report_rps.append(len(rows) / (time.perf_counter() - t))

        latencies, inproc_latencies = [], []
        for row in pool[:LATENCY_REQUESTS]:  # interleaved, so load from elsewhere hits both alike
            t = time.perf_counter()
            client.get(query(row))
            latencies.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            model.classify(row.reshape(1, -1))
            inproc_latencies.append((time.perf_counter() - t) * 1000)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        s3.stop()

    med = {s: statistics.median(v) for s, v in inproc.items()}
    rem = {s: statistics.median(v) for s, v in remote_rps.items()}
    ratio = {s: rem[s] / med[s] for s in BATCH_SIZES}
    report = statistics.median(report_rps)
    q = statistics.quantiles(latencies, n=100)
    qi = statistics.quantiles(inproc_latencies, n=100)
    for s in BATCH_SIZES:
        print(f"batch {s:>4}: in-process {med[s]:>9.0f} rows/s   HTTP POST {rem[s]:>9.0f} rows/s   ratio {ratio[s]:.3f}")
    print(f"report design (one row per GET): {report:.0f} rows/s; batch 256 is {rem[256] / report:.1f}x that")
    print(f"single-row GET latency: p50 {q[49]:.2f} ms, p99 {q[98]:.2f} ms (in-process predict p50 {qi[49]:.2f} ms)")
    print(json.dumps({
        "server": f"gunicorn sync x{workers} on loopback, one keep-alive client", "model": "RandomForest 100 trees, 3 features",
        "rounds": ROUNDS, "rows_per_measurement": {str(s): n for s, n in ROWS.items()},
        "inproc_rows_per_s": {str(s): round(med[s]) for s in BATCH_SIZES},
        "http_rows_per_s": {str(s): round(rem[s]) for s in BATCH_SIZES},
        "ratio_http_vs_inproc": {str(s): round(ratio[s], 3) for s in BATCH_SIZES},
        "report_get_rows_per_s": round(report), "batch256_vs_report_get": round(rem[256] / report, 2),
        "single_row_get_ms": {"p50": round(q[49], 3), "p99": round(q[98], 3)},
        "inproc_single_row_ms": {"p50": round(qi[49], 3), "p99": round(qi[98], 3)},
        "target_ratio_at_256": TARGET_RATIO_AT_256, "meets_target": ratio[256] >= TARGET_RATIO_AT_256,
    }))


if __name__ == "__main__":
    main()
