"""Benchmark: ``xasrepo project`` of one spectrum onto a 20,000-spectrum UMAP snapshot, fresh process.

Target: <= 1 s wall time for the whole command in a new process (umap-learn's own ``transform``
compiles with numba in every new process: about a minute). The projection reimplements umap's
transform in numpy, so the process never imports umap or numba -- checked here.

Uses the newest B K UMAP snapshot in the database (``bench/embed.py`` makes one), and times both a
stored spectrum (``--spectrum ID``) and a two-column file with an energy offset (``--align fit``).
A stored member of the snapshot is an exact match (placed at its stored coordinates, no
optimisation); the file is a spectrum outside the training set, so it exercises the placement.

    .venv/bin/python bench/project.py [--db /tmp/xasrepo-bench/embed-20000.db] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TARGET_S = 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path(tempfile.gettempdir()) / "xasrepo-bench" / "embed-20000.db")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from repository import db
    from repository.snapshots.registry import list_snapshots
    from repository.analysis.synthetic import synthetic_records

    engine = db.connect(str(args.db), read_only=True)
    # the query spectra below are B K: a snapshot of another edge would refuse them
    umaps = [s for s in list_snapshots(engine) if s["method"] == "umap" and (s["element"], s["edge"]) == ("B", "K")]
    engine.dispose()
    if not umaps:
        sys.exit(f"no B K UMAP snapshot in {args.db}: run bench/embed.py first")
    snapshot = umaps[-1]
    record = synthetic_records(1, seed=999)[0].spectrum
    scratch = Path(tempfile.mkdtemp(prefix="xasrepo-bench-project-"))  # not beside --db: it may lie anywhere
    query_file = scratch / "query.dat"
    np.savetxt(query_file, np.column_stack([record.energy_ev + 1.5, record.intensity]),
               header="energy_ev intensity (SYNTHETIC, energies offset by +1.5 eV)")
    probe = ("import sys, runpy; sys.argv = ['xasrepo'] + sys.argv[1:]\n"
             "try:\n    runpy.run_module('cli.main', run_name='__main__')\nfinally:\n"
             "    heavy = [m for m in ('umap', 'numba', 'sklearn', 'pynndescent') if m in sys.modules]\n"
             "    sys.stderr.write('HEAVY=' + ','.join(heavy) + '\\n')\n")
    cases = {"--spectrum 123": ["--spectrum", "123"],
             "FILE --align fit": [str(query_file), "--element", "B", "--edge", "K", "--align", "fit"]}
    print(f"snapshot {snapshot['uid']}: {snapshot['row_count']} spectra; fresh process each run, best and worst of "
          f"{args.repeats}")
    print(f"{'case':<22}{'best s':>8}{'worst s':>9}  heavy modules  result")
    for name, extra in cases.items():
        times, heavy, summary = [], "", ""
        for _ in range(args.repeats):
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", probe, "project", *extra, "--snapshot", snapshot["uid"],
                                   "--db", str(args.db), "-k", "5", "--format", "json"],
                                  cwd=ROOT, capture_output=True, text=True, check=False)
            times.append(time.perf_counter() - started)
            if done.returncode != 0:
                sys.exit(f"project failed: {done.stderr}")
            heavy = done.stderr.strip().rsplit("HEAVY=", 1)[-1] or "none"
            found = json.loads(done.stdout)
            summary = (f"{found['placement']}, shift {found['energy_shift_ev']:+.2f} eV, "
                       f"{found['domain']['verdict']}, nearest "
                       f"{[n['spectrum_id'] for n in found['neighbors'][:3]]}")
        print(f"{name:<22}{min(times):>8.2f}{max(times):>9.2f}  {heavy:<13}  {summary}")
        print(f"  target <= {TARGET_S} s: {'PASS' if max(times) <= TARGET_S else 'FAIL'}")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
