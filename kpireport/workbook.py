"""The Excel KPI tracking template: monthly inputs to fill by hand, every KPI as a real formula
printed from its formula tree, targets, status colours, a dashboard with native charts.

Readers (kpireport itself, other tools) find the data by defined names, never by position:
`months` (header cells, first day of each month as a date), `in_<input>`, `note_<input>` (the
notes of each month, just below the input), `rows_<input>`, `kpi_<kpi>` and `target_<kpi>` (one row
each, aligned with `months`), `tol_<kpi>` (one cell). A hidden sheet keeps what kpireport wrote in
the target and tolerance cells (`wrote_target_<kpi>`, `wrote_tol_<kpi>`), so that reading the
workbook back tells a target a person typed from one an older config wrote.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import shlex
import zipfile
from collections.abc import Collection, Mapping, Sequence
from copy import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from openpyxl import Workbook
from openpyxl.chart import LineChart, Reference, Series
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.utils.datetime import to_excel as excel_serial
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.pagebreak import Break
from openpyxl.worksheet.worksheet import Worksheet

from . import cached
from .collector import collector_paused
from .config import Config, Kpi
from .engine import KpiMonth, Notes, RowCounts, already_year_to_date, attainment_of, compute, status_of, ytd_tree
from .errors import ConfigError
from .formula import Name, to_excel
from .locale import excel_number_format, month_header_format, text
from .months import Month, month_range

if TYPE_CHECKING:
    from .team import Stamp

FIRST_MONTH_COLUMN = 4  # column D, on the inputs and the KPI sheets alike
HEADER_ROW = 4
BLOCK_ROWS = ("value", "target", "attainment", "change_mom", "ytd")  # the rows of a KPI block
MAX_CHARTS = 24
CHART_ROWS = 15  # the rows of the dashboard a chart takes, with the gap below it (15 points each)
CHARTS_A_PAGE = 4  # two rows of two, when printed

# Colours: the usual spreadsheet "good / neutral / bad" pairs, readable in black and white too
# (the status is also written in words on the dashboard).
STATUS_STYLE = {
    "on": ("C6EFCE", "006100"),
    "watch": ("FFEB9C", "9C5700"),
    "off": ("FFC7CE", "9C0006"),
    "no_data": ("F2F2F2", "808080"),
}
INPUT_FILL = PatternFill("solid", fgColor="FFF2CC")
SECTION_FILL = PatternFill("solid", fgColor="DDEBF7")
HEADER_FILL = PatternFill("solid", fgColor="1F4E78")
HISTORY_FILL = PatternFill("solid", fgColor="EDEDED")
THIN = Side(style="thin", color="BFBFBF")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
UNLOCKED = Protection(locked=False)
SMALL_GREY = Font(color="808080", size=9)
TINY_GREY = Font(color="808080", size=8)
SMALL = Font(size=9)
BOLD = Font(bold=True)
ROW_LABEL = Font(size=9, color="404040")
MAIN_ROW_LABEL = Font(bold=True, size=11, color="404040")
SECTION_FONT = Font(bold=True, color="1F4E78")
INDENT = Alignment(indent=1)
CENTER = Alignment(horizontal="center")
WRAP = Alignment(wrap_text=True)
WRAP_TOP = Alignment(wrap_text=True, vertical="top")
HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_ALIGNMENT = Alignment(horizontal="center", vertical="center", wrap_text=True)
HISTORY_FONT = Font(italic=True, size=8, color="808080")


@dataclass
class Layout:
    """Where everything is: one column per month, one row per input and per KPI block row."""

    months: list[Month]  # every column: history months first, then the period
    period: list[Month]
    input_rows: dict[str, int] = field(default_factory=dict)
    weight_rows: dict[str, int] = field(default_factory=dict)  # a mean input's row counts, just below it
    note_rows: dict[str, int] = field(default_factory=dict)  # an input's notes per month, just below it
    kpi_rows: dict[str, int] = field(default_factory=dict)  # the first ("value") row of each block
    tolerance_column: int = 0

    def __post_init__(self) -> None:
        # looked up for every cell: a dict, not Month comparisons (they were a tenth of the build)
        self._columns = {month: FIRST_MONTH_COLUMN + index for index, month in enumerate(self.months)}
        self._letters = {month: get_column_letter(column) for month, column in self._columns.items()}

    def column(self, month: Month) -> int | None:
        return self._columns.get(month)

    def letter(self, month: Month) -> str | None:
        return self._letters.get(month)

    @property
    def last_column(self) -> int:
        return FIRST_MONTH_COLUMN + len(self.months) - 1


class _Refs:
    """The formula tree's Excel back-end asks here where a name's month lives."""

    def __init__(self, layout: Layout, inputs_sheet: str) -> None:
        self.layout = layout
        self.prefix = quote_sheetname(inputs_sheet) + "!"

    def _row(self, name: Name) -> tuple[str, int | None]:
        if name.kind == "kpi":
            return "", self.layout.kpi_rows[name.name]
        if name.kind == "rows":
            return self.prefix, self.layout.weight_rows.get(name.name)
        return self.prefix, self.layout.input_rows[name.name]

    def cell(self, name: Name, month: Month) -> str | None:
        letter = self.layout.letter(month)
        prefix, row = self._row(name)
        return None if letter is None or row is None else f"{prefix}{letter}{row}"

    def span(self, name: Name, first: Month, last: Month) -> str | None:
        start, end = self.layout.letter(first), self.layout.letter(last)
        prefix, row = self._row(name)
        return None if start is None or end is None or row is None else f"{prefix}{start}{row}:{end}{row}"


Values = Mapping[str, Mapping[Month, "float | str"]]  # input id -> month -> what the cell holds
Targets = Mapping[str, Mapping[Month, "float | None"]]  # KPI id -> month -> a target typed in the workbook
Tolerances = Mapping[str, float]  # KPI id -> a tolerance typed in the workbook
RECORD_SHEET = "kpireport"  # hidden: what kpireport wrote in the target and tolerance cells


def sheet_months(config: Config, period: list[Month]) -> list[Month]:
    """The period and the months before it that its cells read: the formulas' look-back, plus one
    month for the first change vs last month, or back to January for the year to date."""
    history = config.lookback() + max(1, period[0].month - 1)
    return month_range(period[0] - history, period[-1])


@collector_paused()
def build_workbook(config: Config, period: list[Month], values: Values,
                   notes: Notes | None = None, held_back: Collection[Month] = (),
                   rows: RowCounts | None = None, targets: Targets | None = None,
                   tolerances: Tolerances | None = None, file_name: str = "kpi-template.xlsx",
                   published: bool = False, stamp: Stamp | None = None) -> TemplateWorkbook:
    """The template for `period`, input cells filled with `values` (empty mapping: a blank template)
    and mean inputs' row counts with `rows`; the dashboard opens on the last month with values that
    is not `held_back` (MonthlyData.held_back: partial, not reached by a file, or ahead: the month a
    review is of by default). `targets` and `tolerances` typed in an earlier workbook fill their
    cells instead of the config's; the hidden record keeps the config's. `published`: the
    start sheet speaks to someone with only a spreadsheet (see publish.py). `stamp` marks one owner's
    workbook (see team.py)."""
    layout = Layout(sheet_months(config, period), period)
    workbook = TemplateWorkbook()
    start = workbook.active
    locale = config.locale
    start.title = text("sheet.start", locale)
    inputs = workbook.create_sheet(text("sheet.inputs", locale))
    kpis = workbook.create_sheet(text("sheet.kpis", locale))
    dashboard = workbook.create_sheet(text("sheet.dashboard", locale))
    _InputsSheet(config, layout, inputs).write(values, notes or {}, rows or {})
    results = _sheet_results(config, layout, values, rows or {})
    shares = _shares(config, layout, values, rows or {})
    _KpiSheet(config, layout, kpis, _Refs(layout, inputs.title), results, shares).write(targets or {},
                                                                                       tolerances or {})
    chart_data = workbook.create_sheet("chart_data")
    _Dashboard(config, layout, dashboard, kpis, values, chart_data, held_back).write()
    _StartSheet(config, layout, start, file_name, published, stamp).write()
    if stamp is not None:
        stamp.mark(workbook)
    record = workbook.create_sheet(RECORD_SHEET)
    _define_names(workbook, config, layout, inputs, kpis)
    _record(workbook, config, layout, record, shares)
    workbook.active = 1 if values else 0
    return workbook


class TemplateWorkbook(Workbook):
    """Saved with every formula cell's computed value beside its formula (see cached.py), and with
    `company` in its document properties when set (openpyxl writes no company)."""

    company: str | None = None

    def save(self, filename) -> None:  # type: ignore[no-untyped-def]
        if self.company is None:
            with cached.values_written(), collector_paused():
                super().save(filename)
            return
        buffer = io.BytesIO()
        with cached.values_written(), collector_paused():
            super().save(buffer)
        content = _with_company(buffer.getvalue(), self.company)
        if hasattr(filename, "write"):
            filename.write(content)
        else:
            with open(filename, "wb") as file:
                file.write(content)


def _with_company(content: bytes, company: str) -> bytes:
    """The saved workbook with `company` in docProps/app.xml (where Excel's File > Info shows it)."""
    from openpyxl.packaging.extended import ExtendedProperties
    from openpyxl.xml.functions import Element, tostring

    properties = ExtendedProperties().to_tree()
    element = Element("Company")  # as openpyxl writes its siblings: in the root's default namespace
    element.text = company
    properties.insert(0, element)
    written = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as source, zipfile.ZipFile(written, "w", zipfile.ZIP_DEFLATED) as target:
        for part in source.infolist():
            data = tostring(properties) if part.filename == "docProps/app.xml" else source.read(part)
            target.writestr(part, data)
    return written.getvalue()


def _sheet_results(config: Config, layout: Layout, values: Values,
                   rows: RowCounts) -> dict[str, dict[Month, KpiMonth]]:
    """Every KPI for every column, computed by the engine from what the sheet holds: the numbers in
    its input cells (text such as "n/a" is no value there either) and row counts of its months."""
    shown = set(layout.months)
    numbers = {name: {month: number for month, value in series.items()
                      if month in shown and (number := _number(value)) is not None} for name, series in values.items()}
    counts = {name: {month: count for month, count in series.items() if month in shown}
              for name, series in rows.items() if config.inputs.get(name) and config.inputs[name].aggregate == "mean"}
    results = compute(config, numbers, layout.months, rows=counts)
    return {result.kpi.id: {row.month: row for row in result.months} for result in results.kpis}


def _shares(config: Config, layout: Layout, values: Values, rows: RowCounts) -> dict[str, dict[Month, float | None]]:
    """The months' shares of the yearly and quarterly targets, as the engine splits them from all the
    data (last year's months included, which the sheet may not show): the targets `compute` and the
    review show, written in the target cells, which are then read back as they stand."""
    split = [kpi for kpi in config.kpis.values() if kpi.target.period is not None]
    if not split:
        return {}
    numbers = {name: {month: number for month, value in series.items() if (number := _number(value)) is not None}
               for name, series in values.items()}
    results = compute(config, numbers, layout.months, rows=rows)
    return {result.kpi.id: {row.month: row.target for row in result.months} for result in results.kpis
            if result.kpi.target.period is not None}


def _number(value: object) -> float | None:
    """What a spreadsheet counts as a number in a cell (COUNT, ISNUMBER): a date is its serial number,
    while text, "" and TRUE/FALSE are none."""
    if isinstance(value, dt.date):
        return float(excel_serial(value))
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


# --- shared cell helpers ---------------------------------------------------------------------------


# Assigning a Font or Fill makes openpyxl hash it, cell after cell: that dominated the build time.
# So each combination of style objects is applied once per workbook and its index array copied after.
_STYLE_ARRAYS: WeakKeyDictionary[Workbook, dict[tuple, tuple]] = WeakKeyDictionary()


EXCEL_FORMULA_CHARS = 8192  # Excel refuses longer formulas (it "repairs" the file, dropping them)
EXCEL_CELL_CHARS = 32767  # and longer text in a cell


def _put(sheet: Worksheet, row: int, column: int, value: object, **style: object):  # type: ignore[no-untyped-def]
    if style.pop("formula", False):
        cell = _formula_cell(sheet, row, column, value)  # type: ignore[arg-type]
    else:
        if isinstance(value, str) and len(value) > EXCEL_CELL_CHARS:
            value = value[:EXCEL_CELL_CHARS - 1] + "…"
        cell = sheet.cell(row=row, column=column, value=value)
        if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
            cell.data_type = "s"  # text from a config or data file stays text, never a formula
    if style:
        cache = _STYLE_ARRAYS.setdefault(sheet.parent, {})
        # names and identities: a Font's own hash walks its every field (number formats are text)
        key = (*style, *[setting if setting.__class__ is str else id(setting) for setting in style.values()])
        known = cache.get(key)
        if known is None:
            for name, setting in style.items():
                setattr(cell, name, setting)
            cache[key] = (tuple(style.values()), copy(cell._style))  # holding the objects keeps their ids unique
        else:
            cell._style = copy(known[1])
    return cell


def _formula_cell(sheet: Worksheet, row: int, column: int, formula: str):  # type: ignore[no-untyped-def]
    """A cell holding a formula kpireport printed. Set directly: openpyxl's setter scans each text for
    characters a sheet cannot hold, which a formula made of references, numbers and our own words never
    has, and that scan was a tenth of the build."""
    cell = sheet.cell(row=row, column=column)
    cell._value, cell.data_type = formula, "f"
    return cell


def _formula(sheet: Worksheet, row: int, column: int, formula: str, number_format: str,  # type: ignore[no-untyped-def]
             value: cached.Cached):
    """A formula cell, saved with `value`: what the formula computes from the workbook as written."""
    cached.remember(sheet, row, column, formula, "" if formula == '=""' else value)
    return _put(sheet, row, column, formula, formula=True, number_format=number_format)


def _header(sheet: Worksheet, row: int, column: int, value: object, number_format: str | None = None) -> None:
    cell = _put(sheet, row, column, value, font=HEADER_FONT, fill=HEADER_FILL, alignment=HEADER_ALIGNMENT, border=BOX)
    if number_format:
        cell.number_format = number_format


def _title(sheet: Worksheet, title: str, subtitle: str) -> None:
    _put(sheet, 1, 1, title, font=Font(bold=True, size=16, color="1F4E78"))
    _put(sheet, 2, 1, subtitle, font=Font(italic=True, color="595959"))


def _month_headers(sheet: Worksheet, layout: Layout, locale: str) -> None:
    for month in layout.months:
        column = layout.column(month)
        assert column is not None
        _header(sheet, HEADER_ROW, column, month.first_day, month_header_format(locale))  # type: ignore[arg-type]
        if month < layout.period[0]:
            sheet.cell(HEADER_ROW, column).fill = PatternFill("solid", fgColor="808080")
            _put(sheet, HEADER_ROW - 1, column, text("history", locale),  # type: ignore[arg-type]
                 font=HISTORY_FONT, alignment=CENTER)
        sheet.column_dimensions[get_column_letter(column)].width = 11


PRINTED_MONTHS = 12  # a year fits a landscape page: more months would print too small to read


def _finish_sheet(sheet: Worksheet, layout: Layout, last_row: int, last_column: int) -> None:
    """Frozen headers; formulas protected (no password); printed landscape fitted to the width: the
    period's last 12 months (up to `last_column`), with the label columns and the month headers
    repeated on every page, and the sheet's title in the page header (printed from the label
    columns alone, the title row would be cut where they end)."""
    sheet.freeze_panes = sheet.cell(HEADER_ROW + 1, FIRST_MONTH_COLUMN)
    sheet.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    sheet.print_title_cols = f"A:{get_column_letter(FIRST_MONTH_COLUMN - 1)}"
    first = layout.letter(layout.period[-PRINTED_MONTHS:][0])
    sheet.print_area = f"{first}{HEADER_ROW}:{get_column_letter(last_column)}{last_row}"
    sheet.oddHeader.center.text = str(sheet["A1"].value).replace("&", "&&")  # & starts a code there
    sheet.oddHeader.center.size = 12
    _print_setup(sheet)
    _protect(sheet)


def _print_setup(sheet: Worksheet) -> None:
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.oddFooter.right.text = "&P / &N"  # the page's number / how many pages are printed


def _protect(sheet: Worksheet) -> None:
    sheet.protection.sheet = True
    # people may still resize, colour and group, just not overwrite a formula by mistake
    sheet.protection.formatCells = False
    sheet.protection.formatColumns = False
    sheet.protection.formatRows = False


def _kpi_number_format(config: Config, kpi: Kpi) -> str:
    decimals = 1 if kpi.format == "number" and "/" in kpi.formula.text else 0
    if kpi.format == "currency" and "/" in kpi.formula.text:
        decimals = 2
    return excel_number_format(kpi.format, config.locale, config.currency, decimals=decimals, unit=kpi.unit)


# --- the inputs sheet -------------------------------------------------------------------------------


def percent_bounded(kpi: Kpi) -> bool:
    """A percentage KPI whose config never sets a target over 100 %: a target typed as 12 (meaning
    12 %, read as 1200 %) is a mistake there. An ROI or a coverage ratio with a target of 300 % is not
    bounded: its config says so."""
    targets = [kpi.target.default, *kpi.target.by_month.values()]
    return kpi.format == "percent" and all(abs(target) <= 1 for target in targets if target is not None)


def _checked_cells(locale: str, kind: str, low: str, high: str) -> DataValidation:
    return DataValidation(type="decimal", operator="between", formula1=low, formula2=high, allow_blank=True,
                          showInputMessage=True, showErrorMessage=True, errorStyle="stop",
                          promptTitle=text("validation.title", locale), prompt=text(f"validation.{kind}", locale),
                          errorTitle=text("validation.error_title", locale), error=text(f"validation.{kind}", locale))


def change_number_format(kpi: Kpi) -> str:
    """The change vs last month: relative (`▲ 8.2%`), or for a rate in percentage points (`▲ +2.0 pts`)."""
    if kpi.format == "percent":
        return '"▲ +"0.0" pts";"▼ \u2212"0.0" pts";"= "0.0" pts"'  # a real minus sign, as the review
    return '"▲ "0.0%;"▼ "0.0%;"= "0.0%'


def input_groups(config: Config) -> dict[str, list[str]]:
    """Inputs grouped under the domain of the first KPI that reads them, in the config's order."""
    groups: dict[str, list[str]] = {}
    placed: set[str] = set()
    for kpi in config.kpis.values():
        for name in sorted(kpi.formula.names() - kpi.formula.kpi_names(), key=list(config.inputs).index):
            if name not in placed:
                groups.setdefault(kpi.domain, []).append(name)
                placed.add(name)
    rest = [name for name in config.inputs if name not in placed]
    if rest:
        groups.setdefault(text("other", config.locale), []).extend(rest)
    return groups


class _InputsSheet:
    def __init__(self, config: Config, layout: Layout, sheet: Worksheet) -> None:
        self.config, self.layout, self.sheet = config, layout, sheet

    def write(self, values: Values, notes: Notes, rows: RowCounts) -> None:
        config, layout, sheet, locale = self.config, self.layout, self.sheet, self.config.locale
        _title(sheet, f"{text('inputs.title', locale)} — {config.title}", text("inputs.hint", locale))
        for column, key in ((1, "col.input"), (2, "col.id"), (3, "col.unit")):
            _header(sheet, HEADER_ROW, column, text(key, locale))
        _month_headers(sheet, layout, locale)
        validations = self._validations()
        row = HEADER_ROW + 1
        for group, names in input_groups(config).items():
            self._section(row, group)
            row += 1
            for name in names:
                self._input_row(row, name, values.get(name, {}), validations)
                row += 1
                self._note_row(row, name, notes.get(name, {}))
                row += 1
                if config.inputs[name].aggregate == "mean":
                    self._weight_row(row, name, rows.get(name, {}))
                    row += 1
        for validation in validations.values():
            if validation.sqref:
                sheet.add_data_validation(validation)
        widths = {1: max([len(config.inputs[n].label) for n in config.inputs] + [20]) + 2, 2: 22, 3: 10}
        for column, width in widths.items():
            sheet.column_dimensions[get_column_letter(column)].width = min(width, 50)
        _finish_sheet(sheet, layout, row - 1, layout.last_column)

    def _section(self, row: int, label: str) -> None:
        for column in range(1, self.layout.last_column + 1):
            self.sheet.cell(row, column).fill = SECTION_FILL
        _put(self.sheet, row, 1, label, font=SECTION_FONT, fill=SECTION_FILL)

    def _input_row(self, row: int, name: str, values: Mapping[Month, float],
                   validations: dict[str, DataValidation]) -> None:
        spec = self.config.inputs[name]
        layout, sheet = self.layout, self.sheet
        self.layout.input_rows[name] = row
        _put(sheet, row, 1, spec.label, alignment=INDENT)
        _put(sheet, row, 2, name, font=SMALL_GREY)
        unit = {"percent": "%", "currency": self.config.currency, "duration": "s"}.get(spec.format, "")
        _put(sheet, row, 3, unit, font=SMALL_GREY, alignment=CENTER)
        number_format = excel_number_format(spec.format, self.config.locale, self.config.currency,
                                            decimals=1 if spec.aggregate == "mean" else 0)
        for month in layout.months:
            column = layout.column(month)
            assert column is not None
            _put(sheet, row, column, values.get(month), number_format=number_format, protection=UNLOCKED,
                 border=BOX, fill=HISTORY_FILL if month < layout.period[0] else INPUT_FILL)
        first, last = get_column_letter(FIRST_MONTH_COLUMN), get_column_letter(layout.last_column)
        validations[spec.format].add(f"{first}{row}:{last}{row}")
        # A number pasted as text ('14 581) is no value to the formulas, and to kpireport: make it red.
        fill, font = STATUS_STYLE["off"]
        sheet.conditional_formatting.add(f"{first}{row}:{last}{row}", FormulaRule(
            formula=[f"ISTEXT({first}{row})"], fill=PatternFill("solid", fgColor=fill, bgColor=fill),
            font=Font(color=font, bold=True)))

    def _note_row(self, row: int, name: str, notes: Mapping[Month | None, str]) -> None:
        """A note per month (why a figure moved, where it comes from): the review of that month shows it."""
        self.layout.note_rows[name] = row
        self._helper_row(row, "inputs.note", notes, alignment=WRAP_TOP, number_format="@")

    def _weight_row(self, row: int, name: str, counts: Mapping[Month, int]) -> None:
        """How many rows each month's mean is of, so that the mean since January weighs them as
        kpireport does; a month left blank makes every month weigh the same."""
        self.layout.weight_rows[name] = row
        self._helper_row(row, "inputs.rows", counts, number_format="0", fill=HISTORY_FILL)

    def _helper_row(self, row: int, label: str, values: Mapping, **style: object) -> None:  # type: ignore[type-arg]
        """A small grey row under an input, one editable cell a month."""
        layout, sheet = self.layout, self.sheet
        _put(sheet, row, 1, text(label, self.config.locale), font=SMALL_GREY, alignment=INDENT)
        for month in layout.months:
            column = layout.column(month)
            assert column is not None
            _put(sheet, row, column, values.get(month), protection=UNLOCKED, font=SMALL_GREY, border=BOX, **style)

    def _validations(self) -> dict[str, DataValidation]:
        locale = self.config.locale
        made = {}
        # counts and durations are never negative; a percentage is 0–100 %; money may be (a profit)
        rules = {"number": ("greaterThanOrEqual", "0", None), "duration": ("greaterThanOrEqual", "0", None),
                 "percent": ("between", "0", "1"), "currency": ("between", "-1E+15", "1E+15")}
        for fmt, (operator, low, high) in rules.items():
            made[fmt] = _checked_cells(locale, fmt, low, high)
            made[fmt].operator = operator
        return made


def status_band(direction: str, value: str, target: str, tolerance: str) -> tuple[str, str]:
    """The Excel conditions "on" and "watch" (to test in this order) of engine.status_of: the edges
    belong to the better status, and the margin is a share of |target|. One place for the sheet's
    colours and the dashboard's words."""
    if direction == "up":  # pragma: no mutate (up or down: >= and is alike)
        return f"{value}>={target}", f"{value}>={target}-{tolerance}*ABS({target})"
    return f"{value}<={target}", f"{value}<={target}+{tolerance}*ABS({target})"


# --- the KPI sheet -------------------------------------------------------------------------------------


class _KpiSheet:
    def __init__(self, config: Config, layout: Layout, sheet: Worksheet, refs: _Refs,
                 results: Mapping[str, Mapping[Month, KpiMonth]],
                 shares: Mapping[str, Mapping[Month, float | None]] | None = None) -> None:
        self.config, self.layout, self.sheet, self.refs, self.results = config, layout, sheet, refs, results
        self.shares = shares or {}  # the yearly and quarterly targets' shares of each month (_shares)

    def write(self, targets: Targets, tolerances: Tolerances) -> None:
        self.targets, self.tolerances = targets, tolerances
        config, layout, sheet, locale = self.config, self.layout, self.sheet, self.config.locale
        _title(sheet, f"{text('kpis.title', locale)} — {config.title}", text("kpis.hint", locale))
        after = layout.last_column + 1
        layout.tolerance_column = after
        headers = {1: "col.kpi", 2: "col.figure", 3: "col.direction", after: "col.tolerance", after + 1: "col.owner",
                   after + 2: "col.domain", after + 3: "col.frequency", after + 4: "col.definition",
                   after + 5: "col.formula"}
        for column, key in headers.items():
            _header(sheet, HEADER_ROW, column, text(key, locale))
        _month_headers(sheet, layout, locale)
        groups: dict[str, list[Kpi]] = {}
        for kpi in config.kpis.values():
            groups.setdefault(kpi.domain, []).append(kpi)
        row = HEADER_ROW + 1
        for members in groups.values():  # place every block first: formulas refer to later ones
            row += 1
            for kpi in members:
                layout.kpi_rows[kpi.id] = row
                row += len(BLOCK_ROWS)
        # typing 12 for 12 % in a target or tolerance cell: refused, as in the input cells
        self.validations = {"target": _checked_cells(locale, "target_percent", "-1", "1"),
                            "tolerance": _checked_cells(locale, "tolerance", "0", "1")}
        row = HEADER_ROW + 1
        for domain, members in groups.items():
            for column in range(1, after + 6):
                sheet.cell(row, column).fill = SECTION_FILL
            _put(sheet, row, 1, domain, font=SECTION_FONT, fill=SECTION_FILL)
            row += 1
            for kpi in members:
                self._block(kpi)
                row += len(BLOCK_ROWS)
        widths = {1: max([len(k.label) for k in config.kpis.values()] + [20]) + 2, 2: 20, 3: 14, after: 10,
                  after + 1: 18, after + 2: 22, after + 3: 13, after + 4: 60, after + 5: 40}
        for column, width in widths.items():
            sheet.column_dimensions[get_column_letter(column)].width = min(width, 60)
        for validation in self.validations.values():
            if validation.sqref:
                sheet.add_data_validation(validation)
        # the figures and the tolerance are printed; the descriptive columns after them are for the screen
        _finish_sheet(sheet, layout, row - 1, after)

    def _block(self, kpi: Kpi) -> None:
        config, layout, sheet, locale = self.config, self.layout, self.sheet, self.config.locale
        top = layout.kpi_rows[kpi.id]
        rows = {name: top + i for i, name in enumerate(BLOCK_ROWS)}
        number_format = _kpi_number_format(config, kpi)
        ytd = ytd_tree(config, kpi.id)
        _put(sheet, top, 1, kpi.label, font=BOLD, alignment=WRAP_TOP)
        for name, row in rows.items():
            _put(sheet, row, 2, text(f"row.{name}", locale), font=MAIN_ROW_LABEL if name == "value" else ROW_LABEL)
        _put(sheet, top, 3, text(f"direction.{kpi.direction}", locale), font=TINY_GREY, alignment=WRAP)
        for month in layout.months:
            column = layout.column(month)
            assert column is not None
            letter = get_column_letter(column)
            value, target = f"{letter}{rows['value']}", f"{letter}{rows['target']}"
            result = self.results[kpi.id][month]  # the engine on the sheet's data: what each formula gives
            _formula(sheet, rows["value"], column, self._excel(kpi, kpi.formula.tree, month), number_format,
                     result.value)
            typed = self.targets.get(kpi.id, {})
            target_value = typed[month] if month in typed else written_target(kpi, month, self.shares)
            _put(sheet, rows["target"], column, target_value, number_format=number_format,
                 protection=UNLOCKED, fill=INPUT_FILL if month >= layout.period[0] else HISTORY_FILL, border=BOX)
            ratio = f"{value}/{target}"  # engine.attainment_of: a target of 0 is #DIV/0!, shown empty
            sides = (ratio, f"2-{ratio}") if kpi.direction == "up" else (f"2-{ratio}", ratio)
            attained = f"IF({target}>0,{sides[0]},{sides[1]})"
            _formula(sheet, rows["attainment"], column, f'=IF(COUNT({value},{target})<2,"",IFERROR({attained},""))',
                     "0%", attainment_of(result.value, target_value, kpi.direction))
            previous = layout.letter(month - 1)
            change = '=""'
            if previous is not None:
                before = f"{previous}{rows['value']}"
                difference = (f"({value}-{before})*100" if kpi.format == "percent"  # a rate: in points
                              else f"({value}-{before})/ABS({before})")
                change = f'=IF(COUNT({before},{value})<2,"",IFERROR({difference},""))'
            _formula(sheet, rows["change_mom"], column, change, change_number_format(kpi),
                     result.change_mom_pts if kpi.format == "percent" else result.change_mom)
            _formula(sheet, rows["ytd"], column, self._ytd(kpi, ytd, month, rows["value"]), number_format, result.ytd)
        self._status_colours(kpi, rows)
        first, last = get_column_letter(FIRST_MONTH_COLUMN), get_column_letter(layout.last_column)
        if percent_bounded(kpi):
            self.validations["target"].add(f"{first}{rows['target']}:{last}{rows['target']}")
        after = layout.tolerance_column
        self.validations["tolerance"].add(f"{get_column_letter(after)}{top}")
        _put(sheet, top, after, self.tolerances.get(kpi.id, kpi.tolerance), number_format="0%", protection=UNLOCKED,
             fill=INPUT_FILL, border=BOX)
        owner = config.owners[kpi.owner].name if kpi.owner else ""
        frequency = text(f"frequency.{kpi.frequency}", locale)
        for offset, value in enumerate((owner, kpi.domain, frequency, kpi.definition or "", kpi.formula.text), 1):
            _put(sheet, top, after + offset, value, alignment=WRAP_TOP, font=SMALL)
        sheet.row_dimensions.group(rows["attainment"], rows["ytd"], outline_level=1, hidden=False)

    def _excel(self, kpi: Kpi, tree, month: Month) -> str:  # type: ignore[no-untyped-def]
        formula = to_excel(tree, month, self.refs)
        if len(formula) > EXCEL_FORMULA_CHARS:
            raise ConfigError(f"written for Excel, this formula takes {len(formula)} characters: more than "
                              f"Excel's {EXCEL_FORMULA_CHARS}", file=str(self.config.path),
                              key=f"kpis.{kpi.id}.formula",
                              hint="split it: one KPI can use another KPI by its id (avg() and ytd() of a "
                                   "name, not of a calculation, take one range)")
        return formula

    def _ytd(self, kpi: Kpi, tree, month: Month, value_row: int) -> str:  # type: ignore[no-untyped-def]
        if tree is not None:
            return self._excel(kpi, tree, month)
        if already_year_to_date(self.config, kpi.id):
            return '=""'
        start, end = self.layout.letter(month.january), self.layout.letter(month)
        if start is None or end is None:
            return '=""'
        span = f"{start}{value_row}:{end}{value_row}"
        return f'=IF(COUNT({span})<{month.month},"",AVERAGE({span}))'

    def _status_colours(self, kpi: Kpi, rows: dict[str, int]) -> None:
        """On / watch / off against the target below, the right way round; blanks stay neutral."""
        layout, sheet = self.layout, self.sheet
        first, last = get_column_letter(FIRST_MONTH_COLUMN), get_column_letter(layout.last_column)
        value, target = f"{first}{rows['value']}", f"{first}{rows['target']}"
        tolerance = f"${get_column_letter(layout.tolerance_column)}${rows['value']}"
        both = f"ISNUMBER({value}),ISNUMBER({target})"
        on, watch = status_band(kpi.direction, value, target, tolerance)
        span = f"{first}{rows['value']}:{last}{rows['value']}"
        for status, condition in (("on", f"AND({both},{on})"), ("watch", f"AND({both},{watch})"),
                                  ("off", f"AND({both})")):
            fill, font = STATUS_STYLE[status]
            sheet.conditional_formatting.add(span, FormulaRule(
                formula=[condition], stopIfTrue=True, fill=PatternFill("solid", fgColor=fill, bgColor=fill),
                font=Font(color=font)))
        change_colours(sheet, f"{first}{rows['change_mom']}:{last}{rows['change_mom']}", kpi.direction)


def change_colours(sheet: Worksheet, span: str, direction: str) -> None:
    """A change is green when it is good news: a rise where higher is better, a fall where lower is."""
    change = span.split(":")[0]
    good, bad = (">", "<") if direction == "up" else ("<", ">")  # pragma: no mutate (up or down: >=, is alike)
    for sign, status in ((good, "on"), (bad, "off")):
        sheet.conditional_formatting.add(span, FormulaRule(
            formula=[f"AND(ISNUMBER({change}),{change}{sign}0)"], font=Font(color=STATUS_STYLE[status][1])))


# --- the dashboard ------------------------------------------------------------------------------------


class _Dashboard:
    TABLE_ROW = 10

    def __init__(self, config: Config, layout: Layout, sheet: Worksheet, kpis: Worksheet,
                 values: Values, chart_data: Worksheet, held_back: Collection[Month]) -> None:
        self.config, self.layout, self.sheet, self.kpis, self.values = config, layout, sheet, kpis, values
        self.chart_data, self.held_back = chart_data, held_back

    def shown_month(self) -> Month:
        """The last month of the period with any input value that is not held back (the month a review is of by
        default), else the last held back one, else the first month."""
        period = set(self.layout.period)
        filled = {m for series in self.values.values() for m in series if m in period}
        return max(filled - set(self.held_back), default=max(filled, default=self.layout.period[0]))

    def write(self) -> None:
        config, sheet, locale = self.config, self.sheet, self.config.locale
        _title(sheet, f"{text('dashboard.title', locale)} — {config.title}", config.company or "")
        _put(sheet, 3, 1, text("dashboard.month", locale), font=Font(bold=True))
        _put(sheet, 3, 2, self.shown_month().first_day, number_format=month_header_format(locale),
             protection=UNLOCKED, fill=INPUT_FILL, border=BOX, font=Font(bold=True, size=12))
        self._picker()
        table = self._table()
        self._summary(table)
        self._charts(table)
        owners = max([len(owner.name) for owner in config.owners.values()] + [14]) + 2  # a name, or a role
        for column, width in {1: max([len(k.label) for k in config.kpis.values()] + [24]) + 2, 2: owners, 3: 14,
                              4: 14, 5: 12, 6: 13, 7: 16, 8: 20}.items():
            sheet.column_dimensions[get_column_letter(column)].width = min(width, 50)
        _print_setup(sheet)
        _protect(sheet)

    def _picker(self) -> None:
        """B3 picks the month: the list offers the period's months, and any date typed picks its month
        (the lookups match its month's first day). A list validation refuses whatever is not in the
        list, a mid-month date included, so it warns about nothing; C3 says when B3 is not a date of
        the period (also what a paste, which skips validation, may leave there)."""
        layout, sheet, locale = self.layout, self.sheet, self.config.locale
        first, last = layout.period[0], layout.period[-1]
        start, end = layout.letter(first), layout.letter(last)
        inputs = quote_sheetname(text("sheet.inputs", locale))
        choice = DataValidation(type="list", formula1=f"{inputs}!${start}${HEADER_ROW}:${end}${HEADER_ROW}",
                                allow_blank=False, showErrorMessage=False)
        choice.add("B3")
        sheet.add_data_validation(choice)
        after = last + 1
        inside = (f"AND(ISNUMBER($B$3),$B$3>=DATE({first.year},{first.month},1),"
                  f"$B$3<DATE({after.year},{after.month},1))")
        hint = text("dashboard.month_hint", locale)
        outside = text("dashboard.month_outside", locale, first=_month_name(first, locale),
                       last=_month_name(last, locale))
        formula = f'=IF({inside},"{hint.replace(chr(34), chr(34) * 2)}","{outside.replace(chr(34), chr(34) * 2)}")'
        _formula(sheet, 3, 3, formula, "@", hint).font = Font(italic=True, color="808080")  # B3: a period month
        sheet.conditional_formatting.add("C3", FormulaRule(formula=[f"NOT({inside})"],
                                                           font=Font(color=STATUS_STYLE["off"][1], bold=True)))

    def _summary(self, table: tuple[int, int]) -> None:
        sheet, locale = self.sheet, self.config.locale
        _put(sheet, 5, 1, text("dashboard.summary", locale), font=Font(bold=True, size=12, color="1F4E78"))
        first, last = table
        statuses = f"$G${first}:$G${last}"
        for index, status in enumerate(("on", "watch", "off", "no_data")):
            fill, font = STATUS_STYLE[status]
            column = 2 + index * 2
            _put(sheet, 6, column, text(f"status.{status}", locale), font=Font(bold=True, color=font),
                 fill=PatternFill("solid", fgColor=fill), alignment=Alignment(horizontal="center"), border=BOX)
            label = text(f"status.{status}", locale).replace('"', '""')
            count = sum(1 for word in self.status_words if word == text(f"status.{status}", locale))
            _formula(sheet, 7, column, f'=COUNTIF({statuses},"{label}")', "0", count).font = Font(
                bold=True, size=14, color=font)
            sheet.cell(7, column).alignment = Alignment(horizontal="center")

    def _table(self) -> tuple[int, int]:
        config, sheet, locale, layout = self.config, self.sheet, self.config.locale, self.layout
        _put(sheet, self.TABLE_ROW - 1, 1, text("dashboard.table", locale), font=Font(bold=True, size=12,
                                                                                      color="1F4E78"))
        for column, key in enumerate(("col.kpi", "col.owner", "col.value", "col.target", "col.attainment",
                                      "col.change_mom", "col.status"), 1):
            _header(sheet, self.TABLE_ROW, column, text(key, locale))
        kpi_sheet = quote_sheetname(self.kpis.title)
        row = self.TABLE_ROW
        shown = layout.column(self.shown_month())
        assert shown is not None
        self.status_words = []
        picked = "DATE(YEAR($B$3),MONTH($B$3),1)"  # any day typed in B3 picks its month
        for kpi in config.kpis.values():
            row += 1
            top = layout.kpi_rows[kpi.id]
            number_format = _kpi_number_format(config, kpi)
            _put(sheet, row, 1, kpi.label, border=BOX)
            _put(sheet, row, 2, config.owners[kpi.owner].name if kpi.owner else "", border=BOX)
            first, last = get_column_letter(FIRST_MONTH_COLUMN), get_column_letter(layout.last_column)
            found_values = []
            for column, offset, fmt in ((3, 0, number_format), (4, 1, number_format), (5, 2, "0%"),
                                        (6, 3, change_number_format(kpi))):
                found = f"INDEX({kpi_sheet}!${first}${top + offset}:${last}${top + offset},1,MATCH({picked},months,0))"
                value = _number(cached.cached(self.kpis, top + offset, shown))  # the shown month's cell
                found_values.append(value)
                _formula(sheet, row, column, f'=IFERROR(IF(ISNUMBER({found}),{found},""),"")', fmt,
                         value).border = BOX
            tolerance_cell = get_column_letter(layout.tolerance_column)
            tolerance = f"{kpi_sheet}!${tolerance_cell}${top}"
            status = status_of(found_values[0], found_values[1], kpi.direction,
                               _number(self.kpis.cell(top, layout.tolerance_column).value) or 0.0)
            self.status_words.append(text(f"status.{status.value}", locale))
            _formula(sheet, row, 7, self._status_formula(kpi, row, tolerance), "@", self.status_words[-1]).border = BOX
        last_row = row
        runs: list[list] = []  # rows of the same direction in a row: one pair of change colours each
        for table_row, kpi in enumerate(config.kpis.values(), self.TABLE_ROW + 1):
            if runs and runs[-1][0] == kpi.direction:
                runs[-1][2] = table_row
            else:
                runs.append([kpi.direction, table_row, table_row])
        for direction, first_row, end in runs:
            change_colours(sheet, f"F{first_row}:F{end}", direction)
        for status, (fill, font) in STATUS_STYLE.items():
            label = text(f"status.{status}", locale).replace('"', '""')
            sheet.conditional_formatting.add(f"G{self.TABLE_ROW + 1}:G{last_row}", FormulaRule(
                formula=[f'G{self.TABLE_ROW + 1}="{label}"'], fill=PatternFill("solid", fgColor=fill, bgColor=fill),
                font=Font(color=font, bold=True)))
            sheet.conditional_formatting.add(f"C{self.TABLE_ROW + 1}:C{last_row}", FormulaRule(
                formula=[f'$G{self.TABLE_ROW + 1}="{label}"'], fill=PatternFill("solid", fgColor=fill, bgColor=fill),
                font=Font(color=font)))
        return self.TABLE_ROW + 1, last_row

    def _status_formula(self, kpi: Kpi, row: int, tolerance: str) -> str:
        """The status in words, from the value in C and the target in D, as the engine decides it."""
        words = {key: text(f"status.{key}", self.config.locale).replace('"', '""')
                 for key in (*STATUS_STYLE, "no_target")}
        on, watch = status_band(kpi.direction, f"C{row}", f"D{row}", tolerance)
        return (f'=IF(NOT(ISNUMBER(C{row})),"{words["no_data"]}",IF(NOT(ISNUMBER(D{row})),'
                f'"{words["no_target"]}",IF({on},"{words["on"]}",IF({watch},"{words["watch"]}",'
                f'"{words["off"]}"))))')

    def _plotted_rows(self, chosen: list[str]) -> dict[str, int]:
        """Charts draw "" as 0, so they read a hidden copy of each row where no value is #N/A (a gap)."""
        data, layout = self.chart_data, self.layout
        data.sheet_state = "hidden"
        kpi_sheet = quote_sheetname(self.kpis.title)
        rows = {}
        for month in layout.period:
            column = layout.column(month)
            assert column is not None
            data.cell(1, column, month.first_day).number_format = "yyyy-mm-dd"
        for index, kpi_id in enumerate(chosen):
            rows[kpi_id] = 2 + index * 2
            for offset in (0, 1):
                source_row = layout.kpi_rows[kpi_id] + offset
                for month in layout.period:
                    column = layout.column(month)
                    assert column is not None
                    source = f"{kpi_sheet}!{get_column_letter(column)}{source_row}"
                    formula = f"=IF(ISNUMBER({source}),{source},NA())"
                    plotted = _number(cached.cached(self.kpis, source_row, column))
                    cached.remember(data, rows[kpi_id] + offset, column, formula,
                                    cached.NA if plotted is None else plotted)
                    _formula_cell(data, rows[kpi_id] + offset, column, formula)
        _protect(data)
        return rows

    def _charts(self, table: tuple[int, int]) -> None:
        config, layout, sheet, locale = self.config, self.layout, self.sheet, self.config.locale
        chosen = config.charts or list(config.kpis)[:MAX_CHARTS]
        plotted = self._plotted_rows(chosen)
        row = table[1] + 3
        _put(sheet, row - 1, 1, text("dashboard.charts", locale), font=Font(bold=True, size=12, color="1F4E78"))
        first = layout.column(layout.period[0])
        assert first is not None
        months = Reference(self.chart_data, min_col=first, max_col=layout.last_column, min_row=1)
        axis_format = month_header_format(locale).replace("yyyy", "yy")
        for index, kpi_id in enumerate(chosen):
            kpi = config.kpis[kpi_id]
            top = plotted[kpi_id]
            chart = LineChart()
            # the helper cells hold NA() for a month without value: Excel draws no point there; LibreOffice
            # drew them as 0 unless blanks "span" (it joins the points around; Excel's #N/A is unchanged)
            chart.display_blanks = "span"
            chart.title = kpi.label
            chart.height, chart.width = 7, 16
            chart.legend.position = "b"
            chart.y_axis.number_format = _kpi_number_format(config, kpi)
            chart.x_axis.number_format = axis_format
            chart.x_axis.delete = False  # openpyxl 3.1 hides axes unless told otherwise
            chart.y_axis.delete = False
            for offset, key, colour, dash in ((0, "row.value", "1F4E78", None), (1, "row.target", "C55A11", "dash")):
                values = Reference(self.chart_data, min_col=first, max_col=layout.last_column, min_row=top + offset)
                series = Series(values, title=text(key, locale))
                series.graphicalProperties.line.solidFill = colour
                series.graphicalProperties.line.width = 28575 if offset == 0 else 19050
                if dash:
                    series.graphicalProperties.line.dashStyle = dash
                    series.marker.symbol = "none"
                else:
                    series.marker.symbol = "circle"
                    series.marker.size = 5
                    series.marker.graphicalProperties.solidFill = colour
                    series.marker.graphicalProperties.line.solidFill = colour
                series.smooth = False
                chart.series.append(series)
            chart.set_categories(months)
            anchor_column = 1 if index % 2 == 0 else 5
            sheet.add_chart(chart, f"{get_column_letter(anchor_column)}{row + (index // 2) * CHART_ROWS}")
        # printed, the charts start on a page of their own, two rows of charts a page, never cut across
        # two. Two rows take 30 rows, 15.9 cm; an A4 landscape page is 15.9 cm high within its margins
        # at 100 %, and fitting two charts side by side (29.5 cm at least, with the columns before the
        # second one) to its 25.9 cm width prints at 88 % or less: a page holds 18 cm of the sheet
        sheet.row_breaks.append(Break(id=row - 2))
        for pair in range(CHARTS_A_PAGE, len(chosen), CHARTS_A_PAGE):
            sheet.row_breaks.append(Break(id=row + (pair // 2) * CHART_ROWS - 1))


# --- the start sheet ------------------------------------------------------------------------------------


class _StartSheet:
    """How to use the workbook, the colour legend, who tracks what. Published (a template offered to
    anyone), it gives no command to run and no one's name or address: roles only. Stamped (one
    owner's workbook), it says whose it is and which version."""

    STEPS = ("start.step1", "start.step2", "start.step3", "start.step4", "start.step5", "start.step6")
    PUBLISHED_STEPS = (*STEPS[:4], "start.published.step5", "start.published.step6", "start.published.step7")

    def __init__(self, config: Config, layout: Layout, sheet: Worksheet, file_name: str,
                 published: bool = False, stamp: Stamp | None = None) -> None:
        self.config, self.layout, self.sheet, self.file_name = config, layout, sheet, file_name
        self.published, self.stamp = published, stamp

    def write(self) -> None:
        config, sheet, locale = self.config, self.sheet, self.config.locale
        first, last = self.layout.period[0], self.layout.period[-1]
        colour = config.colour.lstrip("#").upper()  # the company's, as on the review's cover
        _put(sheet, 1, 1, config.title, font=Font(bold=True, size=20, color=colour))
        subtitle = text("start.period", locale, first=_month_name(first, locale), last=_month_name(last, locale))
        _put(sheet, 2, 1, f"{config.company} — {subtitle}" if config.company else subtitle,
             font=Font(italic=True, size=12, color="595959"))
        if self.stamp is not None:  # whose workbook, and the version it is: what a merge checks
            stamp = self.stamp
            _put(sheet, 3, 1, text("start.stamp", locale, name=config.owners[stamp.owner].name, owner=stamp.owner,
                                   config=stamp.config, first=stamp.first, last=stamp.last,
                                   generated=f"{stamp.generated:%Y-%m-%d %H:%M}"), font=SMALL_GREY)
        heading = Font(bold=True, size=13, color=colour)
        widths = {1: 34, 2: 70, 3: 30, 4: 30} if self.published else {1: 34, 2: 34, 3: 30, 4: 70}
        for column, width in widths.items():
            sheet.column_dimensions[get_column_letter(column)].width = width
        _put(sheet, 4, 1, text("start.how", locale), font=heading)
        row = 5
        commands = {} if self.published else self.commands()
        for key in self.PUBLISHED_STEPS if self.published else self.STEPS:
            self._paragraph(row, text(key, locale), sum(widths.values()))
            row += 1
            if key in commands:  # a cell of its own, to copy and paste as it is (a test runs them)
                _put(sheet, row, 1, commands[key], font=Font(name="Courier New", size=10, color="1F4E78"))
                row += 1
        protected = "start.published.protected" if self.published else "start.protected"
        self._paragraph(row, text(protected, locale), sum(widths.values()), font=Font(italic=True, color="595959"))
        row += 2
        _put(sheet, row, 1, text("start.legend", locale), font=heading)
        legend = [(STATUS_STYLE[s], text(f"status.{s}", locale), text(f"start.legend.{s}", locale))
                  for s in ("on", "watch", "off", "no_data")]
        legend.append((("FFF2CC", "000000"), "123", text("start.legend.input", locale)))
        for offset, ((fill, font), word, meaning) in enumerate(legend, 1):
            _put(sheet, row + offset, 1, f"   {word}   ", fill=PatternFill("solid", fgColor=fill),
                 font=Font(bold=True, color=font), border=BOX)
            _put(sheet, row + offset, 2, meaning)
        row += len(legend) + 3
        _put(sheet, row, 1, text("start.owners", locale), font=heading)
        columns = ("col.role", "col.kpis_owned") if self.published else ("col.owner", "col.role", "col.email",
                                                                          "col.kpis_owned")
        for column, key in enumerate(columns, 1):
            _header(sheet, row + 1, column, text(key, locale))
        row += 1
        for owner in config.owners.values():
            row += 1
            owned = ", ".join(kpi.label for kpi in config.kpis.values() if kpi.owner == owner.id)
            cells = (owner.role or "", owned) if self.published else (owner.name, owner.role or "",
                                                                      owner.email or "", owned)
            for column, value in enumerate(cells, 1):
                _put(sheet, row, column, value, border=BOX, alignment=WRAP_TOP)
            sheet.row_dimensions[row].height = wrapped_height(cells, [widths[c] for c in range(1, len(cells) + 1)])
        sheet.sheet_view.showGridLines = False
        _print_setup(sheet)
        _protect(sheet)

    def _paragraph(self, row: int, words: str, width: float, **style: object) -> None:
        """A line of text across the table's four columns, wrapped, its row as tall as its lines (no
        spreadsheet grows a merged row by itself): it prints within the page's width."""
        _put(self.sheet, row, 1, words, alignment=WRAP_TOP, **style)
        self.sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=4)
        self.sheet.row_dimensions[row].height = LINE_POINTS * wrapped_lines(words, width)

    def commands(self) -> dict[str, str]:
        """The commands the steps give, with this workbook's and this config's file names (run from
        the config's folder, where the workbook is expected to be)."""
        config, workbook = shlex.quote(self.config.path.name), shlex.quote(self.file_name)
        if self.stamp is not None:  # one owner's workbook: the review reads the whole team's
            data = " ".join(f"--data {shlex.quote(name)}" for name in self.stamp.files)
            return {"start.step5": f"kpireport report {config} {data}",
                    "start.step6": f"kpireport template {config} --per owner -o {shlex.quote(self.stamp.output)} "
                                   "--update"}
        return {"start.step5": f"kpireport report {config} --data {workbook}",
                "start.step6": f"kpireport template {config} -o {workbook} --update"}


LINE_POINTS = 15  # a line of 11-point text, as spreadsheets lay it out


def wrapped_height(texts: Sequence[str], widths: Sequence[float]) -> float:
    """The height in points of a row whose cells wrap `texts` in columns `widths` characters wide.
    LibreOffice keeps the height a row has in the file, even for wrapped text, so it is set."""
    return LINE_POINTS * max(wrapped_lines(text, width) for text, width in zip(texts, widths, strict=True))


def wrapped_lines(text: str, width: float, size: float = 11) -> int:
    """The lines `text` takes wrapped at word boundaries, in `size`-point type: one character of the
    column's width (that of an 11-point digit, wider than most letters) per 11-point character, less
    one for the cell's margins."""
    room = max(1, int(width * 11 / size) - 1)
    lines = 0
    for paragraph in text.split("\n"):
        lines += 1
        used = 0
        for word in paragraph.split():
            if used and used + 1 + len(word) > room:
                lines += 1
                used = 0
            used += (1 if used else 0) + len(word)
            while used > room:  # a word longer than the line breaks inside it
                lines += 1
                used -= room
    return lines


def _month_name(month: Month, locale: str) -> str:
    from babel.dates import format_date

    return format_date(month.first_day, "LLLL yyyy", locale="fr_FR" if locale == "fr" else "en_GB")


# --- defined names ---------------------------------------------------------------------------------------


def _define_names(workbook: Workbook, config: Config, layout: Layout, inputs: Worksheet, kpis: Worksheet) -> None:
    first, last = get_column_letter(FIRST_MONTH_COLUMN), get_column_letter(layout.last_column)

    def name(key: str, sheet: Worksheet, reference: str) -> None:
        workbook.defined_names[key] = DefinedName(key, attr_text=f"{quote_sheetname(sheet.title)}!{reference}")

    name("months", inputs, f"${first}${HEADER_ROW}:${last}${HEADER_ROW}")
    for input_id, row in layout.input_rows.items():
        name(f"in_{input_id}", inputs, f"${first}${row}:${last}${row}")
    for input_id, row in layout.note_rows.items():
        name(f"note_{input_id}", inputs, f"${first}${row}:${last}${row}")
    for input_id, row in layout.weight_rows.items():
        name(f"rows_{input_id}", inputs, f"${first}${row}:${last}${row}")
    for kpi_id, row in layout.kpi_rows.items():
        name(f"kpi_{kpi_id}", kpis, f"${first}${row}:${last}${row}")
        name(f"target_{kpi_id}", kpis, f"${first}${row + 1}:${last}${row + 1}")
        tolerance = get_column_letter(layout.tolerance_column)
        name(f"tol_{kpi_id}", kpis, f"${tolerance}${row}")


def written_target(kpi: Kpi, month: Month, shares: Mapping[str, Mapping[Month, float | None]]) -> float | None:
    """The target kpireport writes for a month: the config's, or a yearly or quarterly target's share."""
    return shares[kpi.id].get(month) if kpi.target.period is not None else kpi.target.for_month(month)


def _record(workbook: Workbook, config: Config, layout: Layout, sheet: Worksheet,
            shares: Mapping[str, Mapping[Month, float | None]]) -> None:
    """What kpireport writes in each target and tolerance cell (the config's), on a hidden sheet: a
    cell that differs from it was typed by a person, one that equals it while the config changed
    since was not."""
    sheet.sheet_state = "hidden"
    first, last = get_column_letter(FIRST_MONTH_COLUMN), get_column_letter(layout.last_column)
    tolerance = get_column_letter(layout.last_column + 1)
    for row, kpi in enumerate(config.kpis.values(), start=2):
        sheet.cell(row, 1, kpi.id)
        for month in layout.months:
            sheet.cell(row, layout.column(month), written_target(kpi, month, shares))  # type: ignore[arg-type]
        sheet.cell(row, layout.last_column + 1, kpi.tolerance)
        reference = f"{quote_sheetname(sheet.title)}!"
        workbook.defined_names[f"wrote_target_{kpi.id}"] = DefinedName(
            f"wrote_target_{kpi.id}", attr_text=f"{reference}${first}${row}:${last}${row}")
        workbook.defined_names[f"wrote_tol_{kpi.id}"] = DefinedName(
            f"wrote_tol_{kpi.id}", attr_text=f"{reference}${tolerance}${row}")
    _protect(sheet)


def template_period(year: int | None = None, start: Month | None = None, months: int = 12,
                    last_data: Month | None = None) -> list[Month]:
    """`--year`, or `--from` and `--months`; by default the year of the last data, else this year."""
    if start is None:
        if year is None:
            year = last_data.year if last_data else dt.date.today().year
        start = Month(year, 1)
    return month_range(start, start + (months - 1))
