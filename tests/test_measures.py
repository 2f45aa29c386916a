"""Row-level sources (`layout: rows` with `measures:`): a CRM's deals export, one row per deal, made
by the test the way CRMs write them (CSV, XLSX, Parquet), turned into monthly inputs, every value
compared with one recomputed here by plain loops over the rows (csv module, datetime): counts,
sums, means, distinct counts, the value of an expression, filters of every kind, the open pipeline
at each month's end; and every mistake in a measure refused with its key and a fix."""

from __future__ import annotations

import csv
import datetime as dt
import random
import textwrap
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import polars as pl
import pytest
from openpyxl import Workbook

from kpireport.config import load_config
from kpireport.errors import ConfigError, DataError, FormulaError
from kpireport.months import Month
from kpireport.sources import load_data

STAGES = ["won", "lost", "open", "Won "]  # "Won " as typed by hand: not 'won' (filters compare whole cells)
FIRST = dt.date(2025, 1, 1)
MONTHS = 18


def deals(seed: int = 7, count: int = 400) -> list[dict[str, str]]:
    """A CRM's deals: created over 18 months, some closed (won or lost) days to months later, some open;
    amounts with a few empties; February 2026 has no deal closed at all (a month without rows)."""
    rng = random.Random(seed)
    rows = []
    for number in range(1, count + 1):
        created = FIRST + dt.timedelta(days=rng.randrange(0, 30 * MONTHS))
        stage = rng.choice(STAGES)
        closed = None if stage == "open" else created + dt.timedelta(days=rng.randrange(0, 120))
        if closed is not None and (closed.year, closed.month) == (2026, 2):
            closed = closed.replace(month=3)
        amount = "" if rng.random() < 0.08 else str(rng.choice([450, 1200, 2500, 9999, 10000, 18000.5]))
        rows.append({"Deal ID": str(number), "Company": f"C{rng.randrange(1, 40):03d}",
                     "Created": created.isoformat(), "Closed": closed.isoformat() if closed else "",
                     "Stage": stage, "Amount": amount, "Owner": rng.choice(["ana", "ben", ""])})
    return rows


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[dict[str, str]]) -> Path:
    """As a spreadsheet holds them: real dates, numbers, empty cells; text typed over a date or an amount
    ('à définir') as text."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(rows[0]))
    typed = {"Created": dt.date.fromisoformat, "Closed": dt.date.fromisoformat, "Amount": float, "Deal ID": int}

    def cell(column: str, text: str) -> object:
        try:
            return typed[column](text) if column in typed and text else text or None
        except ValueError:
            return text

    for row in rows:
        sheet.append([cell(k, v) for k, v in row.items()])
    workbook.save(path)
    return path


def write_parquet(path: Path, rows: list[dict[str, str]]) -> Path:
    pl.DataFrame({
        "Deal ID": [int(r["Deal ID"]) for r in rows], "Company": [r["Company"] for r in rows],
        "Created": [dt.date.fromisoformat(r["Created"]) for r in rows],
        "Closed": [dt.date.fromisoformat(r["Closed"]) if r["Closed"] else None for r in rows],
        "Stage": [r["Stage"] for r in rows], "Amount": [float(r["Amount"]) if r["Amount"] else None for r in rows],
        "Owner": [r["Owner"] or None for r in rows],
    }).write_parquet(path)
    return path


MEASURES = """\
      deals_won: {date: Closed, aggregate: count, filter: {Stage: won}}
      revenue: {date: Closed, value: Amount, aggregate: sum, filter: {Stage: won}}
      cycle_days: {date: Closed, value: "days_between(Created, Closed)", aggregate: mean, filter: {Stage: won}}
      customers: {date: Closed, value: Company, aggregate: count_distinct, filter: {Stage: won}}
      big_deals: {date: Closed, aggregate: count, filter: {Stage: won, Amount: {ge: 10000}}}
      open_pipeline: {snapshot: {start: Created, end: Closed}, value: Amount, aggregate: sum}
      open_deals: {snapshot: {start: Created, end: Closed}, aggregate: count}
      closed_any: {date: Closed, aggregate: count, filter: {Stage: {in: [won, lost, "Won "]}}}
      unassigned: {date: Created, aggregate: count, filter: {Owner: {empty: true}}}
      not_won_value: {date: Created, value: Amount * 2 / 4, aggregate: sum, filter: {Stage: {not_in: [won]}}}
      largest: {date: Created, value: Amount, aggregate: max, filter: {Stage: {ne: lost}}}
      smallest: {date: Created, value: Amount, aggregate: min, filter: {Created: {ge: 2025-06-01, lt: 2026-01-01}}}
      latest_amount: {date: Created, value: Amount, aggregate: last}
