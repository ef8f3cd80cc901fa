"""`xasrepo import`: calculation sets (directories with calcset.toml) and data files in the formats
XAS people already have (XDI, column files, pymatgen JSON, FEFF, Athena projects)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import DbOption, _progress, app, renamed_option

CALCSET_MANIFEST = "calcset.toml"
FORMAT_HELP = "Read as this format instead of detecting it: xdi, columns (csv), json (pymatgen), feff, athena."


@app.command("import")
def import_(
    paths: Annotated[list[Path], typer.Argument(
        help="A calculation-set directory (with calcset.toml), or data files / directories of data files.")],
    db: DbOption = None,
    fmt: Annotated[Optional[str], typer.Option("--read-format", help=FORMAT_HELP)] = None,
    fmt_old: Annotated[Optional[str], typer.Option("--format", hidden=True,
                                                   help="Deprecated: --read-format.")] = None,
    energy_col: Annotated[Optional[str], typer.Option(help="Energy column: number (1-based) or name.")] = None,
    signal_col: Annotated[Optional[str], typer.Option(help="Signal column: number or name.")] = None,
    i0_col: Annotated[Optional[str], typer.Option(
        help="I0 column: the signal is divided by it (ln(I0/I) with --mode transmission).")] = None,
    edge_energy: Annotated[Optional[float], typer.Option(
        help="Edge energy in eV, added to energies given relative to the edge.")] = None,
    energy_unit: Annotated[Optional[str], typer.Option(
        help="Unit of the energy column when the file does not say (or says wrongly): eV or keV.")] = None,
    element: Annotated[Optional[str], typer.Option(help="Absorbing element (overrides the file).")] = None,
    edge: Annotated[Optional[str], typer.Option(help="Absorption edge: K, L1, L2, L3, ... (overrides the file).")] = None,
    spectrum_type: Annotated[Optional[str], typer.Option(
        "--type", help="XANES, EXAFS or XAFS (default: from the file, or XAFS when the scan spans > 300 eV).")] = None,
    sample: Annotated[Optional[str], typer.Option(help="Sample name.")] = None,
    facility: Annotated[Optional[str], typer.Option(help="Facility, e.g. APS.")] = None,
    beamline: Annotated[Optional[str], typer.Option(help="Beamline, e.g. 13-ID-E.")] = None,
    mode: Annotated[Optional[str], typer.Option(
        help="Measurement mode: transmission, fluorescence, TEY, TFY, PFY, ...")] = None,
    calibration_shift: Annotated[Optional[float], typer.Option(
        help="Energy calibration shift in eV (recorded; energies are stored as in the file).")] = None,
    origin: Annotated[Optional[str], typer.Option(
        help="experimental (default for measured formats) or computed (e.g. FDMNES output read as columns).")] = None,
    structure: Annotated[Optional[Path], typer.Option(
        help="Crystal structure file (CIF, POSCAR, pymatgen JSON) for a FEFF run.")] = None,
    defect_free: Annotated[bool, typer.Option(
        "--defect-free", help="The structure given with --structure or found beside the file (or in it) is known to "
                              "have no defect: recorded per spectrum, so `defect.kind = none` matches it. Without it "
                              "(and without a file that says so) the defect status is unknown.")] = False,
    keep_going: Annotated[bool, typer.Option(
        "--keep-going", help="Import the valid files and list the refused ones with their reasons (exit code 2 "
                             "if any was refused); without it a bad file stops the whole import.")] = False,
) -> None:
    """Import a calculation set, or spectra from data files.

    Every file is read and validated before anything is written; all spectra are then written in
    one transaction (a bad file leaves the database as it was). Re-importing a file changes nothing.
    """
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository.errors import UsageError

    fmt = renamed_option("--format", "--read-format", fmt_old, fmt)
    if len(paths) == 1 and paths[0].is_dir() and (paths[0] / CALCSET_MANIFEST).is_file():
        options_given = [fmt, energy_col, signal_col, i0_col, edge_energy, energy_unit, element, edge, spectrum_type, sample,
                         facility, beamline, mode, calibration_shift, origin, structure]
        if any(o is not None for o in options_given) or keep_going or defect_free:
            raise UsageError("reading options apply to data files, not to a calculation set (calcset.toml)")
        _import_calcset(paths[0], db)
        return
    if any(p.is_dir() and (p / CALCSET_MANIFEST).is_file() for p in paths):
        raise UsageError("import a calculation set on its own, not together with other paths")

    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository import db as database
    from repository.formats import ReadOptions, normalize_format, read_paths
    from repository.importer import import_records

    options = ReadOptions(
        energy_col=energy_col, signal_col=signal_col, i0_col=i0_col, edge_energy_ev=edge_energy, element=element,
        edge=edge, spectrum_type=spectrum_type, sample_name=sample, facility=facility, beamline=beamline,
        measurement_mode=mode, calibration_shift_ev=calibration_shift, origin=origin, structure_path=structure,
        energy_unit=energy_unit, defect_free=defect_free)
    fmt = normalize_format(fmt)
    progress, update = _progress("reading files")
    with progress:
        # Every file is read and validated before the database is opened.
        refused: list | None = [] if keep_going else None
        records = read_paths(paths, fmt, options, progress=update, refused=refused)
    if refused and not records:
        for _, message in refused:
            typer.echo(f"refused: {message}", err=True)
        raise UsageError(f"{len(refused)} file(s) refused, none imported")
    for record in records:  # what was converted, defaulted or dropped: one line each, on stderr
        for warning in record.metadata.get("import_warnings", []):
            typer.echo(f"warning: {warning}", err=True)
    with progress:
        progress.update(progress.task_ids[0], description="writing", completed=0, total=None)
        with database.connected(db) as engine:
            summary = import_records(engine, records)
            unapplied = _unapplied(engine, summary, options)
    _summarise(summary, records, options, unapplied)
    if refused:
        for _, message in refused:
            typer.echo(f"refused: {message}", err=True)
        typer.echo(f"error: {len(refused)} file(s) refused (listed above); the others were imported", err=True)
        raise typer.Exit(2)


def _unapplied(engine, summary, options) -> dict[int, list[str]]:
    """For each spectrum found already present: the label options it does not carry (stored values)."""
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository.catalog import get_spectrum
    from repository.formats.common import unapplied_options

    ids = {spectrum_id for _, spectrum_id in summary.already_present}
    return {i: unapplied_options(options, get_spectrum(engine, i, with_arrays=False)) for i in sorted(ids)}


def _summarise(summary, records, options=None, unapplied: dict[int, list[str]] | None = None) -> None:
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository.formats.common import given_options

    files = len({r.source_file for r in records})
    given = given_options(options) if options is not None else []
    for source, spectrum_id in summary.already_present:  # by content: element, edge and arrays
        differs = (unapplied or {}).get(spectrum_id, [])
        agreed = f" (read with {', '.join(given)}: the same arrays and labels as stored)" if given and not differs else ""
        typer.echo(f"already present: {_shown(source)} is spectrum {spectrum_id}{agreed}")
        if differs:  # an import never changes a stored spectrum: say which options had no effect
            typer.echo(f"warning: {_shown(source)}: not applied, spectrum {spectrum_id} was already stored and an "
                       f"import never changes a stored spectrum: {'; '.join(differs)}", err=True)
    if not summary.changed:
        typer.echo(f"all {len(records)} spectra from {files} file(s) are already imported: nothing changed")
        return
    ids = summary.spectrum_ids
    shown = ", ".join(map(str, ids[:10])) + (" ..." if len(ids) > 10 else "")
    noun = "spectrum" if summary.spectra_new == 1 else "spectra"
    typer.echo(f"imported {summary.spectra_new} {noun} from {files} file(s)"
               + (f" ({summary.spectra_existing} already present)" if summary.spectra_existing else "")
               + (f", {summary.structures_new} new structures" if summary.structures_new else "")
               + f"; ids {shown}")


def _shown(path: str) -> str:
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository.errors import _as_given

    return _as_given(path)


def _import_calcset(path: Path, db: str | None) -> None:
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository import db as database
    from repository.calcset import read_calcset
    from repository.importer import import_calcset

    progress, update = _progress(f"reading {path}")
    with progress:
        # Validate the whole set before the database is even opened: bad input leaves it untouched.
        plan = read_calcset(path, progress=update)
        progress.update(progress.task_ids[0], description="writing", completed=0)
        with database.connected(db) as engine:
            summary = import_calcset(engine, plan, progress=update)
    if not summary.changed:
        typer.echo(f"set {summary.name!r} is already imported: nothing changed ({summary.entries_skipped} entries)")
        return
    verb = "imported" if summary.status == "imported" else "extended"
    typer.echo(
        f"{verb} set {summary.name!r}: {summary.entries_new} entries, {summary.spectra_new} spectra "
        f"({summary.spectra_existing} already present), {summary.structures_new} new structures, "
        f"{summary.dos_new} DOS curves, {summary.descriptors_new} descriptors"
        + (f"; {summary.links_new} spectra already present were linked to the new calculations"
           if summary.links_new else "")
        + (f"; {summary.entries_skipped} entries were already there" if summary.entries_skipped else ""))
