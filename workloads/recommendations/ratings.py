"""The ratings format of the report's e-commerce chapter: one rating per line, ``userId::productId::rating::timestamp``
(MovieLens' ``ratings.dat`` layout: integer ids, a rating from 0 to 5, a Unix timestamp in seconds), and the
clicks format of the ``clicks`` topic, ``userId::productId::timestamp``.

Pure and standard-library only: the Spark jobs parse the same way with Spark SQL (``SPARK_PATTERN`` below), the
API and the tests with ``parse_rating``. Application code: never imports pulumi or infra.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SEPARATOR = "::"
MAX_ID = 2**31 - 1  # ALS keeps user and item ids as Spark IntegerType
MAX_RATING = 5.0
# One line of the ratings format, as a regular expression Spark's regexp_extract and Python both understand.
SPARK_PATTERN = r"^\s*(\d{1,10})::(\d{1,10})::(\d+(?:\.\d+)?)::(\d{1,12})\s*$"
CLICK_PATTERN = r"^\s*(\d{1,10})::(\d{1,10})::(\d{1,12})\s*$"
_RATING = re.compile(SPARK_PATTERN)
_CLICK = re.compile(CLICK_PATTERN)


class InvalidRecord(ValueError):
    """A line that is not a record of the format; the message says which part and what is valid."""


@dataclass(frozen=True)
class Rating:
    user: int
    item: int
    rating: float
    timestamp: int

    def line(self) -> str:
        value = int(self.rating) if float(self.rating).is_integer() else self.rating
        return SEPARATOR.join((str(self.user), str(self.item), str(value), str(self.timestamp)))


@dataclass(frozen=True)
class Click:
    user: int
    item: int
    timestamp: int

    def line(self) -> str:
        return SEPARATOR.join((str(self.user), str(self.item), str(self.timestamp)))


def _id(text: str, what: str) -> int:
    value = int(text)
    if value > MAX_ID:
        raise InvalidRecord(f"{what} {value} exceeds {MAX_ID} (ids are 32-bit integers)")
    return value


def parse_rating(line: str) -> Rating:
    """One ``userId::productId::rating::timestamp`` line; InvalidRecord names what is wrong."""
    match = _RATING.match(line)
    if not match:
        raise InvalidRecord(f"{line[:80]!r} is not userId::productId::rating::timestamp (non-negative integer ids, "
                            "a rating from 0 to 5, a Unix timestamp)")
    rating = float(match.group(3))
    if rating > MAX_RATING:
        raise InvalidRecord(f"rating {rating} is above {MAX_RATING}")
    return Rating(_id(match.group(1), "userId"), _id(match.group(2), "productId"), rating, int(match.group(4)))


def parse_click(line: str) -> Click:
    """One ``userId::productId::timestamp`` line of the clicks topic."""
    match = _CLICK.match(line)
    if not match:
        raise InvalidRecord(f"{line[:80]!r} is not userId::productId::timestamp (non-negative integer ids, a Unix "
                            "timestamp)")
    return Click(_id(match.group(1), "userId"), _id(match.group(2), "productId"), int(match.group(3)))


def to_text(records: list[Rating] | list[Click]) -> str:
    return "".join(r.line() + "\n" for r in records)
