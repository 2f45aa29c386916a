"""Delivery over SMTP, message by message, against a real server on loopback (tests/smtp.py): what
is retried and what is not, counted on the server's side; a refusal after the recipients were
accepted; a real TLS session after STARTTLS, with the certificate verified; the send log's notice
that a PDF changed since it was sent. Hand-made messages: no review is rendered, so these are fast."""

from __future__ import annotations

import datetime as dt
import json
import ssl
from email.message import EmailMessage
from functools import partial
from pathlib import Path

import pytest

from kpireport.config import Smtp
from kpireport.delivery import LOG_NAME, Credentials, NoAnswerError, SendLog, connect, deliver
from kpireport.errors import KpiReportError
from kpireport.mail import Outgoing, Recipient
from kpireport.months import Month

from .smtp import PASSWORD, Mailbox, free_port, self_signed, silent_server, smtp_server

MONTH = Month(2026, 10)
CHANGED = "(the PDF has changed since: --resend sends it again)"


def outgoing(address: str, digest: str = "a" * 64, document: str = "review-2026-10.pdf") -> Outgoing:
    message = EmailMessage()
    message["From"] = "kpi@example.com"
    message["To"] = address
    message["Subject"] = "Review"
    message["Message-ID"] = f"<{address}.{digest[:8]}@example.com>"
    message.set_content("The review is attached.\n")
    return Outgoing(MONTH, Recipient(address, address), Path(document), digest, message)


def settings(port: int, security: str = "none", timeout: float = 30) -> Smtp:
    return Smtp(host="127.0.0.1", port=port, security=security, sender="kpi@example.com", reply_to=None,
                timeout=timeout)


@pytest.fixture
def server():
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        yield mailbox, port


def send(port: int, batch: list[Outgoing], log: Path, **options) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    opener = partial(connect, settings(port, options.pop("security", "none"), options.pop("timeout", 30)),
                     options.pop("credentials", None))
    return [(status, item.recipient.address, detail) for status, item, detail in
            deliver(batch, SendLog(log), opener, attempts=3, backoff=0.001, **options)]


def logged(log: Path, status: str = "sent") -> list[str]:
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return [record["recipient"] for record in records if record["status"] == status]


# --- what is retried ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("reply", ["550 5.1.1 mailbox unavailable", "500 5.5.2 syntax error"])
def test_a_permanent_refusal_of_a_recipient_is_not_retried(tmp_path: Path, server, reply: str) -> None:
    mailbox, port = server
    mailbox.refused.add("gone@example.com")
    mailbox.refusal = reply
    log = tmp_path / LOG_NAME
    outcome = send(port, [outgoing("gone@example.com"), outgoing("here@example.com")], log)
    assert outcome == [("refused", "gone@example.com", reply), ("sent", "here@example.com", "")]
    assert mailbox.rcpt == ["gone@example.com", "here@example.com"]  # asked once, never again
    assert logged(log) == ["here@example.com"]


def test_a_busy_recipient_is_retried_then_reported(tmp_path: Path, server) -> None:
    mailbox, port = server
    mailbox.refused.add("busy@example.com")
    mailbox.refusal = "450 4.2.1 try again later"
    outcome = send(port, [outgoing("busy@example.com")], tmp_path / LOG_NAME)
    assert outcome == [("failed", "busy@example.com", "450 4.2.1 try again later after 3 tries")]
    assert mailbox.rcpt == ["busy@example.com"] * 3


