"""Why a KPI moved and which months are unusual: on series whose answers are known, the parts checked
against numbers worked out here, the sentences against the engine's own figures."""

from __future__ import annotations

import math
import random
import textwrap
from pathlib import Path

import pytest

from kpireport.config import load_config
from kpireport.engine import compute
from kpireport.locale import (
    LABELS,
    format_change,
    format_signed,
    format_values,
    movement_sentence,
    outlook_sentence,
)
from kpireport.months import Month, month_range
from kpireport.why import movement, unusual_months

CONFIG = """\
title: Test
locale: LOCALE
inputs:
  deals: {label: DEALS, aggregate: sum}
  basket: {label: BASKET, aggregate: mean, format: currency}
  revenue: {label: Revenue, aggregate: sum, format: currency}
  refunds: {label: Refunds, aggregate: sum, format: currency}
  conversions: {label: Conversions, aggregate: sum}
  leads: {label: Leads, aggregate: sum}
  opportunities: {label: Opportunities, aggregate: last}
  won: {label: Won, aggregate: sum}
  lost: {label: Lost, aggregate: sum}
  cycle: {label: Cycle, aggregate: mean}
kpis:
  sales: {label: Chiffre d'affaires, formula: deals * basket, format: currency}
  net: {label: Net revenue, formula: revenue - refunds, format: currency, target: {year: 1000}}
  conversion_rate: {label: Conversion rate, formula: conversions / leads, format: percent}
  velocity: {label: Pipeline velocity, formula: opportunities * basket * won / ((won + lost) * cycle)}
"""
MONTHS = month_range(Month(2023, 1), Month(2026, 2))


def config(tmp_path: Path, locale: str = "fr"):  # type: ignore[no-untyped-def]
    labels = {"fr": ("Affaires signées", "Panier moyen"), "en": ("Deals won", "Average deal")}[locale]
    path = tmp_path / "kpireport.yaml"
    path.write_text(textwrap.dedent(CONFIG).replace("LOCALE", locale).replace("DEALS", labels[0])
                    .replace("BASKET", labels[1]), encoding="utf-8")
    return load_config(path)


def flat(**values: float) -> dict[str, dict[Month, float]]:
    return {name: dict.fromkeys(MONTHS, value) for name, value in values.items()}


BASE = {"deals": 50.0, "basket": 7750.0, "revenue": 400.0, "refunds": 20.0, "conversions": 30.0, "leads": 100.0,
        "opportunities": 80.0, "won": 10.0, "lost": 30.0, "cycle": 60.0}
LAST = MONTHS[-1]


def lmdi(before: float, after: float, part_before: float, part_after: float, power: int = 1) -> float:
    """Factor's part by the logarithmic mean, written out here on its own."""
    mean = (after - before) / (math.log(after) - math.log(before))
    return mean * power * (math.log(part_after) - math.log(part_before))


def test_a_ratio_whose_denominator_alone_moved_owes_it_all_its_change(tmp_path: Path) -> None:
    data = flat(**BASE)
    data["leads"][LAST] = 125.0  # 30 / 100 -> 30 / 125
    results = compute(config(tmp_path), data)
    moved = movement(results, "conversion_rate", LAST)
    assert moved is not None
    assert (moved.before, moved.after) == (0.3, 0.24)
    assert moved.method == "product"
    parts = {part.label: part for part in moved.parts}
    assert parts["Conversions"].effect == 0
    assert parts["Leads"].effect == pytest.approx(0.24 - 0.3)
    assert parts["Leads"].change == pytest.approx(0.25)
    assert moved.parts[0].label == "Leads"  # largest first


