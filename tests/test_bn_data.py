"""Physics checks on the bundled boron nitride sets (data/bn = v1, data/bn-v2 = the v2 campaign as
far as it has come), computed with GPAW.  Every check runs on both sets; a check whose spectra a set
does not have yet is skipped with the reason.

- Layered BN (h-BN, monolayer h-BN, r-BN), B and N K-edges: the strongest near-edge peak is the
  π* resonance: polarised out of plane, and well below the in-plane σ* rise.
- h-BN B K: the in-plane σ* doublet lies +6.0 and +7.3 eV above π* (experiment, e.g. Moscovici
  et al., Phys. Rev. B 2005; Jiménez et al., Phys. Rev. B 1997), within SIGMA_DOUBLET_TOL_EV.
- c-BN (sp3, no π system): no strong peak at the onset; its B K onset lies about 2 eV above
  h-BN's π* (experiment: π* 192.0 eV, c-BN onset ≈ 194 eV).
- r-BN (same layers, ABC stacking) has its B K π* where h-BN has it.
- w-BN B K (v2): a strong onset feature that is in the ground-state B p DOS (not made by the core
  hole) and is split by the C3v site into an E⊥c- and an E∥c-leaning half (not a π* peak).
- Defects: v_N gives the nearest B, v_B the nearest N an in-plane peak below the site's own π*
  (sp3 hosts: a sharp onset peak that pristine c-BN lacks); O_N adds B K intensity between π* and σ* (the BN2O-like
  features at +0.5-2 eV seen in oxidised h-BN, Petravic et al. / Caretti & Jiménez).
- Every spectrum carries its core-hole method and energy alignment.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

# by name, not repository.calcset.BUNDLED_SET: the demo's set moves from v1 to v2, these tests do not
DATA = Path(__file__).resolve().parent.parent / "data"
BN_SETS = {"v1": DATA / "bn", "v2": DATA / "bn-v2"}

NEAR_EDGE_WINDOW_EV = 2.5  # strongest peak within this of the onset
ONSET_FRACTION = 0.05  # onset: first energy above 5% of the maximum
PI_STAR_MIN_HEIGHT = 0.8  # fraction of the maximum a π* peak of layered BN reaches
NO_PI_STAR_MAX_HEIGHT = 0.4  # c-BN's onset feature stays below this
PI_STAR_POLARISATION_RATIO = 10.0  # out-of-plane / in-plane intensity at π*
PI_SIGMA_GAP_EV = 3.0  # π* at least this far below the in-plane σ* half-rise
LAYERED = ("h-BN", "h-BN-mono", "r-BN")  # h-BN-mono: the 2D monolayer
# experiment: σ* doublet of h-BN B K at +6.0 / +7.3 eV above π*; tolerance: half the broadening
# FWHM at +6 eV (about 1 eV, assemble.BROADENING) plus 0.2 eV for reading peak maxima on a 0.1 eV grid
SIGMA_DOUBLET_EV = (6.0, 7.3)
SIGMA_DOUBLET_TOL_EV = 0.7
# c-BN B K onset (ONSET_FRACTION of the maximum: its first feature is weak) above h-BN π*: experiment ≈ +2 eV; accepted +1.0 … +3.0 eV
# (ΔKS onsets of two different cells move by a few tenths of an eV with mesh and cutoff)
CBN_ABOVE_PI_STAR_EV = (1.0, 3.0)
RBN_PI_STAR_TOL_EV = 0.3  # r-BN and h-BN π* (same layer, other stacking)
PRE_PEAK_MIN_BELOW_EV = 0.3  # a defect pre-peak lies at least this far below the site's π*
PRE_PEAK_MIN_HEIGHT = 0.05  # of the spectrum's maximum


@pytest.fixture(scope="module", params=sorted(BN_SETS))
def bn_plan(request):
    path = BN_SETS[request.param]
    if not (path / "calcset.toml").is_file():
        pytest.skip(f"BN set {request.param} not found at {path} (the v2 campaign writes it)")
    from repository.calcset import read_calcset

    return read_calcset(path)


def _pristine(plan, polymorph: str, element: str):
    """{polarization: SpectrumData} of the pristine polymorph's absorber of ``element``, or skip.

    Pristine means the ideal cell (v2 also has strained and rattled variants, which are skipped)."""
    for entry in plan.entries:
        structure = plan.structures[entry.structure_hash]
        variant = entry.calculation.get("parameters", {}).get("variant", "pristine")
        if (entry.defect is None and structure.polymorph == polymorph and variant == "pristine"
                and entry.spectra[0].spectrum.absorbing_element == element):
            return {s.spectrum.polarization: s.spectrum for s in entry.spectra}
    pytest.skip(f"no pristine {polymorph} {element} K-edge spectrum in this set yet")


def _defect_site(plan, polymorph: str, defect: str, element: str, role: str = "nearest"):
    """iso spectrum of the ``role`` absorber of ``element`` in the ``defect`` cell, or skip."""
    for entry in plan.entries:
        structure = plan.structures[entry.structure_hash]
        params = entry.calculation.get("parameters", {})
        if (entry.defect is not None and entry.defect.name == defect
                and structure.polymorph == polymorph and params.get("absorber_role") == role
                and entry.spectra[0].spectrum.absorbing_element == element):
            return {s.spectrum.polarization: s.spectrum for s in entry.spectra}["iso"]
    pytest.skip(f"no {role} {element} site of {defect} in {polymorph} in this set yet")


def _pi_star_ev(spectrum) -> float:
    """Energy (eV) of the strongest near-edge peak (the π* of layered BN)."""
    peak, _ = _near_edge_peak(spectrum.energy_ev, spectrum.intensity)
    assert peak >= 0, "no near-edge peak"
    return float(spectrum.energy_ev[peak])


def _half_rise_ev(spectrum) -> float:
    y = spectrum.intensity / spectrum.intensity.max()
    return float(spectrum.energy_ev[np.argmax(y >= 0.5)])


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
    peak, _ = _near_edge_peak(iso.energy_ev, iso.intensity)
    assert peak >= 0, "no near-edge peak"
    # π* is the strongest feature for E ∥ c (out of plane); in the isotropic average the in-plane
    # σ* (weight 2/3) may be as strong once a spectrum reaches +20 eV (v2; experiment alike, N K)
    _, height = _near_edge_peak(out_of_plane.energy_ev, out_of_plane.intensity)
    assert height >= PI_STAR_MIN_HEIGHT, f"E∥c near-edge peak only {height:.2f} of the E∥c maximum"
    ratio = out_of_plane.intensity[peak] / max(in_plane.intensity[peak], 1e-300)
    assert ratio >= PI_STAR_POLARISATION_RATIO, f"peak at {iso.energy_ev[peak]:.1f} eV is not out-of-plane (ratio {ratio:.2g})"
    sigma = in_plane.intensity
    sigma_rise_ev = in_plane.energy_ev[np.argmax(sigma >= 0.5 * sigma.max())]
    assert sigma_rise_ev - iso.energy_ev[peak] >= PI_SIGMA_GAP_EV


@pytest.mark.parametrize("element", ["B", "N"])
def test_cubic_bn_has_no_pi_star_peak_at_the_onset(bn_plan, element, request):
    # v2 B K, measured 2026-11-30: the strongest feature within 2.5 eV of the onset was 0.05 of the
    # maximum on 2x2x2, 0.49 on 3x3x3 and 0.11 on 4x4x4 (production since): a k-sampling artefact
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


def test_h_bn_sigma_star_doublet_lies_where_experiment_puts_it(bn_plan, request):
    from scipy.signal import find_peaks

    if "v2" in request.node.callspec.id:
        # measured on v2: one in-plane σ* peak, at +7.4 eV on the 2x2x1 mesh, +6.4 eV on 4x4x1
        # (production) and +6.5 eV on 6x6x1 (4x4x1 -> 6x6x1: RMS 0.009, converged), where
        # experiment has +6.0/+7.3. The transitions carry a doublet (+6.3/+7.6 eV on 4x4x1,
        # +6.5/+7.5 on 6x6x1, broadened with a constant 0.5 eV); the set's energy-dependent
        # broadening (assemble.BROADENING, ~1.05 eV FWHM at +6 eV) merges it (docs/bn-calculations.md)
        request.applymarker(pytest.mark.xfail(strict=True, reason="v2: σ* doublet merged by the ~1 eV broadening"))
    sp = _pristine(bn_plan, "h-BN", "B")
    pi = _pi_star_ev(sp["iso"])
    e, y = sp["in_plane"].energy_ev, sp["in_plane"].intensity / sp["in_plane"].intensity.max()
    peaks, _ = find_peaks(y, prominence=0.02)
    window = [p for p in peaks if pi + 4.0 <= e[p] <= pi + 9.0]
    assert len(window) >= 2, f"no σ* doublet between +4 and +9 eV above π* ({pi:.2f} eV)"
    two = sorted(sorted(window, key=lambda p: -y[p])[:2])
    found = [float(e[p] - pi) for p in two]
    for got, want in zip(found, SIGMA_DOUBLET_EV):
        assert abs(got - want) <= SIGMA_DOUBLET_TOL_EV, f"σ* doublet at +{found[0]:.2f}/+{found[1]:.2f} eV"


# the constant FWHM (eV) at which the doublet is compared from the transitions: about what an
# experiment at a soft X-ray beamline resolves at the B K edge (resolution + 1s lifetime)
DOUBLET_FWHM_EV = 0.5


def test_h_bn_sigma_star_doublet_is_in_the_v2_transitions():
    """v2's h-BN B K transitions (committed sticks, 4x4x1) broadened with a constant
    DOUBLET_FWHM_EV: π* is the strongest E∥c (z) peak and has no in-plane weight, and the two
    strongest in-plane peaks 4-9 eV above it lie where experiment puts the σ* doublet. (The set's
    own broadening, ~1 eV at +6 eV, merges them: the strict xfail above.)"""
    from scipy.signal import find_peaks

    from repository.calculations.assemble import broaden

    path = V2_RESULTS / "xas__h-BN_pristine__B0.npz"
    if not path.exists():
        pytest.skip(f"{path} not committed")
    d = np.load(path)
    e, a, empty = d["e_stick"], d["a_stick_xyz"], d["emptiness"]
    grid = np.arange(e.min() - 2.0, e.max(), 0.02)
    out_of_plane = broaden(e, a[:, 2] * empty, grid, DOUBLET_FWHM_EV)
    in_plane = broaden(e, (a[:, 0] + a[:, 1]) * empty, grid, DOUBLET_FWHM_EV)
    z_peaks, _ = find_peaks(out_of_plane / out_of_plane.max(), prominence=0.05)
    i_pi = z_peaks[np.argmax(out_of_plane[z_peaks])]
    assert in_plane[i_pi] < 0.01 * out_of_plane[i_pi], "π* has in-plane weight"
    y = in_plane / in_plane.max()
    peaks, _ = find_peaks(y, prominence=0.02)
    window = [p for p in peaks if grid[i_pi] + 4.0 <= grid[p] <= grid[i_pi] + 9.0]
    assert len(window) >= 2, "no σ* doublet in the transitions"
    two = sorted(sorted(window, key=lambda p: -y[p])[:2])
    found = [float(grid[p] - grid[i_pi]) for p in two]
    for got, want in zip(found, SIGMA_DOUBLET_EV):
        assert abs(got - want) <= SIGMA_DOUBLET_TOL_EV, f"σ* doublet at +{found[0]:.2f}/+{found[1]:.2f} eV"


def _onset_ev(spectrum, fraction: float = 0.1) -> float:
    y = spectrum.intensity / spectrum.intensity.max()
    return float(spectrum.energy_ev[np.argmax(y >= fraction)])


def test_c_bn_onset_lies_about_two_ev_above_h_bn_pi_star(bn_plan, request):
    if "v1" in request.node.callspec.id:
        # measured by the outside audit: v1's averaged ΔKS cutoff correction puts the c-BN onset
        # only +1.0-1.2 eV above h-BN π* (+1.8 eV with a per-cell correction); v2 computes every
        # ΔKS at 600 eV with k meshes
        request.applymarker(pytest.mark.xfail(strict=True, reason="v1 ΔKS cutoff correction (audit)"))
    # v2, measured: c-BN +2.26 eV on the 2x2x2 mesh, +3.59 eV on 3x3x3, +3.01 eV on 4x4x4 and +3.21 eV
    # on 6x6x6 against h-BN on 4x4x1 (2026-11-30, a strict xfail then); +2.89 eV once h-BN moved to
    # 4x4x2 along c (2026-12-01: h-BN π* +0.12 eV). Inside the accepted range by 0.11 eV and still
    # ~0.9 eV above experiment (docs/bn-calculations.md says why)
    pi = _pi_star_ev(_pristine(bn_plan, "h-BN", "B")["iso"])
    onset = _onset_ev(_pristine(bn_plan, "c-BN", "B")["iso"], ONSET_FRACTION)
    lo, hi = CBN_ABOVE_PI_STAR_EV
    assert lo < onset - pi <= hi, f"c-BN onset (5 % of max) {onset - pi:+.2f} eV from h-BN π*"


def test_r_bn_pi_star_sits_where_h_bn_has_it(bn_plan):
    d = _pi_star_ev(_pristine(bn_plan, "r-BN", "B")["iso"]) - _pi_star_ev(_pristine(bn_plan, "h-BN", "B")["iso"])
    assert abs(d) <= RBN_PI_STAR_TOL_EV, f"r-BN π* {d:+.2f} eV from h-BN"


def _in_plane_peak_below_own_pi_star(plan, host, defect, element):
    """(found, description): an in-plane peak ≥ PRE_PEAK_MIN_BELOW_EV below the site's own π*
    (its out-of-plane maximum).  Each site is aligned at its own ΔKS onset, which in a cell with
    an empty defect level is that level, so the comparison is made inside the site's spectrum."""
    from scipy.signal import find_peaks

    sp = None
    for entry in plan.entries:
        structure = plan.structures[entry.structure_hash]
        if (entry.defect is not None and entry.defect.name == defect and structure.polymorph == host
                and entry.calculation.get("parameters", {}).get("absorber_role") == "nearest"
                and entry.spectra[0].spectrum.absorbing_element == element):
            sp = {s.spectrum.polarization: s.spectrum for s in entry.spectra}
    if sp is None:
        pytest.skip(f"no nearest {element} site of {defect} in {host} in this set yet")
    out, inp = sp["out_of_plane"], sp["in_plane"]
    pi = float(out.energy_ev[np.argmax(out.intensity)])
    y = inp.intensity / sp["iso"].intensity.max()
    peaks, _ = find_peaks(y, prominence=0.02)
    below = [p for p in peaks if inp.energy_ev[p] <= pi - PRE_PEAK_MIN_BELOW_EV and y[p] >= PRE_PEAK_MIN_HEIGHT]
    return bool(below), f"π* {pi:.2f} eV; in-plane peaks " + ", ".join(
        f"{inp.energy_ev[p]:.2f} ({y[p]:.2f})" for p in peaks[:5])


