"""The measures compiled for rows held in memory by polars (a CSV, XLSX or Parquet file).

The cells have been read already (numbers and dates parsed, bad ones reported by sources.py): here
the measure's filter, value and aggregate become polars expressions over those columns, and each
month's value comes out. Two rules hold for every engine: an empty cell is no value (never 0), and
a month without rows kept has no value, but for a count (or a distinct count), which is 0 in the
months the source covers (from the month of its earliest date to that of its latest, every date
column of its measures counted, filters aside).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import polars as pl

from .formula import Binary, Call, Name, Negate, Node, Number
from .measures import Condition

MONTH, VALUE, ROWS = "month", "value", "rows"  # the columns of a measure's monthly result


def kept(condition: Condition, text: pl.Series, number: pl.Series | None, day: pl.Series | None) -> pl.Series:
    """Whether each row passes one condition (never null). `text`: the cells as trimmed text (empty:
    null); `number`, `day`: the cells read as numbers, as dates (when the condition needs them)."""
    op, wanted = condition.op, condition.value
    if op == "empty":
        return text.is_null() == wanted
    if op in ("gt", "ge", "lt", "le"):
        cell, bound = (day, wanted) if isinstance(wanted, dt.date) else (number, float(wanted))
        assert cell is not None  # sources.py reads the column as the bound asks
        compared = {"gt": cell > bound, "ge": cell >= bound, "lt": cell < bound, "le": cell <= bound}[op]
        return compared.fill_null(False)
    allowed = wanted if isinstance(wanted, list) else [wanted]
    same = text.is_in([as_text(value).strip() for value in allowed]).fill_null(False)  # cells are trimmed too
    if number is not None:  # 2026 and "2026.0" alike, in a column of numbers
        same |= number.is_in([n for n in map(as_number, allowed) if n is not None]).fill_null(False)
    return ~same if op in ("ne", "not_in") else same


def as_text(value: object) -> str:
    """A filter value as a cell shows it: 2026, not 2026.0; true as true; a date as YYYY-MM-DD."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def as_number(value: object) -> float | None:
    if isinstance(value, (bool, dt.date)):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except ValueError:
        return None


def expression(node: Node, column: Callable[[str], pl.Expr], day: Callable[[str], pl.Expr]) -> pl.Expr:
    """A row's value expression over its columns read as numbers (`column`) or dates (`day`), with the
    formulas' rule: a division by zero or an empty cell anywhere gives no value."""
    if isinstance(node, Number):
        return pl.lit(node.value, dtype=pl.Float64)
    if isinstance(node, Name):
        return column(node.name)
    if isinstance(node, Negate):
        return -expression(node.operand, column, day)
    if isinstance(node, Call):  # days_between(a, b): whole days from a to b, as Excel's DAYS(b, a)
        start, end = (day(arg.name) for arg in node.args)  # type: ignore[union-attr]
        return (end - start).dt.total_days().cast(pl.Float64)
    assert isinstance(node, Binary)
    left, right = expression(node.left, column, day), expression(node.right, column, day)
    if node.op == "/":
        return pl.when(right != 0).then(left / right)
    return {"+": left + right, "-": left - right, "*": left * right}[node.op]


def monthly_rows(days: pl.Series, values: pl.Series | None, keep: pl.Series, how: str) -> pl.DataFrame:
    """One row per month that has kept rows (placed by their `days`): the `how` of their values (rows
    without a value left out; count: the rows with one, or every row when there is no value; last: the
    latest day's, on one day the lowest row's) and how many rows it is of."""
    ones = pl.repeat(1.0, len(days), eager=True)
    frame = pl.DataFrame({"day": days, VALUE: values if values is not None else ones,
                          "order": pl.int_range(len(days), eager=True)})
    frame = frame.filter(keep & pl.col("day").is_not_null() & pl.col(VALUE).is_not_null())
    value = pl.col(VALUE)
    combined = {"sum": value.sum(), "mean": value.mean(), "min": value.min(), "max": value.max(),
                "count": value.count().cast(pl.Float64), "count_distinct": value.n_unique().cast(pl.Float64),
                "last": value.sort_by("day", "order").last()}[how]
    # maintain_order and a sort: the same sums to the last bit at every run, whatever the threads do
    return (frame.group_by(pl.col("day").dt.month_start().alias(MONTH), maintain_order=True)
            .agg(combined.alias(VALUE), pl.len().alias(ROWS)).sort(MONTH))


def at_month_ends(starts: pl.Series, ends: pl.Series, values: pl.Series | None, keep: pl.Series, how: str,
                  covered: list[dt.date]) -> pl.DataFrame:
    """A snapshot: for each covered month, the rows open at its end (opened on or before it, and not
    closed by then: an empty end, or one after it), combined by `how` (sum, count or mean).

    A row is open at the end of the months from that of its start up to the one before that of its
    end. Rows are first grouped by those two months, so the work grows with months², not rows × months,
    and no running total subtracts (no float noise)."""
    first, after = starts.dt.month_start(), ends.dt.month_start()
    frame = pl.DataFrame({"first": first, "after": after,
                          VALUE: values if values is not None else pl.repeat(1.0, len(starts), eager=True)})
    frame = frame.filter(keep & pl.col("first").is_not_null() & pl.col(VALUE).is_not_null())
    spans = frame.group_by("first", "after").agg(pl.col(VALUE).sum().alias("sum"), pl.len().alias(ROWS))
    months = pl.DataFrame({MONTH: pl.Series(covered, dtype=pl.Date)})
    open_at = (months.join(spans, how="cross")
               .filter((pl.col("first") <= pl.col(MONTH))
                       & (pl.col("after").is_null() | (pl.col("after") > pl.col(MONTH))))
               .group_by(MONTH).agg(pl.col("sum").sum(), pl.col(ROWS).sum()))
    value = {"sum": pl.col("sum"), "count": pl.col(ROWS).cast(pl.Float64),
             "mean": pl.col("sum") / pl.col(ROWS)}[how]
    return open_at.select(MONTH, value.alias(VALUE), ROWS).sort(MONTH)


def covered_months(days: list[pl.Series]) -> list[dt.date]:
    """The first day of every month from the earliest date to the latest among `days`."""
    known = [series.drop_nulls() for series in days]
    known = [series for series in known if len(series)]
    if not known:
        return []
    first = min(series.min() for series in known)  # type: ignore[type-var]
    last = max(series.max() for series in known)  # type: ignore[type-var]
    return pl.date_range(first.replace(day=1), last.replace(day=1), interval="1mo", eager=True).to_list()


def with_zeros(result: pl.DataFrame, covered: list[dt.date]) -> pl.DataFrame:
    """A count's months: 0 in every covered month without rows kept."""
    months = pl.DataFrame({MONTH: pl.Series(covered, dtype=pl.Date)})
    return (months.join(result, on=MONTH, how="left")
            .with_columns(pl.col(VALUE).fill_null(0.0), pl.col(ROWS).fill_null(0)).sort(MONTH))
