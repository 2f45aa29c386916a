"""The workbook's status colours and the dashboard's status words, read from the saved xlsx and
evaluated by an independent Excel formula engine (the `formulas` package) for values exactly on the
tolerance band's edges, both ways round: the colours must say what the README says ("within 10 % of
the target = watch", the edge included), as engine.status_of does. Fast: no spreadsheet is started.
"""

from __future__ import annotations

import formulas
import pytest
from openpyxl import load_workbook
from openpyxl.formula.translate import Translator
from openpyxl.utils import get_column_letter

from kpireport.config import load_config
from kpireport.locale import text
from kpireport.months import Month, month_range
from kpireport.template import named_cells
from kpireport.workbook import build_workbook

# target 80, tolerance 25 %: the band's edges (60 and 100) are exact in binary floating point
CONFIG = """\
title: Test
locale: en
inputs:
  visits: {aggregate: sum}
  cost: {aggregate: sum}
  gain: {aggregate: sum}
kpis:
  traffic: {formula: visits, target: 80, tolerance: 0.25}
  cost_kpi: {formula: cost, direction: down, target: 80, tolerance: 0.25}
  gain_kpi: {formula: gain, target: -80, tolerance: 0.25}
"""
PERIOD = month_range(Month(2026, 1), Month(2026, 3))

# the spreadsheet's usual good / neutral / bad fills (written out here, not imported)
FILLS = {"C6EFCE": "on", "FFEB9C": "watch", "FFC7CE": "off"}
GOOD_FONT, BAD_FONT = "006100", "9C0006"

# value -> the status the README's rule gives it (None: no colour at all)
UP_CASES = {100: "on", 80: "on", 79.999: "watch", 60: "watch", 59.999: "off", 0: "off", "": None}
DOWN_CASES = {40: "on", 80: "on", 80.001: "watch", 100: "watch", 100.001: "off", 1000: "off", "": None}
NEGATIVE_UP_CASES = {-50: "on", -80: "on", -100: "watch", -100.001: "off"}  # margin: 25 % of |-80|


