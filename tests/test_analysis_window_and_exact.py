"""The recipe's energy window must be covered by the spectra (never a snapshot of invented plateaus or
NaNs), and a projected spectrum that IS a snapshot member is placed on that member's own point.

Spectra are SYNTHETIC (repository.analysis.synthetic) plus the example set."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from repository import db
from repository.analysis import recipe as rec
from repository.analysis.create import create_snapshot
from repository.snapshots.files import snapshot_dir
from repository.analysis.embed import fit_embedding
from repository.analysis.load import load_spectra, preprocess
from repository.analysis.project import (
    EXACT_MATCH_RTOL,
    QuerySpectrum,
    exact_match,
    project,
)
from repository.analysis.synthetic import (
    synthetic_grid,
    synthetic_intensity,
    synthetic_records,
)
from repository.calcset import read_calcset
from repository.errors import UsageError
from repository.importer import import_calcset, import_records

from .conftest import EXAMPLE_SET

N_SYNTHETIC = 12  # + the example set's 3 B K spectra


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """The example set (3 B K spectra, to 214.75 eV) and 12 SYNTHETIC B K spectra (185-215 eV)."""
    path = tmp_path_factory.mktemp("window") / "lib.db"
    db.upgrade(str(path))
    engine = db.connect(str(path))
    import_calcset(engine, read_calcset(EXAMPLE_SET))
    import_records(engine, synthetic_records(N_SYNTHETIC, seed=11, n_classes=3))
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def pca(library):
    return create_snapshot(library, method="pca", seed=0).record


B_K = ("--element", "B", "--edge", "K")  # plain two-column files do not say their element and edge


def _registry(library, cli):
    """What a refused command must leave unchanged: the registry's ids and the snapshot directory."""
    url = library.url.database
    listed = cli("snapshots", "list", "--db", url, "--format", "ids")
    assert listed.exit_code == 0, listed.stderr
    folder = snapshot_dir("sqlite:///" + url)
    return listed.stdout, sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _one_error_line(result):
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


# ----------------------------------------------------------------------------------------------
# the window


def test_a_window_outside_every_spectrum_is_refused_naming_one_and_the_range_they_cover(library):
    spectra = load_spectra(library)
    with pytest.raises(UsageError) as caught:
        preprocess(spectra, rec.Recipe(energy_min_ev=300, energy_max_ev=310))
    message = str(caught.value)
    assert message.startswith(f"energy window 300-310 eV: {len(spectra)} of {len(spectra)} spectra have no points in it")
    assert "spectrum 1, which covers" in message
    # together 185-215 eV; every one of them 185-214.75 eV (the example set stops there)
    assert "together 185.0-215.0 eV" in message and "inside 185.0-214.7 eV" in message
    assert "\n" not in message


def test_a_window_the_spectra_barely_reach_is_refused_and_half_coverage_is_enough(library):
    spectra = load_spectra(library)
    # 185-215 eV data in a 150-200 eV window: 30 % covered
    with pytest.raises(UsageError, match=rf"energy window 150-200 eV: {len(spectra)} of {len(spectra)} spectra "
                                         r"cover less than 50% of it \(e\.g\. spectrum 1"):
        preprocess(spectra, rec.Recipe(energy_min_ev=150, energy_max_ev=200))
    # 185-215 eV data in a 160-210 eV window: exactly half covered (ends held constant before 185 eV)
    matrix, recipe = preprocess(spectra, rec.Recipe(energy_min_ev=160, energy_max_ev=210, step_ev=0.5))
    assert rec.MIN_WINDOW_COVERAGE == 0.5 and recipe.n_points == 101 and np.isfinite(matrix).all()


def test_coverage_counts_only_the_spectra_that_fall_short_and_those_with_no_points():
    energy = np.linspace(0.0, 10.0, 41)
    grid_b = energy + 12.0  # a second spectrum at 12-22 eV
    ranges = np.array([[energy[0], energy[-1]], [grid_b[0], grid_b[-1]], [4.0, 14.0]])
    recipe = rec.Recipe(energy_min_ev=0.0, energy_max_ev=10.0, step_ev=0.25)
    np.testing.assert_allclose(rec.window_coverage(recipe, ranges), [1.0, 0.0, 0.6])
    with pytest.raises(UsageError, match=r"1 of 3 spectra have no points in it \(e\.g\. spectrum 8, which covers "
                                         r"12\.0-22\.0 eV; together they cover 0\.0-22\.0 eV but share no common range\)"):
        rec.check_window(recipe, ranges, np.array([7, 8, 9]))
    with pytest.raises(UsageError, match=r"2 of 3 spectra cover less than 50% of it \(1 have no points in it\)"):
        rec.check_window(rec.Recipe(energy_min_ev=-10.0, energy_max_ev=10.0, step_ev=0.25), ranges, np.array([7, 8, 9]))
    rec.check_window(rec.Recipe(energy_min_ev=4.0, energy_max_ev=10.0, step_ev=0.25), ranges[[0, 2]])  # no error


