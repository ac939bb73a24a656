"""Edge vision: images/s over HTTP (gunicorn on loopback, the production server) beside in-process ``predict`` on
the same images, held-out accuracy, and training time for 1 vs 2 MultiWorkerMirroredStrategy workers.

The model is trained here (2 local workers, the TFJob's strategy and TF_CONFIG shape), published to an
in-process S3 server (moto), and loaded by gunicorn exactly as at an edge location (digest-verified). One client
connection (keep-alive) posts pre-encoded PNGs (what a camera sends) at batch 1 and 32; the in-process side calls
the same ``classify`` on the decoded arrays. Rounds alternate the two sides. Target: HTTP >= 0.5 of in-process.
Where TensorFlow sees a GPU the server runs with EV_ACCELERATOR=gpu and the figures are the GPU's (the JSON says
which device). Bounded loops; prints one JSON object on its last line.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import logging  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from workloads.common.modelregistry import publish, sha256_hex  # noqa: E402
from workloads.common.objectstore import ObjectStore  # noqa: E402
from workloads.common.s3settings import S3Settings  # noqa: E402
from workloads.edgevision import model as m  # noqa: E402
from workloads.edgevision import server as srv  # noqa: E402
from workloads.edgevision.synthetic import make_dataset, to_uint8  # noqa: E402
from workloads.edgevision.train import MODEL_PREFIX  # noqa: E402

BATCH_SIZES = (1, 32)
ROUNDS = 3
IMAGES = {1: 200, 32: 1024}  # per measurement, per side
TRAIN = {"EV_TRAIN_IMAGES": "2048", "EV_HELDOUT_IMAGES": "1000", "EV_EPOCHS": "6", "EV_BATCH_PER_WORKER": "32"}
TARGET_RATIO = 0.5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def train_workers(n: int, s3_env: dict[str, str]) -> tuple[float, dict]:
    """Wall time of a training run with n worker processes (the chief's report), as the TFJob runs it."""
    hosts = [f"127.0.0.1:{free_port()}" for _ in range(n)]
    procs = []
    start = time.perf_counter()
    for i in range(n):
        env = {**os.environ, **TRAIN, **(s3_env if i == 0 else {}), "EV_RUN_ID": f"bench{n}w",
               "EV_MIN_ACCURACY": "0", "PYTHONPATH": str(REPO),
               "TF_CONFIG": json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}})}
        procs.append(subprocess.Popen([sys.executable, "-m", "workloads.edgevision.train"], cwd=REPO, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=1800) for p in procs]
    wall = time.perf_counter() - start
    for p, (_, err) in zip(procs, outs):
        if p.returncode != 0:
            raise SystemExit(f"training with {n} worker(s) failed:\n{err[-2000:]}")
    return wall, json.loads(outs[0][0].strip().splitlines()[-1])


