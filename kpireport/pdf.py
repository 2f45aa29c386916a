"""HTML to PDF with WeasyPrint: local files only, the stylesheet and fonts parsed once per process, and
a long document laid out in two parts at once, one per core, then joined.

Why two parts: WeasyPrint lays out and draws on one core, and that is nearly all the time a long review
takes (measured: 133 KPIs, 44 pages, 4.2 s of a 5.3 s command). The review's sections each start on a
new page, so cutting between two sections changes no page; the second part is laid out in a forked
process while this one lays out the first, pages are numbered across both, and pikepdf (qpdf: joining
two 0.5 MB PDFs takes 0.08 s, pypdf 0.44 s) appends the second part's pages and outline to the first.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import multiprocessing
import pickle
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import cache
from io import BytesIO
from pathlib import Path
from urllib.parse import unquote, urlparse


@cache
def _import_weasyprint() -> None:
    """Import WeasyPrint, skipping ctypes' library search on Linux. WeasyPrint loads each native
    library (Pango, HarfBuzz, fontconfig…) by trying every platform's name for it, and on Linux ctypes
    answers each name that is not a file by running ldconfig, then gcc, then ld: 22 subprocesses, a
    quarter of a second of every review. Among the names is the Linux soname (libpango-1.0.so.0),
    which loads directly, so the search is skipped; if that fails, the import runs again with it."""
    import sys

    if sys.platform != "linux" or "weasyprint" in sys.modules:
        import weasyprint
        return
    import ctypes.util

    search = ctypes.util.find_library
    ctypes.util.find_library = lambda _name: None
    try:
        import weasyprint
    except OSError:  # a library under another name here: the search finds it
        for name in [name for name in sys.modules if name == "weasyprint" or name.startswith("weasyprint.")]:
            del sys.modules[name]
        ctypes.util.find_library = search
        import weasyprint  # noqa: F401
    finally:
        ctypes.util.find_library = search


def local_only_fetcher(roots: list[Path]):  # type: ignore[no-untyped-def]
    """A WeasyPrint URL fetcher that reads only local files under `roots` (templates, the config's
    folder) and data: URIs; anything else, http(s) first, is refused, never fetched, and listed in
    its `refused`. (A subclass of WeasyPrint's fetcher, as its documentation asks; built here so that
    importing this module does not import WeasyPrint.)"""
    _import_weasyprint()
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
    _import_weasyprint()
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


def can_split() -> bool:
    """Whether a document can be laid out in two parts at once: the second process must be forked, to
    inherit the parsed stylesheet and fonts (and to number pages with the first)."""
    return "fork" in multiprocessing.get_all_start_methods()


class PartError(RuntimeError):
    """The part laid out in the other process failed, or that process stopped."""


def html_to_pdf(parts: Sequence[str], *, css: str, base_dir: Path, roots: list[Path]) -> tuple[bytes, list[str]]:
    """The PDF of one document given whole or in two parts (HTML cut between two pages; see
    `can_split`), and the URLs refused. Relative URLs resolve against `base_dir`; only files under
    `roots` are read."""
    _quiet()
    if len(parts) == 1:
        return _render(parts[0], css, base_dir, roots)
    first, second = parts
    stylesheet(css)  # parsed before the fork: the second process inherits it
    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe()
    process = context.Process(target=_render_second, args=(second, css, base_dir, roots, theirs, ours), daemon=True)
    process.start()
    theirs.close()  # only the other process holds that end now: if it dies, recv() here sees it
    try:
        with _numbered_across(ours, first=True):
            pdf, refused = _render(first, css, base_dir, roots)
        # while the second part finishes: load the joiner, and free the first part's layout (a web
        # of reference cycles that would otherwise be freed at exit; measured: 0.1 s less)
        import pikepdf  # noqa: F401

        gc.collect()
        second_pdf, second_refused = _receive(ours)
    except PartError as exc:
        raise PartError(f"the second part of the review could not be laid out: {exc}") from None
    except BaseException:  # this part's failure, or the other's raised here as it was raised there
        process.kill()  # the review failed: the other process is not needed
        raise
    finally:
        ours.close()
        process.join()
    return _join(pdf, second_pdf), refused + second_refused


def _render_second(html: str, css: str, base_dir: Path, roots: list[Path], link, parents_end) -> None:  # type: ignore[no-untyped-def]
    """In the forked process: lay out and draw the second part, send the PDF (or what failed) back."""
    parents_end.close()
    try:
        with _numbered_across(link, first=False):
            reply = ("pdf", *_render(html, css, base_dir, roots))
    except PartError:
        return  # the first part failed, and says why: nobody waits for this one
    except BaseException as exc:
        reply = ("error", _portable(exc))
    _send(link, reply)
    link.close()


def _portable(exc: BaseException) -> BaseException:
    """The exception itself if it crosses to the other process intact (then the first process raises
    just what laying the review out in one piece would have raised), else its text as a PartError."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return PartError(f"{type(exc).__name__}: {exc}")
    return exc


def _send(link, message: tuple) -> None:  # type: ignore[no-untyped-def,type-arg]
    with suppress(ConnectionError):  # the other process stopped; _receive tells why
        link.send(message)


def _receive(link) -> list:  # type: ignore[no-untyped-def,type-arg]
    """The other process's next message (pages, pdf) without its kind; raises what failed there."""
    try:
        kind, *message = link.recv()
    except (EOFError, ConnectionError):  # closed, or reset when it died with our message unread
        raise PartError("the process stopped") from None
    if kind == "error":
        raise message[0]
    return message


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
            _send(link, ("pages", own))
            (other,) = _receive(link)
            shift.update(page=0 if first else other, pages=own + other)
        counters = {**counters, "page": [counters["page"][-1] + shift["page"]], "pages": [shift["pages"]]}
        return make_margin_boxes(context, page, (quote_depth, counters, scopes, groups))

    layout.make_margin_boxes = numbered
    try:
        yield
    finally:
        layout.make_margin_boxes = make_margin_boxes


def _join(first: bytes, second: bytes) -> bytes:
    """One PDF: the pages and outline entries of the second part after those of the first."""
    import pikepdf

    whole, part = pikepdf.open(BytesIO(first)), pikepdf.open(BytesIO(second))
    _retag_fonts(part, salt="2")
    offset = len(whole.pages)
    whole.pages.extend(part.pages)
    with part.open_outline() as source, whole.open_outline() as target:
        target.root.extend(_moved(item, part, whole, offset) for item in source.root)
    out = BytesIO()
    # the same review gives the same bytes (the send log relies on it); object streams: 15 % smaller
    whole.save(out, deterministic_id=True, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    return out.getvalue()


def _retag_fonts(pdf, salt: str) -> None:  # type: ignore[no-untyped-def]
    """New subset tags (the 'ABCDEF+' of 'ABCDEF+Lato') for this part's fonts: WeasyPrint derives
    the tag from the font alone, so both parts' different subsets of Lato would share one name,
    which the PDF standard forbids (a reader may take one subset for the other)."""
    import pikepdf

    for font in pdf.objects:
        if not isinstance(font, pikepdf.Dictionary):
            continue
        for key in ("/BaseFont", "/FontName"):
            name = str(font.get(key, ""))
            if re.fullmatch(r"/[A-Z]{6}\+.+", name):
                digest = hashlib.sha256(f"{name[1:7]}{salt}".encode()).digest()
                tag = "".join(chr(ord("A") + byte % 26) for byte in digest[:6])
                font[key] = pikepdf.Name(f"/{tag}{name[7:]}")


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
