"""A CRM deals table of N rows for the row-level benchmarks, written as CSV, Parquet, a DuckDB file and
loaded into PostgreSQL with COPY; run alone it times each at 1 M rows in a temporary folder.

One row per deal: deal_id, company_id (a few big customers, a long tail), owner, stage (won, lost or
open), created_at (2023–2026), closed_at (empty for open deals), amount (empty in about 3 %).
Times are local wall-clock times; in the CSV about 2 % of them carry a UTC offset as a New York
export writes them (`2026-03-14T09:30:00-05:00`, the same wall-clock time), the others none; typed
stores (Parquet, DuckDB, PostgreSQL `timestamp`) keep the wall-clock time. Random but reproducible
for one polars version (hashes of the row number, no numpy), generated in batches so that 100 M rows
stream to disk in bounded memory.

    python bench/deals.py --rows 10_000_000 --out /tmp/deals --formats csv,parquet,duckdb \
        --postgres postgresql://user:pw@127.0.0.1:5432/db
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl

BATCH = 2_000_000  # rows generated and written at a time
START = dt.datetime(2023, 1, 1)
END = dt.datetime(2027, 1, 1)  # created_at before it; a deal that would close after it is still open
OWNERS = ["alice", "bruno", "chloé", "david", "emma", "farid", "gaëlle", "hugo", "inès", "jules", "karim", "léa"]
OFFSET_SHARE = 0.02  # of the CSV's times written with a UTC offset
EMPTY_AMOUNT_SHARE = 0.03
FORMATS = ("csv", "parquet", "duckdb")

POSTGRES_TABLE = """CREATE TABLE {table} (deal_id bigint, company_id integer, owner text, stage text,
    created_at timestamp, closed_at timestamp, amount numeric(12, 2))"""


def _uniform(index: pl.Expr, seed: int) -> pl.Expr:
    """A pseudo-random float in [0, 1) per row: the top 53 bits of a 64-bit hash of its number."""
    return (index.hash(seed) // 2048).cast(pl.Float64) / float(2**53)


def batch(first: int, rows: int, total: int, seed: int = 18) -> pl.DataFrame:
    """Deals first+1 … first+rows of `total`, the same whatever the batching."""
    span = int((END - START).total_seconds())
    index = pl.int_range(first, first + rows, dtype=pl.UInt64, eager=True).alias("i").to_frame()
    u = [_uniform(pl.col("i"), seed * 100 + k) for k in range(8)]
    cycle_seconds = (u[2] ** 2 * 200 * 86_400).cast(pl.Int64) + 3_600  # most close within weeks, some in months
    created = pl.lit(START) + pl.duration(seconds=(u[0] * span).cast(pl.Int64))
    closed = created + pl.duration(seconds=cycle_seconds)
    still_open = (closed >= pl.lit(END)) | (u[3] < 0.08)
    return index.select(
        (pl.col("i") + 1).cast(pl.Int64).alias("deal_id"),
        # a few big customers, a long tail: u² skews toward small ids
        ((u[1] ** 2) * max(total // 20, 1)).cast(pl.Int32).add(1).alias("company_id"),
        pl.lit(pl.Series(OWNERS)).gather((u[4] * len(OWNERS)).cast(pl.UInt32)).alias("owner"),
        pl.when(still_open).then(pl.lit("open")).when(u[5] < 0.4).then(pl.lit("won")).otherwise(pl.lit("lost"))
        .alias("stage"),
        created.dt.truncate("1s").alias("created_at"),
        pl.when(still_open).then(None).otherwise(closed.dt.truncate("1s")).alias("closed_at"),
        pl.when(u[7] < EMPTY_AMOUNT_SHARE).then(None)
        .otherwise((300 * (u[6] * 5).exp()).round(2)).alias("amount"),  # 300 … about 45,000, most small
    )


def batches(rows: int, seed: int = 18, size: int = BATCH) -> Iterator[pl.DataFrame]:
    for first in range(0, rows, size):
        yield batch(first, min(size, rows - first), rows, seed)


def _csv_text(frame: pl.DataFrame, seed: int) -> pl.DataFrame:
    """The times as a CSV export writes them: most plain, a few with a New York offset."""
    offset = _uniform(pl.col("deal_id").cast(pl.UInt64), seed * 100 + 99) < OFFSET_SHARE

    def written(column: str) -> pl.Expr:
        return (pl.when(offset).then(pl.col(column).dt.strftime("%Y-%m-%dT%H:%M:%S-05:00"))
                .otherwise(pl.col(column).dt.strftime("%Y-%m-%d %H:%M:%S")).alias(column))

    return frame.with_columns(written("created_at"), written("closed_at"))


def write(rows: int, out: Path, formats: tuple[str, ...] = FORMATS, postgres: str | None = None,
          seed: int = 18, table: str = "deals") -> dict[str, float]:
    """Write the deals in each format under `out` (deals.csv, deals.parquet or deals/part-*.parquet past
    one batch, deals.duckdb) and into `table` at `postgres`; the seconds each took."""
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    parts = out / "deals"  # Parquet parts: DuckDB is loaded from them
    if "parquet" in formats or "duckdb" in formats:
        start = time.perf_counter()
        shutil.rmtree(parts, ignore_errors=True)
        parts.mkdir()
        for number, frame in enumerate(batches(rows, seed)):
            frame.write_parquet(parts / f"part-{number:04d}.parquet")
        if rows <= BATCH and "parquet" in formats:
            (parts / "part-0000.parquet").replace(out / "deals.parquet")
            parts.rmdir()
            source = out / "deals.parquet"
        else:
            source = parts / "*.parquet"
        seconds["parquet"] = time.perf_counter() - start
    if "csv" in formats:
        start = time.perf_counter()
        with (out / "deals.csv").open("wb") as file:
            for number, frame in enumerate(batches(rows, seed)):
                _csv_text(frame, seed).write_csv(file, include_header=number == 0)
        seconds["csv"] = time.perf_counter() - start
    if "duckdb" in formats:
        import duckdb

        start = time.perf_counter()
        (out / "deals.duckdb").unlink(missing_ok=True)
        with duckdb.connect(str(out / "deals.duckdb")) as connection:
            connection.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet('{source}')")
        seconds["duckdb"] = time.perf_counter() - start
    if "parquet" not in formats and parts.exists():
        shutil.rmtree(parts)
    if postgres:
        seconds["postgres"] = load_postgres(rows, postgres, seed, table)
    return seconds


def load_postgres(rows: int, url: str, seed: int = 18, table: str = "deals") -> float:
    """(Re)create `table` and fill it with COPY … FROM STDIN (CSV, batch by batch), then ANALYZE; seconds."""
    import psycopg

    start = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"DROP TABLE IF EXISTS {table}")
        connection.execute(POSTGRES_TABLE.format(table=table))
        with connection.cursor() as cursor, cursor.copy(f"COPY {table} FROM STDIN (FORMAT csv)") as copy:
            for frame in batches(rows, seed):
                buffer = io.BytesIO()
                frame.write_csv(buffer, include_header=False, datetime_format="%Y-%m-%d %H:%M:%S")
                copy.write(buffer.getvalue())
        connection.execute(f"ANALYZE {table}")
    return time.perf_counter() - start


MEASURES = """\
      deals_won: {date: closed_at, aggregate: count, filter: {stage: won}}
      deals_lost: {date: closed_at, aggregate: count, filter: {stage: lost}}
      revenue: {date: closed_at, value: amount, aggregate: sum, filter: {stage: won}}
      sales_cycle_days: {date: closed_at, value: "days_between(created_at, closed_at)", aggregate: mean,
                         filter: {stage: won}}
      customers: {date: closed_at, value: company_id, aggregate: count_distinct, filter: {stage: won}}
      big_deals: {date: closed_at, aggregate: count, filter: {stage: won, amount: {ge: 10000}}}
      open_pipeline: {snapshot: {start: created_at, end: closed_at}, value: amount, aggregate: sum}
      opportunities_created: {date: created_at, aggregate: count}
