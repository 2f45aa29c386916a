"""The `kpireport` command line: parse options, call the library, print. Nothing else lives here.

Heavy modules are imported inside the commands so that `kpireport --help` answers at once.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from .errors import KpiReportError, counted, listed

if TYPE_CHECKING:
    from .config import Config
    from .delivery import SendLog
    from .months import Month
    from .sources import MonthlyData
    from .template import TemplateOutcome

EXIT_BAD_INPUT = 2


EXIT_INTERNAL_ERROR = 1
EXIT_READER_GONE = 141  # 128 + SIGPIPE, as `yes | head` ends


class _Group(click.Group):
    """Turns kpireport's own errors into one message and exit code 2, and any other exception (a bug)
    into one line and exit code 1; --verbose shows the traceback of either."""

    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click's own: usage errors, --help, Ctrl-C
        except KpiReportError as exc:
            if ctx.meta.get("kpireport.verbose"):
                raise
            click.echo(_redacted(f"error: {exc}"), err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except Exception as exc:
            if _reader_gone(exc):
                # `kpireport compute … | head`: the reader has what it wanted; end as a Unix tool does on
                # SIGPIPE, quietly (stdout pointed at /dev/null: Python's last flush would fail again)
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                ctx.exit(EXIT_READER_GONE)
            if ctx.meta.get("kpireport.verbose"):
                raise
            click.echo(_redacted(f"internal error: {exc.__class__.__name__}: {exc}\n"
                                 "  this is a bug in kpireport: run the same command with --verbose to see the "
                                 "traceback, and please report it"), err=True)
            ctx.exit(EXIT_INTERNAL_ERROR)


def _reader_gone(exc: Exception) -> bool:
    """A write to a pipe whose reader closed it (`| head`): Python's BrokenPipeError, or polars' own
    OSError, which carries no errno, only "Broken pipe (os error 32)" in its message."""
    return isinstance(exc, BrokenPipeError) or (isinstance(exc, OSError) and "Broken pipe" in str(exc))


def main() -> None:
    """The `kpireport` command (`python -m kpireport`): one command, then the process ends."""
    from .collector import keep_until_exit

    keep_until_exit()
    cli()


def _redacted(text: str) -> str:
    """The SMTP password and the databases' never reach the screen, whatever a library put in an
    exception's message."""
    import os

    from .database import passwords, scrub

    password = os.environ.get("KPIREPORT_SMTP_PASSWORD")
    text = text.replace(password, "********") if password else text
    return scrub(text, sorted(passwords()))


def _month(ctx: click.Context, param: click.Parameter, value: str | None):  # type: ignore[no-untyped-def]
    from .months import Month

    if value is None:
        return None
    try:
        return Month.parse(value)
    except ValueError as exc:
        raise click.BadParameter(f"{exc} (e.g. 2026-03)") from None


_skip_bad_rows = click.option(
    "--skip-bad-rows", is_flag=True,
    help="Report each data row that cannot be read (bad date or number) as a warning and go on without it "
         "(a rows source: without it in the measures that read its bad cell).")


def _warn(lines: list[str]) -> None:
    """Print warnings, each once per command: the same line twice only buries the others."""
    shown = click.get_current_context().meta.setdefault("kpireport.warned", set())
    for line in lines:
        if line not in shown:
            shown.add(line)
            click.echo(f"warning: {line}", err=True)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--verbose", is_flag=True, help="Show the full traceback of an error (for debugging).")
