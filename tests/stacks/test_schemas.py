"""Every Kubernetes object of the shipped stacks, whatever component declared it, against its schema:
core kinds against the Kubernetes OpenAPI schema of the cluster version (kubernetes-validate, strict),
custom resources against their upstream CRDs at the pinned versions, read from the in-repo structural copy
tests/schemas/crds/ (scripts/crd_schemas.py derives it from ../shared/crds), so a clone without ../shared
runs these checks too."""

import importlib.util
import json

import jsonschema
import pytest

from tests.infra.planned import CRDS, REPO, SHARED, core_validator, crd_validator, errors, k8s_objects, planned


def _script():
    spec = importlib.util.spec_from_file_location("crd_schemas", REPO / "scripts" / "crd_schemas.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


crd_schemas = _script()
CRD_GROUPS = {g for g, _, _ in crd_schemas.SCHEMAS}


def _group(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_object_matches_its_schema(stack):
    objs = k8s_objects(planned(stack))
    assert len(objs) > 100
    checked_core = checked_custom = 0
    kinds = set()
    problems = []
    for obj in objs:
        where = f"{obj['kind']}/{obj.get('metadata', {}).get('namespace', '')}/{obj['metadata']['name']}"
        api = obj["apiVersion"]
        if _group(api) in CRD_GROUPS:
            problems += [f"{where}: {e}" for e in errors(crd_validator(api, obj["kind"]), obj)]
            checked_custom += 1
            kinds.add(obj["kind"])
        else:
            problems += [f"{where}: {e}" for e in errors(core_validator(obj["kind"], api), obj)]
            checked_core += 1
    assert problems == []
    assert checked_core > 50 and checked_custom > 10
    # none is "checked structurally only": the Gateway API objects are validated like every other CR
    assert {"HTTPRoute", "Gateway", "GatewayClass"} <= kinds


# API groups with a dot that the API server itself serves (kubernetes-validate knows their schemas); any other
# dotted group is a custom resource and needs its CRD schema in the repo.
BUILT_IN_GROUPS = {"admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io",
                   "certificates.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io",
                   "flowcontrol.apiserver.k8s.io", "networking.k8s.io", "node.k8s.io", "rbac.authorization.k8s.io",
                   "resource.k8s.io", "scheduling.k8s.io", "storage.k8s.io"}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_custom_resource_of_the_stacks_has_its_schema_in_the_repo(stack):
    """A kind, version or group missing from SCHEMAS is named here with the fix (rather than the object being
    validated as a core kind, or not at all)."""
    custom = {(_group(o["apiVersion"]), o["kind"], o["apiVersion"].split("/")[1]) for o in k8s_objects(planned(stack))
              if "." in _group(o["apiVersion"]) and _group(o["apiVersion"]) not in BUILT_IN_GROUPS}
    assert len(custom) > 15
    missing = sorted(f"{g}/{v} {k}" for g, k, v in custom if (g, k, v) not in set(crd_schemas.SCHEMAS))
    assert missing == [], f"add these to SCHEMAS in scripts/crd_schemas.py and run it: {missing}"
    assert all((CRDS / g / f"{k}_{v}.json").exists() for g, k, v in crd_schemas.SCHEMAS)


def test_the_in_repo_schemas_are_current_with_shared():
    """The structural copy equals what scripts/crd_schemas.py derives from ../shared/crds now."""
    if not (SHARED / "crds").is_dir():
        pytest.skip(f"{SHARED / 'crds'} is absent (the shared/ folder beside the repo): cannot tell whether "
                    "tests/schemas/crds/ is current; the schema tests themselves still run from the copy")
    assert crd_schemas.problems(SHARED / "crds", CRDS) == [], "run: python scripts/crd_schemas.py"


def test_the_staleness_check_sees_an_edit_a_missing_and_an_extra_file(tmp_path):
    if not (SHARED / "crds").is_dir():
        pytest.skip(f"{SHARED / 'crds'} is absent (the shared/ folder beside the repo): nothing to derive from")
    target = tmp_path / "crds"
    kinds = {(g, k) for g, k, _ in crd_schemas.SCHEMAS}
    assert crd_schemas.write(SHARED / "crds", target) == len(crd_schemas.SCHEMAS) + len(kinds)
    assert all((target / g / f"{k}.crd.json").is_file() for g, k in kinds)
    assert crd_schemas.problems(SHARED / "crds", target) == []
    route = target / "gateway.networking.k8s.io" / "HTTPRoute_v1.json"
    route.write_text(route.read_text().replace('"maxItems": 16', '"maxItems": 17', 1))
    (target / "kafka.strimzi.io" / "Kafka_v1.json").unlink()
    (target / "x.example.com").mkdir()
    (target / "x.example.com" / "Thing_v1.json").write_text("{}")
    found = crd_schemas.problems(SHARED / "crds", target)
    assert [f.rsplit(": ", 1)[1].split(" ")[0] for f in found] == ["missing", "stale", "not"], found


def test_the_structural_copy_keeps_field_names_called_like_keywords_and_defaults_and_drops_prose():
    """`default` is kept: the API server defaults before validating and refuses a CRD whose list-map key has no
    default (ECK 3.5.0 `ports[].protocol`, found by the e2e)."""
    schema = {"type": "object", "description": "prose", "default": {}, "required": ["description"],
              "properties": {"description": {"type": "string", "description": "a field named description",
                                             "example": "x"},
                             "default": {"type": "integer", "minimum": 0}},
              "x-kubernetes-validations": [{"rule": "self.default >= 0", "message": "m", "description": "d"}]}
    assert crd_schemas.structural(schema) == {
        "type": "object", "default": {}, "required": ["description"],
        "properties": {"description": {"type": "string"}, "default": {"type": "integer", "minimum": 0}},
        "x-kubernetes-validations": [{"rule": "self.default >= 0", "message": "m"}]}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_copy_judges_every_custom_resource_as_the_full_upstream_schema_does(stack):
    """Structural means: same verdicts. Every CR of the plan, and a broken variant of each, gets the same errors
    from the copy as from the full upstream schema in ../shared/crds."""
    if not (SHARED / "crds").is_dir():
        pytest.skip(f"{SHARED / 'crds'} is absent (the shared/ folder beside the repo): no full schema to compare")
    for obj in k8s_objects(planned(stack)):
        group = _group(obj["apiVersion"])
        if group not in CRD_GROUPS:
            continue
        rel = f"{group}/{obj['kind']}_{obj['apiVersion'].split('/')[1]}.json"
        full = jsonschema.Draft202012Validator(json.loads((SHARED / "crds" / rel).read_text()))
        broken = {**obj, "spec": {**obj.get("spec", {}), "notAField": 1, **{k: "wrong-type" for k in
                                                                              list(obj.get("spec", {}))[:2]}}}
        for candidate in (obj, broken):
            assert sorted(errors(crd_validator(obj["apiVersion"], obj["kind"]), candidate)) == \
                sorted(errors(full, candidate)), rel


def test_the_script_refuses_bad_input_with_exit_2(tmp_path, capsys):
    assert crd_schemas.main(["--source", str(tmp_path / "nope"), "--target", str(tmp_path / "out")]) == 2
    assert "nope not found" in capsys.readouterr().err
    (tmp_path / "crds").mkdir()  # a source without the schemas SCHEMAS names
    assert crd_schemas.main(["--source", str(tmp_path / "crds"), "--target", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "no upstream schema for ceph.rook.io/CephCluster_v1.json" in err
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_the_crd_copy_is_what_an_api_server_needs_and_no_prose(tmp_path):
    """Each `<Kind>.crd.json` keeps group, names, scope, versions (served/storage/subresources) and only the
    `api-approved.kubernetes.io` annotation (required for *.k8s.io groups); the e2e's stand-in charts build the
    CRD from it and the program's version's schema (tests/harness/charts.py:crd_object)."""
    from tests.harness.charts import crd_object

    spark = json.loads((CRDS / "sparkoperator.k8s.io" / "SparkApplication.crd.json").read_text())
    assert set(spark) == {"$comment", "annotations", "group", "names", "scope", "versions"}
    assert set(spark["annotations"]) == {"api-approved.kubernetes.io"}
    assert spark["versions"] == [{"name": "v1beta2", "served": True, "storage": True, "subresources": {"status": {}}}]
    crd = crd_object("sparkoperator.k8s.io", CRDS / "sparkoperator.k8s.io" / "SparkApplication.crd.json")
    assert crd["metadata"]["name"] == "sparkapplications.sparkoperator.k8s.io"
    (version,) = crd["spec"]["versions"]
    assert "$comment" not in version["schema"]["openAPIV3Schema"] and "description" not in json.dumps(crd["spec"]["names"])
    # Elasticsearch serves v1beta1 upstream too: only the program's (storage) version gets into the CRD
    es = crd_object("elasticsearch.k8s.elastic.co", CRDS / "elasticsearch.k8s.elastic.co" / "Elasticsearch.crd.json")
    assert [v["name"] for v in es["spec"]["versions"]] == ["v1"]
    # a copy without its storage version's schema is refused, naming the file
    bad = tmp_path / "x.example.com"
    bad.mkdir()
    (bad / "Thing.crd.json").write_text(json.dumps({"group": "x.example.com", "scope": "Namespaced", "names": {
        "kind": "Thing", "plural": "things"}, "versions": [{"name": "v1", "served": True, "storage": True}]}))
    with pytest.raises(ValueError, match="Thing.crd.json: the copy must hold exactly one version of Thing"):
        crd_object("x.example.com", bad / "Thing.crd.json")
