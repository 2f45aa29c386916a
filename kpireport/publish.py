"""The template to publish (`template --publish`): the blank workbook a company offers for download, as
HubSpot offers its own. It holds no one's name or address (roles only), speaks to someone who has only
a spreadsheet, explains every KPI on a "KPI library" sheet (definition, formula in words, direction,
benchmark, the article it comes from), carries the company's name, logo and colour, and fills the
document's properties (title, subject, company, language, keywords) instead of openpyxl's defaults."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from .catalog import load_catalog
from .config import Config, Kpi, Owner
from .errors import ConfigError
from .formula import to_words
from .locale import format_benchmark, text
from .months import Month
from .vocabulary import Locale
from .workbook import BOX, TemplateWorkbook, _print_setup, _protect, _put, build_workbook, wrapped_lines

LIBRARY_COLUMNS = (("col.kpi", 24), ("col.domain", 16), ("col.definition", 50), ("col.formula", 36),
                   ("col.direction", 15), ("col.benchmark", 20), ("col.source", 36))  # fits a landscape page
LOGO_BOX = (220, 60)  # pixels: the most a logo takes at the top right of the start sheet
LANGUAGE = {"fr": "fr-FR", "en": "en-GB"}
WRAP_TOP = Alignment(wrap_text=True, vertical="top")


def published_workbook(config: Config, period: list[Month], file_name: str) -> TemplateWorkbook:
    """The blank template to publish for `period`."""
    workbook = build_workbook(roles_only(config), period, {}, file_name=file_name, published=True)
    start = workbook.worksheets[0]
    library = workbook.create_sheet(text("sheet.library", config.locale), index=4)  # after the dashboard
    _library_sheet(config, library)
    colour = config.colour.lstrip("#").upper()
    for sheet in workbook.worksheets:
        if sheet.sheet_state == "visible":
            sheet.sheet_properties.tabColor = colour
    if config.logo is not None:
        start.add_image(_logo(config), f"{get_column_letter(4)}1")
    _properties(workbook, config)
    return workbook


def roles_only(config: Config) -> Config:
    """The config with each owner known by their role alone: the sheets that name an owner (the KPIs'
    owner column, the dashboard) show the role, and no e-mail address reaches the workbook. An owner
    without a role is "Owner 2" (their place in the config): never their name, nor their id, which
    may be one (`claire:`)."""
    owners = {}
    for number, (oid, owner) in enumerate(config.owners.items(), 1):
        role = owner.role or text("publish.owner", config.locale, number=number)
        owners[oid] = Owner(oid, role, None, role)
    return replace(config, owners=owners)


def library_rows(config: Config) -> list[tuple[str, ...]]:
    """One row per KPI, in the config's order: label, domain, definition, formula in words, direction,
    benchmark, source articles (as LIBRARY_COLUMNS)."""
    locale = config.locale
    return [(kpi.label, kpi.domain, kpi.definition or "", to_words(kpi.formula.tree, _labels(config), locale),
             text(f"direction.{kpi.direction}", locale), _benchmark(config, kpi), _sources(kpi, locale))
            for kpi in config.kpis.values()]


def _labels(config: Config) -> Callable[[str], str]:
    def label(name: str) -> str:
        known = config.inputs.get(name) or config.kpis.get(name)
        return known.label if known else name

    return label


def _benchmark(config: Config, kpi: Kpi) -> str:
    if kpi.benchmark is None:
        return ""
    return format_benchmark(kpi.benchmark.low, kpi.benchmark.high, kpi.benchmark.note(config.locale),
                            kpi.format, config.locale, config.currency, kpi.unit)


def _sources(kpi: Kpi, locale: Locale) -> str:
    catalog = load_catalog()
    entry = catalog.kpis.get(kpi.catalog_id or "")
    if entry is None:
        return text("library.own_kpi", locale)
    return "\n".join(catalog.articles[number].cited(locale) for number in entry.sources)


def _library_sheet(config: Config, sheet: Worksheet) -> None:
    locale, colour = config.locale, config.colour.lstrip("#").upper()
    _put(sheet, 1, 1, text("library.title", locale), font=Font(bold=True, size=16, color=colour))
    _put(sheet, 2, 1, text("library.hint", locale), font=Font(italic=True, color="595959"))
    header = PatternFill("solid", fgColor=colour)
    ink = Font(bold=True, color=_ink(colour))
    for column, (key, width) in enumerate(LIBRARY_COLUMNS, 1):
        _put(sheet, 4, column, text(key, locale), font=ink, fill=header, alignment=WRAP_TOP, border=BOX)
        sheet.column_dimensions[get_column_letter(column)].width = width
    for row, cells in enumerate(library_rows(config), 5):
        for column, value in enumerate(cells, 1):
            _put(sheet, row, column, value, alignment=WRAP_TOP, border=BOX,
                 font=Font(bold=True) if column == 1 else Font(size=10))
        # spreadsheets do not grow a row to its wrapped text when opening a file: say its height
        lines = max(wrapped_lines(value, width, 10 if column > 1 else 11)
                    for column, (value, (_, width)) in enumerate(zip(cells, LIBRARY_COLUMNS, strict=True), 1))
        sheet.row_dimensions[row].height = 12.5 * lines + 3  # points, for 10-point text
    sheet.freeze_panes = "B5"
    sheet.print_title_rows = "4:4"
    sheet.sheet_view.showGridLines = False
    _print_setup(sheet)
    _protect(sheet)


def _ink(colour: str) -> str:
    """White on a dark header, black on a light one (WCAG's relative luminance, threshold at its middle)."""
    red, green, blue = (int(colour[i:i + 2], 16) / 255 for i in (0, 2, 4))
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (red, green, blue)]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "FFFFFF" if luminance < 0.179 else "000000"