def test_a_product_splits_by_logarithms_into_parts_that_add_up(tmp_path: Path) -> None:
    data = flat(**BASE)
    data["deals"][LAST] = 43.0  # −14 %
    data["basket"][LAST] = 8434.88  # +8.8 %
    results = compute(config(tmp_path), data)
    row = results.kpi("sales").at(LAST)
    assert row is not None
    moved = movement(results, "sales", LAST)
    assert moved is not None
    before, after = 50 * 7750, 43 * 8434.88
    parts = {part.label: part for part in moved.parts}
    assert parts["Affaires signées"].effect == pytest.approx(lmdi(before, after, 50, 43))
    assert parts["Panier moyen"].effect == pytest.approx(lmdi(before, after, 7750, 8434.88))
    assert sum(part.effect for part in moved.parts) == pytest.approx(after - before)
    assert moved.change == row.change_mom
    # the sentence's numbers are the engine's change and the parts worked out above
    sentence = movement_sentence(moved, results.config.kpis["sales"], "fr", "EUR")
    assert sentence == (
        f"Chiffre d'affaires recule de {format_change(-row.change_mom, 'fr', sign=False)} "  # type: ignore[operator]
        f"({format_signed(row.value - row.previous, 'currency', 'fr', 'EUR')}) par rapport au mois précédent : "  # type: ignore[operator]
        f"Affaires signées {format_change(43 / 50 - 1, 'fr')} "
        f"({format_signed(lmdi(before, after, 50, 43), 'currency', 'fr', 'EUR')}), "
        f"en partie compensé par Panier moyen {format_change(8434.88 / 7750 - 1, 'fr')} "
        f"({format_signed(lmdi(before, after, 7750, 8434.88), 'currency', 'fr', 'EUR')}).")
    assert sentence.startswith("Chiffre d'affaires recule de 6,4\u00a0% (−24\u202f800\u00a0€)")  # the example
    english = movement_sentence(movement(compute(config(tmp_path, "en"), data), "sales", LAST),
                                results.config.kpis["sales"], "en", "EUR")
    assert english.startswith("Chiffre d'affaires fell 6.4% (−€24,")
    assert ": Deals won −14% (" in english
    assert "partly offset by Average deal +8.8% (" in english


def test_pipeline_velocity_parts_add_up_and_a_sum_below_the_line_is_one_part(tmp_path: Path) -> None:
    data = flat(**BASE)
    for name, value in {"opportunities": 88.0, "basket": 7000.0, "won": 12.0, "lost": 33.0, "cycle": 54.0}.items():
        data[name][LAST] = value
    results = compute(config(tmp_path, "en"), data)
    moved = movement(results, "velocity", LAST)
    assert moved is not None
    before, after = 80 * 7750 * 10 / (40 * 60), 88 * 7000 * 12 / (45 * 54)
    assert (moved.before, moved.after) == (pytest.approx(before), pytest.approx(after))
    expected = {"Opportunities": lmdi(before, after, 80, 88), "Average deal": lmdi(before, after, 7750, 7000),
                "Won": lmdi(before, after, 10, 12), "(Won + Lost)": lmdi(before, after, 40, 45, -1),
                "Cycle": lmdi(before, after, 60, 54, -1)}
    assert {part.label: part.effect for part in moved.parts} == pytest.approx(expected)
    assert sum(expected.values()) == pytest.approx(after - before)


def test_a_sum_moves_by_its_terms_and_a_year_is_compared_with_the_same_month(tmp_path: Path) -> None:
    data = flat(**BASE)
    data["revenue"] = {m: 400.0 + 10 * i for i, m in enumerate(MONTHS)}  # a pure trend
    data["refunds"][LAST] = 50.0
    results = compute(config(tmp_path, "en"), data)
    moved = movement(results, "net", LAST, 12)
    assert moved is not None
    assert moved.versus == LAST - 12
    assert moved.method == "sum"
    assert {part.label: part.effect for part in moved.parts} == {"Revenue": 120.0, "Refunds": -30.0}
    row = results.kpi("net").at(LAST)
    assert moved.change == row.change_yoy  # type: ignore[union-attr]
    assert movement_sentence(moved, results.config.kpis["net"], "en", "EUR") == (
        f"Net revenue rose {format_change(row.change_yoy, 'en', sign=False)} (+€90.00) from a year earlier: "  # type: ignore[union-attr, arg-type]
        "Revenue +18% (+€120.00), partly offset by Refunds +150% (−€30.00).")  # 770 after 650; 50 after 20


