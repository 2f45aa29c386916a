"""The PDF review read back as a person reads it: text extracted with pypdf holds every KPI's label,
formatted value, target and status, in French and in English; per-owner PDFs hold only their KPIs;
the funnel's figures are recomputed here from the CSV; templates can be overridden; remote URLs are
refused; a KPI without data says so instead of showing 0. The HTML review, opened in headless
Chromium, fits a desktop's and a phone's width."""

from __future__ import annotations

import base64
import csv
import dataclasses
import datetime as dt
import email
import email.policy
import io
import itertools
import json
import math
import os
import pickle
import re
import shutil
import subprocess
import unicodedata
from collections import defaultdict
from html import unescape
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from markupsafe import escape
from openpyxl import load_workbook
from pypdf import PdfReader

from kpireport import engine
from kpireport.charts import ProjectedPoint, TrendPoint, nice_ticks, sparkline_svg, trend_svg
from kpireport.cli import cli
from kpireport.config import load_config
from kpireport.errors import KpiReportError
from kpireport.locale import format_axis, format_values, text
from kpireport.months import Month, month_range
from kpireport.pdf import local_only_fetcher
from kpireport.presets import write_project
from kpireport.review import build_view, plan_jobs, render_html, safe_name
from kpireport.sources import load_data

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "example"
MONTH = Month(2026, 10)


def example_copy(tmp_path: Path) -> tuple[Path, dict]:
    """A copy of the bundled example to change: its config path and its config as data."""
    shutil.copytree(EXAMPLE, tmp_path / "project")
    path = tmp_path / "project" / "kpireport.yaml"
    return path, yaml.safe_load(path.read_text(encoding="utf-8"))


def save(path: Path, document: dict) -> None:
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")


def run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def pdf_text(path: Path) -> str:
    """The PDF's text, normalised as a reader sees it: ligatures split (NFKC) and every kind of space
    (no-break, narrow no-break) as a plain space."""
    raw = "\n".join(page.extract_text() for page in PdfReader(path).pages)
    return re.sub(r"[^\S\n]+", " ", unicodedata.normalize("NFKC", raw))


def spaced(text_: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text_))


