"""The real engine end to end: the Pulumi CLI previews, deploys, re-previews and destroys the e2e stack
against a real kube-apiserver, with the three policy packs (tests/e2e/conftest.py sets everything up).

The tests run in file order and share one stack: preview -> up -> preview --expect-no-changes -> export ->
replace-or-update previews of change sets -> destroy. The engines come from scripts/build-engines.sh
(tests/harness/engines.py says what happens when they are missing). What stays under mocks (EKS: the AWS
provider cannot be built from the module proxy) is listed in docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from pipeworks.check import load_plan, policy_pack_config, run_check
from policies.packs import PACK_NAMES
from tests.e2e.environment import E2E, new_stack, plan
from tests.e2e.stack import OFF_IN_E2E, STACK, platform_config
from tests.harness.engines import REPO
from workloads.catalog import REGISTRY

pytestmark = pytest.mark.e2e

PACKS = ("guardrails", "placement", "secrets")
# infra/services/*: the platform's services, none of which needs a cloud
SERVICES = ("Elk", "Gateway", "GpuOperator", "JupyterHub", "Kafka", "Monitoring", "Spark")
K8S_SKIP = ("kubernetes:helm.sh/", "pulumi:providers:")


def policy_args(config_file: Path) -> list[str]:
    args: list[str] = []
    for pack in PACKS:
        args += ["--policy-pack", str(REPO / "policies" / pack), "--policy-pack-config", str(config_file)]
    return args


def urn_name(urn: str) -> str:
    """The resource name: the same under mocks and the real engine (their URN prefixes differ,
    ../shared/reference/harness-facts.md)."""
    return urn.rsplit("::", 1)[-1]


def by_policy(violations: Counter) -> dict[str, list[str]]:
    """{policy: sorted resource names, one per violation}."""
    return {p: sorted(n for (q, n), k in violations.items() if q == p for _ in range(k)) for p, _ in violations}


def e2e_plan(e2e: E2E) -> Path:
    """The offline plan of the e2e stack, made once per session (its stack file does not change; each plan is a
    whole program run in a process of its own)."""
    done = e2e.work / f"plan-{STACK}" / STACK
    return done if (done / "resources.json").is_file() else plan(STACK, e2e.work / f"plan-{STACK}", e2e.project)


def check_report(e2e: E2E, stack: str):
    """`pipeworks check` of the stack: its plan under mocks, judged by the same rules as the packs."""
    plan_dir = e2e_plan(e2e) if stack == STACK else plan(stack, e2e.work / f"plan-{stack}", e2e.project)
    target = load_plan(plan_dir)
    return target, run_check(target)


def write_pack_config(e2e: E2E, stack: str, target) -> Path:
    path = e2e.work / f"policy-config-{stack}.json"
    path.write_text(json.dumps(policy_pack_config(target.enforcement), indent=1))
    return path


def state(e2e: E2E) -> list[dict]:
    out = e2e.cli.run("stack", "export", "--stack", STACK).stdout
    return json.loads(out)["deployment"].get("resources", [])


def k8s_objects(resources: list[dict]) -> list[dict]:
    return [r for r in resources if r["type"].startswith("kubernetes:") and r.get("custom")
            and not r["type"].startswith(K8S_SKIP)]


def missing_keys(expected, live, path: str = "") -> list[str]:
    """Paths of `expected` (the program's inputs) absent from `live` (what the API server stored): fields a
    structural schema pruned, i.e. configuration silently lost."""
    if isinstance(expected, dict):
        if not isinstance(live, dict):
            return [path or "."]
        out = []
        for k, v in expected.items():
            if v is None:
                continue
            if k not in live:
                out.append(f"{path}.{k}")
            else:
                out += missing_keys(v, live[k], f"{path}.{k}")
        return out
    if isinstance(expected, list) and isinstance(live, list) and len(expected) == len(live):
        return [p for i, (a, b) in enumerate(zip(expected, live)) for p in missing_keys(a, b, f"{path}[{i}]")]
    return []


def test_preview_with_the_policy_packs_reports_what_pipeworks_check_reports(e2e: E2E):
    target, report = check_report(e2e, STACK)
    assert not report.mandatory, "the e2e stack itself must pass the mandatory policies"
    # --json with streaming on: one engine event per line (policy events included), as the CLI emits them
    proc = e2e.cli.run("preview", "--diff", "--json", "--stack", STACK,
                       *policy_args(write_pack_config(e2e, STACK, target)),
                       PULUMI_ENABLE_STREAMING_JSON_PREVIEW="true")
    evs = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    errors = [e["diagnosticEvent"]["message"] for e in evs
              if e.get("diagnosticEvent", {}).get("severity") == "error"]
    assert errors == []
    analyzed = {e["policyAnalyzeSummaryEvent"]["policyPackName"] for e in evs if "policyAnalyzeSummaryEvent" in e}
    assert analyzed == set(PACK_NAMES.values()), "every pack analyzed the resources in the real engine"
    engine = Counter((e["policyEvent"]["policyName"], urn_name(e["policyEvent"].get("resourceUrn", "")))
                     for e in evs if "policyEvent" in e)
    offline = Counter((v.policy, urn_name(v.resource)) for v in report.violations)
    assert by_policy(engine) == by_policy(offline)


def test_up_creates_every_object_in_the_api_server(e2e: E2E):
    e2e.cli.run("up", "--yes", "--skip-preview", "--stack", STACK, timeout=1800)
    resources = state(e2e)
    objects = k8s_objects(resources)
    assert len(objects) >= 40, f"only {len(objects)} Kubernetes objects in the state"
    # every component without a cloud dependency and every registered workload is part of the e2e stack
    components = {r["type"] for r in resources if not r.get("custom")}
    assert components >= {f"pipeworks:services:{c}" for c in SERVICES} | {"pipeworks:storage:RookCeph"}
    workloads = {urn_name(r["urn"]) for r in resources if r["type"].startswith("pipeworks:workloads:")}
    assert set(OFF_IN_E2E) <= set(REGISTRY.keys), "OFF_IN_E2E names a workload the registry no longer has"
    assert workloads == set(REGISTRY.keys) - set(OFF_IN_E2E)
    assert not [r["urn"] for r in resources if r["type"].startswith("random:")]
    pruned: dict[str, list[str]] = {}
    for r in objects:
        out = r["outputs"]
        meta = out["metadata"]
        path = e2e.cluster.object_path(out["apiVersion"], out["kind"], meta["name"], meta.get("namespace"))
        live = e2e.cluster.get(path)
        assert live is not None, f"{r['urn']}: the API server has no {path}"
        spec = (r.get("inputs") or {}).get("spec")
        if "." in out["apiVersion"].split("/")[0] and spec is not None:  # a custom resource
            lost = missing_keys(spec, live.get("spec"), "spec")
            if lost:
                pruned[r["urn"]] = lost
    assert pruned == {}, "fields the CRDs' structural schemas pruned (configuration silently lost)"
    # Every release came from the mirror: its stand-in chart's marker object exists.
    releases = [r for r in resources if r["type"] == "kubernetes:helm.sh/v3:Release"]
    assert releases
    for r in releases:
        status = r["outputs"]["status"]
        marker = f"/api/v1/namespaces/{status['namespace']}/configmaps/pipeworks-standin-{status['name']}"
        assert e2e.cluster.get(marker) is not None, f"{r['urn']}: no stand-in marker {marker}"


# Secrets the cluster made during the tests (not the stack): destroy must take them too.
CLUSTER_MADE: list[str] = []


def pod_env(obj: dict) -> dict[str, str]:
    """The first container's plain env of a Job or CronJob."""
    spec = obj["spec"].get("jobTemplate", {}).get("spec", obj["spec"])
    return {e["name"]: e["value"] for e in spec["template"]["spec"]["containers"][0].get("env", [])}


def test_generated_and_copied_secrets_work_under_their_own_rbac(e2e: E2E):
    """What the stack's secret pods do, run as their own ServiceAccounts against the real API server (no kubelet
    runs a pod here), so the Roles the stack declares are checked by the RBAC authorizer: every generator Job
    (infra/secretgen/generate.py) creates its Secret, owned by its ServiceAccount, and a second run keeps the
    value; every Kafka copy CronJob (infra/services/kafka/ca_sync.py) copies the Secret Strimzi's operators
    write (written here by the admin in their place: no operator runs) into the client namespace, only the keys
    it names plus the user name."""
    from infra.secretgen import generate
    from infra.services.kafka import ca_sync

    cluster, ctx = e2e.cluster, e2e.cluster.token_ssl()
    objects = [r["outputs"] for r in k8s_objects(state(e2e))]
    generators = [o for o in objects if o["kind"] == "Job" and o["spec"]["template"]["metadata"].get(
        "labels", {}).get("app.kubernetes.io/name") == "secretgen"]
    assert {pod_env(g)["SECRET_NAME"] for g in generators} >= {"grafana-admin", "jupyterhub-admin"}
    for job in generators:
        env, ns = pod_env(job), job["metadata"]["namespace"]
        account = job["spec"]["template"]["spec"]["serviceAccountName"]
        args = (cluster.server, cluster.service_account_token(ns, account), ctx, ns, env["SECRET_NAME"],
                env["GENERATED_KEYS"].split(","), json.loads(env["LITERAL_DATA"]), env["OWNER_SERVICE_ACCOUNT"],
                int(env["LENGTH"]))
        assert generate.ensure(*args) == 0
        path = f"/api/v1/namespaces/{ns}/secrets/{env['SECRET_NAME']}"
        CLUSTER_MADE.append(path)
        first = cluster.get(path)
        assert set(first["data"]) == {*env["GENERATED_KEYS"].split(","), *json.loads(env["LITERAL_DATA"])}
        assert [o["name"] for o in first["metadata"]["ownerReferences"]] == [account]
        assert generate.ensure(*args) == 0
        assert cluster.get(path)["data"] == first["data"], "a second run changed the generated value"

    copies = [o for o in objects if o["kind"] == "CronJob" and o["spec"]["jobTemplate"]["spec"]["template"][
        "metadata"].get("labels", {}).get("app.kubernetes.io/name") == "kafka-ca-sync"]
    assert any("LITERAL_DATA" in pod_env(c) for c in copies), "no KafkaUser credentials are copied anywhere"
    for job in copies:
        env, ns = pod_env(job), job["metadata"]["namespace"]
        keys = tuple(env.get("KEYS", "ca.crt").split(","))
        literal = json.loads(env.get("LITERAL_DATA") or "{}")
        source = f"/api/v1/namespaces/{env['SOURCE_NAMESPACE']}/secrets/{env['SOURCE_SECRET']}"
        if cluster.get(source) is None:  # what the operator writes (with a key the copy must leave behind)
            data = {k: base64.b64encode(f"e2e {k}".encode()).decode() for k in (*keys, "not-copied")}
            cluster.send("POST", source.rsplit("/", 1)[0], {"apiVersion": "v1", "kind": "Secret", "metadata": {
                "name": env["SOURCE_SECRET"], "namespace": env["SOURCE_NAMESPACE"]}, "data": data})
        account = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["serviceAccountName"]
        assert ca_sync.sync(cluster.server, cluster.service_account_token(ns, account), ctx, env["SOURCE_NAMESPACE"],
                            env["SOURCE_SECRET"], env["TARGET_NAMESPACE"], env["TARGET_SECRET"], keys, literal) == 0
        target = f"/api/v1/namespaces/{env['TARGET_NAMESPACE']}/secrets/{env['TARGET_SECRET']}"
        CLUSTER_MADE.append(target)
        copied = cluster.get(target)["data"]
        assert copied == {**{k: base64.b64encode(v.encode()).decode() for k, v in literal.items()},
                          **{k: cluster.get(source)["data"][k] for k in keys}}


def test_second_preview_has_no_changes(e2e: E2E):
    proc = e2e.cli.run("preview", "--expect-no-changes", "--diff", "--stack", STACK, check=False)
    assert proc.returncode == 0, f"perpetual diff:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"


def test_stack_export_and_stack_file_hold_no_plaintext_secret(e2e: E2E):
    export = e2e.cli.run("stack", "export", "--stack", STACK).stdout
    stack_file = (e2e.project / f"Pulumi.{STACK}.yaml").read_text()
    kubeconfig = yaml.safe_load(e2e.kubeconfig)
    key_b64 = kubeconfig["users"][0]["user"]["client-key-data"]
    key_pem = base64.b64decode(key_b64).decode()
    for text, where in ((export, "stack export"), (stack_file, f"Pulumi.{STACK}.yaml")):
        for needle in (key_b64, key_pem.splitlines()[1], "client-key-data"):
            assert needle not in text, f"{where} holds the kubeconfig's private key in plain text"
    provider = [r for r in json.loads(export)["deployment"]["resources"]
                if r["type"] == "pulumi:providers:kubernetes"]
    assert provider and provider[0]["inputs"]["kubeconfig"].get("ciphertext"), "the kubeconfig is not a secret"


def changed_program(e2e: E2E, directory: Path, changes) -> "PulumiCli":
    """The same stack (its state, its stack file with the encrypted kubeconfig) run from another program
    directory: the e2e program with `changes` applied by a resource transform."""
    from tests.e2e.stack import make_project
    from tests.e2e.verdicts import transform_main
    from tests.harness.engines import PulumiCli

    directory.mkdir()
    (directory / "__main__.py").write_text(transform_main(changes))
    make_project(directory)
    (directory / f"Pulumi.{STACK}.yaml").write_text((e2e.project / f"Pulumi.{STACK}.yaml").read_text())
    return PulumiCli(e2e.engines, directory, e2e.cli.backend, e2e.cli.passphrase, e2e.cli.log_dir)


def test_offline_replace_or_update_verdicts_match_the_engines_preview(e2e: E2E, tmp_path: Path):
    """The change sets of tests/e2e/verdicts.py (selector, Job template, ConfigMap data -> replace; replicas,
    labels, annotations -> update; StorageClass parameters -> replace), previewed (never deployed) against the
    deployed stack: per resource, `pipeworks diff`'s verdict over the offline plans equals
    `pulumi preview --diff`'s (pulumi-kubernetes v4.34.2 provider/pkg/provider/diff.go and its server-side dry
    run), except the disagreements recorded in EXPECTED_DISAGREEMENTS with their reason; a replacement only the
    API server knows about makes the engine's preview fail, as recorded at API_SERVER_ONLY."""
    from tests.e2e.verdicts import API_SERVER_ONLY, CHANGES, EXPECTED_DISAGREEMENTS, engine_verdicts, offline_verdicts

    records = json.loads((e2e_plan(e2e) / "resources.json").read_text())
    offline = offline_verdicts(records, CHANGES)
    assert set(offline) == set(CHANGES), "every change of the set is one changed resource offline"
    proc = changed_program(e2e, tmp_path / "changed", CHANGES).run(
        "preview", "--diff", "--json", "--stack", STACK, PULUMI_ENABLE_STREAMING_JSON_PREVIEW="true")
    engine = engine_verdicts(proc.stdout)
    disagreements = {k: (offline.get(k), engine.get(k)) for k in sorted(set(offline) | set(engine))
                     if offline.get(k) != engine.get(k)}
    expected = {k: (o, e) for k, (o, e, _why) in EXPECTED_DISAGREEMENTS.items()}
    assert disagreements == expected, f"offline {offline}\nengine {engine}"
    assert sorted(set(offline.values())) == ["replace", "update"], "the set exercises both verdicts"

    offline = offline_verdicts(records, API_SERVER_ONLY)
    assert offline == dict.fromkeys(API_SERVER_ONLY, "replace")
    proc = changed_program(e2e, tmp_path / "api-server-only", API_SERVER_ONLY).run(
        "preview", "--diff", "--json", "--stack", STACK, check=False, PULUMI_ENABLE_STREAMING_JSON_PREVIEW="true")
    assert proc.returncode != 0, "the engine previews a replacement only the API server knows about cleanly now"
    assert engine_verdicts(proc.stdout) == offline
    errors = [(e["diagnosticEvent"].get("urn", ""), e["diagnosticEvent"]["message"])
              for e in map(json.loads, filter(lambda line: line.startswith("{"), proc.stdout.splitlines()))
              if e.get("diagnosticEvent", {}).get("severity") == "error"]
    for _type, name in API_SERVER_ONLY:
        assert any(urn_name(urn) == name and "was not successfully created by the Kubernetes API server" in m
                   and "is invalid" in m for urn, m in errors), errors


# One GPU pod that forgets the GPU toleration: added to the e2e program by MUTATED_MAIN, checked offline as a
# manifest beside the e2e stack's plan.
GPU_POD_WITHOUT_TOLERATION = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "gpu-without-toleration", "namespace": "spark"},
    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "gpu-without-toleration"}}, "template": {
        "metadata": {"labels": {"app": "gpu-without-toleration"}},
        "spec": {"nodeSelector": {"nvidia.com/gpu.present": "true"},
                 "containers": [{"name": "cuda", "image": "nvcr.io/nvidia/cuda:13.0.1-base-ubuntu24.04",
                                 "resources": {"limits": {"nvidia.com/gpu": 1}}}]}}},
}
MUTATED_MAIN = f"""\
\"\"\"The e2e program plus one GPU pod that forgets the GPU toleration (tests/e2e/test_engine.py).\"\"\"
import json

import pulumi
import pulumi_kubernetes as k8s

import program

providers = []


def capture(args):
    if args.type_ == "pulumi:providers:kubernetes":
        providers.append(args.resource)


pulumi.runtime.register_stack_transformation(capture)
program.build()
obj = json.loads({json.dumps(json.dumps(GPU_POD_WITHOUT_TOLERATION))})
k8s.apps.v1.Deployment(obj["metadata"]["name"], metadata=obj["metadata"], spec=obj["spec"],
                       opts=pulumi.ResourceOptions(provider=providers[0]))
"""


