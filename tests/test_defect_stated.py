"""``defect.kind = none`` means that something STATED the structure has no defect (revision 0009):
a calculation-set entry without ``[entries.defect]``, a file whose xasrepo context says
``defect_kind: none`` (what ``xasrepo export`` writes for such a spectrum), or the user with
``xasrepo import --defect-free``. A FEFF run with a POSCAR beside it says nothing about defects (the
POSCAR may be a vacancy supercell): its spectrum's defect status is unknown. SQLite and PostgreSQL.

The FEFF runs are the synthetic B K cluster of tests/test_feff_limits.py with the example set's
h-BN POSCAR beside them; the calculation set is the bundled example (two pristine spectra, one v_N).
"""

from __future__ import annotations

import json
import shutil
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pytest

from repository import db

from .conftest import EXAMPLE_SET, file_digest, postgres_database
from .test_feff_limits import XMU, _feff_run

POSCAR = EXAMPLE_SET / "structures" / "POSCAR_hBN_221"
TABLES = ("structure", "defect", "spectrum", "spectrum_defect", "spectrum_defect_free")


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request) -> str:
    return request.param


@contextmanager
def _database(backend: str, tmp_path: Path, name: str, revision: str = "head"):
    """A new database on ``backend`` migrated to ``revision`` (PostgreSQL: skipped without a server)."""
    if backend == "sqlite":
        path = str(tmp_path / f"{name}.db")
        db.upgrade(path, revision)
        yield path
        return
    with postgres_database() as url:
        db.upgrade(url, revision)
        yield url


@pytest.fixture
def any_database(backend, tmp_path):
    with _database(backend, tmp_path, "test") as url:
        yield url


def _feff_with_poscar(folder: Path, mu_offset: float = 0.0) -> Path:
    """A FEFF run (feff.inp + xmu.dat) with h-BN's POSCAR beside it; ``mu_offset`` shifts the mu
    column so that two runs hold different data."""
    run = _feff_run(folder, 9)
    if mu_offset:
        rows = [line.split() for line in XMU.splitlines()[2:]]
        (run / "xmu.dat").write_text("\n".join(XMU.splitlines()[:2]) + "\n" + "".join(
            f"{r[0]} {r[1]} {r[2]} {float(r[3]) + mu_offset:.4f} {r[4]} {r[5]}\n" for r in rows))
    shutil.copy(POSCAR, run / "POSCAR")
    return run


def _ids(url: str, where: str) -> list[int]:
    from repository.query.search import spectrum_ids

    return spectrum_ids(url, where)


def _rows(url: str, sql: str) -> list[tuple]:
    import sqlalchemy as sa

    engine = db.make_engine(db.resolve_url(url))
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()


def _state(url: str) -> list[tuple]:
    """Every row of the tables an import writes (the file's bytes are compared too for SQLite)."""
    return [(t, *r) for t in TABLES for r in _rows(url, f"SELECT * FROM {t} ORDER BY 1, 2")] + \
        [("file", file_digest(Path(url)) if not db.resolve_url(url).startswith("postgresql") else "")]


def _one_line_refusal(result, *names: str) -> str:
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in result.output, result.output
    for name in names:
        assert name in message, message
    return message


# ---------------------------------------------------------------------------------------------
# import


def test_feff_run_with_a_poscar_beside_it_has_an_unknown_defect_status(any_database, cli, tmp_path):
    run = _feff_with_poscar(tmp_path / "run")
    result = cli("import", run, "--db", any_database)
    assert result.exit_code == 0, result.output
    (spectrum,) = _ids(any_database, "")
    assert _rows(any_database, f"SELECT structure_id IS NOT NULL FROM spectrum WHERE id = {spectrum}") == [(True,)]
    assert _ids(any_database, "defect.kind is unknown") == [spectrum]
    assert _ids(any_database, "defect.kind = none") == []
    assert _ids(any_database, "not defect.kind = none") == [spectrum]
    assert _rows(any_database, "SELECT * FROM spectrum_defect_free") == []


