"""Imports are atomic under SIGKILL and concurrent writers (SQLite WAL + busy timeout; PostgreSQL)."""

from __future__ import annotations

import sys

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
