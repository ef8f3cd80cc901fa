"""Regenerate the pictures in docs/img/ that docs/plots.md shows, from the bundled computed set (data/bn).

    .venv/bin/python docs/make_explorer_screenshot.py            # all pictures (explorer.png needs chromium)
    .venv/bin/python docs/make_explorer_screenshot.py --no-browser

One temporary SQLite database is built from data/bn (import, one PCA snapshot per element and
edge of the isotropic spectra), then:

* docs/img/bn-overview.png -- the overview figure (``xasrepo plot overview``): maps by polymorph,
  defect kind at near-defect sites and σ charge transfer, representative spectra with π*/σ*;
* docs/img/embedding.png -- ``plot embedding`` of the B K PCA snapshot, coloured by defect kind;
* docs/img/spectra-dos.png -- ``plot spectra --dos`` of pristine h-BN and c-BN, B K and N K, with the
  B K snapshot's window shaded;
* docs/img/explorer.png -- the explorer page of the B K snapshot in headless Chromium (no
  network), one point hovered; skipped, saying so, when Debian's chromium is not installed. The
  script fails if the page logs any console error or does not draw every point.

Every picture shows computed (GPAW) spectra of the bundled set, none synthetic.
"""

from __future__ import annotations

import argparse
import shutil
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
        x, y = page.evaluate(f"xrExplorer.screenOf({n_points // 2})")
        page.mouse_move(round(x), round(y))
        page.wait_for(f"{STATUS}.selected !== '{status['selected']}'", 5)
        page.pump(0.3)
        page.screenshot(output)
        if page.problems:
            raise SystemExit(f"console errors while hovering: {page.problems}")


def pristine_ids(engine, polymorphs: tuple[str, ...]) -> list[int]:
    """The lowest-id pristine isotropic spectrum per polymorph and edge, B K before N K."""
    from sqlalchemy import text

    chosen = []
    with engine.connect() as conn:
        for element in ("B", "N"):
            for polymorph in polymorphs:
                found = conn.execute(text(
                    "SELECT MIN(spectrum_id) FROM spectrum_overview WHERE polymorph = :p AND absorbing_element = :e "
                    "AND polarization = 'iso' AND (defect_kind IS NULL OR defect_kind = 'none')"), {"p": polymorph, "e": element}).scalar()
                if found is not None:
                    chosen.append(int(found))
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-browser", action="store_true", help="leave docs/img/explorer.png as it is")
    args = parser.parse_args()

    from repository import db
    from repository.plots.embedding import plot_embedding
    from repository.plots.explorer import explore
    from repository.plots.figure import bundled_overview
    from repository.plots.frame import snapshot_frame
    from repository.plots.spectra import plot_spectra

    IMG.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        result = bundled_overview(IMG / "bn-overview.png", workdir=tmp, progress=print)
        written.append(IMG / "bn-overview.png")
        with db.connected(str(Path(tmp) / "overview.db"), read_only=True) as engine:
            from repository.snapshots.registry import get_snapshot

            b_k = next(get_snapshot(engine, uid) for uid in result["snapshots"]
                       if get_snapshot(engine, uid)["element"] == "B")
            plot_embedding(b_k["path"], "defect_kind", IMG / "embedding.png", contours=True)
            written.append(IMG / "embedding.png")
            plot_spectra(engine, pristine_ids(engine, ("h-BN", "c-BN")), IMG / "spectra-dos.png", with_dos=True,
                         normalize="max", snapshot=b_k["path"])
            written.append(IMG / "spectra-dos.png")
            if args.no_browser or not (shutil.which("chromium") or shutil.which("chromium-browser")):
                print("explorer.png left as it is (no chromium, or --no-browser)")
            else:
                html = Path(tmp) / "explorer.html"
                explore(b_k["path"], html, engine=engine)
                explorer_screenshot(html, IMG / "explorer.png", len(snapshot_frame(b_k["path"])))
                written.append(IMG / "explorer.png")
    for path in written:
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