def offline_manifest_violations(e2e: E2E, plan_dir: Path, obj: dict, environment: str) -> list[dict]:
    """`pipeworks check --manifests` of one object, with the e2e stack's declared node pools."""
    records = json.loads((plan_dir / "resources.json").read_text())
    pools = next(r["inputs"]["data"]["pools.json"] for r in records if r["type"] == "kubernetes:core/v1:ConfigMap"
                 and "pools.json" in (r["inputs"].get("data") or {}))
    (e2e.work / "pools.json").write_text(pools)
    manifest = e2e.work / "mutation.yaml"
    manifest.write_text(yaml.safe_dump(obj))
    proc = subprocess.run([str(REPO / ".venv" / "bin" / "pipeworks"), "check", "--manifests", str(manifest),
                           "--pools", str(e2e.work / "pools.json"), "--environment", environment,
                           "--format", "json"], capture_output=True, text=True)
    return json.loads(proc.stdout)


def test_policy_violations_of_a_mutated_program_match_offline_and_mandatory_ones_block(e2e: E2E, tmp_path: Path):
    """The e2e program plus a GPU pod without the GPU toleration: under the stack's advisory config the engine's
    violations equal `pipeworks check` (the stack's plan plus that object as a manifest), policy by policy;
    under mandatory enforcement the placement pack's gpu-placement message stops the preview."""
    from tests.e2e.stack import make_project
    from tests.harness.engines import PulumiCli

    project = tmp_path / "mutated"
    project.mkdir()
    (project / "__main__.py").write_text(MUTATED_MAIN)
    make_project(project)
    cli = PulumiCli(e2e.engines, project, e2e.cli.backend, e2e.cli.passphrase, e2e.cli.log_dir)
    stack = "e2e-mutated"
    new_stack(cli, stack, platform_config(e2e.mirror), e2e.kubeconfig)
    target, report = check_report(e2e, STACK)
    plan_dir = e2e_plan(e2e)
    extra = offline_manifest_violations(e2e, plan_dir, GPU_POD_WITHOUT_TOLERATION, target.enforcement.environment)
    assert {v["policy"] for v in extra} >= {"gpu-placement"}
    offline = Counter([(v.policy, urn_name(v.resource)) for v in report.violations]
                      + [(v["policy"], v["resource"].rsplit("/", 1)[-1]) for v in extra])

    proc = cli.run("preview", "--json", "--stack", stack, *policy_args(write_pack_config(e2e, stack, target)),
                   PULUMI_ENABLE_STREAMING_JSON_PREVIEW="true")
    evs = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    engine = Counter((e["policyEvent"]["policyName"], urn_name(e["policyEvent"].get("resourceUrn", "")))
                     for e in evs if "policyEvent" in e)
    assert by_policy(engine) == by_policy(offline)

    mandatory = dataclasses.replace(target.enforcement, default="mandatory", overrides={})
    config = tmp_path / "mandatory.json"
    config.write_text(json.dumps(policy_pack_config(mandatory), indent=1))
    proc = cli.run("preview", "--stack", stack, *policy_args(config), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-4000:]
    assert "gpu-placement" in out and "does not tolerate the GPU taint nvidia.com/gpu=true:NoSchedule" in out, \
        out[-4000:]
    assert "mandatory" in out
    cli.run("stack", "rm", "--yes", "--force", "--stack", stack)


