"""The monthly review: the engine's results for one month, as the plain view the templates print,
rendered to HTML (Jinja2, templates/ overridable) and to PDF (WeasyPrint, local files only)."""

from __future__ import annotations

import base64
import datetime as dt
import gc
import math
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cache
from itertools import pairwise
from pathlib import Path

from markupsafe import Markup

from . import engine
from .charts import ProjectedPoint, TrendPoint, sparkline_svg, trend_svg
from .config import Config, Kpi
from .engine import Notes
from .errors import KpiReportError
from .files import atomic_path, paths_beside
from .files import safe_name as safe_name  # where it lived first: kept for callers
from .locale import (
    distinct_extra,
    format_attainment,
    format_axis,
    format_benchmark,
    format_month,
    format_percent,
    format_points,
    format_value,
    text,
)
from .months import Month, month_range
from .pdf import can_split, html_to_pdf
from .summary import summary, unusual_by_kpi


def _default_templates() -> Path:
    """templates/ ships inside the wheel as kpireport/templates; in a checkout it is the top-level folder."""
    packaged = Path(__file__).resolve().parent / "templates"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "templates"


DEFAULT_TEMPLATES = _default_templates()
TREND_MONTHS = 13  # this month and the same month a year before, on one chart
SPARK_MONTHS = 12  # the summary's sparkline: this month and the eleven before
# A review of more KPIs than this lists them in tables, one line per KPI (actual, target, changes,
# status), without charts: a card with a chart per KPI is half a page, so 1,000 KPIs were 500 pages
# nobody reads, and 30 ms of layout each (5,000 KPIs: 157 s). Its summary lists the KPIs off track.
COMPACT_ABOVE = 50
OFF_TRACK_SHOWN = 100  # of them, in a long review's summary: the rest are marked in their sections
STATUS_SYMBOL = {"on": "●", "watch": "◐", "off": "○", "no_data": "–", "no_target": "·"}
OUTLOOK_SYMBOL = {"likely": "●", "possible": "◐", "unlikely": "○"}  # as the statuses they foretell


# --- the view: plain data, already formatted for the locale ---------------------------------------------


@dataclass
class KpiView:
    id: str
    label: str
    status: str
    status_text: str
    status_symbol: str
    value: str
    target: str
    attainment: str
    change_mom: str
    change_mom_tone: str  # good | bad | flat | none: coloured the right way round for the KPI
    change_yoy: str
    change_yoy_tone: str
    ytd: str
    chart: Markup
    definition: str
    owner: str
    direction: str
    benchmark: str
    comments: list[str] = field(default_factory=list)
    has_value: bool = True
    sparkline: Markup = field(default_factory=Markup)  # the summary's line: the last SPARK_MONTHS months
    year_end: str = ""  # the year's projected value against a yearly target, with its outlook's symbol; "" without
    year_target: str = ""  # with a yearly target: the year's (a total, or a rate)
    ytd_target: str = ""  # a sum's target from January to this month ("" for a rate: the year's rate is its target)
    outlook: str = "none"  # likely | possible | unlikely | none
    outlook_text: str = ""
    projected: bool = False  # its chart shows the months to December as projected
    unusual: bool = False  # its chart rings a month flagged unusual


@dataclass
class SectionView:
    title: str
    kpis: list[KpiView]

    @property
    def projected(self) -> bool:  # a chart of the section shows a projection: its legend says how
        return any(kpi.projected for kpi in self.kpis)

    @property
    def unusual(self) -> bool:
        return any(kpi.unusual for kpi in self.kpis)


@dataclass
class StageView:
    label: str
    value: str
    rate: str  # conversion from the stage above
    needed: str  # what the target requires at this stage
    short: bool  # this month's volume is below what the target requires
    width: float | None = None  # the bar's width, % of the largest stage's: proportional to the volumes


@dataclass
class FunnelView:
    stages: list[StageView]
    overall: str
    target: str | None


