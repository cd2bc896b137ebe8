"""Loading a repo's files: files that import each other, loaded again in the same process."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from pitstore import String
from pitstore.definitions import Entity, FeatureView
from pitstore.store.repo_loader import load_repo

ENTITIES = """
from pitstore import Entity, Int64, String
driver = Entity("driver", join_keys=["driver_id"], dtype={dtype}, description={description!r})
"""
FEATURES = """
from pitstore import FeatureView, Field, Float64, ParquetSource
from entities import driver
stats = FeatureView("stats", [driver], [Field("rate", Float64)], ParquetSource("data/s.parquet"))
"""


def write_repo(folder: Path, dtype: str, description: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "entities.py").write_text(ENTITIES.format(dtype=dtype, description=description))
    (folder / "features.py").write_text(FEATURES)
    return folder


def the_driver(repo: Path) -> Entity:
    contents = load_repo(repo)
    (view,) = [o for o in contents.all() if isinstance(o, FeatureView)]
    (entity,) = [o for o in contents.all() if isinstance(o, Entity)]
    assert view.entities == (entity.name,)
    return entity


def test_an_edited_module_imported_by_another_file_is_read_again(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", "Int64", "before")
    assert the_driver(repo).description == "before"
    write_repo(repo, "Int64", "after")
    assert the_driver(repo).description == "after"


def test_two_repos_with_a_module_of_the_same_name_each_get_their_own(tmp_path: Path) -> None:
    first = write_repo(tmp_path / "first", "Int64", "first repo")
    second = write_repo(tmp_path / "second", "String", "second repo")
    assert the_driver(first).description == "first repo"
    driver = the_driver(second)
    assert driver.description == "second repo" and driver.dtypes == (String,)


def test_modules_not_loaded_from_a_repo_are_left_alone(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", "Int64", "x")
    # the repo's files share names with the standard library, the running program and a
    # module of the host program's own folder
    for name in ("json.py", "__main__.py", "host_helpers.py"):
        (repo / name).write_text("VALUE = 1\n")
    host = tmp_path / "host"
    host.mkdir()
    (host / "host_helpers.py").write_text("VALUE = 'host'\n")
    spec = importlib.util.spec_from_file_location("host_helpers", host / "host_helpers.py")
    assert spec is not None and spec.loader is not None
    helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers)
    sys.modules["host_helpers"] = helpers
    before = {name: sys.modules[name] for name in ("json", "__main__", "host_helpers")}
    try:
        the_driver(repo)
        assert {name: sys.modules[name] for name in before} == before
        assert sys.modules["json"] is json
    finally:
        del sys.modules["host_helpers"]
