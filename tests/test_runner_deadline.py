"""The campaign runner does not start a job that cannot finish before its deadline.

A job killed at the deadline loses all its CPU time (2026-11-30: two spin-polarised monolayer
spectra lost ~1.9 CPU-h that way); a cheaper ready job takes the slot instead. These tests run the
real scheduler with a stand-in worker (a shell script that writes the result file), no GPAW."""

import json
import os
import stat
import time
from pathlib import Path

import pytest

from repository.calculations.runner import fits_before_deadline, job_state, run

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the runner starts jobs with `nice` (POSIX)")


def test_fit_rule():
    est = {"xas:a": 600.0}
    assert fits_before_deadline("xas:a", est, left_s=700.0, min_left_s=45.0)
    assert not fits_before_deadline("xas:a", est, left_s=640.0, min_left_s=45.0)  # no spare
    assert fits_before_deadline("gs:unknown", est, left_s=100.0, min_left_s=45.0)  # cannot know
    assert not fits_before_deadline("gs:unknown", est, left_s=40.0, min_left_s=45.0)


def _campaign(tmp_path: Path, jobs: list[dict]) -> tuple[Path, str]:
    wd = tmp_path / "campaign"
    (wd / "results").mkdir(parents=True)
    (wd / "plan.json").write_text(json.dumps({"jobs": jobs, "structures": {}}))
    # called as `WORKER WORKDIR JOB_ID`: sleeps a little, then writes the job's result JSON
    fake = tmp_path / "fake-python"
    fake.write_text('#!/bin/sh\nsleep 0.3\n'
                    'f="$2/results/$(echo "$3" | sed "s/:/__/g").json"\n'
                    'echo \'{"ok": true}\' > "$f"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return wd, str(fake)


def _job(jid: str, priority: float) -> dict:
    return {"id": jid, "kind": jid.split(":")[0], "sid": "x", "deps": [], "priority": priority}


def test_a_job_that_cannot_finish_is_skipped_and_a_cheaper_one_runs(tmp_path):
    wd, fake = _campaign(tmp_path, [_job("xas:long", 0.0), _job("gs:short", 1.0),
                                    _job("gse:unknown", 2.0)])
    calls = []

    def estimate():
        calls.append(1)
        return {"xas:long": 3600.0, "gs:short": 1.0}

    t0 = time.time()
    state = run(wd, deadline=t0 + 30.0, slots=1, python=fake, min_left_s=2.0, poll_s=0.05,
                estimate=estimate)
    assert sorted(state["done"]) == ["gs:short", "gse:unknown"]
    assert state["pending"] == ["xas:long"]
    assert time.time() - t0 < 20.0, "the runner waited for the deadline instead of stopping"
    log = (wd / "runner.log").read_text()
    assert log.count("skip  xas:long: needs ~60 min") == 1, log
    assert "nothing ready fits before the deadline" in log
    assert "start xas:long" not in log
    assert len(calls) >= 2, "estimates are not refreshed after a job finishes"


def test_without_estimates_the_highest_priority_job_starts(tmp_path):
    wd, fake = _campaign(tmp_path, [_job("xas:long", 0.0)])
    state = run(wd, deadline=time.time() + 30.0, slots=1, python=fake, min_left_s=2.0, poll_s=0.05)
    assert state["done"] == ["xas:long"]


def test_a_failing_estimate_does_not_stop_the_campaign(tmp_path):
    wd, fake = _campaign(tmp_path, [_job("gs:a", 0.0)])

    def broken():
        raise ValueError("corrupt result file")

    state = run(wd, deadline=time.time() + 30.0, slots=1, python=fake, min_left_s=2.0, poll_s=0.05,
                estimate=broken)
    assert state["done"] == ["gs:a"]
    assert "no wall-time estimates (ValueError: corrupt result file)" in (wd / "runner.log").read_text()
    assert job_state(wd)["pending"] == []


def test_until_crosses_midnight_but_refuses_a_time_that_just_passed():
    """``--until 02:05`` given at 23:35 means tomorrow 02:05 (it used to be refused as past);
    ``--until 23:00`` at 23:35 (a typo for a passed time) would mean 23.4 h and is refused."""
    import datetime as dt

    from repository.calculations.__main__ import _deadline

    now = dt.datetime(2026, 11, 30, 23, 35, tzinfo=dt.timezone.utc)
    t = dt.datetime.fromtimestamp(_deadline("02:05", now), dt.timezone.utc)
    assert t == dt.datetime(2026, 12, 1, 2, 5, tzinfo=dt.timezone.utc)
    t = dt.datetime.fromtimestamp(_deadline("23:50", now), dt.timezone.utc)
    assert t == dt.datetime(2026, 11, 30, 23, 50, tzinfo=dt.timezone.utc)
    with pytest.raises(SystemExit, match="23.4 h ahead"):
        _deadline("23:00", now)
    t = dt.datetime.fromtimestamp(_deadline("2026-12-01T23:00", now), dt.timezone.utc)
    assert t == dt.datetime(2026, 12, 1, 23, 0, tzinfo=dt.timezone.utc)
    with pytest.raises(SystemExit, match="in the past"):
        _deadline("2026-11-30T23:00", now)
    with pytest.raises(SystemExit, match="not HH:MM"):
        _deadline("2am", now)


def test_campaign_refuses_to_start_on_a_machine_without_gpaw_or_setups(tmp_path, capsys):
    """A fresh machine has neither GPAW nor the core-hole setups: `campaign` says so, in one line,
    exit code 2, and starts no runner (before, every job failed in turn)."""
    from repository.calculations.__main__ import main

    camp = tmp_path / "camp"
    rc = main(["campaign", "--until", "23:59", "--setups", str(tmp_path / "none"), "--python", "/bin/false",
               "--campaign", str(camp), "--scratch", str(tmp_path / "scratch")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "GPAW is not importable by /bin/false" in err and "B.hch1s.PBE" in err and "setups" in err
    assert not (tmp_path / "scratch" / "runner.pid").exists()