@dataclass
class ReviewView:
    locale: str
    title: str
    company: str | None
    month: str
    audience: str | None  # the owner or domain a partial review is for
    partial: str | None  # "Données partielles au 28 octobre" when the month's data stop early
    colour: str
    logo: str | None
    counts: dict[str, int]
    improvements: list[tuple[str, str]]
    declines: list[tuple[str, str]]
    without_data: list[str]
    sections: list[SectionView]
    funnel: FunnelView | None
    compact: bool = False  # more than COMPACT_ABOVE KPIs: tables of one line per KPI, no charts (see there)
    off_track: list[KpiView] = field(default_factory=list)  # compact: the furthest from target first, at most
    # OFF_TRACK_SHOWN (of counts["off"])
    highlights: list[str] = field(default_factory=list)  # the summary's sentences (summary.py), at most three
    owner_notes: list[str] = field(default_factory=list)  # the owners' notes on the month, "Label : note"
    projections: bool = False  # a KPI has a yearly target: the summary's year-end column says where it lands


def _is_flat(change: float, points: bool) -> bool:
    """Too small a change to show, as printed: 0.1 % relative, or 0.01 pts."""
    return round(change, 2) == 0 if points else round(change, 3) == 0


def _tone(change: float | None, direction: str, points: bool = False) -> str:
    if change is None:
        return "none"
    if _is_flat(change, points):
        return "flat"
    return "good" if (change > 0) == (direction == "up") else "bad"


def _change_text(change: float | None, locale: str, points: bool = False) -> str:
    """`▲ +8,2 %`, or for a rate in percentage points `▲ +2,0 pts`; `=` when too small to show."""
    if change is None:
        return "—"
    if _is_flat(change, points):  # no arrow for a change too small to show
        return f"= {format_points(0, locale) if points else format_percent(0, locale)}"
    arrow = "▲" if change > 0 else "▼"
    shown = format_points(change, locale) if points else format_percent(change, locale, sign=True)
    return f"{arrow} {shown}"


def _changes(kpi: Kpi, row: engine.KpiMonth, locale: str) -> dict[str, str]:
    """The changes vs last month and last year as the review shows them: rates in points."""
    points = kpi.format == "percent"
    mom, yoy = (row.change_mom_pts, row.change_yoy_pts) if points else (row.change_mom, row.change_yoy)
    return {"change_mom": _change_text(mom, locale, points), "change_mom_tone": _tone(mom, kpi.direction, points),
            "change_yoy": _change_text(yoy, locale, points), "change_yoy_tone": _tone(yoy, kpi.direction, points)}


