"""Writing import plans into the database, atomically and idempotently.

The readers (``repository.calcset``, ``repository.formats``) produce complete, validated plans; the
functions here write a plan in ONE transaction. Re-importing the same content changes nothing:
sets are identified by name and manifest hash, entries by key and content hash, structures and
spectra by content hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .arrays import to_blob
from .calcset import CalcSetPlan, EntryPlan, StructurePlan
from .conventions import DefectKind
from .db import driver_message
from .errors import InputError, UsageError
from .limits import excerpt
from .models import (
    DEFECT_FREE_BY_FILE,
    DEFECT_FREE_BY_OPTION,
    Calculation,
    CalculationSet,
    Defect,
    Descriptor,
    Dos,
    Spectrum,
    SpectrumCalculation,
    SpectrumDefect,
    SpectrumDefectFree,
    Structure,
    utc_now,
)
from .values import ContextDefect, SpectrumRecord, content_hash, context_defect, context_defect_free

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

# Keep IN (...) lists below SQLite's default bound-parameter limit.
_IN_CHUNK = 500


@dataclass
class ImportSummary:
    """What an import did; ``changed`` is False when the database was left as it was."""

    name: str
    status: str  # "imported" | "extended" | "unchanged"
    entries_new: int = 0
    entries_skipped: int = 0
    structures_new: int = 0
    spectra_new: int = 0
    spectra_existing: int = 0
    dos_new: int = 0
    descriptors_new: int = 0
    links_new: int = 0  # (spectrum, calculation) links to spectra another calculation brought first
    spectrum_ids: list[int] = field(default_factory=list)
    # spectra already in the database: (source file, existing spectrum id), in reading order
    already_present: list[tuple[str, int]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.status != "unchanged"


def spectrum_data_hash(element: str, edge: str, energy_ev: np.ndarray, intensity: np.ndarray) -> str:
    """SHA-256 identifying a spectrum by what it is: absorbing element, edge, and the energy (eV) and
    intensity arrays as stored (float64, little-endian; :func:`repository.arrays.to_blob`). Files,
    samples and calculations do not enter it: the same data re-imported from an export is found.
    Migration 0005 fills ``spectrum.data_hash`` with the same formula."""
    digest = hashlib.sha256(f"{element}|{edge}|".encode())
    digest.update(to_blob(energy_ev))
    digest.update(to_blob(intensity))
    return digest.hexdigest()


def spectroscopy_of(metadata: dict[str, Any]) -> str:
    """The spectroscopy kind of a record from its metadata (``spectroscopy``, or FEFF's), XAS by default."""
    from .conventions import Spectroscopy

    feff = metadata.get("feff") if isinstance(metadata.get("feff"), dict) else {}
    value = str(metadata.get("spectroscopy") or feff.get("spectroscopy") or "XAS").upper()
    try:
        return Spectroscopy(value).value
    except ValueError:
        raise UsageError(f"unknown spectroscopy {value!r} (expected one of "
                         f"{', '.join(k.value for k in Spectroscopy)})") from None


def _link(conn: "Connection", pairs: list[dict[str, int]]) -> int:
    """INSERT (spectrum_id, calculation_id) pairs, skipping those already there; returns how many were new."""
    if not pairs:
        return 0
    table = SpectrumCalculation.__table__
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    statement = dialect_insert(table).on_conflict_do_nothing(
        index_elements=["spectrum_id", "calculation_id"]).returning(table.c.spectrum_id)
    # RETURNING gives the inserted rows only (rowcount of an executemany is -1 on psycopg)
    return len(conn.execute(statement, pairs).all())


def _existing_ids(conn: "Connection", column, values: Sequence[str]) -> dict[str, int]:
    from sqlalchemy import select

    table = column.table
    found: dict[str, int] = {}
    values = list(values)
    for start in range(0, len(values), _IN_CHUNK):
        chunk = values[start:start + _IN_CHUNK]
        for value, row_id in conn.execute(select(column, table.c.id).where(column.in_(chunk))):
            found[value] = row_id
    return found


def _structure_row(plan: StructurePlan) -> dict[str, Any]:
    p = plan.properties
    return dict(content_hash=plan.content_hash, structure_json=plan.structure_json,
                reduced_formula=p.reduced_formula, elements=",".join(p.elements), nelements=p.nelements,
                nsites=p.nsites, spacegroup_number=p.spacegroup_number, spacegroup_symbol=p.spacegroup_symbol,
                crystal_system=p.crystal_system, dimensionality=p.dimensionality, density_g_cm3=p.density_g_cm3,
                volume_per_atom_a3=p.volume_per_atom_a3, polymorph=plan.polymorph, relaxation=plan.relaxation)


def _insert_spectra(conn: "Connection", rows: list[dict[str, Any]]) -> set[str]:
    """INSERT spectrum rows ON CONFLICT (content_hash) DO NOTHING, as one executemany; returns the
    content hashes actually inserted (a concurrent import may have committed some meanwhile)."""
    if not rows:
        return set()
    table = Spectrum.__table__
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    statement = dialect_insert(table).on_conflict_do_nothing(index_elements=["content_hash"]).returning(
        table.c.content_hash)
    return {row[0] for row in conn.execute(statement, rows)}


def _insert_ignoring_duplicates(conn: "Connection", table, rows: list[dict[str, Any]], key: str | list[str]) -> int:
    """INSERT ... ON CONFLICT (key) DO NOTHING; returns how many rows were inserted.

    Concurrent importers sharing a structure or spectrum then neither fail nor duplicate it: on
    PostgreSQL the second waits for the first to commit and skips the row.
    """
    if not rows:
        return 0
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    keys = [key] if isinstance(key, str) else key
    statement = dialect_insert(table).on_conflict_do_nothing(index_elements=keys).returning(table.c.id)
    return sum(len(conn.execute(statement.values(**row)).fetchall()) for row in rows)


def _ensure_structures(conn: "Connection", plans: Iterable[StructurePlan], summary: ImportSummary) -> dict[str, int]:
    table = Structure.__table__
    plans = list(plans)
    ids = _existing_ids(conn, table.c.content_hash, [p.content_hash for p in plans])
    missing = [_structure_row(p) for p in plans if p.content_hash not in ids]
    summary.structures_new += _insert_ignoring_duplicates(conn, table, missing, "content_hash")
    ids.update(_existing_ids(conn, table.c.content_hash, [row["content_hash"] for row in missing]))
    return ids


def import_calcset(engine: "Engine", plan: CalcSetPlan, progress: Callable[[int, int], None] | None = None) -> ImportSummary:
    """Write a validated calculation set in one transaction (see the module docstring).

    Idempotent under concurrency too: two processes importing the same set at once both succeed,
    one reporting "imported", the other "unchanged". Raises :class:`UsageError` when another
    writer collides with this import on a unique key at the same time (run it again).
    """
    from sqlalchemy.exc import IntegrityError

    summary = ImportSummary(name=plan.name, status="imported")
    try:
        return _import_calcset(engine, plan, progress, summary)
    except IntegrityError as err:
        # The set's own row is claimed race-free below; another concurrent writer could still
        # collide on some other unique key. Report that as one line, not a driver traceback.
        raise UsageError(f"another import changed set {plan.name!r} at the same time; run the import again "
                         f"({driver_message(err)})") from None


def _claim_set(conn: "Connection", plan: CalcSetPlan):
    """The set's (id, manifest_hash) row, inserting it when absent; returns (row, inserted).

    INSERT ... ON CONFLICT (name) DO NOTHING instead of SELECT-then-INSERT: when two processes
    import the same set at once, PostgreSQL (READ COMMITTED) makes the second INSERT wait for the
    first transaction and then do nothing; the row, committed by then, is read back and the import
    continues as for an existing set. SQLite writers are already serialised by BEGIN IMMEDIATE.
    """
    from sqlalchemy import select

    sets = CalculationSet.__table__
    query = select(sets.c.id, sets.c.manifest_hash).where(sets.c.name == plan.name)
    row = conn.execute(query).first()
    if row is not None:
        return row, False
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    statement = dialect_insert(sets).values(
        name=plan.name, description=plan.description, source=plan.source,
        provenance_json=json.dumps(plan.provenance, sort_keys=True, default=str),
        manifest_hash=plan.manifest_hash, imported_at=utc_now(),
    ).on_conflict_do_nothing(index_elements=["name"]).returning(sets.c.id, sets.c.manifest_hash)
    inserted = conn.execute(statement).first()
    if inserted is not None:
        return inserted, True
    row = conn.execute(query).first()  # a new statement: sees the concurrent writer's committed row
    if row is None:  # pragma: no cover - the conflicting row was deleted meanwhile
        raise UsageError(f"another process changed set {plan.name!r} at the same time; run the import again")
    return row, False


def _import_calcset(engine: "Engine", plan: CalcSetPlan, progress, summary: ImportSummary) -> ImportSummary:
    from sqlalchemy import insert, select, update

    sets = CalculationSet.__table__
    calculations = Calculation.__table__
    with engine.begin() as conn:
        claimed, inserted = _claim_set(conn, plan)
        row = None if inserted else claimed
        if row is not None and row.manifest_hash == plan.manifest_hash:
            summary.status = "unchanged"
            summary.entries_skipped = len(plan.entries)
            return summary
        if row is None:
            set_id = claimed.id
            known_entries: dict[str, str] = {}
        else:
            set_id = row.id
            summary.status = "extended"
            known_entries = {key: digest for key, digest in conn.execute(
                select(calculations.c.entry_key, calculations.c.entry_hash).where(calculations.c.calculation_set_id == set_id))}

        new_entries: list[EntryPlan] = []
        for entry in plan.entries:
            if entry.key in known_entries:
                stored_hash = known_entries[entry.key]
                if stored_hash != entry.entry_hash:
                    stored = _stored_entry(conn, set_id, entry.key)
                    if stored_hash == entry.legacy_hash:
                        # imported before the labels took part in the entry hash: compare them with
                        # the stored structure row (what this import would store for the structure)
                        structure = plan.structures[entry.structure_hash]
                        change = _first_change(stored, {"polymorph": structure.polymorph,
                                                        "relaxation": structure.relaxation})
                    else:
                        change = _entry_change(stored, entry) or "its spectra, DOS or descriptors"
                    if change is not None:
                        raise InputError(plan.name, f"entry {entry.key!r} changed since it was imported ({change}); "
                                                    "give the changed set a new name (imported data are immutable)",
                                         where="calcset.toml")
                summary.entries_skipped += 1
            else:
                new_entries.append(entry)
        if row is not None:
            if not new_entries:
                # The set's own fields follow the set as it grows (a campaign's provenance counts its
                # entries), so they are replaced only together with new entries; an edit of them alone
                # would be lost, and is refused like an edited entry.
                stored_set = conn.execute(select(sets.c.description, sets.c.source, sets.c.provenance_json)
                                          .where(sets.c.id == set_id)).one()
                change = _set_change(stored_set, plan)
                if change is not None:
                    raise InputError(plan.name, f"set {change}; no entry was added, so the edit would be "
                                                "lost: give the changed set a new name (imported data are immutable)",
                                     where="calcset.toml")
                summary.status = "unchanged"
                return summary  # nothing written: not even the manifest hash of a reformatted manifest
            conn.execute(update(sets).where(sets.c.id == set_id).values(
                manifest_hash=plan.manifest_hash, description=plan.description, source=plan.source,
                provenance_json=json.dumps(plan.provenance, sort_keys=True, default=str)))
        elif not new_entries:
            return summary

        needed = {e.structure_hash for e in new_entries} | {e.defect.host_hash for e in new_entries
                                                            if e.defect and e.defect.host_hash}
        structure_ids = _ensure_structures(conn, (plan.structures[h] for h in sorted(needed)), summary)
        existing_spectra = _existing_ids(conn, Spectrum.__table__.c.content_hash,
                                         [s.content_hash for e in new_entries for s in e.spectra])
        spectrum_rows, dos_rows, descriptor_rows, calculation_rows = [], [], [], []
        defect_ids: dict[tuple, int] = {}
        for entry in new_entries:
            structure_id = structure_ids[entry.structure_hash]
            defect_id = _ensure_defect(conn, entry, structure_id, structure_ids, defect_ids)
            calc = entry.calculation
            calculation_rows.append(dict(
                calculation_set_id=set_id, entry_key=entry.key, entry_hash=entry.entry_hash,
                structure_id=structure_id, defect_id=defect_id, code=calc["code"],
                code_version=calc.get("code_version"), method=calc["method"], functional=calc.get("functional"),
                parameters_json=json.dumps(calc.get("parameters", {}), sort_keys=True, default=str),
                broadening_ev=calc.get("broadening_ev"), energy_reference=calc.get("energy_reference"),
                alignment=calc.get("alignment"), alignment_shift_ev=calc.get("alignment_shift_ev"),
                source=calc.get("source")))
        # One executemany with RETURNING (ids in row order) instead of a statement per entry: a
        # per-row INSERT ... VALUES was two thirds of the write time for 10,000 entries.
        calculation_ids = [row.id for row in conn.execute(
            insert(calculations).returning(calculations.c.id, sort_by_parameter_order=True), calculation_rows)]
        imported_at = utc_now()
        link_hashes: list[tuple[str, int]] = []  # (content hash, calculation id) of every spectrum of every entry
        for number, (entry, calculation_id) in enumerate(zip(new_entries, calculation_ids, strict=True)):
            structure_id = structure_ids[entry.structure_hash]
            summary.entries_new += 1
            for sp in entry.spectra:
                link_hashes.append((sp.content_hash, calculation_id))
                if sp.content_hash in existing_spectra:
                    summary.spectra_existing += 1
                    continue
                existing_spectra[sp.content_hash] = -1
                s = sp.spectrum
                spectrum_rows.append(dict(
                    content_hash=sp.content_hash, origin=s.origin.value, calculation_id=calculation_id,
                    structure_id=structure_id, absorbing_element=s.absorbing_element, edge=s.edge.value,
                    spectrum_type=s.spectrum_type.value, polarization=s.polarization,
                    absorber_site_index=sp.absorber_site_index, absorber_multiplicity=sp.absorber_multiplicity,
                    absorber_cn=sp.absorber_cn, absorber_defect_distance_a=sp.absorber_defect_distance_a,
                    n_points=s.n_points, energy_min_ev=float(s.energy_ev[0]), energy_max_ev=float(s.energy_ev[-1]),
                    energy_ev=to_blob(s.energy_ev), intensity=to_blob(s.intensity), source_file=sp.source_file,
                    source_sha256=sp.source_sha256, metadata_json="{}", imported_at=imported_at,
                    data_hash=spectrum_data_hash(s.absorbing_element, s.edge.value, s.energy_ev, s.intensity),
                    spectroscopy="XAS"))
            for d in entry.dos:
                dos_rows.append(dict(calculation_id=calculation_id, projection=d.projection, element=d.element,
                                     site_index=d.site_index, orbital=d.orbital, spin=d.spin,
                                     fermi_energy_ev=d.fermi_energy_ev, n_points=int(d.energy_ev.size),
                                     energy_ev=to_blob(d.energy_ev), density=to_blob(d.density),
                                     source_file=d.source_file))
            for d in entry.descriptors:
                descriptor_rows.append(dict(calculation_id=calculation_id, structure_id=structure_id,
                                            site_index=d.site_index, name=d.name, value=d.value, unit=d.unit,
                                            method=d.method))
            if progress:
                progress(number + 1, len(new_entries))
        # Spectra shared with a concurrent import of another set: ON CONFLICT DO NOTHING (that
        # import's row is linked below), never a unique-key failure.
        new_hashes = _insert_spectra(conn, spectrum_rows)
        summary.spectra_existing += len(spectrum_rows) - len(new_hashes)
        for table, rows in ((Dos.__table__, dos_rows), (Descriptor.__table__, descriptor_rows)):
            if rows:
                conn.execute(insert(table), rows)
        summary.spectra_new = len(new_hashes)
        summary.dos_new = len(dos_rows)
        summary.descriptors_new = len(descriptor_rows)
        all_ids = _existing_ids(conn, Spectrum.__table__.c.content_hash, sorted({h for h, _ in link_hashes}))
        summary.spectrum_ids = sorted(all_ids[h] for h in new_hashes)
        linked = _link(conn, [{"spectrum_id": all_ids[h], "calculation_id": c} for h, c in link_hashes])
        summary.links_new = linked - len(new_hashes)  # each new spectrum's own first link is not "another" link
    return summary


# The stored fields of an entry that a re-import compares, as (name shown, stored column).
_ENTRY_FIELDS = ("structure", "polymorph", "relaxation", "code", "code_version", "method", "functional",
                 "parameters", "broadening_ev", "energy_reference", "alignment", "alignment_shift_ev", "source",
                 "defect.kind", "defect.name", "defect.species", "defect.charge", "defect.supercell",
                 "defect.position_frac", "defect.host_structure")


def _set_change(stored, plan: CalcSetPlan) -> str | None:
    """``"FIELD changed since it was imported (stored X, now Y)"`` for the first of the set's
    description, source and provenance (by key) that differs from the stored row, else None."""
    for name in ("description", "source"):
        old, new = getattr(stored, name), getattr(plan, name)
        if old != new:
            return f"{name} changed since it was imported (stored {excerpt(old)}, now {excerpt(new)})"
    old_provenance = json.loads(stored.provenance_json or "{}")
    new_provenance = json.loads(json.dumps(plan.provenance, sort_keys=True, default=str))
    for key in sorted(set(old_provenance) | set(new_provenance)):
        if old_provenance.get(key) != new_provenance.get(key):
            return (f"provenance.{key} changed since it was imported (stored {excerpt(old_provenance.get(key))}, "
                    f"now {excerpt(new_provenance.get(key))})")
    return None


def _stored_entry(conn: "Connection", set_id: int, key: str) -> dict[str, Any]:
    """The stored values of entry ``key`` of set ``set_id``, named as in :data:`_ENTRY_FIELDS`."""
    from sqlalchemy import select

    c, st, df = Calculation.__table__, Structure.__table__, Defect.__table__
    host = Structure.__table__.alias("host")
    row = conn.execute(
        select(st.c.content_hash, st.c.polymorph, st.c.relaxation, c.c.code, c.c.code_version, c.c.method,
               c.c.functional, c.c.parameters_json, c.c.broadening_ev, c.c.energy_reference, c.c.alignment,
               c.c.alignment_shift_ev, c.c.source, df.c.id.label("defect_id"), df.c.kind, df.c.name, df.c.species,
               df.c.charge, df.c.supercell, df.c.position_key, host.c.content_hash.label("host_hash"))
        .select_from(c.join(st, st.c.id == c.c.structure_id).outerjoin(df, df.c.id == c.c.defect_id)
                     .outerjoin(host, host.c.id == df.c.host_structure_id))
        .where(c.c.calculation_set_id == set_id, c.c.entry_key == key)).mappings().one()
    stored = {"structure": row["content_hash"], "polymorph": row["polymorph"], "relaxation": row["relaxation"],
              "parameters": json.loads(row["parameters_json"] or "{}")}
    stored.update({name: row[name] for name in ("code", "code_version", "method", "functional", "broadening_ev",
                                                "energy_reference", "alignment", "alignment_shift_ev", "source")})
    has_defect = row["defect_id"] is not None
    for name, column in (("kind", "kind"), ("name", "name"), ("species", "species"), ("charge", "charge"),
                         ("supercell", "supercell"), ("position_frac", "position_key"), ("host_structure", "host_hash")):
        value = row[column] if has_defect else None
        stored[f"defect.{name}"] = (value or None) if name == "position_frac" else value
    return stored


def _entry_values(entry: EntryPlan) -> dict[str, Any]:
    """The values ``entry`` would store, named as in :data:`_ENTRY_FIELDS`."""
    calc = entry.calculation
    values: dict[str, Any] = {"structure": entry.structure_hash, "polymorph": entry.polymorph,
                              "relaxation": entry.relaxation,
                              "parameters": json.loads(json.dumps(calc.get("parameters", {}), sort_keys=True, default=str))}
    values.update({name: calc.get(name) for name in ("code", "code_version", "method", "functional", "broadening_ev",
                                                      "energy_reference", "alignment", "alignment_shift_ev", "source")})
    d = entry.defect
    values.update({"defect.kind": d and d.kind, "defect.name": d and d.name, "defect.species": d and d.species,
                   "defect.charge": d and d.charge, "defect.supercell": d and d.supercell,
                   "defect.position_frac": (d.position_key or None) if d else None,
                   "defect.host_structure": d and d.host_hash})
    return values


def _first_change(stored: dict[str, Any], values: dict[str, Any]) -> str | None:
    """``"FIELD: stored X, now Y"`` for the first of ``values`` that differs from ``stored``, else None."""
    for name, value in values.items():
        old = stored.get(name)
        if isinstance(old, float) or isinstance(value, float):
            same = old is not None and value is not None and float(old) == float(value)
        else:
            same = old == value
        if not same:
            if name in ("structure", "defect.host_structure"):  # content hashes say nothing to a reader
                return f"{name}: a different structure file content"
            return f"{name}: stored {excerpt(old)}, now {excerpt(value)}"
    return None


def _entry_change(stored: dict[str, Any], entry: EntryPlan) -> str | None:
    """What differs between a stored entry and ``entry`` among :data:`_ENTRY_FIELDS` (None: only the
    spectra, DOS or descriptors can have changed)."""
    values = _entry_values(entry)
    return _first_change(stored, {name: values[name] for name in _ENTRY_FIELDS})


def _ensure_defect(conn, entry: EntryPlan, structure_id: int, structure_ids: dict[str, int], cache: dict) -> int | None:
    from sqlalchemy import select

    if entry.defect is None:
        return None
    d = entry.defect
    identity = (structure_id, d.name, d.charge, d.position_key)
    if identity in cache:
        return cache[identity]
    table = Defect.__table__
    found = conn.execute(select(table.c.id).where(
        table.c.structure_id == structure_id, table.c.name == d.name, table.c.charge == d.charge,
        table.c.position_key == d.position_key)).scalar()
    if found is None:  # ON CONFLICT: a concurrent import of another set may add the same defect
        _insert_ignoring_duplicates(conn, table, [dict(
            structure_id=structure_id, host_structure_id=structure_ids.get(d.host_hash) if d.host_hash else None,
            kind=d.kind, name=d.name, species=d.species, charge=d.charge, supercell=d.supercell,
            position_frac=d.position_key or None, position_key=d.position_key)],
            ["structure_id", "name", "charge", "position_key"])
        found = conn.execute(select(table.c.id).where(
            table.c.structure_id == structure_id, table.c.name == d.name, table.c.charge == d.charge,
            table.c.position_key == d.position_key)).scalar()
    cache[identity] = found
    return found


def _file_defect(conn: "Connection", structure_id: int, defect: ContextDefect) -> int:
    """The id of ``defect`` on structure ``structure_id``: the stored defect of that name, charge and
    kind when there is exactly one (a calculation set's, with its position and host), else the row
    without a position, inserted when absent. Revision 0008 links older imports the same way."""
    from sqlalchemy import select

    table = Defect.__table__
    same = (table.c.structure_id == structure_id, table.c.name == defect.name, table.c.charge == defect.charge)
    ids = list(conn.execute(select(table.c.id).where(*same, table.c.kind == defect.kind)).scalars())
    if len(ids) == 1:
        return ids[0]
    unplaced = select(table.c.id).where(*same, table.c.position_key == "")
    found = conn.execute(unplaced).scalar()
    if found is None:
        _insert_ignoring_duplicates(conn, table, [dict(structure_id=structure_id, kind=defect.kind, name=defect.name,
                                                       charge=defect.charge, position_key="")],
                                    ["structure_id", "name", "charge", "position_key"])
        found = conn.execute(unplaced).scalar_one()
    return found


def _refuse_restated_defect_free(conn: "Connection", prepared: list[tuple], existing: dict[str, int],
                                 by_data: dict[str, int]) -> None:
    """Raise :class:`InputError` naming the file for a record stated defect-free by the user
    (``SpectrumRecord.defect_free``, ``import --defect-free``) whose data are already stored as a
    spectrum whose ``defect_kind`` is not ``'none'`` (unknown, or a defect).

    An import never changes a stored spectrum, so the statement would be dropped without a word; a
    stored ``'none'`` agrees and passes. The stored status is read from ``spectrum_overview``, the
    one place that decides ``defect_kind``. Nothing is written here."""
    from sqlalchemy import bindparam, text

    stated: dict[int, SpectrumRecord] = {}
    for record, _, _, spectrum_hash, data_digest, _ in prepared:
        found = existing.get(spectrum_hash) or by_data.get(data_digest)
        if record.defect_free and found:
            stated.setdefault(found, record)
    if not stated:
        return
    query = text("SELECT spectrum_id, defect_kind FROM spectrum_overview WHERE spectrum_id IN :ids").bindparams(
        bindparam("ids", expanding=True))
    ids = sorted(stated)
    kinds: dict[int, str | None] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        rows = conn.execute(query, {"ids": ids[start:start + _IN_CHUNK]})
        kinds.update((row.spectrum_id, row.defect_kind) for row in rows)
    for spectrum_id in ids:
        kind = kinds.get(spectrum_id)
        if kind != DefectKind.NONE.value:
            raise InputError(stated[spectrum_id].source_file or "?",
                             f"--defect-free: the same data are already stored as spectrum {spectrum_id}, whose "
                             f"defect.kind is {kind or 'unknown'}; an import never changes a stored spectrum "
                             "(imported data are immutable), so the statement is refused rather than lost")


def import_records(engine: "Engine", records: Sequence[SpectrumRecord]) -> ImportSummary:
    """Write spectra read from data files (experimental or computed without a calculation set).

    A record with a structure whose metadata context names a defect (``defect_kind``,
    ``defect_name``, ``defect_charge``: what ``xasrepo export`` writes) gets that defect
    (:func:`~repository.values.context_defect`; table ``spectrum_defect``), so an exported defect
    spectrum imported again is not pristine; the context's ``polymorph`` labels a new structure. A
    record with a structure stated to have no defect, by its context (``defect_kind`` ``none``, as
    ``xasrepo export`` writes for a pristine structure) or by the user (``record.defect_free``,
    ``import --defect-free``), gets a ``spectrum_defect_free`` row: only then is its ``defect_kind``
    ``'none'``; a structure nothing is said about has an unknown defect status (NULL).

    One transaction for all records. A spectrum already present, by its content hash or by its data
    (:func:`spectrum_data_hash`: element, edge and arrays, whatever file it came in), is not written
    again; ``summary.already_present`` names each such file with the existing spectrum's id.

    Raises :class:`InputError` (naming the file; nothing written) for a record stated defect-free
    that has no structure or whose context names a defect, and for one whose data are already
    stored with another defect status (:func:`_refuse_restated_defect_free`).
    """
    from sqlalchemy import insert

    from .calcset import StructurePlan
    from .structures import analyze, coordination_number, structure_hash, structure_json

    summary = ImportSummary(name=", ".join(sorted({r.source_file or "?" for r in records}))[:200], status="imported")
    structure_plans: dict[str, StructurePlan] = {}
    defects: dict[str, tuple[str, ContextDefect]] = {}  # spectrum content hash -> (structure hash, defect)
    defect_free: dict[str, str] = {}  # spectrum content hash -> who stated "no defect" (SpectrumDefectFree.stated_by)
    prepared = []
    for record in records:
        digest = None
        cn = None
        if record.structure is not None:
            digest = structure_hash(record.structure)
            if digest not in structure_plans:
                # an xasrepo export names the structure's polymorph in its context: keep it on re-import
                context = record.metadata.get("context") if isinstance(record.metadata.get("context"), dict) else {}
                polymorph = context.get("polymorph")
                # (the column holds 64 characters; a longer one stays in the metadata only)
                polymorph = polymorph.strip() if isinstance(polymorph, str) and 0 < len(polymorph.strip()) <= 64 else None
                structure_plans[digest] = StructurePlan(digest, structure_json(record.structure),
                                                        analyze(record.structure), polymorph, None)
            if record.absorber_site_index is not None:
                cn = coordination_number(record.structure, record.absorber_site_index)
        extra = {"sample": record.sample.sample_name, "source_sha256": record.source_sha256}
        s = record.spectrum
        spectrum_hash = content_hash(s, structure_hash=digest, absorber_site_index=record.absorber_site_index,
                                     extra=extra)
        # A file's defect can only be stored on its structure; without one the context stays in the
        # metadata and the spectrum has no defect.kind at all (never 'none': nothing says pristine).
        # With a structure, 'none' too needs a statement (the context's, or the user's): a FEFF run's
        # POSCAR or a JSON file from elsewhere may be a vacancy supercell.
        if record.defect_free and digest is None:
            raise InputError(record.source_file or "?", "--defect-free: the file has no structure to state it of")
        if digest is not None:
            found = context_defect(record.metadata, record.source_file)
            if found is not None and record.defect_free:
                raise InputError(record.source_file or "?", f"--defect-free contradicts the file's metadata.context: "
                                                            f"defect_kind {found.kind!r}, defect_name {found.name!r}")
            if found is not None:
                defects[spectrum_hash] = (digest, found)
            elif record.defect_free:
                defect_free[spectrum_hash] = DEFECT_FREE_BY_OPTION
            elif context_defect_free(record.metadata):
                defect_free[spectrum_hash] = DEFECT_FREE_BY_FILE
        prepared.append((record, digest, cn, spectrum_hash,
                         spectrum_data_hash(s.absorbing_element, s.edge.value, s.energy_ev, s.intensity),
                         spectroscopy_of(record.metadata)))
    with engine.begin() as conn:
        existing = _existing_ids(conn, Spectrum.__table__.c.content_hash, [p[3] for p in prepared])
        by_data = _existing_ids(conn, Spectrum.__table__.c.data_hash, [p[4] for p in prepared])
        _refuse_restated_defect_free(conn, prepared, existing, by_data)  # before anything is written
        structure_ids = _ensure_structures(conn, structure_plans.values(), summary) if structure_plans else {}
        rows = []
        for record, digest, cn, spectrum_hash, data_digest, spectroscopy in prepared:
            found = existing.get(spectrum_hash) or by_data.get(data_digest)
            if found is not None:
                summary.spectra_existing += 1
                if found > 0:
                    summary.already_present.append((record.source_file or "?", found))
                continue
            existing[spectrum_hash] = -1
            by_data[data_digest] = -1
            s, sample = record.spectrum, record.sample
            metadata = {k: v for k, v in record.metadata.items() if k != "import_warnings"}
            if record.metadata.get("import_warnings"):
                metadata["import_warnings"] = record.metadata["import_warnings"]  # provenance: what was changed
            rows.append(dict(
                content_hash=spectrum_hash, origin=s.origin.value, calculation_id=None,
                structure_id=structure_ids.get(digest), absorbing_element=s.absorbing_element, edge=s.edge.value,
                spectrum_type=s.spectrum_type.value, polarization=s.polarization,
                absorber_site_index=record.absorber_site_index, absorber_multiplicity=None, absorber_cn=cn,
                absorber_defect_distance_a=None, n_points=s.n_points, energy_min_ev=float(s.energy_ev[0]),
                energy_max_ev=float(s.energy_ev[-1]), energy_ev=to_blob(s.energy_ev), intensity=to_blob(s.intensity),
                sample_name=sample.sample_name, facility=sample.facility, beamline=sample.beamline,
                measurement_mode=sample.measurement_mode, calibration_shift_ev=sample.calibration_shift_ev,
                temperature_k=sample.temperature_k, source_file=record.source_file,
                source_sha256=record.source_sha256, data_hash=data_digest, spectroscopy=spectroscopy,
                metadata_json=json.dumps(metadata, sort_keys=True, default=str), imported_at=utc_now()))
        inserted = _insert_spectra(conn, rows)  # a concurrent import of the same file: skipped, not failed
        summary.spectra_new = len(inserted)
        summary.spectra_existing += len(rows) - len(inserted)
        new_ids = _existing_ids(conn, Spectrum.__table__.c.content_hash, sorted(inserted))
        summary.spectrum_ids = sorted(new_ids.values())
        links = [{"spectrum_id": new_ids[h], "defect_id": _file_defect(conn, structure_ids[defects[h][0]], defects[h][1])}
                 for h in sorted(inserted) if h in defects]
        if links:
            conn.execute(insert(SpectrumDefect.__table__), links)
        stated = [{"spectrum_id": new_ids[h], "stated_by": defect_free[h]}
                  for h in sorted(inserted) if h in defect_free]
        if stated:
            conn.execute(insert(SpectrumDefectFree.__table__), stated)
        if not inserted:
            summary.status = "unchanged"
    return summary
