"""The Excel template: recalculated by LibreOffice, every KPI cell equals what `compute` gives; its
structure (names, formulas, protection, validation, colours, charts); never losing typed values."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from openpyxl import load_workbook
from openpyxl.utils.cell import range_boundaries
from pypdf import PdfReader

from kpireport import engine
from kpireport.cli import cli
from kpireport.config import load_config
from kpireport.errors import KpiReportError
from kpireport.locale import text
from kpireport.months import Month, month_range
from kpireport.sources import load_data
from kpireport.template import named_cells, read_typed, write_template
from kpireport.workbook import BLOCK_ROWS, HEADER_ROW, sheet_months, template_period

from .libreoffice import recalculate

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "example"
PERIOD = month_range(Month(2026, 1), Month(2026, 12))

# KPIs that exercise every function, KPIs built on KPIs, and a KPI without target
EXTRA_KPIS = {
    "leads_yoy": {"formula": "(leads - prev(leads, 12)) / prev(leads, 12)", "format": "percent", "target": 0.1},
    "revenue_3m": {"formula": "avg(revenue, 3)", "format": "currency", "target": 350000},
    "revenue_ytd_m": {"formula": "ytd(revenue) / 1000000", "direction": "up"},
    "rate_gap": {"formula": "max(open_rate, click_rate) - min(open_rate, click_rate)", "format": "percent",
                 "direction": "down", "target": 0.2, "tolerance": 0.05},
    "open_rate_growth": {"formula": "open_rate / prev(open_rate) - 1", "format": "percent"},
    "market_share": {"use": "marketing.market_share"},  # a percent input, with no data at all
    # operations under a period function: Excel needs brackets the tree does not show
    "lost_and_won_x2": {"formula": "prev(deals_won + deals_lost) * 2"},
    "minus_last_year": {"formula": "-prev(leads - mqls, 12) / leads", "format": "percent"},
    # negative targets: the attainment's good side flips (engine.attainment_of), both directions
    "leads_yoy_floor": {"formula": "(leads - prev(leads, 12)) / prev(leads, 12)", "format": "percent",
                        "target": -0.05},
    "cash_flow_k": {"formula": "(mqls - leads) / 10", "direction": "down", "target": -30},
}


def project(tmp_path: Path) -> tuple[Path, dict]:
    """The bundled example plus EXTRA_KPIS, with holes in its data: a missing month of an input and
    zero denominators, so that the workbook must show no value where `compute` has none."""
    shutil.copytree(EXAMPLE, tmp_path / "project")
    path = tmp_path / "project" / "kpireport.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["kpis"].update(EXTRA_KPIS)
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    config = load_config(path)
    values = {name: dict(series) for name, series in load_data(config).values.items()}
    del values["emails_delivered"][Month(2026, 3)]  # missing input
    values["leads"][Month(2026, 5)] = 0.0  # zero denominator (cost per lead, lead to opportunity)
    values["deals_won"][Month(2026, 7)] = 0.0
    values["deals_lost"][Month(2026, 7)] = 0.0  # 0 / (0 + 0) for the win rate
    del values["revenue"][Month(2025, 6)]  # a hole that year-over-year, averages and YTD see
    return path, values


def _same(cell_value: object, expected: float | None) -> bool:
    if expected is None:
        return cell_value in (None, "")
    return isinstance(cell_value, int | float) and cell_value == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("workbook")
    path, values = project(tmp_path)
    config = load_config(path)
    written = tmp_path / "kpi-template.xlsx"
    write_template(config, written, PERIOD, values)
    return config, values, written


@pytest.fixture(scope="module")
def recalculated(written):
    config, values, path = written
    result = recalculate(path, path.parent / "recalculated")
    return config, values, path, load_workbook(result, data_only=True)


def _compare(config, workbook, results, months: list[Month]) -> tuple[int, list[str]]:
    """Every cell of every KPI block for `months` against `compute`'s results."""
    compared = 0
    mismatches = []
    sheet_months_ = [Month.of(c.value) for c in named_cells(workbook, "months")]
    for result in results.kpis:
        first = named_cells(workbook, f"kpi_{result.kpi.id}")[0]
        sheet = first.parent
        for row in result.months:
            if row.month not in months:
                continue
            column = first.column + sheet_months_.index(row.month)
            change = row.change_mom_pts if result.kpi.format == "percent" else row.change_mom  # rates: points
            expected = {"value": row.value, "target": row.target, "attainment": row.attainment,
                        "change_mom": change, "ytd": row.ytd}
            for offset, name in enumerate(BLOCK_ROWS):
                cell = sheet.cell(first.row + offset, column)
                compared += 1
                if not _same(cell.value, expected[name]):
                    mismatches.append(f"{result.kpi.id} {row.month} {name}: sheet {cell.value!r}, "
                                      f"compute {expected[name]!r}")
    return compared, mismatches