"""
INPUTS = {"deals_won": "sum", "revenue": "sum", "cycle_days": "mean", "customers": "sum", "big_deals": "sum",
          "open_pipeline": "last", "open_deals": "last", "closed_any": "sum", "unassigned": "sum",
          "not_won_value": "sum", "largest": "max", "smallest": "min", "latest_amount": "last"}


def project(folder: Path, data: str, measures: str = MEASURES, inputs: dict[str, str] = INPUTS) -> Path:
    listed = "\n".join(f"  {name}: {{aggregate: {how}}}" for name, how in inputs.items())
    kpis = "\n".join(f"  k_{name}: {{formula: {name}}}" for name in inputs)
    config = folder / "kpireport.yaml"
    config.write_text(f"title: Deals\nlocale: en\ninputs:\n{listed}\nkpis:\n{kpis}\nsources:\n"
                      f"  - path: {data}\n    layout: rows\n    measures:\n{measures}", encoding="utf-8")
    return config


# --- the truth, by plain loops --------------------------------------------------------------------------


def month_of(text: str) -> Month:
    day = dt.date.fromisoformat(text)
    return Month(day.year, day.month)


def expected(rows: list[dict[str, str]]) -> dict[str, dict[Month, float]]:
    dated = [month_of(r[c]) for r in rows for c in ("Created", "Closed") if r[c]]
    covered = [m for m in _months(min(dated), max(dated))]
    won = [r for r in rows if r["Stage"] == "won" and r["Closed"]]
    truth: dict[str, dict[Month, float]] = defaultdict(dict)

    def collect(name: str, chosen: list[dict[str, str]], column: str, how, value=None, zero=False) -> None:  # type: ignore[no-untyped-def]
        groups: dict[Month, list] = defaultdict(list)  # type: ignore[type-arg]
        for row in chosen:
            v = value(row) if value else 1.0
            if v is not None and row[column]:
                groups[month_of(row[column])].append(v)
        for month in covered:
            if groups.get(month):
                truth[name][month] = how(groups[month])
            elif zero:
                truth[name][month] = 0.0

    def amount(row):  # type: ignore[no-untyped-def]
        return float(row["Amount"]) if row["Amount"] else None

    collect("deals_won", won, "Closed", len, zero=True)
    collect("revenue", won, "Closed", sum, amount)
    collect("cycle_days", won, "Closed", lambda v: sum(v) / len(v),
            lambda r: float((dt.date.fromisoformat(r["Closed"]) - dt.date.fromisoformat(r["Created"])).days))
    collect("customers", won, "Closed", lambda v: float(len(set(v))), lambda r: r["Company"], zero=True)
    collect("big_deals", [r for r in won if r["Amount"] and float(r["Amount"]) >= 10000], "Closed", len, zero=True)
    collect("closed_any", [r for r in rows if r["Stage"] in ("won", "lost", "Won ")], "Closed", len, zero=True)
    collect("unassigned", [r for r in rows if not r["Owner"]], "Created", len, zero=True)
    collect("not_won_value", [r for r in rows if r["Stage"] != "won"], "Created", sum,
            lambda r: float(r["Amount"]) * 2 / 4 if r["Amount"] else None)
    collect("largest", [r for r in rows if r["Stage"] != "lost"], "Created", max, amount)
    collect("smallest", [r for r in rows if dt.date(2025, 6, 1) <= dt.date.fromisoformat(r["Created"])
                         < dt.date(2026, 1, 1)], "Created", min, amount)
    # last: the latest day's value; on one day, the row lowest in the file
    latest: dict[Month, tuple[dt.date, int, float]] = {}
    for index, row in enumerate(rows):
        if row["Amount"]:
            key = (dt.date.fromisoformat(row["Created"]), index, float(row["Amount"]))
            month = month_of(row["Created"])
            latest[month] = max(latest.get(month, key), key)
    truth["latest_amount"] = {month: key[2] for month, key in latest.items()}
    for month in covered:  # open at the month's end: created by then, not closed by then
        end = (month + 1).first_day - dt.timedelta(days=1)
        still = [r for r in rows if dt.date.fromisoformat(r["Created"]) <= end
                 and (not r["Closed"] or dt.date.fromisoformat(r["Closed"]) > end)]
        truth["open_deals"][month] = float(len(still))
        amounts = [float(r["Amount"]) for r in still if r["Amount"]]
        if amounts:
            truth["open_pipeline"][month] = sum(amounts)
    return truth


def _months(first: Month, last: Month) -> list[Month]:
    months = [first]
    while months[-1] < last:
        months.append(months[-1] + 1)
    return months


def assert_same(got: dict[str, dict[Month, float]], truth: dict[str, dict[Month, float]],
                names: Iterable[str] = INPUTS) -> None:
    for name in names:
        assert set(got.get(name, {})) == set(truth[name]), name
        for month, value in truth[name].items():
            assert got[name][month] == pytest.approx(value, rel=1e-12), (name, month)


# --- the same truth from every format -------------------------------------------------------------------


@pytest.mark.parametrize("writer", [write_csv, write_xlsx, write_parquet])
def test_every_measure_of_a_deals_export_matches_plain_loops(tmp_path: Path, writer) -> None:  # type: ignore[no-untyped-def]
    rows = deals()
    suffix = {write_csv: "csv", write_xlsx: "xlsx", write_parquet: "parquet"}[writer]
    data = load_data(load_config(project(tmp_path, writer(tmp_path / f"deals.{suffix}", rows).name)))
    truth = expected(rows)
    assert_same(data.values, truth)
    feb = Month(2026, 2)  # no deal closed: no revenue, but 0 won (the export covers February)
    assert feb not in data.values["revenue"]
    assert data.values["deals_won"][feb] == 0
    assert data.rows["cycle_days"] == {m: sum(1 for r in rows if r["Stage"] == "won" and r["Closed"]
                                              and month_of(r["Closed"]) == m) for m in truth["cycle_days"]}
    assert data.warnings == []


HANDFUL = [dict(zip(["Deal ID", "Company", "Created", "Closed", "Stage", "Amount", "Owner"], row, strict=True))
           for row in [
               ("1", "c1", "2026-01-05", "2026-02-10", "won", "1000", "ana"),
               ("2", "c2", "2026-01-20", "2026-01-28", "lost", "500", "ana"),
               ("3", "c1", "2026-02-01", "", "open", "2000", ""),
               ("4", "c3", "2026-02-14", "2026-03-03", "won", "", "ben"),
               ("5", "c3", "2026-03-01", "2026-03-30", "won", "3000", "ben"),
               ("6", "c4", "2026-03-15", "", "open", "1500", "ben"),
               ("7", "c2", "2026-01-10", "2026-04-02", "won", "12000", "ana"),
           ]]  # seven deals whose every measure is worked out by hand in test_a_hand_checked_handful


def test_a_hand_checked_handful(tmp_path: Path) -> None:
    """Seven deals whose every number is worked out by hand below."""
    write_csv(tmp_path / "deals.csv", HANDFUL)
    values = load_data(load_config(project(tmp_path, "deals.csv"))).values
    jan, feb, mar, apr = (Month(2026, m) for m in (1, 2, 3, 4))
    assert values["deals_won"] == {jan: 0, feb: 1, mar: 2, apr: 1}
    assert values["revenue"] == {feb: 1000, mar: 3000, apr: 12000}  # deal 4 has no amount
    assert values["cycle_days"] == {feb: 36, mar: (17 + 29) / 2, apr: 82}  # Jan 5 → Feb 10: 36 days
    assert values["customers"] == {jan: 0, feb: 1, mar: 1, apr: 1}  # c3 twice in March
    assert values["big_deals"] == {jan: 0, feb: 0, mar: 0, apr: 1}
    # open at January's end: 1 (1000) and 7 (12000); February's: 3, 4 (no amount), 7; March's: 3, 6, 7;
    # April's: 3 and 6 (7 closed on the 2nd)
    assert values["open_pipeline"] == {jan: 13000, feb: 14000, mar: 15500, apr: 3500}
    assert values["open_deals"] == {jan: 2, feb: 3, mar: 3, apr: 2}
    assert values["unassigned"] == {jan: 0, feb: 1, mar: 0, apr: 0}


def test_a_typed_parquet_file_counts_whole_numbers_as_a_csv_and_without_row_order(tmp_path: Path) -> None:
    """A Parquet file's whole-number column is counted as it is (not as text) and read as text by a
    filter; without a `last` measure its rows are not numbered: the counts come from the dates. The
    same rows as CSV (read cell by cell, another path) and worked out by hand give the same months."""
    rows = [{"Deal": deal, "Company": company, "Closed": closed, "Stage": stage}
            for deal, company, closed, stage in [
                (1, 9007199254740993, "2026-01-05", "won"),  # past 2**53: a float would merge it with 2**53
                (2, 9007199254740992, "2026-01-20", " won"),
                (3, 9007199254740993, "2026-01-28", "won"),
                (4, 7, "2026-03-02", "won"),
                (5, 7, "2026-03-09", "lost"),
                (6, None, "2026-03-30", "won"),
            ]]
    measures = """\
      won: {date: Closed, aggregate: count, filter: {Stage: won}}
      customers: {date: Closed, value: Company, aggregate: count_distinct, filter: {Stage: won}}
      with_company: {date: Closed, value: Company, aggregate: count}
      from_deal_4: {date: Closed, aggregate: count, filter: {Deal: {in: [4, 5, "6"]}}}