def _sp3_onset_peak(plan, host, defect, element):
    """Height of the near-edge peak of the nearest site in an sp3 host (pristine: ≤ NO_PI_STAR_MAX_HEIGHT)."""
    site = _defect_site(plan, host, defect, element)
    return _near_edge_peak(site.energy_ev, site.intensity)[1]


@pytest.mark.parametrize("host", ["h-BN", "h-BN-mono", "c-BN", "w-BN"])
@pytest.mark.parametrize("defect,element", [("v_N", "B"), ("v_B", "N")])
def test_a_vacancy_gives_the_nearest_neighbour_a_defect_peak_at_the_onset(bn_plan, host, defect, element):
    """v_N: the nearest B; v_B: the nearest N (a pre-peak below the site's own π*; sp3: an onset peak)."""
    if host in LAYERED:
        ok, info = _in_plane_peak_below_own_pi_star(bn_plan, host, defect, element)
        assert ok, f"{defect} nearest {element} in {host}: {info}"
    else:
        h = _sp3_onset_peak(bn_plan, host, defect, element)
        assert h > NO_PI_STAR_MAX_HEIGHT, f"{defect} nearest {element} in {host}: onset peak only {h:.2f}"


def test_o_n_adds_boron_intensity_between_pi_star_and_sigma_star(bn_plan):
    """Shapes compared with both spectra aligned at their own π* (strongest peak)."""
    site = _defect_site(bn_plan, "h-BN", "O_N", "B")
    ref = _pristine(bn_plan, "h-BN", "B")["iso"]

    def band(s):
        rel = s.energy_ev - _pi_star_ev(s)
        grid = np.arange(0.5, 2.5, 0.1)
        return float(np.interp(grid, rel, s.intensity / s.intensity.max()).mean())

    assert band(site) >= band(ref) + 0.05, (band(site), band(ref))


