"""Data files: every format (CSV/TSV, XLSX, Parquet, the filled template), layout, date style, number
style and encoding, daily rows rolled up to months, and every problem located as file:row:column with
a fix. Fixture files are written here by the tests (XLSX with openpyxl), never edited by hand."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import polars as pl
import pytest
from openpyxl import Workbook, load_workbook

from kpireport.cell_reader import SKIPPED_SHOWN
from kpireport.config import load_config
from kpireport.engine import compute
from kpireport.errors import DataError
from kpireport.export import to_csv
from kpireport.months import Month
from kpireport.presets import write_project
from kpireport.sources import MonthlyData, load_data, parse_date, parse_number, sources_with
from kpireport.template import named_cells, write_template
from kpireport.workbook import template_period

from .libreoffice import recalculate

JAN, FEB, MAR = Month(2026, 1), Month(2026, 2), Month(2026, 3)

CONFIG = """\
title: Test
inputs:
  visits: {aggregate: sum}
  subscribers: {aggregate: last}
  nps: {aggregate: mean}
  tickets: {aggregate: count}
  revenue: {aggregate: sum, format: currency}
  best_day: {aggregate: max}
  worst_day: {aggregate: min}
kpis:
  k: {formula: visits + subscribers + nps + tickets + revenue + best_day + worst_day}
sources:
  - {path: web.csv, layout: wide, date: date, columns: {Sessions: visits}}
  - {path: crm.csv, layout: long, date: day, name: metric, value: amount, filter: {channel: [email, web]}}
