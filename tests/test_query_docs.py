"""docs/sql.md is executed: every SQL example on both backends (same answers), every console
command (output compared where the page shows it), every Python example, and the claim that
sqlite3, pandas and DuckDB read the same data."""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, analyst_url, postgres_database
from tests.test_query_db import populate

DOC = ROOT / "docs" / "sql.md"


def blocks(language: str) -> list[str]:
    """The fenced code blocks of docs/sql.md in ``language``, in order."""
    found, current, fence = [], None, None
    for line in DOC.read_text().splitlines():
        stripped = line.strip()
        if current is None and stripped.startswith("```"):
            fence, current = stripped[3:].strip(), []
        elif current is not None and stripped == "```":
            if fence == language:
                found.append("\n".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return found


def commands(block: str) -> list[tuple[str, list[str]]]:
    """``$ command`` lines of a console block with the output lines shown after each."""
    out: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            out.append((line[2:], []))
        elif out:
            out[-1][1].append(line)
    return out


SQL = blocks("sql")
CONSOLE = [c for block in blocks("console") for c in commands(block)]
PYTHON = blocks("python")


def _snapshot(url: str, directory: Path) -> None:
    from repository import db
    from repository.analysis.create import create_snapshot

    engine = db.connect(url)
    try:
        create_snapshot(engine, method="pca", element="B", edge="K", directory=directory)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def docs_repo(tmp_path_factory) -> Path:
    """A folder with xasrepo.db (five spectra) and one PCA snapshot in xasrepo.snapshots/."""
    folder = tmp_path_factory.mktemp("docs")
    populate(str(folder / "xasrepo.db"), folder)
    _snapshot(str(folder / "xasrepo.db"), folder / "xasrepo.snapshots")
    return folder


@pytest.fixture(scope="module")
def docs_pg(tmp_path_factory):
    folder = tmp_path_factory.mktemp("docs_pg")
    with postgres_database() as url:
        populate(url, folder)
        _snapshot(url, folder / "snapshots")
        yield analyst_url(url)  # `xasrepo sql` on PostgreSQL runs as the read-only analyst role


@pytest.fixture
def in_docs_repo(docs_repo, monkeypatch):
    monkeypatch.chdir(docs_repo)
    monkeypatch.delenv("XASREPO_DB", raising=False)
    monkeypatch.delenv("XASREPO_SNAPSHOT_DIR", raising=False)
    return docs_repo


def test_the_page_has_at_least_five_worked_sql_examples():
    assert len(SQL) >= 5 and all("SELECT" in sql for sql in SQL)


def _rounded(rows):
    return [tuple(round(v, 9) if isinstance(v, float) else v for v in row) for row in rows]


@pytest.mark.parametrize("number", range(1, len(SQL) + 1))
def test_every_sql_example_runs_read_only_and_finds_rows(docs_repo, number):
    from repository.query import run_sql

    columns, rows = run_sql(str(docs_repo / "xasrepo.db"), SQL[number - 1])
    assert columns and rows, f"example {number} returns nothing on the docs repository"


@pytest.mark.parametrize("number", range(1, len(SQL) + 1))
def test_every_sql_example_gives_the_same_answer_on_postgresql(docs_repo, docs_pg, number):
    from repository.query import run_sql

    sql = SQL[number - 1]
    columns, rows = run_sql(str(docs_repo / "xasrepo.db"), sql)
    pg_columns, pg_rows = run_sql(docs_pg, sql)
    assert columns == pg_columns and len(rows) == len(pg_rows)
    if "snapshot" not in sql:  # snapshot uids and PCA signs may differ between the two databases
        assert _rounded(rows) == _rounded([tuple(float(v) if hasattr(v, "as_integer_ratio") and not isinstance(
            v, (int, float)) else v for v in row) for row in pg_rows])


@pytest.mark.parametrize("command, shown", CONSOLE, ids=[c[0][:60] for c in CONSOLE])
def test_every_console_example_runs_and_prints_what_the_page_shows(cli, in_docs_repo, request, command, shown):
    argv = shlex.split(command)
    if argv[0] == "xasrepo":
        result = cli(*argv[1:])
        assert result.exit_code == 0, result.stderr
        stdout = result.stdout
    else:
        if shutil.which(argv[0]) is None:
            pytest.skip(f"{argv[0]} is not installed")
        env = dict(os.environ)
        if argv[0] == "psql":
            env["XASREPO_DB"] = request.getfixturevalue("docs_pg")
            argv = [os.path.expandvars(a.replace("$XASREPO_DB", env["XASREPO_DB"])) for a in argv]
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=in_docs_repo, check=False)
        assert proc.returncode == 0, proc.stderr
        stdout = proc.stdout
    assert stdout.strip(), f"{command} printed nothing"
    if shown:
        assert stdout.splitlines() == shown
    if argv[0] == "psql":  # the same question answered from the SQLite copy of the data
        from repository.query import run_sql

        columns, rows = run_sql("xasrepo.db", argv[-1].split(";", 1)[1])
        assert stdout.splitlines() == [",".join(columns)] + [",".join(map(str, r)) for r in rows]


