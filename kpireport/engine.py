"""Compute every KPI per month from the monthly inputs: value, target, status, comparisons, YTD.

The result is plain data; the CSV/JSON output, the workbook, the review and the mail only present it.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import polars as pl

from .collector import collector_paused
from .config import Config, Kpi
from .errors import DataError
from .formula import Call, Name, Node, Series, compile_series, transform, walk
from .months import Month, month_range
from .targets import PeriodTarget, is_sum_like, monthly_targets, year_targets

if TYPE_CHECKING:  # pragma: no mutate (imports for types only)
    from .projection import Projection, Projector

MonthlyValues = Mapping[str, Mapping[Month, float]]  # input id -> month -> value
RowCounts = Mapping[str, Mapping[Month, int]]  # a mean input -> month -> how many rows its mean is of
# input id -> month -> a note people wrote about it; month None: about every month (the one note cell
# of a workbook made before notes were per month)
Notes = Mapping[str, Mapping["Month | None", str]]


class Status(enum.StrEnum):
    ON = "on"  # on target
    WATCH = "watch"  # short of target, within the tolerance
    OFF = "off"  # beyond the tolerance
    NO_DATA = "no_data"  # the KPI has no value this month
    NO_TARGET = "no_target"  # a value, but nothing to compare it with


def status_of(value: float | None, target: float | None, direction: str, tolerance: float) -> Status:
    """On when the target is met; watch within `tolerance` (a share of the target) of it; else off."""
    if value is None:
        return Status.NO_DATA
    if target is None:
        return Status.NO_TARGET
    margin = tolerance * abs(target)
    up = direction == "up"  # pragma: no mutate (up or down only: >= and is alike)
    if _reaches(value, target, up):
        return Status.ON
    return Status.WATCH if _reaches(value, target - margin if up else target + margin, up) else Status.OFF


def _reaches(value: float, bound: float, up: bool) -> bool:
    """`value` at or beyond `bound` on the good side. A value equal to the edge up to float noise is
    on it, as spreadsheets compare (0.3 + 10 % is 0.32999999999999996: 0.33 is within the band)."""
    return (value >= bound if up else value <= bound) or math.isclose(value, bound, rel_tol=1e-12)


def attainment_of(value: float | None, target: float | None, direction: str) -> float | None:
    """How much of the target is achieved, 1.0 = exactly on it, above 1 = better than it: 1 plus the
    gap to the target on the good side as a share of |target|. So 1 - tolerance is the status band's
    edge whatever the signs: a cost of 111 against 100 is 89 % (11 % over), -50 against a target of
    -40 is 75 %. With a positive target and higher better it is value / target. None without a
    target, or with a target of 0 (no share of it)."""
    if value is None or target is None or target == 0:
        return None
    up = direction == "up"  # pragma: no mutate (up or down: is alike)
    return value / target if up == (target > 0) else 2 - value / target


def change_pts(value: float | None, before: float | None) -> float | None:
    """The difference of two rates in percentage points (0.27 after 0.25: 2.0)."""
    if value is None or before is None:
        return None
    return (value - before) * 100


def change(value: float | None, before: float | None) -> float | None:
    """Relative change (0.1 = +10 %); none when either side is missing or the base is 0."""
    if value is None or before is None or before == 0:
        return None
    return (value - before) / abs(before)


@dataclass(slots=True)  # not frozen: 5,000 KPIs x 120 months are 600,000 of these, and a frozen
class KpiMonth:  # dataclass's __init__ sets each field through object.__setattr__ (0.7 s there, 0.15 s so)
    month: Month
    value: float | None
    target: float | None
    status: Status
    attainment: float | None
    previous: float | None  # the value one month earlier
    change_mom: float | None
    year_ago: float | None  # the value twelve months earlier
    change_yoy: float | None
    ytd: float | None  # year to date (see ytd_tree), else the mean of the months since January
    # a rate's change is read in percentage points (25 % -> 27 % is +2 pts, not +8 %): percent KPIs only
    change_mom_pts: float | None = None
    change_yoy_pts: float | None = None
    # with a yearly or quarterly target only (targets.py, projection.py), as known at this month:
    year_target: float | None = None  # the year's total (a sum) or rate (a rate)
    ytd_target: float | None = None  # a sum: the targets of the months since January; a rate: year_target
    year_end: Projection | None = None  # the year's projected total or rate, against year_target
    quarter_target: float | None = None
    quarter_end: Projection | None = None


_STATUSES = {status.value: status for status in Status}  # a dict: Status(text) is a slow call
# KpiMonth's fields after the month, in order, as the table's columns (the year's and quarter's are outlooks)
_ROW_COLUMNS = ("value", "target", "status", "attainment", "previous", "change_mom", "year_ago", "change_yoy", "ytd",
                "change_mom_pts", "change_yoy_pts")


class ResultTable:
    """Every KPI's months as columns: a row per KPI and month, KPI after KPI in the config's order and
    each KPI's months in order. The engine fills it a column at a time (5,000 KPIs over ten years are
    600,000 rows: a status, an attainment and two changes computed one row at a time in Python were
    0.6 s), `compute`'s CSV writes it as it is, and a KPI's rows become KpiMonths when read."""

    def __init__(self, frame: pl.DataFrame, months: tuple[Month, ...],
                 outlooks: Mapping[int, list[dict[str, object]]]) -> None:
        self.frame = frame  # value, target, status… (KpiMonth's fields): null for no value
        self.months = months
        self.outlooks = outlooks  # a KPI's place -> each month's year and quarter fields (see _outlook)
        self._columns: dict[str, list] | None = None  # type: ignore[type-arg]

    def kpi_months(self, place: int) -> tuple[KpiMonth, ...]:
        """The rows of the KPI at `place` in the config."""
        if self._columns is None:  # every column to Python at once: one call per column, not per KPI
            self._columns = {name: self.frame[name].to_list() for name in _ROW_COLUMNS}
            self._columns["status"] = list(map(_STATUSES.__getitem__, self._columns["status"]))
        start = place * len(self.months)
        cells = [column[start:start + len(self.months)] for column in self._columns.values()]
        outlooks = self.outlooks.get(place)
        return tuple(KpiMonth(month, *row, **(outlooks[at] if outlooks else {}))  # type: ignore[arg-type]
                     for at, (month, *row) in enumerate(zip(self.months, *cells, strict=True)))  # pragma: no mutate (same lengths)  # noqa: E501


@dataclass(frozen=True, eq=False)
class KpiResult:
    kpi: Kpi
    table: ResultTable = field(repr=False)  # pragma: no mutate (repr only)
    place: int  # the KPI's place in the config, its rows' in the table

    @cached_property
    def months(self) -> tuple[KpiMonth, ...]:
        return self.table.kpi_months(self.place)

    def at(self, month: Month) -> KpiMonth | None:
        for row in self.months:
            if row.month == month:
                return row
        return None


@dataclass(frozen=True)
class Results:
    config: Config
    months: tuple[Month, ...]
    kpis: tuple[KpiResult, ...]  # in the config's order
    inputs: MonthlyValues  # the data they come from
    table: ResultTable = field(repr=False)  # the KPIs' rows as columns  # pragma: no mutate (repr only)
    partial: Mapping[Month, dt.date] = field(default_factory=dict)  # months whose data stop early: last day

    def kpi(self, kpi_id: str) -> KpiResult:
        return next(result for result in self.kpis if result.kpi.id == kpi_id)

    def has_values(self, month: Month) -> bool:
        return any(row.value is not None for result in self.kpis if (row := result.at(month)) is not None)


def data_months(data: MonthlyValues) -> list[Month]:
    """Every month from the first to the last that holds any input value."""
    present = [month for series in data.values() for month in series]
    if not present:
        return []
    return month_range(min(present), max(present))


def ytd_tree(config: Config, kpi_id: str) -> Node | None:
    """The KPI's formula with each input replaced by its year-to-date form, or None if meaningless.

    Each input takes what "since January" means for its aggregate: a sum (or count) the total, a
    stock ('last') this month's value, a mean the mean of every row since January (each month weighed
    by its rows, when known for every month; else each month the same), min and max the least or
    greatest month. So a ratio's YTD is the ratio of YTD totals (opens since January ÷ deliveries
    since January), never a sum of monthly ratios. Formulas that already look at other months have
    none: their year to date is the mean of their monthly values since January (a running mean, below).
    """
    tree = config.kpis[kpi_id].formula.tree
    if any(isinstance(node, Call) for node in walk(tree)):
        return None

    def replace(name: Name) -> Node | None:
        if name.kind == "kpi":  # pragma: no mutate (kpi or input here: >= and is alike)
            return ytd_tree(config, name.name)
        aggregate = config.inputs[name.name].aggregate
        if aggregate in ("sum", "count"):
            return Call("ytd", (name,))
        if aggregate == "mean":  # pragma: no mutate (validated literals: is alike)
            return Call("ytd_mean", (name, Name(name.name, kind="rows")))
        return name if aggregate == "last" else Call(f"ytd_{aggregate}", (name,))  # pragma: no mutate

    return transform(tree, replace)


def already_year_to_date(config: Config, kpi_id: str) -> bool:
    """Whether the KPI's formula is itself a year to date (`ytd()` in it, or in a KPI it uses): it has
    no other. A mean of its monthly values since January, shown as "since January" beside it, was a
    second, different year-to-date figure."""
    return any((isinstance(node, Call) and node.function == "ytd")
               or (isinstance(node, Name) and node.kind == "kpi" and already_year_to_date(config, node.name))
               for node in walk(config.kpis[kpi_id].formula.tree))


class _Evaluator:
    """Each KPI's monthly values as a compiled series (see formula.compile_series), by month index,
    each (KPI, month) computed once; equal subtrees and their windows are shared by all KPIs."""

    def __init__(self, config: Config, data: MonthlyValues, rows: RowCounts) -> None:
        self.config = config
        self.data = {name: {month.index: value for month, value in series.items()} for name, series in data.items()}
        self.rows = {name: {month.index: float(count) for month, count in series.items()}
                     for name, series in rows.items()}
        self.shared: dict = {}  # type: ignore[type-arg]
        self.kpis: dict[str, Series] = {}

    def series(self, name: Name) -> Series:
        if name.kind == "kpi":  # pragma: no mutate (kpi, input or rows: is alike)
            return self.kpi(name.name)
        return (self.rows if name.kind == "rows" else self.data).get(name.name, {}).get  # pragma: no mutate

    def kpi(self, kpi_id: str) -> Series:
        if kpi_id not in self.kpis:
            values: dict[int, float | None] = {}
            formula: list[Series] = []

            def kpi(index: int) -> float | None:
                value = values.get(index, values)  # the dict itself: not computed yet
                if value is values:
                    value = values[index] = formula[0](index)
                return value  # type: ignore[return-value]

            self.kpis[kpi_id] = kpi
            formula.append(compile_series(self.config.kpis[kpi_id].formula.tree, self.series, self.shared))
        return self.kpis[kpi_id]

    def ytd(self, kpi_id: str) -> Series:
        """The KPI's year to date (see ytd_tree), else the mean of its monthly values since January;
        none for a KPI that is already one."""
        if already_year_to_date(self.config, kpi_id):
            return lambda _index: None
        tree = ytd_tree(self.config, kpi_id)
        if tree is not None:
            return compile_series(tree, self.series, self.shared)
        kpi = self.kpi(kpi_id)
        sums: dict[int, tuple[float, int] | None] = {}  # month index -> (total, months) since January

        def since_january(index: int) -> tuple[float, int] | None:
            # the months added up one after the other, January first (always the same float); a
            # month without value leaves the rest of the year without one
            if index not in sums:
                value = kpi(index)
                before = (0, 0) if index % 12 == 0 else since_january(index - 1)
                sums[index] = None if value is None or before is None else (before[0] + value, before[1] + 1)
            return sums[index]

        def mean(index: int) -> float | None:
            total = since_january(index)
            return None if total is None else total[0] / total[1]
        return mean


def compute(config: Config, data: MonthlyValues, months: list[Month] | None = None, *,
            partial: Mapping[Month, dt.date] | None = None, rows: RowCounts | None = None) -> Results:
    """Every KPI of the config for `months` (default: every month from the first to the last data);
    `partial` says which months' data stop before their end, `rows` how many rows each mean input's
    monthly value is the mean of (see sources.MonthlyData)."""
    for input_id, series in data.items():  # load_data refuses these with their file; this is for other callers
        for month, number in series.items():
            if not math.isfinite(number):
                raise DataError(f"'{input_id}' for {month} is {number}, not a finite number",
                                hint="give a finite number, or leave the month out (no value)")
    months = months if months is not None else data_months(data)
    with collector_paused():
        return _compute(config, data, months, partial, rows)


def _compute(config: Config, data: MonthlyValues, months: list[Month], partial: Mapping[Month, dt.date] | None,
             rows: RowCounts | None) -> Results:
    evaluator = _Evaluator(config, data, rows or {})
    projector = None
    indexes = [month.index for month in months]
    # each KPI's values at every month a row reads (its own, the month before, the month a year
    # before), computed once; the three columns are picked from them
    needed = sorted({index - back for index in indexes for back in (0, 1, 12)})
    place_of = {index: at for at, index in enumerate(needed)}
    pickers = {name: _picker([place_of[index - back] for index in indexes])
               for name, back in (("value", 0), ("previous", 1), ("year_ago", 12))}
    columns: dict[str, list] = {name: [] for name in (*pickers, "ytd", "target", "up", "tolerance", "percent")}  # type: ignore[type-arg]
    outlooks: dict[int, list[dict[str, object]]] = {}
    for place, (kpi_id, kpi) in enumerate(config.kpis.items()):
        series, ytd = evaluator.kpi(kpi_id), evaluator.ytd(kpi_id)
        values = list(map(series, needed))
        for name, pick in pickers.items():
            columns[name] += pick(values)
        columns["ytd"] += map(ytd, indexes)
        period = kpi.target.period
        if period is None and not kpi.target.by_month:  # a constant: no look-up by month
            columns["target"] += [kpi.target.default] * len(months)
        else:
            target_of = kpi.target.for_month if period is None else _split_targets(config, kpi, period, series)
            columns["target"] += map(target_of, months)
        if period is not None:
            if projector is None:
                from .projection import Projector  # numpy and statsmodels: only when a projection is asked for

                projector = Projector(config, evaluator.data, partial or ())
            outlooks[place] = [_outlook(config, kpi, period, target_of, projector, month) for month in months]
        for name, setting in (("up", kpi.direction == "up"), ("tolerance", kpi.tolerance),
                              ("percent", kpi.format == "percent")):
            columns[name] += [setting] * len(months)
    numbers = {name: pl.Series(name, cells, dtype=pl.Boolean if name in ("up", "percent") else pl.Float64)
               for name, cells in columns.items()}
    table = ResultTable(_derived(pl.DataFrame(numbers)), tuple(months), outlooks)
    kpis = tuple(KpiResult(kpi, table, place) for place, kpi in enumerate(config.kpis.values()))
    return Results(config, tuple(months), kpis, data, table, dict(partial or {}))


def _picker(places: list[int]) -> Callable[[list[float | None]], list[float | None]]:
    """What picks `places` from a list: a slice when they follow one another (C speed)."""
    first = places[0] if places else 0
    if places == list(range(first, first + len(places))):
        return lambda values: values[first:first + len(places)]
    return lambda values: [values[at] for at in places]


def _derived(frame: pl.DataFrame) -> pl.DataFrame:
    """The columns computed from a row's value, target and earlier values: status_of, attainment_of,
    change and change_pts for every row at once (a test holds them equal to those functions)."""
    value, target, up, tolerance = pl.col("value"), pl.col("target"), pl.col("up"), pl.col("tolerance")
    margin = tolerance * target.abs()

    def change_from(before: pl.Expr) -> pl.Expr:
        return pl.when(before != 0).then((value - before) / before.abs())

    def points_from(before: pl.Expr) -> pl.Expr:
        return pl.when(pl.col("percent")).then((value - before) * 100)

    ratio = value / target  # attainment_of: the ratio, or 2 - it when the target's sign flips the good side
    attainment = pl.when(target != 0).then(pl.when(up == (target > 0)).then(ratio).otherwise(2 - ratio))
    status = (pl.when(value.is_null()).then(pl.lit(Status.NO_DATA.value))
              .when(target.is_null()).then(pl.lit(Status.NO_TARGET.value))
              .when(_reaches_column(value, target, up)).then(pl.lit(Status.ON.value))
              .when(_reaches_column(value, pl.when(up).then(target - margin).otherwise(target + margin), up))
              .then(pl.lit(Status.WATCH.value))
              .otherwise(pl.lit(Status.OFF.value)))
    return frame.with_columns(
        status=status, attainment=attainment,
        change_mom=change_from(pl.col("previous")), change_yoy=change_from(pl.col("year_ago")),
        change_mom_pts=points_from(pl.col("previous")), change_yoy_pts=points_from(pl.col("year_ago")))


def _reaches_column(value: pl.Expr, bound: pl.Expr, up: pl.Expr) -> pl.Expr:
    """_reaches for every row: math.isclose(value, bound, rel_tol=1e-12) spelt out as CPython does it."""
    difference = (value - bound).abs()
    close = (value == bound) | (value.is_finite() & bound.is_finite()
                                & ((difference <= (bound * 1e-12).abs()) | (difference <= (value * 1e-12).abs())))
    return pl.when(up).then(value >= bound).otherwise(value <= bound) | close


def _split_targets(config: Config, kpi: Kpi, period: PeriodTarget, series: Series):  # type: ignore[no-untyped-def]
    """Each month's target from a yearly or quarterly one (a month typed in the workbook keeps its own)."""
    sum_like = is_sum_like(kpi.formula.tree, config.kpis, config.inputs)
    split: dict[tuple[int, int], dict[Month, float]] = {}

    def target_of(month: Month) -> float | None:
        if month in kpi.target.by_month:
            return kpi.target.by_month[month]
        key = period.key(month)
        if key not in split:
            split[key] = monthly_targets(period, sum_like, month, series)
        return split[key].get(month)
    return target_of


