"""Edge position (e0) and edge-step normalisation as XAS people define them (Larch/Athena conventions).

* :func:`find_e0` -- the energy of the maximum of the derivative dmu/dE, found as Larch's
  ``find_e0`` does (larch.xafs.pre_edge, xraylarch 2026.3): a first pass on the raw derivative
  picks the largest point of "high" derivative (above 60 % of its range, with both neighbours high
  too, ignoring the first and last 2 % of points); then the derivative is smoothed with a
  Lorentzian of width ``estep`` (the mean of the smallest energy steps and e0/25000, each kept in
  0.01..1 eV) within +-75 points of that first pick, and the same rule picks e0 there. A first
  pick within the first 5 % of the points (a glitch, usually) makes the second pass search from
  the mean energy's neighbourhood, as Larch does. The result is always one of the energy points.
* :func:`pre_edge` -- Larch's ``pre_edge`` normalisation: a line fitted to mu over
  [e0+pre1, e0+pre2] (pre-edge), a polynomial of degree ``nnorm`` fitted to mu - pre-edge over
  [e0+norm1, e0+norm2] (post-edge), ``edge_step`` = post-edge minus pre-edge at e0, and
  ``norm = (mu - pre_edge) / edge_step``. Larch's defaults: pre1 = the second energy point minus
  e0, rounded to 5 eV (2 eV when e0 lies within the first 20 points); pre2 = pre1 / 2; norm2 = the
  last energy minus e0, rounded to 5 eV; norm1 = min(25, norm2 / 15 rounded to 5 eV), at most
  norm2 - 2; nnorm = 0 when norm2 - norm1 < 30 eV, 1 below 300 eV, else 2.

Both agree with Larch to the stated tolerances on real measured spectra of the shared fixtures
(``tests/test_analysis_edge.py`` records Larch's own values as constants). Larch is not a
dependency: this is a port in numpy of the published algorithm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import UsageError

TINY_ENERGY_EV = 0.0005  # Larch's TINY_ENERGY: repeated energies are separated by this (eV)
HIGH_DERIVATIVE = 0.60  # a derivative above this fraction of its range is "high" (Larch)
SMOOTH_PAD = 5  # Larch's smooth(): padding points either side
MAX_NNORM = 5
E0_BLOCK_ROWS = 16_384  # find_e0_rows: rows whose temporaries exist at once (a few x 40 MB at 300 points)
OPERATOR_MIN_ROWS = 32  # find_e0_rows: fewer rows of one search range go through find_e0 one by one


def _remove_dups(energy: np.ndarray, tiny: float = TINY_ENERGY_EV) -> np.ndarray:
    """Larch's ``remove_dups``: a repeated energy is raised by ``tiny`` (cumulatively)."""
    work = np.asarray(energy, dtype=np.float64).ravel()
    if work.size <= 1 or np.min(np.diff(work)) > 10 * tiny:
        return work
    add = np.zeros(work.size)
    for i in range(1, work.size):
        if abs(work[i] - work[i - 1]) < tiny:
            add[i] = add[i - 1] + tiny
    return work + add


def _energy_step(energy: np.ndarray, frac_ignore: float = 0.01, nave: int = 10) -> float:
    """Larch's ``find_energy_step``: mean of the smallest steps after ignoring the smallest 1 %."""
    nskip = int(frac_ignore * len(energy))
    ordered = np.where(np.diff(np.argsort(energy)) == 1)[0]
    ediff = np.diff(energy[ordered][nskip:len(ordered) - nskip])
    return float(np.sort(ediff)[nskip:nskip + nave].mean())


def _smooth(x: np.ndarray, y: np.ndarray, sigma: float, xstep: float) -> np.ndarray:
    """Larch's ``smooth``: convolution with a Lorentzian (half width ``sigma``) on a uniform grid of
    step ``xstep``, mirrored at the ends, interpolated back onto ``x``."""
    xmin = xstep * int((x.min() - SMOOTH_PAD * xstep) / xstep)
    xmax = xstep * int((x.max() + SMOOTH_PAD * xstep) / xstep)
    npts = min(1 + int(abs(xmax - xmin + xstep * 0.1) / xstep), 50 * len(x))
    x0 = np.linspace(xmin, xmax, npts)
    y0 = np.interp(x0, x, y)
    width = sigma / xstep
    wx = np.arange(2 * npts)
    window = 1.0 / (1.0 + ((wx - npts) / width) ** 2)
    y1 = np.concatenate((y0[npts:0:-1], y0, y0[-1:-npts - 1:-1]))
    y2 = np.convolve(window / window.sum(), y1, mode="valid")
    if len(y2) > len(x0):
        nex = int((len(y2) - len(x0)) / 2)
        y2 = y2[nex:][:len(x0)]
    return np.interp(x, x0, y2)


