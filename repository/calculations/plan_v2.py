"""The BN data set v2 campaign: converged settings, balanced structures, a round-robin queue.

Runs in the project venv (pymatgen).  :func:`build_plan_v2` writes, under a *committed* campaign
folder (default ``calculations/bn-v2``), ``plan.json`` and ``structures/<sid>.json`` (worker
format) + ``<sid>.pmg.json`` (pymatgen ``as_dict``).  The plan is deterministic: building it twice
gives byte-identical files, so a runner on a fresh machine resumes from the results committed in
``calculations/bn-v2/results`` (see :mod:`.runner`).

What v2 changes against the Γ-point v1 set (issue 15, docs/bn-calculations.md):

* **k-points**: Γ-centred 2×2×1 for layered cells (h-BN, r-BN, monolayer), 2×2×2 for c-BN and
  w-BN, for every spectrum, relaxation and ground state; a denser-mesh check per polymorph.
* **bands**: enough empty bands that every spectrum reaches ``min_range_above_onset_ev`` (20 eV)
  above its onset; the worker adds bands until it does (monolayer included).
* **ΔKS**: every absorber site its own E(fch1s, +1 e) - E(gs), both at ``dks_ecut_ev`` (600 eV),
  the ground-state energy at that cutoff from a ``gse:<sid>`` job of the same cell; no reference-
  site onsets and no averaged cutoff correction.  A cutoff series on pristine h-BN and c-BN
  (``dksconv`` jobs) measures what is left.
* **relaxation**: every defect cell, plane waves, the cell's own k mesh, BFGS to
  ``relax_fmax`` (0.05 eV/Å) with up to ``relax_steps`` steps, resumable step by step.
* **balance**: five structures per polymorph (pristine, ±1.5 % strain, two rattled snapshots or a
  second stacking); v_B, v_N, C_B, C_N, O_N in h-BN, c-BN and w-BN (and the monolayer for four of
  them), B_N, N_B and Stone-Wales in the sp2 hosts; nearest B, nearest N, far B, far N per cell.
* **queue**: rounds; round r holds the r-th structure of every polymorph/host list, so every few
  CPU hours add a balanced increment instead of one polymorph at a time.  Pristine variants run
  one round ahead (:data:`VARIANT_ROUNDS_AHEAD`): they are the cheapest way to the three
  structures per polymorph that a grouped polymorph test needs; the far and second sites of
  every cell run after the nearest sites of all rounds (:data:`DEPTH_PRIORITY_OFFSET`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .bn_cells import (
    LAYERED, VALENCE, choose_absorbers, make_defect, supercell, to_worker_json,
)

CAMPAIGN_VERSION = "bn-v2"

# Thermal snapshots: every atom displaced by a Gaussian of this width per Cartesian component.
# Room-temperature mean-square displacements of B and N in h-BN/c-BN are about 0.003-0.004 Å^2
# per direction (B_iso ≈ 0.25-0.30 Å^2, B = 8π²<u²>), i.e. σ ≈ 0.06 Å.  A seeded rattle is a
# proxy for an MD snapshot (no time correlation), said so in the provenance.
RATTLE_SIGMA_A = 0.06
STRAIN = 0.015               # ±1.5 % lattice strain variants


@dataclass
class SettingsV2:
    """Numerical settings of the v2 campaign (stored in plan.json, recorded with every entry)."""
    ecut_ev: float = 300.0               # spectra, ground states, relaxations
    dks_ecut_ev: float = 600.0           # both runs of every ΔKS (N K needs ≥ 600 eV)
    xc: str = "PBE"
    smearing_ev: float = 0.05
    # 2x2x1 / 2x2x2 (the first choice) were not converged: against 4x4x1 / 3x3x3 the pristine
    # spectra moved by RMS 0.06-0.14 (h-BN, c-BN; more than the set's nearest-neighbour distance),
    # 2x2x1 put spurious peaks between π* and σ*, and c-BN's ΔKS moved 0.4 eV (measured
    # 2026-11-30, docs/bn-calculations.md). The denser K_SERIES meshes check these in turn: for the
    # bulk cells 3x3x3 failed too (B K against 4x4x4: RMS 0.097 c-BN, 0.084 w-BN; N K passed,
    # 0.051 / 0.042), so bulk production is 4x4x4 (~2.2x the CPU of 3x3x3), checked at 6x6x6.
    kpts: dict = field(default_factory=lambda: {"layered": [4, 4, 1], "bulk": [4, 4, 4]})
    # Polymorphs whose production mesh differs from ``kpts``. w-BN: its B K moved by RMS 0.107 from
    # 4x4x4 to 6x6x6 and by 0.034 from 6x6x6 to 8x8x5 (tolerance 0.051; ΔKS 193.270 / 193.269 eV),
    # so 6x6x6 is its converged mesh (measured 2026-11-30 17:14 UTC, docs/bn-calculations.md);
    # the 72-atom cells keep ``large_cell_kpts``.
    # h-BN, r-BN: one k point along c was not converged (h-BN 4x4x1 -> 4x4x4, N K RMS iso 0.108,
    # E||c 0.107; r-BN 4x4x1 -> 4x4x2, N K E||c 0.078); 4x4x2 against 4x4x4 passes every
    # polarisation of both edges (B K <= 0.024; N K iso 0.056, in-plane 0.034, E||c 0.063; 4x4x3
    # vs 4x4x4 <= 0.028, so 4x4x4 is the converged reference), measured 2026-12-01 05:50 UTC.
    # The monolayer (vacuum along c) keeps one k point along c.
    kpts_polymorph: dict = field(default_factory=lambda: {"w-BN": [6, 6, 6], "h-BN": [4, 4, 2],
                                                          "r-BN": [4, 4, 2]})
    # the 63-72-atom cells (probe set: deliberately other settings) keep the coarser in-plane
    # meshes, which on their ~2x larger in-plane cells sample about as densely as 3-4 k on the small
    # ones; along c they keep the small cells' mesh (same c), so that the cell-size check does not
    # measure the along-c error
    large_cell_kpts: dict = field(default_factory=lambda: {"layered": [2, 2, 1], "bulk": [2, 2, 2]})
    large_cell_kpts_polymorph: dict = field(default_factory=lambda: {"h-BN": [2, 2, 2], "r-BN": [2, 2, 2]})
    # empty bands: initial guesses (× occupied bands); the worker adds bands until the highest
    # converged band is this far above the onset (+ one broadening width)
    min_range_above_onset_ev: float = 20.0
    # monolayer: 5.6 reached ~21.5 of the 22 eV needed (measured on the pristine cell), 6.2 does
    nbands_conv_factor: dict = field(default_factory=lambda: {"bulk": 3.0, "h-BN-mono": 6.2})
    nbands_extra_factor: float = 1.12    # unconverged buffer bands (fixed-density run)
    broadening_fwhm_ev: float = 0.5
    grid_min_ev: float = -8.0
    grid_max_ev: float = 25.0
    grid_step_ev: float = 0.1
    relax_mode: str = "pw"
    relax_fmax: float = 0.05
    relax_steps: int = 80
    dks_ecut_correction: bool = False    # v2: ΔKS computed at dks_ecut_ev directly

    def kpts_for(self, polymorph: str, large_cell: bool = False) -> list[int]:
        """The production k mesh of a cell of ``polymorph`` (``large_cell``: the 63-72-atom cells)."""
        if not large_cell and polymorph in self.kpts_polymorph:
            return list(self.kpts_polymorph[polymorph])
        if large_cell and polymorph in self.large_cell_kpts_polymorph:
            return list(self.large_cell_kpts_polymorph[polymorph])
        meshes = self.large_cell_kpts if large_cell else self.kpts
        return list(meshes["layered" if LAYERED[polymorph] else "bulk"])


POLYMORPHS = ("h-BN", "h-BN-mono", "r-BN", "c-BN", "w-BN")
# round-robin lists: the r-th item of every list goes into round r + 1 (round 0: pristine cells)
VARIANTS = {
    "h-BN": ["strain+", "rattle1", "stack-AB", "strain-"],
    "h-BN-mono": ["strain+", "rattle1", "rattle2", "strain-"],
    "r-BN": ["strain+", "rattle1", "rattle2", "strain-"],
    "c-BN": ["strain+", "rattle1", "rattle2", "strain-"],
    "w-BN": ["strain+", "rattle1", "rattle2", "strain-"],
}
# defects per host, rotated so that each round covers different defects in different hosts
DEFECT_HOSTS = {
    "h-BN": ["v_N", "C_B", "O_N", "v_B", "C_N", "B_N", "N_B", "SW"],
    "c-BN": ["v_B", "C_N", "v_N", "O_N", "C_B"],
    "w-BN": ["C_N", "v_N", "C_B", "v_B", "O_N"],
    "h-BN-mono": ["C_B", "v_B", "C_N", "v_N", "B_N", "N_B", "SW"],
}
# cell-size check: one defect per polymorph in a 64-72-atom cell (nearest B and N only), last
LARGE_CELLS = {"h-BN": "v_N", "c-BN": "v_N", "w-BN": "v_N", "h-BN-mono": "v_N"}
CELL_SIZE_VARIANT = "defect, cell-size check"
# Pristine cells also computed in a 64-72-atom cell, B K only, right after the denser-mesh checks:
# w-BN's 32-atom cell puts core-hole images 5.10 Å apart (c-BN 6.26, h-BN 6.66 Å), and its B K
# spectrum has a sharp in-plane-polarised onset peak that is the maximum of the spectrum; whether
# that is a core-exciton/image artefact of the small cell must be known before the w-BN variants
# and defects are computed in the same cell (~3 CPU-h).
# h-BN and c-BN (added 2026-11-30, after round 1 with the other checks): the c-BN B K onset lies
# ~1 eV further above h-BN's π* than in experiment; whether the 36/32-atom cells move the two ΔKS
# differently (v1's Γ-point pair moved h-BN's by -0.52 eV from 36 to 64 atoms) is measured here
PRISTINE_CELL_SIZE = {"w-BN": ("B",), "h-BN": ("B",), "c-BN": ("B",)}
PRISTINE_CELL_SIZE_VARIANT = "pristine, cell-size check"
PRISTINE_CELL_SIZE_ROUND = {"w-BN": 0.7, "h-BN": 1.5, "c-BN": 1.5}
CELL_SIZE_VARIANTS = (CELL_SIZE_VARIANT, PRISTINE_CELL_SIZE_VARIANT)
DENSE_PRIORITY = 1.5     # the monolayer and r-BN mesh checks: after round 1 (monolayer: costly)
# Pristine variants (strain, rattle, stacking) run one round ahead of the defects of their round,
# just after the nearest sites of the round before (priority round - 1 + 0.05). Why (2026-12-01):
# the grouped polymorph test needs >= 3 structures per polymorph, and a pristine variant costs
# 0.2-1.1 CPU-h against 0.7-3.3 CPU-h for a defect cell (relaxation, spin, four sites). In the
# round-robin order the third structure of every polymorph came after >= 18.9 CPU-h of the
# queue; with the variants ahead it comes after ~4 (``progress`` prints the outlook).
# 1.05 since 2026-12-01 08:30 UTC: round r's variants also run before round r - 1's defect ground
# states and spectra (still after its relaxations, at r - 1.5). Measured at 106/430 jobs
# (``progress`` on the plan built each way): 3 / 4 / 5 structures per polymorph after 3.5 / 9.1 /
# 22.9 CPU-h of the queue instead of 4.9 / 18.9 / 32.7; every target defect in 3 hosts unchanged
# at 50.4 CPU-h (in 1 host after 28.9 instead of 25.4).
# 1.55 since 08:50 UTC: before round r - 1's relaxations too (at r - 1.5). A relaxation on the
# production mesh has no measured analogue, so the outlook counts it as 0 CPU-h, but it is long:
# w-BN C_N, sent back to its 6x6x6 mesh (spin-polarised; one ground state there took 1,158 s), would
# have held one of the two slots for an hour or more ahead of every round-2 variant.
VARIANT_ROUNDS_AHEAD = 1.55
# Depth after breadth (issue 15): the far site of a defect cell and the second site of a variant
# are queued after the nearest sites of every round (priority + this), so that each structure's
# first spectra come first. The grouped test labels defects only near the defect (2.8 Å), so a far
# site adds spectra but no structure to any score. Measured at 102/421 jobs (2026-12-01): every
# defect in 3 hosts and 5 structures per polymorph after 43.5 CPU-h of the queue instead of 74.3.
DEPTH_PRIORITY_OFFSET = 20.1
# Denser meshes than the production ones, pristine cells (ids ``gsek<mesh>:`` / ``xask<mesh>:``,
# e.g. xask444): each says whether the production mesh (SettingsV2.kpts) is converged. The first
# checks (4x4x1 / 3x3x3 against the first production meshes 2x2x1 / 2x2x2) said no, and those
# meshes became production (their spectra were promoted to the production job ids, see
# docs/bn-calculations.md); these check the new ones. h-BN, c-BN, w-BN right after round 0. The
# bulk 4x4x4 checks failed in turn and became production the same way (2026-11-30 13:20 UTC).
K_SERIES = {"c-BN": ([6, 6, 6],), "w-BN": ([8, 8, 5],), "h-BN": ([6, 6, 1], [4, 4, 3], [4, 4, 4]),
            "r-BN": ([4, 4, 3],)}  # w-BN 6x6x6, h-BN and r-BN 4x4x2: production
# Along c (added 2026-12-01): every layered mesh has one k point along c, and 6x6x1 checks only
# the in-plane sampling. h-BN 4x4x2 (2-layer cell, c = 6.66 Å) FAILED against 4x4x1 (04:28 UTC: N K
# iso RMS 0.124, E||c 0.134, in-plane 0.093; B K in-plane 0.079; ΔKS +0.10 / +0.02 eV), so the
# layered production meshes are not converged along c. 4x4x3 says whether 4x4x2 is (the
# production mesh to switch to, by promote_checks as for the bulk meshes), r-BN 4x4x2 (3-layer
# cell, c = 10.0 Å) whether r-BN needs it too. The monolayer (vacuum along c) does not.
# Outcome (05:50 UTC): 4x4x2 against 4x4x4 passed every polarisation (SettingsV2.kpts_polymorph),
# r-BN 4x4x2 failed against 4x4x1 (N K E||c 0.078): both moved to 4x4x2 and their 4x4x2 checks
# were promoted; r-BN 4x4x3 now checks r-BN's new mesh.
K_SERIES_PRIORITY = 0.62
# Meshes of K_SERIES checked on one edge only. w-BN: the B K of the 32-atom cell moved by RMS
# 0.084 (3x3x3 -> 4x4x4) and 0.107 (4x4x4 -> 6x6x6) while its N K converged (0.024), and the
# 72-atom cell at 2x2x2 (in-plane as coarse as 3x3x3 on the small cell) could not tell k sampling
# from core-hole images (docs/bn-calculations.md, 2026-11-30). 8x8x5 samples the 5.1 x 5.1 x 8.4 A
# cell about evenly (41-42 A per direction; 6x6x6 spent its density along c) and says whether
# the near-edge B K converges in k at all (~1.3 CPU-h).
K_SERIES_ELEMENTS = {("w-BN", (8, 8, 5)): ("B",)}
K_SERIES_LATER = {"r-BN": ([6, 6, 1],), "h-BN-mono": ([6, 6, 1],)}   # after round 1
# ΔKS plane-wave cutoff series on two pristine cells (both edges)
DKS_SERIES_EV = (300.0, 450.0, 600.0, 800.0)
DKS_SERIES_CELLS = ("h-BN_pristine", "c-BN_pristine")


def strained(struct, strain: float):
    """Copy of ``struct`` with every lattice vector scaled by (1 + strain); for layered cells only
    the in-plane vectors (a, b), the interlayer distance stays."""
    s = struct.copy()
    m = np.array(s.lattice.matrix)
    layered = abs(m[2, 0]) < 1e-8 and abs(m[2, 1]) < 1e-8 and abs(m[0, 2]) < 1e-8 \
        and abs(m[1, 2]) < 1e-8
    scale = np.array([1 + strain, 1 + strain, 1.0 if layered else 1 + strain])
    from pymatgen.core import Lattice

    if layered:
        new = m.copy()
        new[0] *= scale[0]
        new[1] *= scale[1]
    else:
        new = m * (1 + strain)
    s.lattice = Lattice(new)        # fractional coordinates kept
    return s


def rattled(struct, seed: int, sigma: float = RATTLE_SIGMA_A):
    """Copy of ``struct`` with Gaussian displacements (σ Å per Cartesian component, seeded),
    the mean displacement removed (no rigid translation)."""
    rng = np.random.default_rng(seed)
    s = struct.copy()
    d = rng.normal(0.0, sigma, size=(len(s), 3))
    d -= d.mean(0)
    for i in range(len(s)):
        s.translate_sites([i], d[i], frac_coords=False, to_unit_cell=True)
    return s


def hbn_ab_stacking(struct_aa_prime):
    """Bulk h-BN in Bernal AB stacking (space group P-6m2): in the second layer B stays above N
    of the first, N moves above the hexagon centre (in AA' it sits above B).  Same cell, same
    layer distance; built from the AA' supercell by moving the upper layer's N atoms by one
    in-plane (2/3, 1/3) primitive vector."""
    s = struct_aa_prime.copy()
    zs = sorted({round(float(f[2]), 4) for f in s.frac_coords})
    upper_n = [i for i, site in enumerate(s)
               if round(float(site.frac_coords[2]), 4) == zs[-1] and site.specie.symbol == "N"]
    n_cells = round(s.lattice.a / 2.504)
    shift = np.array([2 / 3, 1 / 3, 0.0]) / n_cells
    s.translate_sites(upper_n, shift, frac_coords=True, to_unit_cell=True)
    return s


def variant_structure(polymorph: str, variant: str, base):
    """Variant ``variant`` of the pristine supercell ``base`` (see :data:`VARIANTS`)."""
    if variant == "strain+":
        return strained(base, +STRAIN), f"in-plane/isotropic strain +{STRAIN * 100:.1f} %"
    if variant == "strain-":
        return strained(base, -STRAIN), f"in-plane/isotropic strain -{STRAIN * 100:.1f} %"
    if variant.startswith("rattle"):
        seed = int(variant[len("rattle"):])
        return rattled(base, seed), (f"thermal snapshot proxy: Gaussian displacements σ = "
                                     f"{RATTLE_SIGMA_A} Å per component, seed {seed}")
    if variant == "stack-AB" and polymorph == "h-BN":
        return hbn_ab_stacking(base), "Bernal AB stacking (N of layer 2 above hexagon centres)"
    raise KeyError(f"{polymorph}: unknown variant {variant}")


def large_supercell(polymorph: str):
    """64-72-atom cells for the cell-size check."""
    from .bn_cells import (CBN_A, _matrix_for, build_supercell, cbn_prim, hbn_bulk_prim,
                           hbn_monolayer_prim, wbn_prim)

    if polymorph == "h-BN":
        prim, mat = hbn_bulk_prim(), np.diag([4, 4, 1])                   # 64
    elif polymorph == "h-BN-mono":
        prim, mat = hbn_monolayer_prim(), np.diag([6, 6, 1])              # 72
    elif polymorph == "c-BN":                                            # conventional 2x2x2: 64
        prim = cbn_prim()        # (2a)^3 cube = 2 * [[-1,1,1],[1,-1,1],[1,1,-1]] fcc cells
        mat = _matrix_for(prim, 2 * CBN_A * np.eye(3))
    elif polymorph == "w-BN":
        prim, mat = wbn_prim(), np.diag([3, 3, 2])                       # 72
    else:
        raise KeyError(polymorph)
    return build_supercell(prim, mat)


def _pick_sites(struct, centre, roles=("nearest", "far")) -> list[dict]:
    """Nearest and far absorber class per edge (both edges); pristine cells: every class, up to 2
    per edge (rattled cells have no symmetry: the two sites farthest apart)."""
    out = []
    for el in ("B", "N"):
        items = choose_absorbers(struct, el, centre)
        if centre is None:
            if len(items) > 2:        # no symmetry: first site and the one farthest from it
                first = items[0]
                far = max(items[1:], key=lambda it: struct.get_distance(first["index"], it["index"]))
                first = dict(first, role="site1")
                far = dict(far, role="site2")
                items = [first, far]
            else:
                items = [dict(it, role="pristine") for it in items]
            out += items
        else:
            out += [it for it in items if it["role"] in roles]
    return out


def build_structures_v2() -> list[dict]:
    """Every structure of the v2 plan with metadata, in round order (``round`` key)."""
    out = []
    hosts = {}
    for p in POLYMORPHS:
        s, label, mat = supercell(p)
        hosts[p] = (s, label, mat)
        out.append(_meta(f"{p}_pristine", p, s, label, mat, None, None, 0, "pristine"))
        for r, var in enumerate(VARIANTS[p], start=1):
            vs, how = variant_structure(p, var, s)
            out.append(_meta(f"{p}_{var}", p, vs, label, mat, None, None, r, how))
    for host, names in DEFECT_HOSTS.items():
        hs, label, mat = hosts[host]
        for r, name in enumerate(names, start=1):
            ds, info = make_defect(hs, name)
            out.append(_meta(f"{host}_{name}", host, ds, label, mat, info, f"{host}_pristine", r,
                             "defect"))
    for p, elements in PRISTINE_CELL_SIZE.items():
        ls, label, mat = large_supercell(p)
        item = _meta(f"{p}_pristine_large", p, ls, label, mat, None, None, PRISTINE_CELL_SIZE_ROUND[p],
                     PRISTINE_CELL_SIZE_VARIANT)
        item["elements"] = list(elements)
        out.append(item)
    for host, name in LARGE_CELLS.items():
        ls, label, mat = large_supercell(host)
        ds, info = make_defect(ls, name)
        out.append(_meta(f"{host}_{name}_large", host, ds, label, mat, info, f"{host}_pristine",
                         50, CELL_SIZE_VARIANT))
    return out


def is_probe_job(job: dict, structures: dict) -> bool:
    """Whether a spectrum job belongs to the independent probe set (issue 15) rather than the set
    the maps are fitted on: the denser-mesh spectra (``conv`` jobs, ``xask:``) and every spectrum of
    the 64-72-atom cells (:data:`LARGE_CELLS`) -- deliberately other meshes and cell sizes, so that
    identifying them tests the maps on spectra computed differently from what they were fitted on."""
    return bool(job.get("conv")) or structures[job["sid"]].get("variant") in CELL_SIZE_VARIANTS


def _meta(sid, polymorph, s, label, mat, info, host, rnd, how) -> dict:
    nel = sum(VALENCE[x.specie.symbol] for x in s)
    spin = bool(info["spin_polarized"]) if info else bool(nel % 2)
    return {"sid": sid, "polymorph": polymorph, "structure": s, "supercell": label,
            "supercell_matrix": mat, "defect": info, "host": host, "layered": LAYERED[polymorph],
            "spin_polarized": spin, "relax": info is not None, "round": rnd, "variant": how,
            "magmom_sites": info["magmom_sites"] if info else []}


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(obj, indent=1, sort_keys=True)
    if path.exists() and path.read_text() == text:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)      # atomic: a running runner re-reads plan.json on every pass


def build_plan_v2(campaign: str | Path, settings: SettingsV2 | None = None,
                  structures: list[dict] | None = None) -> dict:
    """Write ``plan.json`` + structures of the v2 campaign under ``campaign``; return the plan.

    Job kinds: ``relax:<sid>``; ``gs:<sid>`` (ground state at ``ecut_ev``: PDOS of the absorber
    sites, occupations, Hirshfeld, all-electron density to scratch); ``bader:<sid>`` (Bader
    charges from that density, :mod:`.bader`); ``gse:<sid>`` (ground-state energy at ``dks_ecut_ev``);
    ``xas:<sid>:<El><i>`` (half-core-hole spectrum + own ΔKS at ``dks_ecut_ev``); ``xask:`` the
    same with the denser mesh (check); ``gsc<E>:`` / ``dksc<E>:`` the ΔKS cutoff series.
    Priorities: the structure's round (0 = pristine cells), relaxations first within a round,
    checks between rounds 1 and 2, the 64-72-atom cells last.  Raises ``KeyError`` for an unknown
    polymorph/defect in ``structures``.
    """
    st = settings or SettingsV2()
    campaign = Path(campaign)
    structs = structures if structures is not None else build_structures_v2()
    plan: dict[str, Any] = {"campaign": CAMPAIGN_VERSION, "settings": asdict(st),
                            "structures": {}, "jobs": []}
    jobs = plan["jobs"]
    for item in structs:
        sid, s = item["sid"], item["structure"]
        _write_json(campaign / "structures" / f"{sid}.json",
                    to_worker_json(s, item["magmom_sites"]))
        _write_json(campaign / "structures" / f"{sid}.pmg.json", s.as_dict())
        centre = item["defect"]["position_frac"] if item["defect"] else None
        absorbers = [a for a in _pick_sites(s, centre)
                     if a["element"] in item.get("elements", ("B", "N"))]
        meta = {k: v for k, v in item.items() if k != "structure"}
        meta.update(natoms=len(s), formula=s.composition.formula.replace(" ", ""),
                    kpts=st.kpts_for(item["polymorph"], item["variant"] in CELL_SIZE_VARIANTS),
                    absorbers=absorbers,
                    nbands_conv_factor=st.nbands_conv_factor.get(
                        item["polymorph"], st.nbands_conv_factor["bulk"]))
        plan["structures"][sid] = meta
        base = float(item["round"])
        if item["variant"] not in ("pristine", "defect", *CELL_SIZE_VARIANTS):
            base -= VARIANT_ROUNDS_AHEAD
        deps = []
        if item["relax"]:
            jobs.append({"id": f"relax:{sid}", "kind": "relax", "sid": sid,
                         "priority": base - 0.5, "deps": []})
            deps = [f"relax:{sid}"]
        jobs.append({"id": f"gs:{sid}", "kind": "gs", "sid": sid, "priority": base,
                     "deps": list(deps), "pdos_sites": sorted({a["index"] for a in absorbers})})
        # Bader charges from the ground state's all-electron density (scratch file, .venv-bader)
        jobs.append({"id": f"bader:{sid}", "kind": "bader", "sid": sid, "priority": base + 0.2,
                     "deps": [f"gs:{sid}"]})
        jobs.append({"id": f"gse:{sid}", "kind": "gse", "sid": sid, "priority": base,
                     "deps": list(deps), "override": {"ecut_ev": st.dks_ecut_ev}})
        for ab in absorbers:
            el = ab["element"]
            jobs.append({"id": f"xas:{sid}:{el}{ab['index']}", "kind": "xas", "sid": sid,
                         "absorber": ab["index"], "element": el, "role": ab["role"],
                         "dks": True, "gs_job": f"gse:{sid}", "dks_ecut_ev": st.dks_ecut_ev,
                         "distance": ab["distance"], "multiplicity": ab["multiplicity"],
                         "priority": base + (DEPTH_PRIORITY_OFFSET if ab["role"] in ("far", "site2") else 0.0),
                         "deps": deps + [f"gs:{sid}", f"gse:{sid}"]})
    jobs += _check_jobs(plan, st)
    for j in jobs:      # 2.05, not 2.0500000000000003, in plan.json and the runner's log
        j["priority"] = round(j["priority"], 6)
    jobs.sort(key=lambda j: (j["priority"], j["kind"] != "relax", j["id"]))
    _write_json(campaign / "plan.json", plan)
    return plan


def _check_jobs(plan: dict, st: SettingsV2) -> list[dict]:
    """Convergence checks (``conv: True``; never part of the assembled set)."""
    jobs: list[dict] = []
    structs = plan["structures"]
    series = [(p, k, K_SERIES_PRIORITY) for p, ks in K_SERIES.items() for k in ks]
    series += [(p, k, DENSE_PRIORITY) for p, ks in K_SERIES_LATER.items() for k in ks]
    for p, k, prio in series:            # denser meshes than the production ones
        sid = f"{p}_pristine"
        if sid not in structs:
            continue
        tag = "".join(map(str, k))
        g = f"gsek{tag}:{sid}"
        jobs.append({"id": g, "kind": "gse", "sid": sid, "priority": prio, "deps": [],
                     "kpts": list(k), "override": {"ecut_ev": st.dks_ecut_ev}, "conv": True})
        elements = K_SERIES_ELEMENTS.get((p, tuple(k)))
        for ab in structs[sid]["absorbers"]:
            el, i = ab["element"], ab["index"]
            if elements is not None and el not in elements:
                continue
            jobs.append({"id": f"xask{tag}:{sid}:{el}{i}", "kind": "xas", "sid": sid, "absorber": i,
                         "element": el, "priority": prio, "deps": [g], "gs_job": g,
                         "kpts": list(k), "dks": True, "dks_ecut_ev": st.dks_ecut_ev, "role": "conv",
                         "distance": 0.0, "multiplicity": ab["multiplicity"], "conv": True})
    for sid in DKS_SERIES_CELLS:     # ΔKS cutoff series
        if sid not in structs:
            continue
        for ecut in DKS_SERIES_EV:
            if ecut == st.dks_ecut_ev:
                continue             # the production jobs give this point
            g = f"gsc{ecut:.0f}:{sid}"
            jobs.append({"id": g, "kind": "gse", "sid": sid, "priority": 0.5, "deps": [],
                         "override": {"ecut_ev": ecut}, "conv": True})
            for ab in structs[sid]["absorbers"]:
                el, i = ab["element"], ab["index"]
                jobs.append({"id": f"dksc{ecut:.0f}:{sid}:{el}{i}", "kind": "dks", "sid": sid,
                             "absorber": i, "element": el, "priority": 0.5, "deps": [g],
                             "gs_job": g, "override": {"ecut_ev": ecut}, "conv": True})
    return jobs
