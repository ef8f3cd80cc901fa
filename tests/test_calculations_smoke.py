"""End-to-end smoke test of the BN XAS generator on a 4-atom c-BN cell (needs GPAW).

plan (pymatgen, this interpreter) -> runner + gpaw_worker (``/usr/bin/python3`` with Debian's
GPAW) -> assemble -> the calculation set parses.  Low cutoff (200 eV), 2x2x2 k-points (Γ alone
converges too slowly in 4 atoms): some 10-20 s of GPAW, physics not meaningful.
"""

import json
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
