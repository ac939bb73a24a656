"""Agreement of the pipeworks rules with the upstream verdicts of the external fixture corpus
(`../shared/policy-fixtures/`: gatekeeper-library, Kyverno, checkov, Polaris), for the concerns we
share; INVERTED rows follow our stance. Prints the rate per source and rule, the reasoned
disagreements, and one JSON object on its last line. Exit 2 when the corpus is absent."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.policies.agreement import FIXTURES, KNOWN_DISAGREEMENTS, judge_all, per_control  # noqa: E402


def main() -> int:
    if not FIXTURES.is_dir():
        print(f"fixture corpus not found at {FIXTURES}", file=sys.stderr)
        return 2
    judged, skipped = judge_all()
    per_source: dict[str, list[bool]] = defaultdict(list)
    per_rule: dict[str, list[bool]] = defaultdict(list)
    for j in judged:
        per_source[j.rule.split("/")[0]].append(j.agrees)
        per_rule[j.rule].append(j.agrees)
    print(f"{'rule':62} agree/total")
    for rule, oks in sorted(per_rule.items()):
        print(f"{rule:62} {sum(oks):3}/{len(oks):<3} {'' if all(oks) else '*'}")
    print("\nper source:")
    for src, oks in sorted(per_source.items()):
        print(f"  {src:22} {sum(oks):3}/{len(oks):<3} {sum(oks) / len(oks):.1%}")
    controls = per_control(judged)
    print("\nper Pod Security control (rule id):")
    for rule_id, (ok, total) in controls.items():
        print(f"  {rule_id:52} {ok:3}/{total:<3} {ok / total:.1%}")
    agree = sum(j.agrees for j in judged)
    print(f"\nshared fixtures: {len(judged)} in {len(per_rule)} rules; agreement {agree}/{len(judged)} "
          f"= {agree / len(judged):.1%}")
    print(f"not shared: {len(skipped)} rules, e.g. " + "; ".join(f"{r} ({why})" for r, why in list(skipped.items())[:3]))
    reasons: dict[str, list[str]] = defaultdict(list)
    unexplained = []
    for j in judged:
        if not j.agrees:
            if j.file in KNOWN_DISAGREEMENTS:
                reasons[KNOWN_DISAGREEMENTS[j.file]].append(j.file)
            else:
                unexplained.append(j.file)
    print("\ndisagreements by reason:")
    for why, files in sorted(reasons.items(), key=lambda x: -len(x[1])):
        print(f"  {len(files):2} x {why}")
    for f in unexplained:
        print(f"  UNEXPLAINED: {f}")
    print(json.dumps({"fixtures": len(judged), "rules": len(per_rule), "agree": agree,
                      "rate": round(agree / len(judged), 4), "not_shared_rules": len(skipped),
                      "unexplained": len(unexplained),
                      "per_source": {s: round(sum(o) / len(o), 4) for s, o in per_source.items()},
                      "per_control": {c: round(ok / total, 4) for c, (ok, total) in controls.items()}}))
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
