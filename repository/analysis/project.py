"""Placing a new spectrum into an existing snapshot and naming its nearest computed spectra.

The spectrum is preprocessed with the snapshot's own stored recipe, then placed:

* **UMAP** -- umap-learn's ``transform`` reimplemented in numpy (no numba, so a fresh process
  needs no JIT compilation): exact nearest neighbours in the preprocessed space among the stored
  training matrix; membership weights with sigma found by the same binary search as umap's
  ``smooth_knn_dist`` (local connectivity ``local_connectivity - 1``, hence rho = 0, as in
  ``transform``); initial position the weighted mean of the neighbours' embeddings; then the
  attractive/repulsive SGD of ``optimize_layout_euclidean`` with ``move_other=False`` (only the new
  point moves), the same epochs (100), learning rate (initial_alpha / 4) and negative sampling.
  The random negative samples come from numpy's generator, not umap's tau_rand, so single
  placements differ slightly from umap's; ``docs/analysis.md`` gives the measured agreement.
* **PCA** -- ``(x - mean) @ components.T``, exact.
* **MDS, landmark** -- distance-based triangulation from the landmarks, exact for the method.
* **MDS, SMACOF** -- SMACOF has no out-of-sample map: the inverse-distance weighted mean of the
  ``n_neighbors`` spectrally nearest training spectra (labelled ``knn-mean`` in the result).

**Exact matches.** When the preprocessed query equals a snapshot member's stored training row to
within :data:`EXACT_MATCH_RTOL` of its norm (the training rows are stored as float32, which alone
differs by ~6e-8), it *is* that spectrum for the snapshot: it is placed on the member's stored
coordinates (placement ``exact match of spectrum ID``), and the member is listed first at distance
0. Only the methods' own placements (above) are used for everything else, so the agreement with
umap-learn's ``transform`` on held-out spectra is unchanged.

Spectra whose energies are relative to the edge or carry a calibration offset are placed with
``shift_ev`` (added to the energies) and/or an alignment: ``align="edge_onset"`` moves the spectrum so
its edge onset falls on the best-matching member's (:func:`member_onset_shift`, with the members' e0
stored in the model; the training spectra's median onset only for callers without them); ``align="fit"``
then searches at most :data:`FIT_SEARCH_EV` (5 eV) either side of that (on the recipe's grid step, then a
tenth of it, then scipy's bounded scalar minimiser down to :data:`FIT_TOLERANCE_EV`) for the shift that
best matches some training spectrum -- needed when the onset itself depends on the spectrum's shape;
a shifted copy of a member is thereby recovered as an exact match. The fit never moves the
spectrum's maximum more than :data:`FIT_FEATURE_SLACK_EV` beyond the window (:func:`fit_bounds`),
and when its best admissible shift lies at an end of that range it raises :class:`NoConfidentShift`
(one line) instead of returning the end as if fitted (:func:`best_shift`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..conventions import RENAMED_PROJECTION_ALIGNMENTS, ProjectionAlignment
from ..errors import NonPositiveEnergy, UsageError
from . import recipe as rec

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

DEFAULT_K = 10
UMAP_TRANSFORM_EPOCHS = 100  # umap-learn: 100 epochs when transforming <= 10,000 points
UMAP_TRANSFORM_SEED = 42  # umap-learn's default transform_seed
SMOOTH_K_TOLERANCE = 1e-5
MIN_K_DIST_SCALE = 1e-3
SMOOTH_K_ITERATIONS = 64
KNN_MEAN_NEIGHBORS = 15
ALIGN_CHOICES = tuple(a.value for a in ProjectionAlignment)
ALIGNED = (ProjectionAlignment.edge_onset.value, ProjectionAlignment.fit.value)  # alignments that move energies
FIT_REFINE = 10  # then refined to step / FIT_REFINE
FIT_SEARCH_EV = 5.0  # "fit" alignment returns a shift at most this far (eV) from the onset alignment (best_shift)
FIT_FEATURE_SLACK_EV = 1.0  # a fit may move the query's maximum at most this far (eV) beyond the window's ends
#   (when it is inside at the onset alignment): a peak topping a grid step or two outside keeps its
#   flank inside and still aligns; FEFF's c-BN B K maximum was moved 3 eV out, matching only its edge
MAX_ALIGNMENT_SHIFT_EV = 15.0  # an alignment may move a spectrum at most this far (eV); see docs/analysis.md
FIT_TOLERANCE_EV = 1e-9  # the refinement of a "fit" shift stops at this absolute tolerance (eV; scipy's xatol)
FIT_MAX_ITERATIONS = 100  # at most this many iterations of the bounded minimiser
EXACT_MATCH_RTOL = 1e-6  # |query - member| <= this * |query| (preprocessed vectors): the query IS that member
EXACT_PLACEMENT = "exact match of spectrum {}"
PROJECT_WINDOW_HINT = ("the snapshot's window is fixed: correct the energies (--shift, --edge-energy) "
                       "or let --align edge-onset/fit find the offset")
DOMAIN_PERCENTILE = 90.0  # a placement is confident when its nearest member is no farther than this
#                          percentile of the members' own nearest-neighbour distances (docs/analysis.md)
NN_BLOCK_ROWS = 4096  # member_nn_rmsd: members compared at a time (a (2000, 4096) float32 array: 33 MB)
DOMAIN_SAMPLE = 2000  # members whose nearest-neighbour distance is measured (all of them in smaller snapshots)
NO_CONFIDENT_MATCH = "no confident match"
WITHIN_COVERAGE = "within the snapshot's coverage"
MIN_DOMAIN_MEMBERS = 29  # fewer members: no coverage threshold, never "confident". With n members, the largest
#   of their n nearest-neighbour distances lies above the true 90th percentile with probability 1 - 0.9**n,
#   under 95 % below 29 members (0.41 at 5): no member distance then bounds the threshold from above, and a
#   sparse set's nearest-neighbour distances are large, so a threshold from it calls distant spectra covered
RANK_BY = ("map", "spectral")  # project(rank_by=): the neighbour table by map distance or by spectral RMS
RANKED_BY_TEXT = {"map": "distance in the map", "spectral": "spectral RMS difference"}
IDENTITY_COLUMNS = ("polymorph", "defect_name", "absorber_cn")  # labels a reader takes as "what it is":
#   the map's rank 1 is checked against the spectrally nearest member on these (map_check)
LABEL_COLUMNS = ("reduced_formula", "polymorph", "spacegroup_symbol", "crystal_system", "defect_kind", "defect_name",
                 "absorber_cn", "origin")


# ----------------------------------------------------------------------------------------------
# UMAP placement in numpy


def _nearest(train: np.ndarray, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and Euclidean distances of the k nearest rows of ``train`` to ``x``, nearest first."""
    d = np.sqrt(((train - x.astype(train.dtype)) ** 2).sum(axis=1, dtype=np.float64))
    k = min(k, d.size)
    part = np.argpartition(d, k - 1)[:k]
    order = part[np.argsort(d[part], kind="stable")]
    return order, d[order]


