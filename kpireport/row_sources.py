"""Sources of rows (one per deal, order, contact) made into monthly inputs by their `measures:`,
where the rows live: a file through polars plans (rows.py; a Parquet file of typed columns scanned
where it lies, any other read whole with its cells checked), or a database (database.py) or a Spark
cluster (spark.py) running the measures as SQL (sql.py), of which only a row per month comes back.

sources.py dispatches a `layout: rows` source here and adds the months this returns to its data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

import polars as pl

from . import rows, sql
from .cell_reader import MEASURES, ROW, CellReader
from .cells import is_missing
from .database import Result
from .errors import DataError, did_you_mean, listed
from .measures import Measure
from .partial_month import last_day_if_partial, partial_from
from .rows import day_of, number_of, text_of
from .tables import Table, read_table, scan_parquet

# the typed forms of a source's rows, its columns, those read as numbers, and the measures to run over them
Rows = tuple[pl.LazyFrame, list[str], frozenset[str], tuple[Measure, ...]]
HINTED_ROWS = 1_000_000  # rows whose values a misspelt filter value is compared with, for its did-you-mean


class RowSourceReader(CellReader):
    """One source of rows: each of its measures' monthly values, from wherever the rows are."""

    def measured(self) -> tuple[dict[str, pl.DataFrame], dt.date | None]:
        """Each measure's months (input -> rows of month, value, rows counted), and the last day of a
        partial last month (None: complete)."""
        if self.source.database is not None or self.source.spark is not None:
            return self.queried()
        lazy, columns, numbers, measures = self.scanned() or self.read_rows()
        results, dated = rows.measure_months(lazy, measures, columns, numbers)
        self.warn_unmatched_filters(lazy, numbers, results)
        return results, last_day_if_partial(dated)

    def warn_unmatched_filters(self, lazy: pl.LazyFrame, numbers: frozenset[str],
                               results: dict[str, pl.DataFrame]) -> None:
        """A filter value no row of the file holds (a misspelt stage) keeps no row: its measures would be 0
        every month without a word. Warned about once per value, with the column's closest value; not an
        error, for a 'lost' stage may have no row yet."""
        measures = self.source.measures
        for column, text in rows.unmatched_values(lazy, measures, numbers, results):
            naming = [m for m in measures
                      if any(c.column == column and text in rows.named_values(c) for c in m.filter)]
            also = f" (the filters of {', '.join(m.input for m in naming[1:])} name it too)" if naming[1:] else ""
            # the values of the first rows: a hint, not a pass over a file of 100 million deal ids
            seen = (lazy.head(HINTED_ROWS).select(pl.col(text_of(column)).drop_nulls().unique().sort())
                    .collect().to_series().to_list())
            close = did_you_mean(text, seen) or (f"the column holds {listed([repr(v) for v in seen])};" if seen
                                                 else "the column is empty;")
            self.warn(f"no row of the file has '{text}' in '{column}': this filter value matches no row{also}",
                      self.header_row, key=f"{naming[0].key}.filter.{column}",
                      hint=f"{close} cells are compared whole, case and accents included: correct the value, or "
                           "leave it if no row has it yet")

    def queried(self) -> tuple[dict[str, pl.DataFrame], dt.date | None]:
        """Rows in a database, or in files a Spark cluster reads: the measures run there as SQL
        (sql.py), and only a row per month and measure comes back."""
        source = self.source
        if source.spark is not None:
            from .spark import rows_of

            with rows_of(source.spark, self.file, source.time_zone) as spark:
                return self.pushed_down(spark, spark.relation, sql.SPARK,
                                        "Spark reads numbers from typed columns (a CSV's cells are text): write the "
                                        "file as Parquet with number columns")
        from .database import connect

        with connect(source.database, time_zone=source.time_zone) as database:  # type: ignore[arg-type]
            return self.pushed_down(database, sql.relation(source.table, source.query), sql.STANDARD,
                                    "a database's numbers are read from its number columns: cast the column in a "
                                    "'query:' (e.g. CAST({column} AS DOUBLE PRECISION))")

    def pushed_down(self, engine: Queried, relation: str, dialect: sql.Dialect,
                    number_hint: str) -> tuple[dict[str, pl.DataFrame], dt.date | None]:
        """The measures as `dialect`'s SQL over `relation`, run by `engine`; then the months covered and
        a partial last month, as for a file. `number_hint` (with {column}) says how to read numbers."""
        measures = self.source.measures
        probe = engine.query(f"SELECT * FROM {relation} AS t LIMIT 0")
        columns = probe.columns
        types = dict(zip(columns, probe.types, strict=True))
        for measure in measures:
            self.check_measure_columns(measure, columns)
        numeric = {c for c in columns if sql.is_numeric(types[c])}
        for column in sorted(rows.forms(measures, columns, numeric).number - numeric):
            raise DataError(f"the column '{column}' holds {types[column]} values, where numbers are read",
                            file=self.file, column=column, hint=number_hint.format(column=sql.quoted(column, dialect)))
        month_columns = list(dict.fromkeys(c for m in measures for c in m.month_columns()))
        first, last, count, months, weekdays = engine.query(sql.dates(relation, month_columns, dialect)).rows[0]
        if first is None:
            self.warnings.append(f"{self.file} has no rows with a date: it gives no value")
            return {}, None
        covered = rows.covered_months(pl.Series([first, last], dtype=pl.Date))
        results: dict[str, pl.DataFrame] = {}
        for measure in measures:
            if measure.snapshot is not None:
                text, params = sql.at_month_ends(relation, measure, columns, numeric, covered[0], covered[-1], dialect)
                results[measure.input] = rows.one_measure(_frame(engine.query(text, params)), 0)
        for date, group in rows.by_date([m for m in measures if m.snapshot is None]).items():
            text, params = sql.monthly(relation, date, group, columns, numeric, dialect)
            found = _frame(engine.query(text, params))
            results |= {measure.input: rows.one_measure(found, index) for index, measure in enumerate(group)}
        results = {m.input: rows.finished(m, results[m.input], covered) for m in measures}
        return results, partial_from(first, last, count, months, set(weekdays or ()))

    def scanned(self) -> Rows | None:
        """A Parquet file of typed columns, scanned where it lies (it may not fit in memory): the
        typed forms, its columns, the columns read as numbers, its measures (no cell is bad). None for
        any other file."""
        scan = scan_parquet(self.source.path) if self.source.sheet is None else None
        if scan is None:
            return None
        self.header_row = 1
        schema = scan.collect_schema()
        columns = list(schema)
        for measure in self.source.measures:
            self.check_measure_columns(measure, columns)
        if scan.select(pl.len()).collect().item() == 0:  # from the file's metadata: no pass over the rows
            self.warnings.append(f"{self.file} has no rows (only a header): it gives no value")
        found = rows.forms(self.source.measures, columns, {c for c, t in schema.items() if t.is_numeric()})
        typed = rows.typed_scan(scan, found, self.source.time_zone)
        return None if typed is None else (typed, columns, found.number, self.source.measures)

    def read_rows(self) -> Rows:
        """Any table read whole, its cells read into the typed forms (bad ones reported), and the measures
        (those that leave rows out for a bad cell they read with a hidden condition, see _RowCells.left_out)."""
        source = self.source
        table = read_table(source.path, sheet=source.sheet, header=source.measures[0].date_columns()[0],
                           comma_thousands=self.config.locale == "en")
        frame = table.frame.with_row_index(ROW, offset=table.first_row)
        self.header_row = table.first_row - 1
        names = [c for c in frame.columns if c != ROW]
        for measure in source.measures:
            self.check_measure_columns(measure, names)
        if not len(frame):
            self.warnings.append(f"{self.file} has no rows (only a header): it gives no value")
        cells = _RowCells(self, frame, table)
        typed = cells.typed()
        bad_cells, left_out = cells.left_out(typed)
        measures = source.measures
        if len(bad_cells):
            self.stop_at_first(bad_cells)
            self.warn_left_out(bad_cells)
            # --skip-bad-rows: a row is left out of the measures that read its bad cell only, in a hidden
            # column each; the other measures count it (a lost deal's odd amount and the deals lost)
            typed = typed.with_columns(pl.Series(rows.left_out_of(i), out) for i, out in left_out.items())
            measures = tuple(rows.leaving_out(m) if m.input in left_out else m for m in measures)
        return typed.lazy(), cells.columns, cells.forms.number, measures

    def check_measure_columns(self, measure: Measure, names: list[str]) -> None:
        """Every column a measure names is in the file, or an error with the closest one."""
        parts = [("date", column) for column in ([measure.date] if measure.date else [])]
        if measure.snapshot is not None:
            parts += [("snapshot.start", measure.snapshot.start), ("snapshot.end", measure.snapshot.end)]
        parts += [("value", column) for column in measure.value_columns(names)]
        parts += [(f"filter.{c.column}", c.column) for c in measure.filter]
        for part, column in parts:
            if column not in names:
                unparsed = f"; as an expression: {measure.unparsed}" if part == "value" and measure.unparsed else ""
                raise DataError(f"no column '{column}'", file=self.file, line=self.header_row,
                                key=f"{measure.key}.{part}",
                                hint=f"{did_you_mean(column, names) or 'its columns: ' + listed(names)}{unparsed} "
                                     "(correct the column's name in this measure)")


