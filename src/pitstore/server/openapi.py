"""The OpenAPI document (``GET /openapi.json``) and a self-contained docs page (``GET /docs``).

Written by hand: the request bodies are checked by hand too (see :mod:`.requests`), and the
document is small. The docs page lists the same paths, with no script and nothing from a CDN.
"""

from __future__ import annotations

import html
from functools import cache
from typing import Any, Final

from pitstore import __version__
from pitstore.server.codec import dumps

_REF = "#/components/schemas/"
_ERROR = {"$ref": _REF + "Error"}


def _errors(*statuses: int) -> dict[str, Any]:
    names = {
        400: "Malformed JSON",
        401: "Missing or invalid token",
        403: "The token may not do this",
        404: "Unknown view, feature, service or object",
        413: "Body or entity batch over the limit",
        422: "Invalid request (wrong field, type, ragged lists...)",
        503: "Registry or store unavailable; retry",
    }
    return {
        str(s): {"description": names[s], "content": {"application/json": {"schema": _ERROR}}}
        for s in statuses
    }


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _post(summary: str, body: str, answer: str, *statuses: int) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": _REF + body}}},
            },
            "responses": {"200": _json({"$ref": _REF + answer}), **_errors(*statuses)},
        }
    }


def _keyed(operation: dict[str, Any]) -> dict[str, Any]:
    """``operation`` (a push) with the optional Idempotency-Key header."""
    operation["post"]["parameters"] = [_IDEMPOTENCY_KEY]
    return operation


_IDEMPOTENCY_KEY: Final = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "The same key (e.g. a UUID) on every resend of one push to a push source: "
    "its rows are logged and counted once. Kept a day.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}


def _get(summary: str, *statuses: int, content: str = "application/json") -> dict[str, Any]:
    ok = {"description": "OK", "content": {content: {"schema": {}}}}
    return {"get": {"summary": summary, "responses": {"200": ok, **_errors(*statuses)}}}


_SELECTION: Final = {
    "features": {"type": "array", "items": {"type": "string"}, "example": ["view:feature"]},
    "feature_service": {"type": "string"},
    "full_feature_names": {"type": "boolean", "default": False},
}
_COLUMNS: Final = {
    "type": "object",
    "additionalProperties": {"type": "array"},
    "example": {"driver_id": [1001, 1002]},
}
_SCHEMAS: Final[dict[str, Any]] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "details"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "details": {"type": "object"},
                },
            }
        },
    },
    "FeastRequest": {
        "type": "object",
        "required": ["entities"],
        "additionalProperties": False,
        "properties": {
            "entities": _COLUMNS,
            **_SELECTION,
            "include_feature_view_version_metadata": {"type": "boolean", "description": "Ignored"},
        },
    },
    "FeastResponse": {
        "type": "object",
        "properties": {
            "metadata": {
                "type": "object",
                "properties": {"feature_names": {"type": "array", "items": {"type": "string"}}},
            },
            "results": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "values": {"type": "array"},
                        "statuses": {
                            "type": "array",
                            "items": {
                                "enum": ["PRESENT", "NOT_FOUND", "OUTSIDE_MAX_AGE"],
                            },
                        },
                        "event_timestamps": {
                            "type": "array",
                            "items": {"type": "string", "format": "date-time"},
                        },
                    },
                },
            },
        },
    },
    "RowsRequest": {
        "type": "object",
        "required": ["entities"],
        "additionalProperties": False,
        "properties": {
            "entities": {
                "oneOf": [{"type": "array", "items": {"type": "object"}}, _COLUMNS],
                "example": [{"driver_id": 1001}],
            },
            **_SELECTION,
            "metadata": {"type": "boolean", "default": False},
        },
    },
    "RowsResponse": {
        "type": "object",
        "properties": {
            "feature_names": {"type": "array", "items": {"type": "string"}},
            "rows": {"type": "array", "items": {"type": "object"}},
            "statuses": {"type": "array", "items": {"type": "object"}},
            "event_timestamps": {"type": "array", "items": {"type": "object"}},
        },
    },
    "PushRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "push_source_name": {
                "type": "string",
                "description": "A push or stream source: rows for every view it feeds",
            },
            "feature_view": {"type": "string", "description": "One view (online only)"},
            "feature_view_name": {"type": "string", "description": "Feast's name for it"},
            "rows": {"type": "array", "items": {"type": "object"}},
            "df": _COLUMNS,
            "to": {
                "enum": ["online", "offline", "online_and_offline"],
                "default": "online",
                "description": "offline and online_and_offline need push_source_name",
            },
        },
    },
    "PushResponse": {
        "type": "object",
        "properties": {
            "feature_view": {"type": "string"},
            "push_source_name": {"type": "string"},
            "to": {"type": "string"},
            "rows": {"type": "integer"},
            "written": {"type": "integer", "description": "Rows applied online"},
            "logged": {"type": "integer", "description": "Rows appended to the push log"},
        },
    },
}


@cache
def _document() -> bytes:
    online = (400, 401, 403, 404, 413, 422, 503)
    paths = {
        "/get-online-features": _post(
            "Online features, Feast's request and response shape",
            "FeastRequest",
            "FeastResponse",
            *online,
        ),
        "/online-features": _post(
            "Online features, one object per entity (pitstore's form)",
            "RowsRequest",
            "RowsResponse",
            *online,
        ),
        "/push": _keyed(
            _post(
                "Push rows of a push source (online/offline) or of a feature view (online)",
                "PushRequest",
                "PushResponse",
                *online,
            )
        ),
        "/write-to-online-store": _keyed(
            _post("Feast's name for /push", "PushRequest", "PushResponse", *online)
        ),
        "/health": _get("Liveness"),
        "/ready": _get("Readiness: registry loaded, online store reachable", 503),
        "/metrics": _get("Prometheus metrics", 401, 403, content="text/plain"),
        "/catalog": _get("Catalog summary", 401, 403),
        "/catalog/{collection}": _get(
            "entities, feature-views, on-demand-feature-views, feature-services, features, "
            "lineage or freshness",
            401,
            403,
            404,
        ),
        "/catalog/{collection}/{name}": _get("One object with its lineage", 401, 403, 404),
        "/catalog/{collection}/{name}/history": _get("Every applied version", 401, 403, 404),
        "/openapi.json": _get("This document"),
        "/docs": _get("The endpoints as a web page", content="text/html"),
    }
    document = {
        "openapi": "3.1.0",
        "info": {"title": "pitstore feature server", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
    return dumps(document)


def openapi_document() -> Any:
    """The OpenAPI 3.1 document as data."""
    import orjson

    return orjson.loads(_document())


@cache
def docs_page() -> bytes:
    """A small HTML page listing every endpoint."""
    import orjson

    paths: dict[str, dict[str, Any]] = orjson.loads(_document())["paths"]
    rows = "".join(
        f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
        f"<td>{html.escape(op['summary'])}</td></tr>"
        for path, ops in paths.items()
        for method, op in ops.items()
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pitstore feature server</title>
<style>body{{font:15px system-ui,sans-serif;margin:2em auto;max-width:60em;padding:0 1em}}
td{{padding:.3em .8em;border-bottom:1px solid #ddd}}code{{font-size:14px}}</style></head>
<body><h1>pitstore feature server {html.escape(__version__)}</h1>
<p>JSON over HTTP. The full description is the <a href="/openapi.json">OpenAPI document</a>.
Errors are <code>{{"error": {{"code", "message", "details"}}}}</code>.</p>
<table>{rows}</table></body></html>
"""
    return page.encode("utf-8")
