"""Peak memory (RSS) and time of `xasrepo import` for large valid and hostile inputs (issue 17).

    .venv/bin/python bench/import_memory.py --sizes 10 100            # MB; 1000 under the bigmem lock:
    flock /work/briefs/bigmem.lock .venv/bin/python bench/import_memory.py --sizes 1000

Each case writes one input of about the given size under --scratch, then runs `xasrepo import` in
a fresh child process into a fresh SQLite database and reads the child's peak resident set size
from the kernel (``os.wait4`` -> ``ru_maxrss``, the same number as ``/usr/bin/time -v``'s "Maximum
resident set size"). Valid inputs larger than the default limits are imported with the limits
raised by environment variable (the table says which); hostile inputs run with the defaults.

Cases:
  columns      one two-column spectrum (XASREPO_MAX_POINTS and XASREPO_MAX_FILE_MB raised)
  athena-gz    a gzip Perl Athena project of 2,000-point groups: SIZE is the decompressed size
  json-list    a pymatgen XAS JSON list of 1,000-point computed spectra
  nul          SIZE of NUL bytes given as a data file (hostile)
  gzip-bomb    gzip of SIZE x 10 zero bytes as an Athena project (hostile; ~1000:1)
  too-big      a valid column file over the default 256 MB file limit (hostile when > 256 MB)
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
XASREPO = Path(sys.executable).with_name("xasrepo")
CU_K_EV = 8979.0
MB = 1_000_000


def _spectrum(points: int, offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    energy = np.linspace(CU_K_EV - 100, CU_K_EV + 900, points)
    mu = 0.5 + 0.5 * np.tanh((energy - CU_K_EV) / 3.0) + offset
    return energy, mu


def write_columns(path: Path, size: int) -> dict:
    points = max(10, size // 25)  # "%.6f %.8f\n" is ~25 bytes a row
    energy = np.linspace(CU_K_EV - 100, CU_K_EV + 100_000, points)
    mu = 0.5 + 0.5 * np.tanh((energy - CU_K_EV) / 3.0)
    with open(path, "w") as handle:
        handle.write("# energy mu\n")
        np.savetxt(handle, np.column_stack([energy, mu]), fmt=["%.6f", "%.8f"])
    return {"points": points, "env": {"XASREPO_MAX_POINTS": str(points + 1),
                                      "XASREPO_MAX_FILE_MB": str(max(256, size // MB + 10))},
            "args": ["--element", "Cu", "--edge", "K"]}


def write_athena(path: Path, size: int) -> dict:
    energy, _ = _spectrum(2000)
    xs = ",".join(f"'{e:.4f}'" for e in energy)
    head = "# Athena project file -- Demeter version 0.9.26\n# bench\n\n"
    written, groups = len(head), 0
    with gzip.open(path, "wt", compresslevel=6) as handle:
        handle.write(head)
        while written < size:
            _, mu = _spectrum(2000, offset=groups * 1e-6)
            ys = ",".join(f"'{m:.8f}'" for m in mu)
            block = (f"$old_group = 'g{groups}';\n@args = ('label','g{groups}','bkg_z','Cu','fft_edge','K',"
                     f"'datatype','xmu');\n@x = ({xs});\n@y = ({ys});\n[record]\n")
            handle.write(block)
            written += len(block)
            groups += 1
    env = {"XASREPO_MAX_DECOMPRESSED_MB": str(max(256, size // MB + 10))}
    return {"groups": groups, "env": env, "args": []}


def write_json_list(path: Path, size: int) -> dict:
    energy, _ = _spectrum(1000)
    written = 2
    with open(path, "w") as handle:
        handle.write("[")
        number = 0
        while written < size:
            _, mu = _spectrum(1000, offset=number * 1e-6)
            doc = json.dumps({"x": energy.tolist(), "y": mu.tolist(), "absorbing_element": "Cu", "edge": "K",
                              "spectrum_type": "XANES"})
            handle.write(("," if number else "") + doc)
            written += len(doc) + 1
            number += 1
        handle.write("]")
    return {"spectra": number, "env": {"XASREPO_MAX_FILE_MB": str(max(256, size // MB + 10))}, "args": []}


def write_nul(path: Path, size: int) -> dict:
    with open(path, "wb") as handle:
        for _ in range(size // MB):
            handle.write(b"\0" * MB)
    return {"env": {}, "args": ["--element", "Cu", "--edge", "K"]}


def write_bomb(path: Path, size: int) -> dict:
    with gzip.open(path, "wb", compresslevel=9) as handle:
        handle.write(b"# Athena project file -- Demeter version 0.9.26\n")
        for _ in range(10 * size // MB):
            handle.write(b"\0" * MB)
    return {"expands_mb": 10 * size // MB, "env": {}, "args": []}


def write_too_big(path: Path, size: int) -> dict:
    info = write_columns(path, size)
    return {"points": info["points"], "env": {}, "args": info["args"]}


CASES = {"columns": (write_columns, ".dat", "valid"), "athena-gz": (write_athena, ".prj", "valid"),
         "json-list": (write_json_list, ".json", "valid"), "nul": (write_nul, ".dat", "hostile"),
         "gzip-bomb": (write_bomb, ".prj", "hostile"), "too-big": (write_too_big, ".dat", "hostile")}


def run_measured(path: Path, db: Path, env_extra: dict, args: list[str], timeout: float) -> dict:
    """Run the import in a child and read its own peak RSS with os.wait4 (not the sum of children)."""
    env = {**os.environ, **env_extra}
    subprocess.run([str(XASREPO), "init", "--db", str(db)], check=True, capture_output=True, env=env)
    err_path = db.with_suffix(".stderr")
    out_path = db.with_suffix(".stdout")
    started = time.perf_counter()
    with open(err_path, "wb") as err, open(out_path, "wb") as out:
        child = subprocess.Popen([str(XASREPO), "import", str(path), *args, "--db", str(db)], env=env,
                                 stdout=out, stderr=err)
        deadline = started + timeout
        while True:  # wait4 gives this child's own rusage (peak RSS), not the sum over children
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                child.kill()
            time.sleep(0.05)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    stderr = err_path.read_bytes()
    return {"rc": child.returncode, "wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1000,  # ru_maxrss: kB on Linux
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "stderr_bytes": len(stderr), "stderr": stderr.decode(errors="replace")[-240:].strip(),
            "stdout": out_path.read_bytes().decode(errors="replace")[-160:].strip()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[10, 100], help="input sizes in MB")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--scratch", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "xasrepo-bench-mem")
    parser.add_argument("--timeout", type=float, default=1800)
    options = parser.parse_args()
    options.scratch.mkdir(parents=True, exist_ok=True)
    print("| case | kind | input MB | what | limits raised | exit | wall s | CPU s | peak RSS MB | RSS / input | stderr bytes |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for size_mb in options.sizes:
        size = int(size_mb * MB)
        for name in options.cases:
            writer, suffix, kind = CASES[name]
            if name == "too-big" and size <= 256 * MB:
                continue
            work = options.scratch / f"{name}-{size_mb:g}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            path = work / f"input{suffix}"
            info = writer(path, size)
            actual = path.stat().st_size
            env, args = info.pop("env"), info.pop("args")
            result = run_measured(path, work / "bench.db", env, args, options.timeout)
            raised = ", ".join(f"{k}={v}" for k, v in env.items()) or "defaults"
            what = ", ".join(f"{k} {v:,}" for k, v in info.items())
            line = (result["stderr"] or result["stdout"]).splitlines()[-1:]
            print(f"| {name} | {kind} | {actual / MB:,.1f} | {what} | {raised} | {result['rc']} | "
                  f"{result['wall_s']:.1f} | {result['cpu_s']:.1f} | {result['peak_rss_mb']:,.0f} | "
                  f"{result['peak_rss_mb'] / max(actual / MB, 1e-9):.1f} | {result['stderr_bytes']:,} |", flush=True)
            print(f"<!-- {name} {size_mb:g} MB: {line} -->", flush=True)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
