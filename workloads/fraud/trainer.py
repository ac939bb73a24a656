"""Train the fraud model from labelled transactions in object storage, judge it honestly, publish it if it passes.

    python -m workloads.fraud.trainer

Reads every ``*.csv`` object under ``FF_TRAIN_DATA_PREFIX``, drops duplicate rows (same ``FF_ID_COLUMN``, or the
same row), orders them by ``FF_TIME_COLUMN`` and splits by time: the model learns from the past and is tested
on the newest ``FF_TEST_FRACTION`` of the rows. The quality gate, in order:

1. size: the model's in-memory size must fit ``FF_MODEL_MEMORY_BUDGET_BYTES`` (derived from the API pod's
   memory limit by the workload's declaration);
2. absolute floor: ROC AUC >= ``FF_MIN_AUC`` and recall >= ``FF_MIN_RECALL`` on the test window (a model
   trained on noise never passes, even on the first day);
3. against what is DEPLOYED (``FF_STABLE_VERSION`` with its pinned ``FF_STABLE_DIGEST``, from the stack): both
   are scored on the test rows newer than anything the stable version was trained on; the candidate is refused
   only when it is worse by more than ``FF_GATE_Z`` standard deviations of the paired bootstrap of the AUC
   difference (the tolerance is measured on these rows, not a fixed number).

Every run also scores the other model family on the same rows (logistic regression on log features vs the
RandomForest) and writes a quality report to ``<FF_MODEL_PREFIX>/runs/<run>.json`` (and ``runs/LATEST.json``,
which the API exports as metrics for the alerts). A passing model is published as an immutable version and
its digest printed: pin it in the stack next to the version. A refused model is a normal outcome.

Exit status: 0 published or refused (see "verdict"), 2 bad configuration, 4 bad or insufficient training data,
5 object storage or registry failure (including a stable version that does not match its pinned digest).
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
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import sklearn
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_score, recall_score, roc_auc_score

from workloads.common import modelregistry
from workloads.common.envconfig import SettingError, get_bool, get_float, get_int, get_list, get_str
from workloads.common.linearmodel import LinearClassifier, transform
from workloads.common.objectstore import ObjectStore, ObjectStoreError
from workloads.common.s3settings import S3Settings

from . import registry
from .features import BASE_FEATURES, COLUMN_PATTERN, feature_names

log = logging.getLogger("fraud.trainer")

EXIT_OK, EXIT_CONFIG, EXIT_DATA, EXIT_STORAGE = 0, 2, 4, 5
MODEL_TYPES = ("logistic", "forest")


class DataError(Exception):
    """The training data is missing, malformed or insufficient; the message names the object and row."""


@dataclass(frozen=True)
class TrainerConfig:
    """What to train on, how, and when to refuse; every field comes from one FF_* variable."""

    data_prefix: str
    """FF_TRAIN_DATA_PREFIX (required): key prefix of the labelled CSV objects."""
    model_prefix: str = "models/fraud"
    """FF_MODEL_PREFIX: where versions and run reports live."""
    version: str | None = None
    """FF_MODEL_VERSION: name of the version to publish; default <UTC time>-<sha256 of the model, 8 hex>."""
    model_type: str = "logistic"
    """FF_MODEL_TYPE: logistic (regression on log features, published as JSON numbers) or forest (RandomForest,
    joblib). Logistic is the default from evidence: it beat the forest on every measured data set
    (benchmarks/fraud_models.py) and loads without executing code; every run reports the other one as a baseline."""
    extra_features: tuple[str, ...] = ()
    """FF_EXTRA_FEATURES: comma-separated extra numeric columns, after f1..f3 (f4, f5, ...)."""
    label_column: str = "is_fraud"
    """FF_LABEL_COLUMN: the 0/1 label column."""
    time_column: str = "timestamp"
    """FF_TIME_COLUMN: event time of a row (ISO 8601 with zone, or epoch milliseconds); the split is by time."""
    id_column: str = "transaction_id"
    """FF_ID_COLUMN: identity of a row for de-duplication (whole rows are compared when the data has no such column)."""
    test_fraction: float = 0.25
    """FF_TEST_FRACTION: share of the newest rows held out for evaluation."""
    threshold: float = 0.5
    """FF_DECISION_THRESHOLD: P(fraud) at or above which a transaction is classified as fraud."""
    n_estimators: int = 100
    """FF_N_ESTIMATORS: trees in the forest."""
    max_depth: int | None = 12
    """FF_MAX_DEPTH: maximum tree depth (bounded: unbounded trees on 300k rows outgrew the API's memory)."""
    min_samples_leaf: int = 3
    """FF_MIN_SAMPLES_LEAF: smallest leaf; >1 keeps probabilities from being only 0 or 1."""
    seed: int = 0
    """FF_SEED: random seed of the forest and the bootstrap (same data + seed = same model and verdict)."""
    stable_version: str | None = None
    """FF_STABLE_VERSION: the version the stack deploys as stable (api.stableVersion): what the candidate must match."""
    stable_digest: str | None = None
    """FF_STABLE_DIGEST: its pinned digest (api.stableDigest); required with FF_STABLE_VERSION."""
    min_auc: float = 0.75
    """FF_MIN_AUC: absolute floor of ROC AUC on the test window."""
    min_recall: float = 0.2
    """FF_MIN_RECALL: absolute floor of recall at the decision threshold on the test window."""
    gate_z: float = 2.0
    """FF_GATE_Z: refuse when the candidate's AUC is below the stable one's by more than this many standard
    deviations of the paired bootstrap of their difference."""
    bootstrap: int = 200
    """FF_BOOTSTRAP: bootstrap resamples of the evaluation rows (the measured noise)."""
    min_eval_positives: int = 10
    """FF_MIN_EVAL_POSITIVES: fewest fraud rows both models have not seen; fewer: refused as not judgeable."""
    memory_budget_bytes: int | None = None
    """FF_MODEL_MEMORY_BUDGET_BYTES: largest in-memory model the API can hold (set from its pod's memory limit)."""
    min_rows: int = 200
    """FF_MIN_ROWS: refuse to train on fewer labelled rows."""
    n_jobs: int = 1
    """FF_TRAIN_JOBS: parallel tree builders (the container's CPU limit)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> TrainerConfig:
        data_prefix = get_str(env, "FF_TRAIN_DATA_PREFIX", hint="set it to the key prefix of the labelled CSV objects, e.g. training/transactions/")
        model_prefix = get_str(env, "FF_MODEL_PREFIX", "models/fraud")
        version = env.get("FF_MODEL_VERSION", "").strip() or None
        stable = env.get("FF_STABLE_VERSION", "").strip() or None
        stable_digest = env.get("FF_STABLE_DIGEST", "").strip() or None
        try:
            registry.check_prefix(model_prefix, "FF_MODEL_PREFIX")
            if version is not None:
                registry.check_version(version, "FF_MODEL_VERSION")
            if stable is not None:
                registry.check_version(stable, "FF_STABLE_VERSION")
            if stable_digest is not None:
                registry.check_digest(stable_digest, "FF_STABLE_DIGEST")
        except ValueError as exc:
            raise SettingError(str(exc)) from None
        if (stable is None) != (stable_digest is None):
            raise SettingError("FF_STABLE_VERSION and FF_STABLE_DIGEST go together: set both (the stack's "
                               "api.stableVersion and api.stableDigest) or neither (the first model)")
        model_type = get_str(env, "FF_MODEL_TYPE", "logistic")
        if model_type not in MODEL_TYPES:
            raise SettingError(f"FF_MODEL_TYPE={model_type!r} is invalid: use one of {', '.join(MODEL_TYPES)}")
        extra = get_list(env, "FF_EXTRA_FEATURES", item_pattern=COLUMN_PATTERN,
                         hint="use column names of letters, digits and '_', comma-separated")
        try:
            feature_names(extra)
        except ValueError as exc:
            raise SettingError(f"FF_EXTRA_FEATURES: {exc}") from None
        label = get_str(env, "FF_LABEL_COLUMN", "is_fraud", pattern=COLUMN_PATTERN)
        if label in feature_names(extra):
            raise SettingError(f"FF_LABEL_COLUMN={label!r} is also a feature; the label cannot be an input")
        max_depth = get_int(env, "FF_MAX_DEPTH", 12, minimum=1, maximum=1000)
        return cls(
            data_prefix=data_prefix.lstrip("/"),
            model_prefix=registry.check_prefix(model_prefix),
            version=version,
            model_type=model_type,
            extra_features=extra,
            label_column=label,
            time_column=get_str(env, "FF_TIME_COLUMN", "timestamp", pattern=COLUMN_PATTERN),
            id_column=get_str(env, "FF_ID_COLUMN", "transaction_id", pattern=COLUMN_PATTERN),
            test_fraction=get_float(env, "FF_TEST_FRACTION", 0.25, minimum=0.0, maximum=1.0, exclusive=True),
            threshold=get_float(env, "FF_DECISION_THRESHOLD", 0.5, minimum=0.0, maximum=1.0, exclusive=True),
            n_estimators=int(get_int(env, "FF_N_ESTIMATORS", 100, minimum=1, maximum=5000) or 100),
            max_depth=max_depth,
            min_samples_leaf=int(get_int(env, "FF_MIN_SAMPLES_LEAF", 3, minimum=1, maximum=100000) or 3),
            seed=int(get_int(env, "FF_SEED", 0, minimum=0, maximum=2**32 - 1) or 0),
            stable_version=stable,
            stable_digest=stable_digest,
            min_auc=get_float(env, "FF_MIN_AUC", 0.75, minimum=0.0, maximum=1.0),
            min_recall=get_float(env, "FF_MIN_RECALL", 0.2, minimum=0.0, maximum=1.0),
            gate_z=get_float(env, "FF_GATE_Z", 2.0, minimum=0.0, maximum=10.0),
            bootstrap=int(get_int(env, "FF_BOOTSTRAP", 200, minimum=20, maximum=10000) or 200),
            min_eval_positives=int(get_int(env, "FF_MIN_EVAL_POSITIVES", 10, minimum=1, maximum=10**6) or 10),
            memory_budget_bytes=get_int(env, "FF_MODEL_MEMORY_BUDGET_BYTES", None, minimum=1024),
            min_rows=int(get_int(env, "FF_MIN_ROWS", 200, minimum=10, maximum=10**9) or 200),
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
    """Labelled rows: columns by name (float arrays), the label, event times, row ids, and what was read."""

    columns: dict[str, np.ndarray]
    labels: np.ndarray
    snapshot: dict[str, Any]
    times: np.ndarray = field(default_factory=lambda: np.empty(0))
    ids: list[str] | None = None

    def matrix(self, names: Sequence[str]) -> np.ndarray:
        return np.column_stack([self.columns[n] for n in names]).astype(np.float64)

    def take(self, index: np.ndarray) -> Dataset:
        return Dataset(columns={c: v[index] for c, v in self.columns.items()}, labels=self.labels[index],
                       snapshot=self.snapshot, times=self.times[index],
                       ids=[self.ids[i] for i in index] if self.ids is not None else None)


def parse_time(key: str, line_no: int, column: str, cell: str) -> float:
    """Epoch seconds of an ISO 8601 time with a zone, or of epoch milliseconds; DataError otherwise."""
    text = cell.strip()
    try:
        return float(int(text, 10)) / 1000.0
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise DataError(f"{key} line {line_no}: {column}={text[:40]!r} is not ISO 8601 or epoch milliseconds") from None
    if parsed.tzinfo is None:
        raise DataError(f"{key} line {line_no}: {column}={text[:40]!r} has no time zone; add Z or an offset")
    return parsed.timestamp()


def parse_csv(key: str, data: bytes, columns: Sequence[str], label: str, optional: Sequence[str] = (),
              time_column: str | None = None, id_column: str | None = None
              ) -> tuple[dict[str, list[float]], list[int], list[float], list[str] | None]:
    """(named columns, 0/1 labels, event times, row ids or None) of one CSV object; DataError names key, line
    and column. ``optional`` columns are read when the header has them and left out of the result otherwise;
    the time column is required when named, the id column is used when present."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{key}: not UTF-8 text ({exc})") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    required = [*columns, label, *([time_column] if time_column else [])]
    if header is None:
        raise DataError(f"{key}: empty object, expected a CSV header with {', '.join(required)}")
    index = {name.strip(): i for i, name in enumerate(header)}
    missing = [c for c in required if c not in index]
    if missing:
        why = f" ({time_column} orders the rows for the time-based split: FF_TIME_COLUMN)" if time_column in missing else ""
        raise DataError(f"{key}: missing column(s) {', '.join(missing)}{why}; the header has {', '.join(index) or 'nothing'}")
    wanted = [*columns, *(c for c in optional if c in index and c not in columns)]
    values: dict[str, list[float]] = {c: [] for c in wanted}
    labels: list[int] = []
    times: list[float] = []
    ids: list[str] | None = [] if id_column and id_column in index else None
    for line_no, row in enumerate(reader, start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise DataError(f"{key} line {line_no}: {len(row)} fields, the header has {len(header)}")
        raw_label = row[index[label]].strip()
        if raw_label not in ("0", "1"):
            raise DataError(f"{key} line {line_no}: {label}={raw_label!r} must be 0 or 1")
        labels.append(int(raw_label))
        if time_column:
            times.append(parse_time(key, line_no, time_column, row[index[time_column]]))
        if ids is not None:
            ids.append(row[index[id_column]].strip())  # type: ignore[index]
        for c in wanted:
            cell = row[index[c]].strip()
            try:
                number = float(cell)
            except ValueError:
                raise DataError(f"{key} line {line_no}: {c}={cell!r} is not a number") from None
            if not np.isfinite(number):
                raise DataError(f"{key} line {line_no}: {c}={cell!r} is not finite")
            values[c].append(number)
    return values, labels, times, ids


def load_dataset(store: ObjectStore, prefix: str, columns: Sequence[str], label: str,
                 optional: Sequence[str] = (), time_column: str | None = None,
                 id_column: str | None = None) -> Dataset:
    """Every ``*.csv`` object under ``prefix``, concatenated in key order, with a snapshot of what was read.

    An ``optional`` column is kept only when every object has it; so are row ids.
    """
    keys = sorted(k for k in store.list_keys(prefix) if k.endswith(".csv"))
    if not keys:
        raise DataError(f"no *.csv objects under {prefix} (FF_TRAIN_DATA_PREFIX)")
    merged: dict[str, list[float]] = {}
    labels: list[int] = []
    times: list[float] = []
    ids: list[str] | None = []
    objects = []
    for position, key in enumerate(keys):
        data = store.get_bytes(key)
        objects.append({"key": key, "size": len(data), "sha256": registry.sha256_hex(data)})
        values, object_labels, object_times, object_ids = parse_csv(key, data, columns, label, optional,
                                                                    time_column, id_column)
        if position == 0:
            merged = {c: [] for c in values}
        for c in list(merged):
            if c in values:
                merged[c].extend(values[c])
            else:  # an optional column this object lacks
                del merged[c]
        labels.extend(object_labels)
        times.extend(object_times)
        if ids is not None:  # extended in place: rebuilding the list per object grew with rows x objects
            if object_ids is None:
                ids = None
            else:
                ids.extend(object_ids)
    # One hash over (key, content hash) pairs identifies the exact training set.
    digest = hashlib.sha256("".join(f"{o['key']}\t{o['sha256']}\n" for o in objects).encode()).hexdigest()
    snapshot = {"bucket": store.settings.bucket, "prefix": prefix, "objects": objects, "sha256": digest, "rows": len(labels)}
    return Dataset(columns={c: np.asarray(v, dtype=np.float64) for c, v in merged.items()},
                   labels=np.asarray(labels, dtype=np.int64), snapshot=snapshot,
                   times=np.asarray(times, dtype=np.float64), ids=ids)


def deduplicate(data: Dataset, names: Sequence[str]) -> tuple[Dataset, int]:
    """The first occurrence of every row id (or, without ids, of every identical row); and how many were dropped.

    Replayed exports and overlapping objects otherwise put the same transaction in both the training and the
    test window, which flatters whichever model saw it."""
    seen: set[Any] = set()
    keep = []
    matrix = data.matrix(names) if data.ids is None else None
    for i in range(len(data.labels)):
        if data.ids is not None:
            identity: Any = data.ids[i]
        else:
            identity = (data.times[i] if len(data.times) else None, int(data.labels[i]), *matrix[i].tolist())  # type: ignore[index]
        if identity in seen:
            continue
        seen.add(identity)
        keep.append(i)
    index = np.asarray(keep, dtype=np.int64)
    return data.take(index), len(data.labels) - len(keep)


def time_split(times: np.ndarray, test_fraction: float) -> tuple[np.ndarray, np.ndarray, float]:
    """(train indices, test indices, boundary): the test window is the newest ``test_fraction`` of the rows,
    strictly after the boundary time, so rows of one instant never straddle it."""
    order = np.argsort(times, kind="stable")
    n_test = int(np.ceil(len(times) * test_fraction))
    boundary = float(times[order[len(times) - n_test - 1]]) if n_test < len(times) else float("-inf")
    train = np.flatnonzero(times <= boundary)
    test = np.flatnonzero(times > boundary)
    return train, test, boundary


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


def check_trainable(labels: np.ndarray, config: TrainerConfig, where: str = "training window") -> None:
    rows, positives = len(labels), int(labels.sum())
    if rows < config.min_rows:
        raise DataError(f"only {rows} labelled rows in the {where} under {config.data_prefix}; "
                        f"FF_MIN_ROWS requires {config.min_rows}")
    for name, count in (("fraud (1)", positives), ("legitimate (0)", rows - positives)):
        if count < 2:
            raise DataError(f"{count} {name} rows out of {rows} in the {where}: both classes are needed; "
                            "add labelled data")


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


def fit_logistic(x: np.ndarray, y: np.ndarray, config: TrainerConfig) -> LinearClassifier:
    """Logistic regression on signed log1p features, standardised while fitting and folded into the weights."""
    t = transform(x, "signed_log1p")
    mean, scale = t.mean(axis=0), t.std(axis=0)
    scale[scale == 0] = 1.0
    lr = LogisticRegression(class_weight="balanced", C=1.0, max_iter=2000)
    lr.fit((t - mean) / scale, y)
    coef = lr.coef_[0] / scale
    return LinearClassifier(coef, float(lr.intercept_[0] - np.dot(coef, mean)), "signed_log1p")


def fit(model_type: str, x: np.ndarray, y: np.ndarray, config: TrainerConfig) -> Any:
    return fit_logistic(x, y, config) if model_type == "logistic" else fit_forest(x, y, config)


def memory_bytes(estimator: Any) -> int:
    """The model's in-memory size once loaded: the arrays that dominate it (tree nodes and values, or weights)."""
    if isinstance(estimator, LinearClassifier):
        return estimator.memory_bytes()
    total = 0
    for tree in getattr(estimator, "estimators_", []):
        state = tree.tree_.__getstate__()
        total += int(state["nodes"].nbytes) + int(state["values"].nbytes) + 2048  # + the Python objects per tree
    return total


def positive_proba(estimator: Any, x: np.ndarray) -> np.ndarray:
    return np.asarray(estimator.predict_proba(x)[:, list(estimator.classes_).index(1)], dtype=np.float64)


def paired_bootstrap(labels: np.ndarray, candidate: np.ndarray, stable: np.ndarray, resamples: int,
                     seed: int) -> dict[str, float]:
    """The AUC difference (candidate - stable) on these rows and its standard deviation over stratified paired
    bootstrap resamples: the noise the tolerance is derived from."""
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    diffs = np.empty(resamples)
    for b in range(resamples):
        idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        diffs[b] = roc_auc_score(labels[idx], candidate[idx]) - roc_auc_score(labels[idx], stable[idx])
    return {"auc_difference": float(roc_auc_score(labels, candidate) - roc_auc_score(labels, stable)),
            "bootstrap_std": float(diffs.std(ddof=1)), "resamples": resamples}


@dataclass
class TrainOutcome:
    """What a run did: its verdict, the version published (if accepted) with the digest to pin, the report."""

    verdict: str  # "accepted" or "refused"
    reasons: list[str]
    report: dict[str, Any]
    version: str | None = None
    digest: str | None = None
    report_key: str | None = None

    @property
    def metrics(self) -> dict[str, Any]:
        return self.report["metrics"]


def build_metadata(*, version: str, artifact: bytes, fmt: str, config: TrainerConfig, metrics: dict[str, Any],
                   quality: dict[str, Any], snapshot: dict[str, Any], created_at: datetime,
                   artifact_key: str, trained_until: str | None = None, memory: int | None = None) -> dict[str, Any]:
    descriptions = {f.name: f.description for f in BASE_FEATURES}
    params = asdict(config)
    model: dict[str, Any] = {"type": "logistic_regression_log_features" if fmt == registry.LINEAR_FORMAT
                             else "sklearn.ensemble.RandomForestClassifier"}
    if fmt != registry.LINEAR_FORMAT:
        model["params"] = {k: params[k] for k in ("n_estimators", "max_depth", "min_samples_leaf", "seed")}
    return {
        "schema": registry.METADATA_SCHEMA,
        "version": version,
        "created_at": created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model": model,
        "features": registry.feature_entries(config.features, descriptions),
        "label": config.label_column,
        "threshold": config.threshold,
        "metrics": metrics,
        "quality": quality,
        "training_data": {**snapshot, "trained_until": trained_until},
        "artifact": {"key": artifact_key, "sha256": registry.sha256_hex(artifact), "size": len(artifact),
                     "format": fmt, "memory_bytes": memory},
        "software": {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
                     "numpy": np.__version__},
    }


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def train_and_publish(store: ObjectStore, config: TrainerConfig, now: datetime | None = None) -> TrainOutcome:
    """The whole run: train, judge, publish when accepted, record the quality report either way.

    Raises DataError or registry/storage errors (nothing published, no report) when it cannot judge at all."""
    prefix = config.model_prefix
    stable = None
    if config.stable_version is not None and config.stable_digest is not None:
        stable = registry.load_model(store, prefix, config.stable_version, config.stable_digest)

    # Read the stable model's columns too (when the data has them) to score it on the very same rows.
    optional = stable.feature_names if stable is not None else ()
    raw = load_dataset(store, config.data_prefix, config.features, config.label_column, optional,
                       config.time_column, config.id_column)
    data, duplicates = deduplicate(raw, config.features)
    train_idx, test_idx, boundary = time_split(data.times, config.test_fraction)
    check_trainable(data.labels[train_idx], config, "training window")
    y = data.labels
    if len(test_idx) == 0 or len(set(y[test_idx].tolist())) < 2:
        raise DataError(f"the test window (newest {config.test_fraction:.0%} of the rows by {config.time_column}) "
                        "needs both classes; add labelled data")
    x = data.matrix(config.features)
    trained_until = _iso(boundary)

    reasons: list[str] = []
    families: dict[str, dict[str, Any]] = {}
    models: dict[str, Any] = {}
    for family in MODEL_TYPES:  # the chosen model and its baseline, on the same rows
        est = fit(family, x[train_idx], y[train_idx], config)
        models[family] = est
        families[family] = {**evaluate(y[test_idx], positive_proba(est, x[test_idx]), config.threshold),
                            "memory_bytes": memory_bytes(est)}
    candidate = models[config.model_type]
    metrics: dict[str, Any] = {**{k: families[config.model_type][k] for k in ("roc_auc", "precision", "recall")},
                               "n_train": int(len(train_idx)), "n_test": int(len(test_idx)),
                               "positives_test": int(y[test_idx].sum()), "threshold": config.threshold,
                               "duplicates_dropped": int(duplicates)}
    other = "forest" if config.model_type == "logistic" else "logistic"
    baselines = {"chosen": config.model_type, "families": families,
                 "auc_margin_over_" + other: families[config.model_type]["roc_auc"] - families[other]["roc_auc"]}

    memory = families[config.model_type]["memory_bytes"]
    size = {"memory_bytes": memory, "budget_bytes": config.memory_budget_bytes,
            "within_budget": config.memory_budget_bytes is None or memory <= config.memory_budget_bytes}
    if not size["within_budget"]:
        reasons.append(f"the model needs {memory} bytes in memory, over the API's budget of "
                       f"{config.memory_budget_bytes} (FF_MODEL_MEMORY_BUDGET_BYTES, from the API pod's memory limit); "
                       "lower FF_MAX_DEPTH / FF_N_ESTIMATORS or raise the API's memory")
    floor = {"min_auc": config.min_auc, "min_recall": config.min_recall,
             "passed": metrics["roc_auc"] >= config.min_auc and metrics["recall"] >= config.min_recall}
    if not floor["passed"]:
        reasons.append(f"below the absolute floor: ROC AUC {metrics['roc_auc']:.4f} (FF_MIN_AUC={config.min_auc}), "
                       f"recall {metrics['recall']:.4f} (FF_MIN_RECALL={config.min_recall}) on the newest "
                       f"{len(test_idx)} rows")

    comparison: dict[str, Any] = {"stable_version": None, "passed": True, "reason": "no stable version deployed yet"}
    if stable is not None:
        comparison = _compare_with_stable(stable, data, x, test_idx, candidate, config)
        if not comparison["passed"]:
            reasons.append(comparison["reason"])

    verdict = "refused" if reasons else "accepted"
    created = now or datetime.now(UTC)
    artifact, fmt = registry.serialize_estimator(candidate)
    version = config.version or f"{created.astimezone(UTC):%Y%m%dT%H%M%SZ}-{registry.sha256_hex(artifact)[:8]}"
    report: dict[str, Any] = {
        "run": version, "verdict": verdict, "reasons": reasons, "finished_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "finished_at_epoch": created.timestamp(), "metrics": metrics, "floor": floor, "size": size,
        "comparison": comparison, "baselines": baselines,
        "split": {"kind": "time", "column": config.time_column, "trained_until": trained_until,
                  "test_from": _iso(float(data.times[test_idx].min())), "test_to": _iso(float(data.times[test_idx].max()))},
        "training_data": {"sha256": raw.snapshot["sha256"], "rows_read": int(len(raw.labels)),
                          "rows_after_dedup": int(len(data.labels))},
        "version": None, "digest": None,
    }
    outcome = TrainOutcome(verdict=verdict, reasons=reasons, report=report)
    if verdict == "accepted":
        art_key = registry.artifact_key(prefix, version, fmt)
        quality = {k: report[k] for k in ("floor", "size", "comparison", "baselines", "split")}
        metadata = build_metadata(version=version, artifact=artifact, fmt=fmt, config=config, metrics=metrics,
                                  quality=quality, snapshot=raw.snapshot, created_at=created,
                                  artifact_key=art_key, trained_until=trained_until, memory=memory)
        digest = registry.publish(store, prefix, version, artifact, metadata)
        report.update(version=version, digest=digest)
        outcome.version, outcome.digest = version, digest
    outcome.report_key = modelregistry.record_run(store, prefix, version, report)
    return outcome


def _compare_with_stable(stable: registry.LoadedModel, data: Dataset, x: np.ndarray, test_idx: np.ndarray,
                         candidate: Any, config: TrainerConfig) -> dict[str, Any]:
    """Both models on the test rows neither has seen, with the tolerance measured on those rows."""
    record: dict[str, Any] = {"stable_version": stable.version, "stable_digest": stable.digest}
    if not all(c in data.columns for c in stable.feature_names):
        record.update(passed=False, reason=f"the data lacks the stable version's features "
                                           f"{', '.join(stable.feature_names)}; it cannot be judged against it")
        return record
    stable_until = (stable.metadata.get("training_data") or {}).get("trained_until")
    rows = test_idx
    if stable_until:
        rows = test_idx[data.times[test_idx] > _epoch(stable_until)]
    record["stable_trained_until"] = stable_until
    record["evaluated_rows"] = int(len(rows))
    y = data.labels[rows]
    positives = int(y.sum())
    record["evaluated_positives"] = positives
    if positives < config.min_eval_positives or len(rows) - positives < config.min_eval_positives:
        record.update(passed=False, reason=f"only {len(rows)} test rows ({positives} fraud) are newer than what "
                                           f"the stable version {stable.version} was trained on; "
                                           f"FF_MIN_EVAL_POSITIVES={config.min_eval_positives} of each class are "
                                           "needed to judge the candidate against it")
        return record
    cand = positive_proba(candidate, x[rows])
    base = stable.probabilities(data.matrix(stable.feature_names)[rows])
    noise = paired_bootstrap(y, cand, base, config.bootstrap, config.seed)
    tolerance = config.gate_z * noise["bootstrap_std"]
    record.update(candidate_roc_auc=float(roc_auc_score(y, cand)), stable_roc_auc=float(roc_auc_score(y, base)),
                  **noise, gate_z=config.gate_z, tolerance=tolerance,
                  passed=noise["auc_difference"] >= -tolerance)
    record["reason"] = (f"candidate ROC AUC {record['candidate_roc_auc']:.4f} vs stable {stable.version} "
                        f"{record['stable_roc_auc']:.4f} on {len(rows)} rows neither has seen: difference "
                        f"{noise['auc_difference']:+.4f}, tolerance {tolerance:.4f} "
                        f"({config.gate_z} x bootstrap std {noise['bootstrap_std']:.4f})")
    return record


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] = os.environ) -> int:
    """CLI entry point: configuration from ``env``, the quality report on stdout, the exit status above."""
    # No options: everything is configured by FF_* and BUCKET_*/AWS_* variables (see TrainerConfig).
    argparse.ArgumentParser(prog="python -m workloads.fraud.trainer", description=__doc__.splitlines()[0],
                            epilog="Configured by environment variables only; see the module docstring.").parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        config = TrainerConfig.from_env(env)
        store = ObjectStore(S3Settings.from_env(env))
    except SettingError as exc:
        log.error("configuration error: %s", exc)
        return EXIT_CONFIG
    try:
        outcome = train_and_publish(store, config)
    except DataError as exc:
        log.error("training data error: %s", exc)
        return EXIT_DATA
    except registry.VersionExists as exc:
        log.error("%s", exc)
        return EXIT_CONFIG if config.version else EXIT_STORAGE
    except (registry.RegistryError, ObjectStoreError) as exc:
        log.error("object storage / registry error: %s", exc)
        return EXIT_STORAGE
    m = outcome.metrics
    if outcome.verdict == "accepted":
        log.info("published model %s (roc_auc=%.4f precision=%.4f recall=%.4f); pin it in the stack: "
                 "stableVersion or candidateVersion %s with digest %s", outcome.version, m["roc_auc"],
                 m["precision"], m["recall"], outcome.version, outcome.digest)
    else:
        log.warning("model refused (nothing published): %s", "; ".join(outcome.reasons))
    print(json.dumps(outcome.report, sort_keys=True))
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
