"""What every command module shares: the app, the error handling group, common options, progress."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from repository.errors import XasrepoError

from .output import OutputFormat

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
    "--db", help="Database file or SQLAlchemy URL (env XASREPO_DB; default ./xasrepo.db).",
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
