"""The workbook round trip through the real CLI: a person types into the generated workbook (values,
notes per month, targets, tolerances), and compute, report, template and template --update give every
bit of it back; nothing is replaced or dropped silently."""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from kpireport.cli import cli
from kpireport.months import Month
from kpireport.template import named_cells

from .libreoffice import recalculate

CONFIG = """\
title: Round trip
locale: en
owners: {claire: {name: Claire, email: claire@example.com}}
inputs:
  delivered: {aggregate: sum}
  opened: {aggregate: sum}
  days: {aggregate: mean}
kpis:
  open_rate: {formula: opened / delivered, format: percent, target: 0.25, tolerance: 0.1, owner: claire}
  opens: {formula: opened, target: 200, owner: claire}
  cycle: {formula: days, target: 30, direction: down}
sources:
  - {path: emails.csv, date: month}
"""
EXPORT = {"2026-01": (1000, 250), "2026-02": (1000, 240), "2026-03": (1000, 236), "2026-04": (1000, 260)}
JAN, FEB, MAR, APR, MAY = (Month(2026, m) for m in range(1, 6))


def run(*args: object):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, [str(a) for a in args])


def project(tmp_path: Path) -> tuple[Path, Path]:
    """A config, the export it reads, and the workbook `template` pre-filled from it."""
    config = tmp_path / "kpireport.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    lines = ["month,delivered,opened"] + [f"{m},{d},{o}" for m, (d, o) in EXPORT.items()]
    (tmp_path / "emails.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    workbook = tmp_path / "kpi-template.xlsx"
    result = run("template", config, "-o", workbook, "--year", "2026")
    assert result.exit_code == 0, result.output
    return config, workbook


def cell(workbook, name: str, month: Month | None = None):  # type: ignore[no-untyped-def]
    """The cell of a defined name for `month` (a one-cell name: its cell)."""
    cells = named_cells(workbook, name)
    if month is None:
        return cells[0]
    months = [Month.of(c.value) for c in named_cells(workbook, "months")]
    return cells[months.index(month)]


def type_like_a_person(path: Path) -> None:
    """What a team does in a month: corrects an exported figure, fills a month the exports lack,
    writes notes, moves a target, clears another, narrows a tolerance."""
    workbook = load_workbook(path)
    cell(workbook, "in_opened", JAN).value = 262  # the export said 250: corrected by hand
    cell(workbook, "in_delivered", MAY).value = 1000  # no export yet: typed
    cell(workbook, "in_opened", MAY).value = 300
    cell(workbook, "note_opened", MAR).value = "Subject line test on the 12th"
    cell(workbook, "note_opened", APR).value = "Holiday week"
    cell(workbook, "target_open_rate", MAR).value = 0.24  # the config says 0.25
    cell(workbook, "target_open_rate", FEB).value = None  # no target this month
    cell(workbook, "tol_open_rate").value = 0.01  # the config says 0.1
    cell(workbook, "in_days", JAN).value = 20  # a mean: 3 deals of 20 days, then 1 of 40
    cell(workbook, "rows_days", JAN).value = 3
    cell(workbook, "in_days", FEB).value = 40
    cell(workbook, "rows_days", FEB).value = 1
    workbook.save(path)


def rows_of(result) -> dict[tuple[str, str], dict]:  # type: ignore[no-untyped-def,type-arg]
    assert result.exit_code == 0, result.output
    return {(row["kpi"], row["month"]): row for row in json.loads(result.stdout)["rows"]}


def check_typed_values_are_used(rows: dict) -> None:  # type: ignore[type-arg]
    assert rows[("open_rate", "2026-01")]["value"] == pytest.approx(262 / 1000)  # the typed value wins
    assert rows[("open_rate", "2026-05")]["value"] == pytest.approx(300 / 1000)
    assert rows[("open_rate", "2026-02")]["target"] is None
    assert rows[("open_rate", "2026-02")]["status"] == "no_target"
    march = rows[("open_rate", "2026-03")]
    assert march["target"] == pytest.approx(0.24)
    # 0.236 against 0.24: within the config's 10 % (watch), beyond the typed 1 % (off)
    assert 0.24 * (1 - 0.1) <= 236 / 1000 < 0.24 * (1 - 0.01)
    assert march["status"] == "off"
    assert rows[("open_rate", "2026-04")]["target"] == pytest.approx(0.25)  # untouched: the config's
    assert rows[("cycle", "2026-02")]["ytd"] == pytest.approx((3 * 20 + 40) / 4)  # weighed by the typed rows


def test_everything_typed_comes_back_through_compute_report_and_update(tmp_path: Path) -> None:
    config, workbook = project(tmp_path)
    type_like_a_person(workbook)

    # the filled workbook beside the export it was pre-filled from: no conflict, typed values win
    computed = run("compute", config, "--data", workbook, "--format", "json")
    check_typed_values_are_used(rows_of(computed))
    warnings = [line for line in computed.stderr.splitlines() if line.startswith("warning:")]
    assert f"warning: {workbook}: 'opened' for 2026-01 is 262 in the template and 250 in " \
           f"{tmp_path / 'emails.csv'}: the template's value is used" in warnings
    differ = next(line for line in warnings if "'open_rate' differs from the config" in line)
    assert "2026-02: the workbook's no target is used (the config says 0.25)" in differ
    assert "2026-03: the workbook's 0.24 is used (the config says 0.25)" in differ
    assert "tolerance: the workbook's 0.01 is used (the config says 0.1)" in differ
    assert len(warnings) == 2  # the other pre-filled values equal the export's: not a conflict

    # the review of March shows March's note, not April's
    html = tmp_path / "review.html"
    reported = run("report", config, "--data", workbook, "--month", "2026-03", "-o", tmp_path / "r.pdf",
                   "--html", html)
    assert reported.exit_code == 0, reported.output
    page = html.read_text(encoding="utf-8")
    assert "Subject line test on the 12th" in page
    assert "Holiday week" not in page

    # a plain `template` would lose the typing: refused, naming the cells
    before = workbook.read_bytes()
    plain = run("template", config, "-o", workbook, "--year", "2026")
    assert plain.exit_code == 2
    for what in ("in_opened 2026-01: 262, would be 250", "note_opened 2026-03", "target_open_rate 2026-03: 0.24",
                 "target_open_rate 2026-02: None, would be 0.25", "tol_open_rate: 0.01", "--update"):
        assert what in plain.output, what
    assert "Traceback" not in plain.output
    assert workbook.read_bytes() == before

    # --update rebuilds it: every value, note, target and tolerance typed is still there
    updated = run("template", config, "-o", workbook, "--year", "2026", "--update")
    assert updated.exit_code == 0, updated.output
    assert "kept the previous workbook" not in updated.output  # nothing dropped, no copy needed
    after = load_workbook(workbook)
    assert cell(after, "in_opened", JAN).value == 262
    assert cell(after, "in_opened", MAY).value == 300
    assert cell(after, "note_opened", MAR).value == "Subject line test on the 12th"
    assert cell(after, "note_opened", APR).value == "Holiday week"
    assert cell(after, "target_open_rate", MAR).value == pytest.approx(0.24)
    assert cell(after, "target_open_rate", FEB).value is None
    assert cell(after, "tol_open_rate").value == pytest.approx(0.01)
    assert cell(after, "rows_days", JAN).value == 3
    again = run("compute", config, "--data", workbook, "--format", "json")
    assert again.stdout == computed.stdout

    # the config's target changes: where nobody typed, the config's new target is used (with a
    # warning until --update writes it), the typed March stays
    config.write_text(CONFIG.replace("target: 0.25", "target: 0.3"), encoding="utf-8")
    changed = run("compute", config, "--data", workbook, "--format", "json")
    rows = rows_of(changed)
    assert rows[("open_rate", "2026-04")]["target"] == pytest.approx(0.3)
    assert rows[("open_rate", "2026-03")]["target"] == pytest.approx(0.24)
    assert "2026-04: the config's 0.3 is used (the workbook shows 0.25, written from an earlier config)" \
           in changed.stderr
    assert run("template", config, "-o", workbook, "--year", "2026", "--update").exit_code == 0
    assert cell(load_workbook(workbook), "target_open_rate", APR).value == pytest.approx(0.3)
    assert cell(load_workbook(workbook), "target_open_rate", MAR).value == pytest.approx(0.24)


def test_the_start_sheet_commands_run_as_written(tmp_path: Path, monkeypatch) -> None:
    _, workbook = project(tmp_path)
    type_like_a_person(workbook)
    start = load_workbook(workbook)["Start here"]
    commands = [c.value for row in start.iter_rows() for c in row
                if isinstance(c.value, str) and c.value.startswith("kpireport ")]
    assert len(commands) == 2
    monkeypatch.chdir(tmp_path)  # the config's folder, as the sheet says
    for command in commands:  # copied and pasted: the file names are already this workbook's and config's
        words = shlex.split(command)
        assert words[0] == "kpireport"
        result = CliRunner().invoke(cli, words[1:])
        assert result.exit_code == 0, (command, result.output)
    assert (tmp_path / "output" / "review-2026-05.pdf").exists()  # May: the last month, typed by hand
    assert cell(load_workbook(workbook), "in_opened", MAY).value == 300  # the update kept it


def test_an_open_or_read_only_workbook_is_not_replaced(tmp_path: Path) -> None:
    config, workbook = project(tmp_path)
    before = workbook.read_bytes()
    for lock in (f".~lock.{workbook.name}#", f"~${workbook.name}"):  # LibreOffice, Excel
        (tmp_path / lock).write_text("someone", encoding="utf-8")
        result = run("template", config, "-o", workbook, "--year", "2026", "--force")
        assert result.exit_code == 2
        assert f"error: {workbook}: the workbook is open in a spreadsheet ({lock} beside it): close it first" \
               in result.output
        (tmp_path / lock).unlink()
    assert workbook.read_bytes() == before
    os.chmod(workbook, 0o444)
    try:
        result = run("template", config, "-o", workbook, "--year", "2026", "--update")
        assert result.exit_code == 2
        assert "this workbook is read-only; it is left untouched" in result.output
        assert workbook.read_bytes() == before
    finally:
        os.chmod(workbook, 0o640)
    assert run("template", config, "-o", workbook, "--year", "2026", "--update").exit_code == 0
    assert stat.S_IMODE(workbook.stat().st_mode) == 0o640  # the mode is kept


def test_sheets_and_rows_a_person_added_are_never_dropped_silently(tmp_path: Path) -> None:
    config, workbook = project(tmp_path)
    book = load_workbook(workbook)
    book.create_sheet("Budget")["A1"] = "my own numbers"
    book.save(workbook)
    before = workbook.read_bytes()
    for extra in ([], ["--update"]):
        result = run("template", config, "-o", workbook, "--year", "2026", *extra)
        assert result.exit_code == 2
        assert "Budget" in result.output
        assert workbook.read_bytes() == before
    book = load_workbook(workbook)
    del book["Budget"]
    inputs = book["Inputs"]
    inputs.cell(inputs.max_row + 2, 1, "Call with the agency: figures late")
    cell(book, "in_opened", FEB).value = "=200+40"  # a typed formula: the new workbook keeps its value only
    book.save(workbook)
    recalculate(workbook, tmp_path / "saved").replace(workbook)  # saved by a spreadsheet: with the formula's value
    plain = run("template", config, "-o", workbook, "--year", "2026")
    assert plain.exit_code == 2
    assert "Call with the agency" in plain.output
    updated = run("template", config, "-o", workbook, "--year", "2026", "--update")
    assert updated.exit_code == 0, updated.output
    backups = sorted(tmp_path.glob("kpi-template.bak-*.xlsx"))
    assert len(backups) == 1
    assert f"kept the previous workbook as {backups[0]}" in updated.output
    assert "'Call with the agency: figures late', which kpireport did not write" in updated.output
    assert "typed formula in input opened 2026-02 (=200+40)" in updated.output
    kept = load_workbook(backups[0])
    assert any(c.value == "Call with the agency: figures late" for row in kept["Inputs"].iter_rows() for c in row)


def test_a_note_from_a_workbook_made_before_notes_were_per_month(tmp_path: Path) -> None:
    config, workbook = project(tmp_path)
    book = load_workbook(workbook)
    first = cell(book, "note_opened", JAN)
    first.value = "New CRM since January"
    book.defined_names["note_opened"].attr_text = f"'Inputs'!${first.column_letter}${first.row}"  # one cell
    book.save(workbook)
    html = tmp_path / "r.html"
    for month in ("2026-02", "2026-04"):  # about every month, as it was then
        result = run("report", config, "--data", workbook, "--month", month, "-o", tmp_path / "r.pdf", "--html", html)
        assert result.exit_code == 0, result.output
        assert "New CRM since January" in html.read_text(encoding="utf-8")
    updated = run("template", config, "-o", workbook, "--year", "2026", "--update")
    assert updated.exit_code == 0, updated.output
    assert "is now the note of 2026-04" in updated.output  # the last month with a value
    assert cell(load_workbook(workbook), "note_opened", APR).value == "New CRM since January"


def test_a_workbook_saved_by_libreoffice_comes_back_whole(tmp_path: Path) -> None:
    """Typed, then opened and saved as xlsx by LibreOffice: names, the hidden record, notes survive."""
    config, workbook = project(tmp_path)
    type_like_a_person(workbook)
    saved = recalculate(workbook, tmp_path / "saved")
    computed = run("compute", config, "--data", saved, "--format", "json")
    check_typed_values_are_used(rows_of(computed))
    assert "written from an earlier config" not in computed.stderr  # the record survived
    html = tmp_path / "review.html"
    reported = run("report", config, "--data", saved, "--month", "2026-03", "-o", tmp_path / "r.pdf", "--html", html)
    assert reported.exit_code == 0, reported.output
    assert "Subject line test on the 12th" in html.read_text(encoding="utf-8")


def kpi_values(path: Path, kpi: str) -> dict[Month, object]:
    """What the spreadsheet computed in a KPI's row: a number, or "" for no value."""
    book = load_workbook(path, data_only=True)
    months = [Month.of(c.value) for c in named_cells(book, "months")]
    return dict(zip(months, (c.value for c in named_cells(book, f"kpi_{kpi}")), strict=True))


def test_numbers_typed_as_text_read_alike_in_the_recalculated_workbook_and_compute(tmp_path: Path) -> None:
    config, workbook = project(tmp_path)
    book = load_workbook(workbook)
    pasted = cell(book, "in_opened", MAR)  # the export says 236: pasted over as text
    pasted.value = "236"
    cell(book, "in_delivered", MAY).value = "1 000"  # French thousands, pasted as text
    cell(book, "in_opened", MAY).value = 300
    cell(book, "in_days", APR).value = "48,7"  # a French decimal, as text
    cell(book, "in_days", MAR).value = 25  # a number: March's review has a KPI with a value
    book.save(workbook)
    inputs = load_workbook(workbook)["Inputs"]
    rules = {rule.formula[0]: str(area.sqref) for area in inputs.conditional_formatting for rule in area.rules}
    assert f"ISTEXT(D{pasted.row})" in rules  # the cell turns red, in any spreadsheet
    assert pasted.coordinate in rules_cells(rules[f"ISTEXT(D{pasted.row})"])

    recalculated = recalculate(workbook, tmp_path / "lo")
    computed = rows_of(run("compute", config, "--data", recalculated, "--format", "json"))
    for kpi in ("open_rate", "opens", "cycle"):
        in_sheet = kpi_values(recalculated, kpi)
        for month in (JAN, FEB, MAR, APR, MAY):
            value = computed[(kpi, str(month))]["value"]
            shown = in_sheet[month]
            if value is None:
                assert shown in ("", None), (kpi, month, shown)
            else:
                assert shown == pytest.approx(value), (kpi, month, shown)
    # the text cells are no value on both sides, the numbers beside them are read
    assert computed[("open_rate", "2026-03")]["value"] is None
    assert computed[("open_rate", "2026-05")]["value"] is None
    assert computed[("opens", "2026-05")]["value"] == 300
    assert computed[("cycle", "2026-04")]["value"] is None

    checked = run("validate", config, "--data", workbook)
    assert checked.exit_code == 0, checked.output
    assert f"Inputs!{pasted.coordinate}: '236' is text, not a number: retype it as a number" in checked.output
    assert checked.output.count("is text, not a number") == 3
    html = tmp_path / "r.html"
    reported = run("report", config, "--data", workbook, "--month", "2026-03", "-o", tmp_path / "r.pdf", "--html", html)
    assert reported.exit_code == 0, reported.output
    assert f"Inputs!{pasted.coordinate}: &#39;236&#39; is text, not a number: no value this month" \
           in html.read_text(encoding="utf-8")


def rules_cells(sqref: str) -> set[str]:
    from openpyxl.utils import get_column_letter
    from openpyxl.utils.cell import range_boundaries

    low_col, low_row, high_col, high_row = range_boundaries(sqref)
    return {f"{get_column_letter(c)}{r}" for c in range(low_col, high_col + 1) for r in range(low_row, high_row + 1)}


@pytest.mark.parametrize(("name", "typed", "message"), [
    ("tol_open_rate", 12, "the tolerance of 'open_rate' is 12: a margin is a share of the target, from 0 to 100 %"),
    ("tol_open_rate", -0.1, "the tolerance of 'open_rate' is -0.1"),
    ("target_open_rate", 12, "the target of 'open_rate' for 2026-03 is 12, that is 1200%: open_rate is a percentage"),
])
def test_a_percentage_typed_as_a_whole_number_is_refused_naming_its_cell(tmp_path: Path, name: str, typed: float,
                                                                          message: str) -> None:
    config, workbook = project(tmp_path)
    book = load_workbook(workbook)
    typed_cell = cell(book, name, MAR if name.startswith("target") else None)
    typed_cell.value = typed
    book.save(workbook)
    # the workbook refuses it as it is typed (data validation, as for the inputs)
    sheet = load_workbook(workbook)["KPIs"]
    rule = next(v for v in sheet.data_validations.dataValidation if typed_cell.coordinate in v.sqref)
    assert (rule.type, rule.operator, rule.showErrorMessage) == ("decimal", "between", True)
    assert not float(rule.formula1) <= typed <= float(rule.formula2)
    for command in ("validate", "compute"):
        result = run(command, config, "--data", workbook)
        assert result.exit_code == 2
        assert f"error: {workbook}: KPIs!{typed_cell.coordinate}: {message}" in result.output
        assert "Traceback" not in result.output


def test_a_percent_kpi_whose_config_targets_over_100_percent_takes_such_targets(tmp_path: Path) -> None:
    """An ROI of 300 %: the config's target says that this percentage goes past 1."""
    config, workbook = project(tmp_path)
    config.write_text(CONFIG.replace("target: 0.25", "target: 3"), encoding="utf-8")
    assert run("template", config, "-o", workbook, "--year", "2026", "--force").exit_code == 0
    book = load_workbook(workbook)
    cell(book, "target_open_rate", MAR).value = 4
    book.save(workbook)
    computed = rows_of(run("compute", config, "--data", workbook, "--format", "json"))
    assert computed[("open_rate", "2026-03")]["target"] == 4


def shift_month_columns(path: Path, sheet: str, month: Month, by: int) -> None:
    """As LibreOffice deletes `month`'s column (by=-1) or inserts one for it before the next month's
    (by=1) on one sheet: the cells move, and each defined name on that sheet shrinks over the column or
    grows with it, or moves with the cells (the hidden record, on a sheet of its own, stays as it was)."""
    from openpyxl.utils import get_column_letter, quote_sheetname
    from openpyxl.utils.cell import range_boundaries

    book = load_workbook(path)
    found = month if by < 0 else month + 1
    column = next(c for c in book[sheet][4] if isinstance(c.value, dt.date) and Month.of(c.value) == found).column
    if by < 0:
        book[sheet].delete_cols(column)
    else:
        book[sheet].insert_cols(column)
    for defined in book.defined_names.values():
        title, reference = next(iter(defined.destinations))
        if title != sheet:
            continue
        low, row, high, last_row = range_boundaries(reference.replace("$", ""))
        high += by if high >= column else 0
        low += by if low > column or (by > 0 and low == column) else 0
        span = f"${get_column_letter(low)}${row}" + (f":${get_column_letter(high)}${last_row}" if high > low else "")
        defined.attr_text = f"{quote_sheetname(title)}!{span}"
    if by > 0:  # a person typing the month back into the header of the column put back
        book[sheet].cell(4, column, month.first_day)
    book.save(path)


@pytest.mark.parametrize("sheet", ["Inputs", "KPIs"])
def test_a_month_column_deleted_on_one_sheet_stops_the_reading_until_it_is_put_back(tmp_path: Path,
                                                                                      sheet: str) -> None:
    config, workbook = project(tmp_path)
    book = load_workbook(workbook)
    cell(book, "target_open_rate", APR).value = 0.2  # the config says 0.25
    cell(book, "in_opened", APR).value = 270  # the export says 260
    book.save(workbook)
    shift_month_columns(workbook, sheet, MAR, -1)
    before = workbook.read_bytes()
    for command in (["compute", config, "--data", workbook], ["template", config, "-o", workbook, "--update"]):
        result = run(*command)
        assert result.exit_code == 2, result.output
        assert f"{sheet}: no column for 2026-03 (deleted?)" in result.output
        assert "insert a column where 2026-03 was and type 2026-03-01 in its month header" in result.output
        assert "Traceback" not in result.output
    assert workbook.read_bytes() == before  # never rebuilt from a shifted read
    assert not list(tmp_path.glob("*.bak-*"))

    shift_month_columns(workbook, sheet, MAR, 1)  # the column put back, its month typed in the header
    rows = rows_of(run("compute", config, "--data", workbook, "--format", "json"))
    assert rows[("open_rate", "2026-04")]["target"] == pytest.approx(0.2)  # April's, not March's
    # the target cell put back is empty: no target that month (warned), until retyped
    assert rows[("open_rate", "2026-03")]["target"] == (pytest.approx(0.25) if sheet == "Inputs" else None)
    assert rows[("open_rate", "2026-04")]["value"] == pytest.approx(0.27)
    updated = run("template", config, "-o", workbook, "--year", "2026", "--update")
    assert updated.exit_code == 0, updated.output
    assert cell(load_workbook(workbook), "target_open_rate", APR).value == pytest.approx(0.2)


def test_a_column_inserted_among_the_months_is_named_not_read_as_a_month(tmp_path: Path) -> None:
    config, workbook = project(tmp_path)
    shift_month_columns(workbook, "Inputs", MAR, 1)
    book = load_workbook(workbook)
    inserted = next(c for c in book["Inputs"][4] if isinstance(c.value, dt.date) and Month.of(c.value) == MAR)
    inserted.value = "Q1 total"  # the column a person added, with a header of their own
    book.save(workbook)
    result = run("compute", config, "--data", workbook)
    assert result.exit_code == 2
    assert f"Inputs: column {inserted.column_letter} holds no month (an inserted column?)" in result.output
    assert "move what it holds elsewhere and delete it" in result.output


def test_a_formula_without_a_saved_value_is_said_and_never_emptied(tmp_path: Path) -> None:
    """A script (openpyxl) writes formulas without computing them: the file holds no value for them."""
    config, workbook = project(tmp_path)
    book = load_workbook(workbook)
    typed = cell(book, "in_opened", MAR)
    typed.value = "=200+50"  # the export says 236
    target = cell(book, "target_open_rate", APR)
    target.value = "=0.2+0.01"
    book.save(workbook)
    computed = run("compute", config, "--data", workbook, "--format", "json")
    rows = rows_of(computed)
    assert rows[("open_rate", "2026-03")]["value"] is None  # neither the export's 236 nor a guess
    assert f"Inputs!{typed.coordinate}: the formula '=200+50' has no saved value: 'opened' has no value for " \
           f"2026-03, over the 236 of {tmp_path / 'emails.csv'}" in computed.stderr
    assert f"KPIs!{target.coordinate}: the formula '=0.2+0.01' has no saved value: 'open_rate' has no target " \
           "for 2026-04 until then" in computed.stderr
    assert "open the workbook in Excel or LibreOffice and save it" in computed.stderr

    before = workbook.read_bytes()
    updated = run("template", config, "-o", workbook, "--year", "2026", "--update")
    assert updated.exit_code == 2
    assert f"Inputs!{typed.coordinate}: the formula '=200+50' has no saved value (and 1 more cell like it): " \
           "rebuilt, the cell would come back empty; the workbook is left untouched" in updated.output
    assert workbook.read_bytes() == before
    assert not list(tmp_path.glob("*.bak-*"))

    recalculate(workbook, tmp_path / "saved").replace(workbook)  # opened and saved in a spreadsheet
    rows = rows_of(run("compute", config, "--data", workbook, "--format", "json"))
    assert rows[("open_rate", "2026-03")]["value"] == pytest.approx(0.25)
    assert rows[("open_rate", "2026-04")]["target"] == pytest.approx(0.21)
    updated = run("template", config, "-o", workbook, "--year", "2026", "--update")
    assert updated.exit_code == 0, updated.output
    after = load_workbook(workbook)
    assert cell(after, "in_opened", MAR).value == 250
    assert cell(after, "target_open_rate", APR).value == pytest.approx(0.21)


def test_a_no_value_mark_typed_over_an_export_means_no_value_as_in_the_workbook(tmp_path: Path) -> None:
    config, workbook = project(tmp_path)
    book = load_workbook(workbook)
    marked = cell(book, "in_opened", MAR)
    marked.value = "n/a"  # the export says 236
    cell(book, "in_delivered", APR).value = "—"
    cell(book, "in_opened", MAY).value = "-"  # no export for May: nothing to override, nothing to say
    cell(book, "in_opened", FEB).value = None  # an emptied cell still means "use the export"
    book.save(workbook)
    computed = run("compute", config, "--data", workbook, "--format", "json")
    rows = rows_of(computed)
    assert rows[("open_rate", "2026-03")]["value"] is None
    assert rows[("open_rate", "2026-04")]["value"] is None
    assert rows[("open_rate", "2026-02")]["value"] == pytest.approx(0.24)
    assert f"Inputs!{marked.coordinate}: 'n/a' means no value: 'opened' has no value for 2026-03, over the 236 " \
           f"of {tmp_path / 'emails.csv'}" in computed.stderr
    assert "'delivered' has no value for 2026-04, over the 1000" in computed.stderr
    assert "2026-05" not in computed.stderr
    assert "empty the cell to use the export's value instead" in computed.stderr

    # the LibreOffice-recalculated workbook agrees: no value in those months
    shown = kpi_values(recalculate(workbook, tmp_path / "lo"), "open_rate")
    assert {shown[MAR], shown[APR]} <= {"", None}
    updated = run("template", config, "-o", workbook, "--year", "2026", "--update")
    assert updated.exit_code == 0, updated.output
    assert cell(load_workbook(workbook), "in_opened", MAR).value == "n/a"  # kept: the export is not written back
    assert rows_of(run("compute", config, "--data", workbook, "--format", "json")) == rows


def test_a_renamed_sheet_is_recognised_and_force_keeps_a_copy_of_what_it_replaces(tmp_path: Path) -> None:
    config, workbook = project(tmp_path)
    assert run("template", config, "-o", workbook, "--year", "2026", "--force").exit_code == 0
    assert not list(tmp_path.glob("*.bak-*"))  # nothing typed, nothing to keep
    type_like_a_person(workbook)
    book = load_workbook(workbook)
    book["Inputs"].title = "Figures"
    for defined in book.defined_names.values():  # as a spreadsheet renames a sheet: its names follow
        defined.attr_text = defined.attr_text.replace("'Inputs'!", "'Figures'!")
    book.save(workbook)
    assert rows_of(run("compute", config, "--data", workbook, "--format", "json"))  # read by its names
    before = workbook.read_bytes()
    for extra in ([], ["--update"]):
        result = run("template", config, "-o", workbook, "--year", "2026", *extra)
        assert result.exit_code == 2
        assert "sheet 'Figures' is kpireport's 'Inputs' renamed (its defined names point there); it is left " \
               "untouched" in result.output
        assert "rename it back to 'Inputs'" in result.output
        assert workbook.read_bytes() == before

    forced = run("template", config, "-o", workbook, "--year", "2026", "--force")
    assert forced.exit_code == 0, forced.output
    backups = list(tmp_path.glob("kpi-template.bak-*.xlsx"))
    assert len(backups) == 1
    assert backups[0].read_bytes() == before
    assert f"kept the previous workbook as {backups[0]}" in forced.output
    assert "--force replaced what the previous workbook held in" in forced.output
    assert "sheet 'Figures' (kpireport's 'Inputs' renamed)" in forced.output
    assert "(in_opened 2026-01: 262, would be 250.0)" in forced.output


def test_a_tolerance_that_is_no_number_is_named_by_its_cell_with_a_tolerances_hint(tmp_path: Path) -> None:
    config, workbook = project(tmp_path)
    book = load_workbook(workbook)
    tolerance = cell(book, "tol_open_rate")
    tolerance.value = "10%"  # text, not the percentage the cell's format would make of 0.1
    book.save(workbook)
    result = run("compute", config, "--data", workbook)
    assert result.exit_code == 2
    assert f"error: {workbook}: KPIs!{tolerance.coordinate}: the tolerance of 'open_rate': '10%' is not a number" \
           in result.output
    assert "or empty it (no margin)" in result.output
    assert "no target" not in result.output


def test_comments_people_leave_on_the_cells_follow_them_through_template_and_update(tmp_path: Path) -> None:
    """A LibreOffice comment on an input cell vanished after --update, and after a plain `template`,
    which promises to replace a workbook only when nothing would be lost."""
    from openpyxl.comments import Comment

    config, workbook = project(tmp_path)
    book = load_workbook(workbook)
    cell(book, "in_opened", FEB).comment = Comment("Campaign resent on the 14th", "Claire")
    cell(book, "target_opens", MAR).comment = Comment("Agreed with Marc", "Claire")
    book.save(workbook)
    plain = run("template", config, "-o", workbook, "--year", "2026")  # comments on kpireport's cells: kept
    assert plain.exit_code == 0, plain.output
    rebuilt = load_workbook(workbook)
    assert cell(rebuilt, "in_opened", FEB).comment.text == "Campaign resent on the 14th"
    assert cell(rebuilt, "target_opens", MAR).comment.text == "Agreed with Marc"
    assert cell(rebuilt, "in_opened", JAN).comment is None
    rebuilt["Inputs"]["A1"].comment = Comment("Ask IT about the export", "Claire")  # a cell kpireport rebuilds
    rebuilt.save(workbook)
    before = workbook.read_bytes()
    refused = run("template", config, "-o", workbook, "--year", "2026")
    assert refused.exit_code == 2
    assert "Inputs!A1 (a comment: 'Ask IT about the export'" in refused.output
    assert workbook.read_bytes() == before
    updated = run("template", config, "-o", workbook, "--year", "2026", "--update")
    assert updated.exit_code == 0, updated.output
    assert "Inputs!A1 (a comment" in updated.output
    backups = sorted(tmp_path.glob("kpi-template.bak-*.xlsx"))
    assert len(backups) == 1
    assert load_workbook(backups[0])["Inputs"]["A1"].comment.text == "Ask IT about the export"
    after = load_workbook(workbook)
    assert cell(after, "in_opened", FEB).comment.text == "Campaign resent on the 14th"
    assert cell(after, "target_opens", MAR).comment.text == "Agreed with Marc"


def test_text_written_outside_the_cells_to_fill_is_never_dropped_without_a_word(tmp_path: Path) -> None:
    """After unprotecting a sheet, a line beside the inputs and one on the dashboard were dropped by
    `template` and `--update` alike, exit 0, no copy kept."""
    config, workbook = project(tmp_path)
    book = load_workbook(workbook)
    inputs = book["Inputs"]
    free = inputs.cell(cell(book, "in_opened", JAN).row, inputs.max_column + 2, "ask Karim for March")
    book["Dashboard"]["H30"] = "Q2 review on 12 May"
    book.save(workbook)
    before = workbook.read_bytes()
    refused = run("template", config, "-o", workbook, "--year", "2026")
    assert refused.exit_code == 2
    for where in (f"Inputs!{free.coordinate}", "Dashboard!H30"):
        assert where in refused.output
    assert workbook.read_bytes() == before
    updated = run("template", config, "-o", workbook, "--year", "2026", "--update")
    assert updated.exit_code == 0, updated.output
    assert "'Q2 review on 12 May', which kpireport did not write" in updated.output
    backup = load_workbook(next(tmp_path.glob("kpi-template.bak-*.xlsx")))
    assert backup["Dashboard"]["H30"].value == "Q2 review on 12 May"
    # rebuilt untouched from the same data, a workbook is simply written again: nothing to say
    assert run("template", config, "-o", workbook, "--year", "2026").exit_code == 0


def test_a_percentage_typed_in_a_count_cell_by_a_spreadsheet_is_refused_naming_its_cell(tmp_path: Path) -> None:
    """'12%' typed in LibreOffice into a count cell is stored as 0.12 with a percent format: it was read
    as 0.12 opens (an open rate of 0.00001), with no word when no export had that month."""
    config, workbook = project(tmp_path)
    book = load_workbook(workbook)
    typed = cell(book, "in_opened", MAY)
    typed.value, typed.number_format = 0.12, "0%"  # what the spreadsheet saves
    rate = cell(book, "in_days", MAY)  # a mean of days: a figure as it is, in its own format
    rate.value = 12.5
    book.save(workbook)
    result = run("compute", config, "--data", workbook)
    assert result.exit_code == 2
    assert f"Inputs!{typed.coordinate}: opened for 2026-05: '12 %' is a percentage where a count is expected" \
        in result.output
