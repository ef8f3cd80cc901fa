"""Switching issue 12's import checks off inside a benchmark process, to time them in the same run.

``checks_disabled()`` replaces the element/edge/energy check (``repository.edges.check_edge``, and
the edge-step check ``check_edge_step`` after it, as
the readers and the calc-set reader call it) and the XDI metadata validation by no-ops; everything
else (parsing, array validation, identity hashes, writing) is unchanged. For benchmarks only.
"""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def checks_disabled():
    import repository.calcset as calcset
    import repository.edges as edges
    import repository.formats.xdi as xdi

    def no_check(element, edge, energy, mu, **_):
        return 0.0

    def no_step_check(element, edge, energy, mu, tabulated_e0_ev):
        return None

    def keep_all(doc, path):
        return dict(doc.fields), [], xdi.parse_temperature_k(doc.get("Sample.temperature"))

    saved = (edges.check_edge, edges.check_edge_step, calcset.check_edge, xdi.validate_fields)
    edges.check_edge, edges.check_edge_step, calcset.check_edge, xdi.validate_fields = (
        no_check, no_step_check, no_check, keep_all)
    try:
        yield
    finally:
        edges.check_edge, edges.check_edge_step, calcset.check_edge, xdi.validate_fields = saved


@contextmanager
def checks_timed(spent: list[float]):
    """Run with the checks on, adding the CPU seconds spent inside them to ``spent[0]`` (robust on a
    loaded machine, where on/off differences of whole imports drown in noise)."""
    import time

    import repository.calcset as calcset
    import repository.edges as edges
    import repository.formats.xdi as xdi

    saved = (edges.check_edge, edges.check_edge_step, calcset.check_edge, xdi.validate_fields)

    def timed(function):
        def wrapper(*args, **kwargs):
            start = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                spent[0] += time.process_time() - start
        return wrapper

    edges.check_edge, edges.check_edge_step, calcset.check_edge, xdi.validate_fields = (timed(f) for f in saved)
    try:
        yield
    finally:
        edges.check_edge, edges.check_edge_step, calcset.check_edge, xdi.validate_fields = saved
