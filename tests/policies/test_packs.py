"""The CrossGuard packs: their policies called directly as the SDK calls them (proxied props,
unknown values, policy config), and each pack driven over the real Analyzer gRPC protocol in a
subprocess launched the way `pulumi preview --policy-pack` launches it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2 as apb
from pulumi.runtime.proto import analyzer_pb2_grpc as agrpc
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policies.packs import PACK_NAMES, pack_policies
from policies.rules import PACKS, RULES, rules_of_pack
from tests.policies.builders import GPU_TOL, container, pod, pools_configmap, workload

ROOT = Path(__file__).resolve().parents[2]
OPTS = PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None, aliases=[],
                             custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[])


def by_name(pack: str) -> dict[str, Any]:
    return {p.name: p for p in pack_policies(pack)}


def validate_resource(policy: Any, r: Any, config: dict[str, Any] | None = None) -> list[str]:
    got: list[str] = []
    args = ResourceValidationArgs(r.type, unknown_checking_proxy(json.loads(json.dumps(r.props))), r.urn, r.name,
                                  OPTS, None, config or {})
    policy.validate(args, lambda msg, urn=None: got.append(msg))
    return got


def test_every_pack_rule_is_a_policy_of_its_pack() -> None:
    for pack in PACKS:
        assert list(by_name(pack)) == [r.name for r in rules_of_pack(pack)]
    names = [p.name for pack in PACKS for p in pack_policies(pack)]
    assert len(names) == len(set(names))
    assert {r.pack for r in RULES} == set(PACKS) | {"offline"}


def test_pack_directories_are_complete() -> None:
    for pack in PACKS:
        d = ROOT / "policies" / pack
        meta = yaml.safe_load((d / "PulumiPolicy.yaml").read_text())
        assert meta["runtime"]["name"] == "python"
        assert (d / meta["runtime"]["options"]["virtualenv"]).resolve() == (ROOT / ".venv").resolve()
        assert "PolicyPack(" in (d / "__main__.py").read_text()
        assert not (d / "__init__.py").exists()  # never importable as a module that starts a server


def test_resource_policy_with_proxied_props_and_config() -> None:
    policy = by_name("secrets")["no-literal-credentials"]
    d = workload("Deployment", "api", pod(container(env=[{"name": "DB_PASSWORD", "value": "hunter2"}])))
    (msg,) = validate_resource(policy, d, {"environment": "prod"})
    assert "DB_PASSWORD" in msg
    d.props["metadata"]["annotations"] = {"policy.pipeworks.io/exempt.no-literal-credentials": "demo only"}
    assert validate_resource(policy, d, {"environment": "dev", "allowExemptions": True}) == []
    (msg,) = validate_resource(policy, d, {"environment": "prod", "allowExemptions": False})
    assert "exemption refused" in msg


def test_unknown_preview_values_are_not_judged() -> None:
    d = workload("Deployment", "api", pod(container(image=UNKNOWN_STRING_VALUE,
                                                    env=[{"name": "TOKEN", "value": UNKNOWN_STRING_VALUE}])))
    assert validate_resource(by_name("guardrails")["image-tag"], d) == []
    assert validate_resource(by_name("secrets")["no-literal-credentials"], d) == []


def test_stack_policy_reports_against_the_violating_resource() -> None:
    gpu = container("trainer")
    gpu["resources"]["limits"]["nvidia.com/gpu"] = "1"
    bad = workload("Deployment", "train", pod(gpu, nodeSelector={"pipeworks.io/role": "gpu"}))
    ok = workload("Deployment", "infer", pod(dict(gpu, name="i"), nodeSelector={"pipeworks.io/role": "gpu"},
                                            tolerations=[GPU_TOL]))
    resources = [PolicyResource(r.type, unknown_checking_proxy(json.loads(json.dumps(r.props))), r.urn, r.name, OPTS,
                                None, None, [], {}) for r in (pools_configmap(), bad, ok)]
    got: list[tuple[str, str | None]] = []
    by_name("placement")["gpu-placement"].validate(StackValidationArgs(resources, {"environment": "prod"}),
                                                   lambda msg, urn=None: got.append((msg, urn)))
    assert len(got) == 1 and got[0][1] == bad.urn and "does not tolerate" in got[0][0]


# --- over gRPC -------------------------------------------------------------------------------------

@pytest.fixture
def pack_stub(request: pytest.FixtureRequest) -> Iterator[agrpc.AnalyzerStub]:
    """The pack as the CLI runs it: `<venv>/bin/python -u -m pulumi.policy <engine> .` in its directory."""
    pack_dir = ROOT / "policies" / request.param
    proc = subprocess.Popen([sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", "."], cwd=pack_dir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.strip().isdigit(), f"pack did not start: {line!r} {proc.stderr.read() if proc.poll() else ''}"
        channel = grpc.insecure_channel(f"127.0.0.1:{int(line)}")
        grpc.channel_ready_future(channel).result(timeout=20)
        yield agrpc.AnalyzerStub(channel)
        channel.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def struct(d: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(json.loads(json.dumps(d)))
    return s


@pytest.mark.parametrize("pack_stub", ["placement"], indirect=True)
def test_placement_pack_over_grpc(pack_stub: agrpc.AnalyzerStub) -> None:
    info = pack_stub.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == PACK_NAMES["placement"]
    assert {p.name for p in info.policies} == {r.name for r in rules_of_pack("placement")}
    assert all(p.policy_type == apb.POLICY_TYPE_STACK for p in info.policies)
    gpu = container("trainer")
    gpu["resources"]["limits"]["nvidia.com/gpu"] = "1"
    bad = workload("Deployment", "train", pod(gpu, nodeSelector={"pipeworks.io/role": "gpu"}))
    resources = [apb.AnalyzerResource(type=r.type, name=r.name, urn=r.urn, properties=struct(r.props))
                 for r in (pools_configmap(), bad)]
    resp = pack_stub.AnalyzeStack(apb.AnalyzeStackRequest(resources=resources))
    (diag,) = [d for d in resp.diagnostics if d.policyName == "gpu-placement"]
    assert diag.urn == bad.urn and diag.enforcementLevel == apb.ADVISORY and "does not tolerate" in diag.message
    # the prod policy-pack config makes it mandatory, as `--policy-pack-config policies/config/prod.json` does
    prod = json.loads((ROOT / "policies" / "config" / "prod.json").read_text())
    config = {}
    for name, c in prod.items():
        if name == "all":
            continue
        props = struct({k: v for k, v in c.items() if k != "enforcementLevel"})
        config[name] = apb.PolicyConfig(enforcementLevel=apb.MANDATORY, properties=props)
    pack_stub.Configure(apb.ConfigureAnalyzerRequest(policyConfig=config))
    resp = pack_stub.AnalyzeStack(apb.AnalyzeStackRequest(resources=resources))
    (diag,) = [d for d in resp.diagnostics if d.policyName == "gpu-placement"]
    assert diag.enforcementLevel == apb.MANDATORY


@pytest.mark.parametrize("pack_stub", ["secrets"], indirect=True)
def test_secrets_pack_over_grpc(pack_stub: agrpc.AnalyzerStub) -> None:
    info = pack_stub.GetAnalyzerInfo(empty_pb2.Empty())
    assert all(p.policy_type == apb.POLICY_TYPE_RESOURCE for p in info.policies)
    d = workload("Deployment", "api", pod(container(env=[{"name": "DB_PASSWORD", "value": "hunter2"}])))
    resp = pack_stub.Analyze(apb.AnalyzeRequest(type=d.type, name=d.name, urn=d.urn, properties=struct(d.props),
                                                options=apb.AnalyzerResourceOptions()))
    (diag,) = resp.diagnostics
    assert diag.policyName == "no-literal-credentials" and "env DB_PASSWORD" in diag.message
    # a value the engine marked secret arrives unwrapped (pulumi-policy#241): still a literal to the rule
    secret_marked = json.loads(json.dumps(d.props))
    secret_marked["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = {
        "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "hunter2"}
    resp = pack_stub.Analyze(apb.AnalyzeRequest(type=d.type, name=d.name, urn=d.urn,
                                                properties=struct(secret_marked), options=apb.AnalyzerResourceOptions()))
    assert len(resp.diagnostics) == 1


@pytest.mark.parametrize("pack_stub", ["guardrails"], indirect=True)
def test_guardrails_pack_over_grpc(pack_stub: agrpc.AnalyzerStub) -> None:
    info = pack_stub.GetAnalyzerInfo(empty_pb2.Empty())
    assert {p.name for p in info.policies} == {r.name for r in rules_of_pack("guardrails")}
    d = workload("Deployment", "api", pod(container(image="nginx:latest")))
    resp = pack_stub.Analyze(apb.AnalyzeRequest(type=d.type, name=d.name, urn=d.urn, properties=struct(d.props),
                                                options=apb.AnalyzerResourceOptions()))
    assert [x.policyName for x in resp.diagnostics] == ["image-tag"]
