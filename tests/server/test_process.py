"""The real ``pitstore serve`` process: started on a free loopback port, asked over a socket,
stopped with SIGTERM (a clean exit, after a started request has finished); the web UI through
it (the RSGI to ASGI bridge)."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from conftest import ADMIN, make_repo

from pitstore.server.metrics import SHARE_SECONDS

PITSTORE = Path(sys.executable).parent / "pitstore"
ENGINES = pytest.mark.parametrize("engine", ["granian", "uvicorn"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 15) -> float:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        assert process.poll() is None, process.stderr.read().decode()  # type: ignore[union-attr]
        try:
            if httpx.get(url + "/health", timeout=0.5).status_code == 200:
                return time.monotonic() - began
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("the server did not start")


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def serving(
    repo: Path, engine: str, workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[Served]:
    """``pitstore serve`` on a free loopback port, healthy; stopped (killed if need be) after."""
    port = free_port()
    command = [str(PITSTORE), "serve", "--repo", str(repo), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--engine", engine, "--workers", str(workers)]
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    try:
        served = Served(process, port)
        wait_healthy(served.url, process)
        yield served
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@ENGINES
def test_serve_answers_over_a_socket_and_stops_on_sigterm(repo: Path, engine: str) -> None:
    with serving(repo, engine) as served:
        body = {
            "features": ["driver_hourly_stats:conv_rate"],
            "entities": {"driver_id": [1001, 1002]},
        }
        with httpx.Client(base_url=served.url) as client:
            response = client.post("/get-online-features", json=body)
            assert response.status_code == 200
            assert response.json()["results"][1]["statuses"] == ["PRESENT", "PRESENT"]
            assert client.get("/ready").status_code == 200
            bad = client.post("/get-online-features", content=b'{"features": 1}')
            assert bad.status_code == 422
        process = served.process
        process.send_signal(signal.SIGTERM)
        # The server finishes in-flight requests, runs the app's shutdown and exits; the status
        # may also say the signal that ended it (a supervisor's view).
        assert process.wait(timeout=15) in (0, -signal.SIGTERM)
        log = process.stderr.read().decode()  # type: ignore[union-attr]
        assert "pitstore feature server stopped" in log, log
        assert "Traceback" not in log


@ENGINES
def test_a_request_in_flight_at_sigterm_is_answered(repo: Path, engine: str) -> None:
    with serving(repo, engine) as served:
        body = b'{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001]}}'
        head = (
            f"POST /get-online-features HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
            sock.sendall(head + body[:10])  # the request has started...
            time.sleep(0.3)
            served.process.send_signal(signal.SIGTERM)  # ...when the server is told to stop
            time.sleep(0.3)
            sock.sendall(body[10:])
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
        assert b'"PRESENT"' in reply
        assert served.process.wait(timeout=15) in (0, -signal.SIGTERM)


@ENGINES
def test_web_ui_sign_in_through_the_real_server(tmp_path: Path, engine: str) -> None:
    auth = f"server:\n  auth:\n    sign_in_failures: 2\n    tokens:\n      - token: {ADMIN}\n"
    secured = make_repo(tmp_path / "repo", auth)
    with serving(secured, engine) as served, httpx.Client(base_url=served.url) as client:
        first = client.get("/ui/feature-views/driver_hourly_stats")
        assert first.status_code == 303
        assert first.headers["location"].startswith("/ui/login?next=")
        wrong = client.post("/ui/login", data={"token": "nope", "next": "/ui"})
        assert wrong.status_code == 401
        assert "not valid" in wrong.text
        signed = client.post("/ui/login", data={"token": ADMIN, "next": "/ui/feature-views"})
        assert signed.status_code == 303 and signed.headers["location"] == "/ui/feature-views"
        assert "set-cookie" in signed.headers
        page = client.get("/ui/feature-views/driver_hourly_stats")  # the cookie is sent back
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        assert "conv_rate" in page.text
        # the sign-in cleared no failure (it only gave back its own try); the client's
        # address is the peer's
        guesses = [client.post("/ui/login", data={"token": "nope"}) for _ in range(2)]
        assert [g.status_code for g in guesses] == [401, 429]
        assert int(guesses[1].headers["retry-after"]) > 0
        assert client.post("/ui/login", data={"token": ADMIN}).status_code == 429


@ENGINES
def test_web_ui_sign_ins_sent_at_once_are_limited_before_their_forms_arrive(
    tmp_path: Path, engine: str
) -> None:
    """Every sign-in takes a try of its address's budget as it starts: with the budget spent
    by sign-ins whose forms are still arriving, the rest are refused at once. (The limit was
    checked before the form was read and charged after the token was checked: 60 sign-ins
    sent at once were all checked, the right token among them.)"""
    auth = f"server:\n  auth:\n    sign_in_failures: 3\n    tokens:\n      - token: {ADMIN}\n"
    secured = make_repo(tmp_path / "repo", auth)
    forms = [urlencode({"token": f"guess-{n:02d}-0123456789abcdef"}).encode() for n in range(20)]
    with serving(secured, engine) as served, ExitStack() as sockets:
        held: dict[socket.socket, bytes] = {}
        for form in forms:  # all but the last byte of each form
            sock = sockets.enter_context(socket.create_connection(("127.0.0.1", served.port)))
            sock.sendall(_form_head(len(form)) + form[:-1])
            held[sock] = form
        refused = _answered(list(held), 17)
        assert list(refused.values()) == [429] * 17, refused  # their forms never came
        for sock in refused:
            del held[sock]
        for sock, form in held.items():
            sock.sendall(form[-1:])
        assert list(_answered(list(held), 3).values()) == [401] * 3
        with httpx.Client(base_url=served.url) as client:
            right = client.post("/ui/login", data={"token": ADMIN})
            assert right.status_code == 429 and "set-cookie" not in right.headers


def _form_head(length: int) -> bytes:
    return (
        f"POST /ui/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {length}"
        "\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n"
    ).encode()


def _answered(sockets: list[socket.socket], count: int) -> dict[socket.socket, int]:
    """The status of each reply on ``sockets``, once ``count`` of them have one (or after
    10 s: the ones that came; 0 for a connection closed without a reply)."""
    statuses: dict[socket.socket, int] = {}
    heads = dict.fromkeys(sockets, b"")
    deadline = time.monotonic() + 10
    while len(statuses) < count and (left := deadline - time.monotonic()) > 0:
        waiting = [s for s in sockets if s not in statuses]
        for sock in select.select(waiting, [], [], left)[0]:
            chunk = sock.recv(65536)
            heads[sock] += chunk
            if b"\r\n" in heads[sock]:
                statuses[sock] = int(heads[sock].split(b" ", 2)[1])
            elif not chunk:
                statuses[sock] = 0
    return statuses


@ENGINES
def test_a_web_ui_form_over_its_limit_is_refused_before_the_rest_arrives(
    tmp_path: Path, engine: str
) -> None:
    """The UI reads forms of at most MAX_FORM_BYTES: a longer body, even without a length,
    is refused as it streams in, not buffered whole first (the RSGI bridge once did)."""
    from pitstore.ui.app import MAX_FORM_BYTES

    auth = f"server:\n  auth:\n    tokens:\n      - token: {ADMIN}\n"
    secured = make_repo(tmp_path / "repo", auth)
    chunk = b"x" * (MAX_FORM_BYTES * 2)
    head = (
        b"POST /ui/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n\r\n"
    )
    with serving(secured, engine) as served:
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
            # One chunk over the limit, and the body never ends: only a server that refuses
            # while streaming can answer.
            sock.sendall(head + b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            reply = sock.recv(65536)
        assert reply.startswith(b"HTTP/1.1 413"), reply[:200]


def _raw(port: int, method: str, path: str) -> tuple[bytes, bytes]:
    """The head and the body of the reply to a bodyless request (read until the server
    closes), as sent on the wire: a client library would not read a HEAD reply's body."""
    request = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    return head, body