def test_edge_onset_windows_are_checked_relative_to_each_onset():
    energy = synthetic_grid()
    intensity = synthetic_intensity(energy, 0, np.random.default_rng(0), noise=0.0)
    # the onset is near 192 eV, the data cover about -7 .. +23 eV around it
    rec.apply_one(rec.Recipe(energy_min_ev=-5, energy_max_ev=20, step_ev=0.25, alignment="edge_onset"), energy, intensity)
    with pytest.raises(UsageError, match="energy window 40-60 eV relative to the edge onset: the spectrum has no "
                                         "points in it"):
        rec.apply_one(rec.Recipe(energy_min_ev=40, energy_max_ev=60, step_ev=0.25, alignment="edge_onset"),
                      energy, intensity)


def test_flat_rows_and_zero_denominators_are_errors_naming_the_spectrum_never_nans():
    energy = np.linspace(0.0, 10.0, 41)
    recipe = {"energy_min_ev": 0.0, "energy_max_ev": 10.0, "step_ev": 0.25}
    labels = np.array([7, 8])
    good = np.exp(-0.5 * (energy - 3.0) ** 2) + energy / 10
    for flat in (np.zeros_like(energy), np.full_like(energy, 2.5)):
        with pytest.raises(UsageError, match=r"spectrum 8 is flat over the energy window 0-10 eV \(constant "):
            rec.apply(rec.Recipe(**recipe), energy, np.vstack([good, flat]), labels=labels)
    cases = {
        "max": -((energy - 5.0) ** 2),  # its maximum is exactly 0
        "area": np.sin(2 * np.pi * energy / 10.0),  # one full period: zero area
        "edge_step": np.exp(-0.5 * (energy - 5.0) ** 2),  # same level before and after the peak
    }
    for how, row in cases.items():
        old = {"version": 1} if how == "edge_step" else {}  # version 1: edge step from the window's ends
        with pytest.raises(UsageError, match=rf"{how} normalisation is undefined for spectrum 8 "
                                             rf"\(1 of 2 spectra in all\): its .* is zero within the window"):
            rec.apply(rec.Recipe(**recipe, **old, normalization=how), energy, np.vstack([good, row]), labels=labels)
        # the same row is fine without normalisation, and the good row with it
        assert np.isfinite(rec.apply(rec.Recipe(**recipe, normalization="none"), energy, row[None, :])).all()
        assert np.isfinite(rec.apply(rec.Recipe(**recipe, normalization=how), energy, good[None, :])).all()
    # version 2 (Larch pre_edge): a straight line has no edge step (post-edge = pre-edge line), named
    with pytest.raises(UsageError, match=r"^spectrum 8: the edge step at e0 = .* eV is zero"):
        rec.apply(rec.Recipe(**recipe, normalization="edge_step"), energy, np.vstack([good, 1 + 0.1 * energy]),
                  labels=labels)


def test_identical_preprocessed_spectra_are_not_embedded():
    with pytest.raises(UsageError, match="all 5 preprocessed spectra are identical"):
        fit_embedding(np.ones((5, 10)), "pca")
    with pytest.raises(UsageError, match="non-finite"):
        fit_embedding(np.where(np.eye(5, 10) > 0, np.nan, 1.0), "pca")


def test_cli_embed_and_compare_refuse_an_uncovered_window_with_one_line_and_register_nothing(library, pca, cli):
    url = library.url.database
    before = _registry(library, cli)
    made = cli("embed", "--method", "pca", "--where", "element = B", "--energy-min", "300", "--energy-max", "310",
               "--db", url)
    line = _one_error_line(made)
    # the iso spectra: the example set's polarised curve of the same site is not mixed in
    assert line.startswith(f"error: energy window 300-310 eV: {N_SYNTHETIC + 2} of {N_SYNTHETIC + 2} spectra have "
                           "no points in it") and "--energy-min/--energy-max" in line
    assert "RuntimeWarning" not in made.output
    compared = cli("compare", "--db", url, "--where", "element = B", "--method", "pca",
                   "--recipe", '{"energy_min_ev": 300, "energy_max_ev": 310}')
    assert _one_error_line(compared).startswith("error: energy window 300-310 eV: ")
    assert _registry(library, cli) == before


