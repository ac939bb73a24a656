"""Cost of the offline policy check: on the prod plan, and on 1,000 generated Kubernetes manifests
side by side with checkov on the same files, per resource.

checkov runs from its own virtualenv (.venv-bench/, created here on first use; its pins conflict
with the project's) with --skip-download. Both CLIs are timed as a user runs them (fresh process,
wall clock); the per-resource figure is the marginal cost, (wall of N files - wall of 1 file) /
(N - 1), so interpreter start-up is not spread over the resources. The in-process figure for
pipeworks (load + evaluate, no start-up) is printed too. Prints one JSON object on its last line.

Second case (issue 9): inputs that made the secrets rule's key/value pattern quadratic. ConfigMaps whose
values are long runs the old pattern retried from every character (30 KB, 100 KB, 1 MB each), and a big
manifest set (--big-mb, default 50 MB) of such ConfigMaps and ordinary objects; both scanned in process by
pipeworks (load + evaluate) and by the checkov CLI on the same files, reported in ms per MB side by side.
The scan is linear when ms per MB stays flat as the size grows (the 4x row).

usage: python benchmarks/policy_check.py [N_MANIFESTS] [--big-mb MB] [--only-long] [--checkov-timeout S]
       (defaults 1000, 50 MB, 600 s: checkov is stopped past it and reported as not finished)
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeworks.check import load_plan, run_check  # noqa: E402
from policies.engine import Enforcement, evaluate  # noqa: E402
from policies.manifests import load_paths  # noqa: E402

CHECKOV = "checkov==3.3.13"  # the release the policy landscape describes
BENCH_VENV = ROOT / ".venv-bench"
_ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
N = int(_ARGS[0]) if _ARGS and _ARGS[0].isdigit() else 1000
BIG_MB = float(sys.argv[sys.argv.index("--big-mb") + 1]) if "--big-mb" in sys.argv else 50.0
ONLY_LONG = "--only-long" in sys.argv
CHECKOV_TIMEOUT = float(sys.argv[sys.argv.index("--checkov-timeout") + 1]) if "--checkov-timeout" in sys.argv else 600.0


def ensure_checkov() -> Path:
    exe = BENCH_VENV / "bin" / "checkov"
    if not exe.exists():
        print(f"installing {CHECKOV} into {BENCH_VENV} (once)...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        subprocess.run([str(BENCH_VENV / "bin" / "pip"), "install", "-q", CHECKOV], check=True)
    return exe


def _container(rng: random.Random, i: int) -> dict[str, Any]:
    c: dict[str, Any] = {"name": f"app{i}", "image": rng.choice(["registry.example/app:1.4.2", "nginx",
                                                                "busybox:latest", "ghcr.io/x/y:2.0"])}
    if rng.random() < 0.8:
        c["resources"] = {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "512Mi"}}
    if rng.random() < 0.7:
        c["livenessProbe"] = {"httpGet": {"path": "/healthz", "port": 8080}}
        c["readinessProbe"] = {"httpGet": {"path": "/ready", "port": 8080}}
    c["env"] = [{"name": f"VAR_{k}", "value": f"value-{k}"} for k in range(rng.randint(2, 8))]
    if rng.random() < 0.2:
        c["env"].append({"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}})
    if rng.random() < 0.05:
        c["env"].append({"name": "API_TOKEN", "value": "literal-token-value"})
    if rng.random() < 0.6:
        c["securityContext"] = {"allowPrivilegeEscalation": False, "runAsNonRoot": True,
                                "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
    c["ports"] = [{"containerPort": 8080}]
    c["volumeMounts"] = [{"name": "scratch", "mountPath": "/tmp"}]
    return c


def manifest(rng: random.Random, i: int) -> dict[str, Any]:
    name, labels = f"svc-{i}", {"app": f"svc-{i}"}
    pod: dict[str, Any] = {"containers": [_container(rng, j) for j in range(rng.randint(1, 2))],
                           "volumes": [{"name": "scratch", "emptyDir": {}}]}
    if rng.random() < 0.1:
        pod["nodeSelector"] = {"pipeworks.io/role": "gpu"}
        pod["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    meta = {"name": name, "namespace": rng.choice(["ml", "serving", "kafka"]), "labels": labels}
    roll = rng.random()
    if roll < 0.55:
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": {
            "replicas": rng.randint(1, 4), "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod}}}
    if roll < 0.70:
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
                "data": {f"key{k}": f"setting {k}" for k in range(rng.randint(2, 10))}}
    if roll < 0.82:
        return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta, "spec": {
            "replicas": 3, "serviceName": name, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                "accessModes": ["ReadWriteOnce"], "storageClassName": "gp3-encrypted",
                "resources": {"requests": {"storage": "10Gi"}}}}]}}
    if roll < 0.94:
        return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta, "spec": {
            "schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {"spec": {**pod, "restartPolicy": "Never"}}}}}}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta,
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}}


def write_manifests(d: Path, n: int) -> list[Path]:
    rng = random.Random(42)
    files = []
    for i in range(n):
        f = d / f"m{i:04d}.yaml"
        f.write_text(yaml.safe_dump(manifest(rng, i), sort_keys=False))
        files.append(f)
    return files


def wall(cmd: list[str], rounds: int, timeout: float | None = None) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Median wall time; a run past `timeout` raises subprocess.TimeoutExpired (the child is killed)."""
    times, last = [], None
    for _ in range(rounds):
        t = time.perf_counter()
        last = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout)
        times.append(time.perf_counter() - t)
    assert last is not None
    return statistics.median(times), last


