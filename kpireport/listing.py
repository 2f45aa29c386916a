"""`kpireport catalog`: the built-in KPIs as a table for people or JSON for tools."""

from __future__ import annotations

import json

import yaml

from .catalog import load_catalog
from .errors import KpiReportError, did_you_mean
from .locale import text
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
        for name in sorted(_names(kpi.formula)):  # what to write under a rows source's `measures:`
            spec = catalog.inputs.get(name)
            if spec is not None and spec.measure is not None:
                flow = yaml.safe_dump(spec.measure, default_flow_style=True, sort_keys=False, width=10_000).strip()
                said = text("catalog.rows", locale, kind=text(f"catalog.rows.{spec.rows_of}", locale))
                lines.append(f"  {'':<{width}}    {said} {name}: {flow}")
    lines.append(f"\n{len(kpis)} KPIs. Use one in a config with `use: <id>`; ↑ higher is better, ↓ lower. "
                 "An input made from an export of rows shows its line for the source's `measures:`.")
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
