"""Benchmark: ``xasrepo compare`` on the bundled BN set (data/bn) with 5 seeds.

Target: at most 120 s wall on 2 cores. The machine this project runs on is shared, so the script
also reports CPU time: this process's own (import, transductive fits, report) plus the CPU seconds
every grouped run records (``results.json``: ``edges[].grouped[].cpu_s``; they run in worker
processes whose CPU time the parent cannot see). Wall time on two *free* cores is at least
CPU / 2; the script prints that bound beside the measured wall time and the load average.

    .venv/bin/python bench/compare_bn.py [--seeds 5] [--jobs 2] [--calcset data/bn]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_S = 120.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--calcset", default=str(ROOT / "data" / "bn"))
    args = parser.parse_args()

    from repository.compare.data import imported_calcset
    from repository.compare.report import write_report
    from repository.compare.run import compare_database

    load_before = os.getloadavg()[0]
    wall0, cpu0 = time.perf_counter(), time.process_time()
    with imported_calcset(args.calcset) as engine:
        results = compare_database(engine, seeds=args.seeds, workers=args.jobs)
    with tempfile.TemporaryDirectory() as tmp:
        write_report(results, tmp, command="bench/compare_bn.py")
    wall = time.perf_counter() - wall0
    parent_cpu = time.process_time() - cpu0
    workers_cpu = sum(g.cpu_s or 0.0 for r in results for g in r.grouped)
    in_parent = args.jobs <= 1
    total_cpu = parent_cpu if in_parent else parent_cpu + workers_cpu
    print("| seeds | jobs | wall s | parent CPU s | grouped runs CPU s | total CPU s | total CPU / 2 | load avg "
          "(1 min, before / after) | target |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.seeds} | {args.jobs} | {wall:.1f} | {parent_cpu:.1f} | {workers_cpu:.1f}"
          f"{' (inside parent)' if in_parent else ''} | {total_cpu:.1f} | {total_cpu / 2:.1f} | "
          f"{load_before:.1f} / {os.getloadavg()[0]:.1f} | {'met' if wall <= TARGET_S else 'MISSED'} "
          f"(<= {TARGET_S:.0f} s wall) |")
    for r in results:
        for g in r.grouped:
            print(f"  {r.name} {g.recipe_name}: {g.cpu_s} CPU s ({g.folds}, {g.n_spectra} spectra)")


if __name__ == "__main__":
    main()
