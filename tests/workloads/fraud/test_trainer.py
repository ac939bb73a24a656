"""Trainer: metrics, publishing, refusal of worse models, immutability, data and configuration errors (moto S3)."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from workloads.common.objectstore import ObjectStore
from workloads.fraud import registry, synthetic, trainer
from workloads.common.envconfig import SettingError
from workloads.fraud.trainer import TrainerConfig

from .conftest import put_training_data

FAST = {"FF_TRAIN_DATA_PREFIX": "training/tx/", "FF_N_ESTIMATORS": "30"}


def run(env: dict[str, str], **extra: str) -> int:
    return trainer.main([], {**env, **FAST, **extra})


def last_report(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def put_day(store: ObjectStore, day: int, seed: int, rows: int = 3000, labels: str = "true") -> None:
    """One day of transactions (day 0 starts 2026-03-01; 3000 rows span about 17 hours) as its own object."""
    data = synthetic.generate(rows, seed=seed, start=datetime(2026, 3, 1, tzinfo=UTC) + timedelta(days=2 * day))
    if labels == "shuffled":
        flipped = np.random.default_rng(seed).permutation([r["is_fraud"] for r in data])
        data = [{**r, "is_fraud": int(label)} for r, label in zip(data, flipped)]
    store.put_bytes(f"training/tx/day-{day:03d}.csv", synthetic.to_csv(data))


def stable_env(report: dict) -> dict[str, str]:
    """What the stack passes once the reviewed pull request pins the trainer's output as stable."""
    return {"FF_STABLE_VERSION": report["version"], "FF_STABLE_DIGEST": report["digest"]}


