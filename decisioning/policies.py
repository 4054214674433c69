"""Channel-wide contact policy, owned by marketers: stored in SQL, edited through the API.

One row per named policy (today only ``contact``): outbound channels and their weekly limits,
quiet hours, the interactions in which nbo sells nothing and does not experiment. Saving bumps
the catalogue version, so every worker reloads it with the catalogue within about a second.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, insert, select, update

from .contact_policy import ContactPolicy
from .tables import policies

__all__ = ["SqlPolicies"]

CONTACT = "contact"


class SqlPolicies:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def contact(self) -> ContactPolicy:
        """The stored contact policy, or the defaults when none was saved."""
        with self._engine.connect() as conn:
            row = conn.execute(select(policies.c.body).where(policies.c.name == CONTACT)).first()
        return ContactPolicy.from_body(dict(row[0])) if row else ContactPolicy()

    def put_contact(self, body: dict[str, Any]) -> ContactPolicy:
        policy = ContactPolicy.from_body(body)  # validates before anything is written
        stored = policy.to_body()
        with self._engine.begin() as conn:
            exists = conn.execute(select(policies.c.name).where(policies.c.name == CONTACT)).first()
            if exists:
                conn.execute(update(policies).where(policies.c.name == CONTACT).values(body=stored))
            else:
                conn.execute(insert(policies).values(name=CONTACT, body=stored))
        return policy
