"""Selecting spectra and loading them from the database into matrices.

Spectra of one energy grid are stacked with a single ``np.frombuffer`` over the joined BLOBs
(:func:`repository.arrays.stack_blobs`), so loading 100k spectra costs little more than reading
their bytes. Spectra of different absorbing elements or edges are never mixed: a selection that
contains more than one (element, edge) pair is refused with a message that says so.
"""

from __future__ import annotations

import re
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
FETCH_ROWS = 8192  # rows per fetch when streaming spectra (a few MB of BLOBs)
PREPARE_ROWS = 32768  # rows preprocessed at a time (temporaries of this many rows only)


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


def _batches(engine: Engine, ids: Sequence[int] | None, element: str | None, edge: str | None, columns: str,
             tail: str = "ORDER BY id", extra: dict | None = None, batch_rows: int | None = None):
    """Rows of ``SELECT columns FROM spectrum WHERE <selection> tail`` in lists of at most ``batch_rows``,
    over chunks of ``ids`` (ascending, so ``ORDER BY id`` orders the whole stream).

    SQLite rows come straight from the driver (plain tuples, no Row objects): loading is dominated
    by creating one Python object per value, so every column and wrapper counts. ``extra`` are
    further bound parameters (named ``:name`` in ``columns``).
    """
    chunks: list[list[int] | None] = [None]
    if ids is not None:
        ordered = sorted({int(i) for i in ids})
        chunks = [ordered[start:start + _IN_CHUNK] for start in range(0, len(ordered), _IN_CHUNK)]
    with engine.connect() as conn:
        raw = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None
        for chunk in chunks:
            if raw is not None:
                names = {f"i{n}": value for n, value in enumerate(chunk or [])}
                clause = f"id IN ({', '.join(':' + n for n in names)})" if chunk is not None else ""
                sql, params = _select_sql(clause, element, edge, columns, tail)
                cursor = raw.execute(sql, {**params, **names, **(extra or {})})
                while batch := cursor.fetchmany(batch_rows or FETCH_ROWS):
                    yield batch
            else:
                sql, params = _select_sql("id IN :ids" if chunk is not None else "", element, edge, columns, tail)
                statement = text(sql)
                if chunk is not None:
                    statement = statement.bindparams(bindparam("ids", expanding=True))
                    params["ids"] = chunk
                result = conn.execution_options(stream_results=True).execute(statement, {**params, **(extra or {})})
                for batch in result.partitions(batch_rows or FETCH_ROWS):
                    yield [tuple(r) for r in batch]


def _run(engine: Engine, ids: Sequence[int] | None, element: str | None, edge: str | None, columns: str,
         tail: str = "ORDER BY id") -> list[tuple]:
    """All rows of :func:`_batches` in one list (small results: counts, shifts)."""
    rows: list = []
    for batch in _batches(engine, ids, element, edge, columns, tail):
        rows.extend(batch)
    return rows


def _check_one_edge(engine: Engine, ids, element, edge) -> tuple[str, str]:
    """The one (element, edge) of the selection; UsageError when it is empty or mixes several."""
    return _one_edge_count(engine, ids, element, edge)[:2]