@click.version_option(package_name="kpireport")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Track marketing and sales KPIs every month: config → Excel template → PDF review → e-mail.

    Start with `kpireport init my-kpis`, then `kpireport compute my-kpis/kpireport.yaml`.
    """
    ctx.meta["kpireport.verbose"] = verbose


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--preset", default="marketing", show_default=True,
              help="Which KPIs to start with (see the list below).")
@click.option("--locale", type=click.Choice(["fr", "en"]), default="fr", show_default=True,
              help="Language of the labels and of the example.")
@click.option("--force", is_flag=True, help="Overwrite an existing kpireport.yaml in DIRECTORY.")
def init(directory: Path, preset: str, locale: str, force: bool) -> None:
    """Write a working example project into DIRECTORY: a config and sample data.

    Presets: marketing (the HubSpot team roles), sales (pipeline and funnel), demo (the bundled
    example: both), full (every KPI of the catalog).
    """
    from .presets import write_project

    written = write_project(directory, preset, locale, force=force)  # type: ignore[arg-type]
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"next: kpireport compute {directory / 'kpireport.yaml'}")


@cli.command()
@click.option("--domain", help="Only this domain (e.g. email, sales).")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.option("--locale", type=click.Choice(["fr", "en"]), default="fr", show_default=True)
def catalog(domain: str | None, output_format: str, locale: str) -> None:
    """List the built-in KPIs: id (for `use:` in a config), label, format, direction, formula."""
    from .listing import catalog_json, catalog_table

    text = catalog_json(domain, locale) if output_format == "json" else catalog_table(domain, locale)  # type: ignore[arg-type]
    click.echo(text)


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--data", "data_files", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A data file to read too (replaces a source of the same file name). Repeatable.")
@_skip_bad_rows
def validate(config: Path, data_files: tuple[Path, ...], skip_bad_rows: bool) -> None:
    """Check CONFIG and its data files; explain every problem with its key, line and a fix."""
    from .config import load_config
    from .sources import input_origins, load_data

    settings = load_config(config)
    data = load_data(settings, data_files, skip_bad_rows=skip_bad_rows)
    _warn(settings.warnings + data.warnings + (_ownerless(settings) if settings.owners else []))
    months = sorted({m for series in data.values.values() for m in series})
    span = f", data from {months[0]} to {months[-1]}" if months else ", no data yet"
    span += "".join(f" ({m} partial: data up to {day})" for m, day in sorted(data.partial.items()))
    current = _current_month()  # a month some file still delivering has not reached (report and send wait for it)
    span += "".join(f" ({m}: not yet in {listed(data.behind(m))})" for m in data.held_back(until=current)
                    if m not in data.partial and m <= current and data.behind(m))
    click.echo(f"{config}: ok — {counted(len(settings.kpis), 'KPI')}, {counted(len(settings.inputs), 'input')}, "
               f"{counted(len(settings.sources), 'source')}{span}")
    click.echo("inputs and where they come from:")
    for line in input_origins(settings, data):
        click.echo(f"  {line}")


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--data", "data_files", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A data file to read too (replaces a source of the same file name). Repeatable.")
@click.option("--month", callback=_month, metavar="YYYY-MM", help="Only this month.")
@click.option("--format", "output_format", type=click.Choice(["csv", "json"]), default="csv",
              show_default=True)
@_skip_bad_rows
def compute(config: Path, data_files: tuple[Path, ...], month, output_format: str,  # type: ignore[no-untyped-def]
            skip_bad_rows: bool) -> None:
    """Print every KPI per month: value, target, status, change vs last month and last year, YTD.

    CSV columns: kpi, month (YYYY-MM), value, target, status (on, watch, off, no_data, no_target),
    attainment, previous, change_mom, year_ago, change_yoy, ytd, label, domain, owner, format,
    direction, complete (false when the month's data stop before its end). An empty cell means no value.
    """
    from . import engine, export
    from .config import load_config
    from .sources import load_data, with_workbook_targets

    settings = load_config(config)
    data = load_data(settings, data_files, skip_bad_rows=skip_bad_rows)
    _warn(data.warnings)
    settings = with_workbook_targets(settings, data)  # a target typed in the template wins
    results = engine.compute(settings, data.values, [month] if month else None, partial=data.partial,
                             rows=data.rows)
    if output_format == "csv":  # 100 MB at 5,000 KPIs: written as bytes, never a str
        sys.stdout.flush()
        export.write_csv(results, sys.stdout.buffer, month)
        return
    export.write_json(results, sys.stdout, month)


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("output/kpi-template.xlsx"), show_default=True, help="The workbook to write.")
@click.option("--year", type=click.IntRange(1990, 2200), help="Cover this calendar year.")
@click.option("--from", "start", callback=_month, metavar="YYYY-MM", help="Start here instead (with --months).")
@click.option("--months", "count", type=click.IntRange(1, 120), default=12, show_default=True,
              help="How many months, from --from.")
@click.option("--data", "data_files", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A data file to pre-fill from too (replaces a source of the same file name). Repeatable.")
@click.option("--blank", is_flag=True, help="Leave the input cells empty.")
@click.option("--publish", is_flag=True,
              help="The blank template to publish: roles instead of names and e-mails, instructions for Excel, "
                   "LibreOffice or Google Sheets, a KPI library sheet, the company's name, logo and colour "
                   "(review: logo, colour), document properties.")
@click.option("--update", is_flag=True, help="Rebuild an existing template, keeping every typed value and note.")
@click.option("--force", is_flag=True, help="Replace an existing workbook, typed values included.")
@click.option("--per", type=click.Choice(["owner"]),
              help="One workbook per owner, FILE-<owner>.xlsx, holding only the inputs of their KPIs, stamped "
                   "with the config's version and the period.")
@_skip_bad_rows
def template(config: Path, output: Path, year: int | None, start, count: int,  # type: ignore[no-untyped-def]
             data_files: tuple[Path, ...], blank: bool, publish: bool, update: bool, force: bool,
             per: str | None, skip_bad_rows: bool) -> None:
    """Build the Excel KPI tracking template for CONFIG: monthly input cells to fill by hand, every
    KPI as a formula, targets, status colours and a dashboard with charts.

    By default the inputs are pre-filled from the config's sources (and --data) and the period is the
    year of the latest data. An existing workbook holding typed values is never overwritten silently:
    use --update to carry them over, or --force. With --per owner, the filled workbooks given back
    together as sources (or --data) are merged, each input from its owner's workbook.
    """
    from .config import load_config
    from .sources import load_data
    from .template import write_template
    from .workbook import template_period

    if year is not None and start is not None:
        raise click.UsageError("give --year or --from, not both")
    if update and force:
        raise click.UsageError("give --update or --force, not both")
    if publish and (update or data_files):
        raise click.UsageError("--publish writes a blank template: give it without --update or --data")
    if publish and per:
        raise click.UsageError("--publish writes one template without names for anyone: give it without --per")
    settings = load_config(config)
    values: dict = {}
    held_back: list = []
    rows: dict = {}
    typed: dict = {}
    last = None
    if not (blank or publish):
        # per-owner workbooks made for an earlier config or period are read as they are: this rebuilds them
        data = load_data(settings, data_files, skip_bad_rows=skip_bad_rows, check_stamps=False)
        _warn(data.warnings)
        values, rows = data.values, data.rows
        held_back = data.held_back(until=_current_month())  # the dashboard opens on the month a review would be of
        # what a filled template read as data holds besides its values goes into the new one too
        typed = {"notes": data.notes, "targets": data.targets, "tolerances": data.tolerances}
        last = max((m for series in values.values() for m in series), default=None)
    period = template_period(year, start, count, last)
    options = {"update": update, "force": force, "held_back": held_back, "rows": rows, **typed}
    if per == "owner":
        from .team import write_per_owner

        team = write_per_owner(settings, output, period, values, **options)
        _warn(team.left_out)
        for owner, outcome in team.written.items():
            share = team.shares[owner]
            _template_written(outcome, len(share.kpis), len(share.inputs), period, update)
        return
    outcome = write_template(settings, output, period, values, publish=publish, **options)
    _template_written(outcome, len(settings.kpis), len(settings.inputs), period, update)


def _template_written(outcome: TemplateOutcome, kpis: int, inputs: int, period: list[Month], update: bool) -> None:
    _warn([f"not carried over: {line}" for line in outcome.not_carried] + outcome.moved)
    if outcome.backup:
        click.echo(f"kept the previous workbook as {outcome.backup} (something of it was not carried over)")
    carried = f", {outcome.carried} values, notes and targets of the workbook carried over" if update else ""
    click.echo(f"wrote {outcome.path} — {kpis} KPIs, {inputs} inputs, "
               f"{period[0]} to {period[-1]}, {outcome.filled} input cells filled{carried}")


def shows_bar(count: int, stream: TextIO) -> bool:
    """A batch shows a progress bar only on a terminal: a log or CI (cron, a pipe) gets one line per
    document instead, which a bar's carriage returns would garble."""
    return count > 1 and stream.isatty()


def _progress(documents: Iterable[tuple[Path, list[str]]], jobs: list, *, done: str | None,
              stream: TextIO | None = None) -> Iterator[tuple[Path, list[str]]]:
    """Pass the documents of a batch (report --per, send) through as they are written: on a terminal a
    bar (how many, whose review was written last, time left) on `stream` (stderr), then `done` PATH
    lines once it is full; else a `done` PATH line per document as it comes (none when `done` is None)."""
    stream = stream or sys.stderr
    if not shows_bar(len(jobs), stream):
        for document in documents:
            if done:
                click.echo(f"{done} {document[0]}")
            yield document
        return
    audiences = {job.path: job.audience for job in jobs}
    written: list[Path] = []
    with click.progressbar(documents, length=len(jobs), label=f"{len(jobs)} reviews", file=stream, show_pos=True,
                           item_show_func=lambda item: audiences.get(item[0]) if item else None) as bar:
        for document in bar:
            written.append(document[0])
            yield document
    if done:
        click.echo("\n".join(f"{done} {path}" for path in written))


def _review_month(config: Path, data_files: tuple[Path, ...], month, skip_bad_rows: bool):  # type: ignore[no-untyped-def]
    """The config, its data and the month to review (by default the last complete month with data),
    for report and send."""
    from .config import load_config
    from .sources import load_data, with_workbook_targets

    settings = load_config(config)
    data = load_data(settings, data_files, skip_bad_rows=skip_bad_rows)
    _warn(data.warnings)
    settings = with_workbook_targets(settings, data)  # a target typed in the template wins
    if month is None:
        current = _current_month()  # data after it were warned about (sources._warn_ahead): never the default
        month = data.last_complete_month(until=current)
        _warn([f"{m} {_why_held_back(data, m)}: not reviewed by default; give --month {m} to review it anyway"
               for m in data.held_back(until=current) if m <= current])
    if month is None:
        what = "complete month of data" if data.partial else "data"
        raise KpiReportError(f"there is no {what} to review", file=str(config),
                             hint="add data files under 'sources:', give --data FILE, or --month YYYY-MM")
    return settings, data, month


def _ownerless(settings: Config) -> list[str]:
    """The KPIs a per-owner review (report --per owner, send) leaves out: nobody's, so in nobody's document."""
    return [f"{kpi.id} has no owner: it is in no per-owner review (give it 'owner:')"
            for kpi in settings.kpis.values() if kpi.owner is None]


def _current_month() -> Month:
    import datetime as dt

    from .months import Month

    return Month.of(dt.date.today())


def _why_held_back(data: MonthlyData, month: Month) -> str:
    """Why `month` is not the default review's month: its data stop early, or a file has not reached it yet."""
    if month in data.partial:
        return f"is partial (data up to {data.partial[month]})"
    return (f"has data in {listed(data.files_with(month))} but not yet in {listed(data.behind(month))} "
            "(whose KPIs would show no data)")


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--data", "data_files", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A data file to read too (replaces a source of the same file name). Repeatable.")
@click.option("--month", callback=_month, metavar="YYYY-MM",
              help="The month to review (default: the last complete month with data).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="The PDF to write (default: output/review-YYYY-MM.pdf).")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the review as one standalone HTML file.")
