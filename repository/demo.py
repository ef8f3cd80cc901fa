"""The main job: a database built from the bundled boron nitride set, with UMAP, PCA and MDS
snapshots and their plots (``xasrepo demo``).

It works with whatever part of the bundled set exists while the set grows: every (element, edge)
group with enough spectra is embedded, the others are reported as skipped.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

from . import catalog
from . import db as db_module
from .analysis import recipe as rec
from .analysis.create import create_snapshot
from .calcset import BUNDLED_SET, MANIFEST_NAME, read_calcset
from .errors import UsageError
from .importer import import_calcset
from .plots.embedding import plot_embedding
from .plots.frame import unlabelled_fields
from .snapshots.files import SNAPSHOT_DIR_ENV, snapshot_dir

DEMO_METHODS = ("umap", "pca", "mds")
# UMAP needs more points than neighbours; below this a group is reported, not embedded.
MIN_SPECTRA_PER_GROUP = 8
# Labels the plots are coloured by, in the order a spectroscopist would ask about them.
COLOR_BY = ("polymorph", "defect_kind", "dimensionality")
DEMO_SEED = 0


@dataclass
class DemoResult:
    """What :func:`run_demo` did: where the database, snapshots and plots are, the import status, row
    counts, the snapshots made or reused, any (element, edge) groups skipped as too small, and how
    many spectra each group's energy window pads (``padding``, one line per padded group) and the
    snapshots' ``notes`` (e.g. a ``db`` that also holds other calculation sets)."""

    database: str  # the database as :func:`repository.db.describe` names it
    database_file: Path | None  # an SQLite database's file (None for a server)
    snapshot_dir: Path
    plot_dir: Path
    import_status: str
    counts: dict[str, int]
    snapshots: list[dict] = field(default_factory=list)  # uid, method, element, edge, n, reused
    plots: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    # per embedded (element, edge): "B K: 80 of 94 spectra padded to the 184-201 eV window: 19 end inside it ..."
    # (:func:`repository.analysis.recipe.padding_text`; the window pads spectra that end inside it)
    padding: list[str] = field(default_factory=list)
    # the snapshots' notes (repository.analysis.create.selection_note: a database holding several
    # calculation sets), each once
    notes: list[str] = field(default_factory=list)
    # a filter that finds spectra in this database (:func:`example_query`), for the "next" hint
    example_query: str = "polarization = iso"


