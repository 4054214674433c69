"""Prometheus metrics: what operators graph and alert on.

With several workers (``nbo serve --workers N``) the CLI sets ``PROMETHEUS_MULTIPROC_DIR`` before
the workers start, and every worker writes its samples there; a scrape of any worker aggregates
all of them (prometheus-client's multiprocess mode). Gauges that describe shared state (learner
lag, model version) are read from Redis at scrape time instead.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import REGISTRY

__all__ = [
    "CONTENT_TYPE_LATEST",
    "DECISIONS",
    "DECISION_SECONDS",
    "ERRORS",
    "OUTCOMES",
    "render",
]

DECISION_SECONDS = Histogram(
    "nbo_decision_seconds",
    "Time to answer a decision request, by channel.",
    ["channel"],
    buckets=(0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
)
DECISIONS = Counter(
    "nbo_decisions", "Decisions answered, by channel and mode.", ["channel", "mode"]
)
OUTCOMES = Counter(
    "nbo_outcomes", "Outcomes received, by outcome and status.", ["outcome", "status"]
)
ERRORS = Counter("nbo_errors", "Requests answered with an error, by status code.", ["status"])


def render(*, learner_lag: int | None, model_version: int, catalogue_version: int) -> bytes:
    """The exposition text: this process's (or all workers') samples plus the shared gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        own = generate_latest(registry)
    else:
        own = generate_latest(REGISTRY)
    shared = CollectorRegistry()
    lag = Gauge(
        "nbo_learner_lag",
        "Outcomes on the stream not yet learned and acknowledged.",
        registry=shared,
    )
    lag.set(-1 if learner_lag is None else learner_lag)
    Gauge("nbo_model_version", "Model snapshot version being served.", registry=shared).set(
        model_version
    )
    Gauge("nbo_catalogue_version", "Catalogue version being served.", registry=shared).set(
        catalogue_version
    )
    return own + generate_latest(shared)
