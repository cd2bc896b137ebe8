"""Fixtures of the UI tests (helpers in :mod:`ui.helpers`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ui.helpers import Client, make_repo, start, tokens


@pytest.fixture(scope="session")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo repo (applied twice, materialized, one view stale), shared by every UI test."""
    return make_repo(tmp_path_factory.mktemp("ui") / "repo")


@pytest.fixture(scope="module")
def client(repo: Path) -> Iterator[Client]:
    """The server app over the repo, auth off."""
    c = start(repo)
    yield c
    c.close()


@pytest.fixture(scope="module")
def secured(repo: Path) -> Iterator[Client]:
    """The server app over the repo, with an admin token and a model's token."""
    c = start(repo, tokens())
    yield c
    c.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say where the browser tests left their screenshots."""
    from ui.test_ui_browser import ARTIFACTS

    shots = sorted(ARTIFACTS.glob("*.png")) if ARTIFACTS.exists() else []
    if shots:
        terminalreporter.write_line(f"UI screenshots ({len(shots)}): {ARTIFACTS}")
