"""Enforcement and exemptions (engine), manifest loading, and `pipeworks check` on plans and
manifests: formats, resource labels, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipeworks.check import main as check_main
from pipeworks.check import main_policy_config, policy_pack_config
from policies.engine import Enforcement, EnforcementError, evaluate
from policies.manifests import ManifestError, load_paths
from tests.policies.builders import container, pod, pools_configmap, workload

EXEMPT = "policy.pipeworks.io/exempt.container-probes"


def no_probes(annotations: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    r = workload("Deployment", "api", pod(container(probes=False)), replicas=1.0)
    if annotations:
        r.props["metadata"]["annotations"] = annotations
    return r


def probe_violations(r, **kw):  # type: ignore[no-untyped-def]
    rep = evaluate([r], Enforcement.for_environment(kw.pop("env", "dev"), **kw))
    return [v for v in rep.violations if v.policy == "container-probes"], rep


def test_levels_follow_the_environment_and_overrides() -> None:
    (v,), _ = probe_violations(no_probes(), env="dev")
    assert v.level == "advisory" and v.concern == "probes"
    (v,), _ = probe_violations(no_probes(), env="prod")
    assert v.level == "mandatory"
    (v,), _ = probe_violations(no_probes(), env="prod", overrides={"container-probes": "advisory"})
    assert v.level == "advisory"
    vs, _ = probe_violations(no_probes(), env="prod", overrides={"container-probes": "disabled"})
    assert vs == []


def test_exemption_with_reason_lifts_the_violation_in_dev() -> None:
    vs, rep = probe_violations(no_probes({EXEMPT: "batch-like worker, no HTTP port"}), env="dev")
    assert vs == [] and rep.exemptions[0].reason == "batch-like worker, no HTTP port"


def test_prod_refuses_exemptions() -> None:
    (v,), rep = probe_violations(no_probes({EXEMPT: "because"}), env="prod")
    assert "exemption refused" in v.message and rep.exemptions == []
    vs, _ = probe_violations(no_probes({EXEMPT: "because"}), env="prod", allow_exemptions=True)
    assert vs == []


def test_empty_exemption_reason_is_a_violation_itself() -> None:
    (v,), _ = probe_violations(no_probes({EXEMPT: "  "}), env="dev")
    assert "empty reason" in v.message
    compliant = workload("Deployment", "ok", replicas=1.0)
    compliant.props["metadata"]["annotations"] = {EXEMPT: ""}
    rep = evaluate([compliant], Enforcement.for_environment("dev"))
    assert [v.policy for v in rep.violations] == ["container-probes"]
    assert "empty reason" in rep.violations[0].message


def test_exemption_for_an_unknown_policy_is_noted() -> None:
    r = workload("Deployment", "ok", replicas=1.0)
    r.props["metadata"]["annotations"] = {"policy.pipeworks.io/exempt.no-such-policy": "x"}
    rep = evaluate([r], Enforcement.for_environment("dev"))
    assert any("no-such-policy" in n for n in rep.notes)


def test_stack_json_policy_section() -> None:
    e = Enforcement.from_stack_json({"environment": "prod", "policy": {"enforcement": None, "overrides": {
        "image-tag": "advisory"}, "allowExemptions": None}})
    assert (e.default, e.allow_exemptions, e.level("image-tag"), e.level("gpu-placement")) == (
        "mandatory", False, "advisory", "mandatory")
    with pytest.raises(EnforcementError, match="policy.overrides.image-tags names no policy"):
        Enforcement.from_stack_json({"environment": "dev", "policy": {"overrides": {"image-tags": "advisory"}}})
    off = Enforcement.from_stack_json({"environment": "dev", "policy": {"enforcement": "disabled",
                                                                        "overrides": {"image-tag": "advisory"}}})
    assert off.level("gpu-placement") == "disabled" and off.level("image-tag") == "advisory"
    with pytest.raises(EnforcementError, match="policy.enforcement='strict'"):
        Enforcement.from_stack_json({"environment": "dev", "policy": {"enforcement": "strict"}})
    with pytest.raises(EnforcementError, match="environment='staging'"):
        Enforcement.from_stack_json({"environment": "staging"})


# --- manifests ----------------------------------------------------------------------------------

MULTI = """# a comment before the first document
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - {name: web, image: nginx}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: cfg}
  data: {db_password: abc123}
