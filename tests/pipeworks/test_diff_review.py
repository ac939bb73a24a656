"""`pipeworks diff` as a reviewer reads it: replacements, secrets, GitHub rendering, size, list items.

Rendering is judged with markdown-it-py (CommonMark, which GitHub Flavored Markdown extends): what
matters is the HTML a reviewer sees, not the Markdown source.
"""

import json
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from pipeworks.diff import (
    COMMENT_LIMIT,
    DEFAULT_MAX_CHARS,
    changed_paths,
    code,
    diff_resources,
    render_diff,
)
from pipeworks.replacements import create_only_fields, forced_fields

MD = MarkdownIt("commonmark").enable("table")
PROV_K8S = "urn:pulumi:dev::pipeworks::pulumi:providers:kubernetes::k8s"
PROV_AWS = "urn:pulumi:dev::pipeworks::pulumi:providers:aws::aws"


def rec(type_: str, name: str, inputs: dict, provider: str | None = PROV_K8S, parent: str | None = None,
        digests: dict | None = None, custom: bool = True) -> dict:
    return {"urn": f"urn:pulumi:dev::pipeworks::{type_}::{name}", "type": type_, "name": name, "parent": parent,
            "provider": f"{provider}::{provider.rsplit('::', 1)[-1]}-id" if provider else None, "dependencies": [],
            "custom": custom, "source": None, "inputs": inputs, "secretDigests": digests or {}}


def provider(kind: str, inputs: dict) -> dict:
    r = rec(f"pulumi:providers:{kind}", "k8s" if kind == "kubernetes" else "aws", inputs, provider=None)
    return r


def deployment(name: str = "api", selector: dict | None = None, image: str = "api:1", ns: str = "fraud") -> dict:
    sel = selector or {"app": name}
    return rec("kubernetes:apps/v1:Deployment", name, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": {"matchLabels": sel}, "template": {"metadata": {"labels": sel},
                                                                  "spec": {"containers": [{"name": name, "image": image}]}}}})


def write_plan(d: Path, records: list[dict], totals: dict | None = None) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "resources.json").write_text(json.dumps(records))
    if totals is not None:
        (d / "capacity.json").write_text(json.dumps({"totals": totals}))
    return d


# --- replacements --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("type_", "old", "new", "forced"), [
    # pulumi-kubernetes v4.34.2 provider/pkg/provider/diff.go: metadata name/namespace, per-kind lists
    ("kubernetes:apps/v1:Deployment", {"spec": {"selector": {"matchLabels": {"app": "a"}}}},
     {"spec": {"selector": {"matchLabels": {"app": "b"}}}}, ["spec.selector"]),
    ("kubernetes:apps/v1:Deployment", {"spec": {"replicas": 1}}, {"spec": {"replicas": 3}}, []),
    ("kubernetes:apps/v1:StatefulSet", {"spec": {"volumeClaimTemplates": [{"spec": {"resources": {"requests": {"storage": "1Gi"}}}}]}},
     {"spec": {"volumeClaimTemplates": [{"spec": {"resources": {"requests": {"storage": "2Gi"}}}}]}},
     ["spec.volumeClaimTemplates"]),
    ("kubernetes:batch/v1:Job", {"spec": {"template": {"spec": {"containers": [{"image": "a"}]}}}},
     {"spec": {"template": {"spec": {"containers": [{"image": "b"}]}}}}, ["spec.template"]),
    ("kubernetes:batch/v1:Job", {"metadata": {"name": "ilm-1"}}, {"metadata": {"name": "ilm-2"}}, ["metadata.name"]),
    ("kubernetes:core/v1:PersistentVolumeClaim", {"spec": {"storageClassName": "gp3"}},
     {"spec": {"storageClassName": "ceph-block"}}, ["spec.storageClassName"]),
    ("kubernetes:storage.k8s.io/v1:StorageClass", {"parameters": {"pool": "a"}}, {"parameters": {"pool": "b"}},
     ["parameters"]),
    ("kubernetes:core/v1:Namespace", {"metadata": {"name": "a", "labels": {"x": "1"}}},
     {"metadata": {"name": "a", "labels": {"x": "2"}}}, []),
    # terraform-provider-aws internal/service/eks/node_group.go ForceNew attributes
    ("aws:eks/nodeGroup:NodeGroup", {"instanceTypes": ["g5.xlarge"]}, {"instanceTypes": ["g5.2xlarge"]}, ["instanceTypes"]),
    ("aws:eks/nodeGroup:NodeGroup", {"capacityType": "SPOT"}, {"capacityType": "ON_DEMAND"}, ["capacityType"]),
    ("aws:eks/nodeGroup:NodeGroup", {"subnetIds": ["a"]}, {"subnetIds": ["a", "b"]}, ["subnetIds"]),
    ("aws:eks/nodeGroup:NodeGroup", {"amiType": "AL2023_x86_64_STANDARD"}, {"amiType": "AL2023_x86_64_NVIDIA"}, ["amiType"]),
    ("aws:eks/nodeGroup:NodeGroup", {"nodeGroupName": "a"}, {"nodeGroupName": "b"}, ["nodeGroupName"]),
    ("aws:eks/nodeGroup:NodeGroup", {"scalingConfig": {"maxSize": 2}}, {"scalingConfig": {"maxSize": 5}}, []),
    ("pulumi:providers:aws", {"region": "us-east-1"}, {"region": "eu-west-1"}, ["region"]),
])
def test_create_only_fields_force_replacement(type_, old, new, forced):
    assert forced_fields(type_, old, new) == forced


