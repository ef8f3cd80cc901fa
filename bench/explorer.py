"""The explorer page at 10^4, 10^5 and 10^6 points: page size, time to ready, hover latency,
recolour time and browser memory, in headless Chromium (no network, no GPU).

    .venv/bin/python bench/explorer.py                                   # 10k and 100k with spectra
    flock /work/briefs/bigmem.lock .venv/bin/python bench/explorer.py --sizes 1000000   # 1M (no spectra)

Snapshots and spectra are SYNTHETIC (made here, vectorised: three clusters of points with made-up
categories and a numeric column; Gaussian "spectra" of ``--spectrum-points`` points on one shared
energy grid). Pages with more than :data:`repository.plots.explorer.MAX_PAGE_SPECTRA` rows are
written without spectra (the explorer refuses to embed more; the refusal line is printed).

Measured per size: ``write s`` (Python, :func:`write_explorer`), ``page MB`` and bytes of page per
embedded spectrum; ``ready s`` (wall clock from navigation to the page's ``data-state=ready``, as
the user waits for it; the page's own ``performance.now()`` at ready in brackets); hover: the
median over ``--hovers`` mouse moves onto random points of the wall time from the DevTools
``mouseMoved`` command until the spectrum panel shows the point (includes the protocol round trip)
and of the page's own handler time (nearest-point search + decoding + drawing the spectrum), that
of the first hover (which also reads the store's text) and the time to build the grid index (once
per axes and colouring, on the first hover);
``recolour ms``: the page's own time to recolour by a numeric and by a categorical column and
redraw (median of 3 each); ``heap MB``: the page's JS heap; ``browser MB``: the sum of the resident
memory of Chromium's processes (shared pages counted once per process, so an upper bound).
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STATUS = "document.getElementById('xr-status').dataset"
CLUSTERS = (("hexagonal", (-3.0, 1.0)), ("cubic", (3.0, 2.0)), ("trigonal", (0.5, -3.0)))


def synthetic(n: int, n_points: int, with_spectra: bool, seed: int = 0):
    """(frame, spectra or None): ``n`` SYNTHETIC snapshot rows and spectra on one shared grid."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    cluster = rng.integers(0, len(CLUSTERS), n)
    centres = np.array([c[1] for c in CLUSTERS])[cluster]
    xy = centres + rng.normal(scale=0.9, size=(n, 2))
    charge = 0.7 - 0.08 * xy[:, 0] + rng.normal(scale=0.03, size=n)
    charge[rng.random(n) < 0.05] = np.nan
    frame = pd.DataFrame({
        "spectrum_id": np.arange(1, n + 1), "x": xy[:, 0], "y": xy[:, 1],
        "crystal_system": np.array([c[0] for c in CLUSTERS], dtype=object)[cluster],
        "defect_kind": np.array(["none", "vacancy", "substitution"], dtype=object)[rng.integers(0, 3, n)],
        "dimensionality": np.where(cluster == 0, 2, 3),
        "reduced_formula": np.where(cluster == 1, "BP", "BN").astype(object),
        "absorbing_element": "B", "edge": "K", "hirshfeld_charge": charge,
    })
    if not with_spectra:
        return frame, None
    energy = np.linspace(185.0, 215.0, n_points)
    spectra = {}
    for start in range(0, n, 10_000):  # in chunks: the whole (n, points) matrix at once is the peak
        rows = slice(start, min(n, start + 10_000))
        pi_peak = (192.0 + 0.3 * xy[rows, 0])[:, None]
        sigma_peak = (199.0 + 0.5 * xy[rows, 1])[:, None]
        block = (np.exp(-0.5 * ((energy - pi_peak) / 0.45) ** 2)
                 + 0.6 * np.exp(-0.5 * ((energy - sigma_peak) / 1.6) ** 2))
        for k, intensity in enumerate(block):
            spectra[start + k + 1] = (energy, intensity)
    return frame, spectra


