"""What only the SQLite online store has: its file layout, processes, locks and caches."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pitstore.errors import (
    ConfigError,
    DefinitionError,
    PitstoreError,
    SchemaError,
    StoreUnavailableError,
)
from pitstore.online.sqlite import SqliteOnlineStore
from pitstore.testing.online_values import key, make_batch, read_view


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "online.db")


@pytest.fixture
def store(path: str) -> Iterator[SqliteOnlineStore]:
    store = SqliteOnlineStore(path)
    yield store
    store.close()


WRITER = textwrap.dedent(
    """
    import sys
    import pyarrow as pa
    from pitstore.online.keys import encode_columns
    from pitstore.online.sqlite import SqliteOnlineStore

    path, n = sys.argv[1], int(sys.argv[2])
    store = SqliteOnlineStore(path, timeout_s=30)
    keys = encode_columns(["id"], [pa.array(range(n), pa.int64())])
    print("ready", flush=True)
    sys.stdin.readline()  # wait until the test has read the old state
    for ts in (2, 3, 4):
        batch = pa.record_batch({
            "__key": keys,
            "__ts": pa.array([ts] * n, pa.int64()),
            "x": pa.array([ts] * n, pa.int64()),
        })
        store.write("v", batch)
    store.close()
    """
)


def test_reads_never_see_part_of_a_batch_written_by_another_process(
    store: SqliteOnlineStore, path: str
) -> None:
    n = 60_000
    keys = [key(i) for i in range(n)]
    store.write("v", make_batch(keys, [1] * n, None, {"x": ("int64", [1] * n)}))
    sample = [*keys[:: n // 200], keys[-1]]  # rows spread over the whole batch
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, path, str(n)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdin is not None and writer.stdout is not None
    assert writer.stdout.readline().strip() == "ready"
    assert read_view(store, "v", ["x"], sample).event_ts == [1] * len(sample)
    writer.stdin.write("go\n")
    writer.stdin.flush()
    seen: dict[int | None, int] = {}
    while writer.poll() is None:
        rows = read_view(store, "v", ["x"], sample)
        assert len(set(rows.event_ts)) == 1, f"a read saw two batches: {set(rows.event_ts)}"
        assert rows.columns[0] == rows.event_ts
        seen[rows.event_ts[0]] = seen.get(rows.event_ts[0], 0) + 1
    assert writer.wait() == 0
    assert seen, "no read ran while the other process was writing"
    assert read_view(store, "v", ["x"], sample).event_ts == [4] * len(sample)


def test_locked_file_raises_store_unavailable_naming_it(path: str) -> None:
    store = SqliteOnlineStore(path, timeout_s=0.1)
    store.write("v", make_batch([key(1)], [1], None, {"x": ("int64", [1])}))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # hold the write lock
    try:
        with pytest.raises(StoreUnavailableError, match="locked") as info:
            store.write("v", make_batch([key(1)], [2], None, {"x": ("int64", [2])}))
        assert path in str(info.value)
        assert isinstance(info.value.__cause__, sqlite3.OperationalError)
        assert read_view(store, "v", ["x"], [key(1)]).columns == [[1]]  # WAL: reads go on
    finally:
        other.execute("ROLLBACK")
        other.close()
        store.close()


def test_file_layout(store: SqliteOnlineStore, path: str) -> None:
    batch = make_batch(
        [key(1)], [1], [7], {"x": ("float64", [float("nan")]), "s": ("string", ["a"])}
    )
    store.write("driver_stats", batch)
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert raw.execute("PRAGMA user_version").fetchone() == (1,)
    ((table, ddl),) = raw.execute(
        "SELECT name, sql FROM sqlite_master WHERE name LIKE 'fv_%'"
    ).fetchall()
    assert table == "fv_driver_stats_1"
    assert "WITHOUT ROWID" in ddl
    assert raw.execute(
        "SELECT feature, dtype FROM __pitstore_columns ORDER BY feature"
    ).fetchall() == [("s", "string"), ("x", "float64")]
    # NaN cannot be a REAL in SQLite: it is kept as an 8-byte IEEE BLOB in the REAL column.
    assert raw.execute(f'SELECT typeof(x), length(x), "__created" FROM "{table}"').fetchone() == (
        "blob",
        8,
        7,
    )
    raw.close()


def test_invalid_names_never_reach_sql(store: SqliteOnlineStore) -> None:
    batch = make_batch([key(1)], [1], None, {"x": ("int64", [1])})
    for bad in ['x"; DROP TABLE __pitstore_views; --', "1abc", "a-b", ""]:
        with pytest.raises(DefinitionError, match="invalid view name"):
            store.write(bad, batch)
        with pytest.raises(DefinitionError):
            store.delete_view(bad)
        assert read_view(store, bad, ["x"], [key(1)]).event_ts == [None]
    renamed = batch.rename_columns(["__key", "__ts", "__created", 'x" TEXT, y'])
    with pytest.raises(DefinitionError, match="invalid feature name"):
        store.write("v", renamed)


def test_type_changes(store: SqliteOnlineStore) -> None:
    store.write(
        "v", make_batch([key(1)], [1], None, {"i": ("int32", [1]), "f": ("float32", [0.5])})
    )
    wider = {"i": ("int64", [2**40]), "f": ("float64", [0.1])}
    store.write("v", make_batch([key(1)], [2], None, wider))
    assert read_view(store, "v", ["i", "f"], [key(1)]).columns == [[2**40], [0.1]]
    with pytest.raises(
        SchemaError, match=r"'i' is stored as int64.*delete_view\('v'\).*pitstore materialize"
    ):
        store.write("v", make_batch([key(1)], [3], None, {"i": ("string", ["x"])}))


def test_another_store_sees_a_view_rewritten_with_new_types(path: str) -> None:
    writer, reader = SqliteOnlineStore(path), SqliteOnlineStore(path)
    writer.write("v", make_batch([key(1)], [1], None, {"x": ("bool", [True])}))
    assert read_view(reader, "v", ["x"], [key(1)]).columns == [[True]]  # plan cached
    writer.delete_view("v")
    writer.write("v", make_batch([key(1)], [1], None, {"x": ("int64", [5])}))
    assert read_view(reader, "v", ["x"], [key(1)]).columns == [[5]]  # not True
    writer.close()
    reader.close()


def test_another_store_sees_new_columns(path: str) -> None:
    writer, reader = SqliteOnlineStore(path), SqliteOnlineStore(path)
    writer.write("v", make_batch([key(1)], [1], None, {"x": ("int64", [1])}))
    assert read_view(reader, "v", ["x", "y"], [key(1)]).columns == [[1], [None]]
    both = {"x": ("int64", [2]), "y": ("string", ["new"])}
    writer.write("v", make_batch([key(1)], [2], None, both))
    assert read_view(reader, "v", ["x", "y"], [key(1)]).columns == [[2], ["new"]]
    writer.close()
    reader.close()


def test_data_survives_reopening(path: str) -> None:
    store = SqliteOnlineStore(path)
    store.write("v", make_batch([key("a")], [3], None, {"x": ("array<string>", [["p", None]])}))
    store.close()
    again = SqliteOnlineStore(path)
    assert read_view(again, "v", ["x"], [key("a")]).columns == [[["p", None]]]
    again.close()


def test_threads_get_connections_that_close_with_the_store(store: SqliteOnlineStore) -> None:
    store.write("v", make_batch([key(1)], [1], None, {"x": ("int64", [1])}))
    results: list[object] = []

    def read() -> None:
        results.append(read_view(store, "v", ["x"], [key(1)]).columns)

    for _ in range(5):
        thread = threading.Thread(target=read)
        thread.start()
        thread.join()
    assert results == [[[1]]] * 5
    store.close()
    with pytest.raises(PitstoreError, match="closed"):
        read_view(store, "v", ["x"], [key(1)])


@pytest.mark.parametrize("bad", [":memory:", "", "file:x?mode=memory&cache=shared"])
def test_in_memory_paths_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="MemoryOnlineStore"):
        SqliteOnlineStore(bad)


def test_newer_layout_is_refused(path: str) -> None:
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA user_version = 99")
    raw.close()
    with pytest.raises(SchemaError, match="layout 99"):
        SqliteOnlineStore(path)


def test_not_a_database(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreUnavailableError, match=r"garbage\.db"):
        SqliteOnlineStore(str(garbage))


def test_longest_view_and_feature_names(store: SqliteOnlineStore) -> None:
    view, feature = "v" * 128, "f" * 128
    store.write(view, make_batch([key(1)], [1], None, {feature: ("int64", [1])}))
    assert read_view(store, view, [feature], [key(1)]).columns == [[1]]
    store.delete_view(view)
