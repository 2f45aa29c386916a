"""Measures: how rows (one per deal, contact, order…) become an input's monthly value.

One declarative model, the same wherever the rows live: the month a row counts in (`date`, or the
month ends it spans for a `snapshot`), the rows kept (`filter`), what each row gives (`value`: a
column or an expression over its columns) and how a month's rows combine (`aggregate`). The model is
plain data; each engine compiles it (rows.py for files with polars).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from .errors import FormulaError
from .formula import Call, Formula, Name, Number, parse, transform, walk

MeasureAggregate = Literal["sum", "mean", "min", "max", "count", "count_distinct", "last"]
AGGREGATES: tuple[str, ...] = MeasureAggregate.__args__  # type: ignore[attr-defined]
# a snapshot adds up (or averages) the rows open at each month's end: a stock, not a flow
SNAPSHOT_AGGREGATES = ("sum", "count", "mean")
COMPARISONS = ("eq", "ne", "gt", "ge", "lt", "le", "in", "not_in", "empty")
# a row's value expression: + - * /, numbers, columns, and these functions
ROW_FUNCTIONS: dict[str, tuple[int, int | None, str]] = {
    "days_between": (2, 2, "days_between(a, b): the days from the date in column a to the date in column b"),
}
# how each measure's months may be rolled up over the year by the input's `aggregate`: a month's
# count adds up over months, a mean does not
INPUT_AGGREGATES = {"sum": ("sum", "count"), "count": ("sum", "count"), "count_distinct": ("sum", "count"),
                    "mean": ("mean",), "min": ("min",), "max": ("max",), "last": ("last",)}


@dataclass(frozen=True)
class Condition:
    """One test on a row's cell: `eq`/`ne` a value, `in`/`not_in` a list, `gt`… a number or date,
    `empty` true or false."""

    column: str
    op: str
    value: Any


@dataclass(frozen=True)
class Snapshot:
    start: str  # the column of the date the row opens (a deal created)
    end: str  # the column of the date it closes; empty while it is open


@dataclass(frozen=True)
class Measure:
    input: str
    key: str  # where it is written in the config (sources.0.measures.revenue), for messages
    aggregate: str
    date: str | None  # the column whose month a row counts in (None for a snapshot)
    value: str | None  # as written: a column's name, or an expression over columns (None: count rows)
    expression: Formula | None  # `value` parsed, when it parses; a column name with spaces does not
    unparsed: str | None = None  # why `value` is no expression (then it must be a column's name)
    filter: tuple[Condition, ...] = ()
    snapshot: Snapshot | None = None

    def value_columns(self, columns: list[str]) -> list[str]:
        """The columns `value` reads in a file with these `columns`."""
        if self.value is None:
            return []
        if self.value in columns or self.expression is None:
            return [self.value]
        return sorted(node.name for node in walk(self.expression.tree) if isinstance(node, Name))

    def month_columns(self) -> list[str]:
        """The columns that place a row in months: `date`, or the snapshot's start and end."""
        return [self.date] if self.date else [self.snapshot.start, self.snapshot.end] if self.snapshot else []

    def date_columns(self) -> list[str]:
        """The columns read as dates: the month's (or the snapshot's), and those of days_between()."""
        dated = self.month_columns()
        if self.expression is not None:
            for node in walk(self.expression.tree):
                if isinstance(node, Call):
                    dated += [arg.name for arg in node.args if isinstance(arg, Name)]
        return list(dict.fromkeys(dated))


_SAID = {"eq": "=", "ne": "≠", "gt": ">", "ge": "≥", "lt": "<", "le": "≤", "in": "in", "not_in": "not in"}


def describe(measure: Measure, time_zone: str | None = None) -> str:
    """The measure in words, for `validate`: what it adds up, over which rows, in which month (and
    whose months, with a source's time_zone)."""
    what = "rows" if measure.value is None else measure.value
    said = {"count": f"count of {what}", "count_distinct": f"distinct {what}"}.get(
        measure.aggregate, f"{measure.aggregate} of {what}")
    tests = [f"{c.column} {'is empty' if c.value else 'is not empty'}" if c.op == "empty"
             else f"{c.column} {_SAID[c.op]} {c.value}" for c in measure.filter]
    kept = f" where {' and '.join(tests)}" if tests else ""
    zone = f", months in {time_zone}" if time_zone else ""
    if measure.snapshot is not None:
        return (f"{said}{kept}, open at each month's end (from {measure.snapshot.start} to "
                f"{measure.snapshot.end}){zone}")
    return f"{said}{kept}, by the month of {measure.date}{zone}"


_QUOTED = re.compile(r"`([^`]*)`|\[([^\]]*)\]")  # `Date de création` or [Date de création]


def parse_value(text: str) -> tuple[Formula | None, FormulaError | None]:
    """A value as an expression over a row's columns, or the reason it is not one (then it must be a
    column's name). days_between() takes two columns, not expressions. A column whose name is not a
    plain word is quoted in it: days_between(`Date de création`, [Date de clôture])."""
    quoted: dict[str, str] = {}

    def placeholder(match: re.Match[str]) -> str:  # a plain name as long as the quote: positions hold
        name = f"_q{len(quoted)}_".ljust(len(match.group(0)), "_")
        quoted[name] = (match.group(1) if match.group(1) is not None else match.group(2)).strip()
        return name

    plain = _QUOTED.sub(placeholder, text)
    try:
        formula = parse(plain, ROW_FUNCTIONS)
    except FormulaError as exc:
        message = exc.message
        for name in quoted:  # the formula as written, in the message's excerpt
            message = message.replace(name, text[plain.index(name):plain.index(name) + len(name)])
        return None, FormulaError(message, hint=exc.hint)
    if quoted:
        tree = transform(formula.tree, lambda name: Name(quoted.get(name.name, name.name), name.kind))
        assert tree is not None, "every name is replaced by a name"
        formula = Formula(text, tree)
    for node in walk(formula.tree):
        if isinstance(node, Call) and not all(isinstance(arg, Name) for arg in node.args):
            return None, FormulaError(f"{node.function}() takes two column names",
                                      hint="e.g. days_between(created_at, closed_at)")
    if isinstance(formula.tree, Number):
        return None, FormulaError("a value is a column or an expression over columns, not a number",
                                  hint="to count rows, leave 'value' out and write 'aggregate: count'")
    return formula, None


def cell_text(value: object) -> str:
    """A filter value as a (trimmed) cell shows it: 2026, not 2026.0; true as true; a date as YYYY-MM-DD."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def cell_numbers(values: list[object]) -> list[float]:
    """The filter values a number cell can equal: 2026 and "2026" alike (never a date or true)."""
    found = []
    for value in values:
        if isinstance(value, bool | date):
            continue
        try:
            found.append(float(value))  # type: ignore[arg-type]
        except ValueError:
            continue
    return found


def conditions(column: str, written: Any) -> list[Condition]:
    """A filter entry as conditions: a value (equal to it), a list (any of them), or comparisons."""
    if isinstance(written, dict):
        return [Condition(column, op, value) for op, value in written.items()]
    if isinstance(written, list):
        return [Condition(column, "in", written)]
    return [Condition(column, "eq", written)]
