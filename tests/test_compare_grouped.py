"""The grouped, inductive protocol (repository/compare/grouped.py) on SYNTHETIC data with known structure.

The key property: sister sites of one structure share a structure-wide offset (as a cell-wide
Delta-KS onset or relaxation does), so a protocol that cross-validates over spectra finds the
sisters and scores any structure-level label, even one unrelated to the spectra; folds by
structure must not. PCA only (no numba) in the fast tests.
"""

import numpy as np
import pytest

from repository.compare import grouped as gr
from repository.compare import metrics as m
from repository.errors import UsageError


def _structures(n_structures: int, sites: int, dim: int = 40, *, signal: float, offset: float, seed: int = 0):
    """Spectra of ``n_structures`` structures with ``sites`` each: a class pattern (two classes,
    alternating over structures) times ``signal``, a random per-structure vector times ``offset``
    (what sister sites share), and small per-site noise. Returns (x, groups, class labels)."""
    rng = np.random.default_rng(seed)
    patterns = rng.standard_normal((2, dim))
    x, groups, labels = [], [], []
    for s in range(n_structures):
        cls = s % 2
        shared = rng.standard_normal(dim)
        for _ in range(sites):
            x.append(signal * patterns[cls] + offset * shared + 0.05 * rng.standard_normal(dim))
            groups.append(f"s{s}")
            labels.append(f"c{cls}")
    return np.array(x), np.array(groups, dtype=object), np.array(labels, dtype=object)


@pytest.fixture(scope="module")
def leaky():
    """The class has NO effect on the spectra; each structure has a strong shared offset."""
    return _structures(12, 6, signal=0.0, offset=1.0, seed=1)


@pytest.fixture(scope="module")
def informative():
    """The class shapes the spectra more than the structure-wide offset does."""
    return _structures(12, 6, signal=2.0, offset=0.5, seed=2)


def test_leave_one_structure_out_holds_out_every_structure_once_and_never_splits_one():
    groups = np.array(["a", "a", "b", "c", "c", "c", "d"], dtype=object)
    folds = gr.structure_folds(groups)
    assert [sorted(groups[f].tolist()) for f in folds] == [["a", "a"], ["b"], ["c", "c", "c"], ["d"]]
    k2 = gr.structure_folds(groups, 2, seed=3)
    assert sorted(np.concatenate(k2).tolist()) == list(range(7))
    for f in k2:  # a structure is entirely inside a fold or entirely outside
        inside = set(groups[f].tolist())
        assert all((groups[i] in inside) == (i in f) for i in range(7))
    with pytest.raises(UsageError, match="at least two structures"):
        gr.structure_folds(["a", "a"])


def test_classes_of_fewer_than_three_structures_are_left_out_and_named():
    values = ["h", "h", "h", "h", "r", "r", "w"]
    groups = ["1", "2", "3", "3", "4", "5", "6"]
    label = gr.scoring_label("polymorph", values, groups)
    assert label.classes == ["h"] and not label.scorable
    assert label.dropped == {"r": 2, "w": 1}
    assert label.codes.tolist() == [0, 0, 0, 0, -1, -1, -1]


def test_defect_labels_are_scored_near_the_defect_and_on_defect_free_cells_only():
    kind = ["none", "vacancy", "vacancy", "vacancy", "substitution"]
    distance = [None, 1.45, 2.50, 5.0, None]  # a defect site without a distance is left out too
    assert gr.near_defect_mask(kind, distance).tolist() == [True, True, True, False, False]
    assert gr.near_defect_mask(kind, distance, limit_a=2.0).tolist() == [True, True, False, False, False]


def test_votes_take_the_first_k_scored_neighbours_and_ties_go_to_the_nearest():
    # spectrum 0's neighbours, nearest first: 3 (unscored), 1 (class 1), 2 (class 0), 4 (class 0)
    # (row i: spectrum i's training neighbours, nearest first; -1 pads)
    order = np.array([[3, 1, 2, 4], [0, 2, 3, 4], [0, 1, -1, -1], [0, 1, 2, 4], [2, 0, 1, 3]])
    codes = np.array([0, 1, 0, -1, 0])
    assert gr.predict(order, codes, 1, 2)[0] == 1  # the nearest scored neighbour
    assert gr.predict(order, codes, 2, 2)[0] == 1  # 1 vs 0 tied: the nearest wins
    assert gr.predict(order, codes, 3, 2)[0] == 0  # two of three
    assert gr.predict(order, codes, 3, 2)[1] == 0
    assert gr.predict(order, codes, 3, 2)[3] == -1  # unscored spectra get no guess
    assert gr.predict(order, codes, np.array([1, 1, 5, 1, 1]), 2)[2] == 0  # k larger than the neighbours


