"""External spectra ("probes") placed into the compared embeddings: which computed spectra they land among.

A probe is a spectrum from outside the compared set -- an experiment, or a spectrum computed with
another code -- given to ``xasrepo compare --probe``. It is

1. read with the format readers (:func:`repository.analysis.project.read_query`, as ``xasrepo
   project FILE`` reads it); its absorbing element and edge are what the file says, or what the
   probe option says (``FILE:element=B,edge=K``) when the file does not say;
2. preprocessed with the recipe of the compared spectra of that element and edge and aligned in
   energy as ``xasrepo project --align fit`` aligns (:func:`repository.analysis.project.prepare`:
   edge onset onto the best-matching compared spectrum's onset (``EdgeData.train_e0_ev``), then
   the admissible shift within +-5 eV that best matches a training spectrum, :func:`repository.analysis.project.best_shift`); when
   the fit finds no confident shift (its best lies at an end of the admissible range) the probe is
   placed at the onset alignment and the report says "no confident fit shift" with the reason;
3. placed, in :mod:`.run`, into every method's map fitted on all spectra of its edge, for every
   seed, with the placement the held-out identification uses
   (:func:`repository.analysis.project.place`), and its :data:`PROBE_K` nearest computed spectra in
   the map are taken; for the raw spectra (the ceiling) the nearest in the preprocessed spectra.

For every label the comparison scores (and the absorber's coordination number) the result gives
the majority class among those neighbours (ties to the nearest), the share of neighbours carrying
it (mean +- sd over seeds) and, when the probe option names an expected class
(``FILE:polymorph=c-BN``), whether the majority matches it. The site labels (``defect_kind``,
``defect_name``) are voted by the :data:`PROBE_K` nearest of the spectra the grouped test scores
them on (:func:`repository.compare.grouped.label_rows`: absorbers near the defect and every site of
a cell without one), not by sites 3-5 Å from a vacancy that do not see it (``Placement.label_nearest``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis.project import FIT_SEARCH_EV
from ..errors import InputError, MissingMetadata, UsageError, XasrepoError
from . import metrics as m
from .metrics import Stat
from .data import EXTRA_LABELS, LABELS, EdgeData

PROBE_K = 5
VOTERS_TEXT = "sites near a defect or in a defect-free cell"  # the spectra voting on site labels (label_voters)
PROBE_ALIGN = "fit"
NO_CONFIDENT_SHIFT = "no confident fit shift"  # said of a probe placed at its onset alignment instead
SPEC_KEYS = ("element", "edge", "name")
LABEL_KEYS = (*LABELS, *EXTRA_LABELS)
PROBE_SYNTAX = ("FILE or 'FILE:key=value,...' with keys element, edge (when the file does not say), name "
                "(shown in the report) and an expected class of any of " + ", ".join(LABEL_KEYS))
WINDOW_HINT = ("a probe must cover at least half of the compared window after fit alignment "
               f"(+-{FIT_SEARCH_EV:g} eV around the edge onset): check its element, edge and energy units")


@dataclass(frozen=True)
class ProbeSpec:
    """What ``--probe`` says: the file and, optionally, its element/edge, a name and expected classes."""

    text: str  # as given (for messages and the regenerating command line)
    path: Path
    element: str | None = None
    edge: str | None = None
    name: str | None = None
    expected: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return self.name or str(self.path)


def _split(text: str) -> tuple[str, str | None]:
    """(path, options) of a probe option: the whole text when it names an existing file, else split at
    the last ':' when what follows it is key=value pairs."""
    if Path(text).exists() or ":" not in text:
        return text, None
    head, tail = text.rsplit(":", 1)
    if "=" not in tail:
        return text, None
    return head, tail


def parse_probe(text: str) -> ProbeSpec:
    """A :class:`ProbeSpec` from ``FILE`` or ``FILE:key=value,...`` (see :data:`PROBE_SYNTAX`).

    Raises :class:`UsageError` for no file, a malformed or repeated ``key=value``, an unknown key
    or an edge name that is not one; :class:`InputError` for a file that does not exist."""
    from ..conventions import parse_edge

    text = str(text)
    path_text, options = _split(text)
    if not path_text:
        raise UsageError(f"--probe {text!r}: no file named (expected {PROBE_SYNTAX})")
    path = Path(path_text)
    values: dict[str, str] = {}
    for item in [] if options is None else [i for i in options.split(",") if i.strip()]:
        key, sep, value = item.partition("=")
        key, value = key.strip().lower().replace("-", "_"), value.strip()
        if not sep or not key or not value:
            raise UsageError(f"--probe {text!r}: {item.strip()!r} is not key=value (expected {PROBE_SYNTAX})")
        if key not in SPEC_KEYS and key not in LABEL_KEYS:
            raise UsageError(f"--probe {text!r}: unknown key {key!r} (known: {', '.join((*SPEC_KEYS, *LABEL_KEYS))})")
        if key in values:
            raise UsageError(f"--probe {text!r}: {key} is given twice")
        values[key] = value
    if not path.exists():
        raise InputError(path, "no such file (given with --probe)")
    element = values.pop("element", None)
    edge = values.pop("edge", None)
    if element is not None:
        element = element[:1].upper() + element[1:].lower()
    if edge is not None:
        try:
            edge = parse_edge(edge).value
        except (ValueError, XasrepoError) as err:
            raise UsageError(f"--probe {text!r}: {err}") from None
    name = values.pop("name", None)
    return ProbeSpec(text, path, element, edge, name, values)


MANIFEST = "manifest.csv"
MANIFEST_KEYS = ("file", *SPEC_KEYS)


def parse_probe_dir(directory: str | Path) -> list[ProbeSpec]:
    """The labelled spectra of a probe directory: its :data:`MANIFEST` (CSV, one row per spectrum)
    has a ``file`` column (relative to the directory) and optionally ``element``, ``edge``, ``name``
    and expected classes in columns named after labels (``polymorph``, ``host_polymorph``,
    ``defect_name``, ...; an empty cell names no class). Every file must exist.

    Raises :class:`InputError` naming the manifest and line for a missing manifest or file, an
    unknown column, a row without a file, or a bad edge."""
    import csv

    from ..conventions import parse_edge

    root = Path(directory)
    manifest = root / MANIFEST
    if not manifest.is_file():
        raise InputError(root, f"a probe directory needs a {MANIFEST} (columns: file, element, edge, name and "
                               f"expected classes such as polymorph)")
    with manifest.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = [c.strip().lower() for c in reader.fieldnames or []]
        if "file" not in columns:
            raise InputError(manifest, "line 1: no 'file' column")
        unknown = [c for c in columns if c not in MANIFEST_KEYS and c not in LABEL_KEYS]
        if unknown:
            raise InputError(manifest, f"line 1: unknown column {unknown[0]!r} (known: "
                                       f"{', '.join((*MANIFEST_KEYS, *LABEL_KEYS))})")
        specs = []
        for number, raw in enumerate(reader, start=2):
            row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
            if not row.get("file"):
                raise InputError(manifest, f"line {number}: no file named")
            path = root / row["file"]
            if not path.is_file():
                raise InputError(manifest, f"line {number}: {row['file']}: no such file")
            element = row.get("element") or None
            edge = row.get("edge") or None
            if element:
                element = element[:1].upper() + element[1:].lower()
            if edge:
                try:
                    edge = parse_edge(edge).value
                except (ValueError, XasrepoError) as err:
                    raise InputError(manifest, f"line {number}: {err}") from None
            expected = {k: v for k, v in row.items() if k in LABEL_KEYS and v}
            specs.append(ProbeSpec(f"{manifest}:{number}", path, element, edge, row.get("name") or None, expected))
    if not specs:
        raise InputError(manifest, "no spectra listed")
    return specs


def parse_probes(text: str) -> list[ProbeSpec]:
    """``--probe`` as given: a directory with a :data:`MANIFEST` (:func:`parse_probe_dir`), or one
    ``FILE[:key=value,...]`` (:func:`parse_probe`)."""
    if Path(str(text)).is_dir():
        return parse_probe_dir(text)
    return [parse_probe(text)]


@dataclass
class Probe:
    """A probe read, preprocessed with its edge's recipe and aligned: ready to be placed."""

    spec: ProbeSpec
    element: str
    edge: str
    vector: np.ndarray  # preprocessed, on the edge's recipe grid
    energy_shift_ev: float  # applied by the alignment (``alignment``)
    nearest_rmsd: float  # RMS difference to the spectrally nearest compared spectrum
    alignment: str = PROBE_ALIGN  # "fit", or "edge_onset" when the fit found no confident shift
    alignment_note: str | None = None  # why the fit's shift was not used (NoConfidentShift's reason)

    @property
    def shift_text(self) -> str:
        """``energies shifted by +0.12 eV``, saying when it is the onset alignment because the fit
        found no confident shift."""
        text = f"energies shifted by {self.energy_shift_ev:+.2f} eV"
        return text if self.alignment_note is None else f"{text} by onset alignment: {NO_CONFIDENT_SHIFT}"


