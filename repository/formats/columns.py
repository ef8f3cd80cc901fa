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

from ..conventions import Origin
from ..errors import InputError
from ..textcolumns import COMMENT_PREFIXES, is_number, parse_numbers, split_fields
from ..values import SampleInfo, SpectrumRecord
from .common import (
    DEFAULT_OPTIONS,
    HC_EV_ANGSTROM,
    ReadOptions,
    Table,
    file_sha256,
    make_record,
    normalise_signal,
    read_text,
    sort_by_energy,
)

# How many non-blank lines above the data are searched for the column names (beamline files put
# offsets, gains or detector modes between the names and the data).
NAME_LINES_SEARCHED = 4
D_SPACING = re.compile(r"\bD\s*=\s*(\d+(?:\.\d*)?)\s*A\b")
ENERGY_NAMES = re.compile(r"^(e|ev|energy|omega|pe/ev|photon[_ ]?energy|.*energy.*|e/ev|energy/ev)$", re.IGNORECASE)
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


def read_table(path: Path, text: str) -> Table:
    lines = text.splitlines()
    if ";" in text:
        for i, line in enumerate(lines):
            if DECIMAL_COMMA_ROW.match(line):
                raise InputError(path, f"numbers are written with decimal commas ({line.strip()!r}); "
                                       "export them with decimal points", where=f"line {i + 1}")
    numeric = [parse_numbers(line) if line.strip() and not line.lstrip().startswith(COMMENT_PREFIXES) else None
               for line in lines]
    best_start, best_len, start, length = None, 0, None, 0
    for i, (line, values) in enumerate(zip(lines, numeric)):
        if values is not None:
            if start is None:
                start, length = i, 0
            length += 1
            if length > best_len:
                best_start, best_len = start, length
        elif line.strip() and not line.lstrip().startswith(COMMENT_PREFIXES):
            start, length = None, 0
    if best_start is None:
        raise InputError(path, "no rows of numbers found")
    width = len(numeric[best_start])
    rows, row_lines = [], []
    for i in range(best_start, len(lines)):
        line = lines[i]
        if not line.strip() or line.lstrip().startswith(COMMENT_PREFIXES):
            continue
        values = numeric[i]
        if values is None:
            bad = next((f for f in split_fields(line) if not is_number(f)), None)
            if bad is None:  # only separators, e.g. ","
                raise InputError(path, f"{line.strip()!r} is not a row of numbers", where=f"line {i + 1}")
            raise InputError(path, f"{bad!r} is not a number", where=f"line {i + 1}")
        if len(values) != width:
            raise InputError(path, f"expected {width} columns, found {len(values)}", where=f"line {i + 1}")
        bad = [v for v in values if not np.isfinite(v)]
        if bad:
            raise InputError(path, f"{bad[0]!r} is not a finite number", where=f"line {i + 1}")
        rows.append(values)
        row_lines.append(i + 1)
    names: list[str] = []
    looked = 0
    for i in range(best_start - 1, -1, -1):
        if not lines[i].strip() or lines[i].strip() in COMMENT_PREFIXES:
            continue
        looked += 1
        candidate = _split_names(lines[i])
        numeric_names = sum(is_number(n) for n in candidate)
        if len(candidate) == width and not is_number(candidate[0]) and numeric_names * 2 <= width:
            names = candidate
            break
        if looked >= NAME_LINES_SEARCHED:
            break
    return Table(np.array(rows, dtype=float), np.array(row_lines), names or [f"col{j + 1}" for j in range(width)],
                 [None] * width)


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
    raise InputError(path, f"the file has {table.width} columns ({', '.join(table.names)}): choose the signal with "
                           "--signal-col (and --energy-col, --i0-col if needed)")


def read_columns(path: Path, options: ReadOptions = DEFAULT_OPTIONS) -> list[SpectrumRecord]:
    """One column file -> one experimental spectrum (element and edge from --element/--edge)."""
    text = read_text(path)
    table = read_table(path, text)
    energy_index, signal_index = _default_columns(table, path, options)
    i0_index = table.find(options.i0_col, path, "I0") if options.i0_col else None
    intensity, signal_label = normalise_signal(table, signal_index, i0_index, options.measurement_mode, path)
    energy = _energy_values(table, energy_index, text, path)
    descending = energy.size > 1 and bool(np.all(np.diff(energy) < 0))
    energy, intensity = sort_by_energy(energy, intensity)
    lines = table.lines[::-1] if descending else table.lines
    metadata = {"format": "columns",
                "columns": {"energy": table.names[energy_index], "signal": signal_label, "all": table.names}}
    own, own_metadata = _xasrepo_header(path, text)
    if own_metadata is not None:
        metadata = own_metadata
    sample_fields = {k: own.get(k) for k in ("sample_name", "facility", "beamline", "measurement_mode",
                                              "calibration_shift_ev", "temperature_k")}
    return [make_record(path, file_sha256(path), options, energy=energy, signal=intensity,
                        element=own.get("absorbing_element"), edge=own.get("edge"),
                        origin=Origin(own.get("origin", Origin.EXPERIMENTAL.value)), line_of_point=lines,
                        spectrum_type=own.get("spectrum_type"), sample=SampleInfo(**sample_fields),
                        absorber_site_index=own.get("absorber_site_index"), metadata=metadata,
                        polarization=own.get("polarization", "iso"))]


def _xasrepo_header(path: Path, text: str) -> tuple[dict, dict | None]:
    """What a CSV written by xasrepo says about itself in its '# xasrepo:' and '# metadata:' lines."""
    import json

    own: dict = {}
    metadata = None
    for number, line in enumerate(text.splitlines()[:5], start=1):
        for prefix in ("# xasrepo:", "# metadata:"):
            if line.startswith(prefix):
                try:
                    value = json.loads(line[len(prefix):])
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
        raise InputError(path, f"the energy column {table.names[index]!r} is a monochromator angle and the header "
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