def browser_rss_mb(pid: int) -> float:
    """Sum of VmRSS (MB) of a process and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            status = (entry / "status").read_text()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss[int(entry.name)] = int(line.split()[1])
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack.extend(children.get(p, []))
    return total / 1024


def measure(page, html: Path, hovers: int, seed: int) -> dict:
    """Open the page and time ready, hovers and recolours (see the module docstring)."""
    started = time.perf_counter()
    page.open(html)
    status = page.wait_for(f"{STATUS}.state === 'ready' && Object.assign({{}}, {STATUS})", page.timeout_s)
    ready_s = time.perf_counter() - started
    if not status or status.get("errors") != "0" or page.problems:
        raise SystemExit(f"{html.name}: not ready cleanly: {status} {page.problems}")
    n = int(status["total"])
    rng = np.random.default_rng(seed)
    walls, handler = [], []
    page.mouse_move(1, 1)  # off the map: a first move builds nothing
    index_ms = None
    for row in rng.integers(0, n, hovers):
        x, y = (round(v) for v in page.evaluate(f"xrExplorer.screenOf({int(row)})"))  # whole pixels, as a mouse
        expected = page.evaluate(f"String(xrExplorer.ids[xrExplorer.nearest({x}, {y})])")  # the point on top there
        t = time.perf_counter()
        page.mouse_move(x, y)
        if not page.wait_for(f"{STATUS}.selected === '{expected}'", 30):
            raise SystemExit(f"{html.name}: hovering row {row} did not show spectrum {expected}")
        walls.append(time.perf_counter() - t)
        handler.append(float(page.evaluate(f"{STATUS}.hoverMs")))
        if index_ms is None:  # built by the first nearest() above, before the first hover
            index_ms = float(page.evaluate(f"{STATUS}.indexMs"))
    recolour = {}
    for field in ("hirshfeld_charge", "crystal_system"):
        times = []
        for _ in range(3):
            page.evaluate("xrExplorer.colourBy('dimensionality')")
            times.append(float(page.evaluate(f"(function () {{ var t = performance.now(); "
                                             f"xrExplorer.colourBy('{field}'); return performance.now() - t; }})()")))
        recolour[field] = statistics.median(times)
    heap = page.send("Runtime.getHeapUsage")
    return {"ready_s": ready_s, "ready_page_s": float(status["readyMs"]) / 1000, "points": int(status["points"]),
            "hover_wall_ms": 1000 * statistics.median(walls), "hover_page_ms": statistics.median(handler),
            "first_hover_page_ms": handler[0], "index_ms": index_ms, "recolour_ms": recolour,
            "heap_mb": heap["usedSize"] / 1e6, "browser_mb": browser_rss_mb(page._process.pid)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--spectrum-points", type=int, default=300)
    parser.add_argument("--hovers", type=int, default=15)
    parser.add_argument("--workdir", type=Path, default=None, help="where the pages go (default: a temporary folder)")
    args = parser.parse_args()

    from repository.errors import UsageError
    from repository.plots.explorer import MAX_PAGE_SPECTRA, check_page_size, write_explorer
    from tests.browser import HeadlessPage

    rows = []
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for n in args.sizes:
            with_spectra = True
            try:
                check_page_size(n, n)
            except UsageError as refused:
                print(f"{n:,} points with spectra refused: {refused}")
                with_spectra = False
            frame, spectra = synthetic(n, args.spectrum_points, with_spectra)
            html = Path(tmp) / f"explorer-{n}.html"
            t = time.perf_counter()
            write_explorer(frame, html, spectra=spectra, title=f"SYNTHETIC {n:,} points")
            write_s = time.perf_counter() - t
            del frame, spectra
            size = html.stat().st_size
            bare = None
            if with_spectra:  # the same page without spectra: what the spectra add, per spectrum
                bare_html = Path(tmp) / f"bare-{n}.html"
                write_explorer(synthetic(n, 0, False)[0], bare_html)
                bare = (size - bare_html.stat().st_size) / n
                bare_html.unlink()
            with HeadlessPage(1400, 900, timeout_s=300) as page:
                result = measure(page, html, args.hovers, seed=n)
            html.unlink()
            per = f"{bare:,.0f}" if bare is not None else "no spectra"
            rows.append((f"{n:,}", per, f"{size / 1e6:.1f}", f"{write_s:.1f}",
                         f"{result['ready_s']:.2f} ({result['ready_page_s']:.2f})",
                         f"{result['hover_wall_ms']:.0f} ({result['hover_page_ms']:.1f}; first {result['first_hover_page_ms']:.0f}; "
                         f"index {result['index_ms']:.0f})",
                         f"{result['recolour_ms']['hirshfeld_charge']:.0f} / {result['recolour_ms']['crystal_system']:.0f}",
                         f"{result['heap_mb']:.0f}", f"{result['browser_mb']:.0f}"))
            print(f"{n:,} points done: {rows[-1]}", flush=True)
    print(f"\nspectra: {args.spectrum_points} points each, embedded up to {MAX_PAGE_SPECTRA:,} rows\n")
    print("| points | page bytes per spectrum | page MB | write s | ready s (page's own) | hover ms: wall "
          "(handler; first; index build) | recolour ms numeric / category | JS heap MB | browser RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
