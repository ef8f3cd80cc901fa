"""Fitting embeddings: UMAP (umap-learn), PCA (scikit-learn) and MDS (SMACOF or landmark).

:func:`fit_embedding` takes an already preprocessed matrix and returns coordinates plus the arrays
a later projection needs (stored by :mod:`repository.snapshots.registry` as a checksummed ``.npz``;
no pickles). With the same matrix, parameters and seed it returns identical coordinates on the
same machine: UMAP runs single-threaded when seeded, PCA diagonalises the covariance matrix
(scikit-learn's ``covariance_eigh``: no copy of the matrix, seconds for 10^6 rows), landmark MDS
draws its landmarks from the seed and fixes eigenvector signs.

UMAP has two optional parameters (absent from the stored parameters unless given):

* ``fit_sample`` N: fit on a seeded sample of N rows and place the others with the fitted model's
  transform (:func:`fit_umap_sampled`); the rows are chosen by the caller
  (:func:`repository.analysis.create.stratified_sample`). Explicit only: a sampled fit is an
  approximation whose cost is measured in docs/analysis.md, so it is never switched on silently.
* ``backend``: ``umap-learn`` (the default, reproducible), ``cuml`` (RAPIDS cuML on a CUDA GPU;
  refused with a one-line reason when cuML or a GPU is missing) or ``auto`` (cuML when usable, else
  umap-learn; resolved before anything is hashed, so the snapshot records what ran). The cuML path
  ran once on a lent GPU (bench/cuml_check.py); no CI machine has one: see docs/analysis.md.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from ..conventions import EmbeddingMethod, MdsSolver
from ..errors import UsageError
from . import mds as mds_

METHODS = tuple(m.value for m in EmbeddingMethod)
MDS_SOLVERS = tuple(s.value for s in MdsSolver)
UMAP_BACKENDS = ("umap-learn", "cuml", "auto")
PLACE_CHUNK_ROWS = 10_000  # umap-learn's transform runs 100 epochs up to 10,000 rows (30 above): as project does
MIN_FIT_SAMPLE = 3
OPTIONAL_PARAMS: dict[str, tuple[str, ...]] = {"umap": ("fit_sample", "backend")}
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "umap": {"n_neighbors": 15, "min_dist": 0.1, "metric": "euclidean"},
    "pca": {},
    "mds": {"solver": "auto", "n_landmarks": mds_.DEFAULT_LANDMARKS, "max_iter": 300},
}


def method_params(method: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The full parameter set of ``method``: defaults updated with the non-None ``overrides``."""
    if method not in METHODS:
        raise UsageError(f"unknown embedding method {method!r} (expected one of {', '.join(METHODS)})")
    params = dict(DEFAULT_PARAMS[method])
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in params and key not in OPTIONAL_PARAMS.get(method, ()):
            known = [*params, *OPTIONAL_PARAMS.get(method, ())]
            raise UsageError(f"{method} has no parameter {key!r} (it has: {', '.join(known) or 'none'})")
        params[key] = value
    if method == "umap":
        params["n_neighbors"] = int(params["n_neighbors"])
        params["min_dist"] = float(params["min_dist"])
        if params["n_neighbors"] < 2:
            raise UsageError("UMAP needs n_neighbors >= 2")
        if params["metric"] != "euclidean":
            raise UsageError("only the euclidean metric is supported (projection reimplements it)")
        if "fit_sample" in params:
            try:
                params["fit_sample"] = int(params["fit_sample"])
            except (TypeError, ValueError):
                raise UsageError(f"fit_sample must be a whole number of spectra, got {params['fit_sample']!r}") from None
            if params["fit_sample"] < max(MIN_FIT_SAMPLE, params["n_neighbors"] + 1):
                raise UsageError(f"fit_sample must be at least n_neighbors + 1 = {params['n_neighbors'] + 1} "
                                 f"spectra, got {params['fit_sample']}")
        if "backend" in params:
            backend = resolve_backend(str(params["backend"]))
            if backend == "umap-learn":
                del params["backend"]  # the default: recorded in fit_info, not in the parameters (same hash)
            else:
                params["backend"] = backend
    if method == "mds":
        if params["solver"] not in MDS_SOLVERS:
            raise UsageError(f"unknown MDS solver {params['solver']!r} (expected {', '.join(MDS_SOLVERS)})")
        params["n_landmarks"] = int(params["n_landmarks"])
        params["max_iter"] = int(params["max_iter"])
    return params


