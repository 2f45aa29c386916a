"""Team filling through the real CLI: `template --per owner` writes one stamped workbook per owner, people
type into theirs (openpyxl, and one saved by LibreOffice), and the workbooks given back together merge:
each input from its owner's workbook, a shared input typed differently refused naming both files, a
workbook made for another config or period refused showing its stamp."""

from __future__ import annotations

import datetime as dt
import json
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from kpireport.cli import cli
from kpireport.config import load_config
from kpireport.months import Month
from kpireport.team import config_hash, owner_share
from kpireport.template import named_cells

from .libreoffice import recalculate
from .test_roundtrip import cell

CONFIG = """\
title: Team
locale: en
owners:
  claire: {name: Claire Martin, email: claire@example.com}
  bob: {name: Bob Durand, email: bob@example.com}
  ines: {name: Ines Petit, email: ines@example.com}
  idle: {name: Nobody Yet}
inputs:
  delivered: {aggregate: sum}
  opened: {aggregate: sum}
  visits: {aggregate: sum}
  leads: {aggregate: sum}
  deals: {aggregate: sum}
  spare: {aggregate: sum}
kpis:
  open_rate: {formula: opened / delivered, format: percent, target: 0.25, owner: claire}
  leads_per_open: {formula: leads / opened, target: 0.4, owner: claire}
  visits_seen: {formula: visits, target: 4500, owner: bob}
  visit_to_lead: {formula: leads / visits, format: percent, target: 0.05, owner: bob}
  win_rate: {formula: deals / leads, format: percent, target: 0.2, owner: ines}
  conversion: {formula: win_rate * visit_to_lead, format: percent, target: 0.004, owner: ines}
  deals_doubled: {formula: deals * 2, target: 50}
"""
# who holds what: the inputs of each owner's KPIs, and of the KPIs those use (ines's conversion uses bob's
# visit_to_lead); leads is read by all three owners
SHARES = {
    "claire": ({"delivered", "opened", "leads"}, {"open_rate", "leads_per_open"}),
    "bob": ({"visits", "leads"}, {"visits_seen", "visit_to_lead"}),
    "ines": ({"deals", "leads", "visits"}, {"win_rate", "conversion", "visit_to_lead"}),
}
JAN, FEB, MAR = Month(2026, 1), Month(2026, 2), Month(2026, 3)


def run(*args: object):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, [str(a) for a in args])


def team(tmp_path: Path, *extra: object) -> tuple[Path, dict[str, Path]]:
    config = tmp_path / "kpireport.yaml"
    if not config.exists():
        config.write_text(CONFIG, encoding="utf-8")
    result = run("template", config, "--per", "owner", "-o", tmp_path / "kpi-template.xlsx", "--year", "2026",
                 *extra)
    assert result.exit_code == 0, result.output
    return config, {owner: tmp_path / f"kpi-template-{owner}.xlsx" for owner in SHARES}


def type_into(path: Path, typed: dict[str, dict[Month, object]]) -> None:
    """Type into the cells of defined names (name -> month -> value) and save, as a person does."""
    book = load_workbook(path)
    for name, by_month in typed.items():
        for month, value in by_month.items():
            cell(book, name, month).value = value
    book.save(path)


def stamp_of(path: Path) -> dict[str, str]:
    return {p.name: p.value for p in load_workbook(path).custom_doc_props.props}


def rows_of(result) -> dict[tuple[str, str], dict]:  # type: ignore[no-untyped-def,type-arg]
    assert result.exit_code == 0, result.output
    return {(row["kpi"], row["month"]): row for row in json.loads(result.stdout)["rows"]}


