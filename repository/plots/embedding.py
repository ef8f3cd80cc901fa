"""A snapshot's embedding as a picture (PNG, SVG or PDF), coloured by any property column.

What a reader sees, and where it comes from:

* **title in words**: element, edge, method and number of spectra, read from the snapshot file's
  footer metadata (:func:`repository.snapshots.files.footer_metadata`), with the recipe (energy
  window, step, alignment, normalisation, broadening) and the selection filter in a subtitle. A
  table without footer metadata (a DataFrame, a foreign Parquet file) is titled by what is known.
* **axis names per method**: ``PC1 (57.0 % of variance)`` for PCA (the explained variance ratio
  stored in the footer's ``fit_info``), ``UMAP 1``/``UMAP 2``, ``MDS 1``/``MDS 2``; a 3-component
  snapshot is drawn by the pair of axes asked for (``axes=("x", "z")``), the title says which.
* **categories** (crystal system, defect kind, polymorph...) get one colour each from a palette
  without grey (:data:`CATEGORY_PALETTE`) and a legend with counts, the most frequent first; rare
  values beyond :data:`MAX_LEGEND_CATEGORIES` are drawn together as "other". For the defect columns
  (:data:`DEFECT_FIELDS`) a computed spectrum without a defect is a real class, **pristine**, drawn
  in black; only rows whose value is really unknown are grey "n/a".
* **numbers** get a colour bar. A signed quantity (:data:`SIGNED_FIELDS`, or any column with values
  of both signs) is drawn on a diverging map centred on 0 with symmetric limits; every numeric
  scale has robust limits (:func:`robust_limits`): when a few extreme values would stretch the
  scale, the scale stops at the 98th percentile, the extreme points are drawn as triangles in the
  end colour and counted in the legend ("beyond the colour scale"), and the colour bar has arrows.
* optional **density contours per class** (``contours=True``): for each category with enough
  points, the Gaussian-KDE contour (scipy) enclosing about half of its points.

The output format follows the file suffix (``.png``, ``.svg``, ``.pdf``); for vector output the
points of large snapshots are rasterised inside the vector file (text and axes stay vectors).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import UsageError, XasrepoError
from ..snapshots.files import footer_metadata
from .frame import category_label, check_field, color_column, field_label, snapshot_frame

if TYPE_CHECKING:
    import pandas as pd

MAX_LEGEND_CATEGORIES = 12
MISSING_COLOR = "#b0b0b0"
OTHER_COLOR = "#606060"
PRISTINE_COLOR = "#000000"
PRISTINE_LABEL = "pristine"
FAR_LABEL_PREFIX = "far from the defect"  # sites of a defective cell away from the defect (overview figure)
FAR_COLOR = "#c9d7e8"  # pale: the near-defect classes stand out in front of them
# Distinct colours without grey (grey means "n/a", dark grey "other", black "pristine"): the
# Okabe-Ito colour-blind-safe set, then tab10's colours that are not in it.
CATEGORY_PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
                    "#8c564b", "#9467bd", "#bcbd22", "#d62728", "#17becf")
SEQUENTIAL_COLORMAP = "viridis"
DIVERGING_COLORMAP = "RdBu_r"
NUMERIC_COLORMAP = SEQUENTIAL_COLORMAP  # kept for callers of the earlier name
# Quantities whose sign means something (gain or loss of electrons...): always centred on 0.
SIGNED_FIELDS = frozenset({"sigma_charge_transfer", "defect_charge", "alignment_shift_ev"})
# Columns where "no value" means "no defect" on a row whose defect_kind says 'none' (a defect_name
# of a pristine cell), and "unknown" elsewhere.
DEFECT_FIELDS = frozenset({"defect_kind", "defect_name"})
NO_DEFECT_VALUES = frozenset({"none", "pristine", ""})
ROBUST_QUANTILE = 0.98  # the colour scale may stop here ...
ROBUST_STRETCH = 1.5  # ... when the extreme value lies this many times further out
VECTOR_RASTER_POINTS = 5000  # vector files rasterise scatter layers with more points than this
FIGURE_SIZE_IN = (9.0, 6.5)
DPI = 150
OUTPUT_SUFFIXES = (".png", ".svg", ".pdf")
METHOD_NAMES = {"pca": "PCA", "umap": "UMAP", "mds": "MDS"}
COORDINATES = ("x", "y", "z")


def check_output(output: str | Path) -> Path:
    """``output`` as a Path whose suffix is one matplotlib writes here (.png, .svg, .pdf).

    Raises :class:`UsageError` for any other suffix (one line, nothing written).
    """
    path = Path(output)
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise UsageError(f"{path}: unknown picture format {path.suffix or '(no suffix)'!r}; "
                         f"use one of {', '.join(OUTPUT_SUFFIXES)}")
    return path


def check_dpi(dpi: int) -> int:
    """``dpi`` if it is a sensible resolution (30..1200 dots per inch), else :class:`UsageError`."""
    if not 30 <= int(dpi) <= 1200:
        raise UsageError(f"--dpi {dpi}: expected 30 to 1200 dots per inch")
    return int(dpi)


def marker_size(n_points: int) -> float:
    """Point area in pt²: large for a few dozen points, small but visible for tens of thousands."""
    return float(min(48.0, max(3.0, 4000.0 / max(n_points, 1))))


# ----------------------------------------------------------------------------------------------
# what the snapshot is: footer metadata, titles, axis names


def snapshot_info(snapshot: Any) -> dict[str, Any]:
    """The footer metadata of a snapshot file (method, element, edge, n_spectra, recipe, fit_info,
    filter, n_components...), or ``{}`` for a table or a Parquet file without it."""
    if not isinstance(snapshot, (str, Path)):
        return {}
    try:
        return footer_metadata(snapshot)
    except XasrepoError:  # not a snapshot file: drawn from its columns alone
        return {}


def axis_label(info: dict[str, Any], coordinate: str) -> str:
    """Name of one embedding axis (``coordinate`` x, y or z) for the snapshot described by ``info``.

    PCA: ``PC2 (12.3 % of variance)`` from ``fit_info.explained_variance_ratio`` (``PC2`` when the
    ratio is not stored); UMAP and MDS: ``UMAP 2``, ``MDS 2`` (their axes have no meaning of their
    own, only distances do); unknown method: ``embedding y``.
    """
    index = COORDINATES.index(coordinate)
    method = str(info.get("method") or "").lower()
    if method == "pca":
        ratios = (info.get("fit_info") or {}).get("explained_variance_ratio") or []
        if index < len(ratios) and ratios[index] is not None:
            return f"PC{index + 1} ({100.0 * float(ratios[index]):.1f} % of variance)"
        return f"PC{index + 1}"
    if method in METHOD_NAMES:
        return f"{METHOD_NAMES[method]} {index + 1}"
    return f"embedding {coordinate}"


def recipe_text(info: dict[str, Any]) -> str:
    """The recipe and selection in one line: 'window 184–201 eV, step 0.1 eV, alignment none,
    normalisation max; filter: polarization = iso' ('' when nothing is known)."""
    recipe = info.get("recipe") or {}
    words = []
    lo, hi = recipe.get("energy_min_ev"), recipe.get("energy_max_ev")
    if lo is not None and hi is not None:
        relative = recipe.get("alignment") not in (None, "none", "stored_shift")
        words.append(f"window {float(lo):g}–{float(hi):g} eV" + (" from each edge" if relative else ""))
    if recipe.get("step_ev"):
        words.append(f"step {float(recipe['step_ev']):g} eV")
    if recipe.get("alignment"):
        words.append(f"alignment {recipe['alignment']}")
    if recipe.get("normalization"):
        words.append(f"normalisation {str(recipe['normalization']).replace('_', '-')}")
    if recipe.get("broadening_fwhm_ev"):
        words.append(f"broadening {float(recipe['broadening_fwhm_ev']):g} eV FWHM")
    text = ", ".join(words)
    if info.get("filter"):
        text += ("; " if text else "") + f"filter: {info['filter']}"
    return text


