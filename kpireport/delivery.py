"""Delivering the review e-mails over SMTP, each at most once where SMTP allows it.

A send log (JSON lines in the project's output folder) records each message: month, recipient,
document and its SHA-256, and whether it was delivered (`sent`) or its fate is `unknown`. A rerun
sends only what the log lacks; `resend` sends anyway. One `send` at a time: the log is locked.
A failure before the end of DATA (dropped connection, timeout, 4xx reply) is retried with backoff on
a new connection; a permanent refusal (5xx) is reported for that recipient and the others still go.
A reply lost after the whole message went out is ambiguous: the server may have stored it, so it is
logged `unknown` and never sent again without `resend`; so is a message whose send is stopped (Ctrl-C,
SIGTERM: see `interruptible`) while it waits for that reply. The password is given to smtplib only: it
is never printed, logged or written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import json
import os
import re
import signal
import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path

from .config import Smtp
from .errors import KpiReportError
from .mail import Outgoing

USER_VARIABLE = "KPIREPORT_SMTP_USER"
PASSWORD_VARIABLE = "KPIREPORT_SMTP_PASSWORD"
LOG_NAME = "send-log.jsonl"
LOCK_NAME = "send-log.lock"
STATUSES = ("sent", "unknown")


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str

    def __repr__(self) -> str:  # never shown, even in a debugger or a traceback
        return f"Credentials(user={self.user!r}, password=***)"


def credentials_from_environment() -> Credentials | None:
    user, password = os.environ.get(USER_VARIABLE), os.environ.get(PASSWORD_VARIABLE)
    if bool(user) != bool(password):  # pragma: no mutate (bools: != and "is not" alike)
        raise KpiReportError(f"set both {USER_VARIABLE} and {PASSWORD_VARIABLE}, or neither",
                             hint="the SMTP login is read from the environment only, never from the config")
    return Credentials(user, password) if user and password else None  # type: ignore[arg-type]  # pragma: no mutate


# --- Ctrl-C and SIGTERM ----------------------------------------------------------------------------------


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM during a send, raised where the send was, like Ctrl-C's KeyboardInterrupt."""

    def __init__(self, signal_number: int) -> None:
        super().__init__(signal.Signals(signal_number).name)
        self.signal_number = signal_number


class _Signals:
    held = 0  # inside `_settling`: a signal waits for the end of the block
    pending: int | None = None


def _on_signal(signal_number: int, _frame: object) -> None:
    if _Signals.held:
        _Signals.pending = signal_number
    else:
        raise Interrupted(signal_number)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """SIGTERM stops a send as Ctrl-C does, by an exception (`Interrupted`) where it was: a message whose
    data went out is then logged `unknown` instead of dying unrecorded (and being sent again by the next
    run). A signal the caller ignores (nohup) stays ignored; only the main thread can catch signals."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)
                if signal.getsignal(number) is not signal.SIG_IGN}
    for number in previous:
        signal.signal(number, _on_signal)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)  # None: not set from Python


@contextlib.contextmanager
def _settling() -> Iterator[None]:
    """Recording a message's outcome is not cut short: a signal meanwhile is raised once it is written."""
    _Signals.held += 1
    try:
        yield
    finally:
        _Signals.held -= 1
        if not _Signals.held and _Signals.pending is not None:
            number, _Signals.pending = _Signals.pending, None
            raise Interrupted(number)


# --- the send log ----------------------------------------------------------------------------------------

_REPAIR = ("the send log is written by kpireport: restore it from a backup, or delete that line "
           "(the message it recorded may then be sent again)")


