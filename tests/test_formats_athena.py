"""Athena project files: gzip Perl-serialised and JSON; every group becomes a spectrum."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from repository.errors import InputError
from repository.formats import read_path, sniff

PROJECTS = {  # file: (groups, element) as listed in the fixture NOTES.txt
    "xraylarch/examples/xafsdata/AthenaProjectFiles/FeO.prj": (1, "Fe"),
    "xraylarch/examples/xafsdata/AthenaProjectFiles/cu.prj": (3, "Cu"),
    "xraylarch/examples/xafsdata/AthenaProjectFiles/Se_Standards.prj": (9, "Se"),
    "xraylarch/examples/xafsdata/AthenaProjectFiles/S_CAMD.prj": (22, "S"),
    "xraylarch/examples/xafsdata/AthenaProjectFiles/json_unzipped.prj": (4, "Fe"),
    "xraylarch/examples/xafsdata/fe_athena.prj": (3, "Fe"),
}


@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_every_group_of_a_project_becomes_an_experimental_spectrum(shared_fixtures, name):
    path = shared_fixtures / name
    assert sniff(path) == "athena"
    records = read_path(path)
    groups, element = PROJECTS[name]
    assert len(records) == groups
    assert {r.spectrum.absorbing_element for r in records} == {element}
    assert {r.spectrum.origin.value for r in records} == {"experimental"}
    assert len({r.sample.sample_name for r in records}) == groups or name.endswith("S_CAMD.prj")
    assert all(r.source_sha256 == records[0].source_sha256 for r in records)


def test_group_arrays_are_the_projects_x_and_y(shared_fixtures):
    path = shared_fixtures / "xraylarch/examples/xafsdata/AthenaProjectFiles/cu.prj"
    text = gzip.decompress(path.read_bytes()).decode()
    x_line = next(line for line in text.splitlines() if line.startswith("@x"))
    first_x = float(x_line.split("'")[1])
    record = read_path(path)[0]
    assert record.spectrum.energy_ev[0] == first_x
    assert record.sample.sample_name == "cu010k.dat"
    # the same group is in the uncompressed column file cu.xmu of the same distribution
    table = np.loadtxt(shared_fixtures / "xraylarch/examples/xafsdata/cu.xmu", comments="#")
    assert np.allclose(record.spectrum.energy_ev, table[:, 0])


def test_energy_shift_is_recorded_as_calibration_shift(shared_fixtures):
    records = read_path(shared_fixtures / "xraylarch/examples/xafsdata/AthenaProjectFiles/S_CAMD.prj")
    shifts = [r.sample.calibration_shift_ev for r in records]
    assert shifts[0] == pytest.approx(0.097)
    assert all(s is None or abs(s) < 5 for s in shifts)


def test_chi_group_is_refused_naming_the_group(tmp_path):
    text = ("# Athena project file -- Demeter version 0.9.26\n"
            "$old_group = 'abcd';\n"
            "@args = ('label','my chi','bkg_z','Fe','fft_edge','K','is_chi','1');\n"
            "@x = ('1','2','3');\n@y = ('1','2','3');\n[record]\n")
    path = tmp_path / "chi.prj"
    path.write_bytes(gzip.compress(text.encode()))
    with pytest.raises(InputError, match=r"group 1 \(my chi\): group is chi data"):
        read_path(path)


def test_nested_perl_values_in_args_do_not_shift_keys(tmp_path):
    text = ("# Athena project file -- Demeter version 0.9.26\n"
            "$old_group = 'abcd';\n"
            "@args = ('label','a, (b)','titles',['x','y, z'],'bkg_z','S','fft_edge','k','bkg_eshift','0.5');\n"
            "@x = ('2470','2471','2472');\n@y = ('0.1','0.2','0.3');\n[record]\n")
    path = tmp_path / "nested.prj"
    path.write_bytes(gzip.compress(text.encode()))
    (record,) = read_path(path)
    assert (record.spectrum.absorbing_element, record.spectrum.edge.value) == ("S", "K")
    assert record.sample.sample_name == "a, (b)"
    assert record.sample.calibration_shift_ev == 0.5


def _edited_project(shared_fixtures, tmp_path, group: int, **args):
    import json

    source = shared_fixtures / "xraylarch/examples/xafsdata/AthenaProjectFiles/json_unzipped.prj"
    data = json.loads(source.read_text())
    data[data["_____order"][group]]["args"].update(args)
    path = tmp_path / "edited.prj"
    path.write_text(json.dumps(data))
    return path


def test_athena_default_element_over_fe_data_is_refused_naming_the_group(shared_fixtures, tmp_path):
    # Athena's default bkg_z is H: "H K" (13.6 eV) over Fe K data (7112 eV) must not be stored
    path = _edited_project(shared_fixtures, tmp_path, 1, bkg_z="H")
    with pytest.raises(InputError, match=r"group 2 \(.*\): energies .* start above the H K edge \(13.6 eV\)"):
        read_path(path)


def test_athena_pixel_groups_are_refused_and_not_data_groups_skipped(shared_fixtures, tmp_path):
    with pytest.raises(InputError, match=r"group 3 .*pixel axis"):
        read_path(_edited_project(shared_fixtures, tmp_path, 2, is_pixel="1"))
    records = read_path(_edited_project(shared_fixtures, tmp_path, 0, not_data="1"))
    assert len(records) == 3
    (warning,) = records[0].metadata["import_warnings"]
    assert "group 1" in warning and "skipped: not data" in warning
