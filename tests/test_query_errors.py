"""`xasrepo sql` / `xasrepo query` and the query library when the database or a snapshot file is
unusable: unreachable server, missing database, a file that is not a database, no xasrepo schema,
damaged / altered / swapped Parquet files, a NUL in a filter, a typo for SELECT. Each is one line
on stderr with exit code 2 (CLI) and a XasrepoError subclass (library), never a traceback."""

from __future__ import annotations

import os
import shutil
from contextlib import nullcontext

import pytest

from repository.errors import InputError, NotFoundError, SchemaError, UsageError
from tests.conftest import analyst_url, postgres_database, postgres_server_url

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/x"


def _one_line_error(result, *needles):
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr
    return result.stderr


@pytest.fixture
def not_a_database(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("these are notes, not an SQLite database\n")
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def schemaless(request, tmp_path):
    """A database (each backend) that exists but has no xasrepo schema."""
    if request.param == "sqlite":
        import sqlite3

        path = tmp_path / "other.db"
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE unrelated (x INTEGER)")
        conn.close()
        yield str(path)
        return
    with postgres_database() as url:
        yield analyst_url(url)  # `sql` on PostgreSQL runs as a read-only role


# --------------------------------------------------------------------------------------------
# 1. a database that cannot be opened


def test_sql_on_an_unreachable_server_is_one_line_exit_2(cli):
    _one_line_error(cli("sql", "select 1", "--db", UNREACHABLE),
                    "database postgresql+psycopg://postgres@127.0.0.1:1/x: cannot be opened: ")
    _one_line_error(cli("query", "--db", UNREACHABLE), "127.0.0.1:1/x: cannot be opened: ")


def test_sql_on_a_database_that_does_not_exist_on_the_server_is_one_line_exit_2(cli):
    url = postgres_server_url().rsplit("/", 1)[0] + "/xasrepo_no_such_database"
    message = _one_line_error(cli("sql", "select 1", "--db", url), "xasrepo_no_such_database: cannot be opened: ")
    assert "does not exist" in message


def test_run_sql_on_an_unopenable_database_raises_a_usage_error():
    from repository.query import run_sql

    with pytest.raises(UsageError, match=r"^database .*127\.0\.0\.1:1/x: cannot be opened: ") as err:
        run_sql(UNREACHABLE, "select 1")
    assert "\n" not in str(err.value)


def test_sql_and_query_on_a_file_that_is_not_a_database(cli, not_a_database):
    from repository.query import query_spectra, run_sql, spectrum_ids

    for args in (("sql", "select 1"), ("query",), ("query", "element = B")):
        _one_line_error(cli(*args, "--db", not_a_database), f"database {not_a_database}: not an SQLite database file")
    for call in (lambda: run_sql(str(not_a_database), "select 1"),
                 lambda: spectrum_ids(str(not_a_database), None),
                 lambda: query_spectra(not_a_database, "element = B")):
        with pytest.raises(UsageError, match="not an SQLite database file"):
            call()


def test_sql_on_a_database_without_the_schema_says_to_run_init(cli, schemaless):
    from repository.db import describe, resolve_url
    from repository.query import run_sql

    where = describe(resolve_url(schemaless))
    for statement in ("SELECT * FROM spectrum_overview", "SELECT count(*) FROM calculation_set"):
        _one_line_error(cli("sql", statement, "--db", schemaless), f"database {where} has no xasrepo schema",
                        f"run `xasrepo init --db {where}`")
        with pytest.raises(SchemaError, match="has no xasrepo schema"):
            run_sql(schemaless, statement)
    # a table that is not the project's stays an ordinary SQL error
    message = _one_line_error(cli("sql", "SELECT * FROM no_such_table", "--db", schemaless), "SQL error")
    assert "xasrepo schema" not in message


# --------------------------------------------------------------------------------------------
# 4. library entry points given a --db value; NUL in a filter; a typo for SELECT


def test_spectrum_ids_and_query_spectra_accept_a_path_or_url(any_db, monkeypatch):
    from repository.query import query_spectra, spectrum_ids

    assert spectrum_ids(any_db, "element = B") == []
    assert query_spectra(any_db, None, columns="spectrum_id") == []
    monkeypatch.setenv("XASREPO_DB", any_db)
    assert query_spectra(None, "element = B") == [] and spectrum_ids(None, None) == []


def test_spectrum_ids_on_an_unreachable_server_or_a_wrong_object_is_a_usage_error():
    from repository.query import query_spectra, spectrum_ids

    with pytest.raises(UsageError, match="cannot be opened"):
        spectrum_ids(UNREACHABLE, "element = B")
    with pytest.raises(UsageError, match="expected an engine"):
        query_spectra(42, "element = B")


def test_a_nul_in_a_filter_is_a_one_line_filter_error(any_db):
    from repository.query import FilterError, parse_filter, spectrum_ids
    from repository.snapshots.parquet import filter_snapshot_rows

    for text in ('defect.name = "v\x00N"', "element = B\x00", "\x00"):
        with pytest.raises(FilterError, match="NUL character") as err:
            parse_filter(text)
        assert "\n" not in str(err.value)
    with pytest.raises(FilterError, match="NUL character"):
        spectrum_ids(any_db, 'defect.name = "v\x00N"')
    import pyarrow as pa

    with pytest.raises(FilterError, match="NUL character"):
        filter_snapshot_rows(pa.table({"spectrum_id": [1], "defect_name": ["v_N"]}), 'defect.name = "v\x00N"')


def test_a_typo_for_select_is_named_as_such_and_writes_are_still_refused(cli, sqlite_db):
    from repository.query import ReadOnlyViolation, run_sql

    message = _one_line_error(cli("sql", "SELEC 1", "--db", sqlite_db), "'SELEC' does not start a read-only statement",
                              "typo for SELECT")
    assert "refused SELEC" not in message
    with pytest.raises(ReadOnlyViolation, match="typo for WITH"):
        run_sql(sqlite_db, "WIHT x AS (SELECT 1) SELECT * FROM x")
    with pytest.raises(ReadOnlyViolation, match="refused DELETE statement"):
        run_sql(sqlite_db, "DELETE FROM calculation_set")
    with pytest.raises(ReadOnlyViolation, match="does not start a read-only statement") as err:
        run_sql(sqlite_db, "FROBNICATE everything")
    assert "typo" not in str(err.value)


# --------------------------------------------------------------------------------------------
# 3. a damaged Parquet file given by path


@pytest.fixture
def garbage(tmp_path):
    path = tmp_path / "garbage.parquet"
    path.write_bytes(b"not parquet at all\n" * 10)
    return path


@pytest.fixture
def good_snapshot(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "good.parquet"
    pq.write_table(pa.table({"spectrum_id": [1, 2], "x": [0.0, 1.0], "y": [1.0, 0.0],
                             "defect_name": ["v_N", None]}), path)
    return path


def test_a_damaged_parquet_file_is_an_input_error_naming_it(garbage, good_snapshot, tmp_path):
    from repository.snapshots.parquet import filter_snapshot_rows, snapshot_sql

    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(good_snapshot.read_bytes()[:-20])
    for bad in (garbage, truncated, tmp_path):
        with pytest.raises(InputError) as err:
            filter_snapshot_rows(str(bad), "defect.name = v_N")
        assert err.value.file == str(bad) and "\n" not in str(err.value)
        with pytest.raises(InputError) as err:
            snapshot_sql({"a": good_snapshot, "b": bad}, "SELECT count(*) FROM b")
        assert err.value.file == str(bad)
    # a real SQL error in the statement stays the one-line SQL error it was
    with pytest.raises(UsageError, match="^SQL error") as err:
        snapshot_sql({"a": good_snapshot}, "SELECT no_such_column FROM a")
    assert not isinstance(err.value, InputError)


def test_sql_cli_on_a_damaged_parquet_file_is_one_line_exit_2(cli, garbage, good_snapshot):
    _one_line_error(cli("sql", "--snapshot", f"a={garbage}", "SELECT COUNT(*) FROM a"),
                    "garbage.parquet", "not a readable Parquet file")
    assert cli("sql", "--snapshot", f"a={good_snapshot}", "SELECT COUNT(*) FROM a", "--format", "csv"
               ).stdout.splitlines() == ["count_star()", "2"]


# --------------------------------------------------------------------------------------------
# 2. `sql --snapshots`: registered files are verified against their SHA-256 first


@pytest.fixture(params=["sqlite", "postgres"])
def registry(request, tmp_path, monkeypatch):
    """A database (each backend) with two registered snapshots of the example set."""
    from repository import db
    from repository.analysis.create import create_snapshot
    from repository.snapshots.files import SNAPSHOT_DIR_ENV
    from repository.calcset import read_calcset
    from repository.importer import import_calcset
    from tests.conftest import EXAMPLE_SET

    monkeypatch.setenv(SNAPSHOT_DIR_ENV, str(tmp_path / "snapshots"))
    sqlite = nullcontext(str(tmp_path / "registry.db"))
    with sqlite if request.param == "sqlite" else postgres_database() as url:
        db.upgrade(url)
        engine = db.connect(url)
        try:
            import_calcset(engine, read_calcset(EXAMPLE_SET))
            both = "polarization = iso or polarization = z"  # all 3 curves (an unnamed polarisation keeps iso only)
            first = create_snapshot(engine, method="pca", where=both, force=True).record
            second = create_snapshot(engine, method="pca", where=both, seed=1, n_components=3, force=True).record
        finally:
            engine.dispose()
        yield url, first, second


def test_sql_over_registered_snapshots_checks_each_file_first(cli, registry):
    from repository import db
    from repository.snapshots.registry import registered_snapshots

    url, first, second = registry
    ok = cli("sql", "--snapshots", "--db", url, "SELECT snapshot, count(*) FROM snapshots GROUP BY 1 ORDER BY 1",
             "--format", "csv")
    assert ok.exit_code == 0, ok.output
    assert len(ok.stdout.splitlines()) == 3

    # swapped for the other snapshot's (valid) file: would silently give the wrong rows
    with open(first["path"], "rb") as handle:
        original = handle.read()
    shutil.copyfile(second["path"], first["path"])
    _one_line_error(cli("sql", "--snapshots", "--db", url, "SELECT count(*) FROM snapshots"),
                    str(first["path"]) if not os.path.isabs(first["path"]) else os.path.basename(first["path"]),
                    "altered")
    engine = db.connect(url)
    try:
        with pytest.raises(InputError, match="altered") as err:
            registered_snapshots(engine)
        assert err.value.file.endswith(os.path.basename(first["path"]))
        # damaged bytes: the same refusal, not a pyarrow/DuckDB traceback
        with open(first["path"], "wb") as handle:
            handle.write(original[:-30])
        _one_line_error(cli("sql", "--snapshots", "--db", url, "SELECT count(*) FROM snapshots"), "altered")
        # missing
        os.remove(first["path"])
        _one_line_error(cli("sql", "--snapshots", "--db", url, "SELECT count(*) FROM snapshots"), "is missing")
        with pytest.raises(NotFoundError, match="is missing"):
            registered_snapshots(engine)
    finally:
        engine.dispose()
