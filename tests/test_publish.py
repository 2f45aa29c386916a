"""`template --publish`: the blank template a company offers for download holds no one's name or
address anywhere in the file, explains every KPI, carries the company's brand and properties, and
still computes once someone types figures in it (recalculated by LibreOffice)."""

from __future__ import annotations

import re
import shutil
import zipfile
from html import escape
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from openpyxl import load_workbook
from PIL import Image

from kpireport import engine
from kpireport.catalog import load_catalog
from kpireport.cli import cli
from kpireport.config import load_config
from kpireport.months import Month, month_range
from kpireport.sources import load_data
from kpireport.template import named_cells

from .libreoffice import recalculate
from .test_workbook import _compare

ROOT = Path(__file__).resolve().parent.parent
PERIOD = month_range(Month(2026, 1), Month(2026, 12))
COMPANY = "Atelier Brunet & Fils"
COLOUR = "7A1F5C"


def _project(tmp_path: Path, locale: str = "fr") -> Path:
    """The bundled example (five owners with names and e-mails) with a company, a logo, a colour and
    a KPI of the team's own (not from the catalog)."""
    shutil.copytree(ROOT / "config" / "example", tmp_path / "project")
    path = tmp_path / "project" / "kpireport.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document.update(locale=locale, company=COMPANY, review={"logo": "logo.png", "colour": f"#{COLOUR}"})
    document["kpis"]["won_per_mql"] = {"label": "Won per MQL", "formula": "deals_won / mqls", "format": "percent",
                                       "owner": "sales"}
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    Image.new("RGB", (800, 200), "#7A1F5C").save(path.parent / "logo.png")  # wider than the logo's box
    return path


def _template(config: Path, output: Path, *options: str) -> None:
    result = CliRunner().invoke(cli, ["template", str(config), "-o", str(output), "--year", "2026", *options])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module", params=["fr", "en"])
def published(request, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp(f"publish-{request.param}")
    config = _project(tmp_path, request.param)
    output = tmp_path / "kpi-template-published.xlsx"
    _template(config, output, "--publish")
    return load_config(config), output


def _parts(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name).decode("utf-8", errors="replace") for name in archive.namelist()}


def _personal(config) -> list[str]:  # type: ignore[no-untyped-def]
    """Each owner's name and e-mail address, as written in the config."""
    found = [value for owner in config.owners.values() for value in (owner.name, owner.email) if value]
    assert len(found) == 2 * len(config.owners) >= 10
    return found


def _holding(parts: dict[str, str], needles: list[str]) -> list[str]:
    """"part: needle" for every needle found in a part, as written or XML-escaped, in any case."""
    return [f"{name}: {needle}" for name, content in parts.items() for needle in needles
            if needle.lower() in content.lower() or escape(needle).lower() in content.lower()]


def test_no_owner_name_or_address_anywhere_in_the_published_file(published, tmp_path: Path) -> None:
    config, path = published
    parts = _parts(path)
    # every part is searched: cells (shared strings and inline), comments and validations (sheets),
    # defined names (workbook.xml), charts, drawings, the core, app and any custom properties
    assert {"docProps/core.xml", "docProps/app.xml", "xl/workbook.xml"} <= set(parts)
    assert any(name.startswith("xl/worksheets/sheet") for name in parts)
    assert "definedName" in parts["xl/workbook.xml"]
    assert _holding(parts, _personal(config)) == []
    # the same search finds them in the ordinary blank template of the same config
    ordinary = tmp_path / "ordinary.xlsx"
    _template(config.path, ordinary, "--blank")
    found = _holding(_parts(ordinary), _personal(config))
    assert {needle.split(": ", 1)[1] for needle in found} == set(_personal(config))


