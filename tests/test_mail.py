"""The review e-mail as composed (no server): the off-target list holds the KPIs beyond the
tolerance and only them — a KPI to watch, on target or without data is not "off target"."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from pathlib import Path

import pytest

from kpireport import engine
from kpireport.config import load_config
from kpireport.errors import KpiReportError
from kpireport.mail import Recipient, compose, recipients_of
from kpireport.months import Month
from kpireport.review import build_view

# October: traffic 70 vs 80 (watch: within 25 %), leads 50 vs 80 (off), cost 110 vs 80 down (off),
# calls 90 vs 80 (on), churn has no value; cost 100 would be on the band's edge (watch)
CONFIG = """\
title: Mail
locale: {locale}
inputs:
  visits: {{aggregate: sum}}
  leads: {{aggregate: sum}}
  cost: {{aggregate: sum}}
  calls: {{aggregate: sum}}
  churned: {{aggregate: sum}}
  spend: {{aggregate: sum}}
kpis:
  traffic: {{label: Traffic, formula: visits, target: 80, tolerance: 0.25}}
  lead_kpi: {{label: Leads, formula: leads, target: 80, tolerance: 0.25}}
  cost_kpi: {{label: Cost, formula: cost, direction: down, target: 80, tolerance: 0.25}}
  spend_kpi: {{label: Spend, formula: spend, direction: down, target: 80, tolerance: 0.25}}
  call_kpi: {{label: Calls, formula: calls, target: 80, tolerance: 0.25}}
  churn: {{label: Churn, formula: churned, target: 80}}
"""
MONTH = Month(2026, 10)
VALUES = {"visits": {MONTH: 70.0}, "leads": {MONTH: 50.0}, "cost": {MONTH: 110.0}, "spend": {MONTH: 100.0},
          "calls": {MONTH: 90.0}, "churned": {}}


@pytest.mark.parametrize(("locale", "heading"), [("en", "Off target this month:"), ("fr", "Hors cible ce mois-ci :")])
def test_only_kpis_beyond_the_tolerance_are_listed_off_target(tmp_path: Path, locale: str, heading: str) -> None:
    path = tmp_path / "kpireport.yaml"
    path.write_text(CONFIG.format(locale=locale), encoding="utf-8")
    config = load_config(path)
    results = engine.compute(config, VALUES, [MONTH])
    statuses = {r.kpi.label: r.months[0].status.value for r in results.kpis}
    assert statuses == {"Traffic": "watch", "Leads": "off", "Cost": "off", "Spend": "watch", "Calls": "on",
                        "Churn": "no_data"}  # the premise, by the README's rule
    document = tmp_path / "review-2026-10.pdf"
    document.write_bytes(b"%PDF-1.7 stand-in")
    outgoing = compose(config, build_view(config, results, MONTH), Recipient("Boss", "boss@example.com"),
                       document, MONTH, sender="kpi@example.com", now=dt.datetime(2026, 11, 2, tzinfo=dt.UTC))
    body = outgoing.message.get_body(("plain",)).get_content()
    listed = body.split(heading)[1].split("\n\n")[0]
    items = [line.strip()[2:].split(":")[0].split(" ")[0] for line in listed.splitlines() if line.strip()]
    assert items == ["Leads", "Cost"]


@pytest.mark.parametrize(("locale", "mark", "line"), [
    ("fr", "octobre 2026 (données partielles)",
     "Données partielles au 20 octobre : les chiffres du mois sont incomplets."),
    ("en", "October 2026 (partial data)", "Partial data, up to October 20: this month's figures are incomplete."),
])
def test_a_partial_month_says_so_in_the_subject_and_at_the_top_of_the_body(tmp_path: Path, locale: str, mark: str,
                                                                           line: str) -> None:
    """Only the PDF's cover said the data stopped on the 20th: a reader of the mail took the month for complete."""
    path = tmp_path / "kpireport.yaml"
    path.write_text(CONFIG.format(locale=locale), encoding="utf-8")
    config = load_config(path)
    document = tmp_path / "review-2026-10.pdf"
    document.write_bytes(b"%PDF-1.7 stand-in")
    messages = {}
    for partial in ({MONTH: dt.date(2026, 10, 20)}, {}):
        view = build_view(config, engine.compute(config, VALUES, [MONTH], partial=partial), MONTH)
        messages[bool(partial)] = compose(config, view, Recipient("Boss", "boss@example.com"), document, MONTH,
                                          sender="kpi@example.com").message
    assert mark in messages[True]["Subject"]
    body = messages[True].get_body(("plain",)).get_content()
    assert body.split("\n")[2] == line  # under the greeting
    complete = messages[False]
    assert mark not in complete["Subject"]
    assert line not in complete.get_body(("plain",)).get_content()


def _compose(tmp_path: Path, recipient: Recipient = Recipient("Boss", "boss@example.com"),  # noqa: B008
             **options) -> EmailMessage:  # type: ignore[no-untyped-def]
    path = tmp_path / "kpireport.yaml"
    path.write_text(CONFIG.format(locale="en"), encoding="utf-8")
    config = load_config(path)
    results = engine.compute(config, VALUES, [MONTH])
    document = tmp_path / "review-2026-10.pdf"
    document.write_bytes(b"%PDF-1.7 stand-in")
    return compose(config, build_view(config, results, MONTH), recipient, document,
                   MONTH, **{"sender": "Revue KPI <kpi@reviews.example.org>", **options}).message


