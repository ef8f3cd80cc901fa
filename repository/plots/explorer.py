"""An interactive, self-contained HTML explorer of a snapshot.

One HTML file that works offline: plotly.js is copied from the plotly Python package into the page
(no CDN), the snapshot's rows and the spectra are embedded as JSON. The page shows the embedding
scatter with a colour-by selector; hovering a point shows its spectrum (energy in eV) and its
structure/defect properties, clicking pins it. The fragment ``#color=FIELD&spectrum=ID`` opens the
page coloured by FIELD with spectrum ID selected (links into the explorer; the browser test uses it).

A 3-D snapshot (a ``z`` column) gets an **axes** selector (x/y, x/z, y/z; fragment ``axes=x,z``):
the page draws two coordinates at a time and says which. Axes are named per method from the
snapshot file's footer (``PC1 (57.0 % of variance)``, ``UMAP 1``, ``MDS 1``). Snapshots with more
than :data:`WEBGL_POINTS` rows are drawn with WebGL (plotly ``scattergl``), which stays responsive
with hundreds of thousands of points.

The page reports its state in ``<div id="xr-status">`` (``data-state="ready"``, ``data-points`` =
number of points drawn, ``data-renderer`` = ``svg`` or ``webgl``, ``data-axes`` = e.g. ``x,y``, ``data-field``, ``data-selected`` = spectrum id shown,
``data-spectrum-points``) and records script errors in ``data-errors``.
"""

from __future__ import annotations

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
from .embedding import (CATEGORY_PALETTE, COORDINATES, DEFECT_FIELDS, PRISTINE_COLOR, PRISTINE_LABEL, axis_label,
                        category_values, embedding_title, snapshot_info)
from .frame import COORDINATE_COLUMNS, check_field, column_kind, field_label, snapshot_frame

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Engine

# Spectra are thinned to at most this many points each (evenly spaced samples of the stored ones)
# so a page with thousands of spectra stays a few megabytes.
MAX_POINTS_PER_SPECTRUM = 300
PREFERRED_FIELDS = ("crystal_system", "defect_kind", "dimensionality", "polymorph", "reduced_formula",
                    "absorbing_element")
MAX_DEFAULT_CATEGORIES = 12  # a column with more distinct values (ids, hashes) is not shown first
ENERGY_DIGITS = 7  # 0.001 eV at 1 keV, 0.01 eV at 10 keV
INTENSITY_DIGITS = 4  # relative to the spectrum's maximum: enough to draw it
COORDINATE_DIGITS = 5
ID_CHUNK = 500
WEBGL_POINTS = 20_000  # larger snapshots are drawn with WebGL (SVG slows down beyond some 10^4 points)

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


def write_explorer(snapshot: Any, output: str | Path, *, spectra: Spectra | None = None,
                   title: str | None = None, color_by: str | None = None, info: dict[str, Any] | None = None,
                   window_ev: list[float] | None = None
                   ) -> Path:
    """Write the explorer page for ``snapshot`` (Parquet path, DataFrame or pyarrow Table).

    ``spectra`` maps spectrum ids to (energy_ev, intensity) arrays, e.g. from :func:`load_spectra`.
    ``info`` is the snapshot's footer metadata (default: read from a snapshot file) and names the
    axes. ``window_ev`` (lo, hi) is shaded on the spectrum panel (default: the snapshot file's recipe
    window, :func:`snapshot_window`). Returns the path written.
    """
    # lazy import: start-up time (plotly is heavy; only this path needs it)
    from plotly.offline import get_plotlyjs

    frame = snapshot_frame(snapshot)
    if color_by is not None:
        check_field(frame, color_by)
    info = info if info is not None else snapshot_info(snapshot)
    if title is None:
        title = page_title(info, frame, Path(snapshot).stem if isinstance(snapshot, (str, Path)) else None)
    window = window_ev if window_ev is not None else snapshot_window(snapshot)
    payload = _payload(frame, spectra or {}, title, color_by or default_field(frame), window)
    payload = payload[:-1] + "," + _axes_payload(frame, info)[1:]
    parts = {"TITLE": html.escape(title), "PLOTLY": get_plotlyjs(),
             # every < > & as a JSON escape (they occur only inside strings): no value can end the
             # script ("</script") or open an HTML comment ("<!--" makes a later </script> not count)
             "DATA": payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"),
             "APP": _APP}
    # one pass, so nothing inserted (plotly.js, a title) is searched for placeholders again
    page = re.sub(r"__(TITLE|PLOTLY|DATA|APP)__", lambda m: parts[m.group(1)], _PAGE)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf-8")
    return output


