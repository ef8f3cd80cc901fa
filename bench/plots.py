"""Render times and file sizes of the pictures: the overview figure of the bundled set and a
100,000-point embedding plot (PNG, SVG, PDF), and the explorer page of 100,000 points.

    .venv/bin/python bench/plots.py                 # overview of data/bn + 100,000 SYNTHETIC points
    .venv/bin/python bench/plots.py --points 20000 --skip-overview

The overview is timed twice: end to end (import of data/bn into a fresh SQLite database, two PCA
snapshots, the figure: what ``xasrepo plot overview`` does) and the drawing alone. The large
embedding uses SYNTHETIC coordinates and categories (repository.plots.demo); the explorer page is
written without spectra (its size is the point table; bench/explorer.py measures it in a browser). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def timed(label: str, rows: list, fn, path: Path | None = None) -> None:
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    size = f"{path.stat().st_size / 1e6:.2f}" if path is not None and path.exists() else "-"
    rows.append((label, f"{wall:.2f}", f"{cpu:.2f}", size))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--skip-overview", action="store_true")
    args = parser.parse_args()

    from repository import db
    from repository.plots.demo import synthetic_snapshot
    from repository.plots.embedding import plot_embedding
    from repository.plots.explorer import write_explorer
    from repository.plots.figure import bundled_overview, overview_figure

    rows: list = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        if not args.skip_overview:
            work = out / "work"
            result = {}
            timed("overview, end to end (import data/bn, 2 PCA, figure) PNG", rows,
                  lambda: result.update(bundled_overview(out / "overview.png", workdir=work)), out / "overview.png")
            with db.connected(str(work / "overview.db"), read_only=True) as engine:
                from repository.snapshots.registry import get_snapshot

                paths = [get_snapshot(engine, uid)["path"] for uid in result["snapshots"]]
                for suffix in ("png", "svg", "pdf"):
                    target = out / f"overview-only.{suffix}"
                    timed(f"overview, drawing only, {suffix.upper()}", rows,
                          lambda t=target: overview_figure(engine, paths, t), target)
        frame, _ = synthetic_snapshot(n=args.points, seed=0)
        for field in ("crystal_system", "hirshfeld_charge"):
            for suffix in ("png", "svg", "pdf"):
                target = out / f"big-{field}.{suffix}"
                timed(f"embedding, {args.points:,} points by {field}, {suffix.upper()}", rows,
                      lambda t=target, f=field: plot_embedding(frame, f, t), target)
        target = out / "big.html"
        timed(f"explorer page, {args.points:,} points (canvas), no spectra", rows,
              lambda: write_explorer(frame, target), target)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("| picture | wall s | CPU s | file MB |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\npeak resident memory {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
