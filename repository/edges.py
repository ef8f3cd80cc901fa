"""Tabulated X-ray absorption edge energies and the check that a spectrum is what its label says.

Energies are the Elam, Ravel and Sieber tables (Radiat. Phys. Chem. 63, 121 (2002)) as distributed
by ``xraydb`` (https://xraypy.github.io/XrayDB/); :mod:`repository.edge_table` is generated from
it (``python -m repository.edges > repository/edge_table.py``) because importing xraydb costs
~0.8 s of CPU at start-up; ``tests/test_edges.py`` checks the table equals xraydb.

The consistency check (:func:`check_edge`) compares the tabulated edge of the stated element and
edge with the energies of the data (all in eV):

* the tabulated edge ``E0`` must lie inside the data range widened by ``RANGE_TOLERANCE_EV``
  (a scan may start a little above the edge, or stop before it: pre-edge scans);
* when ``E0`` lies inside the data range (or just outside it while the data hold a clear edge of
  their own, see ``_is_clear_edge``), the steepest rise of the data (maximum of ``|dmu/dE|``
  after a 5-point median filter that removes single-point monochromator glitches) must lie within
  ``edge_tolerance_ev(E0, computed)`` of ``E0``, or the slope near ``E0`` must reach half that
  maximum (spectra with a strong pre-edge or white line).

For measured absorption spectra, :func:`check_edge_step` then requires the data to *rise* at the
edge: the signed Larch edge step (:mod:`repository.larch_edge`) at the steepest point near the
tabulated edge must be at least ``MIN_EDGE_STEP_T`` standard errors above zero (a transmitted
intensity falls there; I0 or noise holds no edge). Constants and measurements at their definition.

Tolerances, from physics and the fixtures:

* measured: ``max(20 eV, 1 % of E0)``. Chemical shifts between oxidation states are <= ~15 eV
  (S K sulfide -> sulfate ~10 eV, Mn K 0 -> +7 ~ 15 eV), calibration errors a few eV, and the
  steepest rise of a light-element K edge can be a resonance 10-15 eV above the tabulated edge
  (B K of h-BN: pi* 192 eV, sigma* ~198 eV; E0 188 eV); neighbouring elements are >= 50 eV apart
  for the K and L3 edges above 150 eV and > 2.5 % of E0 everywhere (U/Pa K 2.6 %), so 1 % never
  confuses them.
* computed: ``max(25 eV, 2 % of E0)``. Absolute energies of computed spectra are offset: PBE
  Delta-Kohn-Sham onsets ~1.5-2 eV low (docs/bn-calculations.md), FEFF's Fermi level up to ~10 eV
  off, Z+1 / ground-state calculations aligned by hand.
* ``RANGE_TOLERANCE_EV`` = 50 eV on each side of the data range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .edge_table import EDGE_ENERGIES_EV, TABLE_SOURCE
from .errors import UsageError
from .larch_edge import pre_edge

__all__ = ["EDGE_ENERGIES_EV", "TABLE_SOURCE", "GENERIC_EDGES", "EdgeMismatch", "EdgeStep", "EdgeStepProblem",
           "check_edge", "check_edge_step", "edge_energy_ev", "edge_energies_ev", "edge_tolerance_ev", "find_edge_ev",
           "measure_edge_step", "nearest_edges"]

RANGE_TOLERANCE_EV = 50.0
MEASURED_TOLERANCE = (20.0, 0.01)  # (eV floor, fraction of E0)
COMPUTED_TOLERANCE = (25.0, 0.02)
# A slope near the tabulated edge of at least this fraction of the steepest slope also counts.
SLOPE_FRACTION = 0.5
# Fewer points than this: no edge search, only the range check.
MIN_POINTS_FOR_SEARCH = 7

# XDI dictionary symbols that name a group of edges; "L2,3" is a stitched L2+L3 spectrum.
GENERIC_EDGES = {
    "L": ("L1", "L2", "L3"),
    "M": ("M1", "M2", "M3", "M4", "M5"),
    "N": ("N1", "N2", "N3", "N4", "N5", "N6", "N7"),
    "O": ("O1", "O2", "O3", "O4", "O5", "O6", "O7"),
    "L2,3": ("L2", "L3"),
}


class EdgeMismatch(ValueError):
    """The stated element/edge does not fit the data; the message is one line for the user."""


def edge_energies_ev(element: str, edge: str) -> dict[str, float]:
    """Tabulated energies (eV) of ``edge`` of ``element``; a generic symbol (L, M, N, O, L2,3) gives
    every tabulated member. Empty when the element has no such edge in the Elam tables."""
    table = EDGE_ENERGIES_EV.get(element, {})
    names = GENERIC_EDGES.get(edge, (edge,))
    return {name: table[name] for name in names if name in table}


def edge_energy_ev(element: str, edge: str) -> float | None:
    """The tabulated edge energy in eV (the lowest member for generic symbols), or None."""
    found = edge_energies_ev(element, edge)
    return min(found.values()) if found else None


def edge_tolerance_ev(e0: float, computed: bool) -> float:
    """How far the data's edge may lie from the tabulated one (see the module docstring)."""
    floor, fraction = COMPUTED_TOLERANCE if computed else MEASURED_TOLERANCE
    return max(floor, fraction * e0)


