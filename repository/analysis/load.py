"""Selecting spectra and loading them from the database into matrices.

Spectra of one energy grid are stacked with a single ``np.frombuffer`` over the joined BLOBs
(:func:`repository.arrays.stack_blobs`), so loading 100k spectra costs little more than reading
their bytes. Spectra of different absorbing elements or edges are never mixed: a selection that
contains more than one (element, edge) pair is refused with a message that says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import bindparam, text

from ..arrays import STORED_DTYPE, stack_blobs
from ..conventions import parse_edge
from ..errors import UsageError
from ..query import spectrum_ids
from . import recipe as rec

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

_IN_CHUNK = 500


@dataclass(frozen=True)
class SpectrumGroup:
    """Spectra that share one stored energy axis: ``rows`` index into :class:`SpectraSet` order."""

    energy_ev: np.ndarray
    rows: np.ndarray
    intensity: np.ndarray  # (len(rows), len(energy_ev)) float64


@dataclass(frozen=True)
class SpectraSet:
    """Selected spectra of ONE absorbing element and edge, ordered by spectrum id."""

    ids: np.ndarray  # int64
    content_hashes: tuple[str, ...]
    element: str
    edge: str
    shifts_ev: np.ndarray | None  # stored alignment + calibration shift (0 when absent); None: not loaded
    groups: tuple[SpectrumGroup, ...] = field(default=())

    def __len__(self) -> int:
        return int(self.ids.size)

    @property
    def matrix(self) -> np.ndarray:
        """The raw intensities as one matrix (only when all spectra share one energy grid)."""
        if len(self.groups) != 1:
            raise UsageError(f"the spectra are on {len(self.groups)} different energy grids; preprocess them "
                             "onto a common grid first (repository.analysis.load.preprocess)")
        return self.groups[0].intensity


def select_spectrum_ids(engine: Engine, *, where: str | None = None, element: str | None = None,
                        edge: str | None = None) -> list[int] | None:
    """Spectrum ids matching ``where`` (the query language of ``xasrepo query``), or None for "all".

    ``element``/``edge`` are applied when the spectra are loaded.
    """
    if not where:
        return None
    return list(spectrum_ids(engine, where))


def _select_sql(ids_clause: str, element: str | None, edge: str | None, columns: str, tail: str
                ) -> tuple[str, dict]:
    clauses, params = [], {}
    if ids_clause:
        clauses.append(ids_clause)
    if element:
        clauses.append("absorbing_element = :element")
        params["element"] = element
    if edge:
        clauses.append("edge = :edge")
        params["edge"] = parse_edge(edge).value
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    return f"SELECT {columns} FROM spectrum {where} {tail}", params


def _run(engine: Engine, ids: Sequence[int] | None, element: str | None, edge: str | None, columns: str,
         tail: str = "ORDER BY id") -> list[tuple]:
    """Rows of ``SELECT columns FROM spectrum WHERE <selection> tail``, over chunks of ``ids``.

    SQLite rows come straight from the driver (plain tuples, no Row objects): loading is dominated
    by creating one Python object per value, so every column and wrapper counts.
    """
    chunks: list[list[int] | None] = [None]
    if ids is not None:
        ordered = sorted({int(i) for i in ids})
        chunks = [ordered[start:start + _IN_CHUNK] for start in range(0, len(ordered), _IN_CHUNK)]
    rows: list = []
    with engine.connect() as conn:
        raw = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None
        for chunk in chunks:
            if raw is not None:
                names = {f"i{n}": value for n, value in enumerate(chunk or [])}
                clause = f"id IN ({', '.join(':' + n for n in names)})" if chunk is not None else ""
                sql, params = _select_sql(clause, element, edge, columns, tail)
                rows.extend(raw.execute(sql, {**params, **names}).fetchall())
            else:
                sql, params = _select_sql("id IN :ids" if chunk is not None else "", element, edge, columns, tail)
                statement = text(sql)
                if chunk is not None:
                    statement = statement.bindparams(bindparam("ids", expanding=True))
                    params["ids"] = chunk
                rows.extend(tuple(r) for r in conn.execute(statement, params))
    return rows


def _check_one_edge(engine: Engine, ids, element, edge) -> tuple[str, str]:
    """The one (element, edge) of the selection; UsageError when it is empty or mixes several."""
    counts: dict[tuple[str, str], int] = {}
    other_kinds: dict[str, int] = {}
    for el, ed, kind, n in _run(engine, ids, element, edge, "absorbing_element, edge, spectroscopy, COUNT(*)",
                                "GROUP BY absorbing_element, edge, spectroscopy"):
        counts[(el, ed)] = counts.get((el, ed), 0) + int(n)
        if kind != "XAS":
            other_kinds[kind] = other_kinds.get(kind, 0) + int(n)
    if not counts:
        raise UsageError("no spectra match the selection")
    if other_kinds:
        # NRIXS, EELS, XES... are not absorption spectra: they never join an absorption embedding
        listing = ", ".join(f"{n} {kind}" for kind, n in sorted(other_kinds.items()))
        raise UsageError(f"the selection includes spectra that are not X-ray absorption ({listing}): add "
                         "\"spectroscopy = XAS\" to --where to embed the absorption spectra only")
    if len(counts) > 1:
        listing = ", ".join(f"{n} {el} {ed}" for (el, ed), n in sorted(counts.items()))
        raise UsageError(f"the selection mixes absorbing elements or edges ({listing}); spectra of different "
                         "edges are never embedded together: select one with --element/--edge or --where")
    return next(iter(counts))


def polarization_counts(engine: Engine, ids: Sequence[int] | None, element: str | None, edge: str | None
                        ) -> dict[str, int]:
    """Number of selected spectra per polarisation (``iso``, ``E||c``, ...)."""
    return {str(p): int(n) for p, n in _run(engine, ids, element, edge, "polarization, COUNT(*)",
                                                "GROUP BY polarization")}


_SHIFT_SQL = ("id, COALESCE((SELECT c.alignment_shift_ev FROM calculation c WHERE c.id = spectrum.calculation_id), 0)"
              " + COALESCE(calibration_shift_ev, 0)")


def load_spectra(engine: Engine, *, ids: Sequence[int] | None = None, element: str | None = None,
                 edge: str | None = None, with_shifts: bool = True) -> SpectraSet:
    """Load the selected spectra (all, or ``ids``; narrowed by ``element``/``edge``).

    ``with_shifts`` also loads each spectrum's stored shift (needed only by ``stored_shift``
    alignment; ``shifts_ev`` is None without it). Raises :class:`UsageError` when nothing matches
    or when the selection mixes elements or edges.
    """
    element, edge = _check_one_edge(engine, ids, element, edge)
    rows = _run(engine, ids, element, edge, "id, content_hash, energy_ev, intensity")
    if ids is not None:
        rows.sort(key=lambda r: r[0])
    # Column by column with C-level iteration (zip(*rows) would cost more than the rest together).
    n = len(rows)
    id_col = np.fromiter(map(itemgetter(0), rows), dtype=np.int64, count=n)
    hash_col = tuple(map(itemgetter(1), rows))
    energy_col = list(map(itemgetter(2), rows))
    first = bytes(energy_col[0])
    groups = []
    if energy_col.count(first) == n:  # one common grid: the usual case, no grouping
        energy = np.frombuffer(first, dtype=STORED_DTYPE)
        intensity = np.frombuffer(b"".join(map(itemgetter(3), rows)), dtype=STORED_DTYPE).reshape(n, energy.size)
        groups.append(SpectrumGroup(energy, np.arange(n, dtype=np.int64), intensity))
    else:
        by_grid: dict[bytes, list[int]] = {}
        for position, blob in enumerate(energy_col):
            by_grid.setdefault(bytes(blob), []).append(position)
        for energy_blob, positions in by_grid.items():
            energy = np.frombuffer(energy_blob, dtype=STORED_DTYPE)
            intensity = stack_blobs([rows[p][3] for p in positions], energy.size)
            groups.append(SpectrumGroup(energy, np.asarray(positions, dtype=np.int64), intensity))
    del rows, energy_col
    shifts = None
    if with_shifts:
        found = _run(engine, ids, element, edge, _SHIFT_SQL)
        by_id = dict(found)
        shifts = np.fromiter((by_id.get(i, 0.0) or 0.0 for i in id_col.tolist()), dtype=np.float64, count=n)
    return SpectraSet(ids=id_col, content_hashes=hash_col, element=element, edge=edge, shifts_ev=shifts,
                      groups=tuple(groups))


def load_matrix(engine: Engine, *, element: str | None = None, edge: str | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, energy_ev, intensity matrix) of all spectra of one element/edge on one common grid."""
    spectra = load_spectra(engine, element=element, edge=edge, with_shifts=False)
    return spectra.ids, spectra.groups[0].energy_ev if len(spectra.groups) == 1 else None, spectra.matrix


