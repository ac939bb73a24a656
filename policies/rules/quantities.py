"""Kubernetes resource quantities (cpu "500m", memory "2Gi", Spark "4g") as plain numbers."""

from __future__ import annotations

import re
from typing import Any

from policies.rules.model import is_unknown

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15,
            "E": 1e18}
_QUANTITY = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([KMGTPE]i|[numkKMGTPE]?)\s*$")
_SPARK_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtTpP])?[bB]?\s*$")


def parse_quantity(value: Any) -> float | None:
    """A Kubernetes quantity as a float in base units (cores, bytes, GPUs); None if not a quantity."""
    if isinstance(value, bool) or value is None or is_unknown(value):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        return None
    m = _QUANTITY.match(value)
    if not m:
        return None
    number, suffix = float(m.group(1)), m.group(2)
    return number * (_BINARY[suffix] if suffix in _BINARY else _DECIMAL[suffix])


def parse_spark_memory(value: Any) -> float | None:
    """Spark's JVM-style memory strings ("512m", "4g", "1t") in bytes; plain numbers are MiB as in Spark."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) * 2**20
    if not isinstance(value, str) or is_unknown(value):
        return None
    m = _SPARK_MEMORY.match(value)
    if not m:
        return parse_quantity(value)
    unit = (m.group(2) or "m").lower()
    return float(m.group(1)) * {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "p": 2**50}[unit]


def fmt_cpu(cores: float) -> str:
    return f"{cores:.2f}".rstrip("0").rstrip(".") if cores >= 1 else f"{round(cores * 1000)}m"


def fmt_bytes(n: float) -> str:
    for unit, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if n >= size:
            return f"{n / size:.1f}".rstrip("0").rstrip(".") + unit
    return f"{int(n)}"
