"""portable snapshot paths: registered files under the database's folder become relative

Snapshot files used to be registered with absolute paths, so moving a database folder made
every snapshot "missing" and a copied folder silently kept reading the original's files. From
this revision on, a file under the *storage base* is registered relative to it (POSIX
separators) and resolved when read (repository.snapshots.files.resolve_stored). The base is the
SQLite file's folder; for a database server it is $XASREPO_SNAPSHOT_DIR when set at upgrade
time (without it, server paths stay absolute, which still works).

Upgrade, per registered path (``snapshot.path`` and ``snapshot.model_path``):

* absolute and under the base: made relative to the base;
* absolute, outside the base, but a file of the same name lies in this database's own default
  folder ``<stem>.snapshots/`` (a copied or moved SQLite folder that still names the original's
  files): made relative to that local file, so the copy reads its own files (their SHA-256 is
  still checked against the registry on every read);
* anything else (a shared folder elsewhere): left absolute.

Downgrade turns relative paths back into absolute ones under the base.

The logic is inlined (no import of repository code) so the revision keeps its meaning when the
library changes.

Revision ID: 0007_portable_snapshot_paths
Revises: 0006_host_labels
"""
import os
from pathlib import Path, PurePosixPath

import sqlalchemy as sa
from alembic import op

revision = "0007_portable_snapshot_paths"
down_revision = "0006_host_labels"
branch_labels = None
depends_on = None


def _base(bind) -> tuple[Path | None, Path | None]:
    """(storage base, this database's default snapshot folder or None)."""
    if bind.dialect.name == "sqlite":
        database = bind.engine.url.database
        if not database or database == ":memory:":
            return None, None
        path = Path(database).resolve()
        return path.parent, path.parent / f"{path.stem}.snapshots"
    value = os.environ.get("XASREPO_SNAPSHOT_DIR")
    return (Path(value).expanduser().resolve(), None) if value else (None, None)


def _portable(stored: str | None, base: Path, own: Path | None) -> str | None:
    if stored is None or not Path(stored).is_absolute():
        return stored
    path = Path(stored)
    try:
        return path.resolve().relative_to(base).as_posix()
    except ValueError:
        pass
    if own is not None and (own / path.name).is_file():
        return (own / path.name).relative_to(base).as_posix()
    return stored


def _rewrite(convert) -> None:
    bind = op.get_bind()
    base, own = _base(bind)
    if base is None:
        return
    rows = bind.execute(sa.text("SELECT id, path, model_path FROM snapshot")).fetchall()
    for row_id, path, model_path in rows:
        new_path, new_model = convert(path, base, own), convert(model_path, base, own)
        if (new_path, new_model) != (path, model_path):
            bind.execute(sa.text("UPDATE snapshot SET path = :p, model_path = :m WHERE id = :id"),
                         {"p": new_path, "m": new_model, "id": row_id})


def _absolute(stored: str | None, base: Path, _own) -> str | None:
    if stored is None or Path(stored).is_absolute():
        return stored
    return str(base / PurePosixPath(stored))


def upgrade() -> None:
    _rewrite(_portable)


def downgrade() -> None:
    _rewrite(_absolute)
