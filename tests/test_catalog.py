"""The built-in catalog: complete, valid, bilingual, and faithful to the seed articles' definitions."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpireport.catalog import load_catalog
from kpireport.config import IDENTIFIER, load_config
from kpireport.engine import compute
from kpireport.formula import evaluate, parse
from kpireport.months import Month
from kpireport.presets import write_project
from kpireport.sources import load_data

CATALOG = load_catalog()


def test_catalog_is_large_enough() -> None:
    assert len(CATALOG.kpis) >= 50
    assert len(CATALOG.domains) >= 10


def test_hubspot_roles_and_other_articles_domains_are_all_there() -> None:
    expected = {"email", "blog", "sales_enablement", "social", "product_marketing", "conversion", "campaigns",
                "sales", "website", "finance", "marketing", "alignment", "journey"}
    assert expected <= set(CATALOG.domains)


@pytest.mark.parametrize("kpi_id", sorted(CATALOG.kpis))
def test_every_formula_parses_over_catalog_inputs(kpi_id: str) -> None:
    kpi = CATALOG.kpis[kpi_id]
    names = parse(kpi.formula).names()
    assert names, "a KPI reads at least one input"
    assert names <= set(CATALOG.inputs)
    assert IDENTIFIER.match(kpi_id.split(".", 1)[1])
    assert kpi.label.fr.strip()
    assert kpi.label.en.strip()
    assert kpi.definition.fr.strip()
    assert kpi.definition.en.strip()
    if kpi.benchmark and kpi.benchmark.low is not None and kpi.benchmark.high is not None:
        assert kpi.benchmark.low <= kpi.benchmark.high


def test_every_input_is_used_and_has_a_typical_value() -> None:
    used = set().union(*(parse(k.formula).names() for k in CATALOG.kpis.values()))
    assert set(CATALOG.inputs) == used
    assert all(spec.example is not None for spec in CATALOG.inputs.values())


def _value(kpi_id: str, **inputs: float) -> float | None:
    """The catalog formula evaluated on one month of hand-picked inputs."""
    return evaluate(parse(CATALOG.kpis[kpi_id].formula).tree, Month(2026, 3), lambda name, m: inputs[name.name])


def test_definitions_match_the_articles() -> None:
    # HubSpot: opens ÷ received; clicks ÷ received; unsubscribes ÷ received
    assert _value("email.open_rate", emails_opened=250, emails_delivered=1000) == 0.25
    assert _value("email.click_rate", emails_clicked=30, emails_delivered=1000) == 0.03
    assert _value("email.unsubscribe_rate", email_unsubscribes=2, emails_delivered=1000) == 0.002
    # Qobra: opportunities ÷ leads; customers ÷ opportunities
    assert _value("alignment.lead_to_opportunity_ratio", opportunities_created=30, leads=200) == 0.15
    assert _value("alignment.opportunity_to_customer_ratio", customers_won=6, opportunities_created=30) == 0.2
    # Qobra: pipeline velocity = opportunities × average deal × win rate ÷ cycle length
    opportunities, won, lost, value, days = 40, 5, 15, 100_000, 50
    expected = opportunities * (value / won) * (won / (won + lost)) / days
    assert _value("alignment.pipeline_velocity", opportunities_open=opportunities, won_deals_value=value,
                  deals_won=won, deals_lost=lost, sales_cycle_days=days) == pytest.approx(expected)


def test_directions_follow_the_meaning() -> None:
    for kpi_id in ("website.bounce_rate", "email.unsubscribe_rate", "marketing.cost_per_lead",
                   "marketing.customer_acquisition_cost", "sales.sales_cycle_length"):
        assert CATALOG.kpis[kpi_id].direction == "down", kpi_id
    for kpi_id in ("email.open_rate", "sales.revenue", "sales.win_rate"):
        assert CATALOG.kpis[kpi_id].direction == "up", kpi_id


def test_efficy_bounce_rate_benchmark() -> None:
    benchmark = CATALOG.kpis["website.bounce_rate"].benchmark
    assert (benchmark.low, benchmark.high) == (0.30, 0.50)


def test_every_kpi_has_a_value_on_the_sample_data(tmp_path) -> None:
    """`kpireport init --preset full` data gives every catalog KPI a value: no zero denominator."""
    write_project(tmp_path, "full", "en", last_month=Month(2026, 10))
    config = load_config(tmp_path / "kpireport.yaml")
    results = compute(config, load_data(config).values)
    for result in results.kpis:
        row = result.at(Month(2026, 10))
        assert row.value is not None, result.kpi.id


def test_every_source_a_kpi_cites_is_one_of_the_seed_articles() -> None:
    sources_md = Path(__file__).resolve().parent.parent / "kpireport" / "catalog" / "SOURCES.md"
    seeds = {line.split("|")[1].strip() for line in sources_md.read_text(encoding="utf-8").splitlines()
             if line.startswith("| 00")}  # the table of seeds
    assert set(CATALOG.articles) == seeds == {"000", "001", "002", "003", "004"}
    cited = {source for kpi in CATALOG.kpis.values() for source in kpi.sources}
    assert cited == set(CATALOG.articles)
    assert all(kpi.sources for kpi in CATALOG.kpis.values())
    assert CATALOG.articles["000"].cited("fr").startswith("HubSpot, ")


def test_every_catalog_measure_is_a_valid_measure_of_its_input(tmp_path: Path) -> None:
    """The catalog's lines for a rows source's `measures:` load as they are, the input's own
    aggregate agreeing, one source per export."""
    import yaml

    catalog = load_catalog()
    made = {name: spec for name, spec in catalog.inputs.items() if spec.measure is not None}
    assert {"sales_cycle_days", "opportunities_open", "customers_lost", "active_customers"} <= set(made)
    assert all(spec.rows_of in ("deals", "customers") for spec in made.values())
    sources = "".join(f"  - path: {kind}.csv\n    layout: rows\n    measures:\n"
                      + "".join(f"      {name}: {yaml.safe_dump(spec.measure, default_flow_style=True, width=10_000)}"
                                for name, spec in made.items() if spec.rows_of == kind)
                      for kind in ("deals", "customers"))
    config = tmp_path / "kpireport.yaml"
    config.write_text(f"title: T\nkpis:\n  velocity: {{use: alignment.pipeline_velocity}}\n"
                      f"  churn: {{use: customer.churn_rate}}\n  cac: {{use: marketing.customer_acquisition_cost}}\n"
                      f"  opportunities: {{use: alignment.lead_to_opportunity_ratio}}\n"
                      f"sources:\n{sources}", encoding="utf-8")
    loaded = load_config(config)
    measures = {m.input: m for source in loaded.sources for m in source.measures}
    assert set(measures) == set(made)
    assert measures["active_customers"].snapshot is not None
    assert measures["sales_cycle_days"].aggregate == "mean"
