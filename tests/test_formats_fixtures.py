"""Every real-world spectrum in ../shared/fixtures imports through `xasrepo import`; every file that
is not an absorption spectrum is named here with the reason, so a new fixture cannot go unnoticed."""

from __future__ import annotations

import re

import pytest

XDI_GOOD = [f"XAS-Data-Interchange/data/{n}" for n in (
    "co_metal_rt.xdi", "cu_metal_10K.xdi", "cu_metal_rt.xdi", "fe2o3_rt.xdi", "fe3c_rt.xdi", "fe_metal_rt.xdi",
    "fen_rt.xdi", "feo_rt1.xdi", "ni_metal_rt.xdi", "pt_metal_rt.xdi", "se_na2so4_rt.xdi", "se_znse_rt.xdi",
    "zn_znse_rt.xdi")]
SXR = "pyNexafs/tests/test_data/au/SXR/2024-03"
SXR_TEY = ["--energy-col", "2", "--signal-col", "13", "--i0-col", "14", "--mode", "TEY", "--facility",
           "Australian Synchrotron", "--beamline", "SXR"]
# At the C K edge the I0 mesh current (column 14) rises 30-fold over 283-292 eV (carbon on the beamline
# optics): sample drain / I0 then FALLS at the edge (edge step -10 and -180 standard errors), so
# the C K scans are stored as the raw sample drain current, which rises at the edge (+86, +1000).
SXR_TEY_RAW = [o for o in SXR_TEY if o not in ("--i0-col", "14")]
LARCH = "xraylarch/examples/xafsdata"

