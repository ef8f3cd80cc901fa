"""The numbers the README quotes are the ones the committed report and data set hold.

The README's BN table is copied from docs/compare/results.json (written by `xasrepo compare`) and its
counts from data/bn; when either is regenerated and the README is not, this fails."""

from __future__ import annotations

import json
import re
import tomllib

import pytest

from .conftest import ROOT

README = (ROOT / "README.md").read_text()
RESULTS = ROOT / "docs" / "compare" / "results.json"
LABELS = {"polymorph": "polymorph", "crystal system": "crystal_system", "defect kind": "defect_kind",
          "dimensionality": "dimensionality"}


def _cell(stat: dict, digits: int, with_sd: bool) -> str:
    text = f"{stat['mean']:.{digits}f}"
    return f"{text} ± {stat['sd']:.{digits}f}" if with_sd and stat["n"] > 1 else text


@pytest.fixture(scope="module")
def b_k():
    if not RESULTS.exists():
        pytest.skip("docs/compare/results.json is absent")
    edges = json.loads(RESULTS.read_text())["edges"]
    return next(e for e in edges if (e["element"], e["edge"]) == ("B", "K"))


def _row(name: str) -> list[str]:
    line = next(line for line in README.splitlines() if line.startswith(f"| {name} |"))
    return [cell.strip() for cell in line.strip("|").split("|")][1:]


def test_the_readme_table_is_the_committed_report(b_k):
    assert f"| B K ({b_k['n_spectra']} spectra) |" in README
    for name, label in LABELS.items():
        knn = b_k["knn_accuracy"]
        assert _row(name) == [_cell(knn["raw"][label], 2, False), _cell(knn["umap"][label], 2, True),
                              _cell(knn["pca"][label], 2, False), _cell(knn["mds"][label], 2, False)], name
    trust = b_k["trustworthiness"]
    assert _row("trustworthiness (k=10)")[1:] == [_cell(trust["umap"], 3, True), _cell(trust["pca"], 3, False),
                                                  _cell(trust["mds"], 3, False)]


def test_the_readme_counts_are_the_bundled_set():
    manifest = tomllib.loads((ROOT / "data" / "bn" / "calcset.toml").read_text())
    entries = manifest["entries"]
    n_b = sum(e["absorber"]["element"] == "B" for e in entries)
    curves = sum(len(e["spectra"]) for e in entries)
    stated = re.search(r"`data/bn` holds (\d+) absorber-site calculations \((\d+) B K, (\d+) N K; (\d+) spectrum",
                       README.replace("\n", " "))
    assert stated and tuple(map(int, stated.groups())) == (len(entries), n_b, len(entries) - n_b, curves)
