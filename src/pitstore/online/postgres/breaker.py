"""Failing fast while the PostgreSQL server cannot be reached: a circuit breaker.

Without it, every call to a server that is down waited ``connect_timeout_s`` (5 s by default)
for a pooled connection that would not come. In the feature server, whose reads run on the
event loop, each group of reads then froze every request for those seconds, ``/health``
included; with it, only the call that finds the server down waits (or none, when the pool
found out first), and the calls after it fail at once until a connection works again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

log = logging.getLogger(__name__)

#: Seconds between two tries to get a working connection while the server is down: also how
#: long a server that came back may wait to be used again.
PROBE_INTERVAL_S: Final = 1.0


@dataclass(frozen=True, slots=True)
class Down:
    """Why and since when the server is taken to be unreachable."""

    since: float  # time.monotonic()
    cause: BaseException  # the pool's last connection error, else what the tripping call got


class Breaker:
    """Fails calls at once while the server is known to be unreachable; finds out when it is
    back.

    :meth:`trip` (a call got no connection in time, or the pool gave up connecting with no
    connection left) opens it: :attr:`down` is then set, and callers raise at once instead of
    waiting for a connection. A daemon thread runs ``probe`` (get a pooled connection and use
    it) every :data:`PROBE_INTERVAL_S`; the first that succeeds closes the breaker again.
    """

    def __init__(
        self, probe: Callable[[], None], where: str, detail: Callable[[BaseException], str]
    ) -> None:
        self._probe = probe
        self._where = where
        self._detail = detail  # an error's message without secrets, for the log
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        #: Set while the server is taken to be down (read without the lock: one attribute).
        self.down: Down | None = None
        self._connect_error: BaseException | None = None

    def connected(self, error: BaseException | None) -> None:
        """Note how a connection attempt of the pool ended (``None``: it succeeded)."""
        self._connect_error = error

    def trip(self, cause: BaseException) -> None:
        """Take the server to be down (``cause``: what the caller got, if the pool did not
        say why its last connection attempt failed)."""
        with self._lock:
            if self.down is None:
                self.down = Down(time.monotonic(), self._connect_error or cause)
                log.warning(
                    "PostgreSQL at %s is unreachable (%s); calls fail at once until a "
                    "connection works again",
                    self._where,
                    self._detail(self.down.cause),
                )
            if self._thread is None and not self._stopped.is_set():
                self._thread = threading.Thread(
                    target=self._watch, name=f"pitstore-pg-probe {self._where}", daemon=True
                )
                self._thread.start()

    def trip_if_unreachable(self) -> None:
        """Trip when the last connection attempt of the pool failed (it gave up on it)."""
        error = self._connect_error
        if error is not None:
            self.trip(error)

    def reason(self, down: Down) -> BaseException:
        """The latest known reason why the server is down."""
        return self._connect_error or down.cause

    @property
    def connect_error(self) -> BaseException | None:
        """Why the pool's last attempt to connect failed (None: it worked, or none yet)."""
        return self._connect_error

    def stop(self) -> None:
        """Stop probing (the store is closing)."""
        self._stopped.set()

    def join(self, timeout: float = 2.0) -> None:
        """Wait for the probe thread to end (after :meth:`stop`, and the pool closed: that
        wakes a probe waiting for a connection)."""
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _watch(self) -> None:
        while not self._stopped.wait(PROBE_INTERVAL_S):
            try:
                self._probe()
            except Exception:  # still down (the pool noted why)
                continue
            with self._lock:  # a later trip starts a new thread
                self.down = None
                self._thread = None
            log.warning("PostgreSQL at %s is reachable again", self._where)
            return
        with self._lock:
            self._thread = None
