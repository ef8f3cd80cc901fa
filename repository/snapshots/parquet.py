"""Queries over snapshot Parquet files: filters and SQL with DuckDB (no extension needed).

Snapshot files hold one row per spectrum: ``spectrum_id``, ``x``, ``y`` (``z`` for 3-D) and
denormalised ``spectrum_overview`` columns (reduced_formula, crystal_system, defect_name, ...).
The filter grammar is the same as for :func:`repository.query.spectrum_ids`; a field that the
snapshot has no column for is refused, with the list of the fields it does have.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError, UsageError
from ..query.fields import FIELDS, SNAPSHOT_FIELD_INDEX, SNAPSHOT_FIELDS, FieldSpec, not_a_snapshot_column
from ..query.parser import FilterError, parse_filter
from ..query.cancel import Deadline, call_cancellable
from ..query.readonly import DEFAULT_SQL_TIMEOUT_S, FETCH_BATCH_ROWS, ReadOnlyViolation, SqlResult, check_read_only
from ..query.sql import order_by_sql, parse_sort, where_sql
from ..query.terms import Filter
from .files import parquet_problem

SNAPSHOTS_VIEW = "snapshots"  # every snapshot file, unioned by column name, with a `snapshot` column
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # validates names, never parses the filter


def _duckdb():
    # lazy import: start-up time (DuckDB is heavy; only this path needs it)
    import duckdb

    return duckdb.connect(":memory:")


def _load(table_or_path):
    """A pyarrow Table from a table, a pandas DataFrame or a Parquet path."""
    # lazy import: start-up time (pyarrow is heavy; only this path needs it)
    import pyarrow as pa

    if isinstance(table_or_path, (str, os.PathLike)):
        # lazy import: start-up time (pyarrow is heavy; only this path needs it)
        import pyarrow.parquet as pq

        path = Path(table_or_path)
        if not path.exists():
            raise UsageError(f"snapshot file {path} does not exist")
        if not path.is_file():
            raise InputError(path, "not a Parquet file (a folder or special file)")
        try:
            return pq.ParquetFile(path).read()
        except (pa.ArrowException, OSError, ValueError) as err:
            raise InputError(path, f"not a readable Parquet file ({parquet_problem(err, path)})") from None
    if isinstance(table_or_path, pa.Table):
        return table_or_path
    if hasattr(table_or_path, "to_parquet"):  # pandas DataFrame
        return pa.Table.from_pandas(table_or_path, preserve_index=False)
    raise TypeError(f"expected a pyarrow Table, pandas DataFrame or Parquet path, got {type(table_or_path).__name__}")


def _available(columns: Sequence[str]) -> tuple[FieldSpec, ...]:
    present = set(columns)
    return tuple(spec for spec in FIELDS + SNAPSHOT_FIELDS if spec.column in present)


def filter_snapshot_rows(table_or_path, where: str | Filter | None, *, sort: str | None = None,
                         limit: int | None = None):
    """Rows of a snapshot (pyarrow Table, pandas DataFrame or Parquet path) matching ``where``.

    Returns a pyarrow Table with the same columns, in snapshot order (or ``sort`` order). Field
    names, aliases and operators are those of :func:`repository.query.parse_filter`, plus the
    coordinates ``x``, ``y``, ``z``. Raises :class:`FilterError` for a field the snapshot lacks.
    """
    table = _load(table_or_path)
    fields = _available(table.column_names)
    flt = where if isinstance(where, Filter) else (
        parse_filter(where, index=SNAPSHOT_FIELD_INDEX, fields=FIELDS + SNAPSHOT_FIELDS)
        if where and str(where).strip() else None)
    # every spelling of the query language is read; a real field the file has no column for is
    # named as such (repository.query.fields.not_a_snapshot_column), not as an unknown field
    keys = parse_sort(sort, SNAPSHOT_FIELD_INDEX, FIELDS + SNAPSHOT_FIELDS) if sort else ()
    for specs, text in (((flt.fields if flt is not None else ()), where), ([key.field for key in keys], sort)):
        missing = [spec for spec in specs if spec.column not in table.column_names]
        if missing:
            raise FilterError(not_a_snapshot_column(_spelling(missing[0], text), [s.name for s in fields]))
    clause, params = where_sql(flt, "duckdb")
    if keys:
        order = order_by_sql(keys, "duckdb", id_column="__row")
    else:
        order = "ORDER BY __row"
    limit_sql = f" LIMIT {int(limit)}" if limit is not None else ""
    con = _duckdb()
    try:
        con.register("snapshot_rows", table)
        sql = (f"SELECT * EXCLUDE (__row) FROM (SELECT *, row_number() OVER () AS __row FROM snapshot_rows) "
               f"WHERE {clause} {order}{limit_sql}")
        return con.sql(_qmark(sql, params), params=list(params.values())).to_arrow_table()
    finally:
        con.close()


def _spelling(spec: FieldSpec, where) -> str:
    """How the filter or sort text ``where`` spells the field ``spec`` (``host.polymorph``), so that
    an error names what the user wrote; the canonical name when it cannot be told."""
    if isinstance(where, str):
        for name in (spec.name, *spec.aliases):
            found = re.search(rf"(?<![\w.]){re.escape(name)}(?![\w.])", where, re.IGNORECASE)
            if found:
                return found.group(0)
    return spec.name


def _qmark(sql: str, params: dict[str, Any]) -> str:
    """``:p0`` placeholders -> DuckDB's ``$1`` positional ones (names come from our compiler)."""
    for position, name in sorted(enumerate(params, start=1), key=lambda item: -len(item[1])):
        sql = sql.replace(f":{name}", f"${position}")
    return sql


