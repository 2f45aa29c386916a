"""A real SMTP server (aiosmtpd) on loopback for the e-mail tests, and what it saw: the messages it
accepted, each RCPT and DATA it was sent, and whether the session was encrypted at the time."""

from __future__ import annotations

import asyncio
import email
import socket
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

PASSWORD = "hunter2-S3CRET-pw"


class Mailbox:
    """Keeps what the server accepted; can refuse recipients or data, drop the connection before the
    message (at RCPT: nothing stored) or after storing it (before its 250 reply), or answer slowly."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []
        self.raw: list[tuple[str, list[str], bytes]] = []  # (MAIL FROM, RCPT TOs, the bytes) of each stored one
        self.refused: set[str] = set()
        self.refusal = "550 5.1.1 mailbox unavailable"  # the reply to a refused recipient
        self.accept_only: int | None = None  # drop the connection at every RCPT beyond this many messages
        self.drop_after_storing = 0  # store this many more messages, each then dropping the connection unanswered
        self.delay = 0.0  # seconds before the reply to the end of DATA (a slow server)
        self.slow_after = 0  # the delay starts once this many messages were stored (the first ones answered at once)
        self.rcpt_delay = 0.0  # seconds before the reply to RCPT (before the message goes out)
        self.data_reply: str | None = None  # a refusal at the end of DATA (after the recipients were accepted)
        self.mail_reply: str | None = None  # a refusal of the sender (MAIL FROM)
        self.rcpt_reply = "250 OK"  # the reply to an accepted recipient (251: "will forward" is a yes too)
        self.forget_recipients = False  # accept each RCPT but keep none: the DATA command is then refused
        self.rcpt: list[str] = []  # every RCPT TO the server was sent, refused or not
        self.data: list[list[str]] = []  # the recipients of every DATA the server was sent
        self.encrypted: list[bool] = []  # per DATA: was TLS on in that session
        self.sessions: list[object] = []  # per DATA: its session (held, so that each stays distinct)
        self.logins_allowed: int | None = None  # later logins are refused (given `authenticator=authenticate`)
        self.logins = 0

    async def handle_MAIL(self, server, session, envelope, address, options):  # noqa: N802 (aiosmtpd's name)
        if self.mail_reply is not None:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802 (aiosmtpd's name)
        self.rcpt.append(address)
        if self.rcpt_delay:
            await asyncio.sleep(self.rcpt_delay)
        if self.accept_only is not None and len(self.messages) >= self.accept_only:
            server.transport.close()  # the connection drops before the message was sent
            return "421 4.3.0 closing"
        if address in self.refused:
            return self.refusal
        if not self.forget_recipients:
            envelope.rcpt_tos.append(address)
        return self.rcpt_reply

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.data.append(list(envelope.rcpt_tos))
        # STARTTLS sets session.ssl; TLS from the first byte (an SSL port) shows on the transport
        self.encrypted.append(session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None)
        self.sessions.append(session)
        if self.data_reply is not None:
            return self.data_reply
        parsed = email.message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        self.raw.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        if self.drop_after_storing:
            self.drop_after_storing -= 1
            server.transport.close()  # stored, but the client never hears so
            return "421 4.3.0 closing"
        if self.delay and len(self.messages) > self.slow_after:
            await asyncio.sleep(self.delay)
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:  # type: ignore[no-untyped-def]
        """check_login, refusing every login past `logins_allowed` (a server that turns us away mid-batch)."""
        self.logins += 1
        if self.logins_allowed is not None and self.logins > self.logins_allowed:
            return AuthResult(success=False, handled=False)
        return check_login(server, session, envelope, mechanism, auth_data)

    def connections(self) -> int:
        """How many SMTP sessions the messages came over."""
        return len({id(session) for session in self.sessions})

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [message for recipients, message in self.messages if address in recipients]


@contextmanager
def silent_server() -> Iterator[int]:
    """A server on loopback that accepts connections and never says a word (no greeting, no reply)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield listener.getsockname()[1]  # the kernel completes the handshakes: nobody needs to accept
    finally:
        listener.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def check_login(server, session, envelope, mechanism, auth_data) -> AuthResult:  # type: ignore[no-untyped-def]
    ok = isinstance(auth_data, LoginPassword) and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


@contextmanager
def smtp_server(mailbox: Mailbox, tls: ssl.SSLContext | None = None, **options: object) -> Iterator[int]:
    """The server on a free loopback port; with `tls`, it offers STARTTLS and requires it. Other
    options go to aiosmtpd's controller and SMTP (`ssl_context=` for TLS from the first byte,
    `enable_SMTPUTF8=False`, `auth_require_tls=True` for no AUTH on a plain connection…)."""
    options = {"authenticator": check_login, "auth_require_tls": False,
               **({"tls_context": tls, "require_starttls": True} if tls else {})} | options
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and its key), made with the openssl command: the only CA that
    trusts it is the file itself."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=60)
    return cert, key
