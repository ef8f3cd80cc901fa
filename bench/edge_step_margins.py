"""Margins of the import edge-step check (repository.edges.check_edge_step) on the real fixtures.

    python -m bench.edge_step_margins      (from the repository root; needs ../shared/fixtures)

1. Every fixture spectrum that imports (``GOOD`` of tests/test_formats_fixtures.py and the XAS Data
   Library directory) is imported into a scratch SQLite database through ``xasrepo import`` with
   the check replaced by a recorder, and the t = step / standard error of each is printed, lowest
   first: all must exceed MIN_EDGE_STEP_T.
2. Pure noise, 1 + 0.01 x (Gaussian or uniform), 10 draws of each on the energy grid of every XDI
   project and XAS Data Library file: the t distribution (the false-acceptance rate).
Quoted in docs/formats.md and at MIN_EDGE_STEP_T. Measurement only: nothing is kept.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures"


def fixture_t_values() -> list[tuple[float, str, str, str]]:
    """(t, element, edge, file) of every judged fixture spectrum that imports."""
    from typer.testing import CliRunner

    import repository.edges as edges
    from cli.main import app
    from repository import db
    from tests.test_formats_fixtures import GOOD

    found: list[tuple[float, str, str, str]] = []
    current = [""]

    def recorder(element, edge, energy, mu, tabulated_e0_ev):
        step = edges.measure_edge_step(energy, mu, tabulated_e0_ev)
        if step is not None:
            found.append((step.t, element, edge, current[0]))
        return step

    saved, edges.check_edge_step = edges.check_edge_step, recorder
    try:
        with tempfile.TemporaryDirectory() as scratch:
            target = str(Path(scratch) / "margins.db")
            db.upgrade(target)
            library = sorted(p for p in (FIXTURES / "XASDataLibrary" / "data").rglob("*") if p.is_file())
            items = list(GOOD.items()) + [(p.relative_to(FIXTURES).as_posix(), []) for p in library]
            for rel, options in items:
                current[0] = rel
                result = CliRunner().invoke(app, ["import", str(FIXTURES / rel), *options, "--db", target])
                if result.exit_code != 0:
                    print(f"did not import: {rel}: {result.output.strip()}")
    finally:
        edges.check_edge_step = saved
    return sorted(found)


def noise_t_values(draws: int = 10, seed: int = 2026) -> np.ndarray:
    from repository.edges import check_edge, measure_edge_step
    from repository.formats import read_path
    from repository.formats.common import ReadOptions

    rng = np.random.default_rng(seed)
    paths = sorted((FIXTURES / "XAS-Data-Interchange" / "data").glob("*_rt.xdi"))
    paths += sorted((FIXTURES / "XASDataLibrary" / "data").rglob("*.xdi"))
    values = []
    for path in paths:
        try:
            spectrum = read_path(path, options=ReadOptions(check_edge=False))[0].spectrum
        except Exception:  # noqa: BLE001 - a file this reader refuses has no grid to borrow
            continue
        energy = spectrum.energy_ev
        e0 = check_edge(spectrum.absorbing_element, spectrum.edge.value, energy, spectrum.intensity, computed=False)
        for _ in range(draws):
            for noise in (rng.standard_normal(energy.size), rng.uniform(-1.0, 1.0, energy.size)):
                step = measure_edge_step(energy, 1.0 + 0.01 * noise, e0)
                if step is not None:
                    values.append(step.t)
    return np.array(values)


def main() -> int:
    from repository.edges import MIN_EDGE_STEP_T

    if not FIXTURES.is_dir():
        print(f"the fixtures are not at {FIXTURES}")
        return 1
    spectra = fixture_t_values()
    print(f"{len(spectra)} fixture spectra judged; lowest t (threshold {MIN_EDGE_STEP_T:g}):")
    for t, element, edge, rel in spectra[:8]:
        print(f"  {t:10.1f}  {element} {edge}  {rel}")
    print(f"  smallest margin: {spectra[0][0] / MIN_EDGE_STEP_T:.2f}x")
    noise = noise_t_values()
    print(f"{noise.size} pure-noise spectra: t 99 % {np.percentile(noise, 99):.1f}, 99.9 % "
          f"{np.percentile(noise, 99.9):.1f}, largest {noise.max():.1f}; "
          f"{(noise >= MIN_EDGE_STEP_T).sum()} pass ({100 * (noise >= MIN_EDGE_STEP_T).mean():.2f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