# Order in which candidate edges are named: the edges people measure most come first.
_EDGE_RANK = {"K": 0, "L3": 1, "L2": 2, "M5": 3, "L1": 4, "M4": 5}


def nearest_edges(energy_ev: float, count: int = 2, tolerance_ev: float | None = None) -> list[tuple[str, str, float]]:
    """(element, edge, energy) of tabulated edges near ``energy_ev``: within ``tolerance_ev`` (K, L3,
    L2, M5 edges first, then by distance), or the ``count`` closest when no tolerance is given."""
    rows = [(abs(e - energy_ev), el, edge, e) for el, edges in EDGE_ENERGIES_EV.items() for edge, e in edges.items()]
    if tolerance_ev is not None:
        rows = sorted((r for r in rows if r[0] <= tolerance_ev), key=lambda r: (_EDGE_RANK.get(r[2], 9), r[0]))
    else:
        rows.sort()
    return [(el, edge, e) for _, el, edge, e in rows[:count]]


def _median5(values: np.ndarray) -> np.ndarray:
    """Running median of 5 points (ends padded by repeating the end values), by a sorting network:
    median(a..e) = median3(e, max(min(a, b), min(c, d)), min(max(a, b), max(c, d)))."""
    p = np.concatenate((values[:1], values[:1], values, values[-1:], values[-1:]))
    a, b, c, d, e = p[:-4], p[1:-3], p[2:-2], p[3:-1], p[4:]
    f = np.maximum(np.minimum(a, b), np.minimum(c, d))
    g = np.minimum(np.maximum(a, b), np.maximum(c, d))
    return np.maximum(np.minimum(e, f), np.minimum(np.maximum(e, f), g))


def find_edge_ev(energy: np.ndarray, mu: np.ndarray) -> tuple[float, np.ndarray] | None:
    """Energy of the steepest change of ``mu`` (eV) and ``|dmu/dE|`` per point, or None when the
    spectrum is too short to search. ``energy`` must increase. A 5-point running median removes
    single-point glitches; the slope is the central difference (s[i+1] - s[i-1]) / (E[i+1] - E[i-1])."""
    n = energy.size
    if n < MIN_POINTS_FOR_SEARCH:
        return None
    smooth = _median5(mu)
    slope = np.zeros(n)
    slope[1:-1] = np.abs((smooth[2:] - smooth[:-2]) / (energy[2:] - energy[:-2]))
    # the first and last two points see the padding, not data: they cannot be the edge
    slope[:2] = 0.0
    slope[-2:] = 0.0
    if not np.any(slope > 0):
        return None
    return float(energy[int(np.argmax(slope))]), slope


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _expected(found: dict[str, float]) -> str:
    if len(found) > 1:
        return " / ".join(f"{name} {_fmt(e)} eV" for name, e in found.items())
    return f"{_fmt(next(iter(found.values())))} eV"


