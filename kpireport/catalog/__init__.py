"""The built-in KPI library: data files (fr/en) drawn from the seed articles, and their loader."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from pydantic import ValidationError, field_validator

from ..errors import ConfigError
from ..vocabulary import Aggregate, Direction, Format, Frequency, KpiType, Strict, Text
from ..yamlfile import load_yaml, schema_errors


class CatalogInput(Strict):
    label: Text
    description: Text | None = None
    aggregate: Aggregate = "sum"
    format: Format = "number"
    example: float | None = None  # a typical monthly value, for `kpireport init`'s sample data


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


class DomainFile(Strict):
    domain: str
    label: Text
    kpis: dict[str, CatalogKpi]


@dataclass(frozen=True)
class Catalog:
    inputs: dict[str, CatalogInput]
    kpis: dict[str, CatalogKpi]  # keyed by "domain.kpi"
    domains: dict[str, Text]

    def domain_of(self, kpi_id: str) -> str:
        return kpi_id.split(".", 1)[0]


def _validated(model: type[Strict], path: Path) -> Strict:
    data, lines = load_yaml(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise schema_errors(exc, model, str(path), lines) from None


@cache
def load_catalog() -> Catalog:
    """The catalog shipped inside the package (read once per process)."""
    root = Path(str(resources.files(__package__)))
    data, lines = load_yaml(root / "inputs.yaml")
    inputs: dict[str, CatalogInput] = {}
    for input_id, spec in (data or {}).items():
        try:
            inputs[input_id] = CatalogInput.model_validate(spec)
        except ValidationError as exc:
            raise schema_errors(exc, CatalogInput, str(root / "inputs.yaml"), lines) from None
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
    return Catalog(inputs, kpis, domains)
