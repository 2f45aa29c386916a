"""The KPI config: its YAML schema, `use:` resolved from the catalog, and every check with its key path."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from email.utils import getaddresses, parseaddr
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from .catalog import Benchmark, load_catalog
from .collector import collector_paused
from .database import DatabaseUrl, parse_url
from .errors import ConfigError, FormulaError, clipped, did_you_mean
from .formula import (
    MAX_COST,
    MAX_DEPTH,
    Call,
    Formula,
    Name,
    cost,
    depth,
    lookback,
    parse,
    to_excel,
    transform,
    walk,
)
from .measures import (
    COMPARISONS,
    INPUT_AGGREGATES,
    SNAPSHOT_AGGREGATES,
    Measure,
    MeasureAggregate,
    Snapshot,
    conditions,
    parse_value,
)
from .months import Month
from .targets import PeriodTarget, is_sum_like
from .vocabulary import Aggregate, Direction, Format, Frequency, KpiType, Locale, Strict
from .yamlfile import KeyPath, line_of, load_yaml, schema_errors

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
# An id becomes part of the workbook's defined names (`wrote_target_<kpi>` is the longest), and Excel
# refuses a name over 255 characters; 64 leaves room to spare and is long enough for any real id.
MAX_ID_CHARS = 64
EXCEL_NESTING = 64  # Excel refuses a formula nesting functions (or brackets) more than 64 levels deep
# no spaces, quotes, brackets or separators: an address goes into headers and the SMTP envelope as is
_EMAIL = re.compile(r'^[^@\s<>()\[\],;:"\\]+@[^@\s<>()\[\],;:"\\]+\.[^@\s<>()\[\],;:"\\]+$')
# what str.splitlines (and so a mail header) takes for the end of a line
_LINE_BREAK = re.compile("[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
# a value that does not parse as an expression may still be a column's name ("Amount (EUR)"): not
# when it holds an operator between names, which is a mistyped expression
_COLUMN_NAME = re.compile(r"^[^+*/]*$")


def is_address(value: str) -> bool:
    """A bare e-mail address that can go into a header and the SMTP envelope unchanged."""
    return bool(_EMAIL.match(value))


def _one_line(value: str | None) -> str | None:
    """Text that goes into a mail header (names, subjects, addresses) holds no line break: a CR or LF
    there could start a header of the sender's choosing (Bcc: …)."""
    if value is not None and _LINE_BREAK.search(value):
        raise ValueError("a line break is not allowed here (it would end up in an e-mail header)")
    return value
# The documents advise 5 to 10 KPIs in all and at most 3 per objective, owner or domain.
MAX_KPIS = 10
MAX_KPIS_PER_GROUP = 3

# --- the file's schema ------------------------------------------------------------------------


def _address_only(value: str) -> str:
    """An address that goes into the To: or Cc: header and the envelope as it is."""
    _one_line(value)
    if not _EMAIL.match(value):
        raise ValueError(f"'{clipped(value)}' is not an e-mail address")
    return value


class ReaderSpec(Strict):
    """Someone who receives the whole review at every `send` (a director, a list)."""

    email: str
    name: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _written_as_text(cls, value: Any) -> Any:
        """`Dana Leroy <dana@example.com>` or a bare address, as a mail program writes them."""
        if isinstance(value, str):
            name, address = parseaddr(value)
            return {"email": address or value, **({"name": name} if name else {})}
        return value

    _checked_email = field_validator("email")(classmethod(lambda cls, value: _address_only(value)))
    _checked_name = field_validator("name")(classmethod(lambda cls, value: _one_line(value)))


class OwnerSpec(Strict):
    name: str
    email: str | None = None
    role: str | None = None
    cc: list[str] = []  # copies of this owner's own review (an assistant, a deputy)

    @field_validator("cc")
    @classmethod
    def _cc(cls, value: list[str]) -> list[str]:
        return [_address_only(address) for address in value]

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _one_line(value)  # type: ignore[return-value]  # quoted or encoded whole in the To: header

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        _one_line(value)
        if value is not None and not _EMAIL.match(value):
            raise ValueError(f"'{clipped(value)}' is not an e-mail address")
        return value


class InputSpec(Strict):
    label: str | None = None
    aggregate: Aggregate = "sum"
    format: Format = "number"
    description: str | None = None


TargetSpec = float | dict[str, float]
# a KPI's target may also be yearly or quarterly: {year: 4200000, split: seasonal}, {quarter: {2026-Q1: …}}
KpiTargetSpec = float | dict[str, Any]  # checked by _Resolver.kpi_target, key by key
PERIODS = ("year", "quarter")
SPLITS = ("seasonal", "even")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


class KpiSpec(Strict):
    use: str | None = None
    label: str | None = None
    formula: str | None = None
    format: Format | None = None
    direction: Direction | None = None
    target: KpiTargetSpec | None = None
    tolerance: Annotated[float, Field(ge=0, le=1)] | None = None
    owner: str | None = None
    domain: str | None = None
    type: KpiType | None = None
    definition: str | None = None
    frequency: Frequency | None = None
    unit: str | None = None

    @field_validator("target", mode="before")
    @classmethod
    def _month_keys_as_text(cls, value: Any) -> Any:
        # YAML reads `2026-01-01:` as a date and `202601:` as a number: compare them as text (and the
        # years of `year: {2026: …}` too)
        if isinstance(value, dict):
            return {_key_text(k): ({_key_text(y): v for y, v in v.items()} if isinstance(v, dict) else v)
                    for k, v in value.items()}
        return value


def _key_text(key: Any) -> str:
    return key.strftime("%Y-%m") if isinstance(key, dt.date) else str(key)


FilterValue = bool | float | str | dt.date


class SnapshotSpec(Strict):
    start: str  # the column of the date a row opens
    end: str  # the column of the date it closes (empty while open)


