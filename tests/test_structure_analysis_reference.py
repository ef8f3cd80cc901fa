"""Structure analysis made cheaper for issue 18 (one neighbour list per cell, spglib called directly,
density without pymatgen's unit objects) must store exactly what pymatgen's own functions give.

The expectations are computed here with pymatgen's public API (SpacegroupAnalyzer, Composition,
``Structure.density``, ``get_dimensionality_larsen`` on a CutOffDictNN graph, ``get_neighbors``),
independently of repository.structures, for the bundled BN set as imported, the example set and
generated cells like the import benchmark's (strained supercells with a vacancy or substitution),
plus cells that take the SpacegroupAnalyzer path (oxidation states, magnetic moments).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from repository.conventions import BOND_TOLERANCE, CN_SHELL_FACTOR, SYMPREC_A
from repository.structures import (
    analyze,
    analyze_with_coordination,
    coordination_numbers,
    density_g_cm3,
    larsen_dimensionality,
    read_structure,
)
from tests.conftest import EXAMPLE_SET, ROOT

BN_STRUCTURES = ROOT / "data" / "bn" / "structures"


def _covalent_cutoffs(structure: Structure) -> dict[tuple[str, str], float]:
    from pymatgen.analysis.molecule_structure_comparator import CovalentRadius
    from pymatgen.core.periodic_table import Element

    radius = {}
    for symbol in structure.symbol_set:
        element = Element(symbol)
        radius[symbol] = float(CovalentRadius.radius.get(symbol, element.atomic_radius_calculated
                                                         or element.atomic_radius or 1.5))
    return {(a, b): BOND_TOLERANCE * (radius[a] + radius[b]) for a in radius for b in radius}


def reference(structure: Structure) -> dict:
    """The stored columns and CN per site, from pymatgen's own functions."""
    from pymatgen.analysis.dimensionality import get_dimensionality_larsen
    from pymatgen.analysis.local_env import CutOffDictNN
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        analyzer = SpacegroupAnalyzer(structure, symprec=SYMPREC_A)
        group = (analyzer.get_space_group_number(), analyzer.get_space_group_symbol(), analyzer.get_crystal_system())
    except Exception:
        group = (1, "P1", "triclinic")
    cutoffs = _covalent_cutoffs(structure)
    graph = CutOffDictNN(cut_off_dict=cutoffs).get_bonded_structure(structure)
    r_max = max(cutoffs.values())
    cn = []
    for site in structure:
        bonded = [n.nn_distance for n in structure.get_neighbors(site, r_max)
                  if 1e-8 < n.nn_distance <= cutoffs[(site.specie.symbol, n.specie.symbol)]]
        cn.append(sum(d <= CN_SHELL_FACTOR * min(bonded) for d in bonded) if bonded else 0)
    return {
        "reduced_formula": structure.composition.reduced_formula,
        "elements": tuple(sorted(el.symbol for el in structure.composition.elements)),
        "nsites": len(structure),
        "spacegroup_number": group[0], "spacegroup_symbol": group[1], "crystal_system": group[2],
        "dimensionality": get_dimensionality_larsen(graph),
        "density_g_cm3": float(structure.density),
        "volume_per_atom_a3": float(structure.volume / len(structure)),
        "cn": cn,
    }


def _benchmark_like(count: int, seed: int = 1) -> list[Structure]:
    """Cells like bench/import_calcset.py's: c-BN supercells, strained, one vacancy or C substitution."""
    rng = np.random.default_rng(seed)
    conv = Structure(Lattice.cubic(3.615), ["B"] * 4 + ["N"] * 4,
                     [(0, 0, 0), (0, .5, .5), (.5, 0, .5), (.5, .5, 0),
                      (.25, .25, .25), (.25, .75, .75), (.75, .25, .75), (.75, .75, .25)])
    out = []
    for k in range(count):
        structure = conv * [(1, 1, 1), (2, 1, 1), (2, 2, 1), (2, 2, 2)][k % 4]
        structure.apply_strain(rng.normal(0, 0.01, 3))
        site = int(rng.integers(len(structure)))
        if k % 2:
            structure.remove_sites([site])
        else:
            structure.replace(site, "C")
        out.append(structure)
    return out


