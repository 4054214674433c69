"""Routes that authenticate through ``caller_role`` declare the same OpenAPI security as those
using ``require_role``: clients generated from /openapi.json send the key to both alike."""

from __future__ import annotations

import json
import re
from pathlib import Path

from app.main import create_app
from app.settings import Settings


def test_every_v1_operation_declares_the_bearer_and_cookie_schemes(tmp_path: Path) -> None:
    app = create_app(Settings(admin_key="nbo_admin_openapi_test_key", data_dir=tmp_path))
    schema = app.openapi()
    schemes = schema["components"]["securitySchemes"]
    assert set(schemes) == {"HTTPBearer", "APIKeyCookie"}
    expected = [{"HTTPBearer": []}, {"APIKeyCookie": []}]
    hot = {("/v1/decisions", "post"), ("/v1/decisions/{decision_id}/outcomes", "post")}
    seen = set()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if (path, method) in hot:
                seen.add((path, method))
                assert operation["security"] == expected
    assert seen == hot
    assert schema["paths"]["/v1/offers"]["get"]["security"] == expected


def test_creating_puts_document_their_201(tmp_path: Path) -> None:
    """PUT answers 201 when it creates (200 when it replaces): a client generated from
    /openapi.json treats an undocumented status as unexpected, so both are declared."""
    app = create_app(Settings(admin_key="nbo_admin_openapi_test_key", data_dir=tmp_path))
    paths = app.openapi()["paths"]
    for path, view in (
        ("/v1/offers/{offer_id}", "OfferView"),
        ("/v1/triggers/{trigger_id}", "TriggerView"),
    ):
        responses = paths[path]["put"]["responses"]
        for status in ("200", "201"):
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": f"#/components/schemas/{view}"}, (path, status)


def test_every_schema_reference_resolves(tmp_path: Path) -> None:
    """A client generator stops at a ``$ref`` to nothing (the error body was one, on every
    ``/v1`` operation)."""
    app = create_app(Settings(admin_key="nbo_admin_openapi_test_key", data_dir=tmp_path))
    schema = app.openapi()
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(schema)))
    assert "ErrorView" in refs
    assert refs <= set(schema["components"]["schemas"])
