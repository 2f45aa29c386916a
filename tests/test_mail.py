"""The review e-mail as composed (no server): the off-target list holds the KPIs beyond the
tolerance and only them — a KPI to watch, on target or without data is not "off target"."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kpireport import engine
from kpireport.config import load_config
from kpireport.mail import Recipient, compose
from kpireport.months import Month
from kpireport.review import build_view

# October: traffic 70 vs 80 (watch: within 25 %), leads 50 vs 80 (off), cost 110 vs 80 down (off),
# calls 90 vs 80 (on), churn has no value; cost 100 would be on the band's edge (watch)
CONFIG = """\
title: Mail
locale: {locale}
inputs:
  visits: {{aggregate: sum}}
  leads: {{aggregate: sum}}
  cost: {{aggregate: sum}}
  calls: {{aggregate: sum}}
  churned: {{aggregate: sum}}
  spend: {{aggregate: sum}}
kpis:
  traffic: {{label: Traffic, formula: visits, target: 80, tolerance: 0.25}}
  lead_kpi: {{label: Leads, formula: leads, target: 80, tolerance: 0.25}}
  cost_kpi: {{label: Cost, formula: cost, direction: down, target: 80, tolerance: 0.25}}
  spend_kpi: {{label: Spend, formula: spend, direction: down, target: 80, tolerance: 0.25}}
  call_kpi: {{label: Calls, formula: calls, target: 80, tolerance: 0.25}}
  churn: {{label: Churn, formula: churned, target: 80}}
"""
MONTH = Month(2026, 10)
VALUES = {"visits": {MONTH: 70.0}, "leads": {MONTH: 50.0}, "cost": {MONTH: 110.0}, "spend": {MONTH: 100.0},
          "calls": {MONTH: 90.0}, "churned": {}}


@pytest.mark.parametrize(("locale", "heading"), [("en", "Off target this month:"), ("fr", "Hors cible ce mois-ci :")])
def test_only_kpis_beyond_the_tolerance_are_listed_off_target(tmp_path: Path, locale: str, heading: str) -> None:
    path = tmp_path / "kpireport.yaml"
    path.write_text(CONFIG.format(locale=locale), encoding="utf-8")
    config = load_config(path)
    results = engine.compute(config, VALUES, [MONTH])
    statuses = {r.kpi.label: r.months[0].status.value for r in results.kpis}
    assert statuses == {"Traffic": "watch", "Leads": "off", "Cost": "off", "Spend": "watch", "Calls": "on",
                        "Churn": "no_data"}  # the premise, by the README's rule
    document = tmp_path / "review-2026-10.pdf"
    document.write_bytes(b"%PDF-1.7 stand-in")
    outgoing = compose(config, build_view(config, results, MONTH), Recipient("Boss", "boss@example.com"),
                       document, MONTH, sender="kpi@example.com", now=dt.datetime(2026, 11, 2, tzinfo=dt.UTC))
    body = outgoing.message.get_body(("plain",)).get_content()
    listed = body.split(heading)[1].split("\n\n")[0]
    items = [line.strip()[2:].split(":")[0].split(" ")[0] for line in listed.splitlines() if line.strip()]
    assert items == ["Leads", "Cost"]
