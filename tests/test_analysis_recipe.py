"""Preprocessing recipes: validated, JSON round-trip, and each step does what the docs say."""

import json

import numpy as np
import pytest

from repository.analysis import recipe as rec
from repository.analysis.synthetic import synthetic_grid, synthetic_intensity
from repository.errors import InputError, UsageError


def _spectrum(seed=0, label=0):
    energy = synthetic_grid()
    return energy, synthetic_intensity(energy, label, np.random.default_rng(seed), noise=0.0)


def test_recipe_round_trips_through_json_and_equal_recipes_serialise_identically():
    recipe = rec.Recipe(energy_min_ev=186, energy_max_ev=210, step_ev=0.5, alignment="edge-onset",
                        normalization="edge_step", broadening_fwhm_ev=1.0)
    again = rec.Recipe.from_json(recipe.to_json())
    assert again == recipe
    assert again.to_json() == rec.Recipe(**json.loads(recipe.to_json())).to_json()
    assert recipe.alignment == "edge_onset" and recipe.n_points == 49


@pytest.mark.parametrize("fields, needle", [
    ({"alignment": "sideways"}, "alignment"),
    ({"normalization": "z-score"}, "normalisation"),
    ({"step_ev": 0}, "step_ev"),
    ({"energy_min_ev": 200, "energy_max_ev": 190}, "empty"),
    ({"energy_min_ev": 200, "energy_max_ev": 200.15, "step_ev": 0.1}, "holds only 2 grid point"),
])
def test_invalid_recipes_are_refused_with_the_reason(fields, needle):
    with pytest.raises(UsageError, match=needle):
        rec.Recipe(**fields)


def test_unknown_recipe_fields_name_the_file():
    with pytest.raises(InputError, match="recipe.json: unknown recipe field"):
        rec.Recipe.from_json('{"window": [1, 2]}', source="recipe.json")


def test_version_1_recipes_keep_resolving_an_open_window_to_the_range_every_spectrum_covers():
    old = rec.Recipe(version=1)
    resolved = rec.resolve(old, np.array([[180.0, 210.0], [185.0, 220.0]]), np.array([0.25, 0.5]))
    assert (resolved.energy_min_ev, resolved.energy_max_ev, resolved.step_ev) == (185.0, 210.0, 0.5)
    assert resolved.version == 1
    with pytest.raises(UsageError, match="share no energy range"):
        rec.resolve(old, np.array([[180.0, 190.0], [195.0, 220.0]]), np.array([0.25, 0.25]))


def test_open_window_is_set_by_element_and_edge_not_by_the_narrowest_spectrum():
    ranges = np.array([[180.0, 210.0], [187.8, 196.75]])  # one short spectrum must not decide the window
    resolved = rec.resolve(rec.Recipe(), ranges, np.array([0.1, 0.1]), element="B", edge="K")
    # B K: from below the B_N antisite feature (184.2 eV) past the sigma* doublet (pi* + 5.7/7.2 eV)
    assert (resolved.energy_min_ev, resolved.energy_max_ev) == (184.0, 201.0)
    assert resolved.energy_min_ev < 184.2 and resolved.energy_max_ev > 192.0 + 7.3
    n = rec.resolve(rec.Recipe(), ranges + 210, np.array([0.1, 0.1]), element="N", edge="K")
    assert n.energy_min_ev < 394.5 < 401.0 + 7.3 < n.energy_max_ev  # v_B pre-peak .. N K sigma*
    shape = rec.resolve(rec.Recipe.preset("shape"), ranges, np.array([0.1, 0.1]), element="B", edge="K")
    assert shape.alignment == "edge_onset" and (shape.energy_min_ev, shape.energy_max_ev) == rec.SHAPE_WINDOW_EV
    other = rec.resolve(rec.Recipe(), ranges + 8800, np.array([0.5, 0.5]), element="Cu", edge="K",
                        e0s=np.array([8979.0, 8981.0, 8980.0]))
    assert (other.energy_min_ev, other.energy_max_ev) == (8970.0, 9010.0)
    with pytest.raises(UsageError, match="no default energy window for Cu K"):
        rec.resolve(rec.Recipe(), ranges, np.array([0.1, 0.1]), element="Cu", edge="K")


def test_window_report_names_excluded_and_padded_spectra_and_warns_about_narrow_windows():
    recipe = rec.Recipe(energy_min_ev=184.0, energy_max_ev=201.0, step_ev=0.1)
    ranges = np.array([[180.0, 210.0], [185.0, 197.0], [190.0, 194.0]])
    report = rec.window_report(recipe, ranges, np.array([1, 2, 3]), rule="default B K window")
    assert report["excluded"] == [3] and report["padded"] == [2] and report["warning"] is None
    assert report["padded_start"] == [2] == report["padded_end"]  # 185-197 eV: both ends inside 184-201 eV
    assert (report["padded_start_max_ev"], report["padded_end_max_ev"]) == (1.0, 4.0)  # 185 - 184, 201 - 197
    assert rec.padding_text(report) == ("1 of 3 spectra padded to the 184-201 eV window: 1 end inside it (last "
                                        "value held constant for up to 4.0 eV), 1 start inside it (first value "
                                        "held constant for up to 1.0 eV), 1 of them at both ends")
    whole = rec.window_report(recipe, np.array([[180.0, 210.0]]), np.array([1]), rule="given")
    assert whole["padded_end_max_ev"] == 0.0 and rec.padding_text(whole) is None
    narrow = rec.Recipe(energy_min_ev=187.8, energy_max_ev=196.75, step_ev=0.1)
    report = rec.window_report(narrow, np.array([[180.0, 210.0], [187.8, 215.0], [175.0, 196.75]]),
                               np.array([7, 8, 9]), rule="given")
    assert "narrower than 50% of the data's median range" in report["warning"] and "8, 9" in report["warning"]


