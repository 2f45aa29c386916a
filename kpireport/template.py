"""The template file on disk: never lose what people typed. An existing workbook with typed values is
only replaced with --update (its values and notes carried to the same input and month) or --force."""

from __future__ import annotations

import datetime as dt
import errno
import io
import math
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openpyxl import load_workbook
from openpyxl.comments import Comment
from openpyxl.formula.tokenizer import TokenizerError
from openpyxl.utils.exceptions import InvalidFileException

from .config import Config
from .engine import Notes, RowCounts
from .errors import DataError, KpiReportError, clipped, counted
from .files import atomic_path, safe_name
from .months import Month, month_range
from .tables import TEMPLATE_PART_BYTES, check_workbook, is_ole, xml_error_in
from .workbook import Targets, Tolerances, Values, build_workbook, percent_bounded, sheet_months

if TYPE_CHECKING:
    from .team import Stamp


@dataclass
class TypedValues:
    """What a filled template holds, read by its defined names (never by position)."""

    values: dict[str, dict[Month, float | str]] = field(default_factory=dict)
    # input id -> month -> note; month None: the one note cell of a workbook made before notes were per month
    notes: dict[str, dict[Month | None, str]] = field(default_factory=dict)
    targets: dict[str, dict[Month, float | None]] = field(default_factory=dict)  # typed over the config's
    tolerances: dict[str, float] = field(default_factory=dict)
    rows: dict[str, dict[Month, int]] = field(default_factory=dict)  # a mean input's row counts
    formulas: list[str] = field(default_factory=list)  # input cells holding a typed formula, as "input month"
    dropped_targets: list[str] = field(default_factory=list)  # typed targets of KPIs the config no longer has
    stamp: Stamp | None = None  # an owner's workbook (template --per owner): what it was made for

    def count(self) -> int:
        return (sum(len(series) for series in self.values.values())
                + sum(len(notes) for notes in self.notes.values()))


def named_cells(workbook, name: str):  # type: ignore[no-untyped-def]
    """The cells a workbook-level defined name points at, in order (empty if the name is broken)."""
    try:
        return _cells(workbook, name)
    except _BrokenNameError:
        return []


class _BrokenNameError(Exception):
    """A defined name that points nowhere (its row or sheet deleted, its sheet renamed)."""


def _cells(workbook, name: str):  # type: ignore[no-untyped-def]
    defined = workbook.defined_names.get(name)
    if defined is None:
        raise _BrokenNameError(f"the workbook has no name '{name}'")
    cells = []
    try:
        destinations = list(defined.destinations)
    except (TokenizerError, ValueError):  # a mangled reference
        destinations = []
    if not destinations:
        raise _BrokenNameError(f"the name '{name}' points nowhere ({defined.attr_text}): its row or "
                               "column was deleted")
    for title, reference in destinations:
        if title not in workbook.sheetnames:
            raise _BrokenNameError(f"the name '{name}' points at the sheet '{title}', which the workbook "
                                   "no longer has (deleted or renamed by a tool that left the name behind)")
        try:
            found = workbook[title][reference]
        except (ValueError, KeyError, IndexError, TypeError):
            raise _BrokenNameError(f"the name '{name}' points nowhere ({defined.attr_text}): its row or "
                                   "column was deleted") from None
        rows = found if isinstance(found, tuple) else ((found,),)
        for row in rows:
            cells.extend(row if isinstance(row, tuple) else (row,))
    return cells


_REBUILD_HINT = ("undo the change in the workbook (restore the row or the sheet's name), or build a new template "
                 "with 'kpireport template' and copy the values over")


def checked_cells(workbook, name: str, file: str):  # type: ignore[no-untyped-def]
    """The cells of a name the template must have, or a DataError saying how it broke."""
    try:
        return _cells(workbook, name)
    except _BrokenNameError as exc:
        raise DataError(f"the template is damaged: {exc}", file=file, hint=_REBUILD_HINT) from None


# the names of ranges holding one cell per month, each read in line with `months` (the record's too)
MONTH_INDEXED = ("in_", "note_", "rows_", "kpi_", "target_", "wrote_target_")


