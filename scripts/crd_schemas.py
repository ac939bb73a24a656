#!/usr/bin/env python3
"""Derive the in-repo structural copy of the upstream CRD schemas the stacks use.

Source: `../shared/crds/<group>/<Kind>_<version>.json` (each version's `openAPIV3Schema`, extracted unchanged
from the upstream CRD `<Kind>.yaml` whose `# Source:` line names repository, tag and path). Target:
`tests/schemas/crds/<group>/<Kind>_<version>.json`, which every CRD schema test reads, so a clone without
`../shared` (a contributor's machine, a hosted runner) still runs them; and `<group>/<Kind>.crd.json`, what else
an API server needs to serve the kind (group, names, scope, the versions with served/storage/subresources, the
`api-approved.kubernetes.io` annotation a `*.k8s.io` group requires), from which the e2e's stand-in charts
build the CustomResourceDefinition (tests/harness/charts.py): with the schema of the version the program writes
(always the upstream storage version; the CRD's other versions are left out, the program uses none).

What is kept is what a validator decides with: field names (`properties`), `type`, `items`, `required`,
`enum`, `pattern`, `format`, bounds (`minimum`, `maxLength`, ...), combinators (`anyOf`, `oneOf`, `allOf`,
`not`), `additionalProperties`, `nullable` and the `x-kubernetes-*` extensions (int-or-string,
preserve-unknown-fields, embedded-resource, list/map types and the CEL `x-kubernetes-validations` rules and
messages), and `default`: the API server applies defaults before it validates, and it refuses a CRD whose
`x-kubernetes-list-map-keys` field has neither a default nor `required` (found by the e2e: ECK's
`ports[].protocol`). Prose is dropped (`description`, `example`, `title`): validation does not read it, and
without it the copy is a fraction of the size. Field names are never dropped, even a field called
`description` or `default` (the walk knows which mappings are schemas and which are property tables).

    python scripts/crd_schemas.py            # (re)write tests/schemas/crds/ from ../shared/crds
    python scripts/crd_schemas.py --check    # exit 1 naming every file that is stale, missing or extra
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO.parent / "shared" / "crds"
TARGET = REPO / "tests" / "schemas" / "crds"

# Exactly the custom resources the program can declare, at the version the program writes. The stacks' plans
# are checked against this list by tests/stacks/test_schemas.py (every custom resource of dev and prod has its
# schema here), so a new kind cannot be declared without adding it.
SCHEMAS: tuple[tuple[str, str, str], ...] = (
    # Rook-Ceph v1.20.6 (infra/storage): cluster, pools, filesystem, object store; object users and bucket
    # claims through the storage handle.
    ("ceph.rook.io", "CephCluster", "v1"),
    ("ceph.rook.io", "CephBlockPool", "v1"),
    ("ceph.rook.io", "CephFilesystem", "v1"),
    ("ceph.rook.io", "CephFilesystemSubVolumeGroup", "v1"),
    ("ceph.rook.io", "CephObjectStore", "v1"),
    ("ceph.rook.io", "CephObjectStoreUser", "v1"),
    ("objectbucket.io", "ObjectBucketClaim", "v1alpha1"),
    # Strimzi 1.2.0 (infra/services/kafka and the workloads' topics and users).
    ("kafka.strimzi.io", "Kafka", "v1"),
    ("kafka.strimzi.io", "KafkaNodePool", "v1"),
    ("kafka.strimzi.io", "KafkaTopic", "v1"),
    ("kafka.strimzi.io", "KafkaUser", "v1"),
    # Spark operator v2.5.2: the applications built with the Spark handle.
    ("sparkoperator.k8s.io", "SparkApplication", "v1beta2"),
    ("sparkoperator.k8s.io", "ScheduledSparkApplication", "v1beta2"),
    # cass-operator v1.32.0 (infra/services/cassandra).
    ("cassandra.datastax.com", "CassandraDatacenter", "v1beta1"),
    # ECK 3.5.0 (infra/services/elk).
    ("elasticsearch.k8s.elastic.co", "Elasticsearch", "v1"),
    ("kibana.k8s.elastic.co", "Kibana", "v1"),
    ("logstash.k8s.elastic.co", "Logstash", "v1alpha1"),
    ("beat.k8s.elastic.co", "Beat", "v1beta1"),
    # NVIDIA GPU Operator v26.7.0: the chart renders a ClusterPolicy from our values.
    ("nvidia.com", "ClusterPolicy", "v1"),
    # kube-prometheus-stack 88.5.3 (prometheus-operator 0.93.1): every component's monitors and rules.
    ("monitoring.coreos.com", "ServiceMonitor", "v1"),
    ("monitoring.coreos.com", "PodMonitor", "v1"),
    ("monitoring.coreos.com", "PrometheusRule", "v1"),
    # Gateway API v1.6.1 (standard channel): the platform's GatewayClass and Gateway, the workloads' HTTPRoutes.
    ("gateway.networking.k8s.io", "GatewayClass", "v1"),
    ("gateway.networking.k8s.io", "Gateway", "v1"),
    ("gateway.networking.k8s.io", "HTTPRoute", "v1"),
    # Kubeflow training-operator v1.9.4 (infra/services/training): the workloads' TFJobs.
    ("kubeflow.org", "TFJob", "v1"),
    # EKS AL2023 nodeadm v20260724: the NodeConfig documents in the node pools' user data.
    ("node.eks.aws", "NodeConfig", "v1alpha1"),
)

# Keywords of a schema object that validation (and the API server's defaulting before it) reads. Anything else
# (description, example, title) is prose and is dropped.
_KEEP = {
    "type", "format", "pattern", "enum", "required", "nullable", "default",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
    "minLength", "maxLength", "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties",
    "x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource",
    "x-kubernetes-list-type", "x-kubernetes-list-map-keys", "x-kubernetes-map-type",
}
_SUBSCHEMA = {"items", "not", "additionalProperties"}       # a schema (or a boolean / list of schemas)
_SUBSCHEMAS = {"anyOf", "oneOf", "allOf"}                    # a list of schemas
_CEL_KEEP = ("rule", "message", "messageExpression", "reason", "fieldPath", "optionalOldSelf")
# What a CRD object needs besides the schemas; no prose (printer columns, descriptions, deprecation warnings).
_NAMES_KEEP = ("kind", "listKind", "plural", "singular", "shortNames", "categories")
_VERSION_KEEP = ("name", "served", "storage", "subresources")
_ANNOTATIONS_KEEP = ("api-approved.kubernetes.io",)  # required for groups under k8s.io / kubernetes.io


def structural(schema: Any) -> Any:
    """The schema without prose, walked as a schema (property tables keep every field name)."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _KEEP:
            out[key] = value
        elif key == "properties":
            out[key] = {name: structural(sub) for name, sub in value.items()}
        elif key in _SUBSCHEMA:
            out[key] = [structural(s) for s in value] if isinstance(value, list) else structural(value)
        elif key in _SUBSCHEMAS:
            out[key] = [structural(s) for s in value]
        elif key == "x-kubernetes-validations":
            out[key] = [{k: r[k] for k in _CEL_KEEP if k in r} for r in value]
    return out