def test_libreoffice_recalculation_equals_compute_for_every_kpi_cell(recalculated) -> None:
    config, values, _, workbook = recalculated
    months = sheet_months(config, PERIOD)
    assert months[0] == Month(2024, 12)  # prev(leads, 12) and the first change: 13 history columns
    # the period's cells equal compute on all the data: the history columns hold what they need
    compared, mismatches = _compare(config, workbook, engine.compute(config, values, PERIOD), PERIOD)
    # every cell, history columns included, equals compute on the data the sheet holds
    in_sheet = {name: {m: v for m, v in series.items() if m in months} for name, series in values.items()}
    more, others = _compare(config, workbook, engine.compute(config, in_sheet, months), months)
    compared += more
    mismatches += others
    assert not mismatches, "\n".join(mismatches[:20])
    assert compared == len(config.kpis) * (len(PERIOD) + len(months)) * len(BLOCK_ROWS)
    # the holes really are holes: no value in the sheet, not 0
    cpl = named_cells(workbook, "kpi_cost_per_lead")[months.index(Month(2026, 5))]
    assert cpl.value in (None, "")
    open_rate = named_cells(workbook, "kpi_open_rate")[months.index(Month(2026, 3))]
    assert open_rate.value in (None, "")


def test_formula_cells_are_saved_with_the_engines_values(written) -> None:
    """Read as Protected View, a previewer or pandas would: the saved values, no spreadsheet involved."""
    config, values, path = written
    workbook = load_workbook(path, data_only=True)
    months = sheet_months(config, PERIOD)
    compared, mismatches = _compare(config, workbook, engine.compute(config, values, PERIOD), PERIOD)
    in_sheet = {name: {m: v for m, v in series.items() if m in months} for name, series in values.items()}
    more, others = _compare(config, workbook, engine.compute(config, in_sheet, months), months)
    assert not mismatches + others, "\n".join((mismatches + others)[:20])
    assert compared + more == len(config.kpis) * (len(PERIOD) + len(months)) * len(BLOCK_ROWS)
    shown = workbook["Tableau de bord"]
    assert isinstance(shown["C11"].value, float)
    assert shown["G11"].value


def _shown(value: object) -> object:
    return None if value == "" else value


def _cached_against_recalculated(written: Path, recalculated: Path) -> tuple[int, list[str]]:
    """Every formula cell of every sheet: the value saved with it against LibreOffice's recalculation."""
    formulas = load_workbook(written)
    saved, computed = load_workbook(written, data_only=True), load_workbook(recalculated, data_only=True)
    compared, mismatches = 0, []
    for sheet in formulas.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type != "f":
                    continue
                ours, theirs = (_shown(book[sheet.title][cell.coordinate].value) for book in (saved, computed))
                compared += 1
                same = (ours == pytest.approx(theirs, rel=1e-9, abs=1e-12) if isinstance(theirs, float | int)
                        and isinstance(ours, float | int) else ours == theirs)
                if not same:
                    mismatches.append(f"{sheet.title}!{cell.coordinate} {cell.value[:60]}: saved {ours!r}, "
                                      f"LibreOffice {theirs!r}")
    return compared, mismatches


def test_every_saved_formula_value_equals_libreoffices_recalculation(recalculated) -> None:
    _config, _values, path, _ = recalculated
    compared, mismatches = _cached_against_recalculated(path, path.parent / "recalculated" / path.name)
    assert not mismatches, "\n".join(mismatches[:20])
    assert compared > 2_000  # the KPI sheet (4 formula rows a KPI), the dashboard, the charts' data


