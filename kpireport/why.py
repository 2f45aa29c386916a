"""Why a KPI moved: its change against last month or last year split into each input's part, and the
months that stand out from their season.

A sum (`revenue - refunds`) moves by the sum of its terms' moves. A product or a ratio (`a / b`,
pipeline velocity's `opportunities × value / (closed deals × cycle)`) is split by log decomposition
(LMDI): factor i's part is L(after, before) × ln(its after / its before), with L the logarithmic mean
of the KPI's two values, so the parts add up to the whole change exactly, whatever the order of the
factors. A factor that is itself a sum (`deals_won + deals_lost`) is one part. Formulas that look at
other months (prev, avg, ytd) and single inputs have no parts: only the change itself.
Everything is read from the engine's results (its KPI values and the inputs it used).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from .engine import Results
from .formula import Binary, Call, Name, Negate, Node, Number, evaluate, walk
from .months import Month, month_range

UNUSUAL_Z = 3.0  # robust z-scores beyond which a month is unusual
UNUSUAL_MONTHS = 3 * 12  # of history, at least, to tell an unusual month (see unusual_months)


@dataclass(frozen=True)
class Part:
    """One input's (or factor's, or term's) part in a KPI's change."""

    label: str
    before: float
    after: float
    change: float | None  # its own relative change (0.1 = +10 %); None from 0
    effect: float  # what it moved the KPI by, in the KPI's unit: the parts add up to the KPI's change


@dataclass(frozen=True)
class Movement:
    """A KPI's change from `versus` to `month`, and its parts (largest effect first)."""

    kpi_id: str
    month: Month
    versus: Month  # the month before, or the same month a year earlier
    before: float
    after: float
    change: float | None  # relative (0.1 = +10 %); None from 0
    parts: tuple[Part, ...]
    method: str  # sum | product | none (no parts)

    @property
    def difference(self) -> float:
        return self.after - self.before


def movement(results: Results, kpi_id: str, month: Month, months_back: int = 1) -> Movement | None:
    """KPI `kpi_id`'s change between `month - months_back` (1: last month, 12: last year) and
    `month`; None when either has no value."""
    config = results.config
    versus = month - months_back
    after, before = _value(results, kpi_id, month), _value(results, kpi_id, versus)
    if after is None or before is None:
        return None
    change = (after - before) / abs(before) if before else None
    tree = config.kpis[kpi_id].formula.tree
    method, parts = "none", ()
    if not any(isinstance(node, Call) for node in walk(tree)):
        found = _split(results, tree, month, versus, before, after)
        if found is not None:
            method, parts = found
    return Movement(kpi_id, month, versus, before, after, change,
                    tuple(sorted(parts, key=lambda part: -abs(part.effect))), method)


def sentences(results: Results, month: Month, months_back: int = 1) -> dict[str, str]:
    """One sentence per KPI on why it moved into `month` (against `months_back` months earlier), in
    the config's language; KPIs without a value either side are left out."""
    from .locale import movement_sentence

    config = results.config
    said = {}
    for result in results.kpis:
        moved = movement(results, result.kpi.id, month, months_back)
        if moved is not None:
            said[result.kpi.id] = movement_sentence(moved, result.kpi, config.locale, config.currency)
    return said


def _value(results: Results, kpi_id: str, month: Month) -> float | None:
    row = results.kpi(kpi_id).at(month)
    if row is not None:
        return row.value
    # a month outside the results' months (the one before the first): the formula on the same inputs
    return _evaluate(results, results.config.kpis[kpi_id].formula.tree, month)


def _evaluate(results: Results, node: Node, month: Month) -> float | None:
    def lookup(name: Name, at: Month) -> float | None:
        if name.kind == "kpi":
            return _value(results, name.name, at)
        return results.inputs.get(name.name, {}).get(at)
    return evaluate(node, month, lookup)


