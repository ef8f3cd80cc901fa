"""Making a snapshot: select spectra, preprocess them, fit an embedding, store the result.

:func:`create_snapshot` is what ``xasrepo embed`` runs. The same inputs (spectrum ids and content
hashes), resolved recipe, method, parameters, dimension and seed give the same
:func:`params_hash`, and an existing intact snapshot with that hash is reused unless ``force``.
Files and registry rows are written by :func:`repository.snapshots.registry.store_snapshot`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import UsageError
from ..snapshots.files import SNAPSHOT_FORMAT_VERSION, input_hash, snapshot_dir
from ..snapshots.registry import NewSnapshot, property_columns, register_snapshot, reusable_snapshot
from . import embed as emb
from . import recipe as rec
from .load import _check_one_edge as check_one_edge
from .load import (MEASURED_SOURCE, NO_SET_SOURCE, load_spectra, polarization_counts, prepare, select_spectrum_ids,
                   source_counts, training_e0s)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


@dataclass(frozen=True)
class SnapshotResult:
    """What :func:`create_snapshot` did: the registry record, whether it was reused, and for a new
    fit its duration (s) and the method's fit information."""

    record: dict[str, Any]
    reused: bool
    fit_seconds: float = 0.0
    info: dict[str, Any] | None = None
    window: dict[str, Any] | None = None  # recipe.window_report: rule, excluded and padded spectra
    # one-line notes for the user (a reused snapshot gives them again): selection_note
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class EmbeddingRequest:
    """What to embed and how (the options of ``xasrepo embed``).

    The selection: ``where`` (the query language of ``xasrepo query``), ``element`` and ``edge``
    (spectra of one absorbing element and edge only); the preprocessing ``recipe`` (None: the
    default :class:`~repository.analysis.recipe.Recipe`, window and step resolved from the data);
    the ``method`` (umap, pca or mds) with its ``params`` (overrides of
    :func:`~repository.analysis.embed.method_params`), ``n_components`` (2 or 3) and ``seed``.
    """

    method: str
    n_components: int = 2
    seed: int = 0
    params: dict[str, Any] | None = None
    recipe: rec.Recipe | None = None
    where: str | None = None
    element: str | None = None
    edge: str | None = None


def params_hash(inputs: str, recipe: rec.Recipe, method: str, params: dict[str, Any], n_components: int,
                seed: int) -> str:
    """What decides a snapshot's coordinates, as SHA-256 (64 hex digits) over sorted JSON; equal
    hashes mean the snapshot can be reused. The matrix dtype (:func:`~repository.analysis.recipe.matrix_dtype`)
    and the PCA solver count: snapshots fitted before they changed are not reused."""
    identity = {"input_hash": inputs, "recipe": recipe.to_dict(), "method": method, "params": params,
                "n_components": int(n_components), "seed": int(seed), "format": SNAPSHOT_FORMAT_VERSION,
                "matrix_dtype": rec.matrix_dtype(recipe).name,
                **({"pca_solver": "covariance_eigh"} if method == "pca" else {})}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def selection_note(sources: dict[str, int]) -> str | None:
    """One line when the embedded spectra come from more than one source
    (:func:`repository.analysis.load.source_counts`: calculation sets, measured spectra, computed
    spectra without a set), else None. Said because a map fitted on spectra computed with other
    settings (v1 Gamma-point and v2 converged k meshes of the BN sets) places them by their
    settings as much as by their structure, and nothing else in the output shows the mix."""
    if len(sources) < 2:
        return None
    listing = ", ".join(f"{label} ({n})" for label, n in sources.items())
    sets = [label for label in sources if label not in (MEASURED_SOURCE, NO_SET_SOURCE)]
    measured = MEASURED_SOURCE in sources
    if len(sets) == len(sources):
        what = f"spans {len(sets)} calculation sets"
    elif measured:
        what = "mixes computed and measured spectra"
    else:
        what = f"mixes spectra of {len(sources)} sources"
    example = f' (e.g. calculation_set = "{sets[0]}")' if sets else ""
    return (f"note: the selection {what}: {listing}; filter by calculation_set{' or origin' if measured else ''}"
            f"{example} to embed one")


STRATA_COLUMNS = ("reduced_formula", "polymorph", "spacegroup_number", "defect_name")
FULL_FIT_HINT_ROWS = 200_000  # above this many spectra a full UMAP fit takes many minutes: say --fit-sample exists


