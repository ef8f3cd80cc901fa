"""Run ONE job of the BN XAS plan with ASE + GPAW only (run it with ``/usr/bin/python3``).

usage: /usr/bin/python3 gpaw_worker.py WORKDIR JOB_ID [--setups DIR]

Job kinds (see :func:`repository.calculations.bn_cells.build_plan`):

``relax:<sid>``
    LCAO (dzp) PBE relaxation of the atomic positions (cell fixed), BFGS.  Writes the relaxed
    positions; later jobs of the structure use them.
``gs:<sid>``
    Plane-wave ground state of the structure: all-electron-referenced total energy (for ΔKS),
    Fermi level, site-projected DOS (s, p_x, p_y, p_z of every atom; bound-state PAW projectors),
    their occupations, total DOS and Hirshfeld charges.
``gse:<sid>``
    Ground-state total energy only (all-electron referenced), at the job's cutoff/mesh: the
    reference of ΔKS when ΔKS uses another cutoff than the spectra (v2: 600 eV).
``xas:<sid>:<El><i>``
    Half-core-hole (Slater transition state) SCF with the ``hch1s`` setup on atom ``i`` (moved to
    the origin), a fixed-density run with many empty bands, and dipole stick spectra
    (x, y, z) weighted per k-point and spin by the emptiness (1 - f) of the final state; and the
    full-core-hole ΔKS onset ``E(fch1s, +1 e) - E(gs)``, computed first and checkpointed in the
    scratch folder (:func:`dks_checkpoint`), so a job killed at a deadline keeps that half.

SCF failures are retried along :data:`SCF_LADDER` (more smearing, slower mixing); the step used
is recorded, and the ΔKS runs of a site start at the ground state's step so both energies share
the smearing.  GPAW text output and trajectories go to ``$XASREPO_GPAW_SCRATCH`` (default
``WORKDIR/logs``), so a committed campaign folder holds only plan, structures and results.

Results go to ``WORKDIR/results/<job id with ':' -> '__'>.json`` (+ ``.npz``), written
atomically (temp file, then rename) and only when the job finished.  This module must not import
pymatgen or anything from the ``repository`` package.
"""

from __future__ import annotations

import hashlib
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


# SCF escalation: step 0 = the plan's settings; later steps only after a KohnShamConvergenceError.
# Spin-polarised defect cells at small smearing slosh between near-degenerate levels (v1: v_B,
# O_N); more Fermi-Dirac smearing and a slower, longer-memory Pulay mixer converge them.
SCF_LADDER = [
    {},
    {"smearing_ev": 0.1, "maxiter": 250},
    {"smearing_ev": 0.2, "maxiter": 400, "mixer": (0.02, 8, 100.0)},
]


