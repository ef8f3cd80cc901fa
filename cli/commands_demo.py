"""`xasrepo demo`: the main job on the bundled boron nitride data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import app


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the database, snapshots and plots.")]
    = Path("xasrepo-demo"),
    data: Annotated[Optional[Path], typer.Option(help="Calculation set to use instead of the bundled data/bn.")]
    = None,
    db: Annotated[Optional[str], typer.Option(
        "--db", help="Database file or URL to build (default OUT/xasrepo.db; $XASREPO_DB is not used here).")]
    = None,
) -> None:
    """Build a database from the bundled BN set, embed it by UMAP, PCA and MDS, and plot it."""
    from rich.console import Console

    from repository.demo import BUNDLED_SET, run_demo

    console = Console(stderr=True)
    with console.status("starting") as status:
        result = run_demo(out, data or BUNDLED_SET, db=db, say=lambda message: status.update(message))
    counts = result.counts
    typer.echo(f"database   {result.database}  ({result.import_status}: {counts['spectrum']} spectra, "
               f"{counts['structure']} structures, {counts['dos']} DOS curves, {counts['descriptor']} descriptors)")
    typer.echo(f"snapshots  {result.snapshot_dir}")
    for snap in result.snapshots:
        typer.echo(f"  {snap['uid']:<36} {snap['method']:<5} {snap['element']} {snap['edge']}  "
                   f"{snap['n_spectra']} spectra{'  (reused)' if snap['reused'] else ''}")
    typer.echo(f"plots      {result.plot_dir}  ({len(result.plots)} PNG files)")
    for line in result.skipped:
        typer.echo(f"skipped    {line}")
    typer.echo(f"next       xasrepo query 'defect.kind = vacancy' --db {result.database}\n"
               f"           xasrepo explore {result.snapshots[0]['uid'] if result.snapshots else 'SNAPSHOT'} "
               f"-o explorer.html --db {result.database}")
