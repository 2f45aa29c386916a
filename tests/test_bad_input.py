"""The bad-input corpus: configs and data files people get wrong, each run through the real CLI.

Every case is built here in a fresh project (no hand-made binaries) and must end the same way: exit
code 2, one `error:` message naming the file (and its line, column or key where there is one) with a
`hint:` saying how to fix it, no traceback, no output file (nor a temporary one) left behind, and
every file of the project byte for byte as it was.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import Workbook, load_workbook

from kpireport.cli import cli

CONFIG = """\
title: Test
locale: en
owners:
  web: {name: Web Team, email: web@example.com}
inputs:
  visits: {aggregate: sum}
  leads: {aggregate: sum}
kpis:
  traffic: {formula: visits, target: 1000, owner: web}
  conversion: {formula: leads / visits, format: percent, target: 0.05, owner: web}
sources:
  - {path: web.csv, date: date}
"""
WEB = "date,visits,leads\n2026-01-05,100,5\n2026-02-03,120,7\n2026-03-01,90,4\n"
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # what Excel writes for a password-protected .xlsx


def edit(old: str, new: str) -> Callable[[str], str]:
    """The base config with `old` replaced by `new` (which must be there)."""
    def apply(text: str) -> str:
        assert old in text, old
        return text.replace(old, new)
    return apply


# --- workbooks, made by the tests ----------------------------------------------------------------------


def template_bytes(folder: Path) -> bytes:
    """A real template of the base project, filled from its data (built in a folder removed after)."""
    base = folder.parent / "base"
    base.mkdir()
    (base / "kpireport.yaml").write_text(CONFIG, encoding="utf-8")
    (base / "web.csv").write_text(WEB, encoding="utf-8")
    result = CliRunner().invoke(cli, ["template", str(base / "kpireport.yaml"), "-o", str(base / "t.xlsx")])
    assert result.exit_code == 0, result.output
    data = (base / "t.xlsx").read_bytes()
    shutil.rmtree(base)
    return data


def broken_template(how: str) -> Callable[[Path], bytes]:
    """The template after a person broke its structure in a spreadsheet."""
    def make(folder: Path) -> bytes:
        (folder / "t.xlsx").write_bytes(template_bytes(folder))
        workbook = load_workbook(folder / "t.xlsx")
        if how == "row deleted":  # as Excel does: the row goes, the name pointing at it becomes #REF!
            workbook["Inputs"].delete_rows(6)  # the visits row
            workbook.defined_names["in_visits"].attr_text = "'Inputs'!#REF!"
        elif how == "header row deleted":
            workbook.defined_names["months"].attr_text = "#REF!"
        elif how == "sheet renamed":  # by a tool that does not follow the names (Excel would)
            workbook["Inputs"].title = "Saisies"
        elif how == "formula typed over":
            workbook["KPIs"]["E6"] = 130
        workbook.save(folder / "t.xlsx")
        data = (folder / "t.xlsx").read_bytes()
        (folder / "t.xlsx").unlink()
        return data
    return make


def owner_workbook(changed: Callable[[str], str]) -> Callable[[Path], bytes]:
    """The owner's workbook (template --per owner) made from the base config as `changed` makes it."""
    def make(folder: Path) -> bytes:
        base = folder.parent / "base"
        base.mkdir()
        (base / "kpireport.yaml").write_text(changed(CONFIG), encoding="utf-8")
        (base / "web.csv").write_text(WEB, encoding="utf-8")
        result = CliRunner().invoke(cli, ["template", str(base / "kpireport.yaml"), "--per", "owner",
                                          "-o", str(base / "kpis.xlsx")])
        assert result.exit_code == 0, result.output
        data = (base / "kpis-web.xlsx").read_bytes()
        shutil.rmtree(base)
        return data
    return make


def plain_workbook(folder: Path) -> bytes:
    workbook = Workbook()
    workbook.active.append(["date", "visits", "leads"])
    workbook.active.append(["2026-01-05", 100, 5])
    workbook.save(folder / "plain.xlsx")
    data = (folder / "plain.xlsx").read_bytes()
    (folder / "plain.xlsx").unlink()
    return data


