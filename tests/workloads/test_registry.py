"""Workloads as plugins (issue 12/16): the program, the `pipeworks:workloads` model and the loader's cross-section
rules iterate one registry (`workloads/catalog.py`); a workload is its package plus one registry line.

The registry check is proven both ways: the shipped registry registers fraud once and the dev plan declares it;
a fake second workload registered in this test (and only here) gets its config section, its rules against the
platform and its deployment with the platform's handles and context, without any change to program.py."""

from __future__ import annotations

import ast
import importlib
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import pulumi
import pulumi_kubernetes as k8s
import pytest
from pydantic import Field

from infra.config import ConfigModel, StackConfigError, load_stack_config
from infra.platform import Platform
from infra.workloads import kit
from infra.workloads.plugin import Registry, Workload
from pipeworks.plan import REPO_ROOT, run_program
from pipeworks.stackfile import read_stack_file
from tests.infra.planned import planned
from workloads import catalog
from workloads.fraud.config import FraudConfig
from workloads.fraud.deploy import WORKLOAD as FRAUD


# --- a fake second workload ------------------------------------------------------------------------------

class EchoConfig(ConfigModel):
    enabled: bool = Field(False, description="Deploy the echo workload.")
    namespace: str = Field("echo", description="Its namespace.")


def echo_rules(cfg: EchoConfig, platform: Any) -> list[str]:
    if cfg.enabled and not platform.storage.enabled:
        return ["pipeworks:workloads.echo.enabled=true needs pipeworks:platform.storage.enabled (its bucket)"]
    return []


class Echo(pulumi.ComponentResource):
    def __init__(self, name: str, cfg: EchoConfig, platform: Platform):
        super().__init__("pipeworks:workloads:Echo", name, None, None)
        ctx = platform.context
        assert platform.storage is not None
        opts = pulumi.ResourceOptions(parent=self, provider=ctx.provider)
        k8s.core.v1.Namespace(f"{name}-ns", metadata={"name": cfg.namespace, "labels": kit.namespace_labels("echo")},
                              opts=opts)
        k8s.networking.v1.NetworkPolicy(f"{name}-egress", metadata={"name": "echo-egress", "namespace": cfg.namespace},
                                        spec={"podSelector": {}, "policyTypes": ["Egress"],
                                              "egress": [kit.dns_egress(), platform.storage.object_store_egress()]},
                                        opts=opts)
        self.register_outputs({"acrossZones": ctx.across_zones})


ECHO = Workload(key="echo", model=EchoConfig, description="A test workload.", deploy=Echo, platform_rules=echo_rules)


@pytest.fixture
def program_with_echo(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """program.py re-imported with the fake workload's line added to the catalog; restored afterwards."""
    import program

    monkeypatch.setattr(catalog, "REGISTRY", Registry(*catalog.REGISTRY.workloads, ECHO))
    try:
        yield importlib.reload(program)
    finally:
        monkeypatch.undo()
        importlib.reload(program)


def dev_values(**echo: Any) -> tuple[dict[str, Any], set[str]]:
    sf = read_stack_file(REPO_ROOT, "dev")
    values = dict(sf.values)
    if echo:
        values["pipeworks:workloads"] = {**values.get("pipeworks:workloads", {}), "echo": echo}
    return values, set(sf.secret_keys)


# --- the shipped registry --------------------------------------------------------------------------------

def test_the_catalog_registers_fraud_once_and_the_plan_declares_it() -> None:
    import program

    assert catalog.REGISTRY.keys.count("fraud") == 1
    assert set(program.WORKLOADS_MODEL.model_fields) == set(catalog.REGISTRY.keys)
    assert program.WORKLOADS_MODEL.model_fields["fraud"].annotation is FraudConfig
    components = [r for r in planned("dev") if r["type"] == "pipeworks:workloads:FraudDetection"]
    assert [c["name"] for c in components] == ["fraud"]


def test_program_and_infra_name_no_workload() -> None:
    """Adding a workload touches its package and the catalog line only: program.py imports the catalog, not a
    workload, and infra/ imports nothing of workloads/."""
    def imports(path: Path) -> set[str]:
        out: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                out |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                out.add(node.module)
        return out

    assert {m for m in imports(REPO_ROOT / "program.py") if m.startswith("workloads")} == {"workloads.catalog"}
    assert "fraud" not in (REPO_ROOT / "program.py").read_text()
    bad = {str(p.relative_to(REPO_ROOT)): sorted(m for m in imports(p) if m.split(".")[0] == "workloads")
           for p in (REPO_ROOT / "infra").rglob("*.py")}
    assert {k: v for k, v in bad.items() if v} == {}


# --- the registry's own rules ----------------------------------------------------------------------------

def test_a_key_registered_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="'fraud' is registered twice"):
        Registry(FRAUD, FRAUD)


