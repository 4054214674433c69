"""Page sessions over plain HTTP: the cookie's attributes, CSRF on writes made with the cookie,
sign-out, and a revoked key ending its sessions. Bearer calls are unchanged. Keys never reach
the logs, whatever a client does with them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.factories import make_customer, make_offer
from tests.services import Service, run_service


def sign_in(service: Service, key: str, **headers: str) -> tuple[httpx.Client, dict[str, str]]:
    browser = httpx.Client(base_url=service.url)
    response = browser.post("/v1/session", json={"key": key}, headers=headers)
    assert response.status_code == 200, response.text
    return browser, response.json()


def test_session_cookie_attributes_and_csrf(service: Service) -> None:
    service.client.put("/v1/offers/fibre", json=make_offer(channels=["web"]))
    key = service.key_for("channel")
    browser = httpx.Client(base_url=service.url)
    response = browser.post("/v1/session", json={"key": key})
    session = response.json()
    assert session["signed_in"] and session["role"] == "channel" and session["csrf_token"]
    cookie = response.headers["set-cookie"]
    attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")}
    assert cookie.startswith("nbo_session=")
    assert {"httponly", "samesite", "path", "max-age"} <= attributes
    assert "samesite=strict" in cookie.lower() and "secure" not in attributes  # plain http here
    assert key not in cookie  # the cookie holds no key

    # reads need only the cookie; writes also need the session's CSRF token
    assert browser.get("/v1/customers/_/history").status_code == 200
    decision = {"customer_id": "C1", "channel": "web"}
    bare = browser.post("/v1/decisions", json=decision)
    assert bare.status_code == 403 and "X-CSRF-Token" in bare.json()["detail"]
    wrong = browser.post("/v1/decisions", json=decision, headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    csrf = {"X-CSRF-Token": session["csrf_token"]}
    assert browser.post("/v1/decisions", json=decision, headers=csrf).status_code == 200
    assert browser.put("/v1/customers/C1", json=make_customer()).status_code == 403
    assert browser.put("/v1/customers/C1", json=make_customer(), headers=csrf).is_success
    assert browser.get("/v1/session").json()["csrf_token"] == session["csrf_token"]
    # the role still applies
    assert browser.get("/v1/metrics/learning").status_code == 403

    # a forged or tampered cookie is nobody
    value = browser.cookies["nbo_session"]
    body, mac = value.split(".")
    forged = httpx.Client(base_url=service.url, cookies={"nbo_session": f"{body}x.{mac}"})
    assert forged.get("/v1/customers/_/history").status_code == 401
    assert forged.get("/v1/session").json() == {
        "signed_in": False,
        "key_id": None,
        "role": None,
        "csrf_token": None,
        "expires_at": None,
    }

    # sign out: CSRF needed, then the cookie is gone
    assert browser.delete("/v1/session").status_code == 403
    out = browser.delete("/v1/session", headers=csrf)
    assert out.status_code == 204 and "nbo_session=" in out.headers["set-cookie"]
    assert "nbo_session" not in browser.cookies
    assert browser.get("/v1/customers/_/history").status_code == 401
    assert browser.get("/v1/session").json()["signed_in"] is False


def test_cookie_is_secure_over_https_and_bearer_needs_no_csrf(service: Service) -> None:
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1: the page was reached over https
    _, _ = sign_in(service, service.admin_key)
    secure = httpx.post(
        f"{service.url}/v1/session",
        json={"key": service.admin_key},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert "secure" in {a.strip().lower() for a in secure.headers["set-cookie"].split(";")}
    assert httpx.post(f"{service.url}/v1/session", json={"key": "nope"}).status_code == 401
    # Bearer clients are as before: no cookie, no CSRF token
    service.client.put("/v1/offers/fibre", json=make_offer(channels=["web"]))
    answer = service.client.post("/v1/decisions", json={"customer_id": "C1", "channel": "web"})
    assert answer.status_code == 200


def test_revoking_a_key_ends_its_sessions(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    with run_service(redis_url, database_url, tmp_path / "data", auth_cache_s=0.2) as service:
        made = service.client.post("/v1/keys", json={"role": "analyst"}).json()
        browser, _ = sign_in(service, made["key"])
        assert browser.get("/v1/metrics/learning").status_code == 200
        assert service.client.delete(f"/v1/keys/{made['key_id']}").status_code == 200
        assert browser.get("/v1/metrics/learning").status_code == 401
        assert browser.get("/v1/session").json()["signed_in"] is False


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextmanager
def capture_logs() -> Iterator[Collect]:
    """Every record of our loggers and uvicorn's (attached after uvicorn configured logging)."""
    handler = Collect()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    names = ("", "nbo", "uvicorn", "uvicorn.access", "uvicorn.error")
    loggers = [logging.getLogger(n) for n in names]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def test_keys_never_appear_in_logs(redis_url: str, database_url: str, tmp_path: Path) -> None:
    with (
        run_service(redis_url, database_url, tmp_path / "data", log_level="debug") as service,
        capture_logs() as captured,
    ):
        service.client.put("/v1/offers/fibre", json=make_offer(channels=["web"]))
        key = service.key_for("channel")
        revoked = service.client.post("/v1/keys", json={"role": "web"}).json()
        service.client.delete(f"/v1/keys/{revoked['key_id']}")
        stranger = "nbo_channel_" + "Q" * 32
        secrets = [key, revoked["key"], stranger, service.admin_key]
        http = httpx.Client(base_url=service.url)
        for secret in secrets:
            auth = {"Authorization": f"Bearer {secret}"}
            http.post("/v1/decisions", json={"customer_id": "C1", "channel": "web"}, headers=auth)
            http.get("/v1/metrics/learning", headers=auth)
            http.post("/v1/session", json={"key": secret})
            http.post("/v1/session", json={"key": secret, "extra": secret})  # a 422
            http.get(f"/v1/offers?api_key={secret}", headers=auth)  # a careless client
            http.get(f"/v1/customers/{secret}", headers=auth)
        http.post("/v1/decisions", content=b"{" + key.encode(), headers={"Authorization": key})
    text = "\n".join(captured.lines)
    assert "uvicorn.access" in text and "GET /v1/offers?api_key=" in text  # logs were captured
    for secret in secrets:
        assert secret not in text, f"a key reached the logs: {secret[:12]}..."
