"""The dev and prod plans, made once per session by the real `pipeworks plan` code, plus the resource
options (protect, retainOnDelete) the engine would receive, which resources.json does not record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import pipeworks.plan as plan
import pulumi

from pipeworks.mocks import CapturingMonitor, RecordingMocks

# The upstream CRD schemas, as the in-repo structural copy of ../shared/crds (scripts/crd_schemas.py).
CRDS = Path(__file__).resolve().parents[2] / "schemas" / "crds"


class OptionsMonitor(CapturingMonitor):
    """Also records the resource options that keep data safe, by URN."""

    def __init__(self, mocks: RecordingMocks):
        super().__init__(mocks)
        self.options: dict[str, dict[str, bool]] = {}

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        resp = super().RegisterResource(request)
        self.options[resp.urn] = {"protect": bool(request.protect),
                                  "retainOnDelete": bool(getattr(request, "retainOnDelete", False))}
        return resp


@pytest.fixture(scope="session")
def storage_plans(tmp_path_factory) -> dict[str, dict[str, Any]]:
    """{stack: {"resources": [...], "options": {urn: {...}}}} for dev and prod."""
    out = tmp_path_factory.mktemp("storage-plans")
    result: dict[str, dict[str, Any]] = {}
    monitors: list[OptionsMonitor] = []

    def recording_install(project, stack, config, secret_keys):
        # pipeworks.mocks.install with the options-recording monitor
        monitor = OptionsMonitor(RecordingMocks())
        pulumi.runtime.set_all_config(
            {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in config.items()}, list(secret_keys))
        pulumi.runtime.set_mocks(monitor.mocks, project=project, stack=stack, preview=False, monitor=monitor)
        monitors.append(monitor)
        return monitor

    mp = pytest.MonkeyPatch()
    mp.setattr(plan, "install", recording_install)
    try:
        for stack in ("dev", "prod"):
            target = plan.plan_stack(stack, out)
            result[stack] = {"resources": json.loads((target / "resources.json").read_text()),
                             "options": monitors[-1].options}
    finally:
        mp.undo()
    return result


@pytest.fixture(scope="session")
def crds() -> Path:
    return CRDS
