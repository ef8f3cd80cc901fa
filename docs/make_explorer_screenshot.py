"""Regenerate the pictures in docs/img/ that docs/plots.md shows.

    .venv/bin/python docs/make_explorer_screenshot.py            # SYNTHETIC demo data
    .venv/bin/python docs/make_explorer_screenshot.py --snapshot S.parquet --db xasrepo.db

* docs/img/explorer.png -- the explorer page in headless Chromium (no network), one point hovered;
  the script fails if the page logs any console error or does not draw every point.
* docs/img/embedding.png -- ``plot embedding`` of the same snapshot, coloured by crystal system.
* docs/img/spectra-dos.png -- ``plot spectra --dos`` of the bundled example set (SYNTHETIC spectra).

Needs Debian's chromium package for the first picture.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

IMG = ROOT / "docs" / "img"
STATUS = "document.getElementById('xr-status').dataset"


def explorer_screenshot(html: Path, output: Path, n_points: int) -> None:
    from tests.browser import HeadlessPage

    with HeadlessPage(1400, 820) as page:
        page.open(html)
        status = page.wait_for(f"{STATUS}.state === 'ready' && Object.assign({{}}, {STATUS})")
        if not status or status.get("points") != str(n_points) or page.problems:
            raise SystemExit(f"explorer not drawn cleanly: status={status} problems={page.problems}")
        # hover a point away from the first one so the picture shows the hover label and its spectrum
        x, y = page.evaluate("""(function () {
            var points = document.querySelectorAll('#xr-map .scatterlayer .point');
            var r = points[Math.floor(points.length / 2)].getBoundingClientRect();
            return [r.x + r.width / 2, r.y + r.height / 2]; })()""")
        page.mouse_move(x, y)
        page.wait_for(f"{STATUS}.selected !== '{status['selected']}'", 5)
        page.pump(0.3)
        page.screenshot(output)
        if page.problems:
            raise SystemExit(f"console errors while hovering: {page.problems}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snapshot", type=Path, help="a snapshot Parquet file (default: SYNTHETIC demo data)")
    parser.add_argument("--db", help="database with the snapshot's spectra (with --snapshot)")
    args = parser.parse_args()

    from repository import db
    from repository.calcset import read_calcset
    from repository.importer import import_calcset
    from repository.plots.demo import synthetic_snapshot
    from repository.plots.embedding import plot_embedding
    from repository.plots.explorer import explore, write_explorer
    from repository.plots.frame import snapshot_frame
    from repository.plots.spectra import plot_spectra

    IMG.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp) / "explorer.html"
        if args.snapshot:
            frame = snapshot_frame(args.snapshot)
            explore(args.snapshot, html, engine=db.connect(args.db, read_only=True) if args.db else None)
        else:
            frame, spectra = synthetic_snapshot(n=150, seed=0)
            write_explorer(frame, html, spectra=spectra, title="SYNTHETIC demo snapshot: 150 spectra")
        explorer_screenshot(html, IMG / "explorer.png", len(frame))
        plot_embedding(frame, "crystal_system", IMG / "embedding.png",
                       title=None if args.snapshot else "SYNTHETIC demo snapshot coloured by crystal system")

        database = str(Path(tmp) / "example.db")
        db.upgrade(database)
        engine = db.connect(database)
        import_calcset(engine, read_calcset(ROOT / "tests" / "data" / "calcset_example"))
        plot_spectra(engine, [1, 3], IMG / "spectra-dos.png", with_dos=True, normalize=True,
                     title="example set (SYNTHETIC spectra) with the absorber DOS")
        engine.dispose()
    for name in ("explorer.png", "embedding.png", "spectra-dos.png"):
        print(f"wrote {IMG / name} ({(IMG / name).stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
