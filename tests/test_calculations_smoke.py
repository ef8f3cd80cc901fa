"""End-to-end smoke test of the BN XAS generator on a 4-atom c-BN cell (needs GPAW).

plan (pymatgen, this interpreter) -> runner + gpaw_worker (``/usr/bin/python3`` with Debian's
GPAW) -> assemble -> the calculation set parses.  Low cutoff (200 eV), 2x2x2 k-points (Γ alone
converges too slowly in 4 atoms): some 10-20 s of GPAW, physics not meaningful.
"""

import json
import os
import shutil
import subprocess
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest

GPAW_PY = "/usr/bin/python3"


def _gpaw_available() -> str | None:
    if not Path(GPAW_PY).exists():
        return f"{GPAW_PY} not found"
    r = subprocess.run([GPAW_PY, "-c", "import gpaw, ase"], capture_output=True, text=True)
    if r.returncode != 0:
        return f"GPAW is not importable by {GPAW_PY}"
    if shutil.which("gpaw-setup") is None:
        return "gpaw-setup (to make the core-hole setups) is not on PATH"
    return None


_skip = _gpaw_available()
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(_skip is not None, reason=f"GPAW smoke test skipped: {_skip}")]


def _make_setups(d: Path) -> None:
    d.mkdir(parents=True, exist_ok=True)
    for el in ("B", "N"):
        for name, hole in (("hch1s", "0.5"), ("fch1s", "1")):
            if not (d / f"{el}.{name}.PBE").exists():
                subprocess.run(["gpaw-setup", el, "-f", "PBE", "--name", name,
                                f"--core-hole=1s,{hole}"], cwd=d, check=True,
                               capture_output=True)


def test_generator_end_to_end_on_tiny_cbn(tmp_path):
    pytest.importorskip("pymatgen")
    pytest.importorskip("tomli_w")
    from repository.calculations import bn_cells as S
    from repository.calculations.assemble import assemble
    from repository.calculations.runner import job_state, run

    setups = tmp_path / "setups"
    _make_setups(setups)
    prim = S.cbn_prim()
    prim.make_supercell([2, 1, 1])                 # 4 atoms
    structs = [{"sid": "c-BN_pristine", "polymorph": "c-BN", "structure": prim,
                "supercell": "2x1x1", "supercell_matrix": [[2, 0, 0], [0, 1, 0], [0, 0, 1]],
                "defect": None, "host": None, "layered": False, "spin_polarized": False,
                "relax": False, "magmom_sites": []}]
    settings = S.Settings(ecut_ev=200.0, nbands_factor=2.5, nbands_conv_factor=2.0,
                          kpts={"default": [2, 2, 2]})   # Γ alone converges slowly in 4 atoms
    work = tmp_path / "work"
    plan = S.build_plan(work, settings=settings, structures=structs, conv=False)
    assert [j["kind"] for j in plan["jobs"]] == ["gs", "xas", "xas"]

    state = run(work, time.time() + 600, slots=2, python=GPAW_PY, setups=str(setups))
    log = (work / "runner.log").read_text()
    assert not state["pending"], log + "".join(
        p.read_text()[-2000:] for p in (work / "logs").glob("*.out"))

    # resumable: a second run finds nothing to do
    state2 = run(work, time.time() + 60, slots=2, python=GPAW_PY, setups=str(setups))
    assert state2["done"] == state["done"]
    assert "start xas" not in (work / "runner.log").read_text().split("start: slots")[-1]

    res = json.loads((work / "results" / "xas__c-BN_pristine__B0.json").read_text())
    assert 150 < res["delta_ks_ev"] < 250                    # B K-edge onset scale
    out = tmp_path / "set"
    n = assemble(work, out, setups_dir=setups)
    assert n == 2
    manifest = tomllib.loads((out / "calcset.toml").read_text())
    assert manifest["format_version"] == 1
    keys = {e["key"] for e in manifest["entries"]}
    assert keys == {"c-BN_pristine/B0", "c-BN_pristine/N2"}
    for e in manifest["entries"]:
        assert e["calculation"]["alignment"] == "delta_ks"
        assert "alignment_shift_ev" in e["calculation"]
        names = {d["name"] for d in e["descriptors"]}
        assert {"hirshfeld_charge", "sigma_charge_transfer"} <= names
        for sp in e["spectra"]:
            data = np.loadtxt(out / sp["file"])
            assert np.all(np.diff(data[:, 0]) > 0) and np.all(data[:, 1] >= 0)
        for d in e["dos"]:
            assert (out / d["file"]).exists()
    try:
        from repository.calcset import read_calcset
    except ImportError:  # the importer is not part of this check
        return
    read_calcset(out)


