"""``xasrepo compare``: UMAP vs PCA vs MDS on the same spectra, as numbers (a thin wrapper over
:mod:`repository.compare`; see docs/compare/README.md for a generated report)."""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
from typing import Annotated

import typer

from repository.conventions import EmbeddingMethod

from .common import DbOption, RecordFormatOption, _progress, app
from .output import OutputFormat, RecordFormat, render_rows

WHERE_HELP = "Query filter selecting the spectra, e.g. 'element = B' (see `xasrepo fields`)."




def _command_line(calcset: str | None, db: str | None, where: str | None, seeds: int, recipe: str | None,
                  methods: list[str], polarization: str, identify: bool, out: str | None, note: str | None,
                  umap: dict, probes: list[str] | None = None, folds: int | None = None,
                  shape_only: bool = True, group_by: str = "structure") -> str:
    """The command that regenerates the report (written into it); the database path only when given."""
    parts = ["xasrepo", "compare"]
    if calcset:
        parts += ["--calcset", calcset]
    elif db:
        parts += ["--db", db]
    if where:
        parts += ["--where", where]
    parts += ["--seeds", str(seeds)]
    if recipe:
        parts += ["--recipe", recipe]
    if sorted(methods) != sorted(m.value for m in EmbeddingMethod):
        for meth in methods:
            parts += ["--method", meth]
    for option, key in (("--n-neighbors", "n_neighbors"), ("--min-dist", "min_dist")):
        if umap.get(key) is not None:
            parts += [option, str(umap[key])]
    if polarization != "iso":
        parts += ["--polarization", polarization]
    if identify:
        parts.append("--identify")
    if folds is not None:
        parts += ["--folds", str(folds)]
    if group_by != "structure":
        parts += ["--group-by", group_by]
    if not shape_only:
        parts.append("--no-shape-only")
    for probe in probes or ():
        parts += ["--probe", probe]
    if out:
        parts += ["--out", out]
    if note:
        parts += ["--note", note]
    return " ".join(shlex.quote(p) for p in parts)


