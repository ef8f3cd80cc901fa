"""Read-only SQL for analysts: ``run_sql(db, "SELECT ...")``.

Read-only by construction, in three layers:

1. the statement is scanned (strings, quoted names and comments skipped): exactly one
   statement, starting with SELECT, WITH, VALUES, TABLE, EXPLAIN, SHOW (PostgreSQL) or a
   PRAGMA that only reads; anything else is refused with :class:`ReadOnlyViolation` before the
   database sees it;
2. the connection cannot write: SQLite is opened with ``mode=ro`` and an authorizer that denies
   every action but reading (so ``WITH x AS (...) INSERT ...`` or a writing PRAGMA fail too) and
   every function not on :data:`ALLOWED_SQLITE_FUNCTIONS`; PostgreSQL runs it as a prepared
   statement (one command only) in a ``READ ONLY`` transaction, and only as a role that cannot
   write (:func:`role_problems`: not a superuser, no INSERT/UPDATE/DELETE/TRUNCATE on any table,
   no CREATE on a schema or the database, no membership in the server-file or signalling roles),
   because on PostgreSQL "read-only" means only what the role allows: a superuser's SELECT can
   create replication slots, read server files and terminate other sessions;
3. the transaction is rolled back afterwards.
"""

from __future__ import annotations

import contextlib
import difflib
import itertools
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..db import (
    VIEW_NAMES,
    cannot_open,
    check_revision,
    describe,
    engine_url,
    is_sqlite,
    make_engine,
    resolve_url,
    role_problems,
)
from ..errors import SchemaError, UsageError
from .cancel import Deadline, call_cancellable

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

READ_KEYWORDS = ("SELECT", "WITH", "VALUES", "TABLE", "EXPLAIN", "SHOW", "PRAGMA")
# PRAGMAs that take an argument and still only read (pragma(arg) form).
READING_PRAGMAS_WITH_ARGUMENT = frozenset({
    "table_info", "table_xinfo", "index_info", "index_xinfo", "index_list", "foreign_key_list",
    "foreign_key_check", "integrity_check", "quick_check", "table_list",
})
# Statement keywords that are real SQL (refused as writes); any other first word is likely a typo.
KNOWN_STATEMENTS = frozenset({
    "INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "REPLACE", "CREATE", "DROP", "ALTER", "TRUNCATE",
    "ATTACH", "DETACH", "VACUUM", "ANALYZE", "ANALYSE", "REINDEX", "CLUSTER", "COPY", "GRANT", "REVOKE",
    "BEGIN", "START", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "SET", "RESET", "LOCK",
    "CALL", "DO", "EXECUTE", "PREPARE", "DEALLOCATE", "DISCARD", "LISTEN", "NOTIFY", "UNLISTEN",
    "LOAD", "INSTALL", "FORCE", "CHECKPOINT", "EXPORT", "IMPORT", "COMMENT", "SECURITY", "REFRESH",
    "DECLARE", "FETCH", "MOVE", "CLOSE", "ABORT", "USE", "PIVOT", "UNPIVOT", "DESCRIBE", "SUMMARIZE",
    "FROM",
})
# The SQLite functions `xasrepo sql` allows (https://sqlite.org/lang_corefunc.html, lang_aggfunc,
# windowfunctions, lang_datefunc, lang_mathfunc, json1): an allow-list, so a function that a
# SQLite build or a later version adds (fts3_tokenizer, which installs a tokenizer from a pointer;
# load_extension; readfile/writefile/edit of the shell; sqlite_log, rtree and FTS internals) is
# refused by the authorizer unless it is named here.
ALLOWED_SQLITE_FUNCTIONS = frozenset({
    # core scalar functions
    "abs", "char", "coalesce", "concat", "concat_ws", "format", "glob", "hex", "ifnull", "iif", "instr",
    "length", "like", "likelihood", "likely", "lower", "ltrim", "max", "min", "nullif", "octet_length", "printf",
    "quote", "random", "replace", "round", "rtrim", "sign", "soundex", "sqlite_version", "sqlite_source_id",
    "substr", "substring", "trim", "typeof", "unhex", "unicode", "unlikely", "upper", "->", "->>",
    # aggregates and window functions
    "avg", "count", "group_concat", "string_agg", "sum", "total", "median", "percentile", "percentile_cont",
    "percentile_disc", "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead",
    "first_value", "last_value", "nth_value",
    # date and time
    "date", "time", "datetime", "julianday", "unixepoch", "strftime", "timediff", "current_date",
    "current_time", "current_timestamp",
    # mathematics
    "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "ceil", "ceiling", "cos", "cosh", "degrees",
    "exp", "floor", "ln", "log", "log10", "log2", "mod", "pi", "pow", "power", "radians", "sin", "sinh", "sqrt",
    "tan", "tanh", "trunc",
    # JSON (reading and building values; nothing here writes to the database)
    "json", "jsonb", "json_array", "jsonb_array", "json_array_length", "json_error_position", "json_extract",
    "jsonb_extract", "json_insert", "jsonb_insert", "json_object", "jsonb_object", "json_patch", "jsonb_patch",
    "json_pretty", "json_remove", "jsonb_remove", "json_replace", "jsonb_replace", "json_set", "jsonb_set",
    "json_type", "json_valid", "json_quote", "json_group_array", "jsonb_group_array", "json_group_object",
    "jsonb_group_object", "json_each", "json_tree",
})
ALLOWED_HINT = "xasrepo sql runs read-only queries (SELECT, WITH, VALUES, EXPLAIN, reading PRAGMAs)"


