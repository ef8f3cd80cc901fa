"""Embedding snapshots: versioned Parquet files + registry, reuse, status, diff, query, verify,
projection. Spectra are SYNTHETIC (repository.analysis.synthetic) plus the example set."""

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

from repository import db
from repository.analysis.create import create_snapshot
from repository.files import file_sha256
from repository.snapshots.files import SNAPSHOT_DIR_ENV, footer_metadata, input_hash, snapshot_dir
from repository.snapshots.registry import load_model, query_snapshot, verify_snapshots
from repository.snapshots.status import diff_snapshots, procrustes_align, snapshot_status
from repository.analysis.load import load_spectra, preprocess, select_spectrum_ids
from repository.analysis.project import project
from repository.analysis.recipe import Recipe
from repository.analysis.synthetic import synthetic_records
from repository.calcset import read_calcset
from repository.errors import InputError, UsageError
from repository.importer import import_calcset, import_records

from .conftest import EXAMPLE_SET

N_SYNTHETIC = 90
N_CLASSES = 3


def _structures():
    from pymatgen.core import Lattice, Structure

    hexagonal = Structure.from_file(str(EXAMPLE_SET / "structures" / "hBN_prim.cif"))
    cubic = Structure.from_spacegroup("F-43m", Lattice.cubic(3.615), ["B", "N"], [[0, 0, 0], [0.25, 0.25, 0.25]])
    wurtzite = Structure.from_spacegroup("P6_3mc", Lattice.hexagonal(2.55, 4.21), ["B", "N"],
                                         [[1 / 3, 2 / 3, 0.0], [1 / 3, 2 / 3, 0.375]])
    return [hexagonal, cubic, wurtzite]


@pytest.fixture(scope="module")
def structures():
    return _structures()


def _new_library(path, structures, n=N_SYNTHETIC, seed=0):
    db.upgrade(str(path))
    engine = db.connect(str(path))
    import_calcset(engine, read_calcset(EXAMPLE_SET))
    import_records(engine, synthetic_records(n, seed=seed, n_classes=N_CLASSES, structures=structures))
    return engine


@pytest.fixture(scope="module")
def library(tmp_path_factory, structures):
    """A shared database: the example set (3 B K spectra, one v_N) and 90 SYNTHETIC B K spectra."""
    path = tmp_path_factory.mktemp("library") / "lib.db"
    engine = _new_library(path, structures)
    yield engine
    engine.dispose()


@pytest.fixture
def own_library(tmp_path, structures):
    """A private database for tests that add spectra or damage files."""
    engine = _new_library(tmp_path / "own.db", structures, n=30, seed=5)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def pca(library):
    return create_snapshot(library, method="pca", seed=0).record


def _class_of(row):
    return row["crystal_system"], row["spacegroup_symbol"]


def test_snapshot_file_has_a_row_per_spectrum_with_properties_and_footer_metadata(library, pca):
    table = pq.read_table(pca["path"])
    spectra = load_spectra(library, ids=select_spectrum_ids(library, where="polarization = iso"))
    # the iso spectra: the example set's polarised curve of an iso site is not mixed in unasked
    assert table.num_rows == pca["row_count"] == len(spectra) == N_SYNTHETIC + 2
    assert len(load_spectra(library)) == N_SYNTHETIC + 3 and pca["filter_text"] == "polarization = iso"
    assert table.column("spectrum_id").to_pylist() == spectra.ids.tolist()
    rows = {r["spectrum_id"]: r for r in table.to_pylist()}
    vacancy = [r for r in rows.values() if r["defect_name"] == "v_N"]
    assert len(vacancy) == 1 and vacancy[0]["defect_kind"] == "vacancy" and vacancy[0]["absorber_cn"] == 2
    assert {r["crystal_system"] for r in rows.values()} == {"hexagonal", "cubic"}
    footer = footer_metadata(pca["path"])
    assert footer["snapshot_id"] == pca["uid"] and footer["method"] == "pca" and footer["seed"] == 0
    assert footer["input_hash"] == input_hash(spectra.ids, spectra.content_hashes) == pca["input_hash"]
    assert Recipe.from_dict(footer["recipe"]).is_resolved and footer["recipe"] == pca["recipe"]
    assert "numpy" in footer["library_versions"] and "created_at" in footer and "parent" in footer
    assert file_sha256(pca["path"]) == pca["sha256"] and file_sha256(pca["model_path"]) == pca["model_sha256"]


