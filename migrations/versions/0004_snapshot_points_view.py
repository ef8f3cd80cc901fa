"""snapshot_points view: embedding coordinates joined with spectrum_overview

One row per (snapshot, spectrum): the snapshot's id, uid, method and creation time, the point's
x, y, z (z is NULL for 2-D embeddings) and every column of ``spectrum_overview``. Documented in
docs/sql.md.

PostgreSQL expands ``o.*`` when the view is created and records the dependency: a later revision
that replaces ``spectrum_overview`` must drop ``snapshot_points`` first and create it again after.

Revision ID: 0004_snapshot_points_view
Revises: 0003_snapshots
"""
from alembic import op

revision = "0004_snapshot_points_view"
down_revision = "0003_snapshots"
branch_labels = None
depends_on = None

SNAPSHOT_POINTS_SQL = """
CREATE VIEW snapshot_points AS
SELECT
    sn.id AS snapshot_id,
    sn.uid AS snapshot_uid,
    sn.method AS snapshot_method,
    sn.created_at AS snapshot_created_at,
    sp.x,
    sp.y,
    sp.z,
    o.*
FROM snapshot_point sp
JOIN snapshot sn ON sn.id = sp.snapshot_id
JOIN spectrum_overview o ON o.spectrum_id = sp.spectrum_id
"""


def upgrade() -> None:
    op.execute(SNAPSHOT_POINTS_SQL)


def downgrade() -> None:
    op.execute("DROP VIEW snapshot_points")