class MeasureSpec(Strict):
    """How rows make an input's monthly value (see measures.py)."""

    date: str | None = None
    value: str | None = None
    aggregate: MeasureAggregate | None = None  # default: count without a value, else the input's aggregate
    filter: dict[str, FilterValue | list[FilterValue] | dict[str, Any]] = {}
    snapshot: SnapshotSpec | None = None

    @field_validator("value", mode="before")
    @classmethod
    def _value_as_text(cls, value: Any) -> Any:
        return value if value is None or isinstance(value, str) else str(value)

    @model_validator(mode="after")
    def _month_from_one_place(self) -> MeasureSpec:
        if (self.date is None) == (self.snapshot is None):
            raise ValueError("give 'date' (the column whose month a row counts in) or 'snapshot' "
                             "({start, end}: the rows open at each month's end), one of them")
        return self

    @field_validator("filter")
    @classmethod
    def _comparisons(cls, filters: dict[str, Any]) -> dict[str, Any]:
        for column, written in filters.items():
            if not isinstance(written, dict):
                continue
            for op, value in written.items():
                if op not in COMPARISONS:
                    raise ValueError(f"'{column}': unknown comparison '{op}' ({did_you_mean(op, COMPARISONS) or ''}"
                                     f"comparisons: {', '.join(COMPARISONS)})")
                if op in ("in", "not_in") and not isinstance(value, list):
                    raise ValueError(f"'{column}': '{op}' takes a list, e.g. {op}: [won, lost]")
                if op == "empty" and not isinstance(value, bool):
                    raise ValueError(f"'{column}': 'empty' takes true or false")
                if op in ("gt", "ge", "lt", "le") and (isinstance(value, bool)
                                                       or not isinstance(value, int | float | dt.date)):
                    raise ValueError(f"'{column}': '{op}' compares with a number or a date (YYYY-MM-DD), "
                                     f"not {value!r}")
        return filters


class SparkSpec(Strict):
    # sc://host:15002 (a Spark Connect server); absent: SPARK_REMOTE from the environment, else local[*]
    remote: str | None = None

    @field_validator("remote")
    @classmethod
    def _connect_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("sc://"):
            raise ValueError(f"'{clipped(value)}' is not a Spark Connect URL: write sc://host:15002")
        return value


def time_zone_named(name: str) -> str:
    """An IANA time zone's name as the zone database writes it; ValueError for anything else."""
    import zoneinfo

    try:  # the usual case, without listing every zone (20 ms a config)
        zoneinfo.ZoneInfo(name)
        return name
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        pass
    zones = zoneinfo.available_timezones()
    folded, written = {zone.lower(): zone for zone in zones}, name.strip().lower().replace(" ", "_")
    if written in folded:
        return folded[written]
    # "Paris" for Europe/Paris: a city alone is how people name a zone
    close = did_you_mean(name, zones) or next((f"did you mean '{zone}'?" for zone in sorted(zones)
                                               if zone.lower().endswith("/" + written)), None)
    raise ValueError(f"'{clipped(name)}' is not a time zone: "
                     + (close or "give its IANA name, e.g. Europe/Paris, America/New_York or UTC"))


class SourceSpec(Strict):
    path: str | None = None
    # where a rows layout's measures run: polars here (the default), or a Spark cluster that reads `path`
    engine: Literal["polars", "spark"] = "polars"
    spark: SparkSpec | None = None
    database: str | None = None  # postgresql://…, duckdb:///file.duckdb; ${NAME} read from the environment
    table: str | None = None  # a database's table (schema.table), or:
    query: str | None = None  # a query whose rows the measures read
    layout: Literal["wide", "long", "template", "rows"] = "wide"
    date: str = "date"
    name: str | None = None
    value: str | None = None
    columns: dict[str, str] = {}
    filter: dict[str, str | float | list[str | float]] = {}
    sheet: str | None = None
    date_format: str | None = None  # strftime style, e.g. "%m/%d/%Y": how the date column is written
    time_zone: str | None = None  # whose months a time with a zone counts in (IANA name); None: UTC or as written

    @field_validator("time_zone")
    @classmethod
    def _time_zone(cls, value: str | None) -> str | None:
        return None if value is None else time_zone_named(value)

    @field_validator("date_format")
    @classmethod
    def _date_format(cls, value: str | None) -> str | None:
        from .cells import format_problem  # polars: loaded only for a config that has a date_format

        problem = None if value is None else format_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    measures: dict[str, MeasureSpec] = {}

    @model_validator(mode="before")
    @classmethod
    def _database_holds_rows(cls, data: Any) -> Any:
        if isinstance(data, dict) and "database" in data and "layout" not in data:
            return {**data, "layout": "rows"}  # measures make a database's inputs: no other layout
        return data

    @model_validator(mode="after")
    def _long_needs_columns(self) -> SourceSpec:
        if (self.path is None) == (self.database is None):
            raise ValueError("give 'path' (a data file) or 'database' (a database URL), one of them")
        if self.database is not None:
            if self.layout != "rows" or (self.table is None) == (self.query is None):
                raise ValueError("a database source has 'measures:' and either 'table' (schema.table) or 'query' "
                                 "(a select), one of them")
        elif self.table is not None or self.query is not None:
            raise ValueError("'table' and 'query' go with 'database', not with a file's 'path'")
        if self.engine == "spark" and (self.path is None or self.layout != "rows"):
            raise ValueError("'engine: spark' runs measures over a file's rows: give 'path' (a Parquet or CSV file, "
                             "or a glob) with 'layout: rows' and 'measures:'")
        if self.engine == "spark" and (self.sheet or self.date_format):
            raise ValueError("Spark reads Parquet and CSV files, dates as YYYY-MM-DD: no 'sheet' or 'date_format' "
                             "with 'engine: spark' (write the file as Parquet with date columns)")
        if self.spark is not None and self.engine != "spark":
            raise ValueError("'spark:' goes with 'engine: spark'")
        if self.layout == "long" and not (self.name and self.value):
            raise ValueError("a long layout needs 'name' (the column naming the input) and 'value'")
        if (self.layout == "rows") != bool(self.measures):
            raise ValueError("a rows layout (one row per deal, order…) needs 'measures:' (input: how its monthly "
                             "value is made from the rows), and only it has them")
        return self