def test_saved_values_follow_typed_targets_tolerances_and_text_in_input_cells(tmp_path: Path) -> None:
    path, values = project(tmp_path)
    config = load_config(path)
    values["leads"][Month(2026, 10)] = "n/a"  # typed text: no value, in the engine as in the formulas
    values["visits"][Month(2026, 9)] = dt.datetime(2026, 1, 5)  # a date typed by mistake is a number to Excel
    written = tmp_path / "typed.xlsx"
    write_template(config, written, PERIOD, values,
                   targets={"open_rate": {Month(2026, 10): 0.3, Month(2026, 9): None}, "visits": {Month(2026, 10): 1}},
                   tolerances={"click_rate": 0.5})
    compared, mismatches = _cached_against_recalculated(written, recalculate(written, tmp_path / "recalculated"))
    assert not mismatches, "\n".join(mismatches[:20])
    assert compared > 1_000


def test_dashboard_counts_statuses_of_the_shown_month(recalculated) -> None:
    config, values, _, workbook = recalculated
    dashboard = workbook["Tableau de bord"]
    shown = dashboard["B3"].value
    assert Month.of(shown) == Month(2026, 10)  # the last month with data
    results = engine.compute(config, values, [Month(2026, 10)])
    counts = {status: sum(1 for r in results.kpis if r.months[0].status == status) for status in engine.Status}
    assert [dashboard.cell(7, column).value for column in (2, 4, 6, 8)] == [
        counts[engine.Status.ON], counts[engine.Status.WATCH], counts[engine.Status.OFF],
        counts[engine.Status.NO_DATA]]
    words = {"on": "Atteint", "watch": "À surveiller", "off": "Hors cible", "no_data": "Pas de données",
             "no_target": "Sans cible"}
    for offset, result in enumerate(results.kpis):
        assert dashboard.cell(11 + offset, 7).value == words[result.months[0].status.value], result.kpi.id


# --- structure -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(written):
    config, _values, path = written
    return config, load_workbook(path)


def test_defined_names_follow_the_contract(built) -> None:
    config, workbook = built
    months = named_cells(workbook, "months")
    assert [c.value for c in months] == [dt.datetime(m.year, m.month, 1) for m in sheet_months(config, PERIOD)]
    for input_id in config.inputs:
        cells = named_cells(workbook, f"in_{input_id}")
        assert len(cells) == len(months)
        assert cells[0].parent.cell(cells[0].row, 2).value == input_id  # the row's id column
        assert all(cell.protection.locked is False for cell in cells)  # people type here
    for kpi_id, kpi in config.kpis.items():
        cells = named_cells(workbook, f"kpi_{kpi_id}")
        assert cells[0].parent.cell(cells[0].row, 1).value == kpi.label
        assert all(isinstance(c.value, str) and c.value.startswith("=") for c in cells)  # real formulas
        assert all(cell.protection.locked is not False for cell in cells)
        targets = named_cells(workbook, f"target_{kpi_id}")
        assert targets[0].row == cells[0].row + 1


def test_formulas_use_only_functions_every_spreadsheet_computes(built) -> None:
    import re

    _, workbook = built
    allowed = {"IF", "COUNT", "IFERROR", "ISNUMBER", "SUM", "AVERAGE", "MIN", "MAX", "ABS", "INDEX", "MATCH",
               "NOT", "COUNTIF", "NA", "SUMPRODUCT", "AND", "DATE", "YEAR", "MONTH"}
    used = set()
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    used |= set(re.findall(r"([A-Z][A-Z0-9.]*)\(", cell.value))
    assert used
    assert used <= allowed, used - allowed


def test_sheets_are_protected_without_password_and_inputs_validated(built) -> None:
    _config, workbook = built
    inputs = workbook["Saisie"]
    for sheet in workbook.worksheets:
        assert sheet.protection.sheet
        assert not sheet.protection.password
    validations = inputs.data_validations.dataValidation
    percent = [v for v in validations if v.operator == "between" and v.formula1 == "0" and v.formula2 == "1"]
    assert percent
    assert all(v.showErrorMessage and v.prompt for v in validations)
    assert inputs.freeze_panes == "D5"


def test_status_colours_follow_direction_and_tolerance(built) -> None:
    _config, workbook = built
    kpis = workbook["Indicateurs"]
    formatting = kpis.conditional_formatting._cf_rules
    rules = {str(rng.sqref): [r.formula[0] for r in rules] for rng, rules in formatting.items()}
    up_row = named_cells(workbook, "kpi_open_rate")[0].row
    down_row = named_cells(workbook, "kpi_cost_per_lead")[0].row
    up = next(v for k, v in rules.items() if k.startswith(f"D{up_row}:"))
    down = next(v for k, v in rules.items() if k.startswith(f"D{down_row}:"))
    assert f"D{up_row}>=D{up_row + 1}" in up[0]
    assert f"D{down_row}<=D{down_row + 1}" in down[0]
    assert "ISNUMBER" in up[0]  # "" cells never coloured
    assert len(up) == len(down) == 3