# ΔKS cutoff convergence of the v2 set (committed results of the cutoff series, round 0). The set's
# spectra carry ΔKS at 600 eV; what the maps see is the onset of one cell RELATIVE to another, so
# that difference must not move when the cutoff is raised further. Tolerance: a tenth of the
# 0.5 eV broadening of the spectra, far below the 0.45 eV the cutoff moved it between 300 and 600 eV.
V2_RESULTS = DATA.parent / "calculations" / "bn-v2" / "results"
DKS_CUTOFF_TOL_EV = 0.05


def _dks_series(element: str) -> dict[int, float]:
    """{cutoff eV: c-BN minus h-BN ΔKS (eV)} for the pristine cells of the committed series."""
    site = {"B": "B0", "N": {"h-BN": "N18", "c-BN": "N16"}}
    out = {}
    for ecut in (300, 450, 600, 800):
        values = {}
        for cell in ("h-BN", "c-BN"):
            name = site[element] if element == "B" else site[element][cell]
            path = V2_RESULTS / f"dksc{ecut}__{cell}_pristine__{name}.json"
            if ecut == 600:
                # the series' 600 eV point is the production spectrum's own ΔKS (600 eV), on the
                # mesh the series was computed with (its ground states record it): production
                # then, kept in results-superseded/ since the production mesh became denser
                gsc = V2_RESULTS / f"gsc800__{cell}_pristine.json"
                mesh = "x".join(map(str, json.loads(gsc.read_text())["kpts"])) if gsc.exists() else "?"
                path = V2_RESULTS.parent / "results-superseded" / f"k{mesh}" / f"xas__{cell}_pristine__{name}.json"
            if path.exists():
                values[cell] = json.loads(path.read_text())["delta_ks_ev"]
        if len(values) == 2:
            out[ecut] = values["c-BN"] - values["h-BN"]
    return out


