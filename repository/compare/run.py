"""The comparison itself: the same preprocessed spectra embedded by UMAP, PCA and MDS, scored.

The headline is the **grouped, inductive protocol** (:mod:`.grouped`): folds by structure, each
method fitted on the training structures only, held-out spectra placed by the method's own
projection, kNN in the map, every score beside its chance levels with a bootstrap interval over
structures and a permutation p-value -- once for each recipe of :func:`recipes` (absolute
energies, and shape only: each spectrum aligned at its own edge onset).

The **transductive** numbers below (the paper's protocol) stay as a labelled secondary result: the
map is fitted on all spectra and kNN is cross-validated over spectra, so sister sites of one
supercell fall on both sides of a split.

For one :class:`~repository.compare.data.EdgeData` (one element and edge), :func:`compare_edge`

0. runs the grouped protocol for every recipe (``grouped``, :func:`run_grouped`);
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
from .probes import ProbeResult, ProbeSpec, label_voters, parse_probes, place_among, prepare_probes

METHODS = EMBEDDING_METHODS  # every method, in report order
DETERMINISTIC = frozenset({"pca"})  # one fit whatever the seed
REFERENCE = "raw"  # the preprocessed spectra themselves
DEFAULT_SEEDS = 5
HOLDOUT_FRACTION = 0.2
IDENTIFY_LABELS = ("polymorph", "defect_kind")
IDENTIFY_K = (1, 3)
MIN_CORRELATION_N = 5  # descriptors with fewer values than this are not correlated
N_COMPONENTS = 2
MAX_WORKERS = 2  # grouped runs in parallel (the project's CI has 2 cores)
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
    neighborhood_rho: dict[str, dict[str, Stat]] = field(default_factory=dict)  # method|raw -> descriptor
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
    probe_voters: dict[str, np.ndarray] = field(default_factory=dict)  # label -> spectra voting on it (site labels)
    grouped: list[Any] = field(default_factory=list)  # grouped.GroupedResult, one per recipe (the headline)
    window_padding: str | None = None  # spectra the window pads (analysis.recipe.padding_text), None: none

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
            "neighborhood_spearman": stats(self.neighborhood_rho), "descriptor_counts": self.descriptor_counts,
            "identification": {meth: {label: {f"k{k}": s.to_dict() for k, s in by_k.items()}
                                      for label, by_k in by_label.items()}
                               for meth, by_label in self.identification.items()},
            "n_held_out": self.n_test, "verdicts": verdicts(self), "notes": self.notes,
            "probes": [p.to_dict(self.ids, self.probe_labels, [REFERENCE, *self.methods]) for p in self.probes],
            "grouped": [g.to_dict() for g in self.grouped], "window_padding": self.window_padding,
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


def _place_probes(results: list, fitted, x: np.ndarray, method: str, seed: int,
                  voters: dict[str, np.ndarray]) -> None:
    """Each probe into the fit on all spectra (the placement identification uses), its nearest spectra
    (per site label among those that vote on it, ``voters``)."""
    model = _model(fitted, x)
    for result in results:
        coords, how = place(result.probe.vector, model)
        coords = np.asarray(coords, dtype=np.float64).reshape(-1)
        result.placements.setdefault(method, []).append(
            place_among(fitted.coords, coords, seed, how, [float(c) for c in coords], voters, result.k))


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
        labels=data.labels, ids=data.ids, notes=list(data.notes), window_padding=data.window_padding)
    result.params = {meth: method_params(meth, (params or {}).get(meth)) for meth in methods}
    labels = {label: data.labels[label] for label in LABELS if label in data.labels}
    descriptors = _descriptors_worth_scoring(data)
    result.descriptors = descriptors
    result.descriptor_counts = {name: int(np.isfinite(v).sum()) for name, v in descriptors.items()}

    # the reference: raw preprocessed spectra
    result.knn_reference = {label: m.knn_cv_accuracy(x, y, seed=CV_SEED) for label, y in labels.items()}
    result.knn[REFERENCE] = {label: Stat.of([score.accuracy]) for label, score in result.knn_reference.items()}
    result.silhouette[REFERENCE] = {label: Stat.of([m.silhouette(x, y)]) for label, y in labels.items()}
    result.neighborhood_rho[REFERENCE] = {name: Stat.of([m.neighborhood_spearman(x, v).rho])
                                           for name, v in descriptors.items()}
    if probes:
        result.probe_labels = {**labels, **data.extra_labels}
        # site labels vote only by the spectra the grouped test scores them on (grouped.label_rows)
        result.probe_voters = label_voters(list(result.probe_labels), _near(data))
        for probe in probes:
            if (probe.element, probe.edge) != (data.element, data.edge) or probe.vector.shape != (x.shape[1],):
                raise UsageError(f"{probe.spec.path}: prepared for {probe.element} {probe.edge}, not {data.name}")
            probe_result = ProbeResult(probe)
            probe_result.placements[REFERENCE] = [place_among(x, probe.vector, None, "spectra", None,
                                                              result.probe_voters, probe_result.k)]
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
            _place_probes(result.probes, fitted, x, meth, s, result.probe_voters)
            value, result.trust_k = m.trustworthiness(x, coords)
            trust.append(value)
            for label, y in labels.items():
                knn[label].append(m.knn_cv_accuracy(coords, y, seed=CV_SEED).accuracy)
                sil[label].append(m.silhouette(coords, y))
            for name, v in descriptors.items():
                rhos = [c.rho for c in m.spearman_axes(coords, v) if c.rho is not None]
                axis[name].append(max(abs(r) for r in rhos) if rhos else None)
                neigh[name].append(m.neighborhood_spearman(coords, v).rho)
        if not trust:
            result.methods.remove(meth)
            continue
        result.trustworthiness[meth] = Stat.of(trust)
        result.knn[meth] = {lb: Stat.of(v) for lb, v in knn.items()}
        result.silhouette[meth] = {lb: Stat.of(v) for lb, v in sil.items()}
        result.axis_rho[meth] = {d: Stat.of(v) for d, v in axis.items()}
        result.neighborhood_rho[meth] = {d: Stat.of(v) for d, v in neigh.items()}

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


ABSOLUTE = "absolute"
SHAPE_ONLY = "shape-only"


def shape_only_recipe(base: Any = None) -> Any:
    """The shape-only recipe: each spectrum aligned at its own edge onset (``edge_onset``), over
    the widest window every selected spectrum covers (the window left open, resolved against the
    data), normalised as ``base`` says. It removes the cell-wide onset offsets of Delta-KS
    references, so only spectral shape is compared.

    e0 is the analysis layer's own (recipe version 2: Athena/Larch ``find_e0``, the maximum of the
    smoothed derivative, :func:`repository.analysis.edge.find_e0`), so the comparison and ``embed``
    align spectra identically."""
    from dataclasses import replace

    from ..analysis.recipe import Recipe

    base = base or Recipe()
    return replace(base, alignment="edge_onset", energy_min_ev=None, energy_max_ev=None, step_ev=None)


def recipes(base: Any = None, shape_only: bool = True) -> dict[str, Any]:
    """The recipes the grouped protocol runs side by side: ``absolute`` (``base``, energies as
    stored) and, with ``shape_only``, :func:`shape_only_recipe`."""
    from ..analysis.recipe import Recipe

    out = {ABSOLUTE: base or Recipe()}
    if shape_only and out[ABSOLUTE].alignment != "edge_onset":
        out[SHAPE_ONLY] = shape_only_recipe(base)
    return out


def _near(data: EdgeData) -> np.ndarray | None:
    from .grouped import near_defect_mask

    if data.defect_distance_a is None or "defect_kind" not in data.labels:
        return None
    return near_defect_mask(data.labels["defect_kind"], data.defect_distance_a)


def _grouped_descriptors(data: EdgeData) -> dict[str, np.ndarray]:
    from .dos_features import OCCUPIED_FEATURES, UNOCCUPIED_FEATURES

    wanted = ("sigma_charge_transfer", "hirshfeld_charge", *OCCUPIED_FEATURES, *UNOCCUPIED_FEATURES)
    return {name: data.descriptors[name] for name in wanted if name in data.descriptors}


def check_grouped(data: EdgeData) -> None:
    """Raise :class:`UsageError` (one line) when the grouped protocol cannot score ``data``: no
    structure ids, fewer than two structures, or no label with two classes of 3+ structures."""
    from .grouped import check_scorable, scoring_labels

    if data.groups is None:
        raise UsageError(f"{data.name}: the spectra carry no structure ids; grouped folds cannot be formed")
    labels = scoring_labels(data.labels, data.groups, _near(data))
    check_scorable(labels, len(set(data.groups.tolist())), f"{data.name} ({len(data)} spectra)")


def run_grouped(data: EdgeData, recipe_name: str, *, methods: Sequence[str] = METHODS,
                seeds: Sequence[int] = (0,), params: dict[str, dict[str, Any]] | None = None,
                n_folds: int | None = None, progress: Progress | None = None, **kwargs):
    """:func:`.grouped.grouped_edge` on ``data`` (its structure ids, near-defect sites, and the
    sigma/pi and unoccupied-DOS descriptors); raises :class:`UsageError` when nothing is scorable."""
    from .grouped import grouped_edge

    check_grouped(data)
    kwargs.setdefault("group_by", data.group_by)
    return grouped_edge(data.matrix, data.labels, data.groups, near=_near(data), descriptors=_grouped_descriptors(data),
                        methods=methods, seeds=seeds, n_folds=n_folds, params=params, recipe_name=recipe_name,
                        recipe=data.recipe.to_dict() if data.recipe else None,
                        what=f"{data.name} ({recipe_name})", progress=progress, **kwargs)


def compare(edges: Sequence[EdgeData], *, probes: Sequence[Any] = (), grouped: bool = True,
            other_recipes: dict[str, Sequence[EdgeData]] | None = None, n_folds: int | None = None,
            recipe_name: str = ABSOLUTE, workers: int | None = 1, **kwargs) -> list[EdgeComparison]:
    """:func:`compare_edge` for every edge that has enough spectra (the others are reported as notes).

    ``probes``: external spectra (``FILE`` or ``FILE:key=value,...`` strings or
    :class:`~.probes.ProbeSpec`), each read, matched to the edge of its element and edge, aligned and
    placed (:mod:`.probes`); every probe is read and checked before anything is fitted.

    ``grouped``: also run the grouped protocol (:func:`run_grouped`) on ``edges`` (named
    ``recipe_name``) and on the same edges preprocessed by each of ``other_recipes`` (name -> edges).
    Before anything is fitted, an edge the grouped protocol cannot score is refused
    (:class:`UsageError`, one line) when no compared edge can be scored; otherwise it gets a note.
    ``workers``: processes for the grouped runs (None: :func:`default_workers`)."""
    prepared = prepare_probes(probes, edges) if probes else {}
    comparable = [d for d in edges if not (d.recipe is None and d.matrix.shape[1] == 0)]
    unscorable: dict[tuple[str, str], str] = {}
    if grouped:
        for data in comparable:
            try:
                check_grouped(data)
            except UsageError as err:
                unscorable[(data.element, data.edge)] = str(err)
        if len(unscorable) == len(comparable):
            reasons = "; ".join(unscorable.values()) or "no edge has 3 or more spectra"
            raise UsageError(f"nothing to score by structure: {reasons}")
    seed_list = _seed_list(kwargs.get("seeds", DEFAULT_SEEDS))
    methods = list(kwargs.get("methods", METHODS))
    jobs: list[tuple[tuple[str, str], str, EdgeData]] = []
    if grouped:
        for data in comparable:
            key = (data.element, data.edge)
            if key in unscorable:
                continue
            jobs += [(key, recipe_name, data)] + [
                (key, name, d) for name, group in (other_recipes or {}).items()
                for d in group if (d.element, d.edge) == key and d.matrix.shape[1] > 0]
    args = [(data, name, methods, seed_list, kwargs.get("params"), n_folds) for _key, name, data in jobs]
    with _GroupedRunner(args, workers, kwargs.get("progress")) as runner:
        out = []
        for data in edges:  # the transductive fits run here while the grouped runs go on in the workers
            if data.recipe is None and data.matrix.shape[1] == 0:
                out.append(EdgeComparison(data.element, data.edge, len(data), [], [], None, {}, ids=data.ids,
                                          notes=list(data.notes)))
                continue
            result = compare_edge(data, probes=prepared.get((data.element, data.edge), ()), **kwargs)
            key = (data.element, data.edge)
            if key in unscorable:
                result.notes.append(f"grouped protocol not run: {unscorable[key]}")
            out.append(result)
        values = runner.results()
    by_key = {(r.element, r.edge): r for r in out}
    for (key, name, _data), value in zip(jobs, values):
        if isinstance(value, UsageError):
            by_key[key].notes.append(f"grouped protocol ({name} recipe) not run: {value}")
        else:
            by_key[key].grouped.append(value)
    return out


def _seed_list(seeds: int | Sequence[int]) -> list[int]:
    out = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    return out or [0]


def _grouped_job(args: tuple) -> Any:
    import time

    data, name, methods, seeds, params, n_folds = args
    start = time.process_time()
    try:
        result = run_grouped(data, name, methods=methods, seeds=seeds, params=params, n_folds=n_folds)
    except UsageError as err:
        return err
    result.cpu_s = round(time.process_time() - start, 2)
    return result


def default_workers() -> int:
    """Processes for the grouped runs: the CPUs this process may use, at most :data:`MAX_WORKERS`."""
    import os

    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, n))


class _GroupedRunner:
    """The grouped runs, started at once in ``workers`` fresh processes ("forkserver", else "spawn":
    never a fork of this process, which may already hold OpenMP threads) or, with one worker, run
    in this process when :meth:`results` is called. Results come back in job order, so the report
    does not depend on which process finished first."""

    def __init__(self, args: list[tuple], workers: int | None, progress: Progress | None):
        self.args = args
        self.workers = default_workers() if workers is None else max(1, int(workers))
        self.tick = progress or (lambda _d, _t, _m: None)
        self.pool = None
        self.futures: list[Any] = []

    def __enter__(self) -> _GroupedRunner:
        if self.workers > 1 and len(self.args) > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
            self.pool = ProcessPoolExecutor(max_workers=min(self.workers, len(self.args)), mp_context=context)
            self.futures = [self.pool.submit(_grouped_job, a) for a in self.args]
        return self

    def results(self) -> list[Any]:
        total = len(self.args)
        out = []
        for done, job in enumerate(self.args):
            self.tick(done, total, f"grouped evaluation: {job[0].name} ({job[1]} recipe), {done + 1} of {total}")
            out.append(self.futures[done].result() if self.futures else _grouped_job(job))
        self.tick(total, total, "grouped evaluation done")
        return out

    def __exit__(self, exc_type, *_exc) -> None:
        if self.pool is None:
            return
        if exc_type is not None:  # interrupted or failed: do not wait for running grouped runs
            for process in list(getattr(self.pool, "_processes", {}).values()):  # no public API for this
                process.terminate()
        self.pool.shutdown(wait=exc_type is None, cancel_futures=True)


def compare_database(engine, *, where: str | None = None, seeds: int = DEFAULT_SEEDS, recipe=None,
                     methods: Sequence[str] = METHODS, polarization: str | None = "iso",
                     params: dict[str, dict[str, Any]] | None = None, identify: bool = True,
                     probes: Sequence[Any] = (), progress: Progress | None = None,
                     message: Callable[[str], None] | None = None, grouped: bool = True,
                     shape_only: bool = True, n_folds: int | None = None, workers: int | None = 1,
                     group_by: str = "structure") -> list[EdgeComparison]:
    """Load the selection (one comparison per element and edge) and compare the methods on it.

    ``probes``: external spectra to place into every map (see :func:`compare`); their options and
    files are checked before the selection is loaded. ``grouped``: run the grouped protocol (the
    headline) for ``recipe`` and, with ``shape_only``, for :func:`shape_only_recipe`; ``n_folds``:
    grouped K-fold instead of leave one structure out; ``workers``: processes for the grouped runs;
    ``group_by``: what a fold holds out (:data:`.grouped.GROUP_BY`: a structure, or a host with its
    defect cells)."""
    specs = [spec for p in probes for spec in ([p] if isinstance(p, ProbeSpec) else parse_probes(p))]
    chosen = recipes(recipe, shape_only and grouped)
    edges = load_edges(engine, where=where, recipe=chosen[ABSOLUTE], polarization=polarization, progress=message,
                       group_by=group_by)
    others, failed = {}, []
    for name, r in chosen.items():
        if name == ABSOLUTE:
            continue
        try:  # a recipe the selection cannot take (e.g. no common window after alignment) is a note
            others[name] = load_edges(engine, where=where, recipe=r, polarization=polarization, progress=message,
                                      group_by=group_by)
        except UsageError as err:
            failed.append(f"grouped protocol ({name} recipe) not run: {err}")
    results = compare(edges, methods=methods, seeds=seeds, params=params, identify=identify, probes=specs,
                      progress=progress, grouped=grouped, other_recipes=others, n_folds=n_folds, workers=workers,
                      recipe_name=ABSOLUTE if recipe is None or recipe.alignment != "edge_onset" else SHAPE_ONLY)
    for result in results:
        result.notes.extend(failed)
    return results
