"""The files a Parquet path stands for, and their order (pitstore.offline.files): every engine
reads this list, so it decides which rows a tie goes to."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from pitstore.offline.files import (
    duckdb_literal_path,
    hadoop_literal_path,
    has_files,
    source_files,
)


def touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")


def relative(root: Path, files: tuple[str, ...] | None) -> list[str]:
    assert files is not None
    return [os.path.relpath(f, root) for f in files]


def test_a_folder_is_every_file_below_it_in_path_order(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "top.parquet",
        "b.parquet",
        "b/x.parquet",
        "a/x.parquet",
        "date=2026-01-02/part-0.parquet",
        "date=2026-01-01/deep/er/part-0",  # any depth, any extension
        "a-b/x.parquet",
    )
    got = relative(tmp_path, source_files(str(tmp_path)))
    # as text: "a-b/" < "a/" ("-" < "/") and "b.parquet" < "b/x.parquet" ("." < "/")
    assert got == [
        "a-b/x.parquet",
        "a/x.parquet",
        "b.parquet",
        "b/x.parquet",
        "date=2026-01-01/deep/er/part-0",
        "date=2026-01-02/part-0.parquet",
        "top.parquet",
    ]
    assert got == sorted(got)


def test_names_starting_with_underscore_or_dot_are_skipped_at_any_depth(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "part-0.parquet",
        "_SUCCESS",
        "_temporary/0/part-0.parquet",
        ".hidden/part-0.parquet",
        "date=1/.part-0.parquet.crc",
        "date=1/.part-1.parquet.abc.tmp",
        "date=1/_common_metadata",
        "date=1/part-0.parquet",
    )
    assert relative(tmp_path, source_files(str(tmp_path))) == [
        "date=1/part-0.parquet",
        "part-0.parquet",
    ]
    # named itself, a file is read whatever its name
    assert source_files(str(tmp_path / "_SUCCESS")) == (str(tmp_path / "_SUCCESS"),)


def test_a_glob_matches_at_any_depth_with_the_same_order_and_skips(tmp_path: Path) -> None:
    root = tmp_path / "_pushed" / "src"  # a hidden name before the glob part is no matter
    touch(root, "date=1/part-1.parquet", "date=2/part-0.parquet", "date=1/sub/part-0.parquet")
    touch(root, "_temporary/part-0.parquet", "date=1/notes.txt")
    assert relative(root, source_files(str(root / "**" / "*.parquet"))) == [
        "date=1/part-1.parquet",
        "date=1/sub/part-0.parquet",
        "date=2/part-0.parquet",
    ]
    # a folder matched stands for its files; a file matched twice is read once
    assert relative(root, source_files(str(root / "date=*"))) == [
        "date=1/notes.txt",
        "date=1/part-1.parquet",
        "date=1/sub/part-0.parquet",
        "date=2/part-0.parquet",
    ]
    assert relative(root, source_files(str(root / "**"))) == relative(root, source_files(str(root)))


def test_missing_empty_remote_and_file_urls(tmp_path: Path) -> None:
    assert source_files(str(tmp_path / "nowhere")) == ()
    assert source_files(str(tmp_path / "*.parquet")) == ()
    touch(tmp_path, "only/_SUCCESS")
    assert source_files(str(tmp_path / "only")) == ()
    assert not has_files(str(tmp_path / "only"))
    assert source_files("s3://bucket/folder") is None
    assert has_files("s3://bucket/folder")  # the engine lists it
    touch(tmp_path, "x y.parquet")
    want = (str(tmp_path / "x y.parquet"),)
    for url in (f"file://{tmp_path}/x y.parquet", f"file:{tmp_path}/x y.parquet"):
        assert source_files(url) == want


def test_a_folder_named_like_a_glob_and_linked_folders(tmp_path: Path) -> None:
    touch(tmp_path, "data[1]/a.parquet", "real/b.parquet")
    assert relative(tmp_path, source_files(str(tmp_path / "data[1]"))) == ["data[1]/a.parquet"]
    os.symlink(tmp_path / "real", tmp_path / "data[1]" / "linked")
    os.symlink(tmp_path, tmp_path / "real" / "loop")  # back up the tree: read once, no loop
    got = relative(tmp_path, source_files(str(tmp_path / "data[1]")))
    assert got[:2] == ["data[1]/a.parquet", "data[1]/linked/b.parquet"]
    assert len(got) == len(set(got))


def test_literal_paths_match_only_themselves(tmp_path: Path) -> None:
    names = ["a[1].parquet", "b*.parquet", "c?.parquet", "d{e}.parquet", "a1.parquet"]
    touch(tmp_path, *names)
    con = duckdb.connect()
    for name in names[:-1]:
        pattern = duckdb_literal_path(str(tmp_path / name))
        found = con.sql("SELECT file FROM glob(?)", params=[pattern]).fetchall()
        assert found == [(str(tmp_path / name),)], name
    assert hadoop_literal_path("/x/a[1]{b}*?\\.parquet") == "/x/a\\[1\\]\\{b\\}\\*\\?\\\\.parquet"
