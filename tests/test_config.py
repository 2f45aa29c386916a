"""The config: what a valid file resolves to, and every mistake reported with its key, line and fix."""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path

import pytest

from kpireport.config import load_config
from kpireport.errors import ConfigError, FormulaError
from kpireport.formula import MAX_DEPTH
from kpireport.months import Month

VALID = """\
title: Revue mensuelle
locale: fr
currency: EUR
owners:
  claire: {name: Claire Martin, email: claire@example.com, role: E-mail marketing}
inputs:
  emails_delivered: {label: E-mails délivrés, aggregate: sum}
  emails_opened: {label: E-mails ouverts, aggregate: sum}
kpis:
  open_rate:
    label: Taux d'ouverture
    formula: emails_opened / emails_delivered
    format: percent
    direction: up
    target: 0.25
    tolerance: 0.1
    owner: claire
    domain: E-mail marketing
    type: efficiency
  ctr: {use: email.click_rate, target: {default: 0.03, 2026-01: 0.02}, owner: claire}
sources:
  - {path: data/emails.csv, layout: wide, date: date}
  - {path: data/crm.csv, layout: long, date: day, name: metric, value: amount}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kpireport.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str, kind: type[Exception] = ConfigError) -> ConfigError:
    with pytest.raises(kind) as caught:
        load_config(write(tmp_path, text))
    return caught.value  # type: ignore[return-value]


def test_valid_config_resolves_labels_inputs_targets_and_sources(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID))
    assert list(config.kpis) == ["open_rate", "ctr"]
    ctr = config.kpis["ctr"]
    assert ctr.label == "Taux de clics (CTR)"  # from the catalog, in the config's locale
    assert ctr.formula.text == "emails_clicked / emails_delivered"
    assert ctr.direction == "up"
    assert ctr.format == "percent"
    assert ctr.domain == "E-mail marketing"
    assert ctr.catalog_id == "email.click_rate"
    assert ctr.target.for_month(Month(2026, 1)) == 0.02
    assert ctr.target.for_month(Month(2026, 2)) == 0.03
    # an input only the catalog defines is added with its catalog label and aggregate
    assert config.inputs["emails_clicked"].label == "E-mails cliqués"
    assert config.inputs["emails_clicked"].aggregate == "sum"
    assert config.sources[0].path == tmp_path / "data/emails.csv"
    assert config.sources[1].layout == "long"
    assert config.sources[1].value == "amount"
    assert config.warnings == []


def test_english_locale_takes_english_catalog_labels(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID.replace("locale: fr", "locale: en")))
    assert config.kpis["ctr"].label == "Click-through rate (CTR)"
    assert config.kpis["ctr"].domain == "Email marketing"


def test_per_month_target_without_default_has_no_target_elsewhere(tmp_path: Path) -> None:
    per_month = VALID.replace("target: 0.25", "target: {2026-01: 0.22, 2026-02: 0.23}")
    config = load_config(write(tmp_path, per_month))
    target = config.kpis["open_rate"].target
    assert target.for_month(Month(2026, 2)) == 0.23
    assert target.for_month(Month(2026, 3)) is None


def test_too_many_kpis_per_owner_and_in_all_are_warned(tmp_path: Path) -> None:
    kpis = "".join(f"  k{i}: {{formula: emails_opened + {i}, owner: claire}}\n" for i in range(11))
    config = load_config(write(tmp_path, VALID.split("kpis:")[0] + "kpis:\n" + kpis))
    assert config.warnings[0].startswith("11 KPIs: the documents advise tracking 5 to 10 at most")
    assert any(w.startswith("owner 'claire' has 11 KPIs") for w in config.warnings)


def test_kpi_order_puts_dependencies_first(tmp_path: Path) -> None:
    text = VALID.replace("  ctr:", "  both: {formula: open_rate + ctr}\n  ctr:")
    config = load_config(write(tmp_path, text))
    order = config.kpi_order()
    assert order.index("both") > order.index("open_rate")
    assert order.index("both") > order.index("ctr")


def test_lookback_follows_kpis_used_by_other_kpis(tmp_path: Path) -> None:
    text = VALID.replace("  ctr:", "  growth: {formula: 'open_rate / prev(open_rate, 12)'}\n"
                                   "  trend: {formula: 'avg(growth, 3)'}\n  ctr:")
    assert load_config(write(tmp_path, text)).lookback() == 14


# --- every mistake: message, where, and how to fix ------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml")
    assert str(caught.value) == (f"{tmp_path / 'nope.yaml'}: file not found\n"
                                 "  hint: check the path, or create a project with 'kpireport init DIR'")


def test_invalid_yaml_gives_line_and_column(tmp_path: Path) -> None:
    error = error_of(tmp_path, "title: x\nkpis:\n  a: {formula: b\n")
    assert error.line == 4
    assert "expected ',' or '}'" in error.message


def test_not_a_mapping(tmp_path: Path) -> None:
    assert error_of(tmp_path, "- a\n- b\n").message == "the config must be a mapping of keys (title, kpis, …)"


def test_duplicate_key_is_an_error_not_a_silent_overwrite(tmp_path: Path) -> None:
    error = error_of(tmp_path, "title: x\nkpis:\n  a: {formula: '1'}\n  a: {formula: '2'}\n")
    assert (error.message, error.key, error.line) == ("the key 'a' appears twice", "kpis.a", 4)


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    error = error_of(tmp_path, VALID.replace("    direction: up", "    directon: up"))
    assert error.message == "unknown key 'directon'"
    assert error.key == "kpis.open_rate.directon"
    assert error.line == 14
    assert error.hint == "did you mean 'direction'?"


def test_unknown_top_level_key_lists_allowed_keys_when_nothing_is_close(tmp_path: Path) -> None:
    error = error_of(tmp_path, VALID + "zzz: 1\n")
    assert error.message == "unknown key 'zzz'"
    assert error.hint.startswith("allowed keys: company, currency")


def test_wrong_choice_lists_the_allowed_values(tmp_path: Path) -> None:
    error = error_of(tmp_path, VALID.replace("direction: up", "direction: sideways"))
    assert error.key == "kpis.open_rate.direction"
    assert error.message == "'sideways' is not allowed"
    assert error.hint == "use one of 'up' or 'down'"


def test_missing_title(tmp_path: Path) -> None:
    error = error_of(tmp_path, VALID.replace("title: Revue mensuelle\n", ""))
    assert (error.key, error.message) == ("title", "this key is required")


def test_no_kpis(tmp_path: Path) -> None:
    error = error_of(tmp_path, "title: x\nkpis: {}\n")
    assert error.key == "kpis"
    assert "at least 1 item" in error.message


def test_several_problems_are_reported_together(tmp_path: Path) -> None:
    text = VALID.replace("direction: up", "direction: sideways").replace("format: percent", "format: ratio")
    error = error_of(tmp_path, text)
    assert "kpis.open_rate.format" in str(error)
    assert "kpis.open_rate.direction" in str(error)


def test_wrong_type(tmp_path: Path) -> None:
    error = error_of(tmp_path, VALID.replace("tolerance: 0.1", "tolerance: beaucoup"))
    assert error.key == "kpis.open_rate.tolerance"
    assert "valid number" in error.message


def test_tolerance_out_of_range(tmp_path: Path) -> None:
    error = error_of(tmp_path, VALID.replace("tolerance: 0.1", "tolerance: 10"))
    assert error.key == "kpis.open_rate.tolerance"
    assert "less than or equal to 1" in error.message


def test_bad_currency_and_email(tmp_path: Path) -> None:
    error = error_of(tmp_path, VALID.replace("currency: EUR", "currency: euro"))
    assert error.key == "currency"
    assert "pattern" in error.message
    error = error_of(tmp_path, VALID.replace("claire@example.com", "claire-at-example"))
    assert error.key == "owners.claire.email"
    assert "'claire-at-example' is not an e-mail address" in error.message


def test_invalid_id(tmp_path: Path) -> None:
    error = error_of(tmp_path, VALID.replace("  open_rate:", "  Open Rate:"))
    assert error.key == "kpis.Open Rate"
    assert error.message == "'Open Rate' is not a valid id"


def test_unknown_catalog_kpi_suggests_one(tmp_path: Path) -> None:
    error = error_of(tmp_path, VALID.replace("email.click_rate", "email.clik_rate"))
    assert (error.key, error.message) == ("kpis.ctr.use", "'email.clik_rate' is not in the catalog")
    assert error.hint == "did you mean 'email.click_rate'?"


def test_kpi_without_formula(tmp_path: Path) -> None:
    error = error_of(tmp_path, VALID.replace("    formula: emails_opened / emails_delivered\n", ""))
    assert (error.key, error.message) == ("kpis.open_rate", "this KPI has no formula")


def test_formula_syntax_error_names_the_key_and_position(tmp_path: Path) -> None:
    error = error_of(tmp_path, VALID.replace("emails_opened / emails_delivered", "emails_opened / / x"),
                     FormulaError)
    assert error.key == "kpis.open_rate.formula"
    assert error.line == 12
    assert error.message.startswith("expected a number, a name or '(' but found '/' (position 17)")


def test_unknown_name_in_formula_suggests_the_input(tmp_path: Path) -> None:
    text = VALID.replace("emails_opened / emails_delivered", "emails_opend / emails_delivered")
    error = error_of(tmp_path, text, FormulaError)
    assert error.key == "kpis.open_rate.formula"
    assert error.message.splitlines() == ["unknown name 'emails_opend' (position 1)",
                                          "    emails_opend / emails_delivered", "    ^^^^^^^^^^^^"]
    assert error.hint == "did you mean 'emails_opened'?"


def test_unknown_owner(tmp_path: Path) -> None:
    error = error_of(tmp_path, VALID.replace("owner: claire}", "owner: clare}"))
    assert (error.key, error.message, error.hint) == ("kpis.ctr.owner", "unknown owner 'clare'",
                                                      "did you mean 'claire'?")


def test_bad_target_month(tmp_path: Path) -> None:
    error = error_of(tmp_path, VALID.replace("2026-01: 0.02", "janvier: 0.02"))
    assert (error.key, error.message) == ("kpis.ctr.target.janvier", "'janvier' is not a month")


def test_cycle_between_kpis(tmp_path: Path) -> None:
    text = VALID.replace("  ctr:", "  a: {formula: b + 1}\n  b: {formula: prev(a) * 2}\n  ctr:")
    error = error_of(tmp_path, text, FormulaError)
    assert error.message == "the formulas refer to each other in a cycle: a → b → a"
    assert error.key == "kpis.a.formula"


def test_a_cycle_through_several_kpis_names_them_in_order(tmp_path: Path) -> None:
    kpis = "  a: {formula: b + 1}\n  b: {formula: c * 2}\n  c: {formula: open_rate + a}\n"
    text = VALID.replace("  ctr:", kpis + "  ctr:")
    error = error_of(tmp_path, text, FormulaError)
    cycle = error.message.removeprefix("the formulas refer to each other in a cycle: ").split(" → ")
    assert cycle[0] == cycle[-1]
    assert sorted(cycle[:-1]) == ["a", "b", "c"]
    uses = {"a": "b", "b": "c", "c": "a"}
    assert all(uses[kpi] == following for kpi, following in itertools.pairwise(cycle))  # each uses the next
    assert error.key == f"kpis.{cycle[0]}.formula"


@pytest.mark.parametrize("reverse", [False, True])
def test_kpis_using_kpis_nest_at_most_max_depth_levels_written_out(tmp_path: Path, reverse: bool) -> None:
    """A chain of KPIs, each using the one before: the engine writes formulas out for year-to-date
    figures and evaluates them recursively, so a chain of 1,500 crashed; now it is refused where it
    passes MAX_DEPTH levels, in whatever order the config lists it."""
    def chain(length: int) -> str:
        lines = ["  k0: {formula: emails_opened}"] + [f"  k{i}: {{formula: k{i - 1} + 1}}" for i in range(1, length)]
        return VALID.replace("  ctr:", "\n".join(reversed(lines) if reverse else lines) + "\n  ctr:")

    config = load_config(write(tmp_path, chain(MAX_DEPTH)))  # k99 = k98 + 1 = … : 100 levels
    assert config.kpi_order().index("k0") < config.kpi_order().index(f"k{MAX_DEPTH - 1}")
    error = error_of(tmp_path, chain(1500), FormulaError)
    assert error.key == f"kpis.k{MAX_DEPTH}.formula"
    assert error.message == (f"with the KPIs it uses written out, this formula nests {MAX_DEPTH + 1} levels "
                             f"(at most {MAX_DEPTH})")


def test_a_kpi_named_like_its_input_reads_the_input(tmp_path: Path) -> None:
    text = VALID.replace("  ctr:", "  visits: {use: website.visits}\n  per_visit: {formula: revenue / visits}\n"
                                   "  emails_opened: {formula: emails_opened}\n  ctr:")
    config = load_config(write(tmp_path, text))
    visits = config.kpis["visits"].formula.tree
    assert visits.kind == "input"  # the catalog input, not the KPI itself
    assert "visits" in config.inputs
    assert config.kpis["emails_opened"].formula.tree.kind == "input"  # a declared input comes first
    per_visit = config.kpis["per_visit"].formula.tree
    assert per_visit.right.kind == "kpi"  # another KPI's id: the KPI


def test_catalog_formulas_read_catalog_inputs_whatever_the_kpis_are_called(tmp_path: Path) -> None:
    # `leads` is the blog's leads here; the catalog's total_leads and visitor_to_lead_rate mean all leads
    text = VALID.replace("  ctr:", "  leads: {use: blog.leads}\n  total_leads: {use: campaigns.total_leads}\n"
                                   "  visitor_to_lead_rate: {use: conversion.visitor_to_lead_rate}\n  ctr:")
    config = load_config(write(tmp_path, text))
    assert config.kpis["total_leads"].formula.tree.kind == "input"
    assert config.kpis["visitor_to_lead_rate"].formula.tree.left.kind == "input"
    assert config.kpis["leads"].formula.tree.name == "blog_leads"


def test_a_name_that_is_a_kpi_and_an_input_in_use_is_refused_in_a_written_formula(tmp_path: Path) -> None:
    text = VALID.replace("  ctr:", "  leads: {use: blog.leads}\n  total_leads: {use: campaigns.total_leads}\n"
                                   "  per_lead: {formula: emails_opened / leads}\n  ctr:")
    error = error_of(tmp_path, text, FormulaError)
    assert error.key == "kpis.per_lead.formula"
    assert error.message == "'leads' could mean the KPI 'leads' (blog_leads) or the input 'leads'"
    assert error.hint == "rename the KPI (e.g. to 'blog_leads'), so that 'leads' means the input everywhere"
    # the same name as a funnel stage
    funnel = VALID.replace("  ctr:", "  leads: {use: blog.leads}\n  total_leads: {use: campaigns.total_leads}\n"
                                     "  ctr:") + "funnel: [leads, emails_opened]\n"
    assert error_of(tmp_path, funnel, FormulaError).key == "funnel.0"
    # a KPI of that name with no input of that name in use is simply the KPI
    text = VALID.replace("  ctr:", "  leads: {use: blog.leads}\n  per_lead: {formula: emails_opened / leads}\n  ctr:")
    config = load_config(write(tmp_path, text))
    assert config.kpis["per_lead"].formula.tree.right.kind == "kpi"


def test_a_kpi_cannot_use_itself_when_no_input_has_its_name(tmp_path: Path) -> None:
    error = error_of(tmp_path, VALID.replace("  ctr:", "  growth: {formula: growth * 2}\n  ctr:"), FormulaError)
    assert error.message.startswith("the KPI 'growth' uses itself (position 1)")


def test_unknown_funnel_stage(tmp_path: Path) -> None:
    error = error_of(tmp_path, VALID + "funnel: [emails_delivered, emails_opend]\n")
    assert (error.key, error.message, error.hint) == ("funnel.1", "unknown stage 'emails_opend'",
                                                      "did you mean 'emails_opened'?")


def test_long_source_needs_name_and_value(tmp_path: Path) -> None:
    error = error_of(tmp_path, VALID.replace(", name: metric, value: amount", ""))
    assert error.key == "sources.1"
    assert "a long layout needs 'name'" in error.message


ROWS_SOURCE = "  - {path: data/deals.csv, layout: rows, measures: {emails_opened: {date: closed}}%s}\n"


@pytest.mark.parametrize(("source", "key", "message", "hint"), [
    (ROWS_SOURCE % ", columns: {closed: day, Nonexistent: foo}", "columns", "'layout: rows'", "under 'measures:'"),
    (ROWS_SOURCE % ", filter: {stage: won}", "filter", "'layout: rows'", "under 'measures:'"),
    (ROWS_SOURCE % ", date: closed", "date", "'layout: rows'", "under 'measures:'"),
    ("  - {database: 'duckdb:///w.duckdb', table: deals, date_format: '%d/%m/%Y', measures: {emails_opened: "
     "{date: closed}}}\n", "date_format", "a database source", "under 'measures:'"),
    ("  - {path: data/web.csv, name: metric}\n", "name", "'layout: wide'", "'layout: long'"),
    ("  - {path: data/t.xlsx, layout: template, sheet: Inputs}\n", "sheet", "'layout: template'", "defined names"),
])
def test_a_source_key_its_layout_never_reads_is_refused_not_ignored(tmp_path: Path, source: str, key: str,
                                                                   message: str, hint: str) -> None:
    error = error_of(tmp_path, VALID.split("sources:")[0] + "sources:\n" + source)
    assert error.key == f"sources.0.{key}"
    assert error.message == f"'{key}' is not read with {message}: it would be ignored"
    assert hint in (error.hint or "")
    assert error.line == 22  # the source's line


def test_messages_name_the_file_and_line(tmp_path: Path) -> None:
    error = error_of(tmp_path, VALID.replace("direction: up", "direction: sideways"))
    assert str(error).startswith(f"{tmp_path / 'kpireport.yaml'}:14: kpis.open_rate.direction: ")


def test_unquoted_comma_in_a_flow_formula_gets_a_quoting_hint(tmp_path: Path) -> None:
    error = error_of(tmp_path, VALID.replace("  ctr:", "  g: {formula: prev(open_rate, 12)}\n  ctr:"))
    assert error.message == "unknown key '12)'"
    assert error.hint == 'inside { } a comma ends the value: quote the formula, e.g. formula: "prev(x, 12)"'


@pytest.mark.parametrize(("logo", "message"), [
    ("../../etc/passwd", "the logo '../../etc/passwd' is outside the config's folder"),
    ("/etc/passwd", "the logo '/etc/passwd' is outside the config's folder"),
    ("images/../../secret.png", "the logo 'images/../../secret.png' is outside the config's folder"),
    ("logo.png", "no logo file 'logo.png'"),
])
def test_the_logo_must_be_a_file_in_the_config_folder(tmp_path: Path, logo: str, message: str) -> None:
    """The review's PDF reads no file outside the project: a logo elsewhere is refused at load."""
    error = error_of(tmp_path, VALID + f"review: {{logo: '{logo}'}}\n")
    assert (error.key, error.message, error.line) == ("review.logo", message, VALID.count("\n") + 1)
    assert error.hint


