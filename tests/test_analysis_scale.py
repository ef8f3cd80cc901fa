"""Scale (issue 18): streamed loading into one matrix, block-wise preprocessing, vectorised e0, the
covariance PCA, UMAP fitted on a stratified sample (the ``fitted`` column), and the cuML backend.
Spectra are SYNTHETIC (repository.analysis.synthetic); sizes are small, the behaviour is the same."""

import sqlite3

import numpy as np
import pyarrow.parquet as pq
import pytest

from repository import db
from repository.analysis import edge as edge_mod
from repository.analysis import embed as emb
from repository.analysis import load as load_mod
from repository.analysis import recipe as rec
from repository.analysis.create import create_snapshot, params_hash, stratified_sample
from repository.analysis.project import member_nn_rmsd, project, umap_place
from repository.analysis.synthetic import synthetic_grid, synthetic_intensity, synthetic_records
from repository.errors import UsageError
from repository.importer import import_records
from repository.snapshots.files import footer_metadata
from repository.snapshots.registry import load_model

N_SPECTRA = 240
FIT_SAMPLE = 90


def _structures():
    from pymatgen.core import Lattice, Structure

    cubic = Structure.from_spacegroup("F-43m", Lattice.cubic(3.615), ["B", "N"], [[0, 0, 0], [0.25, 0.25, 0.25]])
    wurtzite = Structure.from_spacegroup("P6_3mc", Lattice.hexagonal(2.55, 4.21), ["B", "N"],
                                         [[1 / 3, 2 / 3, 0.0], [1 / 3, 2 / 3, 0.375]])
    rocksalt = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.2), ["B", "N"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    return [cubic, wurtzite, rocksalt]


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """SYNTHETIC B K spectra of three classes, each class one structure; plus 7 on a second grid."""
    path = tmp_path_factory.mktemp("scale") / "scale.db"
    db.upgrade(str(path))
    engine = db.connect(str(path))
    import_records(engine, synthetic_records(N_SPECTRA, seed=3, n_classes=3, structures=_structures()))
    yield engine
    engine.dispose()


def _raw_matrix(engine):
    path = engine.url.database
    with sqlite3.connect(path) as con:
        rows = con.execute("SELECT id, intensity FROM spectrum ORDER BY id").fetchall()
    return np.array([r[0] for r in rows]), np.array([np.frombuffer(r[1], dtype="<f8") for r in rows])


def test_streamed_load_equals_the_stored_bytes_in_any_batch_size(library, monkeypatch):
    ids, raw = _raw_matrix(library)
    whole = load_mod.load_spectra(library, with_shifts=False)
    monkeypatch.setattr(load_mod, "FETCH_ROWS", 7)  # many batches, the last one short
    batched = load_mod.load_spectra(library, with_shifts=False)
    for spectra in (whole, batched):
        assert np.array_equal(spectra.ids, ids)
        assert spectra.matrix.dtype == np.float64 and np.array_equal(spectra.matrix, raw)
        assert len(spectra.content_hashes) == ids.size
    chosen = ids[::5].tolist()
    picked = load_mod.load_spectra(library, ids=chosen, with_shifts=False)
    assert np.array_equal(picked.ids, np.array(chosen)) and np.array_equal(picked.matrix, raw[::5])


def test_spectra_on_another_grid_form_their_own_group(tmp_path):
    db.upgrade(str(tmp_path / "grids.db"))
    engine = db.connect(str(tmp_path / "grids.db"))
    records = synthetic_records(12, seed=1) + synthetic_records(5, seed=2, energy_offset_ev=0.1)
    import_records(engine, records)
    spectra = load_mod.load_spectra(engine, with_shifts=False)
    assert [g.intensity.shape[0] for g in spectra.groups] == [12, 5]
    ids, raw = _raw_matrix(engine)
    for group in spectra.groups:
        assert np.array_equal(group.intensity, raw[group.rows])
    with pytest.raises(UsageError, match="different energy grids"):
        spectra.matrix
    engine.dispose()


def test_block_wise_preprocessing_equals_one_block_and_float32_keeps_the_values(library, monkeypatch):
    spectra = load_mod.load_spectra(library)
    one = load_mod.prepare(spectra, rec.Recipe())
    monkeypatch.setattr(load_mod, "PREPARE_ROWS", 13)
    blocks = load_mod.prepare(spectra, rec.Recipe(), dtype=np.float32)
    assert one.matrix.dtype == np.float64 and blocks.matrix.dtype == np.float32
    assert blocks.recipe == one.recipe
    assert np.allclose(blocks.matrix, one.matrix, rtol=0, atol=1e-6 * np.abs(one.matrix).max())
    assert rec.matrix_dtype(rec.Recipe()) == np.float32
    assert rec.matrix_dtype(rec.Recipe(normalization="none")) == np.float64


def test_an_error_in_one_block_counts_the_bad_spectra_of_every_block(library, monkeypatch):
    from dataclasses import replace

    spectra = load_mod.load_spectra(library)
    (group,) = spectra.groups
    intensity = group.intensity.copy()
    intensity[[3, 33]] = 1.0  # flat: one in the first block of 12, one in the third
    damaged = replace(spectra, groups=(replace(group, intensity=intensity),))
    monkeypatch.setattr(load_mod, "PREPARE_ROWS", 12)
    with pytest.raises(UsageError, match=rf"is flat .*2 of {N_SPECTRA} spectra in all"):
        load_mod.prepare(damaged, rec.Recipe())


def test_vectorised_e0_equals_the_one_by_one_rule():
    rng = np.random.default_rng(7)
    for grid in (synthetic_grid(), np.linspace(180.0, 216.0, 300), np.linspace(395.0, 440.0, 120)):
        rows = [synthetic_intensity(grid, k % 4, rng, edge_ev=grid[0] + rng.uniform(1.0, 25.0),
                                    noise=float(rng.choice([0.0, 0.02, 0.3]))) for k in range(150)]
        rows.append(np.linspace(0.0, 1.0, grid.size))  # no edge at all
        rows.append(np.r_[np.zeros(grid.size // 2), np.ones(grid.size - grid.size // 2)])  # a pure step
        matrix = np.array(rows)
        expected = np.array([edge_mod.find_e0(grid, row) for row in matrix])
        assert np.array_equal(edge_mod.find_e0_rows(grid, matrix), expected)


def test_covariance_pca_equals_the_full_svd_signs_aside(library):
    from sklearn.decomposition import PCA

    matrix, _recipe = load_mod.preprocess(load_mod.load_spectra(library), rec.Recipe())
    reference = PCA(n_components=2, svd_solver="full").fit_transform(matrix)
    for x, tolerance in ((matrix, 1e-9), (matrix.astype(np.float32), 1e-4)):
        fitted = emb.fit_embedding(x, "pca")
        signs = np.sign((fitted.coords * reference).sum(axis=0))
        assert set(signs.tolist()) <= {-1.0, 1.0}
        error = np.abs(fitted.coords * signs - reference).max(axis=0) / reference.std(axis=0)
        assert error.max() < tolerance
        assert fitted.info["solver"] == "covariance_eigh"


def test_member_distances_in_blocks_equal_the_direct_computation(monkeypatch):
    import repository.analysis.project as pj

    x = np.random.default_rng(2).normal(size=(300, 20)).astype(np.float32)
    x[7] = x[100]  # a duplicate: distance 0
    d = np.sqrt(((x[:, None, :].astype(np.float64) - x[None, :, :]) ** 2).mean(axis=2))
    np.fill_diagonal(d, np.inf)
    monkeypatch.setattr(pj, "NN_BLOCK_ROWS", 37)
    assert np.allclose(member_nn_rmsd(x), d.min(axis=1), atol=1e-6)
    assert member_nn_rmsd(x)[7] < 1e-6


def test_stratified_sample_is_proportional_seeded_and_keeps_rare_strata():
    strata = np.r_[np.zeros(900, int), np.ones(95, int), np.full(5, 2)]
    chosen = stratified_sample(strata, 100, seed=0)
    assert chosen.size == 100 and np.array_equal(chosen, np.unique(chosen))
    counts = np.bincount(strata[chosen], minlength=3)
    assert counts.tolist() == [90, 9, 1]  # 90 / 9.5 / 0.5 by largest remainder, at least one each
    assert np.array_equal(chosen, stratified_sample(strata, 100, seed=0))
    assert not np.array_equal(chosen, stratified_sample(strata, 100, seed=1))
    assert np.array_equal(stratified_sample(strata, 5000, seed=0), np.arange(1000))
    tiny = stratified_sample(np.arange(50), 10, seed=0)  # more strata than rows wanted: a random sample
    assert tiny.size == 10


def test_params_hash_depends_on_the_matrix_dtype():
    recipe = rec.Recipe(energy_min_ev=185, energy_max_ev=200, step_ev=0.5)
    as_none = rec.Recipe(energy_min_ev=185, energy_max_ev=200, step_ev=0.5, normalization="none")
    assert params_hash("i", recipe, "umap", {}, 2, 0) != params_hash("i", as_none, "umap", {}, 2, 0)


@pytest.fixture(scope="module")
def sampled(library):
    return create_snapshot(library, method="umap", params={"fit_sample": FIT_SAMPLE}, seed=4)


def test_a_sampled_umap_fit_records_which_rows_were_fitted_and_which_placed(library, sampled):
    import umap

    record = sampled.record
    table = pq.read_table(record["path"])
    fitted = np.asarray(table.column("fitted").to_pylist())
    assert fitted.sum() == FIT_SAMPLE and fitted.size == N_SPECTRA
    footer = footer_metadata(record["path"])
    info = footer["fit_info"]["fit_sample"]
    assert (info["size"], info["fitted"], info["placed"], info["of"]) == (FIT_SAMPLE, FIT_SAMPLE,
                                                                          N_SPECTRA - FIT_SAMPLE, N_SPECTRA)
    assert footer["params"]["fit_sample"] == FIT_SAMPLE and footer["fit_info"]["matrix_dtype"] == "float32"
    # stratified: each of the three structures has its share (30 of 80 each)
    systems = np.asarray(table.column("spacegroup_symbol").to_pylist())
    assert sorted(np.unique(systems[fitted], return_counts=True)[1].tolist()) == [30, 30, 30]
    model = load_model(record)
    rows = model["umap_fitted_rows"]
    assert np.array_equal(np.flatnonzero(fitted), rows)
    # the fitted rows are exactly umap-learn's fit of those rows with the same seed
    x = model["train"]
    direct = umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=4).fit(x[rows])
    assert np.array_equal(model["embedding"][rows], direct.embedding_.astype(np.float64))
    # the placed rows are that model's transform
    placed = np.flatnonzero(~fitted)
    assert np.allclose(model["embedding"][placed], direct.transform(x[placed]), atol=1e-5)
    # and they land among their own class: the nearest fitted point in the map is of the same structure
    e = model["embedding"]
    nearest = rows[np.argmin(((e[placed, None, :] - e[None, rows, :]) ** 2).sum(axis=2), axis=1)]
    assert (systems[nearest] == systems[placed]).mean() > 0.95


def test_projection_onto_a_sampled_fit_searches_the_fitted_rows_only(library, sampled):
    model = load_model(sampled.record)
    rows = model["umap_fitted_rows"]
    only_fitted = {k: v for k, v in model.items() if k != "umap_fitted_rows"}
    only_fitted["train"], only_fitted["embedding"] = model["train"][rows], model["embedding"][rows]
    query = model["train"][~np.isin(np.arange(N_SPECTRA), rows)][0].astype(np.float64) * 1.01
    a = umap_place(query, model)
    b = umap_place(query, only_fitted)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    # a placed member projects onto its own stored coordinates
    member = int(model["ids"][np.setdiff1d(np.arange(N_SPECTRA), rows)[0]])
    result = project(library, sampled.record["uid"], spectrum_id=member)
    assert result["exact_match"] == member


def test_fit_sample_is_refused_where_it_makes_no_sense(library, cli):
    with pytest.raises(UsageError, match="fit_sample must be at least"):
        emb.method_params("umap", {"fit_sample": 5})
    with pytest.raises(UsageError, match="pca has no parameter 'fit_sample'"):
        emb.method_params("pca", {"fit_sample": 100})
    result = cli("embed", "--db", library.url.database, "--method", "pca", "--fit-sample", "100")
    assert result.exit_code == 2 and "--fit-sample" in result.stderr and "Traceback" not in result.stderr


def test_the_cuml_backend_is_refused_in_one_line_without_cuml(library, cli):
    if emb.cuml_unavailable() is None:
        pytest.skip("cuML and a CUDA GPU are present: the refusal cannot be shown here")
    with pytest.raises(UsageError, match="--backend cuml: .*cuML"):
        emb.method_params("umap", {"backend": "cuml"})
    assert "backend" not in emb.method_params("umap", {"backend": "auto"})  # falls back to umap-learn
    with pytest.raises(UsageError, match="unknown UMAP backend"):
        emb.method_params("umap", {"backend": "gpu"})
    result = cli("embed", "--db", library.url.database, "--backend", "cuml")
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1


def test_cuml_backend_embeds_and_records_itself(library):
    reason = emb.cuml_unavailable()
    if reason:
        pytest.skip(f"cuML UMAP backend untested here: {reason}")
    result = create_snapshot(library, method="umap", params={"backend": "cuml"}, force=True)
    footer = footer_metadata(result.record["path"])
    assert footer["params"]["backend"] == "cuml" and footer["fit_info"]["backend"] == "cuml"
    coords = load_model(result.record)["embedding"]
    assert coords.shape == (N_SPECTRA, 2) and np.isfinite(coords).all()


class _CumlUmapStandIn:
    """What the library uses of ``cuml.manifold.UMAP``, answered by umap-learn on the CPU: the
    constructor arguments, ``fit_transform`` and ``transform`` returning arrays. The real class ran
    on a GPU once (bench/cuml_check.py, docs/benchmarks.md); this one lets CI check what the library
    records around it."""

    def __init__(self, **kwargs):
        import umap

        assert set(kwargs) <= {"n_components", "n_neighbors", "min_dist", "metric", "random_state", "init"}, kwargs
        self.kwargs = kwargs
        self._model = umap.UMAP(**kwargs)

    def fit_transform(self, x):
        assert x.dtype == np.float32
        return self._model.fit_transform(x)

    def transform(self, x):
        assert x.dtype == np.float32
        return self._model.transform(x)


@pytest.fixture
def cuml_stand_in(monkeypatch):
    """``cuml`` and ``cupy`` modules that make :func:`emb.cuml_unavailable` say yes on a CPU machine."""
    import sys
    import types

    cuml = types.ModuleType("cuml")
    manifold = types.ModuleType("cuml.manifold")
    manifold.UMAP = _CumlUmapStandIn
    cuml.manifold = manifold
    cupy = types.ModuleType("cupy")
    cupy.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))
    cupy.ndarray = type("ndarray", (), {})  # scipy asks any imported cupy for it (array API checks)
    for name, module in (("cuml", cuml), ("cuml.manifold", manifold), ("cupy", cupy)):
        monkeypatch.setitem(sys.modules, name, module)
    assert emb.cuml_unavailable() is None


def test_a_cuml_snapshot_records_the_backend_and_umap_learns_projection_parameters(library, cuml_stand_in):
    from umap.umap_ import find_ab_params

    assert emb.resolve_backend("auto") == "cuml"
    result = create_snapshot(library, method="umap", params={"backend": "cuml"}, force=True)
    footer = footer_metadata(result.record["path"])
    assert footer["params"]["backend"] == "cuml" and footer["fit_info"]["backend"] == "cuml"
    model = load_model(result.record)
    a, b = find_ab_params(1.0, footer["params"]["min_dist"])
    assert (float(model["umap_a"]), float(model["umap_b"])) == (a, b)
    assert model["embedding"].shape == (N_SPECTRA, 2) and np.isfinite(model["embedding"]).all()
    # the snapshot's own projection places a member next to where the fit put it
    initial, placed = umap_place(model["train"][0], model)
    spread = np.ptp(model["embedding"], axis=0).max()
    assert np.linalg.norm(placed - model["embedding"][0]) < 0.1 * spread


def test_a_sampled_cuml_fit_says_that_cumls_transform_placed_the_rest(cuml_stand_in):
    x = np.random.default_rng(0).normal(size=(300, 20)).astype(np.float32)
    params = emb.method_params("umap", {"backend": "cuml"})
    fit = emb.fit_umap_sampled(x, 2, 0, params, np.arange(0, 300, 2))
    assert fit.info["backend"] == "cuml" and (fit.info["fitted"], fit.info["placed"]) == (150, 150)
    assert fit.info["placement"] == f"cuML's transform, chunks of {emb.PLACE_CHUNK_ROWS} rows"
    assert np.isfinite(fit.coords).all() and np.array_equal(fit.artifacts["umap_fitted_rows"], np.arange(0, 300, 2))


def test_vectorised_init_graph_transform_is_umap_learns_bit_for_bit():
    """The starting positions of placed points: umap-learn's row-by-row loop and ours agree exactly,
    with rows of every length (none, fewer than and more than 8 entries), strengths of exactly 1
    (the point starts on that neighbour) and tiny strengths."""
    import scipy.sparse
    from umap.umap_ import init_graph_transform as reference

    rng = np.random.default_rng(5)
    n, m = 1500, 300
    counts = rng.integers(1, 21, n)
    counts[:4] = 0
    rows = np.repeat(np.arange(n), counts)
    cols = np.concatenate([rng.choice(m, c, replace=False) for c in counts])
    vals = (rng.random(rows.size) ** 3).astype(np.float32)
    vals[rng.random(vals.size) < 0.03] = 1.0
    graph = scipy.sparse.coo_matrix((vals, (rows, cols)), shape=(n, m)).tocsr()
    graph.eliminate_zeros()
    embedding = (rng.normal(size=(m, 2)) * 10).astype(np.float32)
    ours = emb.init_graph_transform(graph, embedding)
    theirs = reference(graph, embedding)
    assert ours.dtype == np.float32 and np.array_equal(ours, theirs, equal_nan=True)
    assert np.isnan(ours[:4]).all() and not np.isnan(ours[4:]).any()


@pytest.mark.slow
def test_umap_transform_is_umap_learns_transform_bit_for_bit():
    """The placement of a sampled fit: the search-index path (fits of 4,096 rows or more) gives the
    same float32 coordinates as ``UMAP.transform``, for a chunk of up to 10,000 rows (100 epochs) and
    above (30 epochs)."""
    import umap

    rng = np.random.default_rng(6)
    centres = rng.normal(size=(4, 12)) * 4
    x = (centres[rng.integers(0, 4, 4200 + 10_300)] + rng.normal(size=(14_500, 12))).astype(np.float32)
    model = umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=0).fit(x[:4200])
    assert not model._small_data
    for chunk in (x[4200:4500], x[4200:]):
        ours = emb.umap_transform(model, chunk)
        assert np.array_equal(ours, model.transform(chunk))


def test_property_columns_follow_the_ids_in_any_subset(library):
    from repository.snapshots.registry import property_columns

    ids = np.asarray(load_mod.load_spectra(library, with_shifts=False, element="B", edge="K").ids)
    whole = property_columns(library, ids, "B", "K")
    some = ids[::7]
    part = property_columns(library, some, "B", "K")
    for name, values in whole.items():
        assert part[name] == values[::7]
    absent = property_columns(library, np.array([ids.max() + 1000]), "B", "K")
    assert all(v == [None] for v in absent.values())


def test_the_snapshot_says_what_its_training_matrix_is_and_how_rows_were_placed(sampled):
    info = footer_metadata(sampled.record["path"])["fit_info"]
    assert info["train_matrix"]["dtype"] == "float32" and info["train_matrix"]["shape"][0] == N_SPECTRA
    assert load_model(sampled.record)["train"].dtype == np.float32
    placement = info["fit_sample"]["placement"]  # 90 fitted rows: umap-learn searches them exactly
    assert "transform" in placement and "exact neighbours" in placement and "100 SGD epochs" in placement
