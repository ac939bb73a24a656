"""Pulumi mocks that stand in for the engine and the cloud: every registration is recorded with its
parent, provider and dependencies, and outputs are filled in the shape the real providers return,
so the program's own `apply`s run as they would in `pulumi up`."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pm

ACCOUNT = "123456789012"


def _fake_id(name: str) -> str:
    return f"{name}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def mock_outputs(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Outputs a provider would add on creation, by resource type."""
    state = dict(inputs)
    region = "us-east-1"
    arn_name = inputs.get("name") or name
    if typ == "aws:eks/cluster:Cluster":
        cname = inputs.get("name", name)
        state.update(
            arn=f"arn:aws:eks:{region}:{ACCOUNT}:cluster/{cname}",
            endpoint=f"https://{_fake_id(cname).upper()}.gr7.{region}.eks.amazonaws.com",
            certificateAuthority={"data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1PQ0sKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="},
            identities=[{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{_fake_id(cname).upper()}"}]}],
            vpcConfig={**inputs.get("vpcConfig", {}), "clusterSecurityGroupId": f"sg-{_fake_id(cname)}"},
        )
    elif typ == "aws:iam/role:Role":
        state.update(arn=f"arn:aws:iam::{ACCOUNT}:role/{name}", name=name)
    elif typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
        state.update(arn=f"arn:aws:iam::{ACCOUNT}:oidc-provider/{str(inputs.get('url', '')).removeprefix('https://')}")
    elif typ == "aws:kms/key:Key":
        state.update(arn=f"arn:aws:kms:{region}:{ACCOUNT}:key/{_fake_id(name)}", keyId=_fake_id(name))
    elif typ == "aws:ec2/launchTemplate:LaunchTemplate":
        state.update(latestVersion=1, arn=f"arn:aws:ec2:{region}:{ACCOUNT}:launch-template/{_fake_id(name)}")
    elif typ == "aws:eks/nodeGroup:NodeGroup":
        state.update(arn=f"arn:aws:eks:{region}:{ACCOUNT}:nodegroup/{name}",
                     resources=[{"autoscalingGroups": [{"name": f"eks-{inputs.get('nodeGroupName', name)}"}]}])
    elif typ == "random:index/randomPassword:RandomPassword":
        # Deterministic stand-in of the requested length; the provider marks `result` secret.
        state.update(result=hashlib.sha256(name.encode()).hexdigest()[: int(inputs.get("length", 32))])
    elif typ.startswith("aws:") and "arn" not in state:
        state["arn"] = f"arn:aws:{typ.split(':')[1].split('/')[0]}:{region}:{ACCOUNT}:{arn_name}"
    return state


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    provider: str
    dependencies: list[str]
    inputs: dict[str, Any]


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        state = mock_outputs(args.typ, args.name, dict(args.inputs))
        if args.typ.startswith("pulumi:providers:"):
            return f"{args.name}-id", {}
        return _fake_id(args.name), state

    def call(self, args: pulumi.runtime.MockCallArgs):
        self.calls.append((args.token, dict(args.args)))
        return {}, None


class CapturingMonitor(pm.MockMonitor):
    """MockResourceArgs lacks parent, dependencies and (for components) inputs: capture them from the
    raw RegisterResource request, in registration order."""

    def __init__(self, mocks: RecordingMocks):
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        resp = super().RegisterResource(request)
        inputs = pulumi.runtime.rpc.deserialize_properties(request.object, keep_unknowns=True) \
            if request.object else {}
        self.registrations.append(Registration(
            urn=resp.urn, type=request.type, name=request.name, custom=request.custom, parent=request.parent,
            provider=request.provider, dependencies=list(request.dependencies), inputs=dict(inputs)))
        return resp


def install(project: str, stack: str, config: dict[str, Any], secret_keys: list[str]) -> CapturingMonitor:
    """Point the Pulumi runtime at fresh mocks with the stack's config (objects passed as JSON)."""
    mocks = RecordingMocks()
    monitor = CapturingMonitor(mocks)
    pulumi.runtime.set_all_config(
        {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in config.items()}, list(secret_keys))
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    return monitor


@dataclass
class Captured:
    registrations: list[Registration] = field(default_factory=list)
    exports: dict[str, Any] = field(default_factory=dict)