def test_chance_levels_are_the_majority_share_and_the_sum_of_squared_shares():
    label = gr.scoring_label("x", ["a"] * 6 + ["b"] * 3 + ["c"] * 3, [str(i) for i in range(12)])
    assert label.majority_rate() == pytest.approx(0.5)
    assert label.stratified_rate() == pytest.approx(0.25 + 0.0625 + 0.0625)


def test_permutation_moves_whole_structures_and_keeps_the_classes():
    codes = np.array([0, 0, 1, 1, 1, -1, 0, 1])
    groups = np.array([0, 0, 1, 1, 1, 1, 2, 3])
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(50):
        p = gr.permute_by_structure(codes, groups, rng)
        assert p[5] == -1  # unscored stays unscored
        assert gr.constant_within_structures(p, groups)
        assert sorted(p[[0, 2, 6, 7]].tolist()) == [0, 0, 1, 1]  # one class per structure, same multiset
        seen.add(tuple(p.tolist()))
    assert len(seen) > 1


def test_sister_sites_flatter_spectrum_cv_but_not_folds_by_structure(leaky):
    """The class has no effect on the spectra: cross-validation over spectra still scores it well
    (sisters share the offset), the grouped protocol does not, and its permutation p is large."""
    x, groups, labels = leaky
    transductive = m.knn_cv_accuracy(x, labels, seed=0).accuracy
    assert transductive > 0.9
    assert gr.sister_nearest_fraction(x, groups) == 1.0
    result = gr.grouped_edge(x, {"host_polymorph": labels}, groups, methods=("pca",), seeds=[0],
                             permutations=99, n_boot=200)
    for series in ("raw", "pca"):
        score = result.scores[series]["host_polymorph"]
        assert score.majority == pytest.approx(0.5)
        assert score.accuracy < 0.75
        assert score.p_value > 0.05
        assert not score.beats_chance()
        assert score.ci[0] <= score.accuracy <= score.ci[1]


def test_a_class_that_shapes_the_spectra_is_found_in_held_out_structures(informative):
    x, groups, labels = informative
    result = gr.grouped_edge(x, {"host_polymorph": labels}, groups, methods=("pca", "mds"), seeds=[0],
                             permutations=99, n_boot=200)
    assert result.folds == "leave one structure out" and result.n_folds == 12
    assert gr.sister_nearest_fraction(np.eye(4), ["a", "b", "c", "d"]) is None
    assert gr.sister_nearest_fraction(np.array([[0.0], [0.1], [1.0], [5.0]]), ["a", "a", "b", "b"]) == 0.75
    assert result.placements["mds"].startswith("mds-out-of-sample")
    for series in ("raw", "pca", "mds"):
        score = result.scores[series]["host_polymorph"]
        assert score.accuracy == 1.0
        # only a shuffle that happens to restore the true assignment (1 in 924) does as well
        assert score.p_value <= 0.03
        assert score.beats_chance()
        assert score.n_structures == 12 and score.n_scored == 72


def test_nothing_scorable_is_refused_before_anything_is_fitted():
    x, groups, _ = _structures(4, 3, signal=1.0, offset=0.1)
    with pytest.raises(UsageError, match="no label has two classes carried by 3 or more structures"):
        gr.grouped_edge(x, {"host_polymorph": np.array(["h"] * 12, dtype=object)}, groups, methods=("pca",))
    with pytest.raises(UsageError, match="grouped folds need at least two structures"):
        gr.grouped_edge(x[:3], {"host_polymorph": np.array(["a", "b", "c"], dtype=object)},
                        np.array(["s"] * 3, dtype=object), methods=("pca",))


def test_mds_out_of_sample_lowers_the_stress_and_recovers_a_configuration_exactly_embedded():
    rng = np.random.default_rng(5)
    plane = rng.standard_normal((30, 2))  # a configuration whose distances 2-D points reproduce exactly
    rotation = np.linalg.qr(rng.standard_normal((6, 6)))[0][:2]
    x = plane @ rotation  # the same points in 6-D
    new = np.array([[0.3, -0.2], [1.5, 0.7]])
    start = np.zeros((2, 2))
    placed = gr.mds_out_of_sample(x, plane, new @ rotation, start)
    np.testing.assert_allclose(placed, new, atol=1e-6)

    def stress(y):
        d = np.sqrt(((y[:, None, :] - plane[None]) ** 2).sum(axis=2))
        delta = np.sqrt(m.squared_distances(new @ rotation, x))
        return ((d - delta) ** 2).sum()

    assert stress(placed) < 1e-10 < stress(start)