class ReadOnlyViolation(UsageError):
    """A statement that would write (or could not be proven read-only) was refused."""


class WritableRole(ReadOnlyViolation):
    """``xasrepo sql`` on PostgreSQL as a role that can do more than read (a superuser, a writer)."""


def refuse_writable_role(cursor, url: str) -> None:
    """Raise :class:`WritableRole` unless the psycopg ``cursor``'s role can only read
    (:func:`repository.db.role_problems`); the message names the role, what it can do and the
    read-only role to use instead."""
    role, problems = role_problems(cursor)
    if problems:
        where = describe(url)
        raise WritableRole(
            f"refused: PostgreSQL role {role} {'; '.join(problems)}, and a read-only transaction does not stop "
            f"such a role acting on the server; xasrepo sql runs only as a role that can just read: create one with "
            f"`xasrepo init --db {where} --analyst-role NAME` and connect as NAME")


def _scan(sql: str) -> list[tuple[str, str]]:
    """Split ``sql`` into (kind, text) tokens: 'word', 'punct', 'string'; comments dropped."""
    tokens: list[tuple[str, str]] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c.isspace():
            i += 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            if j < 0:
                raise ReadOnlyViolation("unterminated /* comment in the SQL")
            i = j + 2
        elif c in "'\"`[":
            close = {"[": "]"}.get(c, c)
            j = i + 1
            while True:
                j = sql.find(close, j)
                if j < 0:
                    raise ReadOnlyViolation(f"unterminated {c} quote in the SQL")
                if close != "]" and sql.startswith(close * 2, j):
                    j += 2
                    continue
                break
            tokens.append(("string" if c == "'" else "name", sql[i:j + 1]))
            i = j + 1
        elif c == "$":
            # PostgreSQL dollar quoting $tag$...$tag$ (or a $1 placeholder)
            j = i + 1
            while j < n and (sql[j].isalnum() or sql[j] == "_"):
                j += 1
            if j < n and sql[j] == "$":
                tag = sql[i:j + 1]
                end = sql.find(tag, j + 1)
                if end < 0:
                    raise ReadOnlyViolation(f"unterminated {tag} quote in the SQL")
                tokens.append(("string", sql[i:end + len(tag)]))
                i = end + len(tag)
            else:
                tokens.append(("punct", sql[i:j]))
                i = j
        elif c.isalnum() or c == "_":
            j = i
            while j < n and (sql[j].isalnum() or sql[j] == "_"):
                j += 1
            tokens.append(("word", sql[i:j]))
            i = j
        else:
            tokens.append(("punct", c))
            i += 1
    return tokens