class _RowCells:
    """A rows table's cells in the typed forms its measures read (rows.py): each column read once as
    text, numbers or dates, its bad cells kept to be settled per measure (`left_out`): a measure reads a
    cell on the rows it keeps, or for a filter's comparison on the rows its text filters (`stage: won`)
    let through."""

    def __init__(self, reader: RowSourceReader, frame: pl.DataFrame, table: Table) -> None:
        self.reader, self.frame, self.table = reader, frame, table
        self.measures = reader.source.measures
        self.columns = [c for c in frame.columns if c != ROW]
        self.numeric = {c for c in self.columns if frame[c].dtype.is_numeric()}
        self.forms = rows.forms(self.measures, self.columns, self.numeric)
        self.formats = {i: spec.format for i, spec in reader.config.inputs.items()}
        self.bad: dict[tuple[str, str], pl.DataFrame] = {}  # (form, column): its bad cells (ROW, text, column, kind)

    def typed(self) -> pl.DataFrame:
        """The row number, the file's order and every form read, as one frame for the plans."""
        typed: dict[str, pl.Series] = {text_of(c): self.text(c) for c in self.forms.text}
        typed |= {number_of(c): self.frame[c].cast(pl.Float64) for c in self.forms.number if c in self.numeric}
        read = [("number", c) for c in sorted(self.forms.number - self.numeric)]
        for form, column in read + [("day", c) for c in sorted(self.forms.day)]:
            typed[_FORMS[form](column)] = self.read(form, column)
        return pl.DataFrame({ROW: self.frame[ROW], rows.ORDER: pl.int_range(len(self.frame), eager=True),
                             **typed})

    def text(self, column: str) -> pl.Series:
        """Trimmed text; an empty cell (or n/a, -) null."""
        cells = self.frame[column].cast(pl.String).str.strip_chars()
        return pl.select(pl.when(~is_missing(self.frame[column]) & (cells != "")).then(cells)).to_series()

    def read(self, form: str, column: str) -> pl.Series:
        """A column as numbers or dates; its cells that are not go to `bad`."""
        if form == "number":
            values, bad = self.reader.values(self.frame, self.frame[column], "sum", self.table,
                                             self.percent_checked(column))
            if len(bad):
                self.bad[form, column] = bad
            return values
        texts = self.frame[column]
        written = texts.unique()
        parsed = self.reader.read_dates(written, self.frame.select(ROW, column), column)
        lookup = pl.DataFrame({column: written, "day": parsed.values, "bad": parsed.bad})
        found = self.frame.select(column).join(lookup, on=column, how="left", nulls_equal=True, maintain_order="left")
        bad = found["bad"].fill_null(False)
        if bad.any():
            self.bad[form, column] = self.frame.filter(bad).select(
                ROW, pl.col(column).cast(pl.String).alias("text"), column=pl.lit(column), kind=pl.lit("date"))
        return found["day"]

    def percent_checked(self, column: str) -> str:
        """The input whose format says whether a percentage (`150 %`) in a number column is a bad cell:
        the first reading it that is no rate (a measure of a rate reads `12 %` as 0.12, see `left_out`)."""
        readers = [m.input for m in self.measures if ("number", column) in _all_reads(m, self.columns)]
        return next((i for i in readers if self.formats[i] != "percent"), readers[0])

    def left_out(self, typed: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, pl.Series]]:
        """The bad cells some measure reads, in the file's order, each with the measures that read it on its
        row (MEASURES); and for each of those measures, its rows to leave out. A cell is read on the rows a
        measure keeps, or, for its filter's comparisons, on those its text filters let through (the
        comparison of a bad cell keeps no row: a lost deal's odd amount does not stop big won deals).
        Bad cells are rare: nothing is done per measure unless some are found."""
        if not self.bad:
            return pl.DataFrame(), {}
        numbers, first_row = self.forms.number, self.frame[ROW][0]
        positions = {pair: cells[ROW] - first_row for pair, cells in self.bad.items()}
        readers: dict[tuple[str, str], dict[str, pl.Series]] = {pair: {} for pair in self.bad}
        left_out: dict[str, pl.Series] = {}
        for measure in self.measures:
            compared = set(rows.compares(measure)) & set(self.bad)
            valued = set(rows.reads(measure, self.columns)) & set(self.bad) - compared
            if not compared and not valued:
                continue
            out = pl.repeat(False, len(typed), eager=True)  # the rows the measure leaves out
            for pairs, scope in ((compared, _text_filters(measure)), (valued, measure)):
                for pair in pairs:  # the filter on the bad cells' rows only
                    reads_it = typed[positions[pair]].with_columns(rows.kept(scope, numbers).alias(KEPT))[KEPT]
                    if self.formats[measure.input] == "percent":  # a rate reads `12 %` as 0.12
                        reads_it &= ~self.bad[pair]["kind"].str.starts_with("percent:")
                    readers[pair][measure.input] = reads_it
                    out = out.scatter(positions[pair].filter(reads_it), True)
            if out.any():
                left_out[measure.input] = out
        measured = [cells.with_columns(pl.concat_list(pl.when(pl.lit(reads_it)).then(pl.lit(input_id))
                                                      for input_id, reads_it in readers[pair].items())
                                       .list.drop_nulls().alias(MEASURES))
                    for pair, cells in self.bad.items() if readers[pair]]
        if not measured:
            return pl.DataFrame(), {}
        place = {column: index for index, column in enumerate(self.columns)}
        bad_cells = (pl.concat(measured).filter(pl.col(MEASURES).list.len() > 0)
                     .sort(ROW, pl.col("column").replace_strict(place)))
        return bad_cells, left_out


KEPT = "\x00kept"  # whether a measure keeps the row (no column of a file: tables.py strips NUL from headers)
_FORMS = {"text": text_of, "number": number_of, "day": day_of}


def _text_filters(measure: Measure) -> Measure:
    """The measure with its filter's text conditions only (not its comparisons of numbers or dates)."""
    return replace(measure, filter=tuple(c for c in measure.filter if c.op not in rows.COMPARED))


def _all_reads(measure: Measure, columns: list[str]) -> list[tuple[str, str]]:
    """The (form, column) pairs a measure reads: its value's and months', and its comparisons'."""
    return [*rows.reads(measure, columns), *rows.compares(measure)]


class Queried(Protocol):
    """Where measures run as SQL: a database (database.Database) or a Spark session (spark.SparkRows)."""

    def query(self, sql: str, params: Sequence[object] = ()) -> Result: ...


def _frame(result: Result) -> pl.DataFrame:
    """A query's rows as a frame (PostgreSQL's numbers come as Decimal: floats once picked)."""
    return pl.DataFrame(result.rows, schema=result.columns, orient="row", infer_schema_length=None)
