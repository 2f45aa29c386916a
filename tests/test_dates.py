"""Dates are read as their writer meant, or refused: each case is a file written here and read through
the real CLI (`compute`), with the expected months and sums worked out by hand in the test."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner

from kpireport.cli import cli


def project(folder: Path, data: str, source: str = "") -> Path:
    """A config summing `visits` from `data.csv` (its date column: `date`); `source` adds keys."""
    (folder / "data.csv").write_text(data, encoding="utf-8")
    config = folder / "kpireport.yaml"
    config.write_text("title: T\ninputs:\n  visits: {aggregate: sum}\nkpis:\n  k: {formula: visits}\n"
                      f"sources:\n  - {{path: data.csv, date: date{source}}}\n", encoding="utf-8")
    return config


def compute(folder: Path, data: str, source: str = ""):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["compute", str(project(folder, data, source))])


def monthly(folder: Path, data: str, source: str = "") -> dict[str, float]:
    """month -> visits, as `compute` prints them (months with no value left out)."""
    result = compute(folder, data, source)
    assert result.exit_code == 0, result.output
    return {row["month"]: float(row["value"]) for row in csv.DictReader(io.StringIO(result.stdout)) if row["value"]}


def refused(folder: Path, data: str, source: str = "") -> str:
    """The error of a refused file: exit code 2, one message with a hint, no traceback."""
    result = compute(folder, data, source)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stderr.startswith("error: ")
    assert "\n  hint: " in result.stderr
    return result.stderr


def csv_of(*rows: tuple[str, int]) -> str:
    return "date,visits\n" + "".join(f"{date},{value}\n" for date, value in rows)


# --- date_format: the source says how its dates are written ----------------------------------------------------


def test_date_format_forces_the_reading(tmp_path: Path) -> None:
    # 03/01 and 04/01: day first (the French default) would be January for both
    rows = csv_of(("03/01/2026", 5), ("03/15/2026 10:30", 7), ("04/01/2026", 11))
    assert monthly(tmp_path, rows, ', date_format: "%m/%d/%Y"') == {"2026-03": 12, "2026-04": 11}
    rows = csv_of(("03/01/2026", 5), ("04/01/2026", 7))
    assert monthly(tmp_path, rows, ', date_format: "%d/%m/%Y"') == {"2026-01": 12}
    rows = csv_of(("2026.03", 5), ("2026.04", 7))  # a month: its first day
    assert monthly(tmp_path, rows, ', date_format: "%Y.%m"') == {"2026-03": 5, "2026-04": 7}


def test_a_date_not_written_as_date_format_names_file_row_and_column(tmp_path: Path) -> None:
    error = refused(tmp_path, csv_of(("03/01/2026", 5), ("2026-03-14", 7)), ', date_format: "%m/%d/%Y"')
    assert error.startswith(f"error: {tmp_path / 'data.csv'}:3:date: '2026-03-14' is not a date written as "
                            "date_format '%m/%d/%Y'\n  hint: this source's date_format says dates look like "
                            "03/14/2026 (14 March 2026)")


def test_a_date_format_that_cannot_read_dates_is_a_config_error(tmp_path: Path) -> None:
    for written, problem in (("MM/DD/YYYY", "is not a strftime format"), ("%m/%d/%Y %H:%M", "holds a time of day"),
                             ("%m/%d", "does not give a date's year, month and day")):
        error = refused(tmp_path, csv_of(("03/01/2026", 5)), f', date_format: "{written}"')
        assert error.startswith(f"error: {tmp_path / 'kpireport.yaml'}:7: sources.0.date_format: '{written}' "), error
        assert problem in error
        assert 'hint: how the date column is written, strftime style: "%m/%d/%Y"' in error


# --- DD/MM/YYYY or MM/DD/YYYY: the column tells, or the file is refused ---------------------------------


US_MONTHS = [f"{m:02d}/01/2025" for m in range(5, 13)] + [f"{m:02d}/01/2026" for m in range(1, 11)]
EIGHTEEN_MONTHS = {"2025-05": 101, "2025-06": 102, "2025-07": 103, "2025-08": 104, "2025-09": 105, "2025-10": 106,
                   "2025-11": 107, "2025-12": 108, "2026-01": 109, "2026-02": 110, "2026-03": 111, "2026-04": 112,
                   "2026-05": 113, "2026-06": 114, "2026-07": 115, "2026-08": 116, "2026-09": 117, "2026-10": 118}


def test_a_us_monthly_export_on_the_1st_gives_its_18_months(tmp_path: Path) -> None:
    """05/01/2025 … 10/01/2026: the second part stays 01 over two years, so it is the day (read day first,
    the 18 months collapsed into two Januaries). Two campaigns a month: 1..18 and 100."""
    rows = [(date, n) for n, date in enumerate(US_MONTHS, 1)] + [(date, 100) for date in reversed(US_MONTHS)]
    assert monthly(tmp_path, csv_of(*rows)) == EIGHTEEN_MONTHS


def test_a_french_monthly_export_on_the_1st_gives_its_18_months(tmp_path: Path) -> None:
    french = [f"{date[3:5]}/{date[:2]}/{date[6:]}" for date in US_MONTHS]  # 01/05/2025 … 01/10/2026
    rows = [(date, n) for n, date in enumerate(french, 1)] + [(date, 100) for date in french]
    assert monthly(tmp_path, csv_of(*rows)) == EIGHTEEN_MONTHS


def test_dates_that_only_make_sense_one_way_settle_the_column(tmp_path: Path) -> None:
    # 02/14: month first, so 03/01 is the 1st of March; 14/02: day first, so 01/03 is the 1st of March
    assert monthly(tmp_path, csv_of(("02/14/2026", 4), ("03/01/2026", 6))) == {"2026-02": 4, "2026-03": 6}
    assert monthly(tmp_path, csv_of(("14/02/2026", 4), ("01/03/2026", 6))) == {"2026-02": 4, "2026-03": 6}
    # a daily French month: 13/03 onwards prove day first
    daily = [(f"{d:02d}/03/2026", d) for d in range(1, 32)]
    assert monthly(tmp_path, csv_of(*daily)) == {"2026-03": 31 * 32 / 2}


def test_an_ambiguous_file_is_refused_until_date_format_says_how_it_is_written(tmp_path: Path) -> None:
    """Two weeks of a weekly export: 5 and 12 January, or 1 May and 1 December? Nothing in the file says."""
    rows = csv_of(("2026-01-05", 1), ("05/01/2026", 2), ("12/01/2026", 3))
    error = refused(tmp_path, rows)
    assert error == (f"error: {tmp_path / 'data.csv'}:3:date: '05/01/2026' is 5 January 2026 day first and 1 May "
                     "2026 month first, and the column's dates do not tell which\n  hint: say how the file writes "
                     'dates: add date_format: "%m/%d/%Y" to this source if month first (US), date_format: '
                     '"%d/%m/%Y" if day first; or export the dates as YYYY-MM-DD\n')
    assert refused(tmp_path, rows + "not a date,4\n") == error  # the column is refused before any row
    result = CliRunner().invoke(cli, ["compute", str(tmp_path / "kpireport.yaml"), "--skip-bad-rows"])
    assert (result.exit_code, result.stderr) == (2, error)  # no row to skip: the whole column is in doubt
    assert monthly(tmp_path, csv_of(("05/01/2026", 2), ("12/01/2026", 3)), ', date_format: "%d/%m/%Y"') == {
        "2026-01": 5}
    assert monthly(tmp_path, csv_of(("05/01/2026", 2), ("12/01/2026", 3)), ', date_format: "%m/%d/%Y"') == {
        "2026-05": 2, "2026-12": 3}


def test_a_monthly_export_of_one_year_is_refused(tmp_path: Path) -> None:
    """01/01/2026 … 06/01/2026: six months on the 1st, or six days of January; within one year the
    file cannot say."""
    rows = csv_of(*[(f"{m:02d}/01/2026", m) for m in range(1, 7)])
    assert "'02/01/2026' is 2 January 2026 day first and 1 February 2026 month first" in refused(tmp_path, rows)
    assert monthly(tmp_path, rows, ', date_format: "%m/%d/%Y"') == {f"2026-0{m}": m for m in range(1, 7)}


def test_dates_that_read_the_same_either_way_are_read(tmp_path: Path) -> None:
    assert monthly(tmp_path, csv_of(("01/01/2026", 3), ("02/02/2026", 4))) == {"2026-01": 3, "2026-02": 4}


# --- month names, English and French ------------------------------------------------------------------------------


@pytest.mark.parametrize(("written", "month"), [
    ("Jan 1 2000", "2000-01"), ("Jan 1, 2000", "2000-01"), ("May 01, 2025 10:30 AM", "2025-05"),
    ("14 mars 2026", "2026-03"), ("1 janv. 2026", "2026-01"), ("1er février 2026", "2026-02"),
    ("March 2026", "2026-03"), ("mars 2026", "2026-03"), ("31 DÉCEMBRE 2025", "2025-12"), ("3 aout 2026", "2026-08"),
    ("Sept 30, 2026", "2026-09"), ("30 sept. 2026", "2026-09"), ("Février 2026", "2026-02"), ("fevr. 2026", "2026-02"),
])
def test_a_month_name_form(tmp_path: Path, written: str, month: str) -> None:
    assert monthly(tmp_path, csv_of((f'"{written}"', 7))) == {month: 7}


def test_a_file_mixing_month_name_forms_adds_up_by_month(tmp_path: Path) -> None:
    rows = csv_of(('"Jan 31, 2026 11:59 PM"', 1), ("1er février 2026", 2), ("14 févr. 2026", 4), ("Feb 28 2026", 8),
                  ("1 mars 2026", 16), ("March 31st 2026", 32))
    assert monthly(tmp_path, rows) == {"2026-01": 1, "2026-02": 14, "2026-03": 48}


def test_a_file_of_month_names_is_a_file_of_months(tmp_path: Path) -> None:
    error = refused(tmp_path, csv_of(("janvier 2026", 5), ("février 2026", 6), ("Jan 2026", 5)))
    assert "data.csv:4:date: the month 2026-01 appears on 2 rows (rows 2, 4) in a file of months" in error


def test_an_unknown_month_name_is_named(tmp_path: Path) -> None:
    error = refused(tmp_path, csv_of(("14 mars 2026", 5), ("14 märz 2026", 6)))
    assert error.startswith(f"error: {tmp_path / 'data.csv'}:3:date: '14 märz 2026' is not a date\n  hint: 'märz' "
                            "is not a month name kpireport knows: write months in English or French")


# --- UTC offsets: the month of the local time as written -------------------------------------------------------


def test_a_timestamp_counts_in_the_month_of_its_local_time_as_written(tmp_path: Path) -> None:
    """23:30 on 31 January in New York is February in UTC; the export's writer meant January."""
    rows = csv_of(("2026-01-31T23:30:00-05:00", 1), ("2026-02-01T00:30:00-05:00", 2), ("2026-02-28T23:59:59-05:00", 4),
                  ("2026-03-01T00:00:00-05:00", 8))
    assert monthly(tmp_path, rows) == {"2026-01": 1, "2026-02": 6, "2026-03": 8}
    rows = csv_of(("2026-01-31T23:30:00Z", 1), ("2026-02-01T00:30:00Z", 2), ("2026-01-31 23:30:00 +0530", 4))
    assert monthly(tmp_path, rows) == {"2026-01": 5, "2026-02": 2}
    assert "the dates mix UTC offsets (+00:00, +05:30)" in compute(tmp_path, rows).stderr
    rows = csv_of(("01/31/2026 11:30 PM -05:00", 1), ("02/01/2026 00:30 -0500", 2))  # date_format: the same rule
    assert monthly(tmp_path, rows, ', date_format: "%m/%d/%Y"') == {"2026-01": 1, "2026-02": 2}


