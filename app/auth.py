"""API keys (stored as SHA-256 hashes with a role) and browser sessions signed by the server.

Roles and what they may do (``admin`` may do everything):

- ``channel``: decisions, outcomes, events, customer profiles
- ``web``: decisions and outcomes on the ``web`` channel only (a key that may sit in a web page)
- ``marketer``: offers, triggers
- ``analyst``: metrics, customer history, reads of offers
- ``admin``: all of the above, keys, model rollback

A key is looked up in SQL at most once per ``ttl_s`` per process: that is how long a revoked key
may keep working on a worker that used it just before. While the database is unreachable, a key
that was valid when last checked stays valid for up to ``stale_s`` (decisions keep being served);
a key never seen before cannot be checked and gets :class:`decisioning.Unavailable`.

The pages sign in with a key and get a session cookie instead of keeping the key in the browser.
The cookie carries no key, only ``key_id``, role, a CSRF token and an expiry, signed with HMAC:
every request re-checks the key behind it, so revoking the key ends its sessions too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from decisioning import InvalidInput, NotFound, Unavailable
from decisioning.tables import api_keys

__all__ = [
    "ADMIN_KEY_ID",
    "ROLES",
    "Identity",
    "KeyInfo",
    "KeyNotFound",
    "KeyRing",
    "Session",
    "SessionSigner",
    "hash_key",
    "install_log_redaction",
    "redact_keys",
]

ROLES = ("channel", "web", "marketer", "analyst", "admin")
ADMIN_KEY_ID = "admin"
"""The id of the key from ``NBO_ADMIN_KEY``: it is not in the table and cannot be revoked here."""

log = logging.getLogger("nbo.auth")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


_KEY_SHAPE = re.compile(r"nbo_[a-z]+_[A-Za-z0-9_\-]{16,}")


_known_secrets: set[str] = set()
"""Secrets of other shapes this process knows (the admin key from the settings)."""


def redact_keys(text: str) -> str:
    """Hide anything shaped like an nbo key (``nbo_<role>_<secret>``), and the known secrets.

    >>> redact_keys("GET /v1/offers?key=nbo_channel_abcdefghijklmnopqrstuvwx HTTP/1.1")
    'GET /v1/offers?key=nbo_*** HTTP/1.1'
    """
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return _KEY_SHAPE.sub("nbo_***", text)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a request is: the key's id (``admin`` for ``NBO_ADMIN_KEY``) and its role."""

    key_id: str
    role: str


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What may be shown about a key: never the key, never its hash."""

    key_id: str
    role: str
    created_at: datetime | None
    revoked: bool


class KeyNotFound(NotFound):
    def __init__(self, key_id: str) -> None:
        super().__init__(f"API key {key_id!r} does not exist")
        self.field = "key_id"


CACHE_LIMIT = 10_000
"""Answers a key ring caches (keys in use and refusals alike) before it makes room."""


class KeyRing:
    """Resolve presented keys to identities; SQL answers are cached for ``ttl_s`` seconds.

    A key in steady use is looked up again ahead of its expiry (:meth:`claim_refresh`,
    :meth:`refresh`, from a background thread), so its requests never wait on SQL: when every
    request found the answer expired at once, each of them went to a thread and to SQL (five
    lookups in three seconds, seen with strace on a worker at 300 decisions/s) and waited there.
    """

    def __init__(
        self, engine: Engine, admin_key: str, *, ttl_s: float = 2.0, stale_s: float = 300.0
    ) -> None:
        self._engine = engine
        self._admin_hash = hash_key(admin_key)
        self.ttl_s = ttl_s
        self.stale_s = stale_s
        # digest or "id:<key_id>" -> (identity or None, when it was checked)
        self._cache: dict[str, tuple[Identity | None, float]] = {}
        self._lock = threading.Lock()
        self._refreshing: set[str] = set()

    def identify(self, key: str) -> Identity | None:
        """The identity behind ``key``, or None when it is unknown or revoked."""
        digest = hash_key(key)
        if hmac.compare_digest(digest, self._admin_hash):
            return Identity(ADMIN_KEY_ID, "admin")
        return self._cached(digest, api_keys.c.key_hash == digest)

    def identify_from_cache(self, key: str) -> tuple[bool, Identity | None]:
        """``(True, identity)`` when answering needs no SQL (the admin key, or a fresh cached
        answer), else ``(False, None)``: the caller may then stay on its event loop, and go to
        a thread for :meth:`identify` only on a miss (a thread hop costs a decision more CPU
        than its Redis read)."""
        digest = hash_key(key)
        if hmac.compare_digest(digest, self._admin_hash):
            return True, Identity(ADMIN_KEY_ID, "admin")
        cached = self._cache.get(digest)
        if cached is not None and time.monotonic() - cached[1] < self.ttl_s:
            return True, cached[0]
        return False, None

    def claim_refresh(self, key: str) -> bool:
        """True when the cached answer for ``key`` is past half its ``ttl_s`` and no refresh of
        it is under way; the caller then owes one call of :meth:`refresh` (off the event loop).
        The answer in the cache stays in use meanwhile: it is still younger than ``ttl_s``."""
        digest = hash_key(key)
        cached = self._cache.get(digest)
        if cached is None or time.monotonic() - cached[1] < self.ttl_s / 2:
            return False
        with self._lock:
            if digest in self._refreshing:
                return False
            self._refreshing.add(digest)
        return True

    def refresh(self, key: str) -> None:
        """Look ``key`` up in SQL again (after :meth:`claim_refresh`). When the database fails,
        the cached answer is left to expire and the next request looks it up itself."""
        digest = hash_key(key)
        try:
            self._lookup(digest, api_keys.c.key_hash == digest, None)
        except Unavailable:
            pass
        finally:
            with self._lock:
                self._refreshing.discard(digest)

    def identity_of(self, key_id: str) -> Identity | None:
        """The identity of a key id (a session's), or None when it is unknown or revoked."""
        if key_id == ADMIN_KEY_ID:
            return Identity(ADMIN_KEY_ID, "admin")
        return self._cached(f"id:{key_id}", api_keys.c.key_id == key_id)

    def role_of(self, key: str) -> str | None:
        identity = self.identify(key)
        return identity.role if identity else None

    def _cached(self, slot: str, where: Any) -> Identity | None:
        now = time.monotonic()
        cached = self._cache.get(slot)
        if cached is not None and now - cached[1] < self.ttl_s:
            return cached[0]
        return self._lookup(slot, where, cached)

    def _lookup(
        self, slot: str, where: Any, cached: tuple[Identity | None, float] | None
    ) -> Identity | None:
        """SQL's answer for ``slot``, cached; ``cached`` (the previous answer) stands in for it
        while the database is down, for ``stale_s``."""
        now = time.monotonic()
        try:
            with self._engine.connect() as conn:
                row = conn.execute(
                    select(api_keys.c.key_id, api_keys.c.role).where(
                        where, api_keys.c.revoked.is_(False)
                    )
                ).first()
        except SQLAlchemyError as exc:
            # the database is down: a key that was valid when last checked stays valid for a
            # while (decisions keep being served), anything else cannot be vouched for
            if cached is not None and cached[0] is not None and now - cached[1] < self.stale_s:
                return cached[0]
            raise Unavailable(
                "API keys cannot be checked: the database is unreachable; retry later"
            ) from exc
        identity = Identity(str(row[0]), str(row[1])) if row else None
        with self._lock:
            if len(self._cache) > CACHE_LIMIT:
                # a flood of wrong keys (a web key's page is public) must not push out the keys
                # in use, each of which would then wait on SQL: the refusals go first
                for refused in [s for s, (known, _) in self._cache.items() if known is None]:
                    del self._cache[refused]
                if len(self._cache) > CACHE_LIMIT:
                    self._cache.clear()
            self._cache[slot] = (identity, now)
        return identity

    def forget(self, key_id: str) -> None:
        """Drop cached answers about ``key_id`` (after a revoke in this process)."""
        with self._lock:
            for slot, (identity, _) in list(self._cache.items()):
                if slot == f"id:{key_id}" or (identity is not None and identity.key_id == key_id):
                    del self._cache[slot]

    def create(self, role: str) -> tuple[str, str]:
        """Make a new key; returns ``(key_id, key)``. The key itself is never stored."""
        if role not in ROLES:
            raise InvalidInput("role", f"role must be one of {', '.join(ROLES)}")
        key_id = secrets.token_hex(8)
        key = f"nbo_{role}_{secrets.token_urlsafe(24)}"
        with self._engine.begin() as conn:
            conn.execute(
                insert(api_keys).values(
                    key_id=key_id, key_hash=hash_key(key), role=role, revoked=False
                )
            )
        return key_id, key

    def list(self, *, include_revoked: bool = True) -> list[KeyInfo]:
        """Every key in the table, oldest first (the admin key from the settings is not there)."""
        query = select(
            api_keys.c.key_id, api_keys.c.role, api_keys.c.created_at, api_keys.c.revoked
        ).order_by(api_keys.c.created_at, api_keys.c.key_id)
        if not include_revoked:
            query = query.where(api_keys.c.revoked.is_(False))
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [KeyInfo(str(r[0]), str(r[1]), _utc(r[2]), bool(r[3])) for r in rows]

    def get(self, key_id: str) -> KeyInfo:
        for info in self.list():
            if info.key_id == key_id:
                return info
        raise KeyNotFound(key_id)

    def revoke(self, key_id: str) -> KeyInfo:
        """Mark a key revoked (idempotent). Every process stops accepting it within ``ttl_s``."""
        if key_id == ADMIN_KEY_ID:
            raise InvalidInput(
                "key_id", "the admin key comes from NBO_ADMIN_KEY: change it there to retire it"
            )
        with self._engine.begin() as conn:
            result = conn.execute(
                update(api_keys).where(api_keys.c.key_id == key_id).values(revoked=True)
            )
        if result.rowcount == 0:
            raise KeyNotFound(key_id)
        self.forget(key_id)
        return self.get(key_id)


def _utc(at: datetime | None) -> datetime | None:
    """SQLite hands back naive timestamps (written by ``CURRENT_TIMESTAMP``, in UTC)."""
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser: whose key, its role when signed in, the CSRF token, the expiry."""

    key_id: str
    role: str
    csrf: str
    expires: int


class SessionSigner:
    """Makes and checks session cookies: ``base64(json) . base64(hmac-sha256)``.

    The secret is derived from the admin key unless one is given, so every worker and replica
    with the same settings accepts the same cookies, and changing the admin key ends them all.
    """

    def __init__(self, secret: str, *, ttl_s: int = 8 * 3600) -> None:
        self._secret = hashlib.sha256(b"nbo-session-v1\x00" + secret.encode()).digest()
        self.ttl_s = ttl_s

    def issue(self, identity: Identity) -> tuple[Session, str]:
        session = Session(
            key_id=identity.key_id,
            role=identity.role,
            csrf=secrets.token_urlsafe(24),
            expires=int(time.time()) + self.ttl_s,
        )
        payload = orjson.dumps(
            {"k": session.key_id, "r": session.role, "c": session.csrf, "e": session.expires}
        )
        return session, f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def read(self, cookie: str) -> Session | None:
        """The session in ``cookie``, or None when it is forged, malformed or expired."""
        body, _, mac = cookie.partition(".")
        try:
            payload = _unb64(body)
            given = _unb64(mac)
        except ValueError:
            return None
        if not hmac.compare_digest(given, self._mac(payload)):
            return None
        try:
            data = orjson.loads(payload)
            session = Session(str(data["k"]), str(data["r"]), str(data["c"]), int(data["e"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
        return session if session.expires > time.time() else None

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not text or len(text) > 4096:
        raise ValueError("bad length")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError(str(exc)) from exc


_redacting = False


def install_log_redaction(*secrets: str) -> None:
    """Make every log record hide key-shaped text, whatever logger or handler it goes to.

    Keys are never put in logs on purpose (they travel in headers and bodies, which nothing
    logs); this is the second line, for a client that puts one in a URL (uvicorn's access log
    prints the query string) or an error message that quotes input. Installed once per process.
    """
    global _redacting
    _known_secrets.update(s for s in secrets if len(s) >= 8)
    if _redacting:
        return
    _redacting = True
    make_record = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        if isinstance(record.msg, str):
            record.msg = redact_keys(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_keys(a) if isinstance(a, str) else a for a in record.args)
        return record

    logging.setLogRecordFactory(factory)
