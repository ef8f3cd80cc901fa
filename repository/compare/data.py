"""Loading what the comparison needs from the database: per (element, edge), the preprocessed
spectra, their labels and their electronic-structure descriptors.

Spectra of different absorbing elements or edges are never embedded together (the analysis layer
refuses), so a selection is split into one :class:`EdgeData` per (element, edge). Preprocessing is
the analysis layer's own (:func:`repository.analysis.load.preprocess` with a
:class:`~repository.analysis.recipe.Recipe`), so the numbers describe exactly what ``xasrepo embed``
would embed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import UsageError
from .dos_features import FEATURES as DOS_FEATURES
from .dos_features import dos_features
from .grouped import GROUP_BY

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from ..analysis.recipe import Recipe

# Labels scored by kNN accuracy and silhouette (spectrum_overview columns).
LABELS = ("polymorph", "crystal_system", "defect_kind", "defect_name", "dimensionality")
# The host structure's labels (spectrum_overview, revision 0006): what the grouped protocol scores.
HOST_LABELS = ("host_polymorph", "host_crystal_system", "host_dimensionality")
# Labels not scored, but listed for the nearest neighbours of external spectra (probes).
EXTRA_LABELS = ("absorber_cn",)
# Descriptors from spectrum_overview, then the DOS features; others from the descriptor table follow.
OVERVIEW_DESCRIPTORS = ("sigma_charge_transfer", "hirshfeld_charge")
MIN_SPECTRA = 3  # an embedding needs at least three spectra
_IN_CHUNK = 500


@dataclass(frozen=True)
class EdgeData:
    """Spectra of one absorbing element and edge, ready for embedding."""

    element: str
    edge: str
    ids: np.ndarray  # spectrum ids, ascending
    matrix: np.ndarray  # (n, grid) preprocessed
    recipe: Any  # the resolved Recipe
    labels: dict[str, np.ndarray]  # label -> (n,) object array of strings ("none" where absent; UNKNOWN_DEFECT)
    descriptors: dict[str, np.ndarray]  # name -> (n,) float, NaN where absent
    notes: tuple[str, ...] = field(default=())
    # median edge onset of the raw spectra on the recipe's energy scale (as a snapshot stores it), for
    # aligning external spectra (probes); None where unknown (arrays built without raw spectra)
    reference_onset_ev: float | None = None
    # (n,) edge position of each spectrum (eV, analysis.load.training_e0s, as a snapshot stores it):
    # probes are aligned onto the best-matching member's onset, not the median (which moved sp3
    # probes ~5 eV onto the sp2-dominated median); None where unknown
    train_e0_ev: np.ndarray | None = None
    extra_labels: dict[str, np.ndarray] = field(default_factory=dict)  # EXTRA_LABELS: listed, never scored
    groups: np.ndarray | None = None  # (n,) group of each spectrum (the grouped folds); None: unknown
    group_by: str = "structure"  # what ``groups`` holds: grouped.GROUP_BY ("structure" or "host" ids)
    defect_distance_a: np.ndarray | None = None  # (n,) absorber-defect distance (Angstrom), NaN where none
    # spectra the recipe's window pads (analysis.recipe.padding_text; None: none padded, or unknown)
    window_padding: str | None = None

    def __len__(self) -> int:
        return int(self.ids.size)

    @property
    def name(self) -> str:
        return f"{self.element} {self.edge}"


def _chunks(values: Sequence[int]):
    values = list(values)
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start:start + _IN_CHUNK]


def _group_of(row: dict[str, Any], group_by: str):
    """The fold group of one overview row: its structure id, or its host's (its own for a cell
    without a defect, or when the host is not recorded)."""
    if group_by == "structure":
        return _label_value(row["structure_id"])
    host = row.get("host_structure_id")
    return f"host {row['structure_id'] if host is None else host}"


def _overview_rows(engine: Engine, ids: list[int] | None) -> list[dict[str, Any]]:
    from sqlalchemy import text

    columns = ("spectrum_id", "absorbing_element", "edge", "polarization", "calculation_id", "absorber_site_index",
               "structure_id", "host_structure_id", "absorber_defect_distance_a", *LABELS, *HOST_LABELS, *EXTRA_LABELS,
               *OVERVIEW_DESCRIPTORS)
    sql = f"SELECT {', '.join(columns)} FROM spectrum_overview"
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text(sql + " ORDER BY spectrum_id"))]
    if ids is not None:
        wanted = {int(i) for i in ids}
        rows = [r for r in rows if int(r["spectrum_id"]) in wanted]
    return rows


# defect_kind/defect_name of a spectrum whose defect status is unknown (spectrum_overview.defect_kind
# NULL: no structure, or a file structure nothing was said about). Not "none": that is the label of
# a structure stated to have no defect, which near_defect_mask scores as pristine.
UNKNOWN_DEFECT = "unknown"


def _overview_label(row: dict[str, Any], name: str) -> str:
    """The label ``name`` of a ``spectrum_overview`` row as compared ("none" where absent), with
    :data:`UNKNOWN_DEFECT` for the defect labels of a row whose ``defect_kind`` is NULL."""
    if name in ("defect_kind", "defect_name") and row.get("defect_kind") is None:
        return UNKNOWN_DEFECT
    return _label_value(row[name])


def _label_value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _site_dos(engine: Engine, calc_sites: dict[int, int]) -> dict[tuple[int, int], dict[str, Any]]:
    """(calculation id, site) -> {"fermi": E_F, "energy": axis, "orbitals": {name: density}}."""
    from sqlalchemy import bindparam, text

    from ..arrays import from_blob

    out: dict[tuple[int, int], dict[str, Any]] = {}
    if not calc_sites:
        return out
    statement = text("SELECT calculation_id, site_index, orbital, spin, fermi_energy_ev, energy_ev, density FROM dos "
                     "WHERE projection = 'site' AND calculation_id IN :ids ORDER BY id"
                     ).bindparams(bindparam("ids", expanding=True))
    with engine.connect() as conn:
        for chunk in _chunks(sorted(calc_sites)):
            for r in conn.execute(statement, {"ids": chunk}):
                if r.site_index is None or calc_sites.get(r.calculation_id) != r.site_index:
                    continue
                key = (int(r.calculation_id), int(r.site_index))
                energy = from_blob(r.energy_ev)
                entry = out.setdefault(key, {"fermi": r.fermi_energy_ev, "energy": energy, "orbitals": {}})
                if energy.shape != entry["energy"].shape or not np.allclose(energy, entry["energy"]):
                    continue  # a second energy axis for the same site: keep the first consistent set
                density = from_blob(r.density)
                orbitals = entry["orbitals"]
                orbitals[r.orbital] = orbitals.get(r.orbital, 0.0) + density if r.spin in ("up", "down") \
                    else density
    return out


def _descriptor_table(engine: Engine, calc_sites: dict[int, int]) -> dict[tuple[int, int], dict[str, float]]:
    from sqlalchemy import bindparam, text

    out: dict[tuple[int, int], dict[str, float]] = {}
    if not calc_sites:
        return out
    statement = text("SELECT calculation_id, site_index, name, value FROM descriptor WHERE calculation_id IN :ids"
                     ).bindparams(bindparam("ids", expanding=True))
    with engine.connect() as conn:
        for chunk in _chunks(sorted(calc_sites)):
            for r in conn.execute(statement, {"ids": chunk}):
                site = calc_sites.get(r.calculation_id)
                if r.site_index is not None and r.site_index != site:
                    continue
                out.setdefault((int(r.calculation_id), site), {})[r.name] = float(r.value)
    return out


def _descriptors(engine: Engine, rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    n = len(rows)
    calc_sites = {int(r["calculation_id"]): int(r["absorber_site_index"]) for r in rows
                  if r["calculation_id"] is not None and r["absorber_site_index"] is not None}
    dos = _site_dos(engine, calc_sites)
    table = _descriptor_table(engine, calc_sites)
    out: dict[str, np.ndarray] = {}
    for name in OVERVIEW_DESCRIPTORS:
        out[name] = np.array([np.nan if r[name] is None else float(r[name]) for r in rows])
    features = {name: np.full(n, np.nan) for name in DOS_FEATURES}
    extra: dict[str, np.ndarray] = {}
    for i, r in enumerate(rows):
        if r["calculation_id"] is None or r["absorber_site_index"] is None:
            continue
        key = (int(r["calculation_id"]), int(r["absorber_site_index"]))
        if key in dos:
            for name, value in dos_features(dos[key]["energy"], dos[key]["orbitals"], dos[key]["fermi"]).items():
                features[name][i] = value
        for name, value in table.get(key, {}).items():
            if name in out:
                continue
            extra.setdefault(name, np.full(n, np.nan))[i] = value
    out.update(features)
    out.update(dict(sorted(extra.items())))
    return out


def load_edges(engine: Engine, *, where: str | None = None, recipe: Recipe | None = None,
               polarization: str | None = "iso", progress: Callable[[str], None] | None = None,
               group_by: str = "structure") -> list[EdgeData]:
    """The selected spectra, one :class:`EdgeData` per (absorbing element, edge) with >= 3 spectra.

    ``where`` is the query language of ``xasrepo query``; ``polarization`` keeps only spectra of that
    polarization (None: all; polarised and isotropic spectra of one site are near duplicates that
    would flatter every neighbour-based score); ``group_by`` (:data:`.grouped.GROUP_BY`) what a grouped fold
    holds out. Raises :class:`UsageError` when nothing is left or ``group_by`` is unknown.
    """
    from ..analysis.load import load_spectra, prepare, select_spectrum_ids, training_e0s
    from ..analysis.recipe import Recipe, padding_text

    if group_by not in GROUP_BY:
        raise UsageError(f"--group-by {group_by!r}: expected one of {', '.join(GROUP_BY)}")
    say = progress or (lambda _message: None)
    recipe = recipe or Recipe()
    ids = select_spectrum_ids(engine, where=where)
    if ids is not None and not ids:
        raise UsageError(f"no spectra match {where!r}")
    rows = _overview_rows(engine, ids)
    if polarization:
        rows = [r for r in rows if (r["polarization"] or "iso") == polarization]
    if not rows:
        raise UsageError("no spectra match the selection" + (f" with polarization {polarization}" if polarization else ""))
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["absorbing_element"], r["edge"]), []).append(r)
    out = []
    for (element, edge), members in sorted(groups.items()):
        if len(members) < MIN_SPECTRA:
            say(f"skipping {element} {edge}: {len(members)} spectra (an embedding needs {MIN_SPECTRA})")
            out.append(EdgeData(element, edge, np.array([int(r["spectrum_id"]) for r in members], dtype=np.int64),
                                np.empty((len(members), 0)), None, {}, {},
                                (f"only {len(members)} spectra: too few to embed",)))
            continue
        say(f"loading {len(members)} {element} {edge} spectra")
        spectra = load_spectra(engine, ids=[int(r["spectrum_id"]) for r in members])
        prepared = prepare(spectra, recipe, exclude_short=False)  # as preprocess(), keeping the window report
        matrix, resolved = prepared.matrix, prepared.recipe
        by_id = {int(r["spectrum_id"]): r for r in members}
        ordered = [by_id[int(i)] for i in spectra.ids]
        labels = {name: np.array([_overview_label(r, name) for r in ordered], dtype=object)
                  for name in (*LABELS, *HOST_LABELS)}
        extra = {name: np.array([_label_value(r[name]) for r in ordered], dtype=object) for name in EXTRA_LABELS}
        groups = np.array([_group_of(r, group_by) for r in ordered], dtype=object)
        distance = np.array([np.nan if r["absorber_defect_distance_a"] is None else float(r["absorber_defect_distance_a"])
                             for r in ordered])
        say(f"reading DOS and descriptors of {element} {edge}")
        # every spectrum's e0 once; their median is analysis.load.training_onset's reference onset
        e0s = training_e0s(spectra, resolved)
        out.append(EdgeData(element, edge, np.asarray(spectra.ids, dtype=np.int64), matrix, resolved, labels,
                            _descriptors(engine, ordered), reference_onset_ev=float(np.median(e0s)),
                            train_e0_ev=e0s,
                            extra_labels=extra, groups=groups, group_by=group_by, defect_distance_a=distance,
                            window_padding=padding_text(prepared.window)))
    return out


def data_provenance(engine: Engine, ids: Sequence[int] | None = None, directory: str | Path | None = None) -> str:
    """Which data a report was made from: the calculation sets of the selected spectra with the
    first 12 hex digits of each manifest's SHA-256 (and, for ``directory`` inside a git checkout,
    the last commit that touched it, with ``+changes`` when the working tree differs)."""
    import subprocess

    from sqlalchemy import text

    sql = ("SELECT cs.name, cs.manifest_hash, COUNT(s.id) FROM spectrum s JOIN calculation c ON c.id = s.calculation_id "
           "JOIN calculation_set cs ON cs.id = c.calculation_set_id GROUP BY cs.name, cs.manifest_hash ORDER BY cs.name")
    with engine.connect() as conn:
        sets = [(r[0], r[1], int(r[2])) for r in conn.execute(text(sql))]
    parts = [f"calculation set {name!r} (manifest sha256 {digest[:12]}, {count} spectra)" for name, digest, count in sets]
    text_out = "; ".join(parts) or "spectra without a calculation set"
    if directory is not None:
        try:
            where = Path(directory)
            commit = subprocess.run(["git", "-C", str(where), "log", "-1", "--format=%h %cs", "--", "."],
                                    capture_output=True, text=True, timeout=10, check=True).stdout.strip()
            dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--", "."],
                                   capture_output=True, text=True, timeout=10, check=True).stdout.strip()
            if commit:
                text_out += f"; {directory} at git commit {commit}" + (" +changes" if dirty else "")
        except (OSError, subprocess.SubprocessError):
            pass
    return text_out


def edge_data_from_arrays(matrix: np.ndarray, labels: dict[str, Sequence], descriptors: dict[str, Sequence] | None = None,
                          *, element: str = "X", edge: str = "K", ids: Sequence[int] | None = None,
                          groups: Sequence | None = None, defect_distance_a: Sequence | None = None) -> EdgeData:
    """An :class:`EdgeData` from arrays (already preprocessed), for tests and other sources.

    ``groups``: the structure of each spectrum (grouped folds); ``defect_distance_a``: absorber-defect
    distances in Angstrom (None or NaN where the cell has no defect)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    n = matrix.shape[0]
    ids_arr = np.arange(1, n + 1, dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)
    lab = {k: np.array([_label_value(v) for v in vals], dtype=object) for k, vals in labels.items()}
    desc = {k: np.asarray(v, dtype=np.float64) for k, v in (descriptors or {}).items()}
    grp = None if groups is None else np.array([_label_value(v) for v in groups], dtype=object)
    dist = None if defect_distance_a is None else np.array(
        [np.nan if v is None else float(v) for v in defect_distance_a], dtype=np.float64)
    for name, arr in [*lab.items(), *desc.items(), ("groups", grp), ("defect_distance_a", dist)]:
        if arr is not None and len(arr) != n:
            raise UsageError(f"{name} has {len(arr)} values for {n} spectra")
    return EdgeData(element, edge, ids_arr, matrix, None, lab, desc, groups=grp, defect_distance_a=dist)


@contextmanager
def imported_calcset(directory: str | Path, *, progress: Callable[[str], None] | None = None) -> Iterator[Engine]:
    """An engine on a temporary SQLite database holding the calculation set in ``directory``
    (read with :func:`repository.calcset.read_calcset`, imported with
    :func:`repository.importer.import_calcset`); the database is deleted afterwards."""
    from ..calcset import read_calcset
    from ..db import make_engine, resolve_url, upgrade
    from ..importer import import_calcset

    say = progress or (lambda _message: None)
    plan = read_calcset(directory)
    with tempfile.TemporaryDirectory(prefix="xasrepo-compare-") as tmp:
        path = Path(tmp) / "calcset.db"
        upgrade(str(path))
        engine = make_engine(resolve_url(str(path)))
        try:
            say(f"importing {directory}")
            import_calcset(engine, plan)
            yield engine
        finally:
            engine.dispose()