def _any_not_xas(engine: Engine) -> bool:
    """Whether any stored spectrum is of another spectroscopy than XAS (an index scan, no row reads)."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT 1 FROM spectrum WHERE spectroscopy < 'XAS' OR spectroscopy > 'XAS' LIMIT 1")
                            ).first() is not None


def _one_edge_count(engine: Engine, ids, element, edge) -> tuple[str, str, int]:
    """(element, edge, number of spectra) of the selection, as :func:`_check_one_edge` checks it."""
    counts: dict[tuple[str, str], int] = {}
    other_kinds: dict[str, int] = {}
    # spectroscopy is the last column of a spectrum row, behind its BLOBs: reading it for every row
    # walks every row's overflow pages (as long as loading the matrix). The database's index on it
    # says first whether any row is not XAS; only then is the selection itself counted by kind.
    if _any_not_xas(engine):
        for kind, n in _run(engine, ids, element, edge, "spectroscopy, COUNT(*)", "GROUP BY spectroscopy"):
            if kind != "XAS":
                other_kinds[kind] = int(n)
    for el, ed, n in _run(engine, ids, element, edge, "absorbing_element, edge, COUNT(*)",
                          "GROUP BY absorbing_element, edge"):
        counts[(el, ed)] = counts.get((el, ed), 0) + int(n)
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
    (found_element, found_edge), n = next(iter(counts.items()))
    return found_element, found_edge, n


def polarization_counts(engine: Engine, ids: Sequence[int] | None, element: str | None, edge: str | None
                        ) -> dict[str, int]:
    """Number of selected spectra per polarisation (``iso``, ``E||c``, ...)."""
    return {str(p): int(n) for p, n in _run(engine, ids, element, edge, "polarization, COUNT(*)",
                                                "GROUP BY polarization")}


# Where the selected spectra come from (source_counts): the calculation set of each spectrum's
# first calculation, as the snapshot's calculation_set column shows it, and its origin.
MEASURED_SOURCE = "(measured)"
NO_SET_SOURCE = "(computed, no set)"
_SOURCE_SQL = ("(SELECT cs.name FROM calculation c JOIN calculation_set cs ON cs.id = c.calculation_set_id "
               "WHERE c.id = spectrum.calculation_id), origin, COUNT(*)")
_LINKED_SQL = ("SUM(CASE WHEN EXISTS (SELECT 1 FROM spectrum_calculation lk JOIN calculation lc ON lc.id = "
               "lk.calculation_id JOIN calculation_set ls ON ls.id = lc.calculation_set_id WHERE lk.spectrum_id = "
               "spectrum.id AND ls.name = :set{k}) THEN 1 ELSE 0 END)")


def _source_rows(engine: Engine, ids, element, edge) -> dict[str, int]:
    """Selected spectra per source label, each counted under its first calculation's set."""
    counts: dict[str, int] = {}
    for name, origin, n in _run(engine, ids, element, edge, _SOURCE_SQL, "GROUP BY 1, 2"):
        label = name if name is not None else MEASURED_SOURCE if origin == "experimental" else NO_SET_SOURCE
        counts[label] = counts.get(label, 0) + int(n)
    return counts


def _linked_counts(engine: Engine, ids, element, edge, names: Sequence[str]) -> dict[str, int]:
    """Number of selected spectra linked to each calculation set of ``names`` (through any calculation)."""
    columns = ", ".join(_LINKED_SQL.format(k=k) for k in range(len(names)))
    totals = [0] * len(names)
    for batch in _batches(engine, ids, element, edge, columns, "", extra={f"set{k}": n for k, n in enumerate(names)}):
        for row in batch:
            totals = [t + int(v or 0) for t, v in zip(totals, row)]
    return dict(zip(names, totals))


def source_counts(engine: Engine, ids: Sequence[int] | None, element: str | None, edge: str | None, *,
                  excluded: Sequence[int] = ()) -> dict[str, int]:
    """Number of selected spectra (all, or ``ids``; narrowed by ``element``/``edge``; less the
    spectra ``excluded``) per source, largest first: the name of the calculation set of each
    spectrum's first calculation (the snapshot's ``calculation_set`` column),
    :data:`MEASURED_SOURCE` for measured spectra, :data:`NO_SET_SOURCE` for computed ones
    without a set. A spectrum imported by several sets belongs to each (the query language's
    ``calculation_set``): when one of the sets found holds every selected spectrum, they all
    count as that set's, so a selection filtered by one set is one source."""
    counts = _source_rows(engine, ids, element, edge)
    if excluded:
        for label, n in _source_rows(engine, list(excluded), element, edge).items():
            counts[label] -= n
    counts = {label: n for label, n in counts.items() if n > 0}
    total = sum(counts.values())
    sets = [label for label in counts if label not in (MEASURED_SOURCE, NO_SET_SOURCE)]
    if len(counts) > 1 and sets:
        linked = _linked_counts(engine, ids, element, edge, sets)
        if excluded:
            for name, n in _linked_counts(engine, list(excluded), element, edge, sets).items():
                linked[name] -= n
        covering = [name for name in sets if linked[name] == total]
        if covering:
            return {covering[0]: total}
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


