"""`kpireport init`: a working example project (config + sample data) made from the catalog.

Sample data is synthetic but plausible: each input's typical monthly value from the catalog, with a
shared seasonality and trend, a little noise, and daily rows where real tools export daily.
Targets are set just above the recent level so that the example shows on, watch and off KPIs.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import random
import statistics
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import yaml

from .catalog import load_catalog
from .errors import KpiReportError, did_you_mean
from .files import write_text
from .formula import evaluate, parse
from .months import Month, month_range
from .vocabulary import Locale


@dataclass(frozen=True)
class Preset:
    title: dict[str, str]
    kpis: tuple[str, ...]  # catalog ids; empty = the whole catalog
    funnel: tuple[str, ...] = ()
    deals: bool = False  # the CRM's deals come as a row-level export (one row per deal) with measures


PRESETS: dict[str, Preset] = {
    "marketing": Preset(
        {"fr": "Revue mensuelle marketing", "en": "Monthly marketing review"},
        ("email.open_rate", "email.click_rate", "email.unsubscribe_rate", "blog.visits", "blog.leads",
         "social.reach", "social.engagement_rate", "conversion.visitor_to_lead_rate",
         "campaigns.total_leads", "sales_enablement.lead_to_customer_rate"),
    ),
    "sales": Preset(
        {"fr": "Revue mensuelle des ventes", "en": "Monthly sales review"},
        ("sales.revenue", "sales.deals_won", "sales.average_deal_size", "sales.win_rate",
         "sales.sales_cycle_length", "alignment.lead_to_opportunity_ratio",
         "alignment.opportunity_to_customer_ratio", "alignment.pipeline_velocity"),
        ("leads", "opportunities_created", "deals_won"),
        deals=True,
    ),
    "demo": Preset(
        {"fr": "Revue mensuelle marketing & ventes", "en": "Monthly marketing & sales review"},
        ("email.open_rate", "email.click_rate", "website.visits", "website.bounce_rate",
         "marketing.mqls", "marketing.cost_per_lead", "sales.revenue", "sales.win_rate",
         "alignment.pipeline_velocity", "alignment.lead_to_opportunity_ratio"),
        ("leads", "mqls", "opportunities_created", "deals_won"),
    ),
    "full": Preset({"fr": "Tous les indicateurs du catalogue", "en": "Every KPI of the catalog"}, ()),
}

CONFIG_NAME = "kpireport.yaml"
_AMBITION = (0.93, 1.04, 1.18)  # target ÷ recent level: on, watch, off target
MONTHS = 24
# Domains whose tools (CRM, accounting) export one row per month and metric: a long file.
_MONTHLY_DOMAINS = {"sales", "alignment", "finance"}
# The inputs a CRM's export of deals (one row each) gives, by the catalog's measures: `deals` presets
_DEAL_INPUTS = ("deals_won", "deals_lost", "won_deals_value", "sales_cycle_days")
_PEOPLE = ["Claire Martin", "Karim Benali", "Sophie Laurent", "Lucas Moreau", "Emma Petit",
           "Hugo Girard", "Léa Fontaine", "Nathan Roux", "Chloé Lefèvre", "Louis Bernard",
           "Inès Garnier", "Jules Faure", "Manon Chevalier"]


def write_project(directory: Path, preset: str, locale: Locale, *, force: bool = False,
                  last_month: Month | None = None, seed: int = 7) -> list[Path]:
    """Write `kpireport.yaml` and `data/*.csv` into `directory`; returns the files written."""
    if preset not in PRESETS:
        raise KpiReportError(f"unknown preset '{preset}'", key="--preset",
                             hint=did_you_mean(preset, PRESETS) or "presets: " + ", ".join(PRESETS))
    config_path = directory / CONFIG_NAME
    if config_path.exists() and not force:
        raise KpiReportError("a config already exists here", file=str(config_path),
                             hint="choose another folder, or pass --force to overwrite it")
    if last_month is None:
        last_month = Month.of(dt.date.today()) - 1
    project = _Project(PRESETS[preset], locale, last_month, seed)
    files = {
        config_path: project.config_text(),
        directory / "data" / "daily-web-email.csv": project.daily_csv(),
        directory / "data" / "crm-monthly.csv": project.monthly_long_csv(),
        directory / "data" / "deals.csv": project.deals_csv(),
    }
    written = []
    for path, text in files.items():
        if text is None:
            continue
        write_text(path, text)
        written.append(path)
    return written


class _Project:
    def __init__(self, preset: Preset, locale: Locale, last_month: Month, seed: int) -> None:
        self.catalog = load_catalog()
        self.preset = preset
        self.locale = locale
        self.months = month_range(last_month - (MONTHS - 1), last_month)
        self.random = random.Random(seed)
        self.kpi_ids = list(preset.kpis or self.catalog.kpis)
        inputs: dict[str, None] = {}
        for kid in self.kpi_ids:
            for name in sorted(parse(self.catalog.kpis[kid].formula).names()):
                inputs[name] = None
        for stage in preset.funnel:
            inputs[stage] = None
        self.inputs = list(inputs)
        self.local_ids = self._local_ids()
        self.values = self._monthly_values()
        self.from_deals = [n for n in _DEAL_INPUTS if n in self.inputs] if preset.deals else []

    def _local_ids(self) -> dict[str, str]:
        """Each KPI's short name (blog.visits → visits), unless two KPIs share it or it names an
        input that the KPI does not just show (blog.leads counts blog leads: `leads` is all leads)."""
        short = [kid.split(".", 1)[1] for kid in self.kpi_ids]

        def clear(kid: str, name: str) -> bool:
            shows_the_input = self.catalog.kpis[kid].formula.strip() == name
            return short.count(name) == 1 and (name not in self.inputs or shows_the_input)

        return {kid: (name if clear(kid, name) else kid.replace(".", "_"))
                for kid, name in zip(self.kpi_ids, short, strict=True)}

    def _monthly_values(self) -> dict[str, dict[Month, float]]:
        """Typical value × shared season and trend × a little noise of its own."""
        shared = {m: (1 + 0.08 * math.sin(2 * math.pi * (m.month - 3) / 12)) * (1 + 0.012 * i)
                  * self.random.uniform(0.96, 1.04) for i, m in enumerate(self.months)}
        values: dict[str, dict[Month, float]] = {}
        for name in self.inputs:
            spec = self.catalog.inputs[name]
            typical = spec.example if spec.example is not None else 100.0
            series = {}
            for i, month in enumerate(self.months):
                if spec.aggregate == "last" and spec.format == "number":  # a stock grows steadily
                    value = typical * (1 + 0.015 * i) * self.random.uniform(0.995, 1.005)
                elif spec.format in ("percent", "duration") or spec.aggregate == "mean":
                    value = typical * self.random.uniform(0.93, 1.07)
                else:
                    value = typical * shared[month] * self.random.uniform(0.985, 1.015)
                series[month] = _rounded(value, spec.format, spec.aggregate)
            values[name] = series
        return values

    def _is_monthly(self, name: str) -> bool:
        """Inputs only CRM-side KPIs use (or only the funnel) come from the monthly CRM export (but
        those the deals export gives)."""
        if name in self.from_deals:
            return False
        domains = {self.catalog.domain_of(kid) for kid in self.kpi_ids
                   if name in parse(self.catalog.kpis[kid].formula).names()}
        return domains <= _MONTHLY_DOMAINS

    def config_text(self) -> str:
        loc = self.locale
        domains = list(dict.fromkeys(self.catalog.domain_of(kid) for kid in self.kpi_ids))
        owners = {}
        for index, domain in enumerate(domains):
            name = _PEOPLE[index % len(_PEOPLE)]
            owners[domain] = {"name": name, "email": _ascii_lower(name.replace(" ", ".")) + "@example.com",
                              "role": self.catalog.domains[domain](loc)}
        targets = self._targets()
        kpis = {}
        for kid in self.kpi_ids:
            entry = {"use": kid, "target": targets[kid], "owner": self.catalog.domain_of(kid)}
            kpis[self.local_ids[kid]] = entry
        sources = []
        if any(not self._is_monthly(name) and name not in self.from_deals for name in self.inputs):
            sources.append({"path": "data/daily-web-email.csv", "layout": "wide", "date": "date"})
        if self.from_deals:
            sources.append({"path": "data/deals.csv", "layout": "rows",
                            "measures": {name: self.catalog.inputs[name].measure for name in self.from_deals}})
        if any(self._is_monthly(name) for name in self.inputs):
            sources.append({"path": "data/crm-monthly.csv", "layout": "long", "date": "month",
                            "name": "metric", "value": "value"})
        header = _HEADER[loc].format(count=len(kpis))
        body = {"title": self.preset.title[loc], "locale": loc, "currency": "EUR"}
        parts = [header, _dump(body), "owners:\n" + _flow_items(owners), "kpis:\n" + _flow_items(kpis)]
        if self.preset.funnel:
            last = self.values[self.preset.funnel[-1]]
            goal = statistics.median(last[m] for m in self.months[-12:]) * 1.1
            funnel = {"stages": list(self.preset.funnel), "target": int(float(f"{goal:.2g}"))}
            parts.append(f"funnel: {_flow(funnel)}")
        parts.append("sources:\n" + "".join(_source_text(s) for s in sources))
        parts.append(_SMTP[loc])
        return "\n".join(part.rstrip("\n") + "\n" for part in parts)

    def _targets(self) -> dict[str, float | int]:
        """Around the median of the last 12 months, more or less ambitious in turn, so that the
        example shows KPIs on target, to watch and off target."""
        recent = self.months[-12:]
        targets = {}
        for index, kid in enumerate(self.kpi_ids):
            kpi = self.catalog.kpis[kid]
            tree = parse(kpi.formula).tree
            values = [evaluate(tree, m, lambda name, mm: self.values[name.name].get(mm)) for m in recent]
            present = [v for v in values if v is not None]
            level = statistics.median(present) if present else 1.0
            ambition = _AMBITION[index % len(_AMBITION)]
            goal = level * (ambition if kpi.direction == "up" else 1 / ambition)
            rounded = float(f"{goal:.2g}")  # a round figure, as people set targets
            targets[kid] = int(rounded) if rounded.is_integer() else rounded
        return targets

    def daily_csv(self) -> str | None:
        names = [n for n in self.inputs if not self._is_monthly(n) and n not in self.from_deals]
        if not names:
            return None
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["date", *names])
        per_day = {name: self._daily(name) for name in names}
        for month in self.months:
            for day in range(_days_in(month)):
                date = month.first_day + dt.timedelta(days=day)
                writer.writerow([date.isoformat(), *(per_day[n][month][day] for n in names)])
        return buffer.getvalue()

    def _daily(self, name: str) -> dict[Month, list[str]]:
        """Split each month into days so that the month's aggregate gives back its value exactly."""
        spec = self.catalog.inputs[name]
        out = {}
        for month, value in self.values[name].items():
            days = _days_in(month)
            if spec.aggregate in ("sum", "count"):
                out[month] = _split(value, days, spec.format, self.random)
            else:  # mean, last, min, max: the same value every day keeps the aggregate exact
                out[month] = [_text(value)] * days
        return out

    def deals_csv(self) -> str | None:
        """One row per deal closed, as a CRM exports them: each month's deals won and lost, the won
        ones' amounts adding up to the month's value and their days from creation to signature
        averaging its sales cycle, exactly."""
        if not self.from_deals:
            return None
        deals = []
        for month in self.months:
            won = int(self.values["deals_won"][month])
            amounts = (_split(self.values["won_deals_value"][month], won, "currency", self.random)
                       if "won_deals_value" in self.values else [str(self.random.randrange(2, 40) * 500)] * won)
            cycle = self.values.get("sales_cycle_days", {}).get(month, 60.0)
            cycles = _split(round(cycle * won), won, "number", self.random)
            lost = int(self.values.get("deals_lost", {}).get(month, 0))
            for stage, amount, days in ([("won", a, int(c)) for a, c in zip(amounts, cycles, strict=True)]
                                        + [("lost", str(self.random.randrange(2, 40) * 500),
                                            self.random.randrange(5, 90)) for _ in range(lost)]):
                closed = month.first_day + dt.timedelta(days=self.random.randrange(_days_in(month)))
                deals.append((closed - dt.timedelta(days=days), closed, stage, amount))
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["deal_id", "company_id", "created_at", "closed_at", "stage", "amount"])
        for number, (created, closed, stage, amount) in enumerate(sorted(deals), start=1):
            writer.writerow([number, f"C{self.random.randrange(1, 400):04d}", created.isoformat(), closed.isoformat(),
                             stage, amount])
        return buffer.getvalue()

    def monthly_long_csv(self) -> str | None:
        names = [n for n in self.inputs if self._is_monthly(n)]
        if not names:
            return None
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["month", "metric", "value"])
        for month in self.months:
            for name in names:
                writer.writerow([str(month), name, _text(self.values[name][month])])
        return buffer.getvalue()


