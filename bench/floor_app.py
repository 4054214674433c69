"""The floor: the least a decision endpoint can do on this stack, to compare nbo with.

One Redis HGETALL of the customer's 30-field feature hash (the same key nbo reads), a numpy
matrix-vector score of 100 offers, and a JSON answer, in a FastAPI app served by uvicorn with the
very settings ``nbo serve`` uses (:data:`app.cli.SERVER_OPTIONS`) and the same Redis client
(:func:`feature_store.connect`: hiredis, a bounded pool). No auth, no rules, no logging.

    python bench/floor_app.py --port 8100 --workers 2     # REDIS_URL, NBO_KEY_PREFIX as for nbo
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, Request, Response
from pydantic import BaseModel

from feature_store import Keys, connect

N_OFFERS = 100
N_FEATURES = 30


class Body(BaseModel):
    customer_id: str
    channel: str
    interaction: str = "inbound"


def _number(value: Any) -> float:
    """A feature as a number: numbers as they are, anything else present as 1."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return 1.0


def create_app() -> FastAPI:
    keys = Keys(prefix=os.environ.get("NBO_KEY_PREFIX", "nbo"))
    rng = np.random.default_rng(1)
    weights = rng.standard_normal((N_OFFERS, N_FEATURES)) * 0.01
    offer_ids = [f"o{i:03d}" for i in range(N_OFFERS)]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.redis = connect(os.environ["REDIS_URL"])
        yield
        await app.state.redis.aclose()

    app = FastAPI(lifespan=lifespan)

    @app.post("/v1/decisions")
    async def decide(body: Body, request: Request) -> Response:
        raw = await request.app.state.redis.hgetall(keys.features(body.customer_id))
        x = np.zeros(N_FEATURES)
        for n, value in enumerate(raw.values()):
            if n == N_FEATURES:
                break
            x[n] = _number(orjson.loads(value))
        scores = weights @ x
        best = int(np.argmax(scores))
        answer = {
            "customer_id": body.customer_id,
            "offers": [{"offer_id": offer_ids[best], "score": float(scores[best])}],
        }
        return Response(orjson.dumps(answer), media_type="application/json")

    return app


def main() -> None:

    from app.cli import SERVER_OPTIONS
    from app.workers import serve

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    # the workers import the app by name: make ``bench.floor_app`` importable from the repo root
    root = str(Path(__file__).resolve().parents[1])
    sys.path.insert(0, root)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    serve(
        "bench.floor_app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        **SERVER_OPTIONS,
    )


if __name__ == "__main__":
    main()
