"""Read-only SQL for analysts: reads work, every kind of write is refused with one clear line and
leaves the database unchanged (SQLite and PostgreSQL); DuckDB SQL and filters over snapshot files."""

from __future__ import annotations

import json

import pytest

from tests.conftest import EXAMPLE_SET, analyst_url, file_digest, postgres_database

WRITES = {
    "INSERT": "INSERT INTO calculation_set (name, provenance_json, manifest_hash, imported_at) "
              "VALUES ('x', '{}', 'h', '2026-01-01')",
    "UPDATE": "UPDATE calculation_set SET name = 'changed'",
    "DELETE": "DELETE FROM calculation_set",
    "CREATE": "CREATE TABLE extra (id INTEGER)",
    "DROP": "DROP VIEW spectrum_overview",
    "ALTER": "ALTER TABLE calculation_set ADD COLUMN extra INTEGER",
    "ATTACH": "ATTACH DATABASE 'other.db' AS other",
    "PRAGMA write": "PRAGMA user_version = 7",
    "PRAGMA call": "PRAGMA journal_mode(DELETE)",
    "REPLACE": "REPLACE INTO calculation_set (id, name) VALUES (1, 'x')",
    "VACUUM": "VACUUM",
    "TRUNCATE": "TRUNCATE calculation_set",
    "SET": "SET TRANSACTION READ WRITE",
    "COPY": "COPY calculation_set TO '/tmp/out.csv'",
    "BEGIN": "BEGIN",
    "WITH ... DELETE": "WITH doomed AS (SELECT id FROM calculation_set) DELETE FROM calculation_set",
    "two statements": "SELECT 1; DELETE FROM calculation_set",
    "hidden after comment": "/* SELECT */ DELETE FROM calculation_set -- SELECT",
    "EXPLAIN ANALYZE": "EXPLAIN ANALYZE DELETE FROM calculation_set",
    "EXPLAIN QUERY PLAN": "EXPLAIN QUERY PLAN DELETE FROM calculation_set",
    "data-modifying CTE": "WITH gone AS (DELETE FROM calculation_set RETURNING id) SELECT * FROM gone",
    "nextval": "SELECT nextval('calculation_set_id_seq')",
}
# Statements one backend does not even parse: there a syntax error (still one line, still nothing
# changed) is as good as a refusal.
NOT_SQL_ON = {"sqlite": {"EXPLAIN ANALYZE", "data-modifying CTE", "nextval"}, "postgresql": {"EXPLAIN QUERY PLAN"}}


def _import_example(url: str) -> str:
    from repository import db
    from repository.calcset import read_calcset
    from repository.importer import import_calcset

    db.upgrade(url)
    engine = db.connect(url)
    try:
        import_calcset(engine, read_calcset(EXAMPLE_SET))
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def one_set(request, tmp_path_factory):
    """A database holding the example set (one calculation set), shared by this module's tests:
    none of them may change it."""
    if request.param == "sqlite":
        yield _import_example(str(tmp_path_factory.mktemp("sql") / "sql.db"))
        return
    with postgres_database() as url:
        yield analyst_url(_import_example(url))  # `sql` on PostgreSQL runs as the read-only analyst role


def state(url: str) -> tuple:
    from repository import db

    engine = db.connect(url)
    try:
        with engine.connect() as conn:
            from sqlalchemy import inspect, text

            names = sorted(inspect(conn).get_table_names() + inspect(conn).get_view_names())
            sets = conn.execute(text("SELECT id, name FROM calculation_set ORDER BY id")).all()
    finally:
        engine.dispose()
    path = db.sqlite_path(db.resolve_url(url))
    return names, sets, file_digest(path) if path else ""


def test_reading_statements_return_columns_and_rows(one_set):
    from repository.query import run_sql

    columns, rows = run_sql(one_set, "SELECT id, name FROM calculation_set")
    assert columns == ["id", "name"] and rows == [(1, "example-hbn")]
    columns, rows = run_sql(one_set, "  -- the sets\n WITH s AS (SELECT name FROM calculation_set) SELECT * FROM s;")
    assert rows == [("example-hbn",)]
    assert run_sql(one_set, "SELECT count(*) FROM spectrum_overview WHERE origin LIKE 'comp%'")[1] == [(3,)]