def test_one_workbook_per_owner_with_only_their_inputs_and_a_stamp(tmp_path: Path) -> None:
    config = tmp_path / "kpireport.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    result = run("template", config, "--per", "owner", "-o", tmp_path / "kpi-template.xlsx", "--year", "2026")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.glob("*.xlsx")) == [
        "kpi-template-bob.xlsx", "kpi-template-claire.xlsx", "kpi-template-ines.xlsx"]  # idle owns no KPI
    assert "deals_doubled has no owner: it is in no per-owner workbook" in result.output
    assert "the input 'spare' is read by no owner's KPI" in result.output
    hashes = {}
    for owner, (inputs, kpis) in SHARES.items():
        path = tmp_path / f"kpi-template-{owner}.xlsx"
        assert f"wrote {path} — {len(kpis)} KPIs, {len(inputs)} inputs, 2026-01 to 2026-12" in result.output
        book = load_workbook(path)
        names = set(book.defined_names)
        assert {n[3:] for n in names if n.startswith("in_")} == inputs
        assert {n[4:] for n in names if n.startswith("kpi_")} == kpis
        months = [Month.of(c.value) for c in named_cells(book, "months")]
        assert months[-12:] == [Month(2026, m) for m in range(1, 13)]  # the same period in every workbook
        stamp = stamp_of(path)
        assert stamp["kpireport.owner"] == owner
        assert stamp["kpireport.period"] == "2026-01..2026-12"
        assert len(stamp["kpireport.config"]) == 12
        hashes[owner] = stamp["kpireport.config"]
        start = [c.value for row in book["Start here"].iter_rows() for c in row if isinstance(c.value, str)]
        shown = next(line for line in start if "Version:" in line)
        assert f"(owner '{owner}'), their inputs only. Version: config {stamp['kpireport.config']}, 2026-01 to " \
               f"2026-12, generated {stamp['kpireport.generated'][:10]}" in shown
        owners_table = {c.value for c in book["Start here"]["A"]}
        assert "Claire Martin" in owners_table if owner == "claire" else "Claire Martin" not in owners_table
    assert len(set(hashes.values())) == 3  # each owner's share has its own


def test_the_config_hash_ignores_wording_and_targets_not_what_cells_mean(tmp_path: Path) -> None:
    def hash_of(text: str) -> str:
        path = tmp_path / "c.yaml"
        path.write_text(text, encoding="utf-8")
        return config_hash(owner_share(load_config(path), "claire"))

    base = hash_of(CONFIG)
    cosmetic = CONFIG.replace("title: Team", "title: The team").replace("target: 0.25", "target: 0.3")
    cosmetic = cosmetic.replace("opened / delivered,", "opened/delivered, label: Opens per delivery,")
    cosmetic = cosmetic.replace("name: Claire Martin", "name: Claire M.")
    assert hash_of(cosmetic) == base
    assert hash_of(CONFIG.replace("deals: {aggregate: sum}", "deals: {aggregate: max}")) == base  # not claire's
    for meaning in (CONFIG.replace("opened: {aggregate: sum}", "opened: {aggregate: mean}"),
                    CONFIG.replace("leads / opened,", "leads / delivered,"),
                    CONFIG.replace("leads / opened, target: 0.4,", "leads / opened, format: percent, target: 0.4,"),
                    CONFIG.replace("target: 4500, owner: bob", "target: 4500, owner: claire")):
        assert hash_of(meaning) != base