def test_a_logo_in_the_config_folder_resolves(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "logo.png").write_bytes(b"\x89PNG")
    assert load_config(write(tmp_path, VALID + "review: {logo: images/logo.png}\n")).logo == (
        tmp_path / "images" / "logo.png").resolve()


# --- Excel's own limits, checked by `validate` before any workbook is written -------------------------


NO_SOURCES = VALID.split("sources:")[0]  # the data files do not exist here


def validate(path: Path):  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from kpireport.cli import cli

    return CliRunner().invoke(cli, ["validate", str(path)])


@pytest.mark.parametrize("section", ["inputs", "kpis"])
def test_an_id_longer_than_64_characters_is_refused(tmp_path: Path, section: str) -> None:
    """Ids become defined names (`wrote_target_<kpi>`…), which Excel caps at 255 characters."""
    for length, ok in ((64, True), (65, False)):
        long_id = "k" * length
        if section == "kpis":
            text = NO_SOURCES.replace("  ctr:", f"  {long_id}: {{formula: emails_opened}}\n  ctr:")
        else:
            text = NO_SOURCES.replace("  emails_opened: {label", f"  {long_id}: {{}}\n  emails_opened: {{label")
        result = validate(write(tmp_path, text))
        if ok:
            assert result.exit_code == 0, result.output
            continue
        assert result.exit_code == 2
        assert f"{section}.{long_id}: the id '{long_id}' is 65 characters long (at most 64)" in result.output
        assert "hint: shorten the id" in result.output
        assert "Traceback" not in result.output