def test_presets_and_versions():
    assert rec.load_recipe("shape") == rec.Recipe.preset("shape") and rec.load_recipe("absolute") == rec.Recipe()
    assert rec.Recipe().version == 2 == rec.RECIPE_VERSION
    with pytest.raises(UsageError, match="unknown recipe preset"):
        rec.Recipe.preset("fancy")
    with pytest.raises(UsageError, match="version 3 is not supported"):
        rec.Recipe(version=3)


def test_edge_onset_alignment_makes_shifted_and_relative_energies_equivalent():
    energy, intensity = _spectrum()
    recipe = rec.Recipe(energy_min_ev=-4, energy_max_ev=18, step_ev=0.25, alignment="edge_onset")
    absolute = rec.apply_one(recipe, energy, intensity)
    shifted = rec.apply_one(recipe, energy + 3.7, intensity)
    relative = rec.apply_one(recipe, energy - 192.0, intensity)
    np.testing.assert_allclose(shifted, absolute, atol=1e-9)
    np.testing.assert_allclose(relative, absolute, atol=1e-9)
    unaligned = rec.Recipe(energy_min_ev=188, energy_max_ev=210, step_ev=0.25)
    assert np.abs(rec.apply_one(unaligned, energy + 3.7, intensity) - rec.apply_one(unaligned, energy, intensity)).max() > 0.1


def test_stored_shift_alignment_adds_the_stored_shift():
    energy, intensity = _spectrum()
    recipe = rec.Recipe(energy_min_ev=188, energy_max_ev=210, step_ev=0.25, alignment="stored_shift")
    plain = rec.apply_one(rec.Recipe(energy_min_ev=188, energy_max_ev=210, step_ev=0.25), energy, intensity)
    np.testing.assert_allclose(rec.apply_one(recipe, energy - 2.0, intensity, stored_shift_ev=2.0), plain, atol=1e-9)


def test_normalisations_fix_maximum_area_and_edge_step():
    energy, intensity = _spectrum()
    base = {"energy_min_ev": 186, "energy_max_ev": 214, "step_ev": 0.25}
    assert rec.apply_one(rec.Recipe(**base, normalization="max"), energy, 5 * intensity).max() == pytest.approx(1.0)
    area = rec.apply_one(rec.Recipe(**base, normalization="area"), energy, 5 * intensity)
    assert np.trapezoid(area, dx=0.25) == pytest.approx(1.0)
    step = rec.apply_one(rec.Recipe(**base, normalization="edge_step", version=1), energy, 5 * intensity + 2)
    width = round(rec.EDGE_STEP_FRACTION * step.size)
    assert step[:width].mean() == pytest.approx(0.0, abs=1e-12) and step[-width:].mean() == pytest.approx(1.0)
    # version 2: Larch pre_edge on the spectrum's own data (independent of the scale and offset)
    from repository.analysis.edge import pre_edge

    larch = pre_edge(energy, 5 * intensity + 2)
    step2 = rec.apply_one(rec.Recipe(**base, normalization="edge_step"), energy, 5 * intensity + 2)
    grid = rec.Recipe(**base).grid()
    np.testing.assert_allclose(step2, np.interp(grid, larch.energy_ev, larch.norm), atol=1e-12)
    np.testing.assert_allclose(rec.apply_one(rec.Recipe(**base, normalization="edge_step"), energy, 3 * intensity),
                               rec.apply_one(rec.Recipe(**base, normalization="edge_step"), energy, intensity + 7),
                               atol=1e-9)


def test_broadening_lowers_peaks_but_keeps_the_area():
    energy, intensity = _spectrum()
    base = {"energy_min_ev": 185, "energy_max_ev": 215, "step_ev": 0.25, "normalization": "none"}
    sharp = rec.apply_one(rec.Recipe(**base), energy, intensity - intensity[0])
    broad = rec.apply_one(rec.Recipe(**base, broadening_fwhm_ev=2.0), energy, intensity - intensity[0])
    assert broad.max() < 0.9 * sharp.max()
    assert np.trapezoid(broad[20:-20]) == pytest.approx(np.trapezoid(sharp[20:-20]), rel=0.02)


def test_zero_spectrum_is_refused_as_flat_and_a_zero_maximum_cannot_be_max_normalised():
    energy = synthetic_grid()
    recipe = rec.Recipe(energy_min_ev=186, energy_max_ev=214, step_ev=0.25)
    with pytest.raises(UsageError, match=r"the spectrum is flat over the energy window 186-214 eV \(constant 0 "):
        rec.apply_one(recipe, energy, np.zeros_like(energy))
    with pytest.raises(UsageError, match="max normalisation is undefined for the spectrum: its maximum is zero"):
        rec.apply_one(recipe, energy, -(energy - 200.0) ** 2)
