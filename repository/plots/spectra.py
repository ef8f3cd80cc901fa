"""Spectra from the database as a picture (PNG, SVG or PDF): one panel per absorbing element and
edge, curves overlaid or stacked with labels, photon energy in eV, optionally with the absorber's
projected DOS drawn beside each spectrum.

Normalisations follow XAS conventions and are named on the y axis (:func:`normalize_spectrum`): none, max,
area, and edge step as Athena/Larch define it (``pre_edge``). With a snapshot, the energy window
its recipe compared is shaded on the panels of its element and edge.

The DOS panel shows the curves stored for the absorbing site (projection ``site`` at the
spectrum's absorber site index; failing that, the absorbing element's or the total DOS), on
E - E_F when the Fermi energy is stored. DOS and spectrum keep their own energy axes: a DOS is on
the ground-state energy scale, a spectrum on the photon-energy scale.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import text

from ..arrays import from_blob
from ..catalog import get_spectrum, list_spectra
from ..conventions import parse_edge
from ..errors import UsageError
from ..query import spectrum_ids
from .embedding import check_dpi, check_output, snapshot_info

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

MAX_SPECTRA = 100
MAX_SPECTRA_WITH_DOS = 8
MAX_LEGEND_ENTRIES = 20  # groups of curves in one legend, when there are too many curves to name each
MAX_LABELS_PER_PANEL = 20  # more curves in a panel: drawn and named in groups (curve_groups)
NORMALIZATIONS = ("none", "max", "area", "edge_step")
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
    (what is known; the polarisation as :func:`polarization_label` writes it). The polymorph
    comes first: all BN polymorphs share the formula BN."""
    words = [f"#{record['spectrum_id']}"]
    for key in ("polymorph", "reduced_formula", "defect_name", "absorbing_element", "edge"):
        value = record.get(key)
        if value not in (None, ""):
            words.append(str(value))
    words.append(polarization_label(record))
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


# ----------------------------------------------------------------------------------------------
# normalisation, named on the axis


def check_normalization(how: str | bool | None) -> str:
    """One of :data:`NORMALIZATIONS` ('none', 'max', 'area', 'edge_step'); ``True`` means 'max'
    (the earlier ``normalize=True``), ``False``/``None`` 'none'. Raises :class:`UsageError`."""
    if how is True:
        return "max"
    if how in (False, None):
        return "none"
    name = str(how).strip().lower().replace("-", "_")
    if name not in NORMALIZATIONS:
        raise UsageError(f"--norm {how!r}: expected one of {', '.join(n.replace('_', '-') for n in NORMALIZATIONS)}")
    return name


def normalize_spectrum(energy_ev: np.ndarray, mu: np.ndarray, how: str, *, label: str = "spectrum") -> np.ndarray:
    """``mu`` normalised as XAS people do, on the same energies:

    * ``none``: as stored;
    * ``max``: divided by its maximum (the peak is 1);
    * ``area``: divided by its trapezoidal area over the stored energy range (unit area, eV⁻¹);
    * ``edge_step``: Athena/Larch ``pre_edge`` normalisation (pre-edge line subtracted, divided by
      the edge step at e0, so the post-edge is about 1): :func:`repository.analysis.edge.pre_edge`.

    Raises :class:`UsageError` (naming ``label``) when the maximum, area or edge step is zero or
    not finite, or when the edge-step module is not available.
    """
    energy = np.asarray(energy_ev, dtype=float)
    mu = np.asarray(mu, dtype=float)
    if how == "none":
        return mu
    if how == "max":
        scale = float(np.nanmax(mu))
    elif how == "area":
        scale = float(np.trapezoid(mu, energy))
    elif how == "edge_step":
        try:  # the Larch port of issue 13; refused, not approximated, where it is missing
            # lazy import: optional module (repository.analysis.edge may be absent in this version)
            from ..analysis.edge import pre_edge
        except ImportError:
            raise UsageError("--norm edge-step needs repository.analysis.edge (the Larch pre_edge port), "
                             "which this version does not have; use --norm max or area") from None
        try:
            result = pre_edge(energy, mu)
        except UsageError as err:
            raise UsageError(f"{label}: {err}") from None
        order = np.argsort(energy, kind="stable")
        out = np.empty_like(mu)
        out[order] = result.norm if len(result.norm) == len(mu) else np.interp(energy[order], result.energy_ev,
                                                                                result.norm)
        return out
    else:
        raise UsageError(f"unknown normalisation {how!r}")
    if not np.isfinite(scale) or scale <= 0:
        raise UsageError(f"{label}: its {'maximum' if how == 'max' else 'area'} is {scale:.3g}, "
                         f"so it cannot be normalised by it; use another --norm")
    return mu / scale


