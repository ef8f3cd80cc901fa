"""Structure analysis: hashing, derived columns, Larsen dimensionality and coordination numbers."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from repository.structures import (
    analyze,
    coordination_numbers,
    larsen_dimensionality,
    structure_hash,
)

A_HBN, C_HBN = 2.504, 6.66


def h_bn() -> Structure:
    return Structure(Lattice.hexagonal(A_HBN, C_HBN), ["B", "B", "N", "N"],
                     [(1 / 3, 2 / 3, .25), (2 / 3, 1 / 3, .75), (2 / 3, 1 / 3, .25), (1 / 3, 2 / 3, .75)])


def c_bn() -> Structure:
    return Structure(Lattice.cubic(3.615), ["B"] * 4 + ["N"] * 4,
                     [(0, 0, 0), (0, .5, .5), (.5, 0, .5), (.5, .5, 0),
                      (.25, .25, .25), (.25, .75, .75), (.75, .25, .75), (.75, .75, .25)])


def test_bulk_and_monolayer_hbn_are_2d_and_cbn_is_3d():
    monolayer = Structure(Lattice.hexagonal(A_HBN, 20.0), ["B", "N"], [(1 / 3, 2 / 3, .5), (2 / 3, 1 / 3, .5)])
    assert larsen_dimensionality(h_bn()) == 2
    assert larsen_dimensionality(monolayer) == 2
    assert larsen_dimensionality(c_bn()) == 3


def test_larsen_dimensionality_agrees_with_pymatgen_on_a_chain_and_a_molecule_crystal():
    from pymatgen.analysis.dimensionality import get_dimensionality_larsen
    from pymatgen.analysis.local_env import CutOffDictNN

    chain = Structure(Lattice.tetragonal(8.0, 1.5), ["C"], [(0, 0, 0)])  # C-C 1.5 A along c only
    molecules = Structure(Lattice.cubic(6.0), ["N", "N"], [(0, 0, 0), (0, 0, 1.1 / 6)])
    for structure, expected in ((chain, 1), (molecules, 0), (c_bn(), 3)):
        cutoffs = {("C", "C"): 1.9, ("N", "N"): 1.4, ("B", "N"): 1.9, ("N", "B"): 1.9}
        graph = CutOffDictNN(cut_off_dict=cutoffs).get_bonded_structure(structure)
        assert get_dimensionality_larsen(graph) == expected
        assert larsen_dimensionality(structure) == expected


def test_coordination_numbers_count_the_first_shell():
    assert list(coordination_numbers(h_bn())) == [3, 3, 3, 3]
    assert set(coordination_numbers(c_bn() * (2, 1, 1))) == {4}
    bcc_fe = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [(0, 0, 0), (.5, .5, .5)])
    assert list(coordination_numbers(bcc_fe)) == [8, 8]


def test_a_vacancy_lowers_the_coordination_of_its_neighbours():
    supercell = h_bn() * (3, 3, 1)
    nitrogen = next(i for i, site in enumerate(supercell) if site.specie.symbol == "N")
    neighbors = [n.index for n in supercell.get_neighbors(supercell[nitrogen], 1.6)]
    supercell.remove_sites([nitrogen])
    cn = coordination_numbers(supercell)
    shifted = [i - (i > nitrogen) for i in neighbors]
    assert all(cn[i] == 2 for i in shifted)
    assert sorted(set(cn)) == [2, 3]


def test_hash_ignores_float_noise_and_periodic_wrapping_but_not_site_order():
    structure = h_bn()
    noisy = structure.copy()
    noisy.translate_sites([0], [1.0 + 1e-9, 0, 0], frac_coords=True, to_unit_cell=False)
    assert structure_hash(noisy) == structure_hash(structure)
    reordered = Structure.from_sites([structure[i] for i in (1, 0, 2, 3)])
    assert structure_hash(reordered) != structure_hash(structure)


def test_analyze_derives_space_group_density_and_volume_per_atom():
    properties = analyze(c_bn())
    assert (properties.spacegroup_number, properties.crystal_system) == (216, "cubic")
    assert properties.reduced_formula == "BN" and properties.elements == ("B", "N")
    assert properties.volume_per_atom_a3 == pytest.approx(3.615 ** 3 / 8)
    assert properties.density_g_cm3 == pytest.approx(3.49, abs=0.01)  # c-BN, 3.49 g/cm3
    assert np.isfinite(properties.density_g_cm3)