@pytest.mark.parametrize("reply", ["554 5.7.1 refused as spam", "500 5.0.0 no"])
def test_a_refusal_after_the_recipient_was_accepted_is_a_failure_never_logged(tmp_path: Path, server,
                                                                             reply: str) -> None:
    """RCPT said yes, the end of DATA says no: nothing was delivered, so nothing is logged, and the
    next run sends it."""
    mailbox, port = server
    mailbox.data_reply = reply
    log = tmp_path / LOG_NAME
    assert send(port, [outgoing("boss@example.com")], log) == [("refused", "boss@example.com", reply)]
    assert mailbox.data == [["boss@example.com"]]  # one DATA: a permanent refusal is not retried
    assert mailbox.messages == []
    assert logged(log) == []
    mailbox.data_reply = None  # the server accepts it now: the rerun sends it
    assert send(port, [outgoing("boss@example.com")], log) == [("sent", "boss@example.com", "")]
    assert logged(log) == ["boss@example.com"]


def test_a_temporary_refusal_of_the_data_is_retried(tmp_path: Path, server) -> None:
    mailbox, port = server
    mailbox.data_reply = "451 4.3.0 queue full"
    log = tmp_path / LOG_NAME
    assert send(port, [outgoing("boss@example.com")], log) == [
        ("failed", "boss@example.com", "451 4.3.0 queue full after 3 tries")]
    assert len(mailbox.data) == 3
    assert logged(log) == []


# --- STARTTLS ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_server(certificate):
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    mailbox = Mailbox()
    with smtp_server(mailbox, tls=context) as port:
        yield mailbox, port


