"""The same measures over the same deals in a CSV file, a DuckDB file and a real PostgreSQL
(tests/postgres.py): identical monthly inputs, on rows with empty cells, several deals a day,
timestamps with a time zone and a month without any deal closed; each also checked against plain
loops (tests/test_measures.py). Then what a database source adds: its URL's password never shown,
a table or a query, a text column where numbers are read refused, and only months crossing the wire."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import duckdb
import psycopg
import pytest

from kpireport.config import load_config
from kpireport.errors import ConfigError, DataError
from kpireport.months import Month
from kpireport.sources import load_data

from .postgres import PASSWORD, rows_returned
from .test_measures import INPUTS, deals, expected, write_csv
from .test_measures import MEASURES as ALL_MEASURES

# `last` takes the latest day's value: on one day, a file's lowest row, a table's greatest value (a
# table's rows have no order), so it is compared on its own below
SHARED = {name: how for name, how in INPUTS.items() if name != "latest_amount"}
MEASURES = "".join(line + "\n" for line in ALL_MEASURES.splitlines() if "latest_amount" not in line)

COLUMNS = ("deal_id integer, company text, created timestamptz, closed timestamptz, stage text, amount numeric(12, 2), "
           "owner text")


def rows_of(data: list[dict[str, str]]) -> list[tuple]:
    """The deals as a database holds them: timestamps with a time zone (written in UTC, some near
    midnight), numbers, and NULL for an empty cell."""
    def stamp(day: str, index: int) -> dt.datetime | None:
        if not day:
            return None
        time = dt.time(23, 59) if index % 7 == 0 else dt.time(9, 30)
        return dt.datetime.combine(dt.date.fromisoformat(day), time, tzinfo=dt.UTC)
    return [(int(r["Deal ID"]), r["Company"], stamp(r["Created"], i), stamp(r["Closed"], i), r["Stage"],
             float(r["Amount"]) if r["Amount"] else None, r["Owner"] or None) for i, r in enumerate(data)]


def config(folder: Path, source: str) -> Path:
    listed = "\n".join(f"  {name}: {{aggregate: {how}}}" for name, how in SHARED.items())
    path = folder / "kpireport.yaml"
    path.write_text(f"title: Deals\nlocale: en\ninputs:\n{listed}\nkpis:\n  k: {{formula: deals_won}}\nsources:\n"
                    f"{source}    measures:\n{MEASURES}", encoding="utf-8")
    return path


def renamed(query_columns: str) -> str:
    """The table's columns under the names the CSV export uses."""
    return (f'SELECT deal_id AS "Deal ID", company AS "Company", created AS "Created", closed AS "Closed", '
            f'stage AS "Stage", amount AS "Amount", owner AS "Owner" FROM {query_columns}')


@pytest.fixture(scope="module")
def data() -> list[dict[str, str]]:
    return deals(seed=11, count=600)


@pytest.fixture(scope="module")
def postgres_deals(postgres_url: str, data) -> str:  # type: ignore[no-untyped-def]
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS crm_deals")
        connection.execute(f"CREATE TABLE crm_deals ({COLUMNS})")
        with connection.cursor() as cursor, cursor.copy("COPY crm_deals FROM STDIN") as copy:
            for row in rows_of(data):
                copy.write_row(row)
    return postgres_url


def duckdb_file(folder: Path, data: list[dict[str, str]]) -> Path:
    path = folder / "warehouse.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute(f"CREATE TABLE crm_deals ({COLUMNS.replace('timestamptz', 'TIMESTAMPTZ')})")
        connection.executemany("INSERT INTO crm_deals VALUES (?, ?, ?, ?, ?, ?, ?)", rows_of(data))
    return path