def _finde0(energy: np.ndarray, mu: np.ndarray, estep: float | None, use_smooth: bool
            ) -> tuple[float, int, float]:
    """One pass of Larch's ``_finde0`` -> (e0, its index, estep)."""
    en = _remove_dups(energy)
    ordered = np.where(np.diff(np.argsort(en)) == 1)[0]  # as Larch: drops the last point
    en, mu = en[ordered], mu[ordered]
    if estep is None:
        estep = _energy_step(en)
    nmin = max(3, int(len(en) * 0.02))
    with np.errstate(divide="ignore", invalid="ignore"):
        dmu = np.gradient(mu) / np.gradient(en)
    if use_smooth:
        dmu = _smooth(en, dmu, estep, estep)
    dmu = np.where(np.isfinite(dmu), dmu, -1.0)
    inner = dmu[nmin:-nmin]
    dm_min = inner.min()
    dm_ptp = max(1e-10, float(np.ptp(inner)))
    dmu = (dmu - dm_min) / dm_ptp
    dhigh = HIGH_DERIVATIVE if len(en) > 20 else 0.30
    high = np.where(dmu > dhigh)[0]
    if len(high) < 3:
        for _ in range(2):
            if len(high) > 3:
                break
            dhigh *= 0.5
            high = np.where(dmu > dhigh)[0]
    if len(high) < 3:
        high = np.where(np.isfinite(dmu))[0]
    is_high = np.zeros(len(en) + 2, dtype=bool)
    is_high[high] = True
    imax, dmax = 0, 0.0
    for i in high:
        if i < nmin or i > len(en) - nmin:
            continue
        if dmu[i] > dmax and is_high[i + 1] and (i >= 1 and is_high[i - 1]):
            imax, dmax = int(i), float(dmu[i])
    return float(en[imax]), imax, float(estep)


def _clean(energy, mu) -> tuple[np.ndarray, np.ndarray]:
    energy = np.asarray(energy, dtype=np.float64).ravel()
    mu = np.asarray(mu, dtype=np.float64).ravel()
    if energy.shape != mu.shape:
        raise UsageError(f"energy ({energy.size}) and mu ({mu.size}) differ in length")
    good = np.isfinite(energy) & np.isfinite(mu)
    energy, mu = energy[good], mu[good]
    if energy.size > 1 and np.any(np.diff(energy) < 0):
        order = np.argsort(energy, kind="stable")
        energy, mu = energy[order], mu[order]
    if energy.size < 2 * 3 + 3:
        raise UsageError(f"a spectrum of {energy.size} finite points is too short to find its edge (e0)")
    return energy, mu


def find_e0(energy_ev, mu) -> float:
    """Edge energy e0 (eV) of one spectrum: the maximum of the smoothed derivative (Larch ``find_e0``).

    ``energy_ev`` (m,) and ``mu`` (m,) in any order (sorted here; non-finite points dropped).
    Raises :class:`UsageError` for fewer than 9 finite points. See the module docstring for the
    rules; the result is one of the energies.
    """
    energy, mu = _clean(energy_ev, mu)
    e1, ie0, estep1 = _finde0(energy, mu, None, use_smooth=False)
    istart = max(3, ie0 - 75)
    istop = min(ie0 + 75, len(energy) - 3)
    if ie0 < 0.05 * len(energy):  # a first pick in the first 5 % is usually a glitch (Larch)
        e1 = float(energy.mean())
        istart = max(3, ie0 - 20)
        istop = len(energy) - 3
    estep = 0.5 * (max(0.01, min(1.0, estep1)) + max(0.01, min(1.0, e1 / 25000.0)))
    e0, ix, _ = _finde0(energy[istart:istop], mu[istart:istop], estep, use_smooth=True)
    if ix < 1:
        e0 = float(energy[istart + 2])
    return float(e0)


