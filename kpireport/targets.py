"""Yearly and quarterly targets: which KPIs add up over months, and how a period's target splits into months.

A KPI is *sum-like* when its formula only adds and subtracts inputs that are sums or counts (or other
sum-like KPIs), each possibly scaled by a constant (`revenue - refunds`, `leads_web + leads_events`,
`revenue / 1.2`): its months then add up to its year, so a yearly target splits into months and the
year to date is compared with the year-to-date target. Any other KPI (a rate, a mean, a stock, a
formula with `prev`/`avg`/`ytd`) is a *rate*: its yearly target is the rate wanted for the year as a
whole, the same for each month, and its year to date (the rate since January) is compared with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .formula import Binary, Name, Negate, Node, Number
from .months import Month

if TYPE_CHECKING:
    from .config import Input, Kpi, Target


@dataclass(frozen=True)
class PeriodTarget:
    """What `target: {year: …}` or `{quarter: …}` says: one figure per year (or quarter), either the
    same every period (`default`) or per period (`by_period`, keyed (year, quarter); quarter 0 for a year)."""

    period: str  # "year" | "quarter"
    default: float | None
    by_period: Mapping[tuple[int, int], float]
    split: str  # "seasonal": by last year's profile of the KPI | "even": the same each month

    def months(self, month: Month) -> list[Month]:
        """The months of the period `month` falls in."""
        first = month.january if self.period == "year" else Month(month.year, (month.month - 1) // 3 * 3 + 1)
        return [first + i for i in range(12 if self.period == "year" else 3)]

    def key(self, month: Month) -> tuple[int, int]:
        return (month.year, 0 if self.period == "year" else (month.month - 1) // 3 + 1)

    def value(self, month: Month) -> float | None:
        """The target of the period `month` falls in."""
        return self.by_period.get(self.key(month), self.default)


def is_sum_like(node: Node, kpis: Mapping[str, Kpi], inputs: Mapping[str, Input]) -> bool:
    """True when the formula's monthly values add up to its year (see the module's docstring)."""
    if isinstance(node, Name):
        if node.kind == "kpi":
            return is_sum_like(kpis[node.name].formula.tree, kpis, inputs)
        return node.name in inputs and inputs[node.name].aggregate in ("sum", "count")
    if isinstance(node, Negate):
        return is_sum_like(node.operand, kpis, inputs)
    if isinstance(node, Binary):
        if node.op in "+-":
            return is_sum_like(node.left, kpis, inputs) and is_sum_like(node.right, kpis, inputs)
        # scaled by a constant: `x * 2`, `2 * x`, `x / 1.2` (a constant over x is not a sum)
        if node.op == "*" and isinstance(node.left, Number):
            return is_sum_like(node.right, kpis, inputs)
        return isinstance(node.right, Number) and is_sum_like(node.left, kpis, inputs)
    return False  # a number alone would count once a month, a function looks at other months


def monthly_targets(period: PeriodTarget, sum_like: bool, month: Month,
                    history: Callable[[int], float | None]) -> dict[Month, float]:
    """Each month's target in the period of `month`. A rate's period target is every month's. A sum's
    is split by the KPI's own values a year earlier (`history`: by month index), when those twelve
    (or three) months all have a positive value; else evenly: a profile with a hole or a negative
    month would put the target where nobody expects it."""
    total = period.value(month)
    months = period.months(month)
    if total is None:
        return {}
    if not sum_like:
        return dict.fromkeys(months, total)
    weights = [1.0] * len(months)
    if period.split == "seasonal":
        before = [history(m.index - 12) for m in months]
        if all(value is not None and value > 0 for value in before):
            weights = before  # type: ignore[assignment]
    share = sum(weights)
    return {m: total * weight / share for m, weight in zip(months, weights, strict=True)}


@dataclass(frozen=True)
class PeriodTargets:
    """A KPI's targets for the period a month falls in, as known at that month."""

    year: float | None  # the year's total (a sum) or rate (a rate); None without a yearly/quarterly target
    to_date: float | None  # a sum: the targets of the months from the period's start to this one; a rate: `year`


def year_targets(target: Target, sum_like: bool, month: Month, monthly: Mapping[Month, float | None]
                 ) -> PeriodTargets:
    """The year's target and the target to date at `month`, from the monthly targets of its year
    (`monthly`, each month's split or typed target). A quarterly target gives the year the sum (or,
    for a rate, the mean) of its quarters when all four are set."""
    period = target.period
    if period is None:
        return PeriodTargets(None, None)
    year_months = [month.january + i for i in range(12)]
    if period.period == "year":
        year = period.value(month)
    else:
        quarters = [period.value(Month(month.year, q * 3 + 1)) for q in range(4)]
        year = None if None in quarters else (sum(quarters) if sum_like else sum(quarters) / 4)  # type: ignore[arg-type]
    if year is None:
        return PeriodTargets(None, None)
    if not sum_like:
        return PeriodTargets(year, year)
    so_far = [monthly.get(m) for m in year_months if m <= month]
    to_date = None if None in so_far else sum(so_far)  # type: ignore[arg-type]
    return PeriodTargets(year, to_date)