def _special() -> list[Structure]:
    """Cells that leave the direct spglib path or hit its edge cases."""
    hbn = Structure(Lattice.hexagonal(2.504, 6.66), ["B", "B", "N", "N"],
                    [(1 / 3, 2 / 3, .25), (2 / 3, 1 / 3, .75), (2 / 3, 1 / 3, .25), (1 / 3, 2 / 3, .75)])
    charged = Structure(Lattice.cubic(4.2), ["Mg2+", "O2-"], [(0, 0, 0), (.5, .5, .5)])  # Species: analyzer path
    magnetic = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [(0, 0, 0), (.5, .5, .5)],
                         site_properties={"magmom": [2.2, -2.2]})  # a site property: analyzer path
    rattled = (hbn * (2, 2, 1)).copy()
    rattled.perturb(0.3, min_distance=0.2)  # beyond SYMPREC_A: P1
    chain = Structure(Lattice.tetragonal(8.0, 1.5), ["C"], [(0, 0, 0)])
    molecules = Structure(Lattice.cubic(6.0), ["N", "N"], [(0, 0, 0), (0, 0, 1.1 / 6)])
    interleaved = Structure(Lattice.cubic(3.615), ["B", "N", "B", "N", "B", "N", "B", "N"],  # species numbered
                            [(0, 0, 0), (.25, .25, .25), (0, .5, .5), (.25, .75, .75),      # as they first appear
                             (.5, 0, .5), (.75, .25, .75), (.5, .5, 0), (.75, .75, .25)])
    return [hbn, hbn * (3, 3, 1), charged, magnetic, rattled, chain, molecules, interleaved]


def _check(structure: Structure, label: str) -> None:
    expected = reference(structure)
    properties, cn = analyze_with_coordination(structure)
    got = {name: getattr(properties, name) for name in expected if name != "cn"}
    got["cn"] = cn.tolist()
    # exact equality, floats included: the stored values must not move by one bit
    assert got == expected, label
    assert analyze(structure) == properties, label
    assert coordination_numbers(structure).tolist() == expected["cn"], label
    assert larsen_dimensionality(structure) == expected["dimensionality"], label


@pytest.mark.skipif(not BN_STRUCTURES.is_dir(), reason="the bundled BN set (data/bn) is absent")
def test_bundled_bn_structures_match_pymatgen_exactly():
    files = sorted(BN_STRUCTURES.glob("*"))
    assert files
    for path in files:
        _check(read_structure(path), path.name)


def test_example_set_and_benchmark_like_cells_match_pymatgen_exactly():
    files = [p for p in sorted((EXAMPLE_SET / "structures").rglob("*")) if p.is_file()]
    assert files
    for path in files:
        _check(read_structure(path), path.name)
    for k, structure in enumerate(_benchmark_like(12)):
        _check(structure, f"benchmark-like cell {k}")


def test_cells_off_the_direct_spglib_path_match_pymatgen_exactly():
    for k, structure in enumerate(_special()):
        _check(structure, f"special cell {k}")


def test_density_is_pymatgens_float_for_every_element():
    from pymatgen.core.periodic_table import Element

    lattice = Lattice.cubic(5.0)
    for z in range(1, 95):
        structure = Structure(lattice, [Element.from_Z(z), "O"], [(0, 0, 0), (.5, .5, .5)])
        assert density_g_cm3(structure.composition, structure.volume) == structure.density, z
    c_bn = Structure(Lattice.cubic(3.615), ["B"] * 4 + ["N"] * 4,
                     [(0, 0, 0), (0, .5, .5), (.5, 0, .5), (.5, .5, 0),
                      (.25, .25, .25), (.25, .75, .75), (.75, .25, .75), (.75, .75, .25)])
    assert density_g_cm3(c_bn.composition, c_bn.volume) == pytest.approx(3.49, abs=0.01)  # c-BN: 3.49 g/cm^3


@pytest.mark.skipif(not BN_STRUCTURES.is_dir(), reason="the bundled BN set (data/bn) is absent")
def test_imported_bn_set_stores_pymatgens_values(bundled_bn_db):
    """The structure rows and absorber CNs written by importing data/bn equal pymatgen's, recomputed
    from the stored structure JSON."""
    import sqlite3

    con = sqlite3.connect(bundled_bn_db)
    try:
        rows = con.execute("SELECT id, structure_json, reduced_formula, elements, nelements, nsites, spacegroup_number,"
                           " spacegroup_symbol, crystal_system, dimensionality, density_g_cm3, volume_per_atom_a3"
                           " FROM structure").fetchall()
        absorbers = con.execute("SELECT structure_id, absorber_site_index, absorber_cn FROM spectrum"
                                " WHERE absorber_site_index IS NOT NULL").fetchall()
    finally:
        con.close()
    assert rows and absorbers
    expected_cn = {}
    for (sid, text, formula, elements, nelements, nsites, number, symbol, system, dim, density, volume) in rows:
        structure = Structure.from_dict(json.loads(text))
        want = reference(structure)
        assert (formula, elements, nelements, nsites) == (want["reduced_formula"], ",".join(want["elements"]),
                                                          len(want["elements"]), want["nsites"])
        assert (number, symbol, system, dim) == (want["spacegroup_number"], want["spacegroup_symbol"],
                                                 want["crystal_system"], want["dimensionality"])
        assert (density, volume) == (want["density_g_cm3"], want["volume_per_atom_a3"])
        expected_cn[sid] = want["cn"]
    for sid, site, cn in absorbers:
        assert cn == expected_cn[sid][site], (sid, site)