def test_configmap_and_secret_data_replace_unless_the_provider_makes_them_mutable():
    old, new = {"data": {"a": "1"}}, {"data": {"a": "2"}}
    assert forced_fields("kubernetes:core/v1:ConfigMap", old, new) == ["data"]
    assert forced_fields("kubernetes:core/v1:ConfigMap", old, new, {"enableConfigMapMutable": True}) == []
    # a rotated secret: same "[secret]" placeholder, different digest
    s = {"stringData": {"url": "[secret]"}}
    assert forced_fields("kubernetes:core/v1:Secret", s, s, None, {"stringData.url": "aa"}, {"stringData.url": "bb"}) \
        == ["stringData"]
    assert "stringData" not in create_only_fields("kubernetes:core/v1:Secret", {"enableSecretMutable": "true"})


def test_kubernetes_provider_with_cluster_identifier_replaces_only_when_it_changes():
    """pulumi-kubernetes provider_diffconfig_test.go: change-kubeconfig-with-identifier does not replace."""
    t = "pulumi:providers:kubernetes"
    assert forced_fields(t, {"kubeconfig": "a"}, {"kubeconfig": "b"}) == ["kubeconfig"]
    assert forced_fields(t, {"kubeconfig": "a", "clusterIdentifier": "x"}, {"kubeconfig": "b", "clusterIdentifier": "x"}) == []
    assert forced_fields(t, {"clusterIdentifier": "x"}, {"clusterIdentifier": "y"}) == ["clusterIdentifier"]


def test_a_replaced_provider_replaces_and_lists_every_resource_it_manages():
    base = [provider("kubernetes", {"kubeconfig": "cluster-a"}), deployment("api"), deployment("scorer"),
            rec("kubernetes:core/v1:Namespace", "fraud", {"metadata": {"name": "fraud"}})]
    head = [provider("kubernetes", {"kubeconfig": "cluster-b"}), deployment("api", image="api:2"), deployment("scorer"),
            rec("kubernetes:core/v1:Namespace", "fraud", {"metadata": {"name": "fraud"}})]
    entries = {e.rec["name"]: e for e in diff_resources(base, head)}
    assert entries["k8s"].action == "replace" and entries["k8s"].forced == ["kubeconfig"]
    assert entries["k8s"].affected == ["Deployment/api", "Deployment/scorer", "Namespace/fraud"]
    assert entries["api"].action == "replace" and entries["api"].forced == ["(provider)"] and entries["api"].paths
    assert entries["scorer"].provider_only and entries["fraud"].provider_only


def test_moving_to_another_provider_replaces():
    other = "urn:pulumi:dev::pipeworks::pulumi:providers:kubernetes::k8s-existing"
    base, head = [deployment("api")], [dict(deployment("api"), provider=f"{other}::x-id")]
    (e,) = diff_resources(base, head)
    assert e.action == "replace" and e.forced == ["(provider)"]