def _comparable(edges: Sequence[EdgeData]) -> dict[tuple[str, str], EdgeData]:
    return {(e.element, e.edge): e for e in edges if e.matrix.ndim == 2 and e.matrix.shape[1] > 0}


def _reference_onset(data: EdgeData) -> float:
    from ..analysis import recipe as rec

    if data.reference_onset_ev is not None:
        return float(data.reference_onset_ev)
    return float(np.median(rec.edge_onsets(data.recipe.grid(), data.matrix, data.recipe.onset_fraction)))


def _edge_for(spec: ProbeSpec, comparable: dict[tuple[str, str], EdgeData]) -> EdgeData | None:
    """The compared edge the probe option names (element and edge, or an element compared at one edge)."""
    if spec.element and spec.edge:
        return comparable.get((spec.element, spec.edge))
    if spec.element:
        same = [d for (el, _ed), d in comparable.items() if el == spec.element]
        return same[0] if len(same) == 1 else None
    return None


def prepare_probe(spec: ProbeSpec, edges: Sequence[EdgeData]) -> Probe:
    """Read ``spec``'s file, match it to the compared edge of its element and edge, preprocess and align it.

    One-line errors name the file: a file that does not say its element/edge and a probe option that
    does not either; a file that says another element/edge than the option; an element/edge not among
    the compared ones; an expected class no compared spectrum has; a spectrum that does not cover the
    window after alignment.
    """
    from ..analysis.project import NoConfidentShift, prepare, read_query

    comparable = _comparable(edges)
    every = {(e.element, e.edge): e for e in edges}
    named = _edge_for(spec, comparable)
    hint_edge = spec.edge if spec.edge else (named.edge if named is not None else None)
    onset = _reference_onset(named) if named is not None else (
        _reference_onset(next(iter(comparable.values()))) if len(comparable) == 1 else None)
    try:
        query = read_query(spec.path, spec.element, hint_edge, align=PROBE_ALIGN, reference_onset_ev=onset)
    except MissingMetadata:
        raise MissingMetadata(spec.path, "the file does not say its absorbing element and edge: name them, e.g. "
                                    f"--probe '{spec.path}:element=B,edge=K'") from None
    if spec.element and query.element != spec.element or spec.edge and query.edge != spec.edge:
        raise InputError(spec.path, f"the file says {query.element} {query.edge} but --probe says "
                                    f"{spec.element or query.element} {spec.edge or query.edge}")
    key = (query.element, query.edge)
    data = comparable.get(key)
    if data is None:
        held = ", ".join(f"{el} {ed}" for el, ed in comparable) or "no edge with enough spectra"
        if key in every:
            why = f"the comparison has only {len(every[key])} {query.element} {query.edge} spectra, too few to embed"
        else:
            why = f"the comparison holds {held} spectra (spectra of different edges are never compared)"
        raise InputError(spec.path, f"the spectrum is {query.element} {query.edge}, but {why}")
    if data.recipe is None:
        raise UsageError(f"{spec.path}: probes need the compared spectra's preprocessing recipe "
                         f"({data.name} was built from arrays without one)")
    for label, value in spec.expected.items():
        classes = data.labels.get(label, data.extra_labels.get(label))
        known = sorted(set(classes.tolist())) if classes is not None else []
        if value not in known:
            raise UsageError(f"--probe {spec.text!r}: no compared {data.name} spectrum has {label} = {value} "
                             f"(classes: {', '.join(known) or 'none'})")
    alignment, note = PROBE_ALIGN, None
    try:
        vector, shift = prepare(query, data.recipe, _reference_onset(data), align=PROBE_ALIGN, train=data.matrix,
                                window_hint=WINDOW_HINT, train_e0_ev=data.train_e0_ev)
    except NoConfidentShift as err:  # placed at the onset alignment, and the report says so
        alignment, note = "edge_onset", str(err).removeprefix(f"{query.label}: ")
        vector, shift = prepare(query, data.recipe, _reference_onset(data), align="edge_onset", train=data.matrix,
                                window_hint=WINDOW_HINT, train_e0_ev=data.train_e0_ev)
    rmsd = float(np.sqrt(np.min(np.mean((data.matrix - vector[None, :]) ** 2, axis=1))))
    return Probe(spec, data.element, data.edge, np.asarray(vector, dtype=np.float64), float(shift), rmsd,
                 alignment, note)


