"""Database location, engines and schema-revision checks.

Where the database is, in order of precedence:
1. the ``--db`` option of a command (``path/to/file.db`` or an SQLAlchemy URL),
2. the ``XASREPO_DB`` environment variable (same forms),
3. ``xasrepo.db`` in the current directory (:data:`DEFAULT_DB_FILENAME`).

SQLite connections run with foreign keys on, WAL journaling and a busy timeout, so several
processes can import at once. PostgreSQL URLs (``postgresql://...``) use psycopg 3, with a
``lock_timeout``. Waiting for a lock held by another process ends after
:func:`lock_timeout_s` seconds (``$XASREPO_LOCK_TIMEOUT``, default 60) in one line naming what was
waited for (:class:`LockTimeout`).

Read-only SQLite connections (``make_engine(read_only=True)``, :func:`open_sqlite_read_only`) open
the file with ``mode=ro``; on read-only storage with ``immutable=1`` (and a note, once). Reading
a WAL database read-only makes SQLite create ``-wal``/``-shm`` files beside it, which a read-only
connection cannot remove: they are removed when the connection closes, through a short
read-write connection that SQLite itself lets delete them only when no other connection uses the
database (:class:`_TidyConnection`).

On PostgreSQL, :func:`create_analyst_role` makes a role that can only read the schema's tables and
views, and :func:`role_problems` lists what a role can do beyond that (``xasrepo sql`` refuses to
run as a role with any).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

from .errors import EnvironmentFault, NewerSchemaError, SchemaError, UsageError, XasrepoError


class LockTimeout(EnvironmentFault):
    """Waiting for a lock held by another transaction took longer than :func:`lock_timeout_s` (exit code 1)."""


if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

DB_ENV_VAR = "XASREPO_DB"
DEFAULT_DB_FILENAME = "xasrepo.db"
SQLITE_BUSY_TIMEOUT_S = 60  # default lock wait (s), SQLite and PostgreSQL alike; see lock_timeout_s
LOCK_TIMEOUT_ENV = "XASREPO_LOCK_TIMEOUT"
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


def lock_timeout_s() -> float:
    """How long (s) a command waits for a lock held by another process before giving up with
    :class:`LockTimeout`: ``$XASREPO_LOCK_TIMEOUT`` (seconds, > 0), else :data:`SQLITE_BUSY_TIMEOUT_S`.
    SQLite's ``busy_timeout`` and PostgreSQL's ``lock_timeout`` are set from it. Raises
    :class:`UsageError` when the variable is not a positive, finite number."""
    value = os.environ.get(LOCK_TIMEOUT_ENV, "").strip()
    if not value:
        return float(SQLITE_BUSY_TIMEOUT_S)
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds != seconds or seconds == float("inf"):
        raise UsageError(f"{LOCK_TIMEOUT_ENV}={value!r}: expected a positive number of seconds")
    return seconds


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
    """A new engine for ``url``. Engines are made per call, never held in a module global.

    Lock waits are bounded by :func:`lock_timeout_s` (SQLite ``busy_timeout``, PostgreSQL
    ``lock_timeout``). ``read_only``: SQLite opened with ``mode=ro`` (``immutable=1`` on read-only
    storage) and no journal-mode change, PostgreSQL transactions ``READ ONLY``. Raises
    :class:`UsageError` for a missing file (read-only) or folder, or an unsupported URL."""
    # lazy import: start-up time (the light sqlite3 read path loads this module without SQLAlchemy)
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import URL

    wait_s = lock_timeout_s()
    if is_sqlite(url):
        path = sqlite_path(url)
        check_sqlite_file(path)
        # The URL is built from the path, never parsed from text: see resolve_url.
        sa_url = URL.create("sqlite", database=str(path) if path is not None else None)
        if read_only:
            if path is None or not path.exists():
                raise UsageError(f"database {path} does not exist; run `xasrepo init` first")
            engine = create_engine(sa_url, creator=lambda: open_sqlite_read_only(path, check_same_thread=False))
        else:
            if path is not None and not path.parent.exists():
                raise UsageError(f"directory {path.parent} for the database does not exist")
            engine = create_engine(sa_url, connect_args={"timeout": wait_s})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # pragma: no cover - trivial
            # Let SQLAlchemy, not pysqlite, issue BEGIN so a transaction spans every statement.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(wait_s * 1000)}")
            if not read_only:
                enable_wal(cursor, wait_s)
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):  # pragma: no cover - trivial
            # IMMEDIATE takes the write lock up front, so concurrent writers wait on busy_timeout
            # instead of failing with "database is locked" when upgrading a read lock.
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql"):
        # lock_timeout on the server: a statement waiting for another transaction's lock gives up
        # (LockNotAvailable, mapped to LockTimeout by fault_from) instead of waiting forever.
        engine = create_engine(url, pool_pre_ping=True,
                               connect_args={"options": f"-c lock_timeout={max(1, int(wait_s * 1000))}"})
        if read_only:
            @event.listens_for(engine, "begin")
            def _read_only(conn):
                # not through a server-side cursor: when the transaction begins for a streaming
                # read (stream_results), the server would get "DECLARE ... CURSOR FOR SET
                # TRANSACTION READ ONLY", a syntax error (tests/test_query_db.py)
                conn.exec_driver_sql("SET TRANSACTION READ ONLY", execution_options={"stream_results": False})
        return engine
    raise UsageError(f"unsupported database URL {url!r} (use a file path, sqlite:/// or postgresql://)")


# Pause between attempts to switch a database that another process is opening to WAL.
WAL_RETRY_PAUSE_S = 0.02


def enable_wal(cursor: sqlite3.Cursor, wait_s: float) -> None:
    """Put the SQLite database of ``cursor`` in WAL journal mode, retrying for up to ``wait_s``
    seconds while another process holds the lock it needs.

    Why the retry: ``PRAGMA journal_mode=WAL`` can fail with "database is locked" at once,
    without calling the busy handler, while another process is switching or opening the same
    new database (measured 2026-11-30: 3 of 200 pairs of concurrent ``xasrepo init`` on one new file,
    each within 2.2 s though ``busy_timeout`` was 60 s; 0 of 250 with this retry). Raises the last
    :class:`sqlite3.OperationalError` when ``wait_s`` runs out or the error is another one.
    """
    deadline = time.monotonic() + wait_s
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "database is locked" not in str(err).lower() or time.monotonic() >= deadline:
                raise
            time.sleep(WAL_RETRY_PAUSE_S)


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


def on_read_only_storage(path: Path) -> bool:
    """Whether the SQLite file ``path`` or its folder cannot be written (a DVD, a read-only mount,
    a shared archive): SQLite could not create the ``-wal``/``-shm`` files a WAL database needs."""
    return not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))


def refuse_read_only_storage(path: Path) -> None:
    """Raise :class:`EnvironmentFault` (exit code 1) for a command that writes to an SQLite
    database on read-only storage (:func:`on_read_only_storage`), instead of SQLite's "unable to
    open database file"."""
    if on_read_only_storage(path):
        raise EnvironmentFault(f"database {path} is on read-only storage (the file or its folder is not writable): "
                               "this command writes to it; read commands (list, query, sql, ...) work")


