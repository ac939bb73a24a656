"""The config vocabulary every workload's section shares (declaration side: pydantic, no Pulumi): a pinned
container image, a CronJob schedule and its time zone, an object-key prefix, a Kafka topic or group name, a
model version pinned with its digest, and the Gateway a workload's API attaches to. A workload's `config.py`
composes these and says only what is particular to it, so five workloads validate the same thing the same way
and say the same fix.

Model versions and digests are spelled as the application side's registry checks them
(`workloads/common/modelregistry.py` VERSION_PATTERN/DIGEST_PATTERN): copied, because `infra/` never imports
`workloads/`; `tests/infra/workloads/test_config.py` keeps the two equal."""

from __future__ import annotations

import re
import zoneinfo

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from infra.config.base import ConfigModel, check_dns_label

VERSION_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
DIGEST_PATTERN = r"sha256:[0-9a-f]{64}"
IMAGE_REGISTRY = "ghcr.io/pipeworks"  # where the project's Dockerfiles are pushed by default

_HOSTNAME = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# registry[:port]/path, lowercase (the Docker reference grammar, without tag or digest: those are `tag`).
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^{_PATH_COMPONENT}(?::[0-9]+)?(?:/{_PATH_COMPONENT})*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_KAFKA_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_KEY_PREFIX = re.compile(r"^[A-Za-z0-9._=-]+(/[A-Za-z0-9._=-]+)*$")
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*")

# Cron fields of a Kubernetes CronJob schedule: (name, lowest, highest, names allowed instead of numbers).
_CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
    ("day of week", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)
_CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def _invalid(message: str, **ctx: object) -> PydanticCustomError:
    return PydanticCustomError("pipeworks", message, ctx or None)  # type: ignore[arg-type]


# --- schedules -------------------------------------------------------------------------------------------

def cron_problem(expr: str, *, time_zone_key: str = "timeZone") -> str | None:
    """Why `expr` is not a schedule a CronJob (or a ScheduledSparkApplication) accepts (five fields or a macro),
    or None when it is. `time_zone_key`: the sibling key the message points to for a time zone."""
    text = expr.strip()
    if text.lower() in _CRON_MACROS:
        return None
    if text.upper().startswith(("TZ=", "CRON_TZ=")):
        return f"must not carry a time zone; set {time_zone_key} instead"
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


def check_schedule(v: str, *, time_zone_key: str = "timeZone") -> str:
    """A field validator's body: the stripped schedule, or the error saying what is valid."""
    problem = cron_problem(v, time_zone_key=time_zone_key)
    if problem:
        raise _invalid("{problem}", problem=problem)
    return v.strip()


def known_time_zone(name: str) -> bool:
    """In the IANA database (the Kubernetes CronJob controller loads the same names)."""
    if not _ZONE_NAME.fullmatch(name):
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def check_time_zone(v: str) -> str:
    if not known_time_zone(v):
        raise _invalid("is not an IANA time zone name; valid: e.g. Etc/UTC, Europe/Paris")
    return v


# --- names -----------------------------------------------------------------------------------------------

def check_key_prefix(v: str, example: str = "training/data") -> str:
    """An object-key prefix without leading/trailing '/', or the error."""
    cleaned = v.strip("/")
    if not _KEY_PREFIX.match(cleaned):
        raise _invalid("is not an object key prefix; valid: path segments like {example}", example=example)
    return cleaned


def check_kafka_name(v: str) -> str:
    """A Kafka topic or consumer-group name."""
    if not _KAFKA_NAME.match(v) or v in (".", ".."):
        raise _invalid("is not a Kafka name; valid: 1-249 letters, digits, '.', '_', '-'")
    return v


def check_model_version(v: str | None) -> str | None:
    if v is not None and not re.fullmatch(VERSION_PATTERN, v):
        raise _invalid("is not a model version; valid: 1-100 letters, digits, '.', '_' or '-', starting with a "
                       "letter or digit (e.g. 20261101T030000Z-5e1f2a3b)")
    return v


def check_model_digest(v: str | None) -> str | None:
    if v is not None and not re.fullmatch(DIGEST_PATTERN, v):
        raise _invalid("is not a model digest; valid: sha256: and 64 lowercase hex digits, as the trainer prints it "
                       "(\"digest\" in its output)")
    return v


# --- models ----------------------------------------------------------------------------------------------

class ImageRef(ConfigModel):
    """A container image: repository and a pinned tag (never `latest`: a pod restart must not change code)."""

    repository: str = Field(..., description="Image repository, e.g. ghcr.io/pipeworks/fraud-api (no tag).")
    tag: str = Field(..., description="Pinned image tag (e.g. 0.1.0); `latest` is refused.")

    @field_validator("repository")
    @classmethod
    def _repository(cls, v: str) -> str:
        if not _REPOSITORY.match(v):
            raise _invalid("is not an image repository; valid: lowercase registry/path without tag, e.g. "
                           "ghcr.io/pipeworks/fraud-api")
        return v

    @field_validator("tag")
    @classmethod
    def _tag(cls, v: str) -> str:
        if not _TAG.match(v) or v == "latest":
            raise _invalid("is not a pinned tag; valid: a version tag such as 0.1.0 (letters, digits, '.', '_', '-'; "
                           "never latest)")
        return v

    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"


def default_image(name: str, tag: str = "0.1.0"):  # type: ignore[no-untyped-def]
    """A `default_factory` for an image the project builds (`<IMAGE_REGISTRY>/<name>:<tag>`)."""
    return lambda: ImageRef(repository=f"{IMAGE_REGISTRY}/{name}", tag=tag)


class GatewayRef(ConfigModel):
    """The Gateway API Gateway a workload's HTTPRoute attaches to (operated outside the workload; it must allow
    routes from the workload's namespace)."""

    name: str = Field("platform", description="Name of the Gateway.")
    namespace: str = Field("gateway", description="Namespace of the Gateway; its pods may reach the API.")
    section_name: str | None = Field(None, description="Listener of the Gateway to attach to; none: every listener "
                                                       "that admits the route.")
    hostnames: list[str] = Field(default_factory=list,
                                 description="Host names the route answers for; empty: those of the listener.")

    @field_validator("name", "namespace", "section_name")
    @classmethod
    def _label(cls, v: str | None) -> str | None:
        return None if v is None else check_dns_label(v, 63)

    @field_validator("hostnames")
    @classmethod
    def _hosts(cls, v: list[str]) -> list[str]:
        bad = [h for h in v if not _HOSTNAME.match(h) or len(h) > 253]
        if bad:
            raise _invalid("has invalid host names {bad}; valid: lowercase DNS names, optionally *.example.com",
                           bad=bad)
        if len(set(v)) != len(v):
            raise _invalid("lists a host name twice")
        return v
