"""Fault test of the speed layer against a real Cassandra (tests/harness/cassandra.py) and a real Spark 4.0.4
Structured Streaming query: the driver is killed in the middle of a micro-batch (half its rows written), the job
is started again on the same checkpoint, and afterwards every tweet is in Cassandra exactly once, scored, with the
model version; the replayed batch's raw archive object is rewritten whole.

Two sources: the real Apache Kafka broker of tests/harness/kafka.py (SASL_SSL + SCRAM-SHA-512, as the platform's
Strimzi listener; Spark's Kafka source from the locked `spark` jars, 40 records per micro-batch) and Spark's file
source (one JSON-lines file per micro-batch), which exercises the same foreachBatch path and checkpoint recovery
without a broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.harness import artifacts
from tests.harness.cassandra import LOCAL_DC
from workloads.sentiment import model as m
from workloads.sentiment import synthetic

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
REPO = Path(__file__).resolve().parents[3]
BATCHES, PER_BATCH = 3, 40


def _rows(server, keyspace: str) -> list[tuple]:
    cluster = server.cluster()
    try:
        s = cluster.connect()
        return [tuple(r) for r in s.execute(f"SELECT tweet_id, sentiment, score, model_version FROM {keyspace}.tweet_sentiment")]
    finally:
        cluster.shutdown()


@pytest.fixture(params=["kafka", "files"])
def source(request, tmp_path):
    """(environment of the stream's source, the tweets it will deliver in three batches of PER_BATCH)."""
    tweets = synthetic.generate(BATCHES * PER_BATCH, seed=5)
    if request.param == "files":
        d = tmp_path / "source"
        d.mkdir()
        for b in range(BATCHES):
            (d / f"part-{b}.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tweets[b * PER_BATCH:(b + 1) * PER_BATCH]))
            os.utime(d / f"part-{b}.jsonl", (1_700_000_000 + b, 1_700_000_000 + b))  # file source orders by mtime
        return {"SENTIMENT_SOURCE": "files", "SENTIMENT_SOURCE_DIR": str(d)}, tweets
    missing = artifacts.missing_reason("spark")
    if missing:
        pytest.skip(f"Spark's Kafka source jars: {missing}")
    broker = request.getfixturevalue("kafka_broker")
    from kafka import KafkaProducer

    from workloads.sentiment.producer import replay

    topic = f"tweets-fault-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=1)
    user = broker.user("sentiment-fault")
    producer = KafkaProducer(acks="all", **broker.client_kwargs(user))
    try:
        assert replay(producer, topic, tweets) == len(tweets)
    finally:
        producer.close()
    jars = ",".join(str(p) for p in artifacts.classpath("spark"))
    return {**broker.env("SENTIMENT_KAFKA_", user, tmp_path), "SENTIMENT_SOURCE": "kafka", "SENTIMENT_TOPIC": topic,
            "SENTIMENT_MAX_PER_TRIGGER": str(PER_BATCH), "PYSPARK_SUBMIT_ARGS": f"--jars {jars} pyspark-shell"}, tweets


def test_killed_mid_batch_then_restarted_scores_every_tweet_exactly_once(cassandra_server, tmp_path, source):
    source_env, tweets = source
    keyspace = f"fault_{source_env['SENTIMENT_SOURCE']}"
    cassandra_server.create_role(keyspace, "fault-test-pass", keyspace)
    models, raw = tmp_path / "models", tmp_path / "raw"
    for d in (models, raw):
        d.mkdir()
    seed = synthetic.seed_set()
    (models / "20261101T000000Z.json").write_bytes(m.train([t["text"] for t in seed], [t["label"] for t in seed]).to_bytes())
    env = {**os.environ, **source_env, "PYTHONPATH": str(REPO),
           "SENTIMENT_CHECKPOINT": str(tmp_path / "checkpoint"), "SENTIMENT_TRIGGER_SECONDS": "1",
           "SENTIMENT_MODEL_DIR": str(models), "SENTIMENT_RAW_DIR": str(raw), "CASSANDRA_HOST": cassandra_server.host,
           "CASSANDRA_PORT": str(cassandra_server.port), "CASSANDRA_KEYSPACE": keyspace,
           "CASSANDRA_LOCAL_DC": LOCAL_DC, "CASSANDRA_USERNAME": keyspace,
           "CASSANDRA_PASSWORD": "fault-test-pass", "CRASH_BATCH": "1", "PYSPARK_PYTHON": sys.executable,
           "SPARK_LOCAL_IP": "127.0.0.1"}
    crashed = subprocess.run([sys.executable, str(Path(__file__).with_name("crashing_stream.py"))], env=env,
                             capture_output=True, text=True, timeout=600)
    assert crashed.returncode == -9, crashed.stderr[-3000:]
    before = _rows(cassandra_server, keyspace)
    assert len(before) == PER_BATCH + PER_BATCH // 2, "batch 0 whole and half of batch 1 before the kill"

    proc = subprocess.Popen([sys.executable, "-m", "workloads.sentiment.stream"], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "restart.log", "w"))
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            after = _rows(cassandra_server, keyspace)
            if len(after) >= len(tweets) or proc.poll() is not None:
                break
            time.sleep(2)
        time.sleep(3)  # would a late duplicate appear? (it cannot: the key is the tweet's)
        after = _rows(cassandra_server, keyspace)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    ids = [r[0] for r in after]
    assert sorted(ids) == sorted(t["id"] for t in tweets), (tmp_path / "restart.log").read_text()[-3000:]
    assert len(ids) == len(set(ids))
    assert all(r[3] == "20261101T000000Z" and 0.0 <= r[2] <= 1.0 and r[1] == int(r[2] >= 0.5) for r in after)
    archived = sorted(raw.rglob("*.jsonl"))
    assert len(archived) == BATCHES
    assert sum(len(p.read_text().splitlines()) for p in archived) == len(tweets)
