"""SYNTHETIC XANES-like spectra for tests and benchmarks (not physics: shapes with known classes).

Each spectrum is an arctan edge step plus a few Gaussian resonances whose positions and heights
depend on its class, with a little seeded noise. Classes are therefore separable, which lets tests
check that embeddings and projections group like with like.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..values import SampleInfo, SpectrumData, SpectrumRecord

GRID_START_EV = 185.0
GRID_STOP_EV = 215.0
GRID_STEP_EV = 0.25
EDGE_EV = 192.0
# (resonance offsets from the edge in eV, heights) per class
CLASS_FEATURES = (
    ((0.0, 6.0, 14.0), (2.5, 0.8, 0.5)),
    ((1.5, 9.0, 18.0), (1.2, 1.4, 0.4)),
    ((3.0, 4.0, 11.0), (0.6, 0.9, 1.3)),
    ((0.5, 12.0, 20.0), (1.8, 0.3, 0.9)),
)


def synthetic_grid() -> np.ndarray:
    """The energy grid (eV) of SYNTHETIC spectra: GRID_START_EV to GRID_STOP_EV in steps of GRID_STEP_EV."""
    n = round((GRID_STOP_EV - GRID_START_EV) / GRID_STEP_EV) + 1
    return GRID_START_EV + GRID_STEP_EV * np.arange(n)


def synthetic_intensity(energy: np.ndarray, label: int, rng: np.random.Generator, *, edge_ev: float = EDGE_EV,
                        noise: float = 0.02) -> np.ndarray:
    """A SYNTHETIC edge (arctan step at ``edge_ev``) plus Gaussian features of class ``label`` with
    random jitter and Gaussian noise of sd ``noise``, on ``energy`` (eV); shape of ``energy``."""
    centres, heights = CLASS_FEATURES[label % len(CLASS_FEATURES)]
    jitter = rng.normal(0.0, 0.3, size=len(centres))
    y = 0.5 + np.arctan((energy - edge_ev) / 0.6) / np.pi
    for centre, height, dj in zip(centres, heights, jitter):
        y = y + height * (1 + 0.1 * dj) * np.exp(-0.5 * ((energy - edge_ev - centre - dj) / 0.8) ** 2)
    return y + noise * rng.standard_normal(energy.size)


def synthetic_records(n: int, *, seed: int = 0, n_classes: int = 3, element: str = "B", edge: str = "K",
                      structures: Sequence[Any] | None = None, energy_offset_ev: float = 0.0) -> list[SpectrumRecord]:
    """``n`` labelled SYNTHETIC records; class ``i % n_classes`` (structure ``structures[class]`` if given).

    The class is stored as ``sample_name = "synthetic-class-<i>"`` and in the metadata.
    """
    rng = np.random.default_rng(seed)
    energy = synthetic_grid() + energy_offset_ev
    records = []
    for i in range(n):
        label = i % n_classes
        intensity = synthetic_intensity(energy - energy_offset_ev, label, rng)
        spectrum = SpectrumData(energy, intensity, element, edge)
        structure = structures[label] if structures is not None else None
        absorber = None
        if structure is not None:
            absorber = next(j for j, site in enumerate(structure) if site.specie.symbol == element)
        records.append(SpectrumRecord(
            spectrum=spectrum, source_file=f"synthetic/{seed}/{i}.dat",
            sample=SampleInfo(sample_name=f"synthetic-class-{label}"), structure=structure,
            absorber_site_index=absorber, metadata={"synthetic": True, "class": label, "seed": seed}))
    return records
