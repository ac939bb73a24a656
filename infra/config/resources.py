"""Kubernetes quantities and container resources: the one definition every config section uses.

Accepted quantities follow the grammar documented in Kubernetes' apimachinery
(`k8s.io/apimachinery/pkg/api/resource/quantity.go`, the comment above `type Quantity`), read strictly:

    <quantity>        ::= <number><suffix>
    <number>          ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
    <suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI>
    <binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei
    <decimalSI>       ::= m | "" | k | M | G | T | P | E
    <decimalExponent> ::= "e" <signedNumber> | "E" <signedNumber>

Stricter than that grammar in two ways, both of which Kubernetes itself would refuse or mis-read for the fields
that use this module: no sign (a negative request or volume size is refused by the API server's validation, and a
leading '+' is never needed), and no 'n'/'u' suffixes (the parser tolerates them but the documented grammar does
not list them, and nano-cores or micro-bytes are always a typo here). No whitespace anywhere.

A size (`Size`: volumes, memory) must also be at least one byte: a PVC of 0 or of `500m` bytes is refused by
Kubernetes or is a typo for `500Mi`.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator
from pydantic_core import PydanticCustomError

from infra.config.base import ConfigModel

# ASCII digits only ('\d' would take any Unicode digit) and fullmatch (a '$' would let a trailing newline in).
_QUANTITY = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
                       r"(?:(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)|[eE](?P<exponent>[+-]?[0-9]+))?")
_FACTORS: dict[str | None, Decimal] = {
    None: Decimal(1), "m": Decimal("0.001"), "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60}
# Kubernetes caps the exponent of a decimal quantity far below this; the bound only keeps Decimal sane.
_MAX_EXPONENT = 30

QUANTITY_HINT = "valid: a Kubernetes quantity without sign, e.g. '500m', '2', '1.5', '512Mi', '4Gi', '1e3'"
SIZE_HINT = "valid: e.g. '512Mi', '10Gi', '1Ti', '100G'"


def parse_quantity(value: object) -> Decimal:
    """The numeric value of a Kubernetes quantity ('500m' -> 0.5, '2Gi' -> 2147483648, '1e3' -> 1000).

    Raises ValueError naming the value and what is valid."""
    m = _QUANTITY.fullmatch(value) if isinstance(value, str) else None
    if not m:
        raise ValueError(f"{value!r} is not a Kubernetes quantity; {QUANTITY_HINT}")
    try:
        number = Decimal(m.group("number"))
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimal digits
        raise ValueError(f"{value!r} is not a Kubernetes quantity; {QUANTITY_HINT}") from None
    if m.group("exponent") is not None:
        exponent = int(m.group("exponent"))
        if abs(exponent) > _MAX_EXPONENT:
            raise ValueError(f"{value!r} has an exponent beyond ±{_MAX_EXPONENT}; {QUANTITY_HINT}")
        return number.scaleb(exponent)
    return number * _FACTORS[m.group("suffix")]


def check_quantity(value: str) -> str:
    """A pydantic validator: the value unchanged when it is a quantity, else an error saying what is valid."""
    try:
        parse_quantity(value)
    except ValueError:
        raise PydanticCustomError("pipeworks", "is not a Kubernetes quantity; " + QUANTITY_HINT) from None
    return value


def check_size(value: str) -> str:
    """A pydantic validator for byte sizes (volumes, memory): a quantity of at least one byte."""
    try:
        ok = parse_quantity(value) >= 1
    except ValueError:
        ok = False
    if not ok:
        raise PydanticCustomError("pipeworks", "is not a Kubernetes quantity of at least one byte; " + SIZE_HINT)
    return value


# Field types: `cpu: Quantity`, `storage_size: Size`.
Quantity = Annotated[str, AfterValidator(check_quantity)]
Size = Annotated[str, AfterValidator(check_size)]


class PodResources(ConfigModel):
    """Requests and limits of one container. Memory limit = request: JVMs size their heap from the
    limit, and a pod that is never over its request is never the first evicted."""

    cpu: Quantity = Field(..., description="CPU request, a Kubernetes quantity (e.g. '500m', '2').")
    memory: Size = Field(..., description="Memory request and limit, a Kubernetes quantity (e.g. '2Gi').")
    cpu_limit: Quantity | None = Field(
        None, description="CPU limit. Default: none (CPU is throttled, never killed).")

    @field_validator("cpu_limit")
    @classmethod
    def _limit_covers_request(cls, v: str | None, info) -> str | None:  # type: ignore[no-untyped-def]
        # The API server refuses a pod whose CPU request exceeds its limit (ValidateResourceRequirements,
        # kubernetes pkg/apis/core/validation): refuse it here, by key, instead of at `pulumi up`.
        cpu = info.data.get("cpu")
        if v is not None and cpu is not None and parse_quantity(v) < parse_quantity(cpu):
            raise PydanticCustomError("pipeworks", "is below the CPU request {cpu}; valid: at least the request",
                                      {"cpu": cpu})
        return v

    def k8s(self) -> dict[str, dict[str, str]]:
        """The container `resources` block."""
        limits = {"memory": self.memory}
        if self.cpu_limit:
            limits["cpu"] = self.cpu_limit
        return {"requests": {"cpu": self.cpu, "memory": self.memory}, "limits": limits}
