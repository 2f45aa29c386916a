"""The config's data files turned into one monthly series per input.

Layouts: `wide` (a date column, one column per input), `long` (date, name and value columns) and
`template` (a filled kpireport workbook, read by its defined names); `rows` (one per deal, with
`measures:`) is read by row_sources.py, wherever the rows live, and its months are added here.
Daily or weekly rows are rolled up to calendar months with each input's `aggregate`; a month with
no rows has no value (not 0); the same input and month from two files is an error naming both,
except a filled template's: what a person typed wins over the exports, with a warning when they
disagree; and two owners' workbooks (team.py) holding a shared input: the same value twice is one
value. Every problem is located as file:row:column with a fix; `skip_bad_rows` turns a bad row into
a warning instead (in a rows source, leaving it out of the measures that read its bad cell only).
"""

from __future__ import annotations

import datetime as dt
import io
import math
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from .cell_reader import ROW, CellReader, one_where, percent_problem
from .cells import is_missing, written_as_months
from .cells import parse_date as parse_date  # one text at a time, as before: kept for callers
from .cells import parse_number as parse_number
from .config import Config, Source
from .errors import LISTED, DataError, KpiReportError, clipped, counted, did_you_mean, listed
from .measures import cell_numbers, cell_text, describe
from .months import Month
from .partial_month import last_day_if_partial
from .row_sources import RowSourceReader
from .tables import (
    INDEX_BYTES,
    TEMPLATE_PART_BYTES,
    Table,
    check_workbook,
    clipped_xml_error,
    is_ole,
    ole_error,
    read_table,
    workbook_error,
)

if TYPE_CHECKING:
    from .team import Stamp

_DAY = "\x00day"
_TEXT = "\x00date"  # the date as written
_ROWS = "\x00rows"  # a mean input's row count, beside its value


@dataclass(frozen=True)
class NoValue:
    """A template's input cell that says "no value" on purpose: a no-value mark (`n/a`, `-`) or a formula
    no spreadsheet computed. The month has no value, over an export's too (the workbook shows none)."""

    file: str
    said: str  # the cell and what it holds: "Saisie!K18: '-' means no value"
    hint: str
    alone: bool  # warned even when no export has the month (a formula: the person meant a number)


