"""One error base class for the library.

The CLI turns any :class:`XasrepoError` into a one-line message on stderr and the error's
``exit_code`` (2 for bad input or usage, 1 for failed checks), with no traceback.
"""

from __future__ import annotations

from pathlib import Path


class XasrepoError(Exception):
    """Base of every error the library raises on purpose."""

    exit_code = 2

    def __init__(self, message: str):
        # One line, always: multi-line messages are flattened so the CLI contract holds.
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return str(self)


class InputError(XasrepoError):
    """Bad input in a file: names the file, the place in it (line or field) and what is wrong.

    ``file`` None: ``problem`` already names its input (an earlier error's message, re-raised with
    more advice), so nothing is put before it; the file is never named twice."""

    def __init__(self, file: str | Path | None, problem: str, where: str | None = None):
        self.file = str(file) if file is not None else None
        self.where = where
        self.problem = problem
        parts = [_as_given(self.file)] if self.file else []
        if where:
            parts.append(where)
        super().__init__(": ".join([*parts, problem]))


class MissingMetadata(InputError):
    """A file that does not say something a record needs (its absorbing element or edge) and was not
    told it by an option; callers that can supply it (``--probe FILE:element=B,edge=K``) catch this."""


class NonPositiveEnergy(InputError):
    """Photon energies at or below 0 eV: the file's energies look relative to the edge; callers
    that align energies anyway (``project --align edge-onset|fit``) catch this and supply an edge energy."""


def _as_given(file: str) -> str:
    """A path inside the working directory as a relative path, the way people type it."""
    path = Path(file)
    if path.is_absolute():
        try:
            return str(path.relative_to(Path.cwd()))
        except (ValueError, OSError):  # elsewhere, or no working directory: the full path is clearer
            pass
    return file


class UsageError(XasrepoError):
    """A request that cannot be carried out as asked (bad option combination, unknown id...)."""


class NotFoundError(XasrepoError):
    """An id or name that is not in the database."""


class SchemaError(XasrepoError):
    """The database has no xasrepo schema, or one of another revision."""


class ChecksFailed(XasrepoError):
    """A verification found problems (exit code 1, like a failing test)."""

    exit_code = 1


class EnvironmentFault(XasrepoError):
    """The machine, not the input, stopped the command: a full disk, read-only storage, a lost
    database connection, no memory left (exit code 1, like a failed check; nothing was written
    that is not rolled back)."""

    exit_code = 1


class NewerSchemaError(SchemaError):
    """The database was made or upgraded by a newer xasrepo: its schema revision is unknown here.
    Nothing is read or changed; the message names the revision and the newest one this code knows."""


class QueryTimeout(UsageError):
    """A statement ran past its time limit and was cancelled (on the server too)."""


class QueryCancelled(XasrepoError):
    """The user interrupted a statement (Ctrl-C); it was cancelled (on the server too). Exit code
    130, the shell's code for an interrupted command."""

    exit_code = 130


class LimitExceeded(InputError):
    """An input over one of the documented limits of :mod:`repository.limits` (file size,
    decompressed size, atoms, points, manifest entries, nesting depth); the message names the file,
    the limit and the environment variable that raises it."""