def test_a_column_mixing_time_zones_is_warned_and_read_row_by_row(tmp_path: Path) -> None:
    rows = csv_of(("2026-01-31T23:30:00-05:00", 1), ("2026-01-31T23:30:00Z", 2), ("2026-02-01T00:10:00+01:00", 4))
    result = compute(tmp_path, rows)
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        f"warning: {tmp_path / 'data.csv'}:1:date: the dates mix UTC offsets (+00:00, +01:00, -05:00): each row counts "
        "in the month of its own local time, as written\n  hint: a row near midnight at a month's end may fall in "
        "another month in another zone's time: give the source a time_zone: (e.g. Europe/Paris) to count every row "
        "in that zone's months\n")
    assert "k,2026-01,3," in result.stdout
    assert "k,2026-02,4," in result.stdout


def test_a_source_time_zone_puts_each_time_with_an_offset_in_its_month_there(tmp_path: Path) -> None:
    """`time_zone: Europe/Paris`: an instant written with any offset counts on its date in Paris (winter
    UTC+1, summer UTC+2 from 29 March 2026); a time without an offset stays as written; offsets mixed
    in one column are no longer worth a warning, since each row is moved to the one zone."""
    rows = csv_of(("2026-01-31T23:30:00-05:00", 1),  # 05:30 on 1 February in Paris
                  ("2026-01-31T23:30:00Z", 2),  # 00:30 on 1 February
                  ("2026-02-01T00:10:00+01:00", 4),  # Paris's own time
                  ("2026-01-31 22:00", 8),  # no offset: as written
                  ("2026-03-31T22:30:00Z", 16),  # 00:30 on 1 April, summer time
                  ("2026-01-31T22:59:59+00:00", 32))  # 23:59:59 on 31 January
    result = compute(tmp_path, rows, ", time_zone: Europe/Paris")
    assert (result.exit_code, result.stderr) == (0, "")
    assert monthly(tmp_path, rows, ", time_zone: Europe/Paris") == {"2026-01": 40, "2026-02": 7, "2026-04": 16}
    assert monthly(tmp_path, rows) == {"2026-01": 43, "2026-02": 4, "2026-03": 16}  # as written, without it
    rows = csv_of(("01/31/2026 11:30 PM -05:00", 1), ("02/01/2026 00:30 -0500", 2))  # with date_format too
    assert monthly(tmp_path, rows, ', date_format: "%m/%d/%Y", time_zone: UTC') == {"2026-02": 3}


def test_one_zones_winter_and_summer_time_are_not_a_mix(tmp_path: Path) -> None:
    """New York writes -05:00 in winter and -04:00 in summer: one clock, nothing to warn about."""
    rows = csv_of(("2026-03-07T23:00:00-05:00", 1), ("2026-03-31T23:30:00-04:00", 2), ("2026-04-01T00:30:00-04:00", 4),
                  ("2026-11-30T23:30:00-05:00", 8))
    result = compute(tmp_path, rows)
    assert (result.exit_code, result.stderr) == (0, "")
    assert monthly(tmp_path, rows) == {"2026-03": 3, "2026-04": 4, "2026-11": 8}
