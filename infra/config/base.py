"""The base of every stack-config model: camelCase keys as in the stack files, unknown keys rejected."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ConfigModel(BaseModel):
    """Stack files spell keys in camelCase (`nodePools`, `maxSize`); Python code uses snake_case.
    Unknown keys are errors so a typo never silently falls back to a default."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        validate_default=True,
    )
