"""Benchmark: import a generated calculation set (10,000 spectra over 1,000 distinct structures of
8-64 atoms) into a fresh SQLite database, and write the same structures and arrays with ASE's
database (ase.db) as the peer, side by side in one run: once with the arrays from memory, once reading
each spectrum text file with np.loadtxt as an ase.db user has to.

    .venv/bin/python bench/import_calcset.py [--structures 1000] [--sites 10] [--points 300]

The spectra are SYNTHETIC (random Gaussians): this measures I/O and bookkeeping, not physics.
Structures are c-BN supercells, each strained and with one vacancy or C substitution.
Timings: "read+validate" (files -> validated plan: TOML, text parsing, pymatgen structure analysis
once per distinct structure, CN and defect distance per absorber site) and "write" (one transaction).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

SUPERCELLS = [(1, 1, 1), (2, 1, 1), (2, 2, 1), (2, 2, 2)]  # 8, 16, 32, 64 atoms of c-BN


def generate(root: Path, n_structures: int, sites_per_structure: int, n_points: int, seed: int = 0):
    from pymatgen.core import Lattice, Structure

    rng = np.random.default_rng(seed)
    conv = Structure(Lattice.cubic(3.615), ["B"] * 4 + ["N"] * 4,
                     [(0, 0, 0), (0, .5, .5), (.5, 0, .5), (.5, .5, 0),
                      (.25, .25, .25), (.25, .75, .75), (.75, .25, .75), (.75, .75, .25)])
    (root / "structures").mkdir(parents=True)
    (root / "spectra").mkdir()
    energy = np.linspace(185.0, 215.0, n_points)
    lines = ['format_version = 1\n[set]\nname = "bench"\n[defaults.calculation]\ncode = "synthetic"\n'
             'method = "half_core_hole"\n']
    atoms_list = []
    for s in range(n_structures):
        # Distinct like a real defect data set: supercell, lattice strain, and a point defect (vacancy
        # or C substitution) at a random site. No random rattling: relaxed cells keep their symmetry,
        # and spglib on noise-rattled cells measures spglib's worst case rather than the importer.
        structure = conv * SUPERCELLS[s % len(SUPERCELLS)]
        structure.apply_strain(rng.normal(0, 0.01, 3))
        defect_site = int(rng.integers(len(structure)))
        if rng.random() < 0.5:
            structure.remove_sites([defect_site])
        else:
            structure.replace(defect_site, "C")
        (root / "structures" / f"s{s}.json").write_text(structure.to_json())
        borons = [i for i, site in enumerate(structure) if site.specie.symbol == "B"]
        for k in range(sites_per_structure):
            site = borons[k % len(borons)]
            y = np.zeros(n_points)
            for _ in range(3):
                y += rng.uniform(0.2, 1) * np.exp(-0.5 * ((energy - rng.uniform(190, 210)) / rng.uniform(0.4, 2)) ** 2)
            name = f"spectra/s{s}_{k}.dat"
            np.savetxt(root / name, np.c_[energy, y], fmt="%.6g")
            lines.append(f'[[entries]]\nkey = "s{s}/{k}"\nstructure = "structures/s{s}.json"\n'
                         f'[entries.absorber]\nsite_index = {site}\nelement = "B"\n'
                         f'[[entries.spectra]]\nfile = "{name}"\nedge = "K"\npolarization = "iso{"" if k < 1 else ""}"\n')
            atoms_list.append((s, site, y))
    (root / "calcset.toml").write_text("".join(lines))
    return energy, atoms_list


def _cpu_s() -> float:
    """CPU seconds of this process and of its finished children (the reading pool's workers)."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def bench_xasrepo(root: Path, workdir: Path, workers: int | None = None, url: str | None = None) -> dict[str, float]:
    from repository import db
    from repository.calcset import read_calcset
    from repository.importer import import_calcset

    path = workdir / "xasrepo.db"
    path.unlink(missing_ok=True)
    target = url or str(path)
    db.upgrade(target)
    engine = db.connect(target)
    t0, c0 = time.perf_counter(), _cpu_s()
    plan = read_calcset(root, workers=workers)
    t1 = time.perf_counter()
    summary = import_calcset(engine, plan)
    t2, c2 = time.perf_counter(), _cpu_s()
    if url:
        with engine.connect() as conn:
            from sqlalchemy import text

            size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar() / 1e6
    engine.dispose()  # the last connection closed: SQLite folds its write-ahead log into the file
    if not url:
        size = sum(p.stat().st_size for p in workdir.glob("xasrepo.db*")) / 1e6
    return {"spectra": summary.spectra_new, "read": t1 - t0, "write": t2 - t1, "cpu": c2 - c0, "size_mb": size}


def bench_ase(root: Path, workdir: Path, energy: np.ndarray, entries, *, read_files: bool = False) -> dict[str, float]:
    """ase.db writing the same structures and arrays in one transaction. ``read_files``: the arrays
    come from the spectrum text files, each read with ``np.loadtxt`` (what an ase.db user importing
    this set has to do); else from memory (the generator's arrays: no file is read)."""
    import ase.db
    from pymatgen.core import Structure
    from pymatgen.io.ase import AseAtomsAdaptor

    path = workdir / "ase.db"
    path.unlink(missing_ok=True)
    t0, c0 = time.perf_counter(), _cpu_s()
    atoms_by_structure = {}
    for s, _, _ in entries:
        if s not in atoms_by_structure:
            structure = Structure.from_file(str(root / "structures" / f"s{s}.json"))
            atoms_by_structure[s] = AseAtomsAdaptor.get_atoms(structure)
    arrays = [(energy, y) for _, _, y in entries]
    if read_files:  # the files generate() wrote: spectra/s{structure}_{k}.dat, k counting per structure
        arrays, seen = [], {}
        for s, _, _ in entries:
            k = seen[s] = seen.get(s, -1) + 1
            table = np.loadtxt(root / "spectra" / f"s{s}_{k}.dat", ndmin=2)
            arrays.append((table[:, 0], table[:, 1]))
    t1 = time.perf_counter()
    with ase.db.connect(str(path)) as con:  # one transaction, as xasrepo does
        for (s, site, _), (e, y) in zip(entries, arrays, strict=True):
            con.write(atoms_by_structure[s], absorber=int(site), structure=f"s{s}",
                      data={"energy_ev": e, "intensity": y})
    t2, c2 = time.perf_counter(), _cpu_s()
    return {"spectra": len(entries), "read": t1 - t0, "write": t2 - t1, "cpu": c2 - c0,
            "size_mb": path.stat().st_size / 1e6}


def _median(values):
    values = sorted(values)
    return values[len(values) // 2] if len(values) % 2 else 0.5 * (values[len(values) // 2 - 1] + values[len(values) // 2])


def _pg_database(base_url: str):
    """A fresh database on the PostgreSQL server of ``base_url``: (its URL, a function that drops it)."""
    import os

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"xasrepo_bench_{os.getpid()}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base_url).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", type=int, default=1000)
    parser.add_argument("--sites", type=int, default=10, help="absorber sites (spectra) per structure")
    parser.add_argument("--points", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds; each round runs xasrepo (pool), ase.db, ase.db + np.loadtxt and xasrepo (one "
                             "process) in turn")
    parser.add_argument("--workers", type=int, default=None,
                        help="reading processes for the pool runs (default: every core)")
    parser.add_argument("--pg", metavar="URL",
                        help="also import into a fresh database on this PostgreSQL server (made and dropped here)")
    parser.add_argument("--checks", action="store_true",
                        help="also import with the issue-12 checks switched off (bench/_checks.py), alternating, "
                             "and print what the checks cost")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="xasrepo-bench-"))
    try:
        t = time.perf_counter()
        energy, entries = generate(workdir / "set", args.structures, args.sites, args.points)
        print(f"generated {len(entries)} spectra over {args.structures} structures in {time.perf_counter() - t:.1f} s")
        # Warm-up: import the heavy modules and run pymatgen/spglib once, outside the timing.
        from repository.structures import analyze
        from pymatgen.core import Structure

        analyze(Structure.from_file(str(workdir / "set" / "structures" / "s0.json")))
        if args.checks:
            from _checks import checks_disabled

            timings = {"on": [], "off": []}
            for turn in ("on", "off", "on", "off"):
                if turn == "off":
                    with checks_disabled():
                        timings[turn].append(bench_xasrepo(workdir / "set", workdir, workers=1))
                else:
                    timings[turn].append(bench_xasrepo(workdir / "set", workdir, workers=1))
            med = {k: _median(r["read"] + r["write"] for r in v) for k, v in timings.items()}
            cpu = {k: _median(r["cpu"] for r in v) for k, v in timings.items()}
            print(f"checks on: wall {med['on']:.2f} s, CPU {cpu['on']:.2f} s; off: wall {med['off']:.2f} s, "
                  f"CPU {cpu['off']:.2f} s; difference {100 * (cpu['on'] - cpu['off']) / cpu['on']:.1f} % of the "
                  f"import CPU time (medians of 2 runs each, alternating, one process)")
            from _checks import checks_timed

            spent = [0.0]
            with checks_timed(spent):
                timed = bench_xasrepo(workdir / "set", workdir, workers=1)
            print(f"CPU inside the checks: {spent[0]:.3f} s of {timed['cpu']:.2f} s "
                  f"({100 * spent[0] / timed['cpu']:.1f} %)")
        runs: dict[str, list[dict[str, float]]] = {}
        tools = {"xasrepo pool": lambda: bench_xasrepo(workdir / "set", workdir, workers=args.workers),
                 "ase.db": lambda: bench_ase(workdir / "set", workdir, energy, entries),
                 "ase.db + np.loadtxt": lambda: bench_ase(workdir / "set", workdir, energy, entries, read_files=True),
                 "xasrepo 1 proc": lambda: bench_xasrepo(workdir / "set", workdir, workers=1)}
        for round_ in range(args.repeat):  # alternating, so that load changes hit every tool alike
            for name, run in tools.items():
                runs.setdefault(name, []).append(run())
            print(f"round {round_ + 1}/{args.repeat}: " + ", ".join(
                f"{name} {r[-1]['spectra'] / (r[-1]['read'] + r[-1]['write']):.0f}/s" for name, r in runs.items()),
                flush=True)
        if args.pg:
            url, drop = _pg_database(args.pg)
            try:
                runs["xasrepo pool, PostgreSQL"] = [bench_xasrepo(workdir / "set", workdir, workers=args.workers,
                                                                  url=url)]
            finally:
                drop()
        import os

        print(f"\n# {len(entries)} spectra, {args.structures} structures, {args.points} points; medians of "
              f"{args.repeat} alternating rounds; {os.cpu_count()} cores, load average "
              f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end")
        print(f"{'tool':<26}{'read+validate s':>16}{'write s':>9}{'wall s':>8}{'spectra/s':>11}"
              f"{'CPU s':>7}{'CPU ms/spectrum':>16}{'db MB':>7}")
        for name, rs in runs.items():
            read, write = _median(r["read"] for r in rs), _median(r["write"] for r in rs)
            wall, cpu = _median(r["read"] + r["write"] for r in rs), _median(r["cpu"] for r in rs)
            n = rs[0]["spectra"]
            print(f"{name:<26}{read:>16.2f}{write:>9.2f}{wall:>8.2f}{n / wall:>11.0f}{cpu:>7.2f}"
                  f"{1000 * cpu / n:>16.3f}{rs[0]['size_mb']:>7.1f}")
        for peer in ("ase.db", "ase.db + np.loadtxt"):
            for name in ("xasrepo pool", "xasrepo 1 proc"):
                wall_ratio = _median((a["read"] + a["write"]) / (b["read"] + b["write"])
                                     for a, b in zip(runs[peer], runs[name]))
                cpu_ratio = _median(a["cpu"] / b["cpu"] for a, b in zip(runs[peer], runs[name]))
                print(f"{name}: spectra/s {wall_ratio:.2f}x {peer}'s, spectra/CPU s {cpu_ratio:.2f}x "
                      f"(median of the per-round ratios; > 1: faster than {peer})")
        print("\nCPU s counts this process and the pool's workers; on a shared machine the wall rate depends on "
              "what else runs, the CPU rate much less.")
        print("ase.db 'read' = reading the structure files with pymatgen and converting to ASE Atoms; it does "
              "no validation, symmetry, dimensionality or CN analysis and no text parsing of spectra (its arrays "
              "come from memory); 'ase.db + np.loadtxt' also reads each spectrum text file with np.loadtxt (in its 'read').")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