def _split(results: Results, tree: Node, month: Month, versus: Month, before: float, after: float
           ) -> tuple[str, list[Part]] | None:
    terms = _terms(tree, 1.0)
    if terms is not None and len(terms) > 1:
        parts = []
        for node, weight in terms:
            old, new = _evaluate(results, node, versus), _evaluate(results, node, month)
            if old is None or new is None:
                return None
            parts.append(Part(_label(results, node), old, new, (new - old) / abs(old) if old else None,
                              weight * (new - old)))
        return "sum", parts
    factors = _factors(tree, 1)
    if len(factors) < 2:
        return None
    if before <= 0 or after <= 0:
        return None  # logarithms need positive values
    mean = (after - before) / math.log(after / before) if after != before else after  # logarithmic mean
    parts = []
    for node, power in factors:
        old, new = _evaluate(results, node, versus), _evaluate(results, node, month)
        if old is None or new is None or old <= 0 or new <= 0:
            return None
        parts.append(Part(_label(results, node), old, new, (new - old) / old, mean * power * math.log(new / old)))
    return "product", parts


def _terms(node: Node, weight: float) -> list[tuple[Node, float]] | None:
    """A sum's terms with their signs and constant scales; None when the node is not a sum of terms."""
    if isinstance(node, Negate):
        return _terms(node.operand, -weight)
    if isinstance(node, Binary) and node.op in "+-":
        left, right = _terms(node.left, weight), _terms(node.right, -weight if node.op == "-" else weight)
        return None if left is None or right is None else left + right
    if isinstance(node, Binary) and node.op == "*" and isinstance(node.left, Number):
        return _terms(node.right, weight * node.left.value)
    if isinstance(node, Binary) and node.op in "*/" and isinstance(node.right, Number) and node.right.value:
        scale = node.right.value if node.op == "*" else 1 / node.right.value
        return _terms(node.left, weight * scale)
    if isinstance(node, Number):
        return []  # a constant does not move
    return [(node, weight)] if isinstance(node, Name) else None


def _factors(node: Node, power: int) -> list[tuple[Node, int]]:
    """A product's or a ratio's factors, each with its power (1 above the line, -1 below); constants
    do not move and are left out."""
    if isinstance(node, Binary) and node.op in "*/":
        return _factors(node.left, power) + _factors(node.right, -power if node.op == "/" else power)
    return [] if isinstance(node, Number) else [(node, power)]


def _label(results: Results, node: Node) -> str:
    """An input's or KPI's label; a composite factor's formula in labels: (Deals won + Deals lost)."""
    config = results.config
    if isinstance(node, Name):
        if node.kind == "kpi":
            return config.kpis[node.name].label
        known = config.inputs.get(node.name)
        return known.label if known else node.name
    if isinstance(node, Number):
        return f"{node.value:g}"
    if isinstance(node, Negate):
        return f"-{_label(results, node.operand)}"
    if isinstance(node, Binary):
        return f"({_label(results, node.left)} {node.op} {_label(results, node.right)})"
    return node.function  # not reached: formulas with functions have no parts


# --- unusual months ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Unusual:
    month: Month
    value: float
    residual: float  # what the season and the trend do not explain
    z: float  # robust z-score of the residual: (residual - median) / robust spread (qn_scale); ±inf when 0


def unusual_months(results: Results, kpi_id: str) -> list[Unusual]:
    """The months of KPI `kpi_id` lying beyond 3 robust z-scores of its seasonal residuals. The trend
    is the median change over twelve months (Theil-Sen's idea: an odd month does not tilt it), the
    season each calendar month's median once the trend is taken out, and what is left is scored
    against its median, in robust standard deviations (Qn, see qn_scale). Needs 36 consecutive months
    with a value (the longest stretch is used): with two years, a calendar month's median is the mean
    of two values, and an odd month would make the same month of the other year look odd too."""
    return unusual_in([(row.month, row.value) for row in results.kpi(kpi_id).months])


def history_months(results: Results, upto: Month) -> list[Month]:
    """The months from the first of the engine's inputs up to `upto`."""
    first = min((min(series) for series in results.inputs.values() if series), default=upto)
    return month_range(first, upto)


