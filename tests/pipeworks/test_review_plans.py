"""The review experience on real plans of the dev stack: determinism, a realistic change set
(a node group's instance types, a new pool, a rotated secret) through `pipeworks diff`, SARIF
locations, capacity and the summary's picture."""

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from markdown_it import MarkdownIt

from pipeworks import capacity as capacity_cmd
from pipeworks import prices
from pipeworks.check import load_plan, locator, run_check, stack_key_line
from pipeworks.diff import render_diff
from pipeworks.plan import plan_stack
from pipeworks.sarif import to_sarif
from policies.rules.instances import known_instance_types

REPO = Path(__file__).resolve().parents[2]
CIPHER_A = "v1:AAAAAAAAAAAAAAAA:bm90IGEgcmVhbCBjaXBoZXJ0ZXh0IEE="
CIPHER_B = "v1:BBBBBBBBBBBBBBBB:bm90IGEgcmVhbCBjaXBoZXJ0ZXh0IEI="


def dev_doc() -> dict:
    doc = yaml.safe_load((REPO / "Pulumi.dev.yaml").read_text())
    platform = doc["config"]["pipeworks:platform"]
    platform.setdefault("monitoring", {})["alertReceiver"] = "webhook"
    doc["config"]["pipeworks:alertWebhookUrl"] = {"secure": CIPHER_A}
    doc["encryptionsalt"] = "v1:c2FsdHNhbHQ=:v1:AAAA:BBBB"
    return doc