def header_months(workbook, file: str) -> list[Month]:  # type: ignore[no-untyped-def]
    """The workbook's months (the `months` header), once sure that every range read month by month
    still has one cell per month, in order, under its own sheet's month header: a month column
    deleted, inserted or moved on one sheet would pair what was typed with the wrong months."""
    header = checked_cells(workbook, "months", file)
    lines = [(header, [_month_in(c.value) for c in header])]
    header_rows: dict[str, int | None] = {header[0].parent.title: header[0].row} if header else {}
    recorded = []
    for name in list(workbook.defined_names):
        if not name.startswith(MONTH_INDEXED):
            continue
        cells = named_cells(workbook, name)  # a broken name is reported where it is read
        if name.startswith("wrote_"):  # the hidden record has no header: one cell per month written
            recorded.append(len(cells))
        elif cells and (len(cells) > 1 or not name.startswith("note_")):  # one note: from before notes were per month
            sheet = cells[0].parent
            if sheet.title not in header_rows:
                header_rows[sheet.title] = _header_row(sheet, cells)
            row = header_rows[sheet.title]
            lines.append((cells, [None if row is None else _month_in(sheet.cell(row, c.column).value)
                                  for c in cells]))
    found = [month for _, line in lines for month in line if month is not None]
    if not found:
        raise DataError("the template is damaged: its month header (row 4) holds no month", file=file,
                        hint=_REBUILD_HINT)
    months = month_range(min(found), max(found))
    problems: dict[str, list[str]] = {}  # sheet -> what no longer lines up there
    lost: set[Month] = set()  # months with no column on some sheet
    for cells, line in lines:
        said = problems.setdefault(cells[0].parent.title, [])
        said += [problem for problem in _misaligned(cells, line, months) if problem not in said]
        lost |= set(months) - set(line)
    if any(count != len(months) for count in recorded):
        problems.setdefault(header[0].parent.title, []).append(
            "a month column at the start or the end of the period is missing (deleted?)")
    problems = {sheet: said for sheet, said in problems.items() if said}
    if problems:
        first = min(lost, default=None)
        repair = (f"or insert a column where {first} was and type {first.first_day} in its month header, then run "
                  "'kpireport template --update' to rebuild the formulas" if first is not None else
                  "a column you added: move what it holds elsewhere and delete it")
        raise DataError(
            "the month columns no longer line up with what kpireport wrote: "
            + "; ".join(f"{sheet}: {', '.join(said)}" for sheet, said in problems.items())
            + "; each typed cell is read by its column's month, so nothing is read rather than figures given to "
              "the wrong months", file=file, hint=f"undo the change (or take the copy from before it); {repair}")
    return months


def _month_in(value: object) -> Month | None:
    return Month.of(value) if isinstance(value, dt.date) else None


def _header_row(sheet, cells) -> int | None:  # type: ignore[no-untyped-def]
    """The row of the month header above a range of another sheet than `months`' (the KPI sheet's)."""
    for row in range(cells[0].row - 1, 0, -1):
        if any(isinstance(sheet.cell(row, c.column).value, dt.date) for c in cells):
            return row
    return None


def _misaligned(cells, line: list[Month | None], months: list[Month]) -> list[str]:  # type: ignore[no-untyped-def]
    """What keeps a range's cells (`line`: the month above each) from being the months one by one."""
    if line == months:
        return []
    if all(month is None for month in line):
        return [f"no month header above {cells[0].coordinate}"]
    problems = [f"column {c.column_letter} holds no month (an inserted column?)"
                for c, month in zip(cells, line, strict=True) if month is None]
    columns: dict[Month, list[str]] = {}
    for c, month in zip(cells, line, strict=True):
        if month is not None:
            columns.setdefault(month, []).append(c.column_letter)
    problems += [f"{month} twice (columns {' and '.join(letters)})" for month, letters in columns.items()
                 if len(letters) > 1]
    missing = [str(month) for month in months if month not in columns]
    if missing:
        problems.append(f"no column for {', '.join(missing)} (deleted?)")
    return problems or ["the months are out of order (a column moved?)"]


@dataclass(frozen=True)
class UnsavedFormula:
    """An editable cell holding a formula that no spreadsheet has computed yet: a program that does not
    compute formulas (an openpyxl script) wrote it, so the file holds no value to read for it."""

    name: str  # the cell's defined name
    index: int  # its place in the name's cells (a month's, in line with `months`)
    where: str  # Saisie!G13
    formula: str

    def said(self) -> str:
        return f"{self.where}: the formula '{clipped(self.formula)}' has no saved value"


UNSAVED_HINT = ("open the workbook in Excel or LibreOffice and save it (they compute the formula and save its "
                "value), or type the number instead")


def unsaved_formulas(formulas, values) -> list[UnsavedFormula]:  # type: ignore[no-untyped-def]
    """The editable cells of a workbook (`formulas`: loaded with its formulas, `values`: the same file
    with its saved values) that hold a formula without a saved value."""
    found = []
    for name in list(formulas.defined_names):
        if not name.startswith(EDITABLE):
            continue
        saved = named_cells(values, name)
        for index, cell in enumerate(named_cells(formulas, name)):
            if isinstance(cell.value, str) and cell.value.startswith("=") and index < len(saved) \
                    and saved[index].value is None:
                found.append(UnsavedFormula(name, index, f"{cell.parent.title}!{cell.coordinate}", cell.value))
    return found


def holds_formulas(workbook) -> bool:  # type: ignore[no-untyped-def]
    """Whether a person typed a formula into an editable cell (the template writes none there)."""
    return any(isinstance(cell.value, str) and cell.value.startswith("=")
               for name in list(workbook.defined_names) if name.startswith(EDITABLE)
               for cell in named_cells(workbook, name))


