"""The year-end projection: on series whose future is known, through the formula, never peeking ahead."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pytest

from kpireport import export
from kpireport.config import load_config
from kpireport.engine import compute
from kpireport.forecast import (
    MIN_SEASONAL,
    PATHS,
    RUN_RATE_SPREAD,
    damped_holt,
    fit,
    forecast,
    mase,
    seasonal_indices,
    seasonal_naive,
)
from kpireport.months import Month, month_range
from kpireport.projection import Projector

CONFIG = """\
title: Test
inputs:
  revenue: {aggregate: sum}
  conversions: {aggregate: sum}
  leads: {aggregate: sum}
kpis:
  sales: {formula: revenue, target: {year: YEAR}}
  conversion_rate: {formula: conversions / leads, format: percent, target: {year: RATE}}
"""


def load(tmp_path: Path, year: float = 1200, rate: float = 0.1):  # type: ignore[no-untyped-def]
    path = tmp_path / "kpireport.yaml"
    path.write_text(textwrap.dedent(CONFIG).replace("YEAR", str(year)).replace("RATE", str(rate)), encoding="utf-8")
    return load_config(path)


def seasonal(month: Month) -> float:
    """A pure seasonal series: the same twelve values every year."""
    return 100 + 30 * math.sin(2 * math.pi * month.month / 12)


FIRST = Month(2021, 1)  # 4 years of history and more: the season test (M4's) sees a season


def series(last: Month, value, first: Month = FIRST) -> dict[Month, float]:  # type: ignore[no-untyped-def]
    return {m: float(value(m)) for m in month_range(first, last)}


def test_a_pure_seasonal_series_is_projected_to_its_exact_year() -> None:
    history = np.array([seasonal(m) for m in month_range(FIRST, Month(2025, 4))])
    found = forecast(history, 8)
    expected = [seasonal(m) for m in month_range(Month(2025, 5), Month(2025, 12))]
    assert found.mean == pytest.approx(expected, abs=1e-6)
    assert found.method == "combination"


def test_on_a_pure_trend_the_combination_is_the_mean_of_seasonal_naive_and_a_damped_trend() -> None:
    history = 100 + 2.0 * np.arange(36)
    found = forecast(history, 6)
    naive = history[-12:-6]
    holt = 2 * found.mean - naive  # what damped Holt said
    straight = history[-1] + 2.0 * np.arange(1, 7)
    assert seasonal_indices(history) is None  # a trend is no season
    assert np.all(holt <= straight + 1e-6)  # damped: never beyond the straight line
    assert np.all(holt > history[-1])  # but still rising
    assert np.all(np.diff(holt) > 0)


def test_under_24_months_the_forecast_is_a_run_rate_with_a_wide_interval() -> None:
    history = 100 + 2.0 * np.arange(MIN_SEASONAL - 1)
    found = forecast(history, 5)
    rate = history[-12:].mean()
    assert found.method == "run_rate"
    assert found.mean == pytest.approx([rate] * 5)
    totals = found.paths.sum(axis=0)
    low, high = np.quantile(totals, [0.1, 0.9])
    # a shared level error of at least 25 %: the 80 % interval spans about ±1.28 x 25 % of the total
    assert (high - low) / (5 * rate) == pytest.approx(2 * 1.2816 * RUN_RATE_SPREAD, rel=0.15)


def test_seasonal_naive_and_mase_by_hand() -> None:
    history = np.arange(24.0)
    assert list(seasonal_naive(history, 14)) == [*range(12, 24), 12, 13]
    # the in-sample error of seasonal naive is 12 a month: an error of 6 is half of it
    assert mase(np.array([30.0]), np.array([36.0]), history) == 0.5


def data(last: Month, first: Month = FIRST) -> dict[str, dict[Month, float]]:
    return {"revenue": series(last, seasonal, first),
            "conversions": series(last, lambda m: seasonal(m) / 10, first),  # 10 % of the leads every month
            "leads": series(last, seasonal, first)}


def test_a_sum_is_projected_as_its_year_to_date_plus_the_coming_months(tmp_path: Path) -> None:
    month = Month(2025, 4)
    year = sum(seasonal(m) for m in month_range(Month(2025, 1), Month(2025, 12)))
    row = compute(load(tmp_path, year=round(year * 0.9)), data(month)).kpi("sales").at(month)
    assert row is not None
    assert row.year_end is not None
    assert row.year_end.value == pytest.approx(year)
    assert row.year_end.low <= row.year_end.value <= row.year_end.high  # type: ignore[operator]
    assert row.year_end.outlook == "likely"  # 10 % above its target, with a series this regular
    assert row.year_end.needed == pytest.approx((round(year * 0.9) - row.ytd) / 8)  # type: ignore[operator]
    quarter = sum(seasonal(m) for m in month_range(Month(2025, 4), Month(2025, 6)))
    assert row.quarter_end is not None
    assert row.quarter_end.value == pytest.approx(quarter)
    assert row.quarter_end.end == Month(2025, 6)


def test_a_target_out_of_reach_is_unlikely(tmp_path: Path) -> None:
    month = Month(2025, 4)
    year = sum(seasonal(m) for m in month_range(Month(2025, 1), Month(2025, 12)))
    row = compute(load(tmp_path, year=round(year * 1.3)), data(month)).kpi("sales").at(month)
    assert row.year_end.outlook == "unlikely"  # type: ignore[union-attr]


def test_a_rate_is_projected_numerator_over_denominator(tmp_path: Path) -> None:
    month = Month(2025, 7)
    values = data(month)
    values["conversions"] = {m: v / 10 * (2 if m >= Month(2025, 1) else 1) for m, v in values["leads"].items()}
    results = compute(load(tmp_path, rate=0.15), values)
    rate = results.kpi("conversion_rate").at(month)
    sales = results.kpi("sales").at(month)  # revenue is the same series as the leads
    assert rate is not None
    assert rate.year_end is not None
    assert sales is not None
    assert sales.year_end is not None
    # the projected conversions, by hand: this year's so far, then the combination on their own history
    # (damped Holt's parameters estimated on the years before: known at every month of this one)
    history = np.array([values["conversions"][m] for m in month_range(FIRST, month)])
    conversions = sum(values["conversions"][m] for m in month_range(Month(2025, 1), month)) \
        + forecast(history, 5, fit(history[:-7])).mean.sum()
    assert rate.year_end.value == pytest.approx(conversions / sales.year_end.value)
    assert rate.ytd_target == 0.15
    # the rate the remaining months need: at it, the year's conversions over its leads make the target
    so_far = [sum(values[name][m] for m in month_range(Month(2025, 1), month)) for name in ("conversions", "leads")]
    leads_left = sales.year_end.value - so_far[1]
    assert (so_far[0] + rate.year_end.needed * leads_left) / sales.year_end.value == pytest.approx(0.15)  # type: ignore[operator]


def test_the_projection_at_a_month_ignores_every_later_month(tmp_path: Path) -> None:
    config = load(tmp_path)
    full = compute(config, data(Month(2026, 6)))
    for month in (Month(2024, 3), Month(2025, 2), Month(2025, 11), Month(2026, 1)):
        cut = compute(config, data(month))
        for kpi in ("sales", "conversion_rate"):
            assert full.kpi(kpi).at(month) == cut.kpi(kpi).at(month)
            assert full.kpi(kpi).at(month).year_end is not None  # type: ignore[union-attr]
    # and a change after the month changes nothing at it
    later = data(Month(2026, 6))
    later["revenue"][Month(2025, 9)] *= 5
    assert compute(config, later).kpi("sales").at(Month(2025, 8)) == full.kpi("sales").at(Month(2025, 8))
    assert compute(config, later).kpi("sales").at(Month(2025, 9)) != full.kpi("sales").at(Month(2025, 9))


def test_december_is_the_year_itself(tmp_path: Path) -> None:
    month = Month(2025, 12)
    row = compute(load(tmp_path), data(month)).kpi("sales").at(month)
    assert row is not None
    assert row.year_end is not None
    assert row.year_end.value == row.year_end.low == row.year_end.high == pytest.approx(row.ytd)
    assert row.year_end.method == "actual"


def test_a_year_without_every_month_so_far_has_no_projection(tmp_path: Path) -> None:
    values = data(Month(2025, 6))
    del values["revenue"][Month(2025, 2)]
    row = compute(load(tmp_path), values).kpi("sales").at(Month(2025, 5))
    assert row is not None
    assert row.year_target == 1200
    assert row.year_end is None


def test_compute_columns_hold_the_year_as_known_at_each_month(tmp_path: Path) -> None:
    results = compute(load(tmp_path), data(Month(2025, 5)))
    rows = {(r["kpi"], r["month"]): r for r in export.rows(results)}
    row, kpi_month = rows[("sales", "2025-05")], results.kpi("sales").at(Month(2025, 5))
    assert kpi_month is not None
    assert kpi_month.year_end is not None
    assert (row["year_target"], row["ytd_target"], row["year_end"], row["year_end_low"], row["year_end_high"],
            row["outlook"]) == (1200, kpi_month.ytd_target, kpi_month.year_end.value, kpi_month.year_end.low,
                                kpi_month.year_end.high, kpi_month.year_end.outlook)
    assert row["outlook"] in ("likely", "possible", "unlikely")
    csv_rows = export.to_csv(results).splitlines()
    assert csv_rows[0].endswith(",year_target,ytd_target,year_end,year_end_low,year_end_high,outlook")
    line = next(line for line in csv_rows if line.startswith("sales,2025-05,"))
    assert line.split(",")[-6:] == [export._cell(row[c]) for c in export.COLUMNS[-6:]]
    for month in (None, Month(2025, 3)):  # every month, and one month's rows picked from the columns
        assert export.to_csv(results, month) == "".join(
            export._line([export._cell(row[column]) for column in export.COLUMNS])
            for row in [dict(zip(export.COLUMNS, export.COLUMNS, strict=True)), *export.rows(results, month)])


def test_damped_holt_written_out_forecasts_and_spreads_as_statsmodels_does() -> None:
    from statsmodels.tsa.holtwinters import Holt

    rng = np.random.default_rng(3)
    history = 200 + np.cumsum(rng.normal(1, 5, 40))
    params = fit(history[:30])
    assert params is not None
    theirs = Holt(history, damped_trend=True, initialization_method="known", initial_level=params.initial_level,
                  initial_trend=params.initial_trend).fit(smoothing_level=params.level, smoothing_trend=params.trend,
                                                          damping_trend=params.damping, optimized=False)
    mean, paths = damped_holt(history, params, 9, np.random.default_rng(0).standard_normal((9, PATHS)))
    assert mean == pytest.approx(np.asarray(theirs.forecast(9)))
    their_paths = np.asarray(theirs.simulate(9, repetitions=20_000, anchor="end", rng=np.random.default_rng(1)))
    # the same spread month after month (20,000 futures on their side: within 3 %)
    assert paths.std(axis=1) == pytest.approx(their_paths.std(axis=1), rel=0.03 + 3 / math.sqrt(PATHS))


def test_the_coming_months_of_a_pure_season_are_the_season_and_the_library_agrees_with_compute(
        tmp_path: Path) -> None:
    month = Month(2025, 8)
    results = compute(load(tmp_path), data(month))
    projector = Projector.of(results)
    coming = projector.path("sales", month)
    assert [c.month for c in coming] == month_range(Month(2025, 9), Month(2025, 12))
    assert [c.value for c in coming] == pytest.approx([seasonal(c.month) for c in coming])
    assert all(c.low <= c.value <= c.high for c in coming)
    rates = projector.path("conversion_rate", month)  # 10 % every month, to the digit
    assert [c.value for c in rates] == pytest.approx([0.1] * 4)
    row = results.kpi("sales").at(month)
    assert row is not None
    assert projector.year("sales", month, 1200) == row.year_end
    assert projector.path("sales", Month(2025, 12)) == []


def test_a_partial_month_is_forecast_not_taken_as_the_whole_month(tmp_path: Path) -> None:
    import datetime as dt

    config = load(tmp_path)
    year = sum(seasonal(m) for m in month_range(Month(2025, 1), Month(2025, 12)))
    for month in (Month(2025, 5), Month(2025, 1)):
        values = data(month)
        values["revenue"][month] *= 0.2  # six days of data so far
        partial = compute(config, values, partial={month: dt.date(month.year, month.month, 6)})
        row = partial.kpi("sales").at(month)
        assert row is not None
        assert row.year_end is not None
        assert row.year_end.month == month
        assert row.year_end.value == pytest.approx(year)  # the season, as if the month had not begun
        # taken as a whole month, its few days would count as the month and pull the forecast down too
        whole = compute(config, values).kpi("sales").at(month)
        assert whole.year_end.value < year - 0.8 * seasonal(month)  # type: ignore[union-attr]


@pytest.mark.parametrize("first", [Month(2023, 1), Month(2024, 9)])  # the combination, and the run rate
def test_inputs_that_move_together_make_a_steady_rates_interval_narrow(tmp_path: Path, first: Month) -> None:
    month = Month(2025, 6)
    noise = np.random.default_rng(7).normal(0, 15, 60)
    leads = {m: seasonal(m) + noise[i] for i, m in enumerate(month_range(first, month))}
    values = {"revenue": leads, "leads": leads, "conversions": {m: v / 10 for m, v in leads.items()}}
    steady = compute(load(tmp_path), values).kpi("conversion_rate").at(month)
    assert steady is not None
    assert steady.year_end is not None
    assert (steady.year_end.low, steady.year_end.value, steady.year_end.high) == pytest.approx((0.1, 0.1, 0.1),
                                                                                              rel=1e-3)
    # conversions that follow a noise of their own: the rate is uncertain, and its interval says so
    other = np.random.default_rng(8).normal(0, 1.5, 60)
    values["conversions"] = {m: v / 10 + other[i] for i, (m, v) in enumerate(leads.items())}
    loose = compute(load(tmp_path), values).kpi("conversion_rate").at(month)
    assert loose.year_end.high - loose.year_end.low > 0.005  # type: ignore[union-attr]
