"""``xasrepo embed``, ``xasrepo snapshots ...`` and ``xasrepo project``: thin wrappers over
:mod:`repository.analysis` (see docs/analysis.md)."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperCommand

from repository import conventions
from repository.conventions import EmbeddingMethod

from .common import (DbOption, FormatOption, RecordFormatOption, _progress, app, choice_metavar, dashed_choice,
                     edge_option, element_option, renamed_option)
from .output import OutputFormat, RecordFormat, render_record, render_rows, visible

WHERE_HELP = "Query filter, e.g. 'element = B and crystal_system = hexagonal' (see `xasrepo fields`)."
SNAPSHOT_DIR_HELP = "Directory for snapshot files (env XASREPO_SNAPSHOT_DIR; default: beside an SQLite database)."


def _dashed(choices: type[StrEnum]) -> type[StrEnum]:
    """The library's choices as option values, with ``-`` for ``_`` (``edge_onset`` -> ``edge-onset``)."""
    return StrEnum(choices.__name__, {member.name: member.value.replace("_", "-") for member in choices})


Alignment = _dashed(conventions.Alignment)
Normalization = _dashed(conventions.Normalization)
MdsSolver = _dashed(conventions.MdsSolver)
ProjectAlign = _dashed(conventions.ProjectionAlignment)
PROJECT_ALIGN_CHOICES = [a.value for a in ProjectAlign]
ALIGN_CHOICES = [a.value for a in Alignment]
NORM_CHOICES = [n.value for n in Normalization]
MDS_SOLVER_CHOICES = [m.value for m in MdsSolver]
PROJECT_ALIGN_RENAMED = {old: new.replace("_", "-") for old, new in conventions.RENAMED_PROJECTION_ALIGNMENTS.items()}


def _recipe(recipe: str | None, energy_min: float | None, energy_max: float | None, step: float | None,
            align: str | None, normalize: str | None, broaden: float | None):
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository.analysis.recipe import Recipe, load_recipe

    base = load_recipe(recipe)
    changes = {k: v for k, v in {"energy_min_ev": energy_min, "energy_max_ev": energy_max, "step_ev": step,
                                     "alignment": align.replace("-", "_") if align else None,
                                     "normalization": normalize.replace("-", "_") if normalize else None,
                                     "broadening_fwhm_ev": broaden}.items() if v is not None}
    return Recipe.from_dict({**base.to_dict(), **changes}) if changes else replace(base)