def test_filled_workbooks_merge_each_input_from_its_owner(tmp_path: Path) -> None:
    config, books = team(tmp_path, "--blank")
    type_into(books["claire"], {"in_delivered": {JAN: 1000, FEB: 1200, MAR: 800},
                                "in_opened": {JAN: 250, FEB: 300, MAR: 180},
                                "in_leads": {JAN: 100},  # the same figure bob typed: one value
                                "note_leads": {FEB: "Webinar on the 10th"},
                                "target_open_rate": {MAR: 0.2}})
    type_into(books["bob"], {"in_visits": {JAN: 5000, FEB: 6000, MAR: 4000},
                             "in_leads": {JAN: 100, FEB: 150, MAR: 90},
                             "note_leads": {FEB: "Form fixed"}})
    type_into(books["ines"], {"in_deals": {JAN: 20, FEB: 30, MAR: 18},
                              "target_visit_to_lead": {MAR: 0.9}})  # bob's KPI: only his workbook sets its target
    bob_saved = recalculate(books["bob"], tmp_path / "saved-by-libreoffice")  # the stamp survives LibreOffice
    assert stamp_of(bob_saved) == stamp_of(books["bob"])

    computed = run("compute", config, "--data", books["claire"], "--data", bob_saved, "--data", books["ines"],
                   "--format", "json")
    rows = rows_of(computed)
    expected = {  # worked out by hand from the typed figures
        "open_rate": (0.25, 0.25, 0.225), "leads_per_open": (0.4, 0.5, 0.5), "visits_seen": (5000, 6000, 4000),
        "visit_to_lead": (0.02, 0.025, 0.0225), "win_rate": (0.2, 0.2, 0.2),
        "conversion": (0.004, 0.005, 0.0045), "deals_doubled": (40, 60, 36)}
    for kpi, values in expected.items():
        for month, value in zip(("2026-01", "2026-02", "2026-03"), values, strict=True):
            assert rows[(kpi, month)]["value"] == pytest.approx(value), (kpi, month)
    recalculated = load_workbook(bob_saved, data_only=True)  # LibreOffice's own figures in bob's workbook
    for kpi in ("visits_seen", "visit_to_lead"):
        for month, value in zip((JAN, FEB, MAR), expected[kpi], strict=True):
            assert cell(recalculated, f"kpi_{kpi}", month).value == pytest.approx(value), (kpi, month)
    assert rows[("open_rate", "2026-03")]["target"] == pytest.approx(0.2)  # typed by claire, its owner
    assert rows[("visit_to_lead", "2026-03")]["target"] == pytest.approx(0.05)  # ines's typing ignored, and said
    assert (f"{books['ines']}: the target of 'visit_to_lead' typed in ines's workbook is not used: 'visit_to_lead' "
            "is bob's") in computed.stderr
    assert "type it in bob's workbook" in computed.stderr
    assert {month for _, month in rows} == {"2026-01", "2026-02", "2026-03"}  # nobody typed April

    html = tmp_path / "review.html"
    reported = run("report", config, "--data", books["claire"], "--data", bob_saved, "--data", books["ines"],
                   "--month", "2026-02", "-o", tmp_path / "r.pdf", "--html", html)
    assert reported.exit_code == 0, reported.output
    assert "Webinar on the 10th / Form fixed" in html.read_text(encoding="utf-8")  # both owners' notes kept


def test_a_shared_input_typed_differently_is_refused_naming_both_workbooks(tmp_path: Path) -> None:
    config, books = team(tmp_path, "--blank")
    type_into(books["bob"], {"in_leads": {FEB: 150}})
    type_into(books["ines"], {"in_leads": {FEB: 105}, "in_deals": {FEB: 30}})
    result = run("compute", config, *(a for path in books.values() for a in ("--data", path)))
    assert result.exit_code == 2
    assert f"error: {books['ines']}: 'leads' for 2026-02 is 150 in {books['bob']} and 105 in {books['ines']}: " \
           "two owners' workbooks give this input different values" in result.output
    assert "Traceback" not in result.output


def test_a_whole_team_workbook_beside_an_owner_workbook_still_collides(tmp_path: Path) -> None:
    """Two owners' workbooks may hold the same value; a whole-team template beside them is another copy
    of the month, and which one is current is a guess: refused, as two templates always were."""
    config, books = team(tmp_path, "--blank")
    whole = tmp_path / "whole.xlsx"
    assert run("template", config, "-o", whole, "--year", "2026", "--blank").exit_code == 0
    type_into(whole, {"in_leads": {FEB: 150}})
    type_into(books["bob"], {"in_leads": {FEB: 150}})
    result = run("compute", config, "--data", books["bob"], "--data", whole)
    assert result.exit_code == 2
    assert f"'leads' for 2026-02 comes from two files: {books['bob']} and {whole}" in result.output