def build_view(config: Config, results: engine.Results, month: Month, *, kpi_ids: list[str] | None = None,
               audience: str | None = None, notes: Notes | None = None) -> ReviewView:
    """The review of `month` for the KPIs `kpi_ids` (default: all), formatted in the config's locale."""
    locale = config.locale
    wanted = None if kpi_ids is None else set(kpi_ids)  # a list: 500 owners x 5,000 KPIs scanned it 2.5 M times
    chosen = [r for r in results.kpis if wanted is None or r.kpi.id in wanted]
    compact = len(chosen) > COMPACT_ABOVE
    views: list[KpiView] = []
    rows: list[tuple[KpiView, engine.KpiMonth]] = []
    unusual = unusual_by_kpi(results, month, [r.kpi.id for r in chosen])
    paths = _Paths(results, month)
    for result in chosen:
        row = result.at(month)
        assert row is not None, "results must cover the review month"
        view = _kpi_view(config, result, row, month, notes or {}, chart=not compact,
                         unusual=[u.month for u in unusual.get(result.kpi.id, [])], paths=paths)
        views.append(view)
        rows.append((view, row))
    counts = {status.value: sum(1 for _, r in rows if r.status == status) for status in engine.Status}

    def better_by(item: tuple[KpiView, engine.KpiMonth]) -> float:
        """The change vs last month, positive when it is good news for this KPI's direction."""
        change = item[1].change_mom or 0.0
        return change if config.kpis[item[0].id].direction == "up" else -change

    # a change printed as "=" (a rate's 0.004 pts) is no improvement nor decline
    ranked = sorted((item for item in rows if item[1].change_mom and item[0].change_mom_tone != "flat"), key=better_by)
    improvements = [(v.label, v.change_mom) for v, r in reversed(ranked[-3:]) if better_by((v, r)) > 0]
    declines = [(v.label, v.change_mom) for v, r in ranked[:3] if better_by((v, r)) < 0]
    # the least attained first (a KPI off target has a target, and a value: an attainment, unless 0)
    off_track = sorted((item for item in rows if item[1].status == engine.Status.OFF),
                       key=lambda item: item[1].attainment if item[1].attainment is not None else -math.inf)
    said = summary(results, month, kpi_ids=wanted, notes=notes, unusual=unusual)
    sections: dict[str, list[KpiView]] = {}
    for result, view in zip(chosen, views, strict=True):
        sections.setdefault(_section_of(config, result.kpi), []).append(view)
    return ReviewView(
        locale=locale, title=config.title, company=config.company, month=format_month(month.first_day, locale),
        audience=audience, partial=_partial(results.partial.get(month), locale),
        colour=config.colour, logo=config.logo.resolve().as_uri() if config.logo else None,
        counts=counts, improvements=improvements, declines=declines,
        without_data=[v.label for v in views if not v.has_value],
        sections=[SectionView(title, members) for title, members in sections.items()],
        funnel=_funnel(config, results, month) if kpi_ids is None else None, compact=compact,
        off_track=[view for view, _ in off_track[:OFF_TRACK_SHOWN]] if compact else [],
        highlights=said.sentences, owner_notes=said.notes, projections=any(v.year_end for v in views),
    )


class _Paths:
    """The coming months of KPIs with a yearly target, for their charts: one projector for the
    review (inputs shared by KPIs are forecast once), made when a chart first needs it (numpy and
    the forecasts are loaded only then)."""

    def __init__(self, results: engine.Results, month: Month) -> None:
        self.results, self.month = results, month
        self.projector = None

    def __call__(self, kpi_id: str) -> list[ProjectedPoint]:
        if self.projector is None:
            from .projection import Projector

            self.projector = Projector.of(self.results)  # type: ignore[assignment]
        coming = self.projector.path(kpi_id, self.month)  # type: ignore[attr-defined]
        targets = engine.targets_of(self.results, kpi_id, [p.month for p in coming])
        return [ProjectedPoint(p.month, p.value, p.low, p.high, target)
                for p, target in zip(coming, targets, strict=True)]


def _partial(last: dt.date | None, locale: str) -> str | None:
    if last is None:
        return None
    return text("review.partial", locale, day=format_month(last, locale, "d MMMM" if locale == "fr" else "MMMM d"))


def _section_of(config: Config, kpi: Kpi) -> str:
    if config.sections == "owner":
        return config.owners[kpi.owner].name if kpi.owner else text("review.no_owner", config.locale)
    return kpi.domain


