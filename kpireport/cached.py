"""Formula cells saved with their computed value, so that a workbook opens with numbers.

openpyxl writes a formula cell as `<f>` with an empty `<v>`: Excel's Protected View, mail and file
previewers and tools that read the saved values (openpyxl `data_only=True`, pandas) show nothing
until a spreadsheet recalculates. The template knows every formula's value (the engine computes
it, and the tests hold it equal to LibreOffice's recalculation), so it registers each one here and
its save writes it as the cell's `<v>`. Excel and LibreOffice still recalculate on open
(openpyxl's `fullCalcOnLoad`): what a person types afterwards is always live.

Only cells registered for a sheet are touched, and only while `values_written()` is active; any
other cell, workbook or save goes through openpyxl's own writer unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from threading import Lock
from weakref import WeakKeyDictionary

import openpyxl.worksheet._writer as sheet_writer
from openpyxl.cell._writer import _set_attributes
from openpyxl.worksheet.worksheet import Worksheet


class ErrorValue(str):
    """A formula's error result, saved as such (`t="e"`): NA() where a chart must leave a gap."""


NA = ErrorValue("#N/A")
Cached = float | int | str | None  # None and "": the formula shows nothing (text "", as ours do)

# sheet -> (row, column) -> (the formula text it belongs to, its value)
_VALUES: WeakKeyDictionary[Worksheet, dict[tuple[int, int], tuple[str, Cached]]] = WeakKeyDictionary()
_PATCH = Lock()


def remember(sheet: Worksheet, row: int, column: int, formula: str, value: Cached) -> None:
    """`value` is what `formula`, in this cell, computes from the workbook as it is written."""
    _VALUES.setdefault(sheet, {})[(row, column)] = (formula, value)


def cached(sheet: Worksheet, row: int, column: int) -> Cached:
    """What a cell shows once computed: its remembered value if it is a formula, else its content."""
    cell = sheet.cell(row, column)
    if cell.data_type == "f":
        found = _VALUES.get(sheet, {}).get((row, column))
        return found[1] if found is not None and found[0] == cell._value else None
    return cell.value


def _typed(value: Cached) -> tuple[str | None, str] | None:
    """The cell's `t` and the `<v>` text, or None when the value cannot be written as a result."""
    if isinstance(value, ErrorValue):
        return "e", str(value)
    if value is None or isinstance(value, str):
        return "str", value or ""
    if isinstance(value, bool):
        return "b", "1" if value else "0"
    if isinstance(value, int):
        return None, str(value)
    if isinstance(value, float) and math.isfinite(value):
        return None, repr(value)  # shortest text that reads back as the same float
    return None


def _write_cell(xf, worksheet, cell, styled=None):  # type: ignore[no-untyped-def]
    known = _VALUES.get(worksheet)
    found = known.get((cell.row, cell.column)) if known is not None and cell.data_type == "f" else None
    # the remembered formula must still be the cell's: a cell changed since keeps openpyxl's output
    typed = _typed(found[1]) if found is not None and found[0] == cell._value else None
    if typed is None:
        return _ORIGINAL(xf, worksheet, cell, styled)
    formula, attributes = _set_attributes(cell, styled)
    kind, text = typed
    if kind is not None:
        attributes["t"] = kind
    # streamed, as openpyxl writes its own cells, rather than an element tree built for each cell
    with xf.element("c", attributes):
        with xf.element("f"):
            xf.write(formula[1:])
        with xf.element("v"):
            xf.write(text)
    return None


_ORIGINAL = sheet_writer.write_cell


@contextmanager
def values_written() -> Iterator[None]:
    """While active, openpyxl saves remembered formula cells with their value."""
    with _PATCH:  # one save at a time patches the module; others wait rather than see it half-restored
        sheet_writer.write_cell = _write_cell
        try:
            yield
        finally:
            sheet_writer.write_cell = _ORIGINAL
