"""XDI reading against the XDI project's own good and bad files and the XAS data library."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from repository.errors import InputError
from repository.formats import read_path, sniff

XDI_DATA = "XAS-Data-Interchange/data"
BADDATA = "XAS-Data-Interchange/baddata"
NON_XAFS = ("nonxafs_1d.xdi", "nonxafs_2d.xdi", "nonxafs_negvalues.xdi")

# What each malformed file in baddata/ must be refused for: a phrase of our message per BadFiles.txt line.
# bad_00 is the valid template; bad_23 has a key starting with a digit, which the XDI spec allows
# ("The second word must consist of letters, numbers, underscore, or dash"; BadFiles.txt note 4).
EXPECTED_REFUSALS = {
    "bad_01.xdi": ("line 1", "version line"),
    "bad_02.xdi": (None, "no Element.edge"),
    "bad_03.xdi": (None, "no Element.symbol"),
    "bad_04.xdi": ("line 6", "unknown edge 'Foo'"),
    "bad_05.xdi": ("line 7", "'Foo' is not an element symbol"),
    "bad_06.xdi": ("line 29", "header-end line"),
    "bad_07.xdi": (None, "no 'Column.1' header"),
    "bad_08.xdi": ("line 28", "names 3 columns"),
    "bad_09.xdi": ("line 30", "names 5 columns"),
    "bad_10.xdi": ("line 5", "without gaps"),
    "bad_11.xdi": ("line 12", "does not start with '#'"),
    "bad_12.xdi": ("line 2", "no valid Mono.d_spacing"),
    "bad_13.xdi": ("line 31", "has 3 columns"),
    "bad_14.xdi": ("line 36", "has 6 columns"),
    "bad_15.xdi": ("line 29", "not a finite number"),
    "bad_16.xdi": ("line 30", "'STRING'"),
    "bad_17.xdi": ("line 29", "'1.4.9'"),
    "bad_18.xdi": ("line 8", "has no value"),
    "bad_19.xdi": ("line 8", "has no ':'"),
    "bad_20.xdi": ("line 8", "has no '.'"),
    "bad_21.xdi": ("line 8", "white space"),
    "bad_22.xdi": ("line 8", "more than one '.'"),
}
ACCEPTED_FROM_BADDATA = ("bad_00.xdi", "bad_23.xdi")


def library_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "XASDataLibrary" / "data").rglob("*") if p.is_file())


def test_every_xas_data_library_file_reads_as_an_experimental_spectrum(shared_fixtures):
    files = library_files(shared_fixtures)
    assert len(files) > 150
    for path in files:
        (record,) = read_path(path)
        s = record.spectrum
        assert s.origin.value == "experimental"
        assert s.n_points > 50
        assert np.all(np.diff(s.energy_ev) > 0)
        assert record.source_sha256 and len(record.source_sha256) == 64
        assert record.metadata["format"] == "xdi"
        # the element and edge are the file's own header values
        fields = {k.lower(): v for k, v in record.metadata["xdi"]["fields"].items()}
        assert s.absorbing_element.lower() == fields["element.symbol"].strip().lower()


def test_files_with_odd_extensions_and_xdi_1_1_headers_are_recognised_by_content(shared_fixtures):
    files = library_files(shared_fixtures)
    odd = [p for p in files if p.suffix != ".xdi"]
    assert odd, "the library has .xd and .xxdi files"
    assert all(sniff(p) == "xdi" for p in odd)
    no_space = [p for p in files if p.read_text(errors="replace").startswith("#XDI/1.1")]
    assert no_space
    assert {read_path(p)[0].metadata["xdi"]["version"] for p in no_space} == {"1.1"}


def test_every_xafs_file_of_the_xdi_project_reads_with_its_header_metadata(shared_fixtures):
    for path in sorted((shared_fixtures / XDI_DATA).glob("*.xdi")):
        if path.name in NON_XAFS:
            continue
        (record,) = read_path(path)
        text = path.read_text()
        symbol = re.search(r"Element\.symbol:\s*(\w+)", text).group(1)
        assert record.spectrum.absorbing_element == symbol
        facility = re.search(r"Facility\.name:\s*(.+)", text)
        assert record.sample.facility == (facility.group(1).strip() if facility else None)
        assert record.metadata["xdi"]["comments"], "user comments are kept"


def test_transmission_is_computed_from_i0_and_itrans_when_no_mu_column_is_given(shared_fixtures):
    path = shared_fixtures / XDI_DATA / "pt_metal_rt.xdi"  # columns: energy time itrans i0
    (record,) = read_path(path)
    table = np.loadtxt(path, comments="#")
    assert np.allclose(record.spectrum.intensity, np.log(table[:, 3] / table[:, 2]))
    assert record.sample.measurement_mode == "transmission"
    assert record.spectrum.edge.value == "L3"


def test_non_xafs_examples_are_refused_with_the_reason(shared_fixtures):
    messages = {}
    for name in NON_XAFS:
        with pytest.raises(InputError) as err:
            read_path(shared_fixtures / XDI_DATA / name)
        messages[name] = str(err.value)
    assert "not an energy" in messages["nonxafs_1d.xdi"]
    assert "Element.symbol" in messages["nonxafs_2d.xdi"]


@pytest.mark.parametrize("name", sorted(EXPECTED_REFUSALS))
def test_malformed_xdi_file_is_refused_naming_the_problem_and_line(shared_fixtures, name):
    path = shared_fixtures / BADDATA / name
    where, phrase = EXPECTED_REFUSALS[name]
    with pytest.raises(InputError) as err:
        read_path(path)
    message = str(err.value)
    assert message.startswith(str(path))
    assert phrase in message
    if where:
        assert f": {where}:" in message


def test_baddata_directory_holds_exactly_the_cases_we_expect(shared_fixtures):
    names = {p.name for p in (shared_fixtures / BADDATA).glob("*.xdi")}
    assert names == set(EXPECTED_REFUSALS) | set(ACCEPTED_FROM_BADDATA)


def test_the_valid_template_and_a_key_starting_with_a_digit_are_accepted(shared_fixtures):
    from repository.formats.xdi import parse_xdi

    for name in ACCEPTED_FROM_BADDATA:
        doc = parse_xdi((shared_fixtures / BADDATA / name).read_text(), shared_fixtures / BADDATA / name)
        assert doc.get("Element.symbol") == "Cu"
        # the syntax is valid, but the truncated template holds 8779-8889 eV only: 90 eV below Cu K (8979 eV)
        with pytest.raises(InputError, match=r"8779-8889 eV do not reach the Cu K edge \(8979 eV\)"):
            read_path(shared_fixtures / BADDATA / name)
    doc = parse_xdi((shared_fixtures / BADDATA / "bad_23.xdi").read_text(), shared_fixtures / BADDATA / "bad_23.xdi")
    assert doc.get("Family.00key") == "Value"


def test_cli_refuses_each_bad_file_with_one_line_exit_2_and_writes_nothing(shared_fixtures, sqlite_db, cli):
    from tests.conftest import file_digest

    before = file_digest(Path(sqlite_db))
    for name in sorted(EXPECTED_REFUSALS):
        path = shared_fixtures / BADDATA / name
        result = cli("import", path, "--db", sqlite_db)
        assert result.exit_code == 2, (name, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {path}")
        assert "Traceback" not in result.output
    assert file_digest(Path(sqlite_db)) == before


def test_missing_element_can_be_supplied_on_the_command_line(shared_fixtures):
    with pytest.raises(InputError, match="no Element.symbol"):
        read_path(shared_fixtures / BADDATA / "bad_03.xdi")
    # with --element the file is read; its truncated data (8779-8889 eV) then fail the edge check
    with pytest.raises(InputError, match=r"do not reach the Cu K edge \(8979 eV\)"):
        read_path(shared_fixtures / BADDATA / "bad_03.xdi", element="Cu")


def test_non_conformant_nan_element_is_refused_but_reads_as_columns(shared_fixtures):
    path = shared_fixtures / "pyNexafs/tests/test_data/au/MEX2/2024-03/MEX2_5640_processed.xdi"
    with pytest.raises(InputError):
        read_path(path)
    (record,) = read_path(path, "columns", element="S", edge="K", signal_col="ifluor")
    assert record.metadata["columns"]["signal"] == "ifluor"
    assert 2459 < record.spectrum.energy_ev[0] < 2461


def test_older_scan_element_fields_and_slash_comment_separators_are_tolerated(shared_fixtures):
    base = shared_fixtures / "xraylarch/examples/xafsdata"
    (cu,) = read_path(base / "cu_metal_rt.xdi")  # Scan.element / Scan.edge instead of Element.*
    assert (cu.spectrum.absorbing_element, cu.spectrum.edge.value) == ("Cu", "K")
    (fe,) = read_path(base / "fe_xanes_8ch.xdi", signal_col="Fe_Ka_mca1", i0_col="I0")  # "# /// Users Comments ///"
    assert fe.metadata["columns"]["signal"] == "Fe_Ka_mca1/I0"


XDI_TEMPLATE = """# XDI/1.0
# Column.1: {abscissa}
# Column.2: mutrans
# Element.symbol: Cu
# Element.edge: K
{extra}# ///
#----
# x mutrans
{rows}"""


def write_xdi(tmp_path: Path, abscissa: str, values: list[float], extra: str = "") -> Path:
    rows = "".join(f"{v} {i * 0.1}\n" for i, v in enumerate(values))
    path = tmp_path / "made.xdi"
    path.write_text(XDI_TEMPLATE.format(abscissa=abscissa, extra=extra, rows=rows))
    return path


def test_angle_abscissa_is_converted_to_energy_with_the_d_spacing(tmp_path):
    d = 3.13553
    angles = [12.6, 12.7, 12.8]  # increasing angle: decreasing energy (9063-8924 eV, around Cu K)
    path = write_xdi(tmp_path, "angle degrees", angles, extra=f"# Mono.d_spacing: {d}\n")
    (record,) = read_path(path)
    expected = sorted(12398.419843320026 / (2 * d * math.sin(math.radians(a))) for a in angles)
    assert np.allclose(record.spectrum.energy_ev, expected)
    # Bragg's law: smaller angle, higher energy; the scan is stored with increasing energy
    assert record.spectrum.intensity[0] == pytest.approx(0.2)


def test_kev_abscissa_is_converted_to_ev(tmp_path):
    (record,) = read_path(write_xdi(tmp_path, "energy keV", [8.9, 9.0, 9.1]))
    assert np.allclose(record.spectrum.energy_ev, [8900.0, 9000.0, 9100.0])


def test_duplicated_energy_names_its_line(tmp_path):
    path = write_xdi(tmp_path, "energy eV", [8900.0, 8901.0, 8901.0])
    with pytest.raises(InputError, match=r"line 11: .*duplicated"):
        read_path(path)
