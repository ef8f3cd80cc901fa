"""Boron nitride structures, point defects, absorber-site choice and the job plan.

Runs in the project venv (pymatgen).  Everything the GPAW worker needs is written as plain JSON
(``cell``, ``symbols``, ``positions`` in Å, ``pbc``, initial ``magmoms``) so the worker never
imports pymatgen.

Polymorphs (experimental lattice constants, unrelaxed):

=============  =====================================  ======================
key            structure                               default supercell
=============  =====================================  ======================
h-BN           bulk hexagonal, AA' stacking (P6_3/mmc)  3x3x1 (36 atoms)
h-BN-mono      monolayer, 15 Å cell height (2D)        4x4 (32 atoms)
r-BN           rhombohedral ABC stacking (R3m)          36-atom (3x3 in-plane, two layers)
c-BN           zinc blende (F-43m)                      32-atom bcc-shaped supercell
w-BN           wurtzite (P6_3mc)                        2x2x2 (32 atoms)
=============  =====================================  ======================

Defects (neutral) are made in a host supercell: ``v_B``, ``v_N``, ``C_B``, ``C_N``, ``O_N``,
``B_N``, ``N_B`` and a Stone-Wales bond rotation ``SW``.  The defect centre is the removed /
substituted site (bond midpoint for SW).  Absorber sites are the symmetry-inequivalent sites of
the edge element, ordered by minimum-image distance to the defect centre.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# --------------------------------------------------------------------------------------------
# lattice constants (Å), experimental
HBN_A, HBN_C = 2.504, 6.66       # h-BN, two layers per cell
RBN_C = 9.99                     # r-BN, three layers per hexagonal cell
MONO_HEIGHT = 15.0               # monolayer cell height (vacuum ~ 15 Å)
CBN_A = 3.615
WBN_A, WBN_C, WBN_U = 2.55, 4.21, 0.375

VALENCE = {"B": 3, "C": 4, "N": 5, "O": 6}

DEFECTS: dict[str, dict[str, Any]] = {
    "v_B": {"kind": "vacancy", "site": "B", "species": "B", "new": None},
    "v_N": {"kind": "vacancy", "site": "N", "species": "N", "new": None},
    "C_B": {"kind": "substitution", "site": "B", "species": "C", "new": "C"},
    "C_N": {"kind": "substitution", "site": "N", "species": "C", "new": "C"},
    "O_N": {"kind": "substitution", "site": "N", "species": "O", "new": "O"},
    "B_N": {"kind": "antisite", "site": "N", "species": "B", "new": "B"},
    "N_B": {"kind": "antisite", "site": "B", "species": "N", "new": "N"},
    "SW": {"kind": "stone_wales", "site": "B", "species": "BN", "new": None},
}


def _structure(lattice, species, frac):
    from pymatgen.core import Lattice, Structure

    lat = lattice if not isinstance(lattice, (list, tuple, np.ndarray)) else Lattice(lattice)
    return Structure(lat, species, frac)


def hbn_bulk_prim():
    """h-BN, AA' stacking (B above N), 4 atoms, layers in the xy plane."""
    from pymatgen.core import Lattice

    return _structure(Lattice.hexagonal(HBN_A, HBN_C), ["B", "N", "B", "N"],
                      [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.25],
                       [2 / 3, 1 / 3, 0.75], [1 / 3, 2 / 3, 0.75]])


def hbn_monolayer_prim(height: float = MONO_HEIGHT):
    """Single h-BN sheet at z = height/2 in a cell of the given height (2D, vacuum along z)."""
    from pymatgen.core import Lattice

    return _structure(Lattice.hexagonal(HBN_A, height), ["B", "N"],
                      [[1 / 3, 2 / 3, 0.5], [2 / 3, 1 / 3, 0.5]])


def rbn_hex():
    """r-BN (ABC stacking, R3m) in its 6-atom hexagonal setting."""
    from pymatgen.core import Lattice

    species, frac = [], []
    for k in range(3):
        shift = np.array([2 / 3, 1 / 3]) * k
        b = (np.array([0.0, 0.0]) + shift) % 1.0
        n = (np.array([1 / 3, 2 / 3]) + shift) % 1.0
        species += ["B", "N"]
        frac += [[b[0], b[1], k / 3], [n[0], n[1], k / 3]]
    return _structure(Lattice.hexagonal(HBN_A, RBN_C), species, frac)


