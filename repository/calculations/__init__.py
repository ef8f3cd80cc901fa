"""First-principles B/N K-edge XAS of boron nitride (the project's bundled ``data/bn`` set).

Deliberately import-light: nothing here imports pymatgen, so :mod:`.gpaw_worker` can run under
``/usr/bin/python3`` (Debian's GPAW, numpy 1.x) while the planner and assembler run in the
project venv.

Modules
-------
bn_cells     pymatgen structure building, defects, absorber-site choice, job plan (venv)
gpaw_worker  one job (relax | gs | xas) with ASE/GPAW only (/usr/bin/python3)
runner       resumable, niced, deadline-bounded two-slot scheduler (any python, stdlib only)
assemble     raw results -> ``data/bn/calcset.toml`` + files (venv)

Entry point: ``python -m repository.calculations plan|run|assemble|status``.
See ``docs/bn-calculations.md``.
"""

GENERATOR_VERSION = "0.1"
