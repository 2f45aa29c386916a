"""Every KPI of every preset, as `kpireport compute` prints it, equals a value recomputed here from the
preset's own data files with plain Python: the CSV module, the catalog's YAML, and the formula text
evaluated by Python itself over month series (none of kpireport's parser, loader or engine)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kpireport.cli import cli

CATALOG = Path(__file__).resolve().parent.parent / "kpireport" / "catalog"
AGGREGATES = {name: spec.get("aggregate", "sum")
              for name, spec in yaml.safe_load((CATALOG / "inputs.yaml").read_text(encoding="utf-8")).items()}
FORMULAS = {f"{domain_file.stem}.{kid}": kpi["formula"]
            for domain_file in (CATALOG / "kpis").glob("*.yaml")
            for kid, kpi in yaml.safe_load(domain_file.read_text(encoding="utf-8"))["kpis"].items()}


class Series:
    """An input's or an expression's value per month ('YYYY-MM' -> float or None), with the
    product's documented rules: a missing value or a division by zero gives no value."""

    def __init__(self, values: dict[str, float | None]) -> None:
        self.values = values

    def at(self, month: str) -> float | None:
        return self.values.get(month)

    @staticmethod
    def of(other: Series | float) -> Series:
        return other if isinstance(other, Series) else Series(defaultdict(lambda: float(other)))

    def combine(self, other: Series | float, op, swap: bool = False) -> Series:
        other = Series.of(other)
        left, right = (other, self) if swap else (self, other)
        out = {}
        for month in MONTHS:
            a, b = left.at(month), right.at(month)
            out[month] = None if a is None or b is None else op(a, b)
        return Series(out)

    def __add__(self, other): return self.combine(other, lambda a, b: a + b)
    def __radd__(self, other): return self.combine(other, lambda a, b: a + b, swap=True)
    def __sub__(self, other): return self.combine(other, lambda a, b: a - b)
    def __rsub__(self, other): return self.combine(other, lambda a, b: a - b, swap=True)
    def __mul__(self, other): return self.combine(other, lambda a, b: a * b)
    def __rmul__(self, other): return self.combine(other, lambda a, b: a * b, swap=True)
    def __truediv__(self, other): return self.combine(other, lambda a, b: a / b if b else None)
    def __rtruediv__(self, other): return self.combine(other, lambda a, b: a / b if b else None, swap=True)
    def __neg__(self): return self * -1


def shifted(month: str, back: int) -> str:
    year, number = map(int, month.split("-"))
    index = year * 12 + number - 1 - back
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def window(series: Series, month: str, months: list[str]) -> list[float] | None:
    values = [series.at(m) for m in months]
    return None if any(v is None for v in values) else values


FUNCTIONS = {
    "prev": lambda x, n=1: Series({m: Series.of(x).at(shifted(m, n)) for m in MONTHS}),
    "ytd": lambda x: Series({m: (lambda v: None if v is None else sum(v))(
        window(Series.of(x), m, [f"{m[:4]}-{k:02d}" for k in range(1, int(m[5:]) + 1)])) for m in MONTHS}),
    "avg": lambda x, n: Series({m: (lambda v: None if v is None else sum(v) / n)(
        window(Series.of(x), m, [shifted(m, k) for k in range(n)])) for m in MONTHS}),
    "min": lambda *xs: Series({m: (lambda v: None if v is None else min(v))(
        [Series.of(x).at(m) for x in xs] if all(Series.of(x).at(m) is not None for x in xs) else None)
        for m in MONTHS}),
    "max": lambda *xs: Series({m: (lambda v: None if v is None else max(v))(
        [Series.of(x).at(m) for x in xs] if all(Series.of(x).at(m) is not None for x in xs) else None)
        for m in MONTHS}),
}
MONTHS: list[str] = []  # the months of the data being checked, set by each test


