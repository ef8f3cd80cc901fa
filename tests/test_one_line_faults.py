"""The one-line contract for faults of the environment and of the database itself (issue 17): a
database made by a newer xasrepo, a dropped view, a full disk, read-only storage, a lost server
connection and too deeply nested input each end in one line and a documented exit code, never a
traceback, with nothing written."""

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from repository import db
from repository.errors import EnvironmentFault, NewerSchemaError

from .conftest import analyst_url, file_digest

FUTURE = "9999_from_the_future"


def _one_line(result, code):
    assert result.exit_code == code, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output
    return result.stderr


def _set_revision(url, revision):
    engine = db.make_engine(db.resolve_url(url))
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()


def test_a_database_of_a_newer_version_names_its_revision_and_is_not_touched(any_db, cli):
    _set_revision(any_db, FUTURE)
    path = db.sqlite_path(db.resolve_url(any_db))
    before = file_digest(path) if path else None
    for args in (("list",), ("query", "element = B"), ("init",)):
        message = _one_line(cli(*args, "--db", any_db), NewerSchemaError.exit_code)
        assert FUTURE in message and "newer xasrepo" in message and db.schema_revision() in message
    if path:
        assert file_digest(path) == before
    engine = db.make_engine(db.resolve_url(any_db))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == FUTURE
    engine.dispose()


@pytest.mark.parametrize("view", ["spectrum_overview", "snapshot_points"])
def test_a_dropped_view_is_one_line(any_db, cli, view):
    engine = db.make_engine(db.resolve_url(any_db))
    with engine.begin() as conn:
        conn.execute(text("DROP VIEW snapshot_points"))
        if view == "spectrum_overview":
            conn.execute(text("DROP VIEW spectrum_overview"))
    engine.dispose()
    assert view in _one_line(cli("sql", f"SELECT * FROM {view}", "--db", analyst_url(any_db)), 2)
    if view == "spectrum_overview":
        for args in [("list",), ("query", "element = B"), ("fields",)]:
            assert view in _one_line(cli(*args, "--db", any_db), 2)


@pytest.mark.parametrize("driver_error, code, words", [
    (sqlite3.OperationalError("database or disk is full"), 1, "disk is full"),
    (sqlite3.OperationalError("attempt to write a readonly database"), 1, "read-only storage"),
    (OSError(28, "No space left on device"), 1, "disk is full"),
    (RecursionError("maximum recursion depth exceeded"), 2, "nested too deeply"),
])
def test_environment_faults_during_import_are_one_line(sqlite_db, cli, tmp_path, monkeypatch, driver_error, code,
                                                       words):
    import repository.importer as importer

    def fail(*_args, **_kwargs):
        raise driver_error

    monkeypatch.setattr(importer, "import_records", fail)
    import cli.commands_import as commands

    monkeypatch.setattr(commands, "import_records", fail, raising=False)
    xdi = tmp_path / "fe.xdi"
    from .test_text_escaping import _xdi

    _xdi(xdi)
    before = file_digest(Path(sqlite_db))
    assert words in _one_line(cli("import", xdi, "--db", sqlite_db), code)
    assert file_digest(Path(sqlite_db)) == before


def test_a_lost_server_connection_is_one_line(any_db, cli, monkeypatch):
    if db.is_sqlite(db.resolve_url(any_db)):
        pytest.skip("a database-server fault")
    import repository.catalog as catalog
    from sqlalchemy import create_engine

    # a real lost connection: the server terminates the session while the command holds it
    def list_and_lose(engine, **kwargs):
        with engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
            admin = create_engine(db.resolve_url(any_db), isolation_level="AUTOCOMMIT")
            with admin.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            admin.dispose()
            conn.execute(text("SELECT 1"))

    monkeypatch.setattr(catalog, "list_spectra", list_and_lose)
    assert "connection to the database server was lost" in _one_line(cli("list", "--db", any_db), 1)


def test_a_fault_that_is_not_the_environment_keeps_its_traceback():
    assert db.fault_from(ValueError("a bug")) is None
    assert db.fault_from(sqlite3.OperationalError("near SELECT: syntax error")) is None
    assert isinstance(db.fault_from(sqlite3.OperationalError("disk I/O error")), EnvironmentFault)


def test_read_only_storage_is_opened_immutable_so_no_wal_files_are_needed(sqlite_db, monkeypatch):
    path = db.sqlite_path(db.resolve_url(sqlite_db))
    assert "immutable" not in db.read_only_uri(path)
    monkeypatch.setattr(db.os, "access", lambda *_args: False)  # as on a DVD or a read-only mount
    uri = db.read_only_uri(path)
    assert uri.endswith("?mode=ro&immutable=1")
    conn = sqlite3.connect(uri, uri=True)
    assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == db.schema_revision()
    conn.close()