@pytest.mark.parametrize("element", ["B", "N"])
def test_v2_relative_onsets_are_converged_in_the_delta_ks_cutoff(element):
    series = _dks_series(element)
    if not {600, 800} <= set(series):
        pytest.skip(f"the v2 ΔKS cutoff series for {element} K at 600 and 800 eV is not computed yet")
    assert abs(series[800] - series[600]) <= DKS_CUTOFF_TOL_EV, (
        f"{element} K: c-BN minus h-BN ΔKS moves {series[800] - series[600]:+.3f} eV from 600 to 800 eV")
    # and the series is the physics it claims: c-BN's 1s level needs MORE energy than h-BN's
    assert series[600] > 0, f"{element} K: c-BN ΔKS below h-BN's ({series[600]:+.2f} eV)"


# issue 15: every defect cell relaxed to max force <= 0.05 eV/Å. The early relaxations ran on
# coarser meshes (2x2x1 / 2x2x2) than the spectra (4x4x1-6x6x6); since 2026-12-01 the ground state on
# the spectra's mesh records the force there, and the set states it per entry.
RELAX_FMAX_EV_PER_A = 0.05
# the ground state repeats the force of the relaxation's last step to about 0.005 eV/A, not exactly
# (its own bands and SCF tolerance): c-BN v_B, same geometry and 4x4x4 mesh, 0.048 (relax) against
# 0.053 eV/A (gs), 2026-12-01; a geometry within this of the target meets it
FORCE_REPEAT_TOL_EV_PER_A = 0.01


def test_v2_relaxed_geometries_hold_where_the_spectra_are_computed():
    """Every relaxed v2 entry states its residual force on the spectra's k mesh (or that it was
    not computed, for a relaxation on another mesh), and every stated one is within the target."""
    import tomllib

    doc = tomllib.loads((BN_SETS["v2"] / "calcset.toml").read_text())
    relaxed = [e for e in doc["entries"] if "relax_fmax_ev_per_a" in e["calculation"]["parameters"]]
    if not relaxed:
        pytest.skip("no relaxed defect cell in the v2 set yet")
    stated = []
    for e in relaxed:
        p = e["calculation"]["parameters"]
        if "production_fmax_ev_per_a" in p:
            stated.append((e["key"], p["production_fmax_ev_per_a"]))
            assert f"mesh {p['production_fmax_ev_per_a']:.3f} eV/A" in e["relaxation"], e["key"]
        else:
            assert "mesh not computed" in e["relaxation"] or f"k {'x'.join(map(str, p['kpts']))}" in e["relaxation"], (
                f"{e['key']}: relaxed on another mesh and silent about the force on the spectra's mesh")
    if not stated:
        pytest.skip("no ground state with forces on the spectra's mesh yet")
    too_large = [(k, f) for k, f in stated if f > RELAX_FMAX_EV_PER_A + FORCE_REPEAT_TOL_EV_PER_A]
    assert not too_large, f"residual force above {RELAX_FMAX_EV_PER_A} eV/A on the spectra's mesh: {too_large}"