"""
    inputs = {"won": "sum", "customers": "sum", "with_company": "sum", "from_deal_4": "sum"}
    frame = pl.DataFrame(rows, schema={"Deal": pl.Int64, "Company": pl.Int64, "Closed": pl.String, "Stage": pl.String})
    frame.with_columns(pl.col("Closed").str.to_date()).write_parquet(tmp_path / "deals.parquet")
    frame.write_csv(tmp_path / "deals.csv")
    jan, feb, mar = (Month(2026, m) for m in (1, 2, 3))
    expected = {"won": {jan: 3, feb: 0, mar: 2}, "customers": {jan: 2, feb: 0, mar: 1},
                "with_company": {jan: 3, feb: 0, mar: 2}, "from_deal_4": {jan: 0, feb: 0, mar: 3}}
    for name in ("deals.parquet", "deals.csv"):
        folder = tmp_path / name.replace(".", "_")
        folder.mkdir()
        (folder / name).write_bytes((tmp_path / name).read_bytes())
        assert load_data(load_config(project(folder, name, measures, inputs))).values == expected, name


# --- mistakes in a measure ------------------------------------------------------------------------------


def one_measure(tmp_path: Path, measure: str, inputs: dict[str, str] | None = None) -> Path:
    write_csv(tmp_path / "deals.csv", deals(count=30))
    return project(tmp_path, "deals.csv", f"      {measure}\n", inputs or {"x": "sum"})


@pytest.mark.parametrize(("measure", "key", "message", "hint"), [
    ("x: {date: Closed, value: Amont}", "sources.0.measures.x.value", "no column 'Amont'", "did you mean 'Amount'?"),
    ("x: {date: closed, aggregate: count}", "sources.0.measures.x.date", "no column 'closed'",
     "did you mean 'Closed'?"),
    ("x: {date: Closed, aggregate: count, filter: {stage: won}}", "sources.0.measures.x.filter.stage",
     "no column 'stage'", "did you mean 'Stage'?"),
    ("x: {snapshot: {start: Created, end: Close}, aggregate: count}", "sources.0.measures.x.snapshot.end",
     "no column 'Close'", "did you mean 'Closed'?"),
    ("x: {date: Closed, value: Amount * Rate}", "sources.0.measures.x.value", "no column 'Rate'", "its columns:"),
])
def test_a_column_the_file_lacks_is_named_with_the_closest(tmp_path: Path, measure: str, key: str, message: str,
                                                           hint: str) -> None:
    inputs = {"x": "last" if "snapshot" in measure else "sum"}
    with pytest.raises(DataError) as caught:
        load_data(load_config(one_measure(tmp_path, measure, inputs)))
    assert (caught.value.message, caught.value.key, caught.value.line) == (message, key, 1)
    assert hint in caught.value.hint


@pytest.mark.parametrize(("measure", "inputs", "key", "message"), [
    ("y: {date: Closed, aggregate: count}", None, "sources.0.measures.y", "unknown input 'y'"),
    ("x: {date: Closed, aggregate: sum}", None, "sources.0.measures.x", "'aggregate: sum' needs a 'value'"),
    ("x: {date: Closed, value: Amount, aggregate: mean}", None, "sources.0.measures.x",
     "the input 'x' is rolled up over months with 'aggregate: sum', but this measure makes a monthly mean"),
    ("x: {snapshot: {start: Created, end: Closed}, value: Amount, aggregate: sum}", None, "sources.0.measures.x",
     "the input 'x' is rolled up over months with 'aggregate: sum', but this measure makes a stock at each "
     "month's end"),
    ("x: {snapshot: {start: Created, end: Closed}, value: Amount, aggregate: max}", {"x": "last"},
     "sources.0.measures.x.aggregate", "a snapshot adds up the rows open at each month's end: 'max' is not one "
                                       "of sum, count, mean"),
])
def test_a_measure_that_cannot_mean_anything_is_a_config_error(tmp_path: Path, measure: str, inputs, key: str,  # type: ignore[no-untyped-def]
                                                               message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(one_measure(tmp_path, measure, inputs))
    assert caught.value.key == key
    assert caught.value.message.startswith(message)


@pytest.mark.parametrize(("measure", "message"), [
    ("x: {aggregate: count}", "give 'date'"),
    ("x: {date: Closed, snapshot: {start: Created, end: Closed}}", "give 'date'"),
    ("x: {date: Closed, aggregate: count, filter: {Amount: {greater: 5}}}", "unknown comparison 'greater'"),
    ("x: {date: Closed, aggregate: count, filter: {Stage: {in: won}}}", "'in' takes a list"),
    ("x: {date: Closed, aggregate: count, filter: {Amount: {gt: lots}}}", "'gt' compares with a number or a date"),
    ("x: {date: Closed, aggregate: count, filter: {Owner: {empty: maybe}}}", "'empty' takes true or false"),
    ("x: {date: Closed, aggregate: median}", "aggregate"),
])
def test_a_malformed_measure_is_a_schema_error(tmp_path: Path, measure: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(one_measure(tmp_path, measure))


def test_a_value_that_is_neither_a_column_nor_an_expression_points_at_it(tmp_path: Path) -> None:
    with pytest.raises(FormulaError) as caught:
        load_config(one_measure(tmp_path, "x: {date: Closed, value: Amount * / 2}"))
    assert caught.value.key == "sources.0.measures.x.value"
    with pytest.raises(DataError) as unknown:  # no operator: it could be a column's name, "Amount (EUR)"
        load_data(load_config(one_measure(tmp_path, "x: {date: Closed, value: 'days(Created, Closed)'}")))
    assert unknown.value.message == "no column 'days(Created, Closed)'"
    assert "as an expression: unknown function 'days' (position 1)" in unknown.value.hint


def test_rows_and_measures_go_together(tmp_path: Path) -> None:
    config = one_measure(tmp_path, "x: {date: Closed, aggregate: count}")
    text = config.read_text()
    config.write_text(text.replace("layout: rows", "layout: wide"))
    with pytest.raises(ConfigError, match="a rows layout"):
        load_config(config)
    config.write_text(text.split("    measures:")[0])
    with pytest.raises(ConfigError, match="a rows layout"):
        load_config(config)


# --- bad cells ------------------------------------------------------------------------------------------


def test_a_bad_cell_counts_only_in_the_rows_a_measure_keeps(tmp_path: Path) -> None:
    rows = deals(count=30)
    lost = next(i for i, r in enumerate(rows) if r["Stage"] == "lost")
    won = next(i for i, r in enumerate(rows) if r["Stage"] == "won")
    rows[lost]["Amount"] = "about 3k"  # a lost deal's amount: the revenue of won deals never reads it
    write_csv(tmp_path / "deals.csv", rows)
    measure = "revenue: {date: Closed, value: Amount, aggregate: sum, filter: {Stage: won}}\n"
    config = project(tmp_path, "deals.csv", f"      {measure}", {"revenue": "sum"})
    assert load_data(load_config(config)).values["revenue"]
    rows[won]["Amount"] = "12k"
    write_csv(tmp_path / "deals.csv", rows)
    with pytest.raises(DataError) as caught:
        load_data(load_config(config))
    assert (caught.value.line, caught.value.column) == (won + 2, "Amount")
    assert caught.value.message == "'12k' is not a number"
    skipped = load_data(load_config(config), skip_bad_rows=True)
    assert f"{tmp_path / 'deals.csv'}:{won + 2}:Amount: '12k' is not a number; the row is left out of the measures " \
           "that read this cell: revenue (the others count it)\n  hint: write a number" in "\n".join(skipped.warnings)
    rows[won]["Amount"] = ""
    write_csv(tmp_path / "deals.csv", rows)
    assert skipped.values["revenue"] == load_data(load_config(config)).values["revenue"]


SKIP_MEASURES = """\
      deals_lost: {date: Closed, aggregate: count, filter: {Stage: lost}}
      opps_created: {date: Created, aggregate: count}
      won_value: {date: Closed, value: Amount, aggregate: sum, filter: {Stage: won}}
      big_won: {date: Closed, aggregate: count, filter: {Stage: won, Amount: {ge: 10000}}}
      open_deals: {snapshot: {start: Created, end: Closed}, aggregate: count}
      open_pipeline: {snapshot: {start: Created, end: Closed}, value: Amount, aggregate: sum}
