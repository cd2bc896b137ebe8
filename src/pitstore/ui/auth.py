"""Who may read the UI: the server's own tokens, by header or by a sign-in cookie.

A browser cannot attach a bearer header when it follows a link, so the UI signs in once: the
token is posted to ``/ui/login``, checked exactly like an API call, and the browser gets a
cookie holding the sign-in time and ``HMAC-SHA256(key=token, "pitstore-ui|<project>|<time>")``
— never the token itself. The cookie is HttpOnly (no script reads it), SameSite=Strict (no
other site sends it), limited to ``/ui`` and to the browser session, and it is refused
:data:`SESSION_SECONDS` after sign-in: signing out clears it from the browser, but a copy
taken meanwhile works until then. It opens the UI's read-only pages and nothing else: the JSON
API and push still need the real token. Removing a token from the config voids its cookies;
there is no server-side session to keep in sync between workers.

Scripted clients (and tests) may send ``Authorization: Bearer <token>`` to the UI as to the API.
As for ``/catalog``, a token limited to some feature services may not read the UI.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Final

from pitstore.config.models import ServerTokenConfig
from pitstore.server.auth import ANONYMOUS, Authenticator, Principal, forbid
from pitstore.server.errors import ApiError

COOKIE: Final = "pitstore_ui"
#: How long a sign-in lasts.
SESSION_SECONDS: Final = 12 * 3600
#: How far in the future a sign-in time may be (the clocks of several servers).
_SKEW_SECONDS: Final = 60


@dataclass(frozen=True, slots=True)
class _Session:
    key: bytes
    """The token, the key of its cookies' HMAC."""
    principal: Principal
    project_allowed: bool


class UiAuth:
    """Turns a request's Authorization header or sign-in cookie into a :class:`Principal`."""

    def __init__(self, tokens: list[ServerTokenConfig], project: str) -> None:
        self._bearer = Authenticator(tokens, project)
        self.project = project
        self._sessions = [
            _Session(
                t.token.get_secret_value().strip().encode("utf-8"),
                Principal(
                    t.name,
                    None if t.feature_services is None else frozenset(t.feature_services),
                    False,  # the UI never writes
                ),
                t.projects is None or project in t.projects,
            )
            for t in tokens
        ]

    @property
    def enabled(self) -> bool:
        """Whether the server has tokens (else every UI page is open)."""
        return self._bearer.enabled

    def _digest(self, key: bytes, issued: int) -> bytes:
        message = f"pitstore-ui|{self.project}|{issued}".encode()
        return hmac.new(key, message, hashlib.sha256).digest()

    def principal(
        self, authorization: bytes | None, cookie: str | None, now: float | None = None
    ) -> Principal | None:
        """The caller, or None when they must sign in; 401/403 for a bad header or a token
        that may not read the catalog."""
        if not self.enabled:
            return ANONYMOUS
        if authorization is not None and authorization[:7].lower() == b"bearer ":
            return _reader(self._bearer.authenticate(authorization))
        # Another scheme (a proxy's Basic auth passed on) is not ours: the cookie decides
        if cookie is None:
            return None
        session = self._session(cookie, time.time() if now is None else now)
        if session is None:
            return None  # e.g. the token was removed from the config: sign in again
        if not session.project_allowed:
            raise ApiError(403, "forbidden", f"token may not read project {self.project!r}")
        return _reader(session.principal)

    def _session(self, cookie: str, now: float) -> _Session | None:
        issued_hex, _, digest_hex = cookie.partition(".")
        try:
            issued = int(issued_hex, 16) if len(issued_hex) <= 12 else -1
            presented = bytes.fromhex(digest_hex)
        except ValueError:
            return None
        if not now - SESSION_SECONDS <= issued <= now + _SKEW_SECONDS:
            return None  # expired (or not a time we could have written)
        match = None
        for session in self._sessions:  # no early exit, as for bearer tokens
            if hmac.compare_digest(self._digest(session.key, issued), presented):
                match = session
        return match

    def sign_in(self, token: str, now: float | None = None) -> str:
        """The cookie value for ``token``, after checking it as a bearer token would be."""
        key = token.strip().encode("utf-8")
        _reader(self._bearer.authenticate(b"Bearer " + key))
        issued = int(time.time() if now is None else now)
        return f"{issued:x}.{self._digest(key, issued).hex()}"


def _reader(principal: Principal) -> Principal:
    if not principal.unrestricted:
        raise forbid(principal, "read the catalog")
    return principal


def set_cookie(value: str, secure: bool) -> bytes:
    """The Set-Cookie header of a signed-in browser session."""
    flags = "; Secure" if secure else ""
    return f"{COOKIE}={value}; Path=/ui; HttpOnly; SameSite=Strict{flags}".encode()


def clear_cookie() -> bytes:
    """The Set-Cookie header that signs the browser out."""
    return f"{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0".encode()


def read_cookie(header: bytes | None) -> str | None:
    """Our cookie's value from a Cookie header, if present."""
    if not header:
        return None
    for part in header.decode("latin-1").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and value:
            return value
    return None
