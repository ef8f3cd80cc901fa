"""The fair test: grouped, inductive evaluation of the maps, against chance, with uncertainty.

The spectra of one supercell (6-18 absorber sites of one structure) share the cell's relaxation,
its onset reference and its defect: a protocol that puts sister sites of one cell on both sides of
a train/test split measures how well sister sites find each other, not whether a spectrum tells
its structure. Here every score is *grouped by structure* and *inductive*:

1. **Folds by structure** (:func:`structure_folds`): leave one structure out (default), or grouped
   K-fold over structures; every spectrum of a structure is on the same side of every split.
2. **Fitted on the training structures only**: each method is fitted on the training spectra of a
   fold (UMAP once per seed; PCA and MDS, whose SMACOF starts from classical MDS, are
   deterministic and fitted once), and the held-out spectra are placed with the
   snapshot's own projection (:func:`repository.analysis.project.place`: UMAP's transform
   reimplemented in numpy, PCA's linear map, landmark triangulation for landmark MDS); SMACOF MDS
   (the solver for small sets) has no map of its own, so its ``knn-mean`` start is refined by
   minimising the new point's stress against the fixed training map (:func:`mds_out_of_sample`).
   (Classical MDS would not do: on Euclidean distances it is PCA.)
3. **kNN in the map**: each held-out spectrum gets the majority label of its ``k`` nearest training
   spectra in the 2-D map (ties to the nearest), ``k`` = :data:`~.metrics.KNN_K` lowered to the
   smallest training class. **Raw spectra**: the same classifier on the preprocessed spectra.

Labels (:func:`scoring_labels`) are properties of the structure: host polymorph, host crystal
system, host dimensionality (2 for layered sp2 hosts, 3 for sp3 frameworks) and the defect.
``defect_kind``/``defect_name`` are scored only on sites that see the defect: absorbers within
:data:`~repository.analysis.sites.NEAR_DEFECT_A` of it (first and second neighbour shells), plus every site of a cell without
a defect (class ``none``); farther sites of a defect cell are *left out* (neither trained on nor
tested; they stay in the fitted map). A class is scored only when :data:`MIN_STRUCTURES` or more
structures carry it; the others are left out and named.

Against chance (:class:`GroupedScore`): the **majority-class rate** (always guessing the
commonest scored class), the **stratified random** rate (guessing classes at their frequencies,
sum of squared class shares), a **bootstrap 95 % interval over structures**
(:data:`BOOTSTRAP` resamples of whole structures) and a **label-permutation p-value**: the classes
are shuffled among the scored *structures* (:data:`PERMUTATIONS` times; a structure keeps its
sites and its near/far pattern, only which class it carries changes), the held-out predictions
recomputed from the same fitted maps (the maps never see labels), and p = (1 + #{max(permuted,
majority rate) >= observed}) / (1 + permutations) (:func:`chance_p_value`): p is against *chance*,
the better of kNN on shuffled labels and always guessing the commonest class, so a score at or below
the majority rate gets p = 1 however far the shuffled-label null lies below it.

Descriptors (:func:`descriptor_r2`): the held-out spectrum's value predicted by the mean over its
``k`` nearest training spectra in the map; R^2 = 1 - SS_res / SS_tot over held-out spectra
(SS_tot about the mean of all scored values), with a bootstrap interval over structures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..analysis.sites import NEAR_DEFECT_A  # the one home of "near the defect" (also plots.figure)
from ..errors import UsageError
from . import metrics as m

MIN_STRUCTURES = 3  # a class carried by fewer structures is not scored
# What one group of the folds is (``xasrepo compare --group-by``), and how a run that holds out one
# group per fold is described: "structure", one cell (its host and sister defect cells stay in
# training); "host", a host structure with all its defect cells (a defect type is then scored in a
# host it was never trained on: "defect type" apart from "host"). With "host" every count of
# "structures" below counts hosts.
GROUP_BY = {"structure": "leave one structure out",
            "host": "leave one host out, a host structure with its defect cells"}
BOOTSTRAP = 1000
PERMUTATIONS = 200
P_VALUE_AGAINST = "label permutation over structures, each permuted score raised to the majority rate"
RANDOM_SEED = 0  # bootstrap and permutation draws (fixed: the report is regenerable)
HOST_LABELS = ("host_polymorph", "host_crystal_system", "host_dimensionality")
SITE_LABELS = ("defect_kind", "defect_name")  # scored near the defect only
GROUPED_LABELS = (*HOST_LABELS, *SITE_LABELS)
N_COMPONENTS = 2
REFERENCE = "raw"
# PCA, and SMACOF MDS started from classical MDS (scikit-learn ``init="classical_mds"``, one
# init): the seed changes nothing, so one fit per fold
DETERMINISTIC = frozenset({"pca", "mds"})
MDS_PLACE_ITERATIONS = 500

Progress = Callable[[int, int, str], None]


# ----------------------------------------------------------------------------------------------
# folds and labels


def structure_folds(groups: Sequence, n_folds: int | None = None, seed: int = 0) -> list[np.ndarray]:
    """Held-out index arrays, one per fold, every structure (``groups`` value) in exactly one fold.

    ``n_folds`` None: leave one structure out (one fold per structure, in order of first
    appearance). Otherwise grouped K-fold: structures shuffled with ``seed`` and dealt round-robin
    into ``n_folds`` folds. Raises :class:`UsageError` with fewer than two structures or folds.
    """
    g = np.asarray([str(v) for v in groups], dtype=object)
    order = list(dict.fromkeys(g.tolist()))
    if len(order) < 2:
        raise UsageError(f"grouped folds need at least two structures, the selection has {len(order)}")
    if n_folds is None or n_folds >= len(order):
        return [np.flatnonzero(g == s) for s in order]
    if n_folds < 2:
        raise UsageError(f"grouped K-fold needs at least 2 folds, got {n_folds}")
    shuffled = [order[i] for i in np.random.default_rng(seed).permutation(len(order))]
    folds = [shuffled[i::n_folds] for i in range(n_folds)]
    return [np.flatnonzero(np.isin(g, f)) for f in folds]


@dataclass(frozen=True)
class ScoringLabel:
    """One label as scored: per spectrum its class index (-1: not scored) and what was left out."""

    name: str
    classes: list[str]  # scored classes
    codes: np.ndarray  # (n,) int, -1 where not scored
    structures: dict[str, int]  # scored class -> number of structures
    spectra: dict[str, int]  # scored class -> number of scored spectra
    dropped: dict[str, int]  # class left out -> number of structures
    far_sites: int = 0  # sites of defect cells left out as farther than NEAR_DEFECT_A
    rule: str = ""

    @property
    def scorable(self) -> bool:
        return len(self.classes) >= 2

    @property
    def n_scored(self) -> int:
        return int((self.codes >= 0).sum())

    def majority_rate(self) -> float:
        counts = np.bincount(self.codes[self.codes >= 0], minlength=len(self.classes))
        return float(counts.max() / counts.sum())

    def stratified_rate(self) -> float:
        counts = np.bincount(self.codes[self.codes >= 0], minlength=len(self.classes)).astype(np.float64)
        share = counts / counts.sum()
        return float((share ** 2).sum())


def near_defect_mask(defect_kind: Sequence, distance_a: Sequence, limit_a: float = NEAR_DEFECT_A) -> np.ndarray:
    """Sites whose defect label is scored: cells without a defect (kind ``none``) and absorbers
    within ``limit_a`` (Angstrom) of the defect. A defect site without a stored distance is left out."""
    kind = np.asarray([str(v) for v in defect_kind], dtype=object)
    dist = np.asarray([np.nan if v is None else float(v) for v in distance_a], dtype=np.float64)
    return (kind == "none") | (np.isfinite(dist) & (dist <= limit_a))


def scoring_label(name: str, values: Sequence, groups: Sequence, mask: np.ndarray | None = None,
                  min_structures: int = MIN_STRUCTURES, rule: str = "") -> ScoringLabel:
    """Classes of ``values`` (where ``mask``) carried by at least ``min_structures`` structures."""
    y = np.asarray([str(v) for v in values], dtype=object)
    g = np.asarray([str(v) for v in groups], dtype=object)
    use = np.ones(len(y), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    per_class: dict[str, set] = {}
    for cls, grp in zip(y[use], g[use]):
        per_class.setdefault(cls, set()).add(grp)
    kept = sorted(c for c, s in per_class.items() if len(s) >= min_structures)
    dropped = {c: len(s) for c, s in sorted(per_class.items()) if len(s) < min_structures}
    index = {c: i for i, c in enumerate(kept)}
    codes = np.array([index.get(c, -1) if u else -1 for c, u in zip(y, use)], dtype=np.int64)
    spectra = {c: int((codes == i).sum()) for c, i in index.items()}
    return ScoringLabel(name, kept, codes, {c: len(per_class[c]) for c in kept}, spectra, dropped,
                        int((~use).sum()), rule)


NEAR_DEFECT_RULE = (f"sites within {NEAR_DEFECT_A:g} Å of the defect and every site of cells without one; "
                    "farther sites of defect cells left out")


def label_rows(name: str, near: np.ndarray | None) -> np.ndarray | None:
    """Which spectra carry label ``name`` for scoring and for probe votes (:mod:`.probes`): ``near``
    (:func:`near_defect_mask`) for the site labels (:data:`SITE_LABELS`: a site 3-5 Å from a vacancy
    does not see it, so its ``defect_name`` says nothing about its spectrum), None (all) for the
    others and when the spectra carry no defect distances. The one home of that rule."""
    return near if name in SITE_LABELS and near is not None else None


def scoring_labels(labels: dict[str, np.ndarray], groups: np.ndarray, near: np.ndarray | None,
                   names: Sequence[str] = GROUPED_LABELS) -> dict[str, ScoringLabel]:
    """The labels of :data:`GROUPED_LABELS` present in ``labels``, site labels restricted to ``near``
    (:func:`label_rows`)."""
    out = {}
    for name in names:
        if name not in labels:
            continue
        rows = label_rows(name, near)
        if rows is not None:
            out[name] = scoring_label(name, labels[name], groups, rows, rule=NEAR_DEFECT_RULE)
        else:
            out[name] = scoring_label(name, labels[name], groups, rule="every site; the host structure's label")
    return out


# ----------------------------------------------------------------------------------------------
# held-out neighbours


@dataclass
class HeldOutMap:
    """One method (and seed) under the grouped protocol: for every spectrum, the global indices
    of the training spectra of its fold ordered by distance in the map, nearest first (padded
    with -1 to the longest training set)."""

    method: str
    seed: int | None
    order: np.ndarray  # (n, n_train_max) int
    placement: str = ""


def _ordered_neighbors(train_idx: np.ndarray, train_xy: np.ndarray, test_xy: np.ndarray, width: int) -> np.ndarray:
    d = m.squared_distances(test_xy, train_xy)
    order = np.argsort(d, axis=1, kind="stable")
    out = np.full((test_xy.shape[0], width), -1, dtype=np.int64)
    out[:, :order.shape[1]] = train_idx[order]
    return out


def raw_neighbors(x: np.ndarray, folds: Sequence[np.ndarray]) -> HeldOutMap:
    """The reference: neighbours in the preprocessed spectra, training spectra of each fold only."""
    n = x.shape[0]
    width = max(n - len(f) for f in folds)
    order = np.full((n, width), -1, dtype=np.int64)
    for test in folds:
        train = np.setdiff1d(np.arange(n), test)
        order[test] = _ordered_neighbors(train, x[train], x[test], width)
    return HeldOutMap(REFERENCE, None, order, "spectra")


def _fit(x: np.ndarray, method: str, seed: int, params: dict[str, Any] | None):
    from ..analysis.embed import fit_embedding

    return fit_embedding(x, method, n_components=N_COMPONENTS, seed=seed, params=(params or {}).get(method))


def mds_out_of_sample(train_x: np.ndarray, train_xy: np.ndarray, test_x: np.ndarray, start_xy: np.ndarray, *,
                      max_iter: int = MDS_PLACE_ITERATIONS, tol: float = 1e-10) -> np.ndarray:
    """Out-of-sample placement for metric (SMACOF) MDS: each new point minimises its raw stress
    sum_i (|y - z_i| - delta_i)^2 against the fixed training configuration ``z`` (Trosset & Priebe
    2008, "The out-of-sample problem for classical multidimensional scaling", sec. 4), by the
    one-point Guttman transform y <- mean_i (z_i + delta_i (y - z_i) / |y - z_i|), which never
    increases that stress. ``delta``: Euclidean distances of the preprocessed spectra.

    Shapes: ``train_x`` (n, d), ``train_xy`` (n, 2), ``test_x`` (m, d), ``start_xy`` (m, 2) -> (m, 2)."""
    delta = np.sqrt(m.squared_distances(np.asarray(test_x, np.float64), np.asarray(train_x, np.float64)))
    z = np.asarray(train_xy, dtype=np.float64)
    y = np.asarray(start_xy, dtype=np.float64).copy()
    for _ in range(max_iter):
        diff = y[:, None, :] - z[None, :, :]
        dist = np.sqrt((diff ** 2).sum(axis=2))
        ratio = np.where(dist > 0, delta / np.maximum(dist, 1e-300), 0.0)
        new = (z[None, :, :] + ratio[:, :, None] * diff).mean(axis=1)
        step = np.abs(new - y).max()
        y = new
        if step <= tol * (1.0 + np.abs(z).max()):
            break
    return y


def held_out_map(x: np.ndarray, folds: Sequence[np.ndarray], method: str, seed: int,
                 params: dict[str, Any] | None = None) -> HeldOutMap:
    """Fit ``method`` on the training spectra of each fold, place the held-out ones with
    :func:`repository.analysis.project.place` and order the training spectra by map distance."""
    from ..analysis.project import place

    n = x.shape[0]
    width = max(n - len(f) for f in folds)
    order = np.full((n, width), -1, dtype=np.int64)
    how = ""
    for test in folds:
        train = np.setdiff1d(np.arange(n), test)
        fitted = _fit(x[train], method, seed, params)
        model = {"method": np.str_(fitted.method), "train": x[train].astype(np.float32), "embedding": fitted.coords,
                 **fitted.artifacts}
        placed = []
        for row in x[test]:
            xy, how = place(row, model)
            placed.append(np.asarray(xy, dtype=np.float64).reshape(-1))
        placed = np.array(placed)
        if how == "knn-mean":  # SMACOF MDS: refine the analysis layer's start by stress minimisation
            placed = mds_out_of_sample(x[train], fitted.coords, x[test], placed)
            how = "mds-out-of-sample (stress minimisation from knn-mean)"
        order[test] = _ordered_neighbors(train, fitted.coords, placed, width)
    return HeldOutMap(method, seed, order, how)


# ----------------------------------------------------------------------------------------------
# voting, chance and uncertainty


def _k_for(codes: np.ndarray, folds: Sequence[np.ndarray], n_classes: int, k: int = m.KNN_K) -> np.ndarray:
    """Per spectrum the k used: KNN_K, lowered to the smallest class among its fold's training spectra."""
    out = np.full(codes.shape, k, dtype=np.int64)
    n = codes.size
    for test in folds:
        train = np.setdiff1d(np.arange(n), test)
        counts = np.bincount(codes[train][codes[train] >= 0], minlength=n_classes)
        smallest = counts[counts > 0].min() if (counts > 0).any() else 1
        out[test] = max(1, min(k, int(smallest)))
    return out


