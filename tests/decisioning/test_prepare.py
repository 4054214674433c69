"""After a hot-load, the runtime prepares the encoded catalogue: no decision pays for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from decisioning import Catalogue, Decider, ModelHolder, SqlCatalogue, make_engine, migrate
from models import BanditModel, ThompsonPolicy


def test_prepare_encodes_the_catalogue_against_the_served_snapshot(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'nbo.db'}")
    migrate(engine)
    source = SqlCatalogue(engine)
    for i in range(3):
        source.put(f"o{i}", {"name": f"O{i}", "channels": ["web"], "value": 10.0 + i})
    catalogue = Catalogue(source)
    catalogue.load(1)
    holder = ModelHolder()
    decider = Decider(
        customers=cast(Any, None),
        log=cast(Any, None),
        catalogue=catalogue,
        model=holder,
        policy=ThompsonPolicy(seed=1),
    )
    decider.prepare()  # no channel decided on yet: the catalogue's matrix only
    assert holder.offer_matrix(holder.snapshot, catalogue)[0].offer_ids == ("o0", "o1", "o2")
    screen = decider._screen("web")

    model = BanditModel()
    model.learn_one({"segment": "a", "offer.id": "o1"}, True)
    holder.install(model.export(version=7))
    decider.prepare()
    matrix, row_of = holder.offer_matrix(holder.snapshot, catalogue)
    prepared = decider._rows["web"]
    assert prepared[0] is matrix and prepared[1] is screen
    assert decider._screen_matrix(matrix, row_of, screen) is prepared[2]
    assert prepared[2].own.tolist() == [-1, 0, -1]  # encoded against version 7's own models
    engine.dispose()
