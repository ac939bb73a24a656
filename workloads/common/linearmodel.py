"""A logistic-regression classifier stored as plain JSON numbers: a model format that cannot execute code.

Pickle (and joblib, which is pickle) runs arbitrary code while loading; these parameters are only parsed as
numbers. Any workload whose model is linear in (transformed) features can publish in this format
(``FORMAT``) and keep the registry's digest check as a second line of defence rather than the only one.

Scoring is ``sigmoid(intercept + sum(coef_i * t(x_i)))`` with ``t`` the named per-feature transform; the
trainer folds feature scaling into ``coef`` and ``intercept`` so serving needs nothing else.
Application code: never imports pulumi or infra.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

FORMAT = "linear-json"
TRANSFORMS = ("identity", "signed_log1p")


def transform(x: np.ndarray, name: str) -> np.ndarray:
    """The feature transform ``name`` applied elementwise (signed_log1p keeps the sign: log1p(|x|) * sign(x))."""
    if name == "identity":
        return np.asarray(x, dtype=np.float64)
    if name == "signed_log1p":
        arr = np.asarray(x, dtype=np.float64)
        return np.sign(arr) * np.log1p(np.abs(arr))
    raise ValueError(f"unknown transform {name!r}; valid: {', '.join(TRANSFORMS)}")


class LinearClassifier:
    """Binary logistic regression with the sklearn surface the serving code uses (predict_proba, classes_,
    n_features_in_)."""

    def __init__(self, coef: np.ndarray | list[float], intercept: float, feature_transform: str = "signed_log1p"):
        coef_arr = np.asarray(coef, dtype=np.float64).reshape(-1)
        if coef_arr.size == 0 or not np.all(np.isfinite(coef_arr)) or not math.isfinite(float(intercept)):
            raise ValueError("coef must be a non-empty list of finite numbers and intercept a finite number")
        transform(np.zeros(1), feature_transform)  # validates the name
        self.coef = coef_arr
        self.intercept = float(intercept)
        self.feature_transform = feature_transform
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = int(coef_arr.size)

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        return transform(x, self.feature_transform) @ self.coef + self.intercept

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        z = np.clip(self.decision_function(x), -500.0, 500.0)  # exp overflows beyond ~709
        p = 1.0 / (1.0 + np.exp(-z))
        return np.column_stack([1.0 - p, p])

    def to_bytes(self) -> bytes:
        return json.dumps({"format": FORMAT, "transform": self.feature_transform, "coef": self.coef.tolist(),
                           "intercept": self.intercept}, sort_keys=True).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> LinearClassifier:
        """Parse the JSON parameters; ValueError on anything else (never evaluates the content)."""
        try:
            doc: Any = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"not a {FORMAT} document: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} document (format field missing or different)")
        coef, intercept = doc.get("coef"), doc.get("intercept")
        if not isinstance(coef, list) or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in coef) \
                or not isinstance(intercept, (int, float)) or isinstance(intercept, bool):
            raise ValueError(f"{FORMAT}: coef must be a list of numbers and intercept a number")
        return cls(coef, float(intercept), str(doc.get("transform", "")))

    def memory_bytes(self) -> int:
        return int(self.coef.nbytes) + 64