"""


def project(tmp_path: Path, web: str = "date,Sessions\n", crm: str = "day,metric,amount,channel\n",
            config: str = CONFIG):
    (tmp_path / "kpireport.yaml").write_text(textwrap.dedent(config), encoding="utf-8")
    (tmp_path / "web.csv").write_text(textwrap.dedent(web), encoding="utf-8")
    (tmp_path / "crm.csv").write_text(textwrap.dedent(crm), encoding="utf-8")
    return load_config(tmp_path / "kpireport.yaml")


def one_source(tmp_path: Path, source: str, inputs: str = "visits: {aggregate: sum}"):
    """A config with the given inputs and a single source (a YAML flow mapping)."""
    (tmp_path / "kpireport.yaml").write_text(
        f"title: T\ninputs:\n  {inputs}\nkpis:\n  k: {{formula: visits}}\nsources:\n  - {source}\n", encoding="utf-8")
    return load_config(tmp_path / "kpireport.yaml")


def error_of(config, *args, **kwargs) -> DataError:  # type: ignore[no-untyped-def]
    with pytest.raises(DataError) as caught:
        load_data(config, *args, **kwargs)
    return caught.value


def xlsx(path: Path, rows: list[list[object]], sheet: str = "Sheet1", others: tuple[str, ...] = ()) -> Path:
    workbook = Workbook()
    workbook.active.title = sheet
    for row in rows:
        workbook.active.append(row)
    for name in others:
        workbook.create_sheet(name).append(["date", "visits"])
    workbook.save(path)
    return path


def test_the_old_names_still_parse_one_text() -> None:
    assert parse_number("1 234,5") == 1234.5
    assert parse_date("14/03/2026") == dt.date(2026, 3, 14)


# --- aggregation to months --------------------------------------------------------------------------


def test_the_default_month_waits_for_every_file_still_delivering() -> None:
    """A file with a value in the month before and none in the month is behind, unless another file gives its inputs
    that month (a workbook pre-filled from the export); a file that stopped earlier holds nothing back."""
    data = MonthlyData()
    sep, oct_, nov, dec = (Month(2026, m) for m in (9, 10, 11, 12))
    for month in (sep, oct_, nov):
        data.add("revenue", month, 1.0, "crm.csv")
    for month in (sep, oct_):
        data.add("visits", month, 1.0, "daily.csv")
    data.add("opens", oct_, 1.0, "old.csv")  # stopped after October, like daily.csv
    assert data.behind(nov) == ["daily.csv", "old.csv"]
    assert data.last_complete_month() == oct_
    assert data.held_back() == [nov]
    data.add("visits", nov, 1.0, "workbook.xlsx")  # visits for November, from another file
    data.add("opens", nov, 1.0, "workbook.xlsx")
    assert data.behind(nov) == []
    assert data.last_complete_month() == nov
    for input_id in ("revenue", "visits", "opens"):
        data.add(input_id, dec, 1.0, "crm.csv")
    data.add("extra", oct_, 1.0, "stopped.csv")  # nothing since October: no longer delivering by December
    assert data.last_complete_month() == dec
    assert data.last_complete_month(until=oct_) == oct_
    assert data.held_back(until=oct_) == [nov, dec]


def test_daily_wide_rows_roll_up_with_each_aggregate(tmp_path: Path) -> None:
    config = project(tmp_path, """\
        date,Sessions,subscribers,nps,tickets,best_day,worst_day
        2026-01-31,10,110,40,x,5,5
        2026-01-01,20,100,20,,9,2
        2026-01-15,30,105,30,y,7,
        2026-02-01,5,120,,z,1,1
        2026-03-02,,,,,,
        """)
    data = load_data(config)
    values = data.values
    assert values["visits"] == {JAN: 60, FEB: 5}  # renamed column, summed; March's empty row: no value
    assert values["subscribers"][JAN] == 110  # the latest day, whatever the row order
    assert values["nps"][JAN] == 30  # mean
    assert values["tickets"] == {JAN: 2, FEB: 1}  # rows with a value, text included
    assert values["best_day"][JAN] == 9
    assert values["worst_day"][JAN] == 2  # an empty cell is no value, not 0
    assert FEB not in values["nps"]  # no value that month: no value, not 0
    assert not any(MAR in series for series in values.values())


def test_last_is_the_latest_day_with_a_value_and_the_lowest_row_on_that_day(tmp_path: Path) -> None:
    config = project(tmp_path, """\
        date,subscribers,Sessions
        2026-01-20,300,
        2026-01-31 08:00,310,
        2026-01-31 18:00,315,
        2026-01-10,200,
        2026-02-28,,
        2026-02-03,400,
        """)
    assert load_data(config).values["subscribers"] == {JAN: 315, FEB: 400}


def test_weekly_rows_fall_in_the_month_of_their_date(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Sessions\n2026-01-26,7\n2026-02-02,8\n2026-02-09,9\n")
    assert load_data(config).values["visits"] == {JAN: 7, FEB: 17}


def test_months_written_yyyy_mm_and_monthly_rows(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Sessions\n2026-01,7\n2026-02,8\n")
    assert load_data(config).values["visits"] == {JAN: 7, FEB: 8}


@pytest.mark.parametrize("day", ["2026-02-14", "14/02/2026", "2026-02", "2026-02-14 09:30:00", "2026-02-14T23:59:59Z",
                                 "46067", "14.02.2026", "20260214"])
def test_every_date_style_in_a_file(tmp_path: Path, day: str) -> None:
    config = project(tmp_path, f"date,Sessions\n{day},3\n")
    assert load_data(config).values["visits"] == {FEB: 3}


@pytest.mark.parametrize(("cell", "value"), [
    ("12,5", 12.5), ('"1 234"', 1234), ("1\u00a0234", 1234), ('"1,234.5"', 1234.5), ("12,5 %", 0.125),
    ("1 200 €", 1200), ("", None), ("n/a", None), ("-", None),
])
def test_every_number_style_in_a_file(tmp_path: Path, cell: str, value: float | None) -> None:
    rate = CONFIG.replace("visits: {aggregate: sum}", "visits: {aggregate: sum, format: percent}")
    config = project(tmp_path, f"date;Sessions\n2026-01-05;{cell}\n", config=rate if "%" in cell else CONFIG)
    expected = {JAN: pytest.approx(value)} if value is not None else {}
    assert load_data(config).values.get("visits", {}) == expected


# --- layouts, renames, filters --------------------------------------------------------------------------


def test_long_rows_with_filter_renames_and_french_numbers(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Sessions\n", """\
        day;metric;amount;channel
        03/01/2026;revenue;1 200,50 €;email
        15/01/2026;revenue;800;web
        20/01/2026;revenue;999;print
        21/01/2026;ticket;yes;web
        22/01/2026;ticket;no;email
        """, CONFIG.replace("filter:", "columns: {ticket: tickets}, filter:"))
    values = load_data(config).values
    assert values["revenue"] == {JAN: pytest.approx(2000.5)}
    assert values["tickets"] == {JAN: 2}  # count takes text: a long layout counts its rows with a value


def test_long_symbol_date_price_with_one_filter_value(tmp_path: Path) -> None:
    (tmp_path / "prices.csv").write_text("symbol,date,price,market\nvisits,2026-01-02,10,eu\nvisits,2026-01-03,"
                                         "20,us\nvisits,2026-02-02,30,eu\n", encoding="utf-8")
    config = one_source(tmp_path, "{path: prices.csv, layout: long, name: symbol, value: price, filter: {market: eu}}")
    assert load_data(config).values["visits"] == {JAN: 10, FEB: 30}


def test_a_filter_on_a_numeric_workbook_column(tmp_path: Path) -> None:
    xlsx(tmp_path / "ads.xlsx", [["date", "visits", "account"], [dt.date(2026, 1, 2), 5, 2026],
                                 [dt.date(2026, 1, 3), 7, 1999]])
    config = one_source(tmp_path, "{path: ads.xlsx, filter: {account: 2026}}")
    assert load_data(config).values["visits"] == {JAN: 5}
    config = one_source(tmp_path, "{path: ads.xlsx, filter: {account: ['2026', other]}}")
    assert load_data(config).values["visits"] == {JAN: 5}


def test_a_filter_that_keeps_nothing_is_warned_with_what_the_column_holds(tmp_path: Path) -> None:
    config = project(tmp_path, crm="day,metric,amount,channel\n2026-01-02,revenue,3,Email\n")
    warnings = load_data(config).warnings
    crm = tmp_path / "crm.csv"
    assert f"{crm}:1:channel: the filter keeps no row: no cell is 'email' or 'web'\n  hint: the column holds " \
           "'Email'; the filter compares whole cells, case included" in warnings


# --- formats -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_the_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    rows = [["date", "Sessions", "nps"], ["2026-01-02", "1,5" if delimiter != "," else "1.5", "2"]]
    config = project(tmp_path, "".join(delimiter.join(r) + "\n" for r in rows))
    assert load_data(config).values["visits"] == {JAN: 1.5}


TITLED_EXPORT = "# Acquisition de trafic\n# Compte : Lumio SAS\n# 20241001-20261118\n\nDate,visits,leads\n" \
                "20241001,798,8\n20241002,813,10\n"


@pytest.mark.parametrize(("written", "hint"), [("Jour", "its columns: Date, visits, leads"),
                                               ("date", "did you mean 'Date'?")])
def test_a_misspelt_date_column_under_title_lines_is_named_missing(tmp_path: Path, written: str, hint: str) -> None:
    """Title lines above the header: a date column the file lacks is missing, as in a file without them,
    not a title line taken for the header and a data row blamed for holding the delimiter."""
    (tmp_path / "web.csv").write_text(TITLED_EXPORT, encoding="utf-8")
    error = error_of(one_source(tmp_path, f"{{path: web.csv, date: {written}}}"))
    assert (error.message, error.line, error.hint) == (f"no column '{written}'", 5, hint)
    (tmp_path / "web.csv").write_text(TITLED_EXPORT.replace("Date,", "Jour,"), encoding="utf-8")
    assert load_data(one_source(tmp_path, "{path: web.csv, date: Jour}")).values["visits"] == {Month(2024, 10): 1611}


def test_a_tsv_file_added_with_data(tmp_path: Path) -> None:
    config = project(tmp_path)
    (tmp_path / "export.tsv").write_text("date\tnps\n2026-01-02\t42\n", encoding="utf-8")
    assert load_data(config, [tmp_path / "export.tsv"]).values["nps"] == {JAN: 42}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"])
def test_encodings(tmp_path: Path, encoding: str) -> None:
    config = project(tmp_path, config=CONFIG.replace("{Sessions: visits}", "{Séances: visits, Coût: revenue}"))
    euro = "€" if encoding != "latin-1" else ""
    text = f"date;Séances;Coût\n14/02/2026;1 000;1 200,5 {euro}\n"
    (tmp_path / "web.csv").write_bytes(text.encode(encoding))
    values = load_data(config).values
    assert values["visits"] == {FEB: 1000}  # the accented header read right, and a BOM is not part of 'date'
    assert values["revenue"] == {FEB: 1200.5}


def test_xlsx_first_sheet_with_typed_cells_and_a_title_above_the_header(tmp_path: Path) -> None:
    xlsx(tmp_path / "ads.xlsx", [
        ["Campaign report, January 2026"], [],
        ["date", "visits", "nps"],
        [dt.datetime(2026, 1, 2, 10, 30), 5, "12,5"],
        [dt.date(2026, 1, 3), 7.5, 12.5],
        [None, None, None],
        [46054, 1, None],  # an unformatted Excel date: 2026-02-01
    ])
    config = one_source(tmp_path, "{path: ads.xlsx}", "visits: {aggregate: sum}\n  nps: {aggregate: mean}")
    values = load_data(config).values
    assert values["visits"] == {JAN: 12.5, FEB: 1}
    assert values["nps"] == {JAN: 12.5}


def test_xlsx_named_sheet_with_text_dates(tmp_path: Path) -> None:
    xlsx(tmp_path / "ads.xlsx", [["x"]], sheet="Notes", others=())
    workbook = load_workbook(tmp_path / "ads.xlsx")
    data = workbook.create_sheet("Données")
    for row in (["date", "visits"], ["14/01/2026", "1 234"], ["2026-02", 3]):
        data.append(row)
    workbook.save(tmp_path / "ads.xlsx")
    config = one_source(tmp_path, "{path: ads.xlsx, sheet: Données}")
    assert load_data(config).values["visits"] == {JAN: 1234, FEB: 3}


def test_parquet(tmp_path: Path) -> None:
    pl.DataFrame({"date": [dt.date(2026, 1, 2), dt.date(2026, 2, 2)], "visits": [3, None]}).write_parquet(
        tmp_path / "web.parquet")
    config = one_source(tmp_path, "{path: web.parquet}")
    assert load_data(config).values["visits"] == {JAN: 3}


def test_non_finite_values_nan_is_no_value_and_infinity_is_refused(tmp_path: Path) -> None:
    """NaN is how Parquet (and 'nan' how Python tools) write a missing float: no value. Infinity is
    no measure of anything: refused with its row and column, as the text 'inf' is in a CSV file."""
    pl.DataFrame({"date": [dt.date(2026, 1, 2), dt.date(2026, 1, 3), dt.date(2026, 2, 2)],
                  "visits": [3.0, float("nan"), float("nan")]}).write_parquet(tmp_path / "web.parquet")
    config = one_source(tmp_path, "{path: web.parquet}")
    assert load_data(config).values["visits"] == {JAN: 3}
    pl.DataFrame({"date": [dt.date(2026, 1, 2), dt.date(2026, 1, 3)],
                  "visits": [3.0, float("-inf")]}).write_parquet(tmp_path / "web.parquet")
    error = error_of(config)
    assert (error.line, error.column, error.message) == (2, "visits", "'-inf' is not a finite number")
    (tmp_path / "web.csv").write_text("date,visits\n2026-01-02,nan\n2026-02-02,4\n", encoding="utf-8")
    assert load_data(one_source(tmp_path, "{path: web.csv}")).values["visits"] == {FEB: 4}
    (tmp_path / "web.csv").write_text("date,visits\n2026-01-02,4\n2026-02-02,Infinity\n", encoding="utf-8")
    error = error_of(one_source(tmp_path, "{path: web.csv}"))
    assert (error.line, error.column, error.message) == (3, "visits", "'Infinity' is not a finite number")


@pytest.mark.parametrize("aggregate", ["sum", "mean"])
def test_a_month_that_adds_up_to_infinity_is_an_error_naming_input_file_and_month(tmp_path: Path,
                                                                                  aggregate: str) -> None:
    (tmp_path / "web.csv").write_text("date,visits\n2026-01-02,1\n2026-02-02,1e308\n2026-02-03,1e308\n",
                                      encoding="utf-8")
    error = error_of(one_source(tmp_path, "{path: web.csv}", f"visits: {{aggregate: {aggregate}}}"))
    assert (error.file, error.message) == (
        str(tmp_path / "web.csv"), "'visits' for 2026-02 adds up to inf: beyond the largest number (about 1.8e308)")


def test_a_long_month_that_adds_up_to_infinity_is_an_error(tmp_path: Path) -> None:
    config = project(tmp_path, crm="day,metric,amount,channel\n2026-03-01,revenue,-1e308,web\n"
                                   "2026-03-02,revenue,-1e308,email\n")
    error = error_of(config)
    assert (error.file, error.message) == (
        str(tmp_path / "crm.csv"), "'revenue' for 2026-03 adds up to -inf: beyond the largest number (about 1.8e308)")


# --- the filled template, read back ------------------------------------------------------------------------

TEMPLATE_CONFIG = """\
title: Round trip
inputs:
  emails_delivered: {aggregate: sum}
  emails_opened: {aggregate: sum}
  subscribers: {aggregate: last}
  nps: {aggregate: mean}
