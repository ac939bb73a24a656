"""`pipeworks plan STACK`: run the real program under Pulumi mocks with the stack file's config and
write what it declares: resources.json (what the engine and an analyzer would see), one manifest per
Kubernetes object, one file per Helm release, stack.json and summary.md."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import rpc

from infra.config import PROJECT, Problem, StackConfig, StackConfigError, load_stack_config
from pipeworks.inputs import prepare_plan_dir
from pipeworks.mocks import Registration, install
from pipeworks.stackfile import StackFile, StackFileError, lint_secrets_provider, read_stack_file, redact

SECRET = "[secret]"
UNKNOWN = "[unknown]"
REPO_ROOT = Path(__file__).resolve().parent.parent


class InvalidStack(Exception):
    """The stack cannot be planned; the message lists every problem and is fit for stderr."""


def digest_key(stack: str, sf: StackFile | None) -> bytes:
    """The HMAC key of a stack's secret digests.

    Why HMAC and this key: a plain SHA-256 of a short secret (a webhook token, a 4-digit PIN) can be
    reversed by trying candidates; keyed, a digest says only "same or different" within one stack. The
    key must be stable per stack so that the base and head plans of a pull request compare, so it is
    derived from the stack's own secrets-provider key material in the stack file (the passphrase
    provider's `encryptionsalt` or the KMS provider's `encryptedkey`, else the provider URL) and the
    stack name; two stacks never share digests. The material is in the repository, so the key is no
    secret against someone holding the repository: that is acceptable because the values hashed offline
    are never decrypted secrets (stack-file secrets reach the program as placeholders tagged with a
    digest of their ciphertext; the rest are values the program composes from committed config)."""
    material = (sf.key_material or sf.secrets_provider or "") if sf else ""
    return hashlib.sha256(f"pipeworks-secret-digest/v1|{stack}|{material}".encode()).digest()


def _digest(key: bytes, value: Any) -> str:
    return hmac.new(key, json.dumps(value, sort_keys=True, default=str).encode(), hashlib.sha256).hexdigest()[:32]


def scrub(value: Any, digests: dict[str, str] | None = None, key: bytes = b"", path: str = "") -> Any:
    """Inputs as an analyzer sees them, with every secret replaced by "[secret]". With `digests`, a
    keyed digest of every secret leaf is recorded under its path (never the value)."""
    if rpc.is_rpc_secret(value):
        return _redact(rpc.unwrap_rpc_secret(value), digests, key, path)
    if value == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, dict):
        return {k: scrub(v, digests, key, _join(path, k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v, digests, key, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the SDK sends every number as a float; Kubernetes wants integers back
    if isinstance(value, pulumi.StringAsset):
        return {"text": value.text}  # a Helm valueYamlFiles document, as the engine receives it
    if isinstance(value, pulumi.FileAsset):
        return {"path": value.path}
    return value


def _join(path: str, k: Any) -> str:
    return f"{path}.{k}" if path else str(k)


def _redact(value: Any, digests: dict[str, str] | None = None, key: bytes = b"", path: str = "") -> Any:
    """A secret keeps its shape (the keys of a Secret's stringData are no secret, and a manifest must stay
    a valid object), every leaf becomes "[secret]"."""
    if rpc.is_rpc_secret(value):
        value = rpc.unwrap_rpc_secret(value)
    if isinstance(value, dict):
        return {k: _redact(v, digests, key, _join(path, k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact(v, digests, key, f"{path}[{i}]") for i, v in enumerate(value)]
    if digests is not None:
        digests[path] = _digest(key, value)
    return SECRET


def validate(project_dir: Path, stack: str) -> tuple[StackFile, StackConfig]:
    """The stack file read safely and its config validated: every problem of the stack (what reading found,
    field and cross-field rules, the policy overrides, the prod secrets provider, the instance table) in one
    InvalidStack."""
    import program  # the program owns the workloads model and its rules against the platform
    from policies.rules import BY_NAME

    try:
        sf = read_stack_file(project_dir, stack)
    except StackFileError as e:
        raise InvalidStack(str(e)) from None
    problems = list(sf.problems)
    cfg = None
    try:
        cfg = load_stack_config(sf.values, sf.secret_keys, stack=stack, file=sf.file,
                                workloads_model=getattr(program, "WORKLOADS_MODEL", None),
                                workload_rules=getattr(program, "workload_rules", None), known_policies=set(BY_NAME))
    except StackConfigError as e:
        problems.extend(e.problems)
    platform_raw = sf.values.get(f"{PROJECT}:platform")
    env = cfg.environment.value if cfg else (platform_raw or {}).get("environment") if isinstance(platform_raw, dict) \
        else None
    problems.extend(lint_secrets_provider(sf, env if isinstance(env, str) else None))
    # on the raw pools, so it is reported in the same run as the loader's problems
    problems.extend(instance_table_problems(platform_raw))
    if problems:
        seen: set[str] = set()
        unique = [p for p in problems if not (p.key in seen or seen.add(p.key))]
        # Each problem's message is redacted, never the file name and key before it: a credential may be any
        # string ("dev", "pipeworks"), and the reader must still see which file and key every line is about.
        raise InvalidStack("\n".join(f"{sf.file}: {p.key}{redact(p.message, sf.credentials)}" for p in unique))
    assert cfg is not None
    return sf, cfg


def instance_table_problems(platform_raw: Any) -> list[Problem]:
    """Instance types the capacity table (policies/rules/instances.py) does not know: the tools could not size
    the pool, and a typo there would reach EKS. Read from the stack file's pools as written (strings only;
    the loader reports wrong shapes), so the problem is listed even when the loader refuses the stack."""
    from policies.rules.instances import known_instance_types

    known = set(known_instance_types())
    pools = platform_raw.get("nodePools") if isinstance(platform_raw, dict) else None
    out: list[Problem] = []
    for i, p in enumerate(pools if isinstance(pools, list) else []):
        types = p.get("instanceTypes") if isinstance(p, dict) else None
        for t in types if isinstance(types, list) else []:
            if isinstance(t, str) and t not in known:
                out.append(Problem(f"{PROJECT}:platform.nodePools[{i}].instanceTypes", f"={t} is not in the instance "
                                   f"table (policies/rules/instances.py); valid: e.g. {', '.join(sorted(known)[:6])} ..."))
    return out


def run_program(stack: str, sf: StackFile) -> list[Registration]:
    """Run program.build() under fresh mocks; returns every registration in order."""
    import program

    monitor = install(PROJECT, stack, sf.values, sorted(sf.secret_keys))

    @pulumi.runtime.test
    def _run():
        program.build()

    _run()
    return monitor.registrations


def _record(r: Registration, key: bytes = b"") -> dict[str, Any]:
    digests: dict[str, str] = {}
    inputs = scrub(r.inputs, digests, key)
    return {"urn": r.urn, "type": r.type, "name": r.name, "parent": r.parent or None,
            "provider": r.provider or None, "dependencies": sorted(set(r.dependencies)), "custom": r.custom,
            "source": r.source, "inputs": inputs, "secretDigests": dict(sorted(digests.items()))}


def is_k8s_object(rec: dict[str, Any]) -> bool:
    t = rec["type"]
    return rec["custom"] and t.startswith("kubernetes:") and not t.startswith("kubernetes:helm.sh/")


def _manifest_name(i: int, obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    parts = [f"{i:04d}", str(obj.get("kind", "Object")).lower(), meta.get("namespace") or "", meta.get("name") or "unnamed"]
    return "-".join(p for p in parts if p).replace("/", "_").replace(":", "_") + ".yaml"


def write_plan(out_dir: Path, stack: str, sf: StackFile, cfg: StackConfig, records: list[dict[str, Any]]) -> Path:
    from pipeworks.summary import render_summary

    target = prepare_plan_dir(out_dir, stack)  # refuses (BadInput) to replace what no plan wrote
    (target / "manifests").mkdir()
    (target / "helm").mkdir()
    (target / "resources.json").write_text(json.dumps(records, indent=1, sort_keys=False) + "\n")
    n = 0
    for rec in records:
        if is_k8s_object(rec):
            n += 1
            obj = rec["inputs"]
            (target / "manifests" / _manifest_name(n, obj)).write_text(yaml.safe_dump(obj, sort_keys=False))
        elif rec["type"] == "kubernetes:helm.sh/v3:Release":
            inp = rec["inputs"]
            release = {"name": inp.get("name", rec["name"]), "namespace": inp.get("namespace"),
                       "chart": inp.get("chart"), "version": inp.get("version"),
                       "repository": (inp.get("repositoryOpts") or {}).get("repo"), "values": inp.get("values", {})}
            files = [yaml.safe_load(f["text"]) for f in inp.get("valueYamlFiles") or [] if "text" in f]
            if files:  # chart defaults the release deletes with a null (merged under `values`)
                release["valueYamlFiles"] = files
            (target / "helm" / f"{rec['name']}.yaml").write_text(yaml.safe_dump(release, sort_keys=False))
    policy = cfg.policy
    stack_info = {
        "stack": stack, "environment": cfg.environment.value, "stackFile": sf.file,
        "secretsProvider": sf.secrets_provider,
        "policy": {"enforcement": policy.enforcement.value if policy.enforcement else None,
                   "overrides": {k: v.value for k, v in policy.overrides.items()},
                   "allowExemptions": policy.allow_exemptions},
    }
    (target / "stack.json").write_text(json.dumps(stack_info, indent=1) + "\n")
    from pipeworks.capacity import capacity_report
    from pipeworks.summary import plan_context

    ctx = plan_context(records)
    capacity = capacity_report(ctx) if ctx.pools is not None else None
    if capacity is not None:  # totals for the summary and the cost line of `pipeworks diff`
        (target / "capacity.json").write_text(json.dumps(capacity.to_json(), indent=1) + "\n")
    (target / "summary.md").write_text(render_summary(stack, cfg, records, capacity, ctx=ctx))
    return target


def plan_stack(stack: str, out: Path | str = "out", project_dir: Path | None = None) -> Path:
    """Plan one stack into OUT/STACK and return that directory. Raises InvalidStack."""
    sf, cfg = validate(project_dir or REPO_ROOT, stack)
    return plan_validated(stack, sf, cfg, out)


def plan_validated(stack: str, sf: StackFile, cfg: StackConfig, out: Path | str = "out") -> Path:
    """Plan a stack whose file `validate` has already read and checked (callers that also need its config)."""
    registrations = run_program(stack, sf)
    # The root Stack is registered once per process by the mocks; it is no resource of the program's.
    # Sorted by URN: registration order depends on how the SDK's event loop interleaves the program's
    # applies, and a plan must be a pure function of the commit and the stack file (byte-identical).
    key = digest_key(stack, sf)
    records = sorted((_record(r, key) for r in registrations if r.type != "pulumi:pulumi:Stack"),
                     key=lambda rec: rec["urn"])
    return write_plan(Path(out), stack, sf, cfg, records)
