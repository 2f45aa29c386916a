"""The template file on disk: never lose what people typed. An existing workbook with typed values is
only replaced with --update (its values and notes carried to the same input and month) or --force."""

from __future__ import annotations

import datetime as dt
import errno
import io
import os
import tempfile
import zipfile
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from openpyxl import load_workbook
from openpyxl.formula.tokenizer import TokenizerError
from openpyxl.utils.exceptions import InvalidFileException

from .config import Config
from .engine import RowCounts
from .errors import DataError, KpiReportError
from .files import atomic_path
from .months import Month
from .tables import TEMPLATE_PART_BYTES, check_workbook, is_ole, xml_error_in
from .workbook import Values, build_workbook, sheet_months


@dataclass
class TypedValues:
    """What a filled template holds, read by its defined names (never by position)."""

    values: dict[str, dict[Month, float | str]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def count(self) -> int:
        return sum(len(series) for series in self.values.values()) + len(self.notes)


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


def checked_cells(workbook, name: str, file: str):  # type: ignore[no-untyped-def]
    """The cells of a name the template must have, or a DataError saying how it broke."""
    try:
        return _cells(workbook, name)
    except _BrokenNameError as exc:
        raise DataError(f"the template is damaged: {exc}", file=file,
                        hint="undo the change in the workbook (restore the row or the sheet's name), or "
                             "build a new template with 'kpireport template' and copy the values over"
                        ) from None


def read_typed(path: Path) -> TypedValues | None:
    """The typed values of a kpireport template, or None when the workbook is not one."""
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
        workbook = load_workbook(io.BytesIO(path.read_bytes()), data_only=True)  # whatever its extension
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError, SyntaxError) as exc:
        what = ("it is damaged or cut short" if isinstance(exc, zipfile.BadZipFile)
                else "damaged or unsafe workbook: its XML cannot be read" if xml_error_in(exc)
                else f"cannot open it as a workbook ({exc.__class__.__name__})")
        raise DataError(f"{what}; it is left untouched", file=str(path),
                        hint="choose another output file (-o), or pass --force to replace it") from None
    if "months" not in workbook.defined_names:
        return None
    header = checked_cells(workbook, "months", str(path))
    months = [Month.of(c.value) if isinstance(c.value, dt.date | dt.datetime) else None for c in header]
    typed = TypedValues()
    for name in workbook.defined_names:
        if name.startswith("in_"):
            cells = checked_cells(workbook, name, str(path))
            series = {month: cell.value for month, cell in zip(months, cells, strict=False)
                      if month is not None and cell.value not in (None, "")}
            if series:
                typed.values[name[3:]] = series
        elif name.startswith("note_"):
            cells = named_cells(workbook, name)
            if cells and cells[0].value not in (None, ""):
                typed.notes[name[5:]] = str(cells[0].value)
    return typed


@dataclass
class TemplateOutcome:
    path: Path
    months: list[Month]
    filled: int  # input cells holding a value
    carried: int = 0  # typed values and notes kept from the previous workbook (--update)
    not_carried: list[str] = field(default_factory=list)  # what could not be, and why


def write_template(config: Config, path: Path, period: list[Month], values: Values, *,
                   update: bool = False, force: bool = False, partial: Collection[Month] = (),
                   rows: RowCounts | None = None) -> TemplateOutcome:
    """Build the template and write it atomically, without ever dropping typed values silently."""
    merged: dict[str, dict[Month, float | str]] = {name: dict(series) for name, series in values.items()}
    notes: dict[str, str] = {}
    outcome = TemplateOutcome(path, sheet_months(config, period), 0)
    if path.exists() and not force:
        typed = read_typed(path)
        if typed is None:
            raise KpiReportError("this file is not a kpireport template; it is left untouched", file=str(path),
                                 hint="choose another output file (-o), or pass --force to replace it")
        if typed.count() and not update:
            raise KpiReportError(
                f"this template holds {typed.count()} typed values; it is left untouched", file=str(path),
                hint="pass --update to rebuild it keeping them, or --force to replace it")
        if update:
            _carry(config, typed, merged, notes, outcome)
    outcome.filled = sum(1 for series in merged.values() for month in series if month in outcome.months)
    workbook = build_workbook(config, period, merged, notes, partial, rows)
    buffer = io.BytesIO()  # built in memory, then written in one go: a failed write (disk full) leaves
    try:  # no half-open zip behind to complain when it is garbage-collected
        workbook.save(buffer)
    except Exception as exc:  # openpyxl writes each sheet to a temporary file first
        reason = _write_failure(exc)
        if reason is None:
            raise
        raise KpiReportError(f"cannot write it: {reason} (in the temporary folder)", file=str(path),
                             hint=f"check the free space, also in {tempfile.gettempdir()}") from None
    with atomic_path(path) as temporary:
        temporary.write_bytes(buffer.getvalue())
    return outcome


def _write_failure(exc: Exception) -> str | None:
    """Why writing failed, if it was the system refusing a write: an OSError, or, where openpyxl writes
    through lxml (installed with pikepdf), lxml's SerialisationError naming the errno ('IO_ENOSPC')."""
    if isinstance(exc, OSError):
        return exc.strerror
    code = getattr(errno, str(exc).removeprefix("IO_"), None)
    if type(exc).__name__ == "SerialisationError" and isinstance(code, int):
        return os.strerror(code)
    return None


def _carry(config: Config, typed: TypedValues, merged: dict[str, dict[Month, float | str]],
           notes: dict[str, str], outcome: TemplateOutcome) -> None:
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
    for name, note in typed.notes.items():
        if name in config.inputs:
            notes[name] = note
            outcome.carried += 1
        else:
            outcome.not_carried.append(f"the note of input '{name}' (no longer in the config): {note}")