def read_notes(workbook, months: list[Month | None]) -> dict[str, dict[Month | None, str]]:  # type: ignore[no-untyped-def]
    """input id -> month -> note. A workbook made before notes were per month has one cell per input:
    its note is under the month None (it is about every month)."""
    notes: dict[str, dict[Month | None, str]] = {}
    for name in list(workbook.defined_names):
        if not name.startswith("note_"):
            continue
        cells = named_cells(workbook, name)
        if len(cells) == 1 and len(months) > 1:
            pairs: list[tuple[Month | None, object]] = [(None, cells[0].value)]
        else:
            pairs = [(month, cell.value) for month, cell in zip(months, cells, strict=False) if month is not None]
        found = {month: str(value).strip() for month, value in pairs if value is not None and str(value).strip()}
        if found:
            notes[name[5:]] = found
    return notes


def _number(cell, file: str, what: str, empty: str = "no target") -> float | None:  # type: ignore[no-untyped-def]
    """A target's or tolerance's cell as a number (None: empty); `empty` says what an empty cell means."""
    value = cell.value
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise DataError(f"{cell.parent.title}!{cell.coordinate}: {what}: '{clipped(value)}' is not a number", file=file,
                    hint=f"type a number in the cell, or empty it ({empty})")


def _out_of_range(cell, file: str, message: str, hint: str) -> DataError:  # type: ignore[no-untyped-def]
    """A target or tolerance a person typed on the wrong scale, named by its sheet and cell."""
    return DataError(f"{cell.parent.title}!{cell.coordinate}: {message}", file=file, hint=hint)


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _shown(value: float | None) -> str:
    return "no target" if value is None else f"{value:g}"


def typed_targets(workbook, months: list[Month | None], config: Config, file: str,  # type: ignore[no-untyped-def]
                  shares: bool = True) -> tuple[dict[str, dict[Month, float | None]], dict[str, float], list[str]]:
    """The targets and tolerances a person typed in the workbook, and a warning per KPI that differs.
    A yearly or quarterly target's shares are read as they stand (`shares`: also those left as
    kpireport wrote them, which a rebuild computes afresh from the data).

    The rule: a cell that differs from what kpireport wrote there (its hidden record; for a workbook
    made before the record, the config's value) was typed by a person and wins over the config for
    that month; a cell still holding what an earlier config wrote gives way to the config. Every
    disagreement with the config is warned about, naming the KPI, the month and both values."""
    targets: dict[str, dict[Month, float | None]] = {}
    tolerances: dict[str, float] = {}
    warnings: list[str] = []
    for kpi in config.kpis.values():
        cells, wrote = named_cells(workbook, f"target_{kpi.id}"), named_cells(workbook, f"wrote_target_{kpi.id}")
        lines = []
        for index, (month, cell) in enumerate(zip(months, cells, strict=False)):
            if month is None:
                continue
            value = _number(cell, file, f"the target of '{kpi.id}' for {month}")
            if kpi.target.period is not None:  # the month's share as written (or typed): the workbook's
                recorded = _number(wrote[index], file, "the record") if index < len(wrote) else None
                if shares or not _same(value, recorded):
                    targets.setdefault(kpi.id, {})[month] = value
                if not _same(value, recorded):
                    lines.append(f"{month}: the workbook's {_shown(value)} is used (its share of the yearly target "
                                 f"was {_shown(recorded)})")
                continue
            ours = kpi.target.for_month(month)
            if _same(value, ours):
                continue
            written = _number(wrote[index], file, "the record") if index < len(wrote) else ours
            if wrote and _same(value, written):
                lines.append(f"{month}: the config's {_shown(ours)} is used (the workbook shows {_shown(value)}, "
                             "written from an earlier config)")
            else:
                if value is not None and abs(value) > 1 and percent_bounded(kpi):
                    raise _out_of_range(cell, file, f"the target of '{kpi.id}' for {month} is {value:g}, "
                                        f"that is {value:.0%}: {kpi.id} is a percentage",
                                        f"type {value:g} % (or {value / 100:g}); a target over 100 % goes in the "
                                        f"config (kpis.{kpi.id}.target)")
                targets.setdefault(kpi.id, {})[month] = value
                lines.append(f"{month}: the workbook's {_shown(value)} is used (the config says {_shown(ours)})")
        tolerance = named_cells(workbook, f"tol_{kpi.id}")
        if tolerance:
            value = _number(tolerance[0], file, f"the tolerance of '{kpi.id}'", "no margin") or 0.0
            wrote = named_cells(workbook, f"wrote_tol_{kpi.id}")
            written = _number(wrote[0], file, "the record") if wrote else kpi.tolerance
            if not _same(value, kpi.tolerance):
                if wrote and _same(value, written):
                    lines.append(f"tolerance: the config's {kpi.tolerance:g} is used (the workbook shows {value:g}, "
                                 "written from an earlier config)")
                else:
                    if not 0 <= value <= 1:
                        meant = f" ({value:g} % is {value / 100:g})" if 1 < value <= 100 else ""
                        raise _out_of_range(tolerance[0], file, f"the tolerance of '{kpi.id}' is {value:g}: a margin "
                                            "is a share of the target, from 0 to 100 %",
                                            f"type a percentage, e.g. 10 % (or 0.1){meant}")
                    tolerances[kpi.id] = value
                    lines.append(f"tolerance: the workbook's {value:g} is used (the config says {kpi.tolerance:g})")
        if lines:
            warnings.append(str(KpiReportError(
                f"'{kpi.id}' differs from the config: {'; '.join(lines)}", file=file,
                hint="a target or tolerance typed in the workbook wins; make the config and the workbook agree "
                     "('kpireport template --update' writes the config's values where nobody typed)")))
    return targets, tolerances, warnings


