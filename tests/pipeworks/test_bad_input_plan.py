"""`pipeworks plan`: every class of bad stack file (issue 9) ends in exit 2 with a message naming the stack
file and the key, never a traceback; `--out` never deletes or replaces what no plan wrote.

Each row is one bad input. Stack files are written to a temporary project folder and planned in process
(the same entry point as the console script); a few rows run in a fresh process as well.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeworks.inputs import PLAN_MARKER
from tests.pipeworks.badinput import (CIPHERTEXT, DEV, PROD, assert_refused, mutated, platform, run, run_process,
                                    snapshot, use_project)

F = "Pulumi.dev.yaml"
K = "pipeworks:platform"

# --- unreadable stack files: raw text -------------------------------------------------------------------

BOMB = "config:\n  pipeworks:platform:\n    tags:\n      a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"      {chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8))
DEV_TEXT = (Path(__file__).resolve().parents[2] / "Pulumi.dev.yaml").read_text()

RAW: list[tuple[str, bytes, tuple[str, ...]]] = [
    ("alias-bomb", BOMB.encode(), (F, "aliases", "alias bomb")),
    ("deep-nesting", ("config:\n  pipeworks:platform: " + "[" * 5000 + "]" * 5000 + "\n").encode(),
     (F, "nested deeper than")),
    ("not-utf8", DEV_TEXT.encode().replace(b"environment", b"\xff\xfeenvironment", 1), (F, "not UTF-8", "line")),
    ("latin1", "config:\n  pipeworks:platform: {environment: d\xe9v}\n".encode("latin-1"), (F, "not UTF-8")),
    ("duplicate-key", DEV_TEXT.replace("    environment: dev\n", "    environment: dev\n    environment: prod\n").encode(),
     (F, "duplicate key 'environment'")),
    ("duplicate-top-key", (DEV_TEXT + "config:\n  pipeworks:workloads: {}\n").encode(), (F, "duplicate key 'config'")),
    ("non-string-key", DEV_TEXT.replace("    environment: dev\n", "    environment: dev\n    1: one\n").encode(),
     (F, "key '1' is not a string")),
    ("bool-key", DEV_TEXT.replace("    environment: dev\n", "    environment: dev\n    true: yes\n").encode(),
     (F, "key 'true' is not a string")),
    ("huge-file", (DEV_TEXT + "# " + "x" * (2 * 2**20) + "\n").encode(), (F, "larger than")),
    ("not-yaml", b"config: [\n", (F, "not valid YAML")),
    ("top-level-list", b"- config\n", (F, "must be a mapping")),
    ("config-not-mapping", b"config: [1, 2]\n", (F, "`config` must be a mapping")),
    ("secretsprovider-not-string", ("secretsprovider: [a]\n" + DEV_TEXT).encode(), (F, "secretsprovider")),
    ("tab-indent", b"config:\n\tpipeworks:platform: {}\n", (F, "not valid YAML")),
]


@pytest.mark.parametrize("name,data,expect", RAW, ids=[r[0] for r in RAW])
def test_unreadable_stack_file(name: str, data: bytes, expect: tuple[str, ...], tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / F).write_bytes(data)
    use_project(monkeypatch, tmp_path)
    assert_refused(run(["plan", "dev", "--out", str(tmp_path / "out")], capsys), *expect)
    assert not (tmp_path / "out").exists()  # nothing half-created


# --- valid YAML, invalid stack: mutations of the real dev file ------------------------------------------

def pool(i: int, **kw: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: platform(d)["nodePools"][i].update(kw)


def section(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: platform(d).__setitem__(name, value)


def top(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["config"].__setitem__(key, value)


def fraud(**kw: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["config"]["pipeworks:workloads"]["fraud"].update(kw)


def both(*changes: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def apply(d: dict[str, Any]) -> None:
        for c in changes:
            c(d)
    return apply


def drop_pools(*names: str) -> Callable[[dict[str, Any]], None]:
    return lambda d: platform(d).__setitem__("nodePools", [p for p in platform(d)["nodePools"] if p["name"] not in names])


KUBECONFIG = {"secure": CIPHERTEXT}
EXISTING_NO_NVME = both(
    section("cluster", {"kind": "existing", "existing": {"context": "lab", "networkPolicyEnforcement": "calico"}}),
    lambda d: platform(d).__setitem__("nodePools", [
        {"name": "general", "role": "general", "provisioning": "declared", "capacity": {"cpu": "15", "memory": "60Gi"},
         "minSize": 3, "maxSize": 3}]),
    section("storage", {"enabled": False}), section("spark", {"enabled": False}), section("elk", {"enabled": False}),
    top("pipeworks:kubeconfig", KUBECONFIG), fraud(enabled=False))

MUTATIONS: list[tuple[str, Callable[[dict[str, Any]], None], tuple[str, ...]]] = [
    # credentials: secure: must be ciphertext, and no credential by value anywhere
    ("secure-plaintext-url", top("pipeworks:alertWebhookUrl", {"secure": "https://hooks.example.com/x"}),
     ("pipeworks:alertWebhookUrl.secure", "not ciphertext")),
    ("secure-akid-looks-base64", top("pipeworks:kubeconfig", {"secure": "AKIAIOSFODNN7EXAMPLE+xyz"}),
     ("pipeworks:kubeconfig.secure", "not ciphertext")),
    ("secure-empty", top("pipeworks:kubeconfig", {"secure": ""}), ("pipeworks:kubeconfig.secure", "an empty string")),
    ("secure-number", top("pipeworks:kubeconfig", {"secure": 12345}), ("pipeworks:kubeconfig.secure", "int")),
    ("secure-nested-plain", section("tags", {"team": {"secure": "plain words here"}}), (f"{K}.tags.team.secure",)),
    ("akid-in-tags", section("tags", {"owner": "AKIAIOSFODNN7EXAMPLE"}), (f"{K}.tags.owner", "AWS access key id")),
    ("url-password-in-tags", section("tags", {"repo": "https://bob:hunter2@git.example.com/x.git"}),
     (f"{K}.tags.repo", "password embedded in a URL")),
    ("pem-in-workloads", fraud(namespace="-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----"),
     ("pipeworks:workloads.fraud.namespace", "PEM private key")),
    ("github-token-in-pulumi-tags", top("pulumi:tags", {"ci": "ghp_" + "a1B2" * 9}),
     ("pulumi:tags.ci", "known issuer prefix")),
    ("slack-webhook-in-tags", section("tags", {"alerts": "https://hooks.slack.com/services/T0AB/B0CD/" + "x" * 24}),
     (f"{K}.tags.alerts",)),
    ("credential-in-a-mistyped-field", section("environment", "https://bob:hunter2@example.com/"),
     (f"{K}.environment contains a password embedded in a URL",)),
    ("credential-named-key-plain", top("pipeworks:dbPassword", "hunter2"),
     ("pipeworks:dbPassword", "looks like a credential")),
    ("credential-nested-name", section("kafka", {"adminPassword": "hunter2"}), (f"{K}.kafka.adminPassword",)),
    # cross-field rules (each used to end in a traceback with exit 1)
    ("fraud-without-storage", section("storage", {"enabled": False}),
     ("pipeworks:workloads.fraud.enabled=true needs pipeworks:platform.storage.enabled",)),
    ("fraud-without-kafka", section("kafka", {"enabled": False}),
     ("pipeworks:workloads.fraud.enabled=true needs pipeworks:platform.kafka.enabled",)),
    ("no-raw-nvme-pool", drop_pools("nvme-osd"), (f"{K}.storage.enabled=true needs an nvme node pool with nvmeMode: raw",)),
    ("no-nvme-pools", drop_pools("nvme-osd", "nvme-scratch"),
     (f"{K}.storage.enabled", f"{K}.kafka.enabled", f"{K}.spark.enabled", f"{K}.elk.enabled")),
    ("existing-cluster-no-nvme-for-kafka", EXISTING_NO_NVME, (f"{K}.kafka.enabled=true needs an nvme node pool",)),
    ("spark-worker-memory-too-small",
     section("spark", {"standalone": {"workerResources": {"cpu": "1", "memory": "1Gi"}}}),
     (f"{K}.spark.standalone.workerResources.memory=1Gi",)),
    ("gpu-type-in-general-pool", pool(0, instanceTypes=["g5.xlarge", "m6i.xlarge"]),
     (f"{K}.nodePools[0].instanceTypes=g5.xlarge is a GPU instance type in a general pool",)),
    ("fraud-namespace-of-kafka", fraud(namespace="kafka"), ("pipeworks:workloads.fraud.namespace=kafka",)),
    # types and values
    ("minSize-true", pool(0, minSize=True), (f"{K}.nodePools[0].minSize=true is a boolean; valid: a number",)),
    ("maxSize-false", pool(1, maxSize=False), (f"{K}.nodePools[1].maxSize=false is a boolean",)),
    ("gpu-capacity-true", lambda d: platform(d)["nodePools"][4]["capacity"].update(gpu=True),
     (f"{K}.nodePools[4].capacity.gpu=true is a boolean",)),
    ("maxSize-string", pool(0, maxSize="three"), (f"{K}.nodePools[0].maxSize",)),
    ("minSize-negative", pool(0, minSize=-1), (f"{K}.nodePools[0].minSize=-1",)),
    ("maxSize-below-min", pool(0, minSize=4, maxSize=2), (f"{K}.nodePools[0].maxSize=2 is below minSize=4",)),
    ("instance-type-malformed", pool(0, instanceTypes=["zz9"]), (f"{K}.nodePools[0].instanceTypes",)),
    ("instance-type-not-in-table", pool(0, instanceTypes=["m6i.48xlarge", "m6i.xlarge"]),
     (f"{K}.nodePools[0].instanceTypes=m6i.48xlarge is not in the instance table",)),
    ("unknown-time-zone", fraud(trainer={"timeZone": "Mars/Olympus_Mons"}),
     ("pipeworks:workloads.fraud.trainer.timeZone=Mars/Olympus_Mons is not an IANA time zone",)),
    ("override-unknown-policy", top("pipeworks:policy", {"overrides": {"pod-requests-limits": "advisory"}}),
     ("pipeworks:policy.overrides.pod-requests-limits names no policy of the packs; valid:", "container-probes")),
    ("override-bad-level", top("pipeworks:policy", {"overrides": {"container-probes": "sometimes"}}),
     ("pipeworks:policy.overrides.container-probes",)),
    ("environment-prod-in-dev-stack", section("environment", "prod"),
     (f"{K}.environment=prod but the stack is named 'dev'",)),
    ("environment-unknown", section("environment", "qa"), (f"{K}.environment=qa is not valid",)),
    ("unknown-top-key", top("pipeworks:colour", "blue"), ("pipeworks:colour is not a known key",)),
    ("foreign-namespace", top("aws:region", "us-east-1"), ("aws:region is not a pipeworks setting",)),
    ("platform-not-object", top(K, "not json"), (f"{K} must be an object",)),
    ("nodePools-not-list", section("nodePools", {"name": "general"}), (f"{K}.nodePools",)),
    ("tags-not-strings", section("tags", {"cost-centre": 42}), (f"{K}.tags.cost-centre=42",)),
    ("unknown-nested-key", section("kafka", {"brokerz": 3}), (f"{K}.kafka.brokerz is not a known key",)),
    ("pool-name-invalid", pool(0, name="General_Pool"), (f"{K}.nodePools[0].name",)),
]


@pytest.mark.parametrize("name,change,expect", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_invalid_stack(name: str, change: Callable[[dict[str, Any]], None], expect: tuple[str, ...], tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / F).write_text(yaml.safe_dump(mutated(DEV, change), sort_keys=False))
    use_project(monkeypatch, tmp_path)
    r = run(["plan", "dev", "--out", str(tmp_path / "out")], capsys)
    assert_refused(r, *(f"{F}: {e}" if e.startswith(("pipeworks:", "pulumi:", "aws:")) else e for e in expect))
    assert not (tmp_path / "out").exists()
    for secret in ("hunter2", "AKIAIOSFODNN7EXAMPLE", "MIIB", "ghp_", "https://hooks.example.com/x"):
        assert secret not in r.err  # a refusal names the key, never echoes a credential


def test_every_problem_in_one_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Field rules, cross-field rules, the policy overrides and the prod secrets-provider rule: all of them in
    one run, not one per run."""
    doc = mutated(PROD, both(pool(0, minSize=True), section("storage", {"enabled": False}),
                             top("pipeworks:policy", {"overrides": {"no-such-policy": "advisory"}}),
                             section("tags", {"k": "AKIAIOSFODNN7EXAMPLE"})))
    doc["secretsprovider"] = "passphrase"
    (tmp_path / "Pulumi.prod.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    use_project(monkeypatch, tmp_path)
    r = run(["plan", "prod", "--out", str(tmp_path / "out")], capsys)
    assert_refused(r, "Pulumi.prod.yaml: pipeworks:platform.nodePools[0].minSize=true is a boolean",
                   "Pulumi.prod.yaml: pipeworks:workloads.fraud.enabled=true needs pipeworks:platform.storage.enabled",
                   "Pulumi.prod.yaml: pipeworks:policy.overrides.no-such-policy names no policy",
                   "Pulumi.prod.yaml: pipeworks:platform.tags.k contains an AWS access key id",
                   "Pulumi.prod.yaml: secretsprovider=passphrase must be an AWS KMS key in prod")


@pytest.mark.parametrize("credential", ["dev", "Pulumi", "yaml", "pipeworks"])
def test_a_credential_equal_to_part_of_the_file_name_keeps_every_line_naming_the_file(
        credential: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Hypothesis found a stack whose plaintext credential was "dev": redacting it everywhere turned
    "Pulumi.dev.yaml: ..." into "Pulumi.[redacted].yaml: ...". Only each problem's message is redacted."""
    doc = mutated(DEV, both(top("pipeworks:dbPassword", credential), pool(0, minSize=True)))
    (tmp_path / F).write_text(yaml.safe_dump(doc, sort_keys=False))
    use_project(monkeypatch, tmp_path)
    r = run(["plan", "dev", "--out", str(tmp_path / "out")], capsys)
    assert_refused(r, f"{F}: pipeworks:dbPassword", f"{F}: pipeworks:platform.nodePools[0].minSize=true")
    problem_lines = [ln for ln in r.err.splitlines() if ln.startswith(f"{F}: ")]
    assert len(problem_lines) >= 2
    # the key stays readable; what follows it never repeats the credential
    assert all(credential not in ln.split(" ", 2)[-1] for ln in problem_lines), r.err


def test_credential_by_value_never_reaches_resources_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    (tmp_path / F).write_text(yaml.safe_dump(mutated(DEV, section("tags", {"owner": "AKIAIOSFODNN7EXAMPLE"}))))
    use_project(monkeypatch, tmp_path)
    r = run(["plan", "dev", "--out", str(out)], capsys)
    assert_refused(r, "pipeworks:platform.tags.owner")
    assert "AKIAIOSFODNN7EXAMPLE" not in r.err + r.out  # the message names the key, never echoes the value
    assert not out.exists()


def test_environment_mismatch_on_purpose_is_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeworks.plan import validate

    doc = mutated(PROD, lambda d: platform(d).update(environmentMismatchIntended=True))
    (tmp_path / "Pulumi.prod-like-dev.yaml").write_text(yaml.safe_dump(doc))
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump(doc))
    _, cfg = validate(tmp_path, "dev")
    assert cfg.environment.value == "prod"
    doc = mutated(PROD, lambda d: None)
    (tmp_path / "Pulumi.dev-eu.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(Exception, match="environment=prod but the stack is named 'dev-eu'"):
        validate(tmp_path, "dev-eu")


# --- plan --out: never delete what is not an earlier plan ---------------------------------------------------

def _setup_out(tmp_path: Path, kind: str) -> tuple[Path, Path]:
    """(--out, the folder to watch) for one way an output folder can hold someone else's files."""
    out = tmp_path / "out"
    if kind == "docs-folder":  # `plan docs --out .` once deleted docs/ARCHITECTURE.md
        (out / "dev").mkdir(parents=True)
        (out / "dev" / "ARCHITECTURE.md").write_text("# keep me\n")
        return out, out
    if kind == "out-is-file":
        out.write_text("a file\n")
        return out, tmp_path
    if kind == "stack-is-file":
        out.mkdir()
        (out / "dev").write_text("a file named like the stack\n")
        return out, out
    if kind == "stack-is-symlink":
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        (elsewhere / "precious.txt").write_text("keep\n")
        (elsewhere / PLAN_MARKER).write_text("a marker does not make a symlink a plan\n")
        out.mkdir()
        os.symlink(elsewhere, out / "dev")
        return out, tmp_path
    if kind == "marked-with-foreign-file":
        (out / "dev" / "manifests").mkdir(parents=True)
        (out / "dev" / PLAN_MARKER).write_text("")
        (out / "dev" / "notes.txt").write_text("mine\n")
        return out, out
    if kind == "nested-user-folder":
        (out / "dev" / "manifests").mkdir(parents=True)
        (out / "dev" / "manifests" / "handwritten.yaml").write_text("kind: ConfigMap\n")
        return out, out
    raise AssertionError(kind)


OUT_CASES = [("docs-folder", "was not written by `pipeworks plan`"), ("out-is-file", "is a file, not a folder"),
             ("stack-is-file", "is a file, not an earlier plan"), ("stack-is-symlink", "is a symbolic link"),
             ("marked-with-foreign-file", "holds files a plan does not write (notes.txt)"),
             ("nested-user-folder", "was not written by `pipeworks plan`")]


@pytest.mark.parametrize("kind,expect", OUT_CASES, ids=[c[0] for c in OUT_CASES])
def test_plan_out_never_replaces_foreign_files(kind: str, expect: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out, watch = _setup_out(tmp_path, kind)
    before = snapshot(watch)
    r = run(["plan", "dev", "--out", str(out)], capsys)
    assert_refused(r, "--out", expect)
    assert snapshot(watch) == before  # nothing outside the plan touched, nothing deleted


def test_plan_replaces_only_an_earlier_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    (tmp_path / "sibling.txt").write_text("untouched\n")
    assert run(["plan", "dev", "--out", str(out)], capsys).code == 0
    assert (out / "dev" / PLAN_MARKER).is_file()
    (out / "dev" / "manifests" / "stale.yaml").write_text("kind: Stale\n")  # an entry of the plan's own folders
    assert run(["plan", "dev", "--out", str(out)], capsys).code == 0
    # replaced as a whole: the stale manifest gone, the plan and its mark written again
    assert not (out / "dev" / "manifests" / "stale.yaml").exists()
    assert (out / "dev" / PLAN_MARKER).is_file() and (out / "dev" / "resources.json").is_file()
    assert (tmp_path / "sibling.txt").read_text() == "untouched\n"


ARGS = [(["plan", "../escape"], "stack name '../escape' is not valid"),
        (["plan", ".hidden"], "is not valid"),
        (["plan", "dev", "--bogus"], "unrecognized arguments: --bogus"),
        (["plan", "dev", "--ou", "x"], "unrecognized arguments"),  # no silent abbreviation
        (["plan"], "the following arguments are required: stack"),
        (["plan", "nosuchstack"], "Pulumi.nosuchstack.yaml: no such stack file")]


@pytest.mark.parametrize("argv,expect", ARGS, ids=[" ".join(a[0]) for a in ARGS])
def test_plan_bad_arguments(argv: list[str], expect: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.MonkeyPatch.context() as m:
        m.chdir(tmp_path)
        assert_refused(run(argv, capsys), expect)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["alias-bomb", "not-utf8", "duplicate-key"])
def test_in_a_fresh_process(name: str, tmp_path: Path) -> None:
    """The console entry point as a user runs it: exit 2, no traceback, the file named."""
    data = dict((r[0], r[1]) for r in RAW)[name]
    (tmp_path / F).write_bytes(data)
    r = run_process(["plan", "dev", "--out", str(tmp_path / "out")], tmp_path)
    assert_refused(r, F)
    (tmp_path / F).write_text(yaml.safe_dump(mutated(DEV, section("storage", {"enabled": False}))))
    r = run_process(["plan", "dev", "--out", str(tmp_path / "out")], tmp_path)
    assert_refused(r, f"{F}: pipeworks:workloads.fraud.enabled=true needs")


@pytest.mark.parametrize("raw,expect", [
    ('{"environment": "dev", "environment": "prod"}', 'pipeworks:platform has the key "environment" twice'),
    ("[" * 5000 + "]" * 5000, "pipeworks:platform must be an object"),
    ('{"environment": "dev", "nodePools": [{"name": "general", "minSize": true}]}', "nodePools[0].minSize=true"),
])
def test_engine_json_objects_are_read_safely(raw: str, expect: str) -> None:
    """Under `pulumi up` the engine hands object values to the program as JSON text: the loader refuses
    duplicate keys and absurd nesting there as the stack-file reader does."""
    from infra.config import StackConfigError, load_stack_config

    with pytest.raises(StackConfigError) as e:
        load_stack_config({"pipeworks:platform": raw}, set(), stack="dev")
    assert f"Pulumi.dev.yaml: {expect}" in str(e.value) or expect in str(e.value)
    assert all(line.startswith("Pulumi.dev.yaml: ") for line in str(e.value).splitlines())