def _kpi_view(config: Config, result: engine.KpiResult, row: engine.KpiMonth, month: Month,
              notes: Notes, *, chart: bool = True, unusual: list[Month] | None = None,
              paths: Callable[[str], list[ProjectedPoint]] | None = None) -> KpiView:
    kpi, locale, currency = result.kpi, config.locale, config.currency

    shown = [row.value, row.target, row.ytd]
    extra = distinct_extra([*shown, row.ytd_target], kpi.format, locale, currency, kpi.unit)

    def value(number: float | None) -> str:  # the card's figures and the chart's label alike
        return format_value(number, kpi.format, locale, currency, kpi.unit, extra=extra)

    actual, target, ytd = map(value, shown)
    if engine.already_year_to_date(config, kpi.id):
        ytd = ""  # its value is the year to date: no second figure (the card leaves the line out)
    yearly = row.year_target is not None
    to_date = yearly and row.ytd_target is not None and row.ytd_target != row.year_target

    projection = row.year_end if row.year_end is not None and row.year_end.value is not None else None
    # the chart's continuation: where the year heads, for a KPI with a yearly target
    projected = paths(kpi.id) if chart and projection is not None and paths is not None else []
    shown_unusual = [m for m in unusual or [] if month - (TREND_MONTHS - 1) <= m <= month] if chart else []
    trend = _trend(config, result, row, month, value, projected, shown_unusual) if chart else Markup("")
    owner = config.owners[kpi.owner].name if kpi.owner else ""
    outlook = (projection.outlook if projection is not None else None) or "none"
    return KpiView(
        id=kpi.id, label=kpi.label, status=row.status.value, status_text=text(f"status.{row.status.value}", locale),
        status_symbol=STATUS_SYMBOL[row.status.value], value=actual, target=target,
        attainment=format_attainment(row.attainment, kpi.tolerance, locale) if row.attainment is not None else "—",
        **_changes(kpi, row, locale), ytd=ytd, chart=trend, definition=kpi.definition or "",
        owner=owner,
        direction=text(f"direction.{kpi.direction}", locale), benchmark=_benchmark(kpi, locale, currency),
        comments=_comments(notes, sorted(kpi.formula.names()), month),
        has_value=row.value is not None,
        sparkline=_image(sparkline_svg(_last_values(result, month), status=row.status.value), kpi.label,
                         "spark"),
        year_end="" if projection is None else " ".join(
            filter(None, [OUTLOOK_SYMBOL.get(outlook, ""), value(projection.value)])),
        outlook=outlook, outlook_text=text(f"outlook.{outlook}", locale) if outlook in OUTLOOK_SYMBOL else "",
        year_target=value(row.year_target) if yearly else "", ytd_target=value(row.ytd_target) if to_date else "",
        projected=bool(projected), unusual=bool(shown_unusual),
    )


def _last_values(result: engine.KpiResult, month: Month) -> list[float | None]:
    """The KPI's values of the SPARK_MONTHS months up to `month` (None where it has none)."""
    by_month = {row.month: row.value for row in result.months}
    return [by_month.get(m) for m in month_range(month - (SPARK_MONTHS - 1), month)]


def _trend(config: Config, result: engine.KpiResult, row: engine.KpiMonth, month: Month,
           value: Callable[[float | None], str], projected: list[ProjectedPoint] | None = None,
           unusual: list[Month] | None = None) -> Markup:
    """The card's chart: the last TREND_MONTHS months' values and targets, labelled as the card's
    figures; the months to December as projected, and the unusual months ringed."""
    kpi, locale, currency = result.kpi, config.locale, config.currency
    points = [TrendPoint(m, r.value, r.target) for m in month_range(month - (TREND_MONTHS - 1), month)
              if (r := result.at(m)) is not None]
    chart = trend_svg(points, status=row.status.value, value_label=value,
                      axis_label=lambda number, step: format_axis(number, kpi.format, locale, currency, step),
                      month_label=lambda m: format_month(m.first_day, locale, "LLL"),
                      projected=projected or (), unusual=unusual or ())
    return _image(chart, kpi.label)


def _comments(notes: Notes, names: list[str], month: Month) -> list[str]:
    """The notes people wrote about this month's inputs (a note from a workbook made before notes were
    per month, under None, is about every month)."""
    found = [by_month.get(month) or by_month.get(None) for name in names if (by_month := notes.get(name))]
    return [note for note in found if note]


def _image(svg: str, label: str, kind: str = "trend") -> Markup:
    """The chart as an <img> of an SVG data URI: WeasyPrint reads it with a fast XML parser, where
    inline <svg> goes through its HTML parser and is serialised again (measured: 15 % faster)."""
    if not svg:
        return Markup("")
    data = base64.b64encode(svg.encode()).decode()
    return Markup('<img class="{}" alt="{}" src="data:image/svg+xml;base64,{}">').format(kind, label, data)


def _benchmark(kpi: Kpi, locale: str, currency: str) -> str:
    if kpi.benchmark is None:
        return ""
    return format_benchmark(kpi.benchmark.low, kpi.benchmark.high, kpi.benchmark.note(locale),  # type: ignore[arg-type]
                            kpi.format, locale, currency, kpi.unit)  # type: ignore[arg-type]


