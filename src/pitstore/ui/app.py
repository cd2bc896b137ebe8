"""The UI as an ASGI app mounted at ``/ui`` by the feature server.

Pages are rendered on the server, in a worker thread (a page may read the registry: history,
watermarks), from the server's cached registry snapshot. Errors are pages too (JSON under
``/ui/api``). Every response carries a strict Content-Security-Policy: the UI loads only its
own CSS and script, and nothing else, from anywhere.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs, quote, urlencode

from pitstore.errors import NotFoundError
from pitstore.server import catalog
from pitstore.server.codec import dumps
from pitstore.server.errors import ApiError, from_exception
from pitstore.server.http import (
    JSON,
    Response,
    allow_header,
    read_asgi_body,
    routed_method,
    send_asgi,
)
from pitstore.timeutil import utcnow
from pitstore.ui import assets, search
from pitstore.ui.auth import UiAuth, clear_cookie, read_cookie, set_cookie
from pitstore.ui.html import Html
from pitstore.ui.model import KINDS, CatalogModel, ModelCache
from pitstore.ui.pages import catalog as catalog_pages
from pitstore.ui.pages import history, objects
from pitstore.ui.pages.layout import Ctx
from pitstore.ui.sign_in_limit import SignInLimit

if TYPE_CHECKING:
    from pitstore.server.app import Receive, Scope, Send
    from pitstore.server.metrics import Metrics
    from pitstore.server.state import ServerState

log = logging.getLogger("pitstore.server")

HTML: Final = b"text/html; charset=utf-8"
MAX_FORM_BYTES: Final = 8192
SECURITY_HEADERS: Final = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        b"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    ),
]


@dataclass(frozen=True, slots=True)
class UiRequest:
    """The parts of an HTTP request the UI reads."""

    method: str
    path: str
    query: dict[str, str]
    authorization: bytes | None
    cookie: str | None
    secure: bool
    cross_site: bool
    """Sent by a page of another site (Sec-Fetch-Site, else Origin against Host)."""
    client: str | None = None
    """The peer's address (a proxy's, behind one)."""

    @classmethod
    def of(cls, scope: Scope) -> UiRequest:
        """The request of an ASGI ``http`` scope."""
        headers = dict(scope.get("headers", []))
        raw = scope.get("query_string", b"").decode("latin-1")
        query = {k: v[0] for k, v in parse_qs(raw).items()}
        return cls(
            scope["method"],
            scope["path"],
            query,
            headers.get(b"authorization"),
            read_cookie(headers.get(b"cookie")),
            scope.get("scheme") == "https",
            _cross_site(headers),
            client[0] if (client := scope.get("client")) else None,
        )

    def arg(self, name: str) -> int | None:
        """A query parameter as a non-negative integer (None when absent or not a number)."""
        value = self.query.get(name, "")
        # ASCII digits only: str.isdigit also accepts '²' and digits of other scripts
        return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None


class UiApp:
    """``/ui`` and everything under it."""

    def __init__(self, state: ServerState, metrics: Metrics | None = None) -> None:
        self.state = state
        self.metrics = metrics
        auth = state.settings.auth
        self.auth = UiAuth(list(auth.tokens), state.project)
        self.sign_ins = SignInLimit(auth.sign_in_failures, auth.sign_in_window_seconds)
        self._models = ModelCache()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        began = time.perf_counter()
        request = UiRequest.of(scope)
        try:
            response = await self._handle(request, receive)
        except Exception as exc:
            response = self._error(exc, request)
        await send_asgi(send, response, SECURITY_HEADERS, request.method)
        if self.metrics is not None:
            self.metrics.request("ui", response.status, time.perf_counter() - began)

    async def _handle(self, request: UiRequest, receive: Receive) -> Response:
        path = request.path
        if path.startswith("/ui/static/"):
            _only(request, "GET")
            return assets.response(path.removeprefix("/ui/static/"))
        if path == "/ui/login":
            return await self._login(request, receive)
        if path == "/ui/logout":
            _only(request, "POST")
            _same_site(request)
            return redirect("/ui/login", [(b"set-cookie", clear_cookie())])
        principal = self.auth.principal(request.authorization, request.cookie)
        if principal is None:
            if path.startswith("/ui/api/"):
                raise ApiError(401, "unauthorized", "sign in at /ui/login or send a bearer token")
            return redirect("/ui/login?" + urlencode({"next": _here(request)}))
        _only(request, "GET")
        handler = self._route(path)
        return await asyncio.to_thread(handler, request)

    # --- routing ------------------------------------------------------------------------------

    def _route(self, path: str) -> Callable[[UiRequest], Response]:
        parts = [p for p in path.removeprefix("/ui").split("/") if p]
        fixed: dict[tuple[str, ...], Callable[[UiRequest], Response]] = {
            (): self._home,
            ("search",): self._search,
            ("api", "search"): self._search_api,
            ("lineage",): self._lineage,
            ("freshness",): self._freshness,
        }
        key = tuple(parts)
        if key in fixed:
            return fixed[key]
        if len(parts) == 2 and parts[0] in KINDS:
            return lambda r: self._object(r, KINDS[parts[0]], parts[1])
        if len(parts) == 3 and parts[0] in KINDS and parts[2] == "history":
            return lambda r: self._history(r, KINDS[parts[0]], parts[1])
        if len(parts) == 3 and parts[0] == "features":
            return lambda r: self._feature(r, parts[1], parts[2])
        if len(parts) == 2 and parts[0] == "sources":
            return lambda r: self._source(r, parts[1])
        raise ApiError(404, "not_found", f"no page {path!r}")

    # --- pages (run in a worker thread) -------------------------------------------------------

    def _ctx(self, request: UiRequest) -> Ctx:
        model = self._models.get(self.state.snapshot())
        signed_in = self.auth.enabled and request.authorization is None
        return Ctx(model, self.state.project, str(self.state.store.repo_path), utcnow(), signed_in)

    def _freshness_items(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = catalog.freshness(self.state)["items"]
        return items

    def _home(self, request: UiRequest) -> Response:
        return page(catalog_pages.home_page(self._ctx(request), self._freshness_items()))

    def _search(self, request: UiRequest) -> Response:
        ctx = self._ctx(request)
        query = request.query.get("q", "")
        return page(catalog_pages.search_page(ctx, query, search.search(ctx.model.items, query)))

    def _search_api(self, request: UiRequest) -> Response:
        model = self._models.get(self.state.snapshot())
        query = request.query.get("q", "")
        limit = min(request.arg("limit") or search.LIMIT, search.LIMIT)
        hits = search.search(model.items, query, limit)
        body = {"query": query, "results": [h.to_json() for h in hits]}
        return Response(dumps(body), headers=[(b"cache-control", b"no-store")])

    def _lineage(self, request: UiRequest) -> Response:
        return page(catalog_pages.lineage_page(self._ctx(request)))

    def _freshness(self, request: UiRequest) -> Response:
        return page(catalog_pages.freshness_page(self._ctx(request), self._freshness_items()))

    def _object(self, request: UiRequest, kind: str, name: str) -> Response:
        ctx = self._ctx(request)
        _exists(ctx.model, kind, name)
        records = self.state.store.registry.history(kind, name)
        if kind == "entity":
            return page(objects.entity_page(ctx, name, records))
        if kind == "feature_view":
            return page(objects.view_page(ctx, name, records, self._view_freshness(name)))
        if kind == "on_demand_feature_view":
            return page(objects.on_demand_page(ctx, name, records))
        return page(objects.service_page(ctx, name, records))

    def _view_freshness(self, name: str) -> dict[str, Any] | None:
        return next((f for f in self._freshness_items() if f["view"] == name), None)

    def _feature(self, request: UiRequest, view: str, name: str) -> Response:
        ctx = self._ctx(request)
        kind = "on_demand_feature_view" if view in ctx.model.on_demand else "feature_view"
        _exists(ctx.model, kind, view)
        obj = ctx.model.views.get(view) or ctx.model.on_demand[view]
        obj.feature(name)  # NotFoundError with the closest names
        records = self.state.store.registry.history(kind, view)
        fresh = self._view_freshness(view) if kind == "feature_view" else None
        return page(objects.feature_page(ctx, view, name, records, fresh))

    def _history(self, request: UiRequest, kind: str, name: str) -> Response:
        ctx = self._ctx(request)
        records = self.state.store.registry.history(kind, name)
        if not records:
            _exists(ctx.model, kind, name)
        old, new = history.pick(records, request.arg("from"), request.arg("to"))
        return page(history.history_page(ctx, kind, name, records, old, new))

    def _source(self, request: UiRequest, name: str) -> Response:
        ctx = self._ctx(request)
        if name not in ctx.model.sources:
            raise NotFoundError("source", name, list(ctx.model.sources))
        return page(objects.source_page(ctx, name))

    # --- sign-in ------------------------------------------------------------------------------

    async def _login(self, request: UiRequest, receive: Receive) -> Response:
        target = _safe_next(request.query.get("next", "/ui"))
        if not self.auth.enabled:
            return redirect(target)
        if routed_method(request.method) == "GET":
            return page(catalog_pages.login_page(target, project=self.state.project))
        _only(request, "POST", allowed=("GET", "POST"))
        _same_site(request)  # a page of another site must not sign a browser in
        # One try of the address's budget is taken here, before the first await: sign-ins
        # sent at once, their forms still arriving, cannot all pass a check made before the
        # form is read and charged after the token is checked.
        reservation = self.sign_ins.reserve(request.client)
        if isinstance(reservation, int):  # refused before the form is read: no token checked
            return self._too_many_sign_ins(target, reservation)
        signed_in = False
        try:
            form = parse_qs((await _read_form(receive)).decode("utf-8", "replace"))
            token = form.get("token", [""])[0]
            target = _safe_next(form.get("next", [target])[0])
            try:
                value = self.auth.sign_in(token)
            except ApiError as exc:
                text = "That token is not valid here." if exc.status == 401 else exc.message
                html = catalog_pages.login_page(target, text, self.state.project)
                return page(html, exc.status)
            signed_in = True
        finally:
            # Only a success gives its try back; a failure, or a form that never arrived or
            # was too large, keeps it (giving those back would let a guesser reset its count).
            if signed_in:
                self.sign_ins.release(reservation)
            elif reservation.last:
                self._log_limit_reached(request.client)
        cookie = set_cookie(value, request.secure or self.state.settings.secure_cookies)
        return redirect(target, [(b"set-cookie", cookie)])

    def _log_limit_reached(self, client: str | None) -> None:
        log.warning(
            "web UI: %d failed sign-ins from %s; its sign-ins are refused for up to %g s "
            "(server.auth.sign_in_failures, sign_in_window_seconds)",
            self.sign_ins.failures,
            client or "an unknown address",
            self.sign_ins.window_seconds,
        )

    def _too_many_sign_ins(self, target: str, wait: int) -> Response:
        text = (
            f"Too many failed sign-ins from your address: try again in {wait} seconds "
            f"(at most {self.sign_ins.failures} in {self.sign_ins.window_seconds:g} seconds)."
        )
        html = catalog_pages.login_page(target, text, self.state.project)
        return page(html, 429, [(b"retry-after", str(wait).encode())])

    # --- errors -------------------------------------------------------------------------------

    def _error(self, exc: Exception, request: UiRequest) -> Response:
        error = from_exception(exc)
        if error.status == 500:
            log.error("%s %s failed", request.method, request.path, exc_info=exc)
        if request.path.startswith("/ui/api/"):
            return Response(dumps(error.body()), error.status, JSON, list(error.headers))
        closest = error.details.get("closest") if error.details else None
        html = catalog_pages.error_page(error.status, error.message, closest)
        return page(html, error.status, list(error.headers))


def page(
    html: Html, status: int = 200, headers: list[tuple[bytes, bytes]] | None = None
) -> Response:
    """An HTML page response, never stored: the catalog changes under it, and a signed-in
    page must not come back from the browser's cache (the Back button) after sign-out."""
    extra = [(b"cache-control", b"no-store"), *(headers or [])]
    return Response(html.encode("utf-8"), status, HTML, extra)