class FunnelSpec(Strict):
    stages: Annotated[list[str], Field(min_length=2)]
    target: TargetSpec | None = None  # the last stage's target: the review works back to the leads it needs

    @field_validator("target", mode="before")
    @classmethod
    def _month_keys_as_text(cls, value: Any) -> Any:
        return KpiSpec._month_keys_as_text(value)


class ReviewSpec(Strict):
    logo: str | None = None  # an image file, relative to the config
    colour: Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$")] = "#1F4E78"
    sections: Literal["domain", "owner"] = "domain"  # one section per domain, or per owner


class SmtpSpec(Strict):
    """Where `send` delivers. The user name and password come only from the environment
    (KPIREPORT_SMTP_USER, KPIREPORT_SMTP_PASSWORD), never from this file."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    host: str
    port: Annotated[int, Field(ge=1, le=65535)] | None = None  # default: 587 (starttls), 465 (ssl), 25 (none)
    security: Literal["starttls", "ssl", "none"] = "starttls"  # plain text only when written explicitly
    sender: Annotated[str, Field(alias="from")]
    reply_to: str | None = None
    timeout: Annotated[float, Field(gt=0, le=3600)] = 30  # seconds: the longest wait for any reply

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return _one_line(value)  # type: ignore[return-value]

    @field_validator("sender", "reply_to")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        _one_line(value)
        if value is not None and len(getaddresses([value])) != 1:
            raise ValueError(f"'{value}' is not one e-mail address (e.g. reviews@example.com or "
                             "'KPI <reviews@example.com>')")
        if value is not None and not _EMAIL.match(parseaddr(value)[1]):
            raise ValueError(f"'{clipped(value)}' is not an e-mail address (e.g. reviews@example.com or "
                             "'KPI <reviews@example.com>')")
        return value


class TemplateSpec(Strict):
    charts: list[str] = []  # the KPIs charted on the dashboard (default: the first 24)


class ConfigSpec(Strict):
    title: str
    company: str | None = None
    output: str | None = None  # where `send` writes its PDFs and send log; relative to the config (default output/)
    locale: Locale = "fr"
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "EUR"
    owners: dict[str, OwnerSpec] = {}
    recipients: list[ReaderSpec] = []  # the whole review to each at every send, besides the owners
    inputs: dict[str, InputSpec] = {}
    kpis: Annotated[dict[str, KpiSpec], Field(min_length=1)]
    funnel: list[str] | FunnelSpec = []
    sources: list[SourceSpec] = []
    template: TemplateSpec = TemplateSpec()
    review: ReviewSpec = ReviewSpec()
    smtp: SmtpSpec | None = None

    _one_line_text = field_validator("title", "company")(classmethod(lambda cls, value: _one_line(value)))


# --- the resolved config that the rest of the product reads ----------------------------------------


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    security: str  # starttls | ssl | none
    sender: str
    reply_to: str | None
    timeout: float = 30  # seconds


@dataclass(frozen=True)
class Owner:
    id: str
    name: str
    email: str | None
    role: str | None
    cc: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reader:
    """A recipient of the whole review (`recipients:`)."""

    name: str
    email: str


@dataclass(frozen=True)
class Input:
    id: str
    label: str
    aggregate: Aggregate
    format: Format
    description: str | None = None


@dataclass(frozen=True)
class Target:
    """A constant target, or one per month (a month not listed has no target unless `default`), or
    one per year or quarter (`period`), which the engine splits into months (see targets.py); a
    month in `by_month` (typed in the workbook) then overrides its share."""

    default: float | None = None
    by_month: dict[Month, float | None] = field(default_factory=dict)  # None: no target that month
    period: PeriodTarget | None = None

    def for_month(self, month: Month) -> float | None:
        return self.by_month.get(month, self.default)


@dataclass(frozen=True)
class Kpi:
    id: str
    label: str
    formula: Formula
    format: Format
    direction: Direction
    target: Target
    tolerance: float
    owner: str | None
    domain: str
    type: KpiType | None
    definition: str | None
    frequency: Frequency
    unit: str | None
    benchmark: Benchmark | None
    catalog_id: str | None


SPARK_FORMATS = (".parquet", ".csv")
# The keys of a source that only some kinds of source read, by kind: any other one written would be
# silently ignored (a rename under a rows source's `columns:` that renames nothing), so it is refused.
_TABLE_KEYS = ("date", "columns", "filter", "sheet", "date_format", "time_zone")
_READ_BY_SOME = (*_TABLE_KEYS, "name", "value")
READ_KEYS = {"wide": _TABLE_KEYS, "long": _READ_BY_SOME, "template": ("columns",),
             "rows": ("sheet", "date_format", "time_zone"), "database": ("time_zone",), "spark": ("time_zone",)}
_MEASURES_NAME_COLUMNS = ("remove it: each measure names the columns it reads as the file writes them, under "
                          "'measures:' (date:, value:, filter:)")
UNREAD_HINTS = {"rows": _MEASURES_NAME_COLUMNS, "spark": _MEASURES_NAME_COLUMNS,
                "database": "remove it: a table's dates are read from its date columns, and each measure names the "
                            "columns it reads under 'measures:' (date:, value:, filter:)",
                "wide": "remove it, or give the source 'layout: long' (a column naming the input, one holding its "
                        "value)",
                "template": "remove it: a filled template is read by its defined names (months, in_<input>…)"}


@dataclass(frozen=True)
class SparkSource:
    """Where Spark reads a source's rows, and which cluster does it."""

    location: str  # a file or glob: a local path made absolute, or a URL the cluster reads (s3a://, hdfs://…)
    format: Literal["parquet", "csv"]
    remote: str | None  # sc://… (Spark Connect); None: SPARK_REMOTE, else local mode