def _funnel(config: Config, results: engine.Results, month: Month) -> FunnelView | None:
    """Each stage's volume and conversion from the stage above; then, as Efficy's article reasons,
    the volume each stage needs for the last stage's target at this month's conversion rates."""
    if len(config.funnel) < 2:
        return None
    locale, values = config.locale, []
    for stage in config.funnel:
        if stage in config.kpis:
            row = results.kpi(stage).at(month)
            values.append(row.value if row else None)
        else:
            values.append(results.inputs.get(stage, {}).get(month))  # type: ignore[call-overload]
    rates = [None] + [after / before if before and after is not None else None
                      for before, after in pairwise(values)]
    target = config.funnel_target.for_month(month)
    needed: list[float | None] = [None] * len(values)
    if target is not None:
        needed[-1] = target
        for index in range(len(values) - 1, 0, -1):
            rate, below = rates[index], needed[index]
            # whole leads and deals: what is needed is rounded up
            needed[index - 1] = math.ceil(below / rate - 1e-9) if rate and below is not None else None
    labels = [config.kpis[s].label if s in config.kpis else config.inputs[s].label for s in config.funnel]

    def number(value: float | None) -> str:
        return format_value(value, "number", locale, config.currency)

    # each bar as long as its volume, the largest stage's (the first, in a funnel) the full width
    largest = max((v for v in values if v is not None), default=None)
    widths = [100 * max(v, 0.0) / largest if largest and largest > 0 and v is not None else None for v in values]
    stages = [StageView(label, number(v), format_percent(r, locale) if r is not None else "", number(n),
                        short=v is not None and n is not None and v < n, width=w)
              for label, v, r, n, w in zip(labels, values, rates, needed, widths, strict=True)]
    overall = values[-1] / values[0] if values[0] and values[-1] is not None else None
    return FunnelView(stages, format_percent(overall, locale) if overall is not None else "—",
                      number(target) if target is not None else None)


# --- rendering ----------------------------------------------------------------------------------------------


@cache
def environment(template_dir: Path | None):  # type: ignore[no-untyped-def]
    """Templates from `template_dir` first, then the built-in ones. Escaping is on for everything but
    the plain-text mail templates (*.txt), where `&` must stay `&`."""
    from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

    loaders = [FileSystemLoader(template_dir)] if template_dir else []
    loaders.append(FileSystemLoader(DEFAULT_TEMPLATES))
    return Environment(loader=ChoiceLoader(loaders), undefined=StrictUndefined, trim_blocks=True,
                       lstrip_blocks=True, autoescape=select_autoescape(disabled_extensions=("txt",), default=True))


def render_html(view: ReviewView, *, template_dir: Path | None = None, standalone: bool = True,
                part: Part | None = None) -> str:
    """The review (or `part` of it) as HTML; `standalone` puts the stylesheet inside, with the screen's
    (for --html: a browser), else it is given to WeasyPrint parsed once (see pdf.stylesheet)."""
    css = _css_text(template_dir, view.colour, view.locale, screen=True) if standalone else ""
    parts = parts_of(view)
    with template_errors(template_dir):
        return environment(template_dir).get_template("review/base.html").render(
            view=view, part=part or Part(view.sections), t=_words(view.locale), stylesheet=Markup(css),
            compact_above=COMPACT_ABOVE, cut=parts[1].sections[0] if len(parts) == 2 else None)


def _words(locale: str):  # type: ignore[no-untyped-def]
    return lambda key, **values: text(key, locale, **values)  # type: ignore[arg-type]


@contextmanager
def template_errors(template_dir: Path | None) -> Iterator[None]:
    """A broken template (one given with --template-dir, most likely) is a clear error, not a traceback."""
    from jinja2 import TemplateError

    try:
        yield
    except TemplateError as exc:
        raise KpiReportError(f"a template failed: {exc}",
                             file=getattr(exc, "filename", None) or str(template_dir or DEFAULT_TEMPLATES),
                             line=getattr(exc, "lineno", None),
                             hint="fix the template, or remove it from --template-dir to use the built-in one"
                             ) from None


