"""A limit on failed sign-ins to the web UI, per client address.

Without it a client could try tokens at the form as fast as the server answers. An address may
fail ``failures`` times in a window of ``window_seconds`` that opens at its first failure; then
its sign-ins are refused (429 with ``Retry-After``) until the window closes, before the token
is looked at, the right one included: a guesser must not learn which token was right. A
successful sign-in clears its address's failures. An IPv6 address counts by its /64 network
(one host commonly holds all of it), and an IPv4 address mapped into IPv6 as that IPv4
address.

Each server worker counts in its own memory (with several workers, a client that reaches
every one of them gets ``failures`` tries per worker), in at most :data:`MAX_ADDRESSES`
entries: closed windows are dropped first, then the oldest, so clients of many addresses
cannot grow the table without bound (they could spread their guesses over their addresses
anyway). The limiter runs on the event loop's thread only, so it needs no lock.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

#: The most client addresses held at once (an entry is about 200 bytes).
MAX_ADDRESSES: Final = 10_000


@dataclass(slots=True)
class _Window:
    closes: float
    failures: int = 0


class SignInLimit:
    """Failed sign-ins per client address, in windows of fixed length."""

    def __init__(
        self,
        failures: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = MAX_ADDRESSES,
    ) -> None:
        self.failures = failures
        self.window_seconds = window_seconds
        self._clock = clock
        self._max = max_addresses
        # Every window lasts as long, so insertion order is closing order: the closed windows
        # are always at the front.
        self._windows: OrderedDict[str, _Window] = OrderedDict()

    def retry_after(self, client: str | None) -> int | None:
        """Whole seconds until ``client`` may sign in again; None while it has tries left."""
        now = self._drop_closed()
        window = self._windows.get(client_key(client))
        if window is None or window.failures < self.failures:
            return None
        return max(1, math.ceil(window.closes - now))

    def failed(self, client: str | None) -> bool:
        """Count a failed sign-in of ``client``; True when it used the last try."""
        now = self._drop_closed()
        key = client_key(client)
        window = self._windows.get(key)
        if window is None:
            while len(self._windows) >= self._max:
                self._windows.popitem(last=False)
            window = self._windows[key] = _Window(now + self.window_seconds)
        window.failures += 1
        return window.failures == self.failures

    def succeeded(self, client: str | None) -> None:
        """Forget the failures of ``client`` (a mistyped token, then the right one)."""
        self._windows.pop(client_key(client), None)

    def __len__(self) -> int:
        return len(self._windows)

    def _drop_closed(self) -> float:
        now = self._clock()
        while self._windows and next(iter(self._windows.values())).closes <= now:
            self._windows.popitem(last=False)
        return now


def client_key(client: str | None) -> str:
    """The address whose budget a client spends: an IPv6 address's /64 network, an IPv4
    address (also mapped into IPv6) as itself, anything else as given."""
    if not client:
        return ""  # no address known (a Unix socket): one budget for all such clients
    try:
        address = ipaddress.ip_address(client.strip("[]"))  # "[::1]" from some servers
    except ValueError:
        return client
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
