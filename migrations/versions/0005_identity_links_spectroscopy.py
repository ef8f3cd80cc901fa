"""Spectrum identity by content, one spectrum in several calculations, spectroscopy kind

* ``spectrum.data_hash``: SHA-256 of what the spectrum is (absorbing element, edge, energy and
  intensity arrays as stored), so that a re-imported export or the same data in another file is
  found whatever file it came in (``content_hash`` stays the unique row identity).
* ``spectrum_calculation``: (spectrum, calculation) pairs, unique; a spectrum computed by two
  calculations, or present in two sets, is linked to each. ``spectrum.calculation_id`` stays the
  calculation that brought the spectrum first. Filled from ``spectrum.calculation_id``.
* ``spectrum.spectroscopy``: XAS (absorption), or NRIXS, EELS, ELNES, EXELFS, XES, RIXS; filled
  from the FEFF metadata of existing rows (``metadata_json`` ``feff.spectroscopy``), XAS otherwise.

``spectrum_overview`` (and ``snapshot_points``, which selects ``o.*`` from it) gain the
``spectroscopy`` column. Downgrade drops the three and restores the views; spectra, calculations and every other row are kept.

Revision ID: 0005_identity_links_spectroscopy
Revises: 0004_snapshot_points_view
"""
import hashlib
import json

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005_identity_links_spectroscopy"
down_revision = "0004_snapshot_points_view"
branch_labels = None
depends_on = None

BATCH = 500


def _revision_module(name: str):
    """An earlier revision's module (its view SQL), loaded from this folder."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).with_name(name)
    spec = importlib.util.spec_from_file_location(f"_xasrepo_revision_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _views(with_spectroscopy: bool) -> tuple[str, str]:
    overview = _revision_module("0002_overview_view.py").OVERVIEW_SQL
    if with_spectroscopy:
        overview = overview.replace("    s.spectrum_type,\n", "    s.spectrum_type,\n    s.spectroscopy,\n", 1)
        assert "s.spectroscopy" in overview
    return overview, _revision_module("0004_snapshot_points_view.py").SNAPSHOT_POINTS_SQL


def _replace_views(with_spectroscopy: bool) -> None:
    # snapshot_points selects o.* from spectrum_overview: drop it first, create it again after
    op.execute("DROP VIEW snapshot_points")
    op.execute("DROP VIEW spectrum_overview")
    overview, points = _views(with_spectroscopy)
    op.execute(overview)
    op.execute(points)


def data_hash(element: str, edge: str, energy_blob: bytes, intensity_blob: bytes) -> str:
    """The same formula as ``repository.importer.spectrum_data_hash`` (tests check they agree)."""
    digest = hashlib.sha256(f"{element}|{edge}|".encode())
    digest.update(bytes(energy_blob))
    digest.update(bytes(intensity_blob))
    return digest.hexdigest()


def upgrade() -> None:
    op.add_column("spectrum", sa.Column("data_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    op.add_column("spectrum", sa.Column("spectroscopy", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default="XAS"))
    op.create_index("ix_spectrum_data_hash", "spectrum", ["data_hash"])
    op.create_index("ix_spectrum_spectroscopy", "spectrum", ["spectroscopy"])
    op.create_table(
        "spectrum_calculation",
        sa.Column("spectrum_id", sa.Integer(), sa.ForeignKey("spectrum.id"), nullable=False),
        sa.Column("calculation_id", sa.Integer(), sa.ForeignKey("calculation.id"), nullable=False),
        sa.PrimaryKeyConstraint("spectrum_id", "calculation_id"),
    )
    op.create_index("ix_spectrum_calculation_calculation_id", "spectrum_calculation", ["calculation_id"])
    conn = op.get_bind()
    conn.execute(sa.text("INSERT INTO spectrum_calculation (spectrum_id, calculation_id) "
                         "SELECT id, calculation_id FROM spectrum WHERE calculation_id IS NOT NULL"))
    last = 0
    while True:
        rows = conn.execute(sa.text(
            "SELECT id, absorbing_element, edge, energy_ev, intensity, metadata_json FROM spectrum "
            "WHERE id > :last ORDER BY id LIMIT :n"), {"last": last, "n": BATCH}).fetchall()
        if not rows:
            break
        updates = []
        for row in rows:
            try:
                feff = (json.loads(row.metadata_json or "{}") or {}).get("feff") or {}
            except ValueError:
                feff = {}
            kind = str(feff.get("spectroscopy") or "XAS").upper() if isinstance(feff, dict) else "XAS"
            updates.append({"id": row.id, "h": data_hash(row.absorbing_element, row.edge, row.energy_ev, row.intensity),
                            "k": kind})
        conn.execute(sa.text("UPDATE spectrum SET data_hash = :h, spectroscopy = :k WHERE id = :id"), updates)
        last = rows[-1].id
    _replace_views(with_spectroscopy=True)


def downgrade() -> None:
    _replace_views(with_spectroscopy=False)
    op.drop_index("ix_spectrum_calculation_calculation_id", table_name="spectrum_calculation")
    op.drop_table("spectrum_calculation")
    op.drop_index("ix_spectrum_spectroscopy", table_name="spectrum")
    op.drop_index("ix_spectrum_data_hash", table_name="spectrum")
    op.drop_column("spectrum", "spectroscopy")
    op.drop_column("spectrum", "data_hash")