def _css_text(template_dir: Path | None, colour: str, locale: str, *, screen: bool = False) -> str:
    """review.css, the pages; with `screen`, screen.css after it (only a browser reads it: the PDF's
    stylesheet stays what it was, to the byte)."""
    names = ["review/review.css", "review/screen.css"] if screen else ["review/review.css"]
    with template_errors(template_dir):
        return "\n".join(environment(template_dir).get_template(name).render(colour=colour, t=_words(locale))
                         for name in names)


@dataclass(frozen=True)
class Part:
    """The pages one HTML document holds: the whole review, or one of two parts laid out at once.
    The sections flow (one starts a new page only when it would not fit), but for the one a long
    review is cut before: it starts a new page in the whole review too (section.html's `cut`), so
    the two parts laid out at once give the very pages of the whole."""

    sections: list[SectionView]
    opening: bool = True  # the cover and the summary
    closing: bool = True  # the funnel


SPLIT_FROM = 20  # KPIs. Measured with a free core: 10 KPIs 0.38 s either way, 20: 0.72 -> 0.47 s, 45: 1.46 -> 0.92 s
SUMMARY_LINE = 0.16  # layout work of one summary table line, in KPI cards (measured on the catalog)


def parts_of(view: ReviewView) -> list[Part]:
    """The whole review, or two parts needing about the same layout work, cut between two sections
    (the second part's first section starts a new page, whether laid out apart or not)."""
    kpis = sum(len(section.kpis) for section in view.sections)
    if kpis < SPLIT_FROM or len(view.sections) < 2:
        return [Part(view.sections)]
    # the work before each possible cut: the summary's lines, then each section's cards or lines (a
    # long review's summary lists only the KPIs off track, a line each, as costly as a section's)
    before = [len(view.off_track) if view.compact else SUMMARY_LINE * kpis]
    for section in view.sections:
        before.append(before[-1] + len(section.kpis))
    cut = min(range(1, len(view.sections)), key=lambda k: abs(2 * before[k] - before[-1]))
    return [Part(view.sections[:cut], closing=False), Part(view.sections[cut:], opening=False)]


def pdf_bytes(view: ReviewView, *, template_dir: Path | None, base_dir: Path,
              split: bool = False) -> tuple[bytes, list[str]]:
    """The review as PDF bytes, and the URLs that were refused. With `split`, a long review is laid
    out in two processes at once (not with --template-dir: a changed layout may not start sections
    on a new page)."""
    whole = not split or template_dir is not None or not can_split()
    parts = [Part(view.sections)] if whole else parts_of(view)
    html = [render_html(view, template_dir=template_dir, standalone=False, part=part) for part in parts]
    roots = [DEFAULT_TEMPLATES, base_dir] + ([template_dir] if template_dir else [])
    return html_to_pdf(html, css=_css_text(template_dir, view.colour, view.locale), base_dir=base_dir, roots=roots)


# --- the job: one review, or one per owner or domain ------------------------------------------------------


@dataclass(frozen=True)
class ReviewJob:
    """One document to write: which KPIs, for whom, where."""

    path: Path
    kpi_ids: list[str] | None
    audience: str | None  # who it is for, as printed (an owner's name, a domain)
    key: str | None = None  # the owner id or domain it was planned for


def plan_jobs(config: Config, output: Path, per: str | None) -> list[ReviewJob]:
    """One job for the whole review, or one per owner (keyed by owner id: two owners may share a
    name) or per domain, each written beside `output` as `<stem>-<owner or domain><suffix>`."""
    if per is None:
        return [ReviewJob(output, None, None)]
    groups: dict[str, tuple[str, list[str]]] = {}  # owner id or domain -> (audience, KPI ids)
    for kpi in config.kpis.values():
        if per == "owner":
            if kpi.owner is None:
                continue
            key, audience = kpi.owner, config.owners[kpi.owner].name
        else:
            key, audience = kpi.domain, kpi.domain
        groups.setdefault(key, (audience, []))[1].append(kpi.id)
    paths = paths_beside(output, list(groups))
    return [ReviewJob(paths[key], kpi_ids, audience, key) for key, (audience, kpi_ids) in groups.items()]


