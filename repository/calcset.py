"""Reading and validating a calculation set (``calcset.toml`` + files) into an import plan.

Everything is read and checked before anything is written: :func:`read_calcset` either returns a
complete :class:`CalcSetPlan` or raises :class:`~repository.errors.InputError` naming the file and
field or line. The format is documented in ``docs/calcset-format.md``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .conventions import (
    CoreHoleMethod,
    DefectKind,
    DosProjection,
    Orbital,
    SpectrumType,
    Spin,
    parse_choice,
    parse_edge,
    parse_spectrum_type,
)
from .errors import EnvironmentFault, InputError, UsageError, XasrepoError
from .files import file_sha256
from .limits import MAX_ENTRIES, MAX_FILE, check_input_file, excerpt, load_toml, read_input_bytes
from .structures import (
    StructureProperties,
    analyze_with_coordination,
    coordination_numbers,
    distance_to_point,
    read_structure,
    structure_hash,
    structure_json,
)
from .textcolumns import read_numeric_table
from .edges import EdgeMismatch, check_edge
from .values import InvalidArrays, SpectrumData, content_hash, validated_arrays

MANIFEST_NAME = "calcset.toml"
# The calculation set the demo and ``plot overview`` use when none is given: the project's own
# boron nitride set (docs/bn-calculations.md). v1 until the v2 campaign has >= 3 structures per
# polymorph (README "Status of the data"); the switch is this one line.
BUNDLED_SET = Path(__file__).resolve().parent.parent / "data" / "bn"
FORMAT_VERSION = 1
# A manifest states no energy unit (energies are in eV, docs/calcset-format.md) and import's
# --energy-unit applies to data files only, so keV energies must be converted in the files themselves.
CALCSET_KEV_ADVICE = "convert the file's energies to eV (a calculation set's energies are in eV; --energy-unit applies only to data files)"

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class StructurePlan:
    """A structure of a calculation set, read and analysed (content hash, JSON, derived properties)."""

    content_hash: str
    structure_json: str
    properties: StructureProperties
    polymorph: str | None
    relaxation: str | None


@dataclass(frozen=True)
class DefectPlan:
    """A defect of an entry: kind, name (v_N, C_B...), species, charge (e), supercell, fractional
    position and the host structure's hash."""

    kind: str
    name: str
    species: str | None
    charge: int
    supercell: str | None
    position_frac: tuple[float, float, float] | None
    host_hash: str | None

    @property
    def position_key(self) -> str:
        return ",".join(f"{x:.6f}" for x in self.position_frac) if self.position_frac else ""


@dataclass(frozen=True)
class SpectrumPlan:
    """A validated spectrum of an entry with its absorber site, multiplicity, coordination number and
    distance to the defect (Å)."""

    spectrum: SpectrumData
    content_hash: str
    source_file: str
    source_sha256: str
    absorber_site_index: int
    absorber_multiplicity: int
    absorber_cn: int
    absorber_defect_distance_a: float | None


@dataclass(frozen=True)
class DosPlan:
    """A DOS curve of an entry: projection, element/site, orbital, spin, Fermi energy (eV) and the arrays
    ``energy_ev`` and ``density`` (both (n_points,))."""

    projection: str
    element: str | None
    site_index: int | None
    orbital: str
    spin: str
    fermi_energy_ev: float | None
    energy_ev: np.ndarray
    density: np.ndarray
    source_file: str


@dataclass(frozen=True)
class DescriptorPlan:
    """A scalar descriptor of an entry (e.g. Hirshfeld charge in e), with unit, method and site."""

    name: str
    value: float
    unit: str | None
    method: str | None
    site_index: int | None


@dataclass(frozen=True)
class EntryPlan:
    """One entry of ``calcset.toml``: its structure, defect, calculation and the spectra, DOS and
    descriptors read for it."""

    key: str
    entry_hash: str
    structure_hash: str
    defect: DefectPlan | None
    calculation: dict[str, Any]
    spectra: tuple[SpectrumPlan, ...]
    dos: tuple[DosPlan, ...]
    descriptors: tuple[DescriptorPlan, ...]
    # the entry's structure labels as written; part of entry_hash (a structure shared by several
    # entries or sets is stored with the first label seen, so the stored row cannot tell an edit)
    polymorph: str | None = None
    relaxation: str | None = None
    # entry_hash as computed before the labels took part (2026-12): how entries imported earlier are recognised
    legacy_hash: str | None = None


