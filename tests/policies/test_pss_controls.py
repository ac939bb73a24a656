"""One finding per Pod Security Standards control: each PSS finding names the control it breaks (its concern,
its SARIF rule id `<policy>/<control>`), and an exemption can lift one control of a policy
(`policy.pipeworks.io/exempt.<policy>.<control>`) while the other controls stay judged."""

from __future__ import annotations

import pytest

from pipeworks.sarif import to_sarif
from policies.engine import Enforcement, evaluate
from policies.rules import BY_NAME
from policies.rules.model import CONCERNS
from policies.rules.security import BASELINE_CONTROLS, PSS_BASELINE, PSS_RESTRICTED, RESTRICTED_CONTROLS
from tests.policies.builders import container, findings, pod, workload


def _insecure():
    """A Deployment that breaks every restricted control once (and nothing of baseline)."""
    c = container(secure=False, securityContext={"runAsUser": 0, "capabilities": {"add": ["NET_RAW"]}})
    return workload("Deployment", "api", pod(c, volumes=[{"name": "nfs", "nfs": {"server": "n", "path": "/"}}]))


def test_restricted_reports_each_control_once_as_concern_and_rule_id():
    got = {(f.control, f.concern, f.rule_id) for f in findings(PSS_RESTRICTED, [_insecure()])}
    controls = {c for c, _, _ in got}
    assert controls == {"volume-types", "privilege-escalation", "run-as-non-root", "run-as-user", "capabilities",
                        "seccomp"} == set(RESTRICTED_CONTROLS)
    assert all(concern == control and rule_id == f"{PSS_RESTRICTED}/{control}" for control, concern, rule_id in got)


@pytest.mark.parametrize("spec,control", [
    ({"hostNetwork": True}, "host-namespaces"),
    ({"containers": [container(ports=[{"containerPort": 80, "hostPort": 80}])]}, "host-ports"),
    ({"volumes": [{"name": "h", "hostPath": {"path": "/"}}]}, "host-path"),
    ({"securityContext": {"seccompProfile": {"type": "Unconfined"}}}, "seccomp"),
    ({"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}}, "sysctls"),
    ({"securityContext": {"seLinuxOptions": {"type": "spc_t"}}}, "selinux"),
    ({"securityContext": {"appArmorProfile": {"type": "Unconfined"}}}, "apparmor"),
    ({"securityContext": {"windowsOptions": {"hostProcess": True}}}, "host-process"),
    ({"containers": [container(securityContext={"privileged": True})]}, "privileged"),
    ({"containers": [container(securityContext={"procMount": "Unmasked"})]}, "proc-mount"),
    ({"containers": [container(securityContext={"capabilities": {"add": ["SYS_ADMIN"]}})]}, "capabilities"),
])
def test_baseline_reports_the_control_it_breaks(spec, control):
    d = workload("Deployment", "api", {"containers": [container()], **spec})
    got = {f.control for f in findings(PSS_BASELINE, [d])}
    assert got == {control} and control in BASELINE_CONTROLS


def test_the_control_vocabulary_is_known_everywhere():
    assert set(BY_NAME[PSS_BASELINE].controls) == set(BASELINE_CONTROLS)
    assert set(BY_NAME[PSS_RESTRICTED].controls) == set(RESTRICTED_CONTROLS)
    assert set(BASELINE_CONTROLS) | set(RESTRICTED_CONTROLS) <= set(CONCERNS)


def _annotate(r, **marks):
    meta = dict(r.metadata)
    meta["annotations"] = {f"policy.pipeworks.io/exempt.{k}": v for k, v in marks.items()}
    return type(r)(r.urn, r.type, r.name, {**r.props, "metadata": meta})


def test_an_exemption_lifts_one_control_and_leaves_the_others():
    r = _annotate(_insecure(), **{f"{PSS_RESTRICTED}.run-as-user": "the image needs uid 0 to bind a raw socket"})
    report = evaluate([r], Enforcement.for_environment("dev"), pools_known=False)
    controls = {v.control for v in report.violations if v.policy == PSS_RESTRICTED}
    assert "run-as-user" not in controls and "seccomp" in controls and "privilege-escalation" in controls
    assert [(e.policy, e.control) for e in report.exemptions] == [(PSS_RESTRICTED, "run-as-user")]


def test_a_whole_policy_exemption_still_lifts_every_control():
    r = _annotate(_insecure(), **{PSS_RESTRICTED: "legacy image, tracked in TICKET-1"})
    report = evaluate([r], Enforcement.for_environment("dev"), pools_known=False)
    assert not [v for v in report.violations if v.policy == PSS_RESTRICTED]


def test_per_control_exemptions_are_refused_in_prod_and_need_a_reason():
    r = _annotate(_insecure(), **{f"{PSS_RESTRICTED}.seccomp": "why not"})
    report = evaluate([r], Enforcement.for_environment("prod"), pools_known=False)
    (v,) = [v for v in report.violations if v.control == "seccomp"]
    assert "exemption refused" in v.message
    empty = _annotate(_insecure(), **{f"{PSS_RESTRICTED}.seccomp": " "})
    report = evaluate([empty], Enforcement.for_environment("dev"), pools_known=False)
    (v,) = [v for v in report.violations if v.control == "seccomp"]
    assert f"exempt.{PSS_RESTRICTED}.seccomp has an empty reason" in v.message


def test_an_unknown_control_is_named_with_the_valid_ones():
    r = _annotate(_insecure(), **{f"{PSS_RESTRICTED}.run-as-root": "typo"})
    report = evaluate([r], Enforcement.for_environment("dev"), pools_known=False)
    (note,) = [n for n in report.notes if "run-as-root" in n]
    assert "names no policy" in note and "run-as-non-root" in note
    assert {v.control for v in report.violations if v.policy == PSS_RESTRICTED} == set(RESTRICTED_CONTROLS)


def test_sarif_results_carry_the_control_rule_id_and_each_has_a_rule():
    report = evaluate([_insecure()], Enforcement.for_environment("dev"), pools_known=False)
    sarif = to_sarif(report, lambda resource, message: ("m.yaml", 1))
    run = sarif["runs"][0]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    pss = [res for res in run["results"] if res["ruleId"].startswith(PSS_RESTRICTED)]
    assert {res["ruleId"] for res in pss} == {f"{PSS_RESTRICTED}/{c}" for c in RESTRICTED_CONTROLS}
    for res in run["results"]:
        assert rule_ids[res["ruleIndex"]] == res["ruleId"]


def test_check_text_names_the_exempted_control(tmp_path, capsys):
    from pipeworks.check import main as check_main

    f = tmp_path / "m.yaml"
    f.write_text("""apiVersion: v1
kind: Pod
metadata:
  name: api
  namespace: ml
  annotations:
    policy.pipeworks.io/exempt.pod-security-restricted.seccomp: "JIT needs it, OPS-12"
spec:
  containers:
  - name: app
    image: registry.example/app:1.0
""")
    check_main(["--manifests", str(f), "--environment", "dev"])
    out = capsys.readouterr().out
    assert "exempt    pod-security-restricted.seccomp" in out and "[seccomp]" not in out
    assert "[run-as-non-root]" in out
