"""`xasrepo import`: calculation sets (directories with calcset.toml)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import DbOption, _progress, app


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="A calculation-set directory (with calcset.toml).")],
    db: DbOption = None,
) -> None:
    """Import a calculation set: validate everything first, then write it in one transaction."""
    from repository import db as database
    from repository.calcset import read_calcset
    from repository.importer import import_calcset

    database.resolve_url(db)  # fail fast on a bad --db before reading files
    progress, update = _progress(f"reading {path}")
    with progress:
        # Validate everything before the database is even opened: bad input leaves it untouched.
        plan = read_calcset(path, progress=update)
        engine = database.connect(db)
        progress.update(progress.task_ids[0], description="writing", completed=0)
        summary = import_calcset(engine, plan, progress=update)
    engine.dispose()
    if not summary.changed:
        typer.echo(f"set {summary.name!r} is already imported: nothing changed ({summary.entries_skipped} entries)")
        return
    verb = "imported" if summary.status == "imported" else "extended"
    typer.echo(
        f"{verb} set {summary.name!r}: {summary.entries_new} entries, {summary.spectra_new} spectra "
        f"({summary.spectra_existing} already present), {summary.structures_new} new structures, "
        f"{summary.dos_new} DOS curves, {summary.descriptors_new} descriptors"
        + (f"; {summary.entries_skipped} entries were already there" if summary.entries_skipped else ""))