@click.option("--per", type=click.Choice(["owner", "domain"]),
              help="One PDF per owner (or domain) with only their KPIs, instead of one review.")
@click.option("--template-dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="A folder of templates overriding the built-in ones (same names, e.g. review/kpi.html).")
@_skip_bad_rows
def report(config: Path, data_files: tuple[Path, ...], month, output: Path | None,  # type: ignore[no-untyped-def]
           html_path: Path | None, per: str | None, template_dir: Path | None, skip_bad_rows: bool) -> None:
    """Render the monthly review of CONFIG as PDF: summary, each KPI against its target and its trend,
    the funnel. With --per owner, one PDF per owner."""
    from .review import plan_jobs, review_results, write_html, write_reviews

    settings, data, month = _review_month(config, data_files, month, skip_bad_rows)
    output = output or Path("output") / f"review-{month}.pdf"
    results = review_results(settings, data.values, month, partial=data.partial, rows=data.rows)
    if html_path:
        write_html(results, month, html_path, template_dir=template_dir,
                   notes=data.review_notes(settings.locale))
        click.echo(f"wrote {html_path}")
    jobs = plan_jobs(settings, output, per)
    if per == "owner":
        _warn(_ownerless(settings))
    documents = write_reviews(results, month, output, per=per, template_dir=template_dir,
                              notes=data.review_notes(settings.locale))
    refused: list[str] = []
    for _path, urls in _progress(documents, jobs, done="wrote"):
        refused += urls
    _warn([f"not loaded (kpireport loads local files only): {url}" for url in dict.fromkeys(refused)])


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--data", "data_files", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A data file to read too (replaces a source of the same file name). Repeatable.")
@click.option("--month", callback=_month, metavar="YYYY-MM",
              help="The month to send (default: the last complete month with data).")