def test_two_energy_grids_get_the_element_and_edge_window_with_padded_spectra_named(library, pca):
    # The example set covers 185-214.75 eV, the synthetic spectra 185-215 eV: the B K window 184-201 eV
    # starts 1 eV before all of them, so every spectrum is padded there and named in the provenance.
    assert (pca["recipe"]["energy_min_ev"], pca["recipe"]["energy_max_ev"]) == (184.0, 201.0)
    assert len(load_spectra(library).groups) == 2
    window = footer_metadata(pca["path"])["window"]
    assert window["rule"] == "default B K window 184-201 eV" and window["excluded"] == []
    assert sorted(window["padded"]) == pq.read_table(pca["path"]).column("spectrum_id").to_pylist()


def test_coordinates_are_in_the_database_and_join_structure_properties_in_sql(library, pca):
    from sqlalchemy import text

    table = pq.read_table(pca["path"])
    with library.connect() as conn:
        points = {r[0]: (r[1], r[2], r[3]) for r in conn.execute(text(
            "SELECT spectrum_id, x, y, z FROM snapshot_point WHERE snapshot_id = :s"), {"s": pca["id"]})}
        systems = dict(conn.execute(text(
            "SELECT o.crystal_system, COUNT(*) FROM snapshot_point p JOIN spectrum_overview o "
            "ON o.spectrum_id = p.spectrum_id WHERE p.snapshot_id = :s GROUP BY o.crystal_system"), {"s": pca["id"]}).all())
    for row in table.to_pylist():
        assert points[row["spectrum_id"]] == (row["x"], row["y"], None)
    assert sum(systems.values()) == table.num_rows


def test_same_inputs_reuse_the_snapshot_and_force_makes_a_new_identical_version(library, pca):
    again = create_snapshot(library, method="pca", seed=0)
    assert again.reused and again.record["uid"] == pca["uid"]
    forced = create_snapshot(library, method="pca", seed=0, force=True)
    assert not forced.reused and forced.record["uid"] != pca["uid"]
    assert forced.record["parent_uid"] == pca["uid"]
    first, second = pq.read_table(pca["path"]), pq.read_table(forced.record["path"])
    assert first.select(["spectrum_id", "x", "y"]).equals(second.select(["spectrum_id", "x", "y"]))
    diff = diff_snapshots(library, pca["uid"], forced.record["uid"])["summary"]
    assert diff["added"] == diff["removed"] == 0 and diff["max_displacement"] == pytest.approx(0.0, abs=1e-9)


def test_a_different_recipe_is_a_different_snapshot(library, pca):
    other = create_snapshot(library, method="pca", recipe=Recipe(normalization="area"))
    assert not other.reused and other.record["recipe"]["normalization"] == "area"


def test_spectra_of_different_edges_are_never_mixed(own_library):
    import_records(own_library, synthetic_records(5, seed=9, element="N", edge="K"))
    with pytest.raises(UsageError, match=r"mixes absorbing elements or edges \(33 B K, 5 N K\)"):
        create_snapshot(own_library, method="pca")
    # (the synthetic N K spectra lie at B K energies: the N K default window would exclude them all)
    nitrogen = create_snapshot(own_library, method="pca", element="N", edge="K",
                               recipe=Recipe(energy_min_ev=185.0, energy_max_ev=214.0))
    assert nitrogen.record["row_count"] == 5 and nitrogen.record["element"] == "N"
    boron = create_snapshot(own_library, method="pca", element="B", edge="K").record
    with pytest.raises(UsageError, match=r"\(B K\) and .* \(N K\) embed different edges"):
        diff_snapshots(own_library, boron["uid"], nitrogen.record["uid"])


def test_status_marks_snapshots_stale_when_matching_spectra_are_added(own_library):
    first = create_snapshot(own_library, method="pca").record
    assert [r["status"] for r in snapshot_status(own_library)] == ["current"]
    import_records(own_library, synthetic_records(4, seed=77))
    status = snapshot_status(own_library)[0]
    assert (status["status"], status["added"], status["removed"], status["changed"]) == ("stale", 4, 0, 0)
    second = create_snapshot(own_library, method="pca").record
    assert second["parent_uid"] == first["uid"]
    assert [r["status"] for r in snapshot_status(own_library)] == ["stale (superseded)", "current"]
    diff = diff_snapshots(own_library, first["uid"], second["uid"])
    assert (diff["summary"]["added"], diff["summary"]["removed"], diff["summary"]["shared"]) == (4, 0, 32)  # iso
    assert sorted(r["spectrum_id"] for r in diff["rows"] if r["change"] == "added") == list(range(34, 38))


