"""The API fuzzed from its own OpenAPI document (schemathesis, in-process WSGI): no 5xx, responses as documented."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings

from workloads.fraud.api import ApiConfig, create_app

from .conftest import build_model

_model = build_model(version="openapi-v1", n_estimators=10)[0]
app = create_app(ApiConfig(version=_model.version, max_batch=20), model=_model)
schema = schemathesis.openapi.from_wsgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case) -> None:
    # All default checks: no server error, documented status codes, content types and response schemas,
    # and schema-invalid requests rejected with a 4xx.
    case.call_and_validate()
