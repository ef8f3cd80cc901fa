"""Database location, engines and schema-revision checks.

Where the database is, in order of precedence:
1. the ``--db`` option of a command (``path/to/file.db`` or an SQLAlchemy URL),
2. the ``XASREPO_DB`` environment variable (same forms),
3. ``xasrepo.db`` in the current directory (:data:`DEFAULT_DB_FILENAME`).

SQLite connections run with foreign keys on, WAL journaling and a busy timeout, so several
processes can import at once. PostgreSQL URLs (``postgresql://...``) use psycopg 3.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sqlite3
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

from .errors import EnvironmentFault, NewerSchemaError, SchemaError, UsageError, XasrepoError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

DB_ENV_VAR = "XASREPO_DB"
DEFAULT_DB_FILENAME = "xasrepo.db"
SQLITE_BUSY_TIMEOUT_S = 60
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Views created by hand in revisions; Alembic's autogenerate must not compare them as tables.
VIEW_NAMES = frozenset({"spectrum_overview", "snapshot_points"})
_REVISION_LINE = re.compile(r"^(down_revision|revision)\s*=\s*['\"]?([\w.-]+|None)['\"]?", re.M)


def schema_revision() -> str:
    """The Alembic head this code expects, read from migrations/versions without importing alembic.

    Cheap (a few small files), so every command can check the database's revision at start-up.
    """
    return _revisions()[0]


def known_revisions() -> frozenset[str]:
    """Every schema revision in this code's migrations (older databases are upgradable)."""
    return _revisions()[1]


def _revisions() -> tuple[str, frozenset[str]]:
    revisions, parents = set(), set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        fields = dict(_REVISION_LINE.findall(path.read_text()))
        if "revision" in fields:
            revisions.add(fields["revision"])
            if fields.get("down_revision") not in (None, "None"):
                parents.add(fields["down_revision"])
    heads = revisions - parents
    if len(heads) != 1:
        raise SchemaError(f"migrations in {MIGRATIONS_DIR} have {len(heads)} heads ({sorted(heads)}); expected one")
    return heads.pop(), frozenset(revisions)


def resolve_url(db: str | os.PathLike[str] | None = None) -> str:
    """Turn a ``--db`` value, ``$XASREPO_DB`` or the default into an xasrepo database URL.

    A value without ``://`` is a file path, whatever characters it holds (``#``, ``?``, ``%``,
    spaces): the result is ``sqlite:///`` followed by the absolute path with ``%``, ``?`` and ``#``
    percent-escaped, which is how SQLAlchemy itself renders such a URL (unescaped, ``?`` would
    start a query and ``%xx`` be decoded, so ``import`` and ``query`` opened different files).
    :func:`sqlite_path` undoes the escaping.
    """
    value = str(db) if db else os.environ.get(DB_ENV_VAR) or DEFAULT_DB_FILENAME
    if "://" in value:
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            value = "postgresql+psycopg://" + value.split("://", 1)[1]
        return value
    return "sqlite:///" + _escape_path(str(Path(value).expanduser().resolve()))


def _escape_path(path: str) -> str:
    return path.replace("%", "%25").replace("?", "%3F").replace("#", "%23")


def is_sqlite(url: str) -> bool:
    """Whether an SQLAlchemy URL names an SQLite database."""
    return url.startswith("sqlite")


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL (None for in-memory or other backends): the part after
    ``sqlite:///`` up to a ``?`` query, percent-unescaped as SQLAlchemy does."""
    if not is_sqlite(url):
        return None
    path = unquote(url.split(":///", 1)[1].split("?", 1)[0]) if ":///" in url else ""
    return Path(path) if path and path != ":memory:" else None


