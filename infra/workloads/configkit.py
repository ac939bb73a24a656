"""Config building blocks every workload's model shares (declaration side: pydantic, no Pulumi): a pinned
container image reference and the CronJob schedule check. Workload config models (workloads/<name>/config.py)
import these instead of spelling them again."""

from __future__ import annotations

import re

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from infra.config.base import ConfigModel

__all__ = ["ImageRef", "cron_problem"]

# registry[:port]/path, lowercase (the Docker reference grammar, without tag or digest: those are `tag`).
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^{_PATH_COMPONENT}(?::[0-9]+)?(?:/{_PATH_COMPONENT})*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# Cron fields of a Kubernetes CronJob schedule: (name, lowest, highest, names allowed instead of numbers).
_CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
    ("day of week", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)
_CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def cron_problem(expr: str) -> str | None:
    """Why `expr` is not a schedule a CronJob accepts (five fields or a macro), or None when it is."""
    text = expr.strip()
    if text.lower() in _CRON_MACROS:
        return None
    if text.upper().startswith(("TZ=", "CRON_TZ=")):
        return "must not carry a time zone; set the CronJob's timeZone key instead"
    fields = text.split()
    if len(fields) != 5:
        return (f"has {len(fields)} field(s); use five (minute hour day-of-month month day-of-week, e.g. "
                f"'0 3 * * *') or one of {', '.join(_CRON_MACROS)}")
    for raw, (name, low, high, names) in zip(fields, _CRON_FIELDS):
        for part in raw.split(","):
            problem = _cron_part_problem(part.lower(), low, high, names)
            if problem:
                return f"has an invalid {name} field {raw!r}: {problem}"
    return None


def _cron_part_problem(part: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    base, _, step = part.partition("/")
    if step and (not step.isdigit() or int(step) == 0):
        return f"step {step!r} must be a positive integer"
    if base in ("*", "?"):
        return None
    bounds = base.split("-")
    if len(bounds) > 2 or not all(bounds):
        return f"{part!r} is not a value, a range a-b, * or a step"
    values = []
    for b in bounds:
        if b in names:
            values.append(names.index(b) + low)
        elif b.isdigit() and low <= int(b) <= high:
            values.append(int(b))
        else:
            return f"{b!r} is outside {low}-{high}" + (f" (or {names[0]}..{names[-1]})" if names else "")
    if len(values) == 2 and values[0] > values[1]:
        return f"range {base!r} runs backwards"
    return None


class ImageRef(ConfigModel):
    """A container image: repository and a pinned tag (never `latest`: a pod restart must not change code)."""

    repository: str = Field(..., description="Image repository, e.g. ghcr.io/pipeworks/fraud-api (no tag).")
    tag: str = Field(..., description="Pinned image tag (e.g. 0.1.0); `latest` is refused.")

    @field_validator("repository")
    @classmethod
    def _repository(cls, v: str) -> str:
        if not _REPOSITORY.match(v):
            raise PydanticCustomError("pipeworks", "is not an image repository; valid: lowercase registry/path "
                                                   "without tag, e.g. ghcr.io/pipeworks/fraud-api")
        return v

    @field_validator("tag")
    @classmethod
    def _tag(cls, v: str) -> str:
        if not _TAG.match(v) or v == "latest":
            raise PydanticCustomError("pipeworks", "is not a pinned tag; valid: a version tag such as 0.1.0 "
                                                   "(letters, digits, '.', '_', '-'; never latest)")
        return v

    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"
