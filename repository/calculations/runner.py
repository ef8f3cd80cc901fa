"""Resumable background scheduler for the BN XAS plan (standard library only).

* reads ``WORKDIR/plan.json`` afresh on every pass (the plan may be extended while it runs);
* a job is *done* when its result JSON exists (the worker writes it atomically at the very end),
  so a restart skips finished jobs and re-runs interrupted ones;
* ``slots`` jobs side by side (default 2), each ``nice -n 19`` with ``OMP_NUM_THREADS=1``, and
  each job's scheduler autogroup (Linux) set to that nice too (:func:`set_autogroup_nice`);
* lowest ``priority`` first among jobs whose ``deps`` are done; a job that fails is retried once,
  then skipped (``WORKDIR/failures.json``);
* hard wall-clock deadline: no job starts when less than ``min_left_s`` is left, nor (given an
  ``estimate`` of each job's wall time) a job that would not finish before it: a cheaper ready job
  takes the slot instead (:func:`fits_before_deadline`); running jobs are killed at the deadline
  (they leave no result and simply run again next time);
* after every finished job an optional ``on_result`` command runs (the assembler), so the bundled
  calculation set always reflects everything finished so far.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

WORKER = Path(__file__).with_name("gpaw_worker.py")
ROOT = Path(__file__).resolve().parents[2]
# baderkit pins an older pymatgen than the project: its own environment (see bader.py)
BADER_PYTHON = ROOT / ".venv-bader" / "bin" / "python"


def job_command(workdir: Path, scratch: Path, job: dict, python: str,
                setups: str | None) -> list[str] | None:
    """Command line of one job; ``None`` when the job cannot run on this machine (a ``bader``
    job without ``.venv-bader``; it then simply waits, it does not fail)."""
    if job["kind"] == "bader":
        if not BADER_PYTHON.exists():
            return None
        tag = "gs__" + job["sid"]
        return [str(BADER_PYTHON), "-m", "repository.calculations.bader",
                str(scratch / "logs" / f"{tag}.aedens.npz"), str(result_path(workdir, job["id"]))]
    cmd = [python, str(WORKER), str(workdir), job["id"]]
    if setups:
        cmd += ["--setups", str(setups)]
    return cmd


def result_path(workdir: Path, job_id: str) -> Path:
    return Path(workdir) / "results" / (job_id.replace(":", "__") + ".json")


def job_state(workdir: Path, scratch: Path | None = None) -> dict:
    """``{'done': [...], 'failed': {...}, 'pending': [...]}`` for the current plan."""
    workdir = Path(workdir)
    plan = json.loads((workdir / "plan.json").read_text())
    fails = _read_json(Path(scratch or workdir) / "failures.json", {})
    done, pending = [], []
    for j in plan["jobs"]:
        (done if result_path(workdir, j["id"]).exists() else pending).append(j["id"])
    return {"done": done, "failed": fails, "pending": pending}


def _read_json(p: Path, default):
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return default


def _write_json(p: Path, obj) -> None:
    tmp = p.with_name(p.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, p)


def set_autogroup_nice(pid: int, nice: int) -> bool:
    """Give the scheduler autogroup of process ``pid`` the nice value ``nice``; True when it was set.

    Why: with ``kernel.sched_autogroup_enabled = 1`` (the default of most Linux kernels) CPU time is
    shared between autogroups (one per session) first, and a process's own nice value only counts
    inside its group. A ``nice -n 19`` job started in its own session (as the runner starts them)
    then still takes half of a busy machine: measured on 2026-11-30, a CPU-bound foreground loop got
    64 % of a core beside two niced GPAW jobs, and 99 % once their groups were niced too. Writing
    ``/proc/PID/autogroup`` (see sched(7), "The autogroup feature") fixes that. Returns False,
    without raising, where the file is absent (no autogroups, not Linux) or cannot be written.
    """
    try:
        Path(f"/proc/{pid}/autogroup").write_text(str(nice))
    except OSError:
        return False
    return True


def queue_order(job: dict) -> tuple:
    """Sort key of ready jobs: lowest ``priority`` first, relaxations first within a priority
    (they unblock the most), then by id (deterministic)."""
    return (job["priority"], job["kind"] != "relax", job["id"])


def fits_before_deadline(job_id: str, estimates: dict[str, float], left_s: float,
                         min_left_s: float) -> bool:
    """Whether a job may start with ``left_s`` seconds to the deadline: at least ``min_left_s``
    must be left, and a job with an estimated wall time (``estimates[job_id]``, seconds) must
    finish with ``min_left_s`` to spare. A job without an estimate may start (it cannot be known;
    a killed job loses its CPU time, see :func:`run`)."""
    if left_s <= min_left_s:
        return False
    est = estimates.get(job_id)
    return est is None or est + min_left_s <= left_s


def run(workdir: str | Path, deadline: float, slots: int = 2, python: str = "/usr/bin/python3",
        setups: str | None = None, on_result: list[str] | None = None, nice: int = 19,
        min_left_s: float = 45.0, max_tries: int = 2, poll_s: float = 2.0,
        only: list[str] | None = None, scratch: str | Path | None = None,
        estimate: Callable[[], dict[str, float]] | None = None) -> dict:
    """Run pending jobs until none is left or ``deadline`` (epoch seconds) is reached.

    ``workdir`` holds ``plan.json``, ``structures/`` and ``results/`` (a job is done when its
    result JSON exists there: for the v2 campaign that folder is committed, so a fresh machine
    resumes from what is in git).  ``scratch`` (default ``workdir``) receives ``runner.log``,
    ``failures.json`` and ``logs/`` (GPAW text output), which need not survive.

    ``estimate`` (optional) returns ``{job id: expected wall seconds}`` for the pending jobs; it
    is called again whenever a job has finished. A job whose estimate does not fit before the
    deadline is not started (logged once as ``skip``), so a deadline does not kill hours of work
    that could not have finished; lower-priority jobs that fit take its slot. The run stops when
    nothing runs and nothing that is ready fits. Returns :func:`job_state`."""
    workdir = Path(workdir).resolve()
    scratch = Path(scratch).resolve() if scratch else workdir
    (scratch / "logs").mkdir(parents=True, exist_ok=True)
    running: dict[str, tuple[subprocess.Popen, float]] = {}
    log = open(scratch / "runner.log", "a", buffering=1)

    def say(msg):
        log.write(time.strftime("%H:%M:%S ", time.gmtime()) + msg + "\n")

    say(f"start: slots={slots} deadline={time.strftime('%H:%M:%S', time.gmtime(deadline))} UTC")
    if not set_autogroup_nice(os.getpid(), nice):  # the assembler runs in the runner's own group
        say("note: no scheduler autogroup niced (no writable /proc/PID/autogroup); nice values alone apply")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               XASREPO_GPAW_SCRATCH=str(scratch / "logs"))
    if setups:
        env["GPAW_CORE_HOLE_SETUPS"] = str(setups)
    finished = 0
    estimates: dict[str, float] = {}
    estimated_at = -1          # number of finished jobs when ``estimates`` was computed
    skipped: set[str] = set()
    try:
        while True:
            now = time.time()
            # reap
            for jid, (proc, t0) in list(running.items()):
                rc = proc.poll()
                if rc is None:
                    continue
                del running[jid]
                if result_path(workdir, jid).exists():
                    finished += 1
                    say(f"done  {jid} ({now - t0:.0f} s)")
                    if on_result:
                        subprocess.run(["nice", "-n", str(nice)] + on_result, cwd=os.getcwd(),
                                       stdout=log, stderr=log)
                else:
                    fails = _read_json(scratch / "failures.json", {})
                    fails[jid] = fails.get(jid, 0) + 1
                    _write_json(scratch / "failures.json", fails)
                    say(f"FAIL  {jid} rc={rc} try {fails[jid]}")
            if now >= deadline:
                break
            plan = _read_json(workdir / "plan.json", None)
            if plan is None:
                time.sleep(poll_s)
                continue
            fails = _read_json(scratch / "failures.json", {})
            done = {j["id"] for j in plan["jobs"] if result_path(workdir, j["id"]).exists()}
            # a relaxation that failed for good does not block its structure: the later jobs
            # then use the unrelaxed cell (the assembler records "relaxation: none")
            satisfied = done | {j["id"] for j in plan["jobs"]
                                if j["kind"] == "relax" and fails.get(j["id"], 0) >= max_tries}
            ready = [j for j in plan["jobs"]
                     if j["id"] not in done and j["id"] not in running
                     and fails.get(j["id"], 0) < max_tries
                     and all(d in satisfied for d in j["deps"])
                     and (only is None or any(j["id"].startswith(o) for o in only))]
            ready.sort(key=queue_order)
            blocked = [j for j in plan["jobs"] if j["id"] not in done and j["id"] not in running
                       and fails.get(j["id"], 0) < max_tries]
            if not running and not ready:
                say(f"nothing runnable ({len(blocked)} blocked/failed)")
                break
            ready = [j for j in ready if job_command(workdir, scratch, j, python, setups)]
            if not running and not ready:
                say("nothing runnable on this machine")
                break
            if estimate is not None and estimated_at != len(done):
                try:
                    estimates, estimated_at = estimate(), len(done)
                except Exception as e:  # noqa: BLE001 - a broken estimate must not stop the campaign
                    say(f"note: no wall-time estimates ({type(e).__name__}: {e}); jobs start as before")
                    estimates, estimate = {}, None
            left = deadline - time.time()
            fitting = []
            for j in ready:
                if fits_before_deadline(j["id"], estimates, left, min_left_s):
                    fitting.append(j)
                elif left > min_left_s and j["id"] not in skipped:
                    skipped.add(j["id"])
                    say(f"skip  {j['id']}: needs ~{estimates[j['id']] / 60:.0f} min, "
                        f"{left / 60:.0f} min left before the deadline")
            if not running and not fitting:
                say(f"nothing ready fits before the deadline ({len(ready)} ready)")
                break
            ready = fitting
            while ready and len(running) < slots and deadline - time.time() > min_left_s:
                j = ready.pop(0)
                tag = j["id"].replace(":", "__")
                out = open(scratch / "logs" / f"{tag}.out", "a")
                cmd = ["nice", "-n", str(nice)] + job_command(workdir, scratch, j, python, setups)
                proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True, cwd=str(ROOT))
                set_autogroup_nice(proc.pid, nice)  # its own session is its own autogroup
                running[j["id"]] = (proc, time.time())
                say(f"start {j['id']} (prio {j['priority']}, pid {proc.pid})")
            time.sleep(poll_s)
    finally:
        for jid, (proc, _) in running.items():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            say(f"killed {jid} at deadline/exit")
        for jid, (proc, _) in running.items():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if running and on_result:
            subprocess.run(["nice", "-n", str(nice)] + on_result, stdout=log, stderr=log)
        say(f"stop: {finished} jobs finished in this run")
        log.close()
    return job_state(workdir, scratch)


def _exit_on_sigterm(signum, _frame):
    raise SystemExit(128 + signum)


def main(argv=None) -> int:  # pragma: no cover - thin CLI
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("workdir")
    ap.add_argument("--deadline", type=float, required=True, help="epoch seconds")
    ap.add_argument("--slots", type=int, default=2)
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--setups", default=None)
    ap.add_argument("--on-result", default=None, help="JSON list: command run after each job")
    ap.add_argument("--scratch", default=None, help="folder for logs (default: workdir)")
    ap.add_argument("--fit-deadline", action="store_true",
                    help="start only jobs whose estimated wall time (v2 campaign timings) fits")
    a = ap.parse_args(argv)
    estimate = None
    if a.fit_deadline:
        from repository.calculations.campaign import estimate_wall_s

        def estimate():
            return estimate_wall_s(Path(a.workdir), Path(a.scratch or a.workdir))
    # `kill RUNNER_PID` must stop the jobs too: they run in their own sessions (start_new_session),
    # and Python's default SIGTERM ends the process without running run()'s `finally`, which left
    # two orphaned GPAW jobs on 2026-11-30. SystemExit unwinds through it.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    run(a.workdir, a.deadline, a.slots, a.python, a.setups,
        json.loads(a.on_result) if a.on_result else None, scratch=a.scratch, estimate=estimate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