def prepare_probes(specs: Sequence[ProbeSpec | str], edges: Sequence[EdgeData]) -> dict[tuple[str, str], list[Probe]]:
    """Every probe prepared (:func:`prepare_probe`), grouped by (element, edge); the first bad one raises."""
    out: dict[tuple[str, str], list[Probe]] = {}
    for spec in specs:
        probe = prepare_probe(spec if isinstance(spec, ProbeSpec) else parse_probe(spec), edges)
        out.setdefault((probe.element, probe.edge), []).append(probe)
    return out


# ----------------------------------------------------------------------------------------------
# neighbours and votes


@dataclass
class Placement:
    """One probe in one map (one method and seed), or in the raw spectra (``seed`` None)."""

    seed: int | None
    how: str  # umap-sgd, pca, knn-mean, ... or "spectra" for the raw spectra
    coordinates: list[float] | None
    nearest: list[int]  # row indices into the edge's spectra, nearest first
    distances: list[float]
    # label -> (rows, distances): the nearest among the spectra that carry that label (label_voters)
    label_nearest: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)

    def rows_for(self, label: str) -> list[int]:
        """The neighbours that vote on ``label``: its own nearest when restricted, else :attr:`nearest`."""
        return self.label_nearest[label][0] if label in self.label_nearest else self.nearest


