"""Imports are atomic under SIGKILL and concurrent writers (SQLite WAL + busy timeout; PostgreSQL)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))


from kill_import import kill_campaign, make_set, start_import  # noqa: E402


@pytest.mark.slow
def test_sigkill_during_import_leaves_the_set_fully_present_or_absent(tmp_path):
    calcset = make_set(tmp_path / "set", "killed", n_structures=24, sites=5)
    outcomes = kill_campaign(calcset, tmp_path, kills=20, expected=(24 * 5, 24 * 5))
    assert outcomes["present"] + outcomes["absent"] == 20


@pytest.mark.slow
def test_four_processes_importing_different_sets_at_once_all_arrive(tmp_path, any_db):
    sets = [make_set(tmp_path / f"set{i}", f"concurrent-{i}", n_structures=6, sites=4, seed=i) for i in range(4)]
    procs = [start_import(s, any_db) for s in sets]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    assert all(code == 0 for code, _ in results), results
    from repository import catalog, db

    engine = db.connect(any_db)
    counts = catalog.count_rows(engine)
    engine.dispose()
    assert counts["calculation_set"] == 4
    assert counts["spectrum"] == 4 * 6 * 4


@pytest.mark.slow
def test_sigkill_during_snapshot_creation_leaves_no_row_without_its_file(tmp_path, sqlite_db):
    import os
    import random
    import signal
    import subprocess
    import time

    from repository import db
    from repository.snapshots.registry import get_snapshot, list_snapshots, verify_snapshots

    calcset = make_set(tmp_path / "set", "for-snapshots", n_structures=30, sites=4)
    assert start_import(calcset, sqlite_db).wait(timeout=300) == 0
    snapshot_dir = tmp_path / "snapshots"
    command = [sys.executable, "-c", "from cli.main import run; run()", "embed", "--method", "mds", "--force",
               "--element", "B", "--edge", "K", "--snapshot-dir", str(snapshot_dir)]
    env = {**os.environ, "XASREPO_DB": sqlite_db}
    start = time.perf_counter()
    assert subprocess.run(command, cwd=ROOT, env=env, capture_output=True).returncode == 0
    full_time = time.perf_counter() - start
    rng = random.Random(7)
    for _ in range(10):
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5 * full_time, 1.1 * full_time))  # the writing happens at the end
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        engine = db.connect(sqlite_db)
        problems = [r for r in verify_snapshots(engine) if r.get("status", "ok") != "ok"]
        registered = {Path(get_snapshot(engine, s["id"])["path"]).name for s in list_snapshots(engine)}
        engine.dispose()
        assert problems == []
        for parquet in snapshot_dir.glob("*.parquet"):
            # an unregistered file may be left by a kill between rename and commit, never a partial one
            import pyarrow.parquet as pq

            assert pq.read_metadata(parquet).num_rows == 120, parquet
        assert registered <= {p.name for p in snapshot_dir.glob("*.parquet")}