def test_an_owner_without_a_role_is_numbered_never_named_nor_known_by_their_id(tmp_path: Path) -> None:
    config = tmp_path / "kpireport.yaml"
    config.write_text(yaml.safe_dump({
        "title": "KPIs", "locale": "en",
        "owners": {"claire": {"name": "Claire Martin", "email": "c.martin@example.com"},
                   "web": {"name": "Karim Benali", "email": "kb@example.com", "role": "Website"}},
        "kpis": {"open_rate": {"use": "email.open_rate", "owner": "claire", "domain": "Email"},
                 "visits": {"use": "website.visits", "owner": "web"}}}), encoding="utf-8")
    output = tmp_path / "published.xlsx"
    _template(config, output, "--publish")
    assert _holding(_parts(output), ["Claire", "Martin", "c.martin", "Karim", "Benali", "kb@"]) == []
    start = load_workbook(output).worksheets[0]
    table = {row[0]: row[1] for row in start.iter_rows(values_only=True) if row[0] in ("Owner 1", "Website")}
    assert table == {"Owner 1": "Open rate", "Website": "Visits (sessions)"}


def test_roles_stand_where_the_names_stood(published) -> None:
    config, path = published
    workbook = load_workbook(path)
    roles = {owner.role for owner in config.owners.values()}
    start = workbook.worksheets[0]
    table = [row for row in start.iter_rows(values_only=True) if row[0] in roles]
    assert {row[0] for row in table} == roles
    sales = next(row for row in table if row[0] == config.owners["sales"].role)
    assert sales[1] == ", ".join(kpi.label for kpi in config.kpis.values() if kpi.owner == "sales")
    kpis = workbook.worksheets[2]
    owner_column = [c.value for c in kpis[4]].index("Responsable" if config.locale == "fr" else "Owner") + 1
    top = named_cells(workbook, "kpi_revenue")[0].row
    assert kpis.cell(top, owner_column).value == config.owners["sales"].role


def test_instructions_need_only_a_spreadsheet(published) -> None:
    config, path = published
    start = load_workbook(path).worksheets[0]
    words = " ".join(str(cell.value) for row in start.iter_rows() for cell in row if cell.value is not None)
    assert "kpireport " not in words
    assert config.path.name not in words
    for application in ("Excel", "LibreOffice", "Google Sheets"):
        assert application in words
    library = "« Bibliothèque KPI »" if config.locale == "fr" else "'KPI library'"
    assert library in words


def test_the_kpi_library_explains_each_kpi_with_its_source(published) -> None:
    config, path = published
    workbook = load_workbook(path)
    fr = config.locale == "fr"
    sheet = workbook["Bibliothèque KPI" if fr else "KPI library"]
    assert workbook.sheetnames.index(sheet.title) == 4  # after the dashboard, before the hidden sheets
    rows = {row[0]: row for row in sheet.iter_rows(min_row=5, values_only=True)}
    assert list(rows) == [kpi.label for kpi in config.kpis.values()]
    catalog = load_catalog()
    open_rate = rows[config.kpis["open_rate"].label]
    assert open_rate[2] == catalog.kpis["email.open_rate"].definition(config.locale)
    assert open_rate[3] == ("E-mails ouverts ÷ E-mails délivrés" if fr else "Emails opened ÷ Emails delivered")
    assert open_rate[4] == ("↑ plus haut = mieux" if fr else "↑ higher is better")
    assert [line.split(",")[0] for line in open_rate[6].split("\n")] == [
        "HubSpot", "Webmecanik", "Qobra", "Article sur les KPI marketing" if fr else "Article on marketing KPIs"]
    win_rate = rows[config.kpis["win_rate"].label]
    assert win_rate[3] == ("Ventes conclues ÷ (Ventes conclues + Affaires perdues)" if fr
                           else "Deals won ÷ (Deals won + Deals lost)")
    bounce = rows[config.kpis["bounce_rate"].label]
    assert bounce[4] == ("↓ plus bas = mieux" if fr else "↓ lower is better")
    assert re.match(r"30[.,]0\s?% – 50[.,]0\s?% \(", bounce[5].replace("\xa0", " "))  # the B2B range of Efficy
    assert rows[config.kpis["revenue"].label][5] is None  # no benchmark: nothing invented
    own = rows["Won per MQL"]
    assert own[6] == ("indicateur propre à l'équipe (hors catalogue)" if fr
                      else "the team's own KPI (not from the catalog)")
    assert own[1] == config.kpis["won_per_mql"].domain