def test_sqlite_reading_pragmas_are_allowed(sqlite_db):
    from repository.query import run_sql

    columns, rows = run_sql(sqlite_db, "PRAGMA table_info(calculation_set)")
    assert "name" in columns and any(r[1] == "manifest_hash" for r in rows)
    assert run_sql(sqlite_db, "PRAGMA foreign_keys")[1]


@pytest.mark.parametrize("kind", list(WRITES))
def test_every_write_is_refused_with_one_line_and_changes_nothing(one_set, kind):
    from repository.errors import UsageError
    from repository.query import ReadOnlyViolation, run_sql

    before = state(one_set)
    backend = "sqlite" if "://" not in one_set else "postgresql"
    expected = UsageError if kind in NOT_SQL_ON[backend] else ReadOnlyViolation
    with pytest.raises(expected) as err:
        run_sql(one_set, WRITES[kind])
    message = str(err.value)
    assert "\n" not in message
    if expected is ReadOnlyViolation:
        assert "refused" in message or "one statement" in message
    assert state(one_set) == before


def test_a_writable_engine_given_to_run_sql_still_cannot_write(one_set):
    from repository import db
    from repository.query import ReadOnlyViolation, run_sql

    engine = db.connect(one_set)
    try:
        with pytest.raises(ReadOnlyViolation):
            run_sql(engine, "WITH x AS (SELECT 1) UPDATE calculation_set SET name = 'changed'")
        assert run_sql(engine, "SELECT name FROM calculation_set")[1] == [("example-hbn",)]
    finally:
        engine.dispose()


def test_sql_errors_are_one_line_usage_errors(one_set):
    from repository.errors import UsageError
    from repository.query import run_sql

    with pytest.raises(UsageError) as err:
        run_sql(one_set, "SELECT no_such_column FROM calculation_set")
    assert "\n" not in str(err.value) and str(err.value).startswith("SQL error")


def test_sql_cli_prints_json_csv_and_refuses_writes_with_exit_2(cli, one_set):
    result = cli("sql", "SELECT id, name FROM calculation_set", "--db", one_set, "--format", "json")
    assert result.exit_code == 0 and json.loads(result.stdout) == [{"id": 1, "name": "example-hbn"}]
    result = cli("sql", "SELECT name FROM calculation_set", "--db", one_set, "--format", "csv")
    assert result.stdout.splitlines() == ["name", "example-hbn"]
    before = state(one_set)
    result = cli("sql", "DELETE FROM calculation_set", "--db", one_set)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "refused DELETE" in result.stderr
    assert state(one_set) == before


# ---------------------------------------------------------------------------------------------
# snapshot Parquet files


