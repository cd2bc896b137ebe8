"""The real ``pitstore serve`` process: started on a free loopback port, asked over a socket,
stopped with SIGTERM (a clean exit, after a started request has finished)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

PITSTORE = Path(sys.executable).parent / "pitstore"


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


def test_serve_answers_over_a_socket_and_stops_on_sigterm(repo: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(PITSTORE), "serve", "--repo", str(repo), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        wait_healthy(url, process)
        body = {
            "features": ["driver_hourly_stats:conv_rate"],
            "entities": {"driver_id": [1001, 1002]},
        }
        with httpx.Client(base_url=url) as client:
            response = client.post("/get-online-features", json=body)
            assert response.status_code == 200
            assert response.json()["results"][1]["statuses"] == ["PRESENT", "PRESENT"]
            assert client.get("/ready").status_code == 200
            bad = client.post("/get-online-features", content=b'{"features": 1}')
            assert bad.status_code == 422
        process.send_signal(signal.SIGTERM)
        # uvicorn finishes in-flight requests, runs the app's shutdown, then re-raises the
        # signal so that the exit status says how the process ended (a supervisor's view).
        assert process.wait(timeout=15) in (0, -signal.SIGTERM)
        log = process.stderr.read().decode()  # type: ignore[union-attr]
        assert "Application shutdown complete" in log, log
        assert "Traceback" not in log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
