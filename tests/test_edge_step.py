"""The edge-step check of import (repository.edges.check_edge_step): a measured absorption spectrum
must rise at its edge. Signals that are not mu(E) -- a transmitted intensity read without -log, I0,
noise -- are refused in one line with exit code 2 and nothing stored; real spectra still import."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from repository import larch_edge
from repository.edges import MIN_EDGE_STEP_T, EdgeStepProblem, check_edge_step, measure_edge_step, point_noise
from tests.conftest import SHARED_FIXTURES, file_digest

CU_XDI = SHARED_FIXTURES / "XAS-Data-Interchange" / "data" / "cu_metal_rt.xdi"
CU_K_EV = 8979.0  # tabulated Cu K edge (Elam tables), what the label check returns for Cu K
# Larch 2026.3 pre_edge() of this file's mutrans (tests/test_analysis_edge.py, LARCH_REFERENCE)
CU_LARCH_E0_EV, CU_LARCH_STEP = 8980.5, 2.729378952


def _cu_table() -> np.ndarray:
    if not CU_XDI.is_file():
        pytest.skip(f"real-world test files not found at {SHARED_FIXTURES} (../shared/fixtures is absent)")
    return np.loadtxt(CU_XDI)  # energy, i0, itrans, mutrans


def _edge(energy: np.ndarray, e0: float, width: float = 1.5) -> np.ndarray:
    """A unit absorption edge at e0 (eV): arctan broadened by the core-hole width (eV)."""
    return 0.5 + np.arctan((energy - e0) / (width / 2)) / np.pi


def _grid() -> np.ndarray:
    """A typical Cu K XAFS scan: 10 eV steps to e0 - 30, 0.5 eV through the edge, 3 eV beyond."""
    return np.concatenate([np.arange(8780.0, 8950.0, 10.0), np.arange(8950.0, 9030.0, 0.5),
                           np.arange(9030.0, 9600.0, 3.0)])


def _counts(db_path: str) -> dict:
    from repository import catalog, db

    engine = db.connect(db_path, read_only=True)
    try:
        return catalog.count_rows(engine)
    finally:
        engine.dispose()


def _refused(cli, sqlite_db, path, *options, match: str) -> None:
    """``xasrepo import`` refuses: exit 2, one line naming the file and ``match``, database unchanged."""
    before, counts = file_digest(Path(sqlite_db)), _counts(sqlite_db)
    result = cli("import", path, *options, "--db", sqlite_db)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output
    assert path.name in lines[0] and match in lines[0], lines[0]
    assert _counts(sqlite_db) == counts and file_digest(Path(sqlite_db)) == before


# ---------------------------------------------------------------------------------------------
# known-right values of the measurement


def test_edge_step_of_a_synthetic_edge_is_its_height_with_the_right_error():
    energy = _grid()
    rng = np.random.default_rng(12)
    sigma = 0.01
    mu = 2.0 - 1e-4 * (energy - 8780.0) + 0.8 * _edge(energy, 8980.0) + sigma * rng.standard_normal(energy.size)
    found = measure_edge_step(energy, mu, CU_K_EV)
    assert found.e0_ev == pytest.approx(8980.0, abs=1.0)
    # the step is the height of the edge (0.8) within 4 of its own standard errors
    assert abs(found.step - 0.8) < 4 * found.step_error
    # the point noise estimate recovers sigma (the median of ~115 pre-edge points: within 25 %)
    assert found.noise == pytest.approx(sigma, rel=0.25)
    assert found.t > 4 * MIN_EDGE_STEP_T  # 0.8 against an error of ~0.018: t ~ 46


def test_a_short_scan_with_a_constant_post_edge_has_the_error_of_its_extrapolated_line():
    # 35 eV of uniform noise at the B K edge: Larch fits a constant post-edge (nnorm = 0), whose step
    # is mean(mu) - pre-edge line at the post-edge's mean energy, 10-34 eV beyond 6 pre-edge points
    # (a step of -19 here); its standard error must count that extrapolation (t = -0.95, not -22)
    energy = np.arange(180.0, 215.0, 0.1)
    mu = np.random.default_rng(0).random(energy.size)
    found = measure_edge_step(energy, mu, 188.0)
    assert found.step == pytest.approx(-19.32, abs=0.01) and abs(found.t) < 1.0
    with pytest.raises(EdgeStepProblem, match="not significantly positive"):
        check_edge_step("B", "K", energy, mu, 188.0)


def test_point_noise_ignores_a_smooth_background_and_recovers_white_noise():
    energy = np.linspace(7000.0, 7600.0, 601)
    rng = np.random.default_rng(3)
    smooth = 3.0 - 2e-3 * (energy - 7000.0) + 1e-6 * (energy - 7000.0) ** 2
    # a line leaves nothing; the curvature c = 1e-6 leaves each point c h^2 (h = 1 eV) off the chord of
    # its neighbours, scaled by 1.4826 / sqrt(1 + 1/4 + 1/4): 1.2e-6, nothing beside noise of 0.02
    assert point_noise(energy, smooth) == pytest.approx(1.4826e-6 / np.sqrt(1.5), rel=1e-3)
    assert point_noise(energy, smooth + 0.02 * rng.standard_normal(energy.size)) == pytest.approx(0.02, rel=0.15)


def test_cu_foil_edge_step_is_larchs(shared_fixtures):
    table = _cu_table()
    found = check_edge_step("Cu", "K", table[:, 0], table[:, 3], CU_K_EV)
    assert found.e0_ev == pytest.approx(CU_LARCH_E0_EV)
    assert found.step == pytest.approx(CU_LARCH_STEP, rel=1e-6)  # Larch's value, with its sign (+)
    assert found.t > 100 * MIN_EDGE_STEP_T


def test_transmitted_intensity_falls_at_the_edge_and_is_refused(shared_fixtures):
    table = _cu_table()
    with pytest.raises(EdgeStepProblem, match=r"edge step at e0 = 8980 eV is negative \(-3\.16e\+05"):
        check_edge_step("Cu", "K", table[:, 0], table[:, 2], CU_K_EV)
    # I0 / It is the same scan upside down of -ln: it rises, so the sign is what was wrong
    assert check_edge_step("Cu", "K", table[:, 0], table[:, 1] / table[:, 2], CU_K_EV).step > 0


def test_pre_edge_keeps_larchs_absolute_step_and_gives_the_signed_one():
    energy = _grid()
    falling = 5.0 - 3.0 * _edge(energy, 8980.0)
    result = larch_edge.pre_edge(energy, falling, e0_ev=8980.0)
    assert result.edge_step == pytest.approx(3.0, rel=0.02)  # Larch: |post - pre|
    assert result.signed_edge_step == pytest.approx(-3.0, rel=0.02)
    assert result.step_noise_gain > 0


# ---------------------------------------------------------------------------------------------
# through the command


def test_import_refuses_itrans_without_log_and_leaves_the_database_unchanged(shared_fixtures, sqlite_db, cli):
    _refused(cli, sqlite_db, CU_XDI, "--signal-col", "itrans",
             match="edge step at e0 = 8980 eV is negative (-3.16e+05 +- ")


def test_import_refuses_pure_noise(tmp_path, sqlite_db, cli):
    energy = _grid()
    rng = np.random.default_rng(2026)
    path = tmp_path / "noise.dat"
    np.savetxt(path, np.column_stack([energy, 1.0 + 0.01 * rng.standard_normal(energy.size)]), header="energy mu")
    _refused(cli, sqlite_db, path, "--element", "Cu", "--edge", "K", match="not significantly positive")


def test_import_refuses_a_smooth_i0_without_an_edge(tmp_path, sqlite_db, cli):
    # incident flux falling slowly with energy, with counting noise: no edge anywhere
    energy = _grid()
    rng = np.random.default_rng(5)
    flux = 1.5e5 * (1 - 1e-4 * (energy - 8780.0))
    path = tmp_path / "flux.dat"
    np.savetxt(path, np.column_stack([energy, flux + np.sqrt(flux) * rng.standard_normal(energy.size)]))
    _refused(cli, sqlite_db, path, "--element", "Cu", "--edge", "K", match="not significantly positive")


def test_import_refuses_a_column_named_i0(shared_fixtures, tmp_path, sqlite_db, cli):
    # the I0 of this scan steps up 3 % at 8960 eV (a counting-time change): its shape passes for an
    # edge, its name does not
    table = _cu_table()
    path = tmp_path / "cu_i0.dat"
    np.savetxt(path, table[:, :2], header="energy i0")
    _refused(cli, sqlite_db, path, "--element", "Cu", "--edge", "K", match="is the incident intensity I0")
    _refused(cli, sqlite_db, CU_XDI, "--signal-col", "i0", match="is the incident intensity I0")


def test_real_spectra_still_import(shared_fixtures, sqlite_db, cli):
    for options in ([], ["--signal-col", "itrans", "--i0-col", "i0", "--mode", "transmission"]):
        result = cli("import", CU_XDI, *options, "--db", sqlite_db)
        assert result.exit_code == 0, result.output
    assert _counts(sqlite_db)["spectrum"] == 2  # mutrans, and ln(i0/itrans) computed here


def test_computed_spectra_are_not_judged_by_their_step(tmp_path, sqlite_db, cli):
    # a computed XANES may fall back above its bound transitions (no continuum step): stored as given
    energy = _grid()
    peak = np.exp(-0.5 * ((energy - 8985.0) / 2.0) ** 2)
    path = tmp_path / "computed.dat"
    np.savetxt(path, np.column_stack([energy, peak]), header="energy mu")
    result = cli("import", path, "--element", "Cu", "--edge", "K", "--origin", "computed", "--db", sqlite_db)
    assert result.exit_code == 0, result.output
    assert _counts(sqlite_db)["spectrum"] == 1


@pytest.mark.parametrize("name", ["bn", "bn-v2"])
def test_the_bundled_calculation_sets_still_import(sqlite_db, cli, name):
    from tests.conftest import ROOT

    folder = ROOT / "data" / name
    if not (folder / "calcset.toml").is_file():
        pytest.skip(f"the bundled set data/{name} is absent")
    import tomllib

    result = cli("import", folder, "--db", sqlite_db)
    assert result.exit_code == 0, result.output
    # every spectrum the set declares is stored, none refused by the edge-step check (the count is
    # read from the set: bn-v2 shrinks when a settings change supersedes results, then grows again)
    declared = sum(len(e["spectra"]) for e in tomllib.loads((folder / "calcset.toml").read_text())["entries"])
    assert declared > 0 and _counts(sqlite_db)["spectrum"] == declared