# Bader charges of the v2 pristine cells (committed results of the bader jobs): B (Pauling
# electronegativity 2.04) gives electrons to N (3.04), and Bader partitions of BN are strongly
# ionic, about 2 e per atom; the window is wide on purpose (it is a sign-and-size check, not a
# reference value). Equivalent atoms must agree: a misregistered density grid breaks that first
# (baderkit's cube reader did: identical B atoms of h-BN came out between -3.0 and +4.2 e).
BADER_B_RANGE_E = (1.5, 2.5)
BADER_EQUIVALENT_TOL_E = 0.05


@pytest.mark.parametrize("polymorph", ["h-BN", "r-BN", "h-BN-mono", "c-BN", "w-BN"])
def test_v2_bader_charges_of_pristine_cells_are_ionic_and_equal_on_equivalent_atoms(polymorph):
    path = V2_RESULTS / f"bader__{polymorph}_pristine.json"
    if not path.exists():
        pytest.skip(f"no Bader result for pristine {polymorph} yet")
    res = json.loads(path.read_text())
    symbols = json.loads((V2_RESULTS.parent / "structures" / f"{polymorph}_pristine.json").read_text())["symbols"]
    charges = np.array(res["charges"])
    b = charges[[s == "B" for s in symbols]]
    n = charges[[s == "N" for s in symbols]]
    assert np.ptp(b) <= BADER_EQUIVALENT_TOL_E and np.ptp(n) <= BADER_EQUIVALENT_TOL_E, (
        f"{polymorph}: B {b.min():+.2f}..{b.max():+.2f}, N {n.min():+.2f}..{n.max():+.2f} e")
    lo, hi = BADER_B_RANGE_E
    assert lo <= b.mean() <= hi, f"{polymorph}: B Bader charge {b.mean():+.2f} e"
    assert abs(charges.sum()) <= 0.05, f"{polymorph}: charges sum to {charges.sum():+.3f} e"


# The B atoms beside an N vacancy keep the electrons of their broken bonds (dangling sp2 orbitals
# pointing into the vacancy), so they are far less ionic than bulk B (+2.0 e). Threshold: half the
# measured difference (h-BN 2026-12-01: +1.31..+1.36 against +2.00 e), far above the grid's 0.05 e.
V_N_NEIGHBOUR_MIN_LOSS_E = 0.3


def test_v2_bader_b_beside_an_n_vacancy_is_less_ionic_and_carries_its_uncertainty():
    path = V2_RESULTS / "bader__h-BN_v_N.json"
    if not path.exists():
        pytest.skip("no Bader result for h-BN v_N yet")
    from repository.calculations.bader import EQUIVALENT_TOL_E

    res = json.loads(path.read_text())
    st = json.loads((V2_RESULTS.parent / "structures" / "h-BN_v_N.json").read_text())
    symbols = st["symbols"]
    cell, pos = np.array(st["cell"]), np.array(st["positions"])
    frac = np.linalg.solve(cell.T, pos.T).T
    n_idx = [j for j, s in enumerate(symbols) if s == "N"]

    def n_neighbours(i):
        d = frac[n_idx] - frac[i]
        d -= np.round(d)
        return int((np.linalg.norm(d @ cell, axis=1) < 1.7).sum())

    charges, spread = np.array(res["charges"]), np.array(res["equivalent_spread_e"])
    beside = [i for i, s in enumerate(symbols) if s == "B" and n_neighbours(i) == 2]
    bulk = [i for i, s in enumerate(symbols) if s == "B" and n_neighbours(i) == 3]
    assert len(beside) == 3, beside
    assert charges[bulk].mean() - charges[beside].max() >= V_N_NEIGHBOUR_MIN_LOSS_E, (
        charges[beside], charges[bulk].mean())
    # the three are equivalent: their range is each one's recorded uncertainty, within the check
    assert spread[beside] == pytest.approx(np.ptp(charges[beside]), abs=1e-4)
    assert np.ptp(charges[beside]) <= EQUIVALENT_TOL_E


# k-mesh convergence of the v2 set: the denser-mesh spectrum of a pristine site (4x4x1 / 3x3x3,
# in the probe set data/bn-v2-probes) against the set's own (2x2x1 / 2x2x2). Distance as the
# outside audit measured it: RMS of max-normalised isotropic spectra at the best relative shift
# (within +-1 eV), over the onset .. +20 eV; it must stay below the median nearest-neighbour
# distance inside the set the audit measured (B 0.051, N 0.070), or the mesh would move a
# spectrum further than the set's neighbours are apart.
V2_PROBES = DATA / "bn-v2-probes"
MESH_RMS_TOL = {"B": 0.051, "N": 0.070}
MESH_SHIFT_SEARCH_EV = 1.0
MESH_RANGE_ABOVE_ONSET_EV = 20.0


def _two_columns(path, column: int = 1):
    data = np.loadtxt(path, comments="#", usecols=(0, column))
    return data[:, 0], data[:, 1] / data[:, 1].max()


def _best_shift_rms(e_ref, y_ref, e, y) -> tuple[float, float]:
    """(rms, shift eV) of ``y`` shifted onto ``y_ref`` over onset .. onset + 20 eV of ``y_ref``."""
    onset = e_ref[np.argmax(y_ref >= ONSET_FRACTION)]
    grid = np.arange(onset, onset + MESH_RANGE_ABOVE_ONSET_EV, 0.05)
    best = (np.inf, 0.0)
    for shift in np.arange(-MESH_SHIFT_SEARCH_EV, MESH_SHIFT_SEARCH_EV + 1e-9, 0.02):
        rms = float(np.sqrt(np.mean((np.interp(grid, e_ref, y_ref) - np.interp(grid, e + shift, y)) ** 2)))
        best = min(best, (rms, float(shift)))
    return best


