"""Convergence numbers and timings from the raw results (for docs/bn-calculations.md).

``python -m repository.calculations.report [WORKDIR]`` prints a Markdown summary.
Comparisons use the iso spectrum relative to the onset, broadened as in the bundled set
(energy-dependent FWHM), over -5..+12 eV: the positions of the first two maxima, the ΔKS onset, and the
relative L1 difference ``sum|a - b| / sum|a|`` of the two curves normalised to equal area.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from .assemble import _res, _rjson, broaden, fwhm_at


def rel_spectrum(workdir: Path, job_id: str, fwhm: float | None = None, hi: float = 12.0):
    r = _rjson(_res(workdir, job_id))
    if r is None:
        return None
    a = np.load(_res(workdir, job_id, ".npz"))
    grid = np.arange(-5.0, hi + 1e-9, 0.05)
    keep = a["e_stick"] <= r["emax_converged_raw_ev"]
    w = (a["a_stick_xyz"][keep] * a["emptiness"][keep][:, None]).mean(1)
    e = a["e_stick"][keep] - r["onset_raw_ev"]
    y = broaden(e, w, grid, fwhm if fwhm else fwhm_at(e))
    return grid, y, r


def peaks(grid, y, n=2, frac=0.05):
    i = np.where((y[1:-1] > y[:-2]) & (y[1:-1] >= y[2:]) & (y[1:-1] > frac * y.max()))[0] + 1
    return [round(float(grid[j]), 2) for j in i[:n]]


def compare(workdir: Path, a_id: str, b_id: str) -> dict | None:
    A, B = rel_spectrum(workdir, a_id), rel_spectrum(workdir, b_id)
    if A is None or B is None:
        return None
    ga, ya, ra = A
    gb, yb, rb = B
    na, nb = ya / ya.sum(), yb / yb.sum()
    return {"a": a_id, "b": b_id, "peaks_a": peaks(ga, ya, 5), "peaks_b": peaks(gb, yb, 5),
            "dks_a": round(ra["delta_ks_ev"], 3), "dks_b": round(rb["delta_ks_ev"], 3),
            "l1_rel": round(float(np.abs(na - nb).sum()), 3),
            "time_a_s": round(ra["timing_s"]["total"]), "time_b_s": round(rb["timing_s"]["total"])}


# The k-mesh convergence criterion of docs/bn-calculations.md ("k mesh"), the one that
# tests/test_bn_data.py applies to the assembled files (independently coded there).
MESH_ONSET_FRACTION = 0.05       # onset: first energy at 5 % of the maximum
MESH_RANGE_ABOVE_ONSET_EV = 20.0
MESH_SHIFT_SEARCH_EV = 1.0       # best rigid shift within ±1 eV ...
MESH_SHIFT_STEP_EV = 0.02        # ... in these steps
MESH_GRID_STEP_EV = 0.05


def mesh_rms(campaign: str | Path, ref_id: str, other_id: str, fwhm0_ev: float | None = None) -> tuple[float, float]:
    """How far the spectrum of job ``other_id`` lies from that of ``ref_id``: ``(rms, shift_ev)``.

    A job id names a result in ``campaign/results``; with a folder in front
    (``results-superseded/k3x3x3/xas:w-BN_pristine:B0``) one in that folder of ``campaign``.

    Both isotropic spectra are broadened from their committed sticks as in the set
    (:data:`~repository.calculations.assemble.BROADENING`, with the near-edge FWHM replaced by
    ``fwhm0_ev`` eV when given), aligned by their own ΔKS, and normalised to their maximum; the RMS
    difference runs over the reference's onset (5 % of the maximum) to +20 eV, at the rigid shift
    of ``other`` within ±1 eV that minimises it. Raises FileNotFoundError when a result is missing."""
    from .assemble import BROADENING, spectrum_arrays

    broadening = dict(BROADENING, **({"fwhm0_ev": fwhm0_ev} if fwhm0_ev is not None else {}))
    curves = []
    for job_id in (ref_id, other_id):
        folder, _, name = job_id.rpartition("/")
        stem = Path(campaign) / (folder or "results") / name.replace(":", "__")
        xres = _rjson(stem.with_name(stem.name + ".json"))
        if xres is None:
            raise FileNotFoundError(f"no result of job {job_id} in {campaign}")
        arrays = np.load(stem.with_name(stem.name + ".npz"))
        energy, iso, *_ = spectrum_arrays(xres, arrays, xres["settings"],
                                          xres["delta_ks_ev"] - xres["onset_raw_ev"], broadening)
        curves.append((energy, iso / iso.max()))
    (e_ref, y_ref), (e, y) = curves
    onset = e_ref[np.argmax(y_ref >= MESH_ONSET_FRACTION)]
    grid = np.arange(onset, onset + MESH_RANGE_ABOVE_ONSET_EV, MESH_GRID_STEP_EV)
    best = (np.inf, 0.0)
    for shift in np.arange(-MESH_SHIFT_SEARCH_EV, MESH_SHIFT_SEARCH_EV + 1e-9, MESH_SHIFT_STEP_EV):
        rms = float(np.sqrt(np.mean((np.interp(grid, e_ref, y_ref) - np.interp(grid, e + shift, y)) ** 2)))
        best = min(best, (rms, round(float(shift), 2)))
    return best


# The set's own resolution, what the k-mesh checks accept (tests/test_bn_data.py MESH_RMS_TOL: the
# smallest distance between neighbouring classes that the outside audit measured inside v1)
MESH_RMS_TOL = {"B": 0.051, "N": 0.070}


def spectral_distances(campaign: str | Path) -> list[dict]:
    """How far apart the v2 spectra are, in the k-mesh criterion (:func:`mesh_rms`: best-shift RMS
    of max-normalised iso spectra, onset to +20 eV): each polymorph's pristine first B and N site
    against (a) the same site of each of its variants (strain, thermal snapshot, stacking) and
    (b) the pristine first site of every other polymorph. Only committed results count.

    Returns rows ``{'edge', 'kind' ('variant' | 'polymorph'), 'reference', 'other', 'rms',
    'shift_ev', 'tolerance'}``, ``tolerance`` the edge's :data:`MESH_RMS_TOL`; a shift at the
    search limit (±:data:`MESH_SHIFT_SEARCH_EV`) means the onsets differ by more, and the RMS is
    then that of the limit, not the smallest over all shifts. Why it matters: a
    grouped score can only separate classes whose spectra lie further apart than the set's own
    settings move them; where a variant lies as far from its pristine cell as another polymorph
    does, or two polymorphs lie within the tolerance, a map cannot be expected to tell them apart."""
    campaign = Path(campaign)
    plan = _rjson(campaign / "plan.json")
    results = campaign / "results"
    first: dict[tuple[str, str], str] = {}        # (sid, element) -> job id of its first site
    for j in plan["jobs"]:
        if j["kind"] == "xas" and not j.get("conv") and (results / (j["id"].replace(":", "__") + ".json")).exists():
            first.setdefault((j["sid"], j["element"]), j["id"])
    structures = plan["structures"]
    rows = []
    for element in ("B", "N"):
        pristine = {m["polymorph"]: sid for sid, m in structures.items()
                    if m["variant"] == "pristine" and not m.get("defect") and (sid, element) in first}
        for poly, ref in sorted(pristine.items()):
            site = first[ref, element].rsplit(":", 1)[1]
            for sid, m in sorted(structures.items()):
                same_site = f"xas:{sid}:{site}"
                if (m["polymorph"] == poly and sid != ref and not m.get("defect")
                        and m["variant"] not in ("pristine",) and "cell-size" not in m["variant"]
                        and (results / (same_site.replace(":", "__") + ".json")).exists()):
                    rms, shift = mesh_rms(campaign, first[ref, element], same_site)
                    rows.append({"edge": f"{element} K", "kind": "variant", "reference": ref, "other": sid,
                                 "rms": rms, "shift_ev": shift, "tolerance": MESH_RMS_TOL[element]})
            for other_poly, other in sorted(pristine.items()):
                if other_poly > poly:
                    rms, shift = mesh_rms(campaign, first[ref, element], first[other, element])
                    rows.append({"edge": f"{element} K", "kind": "polymorph", "reference": ref, "other": other,
                                 "rms": rms, "shift_ev": shift, "tolerance": MESH_RMS_TOL[element]})
    return rows


def distances_table(rows: list[dict]) -> str:
    """:func:`spectral_distances` as a Markdown table."""
    lines = ["| edge | reference | other | kind | RMS | best shift (eV) | k-mesh tolerance |",
             "|---|---|---|---|---|---|---|"]
    def shift(value: float) -> str:
        return f"{value:+.2f}" + (" (search limit)" if abs(value) >= MESH_SHIFT_SEARCH_EV - 1e-9 else "")

    lines += [f"| {r['edge']} | {r['reference']} | {r['other']} | {r['kind']} | {r['rms']:.3f} | "
              f"{shift(r['shift_ev'])} | {r['tolerance']:.3f} |" for r in rows]
    return "\n".join(lines)


def summary(workdir: str | Path) -> str:
    workdir = Path(workdir)
    plan = _rjson(workdir / "plan.json")
    lines = ["## Convergence checks", ""]
    lines.append("| check | run A | run B | peaks A (eV) | peaks B (eV) | ΔKS A | ΔKS B | "
                 "L1 diff | time A/B (s) |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for j in plan["jobs"]:
        if j["kind"] != "xas" or not j.get("conv"):
            continue
        sid = j["sid"]
        if sid.endswith("_large"):
            base = f"xas:h-BN_pristine:{j['element']}{18 if j['element'] == 'N' else 0}"
            label = "cell 3x3x1 -> 4x4x1"
        else:
            base = f"xas:{sid}:{j['element']}{j['absorber']}"
            label = f"k Γ -> {j['kpts']}"
        c = compare(workdir, base, j["id"])
        if c:
            lines.append(f"| {label} {j['element']} K | {c['a']} | {c['b']} | {c['peaks_a']} | "
                         f"{c['peaks_b']} | {c['dks_a']} | {c['dks_b']} | {c['l1_rel']} | "
                         f"{c['time_a_s']}/{c['time_b_s']} |")
    corr = _rjson(workdir / "dks_correction.json", {})
    lines += ["", "ΔKS cutoff correction:", "```", json.dumps(corr, indent=1), "```", ""]
    # timings
    rows = {}
    for j in plan["jobs"]:
        r = _rjson(_res(workdir, j["id"]))
        if r is None:
            continue
        m = plan["structures"][j["sid"]]
        key = (j["kind"], m["polymorph"] + (" defect" if m.get("defect") else ""), m["natoms"],
               m["spin_polarized"], bool(j.get("conv")),
               "" if j["kind"] != "xas" else ("yes" if r.get("delta_ks_ev") is not None else "no"))
        t = r["timing_s"]["total"] if "total" in r.get("timing_s", {}) else r.get("wall_s")
        if t is None:
            continue
        rows.setdefault(key, []).append((t, r.get("maxrss_mb", 0)))
    lines += ["## Timings (one core per job, two jobs side by side, nice 19)", "",
              "| job | cells | atoms | spin | convergence check | own ΔKS | n | mean s | max s | "
              "max RSS MB |", "|---|---|---|---|---|---|---|---|---|---|"]
    for (k, poly, n, sp, cv, dk), v in sorted(rows.items()):
        t = np.array([x[0] for x in v])
        lines.append(f"| {k} | {poly} | {n} | {sp} | {cv} | {dk} | {len(v)} | {t.mean():.0f} | "
                     f"{t.max():.0f} | {max(x[1] for x in v):.0f} |")
    return "\n".join(lines)


def relaxation_summary(text: str) -> str:
    """One cell of the contents table: 'none', 'converged, fmax F eV/Å (N steps)' or
    'NOT converged: fmax F eV/Å after N steps' from an entry's ``relaxation`` text."""
    import re

    if text.startswith("none"):
        return text.split(":")[0].split(" (")[0]
    m = re.search(r"(\d+) steps, final max force ([0-9.]+) eV/A", text)
    if m is None:
        return text.split(";")[0]
    steps, f = m.group(1), m.group(2)
    if "not converged" in text:
        return f"NOT converged: fmax {f} eV/Å after {steps} steps"
    return f"converged: fmax {f} eV/Å ({steps} steps)"


