"""Stack config of policy enforcement (read by `pipeworks check` and the CI policy-pack config)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from infra.config.base import ConfigModel


class EnforcementLevel(StrEnum):
    ADVISORY = "advisory"
    MANDATORY = "mandatory"
    DISABLED = "disabled"


class PolicySettings(ConfigModel):
    """How the policy packs enforce on this stack."""

    enforcement: EnforcementLevel | None = Field(
        None, description="Default level of every policy. Default: advisory in dev, mandatory in prod."
    )
    overrides: dict[str, EnforcementLevel] = Field(
        default_factory=dict, description="Per-policy levels by policy name (a name of the packs, see policies/README.md), e.g. {container-probes: advisory}."
    )
    allow_exemptions: bool | None = Field(
        None,
        description="Honour `policy.pipeworks.io/exempt.<policy>` annotations. Default: true in dev, false in prod.",
    )
