"""The summary that writes itself: the month's three facts that matter most, in the config's language,
then the notes the owners typed. Plain data from the engine's results (no model, no network); the
review prints it at the top of its summary, the mail at the head of its body.

Three kinds of fact, each ranked within itself:
1. a KPI off target, the furthest from it first (the gap in % of target: 1 - attainment), then the
   largest change vs last month; said with why it moved (why.movement, its inputs' parts);
2. a yearly projection at risk (`unlikely` before `possible`), the furthest from its target first
   (the projected year's gap in % of the year's target); said with what the remaining months need;
3. an unusual month (why.unusual_in: beyond 3 robust z-scores, on the KPI's whole history, not only
   the review's 13 months), the largest |z| first.
The summary takes the best of each kind in that order, then the next best of each, and so on, up to
three sentences, never two about the same KPI: a month with a KPI off target, a year at risk and an
odd month says one of each, rather than three KPIs off target. When nothing qualifies, one sentence
says so, with the counts.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from itertools import zip_longest

from .engine import Notes, Results, Status
from .locale import (
    format_attainment,
    format_number,
    format_value,
    format_values,
    movement_sentence,
    outlook_sentence,
    text,
)
from .months import Month
from .vocabulary import POSSIBLE, UNLIKELY  # not projection.py: numpy is loaded only for a projection
from .why import UNUSUAL_MONTHS, Unusual, histories, history_months, movement, unusual_in

MOST = 3  # sentences


@dataclass(frozen=True)
class Summary:
    sentences: list[str]  # at most MOST, the most important first
    notes: list[str]  # the owners' notes on this month, each headed by its input's label

    @property
    def lines(self) -> list[str]:
        return [*self.sentences, *self.notes]


def unusual_by_kpi(results: Results, month: Month, kpi_ids: Sequence[str]) -> dict[str, list[Unusual]]:
    """The unusual months of each of `kpi_ids`, judged on its whole history up to `month` (none when
    it is too short to tell, and then no KPI's history is evaluated)."""
    months = history_months(results, month)
    if len(months) < UNUSUAL_MONTHS:
        return {}
    history = histories(results, months)
    return {kpi_id: found for kpi_id in kpi_ids if (found := unusual_in(history(kpi_id)))}


def summary(results: Results, month: Month, *, kpi_ids: Collection[str] | None = None,
            notes: Notes | None = None, unusual: Mapping[str, list[Unusual]] | None = None) -> Summary:
    """The summary of `month` for the KPIs `kpi_ids` (default: all), in the config's language;
    `unusual`: unusual_by_kpi's, when the caller has it already."""
    config = results.config
    locale, currency = config.locale, config.currency
    chosen = [r for r in results.kpis if kpi_ids is None or r.kpi.id in kpi_ids]
    off, at_risk, odd_ones = [], [], []  # (sort key, KPI id, sentence)
    if unusual is None:
        unusual = unusual_by_kpi(results, month, [r.kpi.id for r in chosen])
    for result in chosen:
        kpi, row = result.kpi, result.at(month)
        if row is None:
            continue
        if row.status == Status.OFF:
            gap = 1 - row.attainment if row.attainment is not None else math.inf
            moved = movement(results, kpi.id, month)
            value, target = format_values([row.value, row.target], kpi.format, locale, currency, kpi.unit)
            said = text("summary.off", locale, label=kpi.label, value=value, target=target,
                        # a share of the target only when it means one (more than all of it short does not)
                        attainment=text("summary.attainment", locale,
                                        attainment=format_attainment(row.attainment, kpi.tolerance, locale))
                        if row.attainment is not None and row.attainment >= 0 else "")
            if moved is not None:
                said += " " + movement_sentence(moved, kpi, locale, currency, subject=text("summary.it", locale))
            off.append(((-gap, -abs(row.change_mom or 0)), kpi.id, said))
        projection = row.year_end
        if projection is not None and projection.outlook in (UNLIKELY, POSSIBLE) and projection.value is not None \
                and projection.target:
            gap = abs(projection.value - projection.target) / abs(projection.target)
            said = text("summary.projection", locale, label=kpi.label,
                        sentence=outlook_sentence(projection, kpi, locale, currency))
            at_risk.append(((projection.outlook != UNLIKELY, -gap), kpi.id, said))
        odd = next((u for u in unusual.get(kpi.id, []) if u.month == month), None)
        if odd is not None:
            said = text("summary.unusual_high" if odd.z > 0 else "summary.unusual_low", locale, label=kpi.label,
                        value=format_value(odd.value, kpi.format, locale, currency, kpi.unit),
                        by=_deviations(odd.z, locale))
            odd_ones.append(((-abs(odd.z),), kpi.id, said))
    sentences: list[str] = []
    said_about: set[str] = set()
    # round robin over the kinds, each in its own order: the best of each, then the next best…
    for tier in zip_longest(*(sorted(kind, key=lambda fact: fact[0]) for kind in (off, at_risk, odd_ones))):
        for fact in tier:
            if fact is not None and fact[1] not in said_about and len(sentences) < MOST:
                sentences.append(fact[2])
                said_about.add(fact[1])
    if not sentences:
        with_target = [r for result in chosen if (r := result.at(month)) is not None and r.target is not None]
        on = sum(r.status == Status.ON for r in with_target)
        sentences.append(text("summary.calm", locale, on=text("summary.on_one" if on <= 1 else "summary.on_many",
                                                              locale, count=on),
                              watch=sum(r.status == Status.WATCH for r in with_target)))
    return Summary(sentences, _notes(results, [r.kpi.id for r in chosen], month, notes or {}))


def _deviations(z: float, locale: str) -> str:
    """`4,2 écarts robustes `; nothing when z is infinite (the other months explained to the digit)."""
    return "" if math.isinf(z) else text("summary.deviations", locale, z=format_number(abs(z), locale, 1))


def _notes(results: Results, kpi_ids: list[str], month: Month, notes: Notes) -> list[str]:
    """The notes typed on this month's inputs of these KPIs, each once (a note from a workbook made
    before notes were per month, under None, is about every month), in the config's order."""
    config = results.config
    names = {name: None for kpi_id in kpi_ids for name in sorted(config.kpis[kpi_id].formula.names())}
    found = []
    for name in names:
        by_month = notes.get(name)
        note = by_month and (by_month.get(month) or by_month.get(None))
        if note:
            label = config.inputs[name].label if name in config.inputs else name
            found.append(text("summary.labelled", config.locale, label=label, sentence=note))
    return found
