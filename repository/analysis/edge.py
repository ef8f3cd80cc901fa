"""e0 and edge-step normalisation (Larch's ``find_e0`` and ``pre_edge``) for the analysis layer.

The port lives in :mod:`repository.larch_edge`, below the readers, because ``xasrepo import`` uses
the same edge step to refuse a measured spectrum that does not rise at its edge
(:func:`repository.edges.check_edge_step`; formats may not import the analysis layer). This module
re-exports it under its earlier name.
"""

from __future__ import annotations

from ..larch_edge import PreEdge, find_e0, find_e0_rows, pre_edge

__all__ = ["PreEdge", "find_e0", "find_e0_rows", "pre_edge"]
