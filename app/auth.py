"""API keys: stored as SHA-256 hashes with a role; the admin key comes from the settings.

Roles and what they may do (``admin`` may do everything):

- ``channel``: decisions, outcomes, events, customer profiles
- ``web``: decisions and outcomes on the ``web`` channel only (a key that may sit in a web page)
- ``marketer``: offers, triggers
- ``analyst``: metrics, customer history, reads of offers
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from sqlalchemy import Engine, insert, select

from decisioning.tables import api_keys

__all__ = ["ROLES", "KeyRing", "hash_key"]

ROLES = ("channel", "web", "marketer", "analyst", "admin")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyRing:
    """Resolve a presented key to its role; SQL lookups are cached for ``ttl_s`` seconds."""

    def __init__(self, engine: Engine, admin_key: str, *, ttl_s: float = 5.0) -> None:
        self._engine = engine
        self._admin_hash = hash_key(admin_key)
        self._ttl_s = ttl_s
        self._cache: dict[str, tuple[str | None, float]] = {}

    def role_of(self, key: str) -> str | None:
        digest = hash_key(key)
        if hmac.compare_digest(digest, self._admin_hash):
            return "admin"
        cached = self._cache.get(digest)
        now = time.monotonic()
        if cached is not None and now - cached[1] < self._ttl_s:
            return cached[0]
        with self._engine.connect() as conn:
            row = conn.execute(
                select(api_keys.c.role).where(
                    api_keys.c.key_hash == digest, api_keys.c.revoked.is_(False)
                )
            ).first()
        role = row[0] if row else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (role, now)
        return role

    def create(self, role: str) -> tuple[str, str]:
        """Make a new key; returns ``(key_id, key)``. The key itself is never stored."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        key_id = secrets.token_hex(8)
        key = f"nbo_{role}_{secrets.token_urlsafe(24)}"
        with self._engine.begin() as conn:
            conn.execute(
                insert(api_keys).values(
                    key_id=key_id, key_hash=hash_key(key), role=role, revoked=False
                )
            )
        return key_id, key