def stratified_sample(strata: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted positions of a seeded sample of ``size`` rows, stratified by ``strata`` (n,) integer codes.

    Each stratum gets its share ``size * n_s / n`` rounded by largest remainder, and at least one row
    (when there are no more strata than ``size``), never more rows than it has; within a stratum the
    rows are drawn at random (numpy ``default_rng(seed)``). With more strata than ``size`` it is a
    simple random sample. ``size >= n`` returns every row.
    """
    strata = np.asarray(strata)
    n = strata.size
    if size >= n:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    codes, counts = np.unique(strata, return_counts=True)
    if codes.size > size:
        return np.sort(rng.choice(n, size, replace=False)).astype(np.int64)
    share = size * counts / n
    quota = np.maximum(np.floor(share).astype(np.int64), 1)
    quota = np.minimum(quota, counts)
    left = size - int(quota.sum())
    if left > 0:  # largest remainders first, as long as a stratum has rows to give
        for k in np.argsort(-(share - np.floor(share)), kind="stable"):
            if left == 0:
                break
            if quota[k] < counts[k]:
                quota[k] += 1
                left -= 1
    while left < 0:  # the minimum of one row each overshot: take back from the largest quotas
        k = int(np.argmax(quota))
        quota[k] -= 1
        left += 1
    order = np.argsort(strata, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    chosen = [rng.choice(order[start:start + c], q, replace=False) for start, c, q in zip(starts, counts, quota)]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def sample_strata(engine: Engine, ids: np.ndarray, element: str, edge: str, *,
                  columns: dict[str, list] | None = None) -> tuple[np.ndarray, list[str]]:
    """Integer stratum codes (n,) for spectra ``ids`` (ascending): one per combination of the structure
    properties :data:`STRATA_COLUMNS` (spectra without a structure share one stratum), and those columns.
    The values come from the same ``spectrum_overview`` read as the Parquet file's columns
    (:func:`~repository.snapshots.registry.property_columns`; pass ``columns`` when already read)."""
    if columns is None:
        columns = property_columns(engine, np.asarray(ids, dtype=np.int64), element, edge)
    keys = list(zip(*(columns[name] for name in STRATA_COLUMNS)))
    lookup: dict[tuple, int] = {}
    codes = np.fromiter((lookup.setdefault(key, len(lookup)) for key in keys), dtype=np.int64, count=len(keys))
    return codes, list(STRATA_COLUMNS)


def _engine_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def create_snapshot(engine: Engine, request: EmbeddingRequest | None = None, *,
                    directory: str | Path | None = None, force: bool = False,
                    progress: Callable[[str], None] | None = None, **fields: Any) -> SnapshotResult:
    """Select, preprocess and embed spectra, and register the result as a new snapshot.

    ``request`` is an :class:`EmbeddingRequest`, or its fields are given as keywords
    (``create_snapshot(engine, method="pca", element="B", edge="K")``; keywords also override the
    fields of a given request). Files go to ``directory`` (see
    :func:`repository.snapshots.files.snapshot_dir`); ``progress`` receives one-line status messages.
    Reuses the existing snapshot for the same inputs, recipe, method, parameters and seed unless
    ``force``. A selection holding several polarizations, whose ``where`` does not name one, is
    narrowed to ``polarization = iso`` (recorded in the snapshot's filter) or, without iso spectra,
    refused. An open window is set by the element and edge; spectra it excludes or pads are named in
    ``window`` and in the file's provenance (:func:`repository.analysis.load.prepare`). The spectra
    per calculation set go into ``fit_info.calculation_sets``, and a selection of several sets (or
    of computed and measured spectra) gets a line in ``notes`` (:func:`selection_note`). A UMAP
    ``n_neighbors`` capped to the set's size is recorded as used, beside the request
    (:func:`repository.analysis.embed.recorded_params`). Raises
    :class:`UsageError` for an empty selection or one mixing elements/edges, an unknown method or
    parameter, and for spectra the recipe cannot preprocess.
    """
    request = replace(request, **fields) if request is not None else EmbeddingRequest(**fields)
    method, n_components, seed = request.method, request.n_components, request.seed
    where, element, edge = request.where, request.element, request.edge
    say = progress or (lambda _message: None)
    recipe = request.recipe or rec.Recipe()
    params = emb.method_params(method, request.params)
    say("selecting spectra")
    ids = select_spectrum_ids(engine, where=where, element=element, edge=edge)
    if ids is not None and not ids:
        raise UsageError(f"no spectra match {where!r}")
    # Selections mean one thing: the iso, in-plane and out-of-plane curves of one site are never
    # embedded together unless the filter names the polarisation.
    if "polariz" not in (where or "").lower():
        check_one_edge(engine, ids, element, edge)  # a mix of edges is named first, as it is
        counts = polarization_counts(engine, ids, element, edge)
        if len(counts) > 1:
            if "iso" not in counts:
                listing = ", ".join(f"{n} {p}" for p, n in sorted(counts.items()))
                raise UsageError(f"the selection mixes polarisations ({listing}) of the same sites: choose one with "
                                 "--where '... and polarization = ...'")
            where = f"({where}) and polarization = iso" if where and where.strip() else "polarization = iso"
            ids = select_spectrum_ids(engine, where=where, element=element, edge=edge)
    say("loading spectra")
    spectra = load_spectra(engine, ids=ids, element=element, edge=edge,
                           with_shifts=recipe.alignment == "stored_shift")
    say(f"preprocessing {len(spectra)} spectra")
    dtype = rec.matrix_dtype(recipe)
    prepared = prepare(spectra, recipe, dtype=dtype)
    spectra, matrix, resolved, window = prepared.spectra, prepared.matrix, prepared.recipe, prepared.window
    del prepared
    sources = source_counts(engine, ids, element, edge, excluded=window["excluded"])
    notes = tuple(note for note in (selection_note(sources),) if note)
    inputs = input_hash(spectra.ids, spectra.content_hashes)
    digest = params_hash(inputs, resolved, method, params, n_components, seed)
    if not force:
        existing = reusable_snapshot(engine, digest)
        if existing is not None:
            return SnapshotResult(existing, reused=True, window=window, notes=notes)

    say(f"finding the edge (e0) of {len(spectra)} spectra")
    e0s = training_e0s(spectra, resolved)
    spectra = replace(spectra, groups=())  # the raw intensities are not needed any more: free them before the fit
    fitted_rows, extra_columns, sample_info, properties = None, None, None, None
    fit_sample = params.get("fit_sample") if method == "umap" else None
    if fit_sample is not None and fit_sample < matrix.shape[0]:
        say(f"drawing a stratified sample of {fit_sample} of {matrix.shape[0]} spectra")
        # read once: the strata and, later, the Parquet file's columns (~20 s for 10^6 spectra)
        properties = property_columns(engine, spectra.ids, spectra.element, spectra.edge)
        strata, strata_columns = sample_strata(engine, spectra.ids, spectra.element, spectra.edge,
                                               columns=properties)
        fitted_rows = stratified_sample(strata, int(fit_sample), seed)
        fitted_mask = np.zeros(matrix.shape[0], dtype=bool)
        fitted_mask[fitted_rows] = True
        extra_columns = {"fitted": fitted_mask}
        sample_info = {"size": int(fitted_rows.size), "of": int(matrix.shape[0]), "strata_columns": strata_columns,
                       "n_strata": int(np.unique(strata).size), "seed": int(seed),
                       "column": "fitted (true: in the fit; false: placed by the transform)"}
    hint = (f" (a full fit: for {matrix.shape[0]} spectra --fit-sample 20000 takes minutes, docs/analysis.md)"
            if method == "umap" and fitted_rows is None and matrix.shape[0] > FULL_FIT_HINT_ROWS else "")
    say(f"fitting {method} on {matrix.shape[0] if fitted_rows is None else fitted_rows.size} x {matrix.shape[1]}{hint}")
    started = time.perf_counter()
    fitted = emb.fit_embedding(matrix, method, n_components=n_components, seed=seed, params=params,
                               fitted_rows=fitted_rows, progress=say)
    fit_seconds = time.perf_counter() - started
    info = {**fitted.info, "matrix_dtype": matrix.dtype.name,
            "calculation_sets": sources,  # spectra per source (selection_note names a mix)
            # what the model file's "train" array is, and why it is kept (docs/analysis.md, "Model artifact")
            "train_matrix": {"dtype": "float32", "shape": [int(matrix.shape[0]), int(matrix.shape[1])],
                             "used_by": "project: nearest members (UMAP placement, knn), exact matches, "
                                        "applicability domain"}}
    if sample_info is not None:
        info["fit_sample"] = {**sample_info, "fitted": info.pop("fitted"), "placed": info.pop("placed"),
                              "placement": info.pop("placement")}

    say("writing snapshot")
    directory = snapshot_dir(_engine_url(engine), directory)
    from .project import member_nn_rmsd  # lazy import: project imports this module (applicability domain)

    model_arrays = {
        "format_version": np.int64(SNAPSHOT_FORMAT_VERSION), "method": np.str_(method),
        "recipe_json": np.str_(resolved.to_json()), "ids": spectra.ids,
        "embedding": fitted.coords, "train": np.asarray(matrix, dtype=np.float32),
        "reference_onset_ev": np.float64(np.median(e0s)), "train_e0_ev": e0s,
        "member_nn_rmsd": member_nn_rmsd(matrix), **fitted.artifacts,
    }
    new = NewSnapshot(
        method=method, n_components=n_components, seed=seed, params=emb.recorded_params(params, info),
        recipe=resolved.to_dict(),
        recipe_json=resolved.to_json(), ids=spectra.ids, content_hashes=spectra.content_hashes,
        element=spectra.element, edge=spectra.edge,
        filter_text=where.strip() if where and where.strip() else None, input_hash=inputs, params_hash=digest,
        coords=fitted.coords, model=model_arrays, fit_info=info, library_versions=emb.library_versions(),
        window=window, extra_columns=extra_columns, properties=properties)
    # a concurrent identical embed may have registered the same snapshot meanwhile: reuse it
    record, reused = register_snapshot(engine, new, directory, reuse=not force)
    if reused:
        return SnapshotResult(record, reused=True, window=window, notes=notes)
    return SnapshotResult(record, reused=False, fit_seconds=fit_seconds, info=info, window=window, notes=notes)
