"""The sentiment classifier: hashed word and bigram features (scikit-learn's HashingVectorizer) and a logistic
regression, stored as plain JSON numbers (a model format that cannot execute code when loaded, like
workloads/common/linearmodel.py; pickle/joblib would run code from the bucket).

Why scikit-learn rather than TensorFlow: tweets are short, the training set is thousands of rows a night on CPU,
and the speed layer scores every micro-batch inside Spark's Python workers, where a linear model over a stateless
hashing vectorizer answers in microseconds with no vocabulary to ship and no GPU to schedule; TensorFlow would
add a 500 MB runtime to the Spark image for no accuracy on this data (and cannot share the test venv with the
policy packs' protobuf pin, harness-facts §1).
Application code: never imports pulumi or infra.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FORMAT = "hashed-text-logreg"
N_FEATURES = 2 ** 14
NGRAMS = (1, 2)


def _vectorizer(n_features: int, ngrams: tuple[int, int]):
    from sklearn.feature_extraction.text import HashingVectorizer

    # alternate_sign off and l2 norm: the same text always maps to the same non-negative features.
    return HashingVectorizer(n_features=n_features, ngram_range=ngrams, alternate_sign=False, norm="l2",
                             lowercase=True)


@dataclass(frozen=True)
class SentimentModel:
    coef: np.ndarray
    intercept: float
    n_features: int = N_FEATURES
    ngrams: tuple[int, int] = NGRAMS

    def positive_probability(self, texts: Sequence[str]) -> np.ndarray:
        """P(positive) of each text."""
        if not texts:
            return np.zeros(0)
        x = _vectorizer(self.n_features, self.ngrams).transform(list(texts))
        z = x @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return (self.positive_probability(texts) >= 0.5).astype(int)

    def to_bytes(self) -> bytes:
        return json.dumps({"format": FORMAT, "n_features": self.n_features, "ngrams": list(self.ngrams),
                           "intercept": float(self.intercept), "coef": [round(float(c), 8) for c in self.coef]},
                          separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> "SentimentModel":
        """Parse and check the JSON numbers; a malformed artefact raises ValueError naming the field."""
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as e:
            raise ValueError(f"sentiment model: not JSON ({e})") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"sentiment model: format must be {FORMAT!r}")
        n = doc.get("n_features")
        coef = doc.get("coef")
        ngrams = doc.get("ngrams")
        if not isinstance(n, int) or not 1 <= n <= 2 ** 20:
            raise ValueError("sentiment model: n_features must be an integer in [1, 2^20]")
        if not isinstance(coef, list) or len(coef) != n or not all(isinstance(c, (int, float)) for c in coef):
            raise ValueError("sentiment model: coef must be n_features numbers")
        if not (isinstance(ngrams, list) and len(ngrams) == 2 and all(isinstance(g, int) for g in ngrams)
                and 1 <= ngrams[0] <= ngrams[1] <= 3):
            raise ValueError("sentiment model: ngrams must be [low, high] with 1 <= low <= high <= 3")
        intercept = doc.get("intercept")
        if not isinstance(intercept, (int, float)) or not math.isfinite(intercept):
            raise ValueError("sentiment model: intercept must be a finite number")
        arr = np.asarray(coef, dtype=np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError("sentiment model: coef must be finite")
        return cls(coef=arr, intercept=float(intercept), n_features=n, ngrams=(ngrams[0], ngrams[1]))


def train(texts: Sequence[str], labels: Sequence[int], *, c: float = 4.0, seed: int = 0) -> SentimentModel:
    """Fit a logistic regression on hashed features (both classes must be present)."""
    from sklearn.linear_model import LogisticRegression

    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    if len(set(labels)) < 2:
        raise ValueError("training needs both positive and negative examples")
    x = _vectorizer(N_FEATURES, NGRAMS).transform(list(texts))
    lr = LogisticRegression(C=c, max_iter=1000, random_state=seed)
    lr.fit(x, np.asarray(labels))
    return SentimentModel(coef=lr.coef_[0].astype(np.float64), intercept=float(lr.intercept_[0]))


def accuracy(model: SentimentModel, examples: Sequence[tuple[str, int]]) -> float:
    """Share of `examples` (text, label) the model labels right."""
    if not examples:
        raise ValueError("no examples to validate against")
    texts = [t for t, _ in examples]
    truth = np.asarray([lbl for _, lbl in examples])
    return float(np.mean(model.predict(texts) == truth))
