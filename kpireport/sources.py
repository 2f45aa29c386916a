"""Read the config's data files (CSV, wide or long) into one monthly series per input.

Daily or weekly rows are rolled up to calendar months with each input's `aggregate`; a month with
no rows has no value (not 0); the same input and month from two files is an error naming both.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from .config import Config, Source
from .errors import DataError, did_you_mean
from .months import Month

MISSING = {"", "-", "–", "n/a", "na", "n.a.", "nan", "null", "none", "#n/a"}
_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%Y/%m/%d", "%d.%m.%Y", "%d-%m-%Y")
_YEAR_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_SPACES = re.compile(r"[\s\u00a0\u202f']")


def parse_number(text: str) -> float | None:
    """A number as exports write it: `1 234,5`, `1,234.5`, `12,5 %`, `1 200 €`; None when empty.

    Raises ValueError when the text is not a number.
    """
    raw = text.strip()
    if raw.lower() in MISSING:
        return None
    cleaned = _SPACES.sub("", raw)
    percent = cleaned.endswith("%")
    cleaned = cleaned.rstrip("%").strip("€$£").removeprefix("EUR").removesuffix("EUR")
    if "," in cleaned and "." in cleaned:  # the last separator is the decimal one
        if cleaned.rfind(",") > cleaned.rfind("."):
            cleaned = cleaned.replace(".", "").replace(",", ".")
        else:
            cleaned = cleaned.replace(",", "")
    elif cleaned.count(",") == 1:
        cleaned = cleaned.replace(",", ".")
    elif cleaned.count(",") > 1:  # 1,234,567
        cleaned = cleaned.replace(",", "")
    try:
        value = float(cleaned)
    except ValueError:
        raise ValueError(f"'{raw}' is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"'{raw}' is not a finite number")
    return value / 100 if percent else value


def parse_date(text: str) -> dt.date:
    """A date written `2026-03-14`, `14/03/2026`, `2026-03-14 09:30` or `2026-03` (its first day)."""
    raw = text.strip()
    match = _YEAR_MONTH.match(raw)
    if match and 1 <= int(match.group(2)) <= 12:
        return dt.date(int(match.group(1)), int(match.group(2)), 1)
    day_part = raw.replace("T", " ").split(" ")[0]
    for date_format in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(day_part, date_format).date()
        except ValueError:
            continue
    raise ValueError(f"'{raw}' is not a date")


@dataclass
class MonthlyData:
    """input id -> month -> value, which file each value came from, and the comments people wrote
    beside an input (the template's note column)."""

    values: dict[str, dict[Month, float]] = field(default_factory=dict)
    origin: dict[tuple[str, Month], str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def add(self, input_id: str, month: Month, value: float, origin: str) -> None:
        key = (input_id, month)
        if key in self.origin:
            raise DataError(
                f"'{input_id}' for {month} comes from two files: {self.origin[key]} and {origin}",
                file=origin, hint="keep it in one file, or remove one of the sources")
        self.origin[key] = origin
        self.values.setdefault(input_id, {})[month] = value


def sources_with(config: Config, data_paths: Iterable[str | Path] = ()) -> list[Source]:
    """The config's sources, with `--data` files replacing the source of the same file name or added
    as wide files with a `date` column."""
    sources = list(config.sources)
    for raw in data_paths:
        path = Path(raw)
        same = [i for i, s in enumerate(sources) if s.path.name == path.name]
        if same:
            sources[same[0]] = replace(sources[same[0]], path=path)
        else:
            sources.append(Source(path, "wide", "date", None, None, {}, {}, None))
    return sources


def load_data(config: Config, data_paths: Iterable[str | Path] = ()) -> MonthlyData:
    """Read every source of the config (and `--data` files) into monthly values."""
    data = MonthlyData()
    for source in sources_with(config, data_paths):
        _load_source(config, source, data)
    return data


def _rows(source: Source) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    try:
        text = source.path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError("file not found", file=str(source.path),
                        hint="check 'sources:' in the config, or the --data path") from None
    except UnicodeDecodeError:
        text = source.path.read_text(encoding="cp1252", errors="replace")
    except OSError as exc:
        raise DataError(f"cannot read it: {exc.strerror}", file=str(source.path)) from None
    lines = text.splitlines()
    if not lines:
        raise DataError("the file is empty", file=str(source.path),
                        hint="export the data again, with a header row")
    header_line = lines[0]
    delimiter = max((",", ";", "\t"), key=header_line.count)
    reader = csv.reader(lines, delimiter=delimiter)
    header = [h.strip() for h in next(reader)]
    rows = ((number, dict(zip(header, row, strict=False))) for number, row in enumerate(reader, start=2)
            if any(cell.strip() for cell in row))
    return header, rows


def _load_source(config: Config, source: Source, data: MonthlyData) -> None:
    header, rows = _rows(source)
    file = str(source.path)
    needed = [source.date] + ([source.name, source.value] if source.layout == "long" else [])
    needed += list(source.filter)
    for column in needed:
        if column not in header:
            raise DataError(f"no column '{column}'", file=file, line=1,
                            hint=did_you_mean(column, header) or "columns: " + ", ".join(header))
    rename = source.columns
    if source.layout == "wide":
        columns = {c: rename.get(c, c) for c in header if c != source.date and c not in source.filter}
        for column, input_id in columns.items():
            if input_id not in config.inputs:
                data.warnings.append(f"{file}: column '{column}' maps to no input; it is ignored")
        columns = {c: i for c, i in columns.items() if i in config.inputs}
    collected: dict[tuple[str, Month], list[_Cell]] = defaultdict(list)
    for line, row in rows:
        if not _kept(row, source.filter):
            continue
        try:
            day = parse_date(row.get(source.date) or "")
        except ValueError as exc:
            raise DataError(str(exc), file=file, line=line, column=source.date,
                            hint="write dates as YYYY-MM-DD, DD/MM/YYYY or YYYY-MM") from None
        if source.layout == "wide":
            cells = [(input_id, column) for column, input_id in columns.items()]
        else:
            name = (row.get(source.name) or "").strip()  # type: ignore[arg-type]
            cells = [(rename.get(name, name), source.value)]  # type: ignore[list-item]
        for input_id, column in cells:
            if input_id in config.inputs:
                collected[(input_id, Month.of(day))].append(_Cell(row.get(column) or "", day, line, column))
    for (input_id, month), cells in collected.items():
        value = _aggregate(config.inputs[input_id].aggregate, cells, file)
        if value is not None:
            data.add(input_id, month, value, file)


def _kept(row: dict[str, str], filters: dict[str, object]) -> bool:
    for column, wanted in filters.items():
        allowed = wanted if isinstance(wanted, list) else [wanted]
        if (row.get(column) or "").strip() not in {str(a) for a in allowed}:
            return False
    return True


@dataclass(frozen=True)
class _Cell:
    text: str
    day: dt.date
    line: int
    column: str


def _aggregate(how: str, cells: list[_Cell], file: str) -> float | None:
    """One month's value from its rows; None when no row has a value."""
    if how == "count":
        count = sum(1 for cell in cells if cell.text.strip().lower() not in MISSING)
        return float(count) if count else None
    if how == "last":  # the latest day, whatever the order of the rows
        cells = sorted(cells, key=lambda cell: cell.day)
    values = []
    for cell in cells:
        try:
            value = parse_number(cell.text)
        except ValueError as exc:
            raise DataError(str(exc), file=file, line=cell.line, column=cell.column,
                            hint="use digits, e.g. 1234.5, 1 234,5 or 12,5 %") from None
        if value is not None:
            values.append(value)
    if not values:
        return None
    if how == "sum":
        return math.fsum(values)
    if how == "mean":
        return statistics.fmean(values)
    if how == "last":
        return values[-1]
    return min(values) if how == "min" else max(values)
