"""The comparison itself: the same preprocessed spectra embedded by UMAP, PCA and MDS, scored.

For one :class:`~repository.compare.data.EdgeData` (one element and edge), :func:`compare_edge`

1. fits every method on all spectra, once per seed (PCA is deterministic: one fit), and scores
   each fit: trustworthiness (k = 10), 5-fold kNN accuracy (k = 5) and silhouette for each label,
   Spearman correlations of the coordinates and of local neighbourhoods with each descriptor;
2. scores the raw preprocessed spectra the same way (the reference: what the spectra themselves
   separate before any reduction to two dimensions);
3. identification: for each seed, holds out :data:`HOLDOUT_FRACTION` of the spectra, fits on the
   rest, places the held-out spectra with the analysis layer's projection
   (:func:`repository.analysis.project.place`), and counts how often the nearest training spectra
   carry the right polymorph and defect kind;
4. probes (external spectra, :mod:`.probes`): places each into every fit of step 1 with the same
   placement, and lists the labels of its :data:`~.probes.PROBE_K` nearest spectra in each map and
   in the raw spectra.

Results are mean +- sample standard deviation over seeds (:class:`Stat`). Embedding and
preprocessing are the analysis layer's (:mod:`repository.analysis.embed`), never re-implemented.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import UsageError
from ..analysis.embed import METHODS as EMBEDDING_METHODS
from ..analysis.embed import fit_embedding, method_params
from ..analysis.project import place
from . import metrics as m
from .data import LABELS, EdgeData, load_edges
from .metrics import Stat
from .probes import Placement, ProbeResult, ProbeSpec, nearest, parse_probe, prepare_probes

METHODS = EMBEDDING_METHODS  # every method, in report order
DETERMINISTIC = frozenset({"pca"})  # one fit whatever the seed
REFERENCE = "raw"  # the preprocessed spectra themselves
DEFAULT_SEEDS = 5
HOLDOUT_FRACTION = 0.2
IDENTIFY_LABELS = ("polymorph", "defect_kind")
IDENTIFY_K = (1, 3)
MIN_CORRELATION_N = 5  # descriptors with fewer values than this are not correlated
N_COMPONENTS = 2
CV_SEED = 0  # the same folds for every method and seed: the spread over seeds is the embedding's alone

Progress = Callable[[int, int, str], None]


@dataclass
class EdgeComparison:
    """Everything measured for one element and edge (see the module docstring)."""

    element: str
    edge: str
    n_spectra: int
    seeds: list[int]
    methods: list[str]
    recipe: dict[str, Any] | None
    class_counts: dict[str, dict[str, int]]
    trust_k: int = 0
    trustworthiness: dict[str, Stat] = field(default_factory=dict)
    knn: dict[str, dict[str, Stat]] = field(default_factory=dict)  # method|raw -> label -> accuracy
    knn_reference: dict[str, m.LabelScore] = field(default_factory=dict)  # label -> raw score (seed 0)
    silhouette: dict[str, dict[str, Stat]] = field(default_factory=dict)
    axis_rho: dict[str, dict[str, Stat]] = field(default_factory=dict)  # method -> descriptor -> max |rho|
    neighbourhood_rho: dict[str, dict[str, Stat]] = field(default_factory=dict)  # method|raw -> descriptor
    descriptor_counts: dict[str, int] = field(default_factory=dict)
    identification: dict[str, dict[str, dict[int, Stat]]] = field(default_factory=dict)  # method|raw -> label -> k
    n_test: int = 0
    coords: dict[str, np.ndarray] = field(default_factory=dict)  # seed-0 embedding of all spectra
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    descriptors: dict[str, np.ndarray] = field(default_factory=dict)
    ids: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # method -> full parameter set
    probes: list[Any] = field(default_factory=list)  # probes.ProbeResult, one per external spectrum
    probe_labels: dict[str, np.ndarray] = field(default_factory=dict)  # labels listed for probe neighbours

    @property
    def name(self) -> str:
        return f"{self.element} {self.edge}"

    def scored_labels(self) -> list[str]:
        """Labels with at least two classes of two or more spectra (the others cannot be scored)."""
        return [label for label, score in self.knn_reference.items() if score.accuracy is not None]

    def to_dict(self) -> dict[str, Any]:
        def stats(d):
            return {k: (v.to_dict() if isinstance(v, Stat) else stats(v)) for k, v in d.items()}

        return {
            "element": self.element, "edge": self.edge, "n_spectra": self.n_spectra, "seeds": self.seeds,
            "methods": self.methods, "params": self.params, "recipe": self.recipe, "class_counts": self.class_counts,
            "trustworthiness_k": self.trust_k, "trustworthiness": stats(self.trustworthiness),
            "knn_accuracy": stats(self.knn),
            "knn_setup": {label: {"chance": s.chance, "n_used": s.n_used, "n_classes": s.n_classes, "k": s.k,
                                  "folds": s.folds, "dropped_classes": s.dropped, "reason": s.reason}
                          for label, s in self.knn_reference.items()},
            "silhouette": stats(self.silhouette), "axis_max_abs_spearman": stats(self.axis_rho),
            "neighbourhood_spearman": stats(self.neighbourhood_rho), "descriptor_counts": self.descriptor_counts,
            "identification": {meth: {label: {f"k{k}": s.to_dict() for k, s in by_k.items()}
                                      for label, by_k in by_label.items()}
                               for meth, by_label in self.identification.items()},
            "n_held_out": self.n_test, "verdicts": verdicts(self), "notes": self.notes,
            "probes": [p.to_dict(self.ids, self.probe_labels, [REFERENCE, *self.methods]) for p in self.probes],
        }


def holdout_split(columns: Sequence[Sequence], fraction: float = HOLDOUT_FRACTION, seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices: about ``fraction`` of the spectra held out at random, never the last
    training member of a class in any of the label ``columns`` (a spectrum whose polymorph or defect
    kind is absent from the training set cannot be identified, only mislabelled)."""
    columns = [[str(v) for v in column] for column in columns]
    n = len(columns[0])
    n_test = round(fraction * n)
    remaining = [Counter(column) for column in columns]
    order = np.random.default_rng(seed).permutation(n)
    test = []
    for i in order:
        if len(test) >= n_test:
            break
        if all(count[column[i]] > 1 for count, column in zip(remaining, columns)):
            test.append(int(i))
            for count, column in zip(remaining, columns):
                count[column[i]] -= 1
    test_arr = np.sort(np.asarray(test, dtype=np.int64))
    train = np.setdiff1d(np.arange(n), test_arr)
    return train, test_arr


