"""The ``xasrepo`` command line: a thin typer shell over :mod:`repository`."""
