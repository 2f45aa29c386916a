"""The measures compiled to polars plans, over a table of typed cells.

A measure reads columns in three typed forms: as text (`text_of`: trimmed, an empty cell null), as
numbers (`number_of`) and as dates (`day_of`). row_sources.py makes those forms from a file's cells,
reporting the cells that cannot be read; a Parquet file whose columns are typed already gets them as
expressions over a lazy scan, so that a file larger than memory streams through the same plans.

Two rules hold for every engine: an empty cell is no value (never 0), and a month without rows kept
has no value, but for a count (or a distinct count), which is 0 in the months the source covers (from
the month of its earliest date to that of its latest, every date column of its measures counted,
filters aside).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import polars as pl

from .cells import day_in_zone
from .formula import Binary, Call, Name, Negate, Node, Number, walk
from .measures import Condition, Measure, cell_numbers, cell_text

MONTH, VALUE, ROWS = "month", "value", "rows"  # the columns of a measure's monthly result
DAY = "day"  # a day's partial results, before they are added up into months
ORDER = "\x00order"  # the row's place in the file: `last` breaks a tie between rows of one day with it
COMPARED = ("gt", "ge", "lt", "le")
# a hidden condition, never in a config: not the rows a bad cell leaves out of the measure (--skip-bad-rows)
LEFT_OUT = "left out"


def text_of(column: str) -> str:
    return f"{column}\x00text"


def number_of(column: str) -> str:
    return f"{column}\x00number"


def day_of(column: str) -> str:
    return f"{column}\x00day"


def left_out_of(input_id: str) -> str:
    """The hidden column of the rows left out of input_id's measure: a bad cell it reads there."""
    return f"{input_id}\x00left out"


def leaving_out(measure: Measure) -> Measure:
    """The measure without the rows its hidden column `left_out_of` holds true: a bad cell it reads
    leaves a row out of it alone, the other measures still count the row."""
    return replace(measure, filter=(*measure.filter, Condition(left_out_of(measure.input), LEFT_OUT, True)))


def key_of(column: str) -> str:
    """A typed column of whole numbers as it is: a distinct count counts them, as it would their text."""
    return f"{column}\x00key"


@dataclass(frozen=True)
class Forms:
    """Which typed forms of which columns some measures read."""

    text: frozenset[str]
    number: frozenset[str]
    day: frozenset[str]
    ordered: bool  # whether a measure needs the rows' order (ORDER): `last` does, to break ties


def forms(measures: tuple[Measure, ...] | list[Measure], columns: list[str], numeric: set[str]) -> Forms:
    """The forms `measures` read, in a file of these `columns`, the `numeric` ones holding numbers."""
    found: dict[str, set[str]] = {"text": set(), "number": set(), "day": set()}
    for measure in measures:
        for form, column in compares(measure):
            found[form].add(column)
        for condition in measure.filter:
            column = condition.column
            if condition.op not in COMPARED:
                found["text"].add(column)
                if column in numeric and condition.op != "empty":  # 2026 and 2026.0 alike
                    found["number"].add(column)
        for form, column in reads(measure, columns):
            found[form].add(column)
    return Forms(frozenset(found["text"]), frozenset(found["number"]), frozenset(found["day"]),
                 any(measure.aggregate == "last" for measure in measures))


def single_column(measure: Measure, columns: list[str]) -> str | None:
    """The column the value is, when it is one (a name with spaces, or an expression of one name)."""
    if measure.value is None:
        return None
    if measure.value in columns or measure.expression is None:
        return measure.value
    tree = measure.expression.tree
    return tree.name if isinstance(tree, Name) else None


def compares(measure: Measure) -> list[tuple[str, str]]:
    """The (form, column) pairs a measure's filter compares with a number or a date (`ge`…)."""
    return [("day" if isinstance(c.value, dt.date) else "number", c.column) for c in measure.filter
            if c.op in COMPARED]