@pytest.fixture(scope="module", params=["fr", "en"])
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The demo project in one locale, its October 2026 review rendered once, and its results."""
    locale = request.param
    folder = tmp_path_factory.mktemp(f"review-{locale}")
    write_project(folder / "project", "demo", locale, last_month=MONTH)
    config_path = folder / "project" / "kpireport.yaml"
    pdf = folder / "review.pdf"
    result = run("report", config_path, "--month", MONTH, "-o", pdf)
    assert result.exit_code == 0, result.output
    config = load_config(config_path)
    results = engine.compute(config, load_data(config).values)
    return locale, config, results, pdf_text(pdf)


def test_every_kpi_has_its_label_value_target_and_status_in_the_pdf(rendered) -> None:
    locale, config, results, content = rendered
    assert len(results.kpis) == 10
    for result in results.kpis:
        kpi, row = result.kpi, result.at(MONTH)
        assert row is not None
        assert row.value is not None
        label = spaced(kpi.label)
        value, target, _ = map(spaced, format_values([row.value, row.target, row.ytd], kpi.format, locale,
                                                     config.currency, kpi.unit))
        status = text(f"status.{row.status.value}", locale)
        # the overview table prints each KPI on one line: label, value, target, attainment, change, status
        # (the summary's sentences above it may start with the label and value too; a table line ends with the status)
        line = next((ln for ln in content.splitlines() if ln.startswith(label + " ") and value in ln
                     and ln.rstrip().endswith(status)), None)
        assert line is not None, f"{kpi.id}: no line with '{label}' and '{value}'"
        assert target in line, f"{kpi.id}: {line!r} lacks the target {target!r}"
        assert status in line, f"{kpi.id}: {line!r} lacks the status {status!r}"
    assert text("review.kind", locale).upper() in content.upper()
    assert ("octobre 2026" if locale == "fr" else "October 2026") in content.replace("Octobre", "octobre")


def test_values_in_the_pdf_match_a_hand_computation_from_the_csv(rendered) -> None:
    """The open rate and revenue of October 2026, recomputed from the raw files and formatted by hand."""
    locale, config, _, content = rendered
    data = config.path.parent / "data"
    opened = delivered = 0.0
    with (data / "daily-web-email.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["date"].startswith("2026-10"):
                opened += float(row["emails_opened"])
                delivered += float(row["emails_delivered"])
    rate = f"{100 * opened / delivered:.1f}"
    expected_rate = f"{rate.replace('.', ',')} %" if locale == "fr" else f"{rate}%"
    assert expected_rate in content
    with (data / "crm-monthly.csv").open(encoding="utf-8") as handle:
        revenue = next(float(r["value"]) for r in csv.DictReader(handle)
                       if r["month"] == "2026-10" and r["metric"] == "revenue")
    whole = f"{round(revenue):,}"
    expected_revenue = f"{whole.replace(',', ' ')} €" if locale == "fr" else f"€{whole}"
    assert expected_revenue in content


def test_summary_counts_and_sections(rendered) -> None:
    locale, config, results, content = rendered
    statuses = [r.at(MONTH).status.value for r in results.kpis]  # type: ignore[union-attr]
    assert text("review.kpis_count", locale, count=len(statuses)) in content
    for domain in {k.domain for k in config.kpis.values()}:
        assert spaced(domain) in content
    assert text("review.funnel", locale) in content


def test_funnel_rates_and_needed_volumes_recomputed_from_the_csv(rendered) -> None:
    """Efficy's reasoning: from the deals target, divide by each step's conversion to get what is needed."""
    locale, config, _, content = rendered
    monthly: dict[str, float] = defaultdict(float)
    for name in ("daily-web-email.csv", "crm-monthly.csv"):
        with (config.path.parent / "data" / name).open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if "date" in row and row["date"].startswith("2026-10"):
                    for key in ("leads", "mqls"):
                        monthly[key] += float(row[key])
                elif row.get("month") == "2026-10":
                    monthly[row["metric"]] = float(row["value"])
    stages = [monthly[s] for s in ("leads", "mqls", "opportunities_created", "deals_won")]
    target = yaml.safe_load(config.path.read_text(encoding="utf-8"))["funnel"]["target"]
    needed = [0.0, 0.0, 0.0, float(target)]
    for index in (3, 2, 1):
        rate = stages[index] / stages[index - 1]
        needed[index - 1] = math.ceil(round(needed[index] / rate, 9))  # whole leads, rounded up
    funnel_page = content.split(text("review.funnel", locale))[-1]
    stage_lines = [ln for ln in funnel_page.splitlines() if re.search(r"\d", ln)]
    for index, label in enumerate(("leads", "mqls", "opportunities_created", "deals_won")):
        line = next(ln for ln in stage_lines if ln.startswith(spaced(config.inputs[label].label) + " ")
                    and f" {int(stages[index])} " in f" {ln} ")
        assert re.search(rf" {int(needed[index])}( ▲)?$", line), line
        if index:
            rate = 100 * stages[index] / stages[index - 1]
            shown = f"{rate:.1f}".replace(".", ",") + " %" if locale == "fr" else f"{rate:.1f}%"
            assert shown in line, line


def test_per_owner_writes_one_pdf_each_with_only_their_kpis(tmp_path: Path) -> None:
    result = run("report", EXAMPLE / "kpireport.yaml", "--month", MONTH, "--per", "owner", "-o",
                 tmp_path / "review.pdf")
    assert result.exit_code == 0, result.output
    config = load_config(EXAMPLE / "kpireport.yaml")
    for owner_id, owner in config.owners.items():
        own = [k for k in config.kpis.values() if k.owner == owner_id]
        path = tmp_path / f"review-{safe_name(owner_id)}.pdf"
        assert own
        assert path.exists(), path
        content = pdf_text(path)
        assert owner.name in content
        for kpi in config.kpis.values():
            # a line of the overview table: the label, then its value
            in_table = any(re.match(re.escape(spaced(kpi.label)) + r" [\d—€]", ln) for ln in content.splitlines())
            assert in_table == (kpi.owner == owner_id), (owner_id, kpi.id)
    assert not (tmp_path / "review.pdf").exists()


def test_a_batch_sends_its_workers_the_results_once_not_with_every_document(tmp_path: Path) -> None:
    """Pickled with each of 100 documents, 1,000 KPIs' results cost 15 s of CPU: the workers get them
    once, as they start (forked: never pickled). Results that cannot be pickled show it; the PDFs are
    the same bytes as written one by one in this process."""
    import types

    from kpireport.pdf import can_split
    from kpireport.review import review_results, write_reviews

    if not can_split():
        pytest.skip("workers are forked only where fork exists")
    config = load_config(EXAMPLE / "kpireport.yaml")
    data = load_data(config)
    results = review_results(config, data.values, MONTH, rows=data.rows)
    unpicklable = dataclasses.replace(results, partial=types.MappingProxyType({}))
    with pytest.raises(TypeError):
        pickle.dumps(unpicklable)
    batch = list(write_reviews(unpicklable, MONTH, tmp_path / "two" / "review.pdf", per="owner", workers=2))
    alone = list(write_reviews(results, MONTH, tmp_path / "one" / "review.pdf", per="owner", workers=1))
    assert len(batch) == len(config.owners) > 2
    assert [path.read_bytes() for path, _ in batch] == [path.read_bytes() for path, _ in alone]


def test_owners_sharing_a_name_or_a_file_name_get_separate_reviews(tmp_path: Path) -> None:
    path, document = example_copy(tmp_path)
    document["owners"]["Sales"] = dict(document["owners"]["sales"])  # same name, ids differing by case
    document["kpis"]["win_rate"]["owner"] = "Sales"
    save(path, document)
    jobs = {job.path.name: job.kpi_ids for job in plan_jobs(load_config(path), tmp_path / "r.pdf", "owner")}
    assert jobs["r-sales.pdf"] == ["revenue"]
    assert jobs["r-sales-2.pdf"] == ["win_rate"]
    assert sum(len(ids or []) for ids in jobs.values()) == len(document["kpis"])


def test_per_domain_names_files_after_domains(tmp_path: Path) -> None:
    config = load_config(EXAMPLE / "kpireport.yaml")
    jobs = plan_jobs(config, tmp_path / "r.pdf", "domain")
    assert sorted(j.path.name for j in jobs) == sorted(f"r-{safe_name(d)}.pdf"
                                                       for d in {k.domain for k in config.kpis.values()})
    assert sum(len(j.kpi_ids or []) for j in jobs) == len(config.kpis)


def test_safe_name_never_escapes_the_folder() -> None:
    assert safe_name("../../etc/passwd") == "etc-passwd"
    assert safe_name("Équipe ventes / Nord") == "quipe-ventes-nord"
    assert safe_name("..") == "x"


def test_month_defaults_to_the_last_month_with_data(tmp_path: Path) -> None:
    result = run("report", EXAMPLE / "kpireport.yaml", "-o", tmp_path / "review.pdf")
    assert result.exit_code == 0, result.output
    assert "Octobre 2026" in pdf_text(tmp_path / "review.pdf")


def test_html_is_standalone_and_escaped(tmp_path: Path) -> None:
    path, document = example_copy(tmp_path)
    document["title"] = "Revue <script>alert(1)</script> & co"
    save(path, document)
    html = tmp_path / "review.html"
    result = run("report", path, "--month", MONTH, "-o", tmp_path / "review.pdf", "--html", html)
    assert result.exit_code == 0, result.output
    content = html.read_text(encoding="utf-8")
    assert "<style>" in content
    assert "@page" in content
    assert "<script>" not in content
    assert "&lt;script&gt;" in content
    # one trend chart and one sparkline (the summary's line) each
    assert content.count('<img class="trend"') == content.count('<img class="spark"') == len(document["kpis"])
    assert content.count("data:image/svg+xml;base64,") == 2 * len(document["kpis"])


def test_a_kpi_without_data_says_so_and_never_shows_zero(tmp_path: Path) -> None:
    config = load_config(EXAMPLE / "kpireport.yaml")
    values = {name: dict(series) for name, series in load_data(config).values.items()}
    del values["visits"][MONTH]  # visits, and with it the bounce rate, have no value this month
    results = engine.compute(config, values)
    view = build_view(config, results, MONTH)
    kpis = {k.id: k for s in view.sections for k in s.kpis}
    for kid in ("visits", "bounce_rate"):
        assert kpis[kid].value == "—"
        assert kpis[kid].status == "no_data"
        assert not kpis[kid].has_value
    assert set(view.without_data) == {kpis["visits"].label, kpis["bounce_rate"].label}
    assert view.counts["no_data"] == 2
    html = render_html(view)
    assert str(escape(text("review.no_data", "fr"))) in html


def test_owner_comments_from_notes_are_printed() -> None:
    config = load_config(EXAMPLE / "kpireport.yaml")
    results = engine.compute(config, load_data(config).values)
    notes = {"emails_opened": {MONTH: "Envoi du 12 retardé par le routeur", MONTH - 1: "Le mois d'avant"},
             "emails_delivered": {None: "Base nettoyée (note d'un classeur d'avant les notes par mois)"}}
    view = build_view(config, results, MONTH, notes=notes)
    open_rate = next(k for s in view.sections for k in s.kpis if k.id == "open_rate")
    # only the reviewed month's notes, and a note about every month
    assert open_rate.comments == ["Base nettoyée (note d'un classeur d'avant les notes par mois)",
                                  "Envoi du 12 retardé par le routeur"]
    assert "Envoi du 12 retardé par le routeur" in render_html(view)
    assert "Le mois d'avant" not in render_html(view)
    earlier = build_view(config, results, MONTH - 1, notes=notes)
    assert next(k for s in earlier.sections for k in s.kpis if k.id == "open_rate").comments[1] == "Le mois d'avant"


def test_template_dir_overrides_one_block_and_keeps_the_others(tmp_path: Path) -> None:
    custom = tmp_path / "mine" / "review"
    custom.mkdir(parents=True)
    (custom / "cover.html").write_text('<header class="cover"><h1>Cover of ACME — {{ view.month }}</h1></header>',
                                       encoding="utf-8")
    pdf = tmp_path / "review.pdf"
    result = run("report", EXAMPLE / "kpireport.yaml", "--month", MONTH, "-o", pdf, "--template-dir",
                 tmp_path / "mine")
    assert result.exit_code == 0, result.output
    content = pdf_text(pdf)
    assert "Cover of ACME — octobre 2026" in content
    assert "Synthèse" in content  # the summary block still comes from the built-in templates


EARLIER_BASE = """<!DOCTYPE html>
<html lang="{{ view.locale }}">
<head><meta charset="utf-8"><title>{{ view.title }}</title></head>
<body class="{{ 'one-section' if view.sections | length == 1 }}">
  {% include "review/cover.html" %}
  {% include "review/summary.html" %}
  {% for section in view.sections %}{% include "review/section.html" %}{% endfor %}
  {% if view.funnel %}{% include "review/funnel.html" %}{% endif %}
