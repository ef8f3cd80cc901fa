"""Bader charges from GPAW all-electron densities, with baderkit (run in its own environment).

baderkit (a reimplementation of the Henkelman group's grid-based Bader code; Yu & Trinkle's
weight method is its default) pins pymatgen ≤ 2025.10.7, which conflicts with the project's lock,
so it lives in ``.venv-bader`` (made by ``python -m repository.calculations setups``) and this
module is run there as a script::

    .venv-bader/bin/python -m repository.calculations.bader DENSITY.npz OUT.json

``DENSITY.npz`` is what the ground-state job of the v2 campaign writes: ``density`` (e/Å³, the
all-electron density on GPAW's fine grid, ``gridrefinement=2``), ``cell`` (3×3 Å), ``positions``
(N×3 Å), ``symbols``.  The density goes through a Gaussian cube file so that baderkit's own reader
does the unit handling.  Charges are ``Z - N_basin`` (all-electron: the valence count of each atom
is its atomic number), in e, positive for cations.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

BOHR_A = 0.52917721092          # Å (CODATA 2010, the value ASE uses)
ATOMIC_NUMBER = {"B": 5, "C": 6, "N": 7, "O": 8}


def write_cube(path: Path, density_e_per_a3: np.ndarray, cell_a: np.ndarray,
               positions_a: np.ndarray, symbols) -> None:
    """Gaussian cube (atomic units) of a periodic density; grid points at i/n of the cell."""
    n = density_e_per_a3.shape
    cell_b = np.asarray(cell_a) / BOHR_A
    with open(path, "w") as f:
        f.write("all-electron density (GPAW), e/bohr^3\nxasrepo bader\n")
        f.write(f"{len(symbols):5d} {0:12.6f} {0:12.6f} {0:12.6f}\n")
        for i in range(3):
            v = cell_b[i] / n[i]
            f.write(f"{n[i]:5d} {v[0]:12.6f} {v[1]:12.6f} {v[2]:12.6f}\n")
        for s, p in zip(symbols, np.asarray(positions_a) / BOHR_A):
            z = ATOMIC_NUMBER[str(s)]
            f.write(f"{z:5d} {float(z):12.6f} {p[0]:12.6f} {p[1]:12.6f} {p[2]:12.6f}\n")
        data = (np.asarray(density_e_per_a3, float) * BOHR_A ** 3).reshape(n[0] * n[1], n[2])
        for row in data:                       # x outer, y, z inner (cube order)
            for k in range(0, len(row), 6):
                f.write(" ".join(f"{v:.6e}" for v in row[k:k + 6]) + "\n")


def bader_from_density_file(npz: Path) -> dict:
    """Bader charges of the atoms of one ground state: ``{'charges': [...], 'method': str,
    'electrons_total': float, 'electrons_expected': int}``.  Raises ``ValueError`` when the
    integrated density misses the electron count by more than 0.05 e per atom (an unconverged
    grid would give charges that look right and are not)."""
    from baderkit import Bader  # noqa: PLC0415 - only in .venv-bader

    d = np.load(npz)
    symbols = [str(s) for s in d["symbols"]]
    expected = sum(ATOMIC_NUMBER[s] for s in symbols)
    with tempfile.TemporaryDirectory() as tmp:
        cube = Path(tmp) / "density.cube"
        write_cube(cube, d["density"], d["cell"], d["positions"], symbols)
        bader = Bader.from_cube(charge_grid=cube)
        populations = np.asarray(bader.atom_charges, float)
    total = float(populations.sum())
    if abs(total - expected) > 0.05 * len(symbols):
        raise ValueError(f"{npz}: Bader basins hold {total:.2f} e, the cell has {expected} e")
    charges = [ATOMIC_NUMBER[s] - p for s, p in zip(symbols, populations)]
    import baderkit

    return {"charges": [round(float(c), 5) for c in charges], "electrons_total": round(total, 4),
            "electrons_expected": expected,
            "method": (f"Bader (baderkit {baderkit.__version__}, default method) of the GPAW PBE "
                       "all-electron ground-state density, gridrefinement 2; charge = Z - basin "
                       "population")}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    npz, out = Path(argv[0]), Path(argv[1])
    import resource
    import time

    wall0 = time.time()
    res = bader_from_density_file(npz)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # the result names its job like every worker result (the runner's job id is the file name:
    # results/bader__<cell>.json <-> bader:<cell>) and records the CPU time for progress reports
    res["job"] = {"id": out.stem.replace("__", ":", 1), "kind": "bader"}
    res["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 1)
    res["wall_s"] = round(time.time() - wall0, 1)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(res, indent=1))
    tmp.replace(out)
    print(f"{out}: Bader charges of {len(res['charges'])} atoms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
