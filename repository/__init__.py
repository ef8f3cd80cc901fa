"""xasrepo: a database-backed repository for X-ray absorption spectra.

The package is import-light on purpose: heavy libraries (pymatgen, umap, numba, pyarrow, sklearn)
are imported inside the functions that need them, so the CLI starts fast.
"""

__version__ = "0.1.0"