def check_edge_step_applies(records: Sequence[dict[str, Any]]) -> None:
    """Refuse edge-step normalisation of computed spectra (:class:`UsageError`, one line naming them).

    Larch's ``pre_edge`` divides by the jump between a pre-edge and a post-edge line: a measured
    spectrum rises onto the atomic continuum, so its post-edge is about 1 afterwards. A computed
    near-edge spectrum has no continuum (it falls back towards zero past its peaks), so the "step"
    is an arbitrary fraction of a peak: the bundled c-BN B K spectrum would peak at ~30 on an axis
    labelled "edge step = 1". Refused rather than drawn with a warning, because the label would
    state a scale the curve does not have; max and area mean what they say for any spectrum."""
    computed = [str(r["spectrum_id"]) for r in records if r.get("origin") == "computed"]
    if computed:
        more = f" and {len(computed) - 3} more" if len(computed) > 3 else ""
        raise UsageError(f"--norm edge-step: spectr{'um' if len(computed) == 1 else 'a'} {', '.join(computed[:3])}{more} "
                         f"{'is' if len(computed) == 1 else 'are'} computed, with no continuum step after the edge "
                         "to scale to 1; use --norm max or area")


def normalization_axis_label(how: str, kind: str = "μ(E)") -> str:
    """The y-axis name for a normalisation: 'μ(E) / maximum', 'normalised μ(E) (edge step = 1)'..."""
    return {"none": f"{kind} (arb. units, as stored)",
            "max": f"{kind} / its maximum",
            "area": f"{kind} / its area (eV⁻¹)",
            "edge_step": f"normalised {kind} (edge step = 1, Larch pre_edge)"}[how]


# ----------------------------------------------------------------------------------------------
# labels and titles in words


def polarization_label(record: dict[str, Any]) -> str:
    """The polarisation as every label of these pictures writes it: the stored name, as a filter
    takes it (``iso``, ``in_plane``, ``out_of_plane``, ``x``, ``y``, ``z`` or a vector ``a,b,c``;
    repository.conventions.NAMED_POLARIZATIONS), or ``polarization unknown``. One spelling, so a
    label can be typed back into ``--where 'polarization = ...'``."""
    value = record.get("polarization")
    return "polarization unknown" if value in (None, "") else str(value)


def short_label(record: dict[str, Any], *, polarization: bool = True) -> str:
    """'#12 h-BN v_N site 3 in_plane' -- what tells the curves of one panel apart: id, polymorph
    (or formula), defect (pristine for a computed spectrum without one), absorbing site,
    polarisation (:func:`polarization_label`, every one the same way, iso included; left out with
    ``polarization=False``, for a panel whose title names its one polarisation), sample name for a
    measurement."""
    words = [f"#{record['spectrum_id']}", _material(record)]
    words.append(_defect(record))
    if record.get("absorber_site_index") is not None:
        words.append(f"site {record['absorber_site_index']}")
    if polarization:
        words.append(polarization_label(record))
    if record.get("origin") == "experimental" and record.get("sample_name"):
        words.append(f"({record['sample_name']})")
    return " ".join(w for w in words if w)


def _material(record: dict[str, Any]) -> str:
    return str(record.get("polymorph") or record.get("reduced_formula") or "")


def _defect(record: dict[str, Any]) -> str:
    defect = record.get("defect_name")
    if defect:
        charge = record.get("defect_charge")
        return f"{defect}{'' if not charge else f' ({int(charge):+d})'}"
    return "pristine" if record.get("origin") == "computed" else ""


def curve_groups(records: list[dict[str, Any]], *, polarization: bool = True,
                 most: int = MAX_LEGEND_ENTRIES) -> tuple[list[str], str]:
    """For a panel with more curves than can be labelled one by one: the legend group of each
    record and how the panel says they are grouped.

    The finest grouping with at most ``most`` groups of: material + defect (pristine) +
    polarisation, material + polarisation, material (polarisation only when ``polarization``);
    the coarsest one when even that has more groups (the legend then grows rather than leave a
    drawn curve out). Returns (group label per record, 'grouped by ...' in words)."""
    fields = [("material", _material), ("defect", _defect), ("polarization", polarization_label)]
    if not polarization:
        fields = fields[:2]
    choices = [fields, [fields[0]] + fields[2:], fields[:1]]
    for chosen in choices:
        labels = [" ".join(w for w in (f(r) for _, f in chosen) if w) or "?" for r in records]
        if len(set(labels)) <= most:
            break
    return labels, "grouped by " + ", ".join(name for name, _ in chosen)


