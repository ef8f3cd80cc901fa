"""How long an import waits for a lock that another transaction holds (docs/benchmarks.md).

    .venv/bin/python bench/lock_wait.py [--pg postgresql://.../an-empty-database] [--timeouts 1 5]

For each backend and each ``XASREPO_LOCK_TIMEOUT`` value, another connection holds the lock the
import needs (SQLite: the write lock, ``BEGIN IMMEDIATE``; PostgreSQL: an uncommitted row of a
calculation set of the same name). Timed: (1) the library call (connect + ``import_calcset`` of the
example set, its files already read), which must end with ``LockTimeout`` after about the
timeout; (2) the whole ``xasrepo import`` process (start-up included), exit code 1 and one line
naming what it waited for. Then the lock is released and the same process runs without waiting.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_SET = ROOT / "tests" / "data" / "calcset_example"


def _import(database: str, timeout_s: float) -> tuple[float, int, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), XASREPO_LOCK_TIMEOUT=str(timeout_s))
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "cli.main", "import", str(EXAMPLE_SET), "--db", database],
                          env=env, capture_output=True, text=True, timeout=600)
    return time.monotonic() - started, done.returncode, done.stderr.strip()


def _hold(database: str):
    """Take the lock an import of the example set waits for; returns the function that releases it."""
    from repository import db

    path = db.sqlite_path(db.resolve_url(database))
    if path is not None:
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    else:
        import psycopg

        holder = psycopg.connect(database)
        holder.execute("INSERT INTO calculation_set (name, provenance_json, manifest_hash, imported_at) "
                       "VALUES ('example-hbn', '{}', 'h', now())")

    def release() -> None:
        holder.rollback()
        holder.close()

    return release


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--pg")
    args.add_argument("--timeouts", type=float, nargs="+", default=[1.0, 5.0])
    options = args.parse_args()
    from repository import db

    from repository.calcset import read_calcset
    from repository.importer import import_calcset

    plan = read_calcset(EXAMPLE_SET)
    print("| backend | XASREPO_LOCK_TIMEOUT s | library call until LockTimeout s | blocked `import` process s | exit "
          "| message | free `import` process s | exit |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for backend in ("sqlite", "postgresql") if options.pg else ("sqlite",):
            for timeout_s in options.timeouts:
                database = str(Path(folder) / f"lock-{timeout_s:g}.db") if backend == "sqlite" else options.pg
                db.upgrade(database)
                release = _hold(database)
                try:
                    os.environ[db.LOCK_TIMEOUT_ENV] = str(timeout_s)
                    started = time.monotonic()
                    try:
                        with db.connected(database) as engine:
                            import_calcset(engine, plan)
                        raise SystemExit("the import did not wait for the lock")
                    except db.LockTimeout:
                        waited = time.monotonic() - started
                    except Exception as err:  # noqa: BLE001 - mapped as the CLI maps it
                        if not isinstance(db.fault_from(err), db.LockTimeout):
                            raise
                        waited = time.monotonic() - started
                    blocked = _import(database, timeout_s)
                finally:
                    release()
                free = _import(database, timeout_s)
                message = blocked[2].splitlines()[-1][:90] if blocked[2] else ""
                print(f"| {backend} | {timeout_s:g} | {waited:.2f} | {blocked[0]:.2f} | {blocked[1]} | {message}... | "
                      f"{free[0]:.2f} | {free[1]} |")
                if backend == "postgresql":  # the next round needs the set absent again
                    from sqlalchemy import text

                    engine = db.make_engine(db.resolve_url(database))
                    with engine.begin() as conn:
                        for table in ("spectrum_calculation", "descriptor", "dos", "spectrum", "calculation",
                                      "defect", "structure", "calculation_set"):
                            conn.execute(text(f"DELETE FROM {table}"))
                    engine.dispose()


if __name__ == "__main__":
    main()