</body>
</html>
"""


def test_a_base_layout_copied_from_an_earlier_version_still_shows_the_running_title(tmp_path: Path) -> None:
    """base.html as kpireport shipped it before long reviews came in parts (no `part`, no data-title
    on body): the footer's title then comes from the cover's heading, as it used to."""
    custom = tmp_path / "mine" / "review"
    custom.mkdir(parents=True)
    (custom / "base.html").write_text(EARLIER_BASE, encoding="utf-8")
    pdf = tmp_path / "review.pdf"
    result = run("report", EXAMPLE / "kpireport.yaml", "--month", MONTH, "-o", pdf, "--template-dir",
                 tmp_path / "mine")
    assert result.exit_code == 0, result.output
    pages = [spaced(page.extract_text()) for page in PdfReader(pdf).pages]
    title = spaced(load_config(EXAMPLE / "kpireport.yaml").title)
    for number, content in enumerate(pages[1:], start=2):
        assert f"{title} Page {number} / {len(pages)}" in content, f"page {number}"


def test_a_broken_template_is_a_clear_error_and_writes_nothing(tmp_path: Path) -> None:
    custom = tmp_path / "mine" / "review"
    custom.mkdir(parents=True)
    (custom / "kpi.html").write_text("<p>{{ kpi.label }</p>", encoding="utf-8")
    pdf = tmp_path / "review.pdf"
    result = run("report", EXAMPLE / "kpireport.yaml", "--month", MONTH, "-o", pdf, "--template-dir",
                 tmp_path / "mine")
    assert result.exit_code == 2
    assert "kpi.html" in result.output
    assert "Traceback" not in result.output
    assert not pdf.exists()
    assert not list(tmp_path.glob("*.pdf*"))


def test_remote_urls_in_templates_are_refused_and_reported(tmp_path: Path) -> None:
    custom = tmp_path / "mine" / "review"
    custom.mkdir(parents=True)
    (custom / "cover.html").write_text(
        '<header class="cover"><img src="https://example.com/pixel.png"><img src="file:///etc/hostname">'
        '<h1>{{ view.title }}</h1></header>', encoding="utf-8")
    pdf = tmp_path / "review.pdf"
    result = run("report", EXAMPLE / "kpireport.yaml", "--month", MONTH, "-o", pdf, "--template-dir",
                 tmp_path / "mine")
    assert result.exit_code == 0, result.output
    assert "https://example.com/pixel.png" in result.output
    assert "file:///etc/hostname" in result.output
    assert pdf.exists()


def test_local_only_fetcher_allows_files_under_its_roots_only(tmp_path: Path) -> None:
    inside = tmp_path / "logo.svg"
    inside.write_text('<svg xmlns="http://www.w3.org/2000/svg"/>', encoding="utf-8")
    fetcher = local_only_fetcher([tmp_path])
    assert fetcher(inside.as_uri())
    for url in ("http://example.com/a.png", (tmp_path.parent / "x.png").as_uri(),
                (tmp_path / ".." / "escape.png").as_uri(), "ftp://host/file"):
        with pytest.raises(ValueError, match="local files only"):
            fetcher(url)
    assert len(fetcher.refused) == 4


def test_logo_and_colour_from_the_config(tmp_path: Path) -> None:
    path, document = example_copy(tmp_path)
    project = path.parent
    (project / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20">'
                                      '<rect width="40" height="20" fill="#ff0000"/></svg>', encoding="utf-8")
    document["review"] = {"logo": "logo.svg", "colour": "#6A1B9A"}
    save(path, document)
    html = tmp_path / "r.html"
    result = run("report", path, "--month", MONTH, "-o", tmp_path / "r.pdf", "--html", html)
    assert result.exit_code == 0, result.output
    assert "not loaded" not in result.output  # the logo is a local file beside the config
    content = html.read_text(encoding="utf-8")
    assert (project / "logo.svg").resolve().as_uri() in content
    assert "#6A1B9A" in content


def test_bad_colour_is_a_config_error(tmp_path: Path) -> None:
    path, document = example_copy(tmp_path)
    document["review"] = {"colour": "blue"}
    save(path, document)
    with pytest.raises(KpiReportError) as caught:
        load_config(path)
    assert "review.colour" in str(caught.value)


def test_no_data_at_all_is_a_clear_error(tmp_path: Path) -> None:
    path, document = example_copy(tmp_path)
    document["sources"] = []
    save(path, document)
    result = run("report", path, "-o", tmp_path / "r.pdf")
    assert result.exit_code == 2
    assert "no data" in result.output


# --- charts ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("low", "high"), [(0, 1), (0.21, 0.26), (4000, 5600), (-3, 7), (5, 5), (0, 0.031)])
def test_nice_ticks_cover_the_range_with_round_steps(low: float, high: float) -> None:
    ticks = nice_ticks(low, high)
    assert ticks[0] <= low
    assert ticks[-1] >= high
    assert 2 <= len(ticks) <= 6
    steps = {round(b - a, 12) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1


def test_a_missing_month_breaks_the_line_instead_of_dropping_to_zero() -> None:
    months = [Month(2026, m) for m in range(1, 6)]
    values = [10.0, 12.0, None, 11.0, 13.0]
    svg = trend_svg([TrendPoint(m, v, 12.0) for m, v in zip(months, values, strict=True)], status="on",
                    value_label=str, month_label=str)
    value_lines = [p for p in re.findall(r'<polyline points="([^"]+)"[^>]*stroke="#1F4E78"', svg)]
    assert [len(p.split()) for p in value_lines] == [2, 2]
    assert svg.count('stroke-dasharray="4 3"') == 1  # one target line


def test_no_data_at_all_gives_no_chart() -> None:
    assert trend_svg([TrendPoint(Month(2026, 1), None, None)], status="no_data", value_label=str,
                     month_label=str) == ""


def test_small_wobbles_are_not_zoomed_into_a_trend() -> None:
    """A click rate moving between 3.00 % and 3.10 % is drawn on an axis spanning at least 20 % of
    its size (2.5–3.5 %), not 3.00–3.10 %."""
    points = [TrendPoint(Month(2026, m), 0.030 + 0.0005 * (m % 3), 0.031) for m in range(1, 13)]
    svg = trend_svg(points, status="on", value_label=str, month_label=str)
    ticks = [float(t) for t in re.findall(r'text-anchor="end" fill="#616161">([^<]+)<', svg)]
    assert ticks[-1] - ticks[0] >= 0.2 * 0.031
    assert ticks[0] <= 0.030
    assert ticks[-1] >= 0.031


@pytest.mark.parametrize(("value", "fmt", "step", "french", "english"), [
    (0.325, "percent", 0.025, "32,5 %", "32.5%"),  # a 2.5-point step needs its decimal
    (0.26, "percent", 0.01, "26 %", "26%"),
    (0.0325, "percent", 0.0025, "3,25 %", "3.25%"),
    (5500, "currency", 500, "5,5 k €", "€5.5K"),
    (14000, "number", 2000, "14 k", "14K"),
    (1_500_000, "currency", 500_000, "1,5 M €", "€1.5M"),
    (2.5, "number", 0.5, "2,5", "2.5"),
])
def test_axis_labels_are_short_and_exact(value: float, fmt: str, step: float, french: str, english: str) -> None:
    assert spaced(format_axis(value, fmt, "fr", "EUR", step)) == french  # type: ignore[arg-type]
    assert spaced(format_axis(value, fmt, "en", "EUR", step)) == english  # type: ignore[arg-type]


def test_sections_per_owner_when_the_config_asks(tmp_path: Path) -> None:
    path, document = example_copy(tmp_path)
    document["review"] = {"sections": "owner"}
    document["kpis"]["win_rate"].pop("owner")
    save(path, document)
    config = load_config(path)
    view = build_view(config, engine.compute(config, load_data(config).values), MONTH)
    titles = {section.title: [k.id for k in section.kpis] for section in view.sections}
    assert titles["Lucas Moreau"] == ["revenue"]
    assert titles["Sans responsable"] == ["win_rate"]
    assert titles[config.owners["email"].name] == ["open_rate", "click_rate"]


def _daily_export_cut(tmp_path: Path, keep) -> Path:  # type: ignore[no-untyped-def]
    """The bundled example whose daily export keeps only the rows `keep(date)` accepts."""
    path, _ = example_copy(tmp_path)
    daily = path.parent / "data" / "daily-web-email.csv"
    lines = daily.read_text(encoding="utf-8").splitlines()
    daily.write_text("\n".join([lines[0], *(line for line in lines[1:]
                                            if keep(dt.date.fromisoformat(line.split(",")[0])))]) + "\n",
                     encoding="utf-8")
    return path


def test_a_month_whose_daily_data_stop_on_the_28th_is_partial_and_not_reviewed_by_default(tmp_path: Path) -> None:
    path = _daily_export_cut(tmp_path, lambda day: day <= dt.date(2026, 10, 28))
    computed = run("compute", path, "--format", "csv")
    complete = {(row["kpi"], row["month"]): row["complete"] for row in csv.DictReader(io.StringIO(computed.stdout))}
    assert complete[("visits", "2026-10")] == "false"
    assert complete[("revenue", "2026-10")] == "false"  # the month is partial, whichever file a KPI reads
    assert complete[("visits", "2026-09")] == "true"
    assert "(2026-10 partial: data up to 2026-10-28)" in run("validate", path).output
    # by default the review is of September, and says why
    result = run("report", path, "-o", tmp_path / "default.pdf")
    assert result.exit_code == 0, result.output
    assert "2026-10 is partial (data up to 2026-10-28): not reviewed by default" in result.output
    cover = pdf_text(tmp_path / "default.pdf").split("\n", 8)
    assert any("Septembre 2026" in line for line in cover)
    assert "partielles" not in pdf_text(tmp_path / "default.pdf")
    # asked for explicitly, October is reviewed with the warning on its cover
    assert run("report", path, "--month", "2026-10", "-o", tmp_path / "october.pdf").exit_code == 0
    assert "Données partielles au 28 octobre" in pdf_text(tmp_path / "october.pdf")


def crm_ahead(config: Path) -> tuple[Path, Path]:
    """The example's monthly CRM export gets November (October's rows again) while the daily export still stops on
    31 October; its two data files."""
    data = config.parent / "data"
    crm = data / "crm-monthly.csv"
    october = [line for line in crm.read_text(encoding="utf-8").splitlines() if line.startswith("2026-10,")]
    with crm.open("a", encoding="utf-8") as export:
        export.write("".join(f"2026-11,{line.split(',', 1)[1]}\n" for line in october))
    return crm, data / "daily-web-email.csv"


def test_a_month_one_file_has_and_another_still_delivering_lacks_is_not_reviewed_by_default(tmp_path: Path) -> None:
    """The CRM export already had November, the daily one not yet: the default review was of November, with the web
    and e-mail KPIs "no data" and a summary saying nothing was wrong."""
    path, _ = example_copy(tmp_path)
    crm, daily = crm_ahead(path)
    result = run("report", path, "-o", tmp_path / "review.pdf")
    assert result.exit_code == 0, result.output
    assert f"warning: 2026-11 has data in {crm} but not yet in {daily} (whose KPIs would show no data): not " \
           "reviewed by default; give --month 2026-11 to review it anyway" in result.output
    assert any("Octobre 2026" in line for line in pdf_text(tmp_path / "review.pdf").splitlines()[:8])  # the cover
    assert f"data from 2024-11 to 2026-11 (2026-11: not yet in {daily})" in run("validate", path).output
    assert run("template", path, "-o", tmp_path / "kpi.xlsx").exit_code == 0  # the dashboard opens on it too
    assert Month.of(load_workbook(tmp_path / "kpi.xlsx")["Tableau de bord"]["B3"].value) == Month(2026, 10)
    # a file that stopped long ago no longer delivers: it holds nothing back
    stopped = _daily_export_cut(tmp_path / "stopped", lambda day: day <= dt.date(2026, 8, 31))
    crm_ahead(stopped)
    result = run("report", stopped, "-o", tmp_path / "stopped.pdf")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    assert any("Novembre 2026" in line for line in pdf_text(tmp_path / "stopped.pdf").splitlines()[:8])


def test_a_value_dated_after_this_month_is_warned_about_and_never_the_month_reviewed_by_default(
        tmp_path: Path) -> None:
    """One figure typed in a month ahead (or a wrong year in an export) made it the review's month: a
    review of 10 KPIs "without data" that said nothing was wrong."""
    path, _ = example_copy(tmp_path)
    with (path.parent / "data" / "crm-monthly.csv").open("a", encoding="utf-8") as export:
        export.write("2099-03,revenue,1000\n")
    for command in ("validate", "compute"):
        result = run(command, path)
        assert result.exit_code == 0, result.output
        assert "1 value dated after the current month" in result.output
        assert "'revenue' for 2099-03 first" in result.output
        assert "crm-monthly.csv" in result.output
    result = run("report", path, "-o", tmp_path / "review.pdf")
    assert result.exit_code == 0, result.output
    assert "Octobre 2026" in pdf_text(tmp_path / "review.pdf")  # the example's last month, as without it
    assert run("report", path, "--month", "2099-03", "-o", tmp_path / "ahead.pdf").exit_code == 0  # if asked


def test_a_weekdays_only_export_ending_on_the_last_friday_is_complete(tmp_path: Path) -> None:
    # 31 October 2026 is a Saturday: an export without weekends has nothing more to give for October
    path = _daily_export_cut(tmp_path, lambda day: day.isoweekday() <= 5 and day <= dt.date(2026, 10, 30))
    computed = run("compute", path, "--month", "2026-10", "--format", "csv")
    assert {row["complete"] for row in csv.DictReader(io.StringIO(computed.stdout))} == {"true"}
    cut_on_thursday = _daily_export_cut(tmp_path / "thursday",
                                        lambda day: day.isoweekday() <= 5 and day <= dt.date(2026, 10, 29))
    assert "(2026-10 partial: data up to 2026-10-29)" in run("validate", cut_on_thursday).output


def test_a_review_of_a_month_without_any_value_is_refused(tmp_path: Path) -> None:
    for command in ("report", "send"):
        extra = ["-o", tmp_path / "review.pdf"] if command == "report" else ["--dry-run", tmp_path / "mail"]
        result = run(command, EXAMPLE / "kpireport.yaml", "--month", "2020-01", *extra)
        assert result.exit_code == 2, result.output
        assert "no KPI has a value for 2020-01" in result.output
    assert not (tmp_path / "review.pdf").exists()
    assert not (tmp_path / "mail").exists() or not any((tmp_path / "mail").iterdir())


def test_the_template_dashboard_opens_on_the_last_complete_month(tmp_path: Path) -> None:
    path = _daily_export_cut(tmp_path, lambda day: day <= dt.date(2026, 10, 28))
    workbook_path = tmp_path / "kpi.xlsx"
    assert run("template", path, "-o", workbook_path).exit_code == 0
    shown = load_workbook(workbook_path)["Tableau de bord"]["B3"].value
    assert Month.of(shown) == Month(2026, 9)


def test_rates_change_in_points_and_print_enough_digits_to_differ(tmp_path: Path) -> None:
    """0,23 % against a target of 0,21 % (not 0,2 % twice); a rate's change in points, coloured the
    right way round for a lower-is-better rate."""
    (tmp_path / "data.csv").write_text("date,signups,visits,bounces\n2026-09-01,20,10000,4500\n"
                                       "2026-10-01,23,10000,4200\n", encoding="utf-8")
    config = tmp_path / "kpireport.yaml"
    config.write_text(
        "title: Taux\nowners: {web: {name: Web, email: web@example.com}}\n"
        "smtp: {host: localhost, from: kpi@example.com}\n"
        "inputs: {signups: {}, visits: {}, bounces: {}}\n"
        "kpis:\n  signup_rate: {formula: signups / visits, format: percent, target: 0.0021, owner: web}\n"
        "  bounce: {formula: bounces / visits, format: percent, direction: down, target: 0.35, owner: web}\n"
        "sources: [{path: data.csv}]\n", encoding="utf-8")
    html = tmp_path / "review.html"
    assert run("report", config, "--month", "2026-10", "-o", tmp_path / "r.pdf", "--html", html).exit_code == 0
    page = spaced(re.sub(r"<[^>]+>", " ", html.read_text(encoding="utf-8")))
    assert "0,23 %" in page
    assert "0,21 %" in page
    assert "▲ +0,03 pts" in page  # 0.20 % -> 0.23 %: +0.03 points (+15 % relative is not what people read)
    assert "▼ \u22123,0 pts" in page  # 45 % -> 42 %, with a real minus sign
    assert re.search(r'tone-good"><span>[^<]*</span> ▼ \u22123,0\xa0pts', html.read_text(encoding="utf-8"))
    charts = [base64.b64decode(data).decode() for data in
              re.findall(r'<img class="trend" alt="[^"]*" src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)',
                         html.read_text(encoding="utf-8"))]
    assert "0,23" in charts[0]  # the chart labels the month as the card prints it, not 0,2 %
    computed = {row["kpi"]: row for row in csv.DictReader(io.StringIO(
        run("compute", config, "--month", "2026-10").stdout))}
    assert float(computed["bounce"]["change_mom_pts"]) == pytest.approx(42 - 45)
    assert float(computed["bounce"]["change_mom"]) == pytest.approx((0.42 - 0.45) / 0.45)  # stays relative
    assert float(computed["signup_rate"]["change_mom_pts"]) == pytest.approx(0.23 - 0.20)
    assert run("send", config, "--month", "2026-10", "--dry-run", tmp_path / "mail").exit_code == 0
    [eml] = (tmp_path / "mail").glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    body = spaced(message.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    assert "Bounce : 42,0 % pour une cible de 35,0 % (▼ \u22123,0 pts vs M-1)" in body
# --- improvements and declines, the right way round ------------------------------------------------------

MOVES = """\
title: Moves
locale: en
inputs:
  cost: {aggregate: sum}
  churned: {aggregate: sum}
  visits: {aggregate: sum}
  leads: {aggregate: sum}
  calls: {aggregate: sum}