def test_starttls_really_encrypts_the_session(tmp_path: Path, tls_server, certificate,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The server requires STARTTLS and sees the message arrive in an encrypted session. The client
    trusts the test's certificate the way a user trusts a private CA: OpenSSL's SSL_CERT_FILE."""
    mailbox, port = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    credentials = Credentials("claire", PASSWORD)  # the login too goes over TLS
    outcome = send(port, [outgoing("boss@example.com")], tmp_path / LOG_NAME, security="starttls",
                   credentials=credentials)
    assert outcome == [("sent", "boss@example.com", "")]
    assert mailbox.encrypted == [True]
    assert len(mailbox.messages) == 1


def test_a_certificate_nobody_vouches_for_stops_the_send(tmp_path: Path, tls_server,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the certificate in the trusted ones, the TLS handshake fails: verification is on."""
    mailbox, port = tls_server
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with pytest.raises(ssl.SSLCertVerificationError):
        connect(settings(port, "starttls"), None, timeout=10)
    outcome = send(port, [outgoing("boss@example.com"), outgoing("team@example.com")], tmp_path / LOG_NAME,
                   security="starttls")
    assert [status for status, _, _ in outcome] == ["failed", "failed"]
    assert outcome[0][2] == ("the server's certificate is not trusted (self-signed certificate): if your company "
                             "has its own certificate authority, set SSL_CERT_FILE to its certificate")
    assert outcome[1][2] == f"not tried: {outcome[0][2]}"
    assert mailbox.data == []


def test_starttls_is_refused_when_the_server_lacks_it(server) -> None:
    _, port = server
    with pytest.raises(KpiReportError, match="does not offer STARTTLS"):
        connect(settings(port, "starttls"), None, timeout=10)


# --- the send log ------------------------------------------------------------------------------------------


def test_a_changed_pdf_is_skipped_with_a_notice_and_sent_with_resend(tmp_path: Path, server) -> None:
    mailbox, port = server
    log = tmp_path / LOG_NAME
    assert send(port, [outgoing("boss@example.com", digest="a" * 64)], log)[0][0] == "sent"
    same = send(port, [outgoing("boss@example.com", digest="a" * 64)], log)
    assert same[0][:2] == ("skipped", "boss@example.com")
    assert same[0][2].startswith("already sent on ")
    assert CHANGED not in same[0][2]
    changed = send(port, [outgoing("boss@example.com", digest="b" * 64)], log)
    assert changed[0][:2] == ("skipped", "boss@example.com")
    assert changed[0][2].endswith(f" {CHANGED}")
    assert send(port, [outgoing("boss@example.com", digest="0" * 64)], log)[0][2].endswith(f" {CHANGED}")
    assert len(mailbox.messages) == 1
    assert send(port, [outgoing("boss@example.com", digest="b" * 64)], log, resend=True)[0][0] == "sent"
    assert len(mailbox.messages) == 2
    # another month, recipient or document (with another PDF) is not the same message
    assert send(port, [outgoing("BOSS@example.com", digest="b" * 64)], log)[0][0] == "skipped"  # case-blind
    assert send(port, [outgoing("boss@example.com", digest="c" * 64, document="review-2026-10-sales.pdf")],
                log)[0][0] == "sent"


def test_the_same_pdf_under_another_name_is_already_sent(tmp_path: Path, server) -> None:
    """An owner's id renamed in the config renames their PDF, not its content: the recipient has it."""
    mailbox, port = server
    log = tmp_path / LOG_NAME
    assert send(port, [outgoing("boss@example.com", document="review-2026-10-email.pdf")], log)[0][0] == "sent"
    renamed = send(port, [outgoing("boss@example.com", document="review-2026-10-emailing.pdf"),
                          outgoing("other@example.com", document="review-2026-10-emailing.pdf")], log)
    assert [(status, address) for status, address, _ in renamed] == [("skipped", "boss@example.com"),
                                                                     ("sent", "other@example.com")]
    assert renamed[0][2].startswith("already sent on ")
    assert renamed[0][2].endswith(" as review-2026-10-email.pdf")
    assert send(port, [outgoing("boss@example.com", digest="b" * 64, document="review-2026-10-emailing.pdf")],
                log)[0][0] == "sent"  # another PDF under the new name is a new message
    assert len(mailbox.messages) == 3


def test_a_month_sent_partial_is_sent_again_once_complete(tmp_path: Path, server) -> None:
    """Sent with data to 20 November, the review is replaced by the complete one, once, without --resend."""
    mailbox, port = server
    log = tmp_path / LOG_NAME
    assert send(port, [outgoing("boss@example.com")], log, partial=dt.date(2026, 11, 20))[0][0] == "sent"
    assert json.loads(log.read_text())["partial"] == "2026-11-20"
    still = send(port, [outgoing("boss@example.com", digest="b" * 64)], log, partial=dt.date(2026, 11, 25))
    assert still[0][0] == "skipped"  # more days, still partial: the PDF changed, the reader decides
    assert still[0][2].endswith(CHANGED)
    complete = send(port, [outgoing("boss@example.com", digest="c" * 64)], log)
    assert complete == [("sent", "boss@example.com", "the month was partial when last sent (data up to 2026-11-20)")]
    assert "partial" not in json.loads(log.read_text().splitlines()[-1])  # no flag: complete
    assert send(port, [outgoing("boss@example.com", digest="c" * 64)], log)[0][0] == "skipped"
    assert len(mailbox.messages) == 2


# --- a reply lost after the message went out ------------------------------------------------------------


def test_a_message_stored_then_unanswered_is_unknown_and_never_sent_blindly(tmp_path: Path, server) -> None:
    mailbox, port = server
    mailbox.drop_after_storing = 1  # the first message is stored, then the connection drops before "250"
    log = tmp_path / LOG_NAME
    batch = [outgoing("a@example.com"), outgoing("b@example.com"), outgoing("c@example.com")]
    lost = f"the connection to 127.0.0.1:{port} was lost after the message was sent"
    assert send(port, batch, log) == [("unknown", "a@example.com", f"{lost}: it may have been delivered"),
                                      ("sent", "b@example.com", ""), ("sent", "c@example.com", "")]
    assert [recipients for recipients, _ in mailbox.messages] == [["a@example.com"], ["b@example.com"],
                                                                  ["c@example.com"]]  # one copy each
    assert mailbox.connections() == 2  # the lost one's connection is dropped, the rest share a new one
    assert (logged(log, "unknown"), logged(log)) == (["a@example.com"], ["b@example.com", "c@example.com"])
    (record,) = [json.loads(text) for text in log.read_text().splitlines() if "unknown" in text]
    assert record["reason"] == lost

    rerun = send(port, batch, log)  # reported again, not sent
    assert rerun[0] == ("unknown", "a@example.com", f"{lost} on {record['time']}: it may have been delivered")
    assert [status for status, _, _ in rerun[1:]] == ["skipped", "skipped"]
    assert len(mailbox.messages) == 3
    assert send(port, batch[:1], log, resend=True) == [("sent", "a@example.com", "")]  # when checked: resend
    assert send(port, batch[:1], log) [0][0] == "skipped"  # the latest record says sent
    assert len(mailbox.messages) == 4


def test_a_reply_later_than_the_timeout_after_the_data_is_unknown(tmp_path: Path, server) -> None:
    mailbox, port = server
    mailbox.delay = 2.0
    outcome = send(port, [outgoing("a@example.com")], tmp_path / LOG_NAME, timeout=0.5)
    assert outcome == [("unknown", "a@example.com", f"no reply from 127.0.0.1:{port} within 0.5 s after the "
                                                    "message was sent: it may have been delivered")]
    assert len(mailbox.data) == 1  # not retried


# --- a server that cannot be reached ----------------------------------------------------------------------


def test_a_server_that_never_greets_is_a_timeout_and_the_rest_is_not_tried(tmp_path: Path) -> None:
    with silent_server() as port:
        outcome = send(port, [outgoing("a@example.com"), outgoing("b@example.com")], tmp_path / LOG_NAME,
                       timeout=0.2)
    silent = f"the server at 127.0.0.1:{port} did not answer within 0.2 s"
    assert outcome == [("failed", "a@example.com", f"{silent} after 3 tries"),
                       ("failed", "b@example.com", f"not tried: {silent}")]
    assert not (tmp_path / LOG_NAME).exists()


def test_a_refused_connection_is_retried_with_growing_waits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr("kpireport.delivery.time.sleep", waits.append)
    port = free_port()  # nobody listens there
    opener = partial(connect, settings(port), None)
    outcome = [(status, detail) for status, _, detail in
               deliver([outgoing("a@example.com"), outgoing("b@example.com"), outgoing("c@example.com")],
                       SendLog(tmp_path / LOG_NAME), opener, attempts=4, backoff=0.5)]
    refused = f"cannot connect to 127.0.0.1:{port}: Connection refused"
    assert outcome == [("failed", f"{refused} after 4 tries"), ("failed", f"not tried: {refused}"),
                       ("failed", f"not tried: {refused}")]
    assert waits == [0.5, 1.0, 2.0]


def test_a_connection_lost_mid_batch_is_retried_and_the_rest_still_tried(tmp_path: Path, server) -> None:
    """A drop at RCPT is before the message: safe to retry. It is not the server being unreachable
    (the connection opened), so the next messages are still tried."""
    mailbox, port = server
    mailbox.accept_only = 1  # after one message, every RCPT drops the connection
    outcome = send(port, [outgoing("a@example.com"), outgoing("b@example.com"), outgoing("c@example.com")],
                   tmp_path / LOG_NAME)
    assert [status for status, _, _ in outcome] == ["sent", "failed", "failed"]
    assert outcome[1][2] == "the server closed the connection after 3 tries"
    assert mailbox.rcpt == ["a@example.com"] + ["b@example.com"] * 3 + ["c@example.com"] * 3


def test_a_silent_server_stops_connect_within_the_timeout() -> None:
    with silent_server() as port, pytest.raises(NoAnswerError,
                                                match=f"^the server at 127.0.0.1:{port} did not answer within 0.3 s$"):
        connect(settings(port), None, timeout=0.3)


# --- what goes over the wire ------------------------------------------------------------------------------


def test_one_connection_carries_the_whole_batch_and_lines_starting_with_a_dot_arrive_whole(tmp_path: Path,
                                                                                            server) -> None:
    mailbox, port = server
    dotted = outgoing("a@example.com")
    dotted.message.set_content(".hidden line\n.\n..two\nend\n")
    assert [s for s, _, _ in send(port, [dotted, outgoing("b@example.com")], tmp_path / LOG_NAME)] == ["sent"] * 2
    assert mailbox.connections() == 1
    assert mailbox.messages[0][1].get_content().replace("\r\n", "\n") == ".hidden line\n.\n..two\nend\n"
    assert mailbox.raw[0][0] == "kpi@example.com"  # the envelope sender is the From address


def test_a_non_ascii_address_needs_a_server_with_smtputf8(tmp_path: Path) -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox, enable_SMTPUTF8=False) as port:
        outcome = send(port, [outgoing("zoë@example.com")], tmp_path / LOG_NAME)
    assert outcome == [("failed", "zoë@example.com", "the server does not accept non-ASCII addresses (SMTPUTF8)")]
    assert mailbox.rcpt == []  # refused before anything was asked, and not retried