def test_secret_rotation_shows_as_secret_changed_never_the_digest(tmp_path):
    s = {"kind": "Secret", "metadata": {"name": "am", "namespace": "monitoring"}, "stringData": {"url": "[secret]"}}
    base = write_plan(tmp_path / "base", [rec("kubernetes:core/v1:Secret", "am", s, digests={"stringData.url": "d1" * 16})])
    head = write_plan(tmp_path / "head", [rec("kubernetes:core/v1:Secret", "am", s, digests={"stringData.url": "d2" * 16})])
    text = render_diff(base, head)
    assert "`stringData.url`: (secret changed)" in text
    assert "forced by `stringData`" in text and "d1d1" not in text and "d2d2" not in text
    assert "No changes." in render_diff(base, base)


# --- lists -----------------------------------------------------------------------------------------------

def test_list_items_are_matched_by_name():
    old = [{"name": "general", "maxSize": 3}, {"name": "gpu", "maxSize": 2}, {"name": "edge", "maxSize": 1}]
    new = [{"name": "general", "maxSize": 3}, {"name": "gpu-big", "maxSize": 2}, {"name": "gpu", "maxSize": 4},
           {"name": "edge", "maxSize": 1}]
    assert changed_paths({"pools": old}, {"pools": new}) == [
        ("pools[name=gpu].maxSize", 2, 4), ("pools[name=gpu-big]", None, {"name": "gpu-big", "maxSize": 2})]
    assert changed_paths({"p": new}, {"p": old}) == [("p[name=gpu-big]", {"name": "gpu-big", "maxSize": 2}, None),
                                                     ("p[name=gpu].maxSize", 4, 2)]
    # by key when there is no name (tolerations-like); by index when neither identifies items
    assert changed_paths([{"key": "a", "v": 1}], [{"key": "a", "v": 2}, {"key": "b", "v": 1}]) == [
        ("[key=a].v", 1, 2), ("[key=b]", None, {"key": "b", "v": 1})]
    assert changed_paths([1, 2], [1, 2, 3]) == [("", [1, 2], [1, 2, 3])]


# --- rendering -------------------------------------------------------------------------------------------

def _html(text: str) -> str:
    return MD.render(text)