# path -> extra command-line options (column files do not say what they are a spectrum of)
GOOD = {
    **{p: [] for p in XDI_GOOD},
    "LG4X/Example/CK.csv": ["--element", "C", "--edge", "K", "--facility", "SLRI", "--beamline", "BL3.2Ua",
                            "--sample", "diamond-like carbon"],
    "pyNexafs/tests/test_data/au/MEX2/2024-03/MEX2_5640_processed.xdi":
        ["--format", "columns", "--element", "S", "--edge", "K", "--signal-col", "ifluor", "--mode", "fluorescence"],
    "pyNexafs/tests/test_data/au/MEX2/2025-03/MEX2_13385_processed.xdi":
        ["--format", "columns", "--element", "S", "--edge", "K", "--signal-col", "ifluor", "--mode", "fluorescence"],
    f"{SXR}/sxr129577.asc": ["--element", "C", "--edge", "K", *SXR_TEY_RAW],
    f"{SXR}/sxr129578.asc": ["--element", "C", "--edge", "K", *SXR_TEY_RAW],
    f"{SXR}/sxr129598.asc": ["--element", "O", "--edge", "K", *SXR_TEY],
    "pymatgen/tests/files/analysis/spectrum_test/LiCoO2_k_xanes.json": [],
    "pymatgen/tests/files/analysis/spectrum_test/ZnO_l2_xanes.json": [],
    "pymatgen/tests/files/analysis/spectrum_test/site1_k_xanes.json": [],
    "pymatgen/tests/files/io/feff/xmu.dat": [],
    "feff10/examples/HUBBARD/NiO": [],
    "feff10/examples/KSPACE/Graphite": [],
    "feff10/examples/NRIXS/MgB2": [],
    "feff10/examples/XANES/BN": [],
    "feff10/examples/XANES/Cu": [],
    "xraylarch/examples/fdmnes/ZnO_FDMNES.txt": ["--element", "Zn", "--edge", "K", "--edge-energy", "9659",
                                                 "--origin", "computed"],
    "xraylarch/examples/fdmnes/ZnO_FDMNES_conv.txt": ["--element", "Zn", "--edge", "K", "--edge-energy", "9659",
                                                      "--origin", "computed"],
    "xraylarch/examples/fdmnes/ZnO_SSHADE.data.txt": ["--element", "Zn", "--edge", "K", "--mode", "HERFD"],
    f"{LARCH}/AthenaProjectFiles/FeO.prj": [],
    f"{LARCH}/AthenaProjectFiles/S_CAMD.prj": [],
    f"{LARCH}/AthenaProjectFiles/Se_Standards.prj": [],
    f"{LARCH}/AthenaProjectFiles/cu.prj": [],
    f"{LARCH}/AthenaProjectFiles/json_unzipped.prj": [],
    f"{LARCH}/fe_athena.prj": [],
    # columns 5-8 are Detector1-4: the fluorescence detector (rises 0.08 -> 1.4 x I0 at the As K edge),
    # I0, I1 and I2; column 7 / column 6 (I1/I0, stored until the edge-step check) falls at the edge
    f"{LARCH}/beamlines/CLSHXMA.dat": ["--element", "As", "--edge", "K", "--energy-col", "2", "--signal-col", "5",
                                       "--i0-col", "6", "--mode", "fluorescence"],
    # the sample's "mu" has no Ge K edge (its edge step is -13.5 standard errors: a smooth decline);
    # the Ge edge is in mu_ref, the reference foil
    f"{LARCH}/beamlines/ESRF_BM08_LISA_2021.dat": ["--element", "Ge", "--edge", "K", "--signal-col", "mu_ref"],
    f"{LARCH}/beamlines/PFBL12C_2005.dat": ["--element", "Hg", "--edge", "L3", "--signal-col", "5", "--i0-col", "4",
                                            "--mode", "transmission"],
    f"{LARCH}/beamlines/SSRL1_2006.dat": ["--element", "Ag", "--edge", "K", "--energy-col", "3", "--signal-col", "5",
                                          "--i0-col", "4", "--mode", "transmission"],
    f"{LARCH}/beamlines/generic_columns_no_header.dat": ["--element", "Ge", "--edge", "K", "--signal-col", "7"],
    f"{LARCH}/cu.xmu": ["--element", "Cu", "--edge", "K"],
    f"{LARCH}/cu_metal_rt.xdi": [],
    f"{LARCH}/fe_xanes_8ch.xdi": ["--signal-col", "Fe_Ka_mca1", "--i0-col", "I0"],
}
# Files labelled (by the project's own tests until issue 12) with an element whose edge is not in the
# data: each is refused by the edge check, naming the element the data fit.
MISLABELLED = {
    # header "EdgeEnergy ... 11867.000": the As K edge (11867 eV), not Se K (12658 eV)
    f"{LARCH}/beamlines/CLSHXMA.dat": (["--element", "Se", "--edge", "K", "--energy-col", "2", "--signal-col", "5",
                                        "--i0-col", "6", "--mode", "fluorescence"], "As K"),
    # 10907-11506 eV: the Ge K edge (11103 eV); Se K (12658 eV) is 1150 eV above the data
    f"{LARCH}/beamlines/ESRF_BM08_LISA_2021.dat": (["--element", "Se", "--edge", "K"],
                                                   "do not reach the Se K edge (12658 eV)"),
    f"{LARCH}/beamlines/generic_columns_no_header.dat": (["--element", "Se", "--edge", "K", "--signal-col", "4"],
                                                         "do not reach the Se K edge (12658 eV)"),
    # the XDI project's truncated template: 8779-8889 eV, all of it 90 eV or more below the Cu K edge
    "XAS-Data-Interchange/baddata/bad_00.xdi": ([], "below the edge"),
    "XAS-Data-Interchange/baddata/bad_23.xdi": ([], "below the edge"),
}
NOT_SPECTRA = {
    "XAS-Data-Interchange/data/nonxafs_1d.xdi": "abscissa is a position in mm",
    "XAS-Data-Interchange/data/nonxafs_2d.xdi": "no element: a 2-D map example",
    "XAS-Data-Interchange/data/nonxafs_negvalues.xdi": "X/Y/Z table, no energy",
    "feff10/examples/XES/BN": "emission spectrum (XES), refused",
    "feff10/examples/DANES/BN": "DANES run: xmu.dat holds f'(E), the anomalous scattering factor, not absorption",
    f"{SXR}/sxr129577.mda": "binary MDA (the .asc is the same scan)",
    f"{LARCH}/cu.chi": "chi(k), not on an energy axis",
    "XAS-Data-Interchange/baddata/BadFiles.txt": "description of the bad files",
}
DOC_NAMES = ("NOTES.txt", "LICENSE", "License.txt", "LICENSE.rst", "README", "README.md", "readme.md",
             "license.rst", "spec.md", "dictionary.md")


