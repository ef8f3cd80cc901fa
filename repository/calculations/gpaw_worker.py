"""Run ONE job of the BN XAS plan with ASE + GPAW only (run it with ``/usr/bin/python3``).

usage: /usr/bin/python3 gpaw_worker.py WORKDIR JOB_ID [--setups DIR]

Job kinds (see :func:`repository.calculations.structures.build_plan`):

``relax:<sid>``
    LCAO (dzp) PBE relaxation of the atomic positions (cell fixed), BFGS.  Writes the relaxed
    positions; later jobs of the structure use them.
``gs:<sid>``
    Plane-wave ground state of the structure: all-electron-referenced total energy (for ΔKS),
    Fermi level, site-projected DOS (s, p_x, p_y, p_z of every atom; bound-state PAW projectors),
    their occupations, total DOS and Hirshfeld charges.
``xas:<sid>:<El><i>``
    Half-core-hole (Slater transition state) SCF with the ``hch1s`` setup on atom ``i`` (moved to
    the origin), a fixed-density run with many empty bands, and dipole stick spectra
    (x, y, z) weighted per k-point and spin by the emptiness (1 - f) of the final state; then the
    full-core-hole ΔKS onset ``E(fch1s, +1 e) - E(gs)``.

Results go to ``WORKDIR/results/<job id with ':' -> '__'>.json`` (+ ``.npz``), written
atomically (temp file, then rename) and only when the job finished.  This module must not import
pymatgen or anything from the ``repository`` package.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

HARTREE = 27.211386024367243
VALENCE = {"B": 3, "C": 4, "N": 5, "O": 6}
# SCF criteria of the full-core-hole ΔKS run (energy: GPAW default 5e-4 eV/electron)
FCH_CONVERGENCE = {"energy": 0.0005, "density": 1e-3, "eigenstates": 1e-5}
NSCF_EIGENSTATES = 2e-6
# half-core-hole SCF: density to 5e-4 e/electron (GPAW default 1e-4); eigenvalues move < 0.01 eV
HCH_CONVERGENCE = {"energy": 0.0005, "density": 5e-4, "eigenstates": 1e-6}


def job_file(workdir: Path, job_id: str, ext: str = ".json") -> Path:
    return Path(workdir) / "results" / (job_id.replace(":", "__") + ext)


def atomic_write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def atomic_write_npz(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def load_plan(workdir: Path) -> dict:
    return json.loads((Path(workdir) / "plan.json").read_text())


def load_atoms(workdir: Path, sid: str, use_relaxed: bool = True):
    """Structure ``sid`` as ASE Atoms (relaxed positions when the relax job has finished)."""
    from ase import Atoms

    d = json.loads((Path(workdir) / "structures" / f"{sid}.json").read_text())
    atoms = Atoms(d["symbols"], positions=d["positions"], cell=d["cell"], pbc=d["pbc"])
    plan = load_plan(workdir)
    scale = plan["structures"].get(sid, {}).get("override", {}).get("magmom_scale", 1.0)
    atoms.set_initial_magnetic_moments(np.array(d.get("magmoms", [0.0] * len(atoms))) * scale)
    if sid in plan["structures"] and not plan["structures"][sid]["spin_polarized"]:
        atoms.set_initial_magnetic_moments(None)    # spin-paired: no initial moments allowed
    relaxed = False
    rf = job_file(workdir, f"relax:{sid}")
    if use_relaxed and rf.exists():
        r = json.loads(rf.read_text())
        atoms.set_positions(r["positions"])
        relaxed = True
    return atoms, relaxed


def n_occupied(atoms) -> int:
    return sum(VALENCE[s] for s in atoms.get_chemical_symbols()) // 2 + 1


def pw_params(settings: dict, kpts, txt: str, **kw) -> dict:
    from gpaw import PW, FermiDirac

    p = dict(mode=PW(settings["ecut_ev"]), xc=settings["xc"],
             kpts={"size": list(kpts), "gamma": True},
             occupations=FermiDirac(settings["smearing_ev"]), txt=txt,
             maxiter=settings.get("maxiter", 120))   # fail fast: normal runs need 15-40
    p.update(kw)
    return p


def _setup_paths(setups_dir: str | None) -> None:
    from gpaw import setup_paths

    d = setups_dir or os.environ.get("GPAW_CORE_HOLE_SETUPS")
    if d and d not in setup_paths:
        setup_paths.insert(0, d)


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------------------------
# projections

def _bound_projectors(setup, ell: int) -> list[int]:
    idx, i1 = [], 0
    for n, l in zip(setup.n_j, setup.l_j):
        i2 = i1 + 2 * l + 1
        if l == ell and n >= 0:
            idx.append(list(range(i1, i2)))
        i1 = i2
    return idx[0] if idx else []   # first bound partial wave of this l


def projections(calc):
    """Per k-point/spin arrays: eps (eV), occupation in [0, 1], k weight, spin, and for every atom
    the squared projections on s, p_y, p_z, p_x (GPAW's real-harmonic order for l = 1)."""
    wfs = calc.wfs
    out = []
    for kpt in wfs.kpt_u:
        eps = kpt.eps_n * HARTREE
        occ = kpt.f_n / kpt.weight
        w_a = []
        for a, setup in enumerate(wfs.setups):
            P_ni = kpt.projections[a]
            cols = []
            s_idx = _bound_projectors(setup, 0)
            p_idx = _bound_projectors(setup, 1)
            cols.append((abs(P_ni[:, s_idx]) ** 2).sum(1) if s_idx else np.zeros(len(eps)))
            for m in range(3):
                cols.append(abs(P_ni[:, p_idx[m]]) ** 2 if p_idx else np.zeros(len(eps)))
            w_a.append(np.array(cols).T)          # (nbands, 4): s, py, pz, px
        out.append({"eps": eps, "occ": occ, "wk": kpt.weightk, "s": kpt.s,
                    "w": np.array(w_a)})            # (natoms, nbands, 4)
    return out


def gaussian(e_grid, centres, weights, fwhm):
    sig = fwhm / 2.3548200450309493
    g = np.exp(-0.5 * ((e_grid[:, None] - centres[None, :]) / sig) ** 2)
    return g @ weights / (sig * np.sqrt(2 * np.pi))


# ------------------------------------------------------------------------------------------
# jobs

def run_relax(workdir: Path, job: dict, plan: dict, setups: str | None) -> dict:
    from ase.optimize import BFGS
    from gpaw import GPAW, FermiDirac

    sid = job["sid"]
    meta = plan["structures"][sid]
    st, _ = job_settings(job, plan)
    atoms, _ = load_atoms(workdir, sid, use_relaxed=False)
    x0 = atoms.get_positions().copy()
    log = str(workdir / "logs" / f"relax_{sid}.txt")
    if st.get("relax_mode", "pw") == "lcao-dzp":
        calc = GPAW(mode="lcao", basis="dzp", xc=st["xc"], kpts={"size": [1, 1, 1], "gamma": True},
                    occupations=FermiDirac(0.1), spinpol=meta["spin_polarized"], txt=log)
        how = "GPAW LCAO dzp"
    else:   # measured cheaper here: LCAO spends ~8 s per SCF step on its real-space grids
        calc = GPAW(**pw_params(st, [1, 1, 1], log, spinpol=meta["spin_polarized"]))
        how = f"GPAW PW {st['ecut_ev']:.0f} eV"
    atoms.calc = calc
    opt = BFGS(atoms, logfile=str(workdir / "logs" / f"relax_{sid}.bfgs"),
               trajectory=str(workdir / "logs" / f"relax_{sid}.traj"))
    note = ""
    try:
        converged = bool(opt.run(fmax=st["relax_fmax"], steps=st["relax_steps"]))
        fmax = float(np.sqrt((atoms.get_forces() ** 2).sum(1)).max())
    except Exception as err:          # SCF failure mid-way: keep the last finished BFGS step
        from ase.io import read

        images = read(str(workdir / "logs" / f"relax_{sid}.traj"), ":")
        if len(images) < 2:
            raise
        last = images[-1]
        atoms.set_positions(last.get_positions())
        fmax = float(np.sqrt((last.get_forces() ** 2).sum(1)).max())
        converged = False
        note = f" (stopped after step {len(images) - 1}: {type(err).__name__})"
        opt.nsteps = len(images) - 1
        atoms.calc = None
        atoms.get_potential_energy = lambda e=last.get_potential_energy(): e
    disp = np.sqrt(((atoms.get_positions() - x0) ** 2).sum(1))
    return {"positions": atoms.get_positions().tolist(), "converged": converged,
            "steps": int(opt.nsteps), "fmax_ev_per_a": fmax,
            "max_displacement_a": float(disp.max()),
            "energy_ev": float(atoms.get_potential_energy()),
            "method": f"{how} {st['xc']}, Gamma point, BFGS fmax {st['relax_fmax']} eV/A "
                      f"(max {st['relax_steps']} steps), cell fixed" + note}


def job_settings(job: dict, plan: dict) -> tuple[dict, list]:
    """Plan settings with the job's ``override`` applied, and the job's k-point mesh."""
    st = dict(plan["settings"], **plan["structures"][job["sid"]].get("override", {}))
    st.update(job.get("override", {}))
    return st, list(job.get("kpts") or plan["structures"][job["sid"]]["kpts"])


def run_gs(workdir: Path, job: dict, plan: dict, setups: str | None) -> tuple[dict, dict]:
    from gpaw import GPAW
    from gpaw.analyse.hirshfeld import HirshfeldPartitioning

    sid = job["sid"]
    meta = plan["structures"][sid]
    st, kpts = job_settings(job, plan)
    tag = job["id"].replace(":", "__")
    atoms, relaxed = load_atoms(workdir, sid)
    nocc = n_occupied(atoms)
    spin = meta["spin_polarized"]
    calc = GPAW(**pw_params(st, kpts, str(workdir / "logs" / f"{tag}.txt"),
                            nbands=int(1.5 * nocc) + 8, spinpol=spin))
    atoms.calc = calc
    e = atoms.get_potential_energy() + calc.get_reference_energy()
    ef = float(calc.get_fermi_level())
    pr = projections(calc)
    natoms = len(atoms)
    grid = np.round(np.arange(ef - 25.0, ef + 15.0 + 1e-9, 0.05), 4)
    pdos = np.zeros((natoms, len(grid), 4))
    tdos = np.zeros(len(grid))
    occ = np.zeros((natoms, 4))
    deg = 2.0 / len({p["s"] for p in pr})          # spin degeneracy factor
    for p in pr:
        wk = p["wk"] * deg
        tdos += wk * gaussian(grid, p["eps"], np.ones(len(p["eps"])), 0.2)
        for a in range(natoms):
            pdos[a] += wk * gaussian(grid, p["eps"], p["w"][a], 0.2)
            occ[a] += wk * (p["occ"][:, None] * p["w"][a]).sum(0)
    if not hasattr(calc.density, "stencil"):   # GPAW 22.8: Hirshfeld expects a real-space
        calc.density.stencil = 3                # density object; the PW one lacks this attribute
    charges = HirshfeldPartitioning(calc).get_charges()
    mag = calc.get_magnetic_moments() if spin else np.zeros(natoms)
    res = {"energy_ev": float(e), "fermi_ev": ef, "relaxed": relaxed, "spin_polarized": spin,
           "nbands": int(1.5 * nocc) + 8, "hirshfeld": [float(c) for c in charges],
           "occupations_s_py_pz_px": occ.tolist(),
           "magnetic_moment_total": float(calc.get_magnetic_moment()) if spin else 0.0,
           "magnetic_moments": [float(m) for m in mag],
           "pdos_fwhm_ev": 0.2,
           "pdos_note": "Gaussian, FWHM 0.2 eV; first bound-state PAW projector of each l"}
    return res, {"grid": grid, "pdos": pdos.astype(np.float32), "tdos": tdos.astype(np.float32)}


def _absorber_atoms(workdir: Path, job: dict):
    sid, iabs = job["sid"], int(job["absorber"])
    atoms, relaxed = load_atoms(workdir, sid)
    if atoms[iabs].symbol != job["element"]:
        raise ValueError(f"site {iabs} is {atoms[iabs].symbol}, not {job['element']}")
    atoms.translate(-atoms.positions[iabs])   # absorber at the origin -> more symmetry
    atoms.wrap()
    return atoms, relaxed, iabs


def delta_ks(workdir: Path, job: dict, plan: dict, atoms, iabs: int) -> tuple[float, float, dict]:
    """ΔKS onset E(fch1s, +1 e) - E(gs): neutral excited state, full 1s hole on ``iabs``, the
    electron in the lowest empty state.  The ground-state energy comes from the job's
    ``gs_job`` (default ``gs:<sid>``) with identical settings."""
    from gpaw import GPAW

    st, kpts = job_settings(job, plan)
    gs = json.loads(job_file(workdir, job.get("gs_job", f"gs:{job['sid']}")).read_text())
    tag = job["id"].replace(":", "__")
    mag = np.zeros(len(atoms))
    mag[iabs] = 1.0
    atoms_f = atoms.copy()
    atoms_f.set_initial_magnetic_moments(mag + atoms.get_initial_magnetic_moments())
    # the total energy converges long before GPAW's default density/eigenstate criteria
    calc3 = GPAW(**pw_params(st, kpts, str(workdir / "logs" / f"{tag}_fch.txt"),
                             setups={iabs: "fch1s"}, charge=-1, spinpol=True,
                             convergence=FCH_CONVERGENCE))
    atoms_f.calc = calc3
    e_fch = atoms_f.get_potential_energy() + calc3.get_reference_energy()
    gs["fch_convergence"] = dict(FCH_CONVERGENCE)
    gs["fch_iterations"] = int(calc3.get_number_of_iterations())
    return float(e_fch - gs["energy_ev"]), float(e_fch), gs


def run_dks(workdir: Path, job: dict, plan: dict, setups: str | None) -> dict:
    atoms, relaxed, iabs = _absorber_atoms(workdir, job)
    t0 = time.time()
    dks, e_fch, gs = delta_ks(workdir, job, plan, atoms, iabs)
    return {"delta_ks_ev": dks, "e_fch_ev": e_fch, "e_gs_ev": gs["energy_ev"],
            "fch_convergence": gs["fch_convergence"],
            "settings": job_settings(job, plan)[0], "timing_s": {"fch_scf": time.time() - t0}}


def run_xas(workdir: Path, job: dict, plan: dict, setups: str | None) -> tuple[dict, dict]:
    from gpaw import GPAW

    sid = job["sid"]
    meta = plan["structures"][sid]
    st, kpts = job_settings(job, plan)
    atoms, relaxed, iabs = _absorber_atoms(workdir, job)
    nocc = n_occupied(atoms)
    spin = meta["spin_polarized"]
    tag = job["id"].replace(":", "__")
    t0 = time.time()
    calc = GPAW(**pw_params(st, kpts, str(workdir / "logs" / f"{tag}_hch.txt"),
                            setups={iabs: "hch1s"}, spinpol=spin,
                            nbands=nocc + max(16, nocc // 5), convergence=HCH_CONVERGENCE))
    atoms.calc = calc
    e_hch = atoms.get_potential_energy() + calc.get_reference_energy()
    t1 = time.time()
    nb = int(st["nbands_factor"] * nocc)
    nconv = int(st["nbands_conv_factor"] * nocc)
    # eigenstate residual 1e-6 eV^2/electron (GPAW default 4e-8): eigenvalues to ~meV, and
    # 3x fewer iterations where a degenerate cluster straddles the last converged band
    calc2 = calc.fixed_density(nbands=nb, convergence={"bands": nconv, "eigenstates": NSCF_EIGENSTATES},
                               maxiter=400,   # slow but steady: no charge sloshing here
                               txt=str(workdir / "logs" / f"{tag}_nscf.txt"))
    t2 = time.time()
    # occupations from the SCF Fermi level: the fixed-density run does not update its f_n
    ef_scf = float(calc.get_fermi_level())
    kT = st["smearing_ev"]
    wfs = calc2.wfs
    setup = wfs.setups[iabs]
    assert setup.phicorehole_g is not None
    A_ci = setup.A_ci
    sym = wfs.kd.symmetry
    cell = np.array(wfs.gd.cell_cv)
    ops = [np.linalg.inv(cell) @ op @ cell for op in sym.op_scc] if sym is not None else [np.eye(3)]
    nsp = wfs.nspins
    E, S, EMPTY, K, SP = [], [], [], [], []
    emax = np.inf
    for kpt in wfs.kpt_u:
        eps = kpt.eps_n * HARTREE
        emax = min(emax, np.sort(eps)[nconv - 1])
        x = np.clip((eps - ef_scf) / kT, -200.0, 200.0)
        occ = 1.0 / (1.0 + np.exp(x))
        a_cn = np.inner(A_ci, kpt.projections[iabs])          # (3, nbands), complex
        s2 = np.zeros((3, len(eps)))
        for op in ops:                      # symmetrise |<core|r|n>|^2 over the k-point group
            t = op @ a_cn                   # same convention as gpaw.xas.XAS.get_spectra
            s2 += (t * t.conj()).real
        s2 /= len(ops)
        # pure k weight; spin-polarised: average the two spin channels (GPAW XAS counts twice)
        w = kpt.weightk / (2.0 if nsp == 2 else 1.0)
        E.append(eps)
        S.append(w * s2)
        EMPTY.append(1.0 - occ)
        K.append(np.full(len(eps), kpt.k))
        SP.append(np.full(len(eps), kpt.s))
    E = np.concatenate(E)
    S = np.concatenate(S, axis=1)
    EMPTY = np.clip(np.concatenate(EMPTY), 0.0, 1.0)
    onset = float(E[EMPTY >= 0.5].min())      # lowest (at least half-)empty level of the TS run
    ef_hch = ef_scf
    if job.get("dks", True):
        dks, e_fch, gs = delta_ks(workdir, job, plan, atoms, iabs)
    else:   # aligned later with the ΔKS of a reference site of the same cell and edge
        dks, e_fch = None, None
        gs = json.loads(job_file(workdir, job.get("gs_job", f"gs:{sid}")).read_text())
        gs.update(fch_convergence=None, fch_iterations=None)
    t3 = time.time()
    res = {"e_hch_ev": float(e_hch), "e_fch_ev": e_fch, "e_gs_ev": gs["energy_ev"],
           "delta_ks_ev": dks, "fch_convergence": gs["fch_convergence"],
           "fch_iterations": gs["fch_iterations"], "nscf_eigenstates_tol": NSCF_EIGENSTATES,
           "hch_convergence": HCH_CONVERGENCE,
           "onset_raw_ev": onset, "fermi_hch_ev": ef_hch,
           "emax_converged_raw_ev": float(emax), "relaxed": relaxed, "spin_polarized": spin,
           "nbands_scf": nocc + max(16, nocc // 5), "nbands_nscf": nb, "nbands_converged": nconv,
           "settings": st, "kpts": kpts, "n_symmetry_ops": len(ops), "n_ibz_kpoints": len(wfs.kd.ibzk_kc),
           "timing_s": {"hch_scf": t1 - t0, "nscf": t2 - t1, "fch_scf": t3 - t2,
                        "total": t3 - t0}}
    return res, {"e_stick": E, "a_stick_xyz": S.T, "emptiness": EMPTY, "k": np.concatenate(K),
                 "spin": np.concatenate(SP)}


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("workdir")
    ap.add_argument("job_id")
    ap.add_argument("--setups", default=None, help="directory with {B,N}.{hch1s,fch1s}.PBE")
    a = ap.parse_args(argv)
    workdir = Path(a.workdir).resolve()
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    _setup_paths(a.setups)
    plan = load_plan(workdir)
    job = next(j for j in plan["jobs"] if j["id"] == a.job_id)
    import ase
    import gpaw

    t0 = time.time()
    fn = {"relax": run_relax, "gs": run_gs, "xas": run_xas, "dks": run_dks}[job["kind"]]
    out = fn(workdir, job, plan, a.setups)
    res, arrays = (out, None) if isinstance(out, dict) else out
    res.update({"job": job, "wall_s": time.time() - t0, "maxrss_mb": _maxrss_mb(),
                "gpaw_version": gpaw.__version__, "ase_version": ase.__version__,
                "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    if arrays is not None:
        atomic_write_npz(job_file(workdir, job["id"], ".npz"), **arrays)
    atomic_write_json(job_file(workdir, job["id"]), res)   # the JSON marks the job as done
    print(f"{job['id']}: done in {res['wall_s']:.0f} s, maxrss {res['maxrss_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
