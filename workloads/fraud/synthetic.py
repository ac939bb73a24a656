"""Deterministic synthetic card transactions for tests, the benchmark and demos.

Fraud is correlated with the report's features the way fraud analysts describe it: amounts far above
the card holder's usual spend, merchants the card has never used, and night-time activity; the
classes overlap (and 0.2% of labels are flipped) so a model scores well but not perfectly. The same
seed always yields the same rows.

    python -m workloads.fraud.synthetic --rows 5000 --seed 1 --out transactions.csv
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

COLUMNS: tuple[str, ...] = (
    "transaction_id", "timestamp", "amount", "amount_past_month", "merchant_txn_count", "hour_of_day", "is_fraud",
)
"""CSV header; ``hour_of_day`` is an optional extra feature (FF_EXTRA_FEATURES=hour_of_day)."""

DEFAULT_START = datetime(2026, 3, 1, tzinfo=UTC)
_LABEL_NOISE = 0.002


def generate(rows: int, seed: int = 0, fraud_rate: float = 0.04,
             start: datetime = DEFAULT_START) -> list[dict[str, Any]]:
    """``rows`` transactions over consecutive days, about ``fraud_rate`` of them fraudulent.

    Each timestamp falls in the hour given by its ``hour_of_day`` column.
    """
    if rows < 0:
        raise ValueError(f"rows={rows} must be >= 0")
    if not 0.0 < fraud_rate < 1.0:
        raise ValueError(f"fraud_rate={fraud_rate} must be strictly between 0 and 1")
    rng = np.random.default_rng(seed)
    fraud = rng.random(rows) < fraud_rate

    # Monthly spend of the card holder; fraud skews toward newer, lower-spend cards.
    past_month = np.where(fraud, rng.lognormal(np.log(900.0), 0.9, rows), rng.lognormal(np.log(1500.0), 0.8, rows))
    typical = past_month / 30.0 + 5.0
    # Legitimate amounts sit around the usual ticket; fraud is several times larger, with overlap.
    amount = typical * np.where(fraud, rng.lognormal(1.6, 0.8, rows), rng.lognormal(0.0, 0.7, rows))
    # Repeat merchants are the norm for legitimate spend; fraud mostly hits unfamiliar merchants.
    merchant_count = np.where(fraud, rng.geometric(0.6, rows) - 1, rng.negative_binomial(2, 0.25, rows))
    # Legitimate activity peaks in the day; fraud is spread around the clock.
    day_hours = np.clip(np.rint(rng.normal(14.0, 4.0, rows)), 0, 23)
    hour = np.where(fraud, rng.integers(0, 24, rows), day_hours).astype(int)

    label = fraud ^ (rng.random(rows) < _LABEL_NOISE)
    gaps = rng.exponential(20.0, rows)  # seconds between transactions
    offsets = np.cumsum(gaps)

    out: list[dict[str, Any]] = []
    for i in range(rows):
        day_start = (start + timedelta(seconds=float(offsets[i]))).replace(hour=0, minute=0, second=0, microsecond=0)
        # Keep the timeline monotonic but put the event at its sampled hour of that day.
        ts = day_start + timedelta(hours=int(hour[i]), seconds=float(offsets[i] % 3600))
        out.append({
            "transaction_id": f"tx-{seed}-{i:07d}",
            "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "amount": round(float(amount[i]), 2),
            "amount_past_month": round(float(past_month[i]), 2),
            "merchant_txn_count": int(merchant_count[i]),
            "hour_of_day": int(hour[i]),
            "is_fraud": int(label[i]),
        })
    return out


def to_csv(rows: Sequence[dict[str, Any]]) -> bytes:
    """The rows as a CSV document with the ``COLUMNS`` header."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def to_message(row: dict[str, Any]) -> bytes:
    """The Kafka message the payment system would publish for a row (no label: it is not known yet)."""
    return json.dumps({k: row[k] for k in COLUMNS if k != "is_fraud"}, separators=(",", ":")).encode("utf-8")


def feature_matrix(rows: Sequence[dict[str, Any]], names: Sequence[str]) -> np.ndarray:
    """The rows' features as a float matrix in ``names`` order (for benchmarks and tests)."""
    return np.array([[float(row[n]) for n in names] for row in rows], dtype=np.float64)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fraud-rate", type=float, default=0.04)
    parser.add_argument("--out", default="-", help="CSV file to write, '-' for stdout")
    args = parser.parse_args(argv)
    try:
        data = to_csv(generate(args.rows, args.seed, args.fraud_rate))
    except ValueError as exc:
        parser.error(str(exc))
    if args.out == "-":
        sys.stdout.buffer.write(data)
    else:
        with open(args.out, "wb") as handle:
            handle.write(data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