kpis:
  open_rate: {formula: emails_opened / emails_delivered, format: percent, target: 0.25}
  growth: {formula: "(subscribers - prev(subscribers)) / prev(subscribers)", target: 0.02}
  nps_kpi: {formula: nps, target: 40}
sources:
  - {path: monthly.csv, date: month}
"""
MONTHLY = {  # month -> emails_delivered, emails_opened, subscribers, nps (None: left empty)
    JAN: (1000, 240, 500, 38.5), FEB: (1200, 330, 520, None), MAR: (900, 200, 515, 41),
}


def test_a_template_filled_by_hand_computes_as_the_equivalent_csv(tmp_path: Path) -> None:
    (tmp_path / "kpireport.yaml").write_text(TEMPLATE_CONFIG, encoding="utf-8")
    lines = ["month;emails_delivered;emails_opened;subscribers;nps"]
    lines += [f"{m};{d};{o};{s};{'' if n is None else str(n).replace('.', ',')}" for m, (d, o, s, n) in MONTHLY.items()]
    (tmp_path / "monthly.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    from_csv = load_config(tmp_path / "kpireport.yaml")
    expected = to_csv(compute(from_csv, load_data(from_csv).values))

    filled = tmp_path / "filled.xlsx"
    write_template(from_csv, filled, template_period(year=2026), {})  # blank, as published
    workbook = load_workbook(filled)  # a person types the values in, found by the defined names
    months = [Month.of(c.value) for c in named_cells(workbook, "months")]
    for month, row in MONTHLY.items():
        for input_id, value in zip(("emails_delivered", "emails_opened", "subscribers", "nps"), row, strict=True):
            if value is not None:
                named_cells(workbook, f"in_{input_id}")[months.index(month)].value = value
    named_cells(workbook, "note_nps")[months.index(Month(2026, 2))].value = "Survey skipped in February"
    workbook.save(filled)

    (tmp_path / "kpireport.yaml").write_text(
        TEMPLATE_CONFIG.replace("{path: monthly.csv, date: month}", "{path: filled.xlsx, layout: template}"),
        encoding="utf-8")
    from_template = load_config(tmp_path / "kpireport.yaml")
    data = load_data(from_template)
    assert to_csv(compute(from_template, data.values)) == expected
    assert data.notes == {"nps": {Month(2026, 2): "Survey skipped in February"}}
    assert data.warnings == []
    # and a template given with --data is recognised as one
    assert sources_with(from_csv, [filled])[-1].layout == "template"
    (tmp_path / "monthly.csv").write_text("month\n", encoding="utf-8")
    assert load_data(from_csv, [filled]).values == data.values


def test_a_formula_typed_in_an_input_cell_reads_as_the_value_the_spreadsheet_saved(tmp_path: Path) -> None:
    """The template is read once, formulas kept; only when an input cell holds a formula is it read
    again for the values the spreadsheet computed (here LibreOffice, as a person's Calc would)."""
    (tmp_path / "kpireport.yaml").write_text(TEMPLATE_CONFIG.replace(
        "{path: monthly.csv, date: month}", "{path: filled.xlsx, layout: template}"), encoding="utf-8")
    config = load_config(tmp_path / "kpireport.yaml")
    typed = tmp_path / "typed.xlsx"
    write_template(config, typed, template_period(year=2026), {})
    workbook = load_workbook(typed)
    months = [Month.of(c.value) for c in named_cells(workbook, "months")]
    named_cells(workbook, "in_emails_delivered")[months.index(FEB)].value = "=1200+34"
    named_cells(workbook, "in_emails_delivered")[months.index(MAR)].value = 999
    workbook.save(typed)
    recalculate(typed, tmp_path / "saved").rename(tmp_path / "filled.xlsx")
    assert load_data(config).values["emails_delivered"] == {FEB: 1234.0, MAR: 999.0}


@pytest.mark.parametrize(("input_id", "typed", "message"), [
    ("nps", "good", "nps for 2026-02: 'good' is not a number"),
    ("emails_opened", "150 %", "emails_opened for 2026-02: '150 %' is a percentage where a count is expected"),
])
def test_a_bad_cell_in_the_template_names_its_cell(tmp_path: Path, input_id: str, typed: str, message: str) -> None:
    (tmp_path / "kpireport.yaml").write_text(TEMPLATE_CONFIG.replace(
        "{path: monthly.csv, date: month}", "{path: filled.xlsx, layout: template}"), encoding="utf-8")
    config = load_config(tmp_path / "kpireport.yaml")
    filled = tmp_path / "filled.xlsx"
    write_template(config, filled, template_period(year=2026), {})
    workbook = load_workbook(filled)
    months = [Month.of(c.value) for c in named_cells(workbook, "months")]
    cell = named_cells(workbook, f"in_{input_id}")[months.index(FEB)]
    cell.value = typed
    named_cells(workbook, "in_emails_delivered")[months.index(FEB)].value = 1200
    workbook.save(filled)
    error = error_of(config)
    assert (error.file, error.line, error.column) == (str(filled), None, None)
    assert error.message.startswith(f"Saisie!{cell.coordinate}: {message}"), error.message  # as warnings name it
    # skipped, the bad cell goes and the well-typed one beside it stays
    assert load_data(config, skip_bad_rows=True).values == {"emails_delivered": {FEB: 1200}}


def test_a_number_typed_as_text_is_no_value_as_in_the_workbooks_formulas(tmp_path: Path) -> None:
    """'14 581 pasted as text: COUNT and ISNUMBER skip it in the workbook, so kpireport reads no value
    too (and says where), even over an export's value for the same month; the note is kept."""
    both = "{path: monthly.csv, date: month}\n  - {path: filled.xlsx, layout: template}"
    (tmp_path / "kpireport.yaml").write_text(TEMPLATE_CONFIG.replace("{path: monthly.csv, date: month}", both),
                                             encoding="utf-8")
    (tmp_path / "monthly.csv").write_text("month,emails_opened\n2026-02,330\n", encoding="utf-8")
    config = load_config(tmp_path / "kpireport.yaml")
    filled = tmp_path / "filled.xlsx"
    write_template(config, filled, template_period(year=2026), {})
    workbook = load_workbook(filled)
    months = [Month.of(c.value) for c in named_cells(workbook, "months")]
    delivered = named_cells(workbook, "in_emails_delivered")[months.index(FEB)]
    opened = named_cells(workbook, "in_emails_opened")[months.index(FEB)]
    delivered.value, opened.value = "14 581", "48,7"
    named_cells(workbook, "in_emails_delivered")[months.index(MAR)].value = 900
    named_cells(workbook, "note_emails_opened")[months.index(FEB)].value = "Export late"
    workbook.save(filled)

    data = load_data(config)
    assert data.values == {"emails_delivered": {MAR: 900}, "emails_opened": {}}  # the export's 330 gives way
    assert [w for w in data.warnings if "is text" in w] == [
        f"{filled}: Saisie!{delivered.coordinate}: '14 581' is text, not a number: retype it as a number\n"
        "  hint: until then emails_delivered has no value for 2026-02, in the workbook's formulas as in the review",
        f"{filled}: Saisie!{opened.coordinate}: '48,7' is text, not a number: retype it as a number\n"
        "  hint: until then emails_opened has no value for 2026-02, in the workbook's formulas as in the review"]
    notes = data.review_notes("en")
    assert notes["emails_opened"][FEB] == (f"Export late — Saisie!{opened.coordinate}: '48,7' is text, not a number: "
                                           "no value this month (retype it as a number).")
    assert data.notes == {"emails_opened": {FEB: "Export late"}}  # what --update carries: the note only


def test_a_workbook_that_is_not_a_template(tmp_path: Path) -> None:
    xlsx(tmp_path / "other.xlsx", [["date", "visits"]])
    config = one_source(tmp_path, "{path: other.xlsx, layout: template}")
    error = error_of(config)
    assert str(error) == (f"{tmp_path / 'other.xlsx'}: this is not a kpireport template (no defined name 'months')\n"
                          "  hint: make one with 'kpireport template', or read this file with 'layout: wide'")


# --- several sources, --data ----------------------------------------------------------------------------


def test_same_input_and_month_in_two_files_is_an_error(tmp_path: Path) -> None:
    config = project(tmp_path, "date,revenue,Sessions\n2026-01-01,3,\n",
                     "day,metric,amount,channel\n2026-01-09,revenue,5,web\n")
    error = error_of(config)
    assert error.message == (f"'revenue' for 2026-01 comes from two files: {tmp_path / 'web.csv'} "
                             f"and {tmp_path / 'crm.csv'}")
    assert error.hint == "keep it in one file, or remove one of the sources"


def test_a_month_repeated_in_a_file_of_months_is_an_error(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Sessions\n2026-01,100\n2026-02,120\n2026-01,90\n")
    error = error_of(config)
    assert (error.line, error.column) == (4, "date")
    assert error.message == "the month 2026-01 appears on 2 rows (rows 2, 4) in a file of months"
    assert error.hint.startswith("a file of months has one row per month")
    config = project(tmp_path, crm="day,metric,amount,channel\n202601,visits,5,web\n202601,visits,6,email\n")
    assert error_of(config).message == ("the month 2026-01 appears on 2 rows for 'visits' (rows 2, 3) "
                                        "in a file of months")


def test_a_month_repeated_is_fine_for_counted_inputs_and_days(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Sessions\n2026-01-03,100\n2026-01-04,90\n",
                     crm="day,metric,amount,channel\n2026-01,tickets,x,web\n2026-01,tickets,y,web\n")
    values = load_data(config).values
    assert (values["visits"], values["tickets"]) == ({JAN: 190}, {JAN: 2})


def test_sources_complete_each_other(tmp_path: Path) -> None:
    config = project(tmp_path, "date,revenue,Sessions\n2026-01-01,3,\n",
                     "day,metric,amount,channel\n2026-02-09,revenue,5,web\n")
    assert load_data(config).values["revenue"] == {JAN: 3, FEB: 5}


def test_data_option_replaces_the_source_of_the_same_name(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Sessions\n2026-01-01,3\n")
    other = tmp_path / "other"
    other.mkdir()
    (other / "web.csv").write_text("date,Sessions\n2026-01-01,7\n", encoding="utf-8")
    assert load_data(config, [other / "web.csv"]).values["visits"] == {JAN: 7}


def test_data_option_adds_a_wide_file(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Sessions\n2026-01-01,3\n")
    (tmp_path / "extra.csv").write_text("date,nps\n2026-01-01,42\n", encoding="utf-8")
    assert load_data(config, [tmp_path / "extra.csv"]).values["nps"] == {JAN: 42}


def test_a_percentage_where_a_count_or_an_amount_is_expected_is_an_error(tmp_path: Path) -> None:
    """'150 %' read as 1.5 visits would be a silent nonsense; for an input of format percent it is 1.5."""
    percent = CONFIG.replace("nps: {aggregate: mean}", "nps: {aggregate: mean, format: percent}")
    config = project(tmp_path, 'date,Sessions,nps\n2026-01-01,3,"40 %"\n2026-01-02,"150 %","12,5 %"\n',
                     config=percent)
    error = error_of(config)
    assert (error.line, error.column) == (3, "Sessions")
    assert error.message == "'150 %' is a percentage where a count is expected (input 'visits')"
    assert error.hint == ("write a count here, without '%'; or, if the input is a rate, give it 'format: percent' "
                          "under 'inputs:' in the config (--skip-bad-rows reports and skips such rows)")
    config = project(tmp_path, 'date,Sessions,nps\n2026-01-01,3,"40 %"\n2026-01-02,150,"12,5 %"\n', config=percent)
    assert load_data(config).values["nps"] == {JAN: (0.4 + 0.125) / 2}
    config = project(tmp_path, crm="day,metric,amount,channel\n2026-01-02,revenue,3,web\n"
                                   "2026-02-02,revenue,4 %,web\n2026-03-02,best_day,5 %,web\n")
    error = error_of(config)
    assert (error.file, error.line, error.column) == (str(tmp_path / "crm.csv"), 3, "amount")
    assert error.message == "'4 %' is a percentage where an amount is expected (input 'revenue')"
    data = load_data(config, skip_bad_rows=True)
    assert (data.values["revenue"], "best_day" in data.values) == ({JAN: 3}, False)
    assert [w.split("\n")[0].split(":amount: ")[1] for w in data.warnings if "is a percentage" in w] == [
        "'4 %' is a percentage where an amount is expected (input 'revenue'); the row is skipped",
        "'5 %' is a percentage where a count is expected (input 'best_day'); the row is skipped"]


# --- warnings ----------------------------------------------------------------------------------------------


def test_the_columns_that_map_to_no_input_are_one_warning_line_per_file(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Sessions,Bounces,vists\n2026-01-01,3,1,2\n")
    warnings = load_data(config).warnings
    assert warnings[0] == (f"{tmp_path / 'web.csv'}:1: 2 columns map to no input and are ignored: 'Bounces', "
                           "'vists' (did you mean 'visits'?); to read one, declare an input of its name, or map it "
                           "to one under this source's 'columns:'")
    assert "\n" not in warnings[0]


def test_a_long_list_of_unused_columns_is_cut(tmp_path: Path) -> None:
    unused = [f"series_{n}" for n in range(17)]
    config = project(tmp_path, f"date,Sessions,{','.join(unused)}\n2026-01-01,3{',1' * 17}\n")
    warning = load_data(config).warnings[0]
    assert warning.startswith(f"{tmp_path / 'web.csv'}:1: 17 columns map to no input and are ignored: 'series_0', ")
    assert "'series_9', …; to read one" in warning
    assert "series_10" not in warning


def test_a_column_mapped_to_an_input_the_config_lacks_is_listed_with_its_mapping(tmp_path: Path) -> None:
    """Not an error: a KPI removed from the config takes its catalog inputs away, and the source's
    mapping for them is then harmless."""
    config = project(tmp_path, "date,Sessions\n2026-01-01,3\n",
                     config=CONFIG.replace("{Sessions: visits}", "{Sessions: visitz}"))
    assert load_data(config).warnings[0] == (
        f"{tmp_path / 'web.csv'}:1: 1 column maps to no input and is ignored: 'Sessions' → 'visitz' (did you mean "
        "'visits'?); to read one, declare an input of its name, or map it to one under this source's 'columns:'")


def test_the_names_that_map_to_no_input_in_a_long_file_are_one_warning_line(tmp_path: Path) -> None:
    config = project(tmp_path, crm="day,metric,amount,channel\n2026-01-02,revenu,3,web\n2026-01-03,revenu,4,web\n"
                                   "2026-01-03,Followers,4,web\n")
    assert (f"{tmp_path / 'crm.csv'}:1:metric: 2 names map to no input (3 rows ignored): 'revenu' (did you mean "
            "'revenue'?), 'Followers'; to read one, declare an input of its name, or map it to one under this "
            "source's 'columns:'") in load_data(config).warnings


def test_a_renamed_column_that_is_not_there_is_an_error_naming_the_config_key(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Session\n2026-01-01,3\n")
    assert str(error_of(config)) == (
        f"{tmp_path / 'web.csv'}:1: sources.0.columns.Sessions: no column 'Sessions' (read as 'visits' under "
        "'columns:')\n  hint: did you mean 'Session'? correct the name under this source's 'columns:' in the config")


def test_a_renamed_column_with_no_look_alike_lists_the_columns(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Visites\n2026-01-01,3\n")
    assert error_of(config).hint == ("its columns: date, Visites; correct the name under this source's 'columns:' "
                                     "in the config")


def test_a_long_files_mapped_name_that_differs_only_by_case_is_an_error(tmp_path: Path) -> None:
    config = project(tmp_path, crm="day,metric,amount,channel\n2026-01-02,Ticket,3,web\n",
                     config=CONFIG.replace("filter:", "columns: {ticket: tickets}, filter:"))
    error = error_of(config)
    assert (error.file, error.line, error.key) == (str(tmp_path / "crm.csv"), 1, "sources.1.columns.ticket")
    assert error.message == ("the column 'metric' has no name 'ticket' (read as 'tickets' under 'columns:') but has "
                             "'Ticket', which maps to no input")
    assert error.hint.startswith("did you mean 'Ticket'?")


def test_a_long_files_mapped_name_that_is_absent_is_fine(tmp_path: Path) -> None:
    """A month may lack a metric ('Deals won' in a month of losses): absent is no mistake, and a
    look-alike may be another metric."""
    config = project(tmp_path, crm="day,metric,amount,channel\n2026-01-02,Deals lost,3,web\n",
                     config=CONFIG.replace("filter:", "columns: {Deals won: revenue}, filter:"))
    data = load_data(config)
    assert "revenue" not in data.values
    assert not any("columns.Deals won" in warning for warning in data.warnings)


def test_a_file_with_a_header_and_no_rows_is_warned(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Sessions\n", "day,metric,amount,channel\n2026-01-02,revenue,3,web\n")
    data = load_data(config)
    assert data.values["revenue"] == {JAN: 3}
    assert f"{tmp_path / 'web.csv'} has no rows (only a header): it gives no value" in data.warnings
    assert not any("crm.csv has no rows" in warning for warning in data.warnings)


def test_two_sources_reading_one_file_warn_once(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Sessions,Bounces\n2026-01-01,3,1\n", config=CONFIG.replace(
        "  - {path: crm.csv", "  - {path: web.csv, date: date, columns: {Sessions: revenue}}\n  - {path: crm.csv"))
    warnings = load_data(config).warnings
    assert len([w for w in warnings if "'Bounces'" in w]) == 1
    assert len(warnings) == len(set(warnings))


def test_an_input_that_no_source_provides_is_a_warning(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Sessions,subscribers\n2026-01-01,3,4\n",
                     "day,metric,amount,channel\n2026-01-01,revenue,3,web\n")
    data = load_data(config)
    assert data.values["visits"] == {JAN: 3}
    assert data.warnings == [
        f"{tmp_path / 'kpireport.yaml'}: no data file provides nps, tickets, best_day, worst_day\n"
        "  hint: type the values in the template and read it back (a source with 'layout: template'), "
        "or add a data file with a column for each"]


# --- errors ------------------------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    config = project(tmp_path)
    (tmp_path / "web.csv").unlink()
    assert str(error_of(config)) == (
        f"{tmp_path / 'web.csv'}: file not found\n  hint: check the path under 'sources:' in the config "
        "(relative to the config file), or the --data path")


def test_empty_file(tmp_path: Path) -> None:
    config = project(tmp_path, "")
    assert str(error_of(config)) == (f"{tmp_path / 'web.csv'}: the file is empty\n"
                                     "  hint: export the data again, with a header row")


def test_missing_column(tmp_path: Path) -> None:
    config = project(tmp_path, "day,Sessions\n2026-01-01,3\n")
    assert str(error_of(config)) == f"{tmp_path / 'web.csv'}:1: no column 'date'\n  hint: its columns: day, Sessions"


def test_missing_column_suggests_a_close_name(tmp_path: Path) -> None:
    config = project(tmp_path, crm="day,metrics,amount,channel\n")
    error = error_of(config)
    assert (error.file, error.line, error.message, error.hint) == (
        str(tmp_path / "crm.csv"), 1, "no column 'metric'", "did you mean 'metrics'?")


def test_unparseable_date_names_row_column_and_fix(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Sessions\n2026-01-01,3\n2026-13-45,4\n2026-13-46,4\n")
    assert str(error_of(config)) == (
        f"{tmp_path / 'web.csv'}:3:date: '2026-13-45' is not a date\n  hint: write dates as YYYY-MM-DD, DD/MM/YYYY "
        "or YYYY-MM (a time of day may follow); 1 more rows like it (--skip-bad-rows reports and skips such rows)")


def test_a_us_export_is_read_month_first(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Sessions\n01/02/2026,3\n01/13/2026,4\n02/01/2026,5\n")
    assert load_data(config).values["visits"] == {JAN: 7.0, FEB: 5.0}


def test_day_first_and_month_first_dates_in_one_file_are_explained(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Sessions\n14/01/2026,3\n01/13/2026,4\n")
    error = error_of(config)
    assert (error.line, error.column) == (3, "date")
    assert "only makes sense month first (MM/DD/YYYY) and others in the column only day first" in error.hint


def test_unparseable_number_names_row_column_and_fix(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Sessions\n2026-01-01,3\n2026-01-02,beaucoup\n")
    assert str(error_of(config)) == (
        f"{tmp_path / 'web.csv'}:3:Sessions: 'beaucoup' is not a number\n  hint: write a number, e.g. 1234.5, "
        "1 234,5, 12,5 % or 1 200 €; leave it empty (or n/a) for no value (--skip-bad-rows reports and skips such "
        "rows)")


def test_a_bad_number_in_a_long_file_and_in_a_workbook(tmp_path: Path) -> None:
    config = project(tmp_path, crm="day,metric,amount,channel\n2026-01-02,revenue,3,web\n2026-01-02,revenue,??,web\n")
    error = error_of(config)
    assert (error.file, error.line, error.column, error.message) == (
        str(tmp_path / "crm.csv"), 3, "amount", "'??' is not a number")
    xlsx(tmp_path / "ads.xlsx", [["Report"], ["date", "visits"], [dt.date(2026, 1, 2), "lots"]])
    error = error_of(one_source(tmp_path, "{path: ads.xlsx}"))
    assert (error.file, error.line, error.column, error.message) == (
        str(tmp_path / "ads.xlsx"), 3, "visits", "'lots' is not a number")


def test_a_row_with_values_but_no_date(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Sessions\n2026-01-01,3\n,4\n,\n")
    error = error_of(config)
    assert (error.line, error.column, error.message, error.hint) == (
        3, "date", "the date is empty on a row with values",
        "fill in the date, or delete the row (--skip-bad-rows reports and skips such rows)")


def test_a_totals_row(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Sessions\n2026-01-01,3\nTotal,3\n")
    assert error_of(config).hint.startswith("remove the totals row from the export")


def test_a_row_with_more_cells_than_the_header(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Sessions\n2026-01-01,3\n2026-01-02,1,234\n")
    assert str(error_of(config)) == (
        f"{tmp_path / 'web.csv'}:3: this row has 3 cells but the header has 2\n"
        "  hint: a value holds the delimiter ',': quote it (\"1,234\"), or export with another delimiter")


def test_a_trailing_delimiter_is_harmless(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Sessions\n2026-01-01,3,\n2026-01-02,4,\n")
    assert load_data(config).values["visits"] == {JAN: 7}


def test_a_missing_sheet(tmp_path: Path) -> None:
    xlsx(tmp_path / "ads.xlsx", [["date", "visits"]], others=("Données",))
    error = error_of(one_source(tmp_path, "{path: ads.xlsx, sheet: Donnees}"))
    assert (error.file, error.message, error.hint) == (
        str(tmp_path / "ads.xlsx"), "no sheet 'Donnees'", "did you mean 'Données'?")


def test_an_old_xls_workbook(tmp_path: Path) -> None:
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64))
    error = error_of(one_source(tmp_path, "{path: old.xls}"))
    assert "password-protected (encrypted), or an old .xls workbook" in error.message
    assert "as .xlsx (Excel Workbook), or export it as CSV UTF-8" in error.hint


def test_a_sheet_on_a_csv_file(tmp_path: Path) -> None:
    config = project(tmp_path, config=CONFIG.replace("columns: {Sessions: visits}", "sheet: Data"))
    assert error_of(config).message == "'sheet: Data' is set but this is not an XLSX workbook"


def test_two_columns_giving_one_input(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Sessions,visits\n2026-01-01,3,4\n")
    error = error_of(config)
    assert (error.line, error.column, error.message) == (1, "visits", "columns 'Sessions' and 'visits' both give the "
                                                                      "input 'visits'")


# --- --skip-bad-rows ---------------------------------------------------------------------------------------


def test_skip_bad_rows_warns_about_each_and_goes_on(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Sessions,nps\n2026-01-01,3,10\n2026-01-02,beaucoup,20\nhier,5,30\n"
                               "2026-01-04,4,40\n")
    data = load_data(config, skip_bad_rows=True)
    assert data.values["visits"] == {JAN: 7}
    assert data.values["nps"] == {JAN: 25}  # the whole row is skipped, not only its bad cell
    web = tmp_path / "web.csv"
    assert data.warnings[:2] == [
        f"{web}:3:Sessions: 'beaucoup' is not a number; the row is skipped\n  hint: write a number, e.g. 1234.5, "
        "1 234,5, 12,5 % or 1 200 €; leave it empty (or n/a) for no value",
        f"{web}:4:date: 'hier' is not a date; the row is skipped\n  hint: write dates as YYYY-MM-DD, DD/MM/YYYY or "
        "YYYY-MM (a time of day may follow)",
    ]


def test_skip_bad_rows_lists_the_first_rows_then_counts(tmp_path: Path) -> None:
    bad = SKIPPED_SHOWN + 5
    config = project(tmp_path, "date,Sessions\n" + "2026-01-01,x\n" * bad + "2026-01-02,2\n")
    data = load_data(config, skip_bad_rows=True)
    assert data.values["visits"] == {JAN: 2}
    skipped = [w for w in data.warnings if "skipped" in w]
    assert len(skipped) == SKIPPED_SHOWN + 1
    assert skipped[-1] == f"{tmp_path / 'web.csv'}: 5 more bad rows skipped (in all {bad})"


# --- speed guard -----------------------------------------------------------------------------------------


def test_a_large_export_reads_in_columns(tmp_path: Path) -> None:
    days = pl.date_range(dt.date(2025, 1, 1), dt.date(2026, 12, 31), eager=True)
    frame = pl.DataFrame({"date": days.repeat_by(50).explode()}).with_columns(
        Sessions=pl.int_range(pl.len()) % 7, nps=pl.lit("12,5"))
    frame.write_csv(tmp_path / "web.csv", separator=";")
    config = project(tmp_path, (tmp_path / "web.csv").read_text())
    values = load_data(config).values
    assert len(values["visits"]) == 24
    assert values["nps"][JAN] == 12.5
    assert sum(values["visits"].values()) == sum(i % 7 for i in range(len(frame)))


# --- through the command line ------------------------------------------------------------------------


def run(*args: object):  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from kpireport.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.mark.parametrize("command", ["validate", "compute", "template"])
def test_a_bad_row_stops_every_command_unless_skipped(tmp_path: Path, command: str) -> None:
    project(tmp_path, "date,Sessions\n2026-01-01,3\n2026-01-02,beaucoup\n")
    extra = ["-o", tmp_path / "t.xlsx"] if command == "template" else []
    failed = run(command, tmp_path / "kpireport.yaml", *extra)
    assert failed.exit_code == 2
    assert failed.stderr.startswith(f"error: {tmp_path / 'web.csv'}:3:Sessions: 'beaucoup' is not a number\n"
                                    "  hint: write a number")
    assert "Traceback" not in failed.output
    skipped = run(command, tmp_path / "kpireport.yaml", *extra, "--skip-bad-rows")
    assert skipped.exit_code == 0, skipped.output
    assert f"warning: {tmp_path / 'web.csv'}:3:Sessions: 'beaucoup' is not a number; the row is skipped" in \
        skipped.stderr


def test_the_blank_template_filled_by_hand_and_given_with_data(tmp_path: Path) -> None:
    (tmp_path / "kpireport.yaml").write_text(TEMPLATE_CONFIG, encoding="utf-8")
    lines = ["month,emails_delivered,emails_opened,subscribers,nps"]
    lines += [f"{m},{d},{o},{s},{'' if n is None else n}" for m, (d, o, s, n) in MONTHLY.items()]
    (tmp_path / "monthly.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    from_csv = run("compute", tmp_path / "kpireport.yaml", "--format", "json")
    assert from_csv.exit_code == 0, from_csv.output

    filled = tmp_path / "filled.xlsx"
    assert run("template", tmp_path / "kpireport.yaml", "--blank", "--year", "2026", "-o", filled).exit_code == 0
    workbook = load_workbook(filled)
    months = [Month.of(c.value) for c in named_cells(workbook, "months")]
    for month, row in MONTHLY.items():
        for input_id, value in zip(("emails_delivered", "emails_opened", "subscribers", "nps"), row, strict=True):
            named_cells(workbook, f"in_{input_id}")[months.index(month)].value = value
    workbook.save(filled)
    (tmp_path / "monthly.csv").write_text("month\n", encoding="utf-8")  # the data now comes from the workbook
    from_template = run("compute", tmp_path / "kpireport.yaml", "--format", "json", "--data", filled)
    assert from_template.exit_code == 0, from_template.output
    assert from_template.stdout == from_csv.stdout


# --- files that cannot be read at all ------------------------------------------------------------------


def test_a_file_whose_encoding_cannot_be_told(tmp_path: Path) -> None:
    config = project(tmp_path)
    (tmp_path / "web.csv").write_bytes(b"date;x\n" + bytes(range(128, 256)) * 10)
    error = error_of(config)
    assert (error.file, error.message, error.hint) == (
        str(tmp_path / "web.csv"), "cannot tell the file's text encoding",
        "save it as CSV UTF-8 (in Excel: Save as → CSV UTF-8)")


def test_a_quote_left_open(tmp_path: Path) -> None:
    config = project(tmp_path, 'date,Sessions\n"2026-01-01,3\n2026-01-02,4\n')
    error = error_of(config)
    assert error.message.startswith("cannot read it as CSV (")
    assert error.hint == 'look for a quote (") left open; or export it again as CSV UTF-8'


def test_a_broken_workbook_and_an_empty_sheet(tmp_path: Path) -> None:
    (tmp_path / "broken.xlsx").write_bytes(b"PK\x03\x04" + bytes(100))
    error = error_of(one_source(tmp_path, "{path: broken.xlsx}"))
    assert (error.file, error.message) == (str(tmp_path / "broken.xlsx"),
                                           "it is damaged or cut short (not a complete XLSX file)")
    xlsx(tmp_path / "empty.xlsx", [], sheet="Vide")
    assert str(error_of(one_source(tmp_path, "{path: empty.xlsx}"))) == (
        f"{tmp_path / 'empty.xlsx'}: Vide: the sheet is empty\n  hint: choose the sheet with 'sheet:' in the source")


def test_a_broken_parquet_file(tmp_path: Path) -> None:
    (tmp_path / "web.parquet").write_bytes(b"PAR1" + bytes(100))
    error = error_of(one_source(tmp_path, "{path: web.parquet}"))
    assert error.message.startswith("cannot read it as Parquet")
    assert error.hint == "write it again, or export the data as CSV UTF-8"


def test_the_template_warns_about_inputs_the_config_lost_and_long_rows_with_no_name(tmp_path: Path) -> None:
    (tmp_path / "kpireport.yaml").write_text(TEMPLATE_CONFIG, encoding="utf-8")
    config = load_config(tmp_path / "kpireport.yaml")
    filled = tmp_path / "filled.xlsx"
    write_template(config, filled, template_period(year=2026), {})
    smaller = one_source(tmp_path, "{path: filled.xlsx, layout: template}", "nps: {aggregate: mean}")
    warnings = load_data(smaller).warnings
    assert any(w.startswith(f"{filled}:") and "the template's input 'emails_opened' is not in the config; it is "
               "ignored\n  hint: declare it under 'inputs:'" in w for w in warnings)
    config = project(tmp_path, crm="day,metric,amount,channel\n2026-01-02,,3,web\n")
    assert (f"{tmp_path / 'crm.csv'}:1:metric: 1 row(s) with a value but no name, ignored\n"
            "  hint: fill in the name, or delete the rows") in load_data(config).warnings


def test_a_workbook_named_like_a_csv_file_is_read_as_a_workbook(tmp_path: Path) -> None:
    """Found by the fuzz tests: openpyxl refused a path by its extension (a traceback)."""
    xlsx(tmp_path / "export.xlsx", [["date", "visits"], ["2026-01-05", 7]])
    (tmp_path / "export.xlsx").rename(tmp_path / "export.csv")
    assert load_data(one_source(tmp_path, "{path: export.csv}")).values["visits"] == {JAN: 7}


@pytest.mark.parametrize(("web", "message"), [
    ("date,Sessions\n2026-01-05,1,2,\r0\n", "this row has 4 cells but the header has 2"),  # csv.Error on \r before
    ('date,Sessions\n2026-01-05,1,"\n', "cannot read it as CSV (CSV malformed"),  # polars' ComputeError before
    ("\n2026-01-05,date", "no header row where the data starts"),  # polars' NoDataError before
])
def test_csv_files_the_long_fuzz_run_found(tmp_path: Path, web: str, message: str) -> None:
    """Each raised something other than kpireport's own error (a traceback in the CLI)."""
    assert message in error_of(project(tmp_path, web)).message


def test_a_header_named_like_a_wildcard_or_a_regex_is_a_plain_name(tmp_path: Path) -> None:
    """Found by the long fuzz run: a column named '*' made polars select every column (DuplicateError)."""
    config = project(tmp_path, "date,*,^Sessions$,Sessions\n2026-01-05,1,2,3\n")
    data = load_data(config)
    assert data.values["visits"] == {JAN: 3}
    assert any("'*', '^Sessions$'; to read one" in warning for warning in data.warnings)


def test_a_header_holding_nul_characters_cannot_clash_with_kpireports_own_columns(tmp_path: Path) -> None:
    """Found by the long fuzz run: a header '\\x00row' clashed with the row-number column (DuplicateError)."""
    config = project(tmp_path, "date,\x00row,Sessi\x00ons\n2026-01-05,1,3\n")
    assert load_data(config).values["visits"] == {JAN: 3}


def test_the_same_files_give_the_same_sums_to_the_last_bit(tmp_path: Path) -> None:
    """polars adds a group's values up on several threads; in whatever order they come, the month's
    sum varied in its last bits from run to run (seen: a chart's axis flipping, a review's bytes
    changing, so the send log took it for a new review). Sums now follow the file's order."""
    write_project(tmp_path / "full", "full", "fr", last_month=Month(2026, 10))
    config = load_config(tmp_path / "full" / "kpireport.yaml")
    first = load_data(config).values
    assert sum(len(series) for series in first.values()) > 2000
    for _ in range(15):
        assert load_data(config).values == first


def test_only_values_after_the_current_month_are_warned_about_as_dated_ahead(tmp_path: Path) -> None:
    (tmp_path / "kpireport.yaml").write_text(
        "title: T\ninputs: {visits: {}}\nkpis: {v: {formula: visits}}\nsources: [{path: web.csv, date: month}]\n",
        encoding="utf-8")
    (tmp_path / "web.csv").write_text("month,visits\n2026-11,1\n2026-12,2\n2027-02,3\n", encoding="utf-8")
    config = load_config(tmp_path / "kpireport.yaml")
    ahead = [w for w in load_data(config, today=dt.date(2026, 11, 30)).warnings if "after the current month" in w]
    assert len(ahead) == 1
    assert "2 values dated after the current month (2026-11), in 2026-12, 2027-02" in ahead[0]
    assert "web.csv" in ahead[0]
    assert not [w for w in load_data(config, today=dt.date(2027, 2, 1)).warnings if "after the current month" in w]


@pytest.mark.parametrize(("budget", "expected"), [
    ('"12 345,67"', 1.25),  # the file writes decimal commas: "1,250" is 1.25 (the user's French export)
    ('"12,345.67"', 1250.0),  # a decimal dot elsewhere: "1,250" is 1250
    ("12345", 1250.0),  # nothing says: a comma-separated file groups thousands with commas
])
def test_an_ambiguous_comma_is_settled_by_the_other_columns_of_the_file(tmp_path: Path, budget, expected) -> None:
    config = one_source(tmp_path, "{path: ads.csv, date: Mois, columns: {CPC: cpc, Budget: budget}}",
                        "cpc: {aggregate: mean}\n  budget: {aggregate: sum}")
    (tmp_path / "ads.csv").write_text(f'Mois,CPC,Budget\n2024-10,"1,250",{budget}\n2024-11,"1,125",{budget}\n',
                                      encoding="utf-8")
    values = load_data(config).values
    assert values["cpc"][Month(2024, 10)] == pytest.approx(expected)
    assert values["cpc"][Month(2024, 11)] == pytest.approx(expected * 1.125 / 1.25)


def test_a_day_without_a_summed_value_where_other_columns_have_one_is_warned_about(tmp_path: Path) -> None:
    """An export with one blank cell: March's sessions short of a day, and engaged / sessions counting
    that day's engaged sessions on top but not its sessions below; the user was not told."""
    (tmp_path / "kpireport.yaml").write_text(textwrap.dedent("""\
        title: T
        inputs: {sessions: {}, engaged: {}, nps: {aggregate: mean}}
        kpis: {engagement: {formula: engaged / sessions}}
        sources: [{path: ga4.csv}]
        """), encoding="utf-8")
    rows = ["date,sessions,engaged,nps", "2026-03-15,100,60,", "2026-03-16,,55,", "2026-03-17,90,50,40",
            "2026-03-18,,,", "2026-04-01,80,,"]  # an empty row, and a mean's blank days: nothing to say
    (tmp_path / "ga4.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    data = load_data(load_config(tmp_path / "kpireport.yaml"))
    holes = [w for w in data.warnings if "has no value on" in w]
    assert holes == [f"{tmp_path / 'ga4.csv'}:3: 'sessions' has no value on 1 row where other columns have one "
                     "(first: 2026-03-16): those days are left out of their month's sessions\n"
                     "  hint: fill in the cell (0 if there was nothing that day), or export the data again",
                     f"{tmp_path / 'ga4.csv'}:6: 'engaged' has no value on 1 row where other columns have one "
                     "(first: 2026-04-01): those days are left out of their month's engaged\n"
                     "  hint: fill in the cell (0 if there was nothing that day), or export the data again"]
    assert data.values["sessions"][Month(2026, 3)] == 190  # the figure stays what the file says


def test_a_file_of_months_with_an_empty_cell_is_a_month_without_value_and_no_warning(tmp_path: Path) -> None:
    (tmp_path / "kpireport.yaml").write_text(
        "title: T\ninputs: {a: {}, b: {}}\nkpis: {k: {formula: a / b}}\nsources: [{path: m.csv, date: month}]\n",
        encoding="utf-8")
    (tmp_path / "m.csv").write_text("month,a,b\n2026-01,1,2\n2026-02,,3\n", encoding="utf-8")
    data = load_data(load_config(tmp_path / "kpireport.yaml"))
    assert not [w for w in data.warnings if "has no value on" in w]
    assert Month(2026, 2) not in data.values["a"]
