"""What a second newcomer's trial (2026-12-01) found: an embedding that mixed calculation sets
without a word, a query table titled by its page, colour-by that ignored the query spellings, and
help that disagreed with docs/analysis.md. (The n_neighbors record: tests/test_cli_consistency.py.)

Expected numbers are read from the database or the documents, never written here."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from .conftest import ROOT

V2_SET = ROOT / "data" / "bn-v2"


def _copy(bundled_bn_db: str, folder: Path) -> str:
    """A copy of the bundled BN database (and its snapshot folder beside it) in ``folder``."""
    shutil.copytree(Path(bundled_bn_db).parent, folder)
    return str(folder / "bn.db")


@pytest.fixture(scope="module")
def bn_only(bundled_bn_db, tmp_path_factory) -> str:
    """The bundled BN set (one calculation set) with its PCA B K snapshot."""
    return _copy(bundled_bn_db, tmp_path_factory.mktemp("one_set") / "bn")


@pytest.fixture(scope="module")
def two_sets(bundled_bn_db, tmp_path_factory) -> str:
    """The bundled BN set (v1, Gamma point) and data/bn-v2 (converged k meshes) in one database."""
    from repository import db
    from repository.calcset import read_calcset
    from repository.importer import import_calcset

    if not (V2_SET / "calcset.toml").exists():
        pytest.skip("data/bn-v2 is absent")
    path = _copy(bundled_bn_db, tmp_path_factory.mktemp("two_sets") / "bn")
    with db.connected(path) as engine:
        import_calcset(engine, read_calcset(V2_SET))
    return path


def _per_set(db_path: str, where: str) -> dict[str, int]:
    """Spectra matching ``where`` per calculation set, counted with the query language, largest first."""
    from repository import db
    from repository.query import spectrum_ids
    from sqlalchemy import text

    with db.connected(db_path, read_only=True) as engine:
        with engine.connect() as conn:
            names = [r[0] for r in conn.execute(text("SELECT name FROM calculation_set"))]
        counts = {name: len(spectrum_ids(engine, f'({where}) and calculation_set = "{name}"')) for name in names}
    return dict(sorted(((k, n) for k, n in counts.items() if n), key=lambda item: (-item[1], item[0])))


def _notes(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("note:")]


# -- 1. an embedding of several calculation sets says so -------------------------------------------

def test_embed_names_the_calculation_sets_it_mixes_and_records_them(two_sets, cli, tmp_path):
    per_set = _per_set(two_sets, "element = B and edge = K and polarization = iso")
    assert len(per_set) == 2
    listing = ", ".join(f"{name} ({n})" for name, n in per_set.items())
    first = next(iter(per_set))
    expected = (f"note: the selection spans 2 calculation sets: {listing}; filter by calculation_set "
                f'(e.g. calculation_set = "{first}") to embed one')
    args = ("embed", "--method", "pca", "--element", "B", "--edge", "K", "--db", two_sets,
            "--snapshot-dir", tmp_path, "--format", "json")
    made = cli(*args)
    assert made.exit_code == 0, made.stderr
    assert _notes(made) == [expected]
    summary = json.loads(made.stdout)
    assert summary["fit_info"]["calculation_sets"] == per_set
    from repository.snapshots.files import footer_metadata

    assert footer_metadata(summary["path"])["fit_info"]["calculation_sets"] == per_set
    again = cli(*args)  # reused: the same selection, said again
    assert json.loads(again.stdout)["status"] == "reused" and _notes(again) == [expected]

    # filtered by the query field the note names: one set, no note
    name = next(reversed(per_set))
    one = cli("embed", "--method", "pca", "--where", f'element = B and calculation_set = "{name}"', "--db", two_sets,
              "--snapshot-dir", tmp_path, "--format", "json")
    assert one.exit_code == 0, one.stderr
    assert _notes(one) == [] and json.loads(one.stdout)["fit_info"]["calculation_sets"] == {name: per_set[name]}


def test_embed_of_one_calculation_set_says_nothing_about_sets(bn_only, cli, tmp_path):
    result = cli("embed", "--method", "pca", "--element", "B", "--edge", "K", "--db", bn_only, "--force",
                 "--snapshot-dir", tmp_path, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert _notes(result) == []
    assert json.loads(result.stdout)["fit_info"]["calculation_sets"] == _per_set(
        bn_only, "element = B and edge = K and polarization = iso")


def test_a_spectrum_imported_by_two_sets_belongs_to_both(example_set, any_db, tmp_path):
    """Set B re-imports the example set with one spectrum changed: its other spectra are the example
    set's (first calculation there) and B's too. A selection of B is one set; all spectra are two."""
    import numpy as np

    from repository import db
    from repository.analysis.create import selection_note
    from repository.analysis.load import select_spectrum_ids, source_counts
    from repository.calcset import read_calcset
    from repository.importer import import_calcset

    other = tmp_path / "other"
    shutil.copytree(example_set, other)
    manifest = other / "calcset.toml"
    original = read_calcset(example_set).name
    manifest.write_text(manifest.read_text().replace(f'name = "{original}"', 'name = "other"', 1))
    changed = other / "spectra" / "hBN_B0_iso.dat"
    data = np.loadtxt(changed)
    np.savetxt(changed, np.column_stack([data[:, 0], data[:, 1] * 1.5]))
    with db.connected(any_db) as engine:
        import_calcset(engine, read_calcset(example_set))
        import_calcset(engine, read_calcset(other))
        iso = select_spectrum_ids(engine, where="element = B and polarization = iso")
        in_other = select_spectrum_ids(engine, where='element = B and polarization = iso and calculation_set = "other"')
        everything = source_counts(engine, iso, "B", "K")
        assert sum(everything.values()) == len(iso) and set(everything) == {original, "other"}
        assert selection_note(everything) is not None
        assert source_counts(engine, in_other, "B", "K") == {"other": len(in_other)}


def test_the_note_names_measured_spectra_and_the_origin_filter():
    from repository.analysis.create import selection_note
    from repository.analysis.load import MEASURED_SOURCE, NO_SET_SOURCE

    assert selection_note({"bn": 5}) is None
    note = selection_note({"bn": 5, MEASURED_SOURCE: 2})
    assert note.startswith("note: the selection mixes computed and measured spectra: bn (5), (measured) (2);")
    assert "filter by calculation_set or origin" in note and "\n" not in note
    assert "mixes spectra of 2 sources" in selection_note({"bn": 5, NO_SET_SOURCE: 1})


# -- 3. a query table says how many match ------------------------------------------------------------

def test_query_title_says_how_many_of_how_many(bn_only, cli):
    from repository import db
    from repository.query import spectrum_ids

    where = "element = B and polarization = iso"
    with db.connected(bn_only, read_only=True) as engine:
        total = len(spectrum_ids(engine, where))
    assert total > 3
    page = cli("query", where, "--limit", "3", "--db", bn_only)
    assert page.exit_code == 0, page.stderr
    assert f"showing 3 of {total} spectra" in page.stdout
    whole = cli("query", where, "--limit", str(total), "--db", bn_only)
    assert f"{total} spectra" in whole.stdout and "showing" not in whole.stdout
    # JSON and CSV keep their shape: a list of rows, a header and rows
    assert len(json.loads(cli("query", where, "--limit", "3", "--db", bn_only, "--format", "json").stdout)) == 3
    assert len(cli("query", where, "--limit", "3", "--db", bn_only, "--format", "csv").stdout.splitlines()) == 4


# -- 4. snapshot columns take the query language's spellings -----------------------------------------

def test_color_by_takes_the_query_spellings(bn_only, cli, tmp_path):
    from repository import db
    from repository.query.fields import FIELD_INDEX
    from repository.snapshots.registry import list_snapshots

    with db.connected(bn_only, read_only=True) as engine:
        uid = list_snapshots(engine)[0]["uid"]
    alias = "absorber.defect_distance"
    result = cli("plot", "embedding", uid, "--color-by", alias, "--db", bn_only, "-o", tmp_path / "d.png")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "d.png").stat().st_size > 0
    assert FIELD_INDEX[alias].column == "absorber_defect_distance_a"


@pytest.mark.parametrize("command", ["plot", "where", "sort"])
def test_a_query_field_the_snapshot_lacks_is_named_as_such(bn_only, cli, tmp_path, command):
    from repository import db
    from repository.snapshots.registry import list_snapshots

    with db.connected(bn_only, read_only=True) as engine:
        uid = list_snapshots(engine)[0]["uid"]
    if command == "plot":
        result = cli("plot", "embedding", uid, "--color-by", "host.polymorph", "--db", bn_only,
                     "-o", tmp_path / "h.png")
    elif command == "where":
        result = cli("snapshots", "query", uid, "--where", 'host.polymorph = "h-BN"', "--db", bn_only)
    else:
        result = cli("snapshots", "query", uid, "--sort", "host.polymorph:desc", "--db", bn_only)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: field host.polymorph is a query field but not a snapshot column; "
                                    "snapshot columns: "), result.stderr
    assert "polymorph" in result.stderr.split("snapshot columns: ", 1)[1].split(", ")


# -- 5. embed --help agrees with docs/analysis.md on cuML ---------------------------------------------

def test_embed_help_says_where_cuml_ran_as_the_analysis_page_does(cli):
    page = " ".join((ROOT / "docs" / "analysis.md").read_text().split())
    gpu = re.search(r"It ran once, on an (NVIDIA \w+)", page)
    assert gpu and "GPU test" in page and "skips there" in page
    help_text = " ".join(cli("embed", "--help").stdout.replace("│", " ").split())
    assert "untested" not in help_text
    assert f"ran on an {gpu[1]}" in help_text and "skips without a GPU" in help_text
