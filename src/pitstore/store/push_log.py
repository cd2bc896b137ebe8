"""The offline log of a push source: pushed rows as partitioned Parquet files.

Layout (``<root>`` is ``<folder of the batch source>/_pushed/<source name>``)::

    <root>/date=YYYY-MM-DD/part-t<time>-<uuid>.parquet  rows pushed offline, by event date (UTC)
    <root>/_dead_letter/date=YYYY-MM-DD/part-<uuid>.jsonl   rejected stream messages

**Order.** ``<time>`` is the write time in nanoseconds, zero-padded, never smaller than the
last one this process wrote (a clock stepping back cannot reorder): a folder's files sort in
the order they were written, so readers that take files in path order (the engines do) read
rows in push order, and of rows equal in event and created time the last pushed wins offline
as it does online. The ``t`` sorts after every hexadecimal digit: files of older versions,
``part-<uuid>.parquet``, come first.

**Atomic appends.** Each file is written under a hidden temporary name in its final folder,
flushed and fsynced, then renamed (``os.replace``, atomic on POSIX) and the folder fsynced: a
reader listing ``part-*.parquet`` sees a whole file or none, and a crash leaves at most a
``.tmp`` file that no reader matches. Files are never rewritten, so readers need no lock.

**Columns.** The union of the columns of the views fed by the source (join keys, timestamps,
features or event inputs) plus :data:`MESSAGE_ID_COLUMN` (the broker message a row came from,
null for SDK/HTTP pushes; it lets a replayed stream message be logged only once). When the
batch source exists, shared columns take its Arrow types (naive timestamps stay naive, read as
UTC), so that the engine reads batch and log as one table.
"""

from __future__ import annotations

import glob
import os
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

from pitstore.definitions import PushSource
from pitstore.errors import SchemaError
from pitstore.offline.files import source_files

if TYPE_CHECKING:
    import pyarrow as pa

LOG_FOLDER: Final = "_pushed"
DEAD_LETTER_FOLDER: Final = "_dead_letter"
MESSAGE_ID_COLUMN: Final = "_pitstore_message_id"
PART_GLOB: Final = os.path.join("date=*", "part-*.parquet")


def log_root(source: PushSource, repo: Path) -> Path:
    """Where ``source``'s log lives: beside its batch source, never inside it (a recursive
    glob or a folder source would read the log twice); under ``<repo>/data`` if remote."""
    path = source.batch_source.path
    if "://" in path:
        return repo / "data" / LOG_FOLDER / source.name
    fixed = _before_glob(Path(batch_path(source, repo)))
    return fixed.parent / LOG_FOLDER / source.name


def batch_path(source: PushSource, repo: Path) -> str:
    """The batch source's path, absolute (relative paths are from the repo)."""
    path = source.batch_source.path
    if "://" in path or Path(path).is_absolute():
        return path
    return str(repo / path)


def _before_glob(path: Path) -> Path:
    """The leading part of ``path`` without glob characters (``path`` itself if none)."""
    parts = []
    for part in path.parts:
        if glob.has_magic(part):
            break
        parts.append(part)
    return Path(*parts)


def log_glob(root: Path) -> str:
    """The glob matching every log file under ``root`` (what the engine reads)."""
    return str(root / PART_GLOB)


def has_files(root: Path) -> bool:
    """Whether ``root`` holds at least one log file."""
    return next(iter(glob.iglob(log_glob(root))), None) is not None


