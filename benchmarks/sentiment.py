"""The sentiment workload's speed and batch layers, measured on this machine against a real Cassandra 5.0.9 (the
test harness: tests/harness/cassandra.py, jars of scripts/artifacts/jars.lock).

    .venv/bin/python benchmarks/sentiment.py [--tweets 5000] [--batch 500]

1. Micro-batch throughput: `scoring.process_batch` (parse, score with the model, archive, idempotent write) vs the
   raw write of the same rows already scored (the store alone), side by side with their ratio (target >= 0.5: the
   scoring may cost at most as much as the write).
2. Produce-to-visible latency per tweet within a micro-batch (p50/p99): from the batch's start to the row being
   readable in Cassandra.
3. Trainer time vs data size (seed set + N collected tweets).
JSON on the last line. Not measured here yet: streaming throughput vs raw consume on the same Kafka broker (needs
the shared Kafka harness; issue 13 lists it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.harness.cassandra import running_cassandra  # noqa: E402
from workloads.sentiment import model as m  # noqa: E402
from workloads.sentiment import synthetic  # noqa: E402
from workloads.sentiment.results import ResultStore  # noqa: E402
from workloads.sentiment.scoring import ModelWatcher, parse_tweet, process_batch, score  # noqa: E402


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tweets", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=500)
    a = ap.parse_args()
    seed = synthetic.seed_set()
    mdl = m.train([t["text"] for t in seed], [t["label"] for t in seed])
    tweets = synthetic.generate(a.tweets, seed=21)
    values = [json.dumps(t).encode() for t in tweets]
    with running_cassandra(heap="512m") as server:
        server.create_role("bench", "bench-password", "bench")
        cluster = server.cluster("bench", "bench-password")
        session = cluster.connect()
        store = ResultStore(session, "bench")
        store.ensure_schema()
        watcher = ModelWatcher(lambda: ("bench-v1", mdl))
        latencies: list[float] = []
        t0 = time.perf_counter()
        for i in range(0, len(values), a.batch):
            chunk = values[i:i + a.batch]
            start = time.perf_counter()
            process_batch(chunk, i // a.batch, watcher=watcher, write=store.write, archive=lambda k, b: None,
                          raw_prefix="raw")
            done = time.perf_counter()
            latencies.extend([done - start] * len(chunk))  # every row of the batch is readable once write returns
        pipeline_s = time.perf_counter() - t0
        scored = score([parse_tweet(v) for v in values], mdl, "bench-v1")
        t1 = time.perf_counter()
        for i in range(0, len(scored), a.batch):
            store.write(scored[i:i + a.batch])
        raw_s = time.perf_counter() - t1
        cluster.shutdown()
        startup = server.startup_seconds
    train = {}
    for n in (0, 2000, 10000):
        extra = synthetic.generate(n, seed=31)
        texts = [t["text"] for t in seed + extra]
        labels = [t["label"] for t in seed + extra]
        t2 = time.perf_counter()
        m.train(texts, labels)
        train[len(texts)] = round(time.perf_counter() - t2, 3)
    pipe_rate, raw_rate = a.tweets / pipeline_s, a.tweets / raw_s
    print(f"Cassandra start: {startup:.1f} s")
    print(f"micro-batch pipeline (parse+score+write): {pipe_rate:,.0f} tweets/s   raw write: {raw_rate:,.0f} rows/s   "
          f"ratio {pipe_rate / raw_rate:.2f} (target >= 0.5)")
    print(f"batch-to-visible latency: p50 {pct(latencies, 0.5) * 1000:.0f} ms, p99 {pct(latencies, 0.99) * 1000:.0f} ms "
          f"(batches of {a.batch})")
    print("trainer fit time by rows: " + ", ".join(f"{k}: {v} s" for k, v in train.items()))
    print(json.dumps({"tweets": a.tweets, "batch": a.batch, "pipeline_per_s": round(pipe_rate, 1),
                      "raw_write_per_s": round(raw_rate, 1), "ratio": round(pipe_rate / raw_rate, 3),
                      "latency_p50_ms": round(pct(latencies, 0.5) * 1000, 1),
                      "latency_p99_ms": round(pct(latencies, 0.99) * 1000, 1),
                      "latency_mean_ms": round(statistics.mean(latencies) * 1000, 1),
                      "train_seconds_by_rows": train, "cassandra_start_s": startup}, sort_keys=True))


if __name__ == "__main__":
    main()