@app.command("embed")
def embed(
    method: Annotated[EmbeddingMethod, typer.Option("--method", "-m", help="Embedding method.")] = EmbeddingMethod.umap,
    db: DbOption = None,
    where: Annotated[str | None, typer.Option("--where", help=WHERE_HELP)] = None,
    element: Annotated[str | None, typer.Option(help="Absorbing element, e.g. B.")] = None,
    edge: Annotated[str | None, typer.Option(help="Edge, e.g. K.")] = None,
    recipe: Annotated[str | None, typer.Option(
        "--recipe", help="Preprocessing recipe: a preset (absolute, shape), a JSON file or an inline JSON object "
                         "(options below override it).")] = None,
    energy_min: Annotated[float | None, typer.Option("--energy-min", help="Window start (eV).")] = None,
    energy_max: Annotated[float | None, typer.Option("--energy-max", help="Window end (eV).")] = None,
    step: Annotated[float | None, typer.Option("--step", help="Grid step (eV).")] = None,
    align: Annotated[str | None, typer.Option(
        "--align", help="Energy alignment.", metavar=choice_metavar(ALIGN_CHOICES),
        parser=dashed_choice(ALIGN_CHOICES, "--align"))] = None,
    norm: Annotated[str | None, typer.Option(
        "--norm", help="Normalisation (the recipe's `normalization`).", metavar=choice_metavar(NORM_CHOICES),
        parser=dashed_choice(NORM_CHOICES, "--norm"))] = None,
    normalize: Annotated[str | None, typer.Option("--normalize", hidden=True, help="Deprecated: --norm.",
                                                  parser=dashed_choice(NORM_CHOICES, "--normalize"))] = None,
    broaden: Annotated[float | None, typer.Option("--broaden", help="Gaussian broadening FWHM (eV).")] = None,
    n_components: Annotated[int, typer.Option("--n-components", help="2 or 3.")] = 2,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same coordinates).")] = 0,
    n_neighbors: Annotated[int | None, typer.Option("--n-neighbors", help="UMAP n_neighbors [15].")] = None,
    min_dist: Annotated[float | None, typer.Option("--min-dist", help="UMAP min_dist [0.1].")] = None,
    fit_sample: Annotated[int | None, typer.Option(
        "--fit-sample", help="UMAP: fit on a stratified, seeded sample of N spectra and place the rest with the "
                             "model's transform (for 10^5-10^6 spectra; see docs/analysis.md) [off: fit all].")] = None,
    backend: Annotated[str | None, typer.Option(
        "--backend", help="UMAP: umap-learn, cuml (RAPIDS cuML on a CUDA GPU, the optional extra; ran on an NVIDIA "
                          "H200, where its test passed; the test skips without a GPU, docs/analysis.md) or auto "
                          "[umap-learn].")] = None,
    mds_solver: Annotated[str | None, typer.Option(
        "--mds-solver", help="MDS: smacof (small sets), landmark (scalable) or auto [auto: smacof up to 2000].",
        metavar=choice_metavar(MDS_SOLVER_CHOICES), parser=dashed_choice(MDS_SOLVER_CHOICES, "--mds-solver"))] = None,
    landmarks: Annotated[int | None, typer.Option("--landmarks", help="Landmark MDS: number of landmarks [500].")] = None,
    snapshot_dir: Annotated[str | None, typer.Option("--snapshot-dir", help=SNAPSHOT_DIR_HELP)] = None,
    force: Annotated[bool, typer.Option("--force", help="Fit a new snapshot even if an identical one exists.")] = False,
    fmt: RecordFormatOption = RecordFormat.table,
) -> None:
    """Embed spectra (one element and edge) with UMAP, PCA or MDS and save a new snapshot version."""
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository import db as database
    from repository.analysis.create import EmbeddingRequest, create_snapshot
    from repository.errors import UsageError

    params = {"umap": {"n_neighbors": n_neighbors, "min_dist": min_dist, "fit_sample": fit_sample, "backend": backend},
              "mds": {"solver": mds_solver.replace("-", "_") if mds_solver else None, "n_landmarks": landmarks},
              "pca": {}}[method.value]
    given = {"--n-neighbors": n_neighbors, "--min-dist": min_dist, "--mds-solver": mds_solver, "--landmarks": landmarks,
             "--fit-sample": fit_sample, "--backend": backend}
    applies = {"umap": {"--n-neighbors", "--min-dist", "--fit-sample", "--backend"},
               "mds": {"--mds-solver", "--landmarks"}}.get(method.value, set())
    foreign = [name for name, value in given.items() if value is not None and name not in applies]
    if foreign:
        raise UsageError(f"{', '.join(foreign)} do(es) not apply to --method {method.value}")
    request = EmbeddingRequest(method=method.value, n_components=n_components, seed=seed, params=params,
                               recipe=_recipe(recipe, energy_min, energy_max, step, align,
                                              renamed_option("--normalize", "--norm", normalize, norm), broaden),
                               where=where, element=element_option(element), edge=edge_option(edge))
    progress, _update = _progress(f"embedding with {method.value}")
    with database.connected(db) as engine, progress:
        task = progress.task_ids[0]
        result = create_snapshot(engine, request, directory=snapshot_dir, force=force,
                                 progress=lambda message: progress.update(task, description=message))
    r = result.record
    summary = {"id": r["id"], "uid": r["uid"], "status": "reused" if result.reused else "created",
               "parent": r["parent_uid"], "method": r["method"], "n_components": r["n_components"],
               "seed": r["seed"], "element": r["element"], "edge": r["edge"], "rows": r["row_count"],
               "path": r["path"], "model_path": r["model_path"], "recipe": r["recipe"], "params": r["params"]}
    if result.info:
        summary["fit_info"] = result.info
    note = _neighbors_note(r, result.info, given=n_neighbors is not None)
    for line in ((note,) if note else ()) + result.notes:  # the notes' text: repository.analysis.create
        typer.echo(line, err=True)
    if result.window:
        window = result.window
        summary["window"] = {k: window[k] for k in ("window_ev", "rule", "excluded", "padded_start", "padded_end")}
        for line in _window_lines(window):
            typer.echo(line, err=True)
    render_record("snapshot", summary, fmt)