def edge_words(element: Any, edge: Any) -> str:
    """'B K-edge' (or 'B' / 'K-edge' / '' with what is known)."""
    parts = [str(element)] if element else []
    if edge:
        parts.append(f"{edge}-edge")
    return " ".join(parts)


def embedding_title(info: dict[str, Any], frame: pd.DataFrame, color_by: str,
                    axes: tuple[str, str] = ("x", "y")) -> str:
    """'B K-edge XANES, PCA map of 94 spectra, coloured by defect kind' (from what is known)."""
    element = info.get("element") or _single_value(frame, "absorbing_element")
    edge = info.get("edge") or _single_value(frame, "edge")
    kind = _single_value(frame, "spectrum_type")
    head = " ".join(w for w in (edge_words(element, edge), kind) if w)
    method = METHOD_NAMES.get(str(info.get("method") or "").lower())
    what = f"{method} map" if method else "embedding"
    n_components = int(info.get("n_components") or (3 if "z" in frame.columns else 2))
    if n_components > 2:
        what += f" (axes {_axis_short(info, axes[0])}, {_axis_short(info, axes[1])} of {n_components})"
    title = f"{what} of {len(frame)} spectra, coloured by {field_label(color_by)}"
    return f"{head}: {title}" if head else title[0].upper() + title[1:]


