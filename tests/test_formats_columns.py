"""Plain column files: CSV with a byte-order mark, headerless files, raw beamline files, I0, relative energies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from repository.errors import InputError, UsageError
from repository.formats import read_path, sniff

LARCH = "xraylarch/examples/xafsdata"
SXR = "pyNexafs/tests/test_data/au/SXR/2024-03"


def test_csv_with_byte_order_mark_reads_its_header_names(shared_fixtures):
    path = shared_fixtures / "LG4X/Example/CK.csv"
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    (record,) = read_path(path, element="C", edge="K", facility="SLRI", beamline="BL3.2Ua", measurement_mode="TEY")
    assert record.metadata["columns"]["energy"] == "PE/eV"
    assert record.spectrum.energy_ev[0] == pytest.approx(270.7)
    assert record.spectrum.energy_ev[-1] == pytest.approx(320.7)
    assert record.spectrum.origin.value == "experimental"
    assert (record.sample.facility, record.sample.beamline, record.sample.measurement_mode) == ("SLRI", "BL3.2Ua", "TEY")
    assert record.spectrum.spectrum_type.value == "XANES"


def test_column_file_without_element_is_refused_with_a_hint(shared_fixtures):
    with pytest.raises(InputError, match="--element"):
        read_path(shared_fixtures / "LG4X/Example/CK.csv")


def test_headerless_multi_column_file_needs_a_signal_column(shared_fixtures):
    path = shared_fixtures / LARCH / "beamlines/generic_columns_no_header.dat"
    with pytest.raises(InputError, match="--signal-col"):
        read_path(path, element="Ge", edge="K")
    # column 7 is the reference foil's mu, the only column with the Ge K edge (column 4, the sample's
    # mu, declines smoothly through 11103 eV: refused by the edge-step check)
    (record,) = read_path(path, element="Ge", edge="K", signal_col="7")
    table = np.loadtxt(path)
    assert np.array_equal(record.spectrum.intensity, table[:, 6])
    assert np.array_equal(record.spectrum.energy_ev, table[:, 0])
    with pytest.raises(InputError, match=r"edge step at e0 = 11102 eV is negative"):
        read_path(path, element="Ge", edge="K", signal_col="4")


def test_named_mu_column_is_chosen_by_default(shared_fixtures):
    path = shared_fixtures / LARCH / "beamlines/ESRF_BM08_LISA_2021.dat"
    # the edge check is off here: this file's "mu" (the sample) holds no Ge K edge, see above
    (record,) = read_path(path, element="Ge", edge="K", check_edge=False)
    assert record.metadata["columns"]["signal"] == "mu"
    assert record.metadata["columns"]["energy"] == "eBraggEnergy"


def test_raw_soft_xray_channels_are_normalised_by_i0(shared_fixtures):
    path = shared_fixtures / SXR / "sxr129577.asc"
    # the edge check is off: at the C K edge this beamline's I0 mesh has a carbon edge of its own (I0
    # rises 30-fold), so drain current / I0 falls there and is refused as it stands
    with pytest.raises(InputError, match=r"edge step at e0 = 283\.6 eV is negative"):
        read_path(path, element="C", edge="K", energy_col="2", signal_col="13", i0_col="14", measurement_mode="TEY")
    (record,) = read_path(path, element="C", edge="K", energy_col="2", signal_col="13", i0_col="14",
                          measurement_mode="TEY", check_edge=False)
    table = np.loadtxt(path, comments="#")
    assert np.allclose(record.spectrum.intensity, table[:, 12] / table[:, 13])
    assert record.spectrum.n_points == 601
    assert record.sample.measurement_mode == "TEY"


def test_transmission_with_i0_is_log_of_the_ratio(shared_fixtures):
    path = shared_fixtures / LARCH / "beamlines/SSRL1_2006.dat"
    (record,) = read_path(path, element="Ag", edge="K", energy_col="3", signal_col="5", i0_col="4",
                          measurement_mode="transmission")
    assert record.metadata["columns"]["signal"] == "ln(col4/col5)"
    assert record.spectrum.n_points == 455  # "PTS: 455" in the SSRL header


def test_beamline_file_with_repeated_first_column_tells_which_line_is_wrong(shared_fixtures):
    path = shared_fixtures / LARCH / "beamlines/CLSHXMA.dat"
    with pytest.raises(InputError, match="--signal-col"):
        read_path(path, element="As", edge="K")
    (record,) = read_path(path, element="As", edge="K", energy_col="2", signal_col="5", i0_col="6")
    assert record.spectrum.energy_ev[0] == pytest.approx(11667.0)


def test_monochromator_angles_are_converted_with_the_header_d_spacing(shared_fixtures):
    path = shared_fixtures / LARCH / "beamlines/PFBL12C_2005.dat"  # Photon Factory: angles, "D= 3.13551 A"
    (record,) = read_path(path, element="Hg", edge="L3", signal_col="5", i0_col="4", measurement_mode="transmission")
    # the header's block table says the scan runs from 12049 to 13260 eV
    assert record.spectrum.energy_ev[0] == pytest.approx(12049.0, abs=1.0)
    assert record.spectrum.energy_ev[-1] == pytest.approx(13260.0, abs=1.0)
    assert record.spectrum.n_points == 818  # "Points= 818"


def test_relative_energies_need_the_edge_energy(shared_fixtures):
    path = shared_fixtures / "xraylarch/examples/fdmnes/ZnO_FDMNES_conv.txt"
    with pytest.raises(InputError, match="--edge-energy"):
        read_path(path, element="Zn", edge="K")
    (record,) = read_path(path, element="Zn", edge="K", edge_energy_ev=9659.0, origin="computed")
    assert record.spectrum.energy_ev[0] == pytest.approx(9659.0 - 30.0)
    assert record.spectrum.origin.value == "computed"
    assert record.metadata["edge_energy_added_ev"] == 9659.0


def test_chi_of_k_is_not_taken_for_an_energy_spectrum(shared_fixtures):
    for extra in ({}, {"edge_energy_ev": 8979.0}):  # --edge-energy must not turn k into eV
        with pytest.raises(InputError, match="photoelectron wavenumber k"):
            read_path(shared_fixtures / LARCH / "cu.chi", element="Cu", edge="K", **extra)


def test_plain_mu_file_and_sshade_export_read(shared_fixtures):
    (cu,) = read_path(shared_fixtures / LARCH / "cu.xmu", element="Cu", edge="K")
    assert cu.spectrum.spectrum_type.value == "XAFS"
    (zn,) = read_path(shared_fixtures / "xraylarch/examples/fdmnes/ZnO_SSHADE.data.txt", element="Zn", edge="K",
                      measurement_mode="HERFD")
    assert zn.metadata["columns"]["energy"].lower().startswith("energy")


def write(tmp_path: Path, text: str, name: str = "data.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_bad_number_inside_the_data_names_its_line(tmp_path):
    path = write(tmp_path, "# energy mu\n100 1\n101 2\n102 x\n103 4\n")
    assert sniff(path) == "columns"
    with pytest.raises(InputError, match=r"line 4: 'x' is not a number"):
        read_path(path, element="B", edge="K")


def test_a_short_row_names_its_line(tmp_path):
    path = write(tmp_path, "energy,mu\n100,1\n101,2\n102\n")
    with pytest.raises(InputError, match=r"line 4: expected 2 columns, found 1"):
        read_path(path, element="B", edge="K")


def test_decimal_commas_are_named_as_the_problem(tmp_path):
    path = write(tmp_path, "energy;mu\n190,0;0,1\n190,5;0,25\n191,0;1,5E-1\n")
    with pytest.raises(InputError, match=r"line 2: numbers are written with decimal commas \('190,0;0,1'\)"):
        read_path(path, element="B", edge="K")
    # semicolons with decimal points are fine
    spectrum = read_path(write(tmp_path, "energy;mu\n190.0;0.1\n190.5;0.2\n191.0;0.3\n"), element="B", edge="K")
    assert np.allclose(spectrum[0].spectrum.energy_ev, [190.0, 190.5, 191.0])


def test_columns_can_be_chosen_by_name_and_unknown_names_are_listed(tmp_path):
    path = write(tmp_path, "energy i0 tey\n190 2 1\n191 4 3\n192 8 7\n")
    (record,) = read_path(path, element="B", edge="K", signal_col="tey", i0_col="i0")
    assert np.allclose(record.spectrum.intensity, [0.5, 0.75, 0.875])
    with pytest.raises(InputError, match=r"columns: energy, i0, tey"):
        read_path(path, element="B", edge="K", signal_col="tfy")


def test_descending_scans_are_stored_with_increasing_energy(tmp_path):
    path = write(tmp_path, "e mu\n192 3\n191 2\n190 1\n")
    (record,) = read_path(path, element="B", edge="K")
    assert record.spectrum.energy_ev.tolist() == [190.0, 191.0, 192.0]
    assert record.spectrum.intensity.tolist() == [1.0, 2.0, 3.0]


def test_experimental_metadata_from_options_is_recorded(tmp_path):
    path = write(tmp_path, "e mu\n190 1\n191 2\n")
    (record,) = read_path(path, element="b", edge="k", sample_name="h-BN powder", facility="ALS", beamline="6.3.2",
                          measurement_mode="TFY", calibration_shift_ev=-0.35)
    assert record.spectrum.absorbing_element == "B"
    assert record.sample.sample_name == "h-BN powder"
    assert record.sample.calibration_shift_ev == -0.35
    assert record.spectrum.energy_ev[0] == 190.0  # the shift is recorded, not applied


def test_binary_files_are_refused_as_not_text(tmp_path):
    path = tmp_path / "scan.mda"
    path.write_bytes(b"\x00\x01\x02\x03" * 100)
    with pytest.raises(InputError, match="binary file"):
        read_path(path, element="C", edge="K")


def test_known_measurement_modes_get_their_usual_spelling(tmp_path):
    path = write(tmp_path, "e mu\n190 1\n191 2\n")
    (tey,) = read_path(path, element="B", edge="K", measurement_mode="tey")
    (pey,) = read_path(path, element="B", edge="K", measurement_mode="Partial  electron yield")
    assert tey.sample.measurement_mode == "TEY"
    assert pey.sample.measurement_mode == "PEY"
    # a mode outside the vocabulary is refused (it used to be stored as typed, typos included)
    with pytest.raises(UsageError, match=r"--mode: unknown measurement mode 'partial electron yield \(PEY, -200 V\)'"):
        read_path(path, element="B", edge="K", measurement_mode="partial electron yield (PEY, -200 V)")