# What to do about keV energies, by default for a data file read by ``import``/``project``; a caller
# whose input has no unit option (a calculation set) passes its own advice.
KEV_ADVICE = "give --energy-unit keV"


def check_edge(element: str, edge: str, energy: np.ndarray, mu: np.ndarray, *, computed: bool,
               energy_name: str | None = None, kev_advice: str = KEV_ADVICE) -> float:
    """Raise :class:`EdgeMismatch` unless ``element``/``edge`` fits the data; returns the tabulated E0.

    ``energy`` (eV, increasing) and ``mu`` are 1-D arrays of equal length. ``computed`` selects the
    wider tolerance of computed spectra. The message names the range found, the edge expected and
    the likely cause (keV instead of eV, energies relative to the edge, another element or edge);
    ``kev_advice`` ends the keV cause (the default names ``--energy-unit``, which only data files take).
    """
    found = edge_energies_ev(element, edge)
    if not found:
        have = ", ".join(EDGE_ENERGIES_EV.get(element, {})) or "none in the tables"
        raise EdgeMismatch(f"{element} has no {edge} edge (tabulated edges of {element}: {have})")
    lo, hi = float(energy[0]), float(energy[-1])
    label = f"{element} {edge}"
    tolerance = RANGE_TOLERANCE_EV
    e0s = list(found.values())
    near = [e for e in e0s if lo - tolerance <= e <= hi + tolerance]
    if not near:
        expected = _expected(found)
        e0 = min(e0s, key=lambda e: min(abs(e - lo), abs(e - hi)))
        where = "do not reach" if hi < e0 else "start above"   # the scan ends below it / begins past it
        raise EdgeMismatch(f"energies {_fmt(lo)}-{_fmt(hi)} eV {where} the {label} edge ({expected}): "
                           + _likely_cause(e0, lo, hi, energy, mu, computed, energy_name, kev_advice))
    inside = [e for e in near if lo < e < hi]
    search = find_edge_ev(energy, mu)
    if not inside:
        # the edge lies just outside the scan (a scan starting above the edge, a pre-edge scan): fine,
        # unless the scan holds a clear edge of its own far from the stated one (another element)
        if search is None or not _is_clear_edge(energy, mu, search[0], search[1]) \
                or any(abs(search[0] - e) <= edge_tolerance_ev(e, computed) for e in near):
            return near[0]
    outside = not inside
    inside = inside or near
    if search is None:
        return inside[0]
    edge_at, slope = search
    allowed = max(edge_tolerance_ev(e, computed) for e in inside)
    for e0 in inside:
        if abs(edge_at - e0) <= allowed:
            return e0
        window = np.abs(energy - e0) <= allowed
        # a slope near a tabulated edge inside the data counts; at the end of a scan it says nothing
        if not outside and np.any(window) and slope[window].max() >= SLOPE_FRACTION * slope.max():
            return e0
    kind = "computed" if computed else "measured"
    expected = _expected(found)
    others = [f"{el} {ed} ({_fmt(e)} eV)" for el, ed, e in nearest_edges(edge_at, 3, edge_tolerance_ev(edge_at, computed))
              if (el, ed) != (element, edge)]
    cause = f"another element or edge? {', '.join(others)} lie closer" if others else "another element or edge?"
    raise EdgeMismatch(f"labelled {label} ({expected}) but the absorption edge in the data (energies "
                       f"{_fmt(lo)}-{_fmt(hi)} eV) is at {_fmt(edge_at)} eV, more than {_fmt(allowed)} eV away "
                       f"(tolerance for {kind} spectra): {cause}")