def _axis_short(info: dict[str, Any], coordinate: str) -> str:
    return axis_label(info, coordinate).split(" (")[0]


def _single_value(frame: pd.DataFrame, column: str) -> str | None:
    if column not in frame.columns:
        return None
    values = frame[column].dropna().unique()
    return str(values[0]) if len(values) == 1 else None


def check_axes(frame: pd.DataFrame, axes: tuple[str, str] | str) -> tuple[str, str]:
    """The two coordinate columns to draw: ('x', 'y') by default, or e.g. 'x,z' for a 3-D snapshot.

    Raises :class:`UsageError` for a coordinate the snapshot lacks or a repeated one.
    """
    if isinstance(axes, str):
        axes = tuple(a.strip().lower() for a in axes.split(","))
    axes = tuple(axes)
    available = [c for c in COORDINATES if c in frame.columns]
    if len(axes) != 2 or axes[0] == axes[1] or any(a not in available for a in axes):
        raise UsageError(f"--axes {','.join(axes)}: give two different coordinates of this snapshot "
                         f"({', '.join(available)}), e.g. x,{available[-1]}")
    return axes  # type: ignore[return-value]


# ----------------------------------------------------------------------------------------------
# categories and numeric scales


def category_values(frame: pd.DataFrame, field: str) -> pd.Series:
    """Legend labels of ``field`` for every row: 'n/a' for unknown, 'pristine' in a defect column
    (:data:`DEFECT_FIELDS`) for a row whose ``defect_kind`` says 'none' (the frame's own column
    when it has one, else ``field``'s value)."""
    labels = frame[field].map(category_label)
    if field in DEFECT_FIELDS:
        # Only an explicit 'none' is pristine: spectrum_overview (revision 0009) says it only where
        # something stated the structure has no defect; a missing kind is unknown, computed or not
        # (a FEFF run's POSCAR may be a vacancy supercell).
        kind = frame["defect_kind"].map(category_label) if "defect_kind" in frame.columns else labels
        stated = kind.isin(list(NO_DEFECT_VALUES))
        labels = labels.mask(stated & labels.isin(["n/a", *NO_DEFECT_VALUES]), PRISTINE_LABEL)
    return labels


def category_groups(values: pd.Series, limit: int = MAX_LEGEND_CATEGORIES) -> list[tuple[str, Any]]:
    """(legend label, boolean mask) for each category, most frequent first; the rest as 'other';
    'n/a' last. ``values`` are raw values or labels from :func:`category_values`."""
    labels = values.map(category_label)
    counts = labels[labels != "n/a"].value_counts(sort=True)
    # ties broken by label so the colours do not depend on row order
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    shown = [label for label, _ in ordered[:limit]]
    if len(ordered) > limit + 1:  # never lump a single leftover category into "other"
        rest = [label for label, _ in ordered[limit:]]
    else:
        shown, rest = [label for label, _ in ordered], []
    groups = [(label, (labels == label).to_numpy()) for label in shown]
    if rest:
        groups.append((f"other ({len(rest)} values)", labels.isin(rest).to_numpy()))
    missing = (labels == "n/a").to_numpy()
    if missing.any():
        groups.append(("n/a", missing))
    return groups


