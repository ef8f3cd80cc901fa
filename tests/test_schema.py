"""Migrations match the models; databases are found, checked and upgraded as documented."""

from __future__ import annotations

import sqlite3

import pytest

from repository import db
from repository.errors import SchemaError


def test_migrations_match_the_models_exactly(any_db):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import repository.models  # noqa: F401

    engine = db.make_engine(db.resolve_url(any_db))
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "include_object": _exclude_views})
        diff = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    assert diff == []


def _exclude_views(obj, name, type_, reflected, compare_to):
    # Views are created by hand in revisions; reflection reports them as tables without models.
    return not (type_ == "table" and reflected and compare_to is None and name in db.VIEW_NAMES)


def test_schema_revision_is_the_single_alembic_head():
    from alembic.script import ScriptDirectory

    from repository.db import alembic_config

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert script.get_heads() == [db.schema_revision()]


def test_every_command_on_an_old_database_says_how_to_upgrade(tmp_path, cli):
    path = tmp_path / "old.db"
    db.upgrade(str(path), revision="0001_initial")
    result = cli("list", "--db", path)
    assert result.exit_code == 2
    assert f"is at schema revision 0001_initial, this xasrepo needs {db.schema_revision()}" in result.stderr
    assert f"run `xasrepo init --db {path}` to upgrade" in result.stderr
    assert "upgraded database" in cli("init", "--db", path).stdout
    assert cli("list", "--db", path).exit_code == 0


def test_missing_database_is_an_error_not_a_new_file(tmp_path, cli):
    path = tmp_path / "nothing.db"
    result = cli("list", "--db", path)
    assert result.exit_code == 2 and "does not exist; run `xasrepo init" in result.stderr
    assert not path.exists()


def test_db_option_beats_environment_which_beats_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(db.DB_ENV_VAR, raising=False)
    assert db.resolve_url(None) == f"sqlite:///{tmp_path / db.DEFAULT_DB_FILENAME}"
    monkeypatch.setenv(db.DB_ENV_VAR, "env.db")
    assert db.resolve_url(None) == f"sqlite:///{tmp_path / 'env.db'}"
    assert db.resolve_url("opt.db") == f"sqlite:///{tmp_path / 'opt.db'}"
    assert db.resolve_url("postgresql://u@h/x") == "postgresql+psycopg://u@h/x"


def test_environment_variable_selects_the_database_for_commands(tmp_path, cli):
    path = tmp_path / "via-env.db"
    assert cli("init", env={db.DB_ENV_VAR: str(path)}).exit_code == 0
    assert path.exists()


def test_sqlite_runs_with_foreign_keys_and_wal(sqlite_db):
    from sqlalchemy import text

    engine = db.connect(sqlite_db)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()
    # A raw connection without our pragmas sees WAL too: it is a property of the file.
    assert sqlite3.connect(sqlite_db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_foreign_keys_are_enforced(sqlite_db):
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    engine = db.connect(sqlite_db)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("INSERT INTO descriptor (calculation_id, name, value) VALUES (999, 'x', 1.0)"))
    engine.dispose()


def test_downgrade_to_base_and_upgrade_again_keeps_working(sqlite_db):
    db.downgrade(sqlite_db, "base")
    with pytest.raises(SchemaError, match="has no xasrepo schema"):
        db.connect(sqlite_db)
    db.upgrade(sqlite_db)
    db.connect(sqlite_db).dispose()
