"""`--align fit` returns only shifts it can stand behind (SYNTHETIC spectra, independent of shared/).

The fit searches at most FIT_SEARCH_EV from the onset alignment and may not move the query's
maximum more than FIT_FEATURE_SLACK_EV out of the window; when its best lies at an end of that
range it refuses (NoConfidentShift) instead of returning the end as if fitted. A shifted copy of a
member still comes back exactly. The FEFF c-BN B K file on a demo database is the real case
(docs/analysis.md): fitted +4.49 eV before, its maximum moved from 199.5 to 204.0 eV."""

from __future__ import annotations

import numpy as np
import pytest

from repository.analysis import project as pj
from repository.analysis import recipe as rec
from repository.errors import UsageError

RECIPE = rec.Recipe(energy_min_ev=184.0, energy_max_ev=201.0, step_ev=0.1)  # the B K default window
ENERGY = np.arange(175.0, 230.0, 0.05)


def _edge(centre: float) -> np.ndarray:
    return 0.5 + np.arctan((ENERGY - centre) / 0.7) / np.pi


def _peak(centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((ENERGY - centre) / width) ** 2)


MEMBERS = {  # an sp2-like pi* + sigma*, an sp3-like sigma* maximum, and a bare edge rising at the window's end
    "sp2": 0.6 * _edge(191.0) + 1.0 * _peak(190.2, 0.5) + 0.7 * _peak(196.5, 1.2),
    "sp3": 0.5 * _edge(193.5) + 1.0 * _peak(196.2, 0.9),
    "edge": _edge(199.5) + 0.05 * _peak(186.0, 1.0),
}


@pytest.fixture(scope="module")
def snapshot():
    names = list(MEMBERS)
    rows = np.array([rec.apply_one(RECIPE, ENERGY, MEMBERS[n]) for n in names])
    e0 = rec.onsets(RECIPE, ENERGY, np.array([MEMBERS[n] for n in names]))
    return names, rows, e0


def _prepare(query, snapshot):
    _names, train, e0 = snapshot
    return pj.prepare(query, RECIPE, float(np.median(e0)), align="fit", train=train, train_e0_ev=e0)


@pytest.mark.parametrize("name", list(MEMBERS))
@pytest.mark.parametrize("offset_ev", [-4.0, -1.3, 2.3, 4.7])
def test_a_member_shifted_by_a_known_amount_is_recovered(snapshot, name, offset_ev):
    query = pj.QuerySpectrum(ENERGY + offset_ev, MEMBERS[name], "B", "K", label=f"{name}{offset_ev:+}")
    x, shift = _prepare(query, snapshot)
    assert shift == pytest.approx(-offset_ev, abs=1e-6)
    names, train, _e0 = snapshot
    assert pj.exact_match(x, train) == names.index(name)


def test_a_spectrum_like_feffs_c_bn_does_not_get_the_far_shift(snapshot):
    # a broad maximum at 199.5 eV that no member has: pushed up by ~+4 eV, only its rising flank is in
    # the window and matches the bare edge; the fit must not return that shift
    feff_like = 0.3 * _edge(194.0) + 1.0 * _peak(199.5, 2.5)
    query = pj.QuerySpectrum(ENERGY, feff_like, "B", "K", label="feff-like.dat")
    names, train, _e0 = snapshot
    shifts = np.arange(-6.0, 6.01, 0.1)
    rows, kept = pj.shifted_rows(RECIPE, ENERGY, feff_like, 0.0, shifts)
    nearest = ((rows[:, None, :] - train[None]) ** 2).sum(axis=2).min(axis=1)
    far = float(shifts[kept][np.argmin(nearest)])
    assert far > 201.0 + pj.FIT_FEATURE_SLACK_EV - 199.5  # unbounded, the best match moves the maximum out
    # the onset alignment puts the maximum at 202.05 eV (e0 onto the bare edge's); the fit would take it
    # to ~204.4 eV (+4.87 eV, as the old search did); bounded, its best lies at the end of the range
    with pytest.raises(pj.NoConfidentShift) as caught:
        _prepare(query, snapshot)
    line = str(caught.value)
    assert line.startswith("feff-like.dat: no confident shift") and "\n" not in line
    assert "its maximum at 199.50 eV" in line and isinstance(caught.value, UsageError)


def test_the_fit_stays_within_the_stated_bound_of_the_onset_alignment(snapshot):
    query = pj.QuerySpectrum(ENERGY, MEMBERS["sp3"], "B", "K")
    bounds = pj.fit_bounds(query, RECIPE, 2.0)
    assert bounds.lo_ev == pytest.approx(2.0 - pj.FIT_SEARCH_EV)  # the search bound, below
    # above: the maximum (196.2 eV) may reach at most 1 eV beyond the window's end (201 eV)
    assert bounds.hi_ev == pytest.approx(201.0 + pj.FIT_FEATURE_SLACK_EV - 196.2, abs=0.03)
    assert "more than 5 eV from the onset alignment" in bounds.lo_reason
    assert "its maximum at 196.2" in bounds.hi_reason
    outside = pj.fit_bounds(query, RECIPE, 6.0)  # the onset alignment put the maximum at 202.2 eV already
    assert outside.hi_ev == pytest.approx(6.0 + pj.FIT_FEATURE_SLACK_EV, abs=0.03) and "202.2" in outside.hi_reason


def test_feffs_c_bn_on_the_bundled_b_k_snapshot_is_refused_not_shifted_plus_4_49_ev(bundled_bn_db, shared_fixtures,
                                                                                     cli):
    """The newcomer's case: FEFF 9.7.1's c-BN B K spectrum (maximum 199.48 eV) on the bundled B K
    snapshot (window 184-201 eV) was fitted +4.49 eV, its maximum moved to 204.0 eV: only its rising
    edge was matched. Now the fit's best lies at the end of the admissible range: one line, exit 2."""
    import json

    feff = shared_fixtures / "feff10" / "examples" / "XANES" / "BN" / "referencexmu.dat"
    if not feff.exists():
        pytest.skip(f"{feff} is absent")
    fitted = cli("project", str(feff), "--snapshot", "1", "--db", bundled_bn_db, "--align", "fit")
    assert fitted.exit_code == 2 and fitted.stderr.count("\n") == 1, fitted.stderr
    assert "no confident shift" in fitted.stderr and "its maximum at 199.48 eV" in fitted.stderr
    assert "Traceback" not in fitted.stderr and not fitted.stdout.strip()
    onset = cli("project", str(feff), "--snapshot", "1", "--db", bundled_bn_db, "--align", "edge-onset", "-f", "json")
    assert onset.exit_code == 0, onset.stderr
    shift = json.loads(onset.stdout)["energy_shift_ev"]
    assert 184.0 <= 199.48 + shift <= 201.0  # the onset alignment keeps FEFF's maximum in the window
