"""`xasrepo export`: spectra as XDI, pymatgen JSON or CSV files."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Optional

import typer

from repository.conventions import WRITE_FORMATS

from .common import DbOption, _progress, app, edge_option, element_option

ExportFormat = StrEnum("ExportFormat", {name: name for name in WRITE_FORMATS})


@app.command("export")
def export(
    ids: Annotated[Optional[list[str]], typer.Argument(metavar="[IDS]...", help="Spectrum ids (12 or spectrum:12).")] = None,
    db: DbOption = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="xdi, json (pymatgen XAS.as_dict) or csv.")] = ExportFormat.xdi,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write into (created if needed).")] = Path("."),
    where: Annotated[Optional[str], typer.Option(
        help="Filter selecting spectra, e.g. \"element = B and edge = K\" (see `xasrepo query --help`).")] = None,
    element: Annotated[Optional[str], typer.Option(help="Only spectra of this absorbing element.")] = None,
    edge: Annotated[Optional[str], typer.Option(help="Only spectra of this edge.")] = None,
) -> None:
    """Write spectra to files that other XAS tools read; prints the paths written.

    Reading an exported file back (`xasrepo import`) gives the same arrays and metadata.
    """
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository import db as database
    from repository.catalog import list_spectra, parse_record_id
    from repository.errors import UsageError
    from repository.export import export_spectra

    element, edge = element_option(element), edge_option(edge)
    selected: list[int] = []
    for text in ids or []:
        kind, number = parse_record_id(text)
        if kind != "spectrum":
            raise UsageError(f"only spectra can be exported, not {kind} ({text})")
        selected.append(number)
    with database.connected(db, read_only=True) as engine:
        if where is not None or element is not None or edge is not None:
            if where is not None:
                # lazy import: start-up time (`xasrepo --help` must not load the library)
                from repository.query import spectrum_ids

                matched = spectrum_ids(engine, where)
            else:
                matched = None
            if element is not None or edge is not None:
                rows = list_spectra(engine, element=element, edge=edge, limit=None)
                by_columns = [r["spectrum_id"] for r in rows]
                wanted = set(by_columns)
                matched = by_columns if matched is None else [i for i in matched if i in wanted]
            selected += [i for i in matched if i not in selected]
            if not selected:
                raise UsageError("no spectrum matches the filter: nothing to export")
        if not selected:
            raise UsageError("give spectrum ids, --where FILTER, or --element/--edge")
        progress, update = _progress(f"writing {fmt.value}")
        with progress:
            written = export_spectra(engine, selected, out, fmt.value, progress=update)
    for path in written:
        typer.echo(str(path))
