"""Chart defaults the platform removes, as Helm expresses it: a key set to null in the user values deletes the
chart's default for that key when Helm coalesces them (helm/pkg/chartutil/coalesce.go), whereas a map we pass
is merged with the chart's map key by key, so a default such as `resources.limits.cpu` survives any
`resources` we set unless it is nulled.

The nulls travel in a `valueYamlFiles` document rather than in `values`: the Kubernetes provider honours
explicit nulls end to end since pulumi-kubernetes 4.30 (pulumi/pulumi-kubernetes#4293), and a YAML file is the
way upstream documents for every SDK (#4306), since the language SDKs are not all guaranteed to keep a null
inside a map. The provider merges `values` over the files, so a null here never hides a value we set.
Pure: no Pulumi objects are built here (the components wrap the text in a StringAsset)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml


def null_values(paths: Iterable[str]) -> dict[str, Any]:
    """{"a": {"b": None}} for "a.b": the nested values document that deletes each dotted key."""
    doc: dict[str, Any] = {}
    for path in paths:
        *parents, leaf = path.split(".")
        node = doc
        for key in parents:
            node = node.setdefault(key, {})
            if node is None:
                raise ValueError(f"{path}: a parent of it is itself removed")
        node[leaf] = None
    return doc


def null_values_yaml(paths: Iterable[str]) -> str:
    """The YAML text of null_values(paths), a valueYamlFiles document ("" when there is nothing to remove)."""
    doc = null_values(paths)
    return yaml.safe_dump(doc, sort_keys=True) if doc else ""
