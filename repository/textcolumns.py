"""Numeric columns in plain-text files: the one tokenizer (comment marks, separators, numbers) and
a whole-file reader whose errors name the line.

:func:`read_numeric_table` reads files in which every non-comment line is a row of numbers
(calculation-set spectra, FEFF ``xmu.dat``); :mod:`repository.formats.columns` uses the same
tokenizer (:func:`split_fields`, :func:`parse_numbers`, :func:`is_number`) to find the numeric
block of files with headers.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import InputError
from .limits import MAX_POINTS, excerpt, read_input_bytes, shown_name

COMMENT_PREFIXES = ("#", "!", ";", "%")
# Text files have no NUL bytes; this many leading bytes are checked to recognise binary files.
BINARY_SNIFF_BYTES = 8192
_SPLIT = re.compile(r"[,\s;]+")  # commas, semicolons and white space all separate columns


def split_fields(line: str) -> list[str]:
    """The non-empty fields of one line, split at commas, semicolons and white space."""
    return [f for f in _SPLIT.split(line.strip()) if f]


def is_number(text: str) -> bool:
    """Whether ``float(text)`` accepts ``text`` (``nan`` and ``inf`` included)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_numbers(line: str) -> list[float] | None:
    """The numbers of one line, or None when it is empty or any field is not a number."""
    fields = split_fields(line)
    if not fields:
        return None
    try:
        return [float(f) for f in fields]
    except ValueError:
        return None


class DataLines(Sequence[int]):
    """1-based line numbers of a text's data rows, worked out only when an error needs one."""

    def __init__(self, text: str):
        self._text = text
        self._numbers: list[int] | None = None

    def _all(self) -> list[int]:
        if self._numbers is None:
            self._numbers = [number for number, line in enumerate(self._text.splitlines(), start=1)
                             if (stripped := line.strip()) and not stripped.startswith(COMMENT_PREFIXES)]
        return self._numbers

    def __getitem__(self, index):
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())


def read_numeric_table(path: Path, data: bytes | None = None) -> tuple[np.ndarray, Sequence[int]]:
    """All numeric rows of a text file as a 2-D array, plus each row's 1-based line number.

    Comment lines (``# ! ; %``) and blank lines are skipped; columns are separated by commas,
    semicolons or whitespace. A non-numeric or short row raises :class:`InputError` naming its line;
    a binary file, a file over the size limit or with more rows than the points limit of
    :mod:`repository.limits` is refused (:class:`~repository.errors.LimitExceeded`) naming the file.
    ``data``: the file's bytes when the caller has already read them with
    :func:`~repository.limits.read_input_bytes` (which checked the size limit); ``path`` then only
    names the file in messages.
    """
    if data is None:
        data = read_input_bytes(path)
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        raise InputError(shown_name(path), "a binary file, not text: export it as text first")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(shown_name(path), f"not a UTF-8 text file (byte {exc.start})") from None
    del data
    if ";" not in text:
        try:
            # Fast path: numpy's C parser; the loop below only runs to name a bad line.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "input contained no data": reported below, by us
                # One comment character keeps numpy entirely in C; a list of them makes it run a
                # Python generator over every line (3x slower on a typical 300-row spectrum).
                comments = [p for p in COMMENT_PREFIXES if p in text] or "#"
                table = np.loadtxt(io.StringIO(text), comments=comments[0] if len(comments) == 1 else comments,
                                   delimiter="," if "," in text else None, ndmin=2, dtype=float)
            if table.size:
                MAX_POINTS.check(table.shape[0], shown_name(path), found=f"{table.shape[0]:,} rows")
                return table, DataLines(text)
        except ValueError:
            pass
    rows: list[list[float]] = []
    lines: list[int] = []
    width = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith(COMMENT_PREFIXES):
            continue
        fields = split_fields(stripped)
        try:
            values = [float(f) for f in fields]
        except ValueError:
            bad = next(f for f in fields if not is_number(f))
            raise InputError(shown_name(path), f"{excerpt(bad)} is not a number", where=f"line {number}") from None
        if width is None:
            width = len(values)
        elif len(values) != width:
            raise InputError(path, f"expected {width} column{'s' if width != 1 else ''}, found {len(values)}", where=f"line {number}")
        rows.append(values)
        lines.append(number)
        if len(rows) > MAX_POINTS.value():
            MAX_POINTS.check(len(rows), shown_name(path), found=f"more than {len(rows) - 1:,} rows")
    if not rows:
        raise InputError(path, "no numeric data")
    return np.array(rows, dtype=float), np.array(lines)
