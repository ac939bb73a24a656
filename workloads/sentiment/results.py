"""The speed layer's results in Cassandra: one table, written idempotently and read by the query API.

Primary key ``((keyword, day), created_at, tweet_id)``: every part comes from the tweet itself (never from the
time it was scored), so a tweet replayed after a crash writes the same row again and overwrites itself — the
at-least-once stream becomes exactly one row per tweet. The partition is one keyword's day, so "sentiment over
time for a keyword" and "latest results" read a few partitions in clustering order.
Application code: never imports pulumi or infra.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

TABLE = "tweet_sentiment"
_IDENT = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


def check_keyspace(keyspace: str) -> str:
    if not _IDENT.match(keyspace):
        raise ValueError(f"keyspace {keyspace!r} is not a lowercase CQL identifier (a-z, 0-9, '_')")
    return keyspace


def schema_cql(keyspace: str) -> str:
    return (f"CREATE TABLE IF NOT EXISTS {check_keyspace(keyspace)}.{TABLE} ("
            "keyword text, day date, created_at timestamp, tweet_id text, text text, sentiment int, "
            "score double, model_version text, "
            "PRIMARY KEY ((keyword, day), created_at, tweet_id)) "
            "WITH CLUSTERING ORDER BY (created_at DESC, tweet_id ASC)")


@dataclass(frozen=True)
class ScoredTweet:
    tweet_id: str
    created_at: datetime  # UTC
    keyword: str
    text: str
    sentiment: int  # 1 positive, 0 negative
    score: float  # P(positive)
    model_version: str

    @property
    def day(self) -> date:
        return self.created_at.astimezone(UTC).date()


class ResultStore:
    """Writes and reads the results table through a cassandra-driver Session (the caller owns the Cluster)."""

    def __init__(self, session: Any, keyspace: str):
        self.session = session
        self.keyspace = check_keyspace(keyspace)
        self._insert = None

    def ensure_schema(self) -> None:
        self.session.execute(schema_cql(self.keyspace))

    def _prepared_insert(self) -> Any:
        if self._insert is None:
            self._insert = self.session.prepare(
                f"INSERT INTO {self.keyspace}.{TABLE} (keyword, day, created_at, tweet_id, text, sentiment, score, "
                "model_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        return self._insert

    def write(self, rows: Sequence[ScoredTweet], concurrency: int = 32) -> int:
        """Upsert every row (replays overwrite themselves); raises on the first failed write so the micro-batch
        fails and Spark retries it. Returns the number of rows written."""
        from cassandra.concurrent import execute_concurrent_with_args

        if not rows:
            return 0
        args = [(r.keyword, r.day, r.created_at, r.tweet_id, r.text, r.sentiment, r.score, r.model_version)
                for r in rows]
        results = execute_concurrent_with_args(self.session, self._prepared_insert(), args,
                                               concurrency=concurrency, raise_on_first_error=True)
        return sum(1 for ok, _ in results if ok)

    def rows(self, keyword: str, start: datetime, end: datetime, limit: int | None = None) -> list[dict[str, Any]]:
        """Results of `keyword` with start <= created_at < end, newest first."""
        out: list[dict[str, Any]] = []
        for day in _days_desc(start, end):
            q = (f"SELECT tweet_id, created_at, text, sentiment, score, model_version FROM {self.keyspace}.{TABLE} "
                 "WHERE keyword = %s AND day = %s AND created_at >= %s AND created_at < %s")
            params: list[Any] = [keyword, day, start, end]
            if limit is not None:
                q += " LIMIT %s"
                params.append(limit - len(out))
            for r in self.session.execute(q, params):
                out.append({"tweet_id": r.tweet_id, "created_at": _utc(r.created_at), "text": r.text,
                            "sentiment": r.sentiment, "score": r.score, "model_version": r.model_version})
            if limit is not None and len(out) >= limit:
                break
        return out


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _days_desc(start: datetime, end: datetime) -> Iterable[date]:
    last = (end - timedelta(microseconds=1)).astimezone(UTC).date()
    first = start.astimezone(UTC).date()
    d = last
    while d >= first:
        yield d
        d -= timedelta(days=1)


def buckets(rows: Iterable[dict[str, Any]], start: datetime, end: datetime, step: timedelta) -> list[dict[str, Any]]:
    """Sentiment over time: per [t, t + step) bucket from `start`, the count, positives and mean score."""
    if step <= timedelta(0):
        raise ValueError("step must be positive")
    n = max(0, -(-(end - start) // step))
    acc = [{"start": start + i * step, "count": 0, "positive": 0, "score_sum": 0.0} for i in range(n)]
    for r in rows:
        i = (r["created_at"] - start) // step
        if 0 <= i < n:
            b = acc[i]
            b["count"] += 1
            b["positive"] += int(r["sentiment"] == 1)
            b["score_sum"] += float(r["score"])
    return [{"start": b["start"].isoformat(), "count": b["count"], "positive": b["positive"],
             "mean_score": round(b["score_sum"] / b["count"], 4) if b["count"] else None} for b in acc]
