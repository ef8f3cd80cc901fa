"""A snapshot's embedding as a PNG scatter, coloured by any property column.

Categorical columns (crystal system, defect kind, dimensionality...) get one colour per value and
a legend with counts, the most frequent first; rare values beyond :data:`MAX_LEGEND_CATEGORIES`
are drawn together as "other". Numeric columns (a descriptor) get a colour bar. Rows without a
value are drawn in grey underneath and counted in the legend as "n/a".
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .frame import category_label, check_field, field_label, snapshot_frame

if TYPE_CHECKING:
    import pandas as pd

MAX_LEGEND_CATEGORIES = 12
MISSING_COLOR = "#b0b0b0"
OTHER_COLOR = "#606060"
NUMERIC_COLORMAP = "viridis"
FIGURE_SIZE_IN = (9.0, 6.5)
DPI = 150


def marker_size(n_points: int) -> float:
    """Point area in pt²: large for a few dozen points, small but visible for tens of thousands."""
    return float(min(48.0, max(3.0, 4000.0 / max(n_points, 1))))


def category_groups(values: pd.Series, limit: int = MAX_LEGEND_CATEGORIES) -> list[tuple[str, Any]]:
    """(legend label, boolean mask) for each category, most frequent first; the rest as 'other'."""
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


def plot_embedding(snapshot: Any, color_by: str, output: str | Path, *, title: str | None = None,
                   dpi: int = DPI) -> Path:
    """Draw the snapshot's (x, y) coordinates coloured by ``color_by`` into a PNG at ``output``.

    ``snapshot`` is a Parquet path, a pandas DataFrame or a pyarrow Table (see
    :func:`repository.plots.frame.snapshot_frame`). Returns the path written.
    """
    # lazy import: start-up time (matplotlib is heavy; only this path needs it)
    import matplotlib

    matplotlib.use("Agg", force=False)
    # lazy import: start-up time (matplotlib is heavy; only this path needs it)
    import matplotlib.pyplot as plt

    frame = snapshot_frame(snapshot)
    kind = check_field(frame, color_by)
    if title is None:
        name = Path(snapshot).stem if isinstance(snapshot, (str, Path)) else "snapshot"
        title = f"{name}: {len(frame)} spectra coloured by {field_label(color_by)}"
    size = marker_size(len(frame))
    alpha = 0.85 if len(frame) < 2000 else 0.6
    fig, ax = plt.subplots(figsize=FIGURE_SIZE_IN, dpi=dpi, layout="constrained")
    try:
        if kind == "categorical":
            _draw_categories(ax, frame, color_by, size, alpha)
        else:
            _draw_values(fig, ax, frame, color_by, size, alpha)
        ax.set_xlabel("embedding x")
        ax.set_ylabel("embedding y")
        ax.set_title(title, fontsize=12)
        ax.tick_params(labelsize=9)
        ax.set_aspect("equal", adjustable="datalim")
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(output, dpi=dpi)
    finally:
        plt.close(fig)
    return output


def _draw_categories(ax, frame: pd.DataFrame, field: str, size: float, alpha: float) -> None:
    # lazy import: start-up time (matplotlib is heavy; only this path needs it)
    import matplotlib.pyplot as plt

    groups = category_groups(frame[field])
    palette = plt.get_cmap("tab10" if len(groups) <= 10 else "tab20").colors
    x, y = frame["x"].to_numpy(), frame["y"].to_numpy()
    for index, (label, mask) in enumerate(groups):
        if label == "n/a":
            color, order = MISSING_COLOR, 1
        elif label.startswith("other ("):
            color, order = OTHER_COLOR, 2
        else:
            color, order = palette[index % len(palette)], 3
        ax.scatter(x[mask], y[mask], s=size, color=color, alpha=alpha, linewidths=0, zorder=order,
                   label=f"{label} ({int(mask.sum())})")
    legend = ax.legend(title=field_label(field), loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9,
                       title_fontsize=10, markerscale=max(1.0, 7.0 / size ** 0.5), frameon=False)
    for handle in legend.legend_handles:  # the legend shows the true colours, not the blended ones
        handle.set_alpha(1.0)


def _draw_values(fig, ax, frame: pd.DataFrame, field: str, size: float, alpha: float) -> None:

    values = frame[field].to_numpy(dtype=float)
    x, y = frame["x"].to_numpy(), frame["y"].to_numpy()
    missing = np.isnan(values)
    if missing.any():
        ax.scatter(x[missing], y[missing], s=size, color=MISSING_COLOR, alpha=alpha, linewidths=0,
                   zorder=1, label=f"n/a ({int(missing.sum())})")
        legend = ax.legend(loc="lower left", bbox_to_anchor=(1.01, 0.0), fontsize=9, frameon=False,
                           markerscale=max(1.0, 7.0 / size ** 0.5))
        for handle in legend.legend_handles:
            handle.set_alpha(1.0)
    points = ax.scatter(x[~missing], y[~missing], c=values[~missing], cmap=NUMERIC_COLORMAP, s=size,
                        alpha=alpha, linewidths=0, zorder=2)
    # lazy import: start-up time (matplotlib is heavy; only this path needs it)
    from matplotlib.cm import ScalarMappable

    # an opaque bar: the scale, not the blend of translucent points on white
    bar = fig.colorbar(ScalarMappable(norm=points.norm, cmap=points.cmap), ax=ax, shrink=0.85, pad=0.02)
    bar.set_label(field_label(field), fontsize=10)
    bar.ax.tick_params(labelsize=9)
