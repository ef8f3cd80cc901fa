"""`xasrepo sql` that an administrator can hand out (issue 17): on PostgreSQL it runs only as a
role that can just read (the analyst role `init --analyst-role` makes), never as a superuser or
a role that can write; on SQLite only allow-listed functions run, and a refused one is named."""

from __future__ import annotations

import uuid

import pytest

from repository import db
from repository.query.readonly import ReadOnlyViolation, WritableRole, run_sql

from .conftest import EXAMPLE_SET, postgres_database


def _one_line(result, code=2) -> str:
    assert result.exit_code == code, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output
    return result.stderr


@pytest.fixture
def pg_db(cli):
    with postgres_database() as url:
        assert cli("init", "--db", url).exit_code == 0
        assert cli("import", EXAMPLE_SET, "--db", url).exit_code == 0
        yield url


def _admin(url: str):
    from sqlalchemy import create_engine

    return create_engine(db.resolve_url(url), isolation_level="AUTOCOMMIT")


def _with_user(url: str, role: str, password: str | None = None) -> str:
    host = url.split("@", 1)[1]
    return f"postgresql://{role}{':' + password if password else ''}@{host}"


def test_sql_refuses_the_superuser_url_that_ci_hands_out(pg_db, cli):
    message = _one_line(cli("sql", "SELECT count(*) FROM spectrum", "--db", pg_db))
    assert "role postgres is a superuser" in message and "--analyst-role NAME" in message
    with pytest.raises(WritableRole):
        run_sql(pg_db, "SELECT 1")
    # the statements issue 17 ran as the superuser never reach the server
    for statement in ("SELECT pg_create_physical_replication_slot('fill_the_disk')", "SELECT pg_reload_conf()",
                      "SELECT pg_read_file('/etc/passwd')", "SELECT pg_terminate_backend(pg_backend_pid())"):
        assert "superuser" in _one_line(cli("sql", statement, "--db", pg_db))
    engine = _admin(pg_db)
    with engine.connect() as conn:
        from sqlalchemy import text

        assert conn.execute(text("SELECT count(*) FROM pg_replication_slots")).scalar() == 0
    engine.dispose()


