"""The stream scorer against a real Apache Kafka broker and a real Ceph RGW, including a crash mid-batch.

Every client here reaches the broker as the platform's do: SASL_SSL with SCRAM-SHA-512 against the cluster CA
(tests/harness/kafka.py). The scorer reads its settings through ``KafkaSettings.from_env`` from the variables
its Deployment sets (``FF_KAFKA_SASL_JAAS_CONFIG_FILE``: the KafkaUser Secret's ``sasl.jaas.config``, mounted;
``FF_KAFKA_CA_FILE``: the cluster CA's ``ca.crt``), and the test's producer and probe use the same settings.

The fault test: the scorer runs as a subprocess that SIGKILLs itself after N object writes (in the middle
of a batch, after earlier batches were committed), is restarted, and must end with every produced message
in object storage exactly once by key: each good message under its result key, each bad one under its
dead-letter key, no key missing, no extra key, and the group's committed offsets at the end of the topic.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition

from workloads.common.kafkasettings import KafkaSettings
from workloads.common.objectstore import ObjectStore
from workloads.common.s3settings import S3Settings
from workloads.fraud import scorer, synthetic

from .test_api import metric_value
from .test_integration_ceph import REPO, free_port, rgw_env, stop

pytestmark = pytest.mark.integration

PARTITIONS = 3
GOOD = 240
BAD_VALUES = [b"not json", b'{"amount": "12", "amount_past_month": 1, "merchant_txn_count": 1}', b"[1,2,3]",
              b'{"amount": 1, "amount_past_month": 1, "merchant_txn_count": 1, "timestamp": "yesterday"}']
# One batch is 40 records; dying on write 100 leaves two batches committed and the third half written.
BATCH = 40
KILL_AFTER = 100


def produce(client: dict[str, object], topic: str) -> dict[tuple[int, int], bytes]:
    """Every message sent, by (partition, offset)."""
    producer = KafkaProducer(acks="all", **client)
    futures = []
    rows = synthetic.generate(GOOD, seed=21)
    values = [synthetic.to_message(r) for r in rows]
    for i, bad in enumerate(BAD_VALUES):  # spread the bad ones through the stream
        values.insert(37 * (i + 1), bad)
    for i, value in enumerate(values):
        futures.append((value, producer.send(topic, value=value, key=str(i).encode(), partition=i % PARTITIONS)))
    producer.flush(timeout=30)
    sent = {}
    for value, future in futures:
        meta = future.get(timeout=30)
        sent[(meta.partition, meta.offset)] = value
    producer.close()
    return sent


def start_scorer(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    return subprocess.Popen([sys.executable, "-m", "workloads.fraud.scorer"], cwd=REPO, env=env,
                            stdout=handle, stderr=subprocess.STDOUT)


def wait_until(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"scorer exited ({proc.returncode}) while waiting for {what}; log:\n"
                                 f"{log.read_text()[-3000:] if log else ''}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; log:\n{log.read_text()[-3000:] if log else ''}")
        time.sleep(0.2)


def test_scorer_survives_sigkill_mid_batch_exactly_once_by_key(kafka_broker, ceph_rgw, api_url: str,
                                                               tmp_path: Path) -> None:
    topic = f"transactions-{uuid.uuid4().hex[:6]}"
    kafka_broker.create_topic(topic, partitions=PARTITIONS)
    s3 = rgw_env(ceph_rgw, f"fraud-stream-{uuid.uuid4().hex[:8]}")
    store = ObjectStore(S3Settings.from_env(s3))
    store.ensure_bucket()
    kafka_env = kafka_broker.env("FF_KAFKA_", kafka_broker.user("fraud-scorer"), tmp_path)
    client = KafkaSettings.from_env(kafka_env, prefix="FF_KAFKA_").client_kwargs()
    assert client["security_protocol"] == "SASL_SSL" and client["sasl_mechanism"] == "SCRAM-SHA-512"
    sent = produce(client, topic)
    assert len(sent) == GOOD + len(BAD_VALUES)

    metrics_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FF_")}
    env.update(s3, **kafka_env, FF_KAFKA_TOPIC=topic, FF_KAFKA_GROUP=f"scorer-{topic}",
               FF_API_URL=api_url, FF_BATCH_SIZE=str(BATCH), FF_POLL_TIMEOUT_MS="200",
               FF_KAFKA_SESSION_TIMEOUT_MS="6000", FF_METRICS_PORT=str(metrics_port), FF_MAX_BACKOFF_SECONDS="2")
    log = tmp_path / "scorer.log"

    # Run 1: dies by SIGKILL on its 100th object write, inside its third batch.
    first = start_scorer({**env, "FF_FAULT_KILL_AFTER_WRITES": str(KILL_AFTER)}, log)
    try:
        first.wait(timeout=60)
    finally:
        if first.poll() is None:  # it never reached its fault: do not leave it running
            first.kill()
            first.wait()
    assert first.returncode == -signal.SIGKILL, log.read_text()[-3000:]
    written_before_restart = len(list(store.list_keys("scores/"))) + len(list(store.list_keys("dead-letter/")))
    assert KILL_AFTER <= written_before_restart < len(sent)  # a partial run: the restart has work to do

    # Run 2: picks up from the committed offsets, replays the half-written batch, finishes.
    second = start_scorer(env, log)
    probe = KafkaConsumer(group_id=f"scorer-{topic}", enable_auto_commit=False, **client)
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    ends = {tp: max(o for (p, o) in sent if p == tp.partition) + 1 for tp in partitions}
    # The broker's own end offsets agree with the producer's acknowledgements (a real ListOffsets).
    assert probe.end_offsets(partitions) == ends
    try:
        def all_written() -> bool:
            return len(list(store.list_keys("scores/"))) + len(list(store.list_keys("dead-letter/"))) >= len(sent)

        def all_committed() -> bool:
            return all(probe.committed(tp) == ends[tp] for tp in partitions)

        wait_until(all_written, 90, "all messages in object storage", second, log)
        wait_until(all_committed, 30, "offsets committed to the end of every partition", second, log)
        exposition = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
        # the liveness probe's endpoint follows the consume loop, which is turning
        assert urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/healthz", timeout=5).status == 200
    finally:
        probe.close()
        stop(second)
    assert second.returncode == 0, log.read_text()[-3000:]  # graceful stop on SIGTERM
    for p in range(PARTITIONS):
        assert f'fraud_scorer_lag{{partition="{p}",topic="{topic}"}} 0.0' in exposition

    # Exactly once by key: the expected key set, derived from what was produced, equals the stored one.
    results = sorted(store.list_keys("scores/fraud/"))
    dead = sorted(store.list_keys("dead-letter/fraud/"))
    expected_dead = {scorer.dead_letter_key("dead-letter/fraud", topic, p, o)
                     for (p, o), value in sent.items() if value in BAD_VALUES}
    assert set(dead) == expected_dead and len(dead) == len(BAD_VALUES)
    assert len(results) == len(set(results)) == GOOD
    by_identity = {}
    for key in results:
        doc = json.loads(store.get_bytes(key))
        by_identity[(doc["partition"], doc["offset"])] = (key, doc)
    good_sent = {ident: value for ident, value in sent.items() if value not in BAD_VALUES}
    assert set(by_identity) == set(good_sent)
    for ident, value in good_sent.items():
        key, doc = by_identity[ident]
        payload = json.loads(value)
        assert doc["transaction_id"] == payload["transaction_id"]
        # Partitioned by the message's own event time.
        assert f"date={payload['timestamp'][:10]}/hour={payload['timestamp'][11:13]}/" in key
        assert doc["prediction"] in (0, 1) and doc["model_version"] == "test-v1"
    for key in dead:
        letter = json.loads(store.get_bytes(key))
        assert letter["reason"].startswith("unparseable:")

    # The restart replayed records the killed run had already written (at-least-once; the overwrite was harmless).
    consumed_by_second = metric_value(exposition, "fraud_scorer_consumed_total")
    assert consumed_by_second > len(sent) - written_before_restart
