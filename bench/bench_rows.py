"""Row-level measures over a big Parquet file of deals: `kpireport compute` (8 measures, 36 months)
in a new process, its CPU time and peak memory, beside DuckDB's own GROUP BY over the same file when
duckdb is installed (the same monthly counts, sums, mean and distinct count, and the snapshot by the
months deals open and close in, as kpireport does it). BENCH_ROWS sets the size (default 10 million;
the issue's figure is 100 million: 1 GB of Parquet, written once under /tmp). Prints figures; never
fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

ROWS = int(os.environ.get("BENCH_ROWS", 10_000_000))
COMPANIES = 50_000  # a big B2B CRM's accounts: a distinct count holds a set of them a month
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
DUCKDB = """
SELECT date_trunc('month', closed_at) AS month,
       count(*) FILTER (WHERE stage = 'won') AS deals_won,
       count(*) FILTER (WHERE stage = 'lost') AS deals_lost,
       sum(amount) FILTER (WHERE stage = 'won') AS revenue,
       avg(closed_at - created_at) FILTER (WHERE stage = 'won') AS sales_cycle_days,
       count(DISTINCT company_id) FILTER (WHERE stage = 'won') AS customers,
       count(*) FILTER (WHERE stage = 'won' AND amount >= 10000) AS big_deals
FROM read_parquet('{path}') WHERE closed_at IS NOT NULL GROUP BY 1;
SELECT date_trunc('month', created_at) AS month, count(*) FROM read_parquet('{path}') GROUP BY 1;
WITH spans AS (SELECT date_trunc('month', created_at) AS opened, date_trunc('month', closed_at) AS closed,
                      sum(amount) AS s FROM read_parquet('{path}') WHERE amount IS NOT NULL GROUP BY 1, 2)
SELECT g.month, sum(s)
FROM generate_series(TIMESTAMP '2023-01-01', TIMESTAMP '2026-12-01', INTERVAL 1 MONTH) AS g(month)
JOIN spans ON opened <= g.month AND (closed IS NULL OR closed > g.month) GROUP BY 1
"""


def deals(path: Path, rows: int) -> None:
    """Deals over three years, written by a streaming polars plan (bounded memory at any size)."""
    index = pl.int_range(0, rows, dtype=pl.UInt64)
    mixed = index.hash(seed=1)
    created = pl.date(2023, 1, 1) + pl.duration(days=(mixed % 1080).cast(pl.Int64))
    stage = (index.hash(seed=2) % 10).cast(pl.Int64)
    pl.LazyFrame().select(
        index.alias("deal_id"),
        (index.hash(seed=3) % COMPANIES).alias("company_id"),
        created.alias("created_at"),
        pl.when(stage < 7).then(created + pl.duration(days=(index.hash(seed=4) % 120).cast(pl.Int64)))
        .alias("closed_at"),
        pl.when(stage < 3).then(pl.lit("won")).when(stage < 7).then(pl.lit("lost")).otherwise(pl.lit("open"))
        .alias("stage"),
        pl.when(index.hash(seed=5) % 20 > 0).then((index.hash(seed=6) % 2_000_000).cast(pl.Float64) / 100)
        .alias("amount"),
    ).sink_parquet(path)


def timed(command: list[str]) -> tuple[float, float, int]:
    """Wall time, CPU time (user + sys) and peak resident memory (MB) of a command in a new process
    (its own rusage, from wait4: not the largest of every child so far)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, command)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024


def main() -> None:
    data = Path(tempfile.gettempdir()) / f"kpireport-bench-deals-{ROWS}-{COMPANIES}.parquet"
    if not data.exists():  # in a process of its own: a fork of a big process would count as a big child
        subprocess.run([sys.executable, __file__, "--write", str(data)], check=True)
    print(f"{ROWS:,} deals, {data.stat().st_size / 1e6:.0f} MB of Parquet ({data})")
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "kpireport.yaml"
        listed = "\n".join(f"  {name}: {{aggregate: {how}}}" for name, how in INPUTS.items())
        config.write_text(f"title: Bench\nlocale: en\ninputs:\n{listed}\nkpis:\n  k: {{formula: deals_won}}\n"
                          f"sources:\n  - path: {data}\n    layout: rows\n    measures:\n{MEASURES}", encoding="utf-8")
        kpireport = str(Path(sys.executable).with_name("kpireport"))
        wall, cpu, memory = timed([kpireport, "compute", str(config), "--month", "2025-06"])
        print(f"kpireport compute, 8 measures: {wall:.1f} s wall, {cpu:.1f} s CPU, {memory} MB peak")
    try:
        import duckdb  # noqa: F401  (the dev extra has it; skipped without)
    except ImportError:
        print("duckdb is not installed: no comparison")
        return
    script = f"import duckdb\nfor sql in {DUCKDB.format(path=data)!r}.split(';'): duckdb.sql(sql).fetchall()"
    wall, cpu, memory = timed([sys.executable, "-c", script])
    print(f"DuckDB, the same by hand (3 queries): {wall:.1f} s wall, {cpu:.1f} s CPU, {memory} MB peak")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"]:
        deals(Path(sys.argv[2]), ROWS)
    else:
        main()