def cbn_prim():
    """c-BN zinc blende primitive cell (fcc vectors), 2 atoms."""
    a = CBN_A
    lat = 0.5 * a * np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]], float)
    return _structure(lat, ["B", "N"], [[0, 0, 0], [0.25, 0.25, 0.25]])


def wbn_prim():
    """w-BN wurtzite, 4 atoms."""
    from pymatgen.core import Lattice

    u = WBN_U
    return _structure(Lattice.hexagonal(WBN_A, WBN_C), ["B", "B", "N", "N"],
                      [[1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0.5],
                       [1 / 3, 2 / 3, u], [2 / 3, 1 / 3, 0.5 + u]])


def _matrix_for(prim, target_cart) -> np.ndarray:
    """Integer supercell matrix M with M @ prim.lattice = target (rows = lattice vectors)."""
    m = np.asarray(target_cart, float) @ np.linalg.inv(prim.lattice.matrix)
    mi = np.rint(m).astype(int)
    if np.abs(m - mi).max() > 1e-6:
        raise ValueError(f"target cell is not a supercell: {m}")
    return mi


def supercell(polymorph: str, size: str | None = None):
    """Pristine supercell of ``polymorph``.

    Returns ``(structure, supercell_label, supercell_matrix)``; ``size`` picks a non-default cell
    (``"small"`` / ``"large"``) for convergence checks.
    """
    size = size or "default"
    if polymorph == "h-BN":
        prim = hbn_bulk_prim()
        rep = {"small": [2, 2, 1], "default": [3, 3, 1], "large": [4, 4, 1]}[size]
        mat = np.diag(rep)
    elif polymorph == "h-BN-mono":
        prim = hbn_monolayer_prim()
        rep = {"small": [3, 3, 1], "default": [4, 4, 1], "large": [5, 5, 1]}[size]
        mat = np.diag(rep)
    elif polymorph == "r-BN":
        hexs = rbn_hex()
        prim = hexs.get_primitive_structure()
        a, b = hexs.lattice.matrix[0], hexs.lattice.matrix[1]
        # a primitive vector with one-layer height (c/3)
        t = min((v for v in (prim.lattice.matrix.tolist() + (-prim.lattice.matrix).tolist())
                 if abs(v[2] - RBN_C / 3) < 1e-4), key=lambda v: np.linalg.norm(v))
        n = {"small": 2, "default": 3, "large": 4}[size]
        mat = _matrix_for(prim, [n * a, n * b, 2 * np.asarray(t)])
    elif polymorph == "c-BN":
        prim = cbn_prim()
        a = CBN_A
        if size == "small":
            mat = 2 * np.eye(3, dtype=int)                 # 16 atoms
        elif size == "large":
            mat = 3 * np.eye(3, dtype=int)                 # 54 atoms
        else:                                               # 32 atoms, bcc-shaped
            mat = _matrix_for(prim, a * np.array([[-1, 1, 1], [1, -1, 1], [1, 1, -1]], float))
    elif polymorph == "w-BN":
        prim = wbn_prim()
        rep = {"small": [2, 2, 1], "default": [2, 2, 2], "large": [3, 3, 2]}[size]
        mat = np.diag(rep)
    else:
        raise KeyError(polymorph)
    return build_supercell(prim, mat)


def build_supercell(prim, mat):
    """``(structure, label, matrix)`` of ``prim`` repeated by the integer matrix ``mat``: sites
    sorted by element, then z, y, x (stable site indices for the plan); label ``"3x3x1"`` for a
    diagonal matrix, else the rows ``"-1,1,1;1,-1,1;1,1,-1"``."""
    s = prim.copy()
    s.make_supercell(mat)
    s = s.get_sorted_structure(key=lambda site: (site.specie.symbol, round(site.frac_coords[2], 3),
                                                  round(site.frac_coords[1], 3),
                                                  round(site.frac_coords[0], 3)))
    label = "x".join(str(int(x)) for x in np.diag(mat)) if np.allclose(mat, np.diag(np.diag(mat))) \
        else ";".join(",".join(str(int(v)) for v in row) for row in mat)
    return s, label, np.asarray(mat).tolist()


