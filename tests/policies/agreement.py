"""Judge the external fixture corpus (`../shared/policy-fixtures/`: gatekeeper-library, Kyverno,
checkov and Polaris samples) with our rules, for the concerns we share, and compare with the
upstream verdicts (INVERTED rows follow our stance: secretKeyRef is how credentials should arrive).

Each fixture's first document is the object under review; later documents are referential data
(existing PDBs, Deployments, StorageClasses) and are evaluated with it. A fixture is "disallowed"
by us when one of the mapped policies reports on that first object. Evaluated as prod (strictest),
with no node pools, as `pipeworks check --manifests` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from policies.engine import Enforcement, evaluate
from policies.manifests import load_file

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "policy-fixtures"

Match = tuple[str, str | None]  # (rule id: a policy, or <policy>/<control>; message fragment or None for any)

BASE, RESTRICTED = "pod-security-baseline", "pod-security-restricted"
SECRETS: list[Match] = [("no-literal-credentials", None), ("credentials-from-secret-refs", None)]
PDB: list[Match] = [("pod-disruption-budget", None)]

#: upstream rule -> what of ours judges the same concern (None: a concern we do not share, and why)
SHARED: dict[str, list[Match] | str] = {
    "checkov/CKV_K8S_14_ImageTagFixed": [("image-tag", None)],
    "checkov/CKV_K8S_16_PrivilegedContainers": [(f"{BASE}/privileged", None)],
    "checkov/CKV_K8S_20_AllowPrivilegeEscalation": [(f"{RESTRICTED}/privilege-escalation", None)],
    "checkov/CKV_K8S_35_Secrets": SECRETS,
    "gatekeeper-library/allow-privilege-escalation": [(f"{RESTRICTED}/privilege-escalation", None)],
    "gatekeeper-library/allowedrepos": "registry allow-lists are not a pipeworks policy",
    "gatekeeper-library/automount-serviceaccount-token": "service-account token mounting is not a pipeworks policy",
    "gatekeeper-library/capabilities": [(f"{BASE}/capabilities", None), (f"{RESTRICTED}/capabilities", None)],
    "gatekeeper-library/containerlimits": [("container-resources", "a memory limit")],
    "gatekeeper-library/containerrequests": [("container-resources", "request")],
    "gatekeeper-library/containerresources": [("container-resources", None)],
    "gatekeeper-library/disallowedtags": [("image-tag", None)],
    "gatekeeper-library/ephemeralstoragelimit": "ephemeral-storage limits are not required by pipeworks",
    "gatekeeper-library/horizontalpodautoscaler": "HPA ranges are not a pipeworks policy",
    "gatekeeper-library/host-filesystem": [(f"{BASE}/host-path", None)],
    "gatekeeper-library/host-namespaces": [(f"{BASE}/host-namespaces", "hostPID"), (f"{BASE}/host-namespaces", "hostIPC")],
    "gatekeeper-library/host-network-ports": [(f"{BASE}/host-namespaces", "hostNetwork"), (f"{BASE}/host-ports", None)],
    "gatekeeper-library/imagedigests": "digest pinning is stricter than the pipeworks tag rule",
    "gatekeeper-library/poddisruptionbudget": PDB,
    "gatekeeper-library/privileged-containers": [(f"{BASE}/privileged", None)],
    "gatekeeper-library/replicalimits": "replica ranges are not a pipeworks policy",
    "gatekeeper-library/requiredprobes": [("container-probes", None)],
    "gatekeeper-library/storageclass": [("storage-class", None)],
    "gatekeeper-library/volumes": [(f"{BASE}/host-path", None), (f"{RESTRICTED}/volume-types", None)],
    "kyverno-policies/check-env-vars": "an application-specific env value check (DISABLE_OPA)",
    "kyverno-policies/deployment-replicas-higher-than-pdb": PDB,
    "kyverno-policies/disallow-capabilities": [(f"{BASE}/capabilities", None)],
    "kyverno-policies/disallow-host-namespaces": [(f"{BASE}/host-namespaces", None)],
    "kyverno-policies/disallow-host-path": [(f"{BASE}/host-path", None)],
    "kyverno-policies/disallow-host-ports": [(f"{BASE}/host-ports", None)],
    "kyverno-policies/disallow-latest-tag": [("image-tag", None)],
    "kyverno-policies/disallow-privilege-escalation": [(f"{RESTRICTED}/privilege-escalation", None)],
    "kyverno-policies/disallow-privileged-containers": [(f"{BASE}/privileged", None)],
    "kyverno-policies/disallow-secrets-from-env-vars": SECRETS,
    "kyverno-policies/ensure-probes-different": "comparing liveness with readiness is not a pipeworks policy",
    "kyverno-policies/ensure-readonly-hostpath": [(f"{BASE}/host-path", None)],
    "kyverno-policies/memory-requests-equal-limits": "Guaranteed QoS is not required by pipeworks",
    "kyverno-policies/pdb-maxunavailable": PDB,
    "kyverno-policies/pdb-minavailable": PDB,
    "kyverno-policies/require-cpu-limits": "pipeworks requires cpu requests, not cpu limits (they throttle)",
    "kyverno-policies/require-deployments-have-multiple-replicas": "stateless replica counts are not policed",
    "kyverno-policies/require-emptydir-requests-limits": "ephemeral-storage limits are not required by pipeworks",
    "kyverno-policies/require-pdb": PDB,
    "kyverno-policies/require-pod-requests-limits": [("container-resources", None)],
    "kyverno-policies/require-probes": [("container-probes", None)],
    "kyverno-policies/require-reasonable-pdbs": PDB,
    "kyverno-policies/require-replicas-allow-disruption": PDB,
    "kyverno-policies/require-storageclass": [("storage-class", None)],
    "kyverno-policies/restrict-controlplane-scheduling": "control-plane tolerations: no control-plane nodes on EKS",
    "kyverno-policies/restrict-node-affinity": "forbids node affinity; pipeworks requires it for placement",
    "kyverno-policies/restrict-node-selection": "forbids nodeSelector; pipeworks requires it for placement",
    "kyverno-policies/restrict-secrets-by-name": "Secret naming conventions are not a pipeworks policy",
    "kyverno-policies/restrict-storageclass": "StorageClass reclaim policies are not a pipeworks policy",
    "kyverno-policies/topologyspreadconstraints-policy": [("replica-spread", None)],
    "polaris/cpuLimitsMissing": "pipeworks requires cpu requests, not cpu limits (they throttle)",
    "polaris/deploymentMissingReplicas": "stateless replica counts are not policed",
    "polaris/hostPIDSet": [(f"{BASE}/host-namespaces", "hostPID")],
    "polaris/hostPathSet": [(f"{BASE}/host-path", None)],
    "polaris/livenessProbeMissing": [("container-probes", "livenessProbe")],
    "polaris/memoryLimitsMissing": [("container-resources", "a memory limit")],
    "polaris/missingPodDisruptionBudget": PDB,
    "polaris/pdbDisruptionsIsZero": PDB,
    "polaris/readinessProbeMissing": [("container-probes", "readinessProbe")],
    "polaris/runAsPrivileged": [(f"{BASE}/privileged", None)],
    "polaris/sensitiveConfigmapContent": SECRETS,
    "polaris/sensitiveContainerEnvVar": SECRETS,
    "polaris/tagNotSpecified": [("image-tag", None)],
    "polaris/topologySpreadConstraint": [("replica-spread", None)],
}

#: rules whose upstream verdict contradicts our stance; the expected verdict is flipped to "allowed"
INVERTED = {"checkov/CKV_K8S_35_Secrets", "kyverno-policies/disallow-secrets-from-env-vars"}

_GK = "gatekeeper-library/"
_KY = "kyverno-policies/"
_STANCE_EXEMPT = ("upstream exempts by constraint parameters (exemptImages, exemptions); pipeworks exempts one "
                  "resource by annotation with a reason, so the sample is judged unexempted")
_STANCE_NO_MAX = "pipeworks requires requests and a memory limit but sets no maximum values and no cpu limit"
_STANCE_ALWAYS = "the sample's constraint enforces nothing; pipeworks always requires requests and a memory limit"
_STANCE_HOST = ("Pod Security baseline: no hostNetwork, hostPort or hostPath outside the reasoned allow-list, "
                "whatever the port range or read-only flag")
_STANCE_RESTRICTED = "workload namespaces (default included) get Pod Security restricted, which drops ALL capabilities"
_CONTEXT = ("the verdict depends on cluster state the fixture does not carry (synced StorageClasses / a mocked "
            "PDB); pipeworks judges only what the stack or manifests declare")
_STANCE_PROBES = "pipeworks requires both liveness and readiness probes; upstream accepts either"
_STANCE_PDB_PCT = "pipeworks flags budgets that block every eviction, not percentages outside a 50% band"
_STANCE_PDB_REPLICAS = ("pipeworks requires a PDB from 2 replicas up; a Deployment without replicas runs 1, and a "
                        "budget of minAvailable 2 on it blocks every eviction, which Polaris does not check")
_STANCE_SPREAD = "pipeworks requires spread for replicated stateful sets only; Polaris wants it on every Deployment"
_STANCE_PDB_NEEDED = "pipeworks requires a PDB for every replicated service; the upstream rule only checks existing ones"

#: fixtures where our verdict differs on purpose, and why (everything else must agree)
KNOWN_DISAGREEMENTS: dict[str, str] = {
    _GK + "allow-privilege-escalation/allowed/allow-privilege-escalation__exempted-path.yaml": _STANCE_EXEMPT,
    _GK + "capabilities/allowed/capabilities-baseline__example-allowed.yaml": _STANCE_RESTRICTED,
    _GK + "containerlimits/disallowed/container-limits-ignore-cpu__example-disallowed.yaml": _STANCE_NO_MAX,
    _GK + "containerlimits/disallowed/container-limits__example-disallowed.yaml": _STANCE_NO_MAX,
    _GK + "containerrequests/disallowed/container-requests__example-disallowed.yaml": _STANCE_NO_MAX,
    _GK + "containerresources/allowed/no-enforcements__empty-resources-allowed.yaml": _STANCE_ALWAYS,
    _GK + "containerresources/allowed/no-enforcements__only-requests-defined-allowed.yaml": _STANCE_ALWAYS,
    _GK + "containerresources/disallowed/container-limits-and-requests__only-cpu-requests-and-memory-limits-defined"
          "-disallowed.yaml": _STANCE_NO_MAX,
    _GK + "disallowedtags/allowed/disallowed-tags__exempt-images-with-disallowed-tags.yaml": _STANCE_EXEMPT,
    _GK + "host-filesystem/allowed/host-filesystem__example-allowed.yaml": _STANCE_HOST,
    _GK + "host-network-ports/allowed/port-range-with-host-network-allowed__example-allowed.yaml": _STANCE_HOST,
    _GK + "host-network-ports/allowed/port-range-with-host-network-allowed__no-ports-specified.yaml": _STANCE_HOST,
    _GK + "host-network-ports/allowed/port-range-with-host-network-allowed__port-violation-exempted.yaml": _STANCE_HOST,
    _GK + "host-network-ports/allowed/port-range-with-host-network-forbidden__in-range-host-network-false.yaml":
        _STANCE_HOST,
    _GK + "privileged-containers/allowed/privileged-containers-disallowed__exempted-image.yaml": _STANCE_EXEMPT,
    _GK + "storageclass/disallowed/storageclass__example-disallowed-pvc-badname.yaml": _CONTEXT,
    _GK + "storageclass/disallowed/storageclass__example-disallowed-ssvct-badnamename.yaml": _CONTEXT,
    _KY + "ensure-readonly-hostpath/allowed/pod__good-pod-01.yaml": _STANCE_HOST,
    _KY + "pdb-minavailable/allowed/statefulset__good-pdb.yaml": _STANCE_PDB_NEEDED,
    _KY + "require-pdb/allowed/deployment__nginx-deploy-pass.yaml": _CONTEXT,
    _KY + "require-probes/allowed/pod__goodpod03.yaml": _STANCE_PROBES,
    _KY + "require-probes/allowed/pod__goodpod04.yaml": _STANCE_PROBES,
    **{f"{_KY}require-reasonable-pdbs/disallowed/poddisruptionbudget__bad-{k}-pdb0{i}.yaml": _STANCE_PDB_PCT
       for k, n in (("maxUnavailable", 5), ("minAvailable", 6)) for i in range(1, n + 1)},
    **{f"polaris/missingPodDisruptionBudget/{f}.yaml": _STANCE_PDB_REPLICAS for f in (
        "allowed/success.many", "allowed/success", "disallowed/failure-bad-ns", "disallowed/failure.bad-name",
        "disallowed/failure.empty-labels", "disallowed/failure.no-labels", "disallowed/failure.no-metadata",
        "disallowed/failure.wrong-place", "disallowed/failure")},
    "polaris/topologySpreadConstraint/disallowed/failure.empty.yaml": _STANCE_SPREAD,
    "polaris/topologySpreadConstraint/disallowed/failure.nospreadconstraint.yaml": _STANCE_SPREAD,
}


@dataclass(frozen=True)
class Judged:
    rule: str
    file: str  # relative to FIXTURES
    expected: str  # allowed | disallowed (after inversion)
    ours: str
    evidence: tuple[str, ...]  # our matching messages
    controls: tuple[str, ...] = ()  # the rule ids of ours the upstream rule maps to (per-control reporting)

    @property
    def agrees(self) -> bool:
        return self.expected == self.ours


def _matches(rule_id: str, message: str, matches: list[Match]) -> bool:
    return any(rule_id == p and (frag is None or frag in message) for p, frag in matches)


def judge_file(path: Path, rule: str, matches: list[Match]) -> Judged:
    loaded = load_file(path, str(path.relative_to(FIXTURES)))
    expected = "allowed" if path.parent.name == "allowed" else "disallowed"
    if rule in INVERTED:
        expected = "allowed"
    first = re.compile(re.escape(str(path.relative_to(FIXTURES))) + r"#0 ")
    report = evaluate(loaded.resources, Enforcement.for_environment("prod"), source="manifests", pools_known=False)
    hits = tuple(v.message for v in report.violations
                 if first.match(v.resource) and _matches(v.rule_id, v.message, matches))
    return Judged(rule, str(path.relative_to(FIXTURES)), expected, "disallowed" if hits else "allowed", hits,
                  tuple(dict.fromkeys(p for p, _ in matches)))


def judge_all() -> tuple[list[Judged], dict[str, str]]:
    """(every shared fixture judged, {rule: why not shared})."""
    judged, skipped = [], {}
    for rule_dir in sorted(p for p in FIXTURES.glob("*/*") if p.is_dir()):
        rule = f"{rule_dir.parent.name}/{rule_dir.name}"
        mapping = SHARED.get(rule, "not mapped")
        if isinstance(mapping, str):
            skipped[rule] = mapping
            continue
        for f in sorted(rule_dir.glob("*lowed/*")):
            if f.suffix in (".yaml", ".yml", ".json"):
                judged.append(judge_file(f, rule, mapping))
    return judged, skipped


def per_control(judged: list[Judged]) -> dict[str, tuple[int, int]]:
    """{<policy>/<control>: (fixtures agreeing, fixtures judged)} for the upstream rules mapped to a control of
    ours (a fixture mapped to two controls counts for both)."""
    out: dict[str, list[int]] = {}
    for j in judged:
        for rule_id in j.controls:
            if "/" in rule_id:
                agree_total = out.setdefault(rule_id, [0, 0])
                agree_total[0] += j.agrees
                agree_total[1] += 1
    return {k: (a, t) for k, (a, t) in sorted(out.items())}