def check_read_only(sql: str, dialect: str = "sqlite") -> str:
    """Refuse anything but one reading statement; returns the statement without a trailing ``;``."""
    tokens = _scan(sql)
    while tokens and tokens[-1] == ("punct", ";"):
        tokens.pop()
    if not tokens:
        raise ReadOnlyViolation("empty SQL statement")
    if ("punct", ";") in tokens:
        raise ReadOnlyViolation("one statement at a time: the SQL contains ';' between statements")
    first = next((text for kind, text in tokens if kind == "word"), "")
    keyword = first.upper()
    if keyword not in READ_KEYWORDS or (keyword == "SHOW" and dialect == "sqlite") or \
            (keyword == "PRAGMA" and dialect != "sqlite"):
        what = keyword or tokens[0][1]
        if keyword and keyword not in KNOWN_STATEMENTS and keyword not in READ_KEYWORDS:
            close = difflib.get_close_matches(keyword, READ_KEYWORDS, n=1, cutoff=0.6)
            hint = f" (a typo for {close[0]}?)" if close else ""
            raise ReadOnlyViolation(f"{first!r} does not start a read-only statement{hint}: {ALLOWED_HINT}; "
                                    f"the database was not changed")
        raise ReadOnlyViolation(f"refused {what} statement: {ALLOWED_HINT}; the database was not changed")
    if keyword == "PRAGMA":
        words = [text for kind, text in tokens]
        name = words[1].lower() if len(words) > 1 else ""
        if len(words) > 2 and words[2] == ".":  # schema.pragma
            name = words[3].lower() if len(words) > 3 else ""
        if "=" in words or ("(" in words and name not in READING_PRAGMAS_WITH_ARGUMENT):
            raise ReadOnlyViolation(f"refused writing PRAGMA {name}: {ALLOWED_HINT}; the database was not changed")
    stripped = sql.rstrip()
    while stripped.endswith(";"):
        stripped = stripped[:-1].rstrip()
    return stripped


def _url_of(engine_or_db) -> str:
    if isinstance(engine_or_db, str) or engine_or_db is None or hasattr(engine_or_db, "__fspath__"):
        return resolve_url(engine_or_db)
    return engine_url(engine_or_db)


def _sqlite_authorizer():
    allowed = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_TRANSACTION}
    allowed.add(getattr(sqlite3, "SQLITE_RECURSIVE", 33))

    def authorize(action, arg1, arg2, _db, _trigger):
        if action == sqlite3.SQLITE_FUNCTION:  # arg2: the function's name
            return sqlite3.SQLITE_OK if (arg2 or "").lower() in ALLOWED_SQLITE_FUNCTIONS else sqlite3.SQLITE_DENY
        if action in allowed:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA and (arg2 is None or (arg1 or "").lower() in READING_PRAGMAS_WITH_ARGUMENT):
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY

    return authorize


_MISSING_RELATION = (
    re.compile(r'relation "(?:[^".]+\.)?([^"]+)" does not exist', re.IGNORECASE),  # PostgreSQL
    re.compile(r"no such table: (?:\w+\.)?(\w+)", re.IGNORECASE),  # SQLite
)


def _schema_relations() -> frozenset[str]:
    """Tables and views of the xasrepo schema, from the models (imported only on this error path)."""
    # lazy import: start-up time (the light sqlite3 read path must not load SQLModel)
    from ..models import SQLModel

    return frozenset(SQLModel.metadata.tables) | VIEW_NAMES | {"alembic_version"}


def _missing_schema(text: str, url: str | None) -> Exception | None:
    """SchemaError when the statement failed on a missing xasrepo table/view; else None."""
    if url is None:
        return None
    for pattern in _MISSING_RELATION:
        match = pattern.search(text)
        if match and match.group(1).lower() in _schema_relations():
            where = describe(url)
            return SchemaError(f"database {where} has no xasrepo schema (no {match.group(1)}); "
                               f"run `xasrepo init --db {where}`")
    return None


_DENIED_FUNCTION = re.compile(r"not authorized to use function:?\s*([^\s,;]+)", re.IGNORECASE)