def reads(measure: Measure, columns: list[str]) -> list[tuple[str, str]]:
    """The (form, column) pairs a measure reads for its value and its months (not its filter)."""
    pairs = [("day", column) for column in measure.date_columns()]
    single = single_column(measure, columns)
    if single is not None:
        pairs.append(("text" if measure.aggregate in ("count", "count_distinct") else "number", single))
    elif measure.expression is not None:
        pairs += [("number", node.name) for node in walk(measure.expression.tree)
                  if isinstance(node, Name) and node.name not in measure.date_columns()]
    return pairs


def typed_scan(scan: pl.LazyFrame, found: Forms, time_zone: str | None = None) -> pl.LazyFrame | None:
    """The forms straight from typed columns (a Parquet file's): no cell to read, so none to report;
    a timestamp with a zone on its day in `time_zone` (cells.day_in_zone). None when a form needs
    reading text (numbers or dates written as text): that file is read whole."""
    schema = scan.collect_schema()
    dated = [schema[c] == pl.Date or isinstance(schema[c], pl.Datetime) for c in found.day]
    if not all(schema[c].is_numeric() for c in found.number) or not all(dated):
        return None
    # the row's place only for `last` (numbering the rows costs a tenth of a pass)
    typed = [pl.col(ORDER)] if found.ordered else []
    for column in found.text:
        if schema[column].is_integer():  # the text of a whole number is never padded, nor empty
            typed += [pl.col(column).cast(pl.String).alias(text_of(column)), pl.col(column).alias(key_of(column))]
            continue
        text = pl.col(column).cast(pl.String).str.strip_chars()
        if schema[column].is_float():
            text = pl.when(pl.col(column).is_nan()).then(None).otherwise(text)
        typed.append(pl.when(text != "").then(text).alias(text_of(column)))
    typed += [pl.col(c).cast(pl.Float64).fill_nan(None).alias(number_of(c)) for c in found.number]
    typed += [(pl.col(c) if schema[c] == pl.Date else day_in_zone(pl.col(c), schema[c], time_zone)).alias(day_of(c))
              for c in found.day]
    return (scan.with_row_index(ORDER) if found.ordered else scan).select(typed)


def kept(measure: Measure, numbers: frozenset[str]) -> pl.Expr:
    """Whether a row passes the measure's filter: every condition holds (never null)."""
    keep = pl.lit(True)
    for condition in measure.filter:
        keep = keep & _condition(condition, condition.column in numbers)
    return keep


def _condition(condition: Condition, as_number: bool) -> pl.Expr:
    op, wanted, column = condition.op, condition.value, condition.column
    if op == LEFT_OUT:
        return ~pl.col(column)
    text = pl.col(text_of(column))
    if op == "empty":
        return text.is_null() == wanted
    if op in COMPARED:
        cell = pl.col(day_of(column)) if isinstance(wanted, dt.date) else pl.col(number_of(column))
        bound = wanted if isinstance(wanted, dt.date) else float(wanted)
        compared = {"gt": cell > bound, "ge": cell >= bound, "lt": cell < bound, "le": cell <= bound}[op]
        return compared.fill_null(False)
    allowed = wanted if isinstance(wanted, list) else [wanted]
    same = text.is_in([cell_text(value) for value in allowed]).fill_null(False)
    numbers = cell_numbers(allowed)
    if as_number and numbers:  # 2026 and "2026.0" alike, in a column of numbers
        same = same | pl.col(number_of(column)).is_in(numbers).fill_null(False)
    return ~same if op in ("ne", "not_in") else same


def named_values(condition: Condition) -> list[str]:
    """The cell texts a condition names (`eq`, `ne`, `in`, `not_in`); none for a comparison or `empty`."""
    if condition.op == "empty" or condition.op in COMPARED:
        return []
    return [cell_text(value) for value in (condition.value if isinstance(condition.value, list) else [condition.value])]


