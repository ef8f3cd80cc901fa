"""Quality measures of an embedding, as pure functions of arrays and labels.

Every function takes plain numpy arrays (rows are spectra) and returns plain values or small
frozen records, so they can be tested on SYNTHETIC data with known structure and reused on any
embedding. They are written for small data sets (tens to a few hundred spectra): wherever a
measure is undefined for the data at hand (one class, classes with a single member, fewer spectra
than neighbours) it says why instead of returning a number that means nothing.

* :func:`knn_cv_accuracy` -- stratified K-fold cross-validated accuracy of a k-nearest-neighbour
  classifier (Euclidean), with the majority-class rate as the chance level;
* :func:`silhouette` -- scikit-learn's silhouette score of a labelling;
* :func:`trustworthiness` -- scikit-learn's trustworthiness (Venna & Kaski) of an embedding;
* :func:`spearman_axes` / :func:`neighborhood_spearman` -- how a continuous descriptor varies
  with the embedding coordinates and how well a point's neighbours predict it;
* :func:`nearest_label_accuracy` -- identification of held-out points by their nearest
  training points;
* :func:`mean_sd` / :class:`Stat` -- mean and sample standard deviation over seeds.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

KNN_K = 5
CV_FOLDS = 5
TRUSTWORTHINESS_K = 10
MIN_CLASS_SIZE = 2  # a class needs one member to train on and one to test


@dataclass(frozen=True)
class LabelScore:
    """kNN accuracy of one labelling; ``accuracy`` is None when it is undefined (``reason``)."""

    accuracy: float | None
    chance: float | None  # the majority-class rate among the spectra used
    n_used: int
    n_classes: int
    k: int
    folds: int
    class_counts: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)  # classes left out (fewer than 2 members)
    reason: str | None = None


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between the rows of ``a`` and ``b`` (clipped at 0)."""
    aa = np.einsum("ij,ij->i", a, a)[:, None]
    bb = np.einsum("ij,ij->i", b, b)[None, :]
    return np.maximum(aa + bb - 2.0 * (a @ b.T), 0.0)


def _labels(labels: Sequence) -> np.ndarray:
    return np.asarray(["none" if v is None else str(v) for v in labels], dtype=object)


def usable_classes(labels: Sequence, min_size: int = MIN_CLASS_SIZE) -> tuple[np.ndarray, dict[str, int], dict[str, int]]:
    """(mask of spectra in classes with at least ``min_size`` members, kept counts, dropped counts)."""
    y = _labels(labels)
    counts = Counter(y.tolist())
    kept = {c: n for c, n in sorted(counts.items()) if n >= min_size}
    dropped = {c: n for c, n in sorted(counts.items()) if n < min_size}
    mask = np.array([v in kept for v in y], dtype=bool)
    return mask, kept, dropped


def knn_cv_accuracy(x: np.ndarray, labels: Sequence, *, k: int = KNN_K, folds: int = CV_FOLDS,
                    seed: int = 0) -> LabelScore:
    """Stratified ``folds``-fold cross-validated accuracy of a ``k``-nearest-neighbour classifier.

    Classes with fewer than two members are left out (reported in ``dropped``); the number of
    folds is lowered to the smallest class size when a class is smaller than ``folds`` (so every
    fold can hold every class), and ``k`` to the number of training spectra of the smallest class
    (``k`` reports the smallest value used). The chance level is the
    majority-class rate among the spectra used (what always guessing the commonest class scores).
    """
    from sklearn.model_selection import StratifiedKFold
    from sklearn.neighbors import KNeighborsClassifier

    x = np.asarray(x, dtype=np.float64)
    mask, kept, dropped = usable_classes(labels)
    y = _labels(labels)[mask]
    xs = x[mask]
    n = int(mask.sum())
    if len(kept) < 2:
        return LabelScore(None, None, n, len(kept), k, 0, kept, dropped,
                          reason="fewer than two classes with at least two spectra")
    n_folds = max(2, min(int(folds), min(kept.values())))
    chance = max(kept.values()) / n
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    correct = 0
    k_used = k
    for train, test in splitter.split(xs, y):
        # never more neighbours than the smallest class has training members: with a handful of
        # spectra a larger k turns the classifier into a majority vote that a small class cannot win
        k_fold = max(1, min(k, min(Counter(y[train].tolist()).values())))
        k_used = min(k_used, k_fold)
        model = KNeighborsClassifier(n_neighbors=k_fold).fit(xs[train], y[train])
        correct += int((model.predict(xs[test]) == y[test]).sum())
    return LabelScore(correct / n, chance, n, len(kept), k_used, n_folds, kept, dropped)


def silhouette(x: np.ndarray, labels: Sequence) -> float | None:
    """Silhouette score (Euclidean) of the labelling, over classes with at least two members.

    None when it is undefined: fewer than two such classes, or as many classes as spectra.
    """
    from sklearn.metrics import silhouette_score

    mask, kept, _ = usable_classes(labels)
    n = int(mask.sum())
    if len(kept) < 2 or len(kept) >= n:
        return None
    return float(silhouette_score(np.asarray(x, dtype=np.float64)[mask], _labels(labels)[mask]))


def trustworthiness_k(n: int, k: int = TRUSTWORTHINESS_K) -> int:
    """The neighbourhood size actually used: scikit-learn needs k < n / 2."""
    return max(1, min(int(k), math.ceil(n / 2) - 1))


