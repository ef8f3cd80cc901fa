"""The snapshot registry: the ``snapshot`` and ``snapshot_point`` tables and the files they name.

Every embedding is a new *snapshot*: a Parquet file with one row per spectrum (``spectrum_id``,
``x``, ``y`` [, ``z``], ``content_hash`` and denormalised ``spectrum_overview`` columns) whose
footer carries the JSON metadata under :data:`~repository.snapshots.files.FOOTER_KEY`, plus a model
artifact (``.npz``, no pickles) with what projection needs. :func:`store_snapshot` writes both to
temporary files, renames them into place and records them, with their SHA-256 and row count, in
the ``snapshot`` table; the coordinates also go into ``snapshot_point`` for plain-SQL joins.
Files are never rewritten: a changed input or parameter gives a new snapshot whose ``parent_id``
is the previous version of the same selection and method. Reads (:func:`read_table`,
:func:`load_model`) check each file against its registered SHA-256 first.

Computing a snapshot (selection, preprocessing, fit) is the analysis layer's job:
:func:`repository.analysis.create.create_snapshot`.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import insert, text

from ..conventions import utc_now
from ..db import engine_url, is_sqlite, sqlite_path
from ..errors import ChecksFailed, InputError, NotFoundError, UsageError
from ..files import atomic_write, file_sha256
from ..models import Snapshot, SnapshotPoint
from .files import (
    COORDINATE_NAMES,
    FOOTER_KEY,
    SNAPSHOT_DIR_ENV,
    SNAPSHOT_FORMAT_VERSION,
    check_file,
    require_intact,
    resolve_stored,
    save_npz,
    stored_path,
)
from .parquet import filter_snapshot_rows

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

# spectrum_overview columns copied into every snapshot row (denormalised for plots and queries).
PROPERTY_COLUMNS = (
    "origin", "reduced_formula", "polymorph", "spacegroup_number", "spacegroup_symbol", "crystal_system",
    "dimensionality", "defect_kind", "defect_name", "defect_charge", "absorbing_element", "edge",
    "spectrum_type", "polarization", "absorber_site_index", "absorber_cn", "absorber_defect_distance_a",
    "calculation_set", "sample_name", "hirshfeld_charge", "sigma_charge_transfer", "bader_charge",
)
LIST_COLUMNS = ("id", "uid", "parent", "method", "n_components", "element", "edge", "row_count", "seed",
                "filter", "created_at")
_INTEGER_COLUMNS = {"spacegroup_number", "dimensionality", "defect_charge", "absorber_site_index", "absorber_cn"}
_FLOAT_COLUMNS = {"absorber_defect_distance_a", "hirshfeld_charge", "sigma_charge_transfer", "bader_charge"}


# ----------------------------------------------------------------------------------------------
# reads

def _row_dict(row) -> dict[str, Any]:
    return dict(row._mapping)


def list_snapshots(engine: Engine) -> list[dict[str, Any]]:
    """All registered snapshots, oldest first (summary columns)."""
    sql = ("SELECT s.id, s.uid, p.uid AS parent, s.method, s.n_components, s.element, s.edge, s.row_count, "
           "s.seed, s.filter_text AS filter, s.created_at FROM snapshot s "
           "LEFT JOIN snapshot p ON p.id = s.parent_id ORDER BY s.id")
    with engine.connect() as conn:
        return [_row_dict(r) for r in conn.execute(text(sql))]


def get_snapshot(engine: Engine, ref: str | int) -> dict[str, Any]:
    """A snapshot's registry row by id (``12``), uid, or a unique uid prefix; JSON fields decoded.

    ``path`` and ``model_path`` are the files as they are found today (absolute, resolved with
    :func:`~repository.snapshots.files.resolve_stored`); ``stored_path`` and ``stored_model_path``
    are what the registry holds (relative to the database's folder when the files lie under it).
    Raises :class:`NotFoundError` when nothing matches, :class:`UsageError` for an ambiguous prefix."""
    ref = str(ref).strip()
    with engine.connect() as conn:
        rows = []
        if ref.isdigit():
            rows = conn.execute(text("SELECT * FROM snapshot WHERE id = :id"), {"id": int(ref)}).fetchall()
        if not rows:
            rows = conn.execute(text("SELECT * FROM snapshot WHERE uid = :uid"), {"uid": ref}).fetchall()
        if not rows:
            rows = [r for r in conn.execute(text("SELECT * FROM snapshot ORDER BY id"))
                    if r._mapping["uid"].startswith(ref)]
        if not rows:
            raise NotFoundError(f"no snapshot {ref!r} (see `xasrepo snapshots list`)")
        if len(rows) > 1:
            raise UsageError(f"snapshot {ref!r} is ambiguous: {', '.join(r._mapping['uid'] for r in rows)}")
        record = _row_dict(rows[0])
        parent = None
        if record["parent_id"] is not None:
            parent = conn.execute(text("SELECT uid FROM snapshot WHERE id = :id"), {"id": record["parent_id"]}).scalar()
    record["parent_uid"] = parent
    url = engine_url(engine)
    record["stored_path"], record["stored_model_path"] = record["path"], record["model_path"]
    record["path"] = resolve_stored(url, record["path"])
    record["model_path"] = resolve_stored(url, record["model_path"])
    record["recipe"] = json.loads(record.pop("recipe_json"))
    record["params"] = json.loads(record.pop("params_json"))
    record["library_versions"] = json.loads(record.pop("library_versions_json"))
    return record


def snapshot_path(engine: Engine, ref: str | int) -> Path:
    """The Parquet file of a registered snapshot (used by ``repository.plots`` to resolve ids)."""
    return Path(get_snapshot(engine, ref)["path"])


def read_table(engine: Engine, ref: str | int, columns: Sequence[str] | None = None):
    """The snapshot's rows (all or some ``columns``) as a pyarrow Table, after checking the file's
    SHA-256 against the registry (:class:`NotFoundError` when missing, :class:`InputError` when
    altered)."""
    import pyarrow.parquet as pq  # lazy: pyarrow costs ~0.3 s, and `snapshots list` does without

    record = get_snapshot(engine, ref)
    require_intact(record["path"], record["sha256"], "Parquet file", record["uid"])
    # ParquetFile, not pq.read_table: the latter imports pyarrow.dataset (~1 s in a fresh process).
    parquet = pq.ParquetFile(record["path"])
    if columns is not None:
        columns = [c for c in columns if c in parquet.schema_arrow.names]
    return parquet.read(columns=columns)


def load_model(record: dict[str, Any]) -> dict[str, np.ndarray]:
    """The snapshot's model arrays, loaded only when the file's SHA-256 matches the registry.

    The artifact is an ``.npz`` read with ``allow_pickle=False``; checking the checksum first still
    matters: it guarantees projection uses exactly the model that was fitted, and it is the rule for
    any pickle-based artifact (unpickling runs code, so an altered pickle could run anything).
    """
    if not record.get("model_path"):
        raise UsageError(f"snapshot {record['uid']} has no stored model")
    require_intact(record["model_path"], record["model_sha256"], "model file", record["uid"])
    with np.load(record["model_path"], allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def query_snapshot(engine: Engine, ref: str | int, where: str | None = None, *, sort: str | None = None,
                   limit: int | None = None) -> list[dict[str, Any]]:
    """Rows of a registered snapshot (checked against its SHA-256) matching ``where`` (the query
    language), as dicts, in snapshot order or ``sort`` order; at most ``limit`` of them."""
    table = read_table(engine, ref)
    if where and where.strip() or sort or limit is not None:
        table = filter_snapshot_rows(table, where, sort=sort, limit=limit)
    return table.to_pylist()


def registered_snapshots(engine: Engine, *, verify: bool = True) -> dict[str, str]:
    """``{uid: Parquet path}`` of every snapshot in the database's ``snapshot`` table (relative
    paths resolved with :func:`~repository.snapshots.files.resolve_stored`), ready for
    :func:`repository.snapshots.parquet.snapshot_sql`.

    Each file is first checked against the SHA-256 in the registry (the rule of ``snapshots
    query``): a missing file raises :class:`~repository.errors.NotFoundError`, an altered or
    swapped one :class:`~repository.errors.InputError`, each naming the file.
    """
    url = engine_url(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT uid, path, sha256 FROM snapshot ORDER BY id")).all()
    paths = {}
    for uid, path, sha256 in rows:
        full = resolve_stored(url, path)
        if verify:
            require_intact(full, sha256, "Parquet file", uid)
        paths[uid] = full
    return paths


def verify_snapshots(engine: Engine) -> list[dict[str, Any]]:
    """Recompute every snapshot's and model's SHA-256 (and the row count); one row per file with
    status ok / missing / altered. The caller decides what a failure means (the CLI exits 1)."""
    import pyarrow.parquet as pq  # lazy: pyarrow costs ~0.3 s, and `snapshots list` does without

    out = []
    for summary in list_snapshots(engine):
        record = get_snapshot(engine, summary["id"])
        for kind, path, expected in (("snapshot", record["path"], record["sha256"]),
                                     ("model", record["model_path"], record["model_sha256"])):
            status = check_file(path, expected)
            if status == "none":
                continue
            if kind == "snapshot" and status == "ok" and pq.read_metadata(path).num_rows != record["row_count"]:
                status = "altered"
            out.append({"id": record["id"], "uid": record["uid"], "file": kind, "path": path, "status": status})
    return out


def check_verified(results: list[dict[str, Any]]) -> None:
    """Raise :class:`ChecksFailed` (exit code 1) naming every missing or altered file and every
    stray file (:func:`stray_snapshot_files`) that was not removed."""
    bad = [r for r in results if r["status"] not in ("ok", "removed")]
    if bad:
        strays = any(r["uid"] is None for r in bad)
        raise ChecksFailed(f"{len(bad)} snapshot file(s) failed verification: "
                           + "; ".join(f"{r['uid'] or 'unregistered'} {r['file']} {r['status']} ({r['path']})"
                                       for r in bad)
                           + ("; remove the unregistered ones with `xasrepo snapshots verify --prune`" if strays else ""))


# Files that only xasrepo writes in a snapshot folder: a snapshot (``<method>_<UTC time>_<6 hex>``,
# see store_snapshot) and the temporary files of repository.files.atomic_write beside it.
SNAPSHOT_FILE_NAME = re.compile(r"^[a-z]+_\d{8}T\d{6}_[0-9a-f]{6}\.(?:parquet|model\.npz)$")
TEMPORARY_FILE_NAME = re.compile(r"^\.([a-z]+_\d{8}T\d{6}_[0-9a-f]{6}\.(?:parquet|model\.npz))\.\d+\.[0-9a-f]{8}\.tmp$")


def _registered_files(conn, url: str) -> set[Path]:
    files = set()
    for path, model_path in conn.execute(text("SELECT path, model_path FROM snapshot")):
        for stored in (path, model_path):
            if stored is not None:
                files.add(Path(resolve_stored(url, stored)).resolve())
    return files


def _snapshot_folders(url: str, registered: set[Path]) -> list[Path]:
    """The folders that hold this database's snapshot files: those of registered files and the
    default folder (:func:`repository.snapshots.files.snapshot_dir`), when they exist (none is created)."""
    folders = {p.parent for p in registered}
    chosen = os.environ.get(SNAPSHOT_DIR_ENV)
    if chosen:
        folders.add(Path(chosen).expanduser().resolve())
    path = sqlite_path(url) if is_sqlite(url) else None
    if path is not None:
        folders.add(path.resolve().parent / f"{path.stem}.snapshots")
    return sorted(f for f in folders if f.is_dir())


def _strays(conn, url: str) -> list[dict[str, Any]]:
    registered = _registered_files(conn, url)
    out = []
    for folder in _snapshot_folders(url, registered):
        for path in sorted(folder.iterdir()):
            if not path.is_file() or path.resolve() in registered:
                continue
            if SNAPSHOT_FILE_NAME.match(path.name):
                out.append({"id": None, "uid": None, "file": "orphan", "path": str(path), "status": "unregistered"})
            elif TEMPORARY_FILE_NAME.match(path.name):
                out.append({"id": None, "uid": None, "file": "temporary", "path": str(path), "status": "unregistered"})
    return out


def stray_snapshot_files(engine: Engine, *, prune: bool = False) -> list[dict[str, Any]]:
    """Files in this database's snapshot folders that its registry does not name: ``orphan``
    snapshots (``<method>_<time>_<hex>.parquet`` / ``.model.npz``, e.g. left by an ``embed`` killed
    between writing and registering) and ``temporary`` files of an interrupted write. Other files
    are never listed. Rows as :func:`verify_snapshots` gives, with ``uid`` None and status
    ``unregistered``; with ``prune`` each is deleted (status ``removed``).

    The folders are those of the registered files and the default one; the check runs under the
    registration lock (:func:`register_snapshot`), so a snapshot being registered right now is not
    mistaken for an orphan. Do not share one snapshot folder between databases: the other
    database's snapshots would be orphans here.
    """
    url = engine_url(engine)
    with engine.begin() if prune else engine.connect() as conn:
        if prune:
            _registration_lock(conn)
        rows = _strays(conn, url)
        if prune:
            for row in rows:
                Path(row["path"]).unlink(missing_ok=True)
                row["status"] = "removed"
    return rows


def relocate_snapshots(engine: Engine, old: str | Path, new: str | Path) -> list[dict[str, Any]]:
    """Repair a registry whose files moved: every registered file that lay under folder ``old``
    is looked for at the same place under folder ``new`` and registered there (relative to the
    database's folder when it lies under it, see :func:`repository.snapshots.files.stored_path`).

    All or nothing: each moved file must exist and match its registered SHA-256 before anything is
    changed. Returns one row per file (uid, file, old path, new path). Raises :class:`UsageError`
    when ``new`` is not a folder or no registered file lay under ``old``, :class:`NotFoundError`
    for a file missing in ``new``, :class:`InputError` for one whose SHA-256 differs.
    """
    url = engine_url(engine)
    old_dir, new_dir = Path(old).expanduser().absolute(), Path(new).expanduser().resolve()
    if not new_dir.is_dir():
        raise UsageError(f"{new}: no such folder")
    changes = []
    with engine.begin() as conn:
        _registration_lock(conn)
        rows = conn.execute(text("SELECT id, uid, path, sha256, model_path, model_sha256 FROM snapshot ORDER BY id")).all()
        for snapshot_id, uid, path, sha256, model_path, model_sha256 in rows:
            for column, stored, expected in (("path", path, sha256), ("model_path", model_path, model_sha256)):
                if stored is None:
                    continue
                was = Path(resolve_stored(url, stored))
                try:
                    relative = was.relative_to(old_dir)
                except ValueError:
                    try:
                        relative = was.resolve().relative_to(old_dir.resolve())
                    except ValueError:
                        continue
                moved = new_dir / relative
                status = check_file(str(moved), expected)
                if status == "missing":
                    raise NotFoundError(f"snapshot {uid}: {moved} does not exist (nothing was changed)")
                if status == "altered":
                    raise InputError(moved, f"does not match the SHA-256 registered for snapshot {uid} (nothing was changed)")
                changes.append({"id": snapshot_id, "uid": uid, "file": "snapshot" if column == "path" else "model",
                                "old": str(was), "new": str(moved), "_column": column,
                                "_stored": stored_path(url, moved)})
        if not changes:
            raise UsageError(f"no registered snapshot file lies under {old_dir} (see `xasrepo snapshots verify`)")
        for change in changes:
            conn.execute(text(f"UPDATE snapshot SET {change.pop('_column')} = :p WHERE id = :id"),
                         {"p": change.pop("_stored"), "id": change["id"]})
    return changes


def _registration_lock(conn) -> None:
    """Hold the snapshot registration lock for the rest of ``conn``'s transaction (PostgreSQL: an
    advisory lock; SQLite: the write lock that the engine's BEGIN IMMEDIATE already holds)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": REGISTRY_LOCK_KEY})


# ----------------------------------------------------------------------------------------------
# writing


@dataclass(frozen=True)
class NewSnapshot:
    """Everything a new snapshot records; :func:`store_snapshot` writes it.

    ``ids`` (n,) int64 spectrum ids in ascending order with their ``content_hashes`` (n,);
    ``coords`` (n, n_components) float64; ``recipe`` the resolved recipe as a dict and
    ``recipe_json`` as stored; ``model`` the arrays of the ``.npz`` artifact.
    """

    method: str
    n_components: int
    seed: int
    params: dict[str, Any]
    recipe: dict[str, Any]
    recipe_json: str
    ids: np.ndarray
    content_hashes: Sequence[str]
    element: str
    edge: str
    filter_text: str | None
    input_hash: str
    params_hash: str
    coords: np.ndarray
    model: dict[str, Any]
    fit_info: dict[str, Any]
    library_versions: dict[str, str]
    window: dict[str, Any] | None = None  # recipe.window_report: the window's rule, excluded and padded spectra
    extra_columns: dict[str, np.ndarray] | None = None  # more (n,) columns, e.g. "fitted" of a sampled UMAP fit
    # PROPERTY_COLUMNS of the ids, when the caller already read them (property_columns); else read on store
    properties: dict[str, list] | None = None


def property_columns(engine: Engine, ids: np.ndarray, element: str, edge: str) -> dict[str, list]:
    """``PROPERTY_COLUMNS`` of ``spectrum_overview`` for ``ids`` ((n,) ascending; in that order),
    column-wise: ``{name: list of n values}`` (None where a spectrum has no row). One read of the
    view for the element and edge (~20 s for 10^6 spectra, docs/benchmarks.md)."""
    sql = (f"SELECT spectrum_id, {', '.join(PROPERTY_COLUMNS)} FROM spectrum_overview "
           "WHERE absorbing_element = :el AND edge = :ed ORDER BY spectrum_id")
    params = {"el": element, "ed": edge}
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":  # straight from the driver: no Row objects
            rows = conn.connection.driver_connection.execute(sql, params).fetchall()
        else:
            rows = [tuple(r) for r in conn.execute(text(sql), params)]
    found = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    columns = list(zip(*rows)) if rows else [()] * (len(PROPERTY_COLUMNS) + 1)
    if found.size == len(ids) and np.array_equal(found, ids):  # every spectrum of the edge: no reordering
        return {name: list(columns[k]) for k, name in enumerate(PROPERTY_COLUMNS, start=1)}
    position = np.searchsorted(found, ids)
    position = np.clip(position, 0, max(len(rows) - 1, 0))
    present = (found[position] == ids) if len(rows) else np.zeros(len(ids), dtype=bool)
    out = {}
    for k, name in enumerate(PROPERTY_COLUMNS, start=1):
        values = columns[k]
        out[name] = [values[p] if ok else None for p, ok in zip(position.tolist(), present.tolist())]
    return out


def _arrow_table(ids, hashes, coords, properties: dict[str, list], footer: dict[str, Any], extra=None):
    import pyarrow as pa  # lazy: pyarrow costs ~0.3 s, and registry reads do without

    columns: dict[str, Any] = {"spectrum_id": pa.array(ids, pa.int64())}
    for k in range(coords.shape[1]):
        columns[COORDINATE_NAMES[k]] = pa.array(coords[:, k], pa.float64())
    columns["content_hash"] = pa.array(list(hashes), pa.string())
    for name in PROPERTY_COLUMNS:
        kind = pa.int64() if name in _INTEGER_COLUMNS else pa.float64() if name in _FLOAT_COLUMNS else pa.string()
        columns[name] = pa.array(properties[name], kind)
    for name, values in (extra or {}).items():
        columns[name] = pa.array(values)
    table = pa.table(columns)
    return table.replace_schema_metadata({FOOTER_KEY: json.dumps(footer, sort_keys=True, default=str).encode()})


def _find_parent(conn, method: str, n_components: int, element: str, edge: str, filter_text: str | None):
    sql = ("SELECT id FROM snapshot WHERE method = :m AND n_components = :k AND element = :el AND edge = :ed AND "
           + ("filter_text = :f" if filter_text else "filter_text IS NULL") + " ORDER BY id DESC")
    params = {"m": method, "k": n_components, "el": element, "ed": edge}
    if filter_text:
        params["f"] = filter_text
    return conn.execute(text(sql), params).scalar()


def reusable_snapshot(engine: Engine, digest: str) -> dict[str, Any] | None:
    """The newest registered snapshot with parameter hash ``digest`` whose files are intact, or None."""
    with engine.connect() as conn:
        uids = [r[0] for r in conn.execute(text("SELECT uid FROM snapshot WHERE params_hash = :h ORDER BY id DESC"),
                                           {"h": digest})]
    for uid in uids:
        record = get_snapshot(engine, uid)
        if (check_file(record["path"], record["sha256"]) == "ok"
                and check_file(record["model_path"], record["model_sha256"]) in ("ok", "none")):
            return record
    return None


# Key of the PostgreSQL advisory lock held while a snapshot is registered (transaction-level):
# two identical `embed` runs at once then register one snapshot, and parents do not fork.
REGISTRY_LOCK_KEY = 0x7861_7372_6570_73  # "xasreps" in ASCII, fits a bigint


def store_snapshot(engine: Engine, new: NewSnapshot, directory: Path) -> dict[str, Any]:
    """Write ``new`` as ``<uid>.parquet`` and ``<uid>.model.npz`` in ``directory`` and register it.

    The uid is ``<method>_<UTC time>_<6 hex digits>`` (a valid SQL identifier too); the parent is
    the newest snapshot of the same method, dimension, element, edge and filter. Either both files
    are written and registered, or neither remains. Returns the registry record (:func:`get_snapshot`).
    Always a new snapshot; :func:`register_snapshot` reuses one registered meanwhile.
    """
    return register_snapshot(engine, new, directory, reuse=False)[0]


def register_snapshot(engine: Engine, new: NewSnapshot, directory: Path, *, reuse: bool = True
                      ) -> tuple[dict[str, Any], bool]:
    """:func:`store_snapshot`, made safe against a concurrent identical ``embed``: returns
    ``(record, reused)``.

    The registry check, the parent lookup, the file writes and the INSERT happen while this
    process alone registers snapshots (PostgreSQL: advisory lock :data:`REGISTRY_LOCK_KEY`;
    SQLite: the write lock of ``BEGIN IMMEDIATE``), so with ``reuse`` an intact snapshot of the
    same ``params_hash`` registered meanwhile by another process is returned (``reused`` True,
    nothing written) instead of a duplicate, and two new snapshots of one selection never get the
    same parent. Waiting for the lock ends after :func:`repository.db.lock_timeout_s`.
    """
    url = engine_url(engine)
    properties = new.properties
    if properties is None:
        properties = property_columns(engine, new.ids, new.element, new.edge)
    written: list[Path] = []
    try:
        with engine.begin() as conn:
            _registration_lock(conn)
            existing = _intact_with_hash(conn, url, new.params_hash) if reuse else None
            if existing is not None:  # registered meanwhile by a concurrent identical embed
                uid = existing
            else:
                uid = _write_and_insert(conn, url, new, directory, properties, written)
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        raise
    return get_snapshot(engine, uid), existing is not None


def _intact_with_hash(conn, url: str, digest: str) -> str | None:
    """The uid of the newest registered snapshot with parameter hash ``digest`` whose files are
    intact (read through ``conn``, inside the registration lock), or None."""
    rows = conn.execute(text("SELECT uid, path, sha256, model_path, model_sha256 FROM snapshot "
                             "WHERE params_hash = :h ORDER BY id DESC"), {"h": digest}).all()
    for uid, path, sha256, model_path, model_sha256 in rows:
        if (check_file(resolve_stored(url, path), sha256) == "ok"
                and check_file(resolve_stored(url, model_path), model_sha256) in ("ok", "none")):
            return uid
    return None


def _write_and_insert(conn, url: str, new: NewSnapshot, directory: Path, properties: dict[str, list],
                      written: list[Path]) -> str:
    """Inside the registration lock: the parent, both files (appended to ``written`` as they are
    made) and the registry rows; returns the new uid."""
    import pyarrow.parquet as pq  # lazy: pyarrow costs ~0.3 s, and registry reads do without

    created = utc_now()
    uid = f"{new.method}_{created:%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:6]}"  # a valid SQL identifier too
    path = directory / f"{uid}.parquet"
    model_path = directory / f"{uid}.model.npz"
    parent_id = _find_parent(conn, new.method, new.n_components, new.element, new.edge, new.filter_text)
    parent_uid = None
    if parent_id is not None:
        parent_uid = conn.execute(text("SELECT uid FROM snapshot WHERE id = :id"), {"id": parent_id}).scalar()
    footer = {
        "format_version": SNAPSHOT_FORMAT_VERSION, "snapshot_id": uid, "parent": parent_uid,
        "created_at": created.isoformat(), "input_hash": new.input_hash, "params_hash": new.params_hash,
        "n_spectra": len(new.ids), "element": new.element, "edge": new.edge, "filter": new.filter_text,
        "recipe": new.recipe, "method": new.method, "params": new.params, "n_components": new.n_components,
        "seed": new.seed, "library_versions": new.library_versions, "fit_info": new.fit_info,
        "window": new.window,
    }
    table = _arrow_table(new.ids, new.content_hashes, new.coords, properties, footer, new.extra_columns)
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))
    written.append(path)
    atomic_write(model_path, lambda tmp: save_npz(tmp, new.model))
    written.append(model_path)
    row = {"uid": uid, "parent_id": parent_id, "method": new.method, "n_components": new.n_components,
           "seed": new.seed, "created_at": created, "path": stored_path(url, path),
           "sha256": file_sha256(path), "row_count": table.num_rows, "model_path": stored_path(url, model_path),
           "model_sha256": file_sha256(model_path), "input_hash": new.input_hash,
           "params_hash": new.params_hash, "recipe_json": new.recipe_json,
           "params_json": json.dumps(new.params, sort_keys=True), "filter_text": new.filter_text,
           "element": new.element, "edge": new.edge,
           "library_versions_json": json.dumps(new.library_versions, sort_keys=True)}
    snapshot_id = int(conn.execute(insert(Snapshot.__table__).values(**row)).inserted_primary_key[0])
    _insert_points(conn, snapshot_id, new.ids, new.coords)
    return uid


def _insert_points(conn, snapshot_id: int, ids: np.ndarray, coords: np.ndarray) -> None:
    """The coordinates into ``snapshot_point`` (SQLite: straight through the driver's executemany)."""
    z = coords[:, 2].tolist() if coords.shape[1] > 2 else [None] * len(ids)
    rows = list(zip([snapshot_id] * len(ids), ids.tolist(), coords[:, 0].tolist(), coords[:, 1].tolist(), z))
    if conn.dialect.name == "sqlite":
        conn.connection.driver_connection.executemany(
            "INSERT INTO snapshot_point (snapshot_id, spectrum_id, x, y, z) VALUES (?, ?, ?, ?, ?)", rows)
    else:
        names = ("snapshot_id", "spectrum_id", "x", "y", "z")
        conn.execute(insert(SnapshotPoint.__table__), [dict(zip(names, r)) for r in rows])