@pytest.mark.parametrize("number", range(1, len(PYTHON) + 1))
def test_every_python_example_runs_in_a_repository_folder(in_docs_repo, number):
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(PYTHON[number - 1], f"docs/sql.md python example {number}", "exec"), {})  # noqa: S102
    assert printed.getvalue().strip()


def test_sqlite3_pandas_duckdb_and_xasrepo_sql_read_the_same_data(in_docs_repo):
    import sqlite3

    import duckdb
    import pandas as pd

    from repository import db
    from repository.query import run_sql
    from repository.snapshots.parquet import snapshot_sql
    from repository.snapshots.registry import registered_snapshots

    question = ("SELECT COALESCE(defect_name, 'pristine') AS defect, COUNT(*) AS n FROM {table} "
                "WHERE absorbing_element = 'B' AND edge = 'K' AND polarization = 'iso' GROUP BY 1 ORDER BY 1")
    via_run_sql = run_sql("xasrepo.db", question.format(table="spectrum_overview"))[1]
    con = sqlite3.connect("file:xasrepo.db?mode=ro", uri=True)
    via_sqlite3 = con.execute(question.format(table="spectrum_overview")).fetchall()
    via_pandas = list(pd.read_sql(question.format(table="spectrum_overview"), con).itertuples(index=False, name=None))
    con.close()
    via_duckdb = duckdb.sql(question.format(table="read_parquet('xasrepo.snapshots/*.parquet')")).fetchall()
    engine = db.connect("xasrepo.db", read_only=True)
    snapshots = registered_snapshots(engine)
    engine.dispose()
    via_snapshot_sql = snapshot_sql(snapshots, question.format(table="snapshots"))[1]
    via_view = run_sql("xasrepo.db", question.format(table="snapshot_points"))[1]
    assert via_run_sql and via_run_sql == via_sqlite3 == via_pandas == via_duckdb == via_snapshot_sql == via_view
    assert not any(isinstance(n, float) and math.isnan(n) for _, n in via_run_sql)


@pytest.mark.parametrize("number", range(1, len(SQL) + 1))
def test_every_sql_example_also_finds_rows_in_the_bundled_bn_data(bundled_bn_db, number):
    # The page is written against a small test repository, but people run it on the data we ship.
    from repository.query import run_sql

    columns, rows = run_sql(bundled_bn_db, SQL[number - 1])
    assert columns and rows, f"example {number} returns nothing on the bundled BN data"


def test_the_readme_filter_finds_the_vacancy_neighbours_in_the_bundled_bn_data(bundled_bn_db):
    from repository.query import query_spectra

    readme = (ROOT / "README.md").read_text()
    where = re.search(r"xasrepo query '([^']+)' --db bn.db", readme).group(1)
    from repository import db

    with db.connected(bundled_bn_db, read_only=True) as engine:
        rows = query_spectra(engine, where, columns="*")
    assert rows and all(r["defect_name"] == "v_N" and r["absorber_defect_distance_a"] < 3 for r in rows)
