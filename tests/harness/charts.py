"""Stand-in Helm charts for the e2e chart mirror (pipeworks:platform.chartMirror).

The real charts cannot be fetched here (no chart repository or OCI registry is reachable), so for every
release the e2e stack declares the test writes a chart of the same name and version, as `helm pull` would
name it (`<chart>-<version>.tgz`), holding:
- the CRDs the real chart installs, built from the repository's structural copy (tests/schemas/crds/, made by
  scripts/crd_schemas.py: each kind's group, names, scope, subresources and the schema of the version the
  program writes, without prose or defaults), so custom resources the program declares after the release are
  validated by the API server by their upstream structural schemas, and only if the program orders them after
  their operator's release; a fresh clone needs nothing beside it;
- one marker ConfigMap naming the chart and version, to prove the release came from the mirror.
The CRDs are templates (not the chart's crds/ directory) so `helm uninstall` removes them and `pulumi
destroy` can be checked to leave nothing behind.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import yaml

from tests.harness.engines import REPO

# Which CRD groups each chart installs (../shared/reference/upstream.md §1 "Versions, charts and APIs"):
# rook-ceph v1.20.6 installs ceph.rook.io and objectbucket.io (deploy/charts/rook-ceph/templates/resources.yaml);
# strimzi-kafka-operator 1.2.0 kafka.strimzi.io; spark-operator 2.5.2 sparkoperator.k8s.io; eck-operator 3.5.0 the
# four Elastic groups (eck-operator-crds subchart, installCRDs: true); gpu-operator v26.7.0 nvidia.com;
# kube-prometheus-stack 88.5.3 monitoring.coreos.com; Envoy Gateway's gateway-helm v1.9.0 the Gateway API v1.6.1
# (its crds subchart, docs/ARCHITECTURE.md "Gateway"); cass-operator 0.66.0 (v1.32.0) cassandra.datastax.com.
# ceph-csi-drivers and jupyterhub install no CRD the program uses.
CHART_CRD_GROUPS: dict[str, tuple[str, ...]] = {
    "rook-ceph": ("ceph.rook.io", "objectbucket.io"),
    "strimzi-kafka-operator": ("kafka.strimzi.io",),
    "spark-operator": ("sparkoperator.k8s.io",),
    "eck-operator": ("elasticsearch.k8s.elastic.co", "kibana.k8s.elastic.co", "logstash.k8s.elastic.co",
                     "beat.k8s.elastic.co"),
    "gpu-operator": ("nvidia.com",),
    "kube-prometheus-stack": ("monitoring.coreos.com",),
    "gateway-helm": ("gateway.networking.k8s.io",),
    "cass-operator": ("cassandra.datastax.com",),
}
# CRDs a cluster brings itself rather than any release of the stack (tests/e2e/environment.py adds what a
# switched-off component would otherwise have installed).
CLUSTER_CRD_GROUPS: tuple[str, ...] = ()


CRDS = REPO / "tests" / "schemas" / "crds"


def crd_object(group: str, meta_file: Path) -> dict:
    """One CustomResourceDefinition from the copy: `<Kind>.crd.json` and the `<Kind>_<version>.json` schema of each
    version the copy holds (the program's; scripts/crd_schemas.py keeps only storage versions). The other upstream
    versions are left out: a CRD must give every version a schema, and the program uses none of them."""
    meta = json.loads(meta_file.read_text())
    kind = meta["names"]["kind"]
    versions = []
    for ver in meta["versions"]:
        schema_file = meta_file.parent / f"{kind}_{ver['name']}.json"
        if schema_file.exists():
            schema = {k: v for k, v in json.loads(schema_file.read_text()).items() if k != "$comment"}
            versions.append({**ver, "served": True, "schema": {"openAPIV3Schema": schema}})
    if [v["storage"] for v in versions] != [True]:
        raise ValueError(f"{meta_file}: the copy must hold exactly one version of {kind}, its storage version; it "
                         f"holds {[v['name'] for v in versions]} (scripts/crd_schemas.py SCHEMAS)")
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{meta['names']['plural']}.{group}", "annotations": meta.get("annotations", {})},
            "spec": {"group": group, "names": meta["names"], "scope": meta["scope"], "versions": versions}}


def crd_documents(group: str) -> list[tuple[str, str]]:
    """(file name, JSON text, which is YAML too) of the CRDs of one API group, from the in-repo structural copy."""
    files = sorted((CRDS / group).glob("*.crd.json"))
    if not files:
        raise FileNotFoundError(f"no CRDs for API group {group} in {CRDS / group}: add its kinds to SCHEMAS in "
                                "scripts/crd_schemas.py and run it")
    return [(f"{group}-{f.name}", json.dumps(crd_object(group, f), indent=1, sort_keys=True) + "\n") for f in files]


def chart_name(chart: str) -> str:
    return chart.rstrip("/").rsplit("/", 1)[-1]


def write_stand_in_chart(mirror: Path, chart: str, version: str) -> Path:
    """Writes <mirror>/<name>-<version>.tgz and returns its path."""
    name = chart_name(chart)
    files: dict[str, str] = {
        "Chart.yaml": yaml.safe_dump({"apiVersion": "v2", "name": name, "version": version, "type": "application",
                                      "description": f"pipeworks e2e stand-in for {chart} {version}"}),
        "values.yaml": "{}\n",
        "templates/marker.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
            "  name: pipeworks-standin-{{ .Release.Name }}\n  namespace: {{ .Release.Namespace }}\n"
            "  labels: {app.kubernetes.io/managed-by: Helm, pipeworks.dev/stand-in-chart: \"true\"}\n"
            f"data:\n  chart: {name}\n  version: {version!r}\n"),
    }
    crds = [doc for group in CHART_CRD_GROUPS.get(name, ()) for doc in crd_documents(group)]
    # .Files.Get copies each CRD verbatim: a pattern or CEL rule may contain `{{`, which a template would parse.
    for fname, text in crds:
        files[f"files/{fname}"] = text
    if crds:
        files["templates/crds.yaml"] = "".join(
            f"---\n{{{{ .Files.Get \"files/{fname}\" }}}}\n" for fname, _ in crds)
    path = mirror / f"{name}-{version}.tgz"
    with tarfile.open(path, "w:gz") as tar:
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}/{rel}")
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return path


def cluster_crds(groups: tuple[str, ...] = CLUSTER_CRD_GROUPS) -> list[dict]:
    """The CRDs the e2e cluster has before the stack runs."""
    return [doc for group in groups for _, text in crd_documents(group)
            for doc in yaml.safe_load_all(text) if doc]
