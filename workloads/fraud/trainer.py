"""Train the fraud RandomForest from labelled transactions in object storage and publish it if it is good enough.

    python -m workloads.fraud.trainer

Reads every ``*.csv`` object under ``FF_TRAIN_DATA_PREFIX``, trains on the report's three features
(plus ``FF_EXTRA_FEATURES``), evaluates on a held-out stratified split and compares with the current
model ON THE SAME SPLIT. A candidate whose ROC AUC is lower than the current model's by more than
``FF_MAX_AUC_DROP`` is refused; otherwise it is published as an immutable version and ``CURRENT`` is
moved to it. Exit status: 0 published, 2 bad configuration, 3 refused (worse than current), 4 bad or
insufficient training data, 5 object storage or registry failure.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import logging
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import sklearn
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import precision_score, recall_score, roc_auc_score
from sklearn.model_selection import train_test_split

from workloads.common.objectstore import ConfigError, ObjectStore, ObjectStoreError, S3Settings

from . import registry
from .envconfig import SettingError, get_bool, get_float, get_int, get_list, get_str
from .features import BASE_FEATURES, COLUMN_PATTERN, feature_names

log = logging.getLogger("fraud.trainer")

EXIT_OK, EXIT_CONFIG, EXIT_REFUSED, EXIT_DATA, EXIT_STORAGE = 0, 2, 3, 4, 5


class DataError(Exception):
    """The training data is missing, malformed or insufficient; the message names the object and row."""


class ModelRejected(Exception):
    """The candidate is worse than the current model beyond the tolerance; nothing was published."""


@dataclass(frozen=True)
class TrainerConfig:
    """What to train on, how, and when to refuse; every field comes from one FF_* variable."""

    data_prefix: str
    """FF_TRAIN_DATA_PREFIX (required): key prefix of the labelled CSV objects."""
    model_prefix: str = "models/fraud"
    """FF_MODEL_PREFIX: where versions and the CURRENT pointer live."""
    version: str | None = None
    """FF_MODEL_VERSION: name of the version to publish; default <UTC time>-<sha256 of the model, 8 hex>."""
    extra_features: tuple[str, ...] = ()
    """FF_EXTRA_FEATURES: comma-separated extra numeric columns, after f1..f3 (f4, f5, ...)."""
    label_column: str = "is_fraud"
    """FF_LABEL_COLUMN: the 0/1 label column."""
    test_fraction: float = 0.25
    """FF_TEST_FRACTION: share of rows held out (stratified) for evaluation."""
    threshold: float = 0.5
    """FF_DECISION_THRESHOLD: P(fraud) at or above which a transaction is classified as fraud."""
    n_estimators: int = 100
    """FF_N_ESTIMATORS: trees in the forest."""
    max_depth: int | None = None
    """FF_MAX_DEPTH: maximum tree depth; unlimited when unset."""
    min_samples_leaf: int = 3
    """FF_MIN_SAMPLES_LEAF: smallest leaf; >1 keeps probabilities from being only 0 or 1."""
    seed: int = 0
    """FF_SEED: random seed of the split and the forest (same data + seed = same model)."""
    max_auc_drop: float = 0.01
    """FF_MAX_AUC_DROP: refuse when ROC AUC is below the current model's by more than this."""
    min_rows: int = 200
    """FF_MIN_ROWS: refuse to train on fewer labelled rows."""
    set_current: bool = True
    """FF_SET_CURRENT: move CURRENT to the new version after publishing."""
    n_jobs: int = 1
    """FF_TRAIN_JOBS: parallel tree builders (the container's CPU limit)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> TrainerConfig:
        data_prefix = get_str(env, "FF_TRAIN_DATA_PREFIX", hint="set it to the key prefix of the labelled CSV objects, e.g. training/transactions/")
        model_prefix = get_str(env, "FF_MODEL_PREFIX", "models/fraud")
        version = env.get("FF_MODEL_VERSION", "").strip() or None
        try:
            registry.check_prefix(model_prefix, "FF_MODEL_PREFIX")
            if version is not None:
                registry.check_version(version, "FF_MODEL_VERSION")
        except ValueError as exc:
            raise SettingError(str(exc)) from None
        extra = get_list(env, "FF_EXTRA_FEATURES", item_pattern=COLUMN_PATTERN,
                         hint="use column names of letters, digits and '_', comma-separated")
        try:
            feature_names(extra)
        except ValueError as exc:
            raise SettingError(f"FF_EXTRA_FEATURES: {exc}") from None
        label = get_str(env, "FF_LABEL_COLUMN", "is_fraud", pattern=COLUMN_PATTERN)
        if label in feature_names(extra):
            raise SettingError(f"FF_LABEL_COLUMN={label!r} is also a feature; the label cannot be an input")
        max_depth = get_int(env, "FF_MAX_DEPTH", None, minimum=1, maximum=1000)
        return cls(
            data_prefix=data_prefix.lstrip("/"),
            model_prefix=registry.check_prefix(model_prefix),
            version=version,
            extra_features=extra,
            label_column=label,
            test_fraction=get_float(env, "FF_TEST_FRACTION", 0.25, minimum=0.0, maximum=1.0, exclusive=True),
            threshold=get_float(env, "FF_DECISION_THRESHOLD", 0.5, minimum=0.0, maximum=1.0, exclusive=True),
            n_estimators=int(get_int(env, "FF_N_ESTIMATORS", 100, minimum=1, maximum=5000) or 100),
            max_depth=max_depth,
            min_samples_leaf=int(get_int(env, "FF_MIN_SAMPLES_LEAF", 3, minimum=1, maximum=100000) or 3),
            seed=int(get_int(env, "FF_SEED", 0, minimum=0, maximum=2**32 - 1) or 0),
            max_auc_drop=get_float(env, "FF_MAX_AUC_DROP", 0.01, minimum=0.0, maximum=1.0),
            min_rows=int(get_int(env, "FF_MIN_ROWS", 200, minimum=10, maximum=10**9) or 200),
            set_current=get_bool(env, "FF_SET_CURRENT", True),
            n_jobs=_train_jobs(env),
        )

    @property
    def features(self) -> tuple[str, ...]:
        return feature_names(self.extra_features)


def _train_jobs(env: Mapping[str, str]) -> int:
    jobs = get_int(env, "FF_TRAIN_JOBS", 1, minimum=-1, maximum=256)
    if jobs == 0:
        raise SettingError("FF_TRAIN_JOBS=0 is invalid: use a positive number of jobs, or -1 for all CPUs")
    return int(jobs or 1)


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


@dataclass
class Dataset:
    """Labelled rows: columns by name (float arrays), the label, and what was read."""

    columns: dict[str, np.ndarray]
    labels: np.ndarray
    snapshot: dict[str, Any]

    def matrix(self, names: Sequence[str]) -> np.ndarray:
        return np.column_stack([self.columns[n] for n in names]).astype(np.float64)


def parse_csv(key: str, data: bytes, columns: Sequence[str], label: str,
              optional: Sequence[str] = ()) -> tuple[dict[str, list[float]], list[int]]:
    """The named columns and the 0/1 label of one CSV object; DataError names key, line and column.

    ``optional`` columns are read when the header has them and left out of the result otherwise.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{key}: not UTF-8 text ({exc})") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise DataError(f"{key}: empty object, expected a CSV header with {', '.join([*columns, label])}")
    index = {name.strip(): i for i, name in enumerate(header)}
    missing = [c for c in [*columns, label] if c not in index]
    if missing:
        raise DataError(f"{key}: missing column(s) {', '.join(missing)}; the header has {', '.join(index) or 'nothing'}")
    wanted = [*columns, *(c for c in optional if c in index and c not in columns)]
    values: dict[str, list[float]] = {c: [] for c in wanted}
    labels: list[int] = []
    for line_no, row in enumerate(reader, start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise DataError(f"{key} line {line_no}: {len(row)} fields, the header has {len(header)}")
        raw_label = row[index[label]].strip()
        if raw_label not in ("0", "1"):
            raise DataError(f"{key} line {line_no}: {label}={raw_label!r} must be 0 or 1")
        labels.append(int(raw_label))
        for c in wanted:
            cell = row[index[c]].strip()
            try:
                number = float(cell)
            except ValueError:
                raise DataError(f"{key} line {line_no}: {c}={cell!r} is not a number") from None
            if not np.isfinite(number):
                raise DataError(f"{key} line {line_no}: {c}={cell!r} is not finite")
            values[c].append(number)
    return values, labels


def load_dataset(store: ObjectStore, prefix: str, columns: Sequence[str], label: str,
                 optional: Sequence[str] = ()) -> Dataset:
    """Every ``*.csv`` object under ``prefix``, concatenated in key order, with a snapshot of what was read.

    An ``optional`` column is kept only when every object has it.
    """
    keys = sorted(k for k in store.list_keys(prefix) if k.endswith(".csv"))
    if not keys:
        raise DataError(f"no *.csv objects under s3://{store.settings.bucket}/{prefix} (FF_TRAIN_DATA_PREFIX)")
    merged: dict[str, list[float]] = {}
    labels: list[int] = []
    objects = []
    for position, key in enumerate(keys):
        data = store.get_bytes(key)
        objects.append({"key": key, "size": len(data), "sha256": registry.sha256_hex(data)})
        values, object_labels = parse_csv(key, data, columns, label, optional)
        if position == 0:
            merged = {c: [] for c in values}
        for c in list(merged):
            if c in values:
                merged[c].extend(values[c])
            else:  # an optional column this object lacks
                del merged[c]
        labels.extend(object_labels)
    # One hash over (key, content hash) pairs identifies the exact training set.
    digest = hashlib.sha256("".join(f"{o['key']}\t{o['sha256']}\n" for o in objects).encode()).hexdigest()
    snapshot = {"bucket": store.settings.bucket, "prefix": prefix, "objects": objects, "sha256": digest, "rows": len(labels)}
    return Dataset(columns={c: np.asarray(v, dtype=np.float64) for c, v in merged.items()},
                   labels=np.asarray(labels, dtype=np.int64), snapshot=snapshot)


# ---------------------------------------------------------------------------------------------
# Training and evaluation (pure)
# ---------------------------------------------------------------------------------------------


def evaluate(labels: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, float]:
    """ROC AUC plus precision and recall at ``threshold`` (0 when nothing is predicted positive)."""
    predicted = (proba >= threshold).astype(np.int64)
    return {
        "roc_auc": float(roc_auc_score(labels, proba)),
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "recall": float(recall_score(labels, predicted, zero_division=0)),
    }


def check_trainable(labels: np.ndarray, config: TrainerConfig) -> None:
    rows, positives = len(labels), int(labels.sum())
    if rows < config.min_rows:
        raise DataError(f"only {rows} labelled rows under {config.data_prefix}; FF_MIN_ROWS requires {config.min_rows}")
    n_test = int(np.ceil(rows * config.test_fraction))
    for name, count in (("fraud (1)", positives), ("legitimate (0)", rows - positives)):
        if count < 2 or min(count * config.test_fraction, count * (1 - config.test_fraction)) < 1:
            raise DataError(
                f"{count} {name} rows out of {rows}: both classes need rows in the training and the "
                f"{n_test}-row test split (FF_TEST_FRACTION={config.test_fraction}); add labelled data"
            )


def fit_forest(x: np.ndarray, y: np.ndarray, config: TrainerConfig) -> RandomForestClassifier:
    model = RandomForestClassifier(
        n_estimators=config.n_estimators, max_depth=config.max_depth, min_samples_leaf=config.min_samples_leaf,
        # Fraud is rare: weighting classes keeps the forest from learning "never fraud".
        class_weight="balanced_subsample", random_state=config.seed, n_jobs=config.n_jobs,
    )
    model.fit(x, y)
    # Serving scores small batches, where joblib's thread pool costs more than it saves.
    model.set_params(n_jobs=1)
    return model


@dataclass
class TrainOutcome:
    """What a run did: the version published, its metrics and the comparison with the baseline."""

    version: str
    metrics: dict[str, float]
    comparison: dict[str, Any]
    artifact_key: str
    metadata_key: str
    current_moved: bool


def compare(candidate_auc: float, baseline: dict[str, Any] | None, max_drop: float) -> dict[str, Any]:
    """The comparison record; raises ModelRejected when the candidate is worse beyond ``max_drop``."""
    if baseline is None:
        return {"baseline_version": None, "max_auc_drop": max_drop, "accepted": True, "reason": "no current model"}
    drop = baseline["roc_auc"] - candidate_auc
    record = {
        "baseline_version": baseline["version"], "baseline_roc_auc": baseline["roc_auc"],
        "baseline_evaluated_on": baseline["evaluated_on"], "candidate_roc_auc": candidate_auc,
        "auc_drop": drop, "max_auc_drop": max_drop, "accepted": drop <= max_drop,
    }
    if drop > max_drop:
        raise ModelRejected(
            f"candidate ROC AUC {candidate_auc:.4f} is {drop:.4f} below current model {baseline['version']} "
            f"({baseline['roc_auc']:.4f} on {baseline['evaluated_on']}), more than FF_MAX_AUC_DROP={max_drop}; "
            "not published"
        )
    return record


def build_metadata(*, version: str, artifact: bytes, config: TrainerConfig, metrics: dict[str, Any],
                   comparison: dict[str, Any], snapshot: dict[str, Any], created_at: datetime,
                   artifact_key: str) -> dict[str, Any]:
    descriptions = {f.name: f.description for f in BASE_FEATURES}
    params = asdict(config)
    return {
        "schema": registry.METADATA_SCHEMA,
        "version": version,
        "created_at": created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model": {"type": "sklearn.ensemble.RandomForestClassifier",
                  "params": {k: params[k] for k in ("n_estimators", "max_depth", "min_samples_leaf", "seed")}},
        "features": registry.feature_entries(config.features, descriptions),
        "label": config.label_column,
        "threshold": config.threshold,
        "metrics": metrics,
        "comparison": comparison,
        "training_data": snapshot,
        "artifact": {"key": artifact_key, "sha256": registry.sha256_hex(artifact), "size": len(artifact),
                     "format": "joblib"},
        "software": {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
                     "numpy": np.__version__},
    }