def test_every_fixture_file_is_either_a_listed_spectrum_or_a_listed_non_spectrum(shared_fixtures):
    listed = set(GOOD) | set(NOT_SPECTRA)
    unlisted = []
    for path in sorted(shared_fixtures.rglob("*")):
        rel = path.relative_to(shared_fixtures).as_posix()
        if not path.is_file() or path.name in DOC_NAMES or rel.startswith("XASDataLibrary/data/"):
            continue
        if "baddata/bad_" in rel:
            continue  # test_formats_xdi covers every one of them
        if rel in listed or any(rel.startswith(p + "/") for p in listed):
            continue
        unlisted.append(rel)
    assert unlisted == []


def test_every_good_fixture_imports_through_the_command(shared_fixtures, sqlite_db, cli):
    from repository import catalog, db

    expected = 0
    same_data = []
    for rel, options in GOOD.items():
        result = cli("import", shared_fixtures / rel, *options, "--db", sqlite_db)
        assert result.exit_code == 0, (rel, result.output)
        assert "imported" in result.stdout
        if "nothing changed" in result.stdout:  # the same data as a fixture imported before, in another file
            assert "already present: " in result.stdout, result.stdout
            same_data.append(rel)
            continue
        expected += int(result.stdout.split("imported ")[1].split()[0])
    library = cli("import", shared_fixtures / "XASDataLibrary" / "data", "--db", sqlite_db)
    assert library.exit_code == 0, library.output
    n_library = sum(1 for p in (shared_fixtures / "XASDataLibrary" / "data").rglob("*") if p.is_file())
    # byte-identical files (Fe_metal_rt_01/_03, copies of XDI-project files) are stored once
    new = int(library.stdout.split("imported ")[1].split()[0])
    already = re.search(r"\((\d+) already present\)", library.stdout)
    present = int(already.group(1)) if already else 0
    assert f"from {n_library} file(s)" in library.stdout and new + present == n_library and new > 190
    engine = db.connect(sqlite_db, read_only=True)
    counts = catalog.count_rows(engine)
    origins = {r["origin"] for r in catalog.list_spectra(engine, limit=None)}
    engine.dispose()
    assert counts["spectrum"] == expected + new
    # files whose data (element, edge, energy and mu arrays) a fixture imported before holds too, in a
    # file with other bytes: found by content (e.g. the headerless columns are the ESRF file's numbers,
    # xraylarch's cu_metal_rt.xdi is the XDI project's with another header)
    assert same_data == [f"{LARCH}/AthenaProjectFiles/FeO.prj", f"{LARCH}/beamlines/generic_columns_no_header.dat",
                         f"{LARCH}/cu.xmu", f"{LARCH}/cu_metal_rt.xdi"]
    assert origins == {"computed", "experimental"}


@pytest.mark.parametrize("rel", sorted(NOT_SPECTRA))
def test_files_that_are_not_absorption_spectra_are_refused_in_one_line(shared_fixtures, sqlite_db, cli, rel):
    result = cli("import", shared_fixtures / rel, "--db", sqlite_db)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error: ")


@pytest.mark.parametrize("rel", sorted(MISLABELLED))
def test_files_whose_label_does_not_fit_the_data_are_refused_naming_the_likely_edge(shared_fixtures, sqlite_db, cli,
                                                                                     rel):
    options, named = MISLABELLED[rel]
    result = cli("import", shared_fixtures / rel, *options, "--db", sqlite_db)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error: ")
    assert named in result.stderr


def test_data_files_import_into_postgresql_too(shared_fixtures, any_db, cli):
    from repository import catalog, db

    result = cli("import", shared_fixtures / "XAS-Data-Interchange/data/cu_metal_rt.xdi",
                 shared_fixtures / "pymatgen/tests/files/analysis/spectrum_test/site1_k_xanes.json", "--db", any_db)
    assert result.exit_code == 0, result.output
    engine = db.connect(any_db, read_only=True)
    rows = catalog.list_spectra(engine, limit=None)
    engine.dispose()
    assert sorted((r["origin"], r["absorbing_element"]) for r in rows) == [("computed", "Co"), ("experimental", "Cu")]
