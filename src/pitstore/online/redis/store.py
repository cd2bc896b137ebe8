"""The Redis online store: one hash per (view, entity), Lua scripts for writes and reads.

Design (the key layout and scripts are in :mod:`.layout`, the value encoding in :mod:`.codec`):

- **Reads**: one ``EVALSHA`` of the read script carries every requested view and key, so a
  read of any number of views is one round trip and one atomic snapshot (reads of more than
  ``read_chunk_keys`` keys are split into several calls, pipelined in the same round trip, so
  that no script blocks the server for long). The script also returns the views' current
  generations: the store caches them, and a read made with a stale one (the view was deleted
  by another process) is redone once with the right one.
- **Writes**: the write script applies a chunk of rows under the monotonic rule, on the
  server, atomically: it compares ``(ts, created)`` with the stored pair and replaces the row
  only when the new pair is not older. Chunks of ``write_chunk_rows`` rows, pipelined
  ``chunks_per_round_trip`` at a time. A batch is atomic per chunk, not as a whole.
- **Deletes**: ``delete_view`` increments the view's generation (O(1), whatever its size);
  the rows of old generations are removed afterwards by :meth:`RedisOnlineStore.purge_deleted`,
  in a background thread by default.
- **Native TTL** (optional): with a TTL for a view (``view_ttls`` or :meth:`set_view_ttl`),
  each written row expires at ``ts + ttl`` plus a grace period of
  :data:`EXPIRY_GRACE_S` (server clocks may run ahead). It only frees memory: the store facade
  applies the TTL rule on every read anyway.

Scripts are called by SHA1 and loaded when the server answers NOSCRIPT (after a restart).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, Final

from pitstore.errors import PitstoreError, StoreUnavailableError
from pitstore.names import validate_name
from pitstore.online.base import StoreCapabilities, ViewRead, ViewRows
from pitstore.online.batch import prepare_batch
from pitstore.online.merge_lock import held
from pitstore.online.redis import layout
from pitstore.online.redis.client import Command, RedisClient, Script
from pitstore.online.redis.codec import DECODERS, NULL, encoder_for

if TYPE_CHECKING:
    import pyarrow as pa

_log = logging.getLogger(__name__)

#: Seconds a row outlives its TTL before Redis drops it (covers clock differences).
EXPIRY_GRACE_S: Final = 60
#: A read or write gives up after this many stale generations in a row (deletes racing it).
_MAX_STALE: Final = 8
_SCAN_COUNT: Final = 1000

_WRITE = Script(layout.WRITE_SCRIPT)
_READ = Script(layout.READ_SCRIPT)
_DELETE = Script(layout.DELETE_SCRIPT)
_GC_DONE = Script(layout.GC_DONE_SCRIPT)
_SCRIPTS: Final = (_WRITE, _READ, _DELETE, _GC_DONE)
#: Deletes a merge lock only if it still holds the caller's token (not a later holder's).
_UNLOCK = Script(
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)
#: A merge lock's lease: far longer than a merge, short enough to outlive a crashed holder.
_LEASE_MS: Final = 30_000


class RedisOnlineStore:
    """An :class:`~pitstore.online.base.OnlineStore` in Redis (one server or a primary).

    ``url`` is a ``redis://``, ``rediss://`` or ``unix://`` URL (it may name a database);
    every key starts with ``key_prefix`` + ``:``, so several projects can share a database.
    Constructing the store does not connect: the first call does. Safe to share between
    threads (a pool of at most ``max_connections`` connections) and between processes.
    """

    capabilities: ClassVar[StoreCapabilities] = StoreCapabilities(
        native_ttl=True,
        atomic_monotonic_writes=True,
        concurrent_reads_during_write=True,
        merge_lock=True,
    )

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        key_prefix: str = "",
        socket_timeout_s: float = 2.0,
        max_connections: int = 32,
        health_check_interval_s: float = 30.0,
        view_ttls: Mapping[str, float] | None = None,
        background_purge: bool = True,
        write_chunk_rows: int = 1000,
        chunks_per_round_trip: int = 16,
        read_chunk_keys: int = 2000,
    ) -> None:
        self.key_prefix = key_prefix
        self._p = layout.head(key_prefix)
        self._gen_key = layout.gen_key(self._p)
        self._gc_key = layout.gc_key(self._p)
        self._client = RedisClient(
            url,
            socket_timeout_s=socket_timeout_s,
            max_connections=max_connections,
            health_check_interval_s=health_check_interval_s,
        )
        self.server = self._client.server
        self._views: dict[str, tuple[int, bytes]] = {}  # view -> (cached gen, row key head)
        self._ttls_ms: dict[str, int] = {}
        for view, seconds in (view_ttls or {}).items():
            self.set_view_ttl(view, seconds)
        self._background_purge = background_purge
        self._write_chunk = max(1, write_chunk_rows)
        self._chunks_per_trip = max(1, chunks_per_round_trip)
        self._read_chunk = max(1, read_chunk_keys)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._purger: threading.Thread | None = None
        self._purger_again = False
        self._closed = False

    # --- settings -----------------------------------------------------------------------------

    def set_view_ttl(self, view: str, seconds: float | None) -> None:
        """Let Redis drop rows of ``view`` written from now on once older than ``seconds``.

        ``None`` (or 0) turns native expiry off for later writes. A storage optimisation only:
        reads apply the TTL rule in the facade whatever this says.
        """
        validate_name(view, "view")
        if not seconds:
            self._ttls_ms.pop(view, None)
        elif seconds < 0:
            raise ValueError(f"view {view!r}: TTL must be positive seconds, got {seconds!r}")
        else:
            self._ttls_ms[view] = int(seconds * 1000)

    # --- generations --------------------------------------------------------------------------

    def _view(self, view: str) -> tuple[int, bytes]:
        """The cached (generation, row key head) of ``view``; generation 0 until told."""
        cached = self._views.get(view)
        if cached is None:
            validate_name(view, "view")
            cached = self._set_gen(view, 0)
        return cached

    def _set_gen(self, view: str, gen: int) -> tuple[int, bytes]:
        cached = (gen, layout.row_head(self._p, view, gen))
        self._views[view] = cached
        return cached

    def _check_open(self) -> None:
        if self._closed:
            raise PitstoreError(f"the Redis online store at {self.server} is closed")

    # --- write --------------------------------------------------------------------------------

    def write(self, view: str, batch: pa.RecordBatch) -> int:
        """Upsert the rows of ``batch`` under the monotonic rule; returns how many were applied.

        Rows are applied by the write script in chunks, each atomic; a row replaces the stored
        row of its key (all features) when its ``(__ts, __created)`` is not older.
        """
        self._check_open()
        self._view(view)
        prepared = prepare_batch(view, batch)
        n = len(prepared.keys)
        if not n:
            return 0
        names = [f.name for f in prepared.features]
        columns = [encoder_for(f.dtype)(f.array) for f in prepared.features]
        created: list[Any] = prepared.created
        if None in created:
            created = [NULL if c is None else c for c in created]
        fixed = [self._ttls_ms.get(view, 0), EXPIRY_GRACE_S * 1000, len(names), *names]
        rows = _Rows(self._gen_key, prepared.keys, prepared.ts, created, columns, fixed)
        pending = deque(range(0, n, self._write_chunk))
        applied = stale = 0
        while pending:
            gen, head = self._view(view)
            starts = [pending.popleft() for _ in range(min(self._chunks_per_trip, len(pending)))]
            commands = [
                rows.command(view, gen, head, start, start + self._write_chunk) for start in starts
            ]
            replies = self._client.run_scripts(_SCRIPTS, commands)
            retry: list[int] = []
            for start, reply in zip(starts, replies, strict=True):
                if isinstance(reply, bytes):  # stale generation: nothing written by this call
                    retry.append(start)
                    self._set_gen(view, int(reply))
                else:
                    applied += int(reply)
            if retry:
                stale += 1
                if stale > _MAX_STALE:
                    raise StoreUnavailableError(
                        f"view {view!r} was deleted {stale} times while a write to it ran "
                        f"(Redis at {self.server}); retry the write"
                    )
                pending.extendleft(reversed(retry))  # keep batch order: later rows win ties
        return applied

    # --- read ---------------------------------------------------------------------------------

    def read(self, requests: Sequence[ViewRead]) -> list[ViewRows]:
        """Read every request in one round trip (one script call per ``read_chunk_keys`` keys).

        Several views come from one snapshot when the read fits in one script call.
        """
        self._check_open()
        todo = [i for i, r in enumerate(requests) if r.keys]
        results = [ViewRows([], [[] for _ in r.features]) for r in requests]
        if not todo:
            return results
        wanted = [requests[i] for i in todo]
        for _ in range(_MAX_STALE):
            calls = self._read_calls(wanted)
            replies = self._client.run_scripts(_SCRIPTS, [c.command for c in calls])
            stale = False
            for call, reply in zip(calls, replies, strict=True):
                stale |= self._note_gens(call, reply[0])
            if stale:
                continue  # redo the whole read with the generations just learnt
            if len(calls) == 1 and len(todo) == 1:
                results[todo[0]] = _decode(replies[0][1:], len(wanted[0].features))
                return results
            rows: list[list[Any]] = [[] for _ in todo]
            for call, reply in zip(calls, replies, strict=True):
                for position, count, offset in call.parts:
                    rows[position] += reply[offset : offset + count]
            for position, index in enumerate(todo):
                results[index] = _decode(rows[position], len(wanted[position].features))
            return results
        raise StoreUnavailableError(
            f"the views of a read kept being deleted while it ran (Redis at {self.server}); "
            "retry the read"
        )

    def _read_calls(self, requests: Sequence[ViewRead]) -> list[_ReadCall]:
        """Script calls covering ``requests``, at most ``read_chunk_keys`` keys each."""
        calls: list[_ReadCall] = []
        call = _ReadCall(self._gen_key)
        for position, request in enumerate(requests):
            gen, head = self._view(request.view)
            keys = request.keys
            start = 0
            while start < len(keys):
                room = self._read_chunk - call.n_keys
                if room <= 0:
                    calls.append(call.finish())
                    call = _ReadCall(self._gen_key)
                    room = self._read_chunk
                piece = keys[start : start + room]
                call.add(position, request, gen, [head + k + b"}" for k in piece])
                start += len(piece)
        calls.append(call.finish())
        return calls

    def _note_gens(self, call: _ReadCall, current: list[Any]) -> bool:
        """Cache the generations a read call returned; True if one of them moved."""
        stale = False
        for (view, sent), now in zip(call.views, current, strict=True):
            gen = int(now)
            if gen != sent:
                stale = True
                self._set_gen(view, gen)
        return stale

    # --- delete and clean-up ------------------------------------------------------------------

    def delete_view(self, view: str) -> None:
        """Drop every row of ``view`` at once (a new generation); old rows are purged later."""
        self._check_open()
        validate_name(view, "view")
        command = _DELETE.call([self._gen_key, self._gc_key], [view])
        (old,) = self._client.run_scripts(_SCRIPTS, [command])
        self._set_gen(view, int(old) + 1)
        if self._background_purge:
            self._start_purger()

    @contextmanager
    def merge_lock(self, view: str) -> Iterator[None]:
        """Excludes other processes' merges of ``view``: a key set only if absent, with a
        random token and a lease (a holder that dies frees it after :data:`_LEASE_MS`),
        deleted only by its holder."""
        self._check_open()
        validate_name(view, "view")
        key = self._p + b"{#}:merge-lock:" + view.encode()
        token = secrets.token_hex(16)

        def try_lock() -> bool:
            (reply,) = self._client.execute([("SET", key, token, "NX", "PX", _LEASE_MS)])
            return reply is not None

        def unlock() -> None:
            self._client.run_scripts([_UNLOCK], [_UNLOCK.call([key], [token])])

        with held(try_lock, unlock, f"view {view!r}"):
            yield

    def purge_deleted(self) -> int:
        """Remove the rows of deleted generations of every view now; returns the keys removed.

        Each view with pending clean-up costs one ``SCAN`` of the database with the view's key
        pattern (incremental: Redis keeps serving meanwhile).
        """
        self._check_open()
        (views,) = self._client.run_scripts(_SCRIPTS, [("SMEMBERS", self._gc_key)])
        return sum(self._purge_view(v.decode()) for v in sorted(views) if not self._stop.is_set())

    def _purge_view(self, view: str) -> int:
        (current,) = self._client.execute([("HGET", self._gen_key, view)])
        gen = int(self._client.check(current) or 0)
        pattern = layout.view_pattern(self._p, view)
        start = len(self._p) + len(view.encode()) + 1
        cursor, removed = 0, 0
        garbage: list[bytes] = []
        while not self._stop.is_set():
            scan: Command = ("SCAN", cursor, "MATCH", pattern, "COUNT", _SCAN_COUNT)
            commands = [("UNLINK", *garbage), scan] if garbage else [scan]
            replies = [self._client.check(r) for r in self._client.execute(commands)]
            cursor, keys = int(replies[-1][0]), replies[-1][1]
            garbage = [k for k in keys if (g := layout.row_gen(k, start)) is not None and g < gen]
            removed += len(garbage)
            if cursor == 0:
                if garbage:
                    self._client.check(self._client.execute([("UNLINK", *garbage)])[0])
                done = _GC_DONE.call([self._gen_key, self._gc_key], [view, gen])
                self._client.run_scripts(_SCRIPTS, [done])
                break
        return removed

    def _start_purger(self) -> None:
        with self._lock:
            self._purger_again = True
            if self._purger is not None:
                return  # the running purger sees the flag before it exits
            self._purger = threading.Thread(
                target=self._purge_in_background, name="pitstore-redis-purge", daemon=True
            )
            self._purger.start()

    def _purge_in_background(self) -> None:
        try:
            while True:
                with self._lock:
                    if not self._purger_again or self._stop.is_set():
                        self._purger = None  # under the lock: a new delete starts a new purger
                        return
                    self._purger_again = False
                removed = self.purge_deleted()
                _log.debug("purged %d rows of deleted views from Redis at %s", removed, self.server)
        except PitstoreError as exc:  # pending clean-ups stay recorded in Redis ({#}:gc)
            _log.warning("purging deleted views from Redis at %s failed: %s", self.server, exc)
        finally:
            with self._lock:
                if self._purger is threading.current_thread():
                    self._purger = None

    # --- close --------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the background purge and close every connection."""
        self._stop.set()
        purger = self._purger
        if purger is not None:
            purger.join(timeout=5)
        self._closed = True
        self._client.close()

    def __repr__(self) -> str:
        return f"RedisOnlineStore({self.server!r}, key_prefix={self.key_prefix!r})"


