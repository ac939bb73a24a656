"""The base of every stack-config model (camelCase keys as in the stack files, unknown keys rejected) and
the error helpers every section uses, so messages name the key the same way everywhere."""

from __future__ import annotations

import re
import types
import typing
from typing import Any, NoReturn

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError


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

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, data: Any) -> Any:
        """pydantic reads `minSize: true` as 1; a boolean where a number belongs is a mistake, not a count."""
        if isinstance(data, dict):
            for name, f in cls.model_fields.items():
                key = f.alias or name
                for k in (key, name):
                    if isinstance(data.get(k), bool) and _is_numeric(f.annotation):
                        fail(key, data[k], "is a boolean; valid: a number")
        return data


def _is_numeric(annotation: Any) -> bool:
    """int, float, or an optional/union of them (not bool, which is an int subclass)."""
    if annotation in (int, float):
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return bool(args) and all(a in (int, float) for a in args)
    return False


# A value only the stack's owner can know (their network's CIDR, their transit gateway), shipped as
# `<...>` so that `pipeworks plan` works out of the box while `pulumi preview/up` refuses it by key
# (infra.config.loader.refuse_placeholders).
PLACEHOLDER = re.compile(r"^<[^<>]+>$")


def is_placeholder(value: object) -> bool:
    return isinstance(value, str) and PLACEHOLDER.match(value) is not None


DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def fail(field: str, value: object, msg: str) -> NoReturn:
    """A cross-field error; the loader renders it as `<file>: pipeworks:<model path>.<field>=<value> <msg>`."""
    raise PydanticCustomError("pipeworks_field", "{field}={value} {msg}", {"field": field, "value": value, "msg": msg})


def check_dns_label(value: str, max_len: int = 40, why: str = "(a-z, 0-9, '-')") -> str:
    """A validator of a Kubernetes object/namespace name field: the value unchanged when it is a DNS label of at
    most max_len characters, else an error saying what is valid. (infra.naming.join_dns_label BUILDS a label.)"""
    if not DNS_LABEL.match(value) or len(value) > max_len:
        raise PydanticCustomError("pipeworks", "is not a DNS label of at most {max_len} characters {why}",
                                  {"max_len": max_len, "why": why})
    return value