---
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: ml}
spec:
  schedule: "@daily"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: r
            image: busybox:latest
"""


def test_manifests_are_indexed_like_a_yaml_parser(tmp_path: Path) -> None:
    f = tmp_path / "m.yaml"
    f.write_text(MULTI)
    loaded = load_paths([tmp_path])
    assert [(r.urn.split("#")[1], r.line) for r in loaded.resources] == [
        ("0 Pod/web", 2), ("1 ConfigMap/cfg", 9), ("3 CronJob/report", 18)]
    assert loaded.resources[2].type == "kubernetes:batch/v1:CronJob"


def test_unusable_manifests(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("a: [1, 2\n")
    with pytest.raises(ManifestError, match="bad.yaml: document 0 .* not valid YAML"):
        load_paths([tmp_path / "bad.yaml"])
    with pytest.raises(ManifestError, match="no such file"):
        load_paths([tmp_path / "missing.yaml"])


def test_check_manifests_json_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "m.yaml"
    f.write_text(MULTI)
    assert check_main(["--manifests", str(f), "--format", "json"]) == 1  # prod by default: mandatory
    out = json.loads(capsys.readouterr().out)
    assert all(set(v) - {"control"} == {"policy", "concern", "level", "resource", "message"} for v in out)
    # a Pod Security finding names its control, which is also its concern
    pss = [v for v in out if v["policy"].startswith("pod-security-")]
    assert pss and all(v["control"] == v["concern"] for v in pss)
    by_policy = {(v["policy"], v["resource"]) for v in out}
    assert ("image-tag", f"{f}#0 Pod/web") in by_policy
    assert ("image-tag", f"{f}#3 CronJob/report") in by_policy
    assert ("no-literal-credentials", f"{f}#1 ConfigMap/cfg") in by_policy
    assert all(v["level"] == "mandatory" for v in out)
    assert "abc123" not in json.dumps(out)
    assert check_main(["--manifests", str(f), "--environment", "dev", "--format", "json"]) == 0
    assert check_main(["--manifests", str(tmp_path / "nope.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_check_manifests_text_says_pools_were_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "m.yaml"
    f.write_text(MULTI)
    check_main(["--manifests", str(f)])
    out = capsys.readouterr().out
    assert out.count("no node pools given") == 1 and "MANDATORY" in out


def test_check_manifests_with_pools(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = workload("Deployment", "big", pod(container(cpu="64")), replicas=1.0)
    (tmp_path / "d.yaml").write_text(yaml.safe_dump(d.props))
    (tmp_path / "pools.json").write_text(pools_configmap().props["data"]["pools.json"])
    check_main(["--manifests", str(tmp_path / "d.yaml"), "--pools", str(tmp_path / "pools.json"), "--format", "json"])
    assert any(v["policy"] == "pod-schedulable" for v in json.loads(capsys.readouterr().out))
    (tmp_path / "bad-pools.json").write_text('[{"name": "x", "role": "huge"}]')
    assert check_main(["--manifests", str(tmp_path / "d.yaml"), "--pools", str(tmp_path / "bad-pools.json")]) == 2
    assert "role='huge'" in capsys.readouterr().err


def test_sarif_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "m.yaml"
    f.write_text(MULTI)
    out_file = tmp_path / "out.sarif"
    assert check_main(["--manifests", str(f), "--format", "sarif", "--output", str(out_file)]) == 1
    sarif = json.loads(out_file.read_text())
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    for res in run["results"]:
        assert rule_ids[res["ruleIndex"]] == res["ruleId"]
        assert res["level"] == "error"
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"].endswith("m.yaml") and loc["region"]["startLine"] >= 1
    cron = next(r for r in run["results"] if "CronJob/report" in r["locations"][0]["logicalLocations"][0]
                ["fullyQualifiedName"])
    assert cron["locations"][0]["physicalLocation"]["region"]["startLine"] == 18


def plan_dir(tmp_path: Path, resources, stack: dict | None = None) -> Path:  # type: ignore[no-untyped-def]
    d = tmp_path / "plan" / "dev"
    d.mkdir(parents=True)
    (d / "resources.json").write_text(json.dumps([
        {"urn": r.urn, "type": r.type, "name": r.name, "parent": None, "provider": None, "dependencies": [],
         "custom": True, "inputs": r.props} for r in resources]))
    if stack is not None:
        (d / "stack.json").write_text(json.dumps(stack))
    return d


def test_check_plan_dir_uses_stack_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rs = [pools_configmap(), workload("Deployment", "api", pod(container(probes=False)), replicas=1.0)]
    stack = {"stack": "dev", "environment": "dev", "stackFile": "Pulumi.nonexistent.yaml", "secretsProvider": None,
             "policy": {"enforcement": "advisory", "overrides": {"container-probes": "mandatory"},
                        "allowExemptions": True}}
    d = plan_dir(tmp_path, rs, stack)
    assert check_main([str(d), "--format", "json"]) == 1
    (v,) = json.loads(capsys.readouterr().out)
    assert (v["policy"], v["level"], v["resource"]) == ("container-probes", "mandatory", rs[1].urn)
    stack["policy"]["overrides"] = {}
    (d / "stack.json").write_text(json.dumps(stack))
    assert check_main([str(d)]) == 0
    assert "stack file Pulumi.nonexistent.yaml not found" in capsys.readouterr().out


def test_check_plan_dir_lints_the_secrets_provider(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack = {"stack": "prod", "environment": "prod", "stackFile": "Pulumi.nonexistent.yaml",
             "secretsProvider": "passphrase", "policy": {}}
    d = plan_dir(tmp_path, [pools_configmap()], stack)
    assert check_main([str(d), "--format", "json"]) == 1
    (v,) = json.loads(capsys.readouterr().out)
    assert v["policy"] == "stack-file-secrets" and "KMS" in v["message"]


def test_unusable_plan_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = plan_dir(tmp_path, [], {"environment": "qa"})
    assert check_main([str(d)]) == 2
    assert "environment='qa'" in capsys.readouterr().err
    (d / "resources.json").write_text("{not json")
    assert check_main([str(d)]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert check_main([str(empty)]) == 2
    assert "not a plan directory" in capsys.readouterr().err
    assert check_main([]) == 2


def test_policy_pack_config_shape(tmp_path: Path) -> None:
    prod = policy_pack_config(Enforcement.for_environment("prod", overrides={"image-tag": "advisory"}))
    assert prod["all"] == "mandatory"
    assert prod["image-tag"] == {"enforcementLevel": "advisory", "environment": "prod", "allowExemptions": False}
    assert prod["gpu-placement"]["enforcementLevel"] == "mandatory"
    assert "stack-file-secrets" not in prod  # offline-only rules are in no pack
    d = plan_dir(tmp_path, [], {"stack": "dev", "environment": "dev", "policy": {}})
    out = tmp_path / "dev.json"
    assert main_policy_config([str(d), "--output", str(out)]) == 0
    assert json.loads(out.read_text())["all"] == "advisory"


def test_committed_policy_configs_match_the_generator() -> None:
    """What `pulumi preview --policy-pack-config policies/config/<stack>.json` enforces is what the stack file
    declares (its environment's levels and its `pipeworks:policy` overrides, as in its plan's stack.json)."""
    from tests.infra.planned import plan_dir

    root = Path(__file__).resolve().parents[2] / "policies" / "config"
    for env in ("dev", "prod"):
        committed = json.loads((root / f"{env}.json").read_text())
        stack = json.loads((plan_dir(env) / "stack.json").read_text())
        assert committed == policy_pack_config(Enforcement.from_stack_json(stack)), (
            f"policies/config/{env}.json is stale: regenerate with `pipeworks policy-config {env}`")
