"""The conformance suite every online store passes (STYLE.md §13).

Subclass :class:`OnlineStoreConformance` in a test module (the class name must start with
``Test`` for pytest to collect it) and override the ``store`` fixture::

    import pytest
    from pitstore.testing import OnlineStoreConformance

    class TestMyStore(OnlineStoreConformance):
        @pytest.fixture
        def store(self, tmp_path):
            store = MyStore(tmp_path / "online")
            yield store
            store.close()

The fixture must give an empty store. Gaps are explicit, never silent skips:

- a capability the store declares False (``atomic_monotonic_writes``,
  ``concurrent_reads_during_write``) turns the tests that need it into xfails naming the flag;
- ``known_gaps = {"test_name": "reason"}`` marks other tests as strict xfails (an unexpected
  pass fails, so a fixed gap is noticed).

Results are compared with :class:`~pitstore.online.memory.MemoryOnlineStore`, the reference,
or with expected values written out in full.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pitstore.errors import SchemaError
from pitstore.online.base import OnlineStore, ViewRead
from pitstore.online.keys import KeyEncoder, encode_columns
from pitstore.online.memory import MemoryOnlineStore
from pitstore.testing.online_values import (
    FEATURE_TYPES,
    assert_same_values,
    key,
    make_batch,
    read_view,
    samples,
    strategy,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["OnlineStoreConformance"]

# The store fixture is function-scoped and shared by the examples of one test: each example
# uses its own view or keys. Every subclass runs the same inherited test (differing executors):
# an example saved in the database for one store is just replayed for the others.
_PROPERTY = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.differing_executors,
        HealthCheck.too_slow,
    ],
)


def _feature_name(type_name: str) -> str:
    """A valid column name for a type string: ``array<int64>`` -> ``f_array_int64``."""
    cleaned = "".join(c if c.isalnum() else "_" for c in type_name)
    return "f_" + "_".join(part for part in cleaned.split("_") if part)


def _run_threads(targets: list[Callable[[], None]]) -> None:
    """Run callables in threads started together; re-raise the first error."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(targets))

    def run(target: Callable[[], None]) -> None:
        try:
            barrier.wait()
            target()
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