def _length(head: bytes) -> int:
    lines = head.lower().split(b"\r\n")
    return int(next(v for k, _, v in (x.partition(b": ") for x in lines) if k == b"content-length"))


@ENGINES
def test_head_over_the_real_server(tmp_path: Path, engine: str) -> None:
    # granian's RSGI for the API, the RSGI-to-ASGI bridge for the web UI; uvicorn for both
    auth = f"server:\n  auth:\n    tokens:\n      - token: {ADMIN}\n"
    secured = make_repo(tmp_path / "repo", auth)
    with serving(secured, engine) as served:
        for path in ("/health", "/openapi.json", "/ui/login", "/ui/static/ui.css"):
            head, body = _raw(served.port, "HEAD", path)
            assert head.startswith(b"HTTP/1.1 200"), (path, head)
            assert body == b"", path
            got_head, got_body = _raw(served.port, "GET", path)
            assert _length(head) == _length(got_head) == len(got_body) > 0, path


@ENGINES
def test_raw_non_ascii_in_a_query_is_not_a_server_error(tmp_path: Path, engine: str) -> None:
    # granian hands the query as text; encoding it to latin-1 raised: a bare 500, logged with
    # a traceback, before routing and auth (uvicorn refuses such a request line itself: 400)
    served_repo = make_repo(tmp_path / "repo", "")
    with serving(served_repo, engine) as served:
        for path in ("/health?x=€", "/ui/login?next=/ui/€"):
            head, _ = _raw(served.port, "GET", path)
            status = int(head.split(b" ", 2)[1])
            assert status < 500, (engine, path, head)
        served.process.terminate()
        served.process.wait(timeout=15)
        log = served.process.stderr.read().decode()  # type: ignore[union-attr]
        assert "Traceback" not in log and "UnicodeEncodeError" not in log, log