def test_a_non_ascii_address_goes_in_utf8_to_a_server_that_accepts_it(tmp_path: Path, server) -> None:
    mailbox, port = server  # aiosmtpd's controller offers SMTPUTF8 by default
    outcome = send(port, [outgoing("zoë@example.com")], tmp_path / LOG_NAME)
    assert outcome == [("sent", "zoë@example.com", "")]
    assert mailbox.raw[0][1] == ["zoë@example.com"]
    assert "To: zoë@example.com" in mailbox.raw[0][2].decode("utf-8")


def test_the_login_is_checked_by_the_server(server) -> None:
    _, port = server
    connect(settings(port), Credentials("claire", PASSWORD), timeout=10).quit()
    with pytest.raises(KpiReportError) as caught:
        connect(settings(port), Credentials("claire", "wrong"), timeout=10)
    assert caught.value.message.startswith("the SMTP server refused the login of claire: 535 ")
    assert caught.value.key == "smtp"
    assert "wrong" not in caught.value.message


def test_a_refused_sender_is_reported_and_a_busy_one_retried(tmp_path: Path, server) -> None:
    mailbox, port = server
    mailbox.mail_reply = "553 5.7.1 sender not allowed"
    assert send(port, [outgoing("a@example.com")], tmp_path / LOG_NAME) == [
        ("refused", "a@example.com", "553 5.7.1 sender not allowed")]
    mailbox.mail_reply = "451 4.7.1 greylisted"
    assert send(port, [outgoing("a@example.com")], tmp_path / LOG_NAME) == [
        ("failed", "a@example.com", "451 4.7.1 greylisted after 3 tries")]
    assert mailbox.rcpt == []  # never got as far as the recipient


