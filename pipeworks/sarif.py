"""SARIF 2.1.0 output of `pipeworks check`, for GitHub code scanning: one run, one rule per policy, a
physical location on every result (the line that declared the resource, the stack-file key, the
manifest document).

Rules carry a short description (the first sentence) apart from the full one, `help.markdown` and a
`helpUri` into policies/README.md, and the stack's real level as their default. Fingerprints are built
from the policy, the resource and the occurrence, never the message, so rewording a message does not
reopen every alert.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Callable
from typing import Any

from policies.engine import Enforcement, Report
from policies.rules import RULES

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"mandatory": "error", "advisory": "warning"}
# GitHub ranks security alerts by this property (0-10); reliability rules carry none.
_SECURITY_SEVERITY = {"secrets": "9.0", "privileged": "8.0", "host-namespaces": "8.0", "host-path": "7.5",
                      "encryption": "7.0", "network": "7.0", "image-tag": "4.0"}
README = "policies/README.md"
README_ANCHOR = "rules"  # the table of policies; descriptions follow it

# (resource label, message) -> (uri, line, base): a repository-relative path with base "%SRCROOT%", or an absolute
# file:// URI with base None for a file outside the repository.
Locate = Callable[[str, str], tuple[str, int] | tuple[str, int, str | None]]


def short_description(name: str, concern: str, text: str) -> str:
    """The first sentence or clause (GitHub shows it as the alert title); a rule described in one
    sentence gets its name and concern instead, so the short text never repeats the full one."""
    for sep in (". ", "; "):
        if sep in text:
            return text.split(sep, 1)[0].rstrip(".") + "."
    return f"{name.replace('-', ' ').capitalize()} ({concern})."


def help_base() -> str | None:
    """The repository's web URL at this commit, from GitHub Actions' environment (SARIF wants absolute
    help URIs); None elsewhere, and the help text still names the README."""
    server, repo, sha = (os.environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_SHA"))
    return f"{server}/{repo}/blob/{sha}/" if server and repo and sha else None


def fingerprint(policy: str, resource: str, occurrence: int) -> str:
    return hashlib.sha256(f"{policy}|{resource}|{occurrence}".encode()).hexdigest()[:32]


def to_sarif(report: Report, locate: Locate, version: str = "0.1.0",
             enforcement: Enforcement | None = None, base: str | None = None) -> dict[str, Any]:
    enforcement = enforcement or Enforcement()
    base = base if base is not None else help_base()
    rules = []
    index = {}
    for i, r in enumerate(RULES):
        index[r.name] = i
        props: dict[str, Any] = {"tags": [r.concern, f"pack:{r.pack}"]}
        if r.concern in _SECURITY_SEVERITY:
            props["security-severity"] = _SECURITY_SEVERITY[r.concern]
        exempt = (f"Exempt one resource with the annotation `policy.pipeworks.io/exempt.{r.name}: \"<reason>\"` "
                  "where the stack allows exemptions.")
        rule: dict[str, Any] = {
            "id": r.name,
            "name": "".join(w.capitalize() for w in r.name.split("-")),
            "shortDescription": {"text": short_description(r.name, r.concern, r.description)},
            "fullDescription": {"text": r.description},
            "help": {"text": f"{r.description} {exempt.replace('`', '')} See {README}.",
                     "markdown": f"**{r.name}** ({r.pack} pack, concern {r.concern})\n\n{r.description}\n\n{exempt}\n\n"
                                 f"See [{README}]({(base or '') + README}#{README_ANCHOR})."},
            "defaultConfiguration": {"level": _LEVEL.get(enforcement.level(r.name), "warning")},
            "properties": props,
        }
        if base:
            rule["helpUri"] = f"{base}{README}#{README_ANCHOR}"
        rules.append(rule)
    results = []
    seen: Counter[tuple[str, str]] = Counter()
    for v in sorted(report.violations, key=lambda x: (x.policy, x.resource, x.message)):
        where = locate(v.resource, v.message)
        path, line = where[0], where[1]
        uri_base = where[2] if len(where) > 2 else "%SRCROOT%"  # type: ignore[misc]
        occurrence = seen[(v.policy, v.resource)]
        seen[(v.policy, v.resource)] += 1
        artifact: dict[str, Any] = {"uri": path}
        if uri_base:
            artifact["uriBaseId"] = uri_base
        results.append({
            "ruleId": v.policy,
            "ruleIndex": index.get(v.policy, 0),
            "level": _LEVEL.get(v.level, "warning"),
            "message": {"text": f"{v.message} [{v.concern}; {v.level}]"},
            "locations": [{
                "physicalLocation": {"artifactLocation": artifact, "region": {"startLine": max(line, 1)}},
                "logicalLocations": [{"fullyQualifiedName": v.resource, "kind": "resource"}],
            }],
            "partialFingerprints": {"pipeworksViolation/v2": fingerprint(v.policy, v.resource, occurrence)},
            "properties": {"concern": v.concern, "enforcement": v.level},
        })
    driver: dict[str, Any] = {"name": "pipeworks-check", "version": version, "rules": rules}
    if base:
        driver["informationUri"] = base + README
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": driver},
            "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "the repository root"}}},
            "results": results,
        }],
    }