def label_voters(labels: Sequence[str], near: np.ndarray | None) -> dict[str, np.ndarray]:
    """label -> boolean mask of the spectra that vote on it, for the labels restricted by
    :func:`repository.compare.grouped.label_rows` (the grouped test's rule, not a copy of it)."""
    from .grouped import label_rows

    out = {}
    for label in labels:
        rows = label_rows(label, near)
        if rows is not None:
            out[label] = np.asarray(rows, dtype=bool)
    return out


def place_among(points: np.ndarray, x: np.ndarray, seed: int | None, how: str, coordinates: list[float] | None,
                voters: dict[str, np.ndarray], k: int = PROBE_K) -> Placement:
    """A :class:`Placement` of ``x`` among ``points`` (a map's coordinates or the spectra): its ``k``
    nearest, and per restricted label (``voters``) its ``k`` nearest among the spectra that vote."""
    rows, dists = nearest(points, x, k)
    placement = Placement(seed, how, coordinates, rows, dists)
    found: dict[int, tuple[list[int], list[float]]] = {}  # labels sharing one mask share one search
    for label, mask in voters.items():
        if id(mask) not in found:
            allowed = np.flatnonzero(mask)
            sub, sub_d = nearest(np.asarray(points)[allowed], x, k) if allowed.size else ([], [])
            found[id(mask)] = ([int(allowed[i]) for i in sub], sub_d)
        placement.label_nearest[label] = found[id(mask)]
    return placement


