"""Benchmark: import a generated calculation set (10,000 spectra over 1,000 distinct structures of
8-64 atoms) into a fresh SQLite database, and write the same structures and arrays with ASE's
database (ase.db) as the peer, side by side in one run.

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


def bench_xasrepo(root: Path, workdir: Path) -> dict[str, float]:
    from repository import db
    from repository.calcset import read_calcset
    from repository.importer import import_calcset

    path = workdir / "xasrepo.db"
    db.upgrade(str(path))
    engine = db.connect(str(path))
    t0, c0 = time.perf_counter(), time.process_time()
    plan = read_calcset(root)
    t1 = time.perf_counter()
    summary = import_calcset(engine, plan)
    t2, c2 = time.perf_counter(), time.process_time()
    engine.dispose()
    return {"spectra": summary.spectra_new, "read": t1 - t0, "write": t2 - t1, "cpu": c2 - c0,
            "size_mb": path.stat().st_size / 1e6}


def bench_ase(root: Path, workdir: Path, energy: np.ndarray, entries) -> dict[str, float]:
    import ase.db
    from pymatgen.core import Structure
    from pymatgen.io.ase import AseAtomsAdaptor

    path = workdir / "ase.db"
    t0, c0 = time.perf_counter(), time.process_time()
    atoms_by_structure = {}
    for s, _, _ in entries:
        if s not in atoms_by_structure:
            structure = Structure.from_file(str(root / "structures" / f"s{s}.json"))
            atoms_by_structure[s] = AseAtomsAdaptor.get_atoms(structure)
    t1 = time.perf_counter()
    with ase.db.connect(str(path)) as con:  # one transaction, as xasrepo does
        for s, site, y in entries:
            con.write(atoms_by_structure[s], absorber=int(site), structure=f"s{s}",
                      data={"energy_ev": energy, "intensity": y})
    t2, c2 = time.perf_counter(), time.process_time()
    return {"spectra": len(entries), "read": t1 - t0, "write": t2 - t1, "cpu": c2 - c0,
            "size_mb": path.stat().st_size / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", type=int, default=1000)
    parser.add_argument("--sites", type=int, default=10, help="absorber sites (spectra) per structure")
    parser.add_argument("--points", type=int, default=300)
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
        ours = bench_xasrepo(workdir / "set", workdir)
        if args.checks:
            from _checks import checks_disabled

            timings = {"on": [ours], "off": []}
            for turn in ("off", "on", "off"):
                (workdir / "xasrepo.db").unlink()
                if turn == "off":
                    with checks_disabled():
                        timings[turn].append(bench_xasrepo(workdir / "set", workdir))
                else:
                    timings[turn].append(bench_xasrepo(workdir / "set", workdir))
            med = {k: sorted(r["read"] + r["write"] for r in v)[len(v) // 2] for k, v in timings.items()}
            cpu = {k: sorted(r["cpu"] for r in v)[len(v) // 2] for k, v in timings.items()}
            print(f"checks on: wall {med['on']:.2f} s, CPU {cpu['on']:.2f} s; off: wall {med['off']:.2f} s, "
                  f"CPU {cpu['off']:.2f} s; difference {100 * (cpu['on'] - cpu['off']) / cpu['on']:.1f} % of the "
                  f"import CPU time (medians of 2 runs each, alternating)")
            (workdir / "xasrepo.db").unlink()
            from _checks import checks_timed

            spent = [0.0]
            with checks_timed(spent):
                timed = bench_xasrepo(workdir / "set", workdir)
            print(f"CPU inside the checks: {spent[0]:.3f} s of {timed['cpu']:.2f} s "
                  f"({100 * spent[0] / timed['cpu']:.1f} %)")
            (workdir / "xasrepo.db").unlink()
        peer = bench_ase(workdir / "set", workdir, energy, entries)
        print(f"\n{'tool':<10}{'spectra':>9}{'read+validate s':>17}{'write s':>9}{'wall s':>8}{'spectra/s':>11}"
              f"{'CPU s':>7}{'spectra/CPU s':>15}{'db MB':>7}")
        for name, r in (("xasrepo", ours), ("ase.db", peer)):
            total = r["read"] + r["write"]
            print(f"{name:<10}{r['spectra']:>9}{r['read']:>17.2f}{r['write']:>9.2f}{total:>8.2f}"
                  f"{r['spectra'] / total:>11.0f}{r['cpu']:>7.2f}{r['spectra'] / r['cpu']:>15.0f}{r['size_mb']:>7.1f}")
        print("\nspectra/CPU s is the fair rate on a shared machine (wall time includes waiting for other processes).")
        print("\nase.db 'read' = reading the structure files with pymatgen and converting to ASE Atoms; it does "
              "no validation, symmetry, dimensionality or CN analysis and no text parsing of spectra.")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
