"""Hold-out identification check on the bundled BN set (docs/analysis.md "Identification checks").

Every structure of data/bn is held out in turn: its iso spectra are compared with the spectra of
all other structures (default recipe, absolute energies, and the ``shape`` preset), and we record
the polymorph of the spectrally nearest remaining spectrum and of the majority of the 5 nearest,
and how many held-out spectra get "no confident match" (the applicability domain of
``project``: nearest distance beyond the 90th percentile of the remaining members' own
nearest-neighbour distances). Usage: ``python bench/holdout.py DB`` (data/bn imported).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    from repository import db
    from repository.analysis import project as pj
    from repository.analysis import recipe as rec
    from repository.analysis.load import load_spectra, prepare, select_spectrum_ids

    url = sys.argv[1]
    with db.connected(url) as engine:
        for preset in ("absolute", "shape"):
            for element in ("B", "N"):
                ids = select_spectrum_ids(engine, where=f"element = {element} and polarization = iso")
                prepared = prepare(load_spectra(engine, ids=ids, element=element, edge="K"), rec.Recipe.preset(preset))
                x, kept = prepared.matrix, prepared.spectra.ids
                with engine.connect() as conn:
                    rows = dict((int(a), (b, c)) for a, b, c in conn.exec_driver_sql(
                        "SELECT spectrum_id, structure_id, polymorph FROM spectrum_overview").fetchall())
                structure = np.array([rows[int(i)][0] for i in kept])
                polymorph = np.array([rows[int(i)][1] for i in kept])
                first = top5 = unsure = unsure_right = confident_wrong = hybrid = hybrid_confident_wrong = 0
                sp3 = np.isin(polymorph, ["c-BN", "w-BN"])
                wrong = Counter()
                for held in np.unique(structure):
                    out = structure == held
                    train, test = x[~out], x[out]
                    member_nn = pj.member_nn_rmsd(train)
                    for row, vector in zip(np.flatnonzero(out), test):
                        rmsd = np.sqrt(np.mean((train - vector) ** 2, axis=1))
                        order = np.argsort(rmsd)[:5]
                        names = polymorph[~out][order]
                        ok1 = names[0] == polymorph[row]
                        first += ok1
                        same_hybrid = sp3[~out][order[0]] == sp3[row]
                        hybrid += same_hybrid
                        top5 += Counter(names).most_common(1)[0][0] == polymorph[row]
                        domain = pj.applicability(vector, train, member_nn, kept[~out])
                        if not domain["confident"]:
                            unsure += 1
                            unsure_right += ok1
                        elif not same_hybrid:
                            hybrid_confident_wrong += 1
                        if domain["confident"] and not ok1:
                            confident_wrong += 1
                            wrong[f"{polymorph[row]}->{names[0]}"] += 1
                n = len(kept)
                print(f"{preset:8s} {element} K: {n} spectra of {len(np.unique(structure))} structures: nearest "
                      f"polymorph right {first}/{n} ({first / n:.0%}), majority of 5 right {top5}/{n} "
                      f"({top5 / n:.0%}); no confident match {unsure}/{n} ({unsure / n:.0%}, of them nearest right "
                      f"{unsure_right}); confident but wrong {confident_wrong} {dict(wrong)}; sp2/sp3 of the nearest "
                      f"right {hybrid}/{n}, confident and wrong {hybrid_confident_wrong}")


if __name__ == "__main__":
    main()
