"""One micro-batch of the speed layer, independent of Spark so it is tested directly: parse the tweets, score them
with the current model, archive the raw tweets to the datalake bucket and upsert the results into Cassandra.
``stream.py`` calls ``process_batch`` from Structured Streaming's ``foreachBatch``.

At-least-once end to end, exactly one row per tweet: Spark commits a batch's Kafka offsets only after
``process_batch`` returns, so a crash mid-batch replays the batch (same batch id, same tweets) after restart; the
raw archive key is the batch id (rewritten whole) and the Cassandra key is the tweet's own (``results.py``), so
the replay overwrites what the first attempt wrote.

The model: ``ModelWatcher`` asks the registry for the trainer's last run at most every ``refresh_s`` seconds and
loads a newly published version (verified against the manifest digest the run names) without a restart; every
result row carries the version that scored it.
Application code: never imports pulumi or infra.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from workloads.sentiment.model import SentimentModel
from workloads.sentiment.results import ScoredTweet

log = logging.getLogger(__name__)

MAX_TEXT = 1120  # 280 characters of up to 4 UTF-8 bytes; longer input is not a tweet


@dataclass
class BatchStats:
    received: int = 0
    scored: int = 0
    rejected: int = 0
    model_version: str = ""
    rejected_reasons: dict[str, int] = field(default_factory=dict)


def parse_tweet(raw: bytes | str) -> dict[str, Any]:
    """A tweet from a Kafka record value (JSON: id, created_at ISO 8601, keyword, text); ValueError naming the
    field otherwise."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("value: not JSON") from None
    if not isinstance(doc, dict):
        raise ValueError("value: not a JSON object")
    for key in ("id", "created_at", "keyword", "text"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise ValueError(f"{key}: missing or not a non-empty string")
    if len(doc["id"]) > 128 or len(doc["keyword"]) > 64 or len(doc["text"]) > MAX_TEXT:
        raise ValueError("id, keyword or text: too long")
    try:
        ts = datetime.fromisoformat(doc["created_at"])
    except ValueError:
        raise ValueError("created_at: not an ISO 8601 timestamp") from None
    if ts.tzinfo is None:
        raise ValueError("created_at: needs a UTC offset")
    # Cassandra timestamps are milliseconds: truncate here so a replay writes the identical key.
    ts = ts.astimezone(UTC).replace(microsecond=ts.microsecond // 1000 * 1000)
    return {"id": doc["id"], "created_at": ts, "keyword": doc["keyword"].lower(), "text": doc["text"]}


def score(tweets: Sequence[dict[str, Any]], model: SentimentModel, version: str) -> list[ScoredTweet]:
    probs = model.positive_probability([t["text"] for t in tweets])
    return [ScoredTweet(tweet_id=t["id"], created_at=t["created_at"], keyword=t["keyword"], text=t["text"],
                        sentiment=int(p >= 0.5), score=round(float(p), 6), model_version=version)
            for t, p in zip(tweets, probs)]


class ModelWatcher:
    """The current model: `loader()` returns (version, model) of the newest published version, or None when
    nothing is published; it is asked again when `refresh_s` has passed since the last check."""

    def __init__(self, loader: Callable[[], tuple[str, SentimentModel] | None], refresh_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic):
        self._loader = loader
        self._refresh_s = refresh_s
        self._clock = clock
        self._checked: float | None = None
        self.version: str | None = None
        self.model: SentimentModel | None = None

    def current(self) -> tuple[str, SentimentModel]:
        now = self._clock()
        if self._checked is None or now - self._checked >= self._refresh_s:
            try:
                found = self._loader()
            except Exception:  # noqa: BLE001 - a registry outage keeps the loaded model; the next check retries
                if self.model is None:
                    raise
                log.exception("model refresh failed; keeping version %s", self.version)
                found = None
            self._checked = now
            if found is not None and found[0] != self.version:
                log.info("scoring with model version %s (was %s)", found[0], self.version)
                self.version, self.model = found
        if self.model is None or self.version is None:
            raise RuntimeError("no model version is published yet; run the trainer once")
        return self.version, self.model


def raw_key(prefix: str, batch_id: int) -> str:
    """The archive object of one micro-batch: stable across a replay of the same batch."""
    return f"{prefix.rstrip('/')}/batch-{batch_id:012d}.jsonl"


def process_batch(values: Iterable[bytes | str], batch_id: int, *, watcher: ModelWatcher,
                  write: Callable[[Sequence[ScoredTweet]], int], archive: Callable[[str, bytes], None],
                  raw_prefix: str) -> BatchStats:
    """Score one micro-batch; archive, then write. Raises (failing the batch, so Spark retries it and commits no
    offsets) when the archive or the store fails; malformed records are counted and skipped, never retried."""
    stats = BatchStats()
    tweets: list[dict[str, Any]] = []
    raw_lines: list[bytes] = []
    for v in values:
        stats.received += 1
        try:
            tweets.append(parse_tweet(v))
            raw_lines.append(v if isinstance(v, bytes) else v.encode())
        except ValueError as e:
            stats.rejected += 1
            reason = str(e).split(":", 1)[0]
            stats.rejected_reasons[reason] = stats.rejected_reasons.get(reason, 0) + 1
    if not tweets:
        return stats
    version, model = watcher.current()
    stats.model_version = version
    rows = score(tweets, model, version)
    archive(raw_key(raw_prefix, batch_id), b"\n".join(raw_lines) + b"\n")
    stats.scored = write(rows)
    return stats
