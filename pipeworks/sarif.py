"""SARIF 2.1.0 output of `pipeworks check`, for GitHub code scanning (one run, one rule per policy,
a physical location on every result: the manifest line, or the stack file for stack resources)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from policies.engine import Report
from policies.rules import RULES

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"mandatory": "error", "advisory": "warning"}
# GitHub ranks security alerts by this property (0-10); reliability rules carry none.
_SECURITY_SEVERITY = {"secrets": "9.0", "privileged": "8.0", "host-namespaces": "8.0", "host-path": "7.5",
                      "encryption": "7.0", "network": "7.0", "image-tag": "4.0"}

Locate = Callable[[str], tuple[str, int]]  # resource label -> (repository-relative path, line)


def to_sarif(report: Report, locate: Locate, version: str = "0.1.0") -> dict[str, Any]:
    rules = []
    index = {}
    for i, r in enumerate(RULES):
        index[r.name] = i
        props: dict[str, Any] = {"tags": [r.concern, f"pack:{r.pack}"]}
        if r.concern in _SECURITY_SEVERITY:
            props["security-severity"] = _SECURITY_SEVERITY[r.concern]
        rules.append({
            "id": r.name,
            "name": "".join(w.capitalize() for w in r.name.split("-")),
            "shortDescription": {"text": r.description},
            "fullDescription": {"text": r.description},
            "help": {"text": f"{r.description} Exempt one resource with the annotation "
                             f"policy.pipeworks.io/exempt.{r.name}: \"<reason>\" where the stack allows exemptions."},
            "defaultConfiguration": {"level": "warning"},
            "properties": props,
        })
    # A rule with controls (the Pod Security Standards ones) gets one SARIF rule per control, `<policy>/<control>`:
    # its findings carry that id (Violation.rule_id), so results filter and suppress by control.
    for r in RULES:
        for control, what in r.controls.items():
            index[f"{r.name}/{control}"] = len(rules)
            rules.append({**rules[index[r.name]], "id": f"{r.name}/{control}",
                          "name": "".join(w.capitalize() for w in f"{r.name}-{control}".split("-")),
                          "shortDescription": {"text": what}, "fullDescription": {"text": f"{r.description} {what}"},
                          "help": {"text": f"{what} Exempt one resource from this control with the annotation "
                                           f"policy.pipeworks.io/exempt.{r.name}.{control}: \"<reason>\" where the "
                                           "stack allows exemptions."},
                          "properties": {**rules[index[r.name]]["properties"],
                                         "tags": [control, f"pack:{r.pack}", f"policy:{r.name}"]}})
    results = []
    for v in report.violations:
        path, line = locate(v.resource)
        fingerprint = hashlib.sha256(f"{v.policy}|{v.resource}|{v.message}".encode()).hexdigest()[:32]
        results.append({
            "ruleId": v.rule_id,
            "ruleIndex": index.get(v.rule_id, index.get(v.policy, 0)),
            "level": _LEVEL.get(v.level, "warning"),
            "message": {"text": f"{v.message} [{v.concern}; {v.level}]"},
            "locations": [{
                "physicalLocation": {"artifactLocation": {"uri": path, "uriBaseId": "%SRCROOT%"},
                                     "region": {"startLine": max(line, 1)}},
                "logicalLocations": [{"fullyQualifiedName": v.resource, "kind": "resource"}],
            }],
            "partialFingerprints": {"pipeworksViolation/v1": fingerprint},
            "properties": {"concern": v.concern, "enforcement": v.level},
        })
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "pipeworks-check", "version": version, "rules": rules}},
            "results": results,
        }],
    }