def smooth_knn_sigma(dists: np.ndarray, k: float, local_connectivity: float = 0.0) -> tuple[float, float]:
    """(sigma, rho) for one point's sorted neighbour distances, as umap's ``smooth_knn_dist``."""
    target = math.log2(k)
    nonzero = dists[dists > 0.0]
    rho = 0.0
    if nonzero.size >= local_connectivity:
        index = math.floor(local_connectivity)
        interpolation = local_connectivity - index
        if index > 0:
            rho = float(nonzero[index - 1])
            if interpolation > SMOOTH_K_TOLERANCE:
                rho += interpolation * float(nonzero[index] - nonzero[index - 1])
        else:
            rho = interpolation * float(nonzero[0]) if nonzero.size else 0.0
    elif nonzero.size > 0:
        rho = float(nonzero.max())
    lo, hi, mid = 0.0, math.inf, 1.0
    tail = dists[1:] - rho
    for _ in range(SMOOTH_K_ITERATIONS):
        psum = float(np.where(tail > 0, np.exp(-(np.maximum(tail, 0) / mid)), 1.0).sum())
        if abs(psum - target) < SMOOTH_K_TOLERANCE:
            break
        if psum > target:
            hi = mid
            mid = (lo + hi) / 2.0
        else:
            lo = mid
            mid = mid * 2 if hi == math.inf else (lo + hi) / 2.0
    mean = float(dists.mean())
    mid = max(mid, MIN_K_DIST_SCALE * mean)
    return mid, rho


def umap_weights(dists: np.ndarray, n_neighbors: int, local_connectivity: float) -> np.ndarray:
    """Fuzzy membership strengths of a new point to its sorted nearest neighbours."""
    sigma, rho = smooth_knn_sigma(dists, float(n_neighbors), max(0.0, local_connectivity - 1.0))
    shifted = dists - rho
    return np.where(shifted > 0, np.exp(-(np.maximum(shifted, 0) / sigma)), 1.0)


