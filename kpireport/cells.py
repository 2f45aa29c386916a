"""How exports write numbers and dates, read a whole column at a time with polars; `parse_number`
and `parse_date` read one text through the very same code, so the two never disagree.

A reader returns the values and a `bad` mask (a cell holding something that is neither a value nor a
"no value" marker); the caller decides whether a bad cell is an error or a skipped row, and names
its place in the file.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import polars as pl

from .errors import clipped

# Cells that mean "no value": blank, dashes and the usual not-available markers (fr and en).
MISSING = ("", "-", "–", "—", "n/a", "na", "n.a.", "n/d", "n.d.", "nan", "null", "none", "#n/a", "#n/d")
FIRST_YEAR, LAST_YEAR = 1900, 2200  # outside: a typo or a two-digit year, never a KPI's month
_EXCEL_DAY_ZERO = -25569  # 1899-12-30, Excel's serial 0, in days from 1970-01-01 (polars' Date 0)

NUMBER_HINT = "write a number, e.g. 1234.5, 1 234,5, 12,5 % or 1 200 €; leave it empty (or n/a) for no value"
DATE_HINT = "write dates as YYYY-MM-DD, DD/MM/YYYY or YYYY-MM (a time of day may follow)"
AMBIGUOUS_HINT = ('say how the file writes dates: add date_format: "%m/%d/%Y" to this source if month first (US), '
                  'date_format: "%d/%m/%Y" if day first; or export the dates as YYYY-MM-DD')
# strftime directives of a time of day: `date_format` gives the date only, a time after it is dropped
_TIME_DIRECTIVES = re.compile(r"%[-_0^#]?(?:[HIklMSpPfzZTRrcXs]|:z|[.0-9]+f)")


class Parsed(NamedTuple):
    values: pl.Series  # Float64 (numbers) or Date (dates); null where there is no value
    bad: pl.Series  # Boolean: true where the cell holds something that cannot be read


def blank(column: pl.Series) -> pl.Series:
    """True where a cell is empty (null, or only spaces)."""
    if column.dtype == pl.String:
        return column.str.strip_chars().str.len_bytes().fill_null(0) == 0
    return column.is_null()


def is_missing(column: pl.Series) -> pl.Series:
    """True where a cell means "no value": blank, `-`, `n/a`…; a number or a date never does."""
    if column.dtype == pl.String:
        return column.str.strip_chars().str.to_lowercase().is_in(MISSING).fill_null(True)
    if column.dtype.is_float():
        return column.is_null() | column.is_nan().fill_null(True)
    return column.is_null()


# --- numbers ------------------------------------------------------------------------------------

_SPACES = r"[\s\u00a0\u202f\u2009'’]"  # the thousands separators of locales and people
_CURRENCY = r"(?:[€$£¥]|(?i:eur|usd|gbp|chf))"  # before or after the number (once spaces are gone)
_ACCOUNTING_NEGATIVE = r"^\((.+)\)$"  # (1 200,00) in finance and ad-spend exports
# The four ways to write a number once spaces, currency and % are gone ([0-9], not \d, which takes
# any script's digits). "1,234" and "1.234" fit two of them: the rest of the column tells which.
_COMMA_GROUPS = r"^[+-]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?$"  # 1,234,567.5
_DOT_GROUPS = r"^[+-]?[0-9]{1,3}(?:\.[0-9]{3})+(?:,[0-9]*)?$"  # 1.234.567,5
_DOT_DECIMAL = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"  # 1234.5, 1e3
_COMMA_DECIMAL = r"^[+-]?(?:[0-9]+,?[0-9]*|,[0-9]+)$"  # 1234,5


def numbers(column: pl.Series, *, comma_thousands: bool = False) -> Parsed:
    """A column of numbers as exports write them: `1 234,5`, `1,234.5`, `12,5 %`, `1 200 €`, `n/a`.

    `comma_thousands` settles a column whose only separators are like "1,234": true for files whose
    delimiter is a comma (English exports, 1234), false otherwise (French ones, 1.234).
    """
    if column.dtype.is_integer():  # typed by the reader: every cell is a number or empty
        return Parsed(column.cast(pl.Float64), pl.repeat(False, len(column), eager=True))
    if column.dtype == pl.String:
        for fast in _fast_readings(column, comma_thousands):
            if fast.null_count() == column.null_count() and fast.is_finite().all():
                return Parsed(fast, pl.repeat(False, len(column), eager=True))
        read = _as_written(column, comma_thousands)
    elif column.dtype.is_numeric():
        read = pl.DataFrame({"value": column.cast(pl.Float64)}).with_columns(missing=is_missing(column))
    else:  # booleans, dates, times: never a number
        read = pl.DataFrame({"value": pl.repeat(None, len(column), dtype=pl.Float64, eager=True),
                             "missing": column.is_null()})
    result = read.select(
        value=pl.when(pl.col("missing") | ~pl.col("value").is_finite()).then(None).otherwise(pl.col("value")),
        bad=~pl.col("missing") & ~pl.col("value").is_finite().fill_null(False),
    )
    return Parsed(result["value"].alias(column.name), result["bad"])


def _fast_readings(column: pl.Series, comma_thousands: bool) -> Iterator[pl.Series]:
    """The common columns, read in one pass each: plain numbers (1234.5), then decimal commas with
    no other separator (1234,5, as French Excel writes CSV). Each reading holds only where it reads
    every cell: `_as_written` would read those cells the same, and does the rest."""
    yield column.cast(pl.Float64, strict=False)
    # "1,234" alone is 1.234 unless commas group thousands here; no dot in the column: no "1.234,5"
    if not comma_thousands and not column.str.contains("[.eE]").any():
        yield column.str.replace(",", ".", literal=True).cast(pl.Float64, strict=False)


def _number_flags(column: pl.Series) -> pl.DataFrame:
    """Each text cell cleaned of spaces, currency and sign marks (number), whether it is missing or a
    percentage, and which ways of writing a number it fits."""
    cleaned = (pl.col("text").str.strip_chars().str.replace_all(_SPACES, "")
               .str.replace_all("\u2212", "-", literal=True).str.replace(_ACCOUNTING_NEGATIVE, "-${1}")
               .str.replace(f"^([+-]?){_CURRENCY}", "${1}").str.replace(f"{_CURRENCY}$", ""))
    return pl.DataFrame({"text": column}).select(
        missing=is_missing(column),
        percent=cleaned.str.ends_with("%").fill_null(False),
        number=cleaned.str.strip_suffix("%"),
    ).with_columns(
        comma_groups=pl.col("number").str.contains(_COMMA_GROUPS).fill_null(False),
        dot_groups=pl.col("number").str.contains(_DOT_GROUPS).fill_null(False),
        dot_decimal=pl.col("number").str.contains(_DOT_DECIMAL).fill_null(False),
        comma_decimal=pl.col("number").str.contains(_COMMA_DECIMAL).fill_null(False),
        separator=pl.col("number").str.contains("[.,]").fill_null(False),
    )


_DOT_STYLE = pl.col("comma_groups") | pl.col("dot_decimal")
_COMMA_STYLE = pl.col("dot_groups") | pl.col("comma_decimal")


def _styles_seen(flags: pl.DataFrame) -> tuple[bool, bool]:
    """Whether a value reads only with a decimal dot ("12.5", "1,234.5"), and one only with a decimal
    comma ("12,5", "1.234,5"): such a value tells how its column is written."""
    dot, comma = flags.select(
        dot=(pl.col("separator") & _DOT_STYLE & ~_COMMA_STYLE).any(),
        comma=(pl.col("separator") & _COMMA_STYLE & ~_DOT_STYLE).any(),
    ).row(0)
    return bool(dot), bool(comma)


def writes_decimal_commas(columns: Iterable[pl.Series]) -> bool:
    """Whether a file's text columns write decimal commas: a value reads only so ("12 345,67") and none
    only with a dot. It settles "1,250" in a comma-separated French export (1.25, not 1250), where the
    column itself holds nothing but such values."""
    dot_seen = comma_seen = False
    for column in columns:
        if column.dtype == pl.String and column.str.contains(",", literal=True).any():
            dot, comma = _styles_seen(_number_flags(column))
            dot_seen, comma_seen = dot_seen or dot, comma_seen or comma
    return comma_seen and not dot_seen


def _as_written(column: pl.Series, comma_thousands: bool) -> pl.DataFrame:
    """value (before the finiteness check) and missing, for text columns that are not plain numbers."""
    frame = _number_flags(column)
    dot_seen, comma_seen = _styles_seen(frame)
    comma_is_decimal = comma_seen if dot_seen != comma_seen else not comma_thousands
    decimal_comma = (
        pl.when(pl.col("comma_groups") & pl.col("comma_decimal")).then(comma_is_decimal)  # "1,234"
        .when(pl.col("dot_groups") & pl.col("dot_decimal")).then(comma_seen and not dot_seen)  # "1.234"
        .otherwise(_COMMA_STYLE & ~_DOT_STYLE)
    )
    number = pl.col("number")
    value = (
        pl.when(decimal_comma)
        .then(number.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True))
        .otherwise(number.str.replace_all(",", "", literal=True))
        .cast(pl.Float64, strict=False)
    )
    return frame.select(
        value=pl.when(_DOT_STYLE | _COMMA_STYLE).then(value / pl.when(pl.col("percent")).then(100.0).otherwise(1.0)),
        missing=pl.col("missing"),
    )


def number_problem(text: str) -> str:
    """What is wrong with a cell that `numbers` marked bad, in words."""
    shown = text.strip()
    value = _as_written(pl.Series([shown], dtype=pl.String), comma_thousands=False)["value"][0]
    if value is None and shown.lower().lstrip("+-") in ("inf", "infinity"):  # a huge number, as a reader typed it
        value = math.inf
    return f"'{clipped(shown)}' is not a finite number" if value is not None else f"'{clipped(shown)}' is not a number"


def parse_number(text: str, *, comma_thousands: bool = False) -> float | None:
    """One number as exports write it (`1 234,5`, `1,234.5`, `12,5 %`, `1 200 €`); None for no value.

    Raises ValueError when the text is not a number.
    """
    _check_text(text)
    parsed = numbers(pl.Series([text], dtype=pl.String), comma_thousands=comma_thousands)
    if parsed.bad[0]:
        raise ValueError(number_problem(text))
    return parsed.values[0]


# --- dates ---------------------------------------------------------------------------------------


class _Style(NamedTuple):
    pattern: str  # the date part, as a regex
    format: str  # how polars reads it, once `day` is appended
    day: str = ""  # what makes a month a day: its first
    timed: bool = True  # may be followed by a time of day


_SLASHED = r"[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}"
_STYLES = (
    _Style(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}", "%Y-%m-%d"),  # ISO, and ISO date-times
    _Style(_SLASHED, "%d/%m/%Y"),  # French exports: day first (US ones, month first: see _styles_of)
    _Style(r"[0-9]{4}/[0-9]{1,2}/[0-9]{1,2}", "%Y/%m/%d"),
    _Style(r"[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{4}", "%d.%m.%Y"),
    _Style(r"[0-9]{1,2}-[0-9]{1,2}-[0-9]{4}", "%d-%m-%Y"),
    _Style(r"[0-9]{4}-[0-9]{1,2}", "%Y-%m-%d", "-01", timed=False),  # a month
    _Style(r"[0-9]{8}", "%Y%m%d", timed=False),  # Google Analytics: 20260314
    _Style(r"[0-9]{6}", "%Y%m%d", "01", timed=False),  # Google Analytics: 202603
)
_US_STYLES = tuple(s._replace(format="%m/%d/%Y") if s.pattern == _SLASHED else s for s in _STYLES)
_DAY_MONTH = r"^\s*([0-9]{1,2})/([0-9]{1,2})/[0-9]{4}"  # day and month in some order, a year, then anything
_DMY = r"^\s*([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})"  # the same, with the year
_ENGLISH_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
                   "October", "November", "December")
# Month names, English and French, in full and as usually abbreviated; lower case and without accents,
# as texts are looked up (`_folded`). "mar" is March in both languages, so no name means two months.
_MONTHS = ("january jan janvier janv", "february feb fevrier fevr fev", "march mar mars", "april apr avril avr",
           "may mai", "june jun juin", "july jul juillet juil", "august aug aout", "september sep sept septembre",
           "october oct octobre", "november nov novembre", "december dec decembre")
_MONTH_NUMBERS = {name: str(number) for number, names in enumerate(_MONTHS, 1) for name in names.split()}
# [day] month [day][,] year [time]: Jan 1 2000, Jan 1, 2000, 14 mars 2026, 1er févr. 2026, 14-Mar-2026, mars 2026
_NAMED = (r"^(?:(?P<day>[0-9]{1,2})(?:er|st|nd|rd|th)?[\s-]+)?(?P<month>[a-z]+)\.?"
          r"(?:[\s,-]+(?P<day2>[0-9]{1,2})(?:st|nd|rd|th)?)?,?[\s-]+(?P<year>[0-9]{4})")
_SERIAL = r"[0-9]{5}(?:\.[0-9]+)?"  # an Excel date as a number: 46082 is 2026-03-01
_CLOCK = (r"[ T][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?(?: ?[AaPp][Mm])?"
          r"(?: ?(?:Z|[+-][0-9]{2}:?[0-9]{2}))?")  # a time of day, and its UTC offset
_TIME = f"(?:{_CLOCK})?"
_TOTALS = ("total", "totals", "totaux", "grand total", "total général", "somme", "sum")
_MONTH_FIRST = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{2,4})\b.*")


def dates(column: pl.Series, date_format: str | None = None, time_zone: str | None = None) -> Parsed:
    """A column of dates: `2026-03-14`, `14/03/2026`, `2026-03`, `20260314`, `Jan 1, 2026`, `1er
    février 2026`, `mars 2026`, Excel serial numbers, date-times (the time of day is dropped; with a
    UTC offset, the date as written, in the writer's own time), or real dates from a workbook or
    Parquet file. Raises AmbiguousDatesError for a column that may be day first or month first.

    `date_format` (strftime style, the date part only) forces how text is read: a cell written
    otherwise is bad. With a `time_zone` (an IANA name), a time that says its zone (written with a
    UTC offset, or a Parquet timestamp with a zone) counts on its date in that zone.
    """
    read = _dates_from_text if date_format is None else (lambda text: in_format(text, date_format))
    if column.dtype == pl.Date:
        values = column
    elif column.dtype == pl.Datetime:
        values = pl.select(day_in_zone(pl.lit(column), column.dtype, time_zone)).to_series()
    elif column.dtype.is_numeric():  # a workbook's unformatted date, or 20260314 as a number
        values = read(_number_text(column))
    elif column.dtype == pl.String:
        values = read(column)
        if time_zone is not None:
            values = _offset_dates_in_zone(column, values, time_zone)
    else:
        values = pl.repeat(None, len(column), dtype=pl.Date, eager=True)
    year = values.dt.year()
    values = pl.select(pl.when(year.is_between(FIRST_YEAR, LAST_YEAR)).then(values)).to_series()
    return Parsed(values.alias(column.name), ~blank(column) & values.is_null())


def day_in_zone(when: pl.Expr, dtype: pl.DataType, time_zone: str | None) -> pl.Expr:
    """A datetime column's days: a time with a zone on its date in `time_zone` (None: in its own zone),
    a time without one on its date as it stands."""
    if time_zone is not None and getattr(dtype, "time_zone", None):
        when = when.dt.convert_time_zone(time_zone)
    return when.dt.date()


# a time of day with its UTC offset, ending the text: 23:30, 23:30:05.123, 11:30 PM; Z, +01:00, -0500
_ZONED_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:[.,][0-9]+)?)?(?: ?([AaPp])[Mm])?"
                         r" ?(Z|[+-][0-9]{2}:?[0-9]{2})$")


def _offset_dates_in_zone(column: pl.Series, days: pl.Series, time_zone: str) -> pl.Series:
    """`days` (as written) moved to `time_zone` where the text ends in a time with a UTC offset: the
    written local time, less its offset, is the instant; its date in `time_zone` is the day."""
    parts = column.str.strip_chars().str.extract_groups(_ZONED_TIME.pattern).struct.unnest()
    parts.columns = ["hour", "minute", "second", "half", "offset"]
    number = {name: pl.col(name).cast(pl.Int64) for name in ("hour", "minute", "second")}
    afternoon = (pl.col("half").str.to_lowercase() == "p").cast(pl.Int64)
    hour = pl.when(pl.col("half").is_null()).then(number["hour"]).otherwise(number["hour"] % 12 + 12 * afternoon)
    digits = pl.col("offset").str.replace_all(r"[^0-9]", "")
    east = digits.str.slice(0, 2).cast(pl.Int64) * 60 + digits.str.slice(2, 2).cast(pl.Int64)
    offset = pl.when(pl.col("offset") == "Z").then(0).when(pl.col("offset").str.starts_with("-")).then(-east)
    instant = pl.col("day").cast(pl.Datetime("us")) + pl.duration(
        hours=hour, minutes=number["minute"] - offset.otherwise(east), seconds=number["second"].fill_null(0))
    moved = instant.dt.replace_time_zone("UTC").dt.convert_time_zone(time_zone).dt.date()
    return (parts.with_columns(day=days)
            .select(pl.when(pl.col("offset").is_not_null() & pl.col("day").is_not_null()).then(moved)
                    .otherwise(pl.col("day")).alias(days.name)).to_series())


def _styles_of(column: pl.Series) -> tuple[_Style, ...]:
    """The styles to read a column in: its DD/MM/YYYY-or-MM/DD/YYYY dates day first or month first.

    Values past 12 settle it: 14/03/2026 is day first (French exports), 03/14/2026 month first (US
    ones; then 03/01/2026 is the 1st of March). Both in one column: day first, and the month-first
    ones are bad cells, explained. When every date reads both ways, a part that stays the same while
    the other changes over more than one year is the day: 05/01/2025 … 10/01/2026 is a monthly export,
    May 2025 to October 2026, since read the other way it would be January days of two years, which
    no export holds. Otherwise, if the two readings put a date in different months, the column is
    refused (AmbiguousDatesError): the writer must say, with a source's `date_format`.
    """
    distinct = column.unique()
    pairs = distinct.str.extract_groups(_DAY_MONTH).struct.unnest().drop_nulls().cast(pl.Int32)
    first, second = (pairs[name] for name in pairs.columns)
    if (first > 12).any():
        return _STYLES
    if (second > 12).any():
        return _US_STYLES
    if not ((first != second) & (first > 0) & (second > 0)).any():
        return _STYLES  # 01/01/2026, 02/02/2026…: the same date either way
    if distinct.str.extract(_DMY, 3).drop_nulls().n_unique() > 1:  # years: read only when in doubt
        if first.n_unique() == 1 < second.n_unique():
            return _STYLES
        if second.n_unique() == 1 < first.n_unique():
            return _US_STYLES
    texts = pl.DataFrame({"text": column}).filter(_both_ways(pl.col("text")))["text"]
    raise AmbiguousDatesError(texts.to_list())  # 03/01/2026: 3 January or 1 March


def _both_ways(text: pl.Expr) -> pl.Expr:
    """True where a text reads as a date in two months, day first and month first (03/01/2026)."""
    parts = text.str.extract_groups(_DMY)
    first, second = (parts.struct.field(name).cast(pl.Int32) for name in ("1", "2"))
    return (first != second) & first.is_between(1, 12) & second.is_between(1, 12)


class AmbiguousDatesError(ValueError):
    """A column whose dates read both day first and month first, into different months."""

    def __init__(self, texts: list[str]) -> None:
        super().__init__(ambiguity(texts[0]))
        self.texts = texts  # the texts that read into two months, in the column's order


def ambiguity(text: str) -> str:
    """Why a date like 03/01/2026 cannot be read without the writer saying how."""
    shown = text.strip()
    match = re.match(_DMY, shown)
    assert match is not None, shown
    first, second, year = (int(part) for part in match.groups())
    return (f"'{clipped(shown)}' is {first} {_ENGLISH_MONTHS[second - 1]} {year} day first and {second} "
            f"{_ENGLISH_MONTHS[first - 1]} {year} month first, and the column's dates do not tell which")


def _dates_from_text(column: pl.Series) -> pl.Series:
    present = ~blank(column)
    first = column.filter(present).head(1).str.strip_chars().to_list()
    styles = _styles_of(column)
    style = next((s for s in styles if first and re.fullmatch(s.pattern, first[0])), None)
    timed = next((s for s in styles if s.timed and first and re.fullmatch(s.pattern + _TIME, first[0])), None)
    # The whole column in its first cell's style first: one pass, as polars reads it
    if style is not None and not style.day:
        values = column.str.to_date(style.format, strict=False)
    elif timed is not None:  # date-times (event exports): the date part of each, by the style's regex
        values = _in_style(column.str.strip_chars(), timed)
    else:
        values = pl.repeat(None, len(column), dtype=pl.Date, eager=True)
    pending = present & values.is_null()
    if not pending.any():
        return values
    # The rest (other styles, times of day, spaces): each distinct text once, by full regex match.
    rest = column.filter(pending).unique()
    text = pl.col("text").str.strip_chars()
    candidates = [_in_style(text, s) for s in styles]
    serial = text.str.extract(f"^({_SERIAL})$", 1).cast(pl.Float64).floor().cast(pl.Int32)
    candidates.append((serial + _EXCEL_DAY_ZERO).cast(pl.Date))
    candidates.append(_named(text))
    found = pl.DataFrame({"text": rest}).select(pl.coalesce(candidates)).to_series()
    mapped = column.replace_strict(rest, found, default=None, return_dtype=pl.Date)
    return values.fill_null(mapped)


def _named(text: pl.Expr) -> pl.Expr:
    """The dates of texts with a month name (`Jan 1, 2000`, `1er février 2026`, `mars 2026`); null otherwise."""
    parts = _folded(text).str.extract_groups(f"{_NAMED}{_TIME}$")
    day, later_day, year = (parts.struct.field(name) for name in ("day", "day2", "year"))
    month = parts.struct.field("month").replace_strict(_MONTH_NUMBERS, default=None, return_dtype=pl.String)
    day = pl.when(day.is_null() | later_day.is_null()).then(pl.coalesce(day, later_day, pl.lit("1")))
    return pl.concat_str(year, month, day, separator="-").str.to_date("%Y-%m-%d", strict=False)


def _folded(text: pl.Expr) -> pl.Expr:
    """Lower case, without accents: how month names are looked up (Février, fevrier, FÉVR.)."""
    return (text.str.to_lowercase().str.replace_many(["é", "è", "ê", "û"], ["e", "e", "e", "u"])
            .str.replace_all("[\u0300-\u036f]", ""))  # accents typed as combining marks (macOS)


def mixed_offsets(column: pl.Series) -> list[str]:
    """The UTC offsets after a column's times of day (as +HH:MM, Z being +00:00) when they are not one
    time zone's: empty for none, one, or two one hour apart (a zone's winter and summer time)."""
    if column.dtype != pl.String:
        return []
    # The offset ends the text: look at the last six characters with a sign (a few distinct, even
    # for a million timestamps) and for a final Z, without a regex over every text
    endings = column.str.tail(6)
    signed = endings.filter(endings.str.contains("[-+]")).unique()
    found = signed.str.extract(r"([+-][0-9]{2}):?([0-9]{2})$", 0).drop_nulls()
    found = found.str.replace(r"^([+-][0-9]{2}):?([0-9]{2})$", "${1}:${2}").to_list()
    if column.str.ends_with("Z").any():
        found.append("+00:00")
    found = sorted(set(found))
    minutes = [int(f[:3]) * 60 + int(f[0] + f[4:]) for f in found]
    if len(found) < 2 or (len(found) == 2 and abs(minutes[0] - minutes[1]) == 60):
        return []
    return found


def written_as_months(texts: pl.Series, date_format: str | None = None) -> bool:
    """Whether every text names a month and no day: 2026-03, 202603, mars 2026, Mar 2026 (or a
    date_format with no day in it)."""
    if date_format is not None:
        return not _has_day(date_format)
    text = pl.col("text").str.strip_chars()
    named = _folded(text).str.extract(r"^([a-z]+)\.?[\s,-]+[0-9]{4}$", 1).is_in(list(_MONTH_NUMBERS))
    month = (text.str.contains(r"^(?:[0-9]{4}-[0-9]{1,2}|[0-9]{6})$") | named).fill_null(False)
    frame = pl.DataFrame({"text": texts.cast(pl.String)})
    # the first text tells most files (of days) at once; a file of months has its every text checked
    return bool(frame.head(1).select(month.all()).item() and frame.select(month.all()).item())


def _has_day(date_format: str) -> bool:
    return re.search(r"%[-_0^#]?[dej]", date_format) is not None


def in_format(column: pl.Series, date_format: str) -> pl.Series:
    """The dates of texts written in `date_format` (a time of day may follow, and is dropped); null
    where a text is written otherwise."""
    text = column.str.strip_chars().str.replace(f"{_CLOCK}$", "")
    if not _has_day(date_format):  # a month (%m/%Y): its first day
        text, date_format = text + "|01", date_format + "|%d"
    return text.str.to_date(date_format, strict=False)


def format_problem(date_format: str) -> str | None:
    """What is wrong with a source's `date_format`, or None when dates written in it read back."""
    if "%" not in date_format:
        return f"'{date_format}' is not a strftime format (no % directive)"
    if _TIME_DIRECTIVES.search(date_format):
        return f"'{date_format}' holds a time of day: give the date part only (a time after the date is dropped)"
    day = dt.date(2026, 3, 14)
    try:
        written = day.strftime(date_format)
    except ValueError:
        written = ""
    try:
        read = in_format(pl.Series([written], dtype=pl.String), date_format)[0]
    except pl.exceptions.PolarsError:
        read = None
    if read not in (day, day.replace(day=1)):  # no %Y, %m…: it cannot say which month a date is in
        return f"'{date_format}' does not give a date's year, month and day (14 March 2026 reads back as {read})"
    return None


