"""The ``xasrepo`` command line.

Each command parses its options, calls one documented library function and prints the result.
Library errors (:class:`repository.errors.XasrepoError`) become a one-line message on stderr and
the error's exit code in one place (:class:`cli.common.XasrepoGroup`). Heavy modules are imported
inside commands so ``xasrepo --help`` stays fast. Command groups live in their own modules and
register themselves on :data:`cli.common.app` when imported below.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from typing import Annotated, Optional

import typer

from .common import DbOption, FormatOption, RecordFormatOption, app, edge_option, element_option
from .output import OutputFormat, RecordFormat, render_record, render_rows


@app.command()
def init(
    db: DbOption = None,
    analyst_role: Annotated[Optional[str], typer.Option(
        "--analyst-role", metavar="NAME",
        help="PostgreSQL: also create the role NAME that can only read (SELECT on the tables and views), "
             "for `xasrepo sql`.")] = None,
    analyst_password: Annotated[Optional[str], typer.Option(
        "--analyst-password", help="Password of the analyst role.")] = None,
) -> None:
    """Create the database, or upgrade it to this version's schema."""
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository import db as database
    from repository.errors import UsageError

    if analyst_password is not None and analyst_role is None:
        raise UsageError("--analyst-password needs --analyst-role NAME")
    before, after = database.upgrade(db)
    where = database.describe(database.resolve_url(db))
    if before == after:
        typer.echo(f"database {where} is up to date (schema {after})")
    elif before is None:
        typer.echo(f"created database {where} (schema {after})")
    else:
        typer.echo(f"upgraded database {where} from schema {before} to {after}")
    if analyst_role:
        url = database.create_analyst_role(db, analyst_role, analyst_password)
        typer.echo(f"analyst role {analyst_role} can read the tables and views and nothing else; "
                   f"for `xasrepo sql` use --db {database.describe(url)}")


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
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository import catalog
    from repository import db as database

    element, edge = element_option(element), edge_option(edge)
    with database.connected(db, read_only=True) as engine:
        rows = catalog.list_spectra(engine, element=element, edge=edge, origin=origin, limit=limit or None)
        total = catalog.count_spectra(engine, element=element, edge=edge, origin=origin) \
            if limit and len(rows) == limit else len(rows)
    render_rows(rows, fmt, id_column="spectrum_id", columns=catalog.LIST_COLUMNS)
    if total > len(rows):  # on stderr, so that piped CSV/JSON/ids stay clean
        typer.echo(f"showing {len(rows)} of {total} spectra (--limit 0 for all)", err=True)


@app.command()
def show(
    record_id: Annotated[str, typer.Argument(metavar="ID", help="12 or spectrum:12, structure:3, calculation:5, set:1.")],
    db: DbOption = None,
    fmt: RecordFormatOption = RecordFormat.table,
) -> None:
    """Show one spectrum (default), structure, calculation or set with its links."""
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository import catalog
    from repository import db as database

    with database.connected(db, read_only=True) as engine:
        kind, record = catalog.get_record(engine, record_id)
    render_record(kind, record, fmt)


def _register_command_modules() -> None:
    """Import the command modules so they add their commands to ``app``."""
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    import cli

    for module in pkgutil.iter_modules(cli.__path__):
        if module.name.startswith("commands_"):
            importlib.import_module(f"cli.{module.name}")


_register_command_modules()


def app_for(args: list[str]) -> typer.Typer:
    """The app to run for the command line ``args``: for a known command, an app holding only that
    command (typer converts every registered command's options into click parameters when it
    starts, ~35 ms of CPU for all 22 of them, a seventh of a fresh ``xasrepo query``); else ``app``.

    Same settings, the same command objects: the command's behaviour, options and help are those
    of the full app (tests/test_lazy_imports.py compares every command's help).
    """
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from typer.main import get_command_name
    from typer.models import TyperInfo

    if not args or args[0].startswith("-"):  # `xasrepo`, `xasrepo --help`
        return app
    name = args[0]
    commands = [c for c in app.registered_commands if (c.name or get_command_name(c.callback.__name__)) == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if len(commands) + len(groups) != 1:  # unknown: the full app says so, listing the commands
        return app
    only = typer.Typer(cls=app.info.cls, help=app.info.help,
                       no_args_is_help=app.info.no_args_is_help, pretty_exceptions_enable=app.pretty_exceptions_enable,
                       add_completion=False)
    only.registered_commands = commands
    only.registered_groups = groups
    only.registered_callback = app.registered_callback or TyperInfo(callback=_group)  # a group, as in `app`
    return only


def _group() -> None:
    """xasrepo: a database-backed repository for X-ray absorption spectra (energies in eV)."""


def _print_version(value: bool) -> None:
    if value:
        # lazy import: start-up time (`xasrepo --help` must not load the library)
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"xasrepo {version('xasrepo')}")
        except PackageNotFoundError:   # run from a checkout that was never installed
            typer.echo("xasrepo (not installed: no version recorded)")
        raise typer.Exit(0)


@app.callback()
def _main(version: Annotated[bool, typer.Option(
        "--version", help="Print the installed version and exit.", is_eager=True,
        callback=_print_version)] = False) -> None:
    """xasrepo: a database-backed repository for X-ray absorption spectra (energies in eV)."""


def run() -> None:
    """Console entry point."""
    app_for(sys.argv[1:])()


if __name__ == "__main__":  # pragma: no cover
    run()