def _element_for_edge_text(symbol: str) -> str:
    """The element as an edge label names it: its symbol ("Cu" in "Cu K"), except potassium, whose
    symbol is also the name of an edge ("K L3" read as "K edge, L3" to a newcomer, 2026-12-01)."""
    return "potassium" if symbol == "K" else symbol


def _likely_cause(e0: float, lo: float, hi: float, energy, mu, computed: bool, energy_name: str | None,
                  kev_advice: str = KEV_ADVICE) -> str:
    name = (energy_name or "").strip().lower()
    if name in ("k", "wavenumber") or name.startswith(("k(", "k ", "k/", "k_", "chi")):
        return "the abscissa is a photoelectron wavenumber k, not an energy: import mu(E) data instead"
    search = find_edge_ev(energy, mu)
    if search is not None and abs(search[0] * 1000.0 - e0) <= edge_tolerance_ev(e0, computed) \
            and _is_clear_edge(energy, mu, search[0]):
        return (f"the energies look like keV ({_fmt(lo * 1000)}-{_fmt(hi * 1000)} eV would contain the edge): "
                + kev_advice)
    if lo <= 0 < hi or (hi < e0 / 2 and hi - lo < e0):
        if lo <= 0 < hi:
            return (f"the energies look relative to the edge: give --edge-energy {_fmt(e0)} "
                    "(the tabulated value) if they are")
    if search is not None and _is_clear_edge(energy, mu, search[0]):
        at = search[0]
        fits = nearest_edges(at, 3, edge_tolerance_ev(at, computed))
        if fits:
            return (f"the data rise most steeply at {_fmt(at)} eV: another element or edge? "
                    + ", ".join(f"{_element_for_edge_text(el)} {ed} ({_fmt(e)} eV)" for el, ed, e in fits))
    below = e0 - hi
    if 0 < below <= 150.0:
        return f"the scan ends {_fmt(below)} eV below the edge (a pre-edge-only scan?)"
    return "wrong element, edge or energy unit?"


# An edge is local: its slope stands out from the median slope of the scan by this factor (the
# largest of ~100 noise slopes is ~4x their median; a sloping background has max ~ median).
CLEAR_EDGE_SLOPE_RATIO = 8.0


def _is_clear_edge(energy: np.ndarray, mu: np.ndarray, at: float, slope: np.ndarray | None = None) -> bool:
    """Whether the data hold an absorption edge (at ``at``, their steepest point), not only a sloping
    background or noise: the steepest slope is CLEAR_EDGE_SLOPE_RATIO times the median slope or more."""
    if slope is None:
        search = find_edge_ev(energy, mu)
        if search is None:
            return False
        slope = search[1]
    slope = slope[2:-2]
    return slope.size > 0 and float(slope.max()) >= CLEAR_EDGE_SLOPE_RATIO * float(np.median(slope))


# ----------------------------------------------------------------------------------------------
# The edge step: a measured absorption spectrum rises at its edge

# The signed edge step must be at least this many standard errors above zero (a 5-sigma detection).
# MEASURED 2026-12-01 with `python -m bench.edge_step_margins` (docs/formats.md): the 273 fixture
# spectra that import have t >= 11.1 (XASDataLibrary S/pentlandite_rt_01.xdi; next 24.3): margin
# 2.2x; 4,254 pure-noise spectra (1 +- 0.01) on the fixtures' energy grids: t < 2.5 for 99 %, < 3.4
# for 99.9 %, at most 4.5 (none passes); every itrans/irefer column of the fixtures (215) has t < 0.
MIN_EDGE_STEP_T = 5.0
# Fewer points than this on the pre-edge (Larch's pre-edge range, below e0 + pre2): the point noise
# is estimated from the whole scan instead. The median of ~10 residuals is unstable: with 8 here,
# one noise spectrum in 1,000 had its noise underestimated 10-fold (cro2_rt_002.xdi's grid, t = 33).
MIN_NOISE_POINTS = 20
# Fewer points than this on either side of e0 (a scan that starts or stops at the edge): there is
# no pre-edge line or post-edge curve to measure a step from, so the step is not judged.
MIN_POINTS_EACH_SIDE = 3
MAD_TO_SIGMA = 1.4826  # median absolute deviation -> standard deviation of normal noise


