"""Embedding and spectra pictures: the PNGs exist, have the right size and show what was asked.

Snapshot data here is SYNTHETIC (repository.plots.demo); spectra and DOS come from the bundled
example set imported into a fresh database.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from repository import db
from repository.calcset import read_calcset
from repository.errors import InputError, NotFoundError, UsageError
from repository.importer import import_calcset
from repository.plots.demo import synthetic_snapshot
from repository.plots.embedding import CATEGORY_PALETTE, category_groups, plot_embedding
from repository.plots.frame import column_kind, resolve_snapshot, snapshot_frame
from repository.plots.spectra import choose_spectra, plot_spectra

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]  # line colours of overlaid spectra and DOS orbitals
PALETTE = [c.lower() for c in CATEGORY_PALETTE]  # category colours of the embedding
VIRIDIS_YELLOW, VIRIDIS_PURPLE = "#fde725", "#440154"


def read_png(path) -> np.ndarray:
    """RGB pixels (0-255) of a PNG, after checking it is one."""
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    return (matplotlib.image.imread(path)[..., :3] * 255).round().astype(int)


def has_color(pixels: np.ndarray, hex_color: str, tolerance: int = 6, at_least: int = 20) -> bool:
    """At least ``at_least`` pixels within ``tolerance`` of the colour (solid marker/line colour)."""
    rgb = np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(pixels - rgb).max(axis=-1) <= tolerance).sum()) >= at_least


@pytest.fixture(scope="module")
def snapshot_file(tmp_path_factory):
    frame, _ = synthetic_snapshot(n=120, seed=1)
    path = tmp_path_factory.mktemp("snap") / "synthetic-umap.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return path


@pytest.fixture
def example_db(any_db, example_set):
    """The example set imported into a new database (SQLite, and PostgreSQL when a server is set)."""
    engine = db.connect(any_db)
    import_calcset(engine, read_calcset(example_set))
    engine.dispose()
    return any_db


def test_columns_are_categorical_or_numeric_by_dtype_and_number_of_values():
    frame = pd.DataFrame({"word": ["a", "b"] * 10, "few_ints": [2, 3] * 10, "many_ints": range(20),
                          "floats": np.linspace(0, 1, 20), "ints_with_gaps": [2.0, np.nan] * 10})
    kinds = {name: column_kind(frame[name]) for name in frame}
    assert kinds == {"word": "categorical", "few_ints": "categorical", "many_ints": "numeric",
                     "floats": "numeric", "ints_with_gaps": "categorical"}


def test_legend_groups_put_frequent_values_first_and_lump_the_rare_ones():
    values = pd.Series(["common"] * 10 + ["middle"] * 5 + [f"rare{i}" for i in range(14)] + [None] * 3)
    groups = category_groups(values, limit=4)
    labels = [label for label, _ in groups]
    assert labels[:2] == ["common", "middle"]
    assert labels[-2:] == ["other (12 values)", "n/a"]
    assert sum(int(mask.sum()) for _, mask in groups) == len(values)


def test_a_snapshot_needs_its_coordinate_columns(tmp_path):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"spectrum_id": [1], "x": [0.0]}), path)
    with pytest.raises(InputError, match="missing column.*y"):
        snapshot_frame(path)
    with pytest.raises(InputError, match="no such file"):
        snapshot_frame(tmp_path / "absent.parquet")


def test_categorical_colouring_draws_one_colour_per_value_and_no_colour_bar(snapshot_file, tmp_path):
    out = plot_embedding(snapshot_file, "crystal_system", tmp_path / "cs.png")
    pixels = read_png(out)
    assert pixels.shape[0] > 600 and pixels.shape[1] > 900
    assert all(has_color(pixels, color) for color in PALETTE[:3])  # three crystal systems
    assert not has_color(pixels, PALETTE[3])  # ... and no fourth
    assert not has_color(pixels, VIRIDIS_YELLOW)


def test_numeric_colouring_draws_a_colour_bar_and_greys_missing_values(snapshot_file, tmp_path):
    pixels = read_png(plot_embedding(snapshot_file, "hirshfeld_charge", tmp_path / "q.png"))
    assert has_color(pixels, VIRIDIS_YELLOW) and has_color(pixels, VIRIDIS_PURPLE)
    assert has_color(pixels, "#b0b0b0", at_least=5)  # the rows without a charge


def test_embedding_plot_takes_a_table_as_well_as_a_file(snapshot_file, tmp_path):
    table = pq.read_table(snapshot_file)
    from_table = plot_embedding(table, "dimensionality", tmp_path / "t.png")
    from_frame = plot_embedding(table.to_pandas(), "dimensionality", tmp_path / "f.png")
    assert read_png(from_table).shape == read_png(from_frame).shape


def test_cli_plots_an_embedding_and_names_the_choices_for_an_unknown_field(cli, snapshot_file, tmp_path):
    out = tmp_path / "defects.png"
    result = cli("plot", "embedding", snapshot_file, "--color-by", "defect_kind", "-o", out)
    assert result.exit_code == 0 and out.stat().st_size > 20_000
    bad = cli("plot", "embedding", snapshot_file, "--color-by", "colour_of_sky", "-o", tmp_path / "x.png")
    assert bad.exit_code == 2 and not (tmp_path / "x.png").exists()
    assert bad.stderr.count("\n") == 1 and "crystal_system" in bad.stderr and "hirshfeld_charge" in bad.stderr


def test_a_registered_snapshot_is_found_by_id_or_uid(sqlite_db, snapshot_file, tmp_path, cli):
    from sqlmodel import Session

    from repository.models import Snapshot

    from .conftest import file_digest

    engine = db.connect(sqlite_db)
    with Session(engine) as session:
        session.add(Snapshot(uid="umap-synthetic-1", method="umap", n_components=2, path=str(snapshot_file),
                             sha256=file_digest(snapshot_file), row_count=120, input_hash="i", params_hash="p",
                             recipe_json="{}", params_json="{}"))
        session.add(Snapshot(uid="pca-beside-the-db", method="pca", n_components=2, path="beside.parquet",
                             sha256=file_digest(snapshot_file), row_count=120, input_hash="i", params_hash="p2",
                             recipe_json="{}", params_json="{}"))
        session.commit()
    beside = Path(sqlite_db).parent / "beside.parquet"
    beside.write_bytes(snapshot_file.read_bytes())
    assert resolve_snapshot("pca-beside", lambda: db.connect(sqlite_db)) == beside  # relative to the db folder
    assert resolve_snapshot("umap-synthetic-1", lambda: db.connect(sqlite_db)) == snapshot_file
    assert resolve_snapshot("1", lambda: db.connect(sqlite_db)) == snapshot_file
    with pytest.raises(NotFoundError, match="neither a file nor registered"):
        resolve_snapshot("3", lambda: db.connect(sqlite_db))
    engine.dispose()
    result = cli("plot", "embedding", "umap-synthetic-1", "-c", "crystal_system", "--db", sqlite_db,
                 "-o", tmp_path / "by-uid.png")
    assert result.exit_code == 0 and (tmp_path / "by-uid.png").exists()


def test_spectra_are_chosen_by_ids_element_and_edge_or_a_filter(example_db):
    engine = db.connect(example_db, read_only=True)
    assert choose_spectra(engine, ids=[3, 1, 3]) == [3, 1]
    assert len(choose_spectra(engine, element="B", edge="k")) == 3
    assert choose_spectra(engine, element="N") == []
    vacancy = choose_spectra(engine, where="defect.kind = vacancy")
    assert len(vacancy) == 1
    with pytest.raises(UsageError, match="not both"):
        choose_spectra(engine, ids=[1], element="B")
    with pytest.raises(UsageError, match="no spectra chosen"):
        choose_spectra(engine)
    assert choose_spectra(engine, element="B", limit=2) == choose_spectra(engine, element="B")[:2]
    with pytest.raises(UsageError, match="--limit must be at least 1"):
        choose_spectra(engine, element="B", limit=0)
    engine.dispose()


def test_overlaid_spectra_draw_one_line_colour_per_spectrum(example_db, tmp_path):
    engine = db.connect(example_db, read_only=True)
    pixels = read_png(plot_spectra(engine, [1, 2, 3], tmp_path / "s.png"))
    one = read_png(plot_spectra(engine, [2], tmp_path / "one.png"))
    engine.dispose()
    assert all(has_color(pixels, color) for color in TAB10[:3])
    assert has_color(one, TAB10[0]) and not has_color(one, TAB10[1])


def test_dos_panels_add_a_row_per_spectrum_with_the_absorber_orbitals(example_db, tmp_path):
    engine = db.connect(example_db, read_only=True)
    without = read_png(plot_spectra(engine, [1, 3], tmp_path / "plain.png"))
    with_dos = read_png(plot_spectra(engine, [1, 3], tmp_path / "dos.png", with_dos=True))
    engine.dispose()
    assert with_dos.shape[1] > without.shape[1]  # wider: a DOS column beside the spectra
    # spectrum 1's absorber has s, p, p_sigma, p_pi curves: four line colours in the DOS panel
    dos_panel = with_dos[:, int(with_dos.shape[1] * 0.62):]
    assert all(has_color(dos_panel, color) for color in TAB10[:4])


def test_cli_plots_spectra_offset_and_reports_bad_choices_in_one_line(cli, example_db, tmp_path):
    out = tmp_path / "stack.png"
    result = cli("plot", "spectra", "--element", "B", "--offset", "auto", "--norm", "max", "-o", out, "--db", example_db)
    assert result.exit_code == 0 and "3 spectra" in result.stdout and out.stat().st_size > 20_000
    missing = cli("plot", "spectra", "1", "99", "-o", tmp_path / "m.png", "--db", example_db)
    assert missing.exit_code == 2 and missing.stderr == "error: no spectrum with id 99\n"
    bad_offset = cli("plot", "spectra", "1", "--offset", "lots", "-o", tmp_path / "o.png", "--db", example_db)
    assert bad_offset.exit_code == 2 and "--offset" in bad_offset.stderr
    assert not (tmp_path / "m.png").exists() and not (tmp_path / "o.png").exists()
    first_two = cli("plot", "spectra", "--element", "B", "--limit", "2", "-o", tmp_path / "two.png", "--db", example_db)
    assert first_two.exit_code == 0 and "(2 spectra)" in first_two.stdout


def test_too_many_spectra_for_one_picture_is_a_usage_error(example_db, tmp_path, monkeypatch):
    from repository.plots import spectra

    monkeypatch.setattr(spectra, "MAX_SPECTRA", 2)
    engine = db.connect(example_db, read_only=True)
    with pytest.raises(UsageError, match="3 spectra chosen; at most 2"):
        spectra.plot_spectra(engine, [1, 2, 3], tmp_path / "x.png")
    engine.dispose()


def test_lists_dates_booleans_and_pandas_categories_can_colour_the_points(tmp_path):
    frame = pd.DataFrame({"spectrum_id": [1, 2, 3], "x": [0.0, 1.0, 2.0], "y": [1.0, 0.0, 1.0],
                          "elements": [["B", "N"], ["B", "N"], ["B"]], "made": pd.to_datetime(["2024-01-01"] * 3),
                          "flag": [True, False, None], "kind": pd.Categorical(["a", "b", "a"])})
    groups = category_groups(frame["elements"])
    assert [(label, int(mask.sum())) for label, mask in groups] == [("B, N", 2), ("B", 1)]
    for field in ("elements", "made", "flag", "kind"):
        assert read_png(plot_embedding(frame, field, tmp_path / f"{field}.png")).shape[0] > 600


def test_colouring_by_a_column_no_spectrum_has_is_refused(tmp_path, cli):
    """An all-null column (bader_charge in a snapshot of sets without Bader charges) would draw a
    made-up 0-1 colour bar, or a legend of only "n/a": refused in one line, naming the column and
    the columns that do have values; nothing written."""
    frame = pd.DataFrame({"spectrum_id": [1, 2, 3], "x": [0.0, 1.0, 2.0], "y": [1.0, 0.0, 1.0],
                          "bader_charge": [np.nan] * 3, "sample_name": [None] * 3, "polymorph": ["h-BN"] * 3})
    for field in ("bader_charge", "sample_name"):
        with pytest.raises(UsageError, match=rf"^cannot colour by '{field}': no spectrum of the snapshot has {field} "
                                             r"\(all 3 are n/a; choose one of: polymorph\)$"):
            plot_embedding(frame, field, tmp_path / f"{field}.png")
        assert not (tmp_path / f"{field}.png").exists()
    path = tmp_path / "s.parquet"
    frame.to_parquet(path)
    result = cli("plot", "embedding", path, "--color-by", "bader_charge", "-o", tmp_path / "b.png")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "no spectrum of the snapshot has bader_charge" in result.stderr and "Traceback" not in result.stderr
