"""XDI 1.0 (XAS Data Interchange): reading and writing.

Reading follows the XDI 1.0 specification strictly where a file would otherwise be misread (first
line, header field grammar, Column.N numbering, the header-end line, the data table) and is tolerant
where real files differ harmlessly: ``#XDI/1.1`` without a space, any extension namespace,
case-insensitive field names, blank ``#`` lines among the fields, CR/LF/CRLF line ends, a blank
line before the data, odd file extensions (detection is by content).

Malformed files are refused with one ``InputError`` naming the line; see docs/formats.md for how
each case of the XDI project's ``baddata/BadFiles.txt`` is handled.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..conventions import Origin
from ..errors import InputError
from ..limits import excerpt, load_json
from ..values import SampleInfo, SpectrumRecord
from .common import (
    CONTEXT_FIELDS,
    DEFAULT_OPTIONS,
    HC_EV_ANGSTROM,
    ReadOptions,
    Table,
    edge_name,
    element_symbol,
    file_sha256,
    make_record,
    normalize_signal,
    optional_float,
    parse_temperature,
    parse_temperature_k,
    read_text,
    single_line,
    sort_scan,
)

VERSION_LINE = re.compile(r"^#\s*XDI/(\d+)\.(\d+)(?:\.(\d+))?(.*)$", re.IGNORECASE)
FIELD_LINE = re.compile(r"^([^:]*):(.*)$")
FIELD_NAME = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)\.([A-Za-z0-9_\-]+)$")
FIELD_END = re.compile(r"^/{3,}")  # real files write "# ///  Users Comments  ///"
HEADER_END = re.compile(r"^-{3,}\s*$")

# Signal columns in order of preference (XDI dictionary labels, then common synonyms).
MU_LABELS = ("mutrans", "mufluor", "normtrans", "normfluor", "mu", "xmu", "norm", "flat", "mu_e", "murefer")
MODE_OF_LABEL = {"mutrans": "transmission", "normtrans": "transmission", "itrans": "transmission",
                 "mufluor": "fluorescence", "normfluor": "fluorescence", "ifluor": "fluorescence",
                 "murefer": "transmission"}
ENERGY_UNITS = {"ev": 1.0, "kev": 1000.0}
ANGLE_UNITS = {"degrees": math.pi / 180, "degree": math.pi / 180, "deg": math.pi / 180,
               "radians": 1.0, "radian": 1.0, "rad": 1.0}
XASREPO_NAMESPACE = "Xasrepo"
# Element.symbol / Element.edge, then the names older and beamline-written files use instead.
ELEMENT_FIELDS = ("Element.symbol", "Scan.element", "ScanParameters.element")
EDGE_FIELDS = ("Element.edge", "Scan.edge", "ScanParameters.edge")


@dataclass
class XdiDocument:
    """An XDI file as written: versions, fields (original spelling, last value wins), comments, table."""

    version: str
    extra_versions: list[str]
    fields: dict[str, str]
    field_lines: dict[str, int]
    comments: list[str]
    labels: list[str]
    table: np.ndarray
    table_lines: np.ndarray
    _lower: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        key = self._lower.get(name.lower())
        return None if key is None else self.fields[key]

    def line_of(self, name: str) -> str | None:
        key = self._lower.get(name.lower())
        return f"line {self.field_lines[key]}" if key else None


def parse_xdi(text: str, path: Path) -> XdiDocument:
    """Parse XDI text; raises InputError naming the first offending line."""
    lines = text.splitlines()
    if not lines:
        raise InputError(path, "empty file")
    match = VERSION_LINE.match(lines[0].strip())
    if not match:
        raise InputError(path, "not an XDI file: the first line must be the version line '# XDI/1.0'", where="line 1")
    version = ".".join(g for g in match.group(1, 2, 3) if g)
    extra_versions = [v for v in match.group(4).split() if v.lower() != "xasrepo"]
    fields: dict[str, str] = {}
    field_lines: dict[str, int] = {}
    lower: dict[str, str] = {}
    comments: list[str] = []
    labels: list[str] = []
    state = "fields"
    rows: list[list[float]] = []
    row_lines: list[int] = []
    width = None
    for number, raw in enumerate(lines[1:], start=2):
        line = raw.strip()
        if state in ("fields", "comments"):
            if not line:
                continue
            if not line.startswith("#"):
                if _is_numeric_row(line):
                    raise InputError(path, "data begins before the header-end line ('#----')", where=f"line {number}")
                raise InputError(path, f"header line does not start with '#': {excerpt(line[:40])}", where=f"line {number}")
            content = line[1:].strip()
            if HEADER_END.match(content):
                state = "labels"
                continue
            if state == "fields":
                if FIELD_END.match(content):
                    state = "comments"
                    continue
                if not content:
                    continue
                name, value = _parse_field(content, path, number)
                key = lower.setdefault(name.lower(), name)
                fields[key] = value
                field_lines[key] = number
            else:
                comments.append(raw.lstrip()[1:].removeprefix(" "))
            continue
        if not line:
            continue
        if line.startswith("#"):
            if state == "labels" and not rows:
                labels = line[1:].split()
                state = "data"
            continue  # later comment lines in the data (e.g. Outer.value of 2-D scans) carry no data
        state = "data"
        fields_ = line.split()
        values = []
        for token in fields_:
            try:
                value = float(token)
            except ValueError:
                raise InputError(path, f"{excerpt(token)} in the data table is not a number", where=f"line {number}") from None
            if not math.isfinite(value):
                raise InputError(path, f"{excerpt(token)} in the data table is not a finite number", where=f"line {number}")
            values.append(value)
        if width is None:
            width = len(values)
        elif len(values) != width:
            raise InputError(path, f"data row has {len(values)} columns, earlier rows have {width}",
                             where=f"line {number}")
        rows.append(values)
        row_lines.append(number)
    if state in ("fields", "comments"):
        raise InputError(path, "no header-end line ('#----') before the data")
    if not rows:
        raise InputError(path, "no data rows after the header")
    return XdiDocument(version=version, extra_versions=extra_versions, fields=fields, field_lines=field_lines,
                       comments=comments, labels=labels, table=np.array(rows, dtype=float),
                       table_lines=np.array(row_lines), _lower=lower)


def _is_numeric_row(line: str) -> bool:
    try:
        [float(t) for t in line.split()]
    except ValueError:
        return False
    return True


def _parse_field(content: str, path: Path, number: int) -> tuple[str, str]:
    match = FIELD_LINE.match(content)
    where = f"line {number}"
    if not match:
        raise InputError(path, f"header field {excerpt(content[:40])} has no ':' (expected 'Namespace.key: value')", where=where)
    name, value = match.group(1).strip(), match.group(2).strip()
    if not FIELD_NAME.match(name):
        if " " in name or "\t" in name:
            problem = "contains white space"
        elif name.count(".") == 0:
            problem = "has no '.' between namespace and key"
        elif name.count(".") > 1:
            problem = "has more than one '.'"
        elif name[:1] and not name[0].isalpha():
            problem = "must start with a letter"
        else:
            problem = "has characters other than letters, digits, '_' and '-'"
        raise InputError(path, f"header field name {excerpt(name)} {problem} (expected 'Namespace.key: value')", where=where)
    if not value:
        raise InputError(path, f"header field {name} has no value", where=where)
    return name, value


def _columns(doc: XdiDocument, path: Path) -> tuple[list[str], list[str | None]]:
    """Column names and units from the Column.N fields, checked against the data table."""
    numbered: dict[int, str] = {}
    for key, value in doc.fields.items():
        namespace, _, tag = key.partition(".")
        if namespace.lower() == "column":
            if not tag.isdigit() or int(tag) < 1:
                raise InputError(path, f"column field {excerpt(key)} is not 'Column.N' with N = 1, 2, ...", where=doc.line_of(key))
            numbered[int(tag)] = value
    width = doc.table.shape[1]
    if 1 not in numbered:
        raise InputError(path, "no 'Column.1' header: the first column (energy or angle, with units) must be named")
    expected = list(range(1, len(numbered) + 1))
    if sorted(numbered) != expected:
        gap = next(n for n in expected if n not in numbered)
        last = max(numbered)
        raise InputError(path, f"Column.{last} is given but Column.{gap} is missing: column numbers must run "
                               "1, 2, ... without gaps", where=doc.line_of(f"Column.{last}"))
    if len(numbered) != width:
        raise InputError(path, f"the header names {len(numbered)} columns (Column.1..{len(numbered)}) but the data "
                               f"table has {width}", where=f"line {int(doc.table_lines[0])}")
    names, units = [], []
    for n in expected:
        words = numbered[n].split()
        names.append(words[0])
        units.append(words[1] if len(words) > 1 else None)
    return names, units


K_SPACE_NAMES = ("k", "wavenumber", "chi", "chik", "chi(k)")
K_SPACE_UNITS = ("1/a", "a^-1", "a-1", "inverse_angstrom", "1/angstrom", "angstrom^-1", "å^-1", "1/å", "invang")
PIXEL_NAMES = ("pixel", "pixels", "index", "channel", "point", "points")


def _energy_axis(doc: XdiDocument, names: list[str], units: list[str | None], path: Path,
                 energy_index: int) -> tuple[np.ndarray, str | None, dict[str, Any]]:
    """(abscissa values, their energy unit "eV"/"keV" or None for eV, conversion note).

    A monochromator angle is converted with Mono.d_spacing (Bragg's law, E = hc / (2 d sin theta));
    a photoelectron wavenumber k or a pixel/index axis is refused: neither is a photon energy.
    """
    values = doc.table[:, energy_index]
    name = names[energy_index].lower()
    unit = (units[energy_index] or "").lower()
    where = doc.line_of(f"Column.{energy_index + 1}")
    if name in K_SPACE_NAMES or unit in K_SPACE_UNITS:
        raise InputError(path, f"the abscissa {excerpt(names[energy_index])} is a photoelectron wavenumber k (chi(k) data), "
                               "not a photon energy: xasrepo stores mu(E); import the mu(E) data instead", where=where)
    if name in PIXEL_NAMES or unit in PIXEL_NAMES:
        raise InputError(path, f"the abscissa {excerpt(names[energy_index])} is a pixel/index axis, not a photon energy: "
                               "calibrate it to energy first", where=where)
    if name == "angle" or unit in ANGLE_UNITS:
        d_spacing, problem = parse_d_spacing(doc.get("Mono.d_spacing"))
        if d_spacing is None:
            raise InputError(path, "the abscissa is a monochromator angle but there is no valid Mono.d_spacing "
                                   f"to convert it to energy{': ' + problem if problem else ''}", where=where)
        factor = ANGLE_UNITS.get(unit, math.pi / 180)
        energy = HC_EV_ANGSTROM / (2.0 * d_spacing * np.sin(values * factor))
        return energy, None, {"converted_from": f"angle ({unit or 'degrees'}) with Mono.d_spacing {d_spacing}"}
    if unit and unit not in ENERGY_UNITS:
        raise InputError(path, f"the abscissa {excerpt(names[energy_index])} is in {excerpt(units[energy_index])}, not an energy "
                               "unit (eV, keV) or an angle", where=where)
    if name not in ("energy", "e", "ev", "omega", "energy_readback") and not unit:
        raise InputError(path, f"the abscissa {excerpt(names[energy_index])} is not an energy (expected 'energy eV')",
                         where=where)
    return values, ("keV" if unit == "kev" else None), {}


_NUMBER_UNIT = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-zÅ°]*)\.?\s*$")


def _number_with_unit(text: str | None, units: dict[str, float], default: str | None) -> tuple[float | None, str | None]:
    """(value in the first unit of ``units``, problem) for "7.00 GeV"-like text; units maps lower-case names
    to factors; ``default`` is the unit assumed when none is written (None: a unit is required)."""
    match = _NUMBER_UNIT.match(str(text or ""))
    if not match:
        return None, f"{excerpt(text)} is not a number with a unit"
    unit = match.group(2).lower() or default
    if unit is None:
        return None, f"{excerpt(text)} has no unit ({', '.join(units)})"
    if unit not in units:
        return None, f"{excerpt(text)} has an unknown unit {excerpt(match.group(2))} (expected {', '.join(units)})"
    value = float(match.group(1)) * units[unit]
    return (value, None) if math.isfinite(value) else (None, f"{text!r} is not finite")


def parse_d_spacing(text: str | None) -> tuple[float | None, str | None]:
    """Mono.d_spacing in Angstrom ("3.13553", "3.13553 A", "3.13553 Å"); (None, problem) otherwise."""
    if text is None:
        return None, None
    value, problem = _number_with_unit(text, {"a": 1.0, "å": 1.0, "angstrom": 1.0, "nm": 10.0}, "a")
    if value is not None and value <= 0:
        return None, f"{excerpt(text)} is not positive"
    return value, problem


def _date_time(text: str) -> str | None:
    from datetime import datetime

    try:
        datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return f"{excerpt(text)} is not an ISO 8601 date-time (YYYY-MM-DDThh:mm:ss)"
    return None


# XDI dictionary fields checked by type and unit: name (lower case) -> check returning a problem or None.
FIELD_CHECKS = {
    "scan.start_time": _date_time,
    "scan.end_time": _date_time,
    "mono.d_spacing": lambda t: parse_d_spacing(t)[1],
    "facility.energy": lambda t: _number_with_unit(t, {"gev": 1.0, "mev": 1e-3}, None)[1],
    "facility.current": lambda t: _number_with_unit(t, {"ma": 1.0, "a": 1e3}, None)[1],
    "scan.edge_energy": lambda t: _number_with_unit(t, {"ev": 1.0, "kev": 1e3}, "ev")[1],
}


def validate_fields(doc: XdiDocument, path: Path) -> tuple[dict[str, str], list[str], float | None]:
    """(valid fields, one-line warnings, sample temperature in K): XDI dictionary fields with a value of
    the wrong type or unit are dropped with a warning naming the field and line; Sample.temperature is
    converted to kelvin (C, F, mK; see ``common.parse_temperature``), never read as kelvin without a unit."""
    kept: dict[str, str] = {}
    warnings: list[str] = []
    temperature = None
    for key, value in doc.fields.items():
        lowered = key.lower()
        problem = None
        if lowered == "sample.temperature":
            temperature, problem = parse_temperature(value)
        elif lowered in FIELD_CHECKS:
            problem = FIELD_CHECKS[lowered](value)
        if problem:
            warnings.append(f"line {doc.field_lines[key]}: {key} {problem}: not stored")
            continue
        kept[key] = value
    return kept, warnings, temperature


def _choose_signal(names: list[str], path: Path, options: ReadOptions, table: Table) -> tuple[int, int | None, str | None]:
    """(signal column, I0 column or None, measurement mode) following the XDI dictionary labels."""
    lowered = [n.lower() for n in names]
    if options.signal_col:
        signal = table.find(options.signal_col, path, "signal")
        i0 = table.find(options.i0_col, path, "I0") if options.i0_col else None
        return signal, i0, MODE_OF_LABEL.get(lowered[signal])
    for label in MU_LABELS:
        if label in lowered:
            return lowered.index(label), None, MODE_OF_LABEL.get(label)
    if "i0" in lowered:
        i0 = lowered.index("i0")
        for label, mode in (("itrans", "transmission"), ("ifluor", "fluorescence")):
            if label in lowered:
                return lowered.index(label), i0, mode
    raise InputError(path, f"no absorption column (mutrans, mufluor, itrans + i0, ...) among {', '.join(names)}: "
                           "choose one with --signal-col")


def read_xdi(path: Path, options: ReadOptions = DEFAULT_OPTIONS) -> list[SpectrumRecord]:
    """One XDI file -> one experimental spectrum (unless it says otherwise in the Xasrepo namespace)."""
    text = read_text(path)
    doc = parse_xdi(text, path)
    names, units = _columns(doc, path)
    table = Table(doc.table, doc.table_lines, names, units)
    energy_index = table.find(options.energy_col, path, "energy") if options.energy_col else 0
    energy, energy_unit, conversion = _energy_axis(doc, names, units, path, energy_index)
    signal, i0, mode = _choose_signal(names, path, options, table)
    mode = doc.get(f"{XASREPO_NAMESPACE}.measurement_mode") or mode
    intensity, signal_label = normalize_signal(table, signal, i0, options.measurement_mode or mode, path)
    energy, intensity, lines = sort_scan(path, energy, intensity, doc.table_lines)
    fields, warnings, temperature_k = validate_fields(doc, path)

    own = {k.split(".", 1)[1].lower(): v for k, v in doc.fields.items()
           if k.split(".", 1)[0].lower() == XASREPO_NAMESPACE.lower()}
    element_key = next((k for k in ELEMENT_FIELDS if doc.get(k) is not None), ELEMENT_FIELDS[0])
    edge_key = next((k for k in EDGE_FIELDS if doc.get(k) is not None), EDGE_FIELDS[0])
    element, edge = doc.get(element_key), doc.get(edge_key)
    if "edge" in own:  # written by xasrepo for an edge XDI has no symbol for ("L2,3" is written as "L")
        edge_key, edge = f"{XASREPO_NAMESPACE}.edge", own["edge"]
    if not options.element:
        if element is None and not options.fallback_element:
            raise InputError(path, "no Element.symbol header (the absorbing element); give --element to import anyway")
        if element is not None:
            element = element_symbol(element, path, where=doc.line_of(element_key), what=element_key)
    if not options.edge:
        if edge is None and not options.fallback_edge:
            raise InputError(path, "no Element.edge header (the absorption edge); give --edge to import anyway")
        if edge is not None:
            edge = edge_name(edge, path, where=doc.line_of(edge_key), what=edge_key)

    origin = Origin(doc.get(f"{XASREPO_NAMESPACE}.origin") or Origin.EXPERIMENTAL.value)
    sample = SampleInfo(
        sample_name=doc.get("Sample.name"), facility=doc.get("Facility.name"), beamline=doc.get("Beamline.name"),
        measurement_mode=mode, temperature_k=temperature_k,
        calibration_shift_ev=optional_float(doc.get(f"{XASREPO_NAMESPACE}.calibration_shift_ev")))
    metadata: dict[str, Any] = {
        "format": "xdi",
        "xdi": {"version": doc.version, "extra_versions": doc.extra_versions,
                "fields": {k: v for k, v in fields.items()
                           if k.split(".", 1)[0].lower() not in ("column", XASREPO_NAMESPACE.lower())},
                "comments": doc.comments},
        "columns": {"energy": names[energy_index], "signal": signal_label, "all": names},
    }
    if conversion:
        metadata["columns"].update(conversion)
    context = {name: own[name] for name in CONTEXT_FIELDS if name in own}
    if context:
        metadata["context"] = context
    if "metadata_json" in own:
        import json

        try:
            metadata = load_json(own["metadata_json"], path, where=doc.line_of("Xasrepo.metadata_json"))  # written by xasrepo: the record's metadata as it was
        except ValueError:
            raise InputError(path, "Xasrepo.metadata_json is not JSON", where=doc.line_of("Xasrepo.metadata_json")) from None
        if not isinstance(metadata, dict):
            raise InputError(path, "Xasrepo.metadata_json is not a JSON object", where=doc.line_of("Xasrepo.metadata_json"))
    return [make_record(path, file_sha256(path), options, energy=energy, signal=intensity, element=element,
                        edge=edge, origin=origin, line_of_point=lines, spectrum_type=own.get("spectrum_type"),
                        sample=sample, metadata=metadata, polarization=own.get("polarization", "iso"),
                        energy_unit=energy_unit, energy_name=names[energy_index], warnings=warnings)]


def write_xdi(record: SpectrumRecord, path: Path) -> Path:
    """Write one spectrum as XDI 1.0: energy (eV) and the stored signal, with every known header.

    XDI fields read from the original file are written back (except Column.N, which describe the
    new two-column table), with its user comments; what XDI has no field for goes into the
    ``Xasrepo`` namespace (origin, spectrum type, polarisation, calibration shift, and the record's
    metadata as one JSON line) so that reading the file back gives the same record.
    """
    import json

    s = record.spectrum
    meta = record.metadata or {}
    xdi_meta = meta.get("xdi", {}) if isinstance(meta.get("xdi"), dict) else {}
    fields: dict[str, str] = {}
    lower: dict[str, str] = {}

    def put(name: str, value: Any) -> None:
        if value is None or str(value).strip() == "":
            return
        name = single_line(name)
        key = lower.setdefault(name.lower(), name)
        fields[key] = single_line(str(value)).strip()  # one line (no Unicode line break); inner spacing kept

    signal_label = "mutrans" if record.sample.measurement_mode == "transmission" else (
        "mufluor" if record.sample.measurement_mode == "fluorescence" else "mu")
    put("Column.1", "energy eV")
    put("Column.2", signal_label)
    for key, value in (xdi_meta.get("fields") or {}).items():
        put(key, value)
    put("Element.symbol", s.absorbing_element)
    put("Element.edge", "L" if s.edge.value == "L2,3" else s.edge.value)  # XDI has no "L2,3" symbol
    put("Sample.name", record.sample.sample_name)
    put("Facility.name", record.sample.facility)
    put("Beamline.name", record.sample.beamline)
    if record.sample.temperature_k is not None and parse_temperature_k(fields.get(lower.get("sample.temperature", ""), "")) != record.sample.temperature_k:
        put("Sample.temperature", f"{record.sample.temperature_k:g} K")
    ns = XASREPO_NAMESPACE
    put(f"{ns}.origin", s.origin.value)
    put(f"{ns}.spectrum_type", s.spectrum_type.value)
    if s.edge.value == "L2,3":
        put(f"{ns}.edge", s.edge.value)
    put(f"{ns}.polarization", s.polarization)
    put(f"{ns}.measurement_mode", record.sample.measurement_mode)
    if record.sample.calibration_shift_ev is not None:
        put(f"{ns}.calibration_shift_ev", repr(float(record.sample.calibration_shift_ev)))
    context = meta.get("context") if isinstance(meta.get("context"), dict) else {}
    for name, value in sorted(context.items()):  # formula, polymorph, defect, code, method, set...
        put(f"{ns}.{name}", value)
    if meta:
        put(f"{ns}.metadata_json", json.dumps(meta, sort_keys=True, default=str))
    versions = " ".join(["XDI/1.0", *[single_line(str(v)) for v in xdi_meta.get("extra_versions", [])
                                      if str(v).lower() != "xasrepo"], "xasrepo"])
    out = [f"# {versions}"]
    out += [f"# {key}: {value}" for key, value in fields.items()]
    out.append("# ///")
    out += [f"# {single_line(str(c))}".rstrip() if c else "#" for c in xdi_meta.get("comments", [])]
    out.append("#----")
    out.append(f"# energy {signal_label}")
    out += [f"{e!r} {y!r}" for e, y in zip(s.energy_ev.tolist(), s.intensity.tolist())]
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path