def _outlook(config: Config, kpi: Kpi, period: PeriodTarget, target_of, projector: Projector,  # type: ignore[no-untyped-def]
             month: Month) -> dict[str, object]:
    """The year's and the quarter's targets and projections at `month` (KpiMonth's fields)."""
    sum_like = is_sum_like(kpi.formula.tree, config.kpis, config.inputs)
    year_months = [month.january + i for i in range(12)]
    targets = year_targets(kpi.target, sum_like, month, {m: target_of(m) for m in year_months})
    quarter = [m for m in year_months if (m.month - 1) // 3 == (month.month - 1) // 3]
    if period.period == "quarter" or not sum_like:
        quarter_target = period.value(month) if period.period == "quarter" else targets.year
    else:
        shares = [target_of(m) for m in quarter]
        quarter_target = None if None in shares else sum(shares)  # type: ignore[arg-type]
    return {
        "year_target": targets.year, "ytd_target": targets.to_date,
        "year_end": None if targets.year is None else projector.year(kpi.id, month, targets.year),
        "quarter_target": quarter_target,
        "quarter_end": None if quarter_target is None else projector.quarter(kpi.id, month, quarter_target),
    }


def targets_of(results: Results, kpi_id: str, months: list[Month]) -> list[float | None]:
    """The KPI's targets for `months`, which may lie beyond the results' (a chart's months to December):
    a yearly or quarterly target split as `compute` splits it, from the same data."""
    kpi = results.config.kpis[kpi_id]
    period = kpi.target.period
    if period is None:
        return [kpi.target.for_month(month) for month in months]
    series = _Evaluator(results.config, results.inputs, {}).kpi(kpi_id)
    return list(map(_split_targets(results.config, kpi, period, series), months))
