"""spectrum_defect: the defect of a spectrum imported from a file, so an export round trip keeps it

A defect used to reach ``spectrum_overview`` only through a calculation (``calculation.defect_id``).
A spectrum exported as pymatgen JSON carries its supercell and ``defect_name``/``defect_kind``/
``defect_charge`` (in ``@xasrepo.metadata.context``); imported again from that file it has no
calculation, so it got a structure and no defect, which the view reported as
``defect_kind = 'none'``: a defect supercell listed as pristine.

* ``spectrum_defect``: (spectrum, defect) for spectra without a calculation whose file says which
  defect their structure has; the importer fills it (repository.importer.import_records).
* ``spectrum_overview`` joins the defect of the calculation, else this one.
* Upgrade fills it for spectra already imported that way: a spectrum with a structure, no
  calculation and a defect in ``metadata_json`` ``context`` (kind and name) gets a ``defect`` row
  on its structure (the existing one with the same name and charge when there is exactly one;
  else a new row without position, host or species) and the link.

Downgrade drops the table and restores the views; the ``defect`` rows the upgrade added stay
(unlinked rows change no query).

The logic is inlined (no import of repository code) so the revision keeps its meaning when the
library changes.

Revision ID: 0008_spectrum_defect
Revises: 0007_portable_snapshot_paths
"""
import json

import sqlalchemy as sa
from alembic import op

revision = "0008_spectrum_defect"
down_revision = "0007_portable_snapshot_paths"
branch_labels = None
depends_on = None

# conventions.DefectKind as of this revision, "none" excepted (it is no defect)
DEFECT_KINDS = ("vacancy", "substitution", "interstitial", "antisite", "stone_wales", "complex")
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


def _views(with_spectrum_defect: bool) -> tuple[str, str]:
    old = _revision_module("0006_host_labels.py")
    overview = old.OVERVIEW_SQL
    if with_spectrum_defect:
        join = "LEFT JOIN defect df ON df.id = c.defect_id\n"
        assert join in overview
        overview = overview.replace(join, "LEFT JOIN spectrum_defect sd ON sd.spectrum_id = s.id\n"
                                          "LEFT JOIN defect df ON df.id = COALESCE(c.defect_id, sd.defect_id)\n", 1)
    return overview, old.SNAPSHOT_POINTS_SQL


def _replace_views(with_spectrum_defect: bool) -> None:
    # snapshot_points selects o.* from spectrum_overview: drop it first, create it again after
    op.execute("DROP VIEW snapshot_points")
    op.execute("DROP VIEW spectrum_overview")
    overview, points = _views(with_spectrum_defect)
    op.execute(overview)
    op.execute(points)


def _context_defect(metadata_json: str | None):
    """(kind, name, charge) from a stored spectrum's metadata context, or None."""
    try:
        metadata = json.loads(metadata_json or "{}")
    except ValueError:
        return None
    context = metadata.get("context") if isinstance(metadata, dict) else None
    if not isinstance(context, dict):
        return None
    kind, name, charge = context.get("defect_kind"), context.get("defect_name"), context.get("defect_charge", 0)
    if kind not in DEFECT_KINDS or not isinstance(name, str) or not name.strip():
        return None
    if charge is None:
        charge = 0
    if isinstance(charge, bool) or not isinstance(charge, int):
        return None
    return kind, name.strip(), charge


def upgrade() -> None:
    op.create_table(
        "spectrum_defect",
        sa.Column("spectrum_id", sa.Integer(), sa.ForeignKey("spectrum.id"), nullable=False),
        sa.Column("defect_id", sa.Integer(), sa.ForeignKey("defect.id"), nullable=False),
        sa.PrimaryKeyConstraint("spectrum_id"),
    )
    op.create_index("ix_spectrum_defect_defect_id", "spectrum_defect", ["defect_id"])
    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(sa.text(
            "SELECT id, structure_id, metadata_json FROM spectrum WHERE id > :last AND calculation_id IS NULL "
            "AND structure_id IS NOT NULL ORDER BY id LIMIT :n"), {"last": last, "n": BATCH}).fetchall()
        if not rows:
            break
        for row in rows:
            found = _context_defect(row.metadata_json)
            if found is None:
                continue
            kind, name, charge = found
            ids = [r.id for r in conn.execute(sa.text(
                "SELECT id FROM defect WHERE structure_id = :s AND name = :n AND charge = :c AND kind = :k"),
                {"s": row.structure_id, "n": name, "c": charge, "k": kind})]
            if len(ids) != 1:
                ids = [r.id for r in conn.execute(sa.text(
                    "SELECT id FROM defect WHERE structure_id = :s AND name = :n AND charge = :c "
                    "AND position_key = ''"), {"s": row.structure_id, "n": name, "c": charge})]
            if not ids:
                conn.execute(sa.text(
                    "INSERT INTO defect (structure_id, kind, name, charge, position_key) VALUES (:s, :k, :n, :c, '')"),
                    {"s": row.structure_id, "k": kind, "n": name, "c": charge})
                ids = [conn.execute(sa.text(
                    "SELECT id FROM defect WHERE structure_id = :s AND name = :n AND charge = :c "
                    "AND position_key = ''"), {"s": row.structure_id, "n": name, "c": charge}).scalar_one()]
            conn.execute(sa.text("INSERT INTO spectrum_defect (spectrum_id, defect_id) VALUES (:s, :d)"),
                         {"s": row.id, "d": ids[0]})
        last = rows[-1].id
    _replace_views(with_spectrum_defect=True)


def downgrade() -> None:
    _replace_views(with_spectrum_defect=False)
    op.drop_index("ix_spectrum_defect_defect_id", table_name="spectrum_defect")
    op.drop_table("spectrum_defect")