def test_the_headers_say_who_from_whom_to_when(tmp_path: Path) -> None:
    sent = dt.datetime(2026, 11, 2, 8, 30, tzinfo=dt.UTC)
    message = _compose(tmp_path, reply_to="manager@example.com", now=sent)
    assert message["From"] == "Revue KPI <kpi@reviews.example.org>"
    assert message["To"] == "Boss <boss@example.com>"
    assert message["Reply-To"] == "manager@example.com"
    assert message["Date"] == "Mon, 02 Nov 2026 08:30:00 +0000"
    assert message["Message-ID"].startswith("<")
    assert message["Message-ID"].endswith("@reviews.example.org>")
    assert "Reply-To" not in _compose(tmp_path, now=sent)  # none given: none written
    assert next(message.iter_attachments()).get_content() == b"%PDF-1.7 stand-in"


def test_a_recipient_without_a_name_is_addressed_bare_and_any_name_is_kept(tmp_path: Path) -> None:
    """The name is left out only when it is the address itself (none was given), whatever sorts first; the
    greeting too ("Hello board@example.com," read as a machine's)."""
    bare = "".join(["board", "@example.com"])  # equal to the address, another string object
    unnamed = _compose(tmp_path, Recipient(bare, "board@example.com"))
    assert unnamed["To"] == "board@example.com"
    assert unnamed.get_body(("plain",)).get_content().startswith("Hello,\n")  # not "Hello board@example.com,"
    named = _compose(tmp_path, Recipient("marc", "a.marc@example.com"))
    assert named["To"] == "marc <a.marc@example.com>"
    assert named.get_body(("plain",)).get_content().startswith("Hello marc,\n")


def test_a_body_template_ending_in_a_newline_gets_no_second_one(tmp_path: Path) -> None:
    custom = tmp_path / "mine" / "mail" / "en"
    custom.mkdir(parents=True)
    (custom / "body.txt").write_text("Hello {{ recipient }}\n\n", encoding="utf-8")  # Jinja keeps one
    message = _compose(tmp_path, template_dir=tmp_path / "mine")
    assert message.get_body(("plain",)).get_content() == "Hello Boss\n"


def test_recipients_are_the_owners_addresses_once_each_and_all_missing_ones_are_named(tmp_path: Path) -> None:
    path = tmp_path / "kpireport.yaml"
    path.write_text(CONFIG.format(locale="en") + """owners:
  anna: {name: Anna, email: anna@example.com}
  bob: {name: Bob, email: bob@example.com}
  anna2: {name: Anna B., email: ANNA@example.com}
  carl: {name: Carl}
  dora: {name: Dora}
""", encoding="utf-8")
    config = load_config(path)
    assert recipients_of(config, ["anna", "bob", "anna2"]) == [Recipient("Anna", "anna@example.com"),
                                                                Recipient("Bob", "bob@example.com")]
    with pytest.raises(KpiReportError, match="no e-mail address for carl, dora: nothing was sent"):
        recipients_of(config, ["anna", "carl", "dora"])


def test_a_name_that_looks_like_an_address_stays_a_name(tmp_path: Path) -> None:
    """An owner's name is encoded whole (formataddr encoded only "Zoë" and left `<boss@evil.example>`
    as a second address)."""
    from email import message_from_bytes, policy

    for name in ("Zoë <boss@evil.example>", 'Zoe "x" <boss@evil.example>, y'):
        message = _compose(tmp_path, Recipient(name, "zoe@example.com"))
        parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
        assert [(a.display_name, a.addr_spec) for a in parsed["To"].addresses] == [(name, "zoe@example.com")]


def test_the_message_id_is_the_same_for_the_same_review_recipient_and_month(tmp_path: Path) -> None:
    path = tmp_path / "kpireport.yaml"
    path.write_text(CONFIG.format(locale="en"), encoding="utf-8")
    config = load_config(path)
    view = build_view(config, engine.compute(config, VALUES, [MONTH]), MONTH)
    document = tmp_path / "review-2026-10.pdf"

    def message_id(recipient: str = "boss@example.com", pdf: bytes = b"%PDF one", month: Month = MONTH) -> str:
        document.write_bytes(pdf)
        return compose(config, view, Recipient("Boss", recipient), document, month, sender="kpi@reviews.example.org",
                       now=dt.datetime.now(dt.UTC)).message["Message-ID"]

    first = message_id()
    assert first == message_id()  # composed again (a rerun): the same id
    assert first == message_id("BOSS@example.com")  # addresses are case-blind, like the send log
    assert first.endswith("@reviews.example.org>")
    assert len({first, message_id("other@example.com"), message_id(pdf=b"%PDF two"),
                message_id(month=Month(2026, 9))}) == 4


@pytest.mark.parametrize("month", ["octobre 2026", "novembre 2026", "décembre 2026", "février 2027", "août 2026"])
def test_a_subject_comes_back_with_every_space_however_it_folds(month: str) -> None:
    """Python 3.11 folded "octobre 2026 (données partielles)" into "octobre 2026(données partielles)",
    one subject in five: the message's policy folds non-ASCII subjects with email.header's encoder."""
    from email import message_from_bytes, policy

    from kpireport.mail import _POLICY

    for mark in ("(données partielles)", "", "(partial data)"):
        for name in ("Karim Benali", "Zoë Ångström", "Équipe ventes Île-de-France", "A" * 70):
            subject = f"Revue mensuelle marketing & ventes — {month} {mark} — {name} : 1 atteint, 1 hors cible"
            message = EmailMessage(policy=_POLICY)
            message["Subject"] = subject
            message.set_content("x")
            for wire in (message.as_bytes(), message.as_bytes(policy=message.policy.clone(linesep="\r\n"))):
                head = wire.split(b"\n\n")[0].split(b"\r\n\r\n")[0]
                assert message_from_bytes(wire, policy=policy.default)["Subject"] == subject
                assert all(len(line.rstrip(b"\r")) <= 78 for line in head.split(b"\n"))
