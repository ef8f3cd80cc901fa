"""Two processes doing the SAME thing at the same moment: both succeed, the database ends up as after one.

- two ``xasrepo import`` of one set into a fresh database: one imports, the other reports
  "already imported: nothing changed" (exit 0), never a UniqueViolation traceback;
- two ``xasrepo init`` on an empty database: both exit 0 and the schema is at head.

Real processes, started together and repeated a few rounds to make the race likely.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import pytest

from .conftest import EXAMPLE_SET, ROOT, postgres_database

ROUNDS = 3


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "from cli.main import run; run()", *map(str, args)],
                            cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _together(*commands: tuple[str, ...]) -> list[tuple[int, str, str]]:
    procs = [_start(*command) for command in commands]
    return [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]


def _fresh_databases(backend: str, tmp_path, rounds: int):
    """Yields `rounds` new, empty database locations of `backend`."""
    if backend == "sqlite":
        for i in range(rounds):
            yield str(tmp_path / f"race{i}.db")
        return
    for _ in range(rounds):
        with postgres_database() as url:
            yield url


def _counts(database: str) -> dict[str, int]:
    from repository import catalog, db

    with db.connected(database) as engine:
        return catalog.count_rows(engine)


@pytest.fixture(scope="module")
def expected_counts(tmp_path_factory) -> dict[str, int]:
    """Row counts after one plain import of the example set."""
    from repository import db
    from repository.calcset import read_calcset
    from repository.importer import import_calcset

    path = str(tmp_path_factory.mktemp("reference") / "reference.db")
    db.upgrade(path)
    with db.connected(path) as engine:
        assert import_calcset(engine, read_calcset(EXAMPLE_SET)).status == "imported"
    return _counts(path)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_imports_of_the_same_set_at_once_both_succeed(backend, tmp_path, expected_counts):
    from repository import db

    for database in _fresh_databases(backend, tmp_path, ROUNDS):
        db.upgrade(database)
        results = _together(("import", EXAMPLE_SET, "--db", database), ("import", EXAMPLE_SET, "--db", database))
        assert [code for code, _, _ in results] == [0, 0], results
        assert not any("Traceback" in err or "IntegrityError" in err for _, _, err in results), results
        outputs = sorted(out for _, out, _ in results)
        assert outputs[0].startswith("imported set"), outputs
        assert "already imported: nothing changed" in outputs[1], outputs
        counts = _counts(database)
        assert counts["calculation_set"] == 1
        assert counts == expected_counts


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_inits_of_an_empty_database_at_once_both_succeed(backend, tmp_path):
    from repository import db

    for database in _fresh_databases(backend, tmp_path, ROUNDS):
        results = _together(("init", "--db", database), ("init", "--db", database))
        assert [code for code, _, _ in results] == [0, 0], results
        outputs = sorted(out for _, out, _ in results)
        assert outputs[0].startswith("created database"), outputs
        assert " is up to date (schema " in outputs[1], outputs
        engine = db.make_engine(db.resolve_url(database))
        try:
            assert db.current_revision(engine) == db.schema_revision()
        finally:
            engine.dispose()


def test_a_unique_key_collision_with_another_writer_is_one_usage_error(sqlite_db, monkeypatch):
    """The last resort: an IntegrityError from a concurrent writer becomes a one-line UsageError."""
    from sqlalchemy.exc import IntegrityError

    from repository import db, importer
    from repository.calcset import read_calcset
    from repository.errors import UsageError

    def collide(conn, plan):
        raise IntegrityError("INSERT ...", {}, Exception('duplicate key value violates unique constraint "x"\nDETAIL: ...'))

    monkeypatch.setattr(importer, "_claim_set", collide)
    with db.connected(sqlite_db) as engine, pytest.raises(UsageError) as caught:
        importer.import_calcset(engine, read_calcset(EXAMPLE_SET))
    assert str(caught.value) == ("another import changed set 'example-hbn' at the same time; run the import again "
                                 '(duplicate key value violates unique constraint "x")')


class _LockedCursor:
    """A cursor whose first `locked` PRAGMA journal_mode=WAL calls fail as SQLite's does while
    another process switches the same new file (no busy handler is called)."""

    def __init__(self, locked: int, message: str = "database is locked"):
        self.locked, self.message, self.calls = locked, message, 0

    def execute(self, sql: str):
        assert sql == "PRAGMA journal_mode=WAL"
        self.calls += 1
        if self.calls <= self.locked:
            raise sqlite3.OperationalError(self.message)


def test_switching_to_wal_retries_while_another_process_holds_the_lock():
    from repository import db

    cursor = _LockedCursor(locked=3)
    db.enable_wal(cursor, wait_s=5)
    assert cursor.calls == 4


def test_switching_to_wal_gives_up_when_the_lock_wait_runs_out():
    from repository import db

    cursor = _LockedCursor(locked=10**6)
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        db.enable_wal(cursor, wait_s=0.2)
    assert 0.2 <= time.monotonic() - started < 5
    assert cursor.calls > 1


def test_switching_to_wal_does_not_retry_other_errors():
    from repository import db

    cursor = _LockedCursor(locked=1, message="disk I/O error")
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        db.enable_wal(cursor, wait_s=5)
    assert cursor.calls == 1
