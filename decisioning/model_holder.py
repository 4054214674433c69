"""The model snapshot a worker serves with, hot-swapped when the learner publishes a new one.

Swapping is one attribute assignment of an immutable snapshot, so a request in flight keeps the
snapshot it started with; the encoded catalogue is cached per (snapshot, catalogue) version.
"""

from __future__ import annotations

import time

from models import OfferMatrix, Snapshot

from .catalogue import Catalogue
from .offers import Offer

__all__ = ["ModelHolder"]


class ModelHolder:
    def __init__(self, *, refresh_s: float = 0.5, pinned_version: int | None = None) -> None:
        self.refresh_s = refresh_s
        self.pinned_version = pinned_version
        self._snapshot = Snapshot.empty()
        self._matrix_key: tuple[int, int] = (-1, -1)
        self._matrix: OfferMatrix | None = None
        self._row_of: dict[str, int] = {}
        self._checked_at = 0.0

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    @property
    def version(self) -> int:
        return self._snapshot.version

    def install(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def due(self) -> bool:
        return time.monotonic() - self._checked_at >= self.refresh_s

    def checked(self) -> None:
        self._checked_at = time.monotonic()

    def offer_matrix(
        self, snapshot: Snapshot, catalogue: Catalogue
    ) -> tuple[OfferMatrix, dict[str, int]]:
        """All active offers encoded against ``snapshot`` (cached per snapshot and catalogue)."""
        key = (snapshot.version, catalogue.version)
        if self._matrix is None or key != self._matrix_key:
            offers: list[Offer] = list(catalogue.offers)
            self._matrix = snapshot.encode_offers([o.example() for o in offers])
            self._row_of = {o.offer_id: n for n, o in enumerate(offers)}
            self._matrix_key = key
        return self._matrix, self._row_of
