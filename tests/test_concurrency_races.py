"""Races that must end well on SQLite and PostgreSQL alike (issue 17):

- two imports of *different* sets that share spectra (and structures and defects) at once both
  succeed; the shared rows are stored once (``ON CONFLICT DO NOTHING``) and linked to both sets;
- a command waiting for a lock held by another transaction gives up after
  ``$XASREPO_LOCK_TIMEOUT`` seconds with one line naming what it waited for, nothing written;
- two identical ``embed`` runs at once end with ONE snapshot: the second reuses the first.

The races are made certain, not likely: both threads are held at a barrier just past the point
where each has looked for existing rows (imports) or an existing snapshot (embed). On SQLite,
whose writers are serialised by ``BEGIN IMMEDIATE``, the barrier times out and the second waits
for the first, which is the right outcome there too.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from repository import db

from .conftest import EXAMPLE_SET, file_digest

BARRIER_WAIT_S = 3.0


def _race(targets) -> list:
    """Run each callable in its own thread at once; their results (or the exception raised)."""
    results: list = [None] * len(targets)

    def run(k, target):
        try:
            results[k] = target()
        except BaseException as err:  # noqa: BLE001 - reported to the test
            results[k] = err

    threads = [threading.Thread(target=run, args=(k, t)) for k, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return results


def _held_at(barrier: threading.Barrier):
    """A function that waits at ``barrier`` once per thread (going on when it times out)."""
    seen = set()

    def wait() -> None:
        me = threading.get_ident()
        if me in seen:
            return
        seen.add(me)
        try:
            barrier.wait(timeout=BARRIER_WAIT_S)
        except threading.BrokenBarrierError:
            pass  # SQLite: the other thread waits for the write lock, so it cannot come

    return wait


def _renamed_copy(tmp_path: Path, name: str) -> Path:
    """The example set as set ``name``, its calculations full-core-hole: the same structures and
    defect, new spectra (a spectrum's identity includes its calculation method)."""
    target = tmp_path / name
    shutil.copytree(EXAMPLE_SET, target)
    manifest = target / "calcset.toml"
    text_ = manifest.read_text().replace('name = "example-hbn"', f'name = "{name}"', 1)
    manifest.write_text(text_.replace('method = "half_core_hole"', 'method = "full_core_hole"', 1))
    return target


def _count(url: str, sql: str) -> int:
    engine = db.make_engine(db.resolve_url(url))
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def test_two_imports_of_sets_sharing_spectra_at_once_both_succeed(any_db, tmp_path, monkeypatch):
    from repository import importer
    from repository.calcset import read_calcset
    from repository.models import Spectrum

    # The structures and the defect are there already (committed by an earlier import), so neither
    # import below inserts (and waits on) a structure: both go straight to the shared spectra.
    with db.connected(any_db) as engine:
        importer.import_calcset(engine, read_calcset(EXAMPLE_SET))
    structures = _count(any_db, "SELECT count(*) FROM structure")
    plans = [read_calcset(_renamed_copy(tmp_path, name)) for name in ("set-one", "set-two")]
    shared = {s.content_hash for e in plans[0].entries for s in e.spectra}
    assert shared == {s.content_hash for e in plans[1].entries for s in e.spectra} and len(shared) == 3
    assert not shared & {s.content_hash for e in read_calcset(EXAMPLE_SET).entries for s in e.spectra}

    wait = _held_at(threading.Barrier(2))
    looked_up = importer._existing_ids

    def existing_then_wait(conn, column, values):
        found = looked_up(conn, column, values)
        if column is Spectrum.__table__.c.content_hash:
            wait()  # both have seen "no such spectrum" before either inserts it
        return found

    monkeypatch.setattr(importer, "_existing_ids", existing_then_wait)

    def importing(plan):
        def run():
            with db.connected(any_db) as engine:
                return importer.import_calcset(engine, plan)
        return run

    results = _race([importing(plan) for plan in plans])
    assert not any(isinstance(r, BaseException) for r in results), results
    assert sorted(r.status for r in results) == ["imported", "imported"]
    assert sorted(r.spectra_new for r in results) == [0, 3]
    assert sorted(r.spectra_existing for r in results) == [0, 3]
    assert _count(any_db, "SELECT count(*) FROM spectrum") == 3 + 3
    assert _count(any_db, "SELECT count(*) FROM calculation_set") == 3
    assert _count(any_db, "SELECT count(*) FROM calculation") == 6
    assert _count(any_db, "SELECT count(*) FROM structure") == structures
    assert _count(any_db, "SELECT count(*) FROM defect") == 1
    # every new spectrum is linked to the calculation of each set that has it
    assert _count(any_db, "SELECT count(*) FROM spectrum_calculation") == 3 + 6


def _one_line(result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output
    return result.stderr


def test_an_import_waiting_for_a_lock_gives_up_after_the_lock_timeout(any_db, cli):
    """Another transaction holds the lock (SQLite: the write lock; PostgreSQL: the row of a set of
    the same name that it is importing); the import ends after 1 s with one line, exit 1."""
    path = db.sqlite_path(db.resolve_url(any_db))
    if path is not None:
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        release = holder.rollback
        waited_for = "the database's write lock"
    else:
        import psycopg

        holder = psycopg.connect(any_db)
        holder.execute("INSERT INTO calculation_set (name, provenance_json, manifest_hash, imported_at) "
                       "VALUES ('example-hbn', '{}', 'h', now())")
        release = holder.rollback
        waited_for = "a lock on table calculation_set"
    try:
        before = file_digest(path) if path else None
        started = time.monotonic()
        message = _one_line(cli("import", EXAMPLE_SET, "--db", any_db, env={db.LOCK_TIMEOUT_ENV: "1"}), 1)
        elapsed = time.monotonic() - started
        assert f"gave up after 1 s waiting for {waited_for}" in message and db.LOCK_TIMEOUT_ENV in message
        assert 1.0 <= elapsed < 30, elapsed
        if path is not None:
            assert file_digest(path) == before
    finally:
        release()
        holder.close()
    assert _count(any_db, "SELECT count(*) FROM calculation_set") == 0
    # the lock released, the same import goes through
    assert cli("import", EXAMPLE_SET, "--db", any_db, env={db.LOCK_TIMEOUT_ENV: "1"}).exit_code == 0


@pytest.mark.parametrize("value", ["0", "-3", "soon", "inf"])
def test_a_bad_lock_timeout_is_one_line(sqlite_db, cli, value):
    assert db.LOCK_TIMEOUT_ENV in _one_line(cli("list", "--db", sqlite_db, env={db.LOCK_TIMEOUT_ENV: value}), 2)


def test_two_identical_embeds_at_once_end_with_one_snapshot(any_db, tmp_path, monkeypatch):
    from repository.analysis import embed as emb
    from repository.analysis.create import create_snapshot
    from repository.analysis.synthetic import synthetic_records
    from repository.importer import import_records

    with db.connected(any_db) as engine:
        import_records(engine, synthetic_records(12, seed=3))
    folder = tmp_path / "snapshots"

    wait = _held_at(threading.Barrier(2))
    fit = emb.fit_embedding

    def wait_then_fit(*args, **kwargs):
        wait()  # both have found no reusable snapshot and both fit
        return fit(*args, **kwargs)

    monkeypatch.setattr(emb, "fit_embedding", wait_then_fit)

    def embedding():
        with db.connected(any_db) as engine:
            return create_snapshot(engine, method="pca", directory=folder)

    results = _race([embedding, embedding])
    assert not any(isinstance(r, BaseException) for r in results), results
    assert sorted(r.reused for r in results) == [False, True]
    assert results[0].record["uid"] == results[1].record["uid"]
    assert _count(any_db, "SELECT count(*) FROM snapshot") == 1
    uid = results[0].record["uid"]
    # nothing left behind by the one that lost: the folder holds the one snapshot's two files
    assert sorted(p.name for p in folder.iterdir()) == sorted([f"{uid}.model.npz", f"{uid}.parquet"])
    # and a new fit with other parameters gets the first as its parent (no forked history)
    with db.connected(any_db) as engine:
        forced = create_snapshot(engine, method="pca", directory=folder, force=True)
    assert forced.record["parent_uid"] == uid and not forced.reused


def test_lock_timeout_is_read_from_the_environment(monkeypatch):
    monkeypatch.delenv(db.LOCK_TIMEOUT_ENV, raising=False)
    assert db.lock_timeout_s() == db.SQLITE_BUSY_TIMEOUT_S == 60
    monkeypatch.setenv(db.LOCK_TIMEOUT_ENV, "2.5")
    assert db.lock_timeout_s() == 2.5