"""
SKIP_INPUTS = {"deals_lost": "sum", "opps_created": "sum", "won_value": "sum", "big_won": "sum",
               "open_deals": "last", "open_pipeline": "last"}


def skip_truth(rows: list[dict[str, str]], left_out: dict[str, set[int]]) -> dict[str, dict[Month, float]]:
    """SKIP_MEASURES by plain loops, each over the rows but those `left_out` of it (by index): a bad cell
    it still read would fail here (float('à définir')). The months covered are those of every date of the
    file that reads as one, whatever the measures leave out."""
    def readable(text: str) -> Month | None:
        try:
            return month_of(text)
        except ValueError:
            return None

    dated = [m for r in rows for c in ("Created", "Closed") if r[c] and (m := readable(r[c]))]
    covered = _months(min(dated), max(dated))
    truth: dict[str, dict[Month, float]] = defaultdict(dict)

    def of(name: str, keep=lambda r: True) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
        return [r for i, r in enumerate(rows) if i not in left_out.get(name, set()) and keep(r)]

    def by_month(name: str, column: str, value=lambda r: 1.0, zero: bool = True, keep=lambda r: True) -> None:  # type: ignore[no-untyped-def]
        sums: dict[Month, float] = defaultdict(float)
        for row in of(name, keep):
            if row[column] and value(row) is not None:
                sums[month_of(row[column])] += value(row)
        truth[name] = {m: sums[m] for m in covered if m in sums or zero}

    by_month("deals_lost", "Closed", keep=lambda r: r["Stage"] == "lost")
    by_month("opps_created", "Created")
    by_month("won_value", "Closed", lambda r: float(r["Amount"]) if r["Amount"] else None, zero=False,
             keep=lambda r: r["Stage"] == "won")
    by_month("big_won", "Closed", keep=lambda r: r["Stage"] == "won" and r["Amount"] and float(r["Amount"]) >= 10000)
    def open_at(end: dt.date, name: str) -> list[dict[str, str]]:  # created by then, not closed by then
        return [r for r in of(name) if dt.date.fromisoformat(r["Created"]) <= end
                and (not r["Closed"] or dt.date.fromisoformat(r["Closed"]) > end)]

    for month in covered:
        end = (month + 1).first_day - dt.timedelta(days=1)
        if open_at(end, "open_deals"):
            truth["open_deals"][month] = float(len(open_at(end, "open_deals")))
        amounts = [float(r["Amount"]) for r in open_at(end, "open_pipeline") if r["Amount"]]
        if amounts:
            truth["open_pipeline"][month] = sum(amounts)
    return truth


def bad_deals() -> tuple[list[dict[str, str]], list[dict[str, str]], int, int]:
    """The deals as exported, with a lost deal's amount 'à définir' and a big won deal's close 'bientôt';
    the same deals as they should be; the two deals' indexes."""
    clean = deals()
    lost = next(i for i, r in enumerate(clean) if r["Stage"] == "lost" and r["Closed"])
    won = next(i for i, r in enumerate(clean) if r["Stage"] == "won" and r["Amount"] and float(r["Amount"]) >= 10000)
    rows = [dict(r) for r in clean]
    rows[lost]["Amount"], rows[won]["Closed"] = "à définir", "bientôt"
    return rows, clean, lost, won


