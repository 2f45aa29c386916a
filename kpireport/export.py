"""`compute` output: KPI results as CSV or JSON rows that other tools can read."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

import polars as pl

from .engine import Results
from .months import Month

if TYPE_CHECKING:
    from .projection import Projection

COLUMNS = ("kpi", "month", "value", "target", "status", "attainment", "previous", "change_mom",
           "year_ago", "change_yoy", "ytd", "label", "domain", "owner", "format", "direction", "complete",
           "change_mom_pts", "change_yoy_pts", "year_target", "ytd_target", "year_end", "year_end_low",
           "year_end_high", "outlook")
_NUMBERS = ("value", "target", "attainment", "previous", "change_mom", "year_ago", "change_yoy", "ytd",
            "change_mom_pts", "change_yoy_pts", "year_target", "ytd_target")


def _year_end(end: Projection | None) -> tuple[float | None, float | None, float | None, str]:
    """The year's projection as known at a row's month: value, low, high, outlook ('' without a target)."""
    if end is None:
        return None, None, None, ""
    return end.value, end.low, end.high, end.outlook or ""


def rows(results: Results, month: Month | None = None) -> list[dict[str, Any]]:
    """One row per KPI and month (only `month` when given); no value stays None."""
    return list(_rows(results, month))


def _rows(results: Results, month: Month | None) -> Iterator[dict[str, Any]]:
    for result in results.kpis:
        kpi = result.kpi
        for row in result.months:
            if month is not None and row.month != month:
                continue
            yield {
                "kpi": kpi.id, "month": str(row.month),
                **{name: getattr(row, name) for name in _NUMBERS},
                "status": row.status.value,
                "label": kpi.label, "domain": kpi.domain, "owner": kpi.owner or "",
                "format": kpi.format, "direction": kpi.direction,
                "complete": row.month not in results.partial,  # false: the month's data stop early
                **dict(zip(("year_end", "year_end_low", "year_end_high", "outlook"), _year_end(row.year_end),
                           strict=True)),
            }


_RUNS_IN_A_SPREADSHEET = ("=", "+", "-", "@", "\t", "\r")  # OWASP's list for CSV injection


def _cell(value: Any) -> str:
    """A number in full: the shortest text that reads back as the same float, an integer exactly
    (2**60 as its 19 digits, never 1.15292150460685e+18). Text that a spreadsheet would run as a
    formula (=HYPERLINK(…), -2+3, @SUM(…)) gets a leading ' so it shows as text; numbers never do."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # whole numbers digit for digit while that reads well (JavaScript's cut-off); past it, repr
        # still reads back as the same float, without 300 digits for 1e300
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, int):
        return str(value)
    text = str(value)
    return f"'{text}" if text.startswith(_RUNS_IN_A_SPREADSHEET) else text


def _number_text(x: pl.Expr) -> pl.Expr:
    """_cell of a number column, by polars (in Rust: 10 times faster than in Python) where its text is
    Python's: both write the shortest digits that read back as the same float, without an exponent
    for 1e-4 <= |x| < 1e16, where a whole number ends in ".0" (and only a whole one), which _cell
    leaves out. Null elsewhere: no value, or a number (tiny, huge, not finite: rare) for _cell to
    write. A test holds this equal to _cell."""
    size = x.abs()  # few branches: each is a pass over every cell (10 ms a column of 600,000)
    unsigned_zero = pl.when(x == 0).then(0.0).otherwise(x)  # -0.0 is "0" too
    return pl.when(((size >= 1e-4) & (size < 1e16)) | (x == 0)).then(
        unsigned_zero.cast(pl.Utf8).str.strip_suffix(".0"))


def number_cells(numbers: pl.DataFrame) -> pl.DataFrame:
    """_cell of each number of each column, every column in one polars pass (see _number_text): the
    columns are formatted side by side, on every core."""
    filled = [name for name in numbers.columns if numbers[name].null_count() < len(numbers)]
    cells = numbers.select(*(_number_text(pl.col(name)).alias(name) for name in filled),
                           *(pl.repeat("", pl.len(), dtype=pl.Utf8).alias(name)  # a column most configs
                             for name in numbers.columns if name not in filled))  # leave empty (year_end…)
    for name in filled:  # the rare numbers polars does not write as Python does
        if cells[name].null_count() != numbers[name].null_count():
            missing = (cells[name].is_null() & numbers[name].is_not_null()).arg_true().to_list()
            cells = cells.with_columns(cells[name].scatter(missing, [_cell(numbers[name][at]) for at in missing]))
    return cells.fill_null("").select(numbers.columns)  # no value