def _in_style(text: pl.Series | pl.Expr, style: _Style):  # type: ignore[no-untyped-def]
    """The dates of texts written in `style` (a time of day may follow where it allows); null otherwise."""
    date_part = text.str.extract(f"^({style.pattern}){_TIME if style.timed else ''}$", 1)
    return (date_part + style.day).str.to_date(style.format, strict=False)


def _number_text(column: pl.Series) -> pl.Series:
    number = pl.col("n").cast(pl.Float64)
    whole = (number == number.floor()) & (number.abs() < 1e15)
    return pl.DataFrame({"n": column}).select(
        pl.when(whole).then(number.cast(pl.Int64, strict=False).cast(pl.String)).otherwise(number.cast(pl.String))
    ).to_series()


def date_problem(text: str, date_format: str | None = None) -> tuple[str, str]:
    """What is wrong with a cell that `dates` marked bad, and how to fix it."""
    shown = text.strip()
    cut = clipped(shown)  # as messages show it
    if date_format is not None:
        return (f"'{cut}' is not a date written as date_format '{date_format}'",
                f"this source's date_format says dates look like {dt.date(2026, 3, 14).strftime(date_format)} "
                "(14 March 2026): correct the cell, or date_format in the config")
    match = _MONTH_FIRST.fullmatch(shown)
    if match and len(match.group(3)) == 2:
        return f"'{cut}' is not a date", "write the year with four digits (14/03/2026), or export dates as YYYY-MM-DD"
    if match and int(match.group(1)) <= 12 < int(match.group(2)) <= 31:
        return (f"'{cut}' is not a date",
                "this one only makes sense month first (MM/DD/YYYY) and others in the column only day first "
                "(DD/MM/YYYY): export the dates as YYYY-MM-DD")
    named = re.match(_NAMED.replace("[a-z]", r"[^\W\d_]"), pl.select(_folded(pl.lit(shown))).item())  # any word
    if shown.lower() in _TOTALS or (named and named["month"] in _TOTALS):
        return f"'{cut}' is not a date", "remove the totals row from the export (kpireport sums the rows itself)"
    if named and named["month"] not in _MONTH_NUMBERS:
        return (f"'{cut}' is not a date",
                f"'{clipped(named['month'])}' is not a month name kpireport knows: write months in English or French "
                "(Mar 14, 2026 or 14 mars 2026), or dates as YYYY-MM-DD")
    return f"'{cut}' is not a date", DATE_HINT


def parse_date(text: str) -> dt.date:
    """One date: `2026-03-14`, `14/03/2026`, `2026-03-14 09:30`, `2026-03` (its first day), `20260314`,
    `Mar 14, 2026`, `14 mars 2026`, or an Excel serial number. Raises ValueError otherwise (03/01/2026
    too: alone, it may be January or March)."""
    _check_text(text)
    value = dates(pl.Series([text], dtype=pl.String)).values[0]
    if value is None:
        raise ValueError(date_problem(text)[0])
    return value


def _check_text(text: object) -> None:
    """What a column of text can hold: a `str` that UTF-8 can encode (no lone surrogates)."""
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not text")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{text!r} holds characters that are not text") from None
