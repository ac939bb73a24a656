"""Stand-in Helm charts for the e2e chart mirror (pipeworks:platform.chartMirror).

The real charts cannot be fetched here (no chart repository or OCI registry is reachable), so for every
release the e2e stack declares the test writes a chart of the same name and version, as `helm pull` would
name it (`<chart>-<version>.tgz`), holding:
- the CRDs the real chart installs (the upstream CRDs with their structural schemas), so custom resources the
  program declares after the release are validated by the API server exactly as on a real cluster, and only
  if the program orders them after their operator's release;
- one marker ConfigMap naming the chart and version, to prove the release came from the mirror.
The CRDs are templates (not the chart's crds/ directory) so `helm uninstall` removes them and `pulumi
destroy` can be checked to leave nothing behind.
"""

from __future__ import annotations

import io
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


def crd_documents(group: str) -> list[tuple[str, str]]:
    """(file name, YAML text) of the upstream CRDs of one API group.

    Read from the shared reference copy (../shared/crds/<group>/<Kind>.yaml) until the repository carries its
    own structural copy of the schemas; this is the one function to switch when it does."""
    directory = REPO.parent / "shared" / "crds" / group
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise FileNotFoundError(f"no CRDs for API group {group} in {directory}")
    return [(f"{group}-{f.name}", f.read_text()) for f in files]


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
    # .Files.Get copies each CRD verbatim: their descriptions may contain `{{`, which a template would parse.
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
