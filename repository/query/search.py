"""Running filters against the ``spectrum_overview`` view."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..conventions import did_you_mean
from ..errors import UsageError
from .fields import FIELD_INDEX, FIELDS, FieldSpec, FieldType
from .light import close, connect_read_only
from .parser import FilterError, parse_filter, resolve_field
from .sql import order_by_sql, parse_sort, where_sql
from .terms import And, CompareOp, Comparison, Filter, Membership, Or, Term

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

OVERVIEW_VIEW = "spectrum_overview"
# Shown by default by `xasrepo query` (plus the fields the filter and sort name).
DEFAULT_COLUMNS = ("spectrum_id", "reduced_formula", "polymorph", "crystal_system", "defect_name",
                   "absorbing_element", "edge", "spectrum_type", "polarization", "absorber_site_index",
                   "absorber_cn", "absorber_defect_distance_a", "calculation_set")


def _as_filter(where: str | Filter | None) -> Filter | None:
    if where is None or isinstance(where, Filter):
        return where
    if not str(where).strip():
        return None
    return parse_filter(where)


def _dialect(engine) -> str:
    if isinstance(engine, sqlite3.Connection):
        return "sqlite"
    name = engine.dialect.name
    return "postgresql" if name.startswith("postgres") else "sqlite"


def _execute(engine, sql: str, params: dict[str, Any]) -> tuple[list[str], list[tuple]]:
    """Run ``sql`` (``:name`` parameters) on an Engine or a stdlib sqlite3 connection."""
    if isinstance(engine, sqlite3.Connection):
        cursor = engine.execute(sql, params)
        return [d[0] for d in cursor.description], cursor.fetchall()
    # lazy import: start-up time (the light sqlite3 read path loads this module without SQLAlchemy)
    from sqlalchemy import text

    with engine.connect() as conn:
        result = conn.execute(text(sql), params)
        return list(result.keys()), [tuple(row) for row in result]


@contextlib.contextmanager
def _opened(engine_or_db) -> Iterator[Any]:
    """The engine / sqlite3 connection given, or (for a ``--db`` value: path, URL, or None for
    ``$XASREPO_DB`` / the default) a read-only one opened for the call and closed after it."""
    if engine_or_db is None or isinstance(engine_or_db, (str, os.PathLike)):
        conn = connect_read_only(engine_or_db)
        try:
            yield conn
        finally:
            close(conn)
        return
    if not (isinstance(engine_or_db, sqlite3.Connection) or hasattr(engine_or_db, "dialect")):
        raise UsageError(f"expected an engine, an sqlite3 connection or a database path/URL, "
                         f"got {type(engine_or_db).__name__}")
    yield engine_or_db


def _limit_sql(limit: int | None) -> str:
    if limit is None:
        return ""
    value = int(limit)
    if value < 0:
        raise FilterError(f"limit must be 0 or more, got {value}")
    return f" LIMIT {value}"


def spectrum_ids(engine: Engine | sqlite3.Connection | str | os.PathLike | None, where: str | Filter | None, *, sort: str | None = None,
                 limit: int | None = None) -> list[int]:
    """Ids of the spectra matching the filter ``where`` (all spectra for None or ""), in sort order.

    ``sort`` is ``FIELD[:asc|:desc]``, comma separated for several keys; ties and the default
    order go by spectrum id. ``engine`` is an SQLAlchemy engine or a stdlib ``sqlite3`` connection
    (see :func:`repository.query.light.connect_read_only`), or a ``--db`` value (path, URL; None:
    ``$XASREPO_DB`` / the default) opened read-only for the call. Raises :class:`~repository.query.parser.FilterError` for a bad filter.

    >>> spectrum_ids(engine, 'element = B and defect.name = v_N and absorber.defect_distance < 3')
    """
    flt = _as_filter(where)
    order = parse_sort(sort)
    limit_sql = _limit_sql(limit)
    with _opened(engine) as conn:
        dialect = _dialect(conn)
        clause, params = where_sql(flt, dialect)
        sql = f"SELECT spectrum_id FROM {OVERVIEW_VIEW} WHERE {clause} {order_by_sql(order, dialect)}{limit_sql}"
        return [row[0] for row in _execute(conn, sql, params)[1]]


def count_spectra(engine: Engine | sqlite3.Connection | str | os.PathLike | None, where: str | Filter | None) -> int:
    """How many spectra match the filter ``where`` (all spectra for None or ""): what
    :func:`spectrum_ids` and :func:`query_spectra` return without a limit, counted by the database
    with the same WHERE clause and bound values (one statement)."""
    flt = _as_filter(where)
    with _opened(engine) as conn:
        clause, params = where_sql(flt, _dialect(conn))
        return int(_execute(conn, f"SELECT COUNT(*) FROM {OVERVIEW_VIEW} WHERE {clause}", params)[1][0][0])


def resolve_columns(columns: Sequence[str] | str | None, flt: Filter | None = None,
                    sort: str | None = None) -> tuple[FieldSpec, ...]:
    """The fields to return: ``columns`` (names or aliases; ``"*"`` for every field), or the default
    columns plus whatever the filter and the sort mention."""
    if isinstance(columns, str):
        columns = [c.strip() for c in columns.split(",") if c.strip()]
    if columns and list(columns) == ["*"]:
        return FIELDS
    if columns:
        specs = [resolve_field(c) for c in columns]
    else:
        specs = [FIELD_INDEX[c] for c in DEFAULT_COLUMNS]
        specs += list(flt.fields) if flt else []
        specs += [key.field for key in parse_sort(sort)]
    unique: dict[str, FieldSpec] = {}
    for spec in specs:
        unique.setdefault(spec.name, spec)
    return tuple(unique.values())


def query_spectra(engine: Engine | sqlite3.Connection | str | os.PathLike | None, where: str | Filter | None, *, columns: Sequence[str] | str | None = None,
                  sort: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Overview rows (dicts keyed by canonical field name) of the spectra matching ``where``.

    ``columns`` are field names or aliases (default: :data:`DEFAULT_COLUMNS` plus the fields the
    filter and sort use; ``"*"``: all fields).
    """
    flt = _as_filter(where)
    specs = resolve_columns(columns, flt, sort)
    order = parse_sort(sort)
    limit_sql = _limit_sql(limit)
    select = ", ".join(spec.column if spec.column == spec.name else f"{spec.column} AS {spec.name}" for spec in specs)
    with _opened(engine) as conn:
        dialect = _dialect(conn)
        clause, params = where_sql(flt, dialect)
        sql = f"SELECT {select} FROM {OVERVIEW_VIEW} WHERE {clause} {order_by_sql(order, dialect)}{limit_sql}"
        names, rows = _execute(conn, sql, params)
    return [dict(zip(names, row)) for row in rows]


