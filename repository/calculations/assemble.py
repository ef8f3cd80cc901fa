"""Finished raw results -> calculation set (``calcset.toml`` + files), see docs/calcset-format.md.

Only finished results are used: an absorber entry is written when its ``xas`` job and the
structure's ``gs`` job (and the pristine host's ``gs`` job, for the σ-charge-transfer reference)
have results.  Data files are written first (each atomically), the manifest last (temp file +
rename), and files are never deleted, so the set in ``out`` is valid at every moment.

Energy scale of the spectra (see docs/bn-calculations.md)::

    E_abs = E_raw - onset_raw + ΔKS(ecut) + δ_edge(ecut -> ecut_ref)

``E_raw``: GPAW eigenvalue scale of the half-core-hole run; ``onset_raw``: its lowest
(at least half-)empty level; ``ΔKS``: E(full core hole + electron) - E(ground state) of the same
absorber; ``δ_edge``: per-edge plane-wave cutoff correction of ΔKS measured on pristine cells
(``WORKDIR/dks_correction.json``).  ``alignment_shift_ev = E_abs - E_raw``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from . import GENERATOR_VERSION


SETUP_COMMANDS = {
    "hch1s": "gpaw-setup {el} -f PBE --name hch1s --core-hole=1s,0.5",
    "fch1s": "gpaw-setup {el} -f PBE --name fch1s --core-hole=1s,1",
}


def _rjson(p: Path, default=None):
    try:
        return json.loads(Path(p).read_text())
    except (OSError, ValueError):
        return default


def _res(workdir: Path, job_id: str, ext=".json"):
    return Path(workdir) / "results" / (job_id.replace(":", "__") + ext)


def _atomic_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text() == text:
        return
    tmp = path.with_name("." + path.name + f".tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _fmt_table(header: str, cols: list[np.ndarray], energy_decimals: int = 3) -> str:
    lines = ["# " + header]
    for row in zip(*cols):
        e = f"{row[0]:.{energy_decimals}f}"
        lines.append(" ".join([e] + [f"{v:.5g}" for v in row[1:]]))
    return "\n".join(lines) + "\n"


# energy-dependent Gaussian broadening (FWHM, eV) of a stick at E_rel eV above the onset:
# 0.5 eV up to +1 eV, rising linearly to 2.0 eV at +15 eV, constant above (final-state lifetime;
# it also smooths the discrete Γ-point band sampling of the supercells at higher energies)
BROADENING = {"fwhm0_ev": 0.5, "ramp_start_ev": 1.0, "fwhm1_ev": 2.0, "ramp_end_ev": 15.0}


def fwhm_at(e_rel, b: dict = BROADENING):
    e = np.asarray(e_rel, float)
    t = np.clip((e - b["ramp_start_ev"]) / (b["ramp_end_ev"] - b["ramp_start_ev"]), 0.0, 1.0)
    return b["fwhm0_ev"] + t * (b["fwhm1_ev"] - b["fwhm0_ev"])


def broaden(e_stick, a_stick, grid, fwhm):
    """Sum of area-normalised Gaussians; ``fwhm`` a number or one width per stick."""
    sig = np.broadcast_to(np.asarray(fwhm, float), np.shape(e_stick)) / 2.3548200450309493
    g = np.exp(-0.5 * ((grid[:, None] - e_stick[None, :]) / sig[None, :]) ** 2) / (
        sig[None, :] * np.sqrt(2 * np.pi))
    return g @ a_stick


def spectrum_arrays(xres: dict, arr, settings: dict, shift: float, broadening: dict = BROADENING):
    """Broadened spectrum on the absolute scale: (energy, iso, in_plane, out_of_plane, x, y, z).

    The grid runs from ``grid_min`` to ``grid_max`` eV around the onset, cut one local FWHM below
    the highest converged band so that no part of the curve is missing stick weight.
    Broadening: ``broadening`` (keys as :data:`BROADENING`, the set's energy-dependent one)."""
    onset = xres["onset_raw_ev"]
    top = xres["emax_converged_raw_ev"] - onset
    top = top - float(fwhm_at(top, broadening))
    hi = min(settings["grid_max_ev"], np.floor(top * 10) / 10)
    step = settings["grid_step_ev"]
    rel = np.round(np.arange(settings["grid_min_ev"], hi + step / 2, step), 6)
    e = arr["e_stick"] - onset
    keep = arr["e_stick"] <= xres["emax_converged_raw_ev"] + 1e-9
    a = arr["a_stick_xyz"][keep] * arr["emptiness"][keep][:, None]
    xyz = broaden(e[keep], a, rel, fwhm_at(e[keep], broadening))
    # scale: intensities in units of 1e-3 a.u. (squared core->band dipole, per absorber)
    xyz = xyz * 1000.0
    iso = xyz.mean(1)
    inpl = 0.5 * (xyz[:, 0] + xyz[:, 1])
    outp = xyz[:, 2]
    return rel + onset + shift, iso, inpl, outp, xyz, float(hi)


def _pmg_structure(workdir: Path, sid: str):
    from pymatgen.core import Structure

    s = Structure.from_dict(_rjson(Path(workdir) / "structures" / f"{sid}.pmg.json"))
    rel = _rjson(_res(workdir, f"relax:{sid}"))
    if rel is not None:
        s = Structure(s.lattice, s.species, rel["positions"], coords_are_cartesian=True)
    return s, rel


# a cell whose relaxation failed for good: its spectra were computed on the ideal cell (runner.py)
UNFINISHED_RELAXATION = "none (the relaxation did not finish; ideal positions)"


def _continued_text(continued: dict | None) -> str:
    """The relaxation text's note on a relaxation continued on the spectra's mesh after it had
    converged on a coarser one (``campaign.continue_relaxations``)."""
    if not continued:
        return ""
    return (f"; continued from a k {'x'.join(map(str, continued['kpts']))} relaxation "
            f"({continued['steps']} steps, fmax {continued['fmax_ev_per_a']:.3f} eV/A there, "
            f"{continued['fmax_on_production_mesh_ev_per_a']:.3f} eV/A on this mesh)")


def _production_force_text(gs: dict, rel: dict) -> str:
    """The relaxation text's note on the residual force where the spectra are computed: the ground
    state on the production mesh records its max force (``fmax_ev_per_a``, eV/Å) since 2026-12-01;
    a relaxation on another mesh (the early ones ran on 2x2x1 / 2x2x2) is only as good as that."""
    mesh = "x".join(map(str, gs.get("kpts") or []))
    if gs.get("fmax_ev_per_a") is None:
        if list(gs.get("kpts") or []) == list(rel.get("kpts") or []):
            return ""
        return f"; max force on the spectra's k {mesh} mesh not computed"
    return f"; max force on the spectra's k {mesh} mesh {gs['fmax_ev_per_a']:.3f} eV/A"


def _relaxation_state(workdir: Path, sid: str, meta: dict) -> str:
    """The set-level summary of one cell's relaxation: "none" (not relaxed by design), "pending",
    "converged (fmax F eV/A, N steps)" or "NOT converged (fmax F eV/A after N steps)".

    Before 2026-11-30 every finished relaxation was summarised as "relaxed", also the five v1
    cells that stopped at the step limit with forces of 0.25-0.73 eV/A (found by a newcomer trial;
    the entries' own ``relaxation`` texts were right)."""
    if not meta["relax"]:
        return "none"
    rel = _rjson(_res(workdir, f"relax:{sid}"))
    if rel is None:
        return "pending"
    if rel["converged"]:
        return f"converged (fmax {rel['fmax_ev_per_a']:.3f} eV/A, {rel['steps']} steps)"
    return f"NOT converged (fmax {rel['fmax_ev_per_a']:.3f} eV/A after {rel['steps']} steps)"


def _sha256(p: Path) -> str:
    try:
        return hashlib.sha256(Path(p).read_bytes()).hexdigest()
    except OSError:
        return "missing"


def _rtoml(p: Path):
    import tomllib
    try:
        return tomllib.loads(Path(p).read_text())
    except (OSError, ValueError):
        return None


def _calculation_defaults(st: dict, versions: set) -> dict:
    gver = sorted(versions)[0] if versions else ("22.8.0", "3.22.1")
    return {
        "code": "GPAW", "code_version": gver[0], "method": "half_core_hole",
        "functional": st["xc"], "broadening_ev": BROADENING["fwhm0_ev"],
        "energy_reference": ("eigenvalue scale of the half-core-hole run (raw); the files hold "
                             "E_raw + alignment_shift_ev, i.e. the onset at the Delta-KS "
                             "energy"),
        "parameters": {"ecut_ev": st["ecut_ev"], "smearing_ev": st["smearing_ev"],
                       "broadening_fwhm_max_ev": BROADENING["fwhm1_ev"],
                       "broadening_ramp_ev": [BROADENING["ramp_start_ev"],
                                              BROADENING["ramp_end_ev"]],
                       "kpts_gamma_centred": True,
                       **({"nbands_factor": st["nbands_factor"],
                           "nbands_conv_factor": st["nbands_conv_factor"]}
                          if "nbands_factor" in st else   # v2: bands until +N eV is reached
                          {"min_range_above_onset_ev": st["min_range_above_onset_ev"],
                           "delta_ks_ecut_ev": st["dks_ecut_ev"]})},
    }


def _entries_to_keep(previous: dict | None, fresh: list[dict], defaults: dict) -> list[dict]:
    """Entries of the set already in ``out`` that this work directory cannot rebuild.

    Raw results live in an ignored work directory, so a machine that has only part of them (a
    fresh clone, another session) must not shrink the committed set: its entries are kept as they
    are (their files are never deleted).  Where the calculation defaults changed, the old ones are
    written into each kept entry so that its provenance stays exactly what it was.
    """
    if not previous:
        return []
    fresh_keys = {e["key"] for e in fresh}
    old_defaults = previous.get("defaults", {}).get("calculation", {})
    kept = []
    for entry in previous.get("entries", []):
        if entry.get("key") in fresh_keys:
            continue
        if old_defaults != defaults:
            calc = entry.get("calculation", {})
            entry = {**entry, "calculation": {
                **old_defaults, **calc,
                "parameters": {**old_defaults.get("parameters", {}), **calc.get("parameters", {})}}}
        kept.append(entry)
    return kept


def update_dks_correction(workdir: str | Path) -> dict:
    """Per-edge ΔKS cutoff correction from the ``dks600:<sid>:<El><i>`` convergence jobs.

    δ_edge = mean over the checked pristine cells of ΔKS(600 eV) - ΔKS(plan cutoff), written to
    ``WORKDIR/dks_correction.json`` (with the individual values) and returned."""
    workdir = Path(workdir)
    plan = _rjson(workdir / "plan.json")
    vals: dict[str, list] = {}
    for job in plan["jobs"]:
        if job["kind"] != "dks":
            continue
        hi = _rjson(_res(workdir, job["id"]))
        lo = _rjson(_res(workdir, f"xas:{job['sid']}:{job['element']}{job['absorber']}"))
        if hi is None or lo is None:
            continue
        vals.setdefault(job["element"], []).append(
            {"structure": job["sid"], "ecut_high_ev": job["override"]["ecut_ev"],
             "ecut_low_ev": plan["settings"]["ecut_ev"], "delta_ks_high_ev": hi["delta_ks_ev"],
             "delta_ks_low_ev": lo["delta_ks_ev"],
             "difference_ev": hi["delta_ks_ev"] - lo["delta_ks_ev"]})
    corr = {el: {"value_ev": float(np.mean([v["difference_ev"] for v in vs])), "from": vs}
            for el, vs in vals.items()}
    if corr:
        _atomic_text(workdir / "dks_correction.json", json.dumps(corr, indent=1))
    return corr


def assemble(workdir: str | Path, out: str | Path, setups_dir: str | Path | None = None,
             set_name: str = "bn-gpaw-xas", probes: bool = False) -> int:
    """Write the calculation set for everything finished so far; return the number of entries.

    ``probes`` (v2 campaigns only): write the independent probe set instead -- the spectra that
    :func:`repository.calculations.plan_v2.is_probe_job` names (denser k meshes, 64-72-atom cells),
    which the main set leaves out -- plus :func:`write_probe_manifest`'s ``manifest.csv``, so the
    folder is both an importable calculation set and a ``xasrepo compare --probe DIR``."""
    import tomli_w

    from .plan_v2 import is_probe_job

    workdir, out = Path(workdir), Path(out)
    setups_dir = Path(setups_dir) if setups_dir else workdir.parent / "setups"
    plan = _rjson(workdir / "plan.json")
    if plan is None:
        raise FileNotFoundError(f"{workdir / 'plan.json'}: no plan in this work directory "
                                "(run `python -m repository.calculations plan` first)")
    v2 = bool(plan.get("campaign"))
    st = plan["settings"]
    previous = _rtoml(out / "calcset.toml")
    final_out = out
    if v2:
        # v2 sets are rebuilt whole from the committed results, in a fresh folder swapped in at
        # the end: files of entries that no longer exist (superseded results) do not linger, and
        # a failure half-way leaves the previous set as it was
        out = out.with_name(out.name + ".assembling")
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
    if not v2:      # v2: every ΔKS at its own converged cutoff, no averaged correction
        update_dks_correction(workdir)
    # The correction is measured by convergence jobs; a work directory without them uses the one
    # the committed set was assembled with, so old and new entries share one energy scale.
    corr = (_rjson(workdir / "dks_correction.json", {}) or
            (previous or {}).get("set", {}).get("provenance", {}).get("delta_ks_cutoff_correction", {}))
    gs_all = {sid: _rjson(_res(workdir, f"gs:{sid}")) for sid in plan["structures"]}
    entries, written_structs = [], {}
    versions = set()
    timings = []
    for job in plan["jobs"]:
        if job["kind"] != "xas" or plan["structures"][job["sid"]].get("conv"):
            continue
        if v2 and is_probe_job(job, plan["structures"]) != probes:
            continue
        if not v2 and job.get("conv"):
            continue
        xres = _rjson(_res(workdir, job["id"]))
        if xres is None:
            continue
        sid, el, idx = job["sid"], job["element"], int(job["absorber"])
        meta = plan["structures"][sid]
        gs = gs_all.get(sid)
        host_sid = meta["host"] or sid
        hgs = gs_all.get(host_sid)
        if gs is None or hgs is None:
            continue
        arr = np.load(_res(workdir, job["id"], ".npz"))
        versions.add((xres["gpaw_version"], xres["ase_version"]))
        timings.append((meta["natoms"], xres["timing_s"]["total"]))
        # ---- structure files
        if sid not in written_structs:
            s, rel = _pmg_structure(workdir, sid)
            _atomic_text(out / "structures" / f"{sid}.json", json.dumps(s.as_dict()))
            written_structs[sid] = rel
            if meta["host"] and meta["host"] not in written_structs:
                hs, hrel = _pmg_structure(workdir, meta["host"])
                _atomic_text(out / "structures" / f"{meta['host']}.json", json.dumps(hs.as_dict()))
                written_structs[meta["host"]] = hrel
        rel = written_structs[sid]
        if rel is None and v2 and meta.get("variant") not in (None, "pristine"):
            relaxation = f"none: {meta['variant']} of the ideal cell (experimental lattice constants)"
        elif rel is None:
            relaxation = "none (experimental lattice constants, ideal positions)"
        else:
            relaxation = (("positions relaxed: " if rel["converged"] else
                           "positions partly relaxed (NOT converged): ")
                          + f"{rel['method']}; {rel['steps']} steps, "
                          f"final max force {rel['fmax_ev_per_a']:.3f} eV/A"
                          + ("" if rel["converged"] else " (step limit reached, not converged)")
                          + _continued_text(rel.get("continued_from"))
                          + (_production_force_text(gs, rel) if v2 else ""))
        # ---- alignment
        c = corr.get(el, {}).get("value_ev", 0.0) if st.get("dks_ecut_correction") else 0.0
        ref_site = None
        if xres.get("delta_ks_ev") is not None:
            own_dks = xres["delta_ks_ev"]
            alignment = "delta_ks"
        else:   # no own ΔKS: the far (else nearest) site of the same cell and edge
            own_dks = None
            for role in ("far", "nearest"):
                rj = next((j for j in plan["jobs"] if j["kind"] == "xas" and j["sid"] == sid
                           and j.get("element") == el and j.get("role") == role
                           and not j.get("conv")), None)
                rr = _rjson(_res(workdir, rj["id"])) if rj else None
                if rr is not None and rr.get("delta_ks_ev") is not None:
                    ref_site, ref_dks = int(rj["absorber"]), rr["delta_ks_ev"]
                    break
            if ref_site is None:
                continue
            alignment = "delta_ks_reference_site"
        onset_abs = (own_dks if own_dks is not None else ref_dks) + c
        shift = onset_abs - xres["onset_raw_ev"]
        energy, iso, inpl, outp, xyz, hi = spectrum_arrays(xres, arr, st, shift)
        tag = f"{sid}_{el}{idx}"
        if job.get("conv"):   # one site on several check meshes: one file each
            tag += "_k" + "x".join(map(str, job["kpts"]))
        layered = meta["layered"]
        cubic = meta["polymorph"] == "c-BN"
        if cubic:
            _atomic_text(out / "spectra" / f"{tag}.dat", _fmt_table(
                f"{el} K-edge XANES, {sid} site {idx}; E (eV, absolute, ΔKS-aligned) I_iso "
                "(1e-3 a.u.)", [energy, iso]))
            spectra = [{"file": f"spectra/{tag}.dat", "edge": "K", "type": "XANES",
                        "polarization": "iso", "columns": [0, 1]}]
        else:
            _atomic_text(out / "spectra" / f"{tag}.dat", _fmt_table(
                f"{el} K-edge XANES, {sid} site {idx}; E (eV, absolute, ΔKS-aligned) I_iso "
                "I_in_plane(E in xy) I_out_of_plane(E || z) (1e-3 a.u.)",
                [energy, iso, inpl, outp]))
            spectra = [{"file": f"spectra/{tag}.dat", "edge": "K", "type": "XANES",
                        "polarization": p, "columns": [0, k]}
                       for k, p in ((1, "iso"), (2, "in_plane"), (3, "out_of_plane"))]
        # ---- DOS (ground state, absorber site) + total DOS of the structure
        garr = np.load(_res(workdir, f"gs:{sid}", ".npz"))
        grid = garr["grid"]
        if v2:      # v2 ground states store the absorber sites only, already at 0.1 eV steps
            sel = slice(None)
            pd = garr["pdos"][list(gs["pdos_sites"]).index(idx)].astype(float)
        else:
            sel = slice(None, None, 2)                  # 0.1 eV steps
            pd = garr["pdos"][idx].astype(float)        # s, py, pz, px
        ptot = pd[:, 1] + pd[:, 2] + pd[:, 3]
        if layered:
            cols, orbs = [pd[:, 0], ptot, pd[:, 1] + pd[:, 3], pd[:, 2]], ["s", "p", "p_sigma", "p_pi"]
        else:
            cols, orbs = [pd[:, 0], ptot], ["s", "p"]
        _atomic_text(out / "dos" / f"{tag}_pdos.dat", _fmt_table(
            f"ground-state PDOS of site {idx} ({el}) in {sid}; E (eV, GPAW scale of the ground "
            f"state, Fermi level {gs['fermi_ev']:.4f}) " + " ".join(orbs) + " (states/eV)",
            [grid[sel]] + [x[sel] for x in cols]))
        _atomic_text(out / "dos" / f"{sid}_total.dat", _fmt_table(
            f"total DOS of {sid}; E (eV, GPAW scale) DOS (states/eV/cell)",
            [grid[sel], garr["tdos"].astype(float)[sel]]))
        dos = [{"file": f"dos/{tag}_pdos.dat", "projection": "site", "site_index": idx,
                "element": el, "orbitals": orbs, "spin": "total",
                "fermi_energy_ev": round(gs["fermi_ev"], 4)},
               {"file": f"dos/{sid}_total.dat", "projection": "total", "orbitals": ["total"],
                "spin": "total", "fermi_energy_ev": round(gs["fermi_ev"], 4)}]
        # ---- descriptors
        occ = np.array(gs["occupations_s_py_pz_px"][idx])
        n_sig = occ[1] + occ[3] if layered else occ[1:].sum()
        hocc = np.array(hgs["occupations_s_py_pz_px"])
        hsym = [x for x in _rjson(workdir / "structures" / f"{host_sid}.json")["symbols"]]
        href = np.array([o for o, sym in zip(hocc, hsym) if sym == el])
        n_sig_ref = float((href[:, 1] + href[:, 3]).mean() if layered else href[:, 1:].sum(1).mean())
        dmeth = "ground state, PW %d eV, first bound PAW projector" % st["ecut_ev"]
        desc = [
            {"name": "hirshfeld_charge", "value": round(gs["hirshfeld"][idx], 5), "unit": "e",
             "method": "Hirshfeld (free-atom PBE densities), GPAW ground state", "site_index": idx},
            {"name": "sigma_charge_transfer", "value": round(float(n_sig - n_sig_ref), 5),
             "unit": "e", "site_index": idx,
             "method": ("n_sigma(site) - n_sigma(same element, pristine %s); n_sigma = occupied "
                        "%s projection, %s" % (host_sid, "p_x+p_y" if layered else "p (sp3: all p "
                                               "orbitals are sigma)", dmeth))},
            {"name": "p_sigma_occupation", "value": round(float(n_sig), 5), "unit": "e",
             "method": dmeth, "site_index": idx},
            {"name": "s_occupation", "value": round(float(occ[0]), 5), "unit": "e",
             "method": dmeth, "site_index": idx},
        ]
        bader = _rjson(workdir / "results" / f"bader__{sid}.json")
        if bader is not None:
            desc.append({"name": "bader_charge", "value": round(bader["charges"][idx], 5),
                         "unit": "e", "site_index": idx, "method": bader["method"]})
            if "equivalent_spread_e" in bader:
                # the grid breaks the symmetry where basins meet in flat density (bader.py):
                # the range over the site's symmetry-equivalent atoms is the charge's uncertainty
                desc.append({"name": "bader_charge_spread",
                             "value": round(bader["equivalent_spread_e"][idx], 5), "unit": "e",
                             "site_index": idx,
                             "method": "max - min of bader_charge over the symmetry-equivalent "
                                       "atoms of this site (spglib, 0.01 Å)"})
        if own_dks is not None and v2:
            desc.append({"name": "delta_ks_onset", "value": round(onset_abs, 4), "unit": "eV",
                         "method": "E(fch1s, +1 e) - E(gs), both PW %d eV, k %s"
                                   % (xres["dks_ecut_ev"], "x".join(map(str, xres["kpts"]))),
                         "site_index": idx})
        elif own_dks is not None:
            desc.append({"name": "delta_ks_onset", "value": round(onset_abs, 4), "unit": "eV",
                         "method": "E(fch1s, +1 e) - E(gs), PW %d eV + cutoff correction %.3f eV"
                                   % (st["ecut_ev"], c), "site_index": idx})
        if layered:
            desc.insert(3, {"name": "p_pi_occupation", "value": round(float(occ[2]), 5),
                            "unit": "e", "method": dmeth, "site_index": idx})
        if meta["spin_polarized"]:
            desc.append({"name": "magnetic_moment_cell", "value":
                         round(gs["magnetic_moment_total"], 4), "unit": "mu_B",
                         "method": "GPAW ground state, spin-polarised"})
        if meta["defect"]:
            desc.append({"name": "distance_to_defect", "value": job["distance"], "unit": "A",
                         "method": "minimum-image distance to the defect centre (unrelaxed cell)",
                         "site_index": idx})
        key = f"{sid}/{el}{idx}"
        if job.get("conv"):   # the denser-mesh spectrum of a site the main set also holds
            key += "/k" + "x".join(map(str, job["kpts"]))
        entry = {"key": key, "structure": f"structures/{sid}.json",
                 "polymorph": meta["polymorph"], "relaxation": relaxation}
        if meta["defect"]:
            d = meta["defect"]
            entry["defect"] = {"kind": d["kind"], "name": d["name"], "species": d["species"],
                               "charge": d["charge"],
                               # "3x3x1" -> [3, 3, 1]; non-diagonal matrices stay strings
                               "supercell": ([int(x) for x in meta["supercell"].split("x")]
                                             if "x" in meta["supercell"] else meta["supercell"]),
                               "position_frac": d["position_frac"],
                               "host_structure": f"structures/{meta['host']}.json"}
        entry["absorber"] = {"site_index": idx, "element": el,
                             "multiplicity": int(job["multiplicity"])}
        entry["calculation"] = {
            "alignment_shift_ev": round(shift, 4),
            "alignment": alignment,
            "parameters": {
                "kpts": job.get("kpts", meta["kpts"]), "supercell": meta["supercell"],
                "natoms": meta["natoms"],
                "smearing_ev": xres.get("settings", st)["smearing_ev"],
                "spin_polarized": meta["spin_polarized"], "core_hole_setup": f"{el}.hch1s.PBE",
                "core_hole": "1s^-0.5 on the absorber (Slater transition state), cell charge +0.5",
                "delta_ks_setup": f"{el}.fch1s.PBE, charge -1 (neutral excited state)",
                "delta_ks_raw_ev": round(own_dks if own_dks is not None else ref_dks, 4),
                "delta_ks_site": idx if own_dks is not None else ref_site,
                "delta_ks_cutoff_correction_ev": round(c, 4),
                "onset_raw_ev": round(xres["onset_raw_ev"], 4),
                "spectrum_energy_max_rel_onset_ev": hi,
                "nbands_nscf": xres["nbands_nscf"], "nbands_converged": xres["nbands_converged"],
                "absorber_role": job["role"], "absorber_distance_to_defect_a": job["distance"],
                "relaxed": rel is not None,
                "wall_time_s": round(xres["timing_s"]["total"], 1),
            },
        }
        if v2:
            p = entry["calculation"]["parameters"]
            p["smearing_ev"] = xres["smearing_ev"]
            p["delta_ks_ecut_ev"] = xres["dks_ecut_ev"]
            p["variant"] = meta.get("variant", "")
            p["campaign_round"] = meta.get("round")
            if not meta["defect"]:  # no defect, no distance to it (v1 wrote 0.0: read as "at the defect")
                del p["absorber_distance_to_defect_a"]
            p["scf_ladder_step"] = xres.get("hch_ladder_step", 0)
            if rel is not None:
                p["relax_fmax_ev_per_a"] = round(rel["fmax_ev_per_a"], 4)
                p["relax_converged"] = bool(rel["converged"])
                if gs.get("fmax_ev_per_a") is not None:
                    p["production_fmax_ev_per_a"] = round(gs["fmax_ev_per_a"], 4)
        conv = {k: xres[k] for k in ("hch_convergence", "fch_convergence") if xres.get(k)}
        if xres.get("nscf_eigenstates_tol"):
            conv["nscf_eigenstates"] = xres["nscf_eigenstates_tol"]
        if conv:   # SCF criteria of this entry's runs (GPAW defaults where absent)
            entry["calculation"]["parameters"]["scf_convergence"] = conv
        entry["spectra"] = spectra
        entry["dos"] = dos
        entry["descriptors"] = desc
        entries.append(entry)
    # v1: raw results live in an ignored folder, so entries this machine cannot rebuild are kept.
    # v2: every result is committed, so the set is rebuilt from them alone; an entry whose results
    # were superseded (settings changed, campaign.supersede_stale_results) must disappear with them.
    kept = [] if v2 else _entries_to_keep(previous, entries, _calculation_defaults(st, versions))
    entries.extend(kept)
    # keep the committed order (diffs stay readable); new entries go last, in plan order
    order = {e.get("key"): i for i, e in enumerate((previous or {}).get("entries", []))}
    entries.sort(key=lambda e: order.get(e["key"], len(order)))
    if not entries:          # an empty set is not worth a manifest (nor importable)
        if v2:                   # nothing current: no stale set either
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(final_out, ignore_errors=True)
        return 0
    gver = sorted(versions)[0] if versions else ("22.8.0", "3.22.1")
    old_setups = ((previous or {}).get("set", {}).get("provenance", {}).get("setups", {}))
    setup_info = {}
    for el in ("B", "N"):
        for name in ("hch1s", "fch1s"):
            key = f"{el}.{name}.PBE"
            digest = _sha256(setups_dir / key)
            if digest == "missing":   # setups not made on this machine: keep the recorded digest
                digest = old_setups.get(key, {}).get("sha256", digest)
            setup_info[key] = {"command": SETUP_COMMANDS[name].format(el=el), "sha256": digest}
    relax_info = {sid: _relaxation_state(workdir, sid, m)
                  for sid, m in plan["structures"].items() if not m.get("conv")}
    for sid, state in relax_info.items():
        if state == "pending" and sid in written_structs:  # its spectra used the ideal cell
            relax_info[sid] = UNFINISHED_RELAXATION
    if v2:
        # what this stage holds, not what the campaign plans (`progress` says how far it is)
        description = ("B and N K-edge XANES of boron nitride, v2 (GPAW PBE half core hole, k "
                       "meshes, relaxed defects, every site its own ΔKS), a stage of a running "
                       "campaign (python -m repository.calculations progress): "
                       + describe_contents(entries, plan["structures"]))
    else:
        description = ("B and N K-edge XANES of boron nitride polymorphs (h-BN, monolayer "
                       "h-BN, r-BN, c-BN, w-BN) and point defects in h-BN, c-BN and monolayer h-BN, computed with "
                       "GPAW (PBE, half core hole), with absorber PDOS and charges")
    manifest = {
        "format_version": 1,
        "set": {
            "name": set_name,
            "description": description,
            "source": "computed with repository.calculations (GPAW); see docs/bn-calculations.md",
            "provenance": {
                "generator": f"repository.calculations {GENERATOR_VERSION}",
                "gpaw_version": gver[0], "ase_version": gver[1],
                "assembled_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "setups": setup_info,
                "standard_setups": "gpaw-data (Debian) PAW PBE setups for B, C, N, O",
                "mode": f"plane waves, {st['ecut_ev']} eV", "xc": st["xc"],
                "occupations": (f"Fermi-Dirac, {st['smearing_ev']} eV; per-structure overrides "
                                f"(SCF stability): " + json.dumps({k: v["override"] for k, v in
                                                                    plan["structures"].items()
                                                                    if v.get("override")})),
                "kpts": "Gamma-centred; per structure in entries.calculation.parameters",
                "supercells": {sid: m["supercell"] for sid, m in plan["structures"].items()
                               if not m.get("conv")},
                "core_hole_scheme": ("half core hole (Slater transition state) on the absorber "
                                     "1s; dipole sticks from the hch1s PAW core orbital to all "
                                     "bands of a fixed-density run, weighted by the final-state "
                                     "emptiness (1 - f) per k-point and spin, symmetrised over "
                                     "the k-point group; spin-polarised cells average the spins"),
                "broadening": ("Gaussian, FWHM {fwhm0_ev} eV up to +{ramp_start_ev} eV above "
                               "the onset, rising linearly to {fwhm1_ev} eV at +{ramp_end_ev} eV, "
                               "constant above; ".format(**BROADENING)
                               + f"grid {st['grid_step_ev']} eV from {st['grid_min_ev']} eV to "
                               f"at most +{st['grid_max_ev']} eV around the onset, cut one local "
                               "FWHM below the highest converged band"),
                "alignment": ("E_abs = E_raw - onset_raw + DeltaKS + delta_edge; onset_raw = lowest "
                              "(at least half-)empty level of the hch run; DeltaKS = "
                              "E(fch1s, +1 e) - E(ground state) of the same absorber "
                              "(alignment = delta_ks) or, where that was not computed, of the "
                              "farthest (else nearest) absorber of the same element in the same "
                              "cell (alignment = delta_ks_reference_site, parameters.delta_ks_site); "
                              "delta_edge = per-edge cutoff correction of DeltaKS"),
                "delta_ks_cutoff_correction": corr,
                "relaxation": relax_info,
                "pdos": ("ground-state PDOS from the first bound PAW projector of each l; Gaussian "
                         "FWHM 0.2 eV; sigma = p_x + p_y, pi = p_z for layered cells (layers in xy)"),
                "sigma_charge_transfer": ("n_sigma(site) - n_sigma(same element in the pristine "
                                          "host), n_sigma the occupied p_x+p_y (layered) or p "
                                          "(sp3) projection"),
                "n_entries": len(entries),
                "mean_wall_time_s_per_spectrum": round(float(np.mean([t for _, t in timings])), 1)
                if timings else None,
            },
        },
        "defaults": {"calculation": _calculation_defaults(st, versions)},
        "entries": entries,
    }
    if v2:
        prov = manifest["set"]["provenance"]
        prov["alignment"] = ("E_abs = E_raw - onset_raw + DeltaKS; onset_raw = lowest (at least "
                             "half-)empty level of the hch run; DeltaKS = E(fch1s, +1 e) - "
                             "E(ground state) of the same absorber, both at "
                             f"{st['dks_ecut_ev']:.0f} eV with the cell's k mesh (every site its "
                             "own; no reference-site onsets, no averaged cutoff correction)")
        prov["delta_ks_cutoff_correction"] = {}
        # the meshes as planned now; each entry's calculation.parameters.kpts is the one it used, and
        # each relaxation text names its own (early relaxations ran on the meshes of their day)
        exceptions = "".join(f", {poly} {'x'.join(map(str, mesh))}"
                             for poly, mesh in sorted(st.get("kpts_polymorph", {}).items()))
        prov["kpts"] = ("Gamma-centred %s (layered) / %s (bulk)%s for spectra and ground states; "
                        "per entry in calculation.parameters.kpts; relaxations: the mesh named in "
                        "each entry's relaxation text" % ("x".join(map(str, st["kpts"]["layered"])),
                                                          "x".join(map(str, st["kpts"]["bulk"])),
                                                          exceptions))
        prov["campaign"] = ("calculations/bn-v2 (plan.json, structures/, results/); "
                            "python -m repository.calculations progress")
        prov["bader"] = ("Bader charges (baderkit) from the GPAW all-electron density "
                         "(gridrefinement 2) of the ground state, where computed")
        prov["rattle"] = "thermal-snapshot proxy: seeded Gaussian displacements, see plan_v2.py"
    if manifest["set"]["provenance"]["mean_wall_time_s_per_spectrum"] is None:
        del manifest["set"]["provenance"]["mean_wall_time_s_per_spectrum"]
    if probes:
        manifest["set"]["description"] = (
            "Independent probe set of the BN v2 campaign: spectra computed with deliberately other "
            "settings than data/bn-v2 (denser k meshes on pristine cells, 63-72-atom cells), for "
            "`xasrepo compare --probe DIR` (manifest.csv) and identification checks. Not part of "
            "the set the maps are fitted on. Holds " + describe_contents(entries, plan["structures"]))
    _atomic_text(out / "calcset.toml", tomli_w.dumps(manifest))
    if probes:
        write_probe_manifest(out, entries, plan["structures"])
    if v2:
        shutil.rmtree(final_out, ignore_errors=True)
        out.rename(final_out)
    return len(entries)


PROBE_MANIFEST_COLUMNS = ("file", "element", "edge", "name", "polymorph", "defect_name", "dimensionality")


def describe_contents(entries: list[dict], structures: dict) -> str:
    """What a v2 assembly holds, for its ``set.description``: absorber sites and cells per
    polymorph, each cell named by its plan id without the polymorph (``pristine``, ``strain+``,
    ``v_N``), with its k mesh (after the polymorph when all its cells share one) and the edges when
    not both. The campaign's plan is larger than any stage of it; a description that listed the
    plan told readers of ``xasrepo show set:N`` about cells the set did not hold (a newcomer found
    exactly that, 2026-12-01)."""
    cells: dict[str, dict[str, tuple[set[str], set[str]]]] = {}
    for e in entries:
        sid = e["structure"].split("/")[-1].removesuffix(".json")
        edges, meshes = cells.setdefault(structures[sid]["polymorph"], {}).setdefault(sid, (set(), set()))
        edges.add(e["absorber"]["element"])
        meshes.add("x".join(map(str, e["calculation"]["parameters"]["kpts"])))
    parts = []
    for poly in sorted(cells):
        shared = set.intersection(*(m for _, m in cells[poly].values()))
        one_mesh = len(shared) == 1 and all(len(m) == 1 for _, m in cells[poly].values())
        names = []
        for sid in sorted(cells[poly]):
            edges, meshes = cells[poly][sid]
            notes = [] if one_mesh else [f"{'/'.join(sorted(meshes))} k"]
            if edges != {"B", "N"}:
                notes.append(f"{'/'.join(sorted(edges))} K only")
            names.append(sid.removeprefix(f"{poly}_") + (f" ({', '.join(notes)})" if notes else ""))
        head = f"{poly} ({next(iter(shared))} k)" if one_mesh else poly
        parts.append(f"{head}: {', '.join(names)}")
    n_cells = sum(len(c) for c in cells.values())
    return f"{len(entries)} absorber sites in {n_cells} cells: {'; '.join(parts)}"


def write_probe_manifest(out: Path, entries: list[dict], structures: dict) -> int:
    """Write ``out/manifest.csv`` (the probe-directory format of
    :func:`repository.compare.probes.parse_probe_dir`) and one two-column file per entry,
    ``probes/<entry>.dat`` (energy eV, isotropic intensity), for the entries of a probe set.

    Expected classes: ``polymorph`` (the host's), ``defect_name`` (``none`` for pristine cells)
    and ``dimensionality`` (2 for the layered sp2 hosts, 3 for c-BN and w-BN). Returns the number
    of rows."""
    import csv
    import io

    rows = []
    for e in entries:
        iso = next(sp for sp in e["spectra"] if sp["polarization"] == "iso")
        data = np.loadtxt(out / iso["file"], comments="#", usecols=tuple(iso["columns"]), ndmin=2)
        tag = e["key"].replace("/", "_")
        sid = e["structure"].split("/")[-1].removesuffix(".json")
        meta = structures[sid]
        el = e["absorber"]["element"]
        _atomic_text(out / "probes" / f"{tag}.dat", _fmt_table(
            f"{el} K-edge XANES (iso), {e['key']}, k {'x'.join(map(str, e['calculation']['parameters']['kpts']))}, "
            f"{meta['natoms']} atoms; E (eV, absolute, ΔKS-aligned) I_iso (1e-3 a.u.)", [data[:, 0], data[:, 1]]))
        rows.append({"file": f"probes/{tag}.dat", "element": el, "edge": iso["edge"],
                     "name": f"{e['key']} (k {'x'.join(map(str, e['calculation']['parameters']['kpts']))}, "
                             f"{meta['natoms']} atoms)",
                     "polymorph": meta["polymorph"],
                     "defect_name": (e.get("defect") or {}).get("name", "none"),
                     "dimensionality": "2" if meta["layered"] else "3"})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=PROBE_MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    _atomic_text(out / "manifest.csv", buf.getvalue())
    return len(rows)
