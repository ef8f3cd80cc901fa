"""Fault benchmark: SIGKILL `xasrepo import` at random moments, N times, and check after each kill
that the SQLite database passes integrity_check and foreign_key_check and that the set is either
fully present or absent.

    .venv/bin/python bench/kill_import.py [--kills 100] [--structures 24] [--sites 5]

The set is SYNTHETIC (bench/import_calcset.py's generator). tests/test_faults.py runs the same
check 20 times.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def make_set(root: Path, name: str, n_structures: int, sites: int, seed: int = 0) -> Path:
    from import_calcset import generate

    generate(root, n_structures, sites, 200, seed=seed)
    manifest = root / "calcset.toml"
    manifest.write_text(manifest.read_text().replace('name = "bench"', f'name = "{name}"', 1))
    return root


def start_import(calcset: Path, database: str) -> subprocess.Popen:
    env = {**os.environ, "XASREPO_DB": database}
    return subprocess.Popen([sys.executable, "-c", "from cli.main import run; run()", "import", str(calcset)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def database_state(path: str) -> tuple[list[str], int, int]:
    """(set names, spectra, calculations) after checking SQLite integrity and foreign keys."""
    conn = sqlite3.connect(path)
    try:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if integrity != "ok":
            raise AssertionError(f"integrity_check: {integrity}")
        broken = conn.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise AssertionError(f"foreign_key_check: {broken[:3]}")
        names = [r[0] for r in conn.execute("SELECT name FROM calculation_set")]
        spectra = conn.execute("SELECT COUNT(*) FROM spectrum").fetchone()[0]
        calculations = conn.execute("SELECT COUNT(*) FROM calculation").fetchone()[0]
    finally:
        conn.close()
    return names, spectra, calculations


def kill_campaign(calcset: Path, workdir: Path, kills: int, expected: tuple[int, int], seed: int = 20261128,
                  full_time_s: float | None = None) -> dict[str, int]:
    """Kill imports of ``calcset`` into fresh databases; returns counts of present/absent outcomes."""
    from repository import db

    rng = random.Random(seed)
    template = workdir / "template.db"
    if not template.exists():
        db.upgrade(str(template))
    if full_time_s is None:
        probe = workdir / "probe.db"
        probe.write_bytes(template.read_bytes())
        start = time.perf_counter()
        proc = start_import(calcset, str(probe))
        if proc.wait(timeout=600) != 0:
            raise RuntimeError(proc.stderr.read())
        full_time_s = time.perf_counter() - start
    outcomes = {"present": 0, "absent": 0}
    for attempt in range(kills):
        target = workdir / f"kill{attempt}.db"
        target.write_bytes(template.read_bytes())
        proc = start_import(calcset, str(target))
        time.sleep(rng.uniform(0.05, full_time_s * 1.1))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        names, spectra, calculations = database_state(str(target))
        if names:
            if (spectra, calculations) != expected:
                raise AssertionError(f"kill {attempt}: partial set: {spectra} spectra, {calculations} calculations")
            outcomes["present"] += 1
        elif spectra or calculations:
            raise AssertionError(f"kill {attempt}: rows without their set: {spectra} spectra")
        else:
            outcomes["absent"] += 1
        for leftover in workdir.glob(f"kill{attempt}.db*"):
            leftover.unlink()
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--structures", type=int, default=24)
    parser.add_argument("--sites", type=int, default=5)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="xasrepo-kill-"))
    calcset = make_set(workdir / "set", "killed", args.structures, args.sites)
    n = args.structures * args.sites
    t = time.perf_counter()
    outcomes = kill_campaign(calcset, workdir, args.kills, (n, n))
    print(f"{args.kills} SIGKILLs in {time.perf_counter() - t:.0f} s: set fully present {outcomes['present']} times, "
          f"absent {outcomes['absent']} times, partial 0 times; integrity_check and foreign_key_check ok every time")


if __name__ == "__main__":
    main()