def nested(depth: int, name: str = "emails_opened") -> str:
    """`a/(a/(a/…)))`, printed `depth` levels deep: the guard's IF(…IFERROR(…)) adds 2 levels, and
    the innermost bracket, around a bare name, is not printed."""
    return f"{name}/(" * (depth - 1) + name + ")" * (depth - 1)


def test_a_formula_nesting_past_excels_64_levels_is_refused(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from kpireport.template import write_template
    from kpireport.workbook import template_period

    # 63 levels for the monthly value; the year-to-date row's SUM(…) of each input adds one: 64
    fits = NO_SOURCES.replace("  ctr:", f'  deep: {{formula: "{nested(63)}"}}\n  ctr:')
    config = load_config(write(tmp_path, fits))
    write_template(config, tmp_path / "t.xlsx", template_period(year=2026), {})
    sheet = load_workbook(tmp_path / "t.xlsx")["Indicateurs"]
    printed = [c.value for row in sheet.iter_rows() for c in row if isinstance(c.value, str) and "/(" in c.value]
    def deepest(formula: str) -> int:  # the file's own count: no quoted bracket in these formulas
        return max(itertools.accumulate({"(": 1, ")": -1}.get(char, 0) for char in formula))

    assert printed
    assert max(map(deepest, printed)) == 64
    assert validate(tmp_path / "kpireport.yaml").exit_code == 0

    result = validate(write(tmp_path, NO_SOURCES.replace("  ctr:", f'  deep: {{formula: "{nested(65)}"}}\n  ctr:')))
    assert result.exit_code == 2
    assert ("kpis.deep.formula: written for Excel, this formula nests 65 levels of functions and brackets: more "
            "than Excel's 64") in result.output
    assert "hint: split it" in result.output
    assert "Traceback" not in result.output


def test_a_year_to_date_formula_writing_out_other_kpis_is_measured_too(tmp_path: Path) -> None:
    """The monthly value reads `inner` from its cell (shallow), but the year-to-date row writes
    `inner` out inside `outer`: that is where Excel's limit is passed."""
    text = NO_SOURCES.replace("  ctr:", f'  inner: {{formula: "{nested(40)}"}}\n'
                                   f'  outer: {{formula: "{nested(30, "inner")}"}}\n  ctr:')
    result = validate(write(tmp_path, text))
    assert result.exit_code == 2, result.output
    assert "kpis.outer.formula: written for Excel, its year-to-date formula (which writes out the KPIs it uses) " \
           "nests" in result.output
    assert "kpis.inner" not in result.output


def test_a_config_of_too_many_values_is_refused_without_aliases_too(tmp_path: Path) -> None:
    """Counted quickly when no node is shared (no anchor), the limit on values still holds."""
    from kpireport.yamlfile import MAX_NODES, load_yaml

    path = tmp_path / "kpireport.yaml"
    path.write_text("title: x\nlist: [" + "1, " * MAX_NODES + "1]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="more than 200,000 values"):
        load_yaml(path)
    path.write_text("title: x\nlist: [" + "1, " * (MAX_NODES - 10) + "1]\n", encoding="utf-8")
    assert len(load_yaml(path)[0]["list"]) == MAX_NODES - 9