def test_dashboard_has_one_titled_chart_per_kpi(built) -> None:
    config, workbook = built
    charts = workbook["Tableau de bord"]._charts
    assert len(charts) == len(config.kpis)


def test_charts_span_months_without_value(written) -> None:
    """LibreOffice drew the helpers' #N/A as 0 with dispBlanksAs="gap"; "span" leaves them out."""
    import zipfile

    _config, _values, path = written
    with zipfile.ZipFile(path) as archive:
        charts = [archive.read(name).decode() for name in archive.namelist() if name.startswith("xl/charts/chart")]
    assert charts
    assert all('<dispBlanksAs val="span"/>' in chart for chart in charts)  # the chart namespace is the default


def test_month_picker_lists_the_period_and_takes_any_day_of_a_month(written, tmp_path: Path) -> None:
    config, values, path = written
    workbook = load_workbook(path)
    picker = next(v for v in workbook["Tableau de bord"].data_validations.dataValidation if "B3" in str(v.sqref))
    title, reference = picker.formula1.split("!")
    listed = [c.value for row in workbook[title.strip("'")][reference.replace("$", "")] for c in row]
    assert listed == [dt.datetime(m.year, m.month, 1) for m in PERIOD]  # no history month
    assert picker.type == "list"
    assert not picker.showErrorMessage  # a list refuses a mid-month date: C3 tells instead
    results = engine.compute(config, values, [Month(2026, 3)])
    for typed, month in ((dt.datetime(2026, 3, 15), Month(2026, 3)), (dt.datetime(2027, 2, 10), None)):
        workbook = load_workbook(path)
        workbook["Tableau de bord"]["B3"] = typed
        picked = tmp_path / f"picked-{typed:%Y%m%d}.xlsx"
        workbook.save(picked)
        dashboard = load_workbook(recalculate(picked, tmp_path / "recalculated"), data_only=True)["Tableau de bord"]
        message = dashboard["C3"].value
        if month is None:  # outside the period: said in C3, and no figure from another month
            assert message.startswith("Mois hors de la période : choisissez de janvier 2026 à décembre 2026")
            assert {dashboard.cell(11 + i, 3).value for i in range(len(config.kpis))} <= {None, ""}
            continue
        assert message.startswith("(choisissez dans la liste")
        for offset, result in enumerate(results.kpis):
            assert _same(dashboard.cell(11 + offset, 3).value, result.months[0].value), result.kpi.id
            assert _same(dashboard.cell(11 + offset, 4).value, result.months[0].target), result.kpi.id


def test_text_from_the_config_never_becomes_a_formula(tmp_path: Path) -> None:
    path, values = project(tmp_path)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["kpis"]["revenue"]["label"] = '=HYPERLINK("http://evil.example","x")'
    document["title"] = "@SUM(1)"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    config = load_config(path)
    written = tmp_path / "t.xlsx"
    write_template(config, written, PERIOD, values)
    workbook = load_workbook(written)
    label = named_cells(workbook, "kpi_revenue")[0]
    cell = label.parent.cell(label.row, 1)
    assert cell.value == '=HYPERLINK("http://evil.example","x")'
    assert cell.data_type == "s"
    assert workbook["Mode d'emploi"]["A1"].data_type == "s"


# --- printing ------------------------------------------------------------------------------------------


def _area(reference: str) -> tuple[int, int, int, int]:
    """First column, first row, last column, last row of a print area as openpyxl reads it back."""
    return range_boundaries(reference.rpartition("!")[2].replace("$", ""))