_SMTP = {
    "fr": "# `kpireport send` : le serveur d'envoi. Identifiant et mot de passe dans les variables\n"
          "# d'environnement KPIREPORT_SMTP_USER et KPIREPORT_SMTP_PASSWORD, jamais ici.\n"
          'smtp: {host: smtp.example.com, port: 587, security: starttls, from: "Revue KPI <kpi@example.com>"}\n',
    "en": "# `kpireport send`: the outgoing mail server. Login and password go in the environment\n"
          "# variables KPIREPORT_SMTP_USER and KPIREPORT_SMTP_PASSWORD, never here.\n"
          'smtp: {host: smtp.example.com, port: 587, security: starttls, from: "KPI review <kpi@example.com>"}\n',
}


def _ascii_lower(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _rounded(value: float, fmt: str, aggregate: str) -> float:
    if fmt == "number" and aggregate in ("sum", "count"):  # a count of deals or visits is whole
        return float(max(1, round(value)))
    if fmt == "percent":
        return round(value, 4)
    if fmt == "currency":
        return round(value, 2)
    if fmt == "duration":
        return float(round(value))
    return float(round(value)) if abs(value) >= 20 else round(value, 1)


def _days_in(month: Month) -> int:
    return ((month + 1).first_day - month.first_day).days


def _split(value: float, days: int, fmt: str, rng: random.Random) -> list[str]:
    """`value` as `days` parts that add up to it exactly (in cents for money, units for counts)."""
    scale = 100 if fmt == "currency" or not float(value).is_integer() else 1
    units = round(value * scale)
    weights = [rng.uniform(0.7, 1.3) for _ in range(days)]
    total = sum(weights)
    parts = [math.floor(units * w / total) for w in weights]
    by_remainder = sorted(range(days), key=lambda i: parts[i] - units * weights[i] / total)
    for index in by_remainder[:units - sum(parts)]:  # largest remainders get the units left over
        parts[index] += 1
    return [_text(p / scale) if scale > 1 else str(p) for p in parts]


def _text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.10g}"