def _mesh(path) -> tuple[int, ...]:
    """A probe file's k mesh, from its name (``..._k3x3x3.dat`` -> (3, 3, 3))."""
    return tuple(int(x) for x in path.stem.rsplit("_k", 1)[1].split("x"))


def _mesh_points(path) -> int:
    """k points of a probe file's mesh, from its name (``..._k3x3x3.dat`` -> 27)."""
    return int(np.prod(_mesh(path)))


def _denser_checks(polymorph: str, element: str, production: list[int]) -> list:
    """Probe files of pristine ``polymorph`` on a mesh at least as dense as ``production`` in every
    direction and denser in one: each is a convergence check the production mesh must pass (an
    in-plane check such as 6x6x1 says nothing about c, an along-c check 4x4x3 nothing in plane)."""
    folder = V2_PROBES / "probes"
    if not folder.is_dir():
        return []
    return [p for p in sorted(folder.glob(f"{polymorph}_pristine_{element}*_k*.dat"), key=_mesh_points)
            if all(d >= q for d, q in zip(_mesh(p), production)) and list(_mesh(p)) != list(production)]


@pytest.mark.parametrize("polymorph", ["h-BN", "c-BN", "w-BN", "r-BN", "h-BN-mono"])
@pytest.mark.parametrize("element", ["B", "N"])
def test_v2_spectra_are_converged_in_the_k_mesh(polymorph, element):
    # History (docs/bn-calculations.md): w-BN B K failed at 4x4x4 (RMS 0.107 against 6x6x6; the
    # 72-atom cell at 2x2x2 could not tell core-hole images from k sampling) and passed 6x6x6 ->
    # 8x8x5 (0.034), so w-BN production became 6x6x6 (plan_v2.SettingsV2.kpts_polymorph); h-BN and
    # r-BN failed along c at 4x4x1 (test_v2_h_bn_spectra_are_converged_along_c).
    production = json.loads((V2_RESULTS.parent / "plan.json").read_text())["structures"][
        f"{polymorph}_pristine"]["kpts"]
    checks = _denser_checks(polymorph, element, production)
    if not checks:
        pytest.skip(f"no {element} K spectrum of pristine {polymorph} on a denser mesh than the "
                    f"production {'x'.join(map(str, production))} yet")
    failed = []
    for dense in checks:
        site = dense.name.split("_")[2]                                # e.g. B0
        e_ref, y_ref = _two_columns(BN_SETS["v2"] / "spectra" / f"{polymorph}_pristine_{site}.dat")
        rms, shift = _best_shift_rms(*_two_columns(dense), e_ref, y_ref)
        if rms > MESH_RMS_TOL[element]:
            failed.append(f"vs {dense.stem.rsplit('_k', 1)[-1]} RMS {rms:.3f} (shift {shift:+.2f} eV)")
    assert not failed, (f"{polymorph} {element} K on the production {'x'.join(map(str, production))}: "
                        f"{'; '.join(failed)} > {MESH_RMS_TOL[element]}")


# measured 2026-12-01: h-BN on a production mesh against the densest check along c, per
# polarisation. Any failing polarisation means the production mesh moves; 4x4x1 did, to 4x4x2.
H_BN_ALONG_C_FAILED = {"4x4x1": "4x4x1 failed on 2026-12-01 (vs 4x4x4: N K iso 0.108, in-plane 0.088, "
                                "E||c 0.107; B K in-plane 0.066); production moved to 4x4x2"}


def _along_c_checks(polymorph: str, site: str, production: list[int]) -> list:
    """Probe spectra (all polarisations) of pristine ``polymorph`` with the production in-plane mesh
    and more k points along c, fewest first."""
    folder = V2_PROBES / "spectra"
    found = [p for p in folder.glob(f"{polymorph}_pristine_{site}_k*.dat")
             if list(_mesh(p)[:2]) == list(production[:2]) and _mesh(p)[2] > production[2]]
    return sorted(found, key=lambda p: _mesh(p)[2])


@pytest.mark.parametrize("element,site", [("B", "B0"), ("N", "N18")])
@pytest.mark.parametrize("column,polarisation", [(2, "in-plane"), (3, "out-of-plane (E || c)")])
def test_v2_h_bn_spectra_are_converged_along_c(element, site, column, polarisation, request):
    """Every layered mesh had one k point along c, and the in-plane check (6x6x1) cannot see that.
    h-BN (2 layers, c = 6.66 Å) on its production mesh against the densest check along c, each
    polarisation on its own (the E || c N K π* manifold, 401-405 eV, is a small part of the
    isotropic spectrum), by the same criterion as the in-plane check. The reference must itself be
    converged: the two densest checks agree within the tolerance (4x4x3 vs 4x4x4: <= 0.028)."""
    production = json.loads((V2_RESULTS.parent / "plan.json").read_text())["structures"]["h-BN_pristine"]["kpts"]
    mesh = "x".join(map(str, production))
    checks = _along_c_checks("h-BN", site, production)
    if not checks:
        pytest.skip(f"no h-BN {site} check with more k points along c than {mesh} computed yet")
    dense = checks[-1]
    if len(checks) >= 2:
        rms_ref, _ = _best_shift_rms(*_two_columns(dense, column), *_two_columns(checks[-2], column))
        assert rms_ref <= MESH_RMS_TOL[element], (
            f"the along-c reference is not converged itself: {checks[-2].stem} vs {dense.stem} RMS {rms_ref:.3f}")
    if mesh in H_BN_ALONG_C_FAILED and (element, column) != ("B", 3):   # B K E || c passed (0.022)
        request.applymarker(pytest.mark.xfail(strict=True, reason=H_BN_ALONG_C_FAILED[mesh]))
    e_ref, y_ref = _two_columns(BN_SETS["v2"] / "spectra" / f"h-BN_pristine_{site}.dat", column)
    rms, shift = _best_shift_rms(*_two_columns(dense, column), e_ref, y_ref)
    assert rms <= MESH_RMS_TOL[element], (
        f"h-BN {element} K {polarisation}: {mesh} vs {dense.stem.rsplit('_k', 1)[1]} RMS {rms:.3f} "
        f"(shift {shift:+.2f} eV) > {MESH_RMS_TOL[element]}")


