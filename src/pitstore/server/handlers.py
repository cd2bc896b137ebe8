"""The endpoints: each takes the server context and a request and returns a response."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from pitstore.server import catalog, codec
from pitstore.server.auth import Principal, forbid
from pitstore.server.batch import ReadBatcher
from pitstore.server.errors import ApiError, invalid
from pitstore.server.http import Request, Response, json_response
from pitstore.server.metrics import CONTENT_TYPE, Metrics
from pitstore.server.openapi import docs_page, openapi_document
from pitstore.server.requests import OnlineRequest, parse_feast, parse_push, parse_rows
from pitstore.server.state import ServerState

Handler = Callable[["Context", Request], Awaitable[Response]]

log = logging.getLogger("pitstore.server")


@dataclass(slots=True)
class Context:
    """What handlers share: the state, the metrics and the online read batcher."""

    state: ServerState
    metrics: Metrics
    reads: ReadBatcher


# --- online reads ---------------------------------------------------------------------------


async def get_online_features(ctx: Context, request: Request) -> Response:
    """Feast's body and response shape."""
    settings = ctx.state.settings
    parsed = parse_feast(codec.loads(request.body), settings.max_entities)
    response = await _read(ctx, request.principal, parsed)
    return json_response(codec.feast_response(response))


async def online_features(ctx: Context, request: Request) -> Response:
    """pitstore's row form: one object per entity."""
    settings = ctx.state.settings
    parsed = parse_rows(codec.loads(request.body), settings.max_entities)
    response = await _read(ctx, request.principal, parsed)
    return json_response(codec.row_response(response, parsed.with_metadata))


async def _read(ctx: Context, principal: Principal, parsed: OnlineRequest) -> Any:
    allowed = principal.feature_services
    if allowed is not None and parsed.feature_service not in allowed:
        raise forbid(principal, f"read features outside its feature services {sorted(allowed)}")
    began = time.perf_counter()
    prepared = ctx.state.store.online_reads.prepare(
        parsed.features,
        parsed.entities,
        parsed.feature_service,
        parsed.full_feature_names,
    )
    response = await ctx.reads.read(prepared)
    ctx.metrics.online(parsed.feature_service, time.perf_counter() - began)
    return response


# --- push -----------------------------------------------------------------------------------


async def push(ctx: Context, request: Request) -> Response:
    """Rows of a push source (online, offline or both) or of a feature view (online), all
    validated first: all or nothing."""
    if not request.principal.push:
        raise forbid(request.principal, "push")
    parsed = parse_push(codec.loads(request.body), ctx.state.settings.max_entities)
    store = ctx.state.store
    received = len(parsed.rows) if isinstance(parsed.rows, list) else _column_rows(parsed.rows)
    began = time.perf_counter()
    # Writes may wait for SQLite's write lock (a materialization) or fsync the push log:
    # never on the event loop.
    if parsed.source is not None:
        to_source = partial(store.push, base64_bytes=True, idempotency_key=request.idempotency_key)
        report = await asyncio.to_thread(to_source, parsed.source, parsed.rows, parsed.to)
        ctx.metrics.store("write", time.perf_counter() - began)
        body = {
            "push_source_name": parsed.source,
            "to": parsed.to,
            "rows": received,
            "written": report.written,
            "logged": report.logged,
        }
        return json_response(body)
    assert parsed.view is not None  # parse_push guarantees a source or a view
    if request.idempotency_key is not None:
        raise invalid(
            "Idempotency-Key is for pushes to a push source (push_source_name); a feature "
            "view's rows are written online, with no log to recognise a resend by",
            field="Idempotency-Key",
        )
    write = partial(store.write_to_online, base64_bytes=True)  # JSON: bytes as base64
    written = await asyncio.to_thread(write, parsed.view, parsed.rows)
    ctx.metrics.store("write", time.perf_counter() - began)
    return json_response({"feature_view": parsed.view, "rows": received, "written": written})


def _column_rows(columns: dict[str, list[Any]]) -> int:
    return len(next(iter(columns.values()), []))


# --- probes, metrics, docs ------------------------------------------------------------------


async def health(ctx: Context, request: Request) -> Response:
    """Liveness: the process answers."""
    return json_response({"status": "ok"})


async def ready(ctx: Context, request: Request) -> Response:
    """Readiness: registry loaded recently and online store reachable.

    The probe is open to anyone; with tokens configured, its answer names the components at
    fault but not why (the store's address, a driver's message): the log has that."""
    problems = await asyncio.to_thread(ctx.state.readiness)
    if problems:
        if ctx.state.settings.auth.tokens:
            log.warning("not ready: %s", "; ".join(f"{k}: {v}" for k, v in problems.items()))
            problems = dict.fromkeys(problems, "not ready; the server log says why")
        raise ApiError(503, "not_ready", "the server is not ready", {"problems": problems})
    return json_response({"status": "ready", "revision": ctx.state.snapshot().revision})


async def metrics(ctx: Context, request: Request) -> Response:
    """Prometheus text format."""
    _unrestricted(request.principal, "read metrics")
    return Response(ctx.metrics.render(), content_type=CONTENT_TYPE.encode())


async def openapi(ctx: Context, request: Request) -> Response:
    return json_response(openapi_document())


async def docs(ctx: Context, request: Request) -> Response:
    return Response(docs_page(), content_type=b"text/html; charset=utf-8")


# --- catalog --------------------------------------------------------------------------------


async def catalog_root(ctx: Context, request: Request) -> Response:
    _unrestricted(request.principal, "read the catalog")
    return json_response(catalog.summary(ctx.state))


async def catalog_path(ctx: Context, request: Request) -> Response:
    """/catalog/{collection}[/{name}[/history]]."""
    _unrestricted(request.principal, "read the catalog")
    state, parts = ctx.state, request.params
    if parts == ("features",):
        return json_response(catalog.features(state))
    if parts == ("lineage",):
        return json_response(catalog.lineage(state))
    if parts == ("freshness",):
        return json_response(await asyncio.to_thread(catalog.freshness, state))
    if len(parts) == 1:
        return json_response(catalog.list_objects(state, parts[0]))
    if len(parts) == 2:
        return json_response(catalog.get_object(state, parts[0], parts[1]))
    if len(parts) == 3 and parts[2] == "history":
        result = await asyncio.to_thread(catalog.history, state, parts[0], parts[1])
        return json_response(result)
    raise ApiError(404, "not_found", f"no such catalog path: {request.path}")


def _unrestricted(principal: Principal, what: str) -> None:
    if not principal.unrestricted:
        raise forbid(principal, what)
