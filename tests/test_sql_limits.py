"""`xasrepo sql` for analysts (issue 17): a statement time limit on SQLite, PostgreSQL and DuckDB
(--timeout, default DEFAULT_SQL_TIMEOUT_S), Ctrl-C that cancels the statement -- on the server
too -- and rows streamed in batches instead of all held in memory."""

import os
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from repository import db
from repository.errors import QueryCancelled, QueryTimeout
from repository.query.readonly import DEFAULT_SQL_TIMEOUT_S, FETCH_BATCH_ROWS, open_sql
from repository.snapshots.parquet import open_snapshot_sql

from .conftest import ROOT, analyst_url

ENDLESS = {  # statements that never finish on their own, and yield rows as they go
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c",
    "postgresql": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c",
}
SLOW = {  # one row, after a long time
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    "postgresql": "SELECT pg_sleep(60)",
}


def _dialect(url: str) -> str:
    return "sqlite" if db.is_sqlite(db.resolve_url(url)) else "postgresql"


@pytest.fixture
def reader(any_db) -> str:
    """``any_db`` as `xasrepo sql` reads it: on PostgreSQL through the read-only analyst role."""
    return analyst_url(any_db)


def test_the_default_time_limit_is_a_minute():
    assert DEFAULT_SQL_TIMEOUT_S == 60


def test_a_statement_past_its_time_limit_is_cancelled_one_line_exit_2(reader, cli):
    started = time.monotonic()
    result = cli("sql", SLOW[_dialect(reader)], "--db", reader, "--timeout", "1")
    assert time.monotonic() - started < 15
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "time limit of 1 s" in result.stderr and "--timeout" in result.stderr


def test_rows_are_streamed_so_an_endless_result_can_be_read_in_part(reader):
    with open_sql(reader, ENDLESS[_dialect(reader)], timeout_s=30) as result:
        batches = result.batches()
        first = next(batches)
        second = next(batches)
    assert len(first) == len(second) == FETCH_BATCH_ROWS
    assert [r[0] for r in first[:3]] == [1, 2, 3] and second[0][0] == FETCH_BATCH_ROWS + 1


def test_an_endless_result_printed_as_csv_stops_at_the_time_limit(reader, cli):
    result = cli("sql", ENDLESS[_dialect(reader)], "--db", reader, "--timeout", "1", "-f", "csv")
    assert result.exit_code == 2 and "time limit" in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "x" and lines[1:4] == ["1", "2", "3"] and len(lines) > FETCH_BATCH_ROWS


def test_duckdb_over_snapshots_has_the_time_limit_too(tmp_path, cli):
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"spectrum_id": [1, 2], "x": [0.0, 1.0], "y": [1.0, 0.0]}), path)
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    with pytest.raises(QueryTimeout):
        with open_snapshot_sql({"s": str(path)}, endless, timeout_s=1) as result:
            list(result.batches())
    result = cli("sql", "--snapshot", f"s={path}", "SELECT count(*) AS n FROM s", "-f", "csv")
    assert result.exit_code == 0 and result.stdout == "n\n2\n"


def _interrupt_after(args: list[str], seconds: float) -> tuple[int, float, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "cli.main", "sql", *args], env=env, cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(seconds)
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    return process.returncode, time.monotonic() - sent, err


def test_ctrl_c_cancels_the_statement_one_line_exit_130(any_db, reader):
    code, latency, err = _interrupt_after(["--db", reader, "--timeout", "0", SLOW[_dialect(any_db)]], 4.0)
    assert code == QueryCancelled.exit_code == 130
    assert err == "error: interrupted (Ctrl-C): the statement was cancelled\n"
    assert latency < 5
    if _dialect(any_db) == "postgresql":  # the server stopped too: no session still runs it
        from sqlalchemy import text

        engine = db.make_engine(db.resolve_url(any_db))
        try:
            with engine.connect() as conn:
                running = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                                            "AND query LIKE 'SELECT pg_sleep(60)%'")).scalar()
        finally:
            engine.dispose()
        assert running == 0


def test_ctrl_c_cancels_a_duckdb_statement_one_line_exit_130(tmp_path):
    """DuckDB may call an interrupted connection busy for a moment: closing it must not end in a
    traceback (it did: exit code 1 or an abort)."""
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"spectrum_id": [1, 2], "x": [0.0, 1.0], "y": [1.0, 0.0]}), path)
    # 6 s: under load the process may need seconds to import DuckDB and start the statement
    code, latency, err = _interrupt_after(["--snapshot", f"s={path}", "--timeout", "0", SLOW["sqlite"]], 6.0)
    assert code == QueryCancelled.exit_code and err == "error: interrupted (Ctrl-C): the statement was cancelled\n"
    assert latency < 5


@pytest.mark.parametrize("call", ["fts3_tokenizer('simple')", "load_extension('x')"])
def test_sqlite_functions_that_reach_outside_the_database_are_refused(sqlite_db, cli, call):
    result = cli("sql", f"SELECT {call}", "--db", sqlite_db)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "not authorized" in result.stderr or "refused" in result.stderr
    assert cli("sql", "SELECT upper('b'), length('bn')", "--db", sqlite_db, "-f", "csv").stdout.endswith("B,2\n")