def category_colors(labels: list[str]) -> dict[str, str]:
    """Colour of each legend label: black for pristine, grey for n/a, dark grey for 'other', the
    palette in order for the rest (so the most frequent real class gets the first colour)."""
    colors, k = {}, 0
    for label in labels:
        if label.startswith(FAR_LABEL_PREFIX):
            colors[label] = FAR_COLOR
        elif label == PRISTINE_LABEL:
            colors[label] = PRISTINE_COLOR
        elif label == "n/a":
            colors[label] = MISSING_COLOR
        elif label.startswith("other ("):
            colors[label] = OTHER_COLOR
        else:
            colors[label] = CATEGORY_PALETTE[k % len(CATEGORY_PALETTE)]
            k += 1
    return colors


def robust_limits(values: np.ndarray, *, centred: bool) -> tuple[float, float]:
    """Colour-scale limits for finite ``values``: the full range, unless the extreme values lie more
    than :data:`ROBUST_STRETCH` times as far out as the :data:`ROBUST_QUANTILE` quantile, in which
    case the scale stops at that quantile (the points beyond are marked by the plot).

    ``centred``: symmetric limits (-L, L) with L from |values| (a diverging scale centred on 0);
    otherwise (lo, hi), each end judged on its own, distances taken from the median.
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (-1.0, 1.0) if centred else (0.0, 1.0)
    if centred:
        magnitude = np.abs(values)
        top, robust = float(magnitude.max()), float(np.quantile(magnitude, ROBUST_QUANTILE))
        limit = robust if robust > 0 and top > ROBUST_STRETCH * robust else top
        limit = limit or 1.0
        return -limit, limit
    median = float(np.median(values))
    ends = []
    for side, q in ((values[values <= median], 1.0 - ROBUST_QUANTILE), (values[values >= median], ROBUST_QUANTILE)):
        extreme = float(side.min() if q < 0.5 else side.max())
        robust = float(np.quantile(values, q))
        far, near = abs(extreme - median), abs(robust - median)
        ends.append(robust if near > 0 and far > ROBUST_STRETCH * near else extreme)
    lo, hi = ends
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi


def is_signed(field: str, values: np.ndarray) -> bool:
    """True for a quantity drawn on a diverging scale centred on 0: a known signed field, or a
    column with clearly both signs (each sign on at least 5 % of the values)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if field in SIGNED_FIELDS:
        return True
    if values.size == 0:
        return False
    return bool((values > 0).mean() >= 0.05 and (values < 0).mean() >= 0.05)


# ----------------------------------------------------------------------------------------------
# drawing


def plot_embedding(snapshot: Any, color_by: str, output: str | Path, *, title: str | None = None,
                   dpi: int = DPI, axes: tuple[str, str] | str = ("x", "y"), contours: bool = False,
                   subtitle: str | None = None) -> Path:
    """Draw the snapshot coloured by ``color_by`` into ``output`` (.png, .svg or .pdf).

    ``snapshot`` is a Parquet path, a pandas DataFrame or a pyarrow Table (see
    :func:`repository.plots.frame.snapshot_frame`); its footer metadata, when there, names the
    title and axes (module docstring). ``axes`` picks two coordinates of a 3-D snapshot
    (``"x,z"``); ``contours`` adds a density contour per category. ``title`` and ``subtitle``
    replace the generated ones. Returns the path written. Raises :class:`UsageError` for an
    unknown column, axis, format or resolution, :class:`InputError` for an unreadable file.
    """
    # lazy import: start-up time (matplotlib is heavy; only this path needs it)
    import matplotlib.pyplot as plt

    output = check_output(output)
    dpi = check_dpi(dpi)
    fig = embedding_figure(snapshot, color_by, title=title, dpi=dpi, axes=axes, contours=contours,
                           subtitle=subtitle, rasterized=output.suffix.lower() != ".png")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(output, dpi=dpi)
    finally:
        plt.close(fig)
    return output


