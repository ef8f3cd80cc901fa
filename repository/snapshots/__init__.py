"""Embedding snapshots: immutable Parquet files, their registry, and queries over them.

* :mod:`.files` -- where snapshot files go, their hashes, footer metadata, intactness checks;
* :mod:`.registry` -- the ``snapshot`` / ``snapshot_point`` tables: listing, looking up, reading
  (checked against the registered SHA-256), storing a new snapshot, verifying every file;
* :mod:`.parquet` -- the query language and read-only SQL (DuckDB) over snapshot rows;
* :mod:`.status` -- is a snapshot current or stale, and how do two snapshots differ.

This package stores and reads snapshots; computing one (selection, preprocessing, fit) is the
analysis layer's :func:`repository.analysis.create.create_snapshot`. Nothing is imported here,
so ``import repository.snapshots.parquet`` stays light (pyarrow, DuckDB load inside functions).
"""
