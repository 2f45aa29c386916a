"""Hostile text in configs, data and templates: it never becomes a spreadsheet formula, never makes
the PDF fetch a URL or read a file outside the project, is escaped in every HTML template, never
builds a path outside the output folder; the SMTP password is never printed."""

from __future__ import annotations

import http.server
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from kpireport.cli import cli
from kpireport.review import DEFAULT_TEMPLATES, environment

PASSWORD = "hunter2-S3CRET-pw"
WEB = "date,visits,leads\n2026-01-05,100,5\n2026-02-03,120,7\n2026-03-01,90,4\n"


@pytest.fixture
def web_server() -> Iterator[tuple[str, list[str]]]:
    """A web server on loopback that records every request: nothing may ever reach it."""
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()
    server.server_close()


def hostile_project(folder: Path, url: str) -> Path:
    """Every free text of a config holding markup, formulas or paths."""
    folder.mkdir()
    (folder / "kpireport.yaml").write_text(f"""\
title: 'Review <img src="{url}/title.png">'
company: '<script>alert("company")</script>'
locale: en
owners:
  "../../etc": {{name: '<img src="{url}/owner.png">', email: '../../x@example.com'}}
  "/tmp/evil": {{name: '=cmd|"/C calc"!A0', email: 'evil@example.com'}}
inputs:
  visits: {{aggregate: sum, label: '=HYPERLINK("{url}/input","click")'}}
  leads: {{aggregate: sum, label: '+1+1'}}
kpis:
  traffic:
    formula: visits
    target: 1000
    owner: "../../etc"
    label: '<script>alert("label")</script>'
    domain: '../../x'
    definition: '<img src="{url}/definition.png"> @SUM(A1)'
  conversion: {{formula: leads / visits, format: percent, owner: "/tmp/evil", domain: '/etc/passwd',
               label: '-2+3'}}
sources:
  - {{path: web.csv, date: date}}
smtp: {{host: 127.0.0.1, port: 9, from: kpi@example.com}}
""", encoding="utf-8")
    (folder / "web.csv").write_text(WEB, encoding="utf-8")
    return folder / "kpireport.yaml"


