"""Scalar features of the absorber's projected density of states (PDOS), defined once here.

All energies are in eV relative to the Fermi level ``E_F`` stored with the DOS; densities are in
states/eV. With the absorber's site-projected ``p`` DOS (and, for layered cells, its split into
``p_sigma`` = p_x + p_y and ``p_pi`` = p_z):

* ``p_onset_ev`` -- the first empty p state: the lowest energy above ``E_F`` where the p DOS
  reaches :data:`ONSET_FRACTION` of its maximum over ``(E_F, E_F + UNOCCUPIED_WINDOW_EV]``
  (linearly interpolated). Defect levels in the gap count: they are empty p states too.
* ``p_pi_weight`` / ``p_sigma_weight`` -- the empty p_pi and p_sigma states in the first
  :data:`EDGE_WINDOW_EV` above that onset: the integral of the DOS from ``E_F`` to
  ``p_onset_ev + EDGE_WINDOW_EV`` (states).
* ``pi_fraction`` -- ``p_pi_weight / (p_pi_weight + p_sigma_weight)``: how much of the near-edge
  final states is pi-like (about 0 for sp3 c-BN and w-BN, large for sp2 h-BN).
* ``p_centroid_ev`` -- the centre of mass of the empty p DOS over ``(E_F, E_F + UNOCCUPIED_WINDOW_EV]``,
  relative to ``p_onset_ev``.

* ``p_sigma_occupied`` / ``p_pi_occupied`` -- the occupied p_sigma and p_pi populations: the DOS
  integrated from the bottom of the stored energy axis to ``E_F`` (trapezoidal, the last interval
  ending at ``E_F``; NaN when the axis does not reach ``E_F``) (states; projections onto the
  absorber's first bound PAW p projector, so populations *inside the augmentation sphere*, not
  charges, and comparable only between spectra of one element and calculation set). Unlike the
  stored ``sigma_charge_transfer`` (defined relative to the pristine host, hence 0 for every
  pristine cell by construction) they are defined for every cell, pristine ones included, and
  differ between hosts (sp2 vs sp3);
* ``pi_occupied_fraction`` -- ``p_pi_occupied / (p_sigma_occupied + p_pi_occupied)``.

A DOS stored with only ``p`` (no sigma/pi split) is taken as all-sigma: the calculation set's
convention for sp3 cells, where every p orbital points along a bond (see ``data/bn/calcset.toml``,
``pdos`` provenance). Features that cannot be formed are NaN.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

ONSET_FRACTION = 0.1
EDGE_WINDOW_EV = 5.0
UNOCCUPIED_WINDOW_EV = 15.0
MIN_EMPTY_STATES = 1e-6  # less than this in the window (e.g. a Gaussian tail of occupied states) is "none"
FEATURES = ("p_onset_ev", "p_pi_weight", "p_sigma_weight", "pi_fraction", "p_centroid_ev",
            "p_sigma_occupied", "p_pi_occupied", "pi_occupied_fraction")
FEATURE_UNITS = {"p_onset_ev": "eV above E_F", "p_pi_weight": "states", "p_sigma_weight": "states",
                 "pi_fraction": "", "p_centroid_ev": "eV above the onset", "p_sigma_occupied": "states",
                 "p_pi_occupied": "states", "pi_occupied_fraction": ""}
# Defined for every cell (pristine ones too): the sigma/pi descriptors of the grouped comparison.
OCCUPIED_FEATURES = ("p_sigma_occupied", "p_pi_occupied", "pi_occupied_fraction")
# The unoccupied-DOS features shown beside them.
UNOCCUPIED_FEATURES = ("p_pi_weight", "p_sigma_weight", "pi_fraction", "p_onset_ev", "p_centroid_ev")


def _window_integral(energy: np.ndarray, density: np.ndarray, lo: float, hi: float) -> float:
    inside = (energy > lo) & (energy <= hi)
    if inside.sum() < 2:
        return float("nan")
    return float(np.trapezoid(density[inside], energy[inside]))


def _occupied(rel: np.ndarray, density: np.ndarray) -> float:
    """Trapezoidal integral of ``density`` from the start of the axis to exactly 0 (E_F), the last
    interval ending at E_F with the linearly interpolated density."""
    below = rel < 0
    e = np.append(rel[below], 0.0)
    y = np.append(density[below], np.interp(0.0, rel, density))
    return float(np.trapezoid(y, e))


def p_onset(energy: np.ndarray, p: np.ndarray, fermi_ev: float = 0.0) -> float:
    """First energy above ``fermi_ev`` where ``p`` reaches ONSET_FRACTION of its maximum above it,
    relative to ``fermi_ev``; NaN when there are no empty p states in the window."""
    rel = np.asarray(energy, dtype=np.float64) - fermi_ev
    p = np.asarray(p, dtype=np.float64)
    inside = (rel > 0) & (rel <= UNOCCUPIED_WINDOW_EV)
    if inside.sum() < 2:
        return float("nan")
    e, y = rel[inside], p[inside]
    if not np.trapezoid(y, e) >= MIN_EMPTY_STATES:
        return float("nan")
    level = ONSET_FRACTION * y.max()
    i = int(np.argmax(y >= level))
    if i == 0 or y[i] == y[i - 1]:
        return float(e[i])
    t = (level - y[i - 1]) / (y[i] - y[i - 1])
    return float(e[i - 1] + t * (e[i] - e[i - 1]))


def dos_features(energy: np.ndarray, orbitals: Mapping[str, np.ndarray], fermi_ev: float) -> dict[str, float]:
    """The features of the module docstring from one absorber's PDOS on one energy axis.

    ``orbitals`` maps orbital names (``p``, ``p_sigma``, ``p_pi``, ...) to densities on ``energy``.
    """
    out = {name: float("nan") for name in FEATURES}
    energy = np.asarray(energy, dtype=np.float64)
    if fermi_ev is None or not np.isfinite(fermi_ev):
        return out
    p = orbitals.get("p")
    sigma, pi = orbitals.get("p_sigma"), orbitals.get("p_pi")
    if p is None and sigma is not None and pi is not None:
        p = np.asarray(sigma) + np.asarray(pi)
    if p is None:
        return out
    p = np.asarray(p, dtype=np.float64)
    if sigma is None or pi is None:  # only total p: sp3 convention, all sigma
        sigma, pi = p, np.zeros_like(p)
    rel = energy - fermi_ev
    occupied = rel < 0
    if occupied.sum() >= 2 and rel[-1] >= 0:
        n_sigma = _occupied(rel, np.asarray(sigma, dtype=np.float64))
        n_pi = _occupied(rel, np.asarray(pi, dtype=np.float64))
        out["p_sigma_occupied"], out["p_pi_occupied"] = n_sigma, n_pi
        if n_sigma + n_pi > 0:
            out["pi_occupied_fraction"] = n_pi / (n_sigma + n_pi)
    onset = p_onset(rel, p)
    out["p_onset_ev"] = onset
    if np.isfinite(onset):
        hi = onset + EDGE_WINDOW_EV
        w_pi = _window_integral(rel, np.asarray(pi, dtype=np.float64), 0.0, hi)
        w_sigma = _window_integral(rel, np.asarray(sigma, dtype=np.float64), 0.0, hi)
        out["p_pi_weight"], out["p_sigma_weight"] = w_pi, w_sigma
        total = w_pi + w_sigma
        out["pi_fraction"] = w_pi / total if np.isfinite(total) and total > 0 else float("nan")
        inside = (rel > 0) & (rel <= UNOCCUPIED_WINDOW_EV)
        mass = np.trapezoid(p[inside], rel[inside]) if inside.sum() >= 2 else 0.0
        if mass > 0:
            out["p_centroid_ev"] = float(np.trapezoid(p[inside] * rel[inside], rel[inside]) / mass) - onset
    return out
