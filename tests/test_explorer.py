"""The explorer page is one self-contained file: plotly.js inside, no network, the snapshot rows and
spectra embedded. (What it does in a browser: tests/test_explorer_browser.py.)"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from repository import db
from repository.calcset import read_calcset
from repository.errors import UsageError
from repository.importer import import_calcset
from repository.plots.demo import synthetic_snapshot
from repository.plots.explorer import thin, write_explorer


def embedded_data(page: str) -> dict:
    block = re.search(r'<script type="application/json" id="xr-data">(.*?)</script>', page, flags=re.DOTALL)
    return json.loads(block.group(1).replace("<\\/", "</"))


def external_references(page: str) -> list[str]:
    """src/href attributes of tags that point off the page (a CDN script, a web font...)."""
    return re.findall(r'<(?:script|link|img)[^>]+(?:src|href)\s*=\s*["\']?((?:https?:)?//[^"\' >]+)', page)


def test_page_embeds_plotly_rows_and_spectra_and_loads_nothing(tmp_path):
    frame, spectra = synthetic_snapshot(n=30, seed=2)
    del spectra[7]
    page = write_explorer(frame, tmp_path / "e.html", spectra=spectra, title="synthetic </script> demo").read_text()
    assert external_references(page) == []
    from plotly.offline import get_plotlyjs

    assert get_plotlyjs()[:2000] in page  # the library itself, not a link to it
    data = embedded_data(page)
    assert data["ids"] == list(range(1, 31))
    assert sorted(int(i) for i in data["spectra"]) == [i for i in range(1, 31) if i != 7]
    grid, intensity = data["spectra"]["12"]
    assert len(data["grids"]) == 1  # the demo spectra share one energy grid, stored once
    np.testing.assert_allclose(data["grids"][grid], spectra[12][0], atol=1e-4)
    np.testing.assert_allclose(intensity, spectra[12][1], atol=1e-3 * spectra[12][1].max())
    kinds = {f["name"]: f["kind"] for f in data["fields"]}
    assert kinds["crystal_system"] == "categorical" and kinds["hirshfeld_charge"] == "numeric"
    assert data["field"] == "crystal_system"
    assert None in data["columns"]["hirshfeld_charge"]  # NaN -> null, valid JSON
    assert page.count("</script>") == page.count("<script")  # the title cannot close a script early


def test_long_spectra_are_thinned_keeping_both_ends():
    energy = np.linspace(0, 100, 5001)
    e, i = thin(energy, energy * 2, 300)
    assert len(e) <= 300 and e[0] == 0 and e[-1] == 100 and np.all(i == 2 * e)


def test_an_unknown_first_colouring_is_refused(tmp_path):
    frame, _ = synthetic_snapshot(n=5)
    with pytest.raises(UsageError, match="cannot colour by 'nope'"):
        write_explorer(frame, tmp_path / "e.html", color_by="nope")
    assert not (tmp_path / "e.html").exists()


def test_cli_explore_embeds_the_spectra_of_the_snapshot_from_the_database(cli, any_db, example_set, tmp_path):
    engine = db.connect(any_db)
    import_calcset(engine, read_calcset(example_set))
    engine.dispose()
    snapshot = tmp_path / "three.parquet"
    pq.write_table(pa.table({"spectrum_id": [1, 2, 3, 42], "x": [0.0, 1.0, 2.0, 3.0], "y": [0.0, 1.0, 0.5, 2.0],
                             "defect_kind": ["none", "none", "vacancy", None]}), snapshot)
    out = tmp_path / "explore.html"
    result = cli("explore", snapshot, "-o", out, "--db", any_db)
    assert result.exit_code == 0 and str(out) in result.stdout
    data = embedded_data(out.read_text())
    assert sorted(data["spectra"]) == ["1", "2", "3"]  # 42 is not in the database
    assert data["columns"]["defect_kind"] == ["pristine", "pristine", "vacancy", None]  # "none": no defect
    bare = cli("explore", snapshot, "-o", tmp_path / "bare.html", "--no-spectra", "--db", tmp_path / "absent.db")
    assert bare.exit_code == 0 and embedded_data((tmp_path / "bare.html").read_text())["spectra"] == {}
    assert data["window"] is None  # a table without a recipe: no window to mark


def test_the_spectrum_panel_marks_the_recipe_window_of_a_snapshot(tmp_path):
    import json

    table = pa.table({"spectrum_id": [1, 2, 3], "x": [0.0, 1.0, 2.0], "y": [0.0, 1.0, 0.5]})
    footer = {"recipe": {"energy_min_ev": 184.0, "energy_max_ev": 201.0, "alignment": "none"}}
    snapshot = tmp_path / "s.parquet"
    pq.write_table(table.replace_schema_metadata({b"xasrepo.snapshot": json.dumps(footer).encode()}), snapshot)
    page = write_explorer(snapshot, tmp_path / "page.html").read_text()
    assert embedded_data(page)["window"] == [184.0, 201.0] and "recipe window" in page
    footer["recipe"]["alignment"] = "edge_onset"  # relative to each e0: no absolute window to mark
    pq.write_table(table.replace_schema_metadata({b"xasrepo.snapshot": json.dumps(footer).encode()}), snapshot)
    assert embedded_data(write_explorer(snapshot, tmp_path / "rel.html").read_text())["window"] is None


def test_list_and_date_columns_are_embedded_as_text(tmp_path):
    frame = pd.DataFrame({"spectrum_id": [1, 2], "x": [0.0, 1.0], "y": [1.0, 0.0],
                          "elements": [["B", "N"], ["B"]], "made": pd.to_datetime(["2024-01-01", None])})
    data = embedded_data(write_explorer(frame, tmp_path / "e.html").read_text())
    assert data["columns"]["elements"] == ["B, N", "B"]
    assert data["columns"]["made"][0].startswith("2024-01-01") and data["columns"]["made"][1] is None


def test_the_first_colouring_is_a_property_that_varies_in_a_few_values():
    from repository.plots.explorer import default_field

    frame = pd.DataFrame({"spectrum_id": range(1, 31), "x": np.zeros(30), "y": np.zeros(30),
                          "crystal_system": [None] * 30, "absorbing_element": ["B"] * 30,
                          "content_hash": [f"h{i}" for i in range(30)], "sample_name": ["a", "b", "c"] * 10})
    assert default_field(frame) == "sample_name"
    assert default_field(frame.assign(charge=np.linspace(0, 1, 30))[["spectrum_id", "x", "y", "charge"]]) == "charge"
