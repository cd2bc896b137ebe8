"""Locks by name, made on first use: one lock per view, per source... within a process."""

from __future__ import annotations

import threading


class NamedLocks:
    """A lock per name. Each use keeps its own instance: a view and a source may share a
    name, and one held while taking the other must not be the same (non-reentrant) lock."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def __call__(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())