class OnlineStoreConformance:
    """Behaviour every :class:`~pitstore.online.base.OnlineStore` must have."""

    known_gaps: ClassVar[Mapping[str, str]] = {}
    """Tests this store is known to fail, with the reason: run as strict xfails."""

    _views = itertools.count()

    @pytest.fixture
    def store(self) -> Iterator[OnlineStore]:
        """An empty store: override in the subclass."""
        raise NotImplementedError("override the `store` fixture in your test class")
        yield  # pragma: no cover

    @pytest.fixture(autouse=True)
    def _mark_known_gaps(self, request: pytest.FixtureRequest) -> None:
        name = getattr(request.node, "originalname", request.node.name)
        if name in self.known_gaps:
            request.node.add_marker(pytest.mark.xfail(reason=self.known_gaps[name], strict=True))

    @staticmethod
    def require(store: OnlineStore, capability: str) -> None:
        """xfail the running test (with the reason) when ``store`` lacks ``capability``."""
        if not getattr(store.capabilities, capability):
            pytest.xfail(f"{type(store).__name__} declares {capability}=False")

    def fresh_view(self) -> str:
        """A view name no other example of this test run has used."""
        return f"view_{next(self._views)}"

    # --- round trips --------------------------------------------------------------------------

    def test_round_trip_every_type(self, store: OnlineStore) -> None:
        length = max(len(samples(t)) for t in FEATURE_TYPES)
        features = {
            _feature_name(t): (t, [samples(t)[i % len(samples(t))] for i in range(length)])
            for t in FEATURE_TYPES
        }
        keys = [key(i) for i in range(length)]
        assert store.write("all_types", make_batch(keys, [5] * length, None, features)) == length
        names = list(features)
        rows = read_view(store, "all_types", names, keys)
        assert rows.event_ts == [5] * length
        for name, column in zip(names, rows.columns, strict=True):
            assert_same_values(column, features[name][1], name)

    @pytest.mark.parametrize("type_name", FEATURE_TYPES)
    @_PROPERTY
    @given(data=st.data())
    def test_round_trip_random_values(
        self, store: OnlineStore, type_name: str, data: st.DataObject
    ) -> None:
        values = data.draw(st.lists(strategy(type_name), min_size=1, max_size=6), label="values")
        view = self.fresh_view()
        keys = [key(i) for i in range(len(values))]
        store.write(view, make_batch(keys, [1] * len(keys), None, {"x": (type_name, values)}))
        assert_same_values(read_view(store, view, ["x"], keys).columns[0], values, type_name)

    def test_timestamps_in_arrow_timestamp_columns(self, store: OnlineStore) -> None:
        import pyarrow as pa

        batch = make_batch([key(1)], [0], None, {"x": ("int64", [1])})
        micros = pa.array([1_700_000_000_000_000_123], pa.timestamp("ns", tz="UTC"))
        batch = batch.set_column(1, "__ts", micros)
        store.write("v", batch)
        assert read_view(store, "v", ["x"], [key(1)]).event_ts == [1_700_000_000_000_000]

    def test_nanosecond_timestamps_are_floored(self, store: OnlineStore) -> None:
        # toward the past, as the offline engines floor them: -1 ns is -1 us (Arrow's cast: 0)
        import pyarrow as pa

        nanos = [-1, -1_000, 1_700_000_000_000_001_999]
        micros = [-1, -1, 1_700_000_000_000_001]
        stamps = pa.array(nanos, pa.timestamp("ns", tz="UTC"))
        keys = [key(i) for i in range(3)]
        batch = make_batch(keys, [0] * 3, None, {"x": ("int64", [1, 2, 3])})
        batch = batch.set_column(1, "__ts", stamps).set_column(2, "__created", stamps)
        lists = pa.array([[n, None] for n in nanos], pa.list_(pa.timestamp("ns")))
        store.write("v", batch.append_column("t", stamps).append_column("l", lists))
        rows = read_view(store, "v", ["t", "l"], keys)
        assert rows.event_ts == micros
        assert rows.columns[0] == micros
        assert rows.columns[1] == [[m, None] for m in micros]

    # --- keys ---------------------------------------------------------------------------------

    def test_composite_keys(self, store: OnlineStore) -> None:
        encoder = KeyEncoder(["a", "b"])
        rows = [("ab", "c"), ("a", "bc"), (1, "x"), ("1", "x"), (b"ab", "c")]
        keys = [encoder.encode(r) for r in rows]
        assert len(set(keys)) == len(keys)
        store.write("v", make_batch(keys, [1] * 5, None, {"i": ("int64", range(5))}))
        assert read_view(store, "v", ["i"], keys[::-1]).columns[0] == [4, 3, 2, 1, 0]

    def test_unicode_and_binary_keys(self, store: OnlineStore) -> None:
        values: list[Any] = ["", "é", "中文🎉", "a\x00b", b"", b"\x00", b"\xff\xfe", "\x00"]
        keys = [key(v) for v in values]
        store.write("v", make_batch(keys, [1] * 8, None, {"i": ("int64", range(8))}))
        assert read_view(store, "v", ["i"], keys).columns[0] == list(range(8))

    def test_int32_and_int64_keys_are_the_same(self, store: OnlineStore) -> None:
        import pyarrow as pa

        keys = encode_columns(["id"], [pa.array([1, 2], pa.int32())]).to_pylist()
        store.write("v", make_batch(keys, [1, 1], None, {"i": ("int64", [10, 20])}))
        wide = encode_columns(["id"], [pa.array([2, 1], pa.int64())]).to_pylist()
        assert read_view(store, "v", ["i"], wide).columns[0] == [20, 10]

    # --- the monotonic rule -------------------------------------------------------------------

    def _write_one(
        self, store: OnlineStore, ts: int, created: int | None, value: str, view: str = "v"
    ) -> int:
        return store.write(view, make_batch([key(1)], [ts], [created], {"x": ("string", [value])}))

    def _value(self, store: OnlineStore, view: str = "v") -> tuple[int | None, Any]:
        rows = read_view(store, view, ["x"], [key(1)])
        return rows.event_ts[0], rows.columns[0][0]

    def test_older_ts_never_replaces_newer(self, store: OnlineStore) -> None:
        assert self._write_one(store, 10, None, "new") == 1
        assert self._write_one(store, 9, 999, "old") == 0
        assert self._value(store) == (10, "new")
        assert self._write_one(store, 11, None, "newer") == 1
        assert self._value(store) == (11, "newer")

    def test_equal_ts_decided_by_created(self, store: OnlineStore) -> None:
        self._write_one(store, 10, 5, "c5")
        assert self._write_one(store, 10, 4, "c4") == 0
        assert self._value(store) == (10, "c5")
        assert self._write_one(store, 10, 6, "c6") == 1
        assert self._value(store) == (10, "c6")

    def test_null_created_is_lowest(self, store: OnlineStore) -> None:
        self._write_one(store, 10, -(2**62), "created")
        assert self._write_one(store, 10, None, "null") == 0
        assert self._value(store) == (10, "created")
        self._write_one(store, 20, None, "null", view="w")
        assert self._write_one(store, 20, -(2**62), "created", view="w") == 1
        assert self._value(store, "w") == (20, "created")

    def test_equal_pair_replaces(self, store: OnlineStore) -> None:
        self._write_one(store, 10, 5, "first")
        assert self._write_one(store, 10, 5, "second") == 1
        assert self._value(store) == (10, "second")
        self._write_one(store, 10, None, "first", view="w")
        assert self._write_one(store, 10, None, "second", view="w") == 1
        assert self._value(store, "w") == (10, "second")

    def test_rows_of_one_key_in_one_batch(self, store: OnlineStore) -> None:
        k = key(1)
        batch = make_batch(
            [k, k, k, k], [5, 7, 6, 7], [None, 1, 9, 1], {"x": ("string", ["a", "b", "c", "d"])}
        )
        assert store.write("v", batch) == 3  # "c" is older than "b" when it comes
        assert self._value(store) == (7, "d")

    def test_replacing_row_keeps_no_old_feature(self, store: OnlineStore) -> None:
        features = {"x": ("string", ["a"]), "y": ("int64", [1])}
        store.write("v", make_batch([key(1)], [1], None, features))
        store.write("v", make_batch([key(1)], [2], None, {"x": ("string", ["b"])}))
        assert read_view(store, "v", ["x", "y"], [key(1)]).columns == [["b"], [None]]

    def test_write_returns_rows_applied(self, store: OnlineStore) -> None:
        keys = [key(i) for i in range(4)]
        feature = {"x": ("int64", [1, 2, 3, 4])}
        assert store.write("v", make_batch(keys, [10, 10, 10, 10], None, feature)) == 4
        later = make_batch(keys, [9, 10, 11, 10], [None, None, None, 1], feature)
        assert store.write("v", later) == 3  # all but the older first row
        assert read_view(store, "v", ["x"], keys).event_ts == [10, 10, 11, 10]

    @_PROPERTY
    @given(seed=st.integers(0, 2**32 - 1))
    def test_same_final_state_as_the_reference(self, store: OnlineStore, seed: int) -> None:
        # Random batches over few keys and few (ts, created) values force ties of every kind.
        rng = random.Random(seed)
        reference = MemoryOnlineStore()
        view = self.fresh_view()
        pool = [key(i) for i in range(6)]
        for batch_no in range(rng.randint(1, 5)):
            size = rng.randint(1, 8)
            keys = [rng.choice(pool) for _ in range(size)]
            ts = [rng.randint(0, 3) for _ in range(size)]
            created = [rng.choice([None, 0, 1]) for _ in range(size)]
            values = [f"{batch_no}:{i}" for i in range(size)]
            batch = make_batch(keys, ts, created, {"x": ("string", values)})
            assert store.write(view, batch) == reference.write(view, batch)
        request = [ViewRead(view, ("x",), pool)]
        (got,), (want,) = store.read(request), reference.read(request)
        assert (got.event_ts, got.columns) == (want.event_ts, want.columns)

    # --- concurrency --------------------------------------------------------------------------

    def test_racing_writers_keep_the_greatest(self, store: OnlineStore) -> None:
        self.require(store, "atomic_monotonic_writes")
        pool = [key(i) for i in range(20)]
        written: list[tuple[bytes, int, int | None]] = []

        def writer(seed: int) -> Callable[[], None]:
            rng = random.Random(seed)

            def run() -> None:
                for _ in range(25):
                    ts = [rng.randint(0, 40) for _ in pool]
                    created = [rng.choice([None, *range(4)]) for _ in pool]
                    written.extend(zip(pool, ts, created, strict=True))
                    values = [f"{t}:{c}" for t, c in zip(ts, created, strict=True)]
                    store.write("v", make_batch(pool, ts, created, {"x": ("string", values)}))

            return run

        _run_threads([writer(1), writer(2)])
        best: dict[bytes, tuple[int, int]] = {}
        for k, ts, created in written:
            pair = (ts, -(2**63) if created is None else created)
            best[k] = max(best.get(k, pair), pair)
        rows = read_view(store, "v", ["x"], pool)
        for k, ts_read, value in zip(pool, rows.event_ts, rows.columns[0], strict=True):
            ts, created = best[k]
            assert ts_read == ts
            assert value == f"{ts}:{None if created == -(2**63) else created}"

    def test_reads_while_writing_from_threads(self, store: OnlineStore) -> None:
        self.require(store, "concurrent_reads_during_write")
        pool = [key(i) for i in range(50)]
        store.write("v", make_batch(pool, [0] * 50, None, {"x": ("int64", [0] * 50)}))
        done = threading.Event()

        def write() -> None:
            for ts in range(1, 30):
                store.write("v", make_batch(pool, [ts] * 50, None, {"x": ("int64", [ts] * 50)}))
            done.set()

        def read() -> None:
            while not done.is_set():
                rows = read_view(store, "v", ["x"], pool)
                assert rows.event_ts == rows.columns[0]  # each row is whole: x == ts

        _run_threads([write, read, read])
        assert read_view(store, "v", ["x"], pool).columns[0] == [29] * 50

    # --- views, keys and features that are not there ------------------------------------------

    def test_delete_view(self, store: OnlineStore) -> None:
        store.write("v", make_batch([key(1)], [1], None, {"x": ("int64", [1])}))
        store.write("w", make_batch([key(1)], [1], None, {"x": ("int64", [2])}))
        store.delete_view("v")
        assert read_view(store, "v", ["x"], [key(1)]).event_ts == [None]
        assert read_view(store, "w", ["x"], [key(1)]).columns == [[2]]
        store.delete_view("v")  # no-op
        store.delete_view("never_written")

    def test_write_after_delete_with_other_types(self, store: OnlineStore) -> None:
        store.write("v", make_batch([key(1)], [10], None, {"x": ("int64", [1])}))
        store.delete_view("v")
        assert store.write("v", make_batch([key(1)], [5], None, {"x": ("string", ["s"])})) == 1
        assert read_view(store, "v", ["x"], [key(1)]).columns == [["s"]]

    def test_unknown_keys_read_missing(self, store: OnlineStore) -> None:
        store.write("v", make_batch([key(1)], [1], None, {"x": ("int64", [1])}))
        rows = read_view(store, "v", ["x"], [key(2), key(1), key("1")])
        assert rows.event_ts == [None, 1, None]
        assert rows.columns == [[None, 1, None]]

    def test_never_written_view_reads_missing(self, store: OnlineStore) -> None:
        rows = read_view(store, "nothing_here", ["x", "y"], [key(1), key(2)])
        assert rows.event_ts == [None, None]
        assert rows.columns == [[None, None], [None, None]]

    def test_several_views_in_one_read(self, store: OnlineStore) -> None:
        store.write("a", make_batch([key(1), key(2)], [1, 2], None, {"x": ("int64", [1, 2])}))
        store.write("b", make_batch([key(2)], [3], None, {"y": ("string", ["two"])}))
        got = store.read(
            [
                ViewRead("a", ("x",), [key(2), key(1)]),
                ViewRead("b", ("y",), [key(1), key(2)]),
                ViewRead("c", ("z",), [key(1)]),
                ViewRead("a", ("x",), [key(1)]),
            ]
        )
        assert [(r.event_ts, r.columns) for r in got] == [
            ([2, 1], [[2, 1]]),
            ([None, 3], [[None, "two"]]),
            ([None], [[None]]),
            ([1], [[1]]),
        ]

    def test_duplicate_keys_in_a_read(self, store: OnlineStore) -> None:
        store.write("v", make_batch([key(1), key(2)], [1, 2], None, {"x": ("int64", [1, 2])}))
        rows = read_view(store, "v", ["x", "x"], [key(1), key(2), key(1), key(3), key(3)])
        assert rows.event_ts == [1, 2, 1, None, None]
        assert rows.columns == [[1, 2, 1, None, None]] * 2

    def test_empty_reads_and_writes(self, store: OnlineStore) -> None:
        assert store.read([]) == []
        store.write("v", make_batch([key(1)], [1], None, {"x": ("int64", [1])}))
        rows = read_view(store, "v", ["x"], [])
        assert (rows.event_ts, rows.columns) == ([], [[]])
        assert read_view(store, "v", [], [key(1)]).event_ts == [1]
        assert store.write("v", make_batch([], [], None, {"x": ("int64", [])})) == 0

    def test_new_columns_added_by_a_later_write(self, store: OnlineStore) -> None:
        store.write("v", make_batch([key(1)], [1], None, {"x": ("int64", [1])}))
        rows = read_view(store, "v", ["x", "later"], [key(1)])
        assert rows.columns == [[1], [None]]
        features = {"x": ("int64", [2]), "later": ("float64", [0.5])}
        store.write("v", make_batch([key(2)], [1], None, features))
        rows = read_view(store, "v", ["later", "x", "never"], [key(1), key(2)])
        assert rows.columns == [[None, 0.5], [1, 2], [None, None]]

    def test_large_batch(self, store: OnlineStore) -> None:
        import pyarrow as pa

        n = 50_000
        keys = encode_columns(["id"], [pa.array(range(n), pa.int64())]).to_pylist()
        features = {
            "i": ("int64", range(n)),
            "f": ("float32", [i / 4 for i in range(n)]),
            "s": ("string", [f"s{i}" for i in range(n)]),
        }
        assert store.write("big", make_batch(keys, [2] * n, None, features)) == n
        rows = read_view(store, "big", ["s", "i"], keys[::-1])
        assert rows.columns == [[f"s{i}" for i in reversed(range(n))], list(reversed(range(n)))]
        assert store.write("big", make_batch(keys, [1] * n, None, features)) == 0
        sample = keys[::997]
        got = read_view(store, "big", ["f"], sample).columns[0]
        assert got == [i / 4 for i in range(0, n, 997)]

    # --- bad batches --------------------------------------------------------------------------

    def test_bad_batches_raise_schema_error(self, store: OnlineStore) -> None:
        import pyarrow as pa

        good = make_batch([key(1)], [1], None, {"x": ("int64", [1])})
        bad: list[pa.RecordBatch] = [
            good.drop_columns(["__key"]),
            good.drop_columns(["__ts"]),
            good.set_column(0, "__key", pa.array([None], pa.binary())),
            good.set_column(1, "__ts", pa.array([None], pa.int64())),
            good.set_column(1, "__ts", pa.array(["1"])),
            good.append_column("s", pa.array([{"a": 1}])),
        ]
        for batch in bad:
            with pytest.raises(SchemaError):
                store.write("v", batch)
        assert read_view(store, "v", ["x"], [key(1)]).event_ts == [None]
