"""The explorer in a real browser (headless Chromium through the DevTools protocol, no network):
no console errors, every point drawn, hovering/clicking shows spectra, the colour-by selector works.

Skipped when Chromium is absent (Debian: apt-get install -y chromium). The snapshot and spectra
are SYNTHETIC (repository.plots.demo).
"""

from __future__ import annotations

import numpy as np
import pytest

from .browser import HeadlessPage, find_chromium
from repository.plots.demo import synthetic_snapshot
from repository.plots.explorer import write_explorer

pytestmark = pytest.mark.skipif(find_chromium() is None,
                                reason="headless browser test needs Chromium (apt-get install -y chromium)")

N_POINTS = 40
MISSING_SPECTRUM = 7
STATUS = "document.getElementById('xr-status').dataset"
READY = f"{STATUS}.state === 'ready' && Object.assign({{}}, {STATUS})"


def point_centre(page: HeadlessPage, k: int) -> tuple[list[float], int]:
    """Screen position of the k-th drawn point and the spectrum id it belongs to (read from the SVG)."""
    found = page.evaluate(f"""(function () {{
        var point = document.querySelectorAll('#xr-map .scatterlayer .point')[{k}];
        var trace = point.closest('.trace').__data__[0].trace;
        var r = point.getBoundingClientRect();
        var data = JSON.parse(document.getElementById('xr-data').textContent);
        return [[r.x + r.width / 2, r.y + r.height / 2], data.ids[trace.customdata[point.__data__.i]]];
    }})()""")
    return found[0], found[1]


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
    assert status["points"] == str(N_POINTS) and status["errors"] == "0"
    assert status["field"] == "crystal_system" and int(status["spectrumPoints"]) > 100
    assert page.problems == []
    shot = page.screenshot(tmp_path / "explorer.png")
    import matplotlib.image

    pixels = (matplotlib.image.imread(shot)[..., :3] * 255).round().astype(int)
    assert pixels.shape[:2] == (900, 1400)
    blue = np.abs(pixels - [0x1F, 0x77, 0xB4]).max(axis=-1) <= 4  # first category's markers + the spectrum line
    assert blue.sum() > 200


def test_hovering_a_point_shows_its_spectrum_and_properties(page):
    (x, y), spectrum_id = point_centre(page, 5)
    assert spectrum_id != int(page.evaluate(f"{STATUS}.selected"))
    page.mouse_move(x, y)
    assert page.wait_for(f"{STATUS}.selected === '{spectrum_id}'", 5), "hover did not show the spectrum"
    assert int(page.evaluate(f"{STATUS}.spectrumPoints")) > 100
    properties = page.evaluate("document.getElementById('xr-props').innerText")
    assert f"spectrum id\t{spectrum_id}" in properties and "crystal system" in properties
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
    def choose(field: str) -> dict:
        page.evaluate(f"""(function () {{ var s = document.getElementById('xr-colour');
            s.value = '{field}'; s.dispatchEvent(new Event('change')); }})()""")
        assert page.wait_for(f"{STATUS}.field === '{field}'", 5)
        return page.evaluate("""({points: document.querySelectorAll('#xr-map .scatterlayer .point').length,
            colourbars: document.querySelectorAll('#xr-map .colorbar').length,
            legend: Array.from(document.querySelectorAll('#xr-map .legendtext')).map(e => e.textContent)})""")

    numeric = choose("hirshfeld_charge")
    assert numeric["points"] == N_POINTS and numeric["colourbars"] == 1
    categories = choose("dimensionality")
    assert categories["points"] == N_POINTS and categories["colourbars"] == 0
    assert sorted(label.split(" ")[0] for label in categories["legend"]) == ["2", "3"]
    assert sum(int(label.split("(")[1].rstrip(")")) for label in categories["legend"]) == N_POINTS
    assert page.problems == []


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
