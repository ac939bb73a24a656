"""Workloads as plugins: each workload package registers one `Workload` (its config model, its rules against
the platform section, and one deploy entry point taking the platform's handles); the program iterates the
registry (`workloads/catalog.py`, a `Registry`), so adding a workload is its package plus one line there.

The `pipeworks:workloads` model is built from the registry: one section per workload, keyed by
`Workload.key`, each defaulting to the workload's model defaults (every workload model has `enabled`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import pulumi
from pydantic import BaseModel, Field, create_model

from infra.config import ConfigModel, PlatformConfig
from infra.platform import Platform

KEY = re.compile(r"^[a-z][a-z0-9]*$")  # a stack-file key (camelCase alias of itself) and a resource-name prefix


@dataclass(frozen=True)
class Workload:
    """One workload of the registry."""

    key: str
    """Its section `pipeworks:workloads.<key>` and the name of its component resource."""
    model: type[ConfigModel]
    """The section's model; must have `enabled: bool`."""
    description: str
    """One line for docs/CONFIG.md."""
    deploy: Callable[[str, Any, Platform], pulumi.Resource]
    """`deploy(name, cfg, platform)`: declares the workload (called only when `cfg.enabled`)."""
    platform_rules: Callable[[Any, PlatformConfig], list[str]] | None = None
    """What the workload needs of the platform section (rendered `key=value message` lines; [] when fine)."""


class Registry:
    """The program's workloads, in declaration order: the `pipeworks:workloads` model built from them, their
    rules against the platform section (the loader's `workload_rules`) and their deployment."""

    def __init__(self, *workloads: Workload):
        seen: set[str] = set()
        for w in workloads:
            if not KEY.match(w.key):
                raise ValueError(f"workload key {w.key!r}: use lowercase letters and digits, starting with a letter")
            if w.key in seen:
                raise ValueError(f"workload key {w.key!r} is registered twice; each workload registers once")
            if "enabled" not in w.model.model_fields:
                raise ValueError(f"workload {w.key!r}: {w.model.__name__} has no `enabled` field; every workload "
                                 "section must be able to switch its workload off")
            seen.add(w.key)
        self.workloads: tuple[Workload, ...] = workloads
        fields: dict[str, Any] = {w.key: (w.model, Field(default_factory=w.model, description=w.description))
                                  for w in workloads}
        self.model: type[ConfigModel] = create_model(
            "WorkloadsConfig", __base__=ConfigModel, __module__=__name__,
            __doc__="`pipeworks:workloads`: one section per workload (the models live with the workloads, so "
                    "`infra/` never imports `workloads/`).", **fields)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(w.key for w in self.workloads)

    def rules(self, platform: PlatformConfig, workloads_cfg: BaseModel) -> list[str]:
        """Every registered workload's rules against the platform section (each model alone cannot see it)."""
        problems: list[str] = []
        for w in self.workloads:
            if w.platform_rules is not None:
                problems.extend(w.platform_rules(getattr(workloads_cfg, w.key), platform))
        return problems

    def sections(self, workloads_cfg: BaseModel | None) -> BaseModel:
        """The stack's workloads section (the defaults when the stack file has none)."""
        return workloads_cfg if isinstance(workloads_cfg, self.model) else self.model()

    def deploy(self, workloads_cfg: BaseModel | None, platform: Platform) -> dict[str, pulumi.Resource]:
        """Declare every enabled workload, in registry order; the component of each by key."""
        section = self.sections(workloads_cfg)
        return {w.key: w.deploy(w.key, getattr(section, w.key), platform)
                for w in self.workloads if getattr(section, w.key).enabled}
