"""A calendar month as a value: the time axis of every series, KPI and sheet column."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_MONTH_TEXT = re.compile(r"^(\d{4})-(\d{1,2})$")


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise ValueError(f"month must be 1..12, not {self.month}")

    @classmethod
    def parse(cls, text: str) -> Month:
        """Read `YYYY-MM`; raises ValueError with the offending text otherwise."""
        match = _MONTH_TEXT.match(str(text).strip())
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise ValueError(f"'{text}' is not a month written YYYY-MM")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, day: dt.date) -> Month:
        return cls(day.year, day.month)

    @classmethod
    def at_index(cls, index: int) -> Month:
        """The month whose `index` this is."""
        return cls(index // 12, index % 12 + 1)

    @property
    def index(self) -> int:
        """Months since January of year 0: consecutive months have consecutive indexes, and
        `index - index % 12` is the January of the same year."""
        return self.year * 12 + self.month - 1

    def __add__(self, months: int) -> Month:
        return Month.at_index(self.index + months)

    def __sub__(self, months: int) -> Month:
        return self + (-months)

    def minus(self, other: Month) -> int:
        """How many months `other` lies before this one."""
        return (self.year - other.year) * 12 + self.month - other.month

    @property
    def first_day(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    @property
    def january(self) -> Month:
        return Month(self.year, 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def month_range(first: Month, last: Month) -> list[Month]:
    """Every month from `first` to `last`, both included."""
    return [first + i for i in range(last.minus(first) + 1)]
