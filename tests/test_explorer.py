"""The explorer page is one self-contained file: no library, no network, the snapshot rows embedded
as JSON and the spectra as the compact store its module documents (decoded here independently,
from the documented layout). (What it does in a browser: tests/test_explorer_browser.py.)"""

from __future__ import annotations

import base64
import json
import re
import struct

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from repository import db
from repository.calcset import read_calcset
from repository.errors import UsageError
from repository.importer import import_calcset
from repository.plots import explorer
from repository.plots.demo import synthetic_snapshot
from repository.plots.explorer import thin, write_explorer

CODES = 65534  # the documented uint16 range of a spectrum's [min, max]; 65535 marks a non-finite value


def embedded_data(page: str) -> dict:
    block = re.search(r'<script type="application/json" id="xr-data">(.*?)</script>', page, flags=re.DOTALL)
    return json.loads(block.group(1).replace("<\\/", "</"))


def decoded_spectra(page: str) -> dict[int, tuple[np.ndarray, np.ndarray, float]]:
    """{spectrum id: (energy, intensity, the quantisation bound)} read from the page's store as the
    module docstring describes it: record = uint32 grid, float32 lo, float32 hi, uint16 codes;
    grid = float64 energies; records and grids start on multiples of 3 bytes."""
    data = embedded_data(page)
    text = re.search(r'<script type="application/octet-stream" id="xr-spectra">(.*?)</script>', page,
                     flags=re.DOTALL).group(1)
    blob = base64.b64decode(text)
    rows = np.frombuffer(base64.b64decode(data["store"]["rows"]), dtype="<i4")
    assert len(rows) == len(data["ids"])
    found = {}
    for row, offset in enumerate(rows.tolist()):
        if offset < 0:
            continue
        assert offset % 3 == 0  # so the page can base64-decode the record alone
        grid, lo, hi = struct.unpack_from("<Iff", blob, offset)
        grid_offset, m = data["store"]["grids"][grid]
        assert grid_offset % 3 == 0
        energy = np.frombuffer(blob, dtype="<f8", count=m, offset=grid_offset)
        codes = np.frombuffer(blob, dtype="<u2", count=m, offset=offset + 12)
        intensity = np.where(codes == 65535, np.nan, lo + codes * ((hi - lo) / CODES))
        found[data["ids"][row]] = (energy, intensity, (hi - lo) / CODES / 2)
    return found


def external_references(page: str) -> list[str]:
    """src/href attributes of tags that point off the page (a CDN script, a web font...)."""
    return re.findall(r'<(?:script|link|img)[^>]+(?:src|href)\s*=\s*["\']?((?:https?:)?//[^"\' >]+)', page)


def test_page_embeds_rows_and_spectra_and_loads_nothing(tmp_path):
    frame, spectra = synthetic_snapshot(n=30, seed=2)
    del spectra[7]
    page = write_explorer(frame, tmp_path / "e.html", spectra=spectra, title="synthetic </script> demo").read_text()
    assert external_references(page) == [] and "<script src" not in page
    data = embedded_data(page)
    assert data["ids"] == list(range(1, 31))
    stored = decoded_spectra(page)
    assert sorted(stored) == [i for i in range(1, 31) if i != 7]
    assert len(data["store"]["grids"]) == 1  # the demo spectra share one energy grid, stored once
    for spectrum_id in (1, 12, 30):
        energy, intensity, bound = stored[spectrum_id]
        np.testing.assert_array_equal(energy, spectra[spectrum_id][0])  # float64: exact
        assert np.abs(intensity - spectra[spectrum_id][1]).max() <= bound * 1.01 + 1e-7
        assert bound <= spectra[spectrum_id][1].max() / CODES  # 16 bits of the spectrum's range
    kinds = {f["name"]: f["kind"] for f in data["fields"]}
    assert kinds["crystal_system"] == "categorical" and kinds["hirshfeld_charge"] == "numeric"
    assert data["field"] == "crystal_system" and data["renderer"] == "vector"
    assert None in data["columns"]["hirshfeld_charge"]  # NaN -> null, valid JSON
    assert page.count("</script>") == page.count("<script")  # the title cannot close a script early