kpis:
  cost_kpi: {label: Cost, formula: cost, direction: down, target: 45}
  churn: {label: Churn, formula: churned, direction: down, target: 10}
  traffic: {label: Traffic, formula: visits, target: 1000}
  lead_kpi: {label: Leads, formula: leads, target: 100}
  call_kpi: {label: Calls, formula: calls, target: 10}
"""


def test_a_fall_of_a_lower_is_better_kpi_is_an_improvement_coloured_good(tmp_path: Path) -> None:
    """September → October: the cost falls 50 → 40 (−20 %: good news), churn rises 10 → 12 (+20 %: bad),
    traffic falls 1000 → 900 (−10 %: bad), leads rise 100 → 105 (+5 %: good), calls stay at 10."""
    path = tmp_path / "kpireport.yaml"
    path.write_text(MOVES, encoding="utf-8")
    config = load_config(path)
    september, october = MONTH - 1, MONTH
    values = {"cost": {september: 50.0, october: 40.0}, "churned": {september: 10.0, october: 12.0},
              "visits": {september: 1000.0, october: 900.0}, "leads": {september: 100.0, october: 105.0},
              "calls": {september: 10.0, october: 10.0}}
    view = build_view(config, engine.compute(config, values), MONTH)
    # the best news first, the worst first
    assert [label for label, _ in view.improvements] == ["Cost", "Leads"]
    assert [label for label, _ in view.declines] == ["Churn", "Traffic"]
    assert dict(view.improvements)["Cost"] == "▼ \u221220.0%"  # the arrow shows the way it moved
    assert dict(view.declines)["Churn"] == "▲ +20.0%"
    tones = {k.label: k.change_mom_tone for s in view.sections for k in s.kpis}
    assert tones == {"Cost": "good", "Churn": "bad", "Traffic": "bad", "Leads": "good", "Calls": "flat"}
    html = render_html(view)
    good = re.search(r'<ul class="moves good">(.*?)</ul>', html, re.DOTALL).group(1)  # type: ignore[union-attr]
    bad = re.search(r'<ul class="moves bad">(.*?)</ul>', html, re.DOTALL).group(1)  # type: ignore[union-attr]
    assert re.findall(r"<span>([^<]+)</span>", good) == ["Cost", "Leads"]
    assert re.findall(r"<span>([^<]+)</span>", bad) == ["Churn", "Traffic"]
    for label, tone in tones.items():  # the overview table's change column
        assert re.search(rf"<td>{label}</td>(?:(?!</tr>).)*tone-{tone}", html, re.DOTALL), label
    # and good is green, bad red, as the "on" and "off" badges are
    def colour(selector: str) -> str:
        return re.search(re.escape(selector) + r"\s*\{[^}]*?\bcolor:\s*(#[0-9A-Fa-f]{6})", html).group(1).upper()  # type: ignore[union-attr]

    assert colour(".moves.good b") == colour(".tone-good") == colour(".badge.status-on") == "#2E7D32"
    assert colour(".moves.bad b") == colour(".tone-bad") == colour(".badge.status-off") == "#C62828"


def _many_kpis(folder: Path, count: int) -> Path:
    """A project of `count` KPIs over three inputs and 14 months, in two domains, a third off track."""
    kpis = {}
    for index in range(count):
        kpi = {"formula": ["visits / 10", "leads * 1.5", "visits / leads"][index % 3], "label": f"Metric {index:03d}",
               "domain": f"Area {index % 2}", "target": [1.0, 1e6, 150.0][index % 3]}
        kpis[f"k{index:03d}"] = kpi
    folder.mkdir()
    save(folder / "kpireport.yaml", {"title": "Many", "locale": "en", "inputs": {"visits": {}, "leads": {}},
                                     "kpis": kpis, "sources": [{"path": "data.csv"}]})
    months = [Month(2025, 9) + offset for offset in range(14)]
    (folder / "data.csv").write_text("date,visits,leads\n" + "".join(
        f"{m},{1000 + 37 * i},{20 + i}\n" for i, m in enumerate(months)), encoding="utf-8")
    return folder / "kpireport.yaml"


def test_a_review_of_many_kpis_lists_each_on_one_line_with_its_computed_value(tmp_path: Path) -> None:
    """Past COMPACT_ABOVE KPIs a review is tables, one line per KPI (no charts), each line holding the
    value `compute` gives, formatted, and its target and status; the summary lists those off track."""
    from kpireport.review import COMPACT_ABOVE

    config_path = _many_kpis(tmp_path / "project", COMPACT_ABOVE + 10)
    computed = run("compute", config_path, "--month", "2026-10")
    assert computed.exit_code == 0, computed.output
    rows = list(csv.DictReader(io.StringIO(computed.output)))
    assert len(rows) == COMPACT_ABOVE + 10
    pdf = tmp_path / "review.pdf"
    result = run("report", config_path, "--month", "2026-10", "-o", pdf)
    assert result.exit_code == 0, result.output
    content = pdf_text(pdf)
    lines = content.splitlines()
    assert not any(page.images for page in PdfReader(pdf).pages)  # no chart
    for row in rows:
        value, target = map(spaced, format_values([float(row["value"]), float(row["target"])], row["format"], "en",
                                                  "EUR", None))
        status = text(f"status.{row['status']}", "en")
        found = [ln for ln in lines if ln.startswith(row["label"] + " ")]
        assert found, f"no line for {row['label']}"
        line = found[-1]  # its section's line (an off-track KPI is listed in the summary first)
        for shown in (value, target, status):
            assert shown in line, f"{row['label']}: {line!r} lacks {shown!r}"
    off = [row["label"] for row in rows if row["status"] == "off"]
    assert off
    assert f"{text('review.off_track', 'en')} ({len(off)})" in content
    summary, sections = content.split("\nArea 0\n", 1)  # the first section's title ends the summary
    assert "\nArea 1\n" in sections
    assert all(f"\n{label} " in summary for label in off)  # all of them: fewer than OFF_TRACK_SHOWN
    assert text("review.chart_legend", "en") not in content


def test_a_review_of_compact_above_kpis_still_shows_a_card_with_a_chart_each(tmp_path: Path) -> None:
    from kpireport.review import COMPACT_ABOVE

    config_path = _many_kpis(tmp_path / "project", COMPACT_ABOVE)
    config = load_config(config_path)
    results = engine.compute(config, load_data(config).values)
    view = build_view(config, results, Month(2026, 10))
    assert not view.compact
    assert all(kpi.chart for section in view.sections for kpi in section.kpis)
    assert 'class="kpi status-' in render_html(view)


def test_a_long_reviews_summary_lists_the_kpis_furthest_from_target_first(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from kpireport import review

    monkeypatch.setattr(review, "OFF_TRACK_SHOWN", 5)
    config_path = _many_kpis(tmp_path / "project", review.COMPACT_ABOVE + 10)
    config = load_config(config_path)
    results = engine.compute(config, load_data(config).values)
    view = build_view(config, results, Month(2026, 10))
    off = sorted((row.attainment, result.kpi.label) for result in results.kpis
                 if (row := result.at(Month(2026, 10))) and row.status == engine.Status.OFF)
    assert len(off) > 5
    assert [kpi.label for kpi in view.off_track] == [label for _, label in off[:5]]
    assert f"({len(off)}; the 5 furthest from target)" in spaced(render_html(view))


# --- the HTML review in a browser ------------------------------------------------------------------------

BROWSER = ["--headless", "--disable-gpu", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync"]
# The review in a frame of the width to check (a headless window is at least 500 px wide, so the
# window itself cannot be a phone's), measured once loaded by a script that writes what it found
# into the page, which --dump-dom prints.
MEASURE = """<!DOCTYPE html>
<body style="margin: 0">
<iframe id="review" width="{width}" height="{height}" style="border: 0" srcdoc="{review}"></iframe>
<script>
const topOf = (element, selector) => element.querySelector(selector).getBoundingClientRect().top;
document.getElementById("review").addEventListener("load", event => {{
  const page = event.target.contentDocument, root = page.documentElement, body = page.body.getBoundingClientRect();
  const found = document.createElement("pre");
  found.id = "measured";
  found.textContent = JSON.stringify({{scrollWidth: root.scrollWidth, clientWidth: root.clientWidth,
    left: body.left, right: root.clientWidth - body.right,
    header: page.querySelector("header.cover").getBoundingClientRect().height,
    statusBelowLabel: [...page.querySelectorAll(".line")].filter(line => line.querySelector(".state")
      && topOf(line, ".state") > topOf(line, ".label") + 1).length}});
  document.body.append(found);
}});
</script>
</body>"""


def measured_in_chromium(html: str, width: int, height: int, folder: Path) -> dict:
    """The review's widths (the page's, the window's), its body's margins, its header's height and how
    many of a long review's lines have their status pushed below their label, as Chromium lays it out
    `width` x `height` px."""
    chromium = shutil.which("chromium")
    assert chromium, "Chromium is missing: `./dev test` installs it (Debian's chromium package)"
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / "measure.html"
    page.write_text(MEASURE.format(width=width, height=height, review=escape(html)), encoding="utf-8")
    as_root = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium refuses to run as root in its sandbox
    done = subprocess.run([chromium, *BROWSER, *as_root, f"--user-data-dir={folder / 'profile'}",
                           f"--window-size={width + 100},{height + 100}", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120, check=False)
    found = re.search(r'<pre id="measured">(.*?)</pre>', done.stdout, re.DOTALL)
    assert found, f"Chromium measured nothing (exit {done.returncode}): {done.stderr[-2000:]}"
    return json.loads(unescape(found.group(1)))


@pytest.mark.parametrize("long", [False, True], ids=["cards", "lines"])
@pytest.mark.parametrize("width", [1280, 768, 390])  # a desktop, a tablet, a phone
def test_the_html_review_fits_a_desktop_and_a_phone_without_scrolling_sideways(tmp_path: Path, width: int,
                                                                                long: bool) -> None:
    """In a browser the review is a centred column under a compact header, and on a tablet or a phone
    (390 px) no line, table or chart is wider than the screen, long labels included: in cards (the demo) and in
    lines (a long review)."""
    from kpireport.review import COMPACT_ABOVE

    config_path = _many_kpis(tmp_path / "project", COMPACT_ABOVE + 10) if long else EXAMPLE / "kpireport.yaml"
    config = load_config(config_path)
    view = build_view(config, engine.compute(config, load_data(config).values), MONTH)
    assert view.compact == long
    view.sections[0].kpis[0].label = "Coût d'acquisition d'un client, canaux payants hors salons professionnels"
    found = measured_in_chromium(render_html(view), width, 800, tmp_path / "browser")
    assert width - 20 <= found["clientWidth"] <= width  # the frame's width, less a scroll bar
    assert found["scrollWidth"] <= found["clientWidth"], f"wider than the window at {width} px: {found}"
    assert found["header"] <= 0.4 * 800, f"a header of {found['header']} px, not the printed cover page"
    assert found["statusBelowLabel"] == 0  # a line too wide for the column wraps its last figures under it
    if width == 1280:  # a centred column, not edge to edge
        assert found["left"] > 100
        assert found["left"] == pytest.approx(found["right"], abs=1)


# --- page 1: the cover and the summary; the sections flow; the funnel's bars; the charts' projection -----------

YEARLY = {"revenue": {"year": 4_000_000, "split": "seasonal"}, "win_rate": {"year": 0.35}}


@pytest.fixture(scope="module", params=["fr", "en"])
def with_yearly_targets(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The demo with yearly targets on revenue (a sum, split by season) and win rate (a rate), its
    October 2026 review as PDF and HTML, and the engine's results computed here."""
    locale = request.param
    folder = tmp_path_factory.mktemp(f"yearly-{locale}")
    write_project(folder / "project", "demo", locale, last_month=MONTH)
    path = folder / "project" / "kpireport.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    for kpi_id, target in YEARLY.items():
        document["kpis"][kpi_id]["target"] = target
    save(path, document)
    pdf, html = folder / "review.pdf", folder / "review.html"
    result = run("report", path, "--month", MONTH, "-o", pdf, "--html", html)
    assert result.exit_code == 0, result.output
    config = load_config(path)
    results = engine.compute(config, load_data(config).values)
    return locale, config, results, pdf, html.read_text(encoding="utf-8")