def read_typed(path: Path, config: Config | None = None) -> TypedValues | None:
    """The typed values of a kpireport template, or None when the workbook is not one; with `config`,
    the targets and tolerances typed over the config's too."""
    if is_ole(path):
        raise KpiReportError("this workbook is password-protected (encrypted), or an old .xls workbook; it is "
                             "left untouched", file=str(path),
                             hint="choose another output file (-o), or pass --force to replace it")
    try:
        check_workbook(path, TEMPLATE_PART_BYTES)
    except DataError as exc:
        raise DataError(f"{exc.message}; it is left untouched", file=str(path),
                        hint="choose another output file (-o), or pass --force to replace it") from None
    try:
        content = path.read_bytes()
        workbook = load_workbook(io.BytesIO(content), data_only=True)  # whatever its extension
        formulas = load_workbook(io.BytesIO(content))
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError, SyntaxError) as exc:
        what = ("it is damaged or cut short" if isinstance(exc, zipfile.BadZipFile)
                else "damaged or unsafe workbook: its XML cannot be read" if xml_error_in(exc)
                else f"cannot open it as a workbook ({exc.__class__.__name__})")
        raise DataError(f"{what}; it is left untouched", file=str(path),
                        hint="choose another output file (-o), or pass --force to replace it") from None
    if "months" not in workbook.defined_names:
        return None
    months = header_months(workbook, str(path))
    unsaved = unsaved_formulas(formulas, workbook)
    if unsaved:  # its value would be carried as empty: a target or a month's figure lost without a word
        more = f" (and {counted(len(unsaved) - 1, 'more cell')} like it)" if len(unsaved) > 1 else ""
        raise DataError(f"{unsaved[0].said()}{more}: rebuilt, the cell would come back empty; the workbook is "
                        "left untouched", file=str(path), hint=f"{UNSAVED_HINT}; then run the command again")
    typed = TypedValues()
    for name in workbook.defined_names:
        if name.startswith("in_"):
            cells = checked_cells(workbook, name, str(path))
            series = {month: cell.value for month, cell in zip(months, cells, strict=False)
                      if month is not None and cell.value not in (None, "")}
            for month, cell in zip(months, named_cells(formulas, name), strict=False):
                if month is not None and isinstance(cell.value, str) and cell.value.startswith("="):
                    typed.formulas.append(f"{name[3:]} {month} ({cell.value})")  # only its value is carried
            if series:
                typed.values[name[3:]] = series
        elif name.startswith("rows_"):
            counts = {month: int(cell.value) for month, cell in zip(months, named_cells(workbook, name), strict=False)
                      if month is not None and isinstance(cell.value, int | float) and cell.value > 0}
            if counts:
                typed.rows[name[5:]] = counts
    typed.notes = read_notes(workbook, months)
    from .team import Stamp  # team reads templates too: imported where needed

    typed.stamp = Stamp.read(formulas, str(path))
    if config is not None:
        typed.targets, typed.tolerances, _ = typed_targets(workbook, months, config, str(path), shares=False)
        for name in workbook.defined_names:
            kpi_id = name.removeprefix("target_")
            if name.startswith("target_") and kpi_id not in config.kpis:
                cells, wrote = named_cells(workbook, name), named_cells(workbook, f"wrote_{name}")
                typed_cells = [c for i, c in enumerate(cells) if c.value is not None
                               and (i >= len(wrote) or c.value != wrote[i].value)]
                if typed_cells:
                    typed.dropped_targets.append(kpi_id)
    return typed


@dataclass
class TemplateOutcome:
    path: Path
    months: list[Month]
    filled: int  # input cells holding a value
    carried: int = 0  # typed values, notes, targets and tolerances kept from the previous workbook (--update)
    not_carried: list[str] = field(default_factory=list)  # what could not be, and why
    moved: list[str] = field(default_factory=list)  # carried, but not to the same place
    backup: Path | None = None  # the previous workbook, kept because something of it was not carried


EDITABLE = ("in_", "rows_", "note_", "target_", "tol_")  # the names of the cells a person may change
SHOWN = 15  # differences listed one by one; past that, a count


