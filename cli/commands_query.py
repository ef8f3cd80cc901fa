"""``xasrepo query``, ``xasrepo sql`` and ``xasrepo fields``: thin wrappers over :mod:`repository.query`."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import DbOption, FormatOption, app
from .output import OutputFormat, render_rows, visible

FILTER_HELP = ('Filter, e.g. \'element = B and polymorph = "h-BN" and defect.name = v_N and '
               'absorber.defect_distance < 3\' (see `xasrepo fields`; empty: every spectrum).')


@app.command("query")
def query(
    filter_text: Annotated[str, typer.Argument(metavar="FILTER", help=FILTER_HELP)] = "",
    db: DbOption = None,
    fmt: FormatOption = OutputFormat.table,
    limit: Annotated[int, typer.Option("--limit", help="At most this many rows (0: all).")] = 0,
    sort: Annotated[str | None, typer.Option("--sort", help="FIELD[:desc], comma separated.")] = None,
    columns: Annotated[str | None, typer.Option(
        "--columns", help="Fields to show, comma separated ('*': all; default: key fields + filtered ones).")] = None,
) -> None:
    """Spectra whose structure, defect, calculation or descriptors match FILTER."""
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository.query import count_spectra, no_match_hints, parse_filter, query_spectra, spectrum_ids
    from repository.query.light import close, connect_read_only
    from repository.query.search import resolve_columns

    flt = parse_filter(filter_text) if filter_text.strip() else None
    engine = connect_read_only(db)
    try:
        if fmt is OutputFormat.ids:
            ids = spectrum_ids(engine, flt, sort=sort, limit=limit or None)
            typer.echo("\n".join(map(str, ids)) if ids else "", nl=bool(ids))
            hints = [] if ids else no_match_hints(engine, flt)
        else:
            rows = query_spectra(engine, flt, columns=columns, sort=sort, limit=limit or None)
            hints = [] if rows else no_match_hints(engine, flt)
            # a table's title says how many match; a full page may be the first of more: count them
            total = count_spectra(engine, flt) if fmt is OutputFormat.table and limit and len(rows) == limit \
                else len(rows)
    finally:
        close(engine)
    if hints:  # on stderr: piped output stays clean; no match is not an error (exit code 0)
        typer.echo(visible("no rows match; " + "; ".join(hints)), err=True)
    if fmt is OutputFormat.ids or (hints and fmt is OutputFormat.table):
        return
    # JSON (a list of rows) and CSV (a header of column names) have no place for the total: unchanged
    render_rows(rows, fmt, id_column="spectrum_id",
                title=_title(len(rows), total) if fmt is OutputFormat.table else None,
                columns=[spec.name for spec in resolve_columns(columns, flt, sort)])


def _title(shown: int, total: int) -> str:
    """The query table's title: "95 spectra", or "showing 3 of 95 spectra" when --limit cut it."""
    noun = f"spectr{'um' if total == 1 else 'a'}"
    return f"showing {shown} of {total} {noun}" if total > shown else f"{total} {noun}"


def _unique_names(columns: list[str]) -> list[str]:
    names, seen = [], {}
    for name in columns:
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return names


@app.command("sql")
def sql(
    statement: Annotated[str, typer.Argument(metavar="SQL", help='One read-only statement, e.g. '
                                             '"SELECT defect_name, count(*) FROM spectrum_overview GROUP BY 1".')],
    db: DbOption = None,
    fmt: FormatOption = OutputFormat.table,
    snapshot: Annotated[list[str] | None, typer.Option(
        "--snapshot", help="NAME=FILE.parquet: run the SQL with DuckDB over these snapshot files "
                           "(tables NAME, and the view `snapshots` with them all). Repeatable.")] = None,
    snapshots: Annotated[bool, typer.Option(
        "--snapshots", help="Run the SQL with DuckDB over every snapshot registered in the database.")] = False,
    timeout: Annotated[float, typer.Option(
        "--timeout", help="Cancel the statement after this many seconds (0: no limit).", min=0)] = 60.0,
) -> None:
    """Run one read-only SQL statement (views: spectrum_overview, snapshot_points; see docs/sql.md).

    Rows are printed as they arrive (CSV, JSON, ids); Ctrl-C or --timeout cancels the statement, on a database server too.
    """
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository.errors import UsageError
    from repository.query.readonly import open_sql
    from repository.snapshots.parquet import open_snapshot_sql

    from .output import render_stream

    if snapshot or snapshots:
        sources: dict[str, str] = {}
        if snapshots:
            # lazy import: start-up time (`xasrepo --help` must not load the library)
            from repository import db as database
            from repository.snapshots.registry import registered_snapshots

            with database.connected(db, read_only=True) as engine:
                sources.update(registered_snapshots(engine))
        for item in snapshot or []:
            name, sep, path = item.partition("=")
            if not sep or not name or not path:
                raise UsageError(f"--snapshot {item!r}: expected NAME=FILE.parquet")
            sources[name] = path
        opened = open_snapshot_sql(sources, statement, timeout_s=timeout)
    else:
        opened = open_sql(db, statement, timeout_s=timeout)
    with opened as result:
        render_stream(_unique_names(result.columns), result.batches(), fmt)


@app.command("fields")
def fields(db: DbOption = None, fmt: FormatOption = OutputFormat.table) -> None:
    """The fields a query filter may use, with their types, aliases, units and (when the database
    exists) examples of the text values in it."""
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository import db as database
    from repository.query import describe_fields
    from repository.query.light import close, connect_read_only

    path = database.sqlite_path(database.resolve_url(db))
    engine = None if (db is None and path is not None and not path.exists()) else connect_read_only(db)
    try:
        rows = describe_fields(engine)
    finally:
        if engine is not None:
            close(engine)
    render_rows(rows, fmt, id_column="field")