class EdgeStepProblem(ValueError):
    """The data do not rise at the stated edge (see :func:`check_edge_step`); the message is one line."""


@dataclass(frozen=True)
class EdgeStep:
    """What :func:`measure_edge_step` found: e0 (eV), the signed edge step and its standard error
    (both in the units of the signal), and the point noise it came from (signal units)."""

    e0_ev: float
    step: float
    step_error: float
    noise: float

    @property
    def t(self) -> float:
        """The step in standard errors (dimensionless; +-inf when the data hold no noise)."""
        if self.step_error > 0:
            return self.step / self.step_error
        return float("inf") if self.step > 0 else float("-inf") if self.step < 0 else 0.0


def point_noise(energy: np.ndarray, mu: np.ndarray) -> float:
    """Robust standard deviation of independent noise on ``mu`` (its units): each point minus the
    straight line through its two neighbours, divided by that difference's standard deviation per
    unit noise (sqrt(1 + a^2 + b^2) for interpolation weights a, b), then 1.4826 x the median
    absolute value, so that an edge, a white line or a glitch (a few points) does not count.
    ``energy`` increasing; 0.0 for fewer than 3 points."""
    if energy.size < 3:
        return 0.0
    left, right = energy[1:-1] - energy[:-2], energy[2:] - energy[1:-1]
    a, b = right / (left + right), left / (left + right)
    residual = mu[1:-1] - (a * mu[:-2] + b * mu[2:])
    return float(MAD_TO_SIGMA * np.median(np.abs(residual) / np.sqrt(1.0 + a * a + b * b)))


def measure_edge_step(energy: np.ndarray, mu: np.ndarray, tabulated_e0_ev: float) -> EdgeStep | None:
    """Edge step of ``mu`` at the edge nearest ``tabulated_e0_ev`` (eV), Larch's way, with its sign
    and its standard error.

    e0 is the point of steepest ``|dmu/dE|`` (:func:`find_edge_ev`: the point the label check looks
    at) within the measured tolerance of the tabulated edge, so that a signal falling at the edge
    is judged where it falls (Larch's ``find_e0`` takes the largest *rise*, which such a signal has
    elsewhere). The step is :func:`repository.larch_edge.pre_edge`'s with Larch's default ranges
    around that e0 (post-edge minus pre-edge line at e0, signed); its standard error is
    ``step_noise_gain`` x the point noise (:func:`point_noise`) of the pre-edge (the points below
    e0 + pre2; the whole scan when fewer than MIN_NOISE_POINTS lie there). ``energy`` (eV,
    increasing) and ``mu`` are 1-D arrays of equal length. Returns None when the step cannot be
    judged: the tabulated edge outside the scan, too few points, none within the tolerance of the
    edge, or fewer than MIN_POINTS_EACH_SIDE on either side of e0 or in Larch's pre-edge or
    post-edge range. A vanishing step (the lines meet) is 0.
    """
    energy = np.asarray(energy, dtype=float)
    mu = np.asarray(mu, dtype=float)
    if not energy.size or not energy[0] < tabulated_e0_ev < energy[-1]:
        return None  # a scan that starts above the edge or stops below it (check_edge lets it through)
    search = find_edge_ev(energy, mu)
    if search is None:
        return None
    slope = search[1]
    window = np.flatnonzero((np.abs(energy - tabulated_e0_ev) <= edge_tolerance_ev(tabulated_e0_ev, False))
                            & (slope > 0))
    if window.size == 0:
        return None
    at = int(window[np.argmax(slope[window])])
    if at < MIN_POINTS_EACH_SIDE or energy.size - 1 - at < MIN_POINTS_EACH_SIDE:
        return None
    e0 = float(energy[at])
    try:
        result = pre_edge(energy, mu, e0_ev=e0)
    except UsageError:  # the post-edge and pre-edge lines meet at e0: no step at all
        return EdgeStep(e0, 0.0, 0.0, 0.0)
    pre = energy <= result.e0_ev + result.pre2_ev
    post = (energy >= result.e0_ev + result.norm1_ev) & (energy <= result.e0_ev + result.norm2_ev)
    if (pre & (energy >= result.e0_ev + result.pre1_ev)).sum() < MIN_POINTS_EACH_SIDE \
            or post.sum() < MIN_POINTS_EACH_SIDE:
        return None  # Larch's ranges hold too few points to fit a pre-edge line or a post-edge curve
    noise = point_noise(energy[pre], mu[pre]) if pre.sum() >= MIN_NOISE_POINTS else point_noise(energy, mu)
    return EdgeStep(result.e0_ev, result.signed_edge_step, result.step_noise_gain * noise, noise)


