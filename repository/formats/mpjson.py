"""pymatgen / Materials Project XAS JSON (``XAS.as_dict()``): reading and writing.

Accepted: one ``XAS.as_dict()`` document, a list of them, a Materials Project XAS document with the
spectrum under ``"spectrum"``, or an API response with documents under ``"data"``. Site-resolved
spectra carry ``absorbing_index`` (the absorber's site in ``structure``); site-averaged ones do not.
Spectra from these files are computed unless the document says otherwise in ``"@xasrepo"`` (the key
xasrepo writes its own metadata under; keys starting with "@" are ignored by pymatgen's from_dict).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..conventions import Origin
from ..errors import InputError
from ..limits import excerpt, load_json
from ..values import SampleInfo, SpectrumRecord, context_defect
from .common import (
    DEFAULT_OPTIONS,
    ReadOptions,
    file_sha256,
    make_record,
    read_text,
    sort_scan,
)

OWN_KEY = "@xasrepo"
XAS_MODULE = "pymatgen.analysis.xas.spectrum"


def _documents(data: Any, path: Path) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(where, spectrum document, enclosing document) for every spectrum in the file."""
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    items = data if isinstance(data, list) else [data]
    found = []
    for number, item in enumerate(items, start=1):
        where = f"entry {number}" if isinstance(data, list) else None
        if not isinstance(item, dict):
            raise InputError(path, "expected a JSON object with 'x' and 'y' (pymatgen XAS.as_dict())", where=where)
        spectrum = item.get("spectrum") if isinstance(item.get("spectrum"), dict) else item
        if "x" not in spectrum or "y" not in spectrum:
            raise InputError(path, "no 'x' and 'y' arrays: not a pymatgen XAS document", where=where)
        found.append((where, spectrum, item))
    if not found:
        raise InputError(path, "no spectra in this JSON file")
    return found


def _element(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("element") or value.get("symbol")
    return None if value is None else str(value)


def read_json(path: Path, options: ReadOptions = DEFAULT_OPTIONS) -> list[SpectrumRecord]:
    """A pymatgen XAS JSON file -> one record per spectrum (with structure and absorber site)."""
    try:
        data = load_json(read_text(path), path)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON: {exc.msg}", where=f"line {exc.lineno}") from None
    digest = file_sha256(path)
    records = []
    for where, doc, outer in _documents(data, path):
        own = doc.get(OWN_KEY) if isinstance(doc.get(OWN_KEY), dict) else {}
        structure = None
        if doc.get("structure") is not None:
            # lazy import: start-up time (pymatgen is heavy; only documents with a structure need it)
            from pymatgen.core import Structure

            from ..structures import check_structure, check_structure_dict

            check_structure_dict(doc["structure"], path, where=where)
            try:
                structure = Structure.from_dict(doc["structure"])
            except Exception as exc:  # noqa: BLE001 - pymatgen raises many kinds for a bad dict
                raise InputError(path, f"'structure' is not a pymatgen Structure ({type(exc).__name__}: "
                                       f"{str(exc)[:200]})", where=where) from None
            check_structure(structure, path, where=where)
        site = doc.get("absorbing_index")
        if site is not None and (not isinstance(site, int) or structure is None or not 0 <= site < len(structure)):
            raise InputError(path, f"absorbing_index {excerpt(site)} is not a site of the structure", where=where)
        try:
            energy = np.asarray(doc["x"], dtype=float)
            intensity = np.asarray(doc["y"], dtype=float)
        except (TypeError, ValueError):
            raise InputError(path, "'x' and 'y' must be lists of numbers", where=where) from None
        energy, intensity, _ = sort_scan(path, energy, intensity, where=where)
        metadata = own.get("metadata") if isinstance(own.get("metadata"), dict) else {"format": "pymatgen-json"}
        if own.get("metadata") is None:
            for key in ("material_id", "task_id", "xas_id", "mp_id"):
                if outer.get(key) is not None or doc.get(key) is not None:
                    metadata[key] = str(outer.get(key) or doc.get(key))
        if structure is not None:
            # the defect of an exported supercell is restored on import: refuse one that cannot be
            context_defect(metadata, path, where=f"{where}: {OWN_KEY}" if where else OWN_KEY)
        sample = SampleInfo(**{k: own.get(k) for k in ("sample_name", "facility", "beamline", "measurement_mode",
                                                       "calibration_shift_ev", "temperature_k")})
        records.append(make_record(
            path, digest, options, energy=energy, signal=intensity, element=_element(doc.get("absorbing_element")),
            edge=doc.get("edge"), origin=Origin(own.get("origin", Origin.COMPUTED.value)),
            spectrum_type=doc.get("spectrum_type"), sample=sample, structure=structure, absorber_site_index=site,
            metadata=metadata, polarization=own.get("polarization", "iso"), name=where))
    return records


def as_pymatgen_dict(record: SpectrumRecord) -> dict[str, Any]:
    """The ``XAS.as_dict()`` layout, plus what pymatgen has no field for under "@xasrepo"."""
    s = record.spectrum
    own: dict[str, Any] = {"origin": s.origin.value, "polarization": s.polarization, **record.sample.as_dict()}
    if record.metadata:
        own["metadata"] = record.metadata
    return {
        "@module": XAS_MODULE, "@class": "XAS",
        "x": s.energy_ev.tolist(), "y": s.intensity.tolist(),
        "structure": record.structure.as_dict() if record.structure is not None else None,
        "absorbing_element": s.absorbing_element, "edge": s.edge.value, "spectrum_type": s.spectrum_type.value,
        "absorbing_index": record.absorber_site_index, "zero_negative_intensity": False,
        OWN_KEY: own,
    }


def write_json(record: SpectrumRecord, path: Path) -> Path:
    path.write_text(json.dumps(as_pymatgen_dict(record), default=str) + "\n", encoding="utf-8")
    return path
