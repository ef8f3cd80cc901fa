"""The comparison's measures on SYNTHETIC arrays with known structure (no embedding, no database)."""

import math

import numpy as np
import pytest

from repository.compare import dos_features as dosf
from repository.compare import metrics as m
from repository.compare.run import EdgeComparison, Stat, holdout_split, verdicts


def clusters(n_per_class=30, n_classes=3, dim=5, spread=0.1, seed=0):
    rng = np.random.default_rng(seed)
    centres = 10.0 * np.eye(n_classes, dim)
    x = np.concatenate([c + spread * rng.standard_normal((n_per_class, dim)) for c in centres])
    y = np.repeat([f"class{i}" for i in range(n_classes)], n_per_class)
    return x, y


def test_knn_accuracy_is_perfect_for_well_separated_clusters():
    x, y = clusters()
    score = m.knn_cv_accuracy(x, y)
    assert score.accuracy == 1.0
    assert score.chance == pytest.approx(1 / 3)
    assert (score.k, score.folds, score.n_used) == (5, 5, 90)


def test_knn_accuracy_with_shuffled_labels_is_near_chance():
    x, y = clusters(n_per_class=60)
    shuffled = np.random.default_rng(1).permutation(y)
    score = m.knn_cv_accuracy(x, shuffled)
    assert abs(score.accuracy - 1 / 3) < 0.15


def test_classes_with_one_spectrum_are_left_out_and_reported():
    x, y = clusters(n_per_class=6)
    y = y.copy()
    y[0] = "lonely"
    score = m.knn_cv_accuracy(x, y)
    assert score.dropped == {"lonely": 1}
    assert score.n_used == 17
    assert score.class_counts == {"class0": 5, "class1": 6, "class2": 6}
    assert score.accuracy == 1.0


def test_folds_shrink_to_the_smallest_class_and_k_to_its_training_members():
    x, y = clusters(n_per_class=3, n_classes=2)
    score = m.knn_cv_accuracy(x, y)
    assert score.folds == 3
    assert score.k == 2  # 3 folds: 2 training spectra per class
    assert score.accuracy == 1.0


def test_a_small_class_can_win_its_vote():
    x, y = clusters(n_per_class=12, n_classes=2)
    keep = np.r_[0:12, 12:15]  # 12 of class0, 3 of class1: k=5 would always outvote class1
    score = m.knn_cv_accuracy(x[keep], y[keep])
    assert score.k == 2 and score.accuracy == 1.0


def test_a_single_usable_class_gives_no_accuracy_but_a_reason():
    x, y = clusters(n_per_class=4, n_classes=2)
    y = np.array(["a"] * 7 + ["b"])
    score = m.knn_cv_accuracy(x, y)
    assert score.accuracy is None and "two classes" in score.reason
    assert m.silhouette(x, y) is None


def test_missing_labels_count_as_their_own_class_none():
    x, y = clusters(n_per_class=5, n_classes=2)
    labels = [None if v == "class0" else v for v in y]
    assert m.knn_cv_accuracy(x, labels).class_counts == {"class1": 5, "none": 5}


def test_silhouette_is_high_for_clusters_and_near_zero_for_shuffled_labels():
    x, y = clusters()
    assert m.silhouette(x, y) > 0.9
    assert abs(m.silhouette(x, np.random.default_rng(2).permutation(y))) < 0.1


def test_trustworthiness_is_one_for_a_faithful_embedding_and_lower_for_a_random_one():
    rng = np.random.default_rng(3)
    plane = rng.standard_normal((40, 2))
    high = np.c_[plane, np.zeros((40, 3))]
    faithful, k = m.trustworthiness(high, plane)
    assert faithful == pytest.approx(1.0) and k == 10
    scrambled, _ = m.trustworthiness(high, rng.standard_normal((40, 2)))
    assert scrambled < 0.8


def test_trustworthiness_lowers_k_below_half_the_spectra():
    assert m.trustworthiness_k(8) == 3
    assert m.trustworthiness_k(100) == 10
    value, k = m.trustworthiness(np.eye(8), np.eye(8)[:, :2])
    assert k == 3 and value is not None
    assert m.trustworthiness(np.eye(3), np.eye(3)[:, :2]) == (None, 0)