def umap_place(x: np.ndarray, model: dict[str, np.ndarray], *, epochs: int = UMAP_TRANSFORM_EPOCHS,
               seed: int = UMAP_TRANSFORM_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(initial position, optimised position), each of shape (n_components,), of one preprocessed
    spectrum ``x`` (shape (n_grid,)) in a UMAP snapshot's ``model`` (:func:`place`). Raises
    :class:`UsageError` when no training spectrum has a non-zero membership weight for ``x``. In a
    snapshot fitted on a sample (``umap_fitted_rows`` in the model) only the fitted members count."""
    if "umap_fitted_rows" in model:  # a sampled fit: neighbours among the fitted rows, as its transform had
        rows = model["umap_fitted_rows"]
        model = {**model, "train": model["train"][rows], "embedding": model["embedding"][rows]}
        del model["umap_fitted_rows"]
    train, embedding = model["train"], model["embedding"]
    n_neighbors = int(model["umap_n_neighbors"])
    indices, dists = _nearest(train, x, n_neighbors)
    weights = umap_weights(dists.astype(np.float32).astype(np.float64), n_neighbors,
                           float(model["umap_local_connectivity"]))
    keep = weights > 0
    indices, weights = indices[keep], weights[keep]
    if weights.size == 0:
        raise UsageError("the spectrum has no neighbours with non-zero membership in this snapshot")
    order = np.argsort(indices, kind="stable")  # umap walks the CSR row in column order
    indices, weights = indices[order], weights[order]
    exact = np.flatnonzero(weights == 1.0)
    if exact.size:
        initial = embedding[indices[exact[0]]].astype(np.float64)
    else:
        initial = (weights[:, None] * embedding[indices]).sum(axis=0) / weights.sum()
    if epochs <= 0:
        return initial, initial.copy()
    return initial, _umap_sgd(initial, indices, weights, model, epochs, seed)


def _clip(value: float) -> float:
    return 4.0 if value > 4.0 else (max(value, -4.0))


def _umap_sgd(initial: np.ndarray, indices: np.ndarray, weights: np.ndarray, model: dict[str, np.ndarray],
              n_epochs: int, seed: int) -> np.ndarray:
    """umap's ``optimize_layout_euclidean`` for one moving point (``move_other=False``)."""
    embedding = model["embedding"].astype(np.float32)
    a, b = float(model["umap_a"]), float(model["umap_b"])
    gamma = float(model["umap_repulsion_strength"])
    negative_rate = int(model["umap_negative_sample_rate"])
    initial_alpha = float(model["umap_initial_alpha"]) / 4.0
    weights = np.where(weights < weights.max() / float(n_epochs), 0.0, weights)
    live = weights > 0
    indices, weights = indices[live], weights[live]
    epochs_per_sample = float(n_epochs) / (n_epochs * (weights / weights.max()))
    epochs_per_negative = epochs_per_sample / negative_rate
    next_sample = epochs_per_sample.copy()
    next_negative = epochs_per_negative.copy()
    rng = np.random.default_rng(seed)
    n_vertices = embedding.shape[0]
    current = [float(v) for v in initial.astype(np.float32)]
    dim = len(current)
    others = [[float(v) for v in embedding[i]] for i in indices]
    alpha = initial_alpha
    for n in range(n_epochs):
        for e in range(indices.size):
            if next_sample[e] > n:
                continue
            other = others[e]
            d2 = sum((current[d] - other[d]) ** 2 for d in range(dim))
            coeff = (-2.0 * a * b * d2 ** (b - 1.0)) / (a * d2 ** b + 1.0) if d2 > 0 else 0.0
            for d in range(dim):
                current[d] += _clip(coeff * (current[d] - other[d])) * alpha
            next_sample[e] += epochs_per_sample[e]
            n_negative = int((n - next_negative[e]) / epochs_per_negative[e])
            if n_negative > 0:
                for k in rng.integers(0, n_vertices, size=n_negative):
                    other_k = embedding[k]
                    d2 = sum((current[d] - float(other_k[d])) ** 2 for d in range(dim))
                    if d2 > 0:
                        coeff = 2.0 * gamma * b / ((0.001 + d2) * (a * d2 ** b + 1.0))
                        for d in range(dim):
                            current[d] += _clip(coeff * (current[d] - float(other_k[d]))) * alpha
            next_negative[e] += max(n_negative, 0) * epochs_per_negative[e]
        alpha = initial_alpha * (1.0 - float(n) / float(n_epochs))
    return np.asarray(current, dtype=np.float64)


# ----------------------------------------------------------------------------------------------
# placement for every method


def place(x: np.ndarray, model: dict[str, np.ndarray], *, epochs: int = UMAP_TRANSFORM_EPOCHS) -> tuple[np.ndarray, str]:
    """(coordinates, how they were obtained) of preprocessed spectrum ``x`` in the snapshot ``model``."""
    method = str(model["method"])
    if method == "umap":
        _initial, final = umap_place(x, model, epochs=epochs)
        return final, ("umap-sgd" if epochs > 0 else "umap-weighted-mean")
    if method == "pca":
        return (x - model["pca_mean"]) @ model["pca_components"].T, "pca"
    if method == "mds" and "mds_landmarks" in model:
        from .mds import LandmarkModel

        landmark = LandmarkModel(model["mds_landmarks"].astype(np.float64), model["mds_pinv"], model["mds_mean_sq"])
        return landmark.place(x[None, :])[0], "mds-landmark"
    indices, dists = _nearest(model["train"], x, KNN_MEAN_NEIGHBORS)
    weights = 1.0 / np.maximum(dists, 1e-12)
    return (weights[:, None] * model["embedding"][indices]).sum(axis=0) / weights.sum(), "knn-mean"


def exact_match(x: np.ndarray, train: np.ndarray, *, prefer: int | None = None) -> int | None:
    """Row of ``train`` that the preprocessed spectrum ``x`` is numerically identical to, or None.

    Identical: Euclidean distance at most :data:`EXACT_MATCH_RTOL` times the norm of ``x``. Of several
    such rows, ``prefer`` (a row index, e.g. the query's own spectrum) wins, else the closest, else the
    first.
    """
    x = np.asarray(x, dtype=np.float64)
    d = np.sqrt(((train.astype(np.float64) - x) ** 2).sum(axis=1))
    hits = np.flatnonzero(d <= EXACT_MATCH_RTOL * float(np.sqrt(x @ x)))
    if hits.size == 0:
        return None
    if prefer is not None and prefer in hits:
        return int(prefer)
    return int(hits[np.argmin(d[hits])])


@dataclass(frozen=True)
class QuerySpectrum:
    """A spectrum to project: energies (eV), intensity, and what it says it is."""

    energy_ev: np.ndarray
    intensity: np.ndarray
    element: str | None = None
    edge: str | None = None
    stored_shift_ev: float = 0.0
    label: str = "spectrum"


def read_query_file(path: str | Path, element: str | None, edge: str | None, *,
                    edge_energy_ev: float | None = None, check_edge: bool = True,
                    read_options: dict[str, Any] | None = None) -> QuerySpectrum:
    """Read a data file with the format readers (two-column files, XDI, ...).

    ``element``/``edge`` are used only when the file does not say; ``edge_energy_ev`` is added to
    energies that are relative to the edge (as ``xasrepo import --edge-energy``). ``check_edge``
    False skips the element/edge/energy check (edge_onset/fit alignment moves the spectrum anyway);
    the edge-step check of import (:func:`repository.edges.check_edge_step`) is never applied here;
    ``read_options`` are further :class:`repository.formats.common.ReadOptions` fields (``format``,
    ``signal_col``, ``i0_col``, ``measurement_mode``, ...), as ``xasrepo import`` takes them.
    """
    from ..errors import XasrepoError
    from ..formats import read_path

    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    options = {k: v for k, v in (read_options or {}).items() if v is not None}
    fmt = options.pop("format", None)
    if edge_energy_ev is not None:
        options["edge_energy_ev"] = edge_energy_ev
    if not check_edge:
        options["check_edge"] = False
    # A query is often a computed spectrum in a plain two-column file, read as measured (the default
    # origin) and with no continuum step: import's edge-step check would refuse it; how far it lies
    # from the snapshot's spectra is what the applicability domain reports.
    options["check_edge_step"] = False
    try:
        records = read_path(path, fmt, **options)
    except XasrepoError:
        if element is None and edge is None:
            raise
        records = read_path(path, fmt, element=element, edge=edge, **options)
    if len(records) != 1:
        raise UsageError(f"{path} holds {len(records)} spectra; project one at a time")
    s = records[0].spectrum
    shift = records[0].sample.calibration_shift_ev or 0.0
    return QuerySpectrum(np.asarray(s.energy_ev), np.asarray(s.intensity), s.absorbing_element, s.edge.value,
                         float(shift), str(path))


def projection_alignment(align: str) -> str:
    """``align`` as a :class:`~repository.conventions.ProjectionAlignment` value; the old spelling
    ``onset`` (:data:`~repository.conventions.RENAMED_PROJECTION_ALIGNMENTS`) is read as
    ``edge_onset``. Raises :class:`UsageError` for anything else."""
    align = RENAMED_PROJECTION_ALIGNMENTS.get(align, align)
    if align not in ALIGN_CHOICES:
        raise UsageError(f"unknown alignment {align!r} (expected {', '.join(ALIGN_CHOICES)})")
    return align


def read_query(file: str | Path, element: str | None, edge: str | None, *, align: str = "none",
               edge_energy_ev: float | None = None, reference_onset_ev: float | None = None,
               read_options: dict[str, Any] | None = None) -> QuerySpectrum:
    """:func:`read_query_file`, except that with ``edge_onset``/``fit`` alignment a file whose energies are
    relative to the edge needs no ``edge_energy_ev``: it is read with ``reference_onset_ev`` (any edge
    energy will do, the alignment moves the spectrum anyway)."""
    from ..formats.common import EdgeMismatchError

    align = projection_alignment(align)
    aligned = align in ALIGNED
    if edge_energy_ev is None and aligned and reference_onset_ev is not None:
        try:
            return read_query_file(file, element, edge, check_edge=False, read_options=read_options)
        except NonPositiveEnergy:  # energies relative to the edge: any edge energy will do before aligning
            return read_query_file(file, element, edge, edge_energy_ev=reference_onset_ev, check_edge=False,
                                   read_options=read_options)
    try:
        return read_query_file(file, element, edge, edge_energy_ev=edge_energy_ev, check_edge=not aligned,
                               read_options=read_options)
    except EdgeMismatchError as err:
        raise EdgeMismatchError(None, f"{err}; --align edge-onset/fit projects it by its shape, whatever its energy "
                                      "scale") from None


def query_from_database(engine: Engine, spectrum_id: int) -> QuerySpectrum:
    from sqlalchemy import text

    from ..arrays import from_blob
    from ..errors import NotFoundError

    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT s.energy_ev, s.intensity, s.absorbing_element, s.edge, "
            "COALESCE(c.alignment_shift_ev, 0) + COALESCE(s.calibration_shift_ev, 0) FROM spectrum s "
            "LEFT JOIN calculation c ON c.id = s.calculation_id WHERE s.id = :id"), {"id": int(spectrum_id)}).first()
    if row is None:
        raise NotFoundError(f"no spectrum with id {spectrum_id}")
    return QuerySpectrum(from_blob(row[0]), from_blob(row[1]), row[2], row[3], float(row[4] or 0.0),
                         f"spectrum {spectrum_id}")


