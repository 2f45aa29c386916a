"""HTML to PDF with WeasyPrint: local files only, the stylesheet and fonts parsed once per process, and
a long document laid out in two parts at once, one per core, then joined.

Why two parts: WeasyPrint lays out and draws on one core, and that is nearly all the time a long review
takes (measured: 133 KPIs, 44 pages, 4.2 s of a 5.3 s command). The review's sections each start on a
new page, so cutting between two sections changes no page; the second part is laid out in a forked
process while this one lays out the first, pages are numbered across both, and pikepdf (qpdf: joining
two 0.5 MB PDFs takes 0.08 s, pypdf 0.44 s) appends the second part's pages and outline to the first.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import cache
from io import BytesIO
from pathlib import Path
from urllib.parse import unquote, urlparse


def local_only_fetcher(roots: list[Path]):  # type: ignore[no-untyped-def]
    """A WeasyPrint URL fetcher that reads only local files under `roots` (templates, the config's
    folder) and data: URIs; anything else, http(s) first, is refused, never fetched, and listed in
    its `refused`. (A subclass of WeasyPrint's fetcher, as its documentation asks; built here so that
    importing this module does not import WeasyPrint.)"""
    from weasyprint.urls import URLFetcher

    class LocalOnly(URLFetcher):
        def __init__(self) -> None:
            super().__init__(allowed_protocols={"file", "data"}, allow_redirects=False)
            self.roots = [root.resolve() for root in roots]
            self.refused: list[str] = []

        def fetch(self, url: str, headers=None):  # type: ignore[no-untyped-def]
            parsed = urlparse(url)
            if parsed.scheme == "data" or (parsed.scheme == "file" and any(
                    Path(unquote(parsed.path)).resolve().is_relative_to(root) for root in self.roots)):
                return super().fetch(url, headers)
            self.refused.append(url)
            raise ValueError(f"kpireport loads local files only; refused {url}")

    return LocalOnly()


@cache
def stylesheet(css: str):  # type: ignore[no-untyped-def]
    """The stylesheet parsed once per process (and its fonts loaded once): a batch reuses them, and a
    forked process inherits them."""
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration

    fonts = FontConfiguration()
    return CSS(string=css, font_config=fonts), fonts


def _quiet() -> None:
    # fontTools and WeasyPrint log font-table trivia and refused URLs; kpireport reports the URLs itself
    for noisy in ("fontTools", "weasyprint"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def _render(html: str, css: str, base_dir: Path, roots: list[Path]) -> tuple[bytes, list[str]]:
    from weasyprint import HTML

    sheet, fonts = stylesheet(css)
    fetcher = local_only_fetcher(roots)
    document = HTML(string=html, base_url=str(base_dir) + "/", url_fetcher=fetcher)
    return document.write_pdf(stylesheets=[sheet], font_config=fonts), fetcher.refused


def html_to_pdf(parts: Sequence[str], *, css: str, base_dir: Path, roots: list[Path]) -> tuple[bytes, list[str]]:
    """The PDF of one document given in one or two parts (HTML, cut between pages), and the URLs
    refused. Relative URLs resolve against `base_dir`; only files under `roots` are read."""
    _quiet()
    if len(parts) == 1 or "fork" not in multiprocessing.get_all_start_methods():
        pdfs = [_render(html, css, base_dir, roots) for html in parts]
        return _join([pdf for pdf, _ in pdfs]), [url for _, refused in pdfs for url in refused]
    first, second = parts
    stylesheet(css)  # parsed before the fork: the second process inherits it
    context = multiprocessing.get_context("fork")
    here, there = context.Pipe()
    process = context.Process(target=_render_second, args=(second, css, base_dir, roots, there, here),
                              daemon=True)
    process.start()
    there.close()  # this process keeps one end only: if the other process dies, recv() sees it
    try:
        with _numbered_across(here, first=True):
            pdf, refused = _render(first, css, base_dir, roots)
        _while_waiting()
        kind, *message = here.recv()
        if kind == "error":
            raise RuntimeError(f"the second part of the review failed: {message[0]}")
        second_pdf, second_refused = message
    except EOFError:
        raise RuntimeError("the process laying out the second part of the review stopped") from None
    finally:
        here.close()
        process.join(timeout=10)
        if process.is_alive():
            process.terminate()
    return _join([pdf, second_pdf]), refused + second_refused


def _while_waiting() -> None:
    """Work this process would do later anyway, done while the second part finishes: load the PDF
    joiner, and free the first part's layout, a web of reference cycles (measured: 0.1 s less)."""
    import gc

    import pikepdf  # noqa: F401

    gc.collect()