def _neighbors_note(record: dict, info: dict | None, *, given: bool) -> str | None:
    """One line when UMAP ran with fewer neighbours than asked (a set smaller than n_neighbors + 1
    spectra: repository.analysis.embed caps it at spectra - 1), else None. Said on stderr because
    a map of 5 spectra with "40 neighbours" would be read as a much smoother fit than it is. A
    reused snapshot says it again: same fit. The record holds the used value in params.n_neighbors
    and the request in params.n_neighbors_requested (repository.analysis.embed.recorded_params);
    snapshots made before that hold the request in params.n_neighbors."""
    params = record.get("params") or {}
    if params.get("n_neighbors") is None:
        return None
    requested = int(params.get("n_neighbors_requested", params["n_neighbors"]))
    if "n_neighbors_requested" in params:
        used = int(params["n_neighbors"])
    elif info and "n_neighbors_used" in info:
        used = int(info["n_neighbors_used"])
    elif not params.get("fit_sample") and record.get("row_count"):
        used = min(requested, int(record["row_count"]) - 1)  # an older record: the fit saw every row
    else:
        return None
    if used >= requested:
        return None
    asked = f"--n-neighbors {requested}" if given else f"n_neighbors {requested} (the default)"
    recorded = (" (params.n_neighbors; the request: params.n_neighbors_requested)"
                if "n_neighbors_requested" in params else "")
    return f"note: {asked} capped to {used}: UMAP needs fewer neighbours than the {used + 1} spectra it fits{recorded}"


def _window_lines(window: dict) -> list[str]:
    """One warning line each: spectra excluded or padded by the window, a window narrower than the data."""
    lines = []
    lo, hi = window["window_ev"]
    for key, rule in (("excluded", "cover less than half of it: excluded"),
                      ("padded_start", "start inside it: padded (first value held constant below)"),
                      ("padded_end", "end inside it: padded (last value held constant beyond)")):
        ids = window.get(key, [])
        if ids:
            listed = ", ".join(map(str, ids[:8])) + (f" ... ({len(ids)} in all)" if len(ids) > 8 else "")
            lines.append(f"warning: window {lo:g}-{hi:g} eV ({window['rule']}): spectra {listed} {rule}")
    if window.get("warning"):
        lines.append(f"warning: {window['warning']}")
    return lines


snapshots_app = typer.Typer(help="Embedding snapshots: list, show, status, diff, query, verify, relocate.", no_args_is_help=True)
app.add_typer(snapshots_app, name="snapshots")
SnapshotArg = Annotated[str, typer.Argument(metavar="ID", help="Snapshot id, uid, or unique uid prefix.")]


def _read_engine(db: str | None):
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository import db as database

    return database.connected(db, read_only=True)


@snapshots_app.command("list")
def snapshots_list(db: DbOption = None, fmt: FormatOption = OutputFormat.table) -> None:
    """Every snapshot, oldest first."""
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository.snapshots.registry import list_snapshots

    with _read_engine(db) as engine:
        rows = list_snapshots(engine)
    render_rows(rows, fmt, id_column="uid")


@snapshots_app.command("show")
def snapshots_show(snapshot: SnapshotArg, db: DbOption = None,
                   fmt: RecordFormatOption = RecordFormat.table
                   ) -> None:
    """One snapshot's registry record and Parquet footer metadata."""
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository.snapshots.files import check_file, footer_metadata
    from repository.snapshots.registry import get_snapshot

    with _read_engine(db) as engine:
        record = get_snapshot(engine, snapshot)
    record["files"] = {kind: check_file(record[key], record[digest]) for kind, key, digest in
                       (("snapshot", "path", "sha256"), ("model", "model_path", "model_sha256"))}
    if Path(record["path"]).is_file():  # an unreadable file is one error line, without the warning
        record["footer"] = footer_metadata(record["path"])
    for kind, status in record["files"].items():
        if status in ("missing", "altered"):
            what = "does not match its registered SHA-256 (altered or replaced)" if status == "altered" else "is missing"
            shown = "; the footer shown is the file's, not what was registered" if kind == "snapshot" and \
                status == "altered" else ""
            typer.echo(visible(f"warning: snapshot {record['uid']}: {kind} file {record['path' if kind == 'snapshot' else 'model_path']} "
                               f"{what}{shown} (see `xasrepo snapshots verify`)"), err=True)
    render_record("snapshot", record, fmt)


@snapshots_app.command("status")
def snapshots_status(db: DbOption = None, fmt: FormatOption = OutputFormat.table) -> None:
    """Which snapshots are stale: matching spectra added, changed or removed since they were made."""
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository.snapshots.status import snapshot_status

    with _read_engine(db) as engine:
        rows = snapshot_status(engine)
    render_rows(rows, fmt, id_column="uid")