@dataclass(frozen=True)
class PreEdge:
    """Result of :func:`pre_edge`: e0 (eV), edge step (mu units), the ranges used (eV relative to
    e0), the degree of the post-edge polynomial, and the normalised spectrum on the input energies.

    Two values Larch does not return: ``signed_edge_step`` is post-edge minus pre-edge at e0 before
    Larch takes its absolute value (negative when the signal falls at the edge: transmitted
    intensity rather than mu), and ``step_noise_gain`` (dimensionless) the standard deviation of
    the edge step per unit standard deviation of independent noise on each point of mu:
    ``sqrt(h_pre + h_post)``, the least-squares leverages of the pre-edge line and the post-edge
    polynomial at e0 (large when few points are extrapolated far to e0). ``step_noise_gain *
    sigma`` is the edge step's standard error for point noise ``sigma``."""

    e0_ev: float
    edge_step: float
    pre1_ev: float
    pre2_ev: float
    norm1_ev: float
    norm2_ev: float
    nnorm: int
    energy_ev: np.ndarray
    norm: np.ndarray
    signed_edge_step: float
    step_noise_gain: float


def _index_of(array: np.ndarray, value: float) -> int:
    """Larch ``index_of``: last index at or below ``value`` (0 below the start)."""
    if value < array.min():
        return 0
    return int(np.max(np.where(array <= value)[0]))


def _index_nearest(array: np.ndarray, value: float) -> int:
    return int(np.abs(array - value).argmin())


def _polyfit(x: np.ndarray, y: np.ndarray, degree: int) -> np.ndarray:
    """Coefficients c0, c1, ... (increasing powers) of the least-squares polynomial (as Larch)."""
    return np.polynomial.Polynomial.fit(x, y, deg=int(degree)).convert().coef