@dataclass(frozen=True)
class Source:
    path: Path | None
    layout: Literal["wide", "long", "template", "rows"]
    date: str
    name: str | None
    value: str | None
    columns: dict[str, str]
    filter: dict[str, Any]
    sheet: str | None
    date_format: str | None = None  # None: told by the column's dates
    measures: tuple[Measure, ...] = ()  # a rows layout's
    database: DatabaseUrl | None = None  # where the rows live when not in a file (then `path` is None)
    table: str | None = None
    query: str | None = None
    spark: SparkSource | None = None  # rows a Spark cluster reads (then `path` is None)
    # the zone whose months a time with a zone (stored, or written with a UTC offset) counts in; None:
    # a stored instant's UTC date, a written time's date as written
    time_zone: str | None = None

    @property
    def place(self) -> str:
        """The file, or the database and its table, as messages name it (never with a password)."""
        if self.spark is not None:
            return self.spark.location
        if self.database is None:
            return str(self.path)
        return f"{self.database.redacted} ({self.table or 'query'})"


@dataclass(frozen=True)
class Config:
    path: Path
    title: str
    company: str | None
    locale: Locale
    currency: str
    owners: dict[str, Owner]
    inputs: dict[str, Input]
    kpis: dict[str, Kpi]  # in the config's order
    funnel: list[str]  # stages, top to bottom
    sources: list[Source]
    warnings: list[str]
    charts: list[str] = field(default_factory=list)
    funnel_target: Target = field(default_factory=Target)
    logo: Path | None = None
    colour: str = "#1F4E78"
    sections: str = "domain"  # the review's sections: per domain or per owner
    smtp: Smtp | None = None
    output: Path | None = None  # the project's output folder (PDFs sent, send log): `output:`, or output/ beside it
    recipients: list[Reader] = field(default_factory=list)  # the whole review to each, besides the owners

    def kpi_order(self) -> list[str]:
        """KPIs ordered so that each comes after the KPIs its formula uses."""
        return list(TopologicalSorter({kid: sorted(kpi.formula.kpi_names()) for kid, kpi in self.kpis.items()})
                    .static_order())

    def lookback(self) -> int:
        """How many months before the first reported month the formulas read."""
        months: dict[str, int] = {}
        for kpi_id in self.kpi_order():
            months[kpi_id] = lookback(self.kpis[kpi_id].formula.tree,
                                      lambda name: months[name.name] if name.kind == "kpi" else 0)
        return max(months.values(), default=0)


# --- loading and resolving ----------------------------------------------------------------------


def load_config(path: str | Path) -> Config:
    """Read, validate and resolve a config file; raises ConfigError naming the key and line."""
    path = Path(path)
    with collector_paused():  # the YAML's nodes, the schema's models and the config all stay alive
        data, lines = load_yaml(path)
        if not isinstance(data, dict):
            raise ConfigError("the config must be a mapping of keys (title, kpis, …)", file=str(path),
                              hint="start from 'kpireport init DIR' for a working example")
        try:
            spec = ConfigSpec.model_validate(data)
        except ValidationError as exc:
            raise schema_errors(exc, ConfigSpec, str(path), lines) from None
        return _Resolver(path, spec, lines).resolve()


def _smtp(spec: SmtpSpec | None) -> Smtp | None:
    if spec is None:
        return None
    port = spec.port or {"starttls": 587, "ssl": 465, "none": 25}[spec.security]
    return Smtp(spec.host, port, spec.security, spec.sender, spec.reply_to, spec.timeout)


