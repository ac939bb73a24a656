"""The batch job's quality report and publish gate, pure (the Spark job computes the inputs; tests and
Hypothesis check these directly).

- RMSE of the model on a held-out split against two baselines: the global mean rating and each product's mean
  (falling back to the global mean for a product the training split never saw);
- precision@k of the model's top-k against the popularity top-k (most-rated products), both excluding what
  the user rated in the training split, over users with at least one relevant held-out product (rated at least
  ``relevant_rating``).

The gate refuses to publish unless the model beats every baseline by the configured margin.
Application code: never imports pulumi or infra.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


def rmse(errors: Iterable[float]) -> float:
    """Root mean squared error of (prediction - truth) differences; nan for none."""
    total, n = 0.0, 0
    for e in errors:
        total += e * e
        n += 1
    return math.sqrt(total / n) if n else math.nan


def precision_at_k(recommended: Mapping[int, Sequence[int]], relevant: Mapping[int, set[int]], k: int) -> float:
    """Mean over users with a relevant item of |top-k ∩ relevant| / k (a list shorter than k counts its misses)."""
    if k < 1:
        raise ValueError(f"k={k}: use k >= 1")
    users = [u for u, items in relevant.items() if items]
    if not users:
        return 0.0
    hits = sum(len(set(list(recommended.get(u, ()))[:k]) & relevant[u]) for u in users)
    return hits / (k * len(users))


def popularity_top(counts: Mapping[int, int], seen: Mapping[int, set[int]], users: Iterable[int],
                   k: int) -> dict[int, list[int]]:
    """For each user, the k most-rated items (ties by id) they did not rate in the training split."""
    ranked = sorted(counts, key=lambda item: (-counts[item], item))
    out = {}
    for user in users:
        skip = seen.get(user, set())
        out[user] = [i for i in ranked if i not in skip][:k]
    return out


@dataclass(frozen=True)
class QualityReport:
    """What one run measured; `refusals` is empty when the model may be published."""

    rmse: float
    rmse_global_mean: float
    rmse_item_mean: float
    precision_at_k: float
    precision_popularity: float
    k: int
    test_ratings: int
    test_users: int
    refusals: list[str] = field(default_factory=list)

    @property
    def publishable(self) -> bool:
        return not self.refusals

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "publishable": self.publishable}


def judge(*, rmse_model: float, rmse_global: float, rmse_item: float, precision_model: float,
          precision_popular: float, k: int, test_ratings: int, test_users: int,
          min_rmse_gain: float = 0.0, min_precision_gain: float = 0.0, min_test_ratings: int = 1) -> QualityReport:
    """The report with the reasons to refuse: the model must beat each baseline by more than the margins
    (RMSE lower by more than `min_rmse_gain`, precision higher by more than `min_precision_gain`)."""
    refusals = []
    if test_ratings < min_test_ratings:
        refusals.append(f"only {test_ratings} held-out ratings could be scored (cold-start rows dropped); at least "
                        f"{min_test_ratings} are needed to judge the model")
    for name, baseline in (("global-mean", rmse_global), ("item-mean", rmse_item)):
        if not (math.isfinite(rmse_model) and rmse_model < baseline - min_rmse_gain):
            refusals.append(f"RMSE {rmse_model:.4f} does not beat the {name} baseline {baseline:.4f} by more than "
                            f"{min_rmse_gain}")
    if not precision_model > precision_popular + min_precision_gain:
        refusals.append(f"precision@{k} {precision_model:.4f} does not beat popularity {precision_popular:.4f} by "
                        f"more than {min_precision_gain}")
    return QualityReport(rmse=rmse_model, rmse_global_mean=rmse_global, rmse_item_mean=rmse_item,
                         precision_at_k=precision_model, precision_popularity=precision_popular, k=k,
                         test_ratings=test_ratings, test_users=test_users, refusals=refusals)