def plan_doc(root: Path, doc: dict, out: str) -> Path:
    proj = root / f"proj-{out}"
    proj.mkdir(parents=True)
    (proj / "Pulumi.dev.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return plan_stack("dev", root / out, project_dir=proj)


@pytest.fixture(scope="module")
def plans(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("review")
    base = dev_doc()
    head = copy.deepcopy(base)
    pools = head["config"]["pipeworks:platform"]["nodePools"]
    gpu = next(p for p in pools if p["name"] == "gpu")
    gpu["instanceTypes"] = ["g5.2xlarge", "g5.4xlarge"]  # a Spot pool names two types (NodePoolConfig)
    pools.append({"name": "general-2", "role": "general", "instanceTypes": ["m6i.large"], "minSize": 1, "maxSize": 2})
    head["config"]["pipeworks:alertWebhookUrl"] = {"secure": CIPHER_B}
    return {"base": plan_doc(root, base, "base"), "again": plan_doc(root, base, "again"),
            "head": plan_doc(root, head, "head")}


def tree(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_plans_are_byte_identical_across_runs(plans):
    """Same commit, same stack file, two processes' worth of event-loop interleaving: same bytes."""
    a, b = tree(plans["base"]), tree(plans["again"])
    assert a.keys() == b.keys() and len(a) > 100
    assert [k for k in a if a[k] != b[k]] == []


def test_plan_in_a_separate_process_is_identical(plans, tmp_path):
    """A different PYTHONHASHSEED (set order) must not change the plan either."""
    proj = plans["base"].parent.parent / "proj-base"
    script = ("import sys; from pathlib import Path; from pipeworks.plan import plan_stack; "
              "plan_stack('dev', Path(sys.argv[1]), project_dir=Path(sys.argv[2]))")
    env = {"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", script, str(tmp_path), str(proj)], check=True, cwd=REPO, env=env)
    assert tree(tmp_path / "dev") == tree(plans["base"])


def test_realistic_change_reads_right(plans):
    text = render_diff(plans["base"], plans["head"])
    # instance types are create-only on an EKS node group
    assert re.search(r"\*\*\+- replace\*\* `aws:eks/nodeGroup:NodeGroup` `pipeworks-dev-pool-gpu-ng` "
                     r"\(forced by `instanceTypes`\)", text)
    assert "`instanceTypes[0]`: `\"g5.xlarge\"` → `\"g5.2xlarge\"`" in text
    # the new pool is added, and in the pools ConfigMap it is one added item, not every later item changed
    assert "**+ add** `aws:eks/nodeGroup:NodeGroup` `pipeworks-dev-pool-general-2-ng`" in text
    assert "`data.pools.json(json)[name=general-2]`: ∅ →" in text
    assert "[name=edge-store-1]" not in text
    # the rotated webhook URL: the Alertmanager config Secret changes, without a value
    assert "(secret changed)" in text and CIPHER_A not in text and CIPHER_B not in text
    summary = re.search(r"\*\*pipeworks plan diff: (\d+) to replace, (\d+) to add", text)
    assert summary and int(summary.group(1)) >= 2
    # the cost moves with the GPU instance type and the new pool
    assert re.search(r"Estimated cost \(on-demand, min–max nodes\): `\$[\d,.]+–\$[\d,.]+/month` → ", text)
    html = MarkdownIt("commonmark").render(text)
    assert "<strong>+- replace</strong>" in html and "<strong>+ add</strong>" in html


def test_secret_digests_are_keyed_per_stack_and_never_the_value(plans):
    records = json.loads((plans["base"] / "resources.json").read_text())
    digests = {d for r in records for d in r["secretDigests"].values()}
    assert digests and all(re.fullmatch(r"[0-9a-f]{32}", d) for d in digests)
    text = (plans["base"] / "resources.json").read_text()
    assert CIPHER_A not in text
    import hashlib
    # not a plain hash of any secret leaf the program could know offline: the placeholder itself
    assert hashlib.sha256(json.dumps("[secret] pipeworks:alertWebhookUrl").encode()).hexdigest()[:32] not in digests


def test_every_resource_knows_where_it_was_declared(plans):
    records = json.loads((plans["base"] / "resources.json").read_text())
    custom = [r for r in records if r["custom"] and not r["type"].startswith("pulumi:providers:")]
    assert all(r["source"] and (REPO / r["source"]["file"]).is_file() for r in custom)
    api = next(r for r in records if r["type"] == "kubernetes:apps/v1:Deployment" and r["name"].startswith("fraud-api"))
    line = (REPO / api["source"]["file"]).read_text().splitlines()[api["source"]["line"] - 1]
    assert api["source"]["file"].startswith("workloads/fraud/") and "Deployment(" in line


def test_sarif_points_at_the_declaration_and_the_stack_key(plans, tmp_path):
    target = load_plan(plans["base"])
    report = run_check(target)
    locate = locator(target, report)
    api = next(r for r in target.resources if r.type == "kubernetes:apps/v1:Deployment" and r.name.startswith("fraud-api"))
    uri, line, base = locate(api.urn, "")
    assert uri.startswith("workloads/fraud/") and base == "%SRCROOT%" and line > 1
    # a stack-file finding lands on its key's line
    stack = tmp_path / "Pulumi.lint.yaml"
    stack.write_text("# comment\nconfig:\n  pipeworks:platform:\n    environment: prod\n  pipeworks:dbPassword: hunter2\n")
    assert stack_key_line(stack, "pipeworks:dbPassword") == 5
    assert stack_key_line(stack, "pipeworks:platform.environment") == 4
    assert stack_key_line(stack, "secretsprovider") == 1


def test_sarif_for_manifests_uses_relative_uris_and_stable_fingerprints(tmp_path, monkeypatch):
    manifests = tmp_path / "deploy" / "app.yaml"
    manifests.parent.mkdir()
    manifests.write_text("# header\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: x}\n"
                         "spec:\n  containers:\n  - name: c\n    image: nginx:latest\n")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "r.sarif"
    from pipeworks.check import main
    main(["--manifests", "deploy/app.yaml", "--format", "sarif", "--output", str(out)])
    sarif = json.loads(out.read_text())
    run = sarif["runs"][0]
    results = run["results"]
    assert results
    for r in results:
        loc = r["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"] == {"uri": "deploy/app.yaml", "uriBaseId": "%SRCROOT%"}
        assert loc["region"]["startLine"] == 3
    rules = run["tool"]["driver"]["rules"]
    assert all(r["shortDescription"]["text"] != r["fullDescription"]["text"] for r in rules)
    assert all("policies/README.md" in r["help"]["markdown"] for r in rules)
    assert {r["defaultConfiguration"]["level"] for r in rules} == {"error"}  # manifests: prod, mandatory
    # reworded messages keep their fingerprints
    from policies.engine import Report, Violation
    report = Report(violations=[Violation("image-tag", "image-tag", "mandatory", "x#0 Pod/p", "old words")],
                    exemptions=[], notes=[], context=None)  # type: ignore[arg-type]
    reworded = Report(violations=[Violation("image-tag", "image-tag", "mandatory", "x#0 Pod/p", "new words")],
                      exemptions=[], notes=[], context=None)  # type: ignore[arg-type]

    def fp(rep):
        return to_sarif(rep, lambda _r, _m: ("a.yaml", 1))["runs"][0]["results"][0]["partialFingerprints"]
    assert fp(report) == fp(reworded)


def test_sarif_with_github_environment_has_absolute_help_uri(monkeypatch):
    from policies.engine import Enforcement, Report
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/pipeworks")
    monkeypatch.setenv("GITHUB_SHA", "abc123")
    sarif = to_sarif(Report([], [], [], None), lambda _r, _m: ("a", 1),  # type: ignore[arg-type]
                     enforcement=Enforcement.for_environment("dev"))
    rule = sarif["runs"][0]["tool"]["driver"]["rules"][0]
    assert rule["helpUri"] == "https://github.com/acme/pipeworks/blob/abc123/policies/README.md#rules"
    assert rule["defaultConfiguration"]["level"] == "warning"


# --- capacity ----------------------------------------------------------------------------------------------

def test_price_table_covers_every_instance_type_and_names_its_source():
    assert [t for t in known_instance_types() if prices.on_demand(t) is None] == []
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", prices.PRICES_DATE) and prices.PRICES_SOURCE.startswith("https://")
    assert all(0 < (prices.spot(t) or 0) < (prices.on_demand(t) or 0) for t in known_instance_types())


def test_capacity_sees_every_pod_and_answers_min_max_and_cost(plans, capsys):
    assert capacity_cmd.main([str(plans["base"]), "--format", "json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    pods = {p["pod"] for pool in rep["pools"] for p in pool["pods"]}
    for wanted in ("kube-prometheus-stack prometheus", "kube-prometheus-stack alertmanager", "CephObjectStore/datalake rgw",
                   "CephFilesystem/sharedfs mds", "jupyterhub user server (gpu)", "spark-operator controller",
                   "gpu-operator operator", "kube-prometheus-stack operator"):
        assert any(wanted in p for p in pods), wanted
    gpu = next(p for p in rep["pools"] if p["pool"] == "gpu")
    assert gpu["nodesNeeded"] == {"min": 0, "max": 1}  # only the GPU notebook needs a GPU node, 0..1 of it
    worker = next(p for pool in rep["pools"] for p in pool["pods"] if p["pod"] == "Deployment/spark-worker")
    assert worker["min"] < worker["max"]  # from its HorizontalPodAutoscaler
    assert gpu["cost"]["monthlyOnDemandMax"] == round(prices.on_demand("g5.xlarge") * prices.HOURS_PER_MONTH, 2)
    assert rep["prices"]["date"] == prices.PRICES_DATE and rep["fits"] is True
    summary = (plans["base"] / "summary.md").read_text()
    totals = json.loads((plans["base"] / "capacity.json").read_text())["totals"]
    assert f"${totals['monthlyOnDemandMin']:,.2f}–${totals['monthlyOnDemandMax']:,.2f}" in summary


def test_capacity_exits_1_when_a_pod_cannot_be_scheduled(plans, tmp_path, capsys):
    pools = [{"name": "general", "role": "general", "labels": {"pipeworks.io/pool": "general", "pipeworks.io/role": "general"},
              "taints": [], "instanceTypes": ["t3.medium"], "minSize": 1, "maxSize": 2}]
    f = tmp_path / "pools.json"
    f.write_text(json.dumps(pools))
    assert capacity_cmd.main([str(plans["base"]), "--pools", str(f)]) == 1
    out = capsys.readouterr().out
    assert "DOES NOT FIT" in out and "pods that land on no pool" in out


def test_pack_counts_nodes_first_fit_decreasing():
    node = {"cpu": 4.0, "memory": 16.0, "nvidia.com/gpu": 0.0}
    pod = {"cpu": 1.5, "memory": 1.0, "nvidia.com/gpu": 0.0}
    assert capacity_cmd.pack(node, [pod] * 5) == 3  # two per node
    big = {"cpu": 5.0, "memory": 1.0, "nvidia.com/gpu": 0.0}
    assert capacity_cmd.pack(node, [big]) == 0  # larger than a node: reported apart, not counted


# --- the picture -------------------------------------------------------------------------------------------

def test_mermaid_groups_every_release_and_stays_small(plans):
    summary = (plans["base"] / "summary.md").read_text()
    block = summary.split("```mermaid\n", 1)[1].split("```", 1)[0]
    lines = block.splitlines()
    assert lines[0] == "flowchart LR"
    defined = {m.group(1) for ln in lines for m in [re.match(r"\s+(\w+)[\[(]", ln)] if m}
    edges = [re.match(r"\s+(\w+) -\.?-> (\w+)$", ln) for ln in lines if "->" in ln]
    assert edges and all(e and e.group(1) in defined and e.group(2) in defined for e in edges)
    assert sum(ln.strip().startswith("subgraph") for ln in lines) == sum(ln.strip() == "end" for ln in lines)
    releases = [yaml.safe_load(p.read_text())["name"] for p in (plans["base"] / "helm").glob("*.yaml")]
    assert len(releases) == 11  # with cilium (the edge nodes' CNI) and Envoy Gateway (eg)
    for name in releases:
        assert name in block, name
    assert not re.search(r"-[0-9a-f]{8,}\b", block), "no config hashes in labels"
    boxes = [ln for ln in lines if re.match(r"\s+g_\w+\[", ln)]
    assert len(boxes) <= 30 and "g_jupyterhub_gpu --> p_gpu" in block


def test_pods_spread_over_hosts_need_a_node_each():
    """Required anti-affinity on the hostname key: one pod per node; a topology spread with maxSkew 1
    only evens pods out (12 pods on 9 nodes is skew 1), so it adds no such bound."""
    from policies.rules.model import Resource
    from policies.rules.podspec import PodTemplate
    r = Resource(urn="u", type="kubernetes:apps/v1:Deployment", name="d", props={})
    spread = {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                             "whenUnsatisfiable": "DoNotSchedule"}]}
    anti = {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "kubernetes.io/hostname", "labelSelector": {}}]}}}
    soft = {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                           "whenUnsatisfiable": "ScheduleAnyway"}]}
    assert not capacity_cmd.one_per_node(PodTemplate(r, "spec", "d", spread, []))
    assert capacity_cmd.one_per_node(PodTemplate(r, "spec", "d", anti, []))
    mons = PodTemplate(r, "spec", "mon", {}, [], operator_spread={"kubernetes.io/hostname"})
    assert capacity_cmd.one_per_node(mons)
    assert not capacity_cmd.one_per_node(PodTemplate(r, "spec", "d", soft, []))