def test_a_shared_mean_input_with_other_row_counts_is_refused_naming_both_workbooks(tmp_path: Path) -> None:
    (tmp_path / "kpireport.yaml").write_text(CONFIG.replace("leads: {aggregate: sum}", "leads: {aggregate: mean}"),
                                             encoding="utf-8")
    config, books = team(tmp_path, "--blank")
    type_into(books["bob"], {"in_leads": {FEB: 150}, "rows_leads": {FEB: 3}})
    type_into(books["ines"], {"in_leads": {FEB: 150}, "rows_leads": {FEB: 3}})
    assert run("compute", config, "--data", books["bob"], "--data", books["ines"]).exit_code == 0
    type_into(books["ines"], {"rows_leads": {FEB: 4}})
    result = run("compute", config, "--data", books["bob"], "--data", books["ines"])
    assert result.exit_code == 2
    assert f"error: {books['ines']}: the rows behind 'leads' for 2026-02 are 3 in {books['bob']} and 4 in " \
           f"{books['ines']}: two owners' workbooks give this count differently" in result.output


def test_a_workbook_made_for_another_config_or_period_is_refused_showing_its_stamp(tmp_path: Path) -> None:
    config, books = team(tmp_path, "--blank")
    type_into(books["claire"], {"in_delivered": {JAN: 1000}, "in_opened": {JAN: 250}})
    every = [a for path in books.values() for a in ("--data", path)]
    stamp = stamp_of(books["claire"])
    shown = (f"owner claire, config {stamp['kpireport.config']}, 2026-01 to 2026-12, generated "
             f"{stamp['kpireport.generated'][:10]} {stamp['kpireport.generated'][11:16]} UTC")

    # a reworded label and a new target: what the cells mean is unchanged, the workbooks are still good
    config.write_text(CONFIG.replace("target: 0.25", "target: 0.3, label: Opens"), encoding="utf-8")
    assert run("compute", config, *every).exit_code == 0

    # claire's open rate now divides by another input: her workbook is for another config, bob's is not
    config.write_text(CONFIG.replace("opened / delivered", "opened / (delivered + leads)"), encoding="utf-8")
    refused = run("compute", config, *every)
    assert refused.exit_code == 2
    assert f"error: {books['claire']}: this workbook was made for another config (its stamp: {shown})" \
           in refused.output
    assert "kpireport template kpireport.yaml --per owner -o kpi-template.xlsx --update" in refused.output
    assert run("compute", config, "--data", books["bob"]).exit_code == 0
    # and --update rebuilds it for this config, keeping what she typed
    updated = run("template", config, "--per", "owner", "-o", tmp_path / "kpi-template.xlsx", "--year", "2026",
                  "--update")
    assert updated.exit_code == 0, updated.output
    assert cell(load_workbook(books["claire"]), "in_opened", JAN).value == 250
    assert run("compute", config, *every).exit_code == 0

    # bob's workbook of last year beside this year's
    old = tmp_path / "2025"
    old.mkdir()
    assert run("template", config, "--per", "owner", "-o", old / "kpi-template.xlsx", "--year", "2025",
               "--blank").exit_code == 0
    mixed = run("compute", config, "--data", books["claire"], "--data", old / "kpi-template-bob.xlsx")
    assert mixed.exit_code == 2
    assert f"error: {old / 'kpi-template-bob.xlsx'}: this workbook is for another period (its stamp: owner bob, " \
           f"config {stamp_of(books['bob'])['kpireport.config']}, 2025-01 to 2025-12, generated" in mixed.output
    assert f"than {books['claire']} (2026-01 to 2026-12)" in mixed.output

    # two copies of bob's workbook: which one holds the month's figures?
    copy = tmp_path / "kpi-template-bob (1).xlsx"  # a --data file of the same name would replace the first
    copy.write_bytes(books["bob"].read_bytes())
    twice = run("compute", config, "--data", books["bob"], "--data", copy)
    assert twice.exit_code == 2
    assert "a second workbook for the owner 'bob'" in twice.output


