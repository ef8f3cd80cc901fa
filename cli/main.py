"""The ``xasrepo`` command line.

Each command parses its options, calls one documented library function and prints the result.
Library errors (:class:`repository.errors.XasrepoError`) become a one-line message on stderr and
the error's exit code here, in one place (:class:`XasrepoGroup`). Heavy modules are imported
inside commands so ``xasrepo --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from repository.errors import XasrepoError

from .output import OutputFormat, render_record, render_rows

TRACEBACK_ENV = "XASREPO_TRACEBACK"


class XasrepoGroup(TyperGroup):
    """Turns library errors into `error: ...` + exit code, with no traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except XasrepoError as err:
            if os.environ.get(TRACEBACK_ENV):
                raise
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(err.exit_code) from None


app = typer.Typer(
    cls=XasrepoGroup,
    help="xasrepo: a database-backed repository for X-ray absorption spectra (energies in eV).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

DbOption = Annotated[Optional[str], typer.Option(
    "--db", help="Database file or SQLAlchemy URL [env XASREPO_DB; default ./xasrepo.db].",
    show_default=False)]
FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]


def _progress(description: str):
    """A rich progress bar on stderr, returned as (context manager, callback(done, total))."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=Console(stderr=True), transient=True, disable=not sys.stderr.isatty())
    task = progress.add_task(description, total=None)

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    return progress, update


@app.command()
def init(db: DbOption = None) -> None:
    """Create the database, or upgrade it to this version's schema."""
    from repository import db as database

    before, after = database.upgrade(db)
    where = database.describe(database.resolve_url(db))
    if before == after:
        typer.echo(f"database {where} is up to date (schema {after})")
    elif before is None:
        typer.echo(f"created database {where} (schema {after})")
    else:
        typer.echo(f"upgraded database {where} from schema {before} to {after}")


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="A calculation-set directory (with calcset.toml).")],
    db: DbOption = None,
) -> None:
    """Import a calculation set: validate everything first, then write it in one transaction."""
    from repository import db as database
    from repository.calcset import read_calcset
    from repository.importer import import_calcset

    engine = database.connect(db)
    progress, update = _progress(f"reading {path}")
    with progress:
        plan = read_calcset(path, progress=update)
        progress.update(progress.task_ids[0], description="writing", completed=0)
        summary = import_calcset(engine, plan, progress=update)
    engine.dispose()
    if not summary.changed:
        typer.echo(f"set {summary.name!r} is already imported: nothing changed ({summary.entries_skipped} entries)")
        return
    verb = "imported" if summary.status == "imported" else "extended"
    typer.echo(
        f"{verb} set {summary.name!r}: {summary.entries_new} entries, {summary.spectra_new} spectra "
        f"({summary.spectra_existing} already present), {summary.structures_new} new structures, "
        f"{summary.dos_new} DOS curves, {summary.descriptors_new} descriptors"
        + (f"; {summary.entries_skipped} entries were already there" if summary.entries_skipped else ""))


@app.command("list")
def list_(
    db: DbOption = None,
    element: Annotated[Optional[str], typer.Option(help="Absorbing element, e.g. B.")] = None,
    edge: Annotated[Optional[str], typer.Option(help="Edge, e.g. K.")] = None,
    origin: Annotated[Optional[str], typer.Option(help="computed or experimental.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows (0: all).")] = 50,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """List spectra with their structure, defect and calculation set."""
    from repository import catalog
    from repository import db as database

    engine = database.connect(db, read_only=True)
    rows = catalog.list_spectra(engine, element=element, edge=edge, origin=origin, limit=limit or None)
    render_rows(rows, fmt, id_column="spectrum_id")


@app.command()
def show(
    record_id: Annotated[str, typer.Argument(metavar="ID", help="12 or spectrum:12, structure:3, calculation:5, set:1.")],
    db: DbOption = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="table or json.")] = OutputFormat.table,
) -> None:
    """Show one spectrum (default), structure, calculation or set with its links."""
    from repository import catalog
    from repository import db as database

    engine = database.connect(db, read_only=True)
    kind, record = catalog.get_record(engine, record_id)
    render_record(kind, record, fmt)


def run() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    run()
