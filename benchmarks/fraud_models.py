"""Which model family should the fraud trainer default to? Both, side by side, on the trainer's own split.

    .venv/bin/python benchmarks/fraud_models.py [--datasets 5] [--rows 20000]

For each synthetic data set (workloads/fraud/synthetic.py, a different seed each) it trains the logistic
regression on log features and the RandomForest with the trainer's defaults on the older rows, scores both on
the newest 25% (the trainer's time split), and prints per data set and on average: ROC AUC, recall at 0.5,
in-memory size, artefact size and fit time, with the logistic/forest ratios. The trainer's FF_MODEL_TYPE
default follows this evidence (see its docstring); rerun this after changing either family.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from workloads.fraud import registry, synthetic, trainer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=5)
    parser.add_argument("--rows", type=int, default=20000)
    args = parser.parse_args()
    config = trainer.TrainerConfig(data_prefix="bench")
    results: dict[str, list[dict[str, float]]] = {family: [] for family in trainer.MODEL_TYPES}
    for seed in range(args.datasets):
        rows = synthetic.generate(args.rows, seed=1000 + seed)
        x = synthetic.feature_matrix(rows, config.features)
        y = np.array([r["is_fraud"] for r in rows])
        times = np.array([trainer._epoch(r["timestamp"]) for r in rows])
        train, test, _ = trainer.time_split(times, config.test_fraction)
        for family in trainer.MODEL_TYPES:
            started = time.perf_counter()
            est = trainer.fit(family, x[train], y[train], config)
            fit_s = time.perf_counter() - started
            m = trainer.evaluate(y[test], trainer.positive_proba(est, x[test]), config.threshold)
            artifact, _ = registry.serialize_estimator(est)
            results[family].append({"roc_auc": m["roc_auc"], "recall": m["recall"], "precision": m["precision"],
                                    "memory_bytes": trainer.memory_bytes(est), "artifact_bytes": len(artifact),
                                    "fit_seconds": fit_s})
        lo, fo = results["logistic"][-1], results["forest"][-1]
        print(f"data set {seed}: AUC logistic {lo['roc_auc']:.4f} forest {fo['roc_auc']:.4f}   "
              f"recall logistic {lo['recall']:.3f} forest {fo['recall']:.3f}")
    mean = {f: {k: statistics.fmean(r[k] for r in rs) for k in rs[0]} for f, rs in results.items()}
    lo, fo = mean["logistic"], mean["forest"]
    print(f"mean AUC: logistic {lo['roc_auc']:.4f} forest {fo['roc_auc']:.4f} (logistic wins on "
          f"{sum(a['roc_auc'] > b['roc_auc'] for a, b in zip(results['logistic'], results['forest']))} of {args.datasets})")
    print(f"ratio logistic/forest: memory {lo['memory_bytes'] / fo['memory_bytes']:.5f}, artefact "
          f"{lo['artifact_bytes'] / fo['artifact_bytes']:.5f}, fit time {lo['fit_seconds'] / fo['fit_seconds']:.3f}")
    print(json.dumps({"rows": args.rows, "datasets": args.datasets, "mean": mean}, sort_keys=True))


if __name__ == "__main__":
    main()
