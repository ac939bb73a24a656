"""Stack-wide rewrites of what the program registers, for settings that concern every resource of a kind
rather than one component: where Helm releases load their charts (`pipeworks:platform.chartMirror`) and
whether the engine waits for readiness (`pipeworks:platform.cluster.existing.awaitReadiness`).

They are Pulumi stack transformations (run by the SDK as each resource is constructed, so they apply to
the program under the real engine and under `pipeworks plan`'s mocks alike, and to every release a future
component adds). Naming and path rules are pure functions, tested without mocks."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping
from typing import Any

import pulumi

from infra.config import ClusterKind, PlatformConfig

RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
SKIP_AWAIT = "pulumi.com/skipAwait"  # pulumi-kubernetes: skip the await logic of this object (create/update/delete)


class ChartMirrorError(pulumi.RunError):
    """A chart the stack installs is missing from its chart mirror."""


def mirrored_chart_file(chart: str, version: str) -> str:
    """The file name `helm pull` gives a chart: `<name>-<version>.tgz`, the name being the last path segment
    of the chart reference (`oci://quay.io/strimzi-helm/strimzi-kafka-operator` -> strimzi-kafka-operator)."""
    name = chart.rstrip("/").rsplit("/", 1)[-1]
    if not name or not version:
        raise ValueError(f"a mirrored chart needs a name and a version (chart={chart!r}, version={version!r})")
    return f"{name}-{version}.tgz"


def mirrored_release_props(props: Mapping[str, Any], mirror: str) -> dict[str, Any]:
    """A Release's inputs with its chart loaded from the mirror directory instead of its repository.
    Raises ChartMirrorError naming the missing file."""
    chart, version = props.get("chart"), props.get("version")
    if not isinstance(chart, str) or not isinstance(version, str):
        raise ChartMirrorError(f"pipeworks:platform.chartMirror: release {props.get('name')!r} needs a plain chart "
                               f"name and version to be mirrored (got chart={chart!r}, version={version!r})")
    path = os.path.join(os.path.abspath(mirror), mirrored_chart_file(chart, version))
    if not os.path.isfile(path):
        raise ChartMirrorError(
            f"pipeworks:platform.chartMirror: {mirror} has no {os.path.basename(path)} (chart {chart} version "
            f"{version}); add it with `helm pull <repository>/{chart.rsplit('/', 1)[-1]} --version {version} "
            f"-d {mirror}` or unset chartMirror")
    out = dict(props)
    out["chart"] = path
    out["repository_opts"] = None  # a local chart has no repository
    return out


def without_readiness_waits(type_: str, props: Mapping[str, Any]) -> dict[str, Any] | None:
    """Inputs that tell pulumi-kubernetes not to await this resource, or None when it is no Kubernetes object.
    Releases (and other provider components) take `skip_await`; objects take the `pulumi.com/skipAwait`
    annotation on their metadata."""
    if not type_.startswith("kubernetes:"):
        return None
    out = dict(props)
    if "skip_await" in props:
        out["skip_await"] = True
        return out
    if "metadata" not in props:
        return None
    out["metadata"] = _with_skip_await(props.get("metadata"))
    return out


def _annotated(annotations: Any) -> Any:
    """The annotations with SKIP_AWAIT added; an Output only when the annotations were one."""
    if isinstance(annotations, pulumi.Output):
        return annotations.apply(lambda a: {**(a or {}), SKIP_AWAIT: "true"})
    return {**(annotations or {}), SKIP_AWAIT: "true"}


def _with_skip_await(meta: Any) -> Any:
    """Only the annotations change, so names and labels stay as known in a preview as they were."""
    if meta is None or isinstance(meta, Mapping):
        meta = dict(meta or {})
        meta["annotations"] = _annotated(meta.get("annotations"))
        return meta
    if isinstance(meta, pulumi.Output):
        return meta.apply(_with_skip_await)
    meta = copy.copy(meta)  # an input type such as ObjectMetaArgs
    pulumi.set(meta, "annotations", _annotated(pulumi.get(meta, "annotations")))
    return meta


def stack_transformations(platform: PlatformConfig) -> list[Callable[[pulumi.ResourceTransformationArgs],
                                                                   pulumi.ResourceTransformationResult | None]]:
    """The transformations this stack's config asks for (none for a stack that sets neither key)."""
    out = []
    if platform.chart_mirror:
        mirror = platform.chart_mirror

        def chart_mirror(args: pulumi.ResourceTransformationArgs):
            if args.type_ != RELEASE_TYPE:
                return None
            return pulumi.ResourceTransformationResult(mirrored_release_props(args.props, mirror), args.opts)
        out.append(chart_mirror)
    if platform.cluster.kind is ClusterKind.EXISTING and not platform.cluster.existing.await_readiness:
        def skip_await(args: pulumi.ResourceTransformationArgs):
            props = without_readiness_waits(args.type_, args.props)
            return None if props is None else pulumi.ResourceTransformationResult(props, args.opts)
        out.append(skip_await)
    return out


_MARK = "_pipeworks_stack_transformation"


def register(platform: PlatformConfig) -> None:
    """Registers this stack's transformations (replacing any an earlier run registered); call before the first
    resource is constructed.

    Under the engine a program runs once per process. Under `pipeworks plan`'s mocks many stacks run in one
    process and share one root Stack resource, whose transformations would pile up (one stack's chart mirror
    applied to the next stack's releases): the SDK has no public way to remove one, so ours are marked and
    dropped from the root's list here."""
    root = pulumi.runtime.get_root_resource()
    if root is not None and getattr(root, "_transformations", None):
        root._transformations = [t for t in root._transformations if not getattr(t, _MARK, False)]
    for t in stack_transformations(platform):
        setattr(t, _MARK, True)
        pulumi.runtime.register_stack_transformation(t)
