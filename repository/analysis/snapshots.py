"""Versioned, immutable embedding snapshots: writing, reuse, registry, status, diff, query, verify.

Every embedding is a new *snapshot*: a Parquet file with one row per spectrum (``spectrum_id``,
``x``, ``y`` [, ``z``], ``content_hash`` and denormalised ``spectrum_overview`` columns) whose
footer carries the JSON metadata under the key :data:`FOOTER_KEY`, plus a model artifact
(``.npz``, no pickles) with what projection needs. Both are written to a temporary file and
renamed into place, then recorded, with their SHA-256 and row count, in the ``snapshot`` table;
the coordinates also go into ``snapshot_point`` for plain-SQL joins. Files are never rewritten:
a changed input or parameter gives a new snapshot whose ``parent_id`` is the previous version of
the same selection and method. The same inputs, recipe, method, parameters and seed reuse the
existing snapshot unless ``force`` is given.

Snapshot files live in a directory: the ``snapshot_dir`` argument, else ``$XASREPO_SNAPSHOT_DIR``,
else (SQLite only) ``<database stem>.snapshots/`` beside the database file. For a database server
the directory must be given.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ChecksFailed, InputError, NotFoundError, UsageError
from . import recipe as rec

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

SNAPSHOT_DIR_ENV = "XASREPO_SNAPSHOT_DIR"
FOOTER_KEY = b"xasrepo.snapshot"
SNAPSHOT_FORMAT_VERSION = 1
# spectrum_overview columns copied into every snapshot row (denormalised for plots and queries).
PROPERTY_COLUMNS = (
    "origin", "reduced_formula", "polymorph", "spacegroup_number", "spacegroup_symbol", "crystal_system",
    "dimensionality", "defect_kind", "defect_name", "defect_charge", "absorbing_element", "edge",
    "spectrum_type", "polarization", "absorber_site_index", "absorber_cn", "absorber_defect_distance_a",
    "calculation_set", "sample_name", "hirshfeld_charge", "sigma_charge_transfer", "bader_charge",
)
COORDINATE_NAMES = ("x", "y", "z")
LIST_COLUMNS = ("id", "uid", "parent", "method", "n_components", "element", "edge", "row_count", "seed",
                "filter", "created_at")
_HASH_CHUNK = 1 << 20
_IN_CHUNK = 500


# ----------------------------------------------------------------------------------------------
# hashing and files


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def input_hash(ids: Sequence[int], content_hashes: Sequence[str]) -> str:
    """SHA-256 over the selected spectra: their ids and content hashes, in id order."""
    digest = hashlib.sha256()
    for spectrum_id, content in sorted(zip((int(i) for i in ids), content_hashes)):
        digest.update(f"{spectrum_id}:{content}\n".encode())
    return digest.hexdigest()


def params_hash(inputs: str, recipe: rec.Recipe, method: str, params: dict[str, Any], n_components: int,
                seed: int) -> str:
    """What decides a snapshot's coordinates; equal hashes mean the snapshot can be reused."""
    identity = {"input_hash": inputs, "recipe": recipe.to_dict(), "method": method, "params": params,
                "n_components": int(n_components), "seed": int(seed), "format": SNAPSHOT_FORMAT_VERSION}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through ``write(temporary path)`` then rename over ``path`` (never a partial file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def snapshot_dir(url: str, override: str | Path | None = None) -> Path:
    """Where snapshot files go (see the module docstring); created when missing."""
    from ..db import is_sqlite, sqlite_path

    value = override or os.environ.get(SNAPSHOT_DIR_ENV)
    if value:
        directory = Path(value).expanduser().resolve()
    else:
        path = sqlite_path(url) if is_sqlite(url) else None
        if path is None:
            raise UsageError("snapshots of a database server need a directory: give --snapshot-dir "
                             f"or set {SNAPSHOT_DIR_ENV}")
        directory = path.resolve().parent / f"{path.stem}.snapshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _engine_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


# ----------------------------------------------------------------------------------------------
# registry reads


def _row_dict(row) -> dict[str, Any]:
    return dict(row._mapping)


def list_snapshots(engine: Engine) -> list[dict[str, Any]]:
    """All registered snapshots, oldest first (summary columns)."""
    from sqlalchemy import text

    sql = ("SELECT s.id, s.uid, p.uid AS parent, s.method, s.n_components, s.element, s.edge, s.row_count, "
           "s.seed, s.filter_text AS filter, s.created_at FROM snapshot s "
           "LEFT JOIN snapshot p ON p.id = s.parent_id ORDER BY s.id")
    with engine.connect() as conn:
        return [_row_dict(r) for r in conn.execute(text(sql))]


def get_snapshot(engine: Engine, ref: str | int) -> dict[str, Any]:
    """A snapshot's registry row by id (``12``), uid, or a unique uid prefix; JSON fields decoded."""
    from sqlalchemy import text

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
    record["recipe"] = json.loads(record.pop("recipe_json"))
    record["params"] = json.loads(record.pop("params_json"))
    record["library_versions"] = json.loads(record.pop("library_versions_json"))
    return record


def snapshot_path(engine: Engine, ref: str | int) -> Path:
    """The Parquet file of a registered snapshot (used by ``repository.plots`` to resolve ids)."""
    return Path(get_snapshot(engine, ref)["path"])


def _check_file(path: str | None, expected: str | None, what: str) -> str:
    """'ok', 'missing' or 'altered' for one registered file ('none' when there is none)."""
    if path is None:
        return "none"
    if not Path(path).is_file():
        return "missing"
    return "ok" if file_sha256(path) == expected else "altered"


def require_intact(path: str | Path, expected: str, what: str, uid: str) -> None:
    """Refuse a registered file that is missing (:class:`NotFoundError`) or whose SHA-256 differs
    from the registry (:class:`InputError`); both exit code 2. ``snapshots verify``, a check, uses
    :func:`check_verified` (exit code 1) instead."""
    status = _check_file(str(path), expected, what)
    if status == "missing":
        raise NotFoundError(f"snapshot {uid}: {what} {path} is missing (see `xasrepo snapshots verify`)")
    if status == "altered":
        raise InputError(path, f"{what} of snapshot {uid} was altered (SHA-256 does not match the registry); "
                               "refusing to use it")


def read_table(engine: Engine, ref: str | int, columns: Sequence[str] | None = None):
    """The snapshot's rows (all or some ``columns``) as a pyarrow Table, after checking the file's
    SHA-256 against the registry."""
    import pyarrow.parquet as pq

    record = get_snapshot(engine, ref)
    require_intact(record["path"], record["sha256"], "Parquet file", record["uid"])
    # ParquetFile, not pq.read_table: the latter imports pyarrow.dataset (~1 s in a fresh process).
    parquet = pq.ParquetFile(record["path"])
    if columns is not None:
        columns = [c for c in columns if c in parquet.schema_arrow.names]
    return parquet.read(columns=columns)


def footer_metadata(path: str | Path) -> dict[str, Any]:
    """The JSON metadata in a snapshot file's Parquet footer."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not Path(path).is_file():
        raise InputError(path, "no such file")
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (pa.ArrowException, OSError) as err:
        raise InputError(path, f"not a readable Parquet file ({parquet_problem(err, path)})") from None
    if FOOTER_KEY not in metadata:
        raise UsageError(f"{path} is not an xasrepo snapshot (no {FOOTER_KEY.decode()} footer metadata)")
    return json.loads(metadata[FOOTER_KEY])


def parquet_problem(err: BaseException, path: str | Path) -> str:
    """pyarrow's message for an unreadable Parquet file, without the file name it repeats."""
    message = " ".join(str(err).split())
    prefix = f"Could not open Parquet input source '{path}': "
    return message.removeprefix(prefix)


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


# ----------------------------------------------------------------------------------------------
# writing


@dataclass(frozen=True)
class SnapshotResult:
    """What :func:`create_snapshot` did: the registry record and whether it was reused."""

    record: dict[str, Any]
    reused: bool
    fit_seconds: float = 0.0
    info: dict[str, Any] | None = None
    window: dict[str, Any] | None = None  # recipe.window_report: rule, excluded and padded spectra


def _property_columns(engine: Engine, ids: np.ndarray, element: str, edge: str) -> dict[str, list]:
    """``PROPERTY_COLUMNS`` of ``spectrum_overview`` for ``ids`` (in that order), column-wise."""
    from sqlalchemy import text

    sql = (f"SELECT spectrum_id, {', '.join(PROPERTY_COLUMNS)} FROM spectrum_overview "
           "WHERE absorbing_element = :el AND edge = :ed ORDER BY spectrum_id")
    params = {"el": element, "ed": edge}
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":  # straight from the driver: no Row objects
            rows = conn.connection.driver_connection.execute(sql, params).fetchall()
        else:
            rows = [tuple(r) for r in conn.execute(text(sql), params)]
    found = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    position = np.searchsorted(found, ids)
    position = np.clip(position, 0, max(len(rows) - 1, 0))
    present = (found[position] == ids) if len(rows) else np.zeros(len(ids), dtype=bool)
    columns = list(zip(*rows)) if rows else [()] * (len(PROPERTY_COLUMNS) + 1)
    out = {}
    for k, name in enumerate(PROPERTY_COLUMNS, start=1):
        values = columns[k]
        out[name] = [values[p] if ok else None for p, ok in zip(position.tolist(), present.tolist())]
    return out


_INTEGER_COLUMNS = {"spacegroup_number", "dimensionality", "defect_charge", "absorber_site_index", "absorber_cn"}
_FLOAT_COLUMNS = {"absorber_defect_distance_a", "hirshfeld_charge", "sigma_charge_transfer", "bader_charge"}


def _arrow_table(ids, hashes, coords, properties: dict[str, list], footer: dict[str, Any]):
    import pyarrow as pa

    columns: dict[str, Any] = {"spectrum_id": pa.array(ids, pa.int64())}
    for k in range(coords.shape[1]):
        columns[COORDINATE_NAMES[k]] = pa.array(coords[:, k], pa.float64())
    columns["content_hash"] = pa.array(list(hashes), pa.string())
    for name in PROPERTY_COLUMNS:
        kind = pa.int64() if name in _INTEGER_COLUMNS else pa.float64() if name in _FLOAT_COLUMNS else pa.string()
        columns[name] = pa.array(properties[name], kind)
    table = pa.table(columns)
    return table.replace_schema_metadata({FOOTER_KEY: json.dumps(footer, sort_keys=True, default=str).encode()})


def _find_parent(conn, method: str, n_components: int, element: str, edge: str, filter_text: str | None):
    from sqlalchemy import text

    sql = ("SELECT id FROM snapshot WHERE method = :m AND n_components = :k AND element = :el AND edge = :ed AND "
           + ("filter_text = :f" if filter_text else "filter_text IS NULL") + " ORDER BY id DESC")
    params = {"m": method, "k": n_components, "el": element, "ed": edge}
    if filter_text:
        params["f"] = filter_text
    return conn.execute(text(sql), params).scalar()


def _reusable(engine: Engine, digest: str) -> dict[str, Any] | None:
    from sqlalchemy import text

    with engine.connect() as conn:
        uids = [r[0] for r in conn.execute(text("SELECT uid FROM snapshot WHERE params_hash = :h ORDER BY id DESC"),
                                           {"h": digest})]
    for uid in uids:
        record = get_snapshot(engine, uid)
        if (_check_file(record["path"], record["sha256"], "") == "ok"
                and _check_file(record["model_path"], record["model_sha256"], "") in ("ok", "none")):
            return record
    return None


def training_e0s(spectra, recipe: rec.Recipe) -> np.ndarray:
    """Edge position (eV, :func:`repository.analysis.recipe.onsets`) of every training spectrum on the
    recipe's energy scale (stored shift added for ``stored_shift``), in :class:`SpectraSet` order."""
    out = np.empty(len(spectra))
    for group in spectra.groups:
        found = rec.onsets(recipe, group.energy_ev, group.intensity)
        if recipe.alignment == "stored_shift":
            found = found + spectra.shifts_ev[group.rows]
        out[group.rows] = found
    return out


def training_onset(spectra, recipe: rec.Recipe) -> float:
    """Median edge position (:func:`repository.analysis.recipe.onsets`: e0 for version-2 recipes) of
    the training spectra on the recipe's energy scale (before alignment), in eV; stored with the
    model for reference (projection aligns each query by the fit search, see project.py)."""
    onsets = []
    for group in spectra.groups:
        found = rec.onsets(recipe, group.energy_ev, group.intensity)
        if recipe.alignment == "stored_shift":
            found = found + spectra.shifts_ev[group.rows]
        onsets.append(found)
    return float(np.median(np.concatenate(onsets)))


def create_snapshot(engine: Engine, *, method: str, n_components: int = 2, seed: int = 0,
                    params: dict[str, Any] | None = None, recipe: rec.Recipe | None = None,
                    where: str | None = None, element: str | None = None, edge: str | None = None,
                    directory: str | Path | None = None, force: bool = False,
                    progress: Callable[[str], None] | None = None) -> SnapshotResult:
    """Select, preprocess and embed spectra, and register the result as a new snapshot.

    Reuses the existing snapshot for the same inputs, recipe, method, parameters and seed unless
    ``force``. A selection holding several polarisations of the same sites, whose ``where`` does not
    name one, is narrowed to ``polarization = iso`` (recorded in the snapshot's filter) or, without
    iso spectra, refused. Raises :class:`UsageError` for an empty selection or one mixing elements/edges.
    """
    import time

    from sqlalchemy import insert

    from ..snapshot_models import Snapshot, SnapshotPoint
    from . import embed as emb
    from .load import _check_one_edge as check_one_edge
    from .load import load_spectra, polarization_counts, prepare, select_spectrum_ids

    say = progress or (lambda _message: None)
    recipe = recipe or rec.Recipe()
    params = emb.method_params(method, params)
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
    spectra = load_spectra(engine, ids=ids, element=element, edge=edge,
                           with_shifts=recipe.alignment == "stored_shift")
    say(f"preprocessing {len(spectra)} spectra")
    prepared = prepare(spectra, recipe)
    spectra, matrix, resolved, window = prepared.spectra, prepared.matrix, prepared.recipe, prepared.window
    inputs = input_hash(spectra.ids, spectra.content_hashes)
    digest = params_hash(inputs, resolved, method, params, n_components, seed)
    if not force:
        existing = _reusable(engine, digest)
        if existing is not None:
            return SnapshotResult(existing, reused=True, window=window)

    say(f"fitting {method} on {matrix.shape[0]} x {matrix.shape[1]}")
    started = time.perf_counter()
    fitted = emb.fit_embedding(matrix, method, n_components=n_components, seed=seed, params=params)
    fit_seconds = time.perf_counter() - started

    say("writing snapshot")
    e0s = training_e0s(spectra, resolved)
    from .project import member_nn_rmsd
    directory = snapshot_dir(_engine_url(engine), directory)
    created = datetime.now(UTC)
    uid = f"{method}_{created:%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:6]}"  # a valid SQL identifier too
    path = directory / f"{uid}.parquet"
    model_path = directory / f"{uid}.model.npz"
    versions = emb.library_versions()
    filter_text = where.strip() if where and where.strip() else None
    with engine.connect() as conn:
        parent_id = _find_parent(conn, method, n_components, spectra.element, spectra.edge, filter_text)
        parent_uid = None
        if parent_id is not None:
            from sqlalchemy import text

            parent_uid = conn.execute(text("SELECT uid FROM snapshot WHERE id = :id"), {"id": parent_id}).scalar()
    footer = {
        "format_version": SNAPSHOT_FORMAT_VERSION, "snapshot_id": uid, "parent": parent_uid,
        "created_at": created.isoformat(), "input_hash": inputs, "params_hash": digest,
        "n_spectra": len(spectra), "element": spectra.element, "edge": spectra.edge, "filter": filter_text,
        "recipe": resolved.to_dict(), "method": method, "params": params, "n_components": n_components,
        "seed": seed, "library_versions": versions, "fit_info": fitted.info, "window": window,
    }
    table = _arrow_table(spectra.ids, spectra.content_hashes, fitted.coords,
                         _property_columns(engine, spectra.ids, spectra.element, spectra.edge), footer)
    model_arrays = {
        "format_version": np.int64(SNAPSHOT_FORMAT_VERSION), "method": np.str_(method),
        "recipe_json": np.str_(resolved.to_json()), "ids": spectra.ids,
        "embedding": fitted.coords, "train": matrix.astype(np.float32),
        "reference_onset_ev": np.float64(np.median(e0s)), "train_e0_ev": e0s,
        "member_nn_rmsd": member_nn_rmsd(matrix), **fitted.artifacts,
    }

    import pyarrow.parquet as pq

    written: list[Path] = []
    try:
        _atomic_write(path, lambda tmp: pq.write_table(table, tmp))
        written.append(path)
        _atomic_write(model_path, lambda tmp: _save_npz(tmp, model_arrays))
        written.append(model_path)
        row = {"uid": uid, "parent_id": parent_id, "method": method, "n_components": n_components, "seed": seed,
                   "created_at": created, "path": str(path), "sha256": file_sha256(path), "row_count": table.num_rows,
                   "model_path": str(model_path), "model_sha256": file_sha256(model_path), "input_hash": inputs,
                   "params_hash": digest, "recipe_json": resolved.to_json(), "params_json": json.dumps(params, sort_keys=True),
                   "filter_text": filter_text, "element": spectra.element, "edge": spectra.edge,
                   "library_versions_json": json.dumps(versions, sort_keys=True)}
        with engine.begin() as conn:
            snapshot_id = int(conn.execute(insert(Snapshot.__table__).values(**row)).inserted_primary_key[0])
            _insert_points(conn, snapshot_id, spectra.ids, fitted.coords, SnapshotPoint.__table__)
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        raise
    return SnapshotResult(get_snapshot(engine, uid), reused=False, fit_seconds=fit_seconds, info=fitted.info,
                          window=window)


def _insert_points(conn, snapshot_id: int, ids: np.ndarray, coords: np.ndarray, table) -> None:
    """The coordinates into ``snapshot_point`` (SQLite: straight through the driver's executemany)."""
    from sqlalchemy import insert

    z = coords[:, 2].tolist() if coords.shape[1] > 2 else [None] * len(ids)
    rows = list(zip([snapshot_id] * len(ids), ids.tolist(), coords[:, 0].tolist(), coords[:, 1].tolist(), z))
    if conn.dialect.name == "sqlite":
        conn.connection.driver_connection.executemany(
            "INSERT INTO snapshot_point (snapshot_id, spectrum_id, x, y, z) VALUES (?, ?, ?, ?, ?)", rows)
    else:
        names = ("snapshot_id", "spectrum_id", "x", "y", "z")
        conn.execute(insert(table), [dict(zip(names, r)) for r in rows])


def _save_npz(path: Path, arrays: dict[str, Any]) -> None:
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


# ----------------------------------------------------------------------------------------------
# status, diff, query, verify


def _current_selection(engine: Engine, record: dict[str, Any]) -> dict[int, str] | None:
    """{spectrum id: content hash} that the snapshot's selection matches today (None: cannot tell)."""
    from sqlalchemy import text

    allowed = None
    if record["filter_text"]:
        try:
            from .load import select_spectrum_ids

            allowed = set(select_spectrum_ids(engine, where=record["filter_text"]))
        except UsageError:
            return None
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, content_hash FROM spectrum WHERE absorbing_element = :el AND edge = :ed"),
                            {"el": record["element"], "ed": record["edge"]}).fetchall()
    return {int(i): h for i, h in rows if allowed is None or int(i) in allowed}