@pytest.mark.parametrize("writer", [write_csv, write_xlsx])
def test_skip_bad_rows_leaves_a_row_out_of_the_measures_reading_its_bad_cell_only(tmp_path: Path, writer) -> None:  # type: ignore[no-untyped-def]
    """A user's deals_lost of 2025-06 was 21, not 22: a lost deal's amount 'à définir' dropped it from every
    measure. The lost deal's amount is read by the open pipeline only (won deals' amounts and big won
    deals' comparisons never read a lost deal's); the won deal's close date by every measure of won
    deals and both snapshots (a bad end date must not count the deal as still open). The deals lost and
    created count both deals."""
    rows, clean, lost, won = bad_deals()
    suffix = {write_csv: "csv", write_xlsx: "xlsx"}[writer]
    path = writer(tmp_path / f"deals.{suffix}", rows)
    config = project(tmp_path, path.name, SKIP_MEASURES, SKIP_INPUTS)
    with pytest.raises(DataError) as caught:  # without --skip-bad-rows: the first bad cell a measure reads
        load_data(load_config(config))
    first = min(lost, won)
    assert (caught.value.line, caught.value.column) == (first + 2, "Amount" if first == lost else "Closed")
    assert "; 1 more rows like it (--skip-bad-rows reports such rows and leaves each out of the measures that " \
           "read its bad cell)" in str(caught.value)

    data = load_data(load_config(config), skip_bad_rows=True)
    left_out = {"open_pipeline": {lost, won}, "won_value": {won}, "big_won": {won}, "open_deals": {won}}
    assert_same(data.values, skip_truth(rows, left_out), SKIP_INPUTS)
    closed = month_of(rows[lost]["Closed"])  # the deal with the bad amount is among the deals lost
    assert data.values["deals_lost"][closed] == sum(1 for r in clean if r["Stage"] == "lost" and r["Closed"]
                                                    and month_of(r["Closed"]) == closed)
    for name in ("deals_lost", "opps_created"):  # as if the cells were right
        assert data.values[name] == skip_truth(clean, {})[name]
    warned = [w for w in data.warnings if "left out" in w]
    assert warned == sorted([
        f"{path}:{lost + 2}:Amount: 'à définir' is not a number; the row is left out of the measures that read "
        "this cell: open_pipeline (the others count it)\n  hint: write a number, e.g. 1234.5, 1 234,5, 12,5 % or "
        "1 200 €; leave it empty (or n/a) for no value",
        f"{path}:{won + 2}:Closed: 'bientôt' is not a date; the row is left out of the measures that read this "
        "cell: won_value, big_won, open_deals, open_pipeline (the others count it)\n  hint: write dates as "
        "YYYY-MM-DD, DD/MM/YYYY or YYYY-MM (a time of day may follow)",
    ], key=lambda w: int(w.split(":")[1]))

    writer(path, clean)  # without the bad cells: every measure counts both deals
    assert_same(load_data(load_config(config)).values, skip_truth(clean, {}), SKIP_INPUTS)


