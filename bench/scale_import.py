"""Benchmark: the scale curve of the importer's write path on SQLite and PostgreSQL.

Writes N synthetic spectra (300-point B K curves, 10 per structure, like bench/import_calcset.py)
through :func:`repository.importer.import_calcset`, as calculation sets of ``--chunk`` entries
each (one transaction per set, the way a large collection arrives), and at each level of
``--levels`` prints

* the write rate (spectra/s, wall and CPU, this level's sets only),
* the database size (bytes on disk; PostgreSQL: ``pg_database_size``) and per spectrum,
* a fresh-process ``xasrepo query FILTER --format ids`` (median of ``--repeat`` runs, wall and CPU),
* with ``--load``: ``load_matrix`` of every spectrum in a fresh process (wall, peak RSS).

The plans are made in memory (no files are parsed: bench/import_calcset.py measures reading and
validating files at 10k, against ase.db); the arrays are SYNTHETIC.

    .venv/bin/python bench/scale_import.py --levels 10000,100000 [--pg postgresql://...] [--load]

Run levels above 10^5 under ``flock /work/briefs/bigmem.lock`` on the shared machine: each set of
``--chunk`` entries is held in memory while it is written (~1 GiB per 50k).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from query import timed_process  # noqa: E402  (bench/query.py: this script's folder is on sys.path)

FILTER = "element = B and crystal_system = cubic and absorber.cn = 4 and spacegroup_number = 216"
SITES_PER_STRUCTURE = 10


def _cpu_s() -> float:
    return time.process_time()


def make_plan(name: str, first: int, count: int, n_points: int, rng: np.random.Generator):
    """A calculation-set plan of ``count`` entries (spectra ``first`` .. ``first + count - 1``)."""
    from repository.calcset import CalcSetPlan, EntryPlan, SpectrumPlan, StructurePlan
    from repository.structures import StructureProperties
    from repository.values import SpectrumData, content_hash

    energy = np.linspace(185.0, 215.0, n_points)
    structures: dict[str, StructurePlan] = {}
    entries = []
    calculation = {"code": "synthetic", "method": "half_core_hole", "parameters": {}}
    for number in range(first, first + count):
        s = number // SITES_PER_STRUCTURE
        digest = f"{s:064x}"
        if digest not in structures:
            cubic = s % 2 == 0
            structures[digest] = StructurePlan(
                content_hash=digest, structure_json=f'{{"synthetic": {s}}}',
                properties=StructureProperties(
                    reduced_formula="BN", elements=("B", "N"), nsites=8 * (1 + s % 8),
                    spacegroup_number=216 if cubic else 194, spacegroup_symbol="F-43m" if cubic else "P6_3/mmc",
                    crystal_system="cubic" if cubic else "hexagonal", dimensionality=3 if cubic else 2,
                    density_g_cm3=3.48 if cubic else 2.28, volume_per_atom_a3=5.9 if cubic else 9.0),
                polymorph="c-BN" if cubic else "h-BN", relaxation="none")
        centres = rng.uniform(190, 210, 3)
        intensity = sum(rng.uniform(0.2, 1) * np.exp(-0.5 * ((energy - c) / rng.uniform(0.4, 2)) ** 2)
                        for c in centres)
        spectrum = SpectrumData(energy_ev=energy, intensity=intensity, absorbing_element="B", edge="K")
        site = number % SITES_PER_STRUCTURE
        entries.append(EntryPlan(
            key=f"e{number}", entry_hash=f"{number:064x}", structure_hash=digest, defect=None,
            calculation=calculation,
            spectra=(SpectrumPlan(spectrum=spectrum, content_hash=content_hash(spectrum, structure_hash=digest,
                                                                                absorber_site_index=site),
                                  source_file=f"spectra/{number}.dat", source_sha256=f"{number:064x}",
                                  absorber_site_index=site, absorber_multiplicity=1, absorber_cn=4 if s % 2 == 0 else 3,
                                  absorber_defect_distance_a=None),),
            dos=(), descriptors=()))
    return CalcSetPlan(name=name, description="synthetic scale benchmark", source=None, provenance={},
                       manifest_hash=f"{first:064x}", structures=structures, entries=tuple(entries))


LOAD_CODE = """
import resource, sys, time
from repository import db
from repository.analysis.load import load_matrix
engine = db.connect(sys.argv[1], read_only=True)
start = time.perf_counter()
ids, energy, matrix = load_matrix(engine, element="B", edge="K")
wall = time.perf_counter() - start
print(matrix.shape[0], wall, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def _size(url: str, path: Path | None) -> int:
    if path is not None:  # the write-ahead log folded into the file first (it keeps its largest size otherwise)
        import sqlite3

        con = sqlite3.connect(path)
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        size = int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar())
    engine.dispose()
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="10000,100000", help="comma-separated spectrum counts")
    parser.add_argument("--chunk", type=int, default=50_000, help="entries per calculation set (one transaction)")
    parser.add_argument("--points", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5, help="fresh-process query runs per level")
    parser.add_argument("--pg", metavar="URL", help="PostgreSQL server: a fresh database is made there and dropped")
    parser.add_argument("--load", action="store_true", help="also time load_matrix in a fresh process")
    parser.add_argument("--workdir", type=Path, help="where the SQLite database goes (default: a temp folder)")
    parser.add_argument("--lock", metavar="FILE", help="run the load step under `flock FILE` (shared-machine memory lock)")
    parser.add_argument("--lock-from", type=int, default=200_000, metavar="N",
                        help="take the --lock only for levels of at least N spectra (a load of 10^5 needs < 1 GB, "
                             "and waiting behind another job's lock there stalls the run)")
    args = parser.parse_args()
    levels = sorted(int(x) for x in args.levels.split(","))
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # `kill` still drops the PostgreSQL database below

    from repository import db
    from repository.importer import import_calcset

    workdir = Path(tempfile.mkdtemp(prefix="xasrepo-scale-", dir=args.workdir))
    drop = None
    try:
        if args.pg:
            from import_calcset import _pg_database

            url, drop = _pg_database(args.pg)
            path = None
        else:
            path = workdir / "scale.db"
            url = str(path)
        db.upgrade(url)
        engine = db.connect(url)
        rng = np.random.default_rng(0)
        python = sys.executable
        done = 0
        backend = "PostgreSQL" if args.pg else "SQLite"
        print(f"# {backend}; {args.points}-point synthetic spectra, {SITES_PER_STRUCTURE} per structure; sets of "
              f"{args.chunk}; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")
        print(f"# query: xasrepo query {FILTER!r} --format ids (fresh process, median of {args.repeat})")
        print(f"{'spectra':>9} {'write/s':>8} {'write/CPU s':>12} {'make plan s':>12} {'db MB':>8} {'KB/spectrum':>12}"
              f" {'query s':>8} {'query CPU s':>12} {'matches':>8}" + (f" {'load s':>7} {'load MiB':>9}" if args.load else ""),
              flush=True)
        for level in levels:
            write_wall = write_cpu = make_s = 0.0
            written = 0
            while done < level:
                count = min(args.chunk, level - done)
                t = time.perf_counter()
                plan = make_plan(f"scale-{done}", done, count, args.points, rng)
                make_s += time.perf_counter() - t
                t, c = time.perf_counter(), _cpu_s()
                summary = import_calcset(engine, plan)
                write_wall += time.perf_counter() - t
                write_cpu += _cpu_s() - c
                assert summary.spectra_new == count, summary
                written += count
                done += count
                del plan, summary
            size = _size(url, path)
            q_wall, out, q_cpu = timed_process([python, "-c", "from cli.main import run; run()", "query", FILTER,
                                                "--format", "ids", "--db", url], args.repeat)
            row = (f"{level:>9} {written / write_wall:>8.0f} {written / write_cpu:>12.0f} {make_s:>12.1f} "
                   f"{size / 1e6:>8.1f} {size / level / 1e3:>12.2f} {q_wall:>8.3f} {q_cpu:>12.3f} {len(out.split()):>8}")
            if args.load:
                command = [python, "-c", LOAD_CODE, url]
                locked = args.lock and level >= args.lock_from
                proc = subprocess.run((["flock", args.lock] if locked else []) + command, capture_output=True,
                                      text=True, cwd=ROOT)
                if proc.returncode != 0:
                    raise SystemExit(f"load failed: {proc.stderr}")
                n, load_s, peak = proc.stdout.split()
                assert int(n) == level, (n, level)
                row += f" {float(load_s):>7.2f} {float(peak):>9.0f}"
            print(row, flush=True)
        engine.dispose()
        print(f"# peak memory of this (writing) process: "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB", flush=True)
    finally:
        if drop is not None:
            drop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