def test_v2_campaign_end_to_end_on_tiny_cells_resumes_and_relaxes(tmp_path):
    """v2 path on 4-atom c-BN cells (200/250 eV): relax -> gs/gse -> xas with own ΔKS at the ΔKS
    cutoff and bands up to the requested range; a second run finds nothing to do; the assembled
    set records the relaxation's residual force and imports."""
    pytest.importorskip("pymatgen")
    pytest.importorskip("tomli_w")
    from repository.calculations import bn_cells as S
    from repository.calculations.assemble import assemble
    from repository.calculations.plan_v2 import SettingsV2, _meta, build_plan_v2
    from repository.calculations.runner import run

    setups = tmp_path / "setups"
    _make_setups(setups)
    prim = S.cbn_prim()
    prim.make_supercell([2, 1, 1])
    d, info = S.make_defect(prim.copy(), "C_N")
    mat = [[2, 0, 0], [0, 1, 0], [0, 0, 1]]
    structs = [_meta("c-BN_pristine", "c-BN", prim, "2x1x1", mat, None, None, 0, "pristine"),
               _meta("c-BN_C_N", "c-BN", d, "2x1x1", mat, info, "c-BN_pristine", 1, "defect")]
    st = SettingsV2(ecut_ev=200.0, dks_ecut_ev=250.0, relax_steps=4,
                    min_range_above_onset_ev=15.0)
    camp = tmp_path / "camp"
    build_plan_v2(camp, settings=st, structures=structs)
    only = ["relax:", "gs:", "gse:c-BN", "xas:"]          # not the cutoff/mesh checks (time)
    state = run(camp, time.time() + 600, slots=2, python=GPAW_PY, setups=str(setups),
                scratch=tmp_path / "scratch", only=only)
    done = set(state["done"])
    assert {"relax:c-BN_C_N", "gse:c-BN_C_N", "xas:c-BN_C_N:B0", "xas:c-BN_pristine:N2"} <= done, \
        (tmp_path / "scratch" / "runner.log").read_text()
    # nothing written next to the committed results but results
    assert {p.parent.name for p in (camp / "results").iterdir()} == {"results"}
    assert not (camp / "logs").exists()
    x = json.loads((camp / "results" / "xas__c-BN_pristine__B0.json").read_text())
    assert x["dks_ecut_ev"] == 250.0 and 150 < x["delta_ks_ev"] < 250
    assert x["nband_tries"][-1]["range_above_onset_ev"] >= 15.0 + 2.0
    again = run(camp, time.time() + 60, slots=2, python=GPAW_PY, setups=str(setups),
                scratch=tmp_path / "scratch", only=only)
    assert set(again["done"]) == done
    assert "start " not in (tmp_path / "scratch" / "runner.log").read_text().split("start: slots")[-1]

    # a job killed after its ΔKS keeps it: the ΔKS checkpoint (scratch) is reused on the rerun,
    # with the same value, and its CPU time still counts; the finished job removes it
    from repository.calculations.runner import WORKER

    first = json.loads((camp / "results" / "xas__c-BN_pristine__B0.json").read_text())
    ck = tmp_path / "scratch" / "logs" / "xas__c-BN_pristine__B0.dks-checkpoint.json"
    assert not ck.exists()
    env = dict(os.environ, XASREPO_GPAW_SCRATCH=str(tmp_path / "scratch" / "logs"),
               OMP_NUM_THREADS="1")
    stage = "\n".join([
        "import sys", "from pathlib import Path", f"sys.path.insert(0, {str(WORKER.parent)!r})",
        "import gpaw_worker as w", f"w._setup_paths({str(setups)!r})", f"camp = Path({str(camp)!r})",
        "plan = w.load_plan(camp)",
        "job = next(j for j in plan['jobs'] if j['id'] == 'xas:c-BN_pristine:B0')",
        "atoms, _, i = w._absorber_atoms(camp, job)",
        "w._delta_ks_checkpointed(camp, job, plan, atoms, i)"])     # the ΔKS half of the job only
    assert first["dks_resumed_from"] is None
    subprocess.run([GPAW_PY, "-c", stage], check=True, env=env, capture_output=True)
    valid = json.loads(ck.read_text())
    assert valid["value"]["dks"] == pytest.approx(first["delta_ks_ev"], abs=1e-6)

    def rerun():
        for ext in (".json", ".npz"):
            (camp / "results" / f"xas__c-BN_pristine__B0{ext}").unlink()
        subprocess.run([GPAW_PY, str(WORKER), str(camp), "xas:c-BN_pristine:B0", "--setups",
                        str(setups)], check=True, env=env, capture_output=True)
        return json.loads((camp / "results" / "xas__c-BN_pristine__B0.json").read_text())

    # a checkpoint of another calculation (key differs) is not used, even with the same job id
    ck.write_text(json.dumps({**valid, "key": "0" * 64, "value": {**valid["value"], "dks": 999.0}}))
    stale = rerun()
    assert stale["dks_resumed_from"] is None and stale["delta_ks_ev"] == pytest.approx(first["delta_ks_ev"], abs=1e-6)
    ck.write_text(json.dumps(valid))
    again_b0 = rerun()
    assert again_b0["dks_resumed_from"] is not None
    assert again_b0["delta_ks_ev"] == pytest.approx(first["delta_ks_ev"], abs=1e-6)
    assert again_b0["cpu_s"] >= again_b0["dks_resumed_from"]["cpu_s"] > 0
    assert not ck.exists()

    out = tmp_path / "set"
    assert assemble(camp, out, setups_dir=setups) >= 4
    m = tomllib.loads((out / "calcset.toml").read_text())
    rel = json.loads((camp / "results" / "relax__c-BN_C_N.json").read_text())
    for e in m["entries"]:
        p = e["calculation"]["parameters"]
        assert p["delta_ks_ecut_ev"] == 250.0 and p["delta_ks_cutoff_correction_ev"] == 0.0
        if e["key"].startswith("c-BN_C_N"):
            assert p["relax_fmax_ev_per_a"] == pytest.approx(rel["fmax_ev_per_a"], abs=1e-4)
            # the ground state on the spectra's mesh states the residual force there too; relaxed
            # on the same mesh and cutoff, it is the relaxation's own final force
            gs = json.loads((camp / "results" / "gs__c-BN_C_N.json").read_text())
            assert p["production_fmax_ev_per_a"] == pytest.approx(gs["fmax_ev_per_a"], abs=1e-4)
            assert gs["fmax_ev_per_a"] == pytest.approx(rel["fmax_ev_per_a"], abs=0.01)
            assert f"mesh {gs['fmax_ev_per_a']:.3f} eV/A" in e["relaxation"]
            assert e["relaxation"].startswith("positions relaxed" if rel["converged"]
                                              else "positions partly relaxed (NOT converged)")
    from repository.calcset import read_calcset

    read_calcset(out)