def unmatched_values(rows: pl.LazyFrame, measures: tuple[Measure, ...] | list[Measure], numbers: frozenset[str],
                     results: dict[str, pl.DataFrame]) -> list[tuple[str, str]]:
    """The (column, value) pairs the measures' filters name that no row holds: a misspelt value keeps no
    row, and its measure's months would silently be 0. A measure that kept a row in its `results` has
    every `eq` value in the file: only the others (lists, `ne`, the measures that kept nothing) cost a
    pass, over the filtered columns only, so the usual config costs none. None for a file without rows
    (it is warned about already)."""
    found_by_kept_rows = {(c.column, cell_text(c.value)) for m in measures if results[m.input][ROWS].sum()
                          for c in m.filter if c.op == "eq" and not isinstance(c.value, list)}
    named = list(dict.fromkeys((c.column, text) for m in measures for c in m.filter for text in named_values(c)
                               if (c.column, text) not in found_by_kept_rows))
    if not named:
        return []
    matches = [_condition(Condition(column, "eq", text), column in numbers).any() for column, text in named]
    found = rows.select(pl.len(), *(match.alias(str(index)) for index, match in enumerate(matches))
                        ).collect(engine="streaming").row(0)
    return [pair for pair, hit in zip(named, found[1:], strict=True) if not hit] if found[0] else []


def value_of(measure: Measure, columns: list[str]) -> pl.Expr:
    """Each row's value (1 for every row when the rows are counted); null for no value."""
    single = single_column(measure, columns)
    if measure.value is None:  # a column of ones (a literal 1.0 would aggregate as one value), from the
        # date that places the row in months: every row a measure keeps has one
        return pl.col(day_of(measure.month_columns()[0])).is_not_null().cast(pl.Float64)
    if single is not None:
        if measure.aggregate == "count_distinct":
            return pl.col(text_of(single))
        if measure.aggregate == "count":  # the rows with a value, text or number
            return pl.when(pl.col(text_of(single)).is_not_null()).then(pl.lit(1.0))
        return pl.col(number_of(single))
    computed = _expression(measure.expression.tree)  # type: ignore[union-attr]
    return pl.when(computed.is_finite()).then(computed)


def _expression(node: Node) -> pl.Expr:
    """A row's value expression, with the formulas' rule: a division by zero or an empty cell anywhere
    gives no value."""
    if isinstance(node, Number):
        return pl.lit(node.value, dtype=pl.Float64)
    if isinstance(node, Name):
        return pl.col(number_of(node.name))
    if isinstance(node, Negate):
        return -_expression(node.operand)
    if isinstance(node, Call):  # days_between(a, b): whole days from a to b, as Excel's DAYS(b, a)
        start, end = (pl.col(day_of(arg.name)) for arg in node.args)  # type: ignore[union-attr]
        return (end - start).dt.total_days().cast(pl.Float64)
    assert isinstance(node, Binary)
    left, right = _expression(node.left), _expression(node.right)
    if node.op == "/":
        return pl.when(right != 0).then(left / right)
    return {"+": left + right, "-": left - right, "*": left * right}[node.op]


