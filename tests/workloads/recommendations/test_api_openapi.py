"""The API fuzzed from its own OpenAPI document (schemathesis, in-process WSGI): no 5xx, documented statuses and
response schemas, schema-invalid requests answered with a 4xx."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings

from workloads.recommendations.api import ApiSettings, create_app

from .conftest import MemoryStore, publish_recs

_store = MemoryStore()
publish_recs(_store, "openapi-v1", {u: [(u * 10 + i, 5.0 - i) for i in range(8)] for u in range(0, 50)})
app = create_app(ApiSettings(max_batch=20, max_n=8, default_n=5), _store, start_loader=False)  # type: ignore[arg-type]
assert app.extensions["recommendations"]["refresh"]()
schema = schemathesis.openapi.from_wsgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case) -> None:
    case.call_and_validate()
