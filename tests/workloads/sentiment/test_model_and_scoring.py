"""The sentiment workload's pure parts: synthetic tweets with known sentiment, the classifier and its safe
format, the validation gate's ground (known examples), tweet parsing, the model watcher and one micro-batch."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workloads.sentiment import model as m
from workloads.sentiment import synthetic
from workloads.sentiment.results import buckets, schema_cql
from workloads.sentiment.scoring import ModelWatcher, parse_tweet, process_batch, raw_key


@pytest.fixture(scope="module")
def trained() -> m.SentimentModel:
    seed = synthetic.seed_set()
    return m.train([t["text"] for t in seed], [t["label"] for t in seed])


def test_generator_is_deterministic_and_labelled():
    a, b = synthetic.generate(200, seed=3), synthetic.generate(200, seed=3)
    assert a == b and a != synthetic.generate(200, seed=4)
    assert {t["label"] for t in a} == {0, 1} and len({t["id"] for t in a}) == 200
    assert all(t["keyword"] in t["text"] for t in a)


def test_model_learns_the_known_examples(trained):
    assert m.accuracy(trained, synthetic.KNOWN_EXAMPLES) >= 0.9
    held_out = synthetic.generate(400, seed=99)
    assert m.accuracy(trained, [(t["text"], t["label"]) for t in held_out]) >= 0.85


def test_model_round_trips_as_json_numbers(trained):
    back = m.SentimentModel.from_bytes(trained.to_bytes())
    texts = [t for t, _ in synthetic.KNOWN_EXAMPLES]
    assert np.allclose(back.positive_probability(texts), trained.positive_probability(texts), atol=1e-6)


@pytest.mark.parametrize("doc,field", [
    (b"not json", "not JSON"), (json.dumps({"format": "pickle"}).encode(), "format"),
    (json.dumps({"format": m.FORMAT, "n_features": 4, "ngrams": [1, 2], "intercept": 0, "coef": [1, 2]}).encode(),
     "coef"),
    (json.dumps({"format": m.FORMAT, "n_features": 2, "ngrams": [1, 9], "intercept": 0, "coef": [1, 2]}).encode(),
     "ngrams"),
])
def test_malformed_model_artefacts_are_refused(doc, field):
    with pytest.raises(ValueError, match=field):
        m.SentimentModel.from_bytes(doc)


def test_training_needs_both_classes():
    with pytest.raises(ValueError, match="both"):
        m.train(["great", "love it"], [1, 1])


def tweet(i: int = 0, **over) -> bytes:
    doc = {"id": f"x{i}", "created_at": "2026-11-02T10:00:00.123456+00:00", "keyword": "Kafka", "text": "kafka is great"}
    doc.update(over)
    return json.dumps(doc).encode()


def test_parse_truncates_to_milliseconds_and_lowercases_the_keyword():
    t = parse_tweet(tweet())
    assert t["created_at"] == datetime(2026, 11, 2, 10, 0, 0, 123000, tzinfo=UTC) and t["keyword"] == "kafka"


@pytest.mark.parametrize("raw,field", [
    (b"{", "value"), (b"[]", "value"), (tweet(id=""), "id"), (tweet(created_at="yesterday"), "created_at"),
    (tweet(created_at="2026-11-02T10:00:00"), "created_at"), (tweet(text="x" * 5000), "too long"),
])
def test_parse_names_what_is_wrong(raw, field):
    with pytest.raises(ValueError, match=field):
        parse_tweet(raw)


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=200))
def test_parse_never_fails_other_than_value_error(raw):
    try:
        parse_tweet(raw)
    except ValueError:
        pass


def test_watcher_swaps_versions_without_restart_and_survives_a_registry_outage(trained):
    clock = [0.0]
    published = [("v1", trained)]

    def loader():
        if published[0] is None:
            raise OSError("registry down")
        return published[0]

    w = ModelWatcher(loader, refresh_s=60, clock=lambda: clock[0])
    assert w.current()[0] == "v1"
    published[0] = ("v2", trained)
    assert w.current()[0] == "v1"  # not yet time to look again
    clock[0] = 61
    assert w.current()[0] == "v2"
    published[0] = None
    clock[0] = 200
    assert w.current()[0] == "v2"  # an outage keeps the loaded model


def test_watcher_without_any_model_says_so():
    with pytest.raises(RuntimeError, match="trainer"):
        ModelWatcher(lambda: None).current()


def test_process_batch_archives_then_writes_and_skips_malformed(trained):
    written, archived = [], {}
    stats = process_batch([tweet(1), b"garbage", tweet(2, text="kafka is slow and broken")], 7,
                          watcher=ModelWatcher(lambda: ("v1", trained)),
                          write=lambda rows: written.extend(rows) or len(rows),
                          archive=lambda k, body: archived.__setitem__(k, body), raw_prefix="raw/tweets")
    assert (stats.received, stats.scored, stats.rejected) == (3, 2, 1) and stats.rejected_reasons == {"value": 1}
    assert list(archived) == [raw_key("raw/tweets", 7)] == ["raw/tweets/batch-000000000007.jsonl"]
    assert [r.sentiment for r in written] == [1, 0] and {r.model_version for r in written} == {"v1"}


def test_buckets_count_positives_and_mean_score():
    start = datetime(2026, 11, 2, tzinfo=UTC)
    rows = [{"created_at": start + timedelta(minutes=m_), "sentiment": s, "score": sc}
            for m_, s, sc in ((1, 1, 0.9), (2, 0, 0.2), (61, 1, 0.8), (500, 1, 1.0))]
    out = buckets(rows, start, start + timedelta(hours=2), timedelta(hours=1))
    assert [(b["count"], b["positive"], b["mean_score"]) for b in out] == [(2, 1, 0.55), (1, 1, 0.8)]


def test_schema_keys_on_the_tweet_itself():
    cql = schema_cql("sentiment")
    assert "PRIMARY KEY ((keyword, day), created_at, tweet_id)" in cql
    with pytest.raises(ValueError):
        schema_cql("bad-keyspace; drop")
