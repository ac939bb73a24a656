"""The config kit of workload sections (declaration side, pure pydantic): a pinned container image, a
Kubernetes CronJob schedule, an IANA time zone and a Kafka name, each with the error message that says what is
valid. Every workload's `config.py` uses these instead of its own copy."""

from __future__ import annotations

import re
import zoneinfo
from typing import Callable

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from infra.config.base import ConfigModel

# registry[:port]/path, lowercase (the Docker reference grammar, without tag or digest: those are `tag`).
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^{_PATH_COMPONENT}(?::[0-9]+)?(?:/{_PATH_COMPONENT})*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_KAFKA_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_ZONE = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*")

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
        return "must not carry a time zone; set the timeZone next to it instead"
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


def default_image(name: str) -> Callable[[], ImageRef]:
    """A default_factory: ghcr.io/pipeworks/<name>:0.1.0."""
    return lambda: ImageRef(repository=f"ghcr.io/pipeworks/{name}", tag="0.1.0")



def known_zone(name: str) -> bool:
    """In the IANA database (the Kubernetes CronJob controller loads the same names)."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def time_zone_problem(name: str) -> str | None:
    """Why `name` is not an IANA time zone a CronJob accepts (`spec.timeZone`), or None."""
    if not _ZONE.fullmatch(name) or not known_zone(name):
        return "is not an IANA time zone name; valid: e.g. Etc/UTC, Europe/Paris"
    return None


def kafka_name_problem(name: str) -> str | None:
    """Why `name` is not a Kafka topic or group name, or None."""
    if not _KAFKA_NAME.match(name) or name in (".", ".."):
        return "is not a Kafka name; valid: 1-249 letters, digits, '.', '_', '-'"
    return None