@snapshots_app.command("diff")
def snapshots_diff(a: SnapshotArg, b: Annotated[str, typer.Argument(
                       metavar="ID_B", help="The snapshot to compare with ID: id, uid, or unique uid prefix.")],
                   db: DbOption = None,
                   fmt: FormatOption = OutputFormat.table,
                   limit: Annotated[int, typer.Option("--limit", help="Rows to list (0: all).")] = 20) -> None:
    """Spectra added/removed from A to B and the Procrustes-aligned displacement of shared ones."""
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository.snapshots.status import diff_snapshots

    with _read_engine(db) as engine:
        result = diff_snapshots(engine, a, b)
    rows = result["rows"][:limit] if limit else result["rows"]
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps({"summary": result["summary"], "rows": rows}, indent=1) + "\n")
        return
    if fmt is OutputFormat.table:
        render_record("diff", {"id": f"{a} -> {b}", **result["summary"]}, fmt)
    render_rows(rows, fmt, id_column="spectrum_id")


@snapshots_app.command("query")
def snapshots_query(snapshot: SnapshotArg, db: DbOption = None,
                    where: Annotated[str | None, typer.Option("--where", help=WHERE_HELP)] = None,
                    sort: Annotated[str | None, typer.Option("--sort", help="FIELD[:desc].")] = None,
                    limit: Annotated[int, typer.Option("--limit", help="At most this many rows (0: all).")] = 0,
                    fmt: FormatOption = OutputFormat.table) -> None:
    """Rows of a snapshot (coordinates and properties) matching a filter."""
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository.snapshots.registry import query_snapshot

    with _read_engine(db) as engine:
        rows = query_snapshot(engine, snapshot, where, sort=sort, limit=limit or None)
    render_rows(rows, fmt, id_column="spectrum_id")


@snapshots_app.command("verify")
def snapshots_verify(db: DbOption = None, fmt: FormatOption = OutputFormat.table,
                     prune: Annotated[bool, typer.Option(
                         "--prune", help="Delete the unregistered snapshot and temporary files it reports "
                                         "(and nothing else).")] = False) -> None:
    """Recompute every snapshot's and model's SHA-256 and look for unregistered snapshot files and
    temporary files in the snapshot folders; exit code 1 naming any missing, altered or stray file."""
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository import db as database
    from repository.snapshots.registry import check_verified, stray_snapshot_files, verify_snapshots

    with database.connected(db, read_only=not prune) as engine:
        results = verify_snapshots(engine) + stray_snapshot_files(engine, prune=prune)
    render_rows(results, fmt, id_column="uid")
    check_verified(results)


@snapshots_app.command("relocate")
def snapshots_relocate(
    old: Annotated[str, typer.Argument(metavar="OLD", help="The folder the snapshot files were registered in.")],
    new: Annotated[str, typer.Argument(metavar="NEW", help="The folder that holds them now.")],
    db: DbOption = None, fmt: FormatOption = OutputFormat.table,
) -> None:
    """Repair the registry after snapshot files moved from folder OLD to NEW (each file checked
    against its SHA-256 first; all or nothing)."""
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository import db as database
    from repository.snapshots.registry import relocate_snapshots

    with database.connected(db) as engine:
        rows = relocate_snapshots(engine, old, new)
    render_rows(rows, fmt, id_column="uid")


# The --align help names the limit repository.analysis.project enforces, read from its constant when
# the help is shown: importing that module when the CLI starts would load numpy (start-up time).
PROJECT_ALIGN_HELP = ("edge-onset: move the edge onset onto the snapshot's; fit: then the best-matching shift within "
                      "+-{search:g} eV of that, keeping the spectrum's maximum within {slack:g} eV of the window "
                      "(refused when the best lies at a limit); no alignment moves a spectrum more than "
                      "{max_shift:g} eV (relative energies, unknown calibration).")


class _ShiftLimitHelp:
    """The ``--align`` help, with the limits of :mod:`repository.analysis.project` (``FIT_SEARCH_EV``,
    ``FIT_FEATURE_SLACK_EV``, ``MAX_ALIGNMENT_SHIFT_EV``) read when the help is read (click sets ``help`` once; that value is ignored)."""

    def __get__(self, option, owner=None) -> str:
        # lazy import: numpy and the analysis layer, only when this help is read
        from repository.analysis.project import FIT_FEATURE_SLACK_EV, FIT_SEARCH_EV, MAX_ALIGNMENT_SHIFT_EV

        return PROJECT_ALIGN_HELP.format(search=FIT_SEARCH_EV, slack=FIT_FEATURE_SLACK_EV,
                                         max_shift=MAX_ALIGNMENT_SHIFT_EV)

    def __set__(self, option, value) -> None:
        pass


