"""How to compile measures to SQL (issue 18), measured: a month-by-month query of 1 M CRM deals (won deals,
revenue, distinct customers, big deals, all filtered) and an open-pipeline snapshot at each month's end
(generate_series joined to the rows), on a DuckDB file and a throwaway PostgreSQL (tests/postgres.py).

Hand-written SQL in two spellings (aggregate FILTER (WHERE …), and CASE WHEN, which every engine
reads), beside SQLAlchemy Core and ibis when they are installed (they are not kpireport dependencies:
install them in a scratch environment to compare). Per approach and engine: the time to build and
compile the SQL, the median time to run it and fetch the rows (RUNS runs), and
whether it gives the same rows as the hand-written FILTER query. Connections are
opened once per engine and approach, and not timed (ibis: its connect is shown). Prints figures, never fails.
"""

from __future__ import annotations

import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))

import deals

ROWS = 1_000_000
RUNS = 5
FIRST, LAST = "2023-01-01", "2026-12-01"  # the months of the snapshot

MONTHLY_FILTER = """SELECT date_trunc('month', closed_at) AS month,
       count(*) FILTER (WHERE stage = $1) AS deals_won,
       sum(amount) FILTER (WHERE stage = $1) AS revenue,
       count(DISTINCT company_id) FILTER (WHERE stage = $1) AS customers,
       count(*) FILTER (WHERE stage = $1 AND amount >= $2) AS big_deals
FROM deals WHERE closed_at IS NOT NULL GROUP BY 1 ORDER BY 1"""
MONTHLY_CASE = """SELECT date_trunc('month', closed_at) AS month,
       count(CASE WHEN stage = $1 THEN 1 END) AS deals_won,
       sum(CASE WHEN stage = $1 THEN amount END) AS revenue,
       count(DISTINCT CASE WHEN stage = $1 THEN company_id END) AS customers,
       count(CASE WHEN stage = $1 AND amount >= $2 THEN 1 END) AS big_deals
FROM deals WHERE closed_at IS NOT NULL GROUP BY 1 ORDER BY 1"""
SNAPSHOT = f"""SELECT g.month, sum(d.amount) AS open_pipeline
FROM generate_series(TIMESTAMP '{FIRST}', TIMESTAMP '{LAST}', INTERVAL '1 month') AS g(month)
JOIN deals d ON d.created_at < g.month + INTERVAL '1 month'
            AND (d.closed_at IS NULL OR d.closed_at >= g.month + INTERVAL '1 month')
GROUP BY 1 ORDER BY 1"""
PARAMS = ["won", 10000]


def median_seconds(function: Callable[[], object]) -> tuple[float, object]:
    seconds, result = [], None
    for _ in range(RUNS):
        start = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), result


class Engines:
    """Runs SQL text on the DuckDB file or the PostgreSQL server, over one connection each (as ibis does)."""

    def __init__(self, duck: Path, postgres: str | None) -> None:
        self.duck, self.postgres = duck, postgres
        self.connections: dict[str, object] = {}

    def run(self, engine: str, sql: str, params: list | dict | None = None) -> list[tuple]:
        if engine == "duckdb":
            if engine not in self.connections:
                self.connections[engine] = duckdb.connect(str(self.duck), read_only=True)
            return self.connections[engine].execute(sql, params or []).fetchall()
        import psycopg

        factory = "raw" if isinstance(params, list) else "client"
        if factory not in self.connections:
            self.connections[factory] = psycopg.connect(
                self.postgres, autocommit=True,
                cursor_factory=psycopg.RawCursor if factory == "raw" else psycopg.ClientCursor)
        return self.connections[factory].execute(sql, params or None).fetchall()

    def close(self) -> None:
        for connection in self.connections.values():
            connection.close()


def normalised(rows: object) -> list[tuple]:
    """Rows comparable across drivers and approaches: months as text, numbers rounded to cents."""
    out = []
    for row in rows:  # type: ignore[attr-defined]
        values = row.values() if isinstance(row, dict) else row
        out.append(tuple(str(v)[:7] if hasattr(v, "year") else round(float(v), 2) if v is not None else None
                         for v in values))
    return out


