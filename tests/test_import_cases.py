"""The cases of ../shared/cases/import (inputs the project once stored with wrong values): each right
behaviour from its README, read from the shared folder (skipped when it is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from repository.errors import InputError
from repository.formats import read_path
from tests.conftest import ROOT, file_digest

CASES = ROOT.parent / "shared" / "cases" / "import"


@pytest.fixture
def cases() -> Path:
    if not CASES.is_dir():
        pytest.skip(f"the shared cases are not at {CASES} (../shared/cases is absent)")
    return CASES


def refused_in_one_line(cli, db: str, *args) -> str:
    before = file_digest(Path(db))
    result = cli("import", *args, "--db", db)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output and "Warning" not in result.stderr
    assert file_digest(Path(db)) == before  # nothing written
    return lines[0]


def test_chi_of_k_is_refused_as_a_wavenumber_even_with_an_edge_energy(cases, sqlite_db, cli):
    path = cases / "chi-k-file" / "nonuniform.chi"
    for extra in ([], ["--edge-energy", "8979"]):
        line = refused_in_one_line(cli, sqlite_db, path, "--element", "Cu", "--edge", "K", *extra)
        assert "photoelectron wavenumber k" in line and "nonuniform.chi" in line


def test_spec_scan_takes_names_from_the_L_line_and_kev_is_converted_or_refused(cases, sqlite_db, cli):
    path = cases / "spec-scan-kev" / "sample_scan.dat"
    # the Pb L3 edge is at 13035 eV (Elam tables); the scan is 12.985-13.103 keV
    line = refused_in_one_line(cli, sqlite_db, path, "--element", "Pb", "--edge", "L3", "--signal-col", "Absorption")
    assert "12.985-13.103 eV" in line and "Pb L3 edge (13035 eV)" in line and "keV" in line
    (record,) = read_path(path, element="Pb", edge="L3", signal_col="Absorption", energy_unit="keV")
    assert record.metadata["columns"]["all"] == ["Energy", "Ioni1", "Ioni2", "FLUO", "Absorption", "Reference"]
    assert record.spectrum.energy_ev[0] == pytest.approx(12985.0)
    assert record.spectrum.energy_ev[-1] == pytest.approx(13103.0)


def test_columns_declared_in_kev_are_converted(cases):
    (cu,) = read_path(cases / "energy-column-kev" / "cu_kev.csv", element="Cu", edge="K")
    table = np.loadtxt(cases / "energy-column-kev" / "cu_kev.csv", delimiter=",", skiprows=1)
    assert np.allclose(cu.spectrum.energy_ev, table[:, 0] * 1000.0)
    aps = cases / "energy-column-kev" / "APS12BM_2019_first40.dat"
    (mn,) = read_path(aps, element="Mn", edge="K", signal_col="8_mu01")
    assert mn.metadata["columns"]["energy"] == "1_Energy (keV)"
    assert mn.spectrum.energy_ev[0] == pytest.approx(6339.0)
    assert mn.spectrum.n_points == 40


def test_kev_column_labelled_with_a_far_element_is_refused(cases, sqlite_db, cli):
    # Cu K data (8.9-9.x keV) stated as Fe K (7112 eV): converted, then refused by the edge check
    line = refused_in_one_line(cli, sqlite_db, cases / "energy-column-kev" / "cu_kev.csv", "--element", "Fe",
                               "--edge", "K")
    assert "Fe K" in line and "Cu K" in line


def test_utf16_text_with_a_bom_is_decoded(cases):
    (record,) = read_path(cases / "utf16-text" / "utf16_export.txt", element="Fe", edge="K")
    assert record.spectrum.energy_ev[0] == pytest.approx(7050.0)
    assert record.spectrum.intensity[0] == pytest.approx(0.110265)


def test_repeated_point_of_a_descending_scan_is_named_by_its_line(cases, sqlite_db, cli):
    line = refused_in_one_line(cli, sqlite_db, cases / "descending-scan-repeat" / "descending_repeat.xdi")
    assert "line 41" in line and "9025" in line and "duplicated" in line


def test_zero_transmitted_intensity_is_one_line_naming_the_cause(cases, sqlite_db, cli):
    line = refused_in_one_line(cli, sqlite_db, cases / "zero-transmitted-intensity" / "scan.dat", "--element", "Ge",
                               "--edge", "K", "--signal-col", "I1", "--i0-col", "I0", "--mode", "transmission")
    assert "line 2" in line and "ln(I0/I1) is undefined where I1 = 0" in line


@pytest.mark.parametrize(("name", "kelvin"), [("celsius_word.xdi", 298.15), ("degrees_c.xdi", 298.15),
                                              ("fahrenheit.xdi", 298.15), ("millikelvin.xdi", 0.3)])
def test_temperatures_are_converted_to_kelvin(cases, name, kelvin):
    # 25 C = 298.15 K; 77 F = (77 - 32) * 5/9 + 273.15 = 298.15 K; 300 mK = 0.3 K
    (record,) = read_path(cases / "temperature-units" / name)
    assert record.sample.temperature_k == pytest.approx(kelvin)


def test_unknown_temperature_unit_is_dropped_with_a_warning_naming_the_field(cases, tmp_path, sqlite_db, cli):
    text = (cases / "temperature-units" / "celsius_word.xdi").read_text().replace("25 Celsius", "25 furlongs")
    path = tmp_path / "furlongs.xdi"
    path.write_text(text)
    (record,) = read_path(path)
    assert record.sample.temperature_k is None
    result = cli("import", path, "--db", sqlite_db)
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "Sample.temperature" in warnings[0] and "line 8" in warnings[0]


@pytest.mark.parametrize(("name", "element", "edge"), [("Fe_L.xdi", "Fe", "L"), ("Ce_M.xdi", "Ce", "M"),
                                                       ("U_N4.xdi", "U", "N4"), ("Th_N5.xdi", "Th", "N5")])
def test_every_xdi_edge_symbol_imports(cases, name, element, edge):
    (record,) = read_path(cases / "xdi-generic-edges" / name)
    assert (record.spectrum.absorbing_element, record.spectrum.edge.value) == (element, edge)