def _render_second(html: str, css: str, base_dir: Path, roots: list[Path], link, other_end) -> None:  # type: ignore[no-untyped-def]
    """In the forked process: lay out and draw the second part, send the PDF (or what failed) back."""
    other_end.close()
    try:
        with _numbered_across(link, first=False):
            reply = ("pdf", *_render(html, css, base_dir, roots))
    except (EOFError, BrokenPipeError):
        return  # the first part failed: nobody waits for this one
    except BaseException as exc:  # the first process raises it
        reply = ("error", f"{type(exc).__name__}: {exc}")
    with suppress(OSError):
        link.send(reply)
    link.close()


class _PartFailedError(Exception):
    pass


@contextmanager
def _numbered_across(link, *, first: bool) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Number this part's pages as pages of the whole document (`counter(page)`, `counter(pages)`).

    WeasyPrint 70 makes the page margin boxes, where page counters are printed, once every page of
    the document is laid out: at that moment each part sends the other its page count and receives
    the other's, and the second part's counters move on by the first part's pages. (This hooks into
    `weasyprint.layout.make_margin_boxes`, hence the pinned WeasyPrint; tests read every page's
    number from the joined PDF.)"""
    from weasyprint import layout

    make_margin_boxes = layout.make_margin_boxes
    shift: dict[str, int] = {}

    def numbered(context, page, state):  # type: ignore[no-untyped-def]
        quote_depth, counters, scopes, groups = state
        if not shift:
            own = counters["pages"][0]
            with suppress(BrokenPipeError):  # the other part stopped; why is waiting to be read
                link.send(("pages", own))
            kind, *message = link.recv()
            if kind != "pages":
                raise _PartFailedError(message[0])
            other = message[0]
            shift.update(page=0 if first else other, pages=own + other)
        counters = {**counters, "page": [counters["page"][-1] + shift["page"]], "pages": [shift["pages"]]}
        return make_margin_boxes(context, page, (quote_depth, counters, scopes, groups))

    layout.make_margin_boxes = numbered
    try:
        yield
    except _PartFailedError as exc:
        raise RuntimeError(f"the second part of the review failed: {exc}") from None
    finally:
        layout.make_margin_boxes = make_margin_boxes


def _join(pdfs: list[bytes]) -> bytes:
    """One PDF: the pages and outline entries of each part after those of the parts before."""
    if len(pdfs) == 1:
        return pdfs[0]
    import pikepdf

    whole = pikepdf.open(BytesIO(pdfs[0]))
    for pdf in pdfs[1:]:
        part = pikepdf.open(BytesIO(pdf))
        offset = len(whole.pages)
        whole.pages.extend(part.pages)
        with part.open_outline() as source, whole.open_outline() as target:
            target.root.extend(_moved(item, part, whole, offset) for item in source.root)
    out = BytesIO()
    whole.save(out, deterministic_id=True)  # the same review gives the same bytes (the send log relies on it)
    return out.getvalue()


def _moved(item, source, target, offset: int):  # type: ignore[no-untyped-def]
    """An outline entry of `source` pointing at the same place in `target`, whose pages from
    `offset` on are those of `source`."""
    import pikepdf

    page_ref, _, left, top, *_ = item.destination
    index = source.pages.index(pikepdf.Page(page_ref))
    moved = pikepdf.OutlineItem(item.title, pikepdf.make_page_destination(
        target, offset + index, "XYZ", left=float(left), top=float(top)))
    moved.is_closed = item.is_closed
    moved.children.extend(_moved(child, source, target, offset) for child in item.children)
    return moved