class _Rows:
    """The encoded columns of a write batch, cut into write script calls."""

    __slots__ = ("columns", "created", "fixed", "gen_key", "keys", "ts")

    def __init__(
        self,
        gen_key: bytes,
        keys: list[bytes],
        ts: list[int],
        created: list[Any],
        columns: list[list[Any]],
        fixed: list[Any],
    ) -> None:
        self.gen_key = gen_key
        self.keys = keys
        self.ts = ts
        self.created = created
        self.columns = columns
        self.fixed = fixed

    def command(self, view: str, gen: int, head: bytes, start: int, end: int) -> Command:
        keys = [head + k + b"}" for k in self.keys[start:end]]
        args = [view, gen, *self.fixed, *self.ts[start:end], *self.created[start:end]]
        for column in self.columns:
            args += column[start:end]
        return _WRITE.call([self.gen_key, *keys], args)


class _ReadCall:
    """One read script call under construction: keys and arguments, view by view."""

    __slots__ = ("args", "command", "keys", "n_keys", "parts", "views")

    def __init__(self, gen_key: bytes) -> None:
        self.keys: list[bytes] = [gen_key]
        self.args: list[Any] = [0]
        self.views: list[tuple[str, int]] = []  # (view, generation sent)
        self.parts: list[tuple[int, int, int]] = []  # (request position, keys, reply offset)
        self.n_keys = 0
        self.command: Command = ()

    def add(self, position: int, request: ViewRead, gen: int, keys: list[bytes]) -> None:
        self.parts.append((position, len(keys), 1 + self.n_keys))
        self.views.append((request.view, gen))
        self.args += [request.view, gen, len(keys), len(request.features), *request.features]
        self.keys += keys
        self.n_keys += len(keys)

    def finish(self) -> _ReadCall:
        self.args[0] = len(self.views)
        self.command = _READ.call(self.keys, self.args)
        return self


def _decode(rows: list[Any], n_features: int) -> ViewRows:
    """Script replies (``[ts, value...]`` per key, None when absent) as Python values."""
    decoders = DECODERS
    event_ts = [None if (t := row[0]) is None else int(t) for row in rows]
    columns = [
        [None if (v := row[j]) is None else decoders[v[0]](v) for row in rows]
        for j in range(1, n_features + 1)
    ]
    return ViewRows(event_ts, columns)
