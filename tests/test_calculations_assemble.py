"""The assembler never shrinks or silently changes the committed BN set.

Raw GPAW results live in an ignored work directory, so a fresh clone (or another machine) that
re-runs ``python -m repository.calculations assemble`` has only part of them, or none.  Entries it
cannot rebuild must stay exactly as committed, with the same identity (entry hash) when read back,
even when the plan's default settings have changed since."""

from __future__ import annotations

import dataclasses
import json
import shutil
import tomllib

import pytest

from repository.calcset import read_calcset
from repository.calculations.assemble import assemble
from repository.calculations.bn_cells import Settings

from .conftest import ROOT

BN_SET = ROOT / "data" / "bn"


@pytest.fixture(scope="module")
def committed():
    if not (BN_SET / "calcset.toml").exists():
        pytest.skip("the bundled BN set (data/bn) is absent")
    return read_calcset(BN_SET)


def _empty_workdir(tmp_path, **changes):
    work = tmp_path / "work"
    (work / "results").mkdir(parents=True)
    settings = dataclasses.replace(Settings(), **changes)
    (work / "plan.json").write_text(json.dumps({"settings": settings.__dict__, "structures": {}, "jobs": []}))
    return work


@pytest.mark.parametrize("changes", [{}, {"ecut_ev": 450.0, "smearing_ev": 0.1}], ids=["same", "changed-defaults"])
def test_assembling_without_raw_results_keeps_every_committed_entry_unchanged(tmp_path, committed, changes):
    out = tmp_path / "bn"
    shutil.copytree(BN_SET, out)
    before = tomllib.loads((BN_SET / "calcset.toml").read_text())

    n = assemble(_empty_workdir(tmp_path, **changes), out, setups_dir=tmp_path / "no-setups")

    assert n == len(committed.entries)
    after_doc = tomllib.loads((out / "calcset.toml").read_text())
    assert [e["key"] for e in after_doc["entries"]] == [e["key"] for e in before["entries"]]
    provenance = after_doc["set"]["provenance"]
    # digests of setups not present on this machine and the measured ΔKS correction are carried over
    assert provenance["setups"] == before["set"]["provenance"]["setups"]
    assert provenance["delta_ks_cutoff_correction"] == before["set"]["provenance"]["delta_ks_cutoff_correction"]
    after = read_calcset(out)
    assert {e.key: e.entry_hash for e in after.entries} == {e.key: e.entry_hash for e in committed.entries}
    if changes:  # the new defaults are in force for new entries, the old ones live on in the kept entries
        assert after_doc["defaults"]["calculation"]["parameters"]["ecut_ev"] == changes["ecut_ev"]


def test_assembling_without_a_plan_says_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="plan.json.*repository.calculations plan"):
        assemble(tmp_path, tmp_path / "out")


def test_generated_doc_sections_are_replaced_and_a_missing_marker_is_an_error():
    from repository.calculations.report import fill_generated_sections

    doc = "intro\n<!-- BEGIN contents -->\nold numbers\n<!-- END contents -->\nrest\n"
    assert fill_generated_sections(doc, {"contents": "189 entries"}) == \
        "intro\n<!-- BEGIN contents -->\n189 entries\n<!-- END contents -->\nrest\n"
    with pytest.raises(ValueError, match="0 generated sections named 'timings'"):
        fill_generated_sections(doc, {"timings": "x"})


def test_the_bn_page_has_every_generated_section_once():
    from repository.calculations.report import fill_generated_sections

    page = (ROOT / "docs" / "bn-calculations.md").read_text()
    assert fill_generated_sections(page, {"timings": "t", "contents": "c", "cell": "x"}).count("<!-- BEGIN") >= 3


V2_WORK = ROOT / "calculations" / "bn-v2"


