"""Benchmark: import rate (files per second) for the XAS data library's XDI files.

Reads every file under ../shared/fixtures/XASDataLibrary/data (about 200 XDI reference spectra)
into a fresh, migrated SQLite database, timing separately

* reading and validating (``repository.formats.read_paths``: parse, choose columns, check arrays),
* writing (``repository.importer.import_records``: one transaction),
* the whole ``xasrepo import DIR`` command in a fresh process (start-up, reading, writing),

repeated ``--repeat`` times (fresh database each time); prints a table with the median.

    .venv/bin/python bench/import_xdi.py [--repeat 3] [--data DIR]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
LIBRARY = ROOT.parent / "shared" / "fixtures" / "XASDataLibrary" / "data"


def one_run(data: Path, workdir: Path, number: int) -> dict[str, float]:
    from repository import db
    from repository.formats import data_files, read_paths
    from repository.importer import import_records

    path = workdir / f"lib{number}.db"
    db.upgrade(str(path))
    engine = db.connect(str(path))
    files = data_files(data)
    start = time.perf_counter()
    records = read_paths(files)
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    summary = import_records(engine, records)
    write_s = time.perf_counter() - start
    engine.dispose()

    cli_db = workdir / f"cli{number}.db"
    db.upgrade(str(cli_db))
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "cli.main", "import", str(data), "--db", str(cli_db)],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    cli_s = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"xasrepo import failed: {result.stderr.strip()}")
    return {"files": len(files), "spectra": summary.spectra_new, "points": sum(r.spectrum.n_points for r in records),
            "read_s": read_s, "write_s": write_s, "cli_s": cli_s}


def in_process(data: Path, workdir: Path, tag: str) -> float:
    """CPU seconds to read + write the library in this process (fresh database)."""
    from repository import db
    from repository.formats import data_files, read_paths
    from repository.importer import import_records

    path = workdir / f"cmp{tag}.db"
    db.upgrade(str(path))
    engine = db.connect(str(path))
    start = time.process_time()
    import_records(engine, read_paths(data_files(data)))
    spent = time.process_time() - start
    engine.dispose()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=LIBRARY)
    parser.add_argument("--checks", action="store_true",
                        help="also read + write with the issue-12 checks switched off (bench/_checks.py), "
                             "alternating, and print what the checks cost")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"no data at {args.data} (../shared/fixtures is absent)")
    with tempfile.TemporaryDirectory() as tmp:
        runs = [one_run(args.data, Path(tmp), i) for i in range(args.repeat)]
        if args.checks:
            from _checks import checks_disabled

            on, off = [], []
            for i in range(max(args.repeat, 5)):
                with checks_disabled():
                    off.append(in_process(args.data, Path(tmp), f"off{i}"))
                on.append(in_process(args.data, Path(tmp), f"on{i}"))
            on_s, off_s = statistics.median(on), statistics.median(off)
            print(f"read + write in process, CPU: checks on {on_s:.3f} s, off {off_s:.3f} s; difference "
                  f"{100 * (on_s - off_s) / on_s:.1f} % (median of {len(on)} alternating runs each)")
            from _checks import checks_timed

            shares = []
            for i in range(max(args.repeat, 5)):
                spent = [0.0]
                with checks_timed(spent):
                    total = in_process(args.data, Path(tmp), f"timed{i}")
                shares.append(spent[0] / total)
            print(f"CPU inside the checks: {100 * statistics.median(shares):.1f} % of read + write "
                  f"(median of {len(shares)})")
    files = runs[0]["files"]
    read_s = statistics.median(r["read_s"] for r in runs)
    write_s = statistics.median(r["write_s"] for r in runs)
    cli_s = statistics.median(r["cli_s"] for r in runs)
    rows = [
        ("read + validate (library)", read_s, files / read_s),
        ("write, one transaction (SQLite)", write_s, files / write_s),
        ("read + write (library)", read_s + write_s, files / (read_s + write_s)),
        ("xasrepo import DIR (fresh process)", cli_s, files / cli_s),
    ]
    print(f"XDI import: {files} files, {runs[0]['spectra']} new spectra, {runs[0]['points']} points; "
          f"median of {len(runs)} runs, fresh SQLite database each")
    print(f"{'step':<38} {'seconds':>9} {'files/s':>9}")
    for name, seconds, rate in rows:
        print(f"{name:<38} {seconds:>9.3f} {rate:>9.0f}")


if __name__ == "__main__":
    main()
