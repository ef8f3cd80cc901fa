"""The explorer in a real browser (headless Chromium through the DevTools protocol, no network, no
GPU): no console errors, every point drawn, hovering/clicking shows spectra, the colour-by selector
works -- on a small snapshot, and on 100,000 points (pixels read back from the canvas, the hovered
point checked against a brute-force nearest-point search, spectra decoded in the page compared with
what was written).

Skipped when Chromium is absent (Debian: apt-get install -y chromium). The snapshots and spectra
are SYNTHETIC (repository.plots.demo).
"""

from __future__ import annotations

import numpy as np
import pytest

from .browser import HeadlessPage, find_chromium
from repository.plots.demo import synthetic_snapshot
from repository.plots.embedding import CATEGORY_PALETTE
from repository.plots.explorer import write_explorer

pytestmark = pytest.mark.skipif(find_chromium() is None,
                                reason="headless browser test needs Chromium (apt-get install -y chromium)")

N_POINTS = 40
N_LARGE = 100_000
MISSING_SPECTRUM = 7
STATUS = "document.getElementById('xr-status').dataset"
READY = f"{STATUS}.state === 'ready' && Object.assign({{}}, {STATUS})"
# distinct colours and the number of painted pixels of the points canvas, counted in the page
CANVAS_COLOURS = """(function () {
    var c = document.getElementById('xr-points'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    var seen = new Map(), painted = 0;
    for (var i = 0; i < d.length; i += 4) {
        if (d[i + 3] !== 255) continue;
        painted++;
        var key = '#' + [d[i], d[i + 1], d[i + 2]].map(function (v) { return v.toString(16).padStart(2, '0'); }).join('');
        seen.set(key, (seen.get(key) || 0) + 1);
    }
    return {painted: painted, colours: Object.fromEntries(seen)};
})()"""


def point_centre(page: HeadlessPage, row: int) -> tuple[list[float], int]:
    """Screen position of a row's point (whole pixels, as a mouse gives) and its spectrum id."""
    x, y = page.evaluate(f"xrExplorer.screenOf({row})")
    return [round(x), round(y)], page.evaluate(f"xrExplorer.ids[{row}]")


def choose(page: HeadlessPage, field: str) -> None:
    page.evaluate(f"""(function () {{ var s = document.getElementById('xr-colour');
        s.value = '{field}'; s.dispatchEvent(new Event('change')); }})()""")
    assert page.wait_for(f"{STATUS}.field === '{field}'", 5)


def legend(page: HeadlessPage) -> dict:
    return page.evaluate("""({colourbars: document.querySelectorAll('#xr-legend .xr-colourbar').length,
        entries: Array.from(document.querySelectorAll('#xr-legend .xr-legendtext')).map(e => e.textContent)})""")


@pytest.fixture(scope="module")
def explorer_file(tmp_path_factory):
    frame, spectra = synthetic_snapshot(n=N_POINTS, seed=3)
    del spectra[MISSING_SPECTRUM]
    return write_explorer(frame, tmp_path_factory.mktemp("explorer") / "explorer.html", spectra=spectra,
                          title="SYNTHETIC demo snapshot")


@pytest.fixture(scope="module")
def browser():
    with HeadlessPage(1400, 900) as page:
        yield page


@pytest.fixture
def page(browser, explorer_file):
    browser.problems.clear()
    browser.open(explorer_file)
    assert browser.wait_for(READY), "the explorer never reported ready"
    return browser


def test_explorer_draws_every_point_with_no_console_errors(page, tmp_path):
    status = page.evaluate(f"Object.assign({{}}, {STATUS})")
    assert status["points"] == str(N_POINTS) and status["errors"] == "0" and status["renderer"] == "vector"
    assert status["field"] == "crystal_system" and int(status["spectrumPoints"]) > 100
    assert page.problems == []
    shot = page.screenshot(tmp_path / "explorer.png")
    import matplotlib.image

    pixels = (matplotlib.image.imread(shot)[..., :3] * 255).round().astype(int)
    assert pixels.shape[:2] == (900, 1400)
    line = np.abs(pixels - [0x1F, 0x77, 0xB4]).max(axis=-1) <= 4  # the spectrum line
    assert line[:, 800:].sum() > 200
    first = np.abs(pixels - [0x00, 0x72, 0xB2]).max(axis=-1) <= 4  # the first category's markers
    assert first[:, :800].sum() > 10 * 20  # a dozen or so discs of ~40 pixels


