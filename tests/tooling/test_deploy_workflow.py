"""The workflows reach every stack's API: a stack with a private endpoint is previewed and deployed only
from a self-hosted runner labelled for it, which lives in the stack's deployerNetworks (README, Deploying)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.stackfiles import shipped_platform_config

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"


def private_stacks() -> list[str]:
    out = []
    for f in sorted(REPO.glob("Pulumi.*.yaml")):
        stack = f.name.split(".")[1]
        eks = shipped_platform_config(stack).platform.cluster
        if eks.kind.value == "eks" and eks.eks.endpoint_public_access is False:
            out.append(stack)
    return out


def pulumi_runs(workflow: dict) -> list[tuple[str, str, str, list[str]]]:
    """(job, command, stack, runs-on labels) of every pulumi/actions step, matrix expanded."""
    runs = []
    for job_name, job in workflow.get("jobs", {}).items():
        stacks = (job.get("strategy") or {}).get("matrix", {}).get("stack") or [None]
        for stack in stacks:
            def expand(v):
                return v.replace("${{ matrix.stack }}", stack) if stack and isinstance(v, str) else v
            runs_on = job.get("runs-on")
            labels = [expand(x) for x in (runs_on if isinstance(runs_on, list) else [runs_on])]
            for step in job.get("steps", []):
                if str(step.get("uses", "")).startswith("pulumi/actions@"):
                    w = step.get("with", {})
                    runs.append((job_name, w.get("command"), expand(w.get("stack-name")), labels))
    return runs


def path_problems(workflow: dict, stacks: list[str]) -> list[str]:
    problems = []
    runs = pulumi_runs(workflow)
    for stack in stacks:
        mine = [r for r in runs if r[2] == stack]
        for job, command, _, labels in mine:
            if "self-hosted" not in labels or f"pipeworks-deploy-{stack}" not in labels:
                problems.append(f"job {job} runs `pulumi {command}` for {stack}, whose endpoint is private, on "
                                f"{labels}: not a runner in its deployerNetworks")
    return problems


def test_shipped_stacks_are_private():
    assert private_stacks() == ["dev", "prod"]


@pytest.mark.parametrize("workflow", ["deploy.yml", "pull-request.yml"])
def test_every_pulumi_run_of_a_private_stack_is_on_its_deploy_runner(workflow):
    wf = yaml.safe_load((WORKFLOWS / workflow).read_text())
    assert path_problems(wf, private_stacks()) == []
    runs = pulumi_runs(wf)
    assert {r[2] for r in runs} == {"dev", "prod"}


def test_deploy_runs_up_for_every_stack_and_prod_after_dev_behind_approval():
    wf = yaml.safe_load((WORKFLOWS / "deploy.yml").read_text())
    ups = {r[2]: r[0] for r in pulumi_runs(wf) if r[1] == "up"}
    assert set(ups) == {"dev", "prod"}
    job = wf["jobs"][ups["prod"]]
    # one matrix job, one stack at a time, dev first; prod behind the production environment's approval
    assert job["strategy"]["matrix"]["stack"] == ["dev", "prod"] and job["strategy"]["max-parallel"] == 1
    assert job["environment"] == "${{ matrix.stack == 'prod' && 'production' || 'development' }}"


def test_a_hosted_runner_for_a_private_stack_is_refused():
    wf = yaml.safe_load((WORKFLOWS / "deploy.yml").read_text())
    job = next(j for j in wf["jobs"].values() if any(str(s.get("uses", "")).startswith("pulumi/actions@") for s in j["steps"]))
    job["runs-on"] = "ubuntu-24.04"
    problems = path_problems(wf, ["dev", "prod"])
    assert problems and re.search(r"whose endpoint is private, on \['ubuntu-24.04'\]", problems[0])