class SendLog:
    """What was sent, one JSON object a line; appended and flushed to disk after each message.

    A last line cut short (a send killed while writing it) is ignored with a warning, and cut off
    before the next record is appended; any other damage is an error naming the file and line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[dict] = []
        self.warnings: list[str] = []
        self._cut: int | None = None  # where the complete lines end, when a cut-short line follows them
        self._newline = False  # the last record lacks its line end: add one before appending
        try:
            data = path.read_bytes() if path.exists() or path.is_symlink() else b""
        except IsADirectoryError:
            raise KpiReportError("this is a folder, where kpireport keeps its send log", file=str(path),
                                 hint="move the folder away (or give another --output-dir)") from None
        except OSError as exc:
            raise KpiReportError(f"cannot read the send log: {exc.strerror}", file=str(path),
                                 hint="check the file's permissions") from None
        lines = data.split(b"\n")
        offset = 0
        for number, raw in enumerate(lines, start=1):
            last = number == len(lines)  # pragma: no mutate (never past the last): the bytes after the last line end
            start, offset = offset, offset + len(raw) + 1
            if not raw.strip():
                continue
            try:
                entry = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                if last:  # a kill mid-write leaves a line without its end, maybe in the middle of a character
                    self.warnings.append(f"{path}:{number}: the last line is cut short (a send killed while "
                                         "writing it): ignored; the message it recorded may be sent again")
                    self._cut = start
                    continue  # pragma: no mutate (the last line: break alike)
                what = "is not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else "is not JSON"
                raise KpiReportError(f"this line {what}", file=str(path), line=number, hint=_REPAIR) from None
            problem = _record_problem(entry)
            if problem:
                raise KpiReportError(f"this line is not a send-log record: {problem}", file=str(path),
                                     line=number, hint=_REPAIR)
            self._newline = last
            self.entries.append(entry)
        self.loaded = len(self.entries)  # the records of earlier runs: those after them are this run's

    def delivered(self, outgoing: Outgoing) -> dict | None:
        """The latest record of this message, if any: the same month and recipient, and the same PDF
        whatever its name (an owner renamed in the config renames the file only), else the same document
        name (its PDF changed since)."""
        month, address = str(outgoing.month), outgoing.recipient.address.lower()
        theirs = [e for e in reversed(self.entries) if (e["month"], e["recipient"].lower()) == (month, address)]
        return (next((e for e in theirs if e.get("sha256") == outgoing.digest), None)
                or next((e for e in theirs if e["document"] == outgoing.document.name), None))

    def record(self, outgoing: Outgoing, status: str = "sent", reason: str | None = None,
               partial: dt.date | None = None) -> None:
        """Append the message's record; `partial`: the month's data stopped that day (no key: complete)."""
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "status": status, "month": str(outgoing.month),
                 "recipient": outgoing.recipient.address, "document": outgoing.document.name,
                 "sha256": outgoing.digest, "message_id": outgoing.message["Message-ID"]}
        if partial:
            entry["partial"] = partial.isoformat()
        if reason:
            entry["reason"] = reason
        self._append(entry)

    def unknown(self, month: str, address: str) -> list[dict]:
        """The records of `month` to `address` still `unknown` (the latest of their document)."""
        latest: dict[str, dict] = {}
        for entry in self.entries:
            if (entry["month"], entry["recipient"].lower()) == (month, address.lower()):
                latest[entry["document"]] = entry
        return [entry for entry in latest.values() if entry.get("status") == "unknown"]

    def mark_delivered(self, unknown: dict) -> None:
        """Record an `unknown` message as `sent` without sending it: its recipient says it arrived."""
        self._append({**unknown, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "status": "sent",
                      "reason": f"marked delivered by hand (unknown since {unknown.get('time', '?')})"})

    def _append(self, entry: dict) -> None:
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self._cut is not None:  # drop the cut-short line, or the new record would be glued to it
                os.truncate(self.path, self._cut)
                self._cut = None
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(("\n" if self._newline else "") + line)  # one write: a kill cuts one line only
                handle.flush()
                os.fsync(handle.fileno())  # a crash right after sending must not send it twice
        except OSError as exc:
            raise KpiReportError(f"cannot write the send log: {exc.strerror} ({entry['status']}: "
                                 f"{entry['document']} to {entry['recipient']})", file=str(self.path),
                                 hint="free some space or fix the permissions; that message may be sent again "
                                      "by the next run") from None
        self._newline = False
        self.entries.append(entry)


def _record_problem(entry: object) -> str | None:
    if not isinstance(entry, dict):
        return "a JSON object is expected"
    for key in ("month", "recipient", "document"):
        if not isinstance(entry.get(key), str):
            return f"no '{key}'"
    if entry.get("status", "sent") not in STATUSES:  # records written before `status` existed are deliveries
        return f"unknown status {entry['status']!r}"
    return None


@contextlib.contextmanager
def send_lock(folder: Path) -> Iterator[None]:
    """One `send` at a time per send log: an exclusive flock on a file beside it, holding the pid of the
    send that has it. A second send fails at once (it never waits); the lock goes with the process,
    even killed, so a stale lock file holds nothing."""
    path = folder / LOCK_NAME
    try:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # pragma: no mutate (| and ^ alike: distinct bits)
    except OSError as exc:
        raise KpiReportError(f"cannot open the send lock: {exc.strerror}", file=str(path),
                             hint="check that the output folder is a folder you can write to") from None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)  # pragma: no mutate (| and + alike: distinct bits)
        except BlockingIOError:
            pid = ""
            for _ in range(20):  # pragma: no mutate (about a second): the other may not have written its pid yet
                pid = os.pread(descriptor, 32, 0).decode("ascii", errors="replace").strip()  # pragma: no mutate
                if pid:  # pragma: no mutate (read again later: only slower)
                    break  # pragma: no mutate
                time.sleep(0.05)  # pragma: no mutate
            raise KpiReportError(f"another send is running (pid {pid or '?'})", file=str(path),
                                 hint="wait for it to finish, then run this command again: it sends only what "
                                      "the other did not") from None
        os.ftruncate(descriptor, 0)  # pragma: no mutate (the pid is written over it)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(descriptor)  # releases the lock


# --- SMTP ------------------------------------------------------------------------------------------------


class NoAnswerError(OSError):
    """The server did not answer within the timeout (before the message was complete: retried)."""


class NoConnectionError(OSError):
    """The server could not be reached (refused, no route, unknown host): retried; the message names it."""


class DeliveryUnknownError(Exception):
    """The whole message went out but its reply was lost: the server may have stored it."""


def _timed_out(exc: BaseException) -> bool:
    # smtplib turns a timeout while reading a reply into SMTPServerDisconnected: the cause tells
    return isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError)


def _is_transient(exc: Exception) -> bool:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())  # pragma: no mutate (refusals: 4xx, 5xx)
    if isinstance(exc, smtplib.SMTPResponseException):  # the connect error too: 421 busy, 554 go away
        return 400 <= exc.smtp_code < 500  # pragma: no mutate (refusals are 4xx or 5xx)
    if isinstance(exc, ssl.SSLCertVerificationError | smtplib.SMTPNotSupportedError):
        return False  # the same answer next time (every SMTP error is an OSError: tell them apart first)
    return isinstance(exc, OSError)  # a dropped connection, a timeout, a refused connection


def _is_refusal(exc: Exception) -> bool:
    """The server refused this message for good (5xx to its sender, recipient or content): sending it
    again is refused again until what the reply names is fixed."""
    return isinstance(exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPResponseException) and not _is_transient(exc)


def _reason(exc: Exception) -> str:
    """What went wrong, from the server's reply: never from our own request (which held the password)."""
    if isinstance(exc, NoAnswerError | NoConnectionError | smtplib.SMTPNotSupportedError) and str(exc):
        return str(exc)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"the server's certificate is not trusted ({exc.verify_message}): if your company has its own "
                "certificate authority, set SSL_CERT_FILE to its certificate")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{code} {reply.decode(errors='replace')}" for code, reply in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{exc.smtp_code} {reply}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "the server closed the connection"
    if isinstance(exc, OSError) and exc.strerror:  # pragma: no mutate (all are OSErrors: "or" alike)
        return exc.strerror
    return type(exc).__name__.replace("SMTP", "SMTP ").strip()


