"""Writing the comparison as a Markdown report with PNG figures (and the numbers as JSON).

:func:`write_report` writes into one directory: ``README.md`` (tables, verdicts, definitions,
the command that regenerates it), ``results.json`` (every number in the tables) and per element
and edge three figures: the embeddings coloured by each label, the embeddings coloured by each
electronic-structure descriptor, and the kNN accuracies as bars.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..conventions import utc_now
from . import dos_features as dosf
from . import grouped as gr
from . import metrics as m
from . import probes as pr
from .run import (
    IDENTIFY_K,
    MIN_CORRELATION_N,
    REFERENCE,
    EdgeComparison,
    Stat,
    verdicts,
)

MAX_DESCRIPTOR_PANELS = 7
KEY_DESCRIPTORS = ("sigma_charge_transfer", "hirshfeld_charge", "pi_fraction", "p_pi_weight", "p_sigma_weight",
                   "p_onset_ev", "p_centroid_ev")
_METHOD_NAMES = {"umap": "UMAP", "pca": "PCA", "mds": "MDS", REFERENCE: "raw spectra"}


def slug(result: EdgeComparison) -> str:
    return f"{result.element}_{result.edge}".lower().replace(",", "")


def _name(method: str) -> str:
    return _METHOD_NAMES.get(method, method)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(str(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _stat(d: dict, *keys) -> Stat:
    for key in keys:
        d = d.get(key, {}) if isinstance(d, dict) else {}
    return d if isinstance(d, Stat) else Stat(None, None, 0)


def _plot_descriptors(result: EdgeComparison) -> list[str]:
    ordered = [d for d in KEY_DESCRIPTORS if d in result.descriptors]
    ordered += [d for d in result.descriptors if d not in ordered]
    return ordered[:MAX_DESCRIPTOR_PANELS]


# ----------------------------------------------------------------------------------------------
# figures


def _grid(n_rows: int, n_cols: int):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.2 * n_cols + 0.4, 3.0 * n_rows + 0.3), squeeze=False)
    return fig, axes


def plot_labels(result: EdgeComparison, path: Path) -> Path | None:
    """Embeddings (rows: methods, seed 0) coloured by each label with more than one class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [lb for lb, values in result.labels.items() if len(set(values.tolist())) > 1]
    methods = [meth for meth in result.methods if meth in result.coords]
    if not labels or not methods:
        return None
    fig, axes = _grid(len(methods), len(labels))
    cmap = plt.get_cmap("tab10" if max(len(set(result.labels[lb].tolist())) for lb in labels) <= 10 else "tab20")
    for j, label in enumerate(labels):
        values = result.labels[label]
        classes = sorted(set(values.tolist()))
        for i, meth in enumerate(methods):
            ax = axes[i][j]
            xy = result.coords[meth]
            for c_index, cls in enumerate(classes):
                sel = values == cls
                ax.scatter(xy[sel, 0], xy[sel, 1], s=22, color=cmap(c_index % cmap.N), label=f"{cls} ({sel.sum()})",
                           edgecolors="black", linewidths=0.3)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(label, fontsize=10)
            if j == 0:
                ax.set_ylabel(_name(meth), fontsize=10)
        axes[-1][j].legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.03), ncol=2, frameon=False)
    fig.suptitle(f"{result.name}: embeddings coloured by label ({result.n_spectra} spectra, seed {result.seeds[0]})",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_descriptors(result: EdgeComparison, path: Path) -> Path | None:
    """Embeddings (rows: methods) coloured by each electronic-structure descriptor (grey: missing)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = _plot_descriptors(result)
    methods = [meth for meth in result.methods if meth in result.coords]
    if not names or not methods:
        return None
    fig, axes = _grid(len(methods), len(names))
    for j, name in enumerate(names):
        v = result.descriptors[name]
        ok = np.isfinite(v)
        for i, meth in enumerate(methods):
            ax = axes[i][j]
            xy = result.coords[meth]
            ax.scatter(xy[~ok, 0], xy[~ok, 1], s=14, color="lightgrey")
            sc = ax.scatter(xy[ok, 0], xy[ok, 1], s=22, c=v[ok], cmap="viridis", edgecolors="black", linewidths=0.3)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                unit = dosf.FEATURE_UNITS.get(name, "")
                ax.set_title(f"{name}" + (f"\n({unit})" if unit else ""), fontsize=9)
            if j == 0:
                ax.set_ylabel(_name(meth), fontsize=10)
            fig.colorbar(sc, ax=ax, fraction=0.046, pad=0.02)
    fig.suptitle(f"{result.name}: embeddings coloured by electronic-structure descriptors", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_knn(result: EdgeComparison, path: Path) -> Path | None:
    """kNN accuracy per label and method (mean +- sd over seeds), chance level as a dash."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = result.scored_labels()
    if not labels:
        return None
    series = [REFERENCE, *result.methods]
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(1.6 * len(labels) + 2.5, 3.6))
    for s_index, meth in enumerate(series):
        means = [(_stat(result.knn, meth, lb).mean or 0.0) for lb in labels]
        sds = [(_stat(result.knn, meth, lb).sd or 0.0) for lb in labels]
        xs = np.arange(len(labels)) + (s_index - (len(series) - 1) / 2) * width
        ax.bar(xs, means, width, yerr=sds, capsize=2, label=_name(meth),
               color="lightgrey" if meth == REFERENCE else None, edgecolor="black", linewidth=0.4)
    for j, lb in enumerate(labels):
        chance = result.knn_reference[lb].chance
        ax.hlines(chance, j - 0.45, j + 0.45, colors="red", linestyles="dashed", linewidth=1)
    ax.set_xticks(np.arange(len(labels)), labels)
    ax.set_ylim(0, 1.18)
    ax.set_ylabel(f"{m.CV_FOLDS}-fold kNN accuracy (k={m.KNN_K})")
    ax.set_title(f"{result.name}: kNN accuracy (red dashes: majority-class rate)", fontsize=10)
    ax.legend(fontsize=8, ncol=len(series), loc="upper center", frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------------------------
# Markdown


DEFINITIONS = f"""\
### What is measured

* **Preprocessing** is the analysis layer's recipe (`repository.analysis.recipe`), the same for
  every method: interpolation onto one energy grid over the range every selected spectrum covers,
  then normalisation to the maximum (unless `--recipe` says otherwise). Spectra of different
  absorbing elements or edges are never embedded together.
* **Embeddings**: UMAP (umap-learn; `n_neighbors` capped at N - 1), PCA (full SVD),
  metric MDS (SMACOF initialised by classical MDS), all in 2 dimensions, through
  `repository.analysis.embed.fit_embedding`. UMAP is fitted once per seed; PCA is deterministic and
  fitted once; MDS is fitted per seed (its classical-MDS start makes it deterministic in practice).
  Numbers are mean ± sample standard deviation over seeds.
* **Trustworthiness** (scikit-learn, Venna & Kaski): 1 when the k nearest neighbours of every
  spectrum in the embedding are also among its nearest neighbours in the preprocessed spectra;
  k = {m.TRUSTWORTHINESS_K}, lowered to below N/2 for small sets (the k used is given).
* **kNN accuracy**: stratified {m.CV_FOLDS}-fold cross-validation of a {m.KNN_K}-nearest-neighbour
  classifier (Euclidean) predicting the label from the 2-D coordinates; the same folds for every
  method. Classes with fewer than two spectra are left out; folds are reduced to the smallest
  class size when a class is smaller than {m.CV_FOLDS}, and k to the number of training spectra of the
  smallest class (so that a small class can win its vote; the smallest k used is given). The embedding is
  fitted on all spectra (as in the paper), so this measures how well the map separates the labels,
  not prediction for unseen spectra (that is *identification*, below). **Raw spectra** is the same
  classifier on the full preprocessed spectra: the reference the 2-D maps are compared with.
  **Chance** is the majority-class rate.
* **Labels** come from the database (`spectrum_overview`): `crystal_system` and `dimensionality`
  (Larsen) are those of the computed cell, so a defect supercell carries the symmetry the defect
  leaves (e.g. trigonal for a substitution in h-BN), and `polymorph` is the host's name.
* **Silhouette** (scikit-learn, Euclidean) of each labelling, in [-1, 1]; higher means tighter,
  better separated classes.
* **Spearman correlations** with each descriptor: *max |rho| over axes* is the largest absolute
  rank correlation of the descriptor with either embedding coordinate (meaningful for PCA, whose
  axes are ordered; UMAP and MDS axes are arbitrary up to rotation); *neighbourhood rho* is the rank
  correlation between each spectrum's descriptor value and the mean value over its k nearest
  neighbours in the embedding, k = min({m.KNN_K}, (N - 1) // 3) for N spectra with values (averaging over
  nearly all others would anti-correlate by construction). It is orientation-free: high when spectra
  with similar descriptor values lie together. On raw spectra it uses the neighbours in the preprocessed spectra.
* **Identification**: for each seed, about 20 % of the spectra are held out at random (never the
  last training spectrum of a polymorph or of a defect kind), the method is fitted on the rest, the
  held-out spectra are placed into that map by `repository.analysis.project.place` (UMAP: umap's
  transform, reimplemented; PCA: exact; MDS: distance-weighted mean of the nearest training
  spectra), and the label of the nearest training spectrum (k = 1) or the majority of the 3 nearest
  (k = 3) is compared with the truth.

### Descriptors

* `sigma_charge_transfer` (e): occupied p_sigma on the absorber minus the same element in the
  pristine host (the calculation set's definition); `hirshfeld_charge` (e): Hirshfeld charge of the
  absorber. Other descriptors stored for the absorber site are listed under their stored names.
* From the absorber's projected DOS (`repository/compare/dos_features.py`; energies relative to the
  Fermi level E_F stored with the DOS):
  `p_onset_ev`: the first empty p state, where the p DOS above E_F first reaches
  {dosf.ONSET_FRACTION:g} of its maximum in (E_F, E_F + {dosf.UNOCCUPIED_WINDOW_EV:g} eV];
  `p_pi_weight`, `p_sigma_weight` (states): the p_pi (p_z) and p_sigma (p_x + p_y) DOS integrated from
  E_F to {dosf.EDGE_WINDOW_EV:g} eV above that onset; `pi_fraction` = p_pi / (p_pi + p_sigma) of those weights;
  `p_centroid_ev`: centre of mass of the empty p DOS in (E_F, E_F + {dosf.UNOCCUPIED_WINDOW_EV:g} eV], relative to the onset.
  A DOS stored as total p only (sp3 cells) counts as all sigma, the calculation set's convention.
"""

ELEMENT_EDGE_NOTE = """\
The **absorbing element / edge** label is not scored: the analysis layer refuses to embed spectra
of different edges together (B K near 190 eV and N K near 400 eV share no energy range, and any
alignment that made them overlap would be a choice of this report, not of the data), so every
embedding holds one element and edge and the label has one class. Within one edge it is constant.
"""


def _knn_rows(result: EdgeComparison) -> list[list[str]]:
    rows = []
    for label, ref in result.knn_reference.items():
        if ref.accuracy is None:
            rows.append([label, f"{ref.n_used}", "–", *(["n/a"] * (1 + len(result.methods))), ref.reason or ""])
            continue
        cells = [_stat(result.knn, meth, label).text() for meth in [REFERENCE, *result.methods]]
        setup = f"{ref.n_classes} classes, {ref.folds} folds, k={ref.k}"
        if ref.dropped:
            setup += "; left out: " + ", ".join(f"{c} ({n})" for c, n in ref.dropped.items())
        rows.append([label, f"{ref.n_used}", f"{ref.chance:.2f}", *cells, setup])
    return rows


def edge_section(result: EdgeComparison, figures: dict[str, Path | None]) -> list[str]:
    lines = [f"## {result.name} ({result.n_spectra} spectra)", ""]
    if result.window_padding:  # padding invents plateaus: say how much of it every table below rests on
        lines += [f"**Window padding** (absolute recipe): {result.window_padding}.", ""]
    if not result.methods:
        return lines + [f"Not compared: {'; '.join(result.notes) or 'too few spectra'}.", ""]
    series = [REFERENCE, *result.methods]
    grouped_lines = grouped_section(result)
    if grouped_lines:
        lines += grouped_lines
        lines += ["### Transductive (secondary; the paper's protocol)", "",
                  ("The numbers from here on fit each map on **all** spectra and cross-validate kNN over "
                   "**spectra**: sister sites of one supercell (same relaxation, same onset reference, same "
                   "defect) fall on both sides of a split, so they measure how well sister sites find each "
                   "other, not whether a spectrum tells its structure. Labels here are the computed cell's "
                   "(`crystal_system` of a defect supercell is its own, not the host's)."), ""]
    lines += ["### Verdict (transductive)" if result.grouped else "### Verdict", ""]
    said = verdicts(result)
    lines += [f"* {v}" for v in said] or ["* No label has two classes with two or more spectra: nothing to score yet."]
    lines += [""]
    lines += ["### Setup", ""]
    if result.recipe:
        recipe = result.recipe
        lines.append(f"* recipe: window {recipe['energy_min_ev']:g} .. {recipe['energy_max_ev']:g} eV, step "
                     f"{recipe['step_ev']:g} eV, alignment {recipe['alignment']}, normalisation "
                     f"{recipe['normalization']}, broadening {recipe['broadening_fwhm_ev'] or 0:g} eV")
    for meth, values in result.params.items():
        shown = ", ".join(f"{k} {v}" for k, v in values.items()) or "defaults"
        lines.append(f"* {_name(meth)}: {shown}")
    lines += ["", "### Spectra per class", ""]
    for label, counts in result.class_counts.items():
        lines.append(f"* **{label}**: " + ", ".join(f"{c} {n}" for c, n in counts.items()))
    lines += [""]
    lines += [f"### Trustworthiness (k = {result.trust_k})", ""]
    lines += _table([_name(meth) for meth in result.methods],
                    [[_stat(result.trustworthiness, meth).text(3) for meth in result.methods]])
    lines += [f"### kNN accuracy ({m.CV_FOLDS}-fold CV, k = {m.KNN_K})", ""]
    lines += _table(["label", "N", "chance", *[_name(s) for s in series], "setup"], _knn_rows(result))
    lines += ["### Silhouette score", ""]
    lines += _table(["label", *[_name(s) for s in series]],
                    [[label, *[_stat(result.silhouette, s, label).text() for s in series]]
                     for label in result.scored_labels()])
    if figures.get("knn"):
        lines += [f"![kNN accuracy]({figures['knn'].name})", ""]
    if figures.get("labels"):
        lines += [f"![embeddings coloured by label]({figures['labels'].name})", ""]
    lines += ["### Electronic structure: Spearman correlations", ""]
    if result.descriptors:
        header = ["descriptor", "N", "raw: neighbourhood rho"]
        for meth in result.methods:
            header += [f"{_name(meth)}: neighbourhood rho", f"{_name(meth)}: max abs rho over axes"]
        rows = []
        for name in result.descriptors:
            row = [name, result.descriptor_counts.get(name, 0), _stat(result.neighborhood_rho, REFERENCE, name).text()]
            for meth in result.methods:
                row += [_stat(result.neighborhood_rho, meth, name).text(), _stat(result.axis_rho, meth, name).text()]
            rows.append(row)
        lines += _table(header, rows)
    else:
        lines += [(f"No descriptor has values for {MIN_CORRELATION_N} or more of these spectra (and more than one "
                   "distinct value) yet."), ""]
    if figures.get("descriptors"):
        lines += [f"![embeddings coloured by descriptor]({figures['descriptors'].name})", ""]
    lines += ["### Identification of held-out spectra", ""]
    if result.identification:
        lines += [(f"{result.n_test} of {result.n_spectra} spectra held out per seed; fraction of held-out spectra "
                   "whose nearest training spectra carry the right label."), ""]
        header = ["label", *[f"{_name(s)} k={k}" for s in series for k in IDENTIFY_K]]
        labels = next(iter(result.identification.values())).keys()
        rows = [[label, *[_stat(result.identification, s, label, k).text() for s in series for k in IDENTIFY_K]]
                for label in labels]
        lines += _table(header, rows)
    else:
        lines += ["Not run: " + ("; ".join(n for n in result.notes if "identification" in n)
                                 or "not requested (`--identify`); the grouped protocol above holds out whole "
                                    "structures instead of random spectra"), ""]
    other = [n for n in result.notes if "identification" not in n]
    if other:
        lines += ["Notes: " + "; ".join(other), ""]
    return lines


VOTERS = (f"absorbers within {gr.NEAR_DEFECT_A:g} Å of their defect and the sites of defect-free cells "
          "(`compare.grouped.label_rows`)")
PROBES_INTRO = f"""\
Spectra from outside the compared set (`--probe FILE`; an experiment, or a spectrum computed with
another code), each read with the format readers, preprocessed with the recipe of its element and
edge, and aligned in energy as `xasrepo project --align fit` aligns (edge onset onto the onset of
the best-matching compared spectrum, then the shift within ±{pr.FIT_SEARCH_EV:g} eV that best matches a compared
spectrum without moving the probe's maximum or edge out of the window; the applied shift is given.
When that best match lies at an end of the admissible range, the probe is placed at its onset
alignment and marked "{pr.NO_CONFIDENT_SHIFT}"). Each is then placed into every method's map fitted on all
spectra of its edge, for every seed, with the placement the held-out identification uses, and its
{pr.PROBE_K} nearest computed spectra in the map are taken. Per label: the class most of those
{pr.PROBE_K} carry (majority vote, ties to the nearest; over seeds, the most frequent majority, with
"(n of N seeds)" when it changes between seeds, "tied" when another class is as frequent and the
nearest decides) and the share of the {pr.PROBE_K} carrying it, mean ± sd over seeds. **Raw spectra** is the ceiling: the {pr.PROBE_K} nearest in the preprocessed
spectra themselves. `defect_kind` and `defect_name` are voted only by {VOTERS}, as the grouped
test scores them: the {pr.PROBE_K} nearest of those (a site 3-5 Å from a vacancy does not see it). A class
named with the probe (`--probe 'FILE:polymorph=c-BN'`) is checked against each majority.
"""


def probes_section(results: Sequence[EdgeComparison]) -> list[str]:
    """``## External spectra (probes)``: identification rates of labelled probes against the trivial
    baseline, then per probe the reading, the shift and the votes per label and method."""
    found = [(r, p) for r in results for p in r.probes]
    if not found:
        return []
    lines = ["## External spectra (probes)", "", PROBES_INTRO]
    rates = pr.identification_rates(results)
    if rates:
        series = list(dict.fromkeys(s for row in rates for s in row["rates"]))
        lines += ["### Identification rate of labelled probes", "",
                  (f"Share of probes whose majority class (of the {pr.PROBE_K} nearest, per seed, averaged over "
                   "seeds) is the expected one. **Baseline**: the share of these probes that always answering the "
                   "commonest class would get right, the class counted over the compared spectra that vote on the "
                   f"label (for `defect_kind`/`defect_name` {VOTERS}; else all); **random neighbour**: the share "
                   "of those spectra carrying the probe's expected class (averaged over the probes), what one "
                   "neighbour drawn at random would match. A share at or below either is no better than guessing. "
                   "With a handful of probes these are counts, not rates: n is given."), ""]
        lines += _table(["edge", "label", "n probes", "baseline: always the commonest class", "random neighbour",
                         *[_name(s) for s in series]],
                        [[row["edge"], row["label"], row["n_probes"],
                          f"{row['baseline']:.2f} (always {row['majority_class']})", f"{row['random_neighbor']:.2f}",
                          *[f"{row['rates'][s]:.2f}" if s in row["rates"] else "n/a" for s in series]]
                         for row in rates])
    for result, probe in found:
        series = [s for s in [REFERENCE, *result.methods] if s in probe.votes]
        info = probe.probe
        lines += [f"### {probe.title} ({info.element} {info.edge})", ""]
        lines += [f"* file: `{info.spec.path}`",
                  (f"* energy shift applied (fit alignment): {info.energy_shift_ev:+.3f} eV"
                   if info.alignment_note is None else
                   f"* energy shift applied (onset alignment; {pr.NO_CONFIDENT_SHIFT}: {info.alignment_note}): "
                   f"{info.energy_shift_ev:+.3f} eV"),
                  (f"* RMS difference to the spectrally nearest compared spectrum (preprocessed): "
                   f"{info.nearest_rmsd:.4f}")]
        if info.spec.expected:
            lines.append("* expected: " + ", ".join(f"{k} = {v}" for k, v in info.spec.expected.items()))
        lines += ["", f"**Reading.** {pr.reading(probe, series)}", ""]
        header = ["label", *[_name(s) for s in series]]
        rows = []
        labels = list(next(iter(probe.votes.values())).keys()) if probe.votes else []
        for label in labels:
            among = " voting (near a defect or defect-free)" if label in result.probe_voters else ""
            rows.append([f"{label}: majority of {probe.k} nearest{among}",
                         *[pr.vote_text(probe.votes[s][label]) for s in series]])
        for label, value in info.spec.expected.items():
            if label not in labels:
                continue
            cells = []
            for s in series:
                v = probe.votes[s][label]
                said = "yes" if v.matching_seeds == v.n_seeds else ("no" if not v.matching_seeds else
                                                                    f"{v.matching_seeds} of {v.n_seeds} seeds")
                cells.append(f"{said} ({v.expected_share.text()} of the {probe.k} are {value})")
            rows.append([f"majority is the expected {label} {value}", *cells])
        primary = probe.primary_label()
        if primary:
            rows.append([f"{primary} of the {probe.k} nearest, all seeds",
                         *[", ".join(f"{c} {n}" for c, n in probe.votes[s][primary].counts.items()) for s in series]])
        lines += _table(header, rows)
    return lines


GROUPED_INTRO = f"""\
**Protocol** (`repository/compare/grouped.py`): grouped folds ({{folds}}); every method is
fitted on the training structures only (UMAP once per seed; PCA and MDS, deterministic, once) and the held-out
spectra are placed with the method's own projection (UMAP: umap's transform reimplemented in
numpy; PCA: its linear map; SMACOF MDS: the new point's stress minimised against the fixed
training map, started from the inverse-distance mean of its nearest training spectra). Each
held-out spectrum gets the majority label of its k = {m.KNN_K} nearest training spectra in the 2-D
map (k lowered to the smallest training class; ties to the nearest); **raw spectra** is the same
classifier on the preprocessed spectra. Cells: accuracy (mean over seeds) and its bootstrap 95 %
interval over structures ({gr.BOOTSTRAP} resamples of whole structures); **p** is against chance:
the share of label permutations over structures ({gr.PERMUTATIONS} shuffles of which scored
structure carries which class; the fitted maps are reused, they never see labels) that score at
least as well, each permuted score first raised to the majority rate (kNN on shuffled labels scores
below it, and guessing the commonest class needs no spectra), so a cell at or below the majority
rate has p = 1. **majority**: always guessing the commonest scored class; **stratified**: guessing
classes at their frequencies (sum of squared shares). A cell is marked **✓** when its interval lies
above the majority rate and p < 0.05.

**Labels**: `host_polymorph`, `host_crystal_system` and `host_dimensionality` (2 = layered sp2
host, 3 = sp3 framework) are the host structure's (schema revision 0006; a defect supercell's own
`crystal_system` is spglib's for the supercell, e.g. trigonal for C_B in h-BN, and is not scored
here). `defect_kind`/`defect_name` are scored on absorbers within {gr.NEAR_DEFECT_A:g} Å of the defect
(first and second neighbour shells: h-BN 1.45/2.50 Å, c-BN 1.57/2.56 Å) and on every site of cells
without a defect (class `none`); farther sites of defect cells are left out (not trained on, not
tested; they stay in the fitted map). A class carried by fewer than {gr.MIN_STRUCTURES} structures is
not scored (its spectra stay in the map) and is named under each table.
"""


def _grouped_cell(score: Any) -> str:
    if score is None or score.accuracy is None:
        return "n/a"
    text = score.text()
    if score.p_value is not None:
        text += f" p={score.p_value:.3f}"
    return text + (" ✓" if score.beats_chance() else "")


def grouped_rows(result: EdgeComparison, g: Any) -> list[list[str]]:
    """Rows of the grouped table of one edge and recipe: label, N, chance levels, one cell per series."""
    series = [gr.REFERENCE, *[s for s in result.methods if s in g.scores]]
    rows = []
    for label, lab in g.labels.items():
        if not lab.scorable:
            continue
        first = g.scores[gr.REFERENCE][label]
        rows.append([label, f"{first.n_scored} / {first.n_structures}", f"{first.majority:.2f}",
                     f"{first.stratified:.2f}", *[_grouped_cell(g.scores.get(s, {}).get(label)) for s in series]])
    return rows


def grouped_verdicts(result: EdgeComparison, g: Any) -> list[str]:
    """One sentence per scored label: which series beat the majority rate under the grouped protocol."""
    out = []
    methods = [s for s in result.methods if s in g.scores]
    for label, lab in g.labels.items():
        if not lab.scorable:
            continue
        scores = {s: g.scores[s][label] for s in [gr.REFERENCE, *methods]}
        maj = scores[gr.REFERENCE].majority
        winners = [_name(s) for s in methods if scores[s].beats_chance()]
        best = max(methods, key=lambda s: scores[s].accuracy or -1) if methods else None
        raw = scores[gr.REFERENCE]
        if winners:
            head = f"{label}: {', '.join(winners)} beat{'s' if len(winners) == 1 else ''} the majority rate {maj:.2f}"
        elif best and (scores[best].accuracy or 0) > maj:
            head = (f"{label}: no method beats the majority rate {maj:.2f} beyond the uncertainty "
                    f"(best {_name(best)} {scores[best].text()})")
        else:
            head = f"{label}: no method reaches the majority rate {maj:.2f}" + (
                f" (best {_name(best)} {scores[best].text()})" if best else "")
        head += f"; raw spectra {raw.text()}" + (" ✓" if raw.beats_chance() else "")
        out.append(head)
    return out


def grouped_section(result: EdgeComparison) -> list[str]:
    """``### Grouped, inductive`` tables of one edge: per recipe, the scores, the left-out classes and descriptor R^2."""
    if not result.grouped:
        return []
    lines = []
    for g in result.grouped:
        series = [gr.REFERENCE, *[s for s in result.methods if s in g.scores]]
        recipe = g.recipe or {}
        window = (f"window {recipe.get('energy_min_ev'):g} .. {recipe.get('energy_max_ev'):g} eV"
                  + (" relative to each spectrum's edge onset" if recipe.get("alignment") == "edge_onset" else "")
                  if recipe.get("energy_min_ev") is not None else "")
        lines += [f"### Grouped, inductive: {g.recipe_name} recipe ({window}; {g.n_structures} {g.group_by}s, "
                  f"{g.folds})", ""]
        if g.sister_nearest is not None:
            lines += [f"{g.sister_nearest:.0%} of these spectra have their nearest spectrum (preprocessed, Euclidean) "
                      "in their own structure: what splitting spectra instead of structures would reward.", ""]
        lines += [f"* **{v}**" if "beat" in v and "no method" not in v else f"* {v}" for v in grouped_verdicts(result, g)]
        lines += [""]
        lines += _table(["label", "scored spectra / structures", "majority", "stratified",
                         *[_name(s) for s in series]], grouped_rows(result, g))
        for label, lab in g.labels.items():
            parts = []
            if lab.scorable:
                parts.append("scored: " + ", ".join(f"{c} ({lab.structures[c]} structures, {lab.spectra[c]} spectra)"
                                                    for c in lab.classes))
            if lab.dropped:
                parts.append("not scored (< {} structures): ".format(gr.MIN_STRUCTURES)
                             + ", ".join(f"{c} ({n})" for c, n in lab.dropped.items()))
            if lab.far_sites:
                parts.append(f"{lab.far_sites} sites farther than {gr.NEAR_DEFECT_A:g} Å from their defect left out")
            if label in g.unscorable:
                parts.append("NOT SCORED: " + g.unscorable[label])
            lines.append(f"* `{label}`: " + "; ".join(parts))
        placements = ", ".join(f"{_name(k)} {v}" for k, v in g.placements.items())
        lines += [f"* placement of held-out spectra: {placements}" if placements else "", ""]
        if g.notes:
            lines += ["Notes: " + "; ".join(g.notes), ""]
        if any(g.descriptors.values()):
            lines += [f"**Descriptors, held-out R² ({g.recipe_name} recipe)**: a held-out spectrum's value predicted "
                      f"as the mean over its {m.KNN_K} nearest training spectra (map or raw spectra); R² = 1 - SS_res / "
                      "SS_tot about the mean of all values, mean over seeds, bootstrap 95 % interval over structures. "
                      "Negative: worse than predicting the mean.", ""]
            names = list(next(iter(g.descriptors.values())).keys())
            rows = []
            for name in names:
                row = [name, str(g.descriptors[gr.REFERENCE][name]["n"])]
                for s in series:
                    d = g.descriptors.get(s, {}).get(name, {})
                    if d.get("r2") is None:
                        row.append("n/a")
                    else:
                        ci = d.get("ci95")
                        row.append(f"{d['r2']:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""))
                rows.append(row)
            lines += _table(["descriptor", "N", *[_name(s) for s in series]], rows)
    return lines


def write_report(results: Sequence[EdgeComparison], out_dir: str | Path, *, command: str,
                 source: str = "the selected database", remark: str | None = None, seeds: int | None = None,
                 data_note: str | None = None) -> Path:
    """Write ``README.md``, ``results.json`` and the figures into ``out_dir``; returns the README path.

    ``data_note``: which data the report was made from (e.g. the calculation set's manifest hash and
    the git commit of its directory), printed at the top and stored in ``results.json``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    now = utc_now()
    sections: list[str] = []
    for result in results:
        figures: dict[str, Path | None] = {}
        if result.methods:
            figures["knn"] = plot_knn(result, out / f"{slug(result)}_knn.png")
            figures["labels"] = plot_labels(result, out / f"{slug(result)}_labels.png")
            figures["descriptors"] = plot_descriptors(result, out / f"{slug(result)}_descriptors.png")
        sections += edge_section(result, figures)
    total = sum(r.n_spectra for r in results)
    per_edge = ", ".join(f"{r.n_spectra} {r.name}" for r in results)
    seeds = seeds if seeds is not None else max((len(r.seeds) for r in results), default=0)
    head = [
        "# UMAP vs PCA vs MDS on computed XANES: the comparison as numbers", "",
        *([f"Data: {data_note}", ""] if data_note else []),
        (f"Generated {now:%Y-%m-%d %H:%M} UTC from {source}: {total} spectra ({per_edge}), "
         f"{seeds} seed(s) per random method. With few spectra per class these numbers are indicative only: "
         "the class counts are given with every table."), "",
        "Regenerate with:", "", "```", command, "```", "",
    ]
    if remark:
        head += [remark, ""]
    if any(r.grouped for r in results):
        folds = next(g.folds for r in results for g in r.grouped)
        head += ["## Headline: grouped, inductive evaluation (held-out structures)", "",
                 GROUPED_INTRO.format(folds=folds), ""]
        for result in results:
            for g in result.grouped:
                series = [gr.REFERENCE, *[s for s in result.methods if s in g.scores]]
                head += [f"### {result.name}, {g.recipe_name} recipe", ""]
                head += _table(["label", "scored spectra / structures", "majority", "stratified",
                                *[_name(s) for s in series]], grouped_rows(result, g))
                head += [f"* {v}" for v in grouped_verdicts(result, g)] + [""]
    summary = []
    for result in results:
        summary += [f"* **{result.name}**: " + v for v in verdicts(result)]
    if summary:
        title = ("## Transductive summary (secondary: map fitted on all spectra, kNN cross-validated over spectra; "
                 "mean ± sd over seeds)" if any(r.grouped for r in results)
                 else "## Summary (kNN accuracy in the 2-D map, mean ± sd over seeds)")
        head += [title, "", *summary, ""]
        key = [row for row in summary_rows(results)
               if row["score"].startswith(("trustworthiness", "kNN accuracy", "identification"))]
        if key:
            columns = [c for c in key[0] if c not in ("n",)]
            head += _table([_name(c) if c in _METHOD_NAMES else c for c in columns],
                           [[row[c] for c in columns] for row in key])
    text = "\n".join(head + probes_section(results) + sections + [ELEMENT_EDGE_NOTE, DEFINITIONS])
    readme = out / "README.md"
    readme.write_text(text)
    (out / "results.json").write_text(json.dumps(
        {"generated_utc": now.isoformat(timespec="seconds"), "source": source, "data": data_note, "command": command,
         "probe_identification": pr.identification_rates(results),
         "edges": [r.to_dict() for r in results]}, indent=1, default=_json_default, allow_nan=False) + "\n")
    return readme


# Keys that results.json files written before the US-spelling rename (2026-11-30) hold, and their
# present names; read_results accepts both, write_report writes the present ones only.
LEGACY_EDGE_KEYS = {"neighbourhood_spearman": "neighborhood_spearman"}  # edges[]
LEGACY_NEAREST_KEYS = {"neighbours": "neighbors"}  # edges[].probes[].methods.*.nearest[]


def read_results(path: str | Path) -> dict[str, Any]:
    """The ``results.json`` that :func:`write_report` wrote, as a dict with the present key names.

    Files of either spelling are read: the old British keys (:data:`LEGACY_EDGE_KEYS`,
    :data:`LEGACY_NEAREST_KEYS`) are renamed to the US ones; a file holding both the old and the new
    name of one key raises :class:`~repository.errors.InputError` naming the file and the key (its
    numbers could be either). Raises InputError too when the file is not JSON."""
    from ..errors import InputError

    path = Path(path)
    try:
        results = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path, f"not a results.json of xasrepo compare: {exc}") from None

    def renamed(record: dict[str, Any], legacy: dict[str, str], where: str) -> None:
        for old, new in legacy.items():
            if old in record:
                if new in record:
                    raise InputError(path, f"holds both {old!r} and {new!r}", where)
                record[new] = record.pop(old)

    for i, edge in enumerate(results.get("edges", [])):
        renamed(edge, LEGACY_EDGE_KEYS, f"edges[{i}]")
        for j, probe in enumerate(edge.get("probes", [])):
            for meth, placed in probe.get("methods", {}).items():
                for k, nearest in enumerate(placed.get("nearest", [])):
                    renamed(nearest, LEGACY_NEAREST_KEYS, f"edges[{i}].probes[{j}].methods.{meth}.nearest[{k}]")
    return results


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def summary_rows(results: Sequence[EdgeComparison]) -> list[dict[str, Any]]:
    """One row per (edge, score, label) with a column per method: what ``--format table`` prints."""
    rows = []
    every = [REFERENCE, *dict.fromkeys(meth for r in results for meth in r.methods)]
    for r in results:
        series = every
        for g in r.grouped:
            for label in [lb for lb, lab in g.labels.items() if lab.scorable]:
                first = g.scores[gr.REFERENCE][label]
                rows.append({"edge": r.name, "n": r.n_spectra, "score": f"grouped kNN, {g.recipe_name}",
                             "label": f"{label} (majority {first.majority:.2f}, stratified {first.stratified:.2f})",
                             **{s: _grouped_cell(g.scores.get(s, {}).get(label)) for s in series}})
        if r.window_padding:
            rows.append({"edge": r.name, "n": r.n_spectra, "score": "window padding", "label": r.window_padding})
        if r.methods:
            rows.append({"edge": r.name, "n": r.n_spectra, "score": f"trustworthiness k={r.trust_k}", "label": "",
                         **{s: (_stat(r.trustworthiness, s).text(3) if s != REFERENCE else "") for s in series}})
        for label in r.scored_labels():
            rows.append({"edge": r.name, "n": r.n_spectra,
                         "score": "kNN accuracy (transductive)" if r.grouped else "kNN accuracy", "label": label,
                         **{s: _stat(r.knn, s, label).text() for s in series}})
        for label in r.scored_labels():
            rows.append({"edge": r.name, "n": r.n_spectra, "score": "silhouette", "label": label,
                         **{s: _stat(r.silhouette, s, label).text() for s in series}})
        for name in r.descriptors:
            rows.append({"edge": r.name, "n": r.n_spectra, "score": "neighbourhood rho", "label": name,
                         **{s: _stat(r.neighborhood_rho, s, name).text() for s in series}})
        for label in (r.identification.get(REFERENCE) or {}):
            rows.append({"edge": r.name, "n": r.n_spectra, "score": "identification k=1", "label": label,
                         **{s: _stat(r.identification, s, label, 1).text() for s in series}})
        for probe in r.probes:
            for label in (probe.votes.get(REFERENCE) or {}):
                aligned = "" if probe.probe.alignment_note is None else f"; onset alignment, {pr.NO_CONFIDENT_SHIFT}"
                rows.append({"edge": r.name, "n": r.n_spectra, "score": f"probe {probe.title} ({probe.k} nearest{aligned})",
                             "label": label, **{s: (pr.vote_text(probe.votes[s][label]) if s in probe.votes else "")
                                                for s in series}})
        if not r.methods:
            rows.append({"edge": r.name, "n": r.n_spectra, "score": "not compared", "label": "; ".join(r.notes)})
    return [{**row, **{s: row.get(s, "") for s in every}} for row in rows]