def test_brand_and_document_properties(published) -> None:
    config, path = published
    workbook = load_workbook(path)
    properties = workbook.properties
    assert properties.title == config.title
    assert properties.subject
    assert properties.description
    assert properties.creator == COMPANY
    assert properties.lastModifiedBy == COMPANY
    assert properties.language == ("fr-FR" if config.locale == "fr" else "en-GB")
    assert "KPI" in properties.keywords
    assert config.kpis["revenue"].domain in properties.keywords
    company = re.search(r"<Company>(.*?)</Company>", _parts(path)["docProps/app.xml"])
    assert company
    assert company.group(1) == escape(COMPANY, quote=False)
    start = workbook.worksheets[0]
    assert COMPANY in start["A2"].value
    assert start["A1"].font.color.rgb.endswith(COLOUR)
    assert len(start._images) == 1
    drawing = next(content for name, content in _parts(path).items()
                   if name.startswith("xl/drawings/drawing") and "<pic>" in content)
    extent = re.search(r'<ext cx="(\d+)" cy="(\d+)"/><pic>', drawing)  # the picture's anchor
    assert extent
    width, height = (int(emu) / 9525 for emu in extent.groups())  # EMU to pixels
    assert width <= 220
    assert height <= 60
    assert width / height == pytest.approx(4, rel=0.02)  # scaled, not distorted
    visible = [sheet for sheet in workbook.worksheets if sheet.sheet_state == "visible"]
    assert len(visible) == 5
    assert all(sheet.sheet_properties.tabColor.rgb.endswith(COLOUR) for sheet in visible)


def test_published_template_computes_once_figures_are_typed(tmp_path: Path) -> None:
    """Blank as published; someone types a year of figures; LibreOffice computes what `compute` does."""
    config_path = _project(tmp_path)
    path = tmp_path / "published.xlsx"
    _template(config_path, path, "--publish")
    config = load_config(config_path)
    workbook = load_workbook(path)
    months = [Month.of(cell.value) for cell in named_cells(workbook, "months")]
    values = load_data(config).values
    typed = 0
    for name, series in values.items():
        for month, value in series.items():
            if month in months:
                named_cells(workbook, f"in_{name}")[months.index(month)].value = value
                typed += 1
    workbook.save(path)
    assert typed > 100
    recalculated = load_workbook(recalculate(path, tmp_path / "recalculated"), data_only=True)
    in_sheet = {name: {m: v for m, v in series.items() if m in months} for name, series in values.items()}
    compared, mismatches = _compare(config, recalculated, engine.compute(config, in_sheet, months), PERIOD)
    assert not mismatches, "\n".join(mismatches[:20])
    assert compared == len(config.kpis) * len(PERIOD) * 5
    revenue = named_cells(recalculated, "kpi_revenue")[months.index(Month(2026, 3))].value
    assert isinstance(revenue, float | int)
    assert revenue > 0


def test_publish_refuses_data_and_update_and_an_unreadable_logo(tmp_path: Path) -> None:
    config = _project(tmp_path)
    runner = CliRunner()
    output = tmp_path / "out.xlsx"
    for extra in (["--update"], ["--data", str(config.parent / "data" / "crm-monthly.csv")]):
        result = runner.invoke(cli, ["template", str(config), "-o", str(output), "--publish", *extra])
        assert result.exit_code == 2
        assert "--publish writes a blank template" in result.output
    (config.parent / "logo.png").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>", encoding="utf-8")
    result = runner.invoke(cli, ["template", str(config), "-o", str(output), "--publish"])
    assert result.exit_code == 2
    assert "review.logo" in result.output
    assert "cannot be read as an image" in result.output
    assert "hint: give a PNG or JPEG" in result.output
    assert not output.exists()
