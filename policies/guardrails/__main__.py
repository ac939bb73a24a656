"""Entry point of the pipeworks-guardrails policy pack: the only place that constructs its PolicyPack
(which serves the Analyzer gRPC protocol and never returns). The rules live in policies.rules."""

import sys
from pathlib import Path

# The CLI runs this file with the pack directory as the working directory; the rules are imported
# from the repository root (also installed into the project venv by `pip install -e .`).
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from policies.packs import PACK_NAMES, pack_policies  # noqa: E402

PolicyPack(
    name=PACK_NAMES["guardrails"],
    policies=pack_policies("guardrails"),
    # advisory unless the stack's policy config (policies/config/<stack>.json) says otherwise
    enforcement_level=EnforcementLevel.ADVISORY,
)
