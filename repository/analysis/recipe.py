"""Preprocessing recipes: how raw spectra become rows of one matrix on a common energy grid.

A :class:`Recipe` is an immutable, validated value object, serialisable to JSON and stored with
every snapshot, so a snapshot can always be reproduced and new spectra projected onto it with
exactly the same preprocessing. The steps, in order:

1. **alignment** of the energy axis (``alignment``):
   - ``none``: energies as stored (eV, absolute);
   - ``edge_onset``: energies relative to the spectrum's own edge position e0. Recipe version 2
     (the default): e0 as Athena/Larch ``find_e0`` defines it, the maximum of the smoothed
     derivative (:func:`repository.analysis.edge.find_e0`). Version 1 (snapshots made before):
     the first energy where the intensity reaches ``onset_fraction`` of its maximum (linearly
     interpolated). The window is then in eV relative to e0 (e.g. -4 .. 10), which makes relative
     energies and calibration offsets irrelevant and compares shapes only (preset ``shape``);
   - ``stored_shift``: energies plus the shift stored with the spectrum: the calculation's
     ``alignment_shift_ev`` plus the spectrum's ``calibration_shift_ev`` (absent counts as 0).
2. **interpolation** onto the grid ``energy_min_ev, energy_min_ev + step_ev, ... <= energy_max_ev``
   (linear; beyond a spectrum's ends its first/last value is held constant).
3. optional **Gaussian broadening** with ``broadening_fwhm_ev`` (convolution on the grid).
4. **normalisation**: ``none``; ``max`` (divide by the maximum); ``area`` (divide by the
   trapezoidal area over the window); ``edge_step``: version 2, Athena/Larch ``pre_edge`` on each
   spectrum's own data before interpolation (pre-edge line, post-edge polynomial, step 1 at e0;
   :func:`repository.analysis.edge.pre_edge` with Larch's default ranges); version 1, subtract the
   mean of the first :data:`EDGE_STEP_FRACTION` of the window and divide by the mean of the last
   fraction minus that.

Before interpolating, every spectrum must cover at least :data:`MIN_WINDOW_COVERAGE` of the window
with its own points (after alignment): beyond its ends a spectrum is only held constant, so a window
the data barely reach would compare invented plateaus. After interpolation no row may be flat
(constant within :data:`FLAT_TOLERANCE` of its magnitude), and no normalisation denominator may be
zero or negligible (:data:`NORMALIZATION_TOLERANCE`). Each failure is a :class:`UsageError` naming a
spectrum, never NaNs or a silent row of constants.

A recipe whose window or step is left open is *resolved* against the data before use
(:func:`resolve`), and snapshots store the resolved recipe. The step becomes the coarsest median
point spacing among the spectra. The window (version 2) is set by the element and edge, not by the
narrowest spectrum (:func:`default_window`): :data:`DEFAULT_WINDOWS_EV` for the edges of the bundled
set, chosen to cover their near-edge features; :data:`SHAPE_WINDOW_EV` relative to each spectrum's
e0 with ``edge_onset`` alignment; otherwise :data:`GENERIC_WINDOW_EV` around the selection's median
e0. Spectra that cover less than :data:`MIN_WINDOW_COVERAGE` of a default window are excluded, the
others are padded beyond their ends (held constant); both are named in the output and in the
snapshot's provenance (:func:`window_report`). Version 1 recipes resolved an open window to the
range every spectrum covers (kept for reading old snapshots, whose recipes are always resolved).

**Presets** (:data:`PRESETS`, ``--recipe absolute`` / ``--recipe shape``): ``absolute`` is the
default recipe (absolute energies, the element/edge window, ``max`` normalisation); ``shape`` aligns
every spectrum at its own e0 and compares shapes only over -4 .. +10 eV around it (calibration and
chemical shifts of the edge no longer count).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..conventions import Alignment, Normalization
from ..errors import InputError, UsageError

ALIGNMENTS = tuple(a.value for a in Alignment)
NORMALIZATIONS = tuple(n.value for n in Normalization)
DEFAULT_ONSET_FRACTION = 0.5
EDGE_STEP_FRACTION = 0.1  # pre-edge and post-edge regions for edge-step normalisation
MAX_GRID_POINTS = 20_000
MIN_GRID_POINTS = 3  # fewer grid points have no shape to compare
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
RECIPE_VERSION = 2  # 2: e0 = max of the derivative (Larch), edge_step = Larch pre_edge, element/edge windows
SUPPORTED_VERSIONS = (1, 2)
# Default windows (absolute eV) per (element, edge), chosen from the physics of the near-edge region
# (docs/analysis.md "Energy windows"). Tabulated edges (xraydb, Elam): B K 188.0 eV, N K 409.9 eV.
# B K 184-201 eV: the C_N nearest-B feature (187.1 eV), the sp2 pi* (h-BN 192.0 eV measured, ~190.2 eV
#   in the bundled set) and the sigma* doublet (+5.7/+7.2 eV above pi*, measured +6.0/+7.3) up to
#   the sp3 sigma* rise of c-BN/w-BN. It does NOT cover the antisite B_N pre-edge peak: that peak
#   (spectrum 27) tops at 184.16 eV with its half maximum at 183.96 eV, so the window keeps only its
#   top (docs/analysis.md "What the B K window cuts"); monolayer spectra end at 196.75-198.4 eV and
#   are padded (window_report, padding_text).
# N K 393-410 eV: the v_B pre-peak (~394.2 eV, -7.2 eV below pi*), pi* (401 eV measured) and the
#   sigma* doublet (~407-408.5 eV) with the onset of c-BN's sigma* band.
DEFAULT_WINDOWS_EV: dict[tuple[str, str], tuple[float, float]] = {
    ("B", "K"): (184.0, 201.0),
    ("N", "K"): (393.0, 410.0),
}
SHAPE_WINDOW_EV = (-4.0, 10.0)  # edge_onset alignment: eV relative to each spectrum's own e0
GENERIC_WINDOW_EV = (-10.0, 30.0)  # other edges: eV around the selection's median e0 (XANES region)
NARROW_WINDOW_FRACTION = 0.5  # a window narrower than this times the data's median range is warned about
PRESETS: dict[str, dict[str, Any]] = {
    "absolute": {},
    "shape": {"alignment": "edge_onset", "energy_min_ev": SHAPE_WINDOW_EV[0], "energy_max_ev": SHAPE_WINDOW_EV[1]},
}
_DENOMINATOR_FLOOR = 1e-300
MIN_WINDOW_COVERAGE = 0.5  # a spectrum's own points must span at least this fraction of the window
FLAT_TOLERANCE = 1e-9  # a row whose max - min is at most this times its largest |value| is flat
NORMALIZATION_TOLERANCE = 1e-9  # a max/area/edge step below this times the row's magnitude is zero
_WINDOW_OPTIONS = "--energy-min/--energy-max or the recipe's energy_min_ev/energy_max_ev"


@dataclass(frozen=True)
class Recipe:
    """What to do to every spectrum before embedding (see the module docstring)."""

    energy_min_ev: float | None = None
    energy_max_ev: float | None = None
    step_ev: float | None = None
    alignment: str = "none"
    normalization: str = "max"
    broadening_fwhm_ev: float | None = None
    onset_fraction: float = DEFAULT_ONSET_FRACTION
    version: int = RECIPE_VERSION

    def __post_init__(self) -> None:
        alignment = str(self.alignment).replace("-", "_").lower()
        normalization = str(self.normalization).replace("-", "_").lower()
        if alignment not in ALIGNMENTS:
            raise UsageError(f"unknown alignment {self.alignment!r} (expected one of {', '.join(ALIGNMENTS)})")
        if normalization not in NORMALIZATIONS:
            raise UsageError(
                f"unknown normalisation {self.normalization!r} (expected one of {', '.join(NORMALIZATIONS)})")
        object.__setattr__(self, "alignment", alignment)
        object.__setattr__(self, "normalization", normalization)
        for name in ("energy_min_ev", "energy_max_ev", "step_ev", "broadening_fwhm_ev"):
            value = getattr(self, name)
            if value is not None:
                value = float(value)
                if not math.isfinite(value):
                    raise UsageError(f"recipe {name} must be a finite number, got {value}")
                object.__setattr__(self, name, value)
        if self.step_ev is not None and self.step_ev <= 0:
            raise UsageError(f"recipe step_ev must be positive, got {self.step_ev}")
        if self.broadening_fwhm_ev is not None and self.broadening_fwhm_ev < 0:
            raise UsageError(f"recipe broadening_fwhm_ev must be >= 0, got {self.broadening_fwhm_ev}")
        if (self.energy_min_ev is not None and self.energy_max_ev is not None
                and self.energy_max_ev <= self.energy_min_ev):
            raise UsageError(f"recipe window is empty: {self.energy_min_ev} .. {self.energy_max_ev} eV")
        if not 0.0 < float(self.onset_fraction) < 1.0:
            raise UsageError(f"recipe onset_fraction must be between 0 and 1, got {self.onset_fraction}")
        object.__setattr__(self, "onset_fraction", float(self.onset_fraction))
        if int(self.version) not in SUPPORTED_VERSIONS:
            raise UsageError(f"recipe version {self.version} is not supported (this xasrepo reads "
                             f"{', '.join(map(str, SUPPORTED_VERSIONS))})")
        object.__setattr__(self, "version", int(self.version))
        if self.is_resolved and self.n_points < MIN_GRID_POINTS:
            raise UsageError(f"the energy window {self.energy_min_ev:g}-{self.energy_max_ev:g} eV holds only "
                             f"{self.n_points} grid point(s) at step {self.step_ev:g} eV (at least {MIN_GRID_POINTS} "
                             "are needed); use a wider window or a smaller step_ev")
        if self.is_resolved and self.n_points > MAX_GRID_POINTS:
            raise UsageError(f"recipe grid has {self.n_points} points (more than {MAX_GRID_POINTS}); "
                             "use a larger step_ev or a narrower window")

    @property
    def is_resolved(self) -> bool:
        return None not in (self.energy_min_ev, self.energy_max_ev, self.step_ev)

    @property
    def n_points(self) -> int:
        self._require_resolved()
        return math.floor((self.energy_max_ev - self.energy_min_ev) / self.step_ev + 1e-9) + 1

    def grid(self) -> np.ndarray:
        """The common energy grid (eV; relative to the onset when ``alignment`` is edge_onset)."""
        self._require_resolved()
        return self.energy_min_ev + self.step_ev * np.arange(self.n_points, dtype=np.float64)

    def _require_resolved(self) -> None:
        if not self.is_resolved:
            raise UsageError("the recipe's window and step are not resolved yet (see recipe.resolve)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): equal recipes give equal strings and equal hashes."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def preset(cls, name: str) -> Recipe:
        """The recipe named ``name`` in :data:`PRESETS` (``absolute`` or ``shape``)."""
        key = str(name).strip().lower()
        if key not in PRESETS:
            raise UsageError(f"unknown recipe preset {name!r} (expected one of {', '.join(PRESETS)})")
        return cls(**PRESETS[key])

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str | None = None) -> Recipe:
        """A recipe from its dict (stored snapshots carry their ``version``; absent: the current one)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(source, f"unknown recipe field(s) {', '.join(unknown)} "
                                     f"(known: {', '.join(sorted(known))})")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str, *, source: str | None = None) -> Recipe:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError(source, f"not valid JSON: {err.msg}", where=f"line {err.lineno}") from None
        if not isinstance(data, dict):
            raise InputError(source, "a recipe must be a JSON object")
        return cls.from_dict(data, source=source)