def test_held_out_r2_is_high_for_a_descriptor_the_spectra_encode_and_not_for_noise(informative):
    x, groups, labels = informative
    _, group_index = np.unique(groups, return_inverse=True)
    folds = gr.structure_folds(groups)
    maps = [gr.raw_neighbors(x, folds)]
    follows = np.where(labels == "c1", 1.0, 0.0) + 0.01 * (np.arange(len(labels)) % 3)
    noise = np.random.default_rng(0).standard_normal(len(labels))
    good = gr.descriptor_r2(maps, follows, group_index, n_boot=200)
    bad = gr.descriptor_r2(maps, noise, group_index, n_boot=200)
    assert good["r2"] > 0.9 and good["ci95"][0] > 0.5
    assert bad["r2"] < 0.2
    # by hand: R^2 = 1 - SS_res / SS_tot with the k nearest training spectra's mean as the prediction
    order = maps[0].order
    pred = np.array([follows[row[row >= 0][:m.KNN_K]].mean() for row in order])
    expected = 1 - ((follows - pred) ** 2).sum() / ((follows - follows.mean()) ** 2).sum()
    assert good["r2"] == pytest.approx(expected)


def test_raw_neighbors_never_include_the_held_out_structure(informative):
    x, groups, _ = informative
    folds = gr.structure_folds(groups)
    order = gr.raw_neighbors(x, folds).order
    for i in range(len(groups)):
        row = order[i][order[i] >= 0]
        assert groups[i] not in set(groups[row].tolist())
        assert row.size == len(groups) - (groups == groups[i]).sum()


@pytest.mark.slow
def test_umap_is_fitted_per_fold_and_places_held_out_structures_with_its_transform(informative):
    x, groups, labels = informative
    result = gr.grouped_edge(x, {"host_polymorph": labels}, groups, methods=("umap",), seeds=[0, 1],
                             permutations=20, n_boot=50)
    assert result.placements["umap"] == "umap-sgd"
    score = result.scores["umap"]["host_polymorph"]
    assert score.n_seeds == 2 and score.accuracy >= 0.8  # majority 0.5


@pytest.mark.slow
def test_grouped_runs_in_worker_processes_give_the_in_process_numbers(informative):
    from repository.compare.data import edge_data_from_arrays
    from repository.compare.run import compare

    x, groups, labels = informative
    data = edge_data_from_arrays(x, {"host_polymorph": labels}, groups=groups)
    one = compare([data], methods=("pca",), seeds=1, workers=1, other_recipes={"copy": [data]})[0]
    two = compare([data], methods=("pca",), seeds=1, workers=2, other_recipes={"copy": [data]})[0]
    assert [g.recipe_name for g in two.grouped] == ["absolute", "copy"]
    for a, b in zip(one.grouped, two.grouped):
        assert a.to_dict()["scores"] == b.to_dict()["scores"]


def test_p_is_against_chance_not_against_knn_on_shuffled_labels():
    """The PCA B K polymorph case of docs/compare (before the fix): accuracy 0.70 against a majority
    rate of 0.72, but kNN on shuffled labels scores 0.55-0.65, so the plain permutation p was 0.005."""
    null = np.linspace(0.55, 0.65, 200)
    assert gr.chance_p_value(0.70, null, 0.72) == 1.0  # below the majority rate: no evidence at all
    assert gr.chance_p_value(0.72, null, 0.72) == 1.0  # at it: none either
    assert gr.chance_p_value(0.90, null, 0.72) == pytest.approx(1 / 201)  # above both: as the permutation test
    null[:9] = 0.95  # 9 shuffles as good as the observed 0.90: (1 + 9) / (1 + 200)
    assert gr.chance_p_value(0.90, null, 0.72) == pytest.approx(10 / 201)


def test_a_score_at_or_below_the_majority_rate_never_gets_a_small_p_or_a_tick():
    from repository.compare.report import _grouped_cell

    # imbalanced classes (12 structures of c0, 4 of c1), weakly informative spectra: held-out kNN
    # lands below the majority rate 0.75 although it beats kNN on shuffled labels in some draws
    x, groups, labels = _structures(16, 3, signal=0.3, offset=1.0, seed=2)
    labels = np.array(["c0" if int(g[1:]) < 12 else "c1" for g in groups], dtype=object)
    result = gr.grouped_edge(x, {"host_polymorph": labels}, groups, methods=("pca",), seeds=[0],
                             permutations=99, n_boot=200)
    for series in ("raw", "pca"):
        score = result.scores[series]["host_polymorph"]
        assert score.majority == pytest.approx(0.75)
        assert not score.beats_chance()
    below = result.scores["pca"]["host_polymorph"]
    assert below.accuracy < below.majority and below.p_value == 1.0  # the plain permutation p: 0.47
    shown = gr.GroupedScore(0.70, 0.0, 1, (0.54, 0.80), 1.0, 0.72, 0.56, 92, 19, 5)
    assert _grouped_cell(shown) == "0.70 [0.54, 0.80] p=1.000"
    assert gr.GroupedScore(0.70, 0.0, 1, (0.54, 0.80), 0.005, 0.72, 0.56).to_dict()["p_value_against"] \
        == gr.P_VALUE_AGAINST