def source_line(group: str, kind: str, source: Path) -> str:
    """The upstream origin named on the first line of the saved CRD ("# Source: repo tag X path")."""
    crd = source / group / f"{kind}.yaml"
    first = crd.read_text().splitlines()[0] if crd.exists() else ""
    return first.removeprefix("# Source:").strip() or f"../shared/crds/{group}/{kind}.yaml"


def render(group: str, kind: str, version: str, source: Path) -> str:
    src = source / group / f"{kind}_{version}.json"
    schema = structural(json.loads(src.read_text()))
    doc = {"$comment": f"Generated by scripts/crd_schemas.py from {source_line(group, kind, source)} "
                       f"({kind} {version}); do not edit.", **schema}
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def render_crd(group: str, kind: str, source: Path) -> str:
    """The CRD's own fields (no schema, no prose) from the upstream `<Kind>.yaml`."""
    import yaml  # only here: the schema files are JSON, the upstream CRDs YAML

    text = (source / group / f"{kind}.yaml").read_text()
    crd = next(d for d in yaml.safe_load_all(text) if d and d.get("kind") == "CustomResourceDefinition")
    spec = crd["spec"]
    if spec["group"] != group or spec["names"]["kind"] != kind:
        raise ValueError(f"{source / group / kind}.yaml defines {spec['names']['kind']} in {spec['group']}")
    annotations = {k: v for k, v in (crd["metadata"].get("annotations") or {}).items() if k in _ANNOTATIONS_KEEP}
    doc = {"$comment": f"Generated by scripts/crd_schemas.py from {source_line(group, kind, source)} "
                       f"({kind} CRD without its schemas); do not edit.",
           "group": group, "scope": spec["scope"],
           "names": {k: spec["names"][k] for k in _NAMES_KEEP if k in spec["names"]},
           "versions": [{k: ver[k] for k in _VERSION_KEEP if k in ver} for ver in spec["versions"]]}
    if annotations:
        doc["annotations"] = annotations
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def expected(source: Path) -> dict[Path, str]:
    """{relative target path: content} for every schema in SCHEMAS and the CRD of every kind."""
    missing = [f"{g}/{k}_{v}.json" for g, k, v in SCHEMAS if not (source / g / f"{k}_{v}.json").exists()]
    missing += sorted({f"{g}/{k}.yaml" for g, k, _ in SCHEMAS if not (source / g / f"{k}.yaml").exists()})
    if missing:
        raise FileNotFoundError(f"{source}: no upstream schema for {', '.join(missing)}")
    out = {Path(g) / f"{k}_{v}.json": render(g, k, v, source) for g, k, v in SCHEMAS}
    out.update({Path(g) / f"{k}.crd.json": render_crd(g, k, source) for g, k in dict.fromkeys(
        (g, k) for g, k, _ in SCHEMAS)})
    return out