def engine_url(engine: "Engine") -> str:
    """The URL of an engine made by :func:`make_engine` (password included; SQLite paths escaped
    as by :func:`resolve_url`), fit for :func:`sqlite_path` and :func:`make_engine`."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return "sqlite:///" + _escape_path(url.database or "")
    return url.render_as_string(hide_password=False)


def sqlite_uri(path: Path, **query: str) -> str:
    """An SQLite ``file:`` URI for ``path`` with ``%``, ``?`` and ``#`` percent-escaped (SQLite
    reads them as escapes, query and fragment otherwise), plus ``query`` parameters."""
    params = "&".join(f"{k}={v}" for k, v in query.items())
    return f"file:{quote(str(path), safe='/')}" + (f"?{params}" if params else "")


def make_engine(url: str, *, read_only: bool = False) -> "Engine":
    """A new engine for ``url``. Engines are made per call, never held in a module global."""
    # lazy import: start-up time (the light sqlite3 read path loads this module without SQLAlchemy)
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import URL

    if is_sqlite(url):
        path = sqlite_path(url)
        check_sqlite_file(path)
        # The URL is built from the path, never parsed from text: see resolve_url.
        sa_url = URL.create("sqlite", database=str(path) if path is not None else None)
        if read_only:
            if path is None or not path.exists():
                raise UsageError(f"database {path} does not exist; run `xasrepo init` first")
            ro_uri = read_only_uri(path)
            engine = create_engine(sa_url, creator=lambda: sqlite3.connect(
                ro_uri, uri=True, timeout=SQLITE_BUSY_TIMEOUT_S, check_same_thread=False))
        else:
            if path is not None and not path.parent.exists():
                raise UsageError(f"directory {path.parent} for the database does not exist")
            engine = create_engine(sa_url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # pragma: no cover - trivial
            # Let SQLAlchemy, not pysqlite, issue BEGIN so a transaction spans every statement.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
            if not read_only:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):  # pragma: no cover - trivial
            # IMMEDIATE takes the write lock up front, so concurrent writers wait on busy_timeout
            # instead of failing with "database is locked" when upgrading a read lock.
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql"):
        engine = create_engine(url, pool_pre_ping=True)
        if read_only:
            @event.listens_for(engine, "begin")
            def _read_only(conn):  # pragma: no cover - trivial
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        return engine
    raise UsageError(f"unsupported database URL {url!r} (use a file path, sqlite:/// or postgresql://)")


SQLITE_MAGIC = b"SQLite format 3\x00"


def driver_message(err: BaseException) -> str:
    """The first line of a database driver's message (SQLAlchemy wraps it as ``err.orig``)."""
    orig = getattr(err, "orig", None) or err
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__


def cannot_open(where: str, err: BaseException) -> UsageError:
    """The one-line error for a database that cannot be opened (server down, no such database,
    unreadable file); every way in (engines, the light query path, ``xasrepo sql``) uses it."""
    return UsageError(f"database {where}: cannot be opened: {driver_message(err)}")


def read_only_uri(path: Path) -> str:
    """The URI that opens the SQLite file ``path`` for reading only. On read-only storage (the file
    or its folder not writable: a DVD, a read-only mount, a shared archive) it adds
    ``immutable=1``: SQLite then needs no ``-shm``/``-wal`` files beside a WAL database, which it
    could not create there (reading would fail with "unable to open database file")."""
    writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
    return sqlite_uri(path, mode="ro") if writable else sqlite_uri(path, mode="ro", immutable="1")


def check_sqlite_file(path: Path | None) -> None:
    """Refuse a file that is not an SQLite database before SQLite reports it deep inside a query."""
    if path is None or not path.is_file() or path.stat().st_size == 0:
        return
    with path.open("rb") as handle:
        if handle.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise UsageError(f"database {path}: not an SQLite database file")


def current_revision(engine: "Engine") -> str | None:
    """The database's Alembic revision (None without an xasrepo schema).

    Being the first statement on a new engine, this is also where an unreachable server or an
    unreadable file shows up; it is reported as one line instead of a driver traceback.
    """
    # lazy import: start-up time (the light sqlite3 read path loads this module without SQLAlchemy)
    from sqlalchemy.exc import DBAPIError

    try:
        with engine.connect() as conn:
            return _revision_of(conn)
    except DBAPIError as err:
        raise cannot_open(describe(engine_url(engine)), err) from None


