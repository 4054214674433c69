"""``/v1/decisions`` and their outcomes: what channels call on every interaction."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response

from decisioning import Decider, DecisionNotFound, DecisionRequest

from ..deps import SECURITY, caller_role
from ..observability import DECISION_SECONDS, DECISIONS, OUTCOMES
from ..runtime import Runtime
from ..schemas import DecisionBody, DecisionView, OutcomeBody, OutcomeView

router = APIRouter(prefix="/v1/decisions", tags=["decisions"])

# one dependency (see caller_role): these two routes carry most of the traffic
Channel = Depends(caller_role("channel", "web"))
DecisionId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]


@router.post("", response_model=DecisionView, openapi_extra=SECURITY)
async def decide(body: DecisionBody, request: Request, role: Annotated[str, Channel]) -> Response:
    """One decision. The answer is the funnel's result serialised by orjson as it is.

    ``DecisionResult`` and its parts have exactly the fields of ``DecisionView`` (a test holds
    them together), so the result needs no copy into a pydantic model (``asdict`` and
    ``model_validate``) and no second validation and serialisation by FastAPI.
    ``response_model`` still documents it.
    """
    if role == "web" and body.channel != "web":
        raise HTTPException(403, "a web key may only decide for the web channel")
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
        )
    )
    # a label per channel of the catalogue only: any name a client sends would grow the
    # metrics (and every worker's memory) without bound
    channel = body.channel if decider.catalogue.for_channel(body.channel) else "other"
    DECISION_SECONDS.labels(channel).observe(time.perf_counter() - started)
    mode = "degraded" if result.degraded else "control" if result.control_group else "model"
    DECISIONS.labels(channel, mode).inc()
    return Response(
        orjson.dumps(result, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json"
    )


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