_SHIFT_SQL = ("id, COALESCE((SELECT c.alignment_shift_ev FROM calculation c WHERE c.id = spectrum.calculation_id), 0)"
              " + COALESCE(calibration_shift_ev, 0)")


def load_spectra(engine: Engine, *, ids: Sequence[int] | None = None, element: str | None = None,
                 edge: str | None = None, with_shifts: bool = True) -> SpectraSet:
    """Load the selected spectra (all, or ``ids``; narrowed by ``element``/``edge``).

    Rows stream from the database in batches of :data:`FETCH_ROWS` straight into one preallocated
    float64 matrix per energy grid (the stored values, exact): the memory is that matrix plus one
    batch, never a list of every row's bytes. The database compares each row's energy grid with
    the first one (``CASE WHEN energy_ev = :grid``), so the usual single common grid is never
    copied into Python per row. ``with_shifts`` also loads each spectrum's stored shift (needed
    only by ``stored_shift`` alignment; ``shifts_ev`` is None without it). Raises
    :class:`UsageError` when nothing matches, when the selection mixes elements or edges, or when
    spectra are added to the selection while it is being read.
    """
    element, edge, n = _one_edge_count(engine, ids, element, edge)
    head = _batches(engine, ids, element, edge, "energy_ev", "ORDER BY id LIMIT 1")
    try:
        found = next(head, None)
    finally:
        head.close()  # releases the connection at once
    first = bytes(found[0][0]) if found else None
    if first is None:
        raise UsageError("no spectra match the selection")
    n_points = len(first) // STORED_DTYPE.itemsize
    row_bytes = n_points * STORED_DTYPE.itemsize
    matrix = np.empty((n, n_points), dtype=STORED_DTYPE)  # untouched rows cost no memory (np.empty)
    target = memoryview(matrix).cast("B")  # the matrix's bytes, written row by row
    common_rows = np.empty(n, dtype=np.int64)
    id_col = np.empty(n, dtype=np.int64)
    hashes: list[str] = []
    others: dict[bytes, tuple[list[int], list[bytes]]] = {}
    filled = position = 0
    columns = "id, content_hash, CASE WHEN energy_ev = :grid THEN NULL ELSE energy_ev END, intensity"
    for batch in _batches(engine, ids, element, edge, columns, extra={"grid": first}):
        size = len(batch)
        if position + size > n:
            raise UsageError("spectra were added to the selection while it was being loaded; run it again")
        id_col[position:position + size] = np.fromiter(map(itemgetter(0), batch), dtype=np.int64, count=size)
        hashes.extend(map(itemgetter(1), batch))
        grids = list(map(itemgetter(2), batch))
        if grids.count(None) == size:  # the usual case: every row on the first grid
            # each BLOB copied once, straight into the matrix (a joined copy first costs 4x more:
            # measured 0.14 s against 0.004-0.04 s per 8,192 rows of 300 points)
            at = filled * row_bytes
            try:
                for blob in map(itemgetter(3), batch):
                    target[at:at + row_bytes] = blob
                    at += row_bytes
            except ValueError:
                raise UsageError("stored spectra have intensity arrays of another length than their energy grid"
                                 ) from None
            common_rows[filled:filled + size] = np.arange(position, position + size)
            filled += size
        else:
            for offset, (grid, row) in enumerate(zip(grids, batch)):
                if grid is None:
                    if len(row[3]) != row_bytes:
                        raise UsageError("stored spectra have intensity arrays of another length than their "
                                         "energy grid")
                    matrix[filled] = np.frombuffer(row[3], dtype=STORED_DTYPE)
                    common_rows[filled] = position + offset
                    filled += 1
                else:
                    rows, blobs = others.setdefault(bytes(grid), ([], []))
                    rows.append(position + offset)
                    blobs.append(bytes(row[3]))
        position += size
    if position != n:
        raise UsageError("spectra were removed from the selection while it was being loaded; run it again")
    groups = [SpectrumGroup(np.frombuffer(first, dtype=STORED_DTYPE), common_rows[:filled], matrix[:filled])]
    for energy_blob, (rows, blobs) in others.items():
        energy = np.frombuffer(energy_blob, dtype=STORED_DTYPE)
        groups.append(SpectrumGroup(energy, np.asarray(rows, dtype=np.int64), stack_blobs(blobs, energy.size)))
    shifts = None
    if with_shifts:
        by_id = dict(_run(engine, ids, element, edge, _SHIFT_SQL))
        shifts = np.fromiter((by_id.get(i, 0.0) or 0.0 for i in id_col.tolist()), dtype=np.float64, count=n)
    return SpectraSet(ids=id_col, content_hashes=tuple(hashes), element=element, edge=edge, shifts_ev=shifts,
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


def prepare(spectra: SpectraSet, recipe: rec.Recipe, *, exclude_short: bool = True,
            dtype: np.dtype | type | None = None) -> Prepared:
    """Apply ``recipe`` to every spectrum; an open window is set by the element and edge
    (:func:`repository.analysis.recipe.default_window`).

    With an open (default) window and ``exclude_short``, spectra that cover less than
    :data:`~repository.analysis.recipe.MIN_WINDOW_COVERAGE` of it are excluded and named in
    ``window["excluded"]``; a window the caller gave is never silently narrowed: a spectrum that
    falls short raises :class:`UsageError` (one line naming it). Rows that are flat or cannot be
    normalised raise too.

    The rows are preprocessed :data:`PREPARE_ROWS` at a time into ONE preallocated matrix of
    ``dtype`` (None: float64; :func:`repository.analysis.recipe.matrix_dtype` says when float32
    is enough), so the temporaries of interpolation and normalisation never exceed one block.
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
    out = np.empty((len(spectra), recipe.n_points), dtype=np.float64 if dtype is None else dtype)
    for group in spectra.groups:
        for start in range(0, group.rows.size, PREPARE_ROWS):
            rows = group.rows[start:start + PREPARE_ROWS]
            block = group.intensity[start:start + PREPARE_ROWS]
            resampled = rec.resample(recipe, group.energy_ev, block, shifts_all[rows], spectra.ids[rows])
            try:
                out[rows] = rec.finish(recipe, resampled, spectra.ids[rows])
            except UsageError as err:
                if len(spectra) <= PREPARE_ROWS:
                    raise
                raise UsageError(_count_all(str(err), spectra, recipe, shifts_all)) from None
    return Prepared(spectra, out, recipe, report)


def _count_all(message: str, spectra: SpectraSet, recipe: rec.Recipe, shifts: np.ndarray) -> str:
    """``message`` (a :func:`~repository.analysis.recipe.finish` error about one block of rows) with
    its "K of N spectra in all" counted over the whole selection, not just that block."""
    flat = "is flat" in message
    bad = 0
    for group in spectra.groups:
        for start in range(0, group.rows.size, PREPARE_ROWS):
            rows = group.rows[start:start + PREPARE_ROWS]
            resampled = rec.resample(recipe, group.energy_ev, group.intensity[start:start + PREPARE_ROWS],
                                     shifts[rows], spectra.ids[rows])
            mask = rec.flat_rows(resampled) if flat else rec.unnormalizable_rows(resampled, recipe)
            bad += int(mask.sum())
    counted = re.sub(r"\d+ of \d+ spectra in all", f"{bad} of {len(spectra)} spectra in all", message)
    return counted


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