# no_match_hints lists at most this many of a field's values
HINT_VALUES = 10
# Values of these fields come from their own table (a set's spectra may all show an earlier set's name
# in the overview column: see repository.query.sql, "set membership").
HINT_VALUE_SQL = {"calculation_set": "SELECT DISTINCT name FROM calculation_set WHERE name IS NOT NULL ORDER BY 1"}


def _wanted_values(term: Term):
    """(field, value) of every ``field = value`` / ``field in (...)`` on a categorical field that the
    filter requires (reached through and/or only, never under a ``not`` or ``!=``)."""
    if isinstance(term, (And, Or)):
        for sub in term.terms:
            yield from _wanted_values(sub)
    elif isinstance(term, Comparison) and term.op is CompareOp.eq and term.field.categorical:
        yield term.field, term.value
    elif isinstance(term, Membership) and not term.negated and term.field.categorical:
        for value in term.values:
            yield term.field, value


def no_match_hints(engine: Engine | sqlite3.Connection | str | os.PathLike | None, where: str | Filter | None
                   ) -> list[str]:
    """Why a filter may have matched nothing: one line for each value it asks a categorical field
    (:attr:`FieldSpec.categorical`: edge, element, polymorph, defect name, crystal system...) to
    equal that no spectrum holds, with the closest value (difflib, case-insensitive) and the
    field's values, e.g. ``polymorph has no value "hBN" here (did you mean "h-BN"? values: c-BN,
    h-BN, w-BN)``. Empty when every such value is present (the combination is what matches
    nothing). Values are read with bound SQL from the allowlisted column only."""
    flt = _as_filter(where)
    if flt is None:
        return []
    wanted = list(dict.fromkeys(_wanted_values(flt.term)))
    if not wanted:
        return []
    hints, known = [], {}
    with _opened(engine) as conn:
        for spec, value in wanted:
            if spec.name not in known:
                sql = HINT_VALUE_SQL.get(spec.name) or (
                    f"SELECT DISTINCT {spec.column} FROM {OVERVIEW_VIEW} WHERE {spec.column} IS NOT NULL ORDER BY 1")
                known[spec.name] = [str(row[0]) for row in _execute(conn, sql, {})[1]]
            values = known[spec.name]
            if str(value) in values:
                continue
            same_case = [v for v in values if v.lower() == str(value).lower()]
            guess = same_case[0] if same_case else did_you_mean(str(value), values)
            listed = ", ".join(values[:HINT_VALUES]) + (f", ... ({len(values)} in all)" if len(values) > HINT_VALUES else "")
            hint = f"did you mean \"{guess}\"? " if guess else ""
            hints.append(f"{spec.name} has no value \"{value}\" here ({hint}values: {listed or 'none'})")
    return hints


def describe_fields(engine=None, *, examples: int = 5) -> list[dict[str, Any]]:
    """One row per filter field: name, type, aliases, unit and a short help text; with an engine
    (or sqlite3 connection), also up to ``examples`` distinct values of each text field."""
    rows = []
    for spec in FIELDS:
        row = {"field": spec.name, "type": spec.type.value, "aliases": ", ".join(spec.aliases),
               "unit": spec.unit or "", "help": spec.help}
        if engine is not None:
            values = []
            if spec.type is not FieldType.number and not spec.name.endswith("_id") and \
                    spec.name not in ("source_file", "relaxation"):
                sql = (f"SELECT DISTINCT {spec.column} FROM {OVERVIEW_VIEW} WHERE {spec.column} IS NOT NULL "
                       f"ORDER BY {spec.column} LIMIT {int(examples) + 1}")
                values = [str(v[0]) for v in _execute(engine, sql, {})[1]]
            shown = ", ".join(values[:examples]) + (", ..." if len(values) > examples else "")
            row["values"] = shown
        rows.append(row)
    return rows