def test_sarif_stack_file_finding_lands_on_its_key_line(plans, tmp_path, monkeypatch, capsys):
    """End to end: `pipeworks check PLAN --format sarif` with a stack file holding a plaintext credential."""
    import shutil

    from pipeworks.check import main
    plan = tmp_path / "plan"
    shutil.copytree(plans["base"], plan)
    (plan / "Pulumi.lint.yaml").write_text(
        "# a stack file\nconfig:\n  pipeworks:platform:\n    environment: dev\n  pipeworks:apiToken: abc123\n")
    info = json.loads((plan / "stack.json").read_text())
    info["stackFile"] = "Pulumi.lint.yaml"
    (plan / "stack.json").write_text(json.dumps(info))
    monkeypatch.chdir(tmp_path)
    main(["plan", "--format", "sarif", "--output", "out.sarif"])
    results = json.loads((tmp_path / "out.sarif").read_text())["runs"][0]["results"]
    (hit,) = [r for r in results if r["ruleId"] == "stack-file-secrets"]
    loc = hit["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "plan/Pulumi.lint.yaml", "uriBaseId": "%SRCROOT%"}
    assert loc["region"]["startLine"] == 5


def test_sarif_reads_the_stack_file_once_for_all_its_findings(plans, tmp_path, monkeypatch):
    """Three stack-file findings land on three key lines; the stack file is composed once, not per finding."""
    import shutil

    import pipeworks.check as check
    plan = tmp_path / "plan"
    shutil.copytree(plans["base"], plan)
    (plan / "Pulumi.lint.yaml").write_text(
        "config:\n  pipeworks:platform:\n    environment: dev\n  pipeworks:apiToken: abc123\n"
        "  pipeworks:dbPassword: hunter22\n  pipeworks:slackToken: xoxb-1\n")
    info = json.loads((plan / "stack.json").read_text())
    info["stackFile"] = "Pulumi.lint.yaml"
    (plan / "stack.json").write_text(json.dumps(info))
    monkeypatch.chdir(tmp_path)
    composed = []
    real = check.compose_stack_file
    monkeypatch.setattr(check, "compose_stack_file", lambda p: composed.append(p) or real(p))
    check.main(["plan", "--format", "sarif", "--output", "out.sarif"])
    results = json.loads((tmp_path / "out.sarif").read_text())["runs"][0]["results"]
    lines = sorted(r["locations"][0]["physicalLocation"]["region"]["startLine"]
                   for r in results if r["ruleId"] == "stack-file-secrets")
    assert lines == [4, 5, 6]
    assert len(composed) == 1
