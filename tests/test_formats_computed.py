"""Computed spectra: pymatgen / Materials Project XAS JSON and FEFF runs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from repository.errors import InputError
from repository.formats import read_path, sniff

MP = "pymatgen/tests/files/analysis/spectrum_test"
FEFF = "feff10/examples"


def test_site_averaged_mp_spectrum_keeps_structure_and_has_no_site(shared_fixtures):
    path = shared_fixtures / MP / "LiCoO2_k_xanes.json"
    (record,) = read_path(path)
    doc = json.loads(path.read_text())
    assert record.spectrum.origin.value == "computed"
    assert (record.spectrum.absorbing_element, record.spectrum.edge.value) == ("Co", "K")
    assert record.absorber_site_index is None
    assert record.structure.composition.reduced_formula == "LiCoO2"
    assert np.array_equal(record.spectrum.energy_ev, doc["x"])
    assert np.array_equal(record.spectrum.intensity, doc["y"])


def test_site_resolved_mp_spectrum_keeps_the_absorbing_index(shared_fixtures):
    (record,) = read_path(shared_fixtures / MP / "site1_k_xanes.json")
    assert record.absorber_site_index == 8
    assert record.structure[8].specie.symbol == "Co"


def test_l2_edge_is_read(shared_fixtures):
    (record,) = read_path(shared_fixtures / MP / "ZnO_l2_xanes.json")
    assert record.spectrum.edge.value == "L2"


def test_json_without_spectrum_arrays_is_refused(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps([{"x": [1, 2], "y": [1, 2], "absorbing_element": "Fe", "edge": "K"}, {"a": 1}]))
    assert sniff(path) == "json"
    with pytest.raises(InputError, match=r"entry 2: no 'x' and 'y'"):
        read_path(path)


def test_site_index_outside_the_structure_is_refused(shared_fixtures, tmp_path):
    doc = json.loads((shared_fixtures / MP / "site1_k_xanes.json").read_text())
    doc["absorbing_index"] = 99
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="absorbing_index 99"):
        read_path(path)


@pytest.mark.parametrize("run, element, edge, first_shell", [
    ("XANES/BN", "B", "K", ("N", 1.57, 4)),
    ("XANES/Cu", "Cu", "K", ("Cu", 2.55, 12)),
    ("HUBBARD/NiO", "O", "K", ("Ni", 2.08, 6)),  # the TITLE says Ni K, but ipot 0 is O
    ("NRIXS/MgB2", "B", "K", ("B", 1.78, 3)),
])
def test_feff_run_gives_absorber_edge_and_neighbour_shells(shared_fixtures, run, element, edge, first_shell):
    (record,) = read_path(shared_fixtures / FEFF / run)
    s = record.spectrum
    assert (s.absorbing_element, s.edge.value, s.origin.value) == (element, edge, "computed")
    cluster = record.metadata["feff"]["cluster"]
    shell = cluster["neighbors"][0]
    assert (shell["element"], shell["distance_a"], shell["count"]) == first_shell
    assert sum(cluster["composition"].values()) == cluster["n_atoms"]
    assert record.structure is None  # a cluster is not a periodic structure


def test_feff_xmu_energies_and_mu_come_from_omega_and_mu_columns(shared_fixtures):
    path = shared_fixtures / FEFF / "XANES/BN/referencexmu.dat"
    (record,) = read_path(path)  # the spectrum file alone finds feff.inp beside it
    table = np.loadtxt(path, comments="#")
    assert np.array_equal(record.spectrum.energy_ev, table[:, 0])
    assert np.array_equal(record.spectrum.intensity, table[:, 3])
    assert record.metadata["feff"]["mu0"] == table[:, 4].tolist()
    assert record.metadata["feff"]["cards"]["EDGE"] == "K"


def test_xmu_without_feff_inp_takes_the_absorber_from_its_header(shared_fixtures):
    (record,) = read_path(shared_fixtures / "pymatgen/tests/files/io/feff/xmu.dat")  # "Abs Z= 8 ... K shell"
    assert (record.spectrum.absorbing_element, record.spectrum.edge.value) == ("O", "K")


def test_feff_danes_run_is_refused_its_mu_column_is_f_prime(shared_fixtures):
    # FEFF's fprime routine writes f'(E) into the mu column: -4.8 falling to -11.8 at the B K edge
    for path in (shared_fixtures / FEFF / "DANES/BN", shared_fixtures / FEFF / "DANES/BN/referencexmu.dat"):
        with pytest.raises(InputError, match=r"DANES/FPRIME\) run \(referencedanes\.dat beside it\).*not absorption"):
            read_path(path)


def test_feff_elnes_is_read_and_marked(shared_fixtures):
    (record,) = read_path(shared_fixtures / FEFF / "KSPACE/Graphite")
    assert record.metadata["feff"]["spectroscopy"] == "ELNES"
    assert record.spectrum.absorbing_element == "C"


def test_feff_emission_run_is_refused(shared_fixtures):
    with pytest.raises(InputError, match="emission"):
        read_path(shared_fixtures / FEFF / "XES/BN")


def test_structure_file_beside_a_feff_run_is_attached(shared_fixtures, tmp_path):
    from pymatgen.core import Lattice, Structure

    run = tmp_path / "BN"
    shutil.copytree(shared_fixtures / FEFF / "XANES/BN", run)
    cbn = Structure.from_spacegroup("F-43m", Lattice.cubic(3.615), ["B", "N"], [[0, 0, 0], [0.25, 0.25, 0.25]])
    cbn.to(filename=str(run / "cBN.cif"))
    (record,) = read_path(run)
    assert record.structure.composition.reduced_formula == "BN"
    assert record.metadata["feff"]["cluster"]["absorber"] == "B"


def test_feff_input_with_an_unknown_potential_names_the_line(shared_fixtures, tmp_path):
    run = tmp_path / "Cu"
    shutil.copytree(shared_fixtures / FEFF / "XANES/Cu", run)
    text = (run / "feff.inp").read_text().replace("  1.80500    0.00000   -1.80500    1 Cu_01",
                                                  "  1.80500    0.00000   -1.80500    7 Cu_01", 1)
    (run / "feff.inp").write_text(text)
    with pytest.raises(InputError, match=r"feff.inp: line \d+: atom with potential 7"):
        read_path(run)
