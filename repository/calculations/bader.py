"""Bader charges from GPAW all-electron densities, with baderkit (run in its own environment).

baderkit (a reimplementation of the Henkelman group's grid-based Bader code; Yu & Trinkle's
weight method is its default) pins pymatgen ≤ 2025.10.7, which conflicts with the project's lock,
so it lives in ``.venv-bader`` (made by ``python -m repository.calculations setups``) and this
module is run there as a script::

    .venv-bader/bin/python -m repository.calculations.bader DENSITY.npz OUT.json

``DENSITY.npz`` is what the ground-state job of the v2 campaign writes: ``density`` (e/Å³, the
all-electron density on GPAW's fine grid, ``gridrefinement=2``), ``cell`` (3×3 Å), ``positions``
(N×3 Å), ``symbols``.  Charges are ``Z - N_basin`` (all-electron: the valence count of each atom
is its atomic number), in e, positive for cations.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ATOMIC_NUMBER = {"B": 5, "C": 6, "N": 7, "O": 8}


# Symmetry-equivalent atoms must get the same Bader charge within this, or the result is refused.
# It exists to catch a grid registered wrongly against the atoms (baderkit 0.10.2's cube reader gave
# identical h-BN B atoms -3.0 .. +4.2 e). It is not tighter because the grid itself breaks the
# symmetry where basins meet in flat density: the three B atoms beside h-BN's N vacancy (density
# symmetric to 1e-4 e: Hirshfeld 0.1232/0.1233/0.1232 e, equal magnetic moments) differ by
# 0.050-0.083 e with all four baderkit methods on the 64x64x54 grid (2026-12-01), against
# <= 0.013 e for every other atom of that cell. The spread of each atom's group is recorded
# (``equivalent_spread_e``) as the uncertainty of its charge.
EQUIVALENT_TOL_E = 0.1


def bader_grid(density_e_per_a3: np.ndarray, cell_a: np.ndarray, positions_a: np.ndarray, symbols):
    """A baderkit ``Grid`` of a periodic all-electron density, built in memory.

    Grid point ``[i, j, k]`` sits at fractional coordinates ``(i/n0, j/n1, k/n2)`` (GPAW's
    periodic grids); the data follow VASP's CHGCAR convention that baderkit uses, density times
    cell volume (e). Built directly rather than through a cube file because baderkit 0.10.2's cube
    reader reshapes the values in Fortran order and transposes them, which scrambles any grid whose
    three dimensions differ (measured: h-BN 64x64x54 gave identical B atoms charges from -3.0 to +4.2 e;
    c-BN's 54x54x54 grid hid the bug)."""
    from baderkit.toolkit import Grid  # noqa: PLC0415 - only in .venv-bader
    from baderkit.toolkit.structure import Structure  # noqa: PLC0415

    cell_a = np.asarray(cell_a, float)
    # fractional coordinates, computed here: baderkit's Structure ignored coords_are_cartesian
    # (0.10.2: Cartesian positions came back as if they were fractional)
    frac = np.linalg.solve(cell_a.T, np.asarray(positions_a, float).T).T
    structure = Structure(cell_a, [str(s) for s in symbols], frac)
    delta = structure.frac_coords - frac
    if not np.allclose(delta - np.round(delta), 0.0, atol=1e-8):     # equal up to lattice vectors
        raise ValueError("baderkit Structure does not reproduce the atom positions")
    data = np.ascontiguousarray(np.asarray(density_e_per_a3, float) * structure.volume)
    return Grid(structure=structure, data={"total": data})


def equivalent_spreads(equivalent_atoms, charges) -> np.ndarray:
    """Per atom, the range (max - min, e) of the charges of its symmetry-equivalent atoms (0 for an
    atom without equivalents). ``equivalent_atoms``: spglib's representative index per atom (N,);
    ``charges``: (N,) e. Returns (N,) e."""
    eq = np.asarray(equivalent_atoms)
    charges = np.asarray(charges, float)
    spread = np.zeros(len(charges))
    for rep in np.unique(eq):
        group = eq == rep
        spread[group] = charges[group].max() - charges[group].min()
    return spread


def _equivalent_atoms(structure) -> np.ndarray:
    """spglib's symmetry-equivalent representative of each atom (symprec 0.01 Å)."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer  # noqa: PLC0415

    eq = SpacegroupAnalyzer(structure, symprec=0.01).get_symmetry_dataset()
    return np.asarray(eq.equivalent_atoms if hasattr(eq, "equivalent_atoms") else eq["equivalent_atoms"])


def _inequivalent_charges(structure, charges: np.ndarray, eq: np.ndarray | None = None) -> str | None:
    """Which symmetry-equivalent atoms (spglib, 0.01 Å) got charges differing by more than
    :data:`EQUIVALENT_TOL_E`; ``None`` when none did. A misregistered grid fails this check."""
    eq = _equivalent_atoms(structure) if eq is None else eq
    for rep in np.unique(eq):
        group = charges[eq == rep]
        if group.max() - group.min() > EQUIVALENT_TOL_E:
            return (f"symmetry-equivalent atoms of atom {rep} ({structure[int(rep)].specie}) have Bader charges "
                    f"{group.min():+.3f} .. {group.max():+.3f} e (more than {EQUIVALENT_TOL_E} e apart)")
    return None


def bader_from_density_file(npz: Path) -> dict:
    """Bader charges of the atoms of one ground state: ``{'charges': [...],
    'equivalent_spread_e': [...], 'method': str, 'electrons_total': float,
    'electrons_expected': int}`` (charges in e, ``Z - N_basin``; per atom, the range of the
    charges of its symmetry-equivalent atoms, :func:`equivalent_spreads`, as its uncertainty).

    Raises ``ValueError`` when the basins miss the cell's electron count by more than 0.05 e per
    atom (an unconverged grid), or when symmetry-equivalent atoms get charges more than
    :data:`EQUIVALENT_TOL_E` apart (a grid registered wrongly against the atoms): charges that
    look right and are not are never written."""
    from baderkit import Bader  # noqa: PLC0415 - only in .venv-bader

    d = np.load(npz)
    symbols = [str(s) for s in d["symbols"]]
    expected = sum(ATOMIC_NUMBER[s] for s in symbols)
    grid = bader_grid(d["density"], d["cell"], d["positions"], symbols)
    bader = Bader(charge_grid=grid)
    populations = np.asarray(bader.atom_charges, float)
    total = float(populations.sum())
    if abs(total - expected) > 0.05 * len(symbols):
        raise ValueError(f"{npz}: Bader basins hold {total:.2f} e, the cell has {expected} e")
    charges = np.array([ATOMIC_NUMBER[s] - p for s, p in zip(symbols, populations)])
    eq = _equivalent_atoms(grid.structure)
    problem = _inequivalent_charges(grid.structure, charges, eq)
    if problem:
        raise ValueError(f"{npz}: {problem}")
    import baderkit

    return {"charges": [round(float(c), 5) for c in charges],
            "equivalent_spread_e": [round(float(x), 5) for x in equivalent_spreads(eq, charges)],
            "electrons_total": round(total, 4),
            "electrons_expected": expected,
            "method": (f"Bader (baderkit {baderkit.__version__}, default method) of the GPAW PBE "
                       "all-electron ground-state density, gridrefinement 2; charge = Z - basin "
                       "population; symmetry-equivalent atoms agree within "
                       f"{EQUIVALENT_TOL_E} e")}


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
