"""What every source reader shares: a source's cells read as numbers and dates, and each cell that
cannot be read located as file:row:column with its fix, then raised, or (--skip-bad-rows) warned
about and its row left out (of the measures that read the cell only, in a rows source). Tables and
filled templates (sources.py) and rows with measures (row_sources.py) read their cells, and report the
bad ones, through this one base.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from .cells import (
    AMBIGUOUS_HINT,
    NUMBER_HINT,
    AmbiguousDatesError,
    Parsed,
    ambiguity,
    date_problem,
    dates,
    is_missing,
    mixed_offsets,
    number_problem,
    numbers,
)
from .config import Config, Source
from .errors import DataError, KpiReportError, clipped, listed
from .tables import Table

SKIPPED_SHOWN = 20  # skipped rows listed one by one per file; past that, one line counts the rest
ROW = "\x00row"  # the row-number column added to each table (tables.py strips NUL from headers)
MEASURES = "\x00measures"  # a rows source's bad cells: the measures each leaves its row out of


class CellReader:
    """A source's place, its config and the warnings list; reads cells and settles the bad ones."""

    def __init__(self, config: Config, source: Source, warnings: list[str], skip_bad_rows: bool) -> None:
        self.config, self.source, self.warnings, self.skip_bad_rows = config, source, warnings, skip_bad_rows
        self.file = source.place
        self.header_row: int | None = None  # a table's, once read

    def warn(self, message: str, row: int | None = None, column: str | None = None, hint: str | None = None,
             key: str | None = None) -> None:
        self.warnings.append(str(KpiReportError(message, file=self.file, line=row, column=column, key=key,
                                                hint=hint)))


    def read_dates(self, written: pl.Series, rows: pl.DataFrame, column: str) -> Parsed:
        """Distinct date texts of `column` read as dates; `rows` (row number, the column) locate an
        ambiguous column's first cell. Warns when the dates mix UTC offsets and no `time_zone:` says
        whose months count (with one, each row is moved to that zone: mixing is harmless)."""
        try:
            parsed = dates(written, self.source.date_format, self.source.time_zone)
        except AmbiguousDatesError as ambiguous:  # the whole column, not a row: --skip-bad-rows cannot help
            first = rows.filter(pl.col(column).is_in(pl.Series(ambiguous.texts).implode())).row(0, named=True)
            raise DataError(ambiguity(first[column]), file=self.file, line=first[ROW], column=column,
                            hint=AMBIGUOUS_HINT) from None
        offsets = mixed_offsets(written) if self.source.time_zone is None else []
        if offsets:
            self.warn(f"the dates mix UTC offsets ({', '.join(offsets)}): each row counts in the month of its own "
                      "local time, as written", self.header_row, column,
                      "a row near midnight at a month's end may fall in another month in another zone's time: "
                      "give the source a time_zone: (e.g. Europe/Paris) to count every row in that zone's months")
        return parsed


    def values(self, frame: pl.DataFrame, cells: pl.Series, aggregate: str, table: Table, inputs: str | pl.Series,
               checked: pl.Series | None = None) -> tuple[pl.Series, pl.DataFrame]:
        """A value column as numbers (1.0 per cell with a value for `count`: text counts too), and its
        bad cells among the `checked` rows (all by default). `inputs` is the column's input id, or
        each row's: a percentage (`150 %`) is a value for a percent input only; for a count, an
        amount or a duration it is a mistake, not 1.5."""
        if aggregate == "count":
            return one_where(~is_missing(cells)), _no_bad()
        parsed = numbers(cells, comma_thousands=table.reads_comma_thousands)
        bad = parsed.bad if checked is None else parsed.bad & checked
        kind = pl.lit("number")
        formats = {i: spec.format for i, spec in self.config.inputs.items()}
        if cells.dtype == pl.String and (not isinstance(inputs, str) or formats[inputs] != "percent"):
            # typed cells (Parquet, a workbook's numbers) carry no % sign: only text is looked at
            fmt = pl.lit(formats[inputs] if isinstance(inputs, str) else inputs.replace_strict(formats, default=None))
            percent = pl.select((pl.lit(cells).str.contains("%", literal=True) & pl.lit(parsed.values).is_not_null()
                                 & (fmt != "percent")).fill_null(False)).to_series()
            if checked is not None:
                percent &= checked
            # the kind carries the input and its format (ids hold no ':') for _explained's message
            kind = pl.when(pl.lit(percent)).then(pl.concat_str(pl.lit("percent:"), pl.lit(inputs), pl.lit(":"), fmt))
            kind = kind.otherwise(pl.lit("number"))
            bad |= percent
        if not bad.any():
            return parsed.values, _no_bad()
        shown = pl.DataFrame({ROW: frame[ROW], "text": cells}).with_columns(kind=kind).filter(bad)
        return parsed.values, shown.select(ROW, pl.col("text").cast(pl.String), column=pl.lit(cells.name),
                                           kind=pl.col("kind"))

    def settle(self, frame: pl.DataFrame, problems: list[pl.DataFrame]) -> pl.Series | None:
        """Raise for the first bad cell, or (skipping bad rows) warn about each and return the rows
        kept (None: all of them)."""
        problems = [p for p in problems if len(p)]
        if not problems:
            return None
        first_per_row = pl.concat(problems).unique(ROW, keep="first", maintain_order=True).sort(ROW)
        self.stop_at_first(first_per_row)
        self.warn_left_out(first_per_row)
        return ~frame[ROW].is_in(first_per_row[ROW].implode())

    def stop_at_first(self, bad_cells: pl.DataFrame) -> None:
        """Unless skipping bad rows, raise for the first of `bad_cells` (in the file's order)."""
        if self.skip_bad_rows:
            return
        bad = _explained(bad_cells.row(0, named=True), self.source.date_format)
        count = bad_cells[ROW].n_unique()
        more = f"; {count - 1} more rows like it" if count > 1 else ""
        skips = ("reports such rows and leaves each out of the measures that read its bad cell"
                 if MEASURES in bad_cells.columns else "reports and skips such rows")
        raise DataError(bad.message, file=self.file, line=bad.row, column=bad.column,
                        hint=f"{bad.hint}{more} (--skip-bad-rows {skips})")

    def warn_left_out(self, bad_cells: pl.DataFrame) -> None:
        """Warn about each of `bad_cells` (the first few, then a count): its row is skipped, or, with a
        MEASURES column (a rows source), left out of those measures only."""
        per_measure = MEASURES in bad_cells.columns
        for record in bad_cells.head(SKIPPED_SHOWN).iter_rows(named=True):
            bad = _explained(record, self.source.date_format)
            left_out = (f"the row is left out of the measures that read this cell: {listed(record[MEASURES])} "
                        "(the others count it)" if per_measure else "the row is skipped")
            self.warn(f"{bad.message}; {left_out}", bad.row, bad.column, bad.hint)
        count = len(bad_cells)
        if count > SKIPPED_SHOWN:
            what = "bad cells left out of the measures that read them" if per_measure else "bad rows skipped"
            self.warn(f"{count - SKIPPED_SHOWN} more {what} (in all {count})")


