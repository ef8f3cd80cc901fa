"""Benchmark: filtering 100,000 spectra (targets: <= 1 s fresh process, <= 0.3 s on <= 10,000 spectra,
<= 50 ms warm; --help <= 0.5 s). Fresh-process rows also give the process's CPU seconds (the
number to compare on a shared machine).

Builds a synthetic SQLite repository with bulk SQL inserts (bench only: the importer is the one
way data get in otherwise), then times

* ``xasrepo query FILTER --format ids`` in a fresh process (what an analyst waits for),
* :func:`repository.query.spectrum_ids` warm, in-process (engine open, parser built),
* ``xasrepo --help``,

and checks the query process did not import umap, numba or pymatgen. Prints a table.

    .venv/bin/python bench/query.py [--n 100000] [--keep DB]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FILTER = ("element = B and edge = K and crystal_system = hexagonal and defect.name = v_N "
          "and absorber.defect_distance < 3")
FRESH_TARGET_S, WARM_TARGET_S, HELP_TARGET_S = 1.0, 0.050, 0.5
SMALL_N, SMALL_FRESH_TARGET_S = 10_000, 0.3  # issue 18: a fresh query on a small database
HEAVY = ("umap", "numba", "pymatgen")
N_POINTS = 8  # tiny arrays: the bench times the query, not BLOB transfer
STAMP = "2026-01-01 00:00:00.000000"

STRUCTURES = [  # reduced_formula, elements, crystal_system, spacegroup, symbol, dimensionality
    ("BN", "B,N", "hexagonal", 194, "P6_3/mmc", 2),
    ("BN", "B,N", "cubic", 216, "F-43m", 3),
    ("C", "C", "hexagonal", 194, "P6_3/mmc", 2),
    ("B2O3", "B,O", "trigonal", 152, "P3_121", 3),
    ("BCN", "B,C,N", "hexagonal", 187, "P-6m2", 2),
]
DEFECTS = [None, ("vacancy", "v_N"), ("vacancy", "v_B"), ("substitution", "C_B"), ("substitution", "C_N"),
           ("substitution", "O_N")]
ELEMENTS = ("B", "N", "C", "O")


def build(path: Path, n_spectra: int, seed: int = 7) -> None:
    import numpy as np

    from repository import db
    from repository.arrays import to_blob

    db.upgrade(str(path))
    rng = random.Random(seed)
    blob_e = to_blob(np.linspace(180.0, 220.0, N_POINTS))
    blob_i = to_blob(np.ones(N_POINTS))
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("INSERT INTO calculation_set (id, name, provenance_json, manifest_hash, imported_at) "
                "VALUES (1, 'bench', '{}', 'x', ?)", (STAMP,))
    structures, defects, calcs = [], [], []
    sid = 0
    for host, (formula, elements, system, sg, symbol, dim) in enumerate(STRUCTURES):
        for d, defect in enumerate(DEFECTS):
            sid += 1
            structures.append((sid, f"s{sid}", "{}", formula, elements, elements.count(",") + 1, 16 + d, sg, symbol,
                               system, dim, 2.2, 9.0))
            if defect:
                defects.append((len(defects) + 1, sid, defect[0], defect[1], 0, "", "3x3x1"))
    con.executemany("INSERT INTO structure (id, content_hash, structure_json, reduced_formula, elements, nelements, "
                    "nsites, spacegroup_number, spacegroup_symbol, crystal_system, dimensionality, density_g_cm3, "
                    "volume_per_atom_a3) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", structures)
    con.executemany("INSERT INTO defect (id, structure_id, kind, name, charge, position_key, supercell) "
                    "VALUES (?,?,?,?,?,?,?)", defects)
    defect_of = {d[1]: d[0] for d in defects}
    n_calcs = max(1, n_spectra // 100)
    for c in range(1, n_calcs + 1):
        s = rng.randint(1, sid)
        calcs.append((c, 1, f"e{c}", "h", s, defect_of.get(s), "GPAW", "half_core_hole", "{}"))
    con.executemany("INSERT INTO calculation (id, calculation_set_id, entry_key, entry_hash, structure_id, defect_id, "
                    "code, method, parameters_json) VALUES (?,?,?,?,?,?,?,?,?)", calcs)
    rows = []
    for i in range(1, n_spectra + 1):
        c = calcs[(i - 1) % n_calcs]
        has_defect = c[5] is not None
        rows.append((i, f"h{i}", "computed", c[0], rng.choice(ELEMENTS), "K", "XANES", "iso", i % 16, 1,
                     rng.choice((2, 3, 4)), rng.uniform(0.5, 12.0) if has_defect else None, N_POINTS, 180.0, 220.0,
                     blob_e, blob_i, "{}", STAMP))
    con.executemany("INSERT INTO spectrum (id, content_hash, origin, calculation_id, absorbing_element, edge, "
                    "spectrum_type, polarization, absorber_site_index, absorber_multiplicity, absorber_cn, "
                    "absorber_defect_distance_a, n_points, energy_min_ev, energy_max_ev, energy_ev, intensity, "
                    "metadata_json, imported_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    con.executemany("INSERT INTO descriptor (calculation_id, site_index, name, value) VALUES (?,?,?,?)",
                    [(c[0], site, "sigma_charge_transfer", rng.uniform(-0.2, 0.2)) for c in calcs for site in range(16)])
    con.commit()
    con.close()


def timed_process(args: list[str], repeat: int) -> tuple[float, str, float]:
    """Run ``args`` (a fresh process, in the repository root) ``repeat`` times; returns the median wall
    seconds, the last stdout and the median CPU seconds (user + system) of one run. Exits with the
    command and its stderr when a run fails. Shared by the bench scripts (bench/scale_import.py)."""
    import resource

    def children_cpu_s() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    times, cpus, out = [], [], ""
    for _ in range(repeat):
        cpu_before, start = children_cpu_s(), time.perf_counter()
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        out, err = proc.communicate()
        times.append(time.perf_counter() - start)
        # the finished child's own CPU time: robust on a shared machine, where wall time includes waiting
        cpus.append(children_cpu_s() - cpu_before)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed: {err}")
    return statistics.median(times), out, statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="number of spectra")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the database at this path")
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory()
    path = args.keep or Path(tmp.name) / "bench.db"
    start = time.perf_counter()
    if not path.exists():
        build(path, args.n)
    build_s = time.perf_counter() - start

    python = sys.executable
    xasrepo = [python, "-c", "from cli.main import run; run()"]
    bare_s, _, bare_cpu = timed_process([python, "-c", "pass"], args.repeat)
    fresh_s, out, fresh_cpu = timed_process(xasrepo + ["query", FILTER, "--format", "ids", "--db", str(path)],
                                            args.repeat)
    n_found = len(out.split())
    help_s, _, help_cpu = timed_process(xasrepo + ["--help"], args.repeat)

    probe = (f"import sys; sys.argv = ['xasrepo', 'query', {FILTER!r}, '--format', 'ids', '--db', {str(path)!r}]\n"
             "from cli.main import app\n"
             "try:\n    app()\nexcept SystemExit:\n    pass\n"
             f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)")
    heavy = subprocess.run([python, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=False).stderr
    heavy_loaded = heavy.rsplit("HEAVY", 1)[-1].strip()

    from repository import db
    from repository.query import spectrum_ids

    engine = db.connect(str(path), read_only=True)
    assert len(spectrum_ids(engine, FILTER)) == n_found
    warm = []
    for _ in range(max(args.repeat, 10)):
        t0 = time.perf_counter()
        spectrum_ids(engine, FILTER)
        warm.append(time.perf_counter() - t0)
    warm_s = statistics.median(warm)
    engine.dispose()

    print(f"# {args.n} spectra ({n_found} match), database built in {build_s:.1f} s; medians of {args.repeat} runs")
    print(f"# filter: {FILTER}")
    fresh_target = FRESH_TARGET_S if args.n > SMALL_N else SMALL_FRESH_TARGET_S
    print(f"{'measurement':<42} {'seconds':>9} {'CPU s':>7} {'target':>8}  ok")
    for name, value, cpu, target in (("python -c pass (interpreter alone)", bare_s, bare_cpu, None),
                                     ("xasrepo query --format ids (fresh process)", fresh_s, fresh_cpu, fresh_target),
                                     ("spectrum_ids warm, in-process", warm_s, None, WARM_TARGET_S),
                                     ("xasrepo --help", help_s, help_cpu, HELP_TARGET_S)):
        print(f"{name:<42} {value:>9.3f} {'' if cpu is None else f'{cpu:.3f}':>7} "
              f"{'' if target is None else f'{target:.3f}':>8}  "
              f"{'' if target is None else ('yes' if value <= target else 'NO')}")
    print(f"{'heavy modules imported by query':<42} {heavy_loaded:>9}")


if __name__ == "__main__":
    main()
