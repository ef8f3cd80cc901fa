"""Athena project files (Demeter/Ifeffit): gzip-compressed Perl-serialised, or the JSON variant.

Every data group becomes an experimental spectrum: energies ``x`` and mu(E) ``y``, absorbing element
``bkg_z``, edge ``fft_edge``, sample name = the group's label, calibration shift = ``bkg_eshift``
(recorded; energies are stored as in the project). Groups Athena marks as chi(k), R- or q-space
data are refused. The Perl text is parsed, never evaluated.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..conventions import Origin
from ..errors import InputError
from ..limits import excerpt, load_json, read_input_bytes
from ..values import SampleInfo, SpectrumRecord
from .common import (
    DEFAULT_OPTIONS,
    ReadOptions,
    file_sha256,
    make_record,
    optional_float,
    sort_scan,
)

SIMPLE_ITEM = re.compile(r"'([^'\\]*)'|([^,\s']+)")
PERL_LINE = re.compile(r"^([@$%])(\w+)\s*=\s*(.*?);?\s*$", re.DOTALL)
NOT_MU_FLAGS = ("is_chi", "is_rsp", "is_qsp")  # chi(k), chi(R), chi(q): not on an energy axis
# Groups that are not measured data: skipped with a warning naming the group.
SKIPPED_FLAGS = {"not_data": "not data (Athena's not_data flag)", "is_fit": "a fit result",
                 "is_diff": "a difference spectrum"}
# Athena's datatype values that are mu(E)
MU_DATATYPES = ("", "xmu", "xanes", "norm", "xmudat")
NULL_FILE = "@&^^null^^&@"


def _perl_list(text: str) -> list[str]:
    """The items of a Perl list literal: quoted strings, bare words/numbers, nested [...] or {...} kept raw."""
    body = text.strip()
    if body.startswith("("):
        body = body[1:body.rfind(")")]
    if not any(c in body for c in "[{\\"):
        return [m.group(1) if m.group(1) is not None else m.group(2) for m in SIMPLE_ITEM.finditer(body)]
    items: list[str] = []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c in ", \t\n=>":
            i += 1
        elif c == "'":
            j, out = i + 1, []
            while j < n and body[j] != "'":
                if body[j] == "\\" and j + 1 < n:
                    j += 1
                out.append(body[j])
                j += 1
            items.append("".join(out))
            i = j + 1
        elif c in "[{":
            depth, j, quoted = 0, i, False
            while j < n:
                ch = body[j]
                if ch == "\\" and quoted:
                    j += 2
                    continue
                if ch == "'":
                    quoted = not quoted
                elif not quoted and ch in "[{":
                    depth += 1
                elif not quoted and ch in "]}":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            items.append(body[i:j + 1])
            i = j + 1
        else:
            j = i
            while j < n and body[j] not in ", \t\n":
                j += 1
            items.append(body[i:j])
            i = j
    return items


def _perl_groups(text: str, path: Path) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("[record]"):
            if current:
                groups.append(current)
            current = {}
            continue
        match = PERL_LINE.match(line)
        if not match:
            continue
        sigil, name, value = match.groups()
        if sigil == "$" and name == "old_group":
            current = {"_group": _perl_list(value)[0] if _perl_list(value) else "", "_line": number}
        elif sigil == "@" and name == "args" and current:
            items = _perl_list(value)
            current["args"] = dict(zip(items[0::2], items[1::2]))
        elif sigil == "@" and name in ("x", "y") and current:
            try:
                current[name] = [float(v) for v in _perl_list(value)]
            except ValueError:
                raise InputError(path, f"@{name} of group {excerpt(current.get('_group'))} has a value that is not a number",
                                 where=f"line {number}") from None
    return groups


def _json_groups(data: Any, path: Path) -> list[dict[str, Any]]:
    """The groups of Demeter's JSON project, each checked for the types Athena writes: ``args`` an
    object, ``x`` and ``y`` lists of numbers (or numeric strings); anything else names the group."""
    if not isinstance(data, dict):
        raise InputError(path, f"an Athena JSON project is a JSON object, not a {_json_type(data)}")
    order = data.get("_____order")
    if order is None:
        order = [k for k in data if not k.startswith("_____")]
    if not isinstance(order, list) or not all(isinstance(name, str) for name in order):
        raise InputError(path, "_____order must be a list of group names (strings)")
    groups = []
    for name in order:
        group = data.get(name)
        if not isinstance(group, dict) or "x" not in group:
            raise InputError(path, f"group {excerpt(name)} listed in _____order has no arrays")
        args = group.get("args", {})
        if not isinstance(args, dict):
            raise InputError(path, f"'args' must be a JSON object, not a {_json_type(args)}", where=f"group {excerpt(name)}")
        arrays = {}
        for key in ("x", "y"):
            value = group.get(key)
            if value is not None and not (isinstance(value, list) and all(
                    isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in value)):
                raise InputError(path, f"{excerpt(key)} must be a list of numbers, not a {_json_type(value)}",
                                 where=f"group {excerpt(name)}")
            arrays[key] = value
        groups.append({"_group": name, "args": args, **arrays})
    return groups


def _json_type(value: Any) -> str:
    """JSON's name for the type of a parsed value (for messages)."""
    if isinstance(value, list) and value and not all(isinstance(v, (int, float, str)) for v in value):
        return "list holding an " + _json_type(next(v for v in value if not isinstance(v, (int, float, str))))
    return {dict: "object", list: "list", str: "string", bool: "boolean", int: "number", float: "number",
            type(None): "null"}.get(type(value), type(value).__name__)


