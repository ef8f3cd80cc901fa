"""Physics checks on the bundled boron nitride set (data/bn, computed with GPAW).

- Layered BN (h-BN, monolayer h-BN, r-BN), B and N K-edges: the strongest near-edge peak is the
  π* resonance: polarised out of plane, and well below the in-plane σ* rise.
- c-BN (sp3, no π system): no strong peak at the onset; the intensity builds up into σ*.
- Every spectrum carries its core-hole method and energy alignment.
"""

from __future__ import annotations

import numpy as np
import pytest

from repository.demo import BUNDLED_SET

NEAR_EDGE_WINDOW_EV = 2.5  # strongest peak within this of the onset
ONSET_FRACTION = 0.05  # onset: first energy above 5% of the maximum
PI_STAR_MIN_HEIGHT = 0.8  # fraction of the maximum a π* peak of layered BN reaches
NO_PI_STAR_MAX_HEIGHT = 0.4  # c-BN's onset feature stays below this
PI_STAR_POLARISATION_RATIO = 10.0  # out-of-plane / in-plane intensity at π*
PI_SIGMA_GAP_EV = 3.0  # π* at least this far below the in-plane σ* half-rise
LAYERED = ("h-BN", "h-BN-mono", "r-BN")  # h-BN-mono: the 2D monolayer


@pytest.fixture(scope="module")
def bn_plan():
    if not (BUNDLED_SET / "calcset.toml").is_file():
        pytest.skip(f"bundled BN set not found at {BUNDLED_SET}")
    from repository.calcset import read_calcset

    return read_calcset(BUNDLED_SET)


def _pristine(plan, polymorph: str, element: str):
    """{polarization: SpectrumData} of the pristine polymorph's absorber of ``element``, or skip."""
    for entry in plan.entries:
        structure = plan.structures[entry.structure_hash]
        if entry.defect is None and structure.polymorph == polymorph and entry.spectra[0].spectrum.absorbing_element == element:
            return {s.spectrum.polarization: s.spectrum for s in entry.spectra}
    pytest.skip(f"no pristine {polymorph} {element} K-edge spectrum in the bundled set yet")


def _near_edge_peak(energy: np.ndarray, intensity: np.ndarray) -> tuple[int, float]:
    """Index and relative height of the strongest local maximum within the near-edge window."""
    from scipy.signal import find_peaks

    y = intensity / intensity.max()
    onset = energy[np.argmax(y >= ONSET_FRACTION)]
    peaks, _ = find_peaks(y, prominence=0.05)
    near = [p for p in peaks if energy[p] <= onset + NEAR_EDGE_WINDOW_EV]
    if not near:
        return -1, 0.0
    best = max(near, key=lambda p: y[p])
    return int(best), float(y[best])


def _polymorphs(plan) -> set[str]:
    return {plan.structures[e.structure_hash].polymorph for e in plan.entries}


@pytest.mark.parametrize("element", ["B", "N"])
@pytest.mark.parametrize("polymorph", LAYERED)
def test_layered_bn_has_a_sharp_out_of_plane_pi_star_peak_below_sigma_star(bn_plan, polymorph, element):
    if polymorph not in _polymorphs(bn_plan):
        pytest.skip(f"{polymorph} not in the bundled set yet")
    spectra = _pristine(bn_plan, polymorph, element)
    iso, in_plane, out_of_plane = spectra["iso"], spectra["in_plane"], spectra["out_of_plane"]
    peak, height = _near_edge_peak(iso.energy_ev, iso.intensity)
    assert height >= PI_STAR_MIN_HEIGHT, f"near-edge peak only {height:.2f} of the maximum"
    ratio = out_of_plane.intensity[peak] / max(in_plane.intensity[peak], 1e-300)
    assert ratio >= PI_STAR_POLARISATION_RATIO, f"peak at {iso.energy_ev[peak]:.1f} eV is not out-of-plane (ratio {ratio:.2g})"
    sigma = in_plane.intensity
    sigma_rise_ev = in_plane.energy_ev[np.argmax(sigma >= 0.5 * sigma.max())]
    assert sigma_rise_ev - iso.energy_ev[peak] >= PI_SIGMA_GAP_EV


@pytest.mark.parametrize("element", ["B", "N"])
def test_cubic_bn_has_no_pi_star_peak_at_the_onset(bn_plan, element):
    iso = _pristine(bn_plan, "c-BN", element)["iso"]
    _, height = _near_edge_peak(iso.energy_ev, iso.intensity)
    assert height <= NO_PI_STAR_MAX_HEIGHT


def test_every_spectrum_records_core_hole_method_and_alignment(bn_plan):
    assert bn_plan.entries
    for entry in bn_plan.entries:
        calculation = entry.calculation
        assert calculation["method"] == "half_core_hole", entry.key
        assert calculation.get("alignment") and calculation.get("alignment_shift_ev") is not None, entry.key
        assert calculation.get("energy_reference"), entry.key
        assert calculation.get("broadening_ev") or "broadening" in str(calculation.get("parameters")), entry.key


def test_every_entry_has_dos_and_descriptors(bn_plan):
    for entry in bn_plan.entries:
        assert {d.orbital for d in entry.dos} >= {"s", "p"}, entry.key
        assert {d.name for d in entry.descriptors} >= {"hirshfeld_charge", "sigma_charge_transfer"}, entry.key
