"""What Helm does with a release's values, modelled for the tests of tests/charts/: the merge of the Pulumi
Release inputs into user values, Helm's coalescing with the chart's defaults, and the chart templates' own
checks (`fail`). The per-chart renderers in test_rendered_intent.py read the templates at the pinned versions;
this module holds only the Helm semantics they share. No chart code is copied: where a chart default matters,
the test names it with its values.yaml path and tag."""

from __future__ import annotations

import copy
from typing import Any

MISSING = object()


class ChartFail(Exception):
    """A template's `fail`: helm install/upgrade stops with this message."""


def merge_maps(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """pulumi-kubernetes's merge of `values` over the `valueYamlFiles` documents (Helm's mergeMaps: nested maps
    merged, anything else replaced; a null is kept as a value, pulumi/pulumi-kubernetes#4293)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge_maps(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def user_values(release: dict[str, Any]) -> dict[str, Any]:
    """The user-supplied values Helm receives from a Release's inputs as recorded in the plan (resources.json):
    each valueYamlFiles text in order, then `values` over them."""
    import yaml

    out: dict[str, Any] = {}
    for f in release.get("valueYamlFiles") or []:
        out = merge_maps(out, yaml.safe_load(f["text"]) or {})
    return merge_maps(out, release.get("values") or {})


def coalesce(defaults: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
    """Helm's CoalesceValues (pkg/chartutil/coalesce.go): user values over the chart's defaults, maps merged key
    by key, a user null deleting the default key, a non-map replacing a map and vice versa."""
    out = copy.deepcopy(defaults)
    for k, v in user.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = coalesce(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return _drop_nulls(out)


def _drop_nulls(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _drop_nulls(v) if isinstance(v, dict) else v for k, v in d.items() if v is not None}


def dig(values: dict[str, Any], path: str, default: Any = MISSING) -> Any:
    """values["a"]["b"] for "a.b"; `default` (or MISSING) when a key is absent."""
    node: Any = values
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node


def truthy(value: Any) -> bool:
    """Go template truth (`if`, `with`): false, 0, "", nil and empty maps/lists are false."""
    return value not in (None, False, 0, "", MISSING) and value != {} and value != []


def nested(**paths: Any) -> dict[str, Any]:
    """{"a": {"b": 1}} from nested(a__b=1): chart defaults spelled compactly in the tests."""
    out: dict[str, Any] = {}
    for path, value in paths.items():
        *parents, leaf = path.split("__")
        node = out
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return out