@app.command("compare")
def compare(
    db: DbOption = None,
    calcset: Annotated[str | None, typer.Option(
        "--calcset", help="Compare a calculation set directory instead of a database (imported into a "
                          "temporary database first), e.g. data/bn.")] = None,
    where: Annotated[str | None, typer.Option("--where", help=WHERE_HELP)] = None,
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Seeds per random method (UMAP, MDS).")] = 5,
    method: Annotated[list[EmbeddingMethod] | None, typer.Option(
        "--method", "-m", help="Methods to compare (repeat the option) [all: umap, pca, mds].")] = None,
    recipe: Annotated[str | None, typer.Option(
        "--recipe", help="Preprocessing recipe: a preset (absolute: absolute energies, the default; shape: each "
                         "spectrum aligned at its own edge, shapes only), a JSON file or an inline JSON object "
                         "(as for `xasrepo embed`).")] = None,
    n_neighbors: Annotated[int | None, typer.Option("--n-neighbors", help="UMAP n_neighbors [15, at most N - 1].")] = None,
    min_dist: Annotated[float | None, typer.Option("--min-dist", help="UMAP min_dist [0.1].")] = None,
    polarization: Annotated[str, typer.Option(
        "--polarization", help="Keep only spectra of this polarization ('all' keeps every one).")] = "iso",
    identify: Annotated[bool, typer.Option(
        "--identify/--no-identify", help="Also the old identification: hold out 20% of the spectra at random "
                                         "(sister sites of a cell stay in training; superseded by the grouped protocol).")] = False,
    folds: Annotated[int | None, typer.Option(
        "--folds", min=2, help="Grouped K-fold over structures instead of leaving one structure out.")] = None,
    group_by: Annotated[str, typer.Option(
        "--group-by", help="What a grouped fold holds out: structure (one cell) or host (a host structure "
                           "with its defect cells: a defect type is scored in a host it was not trained "
                           "on).")] = "structure",
    jobs: Annotated[int | None, typer.Option(
        "--jobs", min=1, help="Processes for the grouped runs [the usable CPUs, at most 2].")] = None,
    shape_only: Annotated[bool, typer.Option(
        "--shape-only/--no-shape-only", help="Also score the shape-only recipe (each spectrum aligned at its own "
                                             "edge onset) beside the absolute-energy one.")] = True,
    out: Annotated[str | None, typer.Option(
        "--out", help="Write the Markdown report with PNG figures and results.json into this directory, "
                      "e.g. docs/compare.")] = None,
    note: Annotated[str | None, typer.Option(
        "--note", help="A sentence to put at the top of the report (e.g. what the data set is and that it grows).")] = None,
    probe: Annotated[list[str] | None, typer.Option(
        "--probe", metavar="FILE[:KEY=VALUE,...] or DIR",
        help="An external spectrum (experiment, another code) to place into every map; repeat for more. "
             "Its element and edge are the file's; a file that does not say needs FILE:element=B,edge=K. "
             "Energies are aligned as `project --align fit` does. Add an expected class to check the "
             "majority of its 5 nearest against, e.g. FILE:polymorph=c-BN, and name=TEXT for the report. "
             "A directory: its manifest.csv lists labelled spectra (columns file, element, edge, name, "
             "and expected classes such as polymorph); the report gives identification rates against "
             "always guessing the commonest class.")] = None,
    fmt: RecordFormatOption = RecordFormat.table,
) -> None:
    """Embed the same spectra by UMAP, PCA and MDS (per element and edge) and score each embedding.

    Headline: grouped, inductive evaluation (folds by structure, maps fitted on the training
    structures only, held-out spectra placed by each method's projection, kNN in the map) against
    the majority-class and stratified-random rates, with bootstrap intervals over structures and
    permutation p-values, for the absolute-energy and the shape-only recipe. Secondary: the
    transductive scores (trustworthiness, kNN accuracy and silhouette per label, descriptor
    correlations). With --probe, also place external spectra into every map and report the labels
    of their 5 nearest computed spectra per method and seed."""
    # lazy imports: start-up time (`xasrepo --help` must not load the library)
    import contextlib
    import json
    import sys

    from repository.analysis.recipe import load_recipe
    from repository.compare.data import data_provenance, imported_calcset
    from repository.compare.grouped import GROUP_BY
    from repository.compare.probes import parse_probes
    from repository.compare.report import summary_rows, write_report
    from repository.compare.run import METHODS, compare_database
    from repository.errors import UsageError

    if calcset and db:
        raise UsageError("give either --db or --calcset, not both")
    if group_by not in GROUP_BY:
        raise UsageError(f"--group-by {group_by!r}: expected one of {', '.join(GROUP_BY)}")
    methods = [m.value for m in method] if method else list(METHODS)
    # bad options, manifests and missing files fail before any work
    probe_specs = [spec for p in probe or () for spec in parse_probes(p)]
    the_recipe = load_recipe(recipe)
    polar = None if polarization.lower() == "all" else polarization.lower()
    umap_params = {"n_neighbors": n_neighbors, "min_dist": min_dist}
    progress, update = _progress("comparing embeddings")

    with contextlib.ExitStack() as stack:
        task = progress.task_ids[0]

        def say(message: str) -> None:
            progress.update(task, description=message)

        def tick(done: int, total: int, message: str) -> None:
            update(done, total)
            say(message)

        stack.enter_context(progress)
        if calcset:
            engine = stack.enter_context(imported_calcset(calcset, progress=say))
        else:
            # lazy import: start-up time (`xasrepo --help` must not load the library)
            from repository import db as database

            engine = database.connect(db, read_only=True)
            stack.callback(engine.dispose)
        results = compare_database(engine, where=where, seeds=seeds, recipe=the_recipe, methods=methods,
                                   polarization=polar, identify=identify, progress=tick, message=say,
                                   params={"umap": umap_params}, probes=probe_specs, n_folds=folds,
                                   shape_only=shape_only, workers=jobs, group_by=group_by)
        if out:
            say("writing the report")
            command = _command_line(calcset, db, where, seeds, recipe, methods, polarization, identify, out, note,
                                    umap_params, probe, folds, shape_only, group_by)
            source = f"the calculation set {calcset}" if calcset else "the database"
            readme = write_report(results, out, command=command, source=source, remark=note, seeds=seeds,
                                  data_note=data_provenance(engine, directory=calcset))
    if out:
        typer.echo(f"report: {readme}", err=True)
    if fmt is RecordFormat.json:
        sys.stdout.write(json.dumps([r.to_dict() for r in results], indent=1, default=str) + "\n")
    else:
        render_rows(summary_rows(results), OutputFormat.table, title="UMAP vs PCA vs MDS")