def nearest(points: np.ndarray, x: np.ndarray, k: int = PROBE_K) -> tuple[list[int], list[float]]:
    """Row indices and Euclidean distances of the ``k`` rows of ``points`` nearest to ``x`` (stable order)."""
    d = np.sqrt(m.squared_distances(np.asarray(x, dtype=np.float64)[None, :], np.asarray(points, dtype=np.float64))[0])
    order = np.argsort(d, kind="stable")[:min(k, d.size)]
    return [int(i) for i in order], [float(d[i]) for i in order]


def vote(classes: Sequence[str]) -> tuple[str, bool]:
    """(majority class, tied?) of neighbours listed nearest first; ties go to the nearest (as in
    identification), and ``tied`` says that another class has as many."""
    votes = Counter(classes)
    top = max(votes.values())
    return next(c for c in classes if votes[c] == top), sum(n == top for n in votes.values()) > 1


@dataclass
class LabelVote:
    """One label of one probe in one method, over seeds."""

    majority: str  # the class most often the majority (ties: most neighbours over all seeds, then the nearest)
    majority_seeds: int  # in how many seeds it is the majority
    n_seeds: int
    share: Any  # metrics.Stat: share of the k nearest carrying ``majority``, over seeds
    counts: dict[str, int]  # classes of the k nearest, pooled over seeds
    tied_seeds: int = 0  # seeds in which ``majority`` won only by the tie rule (another class as frequent)
    expected: str | None = None
    matching_seeds: int | None = None  # seeds whose majority is ``expected``
    expected_share: Any = None  # metrics.Stat: share of the k nearest carrying ``expected``

    @property
    def matches(self) -> bool | None:
        return None if self.expected is None else self.majority == self.expected

    def to_dict(self) -> dict[str, Any]:
        out = {"majority": self.majority, "majority_seeds": self.majority_seeds, "n_seeds": self.n_seeds,
               "tied_seeds": self.tied_seeds, "share": self.share.to_dict(), "counts": self.counts}
        if self.expected is not None:
            out.update({"expected": self.expected, "matches": self.matches, "matching_seeds": self.matching_seeds,
                        "expected_share": self.expected_share.to_dict()})
        return out


def label_vote(placements: Sequence[Placement], classes: np.ndarray, expected: str | None,
               label: str | None = None) -> LabelVote:
    """The vote on ``label`` (``classes``: its class per spectrum) over seeds, by each placement's
    neighbours for that label (:meth:`Placement.rows_for`)."""
    per_seed = [[str(classes[i]) for i in p.rows_for(label)] for p in placements]
    votes = [vote(row) for row in per_seed]
    majorities = [maj for maj, _tied in votes]
    pooled = Counter(c for row in per_seed for c in row)
    seen = Counter(majorities)
    first = {c: majorities.index(c) for c in seen}
    majority = max(seen, key=lambda c: (seen[c], pooled[c], -first[c]))
    out = LabelVote(majority, seen[majority], len(per_seed),
                    Stat.of([row.count(majority) / len(row) for row in per_seed]),
                    dict(sorted(pooled.items(), key=lambda t: (-t[1], t[0]))),
                    sum(maj == majority and tied for maj, tied in votes))
    if expected is not None:
        out.expected = expected
        out.matching_seeds = sum(maj == expected for maj in majorities)
        out.expected_share = Stat.of([row.count(expected) / len(row) for row in per_seed])
    return out


