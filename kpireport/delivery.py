"""Delivering the review e-mails over SMTP exactly once.

A send log (JSON lines beside the PDFs) records each delivered message: month, recipient, document
and its SHA-256. A rerun after a failure sends only what the log lacks; `resend` sends anyway.
Transient failures (dropped connection, 4xx replies) are retried with backoff on a new connection;
a permanent refusal (5xx) is reported for that recipient and the others still go. The password is
given to smtplib only: it is never printed, logged or written.
"""

from __future__ import annotations

import contextlib
import json
import os
import smtplib
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .config import Smtp
from .errors import KpiReportError
from .mail import Outgoing

USER_VARIABLE = "KPIREPORT_SMTP_USER"
PASSWORD_VARIABLE = "KPIREPORT_SMTP_PASSWORD"
LOG_NAME = "send-log.jsonl"


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str

    def __repr__(self) -> str:  # never shown, even in a debugger or a traceback
        return f"Credentials(user={self.user!r}, password=***)"


def credentials_from_environment() -> Credentials | None:
    user, password = os.environ.get(USER_VARIABLE), os.environ.get(PASSWORD_VARIABLE)
    if bool(user) != bool(password):
        raise KpiReportError(f"set both {USER_VARIABLE} and {PASSWORD_VARIABLE}, or neither",
                             hint="the SMTP login is read from the environment only, never from the config")
    return Credentials(user, password) if user and password else None  # type: ignore[arg-type]


# --- the send log ----------------------------------------------------------------------------------------


class SendLog:
    """What was delivered, one JSON object a line; appended and flushed to disk after each message."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[dict] = []
        if path.exists():
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    self.entries.append(json.loads(line))
                except json.JSONDecodeError:
                    raise KpiReportError("this line is not JSON", file=str(path), line=number,
                                         hint="the send log is written by kpireport: restore it or delete "
                                              "that line") from None

    def delivered(self, outgoing: Outgoing) -> dict | None:
        key = (str(outgoing.month), outgoing.recipient.address.lower(), outgoing.document.name)
        return next((e for e in self.entries if (e["month"], e["recipient"].lower(), e["document"]) == key), None)

    def record(self, outgoing: Outgoing) -> None:
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "month": str(outgoing.month),
                 "recipient": outgoing.recipient.address, "document": outgoing.document.name,
                 "sha256": outgoing.digest, "message_id": outgoing.message["Message-ID"]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())  # a crash right after sending must not send it twice
        self.entries.append(entry)


# --- SMTP ------------------------------------------------------------------------------------------------


def _is_transient(exc: Exception) -> bool:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    return isinstance(exc, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError | OSError)


def _reason(exc: Exception) -> str:
    """What went wrong, from the server's reply: never from our own request (which held the password)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{code} {reply.decode(errors='replace')}" for code, reply in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{exc.smtp_code} {reply}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__.replace("SMTP", "SMTP ").strip()


def connect(settings: Smtp, credentials: Credentials | None, timeout: float = 30) -> smtplib.SMTP:
    """An open, secured, logged-in connection. STARTTLS is required unless the config says `none`."""
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if settings.security == "ssl":
        client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=timeout, context=context)
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
    try:
        client.ehlo()
        if settings.security == "starttls":
            if not client.has_extn("starttls"):
                raise KpiReportError(
                    f"{settings.host}:{settings.port} does not offer STARTTLS: nothing was sent", key="smtp.security",
                    hint="use the server's TLS port with 'security: ssl', or write 'security: none' to send "
                         "unencrypted (a trusted local relay only)")
            client.starttls(context=context)
            client.ehlo()
        if credentials:
            try:
                client.login(credentials.user, credentials.password)
            except smtplib.SMTPAuthenticationError as exc:
                raise KpiReportError(f"the SMTP server refused the login of {credentials.user}: {_reason(exc)}",
                                     key="smtp", hint=f"check {USER_VARIABLE} and {PASSWORD_VARIABLE}") from None
            except smtplib.SMTPNotSupportedError:
                raise KpiReportError("the SMTP server does not accept a login on this connection", key="smtp",
                                     hint="use security: starttls or ssl") from None
    except BaseException:
        client.close()
        raise
    return client


class _Session:
    """One SMTP connection for the batch, opened on demand and reopened after a failure."""

    def __init__(self, opener: Callable[[], smtplib.SMTP]) -> None:
        self.opener = opener
        self.client: smtplib.SMTP | None = None

    def send(self, outgoing: Outgoing) -> None:
        if self.client is None:
            self.client = self.opener()
        self.client.send_message(outgoing.message)

    def drop(self) -> None:
        if self.client is not None:
            try:
                self.client.close()
            finally:
                self.client = None

    def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self.client.quit()
            self.drop()


def deliver(batch: Iterable[Outgoing], log: SendLog, opener: Callable[[], smtplib.SMTP], *, resend: bool = False,
            attempts: int = 3, backoff: float = 1.0) -> Iterator[tuple[str, Outgoing, str]]:
    """Send each message not yet in the log; yields (`sent` | `skipped` | `failed`, message, detail)."""
    session = _Session(opener)
    try:
        for outgoing in batch:
            previous = None if resend else log.delivered(outgoing)
            if previous is not None:
                changed = " (the PDF has changed since: --resend sends it again)" \
                    if previous.get("sha256") != outgoing.digest else ""
                yield "skipped", outgoing, f"already sent on {previous.get('time', '?')}{changed}"
                continue
            for attempt in range(1, attempts + 1):
                try:
                    session.send(outgoing)
                except (smtplib.SMTPException, OSError) as exc:
                    session.drop()
                    if _is_transient(exc) and attempt < attempts:
                        time.sleep(backoff * 2 ** (attempt - 1))
                        continue
                    tries = f" after {attempt} tries" if attempt > 1 else ""
                    yield "failed", outgoing, f"{_reason(exc)}{tries}"
                    break
                else:
                    log.record(outgoing)
                    yield "sent", outgoing, ""
                    break
    finally:
        session.close()
