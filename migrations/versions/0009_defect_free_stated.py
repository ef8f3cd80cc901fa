"""spectrum_defect_free: ``defect_kind = 'none'`` only where something stated that there is no defect

Up to revision 0008, ``spectrum_overview.defect_kind`` was ``'none'`` for every spectrum with a
structure and no recorded defect. A spectrum imported from a data file (a FEFF run with a POSCAR
beside it, a pymatgen JSON file from elsewhere) says nothing about defects, so its structure, which
may well be a vacancy supercell, was reported as "a known structure without a defect": a guess.

From this revision ``defect_kind`` is:

* the defect's kind (a calculation's ``defect_id``, else ``spectrum_defect``, as before);
* ``'none'`` for a spectrum with a structure when that absence was stated: its calculation (a
  calculation-set entry without ``[entries.defect]`` means a pristine cell, the calcset format's
  documented convention), or a row of the new table ``spectrum_defect_free``;
* NULL (unknown) otherwise.

``spectrum_defect_free`` (spectrum_id, stated_by): a spectrum without a calculation whose structure
was stated to have no defect; ``stated_by`` is ``'file'`` (the file's xasrepo context says
``defect_kind: none``, as ``xasrepo export`` writes for a known pristine structure) or
``'--defect-free'`` (the ``xasrepo import --defect-free`` option). The importer fills it
(repository.importer.import_records).

Upgrade fills it for spectra already imported: a spectrum with a structure, no calculation, no
``spectrum_defect`` row and ``defect_kind: none`` (and no ``defect_name``) in its ``metadata_json``
``context`` gets a ``'file'`` row; every other file spectrum with a structure becomes unknown.
Downgrade drops the table and restores the views of 0008 (which call them all ``'none'`` again);
what ``--defect-free`` stated is lost with the table (a later upgrade cannot tell it from the
metadata, so those spectra become unknown, never wrongly pristine).

The logic is inlined (no import of repository code) so the revision keeps its meaning when the
library changes.

Revision ID: 0009_defect_free_stated
Revises: 0008_spectrum_defect
"""
import json

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009_defect_free_stated"
down_revision = "0008_spectrum_defect"
branch_labels = None
depends_on = None

BATCH = 500
STATED_BY_FILE = "file"

OLD_DEFECT_KIND = "COALESCE(df.kind, CASE WHEN st.id IS NULL THEN NULL ELSE 'none' END) AS defect_kind"
# 'none' needs a structure AND a statement: the spectrum's calculation (a calcset entry without a
# defect) or a spectrum_defect_free row (the file's context, or import --defect-free)
NEW_DEFECT_KIND = ("COALESCE(df.kind, CASE WHEN st.id IS NOT NULL AND (c.id IS NOT NULL OR sdf.spectrum_id IS NOT NULL) "
                   "THEN 'none' END) AS defect_kind")
OLD_JOIN = "LEFT JOIN spectrum_defect sd ON sd.spectrum_id = s.id\n"
NEW_JOIN = OLD_JOIN + "LEFT JOIN spectrum_defect_free sdf ON sdf.spectrum_id = s.id\n"


def _revision_module(name: str):
    """An earlier revision's module (its view SQL), loaded from this folder."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).with_name(name)
    spec = importlib.util.spec_from_file_location(f"_xasrepo_revision_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _views(stated: bool) -> tuple[str, str]:
    """(spectrum_overview, snapshot_points) CREATE VIEW statements: 0008's, or this revision's."""
    overview, points = _revision_module("0008_spectrum_defect.py")._views(with_spectrum_defect=True)
    if stated:
        # fail loudly rather than create a view that still guesses, should 0008's text ever differ
        assert OLD_DEFECT_KIND in overview and OLD_JOIN in overview
        overview = overview.replace(OLD_DEFECT_KIND, NEW_DEFECT_KIND, 1).replace(OLD_JOIN, NEW_JOIN, 1)
    return overview, points


def _replace_views(stated: bool) -> None:
    # snapshot_points selects o.* from spectrum_overview: drop it first, create it again after
    op.execute("DROP VIEW snapshot_points")
    op.execute("DROP VIEW spectrum_overview")
    overview, points = _views(stated)
    op.execute(overview)
    op.execute(points)


def _context_says_defect_free(metadata_json: str | None) -> bool:
    """True when a stored spectrum's metadata ``context`` says ``defect_kind: none`` and names no
    defect (what ``xasrepo export`` writes for a pristine structure from this revision on)."""
    try:
        metadata = json.loads(metadata_json or "{}")
    except ValueError:
        return False
    context = metadata.get("context") if isinstance(metadata, dict) else None
    if not isinstance(context, dict):
        return False
    return context.get("defect_kind") == "none" and context.get("defect_name") is None


def upgrade() -> None:
    op.create_table(
        "spectrum_defect_free",
        sa.Column("spectrum_id", sa.Integer(), sa.ForeignKey("spectrum.id"), nullable=False),
        sa.Column("stated_by", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.PrimaryKeyConstraint("spectrum_id"),
    )
    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(sa.text(
            "SELECT s.id, s.metadata_json FROM spectrum s WHERE s.id > :last AND s.calculation_id IS NULL "
            "AND s.structure_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM spectrum_defect sd "
            "WHERE sd.spectrum_id = s.id) ORDER BY s.id LIMIT :n"), {"last": last, "n": BATCH}).fetchall()
        if not rows:
            break
        stated = [{"s": row.id, "b": STATED_BY_FILE} for row in rows if _context_says_defect_free(row.metadata_json)]
        if stated:
            conn.execute(sa.text("INSERT INTO spectrum_defect_free (spectrum_id, stated_by) VALUES (:s, :b)"), stated)
        last = rows[-1].id
    _replace_views(stated=True)


def downgrade() -> None:
    _replace_views(stated=False)
    op.drop_table("spectrum_defect_free")