def _revision_of(conn) -> str | None:
    # lazy import: start-up time (the light sqlite3 read path loads this module without SQLAlchemy)
    from sqlalchemy import inspect, text

    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def describe(url: str) -> str:
    """How messages name a database: an SQLite file's path, else the URL with its password hidden."""
    path = sqlite_path(url)
    if path is not None:
        return str(path)
    # lazy import: start-up time (the light sqlite3 read path loads this module without SQLAlchemy)
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def connect(db: str | None = None, *, read_only: bool = False) -> "Engine":
    """An engine for an existing, up-to-date xasrepo database (raises :class:`SchemaError`)."""
    url = resolve_url(db)
    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise SchemaError(f"database {path} does not exist; run `xasrepo init --db {path}` to create it")
    engine = make_engine(url, read_only=read_only)
    try:
        check_revision(url, current_revision(engine))
    except SchemaError:
        engine.dispose()
        raise
    return engine


def check_revision(url: str, revision: str | None) -> None:
    """Raise :class:`SchemaError` unless ``revision`` (the database's Alembic revision, None without
    an xasrepo schema) is the one this code expects (:func:`schema_revision`); the message names
    the database and the command that creates or upgrades it. The one revision check of every
    connection (:func:`connect`, :func:`repository.query.light.connect_read_only`)."""
    expected = schema_revision()
    if revision == expected:
        return
    where = describe(url)
    if revision is None:
        raise SchemaError(f"database {where} has no xasrepo schema; run `xasrepo init --db {where}`")
    check_not_newer(where, revision)
    raise SchemaError(f"database {where} is at schema revision {revision}, this xasrepo needs {expected}; "
                      f"run `xasrepo init --db {where}` to upgrade")


@contextlib.contextmanager
def connected(db: str | None = None, *, read_only: bool = False) -> Iterator["Engine"]:
    """``with connected(db) as engine:`` -- :func:`connect`, and the engine disposed on exit.

    Disposing closes SQLite connections, so the WAL is checkpointed and its files removed even
    when the block raises: a refused import leaves no trace beside the database file.
    """
    engine = connect(db, read_only=read_only)
    try:
        yield engine
    finally:
        engine.dispose()


def check_not_newer(where: str, revision: str | None) -> None:
    """Raise :class:`NewerSchemaError` for a revision this code does not know (a newer xasrepo's)."""
    if revision is not None and revision not in known_revisions():
        try:
            mine = version("xasrepo")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            mine = "this source tree"
        raise NewerSchemaError(
            f"database {where} is at schema revision {revision}, made by a newer xasrepo than this one "
            f"({mine}, which knows revisions up to {schema_revision()}): use that newer xasrepo; "
            "nothing was read or changed")


# Driver messages of environment faults (lower case), and what to say about them.
_FAULTS = (
    (("database or disk is full", "no space left on device", "disk full", "could not extend file"),
     "the disk is full"),
    (("attempt to write a readonly database", "readonly database", "read-only file system"),
     "the database is on read-only storage or its file is not writable"),
    (("server closed the connection", "terminating connection", "connection already closed",
      "the connection is lost", "connection is closed", "consuming input failed", "ssl connection has been closed"),
     "the connection to the database server was lost"),
    (("disk i/o error", "input/output error"), "an I/O error occurred on the disk"),
)


_MISSING_RELATION = re.compile(r'no such table: (?:\w+\.)?(\w+)|relation "(?:[^".]+\.)?([^"]+)" does not exist')


