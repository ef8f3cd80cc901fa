"""Bookkeeping of the committed v2 campaign: commit after every job, progress in CPU hours.

The campaign's state lives in git, not on a machine: ``calculations/bn-v2/plan.json``,
``structures/`` and ``results/`` (one JSON, and for spectra/ground states one ``.npz``, per
finished job; ``relax__*.partial.json`` holds a running relaxation's last step).  After every
finished job :func:`commit_campaign` re-assembles ``data/bn-v2`` and commits both folders, so a session that is stopped loses at most
the job in flight, and ``python -m repository.calculations campaign`` on a fresh clone resumes.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import time
from pathlib import Path

PROBE_SUFFIX = "-probes"    # data/bn-v2 -> data/bn-v2-probes
GIT_RETRIES = 30          # another git process (a developer's commit) holds index.lock


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    for _ in range(GIT_RETRIES):
        r = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        if r.returncode == 0 or "index.lock" not in (r.stderr + r.stdout):
            return r
        time.sleep(2)
    return r


def commit_campaign(campaign: Path, out: Path, scratch: Path, setups: Path,
                    git: bool = True) -> str:
    """Assemble ``out`` from the campaign results, and commit both (when ``git``)."""
    campaign, out = Path(campaign).resolve(), Path(out).resolve()
    notes = []
    try:
        from .assemble import assemble

        n = assemble(campaign, out, setups_dir=setups, set_name="bn-gpaw-xas-v2")
        notes.append(f"{n} entries in {out.name}")
    except Exception as err:  # noqa: BLE001 - a failed assembly must not block committing results
        notes.append(f"assemble failed: {type(err).__name__}: {err}")
    probe_out = out.parent / (out.name + PROBE_SUFFIX)
    try:        # the independent probe set (denser meshes, larger cells): kept out of `out`
        n = assemble(campaign, probe_out, setups_dir=setups, set_name="bn-gpaw-xas-v2-probes",
                     probes=True)
        if n:
            notes.append(f"{n} in {probe_out.name}")
    except Exception as err:  # noqa: BLE001 - as above
        notes.append(f"probe assembly failed: {type(err).__name__}: {err}")
    if not git:
        return "; ".join(notes)
    root = Path(_git(campaign, "rev-parse", "--show-toplevel").stdout.strip())
    paths = [str(campaign.relative_to(root))]
    for folder in (out, probe_out):
        rel = str(folder.relative_to(root))
        # a folder the assembler removed (nothing current in it) is committed as removed
        if folder.exists() or _git(root, "ls-files", "--", rel).stdout.strip():
            paths.append(rel)
    _git(root, "add", "-A", "--", *paths)
    prog = progress_numbers(campaign)
    msg = (f"BN v2 campaign: {prog['done']}/{prog['total']} jobs, {prog['cpu_h']:.2f} CPU-h "
           f"in current results ({prog['cpu_h_spent']:.2f} CPU-h spent) "
           f"({'; '.join(notes)})")
    r = _git(root, "commit", "-q", "-m", msg, "--", *paths)
    if r.returncode != 0 and "nothing" not in r.stdout + r.stderr:
        notes.append(f"git commit failed: {(r.stderr or r.stdout).strip()[:200]}")
    return msg if r.returncode == 0 else "; ".join(notes)


def progress_numbers(campaign: Path) -> dict:
    """``{'done', 'total', 'cpu_h', 'by_round': {round: [done, total]}, 'by_kind': {...}}``."""
    campaign = Path(campaign)
    plan = json.loads((campaign / "plan.json").read_text())
    done = total = 0
    cpu_s = 0.0
    by_round: dict[str, list[int]] = {}
    by_kind: dict[str, list[int]] = {}
    for j in plan["jobs"]:
        f = campaign / "results" / (j["id"].replace(":", "__") + ".json")
        rnd = str(int(j["priority"] // 1))
        by_round.setdefault(rnd, [0, 0])[1] += 1
        by_kind.setdefault(j["kind"], [0, 0])[1] += 1
        total += 1
        if f.exists():
            done += 1
            by_round[rnd][0] += 1
            by_kind[j["kind"]][0] += 1
            try:
                r = json.loads(f.read_text())
                # CPU time where recorded; older results only have the wall time
                cpu_s += float(r.get("cpu_s", r.get("wall_s", 0.0)))
            except ValueError:
                pass
    # CPU spent on results the plan no longer uses (superseded settings) still counts as spent
    spent_s = cpu_s
    for f in (campaign / SUPERSEDED).glob("*/*.json"):
        try:
            r = json.loads(f.read_text())
            spent_s += float(r.get("cpu_s", r.get("wall_s", 0.0)))
        except ValueError:
            pass
    return {"done": done, "total": total, "cpu_h": cpu_s / 3600.0, "cpu_h_spent": spent_s / 3600.0,
            "by_round": by_round, "by_kind": by_kind}


SPIN_CPU_FACTOR = 2.0  # assumed: a spin-polarised job solves both spin channels (twice the KS states)
LARGE_CELL_ATOMS = 48  # cells above this many atoms are the 63-72-atom cell-size checks


def _job_family(job: dict, structures: dict) -> tuple[str, str, bool, bool]:
    """(job kind as in its id, polymorph, large cell, spin-polarised) of a plan job: what sets its
    cost (a vacancy's 31 atoms and a pristine cell's 32 count as the same size)."""
    s = structures[job["sid"]]
    return (job["id"].split(":")[0], s["polymorph"], int(s["natoms"]) > LARGE_CELL_ATOMS,
            bool(s.get("spin_polarized")))


def _superseded_on_the_same_mesh(campaign: Path, plan: dict) -> dict[str, list[dict]]:
    """``{job id: [result, ...]}`` of the superseded results (``SUPERSEDED/*/``) computed with the
    k mesh their cell has now: results moved aside because the geometry changed
    (:func:`continue_relaxations`) or because forces were missing, not because of their settings,
    so their timings still say what the job costs. (Why: when w-BN C_N's relaxation was sent back,
    2026-12-01, its two spin-polarised spectra, 6,805 and 6,903 CPU-s, left ``results/``, and the
    estimate fell from 104.9 to 86.6 CPU-h: the w-BN defect spectra were estimated at twice the
    unpolarised ones again, which had already proved 2.3x too low.)"""
    by_name = {j["id"].replace(":", "__") + ".json": j for j in plan["jobs"]}
    out: dict[str, list[dict]] = {}
    for f in sorted((campaign / SUPERSEDED).glob("*/*.json")):
        job = by_name.get(f.name)
        if job is None:
            continue
        try:
            r = json.loads(f.read_text())
        except ValueError:
            continue
        if list(r.get("kpts") or []) == list(plan["structures"][job["sid"]]["kpts"]):
            out.setdefault(job["id"], []).append(r)
    return out


# Job kinds whose cost grows with the irreducible k points: the DFT runs. (Bader is post-processing
# of a density on a grid: no k points.)
K_SCALED_KINDS = ("gs", "gse", "xas", "relax", "dks")
_IBZ_CACHE: dict[tuple, int | None] = {}


def irreducible_kpoints(campaign: Path, job: dict, structures: dict) -> int | None:
    """Number of irreducible k points of ``job``'s run: the Γ-centred mesh of the job (``kpts``, else
    its cell's), reduced by the point symmetry of the cell (relaxed positions when the relaxation is
    committed) with the absorber of a spectrum job (``absorber``) and each magnetic moment as its own
    species, and by time reversal (spglib ``get_ir_reciprocal_mesh``, symprec 1e-3 Å). ``None`` for
    a kind that does not scale with k (:data:`K_SCALED_KINDS`), or when spglib, the mesh or the
    structure file is missing.

    Why: CPU time per job grows with this number, and a job family (kind, polymorph, size, spin)
    mixes cells of very different symmetry: a thermal snapshot has none, so its 4x4x4 c-BN mesh
    keeps 36 k points against 8 for the pristine cell, and its spectrum took ~4.5x the pristine
    one's 423 CPU-s (2026-12-01), which the plain family median had put at 1x. Checked against GPAW's
    own count (``n_ibz_kpoints`` of the v2 spectra): equal for 22 of 23, the exception a
    spin-polarised monolayer C_B site (spglib 7, GPAW 10)."""
    if job.get("kind") not in K_SCALED_KINDS:
        return None
    sid = job["sid"]
    kpts = tuple(job.get("kpts") or structures[sid].get("kpts") or ())
    if len(kpts) != 3:
        return None
    absorber = job.get("absorber") if job.get("kind") in ("xas", "dks") else None
    relaxed = campaign / "results" / f"relax__{sid}.json"
    key = (str(campaign), sid, kpts, absorber, relaxed.exists())
    if key not in _IBZ_CACHE:
        _IBZ_CACHE[key] = _count_irreducible(campaign / "structures" / f"{sid}.json", relaxed, kpts, absorber)
    return _IBZ_CACHE[key]


def _count_irreducible(path: Path, relaxed: Path, kpts: tuple, absorber: int | None) -> int | None:
    try:
        import numpy as np
        import spglib
    except ImportError:
        return None
    try:
        cell = json.loads(path.read_text())
        positions = json.loads(relaxed.read_text())["positions"] if relaxed.exists() else cell["positions"]
    except (OSError, ValueError, KeyError):
        return None
    lattice = np.array(cell["cell"], dtype=float)
    frac = np.linalg.solve(lattice.T, np.array(positions, dtype=float).T).T
    species: dict[tuple, int] = {}
    numbers = [species.setdefault((sym, float(m), i == absorber), len(species) + 1)
               for i, (sym, m) in enumerate(zip(cell["symbols"], cell.get("magmoms") or [0.0] * len(positions)))]
    mapping, _ = spglib.get_ir_reciprocal_mesh(list(kpts), (lattice, frac, numbers), is_shift=[0, 0, 0],
                                               is_time_reversal=True, symprec=1e-3)
    return int(len(np.unique(mapping)))


def _family_medians(campaign: Path, plan: dict, field: str) -> tuple[dict[tuple, float], list[dict]]:
    """(median of ``field`` (``cpu_s`` or ``wall_s``) of the committed results per job family,
    per irreducible k point where the kind scales with it (:func:`irreducible_kpoints`); pending
    jobs). :func:`_job_estimate` turns it back into seconds for one job. Superseded results count
    only where they used the cell's current k mesh (:func:`_superseded_on_the_same_mesh`); those of
    other meshes are not used."""
    structures = plan["structures"]
    measured: dict[tuple, list[float]] = {}
    pending = []
    earlier = _superseded_on_the_same_mesh(campaign, plan)
    for j in plan["jobs"]:
        f = campaign / "results" / (j["id"].replace(":", "__") + ".json")
        runs = list(earlier.get(j["id"], []))
        if not f.exists():
            pending.append(j)
        else:
            try:
                runs.append(json.loads(f.read_text()))
            except ValueError:
                pass
        for r in runs:
            if field in r and "cpu_s" in r:   # wall_s alone marks the early results without a CPU timer
                n_k = r.get("n_ibz_kpoints") or irreducible_kpoints(campaign, j, structures) or 1
                measured.setdefault(_job_family(j, structures), []).append(float(r[field]) / n_k)
    return {k: statistics.median(v) for k, v in measured.items()}, pending


def _job_estimate(campaign: Path, job: dict, structures: dict,
                  median: dict[tuple, float]) -> tuple[float | None, bool]:
    """(seconds, assumed from the unpolarised family) of one pending job: its family's median per
    irreducible k point (:func:`_family_medians`) times the job's own count; ``None`` if no analogue."""
    per_k, assumed = _family_estimate(_job_family(job, structures), median)
    if per_k is None:
        return None, False
    return per_k * (irreducible_kpoints(campaign, job, structures) or 1), assumed


def _family_estimate(fam: tuple, median: dict[tuple, float]) -> tuple[float | None, bool]:
    """(estimate, assumed from the unpolarised family) of one job family; ``None`` if no analogue."""
    if fam in median:
        return median[fam], False
    if fam[3] and fam[:3] + (False,) in median:
        return SPIN_CPU_FACTOR * median[fam[:3] + (False,)], True
    return None, False


def estimate_remaining(campaign: Path) -> dict:
    """CPU hours the pending jobs of the v2 plan will take, from the campaign's own measured timings.

    Each pending job takes the median CPU time per irreducible k point (``cpu_s`` of the committed
    results) of the finished jobs of its family (:func:`_job_family`: kind, polymorph, cell size
    class, spin) times its own count (:func:`irreducible_kpoints`). Where only the
    non-spin-polarised family has timings, a spin-polarised job counts :data:`SPIN_CPU_FACTOR` times
    that (an assumption until such a job has finished). Jobs with no finished analogue (e.g. the first
    job of a kind in a polymorph) are not guessed: they are counted in ``unestimated`` by kind.
    Superseded results count where they used the cell's current mesh (:func:`_family_medians`).
    Returns ``{'cpu_h', 'estimated_jobs',
    'assumed_spin_jobs', 'unestimated': {kind: count}}``.
    """
    campaign = Path(campaign)
    plan = json.loads((campaign / "plan.json").read_text())
    median, pending = _family_medians(campaign, plan, "cpu_s")
    cpu_s, estimated, assumed = 0.0, 0, 0
    unestimated: dict[str, int] = {}
    for j in pending:
        fam = _job_family(j, plan["structures"])
        est, from_unpolarised = _job_estimate(campaign, j, plan["structures"], median)
        if est is None:
            unestimated[fam[0]] = unestimated.get(fam[0], 0) + 1
            continue
        cpu_s += est
        assumed += from_unpolarised
        estimated += 1
    return {"cpu_h": cpu_s / 3600.0, "estimated_jobs": estimated, "assumed_spin_jobs": assumed,
            "unestimated": unestimated}


#: A spectrum job resumed from its ΔKS checkpoint is expected to take its family's median wall time
#: minus the checkpoint's, but never less than this fraction of the median: the checkpoint's wall
#: time was measured under another load, and the core-hole SCF and empty bands still run in full.
MIN_RESUMED_WALL_FRACTION = 0.4


def _longest_of_kind(campaign: Path, plan: dict) -> dict[tuple[str, bool], float]:
    """``{(job kind, large cell): longest wall_s}`` over the committed results with a CPU timer."""
    out: dict[tuple[str, bool], float] = {}
    for j in plan["jobs"]:
        f = campaign / "results" / (j["id"].replace(":", "__") + ".json")
        if not f.exists():
            continue
        try:
            r = json.loads(f.read_text())
        except ValueError:
            continue
        if "wall_s" in r and "cpu_s" in r:
            key = _job_family(j, plan["structures"])[0::2]
            out[key] = max(out.get(key, 0.0), float(r["wall_s"]))
    return out


def estimate_wall_s(campaign: Path, scratch: Path | None = None) -> dict[str, float]:
    """Expected wall-clock seconds of each pending job of the v2 plan that has a measured analogue:
    the median ``wall_s`` per irreducible k point of the finished jobs of its family
    (:func:`_job_family`; spin-polarised without a finished analogue: :data:`SPIN_CPU_FACTOR` times
    the unpolarised one) times the job's own count (:func:`irreducible_kpoints`).

    A job without such an analogue is expected to take as long as the longest finished job of its
    kind and cell size class in any polymorph (x :data:`SPIN_CPU_FACTOR` when spin-polarised): an
    upper-end guess, used only to decide whether it may still start before the deadline.

    Wall time, not CPU time, because it is what the deadline cuts: it includes the waiting of a
    niced job beside foreground work (median wall/CPU of the v2 results: 1.49 on 2026-11-30).
    The runner uses it to start only jobs that can finish before its deadline. Jobs of a kind and
    cell size class that has never finished are absent (the runner then starts them, as it
    cannot know).

    With ``scratch`` (the runner's scratch folder), an ``xas`` job whose ΔKS checkpoint
    (``scratch/logs/<job>.dks-checkpoint.json``, written by the worker) exists is expected to take
    the median minus the checkpoint's ``wall_s``, at least :data:`MIN_RESUMED_WALL_FRACTION` of the
    median. Whether the checkpoint is still valid (its key) only the worker can tell; a stale one
    makes this estimate optimistic, and the job then recomputes and re-checkpoints its ΔKS."""
    campaign = Path(campaign)
    plan = json.loads((campaign / "plan.json").read_text())
    median, pending = _family_medians(campaign, plan, "wall_s")
    longest = _longest_of_kind(campaign, plan)
    out = {}
    for j in pending:
        fam = _job_family(j, plan["structures"])
        est, _ = _job_estimate(campaign, j, plan["structures"], median)
        if est is None:
            # no analogue: the longest finished job of its kind and cell size class (any polymorph),
            # doubled when spin-polarised, so that a job that likely cannot finish does not start
            # near the deadline (a killed job loses its CPU time); absent when there is none
            est = longest.get(fam[0::2])
            if est is None:
                continue
            est *= SPIN_CPU_FACTOR if fam[3] else 1.0
        if scratch is not None and j.get("kind") == "xas":
            ck = Path(scratch) / "logs" / (j["id"].replace(":", "__") + ".dks-checkpoint.json")
            try:
                done_s = float(json.loads(ck.read_text())["wall_s"])
            except (OSError, ValueError, KeyError, TypeError):
                done_s = 0.0
            est = max(est - done_s, MIN_RESUMED_WALL_FRACTION * est)
        out[j["id"]] = est
    return out


# issue 15's balance targets: independent structures (pristine + variants, not defect cells and not
# the large-cell checks) per polymorph, and hosts per point defect
TARGET_STRUCTURES_PER_POLYMORPH = 5
TARGET_HOSTS_PER_DEFECT = 3
TARGET_DEFECTS = ("v_B", "v_N", "C_B", "C_N", "O_N")


def _independent(meta: dict) -> bool:
    """Whether a plan structure counts as an independent structure (not a cell-size check)."""
    return "cell-size check" not in str(meta.get("variant", ""))


def _finished_edges(campaign: Path, plan: dict, pending_ids: set[str] | None = None) -> dict[str, set[str]]:
    """``{structure id: {'B', 'N', ...}}``: the edges with a finished ``xas`` result (a job counts as
    finished when its result exists, or, given ``pending_ids``, when it is not among them)."""
    from .runner import result_path

    edges: dict[str, set[str]] = {}
    for j in plan["jobs"]:
        done = (j["id"] not in pending_ids if pending_ids is not None
                else result_path(campaign, j["id"]).exists())
        if j["kind"] == "xas" and done:
            edges.setdefault(j["sid"], set()).add(_xas_edge(j))
    return edges


def _xas_edge(job: dict) -> str:
    """Absorbing element of an ``xas:<cell>:<El><i>`` job."""
    return job["id"].split(":")[2].rstrip("0123456789")


def balance_numbers(campaign: Path) -> dict:
    """Where the finished spectra stand against issue 15's balance targets.

    A structure *counts* when it has a finished ``xas`` result for both edges (B K and N K); cells
    whose ``variant`` mentions "cell-size check" are not independent structures and are left out.
    Returns ``{'polymorphs': {polymorph: [counted, planned]}, 'defects': {name: [hosts counted,
    hosts planned]}}``, the first over pristine cells and variants (not defect cells), the second
    over defect cells."""
    campaign = Path(campaign)
    plan = json.loads((campaign / "plan.json").read_text())
    edges = _finished_edges(campaign, plan)
    polymorphs: dict[str, list[int]] = {}
    hosts: dict[str, list[set[str]]] = {}
    for sid, meta in plan["structures"].items():
        if not _independent(meta):
            continue
        complete = edges.get(sid, set()) >= {"B", "N"}
        if meta.get("defect"):
            counted, planned = hosts.setdefault(meta["defect"]["name"], [set(), set()])
            planned.add(meta["polymorph"])
            if complete:
                counted.add(meta["polymorph"])
        else:
            row = polymorphs.setdefault(meta["polymorph"], [0, 0])
            row[1] += 1
            row[0] += complete
    return {"polymorphs": polymorphs,
            "defects": {name: [len(c), len(p)] for name, (c, p) in hosts.items()}}


def _outlook(campaign: Path, groups: dict[str, str], targets: tuple[str, ...] | None, key: str) -> list[dict]:
    """Walk the pending jobs in the runner's order (:func:`runner.queue_order`, dependencies
    assumed met in that order) at the estimates of :func:`estimate_remaining`, and record the CPU
    hours at which the smallest group (``groups``: structure id -> group; every name of ``targets``
    is a group, counted 0 until it has a cell) first reaches 2, 3, ... structures with both edges.
    Returns ``[{key: n, 'cpu_h': h, 'unestimated_jobs': k}]``, ``k`` the jobs before it without an
    estimate (counted as 0 CPU-h)."""
    from .runner import queue_order

    campaign = Path(campaign)
    plan = json.loads((campaign / "plan.json").read_text())
    median, pending = _family_medians(campaign, plan, "cpu_s")
    edges = _finished_edges(campaign, plan, {j["id"] for j in pending})

    def level() -> int:
        per = dict.fromkeys(targets or (), 0)
        for sid, group in groups.items():
            per[group] = per.get(group, 0) + (edges.get(sid, set()) >= {"B", "N"})
        return min(per.values()) if per else 0

    out, cpu_s, unknown, now = [], 0.0, 0, level()
    for j in sorted(pending, key=queue_order):
        est, _ = _job_estimate(campaign, j, plan["structures"], median)
        cpu_s += est or 0.0
        unknown += est is None
        if j["kind"] == "xas" and j["sid"] in groups:
            edges.setdefault(j["sid"], set()).add(_xas_edge(j))
            reached = level()
            if reached > now:
                now = reached
                out.append({key: now, "cpu_h": cpu_s / 3600.0, "unestimated_jobs": unknown})
    return out


def balance_outlook(campaign: Path) -> list[dict]:
    """CPU hours of the queue until every polymorph has 2, 3, ... structures with both edges
    (:func:`balance_numbers`; pristine cells and variants). Returns ``[{'structures': n, 'cpu_h':
    h, 'unestimated_jobs': k}]`` for each level reached (:func:`_outlook`)."""
    plan = json.loads((Path(campaign) / "plan.json").read_text())
    groups = {sid: m["polymorph"] for sid, m in plan["structures"].items()
              if not m.get("defect") and _independent(m)}
    return _outlook(campaign, groups, None, "structures")


def defect_outlook(campaign: Path) -> list[dict]:
    """CPU hours of the queue until every defect of :data:`TARGET_DEFECTS` has 1, 2, 3, ... hosts
    with both edges (:func:`balance_numbers`). Returns ``[{'hosts': n, 'cpu_h': h,
    'unestimated_jobs': k}]`` for each level reached (:func:`_outlook`)."""
    plan = json.loads((Path(campaign) / "plan.json").read_text())
    groups = {sid: m["defect"]["name"] for sid, m in plan["structures"].items()
              if m.get("defect") and _independent(m) and m["defect"]["name"] in TARGET_DEFECTS}
    return _outlook(campaign, groups, TARGET_DEFECTS, "hosts")


def progress(campaign: Path) -> str:
    """Human-readable progress: done/total, CPU hours (one core per job), per round and kind, and
    the estimate of what is left (:func:`estimate_remaining`)."""
    p = progress_numbers(campaign)
    est = estimate_remaining(campaign)
    lines = [f"{p['done']}/{p['total']} jobs done, {p['cpu_h']:.2f} CPU-h in their results (CPU time "
             "of finished jobs, one core each; wall time for a few early ones, which predate the CPU "
             f"timer); {p['cpu_h_spent']:.2f} CPU-h spent in all, with the results of superseded "
             f"settings ({SUPERSEDED}/)"]
    lines += [f"  round {r}: {d}/{t}" for r, (d, t) in sorted(p["by_round"].items(),
                                                           key=lambda x: int(x[0]))]
    lines += [f"  {k}: {d}/{t}" for k, (d, t) in sorted(p["by_kind"].items())]
    bal = balance_numbers(campaign)
    lines.append(f"balance (structures with both edges' spectra; target {TARGET_STRUCTURES_PER_POLYMORPH} "
                 "per polymorph, pristine and variants): " + ", ".join(
                     f"{poly} {c}/{n}" for poly, (c, n) in sorted(bal["polymorphs"].items())))
    lines.append(f"  defects (hosts with both edges; target {TARGET_HOSTS_PER_DEFECT} for "
                 f"{', '.join(TARGET_DEFECTS)}): " + ", ".join(
                     f"{name} {c}/{n}" for name, (c, n) in sorted(bal["defects"].items())))
    ahead = balance_outlook(campaign)
    if ahead:
        lines.append("  every polymorph at " + ", ".join(
            f"{a['structures']} structures after {'≥ ' if a['unestimated_jobs'] else ''}{a['cpu_h']:.1f} CPU-h"
            + (f" ({a['unestimated_jobs']} jobs without estimate not counted)" if a["unestimated_jobs"] else "")
            for a in ahead) + " of the queue")
    hosts = defect_outlook(campaign)
    if hosts:
        lines.append(f"  every one of {', '.join(TARGET_DEFECTS)} in " + ", ".join(
            f"{a['hosts']} host{'s' if a['hosts'] != 1 else ''} after {'≥ ' if a['unestimated_jobs'] else ''}{a['cpu_h']:.1f} CPU-h"
            for a in hosts) + " of the queue")
    missing = ", ".join(f"{n} {k}" for k, n in sorted(est["unestimated"].items())) or "none"
    lines.append(f"remaining: {est['cpu_h']:.1f} CPU-h for {est['estimated_jobs']} pending jobs with a measured "
                 f"analogue (median CPU per irreducible k point of finished jobs of the same kind, polymorph, cell size and spin, times the job's own count; "
                 f"{est['assumed_spin_jobs']} of them spin-polarised, counted x{SPIN_CPU_FACTOR:g} their "
                 f"unpolarised analogue); no analogue yet, not estimated: {missing}")
    return "\n".join(lines)


SUPERSEDED = "results-superseded"   # under the campaign folder; committed (the record, and probes)
_MESH_KINDS = ("gs", "gse", "xas")


def supersede_stale_results(campaign: Path) -> list[str]:
    """Move results that the plan no longer describes out of ``results/``, so the runner redoes them.

    A ground state, ΔKS ground state or spectrum whose recorded k mesh differs from the mesh its
    job now asks (``job['kpts']`` or its structure's) moves, with its arrays, to
    ``SUPERSEDED/k<mesh>/`` (e.g. ``results-superseded/k2x2x1/xas__h-BN_pristine__B0.json``); a
    Bader result moves with its ground state. Relaxations and the convergence checks (``conv``) stay:
    their results record the mesh they used, and a geometry relaxed on a coarser mesh is kept
    (docs/bn-calculations.md says so). Returns the moved job ids."""
    campaign = Path(campaign)
    plan = json.loads((campaign / "plan.json").read_text())
    results = campaign / "results"
    moved: list[str] = []
    stale_gs: dict[str, str] = {}
    for job in plan["jobs"]:
        if job["kind"] not in _MESH_KINDS or job.get("conv"):
            continue
        path = results / (job["id"].replace(":", "__") + ".json")
        if not path.exists():
            continue
        recorded = json.loads(path.read_text()).get("kpts")
        wanted = job.get("kpts") or plan["structures"][job["sid"]]["kpts"]
        if recorded is None or list(recorded) == list(wanted):
            continue
        tag = "k" + "x".join(map(str, recorded))
        if job["kind"] == "gs":
            stale_gs[job["sid"]] = tag
        _move_result(path, campaign / SUPERSEDED / tag)
        moved.append(job["id"])
    for sid, tag in stale_gs.items():
        path = results / f"bader__{sid}.json"
        if path.exists():
            _move_result(path, campaign / SUPERSEDED / tag)
            moved.append(f"bader:{sid}")
    return moved


def continue_relaxations(campaign: Path, fmax_ev_per_a: float | None = None) -> list[str]:
    """Send back to the queue every relaxation that ran on another k mesh than its cell's spectra
    and whose geometry fails the force target there, so it continues on the production mesh.

    The production-mesh force is the ground state's (``gs:<sid>`` records ``fmax_ev_per_a`` since
    2026-12-01); a cell without it is left alone until its ground state has run. For each cell moved:
    the relaxation result and every ground state, spectrum and Bader result of the cell go to
    ``SUPERSEDED/relax-k<mesh>/`` (the geometry will change, so they would be stale), and the
    relaxation's ``.partial.json`` keeps its last positions with ``continued_from`` (the coarse
    mesh, its steps and forces), from which the relax job resumes. ``fmax_ev_per_a`` defaults to the
    plan's ``relax_fmax``. Returns the moved job ids. (First use: c-BN v_B, relaxed on 2x2x2 to
    0.035 eV/A, had 0.209 eV/A on its 4x4x4 spectra mesh.)"""
    campaign = Path(campaign)
    plan = json.loads((campaign / "plan.json").read_text())
    limit = float(plan["settings"]["relax_fmax"] if fmax_ev_per_a is None else fmax_ev_per_a)
    results = campaign / "results"
    moved: list[str] = []
    for sid, meta in sorted(plan["structures"].items()):
        rel_path, gs_path = results / f"relax__{sid}.json", results / f"gs__{sid}.json"
        if not (rel_path.exists() and gs_path.exists()):
            continue
        rel, gs = json.loads(rel_path.read_text()), json.loads(gs_path.read_text())
        if list(rel.get("kpts") or []) == list(meta["kpts"]) or gs.get("fmax_ev_per_a") is None \
                or gs["fmax_ev_per_a"] <= limit:
            continue
        folder = campaign / SUPERSEDED / ("relax-k" + "x".join(map(str, rel["kpts"])))
        partial = results / f"relax__{sid}.partial.json"
        part = json.loads(partial.read_text()) if partial.exists() else {
            "positions": rel["positions"], "steps": rel["steps"], "fmax_history": rel.get("fmax_history", []),
            "scf_ladder_step": rel.get("scf_ladder_step", 0)}
        part["positions"] = rel["positions"]
        part["continued_from"] = {"kpts": rel["kpts"], "steps": rel["steps"],
                                  "fmax_ev_per_a": rel["fmax_ev_per_a"],
                                  "fmax_on_production_mesh_ev_per_a": gs["fmax_ev_per_a"],
                                  "production_kpts": list(meta["kpts"])}
        _move_result(rel_path, folder)
        moved.append(f"relax:{sid}")
        partial.write_text(json.dumps(part, indent=1))
        for job in plan["jobs"]:
            if job["sid"] != sid or job["kind"] == "relax" or job.get("conv"):
                continue
            path = results / (job["id"].replace(":", "__") + ".json")
            if path.exists():
                _move_result(path, folder)
                moved.append(job["id"])
    return moved


def promote_checks(campaign: Path, sid: str, mesh: list[int]) -> list[str]:
    """Make the denser-mesh check results of cell ``sid`` its production results, after the plan's
    mesh for ``sid`` became ``mesh`` (run :func:`supersede_stale_results` first).

    ``gsek<mesh>:<sid>`` becomes ``gse:<sid>`` and ``xask<mesh>:<sid>:<site>`` becomes
    ``xas:<sid>:<site>``: a check job is the production job with another mesh (same cutoffs, same
    ΔKS), so its result is moved, arrays included, under the production id, with the plan's
    production job in ``job`` and the check's id in ``promoted_from``. Only where the production
    result is missing and the check's recorded mesh equals ``mesh`` and the plan's; anything else is
    left alone. Returns the promoted production ids. Raises ``KeyError`` for a ``sid`` not in the plan.
    """
    campaign = Path(campaign)
    plan = json.loads((campaign / "plan.json").read_text())
    wanted = list(plan["structures"][sid]["kpts"])
    tag = "".join(map(str, mesh))
    results = campaign / "results"
    promoted: list[str] = []
    if list(mesh) != wanted:
        return promoted
    for job in plan["jobs"]:
        if job["sid"] != sid or job.get("conv") or job["kind"] not in ("gse", "xas"):
            continue
        head, _, rest = job["id"].partition(":")
        check_id = f"{'gsek' if head == 'gse' else 'xask'}{tag}:{rest}"
        src = results / (check_id.replace(":", "__") + ".json")
        dst = results / (job["id"].replace(":", "__") + ".json")
        if dst.exists() or not src.exists():
            continue
        res = json.loads(src.read_text())
        if list(res.get("kpts") or []) != wanted:
            continue
        res["job"], res["promoted_from"] = job, check_id
        if src.with_suffix(".npz").exists():
            shutil.move(str(src.with_suffix(".npz")), str(dst.with_suffix(".npz")))
        dst.write_text(json.dumps(res, indent=1))
        src.unlink()
        promoted.append(job["id"])
    return promoted


def _move_result(path: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for part in (path, path.with_suffix(".npz")):
        if part.exists():
            shutil.move(str(part), str(folder / part.name))