@dataclass(frozen=True)
class CalcSetPlan:
    """A calculation set read and validated in full before anything is written
    (:func:`repository.importer.import_calcset` writes it in one transaction)."""

    name: str
    description: str | None
    source: str | None
    provenance: dict[str, Any]
    manifest_hash: str
    structures: dict[str, StructurePlan]
    entries: tuple[EntryPlan, ...]

    @property
    def n_spectra(self) -> int:
        return sum(len(e.spectra) for e in self.entries)


@dataclass
class _Context:
    """What the reader knows while it walks the manifest."""

    root: Path
    manifest: Path
    file_hashes: dict[str, str] = field(default_factory=dict)
    structures: dict[str, Any] = field(default_factory=dict)  # relative path -> (pymatgen, hash)
    coordination: dict[str, np.ndarray] = field(default_factory=dict)  # structure hash -> CN per site
    plans: dict[str, StructurePlan] = field(default_factory=dict)
    # parallel reading only: (entry number, creation count) of each plan, so that merging the
    # workers' plans keeps the one the serial walk would have made first (its polymorph/relaxation)
    plan_order: dict[str, tuple[int, int]] = field(default_factory=dict)
    entry_number: int = 0
    resolved_dirs: dict[str, Path] = field(default_factory=dict)  # folder as written -> resolved
    plain_dirs: dict[str, str] = field(default_factory=dict)  # folder in the manifest -> resolved, "" outside
    max_file_bytes: float | None = None  # MAX_FILE.value(), looked up once

    def fail(self, where: str, problem: str) -> InputError:
        return InputError(self.manifest, problem, where=where)

    def path(self, where: str, value: Any) -> Path:
        if not isinstance(value, str) or not value:
            raise self.fail(where, "must be a file path relative to the set directory")
        fast = self._plain_file(value)
        if fast is not None:
            return fast
        path = self._resolve(self.root / value)
        if not path.is_relative_to(self.root):
            raise self.fail(where, f"{excerpt(value)} is outside the set directory (paths must stay inside it)")
        if not path.exists():
            raise self.fail(where, f"file {excerpt(value)} not found in {self.root}")
        check_input_file(path)  # a regular file within the size limit (never a FIFO or device)
        return path

    def _plain_file(self, value: str) -> Path | None:
        """The path of ``value`` when one ``lstat`` shows a regular file (so: no symbolic link, it
        exists, not a FIFO or device) within the size limit, in a folder (resolved once) inside the
        set; else None, and :meth:`path` takes the full route, which also words every refusal.
        The full route took 0.13-0.17 ms per file under cProfile (pathlib objects, ``is_symlink``,
        ``exists`` and ``check_input_file``: three system calls); with the single read of each
        spectrum file this saves ~7 % of the CPU per spectrum (measured, docs/benchmarks.md, issue 18f)."""
        folder, name = os.path.split(value)
        if name in ("", ".", "..") or os.path.isabs(value) or "\0" in value:
            return None
        parent = self.plain_dirs.get(folder)
        if parent is None:
            resolved = (self.root / folder).resolve() if folder else self.root
            parent = self.plain_dirs[folder] = str(resolved) if resolved.is_relative_to(self.root) else ""
        if not parent:  # the folder is outside the set: refused by the full route
            return None
        leaf = os.path.join(parent, name)
        try:
            info = os.lstat(leaf)
        except OSError:
            return None
        if self.max_file_bytes is None:  # read once per set: the environment is looked up on every call
            self.max_file_bytes = MAX_FILE.value()
        if not stat.S_ISREG(info.st_mode) or info.st_size > self.max_file_bytes:
            return None
        return Path(leaf)

    def _resolve(self, path: Path) -> Path:
        """``path.resolve()``, with each folder resolved once: realpath(folder/name) is
        realpath(realpath(folder)/name) when name is neither a symbolic link nor "..", and resolving
        every component of every file's path again took ~5 % of reading a set (measured, issue 18)."""
        name = path.name
        if name in ("", ".", ".."):
            return path.resolve()
        folder = str(path.parent)
        parent = self.resolved_dirs.get(folder)
        if parent is None:
            parent = self.resolved_dirs[folder] = path.parent.resolve()
        leaf = parent / name
        return leaf.resolve() if leaf.is_symlink() else leaf

    def sha256(self, path: Path) -> str:
        key = str(path)
        if key not in self.file_hashes:
            self.file_hashes[key] = file_sha256(path)
        return self.file_hashes[key]