def test_defect_free_option_states_it_per_spectrum(any_database, cli, tmp_path):
    stated = _feff_with_poscar(tmp_path / "stated")
    other = _feff_with_poscar(tmp_path / "other", mu_offset=0.05)
    assert cli("import", stated, "--defect-free", "--db", any_database).exit_code == 0
    assert cli("import", other, "--db", any_database).exit_code == 0
    (first,) = _ids(any_database, "defect.kind = none")
    (second,) = _ids(any_database, "defect.kind is unknown")
    assert first != second
    assert _rows(any_database, "SELECT spectrum_id, stated_by FROM spectrum_defect_free") == [(first, "--defect-free")]
    # the same statement again changes nothing; leaving the option out states nothing and changes nothing
    for args in (("--defect-free",), ()):
        before = _state(any_database)
        again = cli("import", stated, *args, "--db", any_database)
        assert again.exit_code == 0 and f"is spectrum {first}" in again.stdout, again.output
        assert _state(any_database) == before
    assert _ids(any_database, "defect.kind = none") == [first]


def test_defect_free_on_a_spectrum_stored_without_it_is_refused_and_nothing_written(any_database, cli, tmp_path):
    stored = _feff_with_poscar(tmp_path / "stored")
    new = _feff_with_poscar(tmp_path / "new", mu_offset=0.05)
    assert cli("import", stored, "--db", any_database).exit_code == 0
    before = _state(any_database)
    # one transaction: the new run, which alone would be imported, is not written either
    result = cli("import", new, stored, "--defect-free", "--db", any_database)
    message = _one_line_refusal(result, "stored", "xmu.dat", "--defect-free", "defect.kind is unknown")
    assert "spectrum 1" in message
    assert _state(any_database) == before
    assert _ids(any_database, "defect.kind = none") == []


def test_defect_free_without_a_structure_or_against_the_file_is_refused(any_database, cli, tmp_path):
    bare = _feff_run(tmp_path / "bare", 9)  # no structure beside it
    before = _state(any_database)
    _one_line_refusal(cli("import", bare, "--defect-free", "--db", any_database), "xmu.dat", "--defect-free",
                      "no structure")
    assert _state(any_database) == before
    # a file whose context names a defect contradicts the option
    assert cli("import", EXAMPLE_SET, "--db", any_database).exit_code == 0
    out = tmp_path / "out"
    assert cli("export", "--where", "defect.name = v_N", "--format", "json", "-o", out, "--db", any_database).exit_code == 0
    (path,) = out.iterdir()
    with _database(_backend_of(any_database), tmp_path, "other") as other:
        before = _state(other)
        _one_line_refusal(cli("import", path, "--defect-free", "--db", other), path.name,
                          "--defect-free contradicts", "'vacancy'")
        assert _state(other) == before
    # and a calculation set says for itself which entries have a defect
    usage = cli("import", EXAMPLE_SET, "--defect-free", "--db", any_database)
    assert usage.exit_code == 2 and "not to a calculation set" in usage.stderr


def test_keep_going_refuses_only_the_files_the_option_cannot_apply_to(any_database, cli, tmp_path):
    assert cli("import", EXAMPLE_SET, "--db", any_database).exit_code == 0
    out = tmp_path / "out"
    assert cli("export", "--where", "defect.name = v_N", "--format", "json", "-o", out, "--db", any_database).exit_code == 0
    (defect_json,) = out.iterdir()
    bare = _feff_run(tmp_path / "bare", 9)
    good = _feff_with_poscar(tmp_path / "good")
    with _database(_backend_of(any_database), tmp_path, "other") as other:
        result = cli("import", bare, defect_json, good, "--defect-free", "--keep-going", "--db", other)
        assert result.exit_code == 2, result.output
        refused = [line for line in result.stderr.splitlines() if line.startswith("refused: ")]
        assert len(refused) == 2, result.stderr
        assert "bare" in refused[0] and "no structure" in refused[0]
        assert defect_json.name in refused[1] and "contradicts" in refused[1] and "'v_N'" in refused[1]
        assert len(_ids(other, "")) == 1 and _ids(other, "defect.kind = none") == _ids(other, "")


def test_library_records_stated_defect_free_are_checked_by_the_importer(any_database, tmp_path):
    from dataclasses import replace

    from repository.errors import InputError
    from repository.formats import read_path
    from repository.importer import import_records

    (bare,) = read_path(_feff_run(tmp_path / "bare", 9))
    (with_structure,) = read_path(_feff_with_poscar(tmp_path / "run"))
    says_vacancy = replace(with_structure, metadata={**with_structure.metadata, "context": {
        "defect_kind": "vacancy", "defect_name": "v_N"}})
    before = _state(any_database)
    with db.connected(any_database) as engine:
        with pytest.raises(InputError, match="xmu.dat: --defect-free: the file has no structure"):
            import_records(engine, [replace(bare, defect_free=True)])
        with pytest.raises(InputError, match="xmu.dat: --defect-free contradicts .*'vacancy'"):
            import_records(engine, [replace(says_vacancy, defect_free=True)])
    assert _state(any_database) == before