def histories(results: Results, months: list[Month]) -> Callable[[str], list[tuple[Month, float | None]]]:
    """A KPI's value in each of `months` (history_months), by the engine's own compiled formulas on the
    inputs it used, shared by all KPIs (a review's results hold 13 months, too few to tell an unusual
    month; the formula tree evaluated month by month was 24 µs a month, 14 s for 5,000 KPIs over ten
    years). Row counts are not in the results: a KPI counting rows has no value outside them."""
    from .engine import _Evaluator  # the engine's evaluator: the very values `compute` gives

    evaluator = _Evaluator(results.config, results.inputs, {})

    def history(kpi_id: str) -> list[tuple[Month, float | None]]:
        series = evaluator.kpi(kpi_id)
        return [(m, series(m.index)) for m in months]
    return history


def unusual_in(series: list[tuple[Month, float | None]]) -> list[Unusual]:
    """unusual_months on a series of (month, value) in month order."""
    months, values = _longest_run(series)
    if len(values) < UNUSUAL_MONTHS:
        return []
    import numpy as np

    series = np.array(values, dtype=float)
    slope = float(np.median(series[12:] - series[:-12])) / 12
    detrended = series - slope * np.arange(len(series))
    season = np.array([np.median(detrended[i::12]) for i in range(12)])
    residuals = detrended - season[np.arange(len(series)) % 12]
    centre = float(np.median(residuals))
    # the spread from the changes over twelve months (each the difference of two months' noise: /√2),
    # not from the residuals: a calendar month's median is one of its own few values, whose residual
    # is then exactly 0, and a third of zeros would shrink it and flag ordinary months
    changes = series[12:] - series[:-12]
    spread = qn_scale(changes) / math.sqrt(2)
    # float noise: a series that trend and season explain entirely leaves residuals of about 1e-13
    noise = 1e-9 * max(1.0, float(np.max(np.abs(series))))
    found = []
    for i, residual in enumerate(residuals):
        gap = float(residual - centre)
        if spread > noise and abs(gap) > UNUSUAL_Z * spread:
            found.append(Unusual(months[i], values[i], float(residual), gap / spread))
        elif spread <= noise and abs(gap) > noise:
            # most months explained to the digit (a spread of 0): any real gap is unusual, infinitely so
            found.append(Unusual(months[i], values[i], float(residual), math.copysign(math.inf, gap)))
    return found


def qn_scale(values) -> float:  # type: ignore[no-untyped-def]
    """Rousseeuw and Croux's Qn, a robust standard deviation: the k-th smallest distance between two
    values (k = h(h-1)/2, h = n//2 + 1) times 1/(√2 Φ⁻¹(5/8)), as statsmodels' qn_scale computes it
    (importing statsmodels costs 0.8 s a review). Like the MAD, half the values may be odd; unlike it,
    24 values estimate it well: with the MAD of 24 changes, an ordinary month of a noisy series was
    flagged at 3 z-scores 1.4 % of the time instead of the normal's 0.27 % (with Qn: 0.26 %), an
    underestimated spread flagging far more months than an overestimated one spares."""
    import numpy as np

    x = np.asarray(values, dtype=float)
    h = len(x) // 2 + 1
    k = h * (h - 1) // 2
    distances = np.abs(x[:, None] - x[None, :])[np.triu_indices(len(x), 1)]
    return 2.219144465985076 * float(np.partition(distances, k - 1)[k - 1])


def _longest_run(pairs: list[tuple[Month, float | None]]) -> tuple[list[Month], list[float]]:
    """The longest stretch of consecutive months with a value."""
    best, start = (0, 0), 0
    for i, (_, value) in enumerate([*pairs, (None, None)]):
        if value is None:
            best = max(best, (i - start, start))
            start = i + 1
    length, first = best
    chosen = pairs[first:first + length]
    return [m for m, _ in chosen], [v for _, v in chosen]  # type: ignore[misc]
