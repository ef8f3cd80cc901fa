"""Identity by content, one spectrum in several calculations, spectroscopy kinds, directories with
--keep-going, and exports that keep what the data are (issue 12)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_SET, file_digest

CU = "XAS-Data-Interchange/data/cu_metal_rt.xdi"


def _count(db_url: str, sql: str) -> int:
    from sqlalchemy import text

    from repository import db

    engine = db.connect(db_url, read_only=True)
    with engine.connect() as conn:
        value = conn.execute(text(sql)).scalar()
    engine.dispose()
    return int(value)


@pytest.mark.parametrize("fmt", ["xdi", "csv", "json"])
def test_export_then_reimport_finds_the_existing_spectrum_and_says_so(shared_fixtures, any_db, cli, tmp_path, fmt):
    assert cli("import", shared_fixtures / CU, "--db", any_db).exit_code == 0
    out = tmp_path / "out"
    exported = cli("export", "1", "--format", fmt, "--out", out, "--db", any_db)
    assert exported.exit_code == 0, exported.output
    again = cli("import", out, "--db", any_db)
    assert again.exit_code == 0, again.output
    assert "already present: " in again.stdout and "is spectrum 1" in again.stdout
    assert "nothing changed" in again.stdout
    assert _count(any_db, "SELECT COUNT(*) FROM spectrum") == 1


def test_the_same_data_in_another_file_is_found_by_content(shared_fixtures, sqlite_db, cli, tmp_path):
    original = shared_fixtures / CU
    edited = tmp_path / "renamed.xdi"
    # other header bytes (a different sample name), the same element, edge and arrays
    edited.write_text(original.read_text(errors="replace").replace("# Sample.name:", "# Sample.name: renamed"))
    assert cli("import", original, "--db", sqlite_db).exit_code == 0
    result = cli("import", edited, "--db", sqlite_db)
    assert result.exit_code == 0 and "renamed.xdi is spectrum 1" in result.stdout


def test_a_spectrum_in_two_sets_is_linked_to_both_calculations(any_db, cli, tmp_path):
    copy = tmp_path / "second"
    shutil.copytree(EXAMPLE_SET, copy)
    manifest = copy / "calcset.toml"
    manifest.write_text(manifest.read_text().replace('name = "example-hbn"', 'name = "example-hbn-v2"', 1))
    assert cli("import", EXAMPLE_SET, "--db", any_db).exit_code == 0
    spectra = _count(any_db, "SELECT COUNT(*) FROM spectrum")
    result = cli("import", copy, "--db", any_db)
    assert result.exit_code == 0, result.output
    assert f"{spectra} spectra already present were linked to the new calculations" in result.stdout
    assert _count(any_db, "SELECT COUNT(*) FROM spectrum") == spectra
    # every spectrum belongs to one calculation of each set
    assert _count(any_db, "SELECT COUNT(*) FROM spectrum_calculation") == 2 * spectra
    assert _count(any_db, "SELECT COUNT(DISTINCT c.calculation_set_id) FROM spectrum_calculation l "
                          "JOIN calculation c ON c.id = l.calculation_id") == 2


def test_stored_data_hash_is_the_migration_formula(sqlite_db, cli):
    import importlib.util

    from sqlalchemy import text

    from repository import db

    assert cli("import", EXAMPLE_SET, "--db", sqlite_db).exit_code == 0
    path = Path(__file__).resolve().parent.parent / "migrations" / "versions" / "0005_identity_links_spectroscopy.py"
    spec = importlib.util.spec_from_file_location("rev0005", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    engine = db.connect(sqlite_db, read_only=True)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT absorbing_element, edge, energy_ev, intensity, data_hash FROM spectrum")).all()
    engine.dispose()
    assert rows and all(module.data_hash(*row[:4]) == row[4] for row in rows)


def test_nrixs_is_stored_as_its_own_spectroscopy_and_never_embedded_with_absorption(shared_fixtures, sqlite_db, cli):
    from repository import db
    from repository.analysis.load import load_spectra
    from repository.errors import UsageError
    from repository.query import spectrum_ids

    assert cli("import", shared_fixtures / "feff10/examples/NRIXS/MgB2", "--db", sqlite_db).exit_code == 0
    assert cli("import", shared_fixtures / "feff10/examples/XANES/BN", "--db", sqlite_db).exit_code == 0
    engine = db.connect(sqlite_db, read_only=True)
    try:
        assert len(spectrum_ids(engine, "spectroscopy = NRIXS")) == 1
        assert len(spectrum_ids(engine, "spectroscopy = XAS and element = B")) == 1
        with pytest.raises(UsageError, match="1 NRIXS"):
            load_spectra(engine, element="B", edge="K")
        only_xas = spectrum_ids(engine, "spectroscopy = XAS and element = B")
        assert load_spectra(engine, ids=only_xas).ids.tolist() == only_xas
    finally:
        engine.dispose()


def _mixed_directory(shared_fixtures: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(shared_fixtures / CU, folder / "a_good.xdi")
    shutil.copy(shared_fixtures / "XAS-Data-Interchange/baddata/bad_00.xdi", folder / "b_pre_edge_only.xdi")
    shutil.copy(shared_fixtures / "XAS-Data-Interchange/data/fe_metal_rt.xdi", folder / "c_good.xdi")
    return folder


def test_directory_without_keep_going_is_all_or_nothing(shared_fixtures, sqlite_db, cli, tmp_path):
    folder = _mixed_directory(shared_fixtures, tmp_path)
    before = file_digest(Path(sqlite_db))
    result = cli("import", folder, "--db", sqlite_db)
    assert result.exit_code == 2 and "b_pre_edge_only.xdi" in result.stderr
    assert file_digest(Path(sqlite_db)) == before


def test_keep_going_imports_the_valid_files_and_lists_the_refused(shared_fixtures, sqlite_db, cli, tmp_path):
    folder = _mixed_directory(shared_fixtures, tmp_path)
    result = cli("import", folder, "--keep-going", "--db", sqlite_db)
    assert result.exit_code == 2
    refused = [line for line in result.stderr.splitlines() if line.startswith("refused: ")]
    assert len(refused) == 1 and "b_pre_edge_only.xdi" in refused[0] and "Cu K edge (8979 eV)" in refused[0]
    assert "imported 2 spectra from 2 file(s)" in result.stdout
    assert _count(sqlite_db, "SELECT COUNT(*) FROM spectrum") == 2
    again = cli("import", folder, "--keep-going", "--db", sqlite_db)
    assert again.exit_code == 2 and again.stdout.count("already present: ") == 2


def test_exports_carry_formula_defect_code_method_and_set_and_reimport_restores_them(sqlite_db, cli, tmp_path):
    from repository import catalog, db

    assert cli("import", EXAMPLE_SET, "--db", sqlite_db).exit_code == 0
    engine = db.connect(sqlite_db, read_only=True)
    rows = catalog.list_spectra(engine, limit=None)
    defect_row = next(r for r in rows if r["defect_name"])
    full = catalog.get_spectrum(engine, defect_row["spectrum_id"], with_arrays=False)
    engine.dispose()
    expected = {"reduced_formula": full["reduced_formula"], "defect_name": full["defect_name"],
                "defect_kind": full["defect_kind"], "code": full["code"], "method": full["method"],
                "functional": full["functional"], "calculation_set": "example-hbn",
                "absorber_site_index": full["absorber_site_index"]}
    assert all(v is not None for v in expected.values())
    for fmt in ("xdi", "json", "csv"):
        out = tmp_path / fmt
        assert cli("export", str(defect_row["spectrum_id"]), "--format", fmt, "--out", out, "--db",
                   sqlite_db).exit_code == 0
        (path,) = out.iterdir()
        if fmt == "xdi":
            text = path.read_text()
            assert f"# Xasrepo.defect_name: {full['defect_name']}" in text
            assert "# Xasrepo.calculation_set: example-hbn" in text
        other = tmp_path / f"other_{fmt}.db"
        assert cli("init", "--db", other).exit_code == 0
        assert cli("import", path, "--db", other).exit_code == 0
        engine = db.connect(str(other), read_only=True)
        restored = catalog.get_spectrum(engine, 1, with_arrays=False)["metadata"]["context"]
        engine.dispose()
        assert {k: restored[k] for k in expected} == expected


def test_a_set_filter_finds_the_spectra_a_set_shares_with_an_earlier_one(any_db, cli, tmp_path):
    """`set = NAME` means "in set NAME": spectra the second set shares with the first were found
    only under the first set (the calculation that brought them), so the second set looked empty."""
    from repository.query.search import spectrum_ids

    copy = tmp_path / "second"
    shutil.copytree(EXAMPLE_SET, copy)
    manifest = copy / "calcset.toml"
    manifest.write_text(manifest.read_text().replace('name = "example-hbn"', 'name = "example-hbn-v2"', 1))
    assert cli("import", EXAMPLE_SET, "--db", any_db).exit_code == 0
    assert cli("import", copy, "--db", any_db).exit_code == 0
    everything = spectrum_ids(any_db, None)
    set_id = _count(any_db, "SELECT id FROM calculation_set WHERE name = 'example-hbn-v2'")
    assert everything and spectrum_ids(any_db, "set = 'example-hbn-v2'") == everything
    assert spectrum_ids(any_db, f"set.id = {set_id}") == everything
    assert spectrum_ids(any_db, "set = 'example-hbn'") == everything
    assert spectrum_ids(any_db, "set in ('nothing', 'example-hbn-v2')") == everything
    assert spectrum_ids(any_db, "set like 'EXAMPLE-HBN-%'") == everything
    assert spectrum_ids(any_db, "not set = 'example-hbn-v2'") == []
    assert spectrum_ids(any_db, "set != 'example-hbn'") == everything   # in another set too
    assert spectrum_ids(any_db, "set is known") == everything
    assert spectrum_ids(any_db, "set = 'example-hbn-v2' and element = B") == spectrum_ids(any_db, "element = B")
