"""Benchmark and check of the cuML UMAP backend (`embed --backend cuml`) on a CUDA GPU, against
umap-learn on the same synthetic spectra (issue 18). Needs RAPIDS cuML (the `gpu` extra) and a GPU.

    OUT=/tmp .venv/bin/python bench/cuml_check.py            # writes $OUT/cuml_check.json
    DRY=1 OUT=/tmp .venv/bin/python bench/cuml_check.py      # no GPU: the umap-learn half, N=2,000

It checks what the library assumes about cuML (its UMAP parameters at umap-learn's defaults, so the
projection artifacts, a and b from umap-learn's find_ab_params, describe the cuML fit; the numpy
placement of `project` in a cuML fit against cuML's own transform) and measures quality (5-NN
label accuracy, trustworthiness at k = 15, shared 15-NN with the umap-learn layout) and time, at
2*10^4 (both backends), 10^5 and 10^6 spectra (cuML full fits) and a 10^6 fit on a 20,000 sample.
Results and how it was run: docs/benchmarks.md ("cuML UMAP on a GPU")."""
import json, os, sys, time, traceback
import numpy as np
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from repository.analysis import embed as emb
from repository.analysis import project as proj

OUT = os.environ.get("OUT", "/tmp"); DRY = os.environ.get("DRY") == "1"
report = {}
def log(key, value):
    report[key] = value
    print(key, "=", value, flush=True)
    with open(f"{OUT}/cuml_check.json", "w") as fh:
        json.dump(report, fh, indent=1, default=str)

def spectra(n, n_classes=40, n_grid=300, seed=0):
    """Synthetic XANES-like curves: each class a 3-peak template; samples jitter positions by
    0.8 eV, widths by 10 %, heights by 15 %, plus 1 % noise. float32 (n, n_grid), labels (n,)."""
    rng = np.random.default_rng(seed)
    e = np.linspace(185, 215, n_grid, dtype=np.float32)
    cen = rng.uniform(190, 210, (n_classes, 3)); wid = rng.uniform(0.5, 2.5, (n_classes, 3)); amp = rng.uniform(0.2, 1, (n_classes, 3))
    labels = rng.integers(0, n_classes, n)
    x = np.zeros((n, n_grid), np.float32)
    for start in range(0, n, 100_000):
        lab = labels[start:start + 100_000]; m = lab.size
        c = cen[lab] + rng.normal(0, 0.8, (m, 3)); w = wid[lab] * rng.normal(1, 0.1, (m, 3)); a = amp[lab] * rng.normal(1, 0.15, (m, 3))
        y = (a[:, :, None] * np.exp(-0.5 * ((e[None, None, :] - c[:, :, None]) / w[:, :, None]) ** 2)).sum(1)
        y += rng.normal(0, 0.01, y.shape)
        x[start:start + m] = y / y.max(1, keepdims=True)
    return x, labels

def knn_label_accuracy(coords, labels, k=5, n_eval=5000, seed=1):
    from sklearn.neighbors import NearestNeighbors
    rng = np.random.default_rng(seed); idx = rng.choice(len(coords), min(n_eval, len(coords)), replace=False)
    nn = NearestNeighbors(n_neighbors=k + 1).fit(coords); _, ind = nn.kneighbors(coords[idx])
    votes = labels[ind[:, 1:]]
    pred = np.array([np.bincount(v).argmax() for v in votes])
    return float((pred == labels[idx]).mean())

def shared_neighbors(a, b, k=15, n_eval=3000, seed=2):
    from sklearn.neighbors import NearestNeighbors
    rng = np.random.default_rng(seed); idx = rng.choice(len(a), min(n_eval, len(a)), replace=False)
    ia = NearestNeighbors(n_neighbors=k + 1).fit(a).kneighbors(a[idx])[1][:, 1:]
    ib = NearestNeighbors(n_neighbors=k + 1).fit(b).kneighbors(b[idx])[1][:, 1:]
    return float(np.mean([len(set(p) & set(q)) / k for p, q in zip(ia, ib)]))

def trust(x, coords, n=4000, seed=3):
    from sklearn.manifold import trustworthiness
    rng = np.random.default_rng(seed); idx = rng.choice(len(x), min(n, len(x)), replace=False)
    return float(trustworthiness(x[idx], coords[idx], n_neighbors=15))