class _Resolver:
    def __init__(self, path: Path, spec: ConfigSpec, lines: dict[KeyPath, int]) -> None:
        self.path = path
        self.spec = spec
        self.lines = lines
        self.catalog = load_catalog()
        self.inputs_in_use = self._inputs_in_use()

    def error(self, key: KeyPath, message: str, hint: str | None = None,
              error_type: type[ConfigError] = ConfigError) -> ConfigError:
        return error_type(message, file=str(self.path), line=line_of(self.lines, key),
                          key=".".join(key), hint=hint)

    def resolve(self) -> Config:
        spec = self.spec
        locale = spec.locale
        for section, ids in (("inputs", spec.inputs), ("kpis", spec.kpis)):
            for item_id in ids:
                if not IDENTIFIER.match(item_id):
                    raise self.error((section, item_id), f"'{item_id}' is not a valid id",
                                     "ids are lowercase letters, digits and '_', starting with a letter")
                if len(item_id) > MAX_ID_CHARS:
                    raise self.error((section, item_id), f"the id '{clipped(item_id)}' is {len(item_id)} characters "
                                     f"long (at most {MAX_ID_CHARS})",
                                     "shorten the id: it names the workbook's cells (in_<id>, kpi_<id>, …), where "
                                     "Excel limits names; the label can be as long as you like")
        owners = {oid: Owner(oid, o.name, o.email, o.role, tuple(o.cc)) for oid, o in spec.owners.items()}
        readers = [Reader(r.name or r.email, r.email) for r in spec.recipients]
        inputs = {iid: self.declared_input(iid, i) for iid, i in spec.inputs.items()}
        kpis = {kid: self.kpi(kid, k, owners) for kid, k in spec.kpis.items()}
        kpis = {kid: replace(kpi, formula=self.resolve_names(kid, kpi.formula, inputs, kpis))
                for kid, kpi in kpis.items()}
        self.check_dependencies(kpis)
        self.check_excel_nesting(inputs, kpis)
        self.check_splits(inputs, kpis)
        funnel_spec = spec.funnel if isinstance(spec.funnel, FunnelSpec) else FunnelSpec.model_construct(
            stages=list(spec.funnel), target=None)
        funnel = list(funnel_spec.stages)
        stages_key = ("funnel", "stages") if isinstance(spec.funnel, FunnelSpec) else ("funnel",)
        for index, stage in enumerate(funnel):
            self.refuse_ambiguous(stage, (*stages_key, str(index)), kpis)
            if stage not in inputs and stage not in kpis:
                raise self.error((*stages_key, str(index)), f"unknown stage '{stage}'",
                                 did_you_mean(stage, [*inputs, *kpis]) or "a stage is an input or a KPI id")
        for index, chart in enumerate(spec.template.charts):
            if chart not in kpis:
                raise self.error(("template", "charts", str(index)), f"unknown KPI '{chart}'",
                                 did_you_mean(chart, kpis) or "list KPI ids from 'kpis:'")
        sources = [self.source(index, s, inputs) for index, s in enumerate(spec.sources)]
        return Config(
            path=self.path, title=spec.title, company=spec.company, locale=locale,
            currency=spec.currency, owners=owners, inputs=inputs, kpis=kpis, funnel=funnel,
            sources=sources, warnings=_advice(kpis), charts=list(spec.template.charts),
            funnel_target=self.target(("funnel",), funnel_spec.target),
            logo=self.logo(spec.review.logo), colour=spec.review.colour,
            sections=spec.review.sections, smtp=_smtp(spec.smtp), recipients=readers,
            output=self.path.parent / (spec.output or "output"),
        )

    def kpi(self, kid: str, spec: KpiSpec, owners: dict[str, Owner]) -> Kpi:
        locale = self.spec.locale
        base = None
        if spec.use is not None:
            base = self.catalog.kpis.get(spec.use)
            if base is None:
                raise self.error(("kpis", kid, "use"), f"'{spec.use}' is not in the catalog",
                                 did_you_mean(spec.use, self.catalog.kpis)
                                 or "list the catalog with 'kpireport catalog'")
        formula_text = spec.formula or (base.formula if base else None)
        if formula_text is None:
            raise self.error(("kpis", kid), "this KPI has no formula",
                             "add 'formula: …' or take one from the catalog with 'use: domain.kpi'")
        try:
            formula = parse(formula_text)
        except FormulaError as exc:
            raise self.error(("kpis", kid, "formula" if spec.formula else "use"), exc.message,
                             exc.hint, FormulaError) from None
        if spec.owner is not None and spec.owner not in owners:
            raise self.error(("kpis", kid, "owner"), f"unknown owner '{spec.owner}'",
                             did_you_mean(spec.owner, owners) or "declare the owner under 'owners:'")
        target = self.kpi_target(("kpis", kid), spec.target)
        catalog_domain = self.catalog.domains[self.catalog.domain_of(spec.use)](locale) if base else None
        return Kpi(
            id=kid,
            label=spec.label or (base.label(locale) if base else _pretty(kid)),
            formula=formula,
            format=spec.format or (base.format if base else "number"),
            direction=spec.direction or (base.direction if base else "up"),
            target=target,
            tolerance=spec.tolerance if spec.tolerance is not None else 0.10,
            owner=spec.owner,
            domain=spec.domain or catalog_domain or (owners[spec.owner].role if spec.owner and
                                                     owners[spec.owner].role else _OTHER[locale]),
            type=spec.type or (base.type if base else None),
            definition=spec.definition or (base.definition(locale) if base else None),
            frequency=spec.frequency or (base.frequency if base else "monthly"),
            unit=spec.unit or (base.unit(locale) if base and base.unit else None),
            benchmark=base.benchmark if base else None,
            catalog_id=spec.use,
        )

    def target(self, key: KeyPath, spec: TargetSpec | None) -> Target:
        if spec is None:
            return Target()
        if not isinstance(spec, dict):
            return Target(default=spec)
        by_month: dict[Month, float] = {}
        default = None
        for month_key, value in spec.items():
            if month_key == "default":
                default = value
                continue
            try:
                by_month[Month.parse(month_key)] = value
            except ValueError:
                raise self.error((*key, "target", month_key), f"'{month_key}' is not a month",
                                 "write months as YYYY-MM (e.g. 2026-03), or 'default'") from None
        return Target(default, by_month)

    def kpi_target(self, key: KeyPath, spec: Any) -> Target:
        """A KPI's target: as `target` reads it, or per year or quarter (`{year: …, split: …}`)."""
        if not isinstance(spec, dict) or not any(period in spec for period in PERIODS):
            if isinstance(spec, dict):
                for month_key, value in spec.items():
                    if month_key == "split":
                        raise self.error((*key, "target", "split"), "'split' without a yearly or quarterly target",
                                         "write target: {year: 4200000, split: seasonal} (or quarter: …)")
                    if not _is_number(value):
                        raise self.error((*key, "target", month_key), f"'{clipped(value)}' is not a number",
                                         "a target is a number, e.g. 0.25 or 12000")
            return self.target(key, spec)
        key = (*key, "target")
        if all(period in spec for period in PERIODS):
            raise self.error(key, "a target is yearly or quarterly, not both",
                             "keep 'year:' (a quarter's share follows from the split) or 'quarter:'")
        period = "year" if "year" in spec else "quarter"
        for other in spec:
            if other not in (period, "split"):
                raise self.error((*key, other), f"'{clipped(other)}' cannot sit beside a {period}ly target",
                                 f"the {period}ly target is split into months; to set a month's target by hand, "
                                 "type it in the workbook, or drop '{period}:' and list the months")
        split = spec.get("split", "seasonal")
        if split not in SPLITS:
            raise self.error((*key, "split"), f"'{clipped(split)}' is not a way to split a target",
                             "split: seasonal (by last year's months of the KPI) or even (the same each month)")
        value = spec[period]
        if _is_number(value):
            return Target(period=PeriodTarget(period, float(value), {}, split))
        if not isinstance(value, dict):
            raise self.error((*key, period), f"'{clipped(value)}' is not a number",
                             f"write {period}: 4200000, or one per {period}: "
                             + ("{2026: 4200000, 2027: 4600000}" if period == "year" else "{2026-Q1: 900000, …}"))
        by_period: dict[tuple[int, int], float] = {}
        for period_key, amount in value.items():
            where = (*key, period, period_key)
            match = _QUARTER.match(period_key) if period == "quarter" else re.match(r"^(\d{4})$", period_key)
            if match is None:
                raise self.error(where, f"'{clipped(period_key)}' is not a {period}",
                                 "write years as 2026" if period == "year" else "write quarters as 2026-Q1")
            if not _is_number(amount):
                raise self.error(where, f"'{clipped(amount)}' is not a number", "a target is a number, e.g. 4200000")
            by_period[(int(match.group(1)), int(match.group(2)) if period == "quarter" else 0)] = float(amount)
        return Target(period=PeriodTarget(period, None, by_period, split))

    def check_splits(self, inputs: dict[str, Input], kpis: dict[str, Kpi]) -> None:
        """A split only makes sense for a KPI whose months add up to its year."""
        for kid, kpi in kpis.items():
            spec = self.spec.kpis[kid].target
            if kpi.target.period is not None and isinstance(spec, dict) and "split" in spec \
                    and not is_sum_like(kpi.formula.tree, kpis, inputs):
                raise self.error(("kpis", kid, "target", "split"),
                                 f"'{kid}' does not add up over months: its {kpi.target.period.period}ly target "
                                 "is a rate for the whole period, not split",
                                 "remove 'split:'; every month is compared with that rate (only a sum of inputs "
                                 "that are sums or counts, like revenue or leads, is split)")

    def resolve_names(self, kid: str, formula: Formula, inputs: dict[str, Input],
                      kpis: dict[str, Kpi]) -> Formula:
        """Tell each name's kind. A catalog formula's names are the catalog's inputs, whatever the
        config's KPIs are called (`leads: {use: blog.leads}` must not turn every other catalog
        formula's `leads` into blog leads). A formula written in the config reads a declared input,
        else another KPI, else a catalog input (added to `inputs`); a name that is both a KPI and an
        input in use is refused rather than guessed. So `visits: {use: website.visits}` reads the
        input `visits`."""
        from_catalog = self.spec.kpis[kid].formula is None

        def resolve(node: Name) -> Name:
            if from_catalog:
                self.add_catalog_input(node.name, inputs)
                return replace(node, kind="input")
            self.refuse_ambiguous(node.name, ("kpis", kid, "formula"), kpis, kid)
            if node.name in self.spec.inputs:
                return replace(node, kind="input")
            if node.name in kpis and node.name != kid:
                return replace(node, kind="kpi")
            if self.add_catalog_input(node.name, inputs):
                return replace(node, kind="input")
            key = "formula" if self.spec.kpis[kid].formula else "use"
            caret = " " * node.position + "^" * len(node.name)
            where = f"(position {node.position + 1})\n    {formula.text}\n    {caret}"
            if node.name == kid:
                raise self.error(("kpis", kid, key), f"the KPI '{kid}' uses itself {where}",
                                 "use prev(x) to read an earlier month, or declare an input of that name",
                                 FormulaError)
            raise self.error(("kpis", kid, key), f"unknown name '{node.name}' {where}",
                             did_you_mean(node.name, [*inputs, *kpis, *self.catalog.inputs])
                             or "declare it under 'inputs:' or as a KPI", FormulaError)

        tree = transform(formula.tree, resolve)
        assert tree is not None  # resolve never drops a name
        return Formula(formula.text, tree)

    def declared_input(self, iid: str, spec: InputSpec) -> Input:
        """An input of `inputs:`; declaring a catalog input overrides only the keys written
        (`mqls: {aggregate: count}` keeps the label "MQL" and the catalog's format)."""
        base = self.catalog_input(iid)
        if base is None:
            return Input(iid, spec.label or _pretty(iid), spec.aggregate, spec.format, spec.description)
        written = {key: getattr(spec, key) for key in spec.model_fields_set if getattr(spec, key) is not None}
        return replace(base, **written)

    def catalog_input(self, name: str) -> Input | None:
        known, locale = self.catalog.inputs.get(name), self.spec.locale
        if known is None:
            return None
        return Input(name, known.label(locale), known.aggregate, known.format,
                     known.description(locale) if known.description else None)

    def add_catalog_input(self, name: str, inputs: dict[str, Input]) -> bool:
        """Make sure a declared or catalog input `name` is in `inputs`; False if there is none."""
        if name not in inputs:
            known = self.catalog_input(name)
            if known is None:
                return False
            inputs[name] = known
        return True

    def _inputs_in_use(self) -> set[str]:
        """The inputs that a name could mean: declared ones, and those the catalog formulas read."""
        used = set(self.spec.inputs)
        for spec in self.spec.kpis.values():
            base = self.catalog.kpis.get(spec.use) if spec.use and spec.formula is None else None
            if base is not None:
                used |= parse(base.formula).names()
        return used

    def refuse_ambiguous(self, name: str, key: KeyPath, kpis: dict[str, Kpi], kid: str | None = None) -> None:
        """A name that is a KPI computing something else than the input of that name, where that
        input is also in use, could mean either: say so instead of picking one."""
        kpi = kpis.get(name)
        if kpi is None or name == kid or kpi.formula.tree == Name(name) or name not in self.inputs_in_use:
            return
        new_id = kpi.catalog_id.replace(".", "_") if kpi.catalog_id else f"{name}_kpi"
        raise self.error(key, f"'{name}' could mean the KPI '{name}' ({kpi.formula.text}) or the input '{name}'",
                         f"rename the KPI (e.g. to '{new_id}'), so that '{name}' means the input everywhere",
                         FormulaError)

    def check_dependencies(self, kpis: dict[str, Kpi]) -> None:
        """KPIs using KPIs: no cycle, and no chain so deep that, written out (as the year-to-date
        figures and the evaluation do), a formula would nest past MAX_DEPTH levels."""
        uses = {kid: sorted(kpi.formula.kpi_names()) for kid, kpi in kpis.items()}  # even under prev()
        try:
            order = list(TopologicalSorter(uses).static_order())
        except CycleError as exc:
            cycle = exc.args[1][::-1]  # graphlib lists it from each KPI to the one using it; read "uses"
            raise self.error(("kpis", cycle[0], "formula"),
                             "the formulas refer to each other in a cycle: " + " → ".join(cycle),
                             "a KPI cannot depend on itself; use prev(x) to read an earlier month",
                             FormulaError) from None
        levels: dict[str, int] = {}
        for kid in order:
            levels[kid] = depth(kpis[kid].formula.tree, lambda name: levels[name.name] if name.kind == "kpi" else 1)
            if levels[kid] > MAX_DEPTH:
                raise self.error(("kpis", kid, "formula"),
                                 f"with the KPIs it uses written out, this formula nests {levels[kid]} levels "
                                 f"(at most {MAX_DEPTH})",
                                 "compute it from inputs, or from fewer KPIs that use KPIs", FormulaError)
        # A KPI used by another is computed once a month (and is one cell in the workbook), except in the
        # year-to-date figures, which write out formulas without windows: there it counts as its own size.
        written: dict[str, int] = {}
        for kid in order:
            tree = kpis[kid].formula.tree
            values = cost(tree)
            windowed = any(isinstance(node, Call) for node in walk(tree))  # never written out (see ytd_tree)
            written[kid] = 1 if windowed else cost(tree, lambda name: written[name.name] if name.kind == "kpi" else 1)
            if max(values, written[kid]) > MAX_COST:
                raise self.error(("kpis", kid, "formula"),
                                 f"this formula computes more than {MAX_COST:,} values a month (windows of avg() "
                                 "or ytd() inside others multiply)",
                                 "compute the inner window as another KPI and use it by its id (e.g. avg(monthly_avg, "
                                 '12) with monthly_avg: {formula: "avg(visits, 12)"}): it is computed once a month',
                                 FormulaError)

    def check_excel_nesting(self, inputs: dict[str, Input], kpis: dict[str, Kpi]) -> None:
        """Each KPI's formulas as the workbook prints them nest at most EXCEL_NESTING levels. The
        monthly value reads the KPIs it uses from their cells, but the year-to-date figure writes them
        out (engine.ytd_tree), and the guards add levels of their own: so the printed text is measured."""
        from .engine import ytd_tree  # the YTD tree is the engine's; only a config being loaded needs it

        resolved = _Resolved(inputs, kpis)
        for kid, kpi in kpis.items():
            ytd = ytd_tree(resolved, kid)  # type: ignore[arg-type]
            for tree, what in ((kpi.formula.tree, "this formula"), (ytd, "its year-to-date formula (which writes "
                                                                          "out the KPIs it uses)")):
                if tree is None:
                    continue
                levels = nesting(to_excel(tree, Month(2000, 12), _ANYWHERE))
                if levels > EXCEL_NESTING:
                    raise self.error(("kpis", kid, "formula"),
                                     f"written for Excel, {what} nests {levels} levels of functions and brackets: "
                                     f"more than Excel's {EXCEL_NESTING}",
                                     "split it: compute a part as another KPI and use it by its id, or write it "
                                     "with fewer brackets", FormulaError)

    def logo(self, logo: str | None) -> Path | None:
        """The review's logo: a file inside the config's folder (the PDF reads no other file)."""
        if not logo:
            return None
        folder = self.path.parent.resolve()
        path = (folder / logo).resolve()
        if not path.is_relative_to(folder):
            raise self.error(("review", "logo"), f"the logo '{logo}' is outside the config's folder",
                             f"copy the image into {folder} and give its path from there (e.g. logo: logo.png)")
        if not path.is_file():
            raise self.error(("review", "logo"), f"no logo file '{logo}'",
                             "give the image's path relative to the config file (e.g. logo: logo.png)")
        return path

    def source(self, index: int, spec: SourceSpec, inputs: dict[str, Input]) -> Source:
        self.refuse_unread_keys(index, spec)
        measures = tuple(self.measure(("sources", str(index), "measures", input_id), measure, inputs)
                         for input_id, measure in spec.measures.items())
        if spec.database is not None:
            database = parse_url(spec.database, base=self.path.parent, key=f"sources.{index}.database",
                                 file=str(self.path))
            return Source(None, "rows", spec.date, None, None, {}, {}, None, None, measures, database, spec.table,
                          spec.query, time_zone=spec.time_zone)
        if spec.engine == "spark":
            return Source(None, "rows", spec.date, None, None, {}, {}, None, None, measures,
                          spark=self.spark_source(index, spec), time_zone=spec.time_zone)
        path = Path(spec.path)  # type: ignore[arg-type]
        if not path.is_absolute():
            path = self.path.parent / path
        return Source(path, spec.layout, spec.date, spec.name, spec.value, dict(spec.columns),
                      dict(spec.filter), spec.sheet, spec.date_format, measures, time_zone=spec.time_zone)

    def refuse_unread_keys(self, index: int, spec: SourceSpec) -> None:
        """A key written under a source that its kind of source never reads: a config error, not ignored."""
        kind = "database" if spec.database else "spark" if spec.engine == "spark" else spec.layout
        said = {"database": "a database source", "spark": "'engine: spark'"}.get(kind, f"'layout: {kind}'")
        for key in _READ_BY_SOME:
            if key in spec.model_fields_set and key not in READ_KEYS[kind]:
                raise self.error(("sources", str(index), key), f"'{key}' is not read with {said}: it would be "
                                 "ignored", UNREAD_HINTS[kind])

    def spark_source(self, index: int, spec: SourceSpec) -> SparkSource:
        """`path` as Spark reads it: a URL (s3a://…) as written, a local path from the config's folder."""
        written = spec.path or ""
        suffix = written.lower().rsplit("/", 1)[-1]
        kind = next((ext[1:] for ext in SPARK_FORMATS if suffix.endswith(ext)), None)
        if kind is None:
            raise self.error(("sources", str(index), "path"),
                             f"'{clipped(written)}' is not a Parquet or CSV file, which is what Spark reads here",
                             "give a .parquet or .csv file, or a glob of them (deals/*.parquet)")
        if "://" not in written and not Path(written).is_absolute():
            written = str(self.path.parent / written)
        return SparkSource(written, kind, spec.spark.remote if spec.spark else None)  # type: ignore[arg-type]

    def measure(self, key: KeyPath, spec: MeasureSpec, inputs: dict[str, Input]) -> Measure:
        input_id = key[-1]
        if input_id not in inputs:
            raise self.error(key, f"unknown input '{input_id}'",
                             did_you_mean(input_id, inputs) or "a measure makes the value of an input declared "
                                                                "under 'inputs:': declare it there")
        aggregate = spec.aggregate or ("count" if spec.value is None else inputs[input_id].aggregate)
        if spec.value is None and aggregate != "count":  # count alone counts the rows
            raise self.error(key, f"'aggregate: {aggregate}' needs a 'value' (a column, or an expression over "
                                  "columns)", "e.g. value: amount; or 'aggregate: count' to count the rows")
        if spec.snapshot is not None and aggregate not in SNAPSHOT_AGGREGATES:
            raise self.error((*key, "aggregate"), f"a snapshot adds up the rows open at each month's end: "
                             f"'{aggregate}' is not one of {', '.join(SNAPSHOT_AGGREGATES)}",
                             "use sum (an amount open), count (how many are open) or mean")
        rolled = "last" if spec.snapshot is not None else aggregate  # a stock: its year is its last month
        expected = INPUT_AGGREGATES[rolled]
        if inputs[input_id].aggregate not in expected:
            what = "a stock at each month's end" if spec.snapshot is not None else f"a monthly {aggregate}"
            raise self.error(key, f"the input '{input_id}' is rolled up over months with 'aggregate: "
                                  f"{inputs[input_id].aggregate}', but this measure makes {what}",
                             f"give the input 'aggregate: {expected[0]}' under 'inputs:' (its year to date and the "
                             "template's totals use it)")
        expression, problem = (None, None) if spec.value is None else parse_value(spec.value)
        if problem is not None and not _COLUMN_NAME.match(spec.value or ""):
            raise self.error((*key, "value"), problem.message, problem.hint, FormulaError)
        snapshot = Snapshot(spec.snapshot.start, spec.snapshot.end) if spec.snapshot else None
        filters = tuple(c for column, written in spec.filter.items() for c in conditions(column, written))
        return Measure(input_id, ".".join(key), aggregate, spec.date, spec.value, expression,
                       problem.message.split("\n")[0] if problem else None, filters, snapshot)