def test_init_makes_an_analyst_role_that_reads_and_can_do_nothing_else(pg_db, cli):
    from sqlalchemy import text

    role = f"xasrepo_test_{uuid.uuid4().hex[:8]}_analyst"
    try:
        result = cli("init", "--db", pg_db, "--analyst-role", role, "--analyst-password", "p'w\\1")
        assert result.exit_code == 0, result.output
        assert f"analyst role {role}" in result.stdout and "p'w" not in result.stdout
        analyst = _with_user(pg_db, role, "p'w\\1")
        result = cli("sql", "SELECT count(*) AS n FROM spectrum_overview", "--db", analyst, "-f", "csv")
        assert result.exit_code == 0 and result.stdout == "n\n3\n", result.output
        # the server itself refuses what the statement check would have refused first
        import psycopg

        with psycopg.connect(analyst) as conn:
            for statement in ("INSERT INTO calculation_set (name, provenance_json, manifest_hash, imported_at) "
                              "VALUES ('x', '{}', 'h', now())", "DELETE FROM spectrum", "CREATE TABLE t (x int)",
                              "SELECT pg_read_file('/etc/passwd')", "SELECT pg_reload_conf()",
                              "SELECT pg_create_physical_replication_slot('s')"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
                conn.rollback()
        # through xasrepo sql the same refusals are one line
        assert "pg_read_file" in _one_line(cli("sql", "SELECT pg_read_file('/etc/passwd')", "--db", analyst))
        # tables added later (a newer migration) are readable too: default privileges
        engine = _admin(pg_db)
        with engine.connect() as conn:
            conn.execute(text("CREATE TABLE later_table (x int)"))
            conn.execute(text("INSERT INTO later_table VALUES (7)"))
        engine.dispose()
        assert run_sql(analyst, "SELECT x FROM later_table")[1] == [(7,)]
        # running init again with the same role is fine (grants again, nothing else)
        assert cli("init", "--db", pg_db, "--analyst-role", role).exit_code == 0
    finally:
        engine = _admin(pg_db)
        with engine.connect() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        engine.dispose()


def test_sql_refuses_a_role_that_can_write_naming_it(pg_db, cli):
    from sqlalchemy import text

    role = f"xasrepo_test_{uuid.uuid4().hex[:8]}_writer"
    engine = _admin(pg_db)
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
            conn.execute(text(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"'))
            conn.execute(text(f'GRANT INSERT, DELETE ON spectrum TO "{role}"'))
        message = _one_line(cli("sql", "SELECT count(*) FROM spectrum", "--db", _with_user(pg_db, role)))
        assert f"role {role} can write to public.spectrum" in message and "--analyst-role NAME" in message
        with engine.connect() as conn:
            conn.execute(text(f'REVOKE INSERT, DELETE ON spectrum FROM "{role}"'))
            conn.execute(text(f'GRANT pg_signal_backend TO "{role}"'))
        message = _one_line(cli("sql", "SELECT 1", "--db", _with_user(pg_db, role)))
        assert "is a member of pg_signal_backend" in message
        with engine.connect() as conn:
            conn.execute(text(f'REVOKE pg_signal_backend FROM "{role}"'))
        result = cli("sql", "SELECT count(*) AS n FROM spectrum", "--db", _with_user(pg_db, role), "-f", "csv")
        assert result.exit_code == 0 and result.stdout == "n\n3\n", result.output
        # an existing role that can do more than read is not made an analyst role
        with engine.connect() as conn:
            conn.execute(text(f'GRANT UPDATE ON spectrum TO "{role}"'))
        message = _one_line(cli("init", "--db", pg_db, "--analyst-role", role))
        assert f"role {role} already exists and can write to public.spectrum" in message
        with pytest.raises(ReadOnlyViolation):
            run_sql(_with_user(pg_db, role), "SELECT 1")
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        engine.dispose()


def test_analyst_role_options_are_checked(sqlite_db, cli):
    assert "for PostgreSQL" in _one_line(cli("init", "--db", sqlite_db, "--analyst-role", "reader"))
    assert "--analyst-role" in _one_line(cli("init", "--db", sqlite_db, "--analyst-password", "x"))


@pytest.mark.parametrize("name", ["nope", "Robert'); DROP TABLE spectrum;--", "1abc"])
def test_analyst_role_names_are_plain_identifiers(pg_db, cli, name):
    assert "analyst role name" in _one_line(cli("init", "--db", pg_db, "--analyst-role", name.upper()))


# ---------------------------------------------------------------------------------------------
# SQLite: an allow-list of functions


@pytest.mark.parametrize("call, function", [
    ("fts3_tokenizer('simple')", "fts3_tokenizer"),
    ("load_extension('x')", "load_extension"),
    ("sqlite_log(1, 'written to the error log')", "sqlite_log"),  # allowed by a deny-list
    ("rtreenode(2, x'00')", "rtreenode"),  # allowed by a deny-list
    ("sqlite_compileoption_get(0)", "sqlite_compileoption_get"),  # allowed by a deny-list
])
def test_sqlite_functions_off_the_allow_list_are_refused_by_name(sqlite_db, cli, call, function):
    message = _one_line(cli("sql", f"SELECT {call}", "--db", sqlite_db))
    assert f"function {function}() is not allowed" in message and "tries to write" not in message
    with pytest.raises(ReadOnlyViolation, match="is not allowed"):
        run_sql(sqlite_db, f"SELECT {call}")


def test_the_functions_analysts_use_are_allowed_on_sqlite(sqlite_db):
    statement = ("SELECT count(*), avg(n_points), round(max(energy_max_ev) - min(energy_min_ev), 3), "
                 "group_concat(DISTINCT edge), lower(upper('Bn')), coalesce(NULL, 1), "
                 "json_extract('{\"a\": 2}', '$.a'), strftime('%Y', '2026-11-30'), sqrt(16.0), "
                 "row_number() OVER () FROM spectrum_overview")
    columns, rows = run_sql(sqlite_db, statement)
    assert rows == [(0, None, None, None, "bn", 1, 2, "2026", 4.0, 1)]