LAYERED = {"h-BN": True, "h-BN-mono": True, "r-BN": True, "c-BN": False, "w-BN": False}


# --------------------------------------------------------------------------------------------
# defects

def _nearest_index(struct, element: str, target_frac) -> int:
    best, ibest = 1e9, -1
    for i, site in enumerate(struct):
        if site.specie.symbol != element:
            continue
        d = struct.lattice.get_distance_and_image(site.frac_coords, target_frac)[0]
        if d < best - 1e-6:
            best, ibest = d, i
    return ibest


def _defect_target(struct) -> np.ndarray:
    """Fractional point near the cell centre, in the first layer (z of the lowest layer)."""
    zs = sorted({round(float(s.frac_coords[2]), 4) for s in struct})
    return np.array([0.5, 0.5, zs[0]])


def make_defect(host, name: str):
    """Return ``(structure, info)`` for defect ``name`` in the pristine supercell ``host``.

    ``info`` has ``kind``, ``name``, ``species``, ``charge`` (0), ``position_frac`` (defect
    centre), ``site_index_host`` (the host site that was changed) and ``magmom_sites`` (indices in
    the new structure that get an initial magnetic moment for spin-polarised runs).
    """
    spec = DEFECTS[name]
    s = host.copy()
    target = _defect_target(s)
    i = _nearest_index(s, spec["site"], target)
    centre = np.array(s[i].frac_coords) % 1.0
    if spec["kind"] == "vacancy":
        neigh = [n.index for n in s.get_neighbors(s[i], 1.9)]
        s.remove_sites([i])
        neigh = [j - (j > i) for j in neigh]
        magsites = neigh
    elif spec["kind"] in ("substitution", "antisite"):
        s.replace(i, spec["new"])
        magsites = [i] + [n.index for n in s.get_neighbors(s[i], 1.9)]
    elif spec["kind"] == "stone_wales":
        # rotate the B-N bond (B at i, its in-plane N neighbour with the largest +x component)
        neighs = [n for n in s.get_neighbors(s[i], 1.7) if n.specie.symbol == "N"]
        nb = max(neighs, key=lambda n: (round(n.coords[0] - s[i].coords[0], 3),
                                         round(n.coords[1] - s[i].coords[1], 3)))
        j = nb.index
        pi, pj = s[i].coords, nb.coords                    # pj: nearest image of j
        mid = 0.5 * (pi + pj)
        rot = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]], float)   # 90° about z
        new_i = mid + rot @ (pi - mid)
        new_j = mid + rot @ (pj - mid)
        s.replace(i, "B", coords=new_i, coords_are_cartesian=True)
        s.replace(j, "N", coords=new_j, coords_are_cartesian=True)
        centre = s.lattice.get_fractional_coords(mid) % 1.0
        magsites = []
    else:
        raise KeyError(name)
    nelec = sum(VALENCE[site.specie.symbol] for site in s)
    info = {
        "kind": spec["kind"], "name": name, "species": spec["species"], "charge": 0,
        "position_frac": [round(float(x), 6) for x in centre],
        "site_index_host": int(i), "magmom_sites": sorted(set(int(m) for m in magsites)),
        "n_valence_electrons": int(nelec), "spin_polarized": bool(nelec % 2),
    }
    return s, info


def distance_to(struct, index: int, frac) -> float:
    return float(struct.lattice.get_distance_and_image(struct[index].frac_coords, frac)[0])


