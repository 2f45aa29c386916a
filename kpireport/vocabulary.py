"""The words a config and the catalog share: allowed values of formats, directions, aggregates…"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Locale = Literal["fr", "en"]
LOCALES: tuple[Locale, ...] = ("fr", "en")
Aggregate = Literal["sum", "mean", "last", "min", "max", "count"]
Format = Literal["number", "percent", "currency", "duration"]
Direction = Literal["up", "down"]
KpiType = Literal["activity", "efficiency", "outcome", "qualitative"]
Frequency = Literal["weekly", "monthly", "quarterly"]
# where a yearly projection lands against its target (projection.py), as compute writes it
LIKELY, POSSIBLE, UNLIKELY = "likely", "possible", "unlikely"


class Strict(BaseModel):
    """A schema node that refuses unknown keys (so typos are caught, not ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # .inf is no target


class Text(Strict):
    """A text in both product locales."""

    fr: str
    en: str

    def __call__(self, locale: Locale) -> str:
        return self.fr if locale == "fr" else self.en