def trustworthiness(x_high: np.ndarray, x_low: np.ndarray, k: int = TRUSTWORTHINESS_K) -> tuple[float | None, int]:
    """(trustworthiness, k used): 1 when every embedding neighbour is a neighbour in ``x_high`` too.

    ``k`` is lowered for small sets (it must stay below n / 2); None for fewer than 4 points.
    """
    from sklearn.manifold import trustworthiness as sk_trustworthiness

    n = np.asarray(x_high).shape[0]
    if n < 4:
        return None, 0
    k_used = trustworthiness_k(n, k)
    return float(sk_trustworthiness(np.asarray(x_high, dtype=np.float64), np.asarray(x_low, dtype=np.float64),
                                    n_neighbors=k_used)), k_used


@dataclass(frozen=True)
class Correlation:
    """Spearman rank correlation of a descriptor with something; None where undefined."""

    rho: float | None
    p_value: float | None
    n: int


def _spearman(a: np.ndarray, b: np.ndarray) -> Correlation:
    from scipy.stats import spearmanr

    ok = np.isfinite(a) & np.isfinite(b)
    n = int(ok.sum())
    if n < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return Correlation(None, None, n)
    result = spearmanr(a[ok], b[ok])
    return Correlation(float(result.statistic), float(result.pvalue), n)


def spearman_axes(coords: np.ndarray, values: np.ndarray) -> list[Correlation]:
    """Spearman correlation of ``values`` (NaN = missing) with each embedding coordinate."""
    coords = np.asarray(coords, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    return [_spearman(coords[:, j], values) for j in range(coords.shape[1])]


def neighbor_means(coords: np.ndarray, values: np.ndarray, k: int = KNN_K) -> np.ndarray:
    """For each point with a value, the mean value of its ``k`` nearest other points that have one."""
    coords = np.asarray(coords, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    known = np.flatnonzero(np.isfinite(values))
    out = np.full(values.shape, np.nan)
    if known.size < 2:
        return out
    d = squared_distances(coords[known], coords[known])
    np.fill_diagonal(d, np.inf)
    kk = min(k, known.size - 1)
    nearest = np.argsort(d, axis=1, kind="stable")[:, :kk]
    out[known] = values[known][nearest].mean(axis=1)
    return out


def neighborhood_k(n: int, k: int = KNN_K) -> int:
    """Neighbours averaged for a point among ``n`` with values: at most a third of the others.

    Averaging over nearly all other points makes the neighbour mean (total - own) / (n - 1), which
    is perfectly anti-correlated with the point's own value whatever the embedding.
    """
    return max(1, min(int(k), (n - 1) // 3))


def neighborhood_spearman(coords: np.ndarray, values: np.ndarray, k: int = KNN_K) -> Correlation:
    """Spearman correlation between each point's value and the mean value of its nearest
    neighbours in ``coords`` (``k``, lowered by :func:`neighborhood_k` for small sets): high when
    the embedding puts spectra with similar descriptor values together, whatever the orientation
    of its axes."""
    values = np.asarray(values, dtype=np.float64)
    n = int(np.isfinite(values).sum())
    return _spearman(values, neighbor_means(coords, values, neighborhood_k(n, k)))


def nearest_label_accuracy(train: np.ndarray, train_labels: Sequence, test: np.ndarray, test_labels: Sequence,
                           k: int = 1) -> float | None:
    """Fraction of ``test`` points whose ``k`` nearest ``train`` points (majority vote, ties to the
    nearest) carry their label; None without test points."""
    train = np.asarray(train, dtype=np.float64)
    test = np.asarray(test, dtype=np.float64)
    ytr, yte = _labels(train_labels), _labels(test_labels)
    if test.shape[0] == 0 or train.shape[0] == 0:
        return None
    d = squared_distances(test, train)
    order = np.argsort(d, axis=1, kind="stable")[:, :min(k, train.shape[0])]
    hits = 0
    for i, row in enumerate(order):
        votes = Counter(ytr[row].tolist())
        top = max(votes.values())
        guess = next(ytr[j] for j in row if votes[ytr[j]] == top)  # ties go to the nearest
        hits += int(guess == yte[i])
    return hits / test.shape[0]


def mean_sd(values: Sequence[float | None]) -> tuple[float | None, float | None, int]:
    """(mean, sample standard deviation, count) of the defined values; sd is 0 for one value."""
    vals = np.array([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    if vals.size == 0:
        return None, None, 0
    sd = float(vals.std(ddof=1)) if vals.size > 1 else 0.0
    return float(vals.mean()), sd, int(vals.size)


@dataclass(frozen=True)
class Stat:
    """Mean and sample standard deviation of a score over seeds (``n`` defined values)."""

    mean: float | None
    sd: float | None
    n: int

    @classmethod
    def of(cls, values: Sequence[float | None]) -> Stat:
        """The statistic of the defined values (None and non-finite values are left out)."""
        return cls(*mean_sd(values))

    def text(self, digits: int = 2) -> str:
        """``"0.80 ± 0.03"`` (the sd only when it shows at ``digits`` decimals), or ``"n/a"``."""
        if self.mean is None:
            return "n/a"
        if self.n <= 1 or not self.sd or self.sd < 0.5 * 10 ** -digits:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.sd:.{digits}f}"

    def to_dict(self) -> dict[str, Any]:
        """``{"mean", "sd", "n"}`` for JSON."""
        return {"mean": self.mean, "sd": self.sd, "n": self.n}