def load_recipe(value: str | Path | None) -> Recipe:
    """A recipe from a preset name (:data:`PRESETS`), a JSON file path or an inline JSON object
    (``None``: the default recipe).

    Raises :class:`InputError` for text that is not a JSON recipe object (bad JSON, unknown
    fields), :class:`UsageError` for a missing file or an invalid value (naming the field)."""
    if value is None:
        return Recipe()
    text = str(value).strip()
    if text.lower() in PRESETS:
        return Recipe.preset(text)
    if text.startswith("{"):
        return Recipe.from_json(text, source="--recipe")
    path = Path(text)
    if not path.is_file():
        raise UsageError(f"recipe file {path} does not exist (give a JSON file or an inline JSON object)")
    return Recipe.from_json(path.read_text(), source=str(path))


# ----------------------------------------------------------------------------------------------
# the numerical steps


def edge_onsets(energy: np.ndarray, intensity: np.ndarray, fraction: float = DEFAULT_ONSET_FRACTION) -> np.ndarray:
    """Edge-onset energies of the rows of ``intensity`` (n, m) sampled on ``energy`` (m,) or (n, m).

    The onset is the first energy where a row reaches ``fraction`` of its maximum, linearly
    interpolated between that point and the one before.
    """
    intensity = np.atleast_2d(intensity)
    energy = np.broadcast_to(energy, intensity.shape)
    peak = intensity.max(axis=1)
    level = fraction * peak
    above = intensity >= level[:, None]
    first = above.argmax(axis=1)
    rows = np.arange(intensity.shape[0])
    prev = np.maximum(first - 1, 0)
    y0, y1 = intensity[rows, prev], intensity[rows, first]
    e0, e1 = energy[rows, prev], energy[rows, first]
    span = np.where(y1 > y0, y1 - y0, 1.0)
    t = np.where((first > 0) & (y1 > y0), (level - y0) / span, 1.0)
    return e0 + np.clip(t, 0.0, 1.0) * (e1 - e0)