def embedding_figure(snapshot: Any, color_by: str, *, title: str | None = None, dpi: int = DPI,
                     axes: tuple[str, str] | str = ("x", "y"), contours: bool = False, subtitle: str | None = None,
                     rasterized: bool = False):
    """The matplotlib Figure :func:`plot_embedding` saves (the caller closes it): the title is the
    figure's suptitle, the recipe the axes' title. ``rasterized``: rasterise the points of large
    snapshots (for vector files)."""
    # lazy import: start-up time (matplotlib is heavy; only this path needs it)
    import matplotlib

    matplotlib.use("Agg", force=False)
    # lazy import: start-up time (matplotlib is heavy; only this path needs it)
    import matplotlib.pyplot as plt

    frame = snapshot_frame(snapshot)
    color_by = color_column(frame, color_by)  # a query spelling (absorber.defect_distance) names its column
    kind = check_field(frame, color_by)
    axes = check_axes(frame, axes)
    info = snapshot_info(snapshot)
    fig, ax = plt.subplots(figsize=FIGURE_SIZE_IN, dpi=dpi, layout="constrained")
    try:
        draw_embedding(ax, frame, color_by, info=info, axes=axes, contours=contours, kind=kind,
                       rasterized=rasterized and len(frame) > VECTOR_RASTER_POINTS)
        head = title if title is not None else embedding_title(info, frame, color_by, axes)
        sub = subtitle if subtitle is not None else recipe_text(info)
        fig.suptitle(head, fontsize=12)
        if sub:
            ax.set_title(sub, fontsize=9, color="#444444")
    except BaseException:
        plt.close(fig)
        raise
    return fig


def draw_embedding(ax, frame: pd.DataFrame, color_by: str, *, info: dict[str, Any] | None = None,
                   axes: tuple[str, str] = ("x", "y"), contours: bool = False, kind: str | None = None,
                   rasterized: bool = False, legend: bool = True, size: float | None = None) -> dict[str, Any]:
    """Draw the scatter into the matplotlib axes ``ax`` (used by :func:`plot_embedding` and the
    overview figure). Returns what was drawn: ``kind``, and ``colors`` (label -> colour) for
    categories or ``norm`` (the matplotlib Normalize), ``cmap`` and ``n_beyond`` for numbers."""
    info = info or {}
    color_by = color_column(frame, color_by)
    kind = kind or check_field(frame, color_by)
    size = size if size is not None else marker_size(len(frame))
    alpha = 0.85 if len(frame) < 2000 else 0.6
    x, y = frame[axes[0]].to_numpy(dtype=float), frame[axes[1]].to_numpy(dtype=float)
    if kind == "categorical":
        drawn = _draw_categories(ax, frame, color_by, x, y, size, alpha, contours, rasterized, legend)
    else:
        drawn = _draw_values(ax, frame, color_by, x, y, size, alpha, rasterized, legend)
    ax.set_xlabel(axis_label(info, axes[0]))
    ax.set_ylabel(axis_label(info, axes[1]))
    ax.tick_params(labelsize=9)
    if str(info.get("method") or "").lower() == "pca":
        ax.set_aspect("equal", adjustable="datalim")  # PCA distances are Euclidean in the same units
    return drawn


def _legend(ax, title: str | None, size: float, **where) -> None:
    legend = ax.legend(title=title, fontsize=9, title_fontsize=10, markerscale=max(1.0, 7.0 / size ** 0.5),
                       frameon=False, **where)
    for handle in legend.legend_handles:  # the legend shows the true colours, not the blended ones
        handle.set_alpha(1.0)


