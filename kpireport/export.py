"""`compute` output: KPI results as CSV or JSON rows that other tools can read."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from .engine import KpiMonth, Results
from .months import Month

COLUMNS = ("kpi", "month", "value", "target", "status", "attainment", "previous", "change_mom",
           "year_ago", "change_yoy", "ytd", "label", "domain", "owner", "format", "direction", "complete",
           "change_mom_pts", "change_yoy_pts", "year_target", "ytd_target", "year_end", "year_end_low",
           "year_end_high", "outlook")
_NUMBERS = ("value", "target", "attainment", "previous", "change_mom", "year_ago", "change_yoy", "ytd",
            "change_mom_pts", "change_yoy_pts", "year_target", "ytd_target")


def _year_end(row: KpiMonth) -> tuple[float | None, float | None, float | None, str]:
    """The year's projection as known at the row's month: value, low, high, outlook ('' without a target)."""
    end = row.year_end
    if end is None:
        return None, None, None, ""
    return end.value, end.low, end.high, end.outlook or ""


def rows(results: Results, month: Month | None = None) -> list[dict[str, Any]]:
    """One row per KPI and month (only `month` when given); no value stays None."""
    out = []
    for result in results.kpis:
        kpi = result.kpi
        for row in result.months:
            if month is not None and row.month != month:
                continue
            out.append({
                "kpi": kpi.id, "month": str(row.month),
                **{name: getattr(row, name) for name in _NUMBERS},
                "status": row.status.value,
                "label": kpi.label, "domain": kpi.domain, "owner": kpi.owner or "",
                "format": kpi.format, "direction": kpi.direction,
                "complete": row.month not in results.partial,  # false: the month's data stop early
                **dict(zip(("year_end", "year_end_low", "year_end_high", "outlook"), _year_end(row), strict=True)),
            })
    return out


_RUNS_IN_A_SPREADSHEET = ("=", "+", "-", "@", "\t", "\r")  # OWASP's list for CSV injection


def _cell(value: Any) -> str:
    """A number in full: the shortest text that reads back as the same float, an integer exactly
    (2**60 as its 19 digits, never 1.15292150460685e+18). Text that a spreadsheet would run as a
    formula (=HYPERLINK(…), -2+3, @SUM(…)) gets a leading ' so it shows as text; numbers never do."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # whole numbers digit for digit while that reads well (JavaScript's cut-off); past it, repr
        # still reads back as the same float, without 300 digits for 1e300
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, int):
        return str(value)
    text = str(value)
    return f"'{text}" if text.startswith(_RUNS_IN_A_SPREADSHEET) else text


def _number(value: Any) -> str:
    """_cell of a number, floats first: nearly every cell of the CSV is one."""
    if value.__class__ is float:
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    return _cell(value)


def to_csv(results: Results, month: Month | None = None) -> str:
    """The rows of `rows()` as CSV, written straight from the results: 5,000 KPIs over ten years are
    600,000 rows, and a dict and a csv writer per row took twice as long as computing them. A KPI's
    text cells are the same every month, so they are written (and quoted) once per KPI; numbers,
    statuses and months never need quoting. A test holds this equal to writing every row of rows()."""
    lines = [_line(COLUMNS)]
    months = {m: str(m) for m in results.months}
    partial = results.partial
    for result in results.kpis:
        kpi = result.kpi
        head = _line([_cell(kpi.id)])[:-1]
        texts = _line([_cell(text) for text in (kpi.label, kpi.domain, kpi.owner or "", kpi.format,
                                                 kpi.direction)])[:-1]
        for row in result.months:
            if month is not None and row.month != month:
                continue
            n = _number
            if row.year_target is None and row.year_end is None:  # nearly every row: no yearly target
                tail = ",,,,,"
            else:
                end, low, high, outlook = _year_end(row)
                tail = f"{n(row.year_target)},{n(row.ytd_target)},{n(end)},{n(low)},{n(high)},{outlook}"
            lines.append(
                f"{head},{months.get(row.month) or row.month},{n(row.value)},{n(row.target)},{row.status.value},"
                f"{n(row.attainment)},{n(row.previous)},{n(row.change_mom)},{n(row.year_ago)},{n(row.change_yoy)},"
                f"{n(row.ytd)},{texts},{'false' if row.month in partial else 'true'},{n(row.change_mom_pts)},"
                f"{n(row.change_yoy_pts)},{tail}\n")
    return "".join(lines)


def _line(cells: Iterable[str]) -> str:
    """One CSV row ending in \\n. The writer quotes a cell only for the characters of its line
    terminator: with \\n alone, a label holding \\r went out unquoted and cut the row in two."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()[:-2] + "\n"


def to_json(results: Results, month: Month | None = None) -> str:
    return json.dumps({
        "title": results.config.title,
        "months": [str(m) for m in results.months if month is None or m == month],
        "rows": rows(results, month),
    }, ensure_ascii=False, indent=2)

