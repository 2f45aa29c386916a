"""Whether a source's last month is partial: its data stop before the month's end. One rule for
daily tables and for rows (read from files or summarised by a database), so it sits below both."""

from __future__ import annotations

import datetime as dt

import polars as pl

from .months import Month


def last_day_if_partial(days: pl.Series) -> dt.date | None:
    """The last day with data when it comes before the end of its month: a daily or weekly file's
    last month is partial while a day is left in it on a weekday that the file has rows on (so a
    weekdays-only export is complete on the last Friday, a weekly one on its last week's date). A file
    of months (one date a month) is never partial, nor one of sparse events (a row per deal, on
    under 90 % of its days): its last row says nothing of when the export was made."""
    days = days.drop_nulls().cast(pl.Date).unique()
    if days.is_empty():
        return None
    return partial_from(days.min(), days.max(), len(days), days.dt.month_start().n_unique(),  # type: ignore[arg-type]
                        set(days.dt.weekday().unique().to_list()))


def partial_from(first: dt.date, last: dt.date, count: int, months: int, weekdays: set[int]) -> dt.date | None:
    """last_day_if_partial from a summary of the distinct days: the first and last, how many days and
    months, and the ISO weekdays (1 = Monday … 7 = Sunday) they fall on (a database sends just that)."""
    if months == count:
        return None
    span = pl.date_range(first, last, eager=True)
    if count < 0.9 * span.dt.weekday().is_in(list(weekdays)).sum():
        return None
    month_end = (Month.of(last) + 1).first_day - dt.timedelta(days=1)
    left = (last + dt.timedelta(days=n) for n in range(1, (month_end - last).days + 1))
    return last if any(day.isoweekday() in weekdays for day in left) else None
