"""Wall time of the real engine beside the offline plan, on the e2e stack (tests/e2e) against the e2e control
plane (etcd + kube-apiserver + controller-manager on loopback):

- `pipeworks plan e2e` (the program under mocks) vs `pulumi preview` of the same stack (real CLI, real
  provider, diff against the API server), and their ratio;
- `pulumi up` (create everything; readiness waits off, as in the e2e stack) per 100 resources.

Needs the engines from scripts/build-engines.sh. Prints a side-by-side table, then one JSON object on its last
line. Usage: .venv/bin/python benchmarks/engine.py [ROUNDS]"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeworks.plan import plan_stack  # noqa: E402
from tests.e2e.environment import environment  # noqa: E402
from tests.e2e.stack import STACK  # noqa: E402
from tests.harness.engines import locate  # noqa: E402


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    engines, reason = locate()
    if engines is None:
        print(f"benchmarks/engine.py: {reason}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="pipeworks-engine-bench-") as tmp, \
            environment(engines, Path(tmp)) as env:
        plan_s, preview_s = [], []
        for i in range(rounds):  # alternate so machine noise hits both sides alike
            plan_s.append(timed(lambda: plan_stack(STACK, env.work / f"bench-plan-{i}", project_dir=env.project)))
            preview_s.append(timed(lambda: env.cli.run("preview", "--stack", STACK)))
        up_s = timed(lambda: env.cli.run("up", "--yes", "--skip-preview", "--stack", STACK, timeout=3600))
        exported = json.loads(env.cli.run("stack", "export", "--stack", STACK).stdout)
        resources = len([r for r in exported["deployment"]["resources"] if r["type"] != "pulumi:pulumi:Stack"])
        destroy_s = timed(lambda: env.cli.run("destroy", "--yes", "--skip-preview", "--stack", STACK, timeout=3600))
    p, v = statistics.median(plan_s), statistics.median(preview_s)
    per100 = up_s / resources * 100
    print(f"{'pipeworks plan e2e (mocks)':32} median {p:8.2f} s over {rounds}")
    print(f"{'pulumi preview e2e (real)':32} median {v:8.2f} s over {rounds}   ratio preview/plan {v / p:.1f}")
    print(f"{'pulumi up e2e (real)':32} {up_s:8.2f} s for {resources} resources = {per100:.2f} s per 100")
    print(f"{'pulumi destroy e2e (real)':32} {destroy_s:8.2f} s")
    print(json.dumps({"stack": STACK, "rounds": rounds, "plan_s": round(p, 3), "preview_s": round(v, 3),
                      "preview_over_plan": round(v / p, 2), "up_s": round(up_s, 2), "resources": resources,
                      "up_s_per_100_resources": round(per100, 2), "destroy_s": round(destroy_s, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