def test_verify_names_altered_and_missing_files_and_exits_1(own_library, cli):
    url = own_library.url.database
    first = create_snapshot(own_library, method="pca").record
    second = create_snapshot(own_library, method="mds").record
    ok = cli("snapshots", "verify", "--db", url)
    assert ok.exit_code == 0 and ok.stdout.count("ok") == 4
    with open(first["path"], "ab") as handle:
        handle.write(b"x")
    shutil.os.remove(second["model_path"])
    bad = cli("snapshots", "verify", "--db", url, "--format", "json")
    assert bad.exit_code == 1
    statuses = {(r["uid"], r["file"]): r["status"] for r in json.loads(bad.stdout)}
    assert statuses[(first["uid"], "snapshot")] == "altered" and statuses[(second["uid"], "model")] == "missing"
    assert first["uid"] in bad.stderr and second["uid"] in bad.stderr and bad.stderr.startswith("error:")
    # a damaged snapshot is never reused: the same request fits a new one
    assert not create_snapshot(own_library, method="pca").reused


def test_an_altered_model_is_never_loaded(own_library):
    record = create_snapshot(own_library, method="pca").record
    data = dict(np.load(record["model_path"]))
    data["pca_mean"] = data["pca_mean"] + 1.0
    np.savez(record["model_path"], **data)
    with pytest.raises(InputError, match="model file of snapshot .* was altered"):
        project(own_library, record["uid"], spectrum_id=1)


def test_projecting_a_stored_spectrum_puts_it_on_its_own_point(library, pca):
    for method, params in (("pca", None), ("mds", {"solver": "landmark", "n_landmarks": 40})):
        record = pca if method == "pca" else create_snapshot(library, method=method, params=params).record
        table = pq.read_table(record["path"]).to_pylist()
        target = table[10]
        result = project(library, record["uid"], spectrum_id=target["spectrum_id"], k=3)
        assert result["coordinates"] == pytest.approx([target["x"], target["y"]], abs=1e-6)
        assert result["neighbors"][0]["spectrum_id"] == target["spectrum_id"]


def test_smacof_snapshots_place_new_spectra_by_their_nearest_neighbours(library):
    from repository.analysis.project import QuerySpectrum, query_from_database

    record = create_snapshot(library, method="mds", params={"solver": "smacof"}).record
    stored = query_from_database(library, 20)  # a member, changed by 1 % so it is a new spectrum
    changed = QuerySpectrum(stored.energy_ev, stored.intensity * (1 + 0.01 * np.sin(stored.energy_ev)), "B", "K")
    result = project(library, record["uid"], query=changed, k=5)
    assert result["placement"] == "knn-mean" and result["exact_match"] is None
    rows = {r["spectrum_id"]: r for r in pq.read_table(record["path"]).to_pylist()}
    assert {_class_of(n) for n in result["neighbors"]} == {_class_of(rows[20])}


def test_snapshot_query_filters_rows_by_structure_properties(library, pca, cli):
    url = library.url.database
    result = cli("snapshots", "query", pca["uid"], "--where", "crystal_system = cubic", "--db", url, "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert rows and {r["crystal_system"] for r in rows} == {"cubic"}
    assert len(rows) == sum(1 for r in pq.read_table(pca["path"]).to_pylist() if r["crystal_system"] == "cubic")
    ids = cli("snapshots", "list", "--db", url, "--format", "ids")
    assert pca["uid"] in ids.stdout.split()


def test_where_selects_the_spectra_to_embed(library):
    result = create_snapshot(library, method="pca", where="defect.name = v_N or crystal_system = cubic")
    table = pq.read_table(result.record["path"]).to_pylist()
    assert result.record["filter_text"] == "defect.name = v_N or crystal_system = cubic"
    assert len(table) == N_SYNTHETIC // N_CLASSES + 1
    assert all(r["crystal_system"] == "cubic" or r["defect_name"] == "v_N" for r in table)


def test_a_database_server_needs_a_snapshot_directory(monkeypatch, tmp_path):
    monkeypatch.delenv(SNAPSHOT_DIR_ENV, raising=False)
    with pytest.raises(UsageError, match="need a directory"):
        snapshot_dir("postgresql+psycopg://localhost/x")
    assert snapshot_dir("postgresql+psycopg://localhost/x", tmp_path / "snaps") == (tmp_path / "snaps").resolve()
    assert snapshot_dir("sqlite:///" + str(tmp_path / "a.db")) == tmp_path / "a.snapshots"


def test_procrustes_alignment_undoes_rotation_scale_and_translation():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(50, 2))
    angle = 0.7
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = 3.0 * points @ rotation + [5.0, -2.0]
    np.testing.assert_allclose(procrustes_align(points, moved), points, atol=1e-9)


