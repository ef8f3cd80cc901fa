"""``python -m repository.calculations COMMAND`` (see docs/bn-calculations.md).

v2 campaign (committed state in calculations/bn-v2, assembled set in data/bn-v2):
plan-v2   write the deterministic v2 plan + structures into --campaign (venv: needs pymatgen)
campaign  run the v2 queue (resumes from the committed results); after every finished job
          ``commit`` runs; ``--background`` detaches; ``--until HH:MM`` (UTC) deadline
commit    Bader charges for new ground states, assemble data/bn-v2, git-commit results + set
progress  done/total jobs and CPU hours of the v2 campaign, per round and kind
mesh-rms  REF OTHER [OTHER...]: the k-mesh criterion (RMS of max-normalised spectra, best shift)
          between committed results of the v2 campaign; ``--fwhm0 0.5,1.5`` near-edge FWHMs
distances the same criterion between each polymorph's pristine spectra and its variants and the
          other polymorphs (Markdown table; docs/bn-calculations.md "How far apart")

v1 (the Γ-point set in data/bn):

setups    make the B/N half- and full-core-hole PAW setups (gpaw-setup) in --setups
plan      build structures + job list in WORKDIR (venv: needs pymatgen)
run       resumable scheduler; ``--background`` detaches it; ``--until HH:MM`` (UTC) deadline
assemble  write ``data/bn`` (calcset.toml + files) from the finished results (venv)
status    counts of done / pending / failed jobs
docs      refill the generated tables of docs/bn-calculations.md (timings, contents, cell size)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WORKDIR = ROOT / ".gpaw-work" / "bn"
DEFAULT_SETUPS = ROOT / ".gpaw-work" / "setups"
DEFAULT_OUT = ROOT / "data" / "bn"
CAMPAIGN = ROOT / "calculations" / "bn-v2"
CAMPAIGN_OUT = ROOT / "data" / "bn-v2"
CAMPAIGN_SCRATCH = ROOT / ".gpaw-work" / "bn-v2"


#: A bare ``HH:MM`` deadline is the next such time, but only if that is at most this far
#: ahead; a later one is more likely a typo for a time that just passed than a plan, so it
#: is refused (give the date then: ``2026-12-01T02:05``).
MAX_BARE_DEADLINE_AHEAD_H = 18.0


def _deadline(text: str, now: dt.datetime | None = None) -> float:
    """UTC deadline from ``--until``: ``HH:MM`` (the next such time, crossing midnight) or
    an ISO date-time ``YYYY-MM-DDTHH:MM`` (UTC).

    Returns the POSIX timestamp. Raises SystemExit (one line) for a malformed value, a time
    in the past, or a bare ``HH:MM`` more than MAX_BARE_DEADLINE_AHEAD_H hours ahead.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    if "T" in text or "-" in text:
        try:
            t = dt.datetime.fromisoformat(text)
        except ValueError:
            raise SystemExit(f"--until {text!r}: not HH:MM or YYYY-MM-DDTHH:MM (UTC)") from None
        t = t.replace(tzinfo=dt.timezone.utc) if t.tzinfo is None else t
        if t <= now:
            raise SystemExit(f"deadline {text} UTC is in the past")
        return t.timestamp()
    try:
        h, m = (int(x) for x in text.split(":"))
        t = now.replace(hour=h, minute=m, second=0, microsecond=0)
    except ValueError:
        raise SystemExit(f"--until {text!r}: not HH:MM or YYYY-MM-DDTHH:MM (UTC)") from None
    if t <= now:
        t += dt.timedelta(days=1)
    ahead_h = (t - now).total_seconds() / 3600.0
    if ahead_h > MAX_BARE_DEADLINE_AHEAD_H:
        raise SystemExit(f"deadline {text} UTC would be {ahead_h:.1f} h ahead (tomorrow); "
                         f"if that is meant, give it as {t:%Y-%m-%dT%H:%M}")
    return t.timestamp()


CORE_HOLE_SETUPS = tuple(f"{el}.{name}.PBE" for el in ("B", "N") for name in ("hch1s", "fch1s"))


