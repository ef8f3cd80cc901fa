"""Reading what is in the repository: listings, single records with their links, arrays."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import text

from .arrays import from_blob
from .errors import NotFoundError, UsageError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

LIST_COLUMNS = ("spectrum_id", "origin", "reduced_formula", "polymorph", "spacegroup_symbol", "defect_name",
                "absorbing_element", "edge", "spectrum_type", "polarization", "absorber_site_index",
                "absorber_cn", "calculation_set", "sample_name")
RECORD_KINDS = ("spectrum", "structure", "calculation", "set")


def _list_where(element: str | None, edge: str | None, origin: str | None) -> tuple[str, dict[str, Any]]:
    clauses, params = [], {}
    for column, value in (("absorbing_element", element), ("edge", edge), ("origin", origin)):
        if value is not None:
            clauses.append(f"{column} = :{column}")
            params[column] = value
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params


def count_spectra(engine: "Engine", *, element: str | None = None, edge: str | None = None,
                  origin: str | None = None) -> int:
    """How many spectra :func:`list_spectra` would list without a limit."""
    where, params = _list_where(element, edge, origin)
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT COUNT(*) FROM spectrum_overview {where}"), params).scalar())


def list_spectra(engine: "Engine", *, element: str | None = None, edge: str | None = None,
                 origin: str | None = None, limit: int | None = 50, offset: int = 0) -> list[dict[str, Any]]:
    """Rows of the ``spectrum_overview`` view (a subset of columns), newest schema, ordered by id."""
    where, params = _list_where(element, edge, origin)
    page = ""
    if limit is not None:
        page = " LIMIT :limit OFFSET :offset"
        params.update(limit=int(limit), offset=int(offset))
    sql = f"SELECT {', '.join(LIST_COLUMNS)} FROM spectrum_overview {where} ORDER BY spectrum_id{page}"
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(text(sql), params)]


def count_rows(engine: "Engine") -> dict[str, int]:
    """Row counts of the main tables (calculation_set, structure, defect, calculation, spectrum, dos,
    descriptor)."""
    tables = ("calculation_set", "structure", "defect", "calculation", "spectrum", "dos", "descriptor")
    with engine.connect() as conn:
        return {t: int(conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar()) for t in tables}


def parse_record_id(text_id: str) -> tuple[str, int]:
    """``12`` or ``spectrum:12`` -> ("spectrum", 12); also ``structure:3``, ``calculation:5``, ``set:1``.

    Raises :class:`UsageError` for any other form."""
    kind, _, number = text_id.rpartition(":")
    kind = kind or "spectrum"
    if kind not in RECORD_KINDS:
        raise UsageError(f"unknown record kind {kind!r} in {text_id!r} (expected {', '.join(RECORD_KINDS)})")
    try:
        return kind, int(number)
    except ValueError:
        raise UsageError(f"{text_id!r} is not an id (expected a number, e.g. 12 or structure:3)") from None


def _one(conn, sql: str, params: dict, what: str) -> dict[str, Any]:
    row = conn.execute(text(sql), params).first()
    if row is None:
        raise NotFoundError(f"no {what} with id {params.get('id')}")
    return dict(row._mapping)


def get_spectrum(engine: "Engine", spectrum_id: int, *, with_arrays: bool = True) -> dict[str, Any]:
    """A spectrum's overview row, its metadata, DOS list and descriptors, optionally its arrays."""
    with engine.connect() as conn:
        record = _one(conn, "SELECT * FROM spectrum_overview WHERE spectrum_id = :id", {"id": spectrum_id}, "spectrum")
        raw = _one(conn, "SELECT energy_ev, intensity, metadata_json, calibration_shift_ev, temperature_k, "
                         "source_sha256 FROM spectrum WHERE id = :id", {"id": spectrum_id}, "spectrum")
        record["metadata"] = json.loads(raw["metadata_json"] or "{}")
        record["calibration_shift_ev"] = raw["calibration_shift_ev"]
        record["temperature_k"] = raw["temperature_k"]
        record["source_sha256"] = raw["source_sha256"]
        if with_arrays:
            record["energy_ev"] = from_blob(raw["energy_ev"])
            record["intensity"] = from_blob(raw["intensity"])
        record["dos"] = []
        record["descriptors"] = []
        if record["calculation_id"] is not None:
            calc = _one(conn, "SELECT parameters_json, energy_reference, source FROM calculation WHERE id = :id",
                        {"id": record["calculation_id"]}, "calculation")
            record["parameters"] = json.loads(calc["parameters_json"])
            record["energy_reference"] = calc["energy_reference"]
            params = {"c": record["calculation_id"], "site": record["absorber_site_index"]}
            record["dos"] = [dict(r._mapping) for r in conn.execute(text(
                "SELECT id, projection, element, site_index, orbital, spin, n_points FROM dos "
                "WHERE calculation_id = :c ORDER BY id"), params)]
            record["descriptors"] = [dict(r._mapping) for r in conn.execute(text(
                "SELECT name, value, unit, method, site_index FROM descriptor WHERE calculation_id = :c "
                "AND (site_index = :site OR site_index IS NULL) ORDER BY name"), params)]
    return record


