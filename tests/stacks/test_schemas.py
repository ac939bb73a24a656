"""Every Kubernetes object of the shipped stacks, whatever component declared it, against its schema:
core kinds against the Kubernetes OpenAPI schema of the cluster version (kubernetes-validate, strict),
custom resources against the upstream CRDs in ../shared/crds."""

import pytest

from tests.infra.planned import CRDS, core_validator, crd_validator, errors, k8s_objects, planned

# Groups with no upstream schema among ../shared/crds, each with the reason and what checks it instead.
NO_SHARED_SCHEMA = {
    "gateway.networking.k8s.io": "Gateway API HTTPRoute: no CRD in ../shared/crds; "
                                 "tests/workloads/fraud/test_deploy_plan.py checks its structure",
}


def _group(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


def _is_core(api_version: str) -> bool:
    g = _group(api_version)
    return g == "" or "." not in g or g.endswith(".k8s.io") and g not in NO_SHARED_SCHEMA


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_object_matches_its_schema(stack):
    objs = k8s_objects(planned(stack))
    assert len(objs) > 100
    checked_core = checked_custom = 0
    problems = []
    for obj in objs:
        where = f"{obj['kind']}/{obj.get('metadata', {}).get('namespace', '')}/{obj['metadata']['name']}"
        api = obj["apiVersion"]
        if _group(api) in NO_SHARED_SCHEMA:
            continue
        if _is_core(api):
            problems += [f"{where}: {e}" for e in errors(core_validator(obj["kind"], api), obj)]
            checked_core += 1
        else:
            if not CRDS.is_dir():
                pytest.skip(f"upstream CRD schemas not found at {CRDS} (the shared/ folder beside the repo)")
            problems += [f"{where}: {e}" for e in errors(crd_validator(api, obj["kind"]), obj)]
            checked_custom += 1
    assert problems == []
    assert checked_core > 50 and checked_custom > 10