@dataclass(frozen=True)
class _Task:
    config: Config
    results: engine.Results
    month: Month
    job: ReviewJob
    template_dir: Path | None
    notes: Notes
    split: bool  # lay a long review out in two processes (when it is the only document)


def _write_one(task: _Task) -> tuple[Path, list[str]]:
    view = build_view(task.config, task.results, task.month, kpi_ids=task.job.kpi_ids, audience=task.job.audience,
                      notes=task.notes)
    pdf, refused = pdf_bytes(view, template_dir=task.template_dir, base_dir=task.config.path.parent,
                             split=task.split)
    with atomic_path(task.job.path) as temporary:
        temporary.write_bytes(pdf)
    return task.job.path, refused


_batch: _Task | None = None  # in a worker process: what every document of the batch shares


def _start_worker(batch: _Task) -> None:
    global _batch  # one per worker process, set once as it starts
    _batch = batch
    # what the worker inherited (modules, config, results) lives as long as it does: kept out of the
    # collector's walks, each document's layout is collected alone (measured: 6 % less CPU a PDF)
    gc.freeze()


def _write_job(job: ReviewJob) -> tuple[Path, list[str]]:
    assert _batch is not None, "set by _start_worker"
    return _write_one(replace(_batch, job=job))


def review_results(config: Config, values: engine.MonthlyValues, month: Month, *,
                   partial: Mapping[Month, dt.date] | None = None,
                   rows: engine.RowCounts | None = None) -> engine.Results:
    """The engine's results for the trend window ending at `month`; refused when no KPI has a value
    that month (a review of empty cards helps nobody)."""
    results = engine.compute(config, values, month_range(month - (TREND_MONTHS - 1), month), partial=partial,
                             rows=rows)
    if not results.has_values(month):
        raise KpiReportError(f"no KPI has a value for {month}", file=str(config.path),
                             hint="choose a month with data (--month YYYY-MM); `kpireport validate` shows the "
                                  "months the data cover")
    return results


def write_reviews(results: engine.Results, month: Month, output: Path, *, per: str | None = None,
                  template_dir: Path | None = None, notes: Notes | None = None,
                  workers: int = 2, jobs: list[ReviewJob] | None = None) -> Iterator[tuple[Path, list[str]]]:
    """Write the review(s) of `month` from `review_results`, yielding each path as it is done (with its
    refused URLs): those `plan_jobs` gives for `per`, or `jobs`. Several documents are spread over
    `workers` processes, each reusing its parsed stylesheet; a single long one is laid out in two
    parts at once."""
    config = results.config
    jobs = plan_jobs(config, output, per) if jobs is None else jobs
    if not jobs:  # --per owner and no KPI has an owner
        return
    split = len(jobs) == 1 and workers > 1
    batch = _Task(config, results, month, jobs[0], template_dir, dict(notes or {}), split)
    if len(jobs) == 1 or workers <= 1:
        yield from (_write_one(replace(batch, job=job)) for job in jobs)
        return
    # The config and results go to each worker once, as it starts (inherited when forked), and each
    # document only as its job: pickled with every document, 1,000 KPIs' results were 2.5 MB and
    # 0.15 s of CPU each, 15 s for 100 owners.
    with ProcessPoolExecutor(max_workers=workers, initializer=_start_worker, initargs=(batch,)) as pool:
        yield from pool.map(_write_job, jobs)


def write_html(results: engine.Results, month: Month, path: Path, *, template_dir: Path | None = None,
               notes: Notes | None = None) -> Path:
    view = build_view(results.config, results, month, notes=notes)
    html = render_html(view, template_dir=template_dir)
    with atomic_path(path) as temporary:
        temporary.write_text(html, encoding="utf-8")
    return path