def _backend_of(url: str) -> str:
    return "postgres" if db.resolve_url(url).startswith("postgresql") else "sqlite"


# ---------------------------------------------------------------------------------------------
# calculation sets and export -> import


def test_calcset_pristine_is_none_and_exports_keep_what_is_known(any_database, cli, tmp_path):
    assert cli("import", EXAMPLE_SET, "--db", any_database).exit_code == 0
    pristine = _ids(any_database, "defect.kind = none")
    vacancy = _ids(any_database, "defect.kind = vacancy and defect.name = v_N")
    assert len(pristine) == 2 and len(vacancy) == 1 and _ids(any_database, "defect.kind is unknown") == []
    assert cli("import", _feff_with_poscar(tmp_path / "run"), "--db", any_database).exit_code == 0
    (unknown,) = _ids(any_database, "defect.kind is unknown")
    out = tmp_path / "out"
    result = cli("export", "--element", "B", "--format", "json", "-o", out, "--db", any_database)
    assert result.exit_code == 0, result.output
    files = result.stdout.split()
    contexts = {int(Path(f).name.split("_")[0]): json.loads(Path(f).read_text())["@xasrepo"]["metadata"]["context"]
                for f in files}
    assert sorted(contexts) == sorted([*pristine, *vacancy, unknown])
    assert all(contexts[i]["defect_kind"] == "none" and "defect_name" not in contexts[i] for i in pristine)
    assert "defect_kind" not in contexts[unknown]  # nothing known, nothing said
    with _database(_backend_of(any_database), tmp_path, "again") as again:
        assert cli("import", *files, "--db", again).exit_code == 0
        assert len(_ids(again, "defect.kind = none")) == 2
        assert len(_ids(again, "defect.kind = vacancy and defect.name = v_N and defect.charge = 0")) == 1
        assert len(_ids(again, "defect.kind is unknown")) == 1
        assert sorted(r[0] for r in _rows(again, "SELECT stated_by FROM spectrum_defect_free")) == ["file", "file"]


# ---------------------------------------------------------------------------------------------
# revision 0009 on a database that revision 0008 made


def _insert_0008_rows(url: str) -> dict[str, int]:
    """Rows as xasrepo at revision 0008 wrote them: a calculation-set spectrum, file spectra with a
    structure (context silent, context 'none', context naming v_N and linked by spectrum_defect,
    metadata that is not JSON) and one without a structure whose context says 'none'.
    Returns {name: spectrum id}."""
    import numpy as np
    import sqlalchemy as sa

    from repository.arrays import to_blob

    engine = db.make_engine(db.resolve_url(url))
    meta = sa.MetaData()
    meta.reflect(engine, only=["structure", "calculation_set", "calculation", "spectrum", "defect", "spectrum_defect"])
    t = meta.tables
    now = datetime.now(timezone.utc)
    energy = np.linspace(185.0, 215.0, 31)
    ids = {}
    with engine.begin() as conn:
        structure = conn.execute(t["structure"].insert().returning(t["structure"].c.id).values(
            content_hash="s" * 64, structure_json="{}", reduced_formula="BN", elements="B,N", nelements=2, nsites=16,
            spacegroup_number=187, spacegroup_symbol="P-6m2", crystal_system="hexagonal", dimensionality=2,
            density_g_cm3=2.1, volume_per_atom_a3=5.9)).scalar_one()
        calc_set = conn.execute(t["calculation_set"].insert().returning(t["calculation_set"].c.id).values(
            name="old-set", provenance_json="{}", manifest_hash="m" * 64, imported_at=now)).scalar_one()
        calculation = conn.execute(t["calculation"].insert().returning(t["calculation"].c.id).values(
            calculation_set_id=calc_set, entry_key="B0", entry_hash="e" * 64, structure_id=structure, code="gpaw",
            method="half_core_hole", parameters_json="{}")).scalar_one()
        defect = conn.execute(t["defect"].insert().returning(t["defect"].c.id).values(
            structure_id=structure, kind="vacancy", name="v_N", charge=0, position_key="")).scalar_one()
        rows = {
            "calcset": (calculation, structure, {}),
            "feff_silent": (None, structure, {"format": "feff", "feff": {"spectrum_file": "xmu.dat"}}),
            "context_none": (None, structure, {"format": "json", "context": {"defect_kind": "none"}}),
            "context_vacancy": (None, structure, {"context": {"defect_kind": "vacancy", "defect_name": "v_N"}}),
            "not_json": (None, structure, None),
            "no_structure_none": (None, None, {"format": "xdi", "context": {"defect_kind": "none"}}),
        }
        for number, (name, (calc, struct, metadata)) in enumerate(rows.items()):
            ids[name] = conn.execute(t["spectrum"].insert().returning(t["spectrum"].c.id).values(
                content_hash=f"{number:064d}", origin="computed", calculation_id=calc, structure_id=struct,
                absorbing_element="B", edge="K", spectrum_type="XANES", polarization="iso", n_points=len(energy),
                energy_min_ev=float(energy[0]), energy_max_ev=float(energy[-1]), energy_ev=to_blob(energy),
                intensity=to_blob(energy * 0 + number + 1.0), imported_at=now,
                metadata_json="{not json" if metadata is None else json.dumps(metadata))).scalar_one()
        conn.execute(t["spectrum_defect"].insert().values(spectrum_id=ids["context_vacancy"], defect_id=defect))
    engine.dispose()
    return ids