def _group_key(record: dict[str, Any]) -> tuple[str, str]:
    return (str(record.get("absorbing_element") or "?"), str(record.get("edge") or "?"))


def _listing(words: list[str], most: int = 4, noun: str = "") -> str:
    if len(words) > most:
        return f"{len(words)} {noun}".strip()
    if len(words) <= 2:
        return " and ".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def spectra_title(records: list[dict[str, Any]]) -> str:
    """'B K-edge XANES of h-BN and c-BN: 3 computed spectra' -- edges, spectrum type, polymorphs
    (or formulas) and the count, from the records."""
    edges = list(dict.fromkeys(f"{e} {g}-edge" for e, g in map(_group_key, records)))
    kinds = list(dict.fromkeys(str(r["spectrum_type"]) for r in records if r.get("spectrum_type")))
    materials = list(dict.fromkeys(str(r.get("polymorph") or r.get("reduced_formula"))
                                   for r in records if r.get("polymorph") or r.get("reduced_formula")))
    origins = list(dict.fromkeys(str(r["origin"]) for r in records if r.get("origin")))
    head = " ".join(w for w in (_listing(edges, 3, "edges"), "/".join(kinds)) if w)
    if materials:
        head += f" of {_listing(materials, 4, 'materials')}"
    n = len(records)
    count = f"{n} {origins[0] + ' ' if len(origins) == 1 else ''}spectr{'um' if n == 1 else 'a'}"
    return f"{head}: {count}"


# ----------------------------------------------------------------------------------------------
# the embedding window


def snapshot_window(snapshot: Any) -> dict[str, Any] | None:
    """What a snapshot compared, for shading on the spectra: ``{"element", "edge", "lo", "hi",
    "relative"}`` with the recipe window in eV (``relative``: measured from each spectrum's own
    edge, so it cannot be shaded on a photon-energy axis), or None when the file has no recipe."""
    if snapshot is None:
        return None
    info = snapshot_info(snapshot)
    recipe = info.get("recipe") or {}
    if recipe.get("energy_min_ev") is None or recipe.get("energy_max_ev") is None:
        if isinstance(snapshot, (str, Path)):
            raise UsageError(f"{snapshot}: not a snapshot with a recipe window (no xasrepo footer metadata)")
        return None
    return {"element": info.get("element"), "edge": info.get("edge"),
            "lo": float(recipe["energy_min_ev"]), "hi": float(recipe["energy_max_ev"]),
            "relative": recipe.get("alignment") not in (None, "none"), "alignment": recipe.get("alignment")}


def _shade_window(ax, window: dict[str, Any] | None, group: tuple[str, str]) -> bool:
    """Shade the snapshot's window on a panel of ``group`` (element, edge); True when shaded."""
    if not window or (window["element"], window["edge"]) != group:
        return False
    if window["relative"]:
        ax.text(0.01, 0.99, f"embedding window {window['lo']:g}…{window['hi']:g} eV from each edge "
                            f"({window['alignment']}): not shaded", transform=ax.transAxes, fontsize=7.5,
                va="top", ha="left", color="#8a5a00")
        return False
    ax.axvspan(window["lo"], window["hi"], color="#ffa500", alpha=0.13, lw=0, zorder=0,
               label=f"embedding window {window['lo']:g}–{window['hi']:g} eV")
    return True


# ----------------------------------------------------------------------------------------------
# the picture


def plot_spectra(engine: Engine, spectrum_ids: Sequence[int], output: str | Path, *,
                 offset: float | str | None = None, normalize: str | bool | None = None, with_dos: bool = False,
                 title: str | None = None, dpi: int = DPI, snapshot: Any = None) -> Path:
    """Draw the spectra with these ids into ``output`` (.png, .svg or .pdf) and return its path.

    One panel per absorbing element and edge (never one shared energy axis for B K and N K), each
    with photon energy in eV; ``offset`` shifts spectrum k of a panel up by k*offset (``"auto"``:
    by the tallest spectrum's height). Every curve is named: one by one (a legend, or a label at
    the right end of a stacked curve) up to :data:`MAX_LABELS_PER_PANEL` per panel, in groups
    (:func:`curve_groups`, the legend says how) above that. ``normalize`` is 'none', 'max', 'area' or 'edge_step'
    (:func:`normalize_spectrum`; ``True`` = 'max'), named on the y axis. ``with_dos`` draws one row per
    spectrum with the absorber's DOS (states/eV on E − E_F) beside it. ``snapshot`` (a snapshot
    file) shades its recipe's energy window on the panels of its element and edge. The title
    names edges, materials and the count unless ``title`` is given.

    Raises :class:`UsageError` for no spectra, too many, a bad option or an unnormalisable
    spectrum; :class:`NotFoundError` for an unknown id.
    """
    # lazy import: start-up time (matplotlib is heavy; only this path needs it)
    import matplotlib.pyplot as plt

    output = check_output(output)
    dpi = check_dpi(dpi)
    fig = spectra_figure(engine, spectrum_ids, offset=offset, normalize=normalize, with_dos=with_dos, title=title,
                         dpi=dpi, snapshot=snapshot)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(output, dpi=dpi)
    finally:
        plt.close(fig)
    return output