def scratch_dir(workdir: Path) -> Path:
    """Folder for GPAW text output, BFGS logs and trajectories (not committed)."""
    d = Path(os.environ.get("XASREPO_GPAW_SCRATCH") or (Path(workdir) / "logs"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def ladder_settings(st: dict, step: int, spin: bool) -> dict:
    """Settings ``st`` with SCF-ladder step ``step`` applied (smearing only ever increases)."""
    out = dict(st)
    for k, v in SCF_LADDER[step].items():
        if k == "smearing_ev":
            out[k] = max(out.get(k, 0.0), v)
        else:
            out[k] = v
    return out


def with_ladder(fn, st: dict, spin: bool, start: int = 0):
    """Call ``fn(settings, step)`` along :data:`SCF_LADDER` from ``start`` until an SCF converges.

    Returns ``(result, step)``; re-raises the last ``KohnShamConvergenceError``."""
    from gpaw import KohnShamConvergenceError

    err = None
    for step in range(start, len(SCF_LADDER)):
        try:
            return fn(ladder_settings(st, step, spin), step), step
        except KohnShamConvergenceError as e:
            err = e
            print(f"SCF not converged at ladder step {step}: retrying with {SCF_LADDER[min(step + 1, len(SCF_LADDER) - 1)]}",
                  flush=True)
    raise err


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
    if settings.get("mixer"):
        from gpaw import Mixer, MixerSum

        beta, nold, weight = settings["mixer"]
        p["mixer"] = (MixerSum if kw.get("spinpol") else Mixer)(beta, int(nold), weight)
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
    """BFGS relaxation of the positions (cell fixed).  Resumable: after every step the current
    positions go to ``results/<job>.partial.json`` (committed with the campaign), and a restarted
    job continues from them with the steps left (the BFGS Hessian starts afresh)."""
    from ase.optimize import BFGS
    from gpaw import GPAW, FermiDirac

    sid = job["sid"]
    meta = plan["structures"][sid]
    st, kpts = job_settings(job, plan)
    if not plan.get("campaign"):          # v1 plans relaxed at Γ
        kpts = [1, 1, 1]
    atoms, _ = load_atoms(workdir, sid, use_relaxed=False)
    x0 = atoms.get_positions().copy()
    scratch = scratch_dir(workdir)
    partial_path = job_file(workdir, job["id"], ".partial.json")
    done_steps, history, continued = 0, [], None
    if partial_path.exists():
        part = json.loads(partial_path.read_text())
        atoms.set_positions(part["positions"])
        done_steps, history = int(part["steps"]), list(part.get("fmax_history", []))
        # a relaxation finished on a coarser mesh, continued on this one (campaign.continue_relaxations)
        continued = part.get("continued_from")
    spin = meta["spin_polarized"]
    start = int(json.loads(partial_path.read_text()).get("scf_ladder_step", 0)) \
        if partial_path.exists() else 0
    log = str(scratch / f"relax_{sid}.txt")
    state = {"step": start}

    def make_calc(s):
        if s.get("relax_mode", "pw") == "lcao-dzp":
            return GPAW(mode="lcao", basis="dzp", xc=s["xc"], kpts={"size": [1, 1, 1], "gamma": True},
                        occupations=FermiDirac(0.1), spinpol=spin, txt=log), "GPAW LCAO dzp"
        # measured cheaper here: LCAO spends ~8 s per SCF step on its real-space grids
        return GPAW(**pw_params(s, kpts, log, spinpol=spin)), f"GPAW PW {s['ecut_ev']:.0f} eV"

    def save_partial():
        f = atoms.get_forces()
        fm = float(np.sqrt((f ** 2).sum(1)).max())
        history.append(round(fm, 4))
        atomic_write_json(partial_path, {
            "positions": atoms.get_positions().tolist(), "steps": done_steps + opt.nsteps,
            "fmax_ev_per_a": fm, "fmax_history": history, "scf_ladder_step": state["step"],
            "energy_ev": float(atoms.get_potential_energy()), "kpts": list(kpts), "continued_from": continued})

    converged, how, note = False, "", ""
    steps_left = max(0, int(st["relax_steps"]) - done_steps)
    while True:
        s_now = ladder_settings(st, state["step"], spin)
        calc, how = make_calc(s_now)
        atoms.calc = calc
        opt = BFGS(atoms, maxstep=0.1, logfile=str(scratch / f"relax_{sid}.bfgs"),
                   trajectory=str(scratch / f"relax_{sid}.traj"))
        opt.attach(save_partial, interval=1)
        try:
            converged = bool(opt.run(fmax=st["relax_fmax"], steps=steps_left))
            break
        except Exception as err:   # SCF failure: next ladder step, from the last saved positions
            from gpaw import KohnShamConvergenceError

            if not isinstance(err, KohnShamConvergenceError) or state["step"] + 1 >= len(SCF_LADDER):
                raise
            state["step"] += 1
            if partial_path.exists():
                part = json.loads(partial_path.read_text())
                atoms.set_positions(part["positions"])
                done_steps = int(part["steps"])
                steps_left = max(0, int(st["relax_steps"]) - done_steps)
            print(f"relax {sid}: SCF failed ({err}); ladder step {state['step']}", flush=True)
    forces = atoms.get_forces()
    fmax = float(np.sqrt((forces ** 2).sum(1)).max())
    disp = np.sqrt(((atoms.get_positions() - x0) ** 2).sum(1))
    total_steps = done_steps + int(opt.nsteps)
    if not converged:
        note = f" (step limit {st['relax_steps']} reached, not converged)"
    s_final = ladder_settings(st, state["step"], spin)
    return {"positions": atoms.get_positions().tolist(), "converged": converged,
            "steps": total_steps, "fmax_ev_per_a": fmax, "fmax_history": history,
            "max_displacement_a": float(disp.max()),
            "energy_ev": float(atoms.get_potential_energy()), "kpts": list(kpts),
            "scf_ladder_step": state["step"], "smearing_ev": s_final["smearing_ev"], "continued_from": continued,
            "method": f"{how} {st['xc']}, k {'x'.join(map(str, kpts))} (Gamma-centred), BFGS "
                      f"(maxstep 0.1 A) to fmax {st['relax_fmax']} eV/A (max {st['relax_steps']} "
                      f"steps), cell fixed, Fermi-Dirac {s_final['smearing_ev']} eV" + note}


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
    txt = str(scratch_dir(workdir) / f"{tag}.txt")

    def scf(s, step):
        c = GPAW(**pw_params(s, kpts, txt, nbands=int(1.5 * nocc) + 8, spinpol=spin))
        atoms.calc = c
        return c, atoms.get_potential_energy() + c.get_reference_energy()

    (calc, e), ladder = with_ladder(scf, st, spin)
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
    # forces on this (the production) mesh: a geometry relaxed on another mesh (the early
    # relaxations ran on 2x2x1 / 2x2x2) states its residual force where its spectra are computed;
    # in plane waves they cost about one SCF iteration
    forces = atoms.get_forces()
    fmax = float(np.sqrt((forces ** 2).sum(1)).max())
    if job.get("pdos_sites") is not None:
        # v2: the all-electron density for Bader charges (post-processed in the project venv,
        # then deleted: ~10 MB a cell is not committed) and the PDOS of the absorber sites only
        n_ae = calc.get_all_electron_density(gridrefinement=2)
        np.savez_compressed(scratch_dir(workdir) / f"{tag}.aedens.npz",
                            density=n_ae.astype(np.float32), cell=atoms.get_cell()[:],
                            positions=atoms.get_positions(),
                            symbols=np.array(atoms.get_chemical_symbols()))
    res = {"energy_ev": float(e), "fermi_ev": ef, "relaxed": relaxed, "spin_polarized": spin,
           "nbands": int(1.5 * nocc) + 8, "hirshfeld": [float(c) for c in charges],
           "occupations_s_py_pz_px": occ.tolist(),
           "magnetic_moment_total": float(calc.get_magnetic_moment()) if spin else 0.0,
           "magnetic_moments": [float(m) for m in mag],
           "pdos_fwhm_ev": 0.2, "scf_ladder_step": ladder, "smearing_ev": ladder_settings(st, ladder, spin)["smearing_ev"],
           "kpts": list(kpts), "ecut_ev": st["ecut_ev"],
           "fmax_ev_per_a": fmax,
           "pdos_note": "Gaussian, FWHM 0.2 eV; first bound-state PAW projector of each l"}
    if job.get("pdos_sites") is not None:
        sites = [int(i) for i in job["pdos_sites"]]
        res["pdos_sites"] = sites
        sel = slice(None, None, 2)                 # 0.1 eV steps
        return res, {"grid": grid[sel], "pdos": pdos[sites][:, sel].astype(np.float32),
                     "tdos": tdos[sel].astype(np.float32)}
    return res, {"grid": grid, "pdos": pdos.astype(np.float32), "tdos": tdos.astype(np.float32)}


def run_gse(workdir: Path, job: dict, plan: dict, setups: str | None) -> dict:
    """Ground-state total energy (all-electron referenced) at the job's cutoff and mesh."""
    from gpaw import GPAW

    sid = job["sid"]
    meta = plan["structures"][sid]
    st, kpts = job_settings(job, plan)
    atoms, relaxed = load_atoms(workdir, sid)
    spin = meta["spin_polarized"]
    txt = str(scratch_dir(workdir) / (job["id"].replace(":", "__") + ".txt"))
    t0 = time.time()

    def scf(s, step):
        c = GPAW(**pw_params(s, kpts, txt, spinpol=spin, convergence=FCH_CONVERGENCE))
        atoms.calc = c
        return c, atoms.get_potential_energy() + c.get_reference_energy()

    (calc, e), ladder = with_ladder(scf, st, spin)
    return {"energy_ev": float(e), "fermi_ev": float(calc.get_fermi_level()),
            "relaxed": relaxed, "spin_polarized": spin, "ecut_ev": st["ecut_ev"],
            "kpts": list(kpts), "scf_ladder_step": ladder,
            "smearing_ev": ladder_settings(st, ladder, spin)["smearing_ev"],
            "convergence": dict(FCH_CONVERGENCE), "iterations": int(calc.get_number_of_iterations()),
            "magnetic_moment_total": float(calc.get_magnetic_moment()) if spin else 0.0,
            "timing_s": {"scf": time.time() - t0}}


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
    if job.get("dks_ecut_ev"):        # v2: ΔKS at its own (higher) cutoff, gs_job at the same
        st["ecut_ev"] = float(job["dks_ecut_ev"])
    gs = json.loads(job_file(workdir, job.get("gs_job", f"gs:{job['sid']}")).read_text())
    if "ecut_ev" in gs and abs(gs["ecut_ev"] - st["ecut_ev"]) > 1e-6:
        raise ValueError(f"ΔKS at {st['ecut_ev']} eV but the ground state {job.get('gs_job')} "
                         f"was computed at {gs['ecut_ev']} eV")
    tag = job["id"].replace(":", "__")
    mag = np.zeros(len(atoms))
    mag[iabs] = 1.0
    atoms_f = atoms.copy()
    atoms_f.set_initial_magnetic_moments(mag + atoms.get_initial_magnetic_moments())
    txt = str(scratch_dir(workdir) / f"{tag}_fch.txt")

    def scf(s, step):
        # the total energy converges long before GPAW's default density/eigenstate criteria
        c = GPAW(**pw_params(s, kpts, txt, setups={iabs: "fch1s"}, charge=-1, spinpol=True,
                             convergence=FCH_CONVERGENCE))
        atoms_f.calc = c
        return c, atoms_f.get_potential_energy() + c.get_reference_energy()

    # start at the ground state's ladder step: both energies with the same smearing
    (calc3, e_fch), step = with_ladder(scf, st, True, start=int(gs.get("scf_ladder_step", 0)))
    if step != int(gs.get("scf_ladder_step", 0)):
        raise ValueError(f"the full-core-hole SCF needed ladder step {step}, the ground state "
                         f"{gs.get('scf_ladder_step', 0)}: ΔKS would mix smearings")
    gs["fch_convergence"] = dict(FCH_CONVERGENCE)
    gs["fch_iterations"] = int(calc3.get_number_of_iterations())
    gs["dks_ecut_ev"] = st["ecut_ev"]
    gs["dks_ladder_step"] = step
    return float(e_fch - gs["energy_ev"]), float(e_fch), gs


def run_dks(workdir: Path, job: dict, plan: dict, setups: str | None) -> dict:
    atoms, relaxed, iabs = _absorber_atoms(workdir, job)
    t0 = time.time()
    dks, e_fch, gs = delta_ks(workdir, job, plan, atoms, iabs)
    return {"delta_ks_ev": dks, "e_fch_ev": e_fch, "e_gs_ev": gs["energy_ev"],
            "fch_convergence": gs["fch_convergence"],
            "settings": job_settings(job, plan)[0], "timing_s": {"fch_scf": time.time() - t0}}


def _dks_checkpoint_path(workdir: Path, job: dict) -> Path:
    return scratch_dir(workdir) / (job["id"].replace(":", "__") + ".dks-checkpoint.json")


def dks_checkpoint(workdir: Path, job: dict, plan: dict, atoms) -> tuple[Path, str]:
    """(path, key) of the ΔKS checkpoint of an ``xas`` job, in the scratch folder (not committed:
    it saves work on the machine that was interrupted, a fresh machine recomputes).

    The key is a SHA-256 over everything the ΔKS value depends on: the job, its settings, the
    ground-state result it is referenced to, the absorber-centred geometry (positions, cell,
    numbers, initial moments) and this file's source, so a checkpoint is reused only for exactly
    the calculation that would be repeated."""
    h = hashlib.sha256()
    h.update(json.dumps({"job": job, "settings": job_settings(job, plan)}, sort_keys=True,
                        default=str).encode())
    h.update(job_file(workdir, job.get("gs_job", f"gs:{job['sid']}")).read_bytes())
    for arr in (atoms.positions, atoms.cell.array, atoms.numbers, atoms.get_initial_magnetic_moments()):
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update(Path(__file__).read_bytes())
    return _dks_checkpoint_path(workdir, job), h.hexdigest()


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _delta_ks_checkpointed(workdir: Path, job: dict, plan: dict, atoms, iabs: int) -> dict:
    """:func:`delta_ks` through its checkpoint: ``{'dks', 'e_fch', 'gs', 'fch_scf_s', 'resumed'}``,
    where ``resumed`` is ``None`` or ``{'cpu_s', 'wall_s', 'finished_utc'}`` of the earlier run
    whose ΔKS is reused (its CPU and wall time still count for the job)."""
    path, key = dks_checkpoint(workdir, job, plan, atoms)
    try:
        ck = json.loads(path.read_text())
    except (OSError, ValueError):
        ck = None
    if ck is not None and ck.get("key") == key:
        return {**ck["value"], "resumed": {k: ck[k] for k in ("cpu_s", "wall_s", "finished_utc")}}
    cpu0, t0 = _cpu_s(), time.time()
    dks, e_fch, gs = delta_ks(workdir, job, plan, atoms, iabs)
    value = {"dks": dks, "e_fch": e_fch, "gs": gs, "fch_scf_s": time.time() - t0}
    atomic_write_json(path, {"key": key, "value": value, "cpu_s": _cpu_s() - cpu0,
                             "wall_s": time.time() - t0,
                             "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return {**value, "resumed": None}


def run_xas(workdir: Path, job: dict, plan: dict, setups: str | None) -> tuple[dict, dict]:
    from gpaw import GPAW

    sid = job["sid"]
    meta = plan["structures"][sid]
    st, kpts = job_settings(job, plan)
    atoms, relaxed, iabs = _absorber_atoms(workdir, job)
    nocc = n_occupied(atoms)
    spin = meta["spin_polarized"]
    tag = job["id"].replace(":", "__")
    scratch = scratch_dir(workdir)
    gsj = job_file(workdir, f"gs:{sid}")
    start = int(json.loads(gsj.read_text()).get("scf_ladder_step", 0)) if gsj.exists() else 0
    # ΔKS first: its result is three numbers, checkpointed, so a job killed during the longer
    # core-hole SCF + empty-band run keeps it (and the ΔKS calculator is freed before those)
    if job.get("dks", True):
        dk = _delta_ks_checkpointed(workdir, job, plan, atoms, iabs)
        dks, e_fch, gs, fch_scf_s, resumed = (dk["dks"], dk["e_fch"], dk["gs"], dk["fch_scf_s"],
                                              dk["resumed"])
    else:   # aligned later with the ΔKS of a reference site of the same cell and edge
        dks, e_fch, fch_scf_s, resumed = None, None, 0.0, None
        gs = json.loads(job_file(workdir, job.get("gs_job", f"gs:{sid}")).read_text())
        gs.update(fch_convergence=None, fch_iterations=None)
    t0 = time.time()

    def scf(s, step):
        c = GPAW(**pw_params(s, kpts, str(scratch / f"{tag}_hch.txt"), setups={iabs: "hch1s"},
                             spinpol=spin, nbands=nocc + max(16, nocc // 5),
                             convergence=HCH_CONVERGENCE))
        atoms.calc = c
        return c, atoms.get_potential_energy() + c.get_reference_energy()

    (calc, e_hch), hch_ladder = with_ladder(scf, st, spin, start=start)
    st_used = ladder_settings(st, hch_ladder, spin)
    t1 = time.time()
    # occupations from the SCF Fermi level: the fixed-density run does not update its f_n
    ef_scf = float(calc.get_fermi_level())
    kT = st_used["smearing_ev"]
    if plan.get("campaign"):
        # v2: enough converged bands that the highest lies min_range_above_onset_ev + 2 eV (one
        # broadening width at the top of the range) above the onset; more bands until it does
        conv_factor = float(meta.get("nbands_conv_factor", 3.0))
        need_ev = float(st["min_range_above_onset_ev"]) + 2.0
        extra = float(st["nbands_extra_factor"])
    else:
        conv_factor, need_ev, extra = float(st["nbands_conv_factor"]), None, None
    nband_tries = []
    for attempt in range(4):
        nconv = int(conv_factor * nocc)
        nb = int(extra * nconv) + 8 if extra else int(st["nbands_factor"] * nocc)
        # eigenstate residual 1e-6 eV^2/electron (GPAW default 4e-8): eigenvalues to ~meV, and
        # 3x fewer iterations where a degenerate cluster straddles the last converged band
        calc2 = calc.fixed_density(nbands=nb, convergence={"bands": nconv,
                                                           "eigenstates": NSCF_EIGENSTATES},
                                   maxiter=400,   # slow but steady: no charge sloshing here
                                   txt=str(scratch / f"{tag}_nscf.txt"))
        top = min(np.sort(k.eps_n * HARTREE)[nconv - 1] for k in calc2.wfs.kpt_u)
        low = min(float((k.eps_n * HARTREE)[(k.eps_n * HARTREE) > ef_scf + 2 * kT].min())
                  for k in calc2.wfs.kpt_u)
        nband_tries.append({"nbands": nb, "nbands_converged": nconv,
                            "range_above_onset_ev": round(float(top - low), 3)})
        if need_ev is None or top - low >= need_ev:
            break
        # free-electron-like counting: states below E grow as E^(3/2) above the band bottom,
        # measured here from the lowest empty level minus 10 eV (conduction-band width scale)
        # (at least 20 % more empty bands: a retry costs a whole fixed-density run, measured
        # 20-25 min for the 32-atom monolayer, so overshooting is cheaper than a third try)
        ratio = ((need_ev + 10.0) / max(top - low + 10.0, 1.0)) ** 1.5
        empty = conv_factor * nocc - nocc
        conv_factor = (nocc + max(1.1 * ratio, 1.2) * empty) / nocc
    else:
        raise RuntimeError(f"{job['id']}: spectrum reaches only {top - low:.1f} eV above the "
                           f"onset after {len(nband_tries)} band counts ({nband_tries})")
    t2 = time.time()
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
    res = {"e_hch_ev": float(e_hch), "e_fch_ev": e_fch, "e_gs_ev": gs["energy_ev"],
           "delta_ks_ev": dks, "fch_convergence": gs["fch_convergence"],
           "fch_iterations": gs["fch_iterations"], "nscf_eigenstates_tol": NSCF_EIGENSTATES,
           "hch_convergence": HCH_CONVERGENCE,
           "onset_raw_ev": onset, "fermi_hch_ev": ef_hch,
           "emax_converged_raw_ev": float(emax), "relaxed": relaxed, "spin_polarized": spin,
           "nbands_scf": nocc + max(16, nocc // 5), "nbands_nscf": nb, "nbands_converged": nconv,
           "settings": st, "kpts": kpts, "n_symmetry_ops": len(ops), "n_ibz_kpoints": len(wfs.kd.ibzk_kc),
           "hch_ladder_step": hch_ladder, "smearing_ev": kT, "nband_tries": nband_tries,
           "dks_ecut_ev": gs.get("dks_ecut_ev"), "dks_ladder_step": gs.get("dks_ladder_step"),
           "timing_s": {"hch_scf": t1 - t0, "nscf": t2 - t1, "fch_scf": fch_scf_s,
                        "total": t2 - t0 + fch_scf_s},
           "dks_resumed_from": resumed}
    if plan.get("campaign"):
        # v2 results are committed: drop sticks above the converged range and store float32
        keep = E <= emax + 1e-9
        return res, {"e_stick": E[keep], "a_stick_xyz": S.T[keep].astype(np.float32),
                     "emptiness": EMPTY[keep].astype(np.float32)}
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
    _setup_paths(a.setups)
    plan = load_plan(workdir)
    job = next(j for j in plan["jobs"] if j["id"] == a.job_id)
    import ase
    import gpaw

    t0 = time.time()
    fn = {"relax": run_relax, "gs": run_gs, "gse": run_gse, "xas": run_xas,
          "dks": run_dks}[job["kind"]]
    out = fn(workdir, job, plan, a.setups)
    res, arrays = (out, None) if isinstance(out, dict) else out
    # a ΔKS reused from a checkpoint: its earlier run's CPU and wall time belong to this job
    earlier = res.get("dks_resumed_from") or {"cpu_s": 0.0, "wall_s": 0.0}
    res.update({"job": job, "wall_s": time.time() - t0 + earlier["wall_s"], "maxrss_mb": _maxrss_mb(),
                "cpu_s": _cpu_s() + earlier["cpu_s"],   # the wall time includes waiting (nice)
                "gpaw_version": gpaw.__version__, "ase_version": ase.__version__,
                "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    if arrays is not None:
        atomic_write_npz(job_file(workdir, job["id"], ".npz"), **arrays)
    atomic_write_json(job_file(workdir, job["id"]), res)   # the JSON marks the job as done
    if job["kind"] == "xas":
        _dks_checkpoint_path(workdir, job).unlink(missing_ok=True)
    print(f"{job['id']}: done in {res['wall_s']:.0f} s, maxrss {res['maxrss_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
