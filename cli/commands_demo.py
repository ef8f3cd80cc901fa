"""`xasrepo demo`: the main job on the bundled boron nitride data."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from .common import app


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help=(
        "Directory for the database (OUT/xasrepo.db), its snapshots (OUT/xasrepo.snapshots/, the default "
        "of every command) and the plots (OUT/plots/)."))]
    = Path("xasrepo-demo"),
    data: Annotated[Path | None, typer.Option(help="Calculation set to use instead of the bundled data/bn.")]
    = None,
    db: Annotated[str | None, typer.Option(
        "--db", help="Database file or URL to build (default OUT/xasrepo.db; $XASREPO_DB is not used here).")]
    = None,
) -> None:
    """Build a database from the bundled BN set, embed it by UMAP, PCA and MDS, and plot it."""
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from rich.console import Console

    from repository.calcset import BUNDLED_SET
    from repository.demo import display_path, run_demo

    console = Console(stderr=True)
    with console.status("starting") as status:
        result = run_demo(out, data or BUNDLED_SET, db=db, say=lambda message: status.update(message))
    counts = result.counts
    database = display_path(result.database_file) if result.database_file is not None else result.database
    typer.echo(f"database   {database}  ({result.import_status}: {counts['spectrum']} spectra, "
               f"{counts['structure']} structures, {counts['dos']} DOS curves, {counts['descriptor']} descriptors)")
    typer.echo(f"snapshots  {display_path(result.snapshot_dir)}")
    for snap in result.snapshots:
        typer.echo(f"  {snap['uid']:<36} {snap['method']:<5} {snap['element']} {snap['edge']}  "
                   f"{snap['n_spectra']} spectra{'  (reused)' if snap['reused'] else ''}")
    typer.echo(f"plots      {display_path(result.plot_dir)}  ({len(result.plots)} PNG files)")
    for line in result.skipped:
        typer.echo(f"skipped    {line}")
    for line in result.padding:  # spectra that end inside the energy window are padded there
        typer.echo(f"padded     {line}")
    for line in result.notes:  # "note: ..." on stderr, as `xasrepo embed` says it
        typer.echo(line, err=True)
    command, db_option = command_name(), f"--db {shlex.quote(database)}"
    typer.echo(f"next       {command} query {shlex.quote(result.example_query)} {db_option}\n"
               f"           {command} explore {result.snapshots[0]['uid'] if result.snapshots else 'SNAPSHOT'} "
               f"-o explorer.html {db_option}")


def command_name(argv0: str | None = None) -> str:
    """How the user can run xasrepo again: ``xasrepo`` when that name on the PATH is the running
    script, else the running script's path (relative to the current directory when inside it),
    e.g. ``.venv/bin/xasrepo`` after ``./run demo``."""
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository.demo import display_path

    running = Path(argv0 if argv0 is not None else sys.argv[0])
    if running.name != "xasrepo" or not running.is_file():  # e.g. python -m cli.main, or a test runner
        return "xasrepo"
    on_path = shutil.which("xasrepo")
    if on_path and Path(on_path).resolve() == running.resolve():
        return "xasrepo"
    shown = display_path(running)
    return shlex.quote(shown if "/" in shown else f"./{shown}")
