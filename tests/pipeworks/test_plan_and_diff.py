"""`pipeworks plan` and `pipeworks diff`: outputs, exit codes, secrets, invalid stacks that register nothing."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeworks.diff import changed_paths, render_diff
from pipeworks.mocks import install
from pipeworks.plan import InvalidStack, plan_stack, run_program
from pipeworks.stackfile import read_stack_file
from tests.infra.planned import plan_dir

REPO = Path(__file__).resolve().parents[2]
KUBECONFIG_CIPHERTEXT = "v1:Zm9vYmFyYmF6:c2VjcmV0LWtpbmQ="


def write_stack(dir_: Path, stack: str, doc: dict) -> None:
    (dir_ / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(doc))


ONPREM = {"config": {
    "pipeworks:platform": {"environment": "dev", "cluster": {"kind": "existing", "existing": {"context": "lab", "networkPolicyEnforcement": "calico"}},
                           "nodePools": [
                               {"name": "general", "role": "general", "provisioning": "declared",
                                "capacity": {"cpu": "15", "memory": "60Gi"}, "minSize": 3, "maxSize": 3},
                               {"name": "gpu", "role": "gpu", "provisioning": "declared", "gpuModel": "NVIDIA-L4",
                                "capacity": {"cpu": "30", "memory": "120Gi", "gpu": 2}, "minSize": 1, "maxSize": 1}],
                           # no NVMe pool here: the components that need one are switched off
                           "storage": {"enabled": False}, "kafka": {"enabled": False},
                           "spark": {"enabled": False}, "elk": {"enabled": False}},
    "pipeworks:kubeconfig": {"secure": KUBECONFIG_CIPHERTEXT}}}


def test_plan_writes_every_artifact(tmp_path):
    target = plan_stack("dev", tmp_path)
    assert target == tmp_path / "dev"
    records = json.loads((target / "resources.json").read_text())
    assert all(set(r) == {"urn", "type", "name", "parent", "provider", "dependencies", "custom", "source", "inputs",
                        "secretDigests"} for r in records)
    manifests = sorted((target / "manifests").glob("*.yaml"))
    k8s_objects = [r for r in records if r["custom"] and r["type"].startswith("kubernetes:")
                   and not r["type"].startswith("kubernetes:helm.sh")]
    assert len(manifests) == len(k8s_objects) > 0
    for m in manifests:
        obj = yaml.safe_load(m.read_text())
        assert obj["apiVersion"] and obj["kind"] and obj["metadata"]["name"]
    assert (target / "helm" / "pipeworks-dev-autoscaler-chart.yaml").is_file()
    stack = json.loads((target / "stack.json").read_text())
    assert stack["environment"] == "dev" and stack["policy"]["enforcement"] == "advisory"
    summary = (target / "summary.md").read_text()
    assert "```mermaid" in summary and "| gpu | gpu | managed |" in summary
    # operator custom resources are placed too: Kafka brokers and Ceph OSDs on their NVMe pools
    assert 'g_kafka_nvme_scratch["KafkaNodePool/broker<br/>KafkaNodePool/controller"]' in summary
    assert "g_kafka_nvme_scratch --> p_nvme_scratch" in summary
    assert "g_storage_nvme_osd --> p_nvme_osd" in summary
    assert "(no pool)" not in summary


def test_existing_cluster_secret_kubeconfig_never_written(tmp_path):
    write_stack(tmp_path, "onprem", ONPREM)
    target = plan_stack("onprem", tmp_path / "out", project_dir=tmp_path)
    text = (target / "resources.json").read_text()
    assert KUBECONFIG_CIPHERTEXT not in text
    records = json.loads(text)
    provider = [r for r in records if r["type"] == "pulumi:providers:kubernetes"][0]
    assert provider["inputs"]["kubeconfig"] == "[secret]" and provider["inputs"]["context"] == "lab"
    assert not [r for r in records if r["type"].startswith("aws:")], "an existing cluster creates nothing in AWS"
    pools = json.loads([r for r in records if r["type"] == "kubernetes:core/v1:ConfigMap"][0]["inputs"]["data"]["pools.json"])
    assert {p["name"]: p["provisioning"] for p in pools} == {"general": "declared", "gpu": "declared"}


def test_invalid_stack_registers_nothing(tmp_path):
    bad = {"config": {"pipeworks:platform": {"environment": "prod", "nodePools": [
        {"name": "general", "role": "general", "instanceTypes": ["m6i.large"], "minSize": 3, "maxSize": 1}]}}}
    write_stack(tmp_path, "prod", bad)
    sf = read_stack_file(tmp_path, "prod")
    with pytest.raises(Exception) as e:  # the program itself refuses before registering anything
        run_program("prod", sf)
    assert "maxSize=1 is below minSize=3" in str(e.value)
    monitor = install("pipeworks", "prod", sf.values, sorted(sf.secret_keys))
    with pytest.raises(Exception):
        run_program("prod", sf)
    assert [r.type for r in monitor.registrations if r.type != "pulumi:pulumi:Stack"] == []
    with pytest.raises(InvalidStack, match=r"Pulumi.prod.yaml: pipeworks:platform.nodePools\[0\].maxSize=1 is below minSize=3"):
        plan_stack("prod", tmp_path / "out", project_dir=tmp_path)
    assert not (tmp_path / "out" / "prod").exists()


def test_prod_needs_a_kms_secrets_provider(tmp_path):
    doc = yaml.safe_load((REPO / "Pulumi.prod.yaml").read_text())
    doc.pop("secretsprovider")
    write_stack(tmp_path, "prod", doc)
    with pytest.raises(InvalidStack, match="secretsprovider=unset must be an AWS KMS key in prod"):
        plan_stack("prod", tmp_path / "out", project_dir=tmp_path)


def test_cli_exit_codes_and_clean_errors(tmp_path):
    write_stack(tmp_path, "broken", {"config": {"pipeworks:platform": {"environment": "qa"}, "pipeworks:dbPassword": "x"}})
    env_cwd = dict(cwd=tmp_path, capture_output=True, text=True)
    cli = [sys.executable, "-m", "pipeworks.cli"]
    # The CLI plans the stack files of the repo; point it at the temp dir through a copy of the entry point.
    script = ("import sys; from pathlib import Path; import pipeworks.plan as p; "
              "p.REPO_ROOT = Path.cwd(); from pipeworks.cli import main; sys.exit(main(sys.argv[1:]))")
    r = subprocess.run([sys.executable, "-c", script, "plan", "broken"], **env_cwd)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "Pulumi.broken.yaml: pipeworks:platform.environment=qa is not valid; valid: 'dev' or 'prod'" in r.stderr
    assert "pipeworks:dbPassword is not a known key and looks like a credential" in r.stderr
    r = subprocess.run(cli + ["plan", "nosuchstack", "--out", str(tmp_path)], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 2 and "Pulumi.nosuchstack.yaml: no such stack file" in r.stderr
    r = subprocess.run(cli + ["diff", str(tmp_path / "a"), str(tmp_path / "b")], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 2 and "no such folder" in r.stderr


def test_diff_reports_changes_per_component_without_secrets(tmp_path):
    base = plan_dir("dev")  # the shipped dev plan, shared by the suite (read-only)
    doc = yaml.safe_load((REPO / "Pulumi.dev.yaml").read_text())
    old = doc["config"]["pipeworks:platform"]["nodePools"][3]["maxSize"]  # gpu pool, whatever dev ships
    assert old != 5
    doc["config"]["pipeworks:platform"]["nodePools"][3]["maxSize"] = 5
    write_stack(tmp_path, "dev", doc)
    head = plan_stack("dev", tmp_path / "head", project_dir=tmp_path)
    text = render_diff(base, head)
    assert "<code>cluster:NodePool</code>: 0 to replace, 0 to add, 0 to remove, 1 to change" in text
    assert f"`scalingConfig.maxSize`: `{old}` → `5`" in text
    # pulumi-kubernetes replaces a ConfigMap whose data changes (diff.go forceNew core/v1 ConfigMap)
    assert "**+- replace** `kubernetes:core/v1:ConfigMap` `pipeworks-dev-declared-pools` (forced by `data`)" in text
    assert f"`data.pools.json(json)[name=gpu].maxSize`: `{old}` → `5`" in text
    assert text.count("to change") >= 2 and "**pipeworks plan diff: 1 to replace, 0 to add, 0 to remove, 1 to change.**" in text
    same = render_diff(base, base)
    assert "0 to replace, 0 to add, 0 to remove, 0 to change" in same and "No changes." in same


def test_changed_paths_hides_secret_values():
    paths = changed_paths({"a": {"b": "[secret]", "c": 1}}, {"a": {"b": "[secret]", "c": 2}, "d": [1]})
    assert paths == [("a.c", 1, 2), ("d", None, [1])]


def test_scrub_keeps_the_shape_of_secrets_but_no_value():
    from pulumi.runtime import rpc

    from pipeworks.plan import scrub
    wrapped = {"kind": "Secret", "stringData": rpc.wrap_rpc_secret({"password": "hunter2", "nested": {"n": 3}}),
               "replicas": 2.0, "token": rpc.wrap_rpc_secret("abc")}
    assert scrub(wrapped) == {"kind": "Secret", "stringData": {"password": "[secret]", "nested": {"n": "[secret]"}},
                              "replicas": 2, "token": "[secret]"}
