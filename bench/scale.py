"""Benchmark: the scale curve of loading and embedding, 10^4 to 10^6 spectra (2 x 10^6 for PCA).

For each size N a SYNTHETIC B K database (``--points`` points per spectrum, three structure classes,
built with bulk inserts: the importer is not what is measured here) is made once under ``--dir``;
then every step runs in a FRESH process, which reports its wall time and its peak resident memory
(``ru_maxrss``), side by side with the raw library on the same data in the same run (``raw-load`` and
``load`` alternate ``--load-repeats`` times; the best time and the largest peak count):

* ``raw-load``  -- ``SELECT intensity FROM spectrum ORDER BY id`` with the stdlib sqlite3 driver and
  one ``np.frombuffer`` over the joined BLOBs: the baseline for
* ``load``      -- ``repository.analysis.load.load_spectra(engine).matrix`` (ids, content hashes, grid
  check, the float64 matrix);
* ``prep``      -- load + preprocess with the default recipe (float32 matrix), saved as .npy for the
  raw-library steps (not a measured target);
* ``raw-pca`` / ``raw-umap`` -- scikit-learn ``PCA(2).fit_transform`` / ``umap.UMAP().fit_transform``
  on that saved matrix (the library alone, after ``np.load``);
* ``pca`` / ``umap`` / ``umap-sample`` -- ``create_snapshot`` (what ``xasrepo embed`` runs: select,
  load, preprocess, e0, fit, write the Parquet file, the model and the registry rows); ``umap-sample``
  with ``fit_sample=--fit-sample``;
* ``quality`` (at the sizes given by ``--quality-sizes``) -- the sampled fit against the full fit of
  the same spectra: trustworthiness (scikit-learn, k = 15, on a seeded subset of 5,000 points, for
  each map against the preprocessed spectra) and kNN agreement (mean share of each point's 15 nearest
  neighbours in the full map that are also its 15 nearest in the sampled map, all points).

Each step also reports its CPU seconds (user + system, the whole child) and the load average, and
the embed steps their wall and CPU seconds per stage: on a shared machine the wall time measures
the queue as much as the program. Every 10^6-scale step must run under the shared memory lock (the bench takes it itself when
``--lock`` names the lock file). Prints one table and appends JSON lines to ``--out``.

    .venv/bin/python bench/scale.py --dir /work/scratch/issue-18a --sizes 10000,100000,1000000 \\
        --pca-sizes 2000000 --umap-full-max 100000 --quality-sizes 100000 --lock /work/briefs/bigmem.lock
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

GRID_START_EV = 180.0  # covers the default B K window (184-201 eV) with margin: nothing is padded
GRID_STOP_EV = 216.0
STAMP = "2026-01-01 00:00:00.000000"
BUILD_BATCH = 10_000
TRUST_SUBSET = 5000
KNN_K = 15


def _matrix_record(matrix, started: float) -> dict:
    """Seconds since ``started``, shape, MiB and a sampled checksum of a loaded matrix (the raw
    baseline and the library's load report the same fields, so their rows compare)."""
    return {"seconds": time.perf_counter() - started, "shape": list(matrix.shape),
            "matrix_mib": matrix.nbytes / 2**20,
            "checksum": float(matrix[:: max(1, matrix.shape[0] // 1000)].sum())}


def synthetic_batch(energy: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """SYNTHETIC spectra (len(labels), len(energy)): repository.analysis.synthetic's shapes, vectorised."""
    from repository.analysis.synthetic import CLASS_FEATURES, EDGE_EV

    n = labels.size
    y = np.broadcast_to(0.5 + np.arctan((energy - EDGE_EV) / 0.6) / np.pi, (n, energy.size)).copy()
    centres = np.array([CLASS_FEATURES[k % len(CLASS_FEATURES)][0] for k in labels])
    heights = np.array([CLASS_FEATURES[k % len(CLASS_FEATURES)][1] for k in labels])
    jitter = rng.normal(0.0, 0.3, size=centres.shape)
    for j in range(centres.shape[1]):
        c = (EDGE_EV + centres[:, j] + jitter[:, j])[:, None]
        y += (heights[:, j] * (1 + 0.1 * jitter[:, j]))[:, None] * np.exp(-0.5 * ((energy[None, :] - c) / 0.8) ** 2)
    return y + 0.02 * rng.standard_normal(y.shape)


def build(path: Path, n_spectra: int, points: int, seed: int = 0) -> None:
    """A SYNTHETIC B K database of ``n_spectra`` spectra of ``points`` points in three structure classes."""
    from load_matrix import STRUCTURES, insert_structures

    from repository import db
    from repository.arrays import to_blob

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    db.upgrade(str(tmp))
    energy = np.linspace(GRID_START_EV, GRID_STOP_EV, points)
    blob_e = to_blob(energy)
    rng = np.random.default_rng(seed)
    con = sqlite3.connect(tmp)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA journal_mode=OFF")
    insert_structures(con)
    for start in range(0, n_spectra, BUILD_BATCH):
        labels = np.arange(start, min(start + BUILD_BATCH, n_spectra)) % len(STRUCTURES)
        block = synthetic_batch(energy, labels, rng).astype("<f8")
        rows = []
        for label, row in zip(labels.tolist(), block):
            blob_i = row.tobytes()
            rows.append((hashlib.sha256(blob_i).hexdigest(), label + 1, points, float(energy[0]), float(energy[-1]),
                         blob_e, blob_i, f"synthetic-class-{label}", STAMP))
        con.executemany(
            "INSERT INTO spectrum (content_hash, origin, structure_id, absorbing_element, edge, spectrum_type, "
            "polarization, n_points, energy_min_ev, energy_max_ev, energy_ev, intensity, sample_name, "
            "metadata_json, imported_at) VALUES (?, 'computed', ?, 'B', 'K', 'XANES', 'iso', ?, ?, ?, ?, ?, ?, "
            "'{\"synthetic\": true}', ?)", rows)
    con.commit()
    con.close()
    tmp.rename(path)


def ensure(directory: Path, n: int, points: int) -> Path:
    path = directory / f"scale-{n}-{points}.db"
    if not path.exists():
        started = time.perf_counter()
        print(f"building {path} ({n} SYNTHETIC spectra of {points} points) ...", file=sys.stderr, flush=True)
        build(path, n, points)
        print(f"  built in {time.perf_counter() - started:.0f} s, {path.stat().st_size / 1e9:.2f} GB",
              file=sys.stderr, flush=True)
    return path


# ----------------------------------------------------------------------------------------------
# one step, in this (fresh) process


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def run_step(step: str, db_path: Path, work: Path, fit_sample: int) -> dict:
    import warnings

    warnings.simplefilter("ignore")
    out: dict = {}
    base = _peak_mib()  # interpreter + numpy
    if step == "raw-load":
        started = time.perf_counter()
        con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        blobs = [r[0] for r in con.execute("SELECT intensity FROM spectrum ORDER BY id")]
        con.close()
        matrix = np.frombuffer(b"".join(blobs), dtype="<f8").reshape(len(blobs), -1)
        out.update(_matrix_record(matrix, started))
    elif step == "load":
        from repository import db
        from repository.analysis.load import load_spectra

        engine = db.connect(str(db_path), read_only=True)
        base = _peak_mib()
        started = time.perf_counter()
        matrix = load_spectra(engine, with_shifts=False).matrix
        out.update(_matrix_record(matrix, started))
    elif step == "prep":
        from repository import db
        from repository.analysis import recipe as rec
        from repository.analysis.load import load_spectra, prepare

        engine = db.connect(str(db_path), read_only=True)
        started = time.perf_counter()
        recipe = rec.Recipe()
        prepared = prepare(load_spectra(engine, with_shifts=False), recipe, dtype=rec.matrix_dtype(recipe))
        out["seconds"] = time.perf_counter() - started
        np.save(work / f"{db_path.stem}.prep.npy", prepared.matrix)
        out["shape"] = list(prepared.matrix.shape)
        out["matrix_mib"] = prepared.matrix.nbytes / 2**20
    elif step in ("raw-pca", "raw-umap"):
        matrix = np.load(work / f"{db_path.stem}.prep.npy")
        base = _peak_mib()
        started = time.perf_counter()  # imports (and numba compilation) count, as in the embed steps
        if step == "raw-pca":
            from sklearn.decomposition import PCA

            PCA(n_components=2).fit_transform(matrix)
        else:
            import umap

            umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=0).fit_transform(matrix)
        out["seconds"] = time.perf_counter() - started
        out["matrix_mib"] = matrix.nbytes / 2**20
    elif step in ("pca", "umap", "umap-sample"):
        from repository import db
        from repository.analysis.create import create_snapshot

        engine = db.connect(str(db_path))
        base = _peak_mib()
        params = {"fit_sample": fit_sample} if step == "umap-sample" else None
        stages: list[tuple[str, float, float]] = []
        peaks: dict[str, float] = {}  # the peak RSS reached by the end of each stage (MiB)

        def progress(message: str) -> None:
            if stages:
                peaks[stages[-1][0].split(" ")[0]] = round(_peak_mib())
            stages.append((message, time.perf_counter() - started, time.process_time() - cpu_started))

        started, cpu_started = time.perf_counter(), time.process_time()
        result = create_snapshot(engine, method=step.split("-")[0], params=params, force=True,
                                 directory=work / f"{db_path.stem}-snapshots", progress=progress)
        peaks["writing"] = round(_peak_mib())
        out["peak_by_stage_mib"] = peaks
        out["seconds"] = time.perf_counter() - started
        out["cpu_seconds"] = time.process_time() - cpu_started
        out["fit_seconds"] = result.fit_seconds
        out["uid"] = result.record["uid"]
        out["model_path"] = result.record["model_path"]
        out["info"] = result.info
        # the time between one progress message and the next, per stage (placing chunks summed)
        named: dict[str, float] = {}
        named_cpu: dict[str, float] = {}
        marks = stages + [("end", out["seconds"], out["cpu_seconds"])]
        for (message, at, cpu_at), (_next, until, cpu_until) in zip(marks, marks[1:]):
            key = "placing" if message.startswith("placing") else message.split(" ")[0]
            named[key] = named.get(key, 0.0) + until - at
            named_cpu[key] = named_cpu.get(key, 0.0) + cpu_until - cpu_at
        out["stages"] = {k: round(v, 1) for k, v in named.items()}
        out["stages_cpu"] = {k: round(v, 1) for k, v in named_cpu.items()}
    elif step == "quality":
        out.update(quality(db_path, work))
    out["peak_mib"] = _peak_mib()
    out["base_mib"] = base
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["process_cpu_seconds"] = usage.ru_utime + usage.ru_stime  # the whole child, imports included
    out["load_average"] = os.getloadavg()
    return out


def quality(db_path: Path, work: Path) -> dict:
    """Sampled vs full UMAP of the same spectra (the latest ``umap`` and ``umap-sample`` models)."""
    from sklearn.manifold import trustworthiness
    from sklearn.neighbors import NearestNeighbors

    runs = [json.loads(line) for line in (work / "scale.jsonl").read_text().splitlines() if line.strip()]
    mine = [r for r in runs if r.get("db") == db_path.name]
    full = next(r for r in reversed(mine) if r["step"] == "umap")
    sampled = next(r for r in reversed(mine) if r["step"] == "umap-sample")
    a = np.load(full["model_path"])
    b = np.load(sampled["model_path"])
    x, ea, eb = a["train"], a["embedding"], b["embedding"]
    assert np.array_equal(a["ids"], b["ids"])
    subset = np.sort(np.random.default_rng(0).choice(x.shape[0], min(TRUST_SUBSET, x.shape[0]), replace=False))
    out = {"trust_full": float(trustworthiness(x[subset], ea[subset], n_neighbors=KNN_K)),
           "trust_sampled": float(trustworthiness(x[subset], eb[subset], n_neighbors=KNN_K))}
    fitted = b["umap_fitted_rows"]
    placed = np.setdiff1d(np.arange(x.shape[0]), fitted)
    sub_placed = np.sort(np.random.default_rng(1).choice(placed, min(TRUST_SUBSET, placed.size), replace=False))
    out["trust_sampled_placed_only"] = float(trustworthiness(x[sub_placed], eb[sub_placed], n_neighbors=KNN_K))
    out["trust_full_same_points"] = float(trustworthiness(x[sub_placed], ea[sub_placed], n_neighbors=KNN_K))
    na = NearestNeighbors(n_neighbors=KNN_K + 1).fit(ea).kneighbors(ea, return_distance=False)[:, 1:]
    nb = NearestNeighbors(n_neighbors=KNN_K + 1).fit(eb).kneighbors(eb, return_distance=False)[:, 1:]
    shared = np.array([np.intersect1d(p, q).size for p, q in zip(na, nb)]) / KNN_K
    out["knn_agreement"] = float(shared.mean())
    out["knn_agreement_placed"] = float(shared[placed].mean())
    # class agreement: the structure class of each point's 15 map neighbours (3 SYNTHETIC classes)
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as con:
        classes = np.array([r[0] for r in con.execute("SELECT structure_id FROM spectrum ORDER BY id")])
    out["class_knn_full"] = float((classes[na] == classes[:, None]).mean())
    out["class_knn_sampled"] = float((classes[nb] == classes[:, None]).mean())
    return out


# ----------------------------------------------------------------------------------------------
# the driver


def child(step: str, db_path: Path, work: Path, fit_sample: int, lock: str | None) -> dict:
    command = [sys.executable, __file__, "--child", step, "--db", str(db_path), "--dir", str(work),
               "--fit-sample", str(fit_sample)]
    if lock:
        command = ["flock", lock, *command]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"step {step} on {db_path.name} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update({"step": step, "db": db_path.name})
    with open(work / "scale.jsonl", "a") as log:
        log.write(json.dumps(result) + "\n")
    print(f"  {db_path.name:<28}{step:<12}{result.get('seconds', 0):>9.1f} s {result['peak_mib']:>9.0f} MiB",
          file=sys.stderr, flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "xasrepo-bench")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--pca-sizes", default="", help="further sizes for load and PCA only (e.g. 2000000)")
    parser.add_argument("--umap-full-max", type=int, default=100_000, help="full UMAP fits up to this size")
    parser.add_argument("--umap-sample-min", type=int, default=100_000, help="sampled UMAP fits from this size")
    parser.add_argument("--quality-sizes", default="100000")
    parser.add_argument("--fit-sample", type=int, default=20_000)
    parser.add_argument("--points", type=int, default=300)
    parser.add_argument("--lock", default=None, help="flock file taken around every step of 10^6 spectra or more")
    parser.add_argument("--load-repeats", type=int, default=2, help="raw-load and load alternate this many times")
    parser.add_argument("--steps", default=None, help="run only these steps (comma-separated), e.g. load,raw-load")
    parser.add_argument("--keep", action="store_true", help="keep the databases (default: delete them at the end)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--report", action="store_true", help="only print the table of every step in --dir/scale.jsonl")
    args = parser.parse_args()
    work = args.dir
    work.mkdir(parents=True, exist_ok=True)
    if args.report:
        results: dict[tuple[int, str], dict] = {}
        for line in (work / "scale.jsonl").read_text().splitlines():
            r = json.loads(line)
            n = int(r["db"].split("-")[1])
            earlier = results.get((n, r["step"]))
            if earlier is not None:
                r["seconds"] = min(r.get("seconds", 0), earlier.get("seconds", 0))
                r["peak_mib"] = max(r["peak_mib"], earlier["peak_mib"])
            results[(n, r["step"])] = r
        report(results, args)
        return
    if args.child:
        print(json.dumps(run_step(args.child, args.db, work, args.fit_sample), default=str))
        return

    sizes = [int(s) for s in args.sizes.split(",") if s]
    pca_only = [int(s) for s in args.pca_sizes.split(",") if s]
    quality_sizes = {int(s) for s in args.quality_sizes.split(",") if s}
    results: dict[tuple[int, str], dict] = {}
    for n in sizes + pca_only:
        lock = args.lock if n >= 1_000_000 else None
        path = ensure(work, n, args.points)
        steps = ["raw-load", "load"] * args.load_repeats + ["prep", "raw-pca", "pca"]
        if n not in pca_only:
            if n <= args.umap_full_max:
                steps += ["raw-umap", "umap"]
            if n >= args.umap_sample_min and n > args.fit_sample:
                steps += ["umap-sample"]
            if n in quality_sizes and n <= args.umap_full_max:
                steps += ["quality"]
        if args.steps:
            steps = [step for step in steps if step in args.steps.split(",")]
        for step in steps:
            result = child(step, path, work, args.fit_sample, lock)
            earlier = results.get((n, step))
            if earlier is not None:  # repeated (alternating) steps: the best time, the largest peak
                result["seconds"] = min(result["seconds"], earlier["seconds"])
                result["peak_mib"] = max(result["peak_mib"], earlier["peak_mib"])
            results[(n, step)] = result
        if not args.keep:
            (work / f"{path.stem}.prep.npy").unlink(missing_ok=True)
            path.unlink()
    report(results, args)


def report(results: dict, args) -> None:
    print(f"# scale curve: SYNTHETIC B K spectra of {args.points} points, fit sample {args.fit_sample}")
    print("| N | step | seconds | CPU s | load | peak MiB | vs raw (time) | vs raw (memory) | notes |")
    print("|---|---|---|---|---|---|---|---|---|")
    pairs = {"load": "raw-load", "pca": "raw-pca", "umap": "raw-umap", "umap-sample": "raw-umap"}
    for (n, step), r in sorted(results.items()):
        if step == "quality":
            continue
        raw = results.get((n, pairs.get(step, "")))
        ratio_t = f"{r['seconds'] / raw['seconds']:.2f}x" if raw else ""
        ratio_m = f"{r['peak_mib'] / raw['peak_mib']:.2f}x" if raw else ""
        note = ""
        if "matrix_mib" in r:
            note = f"matrix {r['matrix_mib']:.0f} MiB"
        if step in ("pca", "umap", "umap-sample"):
            float64_mib = n * args.points * 8 / 2**20
            note = (f"peak {r['peak_mib'] / float64_mib:.2f}x the float64 matrix ({float64_mib:.0f} MiB); "
                    f"stages {r['stages']}" + (f"; CPU by stage {r['stages_cpu']}" if "stages_cpu" in r else ""))
        cpu = f"{r['process_cpu_seconds']:.1f}" if "process_cpu_seconds" in r else ""
        load = f"{r['load_average'][0]:.1f}" if "load_average" in r else ""
        print(f"| {n:,} | {step} | {r['seconds']:.1f} | {cpu} | {load} | {r['peak_mib']:.0f} | {ratio_t} | {ratio_m} "
              f"| {note} |")
    for (n, step), r in sorted(results.items()):
        if step == "quality":
            print(f"quality at {n:,}: " + ", ".join(f"{k} {v:.4f}" for k, v in r.items()
                                                   if isinstance(v, float) and not k.endswith("mib")))


if __name__ == "__main__":
    main()
