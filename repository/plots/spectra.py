"""Spectra from the database as a PNG: overlaid or offset, photon energy in eV, optionally with the
absorber's projected DOS drawn beside each spectrum.

The DOS panel shows the curves stored for the absorbing site (projection ``site`` at the
spectrum's absorber site index; failing that, the absorbing element's or the total DOS), on
E - E_F when the Fermi energy is stored. DOS and spectrum keep their own energy axes: a DOS is on
the ground-state energy scale, a spectrum on the photon-energy scale.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from ..arrays import from_blob
from ..catalog import get_spectrum, list_spectra
from ..conventions import parse_edge
from ..errors import UsageError
from ..query import spectrum_ids

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

MAX_SPECTRA = 100
MAX_SPECTRA_WITH_DOS = 8
MAX_LEGEND_ENTRIES = 15
AUTO_OFFSET_GAP = 1.05  # stacked spectra are this many times the tallest spectrum apart
DPI = 150


def choose_spectra(engine: Engine, *, ids: Iterable[int] = (), where: str | None = None,
                   element: str | None = None, edge: str | None = None, limit: int | None = None) -> list[int]:
    """Spectrum ids to plot: the given ids, or those matching a query filter or element/edge
    (the first ``limit`` of them by id when a limit is given). Raises :class:`UsageError` for
    ``limit`` < 1, for ids given together with a filter, or when nothing is chosen;
    :class:`~repository.query.FilterError` (a UsageError) for an invalid filter."""
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1, not {limit}")
    chosen = _choose(engine, ids, where, element, edge)
    return chosen[:limit] if limit else chosen


def _choose(engine: Engine, ids: Iterable[int], where: str | None, element: str | None,
            edge: str | None) -> list[int]:
    ids = list(dict.fromkeys(int(i) for i in ids))
    if ids and (where or element or edge):
        raise UsageError("give spectrum ids or a filter (--where, --element, --edge), not both")
    if ids:
        return ids
    if where:
        return list(spectrum_ids(engine, where))
    if element or edge:
        try:
            edge = parse_edge(edge).value if edge else None
        except ValueError as err:
            raise UsageError(str(err)) from None
        return [row["spectrum_id"] for row in list_spectra(engine, element=element, edge=edge, limit=None)]
    raise UsageError("no spectra chosen: give spectrum ids, --where FILTER, or --element/--edge")


def spectrum_label(record: dict[str, Any]) -> str:
    """'#12 h-BN B18N17 v_N B K iso' -- id, polymorph, formula, defect, absorber, edge, polarisation
    (what is known). The polymorph comes first: all BN polymorphs share the formula BN."""
    words = [f"#{record['spectrum_id']}"]
    for key in ("polymorph", "reduced_formula", "defect_name", "absorbing_element", "edge", "polarization"):
        value = record.get(key)
        if value not in (None, ""):
            words.append(str(value))
    if record.get("origin") == "experimental" and record.get("sample_name"):
        words.append(f"({record['sample_name']})")
    return " ".join(words)


def absorber_dos(engine: Engine, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The DOS curves of a spectrum's absorber: dicts with orbital, energy_ev, density, fermi_energy_ev."""
    listed = record.get("dos") or []
    site = record.get("absorber_site_index")
    chosen = [d for d in listed if d["projection"] == "site" and site is not None and d["site_index"] == site]
    if not chosen:
        chosen = [d for d in listed if d["projection"] == "element" and d["element"] == record.get("absorbing_element")]
    if not chosen:
        chosen = [d for d in listed if d["projection"] == "total"]
    curves = []
    with engine.connect() as conn:
        for d in chosen:
            row = conn.execute(text("SELECT energy_ev, density, fermi_energy_ev FROM dos WHERE id = :id"),
                               {"id": d["id"]}).one()
            curves.append({"orbital": d["orbital"], "spin": d["spin"], "projection": d["projection"],
                           "energy_ev": from_blob(row.energy_ev), "density": from_blob(row.density),
                           "fermi_energy_ev": row.fermi_energy_ev})
    return curves


def parse_offset(value: str | float | None) -> float | str | None:
    """``None``/0: overlaid; ``auto``: stacked one spectrum height apart; a number: that step."""
    if value is None or value == "auto":
        return value
    try:
        step = float(value)
    except ValueError:
        raise UsageError(f"--offset {value!r}: expected 'auto' or a number") from None
    return step or None


