"""Which files a Parquet path (file, folder or glob) stands for, and the order they are read in.

Every engine reads the list made here, so that DuckDB and Spark read the same rows in the same
order: of rows equal in event and created time, the row read last wins (DESIGN.md section 3,
``tests/test_ties.py``), so the order is part of the result. Left to themselves they differ on
a folder with subfolders: DuckDB reads only its ``*.parquet`` files, those of the folder before
those of its subfolders, and adds Hive partition columns (``date=...`` in a folder name);
Spark reads only the top level of a folder of plain subfolders, drops the top-level files of a
folder that also has ``key=value`` subfolders, and reads ``**`` as one level.

The rules, for a local path:

- **a file**: that file, whatever its name;
- **a folder**: every file below it, in subfolders at any depth (Hive-style partition folders
  such as ``date=2026-01-01/`` included), whatever its extension, except files and folders
  whose name starts with ``_`` or ``.`` (``_SUCCESS``, ``_temporary/``, ``.crc`` checksums,
  half-written ``.tmp`` files): the convention of Spark, Hive and pyarrow datasets;
- **a glob**: the files it matches, with Python's rules (``**`` matches any number of folders,
  wildcards do not match names that start with ``.``); a match that is a folder stands for its
  files as above, and names starting with ``_`` or ``.`` below the glob's fixed leading part
  are skipped as in a folder.

**Order**: by absolute path, compared as text (character by character): ``a/x.parquet``,
``b.parquet``, ``b/x.parquet``, ``c.parquet``, whatever the depth. Partition folders named
``date=YYYY-MM-DD`` (and a push log's files, named by write time) thus come in time order.

**No partition columns**: folder names add no column (DuckDB's ``hive_partitioning = false``,
Spark's ``recursiveFileLookup``); a value the views need must be a column of the files.

Paths on object storage (``s3://``...) are not listed here: each engine lists them itself.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator

HIDDEN_PREFIXES = ("_", ".")
"""Names of files and folders inside a folder source that are not read."""


def is_remote(path: str) -> bool:
    """Whether ``path`` is a URL of object storage rather than a local path (or ``file:``)."""
    return "://" in path and not path.startswith("file:")


def source_files(path: str) -> tuple[str, ...] | None:
    """The files a Parquet path stands for, as absolute paths in reading order (see the module
    docstring); empty when there is none; None for a path on object storage."""
    if is_remote(path):
        return None
    # file:/x, file:///x and file://localhost/x: the path as written, not URL-decoded (Spark
    # and DuckDB take a space in a file: path as a space)
    local = re.sub(r"^file:(//localhost)?/*", "/", path)
    if os.path.isfile(local):
        return (os.path.abspath(local),)
    if os.path.isdir(local):
        return tuple(sorted(_folder_files(local)))
    if glob.has_magic(local):
        return tuple(sorted(set(_glob_files(local))))
    return ()


def has_files(path: str) -> bool:
    """Whether a Parquet path stands for at least one file (a remote path is assumed to)."""
    files = source_files(path)
    return files is None or bool(files)


def _folder_files(folder: str) -> Iterator[str]:
    """Every file below ``folder`` not hidden by :data:`HIDDEN_PREFIXES`, absolute paths.

    Symbolic links to folders are followed (as Spark's listing does), each real folder once:
    a link back up the tree cannot loop.
    """
    seen: set[str] = set()
    for top, folders, files in os.walk(os.path.abspath(folder), followlinks=True):
        real = os.path.realpath(top)
        if real in seen:
            folders.clear()
            continue
        seen.add(real)
        folders[:] = [f for f in folders if not f.startswith(HIDDEN_PREFIXES)]
        for name in files:
            if not name.startswith(HIDDEN_PREFIXES):
                yield os.path.join(top, name)


def _glob_files(pattern: str) -> Iterator[str]:
    """The files matched by ``pattern`` (folders matched stand for their files)."""
    fixed = len(_fixed_part(os.path.abspath(pattern)))
    for match in glob.iglob(pattern, recursive=True):
        absolute = os.path.abspath(match)
        below = absolute[fixed:].split(os.sep)
        if any(part.startswith(HIDDEN_PREFIXES) for part in below):
            continue
        if os.path.isdir(absolute):
            yield from _folder_files(absolute)
        elif os.path.isfile(absolute):
            yield absolute


def _fixed_part(pattern: str) -> str:
    """The leading folders of an absolute ``pattern`` that hold no glob character."""
    parts = pattern.split(os.sep)
    for n, part in enumerate(parts):
        if glob.has_magic(part):
            return os.sep.join(parts[:n])
    return pattern


_DUCKDB_MAGIC = re.compile(r"([*?\[])")
_HADOOP_MAGIC = re.compile(r"([\\*?\[\]{}])")


def duckdb_literal_path(path: str) -> str:
    """``path`` as a DuckDB file pattern that matches that file only (a file name may hold
    ``*``, ``?`` or ``[``, which DuckDB reads as a glob)."""
    return _DUCKDB_MAGIC.sub(r"[\1]", path)


def hadoop_literal_path(path: str) -> str:
    """``path`` as a Hadoop (Spark) path pattern that matches that file only."""
    return _HADOOP_MAGIC.sub(r"\\\1", path)