"""
INPUTS = {"deals_won": "sum", "deals_lost": "sum", "revenue": "sum", "sales_cycle_days": "mean", "customers": "sum",
          "big_deals": "sum", "open_pipeline": "last", "opportunities_created": "sum"}


def measures_config(folder: Path, source: str) -> Path:
    """A config of 8 measures over the deals (`source`: the entry's first keys, indented as under
    `sources:`), for the row-level benchmarks."""
    config = folder / "kpireport.yaml"
    listed = "\n".join(f"  {name}: {{aggregate: {how}}}" for name, how in INPUTS.items())
    config.write_text(f"title: Bench\nlocale: en\ninputs:\n{listed}\nkpis:\n  k: {{formula: deals_won}}\n"
                      f"sources:\n  - {source}\n    measures:\n{MEASURES}", encoding="utf-8")
    return config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=lambda text: int(text.replace("_", "")), default=1_000_000)
    parser.add_argument("--out", type=Path, help="folder (default: a temporary one, deleted afterwards)")
    parser.add_argument("--formats", default=",".join(FORMATS), help="any of csv,parquet,duckdb")
    parser.add_argument("--postgres", default=os.environ.get("KPIREPORT_BENCH_POSTGRES"),
                        help="a PostgreSQL URL to COPY the rows into (default: $KPIREPORT_BENCH_POSTGRES)")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--table", default="deals")
    args = parser.parse_args(argv)
    formats = tuple(name for name in args.formats.split(",") if name)
    unknown = set(formats) - set(FORMATS)
    if unknown:
        parser.error(f"unknown format(s): {', '.join(sorted(unknown))}")
    out = args.out or Path(tempfile.mkdtemp(prefix="kpireport-deals-"))
    try:
        seconds = write(args.rows, out, formats, args.postgres, args.seed, args.table)
        for name, taken in seconds.items():
            rate = args.rows / taken / 1e6
            files = [*out.glob(f"deals.{name}"), *(out / "deals").glob(f"*.{name}")]
            size = sum(path.stat().st_size for path in files if path.is_file())
            sized = f", {size / 1e6:.0f} MB" if size else ""
            print(f"{args.rows:,} deals → {name}: {taken:.2f} s ({rate:.1f} M rows/s{sized})")
        if "parquet" in seconds and args.rows > BATCH:
            print(f"  Parquet parts in {out / 'deals'}")
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
