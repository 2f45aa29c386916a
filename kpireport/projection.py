"""Where a KPI's year (and quarter) will land, as known at a month: the inputs forecast, then combined
through the formula, so a projected rate is projected conversions over projected leads.

Each input of the formula (KPIs used in it are opened up down to inputs) is forecast from its own
history up to the month (forecast.py), never later; its period total then follows its aggregate (a sum
the months added up, a stock the last month, a mean the mean of the months, min and max the least and
greatest). The formula is evaluated on those totals for the point forecast and on each of the
simulated futures (inputs drawn independently: a ratio's inputs that rise and fall together make the
interval wider than the truth, never narrower) for the 80 % interval.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import forecast as fc
from .formula import Binary, Call, Name, Negate, Node, Number, transform, walk
from .months import Month
from .vocabulary import LIKELY, POSSIBLE, UNLIKELY

if TYPE_CHECKING:
    from .config import Config
    from .engine import Results



@dataclass(frozen=True)
class Projection:
    """A KPI's period (year or quarter) as projected at `month`: its value at the period's end (a sum's
    total, a rate's rate over the period) with an 80 % interval, and against the period's target."""

    month: Month  # what was known: the data up to this month
    end: Month  # the period's last month
    target: float | None
    value: float | None  # the point forecast
    low: float | None
    high: float | None
    outlook: str | None  # likely | possible | unlikely to reach the target; None without one
    # a sum: what each remaining month needs to bring for the period to reach its target; a ratio of
    # sums: the ratio the remaining months need (None otherwise, or with no month left)
    needed: float | None
    method: str  # combination | run_rate | actual (no month left to forecast)


@dataclass(frozen=True)
class MonthForecast:
    """One coming month of a KPI, as forecast: its value and 80 % interval."""

    month: Month
    value: float
    low: float
    high: float


def expanded(config: Config, kpi_id: str) -> Node | None:
    """The KPI's formula with the KPIs it uses replaced by their formulas, down to inputs; None when
    it looks at other months (prev, avg, ytd), which a period total cannot stand for."""
    tree = config.kpis[kpi_id].formula.tree
    if any(isinstance(node, Call) for node in walk(tree)):
        return None
    return transform(tree, lambda name: expanded(config, name.name) if name.kind == "kpi" else name)


def outlook_of(target: float | None, low: float | None, high: float | None, direction: str) -> str | None:
    """Likely when even the interval's bad end reaches the target, unlikely when even its good end
    falls short, else possible."""
    if target is None or low is None or high is None:
        return None
    bad, good = (low, high) if direction == "up" else (-high, -low)
    goal = target if direction == "up" else -target
    return LIKELY if bad >= goal else UNLIKELY if good < goal else POSSIBLE


class Projector:
    """Projections of one config's KPIs over one data set; forecasts are shared by the KPIs reading
    the same input, and damped Holt's parameters are estimated once a year per input (on the data
    up to the December before: known at every month of the year), the states every month."""

    def __init__(self, config: Config, data: Mapping[str, Mapping[int, float]],
                 partial: Collection[Month] = ()) -> None:
        self.config = config
        self.data = data  # input -> month index -> value
        # months whose data stop early: a projection at one of them starts from the month before, and
        # forecasts that month too (its few days would pull the year down)
        self.partial = set(partial)
        self.forecasts: dict[tuple[str, int], fc.Forecast | None] = {}
        # the inputs of KPIs with a yearly or quarterly target draw their futures together, month by
        # month, as their history says they move together (see _joint_draws)
        self.together = sorted({node.name for kid, kpi in config.kpis.items() if kpi.target.period is not None
                                if (tree := expanded(config, kid)) is not None
                                for node in walk(tree) if isinstance(node, Name)})
        self.joint: dict[int, dict[str, fc.Draws]] = {}
        self.params: dict[tuple[str, int], fc.HoltParams | None] = {}
        self.trees: dict[str, Node | None] = {}

    @classmethod
    def of(cls, results: Results) -> Projector:
        """A projector over the engine's results (their config and the inputs they were computed from)."""
        return cls(results.config, {name: {month.index: value for month, value in series.items()}
                                    for name, series in results.inputs.items()}, results.partial)

    def path(self, kpi_id: str, month: Month) -> list[MonthForecast]:
        """The KPI's coming months up to December, known at `month`, each with its 80 % interval: a
        chart's dashed continuation and band. A month's value is the formula over its inputs' forecasts
        for that month; empty when the KPI cannot be projected (see `expanded`) or it is December."""
        if kpi_id not in self.trees:
            self.trees[kpi_id] = expanded(self.config, kpi_id)
        tree = self.trees[kpi_id]
        if tree is None or month.month == 12:
            return []
        found: dict[str, fc.Forecast] = {}
        for name in {node.name for node in walk(tree) if isinstance(node, Name)}:
            forecast = self._forecast(name, month)
            if forecast is None:
                return []
            found[name] = forecast
        points = np.asarray(_evaluate(tree, lambda name: found[name].mean), dtype=float)
        paths = np.asarray(_evaluate(tree, lambda name: found[name].paths), dtype=float)
        coming = []
        for step in range(12 - month.month):
            futures = paths[step][np.isfinite(paths[step])] if paths.ndim == 2 else np.array([])
            point = float(points[step]) if points.ndim else float(points)
            if not np.isfinite(point) or not futures.size:
                break
            coming.append(MonthForecast(month + step + 1, point, float(np.quantile(futures, fc.LOW)),
                                        float(np.quantile(futures, fc.HIGH))))
        return coming

    def year(self, kpi_id: str, month: Month, target: float | None) -> Projection | None:
        """The year of `month`, known at `month`."""
        return self.project(kpi_id, month, month.january, Month(month.year, 12), target)

    def quarter(self, kpi_id: str, month: Month, target: float | None) -> Projection | None:
        """The quarter of `month`, known at `month`."""
        start = Month(month.year, (month.month - 1) // 3 * 3 + 1)
        return self.project(kpi_id, month, start, start + 2, target)

    def project(self, kpi_id: str, month: Month, start: Month, end: Month, target: float | None
                ) -> Projection | None:
        """KPI `kpi_id` over the months start..end, known at `month` (one of them)."""
        if kpi_id not in self.trees:
            self.trees[kpi_id] = expanded(self.config, kpi_id)
        tree = self.trees[kpi_id]
        if tree is None:
            return None
        row_month, month = month, month - 1 if month in self.partial else month
        totals: dict[str, tuple[float, np.ndarray]] = {}
        methods = set()
        for name in {node.name for node in walk(tree) if isinstance(node, Name)}:
            total = self._total(name, month, start, end)
            if total is None:
                return None
            totals[name], method = total[:2], total[2]
            methods.add(method)
        point = _evaluate(tree, lambda name: totals[name][0])
        if point is None or not np.isfinite(point):
            return None
        left = end.minus(month)
        if left == 0:  # nothing left to forecast
            low = high = float(point)
        else:
            paths = np.asarray(_evaluate(tree, lambda name: totals[name][1]), dtype=float)
            finite = paths[np.isfinite(paths)]
            if not finite.size:
                return None
            low, high = float(np.quantile(finite, fc.LOW)), float(np.quantile(finite, fc.HIGH))
        direction = self.config.kpis[kpi_id].direction
        method = "actual" if left == 0 else "run_rate" if "run_rate" in methods else "combination"
        return Projection(row_month, end, target, float(point), low, high,
                          outlook_of(target, low, high, direction),
                          self._needed(tree, month, start, end, target, totals), method)

    def _total(self, name: str, month: Month, start: Month, end: Month) -> tuple[float, np.ndarray, str] | None:
        """The input's total over start..end (as its aggregate adds months up): the actual months up
        to `month`, then the forecast; point and simulated futures."""
        series = self.data.get(name, {})
        actual = [series.get(m.index) for m in (start + i for i in range(month.minus(start) + 1))]
        if None in actual:
            return None
        left = end.minus(month)
        if left == 0:
            values = np.array(actual, dtype=float)
            total = _aggregate(self._aggregate(name), values[:, None])
            return float(total[0]), total, "actual"
        found = self._forecast(name, month)
        if found is None:
            return None
        found = fc.Forecast(found.mean[:left], found.paths[:left], found.method)  # the quarter: its first months
        known = np.array(actual, dtype=float)
        point = _aggregate(self._aggregate(name), np.r_[known, found.mean][:, None])
        futures = _aggregate(self._aggregate(name),
                             np.vstack([np.repeat(known[:, None], fc.PATHS, axis=1), found.paths]))
        return float(point[0]), futures, found.method

    def _aggregate(self, name: str) -> str:
        return self.config.inputs[name].aggregate if name in self.config.inputs else "sum"

    def _forecast(self, name: str, month: Month) -> fc.Forecast | None:
        """The input's months after `month` to December (from December: the next year), known at
        `month`; shared by year and quarter."""
        horizon = 12 - month.month % 12
        key = (name, month.index)
        if key not in self.forecasts:
            history = self._history(name, month)
            if not len(history):
                self.forecasts[key] = None
            else:
                year_key = (name, month.year)
                if year_key not in self.params:  # estimated on what was known before the year began
                    self.params[year_key] = fc.fit(self._history(name, month.january - 1))
                params = self.params[year_key]
                # parameters that start at a month the history no longer starts at would not fit it
                if params is not None and self._first(name, month) != self._first(name, month.january - 1):
                    params = None  # estimated from a month the history no longer starts at
                self.forecasts[key] = fc.forecast(history, horizon, params, self._draws(name, month))
        return self.forecasts[key]

    def _draws(self, name: str, month: Month) -> fc.Draws:
        """The random numbers of the input's futures from `month`: drawn with the other inputs of
        projected KPIs when it is one of them, else on its own (a seed of its own: inputs drawn with
        the same numbers would move together, and a ratio of them would seem certain)."""
        if name not in self.together:
            return fc.Draws.of(zlib.crc32(name.encode()) ^ month.index)
        if month.index not in self.joint:
            self.joint[month.index] = self._joint_draws(month)
        return self.joint[month.index][name]

    def _joint_draws(self, month: Month) -> dict[str, fc.Draws]:
        """Normal errors for every input of `together`, correlated as their month-to-month surprises
        were up to `month` (the changes of their changes over twelve months, over the last two years,
        or of their monthly changes with less history): conversions that follow the leads draw
        futures that follow them, and the conversion rate's interval is as narrow as it has been
        steady. The mix of the two methods is the same for all: if last year's pattern holds for one
        input, it likely holds for the others."""
        names = self.together
        rng = np.random.default_rng(month.index)
        independent = rng.standard_normal((len(names), fc.SEASON, fc.PATHS))
        weights = rng.uniform(0, 1, fc.PATHS)
        lower = np.linalg.cholesky(_correlations([self._surprises(name, month) for name in names]))
        joint = (lower @ independent.reshape(len(names), -1)).reshape(independent.shape)
        return {name: fc.Draws(joint[i], weights) for i, name in enumerate(names)}

    def _surprises(self, name: str, month: Month) -> np.ndarray:
        history = self._history(name, month)[-(SURPRISE_MONTHS + fc.SEASON + 1):]
        if len(history) > fc.SEASON + MIN_SURPRISES:
            history = history[fc.SEASON:] - history[:-fc.SEASON]  # without the season
        return np.diff(history)[-SURPRISE_MONTHS:]

    def _first(self, name: str, month: Month) -> int:
        return month.index - len(self._history(name, month)) + 1

    def _history(self, name: str, month: Month) -> np.ndarray:
        """The input's months without a gap that end at `month` (none if `month` has no value)."""
        series = self.data.get(name, {})
        values = []
        index = month.index
        while (value := series.get(index)) is not None:
            values.append(value)
            index -= 1
        return np.array(values[::-1], dtype=float)

    def _needed(self, tree: Node, month: Month, start: Month, end: Month, target: float | None,
                totals: Mapping[str, tuple[float, np.ndarray]]) -> float | None:
        """What the remaining months need: a sum's amount per month, a ratio of sums its ratio."""
        left = end.minus(month)
        if target is None or left == 0:
            return None
        so_far = {name: sum(self.data[name][m.index] for m in (start + i for i in range(month.minus(start) + 1)))
                  for name in totals}
        done = _evaluate(tree, so_far.__getitem__)
        if self._sum_like(tree):
            return None if done is None else (target - done) / left
        if isinstance(tree, Binary) and tree.op == "/" and self._sum_like(tree.left) and self._sum_like(tree.right):
            # target = (a so far + a later) / (b projected): a later = target x b projected - a so far
            b_total = _evaluate(tree.right, lambda name: totals[name][0])
            b_so_far = _evaluate(tree.right, so_far.__getitem__)
            a_so_far = _evaluate(tree.left, so_far.__getitem__)
            if None in (b_total, b_so_far, a_so_far) or b_total == b_so_far:
                return None
            return (target * b_total - a_so_far) / (b_total - b_so_far)  # type: ignore[operator]
        return None

    def _sum_like(self, tree: Node) -> bool:
        from .targets import is_sum_like

        return is_sum_like(tree, self.config.kpis, self.config.inputs)


SURPRISE_MONTHS = 24  # the window the inputs' correlations are measured over
MIN_SURPRISES = 6  # fewer months in common: the inputs are taken as unrelated


def _correlations(surprises: list[np.ndarray]) -> np.ndarray:
    """The inputs' correlation matrix from their recent surprises (each ending at the same month),
    over the months they have in common; 0 with too few months or a flat series. Made positive
    definite (eigenvalues of at least 1e-6) so that it has a Cholesky factor."""
    count = len(surprises)
    matrix = np.eye(count)
    lengths = {len(series) for series in surprises}
    if len(lengths) == 1 and min(lengths) >= MIN_SURPRISES:  # the usual case: every input as long, at once
        stacked = np.vstack(surprises)
        moving = stacked.std(axis=1) > 0
        if moving.sum() > 1:
            matrix[np.ix_(moving, moving)] = np.corrcoef(stacked[moving])
    else:
        for i in range(count):
            for j in range(i + 1, count):
                common = min(len(surprises[i]), len(surprises[j]))
                a, b = surprises[i][-common:], surprises[j][-common:]
                if common >= MIN_SURPRISES and np.std(a) > 0 and np.std(b) > 0:
                    matrix[i, j] = matrix[j, i] = float(np.corrcoef(a, b)[0, 1])
    values, vectors = np.linalg.eigh(matrix)
    fixed = vectors @ np.diag(np.maximum(values, 1e-6)) @ vectors.T
    scale = np.sqrt(np.diag(fixed))
    return fixed / np.outer(scale, scale)


def _aggregate(aggregate: str, months: np.ndarray) -> np.ndarray:
    """A period's total from its months (rows) for each future (columns), as the input's aggregate says."""
    if aggregate in ("sum", "count"):
        return months.sum(axis=0)
    if aggregate == "last":
        return months[-1]
    if aggregate == "mean":
        return months.mean(axis=0)
    return months.min(axis=0) if aggregate == "min" else months.max(axis=0)


def _evaluate(node: Node, value: Callable[[str], object]):  # type: ignore[no-untyped-def]
    """The tree over numbers or arrays of futures (a division by zero gives nan, dropped later)."""
    if isinstance(node, Number):
        return node.value
    if isinstance(node, Name):
        return value(node.name)
    if isinstance(node, Negate):
        operand = _evaluate(node.operand, value)
        return None if operand is None else -operand
    left, right = _evaluate(node.left, value), _evaluate(node.right, value)  # type: ignore[union-attr]
    if left is None or right is None:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        if node.op == "+":  # type: ignore[union-attr]
            return left + right
        if node.op == "-":  # type: ignore[union-attr]
            return left - right
        if node.op == "*":  # type: ignore[union-attr]
            return left * right
        if isinstance(right, float | int) and right == 0:
            return None
        return np.divide(left, right) if isinstance(right, np.ndarray) or isinstance(left, np.ndarray) \
            else left / right
