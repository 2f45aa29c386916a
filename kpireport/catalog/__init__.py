"""The built-in KPI library: data files (fr/en) drawn from the seed articles, and their loader."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import ValidationError, field_validator

from ..errors import ConfigError
from ..vocabulary import Aggregate, Direction, Format, Frequency, KpiType, Locale, Strict, Text
from ..yamlfile import load_yaml, schema_errors

_Entry = TypeVar("_Entry", bound=Strict)


class CatalogInput(Strict):
    label: Text
    description: Text | None = None
    aggregate: Aggregate = "sum"
    format: Format = "number"
    example: float | None = None  # a typical monthly value, for `kpireport init`'s sample data
    # how the input is made from an export of rows (one per deal, or per customer), as written under a
    # source's `measures:`; the export's columns are named in `rows_of`
    measure: dict[str, Any] | None = None
    rows_of: Literal["deals", "customers"] | None = None


class Benchmark(Strict):
    low: float | None = None
    high: float | None = None
    note: Text


class CatalogKpi(Strict):
    label: Text
    definition: Text
    formula: str
    format: Format
    direction: Direction
    type: KpiType
    owner_role: Text
    frequency: Frequency = "monthly"
    unit: Text | None = None
    benchmark: Benchmark | None = None
    sources: list[str] = []

    @field_validator("sources", mode="before")
    @classmethod
    def _source_numbers(cls, value: list[object]) -> list[str]:
        return [f"{item:03d}" if isinstance(item, int) else str(item) for item in value]


class Article(Strict):
    """A seed article, as a KPI's `sources` name it (articles.yaml)."""

    publisher: Text | str
    title: Text

    def cited(self, locale: Locale) -> str:
        publisher = self.publisher if isinstance(self.publisher, str) else self.publisher(locale)
        return f"{publisher}, {self.title(locale)}"


class DomainFile(Strict):
    domain: str
    label: Text
    kpis: dict[str, CatalogKpi]


@dataclass(frozen=True)
class Catalog:
    inputs: dict[str, CatalogInput]
    kpis: dict[str, CatalogKpi]  # keyed by "domain.kpi"
    domains: dict[str, Text]
    articles: dict[str, Article]  # seed number ("000") -> the article

    def domain_of(self, kpi_id: str) -> str:
        return kpi_id.split(".", 1)[0]


def _validated(model: type[Strict], path: Path) -> Strict:
    data, lines = load_yaml(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise schema_errors(exc, model, str(path), lines) from None


def _entries(model: type[_Entry], path: Path) -> dict[str, _Entry]:
    """A file of id -> entry, each entry checked against `model`."""
    data, lines = load_yaml(path)
    entries: dict[str, _Entry] = {}
    for key, spec in (data or {}).items():
        try:
            entries[str(key)] = model.model_validate(spec)
        except ValidationError as exc:
            raise schema_errors(exc, model, str(path), lines) from None
    return entries


@cache
def load_catalog() -> Catalog:
    """The catalog shipped inside the package (read once per process)."""
    root = Path(str(resources.files(__package__)))
    inputs = _entries(CatalogInput, root / "inputs.yaml")
    kpis: dict[str, CatalogKpi] = {}
    domains: dict[str, Text] = {}
    for path in sorted((root / "kpis").glob("*.yaml")):
        domain = _validated(DomainFile, path)
        assert isinstance(domain, DomainFile)
        if domain.domain in domains:
            raise ConfigError(f"domain '{domain.domain}' is defined twice", file=str(path))
        domains[domain.domain] = domain.label
        for kpi_id, kpi in domain.kpis.items():
            kpis[f"{domain.domain}.{kpi_id}"] = kpi
    return Catalog(inputs, kpis, domains, _entries(Article, root / "articles.yaml"))