def redirect(location: str, headers: list[tuple[bytes, bytes]] | None = None) -> Response:
    """A 303 See Other to ``location`` (a GET after a POST)."""
    return Response(b"", 303, HTML, [(b"location", location.encode()), *(headers or [])])


def _exists(model: CatalogModel, kind: str, name: str) -> None:
    if (kind, name) not in model.snapshot.stored:
        names = [n for k, n in model.snapshot.stored if k == kind]
        raise NotFoundError(kind.replace("_", " "), name, names)


def _only(request: UiRequest, method: str, allowed: tuple[str, ...] = ()) -> None:
    routed = routed_method(request.method)  # HEAD's error too, so its Content-Length is GET's
    if routed != method:
        allow = allow_header(allowed or (method,))
        raise ApiError(
            405,
            "method_not_allowed",
            f"{routed} is not allowed on {request.path}; use {allow.decode()}",
            headers=[(b"allow", allow)],
        )


def _same_site(request: UiRequest) -> None:
    if request.cross_site:
        raise ApiError(403, "forbidden", "a form of another site may not sign in or out here")


def _cross_site(headers: dict[bytes, bytes]) -> bool:
    """Whether a browser says the request comes from a page of another site.

    ``Sec-Fetch-Site`` when sent (current browsers, over HTTPS or to localhost), else the
    ``Origin`` of the form against the host it was posted to: ``Host``, or the
    ``X-Forwarded-Host`` of a proxy that rewrites ``Host`` (a page of another site can set
    neither). No ``Origin`` (a script, an old browser) is not a browser's cross-site form.
    """
    fetch_site = headers.get(b"sec-fetch-site")
    if fetch_site is not None:
        return fetch_site not in (b"same-origin", b"none")
    origin = headers.get(b"origin")
    if origin is None:
        return False
    scheme, _, origin_host = origin.decode("latin-1").partition("://")
    if not origin_host:
        return True  # "null": a sandboxed or privacy-stripped form is not trusted
    posted_to = [headers.get(b"host", b""), *headers.get(b"x-forwarded-host", b"").split(b",")]
    hosts = {_authority(h.decode("latin-1"), scheme) for h in posted_to if h.strip()}
    return _authority(origin_host, scheme) not in hosts


def _authority(host: str, scheme: str) -> str:
    """``host[:port]`` lower-cased, without the scheme's default port."""
    host = host.strip().lower()
    default = {"http": ":80", "https": ":443"}.get(scheme.lower())
    return host.removesuffix(default) if default else host


def _here(request: UiRequest) -> str:
    return request.path + ("?" + urlencode(request.query) if request.query else "")


def _safe_next(target: str) -> str:
    """Only a path inside the UI: a sign-in link must not redirect to another site, nor
    carry control characters into the Location header (a CR/LF there broke the response)."""
    inside = target == "/ui" or target.startswith(("/ui/", "/ui?"))
    if inside and not target.startswith("/ui//") and "\\" not in target and target.isprintable():
        # Non-ASCII percent-encoded: header bytes are Latin-1 to some servers, UTF-8 to others
        return "".join(c if c.isascii() else quote(c) for c in target)
    return "/ui"


async def _read_form(receive: Receive) -> bytes:
    return await read_asgi_body(receive, MAX_FORM_BYTES, _form_too_large)


def _form_too_large() -> ApiError:
    return ApiError(413, "body_too_large", f"the form is over {MAX_FORM_BYTES} bytes")
