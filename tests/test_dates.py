"""Dates are read as their writer meant, or refused: each case is a file written here and read through
the real CLI (`compute`), with the expected months and sums worked out by hand in the test."""

from __future__ import annotations

import csv
import io
from pathlib import Path

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
