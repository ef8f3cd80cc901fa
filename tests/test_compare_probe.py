"""`xasrepo compare --probe`: external spectra aligned, placed into every map, and named by their neighbours.

The fast tests use the SYNTHETIC calculation set of test_compare_run.py (h-BN, r-BN and h-BN with
v_N, five B K spectra each; three N K spectra) and PCA, which needs no numba; the slow test places
FEFF 9.7.1's c-BN B K spectrum (../shared/fixtures) among the bundled GPAW BN spectra with UMAP.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from repository.analysis.synthetic import synthetic_grid, synthetic_intensity
from repository.compare.data import imported_calcset, load_edges
from repository.compare.report import read_results
from repository.compare.probes import LabelVote, label_vote, parse_probe, vote
from repository.compare.probes import reading as _reading
from repository.compare.run import REFERENCE, compare
from repository.errors import InputError, UsageError

from .test_compare_run import _write_set

ROOT = Path(__file__).resolve().parent.parent
SHIFT_EV = 1.3  # added to the probe's energies; the fit alignment must take it off again
FRESH_SHIFT_EV = -2.0


@pytest.fixture(scope="module")
def calcset_dir(tmp_path_factory):
    return _write_set(tmp_path_factory.mktemp("probe") / "set")


@pytest.fixture(scope="module")
def probe_files(calcset_dir, tmp_path_factory):
    """A shifted copy of an r-BN member, and a fresh v_N-like spectrum (class 2) at shifted energies;
    plain two-column files that do not say their element or edge."""
    folder = tmp_path_factory.mktemp("probes")
    # k1-4's onset is 0.56 eV above the median onset: onset alignment alone would not recover the shift
    energy, intensity = np.loadtxt(calcset_dir / "spectra" / "k1-4.dat", unpack=True)
    copy = folder / "rbn_shifted.dat"
    np.savetxt(copy, np.c_[energy + SHIFT_EV, intensity])
    grid = synthetic_grid()
    fresh = folder / "vn_fresh.dat"
    np.savetxt(fresh, np.c_[grid + FRESH_SHIFT_EV, synthetic_intensity(grid, 2, np.random.default_rng(99))])
    return copy, fresh


@pytest.fixture(scope="module")
def edges(calcset_dir):
    with imported_calcset(calcset_dir) as engine:
        return load_edges(engine)


@pytest.fixture(scope="module")
def placed(edges, probe_files):
    copy, fresh = probe_files
    results = compare(edges, methods=("pca",), seeds=1, identify=False,
                      probes=[f"{copy}:element=B,edge=K,polymorph=r-BN", f"{fresh}:element=b,edge=k,name=fresh v_N"])
    return {r.name: r for r in results}


def test_a_shifted_copy_is_realigned_exactly_and_placed_among_its_class(placed):
    boron = placed["B K"]
    assert [p.title for p in boron.probes][1] == "fresh v_N" and not placed["N K"].probes
    copy = boron.probes[0]
    assert copy.probe.energy_shift_ev == pytest.approx(-SHIFT_EV, abs=1e-6)
    assert copy.probe.nearest_rmsd < 1e-6  # it IS that member once realigned
    assert copy.placements["pca"][0].how == "pca"
    for method in (REFERENCE, "pca"):
        neighbors = copy.placements[method][0].nearest
        assert len(neighbors) == 5
        assert {boron.probe_labels["polymorph"][i] for i in neighbors} == {"r-BN"}
        v = copy.votes[method]["polymorph"]
        assert (v.majority, v.share.mean, v.matches, v.tied_seeds) == ("r-BN", 1.0, True, 0)
        assert copy.votes[method]["absorber_cn"].majority == "3"  # listed, though not a scored label


def test_a_fresh_spectrum_of_a_class_lands_among_that_class(placed):
    fresh = placed["B K"].probes[1]
    assert fresh.probe.energy_shift_ev == pytest.approx(-FRESH_SHIFT_EV, abs=0.5)
    assert fresh.probe.nearest_rmsd > 1e-3
    for method in (REFERENCE, "pca"):
        assert fresh.votes[method]["defect_name"].majority == "v_N"
        assert fresh.votes[method]["defect_name"].share.mean >= 0.8
        assert fresh.votes[method]["polymorph"].expected is None


def test_the_cli_writes_the_probe_section_and_json(calcset_dir, probe_files, tmp_path, cli):
    copy, _fresh = probe_files
    out = tmp_path / "report"
    option = f"{copy}:element=B,edge=K,polymorph=r-BN,name=shifted r-BN"
    result = cli("compare", "--calcset", calcset_dir, "--seeds", "1", "--method", "pca", "--no-identify",
                 "--probe", option, "--out", out, "--format", "json")
    assert result.exit_code == 0, result.stderr
    probe = json.loads(result.stdout)[0]["probes"][0]
    assert probe["name"] == "shifted r-BN" and (probe["element"], probe["edge"]) == ("B", "K")
    assert probe["energy_shift_ev"] == pytest.approx(-SHIFT_EV, abs=1e-6)
    pca = probe["methods"]["pca"]
    assert pca["placement"] == "pca" and pca["seeds"] == [0]
    assert [n["polymorph"] for n in pca["nearest"][0]["neighbors"]] == ["r-BN"] * 5
    polymorph = pca["labels"]["polymorph"]
    assert {k: polymorph[k] for k in ("majority", "majority_seeds", "n_seeds", "tied_seeds", "counts", "expected",
                                      "matches", "matching_seeds")} == {
        "majority": "r-BN", "majority_seeds": 1, "n_seeds": 1, "tied_seeds": 0, "counts": {"r-BN": 5},
        "expected": "r-BN", "matches": True, "matching_seeds": 1}
    assert polymorph["share"] == {"mean": 1.0, "sd": 0.0, "n": 1} == polymorph["expected_share"]
    assert probe["methods"][REFERENCE]["labels"]["polymorph"]["share"]["mean"] == 1.0
    readme = (out / "README.md").read_text()
    section = readme.split("## External spectra (probes)", 1)[1].split("\n## ", 1)[0]
    assert "### shifted r-BN (B K)" in section
    assert "energy shift applied (fit alignment): -1.300 eV" in section
    assert "**Reading.** shifted r-BN (B K, energies shifted by -1.30 eV), by polymorph: PCA among r-BN" in section
    assert "expected r-BN: matched by PCA and the raw spectra (the ceiling)." in section
    assert "| polymorph: majority of 5 nearest | r-BN 1.00 | r-BN 1.00 |" in section
    assert "| majority is the expected polymorph r-BN | yes (1.00 of the 5 are r-BN) |" in section
    assert f"--probe '{option}'" in readme  # the regenerating command keeps it
    written = (out / "results.json").read_text()
    # new files hold the US keys only (read_results also reads the old British ones)
    assert '"neighbors"' in written and '"neighborhood_spearman"' in written and "neighbour" not in written
    stored = read_results(out / "results.json")
    assert stored == json.loads(written)
    assert stored["edges"][0]["probes"][0]["methods"]["pca"]["labels"]["polymorph"]["matches"] is True


def test_a_probe_directory_is_read_from_its_manifest_and_scored_against_the_commonest_class(
        calcset_dir, probe_files, tmp_path, cli):
    copy, fresh = probe_files
    folder = tmp_path / "labelled"
    folder.mkdir()
    shutil.copy(copy, folder / "a.dat")
    shutil.copy(fresh, folder / "b.dat")
    (folder / "manifest.csv").write_text("file,element,edge,name,polymorph,defect_name\n"
                                         "a.dat,B,K,shifted r-BN,r-BN,none\n"
                                         "b.dat,b,k,fresh v_N,h-BN,v_N\n")
    out = tmp_path / "report"
    result = cli("compare", "--calcset", calcset_dir, "--seeds", "1", "--method", "pca", "--jobs", "1",
                 "--probe", folder, "--out", out)
    assert result.exit_code == 0, result.stderr
    stored = json.loads((out / "results.json").read_text())
    rates = {row["label"]: row for row in stored["probe_identification"]}
    # B K holds 10 h-BN and 5 r-BN, 10 'none' and 5 v_N: always guessing the commonest class
    # names one probe's polymorph (h-BN) and one probe's defect (none)
    assert (rates["polymorph"]["majority_class"], rates["polymorph"]["baseline"]) == ("h-BN", 0.5)
    assert (rates["defect_name"]["majority_class"], rates["defect_name"]["baseline"]) == ("none", 0.5)
    for label in ("polymorph", "defect_name"):
        assert rates[label]["n_probes"] == 2
        assert rates[label]["rates"] == {"raw": 1.0, "pca": 1.0}
    readme = (out / "README.md").read_text()
    # the baseline says what it is; a random neighbour: (5 r-BN + 10 h-BN of 15) / 2 probes
    assert rates["polymorph"]["random_neighbor"] == pytest.approx((5 / 15 + 10 / 15) / 2)
    assert "| B K | polymorph | 2 | 0.50 (always h-BN) | 0.50 | 1.00 | 1.00 |" in readme
    assert f"--probe {folder}" in readme


@pytest.mark.parametrize("manifest, message", [
    (None, "a probe directory needs a manifest.csv"),
    ("name,polymorph\nx,h-BN\n", "manifest.csv: line 1: no 'file' column"),
    ("file,colour\na.dat,red\n", "manifest.csv: line 1: unknown column 'colour'"),
    ("file,polymorph\nmissing.dat,h-BN\n", "manifest.csv: line 2: missing.dat: no such file"),
    ("file,edge\na.dat,Q\n", "manifest.csv: line 2:"),
])
def test_a_bad_probe_directory_is_one_line_naming_the_manifest(manifest, message, calcset_dir, probe_files,
                                                               tmp_path, cli):
    folder = tmp_path / "labelled"
    folder.mkdir()
    shutil.copy(probe_files[0], folder / "a.dat")
    if manifest is not None:
        (folder / "manifest.csv").write_text(manifest)
    result = cli("compare", "--calcset", calcset_dir, "--method", "pca", "--probe", folder)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


def test_votes_go_to_the_nearest_on_ties_and_say_so():
    assert vote(["h-BN", "c-BN", "c-BN", "h-BN", "w-BN"]) == ("h-BN", True)
    assert vote(["c-BN", "h-BN", "h-BN"]) == ("h-BN", False)
    from repository.compare.probes import Placement

    places = [Placement(s, "x", None, rows, [0.0] * 3) for s, rows in enumerate(([0, 1, 2], [1, 0, 3], [2, 3, 1]))]
    classes = np.array(["a", "b", "b", "a"], dtype=object)
    v: LabelVote = label_vote(places, classes, "a")
    # seed 0: a,b,b -> b; seed 1: b,a,a -> a; seed 2: b,a,b -> b: b is the majority in 2 of 3 seeds
    assert (v.majority, v.majority_seeds, v.n_seeds, v.matching_seeds, v.matches) == ("b", 2, 3, 1, False)
    assert v.share.mean == pytest.approx((2 / 3 + 1 / 3 + 2 / 3) / 3)
    assert v.counts == {"b": 5, "a": 4}


def test_probe_options_are_parsed_and_checked(tmp_path):
    data = tmp_path / "a:b.dat"  # a colon in the file name itself
    data.write_text("190 0\n191 1\n")
    assert parse_probe(str(data)).path == data
    spec = parse_probe(f"{data}:element=b,edge=k,polymorph=c-BN,name=FEFF c-BN")
    assert (spec.path, spec.element, spec.edge, spec.name, spec.expected) == (data, "B", "K", "FEFF c-BN",
                                                                              {"polymorph": "c-BN"})
    with pytest.raises(UsageError, match="unknown key 'colour'"):
        parse_probe(f"{data}:colour=red")
    with pytest.raises(UsageError, match="polymorph is given twice"):
        parse_probe(f"{data}:polymorph=c-BN,polymorph=h-BN")
    with pytest.raises(UsageError, match="unknown edge 'Q'"):
        parse_probe(f"{data}:edge=Q")
    with pytest.raises(InputError, match="no such file"):
        parse_probe(str(tmp_path / "missing.dat:element=B"))


def _xdi(path: Path, element: str) -> Path:
    rows = "".join(f"{e:.2f} {y:.6f}\n" for e, y in zip(synthetic_grid(), synthetic_intensity(
        synthetic_grid(), 0, np.random.default_rng(1))))
    path.write_text(f"# XDI/1.0\n# Column.1: energy eV\n# Column.2: mutrans\n# Element.symbol: {element}\n"
                    f"# Element.edge: K\n# ///\n#----\n# energy mutrans\n{rows}")
    return path


@pytest.mark.parametrize("case", ["missing", "bad_pair", "unknown_key", "silent_file", "other_edge",
                                  "file_disagrees", "unknown_class", "too_short"])
def test_bad_probes_are_one_line_errors_with_exit_code_2(case, calcset_dir, probe_files, tmp_path, cli):
    copy, _fresh = probe_files
    short = tmp_path / "short.dat"
    np.savetxt(short, np.c_[[190.0, 190.5, 191.0, 191.5], [0.1, 0.5, 1.0, 0.9]])
    option, expected = {
        "missing": (f"{tmp_path}/nothing.dat", "nothing.dat: no such file (given with --probe)"),
        "bad_pair": (f"{copy}:polymorph=,edge=K", "'polymorph=' is not key=value"),
        "unknown_key": (f"{copy}:phase=c-BN", "unknown key 'phase'"),
        "silent_file": (str(copy), "rbn_shifted.dat: the file does not say its absorbing element and edge: name them"),
        "other_edge": (f"{copy}:element=C,edge=K", "the spectrum is C K, but the comparison holds B K, N K spectra"),
        "file_disagrees": (f"{_xdi(tmp_path / 'b.xdi', 'B')}:element=N,edge=K",
                           "b.xdi: the file says B K but --probe says N K"),
        "unknown_class": (f"{copy}:element=B,edge=K,polymorph=c-BN",
                          "no compared B K spectrum has polymorph = c-BN (classes: h-BN, r-BN)"),
        # four points: too short to find the e0 that aligns it onto a member's
        "too_short": (f"{short}:element=B,edge=K", "short.dat: a spectrum of 4 finite points is too short to find its edge (e0)"),
    }[case]
    result = cli("compare", "--calcset", calcset_dir, "--seeds", "1", "--method", "pca", "--no-identify",
                 "--probe", option)
    assert result.exit_code == 2, result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expected in errors[0], result.stderr
    assert "Traceback" not in result.stderr and not result.stdout.strip()


@pytest.mark.slow
def test_feffs_c_bn_is_aligned_as_project_aligns_it_not_onto_the_sp2_median(shared_fixtures):
    """FEFF 9.7.1's c-BN B K spectrum among the bundled GPAW spectra, over the default window
    (184-201 eV) and recipe version 1's (187.8-196.75 eV). A probe is aligned as `xasrepo project`
    aligns a file: its e0 onto the e0 of the member it then matches best. Until 2026-11-30 the
    probe path used the median onset of the compared spectra (mostly sp2, π* onset ~190 eV), which
    moved this sp3 spectrum by -6.56 eV, the audit's "alignment that moves sp3 spectra 5 eV", while
    `project` moved the same file by -1 eV."""
    feff = shared_fixtures / "feff10" / "examples" / "XANES" / "BN" / "referencexmu.dat"
    if not feff.exists():
        pytest.skip(f"{feff} is absent")
    from repository.analysis.project import NoConfidentShift, prepare, read_query
    from repository.analysis.recipe import Recipe
    from repository.compare.probes import NO_CONFIDENT_SHIFT, prepare_probe

    with imported_calcset(ROOT / "data" / "bn") as engine:
        for recipe in (None, Recipe(version=1)):
            (boron,) = load_edges(engine, where="element = B and polarization = iso", recipe=recipe)
            probe = prepare_probe(parse_probe(f"{feff}:polymorph=c-BN"), [boron])
            query = read_query(feff, None, None, align="fit", reference_onset_ev=boron.reference_onset_ev)
            try:  # what project does with the same spectra
                _, expected = prepare(query, boron.recipe, boron.reference_onset_ev, align="fit", train=boron.matrix,
                                      train_e0_ev=boron.train_e0_ev)
                assert probe.alignment == "fit"
            except NoConfidentShift:
                _, expected = prepare(query, boron.recipe, boron.reference_onset_ev, align="edge_onset",
                                      train=boron.matrix, train_e0_ev=boron.train_e0_ev)
                assert probe.alignment == "edge_onset" and "no confident shift" in probe.alignment_note
            assert probe.energy_shift_ev == pytest.approx(expected, abs=1e-9)
            assert abs(probe.energy_shift_ev) <= 2.0, probe.energy_shift_ev  # not moved onto the sp2 median
    (boron,) = compare([boron], methods=("pca",), seeds=1, identify=False, probes=[f"{feff}:polymorph=c-BN"])
    reading = _reading(boron.probes[0], [REFERENCE, "pca"])
    assert boron.probes[0].probe.alignment == "fit" or f"by onset alignment: {NO_CONFIDENT_SHIFT}" in reading


def test_site_labels_are_voted_only_by_the_sites_the_grouped_test_scores():
    """A vote on defect_name skips a site far from its defect (the one rule, grouped.label_rows)."""
    from repository.compare.grouped import near_defect_mask
    from repository.compare.probes import label_voters, place_among

    points = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]])
    defect_kind = ["vacancy", "vacancy", "none", "vacancy", "none"]
    distance = [4.5, 1.4, None, 2.5, None]  # rows 0 (4.5 A from the vacancy) votes on nothing of the site
    near = near_defect_mask(defect_kind, distance)
    voters = label_voters(["polymorph", "defect_kind", "defect_name"], near)
    assert set(voters) == {"defect_kind", "defect_name"}
    placed = place_among(points, np.array([0.0]), None, "spectra", None, voters, k=3)
    assert placed.nearest == [0, 1, 2] and placed.rows_for("polymorph") == [0, 1, 2]
    assert placed.rows_for("defect_name") == [1, 2, 3]
    names = np.array(["v_N", "v_N", "none", "none", "none"], dtype=object)
    assert label_vote([placed], names, "none", "defect_name").majority == "none"  # 2 of 1, 2, 3
    assert label_vote([placed], names, "none", None).majority == "v_N"  # all of 0, 1, 2: the old vote


def test_bundled_probes_vote_site_labels_only_near_a_defect_and_the_baseline_is_what_it_says(tmp_path, cli):
    """The bundled set and probes: every neighbour that votes on defect_kind/defect_name is a site
    within NEAR_DEFECT_A of its defect or of a defect-free cell (checked on the imported set), and the
    baseline's class and the random-neighbour share are recomputed from those sites."""
    from collections import Counter

    from repository.analysis.sites import NEAR_DEFECT_A

    root = Path(__file__).resolve().parent.parent
    if not (root / "data" / "bn" / "calcset.toml").exists() or not (root / "data" / "bn-v2-probes").exists():
        pytest.skip("the bundled BN set or its probes are absent")
    out = tmp_path / "report"
    result = cli("compare", "--calcset", root / "data" / "bn", "--seeds", "1", "-m", "pca", "--recipe", "shape",
                 "--no-shape-only", "--jobs", "1", "--probe", root / "data" / "bn-v2-probes", "--out", out)
    assert result.exit_code == 0, result.stderr
    stored = json.loads((out / "results.json").read_text())
    with imported_calcset(root / "data" / "bn") as engine:
        data = {d.name: d for d in load_edges(engine)}
    checked = 0
    for edge in stored["edges"]:
        d = data[f"{edge['element']} {edge['edge']}"]
        kind = {int(i): str(k) for i, k in zip(d.ids, d.labels["defect_kind"])}
        dist = {int(i): float(v) for i, v in zip(d.ids, d.defect_distance_a)}
        voting = {i for i in kind if kind[i] == "none" or dist[i] <= NEAR_DEFECT_A}
        assert len(voting) < len(kind)  # far sites exist, so the rule is exercised
        for probe in edge["probes"]:
            for meth, placed in probe["methods"].items():
                for seed in placed["nearest"]:
                    for label in ("defect_kind", "defect_name"):
                        ids = [n["spectrum_id"] for n in seed["label_neighbors"][label]]
                        assert len(ids) == probe["k"] and set(ids) <= voting, (probe["name"], meth, label)
                        counts = Counter(n[label] for n in seed["label_neighbors"][label])
                        if placed["labels"][label]["n_seeds"] == 1:
                            assert placed["labels"][label]["counts"] == dict(counts)
                        checked += 1
        names = Counter(str(n) for i, n in zip(d.ids, d.labels["defect_name"]) if int(i) in voting)
        for row in stored["probe_identification"]:
            if row["edge"] == d.name and row["label"] == "defect_name":
                top = max(names.values())
                assert row["majority_class"] == sorted(c for c, n in names.items() if n == top)[0]
                assert row["baseline_among"] == f"the {len(voting)} sites near a defect or in a defect-free cell"
                probes = [p for p in edge["probes"] if "defect_name" in p["expected"]]
                share = sum(names[p["expected"]["defect_name"]] for p in probes) / len(voting) / len(probes)
                assert row["random_neighbor"] == pytest.approx(share)
    assert checked
    readme = (out / "README.md").read_text()
    assert "onto the onset of\nthe best-matching compared spectrum" in readme and "median onset" not in readme
    assert "baseline: always the commonest class" in readme and "(always " in readme
