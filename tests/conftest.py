"""Shared fixtures: fresh databases (SQLite always; PostgreSQL when XASREPO_TEST_PG_URL is set),
the bundled example set, the CLI runner, and the path to ../shared/fixtures."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs the property tests derandomized (HYPOTHESIS_PROFILE=ci in .ci/run): a landing must not depend on
# which random examples a clean clone happens to draw. Local runs keep searching randomly, and the
# deterministic sweeps in test_calcset_properties.py cover every manifest field in both.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_SET = ROOT / "tests" / "data" / "calcset_example"
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures"
PG_URL_ENV = "XASREPO_TEST_PG_URL"


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes ('' when it does not exist)."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


@pytest.fixture
def shared_fixtures() -> Path:
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"real-world test files not found at {SHARED_FIXTURES} (../shared/fixtures is absent)")
    return SHARED_FIXTURES


@pytest.fixture
def example_set(tmp_path) -> Path:
    """A private copy of the example calculation set that a test may modify."""
    target = tmp_path / "calcset_example"
    shutil.copytree(EXAMPLE_SET, target)
    return target


@pytest.fixture
def sqlite_db(tmp_path) -> str:
    """Path of a new, migrated SQLite database."""
    from repository import db

    path = tmp_path / "test.db"
    db.upgrade(str(path))
    return str(path)


PG_SKIP_REASON = f"no PostgreSQL server: set {PG_URL_ENV} (.ci/run starts one)"


def postgres_server_url() -> str:
    """URL of the PostgreSQL test server (``$XASREPO_TEST_PG_URL``, e.g.
    ``postgresql://postgres@127.0.0.1:54329/postgres``); skips the calling test with
    :data:`PG_SKIP_REASON` when it is not set."""
    base = os.environ.get(PG_URL_ENV)
    if not base:
        pytest.skip(PG_SKIP_REASON)
    return base


@contextmanager
def postgres_database() -> Iterator[str]:
    """A throw-away, empty database on the PostgreSQL test server: the one way tests get one.

    Yields its URL (no schema: call ``db.upgrade`` or ``xasrepo init`` on it). On exit, also when the
    test fails, the database is dropped (``WITH (FORCE)``, closing connections still open) with the
    read-only role :func:`analyst_url` may have made for it. Skips the calling test (via
    :func:`postgres_server_url`) without a server. Use it in fixtures of any scope::

        with postgres_database() as url:
            db.upgrade(url)
            yield url
    """
    from sqlalchemy import create_engine, text

    from repository.db import resolve_url

    base_url = postgres_server_url()
    name = f"xasrepo_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(resolve_url(base_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield base_url.rsplit("/", 1)[0] + "/" + name
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(text(f'DROP ROLE IF EXISTS "{name}{ANALYST_SUFFIX}"'))  # made by analyst_url
    finally:
        admin.dispose()


ANALYST_SUFFIX = "_analyst"


def analyst_url(url: str) -> str:
    """What `xasrepo sql` is given in the tests: for a PostgreSQL test database the URL of its
    read-only analyst role (made as `xasrepo init --analyst-role` makes it, dropped with the
    database); an SQLite database as it is."""
    from repository import db

    if db.is_sqlite(db.resolve_url(url)):
        return url
    return db.create_analyst_role(url, url.rsplit("/", 1)[1] + ANALYST_SUFFIX)


@pytest.fixture(params=["sqlite", "postgres"])
def any_db(request, tmp_path):
    """A new, migrated database on each backend (PostgreSQL skipped without a server)."""
    from repository import db

    if request.param == "sqlite":
        path = tmp_path / "test.db"
        db.upgrade(str(path))
        yield str(path)
        return
    with postgres_database() as url:
        db.upgrade(url)
        yield url


@pytest.fixture
def cli():
    """Invoke the CLI in-process: cli(args...) -> Result (exit_code, stdout, stderr)."""
    from typer.testing import CliRunner

    from cli.main import app

    runner = CliRunner()

    def invoke(*args: str, env: dict | None = None):
        return runner.invoke(app, [str(a) for a in args], env=env, catch_exceptions=False, prog_name="xasrepo")

    return invoke


@pytest.fixture(scope="session")
def bundled_bn_db(tmp_path_factory) -> str:
    """The bundled BN set (data/bn) in a fresh SQLite database ``bn.db`` with one PCA snapshot of the
    B K spectra (like the demo's), shared by the tests that run documentation on the real data."""
    from repository import db
    from repository.analysis.create import create_snapshot
    from repository.calcset import read_calcset
    from repository.importer import import_calcset

    bn_set = ROOT / "data" / "bn"
    if not (bn_set / "calcset.toml").exists():
        pytest.skip("the bundled BN set (data/bn) is absent")
    folder = tmp_path_factory.mktemp("bn")
    path = str(folder / "bn.db")
    db.upgrade(path)
    with db.connected(path) as engine:
        import_calcset(engine, read_calcset(bn_set))
        create_snapshot(engine, method="pca", element="B", edge="K", directory=folder / "bn.snapshots")
    return path