def predict(order: np.ndarray, codes: np.ndarray, k: np.ndarray | int, n_classes: int) -> np.ndarray:
    """Majority class among the first ``k`` scored training neighbours of each spectrum (ties go to
    the class met first, i.e. the nearest); -1 where a spectrum is not scored or has no neighbour.

    ``order``: (n, w) neighbour indices (-1 padding); ``codes``: (n,) class index or -1."""
    n = order.shape[0]
    k = np.broadcast_to(np.asarray(k, dtype=np.int64), (n,))
    lab = np.where(order >= 0, codes[np.maximum(order, 0)], -1)
    valid = lab >= 0
    rank = np.cumsum(valid, axis=1)
    take = valid & (rank <= k[:, None])
    counts = np.zeros((n, n_classes), dtype=np.int64)
    rows, cols = np.nonzero(take)
    np.add.at(counts, (rows, lab[rows, cols]), 1)
    first = np.full((n, n_classes), order.shape[1], dtype=np.int64)
    np.minimum.at(first, (rows, lab[rows, cols]), cols)
    top = counts == counts.max(axis=1, keepdims=True)
    guess = np.argmin(np.where(top, first, order.shape[1] + 1), axis=1)
    guess[(codes < 0) | (counts.sum(axis=1) == 0)] = -1
    return guess


