"""The streaming job: a micro-batch's features and re-ranked lists (in-process, one shared session), a replayed
batch id producing the same snapshot instead of counting twice, and the fault test: the job (driver process and
its JVM) is SIGKILLed mid-stream and restarted from its checkpoint, and the final features equal the true click
counts exactly (nothing lost, nothing double-counted). Spark's micro-batch contract this relies on (offsets
logged before a batch runs, commit after foreachBatch returns, the same batch id and data on replay) is the one
documented for foreachBatch in Spark 4.0.4's structured-streaming programming guide.

The fault test reads clicks from files (RS_CLICKS_SOURCE=files); the same job against the real Kafka broker runs
in test_stream_kafka.py once the shared real-Kafka harness provides Spark's Kafka options."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from workloads.common.objectstore import ObjectStore
from workloads.recommendations import ranking, recsstore, synthetic
from workloads.recommendations.ratings import Click, to_text
from workloads.recommendations.stream_job import Snapshots, StreamSettings, parse_clicks, process_batch, top_n_frame

from .conftest import publish_recs, pyspark_python, submit_args

REPO = Path(__file__).resolve().parents[3]


def settings(tmp: Path, **over) -> StreamSettings:
    args = dict(checkpoint=str(tmp / "ckpt"), output_path=str(tmp / "out"), source="files",
                clicks_path=str(tmp / "in"), boost=1.0, top_n=3, keep_snapshots=2)
    args.update(over)
    return StreamSettings(**args)


def clicks_frame(spark, clicks: list[Click]):
    return parse_clicks(spark.createDataFrame([(c.line(),) for c in clicks] + [("garbage",)], "value string"))


def snapshot_counts(spark, path: str) -> Counter:
    return Counter({(r["user"], r["item"]): r["clicks"] for r in spark.read.parquet(path).collect()})


def test_batches_accumulate_features_rerank_and_a_replay_counts_once(spark, tmp_path: Path) -> None:
    s = settings(tmp_path)
    snaps = Snapshots(spark, s.output_path)
    top = top_n_frame(spark, {1: [(10, 3.0), (11, 2.9), (12, 2.0), (13, 1.0)], 2: [(20, 1.0)]})
    b0 = [Click(1, 12, 5), Click(1, 12, 6), Click(2, 99, 7)]
    b1 = [Click(1, 13, 8), Click(1, 12, 9)]
    process_batch(spark, clicks_frame(spark, b0), 0, s, snaps, top)
    process_batch(spark, clicks_frame(spark, b1), 1, s, snaps, top)
    process_batch(spark, clicks_frame(spark, b1), 1, s, snaps, top)  # the replay after a crash
    assert snapshot_counts(spark, snaps.path(1)) == Counter({(1, 12): 3, (1, 13): 1, (2, 99): 1})
    reranked = {r["user"]: [(x["item"], x["score"]) for x in r["items"]]
                for r in spark.read.parquet(str(tmp_path / "out" / "reranked" / "batch=1")).collect()}
    # the SQL re-ranking is ranking.rerank's rule
    assert reranked == {1: ranking.rerank([(10, 3.0), (11, 2.9), (12, 2.0), (13, 1.0)], {12: 3, 13: 1}, 1.0, n=3)}
    assert reranked[1][0] == (12, 5.0)
    process_batch(spark, clicks_frame(spark, [Click(2, 20, 10)]), 2, s, snaps, None)
    assert snaps.complete() == [1, 2]  # older snapshots pruned (keep 2)


def test_a_torn_snapshot_of_a_killed_attempt_is_never_read(spark, tmp_path: Path) -> None:
    s = settings(tmp_path)
    snaps = Snapshots(spark, s.output_path)
    process_batch(spark, clicks_frame(spark, [Click(1, 1, 1)]), 0, s, snaps, None)
    torn = Path(snaps.path(1))
    torn.mkdir(parents=True)
    (torn / "part-00000.parquet").write_bytes(b"half a file")  # no _SUCCESS: the attempt died writing
    assert snaps.previous(2) == 0
    process_batch(spark, clicks_frame(spark, [Click(1, 1, 2)]), 1, s, snaps, None)  # the replay overwrites it
    assert snapshot_counts(spark, snaps.path(1)) == Counter({(1, 1): 2})


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "workloads.recommendations.stream_job"], cwd=REPO, env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)


def _commits(ckpt: Path) -> int:
    return len([p for p in (ckpt / "commits").glob("[0-9]*")]) if (ckpt / "commits").is_dir() else 0


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the driver: the Python process and the JVM it launched (its process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def kill_mid_stream_and_restart(spark, env: dict[str, str], tmp_path: Path, total: int, batches: int) -> Counter:
    """Run the job as a child process until 3 batches are committed, SIGKILL it (more batches to come), restart it
    from its checkpoint and wait until the newest snapshot holds `total` clicks; returns the final counts."""
    log = tmp_path / "stream.log"
    ckpt = Path(env["RS_CHECKPOINT"])
    proc = _start(env, log)
    try:
        deadline = time.monotonic() + 180
        while _commits(ckpt) < 3:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "no 3 batches committed in 180 s:\n" + log.read_text()[-3000:]
            time.sleep(0.2)
        _kill(proc)  # while later batches are planned or running
        assert _commits(ckpt) < batches, "the whole stream was done before the kill; nothing was tested"
        proc = _start(env, log)
        snaps = Snapshots(spark, env["RS_OUTPUT_PATH"])
        deadline = time.monotonic() + 240
        while True:
            done = snaps.complete()
            if done and sum(snapshot_counts(spark, snaps.path(done[-1])).values()) >= total:
                break
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the restarted job did not catch up:\n" + log.read_text()[-3000:]
            time.sleep(0.5)
        time.sleep(2)  # a batch that would double-count would land now
        return snapshot_counts(spark, snaps.path(snaps.complete()[-1]))
    finally:
        _kill(proc)


@pytest.mark.timeout(480)
def test_killed_mid_stream_and_restarted_nothing_is_lost_or_double_counted(spark, tmp_path: Path, s3_env,
                                                                           store: ObjectStore) -> None:
    _, structure = synthetic.ratings(users=30, items=30, groups=3, per_user=5, seed=2)
    publish_recs(store, "v1", {u: [(i, 1.0) for i in range(1, 6)] for u in structure.user_group})
    clicks = synthetic.clicks(structure, 1200, seed=4)
    inbox = tmp_path / "in"
    inbox.mkdir()
    files = 12
    for n in range(files):  # one file per micro-batch (maxFilesPerTrigger=1)
        (inbox / f"clicks-{n:03d}.txt").write_text(to_text(clicks[n::files]))
    env = {**pyspark_python(), **s3_env, "RS_CLICKS_SOURCE": "files", "RS_CLICKS_PATH": str(inbox),
           "RS_CHECKPOINT": str(tmp_path / "ckpt"), "RS_OUTPUT_PATH": str(tmp_path / "out"),
           "RS_TRIGGER_SECONDS": "1", "RS_MAX_PER_TRIGGER": "1", "RS_TOP_N": "5", "RS_KEEP_SNAPSHOTS": "3",
           "PYSPARK_SUBMIT_ARGS": submit_args()}
    final = kill_mid_stream_and_restart(spark, env, tmp_path, len(clicks), files)
    assert final == Counter((c.user, c.item) for c in clicks)  # exactly: nothing lost, nothing counted twice
    # the driver re-ranked the published top-N (NEWEST.json) for the users who clicked
    assert sorted((tmp_path / "out" / "reranked").glob("batch=*"))
    assert recsstore.newest_pointer(store, "models/recommendations")[0] == "v1"
