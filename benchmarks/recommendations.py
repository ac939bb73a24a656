"""Recommendations: ALS fit time and quality vs data size, the API over HTTP vs in-process, the streaming job's
throughput vs a raw consumer on the same broker.

1. ALS (pyspark local[2], the job's own `evaluate`): fit seconds, RMSE vs the item-mean baseline and precision@10
   vs popularity on synthetic ratings with 4 latent groups at three sizes.
2. API: POST /recommendations with 200 users per request to gunicorn (the image's command: gthread, 1 worker,
   8 threads) on loopback, the version loaded from an in-process S3 server (moto) and verified as in production,
   beside the same work in this process (lookup + the same JSON body). Ratio = HTTP users/s / in-process users/s
   (target >= 0.5).
3. Streaming (needs the real Kafka harness and the locked Spark jars; skipped with the reason otherwise): the
   job's query (parse, per-user features, snapshot) over N clicks with trigger availableNow vs kafka-python
   consuming the same N records. Ratio = job records/s / raw records/s (target >= 0.5).

Prints a side-by-side table and one JSON object on its last line.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from workloads.common.objectstore import ObjectStore  # noqa: E402
from workloads.common.s3settings import S3Settings  # noqa: E402
from workloads.recommendations import als_job, recsstore, synthetic  # noqa: E402
from workloads.recommendations.ratings import to_text  # noqa: E402

SIZES = ((150, 60), (400, 160), (1000, 400))  # (users, products); 25 ratings per user
API_USERS, API_BATCH, API_REQUESTS, TOP_N = 5000, 200, 150, 10
STREAM_RECORDS = 100_000
TARGET = 0.5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def jars() -> list[str]:
    from tests.harness import artifacts
    return [] if artifacts.missing_reason("spark") else [str(p) for p in artifacts.classpath("spark")]


def spark_session(tmp: str) -> Any:
    from pyspark.sql import SparkSession
    b = SparkSession.builder.master("local[2]").appName("bench-recommendations")
    conf = {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4", "spark.driver.memory": "2g",
            "spark.local.dir": tmp}
    if jars():
        conf["spark.jars"] = ",".join(jars())
    for k, v in conf.items():
        b = b.config(k, v)
    session = b.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def bench_als(spark: Any, tmp: Path) -> list[dict[str, Any]]:
    from pyspark.ml.recommendation import ALS
    rows = []
    # one untimed fit first: the JVM's JIT and Spark's first-job set-up would otherwise land on the first size
    warm, _ = synthetic.ratings(users=SIZES[0][0], items=SIZES[0][1], groups=4, per_user=25, seed=1)
    (tmp / "warm.dat").write_text(to_text(warm))
    ALS(rank=8, maxIter=3, userCol="user", itemCol="item", ratingCol="rating", numUserBlocks=2,
        numItemBlocks=2).fit(als_job.read_ratings(spark, str(tmp / "warm.dat"), 0.0, 1)).userFactors.count()
    for users, items in SIZES:
        data, _ = synthetic.ratings(users=users, items=items, groups=4, per_user=25, seed=11)
        path = tmp / f"ratings-{users}.dat"
        path.write_text(to_text(data))
        s = als_job.AlsSettings(ratings_path=str(path), rank=8, max_iter=10, min_ratings=1)
        df = als_job.read_ratings(spark, s.ratings_path, 0.0, 1).cache()
        train, test = df.randomSplit([0.8, 0.2], seed=s.seed)
        train, test = train.cache(), test.cache()
        train.count(), test.count()
        started = time.perf_counter()
        model = ALS(rank=s.rank, regParam=s.reg_param, maxIter=s.max_iter, userCol="user", itemCol="item",
                    ratingCol="rating", coldStartStrategy="drop", seed=s.seed,
                    numUserBlocks=2, numItemBlocks=2).fit(train)
        model.userFactors.count()
        fit = time.perf_counter() - started
        q = als_job.evaluate(spark, model, train, test, s)
        rows.append({"ratings": len(data), "users": users, "products": items, "fit_seconds": round(fit, 2),
                     "rmse": round(q.rmse, 4), "rmse_item_mean": round(q.rmse_item_mean, 4),
                     "precision_at_10": round(q.precision_at_k, 4),
                     "precision_popularity": round(q.precision_popularity, 4), "publishable": q.publishable})
    return rows


def bench_api(tmp: Path) -> dict[str, Any]:
    from moto.server import ThreadedMotoServer

    from workloads.recommendations.api import _items

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"S3_ENDPOINT_URL": f"http://{host}:{port}", "BUCKET_NAME": f"bench-{uuid.uuid4().hex[:8]}",
           "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
    store = ObjectStore(S3Settings.from_env(env))
    store.ensure_bucket()
    recs = {u: [(u * 7 + i, 5.0 - i / 10) for i in range(TOP_N)] for u in range(API_USERS)}
    recsstore.publish(store, recsstore.DEFAULT_PREFIX, "bench-v1", recsstore.encode(sorted(recs.items())),
                      {"createdAt": "2026-12-01T00:00:00+00:00"})
    api_port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", "1", "--threads", "8", "--keep-alive", "30",
         "-b", f"127.0.0.1:{api_port}", "workloads.recommendations.api:create_app()"],
        cwd=REPO, env={**os.environ, **env, "RS_MAX_BATCH": str(API_BATCH)}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", api_port, timeout=10)
        deadline = time.monotonic() + 60
        while True:
            try:
                conn.request("GET", "/readyz")
                r = conn.getresponse()
                r.read()
                if r.status == 200:
                    break
            except OSError:
                conn = http.client.HTTPConnection("127.0.0.1", api_port, timeout=10)
            if time.monotonic() > deadline:
                raise RuntimeError("the API did not become ready in 60 s")
            time.sleep(0.2)
        bodies = [json.dumps({"users": list(range((i * API_BATCH) % API_USERS, (i * API_BATCH) % API_USERS
                                                  + API_BATCH)), "n": TOP_N}) for i in range(API_REQUESTS)]
        published = recsstore.load(store, recsstore.DEFAULT_PREFIX, *recsstore.newest_pointer(
            store, recsstore.DEFAULT_PREFIX))
        http_rates, local_rates = [], []
        for _ in range(3):  # alternate the sides
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", api_port, timeout=10)  # one keep-alive connection
            started = time.perf_counter()
            for body in bodies:
                conn.request("POST", "/recommendations", body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                assert resp.status == 200, resp.read()
                resp.read()
            http_rates.append(API_REQUESTS * API_BATCH / (time.perf_counter() - started))
            started = time.perf_counter()
            for body in bodies:
                req = json.loads(body)
                results = [{"user": u, "version": published.version,
                            "items": _items(published.recommendations[u], req["n"])} for u in req["users"]]
                json.dumps({"version": published.version, "results": results, "unknownUsers": []})
            local_rates.append(API_REQUESTS * API_BATCH / (time.perf_counter() - started))
        http_best, local_best = max(http_rates), max(local_rates)
        return {"users_per_request": API_BATCH, "http_users_per_s": round(http_best),
                "in_process_users_per_s": round(local_best), "ratio": round(http_best / local_best, 3),
                "target": TARGET}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        server.stop()


def bench_stream(spark: Any, tmp: Path) -> dict[str, Any]:
    from tests.harness import kafka as kafka_harness

    java, why = kafka_harness.find_java()
    missing = why if java is None else kafka_harness.artifacts.missing_reason(kafka_harness.JAR_SET)
    if missing or not jars():
        return {"skipped": missing or "the Spark jars are not fetched"}
    from kafka import KafkaConsumer, KafkaProducer

    from workloads.common.kafkasettings import KafkaSettings
    from workloads.recommendations.stream_job import StreamSettings, start

    s_struct = synthetic.structure(2000, 500, 4, seed=1)
    clicks = synthetic.clicks(s_struct, STREAM_RECORDS, seed=2)
    with kafka_harness.running_broker() as broker:
        topic = "clicks-bench"
        broker.create_topic(topic, partitions=3)
        user = broker.user("bench")
        producer = KafkaProducer(acks=1, linger_ms=20, batch_size=256 * 1024, **broker.client_kwargs(user))
        for c in clicks:
            producer.send(topic, c.line().encode())
        producer.flush()
        producer.close()
        # raw: one consumer reads every record (values decoded, as the job's first step)
        started = time.perf_counter()
        consumer = KafkaConsumer(topic, auto_offset_reset="earliest", enable_auto_commit=False,
                                 group_id=f"raw-{uuid.uuid4().hex[:6]}", fetch_max_bytes=16 * 2**20,
                                 **broker.client_kwargs(user))
        seen = 0
        while seen < STREAM_RECORDS:
            for records in consumer.poll(timeout_ms=1000, max_records=50_000).values():
                seen += sum(1 for r in records if r.value.decode())
        consumer.close()
        raw = STREAM_RECORDS / (time.perf_counter() - started)
        # the job's query over the same records, until the source is drained
        ks = KafkaSettings(bootstrap=broker.bootstrap, security_protocol="SASL_SSL", username=user.username,
                           password=user.password, ca_file=str(broker.ca_file))
        settings = StreamSettings(checkpoint=str(tmp / "ckpt"), output_path=str(tmp / "live"), topic=topic,
                                  kafka=ks, max_per_trigger=STREAM_RECORDS)
        started = time.perf_counter()
        start(spark, settings, lambda: None, available_now=True).awaitTermination()
        job = STREAM_RECORDS / (time.perf_counter() - started)
    return {"records": STREAM_RECORDS, "raw_records_per_s": round(raw), "job_records_per_s": round(job),
            "ratio": round(job / raw, 3), "target": TARGET}


def main(parts: list[str]) -> None:
    """`parts`: any of als, api, stream (default all)."""
    parts = parts or ["als", "api", "stream"]
    skipped = {"skipped": "not asked for"}
    with tempfile.TemporaryDirectory(prefix="bench-recs-") as d:
        tmp = Path(d)
        spark = spark_session(str(tmp / "spark"))
        als = bench_als(spark, tmp) if "als" in parts else []
        api = bench_api(tmp) if "api" in parts else skipped
        stream = bench_stream(spark, tmp) if "stream" in parts else skipped
        spark.stop()
    print(f"{'ratings':>8} {'fit s':>7} {'RMSE':>7} {'item-mean':>9} {'P@10':>6} {'popular':>7}")
    for r in als:
        print(f"{r['ratings']:>8} {r['fit_seconds']:>7} {r['rmse']:>7} {r['rmse_item_mean']:>9} "
              f"{r['precision_at_10']:>6} {r['precision_popularity']:>7}")
    if "skipped" in api:
        print(f"API: skipped ({api['skipped']})")
    else:
        print(f"API, {API_BATCH} users/request: HTTP {api['http_users_per_s']} users/s | in-process "
              f"{api['in_process_users_per_s']} users/s | ratio {api['ratio']} (target >= {TARGET})")
    if "skipped" in stream:
        print(f"streaming: skipped ({stream['skipped']})")
    else:
        print(f"streaming, {stream['records']} clicks: job {stream['job_records_per_s']} rec/s | raw consume "
              f"{stream['raw_records_per_s']} rec/s | ratio {stream['ratio']} (target >= {TARGET})")
    print(json.dumps({"als": als, "api": api, "stream": stream}))


if __name__ == "__main__":
    main(sys.argv[1:])