def write_template(config: Config, path: Path, period: list[Month], values: Values, **options: Any) -> TemplateOutcome:
    """Build the template and write it atomically, without ever dropping typed values silently
    (the options are prepare_template's)."""
    prepared = prepare_template(config, path, period, values, **options)
    prepared.write()
    return prepared.outcome


@dataclass
class PreparedTemplate:
    """A workbook built and checked against the one it replaces, not yet written: several are
    prepared first, so that one refused leaves every file of the batch untouched."""

    outcome: TemplateOutcome
    content: bytes
    mode: int | None  # the replaced workbook's permissions, kept

    def write(self) -> None:
        path, backup = self.outcome.path, self.outcome.backup
        if backup is not None:
            shutil.copy2(path, backup)
        try:
            with atomic_path(path) as temporary:
                temporary.write_bytes(self.content)
                if self.mode is not None:
                    os.chmod(temporary, self.mode)  # the workbook keeps its permissions
        except BaseException:
            if backup is not None:  # the old workbook stays where it was: its copy would only confuse
                backup.unlink(missing_ok=True)
            raise


def prepare_template(config: Config, path: Path, period: list[Month], values: Values, *,
                     update: bool = False, force: bool = False, held_back: Collection[Month] = (),
                     rows: RowCounts | None = None, notes: Notes | None = None,
                     targets: Targets | None = None, tolerances: Tolerances | None = None,
                     publish: bool = False, stamp: Stamp | None = None) -> PreparedTemplate:
    """Build the template for `path` in memory, refusing what writing it would lose.
    `publish`: the blank template to publish instead (see publish.py); `values` are then ignored.

    `notes`, `targets` and `tolerances` are what a filled template read as a data file holds; with
    `update`, those of the workbook at `path` win over them. Without `update` or `force`, a workbook
    that differs from the new one in any editable cell, or holds sheets or rows kpireport did not
    write, is left untouched. `stamp` marks a per-owner workbook (see team.py)."""
    merged: dict[str, dict[Month, float | str]] = {name: dict(series) for name, series in values.items()}
    outcome = TemplateOutcome(path, sheet_months(config, period), 0)
    merged_notes: dict[str, dict[Month, str]] = {}
    _place_notes(notes or {}, merged, merged_notes, outcome)
    merged_targets = {kpi: dict(series) for kpi, series in (targets or {}).items()}
    merged_tolerances = dict(tolerances or {})
    mode = _replaceable(path)
    typed = None
    if path.exists() and not force:
        typed = read_typed(path, config)
        if typed is None:
            raise KpiReportError("this file is not a kpireport template; it is left untouched", file=str(path),
                                 hint="choose another output file (-o), or pass --force to replace it")
        if typed.stamp is not None and stamp is None:  # a whole-team template in its place would drop the stamp
            base = path.name.removesuffix(f"-{safe_name(typed.stamp.owner)}{path.suffix}") + path.suffix
            raise KpiReportError(f"this is the workbook of the owner '{typed.stamp.owner}' (its stamp: "
                                 f"{typed.stamp.shown()}); it is left untouched", file=str(path),
                                 hint=f"update the owners' workbooks together: kpireport template {config.path.name} "
                                      f"-o {base} --per owner --update; or choose another output file (-o)")
        if update:
            _carry(config, typed, merged, merged_notes, outcome)
            merged_targets.update(typed.targets)
            merged_tolerances.update(typed.tolerances)
            rows = {name: {**(rows or {}).get(name, {}), **counts} for name, counts in typed.rows.items()
                    if name in config.inputs} | {name: counts for name, counts in (rows or {}).items()
                                                 if name not in typed.rows}
            outcome.carried += sum(len(series) for series in typed.targets.values()) + len(typed.tolerances)
    outcome.filled = sum(1 for series in merged.values() for month in series if month in outcome.months)
    if publish:
        from .publish import published_workbook

        workbook = published_workbook(config, period, path.name)
    else:
        workbook = build_workbook(config, period, merged, merged_notes, held_back, rows, merged_targets,
                                  merged_tolerances, file_name=path.name, stamp=stamp)
    if typed is not None:
        _refuse_or_back_up(config, path, typed, workbook, update, outcome)
    elif force and path.exists():
        replaced = _replaced(config, path, workbook)
        if replaced:  # --force replaces it all the same, but never without a copy and a word
            outcome.not_carried.append(f"--force replaced what the previous workbook held in {len(replaced)} "
                                       f"places:{_listed(replaced)}")
            outcome.backup = _backup_path(path)
    buffer = io.BytesIO()  # built in memory, then written in one go: a failed write (disk full) leaves
    reason = None  # no half-open zip behind to complain when it is garbage-collected
    try:
        workbook.save(buffer)
    except Exception as exc:  # openpyxl writes each sheet to a temporary file first
        reason = _write_failure(exc)
        if reason is None:
            raise
    if reason is not None:  # out of the except block: the traceback no longer holds the half-written sheet
        _drop_half_written_sheets()
        raise KpiReportError(f"cannot write it: {reason} (in the temporary folder)", file=str(path),
                             hint=f"check the free space, also in {tempfile.gettempdir()}")
    return PreparedTemplate(outcome, buffer.getvalue(), mode)