def test_resource_without_its_provider_fails_the_preview(e2e: E2E, tmp_path: Path):
    """Pulumi.yaml as written (pulumi:disable-default-providers: ["*"]) is accepted by the real CLI (the previews
    above) and refuses a resource that forgets its explicit provider."""
    project = tmp_path / "forgetful"
    project.mkdir()
    (project / "Pulumi.yaml").write_text((REPO / "Pulumi.yaml").read_text().replace("main: __main__.py\n", ""))
    (project / ".venv").symlink_to(REPO / ".venv")
    (project / "__main__.py").write_text(
        "import pulumi_kubernetes as k8s\n\n"
        "k8s.core.v1.ConfigMap('forgetful', metadata={'name': 'forgetful', 'namespace': 'default'})\n")
    from tests.harness.engines import PulumiCli

    cli = PulumiCli(e2e.engines, project, e2e.cli.backend, e2e.cli.passphrase, e2e.cli.log_dir)
    cli.run("stack", "init", "forgetful", "--secrets-provider", "passphrase")
    proc = cli.run("preview", "--stack", "forgetful", check=False)
    assert proc.returncode != 0
    assert "Default provider for 'kubernetes' disabled" in proc.stdout + proc.stderr
    cli.run("stack", "rm", "--yes", "--force", "--stack", "forgetful")