def subset(spectra: SpectraSet, keep: np.ndarray) -> SpectraSet:
    """The spectra at the positions ``keep`` (sorted, into :class:`SpectraSet` order)."""
    keep = np.asarray(keep, dtype=np.int64)
    position = np.full(len(spectra), -1, dtype=np.int64)
    position[keep] = np.arange(keep.size)
    groups = []
    for group in spectra.groups:
        inside = position[group.rows] >= 0
        if inside.any():
            groups.append(SpectrumGroup(group.energy_ev, position[group.rows[inside]], group.intensity[inside]))
    return SpectraSet(ids=spectra.ids[keep], content_hashes=tuple(spectra.content_hashes[i] for i in keep.tolist()),
                      element=spectra.element, edge=spectra.edge,
                      shifts_ev=None if spectra.shifts_ev is None else spectra.shifts_ev[keep], groups=tuple(groups))


@dataclass(frozen=True)
class Prepared:
    """:func:`prepare`'s result: the spectra kept, their matrix (n, grid), the resolved recipe and
    the window report (:func:`repository.analysis.recipe.window_report`)."""

    spectra: SpectraSet
    matrix: np.ndarray
    recipe: rec.Recipe
    window: dict


def prepare(spectra: SpectraSet, recipe: rec.Recipe, *, exclude_short: bool = True) -> Prepared:
    """Apply ``recipe`` to every spectrum; an open window is set by the element and edge
    (:func:`repository.analysis.recipe.default_window`).

    With an open (default) window and ``exclude_short``, spectra that cover less than
    :data:`~repository.analysis.recipe.MIN_WINDOW_COVERAGE` of it are excluded and named in
    ``window["excluded"]``; a window the caller gave is never silently narrowed: a spectrum that
    falls short raises :class:`UsageError` (one line naming it). Rows that are flat or cannot be
    normalised raise too.
    """
    if recipe.alignment == "stored_shift" and spectra.shifts_ev is None:
        raise UsageError("stored_shift alignment needs the stored shifts: load the spectra with with_shifts=True")
    shifts_all = spectra.shifts_ev if spectra.shifts_ev is not None else np.zeros(len(spectra))
    ranges = np.empty((len(spectra), 2))
    for group in spectra.groups:
        ranges[group.rows] = rec.aligned_ranges(recipe, group.energy_ev, group.intensity, shifts_all[group.rows])
    given = recipe.energy_min_ev is not None and recipe.energy_max_ev is not None
    rule = "given"
    if not recipe.is_resolved:
        steps = np.empty(len(spectra))
        for group in spectra.groups:
            steps[group.rows] = float(np.median(np.diff(group.energy_ev)))
        e0s = None
        if (recipe.version >= 2 and not given and recipe.alignment != "edge_onset"
                and (spectra.element, spectra.edge) not in rec.DEFAULT_WINDOWS_EV):
            e0s = np.empty(len(spectra))
            for group in spectra.groups:
                e0s[group.rows] = rec.onsets(recipe, group.energy_ev, group.intensity) + shifts_all[group.rows] * (
                    recipe.alignment == "stored_shift")
        if recipe.version >= 2 and not given:
            rule = rec.default_window(recipe, spectra.element, spectra.edge, e0s)[1]
        elif not given:
            rule = "the range every spectrum covers (recipe version 1)"
        recipe = rec.resolve(recipe, ranges, steps, element=spectra.element, edge=spectra.edge, e0s=e0s)
    report = rec.window_report(recipe, ranges, spectra.ids, rule=rule)
    if report["excluded"] and (given or not exclude_short):
        rec.check_window(recipe, ranges, spectra.ids)  # raises, naming a spectrum
    if report["excluded"]:
        if len(report["excluded"]) == len(spectra):
            rec.check_window(recipe, ranges, spectra.ids)
        keep = np.flatnonzero(rec.window_coverage(recipe, ranges) >= rec.MIN_WINDOW_COVERAGE)
        spectra, shifts_all = subset(spectra, keep), shifts_all[keep]
    out = np.empty((len(spectra), recipe.n_points), dtype=np.float64)
    for group in spectra.groups:
        out[group.rows] = rec.resample(recipe, group.energy_ev, group.intensity, shifts_all[group.rows],
                                       spectra.ids[group.rows])
    return Prepared(spectra, rec.finish(recipe, out, spectra.ids), recipe, report)