def hand(engines: Engines, engine: str) -> dict[str, object]:
    figures: dict[str, object] = {}
    for name, sql in (("hand, FILTER", MONTHLY_FILTER), ("hand, CASE WHEN", MONTHLY_CASE)):
        figures[f"{name}: monthly"] = median_seconds(lambda sql=sql: engines.run(engine, sql, PARAMS))
    figures["hand: snapshot"] = median_seconds(lambda: engines.run(engine, SNAPSHOT, []))
    return figures


def with_sqlalchemy(engines: Engines, engine: str) -> dict[str, object]:
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql

    table = sa.table("deals", *(sa.column(name) for name in ("closed_at", "created_at", "amount", "stage",
                                                              "company_id")))

    def build() -> tuple[object, object]:
        month = sa.func.date_trunc("month", table.c.closed_at)
        won = table.c.stage == "won"
        monthly = (sa.select(month.label("month"), sa.func.count().filter(won).label("deals_won"),
                             sa.func.sum(table.c.amount).filter(won).label("revenue"),
                             sa.func.count(table.c.company_id.distinct()).filter(won).label("customers"),
                             sa.func.count().filter(sa.and_(won, table.c.amount >= 10000)).label("big_deals"))
                   .where(table.c.closed_at.is_not(None)).group_by(month).order_by(month))
        series = sa.func.generate_series(sa.literal_column(f"TIMESTAMP '{FIRST}'"),
                                         sa.literal_column(f"TIMESTAMP '{LAST}'"),
                                         sa.literal_column("INTERVAL '1 month'")).table_valued("month")
        g = series.render_derived(name="g")
        end = g.c.month + sa.literal_column("INTERVAL '1 month'")
        snapshot = (sa.select(g.c.month, sa.func.sum(table.c.amount).label("open_pipeline"))
                    .select_from(g.join(table, sa.and_(table.c.created_at < end, sa.or_(
                        table.c.closed_at.is_(None), table.c.closed_at >= end))))
                    .group_by(g.c.month).order_by(g.c.month))
        # no DuckDB dialect without the duckdb-engine package: DuckDB gets the PostgreSQL text, values inlined
        literal = {"literal_binds": True} if engine == "duckdb" else {}
        dialect = postgresql.dialect()
        return (monthly.compile(dialect=dialect, compile_kwargs=literal),
                snapshot.compile(dialect=dialect, compile_kwargs=literal))

    compile_seconds, (monthly, snapshot) = median_seconds(build)
    params = None if engine == "duckdb" else monthly.params
    return {"sqlalchemy: compile": (compile_seconds, None),
            "sqlalchemy: monthly": median_seconds(lambda: engines.run(engine, str(monthly), params)),
            "sqlalchemy: snapshot": median_seconds(lambda: engines.run(engine, str(snapshot), None)),
            "sqlalchemy: SQL": str(monthly)}


def with_ibis(engines: Engines, engine: str) -> dict[str, object]:
    import ibis

    def connect():  # type: ignore[no-untyped-def]
        if engine == "duckdb":
            return ibis.duckdb.connect(str(engines.duck), read_only=True)
        return ibis.connect(engines.postgres.replace("postgresql://", "postgres://"))

    connect_seconds, connection = median_seconds(connect)

    def build():  # type: ignore[no-untyped-def]
        rows = connection.table("deals")
        closed = rows.filter(rows.closed_at.notnull())
        won = closed.stage == "won"
        monthly = (closed.group_by(month=closed.closed_at.truncate("M"))
                   .aggregate(deals_won=closed.count(where=won), revenue=closed.amount.sum(where=won),
                              customers=closed.company_id.nunique(where=won),
                              big_deals=closed.count(where=won & (closed.amount >= 10000)))
                   .order_by("month"))
        months = ibis.range(ibis.timestamp(FIRST), ibis.timestamp(LAST) + ibis.interval(days=1),
                            ibis.interval(months=1)).unnest().name("month").as_table()
        end = months.month + ibis.interval(months=1)
        snapshot = (months.join(rows, [rows.created_at < end, rows.closed_at.isnull() | (rows.closed_at >= end)])
                    .group_by("month").aggregate(open_pipeline=rows.amount.sum()).order_by("month"))
        return monthly, snapshot, ibis.to_sql(monthly), ibis.to_sql(snapshot)

    compile_seconds, (monthly, snapshot, sql, snapshot_sql) = median_seconds(build)
    return {"ibis: connect": (connect_seconds, None), "ibis: compile": (compile_seconds, None),
            "ibis: monthly": median_seconds(lambda: monthly.to_pyarrow().to_pylist()),
            "ibis: snapshot": median_seconds(lambda: snapshot.to_pyarrow().to_pylist()),
            "ibis: SQL": sql, "ibis: snapshot SQL lines": len(str(snapshot_sql).splitlines())}