def monthly(rows: pl.LazyFrame, measures: list[Measure], columns: list[str], numbers: frozenset[str]
            ) -> tuple[pl.DataFrame, pl.Series]:
    """The measures placed in months by one date column, in one pass over the rows: per month that has
    dated rows, each measure's `aggregate` of the values of the rows it keeps (rows without a value left
    out; `last`: the latest day's, on one day the lowest row's) as v<i>, and how many rows as r<i>; and
    the distinct days of the column. The pass groups by day (a file's days are a few thousand), then
    the days are added up into months: the days tell the months covered and a partial last month
    without a pass of their own (a tenth of the time, at 100 million rows)."""
    day = pl.col(day_of(measures[0].date))  # type: ignore[arg-type]
    by_day, by_month = [], []
    for index, measure in enumerate(measures):
        value, v, r = value_of(measure, columns), f"v{index}", f"r{index}"
        used = kept(measure, numbers) & value.is_not_null()
        values = pl.when(used).then(value)  # null for the rows it does not keep: not a filter, which cannot stream
        daily = {"sum": values.sum(), "mean": values.sum(), "min": values.min(), "max": values.max(),
                 "count": values.count().cast(pl.Float64),
                 "last": values.sort_by(used, day, pl.col(ORDER)).last()}[measure.aggregate]
        by_day += [daily.alias(v), used.sum().alias(r)]
        rows_kept = pl.col(r) > 0  # the latest day with a row kept holds a month's last value
        by_month += [{"sum": pl.col(v).sum(), "mean": pl.col(v).sum() / pl.col(r).sum(), "min": pl.col(v).min(),
                      "max": pl.col(v).max(), "count": pl.col(v).sum(),
                      "last": pl.col(v).filter(rows_kept).last(),  # the days come in order (sorted, order kept)
                      }[measure.aggregate].alias(v), pl.col(r).sum()]
    # maintain_order and sorts: the same sums to the last bit at every run, whatever the threads do
    days = (rows.filter(day.is_not_null()).group_by(day.alias(DAY), maintain_order=True).agg(by_day).sort(DAY)
            .collect(engine="streaming"))
    months = (days.group_by(pl.col(DAY).dt.month_start().alias(MONTH), maintain_order=True).agg(by_month)
              .sort(MONTH))
    return months, days[DAY]


def distinct(rows: pl.LazyFrame, measure: Measure, columns: list[str], numbers: frozenset[str]) -> pl.LazyFrame:
    """A distinct count a month, in a pass of its own: the month and value pairs first, then the pairs
    a month (streams with a memory of one entry per pair; a set of values per month in one pass does not)."""
    day, value = pl.col(day_of(measure.date)), value_of(measure, columns)  # type: ignore[arg-type]
    single = single_column(measure, columns)
    if single is not None and key_of(single) in rows.collect_schema():  # whole numbers: counted as they are
        value = pl.col(key_of(single))
    pairs = (rows.filter(kept(measure, numbers) & day.is_not_null() & value.is_not_null())
             .group_by(day.dt.month_start().alias(MONTH), value.alias("key")).agg(pl.len().alias(ROWS)))
    return (pairs.group_by(MONTH).agg(pl.len().cast(pl.Float64).alias(VALUE), pl.col(ROWS).sum())
            .sort(MONTH))


def one_measure(result: pl.DataFrame, index: int) -> pl.DataFrame:
    """Measure <index>'s months (month, value, rows) from a pass of several: those it kept rows in."""
    return (result.filter(pl.col(f"r{index}") > 0)
            .select(MONTH, pl.col(f"v{index}").cast(pl.Float64).alias(VALUE), pl.col(f"r{index}").alias(ROWS)))


def at_month_ends(rows: pl.LazyFrame, measure: Measure, columns: list[str], numbers: frozenset[str],
                  covered: list[dt.date]) -> pl.LazyFrame:
    """A snapshot: for each covered month, the rows open at its end (started on or before it, and not
    ended by then: an empty end, or one after it), combined by `sum`, `count` or `mean`.

    A row is open at the ends of the months from that of its start up to the one before that of its
    end. Rows are grouped by those two months first, so the work grows with months², not rows × months,
    and no running total subtracts (no float noise)."""
    assert measure.snapshot is not None
    first = pl.col(day_of(measure.snapshot.start)).dt.month_start().alias("first")
    after = pl.col(day_of(measure.snapshot.end)).dt.month_start().alias("after")
    value = value_of(measure, columns)
    spans = (rows.filter(kept(measure, numbers) & first.is_not_null() & value.is_not_null())
             .group_by(first, after, maintain_order=True).agg(value.sum().alias("sum"), pl.len().alias(ROWS)))
    months = pl.LazyFrame({MONTH: pl.Series(covered, dtype=pl.Date)})
    open_at = (months.join(spans, how="cross")
               .filter((pl.col("first") <= pl.col(MONTH))
                       & (pl.col("after").is_null() | (pl.col("after") > pl.col(MONTH))))
               .group_by(MONTH, maintain_order=True).agg(pl.col("sum").sum(), pl.col(ROWS).sum()))
    combined = {"sum": pl.col("sum"), "count": pl.col(ROWS).cast(pl.Float64),
                "mean": pl.col("sum") / pl.col(ROWS)}[measure.aggregate]
    return open_at.select(MONTH, combined.alias(VALUE), ROWS).sort(MONTH)


