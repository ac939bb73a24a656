"""Deterministic synthetic tweets with known sentiment, for the demo, the tests and the seed set: no data set is
downloaded. Each tweet mentions one keyword (a product) and carries positive or negative cue words in varied
templates; a small share of labels is flipped and some tweets have mixed cues, so a classifier scores well but not
perfectly. The same seed always yields the same tweets.

    python -m workloads.sentiment.synthetic --tweets 1000 --seed 1 --out tweets.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

KEYWORDS: tuple[str, ...] = ("pipeworks", "kafka", "spark", "cassandra", "ceph", "jupyter")
POSITIVE: tuple[str, ...] = ("love", "great", "awesome", "fast", "reliable", "amazing", "happy", "excellent",
                             "smooth", "brilliant", "enjoy", "fantastic")
NEGATIVE: tuple[str, ...] = ("hate", "terrible", "awful", "slow", "broken", "crash", "angry", "worst", "buggy",
                             "disappointing", "painful", "useless")
NEUTRAL: tuple[str, ...] = ("today", "again", "with", "the", "new", "release", "team", "cluster", "job", "data",
                            "upgrade", "week")
TEMPLATES: tuple[str, ...] = (
    "{kw} is {cue} {n1}", "just tried {kw} {n1} and it was {cue}", "{n1} {n2} {kw} feels {cue}",
    "so {cue} with {kw} {n1}", "{kw} {n1} {n2}: {cue} {cue2}", "honestly {kw} is {cue} {n2}",
)
DEFAULT_START = datetime(2026, 11, 1, tzinfo=UTC)
LABEL_NOISE = 0.02
POSITIVE_LABEL, NEGATIVE_LABEL = 1, 0


def _text(rng: random.Random, label: int) -> tuple[str, str]:
    kw = rng.choice(KEYWORDS)
    cues = POSITIVE if label == POSITIVE_LABEL else NEGATIVE
    other = NEGATIVE if label == POSITIVE_LABEL else POSITIVE
    cue2 = rng.choice(other) if rng.random() < 0.15 else rng.choice(cues)  # some tweets are mixed
    text = rng.choice(TEMPLATES).format(kw=kw, cue=rng.choice(cues), cue2=cue2, n1=rng.choice(NEUTRAL),
                                        n2=rng.choice(NEUTRAL))
    return kw, text


def generate(tweets: int, seed: int = 0, start: datetime = DEFAULT_START, positive_rate: float = 0.5,
             id_prefix: str = "t") -> list[dict[str, Any]]:
    """``tweets`` tweets one second apart from ``start``: id, created_at (ISO 8601, UTC), keyword, text, label."""
    if tweets < 0:
        raise ValueError(f"tweets={tweets} must be >= 0")
    if not 0.0 <= positive_rate <= 1.0:
        raise ValueError(f"positive_rate={positive_rate} must be within [0, 1]")
    rng = random.Random(seed)
    out = []
    for i in range(tweets):
        label = POSITIVE_LABEL if rng.random() < positive_rate else NEGATIVE_LABEL
        kw, text = _text(rng, label)
        if rng.random() < LABEL_NOISE:
            label = 1 - label
        out.append({"id": f"{id_prefix}{seed}-{i:07d}", "created_at": (start + timedelta(seconds=i)).isoformat(),
                    "keyword": kw, "text": text, "label": label})
    return out


def seed_set(size: int = 600) -> list[dict[str, Any]]:
    """The labelled seed set every training run starts from (fixed: seed 7)."""
    return generate(size, seed=7, id_prefix="seed")


# Known examples the trainer validates every candidate against: unambiguous cue words, fixed forever, so the
# accuracy on them compares a new model with the current one on the same ground.
KNOWN_EXAMPLES: tuple[tuple[str, int], ...] = tuple(
    [(f"{kw} is {p} and {p2}", POSITIVE_LABEL) for kw, p, p2 in zip(KEYWORDS, POSITIVE, POSITIVE[6:])]
    + [(f"{kw} is {n} and {n2}", NEGATIVE_LABEL) for kw, n, n2 in zip(KEYWORDS, NEGATIVE, NEGATIVE[6:])]
    + [("i love how fast the new spark release is", POSITIVE_LABEL),
       ("cassandra crash again, the worst week", NEGATIVE_LABEL),
       ("excellent upgrade, smooth and reliable", POSITIVE_LABEL),
       ("kafka is slow and buggy today", NEGATIVE_LABEL)])


def iter_jsonl(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                yield json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"line {n}: not JSON ({e.msg})") from None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m workloads.sentiment.synthetic", description=__doc__.split("\n")[0])
    p.add_argument("--tweets", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="-")
    a = p.parse_args(argv)
    if a.tweets < 0:
        p.error("--tweets must be >= 0")
    rows = generate(a.tweets, a.seed)
    out = sys.stdout if a.out == "-" else open(a.out, "w", encoding="utf-8")
    try:
        for row in rows:
            out.write(json.dumps(row) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