def _kinds(url: str) -> dict[int, str | None]:
    return dict(_rows(url, "SELECT spectrum_id, defect_kind FROM spectrum_overview"))


def test_upgrade_from_0008_keeps_none_only_where_it_was_stated(backend, cli, tmp_path):
    with _database(backend, tmp_path, "old", revision="0008_spectrum_defect") as url:
        ids = _insert_0008_rows(url)
        old_kinds = {name: _kinds(url)[i] for name, i in ids.items()}
        # what revision 0008 said: every structure without a recorded defect was 'none'
        assert old_kinds == {"calcset": "none", "feff_silent": "none", "context_none": "none",
                             "context_vacancy": "vacancy", "not_json": "none", "no_structure_none": None}
        db.upgrade(url)
        expected = {"none": ["calcset", "context_none"], "vacancy": ["context_vacancy"],
                    "unknown": ["feff_silent", "not_json", "no_structure_none"]}

        def check():
            assert _ids(url, "defect.kind = none") == sorted(ids[n] for n in expected["none"])
            assert _ids(url, "defect.kind = vacancy and defect.name = v_N") == [ids["context_vacancy"]]
            assert _ids(url, "defect.kind is unknown") == sorted(ids[n] for n in expected["unknown"])
            assert _rows(url, "SELECT spectrum_id, stated_by FROM spectrum_defect_free") == [(ids["context_none"], "file")]

        check()
        # a snapshot of the view sees the same rule (snapshot_points selects o.* of spectrum_overview)
        view_sql = _rows(url, "SELECT COUNT(*) FROM snapshot_points")
        assert view_sql == [(0,)]
        # downgrade restores revision 0008's view and drops the table; upgrading again re-derives the same
        db.downgrade(url, "0008_spectrum_defect")
        assert {name: _kinds(url)[i] for name, i in ids.items()} == old_kinds
        db.upgrade(url)
        check()
        # the CLI answers the same
        listed = cli("query", "defect.kind is unknown", "--format", "ids", "--db", url)
        assert listed.exit_code == 0, listed.output
        assert sorted(map(int, listed.stdout.split())) == sorted(ids[n] for n in expected["unknown"])


def test_compare_labels_an_unknown_defect_status_apart_from_none():
    # compare scores defect labels near the defect, and counts 'none' as a pristine cell (every site
    # votes): a spectrum whose defect status is unknown must not be taken for one
    from repository.compare.data import UNKNOWN_DEFECT, _overview_label
    from repository.compare.grouped import near_defect_mask

    unknown = {"defect_kind": None, "defect_name": None, "polymorph": None}
    pristine = {"defect_kind": "none", "defect_name": None, "polymorph": "h-BN"}
    assert [_overview_label(unknown, n) for n in ("defect_kind", "defect_name", "polymorph")] == \
        [UNKNOWN_DEFECT, UNKNOWN_DEFECT, "none"]
    assert [_overview_label(pristine, n) for n in ("defect_kind", "defect_name", "polymorph")] == ["none", "none", "h-BN"]
    kinds = [_overview_label(r, "defect_kind") for r in (unknown, pristine)]
    assert near_defect_mask(kinds, [float("nan"), float("nan")]).tolist() == [False, True]