class Connection:
    """An open SMTP session that sends one message at a time and knows when its data went out."""

    def __init__(self, client: smtplib.SMTP, where: str, timeout: float) -> None:
        self.client = client
        self.where = where
        self.timeout = timeout
        self.went_out = False  # the current message's final "." was sent, and no refusal came back

    def no_answer(self) -> NoAnswerError:
        return NoAnswerError(f"the server at {self.where} did not answer within {self.timeout:g} s")

    def send(self, outgoing: Outgoing) -> None:
        """MAIL, RCPT and DATA by hand (not sendmail) to tell a failure before the final "." of DATA,
        safe to retry, from a lost reply after it. The envelope goes to the recipient's address, never
        to one read back from a header."""
        client = self.client
        self.went_out = False
        message = outgoing.message
        sender = parseaddr(str(message["From"]))[1]
        options: tuple[str, ...] = ()
        international = not (sender + outgoing.recipient.address).isascii()
        if international:  # as smtplib's send_message: mail() with SMTPUTF8 makes it send commands in UTF-8
            if not client.has_extn("smtputf8"):
                raise smtplib.SMTPNotSupportedError("the server does not accept non-ASCII addresses (SMTPUTF8)")
            options = ("SMTPUTF8", "BODY=8BITMIME")
        data = message.as_bytes(policy=message.policy.clone(linesep="\r\n", utf8=international))
        data = re.sub(rb"(?m)^\.", b"..", data)  # a line starting with "." is sent dot-doubled
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        try:
            code, reply = client.mail(sender, options)
            if code != 250:  # pragma: no mutate (> alike: no server answers under 250)
                raise smtplib.SMTPSenderRefused(code, reply, sender)
            code, reply = client.rcpt(outgoing.recipient.address)
            if code not in (250, 251):
                raise smtplib.SMTPRecipientsRefused({outgoing.recipient.address: (code, reply)})
            client.putcmd("data")
            code, reply = client.getreply()
            if code != 354:  # pragma: no mutate (> alike: no server answers 2xx or 3xx but 354)
                raise smtplib.SMTPDataError(code, reply)
            client.send(data)  # stopped before its final ".", the message is not stored
            self.went_out = True  # from here on the server may store it
            client.send(b".\r\n")
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            if _timed_out(exc):
                raise self.no_answer() from None
            raise
        # the whole message is out: the server may store it now, whether or not its reply reaches us
        try:
            code, reply = client.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            lost = (f"no reply from {self.where} within {self.timeout:g} s" if _timed_out(exc)
                    else f"the connection to {self.where} was lost")
            raise DeliveryUnknownError(f"{lost} after the message was sent") from None
        if code != 250:  # pragma: no mutate (> alike: no server answers under 250)
            self.went_out = False  # refused: not stored
            raise smtplib.SMTPDataError(code, reply)

    def quit(self) -> None:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            self.client.quit()

    def close(self) -> None:
        self.client.close()