def test_spearman_finds_the_axis_a_descriptor_follows_and_ignores_missing_values():
    rng = np.random.default_rng(4)
    coords = rng.standard_normal((30, 2))
    values = np.exp(coords[:, 1])  # monotonic in y only
    values[:3] = np.nan
    on_x, on_y = m.spearman_axes(coords, values)
    assert on_y.rho == pytest.approx(1.0) and on_y.n == 27
    assert abs(on_x.rho) < 0.5


def test_neighbourhood_correlation_is_high_for_a_smooth_descriptor_and_low_for_noise():
    rng = np.random.default_rng(5)
    coords = rng.uniform(0, 10, (80, 2))
    smooth = m.neighborhood_spearman(coords, coords[:, 0] + coords[:, 1])
    noise = m.neighborhood_spearman(coords, rng.standard_normal(80))
    assert smooth.rho > 0.9
    assert abs(noise.rho) < 0.3


def test_small_sets_average_few_neighbours_so_the_mean_of_the_others_cannot_anticorrelate():
    assert [m.neighborhood_k(n) for n in (3, 5, 10, 16, 100)] == [1, 1, 3, 5, 5]
    coords = np.arange(5.0)[:, None] * np.ones((1, 2))
    assert m.neighborhood_spearman(coords, np.arange(5.0)).rho > 0.8


def test_a_constant_descriptor_has_no_correlation():
    assert m.neighborhood_spearman(np.random.default_rng(0).random((10, 2)), np.ones(10)).rho is None


def test_nearest_label_accuracy_identifies_points_next_to_their_class_and_breaks_ties_by_distance():
    x, y = clusters(n_per_class=10)
    assert m.nearest_label_accuracy(x[::2], y[::2], x[1::2], y[1::2], k=1) == 1.0
    assert m.nearest_label_accuracy(x[::2], y[::2], x[1::2], y[1::2], k=3) == 1.0
    train = np.array([[0.0], [1.0], [5.0], [6.0]])
    # two votes each for a and b among the 4 nearest: the nearest (a, at 1.0) wins
    assert m.nearest_label_accuracy(train, ["b", "a", "a", "b"], np.array([[1.2]]), ["a"], k=4) == 1.0
    assert m.nearest_label_accuracy(train, ["a", "a", "b", "b"], np.empty((0, 1)), [], k=1) is None


def test_mean_sd_skips_undefined_values():
    assert m.mean_sd([1.0, None, 3.0, float("nan")]) == (2.0, pytest.approx(math.sqrt(2)), 2)
    assert m.mean_sd([0.5]) == (0.5, 0.0, 1)
    assert m.mean_sd([None]) == (None, None, 0)


def test_holdout_never_takes_the_last_training_spectrum_of_a_kind():
    keys = ["a"] * 10 + ["b"] * 2 + ["c"]
    for seed in range(20):
        train, test = holdout_split([keys], 0.2, seed)
        assert len(test) == 3 and sorted([*train, *test]) == list(range(13))
        kept = {keys[i] for i in train}
        assert kept == {"a", "b", "c"}
    assert np.array_equal(holdout_split([keys], 0.2, 7)[1], holdout_split([keys], 0.2, 7)[1])


def test_holdout_keeps_every_polymorph_and_every_defect_kind_in_training():
    polymorph = ["h"] * 6 + ["c"] * 2 + ["w"]
    defect = ["none", "vac", "vac", "sub", "sub", "none", "none", "vac", "none"]
    for seed in range(20):
        train, test = holdout_split([polymorph, defect], 0.3, seed)
        assert {polymorph[i] for i in train} == set(polymorph)
        assert {defect[i] for i in train} == set(defect)
        assert 8 not in test  # the only w


def _result_with(knn):
    labels = list(next(iter(knn.values())))
    result = EdgeComparison("B", "K", 20, [0, 1], ["umap", "pca", "mds"], None, {})
    result.knn = {meth: {lb: Stat(*v) for lb, v in by.items()} for meth, by in knn.items()}
    result.knn_reference = {lb: m.LabelScore(0.9, 0.5, 20, 2, 5, 5) for lb in labels}
    return result


