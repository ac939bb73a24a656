"""The edge server fuzzed from its own OpenAPI document (schemathesis, in-process WSGI) with the real trained
model: no 5xx, responses as documented, schema-invalid requests (bad images among them) rejected with a 4xx."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings

from schemathesis.specs.openapi.checks import positive_data_acceptance

from workloads.edgevision import server as srv


def _app():  # noqa: ANN202
    from workloads.edgevision import model as m
    from workloads.edgevision.synthetic import make_dataset

    x, y = make_dataset(256, seed=7)
    keras_model = m.train(x, y, epochs=2, seed=7, env={}).model
    cfg = srv.ServerSettings(version="openapi-v1", digest="sha256:" + "0" * 64, max_batch=4, accelerator="cpu")
    return srv.create_app(cfg, srv.LoadedModel("openapi-v1", keras_model, 32))


schema = schemathesis.openapi.from_wsgi("/openapi.json", _app())


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_server_conforms_to_its_openapi_document(case: schemathesis.Case) -> None:
    # All default checks but one: a schema-valid `format: byte` string is rarely a decodable 32x32 image, and
    # OpenAPI cannot say "an image"; refusing those (400/422, documented) is right, and test_server.py checks
    # real images are accepted. No 5xx, documented statuses and schemas, 4xx for schema-invalid bodies all hold.
    case.call_and_validate(excluded_checks=[positive_data_acceptance])