def _dump(data: dict) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=False, width=200)


def _flow(data: dict | list) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=True,
                          width=10_000).strip()


def _source_text(source: dict) -> str:
    """A source on one line; one with measures as a block, a measure a line (people edit them)."""
    if "measures" not in source:
        return f"  - {_flow(source)}\n"
    keys = "".join(f"    {key}: {value}\n" for key, value in source.items() if key != "measures")
    return f"  - {keys[4:]}    measures:\n" + "".join(f"      {name}: {_flow(measure)}\n"
                                                     for name, measure in source["measures"].items())


def _flow_items(items: dict[str, dict]) -> str:
    return "".join(f"  {key}: {_flow(value)}\n" for key, value in items.items())


_HEADER = {
    "fr": "# Config kpireport écrite par `kpireport init` ({count} KPI). Modifiez-la librement :\n"
          "# chaque KPI reprend le catalogue (`use:`, voir `kpireport catalog`) ; toute clé le remplace.\n"
          "# Les cibles sont un exemple : mettez les vôtres.",
    "en": "# kpireport config written by `kpireport init` ({count} KPIs). Edit it freely:\n"
          "# each KPI comes from the catalog (`use:`, see `kpireport catalog`); any key overrides it.\n"
          "# The targets are an example: set your own.",
}