@click.option("--per", type=click.Choice(["owner", "all"]), default="owner", show_default=True,
              help="owner: each owner gets the review of their KPIs; all: everyone gets the whole review.")
@click.option("--to", "to", multiple=True, metavar="ADDR",
              help="Send every message to this address instead of the owners (to try it). Repeatable.")
@click.option("--dry-run", "dry_run", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Write each message a real run would send as an .eml file into DIR instead of sending it "
                   "(the send log is read, not written: with --resend, every message).")
@click.option("--resend", is_flag=True, help="Send again what the send log says was already delivered.")
@click.option("--only", "only", multiple=True, metavar="ADDR",
              help="Only the messages to this recipient (e.g. with --resend, one whose delivery is unknown). "
                   "Repeatable.")
@click.option("--mark-delivered", "mark_delivered", multiple=True, metavar="ADDR",
              help="Record the month's messages to this address whose delivery is unknown as delivered, without "
                   "sending anything (the recipient confirmed they arrived). Repeatable.")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where the PDFs and the send log (send-log.jsonl) are written "
                   "(default: the config's `output:`, else output/ beside the config).")
@click.option("--template-dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="A folder of templates overriding the built-in ones (e.g. mail/fr/body.txt).")
@_skip_bad_rows
def send(config: Path, data_files: tuple[Path, ...], month, per: str, to: tuple[str, ...],  # type: ignore[no-untyped-def]
         dry_run: Path | None, resend: bool, only: tuple[str, ...], mark_delivered: tuple[str, ...],
         output_dir: Path | None, template_dir: Path | None, skip_bad_rows: bool) -> None:
    """E-mail the month's review PDFs to their owners, each once where SMTP allows it.

    SMTP settings come from the config's `smtp:` section; the login from the environment variables
    KPIREPORT_SMTP_USER and KPIREPORT_SMTP_PASSWORD. Each message is recorded in send-log.jsonl in
    the project's output folder: a rerun sends only what was not delivered, and never a message whose
    delivery is unknown (the connection was lost after it went out) unless given --resend.
    Exit code 1 when a message failed or may not have been delivered; 130 (Ctrl-C) or 143 (SIGTERM)
    when stopped, after saying what was sent.
    """
    from contextlib import ExitStack
    from functools import partial

    from .config import is_address
    from .delivery import (
        LOG_NAME,
        SendLog,
        connect,
        credentials_from_environment,
        deliver,
        interruptible,
        outstanding,
        send_lock,
    )
    from .dryrun import EmlFolder, ReadOnlyLog
    from .mail import prepare

    for option, addresses in (("--to", to), ("--only", only), ("--mark-delivered", mark_delivered)):
        for address in addresses:
            if not is_address(address):
                raise KpiReportError(f"{option} {address!r}: not an e-mail address",
                                     hint="give a bare address, e.g. claire@example.com")
    settings, data, month = _review_month(config, data_files, month, skip_bad_rows)
    if per == "owner":
        _warn(_ownerless(settings))
    output_dir = output_dir or settings.output
    if mark_delivered:
        if dry_run or resend or to or only:
            raise KpiReportError("--mark-delivered records deliveries and sends nothing: it goes without --dry-run, "
                                 "--resend, --to or --only",
                                 hint=f"kpireport send {config} --month {month} --mark-delivered ADDR")
        _mark_delivered(mark_delivered, output_dir, month)
        return
    credentials = None if dry_run else credentials_from_environment()
    logs: list[SendLog] = []
    to_send: int | None = None  # the messages this run is to send, once known

    def start() -> None:  # once the recipients are known, before any PDF is written
        stack.enter_context(send_lock(output_dir))  # one send at a time per send log
        logs.append(SendLog(output_dir / LOG_NAME))  # a damaged log stops the send before the rendering
        _warn(logs[0].warnings)

    with ExitStack() as stack:
        stack.enter_context(_reported_if_interrupted(logs, lambda: to_send))
        stack.enter_context(interruptible())  # from here SIGTERM stops the send as Ctrl-C does
        messages = prepare(settings, data.values, month, per=per, to=list(to), output_dir=output_dir,
                           template_dir=template_dir, notes=data.review_notes(settings.locale),
                           partial=data.partial, rows=data.rows, before_writing=None if dry_run else start,
                           progress=lambda documents, jobs: _progress(documents, jobs, done=None))
        if only:
            wanted = {address.lower() for address in only}
            unknown = sorted(wanted - {m.recipient.address.lower() for m in messages})
            if unknown:
                raise KpiReportError(f"--only {', '.join(unknown)}: no message of {month} goes to this address",
                                     file=str(config), hint="the recipients are: " + ", ".join(
                                         dict.fromkeys(m.recipient.address for m in messages)))
            messages = [m for m in messages if m.recipient.address.lower() in wanted]
        options = {"resend": resend, "partial": data.partial.get(month)}
        if dry_run:  # the same batch, the log deciding alike: files for what a real run would send
            log = ReadOnlyLog(output_dir / LOG_NAME)
            _warn(log.warnings)
            opener = folder = EmlFolder(messages, dry_run)
        else:
            log, opener = logs[0], partial(connect, settings.smtp, credentials)
            to_send = outstanding(messages, log, **options)
        counts = {"sent": 0, "skipped": 0, "failed": 0, "refused": 0, "unknown": 0}
        for status, outgoing, detail in deliver(messages, log, opener, **options):  # type: ignore[arg-type]
            counts[status] += 1
            if dry_run and status == "sent":
                click.echo(f"wrote {folder.path(outgoing)} (to {outgoing.recipient.address})")
                continue
            shown = "failed" if status == "refused" else status  # refused for good: said in the advice below
            line = f"{shown}: {outgoing.document.name} to {outgoing.recipient.address}"
            if status == "unknown":
                detail += (f"; check with the recipient, then: kpireport send {config} --month {month} --resend "
                           f"--only {outgoing.recipient.address} (not received) or --mark-delivered "
                           f"{outgoing.recipient.address} (received)")
            click.echo(f"{line} — {detail}" if detail else line, err=shown in ("failed", "unknown"))
    if dry_run:
        click.echo(f"dry run: {counts['sent']} written, nothing sent; {counts['skipped']} already sent, "
                   f"{counts['unknown']} unknown (log: {log.path})" if log.entries else
                   f"dry run: {counts['sent']} written, nothing sent")
        return
    click.echo(f"{counts['sent']} sent, {counts['skipped']} already sent, {counts['failed'] + counts['refused']} "
               f"failed, {counts['unknown']} unknown{_log_named(log)}")
    if counts["failed"]:
        click.echo("run the same command again to send what failed: what was delivered is not sent twice", err=True)
    if counts["refused"]:
        click.echo(f"the server refused {counted(counts['refused'], 'message')} for good (5xx): fix what its reply "
                   "names (the address in the config, the sender, the content), then run the same command again; "
                   "before that, a rerun is refused again", err=True)
    if counts["unknown"]:
        click.echo(UNKNOWN_ADVICE, err=True)
    if counts["failed"] or counts["refused"] or counts["unknown"]:
        sys.exit(1)


def _mark_delivered(addresses: tuple[str, ...], output_dir: Path, month: Month) -> None:
    """send --mark-delivered: each message of the month to these addresses logged `unknown` becomes `sent`,
    with nothing sent; an address without one is an error before anything is written."""
    from .delivery import LOG_NAME, SendLog, send_lock

    with send_lock(output_dir):
        log = SendLog(output_dir / LOG_NAME)
        _warn(log.warnings)
        unknown = {address: log.unknown(str(month), address) for address in addresses}
        nothing = [address for address, entries in unknown.items() if not entries]
        if nothing:
            raise KpiReportError(f"--mark-delivered {', '.join(nothing)}: no message of {month} to this address is "
                                 "unknown", file=str(log.path),
                                 hint="only a message logged `unknown` (its reply was lost) can be marked delivered; "
                                      "a send lists them as 'unknown: …'")
        for entry in (entry for entries in unknown.values() for entry in entries):
            log.mark_delivered(entry)
            click.echo(f"marked delivered: {entry['document']} to {entry['recipient']} (unknown since "
                       f"{entry.get('time', '?')}); nothing was sent")


def _log_named(log: SendLog) -> str:
    """Where the send log is, for a summary: only once it holds a record (a run that reached no server wrote none)."""
    return f" (log: {log.path})" if log.entries else ""


UNKNOWN_ADVICE = ("the reply to a message that went out whole was lost or not waited for, so it may have been "
                  "delivered: a rerun does not send it again (SMTP cannot tell); check with the recipient, then "
                  "--resend --only ADDR if it did not arrive, or --mark-delivered ADDR if it did")


@contextmanager
def _reported_if_interrupted(logs: list[SendLog], to_send: Callable[[], int | None]) -> Iterator[None]:
    """A send stopped by Ctrl-C or SIGTERM says what this run's log lines say went out, and what did not,
    then exits with 128 + the signal's number (130, 143), as a shell reports a command it stopped."""
    import signal

    try:
        yield
    except KeyboardInterrupt as stop:
        statuses = [entry["status"] for log in logs for entry in log.entries[log.loaded:]]
        sent, unknown, tried = statuses.count("sent"), statuses.count("unknown"), to_send()
        if tried is None:  # stopped while rendering the PDFs: no message was tried
            told = ["nothing was sent"]
        else:
            told = [f"{sent} sent", *[f"{unknown} may have been delivered (unknown)"] * bool(unknown),
                    f"{tried - sent - unknown} not sent"]
        where = _log_named(logs[0]) if logs else ""
        click.echo(f"interrupted: {', '.join(told)}{where}", err=True)
        if unknown:
            click.echo(UNKNOWN_ADVICE, err=True)
        sys.exit(128 + getattr(stop, "signal_number", signal.SIGINT))