def _change_as_read(row: engine.KpiMonth, fmt: str, locale: str) -> str:
    """The change vs last month as a reader sees it: a rate's in points, else relative, with its arrow."""
    from kpireport.locale import format_percent, format_points

    points = fmt == "percent"
    change = row.change_mom_pts if points else row.change_mom
    assert change is not None
    shown = format_points(change, locale) if points else format_percent(change, locale, sign=True)
    shown = shown.replace("-", "\u2212")  # a real minus sign
    return spaced(f"{'▲' if change > 0 else '▼'} {shown}")


def test_page_one_holds_the_counts_the_sentences_and_a_line_per_kpi_with_its_year_end(with_yearly_targets) -> None:
    """Page 1 is the cover and the summary: the title, the month, the counts, the summary's sentences,
    and one line per KPI, each holding the engine's actual, target, attainment, change, year-end
    projection (for the KPIs with a yearly target) and status, as formatted here from `compute`'s
    numbers."""
    from kpireport.locale import distinct_extra, format_attainment, format_value
    from kpireport.summary import summary

    locale, config, results, pdf, _ = with_yearly_targets
    page = spaced(PdfReader(pdf).pages[0].extract_text())  # a label too long for its column wraps: one line again
    assert config.title in page
    assert ("octobre 2026" if locale == "fr" else "October 2026") in page.replace("Octobre", "octobre")
    for sentence in summary(results, MONTH).sentences:
        assert spaced(sentence)[:60] in page  # the sentences, at the head of the page
    statuses = [r.at(MONTH).status.value for r in results.kpis]  # type: ignore[union-attr]
    for status in ("on", "watch", "off"):
        assert f"{statuses.count(status)} {text(f'status.{status}', locale)}" in page
    projected = 0
    for result in results.kpis:
        kpi, row = result.kpi, result.at(MONTH)
        assert row is not None
        assert row.value is not None
        assert row.attainment is not None
        shown = [row.value, row.target, row.ytd]  # printed alike, with the decimals that tell them apart
        value, target, _ = map(spaced, format_values(shown, kpi.format, locale, config.currency, kpi.unit))
        start = page.find(f"{spaced(kpi.label)} {value} ")
        assert start >= 0, f"{kpi.id}: no line on page 1 for {kpi.label!r} {value!r}"
        status = text(f"status.{row.status.value}", locale)
        line = page[start:page.index(status, start) + len(status)]
        assert len(line) < len(kpi.label) + 90, f"{kpi.id}: {line!r} runs on into other lines"
        figures = [target, spaced(format_attainment(row.attainment, kpi.tolerance, locale)),
                   _change_as_read(row, kpi.format, locale)]
        if kpi.id in YEARLY:
            assert row.year_end is not None
            assert row.year_end.value is not None
            extra = distinct_extra(shown, kpi.format, locale, config.currency, kpi.unit)
            year_end = format_value(row.year_end.value, kpi.format, locale, config.currency, kpi.unit, extra=extra)
            symbol = {"likely": "●", "possible": "◐", "unlikely": "○"}[row.year_end.outlook]  # type: ignore[index]
            figures.append(f"{symbol} {spaced(year_end)}")
            projected += 1
        else:
            assert row.year_end is None
        for figure in figures:
            assert figure in line, f"{kpi.id}: {line!r} lacks {figure!r}"
    assert projected == len(YEARLY)
    assert text("review.year_end", locale) in page