def read_only_uri(path: Path) -> str:
    """The URI that opens the SQLite file ``path`` for reading only. On read-only storage
    (:func:`on_read_only_storage`) it adds ``immutable=1``: SQLite then needs no ``-shm``/``-wal``
    files beside a WAL database, which it could not create there (reading would fail with
    "unable to open database file"), and changes no journal mode."""
    return sqlite_uri(path, mode="ro", immutable="1") if on_read_only_storage(path) else sqlite_uri(path, mode="ro")


class _TidyConnection(sqlite3.Connection):
    """A read-only ``sqlite3.Connection`` that, once closed, removes the empty ``-wal``/``-shm``
    files that reading a WAL database made SQLite create beside it (a read-only connection cannot
    remove them itself). It opens the file read-write for a moment, and SQLite deletes the files
    on closing only if that connection is the last one: a concurrent reader or writer keeps them.
    A ``-wal`` file with content (another writer's, or a crashed one's) is left alone."""

    tidy_path: Path | None = None

    def close(self) -> None:
        super().close()
        path, self.tidy_path = self.tidy_path, None
        if path is not None:
            remove_idle_side_files(path)


def remove_idle_side_files(path: Path) -> None:
    """Remove ``path``'s ``-wal``/``-shm`` files when the ``-wal`` is empty and no connection uses
    the database (see :class:`_TidyConnection`); never waits for a lock, never raises."""
    wal = path.with_name(path.name + "-wal")
    try:
        if not wal.is_file() or wal.stat().st_size != 0:
            return
        tidy = sqlite3.connect(sqlite_uri(path, mode="rw"), uri=True, timeout=0)
        try:
            tidy.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # joins the WAL so closing may end it
        finally:
            tidy.close()
    except (sqlite3.Error, OSError):
        pass  # busy or not writable: the files stay, as SQLite would leave them