def test_markers_survive_markdown_and_values_are_code(tmp_path):
    base = write_plan(tmp_path / "base", [
        deployment("api", selector={"app": "api"}), deployment("old"),
        rec("kubernetes:core/v1:ConfigMap", "rules", {"metadata": {"name": "rules"}, "immutable": False,
                                                     "data": {"x": "1"}}, provider=None),
        rec("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "alerts", {"spec": {"expr": "rate(a[5m])"}})])
    head = write_plan(tmp_path / "head", [
        deployment("api", selector={"app": "api-v2"}), deployment("new"),
        rec("kubernetes:core/v1:ConfigMap", "rules", {"metadata": {"name": "rules"}, "immutable": True,
                                                     "data": {"x": "1"}}, provider=None),
        rec("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "alerts", {"spec": {"expr": "rate(a*b[5m]) * 2"}})])
    text = render_diff(base, head)
    html = _html(text)
    assert "<strong>+- replace</strong> <code>kubernetes:apps/v1:Deployment</code> <code>api</code>" in html
    assert "<strong>+ add</strong> <code>kubernetes:apps/v1:Deployment</code> <code>new</code>" in html
    assert "<strong>- remove</strong> <code>kubernetes:apps/v1:Deployment</code> <code>old</code>" in html
    assert "<strong>~ update</strong> <code>kubernetes:core/v1:ConfigMap</code> <code>rules</code>" in html
    assert "<code>&quot;rate(a*b[5m]) * 2&quot;</code>" in html  # a regex value stays code, no italics
    assert "<em>" not in html
    # no +/- became a list marker: every list item starts with one of the bold action words
    items = re.findall(r"<li>(?!<code>)(.{0,30})", html)
    assert items and all(i.startswith("<strong>") for i in items), items
    # the summary line leads with replacements
    assert "**pipeworks plan diff: 1 to replace, 1 to add, 1 to remove, 2 to change.**" in text


def test_summary_of_details_is_html_and_details_are_balanced(tmp_path):
    base = write_plan(tmp_path / "b", [deployment("api")])
    head = write_plan(tmp_path / "h", [deployment("api", image="api:2")])
    text = render_diff(base, head)
    assert "<summary><code>(stack)</code>: 0 to replace, 0 to add, 0 to remove, 1 to change</summary>" in text
    assert text.count("<details") == text.count("</details>") == 1


@pytest.mark.parametrize("value", ["a`b", "``", "`lead", "plain"])
def test_code_spans_hold_backticks(value):
    html = MD.renderInline(code(value))
    assert html == f"<code>{value.replace('&', '&amp;')}</code>", html


def test_size_cap_folds_components_and_points_to_the_full_diff(tmp_path):
    """77 KB of changes (an existing-cluster move of both stacks) must still fit one comment."""
    base_recs, head_recs = [], []
    for c in range(12):
        parent = f"urn:pulumi:dev::pipeworks::pipeworks:services:C{c}::c{c}"
        comp = {"urn": parent, "type": f"pipeworks:services:C{c}", "name": f"c{c}", "parent": None,
                "provider": None, "dependencies": [], "custom": False, "source": None, "inputs": {}, "secretDigests": {}}
        base_recs.append(comp)
        head_recs.append(comp)
        for i in range(40):
            d = deployment(f"c{c}-w{i}", image="registry/x:" + "a" * 60)
            d["parent"] = parent
            h = json.loads(json.dumps(d))
            h["inputs"]["spec"]["template"]["spec"]["containers"][0]["image"] = "registry/x:" + "b" * 60
            h["inputs"]["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": f"E{j}", "value": "v" * 50}
                                                                               for j in range(5)]
            base_recs.append(d)
            head_recs.append(h)
    base, head = write_plan(tmp_path / "b", base_recs), write_plan(tmp_path / "h", head_recs)
    full = render_diff(base, head, max_chars=0)
    assert len(full) > COMMENT_LIMIT
    capped = render_diff(base, head, full_link="https://example.invalid/run/1")
    assert len(capped) <= DEFAULT_MAX_CHARS < COMMENT_LIMIT
    assert "[the full diff](https://example.invalid/run/1)" in capped
    assert capped.count("<details") == capped.count("</details>")
    assert "(details in the full diff)" in capped and "480 to change" in capped
    folded = render_diff(base, head, max_chars=2_000)  # every component as counts only
    assert len(folded) <= 2_000 and "<details" not in folded and folded.count("(details in the full diff)") == 12
    tiny = render_diff(base, head, max_chars=900)
    assert len(tiny) <= 900 and "cut to fit" in tiny


def test_cost_delta_line(tmp_path):
    base = write_plan(tmp_path / "b", [deployment()], {"monthlyOnDemandMin": 100.0, "monthlyOnDemandMax": 200.0})
    head = write_plan(tmp_path / "h", [deployment(image="api:2")], {"monthlyOnDemandMin": 150.5, "monthlyOnDemandMax": 180.0})
    text = render_diff(base, head)
    assert ("Estimated cost (on-demand, min–max nodes): `$100.00–$200.00/month` → `$150.50–$180.00/month` "
            "(`+$50.50 at min, -$20.00 at max` per month).") in text


def test_workflow_calls_diff_with_flags_the_cli_has(capsys):
    """The pull-request workflow posts the folded diff and puts the full one in the job summary."""
    import yaml

    from pipeworks.cli import main
    wf = yaml.safe_load((Path(__file__).resolve().parents[2] / ".github/workflows/pull-request.yml").read_text())
    step = next(s for s in wf["jobs"]["plan-diff"]["steps"] if s.get("name") == "Diff")
    assert "--max-chars 0" in step["run"] and "GITHUB_STEP_SUMMARY" in step["run"]
    assert "--full-link" in step["run"] and "> plan-diff.md" in step["run"]
    with pytest.raises(SystemExit):
        main(["diff", "--help"])
    helptext = capsys.readouterr().out
    assert "--max-chars" in helptext and "--full-link" in helptext


def test_a_rotated_kubeconfig_secret_does_not_replace_every_resource():
    """Same cluster, new credential: the provider changes (secret changed) but nothing is replaced."""
    base = [rec("pulumi:providers:kubernetes", "k8s", {"kubeconfig": "[secret]", "context": "lab"}, provider=None,
                digests={"kubeconfig": "a" * 32}), deployment("api")]
    head = [rec("pulumi:providers:kubernetes", "k8s", {"kubeconfig": "[secret]", "context": "lab"}, provider=None,
                digests={"kubeconfig": "b" * 32}), deployment("api")]
    (e,) = diff_resources(base, head)
    assert e.action == "update" and e.paths == [("kubeconfig", None, e.paths[0][2])]
    assert "(secret changed)" in e.render()
    head[0]["inputs"]["context"] = "prod-cluster"
    entries = {x.rec["name"]: x.action for x in diff_resources(base, head)}
    assert entries == {"k8s": "replace", "api": "replace"}