@pytest.mark.parametrize("polymorph", ["c-BN", "h-BN"])
def test_the_mesh_rms_command_agrees_with_the_assembled_files(polymorph):
    """`python -m repository.calculations mesh-rms` (from the raw sticks) and this file's own
    criterion (from the assembled set and probe files) give the same number."""
    from repository.calculations.report import mesh_rms

    dense = sorted((V2_PROBES / "probes").glob(f"{polymorph}_pristine_B*_k*.dat"),
                   key=_mesh_points) if (V2_PROBES / "probes").is_dir() else []
    if not dense:
        pytest.skip(f"no denser-mesh B K spectrum of pristine {polymorph} computed yet")
    site = dense[-1].name.split("_")[2]
    tag = dense[-1].stem.rsplit("_k", 1)[1].replace("x", "")
    e_ref, y_ref = _two_columns(BN_SETS["v2"] / "spectra" / f"{polymorph}_pristine_{site}.dat")
    expected, _ = _best_shift_rms(e_ref, y_ref, *_two_columns(dense[-1]))
    rms, shift = mesh_rms(V2_RESULTS.parent, f"xas:{polymorph}_pristine:{site}", f"xask{tag}:{polymorph}_pristine:{site}")
    assert abs(rms - expected) < 0.005, (rms, expected)
    assert mesh_rms(V2_RESULTS.parent, f"xas:{polymorph}_pristine:{site}", f"xas:{polymorph}_pristine:{site}") == (0.0, 0.0)


# w-BN B K onset feature (v2, converged meshes). What it is, measured 2026-11-30 on the set:
# - it exists and is converged: the strongest peak within 2.5 eV of the onset is 0.93 of the
#   maximum on 6x6x6 (production) and the maximum itself on 8x8x5 (probe); c-BN's is 0.11;
# - it is already in the ground-state band structure, not made by the core hole: the B p PDOS of
#   w-BN puts 0.23 of its first 15 eV above the conduction-band minimum into the first 3 eV, c-BN
#   0.095 (2.4x), as the XANES puts 0.30 against 0.12 (2.4x);
# - it is not a π* state: it is split by the C3v crystal field of the wurtzite site (one B-N bond
#   along c, three basal) into a lower E⊥c-leaning peak (+0.9 eV, E∥c/E⊥c 0.58) and an upper
#   E∥c-leaning one (+2.2 eV, 1.56); a π* peak has E∥c/E⊥c ≥ 10. In the Td site of c-BN these p
#   states are one (t2) level. The two halves trading heights on coarse meshes is what looked like
#   a polarisation flip with the mesh (v1 audit).
WBN_ONSET_PEAK_MIN_HEIGHT = 0.6  # of the maximum (c-BN: below NO_PI_STAR_MAX_HEIGHT)
WBN_NEAR_CBM_EV = 3.0  # "near the edge": the first 3 eV above the onset / CBM
WBN_SHARE_WINDOW_EV = 15.0  # share of this window's intensity
WBN_MIN_SHARE_RATIO = 1.5  # w-BN / c-BN near-edge share, for both the XANES and the B p PDOS
WBN_SPLIT_WINDOW_EV = 3.0  # the two crystal-field halves lie within this of the onset
WBN_ISOTROPIC_RANGE = (0.3, 3.0)  # E∥c/E⊥c of each half: far from a π* peak's ≥ PI_STAR_POLARISATION_RATIO


def _v2_columns(name: str) -> np.ndarray:
    path = BN_SETS["v2"] / name
    if not path.is_file():
        pytest.skip(f"{path} not in the v2 set yet")
    return np.loadtxt(path, comments="#")


def _near_share(energy: np.ndarray, values: np.ndarray, start: float) -> float:
    window = (energy >= start) & (energy < start + WBN_SHARE_WINDOW_EV)
    near = (energy >= start) & (energy < start + WBN_NEAR_CBM_EV)
    return float(values[near].sum() / values[window].sum())


def _xanes_near_share(polymorph: str) -> float:
    data = _v2_columns(f"spectra/{polymorph}_pristine_B0.dat")
    energy, iso = data[:, 0], data[:, 1] / data[:, 1].max()
    return _near_share(energy, iso, float(energy[np.argmax(iso >= ONSET_FRACTION)]))


