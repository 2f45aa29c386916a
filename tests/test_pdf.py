"""A long review is laid out in two processes at once, then joined (kpireport.pdf). The joined PDF must
read exactly as the same review laid out in one piece by WeasyPrint alone: every page's text, the
footers numbered across the join, the outline pointing at the same pages; the same bytes every time;
and a part that fails is an error, never a hang."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap
from io import BytesIO
from pathlib import Path

import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from kpireport import pdf, review
from kpireport.cli import cli
from kpireport.config import load_config
from kpireport.months import Month
from kpireport.pdf import html_to_pdf
from kpireport.presets import write_project
from kpireport.review import SPLIT_FROM, SUMMARY_LINE, build_view, parts_of, pdf_bytes, review_results
from kpireport.sources import load_data

MONTH = Month(2026, 10)
NUMBERED = "@page { size: A6; @bottom-center { content: counter(page) ' of ' counter(pages) } } p { break-after: page }"


@pytest.fixture(scope="module", params=["lines", "cards"])
def catalog(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The whole catalog's review (133 KPIs), as a view, and its folder: as it is laid out (one line per
    KPI, past COMPACT_ABOVE), and with a card per KPI as a shorter review is."""
    folder = tmp_path_factory.mktemp("catalog")
    write_project(folder / "full", "full", "fr", last_month=MONTH)
    config = load_config(folder / "full" / "kpireport.yaml")
    data = load_data(config)
    with pytest.MonkeyPatch.context() as patch:
        if request.param == "cards":
            patch.setattr(review, "COMPACT_ABOVE", 1000)
        view = build_view(config, review_results(config, data.values, MONTH, rows=data.rows), MONTH)
    assert view.compact == (request.param == "lines")
    return view, folder / "full"


def outline(reader: PdfReader, entries: list | None = None) -> list:
    """The outline as nested (title, page number) pairs."""
    result = []
    for entry in reader.outline if entries is None else entries:
        if isinstance(entry, list):
            result.append(outline(reader, entry))
        else:
            result.append((entry.title, reader.get_destination_page_number(entry)))
    return result


def test_a_long_review_is_cut_between_sections_into_two_parts_of_about_the_same_work(catalog) -> None:
    view, _ = catalog
    first, second = parts_of(view)
    assert (first.opening, first.closing, second.opening, second.closing) == (True, False, False, True)
    assert first.sections + second.sections == view.sections
    kpis = sum(len(s.kpis) for s in view.sections)

    def imbalance(cut: int) -> float:  # the first part also lays out the cover and the summary's lines
        summary = len(view.off_track) if view.compact else SUMMARY_LINE * kpis
        before = summary + sum(len(s.kpis) for s in view.sections[:cut])
        return abs(before - (kpis - sum(len(s.kpis) for s in view.sections[:cut])))

    cut = len(first.sections)
    assert all(imbalance(cut) <= imbalance(other) for other in range(1, len(view.sections)))