def _logo(config: Config):  # type: ignore[no-untyped-def]
    """The config's logo (review.logo), scaled into LOGO_BOX; a format Excel may not show is re-encoded
    as PNG. Read now, so that saving never reads the file again."""
    from openpyxl.drawing.image import Image
    from PIL import Image as Picture
    from PIL import UnidentifiedImageError

    path: Path = config.logo  # type: ignore[assignment]
    try:
        with Picture.open(path) as picture:
            picture.load()
            encoded = io.BytesIO()
            kind = picture.format if picture.format in ("PNG", "JPEG", "GIF") else "PNG"
            savable = picture if kind != "PNG" or picture.mode in ("1", "L", "LA", "P", "RGB", "RGBA") \
                else picture.convert("RGBA")  # a CMYK or 16-bit image, say
            savable.save(encoded, kind)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ConfigError(f"the logo '{path.name}' cannot be read as an image ({exc.__class__.__name__})",
                          file=str(config.path), key="review.logo",
                          hint="give a PNG or JPEG file (an SVG logo works in the review, not in the workbook)"
                          ) from None
    encoded.seek(0)
    image = Image(encoded)
    scale = min(1.0, LOGO_BOX[0] / image.width, LOGO_BOX[1] / image.height)
    image.width, image.height = round(image.width * scale), round(image.height * scale)
    return image


def _properties(workbook: TemplateWorkbook, config: Config) -> None:
    """What File > Info (Excel), File > Properties (LibreOffice) and a search engine read: never
    openpyxl as the author, nor a person's name."""
    locale = config.locale
    properties = workbook.properties
    properties.title = config.title
    properties.subject = text("publish.subject", locale)
    properties.creator = config.company or "kpireport"
    properties.lastModifiedBy = properties.creator
    domains = dict.fromkeys(kpi.domain for kpi in config.kpis.values())
    properties.keywords = ", ".join([text("publish.keywords", locale), *domains])
    properties.description = text("publish.description", locale)
    properties.language = LANGUAGE[locale]
    workbook.company = config.company