def test_skip_bad_rows_from_the_command_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kpireport.cli import cli

    rows, _, lost, won = bad_deals()
    write_csv(tmp_path / "deals.csv", rows)
    config = str(project(tmp_path, "deals.csv", SKIP_MEASURES, SKIP_INPUTS))
    stopped = CliRunner().invoke(cli, ["validate", config])
    assert stopped.exit_code == 2
    assert stopped.stderr.startswith(f"error: {tmp_path / 'deals.csv'}:{min(lost, won) + 2}:")
    computed = CliRunner().invoke(cli, ["compute", config, "--skip-bad-rows", "--format", "csv"])
    assert computed.exit_code == 0, computed.output
    assert f"warning: {tmp_path / 'deals.csv'}:{lost + 2}:Amount: 'à définir' is not a number; the row is left out " \
           "of the measures that read this cell: open_pipeline (the others count it)\n" in computed.stderr
    closed = month_of(rows[lost]["Closed"])
    lost_then = sum(1 for r in rows if r["Stage"] == "lost" and r["Closed"] and month_of(r["Closed"]) == closed)
    assert f"k_deals_lost,{closed},{lost_then}," in computed.stdout


def test_amounts_written_as_text_without_any_filter(tmp_path: Path) -> None:
    """No filter and no column read as text: the table of forms once began empty (a ShapeError)."""
    (tmp_path / "orders.csv").write_text("Date,Amount\n2026-03-02,1 200\n2026-03-05,300\n", encoding="utf-8")
    config = project(tmp_path, "orders.csv", "      sales: {date: Date, value: Amount, aggregate: sum}\n",
                     {"sales": "sum"})
    assert load_data(load_config(config)).values["sales"] == {Month(2026, 3): 1500.0}


def test_a_percentage_leaves_its_row_out_of_the_measures_of_no_rate_only(tmp_path: Path) -> None:
    """'12 %' is 0.12 to the mean discount (a rate) and a mistake to the discount amounts: skipped, the row
    is left out of the amounts alone."""
    (tmp_path / "orders.csv").write_text("Date,Discount\n2026-03-02,0.5\n2026-03-05,12 %\n2026-03-09,0.1\n",
                                         encoding="utf-8")
    measures = ("      discount_rate: {date: Date, value: Discount, aggregate: mean}\n"
                "      discounts: {date: Date, value: Discount, aggregate: sum}\n")
    config = project(tmp_path, "orders.csv", measures, {"discount_rate": "mean", "discounts": "sum"})
    config.write_text(config.read_text().replace("discount_rate: {aggregate: mean}",
                                                 "discount_rate: {aggregate: mean, format: percent}"))
    data = load_data(load_config(config), skip_bad_rows=True)
    assert data.values["discount_rate"][Month(2026, 3)] == pytest.approx((0.5 + 0.12 + 0.1) / 3)
    assert data.values["discounts"][Month(2026, 3)] == pytest.approx(0.5 + 0.1)
    assert [w.split("\n")[0] for w in data.warnings if "left out" in w] == [
        f"{tmp_path / 'orders.csv'}:3:Discount: '12 %' is a percentage where a count is expected (input "
        "'discounts'); the row is left out of the measures that read this cell: discounts (the others count it)"]


def test_a_bad_date_on_a_kept_row_is_located(tmp_path: Path) -> None:
    rows = deals(count=30)
    won = next(i for i, r in enumerate(rows) if r["Stage"] == "won")
    rows[won]["Closed"] = "soon"
    write_csv(tmp_path / "deals.csv", rows)
    config = project(tmp_path, "deals.csv", "      n: {date: Closed, aggregate: count, filter: {Stage: won}}\n",
                     {"n": "sum"})
    with pytest.raises(DataError) as caught:
        load_data(load_config(config))
    assert (caught.value.line, caught.value.column) == (won + 2, "Closed")


