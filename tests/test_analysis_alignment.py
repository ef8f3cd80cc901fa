"""Alignment in `project` does not depend on one class's feature: every member of the bundled B K
and N K snapshots is placed at shift 0 by --align edge-onset and --align fit, copies shifted by
+-1/+-3/+-8 eV are recovered, and shifts beyond the physical limit are refused."""

from __future__ import annotations

import numpy as np
import pytest

from repository import db
from repository.analysis import project as pj
from repository.analysis import recipe as rec
from repository.analysis.create import create_snapshot
from repository.snapshots.registry import load_model
from repository.errors import UsageError

@pytest.fixture(scope="module")
def bn_db(bundled_bn_db, tmp_path_factory) -> str:
    """A copy of the bundled-set database (its own snapshot folder): the shared one stays as it is."""
    import shutil

    path = tmp_path_factory.mktemp("align") / "bn.db"
    shutil.copy(bundled_bn_db, path)
    return str(path)


OFFSETS_EV = (-8.0, -3.0, -1.0, 1.0, 3.0, 8.0)
SHIFT_TOLERANCE_EV = 1e-6


def _snapshot(url: str, element: str):
    with db.connected(url) as engine:
        made = create_snapshot(engine, method="pca", element=element, edge="K", where="polarization = iso")
        model = load_model(made.record)
        members = {int(i): pj.query_from_database(engine, int(i)) for i in model["ids"].tolist()}
    return made, model, members, None


def _check(model, members, ids, offsets):
    recipe = rec.Recipe.from_json(str(model["recipe_json"]))
    train, e0s, ref = model["train"], model["train_e0_ev"], float(model["reference_onset_ev"])
    rows = {int(i): r for r, i in enumerate(model["ids"].tolist())}
    for spectrum_id in ids:
        query = members[spectrum_id]
        for align in ("edge_onset", "fit"):
            x, shift = pj.prepare(query, recipe, ref, align=align, train=train, train_e0_ev=e0s)
            assert abs(shift) <= SHIFT_TOLERANCE_EV, (spectrum_id, align, shift)
            assert pj.exact_match(x, train, prefer=rows[spectrum_id]) == rows[spectrum_id]
        for offset in offsets:
            moved = pj.QuerySpectrum(query.energy_ev + offset, query.intensity, query.element, query.edge)
            x, shift = pj.prepare(moved, recipe, ref, align="fit", train=train, train_e0_ev=e0s)
            assert shift == pytest.approx(-offset, abs=SHIFT_TOLERANCE_EV), (spectrum_id, offset)


def _one_per_polymorph(url: str, element: str, ids) -> list[int]:
    with db.connected(url) as engine, engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT spectrum_id, polymorph FROM spectrum_overview WHERE absorbing_element = ? AND polarization = 'iso' "
            "ORDER BY spectrum_id", (element,)).fetchall()
    chosen: dict[str, int] = {}
    for spectrum_id, polymorph in rows:
        if int(spectrum_id) in ids:
            chosen.setdefault(polymorph, int(spectrum_id))
    return sorted(chosen.values())


@pytest.mark.parametrize("element", ["B", pytest.param("N", marks=pytest.mark.slow)])
def test_one_member_per_polymorph_sits_at_shift_zero_and_shifted_copies_come_back(bn_db, element):
    made, model, members, _ = _snapshot(bn_db, element)
    picked = _one_per_polymorph(bn_db, element, set(members))
    assert len(picked) == 5  # h-BN, monolayer, r-BN, c-BN, w-BN: sp2 and sp3 alike
    _check(model, members, picked, (-8.0, 1.0))


@pytest.mark.slow
@pytest.mark.parametrize("element", ["B", "N"])
def test_every_member_of_the_bundled_snapshots_sits_at_shift_zero(bn_db, element):
    made, model, members, _ = _snapshot(bn_db, element)
    assert made.window["excluded"] == []
    _check(model, members, sorted(members), OFFSETS_EV)


def test_another_edge_in_a_plain_file_is_refused_not_placed_with_a_209_ev_shift(bn_db, tmp_path, cli):
    with db.connected(bn_db) as engine:
        made = create_snapshot(engine, method="pca", element="B", edge="K", where="polarization = iso")
        with engine.connect() as conn:
            first = int(conn.exec_driver_sql(
                "SELECT id FROM spectrum WHERE absorbing_element = 'N' AND polarization = 'iso' LIMIT 1").scalar())
        nitrogen = pj.query_from_database(engine, first)
    path = tmp_path / "unknown.dat"
    np.savetxt(path, np.column_stack([nitrogen.energy_ev, nitrogen.intensity]))
    uid = made.record["uid"]
    # a plain two-column file says no element: it is not assumed to be the snapshot's
    result = cli("project", str(path), "--snapshot", uid, "--db", bn_db, "--align", "fit")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "element" in result.stderr
    # told it is B K (wrongly), the alignment would need -209.8 eV: beyond the physical limit
    result = cli("project", str(path), "--snapshot", uid, "--db", bn_db, "--align", "fit",
                 "--element", "B", "--edge", "K")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "15 eV" in result.stderr
    # told the truth: another edge than the snapshot's
    result = cli("project", str(path), "--snapshot", uid, "--db", bn_db, "--element", "N", "--edge", "K")
    assert result.exit_code == 2 and "N K spectrum but snapshot" in result.stderr


