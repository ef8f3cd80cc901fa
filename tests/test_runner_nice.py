"""The campaign runner's jobs really run in the background: their scheduler autogroup is niced."""

import subprocess
import sys
from pathlib import Path

import pytest

from repository.calculations.runner import set_autogroup_nice

AUTOGROUPS = Path("/proc/self/autogroup").exists()


@pytest.mark.skipif(not AUTOGROUPS, reason="this kernel has no scheduler autogroups (/proc/self/autogroup)")
def test_a_job_in_its_own_session_gets_its_autogroup_niced():
    # a job started as the runner starts it: its own session, hence (Linux) its own autogroup at nice 0
    mine = Path("/proc/self/autogroup").read_text()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    try:
        before = Path(f"/proc/{proc.pid}/autogroup").read_text()
        assert before.split()[-1] == "0", before
        assert set_autogroup_nice(proc.pid, 19)
        after = Path(f"/proc/{proc.pid}/autogroup").read_text()
        assert after.split()[-1] == "19", after
        # this process's group is a different one and keeps its nice
        assert Path("/proc/self/autogroup").read_text() == mine
    finally:
        proc.kill()
        proc.wait()


def test_a_missing_process_is_reported_not_raised():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # reaped: its /proc entry is gone
    assert set_autogroup_nice(proc.pid, 19) is False
