"""Typed reads of environment variables for every workload, with errors that name the variable.

Every setting of a workload's processes (trainer, API, scorer...) comes from the environment (the
Deployment/Job declares it); a bad value fails at start-up with the variable, the value received and what
is valid. Secret values are never echoed back. ``SettingError`` is the one settings error of the
application library: the object-store and Kafka settings raise it too, so an entry point catches one
type and exits with its configuration status.

Application code: never imports pulumi or infra.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping


# What a reader trims from a value: ASCII blanks only. A value carrying other Unicode space (U+2028, U+00A0...)
# was not typed in a manifest on purpose, and ``str.strip()`` would silently accept it.
BLANKS = " \t\r\n\f\v"
# Integers as a manifest writes them: ASCII digits, an optional sign. ``int()`` alone also takes "1_0" (10) and
# other scripts' digits ("٣"), which no Deployment means.
DECIMAL = re.compile(r"[+-]?[0-9]+")


def parse_decimal(text: str) -> int | None:
    """The integer `text` spells in ASCII decimal digits, else None."""
    return int(text, 10) if DECIMAL.fullmatch(text) else None


class SettingError(ValueError):
    """A setting (an environment variable, or a field of a hand-built settings object) is missing or invalid;
    the message names it and what would be valid, never a secret value."""


def get_str(env: Mapping[str, str], name: str, default: str | None = None, *, pattern: str | None = None,
            hint: str = "") -> str:
    """A non-empty string; ``default`` when unset/empty (None makes the variable required)."""
    raw = env.get(name, "").strip(BLANKS)
    if not raw:
        if default is None:
            raise SettingError(f"environment variable {name} is required but missing or empty{_hint(hint)}")
        return default
    if pattern is not None and not re.fullmatch(pattern, raw):
        raise SettingError(f"{name}={raw!r} is invalid{_hint(hint or f'must match {pattern}')}")
    return raw


def get_secret(env: Mapping[str, str], name: str, *, file_name: str | None = None) -> str | None:
    """A secret from ``name`` or from the file named by ``file_name`` (a mounted Secret key).

    Returns None when neither is set. The value is never put into an error message.
    """
    value = env.get(name, "")
    path = env.get(file_name, "").strip(BLANKS) if file_name else ""
    if value and path:
        raise SettingError(f"set only one of {name} and {file_name}, not both")
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                value = handle.read()
        except OSError as exc:
            raise SettingError(f"{file_name}={path!r}: cannot read the secret file ({exc.strerror})") from None
        value = value.rstrip("\r\n")
        if not value:
            raise SettingError(f"{file_name}={path!r}: the secret file is empty")
    return value or None


def get_int(env: Mapping[str, str], name: str, default: int | None, *, minimum: int | None = None,
            maximum: int | None = None) -> int | None:
    """An integer in [minimum, maximum]; ``default`` when unset/empty."""
    raw = env.get(name, "").strip(BLANKS)
    if not raw:
        return default
    value = parse_decimal(raw)
    if value is None:
        raise SettingError(f"{name}={raw!r} is not an integer{_range(minimum, maximum)}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise SettingError(f"{name}={raw!r} is out of range{_range(minimum, maximum)}")
    return value


def get_float(env: Mapping[str, str], name: str, default: float, *, minimum: float | None = None,
              maximum: float | None = None, exclusive: bool = False) -> float:
    """A finite float in [minimum, maximum] (open interval when ``exclusive``); ``default`` when unset."""
    raw = env.get(name, "").strip(BLANKS)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    low_bad = minimum is not None and (value <= minimum if exclusive else value < minimum)
    high_bad = maximum is not None and (value >= maximum if exclusive else value > maximum)
    if not math.isfinite(value) or low_bad or high_bad:
        if exclusive and minimum is not None and maximum is not None:
            bounds = f": use a number strictly between {minimum} and {maximum}"
        else:
            bounds = _range(minimum, maximum) or ": use a finite number"
        raise SettingError(f"{name}={raw!r} is not a valid number{bounds}")
    return value


def get_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    """true/false (also 1/0, yes/no); ``default`` when unset/empty."""
    raw = env.get(name, "").strip(BLANKS).lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingError(f"{name}={raw!r} is not a boolean: use true or false")


def get_list(env: Mapping[str, str], name: str, *, item_pattern: str, hint: str) -> tuple[str, ...]:
    """A comma-separated list (blank items ignored, duplicates rejected); empty tuple when unset."""
    items = [part.strip(BLANKS) for part in env.get(name, "").split(",") if part.strip(BLANKS)]
    for item in items:
        if not re.fullmatch(item_pattern, item):
            raise SettingError(f"{name}: item {item!r} is invalid: {hint}")
    duplicates = sorted({item for item in items if items.count(item) > 1})
    if duplicates:
        raise SettingError(f"{name}: {', '.join(duplicates)} listed more than once")
    return tuple(items)


def _range(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f": use a value from {minimum} to {maximum}"
    if minimum is not None:
        return f": use a value of at least {minimum}"
    if maximum is not None:
        return f": use a value of at most {maximum}"
    return ""


def _hint(hint: str) -> str:
    return f": {hint}" if hint else ""
