"""Tabulated edge energies (the generated table equals xraydb) and the element/edge/energy check on
every path into the database (issue 12)."""

from __future__ import annotations

import numpy as np
import pytest

from repository.edges import EDGE_ENERGIES_EV, EdgeMismatch, check_edge, edge_energy_ev, generate_table_source
from repository.errors import InputError
from repository.formats import read_path, write_spectrum


def test_generated_table_equals_xraydb():
    import xraydb

    source = (__import__("pathlib").Path(__file__).resolve().parent.parent / "repository" / "edge_table.py").read_text()
    assert source == generate_table_source(), "regenerate: python -m repository.edges > repository/edge_table.py"
    for element in ("B", "N", "Cu", "Pb", "U"):
        for edge, value in xraydb.xray_edges(element).items():
            assert EDGE_ENERGIES_EV[element][edge] == value.energy


def test_known_edge_energies():
    # Elam tables (xraydb): B K 188 eV, N K 409.9 eV, Cu K 8979 eV, Pb L3 13035 eV
    assert edge_energy_ev("B", "K") == 188.0
    assert edge_energy_ev("Cu", "K") == 8979.0
    assert edge_energy_ev("Pb", "L3") == 13035.0
    assert edge_energy_ev("C", "M5") is None


def _edge(e0: float, lo: float, hi: float, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    energy = np.linspace(lo, hi, n)
    return energy, 1.0 / (1.0 + np.exp(-(energy - e0) / 1.5))


def test_an_edge_the_element_does_not_have_is_refused(tmp_path):
    with pytest.raises(EdgeMismatch, match="C has no M5 edge"):
        check_edge("C", "M5", *_edge(284.2, 270, 320), computed=False)
    path = tmp_path / "c.csv"
    energy, mu = _edge(284.2, 270, 320)
    path.write_text("energy,mu\n" + "".join(f"{e},{m}\n" for e, m in zip(energy, mu)))
    with pytest.raises(InputError, match="C has no M5 edge"):
        read_path(path, element="C", edge="M5")
    # C K data labelled B K (188 eV) or Fe K: refused, naming C K as the likely edge
    for element in ("B", "Fe"):
        with pytest.raises(InputError, match=r"C K \(284.2 eV\)"):
            read_path(path, element=element, edge="K")
    # 270-320 eV lie above B K (188 eV): the scan does not "not reach" it; and the potassium L
    # edges nearby are named so that "K L3" does not read as "the K edge, L3"
    with pytest.raises(InputError) as refused:
        read_path(path, element="B", edge="K")
    assert "start above the B K edge" in str(refused.value) and "potassium L3 (294.6 eV)" in str(refused.value)
    assert " K L3" not in str(refused.value)
    (record,) = read_path(path, element="C", edge="K")
    assert record.spectrum.absorbing_element == "C"


def test_kev_values_without_a_unit_are_refused_with_the_kev_hint(tmp_path):
    energy, mu = _edge(8979.0, 8900, 9100)
    path = tmp_path / "cu.dat"
    path.write_text("".join(f"{e / 1000} {m}\n" for e, m in zip(energy, mu)))
    with pytest.raises(InputError, match="look like keV .*--energy-unit keV"):
        read_path(path, element="Cu", edge="K")
    (record,) = read_path(path, element="Cu", edge="K", energy_unit="keV")
    assert np.allclose(record.spectrum.energy_ev, energy)


def test_measured_relative_energies_need_edge_energy_computed_ones_get_the_table_value(tmp_path):
    energy, mu = _edge(0.0, -20, 80)
    path = tmp_path / "rel.dat"
    path.write_text("".join(f"{e} {m}\n" for e, m in zip(energy, mu)))
    with pytest.raises(InputError, match=r"relative to the edge: give --edge-energy \(Cu K is tabulated at 8979 eV\)"):
        read_path(path, element="Cu", edge="K")
    (record,) = read_path(path, element="Cu", edge="K", origin="computed")
    assert np.allclose(record.spectrum.energy_ev, energy + 8979.0)
    assert record.metadata["edge_energy_added_ev"] == 8979.0
    (warning,) = record.metadata["import_warnings"]
    assert "added the tabulated Cu K edge energy 8979 eV" in warning


def test_calcset_spectrum_labelled_with_the_wrong_element_is_refused(example_set):
    from repository.calcset import read_calcset

    # the B K spectrum moved up by 213.6 eV, near the N K edge (409.9 eV) of its neighbour
    path = example_set / "spectra" / "hBN_B0_iso.dat"
    table = np.loadtxt(path)
    table[:, 0] += 213.6
    np.savetxt(path, table)
    with pytest.raises(InputError, match=r"hBN_B0_iso.dat: .*B K edge \(188 eV\).*N K \(409.9 eV\)"):
        read_calcset(example_set)


def test_bundled_bn_set_passes_the_computed_check():
    from repository.calcset import read_calcset
    from tests.conftest import ROOT

    if not (ROOT / "data" / "bn" / "calcset.toml").is_file():
        pytest.skip("the bundled BN set (data/bn) is absent")
    plan = read_calcset(ROOT / "data" / "bn")
    edges = {(s.spectrum.absorbing_element, s.spectrum.edge.value) for e in plan.entries for s in e.spectra}
    assert edges == {("B", "K"), ("N", "K")}


def test_xdi_writer_writes_only_xdi_edge_symbols_and_l23_reads_back(tmp_path):
    from repository.conventions import XDI_EDGES
    from repository.values import SpectrumData, SpectrumRecord

    energy, mu = _edge(707.0, 690, 740)  # Fe L3 (706.8 eV) .. L2 (719.9 eV)
    record = SpectrumRecord(SpectrumData(energy, mu, "Fe", "L2,3", origin="experimental"))
    text = write_spectrum(record, tmp_path / "fe.xdi", "xdi").read_text()
    (edge_line,) = [line for line in text.splitlines() if line.startswith("# Element.edge:")]
    assert edge_line.split(":")[1].strip() in XDI_EDGES
    (back,) = read_path(tmp_path / "fe.xdi")
    assert back.spectrum.edge.value == "L2,3"
    assert {"K", "L", "L1", "L3", "M", "M5", "N", "N7", "O", "O7"} <= set(XDI_EDGES) and "L2,3" not in XDI_EDGES


def test_invalid_xdi_metadata_values_are_dropped_with_a_warning_naming_the_field(tmp_path):
    energy, mu = _edge(8979.0, 8900, 9100)
    rows = "".join(f"{e} {m}\n" for e, m in zip(energy, mu))
    path = tmp_path / "meta.xdi"
    path.write_text("# XDI/1.0\n# Column.1: energy eV\n# Column.2: mutrans\n# Element.symbol: Cu\n"
                    "# Element.edge: K\n# Scan.start_time: yesterday at noon\n# Facility.energy: 7.00 GeV\n"
                    "# Facility.current: lots\n# Mono.d_spacing: 3.13553 A\n# Sample.temperature: 77 F\n"
                    "#----\n# energy mutrans\n" + rows)
    (record,) = read_path(path)
    fields = record.metadata["xdi"]["fields"]
    assert "Scan.start_time" not in fields and "Facility.current" not in fields
    assert fields["Facility.energy"] == "7.00 GeV" and fields["Mono.d_spacing"] == "3.13553 A"
    assert record.sample.temperature_k == pytest.approx(298.15)
    warnings = record.metadata["import_warnings"]
    assert len(warnings) == 2
    assert any("line 6: Scan.start_time" in w for w in warnings) and any("line 8: Facility.current" in w for w in warnings)


def test_calcset_in_kev_is_told_to_convert_the_file_not_to_give_energy_unit(example_set, cli, sqlite_db):
    # import refuses --energy-unit for a calculation set, so the advice must be one the set can follow
    path = example_set / "spectra" / "hBN_B0_iso.dat"
    table = np.loadtxt(path)
    table[:, 0] /= 1000.0
    np.savetxt(path, table)
    result = cli("import", example_set, "--db", sqlite_db)
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "hBN_B0_iso.dat" in line and "look like keV" in line
    assert "convert the file's energies to eV" in line and "give --energy-unit" not in line


def test_formats_md_quotes_the_bundled_energy_ranges():
    """docs/formats.md explains the computed tolerance with the bundled set's energy ranges: they are
    the set's (lowest first, highest last energy per element, to 0.1 eV), not remembered numbers."""
    import re

    from repository.calcset import read_calcset
    from tests.conftest import ROOT

    if not (ROOT / "data" / "bn" / "calcset.toml").is_file():
        pytest.skip("the bundled BN set (data/bn) is absent")
    ranges: dict[str, list[float]] = {}
    for entry in read_calcset(ROOT / "data" / "bn").entries:
        for s in entry.spectra:
            lo, hi = ranges.setdefault(s.spectrum.absorbing_element, [np.inf, -np.inf])
            ranges[s.spectrum.absorbing_element] = [min(lo, s.spectrum.energy_ev[0]), max(hi, s.spectrum.energy_ev[-1])]
    text = (ROOT / "docs" / "formats.md").read_text()
    quoted = dict(re.findall(r"(B|N) K (?:spectra )?within (\d+\.\d-\d+\.\d) eV", text))
    assert quoted == {el: f"{lo:.1f}-{hi:.1f}" for el, (lo, hi) in ranges.items()}