def explore(snapshot: Any, output: str | Path, *, engine: Engine | None = None, title: str | None = None,
            color_by: str | None = None, max_points: int = MAX_POINTS_PER_SPECTRUM) -> Path:
    """The explorer for a snapshot with its spectra read from the database at ``engine`` (if given)."""
    frame = snapshot_frame(snapshot)
    spectra = load_spectra(engine, frame["spectrum_id"], max_points=max_points) if engine is not None else {}
    info = snapshot_info(snapshot)
    if title is None:
        title = page_title(info, frame, Path(snapshot).stem if isinstance(snapshot, (str, Path)) else None)
    return write_explorer(frame, output, spectra=spectra, title=title, color_by=color_by, info=info,
                          window_ev=snapshot_window(snapshot))


def page_title(info: dict[str, Any], frame: pd.DataFrame, name: str | None = None) -> str:
    """'B K-edge XANES: PCA map of 94 spectra (umap_2026...)' -- in words, the uid in brackets."""
    words = embedding_title(info, frame, "x").split(", coloured by")[0]
    uid = info.get("snapshot_id") or name
    return f"{words} ({uid})" if uid else words


def _axes_payload(frame: pd.DataFrame, info: dict[str, Any]) -> str:
    """JSON object with ``z`` (3-D snapshots), ``axisNames`` per coordinate and ``webgl``."""
    present = [c for c in COORDINATES if c in frame.columns]
    parts = {"axisNames": json.dumps({c: axis_label(info, c) for c in present}),
             "webgl": json.dumps(len(frame) > WEBGL_POINTS)}
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


def _payload(frame: pd.DataFrame, spectra: Spectra, title: str, field: str | None,
             window: list[float] | None = None) -> str:
    fields = []
    columns = {}
    for name in frame.columns:
        if name in COORDINATE_COLUMNS:
            continue
        kind = column_kind(frame[name])
        values = [_json_value(v) for v in frame[name].tolist()]
        if name in DEFECT_FIELDS:  # "pristine" for computed structures without a defect, as in the PNG
            values = [None if v == "n/a" else v for v in category_values(frame, name).tolist()]
        if kind == "categorical":  # 2.0 -> "2" in legends and tables
            values = [str(int(v)) if isinstance(v, float) and v.is_integer() else v for v in values]
        fields.append({"name": str(name), "label": field_label(str(name)), "kind": kind})
        columns[str(name)] = values
    ids = [int(i) for i in frame["spectrum_id"].tolist()]
    parts = {
        "title": json.dumps(title),
        "field": json.dumps(field),
        "fields": json.dumps(fields),
        "columns": json.dumps(columns, allow_nan=False),
        "ids": json.dumps(ids),
        "x": _numbers(frame["x"].astype(float), COORDINATE_DIGITS),
        "y": _numbers(frame["y"].astype(float), COORDINATE_DIGITS),
        "window": json.dumps(window),
    }
    # spectra as [energy-grid index, intensities]: most spectra of a set share their energy grid
    grids: dict[str, int] = {}
    stored = {}
    for spectrum_id in ids:
        if spectrum_id in spectra and str(spectrum_id) not in stored:
            energy, intensity = spectra[spectrum_id]
            grid = _numbers(energy, ENERGY_DIGITS)
            index = grids.setdefault(grid, len(grids))
            stored[str(spectrum_id)] = f"[{index},{_numbers(intensity, INTENSITY_DIGITS)}]"
    parts["grids"] = "[" + ",".join(grids) + "]"
    parts["spectra"] = "{" + ",".join(f'"{key}":{value}' for key, value in stored.items()) + "}"
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
 #xr-map { flex: 3 1 0; min-width: 400px; height: 82vh; }
 aside { flex: 2 1 0; min-width: 320px; display: flex; flex-direction: column; }
 #xr-spectrum { height: 45vh; }
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
<script>__PLOTLY__</script>
</head>
<body>
<header>
 <h1>__TITLE__</h1>
 <label>colour by <select id="xr-colour"></select></label>
 <label id="xr-axes-label" hidden>axes <select id="xr-axes"></select></label>
 <span class="xr-hint">hover a point to see its spectrum; click to keep it</span>
