"""snapshot registry: snapshot and snapshot_point tables

Revision ID: 0003_snapshots
Revises: 0002_overview_view
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003_snapshots"
down_revision = "0002_overview_view"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "snapshot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("n_components", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("model_path", sa.Text(), nullable=True),
        sa.Column("model_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("input_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("params_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("recipe_json", sa.Text(), nullable=False),
        sa.Column("params_json", sa.Text(), nullable=False),
        sa.Column("filter_text", sa.Text(), nullable=True),
        sa.Column("element", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True),
        sa.Column("edge", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column("library_versions_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["snapshot.id"], ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uid"),
    )
    with op.batch_alter_table("snapshot", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_snapshot_input_hash"), ["input_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_snapshot_method"), ["method"], unique=False)
        batch_op.create_index(batch_op.f("ix_snapshot_params_hash"), ["params_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_snapshot_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "snapshot_point",
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("spectrum_id", sa.Integer(), nullable=False),
        sa.Column("x", sa.Float(), nullable=True),
        sa.Column("y", sa.Float(), nullable=True),
        sa.Column("z", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["snapshot_id"], ["snapshot.id"], ),
        sa.ForeignKeyConstraint(["spectrum_id"], ["spectrum.id"], ),
        sa.PrimaryKeyConstraint("snapshot_id", "spectrum_id"),
    )
    with op.batch_alter_table("snapshot_point", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_snapshot_point_spectrum_id"), ["spectrum_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("snapshot_point", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_snapshot_point_spectrum_id"))
    op.drop_table("snapshot_point")
    with op.batch_alter_table("snapshot", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_snapshot_parent_id"))
        batch_op.drop_index(batch_op.f("ix_snapshot_params_hash"))
        batch_op.drop_index(batch_op.f("ix_snapshot_method"))
        batch_op.drop_index(batch_op.f("ix_snapshot_input_hash"))
    op.drop_table("snapshot")
