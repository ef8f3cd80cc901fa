"""The numbers the README quotes are the ones the committed report and data set hold.

The README's BN table is copied from docs/compare/results.json (written by `xasrepo compare`): the
grouped, leave-one-structure-out scores with their chance level and bootstrap interval; its counts
come from data/bn. When either is regenerated and the README is not, this fails."""

from __future__ import annotations

import json
import re
import tomllib

import pytest

from .conftest import ROOT

README = (ROOT / "README.md").read_text()
RESULTS = ROOT / "docs" / "compare" / "results.json"
LABELS = {"host polymorph": "host_polymorph", "host dimensionality (sp2 / sp3)": "host_dimensionality",
          "defect kind (near sites)": "defect_kind", "defect name (near sites)": "defect_name"}
SERIES = ("raw", "umap", "pca", "mds")


def _cell(score: dict) -> str:
    lo, hi = score["ci95"]
    beats = score["p_value"] < 0.05 and lo > score["majority_rate"]
    return f"{score['accuracy']:.2f} [{lo:.2f}, {hi:.2f}]" + (" ✓" if beats else "")


@pytest.fixture(scope="module")
def edges():
    if not RESULTS.exists():
        pytest.skip("docs/compare/results.json is absent")
    from repository.compare.report import read_results

    return read_results(RESULTS)["edges"]  # either key spelling (committed before the US rename)


def _row(name: str) -> list[str]:
    line = next((line for line in README.splitlines() if line.startswith(f"| {name} |")), None)
    assert line is not None, f"README has no row {name!r}"
    return [cell.strip() for cell in line.strip("|").split("|")][1:]


def test_the_readme_table_is_the_committed_grouped_report(edges):
    rows = 0
    for edge in edges:
        for run in edge.get("grouped", []):
            for name, label in LABELS.items():
                score = run["scores"]["raw"][label]
                row = _row(f"{edge['element']} {edge['edge']} {run['recipe_name']}: {name}")
                assert row == [str(score["n_structures"]), f"{score['majority_rate']:.2f}",
                               *[_cell(run["scores"][s][label]) for s in SERIES]], (edge["element"], label)
                rows += 1
    assert rows == 16  # two edges, two recipes, four labels


def test_the_readme_counts_are_the_bundled_set():
    manifest = tomllib.loads((ROOT / "data" / "bn" / "calcset.toml").read_text())
    entries = manifest["entries"]
    n_b = sum(e["absorber"]["element"] == "B" for e in entries)
    curves = sum(len(e["spectra"]) for e in entries)
    stated = re.search(r"`data/bn` holds (\d+) absorber-site calculations \((\d+) B K, (\d+) N K; (\d+) spectrum",
                       README.replace("\n", " "))
    assert stated and tuple(map(int, stated.groups())) == (len(entries), n_b, len(entries) - n_b, curves)


def test_v2_readme_onset_offsets_are_the_committed_delta_ks():
    """The README's v2 c-BN − h-BN onset offsets (ΔKS of the pristine cells' first absorbers, N K and
    B K) are those of the committed v2 results; a newcomer found them stale (1.35/2.26 eV, from the
    superseded 2×2×2 meshes) on 2026-12-01."""
    results = ROOT / "calculations" / "bn-v2" / "results"
    files = {(p, e): results / f"xas__{p}_pristine__{e}.json"
             for p, e in [("c-BN", "B0"), ("h-BN", "B0"), ("c-BN", "N16"), ("h-BN", "N18")]}
    if not all(f.exists() for f in files.values()):
        pytest.skip("the v2 pristine h-BN/c-BN spectra are not committed")
    dks = {k: json.loads(f.read_text())["delta_ks_ev"] for k, f in files.items()}
    stated = re.search(r"\+([\d.]+) eV in v2 on converged k meshes; B K: [\d.]+, [\d.]+ and ([\d.]+) eV",
                       " ".join(README.split()))
    assert stated, "README no longer states the v2 offsets in the expected sentence"
    assert float(stated.group(1)) == pytest.approx(dks["c-BN", "N16"] - dks["h-BN", "N18"], abs=0.005)
    assert float(stated.group(2)) == pytest.approx(dks["c-BN", "B0"] - dks["h-BN", "B0"], abs=0.005)


# The README's v2 sentence names the label it reports: the host polymorph once 2+ polymorphs have
# 3+ structures each, else sp2 vs sp3 (host dimensionality), which the set scores sooner.
V2_LABEL_WORDS = {"host polymorph": "host_polymorph", "sp2 vs sp3 host": "host_dimensionality"}


def v2_sentence(results: dict) -> str:
    """The README's sentence on docs/compare-v2 (absolute recipe, both edges), from its results."""
    label = "host_polymorph"
    runs = {e["element"]: next(r for r in e["grouped"] if r["recipe_name"] == "absolute") for e in results["edges"]}
    if not all(label in run["scores"]["raw"] for run in runs.values()):
        label = "host_dimensionality"
    words = next(w for w, lab in V2_LABEL_WORDS.items() if lab == label)
    scores = {el: {m: run["scores"][m][label] for m in SERIES} for el, run in runs.items()}
    first = scores["B"]["raw"]

    def span(method):
        values = sorted(f"{s[method]['accuracy']:.2f}" for s in scores.values())
        return values[0] if values[0] == values[-1] else f"{values[0]}-{values[-1]}"

    return (f"{words} of held-out structures, {first['n_structures']} structures against a majority rate of "
            f"{first['majority_rate']:.2f}, absolute energies, both edges: raw spectra {span('raw')}, "
            f"PCA {span('pca')}, UMAP {span('umap')}, MDS {span('mds')}")


def test_the_readme_v2_scores_are_the_committed_v2_report():
    """The README's indicative v2 scores (absolute recipe) are docs/compare-v2's."""
    results = ROOT / "docs" / "compare-v2" / "results.json"
    if not results.exists():
        pytest.skip("docs/compare-v2/results.json is absent")
    from repository.compare.report import read_results

    sentence = v2_sentence(read_results(results))
    assert sentence in " ".join(README.split()), f"README should say: {sentence}"


@pytest.mark.parametrize("report", ["compare", "compare-v2"])
def test_each_report_names_data_that_is_in_the_history(report):
    """A report's numbers must be reproducible: the commit it names for its data exists in this
    repository and the data were committed when it ran (a newcomer found docs/compare-v2 naming a
    commit that never landed, 2026-12-01)."""
    import subprocess

    results = ROOT / "docs" / report / "results.json"
    if not results.exists():
        pytest.skip(f"docs/{report}/results.json is absent")
    data = json.loads(results.read_text())["data"]
    found = re.search(r"(\S+) at git commit ([0-9a-f]{7,40})( \S+)?( \+changes)?", data)
    assert found, f"docs/{report} does not name the commit of its data: {data!r}"
    assert not found.group(4), f"docs/{report} was made from uncommitted data: {data!r}"

    def git(*args):
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)

    probe = git("rev-parse", "--is-shallow-repository")
    if probe.returncode != 0:
        pytest.skip("not a git checkout")
    if probe.stdout.strip() == "true":
        pytest.skip("a shallow clone: older commits are not here to check")
    assert git("cat-file", "-e", f"{found.group(2)}^{{commit}}").returncode == 0, (
        f"docs/{report} names commit {found.group(2)}, which is not in this repository's history")
