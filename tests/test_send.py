"""`kpireport send` against a real SMTP server (aiosmtpd) on loopback: who gets what, the summary in
the body, the PDF attached and holding the owner's KPIs; exactly once across a dropped connection
and a rerun; permanent refusals; STARTTLS required; the password never shown or stored."""

from __future__ import annotations

import email
import io
import json
import re
import shutil
import unicodedata
from email import policy
from functools import partial
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from pypdf import PdfReader

from kpireport.cli import cli
from kpireport.config import load_config
from kpireport.delivery import LOG_NAME, SendLog, connect, deliver
from kpireport.mail import prepare
from kpireport.months import Month
from kpireport.sources import load_data

from .smtp import PASSWORD, Mailbox, smtp_server

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "example"
MONTH = Month(2026, 10)


@pytest.fixture
def server():
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        yield mailbox, port


def project(tmp_path: Path, port: int, security: str = "none", **extra) -> Path:  # type: ignore[no-untyped-def]
    shutil.copytree(EXAMPLE, tmp_path / "project")
    path = tmp_path / "project" / "kpireport.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["smtp"] = {"host": "127.0.0.1", "port": port, "security": security,
                        "from": "Revue KPI <kpi@example.com>", "reply_to": "manager@example.com"}
    document.update(extra)
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def run(*args: object, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def pdf_text(data: bytes) -> str:
    raw = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return re.sub(r"[^\S\n]+", " ", unicodedata.normalize("NFKC", raw))


def test_each_owner_gets_their_review_with_summary_and_pdf(tmp_path: Path, server) -> None:
    mailbox, port = server
    path = project(tmp_path, port)
    result = run("send", path, "--month", MONTH, "--output-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    config = load_config(path)
    assert len(mailbox.messages) == len(config.owners) == 5
    for owner_id, owner in config.owners.items():
        received = mailbox.to(owner.email)  # type: ignore[arg-type]
        assert len(received) == 1, owner.email
        message = received[0]
        assert message["To"].addresses[0].addr_spec == owner.email
        assert message["From"] == "Revue KPI <kpi@example.com>"
        assert message["Reply-To"] == "manager@example.com"
        assert message["Date"]
        assert message["Message-ID"].endswith("@example.com>")
        assert "octobre 2026" in message["Subject"]
        body = message.get_body(("plain",)).get_content()
        own = [k for k in config.kpis.values() if k.owner == owner_id]
        assert f"Sur {len(own)} indicateurs" in body
        attachments = list(message.iter_attachments())
        assert [a.get_filename() for a in attachments] == [f"review-2026-10-{owner_id}.pdf"]
        text = pdf_text(attachments[0].get_content())
        for kpi in config.kpis.values():
            in_summary = re.search(rf"^{re.escape(kpi.label)} [\d—€]", text, re.MULTILINE) is not None
            assert in_summary == (kpi in own), (owner_id, kpi.id)
    log = [json.loads(line) for line in (tmp_path / "out" / LOG_NAME).read_text().splitlines()]
    assert sorted(entry["recipient"] for entry in log) == sorted(o.email for o in config.owners.values())


def test_off_target_kpis_are_listed_in_the_body(tmp_path: Path, server) -> None:
    mailbox, port = server
    path = project(tmp_path, port)
    result = run("send", path, "--month", MONTH, "--per", "all", "--to", "boss@example.com",
                 "--output-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert len(mailbox.messages) == 1
    recipients, message = mailbox.messages[0]
    assert recipients == ["boss@example.com"]
    body = message.get_body(("plain",)).get_content()
    # October 2026 of the example: visits and cost per lead are off target (see compute)
    assert "Hors cible ce mois-ci" in body
    assert "Visites (sessions) : 14 581 pour une cible de 18 000" in body.replace("\u202f", " ").replace("\xa0", " ")
    assert "Coût par lead (CPL)" in body
    assert "Taux d'ouverture" not in body.split("Hors cible ce mois-ci")[1]


def test_dropped_connection_then_rerun_gives_everyone_exactly_one_message(tmp_path: Path, server) -> None:
    mailbox, port = server
    path = project(tmp_path, port)
    config = load_config(path)
    values = load_data(config).values
    out = tmp_path / "out"
    messages = prepare(config, values, MONTH, per="owner", to=[], output_dir=out)
    mailbox.accept_only = 2  # the server drops the connection after the second message, every time
    opener = partial(connect, config.smtp, None)
    first = list(deliver(messages, SendLog(out / LOG_NAME), opener, attempts=2, backoff=0.01))
    assert [status for status, _, _ in first] == ["sent", "sent", "failed", "failed", "failed"]
    assert all("after 2 tries" in detail for status, _, detail in first if status == "failed")
    assert len(mailbox.messages) == 2
    mailbox.accept_only = None  # the server is back: the same command again
    result = run("send", path, "--month", MONTH, "--output-dir", out)
    assert result.exit_code == 0, result.output
    assert "3 sent, 2 already sent, 0 failed" in result.output
    for owner in config.owners.values():
        assert len(mailbox.to(owner.email)) == 1, owner.email  # type: ignore[arg-type]
    # and a third run sends nothing
    again = run("send", path, "--month", MONTH, "--output-dir", out)
    assert "0 sent, 5 already sent" in again.output
    assert len(mailbox.messages) == 5
    # unless asked
    forced = run("send", path, "--month", MONTH, "--output-dir", out, "--resend")
    assert "5 sent" in forced.output
    assert len(mailbox.messages) == 10


def test_a_rerun_after_the_pdf_changed_says_so_and_sends_nothing(tmp_path: Path, server) -> None:
    """The data is corrected after the review went out: the rerun prints that the PDF has changed
    since (the reader decides on --resend); with the data unchanged it does not."""
    mailbox, port = server
    path = project(tmp_path, port)
    args = ("send", path, "--month", MONTH, "--per", "all", "--to", "boss@example.com",
            "--output-dir", tmp_path / "out")
    assert run(*args).exit_code == 0
    notice = "(the PDF has changed since: --resend sends it again)"
    same = run(*args)
    assert same.exit_code == 0, same.output
    assert "skipped: review-2026-10.pdf to boss@example.com — already sent on " in same.output
    assert notice not in same.output
    crm = path.parent / "data" / "crm-monthly.csv"
    crm.write_text(crm.read_text(encoding="utf-8").replace("2026-10,revenue,362239.61", "2026-10,revenue,362939.61"),
                   encoding="utf-8")
    changed = run(*args)
    assert changed.exit_code == 0, changed.output
    line = next(ln for ln in changed.output.splitlines() if ln.startswith("skipped: review-2026-10.pdf"))
    assert line.endswith(f" {notice}")
    assert "0 sent, 1 already sent, 0 failed" in changed.output
    assert len(mailbox.messages) == 1


def test_a_month_the_daily_export_has_not_reached_yet_is_not_sent_by_default(tmp_path: Path, server) -> None:
    """The CRM export had November, the daily one stopped on 31 October: three owners got a "0 on target, 0 off
    target" mail with all their KPIs without data. The default stays October, and says why."""
    from .test_review import crm_ahead

    mailbox, port = server
    path = project(tmp_path, port)
    crm, daily = crm_ahead(path)
    result = run("send", path, "--output-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert f"2026-11 has data in {crm} but not yet in {daily}" in result.output
    assert "give --month 2026-11 to review it anyway" in result.output
    files = sorted(part.get_filename() for _, message in mailbox.messages for part in message.iter_attachments())
    assert files == sorted(f"review-2026-10-{owner}.pdf" for owner in load_config(path).owners)
    assert all("octobre 2026" in message["Subject"] for _, message in mailbox.messages)


def test_a_partial_month_sent_on_purpose_says_so_in_every_mail(tmp_path: Path, server) -> None:
    mailbox, port = server
    path = project(tmp_path, port)
    daily = path.parent / "data" / "daily-web-email.csv"
    header, *rows = daily.read_text(encoding="utf-8").splitlines(keepends=True)
    daily.write_text(header + "".join(row for row in rows if row < "2026-10-21"), encoding="utf-8")
    result = run("send", path, "--month", MONTH, "--output-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert len(mailbox.messages) == 5
    for _, message in mailbox.messages:
        assert "octobre 2026 (données partielles)" in message["Subject"]  # every space (mail._SubjectsWhole)
        body = message.get_body(("plain",)).get_content()
        assert body.splitlines()[2] == "Données partielles au 20 octobre : les chiffres du mois sont incomplets."


def test_a_refused_recipient_is_reported_and_the_others_still_go(tmp_path: Path, server) -> None:
    mailbox, port = server
    path = project(tmp_path, port)
    mailbox.refused.add("karim.benali@example.com")
    result = run("send", path, "--month", MONTH, "--output-dir", tmp_path / "out")
    assert result.exit_code == 1
    assert "failed: review-2026-10-website.pdf to karim.benali@example.com — 550 5.1.1 mailbox unavailable" \
        in result.output
    assert "4 sent, 0 already sent, 1 failed" in result.output
    assert "the server refused 1 message for good (5xx): fix what its reply names (the address in the config" \
        in result.output
    assert "run the same command again to send what failed" not in result.output  # it would be refused again
    assert len(mailbox.messages) == 4


def test_owners_without_address_stop_everything_before_sending(tmp_path: Path, server) -> None:
    mailbox, port = server
    path = project(tmp_path, port)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    del document["owners"]["sales"]["email"]
    del document["owners"]["website"]["email"]
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    result = run("send", path, "--month", MONTH, "--output-dir", tmp_path / "out")
    assert result.exit_code == 2
    assert "no e-mail address for website, sales" in result.output
    assert "--to" in result.output
    assert mailbox.messages == []
    assert not (tmp_path / "out").exists()


def test_dry_run_writes_eml_files_and_sends_nothing(tmp_path: Path, server) -> None:
    mailbox, port = server
    path = project(tmp_path, port)
    result = run("send", path, "--month", MONTH, "--dry-run", tmp_path / "eml", "--output-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "eml").glob("*.eml"))
    assert len(files) == 5
    message = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert next(message.iter_attachments()).get_content_type() == "application/pdf"
    assert mailbox.messages == []
    assert not (tmp_path / "out" / LOG_NAME).exists()


def test_dry_run_files_of_look_alike_addresses_do_not_overwrite_each_other(tmp_path: Path, server) -> None:
    """jean.dupont@, jean-dupont@ and jean_dupont@ made one file name: three "wrote" lines, one file left."""
    mailbox, port = server
    alike = ["jean.dupont@example.com", "jean-dupont@example.com", "jean_dupont@example.com"]
    path = project(tmp_path, port, recipients=alike)
    result = run("send", path, "--month", MONTH, "--dry-run", tmp_path / "eml", "--to", alike[0], "--to",
                 alike[0].upper(), "--output-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    # one message per owner's document: the same address given twice (in another case) is one recipient
    assert len(list((tmp_path / "eml").glob("*.eml"))) == result.output.count("wrote ") == 5
    result = run("send", path, "--month", MONTH, "--dry-run", tmp_path / "eml2", "--output-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "eml2").glob("*.eml"))
    written = [line for line in result.output.splitlines() if line.startswith("wrote ")]
    assert len(files) == len(written) == 5 + 3  # the owners' reviews, and the whole review to each of the three
    received = {}
    for file in files:
        message = email.message_from_bytes(file.read_bytes(), policy=policy.default)
        received[message["To"].addresses[0].addr_spec, next(message.iter_attachments()).get_filename()] = file.name
        assert f"wrote {file} (to {message['To'].addresses[0].addr_spec})" in written
    assert {(address, f"review-{MONTH}.pdf") for address in alike} <= set(received)
    assert mailbox.messages == []


def test_a_dry_run_after_a_partial_send_writes_only_what_a_real_run_would_send(tmp_path: Path, server) -> None:
    """It wrote every message, as if the send log were empty: not what the next real run would do."""
    mailbox, port = server
    path = project(tmp_path, port)
    out = tmp_path / "out"
    mailbox.refused.add("karim.benali@example.com")
    assert run("send", path, "--month", MONTH, "--output-dir", out).exit_code == 1  # 4 sent, Karim's failed
    log = (out / LOG_NAME).read_bytes()
    dry = run("send", path, "--month", MONTH, "--output-dir", out, "--dry-run", tmp_path / "eml")
    assert dry.exit_code == 0, dry.output
    assert dry.output.count("skipped: ") == 4
    assert f"dry run: 1 written, nothing sent; 4 already sent, 0 unknown (log: {out / LOG_NAME})" in dry.output
    (written,) = (tmp_path / "eml").glob("*.eml")
    planned = email.message_from_bytes(written.read_bytes(), policy=policy.default)
    assert (out / LOG_NAME).read_bytes() == log  # read, not written
    assert len(mailbox.messages) == 4
    mailbox.refused.clear()
    assert run("send", path, "--month", MONTH, "--output-dir", out).exit_code == 0
    assert [message["Message-ID"] for _, message in mailbox.messages[4:]] == [planned["Message-ID"]]
    everything = run("send", path, "--month", MONTH, "--output-dir", out, "--dry-run", tmp_path / "all", "--resend")
    assert everything.exit_code == 0, everything.output
    assert len(list((tmp_path / "all").glob("*.eml"))) == 5


def test_file_names_alike_are_numbered_on_until_free() -> None:
    """A key reading like a numbered one ('a 3') sent the numbering into an endless loop."""
    from kpireport.files import paths_beside

    paths = paths_beside(Path("out/m.eml"), ["a", "a 3", "A", "a.", "a 2"])
    assert [path.name for path in paths.values()] == ["m-a.eml", "m-a-3.eml", "m-a-2.eml", "m-a-4.eml", "m-a-2-2.eml"]


def test_starttls_is_required_unless_written_off(tmp_path: Path, server) -> None:
    mailbox, port = server  # this server offers no STARTTLS
    path = project(tmp_path, port, security="starttls")
    result = run("send", path, "--month", MONTH, "--output-dir", tmp_path / "out")
    assert result.exit_code == 2
    assert "does not offer STARTTLS: nothing was sent" in result.output
    assert "security: none" in result.output
    assert mailbox.messages == []


def test_smtp_section_is_validated(tmp_path: Path, server) -> None:
    _, port = server
    path = project(tmp_path, port)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["smtp"]["security"] = "tls"
    document["smtp"]["password"] = PASSWORD
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    result = run("validate", path)
    assert result.exit_code == 2
    assert "smtp" in result.output
    assert PASSWORD not in result.output


def test_the_password_never_appears_in_output_errors_or_the_log(tmp_path: Path, server) -> None:
    mailbox, port = server
    path = project(tmp_path, port)
    out = tmp_path / "out"
    good = {"KPIREPORT_SMTP_USER": "claire", "KPIREPORT_SMTP_PASSWORD": PASSWORD}
    sent = run("send", path, "--month", MONTH, "--output-dir", out, env=good)
    assert sent.exit_code == 0, sent.output
    assert len(mailbox.messages) == 5
    wrong = {"KPIREPORT_SMTP_USER": "claire", "KPIREPORT_SMTP_PASSWORD": PASSWORD + "-wrong"}
    refused = run("send", path, "--month", MONTH, "--output-dir", out, "--resend", env=wrong)
    assert refused.exit_code == 2
    assert "refused the login of claire" in refused.output
    verbose = run("--verbose", "send", path, "--month", MONTH, "--output-dir", out, "--resend", env=wrong)
    half = run("send", path, "--month", MONTH, "--output-dir", out, env={"KPIREPORT_SMTP_PASSWORD": PASSWORD})
    assert half.exit_code == 2
    stored = "".join(p.read_text(errors="replace") for p in out.rglob("*") if p.suffix != ".pdf")
    for text in (sent.output, refused.output, verbose.output, repr(verbose.exception), half.output, stored):
        assert PASSWORD not in text
    assert len(mailbox.messages) == 5


def test_the_whole_loop_template_filled_by_hand_then_report_then_mail(tmp_path: Path, server) -> None:
    """template → a person types October's opens and a note → send (reading the workbook) → the
    owner's PDF shows the typed value and the note."""
    from openpyxl import load_workbook

    from kpireport.template import named_cells

    mailbox, port = server
    path = project(tmp_path, port)
    workbook_path = tmp_path / "kpi-template.xlsx"
    assert run("template", path, "-o", workbook_path).exit_code == 0
    workbook = load_workbook(workbook_path)
    months = [c.value.strftime("%Y-%m") for c in named_cells(workbook, "months")]
    delivered = named_cells(workbook, "in_emails_delivered")[months.index("2026-10")].value
    named_cells(workbook, "in_emails_opened")[months.index("2026-10")].value = round(delivered * 0.3125)
    notes = named_cells(workbook, "note_emails_opened")
    notes[months.index("2026-10")].value = "Nouvelle ligne d'objet testée en octobre"
    notes[months.index("2026-09")].value = "Une note de septembre"  # not in October's review
    workbook.save(workbook_path)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["sources"] = [{"path": str(workbook_path), "layout": "template"}]
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    result = run("send", path, "--month", MONTH, "--output-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    (message,) = mailbox.to("claire.martin@example.com")
    text = pdf_text(next(message.iter_attachments()).get_content())
    assert f"{100 * round(delivered * 0.3125) / delivered:.1f}".replace(".", ",") + " %" in text
    assert "Nouvelle ligne d'objet testée en octobre" in text
    assert "Une note de septembre" not in text


# --- a director too, in the same send -------------------------------------------------------------------


def test_recipients_get_the_whole_review_and_owners_theirs_in_one_send(tmp_path: Path, server) -> None:
    mailbox, port = server
    path = project(tmp_path, port, recipients=["Dana Leroy <dana@example.com>", {"email": "board@example.com"},
                                               "claire.martin@example.com"])
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["owners"]["email"]["cc"] = ["assistant@example.com", "DANA@example.com"]
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    config = load_config(path)
    out = tmp_path / "out"
    result = run("send", path, "--month", MONTH, "--output-dir", out)
    assert result.exit_code == 0, result.output
    got = sorted((address, part.get_filename()) for recipients, message in mailbox.messages
                 for address in recipients for part in message.iter_attachments())
    owners = sorted((owner.email, f"review-{MONTH}-{owner_id}.pdf") for owner_id, owner in config.owners.items())
    copies = [("assistant@example.com", f"review-{MONTH}-email.pdf"), ("DANA@example.com", f"review-{MONTH}-email.pdf")]
    whole = [(address, f"review-{MONTH}.pdf")
             for address in ("dana@example.com", "board@example.com", "claire.martin@example.com")]
    assert got == sorted(owners + copies + whole)  # Claire, an owner, also reads the whole review: two documents
    by_file = {part.get_filename(): message for _, message in mailbox.messages for part in message.iter_attachments()}
    funnel = "l'entonnoir sont dans le PDF"  # the config is French; only the whole review has the funnel
    assert funnel in by_file[f"review-{MONTH}.pdf"].get_body().get_content()
    assert funnel not in by_file[f"review-{MONTH}-email.pdf"].get_body().get_content()
    assert "Le détail et les tendances sur 13 mois sont dans le PDF." in \
        by_file[f"review-{MONTH}-email.pdf"].get_body().get_content()
    whole_text = pdf_text(by_file[f"review-{MONTH}.pdf"].get_payload()[1].get_content())
    assert all(kpi.label in whole_text for kpi in config.kpis.values())
    count = len(mailbox.messages)
    assert run("send", path, "--month", MONTH, "--output-dir", out).exit_code == 0
    assert len(mailbox.messages) == count  # exactly once: the rerun sends nothing


def test_an_owners_cc_gets_a_copy_of_the_owners_review_with_per_all_too(tmp_path: Path, server) -> None:
    """With --per all the owner's review is the whole review: the cc addresses got nothing."""
    mailbox, port = server
    path = project(tmp_path, port, recipients=["Dana Leroy <dana@example.com>"])
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["owners"]["email"]["cc"] = ["assistant@example.com", "DANA@example.com"]
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    result = run("send", path, "--month", MONTH, "--per", "all", "--output-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    got = sorted((address.lower(), part.get_filename()) for recipients, message in mailbox.messages
                 for address in recipients for part in message.iter_attachments())
    addresses = [owner.email for owner in load_config(path).owners.values()] + ["assistant@example.com",
                                                                                "dana@example.com"]
    assert got == sorted((address, f"review-{MONTH}.pdf") for address in addresses)  # Dana once: cc and reader


def test_a_kpi_without_owner_is_named_since_no_owner_gets_it(tmp_path: Path, server) -> None:
    """It was in nobody's mail and send said nothing (report --per owner warned)."""
    mailbox, port = server
    path = project(tmp_path, port)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    del document["kpis"]["visits"]["owner"]
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    warning = "warning: visits has no owner: it is in no per-owner review (give it 'owner:')"
    for command in (("validate", path), ("send", path, "--month", MONTH, "--output-dir", tmp_path / "out")):
        result = run(*command)
        assert result.exit_code == 0, result.output
        assert result.output.count(warning) == 1, result.output
    texts = [pdf_text(part.get_content()) for _, message in mailbox.messages for part in message.iter_attachments()]
    assert len(texts) == 5  # Karim still owns bounce_rate
    assert not any("Visites (sessions)" in text for text in texts)
    whole = run("send", path, "--month", MONTH, "--per", "all", "--to", "boss@example.com", "--output-dir",
                tmp_path / "whole")
    assert whole.exit_code == 0, whole.output
    assert warning not in whole.output  # the whole review holds it
    assert "Visites (sessions)" in pdf_text(next(mailbox.messages[-1][1].iter_attachments()).get_content())
    del document["owners"]
    for kpi in document["kpis"].values():
        kpi.pop("owner", None)
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    assert "no owner" not in run("validate", path).output  # a config without owners has no per-owner review


@pytest.mark.parametrize(("recipients", "key"), [
    (["not an address"], "recipients.0.email"),
    (["Dana <dana@example.com>", "x@y\r\nBcc: spy@evil.example"], "recipients.1.email"),
    ([{"email": "dana@example.com", "name": "Dana\nBcc: spy@evil.example"}], "recipients.0.name"),
])
def test_a_recipient_that_is_not_one_address_is_refused_by_validate(tmp_path: Path, recipients, key: str) -> None:  # type: ignore[no-untyped-def]
    path = project(tmp_path, 25, recipients=recipients)
    result = run("validate", path)
    assert result.exit_code == 2, result.output
    assert f"{key}:" in result.output