def _replaceable(path: Path) -> int | None:
    """The mode of the workbook at `path` (None if there is none), once sure it may be replaced: not
    open in a spreadsheet (its lock file beside it), not read-only."""
    names = (f".~lock.{path.name}#", f"~${path.name}", f"~${path.name[2:]}")  # LibreOffice, Excel (long names)
    for lock in names:
        if (path.parent / lock).exists():
            raise KpiReportError(f"the workbook is open in a spreadsheet ({lock} beside it): close it first",
                                 file=str(path), hint="save and close it, then run the command again (a lock "
                                                      f"file left by a crash can be deleted: {path.parent / lock})")
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:  # none there (or no folder): writing it says what is wrong, if anything
        return None
    if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(path, os.W_OK):
        raise KpiReportError("this workbook is read-only; it is left untouched", file=str(path),
                             hint="make it writable (chmod u+w, or untick 'Read-only' in its properties), or "
                                  "choose another output file (-o)")
    return mode


def _refuse_or_back_up(config: Config, path: Path, typed: TypedValues, workbook,  # type: ignore[no-untyped-def]
                       update: bool, outcome: TemplateOutcome) -> None:
    """Without --update, refuse to replace a workbook the new one differs from; with it, refuse to drop
    sheets a person added, and keep a copy of the old workbook before dropping anything else."""
    old = load_workbook(io.BytesIO(path.read_bytes()))  # formulas kept: a typed formula is a difference
    renamed = _renamed_sheets(old, workbook)
    if renamed:  # rebuilt, it would lose the name; and it is no sheet of a person's own, as --force would have it
        title, ours_was = next(iter(renamed.items()))
        raise KpiReportError(f"sheet '{title}' is kpireport's '{ours_was}' renamed (its defined names point there); "
                             "it is left untouched", file=str(path),
                             hint=f"rename it back to '{ours_was}' (double-click its tab), then run the command again")
    sheets = _own_sheets(old, workbook)
    if not update:
        found = _losses(config, old, workbook, str(path))
        if found:
            raise KpiReportError(
                f"this workbook differs from the one kpireport would write, in {len(found)} places; it is "
                f"left untouched:{_listed(found)}", file=str(path),
                hint="pass --update to rebuild it keeping what was typed, or --force to replace it")
        return
    if sheets:
        raise KpiReportError(
            f"this workbook has sheets kpireport did not write: {', '.join(repr(t) for t in sheets)}; "
            "--update cannot copy them into the new workbook faithfully (charts, images, formulas pointing "
            "at the old layout), so it is left untouched", file=str(path),
            hint="move those sheets to a workbook of their own (right-click the tab > Move or copy), then run "
                 "--update again; or --force to replace it without them (a copy of it is kept)")
    rows = _own_cells(old, workbook) + _typed_over_formulas(old) + _carry_comments(old, workbook, str(path))
    outcome.not_carried += [f"typed formula in input {formula}: only its last computed value is carried"
                            for formula in typed.formulas]
    outcome.not_carried += [f"typed targets of KPI '{kpi}' (no longer in the config)" for kpi in typed.dropped_targets]
    outcome.not_carried += rows
    if outcome.not_carried:  # copied when it is written
        outcome.backup = _backup_path(path)


def _backup_path(path: Path) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return path.with_name(f"{path.stem}.bak-{stamp}{path.suffix or '.xlsx'}")


def _own_sheets(old, new) -> list[str]:  # type: ignore[no-untyped-def]
    """The sheets of `old` that kpireport does not write."""
    return [title for title in old.sheetnames if title not in set(new.sheetnames)]


