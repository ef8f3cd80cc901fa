"""`xasrepo compare` end to end on a small SYNTHETIC calculation set with known structure.

Three kinds of B K spectra (h-BN, r-BN, h-BN with v_N; five each) whose spectral shapes, pi-like
DOS fraction and sigma charge transfer all follow the kind, plus three N K spectra: every method
must separate the kinds, and the descriptors must follow the neighbourhoods.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from repository.analysis.synthetic import synthetic_grid, synthetic_intensity
from repository.compare.data import imported_calcset, load_edges
from repository.compare.run import REFERENCE, compare_edge, run_grouped

EXAMPLE = Path(__file__).parent / "data" / "calcset_example"
# (polymorph, defect?, structure file, B absorber site, pi peak height, sigma charge transfer)
KINDS = (("h-BN", False, "structures/hBN_a.json", 0, 1.0, 0.0),
         ("r-BN", False, "structures/hBN_b.json", 0, 0.5, 0.05),
         ("h-BN", True, "structures/hBN_221_vN.json", 1, 0.2, -0.10))
PER_KIND = 5
N_NITROGEN = 3


def _write_set(root: Path) -> Path:
    from pymatgen.core import Lattice, Structure

    (root / "spectra").mkdir(parents=True)
    (root / "dos").mkdir()
    shutil.copytree(EXAMPLE / "structures", root / "structures")
    for name, scale in (("hBN_a.json", 1.0), ("hBN_b.json", 1.03)):
        cell = Structure(Lattice.hexagonal(2.504 * scale, 6.66), ["B", "B", "N", "N"],
                         [(1 / 3, 2 / 3, 0.25), (2 / 3, 1 / 3, 0.75), (2 / 3, 1 / 3, 0.25), (1 / 3, 2 / 3, 0.75)])
        (root / "structures" / name).write_text(cell.to_json())
    # every entry its own structure (lattice scaled by 1 + 0.001 i): the grouped protocol folds by
    # structure and scores a class only when 3+ structures carry it
    entry_structures: dict[str, str] = {}

    def own_structure(key: str, shared: str, i: int) -> str:
        cell = Structure.from_file(root / shared)
        cell.scale_lattice(cell.volume * (1 + 0.001 * (i + 1)) ** 3)
        name = f"structures/{key}.json"
        (root / name).write_text(cell.to_json())
        entry_structures[key] = name
        return name

    rng = np.random.default_rng(11)
    energy = synthetic_grid()
    dos_e = np.arange(-8.0, 20.0, 0.1)
    toml = ['format_version = 1', '[set]', 'name = "compare-test"', 'description = "SYNTHETIC, for tests"', '']
    entries = [(k, i) for k in range(len(KINDS)) for i in range(PER_KIND)] + [(None, i) for i in range(N_NITROGEN)]
    for kind, i in entries:
        key = f"k{kind}-{i}" if kind is not None else f"n-{i}"
        if kind is None:
            polymorph, defect, structure, site, element, offset = "h-BN", False, "structures/hBN_a.json", 2, "N", 210.0
            pi_height, sigma_ct, cls = 1.0, 0.0, 0
        else:
            polymorph, defect, structure, site, pi_height, sigma_ct = KINDS[kind]
            element, offset, cls = "B", 0.0, kind
        structure = own_structure(key, structure, i)
        np.savetxt(root / f"spectra/{key}.dat", np.c_[energy + offset, synthetic_intensity(energy, cls, rng)])
        pi = pi_height * np.exp(-0.5 * ((dos_e - 2.0) / 0.3) ** 2) * (1 + 0.05 * rng.standard_normal())
        sigma = np.exp(-0.5 * ((dos_e - 7.0) / 0.5) ** 2)
        np.savetxt(root / f"dos/{key}.dat", np.c_[dos_e, pi + sigma, sigma, pi])
        toml += ['[[entries]]', f'key = "{key}"', f'structure = "{structure}"', f'polymorph = "{polymorph}"']
        if defect:
            toml += ['[entries.defect]', 'kind = "vacancy"', 'name = "v_N"', 'species = "N"', 'charge = 0',
                     'supercell = [2, 2, 1]', 'position_frac = [0.333333, 0.166667, 0.25]',
                     'host_structure = "structures/hBN_a.json"']
        toml += ['[entries.absorber]', f'site_index = {site}', f'element = "{element}"',
                 '[entries.calculation]', 'code = "GPAW"', 'method = "half_core_hole"',
                 '[[entries.spectra]]', f'file = "spectra/{key}.dat"', 'edge = "K"',
                 '[[entries.dos]]', f'file = "dos/{key}.dat"', 'projection = "site"', f'site_index = {site}',
                 'orbitals = ["p", "p_sigma", "p_pi"]', 'fermi_energy_ev = 0.0',
                 '[[entries.descriptors]]', 'name = "sigma_charge_transfer"',
                 f'value = {sigma_ct + 0.002 * rng.standard_normal():.5f}', f'site_index = {site}', '']
    (root / "calcset.toml").write_text("\n".join(toml))
    return root


@pytest.fixture(scope="module")
def calcset_dir(tmp_path_factory):
    return _write_set(tmp_path_factory.mktemp("compare") / "set")


@pytest.fixture(scope="module")
def edges(calcset_dir):
    from repository.analysis.recipe import Recipe

    # SYNTHETIC spectra are no BN physics: their class features reach past the B K window, so these
    # tests keep the data-set window of recipe version 1 (the range every spectrum covers)
    with imported_calcset(calcset_dir) as engine:
        return {e.name: e for e in load_edges(engine, recipe=Recipe(version=1))}


@pytest.fixture(scope="module")
def boron(edges):
    """PCA and MDS only: no numba compilation in the fast tests."""
    return compare_edge(edges["B K"], methods=("pca", "mds"), seeds=2)


def test_spectra_are_split_by_edge_with_their_labels_and_descriptors(edges):
    assert sorted(edges) == ["B K", "N K"]
    b = edges["B K"]
    assert len(b) == 15 and len(edges["N K"]) == 3
    assert dict(zip(*np.unique(b.labels["polymorph"], return_counts=True))) == {"h-BN": 10, "r-BN": 5}
    assert dict(zip(*np.unique(b.labels["defect_name"], return_counts=True))) == {"none": 10, "v_N": 5}
    pi = b.descriptors["pi_fraction"]
    assert np.isfinite(pi).all()
    kind = np.where(b.labels["defect_name"] == "v_N", 2, np.where(b.labels["polymorph"] == "r-BN", 1, 0))
    assert pi[kind == 0].min() > pi[kind == 1].max() > pi[kind == 1].min() > pi[kind == 2].max()
    assert np.isfinite(b.descriptors["sigma_charge_transfer"]).all()


def test_every_method_separates_kinds_that_the_spectra_separate(boron):
    for method in (REFERENCE, "pca", "mds"):
        assert boron.knn[method]["polymorph"].mean == 1.0
        assert boron.knn[method]["defect_name"].mean == 1.0
    assert boron.trustworthiness["pca"].mean > 0.8
    assert boron.knn_reference["polymorph"].chance == pytest.approx(10 / 15)


def test_descriptors_that_follow_the_kind_follow_the_neighbourhoods(boron):
    for method in (REFERENCE, "pca", "mds"):
        assert boron.neighborhood_rho[method]["pi_fraction"].mean > 0.7
        assert boron.neighborhood_rho[method]["sigma_charge_transfer"].mean > 0.7


def test_held_out_spectra_are_identified_by_their_nearest_computed_neighbours(boron):
    assert boron.n_test == 3
    for method in (REFERENCE, "pca", "mds"):
        assert boron.identification[method]["polymorph"][1].mean == 1.0
        assert boron.identification[method]["defect_kind"][1].mean == 1.0


def test_too_few_spectra_are_reported_not_embedded(edges):
    n = compare_edge(edges["N K"], methods=("pca",), seeds=1)
    assert n.scored_labels() == []  # one class per label
    assert "identification skipped" in " ".join(n.notes)


def test_cli_writes_the_report_and_prints_json(calcset_dir, tmp_path, cli):
    out = tmp_path / "report"
    result = cli("compare", "--calcset", calcset_dir, "--seeds", "1", "--method", "pca", "--method", "mds",
                 "--out", out, "--format", "json", "--jobs", "1")
    assert result.exit_code == 0, result.stderr
    printed = json.loads(result.stdout)
    assert [e["element"] for e in printed] == ["B", "N"]
    readme = (out / "README.md").read_text()
    assert f"xasrepo compare --calcset {calcset_dir} --seeds 1 --method pca --method mds --out {out}" in readme
    assert "| polymorph | 15 | 0.67 |" in readme
    for png in ("b_k_knn.png", "b_k_labels.png", "b_k_descriptors.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    stored = json.loads((out / "results.json").read_text())
    assert stored["edges"][0]["knn_accuracy"]["pca"]["polymorph"]["mean"] == 1.0
    # the headline: grouped by structure, for both recipes, with chance levels, interval and p-value
    assert readme.index("## Headline: grouped, inductive evaluation") < readme.index("## Transductive summary")
    grouped = {g["recipe_name"]: g for g in stored["edges"][0]["grouped"]}
    assert sorted(grouped) == ["absolute", "shape-only"]
    assert grouped["shape-only"]["recipe"]["alignment"] == "edge_onset"
    score = grouped["absolute"]["scores"]["pca"]["host_polymorph"]
    assert score["majority_rate"] == pytest.approx(10 / 15) and score["n_structures"] == 15
    assert score["accuracy"] == 1.0 and score["ci95"] == [1.0, 1.0] and score["p_value"] < 0.05
    assert "| host_polymorph | 15 / 15 | 0.67 | 0.56 | 1.00 [1.00, 1.00] p=" in readme
    # N K (three h-BN spectra) cannot be scored: said, not hidden
    assert "grouped protocol not run: N K (3 spectra)" in " ".join(stored["edges"][1]["notes"])
    assert stored["data"].startswith("calculation set 'compare-test' (manifest sha256 ")
    # the SYNTHETIC spectra start at 185 eV, 1 eV into the default B K window (184-201 eV): said, not hidden
    padding = ("15 of 15 spectra padded to the 184-201 eV window: 15 start inside it "
               "(first value held constant for up to 1.0 eV)")
    assert stored["edges"][0]["window_padding"] == padding
    assert f"**Window padding** (absolute recipe): {padding}." in readme


def test_cli_reads_a_database_and_filters_with_where(calcset_dir, tmp_path, cli):
    from repository.calcset import read_calcset
    from repository.db import make_engine, resolve_url, upgrade
    from repository.importer import import_calcset

    path = tmp_path / "x.db"
    upgrade(str(path))
    engine = make_engine(resolve_url(str(path)))
    import_calcset(engine, read_calcset(calcset_dir))
    engine.dispose()
    result = cli("compare", "--db", path, "--where", "element = B", "--method", "pca", "--seeds", "1", "--jobs", "1")
    assert result.exit_code == 0, result.stderr
    assert "B K" in result.stdout and "N K" not in result.stdout
    # three h-BN N K spectra: one class, nothing to score against chance -> one line, exit 2
    result = cli("compare", "--db", path, "--where", "element = N", "--method", "pca", "--seeds", "1")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: nothing to score by structure: N K (3 spectra)")
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr


def test_cli_refuses_two_sources_in_one_line(calcset_dir, tmp_path, cli):
    result = cli("compare", "--db", tmp_path / "x.db", "--calcset", calcset_dir)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == ["error: give either --db or --calcset, not both"]


def test_a_polarization_nothing_has_is_an_error(calcset_dir, cli):
    result = cli("compare", "--calcset", calcset_dir, "--polarization", "z")
    assert result.exit_code == 2 and "polarization z" in result.stderr


@pytest.mark.slow
def test_umap_separates_the_kinds_and_places_held_out_spectra_among_their_own(edges):
    umap = compare_edge(edges["B K"], methods=("umap",), seeds=2)
    assert umap.knn["umap"]["polymorph"].n == 2
    assert umap.knn["umap"]["polymorph"].mean >= 0.9
    assert umap.identification["umap"]["polymorph"][1].mean >= 0.8
    assert umap.neighborhood_rho["umap"]["pi_fraction"].mean > 0.5


def test_host_labels_are_the_host_structures_and_filters_can_name_them(calcset_dir, tmp_path):
    """host_* columns describe the defect's host structure (its own row), not the supercell; a cell
    without a defect is its own host; filters accept the column and dotted names."""
    from pymatgen.core import Structure

    from repository.calcset import read_calcset
    from repository.db import make_engine, resolve_url, upgrade
    from repository.importer import import_calcset
    from repository.query import query_spectra, spectrum_ids
    from repository.structures import analyze

    path = tmp_path / "host.db"
    upgrade(str(path))
    engine = make_engine(resolve_url(str(path)))
    import_calcset(engine, read_calcset(calcset_dir))
    host = Structure.from_file(calcset_dir / "structures" / "hBN_a.json")
    expected = analyze(host)
    rows = query_spectra(engine, "defect.name = v_N", columns="id,structure_id,host.id,host.crystal_system,"
                         "host.spacegroup_symbol,host.dimensionality,host.polymorph,nsites")
    assert len(rows) == 5
    for row in rows:
        assert row["structure_id"] != row["host_structure_id"]  # the host is another structure row ...
        assert (row["host_crystal_system"], row["host_spacegroup_symbol"], row["host_dimensionality"],
                row["host_polymorph"]) == (expected.crystal_system, expected.spacegroup_symbol,
                                           expected.dimensionality, "h-BN")
        assert row["nsites"] != len(host)  # ... not the supercell
    rows = query_spectra(engine, "polymorph = r-BN", columns="id,structure_id,host.id,host_crystal_system,crystal_system")
    assert len(rows) == 5
    assert all(r["structure_id"] == r["host_structure_id"] and r["host_crystal_system"] == r["crystal_system"]
               for r in rows)
    assert spectrum_ids(engine, "host.id is null") == []
    assert len(spectrum_ids(engine, 'host.polymorph = "h-BN" and element = B')) == 10
    engine.dispose()


def test_the_shape_only_recipe_aligns_each_spectrum_at_its_own_onset_over_the_common_window():
    from repository.analysis.recipe import Recipe
    from repository.compare.run import recipes, shape_only_recipe

    base = Recipe(energy_min_ev=185.0, energy_max_ev=200.0, normalization="area")
    shape = shape_only_recipe(base)
    assert (shape.alignment, shape.energy_min_ev, shape.energy_max_ev, shape.normalization) == \
        ("edge_onset", None, None, "area")
    assert list(recipes(base)) == ["absolute", "shape-only"] and recipes(base)["absolute"] is base
    assert list(recipes(shape)) == ["absolute"]  # already shape-only: not run twice
    assert list(recipes(base, shape_only=False)) == ["absolute"]


def test_group_by_host_holds_defect_cells_out_with_their_host(calcset_dir):
    """--group-by host: the five v_N cells (all in the host hBN_a) form one fold group, so a defect
    type is scored in a host it was never trained on; by structure each cell is its own group. The
    host of each cell is read from the database, not assumed."""
    from sqlalchemy import text

    from repository.analysis.recipe import Recipe
    from repository.compare.grouped import GROUP_BY

    with imported_calcset(calcset_dir) as engine:
        by_host = {e.name: e for e in load_edges(engine, recipe=Recipe(version=1), group_by="host")}["B K"]
        by_structure = {e.name: e for e in load_edges(engine, recipe=Recipe(version=1))}["B K"]
        with engine.connect() as conn:
            host_of = dict(conn.execute(text("SELECT spectrum_id, host_structure_id FROM spectrum_overview")).all())
    assert by_host.group_by == "host" and by_structure.group_by == "structure"
    for sid, group in zip(by_host.ids.tolist(), by_host.groups.tolist()):
        assert group == f"host {host_of[sid]}"
    defect = np.asarray(by_host.labels["defect_kind"]) == "vacancy"
    assert defect.sum() == PER_KIND
    assert len(set(by_host.groups[defect].tolist())) == 1                    # one host
    assert len(set(by_structure.groups[defect].tolist())) == PER_KIND        # five cells
    assert not set(by_host.groups[defect].tolist()) & set(by_host.groups[~defect].tolist())
    # the fold description says what was held out
    result = run_grouped(by_host, "absolute", methods=("pca",), seeds=(0,), permutations=0, n_boot=0)
    assert result.group_by == "host" and result.folds == GROUP_BY["host"]
    assert result.n_structures == len(set(by_host.groups.tolist())) < len(set(by_structure.groups.tolist()))


def test_group_by_must_be_structure_or_host(cli, calcset_dir):
    out = cli("compare", "--calcset", str(calcset_dir), "--group-by", "cell")
    assert out.exit_code == 2 and "--group-by 'cell': expected one of structure, host" in out.stderr
