"""`kpireport send` through the CLI against a real SMTP server on loopback (tests/smtp.py), counting
what the server stored: a reply lost after the message went out (never resent blindly), timeouts
(a server that never greets, one that answers too late), one send at a time, the send log beside
the config whatever the current folder, damaged send logs, and headers that go to the intended
address only."""

from __future__ import annotations

import email
import json
import os
import signal
import subprocess
import sys
import time
from email import policy
from pathlib import Path

import pytest
import yaml

from kpireport.delivery import LOCK_NAME, LOG_NAME

from .smtp import PASSWORD, Mailbox, silent_server, smtp_server
from .test_send import MONTH, project, run

ONE = ("--per", "all", "--to", "boss@example.com")  # one message: a single PDF to render, fast


@pytest.fixture
def server():
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        yield mailbox, port


def edit(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")


def records(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


# --- a reply lost after the message went out ----------------------------------------------------------


def test_a_message_stored_then_unanswered_is_unknown_never_resent_blindly(tmp_path: Path, server) -> None:
    mailbox, port = server
    path = project(tmp_path, port)
    out = tmp_path / "out"
    mailbox.drop_after_storing = 1  # the first message is stored, then the connection drops before "250"
    first = run("send", path, "--month", MONTH, "--output-dir", out)
    assert first.exit_code == 1, first.output
    assert len(mailbox.messages) == 5  # the ambiguous one was not retried: one copy each
    (unknown,) = [line for line in first.output.splitlines() if line.startswith("unknown: ")]
    address = mailbox.raw[0][1][0]
    assert f" to {address} — the connection to 127.0.0.1:{port} was lost after the message was sent: " \
           "it may have been delivered" in unknown
    assert f"--resend --only {address}" in unknown
    assert "4 sent, 0 already sent, 0 failed, 1 unknown" in first.output
    assert [(r["recipient"], r["status"]) for r in records(out / LOG_NAME) if r["status"] != "sent"] == \
        [(address, "unknown")]
    # a plain rerun does not send it again, and still says so
    again = run("send", path, "--month", MONTH, "--output-dir", out)
    assert again.exit_code == 1, again.output
    assert "0 sent, 4 already sent, 0 failed, 1 unknown" in again.output
    assert len(mailbox.messages) == 5
    # once checked, --resend --only sends that one, with the same Message-ID as the first copy
    resent = run("send", path, "--month", MONTH, "--output-dir", out, "--resend", "--only", address)
    assert resent.exit_code == 0, resent.output
    assert "1 sent, 0 already sent, 0 failed, 0 unknown" in resent.output
    copies = mailbox.to(address)
    assert len(copies) == 2
    assert len(mailbox.messages) == 6
    assert copies[0]["Message-ID"] == copies[1]["Message-ID"]
    settled = run("send", path, "--month", MONTH, "--output-dir", out)
    assert settled.exit_code == 0, settled.output
    assert "0 sent, 5 already sent, 0 failed, 0 unknown" in settled.output
    assert len(mailbox.messages) == 6


def test_a_message_the_recipient_received_is_marked_delivered_without_sending_it(tmp_path: Path, server) -> None:
    mailbox, port = server
    path = project(tmp_path, port)
    out = ("--output-dir", tmp_path / "out")
    mailbox.drop_after_storing = 1
    first = run("send", path, "--month", MONTH, *ONE, *out)
    assert first.exit_code == 1, first.output
    assert "--mark-delivered boss@example.com (received)" in first.output
    nothing = run("send", path, "--month", MONTH, *out, "--mark-delivered", "claire@example.com")
    assert nothing.exit_code == 2, nothing.output
    assert "--mark-delivered claire@example.com: no message of 2026-10 to this address is unknown" in nothing.output
    marked = run("send", path, "--month", MONTH, *out, "--mark-delivered", "BOSS@example.com")
    assert marked.exit_code == 0, marked.output
    assert "marked delivered: review-2026-10.pdf to boss@example.com (unknown since " in marked.output
    assert [r["status"] for r in records(tmp_path / "out" / LOG_NAME)] == ["unknown", "sent"]
    settled = run("send", path, "--month", MONTH, *ONE, *out)
    assert settled.exit_code == 0, settled.output
    assert "0 sent, 1 already sent, 0 failed, 0 unknown" in settled.output
    assert len(mailbox.messages) == 1
    again = run("send", path, "--month", MONTH, *out, "--mark-delivered", "boss@example.com")
    assert again.exit_code == 2  # nothing unknown any more


def test_only_names_a_recipient_of_this_send(tmp_path: Path, server) -> None:
    mailbox, port = server
    path = project(tmp_path, port)
    result = run("send", path, "--month", MONTH, *ONE, "--output-dir", tmp_path / "out", "--only", "x@example.com")
    assert result.exit_code == 2
    assert "--only x@example.com: no message of 2026-10 goes to this address" in result.output
    assert "boss@example.com" in result.output
    assert mailbox.rcpt == []


def test_a_retry_carries_the_same_message_id(tmp_path: Path, server) -> None:
    """A temporary refusal at the end of DATA, then acceptance: every copy the server saw has one id."""
    mailbox, port = server
    path = project(tmp_path, port)
    mailbox.accept_only = 0  # drops at RCPT: nothing stored, retried
    first = run("send", path, "--month", MONTH, *ONE, "--output-dir", tmp_path / "out")
    assert first.exit_code == 1
    assert "failed: review-2026-10.pdf to boss@example.com" in first.output
    mailbox.accept_only = None
    mailbox.drop_after_storing = 1
    assert run("send", path, "--month", MONTH, *ONE, "--output-dir", tmp_path / "out").exit_code == 1
    assert run("send", path, "--month", MONTH, *ONE, "--output-dir", tmp_path / "out", "--resend").exit_code == 0
    ids = {message["Message-ID"] for _, message in mailbox.messages}
    assert len(mailbox.messages) == 2
    assert len(ids) == 1


# --- stopped by Ctrl-C or SIGTERM ---------------------------------------------------------------------


def started_send(path: Path, cwd: Path) -> subprocess.Popen:  # type: ignore[type-arg]
    """`kpireport send` in a process of its own, as cron or systemd would run it and stop it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPIREPORT_SMTP")}
    return subprocess.Popen([sys.executable, "-m", "kpireport", "send", str(path), "--month", str(MONTH)],
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stopped(process: subprocess.Popen, seen, signal_number: int) -> tuple[int, str]:  # type: ignore[type-arg,no-untyped-def]
    """Send the signal once the server has seen `seen()` happen; the send's exit code and output."""
    try:
        deadline = time.monotonic() + 120
        while not seen():
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "the send never got that far"
            time.sleep(0.05)
        time.sleep(0.3)  # the client is now waiting for the server's reply
        process.send_signal(signal_number)
        output = process.communicate(timeout=30)[0]
        return process.returncode, output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_send_stopped_while_waiting_for_the_reply_logs_it_unknown_and_never_sends_it_twice(
        tmp_path: Path, server, signal_number: int) -> None:
    """Ctrl-C, or SIGTERM (cron's timeout, systemctl stop), after the second message went out whole and
    before its reply: the server stored it, so it is logged `unknown`, and the rerun does not send it."""
    mailbox, port = server
    path = project(tmp_path, port)
    mailbox.delay, mailbox.slow_after = 60, 1  # the first message is answered at once, the second only after 60 s
    code, output = stopped(started_send(path, tmp_path), lambda: len(mailbox.messages) == 2, signal_number)
    assert code == 128 + signal_number, output
    assert "interrupted: 1 sent, 1 may have been delivered (unknown), 3 not sent" in output
    second = mailbox.raw[1][1][0]
    assert f"to {second} — interrupted while waiting for the reply from 127.0.0.1:{port} after the message was " \
           "sent: it may have been delivered" in output
    log = path.parent / "output" / LOG_NAME
    assert [r["status"] for r in records(log)] == ["sent", "unknown"]
    assert "Traceback" not in output
    assert "Aborted!" not in output
    mailbox.delay = 0
    rerun = run("send", path, "--month", MONTH)
    assert rerun.exit_code == 1, rerun.output  # the unknown one is reported again
    assert "3 sent, 1 already sent, 0 failed, 1 unknown" in rerun.output
    delivered = sorted(address for _, (address,), _ in mailbox.raw)
    assert len(delivered) == len(set(delivered)) == 5  # every owner exactly one copy


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_send_stopped_before_the_message_went_out_has_sent_nothing_and_logs_nothing(
        tmp_path: Path, server, signal_number: int) -> None:
    mailbox, port = server
    path = project(tmp_path, port)
    mailbox.rcpt_delay = 60  # the first message waits for its RCPT reply: its data never goes
    code, output = stopped(started_send(path, tmp_path), lambda: len(mailbox.rcpt) == 1, signal_number)
    assert code == 128 + signal_number, output
    assert "interrupted: 0 sent, 5 not sent" in output
    assert not (path.parent / "output" / LOG_NAME).exists()
    mailbox.rcpt_delay = 0
    assert "5 sent, 0 already sent" in run("send", path, "--month", MONTH).output
    assert len(mailbox.messages) == 5


def test_an_owner_renamed_in_the_config_does_not_get_the_same_review_again(tmp_path: Path, server) -> None:
    mailbox, port = server
    path = project(tmp_path, port)
    assert run("send", path, "--month", MONTH).exit_code == 0

    def rename(document: dict) -> None:
        document["owners"] = {("web" if oid == "website" else oid): owner for oid, owner in document["owners"].items()}
        for kpi in document["kpis"].values():
            kpi["owner"] = "web" if kpi.get("owner") == "website" else kpi.get("owner")

    edit(path, rename)
    again = run("send", path, "--month", MONTH)
    assert again.exit_code == 0, again.output
    assert "0 sent, 5 already sent" in again.output
    assert "skipped: review-2026-10-web.pdf to " in again.output
    assert " as review-2026-10-website.pdf" in again.output
    assert len(mailbox.messages) == 5


def add_november(project_dir: Path, last_day: int) -> None:
    """November's data to `last_day`: October's days again, and its CRM month (once)."""
    daily = project_dir / "data" / "daily-web-email.csv"
    lines = daily.read_text(encoding="utf-8").splitlines()
    october = [text for text in lines if text.startswith("2026-10-")]
    days = [f"2026-11-{day:02d}{october[day - 1][len('2026-10-01'):]}" for day in range(1, last_day + 1)]
    daily.write_text("\n".join([text for text in lines if not text.startswith("2026-11-")] + days) + "\n",
                     encoding="utf-8")
    crm = project_dir / "data" / "crm-monthly.csv"
    text = crm.read_text(encoding="utf-8")
    if "\n2026-11," not in text:
        crm.write_text(text + "".join(f"2026-11{row[len('2026-10'):]}\n" for row in text.splitlines()
                                      if row.startswith("2026-10,")), encoding="utf-8")


def test_a_month_sent_while_partial_is_replaced_by_the_complete_review(tmp_path: Path, server) -> None:
    mailbox, port = server
    path = project(tmp_path, port)
    add_november(path.parent, 20)
    assert "5 sent" in run("send", path, "--month", "2026-11").output
    add_november(path.parent, 30)
    complete = run("send", path, "--month", "2026-11")
    assert complete.exit_code == 0, complete.output
    assert "5 sent, 0 already sent" in complete.output
    assert complete.output.count("— the month was partial when last sent (data up to 2026-11-20)") == 5
    settled = run("send", path, "--month", "2026-11")
    assert "0 sent, 5 already sent" in settled.output
    assert len(mailbox.messages) == 10


def test_a_login_refused_mid_batch_says_what_was_sent_and_what_was_not(tmp_path: Path) -> None:
    mailbox = Mailbox()
    mailbox.logins_allowed = 1  # the reconnection after a dropped connection is turned away
    mailbox.accept_only = 1  # after one message, each RCPT drops the connection
    login = {"KPIREPORT_SMTP_USER": "claire", "KPIREPORT_SMTP_PASSWORD": PASSWORD}
    with smtp_server(mailbox, authenticator=mailbox.authenticate) as port:
        result = run("send", project(tmp_path, port), "--month", MONTH, env=login)
    assert result.exit_code == 1, result.output  # a failed delivery, not a bad config (2)
    assert "nothing was sent" not in result.output
    assert "the SMTP server refused the login of claire: 535 " in result.output
    assert result.output.count("— not tried: the SMTP server refused the login") == 3
    assert "1 sent, 0 already sent, 4 failed, 0 unknown (log: " in result.output
    assert len(mailbox.messages) == 1


def test_no_log_is_named_when_none_was_written(tmp_path: Path) -> None:
    with silent_server() as port:
        path = project(tmp_path, port)
        edit(path, lambda d: d["smtp"].update(timeout=0.2))
        result = run("send", path, "--month", MONTH, *ONE)
    assert "0 sent, 0 already sent, 1 failed, 0 unknown\n" in result.output
    assert "log:" not in result.output


# --- timeouts -----------------------------------------------------------------------------------------


def test_a_server_that_never_greets_fails_within_the_timeout(tmp_path: Path) -> None:
    with silent_server() as port:
        path = project(tmp_path, port)
        edit(path, lambda d: d["smtp"].update(timeout=1))
        started = time.monotonic()
        result = run("send", path, "--month", MONTH, *ONE, "--output-dir", tmp_path / "out")
        elapsed = time.monotonic() - started
    assert result.exit_code == 1, result.output
    assert f"failed: review-2026-10.pdf to boss@example.com — the server at 127.0.0.1:{port} did not answer " \
           "within 1 s after 3 tries" in result.output
    assert "ServerDisconnected" not in result.output
    assert elapsed < 30  # 3 tries of 1 s, 1 s and 2 s apart, plus the rendering; never forever
    assert not (tmp_path / "out" / LOG_NAME).exists()  # nothing sent, nothing recorded


def test_an_unreachable_server_is_not_tried_again_for_every_message(tmp_path: Path) -> None:
    with silent_server() as port:
        path = project(tmp_path, port)
        edit(path, lambda d: d["smtp"].update(timeout=0.5))
        result = run("send", path, "--month", MONTH, "--output-dir", tmp_path / "out")
    assert result.exit_code == 1
    assert result.output.count("did not answer within 0.5 s after 3 tries") == 1
    assert result.output.count("— not tried: the server at") == 4
    assert "0 sent, 0 already sent, 5 failed, 0 unknown" in result.output


def test_a_reply_too_late_after_the_data_is_unknown(tmp_path: Path, server) -> None:
    mailbox, port = server
    path = project(tmp_path, port)
    edit(path, lambda d: d["smtp"].update(timeout=1))
    mailbox.delay = 3  # stored at once, "250" only after 3 s
    result = run("send", path, "--month", MONTH, *ONE, "--output-dir", tmp_path / "out")
    assert result.exit_code == 1, result.output
    assert f"unknown: review-2026-10.pdf to boss@example.com — no reply from 127.0.0.1:{port} within 1 s after " \
           "the message was sent: it may have been delivered" in result.output
    assert len(mailbox.messages) == 1
    assert [r["status"] for r in records(tmp_path / "out" / LOG_NAME)] == ["unknown"]


# --- one send at a time ---------------------------------------------------------------------------------


def test_a_second_send_while_one_runs_exits_2_naming_its_pid(tmp_path: Path, server) -> None:
    mailbox, port = server
    path = project(tmp_path, port)
    mailbox.delay = 1.5  # 5 messages: the first send holds the lock for 7 s or more
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPIREPORT_SMTP")}
    first = subprocess.Popen([sys.executable, "-m", "kpireport", "send", str(path), "--month", str(MONTH)],
                             cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lock = path.parent / "output" / LOCK_NAME
        deadline = time.monotonic() + 120
        while not (lock.exists() and lock.read_text().strip()) and first.poll() is None:
            assert time.monotonic() < deadline, "the first send never took the lock"
            time.sleep(0.1)
        assert lock.read_text().strip() == str(first.pid)
        second = run("send", path, "--month", MONTH)
        assert second.exit_code == 2, second.output
        assert f"another send is running (pid {first.pid})" in second.output
        assert str(lock) in second.output
        assert first.poll() is None  # the second was refused while the first still ran, not after
        output, _ = first.communicate(timeout=180)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, output
    assert sorted(address for _, (address,), _ in mailbox.raw) == sorted(set(mailbox.rcpt))
    assert len(mailbox.messages) == 5
    third = run("send", path, "--month", MONTH)  # the lock went with the first send
    assert third.exit_code == 0, third.output
    assert "0 sent, 5 already sent" in third.output


# --- the send log belongs to the project ---------------------------------------------------------------


def test_the_log_is_found_beside_the_config_from_any_folder(tmp_path: Path, server,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    mailbox, port = server
    path = project(tmp_path, port)
    for folder in ("here", "there"):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        result = run("send", path, "--month", MONTH, *ONE)
        assert result.exit_code == 0, result.output
    assert len(mailbox.messages) == 1  # the second run, from elsewhere, found the first one's log
    assert "0 sent, 1 already sent" in result.output
    assert (path.parent / "output" / LOG_NAME).exists()
    assert (path.parent / "output" / "review-2026-10.pdf").exists()
    assert not (tmp_path / "here" / "output").exists()
    assert not (tmp_path / "there" / "output").exists()


def test_the_output_key_places_the_log_relative_to_the_config(tmp_path: Path, server,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    mailbox, port = server
    path = project(tmp_path, port, output="../shared/kpis")
    monkeypatch.chdir(tmp_path)
    assert run("send", path, "--month", MONTH, *ONE).exit_code == 0
    assert [r["recipient"] for r in records(tmp_path / "shared" / "kpis" / LOG_NAME)] == ["boss@example.com"]
    # --output-dir still overrides: a log there knows nothing of it
    other = run("send", path, "--month", MONTH, *ONE, "--output-dir", tmp_path / "elsewhere")
    assert "1 sent, 0 already sent" in other.output
    assert len(mailbox.messages) == 2


# --- damaged send logs ----------------------------------------------------------------------------------

SENT = json.dumps({"time": "2026-11-02T08:00:00+0000", "status": "sent", "month": "2026-10",
                   "recipient": "claire@example.com", "document": "review-2026-10.pdf", "sha256": "a" * 64})


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("not-utf8", SENT.encode() + b'\n{"month": "2026-10\xff"}\n' + SENT.encode() + b"\n",
     f"{LOG_NAME}:2: this line is not UTF-8 text"),
    ("not-json", f'{SENT}\n{{"month": \n{SENT}\n'.encode(), f"{LOG_NAME}:2: this line is not JSON"),
    ("empty-object", b"{}\n", f"{LOG_NAME}:1: this line is not a send-log record: no 'month'"),
    ("a-list", f"{SENT}\n\n[1, 2]\n".encode(), f"{LOG_NAME}:3: this line is not a send-log record"),
    ("odd-status", SENT.replace('"sent"', '"maybe"').encode() + b"\n",
     f"{LOG_NAME}:1: this line is not a send-log record: unknown status 'maybe'"),
    ("cut-short-middle", f"{SENT[:40]}\n{SENT}\n".encode(), f"{LOG_NAME}:1: this line is not JSON"),
    ("folder", None, f"{LOG_NAME}: this is a folder, where kpireport keeps its send log"),
])
def test_a_damaged_send_log_stops_the_send_with_its_file_and_line(tmp_path: Path, server, name: str,
                                                                  content: bytes | None, expected: str) -> None:
    mailbox, port = server
    path = project(tmp_path, port)
    log = tmp_path / "out" / LOG_NAME
    log.parent.mkdir()
    if content is None:
        log.mkdir()
    else:
        log.write_bytes(content)
    result = run("send", path, "--month", MONTH, *ONE, "--output-dir", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "hint: " in result.output
    assert "internal error" not in result.output
    assert "Traceback" not in result.output
    assert mailbox.rcpt == []
    assert not (tmp_path / "out" / "review-2026-10.pdf").exists()  # stopped before the rendering
    if content is not None:
        assert log.read_bytes() == content  # left as it was, for the reader to repair


@pytest.mark.parametrize("cut", [b'{"time": "2026-11-02T08:0', '{"month": "2026-10", "recipient": "zo\u00eb'
                                 .encode()[:-1]])
def test_a_last_line_cut_short_is_a_warning_and_is_cut_off(tmp_path: Path, server, cut: bytes) -> None:
    """A send killed while writing a line leaves it without its end (maybe mid-character)."""
    _mailbox, port = server
    path = project(tmp_path, port)
    log = tmp_path / "out" / LOG_NAME
    log.parent.mkdir()
    log.write_bytes(SENT.encode() + b"\n" + cut)
    result = run("send", path, "--month", MONTH, *ONE, "--output-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert f"warning: {log}:2: the last line is cut short (a send killed while writing it): ignored" in result.output
    assert "1 sent, 0 already sent" in result.output
    assert [r["recipient"] for r in records(log)] == ["claire@example.com", "boss@example.com"]
    again = run("send", path, "--month", MONTH, *ONE, "--output-dir", tmp_path / "out")
    assert "warning" not in again.output
    assert "0 sent, 1 already sent" in again.output


# --- headers go to the intended address only -----------------------------------------------------------

# encoded whole (non-ASCII) or quoted in the To: header: never a second address
HOSTILE = {"marketing": "Zoë <boss@evil.example>", "sales": 'Martin, "CM"; Claire: x@evil.example,'}


def test_each_message_goes_to_its_owner_only_whatever_the_owner_is_called(tmp_path: Path, server) -> None:
    mailbox, port = server
    path = project(tmp_path, port)
    edit(path, lambda d: [d["owners"][oid].update(name=name) for oid, name in HOSTILE.items()])
    result = run("send", path, "--month", MONTH, "--output-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    owners = yaml.safe_load(path.read_text(encoding="utf-8"))["owners"]
    expected = {o["email"]: o["name"] for o in owners.values()}
    assert len(mailbox.raw) == len(expected) == 5
    for sender, recipients, raw in mailbox.raw:
        message = email.message_from_bytes(raw, policy=policy.default)
        (address,) = recipients  # the envelope: one RCPT, an owner's address
        assert address in expected
        assert [a.addr_spec for a in message["To"].addresses] == [address]
        assert message["To"].addresses[0].display_name == expected[address]
        assert sender == "kpi@example.com"
        assert message["Cc"] is None
        assert message["Bcc"] is None
        unfolded = raw.split(b"\r\n\r\n", 1)[0].replace(b"\r\n ", b" ").replace(b"\r\n\t", b" ")
        (to_line,) = [line for line in unfolded.split(b"\r\n") if line.lower().startswith(b"to:")]
        assert b"evil.example>" not in to_line
        assert to_line.endswith(f"<{address}>".encode())
    assert not [a for a in mailbox.rcpt if "evil" in a]


@pytest.mark.parametrize(("key", "change"), [
    ("owners.marketing.name", lambda d: d["owners"]["marketing"].update(name="Zoë\r\nBcc: boss@evil.example")),
    ("owners.marketing.email", lambda d: d["owners"]["marketing"].update(email="zoe@example.com\nBcc: b@evil.example")),
    ("title", lambda d: d.update(title="Revue\nBcc: boss@evil.example")),
    ("smtp.from", lambda d: d["smtp"].update({"from": "KPI <kpi@example.com>\r\nBcc: boss@evil.example"})),
    ("smtp.reply_to", lambda d: d["smtp"].update(reply_to="manager@example.com\rBcc: boss@evil.example")),
])
def test_a_line_break_in_anything_that_goes_into_a_header_is_refused(tmp_path: Path, key: str, change) -> None:  # type: ignore[no-untyped-def]
    path = project(tmp_path, 25)
    edit(path, change)
    result = run("validate", path)
    assert result.exit_code == 2, result.output
    assert f": {key}: " in result.output
    assert "line break" in result.output


@pytest.mark.parametrize("address", ["boss@example.com\r\nBcc: x@evil.example", "Boss <boss@example.com>",
                                     "a@example.com,b@evil.example"])
def test_to_and_only_take_bare_addresses(tmp_path: Path, server, address: str) -> None:
    mailbox, port = server
    path = project(tmp_path, port)
    for option in ("--to", "--only"):
        result = run("send", path, "--month", MONTH, option, address, "--output-dir", tmp_path / "out")
        assert result.exit_code == 2, result.output
        assert f"{option} {address!r}: not an e-mail address" in result.output
    assert mailbox.rcpt == []