def preflight(python: str, setups: Path) -> list[str]:
    """What a machine lacks to run GPAW jobs (empty when nothing): GPAW importable by ``python``
    (Debian: ``apt-get install gpaw gpaw-data``) and the core-hole setups in ``setups`` (the
    ``setups`` command). A fresh machine has neither; without this every job would fail in turn."""
    problems = []
    try:
        ok = subprocess.run([python, "-c", "import gpaw"], capture_output=True, timeout=120).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    if not ok:
        problems.append(f"GPAW is not importable by {python} (apt-get install gpaw gpaw-data)")
    lacking = [n for n in CORE_HOLE_SETUPS if not (setups / n).exists()]
    if lacking:
        problems.append(f"{setups} lacks the core-hole setups {', '.join(lacking)} "
                        "(python -m repository.calculations setups)")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m repository.calculations", description=__doc__)
    ap.add_argument("command", choices=["setups", "plan", "run", "assemble", "status", "docs",
                                        "plan-v2", "campaign", "commit", "progress", "mesh-rms",
                                        "distances"])
    ap.add_argument("jobs", nargs="*", help="mesh-rms: job ids (results in --campaign/results, or FOLDER/JOB for another folder of --campaign), reference first")
    ap.add_argument("--fwhm0", default=None, help="mesh-rms: comma-separated near-edge FWHMs, eV (default: the set's)")
    ap.add_argument("--campaign", default=str(CAMPAIGN))
    ap.add_argument("--campaign-out", default=str(CAMPAIGN_OUT))
    ap.add_argument("--scratch", default=str(CAMPAIGN_SCRATCH))
    ap.add_argument("--no-git", action="store_true", help="commit: assemble only")
    ap.add_argument("--workdir", default=str(DEFAULT_WORKDIR))
    ap.add_argument("--setups", default=str(DEFAULT_SETUPS))
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--until", default=None, help="run, campaign: UTC deadline, HH:MM (next such time) or YYYY-MM-DDTHH:MM")
    ap.add_argument("--slots", type=int, default=2)
    ap.add_argument("--background", action="store_true")
    ap.add_argument("--python", default="/usr/bin/python3", help="interpreter with GPAW")
    a = ap.parse_args(argv)
    wd = Path(a.workdir)
    if a.command == "setups":
        d = Path(a.setups)
        d.mkdir(parents=True, exist_ok=True)
        for el in ("B", "N"):
            for name, hole in (("hch1s", "0.5"), ("fch1s", "1")):
                if not (d / f"{el}.{name}.PBE").exists():
                    subprocess.run(["gpaw-setup", el, "-f", "PBE", "--name", name,
                                    f"--core-hole=1s,{hole}"], cwd=d, check=True)
        print(f"setups in {d}: " + ", ".join(sorted(x.name for x in d.iterdir())))
        from .runner import BADER_PYTHON

        if not BADER_PYTHON.exists():      # baderkit's own environment (pins an older pymatgen)
            venv = BADER_PYTHON.parents[1]
            subprocess.run(["python3.11", "-m", "venv", str(venv)], check=True)
            subprocess.run([str(BADER_PYTHON), "-m", "pip", "install", "-q", "baderkit==0.10.2"],
                           check=True)
        print(f"Bader environment: {BADER_PYTHON}")
    elif a.command == "mesh-rms":
        from .report import mesh_rms

        if len(a.jobs) < 2:
            raise SystemExit("mesh-rms needs a reference job id and at least one other")
        fwhms = [float(x) for x in a.fwhm0.split(",")] if a.fwhm0 else [None]
        for fwhm in fwhms:
            for other in a.jobs[1:]:
                rms, shift = mesh_rms(a.campaign, a.jobs[0], other, fwhm)
                print(f"{a.jobs[0]} vs {other}: near-edge FWHM {fwhm or 'as the set'} eV: "
                      f"RMS {rms:.3f}, shift {shift:+.2f} eV")
    elif a.command == "distances":
        from .report import distances_table, spectral_distances

        print(distances_table(spectral_distances(a.campaign)))
    elif a.command == "plan-v2":
        from .plan_v2 import build_plan_v2

        plan = build_plan_v2(Path(a.campaign))
        print(f"{len(plan['structures'])} structures, {len(plan['jobs'])} jobs -> {a.campaign}")
    elif a.command == "commit":
        from .campaign import commit_campaign

        print(commit_campaign(Path(a.campaign), Path(a.campaign_out), Path(a.scratch),
                              Path(a.setups), git=not a.no_git))
    elif a.command == "progress":
        from .campaign import progress

        print(progress(Path(a.campaign)))
    elif a.command == "campaign":
        if not a.until:
            raise SystemExit("campaign needs --until HH:MM (UTC)")
        missing = preflight(a.python, Path(a.setups))
        if missing:   # a fresh machine: say what to install before any job fails on it
            print("campaign cannot start: " + "; ".join(missing), file=sys.stderr)
            return 2
        deadline = _deadline(a.until)
        on_result = [sys.executable, "-m", "repository.calculations", "commit",
                     "--campaign", a.campaign, "--campaign-out", a.campaign_out,
                     "--scratch", a.scratch, "--setups", a.setups]
        scratch = Path(a.scratch)
        scratch.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "repository.calculations.runner", a.campaign,
               "--deadline", str(deadline), "--slots", str(a.slots), "--python", a.python,
               "--setups", a.setups, "--on-result", json.dumps(on_result), "--scratch", a.scratch,
               "--fit-deadline"]
        if a.background:
            p = subprocess.Popen(cmd, cwd=str(ROOT), start_new_session=True,
                                 stdout=open(scratch / "runner.out", "a"), stderr=subprocess.STDOUT,
                                 env=dict(os.environ, PYTHONPATH=str(ROOT)))
            (scratch / "runner.pid").write_text(str(p.pid))
            print(f"runner pid {p.pid}; log {scratch / 'runner.log'}; deadline "
                  f"{dt.datetime.fromtimestamp(deadline, dt.timezone.utc):%Y-%m-%d %H:%M} UTC")
        else:
            return subprocess.call(cmd, cwd=str(ROOT), env=dict(os.environ, PYTHONPATH=str(ROOT)))
    elif a.command == "plan":
        from .bn_cells import build_plan

        plan = build_plan(wd)
        print(f"{len(plan['structures'])} structures, {len(plan['jobs'])} jobs -> {wd}")
    elif a.command == "assemble":
        from .assemble import assemble

        n = assemble(wd, Path(a.out))
        print(f"{n} entries -> {a.out}")
    elif a.command == "docs":
        from .report import fill_generated_sections, generated_sections

        doc = ROOT / "docs" / "bn-calculations.md"
        doc.write_text(fill_generated_sections(doc.read_text(), generated_sections(wd, Path(a.out))))
        print(f"refilled the generated sections of {doc}")
    elif a.command == "status":
        from .runner import job_state

        st = job_state(wd)
        kinds = {}
        for jid in st["done"]:
            k = jid.split(":")[0]
            kinds[k] = kinds.get(k, 0) + 1
        print(json.dumps({"done": len(st["done"]), "done_by_kind": kinds,
                          "pending": len(st["pending"]), "failed": st["failed"]}, indent=1))
    elif a.command == "run":
        if not a.until:
            raise SystemExit("run needs --until HH:MM (UTC)")
        deadline = _deadline(a.until)
        on_result = [sys.executable, "-m", "repository.calculations", "assemble",
                     "--workdir", str(wd), "--out", a.out]
        if a.background:
            cmd = [sys.executable, "-m", "repository.calculations.runner", str(wd),
                   "--deadline", str(deadline), "--slots", str(a.slots), "--python", a.python,
                   "--setups", a.setups, "--on-result", json.dumps(on_result)]
            wd.mkdir(parents=True, exist_ok=True)
            p = subprocess.Popen(cmd, cwd=str(ROOT), start_new_session=True,
                                 stdout=open(wd / "runner.out", "a"), stderr=subprocess.STDOUT,
                                 env=dict(os.environ, PYTHONPATH=str(ROOT)))
            (wd / "runner.pid").write_text(str(p.pid))
            print(f"runner pid {p.pid}; log {wd / 'runner.log'}")
        else:
            from .runner import run

            run(wd, deadline, a.slots, a.python, a.setups, on_result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