def spectra_figure(engine: Engine, spectrum_ids: Sequence[int], *, offset: float | str | None = None,
                   normalize: str | bool | None = None, with_dos: bool = False, title: str | None = None,
                   dpi: int = DPI, snapshot: Any = None):
    """The matplotlib Figure :func:`plot_spectra` saves (same arguments; the caller closes it)."""
    # lazy import: start-up time (matplotlib is heavy; only this path needs it)
    import matplotlib

    matplotlib.use("Agg", force=False)
    # lazy import: start-up time (matplotlib is heavy; only this path needs it)
    import matplotlib.pyplot as plt

    how = check_normalization(normalize)
    ids = list(dict.fromkeys(int(i) for i in spectrum_ids))
    limit = MAX_SPECTRA_WITH_DOS if with_dos else MAX_SPECTRA
    if not ids:
        raise UsageError("no spectra to plot (the filter matched nothing)")
    if len(ids) > limit:
        raise UsageError(f"{len(ids)} spectra chosen; at most {limit} fit in one picture"
                         + (" with DOS" if with_dos else "") + ": narrow the filter or give --limit")
    offset = parse_offset(offset)
    window = snapshot_window(snapshot)
    records = [get_spectrum(engine, i) for i in ids]
    if how == "edge_step":
        check_edge_step_applies(records)
    curves = []
    for record in records:
        x = np.asarray(record["energy_ev"], dtype=float)
        y = normalize_spectrum(x, record["intensity"], how, label=f"spectrum {record['spectrum_id']}")
        curves.append((x, y))
    groups: dict[tuple[str, str], list[int]] = {}
    for k, record in enumerate(records):
        groups.setdefault(_group_key(record), []).append(k)
    y_label = normalization_axis_label(how)

    if with_dos:
        fig = _draw_with_dos(plt, engine, records, curves, y_label, window, dpi)
    else:
        fig = _draw_panels(plt, np, records, curves, groups, offset, y_label, window, dpi)
    fig.suptitle(title or spectra_title(records), fontsize=12)
    return fig


def _colors(plt, n: int):
    if n <= 10:
        palette = plt.get_cmap("tab10")
        return lambda k: palette(k % 10)
    ramp = plt.get_cmap("viridis")
    return lambda k: ramp(0.9 * k / max(n - 1, 1))  # not the palest yellow: it vanishes on white


