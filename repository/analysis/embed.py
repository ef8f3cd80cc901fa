"""Fitting embeddings: UMAP (umap-learn), PCA (scikit-learn) and MDS (SMACOF or landmark).

:func:`fit_embedding` takes an already preprocessed matrix and returns coordinates plus the arrays
a later projection needs (stored by :mod:`repository.snapshots.registry` as a checksummed ``.npz``;
no pickles). With the same matrix, parameters and seed it returns identical coordinates on the
same machine: UMAP runs single-threaded when seeded, PCA uses the full SVD, landmark MDS draws its
landmarks from the seed and fixes eigenvector signs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..conventions import EmbeddingMethod, MdsSolver
from ..errors import UsageError
from . import mds as mds_

METHODS = tuple(m.value for m in EmbeddingMethod)
MDS_SOLVERS = tuple(s.value for s in MdsSolver)
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
        if key not in params:
            raise UsageError(f"{method} has no parameter {key!r} (it has: {', '.join(params) or 'none'})")
        params[key] = value
    if method == "umap":
        params["n_neighbors"] = int(params["n_neighbors"])
        params["min_dist"] = float(params["min_dist"])
        if params["n_neighbors"] < 2:
            raise UsageError("UMAP needs n_neighbors >= 2")
        if params["metric"] != "euclidean":
            raise UsageError("only the euclidean metric is supported (projection reimplements it)")
    if method == "mds":
        if params["solver"] not in MDS_SOLVERS:
            raise UsageError(f"unknown MDS solver {params['solver']!r} (expected {', '.join(MDS_SOLVERS)})")
        params["n_landmarks"] = int(params["n_landmarks"])
        params["max_iter"] = int(params["max_iter"])
    return params


def library_versions() -> dict[str, str]:
    """Versions of the libraries that determine the coordinates (stored with every snapshot)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("numpy", "scipy", "scikit-learn", "umap-learn", "numba", "pynndescent", "pyarrow"):
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
    import warnings

    import umap

    n_neighbors = min(params["n_neighbors"], x.shape[0] - 1)
    # UMAP's spectral initialisation needs more points than components + 2 (scipy's eigh fails on
    # e.g. 3 spectra); tiny sets start from a seeded random layout instead.
    init = "spectral" if x.shape[0] > n_components + 2 else "random"
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
                           {"n_neighbors_used": n_neighbors}, model)


def fit_pca(x: np.ndarray, n_components: int, seed: int, params: dict[str, Any]) -> FittedEmbedding:
    from sklearn.decomposition import PCA

    model = PCA(n_components=n_components, svd_solver="full")
    coords = model.fit_transform(np.asarray(x, dtype=np.float64))
    artifacts = {"pca_mean": model.mean_, "pca_components": model.components_}
    info = {"explained_variance_ratio": [round(float(v), 6) for v in model.explained_variance_ratio_]}
    return FittedEmbedding("pca", coords, params, artifacts, info, model)


def fit_mds(x: np.ndarray, n_components: int, seed: int, params: dict[str, Any]) -> FittedEmbedding:
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
                  params: dict[str, Any] | None = None) -> FittedEmbedding:
    """Embed the rows of the preprocessed matrix ``x``; ``params`` as returned by :func:`method_params`."""
    params = method_params(method, params)
    _check_size(x, n_components, method)
    fit = {"umap": fit_umap, "pca": fit_pca, "mds": fit_mds}[method]
    return fit(x, n_components, int(seed), params)
