"""Snapshot files that a registry can trust (issue 17): `snapshots verify` names unregistered
snapshot files and temporary files and `--prune` removes them (and only them); `snapshots
relocate` repairs a registry whose files moved; `snapshots show` warns about an altered file; a
file named like a snapshot id never stands in for the registered snapshot."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from repository import db
from repository.files import file_sha256
from repository.snapshots.registry import get_snapshot, list_snapshots

from .conftest import file_digest


def _one_line(result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output
    return result.stderr


@pytest.fixture
def repo(tmp_path):
    """repo/x.db with 12 SYNTHETIC B K spectra and one PCA snapshot in repo/x.snapshots/."""
    from repository.analysis.create import create_snapshot
    from repository.analysis.synthetic import synthetic_records
    from repository.importer import import_records

    folder = tmp_path / "repo"
    folder.mkdir()
    database = str(folder / "x.db")
    db.upgrade(database)
    with db.connected(database) as engine:
        import_records(engine, synthetic_records(12, seed=3))
        record = create_snapshot(engine, method="pca").record
    return folder, database, record


def _statuses(cli, database, *extra) -> tuple[int, list[dict]]:
    result = cli("snapshots", "verify", "--db", database, "-f", "json", *extra)
    return result.exit_code, json.loads(result.stdout)


def test_verify_reports_orphans_and_temporary_files_and_prune_removes_only_them(repo, cli):
    folder, database, record = repo
    snapshots = folder / "x.snapshots"
    uid = record["uid"]
    # what a killed embed leaves: a complete but unregistered snapshot, and a temporary file
    orphan = snapshots / "umap_20261130T101010_abcdef.parquet"
    shutil.copy(snapshots / f"{uid}.parquet", orphan)
    orphan_model = snapshots / "umap_20261130T101010_abcdef.model.npz"
    orphan_model.write_bytes(b"model")
    temporary = snapshots / f".pca_20261130T101011_123456.parquet.4242.0badc0de.tmp"
    temporary.write_bytes(b"half a parquet file")
    # files that are not the tool's: never reported, never removed
    notes = snapshots / "notes.txt"
    notes.write_text("mine")
    mine = snapshots / "my-analysis.parquet"
    mine.write_bytes(b"not xasrepo's")

    code, rows = _statuses(cli, database)
    assert code == 1
    stray = {Path(r["path"]).name: (r["file"], r["status"]) for r in rows if r["uid"] is None}
    assert stray == {orphan.name: ("orphan", "unregistered"), orphan_model.name: ("orphan", "unregistered"),
                     temporary.name: ("temporary", "unregistered")}
    assert [r["status"] for r in rows if r["uid"] == uid] == ["ok", "ok"]
    result = cli("snapshots", "verify", "--db", database)
    assert "verify --prune" in result.stderr and result.stderr.count("\n") == 1

    code, rows = _statuses(cli, database, "--prune")
    assert code == 0 and sorted(r["status"] for r in rows if r["uid"] is None) == ["removed"] * 3
    assert sorted(p.name for p in snapshots.iterdir()) == sorted(
        [f"{uid}.model.npz", f"{uid}.parquet", "my-analysis.parquet", "notes.txt"])
    assert _statuses(cli, database)[0] == 0


def test_relocate_repairs_a_registry_whose_files_moved(tmp_path, repo, cli):
    folder, database, record = repo
    old = folder / "x.snapshots"
    new = tmp_path / "archive" / "snaps"
    new.parent.mkdir()
    shutil.move(old, new)
    assert cli("snapshots", "verify", "--db", database).exit_code == 1
    result = cli("snapshots", "relocate", str(old), str(new), "--db", database, "-f", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert sorted(r["file"] for r in rows) == ["model", "snapshot"] and all(r["new"].startswith(str(new)) for r in rows)
    assert _statuses(cli, database)[0] == 0
    with db.connected(database, read_only=True) as engine:
        assert Path(get_snapshot(engine, record["uid"])["path"]) == new / f"{record['uid']}.parquet"
    # moving them back under the database's folder stores relative paths again
    shutil.move(new, old)
    assert cli("snapshots", "relocate", str(new), str(old), "--db", database).exit_code == 0
    with db.connected(database, read_only=True) as engine:
        assert get_snapshot(engine, record["uid"])["stored_path"] == f"x.snapshots/{record['uid']}.parquet"


def test_relocate_checks_every_file_first_and_changes_nothing_otherwise(tmp_path, repo, cli):
    folder, database, record = repo
    old, new = folder / "x.snapshots", tmp_path / "elsewhere"
    shutil.copytree(old, new)
    (new / f"{record['uid']}.model.npz").write_bytes(b"another model")
    before = file_digest(Path(database))
    assert "does not match the SHA-256" in _one_line(cli("snapshots", "relocate", str(old), str(new), "--db", database), 2)
    (new / f"{record['uid']}.model.npz").unlink()
    assert "does not exist" in _one_line(cli("snapshots", "relocate", str(old), str(new), "--db", database), 2)
    assert "no registered snapshot file" in _one_line(
        cli("snapshots", "relocate", str(tmp_path / "nowhere"), str(new), "--db", database), 2)
    assert "no such folder" in _one_line(cli("snapshots", "relocate", str(old), str(tmp_path / "nope"),
                                             "--db", database), 2)
    assert file_digest(Path(database)) == before


def test_show_warns_when_a_file_does_not_match_the_registry(repo, cli):
    folder, database, record = repo
    result = cli("snapshots", "show", record["uid"], "--db", database, "-f", "json")
    assert result.exit_code == 0 and result.stderr == ""
    assert json.loads(result.stdout)["files"] == {"snapshot": "ok", "model": "ok"}
    # replace the Parquet file by another snapshot's (a valid file with a footer of its own)
    from repository.analysis.create import create_snapshot

    with db.connected(database) as engine:
        other = create_snapshot(engine, method="pca", seed=1, force=True, n_components=3).record
    shutil.copy(other["path"], record["path"])
    result = cli("snapshots", "show", record["uid"], "--db", database, "-f", "json")
    assert result.exit_code == 0
    assert result.stderr.startswith(f"warning: snapshot {record['uid']}: snapshot file ")
    assert "does not match its registered SHA-256" in result.stderr and result.stderr.count("\n") == 1
    shown = json.loads(result.stdout)
    assert shown["files"]["snapshot"] == "altered" and shown["footer"]["snapshot_id"] == other["uid"]
    assert shown["sha256"] != file_sha256(record["path"])


def test_a_file_named_like_a_snapshot_id_does_not_replace_the_snapshot(repo, cli, monkeypatch, tmp_path):
    from repository.plots.frame import resolve_snapshot

    folder, database, record = repo
    decoy = tmp_path / "work"
    decoy.mkdir()
    shutil.copy(record["path"], decoy / "not-a-snapshot.parquet")
    (decoy / str(record["id"])).write_bytes(b"a file that happens to be called like the snapshot's id")
    monkeypatch.chdir(decoy)
    opened = lambda: db.connect(database, read_only=True)  # noqa: E731
    assert resolve_snapshot(str(record["id"]), opened) == Path(record["path"])
    assert resolve_snapshot(f"./{record['id']}", opened) == Path(str(record["id"]))  # the path form is a file
    assert resolve_snapshot("not-a-snapshot.parquet", opened) == Path("not-a-snapshot.parquet")
    out = decoy / "explorer.html"
    result = cli("explore", str(record["id"]), "-o", str(out), "--db", database)
    assert result.exit_code == 0, result.output
    assert record["uid"] in out.read_text()
    # without a database the bare name is a file name (and a missing one is one line)
    assert resolve_snapshot(str(record["id"]), lambda: db.connect(str(tmp_path / "none.db"))) == Path(str(record["id"]))
    assert "no such file" in _one_line(cli("plot", "embedding", "./99", "-c", "edge", "--db", database), 2)


def test_reads_of_registered_snapshots_only_in_the_duckdb_example(repo):
    """docs/sql.md's DuckDB example reads the files the registry names, so an orphan does not count."""
    from .test_query_docs import PYTHON

    example = next(code for code in PYTHON if "duckdb" in code and "read_parquet" in code)
    folder, database, record = repo
    os.rename(database, folder / "xasrepo.db")
    os.rename(folder / "x.snapshots", folder / "xasrepo.snapshots")
    with db.connected(str(folder / "xasrepo.db")) as engine:
        from repository.snapshots.registry import relocate_snapshots

        relocate_snapshots(engine, folder / "x.snapshots", folder / "xasrepo.snapshots")
        assert len(list_snapshots(engine)) == 1
    shutil.copy(folder / "xasrepo.snapshots" / f"{record['uid']}.parquet",
                folder / "xasrepo.snapshots" / "pca_20261130T000000_000000.parquet")  # an orphan
    namespace: dict = {}
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(example, "docs/sql.md duckdb example", "exec"), namespace)  # noqa: S102
    finally:
        os.chdir(cwd)
    frame = namespace["by_defect"]
    assert int(frame["n_spectra"].sum()) == record["row_count"] == 12