@dataclass
class ProbeResult:
    """Where one probe lands: its placements per method (and raw), and the votes per label."""

    probe: Probe
    placements: dict[str, list[Placement]] = field(default_factory=dict)  # method|raw -> one per seed
    votes: dict[str, dict[str, LabelVote]] = field(default_factory=dict)  # method|raw -> label -> vote
    k: int = PROBE_K

    @property
    def title(self) -> str:
        return self.probe.spec.title

    def summarise(self, labels: dict[str, np.ndarray]) -> None:
        expected = self.probe.spec.expected
        # a label without a spectrum to vote (no site near a defect, no defect-free cell) gets no vote
        self.votes = {meth: {label: label_vote(places, classes, expected.get(label), label)
                             for label, classes in labels.items() if all(p.rows_for(label) for p in places)}
                      for meth, places in self.placements.items() if places}

    def primary_label(self) -> str | None:
        labels = next(iter(self.votes.values()), {})
        for label in (*self.probe.spec.expected, "polymorph", *labels):
            if label in labels:
                return label
        return None

    def to_dict(self, ids: np.ndarray, labels: dict[str, np.ndarray], method_order: Sequence[str]) -> dict[str, Any]:
        def neighbors(p: Placement) -> list[dict[str, Any]]:
            return [{"spectrum_id": int(ids[i]), "distance": dist, **{lb: str(v[i]) for lb, v in labels.items()}}
                    for i, dist in zip(p.nearest, p.distances)]

        def voters(p: Placement) -> dict[str, list[dict[str, Any]]]:  # the neighbours that vote on site labels
            return {lb: [{"spectrum_id": int(ids[i]), "distance": dist, lb: str(labels[lb][i])}
                         for i, dist in zip(*p.label_nearest[lb])] for lb in p.label_nearest if lb in labels}

        spec = self.probe.spec
        return {
            "name": self.title, "file": str(spec.path), "option": spec.text, "element": self.probe.element,
            "edge": self.probe.edge, "alignment": self.probe.alignment, "alignment_note": self.probe.alignment_note,
            "energy_shift_ev": self.probe.energy_shift_ev,
            "nearest_spectral_rmsd": self.probe.nearest_rmsd, "expected": dict(spec.expected), "k": self.k,
            "reading": reading(self, method_order),
            "methods": {meth: {"placement": places[0].how if places else None,
                               "seeds": [p.seed for p in places],
                               "nearest": [{"seed": p.seed, "coordinates": p.coordinates, "neighbors": neighbors(p),
                                            "label_neighbors": voters(p)}
                                           for p in places],
                               "labels": {lb: v.to_dict() for lb, v in self.votes.get(meth, {}).items()}}
                        for meth, places in self.placements.items()},
        }


def _method_name(method: str) -> str:
    return {"umap": "UMAP", "pca": "PCA", "mds": "MDS", "raw": "raw spectra"}.get(method, method.upper())


def vote_text(v: LabelVote) -> str:
    """``c-BN 0.90 ± 0.10`` (share of the nearest carrying the majority), with ``(3 of 4 seeds)`` when
    the majority changes between seeds and ``tied`` when another class is as frequent (the nearest
    decides)."""
    text = f"{v.majority} {v.share.text()}"
    notes = []
    if v.majority_seeds < v.n_seeds:
        notes.append(f"{v.majority_seeds} of {v.n_seeds} seeds")
    if v.tied_seeds:
        notes.append("tied" if v.tied_seeds == v.majority_seeds else f"tied in {v.tied_seeds}")
    return text + (f" ({', '.join(notes)})" if notes else "")


