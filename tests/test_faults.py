"""Imports are atomic under SIGKILL and concurrent writers (SQLite WAL + busy timeout; PostgreSQL)."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))


def _make_set(root: Path, name: str, n_structures: int, sites: int = 5, seed: int = 0) -> Path:
    from import_calcset import generate  # the benchmark's generator of SYNTHETIC sets

    generate(root, n_structures, sites, 200, seed=seed)
    manifest = root / "calcset.toml"
    manifest.write_text(manifest.read_text().replace('name = "bench"', f'name = "{name}"', 1))
    return root


def _xasrepo(*args: str, db: str) -> subprocess.Popen:
    env = {**os.environ, "XASREPO_DB": db}
    return subprocess.Popen([sys.executable, "-c", "from cli.main import run; run()", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _sets_and_counts(path: str) -> tuple[list[str], int, int]:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        names = [r[0] for r in conn.execute("SELECT name FROM calculation_set")]
        spectra = conn.execute("SELECT COUNT(*) FROM spectrum").fetchone()[0]
        calcs = conn.execute("SELECT COUNT(*) FROM calculation").fetchone()[0]
    finally:
        conn.close()
    return names, spectra, calcs


@pytest.mark.slow
def test_sigkill_during_import_leaves_the_set_fully_present_or_absent(tmp_path, sqlite_db):
    calcset = _make_set(tmp_path / "set", "killed", n_structures=24, sites=5)
    expected_spectra = 24 * 5
    start = time.perf_counter()
    proc = _xasrepo("import", str(calcset), db=sqlite_db)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    full_time = time.perf_counter() - start
    _, spectra, _ = _sets_and_counts(sqlite_db)
    assert spectra == expected_spectra

    rng = random.Random(20261128)
    outcomes = {"present": 0, "absent": 0}
    for attempt in range(20):
        target = str(tmp_path / f"kill{attempt}.db")
        Path(target).write_bytes(Path(sqlite_db).read_bytes())  # a database that already holds the set...
        conn = sqlite3.connect(target)
        conn.execute("DELETE FROM descriptor"); conn.execute("DELETE FROM dos")
        conn.execute("DELETE FROM spectrum"); conn.execute("DELETE FROM calculation")
        conn.execute("DELETE FROM calculation_set"); conn.commit(); conn.close()  # ...emptied again
        proc = _xasrepo("import", str(calcset), db=target)
        time.sleep(rng.uniform(0.05, full_time * 1.1))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        names, spectra, calcs = _sets_and_counts(target)
        if names:
            assert (names, spectra, calcs) == (["killed"], expected_spectra, 24 * 5)
            outcomes["present"] += 1
        else:
            assert (spectra, calcs) == (0, 0)
            outcomes["absent"] += 1
    assert sum(outcomes.values()) == 20


@pytest.mark.slow
def test_four_processes_importing_different_sets_at_once_all_arrive(tmp_path, any_db):
    sets = [_make_set(tmp_path / f"set{i}", f"concurrent-{i}", n_structures=6, sites=4, seed=i) for i in range(4)]
    procs = [_xasrepo("import", str(s), db=any_db) for s in sets]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    assert all(code == 0 for code, _ in results), results
    from repository import catalog, db

    engine = db.connect(any_db)
    counts = catalog.count_rows(engine)
    engine.dispose()
    assert counts["calculation_set"] == 4
    assert counts["spectrum"] == 4 * 6 * 4