def test_a_damaged_stamp_is_refused_saying_how_to_mend_it(tmp_path: Path) -> None:
    config, books = team(tmp_path, "--blank")
    book = load_workbook(books["bob"])
    next(p for p in book.custom_doc_props.props if p.name == "kpireport.period").value = "last year"
    book.save(books["bob"])
    result = run("validate", config, "--data", books["bob"])
    assert result.exit_code == 2
    assert f"error: {books['bob']}: the workbook's kpireport stamp is damaged (" in result.output
    assert "'period': 'last year'" in result.output
    assert "hint: restore its custom properties (File > Properties > Custom" in result.output


def test_each_per_owner_file_keeps_the_rules_of_a_single_template(tmp_path: Path) -> None:
    config, books = team(tmp_path, "--blank")
    type_into(books["claire"], {"in_opened": {JAN: 250}, "in_delivered": {JAN: 1000}})
    before = {owner: path.read_bytes() for owner, path in books.items()}
    again = run("template", config, "--per", "owner", "-o", tmp_path / "kpi-template.xlsx", "--year", "2026",
                "--blank")
    assert again.exit_code == 2
    assert f"error: {books['claire']}: this workbook differs from the one kpireport would write" in again.output
    assert "in_opened 2026-01: 250, would be empty" in again.output
    assert {owner: path.read_bytes() for owner, path in books.items()} == before  # none written, not even bob's

    lock = tmp_path / ".~lock.kpi-template-ines.xlsx#"
    lock.write_text("someone", encoding="utf-8")
    opened = run("template", config, "--per", "owner", "-o", tmp_path / "kpi-template.xlsx", "--year", "2026",
                 "--update")
    assert opened.exit_code == 2
    assert f"error: {books['ines']}: the workbook is open in a spreadsheet" in opened.output
    assert {owner: path.read_bytes() for owner, path in books.items()} == before
    lock.unlink()

    # no KPI reads delivered any more: it is dropped from claire's workbook, which is kept as a backup
    config.write_text(CONFIG.replace("opened / delivered", "opened / leads"), encoding="utf-8")
    updated = run("template", config, "--per", "owner", "-o", tmp_path / "kpi-template.xlsx", "--year", "2026",
                  "--update")
    assert updated.exit_code == 0, updated.output
    backups = list(tmp_path.glob("kpi-template-claire.bak-*.xlsx"))
    assert len(backups) == 1
    assert f"kept the previous workbook as {backups[0]}" in updated.output
    assert "not carried over: input 'delivered' (1 values) is no longer in the config" in updated.output
    assert cell(load_workbook(backups[0]), "in_delivered", JAN).value == 1000
    assert cell(load_workbook(books["claire"]), "in_opened", JAN).value == 250


def test_the_start_sheet_commands_of_an_owner_workbook_run_as_written(tmp_path: Path, monkeypatch) -> None:
    _, books = team(tmp_path, "--blank")
    type_into(books["bob"], {"in_visits": {JAN: 5000}, "in_leads": {JAN: 100}})
    start = load_workbook(books["bob"])["Start here"]
    commands = [c.value for row in start.iter_rows() for c in row
                if isinstance(c.value, str) and c.value.startswith("kpireport ")]
    assert commands == [
        "kpireport report kpireport.yaml --data kpi-template-claire.xlsx --data kpi-template-bob.xlsx "
        "--data kpi-template-ines.xlsx",
        "kpireport template kpireport.yaml --per owner -o kpi-template.xlsx --update"]
    monkeypatch.chdir(tmp_path)
    for command in commands:
        result = CliRunner().invoke(cli, shlex.split(command)[1:])
        assert result.exit_code == 0, (command, result.output)
    assert (tmp_path / "output" / "review-2026-01.pdf").exists()
    assert cell(load_workbook(books["bob"]), "in_visits", JAN).value == 5000  # the update kept it