def test_a_short_review_or_a_single_section_is_laid_out_whole(catalog) -> None:
    view, _ = catalog
    few = [section for section in view.sections if len(section.kpis) < SPLIT_FROM // 2][:2]
    assert sum(len(s.kpis) for s in few) < SPLIT_FROM
    assert len(parts_of(type(view)(**{**vars(view), "sections": few}))) == 1
    one = type(view.sections[0])("all", [kpi for section in view.sections for kpi in section.kpis])
    assert len(parts_of(type(view)(**{**vars(view), "sections": [one]}))) == 1


def test_the_joined_review_reads_as_the_review_laid_out_in_one_piece(catalog) -> None:
    view, folder = catalog
    whole, _ = pdf_bytes(view, template_dir=None, base_dir=folder, split=False)
    joined, refused = pdf_bytes(view, template_dir=None, base_dir=folder, split=True)
    assert refused == []
    one, two = PdfReader(BytesIO(whole)), PdfReader(BytesIO(joined))
    pages = len(one.pages)
    assert len(two.pages) == pages > (6 if view.compact else 30)  # the sections flow: 8 and 40 pages
    for number, (expected, page) in enumerate(zip(one.pages, two.pages, strict=True), start=1):
        content = page.extract_text()
        assert content == expected.extract_text(), f"page {number}"
        # every page, the first too (the cover is the summary's page: no longer a page of its own)
        assert f"Page {number} / {pages}" in content, f"page {number}"
        assert view.title in content, f"page {number}: the running title"
    # each part's subset of a font has its own name (the standard forbids two subsets sharing one)
    fonts = {font.idnum: font.get_object()["/BaseFont"] for page in two.pages
             for font in page["/Resources"]["/Font"].values()}
    assert len(set(fonts.values())) == len(fonts) > 3
    # the outline (sections, then KPIs) points at the same pages, on both sides of the join
    assert outline(two) == outline(one)
    titles = [entry[0] for entry in outline(two) if isinstance(entry, tuple)]
    assert titles[1:] == [section.title for section in view.sections]
    if not view.compact:
        return  # the command lays the catalog out as it is: in lines
    # the report command takes this path, and the same review gives the same bytes (the send log tells
    # a changed review by its hash)
    out = folder / "review.pdf"
    result = CliRunner().invoke(cli, ["report", str(folder / "kpireport.yaml"), "--month", str(MONTH), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == joined


def test_pages_are_numbered_across_the_two_parts(tmp_path: Path) -> None:
    parts = ["<p>a</p><p>b</p>", "<p>c</p><p>d</p><p>e</p>"]
    joined, _ = html_to_pdf(parts, css=NUMBERED, base_dir=tmp_path, roots=[tmp_path])
    texts = [page.extract_text().split() for page in PdfReader(BytesIO(joined)).pages]
    assert texts == [[letter, str(n), "of", "5"] for n, letter in enumerate("abcde", start=1)]


def zombies() -> list[int]:
    """This process's children that ended without being waited for."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, parent = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, ValueError):
            continue
        if state == "Z" and parent == str(os.getpid()):
            found.append(int(stat.parent.name))
    return found


def failing_part(monkeypatch: pytest.MonkeyPatch, marker: str, failure, after: bool = False) -> None:  # type: ignore[no-untyped-def]
    """The part whose HTML holds `marker` runs `failure()` (before or after laying itself out)."""
    render = pdf._render

    def patched(html: str, *args):  # type: ignore[no-untyped-def]
        if marker in html and not after:
            failure()
        result = render(html, *args)
        if marker in html and after:
            failure()
        return result

    monkeypatch.setattr(pdf, "_render", patched)  # the forked process inherits it


def lay_out(tmp_path: Path) -> bytes:
    return html_to_pdf(["<p>first</p>", "<p>second</p><p>.</p>"], css=NUMBERED, base_dir=tmp_path,
                       roots=[tmp_path])[0]


def boom(kind: type[BaseException], message: str):  # type: ignore[no-untyped-def]
    def failure() -> None:
        raise kind(message)
    return failure


def test_a_failing_second_part_is_an_error_and_no_process_is_left(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The second part's exception is raised here, as laying the review out in one piece would."""
    failing_part(monkeypatch, "second", boom(ValueError, "the layout broke"))
    with pytest.raises(ValueError, match="the layout broke"):
        lay_out(tmp_path)
    assert multiprocessing.active_children() == []
    assert zombies() == []


def test_an_exception_that_cannot_cross_is_told_by_its_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class UnpicklableError(Exception):
        def __init__(self, message: str, extra: int) -> None:  # pickle rebuilds it with one argument: fails
            super().__init__(message)

    def failure() -> None:
        raise UnpicklableError("an odd error", 1)

    failing_part(monkeypatch, "second", failure)
    with pytest.raises(pdf.PartError, match="could not be laid out: UnpicklableError: an odd error"):
        lay_out(tmp_path)
    assert zombies() == []


def test_a_second_process_that_dies_is_an_error_and_is_reaped(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    failing_part(monkeypatch, "second", lambda: os._exit(3))
    with pytest.raises(pdf.PartError, match="could not be laid out: the process stopped"):
        lay_out(tmp_path)
    assert zombies() == []


@pytest.mark.parametrize("after", [False, True], ids=["before the page counts", "after the page counts"])
def test_a_failing_first_part_is_its_own_error_and_no_process_is_left(tmp_path: Path, after: bool,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # an EOFError of its own (a truncated file, say) is not taken for the other process stopping
    failing_part(monkeypatch, "first", boom(EOFError, "the first part broke"), after=after)
    with pytest.raises(EOFError, match="the first part broke"):
        lay_out(tmp_path)
    assert multiprocessing.active_children() == []
    assert zombies() == []


def test_without_fork_a_long_review_is_laid_out_whole(catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    view, folder = catalog
    sections, kpis = [], 0
    for section in view.sections:  # just long enough to be split
        sections.append(section)
        kpis += len(section.kpis)
        if kpis >= SPLIT_FROM:
            break
    shorter = type(view)(**{**vars(view), "sections": sections, "funnel": None})
    assert len(parts_of(shorter)) == 2
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    assert pdf_bytes(shorter, template_dir=None, base_dir=folder, split=True) == \
        pdf_bytes(shorter, template_dir=None, base_dir=folder)


def test_weasyprint_is_imported_without_searching_for_libraries_and_with_it_when_needed() -> None:
    """On Linux WeasyPrint's libraries load by their sonames, without ctypes' search (22 subprocesses,
    0.25 s a review); where a soname fails, the import runs again with the search; either way the
    search is put back, and WeasyPrint has its libraries."""
    script = textwrap.dedent("""
        import ctypes.util, sys
        searched = ctypes.util.find_library
        tried = []

        class FailsOnce:  # the first import of weasyprint fails as a missing library would
            def find_spec(self, name, path=None, target=None):
                if name == "weasyprint" and not tried and sys.argv[1] == "fail":
                    tried.append(ctypes.util.find_library("c"))
                    raise OSError("cannot load library 'libpango-1.0.so.0'")

        sys.meta_path.insert(0, FailsOnce())
        from kpireport.pdf import _import_weasyprint
        _import_weasyprint()
        from weasyprint.text import ffi
        assert ctypes.util.find_library is searched
        assert ffi.pango is not None and ffi.fontconfig is not None
        print(tried)
    """)
    for case, printed in (("pass", "[]"), ("fail", "[None]")):  # None: the search was off on the first try
        done = subprocess.run([sys.executable, "-c", script, case], capture_output=True, text=True, check=False)
        assert (done.returncode, done.stdout.strip()) == (0, printed), done.stderr