def test_limit_is_refused_in_the_library_too(bn_db):
    made, model, members, _ = _snapshot(bn_db, "B")
    recipe = rec.Recipe.from_json(str(model["recipe_json"]))
    query = next(iter(members.values()))
    moved = pj.QuerySpectrum(query.energy_ev + 40.0, query.intensity, "B", "K", label="far")
    with pytest.raises(UsageError, match="no alignment within 15 eV|beyond the 15 eV"):
        pj.prepare(moved, recipe, float(model["reference_onset_ev"]), align="fit", train=model["train"],
                   train_e0_ev=model["train_e0_ev"])


def test_applicability_domain_members_are_covered_noise_and_another_material_are_not(bn_db, tmp_path, cli,
                                                                                     shared_fixtures):
    import json

    with db.connected(bn_db) as engine:
        made = create_snapshot(engine, method="pca", element="B", edge="K", where="polarization = iso")
    uid = made.record["uid"]
    member = int(load_model(made.record)["ids"][0])
    own = json.loads(cli("project", "--spectrum", str(member), "--snapshot", uid, "--db", bn_db, "-f", "json").stdout)
    assert own["domain"]["confident"] and own["domain"]["nearest_rmsd"] < 1e-6
    assert own["domain"]["nearest_spectrum_id"] == member
    energy = np.arange(180.0, 215.0, 0.1)
    noise = tmp_path / "noise.dat"
    np.savetxt(noise, np.column_stack([energy, np.random.default_rng(0).random(energy.size)]))
    mgb2 = shared_fixtures / "feff10" / "examples" / "NRIXS" / "MgB2" / "referencexmu.dat"  # B K of MgB2 (FEFF)
    for path, extra in ((noise, ("--element", "B", "--edge", "K")), (mgb2, ())):
        for align in ("none", "fit"):
            result = cli("project", str(path), "--snapshot", uid, "--db", bn_db, "--align", align, "-f", "json", *extra)
            if align == "fit" and result.exit_code == 2:  # refused: no shift the fit can stand behind
                assert result.stderr.count("\n") == 1 and "no confident shift" in result.stderr, result.stderr
                continue
            assert result.exit_code == 0, result.stderr
            domain = json.loads(result.stdout)["domain"]
            assert domain["verdict"] == pj.NO_CONFIDENT_MATCH and not domain["confident"], (path.name, align, domain)
            assert domain["nearest_rmsd"] > domain["threshold_rmsd"] and domain["percentile"] > 90
        table = cli("project", str(path), "--snapshot", uid, "--db", bn_db, *extra)
        assert "no confident match: nearest member" in table.stdout


def test_member_nn_distances_are_the_distance_to_the_nearest_other_member():
    train = np.array([[0.0, 0.0], [0.0, 1.0], [0.0, 3.0], [0.0, 3.0]])
    np.testing.assert_allclose(pj.member_nn_rmsd(train), np.sqrt(np.array([1.0, 1.0, 0.0, 0.0]) / 2))
    domain = pj.applicability(np.array([5.0, 5.0]), train, pj.member_nn_rmsd(train), np.array([10, 11, 12, 13]))
    assert domain["nearest_spectrum_id"] in (12, 13) and domain["verdict"] == pj.NO_CONFIDENT_MATCH


def test_embed_never_mixes_polarisations_of_one_site_without_being_asked(bn_db, cli):
    import json

    # the first example of docs/analysis.md: B K, no polarisation named -> the iso curves only
    made = cli("embed", "--method", "pca", "--element", "B", "--edge", "K", "--db", bn_db, "--format", "json")
    assert made.exit_code == 0, made.stderr
    record = json.loads(made.stdout)
    assert record["rows"] == 94 and record["window"]["excluded"] == []  # 94 B K sites, not 94 + 85 + 85 curves
    with db.connected(bn_db) as engine:
        snapshot = create_snapshot(engine, method="pca", element="B", edge="K")
        assert snapshot.record["filter_text"] == "polarization = iso"
        in_plane = create_snapshot(engine, method="pca", where="element = B and polarization = in_plane")
        assert in_plane.record["row_count"] == 85
