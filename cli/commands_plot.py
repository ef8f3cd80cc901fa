"""`xasrepo plot embedding|spectra` (PNG pictures) and `xasrepo explore` (interactive HTML page)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import DbOption, app

plot_app = typer.Typer(help="Pictures (PNG): a snapshot's embedding, or spectra with their DOS.",
                       no_args_is_help=True)
app.add_typer(plot_app, name="plot")

SnapshotArgument = Annotated[str, typer.Argument(
    metavar="SNAPSHOT", help="A snapshot Parquet file, or a registered snapshot's id or uid.")]


def _snapshot_path(snapshot: str, db: str | None) -> Path:
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository import db as database
    from repository.plots.frame import resolve_snapshot

    return resolve_snapshot(snapshot, lambda: database.connect(db, read_only=True))


@plot_app.command("embedding")
def plot_embedding(
    snapshot: SnapshotArgument,
    color_by: Annotated[str, typer.Option("--color-by", "-c", help=(
        "Snapshot column to colour by: categories get a legend (crystal_system, defect_kind, "
        "dimensionality...), numbers a colour bar (hirshfeld_charge...)."))],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="PNG file (default: "
                                                   "SNAPSHOT-FIELD.png).", show_default=False)] = None,
    title: Annotated[str | None, typer.Option(help="Title above the plot.")] = None,
    db: DbOption = None,
) -> None:
    """Draw a snapshot's embedding as a PNG, points coloured by any property column."""
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository.plots.embedding import plot_embedding as draw

    path = _snapshot_path(snapshot, db)
    output = output or Path(f"{path.stem}-{color_by}.png")
    typer.echo(f"wrote {draw(path, color_by, output, title=title)}")


@plot_app.command("spectra")
def plot_spectra(
    ids: Annotated[list[int] | None, typer.Argument(metavar="IDS", help="Spectrum ids.",
                                                       show_default=False)] = None,
    where: Annotated[str | None, typer.Option(help="Query filter instead of ids, e.g. "
                                                 "'element = B and defect.kind = vacancy'.")] = None,
    element: Annotated[str | None, typer.Option(help="All spectra of this absorbing element.")] = None,
    edge: Annotated[str | None, typer.Option(help="... at this edge (K, L3...).")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N chosen spectra (by id).",
                                              show_default=False)] = None,
    offset: Annotated[str | None, typer.Option(help="Stack spectra: 'auto' or a step in intensity "
                                                  "units (default: overlaid).", show_default=False)] = None,
    normalize: Annotated[bool, typer.Option("--normalize", help="Scale each spectrum to a maximum of 1.")] = False,
    dos: Annotated[bool, typer.Option("--dos", help="Draw the absorber's DOS beside each spectrum.")] = False,
    output: Annotated[Path, typer.Option("--output", "-o", help="PNG file.")] = Path("spectra.png"),
    title: Annotated[str | None, typer.Option(help="Title above the plot.")] = None,
    db: DbOption = None,
) -> None:
    """Draw spectra (energy in eV) as a PNG, overlaid or offset, optionally with their DOS."""
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository import db as database
    from repository.plots.spectra import choose_spectra
    from repository.plots.spectra import plot_spectra as draw

    with database.connected(db, read_only=True) as engine:
        chosen = choose_spectra(engine, ids=ids or (), where=where, element=element, edge=edge, limit=limit)
        path = draw(engine, chosen, output, offset=offset, normalize=normalize, with_dos=dos, title=title)
    typer.echo(f"wrote {path} ({len(chosen)} spectr{'um' if len(chosen) == 1 else 'a'})")


@app.command("explore")
def explore(
    snapshot: SnapshotArgument,
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")] = Path("explorer.html"),
    color_by: Annotated[str | None, typer.Option("--color-by", "-c", help="Colouring shown first "
                                                    "(the page has a selector).")] = None,
    spectra: Annotated[bool, typer.Option("--spectra/--no-spectra", help="Embed the spectra from the "
                                          "database (--no-spectra: properties only).")] = True,
    title: Annotated[str | None, typer.Option(help="Page title.")] = None,
    db: DbOption = None,
) -> None:
    """Write one self-contained HTML page (works offline) to explore a snapshot: the embedding with a
    colour-by selector; hovering or clicking a point shows its spectrum and properties."""
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository import db as database
    from repository.plots.explorer import explore as write

    path = _snapshot_path(snapshot, db)
    if spectra:
        with database.connected(db, read_only=True) as engine:
            written = write(path, output, engine=engine, title=title, color_by=color_by)
    else:
        written = write(path, output, engine=None, title=title, color_by=color_by)
    size_mb = written.stat().st_size / 1e6
    typer.echo(f"wrote {written} ({size_mb:.1f} MB; open it in a browser, no network needed)")