def read_groups(path: Path) -> tuple[list[dict[str, Any]], str]:
    """(groups, header text) of an Athena project, gzip-compressed or not; the file and its
    decompressed content are bounded by :mod:`repository.limits` (decompressed in a stream)."""
    raw = read_input_bytes(path, decompress=True)
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff")
    del raw
    if text.lstrip().startswith("{"):
        try:
            data = load_json(text, path)
        except json.JSONDecodeError as exc:
            raise InputError(path, f"not valid JSON: {exc.msg}", where=f"line {exc.lineno}") from None
        header = " ".join(str(v) for k, v in data.items() if k.startswith("_____header")) \
            if isinstance(data, dict) else ""
        return _json_groups(data, path), header
    if "Athena project file" not in text[:500]:
        raise InputError(path, "not an Athena project file (no '# Athena project file' header)", where="line 1")
    header = " ".join(line.lstrip("# ") for line in text.splitlines()[:3] if line.startswith("#"))
    return _perl_groups(text, path), header


def read_athena(path: Path, options: ReadOptions = DEFAULT_OPTIONS) -> list[SpectrumRecord]:
    """An Athena project -> one experimental spectrum per group."""
    groups, header = read_groups(path)
    if not groups:
        raise InputError(path, "the project has no data groups")
    digest = file_sha256(path)
    records = []
    warnings: list[str] = []
    for number, group in enumerate(groups, start=1):
        args = group.get("args", {})
        label = _text(args.get("label")) or group["_group"]
        name = f"group {number} ({label})"
        for flag in NOT_MU_FLAGS:
            if _flag(args, flag):
                raise InputError(path, f"group is {flag[3:]} data, not mu(E): xasrepo stores spectra on an energy axis",
                                 where=name)
        if _flag(args, "is_pixel"):
            raise InputError(path, "group is on a pixel axis (Athena is_pixel), not on an energy axis: calibrate it "
                                   "to energy in Athena first", where=name)
        datatype = str(args.get("datatype", "") or "").strip().lower()
        if datatype not in MU_DATATYPES:
            raise InputError(path, f"group is {excerpt(datatype)} data (Athena datatype), not mu(E)", where=name)
        skipped = next((why for flag, why in SKIPPED_FLAGS.items() if _flag(args, flag)), None)
        if skipped:
            warnings.append(f"{name} skipped: {skipped}")
            continue
        if group.get("x") is None or group.get("y") is None:
            raise InputError(path, "group has no x/y arrays", where=name)
        try:
            energy = np.asarray(group["x"], dtype=float)
            intensity = np.asarray(group["y"], dtype=float)
        except ValueError:
            raise InputError(path, "x or y holds a value that is not a number", where=name) from None
        unit = "keV" if _flag(args, "is_kev") else None
        energy, intensity, _ = sort_scan(path, energy, intensity, where=name)
        shift = optional_float(args.get("bkg_eshift"))
        sample = SampleInfo(sample_name=label, calibration_shift_ev=shift if shift else None,
                            beamline=_text(args.get("beamline")))
        keep = ("label", "file", "bkg_e0", "bkg_eshift", "bkg_z", "fft_edge", "is_merge", "is_nor", "is_xmu",
                "recordtype", "source", "importance")
        metadata = {"format": "athena", "athena": {
            "project": header, "group": group["_group"],
            "args": {k: args[k] for k in keep if k in args and args[k] not in ("", None, NULL_FILE)}}}
        records.append(make_record(path, digest, options, energy=energy, signal=intensity, element=_text(args.get("bkg_z")),
                                   edge=_text(args.get("fft_edge")), origin=Origin.EXPERIMENTAL, sample=sample,
                                   metadata=metadata, name=name, energy_unit=unit,
                                   warnings=warnings if not records else None))
    if not records:
        raise InputError(path, "the project has no data groups (" + "; ".join(warnings) + ")")
    return records


def _text(value: Any) -> str | None:
    """An Athena argument as text: strings and numbers as written, anything else (a list or object
    where Athena writes a scalar) as None."""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value).strip() or None
    return None


def _flag(args: dict[str, Any], flag: str) -> bool:
    return str(args.get(flag, "0")).strip() not in ("0", "", "None")
