"""The query API: answers from the results store, 4xx naming the parameter on bad input, metrics, and its OpenAPI
document fuzzed in-process by schemathesis (no 5xx, responses as documented)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from workloads.sentiment.api import create_app

NOW = datetime(2026, 11, 2, 12, tzinfo=UTC)


class FakeStore:
    """The ResultStore's read side over a list (the Cassandra-backed one is tested in test_stream_fault.py)."""

    def __init__(self, rows):
        self.data = rows

    def rows(self, keyword, start, end, limit=None):
        out = sorted((r for r in self.data if r["keyword"] == keyword and start <= r["created_at"] < end),
                     key=lambda r: r["created_at"], reverse=True)
        out = [{k: v for k, v in r.items() if k != "keyword"} for r in out]
        return out[:limit] if limit is not None else out


ROWS = [{"keyword": "kafka", "tweet_id": f"t{i}", "created_at": NOW - timedelta(minutes=10 * i), "text": "kafka",
         "sentiment": i % 2, "score": 0.9 if i % 2 else 0.1, "model_version": "v1"} for i in range(12)]
app = create_app(lambda: FakeStore(ROWS), clock=lambda: NOW)
client = app.test_client()


def test_sentiment_over_time_in_buckets():
    r = client.get("/v1/keywords/Kafka/sentiment?from=2026-11-02T10:00:00Z&to=2026-11-02T12:00:00Z&step_minutes=60")
    assert r.status_code == 200
    body = r.get_json()
    assert body["keyword"] == "kafka" and [b["count"] for b in body["buckets"]] == [5, 6]  # 12:00 is past the end


def test_latest_newest_first_with_the_model_version():
    r = client.get("/v1/keywords/kafka/latest?limit=3")
    assert r.status_code == 200
    assert [t["tweet_id"] for t in r.get_json()["tweets"]] == ["t0", "t1", "t2"]
    assert all(t["model_version"] == "v1" for t in r.get_json()["tweets"])


@pytest.mark.parametrize("url,param", [
    ("/v1/keywords/kafka/latest?limit=0", "limit"), ("/v1/keywords/kafka/latest?limit=abc", "limit"),
    ("/v1/keywords/kafka/sentiment?from=yesterday", "from"), ("/v1/keywords/kafka/sentiment?to=2026-11-02T10:00:00", "to"),
    ("/v1/keywords/kafka/sentiment?from=2026-11-02T12:00:00Z&to=2026-11-01T12:00:00Z", "from"),
    ("/v1/keywords/kafka/sentiment?from=2026-01-01T00:00:00Z&to=2026-11-02T00:00:00Z", "from"),
    ("/v1/keywords/kafka/sentiment?step_minutes=0", "step_minutes"), ("/v1/keywords/k%20a/latest", "keyword"),
    # found by schemathesis: instants at the ends of datetime's range overflowed (a 500) instead of a 400
    ("/v1/keywords/0/sentiment?step_minutes=1441&from=2000-01-01T00%3A00%3A00Z&to=0001-01-01T00%3A00%3A00Z", "to"),
    ("/v1/keywords/kafka/sentiment?to=0001-01-01T00:30:00%2B01:00", "to"),
    ("/v1/keywords/kafka/sentiment?from=9999-12-31T23:59:59Z", "from"),
    ("/v1/keywords/kafka/sentiment?to=9999-12-31T23:59:59-01:00", "to"),
    ("/v1/keywords/kafka/sentiment?from=1969-12-31T23:59:59Z", "from"),
])
def test_bad_input_is_a_400_naming_the_parameter(url, param):
    r = client.get(url)
    assert r.status_code == 400 and r.get_json()["parameter"] == param


def test_metrics_count_requests_by_route():
    client.get("/v1/keywords/kafka/latest")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'sentiment_api_requests_total{route="/v1/keywords/<keyword>/latest",status="200"}' in text


schema = schemathesis.openapi.from_wsgi("/openapi.json", app)


CROSS_PARAMETER_RULES = ("must be before to", "at most 31 days", "buckets")
TIME_RANGE_RULE = "must be between 1970"  # a bound the date-time format cannot state


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case) -> None:
    """Every default check except positive-data acceptance, which OpenAPI 3.0 cannot satisfy here: rules across
    parameters (from before to, a range of at most 31 days, at most 2000 buckets) are not expressible in the
    document, so a schema-valid request may get a 400; instead, such a 400 must be one of exactly those rules."""
    response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
    if response.status_code == 400:
        body = response.json()
        meta = case._meta  # schemathesis' record of how the case was generated
        if meta is not None and not meta.generation.mode.is_negative:  # a schema-valid request
            if TIME_RANGE_RULE in body["error"]:
                assert body["parameter"] in ("from", "to"), body
            else:
                assert body["parameter"] in ("from", "step_minutes"), body
                assert any(rule in body["error"] for rule in CROSS_PARAMETER_RULES), body
