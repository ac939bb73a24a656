"""The replay producer (demo and tests): sends a JSON-lines tweet file (``synthetic.py`` writes one) to the
``tweets`` topic, one record per tweet keyed by its id, optionally paced to a rate.

    python -m workloads.sentiment.producer tweets.jsonl [--rate 200]
Settings: SENTIMENT_KAFKA_* (workloads.common.kafkasettings), SENTIMENT_TOPIC (tweets). Exit 2 on bad settings
or a malformed file (naming the line), 1 when Kafka refuses the records.
Application code: never imports pulumi or infra.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any

from workloads.common.envconfig import SettingError, get_str
from workloads.sentiment.synthetic import iter_jsonl


def records(tweets: Iterable[dict[str, Any]]) -> Iterable[tuple[bytes, bytes]]:
    """(key, value) per tweet; ValueError naming the tweet when it lacks an id or text."""
    for n, t in enumerate(tweets, 1):
        if not isinstance(t, dict) or not isinstance(t.get("id"), str) or not isinstance(t.get("text"), str):
            raise ValueError(f"tweet {n}: needs string fields id and text")
        yield t["id"].encode(), json.dumps(t, separators=(",", ":")).encode()


def replay(producer: Any, topic: str, tweets: Iterable[dict[str, Any]], rate: float | None = None,
           clock=time.monotonic, sleep=time.sleep) -> int:
    """Send every tweet (paced to `rate` per second when given), flush, and return the count sent."""
    start, sent = clock(), 0
    for key, value in records(tweets):
        if rate:
            due = start + sent / rate
            if due > clock():
                sleep(due - clock())
        producer.send(topic, key=key, value=value)
        sent += 1
    producer.flush()
    return sent


def main(argv: list[str] | None = None, env: Mapping[str, str] = os.environ) -> int:
    p = argparse.ArgumentParser(prog="python -m workloads.sentiment.producer", description=__doc__.split("\n")[0])
    p.add_argument("file")
    p.add_argument("--rate", type=float, default=None, help="tweets per second (default: as fast as possible)")
    a = p.parse_args(argv)
    if a.rate is not None and a.rate <= 0:
        p.error("--rate must be positive")
    try:
        from workloads.common.kafkasettings import KafkaSettings

        settings = KafkaSettings.from_env(env, prefix="SENTIMENT_KAFKA_")
        topic = get_str(env, "SENTIMENT_TOPIC", "tweets")
        with open(a.file, encoding="utf-8") as f:
            tweets = list(iter_jsonl(f))
        list(records(tweets))  # validate the whole file before sending anything
    except (SettingError, ValueError, OSError) as e:
        print(f"sentiment producer: {a.file}: {e}" if not isinstance(e, SettingError) else f"sentiment producer: {e}",
              file=sys.stderr)
        return 2
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    producer = KafkaProducer(acks="all", linger_ms=5, **settings.client_kwargs())
    try:
        n = replay(producer, topic, tweets, a.rate)
    except KafkaError as e:
        print(f"sentiment producer: Kafka refused the records: {e}", file=sys.stderr)
        return 1
    finally:
        producer.close()
    print(json.dumps({"topic": topic, "sent": n}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
