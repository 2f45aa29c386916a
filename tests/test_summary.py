"""The summary that writes itself: series whose answers are known, the sentences holding the engine's
numbers, in the review's PDF and at the head of the mail body, fr and en."""

from __future__ import annotations

import math
import random
import re
import textwrap
import unicodedata
from pathlib import Path

import pytest
from pypdf import PdfReader

from kpireport.config import load_config
from kpireport.engine import Status, compute
from kpireport.locale import (
    LABELS,
    format_change,
    format_number,
    format_percent,
    format_signed,
    format_value,
    format_values,
)
from kpireport.mail import Recipient, compose
from kpireport.months import Month, month_range
from kpireport.review import build_view, pdf_bytes
from kpireport.summary import summary
from kpireport.why import histories, history_months, movement, unusual_months

CONFIG = """\
title: Test
locale: LOCALE
owners:
  ann: {name: Ann, email: ann@example.com}
  bob: {name: Bob, email: bob@example.com}
inputs:
  conversions: {label: Conversions, aggregate: sum}
  leads: {label: Leads, aggregate: sum}
  revenue: {label: Revenue, aggregate: sum, format: currency}
  visits: {label: Visits, aggregate: sum}
kpis:
  conversion_rate: {label: Conversion rate, formula: conversions / leads, format: percent, target: 0.30, owner: ann}
  sales: {label: Sales, formula: revenue, format: currency, target: {year: 100000}, owner: bob}
  traffic: {label: Traffic, formula: visits, owner: bob}
"""
MONTHS = month_range(Month(2023, 1), Month(2026, 2))
LAST = MONTHS[-1]