def _refusal(err: Exception, url: str | None = None) -> Exception:
    text = " ".join(str(getattr(err, "orig", err)).split())
    lowered = text.lower()
    schema = _missing_schema(text, url)
    if schema is not None:
        return schema
    function = _DENIED_FUNCTION.search(text)
    if function:
        return ReadOnlyViolation(f"refused: the SQL function {function.group(1)}() is not allowed in xasrepo sql "
                                 "(allowed: SQLite's core, aggregate, window, date, mathematical and JSON functions; "
                                 "see docs/sql.md); the database was not changed")
    if "permission denied" in lowered:  # PostgreSQL: beyond what the read-only role may do
        return ReadOnlyViolation(f"refused: the role may only read ({text}); {ALLOWED_HINT}; "
                                 "the database was not changed")
    if any(s in lowered for s in ("not authorized", "readonly", "read-only", "read only", "prohibited")):
        return ReadOnlyViolation(f"refused: the statement tries to write ({text}); {ALLOWED_HINT}; "
                                 f"the database was not changed")
    return UsageError(f"SQL error: {text}")


def _open(engine, url: str):
    """The engine's raw DBAPI connection; an unreachable server, a missing database or an
    unreadable file becomes one line (the wording of :func:`repository.db.current_revision`)."""
    # lazy import: start-up time (the light sqlite3 read path loads this module without SQLAlchemy)
    from sqlalchemy.exc import DBAPIError

    driver_error = getattr(engine.dialect, "loaded_dbapi", None)
    driver_error = getattr(driver_error, "Error", DBAPIError)
    try:
        return engine.raw_connection()
    except (DBAPIError, driver_error) as err:  # raw_connection() may raise the driver's own error
        raise cannot_open(describe(url), err) from None


def check_schema_revision(cursor, url: str, dialect: str) -> None:
    """Refuse a database stamped with another xasrepo schema revision than this code's, before the
    statement runs: :func:`repository.db.check_revision` (:class:`SchemaError`: the revision found,
    the one expected and the command that upgrades; :class:`NewerSchemaError` for a newer
    xasrepo's). Its tables and views would otherwise answer with other columns than docs/sql.md
    lists, or a confusing "no such column". A database without ``alembic_version`` (not made by
    xasrepo) is left to the statement: SQL on its own tables works, and a missing xasrepo view is
    reported by :func:`_refusal`. ``cursor`` is a DBAPI cursor of the open connection."""
    if dialect == "sqlite":
        cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'")
    else:  # the schema search path decides, as it does for the statement
        cursor.execute("SELECT 1 WHERE to_regclass('alembic_version') IS NOT NULL")
    if cursor.fetchone() is None:
        return
    cursor.execute("SELECT version_num FROM alembic_version")
    row = cursor.fetchone()
    check_revision(url, row[0] if row else None)


DEFAULT_SQL_TIMEOUT_S = 60.0  # `xasrepo sql --timeout`; docs/sql.md "Limits"
FETCH_BATCH_ROWS = 1000  # rows fetched at a time: memory stays bounded by a batch, not the result


@dataclass
class SqlResult:
    """An open result: ``columns`` (names) and ``batches()``, an iterator of row lists of at most
    :data:`FETCH_BATCH_ROWS` tuples, fetched while they are read (the time limit covers them)."""

    columns: list[str]
    _first: list[tuple[Any, ...]]
    _fetch: Any

    def batches(self) -> Iterator[list[tuple[Any, ...]]]:
        batch = self._first
        while batch:
            yield batch
            batch = self._fetch()


def _sqlite_timeout_error(err: Exception, deadline) -> Exception | None:
    return deadline.error() if "interrupted" in str(err).lower() and deadline.expired() else None


