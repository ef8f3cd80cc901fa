"""PNG scatter plots of embedding snapshots (matplotlib, Agg backend).

:func:`plot_embedding` is the analysis layer's entry point; the drawing itself (legend with
counts for categorical columns, colour bar for numeric ones) lives in
:mod:`repository.plots.embedding` and is shared with the ``xasrepo plot`` commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_embedding(snapshot_table_or_path: Any, color_by: str, out_png: str | Path, *,
                   title: str | None = None) -> Path:
    """Draw a snapshot (Parquet path, pyarrow Table or pandas DataFrame) coloured by ``color_by``.

    Categorical columns (crystal_system, defect_kind, ...) get a legend, numeric ones
    (hirshfeld_charge, ...) a colour bar. Returns the PNG path.
    """
    import matplotlib

    matplotlib.use("Agg")
    from ..plots.embedding import plot_embedding as draw

    if title is None and isinstance(snapshot_table_or_path, (str, Path)):
        title = Path(snapshot_table_or_path).name.removesuffix(".parquet")
    return Path(draw(snapshot_table_or_path, color_by, out_png, title=title))