def truncated(folder: Path) -> bytes:
    data = template_bytes(folder)
    return data[: len(data) // 2]  # a download or a copy interrupted half-way


def open_document(folder: Path) -> bytes:
    """A spreadsheet LibreOffice saved in its own format (.ods): a zip, as an .xlsx is, led by its mimetype."""
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("content.xml", "<office:document-content/>")
    return out.getvalue()


def encrypted(folder: Path) -> bytes:
    """An encrypted workbook as Excel saves it: an OLE2 compound file holding an EncryptedPackage."""
    return OLE2 + bytes(504) + "EncryptedPackage".encode("utf-16-le") + bytes(3584)


# --- the cases ------------------------------------------------------------------------------------------


@dataclass
class Case:
    id: str
    expect: list[str]  # fragments of the message (the first: the file, with line/key where known)
    config: str | Callable[[str], str] | None = None
    files: dict[str, str | bytes | Callable[[Path], bytes]] = field(default_factory=dict)
    command: str = "template"  # template (-o out.xlsx), report (-o out.pdf), validate or compute
    args: list[str] = field(default_factory=list)  # more arguments ({dir} is the project folder)
    why: str = ""  # when the behaviour is a choice, what a marketer would want


CONFIG_CASES = [
    Case("yaml-tab-indentation", ["kpireport.yaml:9:1", "invalid YAML", "never tabs"],
         edit("  traffic:", "\ttraffic:")),
    Case("yaml-quote-left-open", ["kpireport.yaml:", "invalid YAML"], edit("title: Test", 'title: "Test')),
    Case("yaml-a-list-not-a-mapping", ["kpireport.yaml", "must be a mapping"], "- title\n- kpis\n"),
    Case("config-empty", ["kpireport.yaml", "must be a mapping", "kpireport init"], ""),
    Case("config-not-utf8", ["kpireport.yaml", "not UTF-8", "save the config as UTF-8"],
         None, {"kpireport.yaml": CONFIG.replace("Test", "Revue détaillée").encode("latin-1")}),
    Case("config-missing", ["nowhere.yaml", "file not found"], command="validate-missing"),
    Case("name-both-a-kpi-and-an-input", ["kpireport.yaml", "kpis.per_visit.formula",
                                          "'leads' could mean the KPI 'leads' (blog_leads) or the input 'leads'",
                                          "rename the KPI (e.g. to 'blog_leads')"],
         edit("  conversion:", "  leads: {use: blog.leads}\n  total: {use: campaigns.total_leads}\n"
                               "  per_visit: {formula: leads / visits}\n  conversion:"),
         why="a catalog formula's 'leads' is all leads; in a formula of yours, which one is meant is a guess"),
    Case("review-of-a-month-without-data", ["kpireport.yaml", "no KPI has a value for 2025-06", "--month"],
         command="report", args=["--month", "2025-06"],
         why="a review of cards saying 'no data' would be mailed as if it were one"),
    Case("unknown-top-level-key", ["kpireport.yaml:11: sorces", "unknown key 'sorces'", "did you mean 'sources'?"],
         edit("sources:", "sorces:")),
    Case("unknown-kpi-key", ["kpireport.yaml:9: kpis.traffic.formul", "did you mean 'formula'?"],
         edit("{formula: visits,", "{formul: visits,")),
    Case("unknown-source-key", ["kpireport.yaml:12: sources.0.dat", "did you mean 'date'?"],
         edit("date: date}", "dat: date}")),
    Case("date-format-not-strftime", ["kpireport.yaml:12: sources.0.date_format", "not a strftime format",
                                      '"%m/%d/%Y" for 05/31/2026'],
         edit("date: date}", "date: date, date_format: MM/DD/YYYY}")),
    Case("wrong-type-target", ["kpireport.yaml:9: kpis.traffic.target", "valid number"],
         edit("target: 1000", "target: lots")),
    Case("target-infinite", ["kpireport.yaml:9: kpis.traffic.target", "finite number"],
         edit("target: 1000", "target: .inf")),
    Case("tolerance-out-of-range", ["kpireport.yaml:9: kpis.traffic.tolerance", "less than or equal to 1"],
         edit("target: 1000,", "target: 1000, tolerance: 5,")),
    Case("kpis-a-list", ["kpireport.yaml:8: kpis", "valid dictionary"],
         edit("kpis:\n  traffic: {formula: visits, target: 1000, owner: web}\n  conversion:",
              "kpis:\n  - traffic\n  - conversion:")),
    Case("title-missing", ["kpireport.yaml", "title", "this key is required"], edit("title: Test\n", "")),
    Case("duplicate-key", ["kpireport.yaml:10: kpis.traffic", "appears twice"],
         edit("  conversion:", "  traffic:")),
    Case("invalid-kpi-id", ["kpireport.yaml:9: kpis.Traffic-Total", "not a valid id", "lowercase"],
         edit("  traffic:", "  Traffic-Total:")),
    Case("formula-syntax-error", ["kpireport.yaml:9: kpis.traffic.formula", "expected a number", "position"],
         edit("{formula: visits,", '{formula: "visits +* 2",')),
    Case("formula-parenthesis-left-open", ["kpireport.yaml:10: kpis.conversion.formula", "expected ')'"],
         edit("formula: leads / visits", 'formula: "(leads / visits"')),
    Case("formula-unknown-name", ["kpireport.yaml:10: kpis.conversion.formula", "unknown name 'leeds'",
                                  "did you mean 'leads'?"],
         edit("formula: leads / visits", "formula: leeds / visits")),
    Case("formula-unknown-function", ["kpireport.yaml:9: kpis.traffic.formula", "unknown function 'prv'",
                                      "did you mean 'prev'?"],
         edit("{formula: visits,", '{formula: "prv(visits)",')),
    Case("formula-cycle", ["kpireport.yaml:9: kpis.traffic.formula", "cycle: traffic → conversion → traffic"],
         lambda text: text.replace("{formula: visits,", "{formula: conversion * visits,").replace(
             "formula: leads / visits", "formula: leads / traffic")),
    Case("formula-uses-itself", ["kpireport.yaml:9: kpis.traffic.formula", "uses itself", "prev(x)"],
         edit("{formula: visits,", "{formula: traffic + 1,")),
    Case("formula-division-chain", ["kpireport.yaml:10: kpis.conversion.formula", "nests too deeply",
                                    "split it"],
         edit("formula: leads / visits", "formula: " + " / ".join(["leads"] * 200))),
    Case("formula-nested-too-deep", ["kpireport.yaml:9: kpis.traffic.formula", "nests too deeply"],
         edit("{formula: visits,", '{formula: "' + "(" * 150 + "visits" + ")" * 150 + '",')),
    Case("formula-prev-too-far", ["kpireport.yaml:9: kpis.traffic.formula", "(1 to 120)", "prev(x, n)"],
         edit("{formula: visits,", '{formula: "prev(visits, 99999999)",')),
    Case("formula-too-long-for-excel", ["kpireport.yaml: kpis.traffic.formula", "Excel's 8192", "split it"],
         edit("{formula: visits,", '{formula: "avg(avg(visits + 0, 100) + 0, 100)",')),
    Case("formula-division-by-zero-literal", ["kpireport.yaml:10: kpis.conversion.formula", "expected a number"],
         edit("formula: leads / visits", "formula: leads / / visits")),
    Case("unknown-catalog-kpi", ["kpireport.yaml:9: kpis.traffic.use", "not in the catalog",
                                 "did you mean 'email.open_rate'?"],
         edit("{formula: visits,", "{use: email.opn_rate,")),
    Case("unknown-owner", ["kpireport.yaml:9: kpis.traffic.owner", "unknown owner 'wbe'", "did you mean 'web'?"],
         edit("target: 1000, owner: web", "target: 1000, owner: wbe")),
    Case("target-month-not-a-month", ["kpireport.yaml:9: kpis.traffic.target.2026-13", "not a month", "YYYY-MM"],
         edit("target: 1000,", "target: {'2026-13': 1000},")),
    Case("locale-not-offered", ["kpireport.yaml:2: locale", "'de' is not allowed", "'fr' or 'en'"],
         edit("locale: en", "locale: de")),
    Case("currency-not-a-code", ["kpireport.yaml:3: currency", "pattern", "three-letter currency code"],
         edit("locale: en", "locale: en\ncurrency: euro")),
    Case("owner-email-invalid", ["kpireport.yaml:4: owners.web.email", "not an e-mail address"],
         edit("web@example.com", "web-at-example")),
    Case("funnel-unknown-stage", ["kpireport.yaml:11: funnel.1", "unknown stage 'lead'", "did you mean 'leads'?"],
         edit("sources:", "funnel: [visits, lead]\nsources:")),
    Case("long-source-without-value", ["kpireport.yaml:12: sources.0", "long layout needs 'name'"],
         edit("date: date}", "date: date, layout: long, name: metric}")),
    Case("smtp-port-out-of-range", ["kpireport.yaml:11: smtp.port", "less than or equal to 65535"],
         edit("sources:", "smtp: {host: mail.example.com, port: 99999, from: kpi@example.com}\nsources:")),
    Case("logo-outside-the-project", ["kpireport.yaml:11: review.logo", "outside the config's folder",
                                      "copy the image into"],
         edit("sources:", "review: {logo: ../../etc/passwd}\nsources:")),
]

DATA_CASES = [
    Case("wrong-delimiter", ["web.csv:1", "no column 'date'", "'|'"],
         files={"web.csv": "date|visits|leads\n2026-01-05|100|5\n2026-02-03|120|7\n"}),
    Case("mixed-date-styles-month-first", ["web.csv:3:date", "'02/15/2026' is not a date", "month first"],
         files={"web.csv": "date,visits,leads\n15/01/2026,100,5\n02/15/2026,120,7\n"}),
    Case("dates-day-or-month-first", ["web.csv:2:date", "'03/01/2026' is 3 January 2026 day first and 1 March 2026 "
                                                    "month first", 'date_format: "%m/%d/%Y"'],
         files={"web.csv": "date,visits,leads\n03/01/2026,100,5\n04/01/2026,120,7\n"},
         why="two days of January or March and April: guessing would put a month's figures in another, silently"),
    Case("monthly-dates-of-one-year", ["web.csv:3:date", "'02/01/2026' is 2 January 2026 day first", "date_format"],
         files={"web.csv": "date,visits,leads\n01/01/2026,100,5\n02/01/2026,120,7\n03/01/2026,90,4\n"},
         why="months on the 1st within one year look like the year's first days: only across years does the "
             "part that stays 01 show it is the day"),
    Case("date-not-as-date-format-says", ["web.csv:2:date", "'2026-01-05' is not a date written as date_format",
                                          "03/14/2026"],
         edit("date: date}", 'date: date, date_format: "%m/%d/%Y"}')),
    Case("month-name-unknown", ["web.csv:3:date", "'5 Februar 2026' is not a date", "'februar' is not a month name"],
         files={"web.csv": "date,visits,leads\n5 janvier 2026,100,5\n5 Februar 2026,120,7\n"}),
    Case("two-digit-year", ["web.csv:2:date", "'15/01/26' is not a date", "four digits"],
         files={"web.csv": "date,visits,leads\n15/01/26,100,5\n"}),
    Case("text-in-a-number-column", ["web.csv:3:visits", "'lots' is not a number", "--skip-bad-rows"],
         files={"web.csv": "date,visits,leads\n2026-01-05,100,5\n2026-02-03,lots,7\n"}),
    Case("month-repeated-in-a-monthly-file", ["web.csv:4:date", "2026-01 appears on 2 rows", "one row per month"],
         files={"web.csv": "date,visits,leads\n2026-01,100,5\n2026-02,120,7\n2026-01,100,5\n"},
         why="a monthly export with a month twice is a copy-paste slip: summing it would double the month"),
    Case("same-month-in-two-files", ["more.csv", "comes from two files", "keep it in one file"],
         edit("  - {path: web.csv, date: date}", "  - {path: web.csv, date: date}\n  - {path: more.csv}"),
         {"more.csv": "date,visits\n2026-02-14,5\n"}),
    Case("mapped-column-misspelt", ["web.csv:1: sources.0.columns.Session", "no column 'Session'",
                                    "did you mean 'Sessions'?"],
         edit("date: date}", "date: date, columns: {Session: visits}}"),
         {"web.csv": WEB.replace("visits", "Sessions")},
         why="the KPI would have no data, and the warning saying why was lost among the others"),
    Case("long-mapped-name-in-another-case", ["crm.csv:1: sources.1.columns.total leads", "has 'Total Leads'",
                                              "case included"],
         edit("  - {path: web.csv, date: date}", "  - {path: web.csv, date: date}\n"
              "  - {path: crm.csv, layout: long, name: metric, value: amount, columns: {total leads: leads}}"),
         {"crm.csv": "date,metric,amount\n2026-04-01,Total Leads,5\n"},
         why="a name missing from a long file may be a month without it, but one differing only by case is a typo"),
    Case("empty-file", ["web.csv", "the file is empty", "header row"], files={"web.csv": b""}),
    Case("blank-lines-only", ["web.csv", "the file is empty"], files={"web.csv": "\n  \n\t\n"}),
    Case("header-only", ["kpireport.yaml", "there is no data to review", "add data files"],
         files={"web.csv": "date,visits,leads\n"}, command="report",
         why="no rows is no error to read (a new project), but a review of nothing is"),
    Case("huge-number", ["web.csv:2:visits", "is not a finite number"],
         files={"web.csv": "date,visits,leads\n2026-01-05,1e999,5\n"}),
    Case("number-with-400-digits", ["web.csv:2:leads", "is not a finite number"],
         files={"web.csv": "date,visits,leads\n2026-01-05,100,1" + "0" * 400 + "\n"}),
    Case("infinity-as-text", ["web.csv:3:visits", "'inf' is not a finite number"],
         files={"web.csv": "date,visits,leads\n2026-01-05,100,5\n2026-02-03,inf,7\n"}),
    Case("month-adds-up-to-infinity", ["web.csv", "'visits' for 2026-01 adds up to inf"],
         files={"web.csv": "date,visits,leads\n2026-01-05,1e308,5\n2026-01-06,1e308,7\n"}, command="report",
         why="each cell is a number, but their sum is none: a review showing 'inf' on target would be a lie"),
    Case("percentage-in-a-count", ["web.csv:3:leads", "'150 %' is a percentage where a count is expected",
                                   "format: percent"],
         files={"web.csv": "date,visits,leads\n2026-01-05,100,5\n2026-02-03,120,150 %\n"},
         why="read as 1.5 leads it would be a silent nonsense; a rate input says 'format: percent'"),
    Case("percentage-in-an-amount", ["crm.csv:2:amount", "'12 %' is a percentage where an amount is expected"],
         lambda text: text.replace("  leads: {aggregate: sum}", "  leads: {aggregate: sum}\n"
                                   "  spend: {aggregate: sum, format: currency}").replace(
             "  - {path: web.csv, date: date}", "  - {path: web.csv, date: date}\n"
             "  - {path: crm.csv, layout: long, name: metric, value: amount}"),
         {"crm.csv": "date,metric,amount\n2026-01-05,spend,12 %\n"}, command="compute"),
    Case("totals-row", ["web.csv:4:date", "'Total' is not a date", "totals row"],
         files={"web.csv": WEB.replace("2026-03-01,90,4", "Total,310,16")}),
    Case("values-without-a-date", ["web.csv:3:date", "the date is empty on a row with values"],
         files={"web.csv": "date,visits,leads\n2026-01-05,100,5\n,120,7\n"}),
    Case("quote-left-open", ["web.csv", "cannot read it as CSV", "quote"],
         files={"web.csv": 'date,visits,leads\n"2026-01-05,100,5\n2026-02-03,120,7\n'}),
    Case("comma-inside-a-number", ["web.csv:3", "4 cells but the header has 3", "quote it"],
         files={"web.csv": "date,visits,leads\n2026-01-05,100,5\n2026-02-03,1,200,7\n"}),
    Case("binary-garbage", ["web.csv", "encoding", "CSV UTF-8"], files={"web.csv": bytes(range(256)) * 64}),
    Case("data-file-missing", ["web.csv", "file not found", "relative to the config file"],
         files={"web.csv": None}),  # type: ignore[dict-item]
    Case("parquet-broken", ["web.parquet", "cannot read it as Parquet"],
         edit("path: web.csv", "path: web.parquet"), {"web.parquet": b"PAR1" + bytes(200)}),
    Case("xlsx-missing-sheet", ["plain.xlsx", "no sheet 'Data'"],
         edit("path: web.csv, date: date", "path: plain.xlsx, date: date, sheet: Data"),
         {"plain.xlsx": plain_workbook}),
    Case("workbook-not-the-template", ["plain.xlsx", "not a kpireport template", "layout: wide"],
         edit("path: web.csv, date: date", "path: plain.xlsx, layout: template"), {"plain.xlsx": plain_workbook}),
    Case("xlsx-truncated", ["t.xlsx", "damaged or cut short"], files={"t.xlsx": truncated},
         args=["--data", "{dir}/t.xlsx"]),
    Case("template-truncated", ["t.xlsx", "damaged or cut short"],
         edit("path: web.csv, date: date", "path: t.xlsx, layout: template"), {"t.xlsx": truncated}),
    Case("xlsx-password-protected", ["secret.xlsx", "password-protected (encrypted)", "without a password"],
         files={"secret.xlsx": encrypted}, args=["--data", "{dir}/secret.xlsx"]),
    Case("xlsx-saved-as-ods", ["filled.ods", "OpenDocument file (.ods)", "Save As", ".xlsx"],
         files={"filled.ods": open_document}, args=["--data", "{dir}/filled.ods"]),
    Case("template-saved-as-ods", ["t.ods", "OpenDocument file (.ods)", "Save As"],
         edit("path: web.csv, date: date", "path: t.ods, layout: template"), {"t.ods": open_document}),
    Case("template-password-protected", ["t.xlsx", "password-protected (encrypted)", "without a password"],
         edit("path: web.csv, date: date", "path: t.xlsx, layout: template"), {"t.xlsx": encrypted}),
    Case("template-row-deleted", ["t.xlsx", "the name 'in_visits' points nowhere", "restore the row"],
         edit("path: web.csv, date: date", "path: t.xlsx, layout: template"),
         {"t.xlsx": broken_template("row deleted")}),
    Case("template-header-row-deleted", ["t.xlsx", "the name 'months' points nowhere"],
         edit("path: web.csv, date: date", "path: t.xlsx, layout: template"),
         {"t.xlsx": broken_template("header row deleted")}),
    Case("template-sheet-renamed", ["t.xlsx", "the sheet 'Inputs', which the workbook no longer has"],
         edit("path: web.csv, date: date", "path: t.xlsx, layout: template"),
         {"t.xlsx": broken_template("sheet renamed")}, command="report"),
    Case("template-formula-typed-over", ["t.xlsx:6:E", "'traffic' for 2026-01 holds a typed value (130)",
                                         "template --update"],
         edit("path: web.csv, date: date", "path: t.xlsx, layout: template"),
         {"t.xlsx": broken_template("formula typed over")}, command="compute",
         why="the review would show another number than the workbook: better to say so than to pick one"),
    Case("owner-workbook-for-another-config", ["kpis-web.xlsx", "made for another config (its stamp: owner web, "
                                               "config", "--per owner -o kpis.xlsx --update"],
         files={"kpis-web.xlsx": owner_workbook(edit("visits: {aggregate: sum}", "visits: {aggregate: mean}"))},
         command="compute", args=["--data", "{dir}/kpis-web.xlsx"],
         why="its visits were typed as a monthly mean; the config now adds them up: the figures would be wrong"),
    # the output file is the problem: it is left as it was
    Case("output-is-not-a-template", ["out.xlsx", "not a kpireport template; it is left untouched", "--force"],
         files={"out.xlsx": plain_workbook}),
    Case("output-is-password-protected", ["out.xlsx", "password-protected", "left untouched"],
         files={"out.xlsx": encrypted}),
    Case("output-is-cut-short", ["out.xlsx", "damaged or cut short; it is left untouched"],
         files={"out.xlsx": truncated}),
    Case("output-holds-typed-values",
         ["out.xlsx", "differs from the one kpireport would write", "it is left untouched", "--update"],
         files={"out.xlsx": broken_template("formula typed over")}),
]

CASES = CONFIG_CASES + DATA_CASES


def _project(folder: Path, case: Case) -> None:
    folder.mkdir()
    config = case.config(CONFIG) if callable(case.config) else CONFIG if case.config is None else case.config
    (folder / "kpireport.yaml").write_text(textwrap.dedent(config), encoding="utf-8")
    (folder / "web.csv").write_text(WEB, encoding="utf-8")
    for name, content in case.files.items():
        target = folder / name
        if content is None:
            target.unlink()
        elif callable(content):
            target.write_bytes(content(folder))
        else:
            target.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))


