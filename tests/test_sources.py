"""Data files: wide and long CSV, daily rows rolled up to months, numbers and dates as exports write
them, and each error located by file, line and column."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kpireport.config import load_config
from kpireport.errors import DataError
from kpireport.months import Month
from kpireport.sources import load_data, parse_date, parse_number

CONFIG = """\
title: Test
inputs:
  visits: {aggregate: sum}
  subscribers: {aggregate: last}
  nps: {aggregate: mean}
  tickets: {aggregate: count}
  revenue: {aggregate: sum, format: currency}
  best_day: {aggregate: max}
kpis:
  k: {formula: visits + subscribers + nps + tickets + revenue + best_day}
sources:
  - {path: web.csv, layout: wide, date: date, columns: {Sessions: visits}}
  - {path: crm.csv, layout: long, date: day, name: metric, value: amount, filter: {channel: [email, web]}}
"""


def project(tmp_path: Path, web: str, crm: str = "day,metric,amount,channel\n", config: str = CONFIG):
    (tmp_path / "kpireport.yaml").write_text(textwrap.dedent(config), encoding="utf-8")
    (tmp_path / "web.csv").write_text(textwrap.dedent(web), encoding="utf-8")
    (tmp_path / "crm.csv").write_text(textwrap.dedent(crm), encoding="utf-8")
    return load_config(tmp_path / "kpireport.yaml")


@pytest.mark.parametrize(("text", "expected"), [
    ("1234", 1234.0), ("12,5", 12.5), ("1 234,5", 1234.5), ("1\u00a0234", 1234.0), ("1\u202f234", 1234.0),
    ("1,234.5", 1234.5), ("1.234,5", 1234.5), ("1,234,567", 1234567.0), ("12,5 %", 0.125), ("12.5%", 0.125),
    ("1 200 €", 1200.0), ("-3", -3.0), ("", None), ("n/a", None), ("-", None), (" ", None),
])
def test_numbers_as_exports_write_them(text: str, expected: float | None) -> None:
    assert parse_number(text) == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize("text", ["abc", "12 apples", "1e999"])
def test_text_that_is_not_a_number_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a"):
        parse_number(text)


@pytest.mark.parametrize(("text", "month"), [
    ("2026-03-14", Month(2026, 3)), ("14/03/2026", Month(2026, 3)), ("2026-03", Month(2026, 3)),
    ("2026-03-14 09:30:00", Month(2026, 3)), ("2026-03-14T09:30", Month(2026, 3)),
    ("31.12.2025", Month(2025, 12)),
])
def test_dates(text: str, month: Month) -> None:
    assert Month.of(parse_date(text)) == month


def test_daily_wide_rows_roll_up_with_each_aggregate(tmp_path: Path) -> None:
    config = project(tmp_path, """\
        date,Sessions,subscribers,nps,tickets,best_day
        2026-01-31,10,110,40,x,5
        2026-01-01,20,100,20,,9
        2026-01-15,30,105,30,y,7
        2026-02-01,5,120,,z,1
        """)
    values = load_data(config).values
    january, february = Month(2026, 1), Month(2026, 2)
    assert values["visits"][january] == 60  # renamed column, summed
    assert values["subscribers"][january] == 110  # the latest day, whatever the row order
    assert values["nps"][january] == 30  # mean
    assert values["tickets"][january] == 2  # rows with a value
    assert values["best_day"][january] == 9
    assert february not in values["nps"]  # no value that month: no value, not 0
    assert values["visits"][february] == 5


def test_long_rows_with_filter_and_french_numbers(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Sessions\n", """\
        day;metric;amount;channel
        03/01/2026;revenue;1 200,50 €;email
        15/01/2026;revenue;800;web
        20/01/2026;revenue;999;print
        """)
    assert load_data(config).values["revenue"] == {Month(2026, 1): pytest.approx(2000.5)}


def test_latin1_file_from_french_excel(tmp_path: Path) -> None:
    config = project(tmp_path, "date\n", config=CONFIG.replace("{Sessions: visits}", "{Séances: visits}"))
    (tmp_path / "web.csv").write_bytes("date;Séances\n01/02/2026;1 000\n".encode("cp1252"))
    assert load_data(config).values["visits"] == {Month(2026, 2): 1000}


def test_unknown_column_is_warned_not_fatal(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Sessions,Bounces\n2026-01-01,3,1\n")
    data = load_data(config)
    assert data.warnings == [f"{tmp_path / 'web.csv'}: column 'Bounces' maps to no input; it is ignored"]


def test_missing_file(tmp_path: Path) -> None:
    config = project(tmp_path, "date\n")
    (tmp_path / "web.csv").unlink()
    with pytest.raises(DataError) as caught:
        load_data(config)
    assert str(caught.value) == (f"{tmp_path / 'web.csv'}: file not found\n"
                                 "  hint: check 'sources:' in the config, or the --data path")


def test_missing_column(tmp_path: Path) -> None:
    config = project(tmp_path, "day,Sessions\n2026-01-01,3\n")
    with pytest.raises(DataError) as caught:
        load_data(config)
    assert str(caught.value) == f"{tmp_path / 'web.csv'}:1: no column 'date'\n  hint: columns: day, Sessions"


def test_unparseable_date_names_row_and_column(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Sessions\n2026-01-01,3\n2026-13-45,4\n")
    with pytest.raises(DataError) as caught:
        load_data(config)
    assert str(caught.value).startswith(f"{tmp_path / 'web.csv'}:3:date: '2026-13-45' is not a date")


def test_unparseable_number_names_row_and_column(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Sessions\n2026-01-01,3\n2026-01-02,beaucoup\n")
    with pytest.raises(DataError) as caught:
        load_data(config)
    assert str(caught.value).startswith(f"{tmp_path / 'web.csv'}:3:Sessions: 'beaucoup' is not a number")


def test_same_input_and_month_in_two_files_is_an_error(tmp_path: Path) -> None:
    config = project(tmp_path, "date,revenue\n2026-01-01,3\n",
                     "day,metric,amount,channel\n2026-01-09,revenue,5,web\n")
    with pytest.raises(DataError) as caught:
        load_data(config)
    assert caught.value.message == (f"'revenue' for 2026-01 comes from two files: {tmp_path / 'web.csv'} "
                                    f"and {tmp_path / 'crm.csv'}")


def test_data_option_replaces_the_source_of_the_same_name(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Sessions\n2026-01-01,3\n")
    other = tmp_path / "other"
    other.mkdir()
    (other / "web.csv").write_text("date,Sessions\n2026-01-01,7\n", encoding="utf-8")
    assert load_data(config, [other / "web.csv"]).values["visits"] == {Month(2026, 1): 7}


def test_data_option_adds_a_wide_file(tmp_path: Path) -> None:
    config = project(tmp_path, "date,Sessions\n2026-01-01,3\n")
    (tmp_path / "extra.csv").write_text("date,nps\n2026-01-01,42\n", encoding="utf-8")
    assert load_data(config, [tmp_path / "extra.csv"]).values["nps"] == {Month(2026, 1): 42}