def _draw_categories(ax, frame, field, x, y, size, alpha, contours, rasterized, legend) -> dict[str, Any]:
    groups = category_groups(category_values(frame, field))
    colors = category_colors([label for label, _ in groups])
    for label, mask in groups:
        order = 1 if label == "n/a" else 2 if label.startswith(("other (", FAR_LABEL_PREFIX)) else 3
        ax.scatter(x[mask], y[mask], s=size, color=colors[label], alpha=alpha, linewidths=0, zorder=order,
                   label=f"{label} ({int(mask.sum())})", rasterized=rasterized)
        if contours and label != "n/a":
            _density_contour(ax, x[mask], y[mask], colors[label])
    if legend:
        _legend(ax, field_label(field), size, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return {"kind": "categorical", "colors": colors}


MIN_CONTOUR_POINTS = 8


def _density_contour(ax, x, y, color) -> None:
    """The Gaussian-KDE (scipy, Scott's bandwidth) contour enclosing about half of the points."""
    # lazy import: start-up time (scipy is heavy; only the contours need it)
    from scipy.stats import gaussian_kde

    if len(x) < MIN_CONTOUR_POINTS:
        return
    try:
        kde = gaussian_kde(np.vstack([x, y]))
    except (np.linalg.LinAlgError, ValueError):  # points on a line: no 2-D density
        return
    level = float(np.quantile(kde(np.vstack([x, y])), 0.5))  # half of the points lie above it
    pad_x, pad_y = 0.3 * np.ptp(x) + 1e-9, 0.3 * np.ptp(y) + 1e-9
    gx, gy = np.meshgrid(np.linspace(x.min() - pad_x, x.max() + pad_x, 80),
                         np.linspace(y.min() - pad_y, y.max() + pad_y, 80))
    density = kde(np.vstack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
    ax.contour(gx, gy, density, levels=[level], colors=[color], linewidths=1.2, zorder=4)


def _draw_values(ax, frame, field, x, y, size, alpha, rasterized, legend) -> dict[str, Any]:
    # lazy import: start-up time (matplotlib is heavy; only this path needs it)
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    values = frame[field].to_numpy(dtype=float)
    missing = ~np.isfinite(values)
    signed = is_signed(field, values[~missing])
    lo, hi = robust_limits(values[~missing], centred=signed)
    norm = Normalize(vmin=lo, vmax=hi)
    cmap = plt.get_cmap(DIVERGING_COLORMAP if signed else SEQUENTIAL_COLORMAP)
    if missing.any():
        ax.scatter(x[missing], y[missing], s=size, color=MISSING_COLOR, alpha=alpha, linewidths=0,
                   zorder=1, label=f"n/a ({int(missing.sum())})", rasterized=rasterized)
    inside = ~missing & (values >= lo) & (values <= hi)
    above, below = ~missing & (values > hi), ~missing & (values < lo)
    # on a diverging map the values near 0 are white: a thin grey rim keeps those points visible
    ax.scatter(x[inside], y[inside], c=values[inside], cmap=cmap, norm=norm, s=size, alpha=alpha,
               linewidths=0.4 if signed and len(frame) < 5000 else 0, edgecolors="#8c8c8c", zorder=2,
               rasterized=rasterized)
    for mask, marker, word in ((above, "^", "above"), (below, "v", "below")):
        if mask.any():  # drawn in the end colour, outlined, and counted: never silently clipped
            ax.scatter(x[mask], y[mask], c=values[mask], cmap=cmap, norm=norm, s=max(size, 20.0) * 1.6,
                       marker=marker, edgecolors="black", linewidths=0.6, zorder=5, rasterized=rasterized,
                       label=f"{word} the colour scale ({int(mask.sum())}; "
                             f"{'max' if word == 'above' else 'min'} {values[mask].max() if word == 'above' else values[mask].min():.3g})")
    extend = {(True, True): "both", (True, False): "max", (False, True): "min"}.get((above.any(), below.any()),
                                                                                   "neither")
    figure = ax.get_figure()
    bar = figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.85, pad=0.02, extend=extend)
    bar.set_label(field_label(field) + (" (centred on 0)" if signed else ""), fontsize=10)
    bar.ax.tick_params(labelsize=9)
    if legend and (missing.any() or above.any() or below.any()):
        _legend(ax, None, size, loc="upper left", bbox_to_anchor=(0.0, -0.1))
    return {"kind": "numeric", "norm": norm, "cmap": cmap, "signed": signed,
            "n_beyond": int(above.sum() + below.sum()), "colorbar": bar}
