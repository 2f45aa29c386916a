"""Every command through click's CliRunner: output, exit code, error text; `compute` on the bundled
example checked against values recomputed here straight from its CSV files."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import polars as pl
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook

from kpireport.cli import cli
from kpireport.config import load_config
from kpireport.months import Month
from kpireport.presets import write_project

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "example"
COMMANDS = ["init", "catalog", "validate", "compute", "template", "report"]


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_of_every_command(command: str | None) -> None:
    result = run(*([command] if command else []), "--help")
    assert result.exit_code == 0
    assert "Usage: cli" in result.output or "Usage:" in result.output
    if command is None:
        for name in COMMANDS:
            assert name in result.output


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run([sys.executable, "-m", "kpireport", "--help"], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0
    assert "compute" in result.stdout


def test_the_command_in_a_real_process_prints_what_the_library_computes() -> None:
    """`kpireport compute` writes its CSV as bytes to the process's stdout, after warnings on stderr,
    and freezes what it built (collector.keep_until_exit): the same rows as the library's to_csv."""
    from kpireport.engine import compute
    from kpireport.export import to_csv
    from kpireport.sources import load_data

    config = load_config(EXAMPLE / "kpireport.yaml")
    expected = to_csv(compute(config, load_data(config).values))
    result = subprocess.run([sys.executable, "-m", "kpireport", "compute", str(EXAMPLE / "kpireport.yaml")],
                            capture_output=True, check=False)
    assert (result.returncode, result.stdout.decode()) == (0, expected)
    assert expected.count("\n") > 100


