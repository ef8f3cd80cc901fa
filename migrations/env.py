"""Alembic environment for xasrepo. Runs online only (a connection is always available)."""

from __future__ import annotations

import os

from alembic import context
from sqlmodel import SQLModel

import repository.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from repository.db import VIEW_NAMES, make_engine, resolve_url

config = context.config
target_metadata = SQLModel.metadata

# Views are managed by hand in revisions; keep autogenerate from proposing to drop them.
def include_object(obj, name, type_, reflected, compare_to):
    if type_ == "table" and reflected and compare_to is None and name in VIEW_NAMES:
        return False
    return True



def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = os.environ.get("XASREPO_DB") and resolve_url() or config.get_main_option("sqlalchemy.url")
    engine = make_engine(resolve_url(url))
    with engine.begin() as conn:
        _run(conn)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()


run_migrations_online()