def write_atomically(final: Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Write ``final`` through ``write(file)`` so that no reader ever sees it half-written."""
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = final.parent / f".{final.name}.{uuid.uuid4().hex}.tmp"
    try:
        with open(temp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_folder(final.parent)
    return final


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable (the folder entry); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def partition(root: Path, date: str) -> Path:
    """The folder of one event date (``YYYY-MM-DD``)."""
    return root / f"date={date}"


def append(root: Path, table: pa.Table, dates: list[str], target: pa.Schema | None) -> int:
    """Append ``table`` to the log, one new file per event date; returns rows written.

    ``dates[i]`` is row ``i``'s event date; ``target`` is the batch source's schema (or None).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if target is not None:
        table = conform(table, target)
    by_date: dict[str, list[int]] = {}
    for i, date in enumerate(dates):
        by_date.setdefault(date, []).append(i)
    for date, rows in sorted(by_date.items()):
        whole = len(by_date) == 1  # the usual case: no copy
        part = table if whole else table.take(pa.array(rows, pa.int64()))
        final = partition(root, date) / f"part-t{_stamp():020d}-{uuid.uuid4().hex}.parquet"
        write_atomically(final, lambda f, part=part: pq.write_table(part, f))  # type: ignore[misc]
    count: int = table.num_rows
    return count


def conform(table: pa.Table, target: pa.Schema) -> pa.Table:
    """Shared columns cast to the batch source's types, in its column order; a SchemaError
    for a value they cannot hold (a safe cast: nothing is rounded or wrapped)."""
    names = set(table.column_names)
    ordered = [f.name for f in target if f.name in names]
    ordered += [n for n in table.column_names if n not in set(ordered)]
    columns = []
    for name in ordered:
        column = table.column(name)
        if name in target.names and column.type != target.field(name).type:
            wanted = target.field(name).type
            try:
                column = column.cast(wanted)
            except (ValueError, TypeError, NotImplementedError) as exc:
                raise SchemaError(
                    f"push log: column {name!r} of type {column.type} cannot be stored as the "
                    f"batch source's {wanted} ({exc}); {_conform_hint(wanted)}"
                ) from None
        columns.append(column)
    return table.__class__.from_arrays(columns, names=ordered)


_last_stamp = 0
_stamp_lock = threading.Lock()


def _stamp() -> int:
    """The wall clock in nanoseconds, always past the previous stamp of this process."""
    global _last_stamp
    with _stamp_lock:
        _last_stamp = max(time.time_ns(), _last_stamp + 1)
        return _last_stamp


def _conform_hint(wanted: pa.DataType) -> str:
    import pyarrow as pa

    if pa.types.is_timestamp(wanted):
        return (
            f"send times in whole {wanted.unit} (the batch file's precision), or rewrite the "
            "batch file with timestamp[us]"
        )
    return "fix the view's field type or the data"


_schemas: dict[str, tuple[float, pa.Schema]] = {}
_schemas_lock = threading.Lock()


def batch_schema(path: str) -> pa.Schema | None:
    """The Arrow schema of a local Parquet batch source (file, folder or glob), or None.

    Cached per file and modification time: pushes happen many times a second.
    """
    first = _first_file(path)
    if first is None:
        return None
    mtime = os.stat(first).st_mtime
    with _schemas_lock:
        cached = _schemas.get(first)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    import pyarrow.parquet as pq

    schema = pq.read_schema(first)
    with _schemas_lock:
        _schemas[first] = (mtime, schema)
    return schema


def _first_file(path: str) -> str | None:
    """The first file the engines read of a local batch source (offline/files.py)."""
    files = source_files(path)
    return files[0] if files else None


def logged_message_ids(root: Path, dates: Iterable[str], since: float) -> set[str]:
    """Message ids already in the log's ``dates`` partitions, in files written after ``since``
    (a POSIX time): the check that keeps a replayed stream message from being logged twice."""
    import pyarrow.parquet as pq

    found: set[str] = set()
    for date in set(dates):
        for name in glob.iglob(str(partition(root, date) / "part-*.parquet")):
            if os.stat(name).st_mtime < since:
                continue
            schema = pq.read_schema(name)
            if MESSAGE_ID_COLUMN not in schema.names:
                continue
            column = pq.read_table(name, columns=[MESSAGE_ID_COLUMN]).column(0)
            found.update(v for v in column.to_pylist() if v is not None)
    return found


def drop_logged(ids: list[str | None], logged: Collection[str]) -> list[int]:
    """Indexes of rows whose message id is not yet logged."""
    return [i for i, m in enumerate(ids) if m is None or m not in logged]
