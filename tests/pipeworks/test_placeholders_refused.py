"""The shipped stacks' `<...>` values: the offline plan accepts them, the program under the real engine
(`pulumi preview/up`) stops before registering anything, naming every key to set."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest

import program
from infra.config import loader
from pipeworks.mocks import install
from pipeworks.plan import validate

REPO = Path(__file__).resolve().parents[2]


def load_under(stack: str, engine: bool, monkeypatch) -> object:
    sf, _ = validate(REPO, stack)
    install("pipeworks", stack, sf.values, sorted(sf.secret_keys))
    if engine:  # what `pulumi up` sees: the same program, no mocks
        monkeypatch.setattr(loader, "under_mocks", lambda: False)
    return program.load_config()


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_pulumi_up_refuses_the_shipped_placeholders(stack, monkeypatch):
    with pytest.raises(pulumi.RunError) as e:
        load_under(stack, engine=True, monkeypatch=monkeypatch)
    text = str(e.value)
    assert f"Pulumi.{stack}.yaml: pipeworks:platform.cluster.eks.transitGatewayId=" in text
    assert f"Pulumi.{stack}.yaml: pipeworks:platform.cluster.eks.deployerNetworks[0]=" in text
    assert "is a placeholder for a value only you know" in text


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_offline_plan_accepts_them(stack, monkeypatch):
    cfg = load_under(stack, engine=False, monkeypatch=monkeypatch)
    assert loader.under_mocks() is True
    assert {k for k, _ in cfg.placeholders} >= {"pipeworks:platform.cluster.eks.transitGatewayId"}


def test_pipeworks_plan_names_the_values_left_to_set(tmp_path, capsys):
    from pipeworks.cli import main
    assert main(["plan", "prod", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "before `pulumi up`: set pipeworks:platform.cluster.eks.transitGatewayId (now the placeholder <" in err