def equivalent_classes(struct, symprec: float = 1e-3) -> list[list[int]]:
    """Symmetry-equivalent site classes (lists of indices) of ``struct``."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        sym = SpacegroupAnalyzer(struct, symprec=symprec).get_symmetrized_structure()
        return [sorted(int(i) for i in c) for c in sym.equivalent_indices]
    except Exception:  # pragma: no cover - spglib failure: every site its own class
        return [[i] for i in range(len(struct))]


def choose_absorbers(struct, element: str, centre_frac=None, symprec: float = 1e-3) -> list[dict]:
    """Inequivalent absorber sites of ``element``.

    Each item: ``index`` (representative = lowest index of its class), ``multiplicity``,
    ``distance`` (Å to ``centre_frac``, minimum image; 0 for pristine) and ``role``:
    ``nearest`` (closest class), ``far`` (farthest class), ``other``.  Ordered by priority:
    nearest, far, then the others by increasing distance.
    """
    classes = [c for c in equivalent_classes(struct, symprec)
               if struct[c[0]].specie.symbol == element]
    items = []
    for c in classes:
        d = 0.0 if centre_frac is None else min(distance_to(struct, i, centre_frac) for i in c)
        items.append({"index": c[0], "multiplicity": len(c), "distance": round(d, 4),
                      "element": element})
    items.sort(key=lambda x: (x["distance"], x["index"]))
    if not items:
        return []
    for it in items:
        it["role"] = "other"
    items[0]["role"] = "nearest"
    if len(items) > 1:
        items[-1]["role"] = "far"
        return [items[0], items[-1]] + items[1:-1]
    return items


# --------------------------------------------------------------------------------------------
# plan

@dataclass
class Settings:
    """Numerical settings shared by the whole set (recorded as provenance)."""
    ecut_ev: float = 300.0
    xc: str = "PBE"
    smearing_ev: float = 0.05
    kpts: dict = field(default_factory=lambda: {"default": [1, 1, 1]})
    nbands_factor: float = 2.5         # bands in the fixed-density run / occupied bands
    nbands_conv_factor: float = 2.2    # of which converged
    broadening_fwhm_ev: float = 0.5
    grid_min_ev: float = -5.0
    grid_max_ev: float = 20.0
    grid_step_ev: float = 0.1
    relax_mode: str = "pw"
    relax_fmax: float = 0.05
    relax_steps: int = 20
    dks_ecut_correction: bool = True

    def kpts_for(self, polymorph: str) -> list[int]:
        return list(self.kpts.get(polymorph, self.kpts["default"]))


DEFAULT_DEFECTS = ["v_B", "v_N", "C_B", "C_N", "O_N", "B_N", "N_B", "SW"]
# per-structure setting overrides (all runs of the structure, so ΔKS stays consistent):
# these spin-polarised Γ-point SCFs oscillate with 0.05 eV smearing (moment and density slosh
# between near-degenerate defect/band-edge states); 0.2 eV Fermi-Dirac smearing damps it
SCF_OVERRIDES = {"h-BN_O_N": {"smearing_ev": 0.2}, "h-BN_v_B": {"smearing_ev": 0.2},
                 "c-BN_O_N": {"smearing_ev": 0.2}}
MONO_DEFECTS = ["v_B", "v_N", "C_B", "C_N"]
CBN_DEFECTS = ["v_N", "C_B", "C_N", "O_N"]


def to_worker_json(struct, magmom_sites=(), magmom: float = 1.0) -> dict:
    """Plain-JSON structure for the GPAW worker (no pymatgen needed there)."""
    mags = [0.0] * len(struct)
    for i in magmom_sites:
        mags[i] = magmom
    return {"cell": struct.lattice.matrix.tolist(),
            "symbols": [site.specie.symbol for site in struct],
            "positions": struct.cart_coords.tolist(), "pbc": [True, True, True],
            "magmoms": mags}


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def build_structures(defects=DEFAULT_DEFECTS, mono_defects=MONO_DEFECTS, cbn_defects=CBN_DEFECTS,
                     polymorphs=("h-BN", "h-BN-mono", "r-BN", "c-BN", "w-BN"),
                     sizes: dict | None = None) -> list[dict]:
    """All structures of the plan as dicts with a pymatgen ``structure`` and metadata."""
    sizes = sizes or {}
    out = []
    hosts = {}
    for p in polymorphs:
        s, label, mat = supercell(p, sizes.get(p))
        sid = f"{p}_pristine"
        hosts[p] = (s, label, mat, sid)
        nel = sum(VALENCE[x.specie.symbol] for x in s)
        out.append({"sid": sid, "polymorph": p, "structure": s, "supercell": label,
                    "supercell_matrix": mat, "defect": None, "host": None,
                    "layered": LAYERED[p], "spin_polarized": bool(nel % 2), "relax": False,
                    "magmom_sites": []})
    for host_key, names in (("h-BN", defects), ("c-BN", cbn_defects), ("h-BN-mono", mono_defects)):
        if host_key not in hosts:
            continue
        hs, label, mat, hsid = hosts[host_key]
        for name in names:
            s, info = make_defect(hs, name)
            sid = f"{host_key}_{name}"
            out.append({"sid": sid, "polymorph": host_key, "structure": s, "supercell": label,
                        "supercell_matrix": mat, "defect": info, "host": hsid,
                        "layered": LAYERED[host_key], "spin_polarized": info["spin_polarized"],
                        # c-BN and monolayer defects are extras: unrelaxed, to leave the time to
                        # the bulk h-BN defects
                        "relax": host_key == "h-BN", "magmom_sites": info["magmom_sites"]})
    return out


def build_plan(workdir: str | Path, settings: Settings | None = None, conv: bool = True,
               structures: list[dict] | None = None, **kw) -> dict:
    """Write structures and the job list under ``workdir``; return the plan.

    Layout: ``workdir/plan.json``, ``workdir/structures/<sid>.json`` (worker format) and
    ``<sid>.pmg.json`` (pymatgen ``as_dict``).  Job kinds: ``relax:<sid>`` (LCAO relaxation of
    defect cells), ``gs:<sid>`` (ground state: PDOS, Hirshfeld, reference energy) and
    ``xas:<sid>:<El><index>`` (half-core-hole spectrum + full-core-hole ΔKS of one absorber).
    ``structures`` (items like :func:`build_structures` returns) replaces the default set, e.g.
    for a tiny test cell; ``conv`` adds :func:`convergence_jobs`.
    Priorities: 0 pristine + relaxations, 1 defect ground states and nearest/far absorbers,
    2+ the remaining absorbers (by distance, round-robin over defects), monolayer defects last.
    """
    settings = settings or Settings()
    workdir = Path(workdir)
    structs = structures if structures is not None else build_structures(**kw)
    plan: dict[str, Any] = {"settings": settings.__dict__, "structures": {}, "jobs": []}
    jobs = plan["jobs"]
    for st in structs:
        sid, s = st["sid"], st["structure"]
        _write_json(workdir / "structures" / f"{sid}.json",
                    to_worker_json(s, st["magmom_sites"]))
        _write_json(workdir / "structures" / f"{sid}.pmg.json", s.as_dict())
        centre = st["defect"]["position_frac"] if st["defect"] else None
        absorbers = []
        for el in ("B", "N"):
            absorbers += choose_absorbers(s, el, centre)
        meta = {k: v for k, v in st.items() if k != "structure"}
        meta["natoms"] = len(s)
        meta["formula"] = s.composition.formula.replace(" ", "")
        meta["kpts"] = settings.kpts_for(st["polymorph"])
        meta["absorbers"] = absorbers
        if st["sid"] in SCF_OVERRIDES:
            meta["override"] = dict(SCF_OVERRIDES[st["sid"]])
        plan["structures"][sid] = meta
        mono = st["polymorph"] == "h-BN-mono" and st["defect"] is not None
        # queue: pristine 0, h-BN defects 1, c-BN defects 1.2, monolayer defects 5 (last)
        base = 0 if st["defect"] is None else (
            5 if mono else (1.2 if st["polymorph"] == "c-BN" else 1))
        if st["sid"] == "h-BN_v_B":   # its spin-polarised SCF oscillates (moment 0.2-2.7 muB): last
            base = 4
        deps = []
        if st["relax"]:
            jobs.append({"id": f"relax:{sid}", "kind": "relax", "sid": sid,
                         "priority": base - 0.5 if not mono else base, "deps": []})
            deps = [f"relax:{sid}"]
        jobs.append({"id": f"gs:{sid}", "kind": "gs", "sid": sid, "priority": base,
                     "deps": list(deps)})
        nb = {"B": 0, "N": 0}
        for ab in absorbers:
            el = ab["element"]
            rank = nb[el]
            nb[el] += 1
            if st["defect"] is None:
                prio = base
            elif rank < 2:                       # nearest and far first
                prio = base + 0.1 * rank
            else:       # by distance rank, spin-paired (cheaper) cells a little earlier
                prio = base + 1 + 0.1 * (rank - 2) + (0.05 if st["spin_polarized"] else 0.0)
            jobs.append({"id": f"xas:{sid}:{el}{ab['index']}", "kind": "xas", "sid": sid,
                         "absorber": ab["index"], "element": el, "role": ab["role"],
                         # own ΔKS for pristine, nearest and far sites; the others are aligned
                         # with the far site's ΔKS (saves the full-core-hole SCF, ~40 %)
                         "dks": ab["role"] != "other",
                         "distance": ab["distance"], "multiplicity": ab["multiplicity"],
                         "priority": round(prio, 3), "deps": deps + [f"gs:{sid}"]})
    if conv:
        jobs += convergence_jobs(plan, workdir)
    jobs.sort(key=lambda j: (j["priority"], j["kind"] != "relax", j["id"]))
    plan["jobs"] = jobs
    _write_json(workdir / "plan.json", plan)
    return plan


def convergence_jobs(plan: dict, workdir: Path) -> list[dict]:
    """Quick convergence checks (flag ``conv``; never part of the bundled set).

    * ΔKS cutoff: ground state + full-core-hole run at 600 eV for pristine h-BN and c-BN, both
      edges -> the per-edge correction δ_edge = ΔKS(600) - ΔKS(300);
    * k-points: h-BN 3x3x1 with 2x2x1, c-BN 32-atom cell with 2x2x2 (both edges);
    * cell size: h-BN 4x4x1 (64 atoms) at Γ (B edge).
    """
    jobs: list[dict] = []
    st = plan["structures"]

    def absorbers(sid):
        return [(a["element"], a["index"]) for a in st[sid]["absorbers"]]

    for sid in ("h-BN_pristine", "c-BN_pristine"):
        if sid not in st:
            continue
        g = f"gs600:{sid}"
        jobs.append({"id": g, "kind": "gs", "sid": sid, "priority": 0.6, "deps": [],
                     "override": {"ecut_ev": 600.0}, "conv": True})
        for el, i in absorbers(sid):
            jobs.append({"id": f"dks600:{sid}:{el}{i}", "kind": "dks", "sid": sid,
                         "absorber": i, "element": el, "priority": 0.6, "deps": [g],
                         "gs_job": g, "override": {"ecut_ev": 600.0}, "conv": True})
    for sid, k in (("h-BN_pristine", [2, 2, 1]), ("c-BN_pristine", [2, 2, 2])):
        if sid not in st:
            continue
        g = f"gsk:{sid}"
        jobs.append({"id": g, "kind": "gs", "sid": sid, "priority": 0.65, "deps": [], "kpts": k,
                     "conv": True})
        for el, i in absorbers(sid):
            jobs.append({"id": f"xask:{sid}:{el}{i}", "kind": "xas", "sid": sid, "absorber": i,
                         "element": el, "priority": 0.65, "deps": [g], "gs_job": g, "kpts": k,
                         "role": "conv", "distance": 0.0, "multiplicity": 1, "conv": True})
    if "h-BN_pristine" in st:
        s, label, mat = supercell("h-BN", "large")
        sid = "h-BN_pristine_large"
        _write_json(workdir / "structures" / f"{sid}.json", to_worker_json(s))
        _write_json(workdir / "structures" / f"{sid}.pmg.json", s.as_dict())
        meta = dict(st["h-BN_pristine"], sid=sid, supercell=label, supercell_matrix=mat,
                    natoms=len(s), conv=True)
        meta["absorbers"] = choose_absorbers(s, "B") + choose_absorbers(s, "N")
        st[sid] = meta
        jobs.append({"id": f"gs:{sid}", "kind": "gs", "sid": sid, "priority": 1.6, "deps": [],
                     "conv": True})
        for el, i in absorbers(sid)[:1]:        # B edge only (time)
            jobs.append({"id": f"xas:{sid}:{el}{i}", "kind": "xas", "sid": sid, "absorber": i,
                         "element": el, "priority": 1.6, "deps": [f"gs:{sid}"], "role": "conv",
                         "distance": 0.0, "multiplicity": 1, "conv": True})
    return jobs