def contents(out: str | Path) -> str:
    """Counts of the bundled set by structure and edge (Markdown)."""
    import tomllib

    m = tomllib.loads((Path(out) / "calcset.toml").read_text())
    rows: dict = {}
    for e in m["entries"]:
        sid = e["key"].split("/")[0]
        el = e["absorber"]["element"]
        r = rows.setdefault(sid, {"B": 0, "N": 0, "relaxation": relaxation_summary(e["relaxation"])})
        r[el] += 1
    lines = ["| structure | B K sites | N K sites | relaxation |", "|---|---|---|---|"]
    for sid, r in sorted(rows.items()):
        lines.append(f"| {sid} | {r['B']} | {r['N']} | {r['relaxation']} |")
    n = len(m["entries"])
    polys = {e["polymorph"] for e in m["entries"]}
    kinds = {e["defect"]["name"] for e in m["entries"] if "defect" in e}
    lines.append("")
    lines.append(f"{n} absorber-site entries, {len(polys)} polymorphs, "
                 f"{len(kinds)} defect kinds ({', '.join(sorted(kinds))}).")
    return "\n".join(lines)


def fill_generated_sections(doc_text: str, sections: dict[str, str]) -> str:
    """Replace the text between ``<!-- BEGIN name -->`` and ``<!-- END name -->`` for each section.

    A section the document does not have is an error (a renamed marker would otherwise leave stale
    numbers in place silently)."""
    import re

    for name, text in sections.items():
        pattern = rf"<!-- BEGIN {re.escape(name)} -->\n.*?<!-- END {re.escape(name)} -->\n"
        replacement = f"<!-- BEGIN {name} -->\n{text.strip()}\n<!-- END {name} -->\n"
        doc_text, count = re.subn(pattern, lambda _m: replacement, doc_text, flags=re.S)
        if count != 1:
            raise ValueError(f"the document has {count} generated sections named {name!r} (expected 1)")
    return doc_text


def generated_sections(workdir: Path, out: Path) -> dict[str, str]:
    """The generated sections of docs/bn-calculations.md: job timings, the set's contents and the
    36- vs 64-atom h-BN cell comparison, from the raw results in ``workdir`` and the set in ``out``."""
    summ = summary(workdir)
    sections = {"timings": summ[summ.index("| job |"):], "contents": contents(out)}
    c = compare(workdir, "xas:h-BN_pristine:B0", "xas:h-BN_pristine_large:B0")
    if c:
        sections["cell"] = (
            "| cell | atoms | ΔKS (eV) | peaks (eV above onset) | L1 | time (s) |\n|---|---|---|---|---|---|\n"
            f"| 3x3x1 | 36 | {c['dks_a']} | {', '.join(map(str, c['peaks_a']))} | | {c['time_a_s']} |\n"
            f"| 4x4x1 | 64 | {c['dks_b']} | {', '.join(map(str, c['peaks_b']))} | {c['l1_rel']} | {c['time_b_s']} |\n")
    return sections


if __name__ == "__main__":
    wd = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / ".gpaw-work" / "bn"
    print(summary(wd))
    out = wd.parents[1] / "data" / "bn"
    if (out / "calcset.toml").exists():
        print()
        print(contents(out))
