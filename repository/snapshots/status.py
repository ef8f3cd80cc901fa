"""Is a snapshot still current, and how does one differ from another?

:func:`snapshot_status` compares each snapshot's stored inputs with what its selection matches in
the database today; :func:`diff_snapshots` lines two snapshots up (Procrustes) and measures how far
the shared spectra moved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import text

from ..errors import UsageError
from ..query import spectrum_ids
from .files import COORDINATE_NAMES, check_file
from .registry import get_snapshot, list_snapshots, read_table

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def _current_selection(engine: Engine, record: dict[str, Any]) -> dict[int, str] | None:
    """{spectrum id: content hash} that the snapshot's selection matches today (None: cannot tell)."""
    allowed = None
    if record["filter_text"]:
        try:
            allowed = set(spectrum_ids(engine, record["filter_text"]))
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
        file_status = check_file(record["path"], record["sha256"])
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
    from scipy.linalg import orthogonal_procrustes  # lazy: scipy.linalg costs ~0.2 s; only `snapshots diff` needs it

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
    onto A (Procrustes), relative to A's spread (RMS distance of A's points from their centroid).

    Raises :class:`UsageError` when A and B embed different absorbing elements or edges: they can
    share no spectrum, and "everything added, everything removed" would read as a real change."""
    rec_a, rec_b = get_snapshot(engine, a), get_snapshot(engine, b)
    edge_a, edge_b = (rec_a.get("element"), rec_a.get("edge")), (rec_b.get("element"), rec_b.get("edge"))
    if edge_a != edge_b:
        raise UsageError(f"snapshots {rec_a['uid']} ({' '.join(map(str, edge_a))}) and {rec_b['uid']} "
                         f"({' '.join(map(str, edge_b))}) embed different edges: they share no spectra "
                         "(diff compares two embeddings of one edge)")
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
