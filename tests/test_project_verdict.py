"""`project`'s verdict and its neighbour table do not tell two stories.

The verdict ("within the snapshot's coverage" / "no confident match") is by spectral distance, the
default neighbour table by distance in the 2-D map. A measured-like h-BN B K spectrum (a member
shifted by +1.5 eV, 1 % seeded noise) used to print "within coverage: nearest member 127" over a
table whose rank 1 was a c-BN C_N site: now the verdict names what the nearest member is, a note
says when rank 1 is something else, and ``--rank-by spectral`` ranks as the verdict does. A snapshot
of 5 members has no threshold to stand behind and is never "confident".
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from repository import db
from repository.analysis import project as pj
from repository.analysis.create import create_snapshot

NOISE = 0.01  # of the spectrum's maximum, seeded


@pytest.fixture(scope="module")
def bn(bundled_bn_db, tmp_path_factory):
    """A copy of the bundled database with a PCA snapshot of the B K iso spectra, a 5-member MDS
    snapshot (the pristine polymorphs) and the pristine h-BN B K member's stored spectrum."""
    folder = tmp_path_factory.mktemp("verdict")
    path = str(folder / "bn.db")
    shutil.copy(bundled_bn_db, path)
    with db.connected(path) as engine:
        pca = create_snapshot(engine, method="pca", element="B", edge="K", where="polarization = iso",
                              directory=folder / "snapshots")
        few = create_snapshot(engine, method="mds", element="B", edge="K",
                              where="polarization = iso and defect_kind = none", directory=folder / "snapshots")
        with engine.connect() as conn:
            (hbn,) = conn.exec_driver_sql(
                "SELECT MIN(spectrum_id) FROM spectrum_overview WHERE absorbing_element = 'B' AND polarization = 'iso' "
                "AND polymorph = 'h-BN' AND defect_kind = 'none'").fetchone()
        query = pj.query_from_database(engine, int(hbn))
    return {"db": path, "folder": folder, "pca": pca.record["uid"], "few": few.record["uid"], "hbn": query}


def _measured(bn, shift_ev: float, seed: int = 0):
    """The pristine h-BN member as a 'measurement': energies + ``shift_ev``, noise of NOISE x max."""
    q = bn["hbn"]
    noisy = q.intensity + NOISE * float(np.max(q.intensity)) * np.random.default_rng(seed).standard_normal(q.intensity.size)
    path = bn["folder"] / f"hbn_{shift_ev:+.1f}.dat"
    np.savetxt(path, np.column_stack([q.energy_ev + shift_ev, noisy]))
    return path


def _project(cli, bn, path, snapshot, *extra):
    args = ("project", str(path), "--snapshot", snapshot, "--db", bn["db"], "--element", "B", "--edge", "K", *extra)
    result = cli(*args, "-f", "json")
    assert result.exit_code == 0, result.stderr
    table = cli(*args)
    assert table.exit_code == 0, table.stderr
    return json.loads(result.stdout), table.stdout


def _identity(row):
    return tuple(row[c] for c in pj.IDENTITY_COLUMNS)


@pytest.mark.parametrize("shift_ev", [1.5, 1.0])
def test_verdict_names_the_nearest_and_a_disagreeing_rank_1_is_said(cli, bn, shift_ev):
    data, table = _project(cli, bn, _measured(bn, shift_ev), bn["pca"])
    domain, check, top = data["domain"], data["map_check"], data["neighbors"][0]
    verdict_line = next(line for line in table.splitlines() if "nearest member" in line)
    # the verdict names the spectrally nearest member and what it is
    nearest = domain["nearest_labels"]
    assert f"nearest member {domain['nearest_spectrum_id']} ({pj.identity_text(nearest)})" in verdict_line
    # the bundled case: the map's rank 1 is not what the spectrally nearest member is (c-BN C_N at +1.5 eV)
    assert _identity(top) != _identity(nearest), (top, nearest)
    assert not check["agrees"] and check["rank1_spectrum_id"] == top["spectrum_id"]
    note = next(line for line in table.splitlines() if line.startswith("note: rank 1 of the table"))
    assert f"is {top['spectrum_id']} ({pj.identity_text(top)}" in note and "--rank-by spectral" in note
    assert check["sharing_ranks"] == [n["rank"] for n in data["neighbors"] if _identity(n) == _identity(nearest)]
    if shift_ev == 1.0:  # within coverage: "confident" is never printed over such a table without the note
        assert domain["confident"] and verdict_line.startswith(pj.WITHIN_COVERAGE)
    # independent check of the verdict's distance: RMS over the recipe's grid to every listed member is >= it
    assert all(n["spectral_rmsd"] >= domain["nearest_rmsd"] - 1e-12 for n in data["neighbors"])


def test_rank_by_spectral_puts_the_verdicts_nearest_first(cli, bn):
    data, table = _project(cli, bn, _measured(bn, 1.5), bn["pca"], "--rank-by", "spectral")
    rmsd = [n["spectral_rmsd"] for n in data["neighbors"]]
    assert data["ranked_by"] == "spectral RMS difference" and rmsd == sorted(rmsd)
    assert data["neighbors"][0]["spectrum_id"] == data["domain"]["nearest_spectrum_id"]
    assert rmsd[0] == pytest.approx(data["domain"]["nearest_rmsd"], rel=1e-9)
    assert data["map_check"]["agrees"] and data["map_check"]["note"] is None and "note:" not in table
    bad = cli("project", str(_measured(bn, 1.5)), "--snapshot", bn["pca"], "--db", bn["db"], "--element", "B",
              "--edge", "K", "--rank-by", "umap")
    assert bad.exit_code == 2 and "rank_by must be one of map, spectral" in bad.stderr


def test_a_five_member_snapshot_is_never_confident(cli, bn):
    data, table = _project(cli, bn, _measured(bn, 1.5), bn["few"])
    domain = data["domain"]
    assert domain["n_members"] == 5 and domain["too_few_members"] and domain["min_members"] == pj.MIN_DOMAIN_MEMBERS
    assert not domain["confident"] and domain["verdict"] == pj.NO_CONFIDENT_MATCH
    assert f"no confident match (only 5 members; a coverage threshold needs at least {pj.MIN_DOMAIN_MEMBERS})" in table
    assert "confident up to" not in table
    # not even a member itself: the threshold, not the distance, is what cannot be stood behind
    member = int(data["neighbors"][0]["spectrum_id"])
    own = json.loads(cli("project", "--spectrum", str(member), "--snapshot", bn["few"], "--db", bn["db"],
                         "-f", "json").stdout)["domain"]
    assert own["nearest_rmsd"] < 1e-6 and not own["confident"]


def test_minimum_members_for_a_threshold():
    """28 members: never confident; 29: confident at distance 0. The minimum is where the largest of n
    nearest-neighbour distances lies above the true 90th percentile with probability >= 95 %."""
    assert 1 - 0.9 ** pj.MIN_DOMAIN_MEMBERS >= 0.95 > 1 - 0.9 ** (pj.MIN_DOMAIN_MEMBERS - 1)
    rng = np.random.default_rng(0)
    for n, confident in ((pj.MIN_DOMAIN_MEMBERS - 1, False), (pj.MIN_DOMAIN_MEMBERS, True)):
        train = rng.random((n, 8))
        domain = pj.applicability(train[0], train, pj.member_nn_rmsd(train), np.arange(n))
        assert domain["confident"] is confident and domain["too_few_members"] is not confident
