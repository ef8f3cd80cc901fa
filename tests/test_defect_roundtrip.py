"""An exported defect spectrum imported again keeps its defect (name, kind, charge) and is never
reported as pristine; ``defect.kind = none`` means a known structure with no defect, so a spectrum
without a structure does not match it. Spectra are the SYNTHETIC ones of the example set (and the
bundled BN set for the antisite a newcomer found listed as pristine)."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import file_digest


def _ids(db_path: str, where: str) -> list[int]:
    from repository.query.search import spectrum_ids

    return spectrum_ids(db_path, where)


def _export(cli, db_path: str, where: str, fmt: str, out: Path) -> list[str]:
    result = cli("export", "--where", where, "--format", fmt, "-o", out, "--db", db_path)
    assert result.exit_code == 0, result.output
    return result.stdout.split()


def _fresh(tmp_path: Path, name: str) -> str:
    from repository import db

    path = str(tmp_path / name)
    db.upgrade(path)
    return path


def test_exported_defect_spectrum_imported_again_keeps_its_defect(example_set, sqlite_db, cli, tmp_path):
    assert cli("import", example_set, "--db", sqlite_db).exit_code == 0
    defect_files = _export(cli, sqlite_db, "defect.name = v_N", "json", tmp_path / "defect")
    pristine_files = _export(cli, sqlite_db, "defect.kind = none", "json", tmp_path / "pristine")
    assert len(defect_files) == 1 and len(pristine_files) == 2
    again = _fresh(tmp_path, "again.db")
    result = cli("import", *defect_files, *pristine_files, "--db", again)
    assert result.exit_code == 0, result.output

    from repository import catalog, db

    defect_ids = _ids(again, "defect.name = v_N and defect.kind = vacancy and defect.charge = 0")
    assert len(defect_ids) == 1
    assert sorted(_ids(again, "defect.kind = none")) == sorted(set(_ids(again, "")) - set(defect_ids))
    assert len(_ids(again, "defect.kind = none")) == 2
    with db.connected(again) as engine:
        row = catalog.get_spectrum(engine, defect_ids[0])
    assert (row["defect_kind"], row["defect_name"], row["defect_charge"], row["polymorph"]) == \
        ("vacancy", "v_N", 0, "h-BN")
    # exported once more, it says the same as the first export
    twice = json.loads(Path(_export(cli, again, "defect.name = v_N", "json", tmp_path / "twice")[0]).read_text())
    once = json.loads(Path(defect_files[0]).read_text())
    for name in ("defect_kind", "defect_name", "defect_charge"):
        assert twice["@xasrepo"]["metadata"]["context"][name] == once["@xasrepo"]["metadata"]["context"][name]


def test_bundled_antisite_exported_and_imported_is_not_pristine(bundled_bn_db, cli, tmp_path):
    # the newcomer's case: B19N17 with B_N, exported with the other B K spectra and imported again
    where = "element = B and edge = K and defect.name = B_N"
    expected = len(_ids(bundled_bn_db, where))
    assert expected > 0
    files = _export(cli, bundled_bn_db, where, "json", tmp_path / "out")
    again = _fresh(tmp_path, "rt.db")
    assert cli("import", *files, "--db", again).exit_code == 0
    assert _ids(again, "defect.kind = none") == []
    assert len(_ids(again, "defect.kind = antisite and defect.name = B_N and defect.charge = 0")) == expected


def test_spectrum_without_structure_is_not_pristine(example_set, sqlite_db, cli, tmp_path):
    # XDI and CSV carry no structure: the defect stays in the metadata, and nothing says pristine
    assert cli("import", example_set, "--db", sqlite_db).exit_code == 0
    for fmt in ("xdi", "csv"):
        files = _export(cli, sqlite_db, "element = B", fmt, tmp_path / fmt)
        again = _fresh(tmp_path, f"{fmt}.db")
        result = cli("import", *files, "--db", again, *(["--element", "B", "--edge", "K"] if fmt == "csv" else []))
        assert result.exit_code == 0, result.output
        everything = _ids(again, "")
        assert len(everything) == len(files) == 3
        assert _ids(again, "defect.kind = none") == []
        assert _ids(again, "not defect.kind = none") == everything
        assert _ids(again, "defect.kind is unknown") == everything


def test_impossible_defect_in_an_exported_file_is_refused_and_nothing_written(example_set, sqlite_db, cli, tmp_path):
    assert cli("import", example_set, "--db", sqlite_db).exit_code == 0
    path = Path(_export(cli, sqlite_db, "defect.name = v_N", "json", tmp_path / "out")[0])
    data = json.loads(path.read_text())
    data["@xasrepo"]["metadata"]["context"]["defect_kind"] = "hole"
    path.write_text(json.dumps(data))
    again = _fresh(tmp_path, "again.db")
    before = file_digest(Path(again))
    result = cli("import", path, "--db", again)
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in result.output
    assert path.name in message and "metadata.context.defect_kind: unknown defect kind 'hole'" in message, message
    assert file_digest(Path(again)) == before


def test_upgrade_links_defects_of_spectra_imported_before_revision_0008(example_set, sqlite_db, cli, tmp_path):
    import sqlalchemy as sa

    from repository import db

    assert cli("import", example_set, "--db", sqlite_db).exit_code == 0
    files = _export(cli, sqlite_db, "element = B", "json", tmp_path / "out")
    again = _fresh(tmp_path, "again.db")
    assert cli("import", *files, "--db", again).exit_code == 0
    # the database as an import before revision 0008 left it: no spectrum_defect, no defect rows
    db.downgrade(again, "0007_portable_snapshot_paths")
    engine = sa.create_engine(f"sqlite:///{again}")
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM defect"))
    engine.dispose()
    db.upgrade(again)
    assert len(_ids(again, "defect.name = v_N and defect.kind = vacancy and defect.charge = 0")) == 1
    assert len(_ids(again, "defect.kind = none")) == 2