def _draw_panels(plt, np, records, curves, groups, offset, y_label, window, dpi):
    """One panel per (element, edge). Every curve is named on the panel: up to
    :data:`MAX_LABELS_PER_PANEL` curves one by one (a legend when overlaid, a label at the right
    end when stacked); more are drawn in groups (:func:`curve_groups`), one colour and one legend
    entry with its count per group, and the legend title says how they are grouped. The
    polarisation is written once in the panel title when the panel has one, in every label when
    it mixes several."""
    n_panels = len(groups)
    ncols = min(n_panels, 3)
    nrows = -(-n_panels // ncols)
    n_max = max(len(members) for members in groups.values())
    step_known = offset not in (None, 0)
    height = min(14.0, 4.6 + (0.3 * n_max if step_known else 0.0)) * (1.0 if nrows == 1 else 0.75 * nrows)
    width = 9.0 if ncols == 1 else 6.2 * ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), dpi=dpi, squeeze=False, layout="constrained")
    for ax in axes.ravel()[n_panels:]:
        ax.set_visible(False)
    for ax, ((element, edge), members) in zip(axes.ravel(), groups.items()):
        panel_records = [records[k] for k in members]
        polarizations = list(dict.fromkeys(polarization_label(r) for r in panel_records))
        mixed = len(polarizations) > 1
        grouped = len(members) > MAX_LABELS_PER_PANEL
        if grouped:
            group_of, how = curve_groups(panel_records, polarization=mixed)
            order = sorted(range(len(members)), key=lambda j: list(dict.fromkeys(group_of)).index(group_of[j]))
            members = [members[j] for j in order]  # each group's curves together (stacked: one block)
            group_of = [group_of[j] for j in order]
            names = list(dict.fromkeys(group_of))
            counts = {g: group_of.count(g) for g in names}
            color_of = _colors(plt, len(names))
        else:
            color_of = _colors(plt, len(members))
        panel = [curves[k] for k in members]
        step = offset
        if offset == "auto":
            step = AUTO_OFFSET_GAP * max(float(np.ptp(y)) for _, y in panel) or 1.0
        step = float(step or 0.0)
        for j, k in enumerate(members):
            x, y = curves[k]
            if grouped:
                g = group_of[j]
                first = group_of.index(g) == j
                label = f"{g} ({counts[g]} curve{'s' if counts[g] > 1 else ''})" if first else "_nolegend_"
                color = color_of(names.index(g))
            else:
                label = short_label(records[k], polarization=mixed)
                color = color_of(j)
            ax.plot(x, y + j * step, color=color, lw=1.3 if len(members) > 20 else 1.6, label=label)
            if step and not grouped:
                ax.annotate(label, (x[-1], y[-1] + j * step), xytext=(4, 0), textcoords="offset points",
                            fontsize=8, va="center", color=color)
        shaded = _shade_window(ax, window, (element, edge))
        if step:
            xs = np.concatenate([curves[k][0] for k in members])
            ax.set_xlim(xs.min() - 0.02 * np.ptp(xs), xs.max() + (0.02 if grouped else 0.32) * np.ptp(xs))
            ax.set_yticks([])
        if grouped:
            # stacked: the legend beside the panel, not over the top curves
            place = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)} if step else {}
            ax.legend(fontsize=7.5, frameon=False, ncols=1 if len(names) <= 12 or step else 2,
                      title=f"{len(members)} curves {how}", title_fontsize=8, **place)
        elif not step:
            ax.legend(fontsize=7.5 if len(members) > 8 else 8.5, frameon=False, ncols=1 if len(members) <= 12 else 2)
        elif shaded:  # stacked curves carry their own labels: the legend shows the window only
            ax.legend(handles=[h for h in ax.get_legend_handles_labels()[0]
                               if str(h.get_label()).startswith("embedding window")], fontsize=8, frameon=False,
                      loc="lower right")
        polar = "" if mixed else f", {polarizations[0]}"
        ax.set_title(f"{element} {edge}-edge{polar} ({len(members)} spectr{'um' if len(members) == 1 else 'a'})",
                     fontsize=10.5, loc="left")
        ax.set_xlabel("photon energy (eV)")
        ax.set_ylabel(y_label + (f", offset {step:.3g} per curve" if step else ""), fontsize=9.5)
    return fig


def _draw_with_dos(plt, engine, records, curves, y_label, window, dpi):
    n = len(records)
    fig, axes = plt.subplots(n, 2, figsize=(11, 1.0 + 2.6 * n), dpi=dpi, squeeze=False,
                             gridspec_kw={"width_ratios": [3, 2]}, layout="constrained")
    color_of = _colors(plt, n)
    for k, (record, (x, y)) in enumerate(zip(records, curves)):
        ax, dos_ax = axes[k]
        ax.plot(x, y, color=color_of(k), lw=1.6)
        group = _group_key(record)
        ax.set_title(f"{group[0]} {group[1]}-edge, {short_label(record)}", fontsize=10, loc="left")
        ax.set_ylabel(y_label, fontsize=8.5)
        ax.set_xlabel("photon energy (eV)", fontsize=9)
        if _shade_window(ax, window, group):
            ax.legend(fontsize=7.5, frameon=False, loc="upper right")
        _draw_dos(dos_ax, absorber_dos(engine, record), record)
    return fig


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
    ax.set_xlabel("E − E_F (eV)" if fermi is not None else "energy (eV, Fermi level not stored)", fontsize=9)
    ax.set_ylabel("DOS (states/eV)", fontsize=9)
    where = (f"site {record['absorber_site_index']}" if curves[0]["projection"] == "site"
             else curves[0]["projection"])
    ax.set_title(f"ground-state DOS of the absorber ({where})", fontsize=10, loc="left")
    ax.legend(fontsize=8, frameon=False)