def test_hovering_a_point_shows_its_spectrum_and_properties(page):
    (x, y), spectrum_id = point_centre(page, 5)
    assert spectrum_id != int(page.evaluate(f"{STATUS}.selected"))
    page.mouse_move(x, y)
    assert page.wait_for(f"{STATUS}.selected === '{spectrum_id}'", 5), "hover did not show the spectrum"
    assert int(page.evaluate(f"{STATUS}.spectrumPoints")) > 100
    properties = page.evaluate("document.getElementById('xr-props').innerText")
    assert f"spectrum id\t{spectrum_id}" in properties and "crystal system" in properties
    assert page.evaluate("document.getElementById('xr-tip').innerText").startswith(f"spectrum {spectrum_id}\n")
    assert page.problems == []


def test_clicking_keeps_a_spectrum_after_the_mouse_leaves(page):
    (x, y), clicked = point_centre(page, 2)
    (hx, hy), hovered = point_centre(page, 9)
    page.click(x, y)
    assert page.wait_for(f"{STATUS}.selected === '{clicked}'", 5)
    page.mouse_move(hx, hy)
    assert page.wait_for(f"{STATUS}.selected === '{hovered}'", 5)
    page.mouse_move(5, 890)  # off the map
    assert page.wait_for(f"{STATUS}.selected === '{clicked}'", 5), "the clicked spectrum did not come back"


def test_colour_by_selector_switches_between_legend_and_colour_bar(page):
    choose(page, "hirshfeld_charge")
    numeric = legend(page)
    assert int(page.evaluate(f"{STATUS}.points")) == N_POINTS and numeric["colourbars"] == 1
    choose(page, "dimensionality")
    categories = legend(page)
    assert int(page.evaluate(f"{STATUS}.points")) == N_POINTS and categories["colourbars"] == 0
    assert sorted(label.split(" ")[0] for label in categories["entries"]) == ["2", "3"]
    assert sum(int(label.split("(")[1].rstrip(")")) for label in categories["entries"]) == N_POINTS
    assert page.problems == []


def test_zooming_and_double_click_reset_the_view(page):
    (x, y), _ = point_centre(page, 0)
    page.send("Input.dispatchMouseEvent", {"type": "mouseWheel", "x": x, "y": y, "deltaX": 0, "deltaY": -800})
    assert page.wait_for(f"Number({STATUS}.points) < {N_POINTS}", 5), "zooming in kept every point in view"
    after = page.evaluate("xrExplorer.screenOf(0)")
    assert abs(after[0] - x) < 1.5 and abs(after[1] - y) < 1.5  # the point under the mouse stays there
    for kind in ("mousePressed", "mouseReleased"):
        page.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 2})
    assert page.wait_for(f"{STATUS}.points === '{N_POINTS}'", 5)


def test_a_link_opens_a_colouring_and_spectrum_and_says_when_a_spectrum_is_absent(browser, explorer_file):
    browser.problems.clear()
    browser.open(explorer_file, f"color=defect_kind&spectrum={MISSING_SPECTRUM}")
    status = browser.wait_for(READY)
    assert status["field"] == "defect_kind" and status["selected"] == str(MISSING_SPECTRUM)
    assert status["spectrumPoints"] == "0"
    assert "is not stored in this page" in browser.evaluate("document.getElementById('xr-spectrum').innerText")
    assert browser.problems == []


