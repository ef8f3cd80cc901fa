"""Plain column files: CSV or whitespace/tab separated, with or without a header line.

The data block is the longest run of numeric rows; every non-comment row after its start must be
numeric with the same number of columns (otherwise the line is named). Column names come from the
last header line before the data that has one name per column (quotes and a leading comment mark
removed). The energy column is column 1 or the first column named like an energy; the signal is
``--signal-col``, or the only other column, or a column named mu/xmu/norm/... Raw multi-channel
files are normalised by ``--i0-col`` (signal/I0, or ln(I0/I) with ``--mode transmission``).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np

from ..conventions import Origin, parse_edge, parse_element
from ..errors import InputError
from ..limits import excerpt, load_json
from ..textcolumns import COMMENT_PREFIXES, is_number, parse_numbers, split_fields
from ..values import SampleInfo, SpectrumRecord
from .common import (
    DEFAULT_OPTIONS,
    HC_EV_ANGSTROM,
    ReadOptions,
    Table,
    count_of,
    file_sha256,
    make_record,
    normalize_signal,
    read_text,
    sort_scan,
)

# How many non-blank lines above the data are searched for the column names (beamline files put
# offsets, gains or detector modes between the names and the data).
NAME_LINES_SEARCHED = 4
D_SPACING = re.compile(r"\bD\s*=\s*(\d+(?:\.\d*)?)\s*A\b")
ENERGY_NAMES = re.compile(r"^(e|ev|kev|energy|omega|pe/ev|photon[_ ]?energy|.*energy.*|.*nrg.*|e/ev|energy/ev|"
                          r"e\s*[\(\[]k?ev[\)\]])$", re.IGNORECASE)
SIGNAL_NAMES = ("mu", "xmu", "mutrans", "mufluor", "norm", "normtrans", "normfluor", "flat", "mu(e)", "absorption",
                "intensity", "signal")


def _split_names(line: str) -> list[str]:
    text = line.strip().lstrip("#!;%").strip()
    if "," in text or "\t" in text:
        delimiter = "," if "," in text else "\t"
        names = next(csv.reader(io.StringIO(text), delimiter=delimiter))
    else:
        names = text.split()
    return [n.strip().strip('"').strip("'").strip() for n in names if n.strip()]


# "190,0;0,12": semicolon-separated numbers with decimal commas (a European spreadsheet export)
DECIMAL_COMMA_ROW = re.compile(r"^\s*[-+]?\d+,\d+(\s*;\s*[-+]?\d+(,\d+)?([eE][-+]?\d+)?)+\s*;?\s*$")


def _row_width(line: str) -> int:
    """The number of values of a row of numbers; 0 for a blank, comment or non-numeric line."""
    if not line.strip() or line.lstrip().startswith(COMMENT_PREFIXES):
        return 0
    values = parse_numbers(line)
    return len(values) if values else 0


def read_table(path: Path, text: str) -> Table:
    lines = text.splitlines()
    if ";" in text:
        for i, line in enumerate(lines):
            if DECIMAL_COMMA_ROW.match(line):
                raise InputError(path, f"numbers are written with decimal commas ({excerpt(line.strip())}); "
                                       "export them with decimal points", where=f"line {i + 1}")
    # Only whether each line is numeric (and its width) is kept, not its values: a list of float
    # lists took ~14x the file's size in memory (bench/import_memory.py); rows go into one array.
    numeric = [_row_width(line) for line in lines]
    best_start, best_len, start, length = None, 0, None, 0
    for i, (line, row_width) in enumerate(zip(lines, numeric)):
        if row_width:
            if start is None:
                start, length = i, 0
            length += 1
            if length > best_len:
                best_start, best_len = start, length
        elif line.strip() and not line.lstrip().startswith(COMMENT_PREFIXES):
            start, length = None, 0
    if best_start is None:
        raise InputError(path, "no rows of numbers found")
    width = numeric[best_start]
    rows = np.empty((len(lines) - best_start, width))
    row_lines = np.empty(len(lines) - best_start, dtype=np.int64)
    count = 0
    for i in range(best_start, len(lines)):
        line = lines[i]
        if not line.strip() or line.lstrip().startswith(COMMENT_PREFIXES):
            continue
        values = parse_numbers(line) if numeric[i] else None
        if values is None:
            bad = next((f for f in split_fields(line) if not is_number(f)), None)
            if bad is None:  # only separators, e.g. ","
                raise InputError(path, f"{excerpt(line.strip())} is not a row of numbers", where=f"line {i + 1}")
            raise InputError(path, f"{excerpt(bad)} is not a number", where=f"line {i + 1}")
        if len(values) != width:
            raise InputError(path, f"expected {count_of(width, 'column')}, found {len(values)}", where=f"line {i + 1}")
        bad = [v for v in values if not np.isfinite(v)]
        if bad:
            raise InputError(path, f"{excerpt(bad[0])} is not a finite number", where=f"line {i + 1}")
        rows[count] = values
        row_lines[count] = i + 1
        count += 1
    rows, row_lines = rows[:count], row_lines[:count]
    names = _spec_labels(lines, best_start, width) or []
    looked = 0
    for i in range(best_start - 1, -1, -1):
        if names:
            break
        if not lines[i].strip() or lines[i].strip() in COMMENT_PREFIXES:
            continue
        numbered = _numbered_labels(lines[i], width)
        if numbered:
            names = numbered
            break
        if SPEC_CONTROL.match(lines[i]):
            continue  # SPEC #S/#D/#T/#N/... lines are not column names (#L is, handled above)
        looked += 1
        candidate = _split_names(lines[i])
        numeric_names = sum(is_number(n) for n in candidate)
        if len(candidate) == width and not is_number(candidate[0]) and numeric_names * 2 <= width:
            names = candidate
            break
        if looked >= NAME_LINES_SEARCHED:
            break
    return Table(rows, row_lines, names or [f"col{j + 1}" for j in range(width)],
                 [None] * width)


# SPEC control lines ("#S 1  ascan ...", "#D date", "#N 6"); "#L" carries the column labels.
SPEC_CONTROL = re.compile(r"^#[A-Z]+\d*(\s|$)")
SPEC_LABELS = re.compile(r"^#L\s+(.*)$")
NUMBERED_LABEL = re.compile(r"(?:^|\s)(\d+)_(.+?)(?=\s+\d+_|\s*$)")


def _spec_labels(lines: list[str], start: int, width: int) -> list[str] | None:
    """Column labels of a SPEC scan: the ``#L`` line of the scan the data block belongs to. SPEC separates
    labels by two spaces (a label may contain one); a single-space line with one word per column works too."""
    for i in range(start - 1, -1, -1):
        line = lines[i].rstrip()
        if line.startswith("#S ") or (line.strip() and not line.lstrip().startswith("#")):
            return None
        match = SPEC_LABELS.match(line)
        if match:
            text = match.group(1).strip()
            labels = [t.strip() for t in re.split(r"\s{2,}|\t", text) if t.strip()]
            if len(labels) != width:
                labels = text.split()
            return labels if len(labels) == width else None
    return None


def _numbered_labels(line: str, width: int) -> list[str] | None:
    """Labels written as "1_Energy (keV) 2_sec 3_mononrg ..." (APS 12-BM), numbered 1..width."""
    text = line.strip().lstrip("#!;%").strip()
    if text[:2] in ("C ", "c "):
        text = text[2:]
    found = NUMBERED_LABEL.findall(text)
    if len(found) == width and [int(n) for n, _ in found] == list(range(1, width + 1)):
        return [f"{n}_{label.strip()}" for n, label in found]
    return None


# An energy unit in a column name: "Energy (keV)", "E [eV]", "energy/keV", "1_Energy (keV)", "energy_kev".
UNIT_IN_NAME = re.compile(r"(?:[\(\[]\s*(k?ev)\s*[\)\]]|/\s*(k?ev)\b|[_ ](k?ev)$)", re.IGNORECASE)
K_SPACE_NAME = re.compile(r"^(k|wavenumber|k\s*[\(\[/].*)$", re.IGNORECASE)
CHI_NAME = re.compile(r"^chi(\s*\(k\))?$|^chi_?k$", re.IGNORECASE)
PIXEL_NAME = re.compile(r"^(pixel|pixels|channel|index)$", re.IGNORECASE)


def unit_of_name(name: str) -> str | None:
    """"keV" or "eV" when a column name declares the unit, else None."""
    match = UNIT_IN_NAME.search(name.strip())
    if not match:
        return None
    unit = next(g for g in match.groups() if g)
    return "keV" if unit.lower() == "kev" else "eV"


def _default_columns(table: Table, path: Path, options: ReadOptions) -> tuple[int, int]:
    energy = table.find(options.energy_col, path, "energy") if options.energy_col else None
    if energy is None:
        energy = next((j for j, n in enumerate(table.names) if ENERGY_NAMES.match(n)), 0)
    if options.signal_col:
        return energy, table.find(options.signal_col, path, "signal")
    lowered = [n.lower() for n in table.names]
    for name in SIGNAL_NAMES:
        if name in lowered and lowered.index(name) != energy:
            return energy, lowered.index(name)
    others = [j for j in range(table.width) if j != energy]
    if len(others) == 1:
        return energy, others[0]
    raise InputError(path, f"the file has {count_of(table.width, 'column')} ({', '.join(table.names)}): choose the signal with "
                           "--signal-col (and --energy-col, --i0-col if needed)")


def read_columns(path: Path, options: ReadOptions = DEFAULT_OPTIONS) -> list[SpectrumRecord]:
    """One column file -> one experimental spectrum (element and edge from --element/--edge)."""
    text = read_text(path)
    table = read_table(path, text)
    energy_index, signal_index = _default_columns(table, path, options)
    i0_index = table.find(options.i0_col, path, "I0") if options.i0_col else None
    intensity, signal_label = normalize_signal(table, signal_index, i0_index, options.measurement_mode, path)
    _refuse_non_energy_axis(table, energy_index, path, options)
    own, own_metadata = _xasrepo_header(path, text)
    _refuse_swapped_columns(table, energy_index, signal_index, path, options.element or options.fallback_element
                            or own.get("absorbing_element"), options.edge or options.fallback_edge or own.get("edge"))
    energy = _energy_values(table, energy_index, text, path)
    energy, intensity, lines = sort_scan(path, energy, intensity, table.lines)
    energy_name = table.names[energy_index]
    unit = unit_of_name(energy_name)
    metadata = {"format": "columns",
                "columns": {"energy": table.names[energy_index], "signal": signal_label, "all": table.names}}
    if own_metadata is not None:
        metadata = own_metadata
    sample_fields = {k: own.get(k) for k in ("sample_name", "facility", "beamline", "measurement_mode",
                                              "calibration_shift_ev", "temperature_k")}
    return [make_record(path, file_sha256(path), options, energy=energy, signal=intensity,
                        element=own.get("absorbing_element"), edge=own.get("edge"),
                        origin=Origin(own.get("origin", Origin.EXPERIMENTAL.value)), line_of_point=lines,
                        spectrum_type=own.get("spectrum_type"), sample=SampleInfo(**sample_fields),
                        absorber_site_index=own.get("absorber_site_index"), metadata=metadata,
                        polarization=own.get("polarization", "iso"), energy_unit=unit, energy_name=energy_name)]


def _refuse_non_energy_axis(table: Table, index: int, path: Path, options: ReadOptions) -> None:
    """A photoelectron wavenumber (``k``, ``chi`` beside it) or a pixel axis is never read as energy,
    whatever the options (``--edge-energy`` would turn k = 2-14 into plausible-looking eV)."""
    name = table.names[index].strip()
    others = [n for j, n in enumerate(table.names) if j != index]
    if K_SPACE_NAME.match(name) or (any(CHI_NAME.match(n.strip()) for n in others)
                                    and not any(ENERGY_NAMES.match(n) for n in table.names)):
        raise InputError(path, f"the abscissa {excerpt(name)} is a photoelectron wavenumber k (chi(k) data), not a photon "
                               "energy: xasrepo stores mu(E); import the mu(E) data instead")
    if PIXEL_NAME.match(name):
        raise InputError(path, f"the abscissa {excerpt(name)} is a pixel/channel axis, not a photon energy: calibrate it "
                               "to energy first")


# A swapped signal column must lie this close (eV) to the tabulated edge of the stated element and
# edge to be named as the likely energy column: a XANES scan starts at most ~50 eV below its edge
# and an EXAFS scan ends at most ~1500 eV above it.
SWAP_BELOW_EDGE_EV = 100.0
SWAP_ABOVE_EDGE_EV = 2000.0
# Without a known edge, a steadily rising column is named as the likely energies only from this many
# eV up (the lowest edges people measure, Li K at 55 eV, lie above it).
MIN_SWAPPED_ENERGY_EV = 10.0


def _monotonic(values: np.ndarray) -> bool:
    steps = np.diff(values)
    return bool(values.size > 2 and (np.all(steps > 0) or np.all(steps < 0)))


def _refuse_swapped_columns(table: Table, energy: int, signal: int, path: Path, element: str | None,
                            edge: str | None) -> None:
    """Name the likely swap of a two-column file written (mu, E) instead of (E, mu).

    Looked for only when the energy column cannot be photon energies read as they are (it neither
    increases nor decreases steadily, or holds a value <= 0 eV): then, if the signal column does
    increase (or decrease) steadily through positive values, and lies around the tabulated edge of
    the element and edge when they are known (:data:`SWAP_BELOW_EDGE_EV`, :data:`SWAP_ABOVE_EDGE_EV`),
    the InputError says the columns look swapped and which options read them the other way round,
    instead of "decreasing energy" or "relative to the edge: give --edge-energy"."""
    e_values, s_values = table.data[:, energy], table.data[:, signal]
    if not (np.all(np.isfinite(e_values)) and np.all(np.isfinite(s_values))):
        return
    if _monotonic(e_values) and float(e_values.min()) > 0:
        return  # plausible energies: nothing to say
    if not _monotonic(s_values) or float(s_values.min()) <= 0:
        return
    lo, hi = float(s_values.min()), float(s_values.max())
    e0 = None
    if element and edge:
        # lazy import: xraydb tables are loaded only when a swap is suspected
        from ..edges import edge_energy_ev

        try:
            element, edge = parse_element(element), parse_edge(edge).value
        except ValueError:
            return  # the reader names a bad element or edge itself
        e0 = edge_energy_ev(element, edge)
    if e0 is not None:
        if lo < e0 - SWAP_BELOW_EDGE_EV or hi > e0 + SWAP_ABOVE_EDGE_EV:
            return  # not the energies of this edge either
        near = f", around the {element} {edge} edge ({e0:g} eV)"
    elif _monotonic(e_values) or lo < MIN_SWAPPED_ENERGY_EV:
        return  # energies relative to the edge, or a signal that does not look like photon energies
    else:
        near = ""
    why = "does not increase steadily" if not _monotonic(e_values) else f"reaches {float(e_values.min()):g}"
    e_name, s_name = table.names[energy], table.names[signal]
    raise InputError(path, f"the columns look swapped: the energy column {excerpt(e_name)} (column {energy + 1}) {why}, "
                           f"while {excerpt(s_name)} (column {signal + 1}) runs steadily from {s_values[0]:g} to "
                           f"{s_values[-1]:g} eV{near}: give --energy-col {signal + 1} --signal-col {energy + 1}")


def _xasrepo_header(path: Path, text: str) -> tuple[dict, dict | None]:
    """What a CSV written by xasrepo says about itself in its '# xasrepo:' and '# metadata:' lines."""
    import json

    own: dict = {}
    metadata = None
    for number, line in enumerate(text.splitlines()[:5], start=1):
        for prefix in ("# xasrepo:", "# metadata:"):
            if line.startswith(prefix):
                try:
                    value = load_json(line[len(prefix):], path, where=f"line {number}")
                except ValueError:
                    raise InputError(path, f"'{prefix}' line is not JSON", where=f"line {number}") from None
                if prefix == "# xasrepo:":
                    own = value
                else:
                    metadata = value
    return own, metadata


def _energy_values(table: Table, index: int, text: str, path: Path) -> np.ndarray:
    """The energy column in eV; a monochromator angle column (degrees) is converted with the header's d-spacing."""
    values = table.data[:, index]
    if not table.names[index].lower().startswith("angle"):
        return values
    match = D_SPACING.search(text)
    if not match:
        raise InputError(path, f"the energy column {excerpt(table.names[index])} is a monochromator angle and the header "
                               "gives no d-spacing ('D= 3.1355 A') to convert it")
    d_spacing = float(match.group(1))
    return HC_EV_ANGSTROM / (2.0 * d_spacing * np.sin(np.radians(values)))


def write_csv(record: SpectrumRecord, path: Path) -> Path:
    """Two columns ``energy_ev,intensity`` (full float precision) after ``#`` lines saying what it is."""
    import json

    s = record.spectrum
    header = {"absorbing_element": s.absorbing_element, "edge": s.edge.value, "spectrum_type": s.spectrum_type.value,
              "polarization": s.polarization, "origin": s.origin.value, **record.sample.as_dict()}
    if record.absorber_site_index is not None:
        header["absorber_site_index"] = record.absorber_site_index
    out = [f"# xasrepo: {json.dumps(header, sort_keys=True)}"]
    if record.metadata:
        out.append(f"# metadata: {json.dumps(record.metadata, sort_keys=True, default=str)}")
    out.append("energy_ev,intensity")
    out += [f"{e!r},{y!r}" for e, y in zip(s.energy_ev.tolist(), s.intensity.tolist())]
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path
