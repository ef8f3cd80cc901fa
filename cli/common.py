"""What every command module shares: the app, the error handling group, common options, progress."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from repository.conventions import parse_edge, parse_element
from repository.errors import UsageError, XasrepoError

from .output import OutputFormat, RecordFormat, visible

TRACEBACK_ENV = "XASREPO_TRACEBACK"


USAGE_EXIT_CODE = 2


def _usage_line(err) -> str:
    """Click's usage error (bad option value, unknown option...) as one line."""
    message = " ".join(err.format_message().split())
    message = message.replace("Value error, ", "")  # typer's wording for a failed enum conversion
    ctx = getattr(err, "ctx", None)
    command = ctx.command_path if ctx is not None else "xasrepo"
    return visible(f"error: {command}: {message} (see '{command} --help')")


def _is_usage_error(err: BaseException) -> bool:
    # click is vendored inside typer (typer._click), so its UsageError is recognised by shape
    return hasattr(err, "format_message") and getattr(err, "exit_code", None) == USAGE_EXIT_CODE


def plain_help(command) -> None:
    """Render ``command``'s help (and that of every command under it) with click's own formatter.

    Typer's default, rich, keeps the single line breaks of a docstring's later paragraphs (help
    ragged at terminal width) and reads ``[...]`` in help text as markup (``[all: umap, pca, mds]``
    vanished). Click's formatter rewraps every paragraph to the terminal width and keeps a
    paragraph as written only after a ``\\b`` line (click's documented literal block); text is
    printed as given. tests/test_cli_help.py checks every help page at 80 columns.
    """
    command.rich_markup_mode = None
    for sub in getattr(command, "commands", {}).values():
        plain_help(sub)


class XasrepoGroup(TyperGroup):
    """Turns library errors and usage errors into one line `error: ...` + exit code, with no traceback.

    Help is click's plain, reflowed help (:func:`plain_help`) for this group and everything in it,
    whichever typer app built it (``cli.main.app_for`` builds one per command)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        plain_help(self)

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except TyperException as err:  # options of the top-level command itself
            if not _is_usage_error(err):
                raise
            typer.echo(_usage_line(err), err=True)
            sys.exit(USAGE_EXIT_CODE)

    def invoke(self, ctx):
        # lazy import: start-up time (`xasrepo --help` must not load the library; db is stdlib-only at import)
        from repository.db import set_notice_handler

        set_notice_handler(lambda message: typer.echo(visible(f"note: {message}"), err=True))
        try:
            return super().invoke(ctx)
        except XasrepoError as err:
            if os.environ.get(TRACEBACK_ENV):
                raise
            typer.echo(visible(f"error: {err}"), err=True)
            raise typer.Exit(err.exit_code) from None
        except TyperException as err:  # a sub-command's options: raised while its context is made
            if not _is_usage_error(err):
                raise
            typer.echo(_usage_line(err), err=True)
            raise typer.Exit(USAGE_EXIT_CODE) from None
        except Exception as err:  # noqa: BLE001 - mapped to one line, or re-raised
            # Environment faults (full disk, read-only storage, lost server...) as one line; the
            # library decides what counts as one (repository.db.fault_from), anything else is a bug
            # and keeps its traceback.
            # lazy import: start-up time (`xasrepo --help` must not load the library)
            from repository.db import fault_from

            fault = None if os.environ.get(TRACEBACK_ENV) or isinstance(err, (typer.Exit, typer.Abort)) \
                else fault_from(err)
            if fault is None:
                raise
            typer.echo(visible(f"error: {fault}"), err=True)
            raise typer.Exit(fault.exit_code) from None


app = typer.Typer(
    cls=XasrepoGroup,
    help="xasrepo: a database-backed repository for X-ray absorption spectra (energies in eV).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # click's reflowed help: see plain_help
)

DbOption = Annotated[Optional[str], typer.Option(
    "--db", help="Database file or SQLAlchemy URL (env XASREPO_DB; default ./xasrepo.db).",
    show_default=False)]
FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]
RecordFormatOption = Annotated[RecordFormat, typer.Option("--format", "-f", help="table or json.")]


def renamed_option(old: str, new: str, old_value, new_value, default=None):
    """The value of an option renamed from ``old`` to ``new`` (the old spelling is kept, hidden,
    for one release): a one-line note on stderr when the old one is used, refused when both are
    given with different values. ``default`` is the new option's default (given = differs)."""
    if old_value is None or old_value is False:
        return new_value
    if new_value is not None and new_value != default and new_value != old_value:
        raise UsageError(f"{old} (the old spelling of {new}) and {new.split()[0]} {new_value} disagree: "
                         "give one")
    typer.echo(f"note: {old} is deprecated, use {new}", err=True)
    return old_value


def dashed_choice(choices, option: str, renamed: dict[str, str] | None = None):
    """A ``parser`` for a choice option spelled with dashes (``edge-step``; pass
    ``metavar=choice_metavar(choices)``). The library's and the recipes' spelling with underscores
    (``edge_step``, as a recipe JSON or a snapshot record shows it) is accepted silently, the same in
    every command: it names the same choice, and refusing a value copied from a recipe would only
    make the user retype it. Old spellings (``renamed``: old -> new, dashed) are still accepted for
    one release with a one-line note on stderr, as :func:`renamed_option` does for renamed options;
    anything else is a ``BadParameter`` listing the choices."""
    choices = list(choices)
    renamed = renamed or {}

    def parse(given: str) -> str:
        value = given.replace("_", "-")
        if value in renamed:
            typer.echo(f"note: {option} {given} is deprecated, use {option} {renamed[value]}", err=True)
            value = renamed[value]
        if value not in choices:
            raise typer.BadParameter(f"{given!r} is not one of {', '.join(choices)}")
        return value

    return parse


def choice_metavar(choices) -> str:
    """``[a|b|c]``, as click shows a choice option's values."""
    return "[" + "|".join(choices) + "]"


def _progress(description: str):
    """A rich progress bar on stderr, returned as (context manager, callback(done, total))."""
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=Console(stderr=True), transient=True, disable=not sys.stderr.isatty())
    task = progress.add_task(description, total=None)

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    return progress, update


def element_option(value: str | None, flag: str = "--element") -> str | None:
    """An element option's value as :func:`repository.conventions.parse_element` spells it (``b`` ->
    ``B``): the one parse of element symbols, for every command; a UsageError naming ``flag``."""
    if value is None:
        return None
    try:
        return parse_element(value)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def edge_option(value: str | None, flag: str = "--edge") -> str | None:
    """An edge option's value as :func:`repository.conventions.parse_edge` spells it (``k`` -> ``K``):
    the one parse of edge names, for every command; a UsageError naming ``flag``."""
    if value is None:
        return None
    try:
        return parse_edge(value).value
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None
