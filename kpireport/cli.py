"""The `kpireport` command line: parse options, call the library, print. Nothing else lives here.

Heavy modules are imported inside the commands so that `kpireport --help` answers at once.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .errors import KpiReportError

EXIT_BAD_INPUT = 2


class _Group(click.Group):
    """Turns kpireport's own errors into one message and exit code 2 (tracebacks with --verbose)."""

    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except KpiReportError as exc:
            if ctx.meta.get("kpireport.verbose"):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(EXIT_BAD_INPUT)


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
    help="Report each data row that cannot be read (bad date or number) as a warning and go on without it.")


def _warn(lines: list[str]) -> None:
    for line in lines:
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
    from .sources import load_data

    settings = load_config(config)
    data = load_data(settings, data_files, skip_bad_rows=skip_bad_rows)
    _warn(settings.warnings + data.warnings)
    months = sorted({m for series in data.values.values() for m in series})
    span = f", data from {months[0]} to {months[-1]}" if months else ", no data yet"
    click.echo(f"{config}: ok — {len(settings.kpis)} KPIs, {len(settings.inputs)} inputs, "
               f"{len(settings.sources)} sources{span}")


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
    direction. An empty cell means no value.
    """
    from . import engine, export
    from .config import load_config
    from .sources import load_data

    settings = load_config(config)
    data = load_data(settings, data_files, skip_bad_rows=skip_bad_rows)
    _warn(data.warnings)
    results = engine.compute(settings, data.values, [month] if month else None)
    text = export.to_json(results, month) if output_format == "json" else export.to_csv(results, month)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


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
@click.option("--blank", is_flag=True, help="Leave the input cells empty (to publish the template).")
@click.option("--update", is_flag=True, help="Rebuild an existing template, keeping every typed value and note.")
@click.option("--force", is_flag=True, help="Replace an existing workbook, typed values included.")
@_skip_bad_rows
def template(config: Path, output: Path, year: int | None, start, count: int,  # type: ignore[no-untyped-def]
             data_files: tuple[Path, ...], blank: bool, update: bool, force: bool, skip_bad_rows: bool) -> None:
    """Build the Excel KPI tracking template for CONFIG: monthly input cells to fill by hand, every
    KPI as a formula, targets, status colours and a dashboard with charts.

    By default the inputs are pre-filled from the config's sources (and --data) and the period is the
    year of the latest data. An existing workbook holding typed values is never overwritten silently:
    use --update to carry them over, or --force.
    """
    from .config import load_config
    from .sources import load_data
    from .template import write_template
    from .workbook import template_period

    if year is not None and start is not None:
        raise click.UsageError("give --year or --from, not both")
    if update and force:
        raise click.UsageError("give --update or --force, not both")
    settings = load_config(config)
    values: dict = {}
    last = None
    if not blank:
        data = load_data(settings, data_files, skip_bad_rows=skip_bad_rows)
        _warn(data.warnings)
        values = data.values
        last = max((m for series in values.values() for m in series), default=None)
    period = template_period(year, start, count, last)
    outcome = write_template(settings, output, period, values, update=update, force=force)
    _warn([f"not carried over: {line}" for line in outcome.not_carried])
    carried = f", {outcome.carried} typed values and notes carried over" if update else ""
    click.echo(f"wrote {output} — {len(settings.kpis)} KPIs, {len(settings.inputs)} inputs, "
               f"{period[0]} to {period[-1]}, {outcome.filled} input cells filled{carried}")
