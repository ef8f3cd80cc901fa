"""Structure building for the BN XAS generator (no GPAW needed)."""

import json

import numpy as np
import pytest

pytest.importorskip("pymatgen")

from repository.calculations import bn_cells as S  # noqa: E402


@pytest.mark.parametrize("poly,natoms", [("h-BN", 36), ("h-BN-mono", 32), ("r-BN", 36),
                                         ("c-BN", 32), ("w-BN", 32)])
def test_pristine_supercells_have_expected_sites(poly, natoms):
    s, label, mat = S.supercell(poly)
    assert len(s) == natoms
    assert s.composition["B"] == s.composition["N"] == natoms // 2
    assert abs(round(np.linalg.det(np.array(mat)))) * len(
        {"h-BN": S.hbn_bulk_prim(), "h-BN-mono": S.hbn_monolayer_prim(),
         "r-BN": S.rbn_hex().get_primitive_structure(), "c-BN": S.cbn_prim(),
         "w-BN": S.wbn_prim()}[poly]) == natoms
    # B-N bond lengths are physical (1.44-1.57 A) and no two atoms overlap
    d = s.distance_matrix + 10 * np.eye(len(s))
    assert 1.40 < d.min() < 1.60


def test_layered_cells_have_flat_layers_in_xy():
    for poly in ("h-BN", "h-BN-mono", "r-BN"):
        s, _, _ = S.supercell(poly)
        height = abs(s.lattice.matrix[2, 2])        # layers stack along the third vector
        z = np.round(s.cart_coords[:, 2] % height, 2) % round(height, 2)
        assert len(set(z)) in (1, 2), poly   # one or two layers per cell, each flat in xy


def test_monolayer_has_vacuum():
    s, _, _ = S.supercell("h-BN-mono")
    assert s.lattice.c >= 12.0 and np.ptp(s.cart_coords[:, 2]) < 1e-6


def test_rbn_is_abc_stacked():
    s = S.rbn_hex()
    assert len(s) == 6
    # each B of a layer sits above an N of the layer below (rhombohedral ABC)
    prim = s.get_primitive_structure()
    assert len(prim) == 2


@pytest.mark.parametrize("name,formula", [("v_B", "B17N18"), ("v_N", "B18N17"),
                                          ("C_B", "B17C1N18"), ("C_N", "B18C1N17"),
                                          ("O_N", "B18N17O1"), ("B_N", "B19N17"),
                                          ("N_B", "B17N19"), ("SW", "B18N18")])
def test_defects_change_the_right_sites(name, formula):
    host, _, _ = S.supercell("h-BN")
    s, info = S.make_defect(host, name)
    assert s.composition.formula.replace(" ", "") == formula
    assert info["name"] == name and info["charge"] == 0
    centre = np.array(info["position_frac"])
    host_site = host[info["site_index_host"]]
    if name != "SW":
        # the defect centre is the changed host site
        assert host.lattice.get_distance_and_image(host_site.frac_coords, centre)[0] < 1e-4
    if info["kind"] == "vacancy":
        # no atom left at the vacancy, the nearest neighbours are at the B-N bond length
        d = [s.lattice.get_distance_and_image(x.frac_coords, centre)[0] for x in s]
        assert min(d) == pytest.approx(1.4457, abs=1e-3)
    elif info["kind"] in ("substitution", "antisite"):
        i = info["site_index_host"]
        assert s[i].specie.symbol == S.DEFECTS[name]["new"]
    else:
        # Stone-Wales: a B-B and an N-N bond appear
        dm = s.distance_matrix + 10 * np.eye(len(s))
        sym = np.array([x.specie.symbol for x in s])
        bb = dm[np.ix_(sym == "B", sym == "B")].min()
        nn = dm[np.ix_(sym == "N", sym == "N")].min()
        assert bb < 2.0 and nn < 2.0
    assert info["spin_polarized"] == (info["n_valence_electrons"] % 2 == 1)


