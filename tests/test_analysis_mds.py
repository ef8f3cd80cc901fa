"""Embedding fits without a database: landmark MDS, SMACOF, PCA and their determinism."""

import numpy as np
import pytest

from repository.analysis import embed, mds
from repository.errors import UsageError


def _plane_in_10d(n=300, seed=0):
    """Points on a 2-D plane embedded (rotated) in 10-D: MDS must recover their distances exactly."""
    rng = np.random.default_rng(seed)
    flat = rng.normal(size=(n, 2)) * [3.0, 1.0]
    basis, _ = np.linalg.qr(rng.normal(size=(10, 2)))
    return flat @ basis.T + rng.normal(size=10), flat


def _pairwise(x):
    return np.sqrt(mds.squared_distances(x, x))


def test_landmark_mds_recovers_the_distances_of_planar_data():
    x, flat = _plane_in_10d()
    coords, _model = mds.landmark_mds(x, 2, n_landmarks=40, seed=1)
    np.testing.assert_allclose(_pairwise(coords), _pairwise(flat), atol=1e-6)


def test_landmark_model_places_a_training_spectrum_where_it_already_is():
    x, _ = _plane_in_10d()
    coords, model = mds.landmark_mds(x, 2, n_landmarks=50, seed=0)
    np.testing.assert_allclose(model.place(x[[7, 123]]), coords[[7, 123]], atol=1e-8)


def test_auto_solver_switches_to_landmarks_above_the_smacof_limit(monkeypatch):
    x, _ = _plane_in_10d(n=60)
    assert embed.fit_embedding(x, "mds").info["solver"] == "smacof"
    monkeypatch.setattr(mds, "SMACOF_MAX_SPECTRA", 50)
    fitted = embed.fit_embedding(x, "mds", params={"n_landmarks": 30})
    assert fitted.info == {"solver": "landmark", "n_landmarks": 30}
    assert {"mds_landmarks", "mds_pinv", "mds_mean_sq"} <= set(fitted.artifacts)


def test_smacof_preserves_distances_of_planar_data():
    x, flat = _plane_in_10d(n=80)
    coords = mds.smacof_mds(x, 2, seed=0)
    assert np.abs(_pairwise(coords) - _pairwise(flat)).max() < 0.05 * _pairwise(flat).max()


@pytest.mark.parametrize("method, params", [("pca", None), ("mds", {"solver": "landmark", "n_landmarks": 40}),
                                            ("mds", {"solver": "smacof"})])
def test_same_matrix_and_seed_give_identical_coordinates(method, params):
    x, _ = _plane_in_10d(n=120)
    first = embed.fit_embedding(x, method, seed=3, params=params).coords
    again = embed.fit_embedding(x.copy(), method, seed=3, params=params).coords
    np.testing.assert_array_equal(first, again)


def test_landmark_mds_memory_stays_linear_in_the_number_of_spectra():
    # 20,000 spectra x 500 landmarks: the largest array is n x L (80 MB), never n x n (3.2 GB).
    import tracemalloc

    x = np.random.default_rng(0).normal(size=(20_000, 8)).astype(np.float32)
    tracemalloc.start()
    try:
        coords, model = mds.landmark_mds(x, 2, n_landmarks=500, seed=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert coords.shape == (20_000, 2) and model.landmarks.shape == (500, 8)
    assert peak < 400e6


def test_unknown_methods_and_parameters_are_refused():
    with pytest.raises(UsageError, match="unknown embedding method"):
        embed.method_params("tsne")
    with pytest.raises(UsageError, match="pca has no parameter 'n_neighbors'"):
        embed.method_params("pca", {"n_neighbors": 5})
    with pytest.raises(UsageError, match="2 or 3"):
        embed.fit_embedding(np.zeros((10, 4)) + np.arange(4), "pca", n_components=4)