def test_only_the_command_freezes_what_a_paused_collector_built(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from kpireport import collector

    frozen = gc.get_freeze_count()
    with collector.collector_paused():
        kept = [[index] for index in range(1000)]
    assert gc.get_freeze_count() == frozen  # a library caller: its results stay collectable
    monkeypatch.setattr(collector, "_freeze_after_pause", True)
    try:
        with collector.collector_paused():
            kept += [[index] for index in range(1000)]
        assert gc.get_freeze_count() >= frozen + 2000
        assert gc.isenabled()
    finally:
        gc.unfreeze()


# --- init ---------------------------------------------------------------------------------------


def test_init_writes_a_project_that_validates(tmp_path: Path) -> None:
    result = run("init", tmp_path / "kpis", "--preset", "sales", "--locale", "en")
    assert result.exit_code == 0, result.output
    assert f"wrote {tmp_path / 'kpis' / 'kpireport.yaml'}" in result.output
    validated = run("validate", tmp_path / "kpis" / "kpireport.yaml")
    assert validated.exit_code == 0, validated.output
    assert "ok — 8 KPIs" in validated.output


def test_init_refuses_to_overwrite_a_config(tmp_path: Path) -> None:
    assert run("init", tmp_path).exit_code == 0
    config = tmp_path / "kpireport.yaml"
    config.write_text("title: mine\n", encoding="utf-8")
    result = run("init", tmp_path)
    assert result.exit_code == 2
    assert result.output == (f"error: {config}: a config already exists here\n"
                             "  hint: choose another folder, or pass --force to overwrite it\n")
    assert config.read_text(encoding="utf-8") == "title: mine\n"  # the user's file is untouched
    assert run("init", tmp_path, "--force").exit_code == 0


def test_init_unknown_preset(tmp_path: Path) -> None:
    result = run("init", tmp_path, "--preset", "markting")
    assert result.exit_code == 2
    assert result.output == "error: --preset: unknown preset 'markting'\n  hint: did you mean 'marketing'?\n"
    assert not (tmp_path / "kpireport.yaml").exists()


def test_bundled_example_is_what_init_writes(tmp_path: Path) -> None:
    """config/example is `init --preset demo` frozen at October 2026: regenerate and compare."""
    write_project(tmp_path, "demo", "fr", last_month=Month(2026, 10))
    for path in [Path("kpireport.yaml"), Path("data/daily-web-email.csv"), Path("data/crm-monthly.csv")]:
        assert (tmp_path / path).read_text(encoding="utf-8") == (EXAMPLE / path).read_text(encoding="utf-8"), path


# --- catalog ------------------------------------------------------------------------------------


def test_catalog_table_lists_every_kpi_with_its_formula() -> None:
    result = run("catalog", "--locale", "en")
    assert result.exit_code == 0
    assert "email.open_rate" in result.output
    assert "Open rate [percent]  = emails_opened / emails_delivered" in result.output
    assert "↓ Email bounce rate" in result.output


def test_catalog_domain_filter_and_json() -> None:
    result = run("catalog", "--domain", "email", "--format", "json")
    assert result.exit_code == 0
    entries = json.loads(result.output)["kpis"]
    assert {e["domain"] for e in entries} == {"email"}
    open_rate = next(e for e in entries if e["id"] == "email.open_rate")
    assert open_rate["label"] == {"fr": "Taux d'ouverture", "en": "Open rate"}
    assert set(open_rate["inputs"]) == {"emails_opened", "emails_delivered"}


def test_catalog_unknown_domain() -> None:
    result = run("catalog", "--domain", "emial")
    assert result.exit_code == 2
    assert result.output == "error: --domain: unknown domain 'emial'\n  hint: did you mean 'email'?\n"


# --- validate -----------------------------------------------------------------------------------


def test_validate_the_bundled_example() -> None:
    result = run("validate", EXAMPLE / "kpireport.yaml")
    assert result.exit_code == 0
    first, heading, *inputs = result.output.splitlines()
    assert first == f"{EXAMPLE / 'kpireport.yaml'}: ok — 10 KPIs, 15 inputs, 2 sources, data from 2024-11 to 2026-10"
    assert heading == "inputs and where they come from:"
    assert len(inputs) == 15
    daily, monthly = (str(EXAMPLE / "data" / name) for name in ("daily-web-email.csv", "crm-monthly.csv"))
    assert inputs[0].split() == ["emails_opened", f"{daily},", "2024-11", "to", "2026-10"]
    assert inputs[-1].split() == ["opportunities_created", f"{monthly},", "2024-11", "to", "2026-10"]


def test_validate_warns_about_too_many_kpis(tmp_path: Path) -> None:
    write_project(tmp_path, "full", "fr", last_month=Month(2026, 10))
    result = run("validate", tmp_path / "kpireport.yaml")
    assert result.exit_code == 0
    assert "warning: 133 KPIs: the documents advise tracking 5 to 10 at most" in result.output


def test_validate_reports_a_config_mistake_without_traceback(tmp_path: Path) -> None:
    config = tmp_path / "kpireport.yaml"
    config.write_text("title: x\nkpis:\n  a: {formula: leads / mqls, direction: upward}\n", encoding="utf-8")
    result = run("validate", config)
    assert result.exit_code == 2
    assert result.output == (f"error: {config}:3: kpis.a.direction: 'upward' is not allowed\n"
                             "  hint: use one of 'up' or 'down'\n")
    assert "Traceback" not in result.output


def test_verbose_shows_the_traceback(tmp_path: Path) -> None:
    result = run("--verbose", "validate", tmp_path / "missing.yaml")
    assert result.exit_code == 1
    assert type(result.exception).__name__ == "ConfigError"


def test_an_internal_error_is_one_line_exit_1_and_a_traceback_with_verbose(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug (an exception that is not kpireport's own) is not dressed up as bad input (exit 2), and
    not a page of traceback either: one line saying it is a bug, --verbose for the details."""
    import kpireport.engine

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(kpireport.engine, "compute", broken)
    result = run("compute", EXAMPLE / "kpireport.yaml")
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert result.output == ("internal error: RuntimeError: boom\n  this is a bug in kpireport: run the same "
                             "command with --verbose to see the traceback, and please report it\n")
    verbose = run("--verbose", "compute", EXAMPLE / "kpireport.yaml")
    assert isinstance(verbose.exception, RuntimeError)


def test_an_internal_error_prints_no_traceback_in_a_real_process() -> None:
    script = ("import sys, kpireport.engine\n"
              "def broken(*a, **k): raise RuntimeError('boom')\n"
              "kpireport.engine.compute = broken\n"
              "from kpireport.cli import cli\n"
              "cli(sys.argv[1:])\n")
    config = str(EXAMPLE / "kpireport.yaml")
    quiet = subprocess.run([sys.executable, "-c", script, "compute", config], capture_output=True, text=True,
                           check=False)
    assert (quiet.returncode, quiet.stdout) == (1, "")
    assert quiet.stderr.startswith("internal error: RuntimeError: boom\n")
    assert "Traceback" not in quiet.stderr
    verbose = subprocess.run([sys.executable, "-c", script, "--verbose", "compute", config], capture_output=True,
                             text=True, check=False)
    assert verbose.returncode == 1
    assert "Traceback" in verbose.stderr
    assert "RuntimeError: boom" in verbose.stderr


# --- compute ------------------------------------------------------------------------------------


def _monthly_sums(path: Path) -> dict[str, dict[str, float]]:
    """input -> 'YYYY-MM' -> sum of the daily rows, read with nothing but csv."""
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            for name, text in row.items():
                if name != "date":
                    sums[name][row["date"][:7]] += float(text)
    return sums


def _crm(path: Path) -> dict[str, dict[str, float]]:
    values: dict[str, dict[str, float]] = defaultdict(dict)
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            values[row["metric"]][row["month"]] = float(row["value"])
    return values


def test_compute_on_the_bundled_example_matches_values_recomputed_by_hand() -> None:
    result = run("compute", EXAMPLE / "kpireport.yaml")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert list(rows[0])[:5] == ["kpi", "month", "value", "target", "status"]
    daily = _monthly_sums(EXAMPLE / "data" / "daily-web-email.csv")
    crm = _crm(EXAMPLE / "data" / "crm-monthly.csv")
    targets = {k: v["target"] for k, v in yaml.safe_load((EXAMPLE / "kpireport.yaml").read_text())["kpis"].items()}
    by_key = {(r["kpi"], r["month"]): r for r in rows}
    months = sorted(daily["emails_opened"])
    assert len(months) == 24
    assert len(rows) == 24 * 10
    for month in months:
        open_rate = daily["emails_opened"][month] / daily["emails_delivered"][month]
        assert float(by_key[("open_rate", month)]["value"]) == pytest.approx(open_rate, rel=1e-12)
        cpl = daily["marketing_spend"][month] / daily["leads"][month]
        assert float(by_key[("cost_per_lead", month)]["value"]) == pytest.approx(cpl, rel=1e-12)
        win_rate = crm["deals_won"][month] / (crm["deals_won"][month] + crm["deals_lost"][month])
        assert float(by_key[("win_rate", month)]["value"]) == pytest.approx(win_rate, rel=1e-12)
        assert float(by_key[("revenue", month)]["value"]) == pytest.approx(crm["revenue"][month])
    # status by hand for one month: open rate up, tolerance 10 %
    value = float(by_key[("open_rate", "2026-10")]["value"])
    target = targets["open_rate"]
    expected = "on" if value >= target else "watch" if value >= 0.9 * target else "off"
    assert by_key[("open_rate", "2026-10")]["status"] == expected
    # month over month and year over year
    row = by_key[("revenue", "2026-10")]
    assert float(row["change_mom"]) == pytest.approx(crm["revenue"]["2026-10"] / crm["revenue"]["2026-09"] - 1)
    assert float(row["change_yoy"]) == pytest.approx(crm["revenue"]["2026-10"] / crm["revenue"]["2025-10"] - 1)
    assert float(row["ytd"]) == pytest.approx(sum(crm["revenue"][f"2026-{m:02d}"] for m in range(1, 11)))
    # the first month has no previous one: an empty cell, not 0
    assert by_key[("revenue", "2024-11")]["change_mom"] == ""


def test_compute_one_month_as_json() -> None:
    result = run("compute", EXAMPLE / "kpireport.yaml", "--month", "2026-10", "--format", "json")
    assert result.exit_code == 0
    document = json.loads(result.output)
    assert document["months"] == ["2026-10"]
    assert {row["month"] for row in document["rows"]} == {"2026-10"}
    assert len(document["rows"]) == 10
    revenue = next(row for row in document["rows"] if row["kpi"] == "revenue")
    assert revenue["previous"] == pytest.approx(_crm(EXAMPLE / "data" / "crm-monthly.csv")["revenue"]["2026-09"])


def test_json_is_every_row_one_per_line_and_reads_back_as_the_rows() -> None:
    """`--format json` writes a row per line as it goes (5,000 KPIs: 600,000 rows never held as one
    document): the same document as the rows, for the whole period, one month, and no month at all."""
    from kpireport import export
    from kpireport.engine import compute
    from kpireport.sources import load_data

    config = load_config(EXAMPLE / "kpireport.yaml")
    results = compute(config, load_data(config).values)
    for month, count in ((None, len(results.months) * 10), (Month(2026, 10), 10), (Month(1999, 1), 0)):
        text = export.to_json(results, month)
        months = [str(m) for m in results.months if month is None or m == month]
        assert json.loads(text) == {"title": config.title, "months": months, "rows": export.rows(results, month)}
        assert len(export.rows(results, month)) == count
        assert sum(line.startswith('    {"kpi": ') for line in text.splitlines()) == count


def test_compute_month_without_data_gives_empty_values() -> None:
    result = run("compute", EXAMPLE / "kpireport.yaml", "--month", "2030-01")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert {r["value"] for r in rows} == {""}
    assert {r["status"] for r in rows} == {"no_data"}


def test_compute_bad_month_option() -> None:
    result = run("compute", EXAMPLE / "kpireport.yaml", "--month", "octobre")
    assert result.exit_code == 2
    assert "'octobre' is not a month written YYYY-MM (e.g. 2026-03)" in result.output


def test_compute_with_data_option_replacing_a_source(tmp_path: Path) -> None:
    replacement = tmp_path / "crm-monthly.csv"
    replacement.write_text("month,metric,value\n2026-10,revenue,1000\n", encoding="utf-8")
    result = run("compute", EXAMPLE / "kpireport.yaml", "--data", replacement, "--month", "2026-10")
    assert result.exit_code == 0, result.output
    revenue = next(r for r in csv.DictReader(io.StringIO(result.stdout)) if r["kpi"] == "revenue")
    assert revenue["value"] == "1000"


def test_compute_reports_a_data_mistake_with_file_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "crm-monthly.csv"
    bad.write_text("month,metric,value\n2026-10,revenue,beaucoup\n", encoding="utf-8")
    result = run("compute", EXAMPLE / "kpireport.yaml", "--data", bad)
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {bad}:2:value: 'beaucoup' is not a number\n")


def test_compute_warns_once_per_file_and_never_twice(tmp_path: Path) -> None:
    """17 unused columns were 34 warning lines, printed again for each source reading the file."""
    unused = [f"series_{n}" for n in range(17)]
    (tmp_path / "web.csv").write_text(f"date,visits,{','.join(unused)}\n2026-01-05,100{',1' * 17}\n",
                                      encoding="utf-8")
    (tmp_path / "kpireport.yaml").write_text(
        "title: T\ninputs:\n  visits: {aggregate: sum}\n  leads: {aggregate: sum}\nkpis:\n  k: {formula: visits}\n"
        "sources:\n  - {path: web.csv}\n  - {path: web.csv, columns: {visits: leads}}\n", encoding="utf-8")
    result = run("compute", tmp_path / "kpireport.yaml")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [f"warning: {tmp_path / 'web.csv'}:1: 17 columns map to no input and are ignored: 'series_0', "
                        "'series_1', 'series_2', 'series_3', 'series_4', 'series_5', 'series_6', 'series_7', "
                        "'series_8', 'series_9', …; to read one, declare an input of its name, or map it to one "
                        "under this source's 'columns:'"]
    assert result.stdout.splitlines()[1].startswith("k,2026-01,100,")


def test_compute_a_misspelt_mapped_column_is_an_error_naming_the_config_key(tmp_path: Path) -> None:
    (tmp_path / "web.csv").write_text("date,Sessions\n2026-01-05,100\n", encoding="utf-8")
    (tmp_path / "kpireport.yaml").write_text(
        "title: T\ninputs:\n  visits: {aggregate: sum}\nkpis:\n  k: {formula: visits}\n"
        "sources:\n  - {path: web.csv, columns: {Session: visits}}\n", encoding="utf-8")
    result = run("compute", tmp_path / "kpireport.yaml")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (f"error: {tmp_path / 'web.csv'}:1: sources.0.columns.Session: no column 'Session' "
                             "(read as 'visits' under 'columns:')\n  hint: did you mean 'Sessions'? correct the name "
                             "under this source's 'columns:' in the config\n")


def _compute_csv(tmp_path: Path, web: str, kpis: str, owners: str = "") -> dict[str, dict[str, str]]:
    (tmp_path / "web.csv").write_text(web, encoding="utf-8")
    (tmp_path / "kpireport.yaml").write_text(
        f"title: T\n{owners}inputs:\n  visits: {{aggregate: sum}}\n  leads: {{aggregate: sum}}\n"
        f"kpis:\n{kpis}sources:\n  - {{path: web.csv}}\n", encoding="utf-8")
    result = run("compute", tmp_path / "kpireport.yaml")
    assert result.exit_code == 0, result.output
    return {row["kpi"]: row for row in csv.DictReader(io.StringIO(result.stdout))}


def test_compute_csv_keeps_every_digit(tmp_path: Path) -> None:
    """Written with 15 significant digits, 1/3 came back as 0.333333333333333 and 2**60 as
    1.15292150460685e+18: a tool reading the CSV got other numbers than kpireport computed."""
    rows = _compute_csv(tmp_path, f"date,visits,leads\n2026-01-05,{2**59},0.1\n2026-01-06,{2**59},0.2\n",
                        "  visits_kpi: {formula: visits}\n  leads_kpi: {formula: leads, target: 3}\n"
                        "  ratio: {formula: leads_kpi / 3, target: 0.5}\n  lost: {formula: visits / visits - 4.5}\n"
                        "  huge: {formula: visits * 1e290}\n")
    assert rows["visits_kpi"]["value"] == "1152921504606846976" == str(2**60)
    assert float(rows["huge"]["value"]) == 2.0**60 * 1e290  # a whole number too, but 309 digits helps nobody
    assert len(rows["huge"]["value"]) < 25
    assert rows["leads_kpi"]["value"] == "0.30000000000000004"
    assert float(rows["leads_kpi"]["value"]) == 0.1 + 0.2
    assert rows["leads_kpi"]["target"] == "3"  # an integer: no '.0'
    assert float(rows["ratio"]["value"]) == (0.1 + 0.2) / 3
    assert float(rows["ratio"]["attainment"]) == (0.1 + 0.2) / 3 / 0.5
    assert rows["lost"]["value"] == "-3.5"  # a number is never neutralised, even with a leading '-'


def test_compute_csv_neutralises_text_a_spreadsheet_would_run_and_json_stays_raw(tmp_path: Path) -> None:
    kpis = ('  a: {formula: visits, label: "=HYPERLINK(\\"http://evil.example\\", \\"Open\\")", domain: "+SUM(1)",'
            ' owner: "@evil"}\n  b: {formula: visits, label: "-2+3", domain: "\\tTab", target: -1}\n'
            '  c: {formula: visits, label: "\\rCR", domain: "Web = traffic"}\n')
    owners = 'owners:\n  "@evil": {name: Evil}\n'
    rows = _compute_csv(tmp_path, "date,visits,leads\n2026-01-05,-7,1\n", kpis, owners)
    assert rows["a"]["label"] == "'=HYPERLINK(\"http://evil.example\", \"Open\")"
    assert (rows["a"]["domain"], rows["a"]["owner"]) == ("'+SUM(1)", "'@evil")
    assert (rows["b"]["label"], rows["b"]["domain"]) == ("'-2+3", "'\tTab")
    assert (rows["c"]["label"], rows["c"]["domain"]) == ("'\rCR", "Web = traffic")
    assert (rows["b"]["value"], rows["b"]["target"]) == ("-7", "-1")
    result = run("compute", tmp_path / "kpireport.yaml", "--format", "json")
    labels = {row["kpi"]: (row["label"], row["domain"], row["owner"]) for row in json.loads(result.stdout)["rows"]}
    assert labels["a"] == ('=HYPERLINK("http://evil.example", "Open")', "+SUM(1)", "@evil")
    assert labels["b"][:2] == ("-2+3", "\tTab")


def test_compute_csv_is_every_row_written_by_the_csv_module(tmp_path: Path) -> None:
    """to_csv writes its lines directly (fast at 5,000 KPIs): they must be what csv.writer makes of
    each of rows(), quoting, neutralised text, a partial month and empty cells included."""
    from kpireport import engine, export
    from kpireport.config import load_config
    from kpireport.sources import load_data

    kpis = ('  a: {formula: visits, label: "Visits, \\"all\\"", domain: "+SUM(1)", owner: "@evil", target: 2}\n'
            '  b: {formula: leads / visits, label: "\\rCR\\nLF", format: percent, target: 0.5}\n'
            '  c: {formula: "ytd(leads) - prev(leads, 12)", label: "", direction: down}\n')
    owners = 'owners:\n  "@evil": {name: Evil}\n'
    _compute_csv(tmp_path, "date,visits,leads\n2025-12-05,4,1\n2026-01-05,-7,1\n2026-02-03,0,2\n", kpis, owners)
    settings = load_config(tmp_path / "kpireport.yaml")
    data = load_data(settings)
    last = max(data.values["visits"])
    results = engine.compute(settings, data.values, partial={last: last.first_day}, rows=data.rows)
    expected = "".join(export._line([export._cell(row[column]) for column in export.COLUMNS])
                       for row in [dict(zip(export.COLUMNS, export.COLUMNS, strict=True)), *export.rows(results)])
    assert export.to_csv(results) == expected
    assert '"Visits, ""all"""' in expected
    assert '"\'\rCR\nLF"' in expected
    assert ",false," in expected
    assert ",,," in expected
    month = results.months[1]
    assert export.to_csv(results, month) == "".join(
        export._line([export._cell(row[column]) for column in export.COLUMNS])
        for row in [dict(zip(export.COLUMNS, export.COLUMNS, strict=True)), *export.rows(results, month)])


_EDGES = [None, 0.0, -0.0, 1.0, -1.0, 0.5, 1e-4, -1e-4, 9.999999999999999e-05, 1e16, 9999999999999998.0, 1e16 - 1,
          1e15 + 0.5, 2.0**53, 0.1 + 0.2, 1e21, 1e22, 2.0**60, 1.5e-5, 5e-324, 1.7976931348623157e308,
          float("inf"), float("-inf"), float("nan")]


@given(st.lists(st.one_of(st.none(), st.floats(), st.floats(-1e6, 1e6), st.integers(-10**15, 10**15).map(float),
                          st.sampled_from(_EDGES))))
def test_numbers_written_a_column_at_a_time_are_each_written_as_python_writes_it(values: list) -> None:
    """to_csv formats numbers with polars (fast at 5,000 KPIs): the same text as _cell gives each."""
    from kpireport import export

    values += _EDGES
    numbers = pl.DataFrame({"some": values, "none": [None] * len(values)},
                           schema={"some": pl.Float64, "none": pl.Float64})
    cells = export.number_cells(numbers)
    assert cells["some"].to_list() == [export._cell(value) for value in values]
    assert cells["none"].to_list() == [""] * len(values)


# --- template -----------------------------------------------------------------------------------


def test_template_writes_the_workbook_and_refuses_to_overwrite_typed_values(tmp_path: Path) -> None:
    output = tmp_path / "out" / "kpi-template.xlsx"
    result = run("template", EXAMPLE / "kpireport.yaml", "-o", output)
    assert result.exit_code == 0, result.output
    assert result.output == (f"wrote {output} — 10 KPIs, 15 inputs, 2026-01 to 2026-12, "
                             "165 input cells filled\n")  # 15 inputs × (10 months of 2026 + December 2025)
    before = output.read_bytes()
    again = run("template", EXAMPLE / "kpireport.yaml", "-o", output, "--year", "2025")
    assert again.exit_code == 2
    assert "this workbook differs from the one kpireport would write, in 160 places; it is left untouched:\n" \
        in again.output
    assert "\n    and 145 more\n" in again.output
    assert output.read_bytes() == before
    updated = run("template", EXAMPLE / "kpireport.yaml", "-o", output, "--update", "--from", "2025-07",
                  "--months", "18")
    assert updated.exit_code == 0, updated.output
    assert "165 values, notes and targets of the workbook carried over" in updated.output
    shorter = run("template", EXAMPLE / "kpireport.yaml", "-o", output, "--update", "--from", "2025-07")
    assert "warning: not carried over: input 'emails_opened': 2026-07, 2026-08, 2026-09, 2026-10 outside the new " \
           "period" in shorter.output


def test_template_blank_leaves_inputs_empty(tmp_path: Path) -> None:
    output = tmp_path / "blank.xlsx"
    result = run("template", EXAMPLE / "kpireport.yaml", "-o", output, "--blank", "--year", "2027")
    assert result.exit_code == 0, result.output
    assert "2027-01 to 2027-12, 0 input cells filled" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--year", "2026", "--from", "2026-01"], "give --year or --from, not both"),
    (["--update", "--force"], "give --update or --force, not both"),
])
def test_template_conflicting_options(tmp_path: Path, args: list[str], message: str) -> None:
    result = run("template", EXAMPLE / "kpireport.yaml", "-o", tmp_path / "t.xlsx", *args)
    assert result.exit_code == 2
    assert message in result.output


def test_overriding_a_catalog_input_keeps_its_labels(tmp_path: Path) -> None:
    """`inputs: {mqls: {aggregate: max}}` changes how MQLs roll up, not what they are called."""
    project = tmp_path / "project"
    assert run("init", project, "--preset", "demo").exit_code == 0
    path = project / "kpireport.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "inputs:\n  mqls: {aggregate: max}\n", encoding="utf-8")
    workbook_path = tmp_path / "kpi.xlsx"
    assert run("template", path, "-o", workbook_path).exit_code == 0
    texts = {cell.value for row in load_workbook(workbook_path)["Saisie"].iter_rows() for cell in row
             if isinstance(cell.value, str)}
    assert "Leads qualifiés marketing (MQL)" in texts
    assert "Mqls" not in texts
    mqls = load_config(path).inputs["mqls"]
    assert (mqls.aggregate, mqls.format) == ("max", "number")


# --- batches: a progress bar on a terminal, one line per document elsewhere -------------------------


class _Stream(io.StringIO):
    def __init__(self, terminal: bool) -> None:
        super().__init__()
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


@pytest.mark.parametrize(("count", "terminal", "bar"), [(3, True, True), (3, False, False), (1, True, False)])
def test_a_batch_shows_a_bar_only_on_a_terminal_and_for_more_than_one_document(count: int, terminal: bool,
                                                                                bar: bool) -> None:
    from kpireport.cli import shows_bar

    assert shows_bar(count, _Stream(terminal)) is bar


def _batch(tmp_path: Path) -> tuple[list, list]:
    from kpireport.review import ReviewJob

    jobs = [ReviewJob(tmp_path / f"review-{name}.pdf", [], f"Team {name}") for name in ("a", "b", "c")]
    return jobs, [(job.path, []) for job in jobs]


def test_a_batch_on_a_terminal_shows_count_and_whose_review_then_the_files(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture) -> None:
    from kpireport.cli import _progress

    jobs, documents = _batch(tmp_path)
    terminal = _Stream(terminal=True)
    seen = []
    for document in _progress(iter(documents), jobs, done="wrote", stream=terminal):
        seen.append(document)
        assert capsys.readouterr().out == ""  # no file line under the bar while it moves
    assert seen == documents
    bar = terminal.getvalue()
    assert "3 reviews" in bar
    assert "3/3" in bar
    assert "Team c" in bar  # the review just written
    assert capsys.readouterr().out.splitlines() == [f"wrote {path}" for path, _ in documents]


def test_a_batch_elsewhere_prints_one_line_per_document_as_it_comes(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture) -> None:
    from kpireport.cli import _progress

    jobs, documents = _batch(tmp_path)
    log = _Stream(terminal=False)
    for index, _document in enumerate(_progress(iter(documents), jobs, done="wrote", stream=log)):
        assert capsys.readouterr().out == f"wrote {documents[index][0]}\n"  # before the next one is written
    assert log.getvalue() == ""  # no bar, no carriage returns
    assert list(_progress(iter(documents), jobs, done=None, stream=log)) == documents  # send: no lines of its own
    assert capsys.readouterr().out == ""


def test_report_per_owner_in_a_log_is_one_line_per_file(tmp_path: Path) -> None:
    result = run("report", ROOT / "config" / "example" / "kpireport.yaml", "--month", "2026-10", "--per", "owner",
                 "-o", tmp_path / "review.pdf")
    assert result.exit_code == 0, result.output
    files = sorted(tmp_path.glob("review-*.pdf"))
    assert len(files) > 2
    assert sorted(result.stdout.splitlines()) == [f"wrote {path}" for path in files]


@pytest.mark.parametrize("output_format", ["csv", "json"])
def test_a_reader_that_stops_early_ends_the_command_quietly_as_unix_tools_do(tmp_path: Path, monkeypatch,
                                                                              output_format: str) -> None:
    """`kpireport compute … | head` printed "internal error: BrokenPipeError … this is a bug"."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    from bench_scale import write_project  # 100 KPIs over ten years: megabytes, more than a pipe holds

    config = write_project(tmp_path, 100)
    process = subprocess.Popen([sys.executable, "-m", "kpireport", "compute", str(config), "--format", output_format],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    assert process.stderr is not None
    assert process.stdout.readline()  # what `head -1` reads, then it goes
    process.stdout.close()
    assert process.wait(timeout=60) == 141  # 128 + SIGPIPE, as `yes | head` ends
    assert process.stderr.read() == b""
