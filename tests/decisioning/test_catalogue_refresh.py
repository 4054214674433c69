"""A catalogue refresh reads SQL in a thread but swaps the catalogue on the event loop: a decision
reads a channel's offers and the encoded catalogue one after the other, with no await between, so
a swap from a thread could give it offers the encoded catalogue did not have (a 500 once, in
tests/app/test_replicas.py)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from decisioning import Catalogue, SqlCatalogue, make_engine, migrate


def test_a_refresh_installs_the_new_catalogue_on_the_event_loop(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'nbo.db'}")
    migrate(engine)
    source = SqlCatalogue(engine)
    source.put("o1", {"name": "O1", "channels": ["web"], "value": 1.0})
    catalogue = Catalogue(source)
    catalogue.load(1)
    installed_on: list[threading.Thread] = []
    install = catalogue._install

    def recording(*args: Any) -> None:
        installed_on.append(threading.current_thread())
        install(*args)

    catalogue._install = recording  # type: ignore[method-assign]
    source.put("o2", {"name": "O2", "channels": ["web"], "value": 1.0})

    async def refresh() -> threading.Thread:
        assert await catalogue.refresh(2)
        return threading.current_thread()

    loop_thread = asyncio.run(refresh())
    assert installed_on == [loop_thread]
    assert [o.offer_id for o in catalogue.for_channel("web")] == ["o1", "o2"]
    assert catalogue.version == 2
    engine.dispose()