def test_inputs_and_kpis_print_the_last_12_months_with_the_label_columns(tmp_path: Path) -> None:
    """Over two years, a page holds the last 12 months (no history, not the first year), the label
    columns and the month headers repeated on every page; the KPI sheet's tolerance too."""
    path, values = project(tmp_path)
    config = load_config(path)
    period = month_range(Month(2025, 1), Month(2026, 12))
    saved = tmp_path / "two-years.xlsx"
    write_template(config, saved, period, values)
    workbook = load_workbook(saved)
    for title, after in (("Saisie", []), ("Indicateurs", [text("col.tolerance", "fr")])):
        sheet = workbook[title]
        first_column, first_row, last_column, last_row = _area(sheet.print_area)
        headers = [sheet.cell(HEADER_ROW, column).value for column in range(first_column, last_column + 1)]
        assert [Month.of(value) for value in headers[:12]] == period[-12:], title
        assert headers[12:] == after, title
        assert (first_row, last_row) == (HEADER_ROW, sheet.max_row), title
        assert sheet.print_title_rows == f"${HEADER_ROW}:${HEADER_ROW}"
        assert sheet.print_title_cols == "$A:$C"  # the labels, ids and units (or direction)
        assert [sheet.cell(HEADER_ROW, column).value for column in range(1, 4)] == [
            text(key, "fr") for key in (("col.input", "col.id", "col.unit") if title == "Saisie"
                                        else ("col.kpi", "col.figure", "col.direction"))]
        # the title row is left out of the print area (it would be cut where the label columns end):
        # the page header says it, its & written && (a lone & starts a header code)
        assert sheet.oddHeader.center.text == sheet["A1"].value.replace("&", "&&")


def test_dashboard_charts_print_on_pages_of_their_own_four_a_page(built) -> None:
    """A page break after the table, then one every two rows of charts, none inside a chart."""
    config, workbook = built
    sheet = workbook["Tableau de bord"]
    breaks = sorted(b.id for b in sheet.row_breaks.brk)  # a page ends after each of these rows
    charts = sheet._charts
    assert len(charts) == len(config.kpis)
    points_a_row = 15  # the default height: the dashboard sets none where the charts are
    assert all(sheet.row_dimensions[row].height in (None, points_a_row) for row in range(20, 20 + 8 * 15))
    spans = []
    for chart in charts:
        top = chart.anchor._from.row + 1
        rows = chart.anchor.ext.height / 12700 / points_a_row  # EMU to points to rows
        spans.append((top, top + rows))
        assert not any(top <= brk < top + rows for brk in breaks), (top, breaks)  # never cut across pages
    labels = {kpi.label for kpi in config.kpis.values()}
    table_end = max(row for row in range(1, 100) if sheet.cell(row, 1).value in labels)
    first_chart = min(top for top, _ in spans)
    assert any(table_end <= brk < first_chart - 1 for brk in breaks)  # the charts' heading goes with them

    def page(row: float) -> int:
        return sum(brk < row for brk in breaks)

    per_page = Counter(page(top) for top, _ in spans)
    assert [per_page[number] for number in sorted(per_page)] == [min(4, len(charts) - i)
                                                                 for i in range(0, len(charts), 4)]


@pytest.fixture(scope="module")
def printed(tmp_path_factory):
    """The workbook printed by LibreOffice to PDF (each page's text), one owner tracking every KPI:
    the owners table then wraps a long list."""
    tmp_path = tmp_path_factory.mktemp("printed")
    path, values = project(tmp_path)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    owner = next(iter(document["owners"]))
    for kpi in document["kpis"].values():
        kpi["owner"] = owner
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    config = load_config(path)
    written = tmp_path / "kpi-template.xlsx"
    write_template(config, written, PERIOD, values)
    pdf = recalculate(written, tmp_path / "pdf", to="pdf")
    return config, [page.extract_text() for page in PdfReader(pdf).pages]


def test_printed_owners_table_shows_every_kpi_each_owner_tracks(printed) -> None:
    """LibreOffice keeps a row's height as written, cutting wrapped text that does not fit: every label
    must reach the page (compared without spaces: a line may break anywhere between words)."""
    config, pages = printed
    start = "".join(pages[0].split())
    assert "".join(text("start.owners", "fr").split()) in start
    owned = [kpi.label for kpi in config.kpis.values() if kpi.owner]
    assert len(owned) == len(config.kpis)
    missing = [label for label in owned if "".join(label.split()) not in start]
    assert not missing


def test_printed_inputs_and_kpis_leave_the_history_columns_out(printed) -> None:
    _config, pages = printed
    assert not [index for index, page in enumerate(pages) if "déc. 2025" in page]  # the history's month
    inputs = [page for page in pages if text("col.input", "fr") in page]
    kpis = [page for page in pages if text("col.figure", "fr") in page and text("col.direction", "fr") in page]
    assert inputs
    assert kpis
    for page in inputs[:1] + kpis[:1]:
        assert all(f"{name} 2026" in page for name in ("janv.", "juin", "déc."))