@dataclass
class MonthlyData:
    """input id -> month -> value, which file each value came from, and the template's notes."""

    values: dict[str, dict[Month, float]] = field(default_factory=dict)
    origin: dict[tuple[str, Month], str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # input id -> month -> what people wrote in its note cell (month None: one note for every month,
    # from a workbook made before notes were per month)
    notes: dict[str, dict[Month | None, str]] = field(default_factory=dict)
    targets: dict[str, dict[Month, float | None]] = field(default_factory=dict)  # typed in a template
    tolerances: dict[str, float] = field(default_factory=dict)  # typed in a template
    typed: set[tuple[str, Month]] = field(default_factory=set)  # values read from a filled template
    partial: dict[Month, dt.date] = field(default_factory=dict)  # a month whose data stop early -> the last day
    rows: dict[str, dict[Month, int]] = field(default_factory=dict)  # a mean input -> month -> rows averaged
    # a template's input cell holding a number as text (input -> month -> "Saisie!R27: '14 581'"): no value,
    # as the workbook's formulas read it (COUNT and ISNUMBER ignore text)
    text_cells: dict[str, dict[Month, str]] = field(default_factory=dict)
    no_value: dict[tuple[str, Month], NoValue] = field(default_factory=dict)  # (input, month) -> the cell saying so
    stamped: dict[str, Stamp] = field(default_factory=dict)  # a per-owner workbook (team.py) -> its stamp
    counted: dict[tuple[str, Month], str] = field(default_factory=dict)  # a row count -> the owner's workbook giving it

    def review_notes(self, locale: str) -> dict[str, dict[Month | None, str]]:
        """The notes the review prints on each KPI's card, with a line for each text cell of its inputs."""
        from .locale import text

        notes: dict[str, dict[Month | None, str]] = {name: dict(by_month) for name, by_month in self.notes.items()}
        for input_id, cells in self.text_cells.items():
            for month, where in cells.items():
                line = text("review.text_cell", locale, cell=where)
                written = notes.setdefault(input_id, {})
                written[month] = f"{written[month]} — {line}" if written.get(month) else line
        return notes

    def stops_early(self, last: dt.date) -> None:
        """A file's data stop on `last`, before the end of its month: that month is partial."""
        month = Month.of(last)
        self.partial[month] = min(last, self.partial.get(month, last))

    def last_complete_month(self, until: Month | None = None) -> Month | None:
        """What a review is of by default: the latest month with data that is not partial, not after `until`, and
        that no file still delivering lacks (see `behind`)."""
        months = sorted((m for m in self.months() if m not in self.partial and (until is None or m <= until)),
                        reverse=True)
        return next((month for month in months if not self.behind(month)), None)

    def held_back(self, until: Month | None = None) -> list[Month]:
        """The months with data after the one a review is of by default: partial, a file behind, or after `until`."""
        default = self.last_complete_month(until)
        return [m for m in self.months() if default is None or m > default]

    def behind(self, month: Month) -> list[str]:
        """The files that have not reached `month` yet: a value in the month before, none in it, for an input no other
        file gives in it (a monthly export already has it, the daily one not yet: a review of it would show the daily
        file's KPIs without data). A file that stopped earlier no longer delivers: it holds nothing back."""
        before, now = self._inputs_by_file(month - 1), self._inputs_by_file(month)
        return sorted(file for file, inputs in before.items()
                      if file not in now and any(month not in self.values[input_id] for input_id in inputs))

    def files_with(self, month: Month) -> list[str]:
        """The files giving a value for `month`."""
        return sorted(self._inputs_by_file(month))

    def months(self) -> list[Month]:
        """Every month with a value, in order."""
        return sorted({m for series in self.values.values() for m in series})

    def _inputs_by_file(self, month: Month) -> dict[str, set[str]]:
        """file -> the inputs it gives a value for `month` (a value a template's cell took away is not one)."""
        files: dict[str, set[str]] = {}
        for (input_id, at), file in self.origin.items():
            if at == month and month in self.values.get(input_id, {}):
                files.setdefault(file, set()).add(input_id)
        return files

    def add(self, input_id: str, month: Month, value: float, origin: str, typed: bool = False) -> None:
        if not math.isfinite(value):  # every cell is finite, but two 1e308 add up to inf: never a KPI "on"
            raise DataError(f"'{input_id}' for {month} adds up to {value}: beyond the largest number (about 1.8e308)",
                            file=origin, hint="look for a huge value in that month's rows (a wrong unit, or digits "
                                              "pasted twice) and correct it")
        key = (input_id, month)
        if key in self.origin and typed != (key in self.typed):
            # A filled template beside the exports it was pre-filled from: the typed value wins.
            same = math.isclose(value, self.values[input_id][month], rel_tol=1e-9, abs_tol=1e-12)
            template, export = (origin, self.origin[key]) if typed else (self.origin[key], origin)
            if not same:
                kept, other = (value, self.values[input_id][month]) if typed else (self.values[input_id][month], value)
                self.warnings.append(str(KpiReportError(
                    f"'{input_id}' for {month} is {kept:g} in the template and {other:g} in {export}: the "
                    "template's value is used", file=template,
                    hint="correct the cell or the export so that they agree, or empty the cell to use the export")))
            if typed:
                self.origin[key] = origin
                self.typed.add(key)
                self.values[input_id][month] = value
            return
        if key in self.origin and self.origin[key] in self.stamped and origin in self.stamped:
            # an input read by two owners' KPIs is in both their workbooks: the same value twice is one value
            before = self.values[input_id][month]
            if math.isclose(value, before, rel_tol=1e-9, abs_tol=1e-12):
                return
            raise DataError(
                f"'{input_id}' for {month} is {before:g} in {self.origin[key]} and {value:g} in {origin}: two "
                "owners' workbooks give this input different values", file=origin,
                hint="correct one of the two cells so that they agree, then run the command again")
        if key in self.origin:
            raise DataError(
                f"'{input_id}' for {month} comes from two files: {self.origin[key]} and {origin}",
                file=origin, hint="keep it in one file, or remove one of the sources")
        self.origin[key] = origin
        self.values.setdefault(input_id, {})[month] = value
        if typed:
            self.typed.add(key)


def with_workbook_targets(config: Config, data: MonthlyData) -> Config:
    """The config with the targets and tolerances typed in a filled template (they win, see
    template.typed_targets): what compute, report and send evaluate against."""
    if not data.targets and not data.tolerances:
        return config
    kpis = {}
    for kpi_id, kpi in config.kpis.items():
        typed = data.targets.get(kpi_id, {})
        target = replace(kpi.target, by_month={**kpi.target.by_month, **typed}) if typed else kpi.target
        kpis[kpi_id] = replace(kpi, target=target, tolerance=data.tolerances.get(kpi_id, kpi.tolerance))
    return replace(config, kpis=kpis)


def sources_with(config: Config, data_paths: Iterable[str | Path] = ()) -> list[Source]:
    """The config's sources, with `--data` files replacing the source of the same file name, or added:
    a kpireport template as `layout: template`, any other file as wide with a `date` column."""
    sources = list(config.sources)
    for raw in data_paths:
        path = Path(raw)
        same = [i for i, s in enumerate(sources) if s.path is not None and s.path.name == path.name]
        if same:
            sources[same[0]] = replace(sources[same[0]], path=path)
        else:
            layout = "template" if is_template(path) else "wide"
            sources.append(Source(path, layout, "date", None, None, {}, {}, None))  # type: ignore[arg-type]
    return sources


def is_template(path: Path) -> bool:
    """Whether `path` is a kpireport workbook: an XLSX that defines the name `months`."""
    try:
        with zipfile.ZipFile(path) as archive:
            if archive.getinfo("xl/workbook.xml").file_size > INDEX_BYTES:  # not read: check_workbook says why
                return False
            return b'name="months"' in archive.read("xl/workbook.xml")
    except (OSError, KeyError, zipfile.BadZipFile):
        return False


def load_data(config: Config, data_paths: Iterable[str | Path] = (), skip_bad_rows: bool = False,
              check_stamps: bool = True, today: dt.date | None = None) -> MonthlyData:
    """Read every source of the config (and `--data` files) into monthly values.

    Raises DataError at the first bad cell; with `skip_bad_rows`, warns about each bad row and leaves
    it out instead. A per-owner workbook made for another config or period is refused, unless
    `check_stamps` is False (`template`, which rebuilds such workbooks, reads them as they are).
    A value dated after the month of `today` (default: the machine's date) is warned about.
    """
    data = MonthlyData()
    provided: set[str] = set()
    for index, source in enumerate(sources_with(config, data_paths)):  # --data files come last: no key
        reader = _SourceReader(config, source, data, skip_bad_rows, f"sources.{index}", check_stamps)
        read = {"template": reader.template, "rows": reader.rows}.get(source.layout, reader.table)
        provided |= read()
    for input_id, series in data.values.items():
        negative = sorted(month for month, value in series.items() if value < 0)
        if negative and config.inputs[input_id].format in ("number", "duration"):
            # A warning: a correction row can make a month negative, and stopping the whole review
            # for it would help nobody; but a count below 0 is worth a look (the template refuses it).
            first = negative[0]
            data.warnings.append(str(KpiReportError(
                f"{input_id} is negative for {', '.join(map(str, negative))} ({series[first]:g} in {first}); "
                "the value is used as it is", file=data.origin[(input_id, first)],
                hint="a count or a duration is rarely below 0: check the export (a refund or correction row?)")))
    _warn_ahead(data, Month.of(today or dt.date.today()))
    for input_id, cells in data.text_cells.items():  # the typed cell wins over an export, as a number would
        for month in cells:
            data.values.get(input_id, {}).pop(month, None)
    for (input_id, month), cell in data.no_value.items():  # so does a cell saying "no value" (the workbook agrees)
        export = data.values.get(input_id, {}).pop(month, None)
        if export is not None:
            data.warnings.append(str(KpiReportError(
                f"{cell.said}: '{input_id}' has no value for {month}, over the {export:g} of "
                f"{data.origin[(input_id, month)]}", file=cell.file, hint=cell.hint)))
        elif cell.alone:
            data.warnings.append(str(KpiReportError(f"{cell.said}: '{input_id}' has no value for {month}",
                                                    file=cell.file, hint=cell.hint)))
    missing = [input_id for input_id in config.inputs if input_id not in provided]
    if missing:
        # A warning, not an error: the template is a source too, and people type these in it.
        data.warnings.append(str(KpiReportError(
            f"no data file provides {', '.join(missing)}", file=str(config.path),
            hint="type the values in the template and read it back (a source with 'layout: template'), "
                 "or add a data file with a column for each")))
    data.warnings = list(dict.fromkeys(data.warnings))  # two sources reading one file warn alike: once
    return data


def _warn_ahead(data: MonthlyData, current: Month) -> None:
    """Values dated after the current month: a month typed ahead in the workbook or a wrong date in an
    export, which would otherwise become the month a review is of by default (see cli._review_month)."""
    ahead = sorted((month, input_id) for input_id, series in data.values.items() for month in series if month > current)
    if not ahead:
        return
    month, input_id = ahead[0]
    months = listed(list(dict.fromkeys(str(m) for m, _ in ahead)))
    data.warnings.append(str(KpiReportError(
        f"{counted(len(ahead), 'value')} dated after the current month ({current}), in {months}: "
        f"'{input_id}' for {month} first", file=data.origin[(input_id, month)],
        hint=f"a month typed ahead or a wrong date? correct it; reviews default to the latest complete month up "
             f"to {current} (give --month to review a later one)")))


def input_origins(config: Config, data: MonthlyData) -> list[str]:
    """One line per input: the files its values come from, their months, and a measure in words."""
    measures = {m.input: (m, source.time_zone) for source in config.sources for m in source.measures}
    width = max((len(input_id) for input_id in config.inputs), default=0)
    lines = []
    for input_id in config.inputs:
        months = sorted(data.values.get(input_id, {}))
        files = list(dict.fromkeys(data.origin[(input_id, m)] for m in months))
        where = (f"{', '.join(files)}, {months[0]} to {months[-1]}" if months
                 else "no value in any data file (type it in the template)")
        said = f": {describe(*measures[input_id])}" if input_id in measures else ""
        lines.append(f"{input_id:<{width}}  {where}{said}")
    return lines


class _SourceReader(CellReader):
    """One source read into `data`: a wide or long table, a filled template, or rows with measures."""

    def __init__(self, config: Config, source: Source, data: MonthlyData, skip_bad_rows: bool, key: str,
                 check_stamps: bool = True) -> None:
        super().__init__(config, source, data.warnings, skip_bad_rows)
        self.data = data
        self.check_stamps = check_stamps
        self.key = key  # the source's place in the config (sources.0), for mistakes under its keys

    # --- wide and long tables ---------------------------------------------------------------------

    def table(self) -> set[str]:
        """Read a wide or long table; returns the inputs it has a column (or a name) for."""
        source = self.source
        comma_thousands = self.config.locale == "en"
        table = read_table(source.path, sheet=source.sheet, header=source.date, comma_thousands=comma_thousands)
        frame = table.frame.with_row_index(ROW, offset=table.first_row)
        header_row = self.header_row = table.first_row - 1
        layout_columns = [source.date, *([source.name, source.value] if source.layout == "long" else [])]
        for column in [*layout_columns, *source.filter]:
            if column not in frame.columns:
                names = [c for c in frame.columns if c != ROW]
                raise DataError(f"no column '{column}'", file=self.file, line=header_row,
                                hint=did_you_mean(column, names) or _delimiter_hint(names)
                                or "its columns: " + ", ".join(names))
        if not len(frame):
            self.data.warnings.append(f"{self.file} has no rows (only a header): it gives no value")
        self.check_renamed(frame, header_row)
        frame = self.filtered(frame, header_row)
        if source.layout == "long":
            return self.long(frame, table, header_row)
        return self.wide(frame, table, header_row)

    def check_renamed(self, frame: pl.DataFrame, header_row: int) -> None:
        """A name under `columns:` that the file does not have: its input would silently get no value."""
        source = self.source
        if source.layout == "wide":  # every row of an export has every column: a missing one is misspelt
            names = [c for c in frame.columns if c != ROW]
            for renamed, input_id in source.columns.items():
                if renamed not in names:
                    close = did_you_mean(renamed, names) or f"its columns: {listed(names)};"
                    raise DataError(
                        f"no column '{renamed}' (read as '{input_id}' under 'columns:')", file=self.file,
                        line=header_row, key=f"{self.key}.columns.{renamed}",
                        hint=f"{close} correct the name under this source's 'columns:' in the config")
            return
        # A long file's names are values: one missing is normal (a month without refunds has no
        # 'refunds' row). Refused only when the file has the same name but for case, spaces or
        # punctuation, and nothing reads that one: its rows would be dropped for certain. Mere
        # look-alikes ('Deals won', 'Deals lost') may be two metrics.
        assert source.name is not None
        seen = frame[source.name].cast(pl.String).str.strip_chars().drop_nulls().unique().sort().to_list()
        unread = [name for name in seen if name not in source.columns and name not in self.config.inputs]
        for renamed, input_id in source.columns.items():
            twin = next((name for name in unread if _folded(name) == _folded(renamed)), None)
            if renamed not in seen and twin is not None:
                raise DataError(
                    f"the column '{source.name}' has no name '{renamed}' (read as '{input_id}' under 'columns:') "
                    f"but has '{twin}', which maps to no input", file=self.file, line=header_row,
                    key=f"{self.key}.columns.{renamed}",
                    hint=f"did you mean '{twin}'? names are compared exactly, case included: correct the name "
                         "under this source's 'columns:' in the config")

    def filtered(self, frame: pl.DataFrame, header_row: int) -> pl.DataFrame:
        for column, wanted in self.source.filter.items():
            allowed = wanted if isinstance(wanted, list) else [wanted]
            cells = frame[column]
            if cells.dtype.is_numeric():
                kept = cells.cast(pl.Float64).is_in(cell_numbers(allowed)).fill_null(False)
            else:
                kept = cells.cast(pl.String).str.strip_chars().is_in([cell_text(a) for a in allowed]).fill_null(False)
            if not kept.any() and len(frame):
                seen = cells.cast(pl.String).drop_nulls().unique(maintain_order=True).head(10).to_list()
                self.warn(f"the filter keeps no row: no cell is {' or '.join(map(repr, map(cell_text, allowed)))}",
                          header_row, column,
                          f"the column holds {', '.join(map(repr, seen))}; the filter compares whole cells, "
                          "case included")
            frame = frame.filter(kept)
        return frame

    def wide(self, frame: pl.DataFrame, table: Table, header_row: int) -> set[str]:
        source, inputs = self.source, self.config.inputs
        reserved = {ROW, source.date, *source.filter}
        columns: dict[str, str] = {}  # column -> input id
        unused: list[str] = []
        for column in frame.columns:
            if column in reserved:
                continue
            input_id = source.columns.get(column, column)
            if input_id in inputs:
                twin = next((c for c, i in columns.items() if i == input_id), None)
                if twin is not None:
                    raise DataError(f"columns '{twin}' and '{column}' both give the input '{input_id}'",
                                    file=self.file, line=header_row, column=column,
                                    hint="remove one, or map it to another input under 'columns:'")
                columns[column] = input_id
            else:
                unused.append(column)
        if unused:  # only the listed few are explained: a did-you-mean for each of 200,000 columns took 6 s
            unused = [*(_unused(column, source.columns.get(column, column), source.columns, inputs)
                        for column in unused[:LISTED + 1]), *unused[LISTED + 1:]]
            self.warn(f"{counted(len(unused), 'column')} map{'s' if len(unused) == 1 else ''} to no input "
                      f"and {'is' if len(unused) == 1 else 'are'} ignored: {listed(unused)}; to read one, declare "
                      "an input of its name, or map it to one under this source's 'columns:'", header_row)
        values: dict[str, pl.Series] = {}
        problems: list[pl.DataFrame] = []
        for column, input_id in columns.items():
            values[input_id], bad = self.values(frame, frame[column], inputs[input_id].aggregate, table, input_id)
            problems.append(bad)
        rows = pl.DataFrame({ROW: frame[ROW], _TEXT: frame[source.date], **values})
        measures = [(input_id, inputs[input_id].aggregate, input_id) for input_id in values]
        measures += [(input_id, "count", input_id + _ROWS) for input_id in values  # how many rows each mean is of
                     if inputs[input_id].aggregate == "mean"]
        for record in self.monthly(rows, problems, measures).iter_rows(named=True):
            month = Month.of(record.pop(_DAY))
            for input_id, value in record.items():
                if value is not None and not input_id.endswith(_ROWS):
                    self.data.add(input_id, month, float(value), self.file)
                    if input_id + _ROWS in record:
                        self.data.rows.setdefault(input_id, {})[month] = int(record[input_id + _ROWS])
        return set(columns.values())

    def long(self, frame: pl.DataFrame, table: Table, header_row: int) -> set[str]:
        source, inputs = self.source, self.config.inputs
        assert source.name is not None  # the config requires both for a long layout
        assert source.value is not None
        names = frame[source.name].cast(pl.String).str.strip_chars()
        if source.columns:
            names = names.replace(source.columns)
        known = names.is_in(list(inputs)).fill_null(False)
        unknown = (pl.DataFrame({"name": names, "value": ~is_missing(frame[source.value])})
                   .filter(~known & pl.col("value"))
                   .group_by("name", maintain_order=True).len())
        unused = [_unused(name, name, {}, inputs) for name in unknown["name"].drop_nulls() if name]
        if unused:
            rows = unknown.filter(pl.col("name").str.len_bytes() > 0)["len"].sum()
            self.warn(f"{counted(len(unused), 'name')} map{'s' if len(unused) == 1 else ''} to no input "
                      f"({counted(rows, 'row')} ignored): {listed(unused)}; to read one, declare "
                      "an input of its name, or map it to one under this source's 'columns:'", header_row, source.name)
        nameless = unknown.filter(pl.col("name").fill_null("") == "")["len"].sum()
        if nameless:
            self.warn(f"{nameless} row(s) with a value but no name, ignored", header_row, source.name,
                      "fill in the name, or delete the rows")
        frame, names = frame.filter(known), names.filter(known)
        aggregates = names.replace_strict({i: spec.aggregate for i, spec in inputs.items()}, default=None)
        counts = aggregates == "count"
        values, problems = self.values(frame, frame[source.value], "sum", table, names, checked=~counts)
        present = one_where(~is_missing(frame[source.value]))
        values = pl.select(pl.when(counts).then(present).otherwise(values)).to_series()
        rows = pl.DataFrame({ROW: frame[ROW], _TEXT: frame[source.date], "input": names, "value": values})
        how_of = {i: spec.aggregate for i, spec in inputs.items()}
        measures = [("value", how, how) for how in sorted(set(aggregates.unique().to_list()))]
        measures += [("value", "count", "mean" + _ROWS)]  # how many rows each mean is of
        for record in self.monthly(rows, [problems], measures, keys=["input"]).iter_rows(named=True):
            input_id, how = record["input"], how_of[record["input"]]
            value = record[how]
            if value is not None:
                self.data.add(input_id, Month.of(record[_DAY]), float(value), self.file)
                if how == "mean":
                    self.data.rows.setdefault(input_id, {})[Month.of(record[_DAY])] = int(record["mean" + _ROWS])
        return set(names.unique().to_list())

    # --- rows: one per deal, order, contact… (read by row_sources.py) --------------------------------

    def rows(self) -> set[str]:
        """Read a table of rows with the source's measures (row_sources.py); returns the inputs made."""
        measures = self.source.measures
        results, last = RowSourceReader(self.config, self.source, self.data.warnings, self.skip_bad_rows).measured()
        if last is not None:
            self.data.stops_early(last)
        for measure in measures:
            for month, number, count in results[measure.input].iter_rows():
                if number is None or not math.isfinite(number):  # an overflow, or a mean of nothing
                    continue
                self.data.add(measure.input, Month.of(month), float(number), self.file)
                if self.config.inputs[measure.input].aggregate == "mean":
                    self.data.rows.setdefault(measure.input, {})[Month.of(month)] = int(count)
        return {m.input for m in measures}

    def monthly(self, rows: pl.DataFrame, problems: list[pl.DataFrame], measures: list[tuple[str, str, str]],
                keys: tuple[str, ...] | list[str] = ()) -> pl.DataFrame:
        """Roll `rows` (row number, date as written, values) up to calendar months: one column per
        measure (column, aggregate, name) and per `keys`, plus `_DAY` (the month's first day).

        Each distinct date text is read once, and rows are first summed per date text, then per month:
        a daily export of a million rows has only a few thousand distinct dates.
        """
        texts = rows[_TEXT]
        written = texts.unique()
        parsed = self.read_dates(written, rows.select(ROW, pl.col(_TEXT).alias(self.source.date)), self.source.date)
        day_of = pl.DataFrame({_TEXT: written, _DAY: parsed.values})
        where = pl.lit(self.source.date).alias("column")
        if parsed.bad.any():
            bad = rows.filter(texts.is_in(written.filter(parsed.bad).implode()))
            problems = [*problems, bad.select(ROW, pl.col(_TEXT).cast(pl.String).alias("text"), where,
                                              kind=pl.lit("date"))]
        undated = written.filter(parsed.values.is_null() & ~parsed.bad)
        if len(undated) and measures:  # an empty date cell: fine on an empty row, not on a row with values
            has_values = pl.any_horizontal(pl.col(name).is_not_null() for name in {m[0] for m in measures})
            undated_texts = undated.drop_nulls().implode()  # one list: is_in on a bare Series is deprecated
            empty = rows.filter((pl.col(_TEXT).is_null() | pl.col(_TEXT).is_in(undated_texts)) & has_values)
            problems = [*problems, empty.select(ROW, text=pl.lit(""), column=where, kind=pl.lit("no date"))]
        kept = self.settle(rows, problems)
        if kept is not None:
            rows = rows.filter(kept)
        self.refuse_repeated_months(rows, day_of, measures, keys)
        if not keys:
            self.warn_holes(rows, day_of, [column for column, how, _ in measures if how == "sum"])
        partials = {e.meta.output_name(): e for column, how, _ in measures for e in _partials(column, how)}
        # maintain_order: each group's values are added up in the file's order, every run; otherwise the
        # threads' order varies and so do the sums' last bits (a chart's axis then flips from run to run)
        daily = (rows.group_by(_TEXT, *keys, maintain_order=True).agg(partials.values())
                 .join(day_of, on=_TEXT, maintain_order="left").drop_nulls(_DAY))
        if partials:  # the dates that hold a value tell whether the last month is complete
            held = pl.any_horizontal(pl.col(name) > 0 if name.endswith("\x00count") else pl.col(name).is_not_null()
                                     for name in partials if not name.endswith("\x00sum"))
            last = last_day_if_partial(daily.filter(held)[_DAY])
            if last is not None:
                self.data.stops_early(last)
        return daily.group_by(pl.col(_DAY).dt.month_start(), *keys, maintain_order=True).agg(
            _combined(column, how).alias(name) for column, how, name in measures)

    def warn_holes(self, rows: pl.DataFrame, day_of: pl.DataFrame, columns: list[str]) -> None:
        """A daily (or weekly) row with values but none in a column that is summed: that day is left out of
        its month's total, which still reads as a month's worth of days, and a ratio of two columns counts
        a day on top but not below. Said, with the first such row; the figure itself stays as it is (a
        mean, a minimum or a last value of the days there are is what it says)."""
        if len(columns) < 2 or day_of[_DAY].dt.month_start().n_unique() == day_of.height:
            return  # a file of months: an empty cell is a month without value, which every view shows
        columns = list(dict.fromkeys(columns))
        dated = pl.col(_TEXT).is_in(day_of.filter(pl.col(_DAY).is_not_null())[_TEXT].implode())
        with_values = rows.filter(dated & pl.any_horizontal(pl.col(column).is_not_null() for column in columns))
        holes = with_values.select(pl.col(column).is_null().sum() for column in columns).row(0, named=True)
        for column, count in holes.items():
            if count:
                first = with_values.filter(pl.col(column).is_null()).row(0, named=True)
                self.warn(f"'{column}' has no value on {counted(count, 'row')} where other columns have one "
                          f"(first: {first[_TEXT]}): those days are left out of their month's {column}",
                          first[ROW], hint="fill in the cell (0 if there was nothing that day), or export the "
                                           "data again")

    def refuse_repeated_months(self, rows: pl.DataFrame, day_of: pl.DataFrame, measures: list[tuple[str, str, str]],
                               keys: tuple[str, ...] | list[str]) -> None:
        """In a file of months (2026-03, 202603, mars 2026), two rows for one month (and name) are a copy-paste
        slip, not days to roll up: their sum would be a wrong month, silently."""
        texts = rows[_TEXT]
        checked = {column for column, how, _ in measures if how != "count"}  # counting rows is their point
        if not (texts.dtype == pl.String or texts.dtype.is_integer()) or not checked:  # 202603 may come as a number
            return
        if "input" in keys:  # a long file: its rows for counted inputs are exempt too
            counted = [i for i, spec in self.config.inputs.items() if spec.aggregate == "count"]
            rows = rows.filter(~pl.col("input").is_in(counted))
        written = day_of[_TEXT].drop_nulls().cast(pl.String).str.strip_chars()  # each distinct text once
        if not len(written) or not written_as_months(written, self.source.date_format):
            return
        has_values = pl.any_horizontal(pl.col(name).is_not_null() for name in checked)
        repeated = (rows.filter(has_values).join(day_of, on=_TEXT).drop_nulls(_DAY)
                    .group_by(_DAY, *keys, maintain_order=True).agg(pl.col(ROW).sort())
                    .filter(pl.col(ROW).list.len() > 1))
        if not len(repeated):
            return
        first = repeated.sort(pl.col(ROW).list.get(1)).row(0, named=True)
        lines = first[ROW]
        which = "".join(f" for '{first[key]}'" for key in keys)
        raise DataError(
            f"the month {Month.of(first[_DAY])} appears on {len(lines)} rows{which} (rows "
            f"{', '.join(map(str, lines[:5]))}{', …' if len(lines) > 5 else ''}) in a file of months",
            file=self.file, line=lines[1], column=self.source.date,
            hint="a file of months has one row per month: remove the repeated row, or write days (YYYY-MM-DD) "
                 "if the rows are to be added up")

    # --- the template ------------------------------------------------------------------------------

    def template(self) -> set[str]:
        """Read a filled kpireport workbook by its defined names: `months`, `in_<input>`, `note_<input>`,
        and `rows_<input>` (how many rows a mean input's months are the mean of)."""
        from openpyxl import load_workbook

        from .team import Stamp, check_stamp
        from .template import (
            UNSAVED_HINT,
            checked_cells,
            header_months,
            holds_formulas,
            read_notes,
            typed_targets,
            unsaved_formulas,
        )

        path = self.source.path
        if path.exists():
            check_workbook(path, TEMPLATE_PART_BYTES)  # read whole, cell objects and all: a tighter bound
        if not is_template(path):
            if not path.exists():
                read_table(path)  # raises the usual "file not found"
            if is_ole(path):
                raise ole_error(path)
            try:
                zipfile.ZipFile(path).close()
            except (zipfile.BadZipFile, OSError) as exc:
                raise workbook_error(path, exc) from None
            raise DataError("this is not a kpireport template (no defined name 'months')", file=self.file,
                            hint="make one with 'kpireport template', or read this file with 'layout: wide'")
        try:
            content = path.read_bytes()  # openpyxl judges a path by its extension: a template may be renamed
            formulas = load_workbook(io.BytesIO(content))  # formulas kept: a value typed over a KPI's shows
            # someone typed =120+30 in an input or target cell: read what the spreadsheet saved
            workbook = load_workbook(io.BytesIO(content), data_only=True) if holds_formulas(formulas) else formulas
        except (SyntaxError, ValueError) as exc:
            raise clipped_xml_error(path, exc) from None
        except (zipfile.BadZipFile, KeyError, OSError) as exc:
            raise workbook_error(path, exc) from None
        months: list[Month | None] = list(header_months(workbook, self.file))
        stamp = Stamp.read(workbook, self.file)
        if stamp is not None:
            if self.check_stamps:
                check_stamp(self.config, stamp, self.file, self.data.stamped)
            self.data.stamped[self.file] = stamp
        self.typed_over_formulas(formulas, months)
        for raw, by_month in read_notes(workbook, months).items():
            if self.source.columns.get(raw, raw) in self.config.inputs:
                notes = self.data.notes.setdefault(self.source.columns.get(raw, raw), {})
                for month, note in by_month.items():  # a shared input's notes, from two owners: both kept
                    before = notes.get(month)
                    notes[month] = note if before in (None, note) else f"{before} / {note}"
        values = workbook
        unsaved = {(formula.name, formula.index): formula for formula in unsaved_formulas(formulas, workbook)}
        for formula in unsaved.values():
            self.unsaved(formula, months)
        owned = self.config if stamp is None else replace(  # an owner's workbook sets their KPIs' targets only
            self.config, kpis={k: kpi for k, kpi in self.config.kpis.items() if kpi.owner == stamp.owner})
        targets, tolerances, warnings = typed_targets(values, months, owned, self.file)
        self.data.warnings += warnings
        if stamp is not None:  # another owner's KPI shown here: its target is theirs to type, said so
            others = replace(self.config, kpis={k: kpi for k, kpi in self.config.kpis.items()
                                                 if kpi.owner != stamp.owner})
            ignored, _, _ = typed_targets(values, months, others, self.file, shares=False)
            for kpi_id in ignored:
                owner = self.config.kpis[kpi_id].owner
                self.warn(f"the target of '{kpi_id}' typed in {stamp.owner}'s workbook is not used: '{kpi_id}' is "
                          f"{owner or 'nobody'}'s", hint=f"type it in {owner}'s workbook" if owner
                          else "give the KPI an owner, or set its target in the config")
        for kpi_id, series in targets.items():
            self.data.targets.setdefault(kpi_id, {}).update(series)
        self.data.tolerances.update(tolerances)
        provided = set()
        for name in list(workbook.defined_names):
            kind, _, raw = name.partition("_")
            if kind not in ("in", "note", "rows"):
                continue
            input_id = self.source.columns.get(raw, raw)
            cells = checked_cells(workbook, name, self.file)
            if input_id not in self.config.inputs:
                if kind == "in":
                    self.warn(f"the template's input '{raw}' is not in the config; it is ignored",
                              cells[0].row if cells else None, None,
                              did_you_mean(raw, self.config.inputs) or "declare it under 'inputs:'")
                continue
            if kind == "note":  # read above, per month
                continue
            if kind == "rows":  # written by kpireport from the data files; a count or nothing
                counts = {month: int(cell.value) for month, cell in zip(months, cells, strict=False)
                          if month is not None and isinstance(cell.value, int | float) and cell.value > 0}
                if stamp is not None:
                    self.refuse_other_counts(input_id, counts)
                self.data.rows.setdefault(input_id, {}).update(counts)
                continue
            provided.add(input_id)
            for index, (month, cell) in enumerate(zip(months, cells, strict=False)):
                if month is not None and (name, index) in unsaved:  # the person meant a value: not the export's
                    self.data.no_value[(input_id, month)] = NoValue(self.file, unsaved[(name, index)].said(),
                                                                    UNSAVED_HINT, alone=True)
                    continue
                if month is None or cell.value is None or (isinstance(cell.value, str) and not cell.value.strip()):
                    continue
                value = self.typed_value(input_id, month, cell)
                if value is not None:
                    self.data.add(input_id, month, value, self.file, typed=True)
        return provided

    def refuse_other_counts(self, input_id: str, counts: dict[Month, int]) -> None:
        """A shared mean input's row counts, from two owners' workbooks: the same counts, or an error."""
        for month, count in counts.items():
            other = self.data.counted.setdefault((input_id, month), self.file)
            before = self.data.rows.get(input_id, {}).get(month)
            if other != self.file and before != count:
                raise DataError(
                    f"the rows behind '{input_id}' for {month} are {before} in {other} and {count} in {self.file}: "
                    "two owners' workbooks give this count differently", file=self.file,
                    hint="correct one of the two cells (the grey row under the input) so that they agree")

    def unsaved(self, formula, months: list[Month | None]) -> None:  # type: ignore[no-untyped-def]
        """A target, tolerance, row count or note typed as a formula no spreadsheet computed: warned, and
        read as an empty cell (an input's is said with the export it overrides, in load_data)."""
        from .template import UNSAVED_HINT

        kind, _, owner = formula.name.partition("_")
        month = months[formula.index] if formula.index < len(months) else None
        read_as = {"target": f"'{owner}' has no target for {month}", "tol": f"'{owner}' has no tolerance",
                   "rows": f"the rows behind '{owner}' for {month} are not counted",
                   "note": f"the note of '{owner}' for {month} is not read"}.get(kind)
        if read_as is not None:
            self.warn(f"{formula.said()}: {read_as} until then", hint=UNSAVED_HINT)

    def typed_over_formulas(self, workbook, months: list[Month | None]) -> None:  # type: ignore[no-untyped-def]
        """A KPI cell where a person typed a value over its formula: the review would compute another
        number than the workbook shows, so it is an error rather than a silent disagreement."""
        from .template import named_cells

        for name in list(workbook.defined_names):
            if not name.startswith("kpi_"):
                continue
            for month, cell in zip(months, named_cells(workbook, name), strict=False):
                typed = cell.value
                if month is None or not isinstance(typed, int | float | str) or str(typed).startswith("=") \
                        or not str(typed).strip():
                    continue
                raise DataError(
                    f"the KPI '{name[4:]}' for {month} holds a typed value ({clipped(typed)}) instead of its formula: "
                    "the review computes KPIs from the inputs", file=self.file, line=cell.row,
                    column=cell.column_letter,
                    hint="type the inputs on the Inputs sheet instead; 'kpireport template --update' rebuilds "
                         "the formulas and keeps the typed inputs")

    def typed_value(self, input_id: str, month: Month, cell) -> float | None:  # type: ignore[no-untyped-def]
        """A typed cell's number; a cell that holds none is an error, or skipped with a warning."""
        value = cell.value
        problem = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            input_format = self.config.inputs[input_id].format
            if "%" in (cell.number_format or "") and input_format != "percent":
                # typed as "12%", a spreadsheet stores 0.12 and shows it as a percentage: not a count of 0.12
                problem, hint = percent_problem(f"{value * 100:g} %", input_format)
                return self.refuse_cell(cell, f"{input_id} for {month}: {problem}", hint)
            if math.isfinite(value):
                return float(value)
            problem = f"'{clipped(value)}' is not a finite number"
        elif isinstance(value, str):
            try:
                number = parse_number(value, comma_thousands=self.config.locale == "en")
            except ValueError as exc:
                problem = str(exc)
            else:
                input_format = self.config.inputs[input_id].format
                if number is not None and "%" in value and input_format != "percent":
                    problem, hint = percent_problem(value.strip(), input_format)
                    return self.refuse_cell(cell, f"{input_id} for {month}: {problem}", hint)
                if number is not None:
                    # The workbook's formulas see text as no value (COUNT and ISNUMBER skip it), and
                    # no formula reads '14 581' or '48,7' alike in every spreadsheet and locale: so no
                    # value here either, said loudly (the cell is red in the workbook too).
                    where = f"{cell.parent.title}!{cell.coordinate}"
                    self.data.text_cells.setdefault(input_id, {})[month] = f"{where}: '{clipped(value)}'"
                    self.warn(f"{where}: '{clipped(value)}' is text, not a number: retype it as a number",
                              hint=f"until then {input_id} has no value for {month}, in the workbook's formulas "
                                   "as in the review")
                else:  # `n/a`, `-`: no value on purpose, as the workbook's formulas read it
                    self.data.no_value[(input_id, month)] = NoValue(
                        self.file, f"{cell.parent.title}!{cell.coordinate}: '{clipped(value)}' means no value",
                        "empty the cell to use the export's value instead", alone=False)
                return None
        else:
            problem = f"'{clipped(value)}' is not a number"
        return self.refuse_cell(cell, f"{input_id} for {month}: {problem}", "type a number in the cell, or empty it")

    def refuse_cell(self, cell, message: str, hint: str) -> None:  # type: ignore[no-untyped-def]
        """A template cell that cannot be read: an error, or (skipping bad rows) a warning."""
        message = f"{cell.parent.title}!{cell.coordinate}: {message}"  # as the warnings name a cell
        if self.skip_bad_rows:
            self.warn(f"{message}; the cell is skipped", hint=hint)
            return None
        raise DataError(message, file=self.file, hint=f"{hint} (--skip-bad-rows reports and skips such cells)")


def _partials(column: str, how: str) -> list[pl.Expr]:
    """What one date's rows keep of a value column, for `_combined` to finish per month."""
    values = pl.col(column)
    if how in ("sum", "mean", "count"):
        return [values.sum().alias(f"{column}\x00sum"), values.count().alias(f"{column}\x00count")]
    if how in ("min", "max"):
        return [getattr(values, how)().alias(f"{column}\x00{how}")]
    # last: the date's last value, and its row, to tell which is latest between two texts of one day
    has = values.is_not_null()
    return [values.drop_nulls().last().alias(f"{column}\x00last"),
            pl.col(ROW).filter(has).last().alias(f"{column}\x00last_row")]


def _combined(column: str, how: str) -> pl.Expr:
    """One month's value from its dates' partials; no value when no row has one."""
    def part(name: str) -> pl.Expr:
        return pl.col(f"{column}\x00{name}")

    count = part("count").sum()
    if how == "sum":
        return pl.when(count > 0).then(part("sum").sum())
    if how == "count":
        return pl.when(count > 0).then(count.cast(pl.Float64))
    if how == "mean":
        return pl.when(count > 0).then(part("sum").sum() / count)
    if how in ("min", "max"):
        return getattr(part(how), how)()
    # last: the value of the latest day; on the same day, the lowest row of the file
    return part("last").sort_by(pl.col(_DAY), part("last_row")).drop_nulls().last()


def _delimiter_hint(names: list[str]) -> str | None:
    """A header read as one column holding another separator: 'date|visits|leads'."""
    if len(names) != 1:
        return None
    separators = [c for c in dict.fromkeys(names[0]) if not (c.isalnum() or c in " _-.%()'")]
    if not separators:
        return None
    return (f"the columns seem separated by '{separators[0]}' ({names[0]}): kpireport reads ',', ';' or tabs; "
            "export the file again with one of those")


def _unused(name: str, input_id: str, columns: dict[str, str], inputs: Iterable[str]) -> str:
    """A column (or name) that maps to no input, as the unused list shows it: `vists (did you mean
    'visits'?)`, or `Sessions → visitz` when `columns:` maps it to an input the config lacks."""
    shown = f"'{name}' → '{input_id}'" if name in columns else f"'{name}'"
    close = did_you_mean(input_id, inputs)
    return f"{shown} ({close})" if close else shown


def _folded(name: str) -> str:
    """A name without case, spaces or punctuation: 'Deals-Won ' and 'deals won' fold alike."""
    return "".join(c for c in name.casefold() if c.isalnum())