def connect(settings: Smtp, credentials: Credentials | None, timeout: float | None = None) -> Connection:
    """An open, secured, logged-in connection. STARTTLS is required unless the config says `none`.
    Every wait (connect, greeting, each reply) is bounded by `timeout`, by default the config's."""
    timeout = settings.timeout if timeout is None else timeout
    where = f"{settings.host}:{settings.port}"
    context = ssl.create_default_context()
    client: smtplib.SMTP | None = None
    try:
        if settings.security == "ssl":
            client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=timeout, context=context)
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
        client.ehlo()
        if settings.security == "starttls":  # pragma: no mutate (>= alike: ssl, starttls and none only)
            if not client.has_extn("starttls"):
                raise KpiReportError(
                    f"{where} does not offer STARTTLS", key="smtp.security",
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
    except BaseException as exc:
        if client is not None:
            client.close()
        if isinstance(exc, smtplib.SMTPServerDisconnected | OSError) and _timed_out(exc):
            raise NoAnswerError(f"the server at {where} did not answer within {timeout:g} s") from None
        if isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException | ssl.SSLError) and exc.strerror:
            raise NoConnectionError(f"cannot connect to {where}: {exc.strerror}") from None  # refused, no route…
        raise
    return Connection(client, where, timeout)


class _Session:
    """One SMTP connection for the batch, opened on demand and reopened after a failure."""

    def __init__(self, opener: Callable[[], Connection]) -> None:
        self.opener = opener
        self.connection: Connection | None = None
        self.opening = False  # pragma: no mutate (set before each use): the last failure was while opening
        self.attempt: Connection | None = None  # the current attempt's, kept when dropped

    def send(self, outgoing: Outgoing) -> None:
        self.attempt = None
        if self.connection is None:
            self.opening = True
            self.connection = self.opener()
        self.opening = False
        self.attempt = self.connection
        self.connection.send(outgoing)

    def drop(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            finally:
                self.connection = None

    def close(self) -> None:
        if self.connection is not None:
            self.connection.quit()
            self.drop()


def _standing(log: SendLog, outgoing: Outgoing, partial: dt.date | None) -> tuple[dict | None, str]:
    """The record that stands for this message (None: it is to be sent), and why it goes again if so."""
    previous = log.delivered(outgoing)
    if previous is not None and previous.get("partial") and partial is None:  # the complete review: a new one
        return None, f"the month was partial when last sent (data up to {previous['partial']})"
    return previous, ""


def outstanding(batch: Iterable[Outgoing], log: SendLog, *, resend: bool = False,
                partial: dt.date | None = None) -> int:
    """How many messages of the batch `deliver` is to send (the same options)."""
    return sum(resend or _standing(log, outgoing, partial)[0] is None for outgoing in batch)


def deliver(batch: Iterable[Outgoing], log: SendLog, opener: Callable[[], Connection],
            *, resend: bool = False,  # pragma: no mutate (a "/" there: every caller names them anyway)
            partial: dt.date | None = None, attempts: int = 3, backoff: float = 1.0,
            ) -> Iterator[tuple[str, Outgoing, str]]:
    """Send each message not yet in the log; yields (`sent` | `skipped` | `failed` | `refused` | `unknown`,
    message, detail). `refused`: a 5xx reply to this message, which a rerun would get again. `unknown`:
    the message may have been delivered (its reply was lost after the data went out): it is logged so,
    never retried, and a rerun reports it again instead of sending it.
    `partial`: the batch's month has data up to that day only (logged); a review sent while its month
    was partial is sent again, once, when the month is complete."""
    session = _Session(opener)
    record = functools.partial(log.record, partial=partial)
    unreachable: str | None = None  # the server could not be reached (or refused us): the rest is not tried
    try:
        for outgoing in batch:
            previous, completed = (None, "") if resend else _standing(log, outgoing, partial)
            if previous is not None and previous.get("status") == "unknown":  # pragma: no mutate (sent, unknown)
                yield "unknown", outgoing, (f"{previous.get('reason', 'the reply was lost')} on "
                                            f"{previous.get('time', '?')}: it may have been delivered")
                continue
            if previous is not None:
                if previous.get("sha256") != outgoing.digest:
                    how = " (the PDF has changed since: --resend sends it again)"
                elif previous["document"] != outgoing.document.name:
                    how = f" as {previous['document']}"
                else:
                    how = ""
                yield "skipped", outgoing, f"already sent on {previous.get('time', '?')}{how}"
                continue
            if unreachable is not None:
                yield "failed", outgoing, f"not tried: {unreachable}"
                continue
            recorded = len(log.entries)
            try:
                for attempt in range(1, attempts + 1):  # pragma: no mutate (the last attempt breaks out anyway)
                    try:
                        session.send(outgoing)
                    except DeliveryUnknownError as exc:
                        session.drop()
                        with _settling():
                            record(outgoing, "unknown", str(exc))
                        yield "unknown", outgoing, f"{exc}: it may have been delivered"
                        break
                    except KpiReportError as exc:  # the server refuses the config's security or login
                        session.drop()
                        if len(log.entries) == log.loaded:  # a config problem, said as one (exit 2)
                            raise KpiReportError(f"{exc.message}: nothing was sent", file=exc.file, key=exc.key,
                                                 hint=exc.hint) from None
                        unreachable = exc.message  # on a reconnection: what went is said, the rest fails
                        yield "failed", outgoing, unreachable
                        break
                    except (smtplib.SMTPException, OSError) as exc:
                        session.drop()
                        if _is_transient(exc) and attempt < attempts:  # pragma: no mutate (attempt <= attempts)
                            time.sleep(backoff * 2 ** (attempt - 1))
                            continue
                        tries = f" after {attempt} tries" if attempt > 1 else ""  # pragma: no mutate (> 1 is != 1)
                        if session.opening:  # no connection (or no secure one): the next message would fare the same
                            unreachable = _reason(exc)
                        refused = _is_refusal(exc) and not session.opening  # 554 at the greeting: us, not it
                        yield "refused" if refused else "failed", outgoing, f"{_reason(exc)}{tries}"
                        break
                    else:
                        with _settling():
                            record(outgoing)
                        yield "sent", outgoing, completed
                        break
            except KeyboardInterrupt:  # Ctrl-C, or SIGTERM under `interruptible`
                stopped = session.attempt
                if stopped is not None and stopped.went_out and len(log.entries) == recorded:  # outcome unrecorded
                    reason = f"interrupted while waiting for the reply from {stopped.where} after the message was sent"
                    with _settling():
                        record(outgoing, "unknown", reason)
                    yield "unknown", outgoing, f"{reason}: it may have been delivered"
                raise
    except BaseException:  # stopped: no QUIT, whose reply may take `timeout` seconds from a server still busy
        session.drop()
        raise
    else:
        session.close()
