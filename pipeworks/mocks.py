"""Pulumi mocks that stand in for the engine and the cloud: every registration is recorded with its
parent, provider and dependencies, and outputs are filled in the shape the real providers return,
so the program's own `apply`s run as they would in `pulumi up`."""

from __future__ import annotations

import hashlib
import json
import sys
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pm

ACCOUNT = "123456789012"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Frames here are never a resource's declaration: the offline tooling, the virtualenv, the tests.
_NOT_DECLARATIONS = tuple(str(PROJECT_ROOT / d) + "/" for d in ("pipeworks", ".venv", "tests"))


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
        # Cassandra's workload roles (the one user of pulumi-random left): a deterministic stand-in of the
        # requested length; the provider marks `result` secret.
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
    source: dict[str, Any] | None = None  # {"file": repository-relative path, "line": n}: where it was declared


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
        # (type, name) -> declaration sites in constructor order; registrations consume them.
        self.sites: dict[tuple[str, str], deque[dict[str, Any] | None]] = defaultdict(deque)

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        resp = super().RegisterResource(request)
        inputs = pulumi.runtime.rpc.deserialize_properties(request.object, keep_unknowns=True) \
            if request.object else {}
        pending = self.sites.get((request.type, request.name))
        self.registrations.append(Registration(
            urn=resp.urn, type=request.type, name=request.name, custom=request.custom, parent=request.parent,
            provider=request.provider, dependencies=list(request.dependencies), inputs=dict(inputs),
            source=pending.popleft() if pending else None))
        return resp


def declaration_site(resource: Any, frame: Any) -> dict[str, Any] | None:
    """The project's own line that declared `resource`: the innermost frame in the repository outside
    the tooling, the virtualenv and the tests, skipping the resource's own constructors (a component's
    `super().__init__` is not where the component was declared; the line that constructed it is).

    The real engine gets a source position with each registration too (the SDK's `sourcePosition`);
    this reproduces it offline from the call stack at construction, where the SDK is synchronous."""
    while frame is not None:
        fn = frame.f_code.co_filename
        if fn.startswith(str(PROJECT_ROOT) + "/") and not fn.startswith(_NOT_DECLARATIONS) \
                and frame.f_locals.get("self") is not resource:
            return {"file": str(Path(fn).relative_to(PROJECT_ROOT)), "line": frame.f_lineno}
        frame = frame.f_back
    return None


_ACTIVE: list[CapturingMonitor] = []  # the monitor of the current install(); the patched constructor feeds it


def _patch_resource_constructor() -> None:
    """Record each resource's declaration site as it is constructed (once per process)."""
    original = pulumi.Resource.__init__
    if getattr(original, "_pipeworks_sites", False):
        return

    def __init__(self, t, name, *args, **kwargs):  # noqa: N807 (wraps the SDK's constructor)
        if _ACTIVE:
            _ACTIVE[-1].sites[(t, name)].append(declaration_site(self, sys._getframe(1)))
        original(self, t, name, *args, **kwargs)

    __init__._pipeworks_sites = True  # type: ignore[attr-defined]
    pulumi.Resource.__init__ = __init__  # type: ignore[method-assign]


def install(project: str, stack: str, config: dict[str, Any], secret_keys: list[str]) -> CapturingMonitor:
    """Point the Pulumi runtime at fresh mocks with the stack's config (objects passed as JSON)."""
    mocks = RecordingMocks()
    monitor = CapturingMonitor(mocks)
    _patch_resource_constructor()
    _ACTIVE[:] = [monitor]
    pulumi.runtime.set_all_config(
        {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in config.items()}, list(secret_keys))
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    return monitor


@dataclass
class Captured:
    registrations: list[Registration] = field(default_factory=list)
    exports: dict[str, Any] = field(default_factory=dict)