def preprocess(spectra: SpectraSet, recipe: rec.Recipe) -> tuple[np.ndarray, rec.Recipe]:
    """Apply ``recipe`` to every spectrum -> (matrix (n, grid) float64, the resolved recipe).

    As :func:`prepare` without excluding anything: raises :class:`UsageError` (one line, naming a
    spectrum) when any spectrum covers less than
    :data:`~repository.analysis.recipe.MIN_WINDOW_COVERAGE` of the window (checked over the whole
    selection before anything is interpolated), or when a row is flat or cannot be normalised.
    """
    prepared = prepare(spectra, recipe, exclude_short=False)
    return prepared.matrix, prepared.recipe


def training_e0s(spectra: SpectraSet, recipe: rec.Recipe) -> np.ndarray:
    """Edge position (eV, :func:`repository.analysis.recipe.onsets`: e0 for version-2 recipes) of every
    training spectrum on the recipe's energy scale (stored shift added for ``stored_shift``), in
    :class:`SpectraSet` order -> (n,)."""
    out = np.empty(len(spectra))
    for group in spectra.groups:
        found = rec.onsets(recipe, group.energy_ev, group.intensity)
        if recipe.alignment == "stored_shift":
            found = found + spectra.shifts_ev[group.rows]
        out[group.rows] = found
    return out


def training_onset(spectra: SpectraSet, recipe: rec.Recipe) -> float:
    """Median of :func:`training_e0s` (eV), stored with the model as ``reference_onset_ev``."""
    return float(np.median(training_e0s(spectra, recipe)))