def _snapshot_inputs(engine: Engine, record: dict[str, Any]) -> dict[int, str]:
    table = read_table(engine, record["uid"], ["spectrum_id", "content_hash"])
    return dict(zip(table.column("spectrum_id").to_pylist(), table.column("content_hash").to_pylist()))


def snapshot_status(engine: Engine) -> list[dict[str, Any]]:
    """For every snapshot: is it current, or stale because matching spectra were added, changed or
    removed since (and how many)? Files that are missing or altered are reported as such."""
    out = []
    for summary in list_snapshots(engine):
        record = get_snapshot(engine, summary["id"])
        row = {"id": record["id"], "uid": record["uid"], "method": record["method"],
               "element": record["element"], "edge": record["edge"], "filter": record["filter_text"],
               "row_count": record["row_count"], "added": None, "changed": None, "removed": None}
        file_status = _check_file(record["path"], record["sha256"], "")
        if file_status != "ok":
            row["status"] = f"file {file_status}"
            out.append(row)
            continue
        current = _current_selection(engine, record)
        if current is None:
            row["status"] = "unknown (filter cannot be evaluated)"
            out.append(row)
            continue
        stored = _snapshot_inputs(engine, record)
        row["added"] = sum(1 for i in current if i not in stored)
        row["removed"] = sum(1 for i in stored if i not in current)
        row["changed"] = sum(1 for i, h in stored.items() if i in current and current[i] != h)
        superseded = any(s["id"] > record["id"] and s["parent"] == record["uid"] for s in list_snapshots(engine))
        stale = row["added"] or row["removed"] or row["changed"]
        row["status"] = "stale" if stale else "current"
        if superseded:
            row["status"] += " (superseded)"
        out.append(row)
    return out