def _table_name(label: str) -> str:
    name = re.sub(r"\W", "_", label)
    return name if name[:1].isalpha() or name[:1] == "_" else f"s_{name}"


def _table_names(snapshots: Mapping[str, Any] | Sequence[Any]) -> dict[str, tuple[str, Any]]:
    """``{table name: (label, source)}``; labels are the given names (or file stems)."""
    if isinstance(snapshots, Mapping):
        labelled = [(str(label), source) for label, source in snapshots.items()]
    else:
        labelled = [(Path(item).stem if isinstance(item, (str, os.PathLike)) else f"t{n}", item)
                    for n, item in enumerate(snapshots)]
    named: dict[str, tuple[str, Any]] = {}
    for label, source in labelled:
        name = _table_name(label)
        if not _TABLE_NAME.match(name) or name.lower() == SNAPSHOTS_VIEW or name in named:
            raise UsageError(f"snapshot name {label!r} gives table {name!r}, which is taken or invalid "
                             f"(use letters, digits and _; not {SNAPSHOTS_VIEW!r})")
        named[name] = (label, source)
    return named


def snapshot_sql(snapshots: Mapping[str, Any] | Sequence[Any], sql: str, *,
                 timeout_s: float | None = DEFAULT_SQL_TIMEOUT_S) -> tuple[list[str], list[tuple]]:
    """Run one read-only SQL statement (DuckDB dialect) over several snapshots together; returns
    ``(column names, rows)``, all held in memory (:func:`open_snapshot_sql` streams them).

    ``snapshots`` maps names (e.g. snapshot uids) to Parquet paths / pyarrow Tables / DataFrames
    (a list of paths is named by file stem). Each is a table named after it (characters other than
    letters, digits and ``_`` become ``_``), and the view ``snapshots`` unions them all by column
    name with a ``snapshot`` column holding the name, e.g.::

        SELECT snapshot, defect_name, avg(x) FROM snapshots GROUP BY ALL

    The data are copied into an in-memory DuckDB database that then has external access
    (files, network) switched off, so the statement can neither change the Parquet files nor
    write anything else. Returns ``(column names, rows)``. Raises :class:`ReadOnlyViolation` for
    a statement that would write or touch files, :class:`UsageError` for any other SQL error or bad
    name, :class:`InputError` for a snapshot that cannot be loaded.
    """
    with open_snapshot_sql(snapshots, sql, timeout_s=timeout_s) as result:
        rows: list[tuple] = []
        for batch in result.batches():
            rows.extend(batch)
        return result.columns, rows


