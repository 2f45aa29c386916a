"""Property-based and fuzz tests: whatever text or bytes people feed the formula parser, the number and
date readers, the config loader and the data loaders, they answer or raise kpireport's own error,
never anything else.

CI runs a bounded, reproducible number of examples (the whole file in seconds). A longer run for
maintainers: `KPIREPORT_FUZZ=long .venv/bin/python -m pytest tests/test_fuzz.py` (20,000 examples a
test, random each time; see README, Development).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpireport.cells import AmbiguousDatesError
from kpireport.config import load_config
from kpireport.errors import FormulaError, KpiReportError
from kpireport.formula import Name, evaluate, parse, to_excel
from kpireport.months import Month
from kpireport.sources import load_data, parse_date, parse_number

# --- the formula parser -------------------------------------------------------------------------------

TOKENS = st.sampled_from(["a", "b", "visits", "leads", "1", "0", "2.5", "1e308", "1e999", ".5", "+", "-", "*",
                          "/", "(", ")", ",", "prev", "avg", "ytd", "min", "max", "prv", " ", "12", "120",
                          "121", "_x", "é", "%", "\t"])
FORMULA_TEXT = st.one_of(st.text(max_size=60), st.lists(TOKENS, max_size=40).map("".join))


class _Refs:
    """Every name sits in one row of a sheet, every month in a column."""

    def cell(self, name: Name, month: Month) -> str | None:
        return f"{name.name}!R{month.year}C{month.month}"

    def span(self, name: Name, first: Month, last: Month) -> str | None:
        return f"{self.cell(name, first)}:{self.cell(name, last)}"


@given(FORMULA_TEXT, st.floats(allow_nan=False, allow_infinity=False) | st.none())  # data are finite
def test_any_text_parses_or_is_a_formula_error_and_both_backends_answer(text: str, value: float | None) -> None:
    try:
        formula = parse(text)
    except FormulaError:
        return
    result = evaluate(formula.tree, Month(2026, 3), lambda name, month: value)
    assert result is None or math.isfinite(result)  # no value, or a finite number: never nan or inf
    excel = to_excel(formula.tree, Month(2026, 3), _Refs())
    assert excel.startswith("=")


# --- numbers and dates --------------------------------------------------------------------------------


@given(st.text(max_size=30) | st.sampled_from(["1 234,5", "1,234.5", "12,5 %", "(1 200,00)", "1e999", "-",
                                                "n/a", "€ 12", "１２", "١٢", "1.234.567,8", "--1", "+-1"]),
       st.booleans())
def test_any_text_is_a_finite_number_no_value_or_a_value_error(text: str, comma_thousands: bool) -> None:
    try:
        value = parse_number(text, comma_thousands=comma_thousands)
    except ValueError:
        return
    assert value is None or (isinstance(value, float) and math.isfinite(value))


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_number_as_python_writes_it_reads_back_the_same(number: float) -> None:
    assert parse_number(repr(number)) == number


@given(st.text(max_size=30) | st.sampled_from(["2026-02-30", "31/04/2026", "2026-13", "202613", "99999",
                                                "0001-01-01", "2026-03-14T25:00", "14/03/2026 9:30 PM"]))
def test_any_text_is_a_date_or_a_value_error(text: str) -> None:
    try:
        value = parse_date(text)
    except ValueError:
        return
    assert isinstance(value, dt.date)
    assert 1900 <= value.year <= 2200


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2200, 12, 31)))
def test_a_date_in_every_style_reads_back_the_same(day: dt.date) -> None:
    for text in (day.isoformat(), day.strftime("%d/%m/%Y"), day.strftime("%Y%m%d"), f"{day.isoformat()} 09:30"):
        if "/" in text and day.day <= 12 and day.day != day.month:  # 03/01 alone: January or March
            with pytest.raises(AmbiguousDatesError):
                parse_date(text)
        else:
            assert parse_date(text) == day
    assert parse_date(day.strftime("%Y-%m")) == day.replace(day=1)


# --- the config loader --------------------------------------------------------------------------------

CONFIG = """\
title: Test
locale: en
owners:
  web: {name: Web Team, email: web@example.com}
inputs:
  visits: {aggregate: sum}
  leads: {aggregate: sum}
kpis:
  traffic: {formula: visits, target: {default: 1000, 2026-03: 1200}, owner: web}
  conversion: {formula: leads / visits, format: percent, target: 0.05, owner: web}
funnel: [visits, leads]
sources:
  - {path: web.csv, date: date}
"""


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="kpireport-fuzz-"))
    yield path
    shutil.rmtree(path)


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """`text` with a slice replaced by other text: near-valid files reach the deeper checks."""
    start = draw(st.integers(0, len(text)))
    end = draw(st.integers(start, min(len(text), start + 20)))
    filler = draw(st.text(max_size=20) | st.sampled_from(["\t", ": ", "{", "}", "[", "- ", "'", '"', "&a", "*a",
                                                          "!!python/object:os.system", "\n  ", ",", "prev(",
                                                          "2026-13", "~", "null", "1e999", "yes"]))
    return text[:start] + filler + text[end:]


@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode) | mutated(CONFIG).map(str.encode))
def test_any_config_file_loads_or_is_a_kpireport_error(folder: Path, content: bytes) -> None:
    (folder / "kpireport.yaml").write_bytes(content)
    try:
        load_config(folder / "kpireport.yaml")
    except KpiReportError as exc:
        message = str(exc)
        assert message


# --- the data loaders ---------------------------------------------------------------------------------

CELLS = st.sampled_from(["2026-01-05", "2026-02", "05/01/2026", "01/15/2026", "20260105", "46082", "Total", "",
                         "100", "-5", "1 234,5", "1,234", "12,5 %", "n/a", "lots", "1e999", '"', '"a,b"', "é",
                         "date", "visits", "leads", " ", "\x00", "2026-01-05 09:30"]) | st.text(max_size=8)
ROWS = st.lists(st.lists(CELLS, min_size=1, max_size=5), max_size=8)


@st.composite
def csv_text(draw: st.DrawFn) -> str:
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    header = draw(st.sampled_from(["date,visits,leads", "date;visits;leads", "date\tvisits", "visits,leads", ""]))
    rows = draw(ROWS)
    return header + "\n" + "\n".join(delimiter.join(row) for row in rows) + draw(st.sampled_from(["", "\n"]))


@given(csv_text() | st.text(max_size=120) | mutated("date,visits,leads\n2026-01-05,100,5\n2026-02-03,120,7\n"),
       st.booleans())
def test_any_csv_loads_or_is_a_kpireport_error(folder: Path, content: str, skip_bad_rows: bool) -> None:
    (folder / "kpireport.yaml").write_text(CONFIG, encoding="utf-8")
    (folder / "web.csv").write_text(content, encoding="utf-8", errors="surrogatepass")
    config = load_config(folder / "kpireport.yaml")
    try:
        data = load_data(config, skip_bad_rows=skip_bad_rows)
    except KpiReportError as exc:
        message = str(exc)
        assert message
        return
    for series in data.values.values():
        assert all(math.isfinite(value) for value in series.values())


@given(st.binary(max_size=300))
def test_any_bytes_as_a_data_file_load_or_are_a_kpireport_error(folder: Path, content: bytes) -> None:
    (folder / "kpireport.yaml").write_text(CONFIG, encoding="utf-8")
    (folder / "web.csv").write_bytes(content)
    with contextlib.suppress(KpiReportError):
        load_data(load_config(folder / "kpireport.yaml"))