def test_the_check_catches_script_errors_and_network_use(browser, tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text('<html><head><script src="https://cdn.plot.ly/plotly-2.35.2.min.js"></script></head>'
                      "<body><script>console.error('boom'); Plotly.newPlot('x', []);</script></body></html>")
    browser.problems.clear()
    browser.open(broken)
    browser.pump(0.3)
    problems = " | ".join(browser.problems)
    assert "console.error: boom" in problems
    assert "Plotly is not defined" in problems
    assert "cdn.plot.ly" in problems  # the blocked CDN request is reported


# ----------------------------------------------------------------------------------------------
# 10^5 points with their spectra


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    frame, spectra = synthetic_snapshot(n=N_LARGE, seed=5)
    path = write_explorer(frame, tmp_path_factory.mktemp("large") / "large.html", spectra=spectra,
                          title="SYNTHETIC 100,000 points")
    return path, frame, spectra


@pytest.mark.slow
def test_a_page_of_100000_points_draws_them_all_hovers_the_nearest_and_recolours(browser, large):
    path, frame, spectra = large
    browser.problems.clear()
    browser.open(path)
    status = browser.wait_for(READY, 120)
    assert status and status["errors"] == "0" and browser.problems == []
    assert status["total"] == status["points"] == str(N_LARGE) and status["renderer"] == "pixels"

    # the pixels: each category's colour painted (the PNG's palette, most frequent first), no other
    counts = frame["crystal_system"].value_counts()  # hexagonal, cubic, trigonal: ~1/3 each
    entries = legend(browser)["entries"]
    assert entries == [f"{label} ({count})" for label, count in counts.items()]
    pixels = browser.evaluate(CANVAS_COLOURS)
    assert set(pixels["colours"]) == {c.lower() for c in CATEGORY_PALETTE[:3]}  # no grey: nothing missing
    assert min(pixels["colours"].values()) > 10_000 and pixels["painted"] > 50_000

    # hover: the page's grid-index answer against brute force over every point's screen position
    xy = np.array(browser.evaluate("xrExplorer.screenOfAll()"), dtype=float).reshape(-1, 2)
    radius = browser.evaluate("xrExplorer.hoverRadius")
    rng = np.random.default_rng(1)
    targets = [xy[row] + rng.normal(scale=3.0, size=2) for row in rng.integers(0, N_LARGE, 12)]
    targets += [np.array([xy[:, 0].min() - 3 * radius, xy[:, 1].mean()])]  # nothing near: the pinned one stays
    pinned = browser.evaluate(f"{STATUS}.selected")
    for target in targets:
        x, y = round(target[0]), round(target[1])
        distance = np.hypot(xy[:, 0] - x, xy[:, 1] - y)
        browser.mouse_move(x, y)
        browser.pump(0.02)
        selected = int(browser.evaluate(f"{STATUS}.selected"))
        if distance.min() > radius + 1e-6:
            assert selected == int(pinned)
            continue
        chosen = int(frame.index[frame["spectrum_id"] == selected][0])
        assert distance[chosen] == pytest.approx(distance.min(), abs=1e-6), (x, y, selected)
        # the spectrum shown is the one written, decoded in the page from its own slice of the store
        shown = browser.evaluate(f"xrExplorer.spectrum({chosen})")
        energy, intensity = spectra[selected]
        np.testing.assert_allclose(shown["energy"], energy, rtol=0, atol=1e-12)
        assert np.abs(np.array(shown["intensity"]) - intensity).max() <= np.ptp(intensity) / 65534
        assert browser.evaluate(f"{STATUS}.spectrumPoints") == str(len(energy))
    assert float(browser.evaluate(f"{STATUS}.hoverMs")) < 1000  # generous: a loaded machine

    # recolour by a number: many colours; back to categories: three again; hiding one drops its points
    choose(browser, "hirshfeld_charge")
    assert legend(browser)["colourbars"] == 1 and len(browser.evaluate(CANVAS_COLOURS)["colours"]) > 100
    choose(browser, "crystal_system")
    assert len(browser.evaluate(CANVAS_COLOURS)["colours"]) == 3
    first = legend(browser)["entries"][0]
    browser.evaluate("document.querySelector('#xr-legend .xr-legend-item').click()")
    hidden = int(first.split("(")[1].rstrip(")"))
    assert browser.wait_for(f"{STATUS}.points === '{N_LARGE - hidden}'", 5)
    assert len(browser.evaluate(CANVAS_COLOURS)["colours"]) == 2
    assert browser.problems == []