def test_an_unknown_engine_is_a_clear_error(repo: Path) -> None:
    cli = subprocess.run(
        [str(PITSTORE), "serve", "--repo", str(repo), "--engine", "gunicorn"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert cli.returncode == 1
    assert "unknown server engine 'gunicorn'; use 'granian' or 'uvicorn'" in cli.stderr + cli.stdout
    assert "Traceback" not in cli.stderr


@ENGINES
def test_body_limits_over_the_real_server(tmp_path: Path, engine: str) -> None:
    limited = make_repo(tmp_path / "repo", "server:\n  max_body_bytes: 1024\n")
    big = b'{"features": ["driver_hourly_stats:conv_rate"], "pad": "' + b"x" * 2000 + b'"}'
    with serving(limited, engine) as served, httpx.Client(base_url=served.url) as client:
        declared = client.post("/get-online-features", content=big)
        assert declared.status_code == 413
        assert declared.json()["error"]["code"] == "body_too_large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
            for i in range(0, len(big), 256):
                yield big[i : i + 256]

        streamed = client.post("/get-online-features", content=chunks())
        assert streamed.status_code == 413
        assert streamed.json()["error"]["code"] == "body_too_large"
        ok = client.post(
            "/get-online-features",
            json={
                "features": ["driver_hourly_stats:conv_rate"],
                "entities": {"driver_id": [1]},
            },
        )
        assert ok.status_code == 200


def _scrape(url: str) -> tuple[float, float]:
    """(online requests answered 200, workers added up) from one scrape of /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    answered, workers = 0.0, 0.0
    for family in text_string_to_metric_families(httpx.get(url + "/metrics").text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "pitstore_http_requests_total" and labels == {
                "endpoint": "get-online-features",
                "status": "200",
            }:
                answered = sample.value
            elif sample.name == "pitstore_server_workers":
                workers = sample.value
    return answered, workers


@ENGINES
def test_metrics_add_up_every_worker(repo: Path, tmp_path: Path, engine: str) -> None:
    """With --workers 2, each scrape counts every request, whichever worker answers it; the
    directory the workers share is gone once the server stops."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    body = {"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001]}}
    sent = 30
    with serving(repo, engine, workers=2, env={"TMPDIR": str(tmp)}) as served:
        for _ in range(sent):  # a connection each: the workers take them as they come
            assert httpx.post(served.url + "/get-online-features", json=body).status_code == 200
        deadline = time.monotonic() + 15
        while _scrape(served.url)[1] != 2 and time.monotonic() < deadline:
            time.sleep(0.2)  # both workers up and sharing
        time.sleep(2.5 * SHARE_SECONDS)  # every snapshot written after the last request
        scrapes = [_scrape(served.url) for _ in range(8)]  # on new connections: both workers
        assert scrapes == [(sent, 2)] * 8
        assert [p.name for p in tmp.iterdir()] != []  # the share directory, while serving
        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(timeout=15) in (0, -signal.SIGTERM)
    assert list(tmp.iterdir()) == []
