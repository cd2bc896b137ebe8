"""A limit on failed sign-ins to the web UI, per client address.

Without it a client could try tokens at the form as fast as the server answers. Every sign-in
takes one try of its address's budget before anything else is done (before its form is read:
:meth:`SignInLimit.reserve` checks and takes in one step, with no ``await`` in between, so
sign-ins sent at once cannot all pass the check while their forms are still arriving). Only a
successful sign-in gives its own try back (:meth:`SignInLimit.release`); a wrong token, a
token that may not read the catalog, a form that never arrives or is too large all keep it.
An address may so spend ``failures`` tries in a window of ``window_seconds`` that opens at the
first; then its sign-ins are refused (429 with ``Retry-After``) until the window closes,
before the token is looked at, the right one included: a guesser must not learn which token
was right.

A success does not clear the failures of its address: whoever holds one valid token (a reader
token, say) could otherwise sign in between guesses at the others and never run out of tries;
and with sign-ins in flight at once, clearing would also free the tries of guesses still
being checked. The price is small: a user who mistyped a few times keeps those failures until
the window closes.

An IPv6 address counts by its /64 network (one host commonly holds all of it), and an IPv4
address mapped into IPv6 as that IPv4 address. Each server worker counts in its own memory
(with several workers, a client that reaches every one of them gets ``failures`` tries per
worker), in at most :data:`MAX_ADDRESSES` entries: closed windows are dropped first, then the
oldest, so clients of many addresses cannot grow the table without bound (they could spread
their guesses over their addresses anyway). The limiter runs on the event loop's thread only,
so it needs no lock.
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


@dataclass(slots=True, eq=False)
class _Window:
    closes: float
    used: int = 0


@dataclass(slots=True, eq=False)
class Reservation:
    """One try taken from an address's budget by a sign-in in progress."""

    key: str
    window: _Window
    last: bool
    """It took the address's last try of the window."""
    released: bool = False


class SignInLimit:
    """Sign-in tries per client address, in windows of fixed length."""

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

    def reserve(self, client: str | None) -> Reservation | int:
        """Take one try of ``client``'s budget for a sign-in about to be checked; when none
        is left, the whole seconds until the window closes instead (nothing is taken)."""
        now = self._drop_closed()
        key = client_key(client)
        window = self._windows.get(key)
        if window is None:
            while len(self._windows) >= self._max:
                self._windows.popitem(last=False)
            window = self._windows[key] = _Window(now + self.window_seconds)
        elif window.used >= self.failures:
            return max(1, math.ceil(window.closes - now))
        window.used += 1
        return Reservation(key, window, window.used == self.failures)

    def release(self, reservation: Reservation) -> None:
        """Give back the try of a successful sign-in (once; not to a window opened since)."""
        if reservation.released:
            return
        reservation.released = True
        window = reservation.window
        if self._windows.get(reservation.key) is not window:
            return  # its window closed or made room: a newer one owes it nothing
        window.used -= 1
        if window.used == 0:  # no failure and no sign-in in flight: forget the address
            del self._windows[reservation.key]

    def retry_after(self, client: str | None) -> int | None:
        """Whole seconds until ``client`` may sign in again; None while it has tries left."""
        now = self._drop_closed()
        window = self._windows.get(client_key(client))
        if window is None or window.used < self.failures:
            return None
        return max(1, math.ceil(window.closes - now))

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