@dataclass(frozen=True)
class _Bad:
    """A cell that cannot be read."""

    row: int
    column: str
    message: str
    hint: str


def _no_bad() -> pl.DataFrame:
    return pl.DataFrame(schema={ROW: pl.UInt32, "text": pl.String, "column": pl.String, "kind": pl.String})


def _explained(record: dict, date_format: str | None) -> _Bad:  # type: ignore[type-arg]
    """The message and the fix for one bad cell, worked out only for the cells shown."""
    text = record["text"] or ""
    if record["kind"] == "date":
        message, hint = date_problem(text, date_format)
    elif record["kind"] == "no date":
        message, hint = "the date is empty on a row with values", "fill in the date, or delete the row"
    elif record["kind"].startswith("percent:"):
        _, input_id, input_format = record["kind"].split(":")
        problem, hint = percent_problem(text.strip(), input_format)
        message = f"{problem} (input '{input_id}')"
    else:
        message, hint = number_problem(text), NUMBER_HINT
    return _Bad(record[ROW], record["column"], message, hint)


_EXPECTED = {"number": "a count", "currency": "an amount", "duration": "a duration in seconds"}


def percent_problem(text: str, input_format: str) -> tuple[str, str]:
    """A percentage given for an input that is no percentage: what is wrong, and the fix."""
    expected = _EXPECTED[input_format]
    return (f"'{clipped(text)}' is a percentage where {expected} is expected",
            f"write {expected} here, without '%'; or, if the input is a rate, give it 'format: percent' under "
            "'inputs:' in the config")



def one_where(mask: pl.Series) -> pl.Series:
    """1.0 where `mask` holds, else no value: what `count` counts."""
    return pl.select(pl.when(mask).then(pl.lit(1.0))).to_series()
