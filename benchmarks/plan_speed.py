"""Wall time of the real program under mocks (`pipeworks plan prod`'s registration phase) beside a flat
replay that registers the same resources, with the same inputs, under the same mocks.

The ratio is what the program's structure (components, Outputs, applies) costs over the bare
registrations the engine must do anyway. Target: at most 1.5. Prints one JSON object on its last line."""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import pulumi

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.config import PROJECT  # noqa: E402
from pipeworks.mocks import install  # noqa: E402
from pipeworks.plan import REPO_ROOT, run_program, validate  # noqa: E402

STACK = sys.argv[1] if len(sys.argv) > 1 else "prod"
ROUNDS = 5


def replay(sf, registrations) -> float:
    install(PROJECT, STACK, sf.values, sorted(sf.secret_keys))

    @pulumi.runtime.test
    def _flat():
        for r in registrations:
            if r.type.startswith("pulumi:providers:") or r.type == "pulumi:pulumi:Stack":
                continue
            if r.custom:
                pulumi.CustomResource(r.type, r.name, dict(r.inputs))
            else:  # components too: the same registrations, only without hierarchy and Outputs
                pulumi.ComponentResource(r.type, r.name)

    t = time.perf_counter()
    _flat()
    return time.perf_counter() - t


def main() -> None:
    sf, _ = validate(REPO_ROOT, STACK)
    registrations = run_program(STACK, sf)  # warm-up: imports, first-run caches
    custom = [r for r in registrations if not r.type.startswith("pulumi:providers:") and r.type != "pulumi:pulumi:Stack"]
    program_s, replay_s = [], []
    for _ in range(ROUNDS):  # alternate so machine noise hits both sides alike
        t = time.perf_counter()
        run_program(STACK, sf)
        program_s.append(time.perf_counter() - t)
        replay_s.append(replay(sf, registrations))
    p, r = statistics.median(program_s), statistics.median(replay_s)
    print(f"program under mocks: median {p:.3f}s over {ROUNDS} runs ({len(registrations)} registrations)")
    print(f"flat replay:         median {r:.3f}s over {ROUNDS} runs ({len(custom)} resources and components)")
    print(json.dumps({"stack": STACK, "program_s": round(p, 4), "replay_s": round(r, 4), "ratio": round(p / r, 3),
                      "target_max_ratio": 1.5, "resources": len(custom)}))


if __name__ == "__main__":
    main()