def reading(result: ProbeResult, method_order: Sequence[str]) -> str:
    """One sentence: which method puts the probe among which class (of the primary label)."""
    label = result.primary_label()
    if label is None:
        return f"{result.title}: no label to read."
    series = [meth for meth in method_order if meth in result.votes and meth != "raw"]
    if "raw" in result.votes:
        series.append("raw")

    def who(meth: str) -> str:
        return "the raw spectra (the ceiling)" if meth == "raw" else _method_name(meth)

    parts = []
    for meth in series:
        v = result.votes[meth][label]
        notes = [f"{v.majority_seeds} of {v.n_seeds} seeds"] if v.n_seeds > 1 else []
        notes.append(f"{v.share.text()} of the {result.k} nearest")
        if v.tied_seeds:
            notes.append("tied")
        parts.append(f"{who(meth)} among {v.majority} ({', '.join(notes)})")
    head = (f"{result.title} ({result.probe.element} {result.probe.edge}, {result.probe.shift_text}), "
            f"by {label}: {_and(parts) if parts else 'no map'}")
    expected = result.probe.spec.expected.get(label)
    if expected is not None:
        hit = [who(meth) for meth in series if result.votes[meth][label].matches]
        miss = [who(meth) for meth in series if not result.votes[meth][label].matches]
        head += f"; expected {expected}: " + (f"matched by {_and(hit)}" if hit else "matched by none")
        if miss and hit:
            head += f", not by {_and(miss)}"
    return head + "."


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def identification_rates(results: Sequence[Any]) -> list[dict[str, Any]]:
    """Per edge and label that probes name an expected class for: how often each map's majority
    (over seeds) is the expected class, against the trivial baseline: the share of these probes that
    always answering the commonest class would get right, the class counted over the compared
    spectra that vote on the label (for the site labels those of
    :func:`repository.compare.grouped.label_rows`, ``EdgeComparison.probe_voters``; else all).

    Returns rows ``{"edge", "label", "n_probes", "baseline", "majority_class", "baseline_among",
    "random_neighbor", "rates": {series: rate}}``; ``random_neighbor`` is the share of those voting
    spectra that carry each probe's expected class, averaged over the probes (what one neighbour drawn
    at random would match); a probe counts ``matching_seeds / n_seeds`` for a series (1 for the raw
    spectra when it matches)."""
    rows = []
    for result in results:
        labels = sorted({lb for p in result.probes for lb in p.probe.spec.expected})
        for label in labels:
            probes = [p for p in result.probes if label in p.probe.spec.expected and p.votes
                      and all(label in v for v in p.votes.values())]
            if not probes:
                continue
            classes = result.probe_labels.get(label)
            if classes is None:
                continue
            mask = getattr(result, "probe_voters", {}).get(label)
            if mask is not None:  # the class the vote could name most often, not one of far sites
                classes = np.asarray(classes)[mask]
            counts = Counter(str(c) for c in classes.tolist())
            if not counts:
                continue
            top = max(counts.values())
            commonest = sorted(c for c, n in counts.items() if n == top)[0]
            baseline = sum(p.probe.spec.expected[label] == commonest for p in probes) / len(probes)
            # the chance a neighbour drawn at random from the voters carries the probe's expected class
            total = sum(counts.values())
            random_neighbor = sum(counts.get(p.probe.spec.expected[label], 0) / total for p in probes) / len(probes)
            series = [s for s in (REFERENCE_NAME, *result.methods) if all(s in p.votes for p in probes)]
            rates = {s: sum(p.votes[s][label].matching_seeds / p.votes[s][label].n_seeds for p in probes) / len(probes)
                     for s in series}
            among = (f"the {int(np.sum(mask))} {VOTERS_TEXT}" if mask is not None
                     else f"all {len(classes)} compared spectra")
            rows.append({"edge": result.name, "label": label, "n_probes": len(probes), "baseline": baseline,
                         "majority_class": commonest, "baseline_among": among, "random_neighbor": random_neighbor,
                         "rates": rates})
    return rows


REFERENCE_NAME = "raw"