def test_probe_spectra_are_kept_out_of_the_v2_set_and_form_a_probe_directory(tmp_path):
    """The denser-mesh and large-cell spectra (issue 15's independent probe set) never enter the
    set the maps are fitted on; they form their own calculation set whose manifest.csv is a
    `compare --probe DIR` with the right expected classes."""
    import numpy as np

    from repository.analysis.project import read_query_file
    from repository.compare.probes import parse_probe_dir

    src = V2_WORK / "results" / "xas__h-BN_pristine__B0.json"
    if not src.exists():
        pytest.skip("the v2 campaign has not computed the h-BN B K spectrum yet")
    work = tmp_path / "work"
    shutil.copytree(V2_WORK, work)
    for done in [*(work / "results").glob("xask*"), *(work / "results").glob("*_large*")]:
        done.unlink()         # the campaign's own probe results: this test brings one of its own
    if not (work / "results" / "gs__h-BN_pristine.json").exists():
        # between a settings change and the recomputed ground state: the superseded one will do
        # (the assembler takes the DOS and charges from it, not the spectrum)
        old = sorted((V2_WORK / "results-superseded").glob("*/gs__h-BN_pristine.json"))
        if not old:
            pytest.skip("no ground state of pristine h-BN committed")
        for ext in (".json", ".npz"):
            shutil.copy(old[0].with_suffix(ext), work / "results" / f"gs__h-BN_pristine{ext}")
    # stand-ins for two check meshes of the same site: the same arrays under the checks' job ids
    for mesh in ("661", "443"):
        for ext in (".json", ".npz"):
            shutil.copy(V2_WORK / "results" / f"xas__h-BN_pristine__B0{ext}",
                        work / "results" / f"xask{mesh}__h-BN_pristine__B0{ext}")
    setups = ROOT / ".gpaw-work" / "setups"

    main = assemble(work, tmp_path / "bn-v2", setups_dir=setups)
    probes = assemble(work, tmp_path / "bn-v2-probes", setups_dir=setups, probes=True)

    main_keys = [e["key"] for e in tomllib.loads((tmp_path / "bn-v2" / "calcset.toml").read_text())["entries"]]
    assert not any("/k" in k or "_large" in k for k in main_keys)
    assert main == len(main_keys)
    doc = tomllib.loads((tmp_path / "bn-v2-probes" / "calcset.toml").read_text())
    assert probes == 2 and sorted(e["key"] for e in doc["entries"]) == ["h-BN_pristine/B0/k4x4x3",
                                                                        "h-BN_pristine/B0/k6x6x1"]
    by_key = {e["key"]: e for e in doc["entries"]}
    assert by_key["h-BN_pristine/B0/k6x6x1"]["calculation"]["parameters"]["kpts"] == [6, 6, 1]
    # one site on two check meshes: two spectrum files, not one overwritten
    files = {sp["file"] for e in doc["entries"] for sp in e["spectra"]}
    assert files == {"spectra/h-BN_pristine_B0_k6x6x1.dat", "spectra/h-BN_pristine_B0_k4x4x3.dat"}
    assert read_calcset(tmp_path / "bn-v2-probes").entries  # importable as a calculation set

    spec = next(s for s in parse_probe_dir(tmp_path / "bn-v2-probes") if s.path.name.endswith("k6x6x1.dat"))
    assert (spec.element, spec.edge) == ("B", "K")
    assert spec.expected == {"polymorph": "h-BN", "defect_name": "none", "dimensionality": "2"}
    probe = read_query_file(spec.path, spec.element, spec.edge)
    # the probe file is the entry's isotropic spectrum, column for column
    iso = np.loadtxt(tmp_path / "bn-v2-probes" / "spectra" / "h-BN_pristine_B0_k6x6x1.dat", usecols=(0, 1))
    np.testing.assert_allclose(probe.energy_ev, iso[:, 0])
    np.testing.assert_allclose(probe.intensity, iso[:, 1], rtol=1e-4)