def get_structure(engine: "Engine", structure_id: int) -> dict[str, Any]:
    """A structure's typed columns with its defects and the spectra computed on it."""
    with engine.connect() as conn:
        record = _one(conn, "SELECT * FROM structure WHERE id = :id", {"id": structure_id}, "structure")
        record["structure"] = json.loads(record.pop("structure_json"))
        record["defects"] = [dict(r._mapping) for r in conn.execute(text(
            "SELECT id, kind, name, species, charge, supercell, host_structure_id FROM defect "
            "WHERE structure_id = :id OR host_structure_id = :id ORDER BY id"), {"id": structure_id})]
        record["spectrum_ids"] = [r[0] for r in conn.execute(text(
            "SELECT spectrum_id FROM spectrum_overview WHERE structure_id = :id ORDER BY spectrum_id"),
            {"id": structure_id})]
    return record


def get_calculation(engine: "Engine", calculation_id: int) -> dict[str, Any]:
    """A calculation's row with its parameters decoded and the ids of its spectra; raises
    :class:`NotFoundError` for an unknown id."""
    with engine.connect() as conn:
        record = _one(conn, "SELECT * FROM calculation WHERE id = :id", {"id": calculation_id}, "calculation")
        record["parameters"] = json.loads(record.pop("parameters_json"))
        record["spectrum_ids"] = [r[0] for r in conn.execute(text(
            "SELECT id FROM spectrum WHERE calculation_id = :id ORDER BY id"), {"id": calculation_id})]
    return record


def get_set(engine: "Engine", set_id: int) -> dict[str, Any]:
    """A calculation set's row with its provenance decoded and its number of calculations; raises
    :class:`NotFoundError` for an unknown id."""
    with engine.connect() as conn:
        record = _one(conn, "SELECT * FROM calculation_set WHERE id = :id", {"id": set_id}, "calculation set")
        record["provenance"] = json.loads(record.pop("provenance_json"))
        record["n_calculations"] = conn.execute(text(
            "SELECT COUNT(*) FROM calculation WHERE calculation_set_id = :id"), {"id": set_id}).scalar()
    return record


def get_record(engine: "Engine", text_id: str) -> tuple[str, dict[str, Any]]:
    """``(kind, record)`` for an id as ``xasrepo show`` takes it (``12``, ``spectrum:12``,
    ``structure:3``, ``calculation:5``, ``set:1``; :func:`parse_record_id`). Raises
    :class:`UsageError` for a malformed id, :class:`NotFoundError` for an unknown one."""
    kind, number = parse_record_id(text_id)
    getter = {"spectrum": get_spectrum, "structure": get_structure, "calculation": get_calculation, "set": get_set}[kind]
    return kind, getter(engine, number)


def load_dos(engine: "Engine", dos_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(energy_ev, density), each of shape (n_points,), of one stored DOS curve (energies in eV);
    raises :class:`NotFoundError` for an unknown id."""
    with engine.connect() as conn:
        row = _one(conn, "SELECT energy_ev, density FROM dos WHERE id = :id", {"id": dos_id}, "DOS")
    return from_blob(row["energy_ev"]), from_blob(row["density"])
