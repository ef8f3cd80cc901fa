"""Compact, fast storage of float arrays: little-endian float64 bytes in a BLOB/BYTEA column.

Decoding is a zero-copy ``np.frombuffer``; stacking 100k spectra of one grid into a matrix is a
single ``np.frombuffer`` over the joined bytes (see :func:`stack_blobs`).
"""

from __future__ import annotations

import numpy as np

STORED_DTYPE = np.dtype("<f8")


def to_blob(values: np.ndarray) -> bytes:
    """``values`` as little-endian float64 bytes (:data:`STORED_DTYPE`), the BLOB form of every stored array."""
    return np.ascontiguousarray(values, dtype=STORED_DTYPE).tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    """A read-only float64 view of ``blob``."""
    return np.frombuffer(blob, dtype=STORED_DTYPE)


def stack_blobs(blobs: list[bytes], n_points: int) -> np.ndarray:
    """Stack equal-length blobs into an ``(len(blobs), n_points)`` matrix with one copy."""
    matrix = np.frombuffer(b"".join(blobs), dtype=STORED_DTYPE)
    return matrix.reshape(len(blobs), n_points)