def import_seconds(code: str) -> float:
    """The median time of `code` in a fresh interpreter (3 runs)."""
    timer = f"import time; s = time.perf_counter(); {code}; print(time.perf_counter() - s)"
    return statistics.median(float(subprocess.run([sys.executable, "-c", timer], capture_output=True, text=True,
                                                  check=True).stdout) for _ in range(3))


def report(engine: str, figures: dict[str, object], reference: dict[str, list[tuple]]) -> None:
    for name, value in figures.items():
        if isinstance(value, tuple):
            seconds, rows = value
            same = "" if rows is None else ("  same rows" if normalised(rows) == reference.get(name.split(": ")[1])
                                            else "  DIFFERENT rows")
            print(f"  {engine:8} {name:28} {seconds:7.3f} s{same}")
        elif name.endswith("SQL"):
            print(f"  {engine:8} {name}:\n    " + "\n    ".join(str(value).splitlines()))
        else:
            print(f"  {engine:8} {name}: {value}")


def main() -> None:
    from tests.postgres import bin_dir, postgres_server

    available = {name: importlib.util.find_spec(module) is not None
                 for name, module in (("sqlalchemy", "sqlalchemy"), ("ibis", "ibis"), ("psycopg", "psycopg"))}
    print(f"{ROWS:,} deals; median of {RUNS} runs")
    print(f"  import duckdb + psycopg: {import_seconds('import duckdb, psycopg'):.3f} s"
          if available["psycopg"] else f"  import duckdb: {import_seconds('import duckdb'):.3f} s")
    if available["sqlalchemy"]:
        print(f"  import sqlalchemy (+ its PostgreSQL dialect): "
              f"{import_seconds('import sqlalchemy; from sqlalchemy.dialects import postgresql'):.3f} s")
    if available["ibis"]:
        print(f"  import ibis (+ its DuckDB and PostgreSQL back-ends, which import the drivers): "
              f"{import_seconds('import ibis; ibis.duckdb; ibis.postgres'):.3f} s")
    with tempfile.TemporaryDirectory(prefix="kpireport-qb-") as folder:
        deals.write(ROWS, Path(folder), ("duckdb",))
        server = postgres_server() if available["psycopg"] and bin_dir() else None
        if server is None:
            print("  (no PostgreSQL: psycopg or Debian's postgresql missing; DuckDB only)")
        url = server.__enter__() if server else None
        try:
            if url:
                deals.load_postgres(ROWS, url)
                import psycopg

                with psycopg.connect(url, autocommit=True) as connection:
                    connection.execute("VACUUM ANALYZE deals")  # hint bits set once, not in the first timed run
            engines = Engines(Path(folder) / "deals.duckdb", url)
            for engine in ("duckdb", "postgres") if url else ("duckdb",):
                figures = hand(engines, engine)
                reference = {"monthly": normalised(figures["hand, FILTER: monthly"][1]),
                             "snapshot": normalised(figures["hand: snapshot"][1])}
                if available["sqlalchemy"]:
                    figures |= with_sqlalchemy(engines, engine)
                if available["ibis"]:
                    figures |= with_ibis(engines, engine)
                report(engine, figures, reference)
            engines.close()
        finally:
            if server:
                server.__exit__(None, None, None)


if __name__ == "__main__":
    main()