@contextlib.contextmanager
def open_snapshot_sql(snapshots: Mapping[str, Any] | Sequence[Any], sql: str, *,
                      timeout_s: float | None = DEFAULT_SQL_TIMEOUT_S) -> Iterator[SqlResult]:
    """:func:`snapshot_sql` with the rows streamed in batches (:class:`~repository.query.readonly.SqlResult`).

    ``timeout_s`` (None or 0: none) limits the statement, fetching included; past it, or on
    Ctrl-C, DuckDB's ``interrupt()`` cancels it (:class:`~repository.errors.QueryTimeout`,
    :class:`~repository.errors.QueryCancelled`). Raises :class:`ReadOnlyViolation`, :class:`UsageError`
    and :class:`InputError` as :func:`snapshot_sql` does.
    """
    statement = check_read_only(sql, "duckdb")
    named = _table_names(snapshots)
    if not named:
        raise UsageError("no snapshots to query")
    deadline = Deadline(timeout_s)
    con = _duckdb()
    try:
        # lazy import: start-up time (DuckDB is heavy; only this path needs it)
        import duckdb

        for name, (label, source) in named.items():
            con.register("__source", _load(source))
            try:
                # the label is bound, the table name was checked against _TABLE_NAME
                con.execute(f'CREATE TABLE "{name}" AS SELECT CAST($1 AS VARCHAR) AS snapshot, * FROM __source',
                            [label])
            except duckdb.Error as err:  # e.g. a column type DuckDB cannot take
                what = source if isinstance(source, (str, os.PathLike)) else None
                raise InputError(what, f"snapshot {label}: cannot be loaded for SQL ({parquet_problem(err, Path())})"
                                 ) from None
            con.unregister("__source")
        union = " UNION ALL BY NAME ".join(f'SELECT * FROM "{name}"' for name in named)
        try:
            con.execute(f"CREATE VIEW {SNAPSHOTS_VIEW} AS {union}")
        except duckdb.Error as err:  # columns of one name but incompatible types in two snapshots
            raise UsageError(f"snapshots cannot be combined into the view {SNAPSHOTS_VIEW}: "
                             f"{' '.join(str(err).split())}") from None
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")

        def run(call):
            try:
                return call_cancellable(call, con.interrupt, deadline)
            except duckdb.PermissionException as err:  # file or extension access, switched off above
                raise ReadOnlyViolation(f"refused: {' '.join(str(err).split())}") from None
            except duckdb.Error as err:
                text = " ".join(str(err).split())
                if "interrupt" in text.lower() and deadline.expired():
                    raise deadline.error() from None
                if "permission" in text.lower() or "disabled" in text.lower():
                    raise ReadOnlyViolation(f"refused: {text}") from None
                raise UsageError(f"SQL error: {text}") from None

        cursor = run(lambda: con.execute(statement))
        columns = [d[0] for d in cursor.description] if cursor.description else []
        fetch = lambda: [tuple(r) for r in run(lambda: cursor.fetchmany(FETCH_BATCH_ROWS))]  # noqa: E731
        yield SqlResult(columns, fetch(), fetch)
    finally:
        _close(con)


_CLOSE_WAIT_S = 5.0  # how long to wait for DuckDB to let go of an interrupted connection


def _close(con) -> None:
    """Close a DuckDB connection. Right after an ``interrupt()`` (Ctrl-C) DuckDB may still call the
    connection busy for a few milliseconds after the interrupted call returned (measured: one 10 ms
    retry), and closing it then raised instead of ending in the one-line cancellation message."""
    # lazy import: start-up time (DuckDB is heavy; only this path needs it)
    import duckdb

    end = time.monotonic() + _CLOSE_WAIT_S
    while True:
        try:
            con.close()
            return
        except duckdb.Error:
            if time.monotonic() >= end:
                return  # the in-memory database goes with the process; nothing was written
            time.sleep(0.01)
