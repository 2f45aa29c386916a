"""`engine: spark`: the measures run as Spark SQL by Spark in local mode (a real JVM, one session for
the module), on the deals of tests/test_measures.py written as Parquet: the same monthly inputs as
polars reading the same file, as the plain loops, and as the handful worked out by hand; a glob of
several files; a CSV's dates read, its text refused where numbers are read; and every way it cannot
run (no pyspark, no Java, a wrong path or engine) a clear error."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

from kpireport import spark as spark_engine
from kpireport.cli import cli
from kpireport.config import load_config
from kpireport.errors import ConfigError, DataError, EngineError
from kpireport.months import Month
from kpireport.sources import load_data

from .test_measures import HANDFUL, INPUTS, assert_same, deals, expected, project, write_csv, write_parquet

pytestmark = pytest.mark.slow  # a JVM starts once for the module (about 10 s here)

# `last` on one day: a file's lowest row for polars, the greatest value for SQL engines (no row order)
SHARED = [name for name in INPUTS if name != "latest_amount"]


@pytest.fixture(scope="module")
def session() -> Iterator[Any]:
    """The Spark session kpireport makes (spark.session), stopped when the module is done."""
    spark = spark_engine.session(None)
    yield spark
    spark.stop()


def on_spark(config: Path, spark: str = "") -> Path:
    """The project's config with its source read by Spark."""
    config.write_text(config.read_text(encoding="utf-8").replace(
        "    layout: rows\n", f"    layout: rows\n    engine: spark\n{spark}"), encoding="utf-8")
    return config


def test_spark_gives_the_inputs_polars_gives_on_the_same_parquet(tmp_path: Path, session: Any) -> None:
    rows = deals(seed=11, count=600)
    write_parquet(tmp_path / "deals.parquet", rows)
    by_polars = load_data(load_config(project(tmp_path, "deals.parquet")))
    by_spark = load_data(load_config(on_spark(project(tmp_path, "deals.parquet"))))
    assert_same(by_spark.values, by_polars.values, SHARED)
    assert_same(by_spark.values, expected(rows), SHARED)
    assert by_spark.rows == by_polars.rows  # the rows behind each month's mean
    feb = Month(2026, 2)  # no deal closed: no revenue, 0 won
    assert feb not in by_spark.values["revenue"]
    assert by_spark.values["deals_won"][feb] == 0
    assert by_spark.warnings == []