def test_a_rate_moves_in_points_and_a_kpi_that_did_not_move_says_so(tmp_path: Path) -> None:
    data = flat(**BASE)
    data["conversions"][LAST] = 36.0
    results = compute(config(tmp_path), data)
    moved = movement(results, "conversion_rate", LAST)
    thirty, thirty_six = format_values([0.3, 0.36], "percent", "fr", "EUR")
    assert movement_sentence(moved, results.config.kpis["conversion_rate"], "fr", "EUR") == (
        f"Conversion rate passe de {thirty} à {thirty_six} (+6,0\u00a0pts) par rapport au mois précédent : "
        f"Conversions {format_change(0.2, 'fr')} (+6,0\u00a0pts).")
    assert (thirty, format_change(0.2, "fr")) == ("30,0\u00a0%", "+20\u00a0%")
    still = movement(results, "sales", LAST)
    assert still is not None
    assert still.parts[0].effect == 0
    assert movement_sentence(still, results.config.kpis["sales"], "en", "EUR") == \
        "Chiffre d'affaires is unchanged from last month (€387,500)."
    assert movement(results, "sales", MONTHS[0]) is None  # nothing before the first month


def test_the_outlook_sentence_says_the_projection_its_interval_and_the_monthly_need(tmp_path: Path) -> None:
    data = flat(**BASE)
    data["revenue"] = {m: 100.0 for m in MONTHS}
    data["refunds"] = {m: 0.0 for m in MONTHS}
    results = compute(config(tmp_path, "en"), data)
    row = results.kpi("net").at(LAST)
    assert row is not None
    assert row.year_end is not None
    projection = row.year_end
    value, low, high, target = format_values([projection.value, projection.low, projection.high, 1000],
                                             "currency", "en", "EUR")
    sentence = outlook_sentence(projection, results.config.kpis["net"], "en", "EUR")
    assert sentence.startswith(f"Projected for the year: {value} (between {low} and {high}), against a target of "
                               f"{target}: ")
    assert projection.outlook == "likely"  # a flat 100 a month makes 1,200 against 1,000
    assert projection.value == pytest.approx(1200)


def test_every_sentence_exists_in_both_locales() -> None:
    for key, texts in LABELS.items():
        if key.startswith(("why.", "outlook.")):
            assert set(texts) == {"fr", "en"}
            assert all(texts.values())


def seasonal(i: int) -> float:
    return 1000 + 5 * i + 200 * math.sin(2 * math.pi * i / 12)  # trend and season, nothing else


def results_of(tmp_path: Path, values: list[float]):  # type: ignore[no-untyped-def]
    data = flat(**BASE)
    months = month_range(Month(2021, 1), Month(2021, 1) + (len(values) - 1))
    data["revenue"] = dict(zip(months, values, strict=True))
    data["refunds"] = dict.fromkeys(months, 0.0)
    return compute(config(tmp_path), data, months), months


def test_trend_and_season_alone_are_never_unusual(tmp_path: Path) -> None:
    results, _ = results_of(tmp_path, [seasonal(i) for i in range(48)])
    assert unusual_months(results, "net") == []


def test_an_odd_month_is_unusual_and_the_same_month_a_year_later_is_not(tmp_path: Path) -> None:
    values = [seasonal(i) for i in range(48)]
    values[20] += 150
    results, months = results_of(tmp_path, values)
    found = unusual_months(results, "net")
    assert [u.month for u in found] == [months[20]]
    assert found[0].z == math.inf


def test_with_noise_the_robust_z_score_is_the_residual_over_the_mads_deviation(tmp_path: Path) -> None:
    noise = [(-1) ** i * (1 + (i % 5)) for i in range(48)]  # ±1..5, no season of its own
    values = [seasonal(i) + noise[i] for i in range(48)]
    values[30] += 80
    results, months = results_of(tmp_path, values)
    found = unusual_months(results, "net")
    assert [u.month for u in found] == [months[30]]
    assert found[0].z > 3