def _coords(table) -> tuple[np.ndarray, np.ndarray]:
    names = [c for c in COORDINATE_NAMES if c in table.column_names]
    ids = np.asarray(table.column("spectrum_id").to_numpy(), dtype=np.int64)
    return ids, np.column_stack([table.column(c).to_numpy() for c in names]).astype(np.float64)


def procrustes_align(reference: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """``moving`` translated, rotated/reflected and uniformly scaled onto ``reference`` (least squares)."""
    from scipy.linalg import orthogonal_procrustes

    k = max(reference.shape[1], moving.shape[1])
    ref = np.pad(reference, ((0, 0), (0, k - reference.shape[1])))
    mov = np.pad(moving, ((0, 0), (0, k - moving.shape[1])))
    ref_c, mov_c = ref - ref.mean(axis=0), mov - mov.mean(axis=0)
    rotation, scale = orthogonal_procrustes(mov_c, ref_c)
    norm = float((mov_c ** 2).sum())
    factor = scale / norm if norm > 0 else 1.0
    return (mov_c @ rotation) * factor + ref.mean(axis=0)


def diff_snapshots(engine: Engine, a: str | int, b: str | int) -> dict[str, Any]:
    """Spectra added/removed from A to B and the displacement of the shared ones after aligning B
    onto A (Procrustes), relative to A's spread (RMS distance of A's points from their centroid)."""
    rec_a, rec_b = get_snapshot(engine, a), get_snapshot(engine, b)
    ids_a, xa = _coords(read_table(engine, rec_a["uid"]))
    ids_b, xb = _coords(read_table(engine, rec_b["uid"]))
    shared = np.intersect1d(ids_a, ids_b)
    added = np.setdiff1d(ids_b, ids_a)
    removed = np.setdiff1d(ids_a, ids_b)
    rows = [{"spectrum_id": int(i), "change": "added", "displacement": None} for i in added]
    rows += [{"spectrum_id": int(i), "change": "removed", "displacement": None} for i in removed]
    summary = {"a": rec_a["uid"], "b": rec_b["uid"], "added": int(added.size), "removed": int(removed.size),
               "shared": int(shared.size), "spread_a": None, "median_displacement": None,
               "p90_displacement": None, "max_displacement": None}
    if shared.size >= 3:
        pa_ = xa[np.searchsorted(ids_a, shared)]
        pb_ = xb[np.searchsorted(ids_b, shared)]
        aligned = procrustes_align(pa_, pb_)
        k = aligned.shape[1]
        ref = np.pad(pa_, ((0, 0), (0, k - pa_.shape[1])))
        spread = float(np.sqrt(((ref - ref.mean(axis=0)) ** 2).sum(axis=1).mean())) or 1.0
        moved = np.sqrt(((aligned - ref) ** 2).sum(axis=1)) / spread
        summary.update(spread_a=spread, median_displacement=float(np.median(moved)),
                       p90_displacement=float(np.percentile(moved, 90)), max_displacement=float(moved.max()))
        order = np.argsort(-moved, kind="stable")
        rows += [{"spectrum_id": int(shared[j]), "change": "shared", "displacement": float(moved[j])} for j in order]
    return {"summary": summary, "rows": rows}


def query_snapshot(engine: Engine, ref: str | int, where: str | None = None, *, sort: str | None = None,
                   limit: int | None = None) -> list[dict[str, Any]]:
    """Rows of a snapshot (checked against its SHA-256) matching ``where`` (the query language)."""
    table = read_table(engine, ref)
    if where and where.strip() or sort or limit is not None:
        try:
            from ..query import filter_snapshot_rows
        except ImportError:
            raise UsageError("--where needs the query language (repository.query), which is not installed") from None
        table = filter_snapshot_rows(table, where, sort=sort, limit=limit)
    return table.to_pylist()


def verify_snapshots(engine: Engine) -> list[dict[str, Any]]:
    """Recompute every snapshot's and model's SHA-256 (and the row count); one row per file with
    status ok / missing / altered. The caller decides what a failure means (the CLI exits 1)."""
    import pyarrow.parquet as pq

    out = []
    for summary in list_snapshots(engine):
        record = get_snapshot(engine, summary["id"])
        for kind, path, expected in (("snapshot", record["path"], record["sha256"]),
                                     ("model", record["model_path"], record["model_sha256"])):
            status = _check_file(path, expected, kind)
            if status == "none":
                continue
            if kind == "snapshot" and status == "ok" and pq.read_metadata(path).num_rows != record["row_count"]:
                status = "altered"
            out.append({"id": record["id"], "uid": record["uid"], "file": kind, "path": path, "status": status})
    return out


def check_verified(results: list[dict[str, Any]]) -> None:
    """Raise :class:`ChecksFailed` (exit code 1) naming every missing or altered file."""
    bad = [r for r in results if r["status"] != "ok"]
    if bad:
        raise ChecksFailed(f"{len(bad)} snapshot file(s) failed verification: "
                           + "; ".join(f"{r['uid']} {r['file']} {r['status']} ({r['path']})" for r in bad))