def readme_loop() -> list[str]:
    """The README's monthly loop for a team of five: its command lines, comments left out."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("The monthly loop for a team of five", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.startswith("kpireport ")]


def test_the_readme_loop_for_a_team_of_five_runs_as_written(tmp_path: Path, monkeypatch) -> None:
    names = ["anne", "bruno", "chloe", "david", "emma"]
    owners = "".join(f"  {n}: {{name: {n.title()}, email: {n}@example.com}}\n" for n in names)
    kpis = "".join(f"  rate_{n}: {{formula: {n}_deals / leads, format: percent, target: 0.5, owner: {n}}}\n"
                   for n in names)
    inputs = "".join(f"  {n}: {{aggregate: sum}}\n" for n in [*(f"{n}_deals" for n in names), "leads"])
    config = tmp_path / "team.yaml"
    smtp = "smtp: {host: 127.0.0.1, port: 2525, security: none, from: kpi@example.com}\n"
    config.write_text(f"title: Team of five\nlocale: en\n{smtp}owners:\n{owners}inputs:\n{inputs}kpis:\n{kpis}",
                      encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    make, validate, report, send = (shlex.split(line)[1:] for line in readme_loop())
    assert CliRunner().invoke(cli, make).exit_code == 0
    with config.open("a", encoding="utf-8") as file:  # "listed under sources: once written"
        file.write("sources:\n" + "".join(f"  - {{path: shared/kpis-{n}.xlsx, layout: template}}\n" for n in names))
    january = Month(dt.date.today().year, 1)  # no data yet: the period is this year
    for index, name in enumerate(names, 1):  # each their own figure; the shared leads: Anne, and Emma alike
        shared = {january: 200} if name in ("anne", "emma") else {}
        type_into(tmp_path / "shared" / f"kpis-{name}.xlsx", {"in_leads": shared,
                                                              f"in_{name}_deals": {january: 10 * index}})
    assert CliRunner().invoke(cli, make).exit_code == 0  # rebuilt from the filled workbooks: nothing lost
    for name in names:  # and the shared leads typed by Anne and Emma now show in everyone's workbook
        assert cell(load_workbook(tmp_path / "shared" / f"kpis-{name}.xlsx"), "in_leads", january).value == 200
    start = load_workbook(tmp_path / "shared" / "kpis-anne.xlsx")["Start here"]
    assert "kpireport template team.yaml --per owner -o shared/kpis.xlsx --update" in [c.value for c in start["A"]]
    for command in (validate, [*report, "--html", "review.html"], [*send, "--dry-run", "mail"]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 0, (command, result.output)
    assert len(list((tmp_path / "mail").glob("*.eml"))) == 5
    page = (tmp_path / "review.html").read_text(encoding="utf-8")
    for index, name in enumerate(names, 1):  # 10 / 200 = 5 %, 20 / 200 = 10 %…
        assert f">{5 * index}.0%<" in page, name


def test_a_published_template_is_not_split_per_owner(tmp_path: Path) -> None:
    """--publish is one workbook with no one's name; per-owner workbooks are stamped with their owner."""
    config = tmp_path / "kpireport.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    result = run("template", config, "--publish", "--per", "owner", "-o", tmp_path / "kpi-template.xlsx")
    assert result.exit_code == 2
    assert "--publish writes one template without names for anyone: give it without --per" in result.output
    assert list(tmp_path.glob("*.xlsx")) == []


def test_an_owner_workbook_is_not_turned_into_a_whole_team_one(tmp_path: Path) -> None:
    """A plain `template --update` on Claire's workbook would write every owner's inputs into it and
    drop its stamp: refused, with the command that updates the owners' workbooks."""
    config, books = team(tmp_path, "--blank")
    type_into(books["claire"], {"in_opened": {JAN: 250}})
    before = books["claire"].read_bytes()
    result = run("template", config, "-o", books["claire"], "--year", "2026", "--update")
    assert result.exit_code == 2
    assert (f"error: {books['claire']}: this is the workbook of the owner 'claire' (its stamp: owner claire"
            in result.output)
    assert "kpireport template kpireport.yaml -o kpi-template.xlsx --per owner --update" in result.output
    assert books["claire"].read_bytes() == before