def open_sqlite_read_only(path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """A read-only ``sqlite3`` connection to the database file ``path`` (URI of :func:`read_only_uri`,
    busy timeout :func:`lock_timeout_s`), which leaves no ``-wal``/``-shm`` files behind once closed.
    On read-only storage it says so once (:func:`notice`). Raises ``sqlite3.Error`` as ``connect`` does."""
    read_only_storage = on_read_only_storage(path)
    conn = sqlite3.connect(read_only_uri(path), uri=True, timeout=lock_timeout_s(),
                           check_same_thread=check_same_thread, factory=_TidyConnection)
    if read_only_storage:
        notice(f"database {path} is on read-only storage: opened read-only as immutable "
               "(changes made to it meanwhile are not seen; commands that write will fail)")
    else:
        conn.tidy_path = path
    return conn


_notice_handler: Callable[[str], None] | None = None
_noticed: set[str] = set()


def set_notice_handler(handler: Callable[[str], None] | None) -> None:
    """Where :func:`notice` sends its messages (the CLI prints them on stderr as ``note: ...``);
    forgets which were sent (a new command starts)."""
    global _notice_handler
    _notice_handler = handler
    _noticed.clear()


def notice(message: str) -> None:
    """Tell the user something worth knowing that is not an error, once per process per message."""
    if message in _noticed:
        return
    _noticed.add(message)
    if _notice_handler is not None:
        _notice_handler(message)


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
        waited = _lock_wait(err, driver_message(err).lower())
        if waited is not None:  # another process holds the lock: not a database that cannot be opened
            raise lock_timeout_error(waited) from None
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
    if path is not None and not read_only:
        refuse_read_only_storage(path)
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
    waited = _lock_wait(err, text) if text else None
    if waited is not None:
        return lock_timeout_error(waited)
    missing = _MISSING_RELATION.search(text)
    if missing:  # the library's own statements name only schema tables and views
        return SchemaError(f"the database has no {missing.group(1) or missing.group(2)} although its schema revision includes it "
                           "(was it dropped?): the database is damaged; restore it from a backup")
    for needles, what in _FAULTS:
        if any(n in text for n in needles):
            return EnvironmentFault(f"{what} ({driver_message(err)}); the transaction was rolled back")
    return None


_LOCKED_RELATION = re.compile(r'relation "([^"]+)"')


def _lock_wait(err: BaseException, text: str) -> str | None:
    """What a driver error says was waited for when it is a lock timeout, else None."""
    orig = getattr(err, "orig", None) or err
    if getattr(orig, "sqlstate", None) == "55P03" or "lock timeout" in text:  # PostgreSQL lock_not_available
        diag = getattr(orig, "diag", None)
        context = (getattr(diag, "context", None) or "") + " " + str(orig)
        relation = _LOCKED_RELATION.search(context)
        return f"a lock on table {relation.group(1)}" if relation else "a lock"
    if "database is locked" in text or "database table is locked" in text:  # SQLite busy_timeout ran out
        return "the database's write lock"
    return None


def lock_timeout_error(what: str) -> LockTimeout:
    """The one-line :class:`LockTimeout` for a wait on ``what`` (e.g. "a lock on table spectrum")."""
    return LockTimeout(f"gave up after {lock_timeout_s():g} s waiting for {what}, held by another process "
                       "(a concurrent import, embed or init?); nothing was written: run the command again when "
                       f"that one has finished, or wait longer with {LOCK_TIMEOUT_ENV}=SECONDS")


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
    path = sqlite_path(url)
    if path is not None and path.exists():
        refuse_read_only_storage(path)
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


# ----------------------------------------------------------------------------------------------
# PostgreSQL roles for `xasrepo sql`

# Predefined PostgreSQL roles whose members act on the server beyond reading this database's
# tables (read or write server files, run programs, signal other sessions, write everything).
SERVER_ROLES = ("pg_read_server_files", "pg_write_server_files", "pg_execute_server_program",
                "pg_signal_backend", "pg_write_all_data", "pg_checkpoint", "pg_create_subscription")
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_SYSTEM_SCHEMAS = "n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'"


def role_problems(cursor) -> tuple[str, list[str]]:
    """What the connection's current PostgreSQL role can do beyond reading: ``(role name, problems)``.

    ``cursor`` is a psycopg cursor. A problem is one phrase each: superuser; the CREATEROLE,
    CREATEDB or REPLICATION attribute; INSERT/UPDATE/DELETE/TRUNCATE on any table or view outside
    the system schemas (``has_table_privilege``); CREATE on a schema (``has_schema_privilege``) or
    on the database; membership in one of :data:`SERVER_ROLES` (``pg_has_role``). An empty list
    means the role can only read, which is what ``xasrepo sql`` requires.
    """
    cursor.execute("SELECT current_user, rolsuper, rolcreaterole, rolcreatedb, rolreplication "
                   "FROM pg_roles WHERE rolname = current_user")
    role, superuser, createrole, createdb, replication = cursor.fetchone()
    if superuser:
        return role, ["is a superuser"]
    problems = [f"has the {name} attribute" for name, held in
                (("CREATEROLE", createrole), ("CREATEDB", createdb), ("REPLICATION", replication)) if held]
    cursor.execute("SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                   f"WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {_SYSTEM_SCHEMAS} "
                   "AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') ORDER BY 1")
    tables = [r[0] for r in cursor.fetchall()]
    if tables:
        more = f" and {len(tables) - 3} more" if len(tables) > 3 else ""
        problems.append(f"can write to {', '.join(tables[:3])}{more} (INSERT/UPDATE/DELETE/TRUNCATE)")
    cursor.execute(f"SELECT n.nspname FROM pg_namespace n WHERE {_SYSTEM_SCHEMAS} "
                   "AND has_schema_privilege(n.oid, 'CREATE') ORDER BY 1")
    problems += [f"can CREATE in schema {r[0]}" for r in cursor.fetchall()]
    cursor.execute("SELECT has_database_privilege(current_database(), 'CREATE')")
    if cursor.fetchone()[0]:
        problems.append("can CREATE schemas in the database")
    cursor.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s) AND pg_has_role(current_user, oid, 'MEMBER') "
                   "ORDER BY 1", (list(SERVER_ROLES),))
    problems += [f"is a member of {r[0]}" for r in cursor.fetchall()]
    return role, problems