def test_under_three_years_no_month_is_called_unusual(tmp_path: Path) -> None:
    values = [seasonal(i) for i in range(35)]
    values[20] += 500
    assert unusual_months(results_of(tmp_path, values)[0], "net") == []


def test_one_sentence_per_kpi_with_a_value_either_side(tmp_path: Path) -> None:
    from kpireport.why import sentences

    data = flat(**BASE)
    data["leads"][LAST] = 125.0
    del data["cycle"][LAST]  # velocity has no value this month
    results = compute(config(tmp_path, "en"), data)
    said = sentences(results, LAST)
    assert set(said) == {"sales", "net", "conversion_rate"}
    moved = movement(results, "conversion_rate", LAST)
    assert said["conversion_rate"] == movement_sentence(moved, results.config.kpis["conversion_rate"], "en", "EUR")
    assert said["conversion_rate"].startswith("Conversion rate went from 30.0% to 24.0% (−6.0\u00a0pts) from last "
                                              "month: Leads +25% (−6.0\u00a0pts)")


def test_qn_is_statsmodels_qn_scale() -> None:
    from statsmodels.robust.scale import qn_scale as statsmodels_qn

    from kpireport.why import qn_scale

    generator = random.Random(5)
    for size in (24, 25, 36, 108):
        values = [generator.gauss(0, 3) + generator.expovariate(1) ** 2 for _ in range(size)]
        assert qn_scale(values) == pytest.approx(float(statsmodels_qn(values)), rel=1e-12)


def test_ordinary_months_of_noisy_series_are_flagged_at_the_normal_rate_and_a_spike_is_found() -> None:
    """Trend, season and Gaussian noise, nothing else: 3 robust z-scores flag about 0.27 % of months
    (the normal's tails). Measured with the MAD of 24 changes as the spread, 1.4 % were (five times too
    many odd months in a review); an 8-sigma spike in the last month is found all the same."""
    from kpireport.why import unusual_in

    for length in (36, 120):
        flagged = found = 0
        for seed in range(150):
            generator = random.Random(seed)
            values = [1000 + 5 * i + 100 * math.sin(math.pi * i / 6) + generator.gauss(0, 30) for i in range(length)]
            months = [Month(2016, 1) + i for i in range(length)]
            flagged += len(unusual_in(list(zip(months, values, strict=True))))
            values[-1] += 8 * 30
            found += any(u.month == months[-1] for u in unusual_in(list(zip(months, values, strict=True))))
        assert flagged / (150 * length) < 0.006, length  # the MAD gave 0.0144 at 36 months
        assert found >= 0.95 * 150, length


def test_a_change_of_float_noise_is_said_unchanged_not_from_27_0000_to_27_0000(tmp_path: Path) -> None:
    from kpireport.why import Movement, Part

    settings = load_config(_noise_config(tmp_path))
    kpi = settings.kpis["rate"]
    moved = Movement("rate", LAST, LAST - 1, 0.27, 0.27 + 1e-12, 3.7e-12,
                     (Part("Leads", 10, 10.0000001, 1e-8, 1e-12),), "product")
    assert movement_sentence(moved, kpi, "fr", "EUR") == "Taux est stable par rapport au mois précédent (27,0\u00a0%)."
    really = Movement("rate", LAST, LAST - 1, 0.27, 0.28, 0.037, (Part("Leads", 10, 11, 0.1, 0.01),), "product")
    assert "passe de 27,0\u00a0% à 28,0\u00a0%" in movement_sentence(really, kpi, "fr", "EUR")


def _noise_config(tmp_path: Path) -> Path:
    path = tmp_path / "kpireport.yaml"
    path.write_text("title: T\nlocale: fr\ninputs: {leads: {}, won: {}}\n"
                    "kpis: {rate: {label: Taux, formula: won / leads, format: percent}}\n", encoding="utf-8")
    return path