def onsets(recipe: Recipe, energy: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Edge position (eV) of every row of ``matrix`` (n, m) on ``energy`` (m,) as the recipe's version
    defines it: version 2, e0 = maximum of the smoothed derivative (Larch ``find_e0``); version 1, the
    half-maximum onset (:func:`edge_onsets` with ``onset_fraction``)."""
    matrix = np.atleast_2d(np.asarray(matrix, dtype=np.float64))
    if recipe.version == 1:
        return edge_onsets(energy, matrix, recipe.onset_fraction)
    from .edge import find_e0_rows

    return find_e0_rows(energy, matrix)


def edge_step_rows(energy: np.ndarray, matrix: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """Rows of ``matrix`` (n, m) normalised as Larch ``pre_edge`` does (pre-edge line subtracted,
    divided by the edge step at e0), on ``energy`` (m,) -> (n, m). Raises :class:`UsageError` naming
    the row whose edge step vanishes."""
    from .edge import pre_edge

    out = np.empty_like(np.atleast_2d(matrix), dtype=np.float64)
    for i, row in enumerate(np.atleast_2d(matrix)):
        try:
            result = pre_edge(energy, row)
        except UsageError as err:
            raise UsageError(f"{_who(labels, i)}: {err}") from None
        out[i] = np.interp(energy, result.energy_ev, result.norm)
    return out


def _interp_rows(source: np.ndarray, matrix: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Linear interpolation of every row of ``matrix`` (sampled on ``source``) at ``targets``.

    ``targets`` is (g,) for one grid or (n, g) for one grid per row; ends are held constant.
    """
    m = source.size
    idx = np.clip(np.searchsorted(source, targets, side="right") - 1, 0, m - 2)
    e0 = source[idx]
    w = np.clip((targets - e0) / (source[idx + 1] - e0), 0.0, 1.0)
    if targets.ndim == 1:
        return matrix[:, idx] * (1.0 - w) + matrix[:, idx + 1] * w
    rows = np.arange(matrix.shape[0])[:, None]
    return matrix[rows, idx] * (1.0 - w) + matrix[rows, idx + 1] * w


def _broaden(matrix: np.ndarray, fwhm_ev: float | None, step_ev: float) -> np.ndarray:
    if not fwhm_ev:
        return matrix
    from scipy.ndimage import gaussian_filter1d

    sigma_points = fwhm_ev / FWHM_PER_SIGMA / step_ev
    return gaussian_filter1d(matrix, sigma_points, axis=1, mode="nearest")


def _scale(matrix: np.ndarray, how: str, step_ev: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(offset, scale, magnitude) per row for normalisation ``how`` (max, area, edge_step)."""
    if how == "max":
        scale = matrix.max(axis=1)
        offset = np.zeros_like(scale)
    elif how == "area":
        scale = np.trapezoid(matrix, dx=step_ev, axis=1)
        offset = np.zeros_like(scale)
    else:  # edge_step
        width = max(1, round(EDGE_STEP_FRACTION * matrix.shape[1]))
        offset = matrix[:, :width].mean(axis=1)
        scale = matrix[:, -width:].mean(axis=1) - offset
    magnitude = np.abs(matrix).max(axis=1)
    if how == "area":
        magnitude = magnitude * step_ev * (matrix.shape[1] - 1)  # the area of a row at its largest |value|
    return offset, scale, magnitude


def _normalize(matrix: np.ndarray, how: str, step_ev: float, labels: np.ndarray | None) -> np.ndarray:
    if how == "none":
        return matrix
    offset, scale, magnitude = _scale(matrix, how, step_ev)
    bad = np.flatnonzero(~((np.abs(scale) > _DENOMINATOR_FLOOR) & (np.abs(scale) > NORMALIZATION_TOLERANCE * magnitude)))
    if bad.size:
        what = {"max": "maximum", "area": "area", "edge_step": "edge step"}[how]
        count = f" ({bad.size} of {matrix.shape[0]} spectra in all)" if matrix.shape[0] > 1 else ""
        raise UsageError(f"{how} normalisation is undefined for {_who(labels, bad[0])}{count}: "
                         f"its {what} is zero within the window; choose another normalisation or window")
    return (matrix - offset[:, None]) / scale[:, None]


def _who(labels: np.ndarray | None, row: int) -> str:
    """How an error message names row ``row``: ``spectrum ID`` (integer labels), the label itself, or
    "the spectrum"."""
    if labels is None:
        return "the spectrum"
    label = labels[row]
    return f"spectrum {label}" if isinstance(label, (int, np.integer)) else str(label)


def _window_text(recipe: Recipe) -> str:
    unit = "eV relative to the edge onset" if recipe.alignment == "edge_onset" else "eV"
    return f"energy window {recipe.energy_min_ev:g}-{recipe.energy_max_ev:g} {unit}"


def flat_rows(matrix: np.ndarray) -> np.ndarray:
    """(n,) bool: rows of ``matrix`` (n, grid) constant within :data:`FLAT_TOLERANCE` of their magnitude."""
    spread = matrix.max(axis=1) - matrix.min(axis=1)
    return ~(spread > FLAT_TOLERANCE * np.abs(matrix).max(axis=1))


def unnormalizable_rows(matrix: np.ndarray, recipe: Recipe) -> np.ndarray:
    """(n,) bool: resampled rows whose normalisation denominator is zero or negligible
    (:data:`NORMALIZATION_TOLERANCE`); all False for ``none`` and version-2 ``edge_step``."""
    if recipe.normalization == "none" or _pre_edge_normalized(recipe):
        return np.zeros(matrix.shape[0], dtype=bool)
    _offset, scale, magnitude = _scale(matrix, recipe.normalization, recipe.step_ev)
    return ~((np.abs(scale) > _DENOMINATOR_FLOOR) & (np.abs(scale) > NORMALIZATION_TOLERANCE * magnitude))


def matrix_dtype(recipe: Recipe) -> np.dtype:
    """The dtype a preprocessed matrix is held in: float32 when the recipe normalises the rows
    (values of order 1, where float32's relative precision of 6e-8 lies far below any spectrum's
    noise and UMAP computes in float32 anyway), float64 for ``normalization = none`` (raw
    intensities of any scale are kept as they are)."""
    return np.dtype(np.float64 if recipe.normalization == "none" else np.float32)


def _check_not_flat(matrix: np.ndarray, recipe: Recipe, labels: np.ndarray | None) -> None:
    """UsageError naming the first row that is constant over the window (a zero row included)."""
    flat = np.flatnonzero(flat_rows(matrix))
    if flat.size:
        row = int(flat[0])
        count = f"; {flat.size} of {matrix.shape[0]} spectra in all" if matrix.shape[0] > 1 else ""
        raise UsageError(f"{_who(labels, row)} is flat over the {_window_text(recipe)} (constant "
                         f"{matrix[row, 0]:.4g} after resampling{count}): there is nothing to compare; "
                         "check the data or choose another window")


def aligned_ranges(recipe: Recipe, energy: np.ndarray, matrix: np.ndarray, shifts_ev: np.ndarray | None = None
                   ) -> np.ndarray:
    """(first, last) energy of each row of ``matrix`` (sampled on ``energy``) after the recipe's
    alignment -> (n, 2): the part of the energy axis the rows' own points cover."""
    matrix = np.atleast_2d(matrix)
    n = matrix.shape[0]
    first, last = float(energy[0]), float(energy[-1])
    if recipe.alignment == "edge_onset":
        offset = -onsets(recipe, energy, matrix)
    elif recipe.alignment == "stored_shift" and shifts_ev is not None:
        offset = np.broadcast_to(np.asarray(shifts_ev, dtype=np.float64), (n,))
    else:
        offset = np.zeros(n)
    return np.column_stack([first + offset, last + offset])


def window_coverage(recipe: Recipe, ranges: np.ndarray) -> np.ndarray:
    """Fraction (0..1) of the recipe's window covered by each aligned (first, last) range."""
    lo, hi = recipe.energy_min_ev, recipe.energy_max_ev
    overlap = np.minimum(ranges[:, 1], hi) - np.maximum(ranges[:, 0], lo)
    return np.clip(overlap / (hi - lo), 0.0, 1.0)


def check_window(recipe: Recipe, ranges: np.ndarray, labels: np.ndarray | None = None, *,
                 hint: str | None = None) -> None:
    """UsageError unless every aligned range covers at least :data:`MIN_WINDOW_COVERAGE` of the window.

    The one-line message gives the window, how many spectra fall short (and how many have no point in
    it at all), names one, and the energies the spectra do cover; ``hint`` replaces the closing
    advice (default: a window inside the range every spectrum covers).
    """
    ranges = np.asarray(ranges, dtype=np.float64).reshape(-1, 2)
    coverage = window_coverage(recipe, ranges)
    short = np.flatnonzero(~(coverage >= MIN_WINDOW_COVERAGE))
    if not short.size:
        return
    n = ranges.shape[0]
    outside = short[~(coverage[short] > 0.0)]
    first = int(outside[0]) if outside.size else int(short[0])
    span = f"{ranges[first, 0]:.1f}-{ranges[first, 1]:.1f} eV"
    if n == 1:
        who = _who(labels, 0)
        problem = (f"{who} has no points in it (it covers {span})" if outside.size else
                   f"{who} covers only {coverage[0]:.0%} of it ({span}; at least {MIN_WINDOW_COVERAGE:.0%} is needed)")
        advice = hint or f"choose a window ({_WINDOW_OPTIONS}) inside {span}"
        raise UsageError(f"{_window_text(recipe)}: {problem}; {advice}")
    if outside.size == short.size:
        problem = f"{short.size} of {n} spectra have no points in it"
    else:
        problem = (f"{short.size} of {n} spectra cover less than {MIN_WINDOW_COVERAGE:.0%} of it"
                   + (f" ({outside.size} have no points in it)" if outside.size else ""))
    union = f"{ranges[:, 0].min():.1f}-{ranges[:, 1].max():.1f} eV"
    # the range every spectrum covers, rounded inwards so that the advice is safe to follow
    common_lo, common_hi = math.ceil(ranges[:, 0].max() * 10) / 10, math.floor(ranges[:, 1].min() * 10) / 10
    if common_hi > common_lo:
        cover = f"all of them cover {common_lo:.1f}-{common_hi:.1f} eV, together {union}"
        advice = hint or f"choose a window ({_WINDOW_OPTIONS}) inside {common_lo:.1f}-{common_hi:.1f} eV"
    else:
        cover = f"together they cover {union} but share no common range"
        advice = hint or (f"choose a window ({_WINDOW_OPTIONS}) of which each spectrum covers at least "
                          f"{MIN_WINDOW_COVERAGE:.0%}, or select fewer spectra")
    raise UsageError(f"{_window_text(recipe)}: {problem} (e.g. {_who(labels, first)}, which covers {span}; "
                     f"{cover}); {advice}")


def aligned_energies(energy: np.ndarray, intensity: np.ndarray, recipe: Recipe, stored_shift_ev: float = 0.0
                     ) -> np.ndarray:
    """The energy axis of one spectrum after the recipe's alignment step."""
    if recipe.alignment == "edge_onset":
        return energy - onsets(recipe, energy, intensity[None, :])[0]
    if recipe.alignment == "stored_shift":
        return energy + stored_shift_ev
    return energy


def default_window(recipe: Recipe, element: str | None, edge: str | None, e0s: np.ndarray | None = None
                   ) -> tuple[tuple[float, float], str]:
    """(window (lo, hi) in eV, the rule that set it) for an open window of a version-2 recipe.

    ``edge_onset`` alignment: :data:`SHAPE_WINDOW_EV` relative to each e0; (element, edge) in
    :data:`DEFAULT_WINDOWS_EV`: that window; otherwise :data:`GENERIC_WINDOW_EV` around the median
    of ``e0s`` (absolute e0 of the selected spectra, eV). Raises :class:`UsageError` when no rule applies.
    """
    if recipe.alignment == "edge_onset":
        return SHAPE_WINDOW_EV, f"{SHAPE_WINDOW_EV[0]:+g} .. {SHAPE_WINDOW_EV[1]:+g} eV around each spectrum's e0"
    key = (str(element), str(edge))
    if key in DEFAULT_WINDOWS_EV:
        lo, hi = DEFAULT_WINDOWS_EV[key]
        return (lo, hi), f"default {element} {edge} window {lo:g}-{hi:g} eV"
    if e0s is None or not len(e0s):
        raise UsageError(f"no default energy window for {element} {edge}: give {_WINDOW_OPTIONS}")
    centre = float(np.median(e0s))
    lo, hi = centre + GENERIC_WINDOW_EV[0], centre + GENERIC_WINDOW_EV[1]
    return (lo, hi), (f"{GENERIC_WINDOW_EV[0]:+g} .. {GENERIC_WINDOW_EV[1]:+g} eV around the median e0 "
                      f"{centre:.2f} eV ({element} {edge} has no tabulated window)")


def resolve(recipe: Recipe, ranges: np.ndarray, steps: np.ndarray, *, element: str | None = None,
            edge: str | None = None, e0s: np.ndarray | None = None) -> Recipe:
    """Fill an open window/step from the data: ``ranges`` (n, 2) aligned (min, max) per spectrum,
    ``steps`` (n,) median point spacing per spectrum; ``element``/``edge``/``e0s`` choose the default
    window of a version-2 recipe (:func:`default_window`). Version 1: the range all spectra cover."""
    if recipe.is_resolved:
        return recipe
    if recipe.version >= 2:
        (lo, hi), _rule = default_window(recipe, element, edge, e0s)
        lo = recipe.energy_min_ev if recipe.energy_min_ev is not None else lo
        hi = recipe.energy_max_ev if recipe.energy_max_ev is not None else hi
    else:
        lo = recipe.energy_min_ev if recipe.energy_min_ev is not None else float(np.max(ranges[:, 0]))
        hi = recipe.energy_max_ev if recipe.energy_max_ev is not None else float(np.min(ranges[:, 1]))
    if hi <= lo:
        raise UsageError(f"the selected spectra share no energy range (after {recipe.alignment} alignment the "
                         f"common range would be {lo:g} .. {hi:g} eV); give the window in the recipe")
    step = recipe.step_ev if recipe.step_ev is not None else float(np.max(steps))
    # Round to a tenth of a meV so the stored recipe reads well and is stable across platforms.
    return replace(recipe, energy_min_ev=round(lo, 4), energy_max_ev=round(hi, 4), step_ev=round(step, 6))


def window_report(recipe: Recipe, ranges: np.ndarray, labels: np.ndarray, *, rule: str) -> dict[str, Any]:
    """Which spectra a (resolved) window excludes or pads, as stored in snapshot provenance.

    ``ranges`` (n, 2) aligned (first, last) energies, ``labels`` (n,) spectrum ids. Returns
    ``{"window_ev", "rule", "excluded", "padded", "padded_start", "padded_end", "padded_start_max_ev",
    "padded_end_max_ev", "n_spectra", "warning"}`` (the ``_max_ev``: the longest padding in eV, 0 when
    none; :func:`padding_text` says it in one line): spectra
    covering less than :data:`MIN_WINDOW_COVERAGE` are excluded, those covering less than all of it
    are padded (their first value held constant below their start: ``padded_start``, their last
    value beyond their end: ``padded_end``). ``warning`` is one line when the window is narrower
    than :data:`NARROW_WINDOW_FRACTION` of the data's median range, naming spectra whose ends lie
    inside it (those that limit it).
    """
    ranges = np.asarray(ranges, dtype=np.float64).reshape(-1, 2)
    coverage = window_coverage(recipe, ranges)
    excluded = np.flatnonzero(~(coverage >= MIN_WINDOW_COVERAGE))
    padded = np.flatnonzero((coverage >= MIN_WINDOW_COVERAGE) & (coverage < 1.0 - 1e-9))
    width = recipe.energy_max_ev - recipe.energy_min_ev
    typical = float(np.median(ranges[:, 1] - ranges[:, 0])) if len(ranges) else 0.0
    warning = None
    if typical > 0 and width < NARROW_WINDOW_FRACTION * typical:
        limiting = np.flatnonzero((ranges[:, 0] >= recipe.energy_min_ev - 1e-9)
                                  | (ranges[:, 1] <= recipe.energy_max_ev + 1e-9))
        names = ", ".join(str(labels[i]) for i in limiting[:5]) or "none"
        warning = (f"the {_window_text(recipe)} is {width:.1f} eV wide, narrower than "
                   f"{NARROW_WINDOW_FRACTION:.0%} of the data's median range ({typical:.1f} eV); "
                   f"spectra whose ends limit it: {names}" + (" ..." if limiting.size > 5 else ""))
    below = padded[ranges[padded, 0] > recipe.energy_min_ev + 1e-9]
    above = padded[ranges[padded, 1] < recipe.energy_max_ev - 1e-9]
    return {"window_ev": [recipe.energy_min_ev, recipe.energy_max_ev], "rule": rule,
            "excluded": [_plain(labels[i]) for i in excluded], "padded": [_plain(labels[i]) for i in padded],
            "padded_start": [_plain(labels[i]) for i in below], "padded_end": [_plain(labels[i]) for i in above],
            "padded_start_max_ev": float(np.max(ranges[below, 0] - recipe.energy_min_ev)) if below.size else 0.0,
            "padded_end_max_ev": float(np.max(recipe.energy_max_ev - ranges[above, 1])) if above.size else 0.0,
            "n_spectra": int(len(ranges)), "warning": warning}


def padding_text(window: dict[str, Any]) -> str | None:
    """One line on the spectra a window report (:func:`window_report`) pads, or None when it pads none:
    ``80 of 94 spectra padded to the 184-201 eV window: 19 end inside it (last value held constant
    for up to 4.2 eV), 71 start inside it (first value held constant for up to 3.8 eV), 10 of them at
    both ends`` (the bundled B K set). Padding invents a plateau: features beyond a spectrum's end are compared as flat."""
    padded = window.get("padded") or []
    if not padded:
        return None
    lo, hi = window["window_ev"]
    parts = []
    if window.get("padded_end"):
        parts.append(f"{len(window['padded_end'])} end inside it (last value held constant for up to "
                     f"{window.get('padded_end_max_ev', float('nan')):.1f} eV)")
    if window.get("padded_start"):
        parts.append(f"{len(window['padded_start'])} start inside it (first value held constant for up to "
                     f"{window.get('padded_start_max_ev', float('nan')):.1f} eV)")
    both = len(set(window.get("padded_end") or []) & set(window.get("padded_start") or []))
    if both:   # the two counts overlap: say so, or they do not add up to the total
        parts.append(f"{both} of them at both ends")
    total = window.get("n_spectra")
    of = f" of {total}" if total else ""
    return f"{len(padded)}{of} spectra padded to the {lo:g}-{hi:g} eV window: " + ", ".join(parts)


def _plain(value):
    return int(value) if isinstance(value, (int, np.integer)) else str(value)


def _pre_edge_normalized(recipe: Recipe) -> bool:
    return recipe.version >= 2 and recipe.normalization == "edge_step"


def resample(recipe: Recipe, energy: np.ndarray, matrix: np.ndarray, shifts_ev: np.ndarray | None = None,
             labels: np.ndarray | None = None) -> np.ndarray:
    """Steps 1-3 (alignment, interpolation onto the grid, broadening) for rows of ``matrix`` sampled
    on one energy axis ``energy`` (m,) -> (n, grid) float64, unchecked and (except version-2
    ``edge_step``, which normalises each spectrum on its own data first) not normalised."""
    grid = recipe.grid()
    matrix = np.asarray(matrix, dtype=np.float64)
    if _pre_edge_normalized(recipe):  # Larch pre_edge uses the spectrum's own pre- and post-edge data
        matrix = edge_step_rows(energy, matrix, labels)
    if recipe.alignment == "edge_onset":
        found = onsets(recipe, energy, matrix)
        out = _interp_rows(energy, matrix, grid[None, :] + found[:, None])
    elif recipe.alignment == "stored_shift" and shifts_ev is not None and np.any(shifts_ev != shifts_ev[0]):
        out = _interp_rows(energy, matrix, grid[None, :] - np.asarray(shifts_ev)[:, None])
    else:
        shift = float(shifts_ev[0]) if (recipe.alignment == "stored_shift" and shifts_ev is not None
                                        and len(shifts_ev)) else 0.0
        out = _interp_rows(energy, matrix, grid - shift)
    return _broaden(out, recipe.broadening_fwhm_ev, recipe.step_ev)


def finish(recipe: Recipe, resampled: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """Step 4 (normalisation) of resampled rows, after refusing flat rows; never returns NaNs."""
    _check_not_flat(resampled, recipe, labels)
    out = resampled if _pre_edge_normalized(recipe) else _normalize(resampled, recipe.normalization,
                                                                     recipe.step_ev, labels)
    bad = np.flatnonzero(~np.isfinite(out).all(axis=1))
    if bad.size:  # cannot happen for finite input after the checks above; never hand on NaNs regardless
        raise UsageError(f"preprocessing gave non-finite values for {_who(labels, int(bad[0]))}; check its data")
    return out


def apply(recipe: Recipe, energy: np.ndarray, matrix: np.ndarray, shifts_ev: np.ndarray | None = None,
          labels: np.ndarray | None = None, *, check_coverage: bool = True) -> np.ndarray:
    """Preprocess rows of ``matrix`` sampled on one energy axis ``energy`` (m,) -> (n, grid) float64.

    ``shifts_ev`` are the stored shifts (used by ``stored_shift`` alignment); ``labels`` name the rows
    in error messages (spectrum ids). Raises :class:`UsageError` when a row covers too little of the
    window (:func:`check_window`; skipped with ``check_coverage=False`` when the caller has checked
    already), is flat after resampling, or cannot be normalised.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if check_coverage:
        check_window(recipe, aligned_ranges(recipe, energy, matrix, shifts_ev), labels)
    return finish(recipe, resample(recipe, energy, matrix, shifts_ev, labels), labels)


def apply_one(recipe: Recipe, energy: np.ndarray, intensity: np.ndarray, stored_shift_ev: float = 0.0, *,
              label: str | None = None, check_coverage: bool = True) -> np.ndarray:
    """Preprocess one spectrum -> (grid,) float64; ``label`` names it in error messages."""
    return apply(recipe, np.asarray(energy, dtype=np.float64), np.asarray(intensity, dtype=np.float64)[None, :],
                 np.array([stored_shift_ev]), None if label is None else np.array([label], dtype=object),
                 check_coverage=check_coverage)[0]
