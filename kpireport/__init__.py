"""kpireport: track marketing and sales KPIs every month — config, Excel template, PDF review, e-mail.

The public API is importable from here; modules load on first use so the CLI starts fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "ConfigError", "DataError", "FormulaError", "KpiReportError", "Month", "Projector", "compute",
    "load_catalog", "load_config", "load_data", "movement", "movement_sentence", "outlook_sentence",
    "parse_formula", "unusual_months",
]

_WHERE = {
    "ConfigError": ("errors", "ConfigError"),
    "DataError": ("errors", "DataError"),
    "FormulaError": ("errors", "FormulaError"),
    "KpiReportError": ("errors", "KpiReportError"),
    "Month": ("months", "Month"),
    "compute": ("engine", "compute"),
    "load_catalog": ("catalog", "load_catalog"),
    "load_config": ("config", "load_config"),
    "load_data": ("sources", "load_data"),
    "parse_formula": ("formula", "parse"),
    "movement": ("why", "movement"),
    "movement_sentence": ("locale", "movement_sentence"),
    "outlook_sentence": ("locale", "outlook_sentence"),
    "unusual_months": ("why", "unusual_months"),
    "Projector": ("projection", "Projector"),
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'kpireport' has no attribute '{name}'")
    module, attribute = _WHERE[name]
    return getattr(importlib.import_module(f".{module}", __name__), attribute)
