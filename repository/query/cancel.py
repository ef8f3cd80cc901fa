"""Running a database call so that a time limit or Ctrl-C cancels it, on the server too.

:func:`call_cancellable` runs the call in a worker thread while the calling (main) thread waits
for it, so ``KeyboardInterrupt`` arrives at once even while a driver is busy in C code, and on a
deadline or Ctrl-C it calls the engine's own cancel: ``sqlite3.Connection.interrupt``,
``duckdb.DuckDBPyConnection.interrupt`` or psycopg's ``Connection.cancel`` (a cancel request
to the server, so the statement stops there as well and does not keep running after the client
is gone; PostgreSQL's ``statement_timeout`` is set as well, for a client that dies outright).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from ..errors import QueryCancelled, QueryTimeout

T = TypeVar("T")
_POLL_S = 0.05
_CANCEL_GRACE_S = 10.0  # how long to wait for the engine to stop after a cancel


class Deadline:
    """An absolute time limit for one statement (``timeout_s`` None or <= 0: none)."""

    def __init__(self, timeout_s: float | None):
        self.timeout_s = timeout_s if timeout_s and timeout_s > 0 else None
        self.end = time.monotonic() + self.timeout_s if self.timeout_s else None

    def remaining(self) -> float | None:
        return None if self.end is None else self.end - time.monotonic()

    def expired(self) -> bool:
        return self.end is not None and time.monotonic() >= self.end

    def error(self) -> QueryTimeout:
        return QueryTimeout(f"the statement ran longer than its time limit of {self.timeout_s:g} s and was "
                            "cancelled (raise it with --timeout SECONDS, 0 for none)")


def cancelled_error() -> QueryCancelled:
    """The :class:`QueryCancelled` error raised when the user presses Ctrl-C during a statement."""
    return QueryCancelled("interrupted (Ctrl-C): the statement was cancelled")


def call_cancellable(call: Callable[[], T], cancel: Callable[[], None], deadline: Deadline) -> T:
    """``call()``, cancelled with ``cancel()`` when ``deadline`` passes (:class:`QueryTimeout`) or
    the user presses Ctrl-C (:class:`QueryCancelled`). Errors of ``call`` are re-raised as they are,
    unless they are the engine's report of our own cancel."""
    if deadline.expired():
        raise deadline.error()
    if threading.current_thread() is not threading.main_thread():
        return call()  # no signals arrive here; a deadline is still enforced by the caller's checks
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as err:  # handed to the waiting thread
            box["error"] = err

    worker = threading.Thread(target=target, name="xasrepo-sql", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            remaining = deadline.remaining()
            worker.join(_POLL_S if remaining is None else max(0.0, min(_POLL_S, remaining)))
            if worker.is_alive() and deadline.expired():
                cancel()
                worker.join(_CANCEL_GRACE_S)
                raise deadline.error()
    except KeyboardInterrupt:
        cancel()
        worker.join(_CANCEL_GRACE_S)
        raise cancelled_error() from None
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]