# --- never losing typed values -------------------------------------------------------------------------


def _type_by_hand(path: Path, typed: dict[tuple[str, Month], object], notes: dict[str, str]) -> None:
    """As a person would: open the workbook and type into the input cells (found by their names)."""
    workbook = load_workbook(path)
    months = [Month.of(c.value) for c in named_cells(workbook, "months")]
    for (input_id, month), value in typed.items():
        named_cells(workbook, f"in_{input_id}")[months.index(month)].value = value
    for (input_id, month), note in notes.items():
        named_cells(workbook, f"note_{input_id}")[months.index(month)].value = note
    workbook.save(path)


def test_update_carries_every_typed_value_over_a_changed_config(tmp_path: Path) -> None:
    path, _ = project(tmp_path)
    config = load_config(path)
    written = tmp_path / "t.xlsx"
    write_template(config, written, PERIOD, {})  # blank
    typed = {("emails_opened", Month(2026, 1)): 5100, ("emails_delivered", Month(2026, 1)): 20400,
             ("revenue", Month(2026, 2)): 312000.5, ("leads", Month(2026, 12)): 420, ("mqls", Month(2026, 6)): "n/a",
             ("bounced_visits", Month(2026, 3)): 5000}
    _type_by_hand(written, typed, {("revenue", Month(2026, 2)): "Salon Vivatech en février",
                                   ("bounced_visits", Month(2026, 3)): "export GA4"})
    refused = (r"(?s)differs from the one kpireport would write, in 8 places; it is left untouched:\n .*"
               r"Saisie!R27 \(in_revenue 2026-02: 312000.5, would be empty\)")
    with pytest.raises(KpiReportError, match=refused):
        write_template(config, written, PERIOD, {})
    # the config changes: a KPI is added, the bounce rate and its input are removed, the period grows
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    del document["kpis"]["bounce_rate"]
    document["kpis"]["sessions_per_lead"] = {"formula": "visits / leads"}
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    new_config = load_config(path)
    assert "bounced_visits" not in new_config.inputs
    longer = month_range(Month(2026, 1), Month(2027, 6))
    outcome = write_template(new_config, written, longer, {}, update=True)
    after = read_typed(written)
    kept = {key: value for key, value in typed.items() if key[0] != "bounced_visits"}
    for (input_id, month), value in kept.items():
        assert after.values[input_id][month] == value
    assert after.notes == {"revenue": {Month(2026, 2): "Salon Vivatech en février"}}
    assert outcome.carried == len(kept) + 1  # 100 % of what can be carried: 6 values and a note
    assert outcome.not_carried == [
        "input 'bounced_visits' (1 values) is no longer in the config",
        "the note of input 'bounced_visits' (no longer in the config): export GA4"]
    assert outcome.backup is not None  # the dropped input's value and note are kept in a copy
    assert outcome.backup.read_bytes() != written.read_bytes()
    assert read_typed(outcome.backup).values["bounced_visits"] == {Month(2026, 3): 5000}
    assert "kpi_sessions_per_lead" in load_workbook(written).defined_names


def test_a_workbook_that_is_not_a_template_is_never_overwritten(tmp_path: Path) -> None:
    path, _ = project(tmp_path)
    other = tmp_path / "budget.xlsx"
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active["A1"] = "mon budget"
    workbook.save(other)
    before = other.read_bytes()
    with pytest.raises(KpiReportError, match="not a kpireport template"):
        write_template(load_config(path), other, PERIOD, {})
    assert other.read_bytes() == before


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch) -> None:
    path, _ = project(tmp_path)
    config = load_config(path)
    written = tmp_path / "t.xlsx"
    write_template(config, written, PERIOD, {})
    before = written.read_bytes()

    def crash(self, target):  # type: ignore[no-untyped-def]
        target.write(b"half a file")  # the workbook is built in memory, then written in one go
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("openpyxl.workbook.workbook.Workbook.save", crash)
    with pytest.raises(KpiReportError, match="No space left on device"):
        write_template(config, written, PERIOD, {}, force=True)
    assert written.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project", "t.xlsx"]