def plot_spectra(engine: Engine, spectrum_ids: Sequence[int], output: str | Path, *,
                 offset: float | str | None = None, normalize: bool = False, with_dos: bool = False,
                 title: str | None = None, dpi: int = DPI) -> Path:
    """Draw the spectra with these ids into a PNG at ``output`` and return its path.

    ``offset`` shifts spectrum k up by k*offset (``"auto"``: by the tallest spectrum's height);
    ``normalize`` scales each spectrum to a maximum of 1; ``with_dos`` draws one row per
    spectrum with the absorber's DOS beside it. Energies are plotted in eV. Raises
    :class:`UsageError` for no ids, more than fit in one picture, or a bad ``offset``;
    :class:`NotFoundError` for an unknown id.
    """
    # lazy import: start-up time (matplotlib is heavy; only this path needs it)
    import matplotlib

    matplotlib.use("Agg", force=False)
    # lazy import: start-up time (matplotlib is heavy; only this path needs it)
    import matplotlib.pyplot as plt
    import numpy as np

    ids = list(dict.fromkeys(int(i) for i in spectrum_ids))
    limit = MAX_SPECTRA_WITH_DOS if with_dos else MAX_SPECTRA
    if not ids:
        raise UsageError("no spectra to plot (the filter matched nothing)")
    if len(ids) > limit:
        raise UsageError(f"{len(ids)} spectra chosen; at most {limit} fit in one picture"
                         + (" with DOS" if with_dos else "") + ": narrow the filter or give --limit")
    offset = parse_offset(offset)
    records = [get_spectrum(engine, i) for i in ids]
    curves = []
    for record in records:
        intensity = np.asarray(record["intensity"], dtype=float)
        if normalize:
            peak = np.nanmax(np.abs(intensity))
            intensity = intensity / peak if peak > 0 else intensity
        curves.append((np.asarray(record["energy_ev"], dtype=float), intensity))
    if offset == "auto":
        offset = AUTO_OFFSET_GAP * max(float(np.ptp(y)) for _, y in curves) or 1.0
    step = float(offset or 0.0)
    y_label = "normalised intensity" if normalize else "intensity (arb. units)"
    if step:
        y_label += f", offset by {step:.3g} each"
    colors = plt.get_cmap("tab10" if len(ids) <= 10 else "viridis")
    color_of = (lambda k: colors(k % 10)) if len(ids) <= 10 else (lambda k: colors(k / max(len(ids) - 1, 1)))

    if with_dos:
        fig, axes = plt.subplots(len(ids), 2, figsize=(11, 1.0 + 2.6 * len(ids)), dpi=dpi, squeeze=False,
                                 gridspec_kw={"width_ratios": [3, 2]}, layout="constrained")
        for k, (record, (x, y)) in enumerate(zip(records, curves)):
            ax, dos_ax = axes[k]
            ax.plot(x, y, color=color_of(k), lw=1.6)
            ax.set_title(spectrum_label(record), fontsize=10, loc="left")
            ax.set_ylabel("normalised" if normalize else "intensity", fontsize=9)
            _draw_dos(dos_ax, absorber_dos(engine, record), record)
        axes[-1][0].set_xlabel("photon energy (eV)")
    else:
        height = min(14.0, 5.0 + (0.35 * len(ids) if step else 0.0))
        fig, ax = plt.subplots(figsize=(9, height), dpi=dpi, layout="constrained")
        for k, (record, (x, y)) in enumerate(zip(records, curves)):
            ax.plot(x, y + k * step, color=color_of(k), lw=1.4, label=spectrum_label(record))
            if step and len(ids) <= 2 * MAX_LEGEND_ENTRIES:
                ax.annotate(spectrum_label(record), (x[-1], y[-1] + k * step), xytext=(4, 0),
                            textcoords="offset points", fontsize=8, va="center", color=color_of(k))
        if not step and len(ids) <= MAX_LEGEND_ENTRIES:
            ax.legend(fontsize=8, frameon=False)
        if step:
            ax.margins(x=0.02)
            ax.set_xlim(right=max(x.max() for x, _ in curves) + 0.25 * np.ptp(np.concatenate([x for x, _ in curves])))
        ax.set_xlabel("photon energy (eV)")
        ax.set_ylabel(y_label)
    fig.suptitle(title or f"{len(ids)} spectr{'um' if len(ids) == 1 else 'a'}", fontsize=12)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(output, dpi=dpi)
    finally:
        plt.close(fig)
    return output


def _draw_dos(ax, curves: list[dict[str, Any]], record: dict[str, Any]) -> None:
    if not curves:
        ax.text(0.5, 0.5, "no DOS stored\nfor this absorber", ha="center", va="center",
                transform=ax.transAxes, fontsize=9, color="#666666")
        ax.set_xticks([])
        ax.set_yticks([])
        return
    fermi = curves[0]["fermi_energy_ev"]
    for curve in curves:
        x = curve["energy_ev"] - (fermi if fermi is not None else 0.0)
        label = curve["orbital"] + ("" if curve["spin"] == "total" else f" ({curve['spin']})")
        ax.plot(x, curve["density"], lw=1.2, label=label)
    if fermi is not None:
        ax.axvline(0.0, color="#444444", lw=0.8, ls="--")
    ax.set_xlabel("E − E_F (eV)" if fermi is not None else "energy (eV)", fontsize=9)
    ax.set_ylabel("DOS (states/eV)", fontsize=9)
    where = (f"site {record['absorber_site_index']}" if curves[0]["projection"] == "site"
             else curves[0]["projection"])
    ax.set_title(f"DOS of the absorber ({where})", fontsize=10, loc="left")
    ax.legend(fontsize=8, frameon=False)