def run_demo(out_dir: Path, data_dir: Path = BUNDLED_SET, *, db: str | None = None,
             say: Callable[[str], None] | None = None) -> DemoResult:
    """Create (or update) a database from ``data_dir``, embed and plot; idempotent.

    The database is ``db`` (a path or URL, e.g. a PostgreSQL server) or ``out_dir/xasrepo.db``.
    Snapshots go where every other command puts them
    (:func:`repository.snapshots.files.snapshot_dir`: ``$XASREPO_SNAPSHOT_DIR``, else
    ``<database stem>.snapshots/`` beside an SQLite database); only for a database server without
    ``$XASREPO_SNAPSHOT_DIR`` they go to ``out_dir/snapshots``. Plots go to ``out_dir/plots``.
    Raises :class:`UsageError` when ``data_dir`` holds no calculation set.
    """
    say = say or (lambda _message: None)
    if not (Path(data_dir) / MANIFEST_NAME).is_file():
        raise UsageError(f"no bundled data set at {data_dir} ({MANIFEST_NAME} missing); "
                         "run the calculations (python -m repository.calculations) or pass --data")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    database = db or str(out_dir / "xasrepo.db")
    url = db_module.resolve_url(database)
    database_file = db_module.sqlite_path(url)
    # The same rule as `xasrepo embed`, so later commands on this database add to the same folder.
    server_default = None if database_file is not None or os.environ.get(SNAPSHOT_DIR_ENV) else out_dir / "snapshots"
    snapshots = snapshot_dir(url, server_default)
    plot_dir = out_dir / "plots"
    plot_dir.mkdir(exist_ok=True)

    say(f"reading {data_dir}")
    plan = read_calcset(Path(data_dir))
    db_module.upgrade(database)
    with db_module.connected(database) as engine:
        say(f"importing {plan.n_spectra} spectra")
        summary = import_calcset(engine, plan)
        result = DemoResult(database=db_module.describe(url), database_file=database_file, snapshot_dir=snapshots,
                            plot_dir=plot_dir, import_status=summary.status, counts=catalog.count_rows(engine),
                            example_query=example_query(engine))
        groups = _groups(engine)
        for (element, edge), n in groups.items():
            if n < MIN_SPECTRA_PER_GROUP:
                result.skipped.append(f"{element} {edge}: {n} spectra (< {MIN_SPECTRA_PER_GROUP})")
                continue
            for method in DEMO_METHODS:
                say(f"{method} on {n} {element} {edge} spectra")
                made = create_snapshot(engine, method=method, seed=DEMO_SEED, element=element, edge=edge,
                                       where="polarization = iso", directory=snapshots)
                record = made.record
                padded = rec.padding_text(made.window) if made.window else None
                line = f"{element} {edge}: {padded}" if padded else None
                if line and line not in result.padding:  # one line per group: every method has the same window
                    result.padding.append(line)
                result.notes.extend(note for note in made.notes if note not in result.notes)
                result.snapshots.append({"uid": record["uid"], "method": method, "element": element, "edge": edge,
                                         "n_spectra": record["row_count"], "reused": made.reused})
                labelled = unlabelled_fields(record["path"], COLOR_BY)
                for label in COLOR_BY:
                    if label in labelled:  # a set without that label: no plot of n/a points, and say so
                        note = f"{element} {edge} plots by {label}: no spectrum has a {label}"
                        if note not in result.skipped:
                            result.skipped.append(note)
                        continue
                    png = plot_dir / f"{element}{edge}_{method}_{label}.png"
                    plot_embedding(record["path"], label, png,
                                   title=f"{element} {edge}-edge, {method.upper()} ({record['row_count']} spectra)"
                                         f" by {label}")
                    result.plots.append(png)
    return result


def display_path(path: str | Path, cwd: str | Path | None = None) -> str:
    """``path`` relative to the current directory (or ``cwd``) when it lies inside it, else absolute."""
    absolute = Path(os.path.realpath(path))
    here = Path(os.path.realpath(cwd if cwd is not None else os.getcwd()))
    try:
        return str(absolute.relative_to(here))
    except ValueError:
        return str(absolute)


# The defect kinds the demo's hint prefers, in order: a query that finds nothing teaches nothing, so
# the hint names a kind the database holds (the growing v2 set had no vacancy spectra at first).
EXAMPLE_DEFECT_KINDS = ("vacancy", "substitution", "antisite")


def example_query(engine) -> str:
    """A ``xasrepo query`` filter that matches spectra of this database: ``defect.kind = K`` for the
    first kind of :data:`EXAMPLE_DEFECT_KINDS` present, else ``polymorph = "P"`` for the commonest
    polymorph, else ``polarization = iso``."""
    with engine.connect() as conn:
        kinds = {k for (k,) in conn.execute(text("SELECT DISTINCT defect_kind FROM spectrum_overview"))}
        for kind in EXAMPLE_DEFECT_KINDS:
            if kind in kinds:
                return f"defect.kind = {kind}"
        row = conn.execute(text("SELECT polymorph FROM spectrum_overview WHERE polymorph IS NOT NULL "
                                "GROUP BY polymorph ORDER BY COUNT(*) DESC, polymorph LIMIT 1")).first()
    return f'polymorph = "{row[0]}"' if row else "polarization = iso"


def _groups(engine) -> dict[tuple[str, str], int]:
    """Number of isotropic computed spectra per (element, edge)."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT absorbing_element, edge, COUNT(*) FROM spectrum WHERE polarization = 'iso' "
            "GROUP BY absorbing_element, edge ORDER BY absorbing_element, edge"))
        return {(element, edge): int(n) for element, edge, n in rows}