def test_quantised_intensities_stay_within_the_stated_bound_and_keep_gaps():
    rng = np.random.default_rng(4)
    spectra = np.vstack([rng.normal(size=(3, 50)) * [[1e-6], [1.0], [1e6]],  # any scale, negative values
                         np.full((1, 50), 3.25),  # constant: no range
                         np.r_[np.nan, np.linspace(-2, 5, 48), np.inf][None, :],  # non-finite values
                         np.full((1, 50), np.nan)])
    lo, hi, codes = explorer.quantise(spectra)
    assert codes.dtype == np.dtype("<u2") and lo.dtype == hi.dtype == np.float32
    finite = np.isfinite(spectra)
    decoded = np.where(codes == 65535, np.nan, lo[:, None] + codes * ((hi.astype(float) - lo) / CODES)[:, None])
    assert np.array_equal(np.isnan(decoded), ~finite)  # gaps stay gaps, nothing else becomes one
    error = np.abs(np.where(finite, decoded - spectra, 0.0)).max(axis=1)
    bound = (hi.astype(float) - lo) / CODES / 2
    assert np.all(error <= bound * 1.001 + 1e-12 * np.abs(lo)), (error, bound)
    low = np.array([row[np.isfinite(row)].min() for row in spectra[:5]])
    high = np.array([row[np.isfinite(row)].max() for row in spectra[:5]])
    assert np.all(lo[:5] <= low) and np.all(hi[:5] >= high)  # float32 bounds cover the spectrum
    assert decoded[3].tolist() == [3.25] * 50  # a constant spectrum comes back exactly


def test_page_size_per_spectrum_is_what_the_module_documents(tmp_path):
    frame, _ = synthetic_snapshot(n=40, seed=1)
    energy = np.linspace(180.0, 220.0, 300)
    spectra = {i: (energy, np.sin(energy / (i + 3.0))) for i in range(1, 41)}
    with_spectra = (tmp_path / "with.html")
    write_explorer(frame, with_spectra, spectra=spectra)
    bare = write_explorer(frame, tmp_path / "bare.html")
    grows = with_spectra.stat().st_size - bare.stat().st_size
    # 40 records of 4 + 4 + 4 + 2 x 300 = 612 bytes, one 2,400-byte grid; base64: 4 characters per 3 bytes
    assert grows == (40 * 612 + 2400) // 3 * 4 + len(json.dumps([[0, 300]])) - len("[]") + len("40") - len("0")
    assert 612 // 3 * 4 == 816  # the "816 characters per 300-point spectrum" of the docs


def test_rows_repeating_an_id_share_one_record(tmp_path):
    frame = pd.DataFrame({"spectrum_id": [5, 6, 5], "x": [0.0, 1.0, 2.0], "y": [0.0, 1.0, 0.0]})
    energy = np.linspace(0, 10, 20)
    page = write_explorer(frame, tmp_path / "e.html", spectra={5: (energy, energy), 6: (energy, -energy)}).read_text()
    rows = np.frombuffer(base64.b64decode(embedded_data(page)["store"]["rows"]), dtype="<i4")
    assert rows[0] == rows[2] != rows[1] and embedded_data(page)["store"]["count"] == 2


def test_long_spectra_are_thinned_keeping_both_ends():
    energy = np.linspace(0, 100, 5001)
    e, i = thin(energy, energy * 2, 300)
    assert len(e) <= 300 and e[0] == 0 and e[-1] == 100 and np.all(i == 2 * e)


def test_an_unknown_first_colouring_is_refused(tmp_path):
    frame, _ = synthetic_snapshot(n=5)
    with pytest.raises(UsageError, match="cannot colour by 'nope'"):
        write_explorer(frame, tmp_path / "e.html", color_by="nope")
    assert not (tmp_path / "e.html").exists()


def test_pages_past_the_documented_limits_are_refused_in_one_line(tmp_path, monkeypatch):
    frame, spectra = synthetic_snapshot(n=6)
    monkeypatch.setattr(explorer, "MAX_PAGE_SPECTRA", 5)
    with pytest.raises(UsageError, match=r"at most 5 spectra .* has 6: use --no-spectra") as refused:
        write_explorer(frame, tmp_path / "e.html", spectra=spectra)
    assert "\n" not in str(refused.value) and not (tmp_path / "e.html").exists()
    write_explorer(frame, tmp_path / "bare.html")  # points and properties only: fine
    monkeypatch.setattr(explorer, "MAX_PAGE_POINTS", 5)
    with pytest.raises(UsageError, match="draws at most 5 points and this snapshot has 6 rows"):
        write_explorer(frame, tmp_path / "e.html")
    assert not (tmp_path / "e.html").exists()