</header>
<main>
 <div id="xr-map"></div>
 <aside><div id="xr-spectrum"></div><table id="xr-props"></table></aside>
</main>
<div id="xr-status" data-state="loading" hidden></div>
<script type="application/json" id="xr-data">__DATA__</script>
<script>__APP__</script>
</body>
</html>
"""

_APP_TEMPLATE = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("xr-data").textContent);
  var status = document.getElementById("xr-status");
  var mapDiv = document.getElementById("xr-map");
  var spectrumDiv = document.getElementById("xr-spectrum");
  var props = document.getElementById("xr-props");
  var select = document.getElementById("xr-colour");
  var axesSelect = document.getElementById("xr-axes");
  var axes = ["x", "y"];
  var SCATTER = data.webgl ? "scattergl" : "scatter";
  var n = data.ids.length;
  var MAX_CATEGORIES = 12, MISSING = "#b0b0b0", OTHER = "#606060";
  var PALETTE = __PALETTE__, PRISTINE = __PRISTINE__;  // the PNG's colours (repository.plots.embedding)
  var size = Math.max(3, Math.min(10, 90 / Math.sqrt(n)));
  var config = {responsive: true, displaylogo: false};
  var spectrumConfig = {responsive: true, displaylogo: false, displayModeBar: "hover"};
  var fieldsByName = {};
  data.fields.forEach(function (f) { fieldsByName[f.name] = f; });
  var pinned = null;

  function text(v) {
    if (v === null || v === undefined) return "n/a";
    if (typeof v === "number" && !Number.isInteger(v)) return String(Number(v.toPrecision(4)));
    return String(v);
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
  function pick(rows, values) { return rows.map(function (r) { return values[r]; }); }
  function hoverText(rows, field) {
    return rows.map(function (r) {
      var line = "spectrum " + data.ids[r];
      return field ? line + "<br>" + fieldsByName[field].label + ": " + text(data.columns[field][r]) : line;
    });
  }
  function markerTrace(rows, name, marker, field) {
    return {type: SCATTER, mode: "markers", name: name, x: pick(rows, data[axes[0]]), y: pick(rows, data[axes[1]]),
            customdata: rows, text: hoverText(rows, field), hovertemplate: "%{text}<extra></extra>",
            marker: marker};
  }
  function allRows() { var rows = []; for (var i = 0; i < n; i++) rows.push(i); return rows; }

  function categoricalTraces(field) {
    var values = data.columns[field], groups = {}, missing = [];
    for (var i = 0; i < n; i++) {
      var v = values[i];
      if (v === null) { missing.push(i); continue; }
      v = String(v);
      (groups[v] = groups[v] || []).push(i);
    }
    var labels = Object.keys(groups).sort(function (a, b) {
      return groups[b].length - groups[a].length || (a < b ? -1 : a > b ? 1 : 0);
    });
    var shown = labels.length > MAX_CATEGORIES + 1 ? labels.slice(0, MAX_CATEGORIES) : labels;
    var k = 0;
    var traces = shown.map(function (label) {
      var colour = label === PRISTINE[0] ? PRISTINE[1] : PALETTE[k++ % PALETTE.length];
      return markerTrace(groups[label], label + " (" + groups[label].length + ")",
                         {color: colour, size: size}, field);
    });
    if (shown.length < labels.length) {
      var rest = [];
      labels.slice(shown.length).forEach(function (l) { rest = rest.concat(groups[l]); });
      traces.push(markerTrace(rest, "other (" + (labels.length - shown.length) + " values)",
                              {color: OTHER, size: size}, field));
    }
    if (missing.length) traces.unshift(markerTrace(missing, "n/a (" + missing.length + ")",
                                                   {color: MISSING, size: size}, field));
    return traces;
  }

  function numericTraces(field) {
    var values = data.columns[field], present = [], missing = [];
    for (var i = 0; i < n; i++) (values[i] === null ? missing : present).push(i);
    var traces = [];
    if (missing.length) traces.push(markerTrace(missing, "n/a (" + missing.length + ")",
                                                {color: MISSING, size: size}, field));
    traces.push(markerTrace(present, fieldsByName[field].label, {
      color: pick(present, values), colorscale: "Viridis", size: size, showscale: true,
      colorbar: {title: {text: fieldsByName[field].label, side: "right"}}}, field));
    return traces;
  }

  function drawMap(field) {
    var traces = !field ? [markerTrace(allRows(), "spectra", {color: PALETTE[0], size: size}, null)]
      : fieldsByName[field].kind === "numeric" ? numericTraces(field) : categoricalTraces(field);
    var layout = {margin: {l: 50, r: 10, t: 30, b: 45}, hovermode: "closest", showlegend: true,
                  legend: {title: {text: field ? fieldsByName[field].label : ""}, itemsizing: "constant"},
                  xaxis: {title: {text: data.axisNames[axes[0]]}, zeroline: false},
                  yaxis: {title: {text: data.axisNames[axes[1]]}, zeroline: false, scaleanchor: "x"}};
    return Plotly.react(mapDiv, traces, layout, config).then(function () {
      status.dataset.field = field || "";
      status.dataset.axes = axes.join(",");
      status.dataset.renderer = data.webgl ? "webgl" : "svg";
      // WebGL draws no DOM element per point: count what the traces hold instead
      status.dataset.points = String(data.webgl
        ? traces.reduce(function (sum, t) { return sum + t.x.filter(function (v) { return v !== null; }).length; }, 0)
        : mapDiv.querySelectorAll(".scatterlayer .point").length);
    });
  }

  function showRow(row) {
    var id = data.ids[row], spectrum = data.spectra[String(id)];
    var traces = [], layout = {
      title: {text: spectrumTitle(row), font: {size: 14}, x: 0.01, xanchor: "left"}, margin: {l: 55, r: 10, t: 40, b: 45},
      xaxis: {title: {text: "photon energy (eV)"}}, yaxis: {title: {text: "intensity (arb. units)"}},
      showlegend: false, annotations: [], shapes: []};
    if (data.window) {  // the snapshot recipe's energy window: what the map compares
      layout.shapes.push({type: "rect", xref: "x", yref: "paper", x0: data.window[0], x1: data.window[1], y0: 0, y1: 1,
                          fillcolor: "rgba(255, 165, 0, 0.15)", line: {width: 0}, layer: "below"});
      layout.annotations.push({text: "recipe window", showarrow: false, xref: "x", yref: "paper",
                               x: (data.window[0] + data.window[1]) / 2, y: 1, yanchor: "bottom", font: {size: 11}});
    }
    if (spectrum) {
      traces.push({type: "scatter", mode: "lines", x: data.grids[spectrum[0]], y: spectrum[1],
                   line: {color: "#1f77b4", width: 2}, hovertemplate: "%{x} eV<br>%{y}<extra></extra>"});
    } else {
      layout.annotations.push({text: "spectrum " + id + " is not stored in this page",
                               showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5});
    }
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
    return Plotly.react(spectrumDiv, traces, layout, spectrumConfig).then(function () {
      status.dataset.selected = String(id);
      status.dataset.spectrumPoints = String(spectrum ? spectrum[1].length : 0);
      status.dataset.window = data.window ? data.window.join("-") : "";
    });
  }

  var hash = {};
  location.hash.replace(/^#/, "").split("&").forEach(function (part) {
    var kv = part.split("="); if (kv[0]) hash[decodeURIComponent(kv[0])] = decodeURIComponent(kv[1] || "");
  });
  var field = (hash.color && fieldsByName[hash.color]) ? hash.color : data.field;
  data.fields.forEach(function (f) {
    if (data.columns[f.name].every(function (v) { return v === null; })) return;  // nothing to colour by
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
    axesSelect.addEventListener("change", function () { axes = axesSelect.value.split(","); drawMap(select.value || null); });
  }
  select.addEventListener("change", function () { drawMap(select.value); });
  drawMap(field).then(function () {
    mapDiv.on("plotly_hover", function (ev) { showRow(ev.points[0].customdata); });
    mapDiv.on("plotly_click", function (ev) { pinned = ev.points[0].customdata; showRow(pinned); });
    mapDiv.on("plotly_unhover", function () { showRow(pinned); });
    return showRow(pinned);
  }).then(function () {
    status.dataset.state = "ready";
  }).catch(function (err) {
    window.xrErrors.push(String(err));
    console.error(err);
  }).finally(function () {
    status.dataset.errors = String(window.xrErrors.length);
  });
})();
"""
_APP = (_APP_TEMPLATE.replace("__PALETTE__", json.dumps(list(CATEGORY_PALETTE)))
        .replace("__PRISTINE__", json.dumps([PRISTINE_LABEL, PRISTINE_COLOR])))
