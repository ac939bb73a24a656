"""The fraud model's input features and the validation every entry point applies to them.

The report's classifier takes three features, passed to its API as ``f1``, ``f2`` and ``f3``;
a trainer may add extra columns, which become ``f4``, ``f5``... in the order configured. The API,
the scorer and the trainer share these checks so a value the API would refuse never reaches a model.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

# scikit-learn's trees cast inputs to float32: a finite float64 beyond float32's range becomes
# infinity there and predict() raises, so such values are refused up front as invalid input.
# The literal is float32's largest value, (2 - 2**-23) * 2**127 (numpy.finfo(numpy.float32).max),
# spelled out so the scorer's image needs no numpy.
MAX_ABS_VALUE = (2 - 2**-23) * 2.0**127

COLUMN_PATTERN = r"[A-Za-z_][A-Za-z0-9_]{0,63}"


@dataclass(frozen=True)
class Feature:
    """One model input: its column name in the training data and what it means."""

    name: str
    description: str


BASE_FEATURES: tuple[Feature, ...] = (
    Feature("amount", "transaction amount"),
    Feature("amount_past_month", "amount spent by the card holder in the past month"),
    Feature("merchant_txn_count", "number of earlier transactions with the same merchant"),
)
BASE_FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in BASE_FEATURES)


def api_param(index: int) -> str:
    """The query-parameter name of the feature at ``index`` (0-based): f1, f2, ..."""
    return f"f{index + 1}"


def feature_names(extra: Sequence[str] = ()) -> tuple[str, ...]:
    """The model's feature order: the report's three, then the configured extra columns."""
    clash = sorted(set(extra) & set(BASE_FEATURE_NAMES))
    if clash:
        raise ValueError(f"extra feature column(s) {', '.join(clash)} are already base features; remove them")
    for name in extra:
        if not re.fullmatch(COLUMN_PATTERN, name):
            raise ValueError(f"extra feature column {name!r} is not a valid column name (letters, digits, '_')")
    return BASE_FEATURE_NAMES + tuple(extra)


class InvalidFeature(ValueError):
    """A feature value is missing, not a number, or not finite; the message names the field."""


def check_number(field: str, value: object) -> float:
    """A JSON-decoded value as a finite float within the model's range, or InvalidFeature."""
    # bool is an int subclass: true/false are not amounts.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidFeature(f"{field} must be a number, got {_json_type(value)}")
    try:
        number = float(value)
    except OverflowError:  # a JSON integer with hundreds of digits
        raise InvalidFeature(f"{field} is too large: the magnitude must be at most {MAX_ABS_VALUE:.3e}") from None
    return _check_range(field, number)


def parse_text(field: str, text: str | None) -> float:
    """A query-string value as a finite float, or InvalidFeature (missing, empty, NaN, inf...)."""
    if text is None:
        raise InvalidFeature(f"{field} is required")
    stripped = text.strip()
    if not stripped:
        raise InvalidFeature(f"{field} is empty: give a number")
    try:
        number = float(stripped)
    except ValueError:
        raise InvalidFeature(f"{field}={_clip(text)!r} is not a number") from None
    return _check_range(field, number)


def _check_range(field: str, number: float) -> float:
    if math.isnan(number) or math.isinf(number):
        raise InvalidFeature(f"{field} must be a finite number, got {number}")
    if abs(number) > MAX_ABS_VALUE:
        raise InvalidFeature(f"{field}={number!r} is too large: the magnitude must be at most {MAX_ABS_VALUE:.3e}")
    return number


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return f"the string {_clip(value)!r}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
