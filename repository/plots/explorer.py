"""An interactive, self-contained HTML explorer of a snapshot, usable at 10^5-10^6 points.

One HTML file that works offline (no library, no CDN, no network): the snapshot's rows are
embedded as JSON, the spectra as a compact binary store (below), and a small hand-written canvas
renderer draws everything. The page shows the embedding scatter with a colour-by selector (legend
with counts for categories, clicking an entry hides or shows it; colour bar for numbers); hovering
a point shows its spectrum (energy in eV) and its structure/defect properties, clicking pins it;
the wheel zooms, dragging pans, a double click resets the view. The fragment
``#color=FIELD&spectrum=ID`` opens the page coloured by FIELD with spectrum ID selected (links into
the explorer; the browser test uses it).

Why hand-written and not plotly.js (which the page embedded before, 4.7 MB): measured on the
project's machine, a 10^5-point plotly page was ready after 7.5 s, answered a hover in 0.36 s and
a recolour in 3.7 s; at 10^6 points 42 s / 5 s / 45 s and 8.4 GiB (plotly builds per-trace arrays
and hover structures for every point). Here the points are written straight into one RGBA pixel
buffer (``ImageData``; anti-aliased canvas arcs below :data:`VECTOR_POINTS`, where they are cheap),
which needs no GPU (WebGL falls back to slow software rendering in headless or remote browsers),
and hover uses a uniform grid index over the data coordinates (a few points per cell) instead of
a DOM node or hover box per point. Recolouring recomputes one colour per point and redraws;
nothing is re-created. Numbers: docs/benchmarks.md (``bench/explorer.py``).

**Spectra store.** Each spectrum is thinned to at most :data:`MAX_POINTS_PER_SPECTRUM` evenly
spaced points (:func:`thin`); its energy grid (float64, eV) is stored once per distinct grid, its
intensities as unsigned 16-bit codes between the spectrum's own minimum and maximum (float32): the
decoded value differs from the stored one by at most ``(max - min) / 65534 / 2`` (code 65535 marks
a non-finite value). Records start on multiples of 3 bytes, so each is decoded on demand with
``atob`` from its own slice of one base64 text, the first time its point is hovered; nothing is
decoded at load. Layout (little-endian): record = uint32 grid index, float32 min, float32 max,
uint16 × m codes, zero padding to a multiple of 3 bytes; grid = float64 × m, padded the same way;
``store.rows`` = base64 int32 byte offset of each snapshot row's record (-1: no spectrum);
``store.grids`` = [byte offset, m] per grid. A 300-point spectrum takes 816 characters of page
(its 612-byte record, base64-encoded) plus 5.3 for its row offset.

**Limits.** At most :data:`MAX_PAGE_SPECTRA` spectra are embedded (182 MB of page at 300
points each, ready in 3.5-9 s on the loaded project machine; larger pages were not measured): a
larger snapshot is refused in one line
asking for ``--no-spectra``, which writes a page of the points and properties only up to
:data:`MAX_PAGE_POINTS` rows.

A 3-D snapshot (a ``z`` column) gets an **axes** selector (x/y, x/z, y/z; fragment ``axes=x,z``):
the page draws two coordinates at a time and says which. Axes are named per method from the
snapshot file's footer (``PC1 (57.0 % of variance)``, ``UMAP 1``, ``MDS 1``).

The page reports its state in ``<div id="xr-status">``: ``data-state="ready"``, ``data-points`` =
number of points drawn in the current view, ``data-total`` = rows, ``data-renderer`` = ``vector``
or ``pixels``, ``data-axes`` = e.g. ``x,y``, ``data-field``, ``data-selected`` = spectrum id shown,
``data-spectrum-points``, ``data-ready-ms`` (since navigation start), ``data-draw-ms`` (last map
drawing), ``data-hover-ms`` (last hover: nearest-point search and spectrum panel), ``data-index-ms``
(building the grid index, on the first hover after a change of axes or colouring), and script
errors in ``data-errors``. ``window.xrExplorer`` offers, for tests and the benchmark: ``nearest(clientX, clientY)`` (the
row under a screen position, or -1), ``screenOf(row)`` / ``screenOfAll()`` (screen positions),
``spectrum(row)`` (the decoded spectrum), ``colourBy(field)`` and ``hoverRadius`` (CSS px).
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import bindparam, text

from ..arrays import from_blob
from ..errors import UsageError
from .embedding import (CATEGORY_PALETTE, COORDINATES, DEFECT_FIELDS, PRISTINE_COLOR, PRISTINE_LABEL, axis_label,
                        category_values, embedding_title, snapshot_info)
from .frame import COORDINATE_COLUMNS, check_field, color_column, column_kind, field_label, snapshot_frame

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Engine

# Spectra are thinned to at most this many points each (evenly spaced samples of the stored ones)
# so a page with thousands of spectra stays small (see the store's size per spectrum above).
MAX_POINTS_PER_SPECTRUM = 300
PREFERRED_FIELDS = ("crystal_system", "defect_kind", "dimensionality", "polymorph", "reduced_formula",
                    "absorbing_element")
MAX_DEFAULT_CATEGORIES = 12  # a column with more distinct values (ids, hashes) is not shown first
COORDINATE_DIGITS = 5
ID_CHUNK = 500
# Up to this many points the map is drawn as anti-aliased canvas arcs (nicer for small sets);
# above, straight into a pixel buffer (10^6 points in a fraction of a second).
VECTOR_POINTS = 20_000
# The largest pages written (docs/benchmarks.md: 100,000 spectra open in 1.6-3.4 s, 200,000 in
# 3.5-9 s, 10^6 points without spectra in 2.5-6 s on the loaded 2-core machine; the page grows by
# 0.82 kB per 300-point spectrum and ~0.09 kB per row of points and properties).
MAX_PAGE_SPECTRA = 200_000
MAX_PAGE_POINTS = 1_000_000
INTENSITY_CODES = 65534  # uint16 codes 0..65534 span [min, max] of each spectrum
MISSING_CODE = 65535  # a non-finite intensity
STORE_ALIGN = 3  # bytes: base64 turns each 3 bytes into 4 characters, so aligned records decode alone

Spectra = Mapping[int, tuple["np.ndarray", "np.ndarray"]]


def load_spectra(engine: Engine, spectrum_ids: Iterable[int], *,
                 max_points: int = MAX_POINTS_PER_SPECTRUM) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Energy (eV) and intensity arrays of the given spectra, thinned to ``max_points`` each.

    Ids that are not in the database are left out (the page says so when such a point is chosen).
    """
    wanted = sorted({int(i) for i in spectrum_ids})
    query = text("SELECT id, energy_ev, intensity FROM spectrum WHERE id IN :ids").bindparams(
        bindparam("ids", expanding=True))
    found: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    with engine.connect() as conn:
        for start in range(0, len(wanted), ID_CHUNK):
            for row in conn.execute(query, {"ids": wanted[start:start + ID_CHUNK]}):
                found[int(row.id)] = thin(from_blob(row.energy_ev), from_blob(row.intensity), max_points)
    return found