def test_each_summary_line_has_a_sparkline_of_the_last_twelve_months(with_yearly_targets) -> None:
    _, _, results, _, html = with_yearly_targets
    sparks = [base64.b64decode(data).decode() for data in
              re.findall(r'<img class="spark" alt="[^"]*" src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)', html)]
    assert len(sparks) == len(results.kpis)
    for svg in sparks:  # every month of the twelve has a value: one line of twelve points
        (points,) = re.findall(r'<polyline points="([^"]+)"', svg)
        assert len(points.split()) == 12


def _charts(html: str) -> dict[str, str]:
    """Each KPI card's chart (the SVG), by the KPI's label."""
    return {unescape(label): base64.b64decode(data).decode() for label, data in
            re.findall(r'<img class="trend" alt="([^"]*)" src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)', html)}


def test_a_chart_runs_on_to_december_as_projected_only_with_a_yearly_target(with_yearly_targets) -> None:
    """A KPI with a yearly target has its chart continued dashed over its 80 % band to December (two
    months after October), from the month's point; the others have neither."""
    from kpireport.projection import Projector

    locale, config, results, _, html = with_yearly_targets
    charts = _charts(html)
    assert len(charts) == len(config.kpis)
    coming = Projector.of(results)
    for kpi_id, kpi in config.kpis.items():
        svg = charts[kpi.label]
        if kpi_id in YEARLY:
            (line,) = re.findall(r'<polyline class="projection" points="([^"]+)"', svg)
            assert len(line.split()) == 1 + 2  # October's point, then November and December
            (band,) = re.findall(r'<polygon class="band" points="([^"]+)"', svg)
            assert len(band.split()) == 2 * 3
            path = coming.path(kpi_id, MONTH)
            assert [p.month for p in path] == [Month(2026, 11), Month(2026, 12)]
            assert all(p.low <= p.value <= p.high for p in path)
            # the target line runs on to December beside the projection: 13 months, then 2
            (target_line,) = re.findall(r'<polyline points="([^"]+)" fill="none" stroke="#[0-9A-Fa-f]+" '
                                        r'stroke-width="1.2" stroke-dasharray="4 3"', svg)
            assert len(target_line.split()) == 13 + 2
        else:
            assert 'class="projection"' not in svg
            assert 'class="band"' not in svg
    assert text("review.chart_projection", locale) in unescape(html)