def fault_from(err: BaseException) -> XasrepoError | None:
    """The one-line library error for an environment fault raised by a driver or the OS (full
    disk, read-only storage, lost server connection, I/O error, no memory, too deep nesting);
    None when ``err`` is not one (the caller re-raises it). Used by the CLI as a last resort, so
    no such fault ends in a traceback; the transaction in progress has been rolled back."""
    if isinstance(err, XasrepoError):
        return err
    if isinstance(err, MemoryError):
        return EnvironmentFault("out of memory: the input or the result is too large for this machine "
                                "(see the limits in docs/sql.md); nothing was written")
    if isinstance(err, RecursionError):
        return UsageError("input nested too deeply to process (Python recursion limit); nothing was written")
    if isinstance(err, OSError) and not hasattr(err, "orig"):
        if err.errno == errno.ENOSPC:
            return EnvironmentFault(f"the disk is full ({err.filename or 'writing'}); nothing was written")
        if err.errno == errno.EROFS:
            return EnvironmentFault(f"read-only file system ({err.filename}); nothing was written")
        return None
    text = driver_message(err).lower() if _is_driver_error(err) else ""
    missing = _MISSING_RELATION.search(text)
    if missing:  # the library's own statements name only schema tables and views
        return SchemaError(f"the database has no {missing.group(1) or missing.group(2)} although its schema revision includes it "
                           "(was it dropped?): the database is damaged; restore it from a backup")
    for needles, what in _FAULTS:
        if any(n in text for n in needles):
            return EnvironmentFault(f"{what} ({driver_message(err)}); the transaction was rolled back")
    return None


def _is_driver_error(err: BaseException) -> bool:
    module = type(getattr(err, "orig", None) or err).__module__ or ""
    return module.split(".")[0] in ("sqlite3", "psycopg", "sqlalchemy", "duckdb", "_sqlite3")


def alembic_config(url: str):
    """Alembic's configuration for ``url`` with this package's migrations/ (no logging set-up)."""
    # lazy import: start-up time (Alembic is heavy; only this path needs it)
    from alembic.config import Config

    config = Config(str(MIGRATIONS_DIR.parent / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    return config


# Key of the PostgreSQL advisory lock that serialises schema changes: two `xasrepo init` at once
# otherwise both see an empty database and both try to CREATE TABLE alembic_version.
MIGRATION_LOCK_KEY = 0x7861_7372_6570_6F  # "xasrepo" in ASCII, fits a bigint


@contextlib.contextmanager
def _migration_transaction(engine: "Engine") -> Iterator:
    """A transaction in which only this process changes the schema.

    PostgreSQL: a transaction-level advisory lock (released at commit or rollback), so a second
    process waits, then reads the revision the first one committed. SQLite: the engine's
    BEGIN IMMEDIATE already holds the database's write lock for the whole transaction.
    """
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # lazy import: start-up time (the light sqlite3 read path loads this module without SQLAlchemy)
            from sqlalchemy import text

            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        yield connection


def upgrade(db: str | None = None, revision: str = "head") -> tuple[str | None, str]:
    """Create or upgrade the database schema; returns (revision before, revision after).

    Safe to run from several processes at once: the second waits for the first and then finds
    the schema up to date.
    """
    # lazy import: start-up time (Alembic is heavy; only this path needs it)
    from alembic import command

    url = resolve_url(db)
    engine = make_engine(url)
    try:
        # an unreachable database is reported here, as one line; so is a newer schema
        check_not_newer(describe(url), current_revision(engine))
        config = alembic_config(url)
        with _migration_transaction(engine) as connection:
            before = _revision_of(connection)
            check_not_newer(describe(url), before)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            after = _revision_of(connection)
    finally:
        engine.dispose()
    return before, after or ""


def downgrade(db: str | None, revision: str) -> None:
    """Downgrade the schema of ``db`` to Alembic ``revision`` (for tests of migrations; data of dropped
    columns is lost). Raises :class:`SchemaError`/:class:`UsageError` as :func:`current_revision` does."""
    # lazy import: start-up time (Alembic is heavy; only this path needs it)
    from alembic import command

    url = resolve_url(db)
    engine = make_engine(url)
    try:
        current_revision(engine)
        config = alembic_config(url)
        with _migration_transaction(engine) as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
    finally:
        engine.dispose()