def _renamed_sheets(old, new) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A sheet of `old` that kpireport wrote under another title (its defined names point at it) ->
    that title."""
    renamed = {}
    own = set(_own_sheets(old, new))
    for name, defined in old.defined_names.items():
        if name not in new.defined_names:
            continue
        try:
            before, after = next(iter(defined.destinations))[0], next(iter(new.defined_names[name].destinations))[0]
        except (StopIteration, TokenizerError, ValueError):  # a broken name: reported where it is read
            continue
        if before in own and after not in old.sheetnames:
            renamed.setdefault(before, after)
    return renamed


def _losses(config: Config, old, new, file: str) -> list[str]:  # type: ignore[no-untyped-def]
    """What replacing `old` by `new` would lose: sheets, rows and cells kpireport did not write, comments
    it cannot place (those it can are put on `new`)."""
    renamed = _renamed_sheets(old, new)
    return ([f"sheet '{title}' (kpireport's '{renamed[title]}' renamed)" if title in renamed
             else f"sheet '{title}' (not written by kpireport)" for title in _own_sheets(old, new)]
            + _differences(old, new, file) + _own_cells(old, new) + _typed_over_formulas(old)
            + _carry_comments(old, new, file))


def _replaced(config: Config, path: Path, new) -> list[str]:  # type: ignore[no-untyped-def]
    """What --force replaces in the file at `path`: what a person typed or added, or the whole file
    when it cannot be read as a kpireport template."""
    try:
        typed = read_typed(path, config)
        old = load_workbook(io.BytesIO(path.read_bytes())) if typed is not None else None
    except KpiReportError as exc:
        return [f"the whole file, which cannot be read as a kpireport template ({exc.message})"]
    except Exception as exc:  # whatever the file is, --force replaces it: kept in a copy first
        return [f"the whole file, which cannot be read as a kpireport template ({exc.__class__.__name__})"]
    if old is None:
        return ["the whole file (not a kpireport template)"]
    try:
        return _losses(config, old, new, str(path))
    except KpiReportError as exc:
        return [f"the whole workbook, whose cells cannot be read ({exc.message})"]


def _differences(old, new, file: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The editable cells of `old` whose content `new` would not keep. An input, note or row count
    pre-filled identically is no difference; a target or tolerance emptied by a person is one."""
    old_months = header_months(old, file)
    new_months = [_month_in(c.value) for c in named_cells(new, "months")]
    found = []
    for name in list(old.defined_names):
        if not name.startswith(EDITABLE):
            continue
        cells, replacing = named_cells(old, name), named_cells(new, name)
        if len(cells) == 1:  # a tolerance, or a note from before notes were per month
            pairs = [(None, cells[0], replacing[0].value if len(replacing) == 1 else None)]
        else:
            by_month = dict(zip(new_months, (c.value for c in replacing), strict=False))
            pairs = [(month, cell, by_month.get(month)) for month, cell in zip(old_months, cells, strict=False)]
        both_ways = name.startswith(("target_", "tol_"))
        record = [c.value for c in named_cells(old, f"wrote_{name}")] if both_ways else []
        for index, (month, cell, value) in enumerate(pairs):
            if _blank(cell.value) and not both_ways:
                continue
            if index < len(record) and _equal(cell.value, record[index]):
                continue  # kpireport wrote it there: replacing it loses nothing a person typed
            if not _equal(cell.value, value):
                what = f"{name}" + (f" {month}" if month else "")
                found.append(f"{cell.parent.title}!{cell.coordinate} ({what}: {cell.value!r}, would be "
                             f"{'empty' if _blank(value) else repr(value)})")
    return found