def test_the_months_to_december_take_the_targets_compute_splits_from_the_year(with_yearly_targets) -> None:
    _, _, results, _, _ = with_yearly_targets
    year = month_range(Month(2026, 1), Month(2026, 12))
    for kpi_id in YEARLY:
        targets = engine.targets_of(results, kpi_id, year)
        known = [results.kpi(kpi_id).at(m).target for m in year[:10]]  # type: ignore[union-attr]
        assert targets[:10] == known  # the months compute has: the same
        assert all(t is not None for t in targets)
    revenue = engine.targets_of(results, "revenue", year)
    assert sum(revenue) == pytest.approx(4_000_000)  # a sum's shares add up to the year's, December included
    assert engine.targets_of(results, "win_rate", year[10:]) == [0.35, 0.35]  # a rate's target is the year's


def test_a_projection_is_drawn_within_the_chart_and_around_its_band() -> None:
    """The continuation starts at the month's point, each projected point lies inside its band, and
    the vertical axis covers the band."""
    points = [TrendPoint(Month(2026, m), 100.0 + m, 110.0) for m in range(1, 11)]
    projected = [ProjectedPoint(Month(2026, 11), 112.0, 60.0, 160.0),
                 ProjectedPoint(Month(2026, 12), 114.0, 50.0, 170.0)]
    svg = trend_svg(points, status="on", value_label=str, month_label=str, projected=projected)
    line = [tuple(map(float, p.split(","))) for p in
            re.search(r'class="projection" points="([^"]+)"', svg).group(1).split()]  # type: ignore[union-attr]
    band = [tuple(map(float, p.split(","))) for p in
            re.search(r'class="band" points="([^"]+)"', svg).group(1).split()]  # type: ignore[union-attr]
    last = re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)" r="1.6"', svg)[-1]
    assert line[0] == tuple(map(float, last))
    upper, lower = band[:3], band[3:][::-1]
    for (x, y), (ux, uy), (lx, ly) in zip(line, upper, lower, strict=True):
        assert x == ux == lx
        assert uy <= y <= ly
    assert all(14 <= y <= 110 - 16 for _, y in band)  # inside the plot, not cut off
    assert 'class="projection"' not in trend_svg(points, status="on", value_label=str, month_label=str)
    # a month without a value has nothing to continue from
    gap = [*points[:-1], TrendPoint(Month(2026, 10), None, 110.0)]
    assert 'class="projection"' not in trend_svg(gap, status="no_data", value_label=str, month_label=str,
                                                 projected=projected)


def test_an_unusual_month_is_ringed_on_its_chart() -> None:
    points = [TrendPoint(Month(2026, m), 100.0, None) for m in range(1, 11)]
    svg = trend_svg(points, status="on", value_label=str, month_label=str, unusual=[Month(2026, 4)])
    (ring,) = re.findall(r'<circle class="unusual" cx="([\d.]+)"', svg)
    xs = re.findall(r'<circle cx="([\d.]+)" cy="[\d.]+" r="1.6"', svg)
    assert ring == xs[3]  # April's point
    assert 'class="unusual"' not in trend_svg(points, status="on", value_label=str, month_label=str)