def days(rows: pl.LazyFrame, columns: list[str]) -> pl.Series:
    """The distinct days of these date columns (for the months covered and a partial last month)."""
    # one column at a time: plans sharing the scan would have it cached whole (a file larger than memory)
    found = [rows.select(pl.col(day_of(column)).unique().alias("day")).collect(engine="streaming")
             for column in columns]
    return pl.concat(found)["day"].unique().drop_nulls()


def covered_months(known: pl.Series) -> list[dt.date]:
    """The first day of every month from the earliest of `known` days to the latest."""
    if not len(known):
        return []
    first, last = known.min(), known.max()
    return pl.date_range(first.replace(day=1), last.replace(day=1), interval="1mo",  # type: ignore[union-attr]
                         eager=True).to_list()


def with_zeros(result: pl.DataFrame, covered: list[dt.date]) -> pl.DataFrame:
    """A count's months: 0 in every covered month without rows kept."""
    months = pl.DataFrame({MONTH: pl.Series(covered, dtype=pl.Date)})
    return (months.join(result, on=MONTH, how="left")
            .with_columns(pl.col(VALUE).fill_null(0.0), pl.col(ROWS).fill_null(0)).sort(MONTH))


def measure_months(rows: pl.LazyFrame, measures: tuple[Measure, ...] | list[Measure], columns: list[str],
                   numbers: frozenset[str]) -> tuple[dict[str, pl.DataFrame], pl.Series]:
    """Every measure's months (month, value, rows), and the distinct days of the columns that place
    rows in months (for the months covered and a partial last month): one pass per date column (the
    measures it places in months together, as one GROUP BY, which gives its days too), one per
    snapshot and per distinct count, and one for the days of a column no GROUP BY reads. The passes
    run one at a time: passes sharing a scan would have it cached whole (a file larger than memory)."""
    results: dict[str, pl.DataFrame] = {}
    found: dict[str, pl.Series] = {}
    grouped = by_date([m for m in measures if m.snapshot is None and m.aggregate != "count_distinct"])
    for date, group in grouped.items():
        together, found[date] = monthly(rows, group, columns, numbers)
        results |= {measure.input: one_measure(together, index) for index, measure in enumerate(group)}
    others = [c for c in dict.fromkeys(c for m in measures for c in m.month_columns()) if c not in found]
    dated = pl.concat([*found.values(), *([days(rows, others)] if others else [])]).unique().sort()
    covered = covered_months(dated)
    for measure in measures:
        if measure.snapshot is not None:
            results[measure.input] = at_month_ends(rows, measure, columns, numbers, covered).collect(engine="streaming")
        elif measure.aggregate == "count_distinct":
            results[measure.input] = distinct(rows, measure, columns, numbers).collect(engine="streaming")
    return {m.input: finished(m, results[m.input], covered) for m in measures}, dated


def by_date(measures: list[Measure]) -> dict[str, list[Measure]]:
    """The measures placed in months by a date column, by that column: each group one pass (one GROUP BY)."""
    groups: dict[str, list[Measure]] = {}
    for measure in measures:
        groups.setdefault(measure.date, []).append(measure)  # type: ignore[arg-type]
    return groups


def finished(measure: Measure, result: pl.DataFrame, covered: list[dt.date]) -> pl.DataFrame:
    """A measure's months as its pass gave them; a count's with 0 in each covered month it kept no row in."""
    counted = measure.snapshot is None and measure.aggregate in ("count", "count_distinct")
    return with_zeros(result, covered) if counted else result