@pytest.fixture(scope="module")
def workbook(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rules")
    path = folder / "kpireport.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    config = load_config(path)
    values = {"visits": {PERIOD[0]: 100.0}, "cost": {PERIOD[0]: 50.0}, "gain": {PERIOD[0]: -50.0}}
    saved = folder / "t.xlsx"
    build_workbook(config, PERIOD, values).save(saved)
    return load_workbook(saved)  # the rules as the file holds them


def _evaluate(formula: str, cells: dict[str, object]) -> object:
    """`formula` computed by the `formulas` engine, each reference read from `cells` (upper case,
    without sheet or $): a reference the test did not provide fails the test."""
    function = formulas.Parser().ast(formula if formula.startswith("=") else f"={formula}")[1].compile()
    arguments = []
    for name in function.inputs:
        reference = name.rpartition("!")[2].replace("$", "").upper()
        assert reference in cells, f"{formula}: reads {name}, which the test did not expect"
        arguments.append(cells[reference])
    result = function(*arguments)
    return result.item() if hasattr(result, "item") else result


def _tolerance_cell(sheet, top: int):  # type: ignore[no-untyped-def]
    """The KPI's tolerance, in the column headed "Tolerance" (people may change it there)."""
    header = next(c for c in sheet[4] if c.value == text("col.tolerance", "en"))
    cell = sheet.cell(top, header.column)
    assert cell.value == 0.25
    return cell


def _rules_at(sheet, cell: str) -> list:
    """The conditional formatting rules whose range starts at `cell`, in priority order."""
    found = [rule for area, rules in sheet.conditional_formatting._cf_rules.items()
             if str(area.sqref).split(":")[0] == cell for rule in rules]
    return sorted(found, key=lambda rule: rule.priority)


def _colour(sheet, kpi_id: str, workbook, column: int, value: object) -> str | None:
    """The fill the status rules give the value cell of `kpi_id` in `column` if it held `value`:
    the first rule that holds wins (stopIfTrue), as in Excel."""
    top = named_cells(workbook, f"kpi_{kpi_id}")[0].row
    tolerance_cell = _tolerance_cell(sheet, top)
    anchor, here = f"D{top}", f"{get_column_letter(column)}{top}"
    cells = {here: value, f"{get_column_letter(column)}{top + 1}": sheet.cell(top + 1, column).value,
             tolerance_cell.coordinate: tolerance_cell.value}
    rules = _rules_at(sheet, anchor)
    assert len(rules) == 3, rules
    for rule in rules:
        formula = Translator(f"={rule.formula[0]}", origin=anchor).translate_formula(here)
        if _evaluate(formula, cells) is True:
            assert rule.stopIfTrue
            return FILLS[rule.dxf.fill.fgColor.rgb[-6:]]
    return None


@pytest.mark.parametrize(("kpi_id", "cases"), [("traffic", UP_CASES), ("cost_kpi", DOWN_CASES),
                                                ("gain_kpi", NEGATIVE_UP_CASES)])
def test_value_colours_on_the_band_edges(workbook, kpi_id: str, cases: dict) -> None:
    sheet = workbook["KPIs"]
    for column in (4, 4 + len(PERIOD) - 1):  # the first column and another (relative references shift)
        for value, expected in cases.items():
            assert _colour(sheet, kpi_id, workbook, column, value) == expected, (kpi_id, column, value)


def test_an_empty_target_colours_nothing(workbook) -> None:
    sheet = workbook["KPIs"]
    top = named_cells(workbook, "kpi_traffic")[0].row
    sheet.cell(top + 1, 5).value = None  # the person cleared February's target
    try:
        assert _colour(sheet, "traffic", workbook, 5, 10) is None
    finally:
        sheet.cell(top + 1, 5).value = 80


def _rules_covering(sheet, cell: str) -> list[tuple[str, object]]:  # type: ignore[no-untyped-def]
    """The conditional formatting rules whose range holds `cell`, each with the cell its relative
    references start from (the range's top left)."""
    return [(str(area.sqref).split(":")[0], rule) for area, rules in sheet.conditional_formatting._cf_rules.items()
            if cell in area.sqref for rule in rules]


@pytest.mark.parametrize(("kpi_id", "label", "rise", "fall"), [("traffic", "Traffic", GOOD_FONT, BAD_FONT),
                                                               ("cost_kpi", "Cost kpi", BAD_FONT, GOOD_FONT)])
@pytest.mark.parametrize("sheet_name", ["KPIs", "Dashboard"])
def test_change_colours_are_the_right_way_round(workbook, sheet_name: str, kpi_id: str, label: str, rise: str,
                                                fall: str) -> None:
    """A lower cost is good news: its fall is green, its rise red; the other way for traffic. On the
    KPI sheet's change row (every month) and in the dashboard's change column alike."""
    sheet = workbook[sheet_name]
    if sheet_name == "KPIs":
        row = named_cells(workbook, f"kpi_{kpi_id}")[0].row + 3  # value, target, attainment, change
        assert sheet.cell(row, 2).value == text("row.change_mom", "en")
        cells = [f"D{row}", f"F{row}"]
    else:
        row = next(r for r in range(11, 20) if sheet.cell(r, 1).value == label)
        assert sheet.cell(10, 6).value == text("col.change_mom", "en")
        cells = [f"F{row}"]
    for here in cells:
        rules = _rules_covering(sheet, here)
        assert rules, here
        for change, expected in ((0.1, rise), (-0.1, fall), (0.0, None), ("", None)):
            fonts = [rule.dxf.font.color.rgb[-6:] for origin, rule in rules
                     if _evaluate(Translator(f"={rule.formula[0]}", origin=origin).translate_formula(here),
                                  {here: change}) is True]
            assert fonts == ([expected] if expected else []), (kpi_id, change, here)


@pytest.mark.parametrize(("kpi_id", "target", "cases", "wider"), [
    ("traffic", 80, UP_CASES, 40), ("cost_kpi", 80, DOWN_CASES, 120), ("gain_kpi", -80, NEGATIVE_UP_CASES, -120)])
def test_dashboard_status_words_on_the_band_edges(workbook, kpi_id: str, target: float, cases: dict,
                                                  wider: float) -> None:
    """The dashboard's status column: C holds the month's value, D its target, the tolerance is the
    KPI sheet's cell (which people may change)."""
    dashboard, kpis = workbook["Dashboard"], workbook["KPIs"]
    label = {"traffic": "Traffic", "cost_kpi": "Cost kpi", "gain_kpi": "Gain kpi"}[kpi_id]
    row = next(r for r in range(11, 20) if dashboard.cell(r, 1).value == label)
    formula = dashboard.cell(row, 7).value
    tolerance = _tolerance_cell(kpis, named_cells(workbook, f"kpi_{kpi_id}")[0].row).coordinate
    words = {status: text(f"status.{status}", "en") for status in ("on", "watch", "off", "no_data", "no_target")}
    for value, expected in cases.items():
        got = _evaluate(formula, {f"C{row}": value, f"D{row}": target, tolerance: 0.25})
        assert got == words[expected or "no_data"], (kpi_id, value)
    assert _evaluate(formula, {f"C{row}": 10, f"D{row}": "", tolerance: 0.25}) == words["no_target"]
    # the tolerance typed in the sheet is the one used: at 50 %, `wider` is on the band's edge
    assert _evaluate(formula, {f"C{row}": wider, f"D{row}": target, tolerance: 0.5}) == words["watch"]
    assert _evaluate(formula, {f"C{row}": wider, f"D{row}": target, tolerance: 0.25}) == words["off"]
