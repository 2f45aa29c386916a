"""`kpireport catalog`: the built-in KPIs as a table for people or JSON for tools."""

from __future__ import annotations

import json

from .catalog import load_catalog
from .errors import KpiReportError, did_you_mean
from .vocabulary import Locale


def _selected(domain: str | None) -> dict:
    catalog = load_catalog()
    if domain is not None and domain not in catalog.domains:
        raise KpiReportError(f"unknown domain '{domain}'", key="--domain",
                             hint=did_you_mean(domain, catalog.domains)
                             or "domains: " + ", ".join(sorted(catalog.domains)))
    return {kid: kpi for kid, kpi in catalog.kpis.items()
            if domain is None or catalog.domain_of(kid) == domain}


def catalog_table(domain: str | None, locale: Locale) -> str:
    catalog = load_catalog()
    lines = []
    current = None
    kpis = _selected(domain)
    width = max(len(kid) for kid in kpis)
    for kid, kpi in kpis.items():
        kpi_domain = catalog.domain_of(kid)
        if kpi_domain != current:
            current = kpi_domain
            heading = f"{catalog.domains[kpi_domain](locale)} ({kpi_domain})"
            lines.append(f"\n{heading}" if lines else heading)
        arrow = "↑" if kpi.direction == "up" else "↓"
        lines.append(f"  {kid:<{width}}  {arrow} {kpi.label(locale)} [{kpi.format}]  = {kpi.formula}")
    lines.append(f"\n{len(kpis)} KPIs. Use one in a config with `use: <id>`; ↑ higher is better, ↓ lower.")
    return "\n".join(lines)


def catalog_json(domain: str | None, locale: Locale) -> str:
    catalog = load_catalog()
    entries = []
    for kid, kpi in _selected(domain).items():
        entry = kpi.model_dump(mode="json")
        entry = {"id": kid, "domain": catalog.domain_of(kid), **entry}
        entry["inputs"] = {name: catalog.inputs[name].model_dump(mode="json")
                           for name in sorted(_names(kpi.formula)) if name in catalog.inputs}
        entries.append(entry)
    return json.dumps({"locale": locale, "kpis": entries}, ensure_ascii=False, indent=2)


def _names(formula: str) -> set[str]:
    from .formula import parse

    return parse(formula).names()