def check_edge_step(element: str, edge: str, energy: np.ndarray, mu: np.ndarray,
                    tabulated_e0_ev: float) -> EdgeStep | None:
    """Raise :class:`EdgeStepProblem` unless a measured absorption spectrum rises at its edge.

    The signed edge step (:func:`measure_edge_step`, mu units) must be at least MIN_EDGE_STEP_T
    standard errors above zero: a negative step is a signal that falls at the edge (a transmitted
    intensity I1 or It, not mu = ln(I0/I1)); one within the noise is no edge at all (noise, a
    detector that does not see the absorber). ``energy`` (m,) in eV, increasing; ``tabulated_e0_ev``
    the edge the label check matched (:func:`check_edge`'s result). Returns what was measured, or
    None when the data cannot show a step (see :func:`measure_edge_step`).
    """
    found = measure_edge_step(energy, mu, tabulated_e0_ev)
    if found is None or found.t >= MIN_EDGE_STEP_T:
        return found
    where = f"edge step at e0 = {_fmt(found.e0_ev)} eV"
    advice = "use --signal-col with --i0-col (and --mode), or the file's mu column"
    if found.t <= -MIN_EDGE_STEP_T:
        raise EdgeStepProblem(f"{where} is negative ({found.step:.3g} +- {found.step_error:.2g}): the signal falls "
                              f"at the {element} {edge} edge instead of rising; is it a transmitted intensity (I1, It), "
                              f"or a column without this edge? {advice}")
    raise EdgeStepProblem(f"{where} is {found.step:.3g} +- {found.step_error:.2g}, not significantly positive "
                          f"(under {_fmt(MIN_EDGE_STEP_T)} standard errors): no {element} {edge} absorption edge "
                          f"in the signal; is it I0, another detector, or noise? {advice}")


def generate_table_source() -> str:
    """Python source of :mod:`repository.edge_table` from the installed xraydb (Z = 1..98)."""
    # lazy import: xraydb is needed only to regenerate the table, never at run time
    import xraydb

    lines = ['"""Generated by `python -m repository.edges` from xraydb; do not edit (see repository/edges.py)."""',
             "", f"TABLE_SOURCE = 'xraydb {xraydb.__version__} (Elam, Ravel and Sieber 2002)'", "",
             "EDGE_ENERGIES_EV: dict[str, dict[str, float]] = {"]
    for z in range(1, 99):
        symbol = xraydb.atomic_symbol(z)
        edges = xraydb.xray_edges(symbol)
        body = ", ".join(f"{name!r}: {float(edges[name].energy)!r}" for name in edges)
        lines.append(f"    {symbol!r}: {{{body}}},")
    lines.append("}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - regeneration helper
    print(generate_table_source(), end="")