@pytest.mark.parametrize("key", ["Echo", "echo-app", "2echo", ""])
def test_a_key_that_is_not_a_stack_file_word_is_refused(key: str) -> None:
    with pytest.raises(ValueError, match="lowercase letters and digits"):
        Registry(Workload(key=key, model=EchoConfig, description="", deploy=Echo))


def test_a_model_without_enabled_is_refused() -> None:
    class NoSwitch(ConfigModel):
        namespace: str = "x"

    with pytest.raises(ValueError, match="NoSwitch has no `enabled` field"):
        Registry(Workload(key="noswitch", model=NoSwitch, description="", deploy=Echo))


def test_an_unregistered_section_is_an_error_naming_the_key() -> None:
    import program

    values, secrets = dev_values(enabled=True)
    with pytest.raises(StackConfigError, match=r"pipeworks:workloads\.echo"):
        load_stack_config(values, secrets, stack="dev", workloads_model=program.WORKLOADS_MODEL,
                          workload_rules=program.workload_rules)


# --- a second workload, registered only here -------------------------------------------------------------

def test_a_registered_workload_gets_its_section_and_rules(program_with_echo: Any) -> None:
    values, secrets = dev_values(enabled=True)
    cfg = load_stack_config(values, secrets, stack="dev", workloads_model=program_with_echo.WORKLOADS_MODEL,
                            workload_rules=program_with_echo.workload_rules)
    assert cfg.workloads.echo == EchoConfig(enabled=True)  # type: ignore[union-attr]
    assert cfg.workloads.fraud.enabled  # type: ignore[union-attr]
    # its rule against the platform section is reported by the loader with the stack's other problems
    values["pipeworks:platform"] = {**values["pipeworks:platform"], "storage": {"enabled": False}}
    with pytest.raises(StackConfigError) as info:
        load_stack_config(values, secrets, stack="dev", workloads_model=program_with_echo.WORKLOADS_MODEL,
                          workload_rules=program_with_echo.workload_rules)
    text = str(info.value)
    assert "pipeworks:workloads.echo.enabled=true needs pipeworks:platform.storage.enabled" in text
    assert "pipeworks:workloads.fraud.enabled=true needs pipeworks:platform.storage.enabled" in text


def test_a_registered_workload_is_deployed_with_the_platform_handles(program_with_echo: Any) -> None:
    values, _ = dev_values(enabled=True)
    regs = run_program("dev", replace(read_stack_file(REPO_ROOT, "dev"), values=values))
    by_type: dict[str, list[Any]] = {}
    for r in regs:
        by_type.setdefault(r.type, []).append(r)
    assert [r.name for r in by_type["pipeworks:workloads:Echo"]] == ["echo"]
    assert [r.name for r in by_type["pipeworks:workloads:FraudDetection"]] == ["fraud"]
    ns = next(r for r in regs if r.name == "echo-ns")
    fraud_ns = next(r for r in regs if r.name == "fraud-ns")
    assert ns.provider and ns.provider == fraud_ns.provider  # the platform's explicit provider, from the context
    assert ns.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    pol = next(r for r in regs if r.name == "echo-egress")
    rgw = pol.inputs["spec"]["egress"][1]
    # the storage handle's own rule: Rook's RGW pods of the stack's object store on their pod port
    assert rgw["to"][0]["podSelector"]["matchLabels"]["app"] == "rook-ceph-rgw"
    assert rgw["ports"] == [{"protocol": "TCP", "port": 8080}]


def test_a_disabled_workload_declares_nothing(program_with_echo: Any) -> None:
    regs = run_program("dev", read_stack_file(REPO_ROOT, "dev"))
    assert not [r for r in regs if r.type == "pipeworks:workloads:Echo"]