def test_a_csv_file_duckdb_and_postgresql_give_the_same_inputs(tmp_path: Path, data, postgres_deals: str,  # type: ignore[no-untyped-def]
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    write_csv(tmp_path / "deals.csv", data)
    from_csv = load_data(load_config(config(tmp_path, "  - path: deals.csv\n    layout: rows\n"))).values
    duckdb_file(tmp_path, data)
    from_duckdb = load_data(load_config(config(
        tmp_path, f"  - database: duckdb:///warehouse.duckdb\n    query: '{renamed('crm_deals')}'\n"))).values
    monkeypatch.setenv("CRM_URL", postgres_deals)
    from_postgres = load_data(load_config(config(
        tmp_path, f"  - database: ${{CRM_URL}}\n    query: '{renamed('crm_deals')}'\n"))).values
    truth = {name: series for name, series in expected(data).items() if name in SHARED}
    for found in (from_csv, from_duckdb, from_postgres):
        for name in SHARED:
            assert set(found[name]) == set(truth[name]), name
            for month, value in truth[name].items():
                assert found[name][month] == pytest.approx(value, rel=1e-12), (name, month)
    feb = Month(2026, 2)  # no deal closed that month: no revenue, 0 won, in all three
    assert all(feb not in found["revenue"] and found["deals_won"][feb] == 0
               for found in (from_csv, from_duckdb, from_postgres))


def test_only_a_row_per_month_and_date_column_crosses_the_wire(tmp_path: Path, postgres_deals: str) -> None:
    path = config(tmp_path, f"  - database: {postgres_deals}\n    query: '{renamed('crm_deals')}'\n")
    before = rows_returned(postgres_deals, "crm_deals")
    data = load_data(load_config(path))
    months = len({m for series in data.values.values() for m in series})
    sent = rows_returned(postgres_deals, "crm_deals") - before
    # a GROUP BY per date column (2), a query per snapshot (2), one row of dates: never a deal's row
    assert sent <= 4 * months + 1
    assert sent < 600


def test_a_table_by_name_and_the_last_value_of_a_month(tmp_path: Path, postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS sales.orders")
        connection.execute("CREATE SCHEMA IF NOT EXISTS sales")
        connection.execute("CREATE TABLE sales.orders (day date, amount double precision, plan text)")
        connection.execute("INSERT INTO sales.orders VALUES ('2026-03-02', 10, 'pro'), ('2026-03-30', 25, 'pro'), "
                           "('2026-03-30', 20, 'free'), ('2026-04-01', 7, NULL), ('2026-04-15', NULL, 'pro')")
    path = tmp_path / "kpireport.yaml"
    path.write_text(textwrap.dedent(f"""\
        title: Orders
        inputs:
          latest: {{aggregate: last}}
          paying: {{}}
        kpis:
          k: {{formula: latest}}
        sources:
          - database: {postgres_url}
            table: sales.orders
            measures:
              latest: {{date: day, value: amount, aggregate: last}}
              paying: {{date: day, aggregate: count, filter: {{plan: {{not_in: [free]}}}}}}
        """), encoding="utf-8")
    values = load_data(load_config(path)).values
    assert values["latest"] == {Month(2026, 3): 25, Month(2026, 4): 7}  # March 30: the greatest of the day
    assert values["paying"] == {Month(2026, 3): 2, Month(2026, 4): 2}  # an empty plan is not 'free'


def test_a_text_column_read_as_numbers_is_refused_with_a_cast_to_write(tmp_path: Path, postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS raw_orders")
        connection.execute("CREATE TABLE raw_orders (day date, amount text)")
        connection.execute("INSERT INTO raw_orders VALUES ('2026-03-02', '1 200,50')")
    path = tmp_path / "kpireport.yaml"
    path.write_text(f"title: T\ninputs:\n  sales: {{}}\nkpis:\n  k: {{formula: sales}}\nsources:\n"
                    f"  - database: {postgres_url}\n    table: raw_orders\n    measures:\n"
                    f"      sales: {{date: day, value: amount}}\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load_data(load_config(path))
    assert caught.value.message == "the column 'amount' holds text values, where numbers are read"
    assert 'CAST("amount" AS DOUBLE PRECISION)' in caught.value.hint
    assert PASSWORD not in str(caught.value)
    assert "***" in str(caught.value)


@pytest.mark.parametrize(("source", "message"), [
    ("  - database: duckdb:///w.duckdb\n    measures: {x: {date: d}}\n", "either 'table'"),
    ("  - database: duckdb:///w.duckdb\n    table: t\n    query: select 1\n    measures: {x: {date: d}}\n",
     "either 'table'"),
    ("  - path: a.csv\n    table: t\n    layout: rows\n    measures: {x: {date: d}}\n", "'table' and 'query' go with"),
    ("  - database: duckdb:///w.duckdb\n    layout: wide\n    table: t\n    measures: {x: {date: d}}\n",
     "a database source has 'measures:'"),
    ("  - layout: rows\n    measures: {x: {date: d}}\n", "give 'path'"),
])
def test_a_database_source_is_checked_like_any_other(tmp_path: Path, source: str, message: str) -> None:
    path = tmp_path / "kpireport.yaml"
    path.write_text(f"title: T\ninputs:\n  x: {{}}\nkpis:\n  k: {{formula: x}}\nsources:\n{source}", encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_config(path)


# --- time_zone: whose months -------------------------------------------------------------------------

ZONED_MEASURES = """\
      won: {date: closed, aggregate: count, filter: {stage: won}}
      revenue: {date: closed, value: amount, aggregate: sum, filter: {stage: won}}
      created: {date: created, aggregate: count}
      open_deals: {snapshot: {start: created, end: closed}, aggregate: count}
"""
ZONED_INPUTS = {"won": "sum", "revenue": "sum", "created": "sum", "open_deals": "last"}


def zoned_deals() -> list[tuple[int, dt.datetime, dt.datetime | None, str, float]]:
    """Deals created and closed late in the evening, UTC, around the ends of months: in Paris, an hour
    or two later, many fall in the next month (summer time moves it from 23:00 to 22:00 UTC)."""
    deals, start = [], dt.datetime(2025, 12, 25, 21, 10, tzinfo=dt.UTC)
    for number in range(240):
        created = start + dt.timedelta(days=number // 2, hours=2 * (number % 2), minutes=number % 50)
        closed = None if number % 5 == 0 else created + dt.timedelta(days=number % 40)
        deals.append((number, created, closed, "won" if number % 3 else "lost", float(100 + number)))
    return deals


def zoned_truth(deals, zone: str) -> dict[str, dict[Month, float]]:  # type: ignore[no-untyped-def]
    """The measures by plain loops, each instant's month read in `zone` (zoneinfo)."""
    from zoneinfo import ZoneInfo

    def month(when: dt.datetime) -> Month:
        local = when.astimezone(ZoneInfo(zone))
        return Month(local.year, local.month)
    months = [month(when) for deal in deals for when in deal[1:3] if when is not None]
    covered = [Month.at_index(index) for index in range(min(months).index, max(months).index + 1)]
    truth: dict[str, dict[Month, float]] = {name: {} for name in ZONED_INPUTS}
    for m in covered:
        won = [d for d in deals if d[2] is not None and d[3] == "won" and month(d[2]) == m]
        truth["won"][m] = float(len(won))
        if won:
            truth["revenue"][m] = sum(d[4] for d in won)
        truth["created"][m] = float(sum(month(d[1]) == m for d in deals))
        end = m.index + 1  # open at the month's end: created by then, not closed by then
        truth["open_deals"][m] = float(sum(month(d[1]).index < end and (d[2] is None or month(d[2]).index >= end)
                                           for d in deals))
    return truth


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/New_York", None])
def test_time_zone_puts_every_stored_instant_in_its_month_there(tmp_path: Path, postgres_url: str,  # type: ignore[no-untyped-def]
                                                                zone: str | None) -> None:
    """The same instants as text with a UTC offset (CSV), a Parquet timestamp with a zone, DuckDB's and
    PostgreSQL's timestamptz: with `time_zone:` each counts in its month in that zone, without it in
    its UTC month (the CSV's times are written in UTC, so as written is UTC too)."""
    import polars as pl

    deals = zoned_deals()
    table = f"zoned_{(zone or 'utc').replace('/', '_').lower()}"
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f"DROP TABLE IF EXISTS {table}")
        connection.execute(f"CREATE TABLE {table} (id integer, created timestamptz, closed timestamptz, "
                           "stage text, amount double precision)")
        with connection.cursor() as cursor, cursor.copy(f"COPY {table} FROM STDIN") as copy:
            for deal in deals:
                copy.write_row(deal)
    with duckdb.connect(str(tmp_path / "zoned.duckdb")) as connection:
        connection.execute("CREATE TABLE deals (id INTEGER, created TIMESTAMPTZ, closed TIMESTAMPTZ, stage TEXT, "
                           "amount DOUBLE)")
        connection.executemany("INSERT INTO deals VALUES (?, ?, ?, ?, ?)", deals)
    frame = pl.DataFrame(deals, schema={"id": pl.Int64, "created": pl.Datetime("us", "UTC"),
                                        "closed": pl.Datetime("us", "UTC"), "stage": pl.String,
                                        "amount": pl.Float64}, orient="row")
    frame.write_parquet(tmp_path / "zoned.parquet")
    frame.with_columns(pl.col("created", "closed").dt.strftime("%Y-%m-%dT%H:%M:%SZ")).write_csv(tmp_path / "zoned.csv")
    listed = "\n".join(f"  {name}: {{aggregate: {how}}}" for name, how in ZONED_INPUTS.items())
    zoned = f"    time_zone: {zone}\n" if zone else ""
    truth = zoned_truth(deals, zone or "UTC")
    for source in ("path: zoned.csv\n    layout: rows", "path: zoned.parquet\n    layout: rows",
                   "database: duckdb:///zoned.duckdb\n    table: deals",
                   f"database: {postgres_url}\n    table: {table}"):
        path = tmp_path / "kpireport.yaml"
        path.write_text(f"title: Zoned\nlocale: en\ninputs:\n{listed}\nkpis:\n  k: {{formula: won}}\nsources:\n"
                        f"  - {source}\n{zoned}    measures:\n{ZONED_MEASURES}", encoding="utf-8")
        found = load_data(load_config(path)).values
        assert found == truth, source.split("\n")[0]


def test_a_time_zone_that_does_not_exist_names_its_key_and_the_zone_meant(tmp_path: Path) -> None:
    path = tmp_path / "kpireport.yaml"
    path.write_text("title: Zoned\nlocale: en\ninputs:\n  won: {aggregate: sum}\nkpis:\n  k: {formula: won}\n"
                    "sources:\n  - path: deals.csv\n    layout: rows\n    time_zone: Paris\n"
                    "    measures:\n      won: {date: closed, aggregate: count}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == "sources.0.time_zone"
    assert "'Paris' is not a time zone: did you mean 'Europe/Paris'?" in str(caught.value)
