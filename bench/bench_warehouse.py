"""Row-level measures in PostgreSQL: a throwaway server (tests/postgres.py) loaded with N deals
(bench/deals.py, BENCH_ROWS, 10 million by default), then `kpireport compute` with 8 measures over
its 48 months in a new process, beside the same figures asked by hand-written GROUP BY queries run
by psql; and the rows the server sent kpireport (pg_stat_statements). Prints figures; never fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]  # tests.postgres, deals: run as a script

from deals import load_postgres, measures_config  # noqa: E402

from tests.postgres import bin_dir, postgres_server, rows_returned  # noqa: E402

ROWS = int(os.environ.get("BENCH_ROWS", 10_000_000))
# what a person would write for the same figures: one GROUP BY per date column, the snapshot by a join
BY_HAND = """
SELECT date_trunc('month', closed_at)::date, count(*) FILTER (WHERE stage = 'won'),
       count(*) FILTER (WHERE stage = 'lost'), sum(amount) FILTER (WHERE stage = 'won'),
       avg(closed_at::date - created_at::date) FILTER (WHERE stage = 'won'),
       count(DISTINCT company_id) FILTER (WHERE stage = 'won'),
       count(*) FILTER (WHERE stage = 'won' AND amount >= 10000)
FROM deals WHERE closed_at IS NOT NULL GROUP BY 1;
SELECT date_trunc('month', created_at)::date, count(*) FROM deals GROUP BY 1;
SELECT g.month, sum(d.amount) FROM generate_series('2023-01-01'::timestamp, '2026-12-01', '1 month') AS g(month)
JOIN deals d ON d.created_at < g.month + interval '1 month'
            AND (d.closed_at IS NULL OR d.closed_at >= g.month + interval '1 month') GROUP BY 1;
"""


def timed(command: list[str], **options: object) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, **options)  # type: ignore[call-overload]
    return time.perf_counter() - start


def main() -> None:
    if bin_dir() is None:
        print("PostgreSQL is not installed (./dev test installs it): no figures")
        return
    with postgres_server() as url, tempfile.TemporaryDirectory() as folder:
        load_seconds = load_postgres(ROWS, url)
        subprocess.run(["psql", url, "-q", "-c", "VACUUM ANALYZE deals"], check=True, capture_output=True)
        print(f"{ROWS:,} deals loaded into PostgreSQL in {load_seconds:.1f} s")
        config = measures_config(Path(folder), f"database: {url}\n    table: deals")
        kpireport = str(Path(sys.executable).with_name("kpireport"))
        timed(["psql", url, "-q", "-c", "SELECT count(*) FROM deals"])  # the table in the server's cache
        ours = min(timed([kpireport, "compute", str(config), "--month", "2025-06"]) for _ in range(3))
        before = rows_returned(url, '"deals"')
        timed([kpireport, "compute", str(config), "--month", "2025-06"])
        sent = rows_returned(url, '"deals"') - before
        hand = min(timed(["psql", url, "-q", "-o", "/dev/null", "-c", BY_HAND]) for _ in range(3))
        print(f"kpireport compute, 8 measures: {ours:.1f} s (best of 3); rows sent to kpireport: {sent} "
              f"(48 months × 8 inputs = 384)")
        print(f"the same by hand, psql: {hand:.1f} s (best of 3); ratio {ours / hand:.2f}×")


if __name__ == "__main__":
    main()
