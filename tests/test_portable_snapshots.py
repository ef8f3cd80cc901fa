"""Portable repositories (issue 17): snapshot files are registered relative to the database's
folder, so a database folder can be moved or copied, and a copy reads its own files, never the
original's. Revision 0007 converts registries that hold absolute paths. Spectra are SYNTHETIC
(repository.analysis.synthetic) plus the example set."""

import shutil
from pathlib import Path

import pytest

from repository import db
from repository.analysis.create import create_snapshot
from repository.errors import UsageError
from repository.snapshots.files import SNAPSHOT_DIR_ENV
from repository.snapshots.registry import get_snapshot, read_table, verify_snapshots

from .test_analysis_snapshots import _new_library, _structures


def _stored(path: str) -> tuple[str, str]:
    """(path, model_path) as the registry holds them (any schema revision)."""
    engine = db.make_engine(db.resolve_url(path))
    try:
        from sqlalchemy import text

        with engine.connect() as conn:
            return tuple(conn.execute(text("SELECT path, model_path FROM snapshot")).one())
    finally:
        engine.dispose()


@pytest.fixture
def lab(tmp_path, monkeypatch):
    """A folder lab/ with lab.db and one PCA snapshot in lab/lab.snapshots/."""
    monkeypatch.delenv(SNAPSHOT_DIR_ENV, raising=False)
    folder = tmp_path / "lab"
    folder.mkdir()
    engine = _new_library(folder / "lab.db", _structures(), n=12, seed=4)
    uid = create_snapshot(engine, method="pca", force=True).record["uid"]
    engine.dispose()
    return folder, uid


def _statuses(path: Path) -> set[str]:
    engine = db.connect(str(path))
    try:
        return {r["status"] for r in verify_snapshots(engine)}
    finally:
        engine.dispose()


def test_snapshot_paths_are_stored_relative_to_the_database_folder(lab):
    folder, uid = lab
    path, model_path = _stored(str(folder / "lab.db"))
    assert path == f"lab.snapshots/{uid}.parquet"
    assert model_path == f"lab.snapshots/{uid}.model.npz"


def test_a_moved_folder_keeps_working_and_a_copy_reads_its_own_files(lab, tmp_path, cli):
    folder, uid = lab
    moved = tmp_path / "moved"
    shutil.move(folder, moved)
    assert _statuses(moved / "lab.db") == {"ok"}
    engine = db.connect(str(moved / "lab.db"))
    record = get_snapshot(engine, uid)
    assert Path(record["path"]) == moved / "lab.snapshots" / f"{uid}.parquet"
    rows = read_table(engine, uid).num_rows
    engine.dispose()

    copy = tmp_path / "copy"
    shutil.copytree(moved, copy)
    with open(copy / "lab.snapshots" / f"{uid}.parquet", "ab") as handle:  # damage the copy only
        handle.write(b"x")
    assert _statuses(copy / "lab.db") == {"ok", "altered"}
    assert _statuses(moved / "lab.db") == {"ok"}
    result = cli("snapshots", "verify", "--db", copy / "lab.db")
    assert result.exit_code == 1 and str(copy / "lab.snapshots") in result.stderr

    shutil.rmtree(moved)  # the copy does not need the original
    engine = db.connect(str(copy / "lab.db"))
    try:
        assert get_snapshot(engine, uid)["model_path"].startswith(str(copy))
        assert "altered" in {r["status"] for r in verify_snapshots(engine)}
    finally:
        engine.dispose()
    # 12 synthetic + the example set's 2 iso B K spectra (embed keeps iso curves unless the
    # filter names a polarisation; the example's third B K curve is polarised along z)
    assert rows == 14


def test_revision_0007_converts_absolute_paths_and_points_a_copied_folder_at_its_own_files(lab, tmp_path):
    folder, uid = lab
    database = str(folder / "lab.db")
    db.downgrade(database, "0006_host_labels")
    path, _ = _stored(database)
    assert path == str(folder / "lab.snapshots" / f"{uid}.parquet")  # the old, absolute form

    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    assert _stored(str(copy / "lab.db"))[0].startswith(str(folder))  # still names the original's file
    db.upgrade(str(copy / "lab.db"))
    assert _stored(str(copy / "lab.db"))[0] == f"lab.snapshots/{uid}.parquet"
    shutil.rmtree(folder)
    assert _statuses(copy / "lab.db") == {"ok"}


def test_a_shared_folder_outside_the_database_folder_stays_absolute(tmp_path, monkeypatch):
    monkeypatch.delenv(SNAPSHOT_DIR_ENV, raising=False)
    (tmp_path / "db").mkdir()
    engine = _new_library(tmp_path / "db" / "lab.db", _structures(), n=6, seed=1)
    shared = tmp_path / "shared"
    record = create_snapshot(engine, method="pca", force=True, directory=shared).record
    engine.dispose()
    path, _ = _stored(str(tmp_path / "db" / "lab.db"))
    assert path == str(shared / f"{record['uid']}.parquet")


def test_server_paths_are_relative_to_the_snapshot_folder_setting(any_db, tmp_path, monkeypatch):
    if db.is_sqlite(db.resolve_url(any_db)):
        pytest.skip("the database-server variant")
    first = tmp_path / "snaps"
    monkeypatch.setenv(SNAPSHOT_DIR_ENV, str(first))
    engine = _new_library(any_db, _structures(), n=6, seed=2)
    uid = create_snapshot(engine, method="pca", force=True).record["uid"]
    assert _stored(any_db)[0] == f"{uid}.parquet"

    monkeypatch.delenv(SNAPSHOT_DIR_ENV)
    with pytest.raises(UsageError, match=SNAPSHOT_DIR_ENV):
        get_snapshot(engine, uid)
    second = tmp_path / "elsewhere"
    shutil.move(first, second)
    monkeypatch.setenv(SNAPSHOT_DIR_ENV, str(second))
    assert read_table(engine, uid).num_rows == 8  # 6 synthetic + the example's 2 iso B K
    engine.dispose()
