"""A read-only connection that avoids importing SQLAlchemy where it can (fast CLI start-up).

For an SQLite database this is a stdlib :class:`sqlite3.Connection` opened with ``mode=ro``
(after the same schema-revision check as :func:`repository.db.connect`); for PostgreSQL it is
a read-only SQLAlchemy engine. :func:`repository.query.spectrum_ids` and
:func:`repository.query.query_spectra` accept either.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ..db import (
    cannot_open,
    check_revision,
    check_sqlite_file,
    connect,
    open_sqlite_read_only,
    resolve_url,
    sqlite_path,
)
from ..errors import SchemaError


def connect_read_only(db: str | None = None) -> Any:
    """``sqlite3.Connection`` (SQLite) or read-only SQLAlchemy ``Engine`` (other backends).

    Raises :class:`SchemaError` for a missing database or one without the expected schema
    revision (naming the command that fixes it), :class:`UsageError` for a file that cannot be
    opened as one."""
    url = resolve_url(db)
    path = sqlite_path(url)
    if path is None:
        return connect(db, read_only=True)
    if not path.exists():
        raise SchemaError(f"database {path} does not exist; run `xasrepo init --db {path}` to create it")
    check_sqlite_file(path)
    try:
        conn = open_sqlite_read_only(path)
    except sqlite3.Error as err:
        raise cannot_open(str(path), err) from None
    try:
        has_schema = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
                                  ).fetchone() is not None
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone() if has_schema else None
    except sqlite3.DatabaseError as err:  # not a database, or a damaged one
        conn.close()
        raise cannot_open(str(path), err) from None
    try:
        check_revision(url, revision[0] if revision else None)
    except SchemaError:
        conn.close()
        raise
    return conn


def close(conn: Any) -> None:
    """Close what :func:`connect_read_only` returned (a ``sqlite3.Connection`` or an ``Engine``)."""
    if isinstance(conn, sqlite3.Connection):
        conn.close()
    else:
        conn.dispose()
