"""Multidimensional scaling: SMACOF for small sets, landmark MDS for large ones.

Plain SMACOF needs the full n x n distance matrix (and several work copies): about 20 GB for
20,000 spectra. Landmark MDS (de Silva & Tenenbaum 2004) runs classical MDS on ``n_landmarks``
spectra chosen at random with the seed, then places every spectrum by distance-based
triangulation from its squared distances to the landmarks. Memory is O(n * n_landmarks) (80 MB for
20,000 spectra and 500 landmarks), and the same triangulation places new spectra (projection).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import UsageError

SMACOF_MAX_SPECTRA = 2000  # "auto" uses SMACOF up to this many spectra, landmark MDS above
DEFAULT_LANDMARKS = 500
_CHUNK_ROWS = 4096


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between the rows of ``a`` (n, d) and ``b`` (m, d), clipped at 0."""
    aa = np.einsum("ij,ij->i", a, a)[:, None]
    bb = np.einsum("ij,ij->i", b, b)[None, :]
    return np.maximum(aa + bb - 2.0 * (a @ b.T), 0.0)


@dataclass(frozen=True)
class LandmarkModel:
    """What landmark MDS needs to place a spectrum: x = -1/2 (delta^2 - mean_sq) @ pinv."""

    landmarks: np.ndarray  # (L, d) preprocessed spectra
    pinv: np.ndarray  # (L, k)
    mean_sq: np.ndarray  # (L,) column means of the landmarks' squared distance matrix

    def place(self, x: np.ndarray) -> np.ndarray:
        out = np.empty((x.shape[0], self.pinv.shape[1]))
        for start in range(0, x.shape[0], _CHUNK_ROWS):
            block = squared_distances(x[start:start + _CHUNK_ROWS], self.landmarks)
            out[start:start + _CHUNK_ROWS] = -0.5 * (block - self.mean_sq[None, :]) @ self.pinv
        return out


def landmark_mds(x: np.ndarray, n_components: int, *, n_landmarks: int = DEFAULT_LANDMARKS, seed: int = 0
                 ) -> tuple[np.ndarray, LandmarkModel]:
    """Landmark MDS of the rows of ``x`` -> (coordinates (n, k), model for new points)."""
    n = x.shape[0]
    n_landmarks = min(int(n_landmarks), n)
    if n_landmarks <= n_components:
        raise UsageError(f"landmark MDS needs more than {n_components} landmarks, got {n_landmarks}")
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(n, size=n_landmarks, replace=False))
    landmarks = np.ascontiguousarray(x[chosen], dtype=np.float64)
    d2 = squared_distances(landmarks, landmarks)
    mean_sq = d2.mean(axis=0)
    centred = d2 - mean_sq[None, :] - d2.mean(axis=1)[:, None] + d2.mean()
    b = -0.5 * centred
    values, vectors = np.linalg.eigh(b)
    order = np.argsort(values)[::-1][:n_components]
    values, vectors = values[order], vectors[:, order]
    if np.any(values <= 0):
        raise UsageError("landmark MDS found fewer positive eigenvalues than components: the spectra are "
                         "(nearly) identical or the landmarks too few")
    # A fixed sign convention, so equal inputs give equal coordinates.
    signs = np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(vectors.shape[1])])
    vectors = vectors * signs[None, :]
    model = LandmarkModel(landmarks=landmarks, pinv=vectors / np.sqrt(values)[None, :], mean_sq=mean_sq)
    return model.place(np.asarray(x, dtype=np.float64)), model


def smacof_mds(x: np.ndarray, n_components: int, *, seed: int = 0, max_iter: int = 300) -> np.ndarray:
    """Metric MDS by SMACOF (scikit-learn), initialised with classical MDS. O(n^2) memory."""
    # lazy import: start-up time (scikit-learn is heavy; only this path needs it)
    from sklearn.manifold import MDS

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MDS(n_components=n_components, metric_mds=True, n_init=1, init="classical_mds",
                    max_iter=max_iter, random_state=seed, metric="euclidean", normalized_stress="auto")
        return model.fit_transform(np.asarray(x, dtype=np.float64))
