"""The UI under the server's tokens: sign-in cookie, bearer header, what each token may read."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from pitstore.server import PitstoreApp
from ui.helpers import ADMIN, MODEL, Client, bearer, check_accessible, start, tokens

COOKIE = "pitstore_ui"


def sign_in(client: Client, token: str, next_url: str = "/ui") -> tuple[int, dict[str, str]]:
    response = client.post("/ui/login", data={"token": token, "next": next_url})
    return response.status_code, dict(response.headers)


def cookie_of(headers: dict[str, str]) -> str:
    value = headers["set-cookie"].split(";")[0]
    assert value.startswith(f"{COOKIE}=")
    return value


def test_pages_send_the_browser_to_sign_in(secured: Client) -> None:
    response = secured.get("/ui/feature-views/driver_stats?x=1")
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login?next=" + quote(
        "/ui/feature-views/driver_stats?x=1", safe=""
    )
    assert secured.get("/ui/api/search?q=a").status_code == 401  # JSON for the script
    assert secured.get("/ui/static/ui.css").status_code == 200  # assets carry no data


def test_sign_in_page_is_accessible(secured: Client) -> None:
    html = secured.get("/ui/login?next=/ui/lineage").text
    page = check_accessible(html)
    assert page.title == "Sign in · pitstore catalog"
    assert 'type="password"' in html and '<label for="token">' in html
    assert 'value="/ui/lineage"' in html


def test_sign_in_sets_a_derived_session_cookie(secured: Client) -> None:
    status, headers = sign_in(secured, ADMIN, "/ui/lineage")
    assert status == 303 and headers["location"] == "/ui/lineage"
    flags = headers["set-cookie"]
    for flag in ("HttpOnly", "SameSite=Strict", "Path=/ui"):
        assert flag in flags, flags
    assert "Max-Age" not in flags  # a browser-session cookie
    assert "Secure" not in flags  # plain HTTP here (see the secure_cookies test)
    cookie = cookie_of(headers)
    assert ADMIN not in cookie  # derived from the token, never the token
    page = secured.get("/ui/lineage", headers={"Cookie": cookie})
    assert page.status_code == 200 and "Sign out" in page.text
    api = secured.get("/ui/api/search?q=conv", headers={"Cookie": cookie})
    assert api.status_code == 200 and api.json()["results"]
    # The cookie opens the UI only: the JSON API still wants the token.
    assert secured.get("/catalog", headers={"Cookie": cookie}).status_code == 401


def test_a_next_target_with_a_line_break_goes_to_the_ui_home(secured: Client) -> None:
    status, headers = sign_in(secured, ADMIN, "/ui/lineage\r\nX-Injected: yes")
    assert status == 303 and headers["location"] == "/ui"
    assert "x-injected" not in {k.lower() for k in headers}


def test_bad_tokens_are_refused(secured: Client) -> None:
    status, _ = sign_in(secured, "wrong-token-0123456789")
    assert status == 401
    response = secured.post("/ui/login", data={"token": "nope"})
    assert "not valid" in response.text and 'role="alert"' in response.text
    # A model's token reads its feature services only: no catalog, as for /catalog.
    status, _ = sign_in(secured, MODEL)
    assert status == 403
    assert secured.get("/ui", headers=bearer(MODEL)).status_code == 403
    tampered = secured.get("/ui", headers={"Cookie": f"{COOKIE}=00ff"})
    assert tampered.status_code == 303  # sign in again
    garbage = secured.get("/ui", headers={"Cookie": f"{COOKIE}=not-hex"})
    assert garbage.status_code == 303


def test_bearer_header_opens_pages_for_scripts(secured: Client) -> None:
    response = secured.get("/ui/feature-views/driver_stats", headers=bearer(ADMIN))
    assert response.status_code == 200 and "Sign out" not in response.text
    assert secured.get("/ui", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_another_authorization_scheme_leaves_the_cookie_in_charge(secured: Client) -> None:
    # e.g. a reverse proxy's Basic auth passed on: it was a 401 even with a valid cookie
    basic = {"Authorization": "Basic dXNlcjpwYXNz"}
    secured.forget_cookies()
    assert secured.get("/ui", headers=basic).status_code == 303  # sign in
    _, headers = sign_in(secured, ADMIN)
    signed_in = {**basic, "Cookie": cookie_of(headers)}
    assert secured.get("/ui/feature-views/driver_stats", headers=signed_in).status_code == 200


def test_sign_out_clears_the_cookie(secured: Client) -> None:
    _, headers = sign_in(secured, ADMIN)
    response = secured.post("/ui/logout", headers={"Cookie": cookie_of(headers)})
    assert response.status_code == 303 and response.headers["location"] == "/ui/login"
    assert "Max-Age=0" in response.headers["set-cookie"]


def test_sign_in_never_redirects_off_the_ui(secured: Client) -> None:
    for target in ("https://evil.example", "//evil.example", "/ui//evil.example", "/\\evil"):
        status, headers = sign_in(secured, ADMIN, target)
        assert status == 303 and headers["location"] == "/ui", target


def test_sign_in_is_skipped_when_auth_is_off(client: Client) -> None:
    response = client.get("/ui/login?next=/ui/lineage")
    assert response.status_code == 303 and response.headers["location"] == "/ui/lineage"
    assert "Sign out" not in client.get("/ui").text


def test_forms_over_the_limit_are_refused(secured: Client) -> None:
    response = secured.post("/ui/login", content=b"token=" + b"a" * 9000)
    assert response.status_code == 413


def test_forms_of_another_site_cannot_sign_in_or_out(secured: Client) -> None:
    form = {"token": ADMIN, "next": "/ui"}
    for headers in (
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # another subdomain is another origin
        {"Origin": "http://evil.example"},  # an older browser: Origin against Host
        {"Origin": "null"},
    ):
        response = secured.post("/ui/login", data=form, headers=headers)
        assert response.status_code == 403 and "set-cookie" not in response.headers, headers
        assert secured.post("/ui/logout", headers=headers).status_code == 403, headers
    for headers in (
        {"Sec-Fetch-Site": "same-origin"},
        {"Origin": "http://testserver"},
        {"Origin": "http://TestServer:80"},  # the same origin, spelled otherwise
        # a proxy that rewrites Host says where the form was posted
        {
            "Origin": "http://features.corp",
            "Host": "127.0.0.1:8000",
            "X-Forwarded-Host": "features.corp",
        },
        {},  # no Origin: a script, not a browser's form
    ):
        response = secured.post("/ui/login", data=form, headers=headers)
        assert response.status_code == 303 and "set-cookie" in response.headers, headers
    rewritten = {"Origin": "http://evil.example", "X-Forwarded-Host": "features.corp"}
    assert secured.post("/ui/login", data=form, headers=rewritten).status_code == 403


def test_a_non_ascii_next_is_percent_encoded(secured: Client) -> None:
    status, headers = sign_in(secured, ADMIN, "/ui/search?q=\u00e9t\u00e9")
    # one byte string for every server (granian sent it as Latin-1, uvicorn as UTF-8)
    assert status == 303 and headers["location"] == "/ui/search?q=%C3%A9t%C3%A9"


def test_the_sign_in_page_is_never_stored_and_takes_get_or_post(secured: Client) -> None:
    assert secured.get("/ui/login").headers["cache-control"] == "no-store"
    assert secured.request("PUT", "/ui/login").headers["allow"] == "GET, HEAD, POST"


def test_head_before_and_after_sign_in_is_answered_like_get(secured: Client) -> None:
    secured.forget_cookies()
    login = secured.request("HEAD", "/ui/login")
    assert login.status_code == 200 and login.content == b""
    assert login.headers["content-length"] == str(len(secured.get("/ui/login").content))
    page = secured.request("HEAD", "/ui/lineage")
    assert page.status_code == 303 and page.headers["location"].startswith("/ui/login?next=")
    assert secured.request("HEAD", "/ui", headers=bearer(ADMIN)).status_code == 200
    assert secured.request("HEAD", "/ui/logout").status_code == 405  # POST only


def test_secure_cookies_for_a_server_behind_a_tls_proxy(repo: Path) -> None:
    # the server speaks plain HTTP: it cannot tell that the browser sees https://
    client = start(repo, {**tokens(), "secure_cookies": True})
    try:
        _, headers = sign_in(client, ADMIN)
        assert "; Secure" in headers["set-cookie"]
    finally:
        client.close()


def test_failed_sign_ins_are_limited_per_address(repo: Path) -> None:
    # any number of tokens could be tried, as fast as the server answered
    limited = {"auth": {**tokens()["auth"], "sign_in_failures": 3, "sign_in_window_seconds": 60}}
    client = start(repo, limited)
    try:
        wrong = "wrong-token-0123456789"
        assert [sign_in(client, wrong)[0] for _ in range(2)] == [401, 401]
        # a success costs no try but clears none: a holder of one token could otherwise sign
        # in between guesses at the others, and never run out of tries
        assert [sign_in(client, ADMIN)[0] for _ in range(3)] == [303, 303, 303]
        assert sign_in(client, MODEL)[0] == 403  # a token that may not read counts too
        refused = client.post("/ui/login", data={"token": wrong})
        assert refused.status_code == 429
        assert 55 <= int(refused.headers["retry-after"]) <= 60
        assert "Too many failed sign-ins" in refused.text and 'role="alert"' in refused.text
        right = client.post("/ui/login", data={"token": ADMIN})  # not even looked at
        assert right.status_code == 429 and "set-cookie" not in right.headers
        assert client.post_from("10.0.0.9", "/ui/login", data={"token": wrong}).status_code == 401
        assert client.get("/ui/login").status_code == 200  # the page itself stays open
        assert client.get("/ui", headers=bearer(ADMIN)).status_code == 200  # scripts too
    finally:
        client.close()


def test_sign_in_limit_defaults(secured: Client) -> None:
    limit = secured.app.web_ui().sign_ins  # type: ignore[attr-defined]
    assert (limit.failures, limit.window_seconds) == (10, 300)


async def sign_ins_at_once(app: PitstoreApp, forms: list[str | None]) -> list[int]:
    """The statuses of sign-ins posted at once to the ASGI app, in that order, each with a
    token whose form arrives only once every one of them has been answered or is waiting
    for its form (as bodies still on their way over slow connections); None: the client
    goes away instead of sending its form."""
    arrive = asyncio.Event()
    waiting = 0

    async def post(token: str | None) -> int:
        async def receive() -> dict[str, Any]:
            nonlocal waiting
            waiting += 1
            await arrive.wait()
            if token is None:
                return {"type": "http.disconnect"}
            body = urlencode({"token": token, "next": "/ui"}).encode()
            return {"type": "http.request", "body": body, "more_body": False}

        started: list[int] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                started.append(message["status"])

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/ui/login",
            "query_string": b"",
            "headers": [(b"content-type", b"application/x-www-form-urlencoded")],
            "client": ("127.0.0.1", 5000),
        }
        await app(scope, receive, send)
        return started[0]

    posts = [asyncio.ensure_future(post(token)) for token in forms]
    while waiting + sum(p.done() for p in posts) < len(posts):
        await asyncio.sleep(0)
    arrive.set()
    return list(await asyncio.gather(*posts))


Limited = tuple[Client, list[str]]


@pytest.fixture
def limited(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Limited]:
    """A client of a server whose addresses may fail 3 sign-ins a minute, and the tokens
    its web UI has checked, in order."""
    auth = {**tokens()["auth"], "sign_in_failures": 3, "sign_in_window_seconds": 60}
    client = start(repo, {"auth": auth})
    ui: Any = client.app.web_ui()
    checked: list[str] = []
    sign_in = ui.auth.sign_in

    def counted(token: str) -> str:
        checked.append(token)
        return str(sign_in(token))

    monkeypatch.setattr(ui.auth, "sign_in", counted)
    yield client, checked
    client.close()


def test_sign_ins_posted_at_once_check_no_more_tokens_than_the_budget(limited: Limited) -> None:
    # The limit was checked before the form was read and charged after the token was: every
    # sign-in sent before the first form arrived passed, and all 40 tokens were tried.
    client, checked = limited
    guesses = [f"guess-{n:02d}-0123456789abcdef" for n in range(39)]
    statuses = client.run(sign_ins_at_once(client.app, [*guesses, ADMIN]))
    assert statuses == [401] * 3 + [429] * 37  # refused before their forms were read
    assert checked == guesses[:3]  # the right token, last, was not looked at
    assert client.post("/ui/login", data={"token": ADMIN}).status_code == 429


def test_a_success_among_sign_ins_posted_at_once_frees_no_other_try(limited: Limited) -> None:
    # A success cleared its address's failures: the guesses checked with it were free, and
    # the next guess was checked too.
    client, checked = limited
    wrong = "wrong-token-0123456789"
    statuses = client.run(sign_ins_at_once(client.app, [wrong, ADMIN, *[wrong] * 30]))
    assert statuses == [401, 303, 401] + [429] * 29
    # the success gave back its own try, and only that: one more guess in the window
    assert [sign_in(client, wrong)[0] for _ in range(2)] == [401, 429]
    assert checked == [wrong, ADMIN, wrong, wrong]


def test_a_sign_in_whose_form_never_arrives_keeps_its_try(limited: Limited) -> None:
    # Only a success gives a try back: a client that goes away before its form is read
    # must not get the try back, or abandoned sign-ins would reset its count.
    client, checked = limited
    statuses = client.run(sign_ins_at_once(client.app, [None, None, None, ADMIN]))
    assert statuses == [400, 400, 400, 429]
    over = [client.post_from("10.0.0.7", "/ui/login", content=b"a" * 9000) for _ in range(3)]
    assert [r.status_code for r in over] == [413] * 3  # nor does a form too large
    assert client.post_from("10.0.0.7", "/ui/login", data={"token": ADMIN}).status_code == 429
    assert checked == []