def post(conn: http.client.HTTPConnection, body: bytes) -> dict:
    try:
        conn.request("POST", "/inspect", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
    except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
        conn.close()  # the server closed an idle keep-alive connection: one new one (counted in the timing)
        conn.request("POST", "/inspect", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
    data = resp.read()
    if resp.status != 200:
        raise SystemExit(f"POST /inspect answered {resp.status}: {data[:300]!r}")
    return json.loads(data)


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the in-process S3 server logs every request
    gpus = tf.config.list_physical_devices("GPU")
    device = "gpu" if gpus else "cpu"
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    s3.start()
    host, port = s3.get_host_and_port()
    s3_env = {"S3_ENDPOINT_URL": f"http://{host}:{port}", "BUCKET_NAME": "edgevision-bench",
              "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    store = ObjectStore(S3Settings.from_env(s3_env))
    store.ensure_bucket()
    server = None
    try:
        t1, r1 = train_workers(1, s3_env)
        t2, r2 = train_workers(2, s3_env)
        # serve the 2-worker run's model (what the TFJob would have published)
        version = "bench-served"
        art = store.get_bytes(f"{MODEL_PREFIX}/{r2['version']}.keras") if r2.get("published") else None
        if art is None:
            raise SystemExit(f"the 2-worker run did not publish: {r2.get('reason')}")
        key = f"{MODEL_PREFIX}/{version}.keras"
        digest = publish(store, MODEL_PREFIX, version, art, {"version": version, "artifact": {
            "key": key, "sha256": sha256_hex(art), "size": len(art), "format": "keras"}})
        keras_model = m.load(art)
        loaded = srv.LoadedModel(version, keras_model, 32)

        http_port = free_port()
        env = {**os.environ, **s3_env, "EV_MODEL_VERSION": version, "EV_MODEL_DIGEST": digest,
               "EV_ACCELERATOR": device, "EV_PORT": str(http_port), "EV_MAX_BATCH": "32", "EV_LOCATION": "bench",
               "PYTHONPATH": str(REPO)}
        log = tempfile.TemporaryFile()
        server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(REPO / "workloads/edgevision/gunicorn.conf.py"),
                                   "--access-logfile", "/dev/null", "workloads.edgevision.server:gunicorn_app()"],
                                  cwd=REPO, env=env, stdout=log, stderr=log)
        deadline = time.time() + 180
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", http_port, timeout=5)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline or server.poll() is not None:
                log.seek(0)
                raise SystemExit(f"gunicorn did not become ready:\n{log.read()[-2000:].decode(errors='replace')}")
            time.sleep(0.5)

        x, _ = make_dataset(max(IMAGES.values()), seed=4242)
        pixels = to_uint8(x)
        pngs = [base64.b64encode(tf.io.encode_png(p).numpy()).decode() for p in pixels]
        floats = pixels.astype(np.float32) / 255.0
        conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=60)
        inproc: dict[int, list[float]] = {b: [] for b in BATCH_SIZES}
        remote: dict[int, list[float]] = {b: [] for b in BATCH_SIZES}
        for b in BATCH_SIZES:  # warm both sides (graph tracing, connection)
            srv.classify(loaded, floats[:b], 0.8)
            post(conn, json.dumps({"images": pngs[:b]}).encode())
        for _ in range(ROUNDS):
            for b in BATCH_SIZES:
                n = IMAGES[b]
                bodies = [json.dumps({"images": pngs[i:i + b]}).encode() for i in range(0, n, b)]
                start = time.perf_counter()
                for i in range(0, n, b):
                    srv.classify(loaded, floats[i:i + b], 0.8)
                inproc[b].append(n / (time.perf_counter() - start))
                start = time.perf_counter()
                for body in bodies:
                    post(conn, body)
                remote[b].append(n / (time.perf_counter() - start))
        hx, hy = make_dataset(int(TRAIN["EV_HELDOUT_IMAGES"]), seed=1_000_003)
        accuracy = m.accuracy(keras_model, hx, hy)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        s3.stop()

    med = {b: statistics.median(v) for b, v in inproc.items()}
    rem = {b: statistics.median(v) for b, v in remote.items()}
    ratio = {b: rem[b] / med[b] for b in BATCH_SIZES}
    for b in BATCH_SIZES:
        print(f"batch {b:>3}: in-process {med[b]:>8.0f} images/s   HTTP POST /inspect {rem[b]:>8.0f} images/s   "
              f"ratio {ratio[b]:.3f}")
    print(f"held-out accuracy: {accuracy:.4f} ({TRAIN['EV_HELDOUT_IMAGES']} images)")
    print(f"training ({TRAIN['EV_TRAIN_IMAGES']} images, {TRAIN['EV_EPOCHS']} epochs): 1 worker {t1:.1f} s wall "
          f"({r1['trainSeconds']:.1f} s in the loop), 2 workers {t2:.1f} s wall ({r2['trainSeconds']:.1f} s); "
          f"speed-up {t1 / t2:.2f}x on {os.cpu_count()} CPU(s)")
    print(json.dumps({
        "device": device, "gpus": [g.name for g in gpus], "cpus": os.cpu_count(),
        "server": "gunicorn gthread x1 (threads 4) on loopback, one keep-alive client, PNG 32x32 in JSON",
        "rounds": ROUNDS, "images_per_measurement": {str(b): n for b, n in IMAGES.items()},
        "inproc_images_per_s": {str(b): round(med[b]) for b in BATCH_SIZES},
        "http_images_per_s": {str(b): round(rem[b]) for b in BATCH_SIZES},
        "ratio_http_vs_inproc": {str(b): round(ratio[b], 3) for b in BATCH_SIZES},
        "target_ratio": TARGET_RATIO, "meets_target": {str(b): ratio[b] >= TARGET_RATIO for b in BATCH_SIZES},
        "heldout_accuracy": round(accuracy, 4), "heldout_accuracy_1_worker": r1["heldoutAccuracy"],
        "heldout_accuracy_2_workers": r2["heldoutAccuracy"],
        "train_wall_s": {"1": round(t1, 2), "2": round(t2, 2)},
        "train_loop_s": {"1": r1["trainSeconds"], "2": r2["trainSeconds"]},
        "train_speedup_2_vs_1": round(t1 / t2, 3),
    }))


if __name__ == "__main__":
    main()
