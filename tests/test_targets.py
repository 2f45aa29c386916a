"""Yearly and quarterly targets: how they read, every mistake with its key, and their split into months."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kpireport.config import load_config
from kpireport.engine import compute
from kpireport.errors import ConfigError
from kpireport.months import Month, month_range
from kpireport.targets import is_sum_like

CONFIG = """\
title: Test
inputs:
  revenue: {aggregate: sum}
  refunds: {aggregate: sum}
  deals: {aggregate: sum}
  leads: {aggregate: sum}
  subscribers: {aggregate: last}
kpis:
  net_revenue: {formula: revenue - refunds, target: TARGET}
  win_rate: {formula: deals / leads, format: percent, target: {year: 0.3}}
"""


def load(tmp_path: Path, target: str, config: str = CONFIG):  # type: ignore[no-untyped-def]
    path = tmp_path / "kpireport.yaml"
    path.write_text(textwrap.dedent(config).replace("TARGET", target), encoding="utf-8")
    return load_config(path)


def error_of(tmp_path: Path, target: str, config: str = CONFIG) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, target, config)
    return caught.value


def test_a_yearly_target_reads_as_the_same_figure_every_year_split_by_season(tmp_path: Path) -> None:
    period = load(tmp_path, "{year: 4200000}").kpis["net_revenue"].target.period
    assert period is not None
    assert (period.period, period.split, period.value(Month(2031, 5))) == ("year", "seasonal", 4200000)


def test_a_yearly_target_per_year_has_none_in_other_years(tmp_path: Path) -> None:
    period = load(tmp_path, "{year: {2026: 4200000, 2027: 4600000}, split: even}").kpis["net_revenue"].target.period
    assert period is not None
    assert [period.value(Month(y, 3)) for y in (2025, 2026, 2027)] == [None, 4200000, 4600000]
    assert period.split == "even"


def test_quarterly_targets_are_written_year_dash_q(tmp_path: Path) -> None:
    period = load(tmp_path, "{quarter: {2026-Q1: 900000, 2026-Q2: 1000000}}").kpis["net_revenue"].target.period
    assert period is not None
    assert [period.value(Month(2026, m)) for m in (1, 3, 4, 6, 7)] == [900000, 900000, 1000000, 1000000, None]
    assert period.months(Month(2026, 5)) == month_range(Month(2026, 4), Month(2026, 6))


@pytest.mark.parametrize(("target", "key", "message"), [
    ("{year: 1, quarter: 2}", "kpis.net_revenue.target", "a target is yearly or quarterly, not both"),
    ("{year: 1, split: monthly}", "kpis.net_revenue.target.split", "'monthly' is not a way to split a target"),
    ("{split: even, 2026-01: 3}", "kpis.net_revenue.target.split", "'split' without a yearly or quarterly target"),
    ("{year: 1, 2026-01: 3}", "kpis.net_revenue.target.2026-01", "'2026-01' cannot sit beside a yearly target"),
    ("{quarter: {2026-1: 5}}", "kpis.net_revenue.target.quarter.2026-1", "'2026-1' is not a quarter"),
    ("{year: {twenty: 5}}", "kpis.net_revenue.target.year.twenty", "'twenty' is not a year"),
    ("{year: {2026: lots}}", "kpis.net_revenue.target.year.2026", "'lots' is not a number"),
    ("{year: lots}", "kpis.net_revenue.target.year", "'lots' is not a number"),
    ("{2026-01: lots}", "kpis.net_revenue.target.2026-01", "'lots' is not a number"),
])
def test_every_mistake_in_a_yearly_target_names_its_key_with_a_hint(tmp_path: Path, target: str, key: str,
                                                                    message: str) -> None:
    error = error_of(tmp_path, target)
    assert (error.key, error.message) == (key, message)
    assert error.hint
    assert error.line is not None


def test_a_rate_is_not_split(tmp_path: Path) -> None:
    error = error_of(tmp_path, "1", CONFIG.replace("{year: 0.3}", "{year: 0.3, split: seasonal}"))
    assert error.key == "kpis.win_rate.target.split"
    assert "does not add up over months" in error.message


@pytest.mark.parametrize(("formula", "expected"), [
    ("revenue", True), ("revenue - refunds", True), ("-refunds + revenue", True), ("revenue / 1.2", True),
    ("2 * revenue", True), ("net_revenue + refunds", True),
    ("deals / leads", False), ("revenue + 5", False), ("subscribers", False), ("ytd(revenue)", False),
    ("revenue * deals", False), ("1 / revenue", False),
])
def test_sum_like_kpis_are_sums_of_sum_inputs_scaled_by_constants(tmp_path: Path, formula: str,
                                                                   expected: bool) -> None:
    config = load(tmp_path, "1", CONFIG + f"  probe: {{formula: '{formula}'}}\n")
    assert is_sum_like(config.kpis["probe"].formula.tree, config.kpis, config.inputs) is expected


MONTHS = month_range(Month(2025, 1), Month(2026, 12))


def revenue_data(last_year: list[float]) -> dict[str, dict[Month, float]]:
    values = {m: last_year[m.month - 1] for m in MONTHS if m.year == 2025}
    values.update({m: 100.0 for m in MONTHS if m.year == 2026 and m.month <= 3})
    return {"revenue": values, "refunds": dict.fromkeys(values, 0.0), "deals": dict.fromkeys(values, 3.0),
            "leads": dict.fromkeys(values, 10.0)}


def test_a_yearly_target_splits_by_last_years_months(tmp_path: Path) -> None:
    profile = [float(10 + i * i) for i in range(12)]  # any positive profile
    results = compute(load(tmp_path, "{year: {2026: 1200}}"), revenue_data(profile), MONTHS)
    net = results.kpi("net_revenue")
    share = sum(profile)
    for i, month in enumerate(month_range(Month(2026, 1), Month(2026, 12))):
        row = net.at(month)
        assert row is not None
        assert row.target == pytest.approx(1200 * profile[i] / share)
        assert row.year_target == 1200
        assert row.ytd_target == pytest.approx(1200 * sum(profile[: i + 1]) / share)
    assert net.at(Month(2025, 6)).target is None  # type: ignore[union-attr]  # no target that year


def test_a_yearly_target_splits_evenly_without_a_full_year_before(tmp_path: Path) -> None:
    profile = [50.0] * 11 + [0.0]  # December empty: no profile to follow
    results = compute(load(tmp_path, "{year: 1200}"), revenue_data(profile), MONTHS)
    for month in month_range(Month(2025, 1), Month(2026, 12)):  # 2025 has no year before it
        assert results.kpi("net_revenue").at(month).target == pytest.approx(100)  # type: ignore[union-attr]


def test_split_even_ignores_last_year(tmp_path: Path) -> None:
    results = compute(load(tmp_path, "{year: 1200, split: even}"), revenue_data([float(i + 1) for i in range(12)]),
                      MONTHS)
    assert results.kpi("net_revenue").at(Month(2026, 2)).target == pytest.approx(100)  # type: ignore[union-attr]


def test_a_quarterly_target_splits_within_its_quarter(tmp_path: Path) -> None:
    profile = [float(i + 1) for i in range(12)]
    results = compute(load(tmp_path, "{quarter: {2026-Q2: 300, 2026-Q1: 60, 2026-Q3: 1, 2026-Q4: 1}}"),
                      revenue_data(profile), MONTHS)
    net = results.kpi("net_revenue")
    assert [net.at(Month(2026, m)).target for m in (4, 5, 6)] == pytest.approx(  # type: ignore[union-attr]
        [300 * 4 / 15, 300 * 5 / 15, 300 * 6 / 15])
    row = net.at(Month(2026, 5))
    assert row.year_target == 362  # type: ignore[union-attr]  # the four quarters
    assert row.ytd_target == pytest.approx(60 + 300 * 9 / 15)  # type: ignore[union-attr]
    assert row.quarter_target == 300  # type: ignore[union-attr]


def test_a_rates_yearly_target_is_every_months_and_the_year_to_dates(tmp_path: Path) -> None:
    results = compute(load(tmp_path, "1"), revenue_data([1.0] * 12), MONTHS)
    row = results.kpi("win_rate").at(Month(2026, 2))
    assert (row.target, row.year_target, row.ytd_target) == (0.3, 0.3, 0.3)  # type: ignore[union-attr]


def test_a_month_typed_in_the_workbook_keeps_its_own_target(tmp_path: Path) -> None:
    from dataclasses import replace

    config = load(tmp_path, "{year: 1200, split: even}")
    kpi = config.kpis["net_revenue"]
    typed = replace(kpi, target=replace(kpi.target, by_month={Month(2026, 1): 500.0}))
    config = replace(config, kpis={**config.kpis, "net_revenue": typed})
    net = compute(config, revenue_data([1.0] * 12), MONTHS).kpi("net_revenue")
    assert net.at(Month(2026, 1)).target == 500  # type: ignore[union-attr]
    assert net.at(Month(2026, 2)).ytd_target == 600  # type: ignore[union-attr]


def test_without_a_yearly_target_the_new_fields_stay_empty(tmp_path: Path) -> None:
    row = compute(load(tmp_path, "300"), revenue_data([1.0] * 12), MONTHS).kpi("net_revenue").at(Month(2026, 2))
    assert row is not None
    assert (row.target, row.year_target, row.ytd_target, row.year_end, row.quarter_end) == (300, None, None, None,
                                                                                           None)


def test_the_readmes_example_of_yearly_targets_loads(tmp_path: Path) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("### Yearly and quarterly targets", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    config = load(tmp_path, "1", "title: README\n" + block)
    periods = {kid: kpi.target.period for kid, kpi in config.kpis.items()}
    assert {kid: (p.period, p.split) for kid, p in periods.items() if p} == {
        "revenue": ("year", "seasonal"), "new_deals": ("year", "even"), "leads": ("quarter", "seasonal"),
        "win_rate": ("year", "seasonal")}


def test_compute_refuses_a_bad_yearly_target_with_exit_2_and_writes_the_year_as_json(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from kpireport.cli import cli

    bad = tmp_path / "bad"
    bad.mkdir()
    load_path = bad / "kpireport.yaml"
    load_path.write_text(textwrap.dedent(CONFIG).replace("TARGET", "{year: 100, split: weekly}"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["compute", str(load_path)])
    assert result.exit_code == 2
    assert "kpis.net_revenue.target.split: 'weekly' is not a way to split a target" in result.output
    assert "hint: split: seasonal" in result.output

    good = tmp_path / "kpireport.yaml"
    good.write_text(textwrap.dedent(CONFIG).replace("TARGET", "{year: 1200}") + "sources: [{path: data.csv}]\n",
                    encoding="utf-8")
    rows = ["date,revenue,refunds,deals,leads"] + [f"{m}-15,100,0,3,10" for m in month_range(Month(2025, 1),
                                                                                             Month(2025, 3))]
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["compute", str(good), "--format", "json", "--month", "2025-03"])
    assert result.exit_code == 0, result.output
    row = next(r for r in json.loads(result.stdout)["rows"] if r["kpi"] == "net_revenue")
    # three months of 100 and a run rate of 100: 1,200 for the year, against 1,200
    assert (row["year_target"], row["ytd_target"], row["year_end"]) == (1200, 300, pytest.approx(1200))
    assert row["year_end_low"] < 1200 < row["year_end_high"]
    assert row["outlook"] == "possible"


def test_the_workbook_shows_each_months_share_and_reads_it_back_as_the_configs(tmp_path: Path) -> None:
    """The template's target cells of a yearly target hold the engine's split (what compute and the
    review show); read back, a share left as written is the config's, a typed one overrides its month."""
    import csv
    import io

    from click.testing import CliRunner
    from openpyxl import load_workbook

    from kpireport.cli import cli
    from kpireport.template import named_cells

    lines = ["month,revenue,refunds,deals,leads,subscribers"]
    for index, month in enumerate(month_range(Month(2025, 1), Month(2026, 6))):
        lines.append(f"{month},{100 + 10 * (month.month % 4) + index},{index % 3},{5 + index % 4},{20 + index},"
                     f"{300 + index}")
    (tmp_path / "data.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = tmp_path / "kpireport.yaml"
    config.write_text(CONFIG.replace("TARGET", "{year: 1500, split: seasonal}")
                      + "sources:\n  - {path: data.csv, date: month}\n", encoding="utf-8")
    runner = CliRunner()

    def targets(*data: Path) -> dict[tuple[str, str], str]:
        result = runner.invoke(cli, ["compute", str(config), *[f"--data={d}" for d in data]])
        assert result.exit_code == 0, result.output
        return {(row["kpi"], row["month"]): row["target"] for row in csv.DictReader(io.StringIO(result.stdout))}

    expected = targets()
    workbook_path = tmp_path / "kpi.xlsx"
    assert runner.invoke(cli, ["template", str(config), "-o", str(workbook_path), "--year", "2026"]).exit_code == 0
    book = load_workbook(workbook_path)
    months = [Month.of(cell.value) for cell in named_cells(book, "months")]
    shown = dict(zip(months, (cell.value for cell in named_cells(book, "target_net_revenue")), strict=True))
    for month in month_range(Month(2026, 1), Month(2026, 6)):
        assert shown[month] == pytest.approx(float(expected[("net_revenue", str(month))]), rel=1e-12), month
    assert sum(shown[m] for m in month_range(Month(2026, 1), Month(2026, 12))) == pytest.approx(1500)
    back = runner.invoke(cli, ["compute", str(config), f"--data={workbook_path}", "--month", "2026-03"])
    assert back.exit_code == 0, back.output
    assert "target" not in back.stderr  # a share left as written is no typed target: no warning
    # typed over: that month's target, with a warning; the others keep their shares
    cells = named_cells(book, "target_net_revenue")
    cells[months.index(Month(2026, 3))].value = 175
    book.save(workbook_path)
    typed = runner.invoke(cli, ["compute", str(config), f"--data={workbook_path}"])
    rows = {(row["kpi"], row["month"]): row["target"] for row in csv.DictReader(io.StringIO(typed.stdout))}
    assert rows[("net_revenue", "2026-03")] == "175"
    assert "the workbook's 175 is used" in typed.stderr
    # an update keeps the typed month and writes the other months' shares afresh from the data
    updated = runner.invoke(cli, ["template", str(config), "-o", str(workbook_path), "--year", "2026", "--update"])
    assert updated.exit_code == 0, updated.output
    again = load_workbook(workbook_path)
    cells = dict(zip(months, (cell.value for cell in named_cells(again, "target_net_revenue")), strict=True))
    assert cells[Month(2026, 3)] == 175
    assert cells[Month(2026, 1)] == pytest.approx(float(expected[("net_revenue", "2026-01")]), rel=1e-12)


def test_each_months_quarter_target_is_its_own_quarters(tmp_path: Path) -> None:
    """A yearly sum's quarter target is the shares of the month's own quarter; a quarterly target's,
    the quarter's figure; a rate's, the year's rate. Each has a quarter-end projection."""
    profile = [float(i + 1) for i in range(12)]  # quarters of 6, 15, 24 and 33 parts of 78
    yearly = compute(load(tmp_path, "{year: {2026: 780}}"), revenue_data(profile), MONTHS)
    quarterly = compute(load(tmp_path, "{quarter: {2026-Q1: 60, 2026-Q2: 300, 2026-Q3: 7, 2026-Q4: 9}}"),
                        revenue_data(profile), MONTHS)
    for month, shares, written in ((1, 60, 60), (3, 60, 60), (4, 150, 300), (6, 150, 300), (7, 240, 7),
                                   (9, 240, 7), (10, 330, 9), (12, 330, 9)):
        row = yearly.kpi("net_revenue").at(Month(2026, month))
        assert row.quarter_target == pytest.approx(shares), month  # type: ignore[union-attr]
        assert quarterly.kpi("net_revenue").at(Month(2026, month)).quarter_target == written  # type: ignore[union-attr]
        rate = yearly.kpi("win_rate").at(Month(2026, month))
        assert rate.quarter_target == pytest.approx(0.3)  # type: ignore[union-attr]
        known = month <= 3  # the data run to March: a quarter-end projection as known then
        assert (row.quarter_end is not None, rate.quarter_end is not None) == (known, known)  # type: ignore[union-attr]
    assert yearly.kpi("net_revenue").at(Month(2025, 6)).quarter_end is None  # type: ignore[union-attr]  # no target
