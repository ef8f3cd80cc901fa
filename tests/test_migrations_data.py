"""Every migration upgrades and downgrades with the data kept, on both backends."""

from __future__ import annotations

from repository import catalog, db
from repository.calcset import read_calcset
from repository.importer import import_calcset

from .conftest import EXAMPLE_SET


def _revisions_oldest_first() -> list[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(db.alembic_config("sqlite://"))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def _spectrum_count(url: str) -> int:
    from sqlalchemy import text

    engine = db.make_engine(db.resolve_url(url))
    with engine.connect() as conn:
        count = conn.execute(text("SELECT COUNT(*) FROM spectrum")).scalar()
    engine.dispose()
    return int(count)


def test_each_revision_steps_down_and_up_keeping_spectra(any_db):
    engine = db.connect(any_db)
    import_calcset(engine, read_calcset(EXAMPLE_SET))
    before = catalog.count_rows(engine)
    engine.dispose()
    revisions = _revisions_oldest_first()
    for revision in reversed(revisions[:-1]):  # head-1 ... first
        db.downgrade(any_db, revision)
        assert _spectrum_count(any_db) == before["spectrum"], f"spectra lost downgrading to {revision}"
    for revision in revisions[1:]:
        db.upgrade(any_db, revision)
        assert _spectrum_count(any_db) == before["spectrum"], f"spectra lost upgrading to {revision}"
    engine = db.connect(any_db)
    assert catalog.count_rows(engine) == before
    assert len(catalog.list_spectra(engine)) == before["spectrum"]
    engine.dispose()