def test_only_a_row_per_month_comes_back_from_spark(tmp_path: Path, session: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    write_parquet(tmp_path / "deals.parquet", deals(count=600))
    returned: list[int] = []
    query = spark_engine.SparkRows.query

    def counted(self: spark_engine.SparkRows, sql: str, params: Any = ()) -> Any:
        result = query(self, sql, params)
        returned.append(len(result.rows))
        return result

    monkeypatch.setattr(spark_engine.SparkRows, "query", counted)
    data = load_data(load_config(on_spark(project(tmp_path, "deals.parquet"))))
    months = len({m for series in data.values.values() for m in series})
    # the probe (no row), one row of dates, a GROUP BY per date column (2), a query per snapshot (2)
    assert len(returned) == 6
    assert max(returned) <= months
    assert sum(returned) <= 4 * months + 1


def test_a_hand_checked_handful(tmp_path: Path, session: Any) -> None:
    """tests/test_measures.py's seven deals, the numbers worked out by hand there, and `last`."""
    write_parquet(tmp_path / "deals.parquet", HANDFUL)
    values = load_data(load_config(on_spark(project(tmp_path, "deals.parquet")))).values
    jan, feb, mar, apr = (Month(2026, m) for m in (1, 2, 3, 4))
    assert values["deals_won"] == {jan: 0, feb: 1, mar: 2, apr: 1}
    assert values["revenue"] == {feb: 1000, mar: 3000, apr: 12000}
    assert values["cycle_days"] == {feb: 36, mar: (17 + 29) / 2, apr: 82}
    assert values["customers"] == {jan: 0, feb: 1, mar: 1, apr: 1}
    assert values["big_deals"] == {jan: 0, feb: 0, mar: 0, apr: 1}
    assert values["open_pipeline"] == {jan: 13000, feb: 14000, mar: 15500, apr: 3500}
    assert values["open_deals"] == {jan: 2, feb: 3, mar: 3, apr: 2}
    assert values["unassigned"] == {jan: 0, feb: 1, mar: 0, apr: 0}
    # created last in January on the 20th (500), in February on the 1st (the 14th has no amount)
    assert values["latest_amount"] == {jan: 500, feb: 2000, mar: 1500}


def test_timestamps_count_in_the_month_of_their_utc_date(tmp_path: Path, session: Any) -> None:
    """Instants near midnight, stored in UTC with a zone: the month of their UTC date, as polars says."""
    stamps = [dt.datetime(2026, 1, 31, 23, 30, tzinfo=dt.UTC), dt.datetime(2026, 2, 1, 0, 30, tzinfo=dt.UTC),
              dt.datetime(2026, 2, 28, 23, 59, tzinfo=dt.UTC), dt.datetime(2026, 3, 1, 0, 0, tzinfo=dt.UTC)]
    pl.DataFrame({"Closed": stamps, "Amount": [1.0, 2.0, 4.0, 8.0]}).write_parquet(tmp_path / "t.parquet")
    measures = "      revenue: {date: Closed, value: Amount}\n"
    by_polars = load_data(load_config(project(tmp_path, "t.parquet", measures, {"revenue": "sum"}))).values
    by_spark = load_data(load_config(on_spark(project(tmp_path, "t.parquet", measures, {"revenue": "sum"})))).values
    assert by_spark == by_polars == {"revenue": {Month(2026, 1): 1, Month(2026, 2): 6, Month(2026, 3): 8}}


def test_a_time_zone_moves_each_instant_to_its_month_there_as_polars_does(tmp_path: Path, session: Any) -> None:
    """`time_zone: Europe/Paris` on the same instants: Paris's months (UTC+1 in winter), on Spark as
    with polars; the session's zone is set per source (the next source without one is in UTC again)."""
    stamps = [dt.datetime(2026, 1, 31, 22, 59, tzinfo=dt.UTC), dt.datetime(2026, 1, 31, 23, 30, tzinfo=dt.UTC),
              dt.datetime(2026, 2, 28, 23, 59, tzinfo=dt.UTC), dt.datetime(2026, 3, 31, 22, 30, tzinfo=dt.UTC)]
    pl.DataFrame({"Closed": stamps, "Amount": [1.0, 2.0, 4.0, 8.0]}).write_parquet(tmp_path / "t.parquet")
    measures = "      revenue: {date: Closed, value: Amount}\n"
    zoned = "    time_zone: Europe/Paris\n"
    config = project(tmp_path, "t.parquet", measures, {"revenue": "sum"})
    config.write_text(config.read_text(encoding="utf-8").replace("    layout: rows\n", "    layout: rows\n" + zoned),
                      encoding="utf-8")
    by_polars = load_data(load_config(config)).values
    by_spark = load_data(load_config(on_spark(config))).values
    assert by_spark == by_polars == {"revenue": {Month(2026, 1): 1, Month(2026, 2): 2, Month(2026, 3): 4,
                                                 Month(2026, 4): 8}}
    utc = load_data(load_config(on_spark(project(tmp_path, "t.parquet", measures, {"revenue": "sum"})))).values
    assert utc == {"revenue": {Month(2026, 1): 3, Month(2026, 2): 4, Month(2026, 3): 8}}


def test_a_glob_of_parquet_files_is_one_source(tmp_path: Path, session: Any) -> None:
    rows = deals(seed=3, count=300)
    write_parquet(tmp_path / "deals.parquet", rows)
    (tmp_path / "parts").mkdir()
    for part in range(3):
        write_parquet(tmp_path / "parts" / f"deals-{part}.parquet", rows[part::3])
    whole = load_data(load_config(project(tmp_path, "deals.parquet"))).values
    parts = load_data(load_config(on_spark(project(tmp_path, "parts/deals-*.parquet")))).values
    assert_same(parts, whole, SHARED)


def test_a_csv_gives_its_dates_and_texts_but_its_numbers_need_parquet(tmp_path: Path, session: Any) -> None:
    rows = deals(count=200)
    write_csv(tmp_path / "deals.csv", rows)
    counted = {"deals_won": "sum", "customers": "sum", "open_deals": "last", "unassigned": "sum"}
    measures = "".join(f"      {name}: {{{how}}}\n" for name, how in [
        ("deals_won", "date: Closed, aggregate: count, filter: {Stage: won}"),
        ("customers", "date: Closed, value: Company, aggregate: count_distinct, filter: {Stage: won}"),
        ("open_deals", "snapshot: {start: Created, end: Closed}, aggregate: count"),
        ("unassigned", "date: Created, aggregate: count, filter: {Owner: {empty: true}}")])
    by_polars = load_data(load_config(project(tmp_path, "deals.csv", measures, counted))).values
    by_spark = load_data(load_config(on_spark(project(tmp_path, "deals.csv", measures, counted)))).values
    assert by_spark == by_polars
    amounts = on_spark(project(tmp_path, "deals.csv", "      revenue: {date: Closed, value: Amount}\n",
                               {"revenue": "sum"}))
    with pytest.raises(DataError) as caught:
        load_data(load_config(amounts))
    assert caught.value.message == "the column 'Amount' holds string values, where numbers are read"
    assert "Parquet" in caught.value.hint  # type: ignore[operator]


def test_a_date_spark_cannot_read_is_a_data_error(tmp_path: Path, session: Any) -> None:
    (tmp_path / "deals.csv").write_text("Closed,Stage\n2026-01-05,won\n05/01/2026,won\n", encoding="utf-8")
    config = on_spark(project(tmp_path, "deals.csv", "      won: {date: Closed, aggregate: count}\n", {"won": "sum"}))
    with pytest.raises(DataError) as caught:
        load_data(load_config(config))
    assert "05/01/2026" in caught.value.message
    assert "YYYY-MM-DD" in caught.value.hint  # type: ignore[operator]


def test_no_file_at_the_path_is_a_data_error_naming_it(tmp_path: Path, session: Any) -> None:
    config = on_spark(project(tmp_path, "missing/*.parquet", "      won: {date: Closed, aggregate: count}\n",
                              {"won": "sum"}))
    result = CliRunner().invoke(cli, ["compute", str(config)])
    assert result.exit_code == 2
    assert "missing/*.parquet" in result.output
    assert "hint: check 'path'" in result.output
    assert "Traceback" not in result.output


# --- what cannot run, said before any JVM starts ------------------------------------------------------


@pytest.mark.parametrize(("source", "key", "message"), [
    ("  - path: d.parquet\n    engine: spark\n    measures: {x: {date: d}}\n", "sources.0",
     "'engine: spark' runs measures over a file's rows"),
    ("  - database: duckdb:///w.duckdb\n    table: t\n    engine: spark\n    measures: {x: {date: d}}\n",
     "sources.0", "'engine: spark' runs measures over a file's rows"),
    ("  - path: d.parquet\n    layout: rows\n    spark: {remote: sc://h:15002}\n    measures: {x: {date: d}}\n",
     "sources.0", "'spark:' goes with 'engine: spark'"),
    ("  - path: d.parquet\n    layout: rows\n    engine: spark\n    spark: {remote: http://h:15002}\n"
     "    measures: {x: {date: d}}\n", "sources.0.spark.remote", "is not a Spark Connect URL"),
    ("  - path: d.parquet\n    layout: rows\n    engine: sprak\n    measures: {x: {date: d}}\n",
     "sources.0.engine", "spark"),
    ("  - path: d.csv\n    layout: rows\n    engine: spark\n    date_format: '%d/%m/%Y'\n"
     "    measures: {x: {date: d}}\n",
     "sources.0", "no 'sheet' or 'date_format' with 'engine: spark'"),
    ("  - path: d.xlsx\n    layout: rows\n    engine: spark\n    measures: {x: {date: d}}\n",
     "sources.0.path", "is not a Parquet or CSV file"),
])
def test_a_spark_source_is_checked_like_any_other(tmp_path: Path, source: str, key: str, message: str) -> None:
    path = tmp_path / "kpireport.yaml"
    path.write_text(f"title: T\ninputs:\n  x: {{}}\nkpis:\n  k: {{formula: x}}\nsources:\n{source}", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert message in str(caught.value)
    assert key in str(caught.value)


def _spark_config(tmp_path: Path, spark: str = "") -> Path:
    write_parquet(tmp_path / "deals.parquet", deals(count=20))
    return on_spark(project(tmp_path, "deals.parquet", "      won: {date: Closed, aggregate: count}\n",
                            {"won": "sum"}), spark)


def test_without_pyspark_the_error_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # import pyspark.sql raises ImportError
    result = CliRunner().invoke(cli, ["compute", str(_spark_config(tmp_path))])
    assert result.exit_code == 2
    assert "'engine: spark' needs the pyspark package" in result.output
    assert "pip install 'kpireport[spark]'" in result.output
    assert "Traceback" not in result.output


def test_without_java_the_error_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.delenv("SPARK_REMOTE", raising=False)
    monkeypatch.setattr(spark_engine.shutil, "which", lambda name: None)
    with pytest.raises(EngineError) as caught:
        load_data(load_config(_spark_config(tmp_path)))
    assert "needs Java" in caught.value.message
    assert "openjdk-17-jre-headless" in caught.value.hint  # type: ignore[operator]


def test_spark_connect_without_its_client_names_the_extra_and_hides_the_token(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "grpc", None)  # as if pyspark[connect]'s gRPC were not installed
    with pytest.raises(EngineError) as caught:
        load_data(load_config(_spark_config(tmp_path, "    spark: {remote: 'sc://spark.example.com:15002/;token=s3cret'}\n")))
    assert "sc://spark.example.com:15002 " in caught.value.message
    assert "s3cret" not in str(caught.value)  # a token in the URL is never shown
    assert "pip install 'kpireport[spark-connect]'" in caught.value.hint  # type: ignore[operator]
