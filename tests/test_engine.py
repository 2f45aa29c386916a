"""The engine: status against target and direction, comparisons, YTD — each recomputed by hand."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import polars as pl
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kpireport.config import load_config
from kpireport.engine import Status, _derived, attainment_of, change, change_pts, compute, status_of, ytd_tree
from kpireport.errors import DataError
from kpireport.formula import Call, Name, parse
from kpireport.months import Month, month_range

CONFIG = """\
title: Test
inputs:
  delivered: {aggregate: sum}
  opened: {aggregate: sum}
  spend: {aggregate: sum, format: currency}
  leads: {aggregate: sum}
  subscribers: {aggregate: last}
  nps: {aggregate: mean}
kpis:
  open_rate: {formula: opened / delivered, format: percent, target: 0.25, tolerance: 0.1}
  cpl: {formula: spend / leads, format: currency, direction: down, target: 50, tolerance: 0.2}
  leads_kpi: {formula: leads, target: 100}
  list_size: {formula: subscribers}
  growth: {formula: '(leads - prev(leads, 12)) / prev(leads, 12)', format: percent}
  nps_kpi: {formula: nps}
  leads_per_subscriber: {formula: leads_kpi / list_size}
"""

MONTHS = month_range(Month(2025, 1), Month(2026, 3))


def data() -> dict[str, dict[Month, float]]:
    values: dict[str, dict[Month, float]] = {name: {} for name in
                                              ("delivered", "opened", "spend", "leads", "subscribers", "nps")}
    for i, month in enumerate(MONTHS):
        values["delivered"][month] = 1000.0 + 10 * i
        values["opened"][month] = 240.0 + 5 * i
        values["spend"][month] = 5000.0
        values["leads"][month] = 90.0 + i
        values["subscribers"][month] = 2000.0 + 100 * i
        values["nps"][month] = 30.0 + i
    del values["opened"][Month(2026, 2)]  # a month with a missing input
    values["leads"][Month(2025, 6)] = 0.0  # a zero denominator
    return values


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kpireport.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def results(tmp_path: Path):
    path = tmp_path / "kpireport.yaml"
    path.write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    return compute(load_config(path), data())


@pytest.mark.parametrize(("value", "target", "direction", "expected"), [
    (0.25, 0.25, "up", Status.ON),
    (0.30, 0.25, "up", Status.ON),
    (0.2251, 0.25, "up", Status.WATCH),  # within 10 % short of target
    (0.2249, 0.25, "up", Status.OFF),
    (50, 50, "down", Status.ON),
    (54.9, 50, "down", Status.WATCH),  # lower is better: above target by less than 10 %
    (55.1, 50, "down", Status.OFF),
    (-5, -10, "up", Status.ON),
    (-10.5, -10, "up", Status.WATCH),  # the margin is a share of |target|
    (None, 1, "up", Status.NO_DATA),
    (1, None, "up", Status.NO_TARGET),
])
def test_status_respects_direction_and_tolerance(value, target, direction, expected) -> None:
    assert status_of(value, target, direction, 0.10) == expected


# The README: "within 10 % of the target = watch". Within includes the edge: a value exactly
# target × (1 ∓ tolerance) is watch, the smallest step beyond it is off. Targets and tolerances are
# chosen so that the edges are exact in binary floating point (80 × 0.25 = 20; 1000 × 0.1 = 100).
BAND_EDGES = [
    (60, 80, "up", 0.25, Status.WATCH),  # 80 - 25 % of 80: on the edge
    (59.999, 80, "up", 0.25, Status.OFF),
    (80, 80, "up", 0.25, Status.ON),
    (79.999, 80, "up", 0.25, Status.WATCH),
    (100, 80, "down", 0.25, Status.WATCH),  # 80 + 25 %: on the edge
    (100.001, 80, "down", 0.25, Status.OFF),
    (80, 80, "down", 0.25, Status.ON),
    (80.001, 80, "down", 0.25, Status.WATCH),
    (900, 1000, "up", 0.10, Status.WATCH),  # the README's 10 %
    (899.99, 1000, "up", 0.10, Status.OFF),
    (1100, 1000, "down", 0.10, Status.WATCH),
    (1100.01, 1000, "down", 0.10, Status.OFF),
    (-100, -80, "up", 0.25, Status.WATCH),  # the margin is a share of |target|: -80 - 20
    (-100.001, -80, "up", 0.25, Status.OFF),
    (-60, -80, "down", 0.25, Status.WATCH),
    (-59.999, -80, "down", 0.25, Status.OFF),
    (0, 0, "up", 0.25, Status.ON),  # a zero target has no band: on or off
    (-0.001, 0, "up", 0.25, Status.OFF),
    (0.001, 0, "down", 0.25, Status.OFF),
    (79, 80, "up", 0.0, Status.OFF),  # no tolerance: short of target is off at once
    # edges that binary floats miss by a hair (0.3 + 0.03 = 0.32999999999999996): on the edge all the same,
    # as a spreadsheet compares and as a person reads "33 % against 30 % ± 10 %"
    (0.33, 0.3, "down", 0.10, Status.WATCH),
    (0.0345, 0.03, "down", 0.15, Status.WATCH),
    (0.3 * 0.7, 0.3, "up", 0.30, Status.WATCH),
    (0.33001, 0.3, "down", 0.10, Status.OFF),
    (0.1 + 0.2, 0.3, "up", 0.0, Status.ON),
]


@pytest.mark.parametrize(("value", "target", "direction", "tolerance", "expected"), BAND_EDGES)
def test_the_tolerance_band_includes_its_edges(value, target, direction, tolerance, expected) -> None:
    assert status_of(value, target, direction, tolerance) == expected


# numbers near one another and near the band's edges, zeros of both signs, huge ones, no value
_NUMBER = st.one_of(st.none(), st.sampled_from([0.0, -0.0, 1e308, -1e308, 5e-324]),
                    st.integers(-100, 100).map(float), st.floats(-1e6, 1e6, allow_nan=False))
_ROW = st.tuples(_NUMBER, _NUMBER, _NUMBER, st.sampled_from(["up", "down"]),
                 st.sampled_from([0.0, 0.1, 0.15, 0.25, 0.3, 1.0]), st.booleans())


@given(st.lists(_ROW, max_size=30))
@example([(value, target, target, way, tolerance, True) for value, target, way, tolerance, _ in BAND_EDGES])
@example([(value, None, target, way, 0.1, False) for value, target in [(-0.1, -0.05), (0.01, -0.05), (-0.5, -0.4)]
          for way in ("up", "down")])  # targets between -1 and 0
@example([(value, before, None, "up", 0.1, True)
          for value, before in [(1.0, 0.0), (1.0, -0.0), (0.0, -0.0), (0.27, 0.25)]])
def test_the_columns_of_every_row_at_once_are_status_attainment_and_changes_row_by_row(rows) -> None:
    """The engine computes these a column at a time (ResultTable): each cell as the functions give it."""
    frame = _derived(pl.DataFrame({
        "value": [row[0] for row in rows], "previous": [row[1] for row in rows], "year_ago": [row[1] for row in rows],
        "target": [row[2] for row in rows], "up": [row[3] == "up" for row in rows],
        "tolerance": [row[4] for row in rows], "percent": [row[5] for row in rows],
    }, schema={"value": pl.Float64, "previous": pl.Float64, "year_ago": pl.Float64, "target": pl.Float64,
               "up": pl.Boolean, "tolerance": pl.Float64, "percent": pl.Boolean}))
    for cells, (value, before, target, direction, tolerance, percent) in zip(frame.iter_rows(named=True), rows,
                                                                            strict=True):
        assert cells["status"] == status_of(value, target, direction, tolerance).value
        assert cells["attainment"] == attainment_of(value, target, direction)
        assert cells["change_mom"] == cells["change_yoy"] == change(value, before)
        assert cells["change_mom_pts"] == cells["change_yoy_pts"] == (change_pts(value, before) if percent else None)


@pytest.mark.parametrize(("value", "target", "direction", "expected"), [
    (-50, -40, "up", 0.75),  # 10 short of -40 is 25 % of it short: not 125 %
    (-0.10, -0.05, "up", 0.0),  # a growth of -10 % against -5 %: 100 % of the target short
    (0.01, -0.05, "up", 2.2),  # +1 % against -5 %: better than the target by 120 % of it
    (-0.053, -0.05, "up", 0.94),
    (111, 100, "down", 0.89),  # a cost 11 % over its target: 89 %, off with a 10 % tolerance
    (-35, -40, "down", 0.875),  # lower is better, the target below 0
    (-45, -40, "down", 1.125),
])
def test_attainment_is_the_gap_on_the_good_side_as_a_share_of_the_target(value, target, direction, expected) -> None:
    assert attainment_of(value, target, direction) == pytest.approx(expected)


@pytest.mark.parametrize(("value", "target", "direction", "tolerance"), [
    (-50, -40, "up", 0.1), (-43, -40, "up", 0.1), (-45, -40, "up", 0.1), (111, 100, "down", 0.1),
    (109, 100, "down", 0.1), (-35, -40, "down", 0.25), (-29, -40, "down", 0.25), (89, 100, "up", 0.1),
])
def test_attainment_and_status_tell_the_same_story(value, target, direction, tolerance) -> None:
    """Within the tolerance of the target (watch) is an attainment of at least 1 - tolerance."""
    attainment = attainment_of(value, target, direction)
    assert attainment is not None
    status = status_of(value, target, direction, tolerance)
    assert (status is Status.ON) == (attainment >= 1)
    assert (status is Status.OFF) == (attainment < 1 - tolerance)


def test_a_rate_changes_in_percentage_points() -> None:
    assert change_pts(0.27, 0.25) == pytest.approx(2.0)  # 25 % -> 27 %: +2 points (+8 % relative)
    assert change_pts(0.25, 0.27) == pytest.approx(-2.0)
    assert change_pts(None, 0.25) is None
    assert change_pts(0.25, None) is None


def test_attainment_and_change() -> None:
    assert attainment_of(30, 25, "up") == pytest.approx(1.2)
    assert attainment_of(40, 50, "down") == pytest.approx(1.2)  # 20 % cheaper than target = 120 %
    assert attainment_of(0, 50, "down") == pytest.approx(2.0)  # no cost at all: the best there is
    assert attainment_of(5, 0, "up") is None  # a target of 0 has no share
    assert attainment_of(-5, 0, "down") is None
    assert change(110, 100) == pytest.approx(0.1)
    assert change(-90, -100) == pytest.approx(0.1)
    assert change(5, 0) is None
    assert change(None, 1) is None


def test_values_targets_and_status_per_month(results) -> None:
    row = results.kpi("open_rate").at(Month(2026, 3))
    i = MONTHS.index(Month(2026, 3))
    expected = (240 + 5 * i) / (1000 + 10 * i)
    assert row.value == pytest.approx(expected)
    assert row.target == 0.25
    status = Status.ON if expected >= 0.25 else Status.WATCH if expected >= 0.225 else Status.OFF
    assert row.status == status
    assert row.attainment == pytest.approx(expected / 0.25)


def test_missing_input_gives_no_value_and_no_data_status(results) -> None:
    row = results.kpi("open_rate").at(Month(2026, 2))
    assert row.value is None
    assert row.status == Status.NO_DATA
    assert row.attainment is None
    after = results.kpi("open_rate").at(Month(2026, 3))
    assert after.previous is None
    assert after.change_mom is None


def test_zero_denominator_gives_no_value(results) -> None:
    assert results.kpi("cpl").at(Month(2025, 6)).value is None


def test_lower_is_better_status(results) -> None:
    row = results.kpi("cpl").at(Month(2026, 3))
    assert row.value == pytest.approx(5000 / (90 + 14))
    assert row.status == Status.ON  # 48.1 ≤ 50


def test_month_over_month_and_year_over_year(results) -> None:
    row = results.kpi("leads_kpi").at(Month(2026, 3))
    assert (row.value, row.previous, row.year_ago) == (104.0, 103.0, 92.0)
    assert row.change_mom == pytest.approx(104 / 103 - 1)
    assert row.change_yoy == pytest.approx(104 / 92 - 1)
    assert results.kpi("leads_kpi").at(Month(2025, 3)).year_ago is None


def test_prev_over_twelve_months(results) -> None:
    assert results.kpi("growth").at(Month(2026, 3)).value == pytest.approx((104 - 92) / 92)
    assert results.kpi("growth").at(Month(2025, 12)).value is None  # no data a year before


def test_ytd_of_a_ratio_is_the_ratio_of_ytd_totals(results) -> None:
    row = results.kpi("open_rate").at(Month(2026, 1))
    i = MONTHS.index(Month(2026, 1))
    assert row.ytd == pytest.approx((240 + 5 * i) / (1000 + 10 * i))
    # February is missing, so March's year-to-date has no value rather than a partial sum
    assert results.kpi("open_rate").at(Month(2026, 3)).ytd is None
    months_2025 = [MONTHS.index(Month(2025, m)) for m in range(1, 5)]
    expected = sum(240 + 5 * i for i in months_2025) / sum(1000 + 10 * i for i in months_2025)
    assert results.kpi("open_rate").at(Month(2025, 4)).ytd == pytest.approx(expected)


def test_ytd_of_counts_stocks_and_averages(results) -> None:
    assert results.kpi("leads_kpi").at(Month(2026, 3)).ytd == 102 + 103 + 104
    assert results.kpi("list_size").at(Month(2026, 3)).ytd == 2000 + 100 * 14  # a stock: its latest value
    # an averaged input, or a formula that already looks at other months: the mean since January
    assert results.kpi("nps_kpi").at(Month(2026, 3)).ytd == pytest.approx((42 + 43 + 44) / 3)
    growth = [(102 + k - (90 + k)) / (90 + k) for k in range(3)]  # Jan–Mar 2026 vs Jan–Mar 2025
    assert results.kpi("growth").at(Month(2026, 3)).ytd == pytest.approx(sum(growth) / 3)


def test_kpi_built_on_kpis_and_its_ytd(results) -> None:
    row = results.kpi("leads_per_subscriber").at(Month(2026, 3))
    assert row.value == pytest.approx(104 / 3400)
    assert row.ytd == pytest.approx((102 + 103 + 104) / 3400)


def test_ytd_tree_prints_the_substituted_formula(tmp_path: Path) -> None:
    path = tmp_path / "kpireport.yaml"
    path.write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    config = load_config(path)
    assert ytd_tree(config, "open_rate") == parse("ytd(opened) / ytd(delivered)").tree
    assert ytd_tree(config, "list_size") == parse("subscribers").tree
    # a mean input: its mean since January, weighed by its rows; min and max: over the months
    mean = ytd_tree(config, "nps_kpi")
    assert (mean.function, [a.kind for a in mean.args]) == ("ytd_mean", ["input", "rows"])  # type: ignore[union-attr]
    extremes = load_config(write_config(tmp_path, CONFIG.replace("nps: {aggregate: mean}", "nps: {aggregate: max}")))
    assert ytd_tree(extremes, "nps_kpi") == Call("ytd_max", (Name("nps"),))


def test_only_rates_get_their_changes_in_points(results) -> None:
    rate, count = results.kpi("open_rate").at(Month(2025, 3)), results.kpi("leads_kpi").at(Month(2025, 3))
    assert rate.change_mom_pts == pytest.approx((rate.value - rate.previous) * 100)  # type: ignore[union-attr,operator]
    assert count.change_mom_pts is None  # type: ignore[union-attr]
    assert count.change_yoy_pts is None  # type: ignore[union-attr]
    rate, count = results.kpi("open_rate").at(Month(2026, 3)), results.kpi("leads_kpi").at(Month(2026, 3))
    assert rate.change_yoy_pts == pytest.approx((rate.value - rate.year_ago) * 100)  # type: ignore[union-attr,operator]
    assert count.year_ago is not None  # type: ignore[union-attr]
    assert count.change_yoy_pts is None  # type: ignore[union-attr]  # a count a year before: still no points


def test_default_months_span_the_data(results) -> None:
    assert results.months == tuple(MONTHS)
    # a month outside the results has no row: neither the nearest one after it nor before it
    assert results.kpi("leads_kpi").at(Month(2024, 12)) is None
    assert results.kpi("leads_kpi").at(Month(2026, 4)) is None


def test_a_non_finite_input_given_to_compute_is_an_error_naming_input_and_month(tmp_path: Path) -> None:
    """load_data refuses these with their file; a caller of the library may pass them straight in."""
    path = tmp_path / "kpireport.yaml"
    path.write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    values = data()
    values["leads"][Month(2026, 2)] = math.inf
    with pytest.raises(DataError) as caught:
        compute(load_config(path), values)
    assert caught.value.message == "'leads' for 2026-02 is inf, not a finite number"


def test_ytd_of_a_windowed_formula_has_no_value_from_a_month_without_one_to_december(tmp_path: Path) -> None:
    """The mean since January is kept as a running total per year (fast at 5,000 KPIs): a month
    without value leaves the rest of that year without one, and the next January starts afresh."""
    path = tmp_path / "kpireport.yaml"
    path.write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    values = data()
    del values["leads"][Month(2026, 2)]
    values["leads"].update({Month(2024, m): 80.0 + m for m in range(1, 13)})
    results = compute(load_config(path), values, month_range(Month(2025, 1), Month(2026, 3)))
    growth = results.kpi("growth")
    jan, mar = (growth.at(Month(2025, m)).value for m in (1, 3))
    assert growth.at(Month(2025, 1)).ytd == jan
    assert growth.at(Month(2025, 3)).ytd == pytest.approx((jan + growth.at(Month(2025, 2)).value + mar) / 3)
    assert growth.at(Month(2026, 1)).ytd == growth.at(Month(2026, 1)).value  # a new year
    assert growth.at(Month(2026, 2)).value is None
    assert growth.at(Month(2026, 2)).ytd is None
    assert growth.at(Month(2026, 3)).value is not None
    assert growth.at(Month(2026, 3)).ytd is None  # February has none


def test_a_kpi_that_is_a_year_to_date_itself_has_no_other(tmp_path: Path) -> None:
    """Revenue since January showed "since January" beside it: the mean of its monthly year-to-date
    values, a second figure for the same thing (2 420 668 € and 1 442 447 € on one card)."""
    config = load_config(write_config(tmp_path, CONFIG + (
        "  revenue_ytd: {formula: ytd(spend)}\n  revenue_ytd_k: {formula: revenue_ytd / 1000}\n"
        "  ytd_share: {formula: 'ytd(leads) / ytd(subscribers)'}\n  leads_3m: {formula: 'avg(leads, 3)'}\n")))
    results = compute(config, data(), MONTHS)
    for kpi_id in ("revenue_ytd", "revenue_ytd_k", "ytd_share"):
        assert all(row.ytd is None for row in results.kpi(kpi_id).months), kpi_id
        assert results.kpi(kpi_id).at(Month(2025, 3)).value is not None
    assert results.kpi("revenue_ytd").at(Month(2025, 3)).value == 15000  # three months of 5,000
    leads_3m = results.kpi("leads_3m")  # a window, not a year to date: its mean since January
    assert leads_3m.at(Month(2026, 3)).ytd == pytest.approx(
        sum(leads_3m.at(Month(2026, m)).value for m in (1, 2, 3)) / 3)


def test_a_month_has_values_when_any_kpi_has_one(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, CONFIG))
    results = compute(config, {"leads": {Month(2026, 2): 10.0}}, [Month(2026, 1), Month(2026, 2)])
    assert results.has_values(Month(2026, 2))
    assert not results.has_values(Month(2026, 1))  # every KPI without a value
    assert not results.has_values(Month(2026, 3))  # not computed at all


def test_a_target_per_month_is_each_month_s_and_none_in_a_month_it_does_not_list(tmp_path: Path) -> None:
    """`target: {2026-01: 90, 2026-02: 120}`: January is read against 90, February against 120, and
    March, not listed, has no target (a KPI with a constant target needs no look-up by month; this
    one does)."""
    path = write_config(tmp_path, CONFIG.replace("leads_kpi: {formula: leads, target: 100}",
                                                 "leads_kpi: {formula: leads, target: {2026-01: 90, 2026-02: 120}}"))
    kpi = compute(load_config(path), data()).kpi("leads_kpi")
    targets = {m: kpi.at(m).target for m in (Month(2026, 1), Month(2026, 2), Month(2026, 3))}  # type: ignore[union-attr]
    assert targets == {Month(2026, 1): 90, Month(2026, 2): 120, Month(2026, 3): None}
    assert kpi.at(Month(2026, 3)).status == Status.NO_TARGET  # type: ignore[union-attr]


def test_months_asked_for_out_of_order_and_apart_are_each_what_the_whole_range_gives(results) -> None:
    """compute() of a few months (a library caller's list) picks each month's value, the month before
    and the year before from the same evaluation as a range does."""
    config, data_ = results.config, results.inputs
    chosen = [Month(2026, 1), Month(2025, 3), Month(2025, 7)]
    picked = compute(config, data_, chosen)
    for kpi_result in picked.kpis:
        whole = results.kpi(kpi_result.kpi.id)
        assert [row.month for row in kpi_result.months] == chosen
        for row in kpi_result.months:
            assert row == whole.at(row.month), (kpi_result.kpi.id, row.month)
