"""The overview figure of a computed set (paper style): for each absorbing element and edge, the
embedding coloured by polymorph, by defect kind of near-defect sites and by σ charge transfer,
next to one representative spectrum per polymorph with its π* and σ* peaks marked.

:func:`bundled_overview` builds everything from a calculation set folder (the bundled boron
nitride set, ``data/bn``, by default) in a temporary database: import, one PCA snapshot per
element and edge of the isotropic spectra (PCA: deterministic, and its axes carry the explained
variance), and the figure. ``xasrepo plot overview -o docs/img/bn-overview.png`` runs it.

Peak marks (:func:`pi_sigma_peaks`), the rules of the BN physics tests (tests/test_bn_data.py):
peaks are found with :func:`scipy.signal.find_peaks` (prominence at least
:data:`PEAK_PROMINENCE` of the maximum). For a threefold-coordinated (sp2) absorber π* (the
transition into the empty p_z band) is the strongest peak within :data:`NEAR_EDGE_WINDOW_EV` of
the onset, and σ* the strongest peak 4-9 eV above π* (experiment, h-BN B K: the σ* doublet at
+6.0 and +7.3 eV, Moscovici et al., Phys. Rev. B 2005); a fourfold-coordinated (sp3) absorber has
no π* band, its σ* is its strongest peak. The energies shown are those of the computed curves.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import text

from .. import db as database
from ..analysis.create import create_snapshot
from ..calcset import BUNDLED_SET, MANIFEST_NAME, read_calcset
from ..analysis.sites import NEAR_DEFECT_A  # the one home of "near the defect" (also compare.grouped)
from ..catalog import get_spectrum
from ..errors import UsageError
from ..importer import import_calcset
from ..snapshots.files import snapshot_dir
from .embedding import (PRISTINE_LABEL, category_colors, category_groups, category_values, check_dpi, check_output,
                        draw_embedding, embedding_title, recipe_text, snapshot_info)
from .frame import field_label, snapshot_frame
from .spectra import normalize_spectrum

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Engine

PEAK_PROMINENCE = 0.05  # of the spectrum's maximum
ONSET_FRACTION = 0.05  # the onset: the first energy above this fraction of the maximum
NEAR_EDGE_WINDOW_EV = 2.5  # π*: the strongest peak within this of the onset
SIGMA_ABOVE_PI_EV = (4.0, 9.0)  # σ*: the strongest peak in this range above π* (h-BN: +6.0/+7.3 eV)
FIGURE_METHOD = "pca"
PANEL_FIELDS = ("polymorph", "defect_near", "sigma_charge_transfer")
DPI = 150


def near_defect_labels(frame: pd.DataFrame, cutoff_a: float = NEAR_DEFECT_A) -> pd.Series:
    """'pristine', the defect kind for an absorber within ``cutoff_a`` Å of its defect, 'far from
    the defect (> {cutoff_a} Å)' for other sites of a defective cell, 'n/a' when the distance is
    unknown. The default cutoff is :data:`repository.analysis.sites.NEAR_DEFECT_A`, the one
    ``compare`` scores defect labels with."""
    kind = category_values(frame, "defect_kind")
    distance = frame.get("absorber_defect_distance_a")
    distance = (distance.to_numpy(dtype=float) if distance is not None else np.full(len(frame), np.nan))
    labels = kind.copy()
    defective = (kind != PRISTINE_LABEL) & (kind != "n/a")
    labels[defective & (distance > cutoff_a)] = f"far from the defect (> {cutoff_a:g} Å)"
    labels[defective & ~np.isfinite(distance)] = "n/a"
    return labels.map(lambda v: v if v in (PRISTINE_LABEL, "n/a") or v.startswith("far ") else f"{v} (near)")


def pi_sigma_peaks(energy_ev: np.ndarray, mu: np.ndarray, coordination: int | None) -> dict[str, float]:
    """Energies (eV) of the π* and σ* peaks of one spectrum (module docstring for the rule):
    ``{"pi": e, "sigma": e}`` with the keys that were found; an sp3 absorber (coordination 4) has
    no "pi"; an unknown coordination gives neither (no assignment without the geometry)."""
    # lazy import: start-up time (scipy is heavy; only this path needs it)
    from scipy.signal import find_peaks

    energy = np.asarray(energy_ev, dtype=float)
    mu = np.asarray(mu, dtype=float) / float(np.nanmax(mu))
    peaks, _ = find_peaks(mu, prominence=PEAK_PROMINENCE)
    if peaks.size == 0 or coordination not in (3, 4):
        return {}
    if coordination == 4:  # sp3: no empty p_z band, the strongest resonance is σ*
        return {"sigma": float(energy[peaks[np.argmax(mu[peaks])]])}
    onset = float(energy[np.argmax(mu >= ONSET_FRACTION)])
    near = peaks[energy[peaks] <= onset + NEAR_EDGE_WINDOW_EV]
    if near.size == 0:
        return {}
    pi = float(energy[near[np.argmax(mu[near])]])
    found = {"pi": pi}
    lo, hi = SIGMA_ABOVE_PI_EV
    sigma = peaks[(energy[peaks] >= pi + lo) & (energy[peaks] <= pi + hi)]
    if sigma.size:
        found["sigma"] = float(energy[sigma[np.argmax(mu[sigma])]])
    return found


def representative_ids(frame: pd.DataFrame) -> dict[str, int]:
    """One pristine spectrum per polymorph (the lowest spectrum id), polymorphs in order of size."""
    pristine = frame[category_values(frame, "defect_kind") == PRISTINE_LABEL]
    chosen = {}
    for polymorph, rows in sorted(pristine.groupby("polymorph"), key=lambda item: (-len(item[1]), item[0])):
        chosen[str(polymorph)] = int(rows["spectrum_id"].min())
    return chosen


def overview_figure(engine: Engine, snapshots: list[str | Path], output: str | Path, *, dpi: int = DPI,
                    title: str | None = None) -> Path:
    """Draw the overview figure for ``snapshots`` (one row per snapshot file, normally one per
    element and edge) with spectra read from ``engine``; ``output`` .png, .svg or .pdf.

    Raises :class:`UsageError` for no snapshots, a bad suffix or resolution.
    """
    # lazy import: start-up time (matplotlib is heavy; only this path needs it)
    import matplotlib

    matplotlib.use("Agg", force=False)
    # lazy import: start-up time (matplotlib is heavy; only this path needs it)
    import matplotlib.pyplot as plt

    output = check_output(output)
    dpi = check_dpi(dpi)
    if not snapshots:
        raise UsageError("no snapshots to draw")
    n_rows = len(snapshots)
    fig = plt.figure(figsize=(22.0, 5.6 * n_rows), dpi=dpi, layout="constrained")
    rows = fig.subfigures(n_rows, 1, squeeze=False)[:, 0]
    fig.get_layout_engine().set(w_pad=0.08, wspace=0.06)
    for row, snapshot in enumerate(snapshots):
        info = snapshot_info(snapshot)
        frame = snapshot_frame(snapshot)
        frame = frame.assign(defect_near=near_defect_labels(frame))
        axes = rows[row].subplots(1, 4, gridspec_kw={"width_ratios": [1, 1, 1.12, 1.05]})
        for col, field in enumerate(PANEL_FIELDS):
            ax = axes[col]
            if field not in frame.columns or frame[field].isna().all():
                ax.text(0.5, 0.5, f"no {field} in this snapshot", ha="center", va="center", transform=ax.transAxes)
                ax.set_axis_off()
                continue
            draw_embedding(ax, frame, field, info=info, size=28.0)
            handles, labels = ax.get_legend_handles_labels()
            if ax.get_legend():
                ax.get_legend().remove()
            if labels:
                ax.legend(handles, labels, fontsize=8, frameon=True, framealpha=0.85, loc="best",
                          markerscale=1.3, title=None if field == "sigma_charge_transfer" else _panel_name(field),
                          title_fontsize=8.5)
            letter = "abcdefghijklmnopqrstuvwxyz"[(4 * row + col) % 26]
            ax.set_title(f"({letter}) {_panel_name(field)}", fontsize=11, loc="left")
        ax = axes[3]
        _draw_representatives(ax, engine, frame, get_spectrum, np)
        letter = "abcdefghijklmnopqrstuvwxyz"[(4 * row + 3) % 26]
        ax.set_title(f"({letter}) pristine spectra, one per polymorph", fontsize=11, loc="left")
        words = embedding_title(info, frame, "polymorph").split(", coloured by")[0]
        rows[row].suptitle(f"{words}\n{recipe_text(info)}", fontsize=11.5)
    set_name = _set_name(engine)
    fig.suptitle(title or f"{set_name}: computed XANES (GPAW, half core hole), PCA maps and representative "
                          "spectra", fontsize=14)
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(output, dpi=dpi)
    finally:
        plt.close(fig)
    return output


def _panel_name(field: str) -> str:
    return {"defect_near": "defect kind at near-defect sites"}.get(field, field_label(field))


def _set_name(engine: Engine) -> str:
    with engine.connect() as conn:
        names = [r[0] for r in conn.execute(text("SELECT name FROM calculation_set ORDER BY id"))]
    return ", ".join(names) or "computed set"


def _draw_representatives(ax, engine, frame, get_spectrum, np) -> None:
    # lazy import: start-up time (matplotlib is heavy; only this path needs it)
    import matplotlib.pyplot as plt

    chosen = representative_ids(frame)
    palette = plt.get_cmap("tab10")

    # the polymorph colours of panel (a), so a curve and its points match
    colors = category_colors([label for label, _ in category_groups(frame["polymorph"])])
    step = 1.3
    for k, (polymorph, spectrum_id) in enumerate(chosen.items()):
        record = get_spectrum(engine, spectrum_id)
        energy = np.asarray(record["energy_ev"], dtype=float)
        mu = normalize_spectrum(energy, record["intensity"], "max", label=f"spectrum {spectrum_id}")
        color = colors.get(polymorph, palette(k % 10))
        base = k * step
        ax.plot(energy, mu + base, color=color, lw=1.6)
        ax.annotate(f"{polymorph} (#{spectrum_id}, CN {record.get('absorber_cn') or '?'})", (energy[-1], base + mu[-1]),
                    xytext=(4, 0), textcoords="offset points", fontsize=8.5, va="center", color=color)
        for name, e in pi_sigma_peaks(energy, mu, record.get("absorber_cn")).items():
            y = float(np.interp(e, energy, mu)) + base
            # π* (a tall narrow peak) labelled to its left, σ* above: neither runs into the curve above
            where = {"xytext": (-7, -4), "ha": "right"} if name == "pi" else {"xytext": (0, 9), "ha": "center"}
            ax.annotate(f"{'π*' if name == 'pi' else 'σ*'} {e:.1f}", (e, y), textcoords="offset points",
                        fontsize=8.5, color="black", arrowprops={"arrowstyle": "-", "lw": 0.8, "color": "#333333"},
                        **where)
    if chosen:
        xs = np.concatenate([get_spectrum(engine, i, with_arrays=True)["energy_ev"] for i in chosen.values()])
        ax.set_xlim(float(xs.min()) - 0.12 * float(np.ptp(xs)), float(xs.max()) + 0.45 * float(np.ptp(xs)))
    ax.set_ylim(-0.05, step * max(len(chosen), 1) + 0.25)
    ax.set_yticks([])
    ax.set_xlabel("photon energy (eV)")
    ax.set_ylabel(f"μ(E) / its maximum, offset {step:g} per curve", fontsize=9.5)


def bundled_overview(output: str | Path, data_dir: str | Path = BUNDLED_SET, *, dpi: int = DPI,
                     method: str = FIGURE_METHOD, workdir: str | Path | None = None, db: str | None = None,
                     progress=None) -> dict[str, Any]:
    """Import ``data_dir`` into a database, embed each element and edge's isotropic spectra with
    ``method`` and draw :func:`overview_figure` into ``output``.

    The database is ``db`` (a path or URL; kept, and reused on a second run: the import skips what
    is there and identical snapshots are reused; snapshot files go where ``xasrepo embed`` puts
    them), else a fresh SQLite file in ``workdir`` (a temporary folder, removed afterwards, by
    default). Returns ``{"output", "database", "snapshots": [uid...], "n_spectra": {"B K": n, ...}}``.
    Raises :class:`UsageError` when ``data_dir`` is no calculation set or has no element and edge
    with at least 3 isotropic spectra.
    """
    output = check_output(output)
    check_dpi(dpi)
    say = progress or (lambda _message: None)
    if not (Path(data_dir) / MANIFEST_NAME).is_file():
        raise UsageError(f"{data_dir}: no calculation set here ({MANIFEST_NAME} missing)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(workdir) if workdir else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        url = db or str(folder / "overview.db")
        directory = snapshot_dir(database.resolve_url(url), None if db else folder / "snapshots")
        database.upgrade(url)
        with database.connected(url) as engine:
            say(f"importing {data_dir}")
            import_calcset(engine, read_calcset(Path(data_dir)))
            groups = _iso_groups(engine)
            made, counts = [], {}
            for (element, edge), n in groups.items():
                if n < 3:
                    continue
                say(f"{method} of {n} {element} {edge} spectra")
                result = create_snapshot(engine, method=method, element=element, edge=edge, seed=0,
                                         where="polarization = iso", directory=directory)
                made.append(result.record)
                counts[f"{element} {edge}"] = int(result.record["row_count"])
            if not made:
                raise UsageError(f"{data_dir}: no element and edge with at least 3 isotropic spectra")
            say(f"drawing {output}")
            overview_figure(engine, [r["path"] for r in made], output, dpi=dpi)
    return {"output": output, "database": url if db else None, "snapshots": [r["uid"] for r in made],
            "n_spectra": counts}


def _iso_groups(engine) -> dict[tuple[str, str], int]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT absorbing_element, edge, COUNT(*) FROM spectrum WHERE polarization = 'iso' "
                                 "GROUP BY absorbing_element, edge ORDER BY absorbing_element, edge"))
        return {(e, g): int(n) for e, g, n in rows}