def create_analyst_role(db: str | None, role: str, password: str | None = None) -> str:
    """Create (or complete) the PostgreSQL role ``role`` that may only read the xasrepo schema:
    LOGIN, no superuser/CREATEDB/CREATEROLE/REPLICATION, CONNECT on the database, USAGE on the
    schema of the xasrepo tables, SELECT on its tables and views now and (default privileges) on
    those later migrations add. ``CREATE`` on that schema is revoked from PUBLIC (PostgreSQL 15's
    default; older servers granted it to everyone). Run as the owner of the schema (the URL that
    ran ``xasrepo init``). Returns the URL to give analysts (the password included when given).

    Raises :class:`UsageError` for an SQLite database, a name that is not a plain lower-case
    identifier, or an existing role that can do more than read (:func:`role_problems`, checked
    after the grants).
    """
    # lazy import: start-up time (SQLAlchemy and psycopg load only on this path)
    from psycopg import sql
    from sqlalchemy.engine import make_url

    url = resolve_url(db)
    if is_sqlite(url):
        raise UsageError("--analyst-role is for PostgreSQL: an SQLite database is read by file permissions "
                         "(xasrepo sql opens it read-only)")
    if not _ROLE_NAME.match(role):
        raise UsageError(f"analyst role name {role!r}: use lower-case letters, digits and _ (at most 63, "
                         "not starting with a digit)")
    engine = make_engine(url)
    try:
        current_revision(engine)  # an unreachable server is one line
        with engine.begin() as conn:
            cursor = conn.connection.driver_connection.cursor()
            name = sql.Identifier(role)
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
            exists = cursor.fetchone() is not None
            secret = sql.SQL(" PASSWORD {}").format(sql.Literal(password)) if password is not None else sql.SQL("")
            if not exists:
                cursor.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION{}")
                               .format(name, secret))
            elif password is not None:
                cursor.execute(sql.SQL("ALTER ROLE {}{}").format(name, secret))
            cursor.execute("SELECT current_database(), current_schema()")
            database, schema = cursor.fetchone()
            cursor.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), name))
            cursor.execute(sql.SQL("REVOKE CREATE ON SCHEMA {} FROM PUBLIC").format(sql.Identifier(schema)))
            cursor.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), name))
            cursor.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(sql.Identifier(schema), name))
            cursor.execute(sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}")
                           .format(sql.Identifier(schema), name))
            cursor.execute(sql.SQL("SET LOCAL ROLE {}").format(name))
            _, problems = role_problems(cursor)
            cursor.execute("RESET ROLE")
            if problems:
                raise UsageError(f"role {role} already exists and {'; '.join(problems)}: it cannot be an analyst "
                                 "role; choose another name (nothing was changed)")
    finally:
        engine.dispose()
    analyst = make_url(url).set(username=role, password=password)
    return analyst.set(drivername="postgresql").render_as_string(hide_password=False)