def _require(table: dict, key: str, types: type | tuple[type, ...], ctx: _Context, where: str, *, optional=False):
    if key not in table:
        if optional:
            return None
        raise ctx.fail(f"{where}.{key}" if where else key, "is required")
    value = table[key]
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise ctx.fail(f"{where}.{key}" if where else key, f"must be {_type_name(types)}, got a boolean")
    if not isinstance(value, types):
        raise ctx.fail(f"{where}.{key}" if where else key, f"must be {_type_name(types)}, got {type(value).__name__}")
    return value


def _type_name(types) -> str:
    names = {str: "a string", int: "an integer", float: "a number", dict: "a table", list: "a list", bool: "true/false"}
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join(names.get(t, t.__name__) for t in types)


def _choice(enum, value: Any, ctx: _Context, where: str, what: str) -> str:
    try:
        return parse_choice(enum, str(value), what).value
    except ValueError as exc:
        raise ctx.fail(where, str(exc)) from None


def read_manifest(directory: Path) -> tuple[Path, dict[str, Any]]:
    """Parse ``calcset.toml`` in ``directory`` (or a path to the manifest itself)."""
    directory = Path(directory)
    manifest = directory if directory.is_file() else directory / MANIFEST_NAME
    if not manifest.exists():
        raise InputError(manifest, "manifest not found (a calculation set is a directory with calcset.toml)")
    try:
        text = read_input_bytes(manifest).decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(manifest, "not a UTF-8 text file") from None
    # counted before parsing: tomllib holds ~5 kB per entry (a 10^6-entry manifest took 5.5 GB)
    headers = text.count("[[entries]]")
    MAX_ENTRIES.check(headers, manifest, where="entries", found=f"{headers:,} [[entries]] tables")
    try:
        data = load_toml(text, manifest)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(manifest, f"malformed TOML: {exc}") from None
    entries = data.get("entries")
    if isinstance(entries, list):
        MAX_ENTRIES.check(len(entries), manifest, where="entries", found=f"{len(entries):,} entries")
    return manifest, data