def test_us_dates_and_french_numbers_are_read_as_written(tmp_path: Path) -> None:
    """The source's date_format and the locale's numbers hold for rows as for every other layout."""
    (tmp_path / "deals.csv").write_text(
        "Closed;Amount;Stage\n03/01/2026;1 200,50;won\n03/02/2026;800;won\n04/01/2026;;won\n", encoding="utf-8")
    config = tmp_path / "kpireport.yaml"
    config.write_text(textwrap.dedent("""\
        title: Deals
        locale: fr
        inputs:
          revenue: {format: currency}
        kpis:
          ca: {formula: revenue}
        sources:
          - path: deals.csv
            layout: rows
            date_format: "%m/%d/%Y"
            measures:
              revenue: {date: Closed, value: Amount, filter: {Stage: won}}
        """), encoding="utf-8")
    assert load_data(load_config(config)).values["revenue"] == {Month(2026, 3): 2000.5}


def test_a_column_named_with_spaces_and_brackets_is_a_value_and_a_filter(tmp_path: Path) -> None:
    (tmp_path / "orders.csv").write_text(
        "Order date,Amount (EUR),Pays (ISO)\n2026-03-02,100,FR\n2026-03-05,250.5,DE\n2026-04-01,40,FR\n"
        "2026-04-09,,FR\n", encoding="utf-8")
    measures = ('      sales_fr: {date: Order date, value: "Amount (EUR)", filter: {"Pays (ISO)": FR}}\n'
                '      orders: {date: Order date, value: "Amount (EUR)", aggregate: count}\n')
    config = project(tmp_path, "orders.csv", measures, {"sales_fr": "sum", "orders": "sum"})
    values = load_data(load_config(config)).values
    assert values["sales_fr"] == {Month(2026, 3): 100, Month(2026, 4): 40}
    assert values["orders"] == {Month(2026, 3): 2, Month(2026, 4): 1}  # the order without an amount: not counted


def test_validate_says_where_each_input_comes_from_in_words(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kpireport.cli import cli

    write_csv(tmp_path / "deals.csv", deals())
    result = CliRunner().invoke(cli, ["validate", str(project(tmp_path, "deals.csv"))])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.startswith("  ")}
    source = str(tmp_path / "deals.csv")
    assert lines["big_deals"].endswith(f"{source}, 2025-01 to 2026-10: count of rows where Stage = won and "
                                       "Amount ≥ 10000, by the month of Closed")
    assert lines["open_pipeline"].endswith(": sum of Amount, open at each month's end (from Created to Closed)")
    assert lines["unassigned"].endswith(": count of rows where Owner is empty, by the month of Created")
    assert lines["customers"].endswith(": distinct Company where Stage = won, by the month of Closed")


@pytest.mark.parametrize("writer", [write_csv, write_parquet])
def test_measures_whose_dates_no_group_by_reads_still_tell_the_months_covered(tmp_path: Path, writer) -> None:  # type: ignore[no-untyped-def]
    """A snapshot and a distinct count alone: no GROUP BY by day gives the dates' days, so a pass of
    their own does; the months covered (a count's zeros) and the values are those of plain loops."""
    rows = deals()
    measures = "".join(line + "\n" for line in MEASURES.splitlines() if line.split(":")[0].strip()
                       in ("customers", "open_pipeline", "open_deals"))
    inputs = {name: INPUTS[name] for name in ("customers", "open_pipeline", "open_deals")}
    suffix = "csv" if writer is write_csv else "parquet"
    data = load_data(load_config(project(tmp_path, writer(tmp_path / f"deals.{suffix}", rows).name, measures, inputs)))
    truth = expected(rows)
    assert_same(data.values, {name: truth[name] for name in inputs} | {n: {} for n in INPUTS if n not in inputs})
    assert data.values["customers"][Month(2026, 2)] == 0  # covered by the export, no deal won


# --- filter values no row holds -------------------------------------------------------------------------

TYPO_MEASURES = """\
      won: {date: Closed, aggregate: count, filter: {Stage: wonn}}
      won_value: {date: Closed, value: Amount, aggregate: sum, filter: {Stage: wonn}}
      lost: {date: Closed, aggregate: count, filter: {Stage: [lost, Lost]}}
      not_lost: {date: Closed, aggregate: count, filter: {Stage: {ne: lots}}}
      refunded: {date: Closed, aggregate: count, filter: {Stage: {in: [refunded]}}}
      huge: {date: Closed, aggregate: count, filter: {Stage: won, Amount: {ge: 1000000}}}
      big: {date: Closed, aggregate: count, filter: {Amount: 10000, Stage: {not_in: [open]}}}
"""