def _pdos_near_share(polymorph: str) -> float:
    """Share of the ground-state B p PDOS of the first WBN_SHARE_WINDOW_EV above the conduction-band
    minimum (first energy 0.5 eV above the Fermi level where p exceeds 2 % of its maximum there)."""
    name = f"dos/{polymorph}_pristine_B0_pdos.dat"
    data = _v2_columns(name)
    header = (BN_SETS["v2"] / name).read_text().splitlines()[0]
    fermi = float(header.split("Fermi level ")[1].split(")")[0])
    energy, p = data[:, 0], data[:, 2]
    empty = energy > fermi + 0.5
    cbm = float(energy[empty & (p > 0.02 * p[empty].max())][0])
    return _near_share(energy, p, cbm)


# ΔKS of an sp3 cell, 32 -> 72 atoms: what a core hole's periodic images can still move
SP3_DKS_CELL_SIZE_TOL_EV = 0.2


def test_sp3_delta_ks_barely_moves_with_cell_size():
    """The c-BN onset lies ~1 eV above experiment (strict xfail above). Cell size does not explain
    it on the sp3 side: the w-BN B K ΔKS of the 72-atom cell (3x3x2, 2x2x2 mesh) lies within
    SP3_DKS_CELL_SIZE_TOL_EV of the 32-atom cell's, on the production 6x6x6 mesh and on the same
    2x2x2 mesh (superseded result). Measured 2026-11-30: +0.08 / +0.14 eV."""
    large = V2_RESULTS / "xas__w-BN_pristine_large__B0.json"
    small = V2_RESULTS / "xas__w-BN_pristine__B0.json"
    same_mesh = V2_RESULTS.parent / "results-superseded" / "k2x2x2" / "xas__w-BN_pristine__B0.json"
    for path in (large, small, same_mesh):
        if not path.exists():
            pytest.skip(f"{path.name} not committed")
    big = json.loads(large.read_text())
    assert big["kpts"] == [2, 2, 2] and json.loads(same_mesh.read_text())["kpts"] == [2, 2, 2]
    for path in (small, same_mesh):
        d = big["delta_ks_ev"] - json.loads(path.read_text())["delta_ks_ev"]
        assert abs(d) <= SP3_DKS_CELL_SIZE_TOL_EV, f"72 - 32 atoms: {d:+.3f} eV ({path.parent.name})"


def test_w_bn_b_k_onset_feature_is_converged_and_present():
    for name in ("spectra/w-BN_pristine_B0.dat", None):
        if name is None:  # the denser-mesh probe (iso only)
            path = V2_PROBES / "probes" / "w-BN_pristine_B0_k8x8x5.dat"
            if not path.is_file():
                pytest.skip("no 8x8x5 probe of w-BN B K")
            data = np.loadtxt(path, comments="#")
        else:
            data = _v2_columns(name)
        _, height = _near_edge_peak(data[:, 0], data[:, 1])
        assert height >= WBN_ONSET_PEAK_MIN_HEIGHT, (name, height)


def test_w_bn_b_k_onset_feature_is_in_the_ground_state_band_structure():
    xanes = _xanes_near_share("w-BN") / _xanes_near_share("c-BN")
    pdos = _pdos_near_share("w-BN") / _pdos_near_share("c-BN")
    assert xanes >= WBN_MIN_SHARE_RATIO, xanes
    assert pdos >= WBN_MIN_SHARE_RATIO, f"ground-state B p PDOS near the CBM, w-BN / c-BN: {pdos:.2f}"


def test_w_bn_b_k_onset_feature_is_crystal_field_split_not_pi_star():
    from scipy.signal import find_peaks

    data = _v2_columns("spectra/w-BN_pristine_B0.dat")
    energy, iso, in_plane, along_c = data[:, 0], data[:, 1], data[:, 2], data[:, 3]
    y = iso / iso.max()
    onset = energy[np.argmax(y >= ONSET_FRACTION)]
    peaks, _ = find_peaks(y, prominence=0.05)
    near = [p for p in peaks if energy[p] <= onset + WBN_SPLIT_WINDOW_EV]
    assert len(near) >= 2, f"one peak only within {WBN_SPLIT_WINDOW_EV} eV of the onset"
    ratios = [float(along_c[p] / in_plane[p]) for p in near[:2]]
    low, high = WBN_ISOTROPIC_RANGE
    assert all(low <= r <= high for r in ratios), ratios  # neither half is π*-like
    assert ratios[0] < 1.0 < ratios[1], ratios  # lower half leans E⊥c, upper half E∥c


def test_v2_r_bn_b_k_spectrum_is_h_bn_s_within_the_mesh_tolerance():
    """r-BN ≈ h-BN (issue 15) in shape, not only at π*: their pristine B K spectra lie closer than
    the set's own k-mesh tolerance (`python -m repository.calculations distances`; 0.020 on
    2026-12-01, the two stackings differ only beyond the first B neighbours). The same command
    gives the assembled files' distance (this file's criterion) to within 0.01."""
    from repository.calculations.report import MESH_RMS_TOL as REPORT_TOL
    from repository.calculations.report import spectral_distances

    if not (V2_RESULTS / "xas__r-BN_pristine__B0.json").exists():
        pytest.skip("r-BN pristine B K not committed")
    assert REPORT_TOL == MESH_RMS_TOL
    row = next(r for r in spectral_distances(V2_RESULTS.parent)
               if r["edge"] == "B K" and {r["reference"], r["other"]} == {"h-BN_pristine", "r-BN_pristine"})
    assert row["rms"] <= MESH_RMS_TOL["B"], row
    spectra = BN_SETS["v2"] / "spectra"
    rms, _ = _best_shift_rms(*_two_columns(spectra / "h-BN_pristine_B0.dat"), *_two_columns(spectra / "r-BN_pristine_B0.dat"))
    assert rms == pytest.approx(row["rms"], abs=0.01)
