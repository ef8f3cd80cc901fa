"""What the pictures say: titles in words, axes named per method, colour scales, one panel per
element and edge, labels of stacked curves, normalisations, the embedding window, 3-D axes, vector
output, and the overview figure of the bundled set.

These tests inspect the matplotlib figures (titles, labels, norms, artists), not pixels. The real
data is the bundled BN set (the session fixture ``bundled_bn_db``: data/bn with a PCA snapshot of
the B K spectra); small tables are made here where a known answer is needed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import pytest  # noqa: E402

from repository import db  # noqa: E402
from repository.errors import UsageError  # noqa: E402
from repository.plots import embedding as emb  # noqa: E402
from repository.plots import spectra as sp  # noqa: E402
from repository.snapshots.files import footer_metadata  # noqa: E402


@pytest.fixture(scope="module")
def bn(bundled_bn_db):
    """(database path, the B K PCA snapshot file) of the bundled set."""
    from repository.snapshots.registry import list_snapshots

    with db.connected(bundled_bn_db, read_only=True) as engine:
        record = next(r for r in list_snapshots(engine) if r["method"] == "pca" and r["element"] == "B")
        from repository.snapshots.registry import get_snapshot

        path = Path(get_snapshot(engine, record["uid"])["path"])
    if not path.is_absolute():
        path = Path(bundled_bn_db).parent / path
    return bundled_bn_db, path


def snapshot_with_footer(tmp_path, frame: pd.DataFrame, footer: dict) -> Path:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({b"xasrepo.snapshot": json.dumps(footer).encode()})
    path = tmp_path / "snap.parquet"
    pq.write_table(table, path)
    return path


# ----------------------------------------------------------------------------------------------
# embedding: words, axes, colours


def test_pca_axes_carry_the_explained_variance_of_the_stored_fit(bn):
    _, path = bn
    ratios = footer_metadata(path)["fit_info"]["explained_variance_ratio"]
    fig = emb.embedding_figure(path, "polymorph")
    ax = fig.axes[0]
    assert ax.get_xlabel() == f"PC1 ({100 * ratios[0]:.1f} % of variance)"
    assert ax.get_ylabel() == f"PC2 ({100 * ratios[1]:.1f} % of variance)"
    assert ratios[0] >= ratios[1] > 0  # PCA orders its components by variance
    title = fig._suptitle.get_text()
    n = len(pq.read_table(path))
    assert title.startswith("B K-edge") and "PCA map" in title and f"{n} spectra" in title
    assert "polymorph" in title and "umap_" not in title and "pca_" not in title
    assert "window" in ax.get_title() and "eV" in ax.get_title()  # the recipe in the subtitle
    plt.close(fig)


@pytest.mark.parametrize("method, x, z", [("umap", "UMAP 1", "UMAP 3"), ("mds", "MDS 1", "MDS 3"),
                                          ("pca", "PC1 (50.0 % of variance)", "PC3 (10.0 % of variance)"),
                                          (None, "embedding x", "embedding z")])
def test_axis_names_follow_the_method_and_a_3d_snapshot_draws_the_chosen_pair(tmp_path, method, x, z):
    frame = pd.DataFrame({"spectrum_id": range(1, 21), "x": np.arange(20.0), "y": np.arange(20.0) ** 0.5,
                          "z": -np.arange(20.0), "polymorph": ["h-BN", "c-BN"] * 10})
    footer = {"method": method, "n_components": 3, "element": "N", "edge": "K",
              "fit_info": {"explained_variance_ratio": [0.5, 0.3, 0.1]}} if method else {}
    path = snapshot_with_footer(tmp_path, frame, footer) if method else frame
    fig = emb.embedding_figure(path, "polymorph", axes="x,z")
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == (x, z)
    xs, ys = np.concatenate([c.get_offsets() for c in ax.collections]).T
    assert sorted(ys) == sorted(-np.arange(20.0))  # z drawn, not y
    if method:
        assert fig._suptitle.get_text().startswith("N K-edge") and "of 3" in fig._suptitle.get_text()
    plt.close(fig)
    with pytest.raises(UsageError, match="two different coordinates"):
        emb.embedding_figure(frame.drop(columns="z"), "polymorph", axes="x,z")
    with pytest.raises(UsageError, match="two different coordinates"):
        emb.check_axes(frame, "x,x")


def test_pristine_is_a_class_of_its_own_and_unknown_stays_grey():
    # only a stated 'none' is pristine: a computed spectrum whose defect status is unknown (a FEFF
    # run with a POSCAR nothing was said about) stays grey like a measured one
    frame = pd.DataFrame({"spectrum_id": [1, 2, 3, 4, 5], "x": [0.0] * 5, "y": [0.0] * 5,
                          "origin": ["computed", "computed", "experimental", "computed", "computed"],
                          "defect_kind": ["none", "vacancy", None, "substitution", None],
                          "defect_name": [None, "v_N", None, "C_B", None]})
    labels = emb.category_values(frame, "defect_kind").tolist()
    assert labels == ["pristine", "vacancy", "n/a", "substitution", "n/a"]
    assert emb.category_values(frame, "defect_name").tolist() == ["pristine", "v_N", "n/a", "C_B", "n/a"]
    colors = emb.category_colors(["vacancy", "pristine", "substitution", "n/a", "other (3 values)"])
    assert colors["pristine"] == emb.PRISTINE_COLOR and colors["n/a"] == emb.MISSING_COLOR
    real = [colors["vacancy"], colors["substitution"]]
    assert len(set(real)) == 2 and not set(real) & {emb.MISSING_COLOR, emb.OTHER_COLOR, emb.PRISTINE_COLOR}


def test_palette_colours_are_distinct_and_none_is_grey():
    from matplotlib.colors import to_rgb

    rgb = np.array([to_rgb(c) for c in emb.CATEGORY_PALETTE])
    distances = np.linalg.norm(rgb[:, None, :] - rgb[None, :, :], axis=-1) + np.eye(len(rgb))
    assert distances.min() > 0.15  # no two classes in near-identical colours
    saturation = rgb.max(axis=1) - rgb.min(axis=1)
    assert saturation.min() > 0.2  # no grey: grey means n/a


def test_a_signed_quantity_is_centred_on_zero_and_outliers_do_not_take_the_scale(tmp_path):
    rng = np.random.default_rng(3)
    values = rng.normal(0.0, 0.05, 200)
    values[:3] = [-0.58, 0.39, 2.5]  # a few extreme values, as sigma charge transfer has
    frame = pd.DataFrame({"spectrum_id": range(200), "x": rng.normal(size=200), "y": rng.normal(size=200),
                          "sigma_charge_transfer": values})
    fig, ax = plt.subplots()
    drawn = emb.draw_embedding(ax, frame, "sigma_charge_transfer")
    norm = drawn["norm"]
    assert drawn["signed"] and drawn["cmap"].name == emb.DIVERGING_COLORMAP
    assert norm.vmin == -norm.vmax  # centred: 0 is the middle colour
    assert norm.vmax < 0.39 and norm.vmax == pytest.approx(np.quantile(np.abs(values), emb.ROBUST_QUANTILE))
    beyond = int((np.abs(values) > norm.vmax).sum())
    assert drawn["n_beyond"] == beyond >= 3
    assert any(t.get_text().startswith("above the colour scale") for t in ax.get_legend().get_texts())
    assert drawn["colorbar"].extend == "both"
    plt.close(fig)


def test_limits_stay_the_full_range_when_nothing_is_extreme():
    values = np.linspace(-1.0, 2.0, 50)
    assert emb.robust_limits(values, centred=True) == (-2.0, 2.0)
    assert emb.robust_limits(values, centred=False) == (-1.0, 2.0)
    assert emb.is_signed("hirshfeld_charge", values)  # both signs in the data
    assert not emb.is_signed("density_g_cm3", np.linspace(2.1, 3.5, 50))


def test_an_unsigned_quantity_keeps_a_sequential_map(tmp_path):
    frame = pd.DataFrame({"spectrum_id": range(30), "x": np.arange(30.0), "y": np.zeros(30),
                          "density_g_cm3": np.linspace(2.1, 3.5, 30)})
    fig, ax = plt.subplots()
    drawn = emb.draw_embedding(ax, frame, "density_g_cm3")
    assert drawn["cmap"].name == emb.SEQUENTIAL_COLORMAP and (drawn["norm"].vmin, drawn["norm"].vmax) == (2.1, 3.5)
    assert drawn["n_beyond"] == 0
    plt.close(fig)


def test_contours_are_drawn_per_class(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"spectrum_id": range(60), "x": np.r_[rng.normal(-3, 1, 30), rng.normal(3, 1, 30)],
                          "y": rng.normal(size=60), "kind": ["a"] * 30 + ["b"] * 30})
    fig, ax = plt.subplots()
    emb.draw_embedding(ax, frame, "kind", contours=True)
    from matplotlib.contour import ContourSet

    assert sum(isinstance(c, ContourSet) for c in ax.get_children()) + len(
        [c for c in ax.collections if c.__class__.__name__ == "QuadContourSet"]) >= 2
    plt.close(fig)


def test_vector_output_and_resolution(tmp_path):
    frame = pd.DataFrame({"spectrum_id": [1, 2, 3], "x": [0.0, 1.0, 2.0], "y": [1.0, 0.0, 1.0], "k": ["a", "b", "a"]})
    svg = emb.plot_embedding(frame, "k", tmp_path / "e.svg")
    assert b"<svg" in svg.read_bytes()[:2000]
    pdf = emb.plot_embedding(frame, "k", tmp_path / "e.pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-"
    low = emb.plot_embedding(frame, "k", tmp_path / "low.png", dpi=50)
    high = emb.plot_embedding(frame, "k", tmp_path / "high.png", dpi=100)
    import matplotlib.image

    assert matplotlib.image.imread(high).shape[1] == 2 * matplotlib.image.imread(low).shape[1]
    with pytest.raises(UsageError, match="unknown picture format '.jpeg'"):
        emb.plot_embedding(frame, "k", tmp_path / "e.jpeg")
    with pytest.raises(UsageError, match="--dpi 5"):
        emb.plot_embedding(frame, "k", tmp_path / "e.png", dpi=5)
    assert not (tmp_path / "e.jpeg").exists() and not (tmp_path / "e.png").exists()


def test_cli_embedding_takes_axes_dpi_and_refuses_a_bad_suffix_in_one_line(cli, bn, tmp_path):
    _, path = bn
    out = tmp_path / "m.svg"
    result = cli("plot", "embedding", path, "-c", "sigma_charge_transfer", "-o", out, "--dpi", "80")
    assert result.exit_code == 0 and out.exists()
    bad = cli("plot", "embedding", path, "-c", "polymorph", "-o", tmp_path / "m.gif")
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1 and ".gif" in bad.stderr


# ----------------------------------------------------------------------------------------------
# spectra


def _ids(engine, sql: str) -> list[int]:
    from sqlalchemy import text

    with engine.connect() as conn:
        return [int(r[0]) for r in conn.execute(text(sql))]


def test_one_panel_per_element_and_edge_never_a_shared_axis(bn):
    path, _ = bn
    with db.connected(path, read_only=True) as engine:
        b = _ids(engine, "SELECT spectrum_id FROM spectrum_overview WHERE absorbing_element = 'B' "
                         "AND polarization = 'iso' ORDER BY spectrum_id LIMIT 2")
        n = _ids(engine, "SELECT spectrum_id FROM spectrum_overview WHERE absorbing_element = 'N' "
                         "AND polarization = 'iso' ORDER BY spectrum_id LIMIT 1")
        fig = sp.spectra_figure(engine, b + n)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 2
    assert panels[0].get_title(loc="left").startswith("B K-edge, iso (2 spectra")
    assert panels[1].get_title(loc="left").startswith("N K-edge, iso (1 spectrum")
    b_lines, n_lines = panels[0].get_lines(), panels[1].get_lines()
    assert len(b_lines) == 2 and len(n_lines) == 1
    assert max(line.get_xdata().max() for line in b_lines) < 300 < n_lines[0].get_xdata().min()
    title = fig._suptitle.get_text()
    assert "B K-edge and N K-edge" in title and "XANES" in title and "3 computed spectra" in title
    plt.close(fig)


def test_many_stacked_curves_are_drawn_and_named_in_groups_and_say_so(bn):
    path, _ = bn
    with db.connected(path, read_only=True) as engine:
        ids = _ids(engine, "SELECT spectrum_id FROM spectrum_overview WHERE absorbing_element = 'B' "
                           "AND polarization = 'iso' ORDER BY spectrum_id LIMIT 62")
        fig = sp.spectra_figure(engine, ids, offset="auto", normalize="max")
    ax = fig.axes[0]
    assert len(ids) == 62 and len(ax.get_lines()) == 62 > sp.MAX_LABELS_PER_PANEL
    legend = ax.get_legend()
    assert legend.get_title().get_text().startswith("62 curves grouped by material, defect")
    assert sum(int(re.search(r"\((\d+) curves?\)$", t.get_text()).group(1)) for t in legend.get_texts()) == 62
    assert any("pristine" in t.get_text() for t in legend.get_texts())
    assert ax.get_title(loc="left").startswith("B K-edge, iso (62 spectra")  # one polarisation: said once
    assert ax.get_ylabel().startswith("μ(E) / its maximum, offset")
    plt.close(fig)


# Selections of the bundled set that each panel must name completely: overlaid and stacked, one
# by one (<= MAX_LABELS_PER_PANEL curves) and in groups, one polarisation and several. The first
# is the newcomer's: 37 B K curves, where naming every 2nd curve left r-BN iso and out_of_plane
# out of the legend.
LEGEND_CASES = [
    ("B pristine and v_B", "absorbing_element = 'B' AND (defect_name IS NULL OR defect_name = 'v_B')", None),
    ("B pristine and v_B, stacked", "absorbing_element = 'B' AND (defect_name IS NULL OR defect_name = 'v_B')",
     "auto"),
    ("pristine", "defect_name IS NULL", None),
    ("pristine, stacked", "defect_name IS NULL", "auto"),
    ("r-BN and w-BN", "polymorph IN ('r-BN', 'w-BN')", None),
    ("one spectrum", "spectrum_id = 15", None),
    ("h-BN v_N iso", "polymorph = 'h-BN' AND defect_name = 'v_N' AND polarization = 'iso'", None),
]
POLARIZATION_WORDS = ("iso", "in_plane", "out_of_plane")


@pytest.mark.parametrize("name,where,offset", LEGEND_CASES, ids=[c[0] for c in LEGEND_CASES])
def test_every_drawn_curve_is_named_on_its_panel_with_one_spelling_of_the_polarisation(bn, name, where, offset):
    """Per panel: each line is named by exactly one legend entry (or, stacked, one label at its
    end); the names are those of the spectra (or groups of them) the database has for that
    element and edge; the polarisation is spelled as stored (iso, in_plane, out_of_plane), in
    every name when the panel mixes them, else once in the panel title."""
    path, _ = bn
    with db.connected(path, read_only=True) as engine:
        from sqlalchemy import text

        with engine.connect() as conn:
            rows = conn.execute(text("SELECT spectrum_id, absorbing_element, edge, polymorph, polarization "
                                     f"FROM spectrum_overview WHERE {where} ORDER BY spectrum_id")).all()
        fig = sp.spectra_figure(engine, [r[0] for r in rows], offset=offset)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    expected = {}
    for r in rows:
        expected.setdefault(f"{r[1]} {r[2]}-edge", []).append(r)
    assert sorted(ax.get_title(loc="left").split(" (")[0].split(",")[0] for ax in panels) == sorted(expected)
    for ax in panels:
        title = ax.get_title(loc="left")
        mine = expected[title.split(" (")[0].split(",")[0]]
        lines = ax.get_lines()
        assert len(lines) == len(mine), title
        polarizations = {r[4] for r in mine}
        legend = ax.get_legend()
        entries = [t.get_text() for t in legend.get_texts()] if legend else []
        entries = [e for e in entries if not e.startswith("embedding window")]
        if len(mine) > sp.MAX_LABELS_PER_PANEL:  # in groups: a colour and an entry (with its count) per group
            handles = [h for h in legend.legend_handles if not str(h.get_label()).startswith("embedding")]
            colours = [matplotlib.colors.to_hex(h.get_color()) for h in handles]
            assert len(set(colours)) == len(entries), title
            drawn = [matplotlib.colors.to_hex(line.get_color()) for line in lines]
            assert set(drawn) == set(colours), title  # every line's colour is a legend entry's
            for colour, entry in zip(colours, entries):
                assert int(re.search(r"\((\d+) curves?\)$", entry).group(1)) == drawn.count(colour), entry
            assert legend.get_title().get_text().startswith(f"{len(mine)} curves grouped by")
            names = entries
            for polymorph, polarization in {(r[3], r[4]) for r in mine}:
                assert any(e.split()[0] == polymorph and (len(polarizations) == 1 or f" {polarization} (" in e)
                           for e in entries), (title, polymorph, polarization)
        else:  # one by one: the line's own label, in the legend or at the end of the stacked curve
            names = [t.get_text() for t in ax.texts if t.get_text().startswith("#")] if offset else entries
            assert sorted(names) == sorted(line.get_label() for line in lines), title
            assert sorted(int(n.split()[0][1:]) for n in names) == [r[0] for r in mine], title
            for n in names:
                r = next(r for r in mine if r[0] == int(n.split()[0][1:]))
                assert n.split()[1] == r[3], n
        words = [w for n in names for w in n.replace("(", " ").split() if w in POLARIZATION_WORDS]
        if len(polarizations) > 1:
            assert len(words) == len(names), title  # each name says its polarisation
        else:
            assert words == [] and title.split(" (")[0].endswith(f", {polarizations.pop()}"), title
        for text_ in [title, *names]:
            assert not any(s in text_ for s in ("E∥", "E⊥", "E||", "in-plane", "out-of-plane")), text_
    plt.close(fig)


def test_normalisations_are_what_they_say(bn):
    energy = np.linspace(180.0, 220.0, 401)
    mu = 0.3 + 0.01 * (energy - 180.0) + 2.0 * np.exp(-0.5 * ((energy - 192.0) / 0.8) ** 2)
    assert sp.normalize_spectrum(energy, mu, "max").max() == pytest.approx(1.0)
    assert np.trapezoid(sp.normalize_spectrum(energy, mu, "area"), energy) == pytest.approx(1.0)
    assert np.array_equal(sp.normalize_spectrum(energy, mu, "none"), mu)
    assert sp.check_normalization(True) == "max" and sp.check_normalization("edge-step") == "edge_step"
    with pytest.raises(UsageError, match="--norm 'peak'"):
        sp.check_normalization("peak")
    with pytest.raises(UsageError, match="spectrum 7: its maximum"):
        sp.normalize_spectrum(energy, -np.ones_like(energy), "max", label="spectrum 7")
    assert "edge step = 1" in sp.normalization_axis_label("edge_step")
    assert "area (eV⁻¹)" in sp.normalization_axis_label("area")


def test_edge_step_normalisation_is_larch_pre_edge():
    edge = pytest.importorskip("repository.analysis.edge", reason="the Larch pre_edge port (issue 13) is not merged")
    energy = np.linspace(7050.0, 7400.0, 701)
    # an arctan edge of step 2.5 at 7112 eV on a sloping pre-edge: Larch normalises the step to 1
    mu = 0.4 + 1e-4 * (energy - 7050.0) + 2.5 * (0.5 + np.arctan((energy - 7112.0) / 1.5) / np.pi)
    norm = sp.normalize_spectrum(energy, mu, "edge_step")
    expected = edge.pre_edge(energy, mu).norm
    assert np.allclose(norm, expected)
    assert norm[energy > 7250].mean() == pytest.approx(1.0, abs=0.05)
    assert abs(norm[energy < 7090].mean()) < 0.05


def test_the_snapshot_window_is_shaded_on_its_own_edge_only(bn):
    path, snapshot = bn
    recipe = footer_metadata(snapshot)["recipe"]
    with db.connected(path, read_only=True) as engine:
        ids = _ids(engine, "SELECT MIN(spectrum_id) FROM spectrum_overview WHERE polarization = 'iso' "
                           "GROUP BY absorbing_element ORDER BY absorbing_element")
        fig = sp.spectra_figure(engine, ids, snapshot=snapshot)
    b_panel, n_panel = fig.axes[:2]
    spans = [p for p in b_panel.patches if p.get_label().startswith("embedding window")]
    assert len(spans) == 1
    lo, hi = spans[0].get_x(), spans[0].get_x() + spans[0].get_width()  # a Rectangle in data x
    assert (lo, hi) == (pytest.approx(recipe["energy_min_ev"]), pytest.approx(recipe["energy_max_ev"]))
    assert not [p for p in n_panel.patches if p.get_label().startswith("embedding window")]
    plt.close(fig)


def test_a_relative_window_is_named_not_shaded():
    window = {"element": "B", "edge": "K", "lo": -5.0, "hi": 30.0, "relative": True, "alignment": "edge_onset"}
    fig, ax = plt.subplots()
    assert not sp._shade_window(ax, window, ("B", "K"))
    assert not ax.patches and "from each edge" in ax.texts[0].get_text()
    plt.close(fig)


def test_dos_panels_have_units_and_the_fermi_level(bn):
    path, _ = bn
    with db.connected(path, read_only=True) as engine:
        ids = _ids(engine, "SELECT spectrum_id FROM spectrum_overview WHERE polymorph = 'h-BN' AND polarization = 'iso' "
                           "AND (defect_kind IS NULL OR defect_kind = 'none') ORDER BY spectrum_id LIMIT 1")
        fig = sp.spectra_figure(engine, ids, with_dos=True, normalize="area")
    spectrum_ax, dos_ax = fig.axes[:2]
    assert dos_ax.get_ylabel() == "DOS (states/eV)" and dos_ax.get_xlabel() == "E − E_F (eV)"
    assert spectrum_ax.get_ylabel() == "μ(E) / its area (eV⁻¹)" and "intensity" not in spectrum_ax.get_ylabel()
    assert spectrum_ax.get_title(loc="left").startswith("B K-edge, #")
    plt.close(fig)


def test_cli_spectra_norm_choices_and_vector_output(cli, bn, tmp_path):
    path, snapshot = bn
    out = tmp_path / "s.pdf"
    ok = cli("plot", "spectra", "--element", "B", "--limit", "3", "--norm", "area", "--snapshot", snapshot,
             "-o", out, "--db", path)
    assert ok.exit_code == 0 and out.read_bytes()[:5] == b"%PDF-"
    clash = cli("plot", "spectra", "1", "--norm", "area", "--normalize", "-o", tmp_path / "c.png", "--db", path)
    assert clash.exit_code == 2 and clash.stderr.count("\n") == 1 and not (tmp_path / "c.png").exists()


# ----------------------------------------------------------------------------------------------
# the overview figure


def test_pi_and_sigma_peaks_follow_the_coordination():
    from repository.plots.figure import pi_sigma_peaks

    energy = np.linspace(185.0, 215.0, 601)
    mu = np.exp(-0.5 * ((energy - 192.0) / 0.5) ** 2) + 0.8 * np.exp(-0.5 * ((energy - 199.0) / 1.5) ** 2)
    assert pi_sigma_peaks(energy, mu, 3) == {"pi": pytest.approx(192.0, abs=0.05),
                                             "sigma": pytest.approx(199.0, abs=0.05)}
    sp3 = 0.8 * np.exp(-0.5 * ((energy - 199.0) / 1.5) ** 2)
    assert pi_sigma_peaks(energy, sp3, 4) == {"sigma": pytest.approx(199.0, abs=0.05)}
    assert "pi" not in pi_sigma_peaks(energy, mu, None)  # no π* claimed without the geometry


def test_near_defect_labels_use_the_absorber_defect_distance():
    from repository.plots.figure import near_defect_labels

    # defect_kind 'none' is a structure stated to be defect-free; None (unknown, revision 0009) is not pristine
    frame = pd.DataFrame({"spectrum_id": [1, 2, 3, 4, 5], "x": [0.0] * 5, "y": [0.0] * 5, "origin": ["computed"] * 5,
                          "defect_kind": ["none", "vacancy", "vacancy", "substitution", None],
                          "absorber_defect_distance_a": [np.nan, 1.45, 4.3, np.nan, np.nan]})
    assert near_defect_labels(frame).tolist() == ["pristine", "vacancy (near)", "far from the defect (> 2.8 Å)",
                                                  "n/a", "n/a"]


def test_overview_figure_of_the_bundled_set(bn, tmp_path):
    from repository.plots.figure import overview_figure, representative_ids

    path, snapshot = bn
    out = tmp_path / "overview.png"
    with db.connected(path, read_only=True) as engine:
        overview_figure(engine, [snapshot], out)
    assert out.stat().st_size > 50_000
    frame = pq.read_table(snapshot).to_pandas()
    chosen = representative_ids(frame)
    assert {"h-BN", "c-BN"} <= set(chosen)  # pristine spectra of both main polymorphs
    for polymorph, spectrum_id in chosen.items():
        row = frame[frame.spectrum_id == spectrum_id].iloc[0]
        assert row.polymorph == polymorph and (pd.isna(row.defect_kind) or row.defect_kind == "none")


# ----------------------------------------------------------------------------------------------
# the explorer page: axes per method, 3-D pairs, pixel drawing for large snapshots


def _page_data(path: Path) -> dict:
    import re

    block = re.search(r'<script type="application/json" id="xr-data">(.*?)</script>', path.read_text(), re.DOTALL)
    return json.loads(block.group(1).replace("<\\/", "</"))


def test_explorer_names_axes_per_method_and_offers_pairs_of_a_3d_snapshot(tmp_path, monkeypatch):
    from repository.plots import explorer

    frame = pd.DataFrame({"spectrum_id": range(1, 31), "x": np.arange(30.0), "y": np.ones(30), "z": -np.arange(30.0),
                          "polymorph": ["h-BN", "c-BN", "w-BN"] * 10, "absorbing_element": "B", "edge": "K"})
    footer = {"method": "pca", "n_components": 3, "element": "B", "edge": "K", "snapshot_id": "pca_x_1",
              "fit_info": {"explained_variance_ratio": [0.6, 0.25, 0.1]}}
    path = snapshot_with_footer(tmp_path, frame, footer)
    data = _page_data(explorer.explore(path, tmp_path / "p.html"))
    assert data["axisNames"] == {"x": "PC1 (60.0 % of variance)", "y": "PC2 (25.0 % of variance)",
                                 "z": "PC3 (10.0 % of variance)"}
    assert data["z"] == [-float(v) for v in range(30)] and data["renderer"] == "vector"
    assert data["title"].startswith("B K-edge: PCA map") and "30 spectra" in data["title"]
    flat = _page_data(explorer.write_explorer(frame.drop(columns="z"), tmp_path / "q.html"))
    assert "z" not in flat and flat["axisNames"] == {"x": "embedding x", "y": "embedding y"}
    monkeypatch.setattr(explorer, "VECTOR_POINTS", 20)
    assert _page_data(explorer.write_explorer(frame, tmp_path / "r.html"))["renderer"] == "pixels"


def test_cli_overview_refuses_what_it_cannot_draw_in_one_line(cli, example_set, tmp_path):
    too_small = cli("plot", "overview", "--data", example_set, "-o", tmp_path / "o.png")
    assert too_small.exit_code == 2 and "no element and edge with at least 3 isotropic spectra" in too_small.stderr
    not_a_set = cli("plot", "overview", "--data", tmp_path, "-o", tmp_path / "o.png")
    assert not_a_set.exit_code == 2 and "calcset.toml missing" in not_a_set.stderr
    assert not (tmp_path / "o.png").exists()


@pytest.mark.slow
def test_cli_overview_of_the_bundled_set_is_one_command(cli, tmp_path):
    from repository.calcset import BUNDLED_SET

    if not (BUNDLED_SET / "calcset.toml").exists():
        pytest.skip("the bundled BN set (data/bn) is absent")
    out = tmp_path / "overview.pdf"
    result = cli("plot", "overview", "-o", out, "--db", tmp_path / "kept.db")
    assert result.exit_code == 0 and out.read_bytes()[:5] == b"%PDF-"
    assert (tmp_path / "kept.db").is_file() and len(list((tmp_path / "kept.snapshots").glob("pca_*.parquet"))) == 2
    import re

    assert re.search(r"B K: \d+ spectra, N K: \d+ spectra", result.stdout), result.stdout


def test_explorer_uses_the_png_palette_and_the_pristine_class(tmp_path):
    from repository.plots import explorer

    frame = pd.DataFrame({"spectrum_id": [1, 2, 3, 4], "x": [0.0, 1, 2, 3], "y": [0.0, 1, 0, 1],
                          "origin": ["computed", "computed", "experimental", "computed"],
                          "defect_kind": ["none", None, None, "vacancy"]})
    data = _page_data(explorer.write_explorer(frame, tmp_path / "p.html"))
    assert data["columns"]["defect_kind"] == ["pristine", None, None, "vacancy"]  # unknown is not pristine
    assert json.dumps(list(emb.CATEGORY_PALETTE)) in explorer._APP and "#7f7f7f" not in explorer._APP