def _carry_comments(old, new, file: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Put each comment people left on a cell kpireport names (an input's month, a note, a target, a
    KPI's value) on the same cell of `new`, found by name and month, as `template` rebuilds it; return
    the comments on other cells, which have no place there (said, and kept in the backup)."""
    old_months = header_months(old, file)
    new_months = [_month_in(c.value) for c in named_cells(new, "months")]
    placed = set()
    for name in list(old.defined_names):
        if name.startswith("wrote_") or name not in new.defined_names:
            continue
        cells, replacing = named_cells(old, name), named_cells(new, name)
        where = ({None: replacing[0]} if len(cells) == len(replacing) == 1  # a tolerance, a single note
                 else dict(zip(new_months, replacing, strict=False)))
        months = [None] if len(cells) == 1 else old_months
        for month, cell in zip(months, cells, strict=False):
            if cell.comment is not None and where.get(month) is not None:
                where[month].comment = Comment(cell.comment.text, cell.comment.author)
                placed.add((cell.parent.title, cell.coordinate))
    return [f"{sheet.title}!{cell.coordinate} (a comment: {clipped(cell.comment.text.strip(), 40)!r}, on a cell "
            "kpireport rebuilds)" for sheet in old.worksheets for row in sheet.iter_rows() for cell in row
            if cell.comment is not None and (sheet.title, cell.coordinate) not in placed]


def _typed_over_formulas(old) -> list[str]:  # type: ignore[no-untyped-def]
    """KPI cells where a person typed a value over the formula: the new workbook has the formula."""
    return [f"{cell.parent.title}!{cell.coordinate} (a value typed over the formula of {name[4:]}: {cell.value!r})"
            for name in list(old.defined_names) if name.startswith("kpi_")
            for cell in named_cells(old, name)
            if not _blank(cell.value) and not (isinstance(cell.value, str) and cell.value.startswith("="))]


def _own_cells(old, new) -> list[str]:  # type: ignore[no-untyped-def]
    """What a person wrote where the rebuilt workbook has nothing: a row of their own, a line beside the
    inputs or on the dashboard. Cells of no defined name (those are compared by _differences), nor in
    the rows of an input or KPI gone from the config, holding a value the rebuilt sheet holds nowhere."""
    from .workbook import BLOCK_ROWS

    named, dropped_rows = set(), set()
    for name in list(old.defined_names):
        for cell in named_cells(old, name):  # a KPI's name covers its block: value, target, attainment…
            spread = len(BLOCK_ROWS) if name.startswith("kpi_") else 1
            named.update((cell.parent.title, cell.row + offset, cell.column) for offset in range(spread))
            if name not in new.defined_names:  # an input or KPI gone from the config: its label, unit… too
                dropped_rows.update((cell.parent.title, cell.row + offset) for offset in range(spread))
    found = []
    for title in old.sheetnames:
        if title not in new.sheetnames:
            continue  # a sheet of a person's own: _own_sheets
        # what the rebuilt sheet holds, and where (read within its own bounds: `cell()` would add cells)
        rebuilt = {(c.row, c.column): _as_read(c.value) for row in new[title].iter_rows() for c in row
                   if c.value is not None}
        known = set(rebuilt.values())
        found += [f"{title}!{cell.coordinate} ({clipped(cell.value, 40)!r}, which kpireport did not write)"
                  for row in old[title].iter_rows() for cell in row
                  if not _blank(cell.value) and not (isinstance(cell.value, str) and cell.value.startswith("="))
                  and (title, cell.row, cell.column) not in named and (title, cell.row) not in dropped_rows
                  and _as_read(cell.value) not in known and (cell.row, cell.column) not in rebuilt
                  and cell.protection.locked]  # unlocked and unnamed: the dashboard's month, which a rebuild resets
    return found


def _as_read(value: object) -> str:
    """A cell's value as it reads back from a saved file: a date cell comes back a datetime at midnight,
    a whole float an int."""
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        value = value.date()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _equal(a: object, b: object) -> bool:
    if _blank(a) or _blank(b):
        return _blank(a) and _blank(b)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return str(a).strip() == str(b).strip()


def _listed(items: list[str]) -> str:
    """One line each (a message line is cut past 1,000 characters), then how many more."""
    shown = "".join(f"\n    {item}" for item in items[:SHOWN])
    return shown + (f"\n    and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def _drop_half_written_sheets() -> None:
    """openpyxl leaves a sheet writer's generator open when a write fails; collected later, it fails
    to close its stream again and Python prints that failure: collect it now, quietly."""
    import gc
    import sys

    hook = sys.unraisablehook
    sys.unraisablehook = lambda _: None
    try:
        gc.collect()
    finally:
        sys.unraisablehook = hook


def _write_failure(exc: Exception) -> str | None:
    """Why writing failed, if it was the system refusing a write: an OSError, or, where openpyxl writes
    through lxml (installed with pikepdf), lxml's SerialisationError naming the errno ('IO_ENOSPC')."""
    if isinstance(exc, OSError):
        return exc.strerror
    code = getattr(errno, str(exc).removeprefix("IO_"), None)
    if type(exc).__name__ == "SerialisationError" and isinstance(code, int):
        return os.strerror(code)
    return None


def _place_notes(notes: Notes, values: Values, placed: dict[str, dict[Month, str]],
                 outcome: TemplateOutcome) -> None:
    """Notes go to their month. The one note of a workbook made before notes were per month goes to
    the last month holding a value of its input (what it most likely spoke of), else the first month."""
    kept = set(outcome.months)
    for name, by_month in notes.items():
        for month, note in by_month.items():
            if month is None:
                filled = [m for m in values.get(name, {}) if m in kept]
                month = max(filled, default=outcome.months[-1] if not kept else min(kept))
                outcome.moved.append(f"the note of input '{name}' (one note for every month, from an earlier "
                                     f"kpireport) is now the note of {month}")
            if month not in kept:
                outcome.not_carried.append(f"the note of input '{name}' for {month} (outside the new period): {note}")
                continue
            before = placed.setdefault(name, {}).get(month)
            placed[name][month] = note if before in (None, note) else f"{before} / {note}"


def _carry(config: Config, typed: TypedValues, merged: dict[str, dict[Month, float | str]],
           notes: dict[str, dict[Month, str]], outcome: TemplateOutcome) -> None:
    """Typed values win over data files: a person typed them on purpose."""
    kept = set(outcome.months)
    for name, series in typed.values.items():
        if name not in config.inputs:
            outcome.not_carried.append(f"input '{name}' ({len(series)} values) is no longer in the config")
            continue
        outside = sorted(month for month in series if month not in kept)
        if outside:
            outcome.not_carried.append(f"input '{name}': {', '.join(map(str, outside))} outside the new period")
        for month, value in series.items():
            if month in kept:
                merged.setdefault(name, {})[month] = value
                outcome.carried += 1
    for name, by_month in typed.notes.items():
        if name not in config.inputs:
            outcome.not_carried += [f"the note of input '{name}' (no longer in the config): {note}"
                                    for note in by_month.values()]
            continue
        placed = len(outcome.not_carried)
        _place_notes({name: by_month}, merged, notes, outcome)
        outcome.carried += len(by_month) - (len(outcome.not_carried) - placed)