def _onset_shift(energy: np.ndarray, intensity: np.ndarray, recipe: rec.Recipe, stored: float,
                 reference_onset_ev: float) -> float:
    onset = rec.edge_onsets(energy, np.asarray(intensity)[None, :], recipe.onset_fraction)[0] + stored
    return float(reference_onset_ev - onset)


def shifted_rows(recipe: rec.Recipe, energy: np.ndarray, intensity: np.ndarray, stored: float,
                 shifts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One spectrum preprocessed at many energy shifts at once -> (rows (k, grid), positions (k,) of
    the shifts that leave at least :data:`~repository.analysis.recipe.MIN_WINDOW_COVERAGE` of the
    window covered and give a row that is not flat and can be normalised).

    Equal to :func:`repository.analysis.recipe.apply_one` at each shift (``energy + shift``), in
    one vectorised interpolation for recipes on absolute energies (``none``/``stored_shift``).
    """
    from dataclasses import replace

    shifts = np.asarray(shifts, dtype=np.float64)
    intensity = np.asarray(intensity, dtype=np.float64)
    total = shifts + stored
    ranges = np.column_stack([energy[0] + total, energy[-1] + total])
    where = np.flatnonzero(rec.window_coverage(recipe, ranges) >= rec.MIN_WINDOW_COVERAGE)
    if not where.size:
        return np.empty((0, recipe.n_points)), where
    if recipe.alignment in ("none", "stored_shift"):
        moved = replace(recipe, alignment="stored_shift")
        matrix = np.broadcast_to(intensity, (where.size, intensity.size))
        try:
            return rec.finish(recipe, rec.resample(moved, energy, matrix, total[where])), where
        except UsageError:  # some shift gives a flat row: sort them out one by one below
            pass
    rows, kept = [], []
    for i in where:
        try:
            rows.append(rec.apply_one(recipe, energy + float(shifts[i]), intensity, stored, check_coverage=False))
            kept.append(i)
        except UsageError:
            continue
    return (np.asarray(rows) if rows else np.empty((0, recipe.n_points))), np.asarray(kept, dtype=np.int64)


def member_onset_shift(query: QuerySpectrum, recipe: rec.Recipe, train: np.ndarray, train_e0_ev: np.ndarray,
                       base_ev: float) -> float:
    """Onset alignment that does not depend on one class's feature: the shift (eV, added to the
    energies on top of ``base_ev``) that puts the query's e0 on the e0 of the snapshot member it then
    matches best.

    Every member m proposes e0_m - e0_query (e0 as the recipe's version defines it, of the raw
    spectra, :func:`repository.analysis.recipe.onsets`); the query is preprocessed at each proposed
    shift and compared with the members that proposed it; the shift of the closest pair wins, so a
    member (or a copy of it shifted by any amount) comes back at its own e0. ``train_e0_ev`` (n,) are
    the members' e0 on the recipe's energy scale.
    """
    energy = np.asarray(query.energy_ev, dtype=np.float64) + base_ev
    stored = query.stored_shift_ev if recipe.alignment == "stored_shift" else 0.0
    try:
        e0_query = float(rec.onsets(recipe, energy, np.asarray(query.intensity, dtype=np.float64)[None, :])[0]) + stored
    except UsageError as err:  # e.g. too few points to find e0: say which spectrum
        raise UsageError(f"{query.label}: {err}") from None
    proposals = np.round(np.asarray(train_e0_ev, dtype=np.float64) - e0_query, 6)
    unique, member_of = np.unique(proposals, return_inverse=True)
    allowed = np.flatnonzero(np.abs(unique) <= MAX_ALIGNMENT_SHIFT_EV)
    rows, kept = shifted_rows(recipe, energy, query.intensity, stored, unique[allowed])
    best, best_d = 0.0, math.inf
    if kept.size:
        position = np.full(unique.size, -1, dtype=np.int64)
        position[allowed[kept]] = np.arange(kept.size)
        which = position[member_of]  # each member's row of shifted query, -1 where none
        ok = np.flatnonzero(which >= 0)
        d = ((train[ok].astype(np.float64) - rows[which[ok]]) ** 2).sum(axis=1)
        i = int(np.argmin(d))
        best, best_d = float(proposals[ok[i]]), float(d[i])
    if not math.isfinite(best_d):
        members = np.asarray(train_e0_ev, dtype=np.float64)
        # energies in keV put e0 near 0.2 (B K) where the members have ~190 eV: say so, not "another edge"
        kev = bool(np.any(np.abs(members - 1000.0 * e0_query) <= MAX_ALIGNMENT_SHIFT_EV))
        cause = (f"its energies look like keV (x1000 puts e0 at {1000.0 * e0_query:.1f} eV, where the members' "
                 "edges are): convert them to eV" if kev else "is it the snapshot's element and edge?")
        raise UsageError(f"{query.label}: no alignment within {MAX_ALIGNMENT_SHIFT_EV:g} eV puts its edge (e0 = "
                         f"{e0_query:.2f} eV) on any snapshot member's; {cause}")
    return base_ev + best


class NoConfidentShift(UsageError):
    """``align="fit"`` found no shift it can stand behind: the best match among the admissible shifts
    (:func:`fit_bounds`) lies at an end of their range, so a better one lies where the fit may not go."""


@dataclass(frozen=True)
class FitBounds:
    """The shifts (eV, added to the energies) a ``fit`` alignment may return: ``lo_ev .. hi_ev``, and
    what would happen beyond each end (``lo_reason``/``hi_reason``, a clause)."""

    lo_ev: float
    hi_ev: float
    lo_reason: str
    hi_reason: str


def fit_bounds(query: QuerySpectrum, recipe: rec.Recipe, start_ev: float, *,
               search_ev: float = FIT_SEARCH_EV) -> FitBounds:
    """The admissible range of a ``fit`` shift started from the onset alignment ``start_ev`` (eV).

    At most :data:`FIT_SEARCH_EV` from ``start_ev``, and (recipes on absolute energies) never moving
    the query's **main feature**, its maximum (the strongest resonance), more than
    :data:`FIT_FEATURE_SLACK_EV` beyond either end of the recipe's window, or, where the onset
    alignment already put it beyond (a member's σ* maximum above the window), more than that
    beyond where the onset alignment put it: the fit may not push the feature further out. (Not its edge: e0 from the derivative is fragile on noisy data, e.g. 12 eV above
    the edge of a synthetic spectrum whose strongest slope is a feature's flank.) A fit that moves the maximum out matches only the rising edge: the FEFF c-BN B K example
    was fitted +4.49 eV with its maximum moved from 199.5 to 204.0 eV, beyond the 184-201 eV window
    (docs/analysis.md "Alignment").
    """
    energy = np.asarray(query.energy_ev, dtype=np.float64)
    intensity = np.asarray(query.intensity, dtype=np.float64)
    stored = query.stored_shift_ev if recipe.alignment == "stored_shift" else 0.0
    lo, hi = start_ev - search_ev, start_ev + search_ev
    lo_reason = hi_reason = (f"the shift would differ by more than {search_ev:g} eV from the onset alignment "
                             f"({start_ev:+.2f} eV)")
    if recipe.alignment == "edge_onset" or not recipe.is_resolved:
        return FitBounds(lo, hi, lo_reason, hi_reason)
    w_lo, w_hi = float(recipe.energy_min_ev), float(recipe.energy_max_ev)
    peak_ev = float(energy[int(np.argmax(intensity))]) + stored
    at_start = peak_ev + start_ev  # where the onset alignment puts the maximum (outside for some members' σ*)
    slack = FIT_FEATURE_SLACK_EV
    low, high = min(w_lo, at_start) - slack, max(w_hi, at_start) + slack
    why = (f"its maximum at {peak_ev - stored:.2f} eV would be more than {slack:g} eV beyond the {w_lo:g}-{w_hi:g} eV "
           "window" + ("" if w_lo <= at_start <= w_hi else f" and than the onset alignment put it ({at_start:.2f} eV)"))
    if low - peak_ev > lo:
        lo, lo_reason = low - peak_ev, why
    if high - peak_ev < hi:
        hi, hi_reason = high - peak_ev, why
    return FitBounds(lo, hi, lo_reason, hi_reason)


def best_shift(query: QuerySpectrum, recipe: rec.Recipe, train: np.ndarray, start_ev: float, *,
               search_ev: float = FIT_SEARCH_EV, unaligned_ev: float | None = None) -> float:
    """The energy shift (eV) within the admissible range (:func:`fit_bounds`: at most ``search_ev``
    = :data:`FIT_SEARCH_EV` from ``start_ev``, the onset alignment, and never moving the query's
    maximum or edge out of the window) that brings the spectrum closest to its nearest training
    spectrum (preprocessed Euclidean distance).

    Searched on the recipe's grid step (plus ``unaligned_ev``, the spectrum as given, when named and
    admissible), then on a tenth of the step around the best, then refined with
    ``scipy.optimize.minimize_scalar`` (bounded Brent) down to :data:`FIT_TOLERANCE_EV` within that
    tenth (never ending worse than the best sampled shift). Shifts that leave the window too little
    covered are skipped; if every shift does, ``start_ev`` is returned and preprocessing reports the
    window. Raises :class:`NoConfidentShift` when the best admissible shift lies within one grid
    step of an end of the range and is not an exact match of a member (:data:`EXACT_MATCH_RTOL`):
    the match may improve beyond the range, so the shift found would be an artefact of the bound,
    not a fit.
    """
    energy = np.asarray(query.energy_ev, dtype=np.float64)
    stored = query.stored_shift_ev if recipe.alignment == "stored_shift" else 0.0
    reference = train.astype(np.float64)
    reference_sq = np.einsum("ij,ij->i", reference, reference)
    bounds = fit_bounds(query, recipe, start_ev, search_ev=search_ev)
    lo, hi = bounds.lo_ev, bounds.hi_ev

    def distances(shifts: np.ndarray) -> np.ndarray:
        """Squared distance to the nearest training spectrum at each shift (inf where refused:
        outside the admissible range, too little of the window covered, or flat)."""
        shifts = np.asarray(shifts, dtype=float)
        out = np.full(len(shifts), math.inf)
        inside = np.flatnonzero((shifts >= lo - 1e-12) & (shifts <= hi + 1e-12))
        candidates, where = shifted_rows(recipe, energy, query.intensity, stored, shifts[inside])
        if where.size:
            sq = np.einsum("ij,ij->i", candidates, candidates)[:, None] + reference_sq[None, :] \
                - 2.0 * (candidates @ reference.T)
            out[inside[where]] = np.maximum(sq, 0.0).min(axis=1)
        return out

    def distance(shift: float) -> float:
        return float(distances(np.array([shift]))[0])

    def best(shifts: np.ndarray) -> tuple[float, float]:
        values = distances(shifts)
        i = int(np.argmin(values))
        return float(shifts[i]), float(values[i])

    steps = round(search_ev / recipe.step_ev)
    candidates = start_ev + recipe.step_ev * np.arange(-steps, steps + 1)
    candidates = np.concatenate([candidates[(candidates > lo) & (candidates < hi)], [lo, hi]])
    if unaligned_ev is not None:  # the spectrum as given is a candidate (when admissible)
        candidates = np.append(candidates, unaligned_ev)
    coarse, value = best(candidates)
    if not math.isfinite(value):
        return float(start_ev)
    # then a tenth of a grid step around the best grid-step shift
    width = recipe.step_ev / FIT_REFINE
    fine, value = best(coarse + width * np.arange(-FIT_REFINE, FIT_REFINE + 1))
    # then scipy's bounded scalar minimiser (Brent's method) within one tenth either side (and the
    # admissible range); it minimises over the offset from `fine`, so its relative tolerance
    # (sqrt(eps) * |x|) stays far below FIT_TOLERANCE_EV whatever the absolute shift
    # lazy import: start-up time (scipy.optimize is heavy; only fit alignment needs it)
    from scipy.optimize import minimize_scalar

    a, b = max(-width, lo - fine), min(width, hi - fine)
    refined, refined_value = fine, value
    if b > a:
        found = minimize_scalar(lambda offset: distance(fine + offset), bounds=(a, b), method="bounded",
                                options={"xatol": FIT_TOLERANCE_EV, "maxiter": FIT_MAX_ITERATIONS})
        if distance(fine + float(found.x)) <= value:
            refined, refined_value = fine + float(found.x), distance(fine + float(found.x))
    # a minimum must be bracketed by admissible grid-step shifts on both sides; closer than one grid
    # step to an end, the distance may still be falling beyond it (the interpolation on the grid
    # makes it ripple at finer scales, so a sub-step minimum near the end proves nothing)
    at_lo, at_hi = refined - lo < recipe.step_ev, hi - refined < recipe.step_ev
    if (at_lo or at_hi) and not _exact_at(query, recipe, energy, stored, refined, refined_value):
        reason = bounds.lo_reason if at_lo else bounds.hi_reason
        raise NoConfidentShift(
            f"{query.label}: no confident shift: the best match of --align fit lies at the "
            f"{'lower' if at_lo else 'upper'} end of the admissible {lo:+.2f} .. {hi:+.2f} eV, so a better one may "
            f"lie beyond it, where {reason}; use --align edge-onset or give the offset with --shift")
    return refined


def _exact_at(query: QuerySpectrum, recipe: rec.Recipe, energy: np.ndarray, stored: float, shift: float,
              value: float) -> bool:
    """Whether the squared distance ``value`` at ``shift`` makes the query an exact match of a member."""
    rows, where = shifted_rows(recipe, energy, query.intensity, stored, np.array([shift]))
    return bool(where.size) and value <= (EXACT_MATCH_RTOL ** 2) * float(rows[0] @ rows[0])


def prepare(query: QuerySpectrum, recipe: rec.Recipe, reference_onset_ev: float, *, shift_ev: float = 0.0,
            align: str = "none", train: np.ndarray | None = None, window_hint: str = PROJECT_WINDOW_HINT,
            train_e0_ev: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Preprocess a query spectrum with the snapshot's recipe after the optional shift/alignment.

    Returns (preprocessed spectrum, total energy shift applied in eV). ``align``: ``none``;
    ``edge_onset`` (edge onset onto the best-matching member's with ``train_e0_ev``, else the training
    spectra's median onset); ``fit`` (from there, the admissible shift within +-:data:`FIT_SEARCH_EV`
    that best matches a training spectrum, :func:`best_shift`; needs ``train``; raises
    :class:`NoConfidentShift` when it has none it can stand behind).
    ``window_hint`` closes the error raised when the spectrum does not cover the recipe's window.
    """
    align = projection_alignment(align)
    energy = np.asarray(query.energy_ev, dtype=np.float64)
    stored = query.stored_shift_ev if recipe.alignment == "stored_shift" else 0.0
    total = float(shift_ev)
    if align in ALIGNED and recipe.alignment != "edge_onset":
        if train_e0_ev is not None and train is not None:
            total = member_onset_shift(query, recipe, train, train_e0_ev, total)
        else:  # without the members' e0 (callers that pass none): the median onset, as before
            total += _onset_shift(energy + total, query.intensity, recipe, stored, reference_onset_ev)
    if align == "fit":
        if train is None:
            raise UsageError("fit alignment needs the snapshot's training spectra")
        total = best_shift(query, recipe, train, total, unaligned_ev=float(shift_ev))
    if train_e0_ev is not None and abs(total - shift_ev) > MAX_ALIGNMENT_SHIFT_EV + 1e-9:
        raise UsageError(f"{query.label}: aligning it would move its energies by {total - shift_ev:+.2f} eV, beyond "
                         f"the {MAX_ALIGNMENT_SHIFT_EV:g} eV an edge position can differ by calibration or chemical "
                         "shift; is it the snapshot's element and edge? (give --shift if the offset is known)")
    shifted = energy + total
    ranges = rec.aligned_ranges(recipe, shifted, np.asarray(query.intensity, dtype=np.float64)[None, :],
                                np.array([stored]))
    rec.check_window(recipe, ranges, np.array([query.label], dtype=object), hint=window_hint)
    return rec.apply_one(recipe, shifted, query.intensity, stored, label=query.label, check_coverage=False), total


def project(engine: Engine, snapshot: str | int, *, file: str | Path | None = None,
            spectrum_id: int | None = None, query: QuerySpectrum | None = None, k: int = DEFAULT_K,
            shift_ev: float = 0.0, align: str = "none", edge_energy_ev: float | None = None,
            epochs: int = UMAP_TRANSFORM_EPOCHS, computed_only: bool = True, element: str | None = None,
            edge: str | None = None, read_options: dict[str, Any] | None = None,
            rank_by: str = "map") -> dict[str, Any]:
    """Place one spectrum (a file, a stored spectrum or a :class:`QuerySpectrum`) in ``snapshot``.

    ``shift_ev`` (eV) is added to the energies (a calibration offset); ``align="edge_onset"`` puts the edge
    (e0) on the best-matching member's (:func:`member_onset_shift`), ``align="fit"`` then fits the best
    shift (:func:`best_shift`); files with energies relative to the edge take ``edge_energy_ev`` (eV;
    not needed with an alignment). ``element``/``edge`` name a file's edge when the file does not;
    ``read_options`` are the reader options of ``xasrepo import``. Neighbours are the computed members
    (``computed_only``) when the snapshot has any, else all members (a snapshot of measured
    standards); ``neighbors_among`` says which. Raises :class:`UsageError` for an unknown ``align``,
    for not giving exactly one of ``file`` and ``spectrum_id``, for ``k`` < 1, for a spectrum of
    another element or edge than the snapshot's and for an alignment beyond
    :data:`MAX_ALIGNMENT_SHIFT_EV`; :class:`NotFoundError` for an unknown spectrum id or snapshot.

    Returns ``{"snapshot", "method", "placement", "domain", "exact_match", "coordinates", "neighbors": [...]}``;
    ``domain`` is :func:`applicability` (``verdict`` "no confident match" outside what the snapshot covers).
    ``placement`` says how the coordinates were obtained (``umap-sgd``, ``pca``, ... or
    ``exact match of spectrum ID`` when the preprocessed query equals a member's, see
    :func:`exact_match`; ``exact_match`` is then that id, else None). The ``k`` neighbours are ranked
    (``ranked_by``) by ``distance``, the Euclidean distance in the embedding from the placed point
    (``rank_by="map"``, the default), or by ``spectral_rmsd`` (``rank_by="spectral"``), the RMS
    difference of the preprocessed spectra (the recipe's grid, normalised); each has both, its
    spectrum id and labels (formula, space group, crystal system, defect...).

    The verdict (``domain``) is by spectral distance, the default table by map distance, and a 2-D
    map does not keep spectral distances: ``map_check`` (:func:`map_check`) says whether the
    table's rank 1 carries the labels of the spectrally nearest member (``domain["nearest_labels"]``)
    and, when it does not, gives a one-line ``note``; :func:`domain_lines` words both for a reader.
    """
    from ..snapshots.registry import get_snapshot, load_model, read_table

    if sum(v is not None for v in (file, spectrum_id, query)) != 1:
        raise UsageError("give exactly one of a FILE or --spectrum ID")
    if k < 1:
        raise UsageError(f"k must be at least 1, got {k}")
    if rank_by not in RANK_BY:
        raise UsageError(f"rank_by must be one of {', '.join(RANK_BY)}, got {rank_by!r}")
    record = get_snapshot(engine, snapshot)
    model = load_model(record)
    reference_onset = float(model["reference_onset_ev"])
    if file is not None:
        # the element and edge come from the file or from element/edge (never assumed from the snapshot)
        query = read_query(file, element, edge, align=align, edge_energy_ev=edge_energy_ev,
                           reference_onset_ev=reference_onset, read_options=read_options)
    elif spectrum_id is not None:
        query = query_from_database(engine, spectrum_id)
    if query.element and query.element != record["element"] or query.edge and query.edge != record["edge"]:
        raise UsageError(f"{query.label} is a {query.element} {query.edge} spectrum but snapshot {record['uid']} "
                         f"holds {record['element']} {record['edge']} spectra; spectra of different edges are never mixed")
    recipe = rec.Recipe.from_json(str(model["recipe_json"]))
    train_e0 = model.get("train_e0_ev")
    align = projection_alignment(align)
    if train_e0 is None and align in ALIGNED:  # snapshots made before e0 was stored with them
        train_e0 = rec.onsets(recipe, recipe.grid(), model["train"].astype(np.float64))
    x, applied = prepare(query, recipe, reference_onset, shift_ev=shift_ev, align=align, train=model["train"],
                         train_e0_ev=train_e0)
    table = read_table(engine, record["uid"], ["spectrum_id", *LABEL_COLUMNS])
    labels = table.to_pylist()
    embedding = model["embedding"]
    member_ids = [int(row["spectrum_id"]) for row in labels]
    own_row = member_ids.index(int(spectrum_id)) if spectrum_id is not None and int(spectrum_id) in member_ids else None
    match = exact_match(x, model["train"], prefer=own_row)
    if match is not None:  # the query IS this member: its stored coordinates, not a re-placement
        coords, how = embedding[match].astype(np.float64), EXACT_PLACEMENT.format(member_ids[match])
    else:
        coords, how = place(x, model, epochs=epochs)
    distance = np.sqrt(((embedding - coords[None, :]) ** 2).sum(axis=1))
    candidates = np.arange(embedding.shape[0])
    compared = "all members"
    if computed_only and "origin" in table.column_names:
        computed = np.asarray([i for i, row in enumerate(labels) if row.get("origin") == "computed"], dtype=np.int64)
        if computed.size:  # computed spectra when there are any; a snapshot of measured standards: those
            candidates, compared = computed, "computed members"
    train = model["train"]
    # by embedding distance (or spectral RMS); an exact match first even if another member ties with it
    key = distance[candidates] if rank_by == "map" else _rmsd(train[candidates], x)
    order = np.lexsort((candidates != (-1 if match is None else match), key))
    chosen = candidates[order[:k]]
    neighbors = []
    for rank, i in enumerate(chosen, start=1):
        row = dict(labels[int(i)])
        spectral = float(np.sqrt(np.mean((train[int(i)].astype(np.float64) - x) ** 2)))
        neighbors.append({"rank": rank, **row, "distance": float(distance[i]), "spectral_rmsd": spectral})
    member_nn = model.get("member_nn_rmsd")
    if member_nn is None:  # snapshots made before it was stored
        member_nn = member_nn_rmsd(train)
    domain = applicability(x, train, member_nn, np.asarray(member_ids))
    nearest_row = labels[member_ids.index(domain["nearest_spectrum_id"])]
    domain["nearest_labels"] = {c: nearest_row.get(c) for c in LABEL_COLUMNS}
    return {"snapshot": record["uid"], "method": record["method"], "placement": how, "query": query.label,
            "domain": domain, "neighbors_among": compared, "ranked_by": RANKED_BY_TEXT[rank_by],
            "map_check": map_check(domain, neighbors, rank_by),
            "exact_match": None if match is None else member_ids[match],
            "coordinates": [float(c) for c in coords], "energy_shift_ev": applied, "recipe": json.loads(recipe.to_json()),
            "neighbors": neighbors}


def _rmsd(rows: np.ndarray, x: np.ndarray) -> np.ndarray:
    """RMS difference between each row of ``rows`` and ``x`` (float64; rows may be float32)."""
    diff = np.asarray(rows, dtype=np.float64) - np.asarray(x, dtype=np.float64)[None, :]
    return np.sqrt(np.einsum("ij,ij->i", diff, diff) / diff.shape[1])


def identity_text(row: dict[str, Any]) -> str:
    """``h-BN B_N, CN 3``: what a member is, in the :data:`IDENTITY_COLUMNS` (the formula when it
    has no polymorph; no defect when it has none)."""
    head = [str(row.get("polymorph") or row.get("reduced_formula") or "?")]
    if row.get("defect_name") not in (None, "", "none"):
        head.append(str(row["defect_name"]))
    text = " ".join(head)
    return text + (f", CN {row['absorber_cn']}" if row.get("absorber_cn") is not None else "")


def _identity(row: dict[str, Any]) -> tuple:
    return tuple(row.get(c) for c in IDENTITY_COLUMNS)


def map_check(domain: dict[str, Any], neighbors: list[dict[str, Any]], rank_by: str = "map") -> dict[str, Any]:
    """Whether the neighbour table's rank 1 carries the labels (:data:`IDENTITY_COLUMNS`) of the
    spectrally nearest member, which the verdict names.

    Returns ``agrees`` (rank 1 has those labels), ``rank1_spectrum_id``, ``spectral_nearest_spectrum_id``,
    ``columns``, ``sharing_ranks`` (the ranks of the listed neighbours that have them) and ``note``:
    None when rank 1 agrees, else one line saying what the table shows instead (a reader takes rank 1
    as the identification). Ranked by spectral RMS, rank 1 disagrees only when the spectrally nearest
    member is not among the ranked ones (a measured member when the table lists computed ones).
    """
    nearest = domain["nearest_labels"]
    want = _identity(nearest)
    sharing = [n["rank"] for n in neighbors if _identity(n) == want]
    first = neighbors[0] if neighbors else None
    agrees = first is not None and _identity(first) == want
    out = {"agrees": agrees, "rank1_spectrum_id": None if first is None else first["spectrum_id"],
           "spectral_nearest_spectrum_id": domain["nearest_spectrum_id"], "columns": list(IDENTITY_COLUMNS),
           "sharing_ranks": sharing, "note": None}
    if first is None or agrees:
        return out
    where = (f"ranks {', '.join(map(str, sharing))}" if len(sharing) > 1 else f"rank {sharing[0]}") if sharing else "none"
    tail = ("the 2-D map does not keep spectral distances; --rank-by spectral lists by spectral RMS"
            if rank_by == "map" else "the nearest member is not among the ranked ones")
    out["note"] = (f"rank 1 of the table (by {RANKED_BY_TEXT[rank_by]}) is {first['spectrum_id']} "
                   f"({identity_text(first)}; RMS {first['spectral_rmsd']:.4g}), not what the spectrally nearest member "
                   f"{domain['nearest_spectrum_id']} is ({identity_text(nearest)}); {len(sharing)} of the "
                   f"{len(neighbors)} listed {'shares' if len(sharing) == 1 else 'share'} its labels ({where}): {tail}")
    return out


def ordinal(number: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``4th``, ``11th``-``13th``, ``21st``, ``32nd``, ``100th``: English
    ordinals for the numbers messages count with (a percentile rank), not ``32th``."""
    number = int(number)
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def domain_lines(result: dict[str, Any]) -> list[str]:
    """The verdict (:func:`applicability`) in one line, naming the spectrally nearest member and what
    it is, then :func:`map_check`'s note when the table's rank 1 is something else."""
    domain = result["domain"]
    verdict = domain["verdict"]
    if domain.get("too_few_members"):
        verdict += (f" (only {domain['n_members']} members; a coverage threshold needs at least "
                    f"{domain['min_members']})")
    labels = domain.get("nearest_labels")
    what = f" ({identity_text(labels)})" if labels else ""
    lines = [f"{verdict}: nearest member {domain['nearest_spectrum_id']}{what} at RMS {domain['nearest_rmsd']:.4g} "
             f"({ordinal(round(domain['percentile']))} percentile of the members' own nearest-neighbour distances; "
             + ("confident up to" if not domain.get("too_few_members") else "their 90th percentile")
             + f" {domain['threshold_rmsd']:.4g})"]
    note = (result.get("map_check") or {}).get("note")
    if note:
        lines.append(f"note: {note}")
    return lines


# ----------------------------------------------------------------------------------------------
# applicability domain


def member_nn_rmsd(train: np.ndarray, *, sample: int = DOMAIN_SAMPLE, seed: int = 0) -> np.ndarray:
    """RMS difference (preprocessed spectra, the recipe's grid) between members and their nearest
    other member, for all members or a seeded sample of ``sample`` of them -> (min(n, sample),).

    Duplicated members count with distance 0 (they are part of what the snapshot covers). The
    nearest member is searched in float32 over blocks of :data:`NN_BLOCK_ROWS` members (the Gram form
    ``|p|^2 + |b|^2 - 2 p.b``; 2.2x faster than float64, measured in docs/benchmarks.md "Scale"), so
    a float32 ``train`` of 10^6 rows is never copied whole; the distance to the member found is then
    recomputed exactly in float64. Where two members are closer to a probe than float32 rounding of
    the Gram form separates (~1e-7 of ``|p|^2 + |b|^2``), either may be taken: the value differs from
    the exact minimum by at most that much.
    """
    train = np.asarray(train)
    n, m = train.shape
    rows = np.arange(n) if n <= sample else np.sort(np.random.default_rng(seed).choice(n, sample, replace=False))
    probe = train[rows].astype(np.float32)
    probe_sq = np.einsum("ij,ij->i", probe, probe)
    best = np.full(rows.size, np.inf, dtype=np.float32)
    nearest = np.zeros(rows.size, dtype=np.int64)
    for start in range(0, n, NN_BLOCK_ROWS):
        block = np.asarray(train[start:start + NN_BLOCK_ROWS], dtype=np.float32)
        # |p - b|^2 = |p|^2 + |b|^2 - 2 p.b, built in place in one (probes, block) array
        d2 = probe @ block.T
        d2 *= -2.0
        d2 += np.einsum("ij,ij->i", block, block)[None, :]
        d2 += probe_sq[:, None]
        inside = np.flatnonzero((rows >= start) & (rows < start + block.shape[0]))
        d2[inside, rows[inside] - start] = np.inf  # not itself
        here = d2.argmin(axis=1)
        value = d2[np.arange(rows.size), here]
        better = value < best
        best[better] = value[better]
        nearest[better] = start + here[better]
    if n < 2:
        return np.full(rows.size, np.inf)
    diff = train[rows].astype(np.float64) - train[nearest].astype(np.float64)
    return np.sqrt(np.einsum("ij,ij->i", diff, diff) / m)


def applicability(x: np.ndarray, train: np.ndarray, member_nn: np.ndarray, ids: np.ndarray) -> dict[str, Any]:
    """How far the preprocessed spectrum ``x`` is from the snapshot compared with the members'
    own nearest-neighbour distances ``member_nn`` (RMS, :func:`member_nn_rmsd`).

    Returns ``nearest_rmsd`` (RMS difference to the spectrally nearest member), ``nearest_spectrum_id``,
    ``percentile`` (share of members, in %, whose own nearest neighbour is at most that far),
    ``threshold_rmsd`` (the :data:`DOMAIN_PERCENTILE` th percentile), ``confident`` and ``verdict``
    (:data:`NO_CONFIDENT_MATCH` when the spectrum is farther from every member than the threshold),
    ``n_members``, ``min_members`` and ``too_few_members``: a snapshot of fewer than
    :data:`MIN_DOMAIN_MEMBERS` members has no threshold to stand behind (see there), so its verdict
    is :data:`NO_CONFIDENT_MATCH` at any distance (``threshold_rmsd`` is still the percentile, for reference).
    """
    rmsd = _rmsd(train, x)
    nearest = int(np.argmin(rmsd))
    d = float(rmsd[nearest])
    threshold = float(np.percentile(member_nn, DOMAIN_PERCENTILE))
    n_members = int(np.asarray(train).shape[0])
    too_few = n_members < MIN_DOMAIN_MEMBERS
    confident = bool(d <= threshold) and not too_few
    return {"nearest_rmsd": d, "nearest_spectrum_id": int(ids[nearest]),
            "percentile": float(100.0 * np.mean(np.asarray(member_nn) <= d)), "threshold_rmsd": threshold,
            "confident": confident, "verdict": WITHIN_COVERAGE if confident else NO_CONFIDENT_MATCH,
            "n_members": n_members, "min_members": MIN_DOMAIN_MEMBERS, "too_few_members": too_few}


# ----------------------------------------------------------------------------------------------
# agreement with umap-learn's own transform (tests and bench)


def umap_agreement(umap_model: Any, model: dict[str, np.ndarray], held_out: np.ndarray, *,
                   epochs: int = UMAP_TRANSFORM_EPOCHS) -> dict[str, float]:
    """Median distance between our placement and ``umap_model.transform`` for held-out rows, relative
    to the embedding's spread (RMS distance of the training points from their centroid)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = umap_model.transform(np.asarray(held_out, dtype=np.float32)).astype(np.float64)
    ours_init, ours_final = zip(*(umap_place(x, model, epochs=epochs) for x in np.asarray(held_out, dtype=np.float64)))
    embedding = model["embedding"]
    spread = float(np.sqrt(((embedding - embedding.mean(axis=0)) ** 2).sum(axis=1).mean()))

    def median_rel(ours) -> float:
        return float(np.median(np.sqrt(((np.asarray(ours) - theirs) ** 2).sum(axis=1))) / spread)

    return {"n_held_out": len(held_out), "spread": spread, "median_rel_weighted_mean": median_rel(ours_init),
            "median_rel_sgd": median_rel(ours_final)}