def _structure_sums(hit: np.ndarray, scored: np.ndarray, group_index: np.ndarray, n_groups: int):
    correct = np.bincount(group_index[scored], weights=hit[scored], minlength=n_groups)
    total = np.bincount(group_index[scored], minlength=n_groups).astype(np.float64)
    return correct, total


def bootstrap_interval(hit: np.ndarray, scored: np.ndarray, group_index: np.ndarray, *, n_boot: int = BOOTSTRAP,
                       seed: int = RANDOM_SEED) -> tuple[float, float]:
    """95 % percentile interval of the accuracy when whole structures are resampled with replacement.

    ``hit``: (n,) per-spectrum correctness in [0, 1] (mean over seeds); ``group_index``: (n,) int."""
    n_groups = int(group_index.max()) + 1
    correct, total = _structure_sums(hit, scored, group_index, n_groups)
    present = np.flatnonzero(total > 0)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, present.size, size=(n_boot, present.size))
    picked = present[draws]
    acc = correct[picked].sum(axis=1) / total[picked].sum(axis=1)
    lo, hi = np.percentile(acc, [2.5, 97.5])
    return float(lo), float(hi)


def permute_by_structure(codes: np.ndarray, group_index: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Classes shuffled among the scored structures: each structure's scored sites all take the
    class of another (random) scored structure; unscored sites stay unscored."""
    scored = codes >= 0
    groups = np.unique(group_index[scored])
    cls = np.array([codes[scored & (group_index == s)][0] for s in groups])
    shuffled = rng.permutation(cls)
    mapping = np.full(int(group_index.max()) + 1, -1, dtype=np.int64)
    mapping[groups] = shuffled
    return np.where(scored, mapping[group_index], -1)


def constant_within_structures(codes: np.ndarray, group_index: np.ndarray) -> bool:
    scored = codes >= 0
    for s in np.unique(group_index[scored]):
        if np.unique(codes[scored & (group_index == s)]).size > 1:
            return False
    return True


@dataclass
class GroupedScore:
    """Grouped held-out accuracy of one label in one series (method or raw), against chance."""

    accuracy: float | None  # mean over seeds
    sd: float | None  # sample sd over seeds
    n_seeds: int
    ci: tuple[float, float] | None  # bootstrap 95 % over structures
    p_value: float | None  # against chance (:func:`chance_p_value`): label permutation floored at the majority rate
    majority: float | None
    stratified: float | None
    n_scored: int = 0
    n_structures: int = 0
    k: int = 0

    def text(self, digits: int = 2) -> str:
        if self.accuracy is None:
            return "n/a"
        out = f"{self.accuracy:.{digits}f}"
        if self.ci is not None:
            out += f" [{self.ci[0]:.{digits}f}, {self.ci[1]:.{digits}f}]"
        return out

    def beats_chance(self, alpha: float = 0.05) -> bool:
        return (self.accuracy is not None and self.p_value is not None and self.p_value < alpha
                and self.ci is not None and self.majority is not None and self.ci[0] > self.majority)

    def to_dict(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "sd_over_seeds": self.sd, "n_seeds": self.n_seeds,
                "ci95": list(self.ci) if self.ci else None, "p_value": self.p_value, "p_value_against": P_VALUE_AGAINST,
                "majority_rate": self.majority, "stratified_random_rate": self.stratified,
                "n_scored_spectra": self.n_scored, "n_structures": self.n_structures, "k": self.k}


def chance_p_value(observed: float, permuted: np.ndarray, majority_rate: float) -> float:
    """p-value of an accuracy ``observed`` against chance: the share (with the +1 of a Monte-Carlo
    test, Phipson & Smyth 2010) of label permutations that score at least as well, where each
    permutation's accuracy is first raised to ``majority_rate``.

    Why the floor: kNN on permuted labels scores *below* the majority rate (a vote among shuffled
    neighbours guesses classes at about their frequencies), so the plain permutation null answers
    "better than kNN on shuffled labels", not "better than chance": an accuracy of 0.70 against a
    majority rate of 0.72 gets p = 0.01 from it. Always guessing the commonest class needs no
    spectra, so chance is the better of the two; an accuracy at or below the majority rate gets p = 1.
    """
    null = np.maximum(np.asarray(permuted, dtype=np.float64), float(majority_rate))
    return float((1 + np.sum(null >= observed - 1e-12)) / (1 + null.size))


def score_label(maps: Sequence[HeldOutMap], label: ScoringLabel, folds: Sequence[np.ndarray], group_index: np.ndarray,
                *, permutations: int = PERMUTATIONS, n_boot: int = BOOTSTRAP, seed: int = RANDOM_SEED) -> GroupedScore:
    """:class:`GroupedScore` of ``label`` from the held-out neighbour orders of one series (one map
    per seed); permutation and bootstrap draws are seeded with ``seed``."""
    codes = label.codes
    scored = codes >= 0
    n_classes = len(label.classes)
    k = _k_for(codes, folds, n_classes)

    def hits(c: np.ndarray) -> np.ndarray:
        per_seed = [(predict(mp.order, c, k, n_classes) == c) & (c >= 0) for mp in maps]
        return np.mean(per_seed, axis=0), [float(h[c >= 0].mean()) for h in per_seed]

    hit, per_seed = hits(codes)
    acc, sd, n_seeds = m.mean_sd(per_seed)
    ci = bootstrap_interval(hit, scored, group_index, n_boot=n_boot, seed=seed) if n_boot else None
    p_value = None
    if permutations:
        rng = np.random.default_rng(seed)
        if constant_within_structures(codes, group_index):
            permuted = [permute_by_structure(codes, group_index, rng) for _ in range(permutations)]
        else:  # not a structure-level label: shuffle the scored spectra instead
            permuted = []
            for _ in range(permutations):
                c = codes.copy()
                c[scored] = rng.permutation(codes[scored])
                permuted.append(c)
        null = np.array([hits(c)[0][scored].mean() for c in permuted])
        p_value = chance_p_value(float(hit[scored].mean()), null, label.majority_rate())
    return GroupedScore(acc, sd, n_seeds, ci, p_value, label.majority_rate(), label.stratified_rate(),
                        label.n_scored, int(np.unique(group_index[scored]).size), int(k[scored].min()))


def descriptor_r2(maps: Sequence[HeldOutMap], values: np.ndarray, group_index: np.ndarray, *, k: int = m.KNN_K,
                  n_boot: int = BOOTSTRAP, seed: int = RANDOM_SEED) -> dict[str, Any]:
    """Held-out R^2 of a descriptor predicted from the map (mean over the ``k`` nearest training
    spectra with a value), mean over seeds, with a bootstrap 95 % interval over structures.

    R^2 = 1 - sum (y - yhat)^2 / sum (y - mean(y))^2 over the spectra with a value (mean(y) over
    all of them); negative when the map predicts worse than that constant."""
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    if ok.sum() < 5 or np.ptp(v[ok]) == 0:
        return {"r2": None, "sd_over_seeds": None, "ci95": None, "n": int(ok.sum())}
    mean = v[ok].mean()
    preds = []
    for mp in maps:
        lab = np.where(mp.order >= 0, ok[np.maximum(mp.order, 0)], False)
        rank = np.cumsum(lab, axis=1)
        take = lab & (rank <= k)
        vals = np.where(take, v[np.maximum(mp.order, 0)], 0.0)
        cnt = take.sum(axis=1)
        pred = np.where(cnt > 0, vals.sum(axis=1) / np.maximum(cnt, 1), mean)
        preds.append(pred)
    ss_tot = ((v[ok] - mean) ** 2).sum()
    r2s = [1.0 - ((v[ok] - p[ok]) ** 2).sum() / ss_tot for p in preds]
    r2, sd, _ = m.mean_sd(r2s)
    pred = np.mean(preds, axis=0)
    n_groups = int(group_index.max()) + 1
    res = np.bincount(group_index[ok], weights=(v[ok] - pred[ok]) ** 2, minlength=n_groups)
    tot = np.bincount(group_index[ok], weights=(v[ok] - mean) ** 2, minlength=n_groups)
    present = np.flatnonzero(np.bincount(group_index[ok], minlength=n_groups) > 0)
    ci = None
    if n_boot and present.size >= 2:
        rng = np.random.default_rng(seed)
        picked = present[rng.integers(0, present.size, size=(n_boot, present.size))]
        denom = tot[picked].sum(axis=1)
        good = denom > 0
        boot = 1.0 - res[picked].sum(axis=1)[good] / denom[good]
        ci = [float(x) for x in np.percentile(boot, [2.5, 97.5])] if boot.size else None
    return {"r2": r2, "sd_over_seeds": sd, "ci95": ci, "n": int(ok.sum())}


# ----------------------------------------------------------------------------------------------
# one edge


@dataclass
class GroupedResult:
    """Everything the grouped protocol measured on one element and edge with one recipe."""

    recipe_name: str
    recipe: dict[str, Any] | None
    n_spectra: int
    n_structures: int
    folds: str  # "leave one structure out" or "grouped K-fold (K = ...)"
    n_folds: int
    labels: dict[str, ScoringLabel] = field(default_factory=dict)
    scores: dict[str, dict[str, GroupedScore]] = field(default_factory=dict)  # series -> label -> score
    descriptors: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # series -> name -> r2
    placements: dict[str, str] = field(default_factory=dict)  # method -> how held-out spectra were placed
    unscorable: dict[str, str] = field(default_factory=dict)  # label -> why it is not scored
    notes: list[str] = field(default_factory=list)
    cpu_s: float | None = None  # CPU seconds of this run (in whichever process ran it)
    sister_nearest: float | None = None  # share of spectra whose nearest spectrum is in their own structure
    group_by: str = "structure"  # GROUP_BY: what n_structures and the folds count

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipe_name": self.recipe_name, "cpu_s": self.cpu_s, "sister_nearest_fraction": self.sister_nearest, "recipe": self.recipe, "n_spectra": self.n_spectra,
            "n_structures": self.n_structures, "group_by": self.group_by, "folds": self.folds, "n_folds": self.n_folds,
            "near_defect_a": NEAR_DEFECT_A, "min_structures": MIN_STRUCTURES,
            "labels": {name: {"classes": lab.classes, "structures": lab.structures, "spectra": lab.spectra,
                              "left_out_classes": lab.dropped, "far_sites_left_out": lab.far_sites, "rule": lab.rule}
                       for name, lab in self.labels.items()},
            "unscorable": self.unscorable, "placements": self.placements,
            "scores": {s: {lb: sc.to_dict() for lb, sc in by.items()} for s, by in self.scores.items()},
            "descriptor_r2": self.descriptors, "notes": self.notes,
        }


def sister_nearest_fraction(x: np.ndarray, groups: Sequence) -> float | None:
    """Share of spectra whose nearest other spectrum (Euclidean, preprocessed) belongs to the same
    structure: what a protocol that splits spectra rather than structures rewards. None when no
    structure has two spectra."""
    g = np.asarray([str(v) for v in groups], dtype=object)
    counts = Counter(g.tolist())
    if x.shape[0] < 2 or max(counts.values()) < 2:
        return None
    d = m.squared_distances(np.asarray(x, dtype=np.float64), np.asarray(x, dtype=np.float64))
    np.fill_diagonal(d, np.inf)
    return float((g[d.argmin(axis=1)] == g).mean())


def check_scorable(labels: dict[str, ScoringLabel], n_structures: int, what: str) -> None:
    """Refuse (UsageError, one line) a selection with fewer than two scorable classes in every
    label, or fewer than two structures (no grouped fold can be formed)."""
    if n_structures < 2:
        raise UsageError(f"{what}: {n_structures} structure(s); grouped folds need at least two structures")
    if not any(lab.scorable for lab in labels.values()):
        raise UsageError(f"{what}: no label has two classes carried by {MIN_STRUCTURES} or more structures each "
                         "(nothing can be scored against chance)")


def grouped_edge(x: np.ndarray, labels: dict[str, np.ndarray], groups: np.ndarray, *,
                 near: np.ndarray | None = None, descriptors: dict[str, np.ndarray] | None = None,
                 methods: Sequence[str] = ("umap", "pca", "mds"), seeds: Sequence[int] = (0,),
                 n_folds: int | None = None, params: dict[str, dict[str, Any]] | None = None,
                 recipe_name: str = "", recipe: dict[str, Any] | None = None, what: str = "the selection",
                 permutations: int = PERMUTATIONS, n_boot: int = BOOTSTRAP,
                 progress: Progress | None = None, group_by: str = "structure") -> GroupedResult:
    """The grouped protocol (module docstring) on one preprocessed matrix ``x`` (n, d).

    ``groups``: (n,) structure ids (or host ids, ``group_by`` "host": :data:`GROUP_BY`); ``near``:
    (n,) bool, sites whose defect label is scored (:func:`near_defect_mask`); ``seeds``: per random
    method (PCA and MDS are fitted once per fold).
    Raises :class:`UsageError` when nothing can be scored (:func:`check_scorable`)."""
    tick = progress or (lambda _d, _t, _m: None)
    groups = np.asarray([str(v) for v in groups], dtype=object)
    _, group_index = np.unique(groups, return_inverse=True)
    n_structures = int(group_index.max()) + 1 if groups.size else 0
    scoring = scoring_labels(labels, groups, near)
    check_scorable(scoring, n_structures, what)
    folds = structure_folds(groups, n_folds)
    result = GroupedResult(recipe_name, recipe, x.shape[0], n_structures,
                           GROUP_BY[group_by] if len(folds) == n_structures else f"grouped {len(folds)}-fold",
                           len(folds), labels=scoring, group_by=group_by)
    for name, lab in scoring.items():
        if not lab.scorable:
            result.unscorable[name] = (f"fewer than two classes carried by {MIN_STRUCTURES}+ structures "
                                       f"(left out: {', '.join(f'{c} ({s})' for c, s in lab.dropped.items()) or 'none'})")
    result.sister_nearest = sister_nearest_fraction(x, groups)
    series: dict[str, list[HeldOutMap]] = {REFERENCE: [raw_neighbors(x, folds)]}
    seed_list = list(seeds) or [0]
    total = sum(1 if meth in DETERMINISTIC else len(seed_list) for meth in methods)
    done = 0
    for meth in methods:
        for s in (seed_list[:1] if meth in DETERMINISTIC else seed_list):
            tick(done, total, f"{what}: {meth} seed {s}, {len(folds)} grouped folds")
            try:
                series.setdefault(meth, []).append(held_out_map(x, folds, meth, s, params))
            except UsageError as err:
                result.notes.append(f"{meth.upper()} could not be fitted on a training fold: {err}")
            done += 1
        if series.get(meth):
            result.placements[meth] = series[meth][0].placement
    for name, maps in series.items():
        result.scores[name] = {lb: score_label(maps, sl, folds, group_index, permutations=permutations, n_boot=n_boot)
                               for lb, sl in scoring.items() if sl.scorable}
        result.descriptors[name] = {d: descriptor_r2(maps, v, group_index, n_boot=n_boot)
                                    for d, v in (descriptors or {}).items()}
    tick(total, total, f"{what}: scored")
    return result


def majority_counts(values: Sequence) -> dict[str, int]:
    return dict(sorted(Counter(str(v) for v in values).items()))
