"""`xasrepo demo`: database, UMAP/PCA/MDS snapshots and plots from a calculation set, idempotent."""

from __future__ import annotations

import sys

import pytest

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))


@pytest.mark.slow
def test_demo_builds_database_snapshots_and_plots_and_reuses_them(tmp_path, cli):
    from import_calcset import generate  # SYNTHETIC spectra on c-BN supercells

    generate(tmp_path / "set", n_structures=6, sites_per_structure=4, n_points=120)
    out = tmp_path / "demo"
    first = cli("demo", "--out", out, "--data", tmp_path / "set")
    assert first.exit_code == 0, first.output
    assert "imported: 24 spectra" in first.stdout
    pngs = sorted((out / "plots").glob("*.png"))
    assert len(pngs) == 3 * 3  # umap, pca, mds x polymorph, defect_kind, dimensionality
    assert all(p.stat().st_size > 10_000 for p in pngs)
    assert len(list((out / "snapshots").glob("*.parquet"))) == 3

    again = cli("demo", "--out", out, "--data", tmp_path / "set")
    assert again.exit_code == 0, again.output
    assert again.stdout.count("(reused)") == 3
    assert "unchanged" in again.stdout
    assert len(list((out / "snapshots").glob("*.parquet"))) == 3


def test_demo_without_a_data_set_says_what_to_do(tmp_path, cli):
    result = cli("demo", "--out", tmp_path / "demo", "--data", tmp_path / "nothing")
    assert result.exit_code == 2
    assert "no bundled data set at" in result.stderr and "calcset.toml missing" in result.stderr
