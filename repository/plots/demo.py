"""SYNTHETIC demo data for the plots: a snapshot-shaped table and made-up spectra.

Nothing here is physics: clusters of points with made-up properties and Gaussian "spectra" whose
peak positions drift with the embedding coordinates, so pictures of the plotting code (tests, the
documentation's screenshot) have something to show without a database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

CLUSTERS = (  # crystal system, dimensionality, defect kinds seen, centre in the plane
    ("hexagonal", 2, ("none", "vacancy", "substitution"), (-3.0, 1.0)),
    ("cubic", 3, ("none", "substitution"), (3.0, 2.0)),
    ("trigonal", 3, ("none", "vacancy"), (0.5, -3.0)),
)


def synthetic_snapshot(n: int = 150, seed: int = 0) -> tuple[pd.DataFrame, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """(frame, spectra): ``n`` SYNTHETIC rows (spectrum ids 1..n) and a made-up B K-edge-like spectrum each."""
    # lazy import: start-up time (pandas is heavy; only this path needs it)
    import pandas as pd

    rng = np.random.default_rng(seed)
    cluster = rng.integers(0, len(CLUSTERS), n)
    centres = np.array([c[3] for c in CLUSTERS])[cluster]
    xy = centres + rng.normal(scale=0.9, size=(n, 2))
    defect = [str(rng.choice(CLUSTERS[c][2])) for c in cluster]
    charge = 0.7 - 0.08 * xy[:, 0] + rng.normal(scale=0.03, size=n)
    charge[rng.random(n) < 0.05] = np.nan  # some spectra have no charge analysis
    frame = pd.DataFrame({
        "spectrum_id": np.arange(1, n + 1),
        "x": xy[:, 0], "y": xy[:, 1],
        "reduced_formula": ["BN" if CLUSTERS[c][0] != "cubic" else "BP" for c in cluster],
        "crystal_system": [CLUSTERS[c][0] for c in cluster],
        "dimensionality": [CLUSTERS[c][1] for c in cluster],
        "defect_kind": defect,
        "defect_name": [{"none": None, "vacancy": "v_N", "substitution": "C_N"}[d] for d in defect],
        "absorbing_element": "B", "edge": "K",
        "hirshfeld_charge": charge,
    })
    energy = np.linspace(185.0, 215.0, 241)
    spectra = {}
    for row in range(n):
        pi_peak = 192.0 + 0.3 * xy[row, 0]
        sigma_peak = 199.0 + 0.5 * xy[row, 1]
        intensity = (np.exp(-0.5 * ((energy - pi_peak) / 0.45) ** 2)
                     + 0.6 * np.exp(-0.5 * ((energy - sigma_peak) / 1.6) ** 2))
        spectra[row + 1] = (energy, intensity)
    return frame, spectra
