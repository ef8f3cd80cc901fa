"""Tables of the embedding-snapshot registry (owned by the analysis layer; see repository/analysis).

- ``snapshot``: one row per embedding snapshot version: where its Parquet file and fitted-model
  artifact are, their SHA-256, what went in (input-set hash, recipe, method, parameters, seed,
  filter) and which snapshot it supersedes (``parent_id``). Rows are never updated.
- ``snapshot_point``: the coordinates of every spectrum of a snapshot, keyed by
  (snapshot_id, spectrum_id), so analysts can join them with ``spectrum_overview`` in plain SQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Text
from sqlmodel import Field, SQLModel


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Snapshot(SQLModel, table=True):
    __tablename__ = "snapshot"

    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(unique=True, max_length=64)  # e.g. "umap_20261128T180102_3fa2c1"
    parent_id: int | None = Field(default=None, foreign_key="snapshot.id", index=True)
    method: str = Field(index=True, max_length=16)  # umap | pca | mds
    n_components: int
    seed: int | None = None
    created_at: datetime = Field(default_factory=_utc_now,
                                 sa_column=Column(DateTime(timezone=True), nullable=False))
    path: str = Field(sa_column=Column(Text, nullable=False))  # the Parquet file
    sha256: str = Field(max_length=64)
    row_count: int
    model_path: str | None = Field(default=None, sa_column=Column(Text))  # .npz artifact for projection
    model_sha256: str | None = Field(default=None, max_length=64)
    input_hash: str = Field(index=True, max_length=64)  # spectrum ids and content hashes
    params_hash: str = Field(index=True, max_length=64)  # input hash + recipe + method + parameters + seed
    recipe_json: str = Field(sa_column=Column(Text, nullable=False))
    params_json: str = Field(sa_column=Column(Text, nullable=False))
    filter_text: str | None = Field(default=None, sa_column=Column(Text))
    element: str | None = Field(default=None, max_length=3)
    edge: str | None = Field(default=None, max_length=8)
    library_versions_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))


class SnapshotPoint(SQLModel, table=True):
    __tablename__ = "snapshot_point"

    snapshot_id: int = Field(foreign_key="snapshot.id", primary_key=True)
    spectrum_id: int = Field(foreign_key="spectrum.id", primary_key=True, index=True)
    x: float | None = None
    y: float | None = None
    z: float | None = None  # NULL for 2-D embeddings


SNAPSHOT_TABLES = [Snapshot, SnapshotPoint]