def recorded_params(params: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """The parameters a snapshot records for a fit that ran with ``params`` and returned ``info``.

    UMAP caps ``n_neighbors`` at the number of fitted spectra - 1 (:func:`fit_umap`); a record
    that kept the request would say a map of 5 spectra used 15 neighbours. So where the cap
    applied, ``n_neighbors`` is the value used and ``n_neighbors_requested`` the request; otherwise
    ``params`` unchanged. The snapshot's parameter hash is taken over the request
    (:func:`repository.analysis.create.params_hash`), so the same command finds the same snapshot."""
    used = info.get("n_neighbors_used")
    if used is None or "n_neighbors" not in params or int(used) >= int(params["n_neighbors"]):
        return params
    return {**params, "n_neighbors": int(used), "n_neighbors_requested": int(params["n_neighbors"])}


def cuml_unavailable() -> str | None:
    """Why RAPIDS cuML's UMAP cannot run here (one line), or None when it can: cuML importable and a
    CUDA GPU visible."""
    try:
        # lazy import: start-up time and an optional extra (pip install 'xasrepo[gpu]')
        import cuml  # noqa: F401
        from cuml.manifold import UMAP  # noqa: F401
    except Exception:  # ImportError, or a cuML build that fails to load its CUDA libraries
        return "RAPIDS cuML is not installed or cannot be loaded (the optional extra: pip install 'xasrepo[gpu]')"
    try:
        import cupy  # lazy import: optional GPU extra

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "no CUDA GPU is visible"
    except Exception:
        return "no CUDA GPU is visible (CUDA runtime unavailable)"
    return None


def resolve_backend(requested: str) -> str:
    """The UMAP backend that will run for ``requested`` (umap-learn, cuml or auto); raises
    :class:`UsageError` for an unknown name or for ``cuml`` where it cannot run (naming why)."""
    if requested not in UMAP_BACKENDS:
        raise UsageError(f"unknown UMAP backend {requested!r} (expected one of {', '.join(UMAP_BACKENDS)})")
    if requested == "umap-learn":
        return requested
    reason = cuml_unavailable()
    if requested == "cuml" and reason:
        raise UsageError(f"--backend cuml: {reason}; use --backend umap-learn or auto")
    return "cuml" if reason is None else "umap-learn"


def library_versions() -> dict[str, str]:
    """Versions of the libraries that determine the coordinates (stored with every snapshot)."""
    out = {}
    for name in ("numpy", "scipy", "scikit-learn", "umap-learn", "numba", "pynndescent", "pyarrow", "cuml"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


@dataclass
class FittedEmbedding:
    """Coordinates (n, k) float64, arrays for projection, and the live model (not stored)."""

    method: str
    coords: np.ndarray
    params: dict[str, Any]
    artifacts: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    model: Any = None

    def params_json(self) -> str:
        return json.dumps(self.params, sort_keys=True)


def _check_size(x: np.ndarray, n_components: int, method: str) -> None:
    if x.ndim != 2 or x.shape[0] < 3:
        raise UsageError(f"an embedding needs at least 3 spectra, got {x.shape[0]}")
    if n_components not in (2, 3):
        raise UsageError(f"--n-components must be 2 or 3, got {n_components}")
    if not np.isfinite(x).all():
        raise UsageError("the preprocessed spectra contain non-finite values (NaN or infinity); nothing was embedded")
    if not np.any(x != x[0]):
        raise UsageError(f"all {x.shape[0]} preprocessed spectra are identical: there is nothing to embed "
                         "(check the energy window and the selection)")
    if method == "pca" and n_components > min(x.shape):
        raise UsageError(f"PCA with {n_components} components needs at least {n_components} spectra and grid points")


def fit_umap(x: np.ndarray, n_components: int, seed: int, params: dict[str, Any]) -> FittedEmbedding:
    """UMAP (umap-learn, Euclidean; cuML with ``params["backend"] == "cuml"``) of ``x`` (n_spectra, n_grid)
    -> coords (n_spectra, n_components), with the fitted model's a, b, n_neighbors, ... as artifacts for
    :func:`repository.analysis.project.umap_place`."""
    backend = params.get("backend", "umap-learn")
    n_neighbors = min(params["n_neighbors"], x.shape[0] - 1)
    # UMAP's spectral initialisation needs more points than components + 2 (scipy's eigh fails on
    # e.g. 3 spectra); tiny sets start from a seeded random layout instead.
    init = "spectral" if x.shape[0] > n_components + 2 else "random"
    if backend == "cuml":
        return _fit_cuml(x, n_components, seed, params, n_neighbors, init)
    # lazy import: start-up time (umap-learn is heavy; only this path needs it)
    import umap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n_jobs overridden by setting random_state" and numba chatter
        model = umap.UMAP(n_components=n_components, n_neighbors=n_neighbors, min_dist=params["min_dist"],
                          metric="euclidean", random_state=seed, init=init)
        coords = model.fit_transform(np.asarray(x, dtype=np.float32))
    artifacts = {
        "umap_a": np.float64(model._a), "umap_b": np.float64(model._b),
        "umap_n_neighbors": np.int64(n_neighbors),
        "umap_initial_alpha": np.float64(model._initial_alpha),
        "umap_repulsion_strength": np.float64(model.repulsion_strength),
        "umap_negative_sample_rate": np.int64(model.negative_sample_rate),
        "umap_local_connectivity": np.float64(model.local_connectivity),
    }
    return FittedEmbedding("umap", np.asarray(coords, dtype=np.float64), params, artifacts,
                           {"n_neighbors_used": n_neighbors, "backend": "umap-learn"}, model)


def _fit_cuml(x: np.ndarray, n_components: int, seed: int, params: dict[str, Any], n_neighbors: int,
              init: str) -> FittedEmbedding:
    """UMAP with RAPIDS cuML on the GPU (run on an H200 with cuML 26.10, bench/cuml_check.py; no CI
    machine has a GPU). The projection artifacts are umap-learn's for the same parameters (a and b from
    ``umap.umap_.find_ab_params``; learning rate, repulsion, negative sampling and local connectivity at
    cuML's defaults, which equal umap-learn's: checked there), so ``project`` places new spectra with
    the numpy transform."""
    # lazy import: optional GPU extra
    from cuml.manifold import UMAP as CumlUMAP
    from umap.umap_ import find_ab_params

    model = CumlUMAP(n_components=n_components, n_neighbors=n_neighbors, min_dist=params["min_dist"],
                     metric="euclidean", random_state=seed, init=init)
    coords = model.fit_transform(np.asarray(x, dtype=np.float32))
    coords = np.asarray(coords.get() if hasattr(coords, "get") else coords, dtype=np.float64)
    a, b = find_ab_params(1.0, params["min_dist"])
    artifacts = {
        "umap_a": np.float64(a), "umap_b": np.float64(b), "umap_n_neighbors": np.int64(n_neighbors),
        "umap_initial_alpha": np.float64(1.0), "umap_repulsion_strength": np.float64(1.0),
        "umap_negative_sample_rate": np.int64(5), "umap_local_connectivity": np.float64(1.0),
    }
    return FittedEmbedding("umap", coords, params, artifacts, {"n_neighbors_used": n_neighbors, "backend": "cuml"},
                           model)


def init_graph_transform(graph, embedding: np.ndarray) -> np.ndarray:
    """umap-learn's ``umap_.init_graph_transform`` (the starting positions of new points: the
    weighted mean of their fitted neighbours' positions; a point with a neighbour of strength exactly
    1 starts on that neighbour; one without neighbours at NaN), vectorised over the rows.

    ``graph`` is the (n_new, n_fitted) CSR matrix of membership strengths (float32, zeros
    eliminated, indices sorted as ``tocsr`` leaves them), ``embedding`` (n_fitted, dim) float32.
    Returns (n_new, dim) float32, bit-identical to umap-learn's: the same float32 operations in the
    same order per row (tests/test_analysis_scale.py compares them). Hand-rolled because umap-learn's
    form slices the sparse matrix row by row in Python: measured 1.5-3.5 s per 10,000 rows, a third
    of ``transform`` (docs/benchmarks.md, "Scale")."""
    indptr = np.asarray(graph.indptr, dtype=np.int64)
    data = np.asarray(graph.data, dtype=np.float32)
    cols = np.asarray(graph.indices, dtype=np.int64)
    embedding = np.asarray(embedding, dtype=np.float32)
    n = indptr.size - 1
    counts = np.diff(indptr)
    result = np.zeros((n, embedding.shape[1]), dtype=np.float32)
    result[counts == 0] = np.nan
    width = int(counts.max()) if n else 0
    # (n, width) padded copies of each row's strengths and columns, in CSR order
    weights = np.zeros((n, width), dtype=np.float32)
    neighbors = np.zeros((n, width), dtype=np.int64)
    row_of = np.repeat(np.arange(n), counts)
    position = np.arange(data.size) - np.repeat(indptr[:-1], counts)
    weights[row_of, position] = data
    neighbors[row_of, position] = cols
    # the row sums exactly as umap-learn takes them (numpy's sum of the row's float32 strengths):
    # rows of equal length summed together, so numpy's summation order is the 1-D one
    row_sum = np.ones(n, dtype=np.float32)
    for count in np.unique(counts[counts > 0]):
        rows = np.flatnonzero(counts == count)
        row_sum[rows] = np.sum(weights[rows, :count], axis=1)
    done = counts == 0
    for j in range(width):
        active = ~done & (j < counts)
        value = weights[:, j]
        one = active & (value == 1)
        result[one] = embedding[neighbors[one, j]]
        done |= one
        add = active & ~one
        result[add] += (value[add] / row_sum[add])[:, None] * embedding[neighbors[add, j]]
    return result


def _transform_epochs(model, n_rows: int) -> int:
    """The SGD epochs umap-learn's ``transform`` runs for ``n_rows`` new points (0.5.x)."""
    if model.n_epochs is None:
        return 100 if n_rows <= 10_000 else 30
    return int(model.n_epochs // 3.0)


def umap_transform(model, x: np.ndarray) -> np.ndarray:
    """``model.transform(x)`` of a fitted umap-learn 0.5 ``UMAP`` (Euclidean, dense), step by step as
    umap-learn runs it (approximate neighbours from the model's search index, membership strengths,
    SGD with the fitted points held still, ``transform_seed``) except the starting positions, which
    come from the vectorised :func:`init_graph_transform`. The result is bit-identical to
    ``model.transform`` (tests/test_analysis_scale.py). Models fitted on fewer than 4,096 rows
    (umap-learn's exact-distance path) and other configurations go through ``model.transform`` itself.

    ``x`` (n, n_grid) -> (n, n_components) float32."""
    # lazy import: start-up time (umap-learn is heavy; only this path needs it)
    import scipy.sparse
    from sklearn.utils import check_random_state
    from umap.layouts import optimize_layout_euclidean
    from umap.umap_ import INT32_MAX, INT32_MIN, compute_membership_strengths, make_epochs_per_sample, smooth_knn_dist

    x = np.ascontiguousarray(x, dtype=np.float32)
    if (model._small_data or model.metric != "euclidean" or model.output_metric != "euclidean" or model.densmap
            or model._sparse_data or getattr(model, "_knn_search_index", None) is None
            or x.shape == model._raw_data.shape):  # (an identical input short-circuits in umap-learn)
        return np.asarray(model.transform(x), dtype=np.float32)
    rng_state = check_random_state(model.transform_seed).randint(INT32_MIN, INT32_MAX, 3).astype(np.int64)
    epsilon = 0.24 if model._knn_search_index._angular_trees else 0.12
    indices, dists = model._knn_search_index.query(x, model.n_neighbors, epsilon=epsilon)
    dists = dists.astype(np.float32, order="C")
    indices[dists >= model._disconnection_distance] = -1
    sigmas, rhos = smooth_knn_dist(dists, float(model._n_neighbors),
                                   local_connectivity=float(max(0.0, model.local_connectivity - 1.0)))
    rows, cols, vals, dists = compute_membership_strengths(indices, dists, sigmas, rhos, bipartite=True)
    graph = scipy.sparse.coo_matrix((vals, (rows, cols)), shape=(x.shape[0], model._raw_data.shape[0]))
    csr_graph = graph.tocsr()
    csr_graph.eliminate_zeros()
    embedding = init_graph_transform(csr_graph, model.embedding_)
    n_epochs = _transform_epochs(model, graph.shape[0])
    graph.data[graph.data < (graph.data.max() / float(n_epochs))] = 0.0
    graph.eliminate_zeros()
    epochs_per_sample = make_epochs_per_sample(graph.data, n_epochs)
    return optimize_layout_euclidean(
        embedding, model.embedding_.astype(np.float32, copy=True), graph.row, graph.col, n_epochs,
        graph.shape[1], epochs_per_sample, model._a, model._b, rng_state, model.repulsion_strength,
        model._initial_alpha / 4.0, model.negative_sample_rate, model.random_state is None,
        verbose=model.verbose, tqdm_kwds=model.tqdm_kwds)


def fit_umap_sampled(x: np.ndarray, n_components: int, seed: int, params: dict[str, Any], fitted_rows: np.ndarray,
                     progress=None) -> FittedEmbedding:
    """UMAP fitted on the rows ``fitted_rows`` (sorted positions into ``x``, shape (n_spectra, n_grid))
    only; every other row is placed by the fitted model's own transform (:func:`umap_transform`,
    bit-identical to umap-learn's ``transform``) in chunks of :data:`PLACE_CHUNK_ROWS` (umap-learn runs
    100 epochs up to that size, as the single-spectrum projection does), with ``progress`` receiving
    one line per chunk.

    umap-learn's transform is the reference that :func:`repository.analysis.project.umap_place`
    reimplements in numpy for one spectrum at a time; for 10^5-10^6 rows its compiled (numba) form is
    needed (the numpy placement costs milliseconds per spectrum). ``artifacts["umap_fitted_rows"]``
    records the fitted rows, so that a later projection searches neighbours among them only, as the
    transform did. Returns coords (n_spectra, n_components)."""
    say = progress or (lambda _message: None)
    fitted_rows = np.asarray(fitted_rows, dtype=np.int64)
    fit = fit_umap(x[fitted_rows], n_components, seed, params)
    coords = np.empty((x.shape[0], n_components), dtype=np.float64)
    coords[fitted_rows] = fit.coords
    placed = np.ones(x.shape[0], dtype=bool)
    placed[fitted_rows] = False
    rest = np.flatnonzero(placed)
    cuml = params.get("backend") == "cuml"
    transform = fit.model.transform if cuml else (lambda chunk: umap_transform(fit.model, chunk))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for start in range(0, rest.size, PLACE_CHUNK_ROWS):
            say(f"placing spectra {start + 1}-{min(start + PLACE_CHUNK_ROWS, rest.size)} of {rest.size} "
                f"(fitted on {fitted_rows.size})")
            chunk = rest[start:start + PLACE_CHUNK_ROWS]
            out = transform(np.asarray(x[chunk], dtype=np.float32))
            coords[chunk] = np.asarray(out.get() if hasattr(out, "get") else out, dtype=np.float64)
    artifacts = {**fit.artifacts, "umap_fitted_rows": fitted_rows}
    if cuml:
        placement = f"cuML's transform, chunks of {PLACE_CHUNK_ROWS} rows"
    else:
        epochs = _transform_epochs(fit.model, min(PLACE_CHUNK_ROWS, rest.size))
        neighbors = ("exact neighbours (fewer than 4,096 fitted rows)" if fit.model._small_data
                      else "approximate neighbours from its search index")
        placement = (f"the fitted model's transform (umap-learn {library_versions().get('umap-learn', '?')}, "
                     f"{neighbors}, {epochs} SGD epochs, transform_seed {fit.model.transform_seed}), "
                     f"chunks of {PLACE_CHUNK_ROWS} rows in row order")
    info = {**fit.info, "fitted": int(fitted_rows.size), "placed": int(rest.size), "placement": placement}
    return FittedEmbedding("umap", coords, params, artifacts, info, fit.model)


def fit_pca(x: np.ndarray, n_components: int, seed: int, params: dict[str, Any]) -> FittedEmbedding:
    """PCA (scikit-learn, ``svd_solver="covariance_eigh"``) of ``x`` (n_spectra, n_grid) -> coords
    (n_spectra, n_components) float64; artifacts the mean (n_grid,) and components (n_components, n_grid)
    as float64; info the explained variance ratios.

    The covariance solver forms the (n_grid, n_grid) covariance from ``x`` without centring a copy, so
    the memory is the matrix plus O(n_grid^2); 10x faster than the full SVD at 10^5 rows
    (docs/benchmarks.md). Coordinates equal the full SVD's to 1e-5 of their spread on float32 input
    and to 1e-13 on float64 (tests/test_analysis_scale.py), with the same sign convention
    (each component's largest loading positive)."""
    # lazy import: start-up time (scikit-learn is heavy; only this path needs it)
    from sklearn.decomposition import PCA

    model = PCA(n_components=n_components, svd_solver="covariance_eigh")
    coords = np.asarray(model.fit_transform(x), dtype=np.float64)
    artifacts = {"pca_mean": np.asarray(model.mean_, dtype=np.float64),
                 "pca_components": np.asarray(model.components_, dtype=np.float64)}
    info = {"explained_variance_ratio": [round(float(v), 6) for v in model.explained_variance_ratio_],
            "solver": "covariance_eigh"}
    return FittedEmbedding("pca", coords, params, artifacts, info, model)


def fit_mds(x: np.ndarray, n_components: int, seed: int, params: dict[str, Any]) -> FittedEmbedding:
    """Metric MDS of ``x`` (n_spectra, n_grid): SMACOF up to :data:`~repository.analysis.mds.SMACOF_MAX_SPECTRA`
    spectra (``solver="auto"``), else landmark MDS (de Silva & Tenenbaum 2004), whose landmarks are kept
    as artifacts for projection."""
    solver = params["solver"]
    if solver == "auto":
        solver = "smacof" if x.shape[0] <= mds_.SMACOF_MAX_SPECTRA else "landmark"
    if solver == "smacof":
        coords = mds_.smacof_mds(x, n_components, seed=seed, max_iter=params["max_iter"])
        return FittedEmbedding("mds", coords, params, {}, {"solver": "smacof"})
    coords, model = mds_.landmark_mds(x, n_components, n_landmarks=params["n_landmarks"], seed=seed)
    artifacts = {"mds_landmarks": model.landmarks, "mds_pinv": model.pinv,
                 "mds_mean_sq": model.mean_sq}
    return FittedEmbedding("mds", coords, params, artifacts,
                           {"solver": "landmark", "n_landmarks": int(model.landmarks.shape[0])}, model)


def fit_embedding(x: np.ndarray, method: str, *, n_components: int = 2, seed: int = 0,
                  params: dict[str, Any] | None = None, fitted_rows: np.ndarray | None = None,
                  progress=None) -> FittedEmbedding:
    """Embed the rows of the preprocessed matrix ``x`` (shape (n_spectra, n_grid), float64) with
    ``method`` (umap, pca or mds); ``params`` as returned by :func:`method_params`. With UMAP's
    ``fit_sample``, ``fitted_rows`` are the rows to fit on (:func:`fit_umap_sampled`; without them, or
    when they are all the rows, the fit is the full one).

    Returns a :class:`FittedEmbedding` whose ``coords`` have shape (n_spectra, n_components), plus
    the arrays a later projection needs. Raises :class:`UsageError` for an unknown method,
    fewer than 3 spectra, ``n_components`` other than 2 or 3, non-finite or all-identical rows.
    """
    params = method_params(method, params)
    _check_size(x, n_components, method)
    if method == "umap" and fitted_rows is not None and len(fitted_rows) < x.shape[0]:
        return fit_umap_sampled(x, n_components, int(seed), params, fitted_rows, progress)
    fit = {"umap": fit_umap, "pca": fit_pca, "mds": fit_mds}[method]
    return fit(x, n_components, int(seed), params)
