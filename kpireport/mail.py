"""The review e-mails, composed with the standard `email` package: one message per recipient and
document, subject and body from the Jinja templates templates/mail/<locale>/{subject,body}.txt, the
month's summary in the body and the PDF attached."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, parseaddr
from pathlib import Path

from .config import Config
from .engine import MonthlyValues, Notes, RowCounts
from .errors import KpiReportError
from .months import Month
from .review import ReviewJob, ReviewView, environment, template_errors


@dataclass(frozen=True)
class Recipient:
    name: str
    address: str


@dataclass(frozen=True)
class Outgoing:
    """A message ready to go, with what the send log records about it."""

    month: Month
    recipient: Recipient
    document: Path
    digest: str  # sha256 of the PDF
    message: EmailMessage


class _SubjectsWhole(EmailPolicy):
    """The default policy, but a non-ASCII Subject is folded by email.header's encoder: Python 3.11's
    own folding drops the space where it wraps between two encoded words, one subject in five or so
    ("octobre 2026(données partielles)"). The older encoder keeps every space, lines within 78."""

    def fold(self, name: str, value: str) -> str:
        if name.lower() != "subject" or self.utf8 or str(value).isascii():
            return super().fold(name, value)
        return f"{name}: {Header(str(value), 'utf-8', header_name=name).encode(linesep=self.linesep)}{self.linesep}"

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() != "subject" or self.utf8 or str(value).isascii():
            return super().fold_binary(name, value)
        return self.fold(name, value).encode("ascii")


_POLICY = _SubjectsWhole()


def compose(config: Config, view: ReviewView, recipient: Recipient, document: Path, month: Month, *,
            sender: str, reply_to: str | None = None, template_dir: Path | None = None, now=None) -> Outgoing:  # type: ignore[no-untyped-def]
    """The message for `recipient` carrying `document` (the review PDF of `view`)."""
    import datetime as dt

    pdf = document.read_bytes()
    templates = environment(template_dir)
    off = [kpi for section in view.sections for kpi in section.kpis if kpi.status == "off"]
    values = {"view": view, "recipient": recipient.name, "address": recipient.address, "off": off}
    with template_errors(template_dir):
        subject = templates.get_template(f"mail/{config.locale}/subject.txt").render(values)
        body = templates.get_template(f"mail/{config.locale}/body.txt").render(values)
    message = EmailMessage(policy=_POLICY)
    message["Subject"] = re.sub(r"\s+", " ", subject).strip()  # one line: no header can be injected
    message["From"] = sender
    # the name as an RFC 5322 phrase, quoted or encoded whole: `Zoë <boss@evil.example>` stays a name
    # (formataddr would encode only "Zoë" and leave a second address in the header)
    # (username, not addr_spec: a local part that is not a dot-atom, like '../x', is quoted, not refused)
    local, _, domain = recipient.address.rpartition("@")
    message["To"] = Address(display_name="" if recipient.name == recipient.address else recipient.name,
                            username=local, domain=domain)
    if reply_to:
        message["Reply-To"] = reply_to
    message["Date"] = format_datetime(now or dt.datetime.now(dt.UTC).astimezone())
    digest = hashlib.sha256(pdf).hexdigest()
    message["Message-ID"] = message_id(month, recipient, document, digest, sender)
    message.set_content(body if body.endswith("\n") else body + "\n")
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename=document.name)
    return Outgoing(month, recipient, document, digest, message)


def message_id(month: Month, recipient: Recipient, document: Path, digest: str, sender: str) -> str:
    """The same for every copy of the same review to the same person: a retry, a rerun or a --resend
    of a message whose delivery was unknown can be recognised as a duplicate by mail systems. A review
    whose PDF changed is a new message, with a new id."""
    key = "\n".join((str(month), recipient.address.lower(), document.name, digest))
    domain = parseaddr(sender)[1].rpartition("@")[2] or "kpireport.invalid"
    return f"<kpireport.{month}.{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def prepare(config: Config, values: MonthlyValues, month: Month, *, per: str, to: list[str], output_dir: Path,
            template_dir: Path | None = None, notes: Notes | None = None,
            partial: Mapping[Month, dt.date] | None = None, rows: RowCounts | None = None,
            before_writing: Callable[[], None] | None = None,
            progress: Callable[[Iterator[tuple[Path, list[str]]], list[ReviewJob]], Iterable[object]] | None = None,
            ) -> list[Outgoing]:
    """Render the month's review(s) into `output_dir` and compose a message for each recipient:
    per owner, each owner gets the PDF of their KPIs; `all`, every owner gets the whole review (and their `cc:`
    a copy, either way).
    `to` sends everything to these addresses instead (to try it out). `before_writing` is called once
    the recipients are known good, before anything is written (send takes its lock there);
    `progress(documents, jobs)` passes the documents through as they are written (send's bar)."""
    from .review import build_view, plan_jobs, review_results, write_reviews

    if config.smtp is None:
        raise KpiReportError("the config has no 'smtp:' section", file=str(config.path), key="smtp",
                             hint="add smtp: {host: smtp.example.com, from: reviews@example.com} "
                                  "(user and password go in KPIREPORT_SMTP_USER / KPIREPORT_SMTP_PASSWORD)")
    output = output_dir / f"review-{month}.pdf"
    jobs = plan_jobs(config, output, "owner" if per == "owner" else None)
    chosen = _once([Recipient(address, address) for address in to])  # --to twice: one message each
    readers = [Recipient(reader.name, reader.email) for reader in config.recipients]
    if per == "owner":
        if not chosen:
            recipients_of(config, [job.key for job in jobs])  # type: ignore[misc]  # all missing addresses at once
        audiences = {job.path: chosen or _once(_with_cc(config, [job.key])) for job in jobs}  # type: ignore[list-item]
        if readers and not chosen:  # the whole review too, for `recipients:`: in the same send
            whole = ReviewJob(output, None, None)
            jobs, audiences[whole.path] = [*jobs, whole], readers
    else:
        everyone = chosen or _once(_with_cc(config, list(config.owners)) + readers)  # each owner's review is the whole
        audiences = {job.path: everyone for job in jobs}
    if not any(audiences.values()):
        raise KpiReportError("nobody to send the review to", file=str(config.path), key="owners",
                             hint="declare owners with an e-mail address, or give --to ADDR")
    if before_writing is not None:
        before_writing()
    results = review_results(config, values, month, partial=partial, rows=rows)
    documents = write_reviews(results, month, output, jobs=jobs, template_dir=template_dir, notes=notes)
    for _document in progress(documents, jobs) if progress else documents:
        pass
    messages = []
    for job in jobs:
        view = build_view(config, results, month, kpi_ids=job.kpi_ids, audience=job.audience, notes=notes)
        messages += [compose(config, view, recipient, job.path, month, sender=config.smtp.sender,
                             reply_to=config.smtp.reply_to, template_dir=template_dir)
                     for recipient in audiences[job.path]]
    return messages


def _once(recipients: list[Recipient]) -> list[Recipient]:
    """Each address once (an owner's deputy who is also in `recipients:` gets one copy)."""
    unique: dict[str, Recipient] = {}
    for recipient in recipients:
        unique.setdefault(recipient.address.lower(), recipient)
    return list(unique.values())


def _with_cc(config: Config, owner_ids: list[str]) -> list[Recipient]:
    """The owners' addresses, then their `cc:`: the copies go wherever the owner's review goes."""
    return recipients_of(config, owner_ids) + [Recipient(address, address) for owner_id in owner_ids
                                               for address in config.owners[owner_id].cc]


def recipients_of(config: Config, owner_ids: list[str]) -> list[Recipient]:
    """The owners' addresses; owners without one are an error listed in full, before anything is sent."""
    missing = [oid for oid in owner_ids if not config.owners[oid].email]
    if missing:
        raise KpiReportError(
            f"no e-mail address for {', '.join(missing)}: nothing was sent", file=str(config.path),
            key="owners", hint="add 'email:' to these owners, or send to chosen addresses with --to ADDR")
    return _once([Recipient(config.owners[oid].name, config.owners[oid].email)  # type: ignore[arg-type]
                  for oid in owner_ids])