def test_the_defaults_try_three_times_waiting_one_then_two_seconds(tmp_path: Path, server,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    mailbox, port = server
    mailbox.refused.add("busy@example.com")
    mailbox.refusal = "450 4.2.1 try again later"
    waits: list[float] = []
    monkeypatch.setattr("kpireport.delivery.time.sleep", waits.append)
    outcome = list(deliver([outgoing("busy@example.com")], SendLog(tmp_path / LOG_NAME),
                           partial(connect, settings(port), None)))
    assert [(status, detail) for status, _, detail in outcome] == [
        ("failed", "450 4.2.1 try again later after 3 tries")]
    assert waits == [1.0, 2.0]


def test_implicit_tls_on_the_ssl_port(tmp_path: Path, certificate, monkeypatch: pytest.MonkeyPatch) -> None:
    """security: ssl — TLS from the first byte (port 465), the certificate verified."""
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    mailbox = Mailbox()
    with smtp_server(mailbox, ssl_context=context) as port:
        security = "".join(["ss", "l"])  # as read from a config file: not the interned literal "ssl"
        outcome = send(port, [outgoing("boss@example.com")], tmp_path / LOG_NAME, security=security)
    assert outcome == [("sent", "boss@example.com", "")]
    assert mailbox.encrypted == [True]


def test_a_recipient_the_server_will_forward_is_accepted(tmp_path: Path, server) -> None:
    mailbox, port = server
    mailbox.rcpt_reply = "251 2.1.5 user not local; will forward"
    assert send(port, [outgoing("a@example.com")], tmp_path / LOG_NAME) == [("sent", "a@example.com", "")]
    assert len(mailbox.messages) == 1


def test_a_refused_data_command_sends_no_data(tmp_path: Path, server) -> None:
    """The server took the recipient, then refuses DATA itself (503): the message is not sent, and
    the refusal (permanent) is not retried."""
    mailbox, port = server
    mailbox.forget_recipients = True
    outcome = send(port, [outgoing("a@example.com"), outgoing("b@example.com")], tmp_path / LOG_NAME)
    assert [(status, detail.split()[0]) for status, _, detail in outcome] == [("refused", "503"), ("refused", "503")]
    assert mailbox.data == []
    assert mailbox.rcpt == ["a@example.com", "b@example.com"]  # each asked once, and the connection kept


def test_a_login_refused_on_a_reconnection_fails_the_rest_after_what_was_sent(tmp_path: Path) -> None:
    """The first connection logs in and sends; a 450 drops it; the server then refuses the login: the
    messages left fail (the rest not tried) instead of an error saying nothing was sent."""
    mailbox = Mailbox()
    mailbox.logins_allowed = 1
    mailbox.refused.add("b@example.com")
    mailbox.refusal = "450 4.2.1 try again later"
    log = tmp_path / LOG_NAME
    with smtp_server(mailbox, authenticator=mailbox.authenticate) as port:
        outcome = send(port, [outgoing("a@example.com"), outgoing("b@example.com"), outgoing("c@example.com")], log,
                       credentials=Credentials("claire", PASSWORD))
    (refused,) = {detail for status, _, detail in outcome if status == "failed" and "not tried" not in detail}
    assert refused.startswith("the SMTP server refused the login of claire: 535 ")
    assert outcome == [("sent", "a@example.com", ""), ("failed", "b@example.com", refused),
                       ("failed", "c@example.com", f"not tried: {refused}")]
    assert logged(log) == ["a@example.com"]


def test_a_login_refused_before_anything_was_sent_is_an_error_saying_so(tmp_path: Path) -> None:
    mailbox = Mailbox()
    mailbox.logins_allowed = 0
    with smtp_server(mailbox, authenticator=mailbox.authenticate) as port, pytest.raises(KpiReportError) as caught:
        send(port, [outgoing("a@example.com")], tmp_path / LOG_NAME, credentials=Credentials("claire", PASSWORD))
    assert caught.value.message.endswith(": nothing was sent")
    assert caught.value.hint.startswith("check KPIREPORT_SMTP_USER")


def test_a_login_on_a_server_without_auth_is_a_clear_error() -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox, auth_require_tls=True) as port, pytest.raises(KpiReportError) as caught:  # no AUTH
        connect(settings(port), Credentials("claire", PASSWORD), timeout=10)
    assert caught.value.message == "the SMTP server does not accept a login on this connection"
    assert caught.value.hint == "use security: starttls or ssl"


def test_a_message_already_sent_is_skipped_and_the_next_one_still_goes(tmp_path: Path, server) -> None:
    mailbox, port = server
    log = tmp_path / LOG_NAME
    send(port, [outgoing("a@example.com")], log)
    outcome = send(port, [outgoing("a@example.com"), outgoing("b@example.com")], log)
    assert [(status, address) for status, address, _ in outcome] == [("skipped", "a@example.com"),
                                                                      ("sent", "b@example.com")]
    assert len(mailbox.messages) == 2