def read_calcset(directory: Path, progress: Progress | None = None, workers: int | None = None) -> CalcSetPlan:
    """Read and validate a whole calculation set; nothing is written anywhere.

    ``workers``: processes that read and validate the entries (files parsed, structures analysed);
    1 reads in this process; ``None``: ``XASREPO_WORKERS`` when set, else every core the process may
    run on, or this process alone for sets under :data:`MIN_PARALLEL_ENTRIES` entries (starting the
    pool would cost more than it saves). Raises :class:`UsageError` for fewer than 1 worker. The plan, and any :class:`InputError` (the first in
    manifest order, with the same message), do not depend on ``workers``.
    """
    manifest, data = read_manifest(Path(directory))
    ctx = _Context(root=manifest.parent.resolve(), manifest=manifest)

    version = data.get("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise ctx.fail("format_version", f"unsupported version {excerpt(version)} (this xasrepo reads {FORMAT_VERSION})")
    known = {"format_version", "set", "defaults", "entries"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ctx.fail(unknown[0], f"unknown top-level key (expected one of {', '.join(sorted(known))})")

    set_table = _require(data, "set", dict, ctx, "")
    name = _require(set_table, "name", str, ctx, "set").strip()
    if not name:
        raise ctx.fail("set.name", "must not be empty")
    description = _require(set_table, "description", str, ctx, "set", optional=True)
    source = _require(set_table, "source", str, ctx, "set", optional=True)
    provenance = _require(set_table, "provenance", dict, ctx, "set", optional=True) or {}

    defaults = _require(data, "defaults", dict, ctx, "", optional=True) or {}
    default_calc = _require(defaults, "calculation", dict, ctx, "defaults", optional=True) or {}

    entries_raw = _require(data, "entries", list, ctx, "")
    if not entries_raw:
        raise ctx.fail("entries", "the set has no entries")
    entries: list[EntryPlan] = []
    seen_keys: dict[str, int] = {}
    n_workers = _worker_count(workers, len(entries_raw))
    pool = _ParallelEntries(entries_raw, default_calc, ctx, n_workers) if n_workers > 1 else None
    try:
        for number, raw in enumerate(entries_raw):
            where = f"entries[{number}]"
            if not isinstance(raw, dict):
                raise ctx.fail(where, "must be a table ([[entries]])")
            key = _require(raw, "key", str, ctx, where)
            if key in seen_keys:
                raise ctx.fail(f"{where}.key", f"duplicate key {excerpt(key)} (also entries[{seen_keys[key]}])")
            seen_keys[key] = number
            if pool is None:
                entries.append(_read_entry(raw, default_calc, ctx, f"{where} ({key})"))
            else:  # read by a worker; its error, if any, is raised here, at the entry the serial walk stops at
                entries.append(pool.entry(number))
            if progress:
                progress(number + 1, len(entries_raw))
    finally:
        if pool is not None:
            pool.close()
    if pool is not None:  # creation order of the serial walk (dict order is part of the plan)
        ctx.plans = dict(sorted(ctx.plans.items(), key=lambda item: ctx.plan_order[item[0]]))
    _check_shared_structure_labels(entries, ctx)

    digest = hashlib.sha256(read_input_bytes(manifest))
    for path in sorted(ctx.file_hashes):
        digest.update(ctx.file_hashes[path].encode())
    return CalcSetPlan(
        name=name,
        description=description,
        source=source,
        provenance=provenance,
        manifest_hash=digest.hexdigest(),
        structures=dict(ctx.plans),
        entries=tuple(entries),
    )


MIN_PARALLEL_ENTRIES = 200  # below this, reading in one process is faster than starting a pool
TASKS_PER_WORKER = 4  # tasks per worker: small enough to balance the load, large enough to amortise
WORKERS_ENV = "XASREPO_WORKERS"


def _worker_count(workers: int | None, n_entries: int) -> int:
    if workers is None:
        env = os.environ.get(WORKERS_ENV, "").strip()
        if env:
            try:
                workers = int(env)
            except ValueError:
                raise UsageError(f"{WORKERS_ENV}={env!r} is not a whole number of processes") from None
        elif n_entries < MIN_PARALLEL_ENTRIES:
            return 1
        else:
            workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if workers < 1:
        raise UsageError(f"the number of reading processes must be at least 1, got {workers}")
    return max(1, min(workers, n_entries))


@dataclass
class _TaskResult:
    """What a worker read: entry plans by entry number, the first error (entry number, error) where
    it stopped, and its context's file hashes and structure plans (with their creation order)."""

    entries: dict[int, EntryPlan]
    error: tuple[int, Any] | None
    file_hashes: dict[str, str]
    plans: dict[str, StructurePlan]
    plan_order: dict[str, tuple[int, int]]


def _portable_error(exc: BaseException) -> tuple:
    # The library's errors take several constructor arguments (InputError(file, problem, where)),
    # which pickle cannot replay; the class, args and attributes rebuild an identical one.
    return (type(exc), exc.args, dict(exc.__dict__))


def _rebuilt_error(portable: tuple) -> BaseException:
    cls, args, attributes = portable
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(attributes)
    return exc


def _read_entries_task(root: Path, manifest: Path, default_calc: dict, items: list[tuple[int, dict]]) -> _TaskResult:
    """Worker: read entries (their numbers in the manifest, in order) until the first error."""
    ctx = _Context(root=root, manifest=manifest)
    done: dict[int, EntryPlan] = {}
    error = None
    for number, raw in items:
        ctx.entry_number = number
        try:
            done[number] = _read_entry(raw, default_calc, ctx, f"entries[{number}] ({raw['key']})")
        except XasrepoError as exc:
            error = (number, _portable_error(exc))
            break
        except Exception as exc:  # noqa: BLE001 - a bug: re-raised unchanged in the parent, at this entry
            error = (number, exc)
            break
    return _TaskResult(done, error, ctx.file_hashes, ctx.plans, ctx.plan_order)


class _ParallelEntries:
    """Entries read by a process pool, handed out in manifest order.

    Entries are grouped by structure file so that each structure is read and analysed by one task
    (defect host structures shared between groups, and structures with more entries than a task
    holds, may be analysed once per task); groups are packed into tasks of consecutive entries. A task stops at its first error; the parent asks for entries
    in manifest order, so the error it raises is the one the serial walk would have raised.
    """

    def __init__(self, entries_raw: list, default_calc: dict, ctx: _Context, workers: int):
        # lazy import: start-up time (only sets read by a pool need the process machinery)
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.ctx = ctx
        groups: dict[Any, list[tuple[int, dict]]] = {}
        for number, raw in enumerate(entries_raw):
            if not isinstance(raw, dict) or not isinstance(raw.get("key"), str):
                continue  # the parent raises at this entry before it asks for any later one
            structure = raw.get("structure")
            groups.setdefault(structure if isinstance(structure, str) else ("#", number), []).append((number, raw))
        size = max(1, -(-len(entries_raw) // (workers * TASKS_PER_WORKER)))
        tasks: list[list[tuple[int, dict]]] = [[]]
        for items in groups.values():
            # a structure with more entries than a task holds is split (and analysed once per part),
            # or a set of one structure would be read by one worker
            for start in range(0, len(items), size):
                if len(tasks[-1]) >= size:
                    tasks.append([])
                tasks[-1].extend(items[start:start + size])
        # fork: the workers inherit the imported modules (pymatgen alone takes seconds to import)
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        self.executor = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        self.task_of: dict[int, int] = {}
        self.futures = []
        for index, items in enumerate(tasks):
            items.sort()
            self.task_of.update((number, index) for number, _ in items)
            self.futures.append(self.executor.submit(_read_entries_task, ctx.root, ctx.manifest, default_calc, items))
        self.results: dict[int, _TaskResult] = {}

    def entry(self, number: int) -> EntryPlan:
        index = self.task_of[number]
        result = self.results.get(index)
        if result is None:
            # lazy import: start-up time (only sets read by a pool need the process machinery)
            from concurrent.futures.process import BrokenProcessPool

            try:
                result = self.results[index] = self.futures[index].result()
            except BrokenProcessPool:
                raise EnvironmentFault("a process reading the set stopped abruptly (out of memory?); nothing was "
                                       f"written; try again, or with {WORKERS_ENV}=1 to read in one process") from None
            self._merge(result)
        if number in result.entries:
            plan = result.entries.pop(number)
            # pickle returns writeable arrays; the plan's arrays are read-only, as in a serial read
            for array in [a for s in plan.spectra for a in (s.spectrum.energy_ev, s.spectrum.intensity)] + \
                         [a for d in plan.dos for a in (d.energy_ev, d.density)]:
                array.setflags(write=False)
            return plan
        error_number, error = result.error  # the task stopped at this entry
        assert error_number == number, (error_number, number)
        raise _rebuilt_error(error) if isinstance(error, tuple) else error

    def _merge(self, result: _TaskResult) -> None:
        ctx = self.ctx
        ctx.file_hashes.update(result.file_hashes)
        for digest, plan in result.plans.items():
            order = result.plan_order[digest]
            if digest not in ctx.plans or order < ctx.plan_order[digest]:
                ctx.plans[digest] = plan
                ctx.plan_order[digest] = order

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


def _load_structure(ctx: _Context, where: str, relative: Any, polymorph, relaxation):
    key = str(relative)
    if key not in ctx.structures:
        path = ctx.path(where, relative)
        ctx.sha256(path)
        structure = read_structure(path)
        ctx.structures[key] = (structure, structure_hash(structure))
    structure, digest = ctx.structures[key]
    if digest not in ctx.plans:
        # one neighbour list for the dimensionality and the coordination numbers of the structure
        properties, coordination = analyze_with_coordination(structure)
        ctx.coordination.setdefault(digest, coordination)
        ctx.plans[digest] = StructurePlan(
            content_hash=digest,
            structure_json=structure_json(structure),
            properties=properties,
            polymorph=polymorph,
            relaxation=relaxation,
        )
        ctx.plan_order[digest] = (ctx.entry_number, len(ctx.plan_order))
    return structure, digest


def _read_entry(raw: dict, default_calc: dict, ctx: _Context, where: str) -> EntryPlan:
    key = raw["key"]
    known = {"key", "structure", "polymorph", "relaxation", "defect", "absorber", "calculation",
             "spectra", "dos", "descriptors"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ctx.fail(f"{where}.{unknown[0]}", f"unknown key (expected one of {', '.join(sorted(known))})")
    polymorph = _require(raw, "polymorph", str, ctx, where, optional=True)
    relaxation = _require(raw, "relaxation", str, ctx, where, optional=True)
    structure, structure_digest = _load_structure(ctx, f"{where}.structure", _require(raw, "structure", str, ctx, where),
                                                  polymorph, relaxation)

    defect = None
    if "defect" in raw:
        defect = _read_defect(_require(raw, "defect", dict, ctx, where), structure, ctx, f"{where}.defect")

    absorber = _require(raw, "absorber", dict, ctx, where)
    site = _require(absorber, "site_index", int, ctx, f"{where}.absorber")
    element = _require(absorber, "element", str, ctx, f"{where}.absorber")
    multiplicity = _require(absorber, "multiplicity", int, ctx, f"{where}.absorber", optional=True) or 1
    if not 0 <= site < len(structure):
        raise ctx.fail(f"{where}.absorber.site_index",
                       f"site {site} is outside the structure ({len(structure)} sites, indices from 0)")
    actual = structure[site].specie.symbol
    if actual != element:
        raise ctx.fail(f"{where}.absorber.site_index", f"site {site} is {actual}, not the absorbing element {element}")
    if multiplicity < 1:
        raise ctx.fail(f"{where}.absorber.multiplicity", "must be at least 1")
    if structure_digest not in ctx.coordination:
        ctx.coordination[structure_digest] = coordination_numbers(structure)
    cn = int(ctx.coordination[structure_digest][site])
    distance = distance_to_point(structure, site, defect.position_frac) if defect and defect.position_frac else None

    calculation = _read_calculation(default_calc, raw.get("calculation", {}), ctx, f"{where}.calculation")

    spectra_raw = _require(raw, "spectra", list, ctx, where)
    if not spectra_raw:
        raise ctx.fail(f"{where}.spectra", "an entry needs at least one spectrum")
    spectra = []
    for i, item in enumerate(spectra_raw):
        spectra.append(_read_spectrum(item, element, structure_digest, site, multiplicity, cn, distance, calculation,
                                      ctx, f"{where}.spectra[{i}]"))
    hashes = [s.content_hash for s in spectra]
    if len(set(hashes)) != len(hashes):
        raise ctx.fail(f"{where}.spectra", "the same spectrum is listed twice")
    dos = []
    for i, item in enumerate(_require(raw, "dos", list, ctx, where, optional=True) or []):
        dos.extend(_read_dos(item, structure, ctx, f"{where}.dos[{i}]"))
    descriptors = [_read_descriptor(item, structure, ctx, f"{where}.descriptors[{i}]")
                   for i, item in enumerate(_require(raw, "descriptors", list, ctx, where, optional=True) or [])]

    entry_identity = {
        "structure": structure_digest,
        "defect": defect.__dict__ if defect else None,
        "calculation": calculation,
        "spectra": hashes,
        "dos": [(d.projection, d.element, d.site_index, d.orbital, d.spin,
                 hashlib.sha256(d.energy_ev.tobytes() + d.density.tobytes()).hexdigest()) for d in dos],
        "descriptors": [d.__dict__ for d in descriptors],
    }
    legacy_hash = hashlib.sha256(json.dumps(entry_identity, sort_keys=True, default=str).encode()).hexdigest()
    # Every stored field takes part in the identity: an edited label must be refused on re-import
    # like any other edit, never dropped silently.
    entry_identity["labels"] = {"polymorph": polymorph, "relaxation": relaxation}
    entry_hash = hashlib.sha256(json.dumps(entry_identity, sort_keys=True, default=str).encode()).hexdigest()
    return EntryPlan(key=key, entry_hash=entry_hash, structure_hash=structure_digest, defect=defect,
                     calculation=calculation, spectra=tuple(spectra), dos=tuple(dos), descriptors=tuple(descriptors),
                     polymorph=polymorph, relaxation=relaxation, legacy_hash=legacy_hash)


def _check_shared_structure_labels(entries: list[EntryPlan], ctx: _Context) -> None:
    """One structure has one polymorph and one relaxation: entries that share a structure file (or an
    identical structure) but label it differently are refused, naming the later entry, instead of
    the structure silently keeping the first entry's labels. Raises :class:`InputError`."""
    first: dict[str, tuple[int, EntryPlan]] = {}
    for number, entry in enumerate(entries):
        if entry.structure_hash not in first:
            first[entry.structure_hash] = (number, entry)
            continue
        n0, e0 = first[entry.structure_hash]
        for label in ("polymorph", "relaxation"):
            a, b = getattr(e0, label), getattr(entry, label)
            if a != b:
                def said(value):
                    return excerpt(value) if value is not None else f"no {label}"

                raise ctx.fail(f"entries[{number}] ({entry.key}).{label}",
                               f"{said(b)} for the structure that entries[{n0}] ({e0.key}) gives "
                               f"{said(a)}: one structure has one {label}")


def _read_defect(table: dict, structure, ctx: _Context, where: str) -> DefectPlan:
    kind = _choice(DefectKind, _require(table, "kind", str, ctx, where), ctx, f"{where}.kind", "defect kind")
    name = _require(table, "name", str, ctx, where)
    species = _require(table, "species", str, ctx, where, optional=True)
    charge = _require(table, "charge", int, ctx, where, optional=True) or 0
    supercell = _require(table, "supercell", (list, str), ctx, where, optional=True)
    if isinstance(supercell, list):
        if len(supercell) != 3 or not all(isinstance(n, int) and n > 0 for n in supercell):
            raise ctx.fail(f"{where}.supercell", "must be three positive integers, e.g. [3, 3, 1]")
        supercell = "x".join(str(n) for n in supercell)
    position = _require(table, "position_frac", list, ctx, where, optional=True)
    if position is not None:
        if len(position) != 3 or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in position):
            raise ctx.fail(f"{where}.position_frac", "must be three fractional coordinates")
        position = tuple(float(x) for x in position)
    host_hash = None
    if "host_structure" in table:
        _, host_hash = _load_structure(ctx, f"{where}.host_structure", table["host_structure"], None, None)
    return DefectPlan(kind=kind, name=name, species=species, charge=charge, supercell=supercell,
                      position_frac=position, host_hash=host_hash)


_CALC_FIELDS = {
    "code": str, "code_version": str, "method": str, "functional": str, "parameters": dict,
    "broadening_ev": (int, float), "energy_reference": str, "alignment": str,
    "alignment_shift_ev": (int, float), "source": str,
}


def _read_calculation(defaults: dict, table: Any, ctx: _Context, where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ctx.fail(where, "must be a table")
    # Validate both parameter tables before merging them: a scalar cannot be merged into a table.
    for source, label in ((defaults, "defaults.calculation"), (table, where)):
        if "parameters" in source and not isinstance(source["parameters"], dict):
            raise ctx.fail(f"{label}.parameters", "must be a table")
    merged = {**defaults, **table}
    merged["parameters"] = {**defaults.get("parameters", {}), **table.get("parameters", {})}
    for key in merged:
        if key not in _CALC_FIELDS:
            raise ctx.fail(f"{where}.{key}", f"unknown key (expected one of {', '.join(sorted(_CALC_FIELDS))})")
        _require(merged, key, _CALC_FIELDS[key], ctx, where)
    _require(merged, "code", str, ctx, where)
    method = _require(merged, "method", str, ctx, where)
    merged["method"] = _choice(CoreHoleMethod, method, ctx, f"{where}.method", "method")
    for key in ("broadening_ev", "alignment_shift_ev"):
        if key in merged:
            if not math.isfinite(merged[key]):
                raise ctx.fail(f"{where}.{key}", "must be a finite number")
            merged[key] = float(merged[key])
    return merged


def _spectrum_arrays(path: Path, columns: list[int], ctx: _Context, where: str):
    # One read of the file serves both the parse and its SHA-256 (reading it twice cost ~0.07 ms
    # per spectrum, issue 18f); the hash is of the same bytes that were parsed.
    data = read_input_bytes(path)
    ctx.file_hashes.setdefault(str(path), hashlib.sha256(data).hexdigest())
    table, lines = read_numeric_table(path, data)
    if max(columns) >= table.shape[1]:
        raise InputError(path, f"has {table.shape[1]} columns, {where}.columns asks for column {max(columns)}")
    return table[:, columns[0]], table[:, columns[1]], lines


def _read_spectrum(item: Any, element: str, structure_digest: str, site: int, multiplicity: int, cn: int,
                   distance: float | None, calculation: dict, ctx: _Context, where: str) -> SpectrumPlan:
    if not isinstance(item, dict):
        raise ctx.fail(where, "must be a table ([[entries.spectra]])")
    path = ctx.path(f"{where}.file", item.get("file"))
    try:
        edge = parse_edge(_require(item, "edge", str, ctx, where))
    except ValueError as exc:
        raise ctx.fail(f"{where}.edge", str(exc)) from None
    try:  # the parse of import --type, so a manifest gets the same message (NEXAFS: give XANES)
        spectrum_type = parse_spectrum_type(str(item.get("type", SpectrumType.XANES.value)))
    except ValueError as exc:
        raise ctx.fail(f"{where}.type", str(exc)) from None
    columns = item.get("columns", [0, 1])
    if not (isinstance(columns, list) and len(columns) == 2 and all(isinstance(c, int) and c >= 0 for c in columns)):
        raise ctx.fail(f"{where}.columns", "must be two column indices [energy, intensity], from 0")
    energy, intensity, lines = _spectrum_arrays(path, columns, ctx, where)
    try:
        spectrum = SpectrumData(
            energy_ev=energy, intensity=intensity, absorbing_element=element, edge=edge,
            spectrum_type=spectrum_type, polarization=str(item.get("polarization", "iso")),
        )
    except InvalidArrays as exc:
        line = f"line {lines[exc.point]}" if exc.point is not None and exc.point < len(lines) else None
        raise InputError(path, str(exc), where=line) from None
    except ValueError as exc:
        raise ctx.fail(where, str(exc)) from None
    try:
        # computed spectra: the wider tolerance of repository.edges (absolute scales are offset)
        check_edge(spectrum.absorbing_element, spectrum.edge.value, spectrum.energy_ev, spectrum.intensity,
                   computed=True, kev_advice=CALCSET_KEV_ADVICE)
    except EdgeMismatch as exc:
        raise InputError(path, f"{exc} ({where}, absorber {element})") from None
    digest = content_hash(spectrum, structure_hash=structure_digest, absorber_site_index=site,
                          extra={"method": calculation.get("method"), "code": calculation.get("code")})
    return SpectrumPlan(spectrum=spectrum, content_hash=digest, source_file=str(path.relative_to(ctx.root)),
                        source_sha256=ctx.sha256(path), absorber_site_index=site, absorber_multiplicity=multiplicity,
                        absorber_cn=cn, absorber_defect_distance_a=distance)


def _read_dos(item: Any, structure, ctx: _Context, where: str) -> list[DosPlan]:
    if not isinstance(item, dict):
        raise ctx.fail(where, "must be a table ([[entries.dos]])")
    path = ctx.path(f"{where}.file", item.get("file"))
    projection = _choice(DosProjection, item.get("projection", "total"), ctx, f"{where}.projection", "projection")
    orbitals = item.get("orbitals", ["total"])
    if not isinstance(orbitals, list) or not orbitals:
        raise ctx.fail(f"{where}.orbitals", "must be a list of orbital names, one per column after the energy")
    orbitals = [_choice(Orbital, o, ctx, f"{where}.orbitals", "orbital") for o in orbitals]
    spin = _choice(Spin, item.get("spin", "total"), ctx, f"{where}.spin", "spin")
    site = item.get("site_index")
    element = item.get("element")
    if projection == "site":
        if not isinstance(site, int) or not 0 <= site < len(structure):
            raise ctx.fail(f"{where}.site_index", f"must be a site index from 0 to {len(structure) - 1}")
        element = element or structure[site].specie.symbol
    if projection == "element" and not isinstance(element, str):
        raise ctx.fail(f"{where}.element", "is required for an element-projected DOS")
    fermi = item.get("fermi_energy_ev")
    if fermi is not None and (isinstance(fermi, bool) or not isinstance(fermi, (int, float)) or not math.isfinite(fermi)):
        raise ctx.fail(f"{where}.fermi_energy_ev", "must be a finite number")
    table, lines = read_numeric_table(path)
    if table.shape[1] != len(orbitals) + 1:
        raise InputError(path, f"has {table.shape[1]} columns but {where}.orbitals names {len(orbitals)} (+1 energy column)")
    plans = []
    for column, orbital in enumerate(orbitals, start=1):
        try:
            energy, density = validated_arrays(table[:, 0], table[:, column], intensity_name=f"DOS column {orbital}")
        except InvalidArrays as exc:
            line = f"line {lines[exc.point]}" if exc.point is not None else None
            raise InputError(path, str(exc), where=line) from None
        plans.append(DosPlan(projection=projection, element=element, site_index=site if projection == "site" else None,
                             orbital=orbital, spin=spin, fermi_energy_ev=None if fermi is None else float(fermi),
                             energy_ev=energy, density=density, source_file=str(path.relative_to(ctx.root))))
    return plans


def _read_descriptor(item: Any, structure, ctx: _Context, where: str) -> DescriptorPlan:
    if not isinstance(item, dict):
        raise ctx.fail(where, "must be a table ([[entries.descriptors]])")
    name = _require(item, "name", str, ctx, where)
    value = _require(item, "value", (int, float), ctx, where)
    if not math.isfinite(value):
        raise ctx.fail(f"{where}.value", "must be a finite number")
    site = _require(item, "site_index", int, ctx, where, optional=True)
    if site is not None and not 0 <= site < len(structure):
        raise ctx.fail(f"{where}.site_index", f"must be a site index from 0 to {len(structure) - 1}")
    return DescriptorPlan(name=name, value=float(value), unit=_require(item, "unit", str, ctx, where, optional=True),
                          method=_require(item, "method", str, ctx, where, optional=True), site_index=site)