def run(*args: object, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


# --- the workbook: text stays text ----------------------------------------------------------------------


def test_text_from_the_config_and_typed_notes_never_becomes_a_formula(tmp_path: Path) -> None:
    config = hostile_project(tmp_path / "p", "http://example.com")
    out = tmp_path / "p" / "t.xlsx"
    assert run("template", config, "-o", out).exit_code == 0
    workbook = load_workbook(out)
    from kpireport.template import named_cells

    note = named_cells(workbook, "note_visits")[-1]
    note.value = '=HYPERLINK("http://example.com/note","x")'  # typed with a leading ' in Excel: text
    note.data_type = "s"
    workbook.save(out)
    result = run("template", config, "-o", out, "--update")
    assert result.exit_code == 0, result.output
    workbook = load_workbook(out)
    texts = []
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    assert "example.com" not in cell.value
                    assert "cmd" not in cell.value
                    assert "@SUM" not in cell.value
                elif isinstance(cell.value, str) and cell.value[:1] in "=+-@":
                    texts.append(cell.value)
    assert {'=HYPERLINK("http://example.com/input","click")', "+1+1", "-2+3", '=cmd|"/C calc"!A0',
            '=HYPERLINK("http://example.com/note","x")'} <= set(texts)
    with zipfile.ZipFile(out) as archive:  # and in the file itself: no <f> element holds them
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                xml = archive.read(name).decode()
                assert "<f>=HYPERLINK" not in xml
                assert "<f>HYPERLINK" not in xml
                assert "<f>cmd" not in xml


# --- the review: escaped, nothing fetched ---------------------------------------------------------------


def test_markup_in_the_config_is_escaped_and_nothing_is_fetched(tmp_path: Path, web_server) -> None:
    url, requests = web_server
    config = hostile_project(tmp_path / "p", url)
    out = tmp_path / "p" / "output"
    result = run("report", config, "-o", out / "review.pdf", "--html", out / "review.html")
    assert result.exit_code == 0, result.output
    html = (out / "review.html").read_text(encoding="utf-8")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;label&#34;)&lt;/script&gt;" in html
    assert f'<img src="{url}' not in html
    assert f"&lt;img src=&#34;{url}/title.png&#34;&gt;" in html
    assert "not loaded" not in result.output  # escaped text is no URL: WeasyPrint was asked for none
    assert (out / "review.pdf").read_bytes().startswith(b"%PDF")
    assert requests == []


def test_every_html_and_css_template_is_autoescaped_and_only_mail_text_is_not() -> None:
    env = environment(None)
    names = [str(p.relative_to(DEFAULT_TEMPLATES)) for p in DEFAULT_TEMPLATES.rglob("*") if p.is_file()]
    assert any(name.endswith(".html") for name in names)
    for name in names:
        assert env.autoescape(name) is (not name.endswith(".txt")), name
    assert env.from_string("{{ x }}").render(x="<script>") == "&lt;script&gt;"  # the default too


def test_a_template_dir_page_is_autoescaped_too(tmp_path: Path, web_server) -> None:
    url, requests = web_server
    config = hostile_project(tmp_path / "p", url)
    (tmp_path / "tpl" / "review").mkdir(parents=True)
    (tmp_path / "tpl" / "review" / "cover.html").write_text("<h1>{{ view.title }} {{ view.company }}</h1>",
                                                             encoding="utf-8")
    result = run("report", config, "-o", tmp_path / "out" / "r.pdf", "--html", tmp_path / "out" / "r.html",
                 "--template-dir", tmp_path / "tpl")
    assert result.exit_code == 0, result.output
    html = (tmp_path / "out" / "r.html").read_text(encoding="utf-8")
    assert "<h1>Review &lt;img" in html
    assert "&lt;script&gt;alert(&#34;company&#34;)" in html
    assert requests == []


# --- paths built from owner ids, domains and addresses ------------------------------------------------------


@pytest.mark.parametrize("per", ["owner", "domain"])
def test_per_owner_and_per_domain_files_stay_in_the_output_folder(tmp_path: Path, per: str) -> None:
    config = hostile_project(tmp_path / "p", "http://example.com")
    out = tmp_path / "out"
    result = run("report", config, "-o", out / "review.pdf", "--per", per)
    assert result.exit_code == 0, result.output
    written = sorted(p for p in tmp_path.rglob("*") if p.is_file() and p.suffix == ".pdf")
    assert written
    assert all(p.parent == out for p in written)
    expected = {"owner": ["review-etc.pdf", "review-tmp-evil.pdf"], "domain": ["review-etc-passwd.pdf", "review-x.pdf"]}
    assert [p.name for p in written] == expected[per]
    assert not (tmp_path / "etc").exists()
    assert not Path("/etc/review.pdf").exists()


def test_send_dry_run_files_stay_in_its_folder_and_never_hold_the_password(tmp_path: Path) -> None:
    config = hostile_project(tmp_path / "p", "http://example.com")
    env = {"KPIREPORT_SMTP_USER": "kpi", "KPIREPORT_SMTP_PASSWORD": PASSWORD}
    result = run("send", config, "--dry-run", tmp_path / "eml", "--output-dir", tmp_path / "out", env=env)
    assert result.exit_code == 0, result.output
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix == ".eml"]
    assert len(files) == 2
    assert all(p.parent == tmp_path / "eml" for p in files)
    assert PASSWORD not in result.output
    assert all(PASSWORD.encode() not in p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())


def test_the_password_is_blanked_out_of_any_error_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even when a library puts it in an exception (an echoed AUTH line, say) and even for a bug."""
    import kpireport.delivery

    def leaky(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"535 authentication failed for kpi:{PASSWORD}")

    monkeypatch.setattr(kpireport.delivery, "connect", leaky)
    config = hostile_project(tmp_path / "p", "http://example.com")
    env = {"KPIREPORT_SMTP_USER": "kpi", "KPIREPORT_SMTP_PASSWORD": PASSWORD}
    result = run("send", config, "--output-dir", tmp_path / "out", env=env)
    assert result.exit_code == 1
    assert "535 authentication failed for kpi:********" in result.output
    assert PASSWORD not in result.output