def test_the_set_level_relaxation_summary_says_whether_each_relaxation_converged(tmp_path):
    # v1 summarised every finished relaxation as "relaxed", also cells that stopped at the step
    # limit with 0.25-0.73 eV/Å left (the entries' own texts were right; found by a newcomer trial)
    import json

    from repository.calculations.assemble import _relaxation_state

    (tmp_path / "results").mkdir()
    for sid, converged, fmax, steps in (("a", True, 0.044, 11), ("b", False, 0.729, 20)):
        (tmp_path / "results" / f"relax__{sid}.json").write_text(
            json.dumps({"converged": converged, "fmax_ev_per_a": fmax, "steps": steps}))
    assert _relaxation_state(tmp_path, "a", {"relax": True}) == "converged (fmax 0.044 eV/A, 11 steps)"
    assert _relaxation_state(tmp_path, "b", {"relax": True}) == "NOT converged (fmax 0.729 eV/A after 20 steps)"
    assert _relaxation_state(tmp_path, "c", {"relax": True}) == "pending"
    assert _relaxation_state(tmp_path, "a", {"relax": False}) == "none"


def _entry(sid, element, kpts):
    return {"key": f"{sid}/{element}0", "structure": f"structures/{sid}.json",
            "absorber": {"element": element}, "calculation": {"parameters": {"kpts": kpts}}}


def test_a_v2_description_names_the_cells_the_set_holds_and_no_other():
    """``xasrepo show set:N`` printed the campaign's plan (rattled cells, O_N, Stone-Wales) for a
    stage that held none of them; the description is now made from the entries themselves."""
    from repository.calculations.assemble import describe_contents

    structures = {"h-BN_pristine": {"polymorph": "h-BN"}, "h-BN_v_N": {"polymorph": "h-BN"},
                  "w-BN_pristine": {"polymorph": "w-BN"}, "w-BN_pristine_large": {"polymorph": "w-BN"},
                  "h-BN_SW": {"polymorph": "h-BN"}}
    entries = [_entry("h-BN_pristine", "B", [4, 4, 1]), _entry("h-BN_pristine", "N", [4, 4, 1]),
               _entry("h-BN_v_N", "B", [4, 4, 1]), _entry("h-BN_v_N", "N", [4, 4, 1]),
               _entry("w-BN_pristine", "B", [6, 6, 6]), _entry("w-BN_pristine_large", "B", [2, 2, 2])]
    text = describe_contents(entries, structures)
    assert text == ("6 absorber sites in 4 cells: h-BN (4x4x1 k): pristine, v_N; "
                    "w-BN: pristine (6x6x6 k, B K only), pristine_large (2x2x2 k, B K only)")
    assert "SW" not in text     # planned, not held


def test_the_committed_v2_description_is_made_from_its_entries():
    v2 = ROOT / "data" / "bn-v2" / "calcset.toml"
    plan = ROOT / "calculations" / "bn-v2" / "plan.json"
    if not (v2.exists() and plan.exists()):
        pytest.skip("data/bn-v2 or its campaign plan is absent")
    from repository.calculations.assemble import describe_contents

    doc = tomllib.loads(v2.read_text())
    structures = json.loads(plan.read_text())["structures"]
    assert doc["set"]["description"].endswith(describe_contents(doc["entries"], structures))


def test_relaxation_text_states_the_force_on_the_spectra_mesh():
    """A geometry relaxed on another k mesh than its spectra says the residual force on theirs, or
    that it was not computed; on the same mesh without a recorded force it adds nothing."""
    from repository.calculations.assemble import _production_force_text

    rel = {"kpts": [2, 2, 1], "fmax_ev_per_a": 0.043}
    assert _production_force_text({"kpts": [4, 4, 2], "fmax_ev_per_a": 0.0712}, rel) == \
        "; max force on the spectra's k 4x4x2 mesh 0.071 eV/A"
    assert _production_force_text({"kpts": [4, 4, 2]}, rel) == "; max force on the spectra's k 4x4x2 mesh not computed"
    assert _production_force_text({"kpts": [2, 2, 1]}, rel) == ""


def test_relaxation_text_says_a_relaxation_was_continued_on_the_spectra_mesh():
    from repository.calculations.assemble import _continued_text

    assert _continued_text(None) == ""
    text = _continued_text({"kpts": [2, 2, 2], "steps": 5, "fmax_ev_per_a": 0.0351,
                            "fmax_on_production_mesh_ev_per_a": 0.209, "production_kpts": [4, 4, 4]})
    assert text == ("; continued from a k 2x2x2 relaxation (5 steps, fmax 0.035 eV/A there, "
                    "0.209 eV/A on this mesh)")