def _command(case: Case, folder: Path) -> list[str]:
    config = str(folder / "kpireport.yaml")
    extra = [a.replace("{dir}", str(folder)) for a in case.args]
    if case.command == "template":
        return ["template", config, "-o", str(folder / "out.xlsx"), *extra]
    if case.command == "report":
        return ["report", config, "-o", str(folder / "out.pdf"), *extra]
    if case.command == "validate-missing":
        return ["validate", str(folder / "nowhere.yaml")]
    return [case.command, config, *extra]


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def check_refused(output: str, exit_code: int, expect: list[str]) -> None:
    """Exit 2, one error with a hint, what and where, and no traceback."""
    assert exit_code == 2, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output
    message = output[output.index("error: "):]
    assert "\n  hint: " in message, output
    assert expect[0] in errors[0], output  # the file, and its line, column or key
    for fragment in expect[1:]:
        assert fragment in message, output


def test_the_corpus_has_forty_cases_or_more() -> None:
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_refused_clearly_and_changes_nothing(tmp_path: Path, case: Case) -> None:
    folder = tmp_path / "project"
    _project(folder, case)
    before = _hashes(folder)
    result = CliRunner().invoke(cli, _command(case, folder))
    check_refused(result.output, result.exit_code, case.expect)
    assert _hashes(folder) == before  # nothing written, nothing changed, no .tmp left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]


