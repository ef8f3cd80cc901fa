"""Snapshots as tables: reading them, and telling categorical columns from numeric ones.

A snapshot is a Parquet file with one row per spectrum: ``spectrum_id``, ``x``, ``y`` (``z``
optional) and any number of denormalised property columns (crystal_system, defect_kind,
hirshfeld_charge, ...). The plots treat every extra column generically: its dtype decides whether
it is coloured by category (legend) or by value (colour bar).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..errors import InputError, NotFoundError, UsageError, XasrepoError
from ..query.fields import snapshot_column
from ..snapshots.files import parquet_problem, require_intact
from ..snapshots.registry import get_snapshot

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Engine

REQUIRED_COLUMNS = ("spectrum_id", "x", "y")
COORDINATE_COLUMNS = ("spectrum_id", "x", "y", "z")
# Integer columns with at most this many distinct values (dimensionality, coordination number,
# space-group number in a small set) are categories, not a continuum.
MAX_INTEGER_CATEGORIES = 12

ColumnKind = Literal["categorical", "numeric"]

# Axis and legend labels for the columns people colour by most; anything else shows its own name.
FIELD_LABELS = {
    "crystal_system": "crystal system",
    "defect_kind": "defect kind",
    "defect_name": "defect",
    "reduced_formula": "formula",
    "spacegroup_symbol": "space group",
    "spacegroup_number": "space group number",
    "absorbing_element": "absorbing element",
    "absorber_cn": "absorber coordination number",
    "hirshfeld_charge": "Hirshfeld charge (e)",
    "bader_charge": "Bader charge (e)",
    "sigma_charge_transfer": "σ charge transfer (e)",
    "absorber_defect_distance_a": "absorber–defect distance (Å)",
    "density_g_cm3": "density (g/cm³)",
    "volume_per_atom_a3": "volume per atom (Å³)",
    "broadening_ev": "broadening (eV)",
    "alignment_shift_ev": "alignment shift (eV)",
}


def field_label(name: str) -> str:
    """The label of a snapshot column in axes and legends (``crystal_system`` -> "crystal system"); the
    column name itself when it has none."""
    return FIELD_LABELS.get(name, name)


def snapshot_frame(snapshot: Any) -> pd.DataFrame:
    """A snapshot as a pandas DataFrame: from a DataFrame, a pyarrow Table or a Parquet file path.

    Checks the coordinate columns (``spectrum_id``, ``x``, ``y``) are there and numeric.
    """
    # lazy import: start-up time (pandas is heavy; only this path needs it)
    import pandas as pd

    source = "<table>"
    if isinstance(snapshot, pd.DataFrame):
        frame = snapshot.reset_index(drop=True)
    elif isinstance(snapshot, (str, Path)):
        source = str(snapshot)
        frame = _read_parquet(Path(snapshot))
    elif hasattr(snapshot, "to_pandas"):  # pyarrow.Table
        frame = snapshot.to_pandas()
    else:
        raise UsageError(f"cannot read a snapshot from a {type(snapshot).__name__} "
                         "(expected a Parquet path, a pandas DataFrame or a pyarrow Table)")
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(source, f"missing column(s) {', '.join(missing)} "
                                 f"(a snapshot needs {', '.join(REQUIRED_COLUMNS)})")
    for column in ("x", "y", "z"):
        if column in frame.columns and not pd.api.types.is_numeric_dtype(frame[column]):
            raise InputError(source, f"column {column} is {frame[column].dtype}, not numeric")
    if len(frame) == 0:
        raise InputError(source, "the snapshot has no rows")
    return frame


def _read_parquet(path: Path) -> pd.DataFrame:
    # lazy import: start-up time (pyarrow is heavy; only this path needs it)
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.is_file():
        raise InputError(path, "no such file")
    try:
        return pq.read_table(path).to_pandas()
    except (pa.ArrowException, OSError) as err:
        raise InputError(path, f"not a readable Parquet file ({parquet_problem(err, path)})") from None


def column_kind(series: pd.Series) -> ColumnKind:
    """``numeric`` for float columns and integer columns with many values; ``categorical`` otherwise."""
    # lazy import: start-up time (pandas is heavy; only this path needs it)
    import pandas as pd

    if pd.api.types.is_bool_dtype(series):
        return "categorical"
    if pd.api.types.is_float_dtype(series):
        values = series.dropna()
        # integers stored as floats because of missing values (pandas) still count as integers
        if len(values) and (values == values.round()).all() and values.nunique() <= MAX_INTEGER_CATEGORIES:
            return "categorical"
        return "numeric"
    if pd.api.types.is_integer_dtype(series):
        return "categorical" if series.nunique(dropna=True) <= MAX_INTEGER_CATEGORIES else "numeric"
    return "categorical"


def color_fields(frame: pd.DataFrame) -> list[str]:
    """Columns a plot can be coloured by: every column but the id and the coordinates."""
    return [c for c in frame.columns if c not in COORDINATE_COLUMNS]


def unlabelled_fields(snapshot: Any, fields) -> set[str]:
    """Those of ``fields`` that no row of ``snapshot`` (as :func:`snapshot_frame` reads it) has a
    value in, or that it lacks: :func:`check_field` refuses to colour by them."""
    frame = snapshot_frame(snapshot)
    return {f for f in fields if f not in frame.columns or frame[f].isna().all()}


def color_column(frame: pd.DataFrame, field: str) -> str:
    """The property column that ``field`` names: the column itself or any spelling of the query
    language (:func:`repository.query.fields.snapshot_column`: ``absorber.defect_distance`` ->
    ``absorber_defect_distance_a``). :class:`UsageError` listing the columns there are when the
    snapshot has no such property column, saying so when ``field`` is a query field it lacks."""
    choices = color_fields(frame)
    column = snapshot_column(field, [c for c in frame.columns if c not in COORDINATE_COLUMNS], shown=choices)
    if column is None:
        raise UsageError(f"cannot colour by {field!r}: the snapshot has no such property column "
                         f"(choose one of: {', '.join(choices) or '(none)'})")
    return column


def check_field(frame: pd.DataFrame, field: str) -> ColumnKind:
    """``categorical`` or ``numeric`` for a column to color by (named as :func:`color_column`
    reads it); :class:`UsageError` (listing the columns there are) when the snapshot has no such
    property column, or when no row has a value in it: a numeric colour bar would then span a
    made-up 0-1 range and a legend say only "n/a" (e.g. bader_charge in a snapshot of sets
    without Bader charges)."""
    field = color_column(frame, field)
    if frame[field].isna().all():
        filled = ", ".join(c for c in color_fields(frame) if not frame[c].isna().all()) or "(none)"
        raise UsageError(f"cannot colour by {field!r}: no spectrum of the snapshot has {field} "
                         f"(all {len(frame)} are n/a; choose one of: {filled})")
    return column_kind(frame[field])


def category_label(value: Any) -> str:
    """How a category shows in a legend: integers without '.0', missing values as 'n/a'."""
    # lazy import: start-up time (pandas is heavy; only this path needs it)
    import pandas as pd

    if value is None:
        return "n/a"
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (list, tuple, np.ndarray)):  # e.g. a list of elements
        return ", ".join(map(str, value))
    if not isinstance(value, str) and pd.isna(value):
        return "n/a"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def resolve_snapshot(ref: str | Path, engine_factory: Callable[[], Engine] | None = None) -> Path:
    """The Parquet file of a snapshot given as a registered snapshot's id or uid, or as a file path.

    A reference in path form (it holds a ``/`` or ends in ``.parquet``: ``./4``, ``runs/a.parquet``)
    is always a file. Any other (``4``, ``pca_20261130T...``) names a registered snapshot first:
    ``engine_factory`` (a no-argument callable returning an engine) is called to look it up
    (:func:`repository.snapshots.registry.get_snapshot`: id, uid or a unique uid prefix), and only
    when no snapshot is registered under it (or there is no database) is it taken as a file name,
    so a file named ``4`` in the working folder never replaces snapshot 4. A relative path stored
    in the registry is taken relative to the SQLite database's folder. A registered snapshot's file
    must match its SHA-256 in the registry, as for every other read of it: :class:`NotFoundError`
    when it is missing, :class:`InputError` when it was altered.
    """
    path = Path(ref)
    text = str(ref)
    if "/" in text or os.sep in text or text.endswith(".parquet") or engine_factory is None:
        if path.is_file():
            return path
        raise NotFoundError(f"snapshot {text!r}: no such file")
    try:
        engine = engine_factory()
    except XasrepoError:  # no database (or none readable): the reference can only be a file
        if path.is_file():
            return path
        raise
    try:
        try:
            record = get_snapshot(engine, text)
        except NotFoundError as err:
            if path.is_file():
                return path
            raise NotFoundError(f"snapshot {text!r} is neither a file nor registered: {err}") from None
        database_dir = _sqlite_folder(engine)
    finally:
        engine.dispose()
    found = Path(record["path"])
    if not found.is_absolute() and database_dir is not None:
        found = database_dir / found
    require_intact(found, record["sha256"], "Parquet file", f"{record['uid']} (id {record['id']})")
    return found


def _sqlite_folder(engine: Engine) -> Path | None:
    """Folder of an SQLite database file (also for read-only ``file:...?mode=ro`` URLs)."""
    if engine.dialect.name != "sqlite":
        return None
    name = engine.url.database or ""
    if name.startswith("file:"):
        name = name[len("file:"):].split("?", 1)[0]
    return Path(name).resolve().parent if name and name != ":memory:" else None