# Runs the old KV/URL/PEM patterns retried from each character: a long key-like run, a dotted run, a dash run.
_LONG_RUNS = ("a", "a.", "-", "ab1_")


def long_value_configmap(i: int, size: int) -> dict[str, Any]:
    run = _LONG_RUNS[i % len(_LONG_RUNS)]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"long-{i}", "namespace": "ml"},
            "data": {"blob": (run * (size // len(run) + 1))[:size]}}


def write_big_set(d: Path, megabytes: float) -> float:
    """Files of about 1 MB each: ConfigMaps with long values and ordinary objects; returns the MB written."""
    rng = random.Random(7)
    d.mkdir()
    written, i = 0, 0
    while written < megabytes * 2**20:
        docs = [long_value_configmap(i, 256 * 1024)] + [manifest(rng, i * 100 + k) for k in range(100)]
        text = yaml.safe_dump_all(docs, sort_keys=False, width=2**30)
        (d / f"big{i:04d}.yaml").write_text(text)
        written += len(text.encode())
        i += 1
    return written / 2**20


def _pipeworks_seconds(path: Path, rounds: int = 1) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        loaded = load_paths([path])
        evaluate(loaded.resources, Enforcement.for_environment("prod"), source="manifests", pools_known=False)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def long_values_case(tmp_path: Path, checkov: Path) -> dict[str, Any]:
    ck = [str(checkov), "--framework", "kubernetes", "-o", "json", "--quiet", "--skip-download", "--soft-fail", "-f"]
    baseline_file = tmp_path / "tiny.yaml"
    baseline_file.write_text(yaml.safe_dump(long_value_configmap(0, 10)))
    ck_base, _ = wall(ck + [str(baseline_file)], 2)  # start-up, subtracted from every checkov run
    rows: dict[str, Any] = {}
    print(f"checkov start-up (a 10-byte ConfigMap): {ck_base:.2f} s, subtracted below")
    print(f"\n{'long values':28}{'MB':>8}{'pipeworks ms/MB':>18}{'checkov ms/MB':>16}{'checkov wall':>14}")
    for label, size in (("one 30 KB value", 30 * 1024), ("one 100 KB value", 100 * 1024),
                        ("one 1 MB value", 2**20), ("four 1 MB values (4x)", 4 * 2**20)):
        f = tmp_path / f"long-{size}.yaml"
        per = min(size, 2**20)
        f.write_text(yaml.safe_dump_all([long_value_configmap(i, per) for i in range(size // per)], width=2**30))
        mb = f.stat().st_size / 2**20
        pw = _pipeworks_seconds(f, 3)
        ck_s, _ = wall(ck + [str(f)], 1)
        ck_ms = max(ck_s - ck_base, 0.0) * 1000 / mb
        print(f"{label:28}{mb:>8.2f}{pw * 1000 / mb:>18.1f}{ck_ms:>16.1f}{ck_s:>13.2f}s")
        rows[label] = {"mb": round(mb, 3), "pipeworks_ms_per_mb": round(pw * 1000 / mb, 1),
                       "checkov_ms_per_mb": round(ck_ms, 1), "checkov_wall_s": round(ck_s, 2)}
    big = tmp_path / "big"
    mb = write_big_set(big, BIG_MB)
    pw = _pipeworks_seconds(big)
    print(f"{'manifest set':28}{mb:>8.1f}{pw * 1000 / mb:>18.1f}   (pipeworks {pw:.1f} s in process); checkov ...",
          flush=True)
    row: dict[str, Any] = {"mb": round(mb, 1), "pipeworks_ms_per_mb": round(pw * 1000 / mb, 1),
                           "pipeworks_s": round(pw, 2)}
    try:
        ck_s, _ = wall([*ck[:-1], "-d", str(big)], 1, timeout=CHECKOV_TIMEOUT)
        row.update(checkov_ms_per_mb=round(max(ck_s - ck_base, 0.0) * 1000 / mb, 1), checkov_s=round(ck_s, 2))
        print(f"{'':36}checkov {row['checkov_ms_per_mb']:.1f} ms/MB ({ck_s:.1f} s wall)")
    except subprocess.TimeoutExpired:
        row.update(checkov_ms_per_mb=None, checkov_s=f">{CHECKOV_TIMEOUT:.0f}")
        print(f"{'':36}checkov did not finish in {CHECKOV_TIMEOUT:.0f} s (stopped)")
    rows["manifest set"] = row
    return rows


def main() -> int:
    checkov = ensure_checkov()
    out: dict[str, Any] = {"manifests": N}
    if ONLY_LONG:
        with tempfile.TemporaryDirectory(prefix="policy-bench-") as tmp:
            out = {"long_values": long_values_case(Path(tmp), checkov)}
        print(json.dumps(out))
        return 0
    with tempfile.TemporaryDirectory(prefix="policy-bench-") as tmp:
        tmp_path = Path(tmp)
        # --- the prod plan ---
        from pipeworks.plan import plan_stack

        plan = plan_stack("prod", tmp_path / "plans")
        target = load_plan(plan)
        times = []
        for _ in range(10):
            t = time.perf_counter()
            report = run_check(load_plan(plan))
            times.append(time.perf_counter() - t)
        n_plan = len(target.resources)
        plan_s = statistics.median(times)
        out["prod_plan"] = {"resources": n_plan, "check_ms": round(plan_s * 1000, 2),
                            "per_resource_us": round(plan_s / n_plan * 1e6, 1), "violations": len(report.violations)}
        print(f"prod plan: {n_plan} resources, check {plan_s * 1000:.1f} ms "
              f"({plan_s / n_plan * 1e6:.0f} us/resource), {len(report.violations)} violation(s)")

        # --- 1,000 manifests, in process ---
        many, one = tmp_path / "many", tmp_path / "one"
        many.mkdir()
        one.mkdir()
        files = write_manifests(many, N)
        (one / files[0].name).write_text(files[0].read_text())
        times = []
        for _ in range(5):
            t = time.perf_counter()
            loaded = load_paths([many])
            rep = evaluate(loaded.resources, Enforcement.for_environment("prod"), source="manifests",
                           pools_known=False)
            times.append(time.perf_counter() - t)
        inproc = statistics.median(times)
        print(f"pipeworks in process: {N} manifests in {inproc * 1000:.0f} ms "
              f"({inproc / N * 1e6:.0f} us/resource), {len(rep.violations)} violations")

        # --- both CLIs, fresh processes ---
        ours = [sys.executable, "-m", "pipeworks.cli", "check", "--format", "json", "--manifests"]
        ck = [str(checkov), "--framework", "kubernetes", "-o", "json", "--quiet", "--skip-download", "--soft-fail",
              "-d"]
        pw_n, pw_run = wall(ours + [str(many)], 3)
        pw_1, _ = wall(ours + [str(one)], 3)
        ck_n, ck_run = wall(ck + [str(many)], 2)
        ck_1, _ = wall(ck + [str(one)], 2)
        ck_summary = json.loads(ck_run.stdout)
        ck_summary = ck_summary[0] if isinstance(ck_summary, list) else ck_summary
        pw_violations = len(json.loads(pw_run.stdout))
        pw_marginal = (pw_n - pw_1) / (N - 1)
        ck_marginal = (ck_n - ck_1) / (N - 1)
        summary = ck_summary.get("summary", {})
        print(f"\n{'':22}{'wall N':>10}{'wall 1':>10}{'per resource':>16}{'findings':>10}")
        print(f"{'pipeworks check':22}{pw_n:>9.2f}s{pw_1:>9.2f}s{pw_marginal * 1000:>13.2f} ms{pw_violations:>10}")
        print(f"{'checkov ' + CHECKOV.split('==')[1]:22}{ck_n:>9.2f}s{ck_1:>9.2f}s{ck_marginal * 1000:>13.2f} ms"
              f"{summary.get('failed', 0):>10}")
        ratio = ck_marginal / pw_marginal if pw_marginal > 0 else float("inf")
        print(f"\ncheckov / pipeworks per resource: {ratio:.1f}x "
              f"(checkov evaluated {summary.get('resource_count')} resources, {summary.get('passed')} passed / "
              f"{summary.get('failed')} failed checks)")
        out.update({
            "pipeworks": {"wall_n_s": round(pw_n, 3), "wall_1_s": round(pw_1, 3),
                          "per_resource_ms": round(pw_marginal * 1000, 3),
                          "in_process_per_resource_ms": round(inproc / N * 1000, 3), "violations": pw_violations},
            "checkov": {"version": CHECKOV.split("==")[1], "wall_n_s": round(ck_n, 3), "wall_1_s": round(ck_1, 3),
                        "per_resource_ms": round(ck_marginal * 1000, 3), "resources": summary.get("resource_count"),
                        "failed_checks": summary.get("failed")},
            "ratio_checkov_over_pipeworks": round(ratio, 2),
        })
        out["long_values"] = long_values_case(tmp_path, checkov)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