class ProjectCommand(TyperCommand):
    """``xasrepo project``, whose ``--align`` help names the limit the library enforces (:class:`_ShiftLimitHelp`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for param in self.params:
            if param.name == "align":
                param.__class__ = type("ShiftLimitOption", (type(param),), {"help": _ShiftLimitHelp()})


@app.command("project", cls=ProjectCommand)
def project(
    file: Annotated[Path | None, typer.Argument(metavar="[FILE]", help="A spectrum data file.")] = None,
    snapshot: Annotated[str, typer.Option("--snapshot", "-s", help="Snapshot id or uid.")] = ...,
    spectrum: Annotated[int | None, typer.Option("--spectrum", help="A stored spectrum's id instead of FILE.")] = None,
    db: DbOption = None,
    k: Annotated[int, typer.Option("-k", "--k", help="Nearest computed spectra to list.")] = 10,
    shift: Annotated[float, typer.Option("--shift", help="Add this many eV to the energies (calibration offset).")] = 0.0,
    align: Annotated[str, typer.Option(
        "--align", help="(filled in by ProjectCommand)", metavar=choice_metavar(PROJECT_ALIGN_CHOICES),
        parser=dashed_choice(PROJECT_ALIGN_CHOICES, "--align", PROJECT_ALIGN_RENAMED))] = ProjectAlign.none.value,
    edge_energy: Annotated[float | None, typer.Option(
        "--edge-energy", help="Add this edge energy (eV) to a file's relative energies (not needed with --align edge-onset/fit).")] = None,
    epochs: Annotated[int, typer.Option("--epochs", help="UMAP: SGD epochs after the weighted-mean start (0: none).")] = 100,
    element: Annotated[str | None, typer.Option(
        "--element", help="Absorbing element, when the file does not say (a file that says another is refused).")] = None,
    edge: Annotated[str | None, typer.Option(
        "--edge", help="Edge (K, L3, ...), when the file does not say (a file that says another is refused).")] = None,
    read_format: Annotated[str | None, typer.Option(
        "--read-format", help="Read FILE as this format (xdi, columns, ...), as `import --read-format`.")] = None,
    signal_col: Annotated[str | None, typer.Option("--signal-col", help="Signal column: number or name.")] = None,
    i0_col: Annotated[str | None, typer.Option("--i0-col", help="I0 column: the signal is divided by it.")] = None,
    energy_col: Annotated[str | None, typer.Option("--energy-col", help="Energy column: number or name.")] = None,
    mode: Annotated[str | None, typer.Option(
        "--mode", help="Measurement mode: transmission, fluorescence, ... (as `import --mode`).")] = None,
    rank_by: Annotated[str, typer.Option(
        "--rank-by", metavar="map|spectral",
        help="Rank the neighbours by distance in the map (default) or by spectral RMS difference "
             "(what the coverage verdict uses).")] = "map",
    fmt: Annotated[OutputFormat, typer.Option(
        "--format", "-f", help="table, json (placement and neighbours), csv or ids (neighbours).")] = OutputFormat.table,
) -> None:
    """Place a spectrum in a snapshot's embedding and list its nearest computed spectra."""
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from repository import db as database
    from repository.analysis.project import domain_lines
    from repository.analysis.project import project as place
    from repository.errors import UsageError

    read_options = {"format": read_format, "signal_col": signal_col, "i0_col": i0_col, "energy_col": energy_col,
                    "measurement_mode": mode}
    if file is None and any(v is not None for v in (element, edge, edge_energy, *read_options.values())):
        raise UsageError("--element, --edge, --edge-energy and the reading options apply to FILE, not to --spectrum")
    # what the file holds when it does not say; a file that says otherwise is refused by the reader
    # (repository.formats.common.check_stated), never projected as what it is not
    read_options.update(fallback_element=element_option(element), fallback_edge=edge_option(edge))
    with database.connected(db, read_only=True) as engine:
        result = place(engine, snapshot, file=file, spectrum_id=spectrum, k=k, shift_ev=shift,
                       align=align.replace("-", "_"), edge_energy_ev=edge_energy, epochs=epochs, read_options=read_options,
                       rank_by=rank_by)
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(result, indent=1, default=str) + "\n")
        return
    coords = ", ".join(f"{c:.4g}" for c in result["coordinates"])
    shifted = f", energies shifted by {result['energy_shift_ev']:+.2f} eV" if result["energy_shift_ev"] else ""
    # csv/ids are for piping: the placement line then goes to stderr, the neighbours to stdout
    typer.echo(f"{result['query']} -> ({coords}) in {result['snapshot']} [{result['placement']}{shifted}]",
               err=fmt is not OutputFormat.table)
    for line in domain_lines(result):  # the verdict, and a note when the table's rank 1 is something else
        typer.echo(line, err=fmt is not OutputFormat.table)
    render_rows(result["neighbors"], fmt, id_column="spectrum_id")