def test_plot_embedding_writes_a_png(pca, tmp_path):
    from repository.plots.embedding import plot_embedding

    out = plot_embedding(pca["path"], "crystal_system", tmp_path / "pca.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_embed_show_status_and_project(library, cli):
    url = library.url.database
    # (a spectrum without an edge step is refused by edge-step normalisation: test_analysis_window_and_exact)
    synthetic = ("--where", "crystal_system = cubic")  # SYNTHETIC spectra only: they have an edge step
    made = cli("embed", "--method", "pca", *synthetic, "--db", url, "--norm", "edge-step", "--format", "json")
    assert made.exit_code == 0, made.stderr
    record = json.loads(made.stdout)
    assert record["status"] == "created" and record["recipe"]["normalization"] == "edge_step"
    again = cli("embed", "--method", "pca", *synthetic, "--db", url, "--norm", "edge-step", "--format", "json")
    assert json.loads(again.stdout)["status"] == "reused"
    shown = cli("snapshots", "show", record["uid"], "--db", url, "--format", "json")
    assert json.loads(shown.stdout)["footer"]["snapshot_id"] == record["uid"]
    status = cli("snapshots", "status", "--db", url, "--format", "csv")
    assert status.exit_code == 0 and record["uid"] in status.stdout
    placed = cli("project", "--spectrum", "5", "--snapshot", record["uid"], "-k", "2", "--db", url, "--format", "json")
    assert placed.exit_code == 0 and len(json.loads(placed.stdout)["neighbors"]) == 2
    wrong = cli("embed", "--method", "pca", "--n-neighbors", "5", "--db", url)
    assert wrong.exit_code == 2 and "--n-neighbors" in wrong.stderr
    missing = cli("snapshots", "show", "nonexistent", "--db", url)
    assert missing.exit_code == 2 and "no snapshot" in missing.stderr


@pytest.mark.postgres
def test_snapshots_work_on_every_backend(any_db, tmp_path, structures):
    engine = db.connect(any_db)
    import_records(engine, synthetic_records(12, seed=3, structures=structures))
    record = create_snapshot(engine, method="pca", directory=tmp_path / "snaps").record
    assert record["row_count"] == 12 and snapshot_status(engine)[0]["status"] == "current"
    assert all(r["status"] == "ok" for r in verify_snapshots(engine))
    assert len(query_snapshot(engine, record["id"], "crystal_system = cubic")) == 4
    engine.dispose()


# ----------------------------------------------------------------------------------------------
# UMAP: one snapshot shared by the tests below (numba compiles once per process)


@pytest.fixture(scope="module")
def umap_snapshot(library):
    return create_snapshot(library, method="umap", seed=7, params={"n_neighbors": 10}).record


@pytest.fixture(scope="module")
def umap_refit(library, umap_snapshot):
    """umap-learn fitted again on the snapshot's own stored training matrix, with the same seed."""
    from repository.analysis.embed import fit_embedding

    model = load_model(umap_snapshot)
    return model, fit_embedding(model["train"], "umap", seed=7, params={"n_neighbors": 10})


@pytest.mark.slow
def test_umap_with_the_same_inputs_and_seed_gives_identical_coordinates(library, umap_snapshot, umap_refit):
    model, refit = umap_refit
    np.testing.assert_array_equal(refit.coords, model["embedding"])
    # the stored training matrix is exactly the preprocessed selection (its iso spectra)
    selection = load_spectra(library, ids=select_spectrum_ids(library, where=umap_snapshot["filter_text"]))
    matrix, _ = preprocess(selection, Recipe.from_dict(umap_snapshot["recipe"]))
    np.testing.assert_array_equal(matrix.astype(np.float32), model["train"])
    other_seed = create_snapshot(library, method="umap", seed=8, params={"n_neighbors": 10}).record
    assert not np.array_equal(load_model(other_seed)["embedding"], model["embedding"])


@pytest.mark.slow
def test_umap_placement_agrees_with_umaps_own_transform_on_held_out_spectra(umap_snapshot, umap_refit):
    from repository.analysis.project import umap_agreement
    from repository.analysis.recipe import apply_one

    model, refit = umap_refit
    recipe = Recipe.from_dict(umap_snapshot["recipe"])
    held_out = np.array([apply_one(recipe, r.spectrum.energy_ev, r.spectrum.intensity)
                         for r in synthetic_records(12, seed=1234, n_classes=N_CLASSES)])
    agreement = umap_agreement(refit.model, model, held_out)
    # relative to the embedding's spread; umap's own transform varies by ~1% between transform seeds
    assert agreement["median_rel_sgd"] < 0.05
    assert agreement["median_rel_weighted_mean"] < 0.15


@pytest.mark.slow
def test_umap_projection_of_a_member_is_an_exact_match_on_its_stored_point(library, umap_snapshot):
    from repository.analysis.project import place

    rows = pq.read_table(umap_snapshot["path"]).to_pylist()
    model = load_model(umap_snapshot)
    for row in (5, 40):
        target = rows[row]
        result = project(library, umap_snapshot["uid"], spectrum_id=target["spectrum_id"], k=3)
        assert result["placement"] == f"exact match of spectrum {target['spectrum_id']}"
        assert result["coordinates"] == [target["x"], target["y"]]
        first = result["neighbors"][0]
        assert (first["spectrum_id"], first["distance"]) == (target["spectrum_id"], 0.0)
        assert first["spectral_rmsd"] < 1e-6
        # the numpy transform alone would not put it there: the exact match is what does
        moved, how = place(model["train"][row].astype(np.float64), model)
        assert how == "umap-sgd" and not np.allclose(moved, [target["x"], target["y"]], atol=1e-6)


@pytest.mark.slow
def test_umap_projection_identifies_the_class_even_with_offset_or_relative_energies(library, umap_snapshot, tmp_path, cli):
    rows = {r["spectrum_id"]: r for r in pq.read_table(umap_snapshot["path"]).to_pylist()}
    record = synthetic_records(N_CLASSES, seed=4321, n_classes=N_CLASSES, structures=_structures())
    want = [("hexagonal", "P6_3/mmc"), ("cubic", "F-43m"), ("hexagonal", "P6_3mc")]
    url = library.url.database
    for label, rec in enumerate(record):
        e, y = rec.spectrum.energy_ev, rec.spectrum.intensity
        for name, energies, options in (("plain", e, ()), ("offset", e + 2.5, ("--shift", "-2.5")),
                                        ("relative", e - 192.0, ("--align", "fit")),
                                        ("shifted", e + 4.0, ("--align", "fit"))):
            path = tmp_path / f"{name}{label}.dat"
            np.savetxt(path, np.column_stack([energies, y]), header="energy_ev intensity (SYNTHETIC)")
            # a plain two-column file does not say its element and edge: --element/--edge do
            result = cli("project", str(path), "--snapshot", umap_snapshot["uid"], "-k", "5", "--db", url,
                         "--element", "B", "--edge", "K", "--format", "json", *options)
            assert result.exit_code == 0, result.stderr
            found = json.loads(result.stdout)
            assert found["placement"] == "umap-sgd"
            classes = [_class_of(rows[n["spectrum_id"]]) for n in found["neighbors"]]
            assert classes.count(want[label]) >= 4, (name, label, classes)


def test_stored_shifts_come_from_the_calculation_and_the_spectrum(library):
    spectra = load_spectra(library)
    shifts = dict(zip(spectra.ids.tolist(), spectra.shifts_ev.tolist()))
    assert [shifts[i] for i in (1, 2, 3)] == [189.9, 189.9, 188.8]  # the example set's alignment_shift_ev
    assert {shifts[i] for i in spectra.ids.tolist()[3:]} == {0.0}
    assert load_spectra(library, with_shifts=False).shifts_ev is None
    with pytest.raises(UsageError, match="share no energy range"):  # version 1: the common range
        create_snapshot(library, method="pca", recipe=Recipe(alignment="stored_shift", version=1))


def test_a_request_object_and_keywords_ask_for_the_same_snapshot(library, pca):
    from repository.analysis.create import EmbeddingRequest

    by_keywords = create_snapshot(library, method="pca", seed=0)
    by_object = create_snapshot(library, EmbeddingRequest(method="pca", seed=0))
    overridden = create_snapshot(library, EmbeddingRequest(method="umap", seed=5), method="pca", seed=0)
    assert by_keywords.reused and by_object.reused and overridden.reused
    assert by_keywords.record["uid"] == by_object.record["uid"] == overridden.record["uid"]
    assert (by_object.record["method"], by_object.record["seed"]) == ("pca", 0)
