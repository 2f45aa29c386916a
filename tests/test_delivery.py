"""Delivery over SMTP, message by message, against a real server on loopback (tests/smtp.py): what
is retried and what is not, counted on the server's side; a refusal after the recipients were
accepted; a real TLS session after STARTTLS, with the certificate verified; the send log's notice
that a PDF changed since it was sent. Hand-made messages: no review is rendered, so these are fast."""

from __future__ import annotations

import json
import ssl
from email.message import EmailMessage
from functools import partial
from pathlib import Path

import pytest

from kpireport.config import Smtp
from kpireport.delivery import LOG_NAME, Credentials, SendLog, connect, deliver
from kpireport.errors import KpiReportError
from kpireport.mail import Outgoing, Recipient
from kpireport.months import Month

from .smtp import PASSWORD, Mailbox, self_signed, smtp_server

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


def settings(port: int, security: str = "none") -> Smtp:
    return Smtp(host="127.0.0.1", port=port, security=security, sender="kpi@example.com", reply_to=None)


@pytest.fixture
def server():
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        yield mailbox, port


def send(port: int, batch: list[Outgoing], log: Path, **options) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    opener = partial(connect, settings(port, options.pop("security", "none")), options.pop("credentials", None))
    return [(status, item.recipient.address, detail) for status, item, detail in
            deliver(batch, SendLog(log), opener, attempts=3, backoff=0.001, **options)]


def logged(log: Path) -> list[str]:
    return [json.loads(line)["recipient"] for line in log.read_text().splitlines()] if log.exists() else []


# --- what is retried ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("reply", ["550 5.1.1 mailbox unavailable", "500 5.5.2 syntax error"])
def test_a_permanent_refusal_of_a_recipient_is_not_retried(tmp_path: Path, server, reply: str) -> None:
    mailbox, port = server
    mailbox.refused.add("gone@example.com")
    mailbox.refusal = reply
    log = tmp_path / LOG_NAME
    outcome = send(port, [outgoing("gone@example.com"), outgoing("here@example.com")], log)
    assert outcome == [("failed", "gone@example.com", reply), ("sent", "here@example.com", "")]
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
    assert send(port, [outgoing("boss@example.com")], log) == [("failed", "boss@example.com", reply)]
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
    outcome = send(port, [outgoing("boss@example.com")], tmp_path / LOG_NAME, security="starttls")
    assert [status for status, _, _ in outcome] == ["failed"]
    assert "certificate verify failed" in outcome[0][2]
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
    assert len(mailbox.messages) == 1
    assert send(port, [outgoing("boss@example.com", digest="b" * 64)], log, resend=True)[0][0] == "sent"
    assert len(mailbox.messages) == 2
    # another month, recipient or document is not the same message
    assert send(port, [outgoing("BOSS@example.com", digest="b" * 64)], log)[0][0] == "skipped"  # case-blind
    assert send(port, [outgoing("boss@example.com", document="review-2026-10-sales.pdf")], log)[0][0] == "sent"