def test_destroy_leaves_no_object_of_ours(e2e: E2E):
    resources = state(e2e)
    objects = [(r["urn"], r["outputs"]) for r in k8s_objects(resources)]
    namespaces = [o["metadata"]["name"] for _, o in objects if o["kind"] == "Namespace"]
    assert objects and namespaces
    # REST paths first: discovery no longer knows a custom kind once its CRD is gone (and neither do we then
    # find its objects: a 404 on the path is what "gone" means for both)
    paths = {urn: e2e.cluster.object_path(o["apiVersion"], o["kind"], o["metadata"]["name"],
                                          o["metadata"].get("namespace")) for urn, o in objects}
    e2e.cli.run("destroy", "--yes", "--skip-preview", "--stack", STACK, timeout=1800)
    assert k8s_objects(state(e2e)) == []
    # Deleting a namespace returns at once; the controller-manager's namespace controller then empties and
    # removes it (readiness waits are off for this stack), so give it a bounded time.
    deadline = time.monotonic() + 180
    while True:
        left = sorted(urn for urn, path in [*paths.items(), *((p, p) for p in CLUSTER_MADE)]
                      if e2e.cluster.get(path) is not None)
        if not left or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert left == [], "objects the stack created are still in the API server"
    # The stand-in charts' CRDs went with their releases.
    crds = e2e.cluster.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")["items"]
    ours = [c["metadata"]["name"] for c in crds if c["metadata"].get("labels", {}).get("app.kubernetes.io/managed-by")
            == "Helm" or (c["metadata"].get("annotations") or {}).get("meta.helm.sh/release-name")]
    assert ours == []
