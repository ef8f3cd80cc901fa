"""``xasrepo compare``: UMAP vs PCA vs MDS on the same spectra, as numbers (a thin wrapper over
:mod:`repository.compare`; see docs/compare/README.md for a generated report)."""

from __future__ import annotations

import shlex
from typing import Annotated

import typer

from repository.conventions import EmbeddingMethod

from .common import DbOption, RecordFormatOption, _progress, app
from .output import OutputFormat, RecordFormat, render_rows

WHERE_HELP = "Query filter selecting the spectra, e.g. 'element = B' (see `xasrepo fields`)."




def _command_line(calcset: str | None, db: str | None, where: str | None, seeds: int, recipe: str | None,
                  methods: list[str], polarization: str, identify: bool, out: str | None, note: str | None,
                  umap: dict, probes: list[str] | None = None) -> str:
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
    if not identify:
        parts.append("--no-identify")
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
        "--recipe", help="Preprocessing recipe: a JSON file or inline JSON object (as for `xasrepo embed`).")] = None,
    n_neighbors: Annotated[int | None, typer.Option("--n-neighbors", help="UMAP n_neighbors [15, at most N - 1].")] = None,
    min_dist: Annotated[float | None, typer.Option("--min-dist", help="UMAP min_dist [0.1].")] = None,
    polarization: Annotated[str, typer.Option(
        "--polarization", help="Keep only spectra of this polarization ('all' keeps every one).")] = "iso",
    identify: Annotated[bool, typer.Option(
        "--identify/--no-identify", help="Also hold out 20% of the spectra and identify them.")] = True,
    out: Annotated[str | None, typer.Option(
        "--out", help="Write the Markdown report with PNG figures and results.json into this directory, "
                      "e.g. docs/compare.")] = None,
    note: Annotated[str | None, typer.Option(
        "--note", help="A sentence to put at the top of the report (e.g. what the data set is and that it grows).")] = None,
    probe: Annotated[list[str] | None, typer.Option(
        "--probe", metavar="FILE[:KEY=VALUE,...]",
        help="An external spectrum (experiment, another code) to place into every map; repeat for more. "
             "Its element and edge are the file's; a file that does not say needs FILE:element=B,edge=K. "
             "Energies are aligned as `project --align fit` does. Add an expected class to check the "
             "majority of its 5 nearest against, e.g. FILE:polymorph=c-BN, and name=TEXT for the report.")] = None,
    fmt: RecordFormatOption = RecordFormat.table,
) -> None:
    """Embed the same spectra by UMAP, PCA and MDS (per element and edge) and score each embedding:
    trustworthiness, kNN accuracy and silhouette per label, correlation with DOS and charge-transfer
    descriptors, and identification of held-out spectra. With --probe, also place external spectra
    into every map and report the labels of their 5 nearest computed spectra per method and seed."""
    import contextlib
    import json
    import sys

    from repository.analysis.recipe import load_recipe
    from repository.compare.data import imported_calcset
    from repository.compare.probes import parse_probe
    from repository.compare.report import summary_rows, write_report
    from repository.compare.run import METHODS, compare_database
    from repository.errors import UsageError

    if calcset and db:
        raise UsageError("give either --db or --calcset, not both")
    methods = [m.value for m in method] if method else list(METHODS)
    probe_specs = [parse_probe(p) for p in probe or ()]  # bad options and missing files fail before any work
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
            from repository import db as database

            engine = database.connect(db, read_only=True)
            stack.callback(engine.dispose)
        results = compare_database(engine, where=where, seeds=seeds, recipe=the_recipe, methods=methods,
                                   polarization=polar, identify=identify, progress=tick, message=say,
                                   params={"umap": umap_params}, probes=probe_specs)
        if out:
            say("writing the report")
            command = _command_line(calcset, db, where, seeds, recipe, methods, polarization, identify, out, note,
                                    umap_params, probe)
            source = f"the calculation set {calcset}" if calcset else "the database"
            readme = write_report(results, out, command=command, source=source, remark=note, seeds=seeds)
    if out:
        typer.echo(f"report: {readme}", err=True)
    if fmt is RecordFormat.json:
        sys.stdout.write(json.dumps([r.to_dict() for r in results], indent=1, default=str) + "\n")
    else:
        render_rows(summary_rows(results), OutputFormat.table, title="UMAP vs PCA vs MDS")