@pytest.fixture
def snapshot_files(tmp_path):
    """Two small snapshot files shaped like the analysis layer's (coordinates + overview columns)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    first = pa.table({
        "spectrum_id": pa.array([1, 2, 3, 4], pa.int64()), "x": [0.1, 0.5, 2.0, -1.0], "y": [1.0, 2.0, 3.0, 4.0],
        "reduced_formula": ["BN", "BN", "B8N7", "B8N7"], "crystal_system": ["hexagonal"] * 4,
        "defect_name": [None, None, "v_N", "v_N"], "absorbing_element": ["B"] * 4, "edge": ["K"] * 4,
        "absorber_cn": pa.array([3, 3, 2, 3], pa.int64()),
        "absorber_defect_distance_a": [None, None, 1.45, 3.33]})
    second = first.slice(0, 2).drop_columns(["absorber_defect_distance_a"]).append_column("z", pa.array([0.0, 1.0]))
    paths = {"first": tmp_path / "first.parquet", "second": tmp_path / "second.parquet"}
    pq.write_table(first, paths["first"])
    pq.write_table(second, paths["second"])
    return paths


def test_snapshot_rows_filter_like_the_database(snapshot_files):
    import pyarrow.parquet as pq

    from repository.snapshots.parquet import filter_snapshot_rows

    table = pq.read_table(snapshot_files["first"])
    rows = table.to_pylist()
    expected = [r["spectrum_id"] for r in rows if r["defect_name"] == "v_N" and r["absorber_defect_distance_a"] < 3]
    for source in (table, snapshot_files["first"], table.to_pandas()):
        result = filter_snapshot_rows(source, "element = b and defect.name = v_N and absorber.defect_distance < 3")
        assert result.column("spectrum_id").to_pylist() == expected and result.column_names == table.column_names
    by_x = filter_snapshot_rows(table, "not defect.name = v_N or x < 0", sort="x:desc")
    assert by_x.column("spectrum_id").to_pylist() == [r["spectrum_id"] for r in sorted(
        (r for r in rows if r["defect_name"] != "v_N" or r["x"] < 0), key=lambda r: -r["x"])]
    assert filter_snapshot_rows(table, None, limit=2).num_rows == 2


def test_snapshot_filter_on_a_column_the_snapshot_lacks_lists_its_fields(snapshot_files):
    from repository.query import FilterError
    from repository.snapshots.parquet import filter_snapshot_rows

    with pytest.raises(FilterError, match="^field absorber.defect_distance is a query field but not a snapshot "
                                          "column; snapshot columns: spectrum_id, .*x, y") as err:
        filter_snapshot_rows(snapshot_files["second"], "absorber.defect_distance < 3")
    assert "\n" not in str(err.value)


def test_snapshot_sql_runs_over_several_files_together(snapshot_files):
    from repository.snapshots.parquet import snapshot_sql

    columns, rows = snapshot_sql({k: str(v) for k, v in snapshot_files.items()},
                                 "SELECT snapshot, count(*) AS n, count(z) AS with_z FROM snapshots "
                                 "GROUP BY snapshot ORDER BY snapshot")
    assert columns == ["snapshot", "n", "with_z"] and rows == [("first", 4, 0), ("second", 2, 2)]
    _, joined = snapshot_sql(snapshot_files, "SELECT a.spectrum_id, b.z FROM first a JOIN second b USING "
                                             "(spectrum_id) ORDER BY 1")
    assert joined == [(1, 0.0), (2, 1.0)]


@pytest.mark.parametrize("statement", ["COPY first TO '{out}'", "SELECT * FROM read_csv('{out}')",
                                       "SELECT * FROM '{src}'", "CREATE TABLE t AS SELECT 1",
                                       "SET enable_external_access = true", "ATTACH '{out}' AS other",
                                       "SELECT 1; COPY first TO '{out}'", "INSTALL sqlite"])
def test_snapshot_sql_cannot_write_or_touch_files(snapshot_files, tmp_path, statement):
    from repository.query import ReadOnlyViolation
    from repository.snapshots.parquet import snapshot_sql

    out = tmp_path / "written.csv"
    before = file_digest(snapshot_files["first"])
    with pytest.raises(ReadOnlyViolation):
        snapshot_sql(snapshot_files, statement.format(out=out, src=snapshot_files["second"]))
    assert not out.exists() and file_digest(snapshot_files["first"]) == before


def test_sql_cli_over_snapshot_files(cli, snapshot_files, sqlite_db):
    result = cli("sql", "SELECT snapshot, count(*) AS n FROM snapshots GROUP BY 1 ORDER BY 1", "--db", sqlite_db,
                 "--snapshot", f"first={snapshot_files['first']}", "--snapshot", f"second={snapshot_files['second']}",
                 "--format", "csv")
    assert result.exit_code == 0 and result.stdout.splitlines() == ["snapshot,n", "first,4", "second,2"]
    result = cli("sql", "SELECT 1", "--db", sqlite_db, "--snapshot", "no-equals-sign")
    assert result.exit_code == 2 and "NAME=FILE.parquet" in result.stderr