try:
    if not DRY:
        log("cuml_unavailable", emb.cuml_unavailable())
        if report["cuml_unavailable"]:
            import cuml  # noqa: F401  (the traceback says why)
    params = emb.method_params("umap", {"backend": "umap-learn" if DRY else "cuml"})
    if not DRY:
        log("resolve_backend_auto", emb.resolve_backend("auto"))
        log("versions", emb.library_versions())
        import cupy
        log("gpu", cupy.cuda.runtime.getDeviceProperties(0)["name"].decode())
    n_q = 2000 if DRY else 20000
    x, labels = spectra(n_q)
    ref_params = emb.method_params("umap", {"backend": "umap-learn"})
    t = time.perf_counter(); ref = emb.fit_umap(x, 2, 0, ref_params); log(f"umap-learn fit {n_q} s", round(time.perf_counter() - t, 1))
    log("umap-learn knn5 label acc", knn_label_accuracy(ref.coords, labels)); log("umap-learn trustworthiness", trust(x, ref.coords))
    if not DRY:
        t = time.perf_counter(); gpu = emb.fit_umap(x, 2, 0, params); log(f"cuml fit {n_q} s (incl. first-call set-up)", round(time.perf_counter() - t, 1))
        t = time.perf_counter(); gpu = emb.fit_umap(x, 2, 0, params); log(f"cuml fit {n_q} s (second)", round(time.perf_counter() - t, 1))
        log("cuml info", gpu.info); log("cuml coords finite", bool(np.isfinite(gpu.coords).all()))
        m = gpu.model
        log("cuml model params", {k: getattr(m, k, None) for k in ("a", "b", "spread", "min_dist", "learning_rate", "repulsion_strength",
                                                                  "negative_sample_rate", "local_connectivity", "n_epochs", "init", "random_state")})
        log("artifacts recorded", {k: float(v) for k, v in gpu.artifacts.items()})
        log("umap-learn model params", {k: getattr(ref.model, k, None) for k in ("_a", "_b", "spread", "min_dist", "learning_rate", "repulsion_strength",
                                                                                 "negative_sample_rate", "local_connectivity", "n_epochs")})
        log("cuml knn5 label acc", knn_label_accuracy(gpu.coords, labels)); log("cuml trustworthiness", trust(x, gpu.coords))
        log("shared 15-NN cuml vs umap-learn", shared_neighbors(gpu.coords, ref.coords))
        # numpy placement (what `project` does) of held-out spectra in the cuML fit vs cuML's
        # transform: same generator and seed, so the first 20,000 rows are the fitted ones
        xh, lh = spectra(20300, seed=0); xh, lh = xh[20000:], lh[20000:]
        model = {**gpu.artifacts, "train": x.astype(np.float64), "embedding": gpu.coords}
        placed = np.array([proj.umap_place(v.astype(np.float64), model)[1] for v in xh])
        tr = np.asarray(gpu.model.transform(xh)); tr = tr.get() if hasattr(tr, "get") else tr
        scale = float(np.median(np.linalg.norm(gpu.coords - np.median(gpu.coords, 0), axis=1)))
        d = np.linalg.norm(placed - tr, axis=1)
        log("numpy placement vs cuml transform: median / p90 distance, in units of the map's median radius",
            [round(float(np.median(d)) / scale, 3), round(float(np.quantile(d, 0.9)) / scale, 3)])
        from sklearn.neighbors import KNeighborsClassifier
        clf = KNeighborsClassifier(5).fit(gpu.coords, labels)
        log("held-out label acc: numpy placement / cuml transform", [float((clf.predict(placed) == lh).mean()), float((clf.predict(tr) == lh).mean())])
        del x
        for n in (100_000, 1_000_000):
            xs, ls = spectra(n, seed=5)
            t = time.perf_counter(); f = emb.fit_umap(xs, 2, 0, params); log(f"cuml full fit {n} s", round(time.perf_counter() - t, 1))
            log(f"cuml full fit {n} knn5 label acc", knn_label_accuracy(f.coords, ls))
            if n == 1_000_000:
                rows = np.sort(np.random.default_rng(0).choice(n, 20000, replace=False))
                t = time.perf_counter(); s = emb.fit_umap_sampled(xs, 2, 0, params, rows); log("cuml sampled 20000 + transform 1e6 s", round(time.perf_counter() - t, 1))
                log("sampled info", s.info); log("sampled knn5 label acc", knn_label_accuracy(s.coords, ls))
            del xs, f
    log("status", "ok")
except Exception:
    log("status", "error"); log("traceback", traceback.format_exc()); traceback.print_exc()