@contextlib.contextmanager
def open_sql(engine_or_db: Engine | str | None, sql: str, *, timeout_s: float | None = DEFAULT_SQL_TIMEOUT_S
             ) -> Iterator[SqlResult]:
    """``with open_sql(db, "SELECT ...") as result:`` -- run one read-only statement and stream
    its rows (:class:`SqlResult`); the connection is rolled back and closed on exit.

    ``timeout_s`` (default :data:`DEFAULT_SQL_TIMEOUT_S`; None or 0: no limit) bounds the whole
    statement, fetching included; past it the statement is cancelled (:class:`QueryTimeout`), as it
    is on Ctrl-C (:class:`QueryCancelled`): SQLite by ``interrupt()``, PostgreSQL by a cancel
    request and ``statement_timeout`` on the server (see :mod:`repository.query.cancel`). Raises
    :class:`~repository.errors.SchemaError` for a database at another schema revision
    (:func:`check_schema_revision`), :class:`ReadOnlyViolation` for anything that would write and
    :class:`~repository.errors.UsageError` for other SQL errors, each as one line.
    """
    url = _url_of(engine_or_db)
    dialect = "sqlite" if is_sqlite(url) else "postgresql"
    statement = check_read_only(sql, dialect)
    deadline = Deadline(timeout_s)
    engine = make_engine(url, read_only=True)
    try:
        raw = _open(engine, url)
        driver = raw.driver_connection
        rows = None
        try:
            if dialect == "sqlite":
                cursor = driver.cursor()
                try:
                    check_schema_revision(cursor, url, dialect)
                except sqlite3.Error as err:
                    raise cannot_open(describe(url), err) from None
                driver.set_authorizer(_sqlite_authorizer())

                def run(call):
                    try:
                        return call_cancellable(call, driver.interrupt, deadline)
                    except sqlite3.Error as err:
                        raise (_sqlite_timeout_error(err, deadline) or _refusal(err, url)) from None

                run(lambda: cursor.execute(statement))
                fetch = lambda: cursor.fetchmany(FETCH_BATCH_ROWS)  # noqa: E731
            else:
                # lazy import: start-up time (psycopg is heavy; only this path needs it)
                import psycopg

                cursor = driver.cursor()
                cursor.execute("SET TRANSACTION READ ONLY")
                refuse_writable_role(cursor, url)
                try:
                    check_schema_revision(cursor, url, dialect)
                except psycopg.Error as err:
                    raise _refusal(err, url) from None
                if deadline.timeout_s:  # on the server too: it stops even if this client dies
                    cursor.execute(f"SET LOCAL statement_timeout = {int(deadline.timeout_s * 1000) + 1}")

                def run(call):
                    try:
                        return call_cancellable(call, driver.cancel, deadline)
                    except psycopg.errors.QueryCanceled:
                        raise deadline.error() if deadline.timeout_s else _refusal_text("cancelled") from None
                    except psycopg.Error as err:
                        raise _refusal(err, url) from None

                # stream(): the extended protocol (one command only) in single-row mode, so rows
                # arrive as they are read instead of all at once.
                rows = cursor.stream(statement)
                fetch = lambda: list(itertools.islice(rows, FETCH_BATCH_ROWS))  # noqa: E731
            first = run(fetch)
            columns = [d[0] for d in cursor.description] if cursor.description else []
            yield SqlResult(columns, [tuple(r) for r in first], lambda: [tuple(r) for r in run(fetch)])
        finally:
            try:
                if rows is not None:
                    rows.close()  # a suspended psycopg stream holds the connection's lock
                driver.rollback()
            except Exception:  # noqa: BLE001 - cancelled mid-stream or a lost connection: discard it
                raw.invalidate()
            finally:
                if dialect == "sqlite":
                    driver.set_authorizer(None)
                raw.close()
    finally:
        engine.dispose()


def _refusal_text(text: str) -> Exception:
    return UsageError(f"SQL error: {text}")


def run_sql(engine_or_db: Engine | str | None, sql: str, *, max_rows: int | None = None,
            timeout_s: float | None = DEFAULT_SQL_TIMEOUT_S) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one read-only statement; returns ``(column names, rows)`` (at most ``max_rows``).

    ``engine_or_db`` is an engine, a ``--db`` value (path or URL) or None (``$XASREPO_DB`` /
    default). A new read-only connection is always opened, whatever the engine given, so the
    statement cannot write. Holds every row in memory: for large results use :func:`open_sql`.
    Errors as for :func:`open_sql`.
    """
    with open_sql(engine_or_db, sql, timeout_s=timeout_s) as result:
        rows: list[tuple[Any, ...]] = []
        for batch in result.batches():
            rows.extend(batch)
            if max_rows and len(rows) >= max_rows:
                return result.columns, rows[:max_rows]
        return result.columns, rows