def problems(source: Path = SOURCE, target: Path = TARGET) -> list[str]:
    """Every target file that differs from what the source gives, is missing, or is not in SCHEMAS."""
    want = expected(source)
    have = {p.relative_to(target) for p in target.rglob("*.json")} if target.is_dir() else set()
    out = [f"{target / p}: missing" for p in sorted(want) if p not in have]
    out += [f"{target / p}: stale (differs from {source / p})" for p in sorted(want)
            if p in have and (target / p).read_text() != want[p]]
    out += [f"{target / p}: not in SCHEMAS of scripts/crd_schemas.py" for p in sorted(have - set(want))]
    return out


def write(source: Path = SOURCE, target: Path = TARGET) -> int:
    want = expected(source)
    for p in (target.rglob("*.json") if target.is_dir() else []):
        if p.relative_to(target) not in want:
            p.unlink()
    for rel, text in want.items():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        (target / rel).write_text(text)
    return len(want)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only report stale, missing or extra files (exit 1)")
    ap.add_argument("--source", type=Path, default=SOURCE, help=f"upstream schemas (default {SOURCE})")
    ap.add_argument("--target", type=Path, default=TARGET, help=f"in-repo copy (default {TARGET})")
    args = ap.parse_args(argv)
    if not args.source.is_dir():
        print(f"crd_schemas: {args.source} not found: the shared/ folder must sit beside the repository "
              "(or pass --source DIR)", file=sys.stderr)
        return 2
    try:
        if args.check:
            found = problems(args.source, args.target)
            print("\n".join(found) if found else f"{args.target}: current")
            return 1 if found else 0
        print(f"wrote {write(args.source, args.target)} schemas to {args.target}")
        return 0
    except (FileNotFoundError, json.JSONDecodeError, ValueError, KeyError) as exc:
        print(f"crd_schemas: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
