"""Reading never writes beside the database (issue 17):

- on ordinary storage, read commands leave no ``-wal``/``-shm`` files next to a WAL database (a
  read-only SQLite connection cannot remove the ones SQLite creates, so they are removed after);
- on read-only storage (file and folder not writable: a DVD, a read-only mount) the database
  opens for reading without them, the command says so once, and a command that writes fails
  with one line;
- a database of a newer schema is refused by every command and left byte-identical.

Root ignores file permissions, so as root the read-only storage is a real read-only bind mount in
a private mount namespace (``unshare``); the test is skipped where that is not allowed.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from repository import db
from repository.errors import NewerSchemaError

from .conftest import EXAMPLE_SET, ROOT, file_digest

READS = [("list",), ("query", "element = B"), ("show", "1"), ("sql", "SELECT count(*) FROM spectrum_overview"),
         ("fields",), ("snapshots", "list"), ("snapshots", "verify"), ("snapshots", "show", "1"),
         ("snapshots", "query", "1", "--where", "element = B")]


@pytest.fixture
def repo(tmp_path):
    """repo/x.db (WAL, the example set and 12 SYNTHETIC B K spectra, one PCA snapshot), closed."""
    from repository.analysis.create import create_snapshot
    from repository.analysis.synthetic import synthetic_records
    from repository.calcset import read_calcset
    from repository.importer import import_calcset, import_records

    folder = tmp_path / "repo"
    folder.mkdir()
    database = folder / "x.db"
    db.upgrade(str(database))
    with db.connected(str(database)) as engine:
        import_calcset(engine, read_calcset(EXAMPLE_SET))
        import_records(engine, synthetic_records(12, seed=3))
        create_snapshot(engine, method="pca", element="B", edge="K")
    assert _side_files(database) == []
    with open(database, "rb") as handle:  # a WAL database: what needs -wal/-shm files to be read
        assert handle.read(20)[18:20] == b"\x02\x02"
    return database


def _side_files(database: Path) -> list[str]:
    return sorted(p.name for p in database.parent.iterdir() if p.name.startswith(database.name + "-"))


def test_read_commands_leave_no_wal_or_shm_files(repo, cli):
    before = file_digest(repo)
    for args in READS:
        result = cli(*args, "--db", repo)
        assert result.exit_code == 0, (args, result.output)
        assert _side_files(repo) == [], args
    assert file_digest(repo) == before


def test_a_reader_does_not_remove_the_files_of_a_connection_still_open(repo, cli):
    import sqlite3

    writer = sqlite3.connect(repo)
    writer.execute("SELECT count(*) FROM spectrum").fetchall()  # joins the WAL: -wal/-shm exist
    try:
        assert cli("list", "--db", repo).exit_code == 0
        assert _side_files(repo) == ["x.db-shm", "x.db-wal"]
    finally:
        writer.close()  # the last connection: SQLite removes them itself
    assert _side_files(repo) == []


def _make_read_only(database: Path) -> list[Path]:
    paths = [database.parent / "x.snapshots", database.parent, database, *(database.parent / "x.snapshots").iterdir()]
    for path in paths:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return paths


def _unshare_prefix(folder: Path) -> list[str]:
    """As root: run the command with ``folder`` mounted read-only (a private mount namespace)."""
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount --bind {shlex.quote(str(folder))} "
                            f"{shlex.quote(str(folder))} && mount -o remount,ro,bind {shlex.quote(str(folder))} "
                            f"{shlex.quote(str(folder))} && ! touch {shlex.quote(str(folder / 'probe'))} 2>/dev/null"],
                           capture_output=True) if shutil.which("unshare") else None
    if probe is None or probe.returncode != 0:
        pytest.skip("running as root, and a read-only bind mount (unshare -rm) is not allowed here")
    quoted = shlex.quote(str(folder))
    return ["unshare", "-rm", "sh", "-c",
            f'mount --bind {quoted} {quoted} && mount -o remount,ro,bind {quoted} {quoted} && exec "$@"', "sh"]


def _run_on_read_only_storage(database: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", "from cli.main import run; run()", *args, "--db", str(database)]
    if os.geteuid() == 0:
        command = _unshare_prefix(database.parent) + command
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("XASREPO_SNAPSHOT_DIR", None)
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_a_database_on_read_only_storage_opens_for_reading_and_says_so_once(repo):
    before = file_digest(repo)
    changed = _make_read_only(repo)
    try:
        for args in READS:
            result = _run_on_read_only_storage(repo, *args)
            assert result.returncode == 0, (args, result.stderr)
            notes = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
            assert len(notes) == 1 and "read-only storage" in notes[0], (args, result.stderr)
            assert "Traceback" not in result.stderr
        result = _run_on_read_only_storage(repo, "sql", "SELECT count(*) AS n FROM spectrum", "-f", "csv")
        assert result.stdout == "n\n15\n"
        result = _run_on_read_only_storage(repo, "import", str(EXAMPLE_SET))
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert result.returncode in (1, 2) and len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
        assert "read-only" in errors[0]
    finally:
        for path in changed:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
    assert _side_files(repo) == [] and file_digest(repo) == before


FUTURE = "9999_from_the_future"


def test_a_newer_schema_is_refused_by_every_command_and_left_untouched(repo, cli, tmp_path):
    engine = db.make_engine(db.resolve_url(str(repo)))
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": FUTURE})
    engine.dispose()
    before = file_digest(repo)
    for args in [("init",), ("import", str(EXAMPLE_SET)), ("embed", "--method", "pca"), ("list",),
                 ("query", "element = B"), ("show", "1"), ("fields",), ("snapshots", "list"),
                 ("snapshots", "verify", "--prune"), ("export", "--format", "xdi", "-o", str(tmp_path / "out"))]:
        result = cli(*args, "--db", repo)
        assert result.exit_code == NewerSchemaError.exit_code, (args, result.output)
        assert result.stderr.count("\n") == 1 and FUTURE in result.stderr and "newer xasrepo" in result.stderr, args
        assert db.schema_revision() in result.stderr
    assert file_digest(repo) == before and _side_files(repo) == []