def _leverage(x: np.ndarray, degree: int, x0: float) -> float:
    """Variance, per unit variance of independent noise on the points, of the least-squares
    polynomial of ``degree`` through ``x`` evaluated at ``x0``: v0' (V'V)^-1 v0 with V the
    Vandermonde matrix (x centred and scaled for conditioning); 1/n for a constant."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return float("inf")
    centre, scale = float(x.mean()), float(np.ptp(x)) or 1.0
    degree = min(int(degree), x.size - 1)
    v = np.vander((x - centre) / scale, degree + 1, increasing=True)
    v0 = np.vander(np.array([(x0 - centre) / scale]), degree + 1, increasing=True)[0]
    r = np.linalg.qr(v, mode="r")
    try:
        z = np.linalg.solve(r.T, v0)
    except np.linalg.LinAlgError:
        return float("inf")
    return float(z @ z)


def pre_edge(energy_ev, mu, *, e0_ev: float | None = None, pre1: float | None = None, pre2: float | None = None,
             norm1: float | None = None, norm2: float | None = None, nnorm: int | None = None) -> PreEdge:
    """Pre-edge line, post-edge polynomial and edge step of one spectrum (Larch ``pre_edge``).

    ``energy_ev`` (m,), ``mu`` (m,); the ranges are in eV relative to e0 and default as in Larch
    (module docstring); e0 defaults to :func:`find_e0`. Returns a :class:`PreEdge` whose ``norm`` is
    (mu - pre-edge line) / edge step on ``energy_ev`` (sorted). Raises :class:`UsageError` when the
    spectrum is too short or its edge step vanishes (below 1e-12 of the largest |mu|, or not finite).
    """
    energy, mu = _clean(energy_ev, mu)
    energy = _remove_dups(energy)
    if e0_ev is None or e0_ev < energy[1] or e0_ev > energy[-2]:
        e0_ev = find_e0(energy, mu)
    e0 = float(e0_ev)
    ie0 = _index_nearest(energy, e0)
    if pre1 is None:
        pre1 = 5.0 * round((energy[1] - e0) / 5.0) if ie0 > 20 else 2.0 * round((energy[1] - e0) / 2.0)
    pre1 = max(pre1, energy.min() - e0)
    if pre2 is None:
        pre2 = 0.5 * pre1
    if pre1 > pre2:
        pre1, pre2 = pre2, pre1
    npre = 1
    if _index_of(energy - e0, pre2) - _index_of(energy - e0, pre1) < 3:
        npre = 0
    if norm2 is None:
        norm2 = 5.0 * round((energy.max() - e0) / 5.0)
    if norm2 < 0:
        norm2 = energy.max() - e0 - norm2
    norm2 = min(norm2, energy.max() - e0)
    if norm1 is None:
        norm1 = min(25.0, 5.0 * round(norm2 / 15.0))
    if norm1 > norm2:
        norm1, norm2 = norm2, norm1
    norm1 = min(norm1, norm2 - 2)
    if nnorm is None:
        nnorm = 2
        if norm2 - norm1 < 300:
            nnorm = 1
        if norm2 - norm1 < 30:
            nnorm = 0
    nnorm = max(min(int(nnorm), MAX_NNORM), 0)
    p1 = _index_of(energy, pre1 + e0)
    p2 = _index_nearest(energy, pre2 + e0)
    if npre == 0:
        if p2 == p1:
            p2 += 1
        line = np.full(energy.size, mu[p1:p2].mean())
    else:
        if p2 - p1 < 2:
            p2 = min(energy.size, p1 + 2)
        c = _polyfit(energy[p1:p2], mu[p1:p2], 1)
        line = c[0] + energy * (c[1] if c.size > 1 else 0.0)
    pre_x, pre_degree = energy[p1:p2], 1 if npre else 0
    p1 = _index_of(energy, norm1 + e0)
    p2 = _index_nearest(energy, norm2 + e0)
    if p1 > energy.size - 3:
        p1 = energy.size - 3
    if p2 - p1 < 2:
        p1 -= 2
        nnorm = 0
    elif p2 - p1 < 5:
        nnorm = min(1, nnorm)
    coefs = _polyfit(energy[p1:p2], (mu - line)[p1:p2], nnorm)
    # the step is Q(e0) for Q fitted to mu - line: M(e0) - line(e0) (M fitted to mu) when nnorm >= 1,
    # but mean(mu) - line(mean E) over the post-edge range when nnorm = 0 (a line's mean is its value
    # at the mean energy): the pre-edge line counts where it is evaluated
    at = energy[ie0] if nnorm >= 1 else float(energy[p1:p2].mean())
    leverage = _leverage(pre_x, pre_degree, at) + _leverage(energy[p1:p2], nnorm, energy[ie0])
    post = line + sum(c * energy ** n for n, c in enumerate(coefs))
    step = float(post[ie0] - line[ie0])
    scale = float(np.abs(mu).max())
    if not np.isfinite(step) or abs(step) <= 1e-12 * max(scale, 1e-300):
        raise UsageError(f"the edge step at e0 = {e0:.2f} eV is zero (post-edge and pre-edge lines meet); "
                         "edge-step normalisation is undefined for this spectrum")
    signed = step
    step = abs(step)  # Larch: max(1e-12, abs(edge_step))
    return PreEdge(e0, step, float(pre1), float(pre2), float(norm1), float(norm2), int(nnorm), energy,
                   (mu - line) / step, signed, float(np.sqrt(leverage)))


# ----------------------------------------------------------------------------------------------
# e0 of many spectra on one energy axis (vectorised; the same rules as find_e0, row by row)


def _pick_rows(en: np.ndarray, dmu: np.ndarray) -> np.ndarray:
    """Index of e0 in each row of ``dmu`` (n, len(en)), as the tail of :func:`_finde0` picks it."""
    length = en.size
    nmin = max(3, int(length * 0.02))
    dmu = np.where(np.isfinite(dmu), dmu, -1.0)
    inner = dmu[:, nmin:-nmin]
    dm_min = inner.min(axis=1)
    dm_ptp = np.maximum(1e-10, np.ptp(inner, axis=1))
    dmu = (dmu - dm_min[:, None]) / dm_ptp[:, None]
    dhigh = np.full(dmu.shape[0], HIGH_DERIVATIVE if length > 20 else 0.30)
    high = dmu > dhigh[:, None]
    count = high.sum(axis=1)
    needing = count < 3
    for _ in range(2):  # Larch: halve the threshold (twice at most) until more than 3 points are high
        act = needing & ~(count > 3)
        if not act.any():
            break
        dhigh[act] *= 0.5
        high[act] = dmu[act] > dhigh[act, None]
        count[act] = high[act].sum(axis=1)
    high[count < 3] = True  # Larch: then every (finite) point counts as high
    padded = np.zeros((dmu.shape[0], length + 2), dtype=bool)
    padded[:, 1:length + 1] = high  # padded[:, i + 1] is high[i]; padded[:, 0] stands for is_high[-1]
    index = np.arange(length)
    inside = (index >= nmin) & (index <= length - nmin) & (index >= 1)
    # is_high[i + 1] (False beyond the end) and is_high[i - 1] (i >= 1)
    candidate = high & padded[:, 2:length + 2] & padded[:, 0:length] & inside[None, :]
    values = np.where(candidate, dmu, -np.inf)
    best = values.argmax(axis=1)  # first index of the largest value, as the strict ">" of the loop
    ok = values[np.arange(values.shape[0]), best] > 0.0
    return np.where(ok, best, 0)


def _smooth_operator(x: np.ndarray, estep: float) -> np.ndarray:
    """The matrix S with ``_smooth(x, y, estep, estep) == S @ y`` (the smoothing is linear in y)."""
    eye = np.eye(x.size)
    return np.stack([_smooth(x, eye[k], estep, estep) for k in range(x.size)], axis=1)


def find_e0_rows(energy_ev, matrix) -> np.ndarray:
    """:func:`find_e0` of every row of ``matrix`` (n, m) sampled on one energy axis ``energy_ev`` (m,)
    -> (n,) eV, vectorised over the rows (the per-spectrum version costs ~1.5 ms a spectrum: 25
    minutes for 10^6). The second, smoothed pass is run once per distinct search range, with the
    Lorentzian smoothing as a matrix. Rows with non-finite values, or an axis that is not strictly
    increasing, go through :func:`find_e0` one by one. Raises :class:`UsageError` as :func:`find_e0`.
    """
    energy = np.asarray(energy_ev, dtype=np.float64).ravel()
    matrix = np.atleast_2d(np.asarray(matrix, dtype=np.float64))
    out = np.empty(matrix.shape[0])
    if matrix.shape[0] == 0:
        return out
    finite_rows = np.isfinite(matrix).all(axis=1)
    if not (np.isfinite(energy).all() and energy.size > 1 and np.all(np.diff(energy) > 0)):
        return np.array([find_e0(energy, row) for row in matrix])
    for row in np.flatnonzero(~finite_rows):
        out[row] = find_e0(energy, matrix[row])
    rows = np.flatnonzero(finite_rows)
    if rows.size == 0:
        return out
    _clean(energy, matrix[rows[0]])  # raises for too short an axis
    en = _remove_dups(energy)
    ordered = np.where(np.diff(np.argsort(en)) == 1)[0]
    en1 = en[ordered]
    estep1 = _energy_step(en1)
    length = energy.size
    # pass 1 (raw derivative) block by block: each row's search range and Lorentzian width
    istart = np.empty(rows.size, dtype=np.int64)
    istop = np.empty(rows.size, dtype=np.int64)
    estep = np.empty(rows.size)
    for start in range(0, rows.size, E0_BLOCK_ROWS):
        block = rows[start:start + E0_BLOCK_ROWS]
        mu1 = matrix[np.ix_(block, ordered)]
        with np.errstate(divide="ignore", invalid="ignore"):
            dmu = np.gradient(mu1, axis=1) / np.gradient(en1)[None, :]
        ie0 = _pick_rows(en1, dmu)
        glitch = ie0 < 0.05 * length
        e1 = np.where(glitch, energy.mean(), en1[ie0])
        part = slice(start, start + block.size)
        istart[part] = np.where(glitch, np.maximum(3, ie0 - 20), np.maximum(3, ie0 - 75))
        istop[part] = np.where(glitch, length - 3, np.minimum(ie0 + 75, length - 3))
        estep[part] = 0.5 * (max(0.01, min(1.0, estep1)) + np.maximum(0.01, np.minimum(1.0, e1 / 25000.0)))
    # pass 2 (smoothed derivative) once per distinct search range, its smoothing matrix built once
    unique, which = np.unique(np.column_stack([istart, istop, estep]), axis=0, return_inverse=True)
    which = np.asarray(which).ravel()
    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(unique.shape[0] + 1))
    for k, (lo, hi, step) in enumerate(unique):
        lo, hi = int(lo), int(hi)
        members = rows[order[bounds[k]:bounds[k + 1]]]
        if members.size < OPERATOR_MIN_ROWS:  # building the smoothing matrix costs more than these rows
            out[members] = [find_e0(energy, matrix[row]) for row in members]
            continue
        sub = _remove_dups(energy[lo:hi])
        keep = np.where(np.diff(np.argsort(sub)) == 1)[0]
        en2 = sub[keep]
        smoothing = _smooth_operator(en2, float(step)).T
        for start in range(0, members.size, E0_BLOCK_ROWS):
            chunk = members[start:start + E0_BLOCK_ROWS]
            mu2 = matrix[np.ix_(chunk, lo + keep)]
            with np.errstate(divide="ignore", invalid="ignore"):
                dmu2 = np.gradient(mu2, axis=1) / np.gradient(en2)[None, :]
            ix = _pick_rows(en2, dmu2 @ smoothing)
            out[chunk] = np.where(ix < 1, energy[lo + 2], en2[ix])
    return out