def _fit(x: np.ndarray, method: str, seed: int, params: dict[str, Any] | None):
    return fit_embedding(x, method, n_components=N_COMPONENTS, seed=seed, params=(params or {}).get(method))


def _try_fit(x: np.ndarray, method: str, seed: int, params, notes: list[str], what: str):
    """The fit, or None with a note saying why it failed (one method failing on a tiny or degenerate
    set must not hide the others' numbers)."""
    try:
        return _fit(x, method, seed, params)
    except Exception as err:  # noqa: BLE001 - reported in the result, never silently dropped
        note = f"{method.upper()} could not be fitted {what} ({type(err).__name__}: {err})"
        if note not in notes:
            notes.append(note)
        return None


def _model(fitted, x_train: np.ndarray) -> dict[str, Any]:
    """The fit as the analysis layer's projection sees a snapshot's model."""
    return {"method": np.str_(fitted.method), "train": x_train.astype(np.float32), "embedding": fitted.coords,
            **fitted.artifacts}


def _place(fitted, x_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    model = _model(fitted, x_train)
    return np.array([place(row, model)[0] for row in x_test], dtype=np.float64).reshape(len(x_test), -1)


def _place_probes(results: list, fitted, x: np.ndarray, method: str, seed: int) -> None:
    """Each probe into the fit on all spectra (the placement identification uses), its nearest spectra."""
    model = _model(fitted, x)
    for result in results:
        coords, how = place(result.probe.vector, model)
        coords = np.asarray(coords, dtype=np.float64).reshape(-1)
        rows, dists = nearest(fitted.coords, coords, result.k)
        result.placements.setdefault(method, []).append(
            Placement(seed, how, [float(c) for c in coords], rows, dists))


def _descriptors_worth_scoring(data: EdgeData) -> dict[str, np.ndarray]:
    out = {}
    for name, values in data.descriptors.items():
        ok = np.isfinite(values)
        if ok.sum() >= MIN_CORRELATION_N and np.ptp(values[ok]) > 0:
            out[name] = values
    return out


def compare_edge(data: EdgeData, *, methods: Sequence[str] = METHODS, seeds: int | Sequence[int] = DEFAULT_SEEDS,
                 params: dict[str, dict[str, Any]] | None = None, identify: bool = True,
                 probes: Sequence[Any] = (), progress: Progress | None = None) -> EdgeComparison:
    """Embed ``data`` with each method and seed and score the embeddings (module docstring).

    ``probes``: :class:`~.probes.Probe` objects of this edge (:func:`~.probes.prepare_probes`), placed
    into every fit on all spectra; the results are in ``EdgeComparison.probes``."""
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list:
        seed_list = [0]
    tick = progress or (lambda _done, _total, _message: None)
    n = len(data)
    x = data.matrix
    result = EdgeComparison(
        data.element, data.edge, n, seed_list, list(methods), data.recipe.to_dict() if data.recipe else None,
        {label: dict(sorted(Counter(values.tolist()).items())) for label, values in data.labels.items()},
        labels=data.labels, ids=data.ids, notes=list(data.notes))
    result.params = {meth: method_params(meth, (params or {}).get(meth)) for meth in methods}
    labels = {label: data.labels[label] for label in LABELS if label in data.labels}
    descriptors = _descriptors_worth_scoring(data)
    result.descriptors = descriptors
    result.descriptor_counts = {name: int(np.isfinite(v).sum()) for name, v in descriptors.items()}

    # the reference: raw preprocessed spectra
    result.knn_reference = {label: m.knn_cv_accuracy(x, y, seed=CV_SEED) for label, y in labels.items()}
    result.knn[REFERENCE] = {label: Stat.of([score.accuracy]) for label, score in result.knn_reference.items()}
    result.silhouette[REFERENCE] = {label: Stat.of([m.silhouette(x, y)]) for label, y in labels.items()}
    result.neighbourhood_rho[REFERENCE] = {name: Stat.of([m.neighbourhood_spearman(x, v).rho])
                                           for name, v in descriptors.items()}
    if probes:
        result.probe_labels = {**labels, **data.extra_labels}
        for probe in probes:
            if (probe.element, probe.edge) != (data.element, data.edge) or probe.vector.shape != (x.shape[1],):
                raise UsageError(f"{probe.spec.path}: prepared for {probe.element} {probe.edge}, not {data.name}")
            probe_result = ProbeResult(probe)
            rows, dists = nearest(x, probe.vector, probe_result.k)
            probe_result.placements[REFERENCE] = [Placement(None, "spectra", None, rows, dists)]
            result.probes.append(probe_result)

    fits_per_method = {meth: (1 if meth in DETERMINISTIC else len(seed_list)) for meth in methods}
    total = sum(fits_per_method.values()) + (len(methods) * len(seed_list) if identify else 0)
    done = 0
    for meth in methods:
        meth_seeds = seed_list[:fits_per_method[meth]]
        trust, knn, sil, axis, neigh = [], {lb: [] for lb in labels}, {lb: [] for lb in labels}, \
            {d: [] for d in descriptors}, {d: [] for d in descriptors}
        for s in meth_seeds:
            tick(done, total, f"{data.name}: {meth} seed {s}")
            fitted = _try_fit(x, meth, s, params, result.notes, f"on the {n} spectra")
            done += 1
            if fitted is None:
                continue
            coords = fitted.coords
            if s == meth_seeds[0]:
                result.coords[meth] = coords
            _place_probes(result.probes, fitted, x, meth, s)
            value, result.trust_k = m.trustworthiness(x, coords)
            trust.append(value)
            for label, y in labels.items():
                knn[label].append(m.knn_cv_accuracy(coords, y, seed=CV_SEED).accuracy)
                sil[label].append(m.silhouette(coords, y))
            for name, v in descriptors.items():
                rhos = [c.rho for c in m.spearman_axes(coords, v) if c.rho is not None]
                axis[name].append(max(abs(r) for r in rhos) if rhos else None)
                neigh[name].append(m.neighbourhood_spearman(coords, v).rho)
        if not trust:
            result.methods.remove(meth)
            continue
        result.trustworthiness[meth] = Stat.of(trust)
        result.knn[meth] = {lb: Stat.of(v) for lb, v in knn.items()}
        result.silhouette[meth] = {lb: Stat.of(v) for lb, v in sil.items()}
        result.axis_rho[meth] = {d: Stat.of(v) for d, v in axis.items()}
        result.neighbourhood_rho[meth] = {d: Stat.of(v) for d, v in neigh.items()}

    for probe_result in result.probes:
        probe_result.summarise(result.probe_labels)
    if identify:
        done = _identify(result, data, list(result.methods), seed_list, params, tick, done, total)
    tick(total, total, f"{data.name}: done")
    return result


def _identify(result: EdgeComparison, data: EdgeData, methods, seed_list, params, tick, done, total) -> int:
    x = data.matrix
    id_labels = {lb: data.labels[lb] for lb in IDENTIFY_LABELS if lb in data.labels}
    if not id_labels:
        return done
    scores: dict[str, dict[str, dict[int, list]]] = {
        meth: {lb: {k: [] for k in IDENTIFY_K} for lb in id_labels} for meth in [REFERENCE, *methods]}
    for s in seed_list:
        train, test = holdout_split(list(id_labels.values()), seed=s)
        result.n_test = int(test.size)
        if test.size == 0 or train.size < 3:
            result.notes.append("identification skipped: too few spectra to hold any out "
                                "(a spectrum is held out only while its polymorph and its defect kind keep another spectrum in training)")
            return done + len(methods) * len(seed_list)
        for lb, y in id_labels.items():
            for k in IDENTIFY_K:
                scores[REFERENCE][lb][k].append(m.nearest_label_accuracy(x[train], y[train], x[test], y[test], k))
        for meth in methods:
            tick(done, total, f"{data.name}: identification, {meth} split {s}")
            fitted = _try_fit(x[train], meth, s, params, result.notes,
                              f"for identification on {train.size} training spectra")
            done += 1
            if fitted is None:
                continue
            placed = _place(fitted, x[train], x[test])
            for lb, y in id_labels.items():
                for k in IDENTIFY_K:
                    scores[meth][lb][k].append(m.nearest_label_accuracy(fitted.coords, y[train], placed, y[test], k))
    result.identification = {meth: {lb: {k: Stat.of(v) for k, v in by_k.items()} for lb, by_k in by_label.items()}
                             for meth, by_label in scores.items()}
    return done


def verdicts(result: EdgeComparison) -> list[str]:
    """Plain sentences: which method separates each label best by kNN accuracy (and by how much)."""
    out = []
    for label in result.scored_labels():
        ranked = sorted(((result.knn[meth][label], meth) for meth in result.methods
                         if result.knn.get(meth, {}).get(label) and result.knn[meth][label].mean is not None),
                        key=lambda t: -t[0].mean)
        if not ranked:
            continue
        best_stat, best = ranked[0]
        raw = result.knn[REFERENCE][label]
        listing = ", ".join(f"{meth.upper()} {st.text()}" for st, meth in ranked)
        one_spectrum = 1.0 / max(result.knn_reference[label].n_used, 1) + 1e-9
        ties = [meth for st, meth in ranked[1:]
                if best_stat.mean - st.mean <= max(best_stat.sd or 0, st.sd or 0, one_spectrum)]
        if ties:
            level = [best, *ties]
            head = (f"{label}: {', '.join(t.upper() for t in level[:-1])} and {level[-1].upper()} are level "
                    "(within the seed spread or one spectrum)")
        else:
            head = f"{label}: {best.upper()} separates best"
        if best != "umap" and "umap" in result.methods and "umap" not in ties:
            head += f"; UMAP does not win here, {best.upper()} does"
        chance = result.knn_reference[label].chance
        if chance is not None and best_stat.mean <= chance + 1e-12:
            head += f"; no method beats the majority-class rate {chance:.2f}"
        out.append(f"{head} ({listing}; raw spectra {raw.text()})")
    return out


def compare(edges: Sequence[EdgeData], *, probes: Sequence[Any] = (), **kwargs) -> list[EdgeComparison]:
    """:func:`compare_edge` for every edge that has enough spectra (the others are reported as notes).

    ``probes``: external spectra (``FILE`` or ``FILE:key=value,...`` strings or
    :class:`~.probes.ProbeSpec`), each read, matched to the edge of its element and edge, aligned and
    placed (:mod:`.probes`); every probe is read and checked before anything is fitted."""
    prepared = prepare_probes(probes, edges) if probes else {}
    out = []
    for data in edges:
        if data.recipe is None and data.matrix.shape[1] == 0:
            result = EdgeComparison(data.element, data.edge, len(data), [], [], None, {}, ids=data.ids,
                                    notes=list(data.notes))
            out.append(result)
            continue
        out.append(compare_edge(data, probes=prepared.get((data.element, data.edge), ()), **kwargs))
    return out


def compare_database(engine, *, where: str | None = None, seeds: int = DEFAULT_SEEDS, recipe=None,
                     methods: Sequence[str] = METHODS, polarization: str | None = "iso",
                     params: dict[str, dict[str, Any]] | None = None, identify: bool = True,
                     probes: Sequence[Any] = (), progress: Progress | None = None,
                     message: Callable[[str], None] | None = None) -> list[EdgeComparison]:
    """Load the selection (one comparison per element and edge) and compare the methods on it.

    ``probes``: external spectra to place into every map (see :func:`compare`); their options and
    files are checked before the selection is loaded."""
    specs = [p if isinstance(p, ProbeSpec) else parse_probe(p) for p in probes]
    edges = load_edges(engine, where=where, recipe=recipe, polarization=polarization, progress=message)
    return compare(edges, methods=methods, seeds=seeds, params=params, identify=identify, probes=specs,
                   progress=progress)
