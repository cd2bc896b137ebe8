"""The ASGI application: routing, body limits, auth, CORS, errors, metrics, access log.

One class, no framework: a request is a dict lookup for its route, one body read with a
size limit, one token check, the handler, and one response. Every failure, expected or not,
leaves as a JSON error from :mod:`.errors`; an unexpected one is logged with its traceback
and reaches the client as a bare 500.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pitstore.server import handlers
from pitstore.server.auth import ANONYMOUS, Authenticator, Principal
from pitstore.server.batch import ReadBatcher
from pitstore.server.errors import ApiError, from_exception, too_large
from pitstore.server.handlers import Context, Handler
from pitstore.server.http import (
    Request,
    Response,
    allow_header,
    read_asgi_body,
    routed_method,
    send_asgi,
)
from pitstore.server.metrics import SHARE_ENV, Metrics
from pitstore.server.state import ServerState

if TYPE_CHECKING:
    from pitstore.config import ProjectConfig

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("pitstore.server")
access_log = logging.getLogger("pitstore.access")

#: path -> {method: (endpoint label, handler)}
ROUTES: Final[dict[str, dict[str, tuple[str, Handler]]]] = {
    "/get-online-features": {"POST": ("get-online-features", handlers.get_online_features)},
    "/online-features": {"POST": ("online-features", handlers.online_features)},
    "/push": {"POST": ("push", handlers.push)},
    "/write-to-online-store": {"POST": ("push", handlers.push)},
    "/health": {"GET": ("health", handlers.health)},
    "/ready": {"GET": ("ready", handlers.ready)},
    "/metrics": {"GET": ("metrics", handlers.metrics)},
    "/openapi.json": {"GET": ("openapi", handlers.openapi)},
    "/docs": {"GET": ("docs", handlers.docs)},
    "/catalog": {"GET": ("catalog", handlers.catalog_root)},
}
_CATALOG: Final = ("catalog", handlers.catalog_path)
#: Open even when auth is on: probes and the API description carry no feature data.
PUBLIC: Final = frozenset({"/health", "/ready", "/openapi.json", "/docs"})
BASE_HEADERS: Final = [(b"x-content-type-options", b"nosniff")]
_CORS_PREFLIGHT: Final = [
    (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
    (b"access-control-allow-headers", b"authorization, content-type, idempotency-key"),
    (b"access-control-max-age", b"600"),
]


class PitstoreApp:
    """The feature server as an ASGI callable (any ASGI server runs it; ``pitstore serve``
    runs its RSGI form, :class:`pitstore.server.rsgi.RsgiApp`)."""

    def __init__(self, state: ServerState, *, server_process: bool = False) -> None:
        self.state = state
        self._server_process = server_process
        self.settings = state.settings
        self.auth = Authenticator(list(self.settings.auth.tokens), state.project)
        share = os.environ.get(SHARE_ENV) if server_process else None
        self.metrics = Metrics(state.refresh_age, state.revision, Path(share) if share else None)
        reads = ReadBatcher(
            lambda: state.store.online_reads,
            lambda: state.offload_reads,  # settled when the store opens (at start-up)
            lambda seconds: self.metrics.store("read", seconds),
        )
        self.context = Context(state, self.metrics, reads)
        self._cors = frozenset(self.settings.cors_origins)
        self._started = False
        self._ui: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None

    # --- lifespan -----------------------------------------------------------------------------

    def startup(self) -> None:
        """Load the registry, open the store, start the refresher (once)."""
        if not self._started:
            self.state.start()
            self._started = True
            if self._server_process:
                # What is loaded now (registry, modules, plans) lives as long as the process:
                # keep it out of the collector's full passes, which took ~25 ms every few
                # seconds under load (the p99 of a busy server) and ~3 ms once frozen.
                gc.collect()
                gc.freeze()
                self.metrics.start_sharing()  # with several workers (see server.metrics)
            log.info("pitstore feature server ready")

    def shutdown(self) -> None:
        if self._started:
            self.metrics.stop_sharing()
            self.state.stop()
            self._started = False
            log.info("pitstore feature server stopped")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" and is_ui(scope["path"]):
            await self.web_ui()(scope, receive, send)
        elif kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.startup()  # on the loop's thread: reads reuse its store connection
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # --- the web catalog (pitstore.ui: its own pages, sign-in and errors) ----------------------

    def web_ui(self) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
        if self._ui is None:  # imported on first use: API-only servers never load it
            from pitstore.ui import UiApp

            self._ui = UiApp(self.state, self.metrics)
        return self._ui

    # --- requests -----------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        began = time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        header = _headers(scope)
        limit = self.settings.max_body_bytes
        endpoint, response, principal = await self.respond(
            method,
            path,
            scope.get("query_string", b""),
            header.get(b"authorization"),
            header.get(b"origin"),
            header.get(b"idempotency-key"),
            lambda: _read_body(receive, header, limit),
        )
        await send_asgi(send, response, BASE_HEADERS, method)
        client = scope.get("client")
        self.record(endpoint, method, path, response, began, principal, client and client[0])

    # --- the transport-neutral part (ASGI above, RSGI in pitstore.server.rsgi) ------------------

    async def respond(
        self,
        method: str,
        path: str,
        query: bytes,
        authorization: bytes | None,
        origin: bytes | None,
        idempotency_key: bytes | None,
        read_body: Callable[[], Awaitable[bytes]],
    ) -> tuple[str, Response, Principal]:
        """The response to one request (never raises): its endpoint label, the response with
        its CORS headers, and the caller. ``read_body`` reads the body within the size limit;
        ``idempotency_key`` is the Idempotency-Key header (pushes)."""
        endpoint = "unmatched"
        principal = ANONYMOUS
        try:
            if method == "OPTIONS" and self._cors:
                endpoint = "cors"
                response = self._preflight(origin)
            else:
                endpoint, handler, params = _route(method, path)
                principal = self._principal(path, authorization)
                body = await read_body()
                request = Request(method, path, query, body, principal, params)
                if idempotency_key is not None:
                    request.idempotency_key = idempotency_key.decode("latin-1")
                response = await handler(self.context, request)
        except Exception as exc:
            response = self._error(exc, method, path)
        if self._cors:  # a new list: error headers may be shared constants
            response.headers = [*response.headers, *self._cors_headers(origin)]
        return endpoint, response, principal

    def record(
        self,
        endpoint: str,
        method: str,
        path: str,
        response: Response,
        began: float,
        principal: Principal,
        client: str | None,
    ) -> None:
        """Metrics and the optional access log of a request whose response was sent."""
        seconds = time.perf_counter() - began
        self.metrics.request(endpoint, response.status, seconds)
        if self.settings.access_log:
            _log_access(client, method, path, response, seconds, principal)

    def _principal(self, path: str, authorization: bytes | None) -> Principal:
        if path in PUBLIC:
            return ANONYMOUS
        return self.auth.authenticate(authorization)

    def _error(self, exc: Exception, method: str, path: str) -> Response:
        error = from_exception(exc)
        if error.status == 500:
            log.error("%s %s failed", method, path, exc_info=exc)
        self.metrics.error(error.code)
        return Response(_error_body(error), error.status, headers=error.headers)

    # --- CORS (off unless cors_origins is set) ------------------------------------------------

    def _allowed_origin(self, origin: bytes | None) -> bytes | None:
        if origin is None or not self._cors:
            return None
        if "*" in self._cors:
            return b"*"
        return origin if origin.decode("latin-1") in self._cors else None

    def _cors_headers(self, origin: bytes | None) -> list[tuple[bytes, bytes]]:
        # Vary on every response, allowed origin or not: a shared cache must not hand a
        # response made for one origin (with or without the allow header) to another.
        allowed = self._allowed_origin(origin)
        if allowed is None:
            return [(b"vary", b"origin")]
        return [(b"access-control-allow-origin", allowed), (b"vary", b"origin")]

    def _preflight(self, origin: bytes | None) -> Response:
        if self._allowed_origin(origin) is None:
            raise ApiError(403, "forbidden", "origin not allowed by cors_origins")
        return Response(b"", 204, headers=list(_CORS_PREFLIGHT))


def is_ui(path: str) -> bool:
    return path == "/ui" or path.startswith("/ui/")


def _route(method: str, path: str) -> tuple[str, Handler, tuple[str, ...]]:
    methods = ROUTES.get(path)
    params: tuple[str, ...] = ()
    if methods is None and path.startswith("/catalog/"):
        params = tuple(p for p in path[len("/catalog/") :].split("/") if p)
        methods = {"GET": _CATALOG}
    if methods is None:
        raise ApiError(404, "not_found", f"no endpoint {path!r}; see /docs")
    routed = routed_method(method)  # HEAD's error too, so its Content-Length is GET's
    entry = methods.get(routed)
    if entry is None:
        allow = allow_header(methods)
        raise ApiError(
            405,
            "method_not_allowed",
            f"{routed} is not allowed on {path}; use {allow.decode()}",
            headers=[(b"allow", allow)],
        )
    return entry[0], entry[1], params


def _headers(scope: Scope) -> dict[bytes, bytes]:
    # Only the few headers the server reads (names arrive lower-cased from ASGI servers).
    wanted = (b"authorization", b"content-length", b"origin", b"idempotency-key")
    return {k: v for k, v in scope["headers"] if k in wanted}


async def _read_body(receive: Receive, header: dict[bytes, bytes], limit: int) -> bytes:
    """The whole body, refusing (413) one over ``limit`` before reading it when possible."""
    declared = header.get(b"content-length")
    if declared is not None:
        check_declared_length(declared, limit)
    return await read_asgi_body(receive, limit, lambda: body_too_large(limit, part_read=True))


def check_declared_length(declared: bytes, limit: int) -> None:
    """A 400 for a Content-Length that is not a number, a 413 for one over ``limit``."""
    if not declared.isdigit():
        raise ApiError(400, "invalid_header", "Content-Length is not a number")
    # Compare lengths first: int() refuses numbers of over 4,300 digits (a ValueError).
    if len(declared.lstrip(b"0")) > len(str(limit)) or int(declared) > limit:
        raise body_too_large(limit)


def body_too_large(limit: int, *, part_read: bool = False) -> ApiError:
    """413 for a body over ``limit``. ``part_read``: refused while streaming in, so the rest
    of the body is still on the connection, which must close after the response (else the
    client's next request on it would be read as the rest of this body)."""
    error = too_large(
        "body_too_large", f"the request body is over the limit of {limit} bytes", limit
    )
    if part_read:
        error.headers = [*error.headers, (b"connection", b"close")]
    return error


def _error_body(error: ApiError) -> bytes:
    from pitstore.server.codec import dumps

    return dumps(error.body())


def _log_access(
    client: str | None,
    method: str,
    path: str,
    response: Response,
    seconds: float,
    principal: Principal,
) -> None:
    access_log.info(
        json.dumps(
            {
                "ts": round(time.time(), 3),
                "method": method,
                "path": path,
                "status": response.status,
                "ms": round(seconds * 1000, 3),
                "bytes": 0 if method == "HEAD" else len(response.body),
                "client": client,
                "token": principal.name,
            }
        )
    )


# --- construction ---------------------------------------------------------------------------

#: The repo a worker process serves (servers start workers by import string, without args).
REPO_ENV: Final = "PITSTORE_SERVE_REPO"


def create_app(
    repo: str | Path = ".", config: ProjectConfig | None = None, *, server_process: bool = False
) -> PitstoreApp:
    """The feature server app of the feature repo at ``repo`` (``server_process``: the app
    owns its process, as under ``pitstore serve``)."""
    return PitstoreApp(ServerState(repo, config), server_process=server_process)


def app_from_env() -> PitstoreApp:
    """Factory for ASGI server workers: the repo comes from ``PITSTORE_SERVE_REPO``."""
    return create_app(os.environ.get(REPO_ENV, "."), server_process=True)
