"""FastAPI's native OpenTelemetry (NBO_OPENTELEMETRY): off unless asked, so requests skip it."""

from __future__ import annotations


def test_fastapis_opentelemetry_is_off_unless_asked() -> None:
    from app.main import create_app
    from app.settings import Settings

    quiet = create_app(Settings(redis_url="redis://127.0.0.1:1/0", database_url="sqlite://"))
    assert not quiet._native_telemetry.enabled()
    traced = create_app(
        Settings(redis_url="redis://127.0.0.1:1/0", database_url="sqlite://", opentelemetry=True)
    )
    assert traced._telemetry["tracing"] and traced._telemetry["metrics"]
