"""A daily export of 1,000,000 rows × 6 inputs (one row per campaign and day, 2023–2026) rolled up to
months through `load_data`, beside the same aggregation written directly in polars (the floor:
`pl.read_csv`, dates, group_by month, sum), in two styles written to /tmp:

- plain: `,`-separated, ISO dates, dot decimals (what Analytics, HubSpot or Mailchimp export);
- french: `;`-separated, DD/MM/YYYY dates, decimal commas (what French Excel saves as CSV);
- events: one row per event, ISO timestamps with a UTC offset (New York time), nearly all distinct.

Goal: under 2 s, within 1.5× of the floor. Median of RUNS runs taken in turns; prints figures, never
fails.
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import polars as pl

from kpireport.config import load_config
from kpireport.sources import load_data

ROWS = 1_000_000
RUNS = 7
INPUTS = ("visits", "emails_delivered", "emails_opened", "clicks", "revenue", "ad_spend")
STYLES = {  # separator, date format, decimal comma
    "plain": (",", "%Y-%m-%d", False),
    "french": (";", "%d/%m/%Y", True),
    "events": (",", "%Y-%m-%dT%H:%M:%S-05:00", False),  # the month is the local time's, as written
}


def export(folder: Path, style: str) -> Path:
    separator, date_format, decimal_comma = STYLES[style]
    days = (dt.date(2026, 12, 31) - dt.date(2023, 1, 1)).days + 1
    index = pl.int_range(ROWS, eager=True)
    # evenly spread seconds: the same days as `index * days // ROWS`, and a time of day for events
    dates = pl.select(pl.lit(dt.datetime(2023, 1, 1)) + pl.duration(seconds=index * days * 86400 // ROWS)).to_series()
    frame = pl.DataFrame({
        "date": dates.dt.strftime(date_format),
        "visits": (index * 7919) % 1000,
        "emails_delivered": (index * 104729) % 5000,
        "emails_opened": (index * 1299709) % 1200,
        "clicks": (index * 15485863) % 90,
    }).with_columns(
        revenue=((pl.int_range(pl.len()) * 7) % 100_000) / 100,
        ad_spend=((pl.int_range(pl.len()) * 13) % 50_000) / 100,
    )
    path = folder / f"daily-{style}.csv"
    if decimal_comma:
        frame = frame.with_columns(pl.col("revenue", "ad_spend").cast(pl.String).str.replace(".", ",", literal=True))
    frame.write_csv(path, separator=separator)
    return path


def floor(path: Path, style: str) -> dict:
    """The same roll-up written directly in polars, knowing the file's style in advance."""
    separator, date_format, decimal_comma = STYLES[style]
    frame = pl.read_csv(path, separator=separator, decimal_comma=decimal_comma, schema_overrides={"date": pl.String})
    monthly = (frame.group_by(pl.col("date").str.to_date(date_format).dt.month_start())
               .agg(pl.col(INPUTS).sum()))
    return {row["date"]: row for row in monthly.iter_rows(named=True)}


def side_by_side(ours, floor) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Median seconds of each, run in turns so that a busy machine slows both alike."""
    times: dict[str, list[float]] = {"ours": [], "floor": []}
    for _ in range(RUNS):
        for name, function in (("floor", floor), ("ours", ours)):
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return statistics.median(times["ours"]), statistics.median(times["floor"])


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="kpireport-bench-", dir="/tmp") as folder:
        root = Path(folder)
        for style in STYLES:
            path = export(root, style)
            config_path = root / f"{style}.yaml"
            inputs = "".join(f"  {name}: {{aggregate: sum}}\n" for name in INPUTS)
            config_path.write_text(f"title: Bench\ninputs:\n{inputs}kpis:\n  k: {{formula: visits}}\n"
                                   f"sources:\n  - {{path: {path.name}}}\n", encoding="utf-8")
            config = load_config(config_path)
            ours = load_data(config).values
            theirs = floor(path, style)
            same = all(abs(ours[name][month] - theirs[month.first_day][name]) < 1e-6 * max(1, abs(ours[name][month]))
                       for name in INPUTS for month in ours[name]) and len(ours["visits"]) == len(theirs)
            kpireport, direct = side_by_side(lambda config=config: load_data(config),
                                             lambda path=path, style=style: floor(path, style))
            size = path.stat().st_size / 1e6
            print(f"{style:6}: {ROWS:,} rows × {len(INPUTS)} inputs ({size:.0f} MB, {len(ours['visits'])} months): "
                  f"load_data {kpireport:.2f} s, polars floor {direct:.2f} s, ratio {kpireport / direct:.2f}× "
                  f"(median of {RUNS}; same totals: {same})")


if __name__ == "__main__":
    main()
