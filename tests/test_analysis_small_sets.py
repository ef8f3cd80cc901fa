"""Embedding methods accept the smallest sets that make sense (a defect set may start with 3 spectra)."""

import numpy as np
import pytest

from repository.analysis.embed import fit_embedding


@pytest.mark.slow
@pytest.mark.parametrize("n_spectra", [3, 4])
@pytest.mark.parametrize("method", ["umap", "pca", "mds"])
def test_three_or_four_synthetic_spectra_embed_reproducibly(method, n_spectra):
    x = np.random.default_rng(1).random((n_spectra, 40))  # SYNTHETIC
    first = fit_embedding(x, method, n_components=2, seed=3).coords
    again = fit_embedding(x, method, n_components=2, seed=3).coords
    assert first.shape == (n_spectra, 2) and np.isfinite(first).all()
    np.testing.assert_array_equal(first, again)