def thin(energy: np.ndarray, intensity: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` evenly spaced samples, always keeping the first and last point."""
    if len(energy) <= max_points:
        return energy, intensity
    keep = np.unique(np.linspace(0, len(energy) - 1, max_points).round().astype(int))
    return energy[keep], intensity[keep]


def default_field(frame: pd.DataFrame) -> str | None:
    """The colouring shown first: a preferred property that varies, else any column that varies."""
    fields = [c for c in frame.columns if c not in COORDINATE_COLUMNS]

    def varies(name: str) -> bool:  # a few categories, or numbers that differ
        try:
            distinct = frame[name].nunique(dropna=True)
        except TypeError:  # unhashable values (lists)
            return False
        return distinct > 1 and (column_kind(frame[name]) == "numeric" or distinct <= MAX_DEFAULT_CATEGORIES)

    for name in [n for n in PREFERRED_FIELDS if n in fields] + fields:
        if varies(name):
            return name
    return fields[0] if fields else None


def snapshot_window(snapshot: Any) -> list[float] | None:
    """The energy window (eV, absolute) of a snapshot file's recipe, for marking on the spectrum
    panel; None for tables, files without footer metadata and windows relative to each e0."""
    if not isinstance(snapshot, (str, Path)):
        return None
    try:
        import pyarrow.parquet as pq  # lazy import: start-up time (pyarrow is heavy)

        metadata = pq.read_schema(snapshot).metadata or {}
        recipe = json.loads(metadata[b"xasrepo.snapshot"])["recipe"]
    except Exception:  # noqa: BLE001 - no footer, no window to mark: the page is drawn without it
        return None
    if recipe.get("alignment") == "edge_onset" or recipe.get("energy_min_ev") is None:
        return None
    return [float(recipe["energy_min_ev"]), float(recipe["energy_max_ev"])]


def check_page_size(n_rows: int, n_spectra: int) -> None:
    """Refuse (:class:`~repository.errors.UsageError`, one line) a page past the documented limits:
    more than :data:`MAX_PAGE_POINTS` rows, or more than :data:`MAX_PAGE_SPECTRA` embedded spectra."""
    if n_rows > MAX_PAGE_POINTS:
        raise UsageError(f"the explorer draws at most {MAX_PAGE_POINTS:,} points and this snapshot has "
                         f"{n_rows:,} rows: explore a subset (e.g. `xasrepo embed` on a narrower selection)")
    if n_spectra > MAX_PAGE_SPECTRA:
        raise UsageError(f"the explorer embeds at most {MAX_PAGE_SPECTRA:,} spectra and this snapshot has "
                         f"{n_spectra:,}: use --no-spectra (points and properties only) or a smaller snapshot")


def write_explorer(snapshot: Any, output: str | Path, *, spectra: Spectra | None = None,
                   title: str | None = None, color_by: str | None = None, info: dict[str, Any] | None = None,
                   window_ev: list[float] | None = None, report: dict[str, Any] | None = None
                   ) -> Path:
    """Write the explorer page for ``snapshot`` (Parquet path, DataFrame or pyarrow Table).

    ``spectra`` maps spectrum ids to (energy_ev, intensity) arrays, e.g. from :func:`load_spectra`
    (stored as given: thin them first). ``info`` is the snapshot's footer metadata (default: read
    from a snapshot file) and names the axes. ``window_ev`` (lo, hi) is shaded on the spectrum
    panel (default: the snapshot file's recipe window, :func:`snapshot_window`). Returns the path
    written. ``report``, if given, is filled with ``points`` (rows), ``spectra`` (embedded) and
    ``bytes`` (page size). Raises UsageError for an unknown ``color_by`` or a page past the limits
    (:func:`check_page_size`); nothing is written then.
    """
    frame = snapshot_frame(snapshot)
    if color_by is not None:
        color_by = color_column(frame, color_by)  # a query spelling (absorber.defect_distance) names its column
        check_field(frame, color_by)
    spectra = spectra or {}
    ids = [int(i) for i in frame["spectrum_id"].tolist()]
    check_page_size(len(ids), sum(1 for i in set(ids) if i in spectra))
    info = info if info is not None else snapshot_info(snapshot)
    if title is None:
        title = page_title(info, frame, Path(snapshot).stem if isinstance(snapshot, (str, Path)) else None)
    window = window_ev if window_ev is not None else snapshot_window(snapshot)
    store, blob = spectra_store(ids, spectra)
    payload = _payload(frame, title, color_by or default_field(frame), window, store)
    payload = payload[:-1] + "," + _axes_payload(frame, info)[1:]
    parts = {"TITLE": html.escape(title),
             # every < > & as a JSON escape (they occur only inside strings): no value can end the
             # script ("</script") or open an HTML comment ("<!--" makes a later </script> not count)
             "DATA": payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"),
             "SPECTRA": blob,  # base64: no < > & can occur
             "APP": _APP}
    # one pass, so nothing inserted (the data, a title) is searched for placeholders again
    page = re.sub(r"__(TITLE|DATA|SPECTRA|APP)__", lambda m: parts[m.group(1)], _PAGE)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf-8")
    if report is not None:
        report.update(points=len(ids), spectra=store["count"], bytes=len(page.encode("utf-8")))
    return output


def explore(snapshot: Any, output: str | Path, *, engine: Engine | None = None, title: str | None = None,
            color_by: str | None = None, max_points: int = MAX_POINTS_PER_SPECTRUM,
            report: dict[str, Any] | None = None) -> Path:
    """The explorer for a snapshot with its spectra read from the database at ``engine`` (if given),
    each thinned to ``max_points``. Refuses a snapshot past the page limits before reading any
    spectrum (:func:`check_page_size`). ``report`` as in :func:`write_explorer`."""
    frame = snapshot_frame(snapshot)
    if color_by is not None:
        color_by = color_column(frame, color_by)
        check_field(frame, color_by)
    check_page_size(len(frame), frame["spectrum_id"].nunique() if engine is not None else 0)
    spectra = load_spectra(engine, frame["spectrum_id"], max_points=max_points) if engine is not None else {}
    info = snapshot_info(snapshot)
    if title is None:
        title = page_title(info, frame, Path(snapshot).stem if isinstance(snapshot, (str, Path)) else None)
    return write_explorer(frame, output, spectra=spectra, title=title, color_by=color_by, info=info,
                          window_ev=snapshot_window(snapshot), report=report)


def page_title(info: dict[str, Any], frame: pd.DataFrame, name: str | None = None) -> str:
    """'B K-edge XANES: PCA map of 94 spectra (umap_2026...)' -- in words, the uid in brackets."""
    words = embedding_title(info, frame, "x").split(", coloured by")[0]
    uid = info.get("snapshot_id") or name
    return f"{words} ({uid})" if uid else words


def _padded(raw: bytes) -> bytes:
    return raw + b"\0" * (-len(raw) % STORE_ALIGN)


def quantise(intensity: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lo, hi, codes) of spectra: ``intensity`` is (k, m), one spectrum per row; ``lo``/``hi`` (k,)
    float32 bounds, ``codes`` (k, m) uint16.

    ``lo + code * (hi - lo) / INTENSITY_CODES`` is within ``(hi - lo) / INTENSITY_CODES / 2`` of the
    value (float32 lo/hi are rounded outwards, so the range always covers the spectrum);
    non-finite values get :data:`MISSING_CODE`.
    """
    values = np.asarray(intensity, dtype=np.float64)
    finite = np.isfinite(values)
    low = np.where(finite, values, np.inf).min(axis=1)
    high = np.where(finite, values, -np.inf).max(axis=1)
    empty = ~finite.any(axis=1)
    low[empty] = high[empty] = 0.0
    lo = low.astype(np.float32)
    hi = high.astype(np.float32)
    lo = np.where(lo > low, np.nextafter(lo, np.float32(-np.inf)), lo)
    hi = np.where(hi < high, np.nextafter(hi, np.float32(np.inf)), hi)
    span = hi.astype(np.float64) - lo.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = (values - lo[:, None]) / np.where(span > 0, span, 1.0)[:, None] * INTENSITY_CODES
    codes = np.where(finite, np.clip(np.rint(np.where(finite, scaled, 0.0)), 0, INTENSITY_CODES), MISSING_CODE)
    return lo, hi, codes.astype("<u2")


STORE_BLOCK = 20_000  # spectra quantised at once (memory: 8 bytes x points x block)


def spectra_store(ids: list[int], spectra: Spectra) -> tuple[dict[str, Any], str]:
    """(store, blob): the compact spectra store of the page for snapshot rows ``ids`` (format in the
    module docstring). ``store`` goes into the page's JSON, ``blob`` (base64) into its own element.
    A row whose id has no spectrum gets offset -1; rows repeating an id share its record."""
    by_grid: dict[bytes, list[int]] = {}  # energy grid (float64 bytes) -> spectrum ids on it
    grid_of: dict[int, bytes] = {}  # id() of an energy array -> its bytes (spectra share arrays)
    for spectrum_id in dict.fromkeys(ids):
        if spectrum_id not in spectra:
            continue
        energy, intensity = spectra[spectrum_id]
        if len(energy) != len(intensity):
            raise UsageError(f"spectrum {spectrum_id}: {len(energy)} energies but {len(intensity)} intensities")
        key = grid_of.get(id(energy))
        if key is None:
            key = grid_of[id(energy)] = np.ascontiguousarray(energy, dtype="<f8").tobytes()
        by_grid.setdefault(key, []).append(spectrum_id)
    chunks: list[bytes] = []
    size = 0
    grid_index: list[list[int]] = []
    record_of: dict[int, int] = {}
    for g, (key, members) in enumerate(by_grid.items()):
        m = len(key) // 8
        grid_index.append([size, m])
        chunks.append(_padded(key))
        size += len(chunks[-1])
        record = np.dtype([("grid", "<u4"), ("lo", "<f4"), ("hi", "<f4"), ("codes", "<u2", (m,)),
                           ("pad", "u1", (-(12 + 2 * m) % STORE_ALIGN,))])
        for start in range(0, len(members), STORE_BLOCK):
            block = members[start:start + STORE_BLOCK]
            lo, hi, codes = quantise(np.stack([np.asarray(spectra[i][1], dtype=np.float64) for i in block]))
            records = np.zeros(len(block), dtype=record)
            records["grid"], records["lo"], records["hi"], records["codes"] = g, lo, hi, codes
            record_of.update(zip(block, range(size, size + len(block) * record.itemsize, record.itemsize)))
            chunks.append(records.tobytes())
            size += len(chunks[-1])
    if size >= 2**31:
        raise UsageError(f"the spectra of this snapshot need {size / 1e9:.1f} GB of page: use --no-spectra")
    rows = np.array([record_of.get(i, -1) for i in ids], dtype="<i4")
    store = {"rows": base64.b64encode(rows.tobytes()).decode("ascii"), "grids": grid_index,
             "count": len(record_of), "codes": INTENSITY_CODES}
    return store, base64.b64encode(b"".join(chunks)).decode("ascii")


def _axes_payload(frame: pd.DataFrame, info: dict[str, Any]) -> str:
    """JSON object with ``z`` (3-D snapshots), ``axisNames`` per coordinate and ``renderer``."""
    present = [c for c in COORDINATES if c in frame.columns]
    parts = {"axisNames": json.dumps({c: axis_label(info, c) for c in present}),
             "renderer": json.dumps("pixels" if len(frame) > VECTOR_POINTS else "vector")}
    if "z" in frame.columns:
        parts["z"] = _numbers(frame["z"].astype(float), COORDINATE_DIGITS)
    return "{" + ",".join(f'"{key}":{value}' for key, value in parts.items()) + "}"


def _json_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, (str, int, bool)):
        return value

    if isinstance(value, np.generic):
        return _json_value(value.item())
    if isinstance(value, (list, tuple, np.ndarray)):  # e.g. a list of elements
        return ", ".join(map(str, value))
    try:
        # lazy import: start-up time (pandas is heavy; only this path needs it)
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _rounded(values: Iterable[float], digits: int) -> list[float | None]:
    """Values rounded to ``digits`` significant digits of the largest one (enough to draw them,
    short in JSON); NaN and infinities become None."""
    array = np.asarray(values, dtype=float)
    finite = np.isfinite(array)
    largest = float(np.abs(array[finite]).max()) if finite.any() else 0.0
    decimals = digits - 1 - (int(np.floor(np.log10(largest))) if largest > 0 else 0)
    rounded = np.round(array, decimals)
    return [v if ok else None for v, ok in zip(rounded.tolist(), finite.tolist())]


def _numbers(values: Iterable[float], digits: int) -> str:
    return json.dumps(_rounded(values, digits))


def _column_values(frame: pd.DataFrame, name: str, kind: str) -> list[Any]:
    column = frame[name]
    if name in DEFECT_FIELDS:  # "pristine" where defect_kind says none (stated), as in the PNG
        return [None if v == "n/a" else v for v in category_values(frame, name).tolist()]
    if column.dtype.kind in "iub":  # plain numbers: no per-value checks (fast at 10^6 rows)
        values = column.tolist()
    elif column.dtype.kind == "f":
        array = column.to_numpy(dtype=float)
        values = array.tolist()
        if not np.isfinite(array).all():
            values = [v if math.isfinite(v) else None for v in values]
    else:
        values = [_json_value(v) for v in column.tolist()]
    if kind == "categorical":  # 2.0 -> "2" in legends and tables
        values = [str(int(v)) if isinstance(v, float) and v.is_integer() else v for v in values]
    return values


def _payload(frame: pd.DataFrame, title: str, field: str | None, window: list[float] | None,
             store: dict[str, Any]) -> str:
    fields = []
    columns = {}
    for name in frame.columns:
        if name in COORDINATE_COLUMNS:
            continue
        kind = column_kind(frame[name])
        fields.append({"name": str(name), "label": field_label(str(name)), "kind": kind})
        columns[str(name)] = _column_values(frame, name, kind)
    parts = {
        "title": json.dumps(title),
        "field": json.dumps(field),
        "fields": json.dumps(fields),
        "columns": json.dumps(columns, allow_nan=False),
        "ids": json.dumps([int(i) for i in frame["spectrum_id"].tolist()]),
        "x": _numbers(frame["x"].astype(float), COORDINATE_DIGITS),
        "y": _numbers(frame["y"].astype(float), COORDINATE_DIGITS),
        "window": json.dumps(window),
        "store": json.dumps(store),
    }
    return "{" + ",".join(f'"{key}":{value}' for key, value in parts.items()) + "}"


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>__TITLE__</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 0; color: #222; }
 header { display: flex; gap: 2em; align-items: baseline; padding: 0.6em 1em; border-bottom: 1px solid #ddd; }
 header h1 { font-size: 1.15em; margin: 0; }
 main { display: flex; gap: 0.5em; padding: 0.5em; }
 #xr-mapbox { flex: 3 1 0; min-width: 400px; display: flex; gap: 0.3em; }
 #xr-map { position: relative; flex: 1 1 auto; height: 82vh; cursor: crosshair; user-select: none; }
 #xr-map canvas { position: absolute; left: 0; top: 0; }
 #xr-legend { flex: 0 0 auto; max-width: 16em; font-size: 0.8em; overflow-y: auto; max-height: 82vh; padding-top: 1.5em; }
 #xr-legend .xr-legend-title { font-weight: 600; margin-bottom: 0.3em; }
 #xr-legend .xr-legend-note { width: 0; min-width: 100%; margin-top: 0.5em; }  /* wraps; never widens the legend */
 #xr-legend .xr-legend-item { display: flex; align-items: center; gap: 0.4em; cursor: pointer; padding: 0.1em 0; }
 #xr-legend .xr-legend-item.xr-off { opacity: 0.35; }
 #xr-legend .xr-swatch { width: 0.8em; height: 0.8em; border-radius: 50%; flex: none; }
 #xr-legend .xr-colourbar { display: flex; gap: 0.4em; height: 40vh; margin: 0.3em 0 0.8em; }
 #xr-legend .xr-bar { width: 1.1em; border: 1px solid #ccc; }
 #xr-legend .xr-bar-labels { display: flex; flex-direction: column; justify-content: space-between; }
 #xr-tip { position: absolute; pointer-events: none; background: rgba(255, 255, 255, 0.94); border: 1px solid #888;
           padding: 0.2em 0.45em; font-size: 0.8em; white-space: nowrap; }
 aside { flex: 2 1 0; min-width: 320px; display: flex; flex-direction: column; }
 #xr-spectrum { position: relative; height: 45vh; }
 #xr-spectrum-title { font-size: 0.9em; margin: 0.3em 0 0 0.6em; height: 1.3em; overflow: hidden; white-space: nowrap; }
 #xr-spectrum canvas { display: block; }
 #xr-spectrum-note { position: absolute; left: 0; right: 0; top: 45%; text-align: center; color: #555; }
 #xr-readout { position: absolute; right: 0.8em; top: 2.2em; font-size: 0.8em; color: #444; }
 #xr-props { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 1em; }
 #xr-props td { padding: 0.1em 0.8em 0.1em 0; border-bottom: 1px solid #eee; }
 #xr-props td:first-child { color: #666; }
 #xr-props td:last-child { word-break: break-all; }
 .xr-hint { color: #666; font-size: 0.85em; }
</style>
<script>
 // Collect script errors before anything else runs, so a broken page says so in its status element.
 window.xrErrors = [];
 window.addEventListener("error", function (e) { window.xrErrors.push(String(e.message)); });
 window.addEventListener("unhandledrejection", function (e) { window.xrErrors.push(String(e.reason)); });
</script>
</head>
<body>
<header>
 <h1>__TITLE__</h1>
 <label>colour by <select id="xr-colour"></select></label>
 <label id="xr-axes-label" hidden>axes <select id="xr-axes"></select></label>
 <span class="xr-hint">hover a point to see its spectrum; click to keep it; wheel to zoom, drag to pan,
 double-click to reset</span>
</header>
<main>
 <section id="xr-mapbox">
  <div id="xr-map"><canvas id="xr-grid"></canvas><canvas id="xr-points"></canvas><canvas id="xr-overlay"></canvas>
   <div id="xr-tip" hidden></div></div>
  <div id="xr-legend"></div>
 </section>
 <aside>
  <div id="xr-spectrum"><div id="xr-spectrum-title"></div><canvas id="xr-spectrum-canvas"></canvas>
   <div id="xr-spectrum-note"></div><div id="xr-readout"></div></div>
  <table id="xr-props"></table>
 </aside>
</main>
<div id="xr-status" data-state="loading" hidden></div>
<script type="application/json" id="xr-data">__DATA__</script>
<script type="application/octet-stream" id="xr-spectra">__SPECTRA__</script>
<script>__APP__</script>
</body>
</html>
"""

_APP_TEMPLATE = r"""
(function () {
  "use strict";
  // Everything is drawn on <canvas> by this script (see the module docstring of
  // repository/plots/explorer.py for why no plotting library is used).
  var data = JSON.parse(document.getElementById("xr-data").textContent);
  var status = document.getElementById("xr-status");
  var mapDiv = document.getElementById("xr-map");
  var gridCanvas = document.getElementById("xr-grid");
  var pointsCanvas = document.getElementById("xr-points");
  var overlay = document.getElementById("xr-overlay");
  var tip = document.getElementById("xr-tip");
  var legend = document.getElementById("xr-legend");
  var legendNote = document.createElement("div");
  legendNote.className = "xr-hint xr-legend-note";
  var spectrumBox = document.getElementById("xr-spectrum");
  var spectrumCanvas = document.getElementById("xr-spectrum-canvas");
  var spectrumTitleDiv = document.getElementById("xr-spectrum-title");
  var note = document.getElementById("xr-spectrum-note");
  var readout = document.getElementById("xr-readout");
  var props = document.getElementById("xr-props");
  var select = document.getElementById("xr-colour");
  var axesSelect = document.getElementById("xr-axes");
  var n = data.ids.length;
  var MAX_CATEGORIES = 12, MISSING = "#b0b0b0", OTHER = "#606060", LINE = "#1f77b4";
  var PALETTE = __PALETTE__, PRISTINE = __PRISTINE__;  // the PNG's colours (repository.plots.embedding)
  var VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58",
                 "#b5de2b", "#fde725"];
  var VECTOR = data.renderer === "vector";
  var SIZE = Math.max(3, Math.min(10, 90 / Math.sqrt(Math.max(n, 1))));  // marker diameter (CSS px)
  var MARGIN = {l: 62, r: 12, t: 14, b: 48};  // around the map's plot area (CSS px)
  var HOVER_PX = Math.max(7, SIZE / 2 + 4);     // a point counts as hovered within this distance
  var fieldsByName = {};
  data.fields.forEach(function (f) { fieldsByName[f.name] = f; });
  var coords = {};
  ["x", "y", "z"].forEach(function (c) {
    if (!data[c]) return;
    var a = new Float64Array(n);
    for (var i = 0; i < n; i++) a[i] = data[c][i] === null ? NaN : data[c][i];
    coords[c] = a;
  });
  var axes = ["x", "y"];
  var pinned = 0, shown = -1, hovered = -1;
  var dpr = window.devicePixelRatio || 1;

  function text(v) {
    if (v === null || v === undefined) return "n/a";
    if (typeof v === "number" && !Number.isInteger(v)) return String(Number(v.toPrecision(4)));
    return String(v);
  }
  function hexRgb(hex) { var v = parseInt(hex.slice(1), 16); return [(v >> 16) & 255, (v >> 8) & 255, v & 255]; }
  function packed(rgb) { return ((255 << 24) | (rgb[2] << 16) | (rgb[1] << 8) | rgb[0]) >>> 0; }  // RGBA bytes, little-endian
  function cssOf(rgb) { return "rgb(" + rgb[0] + "," + rgb[1] + "," + rgb[2] + ")"; }
  var VIRIDIS_RGB = VIRIDIS.map(hexRgb);
  function viridis(t) {
    var s = Math.max(0, Math.min(1, t)) * (VIRIDIS_RGB.length - 1), k = Math.min(Math.floor(s), VIRIDIS_RGB.length - 2);
    var f = s - k, a = VIRIDIS_RGB[k], b = VIRIDIS_RGB[k + 1];
    return [Math.round(a[0] + f * (b[0] - a[0])), Math.round(a[1] + f * (b[1] - a[1])), Math.round(a[2] + f * (b[2] - a[2]))];
  }

  // ---- colouring: one colour and one drawing layer per point -----------------------------------
  var colour = new Uint32Array(n), layerOf = new Uint16Array(n), order = new Int32Array(n);
  var colourCss = VECTOR ? new Array(n) : null;
  var layers = [], hidden = [], currentField = null;
  var codeCache = {};

  function categoryCodes(field) {  // distinct values of a column, and each row's index into them
    if (codeCache[field]) return codeCache[field];
    var values = data.columns[field], index = new Map(), labels = [], counts = [], codes = new Int32Array(n);
    for (var i = 0; i < n; i++) {
      var v = values[i];
      if (v === null || v === undefined) { codes[i] = -1; continue; }
      v = String(v);
      var k = index.get(v);
      if (k === undefined) { k = labels.length; index.set(v, k); labels.push(v); counts.push(0); }
      codes[i] = k; counts[k]++;
    }
    return (codeCache[field] = {labels: labels, counts: counts, codes: codes});
  }

  function setLayer(i, layer, rgb) {
    layerOf[i] = layer; colour[i] = packed(rgb);
    if (colourCss) colourCss[i] = cssOf(rgb);
  }

  function colourBy(field) {
    layers = []; hidden = []; currentField = field;
    var i, counts;
    if (!field) {
      layers.push({label: "spectra", colour: PALETTE[0], count: n});
      var rgb = hexRgb(PALETTE[0]);
      for (i = 0; i < n; i++) setLayer(i, 0, rgb);
    } else if (fieldsByName[field].kind === "numeric") {
      var values = data.columns[field], lo = Infinity, hi = -Infinity, missing = 0;
      for (i = 0; i < n; i++) {
        var v = values[i];
        if (typeof v !== "number") { missing++; continue; }
        if (v < lo) lo = v; if (v > hi) hi = v;
      }
      var span = hi > lo ? hi - lo : 0, grey = hexRgb(MISSING);
      layers.push({label: "n/a", colour: MISSING, count: missing});
      layers.push({label: fieldsByName[field].label, colour: null, count: n - missing, lo: lo, hi: hi});
      for (i = 0; i < n; i++) {
        if (typeof values[i] !== "number") setLayer(i, 0, grey);
        else setLayer(i, 1, viridis(span ? (values[i] - lo) / span : 0.5));
      }
    } else {
      var cat = categoryCodes(field);
      var byCount = cat.labels.map(function (l, k) { return k; }).sort(function (a, b) {
        return cat.counts[b] - cat.counts[a] || (cat.labels[a] < cat.labels[b] ? -1 : cat.labels[a] > cat.labels[b] ? 1 : 0);
      });
      var shownCats = byCount.length > MAX_CATEGORIES + 1 ? byCount.slice(0, MAX_CATEGORIES) : byCount;
      var layerOfCode = new Int32Array(cat.labels.length), colours = [], p = 0;
      var missingCount = 0;
      for (i = 0; i < n; i++) if (cat.codes[i] < 0) missingCount++;
      // drawing order as plotly's traces were: n/a first, then the most frequent, "other" last (on top)
      layers.push({label: "n/a", colour: MISSING, count: missingCount});
      shownCats.forEach(function (k) {
        var c = cat.labels[k] === PRISTINE[0] ? PRISTINE[1] : PALETTE[p++ % PALETTE.length];
        layerOfCode[k] = layers.length;
        layers.push({label: cat.labels[k], colour: c, count: cat.counts[k]});
      });
      if (shownCats.length < byCount.length) {
        var rest = 0;
        byCount.slice(shownCats.length).forEach(function (k) { layerOfCode[k] = layers.length; rest += cat.counts[k]; });
        layers.push({label: "other (" + (byCount.length - shownCats.length) + " values)", colour: OTHER, count: rest,
                     other: true});
      }
      colours = layers.map(function (l) { return hexRgb(l.colour); });
      for (i = 0; i < n; i++) {
        var layer = cat.codes[i] < 0 ? 0 : layerOfCode[cat.codes[i]];
        setLayer(i, layer, colours[layer]);
      }
    }
    layers.forEach(function () { hidden.push(false); });
    // rows sorted by layer (counting sort): later layers are drawn on top
    var start = new Int32Array(layers.length + 1);
    for (i = 0; i < n; i++) start[layerOf[i] + 1]++;
    for (i = 0; i < layers.length; i++) start[i + 1] += start[i];
    for (i = 0; i < n; i++) order[start[layerOf[i]]++] = i;
    drawLegend(field);
  }

  function drawLegend(field) {
    var items = [];
    var title = document.createElement("div");
    title.className = "xr-legend-title";
    title.textContent = field ? fieldsByName[field].label : "";
    items.push(title);
    layers.forEach(function (layer, k) {
      if (!layer.count) return;
      if (layer.colour === null) {  // the colour bar of a numeric field
        var bar = document.createElement("div"), strip = document.createElement("div"), labels = document.createElement("div");
        bar.className = "xr-colourbar"; strip.className = "xr-bar"; labels.className = "xr-bar-labels";
        strip.style.background = "linear-gradient(to top, " + VIRIDIS.join(", ") + ")";
        [layer.hi, (layer.lo + layer.hi) / 2, layer.lo].forEach(function (v) {
          var span = document.createElement("span"); span.textContent = text(v); labels.appendChild(span);
        });
        bar.appendChild(strip); bar.appendChild(labels);
        items.push(bar);
        return;
      }
      var item = document.createElement("div"), swatch = document.createElement("span"), label = document.createElement("span");
      item.className = "xr-legend-item"; item.dataset.layer = String(k);
      swatch.className = "xr-swatch"; swatch.style.background = layer.colour;
      label.className = "xr-legendtext";
      label.textContent = layer.label + " (" + layer.count + ")";
      item.title = "click to hide or show";
      item.appendChild(swatch); item.appendChild(label);
      item.addEventListener("click", function () {
        hidden[k] = !hidden[k];
        item.classList.toggle("xr-off", hidden[k]);
        drawMap();  // (the index stays: the nearest-point search skips hidden layers)
      });
      items.push(item);
    });
    items.push(legendNote);
    legend.replaceChildren.apply(legend, items);
  }

  // ---- view: data <-> screen ------------------------------------------------------------------
  var view = {cx: 0, cy: 0, scale: 1}, box = {w: 0, h: 0, pw: 0, ph: 0};

  function sizeCanvas(canvas, w, h) {  // (resizing clears a canvas: only when the size changes)
    if (canvas.style.width === w + "px" && canvas.style.height === h + "px" && canvas.width === Math.max(1, Math.round(w * dpr))) return;
    canvas.width = Math.max(1, Math.round(w * dpr)); canvas.height = Math.max(1, Math.round(h * dpr));
    canvas.style.width = w + "px"; canvas.style.height = h + "px";
  }
  function layout() {
    var r = mapDiv.getBoundingClientRect();
    box.w = Math.max(100, Math.floor(r.width)); box.h = Math.max(100, Math.floor(r.height));
    box.pw = box.w - MARGIN.l - MARGIN.r; box.ph = box.h - MARGIN.t - MARGIN.b;
    sizeCanvas(gridCanvas, box.w, box.h); sizeCanvas(overlay, box.w, box.h);
    sizeCanvas(pointsCanvas, box.pw, box.ph);
    pointsCanvas.style.left = MARGIN.l + "px"; pointsCanvas.style.top = MARGIN.t + "px";
    var s = spectrumBox.getBoundingClientRect();
    sizeCanvas(spectrumCanvas, Math.max(100, Math.floor(s.width)), Math.max(100, Math.floor(s.height - spectrumTitleDiv.offsetHeight - 4)));
  }
  var withoutCoordinates = 0;  // rows with no finite position on the two axes drawn
  function resetView() {
    var X = coords[axes[0]], Y = coords[axes[1]];
    var x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    withoutCoordinates = 0;
    for (var i = 0; i < n; i++) {
      var x = X[i], y = Y[i];
      if (x !== x || y !== y) { withoutCoordinates++; continue; }  // NaN
      if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y;
    }
    if (x0 > x1) { x0 = -1; x1 = 1; y0 = -1; y1 = 1; }
    var dx = x1 - x0 || 1, dy = y1 - y0 || 1;
    view.cx = (x0 + x1) / 2; view.cy = (y0 + y1) / 2;
    view.scale = Math.min(box.pw / (dx * 1.06), box.ph / (dy * 1.06));  // one scale: distances mean the same both ways
  }
  function toScreenX(x) { return box.pw / 2 + (x - view.cx) * view.scale; }  // in the plot area, CSS px
  function toScreenY(y) { return box.ph / 2 - (y - view.cy) * view.scale; }
  function toDataX(px) { return view.cx + (px - box.pw / 2) / view.scale; }
  function toDataY(py) { return view.cy - (py - box.ph / 2) / view.scale; }

  // ---- drawing --------------------------------------------------------------------------------
  function niceTicks(lo, hi, count) {
    var span = hi - lo;
    if (!(span > 0)) return {values: [lo], step: 1};
    var raw = span / count, step = Math.pow(10, Math.floor(Math.log10(raw))), err = raw / step;
    step *= err >= 7.5 ? 10 : err >= 3.5 ? 5 : err >= 1.5 ? 2 : 1;
    var values = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) values.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    return {values: values, step: step};
  }
  function tickText(v, step) {
    var decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
    return decimals > 8 || Math.abs(v) >= 1e6 ? v.toPrecision(3) : v.toFixed(decimals);
  }
  // axes, ticks and grid of a plot area (l, t, w, h in CSS px) for data ranges xr, yr
  function drawAxes(ctx, l, t, w, h, xr, yr, xTitle, yTitle) {
    ctx.save();
    ctx.font = "11px system-ui, sans-serif"; ctx.fillStyle = "#444"; ctx.strokeStyle = "#e6e6e6"; ctx.lineWidth = 1;
    var xt = niceTicks(xr[0], xr[1], Math.max(2, Math.floor(w / 90))), yt = niceTicks(yr[0], yr[1], Math.max(2, Math.floor(h / 60)));
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    xt.values.forEach(function (v) {
      var px = Math.round(l + (v - xr[0]) / (xr[1] - xr[0]) * w) + 0.5;
      ctx.beginPath(); ctx.moveTo(px, t); ctx.lineTo(px, t + h); ctx.stroke();
      ctx.fillText(tickText(v, xt.step), px, t + h + 4);
    });
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    yt.values.forEach(function (v) {
      var py = Math.round(t + h - (v - yr[0]) / (yr[1] - yr[0]) * h) + 0.5;
      ctx.beginPath(); ctx.moveTo(l, py); ctx.lineTo(l + w, py); ctx.stroke();
      ctx.fillText(tickText(v, yt.step), l - 5, py);
    });
    ctx.strokeStyle = "#999"; ctx.strokeRect(l + 0.5, t + 0.5, w - 1, h - 1);
    ctx.font = "12px system-ui, sans-serif"; ctx.fillStyle = "#222"; ctx.textAlign = "center"; ctx.textBaseline = "bottom";
    ctx.fillText(xTitle, l + w / 2, t + h + 44);
    ctx.translate(14, t + h / 2); ctx.rotate(-Math.PI / 2); ctx.textBaseline = "middle"; ctx.fillText(yTitle, 0, 0);
    ctx.restore();
  }

  var stamp = null, stampSize = -1;
  function discStamp(d) {  // pixel offsets of a filled disc of diameter d (device px)
    var out = [], r = d / 2, c = (d - 1) / 2;
    for (var y = 0; y < d; y++) for (var x = 0; x < d; x++) {
      if ((x - c) * (x - c) + (y - c) * (y - c) <= r * r + 0.01) out.push([x - Math.floor(c), y - Math.floor(c)]);
    }
    return out;
  }

  function drawMap() {
    var started = performance.now();
    var g = gridCanvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, box.w, box.h);
    drawAxes(g, MARGIN.l, MARGIN.t, box.pw, box.ph, [toDataX(0), toDataX(box.pw)], [toDataY(box.ph), toDataY(0)],
             data.axisNames[axes[0]], data.axisNames[axes[1]]);
    var ctx = pointsCanvas.getContext("2d"), W = pointsCanvas.width, H = pointsCanvas.height;
    var X = coords[axes[0]], Y = coords[axes[1]], drawn = 0, k, i, px, py;
    var ax = dpr * view.scale, bx = dpr * (box.pw / 2 - view.cx * view.scale);
    var ay = -dpr * view.scale, by = dpr * (box.ph / 2 + view.cy * view.scale);
    if (VECTOR) {  // few points: anti-aliased discs
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, W, H);
      var r = SIZE * dpr / 2;
      for (k = 0; k < n; k++) {
        i = order[k];
        if (hidden[layerOf[i]]) continue;
        px = ax * X[i] + bx; py = ay * Y[i] + by;
        if (!(px >= -r && px <= W + r && py >= -r && py <= H + r)) continue;  // also skips NaN
        ctx.fillStyle = colourCss[i];
        ctx.beginPath(); ctx.arc(px, py, r, 0, 2 * Math.PI); ctx.fill();
        drawn++;
      }
    } else {  // many points: straight into one RGBA pixel buffer
      var d = Math.max(1, Math.round(SIZE * dpr));
      if (d !== stampSize) { stamp = discStamp(d); stampSize = d; }
      var sx = new Int32Array(stamp.map(function (o) { return o[0]; }));
      var sy = new Int32Array(stamp.map(function (o) { return o[1]; }));
      var m = sx.length, image = ctx.createImageData(W, H), buf = new Uint32Array(image.data.buffer);
      for (k = 0; k < n; k++) {
        i = order[k];
        if (hidden[layerOf[i]]) continue;
        px = ax * X[i] + bx; py = ay * Y[i] + by;
        if (!(px >= -d && px < W + d && py >= -d && py < H + d)) continue;
        var cx = px | 0, cy = py | 0, c = colour[i];
        if (cx >= d && cx < W - d && cy >= d && cy < H - d) {
          for (var s = 0; s < m; s++) buf[(cy + sy[s]) * W + cx + sx[s]] = c;
        } else {
          for (s = 0; s < m; s++) {
            var qx = cx + sx[s], qy = cy + sy[s];
            if (qx >= 0 && qx < W && qy >= 0 && qy < H) buf[qy * W + qx] = c;
          }
        }
        if (cx >= 0 && cx < W && cy >= 0 && cy < H) drawn++;
      }
      ctx.putImageData(image, 0, 0);
    }
    drawOverlay();
    legendNote.textContent = withoutCoordinates ? withoutCoordinates + " of " + n + " rows have no " + axes.join("/") +
      " coordinates and are not drawn" : "";
    status.dataset.points = String(drawn);
    status.dataset.total = String(n);
    status.dataset.renderer = VECTOR ? "vector" : "pixels";
    status.dataset.field = currentField || "";
    status.dataset.axes = axes.join(",");
    status.dataset.drawMs = (performance.now() - started).toFixed(1);
  }

  function drawOverlay() {
    var o = overlay.getContext("2d");
    o.setTransform(dpr, 0, 0, dpr, 0, 0);
    o.clearRect(0, 0, box.w, box.h);
    [[pinned, "#000"], [hovered, "#d62728"]].forEach(function (pair) {
      var row = pair[0];
      if (row < 0) return;
      var px = MARGIN.l + toScreenX(coords[axes[0]][row]), py = MARGIN.t + toScreenY(coords[axes[1]][row]);
      if (!(px >= MARGIN.l && px <= MARGIN.l + box.pw && py >= MARGIN.t && py <= MARGIN.t + box.ph)) return;
      o.strokeStyle = pair[1]; o.lineWidth = 2;
      o.beginPath(); o.arc(px, py, SIZE / 2 + 4, 0, 2 * Math.PI); o.stroke();
    });
  }

  // ---- spatial index: a uniform grid over the data coordinates of the two axes drawn ------------
  var index = null;
  function buildIndexIfNeeded() {  // after a change of axes or colouring (drawing order) only
    var key = axes.join(",");
    if (index && index.key === key) return;
    var started = performance.now();
    var X = coords[axes[0]], Y = coords[axes[1]];
    var x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity, i;
    for (i = 0; i < n; i++) {
      if (X[i] !== X[i] || Y[i] !== Y[i]) continue;
      if (X[i] < x0) x0 = X[i]; if (X[i] > x1) x1 = X[i]; if (Y[i] < y0) y0 = Y[i]; if (Y[i] > y1) y1 = Y[i];
    }
    if (x0 > x1) { x0 = y0 = 0; x1 = y1 = 1; }
    var side = Math.max(1, Math.ceil(Math.sqrt(n / 4)));  // about 4 points per cell
    var cw = (x1 - x0) / side || 1, ch = (y1 - y0) / side || 1;
    var cellOf = new Int32Array(n), start = new Int32Array(side * side + 1);
    for (i = 0; i < n; i++) {
      if (X[i] !== X[i] || Y[i] !== Y[i]) { cellOf[i] = -1; continue; }
      var cx = Math.min(side - 1, Math.floor((X[i] - x0) / cw)), cy = Math.min(side - 1, Math.floor((Y[i] - y0) / ch));
      cellOf[i] = cy * side + cx; start[cellOf[i] + 1]++;
    }
    for (i = 0; i < side * side; i++) start[i + 1] += start[i];
    var fill = start.slice(0, side * side), items = new Int32Array(start[side * side]);
    for (i = 0; i < n; i++) if (cellOf[i] >= 0) items[fill[cellOf[i]]++] = i;
    var rank = new Int32Array(n);  // drawing position: among equally near points the one on top wins
    for (i = 0; i < n; i++) rank[order[i]] = i;
    index = {key: key, x0: x0, y0: y0, cw: cw, ch: ch, side: side, start: start, items: items, rank: rank};
    status.dataset.indexMs = (performance.now() - started).toFixed(1);
  }
  // the row drawn nearest to plot-area position (px, py) in CSS px, within HOVER_PX; -1 if none
  function nearestAt(px, py) {
    buildIndexIfNeeded();
    var X = coords[axes[0]], Y = coords[axes[1]], ix = index;
    var x = toDataX(px), y = toDataY(py), rad = HOVER_PX / view.scale;
    var cx0 = Math.max(0, Math.floor((x - rad - ix.x0) / ix.cw)), cx1 = Math.min(ix.side - 1, Math.floor((x + rad - ix.x0) / ix.cw));
    var cy0 = Math.max(0, Math.floor((y - rad - ix.y0) / ix.ch)), cy1 = Math.min(ix.side - 1, Math.floor((y + rad - ix.y0) / ix.ch));
    var best = -1, bestD = rad * rad;
    for (var cy = cy0; cy <= cy1; cy++) for (var cx = cx0; cx <= cx1; cx++) {
      var c = cy * ix.side + cx;
      for (var k = ix.start[c]; k < ix.start[c + 1]; k++) {
        var i = ix.items[k];
        if (hidden[layerOf[i]]) continue;
        var dx = X[i] - x, dy = Y[i] - y, dd = dx * dx + dy * dy;
        if (dd < bestD || (dd === bestD && best >= 0 && ix.rank[i] > ix.rank[best])) { best = i; bestD = dd; }
      }
    }
    return best;
  }

  // ---- the spectrum panel: decoded on demand from the embedded store ------------------------------
  var store = data.store, blobText = null, rowOffsets = null, gridCache = {};
  function bytesAt(offset, length) {  // offset and length are multiples of 3: the slice decodes alone
    if (blobText === null) blobText = document.getElementById("xr-spectra").textContent;
    var bin = atob(blobText.substr(offset / 3 * 4, length / 3 * 4)), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function padded(length) { return length + (3 - length % 3) % 3; }
  function spectrumOf(row) {
    if (!rowOffsets) {
      var raw = atob(store.rows), bytes = new Uint8Array(raw.length);
      for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
      rowOffsets = new Int32Array(bytes.buffer);
    }
    var offset = rowOffsets[row];
    if (offset < 0) return null;
    var head = new DataView(bytesAt(offset, 12).buffer);
    var g = head.getUint32(0, true), lo = head.getFloat32(4, true), hi = head.getFloat32(8, true);
    if (!gridCache[g]) {
      var where = store.grids[g], gb = new DataView(bytesAt(where[0], padded(8 * where[1])).buffer);
      var energy = new Float64Array(where[1]);
      for (var k = 0; k < where[1]; k++) energy[k] = gb.getFloat64(8 * k, true);
      gridCache[g] = energy;
    }
    var e = gridCache[g], m = e.length, body = new DataView(bytesAt(offset + 12, padded(2 * m)).buffer);
    var y = new Float64Array(m), step = (hi - lo) / store.codes;
    for (var j = 0; j < m; j++) {
      var q = body.getUint16(2 * j, true);
      y[j] = q > store.codes ? NaN : lo + q * step;
    }
    return {energy: e, intensity: y};
  }

  var TITLE_FIELDS = ["reduced_formula", "defect_name", "absorbing_element", "edge", "polarization"];
  function spectrumTitle(row) {
    var words = ["spectrum " + data.ids[row]];
    TITLE_FIELDS.forEach(function (name) {
      var v = data.columns[name] ? data.columns[name][row] : null;
      if (v !== null && v !== undefined && v !== "") words.push(String(v));
    });
    return words.join("  ");
  }

  var current = null;  // {energy, intensity, l, t, w, h, xr, yr} of the spectrum drawn
  function drawSpectrum(spectrum) {
    var ctx = spectrumCanvas.getContext("2d"), w = spectrumCanvas.width / dpr, h = spectrumCanvas.height / dpr;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    var l = 62, t = 10, pw = w - l - 12, ph = h - t - 50, xr, yr;
    if (spectrum) {
      var e = spectrum.energy, y = spectrum.intensity, lo = Infinity, hi = -Infinity;
      for (var k = 0; k < y.length; k++) if (y[k] === y[k]) { if (y[k] < lo) lo = y[k]; if (y[k] > hi) hi = y[k]; }
      if (!(hi >= lo)) { lo = 0; hi = 1; }
      var pad = (hi - lo) * 0.05 || 0.5;
      xr = [e[0], e[e.length - 1]]; yr = [lo - pad, hi + pad];
      if (!(xr[1] > xr[0])) xr = [xr[0] - 1, xr[0] + 1];
    } else {
      xr = data.window ? data.window.slice() : [0, 1]; yr = [0, 1];
    }
    if (data.window) {  // the snapshot recipe's energy window: what the map compares
      var wx0 = l + (data.window[0] - xr[0]) / (xr[1] - xr[0]) * pw, wx1 = l + (data.window[1] - xr[0]) / (xr[1] - xr[0]) * pw;
      wx0 = Math.max(l, wx0); wx1 = Math.min(l + pw, wx1);
      if (wx1 > wx0) {
        ctx.fillStyle = "rgba(255, 165, 0, 0.15)"; ctx.fillRect(wx0, t, wx1 - wx0, ph);
        ctx.fillStyle = "#444"; ctx.font = "11px system-ui, sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "top";
        ctx.fillText("recipe window", (wx0 + wx1) / 2, t + 2);
      }
    }
    drawAxes(ctx, l, t, pw, ph, xr, yr, "photon energy (eV)", "intensity (arb. units)");
    if (spectrum) {
      ctx.save();
      ctx.beginPath(); ctx.rect(l, t, pw, ph); ctx.clip();
      ctx.strokeStyle = LINE; ctx.lineWidth = 2; ctx.lineJoin = "round"; ctx.beginPath();
      var open = false;
      for (var j = 0; j < spectrum.energy.length; j++) {
        var v = spectrum.intensity[j];
        if (v !== v) { open = false; continue; }  // a gap where a value is not finite
        var px = l + (spectrum.energy[j] - xr[0]) / (xr[1] - xr[0]) * pw, py = t + ph - (v - yr[0]) / (yr[1] - yr[0]) * ph;
        if (open) ctx.lineTo(px, py); else { ctx.moveTo(px, py); open = true; }
      }
      ctx.stroke();
      ctx.restore();
    }
    current = spectrum ? {spectrum: spectrum, energy: spectrum.energy, intensity: spectrum.intensity, l: l, t: t, w: pw, h: ph, xr: xr, yr: yr} : null;
  }

  function showRow(row) {
    if (row === shown) return;
    shown = row;
    var id = data.ids[row], spectrum = spectrumOf(row);
    spectrumTitleDiv.textContent = spectrumTitle(row);
    drawSpectrum(spectrum);
    var finite = spectrum ? Array.prototype.some.call(spectrum.intensity, function (v) { return v === v; }) : false;
    note.textContent = !spectrum ? "spectrum " + id + " is not stored in this page"
      : finite ? "" : "spectrum " + id + " has no finite intensity";
    readout.textContent = "";
    var rows = [["spectrum id", id]], empty = 0;
    Object.keys(data.axisNames).forEach(function (c) { rows.push([data.axisNames[c], text(data[c][row])]); });
    data.fields.forEach(function (f) {
      var v = data.columns[f.name][row];
      if (v === null || v === "") { empty++; } else { rows.push([f.label, text(v)]); }
    });
    if (empty) rows.push(["", empty + " propert" + (empty === 1 ? "y" : "ies") + " without a value not shown"]);
    props.replaceChildren.apply(props, rows.map(function (pair) {
      var tr = document.createElement("tr");
      pair.forEach(function (cell) { var td = document.createElement("td"); td.textContent = String(cell); tr.appendChild(td); });
      return tr;
    }));
    status.dataset.selected = String(id);
    status.dataset.spectrumPoints = String(spectrum ? spectrum.energy.length : 0);
    status.dataset.window = data.window ? data.window.join("-") : "";
  }

  spectrumCanvas.addEventListener("mousemove", function (ev) {  // the value under the mouse
    if (!current) return;
    var r = spectrumCanvas.getBoundingClientRect(), e = current.xr[0] + (ev.clientX - r.left - current.l) / current.w * (current.xr[1] - current.xr[0]);
    var best = 0;
    for (var k = 1; k < current.energy.length; k++) if (Math.abs(current.energy[k] - e) < Math.abs(current.energy[best] - e)) best = k;
    readout.textContent = current.energy[best].toFixed(2) + " eV: " + text(current.intensity[best]);
  });

  // ---- mouse on the map ----------------------------------------------------------------------
  function plotPosition(ev) {
    var r = overlay.getBoundingClientRect();
    return [ev.clientX - r.left - MARGIN.l, ev.clientY - r.top - MARGIN.t];
  }
  function rowAtClient(clientX, clientY) {
    var r = overlay.getBoundingClientRect(), px = clientX - r.left - MARGIN.l, py = clientY - r.top - MARGIN.t;
    if (px < 0 || py < 0 || px > box.pw || py > box.ph) return -1;
    return nearestAt(px, py);
  }
  function showTip(row, ev) {
    if (row < 0) { tip.hidden = true; return; }
    var lines = ["spectrum " + data.ids[row]];
    if (currentField) lines.push(fieldsByName[currentField].label + ": " + text(data.columns[currentField][row]));
    tip.replaceChildren.apply(tip, lines.map(function (line) { var d = document.createElement("div"); d.textContent = line; return d; }));
    var r = mapDiv.getBoundingClientRect();
    tip.hidden = false;
    tip.style.left = Math.min(ev.clientX - r.left + 14, box.w - tip.offsetWidth - 2) + "px";
    tip.style.top = Math.max(0, ev.clientY - r.top - tip.offsetHeight - 8) + "px";
  }
  function hover(ev) {
    var started = performance.now(), row = rowAtClient(ev.clientX, ev.clientY);
    if (row !== hovered) { hovered = row; drawOverlay(); }
    showTip(row, ev);
    showRow(row >= 0 ? row : pinned);
    status.dataset.hoverMs = (performance.now() - started).toFixed(2);
  }
  var drag = null;
  overlay.addEventListener("mousedown", function (ev) {
    drag = {x: ev.clientX, y: ev.clientY, cx: view.cx, cy: view.cy, moved: false};
  });
  window.addEventListener("mouseup", function (ev) {
    if (!drag) return;
    var wasClick = !drag.moved;
    drag = null;
    if (wasClick && ev.target === overlay) {
      var row = rowAtClient(ev.clientX, ev.clientY);
      if (row >= 0) { pinned = row; drawOverlay(); showRow(row); }
    }
  });
  overlay.addEventListener("mousemove", function (ev) {
    if (drag) {
      var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      if (drag.moved) {
        view.cx = drag.cx - dx / view.scale; view.cy = drag.cy + dy / view.scale;
        tip.hidden = true;
        drawMap();
        return;
      }
    }
    hover(ev);
  });
  overlay.addEventListener("mouseleave", function () {
    hovered = -1; tip.hidden = true; drawOverlay(); showRow(pinned);
  });
  overlay.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var p = plotPosition(ev), x = toDataX(p[0]), y = toDataY(p[1]);
    view.scale *= Math.exp(-ev.deltaY * 0.0015);
    view.cx = x - (p[0] - box.pw / 2) / view.scale; view.cy = y + (p[1] - box.ph / 2) / view.scale;  // keep the point under the mouse
    drawMap();
  }, {passive: false});
  overlay.addEventListener("dblclick", function () { resetView(); drawMap(); });
  window.addEventListener("resize", function () {
    layout(); resetView(); drawMap(); drawSpectrum(current && current.spectrum);
  });

  // ---- start -----------------------------------------------------------------------------------
  var hash = {};
  location.hash.replace(/^#/, "").split("&").forEach(function (part) {
    var kv = part.split("="); if (kv[0]) hash[decodeURIComponent(kv[0])] = decodeURIComponent(kv[1] || "");
  });
  var field = (hash.color && fieldsByName[hash.color]) ? hash.color : data.field;
  data.fields.forEach(function (f) {
    var values = data.columns[f.name], any = false;
    for (var i = 0; i < n && !any; i++) any = values[i] !== null;
    if (!any) return;  // nothing to colour by
    var option = document.createElement("option");
    option.value = f.name; option.textContent = f.label + (f.kind === "numeric" ? " (value)" : "");
    select.appendChild(option);
  });
  if (!data.fields.length) { select.disabled = true; }
  if (field) select.value = field;
  var first = hash.spectrum !== undefined ? data.ids.indexOf(Number(hash.spectrum)) : 0;
  pinned = first >= 0 ? first : 0;

  if (data.z) {  // a 3-D snapshot: two of its three axes at a time, chosen here
    document.getElementById("xr-axes-label").hidden = false;
    [["x", "y"], ["x", "z"], ["y", "z"]].forEach(function (pair) {
      var option = document.createElement("option");
      option.value = pair.join(",");
      option.textContent = data.axisNames[pair[0]] + " / " + data.axisNames[pair[1]];
      axesSelect.appendChild(option);
    });
    if (/^[xyz],[xyz]$/.test(hash.axes || "") && hash.axes[0] !== hash.axes[2] && data[hash.axes[0]] && data[hash.axes[2]]) {
      axes = [hash.axes[0], hash.axes[2]];
    }
    axesSelect.value = axes.join(",");
    axesSelect.addEventListener("change", function () {
      axes = axesSelect.value.split(","); resetView(); index = null; drawMap();
    });
  }
  select.addEventListener("change", function () {
    colourBy(select.value || null); index = null; tip.hidden = true;
    layout();  // the legend's width may have changed; the view (centre, scale) is kept
    drawMap();
    drawSpectrum(current && current.spectrum);
  });
  window.xrExplorer = {
    nearest: rowAtClient,
    screenOf: function (row) {
      var r = overlay.getBoundingClientRect();
      return [r.left + MARGIN.l + toScreenX(coords[axes[0]][row]), r.top + MARGIN.t + toScreenY(coords[axes[1]][row])];
    },
    screenOfAll: function () {  // [x0, y0, x1, y1, ...] (null: no coordinates)
      var out = new Array(2 * n), r = overlay.getBoundingClientRect(), X = coords[axes[0]], Y = coords[axes[1]];
      for (var i = 0; i < n; i++) {
        var ok = X[i] === X[i] && Y[i] === Y[i];
        out[2 * i] = ok ? r.left + MARGIN.l + toScreenX(X[i]) : null;
        out[2 * i + 1] = ok ? r.top + MARGIN.t + toScreenY(Y[i]) : null;
      }
      return out;
    },
    spectrum: function (row) {  // the decoded spectrum of a row (NaN as null), or null
      var s = spectrumOf(row);
      return s && {energy: Array.from(s.energy), intensity: Array.from(s.intensity, function (v) { return v === v ? v : null; })};
    },
    colourBy: function (f) { select.value = f; select.dispatchEvent(new Event("change")); return status.dataset.drawMs; },
    hoverRadius: HOVER_PX,
    ids: data.ids
  };
  try {
    if (n === 0) throw new Error("the snapshot has no rows");
    colourBy(field || null);  // first: the legend takes its width from the map
    layout();
    resetView();
    drawMap();
    showRow(pinned);
    status.dataset.readyMs = performance.now().toFixed(0);
    status.dataset.state = "ready";
  } catch (err) {
    window.xrErrors.push(String(err));
    console.error(err);
  } finally {
    status.dataset.errors = String(window.xrErrors.length);
  }
})();
"""
_APP = (_APP_TEMPLATE.replace("__PALETTE__", json.dumps(list(CATEGORY_PALETTE)))
        .replace("__PRISTINE__", json.dumps([PRISTINE_LABEL, PRISTINE_COLOR])))
