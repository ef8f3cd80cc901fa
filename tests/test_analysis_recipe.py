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


def test_open_window_resolves_to_the_range_every_spectrum_covers():
    resolved = rec.resolve(rec.Recipe(), np.array([[180.0, 210.0], [185.0, 220.0]]), np.array([0.25, 0.5]))
    assert (resolved.energy_min_ev, resolved.energy_max_ev, resolved.step_ev) == (185.0, 210.0, 0.5)
    with pytest.raises(UsageError, match="share no energy range"):
        rec.resolve(rec.Recipe(), np.array([[180.0, 190.0], [195.0, 220.0]]), np.array([0.25, 0.25]))


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
    step = rec.apply_one(rec.Recipe(**base, normalization="edge_step"), energy, 5 * intensity + 2)
    width = round(rec.EDGE_STEP_FRACTION * step.size)
    assert step[:width].mean() == pytest.approx(0.0, abs=1e-12) and step[-width:].mean() == pytest.approx(1.0)


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