def test_a_sparkline_breaks_at_a_missing_month_and_needs_two_values() -> None:
    svg = sparkline_svg([1.0, 2.0, None, 3.0, 4.0], status="on")
    assert len(re.findall("<polyline", svg)) == 2
    assert sparkline_svg([None, 5.0], status="on") == ""
    assert "<polyline" in sparkline_svg([5.0, 5.0], status="on")  # flat: a line, no division by zero


def test_the_funnels_bars_are_as_long_as_their_stages_volumes(rendered) -> None:
    """Each stage's bar is its volume's share of the largest stage's (the first), from the month's
    inputs as the engine holds them."""
    _, config, results, _ = rendered
    view = build_view(config, results, MONTH)
    html = render_html(view)
    funnel = html.split('<section class="funnel">')[1]
    widths = [float(w) for w in re.findall(r'<div class="bar" style="width: ([\d.]+)%">', funnel)]
    volumes = [results.inputs[stage][MONTH] for stage in config.funnel]
    assert len(widths) == len(volumes) == 4
    assert widths[0] == 100
    for width, volume in zip(widths, volumes, strict=True):
        assert width == pytest.approx(100 * volume / max(volumes), abs=0.01)
    assert widths == sorted(widths, reverse=True)


DEMO_PAGES = 5  # measured: the cover and the summary, 10 cards flowing over 3 pages, the funnel (8 pages before)
LEAST_FILLED = 0.6  # measured: the demo's pages but the last are 70-82 % full (52 % with a section a page)


def test_the_demo_review_is_short_and_no_page_is_left_half_empty(rendered) -> None:
    """Sections flow: the demo's review fits in DEMO_PAGES pages, and every page but the last is filled
    to LEAST_FILLED of its height at least (the issue asks for half; measured on WeasyPrint's laid-out
    pages: the lowest line's or image's bottom)."""
    from weasyprint import CSS, HTML

    from kpireport.review import _css_text

    locale, config, results, _ = rendered
    view = build_view(config, results, MONTH)
    document = HTML(string=render_html(view, standalone=False)).render(
        stylesheets=[CSS(string=_css_text(None, view.colour, locale))])
    assert len(document.pages) <= DEMO_PAGES

    def bottom(box) -> float:  # type: ignore[no-untyped-def]
        """The bottom of the lowest box without children (a block's own box runs to the page's foot)."""
        children = getattr(box, "children", [])
        return max(bottom(child) for child in children) if children else box.position_y + box.margin_height()

    for number, page in enumerate(document.pages[:-1], start=1):
        body = page._page_box.children[0]  # the html element's box: the page's content, not its margins
        filled = (bottom(body) - page._page_box.content_box_y()) / page._page_box.height
        assert filled >= LEAST_FILLED, f"page {number} is {100 * (1 - filled):.0f} % empty"


def test_every_new_label_of_the_review_exists_in_both_locales() -> None:
    from kpireport.locale import LABELS

    for key in ("review.spark", "review.year_end", "review.year_end_legend", "review.chart_projection",
                "review.chart_unusual"):
        assert set(LABELS[key]) == {"fr", "en"}, key
        assert all(LABELS[key][locale].strip() for locale in ("fr", "en")), key
        assert LABELS[key]["fr"] != LABELS[key]["en"], key


def test_a_card_with_a_yearly_target_shows_the_target_to_date_the_years_and_where_the_year_lands(
        with_yearly_targets) -> None:
    """The card of a KPI with a yearly target: its year to date against the target to date (a sum;
    a rate's target is the year's rate), the year's target and the projection with its outlook, as
    formatted here from `compute`'s numbers; a card without a yearly target shows none of them."""
    from kpireport.locale import distinct_extra, format_value

    locale, config, results, pdf, html = with_yearly_targets
    pages = spaced(" ".join(page.extract_text() for page in PdfReader(pdf).pages[1:]))
    labels = {name: text(f"review.{name}", locale) for name in ("ytd", "ytd_target", "year_target", "year_end")}
    for result in results.kpis:
        kpi, row = result.kpi, result.at(MONTH)
        assert row is not None
        start = html.index(f"<h3>{escape(kpi.label)}</h3>")
        card = spaced(unescape(re.sub(r"<[^>]+>", " ", html[start:html.index("</article>", start)])))
        if kpi.id not in YEARLY:
            assert all(labels[name] not in card for name in ("ytd_target", "year_target", "year_end")), kpi.id
            continue
        assert row.year_target is not None
        assert row.ytd_target is not None
        assert row.year_end is not None
        shown = [row.value, row.target, row.ytd, row.ytd_target]
        extra = distinct_extra(shown, kpi.format, locale, config.currency, kpi.unit)

        def symbol_of(row: engine.KpiMonth) -> str:
            return {"likely": "●", "possible": "◐", "unlikely": "○"}[row.year_end.outlook]  # type: ignore[union-attr,index]

        def figure(number: float) -> str:
            return spaced(format_value(number, kpi.format, locale, config.currency, kpi.unit, extra=extra))  # noqa: B023
        assert f"{labels['year_target']} {figure(row.year_target)}" in card, kpi.id
        assert f"{figure(row.year_target)} {symbol_of(row)} {figure(row.year_end.value)} " in pages  # type: ignore[arg-type]
        assert f"{labels['year_end']} {symbol_of(row)} {figure(row.year_end.value)}" in card, kpi.id  # type: ignore[arg-type]
        if kpi.format == "percent":  # a rate: the year's rate is the target to date too
            assert labels["ytd_target"] not in card
            assert row.ytd_target == row.year_target
        else:
            assert f"{labels['ytd']} {figure(row.ytd)} {labels['ytd_target']} {figure(row.ytd_target)}" in card  # type: ignore[arg-type]
            assert row.ytd_target < row.year_target


def test_figures_round_halves_as_spreadsheets_do_and_negatives_take_a_real_minus() -> None:
    """The review beside the workbook: 27 336,5 € is 27 337 € in Excel, LibreOffice and Sheets (Babel
    rounds halves to even: 27 336 €); a negative actual read -0,5 % beside a change of −7,0 %."""
    from kpireport.locale import MINUS, format_duration, format_value

    assert format_value(27336.5, "currency", "fr", "EUR") == "27\u202f337\u00a0€"
    assert format_value(2.345, "number", "en", "EUR") == "2.35"  # its shortest text: 2.345, half up
    assert format_value(1002.5, "number", "en", "EUR") == "1,003"
    assert format_value(-1002.5, "number", "en", "EUR") == f"{MINUS}1,003"  # away from 0, as Excel
    assert format_value(0.12345, "percent", "fr", "EUR") == "12,3\u00a0%"
    assert format_value(0.12355, "percent", "fr", "EUR") == "12,4\u00a0%"
    assert format_value(-0.005, "percent", "fr", "EUR") == f"{MINUS}0,5\u00a0%"
    assert format_duration(2.5) == "3 s"


@pytest.mark.parametrize(("attainment", "tolerance", "shown"), [
    (0.9967, 0.1, "99,7\u00a0%"),  # just short of the target (watch): never "100 %"
    (0.99996, 0.1, "99,99\u00a0%"),
    (1.003, 0.1, "100\u00a0%"),  # on target: 100 % is true
    (0.8996, 0.1, "89,96\u00a0%"),  # just past the band (off): never "90 %"
    (0.904, 0.1, "90\u00a0%"),
    (1.25, 0.1, "125\u00a0%"),
])
def test_an_attainment_is_never_rounded_across_an_edge_of_the_status_band(attainment, tolerance, shown) -> None:
    from kpireport.locale import format_attainment

    assert format_attainment(attainment, tolerance, "fr") == shown
