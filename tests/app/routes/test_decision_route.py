"""``POST /v1/decisions`` through its lean route answers exactly as FastAPI's own handling.

:class:`app.routers.decisions.DecisionRoute` validates the raw body in pydantic-core and skips
FastAPI's resolver; each request below is sent once through it and once through FastAPI's
handling of the same route (``APIRoute.handle``), and the answers must be the same: the status,
the error body byte for byte, the headers a client reads; for a decision, the same fields.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from app.routers.decisions import DecisionRoute
from tests.factories import make_customer, make_offer
from tests.services import Service

JSON = {"content-type": "application/json"}
VALID = b'{"customer_id": "C1", "channel": "web", "interaction": "visit"}'

# (name, body, headers beside the key)
REQUESTS: list[tuple[str, bytes, dict[str, str]]] = [
    ("valid", VALID, JSON),
    (
        "valid, all fields",
        b'{"customer_id": "C1", "channel": "web", "interaction": "visit",'
        b' "context": {"page": "roaming", "n": 3, "x": 1.5, "b": true, "z": null},'
        b' "limit": 2, "explain": true}',
        JSON,
    ),  # fmt: skip
    ("charset", VALID, {"content-type": "application/json; charset=utf-8"}),
    ("upper case type", VALID, {"content-type": "Application/JSON"}),
    ("+json type", VALID, {"content-type": "application/vnd.api+json"}),
    ("text type", VALID, {"content-type": "text/plain"}),
    ("no type", VALID, {}),
    ("empty", b"", JSON),
    ("broken", b'{"customer_id": "C1", "channel": ', JSON),
    ("not an object", b'["C1", "web"]', JSON),
    ("a string", b'"C1"', JSON),
    ("missing channel", b'{"customer_id": "C1"}', JSON),
    ("unknown field", b'{"customer_id": "C1", "channel": "web", "colour": "red"}', JSON),
    ("limit true", b'{"customer_id": "C1", "channel": "web", "limit": true}', JSON),
    ("limit text", b'{"customer_id": "C1", "channel": "web", "limit": "2"}', JSON),
    ("limit float", b'{"customer_id": "C1", "channel": "web", "limit": 2.0}', JSON),
    ("limit 0", b'{"customer_id": "C1", "channel": "web", "limit": 0}', JSON),
    ("explain text", b'{"customer_id": "C1", "channel": "web", "explain": "yes"}', JSON),
    ("bad id", b'{"customer_id": "C 1/..", "channel": "web"}', JSON),
    (
        "nested context",
        b'{"customer_id": "C1", "channel": "web", "context": {"p": {"d": 1}}}',
        JSON,
    ),  # fmt: skip
    ("NaN", b'{"customer_id": "C1", "channel": "web", "context": {"x": NaN}}', JSON),
    ("infinite", b'{"customer_id": "C1", "channel": "web", "context": {"x": 1e400}}', JSON),
    (
        "big integer",
        b'{"customer_id": "C1", "channel": "web", "context": {"x": 1' + b"0" * 30 + b"}}",
        JSON,
    ),  # fmt: skip
    ("duplicate key", b'{"customer_id": "C1", "customer_id": "C2", "channel": "web"}', JSON),
    ("escapes", b'{"customer_id": "\\u0043\\u0031", "channel": "web"}', JSON),
    (
        "lone surrogate",
        b'{"customer_id": "C1", "channel": "web", "context": {"x": "\\ud800"}}',
        JSON,
    ),  # fmt: skip
    ("BOM", b"\xef\xbb\xbf" + VALID, JSON),
    ("UTF-16", VALID.decode().encode("utf-16"), JSON),
    ("not UTF-8", b'{"customer_id": "C\xff", "channel": "web"}', JSON),
]


def _send(service: Service, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{service.url}/v1/decisions", content=body, headers=headers, timeout=30)


def _same(lean: httpx.Response, standard: httpx.Response) -> None:
    assert lean.status_code == standard.status_code, (lean.text, standard.text)
    for header in ("content-type", "www-authenticate", "retry-after"):
        assert lean.headers.get(header) == standard.headers.get(header), header
    if lean.status_code != 200:
        assert lean.content == standard.content
        return
    mine: dict[str, Any] = lean.json()
    theirs: dict[str, Any] = standard.json()
    assert list(mine) == list(theirs)
    for field in ("customer_id", "channel", "interaction", "known_customer", "degraded"):
        assert mine[field] == theirs[field], field
    assert [list(o) for o in mine["offers"]] == [list(o) for o in theirs["offers"]]
    assert (mine["excluded"] is None) == (theirs["excluded"] is None)


@pytest.fixture
def decisions(service: Service) -> Service:
    service.client.put("/v1/offers/fibre", json=make_offer())
    service.client.put("/v1/offers/tv", json=make_offer(name="TV", value=12))
    service.client.put("/v1/customers/C1", json=make_customer())
    return service


def _both(
    decisions: Service, monkeypatch: pytest.MonkeyPatch, body: bytes, headers: dict[str, str]
) -> tuple[httpx.Response, httpx.Response]:
    lean = _send(decisions, body, headers)
    with monkeypatch.context() as patch:
        patch.setattr(DecisionRoute, "handle", APIRoute.handle)
        standard = _send(decisions, body, headers)
    return lean, standard


@pytest.mark.parametrize(("name", "body", "headers"), REQUESTS, ids=[r[0] for r in REQUESTS])
def test_lean_route_answers_as_fastapi(
    decisions: Service,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    body: bytes,
    headers: dict[str, str],
) -> None:
    key = {"Authorization": f"Bearer {decisions.key_for('channel')}"}
    lean, standard = _both(decisions, monkeypatch, body, headers | key)
    _same(lean, standard)


@pytest.mark.parametrize(
    ("role", "auth", "body"),
    [
        (None, None, VALID),
        (None, "Bearer nope", VALID),
        (None, "Basic abc", VALID),
        ("marketer", None, VALID),
        ("analyst", None, b"{broken"),
        ("web", None, b'{"customer_id": "C1", "channel": "call_center"}'),
        ("web", None, VALID),
    ],
)
def test_lean_route_checks_keys_as_fastapi(
    decisions: Service,
    monkeypatch: pytest.MonkeyPatch,
    role: str | None,
    auth: str | None,
    body: bytes,
) -> None:
    headers = dict(JSON)
    if role is not None:
        headers["Authorization"] = f"Bearer {decisions.key_for(role)}"
    elif auth is not None:
        headers["Authorization"] = auth
    lean, standard = _both(decisions, monkeypatch, body, headers)
    _same(lean, standard)


def test_other_methods_are_refused_as_before(decisions: Service) -> None:
    answer = decisions.client.get("/v1/decisions")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"


def test_openapi_still_documents_the_route(decisions: Service) -> None:
    operation = decisions.client.get("/openapi.json").json()["paths"]["/v1/decisions"]["post"]
    assert operation["operationId"] == "decisions-decide"
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/DecisionBody"}
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/DecisionView"}
    assert operation["security"] and "422" in operation["responses"]


def test_a_valid_decision_takes_the_lean_path(
    decisions: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Else every comparison above would compare FastAPI with itself."""

    async def refuse(*_args: Any) -> None:
        raise AssertionError("FastAPI's handling was used")

    monkeypatch.setattr(APIRoute, "handle", refuse)
    key = {"Authorization": f"Bearer {decisions.key_for('channel')}"}
    assert _send(decisions, VALID, JSON | key).status_code == 200
