"""`xasrepo sql` checks the database's schema revision as `query` does: a database at an older (or
a newer) Alembic revision gets one line saying which revision it has, which this xasrepo needs and
how to upgrade, exit 2, instead of an SQL error about a missing column or, worse, an answer from
the old views' columns."""

from __future__ import annotations

import sqlite3

import pytest

from repository import db
from repository.errors import NewerSchemaError, SchemaError
from tests.conftest import analyst_url, postgres_database

OLD = "0005_identity_links_spectroscopy"  # before 0006 added host_* columns to spectrum_overview


@pytest.fixture(params=["sqlite", "postgres"])
def old_db(request, tmp_path):
    """A database migrated only up to revision OLD, as `xasrepo sql` is given it (PostgreSQL: the
    read-only analyst role's URL)."""
    if request.param == "sqlite":
        path = str(tmp_path / "old.db")
        db.upgrade(path, OLD)
        yield path
        return
    with postgres_database() as url:
        db.upgrade(url, OLD)
        yield analyst_url(url)


def _one_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    return result.stderr.strip()


def test_sql_on_an_older_revision_says_which_and_how_to_upgrade(cli, old_db):
    from repository.query import run_sql

    where = db.describe(db.resolve_url(old_db))
    expected = db.schema_revision()
    assert OLD != expected
    # a column of the current view (was: "SQL error: no such column"), and one the old view has too
    # (was: an answer from the old view, with other columns than docs/sql.md lists)
    for statement in ("SELECT host_polymorph FROM spectrum_overview", "SELECT * FROM spectrum_overview"):
        message = _one_line(cli("sql", statement, "--db", old_db))
        assert message == (f"error: database {where} is at schema revision {OLD}, this xasrepo needs {expected}; "
                           f"run `xasrepo init --db {where}` to upgrade")
    with pytest.raises(SchemaError, match=f"schema revision {OLD}"):
        run_sql(old_db, "SELECT 1")


def test_sql_on_a_newer_revision_says_to_use_the_newer_xasrepo(cli, tmp_path):
    path = tmp_path / "newer.db"
    db.upgrade(str(path))
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099_from_the_future'")
    conn.close()
    message = _one_line(cli("sql", "SELECT count(*) FROM spectrum", "--db", path))
    assert "0099_from_the_future" in message and "newer xasrepo" in message
    from repository.query import run_sql

    with pytest.raises(NewerSchemaError):
        run_sql(str(path), "SELECT 1")


def test_sql_on_the_current_revision_and_on_a_database_not_made_by_xasrepo_still_runs(cli, sqlite_db, tmp_path):
    ok = cli("sql", "SELECT count(*) AS n FROM spectrum_overview", "--db", sqlite_db, "--format", "csv")
    assert ok.exit_code == 0 and ok.stdout == "n\n0\n"
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
        conn.execute("INSERT INTO t VALUES (7)")
    conn.close()
    result = cli("sql", "SELECT x FROM t", "--db", other, "--format", "csv")
    assert result.exit_code == 0 and result.stdout == "x\n7\n"