# --- what is a warning, not an error ---------------------------------------------------------------------


def test_a_negative_count_is_a_warning_and_the_value_is_kept(tmp_path: Path) -> None:
    """A marketer would rather get the review with a flag on the odd month than no review: a negative
    month can come from a correction row (refunds, de-duplicated leads). So: a warning naming the
    input, the months and the file, and the value used as it is."""
    folder = tmp_path / "project"
    _project(folder, Case("negative", [], files={"web.csv": WEB.replace("2026-02-03,120,7", "2026-02-03,-120,7")}))
    before = _hashes(folder)
    result = CliRunner().invoke(cli, ["compute", str(folder / "kpireport.yaml"), "--month", "2026-02"])
    assert result.exit_code == 0, result.output
    assert (f"warning: {folder / 'web.csv'}: visits is negative for 2026-02 (-120 in 2026-02); the value is used "
            "as it is\n  hint: a count or a duration is rarely below 0") in result.output
    assert "traffic,2026-02,-120," in result.output
    assert _hashes(folder) == before


# --- a 200 MB file: read to its last row in a reasonable time, in a real process -----------------------------


def test_a_200_mb_file_is_read_to_its_last_row(tmp_path: Path) -> None:
    """12 million daily rows, with a bad cell on the very last: found and named, within seconds.
    (The happy path of a big file is measured in bench/.)"""
    folder = tmp_path / "project"
    _project(folder, Case("big", []))
    line = b"2026-01-05,100,5\n"
    rows = 200 * 1024 * 1024 // len(line)
    with (folder / "web.csv").open("wb") as handle:
        handle.write(b"date,visits,leads\n")
        for _ in range(rows // 1_000_000):
            handle.write(line * 1_000_000)
        handle.write(line * (rows % 1_000_000) + b"2026-02-01,lots,5\n")
    assert (folder / "web.csv").stat().st_size > 200 * 1024 * 1024
    before = _hashes(folder)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "kpireport", "template", str(folder / "kpireport.yaml"),
                             "-o", str(folder / "out.xlsx")], capture_output=True, text=True, check=False,
                            timeout=120)
    elapsed = time.monotonic() - started
    check_refused(result.stderr, result.returncode, [f"web.csv:{rows + 2}:visits", "'lots' is not a number"])
    assert elapsed < 60
    assert _hashes(folder) == before