def test_cli_explore_embeds_the_spectra_of_the_snapshot_from_the_database(cli, any_db, example_set, tmp_path,
                                                                        monkeypatch):
    engine = db.connect(any_db)
    import_calcset(engine, read_calcset(example_set))
    with engine.connect() as conn:
        from repository.arrays import from_blob
        from sqlalchemy import text

        row = conn.execute(text("SELECT energy_ev, intensity FROM spectrum WHERE id = 2")).one()
        stored_two = from_blob(row.energy_ev), from_blob(row.intensity)
    engine.dispose()
    snapshot = tmp_path / "three.parquet"
    pq.write_table(pa.table({"spectrum_id": [1, 2, 3, 42], "x": [0.0, 1.0, 2.0, 3.0], "y": [0.0, 1.0, 0.5, 2.0],
                             "defect_kind": ["none", "none", "vacancy", None]}), snapshot)
    out = tmp_path / "explore.html"
    result = cli("explore", snapshot, "-o", out, "--db", any_db)
    assert result.exit_code == 0 and str(out) in result.stdout and "3 spectra" in result.stdout
    page = out.read_text()
    spectra = decoded_spectra(page)
    assert sorted(spectra) == [1, 2, 3]  # 42 is not in the database
    energy, intensity, bound = spectra[2]
    np.testing.assert_array_equal(energy, thin(*stored_two, explorer.MAX_POINTS_PER_SPECTRUM)[0])
    assert np.abs(intensity - thin(*stored_two, explorer.MAX_POINTS_PER_SPECTRUM)[1]).max() <= bound * 1.01
    data = embedded_data(page)
    assert data["columns"]["defect_kind"] == ["pristine", "pristine", "vacancy", None]  # "none": no defect
    bare = cli("explore", snapshot, "-o", tmp_path / "bare.html", "--no-spectra", "--db", tmp_path / "absent.db")
    assert bare.exit_code == 0 and decoded_spectra((tmp_path / "bare.html").read_text()) == {}
    assert data["window"] is None  # a table without a recipe: no window to mark
    monkeypatch.setattr(explorer, "MAX_PAGE_SPECTRA", 3)
    refused = cli("explore", snapshot, "-o", tmp_path / "big.html", "--db", any_db)
    assert refused.exit_code == 2 and refused.stderr.count("\n") == 1 and "--no-spectra" in refused.stderr
    assert not (tmp_path / "big.html").exists()


def test_the_spectrum_panel_marks_the_recipe_window_of_a_snapshot(tmp_path):
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


def test_number_columns_keep_their_values_and_missing_ones_become_null(tmp_path):
    frame = pd.DataFrame({"spectrum_id": [1, 2, 3], "x": [0.0, 1.0, 2.0], "y": [1.0, 0.0, 1.0],
                          "charge": [0.123456789, np.nan, -np.inf], "cn": [3, 4, 3], "dim": [2.0, 3.0, 2.0],
                          "flag": [True, False, True]})
    columns = embedded_data(write_explorer(frame, tmp_path / "e.html").read_text())["columns"]
    assert columns["charge"] == [0.123456789, None, None]
    assert columns["cn"] == [3, 4, 3] and columns["dim"] == ["2", "3", "2"] and columns["flag"] == [True, False, True]


def test_the_first_colouring_is_a_property_that_varies_in_a_few_values():
    from repository.plots.explorer import default_field

    frame = pd.DataFrame({"spectrum_id": range(1, 31), "x": np.zeros(30), "y": np.zeros(30),
                          "crystal_system": [None] * 30, "absorbing_element": ["B"] * 30,
                          "content_hash": [f"h{i}" for i in range(30)], "sample_name": ["a", "b", "c"] * 10})
    assert default_field(frame) == "sample_name"
    assert default_field(frame.assign(charge=np.linspace(0, 1, 30))[["spectrum_id", "x", "y", "charge"]]) == "charge"
