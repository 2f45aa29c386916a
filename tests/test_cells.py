"""Numbers and dates as exports write them, a column at a time (polars) and one text at a time, and
properties that hold for any text: the parsers answer a value, no value, or ValueError — nothing else."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kpireport.cells import AmbiguousDatesError, date_problem, dates, number_problem, numbers, parse_date, parse_number


@pytest.mark.parametrize(("text", "expected"), [
    ("1234", 1234.0), ("12,5", 12.5), ("12.5", 12.5), ("-3", -3.0), ("+3", 3.0), ("\u22124", -4.0),
    ("1 234", 1234.0), ("1\u00a0234", 1234.0), ("1\u202f234,5", 1234.5), ("1'234.5", 1234.5),
    ("1,234.5", 1234.5), ("1.234,5", 1234.5), ("1,234,567", 1234567.0), ("1.234.567", 1234567.0),
    ("12,5 %", 0.125), ("12.5%", 0.125), ("-3 %", -0.03),
    ("1 200 €", 1200.0), ("€1,200.50", 1200.5), ("-€12", -12.0), ("EUR 12", 12.0), ("12 USD", 12.0), ("$5", 5.0),
    ("(1 234,50 €)", -1234.5), ("1e3", 1000.0), (".5", 0.5),
])
def test_one_number(text: str, expected: float) -> None:
    assert parse_number(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", " ", "-", "–", "n/a", "N/A", "na", "n.d.", "#N/A", "null", "None", "nan"])
def test_no_value_markers(text: str) -> None:
    assert parse_number(text) is None


@pytest.mark.parametrize(("text", "problem"), [
    ("abc", "'abc' is not a number"), ("12 apples", "'12 apples' is not a number"),
    ("1e999", "'1e999' is not a finite number"), ("1.2.3,4,5", "'1.2.3,4,5' is not a number"),
    ("1eur2", "'1eur2' is not a number"), ("0x10", "'0x10' is not a number"),
])
def test_text_that_is_not_a_number(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match="^" + problem.replace(".", r"\.") + "$"):
        parse_number(text)
    assert number_problem(text) == problem


def test_an_ambiguous_separator_is_settled_by_the_rest_of_the_column() -> None:
    # "1,234" alone: a thousands comma in comma-delimited (English) files, a decimal comma elsewhere
    assert parse_number("1,234", comma_thousands=True) == 1234
    assert parse_number("1,234", comma_thousands=False) == pytest.approx(1.234)
    # …unless another cell of the column can be read only one way
    english = numbers(pl.Series(["1,234", "2,500.5"]), comma_thousands=False).values.to_list()
    french = numbers(pl.Series(["1,234", "12,5"]), comma_thousands=True).values.to_list()
    assert english == [1234.0, 2500.5]
    assert french == pytest.approx([1.234, 12.5])


def test_a_column_gives_values_and_a_bad_mask() -> None:
    parsed = numbers(pl.Series(["1 234,5", "", "n/a", "beaucoup", "12,5 %", None]))
    assert parsed.values.to_list() == [1234.5, None, None, None, 0.125, None]
    assert parsed.bad.to_list() == [False, False, False, True, False, False]


def test_typed_columns_from_workbooks_and_parquet() -> None:
    floats = numbers(pl.Series([1.5, None, float("nan"), float("inf")]))
    assert floats.values.to_list() == [1.5, None, None, None]
    assert floats.bad.to_list() == [False, False, False, True]
    assert numbers(pl.Series([3, None])).values.to_list() == [3.0, None]
    assert numbers(pl.Series([True])).bad.to_list() == [True]
    assert dates(pl.Series([dt.datetime(2026, 3, 14, 9, 30)])).values.to_list() == [dt.date(2026, 3, 14)]
    assert dates(pl.Series([46095.0, 46095.75])).values.to_list() == [dt.date(2026, 3, 14)] * 2  # Excel serials
    assert dates(pl.Series([20260314])).values.to_list() == [dt.date(2026, 3, 14)]


@pytest.mark.parametrize(("text", "day"), [
    ("2026-03-14", dt.date(2026, 3, 14)), ("2026-3-4", dt.date(2026, 3, 4)),
    ("14/03/2026", dt.date(2026, 3, 14)), ("24/3/2026", dt.date(2026, 3, 24)), ("03/14/2026", dt.date(2026, 3, 14)),
    ("2026/03/14", dt.date(2026, 3, 14)), ("14.03.2026", dt.date(2026, 3, 14)), ("14-03-2026", dt.date(2026, 3, 14)),
    ("2026-03", dt.date(2026, 3, 1)), ("202603", dt.date(2026, 3, 1)), ("20260314", dt.date(2026, 3, 14)),
    ("2026-03-14 09:30:00", dt.date(2026, 3, 14)), ("2026-03-14T09:30", dt.date(2026, 3, 14)),
    ("2026-03-14T23:59:59.123Z", dt.date(2026, 3, 14)), ("2026-03-14 09:30:00+02:00", dt.date(2026, 3, 14)),
    ("14/03/2026 21:05", dt.date(2026, 3, 14)), ("2026-03-14 9:30 PM", dt.date(2026, 3, 14)),
    ("46095", dt.date(2026, 3, 14)), ("46095.5", dt.date(2026, 3, 14)), (" 2026-03-14 ", dt.date(2026, 3, 14)),
    # month names, English and French, in full or abbreviated, any case, accents optional
    ("Jan 1 2000", dt.date(2000, 1, 1)), ("Jan 1, 2000", dt.date(2000, 1, 1)),
    ("May 01, 2025 10:30 AM", dt.date(2025, 5, 1)), ("14 mars 2026", dt.date(2026, 3, 14)),
    ("1 janv. 2026", dt.date(2026, 1, 1)), ("1er février 2026", dt.date(2026, 2, 1)),
    ("March 2026", dt.date(2026, 3, 1)), ("mars 2026", dt.date(2026, 3, 1)), ("1ER FEVRIER 2026", dt.date(2026, 2, 1)),
    ("fe\u0301vr. 2026", dt.date(2026, 2, 1)), ("14-Mar-2026", dt.date(2026, 3, 14)),
    ("Sept. 3rd, 2026", dt.date(2026, 9, 3)), ("3 août 2026", dt.date(2026, 8, 3)), ("déc 2026", dt.date(2026, 12, 1)),
    ("December 31, 2025 11:59 PM", dt.date(2025, 12, 31)), ("juil. 2026", dt.date(2026, 7, 1)),
])
def test_one_date(text: str, day: dt.date) -> None:
    assert parse_date(text) == day


@pytest.mark.parametrize(("text", "hint"), [
    ("2026-13-45", "write dates as YYYY-MM-DD"),
    ("14/03/26", "write the year with four digits"),
    ("Total", "remove the totals row"),
    ("hier", "write dates as YYYY-MM-DD"),
    ("1850-01-01", "write dates as YYYY-MM-DD"),  # a typo, not a KPI's month
    ("Marz 14, 2026", "'marz' is not a month name kpireport knows"),
    ("31 février 2026", "write dates as YYYY-MM-DD"),
    ("Jan 1 1 2000", "write dates as YYYY-MM-DD"),
    ("Total 2026", "remove the totals row"),
])
def test_text_that_is_not_a_date(text: str, hint: str) -> None:
    with pytest.raises(ValueError, match="is not a date"):
        parse_date(text)
    assert hint in date_problem(text)[1]


def test_a_date_column_mixes_styles_and_marks_bad_cells() -> None:
    parsed = dates(pl.Series(["2026-01-31", "15/02/2026", "", "2026-02", "demain", None, "2026-02-03 08:00"]))
    assert parsed.values.to_list() == [dt.date(2026, 1, 31), dt.date(2026, 2, 15), None, dt.date(2026, 2, 1),
                                       None, None, dt.date(2026, 2, 3)]
    assert parsed.bad.to_list() == [False, False, False, False, True, False, False]


def test_a_us_export_is_read_month_first() -> None:
    """In a column where 03/14/2026 shows the month comes first, 03/01/2026 is the 1st of March."""
    days = [dt.date(2026, 3, 1) + dt.timedelta(days=n) for n in range(45)]
    parsed = dates(pl.Series([f"{day:%m/%d/%Y}" for day in days]))
    assert parsed.values.to_list() == days
    iso_first = dates(pl.Series(["2026-01-05", "02/15/2026", "03/01/2026"]))  # whatever the first cell's style
    assert iso_first.values.to_list() == [dt.date(2026, 1, 5), dt.date(2026, 2, 15), dt.date(2026, 3, 1)]


def test_a_column_of_monthly_dates_on_the_1st_is_read_with_the_constant_part_as_the_day() -> None:
    """Every date reads both ways; the part that stays 01 over two years is the day."""
    months = [(2025, m) for m in range(11, 13)] + [(2026, m) for m in range(1, 4)]
    expected = [dt.date(y, m, 1) for y, m in months]
    assert dates(pl.Series([f"{m:02d}/01/{y}" for y, m in months])).values.to_list() == expected  # US
    assert dates(pl.Series([f"01/{m:02d}/{y} 00:00" for y, m in months])).values.to_list() == expected  # French


@pytest.mark.parametrize("column", [
    ["03/01/2026", "04/01/2026 10:00"],  # two days of January, or March and April?
    ["05/01/2026", "12/01/2026"],  # a weekly export of two rows, or May and December?
    ["01/01/2026", "01/02/2026", "01/03/2026"],  # a monthly export of one year, or three days of January?
    ["03/01/2025", "03/01/2026"],  # nothing changes
    ["01/01/2026", "", "2026-02-01", "02/03/2026"],  # the ISO date does not settle the slashed ones
])
def test_a_column_whose_dates_read_into_different_months_either_way_is_refused(column: list[str]) -> None:
    with pytest.raises(AmbiguousDatesError) as caught:
        dates(pl.Series(column))
    ambiguous = [t for t in column if t and t[:2] != t[3:5] and "/" in t]
    assert caught.value.texts == ambiguous
    first, second = int(ambiguous[0][:2]), int(ambiguous[0][3:5])
    assert str(caught.value).startswith(f"'{ambiguous[0]}' is {first} ")
    assert f"{second} {['January', 'February', 'March', 'April', 'May'][first - 1]} " in str(caught.value)
    with pytest.raises(ValueError, match=r"day first and .* month first, and the column's dates do not tell which"):
        parse_date(ambiguous[0])


def test_a_column_whose_dates_read_the_same_either_way_is_read() -> None:
    assert dates(pl.Series(["01/01/2026", "02/02/2026"])).values.to_list() == [dt.date(2026, 1, 1),
                                                                              dt.date(2026, 2, 2)]


def test_a_column_mixing_day_first_and_month_first_dates_marks_the_month_first_ones() -> None:
    parsed = dates(pl.Series(["14/03/2026", "03/15/2026", "01/02/2026"]))
    assert parsed.values.to_list() == [dt.date(2026, 3, 14), None, dt.date(2026, 2, 1)]
    assert parsed.bad.to_list() == [False, True, False]
    assert date_problem("03/15/2026")[1] == ("this one only makes sense month first (MM/DD/YYYY) and others in the "
                                             "column only day first (DD/MM/YYYY): export the dates as YYYY-MM-DD")


# --- properties ----------------------------------------------------------------------------------

NUMBER_LIKE = st.text(alphabet="0123456789 ,.-+%€$()eE\u00a0\u202f'na/", max_size=14)


@given(st.one_of(st.text(max_size=20), NUMBER_LIKE))
@example("\ud800")
@example("1" * 400)
def test_parse_number_answers_a_number_none_or_value_error(text: str) -> None:
    try:
        value = parse_number(text)
    except ValueError:
        return
    assert value is None or math.isfinite(value)


@given(st.one_of(st.text(max_size=25), st.text(alphabet="0123456789-/.: TZ+apm", max_size=25)))
@example("9999-99-99")
@example("99999")
def test_parse_date_answers_a_date_or_value_error(text: str) -> None:
    try:
        day = parse_date(text)
    except ValueError:
        return
    assert 1900 <= day.year <= 2200


@given(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False), st.sampled_from(["plain", "fr", "en", "pct"]))
def test_a_number_written_as_exports_write_it_reads_back(value: float, style: str) -> None:
    rounded = round(value, 2)
    if style == "plain":
        text, expected = f"{rounded:.2f}", rounded
    elif style == "fr":  # 1 234 567,89 with no-break spaces
        text, expected = f"{rounded:,.2f}".replace(",", "\u00a0").replace(".", ","), rounded
    elif style == "en":
        text, expected = f"{rounded:,.2f}", rounded
    else:
        text, expected = f"{rounded:.2f} %".replace(".", ","), rounded / 100
    assert parse_number(text) == pytest.approx(expected, rel=1e-12, abs=1e-9)


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2200, 12, 31)),
       st.sampled_from(["%Y-%m-%d", "%d/%m/%Y", "%Y-%m-%dT%H:%M:%S", "%d.%m.%Y", "%Y%m%d"]))
def test_a_date_written_as_exports_write_it_reads_back(day: dt.date, style: str) -> None:
    text = dt.datetime.combine(day, dt.time(13, 45)).strftime(style)
    if style == "%d/%m/%Y" and day.day <= 12 and day.day != day.month:  # 03/01: January or March, alone
        with pytest.raises(AmbiguousDatesError):
            parse_date(text)
    else:
        assert parse_date(text) == day


MONTH_NAMES = [  # per month: English and French names and abbreviations
    ["January", "Jan", "janvier", "janv."], ["February", "Feb", "février", "févr.", "fév"], ["March", "Mar", "mars"],
    ["April", "Apr", "avril", "avr."], ["May", "mai"], ["June", "Jun", "juin"], ["July", "Jul", "juillet", "juil."],
    ["August", "Aug", "août"], ["September", "Sep", "Sept", "septembre", "sept."], ["October", "Oct", "octobre"],
    ["November", "Nov", "novembre"], ["December", "Dec", "décembre", "déc."],
]


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2200, 12, 31)), st.data())
def test_a_date_with_a_month_name_reads_back(day: dt.date, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(MONTH_NAMES[day.month - 1]))
    name = data.draw(st.sampled_from([name, name.upper(), name.lower(), name.replace("é", "e").replace("û", "u")]))
    text = data.draw(st.sampled_from([f"{name} {day.day}, {day.year}", f"{day.day} {name} {day.year}",
                                      f"{name} {day.day:02d} {day.year} 10:30 PM", f"{day.day}-{name}-{day.year}"]))
    assert parse_date(text) == day
    assert parse_date(f"{name} {day.year}") == day.replace(day=1)


@given(st.lists(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False).map(lambda v: round(v, 3)), max_size=30))
def test_a_column_reads_as_its_cells_read_one_by_one(values: list[float]) -> None:
    texts = [f"{v:.3f}".replace(".", ",") for v in values]  # one style: the column agrees with each cell
    column = numbers(pl.Series(texts, dtype=pl.String)).values.to_list()
    assert column == pytest.approx([parse_number(t) for t in texts])
