"""The nightly trainer against an S3 API (moto, tests/harness/moto.py): it trains on the seed set plus the
labelled archived tweets, validates on the fixed known examples, publishes only when at least as good as the
current version, and the run report is what the speed layer's watcher loads (verified against the digest)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from workloads.common import modelregistry
from workloads.common.objectstore import ObjectStore
from workloads.common.s3settings import S3Settings
from workloads.sentiment import model as m
from workloads.sentiment import synthetic, trainer
from workloads.sentiment.stream import registry_model_loader

PREFIX, RAW = "models/sentiment", "raw/tweets"


@pytest.fixture
def s3_env(moto_endpoint: str) -> dict[str, str]:
    env = {"S3_ENDPOINT_URL": moto_endpoint, "BUCKET_NAME": f"sentiment-{uuid.uuid4().hex[:12]}",
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    ObjectStore(S3Settings.from_env(env)).ensure_bucket()
    return env


def archive(store: ObjectStore, batch: int, rows: list[dict]) -> None:
    store.put_bytes(f"{RAW}/batch-{batch:012d}.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())


def test_first_run_publishes_and_the_watcher_loads_it(s3_env):
    store = ObjectStore(S3Settings.from_env(s3_env))
    archive(store, 0, synthetic.generate(300, seed=11))
    archive(store, 1, [{"id": "u1", "text": "no label here"}, {"broken": True}])
    report = trainer.train_and_maybe_publish(store, PREFIX, RAW, now=datetime(2026, 11, 2, 3, tzinfo=UTC))
    assert report["published"] and report["current"]["version"] == "20261102T030000Z"
    assert report["collected_examples"] == 300 and report["skipped_archived"] == 2
    assert report["candidate"]["known_accuracy"] >= 0.9
    version, model = registry_model_loader(s3_env)()
    assert version == "20261102T030000Z" and m.accuracy(model, synthetic.KNOWN_EXAMPLES) >= 0.9


def test_a_worse_candidate_is_not_published(s3_env, monkeypatch):
    store = ObjectStore(S3Settings.from_env(s3_env))
    first = trainer.train_and_maybe_publish(store, PREFIX, RAW, now=datetime(2026, 11, 2, 3, tzinfo=UTC))
    real_train = m.train
    # a candidate trained on flipped labels is worse on the known examples
    monkeypatch.setattr(trainer.m, "train", lambda texts, labels: real_train(texts, [1 - x for x in labels]))
    second = trainer.train_and_maybe_publish(store, PREFIX, RAW, now=datetime(2026, 11, 3, 3, tzinfo=UTC))
    assert not second["published"] and second["current"] == first["current"] and "below" in second["reason"]
    assert modelregistry.list_versions(store, PREFIX) == ["20261102T030000Z"]
    assert registry_model_loader(s3_env)()[0] == "20261102T030000Z"


def test_an_equally_good_candidate_replaces_the_current(s3_env):
    store = ObjectStore(S3Settings.from_env(s3_env))
    trainer.train_and_maybe_publish(store, PREFIX, RAW, now=datetime(2026, 11, 2, 3, tzinfo=UTC))
    again = trainer.train_and_maybe_publish(store, PREFIX, RAW, now=datetime(2026, 11, 3, 3, tzinfo=UTC))
    assert again["published"] and again["current"]["version"] == "20261103T030000Z"


def test_bad_settings_exit_2_naming_the_variable(capsys):
    assert trainer.main({"BUCKET_NAME": "x"}) == 2
    assert "environment variable" in capsys.readouterr().err