def test_absorbers_are_ordered_by_distance_with_nearest_and_far_first():
    host, _, _ = S.supercell("h-BN")
    s, info = S.make_defect(host, "v_N")
    ab = S.choose_absorbers(s, "B", info["position_frac"])
    assert ab[0]["role"] == "nearest" and ab[1]["role"] == "far"
    # nearest B of an N vacancy: its former neighbours, three of them, 1.4457 A away
    assert ab[0]["distance"] == pytest.approx(1.4457, abs=1e-3) and ab[0]["multiplicity"] == 3
    assert ab[1]["distance"] == max(a["distance"] for a in ab)
    rest = [a["distance"] for a in ab[2:]]
    assert rest == sorted(rest)
    # multiplicities add up to all B sites and every representative is a B site
    assert sum(a["multiplicity"] for a in ab) == s.composition["B"]
    assert all(s[a["index"]].specie.symbol == "B" for a in ab)
    # distances are the minimum-image distances of the representative site
    for a in ab:
        assert S.distance_to(s, a["index"], info["position_frac"]) == pytest.approx(
            a["distance"], abs=1e-3)


def test_pristine_absorbers_are_one_per_element():
    s, _, _ = S.supercell("c-BN")
    ab = S.choose_absorbers(s, "N")
    assert len(ab) == 1 and ab[0]["multiplicity"] == 16 and ab[0]["distance"] == 0.0


def test_antisite_absorber_is_the_antisite_itself():
    host, _, _ = S.supercell("h-BN")
    s, info = S.make_defect(host, "B_N")
    ab = S.choose_absorbers(s, "B", info["position_frac"])
    assert ab[0]["index"] == info["site_index_host"] and ab[0]["distance"] == 0.0


def test_plan_writes_worker_structures_and_dependent_jobs(tmp_path):
    host, label, mat = S.supercell("c-BN", "small")
    structs = [{"sid": "c-BN_pristine", "polymorph": "c-BN", "structure": host,
                "supercell": label, "supercell_matrix": mat, "defect": None, "host": None,
                "layered": False, "spin_polarized": False, "relax": False, "magmom_sites": []}]
    plan = S.build_plan(tmp_path, structures=structs, conv=False)
    ids = [j["id"] for j in plan["jobs"]]
    assert ids == ["gs:c-BN_pristine", "xas:c-BN_pristine:B0", "xas:c-BN_pristine:N8"]
    assert all("gs:c-BN_pristine" in j["deps"] for j in plan["jobs"][1:])
    w = json.loads((tmp_path / "structures" / "c-BN_pristine.json").read_text())
    assert len(w["symbols"]) == 16 and np.array(w["positions"]).shape == (16, 3)
    assert json.loads((tmp_path / "plan.json").read_text())["jobs"] == plan["jobs"]


def test_full_plan_covers_the_issue_requirements(tmp_path):
    plan = S.build_plan(tmp_path)
    st = plan["structures"]
    polys = {m["polymorph"] for m in st.values()}
    assert {"h-BN", "h-BN-mono", "r-BN", "c-BN", "w-BN"} <= polys
    kinds = {m["defect"]["name"] for m in st.values() if m["defect"]}
    assert {"v_B", "v_N", "C_B", "C_N", "O_N", "B_N", "N_B", "SW"} <= kinds
    xas = [j for j in plan["jobs"] if j["kind"] == "xas" and not j.get("conv")]
    assert len(xas) >= 150
    # nearest and far absorbers of every defect come before the other sites
    for sid, m in st.items():
        if m["defect"]:
            js = [j for j in xas if j["sid"] == sid]
            roles = {j["role"]: j["priority"] for j in js}
            others = [j["priority"] for j in js if j["role"] == "other"]
            assert {"nearest", "far"} <= set(roles)
            if others:
                assert max(roles["nearest"], roles["far"]) < min(others)
