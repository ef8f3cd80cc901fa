"""Alignment check over every member of the bundled BN snapshots (docs/analysis.md "Alignment").

For every iso B K and N K spectrum of data/bn: the shift that ``project --align onset`` and
``--align fit`` find for the member itself (should be 0) and whether it comes back as its own exact
match, and the shift recovered for copies shifted by +-1, +-3, +-8 eV. Usage:
``python bench/alignment.py [DB]`` (DB: a database with data/bn imported; default a fresh one).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OFFSETS_EV = (-8.0, -3.0, -1.0, 1.0, 3.0, 8.0)


def main() -> None:
    from repository import db
    from repository.analysis import project as pj
    from repository.analysis import recipe as rec
    from repository.analysis.create import create_snapshot
    from repository.snapshots.registry import load_model

    if len(sys.argv) > 1:
        url = sys.argv[1]
    else:
        from repository.calcset import read_calcset
        from repository.importer import import_calcset

        url = str(Path(tempfile.mkdtemp()) / "bn.db")
        db.upgrade(url)
        with db.connected(url) as engine:
            import_calcset(engine, read_calcset(ROOT / "data" / "bn"))
    with db.connected(url) as engine:
        for element in ("B", "N"):
            made = create_snapshot(engine, method="pca", element=element, edge="K", where="polarization = iso")
            model = load_model(made.record)
            recipe = rec.Recipe.from_json(str(model["recipe_json"]))
            train, e0s = model["train"], model["train_e0_ev"]
            worst = {"onset": 0.0, "fit": 0.0}
            not_first = {"onset": 0, "fit": 0}
            copies = []
            started = time.perf_counter()
            for row, spectrum_id in enumerate(model["ids"].tolist()):
                query = pj.query_from_database(engine, int(spectrum_id))
                for align in ("onset", "fit"):
                    x, shift = pj.prepare(query, recipe, float(model["reference_onset_ev"]), align=align, train=train,
                                          train_e0_ev=e0s)
                    worst[align] = max(worst[align], abs(shift))
                    not_first[align] += pj.exact_match(x, train, prefer=row) != row
                for offset in OFFSETS_EV:
                    moved = pj.QuerySpectrum(query.energy_ev + offset, query.intensity, element, "K")
                    try:
                        x, shift = pj.prepare(moved, recipe, float(model["reference_onset_ev"]), align="fit",
                                              train=train, train_e0_ev=e0s)
                        copies.append(abs(shift + offset))
                    except Exception as err:  # noqa: BLE001 - reported, the measurement goes on
                        print(f"  {element} K spectrum {spectrum_id} shifted {offset:+g}: {err}")
                        copies.append(np.inf)
            n = len(model["ids"])
            print(f"{element} K: {n} members, {made.record['recipe']['energy_min_ev']}-"
                  f"{made.record['recipe']['energy_max_ev']} eV; excluded by the window: "
                  f"{len(made.window['excluded']) if made.window else 'n/a'}")
            for align in ("onset", "fit"):
                print(f"  --align {align}: worst |shift| of a member {worst[align]:.2e} eV; "
                      f"members not their own exact match {not_first[align]} of {n}")
            copies = np.asarray(copies)
            print(f"  copies shifted by +-1/3/8 eV ({copies.size}): worst |recovered - applied| "
                  f"{copies.max():.2e} eV, median {np.median(copies):.2e} eV, within 0.01 eV: "
                  f"{(copies <= 0.01).sum()} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