@pytest.mark.parametrize("writer", [write_csv, write_xlsx, write_parquet])
def test_a_filter_value_no_row_holds_is_warned_about_once_with_the_closest(tmp_path: Path, writer) -> None:  # type: ignore[no-untyped-def]
    """A misspelt stage keeps no row: its measure would be 0 every month without a word. Each value no
    row of the file holds is warned about once (not per month or measure), with the column's closest
    value (case and accents first); comparisons and values the file holds are not."""
    suffix = {write_csv: "csv", write_xlsx: "xlsx", write_parquet: "parquet"}[writer]
    name = writer(tmp_path / f"deals.{suffix}", deals()).name
    inputs = {"won": "sum", "won_value": "sum", "lost": "sum", "not_lost": "sum", "refunded": "sum", "huge": "sum",
              "big": "sum"}
    data = load_data(load_config(project(tmp_path, name, TYPO_MEASURES, inputs)))
    assert data.values["won"]
    assert set(data.values["won"].values()) == {0}  # a count: 0 in the months covered
    warned = [w for w in data.warnings if "no row of the file" in w]
    place = f"{tmp_path / name}:1: sources.0.measures"
    assert warned == [
        f"{place}.won.filter.Stage: no row of the file has 'wonn' in 'Stage': this filter value matches no row "
        "(the filters of won_value name it too)\n  hint: did you mean 'won'? cells are compared whole, case and "
        "accents included: correct the value, or leave it if no row has it yet",
        f"{place}.lost.filter.Stage: no row of the file has 'Lost' in 'Stage': this filter value matches no row\n"
        "  hint: did you mean 'lost'? cells are compared whole, case and accents included: correct the value, or "
        "leave it if no row has it yet",
        f"{place}.not_lost.filter.Stage: no row of the file has 'lots' in 'Stage': this filter value matches no "
        "row\n  hint: did you mean 'lost'? cells are compared whole, case and accents included: correct the "
        "value, or leave it if no row has it yet",
        f"{place}.refunded.filter.Stage: no row of the file has 'refunded' in 'Stage': this filter value matches "
        "no row\n  hint: the column holds 'Won', 'lost', 'open', 'won'; cells are compared whole, case and accents "
        "included: correct the value, or leave it if no row has it yet",
    ]


def test_a_filter_value_that_differs_by_accents_only_is_the_one_meant(tmp_path: Path) -> None:
    (tmp_path / "deals.csv").write_text("Clôture;Étape\n2026-03-02;Gagnée\n2026-03-05;Perdue\n2026-04-01;En cours\n",
                                        encoding="utf-8")
    config = project(tmp_path, "deals.csv", "      won: {date: Clôture, filter: {Étape: GAGNEE}}\n", {"won": "sum"})
    warned = [w for w in load_data(load_config(config)).warnings if "no row of the file" in w]
    assert len(warned) == 1
    assert "hint: did you mean 'Gagnée'?" in warned[0]


def test_a_bad_cell_a_comparison_reads_counts_only_past_the_measures_text_filters(tmp_path: Path) -> None:
    """A lost deal's amount 'à définir' does not stop big won deals (Amount ≥ 10000, Stage won): the
    comparison reads it only on the rows the text filters let through. A won deal's still does, as does
    a lost deal's when another measure sums the amounts of lost deals."""
    rows = deals(count=30)
    lost = next(i for i, r in enumerate(rows) if r["Stage"] == "lost")
    won = next(i for i, r in enumerate(rows) if r["Stage"] == "won")
    rows[lost]["Amount"] = "à définir"
    write_csv(tmp_path / "deals.csv", rows)
    big = "      big_deals: {date: Created, aggregate: count, filter: {Stage: won, Amount: {ge: 10000}}}\n"
    config = project(tmp_path, "deals.csv", big, {"big_deals": "sum"})
    assert load_data(load_config(config)).values["big_deals"]
    lost_value = "      lost_value: {date: Created, value: Amount, filter: {Stage: lost}}\n"
    config = project(tmp_path, "deals.csv", big + lost_value, {"big_deals": "sum", "lost_value": "sum"})
    with pytest.raises(DataError) as caught:
        load_data(load_config(config))
    assert (caught.value.line, caught.value.column) == (lost + 2, "Amount")
    rows[lost]["Amount"], rows[won]["Amount"] = "", "à définir"
    write_csv(tmp_path / "deals.csv", rows)
    with pytest.raises(DataError) as caught:
        load_data(load_config(project(tmp_path, "deals.csv", big, {"big_deals": "sum"})))
    assert (caught.value.line, caught.value.column) == (won + 2, "Amount")


def test_a_column_whose_name_is_not_a_plain_word_is_quoted_in_an_expression(tmp_path: Path) -> None:
    """A French CRM export's headers ("Date de création") could not be named in days_between(): every
    way of quoting them was "unexpected character"."""
    (tmp_path / "affaires.csv").write_text(
        "Date de création,Date de clôture,Montant (€)\n2026-01-05,2026-01-25,100\n2026-01-10,2026-01-20,300\n"
        "2026-02-01,2026-02-03,50\n", encoding="utf-8")
    measures = ('      cycle: {date: "Date de clôture", value: "days_between(`Date de création`, [Date de clôture])", '
                'aggregate: mean}\n'
                '      half: {date: "Date de clôture", value: "`Montant (€)` / 2", aggregate: sum}\n')
    config = load_config(project(tmp_path, "affaires.csv", measures, {"cycle": "mean", "half": "sum"}))
    values = load_data(config).values
    assert values["cycle"] == {Month(2026, 1): (20 + 10) / 2, Month(2026, 2): 2.0}
    assert values["half"] == {Month(2026, 1): 200.0, Month(2026, 2): 25.0}
    broken = ('      cycle: {date: "Date de clôture", value: "days_between(`Date de création`, ) * 2", '
              'aggregate: mean}\n')
    with pytest.raises(FormulaError) as error:
        load_config(project(tmp_path, "affaires.csv", broken, {"cycle": "mean"}))
    assert "days_between(`Date de création`, ) * 2" in str(error.value)  # as written, not as parsed