def test_cli_project_refuses_a_file_outside_the_snapshot_window(library, pca, cli, tmp_path):
    energy = synthetic_grid() + 100.0
    path = tmp_path / "far.dat"
    np.savetxt(path, np.column_stack([energy, synthetic_intensity(energy - 100.0, 0, np.random.default_rng(1))]),
               header="energy_ev intensity (SYNTHETIC)")
    result = cli("project", str(path), "--snapshot", pca["uid"], "--db", library.url.database, *B_K)
    line = _one_error_line(result)
    # 285-315 eV labelled B K (188 eV): refused by the edge check, which points to the alignment
    assert "285-315 eV start above the B K edge (188 eV)" in line and "--align edge-onset/fit" in line
    # 100 eV is no calibration error or chemical shift: alignment refuses to move it that far ...
    fitted = cli("project", str(path), "--snapshot", pca["uid"], "--db", library.url.database, *B_K, "--align", "fit", "--format", "json")
    assert "no alignment within 15 eV" in _one_error_line(fitted)
    # ... but with the offset given (--shift), the fit finds it exactly
    fitted = cli("project", str(path), "--snapshot", pca["uid"], "--db", library.url.database, *B_K, "--align", "fit",
                 "--shift", "-99", "--format", "json")
    assert fitted.exit_code == 0, fitted.stderr
    assert json.loads(fitted.stdout)["energy_shift_ev"] == pytest.approx(-100.0, abs=0.05)


# ----------------------------------------------------------------------------------------------
# exact matches


def test_exact_match_is_a_tight_relative_tolerance_and_prefers_the_querys_own_row():
    rng = np.random.default_rng(0)
    train = rng.random((6, 50)).astype(np.float32)
    train[4] = train[1]  # two identical members
    x = train[1].astype(np.float64)
    assert exact_match(x, train) == 1 and exact_match(x, train, prefer=4) == 4
    assert exact_match(x * (1 + 1e-9), train) == 1
    nudged = x.copy()
    nudged[0] += 10 * EXACT_MATCH_RTOL * np.linalg.norm(x)
    assert exact_match(nudged, train) is None


@pytest.mark.parametrize("method, params", [("pca", None), ("mds", {"solver": "landmark", "n_landmarks": 8}),
                                            ("mds", {"solver": "smacof"})])
def test_a_member_is_placed_on_its_stored_point_and_listed_first_at_distance_zero(library, pca, method, params):
    record = pca if method == "pca" else create_snapshot(library, method=method, params=params).record
    rows = pq.read_table(record["path"]).to_pylist()
    for target in (rows[0], rows[7]):
        result = project(library, record["uid"], spectrum_id=target["spectrum_id"], k=4)
        assert result["placement"] == f"exact match of spectrum {target['spectrum_id']}"
        assert result["exact_match"] == target["spectrum_id"]
        assert result["coordinates"] == [target["x"], target["y"]]
        first = result["neighbors"][0]
        assert first["spectrum_id"] == target["spectrum_id"] and first["rank"] == 1
        assert first["distance"] == 0.0 and first["spectral_rmsd"] < 1e-6
        assert all(n["distance"] > 0 for n in result["neighbors"][1:])


def test_a_spectrum_that_is_not_a_member_keeps_the_methods_own_placement(library, pca):
    spectra = load_spectra(library)
    group = next(g for g in spectra.groups if len(g.rows) == N_SYNTHETIC)
    energy, intensity = group.energy_ev, group.intensity[0]
    changed = intensity * (1.0 + 0.01 * np.sin(energy))  # a 1 % change: close, not identical
    result = project(library, pca["uid"], query=QuerySpectrum(energy, changed, "B", "K", label="nearby"), k=2)
    assert result["placement"] == "pca" and result["exact_match"] is None
    assert result["neighbors"][0]["spectrum_id"] == int(spectra.ids[group.rows[0]])
    assert result["neighbors"][0]["distance"] > 0


def test_a_shifted_copy_of_a_member_is_an_exact_match_with_align_fit(library, pca, cli, tmp_path):
    spectra = load_spectra(library)
    group = next(g for g in spectra.groups if len(g.rows) == N_SYNTHETIC)
    member = int(spectra.ids[group.rows[4]])
    path = tmp_path / "shifted.dat"
    np.savetxt(path, np.column_stack([group.energy_ev + 1.37, group.intensity[4]]), header="energy_ev intensity")
    result = cli("project", str(path), "--snapshot", pca["uid"], "--db", library.url.database, *B_K, "--align", "fit",
                 "-k", "3", "--format", "json")
    assert result.exit_code == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["placement"] == f"exact match of spectrum {member}" and found["exact_match"] == member
    assert found["energy_shift_ev"] == pytest.approx(-1.37, abs=1e-6)
    assert found["neighbors"][0]["spectrum_id"] == member and found["neighbors"][0]["distance"] == 0.0
    table = cli("project", "--spectrum", str(member), "--snapshot", pca["uid"], "--db", library.url.database)
    assert f"[exact match of spectrum {member}]" in table.stdout.splitlines()[0]