def train_and_publish(store: ObjectStore, config: TrainerConfig, now: datetime | None = None) -> TrainOutcome:
    """The whole run; raises DataError, ModelRejected or registry/storage errors without publishing."""
    prefix = config.model_prefix
    current = registry.current_version(store, prefix)
    baseline_model = registry.load_model(store, prefix, current) if current else None

    # Read the baseline's columns too (when the data has them) to score it on the very same held-out rows.
    optional = baseline_model.feature_names if baseline_model is not None else ()
    dataset = load_dataset(store, config.data_prefix, config.features, config.label_column, optional)
    check_trainable(dataset.labels, config)

    indices = np.arange(len(dataset.labels))
    train_idx, test_idx = train_test_split(indices, test_size=config.test_fraction, stratify=dataset.labels,
                                           random_state=config.seed)
    x_all = dataset.matrix(config.features)
    y = dataset.labels
    model = fit_forest(x_all[train_idx], y[train_idx], config)
    proba = model.predict_proba(x_all[test_idx])[:, list(model.classes_).index(1)]
    metrics: dict[str, Any] = evaluate(y[test_idx], proba, config.threshold)
    metrics.update(n_train=int(len(train_idx)), n_test=int(len(test_idx)),
                   positives_test=int(y[test_idx].sum()), threshold=config.threshold)

    baseline = None
    if baseline_model is not None:
        if all(c in dataset.columns for c in baseline_model.feature_names):
            base_proba = baseline_model.probabilities(dataset.matrix(baseline_model.feature_names)[test_idx])
            baseline = {"version": baseline_model.version, "roc_auc": float(roc_auc_score(y[test_idx], base_proba)),
                        "evaluated_on": "the candidate's held-out split"}
        else:
            baseline = {"version": baseline_model.version,
                        "roc_auc": float(baseline_model.metadata["metrics"]["roc_auc"]),
                        "evaluated_on": "its own recorded held-out split (its features are not in this data)"}
    comparison = compare(metrics["roc_auc"], baseline, config.max_auc_drop)

    created = now or datetime.now(UTC)
    artifact = registry.serialize_estimator(model)
    # Time for ordering, the artefact's hash so two different models never collide on a name.
    version = config.version or f"{created.astimezone(UTC):%Y%m%dT%H%M%SZ}-{registry.sha256_hex(artifact)[:8]}"
    joblib_key, json_key = registry.artifact_key(prefix, version), registry.metadata_key(prefix, version)
    metadata = build_metadata(version=version, artifact=artifact, config=config, metrics=metrics,
                              comparison=comparison, snapshot=dataset.snapshot, created_at=created,
                              artifact_key=joblib_key)
    registry.publish(store, prefix, version, artifact, metadata)
    if config.set_current:
        registry.set_current(store, prefix, version)
    return TrainOutcome(version=version, metrics=metrics, comparison=comparison, artifact_key=joblib_key,
                        metadata_key=json_key, current_moved=config.set_current)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] = os.environ) -> int:
    """CLI entry point: configuration from ``env``, a JSON summary on stdout, the exit status above."""
    # No options: everything is configured by FF_* and BUCKET_*/AWS_* variables (see TrainerConfig).
    argparse.ArgumentParser(prog="python -m workloads.fraud.trainer", description=__doc__.splitlines()[0],
                            epilog="Configured by environment variables only; see the module docstring.").parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        config = TrainerConfig.from_env(env)
        store = ObjectStore(S3Settings.from_env(env))
    except (SettingError, ConfigError) as exc:
        log.error("configuration error: %s", exc)
        return EXIT_CONFIG
    try:
        outcome = train_and_publish(store, config)
    except ModelRejected as exc:
        log.error("model refused: %s", exc)
        return EXIT_REFUSED
    except DataError as exc:
        log.error("training data error: %s", exc)
        return EXIT_DATA
    except registry.VersionExists as exc:
        log.error("%s", exc)
        return EXIT_CONFIG if config.version else EXIT_STORAGE
    except (registry.RegistryError, ObjectStoreError) as exc:
        log.error("object storage / registry error: %s", exc)
        return EXIT_STORAGE
    log.info("published model %s (roc_auc=%.4f precision=%.4f recall=%.4f)%s", outcome.version,
             outcome.metrics["roc_auc"], outcome.metrics["precision"], outcome.metrics["recall"],
             "; CURRENT now points at it" if outcome.current_moved else "")
    print(json.dumps({"version": outcome.version, "metrics": outcome.metrics, "comparison": outcome.comparison,
                      "artifact": outcome.artifact_key, "metadata": outcome.metadata_key}, sort_keys=True))
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
