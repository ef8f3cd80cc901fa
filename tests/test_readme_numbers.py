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
