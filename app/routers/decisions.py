"""``/v1/decisions`` and their outcomes: what channels call on every interaction."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError

from decisioning import Decider, DecisionNotFound, DecisionRequest

from ..deps import SECURITY, caller_role
from ..limits import replaying
from ..observability import DECISION_SECONDS, DECISIONS, OUTCOMES
from ..runtime import Runtime
from ..schemas import DecisionBody, DecisionView, OutcomeBody, OutcomeView

__all__ = ["DecisionRoute", "router"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

router = APIRouter(prefix="/v1/decisions", tags=["decisions"])

# one dependency (see caller_role): these two routes carry most of the traffic
channel_role = caller_role("channel", "web")
Channel = Depends(channel_role)
DecisionId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]


def _is_json(content_type: bytes) -> bool:
    """``application/json``, with parameters or not, in any case (as FastAPI reads it)."""
    return content_type.partition(b";")[0].strip().lower() == b"application/json"


class DecisionRoute(APIRoute):
    """``POST /v1/decisions`` without FastAPI's per-request machinery, answering as it would.

    A decision is the one request every interaction makes, and FastAPI's handling of it (the
    dependency resolver, parsing the JSON in Python and validating the dict, the request's exit
    stacks) cost more CPU than the HTTP server and the Redis calls together
    (bench/decision_cpu.py). This route runs the same role check, validates the raw body once in
    pydantic-core (``model_validate_json``) and answers with the same bytes. What it does not
    expect (another method, another content type, a body that does not validate) goes to
    FastAPI's own handling of the route, so every error answer is exactly FastAPI's; errors
    raised here (401, 403, a domain error) reach the same exception handlers. The endpoint stays
    declared as usual, so OpenAPI documents the body, the answer and the security.
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await super().handle(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        replay = replaying(raw, receive)

        content_type = b""
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
                break
        if not _is_json(content_type):
            await super().handle(scope, replay, send)
            return
        try:
            body = DecisionBody.model_validate_json(raw)
        except ValidationError:
            await super().handle(scope, replay, send)  # FastAPI names the field, as ever
            return
        # FastAPI parses the JSON before the role check, and validates the body after it: with
        # a valid body, the role check's answer is the first one either way
        request = Request(scope, replay)
        role = await channel_role(request)
        payload = await answer(request, body, role)
        # what Response(payload, media_type="application/json") sends, without building one
        headers = [(b"content-length", b"%d" % len(payload)), (b"content-type", _JSON)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


async def decide(body: DecisionBody, request: Request, role: Annotated[str, Channel]) -> Response:
    """One decision. The answer is the funnel's result serialised by orjson as it is.

    ``DecisionResult`` and its parts have exactly the fields of ``DecisionView`` (a test holds
    them together), so the result needs no copy into a pydantic model (``asdict`` and
    ``model_validate``) and no second validation and serialisation by FastAPI.
    ``response_model`` still documents it.
    """
    # served by DecisionRoute; FastAPI's handling runs it for what that route hands over
    return Response(await answer(request, body, role), media_type="application/json")


router.add_api_route(
    "",
    decide,
    methods=["POST"],
    response_model=DecisionView,
    openapi_extra=SECURITY,
    route_class_override=DecisionRoute,
)


_JSON = b"application/json"

_SECONDS: dict[str, Any] = {}
_COUNTS: dict[tuple[str, str], Any] = {}
"""The metrics' children by label (``labels()`` takes a lock and builds a key every call); as
bounded as the labels: the catalogue's channels and ``other``."""


async def answer(request: Request, body: DecisionBody, role: str) -> bytes:
    """One decision's answer, for both paths of the route (the endpoint's docstring says how)."""
    if role == "web":
        if body.channel != "web":
            raise HTTPException(403, "a web key may only decide for the web channel")
        if body.explain:  # its exclusions would show anyone the customer's profile
            raise HTTPException(
                403, "explain needs a channel key: a web key may sit in a public page"
            )
    decider: Decider = request.app.state.runtime.decider
    started = time.perf_counter()
    result = await decider.decide(
        DecisionRequest(
            customer_id=body.customer_id,
            channel=body.channel,
            interaction=body.interaction,
            context=body.context,
            limit=body.limit,
            explain=body.explain,
            public=role == "web",
        )
    )
    # a label per channel of the catalogue only: any name a client sends would grow the
    # metrics (and every worker's memory) without bound
    channel = body.channel if decider.catalogue.for_channel(body.channel) else "other"
    seconds = _SECONDS.get(channel)
    if seconds is None:
        seconds = _SECONDS[channel] = DECISION_SECONDS.labels(channel)
    seconds.observe(time.perf_counter() - started)
    mode = "degraded" if result.degraded else "control" if result.control_group else "model"
    count = _COUNTS.get((channel, mode))
    if count is None:
        count = _COUNTS[channel, mode] = DECISIONS.labels(channel, mode)
    count.inc()
    return orjson.dumps(result, option=orjson.OPT_SERIALIZE_NUMPY)


@router.post(
    "/{decision_id}/outcomes", status_code=202, response_model=OutcomeView, openapi_extra=SECURITY
)
async def record_outcome(
    decision_id: DecisionId, body: OutcomeBody, request: Request, role: Annotated[str, Channel]
) -> OutcomeView:
    runtime: Runtime = request.app.state.runtime
    if role == "web":
        # a web key sits in a public page: it may answer for web decisions only, not for
        # decisions made by the call centre or outbound jobs (whose ids it could have seen)
        logged = await runtime.store.decisions.get(decision_id)
        if logged is None:
            raise DecisionNotFound(decision_id)
        if logged.get("channel") != "web":
            raise HTTPException(
                403, "a web key may only report outcomes of decisions made for the web channel"
            )
    receipt = await runtime.decider.record_outcome(
        decision_id, body.offer_id, body.outcome, body.value
    )
    OUTCOMES.labels(body.outcome, receipt.status).inc()
    return OutcomeView.model_validate(asdict(receipt))