def project(tmp_path: Path, locale: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "kpireport.yaml"
    path.write_text(textwrap.dedent(CONFIG).replace("LOCALE", locale), encoding="utf-8")
    return load_config(path)


_draws = random.Random(17)  # seeded: the same noise at every run
NOISE = [_draws.gauss(0, 10) for _ in MONTHS]


def visits(i: int) -> float:
    """Trend, season, and some noise (a month's robust z-score is then finite)."""
    return 1000 + 5 * i + 200 * math.sin(2 * math.pi * i / 12) + NOISE[i]


def data(*, odd: bool = True, leads_after: float = 150.0, low_sales: bool = False) -> dict[str, dict[Month, float]]:
    """Three facts at LAST: the conversion rate off target because its leads alone rose (100 -> 150, 30
    conversions: 30 % -> 20 %); sales of 6,000 a month, against a year of 100,000 (split evenly:
    8,333 a month, which February's 8,400 reaches, but not the year); the
    traffic's last month 600 above its trend and season (its noise: about
    ±10). `low_sales`: 100 every month, off target too."""
    return {
        "conversions": dict.fromkeys(MONTHS, 30.0),
        "leads": {m: leads_after if m == LAST else 100.0 for m in MONTHS},
        "revenue": dict.fromkeys(MONTHS, 100.0) if low_sales else
                   {m: 8400.0 if m == LAST else 6000.0 for m in MONTHS},
        "visits": {m: visits(i) + (600 if odd and m == LAST else 0) for i, m in enumerate(MONTHS)},
    }


@pytest.fixture(params=["fr", "en"])
def locale(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


def test_the_three_facts_hold_the_engines_numbers_one_kind_each(tmp_path: Path, locale: str) -> None:
    results = compute(project(tmp_path, locale), data())
    said = summary(results, LAST).sentences
    assert len(said) == 3
    rate, sales, traffic = said
    # the rate: off target, and its leads alone moved it: the leads' part is the whole change
    row = results.kpi("conversion_rate").at(LAST)
    assert row is not None
    assert row.status == Status.OFF
    moved = movement(results, "conversion_rate", LAST)
    assert moved is not None
    assert (moved.before, moved.after) == pytest.approx((0.30, 0.20))
    leads = next(part for part in moved.parts if part.label == "Leads")
    assert leads.effect == pytest.approx(-0.10)
    assert all(part.effect == pytest.approx(0) for part in moved.parts if part is not leads)
    assert rate.startswith("Conversion rate")
    for number in (format_percent(0.20, locale), format_percent(0.30, locale), format_percent(2 / 3, locale, 0),
                   # the leads' own change (+50 %) and their part, the whole −10 points
                   f"Leads {format_change(0.5, locale)} ({format_signed(-0.10, 'percent', locale, 'EUR')})"):
        assert number in rate, (number, rate)
    # sales: on target this month, yet the year cannot make 100,000; the ten months left need
    # (100,000 - 14,400) / 10 each
    sales_row = results.kpi("sales").at(LAST)
    assert sales_row is not None
    assert sales_row.status == Status.ON
    projection = sales_row.year_end
    assert projection is not None
    assert projection.outlook == "unlikely"
    assert projection.needed == pytest.approx(8560)
    value, low, high, target, needed = format_values(
        [projection.value, projection.low, projection.high, 100000, 8560], "currency", locale, "EUR")
    assert sales.startswith("Sales — ")
    for number in (value, low, high, target, needed):
        assert number in sales, (number, sales)
    # the traffic: its last month is unusual, and the sentence says by how much
    odd = [u for u in unusual_months(results, "traffic") if u.month == LAST]  # the summary's month
    assert len(odd) == 1
    assert traffic.startswith("Traffic")
    assert format_value(odd[0].value, "number", locale, "EUR") in traffic
    assert math.isfinite(odd[0].z)
    assert f"{format_number(odd[0].z, locale, 1)} {'écarts robustes' if locale == 'fr' else 'robust deviations'}" \
        in traffic
    assert ("haut" if locale == "fr" else "high") in traffic


def test_the_furthest_from_target_comes_first_and_no_kpi_is_said_twice(tmp_path: Path) -> None:
    config = project(tmp_path, "en")
    # sales is also off target each month (a yearly target's months): it is said once, as the KPI off
    # target furthest from it, and its projection is left out; the rate's gap is smaller
    results = compute(config, data(odd=False, low_sales=True))
    rows = {kpi: results.kpi(kpi).at(LAST) for kpi in ("conversion_rate", "sales")}
    assert all(row is not None and row.status == Status.OFF for row in rows.values())
    said = summary(results, LAST).sentences
    assert [sentence.split(" ")[0] for sentence in said] == ["Sales", "Conversion"]
    assert "Projected" not in said[0]


def test_a_reviews_13_months_see_the_whole_history_as_the_engine_computes_it(tmp_path: Path) -> None:
    config = project(tmp_path, "en")
    whole, window = compute(config, data()), compute(config, data(), month_range(LAST - 12, LAST))
    months = history_months(window, LAST)
    assert months == list(MONTHS)
    history = histories(window, months)
    for kpi in config.kpis:
        assert history(kpi) == [(row.month, row.value) for row in whole.kpi(kpi).months]


def test_nothing_to_say_is_one_sentence_with_the_counts(tmp_path: Path, locale: str) -> None:
    config = project(tmp_path, locale)
    results = compute(config, data(odd=False, leads_after=100.0))
    said = summary(results, LAST, kpi_ids=["conversion_rate", "traffic"])
    expected = {"fr": "Rien à signaler : 1 indicateur atteint, 0 à surveiller",
                "en": "Nothing stands out: 1 KPI on target, 0 to watch"}[locale]
    assert len(said.sentences) == 1
    assert said.sentences[0].startswith(expected)


def test_the_owners_notes_follow_with_their_inputs_label_for_the_kpis_of_the_review(tmp_path: Path) -> None:
    results = compute(project(tmp_path, "fr"), data())
    notes = {"leads": {LAST: "Salon en février"}, "revenue": {None: "Saisie du CRM"}, "visits": {Month(2025, 1): "x"}}
    assert summary(results, LAST, notes=notes).notes == ["Leads : Salon en février", "Revenue : Saisie du CRM"]
    ann = summary(results, LAST, kpi_ids=["conversion_rate"], notes=notes)
    assert ann.notes == ["Leads : Salon en février"]
    assert [s.split(" ")[0] for s in ann.sentences] == ["Conversion"]  # an owner's summary: their KPIs only


def plain(text: str) -> str:
    """Text as a PDF reader gives it back: ligatures split, every space and line break one space."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


def test_the_review_and_the_mail_open_with_the_summary(tmp_path: Path, locale: str) -> None:
    config = project(tmp_path, locale)
    results = compute(config, data(), month_range(LAST - 12, LAST))
    notes = {"leads": {LAST: "Salon en février"}}
    view = build_view(config, results, LAST, notes=notes)
    expected = summary(results, LAST, notes=notes)
    assert view.highlights == expected.sentences
    assert view.owner_notes == expected.notes
    # the review's results hold 13 months; the unusual month is still told, from the whole history
    assert len(expected.sentences) == 3
    assert expected.sentences[2].startswith("Traffic")
    pdf, _ = pdf_bytes(view, template_dir=None, base_dir=tmp_path)
    (tmp_path / "review.pdf").write_bytes(pdf)
    content = plain(" ".join(page.extract_text() for page in PdfReader(tmp_path / "review.pdf").pages))
    for line in expected.lines:
        assert plain(line) in content
    message = compose(config, view, Recipient("Boss", "boss@example.com"), tmp_path / "review.pdf", LAST,
                      sender="kpi@example.com")
    body = message.message.get_body(("plain",)).get_content()
    greeting = {"fr": "Bonjour Boss,", "en": "Hello Boss,"}[locale]
    notes_heading = {"fr": "Notes des responsables :", "en": "Owners' notes:"}[locale]
    assert body.startswith("\n".join([greeting, "", *expected.sentences, "", notes_heading,
                                      *(f"  - {note}" for note in expected.notes), ""]))


def test_an_owners_mail_carries_the_summary_of_their_kpis(tmp_path: Path) -> None:
    config = project(tmp_path, "en")
    results = compute(config, data(), month_range(LAST - 12, LAST))
    view = build_view(config, results, LAST, kpi_ids=["sales", "traffic"], audience="Bob")
    (tmp_path / "bob.pdf").write_bytes(b"%PDF-1.7 stand-in")
    message = compose(config, view, Recipient("Bob", "bob@example.com"), tmp_path / "bob.pdf", LAST,
                      sender="kpi@example.com")
    body = message.message.get_body(("plain",)).get_content()
    assert body.split("\n")[2] == view.highlights[0]
    assert "Conversion" not in body


def test_every_summary_sentence_exists_in_both_locales() -> None:
    for key, texts in LABELS.items():
        if key.startswith("summary."):
            assert set(texts) == {"fr", "en"}
            assert all(texts.values())
