"""All settings, read once from the environment (and an optional ``.env``)."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NBO_",
        env_file=".env",
        env_ignore_empty=True,
        extra="ignore",
        populate_by_name=True,
    )

    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "NBO_REDIS_URL")
    )
    """Redis to use; unset: start the bundled redis-server with its data in ``data_dir``."""
    redis_cluster: bool = False
    """``REDIS_URL`` names a node of a Redis Cluster."""
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "NBO_DATABASE_URL")
    )
    """SQLAlchemy URL; unset: a SQLite file in ``data_dir``."""
    data_dir: Path = Path(".nbo")
    admin_key: str | None = None
    """The admin API key; unset: one is generated once and kept in ``data_dir/admin.key``."""
    key_prefix: str = "nbo"
    """Prefix of every Redis key (several deployments, or tests, can share one Redis)."""
    stream_shards: int = Field(default=1, ge=1, le=1024)
    control_share: float = Field(default=0.02, ge=0.0, le=1.0)
    exploration_floor: float = Field(default=0.02, ge=0.0, le=1.0)
    thompson_draws: int = Field(default=64, ge=1, le=10_000)
    embedded_learner: bool = True
    """Run the learner inside the API process (one worker); off when learners run apart."""
    learner_checkpoint_s: float = Field(default=1.0, gt=0)
    decision_log_ttl_s: int = Field(default=2 * 86400, ge=60)
    """How long Redis keeps a decision for joining its outcomes (an offer's outcome window plus
    a day, when longer). Redis memory is about rate x TTL x the bytes of one logged decision;
    the SQL archive keeps the joined history for good."""
    malloc_arenas: int = Field(default=2, ge=0)
    """glibc malloc arenas per process (``app/memory.py``); 0 keeps glibc's default."""
    opentelemetry: bool = False
    """FastAPI's native OpenTelemetry spans, metrics and logs, for providers configured in the
    process (e.g. by ``opentelemetry-instrument``). Off by default: nbo's metrics are
    Prometheus's, and with it on every request asks OpenTelemetry whether a provider is
    configured (2.6% of a worker's CPU at full load, ``bench/load.py``'s profile)."""
    blas_threads: int = Field(default=1, ge=0)
    """Threads of numpy's BLAS per process (``app/blas.py``); 0 keeps the library's default."""
    gc_young: int = Field(default=20_000, ge=0)
    """Allocations between two young garbage collections (``app/collector.py``); 0 keeps
    Python's 700."""
    gc_freeze: bool = True
    """Freeze the heap left after startup out of every later garbage collection."""
    malloc_trim_s: float = Field(default=30.0, ge=0)
    """How often free heap pages are handed back to the system (glibc); 0: never."""
    learner_stall_s: float = Field(default=60.0, gt=0)
    """A learner whose loop finishes no read or checkpoint for this long is restarted from its
    checkpoint, with a log of where it was stuck."""
    learner_lease_s: float = Field(default=10.0, ge=0.5)
    """How long the active learner's lease lasts unrenewed: a standby takes over within it."""
    snapshot_refresh_s: float = Field(default=0.5, gt=0)
    catalogue_refresh_s: float = Field(default=1.0, gt=0)
    redis_max_connections: int = Field(default=64, ge=2)
    cors_origins: list[str] = []
    """Web origins allowed to call the API from a browser (the embeddable offers snippet),
    e.g. ``NBO_CORS_ORIGINS='["https://shop.example"]'``."""
    events_history_skip: list[str] = []
    """Event types not written to customers' history (still counted in their aggregates). Empty
    by default: the contract's history holds every event; a site with heavy page-view traffic can
    set ``["page_view"]`` so views do not crowd the decisions and outcomes an agent reads."""
    contract_end_days: int = Field(default=30, ge=0, le=366)
    """The date scan emits ``contract_end`` for contracts ending within this many days."""
    date_scan_rate: float = Field(default=2000.0, ge=0)
    """Customers the date scan (every five minutes, in the learner) reads per second at most; 0:
    unpaced. Unpaced it took about a core from live decisions for the seconds a pass lasts
    (5.6 s for 100,000 customers); at 2,000/s a pass over them takes 50 s at about a tenth of
    a core."""
    date_scan_page: int = Field(default=100, ge=1, le=10_000)
    """Customers read per Redis round trip of the date scan (small pages: short bursts)."""
    seed: int | None = None
    """Seed of the policy's random generator (reproducible runs); unset: random."""
    auth_cache_s: float = Field(default=2.0, gt=0, le=10)
    """How long a process trusts its last SQL answer about a key: the longest a revoked key
    (or a session of it) keeps working."""
    auth_stale_s: float = Field(default=300.0, ge=0)
    """With the database unreachable, keys valid when last checked keep working this long."""
    session_secret: str | None = None
    """Signs the pages' session cookies; unset: derived from the admin key (same on every
    worker; changing either ends every session)."""
    session_ttl_s: int = Field(default=8 * 3600, ge=60, le=30 * 86400)
    """A page session lasts this long after sign-in."""
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    """Largest request body accepted; larger: 413."""
    max_json_depth: int = Field(default=32, ge=4, le=1000)
    """Deepest nesting of arrays and objects accepted in a JSON body; deeper: 422."""
    max_features: int = Field(default=500, ge=1, le=10_000)
    """Most features one customer profile may have (``PUT /v1/customers/{id}``); more: 422."""
    max_offers: int = Field(default=1000, ge=1, le=100_000)
    """Most offers and service actions in the catalogue (active or not); one more: 409."""

    @field_validator("key_prefix")
    @classmethod
    def _prefix_is_safe(cls, value: str) -> str:
        if not value or any(c in value for c in "{}: "):
            raise ValueError("key_prefix must be non-empty, without braces, colons or spaces")
        return value

    def sqlite_url(self) -> str:
        return f"sqlite:///{(self.data_dir / 'nbo.db').resolve()}"

    def effective_database_url(self) -> str:
        return self.database_url or self.sqlite_url()

    def effective_admin_key(self) -> str:
        """The admin key, generating and keeping one in the data folder when none is set."""
        if self.admin_key:
            return self.admin_key
        path = self.data_dir / "admin.key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = "nbo_admin_" + secrets.token_urlsafe(24)
        path.write_text(key + "\n")
        path.chmod(0o600)
        return key


@lru_cache
def get_settings() -> Settings:
    return Settings()