@dataclass(frozen=True)
class _Resolved:
    """What engine.ytd_tree reads of a Config, before the Config exists."""

    inputs: dict[str, Input]
    kpis: dict[str, Kpi]


class _Anywhere:
    """Cell references for measuring a printed formula: every month is in the sheet."""

    def cell(self, name: Name, month: Month) -> str:
        return "A1"

    def span(self, name: Name, first: Month, last: Month) -> str:
        return "A1:A2"


_ANYWHERE = _Anywhere()


def nesting(formula: str) -> int:
    """How deep a formula's brackets nest (a function's own included), outside "text"."""
    deepest = level = 0
    quoted = False
    for char in formula:
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "(":
            level += 1
            deepest = max(deepest, level)
        elif not quoted and char == ")":
            level -= 1
    return deepest


_OTHER = {"fr": "Autres indicateurs", "en": "Other indicators"}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _pretty(identifier: str) -> str:
    return identifier.replace("_", " ").capitalize()


def _advice(kpis: dict[str, Kpi]) -> list[str]:
    """The documents' advice on focus: at most 10 KPIs, at most 3 per owner or domain."""
    warnings = []
    if len(kpis) > MAX_KPIS:
        warnings.append(f"{len(kpis)} KPIs: the documents advise tracking 5 to 10 at most, "
                        "so that attention is not diluted")
    for attribute, word in (("owner", "owner"), ("domain", "domain")):
        groups: dict[str, list[str]] = {}
        for kpi in kpis.values():
            group = getattr(kpi, attribute)
            if group:
                groups.setdefault(group, []).append(kpi.id)
        for group, members in groups.items():
            if len(members) > MAX_KPIS_PER_GROUP:
                named = ", ".join(members[:6]) + (f" and {len(members) - 6} more" if len(members) > 6 else "")
                warnings.append(f"{word} '{group}' has {len(members)} KPIs ({named}): "
                                f"the documents advise at most {MAX_KPIS_PER_GROUP} each")
    return warnings