def test_default_period_is_the_year_of_the_latest_data() -> None:
    assert template_period(last_data=Month(2026, 10)) == PERIOD
    assert template_period(start=Month(2025, 7), months=6)[-1] == Month(2025, 12)
    assert template_period(year=2027)[0] == Month(2027, 1)


def _deals_project(tmp_path: Path) -> Path:
    """A CRM export of one row per closed deal: 3 deals in January (30, 40, 50 days), 1 in February
    (80), 4 in March (20 each). Monthly means 40, 80, 20; since January, per deal, 280 / 8 = 35
    (the mean of the months, 46.7, lets February's one deal weigh as much as March's four)."""
    rows = [("2026-01-07", 30), ("2026-01-14", 40), ("2026-01-28", 50), ("2026-02-11", 80),
            ("2026-03-03", 20), ("2026-03-10", 20), ("2026-03-17", 20), ("2026-03-24", 20)]
    (tmp_path / "deals.csv").write_text("closed,cycle\n" + "".join(f"{d},{c}\n" for d, c in rows), encoding="utf-8")
    path = tmp_path / "kpireport.yaml"
    path.write_text("title: Ventes\nkpis:\n  cycle: {use: sales.sales_cycle_length, target: 40}\n"
                    "  slowest: {formula: cycle_max}\n  fastest: {formula: cycle_min}\n"
                    "inputs:\n  cycle_max: {aggregate: max}\n  cycle_min: {aggregate: min}\n"
                    "sources:\n  - {path: deals.csv, date: closed, columns: {cycle: sales_cycle_days}}\n"
                    "  - {path: deals.csv, date: closed, columns: {cycle: cycle_max}}\n"
                    "  - {path: deals.csv, date: closed, columns: {cycle: cycle_min}}\n", encoding="utf-8")
    return path


def test_year_to_date_means_one_thing_per_aggregate_in_python_and_in_the_workbook(tmp_path: Path) -> None:
    path = _deals_project(tmp_path)
    runner = CliRunner()
    computed = runner.invoke(cli, ["compute", str(path), "--format", "json"])
    assert computed.exit_code == 0, computed.output
    ytd = {(row["kpi"], row["month"]): row["ytd"] for row in json.loads(computed.stdout)["rows"]}
    assert ytd[("cycle", "2026-02")] == pytest.approx((30 + 40 + 50 + 80) / 4)  # per deal, not (40 + 80) / 2
    assert ytd[("cycle", "2026-03")] == pytest.approx(280 / 8)
    assert ytd[("slowest", "2026-03")] == 80  # the greatest month since January
    assert ytd[("fastest", "2026-02")] == 30
    written = tmp_path / "kpi.xlsx"
    assert runner.invoke(cli, ["template", str(path), "-o", str(written), "--year", "2026"]).exit_code == 0
    workbook = load_workbook(recalculate(written, tmp_path / "recalculated"), data_only=True)
    sheet_months_ = [Month.of(c.value) for c in named_cells(workbook, "months")]
    for kpi, month, expected in (("cycle", 2, 200 / 4), ("cycle", 3, 35.0), ("slowest", 3, 80), ("fastest", 2, 30)):
        first = named_cells(workbook, f"kpi_{kpi}")[0]
        column = first.column + sheet_months_.index(Month(2026, month))
        cell = first.parent.cell(first.row + BLOCK_ROWS.index("ytd"), column)
        assert cell.value == pytest.approx(expected), (kpi, month)
    # read back, the workbook gives the same year to date; its row counts erased, each month weighs the same
    config_text = path.read_text(encoding="utf-8").split("sources:")[0]
    path.write_text(config_text + "sources:\n  - {path: kpi.xlsx, layout: template}\n", encoding="utf-8")
    back = runner.invoke(cli, ["compute", str(path), "--month", "2026-03", "--format", "json"])
    assert back.exit_code == 0, back.output
    assert {r["kpi"]: r["ytd"] for r in json.loads(back.stdout)["rows"]}["cycle"] == pytest.approx(35.0)
    filled = load_workbook(written)
    for cell in named_cells(filled, "rows_sales_cycle_days"):
        cell.value = None
    filled.save(written)
    back = runner.invoke(cli, ["compute", str(path), "--month", "2026-03", "--format", "json"])
    assert {r["kpi"]: r["ytd"] for r in json.loads(back.stdout)["rows"]}["cycle"] == pytest.approx((40 + 80 + 20) / 3)
