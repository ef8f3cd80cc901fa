"""`xasrepo plot embedding|spectra` (PNG pictures) and `xasrepo explore` (interactive HTML page)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from repository.conventions import Normalization

from .common import DbOption, app, choice_metavar, dashed_choice, edge_option, element_option, renamed_option

plot_app = typer.Typer(help="Pictures (PNG, SVG or PDF by the file suffix): a snapshot's embedding, spectra "
                            "with their DOS, or the overview figure of the bundled set.",
                       no_args_is_help=True)
app.add_typer(plot_app, name="plot")

SnapshotArgument = Annotated[str, typer.Argument(
    metavar="SNAPSHOT", help="A snapshot Parquet file, or a registered snapshot's id or uid.")]
# the same choices and spellings as `embed --norm` (dashes, underscores accepted: cli.common.dashed_choice)
NORM_CHOICES = [n.value.replace("_", "-") for n in Normalization]
DpiOption = Annotated[int, typer.Option("--dpi", help="Resolution of PNG output (dots per inch).")]


def _snapshot_path(snapshot: str, db: str | None) -> Path:
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository import db as database
    from repository.plots.frame import resolve_snapshot

    return resolve_snapshot(snapshot, lambda: database.connect(db, read_only=True))


@plot_app.command("embedding")
def plot_embedding(
    snapshot: SnapshotArgument,
    color_by: Annotated[str, typer.Option("--color-by", "-c", help=(
        "Snapshot column to colour by, as named in the file or in any spelling of the query language "
        "(absorber.defect_distance): categories get a legend (crystal_system, defect_kind, "
        "dimensionality...), numbers a colour bar (hirshfeld_charge...)."))],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Picture file, .png, .svg or .pdf "
                                                   "(default: SNAPSHOT-FIELD.png).", show_default=False)] = None,
    axes: Annotated[str, typer.Option("--axes", help="Two coordinates to draw, e.g. x,z for a 3-D "
                                                     "snapshot.")] = "x,y",
    contours: Annotated[bool, typer.Option("--contours", help="Draw a density contour (half of the "
                                                              "points) for each category.")] = False,
    title: Annotated[str | None, typer.Option(help="Title above the plot (default: element, edge, "
                                                   "method and count in words).")] = None,
    dpi: DpiOption = 150,
    db: DbOption = None,
) -> None:
    """Draw a snapshot's embedding, points coloured by any property column; axes named per method
    (PC1 with its explained variance, UMAP 1, MDS 1), signed quantities on a scale centred on 0."""
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository.plots.embedding import check_output
    from repository.plots.embedding import plot_embedding as draw
    from repository.query.fields import field_column

    if output is not None:
        check_output(output)
    path = _snapshot_path(snapshot, db)
    output = output or Path(f"{path.stem}-{field_column(color_by) or color_by}.png")
    typer.echo(f"wrote {draw(path, color_by, output, title=title, axes=axes, contours=contours, dpi=dpi)}")


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
    norm: Annotated[str, typer.Option("--norm", help="Normalisation, named on the axis: none, max, area, "
                                                     "or edge-step (Athena/Larch pre_edge; measured spectra only).",
                                      metavar=choice_metavar(NORM_CHOICES),
                                      parser=dashed_choice(NORM_CHOICES, "--norm"))] = "none",
    normalize: Annotated[bool, typer.Option("--normalize", hidden=True,
                                            help="Deprecated: --norm max.")] = False,
    dos: Annotated[bool, typer.Option("--dos", help="Draw the absorber's DOS beside each spectrum.")] = False,
    snapshot: Annotated[str | None, typer.Option("--snapshot", help="Shade the energy window of this "
                                                 "snapshot's recipe (file, id or uid).")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Picture file: .png, .svg or .pdf.")
                      ] = Path("spectra.png"),
    title: Annotated[str | None, typer.Option(help="Title above the plot (default: edges, materials and "
                                                   "count in words).")] = None,
    dpi: DpiOption = 150,
    db: DbOption = None,
) -> None:
    """Draw spectra (energy in eV), one panel per element and edge, overlaid or stacked with labels,
    optionally with their DOS."""
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository import db as database
    from repository.plots.embedding import check_output
    from repository.plots.spectra import check_normalization, choose_spectra
    from repository.plots.spectra import plot_spectra as draw

    check_output(output)
    element, edge = element_option(element), edge_option(edge)
    how = check_normalization(renamed_option("--normalize", "--norm max", "max" if normalize else None,
                                             norm, default="none"))
    window = _snapshot_path(snapshot, db) if snapshot else None
    with database.connected(db, read_only=True) as engine:
        chosen = choose_spectra(engine, ids=ids or (), where=where, element=element, edge=edge, limit=limit)
        path = draw(engine, chosen, output, offset=offset, normalize=how, with_dos=dos, title=title, dpi=dpi,
                    snapshot=window)
    typer.echo(f"wrote {path} ({len(chosen)} spectr{'um' if len(chosen) == 1 else 'a'})")


@plot_app.command("overview")
def plot_overview(
    output: Annotated[Path, typer.Option("--output", "-o", help="Picture file: .png, .svg or .pdf.")
                      ] = Path("bn-overview.png"),
    data: Annotated[Path | None, typer.Option("--data", help="Calculation set folder (default: the bundled "
                                              "boron nitride set, data/bn).", show_default=False)] = None,
    dpi: DpiOption = 150,
    db: Annotated[str | None, typer.Option("--db", help="Build in this database and keep it (path or URL; "
                                           "default: a temporary SQLite file, removed afterwards).",
                                           show_default=False)] = None,
) -> None:
    """The overview figure of a computed set, built from scratch in a temporary database: per element
    and edge, the PCA map coloured by polymorph, by defect kind at near-defect sites and by σ charge
    transfer, next to one pristine spectrum per polymorph with π* and σ* marked."""
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository.plots.embedding import check_output
    from repository.calcset import BUNDLED_SET
    from repository.plots.figure import bundled_overview

    check_output(output)
    result = bundled_overview(output, data or BUNDLED_SET, dpi=dpi, db=db, progress=typer.echo)
    groups = ", ".join(f"{key}: {n} spectra" for key, n in result["n_spectra"].items())
    typer.echo(f"wrote {result['output']} ({groups})")


@app.command("explore")
def explore(
    snapshot: SnapshotArgument,
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")] = Path("explorer.html"),
    color_by: Annotated[str | None, typer.Option("--color-by", "-c", help="Colouring shown first "
                                                    "(the page has a selector).")] = None,
    spectra: Annotated[bool, typer.Option("--spectra/--no-spectra", help="Embed the spectra from the "
                                          "database (--no-spectra: properties only). At most 200,000 "
                                          "spectra; 1,000,000 points without.")] = True,
    spectrum_points: Annotated[int, typer.Option("--spectrum-points", min=2, help="Thin each embedded "
                                                 "spectrum to at most this many evenly spaced points "
                                                 "(~2.7 bytes of page per point).")] = 300,
    title: Annotated[str | None, typer.Option(help="Page title.")] = None,
    db: DbOption = None,
) -> None:
    """Write one self-contained HTML page (works offline) to explore a snapshot: the embedding with a
    colour-by selector; hovering or clicking a point shows its spectrum and properties."""
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository import db as database
    from repository.plots.explorer import explore as write

    path = _snapshot_path(snapshot, db)
    report: dict = {}
    if spectra:
        with database.connected(db, read_only=True) as engine:
            written = write(path, output, engine=engine, title=title, color_by=color_by,
                            max_points=spectrum_points, report=report)
    else:
        written = write(path, output, engine=None, title=title, color_by=color_by, report=report)
    typer.echo(f"wrote {written} ({report['points']:,} points, {report['spectra']:,} spectra, "
               f"{report['bytes'] / 1e6:.1f} MB; open it in a browser, no network needed)")