def test_publishes_model_with_metrics_snapshot_and_digest(s3_env, store: ObjectStore, capsys) -> None:
    data_keys = put_training_data(store)
    assert run(s3_env) == trainer.EXIT_OK
    report = last_report(capsys)
    version, digest = report["version"], report["digest"]
    assert report["verdict"] == "accepted" and digest.startswith("sha256:")

    meta_bytes = store.get_bytes(f"models/fraud/{version}.json")
    assert "sha256:" + hashlib.sha256(meta_bytes).hexdigest() == digest
    meta = json.loads(meta_bytes)
    artifact = store.get_bytes(meta["artifact"]["key"])
    assert meta["artifact"]["key"] == f"models/fraud/{version}.params" and meta["artifact"]["format"] == "linear-json"
    assert meta["artifact"]["sha256"] == hashlib.sha256(artifact).hexdigest()
    assert meta["artifact"]["size"] == len(artifact)
    assert [f["param"] for f in meta["features"]] == ["f1", "f2", "f3"]
    assert [f["name"] for f in meta["features"]] == ["amount", "amount_past_month", "merchant_txn_count"]
    m = meta["metrics"]
    assert 0.8 < m["roc_auc"] < 1.0
    assert 0.0 < m["precision"] <= 1.0 and 0.0 < m["recall"] <= 1.0
    assert m["n_train"] + m["n_test"] == 3000 and m["positives_test"] > 0
    snap = meta["training_data"]
    assert [o["key"] for o in snap["objects"]] == data_keys
    for obj in snap["objects"]:
        body = store.get_bytes(obj["key"])
        assert obj == {"key": obj["key"], "size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    assert snap["rows"] == 3000 and len(snap["sha256"]) == 64 and snap["trained_until"].endswith("Z")
    # Both families are in the quality report, on the same rows.
    assert set(report["baselines"]["families"]) == {"logistic", "forest"} and report["baselines"]["chosen"] == "logistic"
    assert json.loads(store.get_bytes("models/fraud/runs/LATEST.json"))["version"] == version
    loaded = registry.load_model(store, "models/fraud", version, digest)
    assert loaded.n_features == 3 and loaded.threshold == 0.5


def test_time_split_tests_on_the_newest_rows_and_never_splits_an_instant() -> None:
    times = np.array([5.0, 1.0, 3.0, 3.0, 4.0, 2.0, 3.0, 6.0])
    train, test, boundary = trainer.time_split(times, 0.25)
    assert sorted(times[test]) == [5.0, 6.0] and boundary == 4.0
    assert max(times[train]) < min(times[test])
    train, test, boundary = trainer.time_split(times, 0.5)  # the boundary falls inside the three 3.0 rows
    assert max(times[train]) < min(times[test]) and len(set(train) | set(test)) == len(times)


def test_duplicates_are_dropped_by_id_or_whole_row() -> None:
    cols = {"a": np.array([1.0, 1.0, 2.0, 1.0]), "b": np.array([0.0, 0.0, 5.0, 0.0])}
    data = trainer.Dataset(columns=cols, labels=np.array([0, 0, 1, 0]), snapshot={},
                           times=np.array([1.0, 1.0, 2.0, 3.0]), ids=["x", "x", "y", "z"])
    kept, dropped = trainer.deduplicate(data, ["a", "b"])
    assert dropped == 1 and kept.ids == ["x", "y", "z"]
    no_ids = trainer.Dataset(columns=cols, labels=data.labels, snapshot={}, times=data.times, ids=None)
    kept, dropped = trainer.deduplicate(no_ids, ["a", "b"])
    assert dropped == 1 and list(kept.times) == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("trial", range(3))
def test_day_two_retrain_is_accepted_against_the_deployed_version(s3_env, store: ObjectStore, capsys,
                                                                  trial: int) -> None:
    """Today's trainer scored the current model on a random split containing its own training rows: every retrain
    after day one was refused. Judged on rows neither has seen, a retrain on more data of the same kind passes."""
    put_day(store, 0, seed=10 + trial)
    assert run(s3_env) == trainer.EXIT_OK
    day_one = last_report(capsys)
    put_day(store, 1, seed=50 + trial)
    assert run(s3_env, **stable_env(day_one)) == trainer.EXIT_OK
    day_two = last_report(capsys)
    comparison = day_two["comparison"]
    assert day_two["verdict"] == "accepted", day_two["reasons"]
    assert comparison["stable_version"] == day_one["version"]
    # Evaluated only on rows newer than what the stable version learned from, all of them from day two.
    assert comparison["stable_trained_until"] == day_one["split"]["trained_until"]
    assert day_two["split"]["test_from"] > comparison["stable_trained_until"]
    assert comparison["evaluated_rows"] == day_two["metrics"]["n_test"]
    assert 0 < comparison["tolerance"] < 0.1 and comparison["bootstrap_std"] > 0
    assert registry.load_model(store, "models/fraud", day_two["version"], day_two["digest"])


def test_worse_candidate_is_refused_with_exit_0_and_nothing_published(s3_env, store: ObjectStore, capsys,
                                                                       caplog) -> None:
    put_day(store, 0, seed=3)
    assert run(s3_env) == trainer.EXIT_OK
    stable = last_report(capsys)
    put_day(store, 1, seed=4)
    before = sorted(store.list_keys("models/fraud/"))
    # A forest of one depth-1 stump: clearly worse than the deployed logistic model on the new rows.
    with caplog.at_level(logging.WARNING, logger="fraud.trainer"):
        status = run(s3_env, FF_MODEL_TYPE="forest", FF_N_ESTIMATORS="1", FF_MAX_DEPTH="1", FF_MIN_AUC="0",
                     FF_MIN_RECALL="0", **stable_env(stable))
    assert status == trainer.EXIT_OK
    report = last_report(capsys)
    assert report["verdict"] == "refused" and report["version"] is None and report["digest"] is None
    assert report["comparison"]["passed"] is False and "tolerance" in report["reasons"][0]
    assert "model refused" in caplog.text
    assert [k for k in sorted(store.list_keys("models/fraud/")) if not k.startswith("models/fraud/runs/")] == \
        [k for k in before if not k.startswith("models/fraud/runs/")]
    latest = json.loads(store.get_bytes("models/fraud/runs/LATEST.json"))
    assert latest["verdict"] == "refused" and latest["finished_at_epoch"] > 0


def test_gate_compares_with_the_stack_stable_version_not_the_last_output(s3_env, store: ObjectStore, capsys) -> None:
    put_day(store, 0, seed=5)
    assert run(s3_env, FF_MODEL_VERSION="deployed") == trainer.EXIT_OK
    deployed = last_report(capsys)
    put_day(store, 1, seed=6)
    assert run(s3_env, FF_MODEL_VERSION="newer-never-deployed", **stable_env(deployed)) == trainer.EXIT_OK
    last_report(capsys)
    put_day(store, 2, seed=7)
    assert run(s3_env, FF_MODEL_VERSION="third", **stable_env(deployed)) == trainer.EXIT_OK
    assert last_report(capsys)["comparison"]["stable_version"] == "deployed"


def test_shuffled_labels_never_pass_the_floor(s3_env, store: ObjectStore, capsys) -> None:
    """Today a model trained on shuffled labels (AUC about 0.5, recall 0) was published: there was no floor."""
    put_day(store, 0, seed=8, labels="shuffled")
    for model_type in trainer.MODEL_TYPES:
        assert run(s3_env, FF_MODEL_TYPE=model_type) == trainer.EXIT_OK
        report = last_report(capsys)
        assert report["verdict"] == "refused" and report["floor"]["passed"] is False
        assert report["metrics"]["roc_auc"] < 0.6 and "absolute floor" in report["reasons"][0]
    assert registry.list_versions(store, "models/fraud") == []


def test_model_over_the_serving_memory_budget_is_refused(s3_env, store: ObjectStore, capsys) -> None:
    """Unbounded trees outgrew the API's memory limit; the budget comes from it (manifests.model_memory_budget)."""
    put_day(store, 0, seed=9)
    assert run(s3_env, FF_MODEL_TYPE="forest", FF_N_ESTIMATORS="30", FF_MODEL_MEMORY_BUDGET_BYTES="65536") == 0
    report = last_report(capsys)
    assert report["verdict"] == "refused" and report["size"]["within_budget"] is False
    assert report["size"]["memory_bytes"] > 65536 and "FF_MODEL_MEMORY_BUDGET_BYTES" in report["reasons"][0]
    assert registry.list_versions(store, "models/fraud") == []
    # The same budget fits the logistic model (a few numbers).
    assert run(s3_env, FF_MODEL_MEMORY_BUDGET_BYTES="65536") == 0
    report = last_report(capsys)
    assert report["verdict"] == "accepted" and report["size"]["memory_bytes"] < 1024


def test_forest_memory_estimate_tracks_the_loaded_size() -> None:
    import pickle

    from .conftest import build_model

    model, _, _ = build_model(n_estimators=20)
    estimate = trainer.memory_bytes(model.estimator)
    assert 0.5 < estimate / len(pickle.dumps(model.estimator, protocol=5)) < 2.0


def test_stable_version_with_a_wrong_digest_stops_training(s3_env, store: ObjectStore, caplog, capsys) -> None:
    put_day(store, 0, seed=11)
    assert run(s3_env, FF_MODEL_VERSION="v1") == trainer.EXIT_OK
    with caplog.at_level(logging.ERROR, logger="fraud.trainer"):
        status = run(s3_env, FF_MODEL_VERSION="v2", FF_STABLE_VERSION="v1", FF_STABLE_DIGEST="sha256:" + "0" * 64)
    assert status == trainer.EXIT_STORAGE
    assert "stack pins" in caplog.text and not store.exists("models/fraud/v2.json")
    assert s3_env["BUCKET_NAME"] not in caplog.text.split("cause")[0]


def test_metrics_are_computed_from_the_predictions() -> None:
    labels = np.array([0, 0, 1, 1, 0, 1])
    proba = np.array([0.1, 0.6, 0.4, 0.9, 0.2, 0.7])
    out = trainer.evaluate(labels, proba, threshold=0.5)
    # Predicted positive: idx 1, 3, 5 -> TP 2 (3, 5), FP 1 (1); actual positives 3 -> recall 2/3.
    assert out["precision"] == pytest.approx(2 / 3)
    assert out["recall"] == pytest.approx(2 / 3)
    # Pairs (pos, neg) ranked correctly: 8 of 9.
    assert out["roc_auc"] == pytest.approx(8 / 9)


def test_versions_are_immutable(s3_env, store: ObjectStore, caplog) -> None:
    put_training_data(store)
    assert run(s3_env, FF_MODEL_VERSION="release-1") == trainer.EXIT_OK
    artifact = store.get_bytes("models/fraud/release-1.params")
    meta = store.get_bytes("models/fraud/release-1.json")

    with caplog.at_level(logging.ERROR, logger="fraud.trainer"):
        status = run(s3_env, FF_MODEL_VERSION="release-1", FF_SEED="5")
    assert status == trainer.EXIT_CONFIG
    assert "already exists" in caplog.text and "immutable" in caplog.text
    assert store.get_bytes("models/fraud/release-1.params") == artifact
    assert store.get_bytes("models/fraud/release-1.json") == meta

    with pytest.raises(registry.VersionExists):
        registry.publish(store, "models/fraud", "release-1", artifact, json.loads(meta))
    assert store.get_bytes("models/fraud/release-1.json") == meta


def test_extra_features_become_f4(s3_env, store: ObjectStore, capsys) -> None:
    put_day(store, 0, seed=12)
    assert run(s3_env, FF_EXTRA_FEATURES="hour_of_day", FF_MODEL_VERSION="with-hour") == trainer.EXIT_OK
    with_hour = last_report(capsys)
    model = registry.load_model(store, "models/fraud", "with-hour", with_hour["digest"])
    assert model.feature_names[-1] == "hour_of_day" and model.params == ("f1", "f2", "f3", "f4")
    # The next candidate without the extra column is compared with it on the same new rows.
    put_day(store, 1, seed=13)
    assert run(s3_env, FF_MODEL_VERSION="without-hour", FF_GATE_Z="10", **stable_env(with_hour)) == trainer.EXIT_OK
    comparison = last_report(capsys)["comparison"]
    assert comparison["stable_version"] == "with-hour" and comparison["evaluated_rows"] > 0


@pytest.mark.parametrize(("body", "message"), [
    (b"amount,amount_past_month\n1,2\n", "missing column(s) merchant_txn_count, is_fraud, timestamp"),
    (b"timestamp,amount,amount_past_month,merchant_txn_count,is_fraud\n1,1,2,3,0\n1,1,x,3,1\n", "line 3: amount_past_month='x' is not a number"),
    (b"timestamp,amount,amount_past_month,merchant_txn_count,is_fraud\n1,1,2,3,7\n", "is_fraud='7' must be 0 or 1"),
    (b"timestamp,amount,amount_past_month,merchant_txn_count,is_fraud\n1,1,2,inf,0\n", "merchant_txn_count='inf' is not finite"),
    (b"timestamp,amount,amount_past_month,merchant_txn_count,is_fraud\nyesterday,1,2,3,0\n", "timestamp='yesterday' is not ISO 8601"),
    (b"timestamp,amount,amount_past_month,merchant_txn_count,is_fraud\n1,2\n", "2 fields, the header has 5"),
    (b"", "empty object"),
    (b"\xff\xfe\x00", "not UTF-8"),
])
def test_bad_training_data_is_named(s3_env, store: ObjectStore, caplog, body: bytes, message: str) -> None:
    put_training_data(store, parts=1)
    store.put_bytes("training/tx/part-999.csv", body)
    with caplog.at_level(logging.ERROR, logger="fraud.trainer"):
        assert run(s3_env) == trainer.EXIT_DATA
    assert "training/tx/part-999.csv" in caplog.text and message in caplog.text
    assert list(store.list_keys("models/")) == []


def test_insufficient_data_is_refused(s3_env, store: ObjectStore, caplog) -> None:
    with caplog.at_level(logging.ERROR, logger="fraud.trainer"):
        assert run(s3_env) == trainer.EXIT_DATA
    assert "no *.csv objects" in caplog.text
    rows = [r for r in synthetic.generate(400, seed=1) if r["is_fraud"] == 0]
    store.put_bytes("training/tx/only-legit.csv", synthetic.to_csv(rows))
    assert run(s3_env) == trainer.EXIT_DATA
    assert "0 fraud (1) rows" in caplog.text


def test_tampered_stable_model_stops_training(s3_env, store: ObjectStore, caplog, capsys) -> None:
    put_training_data(store)
    assert run(s3_env, FF_MODEL_VERSION="v1") == trainer.EXIT_OK
    v1 = last_report(capsys)
    store.put_bytes("models/fraud/v1.params", store.get_bytes("models/fraud/v1.params") + b" ")
    with caplog.at_level(logging.ERROR, logger="fraud.trainer"):
        assert run(s3_env, FF_MODEL_VERSION="v2", **stable_env(v1)) == trainer.EXIT_STORAGE
    assert "refusing to deserialise" in caplog.text and not store.exists("models/fraud/v2.json")


@pytest.mark.parametrize(("env", "message"), [
    ({}, "FF_TRAIN_DATA_PREFIX is required"),
    ({"FF_TRAIN_DATA_PREFIX": "t/", "FF_TEST_FRACTION": "1.5"}, "FF_TEST_FRACTION='1.5'"),
    ({"FF_TRAIN_DATA_PREFIX": "t/", "FF_N_ESTIMATORS": "many"}, "FF_N_ESTIMATORS='many' is not an integer"),
    ({"FF_TRAIN_DATA_PREFIX": "t/", "FF_EXTRA_FEATURES": "amount"}, "already base features"),
    ({"FF_TRAIN_DATA_PREFIX": "t/", "FF_EXTRA_FEATURES": "a-b"}, "FF_EXTRA_FEATURES: item 'a-b'"),
    ({"FF_TRAIN_DATA_PREFIX": "t/", "FF_MODEL_VERSION": "../x"}, "FF_MODEL_VERSION='../x' is not a valid model version"),
    ({"FF_TRAIN_DATA_PREFIX": "t/", "FF_LABEL_COLUMN": "amount"}, "FF_LABEL_COLUMN='amount' is also a feature"),
    ({"FF_TRAIN_DATA_PREFIX": "t/", "FF_MODEL_TYPE": "svm"}, "FF_MODEL_TYPE='svm' is invalid: use one of logistic, forest"),
    ({"FF_TRAIN_DATA_PREFIX": "t/", "FF_STABLE_VERSION": "v1"}, "FF_STABLE_VERSION and FF_STABLE_DIGEST go together"),
    ({"FF_TRAIN_DATA_PREFIX": "t/", "FF_STABLE_VERSION": "v1", "FF_STABLE_DIGEST": "sha256:12"}, "FF_STABLE_DIGEST='sha256:12' is not a model digest"),
    ({"FF_TRAIN_DATA_PREFIX": "t/", "FF_MIN_AUC": "2"}, "FF_MIN_AUC='2'"),
    ({"FF_TRAIN_DATA_PREFIX": "t/", "FF_MODEL_MEMORY_BUDGET_BYTES": "10"}, "FF_MODEL_MEMORY_BUDGET_BYTES='10' is out of range"),
])
def test_config_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingError, match=re.escape(message)):
        TrainerConfig.from_env(env)


def test_cli_config_error_exit_status(caplog) -> None:
    with caplog.at_level(logging.ERROR, logger="fraud.trainer"):
        assert trainer.main([], {"FF_TRAIN_DATA_PREFIX": "t/"}) == trainer.EXIT_CONFIG
    assert "S3_ENDPOINT_URL" in caplog.text or "BUCKET_HOST" in caplog.text
