"""Tables for analysts' notebooks: the interaction log and a model snapshot, as CSV or Parquet.

Both are flat tables with fixed, documented columns (:data:`INTERACTION_COLUMNS`,
:data:`MODEL_COLUMNS`), so ``pandas.read_csv`` / ``pandas.read_parquet`` give a frame ready for
a pdstools-style analysis: one row per shown offer with what came of it, the model's propensity
and the logging probability (for off-policy estimates), and the decision's context flattened into
``context.<feature>`` columns (one per feature seen in the export, empty where a row lacks it).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "INTERACTION_COLUMNS",
    "MODEL_COLUMNS",
    "interaction_table",
    "model_table",
    "to_csv",
    "to_parquet",
]

INTERACTION_COLUMNS: dict[str, str] = {
    "decision_id": "the decision (one decision may show several offers: one row each)",
    "decided_at": "when the decision was made (UTC, ISO 8601)",
    "recorded_at": "when its outcome was recorded (UTC, ISO 8601)",
    "customer_id": "the customer",
    "channel": "the channel that asked (web, call_center, app, email, sms, ...)",
    "interaction": "the interaction (visit, inbound_call, complaint, ...)",
    "offer_id": "the offer or service action shown",
    "outcome": "accepted, declined, ignored (window default) or expired (no default)",
    "source": "response (the channel reported it), window (default when the window passed), "
    "late (a response after the default was learned: reported, not learned)",
    "learned": "whether the learner learned from this row",
    "control_group": "the decision was served uniformly at random (the control group)",
    "explored": "the offer was shown to learn, not as the current best guess",
    "probability": "the probability with which the offer was shown (logging propensity)",
    "propensity": "the model's acceptance probability for it at decision time",
    "value": "the value reported with the outcome, if any",
    "model_version": "the model version that decided",
    "candidates": "control-group decisions only: the eligible offers drawn from (JSON list)",
    "attributes": "the offer's attributes as the model saw them (JSON object)",
    "context.<feature>": "the decision's context: customer features, aggregates, channel, "
    "interaction, daypart and request context, as they were at decision time",
}

MODEL_COLUMNS: dict[str, str] = {
    "model_version": "the snapshot's version",
    "offer_id": "the offer",
    "rank": "1 for the context feature that moves this offer's acceptance most",
    "feature": "the context feature, readable (segment = youth)",
    "token": "the model's own name for it",
    "weight": "its effective weight on the offer's acceptance log-odds (crosses with the "
    "offer's id and attributes summed)",
}


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def interaction_table(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Columns of the interaction export, in :data:`INTERACTION_COLUMNS` order."""
    fixed = [c for c in INTERACTION_COLUMNS if c != "context.<feature>"]
    features = sorted({k for r in rows for k in r["context"]})
    table: dict[str, list[Any]] = {c: [] for c in fixed}
    table.update({f"context.{k}": [] for k in features})
    for r in rows:
        table["decision_id"].append(r["decision_id"])
        table["decided_at"].append(_iso(r["decided_ms"]))
        table["recorded_at"].append(_iso(r["stream_ms"]))
        table["customer_id"].append(r["customer_id"])
        table["channel"].append(r["channel"])
        table["interaction"].append(r["context"].get("interaction"))
        for name in ("offer_id", "outcome", "source", "learned", "control_group", "explored"):
            table[name].append(r[name])
        for name in ("probability", "propensity", "value", "model_version"):
            table[name].append(r[name])
        candidates = r.get("candidates")
        table["candidates"].append(orjson.dumps(candidates).decode() if candidates else None)
        table["attributes"].append(orjson.dumps(r["attributes"]).decode())
        for k in features:
            table[f"context.{k}"].append(r["context"].get(k))
    return table


def model_table(
    version: int, drivers: Mapping[str, Iterable[tuple[str, str, float]]]
) -> dict[str, list[Any]]:
    """Columns of the model export: per offer, ``(feature, token, weight)`` strongest first."""
    table: dict[str, list[Any]] = {c: [] for c in MODEL_COLUMNS}
    for offer_id, rows in drivers.items():
        for rank, (feature, token, weight) in enumerate(rows, start=1):
            table["model_version"].append(version)
            table["offer_id"].append(offer_id)
            table["rank"].append(rank)
            table["feature"].append(feature)
            table["token"].append(token)
            table["weight"].append(weight)
    return table


def to_csv(table: Mapping[str, Sequence[Any]]) -> bytes:
    """RFC 4180 CSV with a header row; empty cells for missing values."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    names = list(table)
    writer.writerow(names)
    n = len(next(iter(table.values()), []))
    for i in range(n):
        writer.writerow(["" if table[c][i] is None else table[c][i] for c in names])
    return out.getvalue().encode()


def to_parquet(table: Mapping[str, Sequence[Any]]) -> bytes:
    """Parquet with each column's type inferred; a column of mixed types is written as text."""
    arrays = {}
    for name, values in table.items():
        try:
            arrays[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays[name] = pa.array([None if v is None else str(v) for v in values])
    sink = io.BytesIO()
    pq.write_table(pa.table(arrays), sink)
    return sink.getvalue()