def monthly_inputs(project: Path) -> dict[str, Series]:
    """Each input per month, aggregated from the project's CSV files as the catalog says."""
    rows: dict[str, dict[str, list[tuple[str, float]]]] = defaultdict(lambda: defaultdict(list))
    daily = project / "data" / "daily-web-email.csv"
    if daily.exists():
        for row in csv.DictReader(daily.open(encoding="utf-8")):
            for name, text in row.items():
                if name != "date" and text != "":
                    rows[name][row["date"][:7]].append((row["date"], float(text)))
    monthly = project / "data" / "crm-monthly.csv"
    if monthly.exists():
        for row in csv.DictReader(monthly.open(encoding="utf-8")):
            rows[row["metric"]][row["month"]].append((row["month"], float(row["value"])))
    deals = project / "data" / "deals.csv"  # one row per deal closed: the measures of the config, by hand
    if deals.exists():
        for row in csv.DictReader(deals.open(encoding="utf-8")):
            closed, created = row["closed_at"], row["created_at"]
            month = closed[:7]
            if row["stage"] == "lost":
                rows["deals_lost"][month].append((closed, 1.0))
                continue
            rows["deals_won"][month].append((closed, 1.0))
            rows["won_deals_value"][month].append((closed, float(row["amount"])))
            days = (dt.date.fromisoformat(closed) - dt.date.fromisoformat(created)).days
            rows["sales_cycle_days"][month].append((closed, float(days)))
    inputs = {}
    for name, by_month in rows.items():
        aggregate = AGGREGATES[name]
        values = {}
        for month, dated in by_month.items():
            numbers = [value for _, value in sorted(dated, key=lambda item: item[0])]
            values[month] = {"sum": math.fsum(numbers), "mean": math.fsum(numbers) / len(numbers),
                             "last": numbers[-1], "min": min(numbers), "max": max(numbers),
                             "count": float(len(numbers))}[aggregate]
        inputs[name] = Series(values)
    return inputs


def expected_value(formula: str, inputs: dict[str, Series], month: str) -> float | None:
    result = eval(formula, {"__builtins__": {}}, {**FUNCTIONS, **inputs})  # the catalog's own formula texts
    value = Series.of(result).at(month)
    return None if value is None or not math.isfinite(value) else value


@pytest.mark.parametrize("locale", ["fr", "en"])
@pytest.mark.parametrize("preset", ["marketing", "sales", "demo", "full"])
def test_every_kpi_of_every_preset_equals_an_independent_computation(tmp_path: Path, preset: str,
                                                                      locale: str) -> None:
    project = tmp_path / "project"
    runner = CliRunner()
    assert runner.invoke(cli, ["init", str(project), "--preset", preset, "--locale", locale]).exit_code == 0
    config = yaml.safe_load((project / "kpireport.yaml").read_text(encoding="utf-8"))
    inputs = monthly_inputs(project)
    MONTHS[:] = sorted({m for series in inputs.values() for m in series.values})
    last, before = MONTHS[-1], MONTHS[-2]
    checked = 0
    for month in (before, last):
        result = runner.invoke(cli, ["compute", str(project / "kpireport.yaml"), "--month", month,
                                     "--format", "csv"])
        assert result.exit_code == 0, result.output
        printed = {row["kpi"]: row for row in csv.DictReader(io.StringIO(result.stdout))}
        assert set(printed) == set(config["kpis"])
        for kid, entry in config["kpis"].items():
            expected = expected_value(FORMULAS[entry["use"]], inputs, month)
            value = printed[kid]["value"]
            if expected is None:
                assert value == "", f"{kid} {month}: {value}, expected no value"
            else:
                assert float(value) == pytest.approx(expected, rel=1e-12), f"{kid} ({entry['use']}) {month}"
            assert float(printed[kid]["target"]) == entry["target"]
            checked += 1
    assert checked == 2 * len(config["kpis"])


def test_the_marketing_preset_counts_all_leads_not_the_blog_kpi(tmp_path: Path) -> None:
    """The blog's leads are a KPI of the preset; the catalog formulas' `leads` are all the leads."""
    project = tmp_path / "project"
    CliRunner().invoke(cli, ["init", str(project), "--preset", "marketing"])
    config = yaml.safe_load((project / "kpireport.yaml").read_text(encoding="utf-8"))
    assert config["kpis"]["blog_leads"]["use"] == "blog.leads"
    inputs = monthly_inputs(project)
    month = sorted(inputs["leads"].values)[-1]
    result = CliRunner().invoke(cli, ["compute", str(project / "kpireport.yaml"), "--month", month,
                                      "--format", "json"])
    values = {row["kpi"]: row["value"] for row in json.loads(result.stdout)["rows"]}
    assert values["total_leads"] == inputs["leads"].at(month)
    assert values["blog_leads"] == inputs["blog_leads"].at(month)
    assert values["total_leads"] > 3 * values["blog_leads"]
