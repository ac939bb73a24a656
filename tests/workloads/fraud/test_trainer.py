"""Trainer: metrics, publishing, refusal of worse models, immutability, data and configuration errors (moto S3)."""

from __future__ import annotations

import hashlib
import json
import logging
import re

import numpy as np
import pytest

from workloads.common.objectstore import ObjectStore
from workloads.fraud import registry, synthetic, trainer
from workloads.fraud.envconfig import SettingError
from workloads.fraud.trainer import TrainerConfig

from .conftest import put_training_data

FAST = {"FF_TRAIN_DATA_PREFIX": "training/tx/", "FF_N_ESTIMATORS": "30"}


def run(env: dict[str, str], **extra: str) -> int:
    return trainer.main([], {**env, **FAST, **extra})


def test_publishes_model_with_metrics_snapshot_and_checksum(s3_env, store: ObjectStore, capsys) -> None:
    data_keys = put_training_data(store)
    assert run(s3_env) == trainer.EXIT_OK
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    version = summary["version"]

    meta = json.loads(store.get_bytes(f"models/fraud/{version}.json"))
    artifact = store.get_bytes(f"models/fraud/{version}.joblib")
    assert meta["artifact"]["sha256"] == hashlib.sha256(artifact).hexdigest()
    assert meta["artifact"]["size"] == len(artifact)
    assert [f["param"] for f in meta["features"]] == ["f1", "f2", "f3"]
    assert [f["name"] for f in meta["features"]] == ["amount", "amount_past_month", "merchant_txn_count"]
    m = meta["metrics"]
    # The synthetic data is learnable but not trivially so.
    assert 0.8 < m["roc_auc"] < 1.0
    assert 0.0 < m["precision"] <= 1.0 and 0.0 < m["recall"] <= 1.0
    assert m["n_train"] + m["n_test"] == 3000 and m["positives_test"] > 0
    snap = meta["training_data"]
    assert [o["key"] for o in snap["objects"]] == data_keys
    for obj in snap["objects"]:
        body = store.get_bytes(obj["key"])
        assert obj == {"key": obj["key"], "size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    assert snap["rows"] == 3000 and len(snap["sha256"]) == 64
    assert meta["created_at"].endswith("Z")
    assert registry.current_version(store, "models/fraud") == version
    # The loaded model reproduces the recorded metrics (same split, same seed).
    loaded = registry.load_model(store, "models/fraud", version)
    assert loaded.n_features == 3 and loaded.threshold == 0.5


def test_metrics_are_computed_from_the_predictions() -> None:
    labels = np.array([0, 0, 1, 1, 0, 1])
    proba = np.array([0.1, 0.6, 0.4, 0.9, 0.2, 0.7])
    out = trainer.evaluate(labels, proba, threshold=0.5)
    # Predicted positive: idx 1, 3, 5 -> TP 2 (3, 5), FP 1 (1); actual positives 3 -> recall 2/3.
    assert out["precision"] == pytest.approx(2 / 3)
    assert out["recall"] == pytest.approx(2 / 3)
    # Pairs (pos, neg) ranked correctly: 8 of 9.
    assert out["roc_auc"] == pytest.approx(8 / 9)


def test_refuses_a_worse_model_and_publishes_nothing(s3_env, store: ObjectStore, caplog) -> None:
    put_training_data(store)
    assert run(s3_env) == trainer.EXIT_OK
    good = registry.current_version(store, "models/fraud")
    before = sorted(store.list_keys("models/fraud/"))

    # A single stump is clearly worse on the same held-out split.
    with caplog.at_level(logging.ERROR, logger="fraud.trainer"):
        status = run(s3_env, FF_N_ESTIMATORS="1", FF_MAX_DEPTH="1")
    assert status == trainer.EXIT_REFUSED
    assert "below current model" in caplog.text and good in caplog.text and "FF_MAX_AUC_DROP" in caplog.text
    assert sorted(store.list_keys("models/fraud/")) == before
    assert registry.current_version(store, "models/fraud") == good

    # The same stump passes once the tolerance allows the drop.
    assert run(s3_env, FF_N_ESTIMATORS="1", FF_MAX_DEPTH="1", FF_MAX_AUC_DROP="1") == trainer.EXIT_OK
    assert registry.current_version(store, "models/fraud") != good


def test_compare_tolerance_boundaries() -> None:
    base = {"version": "b", "roc_auc": 0.90, "evaluated_on": "x"}
    assert trainer.compare(0.895, base, 0.01)["accepted"] is True
    assert trainer.compare(0.95, base, 0.0)["accepted"] is True
    with pytest.raises(trainer.ModelRejected, match="0.8800"):
        trainer.compare(0.88, base, 0.01)
    assert trainer.compare(0.1, None, 0.0)["baseline_version"] is None


def test_versions_are_immutable(s3_env, store: ObjectStore, caplog) -> None:
    put_training_data(store)
    assert run(s3_env, FF_MODEL_VERSION="release-1") == trainer.EXIT_OK
    artifact = store.get_bytes("models/fraud/release-1.joblib")
    meta = store.get_bytes("models/fraud/release-1.json")

    with caplog.at_level(logging.ERROR, logger="fraud.trainer"):
        status = run(s3_env, FF_MODEL_VERSION="release-1", FF_SEED="5", FF_MAX_AUC_DROP="1")
    assert status == trainer.EXIT_CONFIG
    assert "already exists" in caplog.text and "immutable" in caplog.text
    assert store.get_bytes("models/fraud/release-1.joblib") == artifact
    assert store.get_bytes("models/fraud/release-1.json") == meta

    with pytest.raises(registry.VersionExists):
        registry.publish(store, "models/fraud", "release-1", artifact, json.loads(meta))
    assert store.get_bytes("models/fraud/release-1.json") == meta


def test_extra_features_become_f4(s3_env, store: ObjectStore) -> None:
    put_training_data(store)
    assert run(s3_env, FF_EXTRA_FEATURES="hour_of_day", FF_MODEL_VERSION="with-hour") == trainer.EXIT_OK
    model = registry.load_model(store, "models/fraud", "with-hour")
    assert model.feature_names[-1] == "hour_of_day" and model.params == ("f1", "f2", "f3", "f4")
    # The next candidate without the extra column is compared with it on the same rows.
    assert run(s3_env, FF_MODEL_VERSION="without-hour", FF_MAX_AUC_DROP="0.5") == trainer.EXIT_OK
    meta = json.loads(store.get_bytes("models/fraud/without-hour.json"))
    assert meta["comparison"]["baseline_version"] == "with-hour"
    assert meta["comparison"]["baseline_evaluated_on"] == "the candidate's held-out split"


@pytest.mark.parametrize(("body", "message"), [
    (b"amount,amount_past_month\n1,2\n", "missing column(s) merchant_txn_count, is_fraud"),
    (b"amount,amount_past_month,merchant_txn_count,is_fraud\n1,2,3,0\n1,x,3,1\n", "line 3: amount_past_month='x' is not a number"),
    (b"amount,amount_past_month,merchant_txn_count,is_fraud\n1,2,3,7\n", "is_fraud='7' must be 0 or 1"),
    (b"amount,amount_past_month,merchant_txn_count,is_fraud\n1,2,inf,0\n", "merchant_txn_count='inf' is not finite"),
    (b"amount,amount_past_month,merchant_txn_count,is_fraud\n1,2\n", "2 fields, the header has 4"),
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


def test_tampered_current_model_stops_training(s3_env, store: ObjectStore, caplog) -> None:
    put_training_data(store)
    assert run(s3_env, FF_MODEL_VERSION="v1") == trainer.EXIT_OK
    store.put_bytes("models/fraud/v1.joblib", store.get_bytes("models/fraud/v1.joblib") + b"x")
    with caplog.at_level(logging.ERROR, logger="fraud.trainer"):
        assert run(s3_env, FF_MODEL_VERSION="v2") == trainer.EXIT_STORAGE
    assert "sha256" in caplog.text and not store.exists("models/fraud/v2.json")


@pytest.mark.parametrize(("env", "message"), [
    ({}, "FF_TRAIN_DATA_PREFIX is required"),
    ({"FF_TRAIN_DATA_PREFIX": "t/", "FF_TEST_FRACTION": "1.5"}, "FF_TEST_FRACTION='1.5'"),
    ({"FF_TRAIN_DATA_PREFIX": "t/", "FF_N_ESTIMATORS": "many"}, "FF_N_ESTIMATORS='many' is not an integer"),
    ({"FF_TRAIN_DATA_PREFIX": "t/", "FF_EXTRA_FEATURES": "amount"}, "already base features"),
    ({"FF_TRAIN_DATA_PREFIX": "t/", "FF_EXTRA_FEATURES": "a-b"}, "FF_EXTRA_FEATURES: item 'a-b'"),
    ({"FF_TRAIN_DATA_PREFIX": "t/", "FF_MODEL_VERSION": "../x"}, "FF_MODEL_VERSION='../x' is not a valid model version"),
    ({"FF_TRAIN_DATA_PREFIX": "t/", "FF_LABEL_COLUMN": "amount"}, "FF_LABEL_COLUMN='amount' is also a feature"),
    ({"FF_TRAIN_DATA_PREFIX": "t/", "FF_SET_CURRENT": "maybe"}, "FF_SET_CURRENT='maybe' is not a boolean"),
])
def test_config_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingError, match=re.escape(message)):
        TrainerConfig.from_env(env)


def test_cli_config_error_exit_status(caplog) -> None:
    with caplog.at_level(logging.ERROR, logger="fraud.trainer"):
        assert trainer.main([], {"FF_TRAIN_DATA_PREFIX": "t/"}) == trainer.EXIT_CONFIG
    assert "S3_ENDPOINT_URL" in caplog.text or "BUCKET_HOST" in caplog.text