def to_csv(results: Results, month: Month | None = None) -> str:
    """The rows of `rows()` as CSV text (see write_csv)."""
    out = io.BytesIO()
    write_csv(results, out, month)
    return out.getvalue().decode()


def write_csv(results: Results, out: BinaryIO, month: Month | None = None) -> None:
    """The rows of `rows()` as CSV, written from the engine's columns by polars: 5,000 KPIs over ten
    years are 600,000 rows, and formatting their 6 million numbers and joining the cells in Python took
    2 s (see _number_text). A KPI's text cells are the same every month, so they are written (and
    quoted) once per KPI; numbers, statuses and months never need quoting. A test holds this equal to
    writing every row of rows() with the csv module."""
    table = results.table
    out.write(_line(COLUMNS).encode())  # the header first: no copy of 100 MB to put it in front
    shown = [at for at, m in enumerate(table.months) if month is None or m == month]
    if not shown or not results.kpis:
        return
    kpis = [result.kpi for result in results.kpis]
    months = len(table.months)
    frame = table.frame
    if len(shown) < months:  # the rows of the month asked for
        frame = frame.filter(pl.int_range(pl.len()) % months == shown[0])

    def per_kpi(cells: list[str]) -> pl.Series:  # one cell per KPI, repeated on each of its rows
        return pl.Series(cells, dtype=pl.Utf8).gather([at for at in range(len(kpis)) for _ in shown])

    def per_month(cells: list[str]) -> pl.Series:  # one cell per month, repeated for each KPI
        return pl.Series([cells[at] for at in shown] * len(kpis), dtype=pl.Utf8)

    ends = _year_ends(results, shown)
    columns = {
        "kpi": per_kpi([_line([_cell(kpi.id)])[:-1] for kpi in kpis]),
        "month": per_month([str(m) for m in table.months]),
        "status": frame["status"],
        # the five text columns, quoted as one
        "label": per_kpi([_line([_cell(text) for text in (kpi.label, kpi.domain, kpi.owner or "", kpi.format,
                                                          kpi.direction)])[:-1] for kpi in kpis]),
        "complete": per_month(["false" if m in results.partial else "true" for m in table.months]),
        "outlook": pl.Series(ends.pop("outlook"), dtype=pl.Utf8),
    }
    numbers = frame.select(name for name in _NUMBERS if name in frame.columns).hstack(
        [pl.Series(name, column, dtype=pl.Float64) for name, column in ends.items()])
    columns |= {column.name: column for column in number_cells(numbers)}
    # every cell is written already (quoted where it must be): written as it is, a row per line
    pl.DataFrame([columns[name].alias(name) for name in COLUMNS if name in columns]).write_csv(
        out, include_header=False, quote_style="never", line_terminator="\n")


def _year_ends(results: Results, shown: list[int]) -> dict[str, list]:  # type: ignore[type-arg]
    """The columns of the year's target and projection, from the engine's outlooks: empty but for
    KPIs with a yearly or quarterly target (the others' rows are never built for it)."""
    names = ("year_target", "ytd_target", "year_end", "year_end_low", "year_end_high", "outlook")
    columns: dict[str, list] = {name: [] for name in names}  # type: ignore[type-arg]
    for place in range(len(results.kpis)):
        outlooks = results.table.outlooks.get(place)
        if outlooks is None:
            for name in names:
                columns[name] += ["" if name == "outlook" else None] * len(shown)
            continue
        for at in shown:
            fields = outlooks[at]
            for name, cell in zip(names, (fields["year_target"], fields["ytd_target"],
                                          *_year_end(fields["year_end"])), strict=True):  # type: ignore[arg-type]
                columns[name].append(cell)
    return columns


def _line(cells: Iterable[str]) -> str:
    """One CSV row ending in \\n. The writer quotes a cell only for the characters of its line
    terminator: with \\n alone, a label holding \\r went out unquoted and cut the row in two."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()[:-2] + "\n"


def to_json(results: Results, month: Month | None = None) -> str:
    """{"title", "months", "rows": rows()} as JSON text (see write_json)."""
    out = io.StringIO()
    write_json(results, out, month)
    return out.getvalue()


def write_json(results: Results, out: TextIO, month: Month | None = None) -> None:
    """{"title", "months", "rows": rows()}, a row per line, each written as it comes: json's indented
    writer is its pure-Python one, and held 600,000 rows (5,000 KPIs) in memory at once (18 s, 2.9 GB)."""
    def text(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    months = [str(m) for m in results.months if month is None or m == month]
    out.write(f'{{\n  "title": {text(results.config.title)},\n  "months": {text(months)},\n  "rows": [')
    for index, row in enumerate(_rows(results, month)):
        out.write(("\n    " if index == 0 else ",\n    ") + text(row))
    out.write("\n  ]\n}\n")