def test_the_verdict_says_plainly_when_pca_beats_umap():
    result = _result_with({"raw": {"polymorph": (0.9, 0.0, 1)}, "umap": {"polymorph": (0.70, 0.02, 2)},
                           "pca": {"polymorph": (0.95, 0.0, 1)}, "mds": {"polymorph": (0.80, 0.0, 2)}})
    (sentence,) = verdicts(result)
    assert sentence.startswith("polymorph: PCA separates best") and "UMAP does not win here" in sentence


def test_the_verdict_calls_methods_within_the_seed_spread_level_and_flags_below_chance():
    result = _result_with({"raw": {"defect": (0.5, 0.0, 1)}, "umap": {"defect": (0.45, 0.05, 2)},
                           "pca": {"defect": (0.42, 0.0, 1)}, "mds": {"defect": (0.2, 0.0, 2)}})
    (sentence,) = verdicts(result)
    assert "UMAP and PCA are level" in sentence and "UMAP does not win" not in sentence
    assert "no method beats the majority-class rate" in sentence


# -- DOS features ------------------------------------------------------------------------------


def gaussian(e, centre, width=0.3, height=1.0):
    return height * np.exp(-0.5 * ((e - centre) / width) ** 2)


def test_dos_features_of_a_pi_peak_below_a_sigma_peak():
    e = np.arange(-10.0, 25.0, 0.05)
    fermi = 1.0
    pi = gaussian(e, fermi + 2.0) + gaussian(e, fermi - 4.0)  # occupied states below E_F do not count
    sigma = gaussian(e, fermi + 10.0)
    f = dosf.dos_features(e, {"p": pi + sigma, "p_pi": pi, "p_sigma": sigma}, fermi)
    assert f["p_onset_ev"] == pytest.approx(2.0 - 0.3 * math.sqrt(2 * math.log(10)), abs=0.02)
    assert f["p_pi_weight"] == pytest.approx(0.3 * math.sqrt(2 * math.pi), rel=0.01)
    assert f["p_sigma_weight"] == pytest.approx(0.0, abs=1e-6)
    assert f["pi_fraction"] == pytest.approx(1.0, abs=1e-6)
    # equal pi and sigma masses at +2 and +10 eV: centre of mass at +6 eV above E_F
    assert f["p_centroid_ev"] + f["p_onset_ev"] == pytest.approx(6.0, abs=0.02)


def test_a_dos_with_only_total_p_is_all_sigma_and_missing_pieces_give_nan():
    e = np.arange(-5.0, 20.0, 0.05)
    f = dosf.dos_features(e, {"s": gaussian(e, 3.0), "p": gaussian(e, 3.0)}, 0.0)
    assert f["pi_fraction"] == 0.0 and f["p_sigma_weight"] > 0
    assert all(math.isnan(v) for v in dosf.dos_features(e, {"s": gaussian(e, 3.0)}, 0.0).values())
    assert all(math.isnan(v) for v in dosf.dos_features(e, {"p": gaussian(e, 3.0)}, None).values())
    assert math.isnan(dosf.dos_features(e, {"p": gaussian(e, -3.0)}, 0.0)["p_onset_ev"])  # nothing empty


def test_occupied_sigma_and_pi_populations_are_defined_for_a_pristine_cell():
    """Gaussians of known area: pi wholly below E_F, sigma centred on E_F (half occupied)."""
    from repository.compare.dos_features import dos_features

    e = np.arange(-20.0, 15.0, 0.01)
    pi = 0.6 * np.exp(-0.5 * ((e + 4.0) / 0.5) ** 2) / (0.5 * np.sqrt(2 * np.pi))
    sigma = 2.0 * np.exp(-0.5 * (e / 0.8) ** 2) / (0.8 * np.sqrt(2 * np.pi))
    f = dos_features(e, {"p_sigma": sigma, "p_pi": pi}, 0.0)
    assert f["p_pi_occupied"] == pytest.approx(0.6, abs=1e-3)
    assert f["p_sigma_occupied"] == pytest.approx(1.0, abs=5e-3)
    assert f["pi_occupied_fraction"] == pytest.approx(0.6 / 1.6, abs=3e-3)
    sp3 = dos_features(e, {"p": sigma}, 0.0)  # total p only: all sigma, no pi
    assert sp3["p_pi_occupied"] == 0.0 and sp3["pi_occupied_fraction"] == 0.0
