"""SQLite-registry specifics, field diffs and lineage.

The behaviour every registry shares (apply/plan, versions, conflicts, two-process races,
watermarks, isolation) is in ``pitstore.testing.registry``, run over SQLite and Postgres by
``tests/test_registry_conformance.py``.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pitstore import Entity, RegistryError
from pitstore.registry import Node, build_lineage
from pitstore.registry.sqlite import SCHEMA_VERSION, SqliteRegistry


def specs(*entities: Entity) -> dict[tuple[str, str], dict[str, object]]:
    return {(e.kind, e.name): e.to_spec() for e in entities}


def test_field_diff_matches_named_lists_by_name() -> None:
    from pitstore.registry import diff_specs

    old = {"features": [{"name": "a", "dtype": "int64"}, {"name": "b", "dtype": "float32"}]}
    new = {"features": [{"name": "b", "dtype": "float64"}, {"name": "c", "dtype": "string"}]}
    paths = {(c.path, str(c.old), str(c.new)) for c in diff_specs(old, new)}
    assert paths == {
        ("features.a", "{'name': 'a', 'dtype': 'int64'}", "None"),
        ("features.b.dtype", "float32", "float64"),
        ("features.c", "None", "{'name': 'c', 'dtype': 'string'}"),
    }


def test_field_diff_shows_a_named_list_put_in_another_order() -> None:
    from pitstore.registry import FieldChange, diff_specs

    a, b, c = ({"name": n, "dtype": "int64"} for n in "abc")
    swapped = FieldChange("join_keys", ["a", "b"], ["b", "a"], order=True)
    assert diff_specs({"join_keys": [a, b]}, {"join_keys": [b, a]}) == [swapped]
    # only the items both lists hold count: an added or removed one is a change of its own
    assert diff_specs({"k": [a, b]}, {"k": [a, c, b]}) == [FieldChange("k.c", None, c)]
    assert diff_specs({"k": [a, b, c]}, {"k": [c, a]}) == [
        FieldChange("k", ["a", "b", "c"], ["c", "a"], order=True),
        FieldChange("k.b", b, None),
    ]


def test_corrupted_file_gives_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "r.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(RegistryError, match="not a readable pitstore registry"):
        SqliteRegistry(bad, "p")


def test_foreign_sqlite_file_gives_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (id INTEGER)")
    with pytest.raises(RegistryError, match="not a pitstore registry"):
        SqliteRegistry(path, "p")


def test_newer_format_gives_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    SqliteRegistry(path, "p").close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (SCHEMA_VERSION + 1,))
    with pytest.raises(RegistryError, match="newer pitstore"):
        SqliteRegistry(path, "p")


def test_lineage_from_specs(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from pitstore.registry import StoredObject

    at = datetime.now(UTC)
    objects = [
        StoredObject(
            "feature_view", "v", {"source": {"name": "src"}, "entities": ["e"]}, 1, at, ""
        ),
        StoredObject("feature_service", "s", {"features": [{"view": "v"}]}, 1, at, ""),
        StoredObject(
            "on_demand_feature_view", "o", {"sources": [{"view": "v"}], "requests": []}, 1, at, ""
        ),
        StoredObject("feature_service", "s2", {"features": [{"view": "o"}]}, 1, at, ""),
    ]
    graph = build_lineage(objects)
    assert graph.upstream(Node("feature_service", "s")) == {
        Node("feature_view", "v"),
        Node("source", "src"),
        Node("entity", "e"),
    }
    assert graph.downstream(Node("source", "src")) == {
        Node("feature_view", "v"),
        Node("feature_service", "s"),
        Node("on_demand_feature_view", "o"),
        Node("feature_service", "s2"),
    }
    assert Node("on_demand_feature_view", "o") in graph.upstream(Node("feature_service", "s2"))


def test_only_data_shaping_edits_reset_a_views_data() -> None:
    from pitstore.registry.plan import make_plan

    def spec(**edits: Any) -> dict[str, Any]:
        feature = {"name": "x", "dtype": "int64", "description": "", "tags": {}}
        named = {"name": "description", "dtype": "int64", "description": "", "tags": {}}
        source = {"name": "src", "path": "a.parquet", "description": ""}
        base = {"name": "v", "entities": ["driver"], "features": [feature, named]}
        base |= {"key_fields": [], "source": source, "description": "", "tags": {}}
        for path, value in edits.items():
            *parents, last = path.split("__")
            target: Any = base
            for part in parents:
                target = target[int(part)] if part.isdigit() else target[part]
            target[last] = value
        return base

    def resets(**edits: Any) -> bool:
        old, new = spec(), spec(**edits)
        (change,) = make_plan({("feature_view", "v"): old}, {("feature_view", "v"): new}, 1).changes
        return change.resets_data

    # descriptive edits keep the stored rows
    assert not resets(description="new words")
    assert not resets(features__0__description="the rate")
    assert not resets(features__0__tags={"team": "a"})
    assert not resets(source__description="the file")
    # edits that change what is stored do not
    assert resets(features__0__dtype="string")
    assert resets(features__1__dtype="string")  # a feature named "description"
    assert resets(source__path="b.parquet")
    assert resets(entities=["rider"])
    # features are stored by name: their order is not part of the stored rows
    assert not resets(features=spec()["features"][::-1])
    tags = {"name": "tags", "dtype": "int64"}  # a feature named like a descriptive key
    assert resets(features=[*spec()["features"], tags])
    assert resets(features=spec()["features"][:1])  # the one named "description" removed


def test_what_a_change_of_a_views_source_or_online_flag_resets() -> None:
    from pitstore import FeatureView, Field, Float64, ParquetSource, PushSource, StreamSource
    from pitstore.registry.plan import ObjectChange, make_plan

    def batch(path: str = "h.parquet", **options: Any) -> ParquetSource:
        return ParquetSource(path, **options)

    def stream(**options: Any) -> StreamSource:
        settings = {"broker": "redis", "topic": "trips", "batch_source": batch()} | options
        return StreamSource("s", **settings)

    def spec(source: Any, online: bool = True) -> dict[str, Any]:
        schema = [Field("val", Float64)]
        return FeatureView("v", ["driver"], schema, source, online=online).to_spec()

    def change(old: dict[str, Any], new: dict[str, Any]) -> ObjectChange:
        (planned,) = make_plan(
            {("feature_view", "v"): old}, {("feature_view", "v"): new}, 1
        ).changes
        return planned

    def resets(old: Any, new: Any) -> bool:
        return change(spec(old), spec(new)).resets_data

    push = PushSource("p", batch())
    # words about a nested source keep the data (rows pushed online only cannot come back)
    assert not resets(push, PushSource("p", batch(description="the history")))
    assert not resets(push, PushSource("p", batch(), description="pushed trips"))
    # where a stream's rows come from next: the rows stored are still the view's rows
    assert not resets(stream(), stream(topic="trips.v2", broker="nats", group="g"))
    # another history, another push log (by source name), other timestamps, another type
    assert resets(push, PushSource("p", batch("other.parquet")))
    assert resets(push, PushSource("q", batch()))
    assert resets(push, PushSource("p", batch(timestamp_field="ts")))
    assert resets(push, PushSource("p", batch(created_timestamp_field="created")))
    assert resets(batch(), batch(created_timestamp_field="created"))
    assert resets(batch(), push)
    assert resets(push, stream())
    # online again: neither materialized nor pushed to online meanwhile, the view loads its
    # TTL again from the start (its rows still fit it); going offline changes nothing
    back = change(spec(push, online=False), spec(push))
    assert (back.resets_data, back.resets_watermark) == (False, True)
    away = change(spec(push), spec(push, online=False))
    assert (away.resets_data, away.resets_watermark) == (False, False)


def test_an_aggregated_views_inputs_and_windows_shape_its_data() -> None:
    # Its online rows are event lists of its inputs, typed as they are, kept as far back as
    # its longest window: the aggregated features' names and types may not change with them.
    from pitstore import Aggregation, FeatureView, Field, Int64, ParquetSource, String
    from pitstore.registry.plan import make_plan

    def resets(old: FeatureView, new: FeatureView) -> bool:
        (change,) = make_plan({("feature_view", "v"): old.to_spec()}, specs(new), 1).changes
        return change.resets_data

    def view(dtype: Any = Int64, window: str = "1h", description: str = "") -> FeatureView:
        count = Aggregation("tag", "count_distinct", window, name="tags")
        schema = [Field("tag", dtype, description)]
        return FeatureView(
            "v", ["driver"], schema, ParquetSource("s.parquet"), aggregations=[count]
        )

    def specs(new: FeatureView) -> dict[tuple[str, str], dict[str, Any]]:
        return {("feature_view", "v"): new.to_spec()}

    assert view().features == view(String).features == view(window="1d").features
    assert resets(view(), view(String))  # the stored lists hold integers
    assert resets(view(), view(window="1d"))  # the stored lists hold an hour of events
    assert not resets(view(), view(description="a tag"))


def test_an_entitys_join_keys_put_in_another_order_rekey_its_views() -> None:
    # Key encodings follow the declared order of the join keys: the stored (1, 2) of keys
    # [a, b] is what [b, a] reads for a=2, b=1, another entity's values.
    from pitstore.registry.plan import make_plan

    def pair(*keys: str) -> dict[str, Any]:
        return {"name": "pair", "join_keys": [{"name": k, "dtype": "int64"} for k in keys]}

    view = {"name": "v", "entities": ["pair"], "features": [{"name": "x", "dtype": "int64"}]}
    before = {("entity", "pair"): pair("a", "b"), ("feature_view", "v"): view}
    plan = make_plan(before, {**before, ("entity", "pair"): pair("b", "a")}, 1)
    entity, rekeyed = plan.changes
    assert [(f.path, f.old, f.new) for f in entity.fields] == [
        ("join_keys", ["a", "b"], ["b", "a"])
    ]
    assert rekeyed.name == "v" and rekeyed.resets_data and rekeyed.resets_watermark
    assert [f.path for f in rekeyed.fields] == ["entities.pair"]

    # The other orders keys follow: a view's entities (a plain list), not its key fields
    # (types declared for join keys, looked up by name)
    def reordered(**edits: Any) -> bool:
        (change,) = make_plan(
            {("feature_view", "v"): view}, {("feature_view", "v"): edits}, 1
        ).changes
        return change.resets_data

    keys = [{"name": "a", "dtype": "string"}, {"name": "b", "dtype": "int64"}]
    view = {**view, "entities": ["pair", "rider"], "key_fields": keys}
    assert reordered(**{**view, "entities": ["rider", "pair"]})
    assert not reordered(**{**view, "key_fields": keys[::-1]})


BUSY_TIMEOUT_S_TEST = 0.2


def test_a_registry_locked_by_another_process_is_busy_not_corrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pitstore.registry.sqlite as module

    monkeypatch.setattr(module, "BUSY_TIMEOUT_S", BUSY_TIMEOUT_S_TEST)
    path = tmp_path / "registry.db"
    SqliteRegistry(path, "p").close()  # an existing registry
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's long write (an apply)
    try:
        # Opening and reading do not wait for it (they took the write lock: `pitstore list`
        # waited for a running apply, and failed as busy after 30 s)
        registry = SqliteRegistry(path, "p")
        assert registry.list_objects() == [] and registry.get_watermark("v") is None
        with pytest.raises(RegistryError, match="is busy") as caught:  # a write does wait
            registry.set_watermark("v", datetime(2026, 1, 1, tzinfo=UTC))
        assert "not a readable" not in str(caught.value)  # nothing invites deleting it
        registry.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    registry = SqliteRegistry(path, "p")  # free again: fine
    registry.close()


def test_a_change_of_an_entitys_join_keys_resets_its_views(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from pitstore.registry.plan import make_plan

    def driver(dtype: str, description: str = "") -> dict[str, Any]:
        keys = [{"name": "driver_id", "dtype": dtype}]
        return {"name": "driver", "join_keys": keys, "description": description}

    def view(name: str, entity: str) -> dict[str, Any]:
        return {"name": name, "entities": [entity], "features": [{"name": "x", "dtype": "int64"}]}

    rider = {"name": "rider", "join_keys": [{"name": "rider_id", "dtype": "int64"}]}
    before = {
        ("entity", "driver"): driver("int64"),
        ("entity", "rider"): rider,
        ("feature_view", "by_driver"): view("by_driver", "driver"),
        ("feature_view", "by_rider"): view("by_rider", "rider"),
    }
    registry = SqliteRegistry(tmp_path / "registry.db", "p")
    try:
        registry.apply(make_plan({}, before, 0), "x")
        for name in ("by_driver", "by_rider"):
            registry.set_watermark(name, datetime(2026, 1, 1, tzinfo=UTC))
        described = make_plan(before, {**before, ("entity", "driver"): driver("int64", "d")}, 1)
        assert [c.name for c in described.changes] == ["driver"]  # words only: no view
        retyped = make_plan(before, {**before, ("entity", "driver"): driver("string")}, 1)
        resets = {c.name: c.resets_data for c in retyped.changes}
        assert resets == {"driver": False, "by_driver": True}
        # the entity alone (the SDK's apply without prune): the registered views count too
        alone = make_plan(before, {("entity", "driver"): driver("string")}, 1, prune=False)
        assert {c.name: c.resets_data for c in alone.changes} == resets
        registry.apply(retyped, "x")
        assert registry.get_watermark("by_driver") is None  # materialize it again
        assert registry.get_watermark("by_rider") is not None
    finally:
        registry.close()


def test_a_failed_commit_does_not_leave_the_transaction_open(tmp_path: Path) -> None:
    # A COMMIT that fails (an I/O error; not something a test can cause on a real disk, so
    # the connection is wrapped) left the transaction open, and every later write failed
    # with "cannot start a transaction within a transaction".
    from datetime import UTC, datetime

    registry = SqliteRegistry(tmp_path / "registry.db", "p")
    real = registry._conn
    failures = [sqlite3.OperationalError("disk I/O error")]

    class FailingCommit:
        def execute(self, sql: str, *args: Any) -> Any:
            if sql == "COMMIT" and failures:
                raise failures.pop()
            return real.execute(sql, *args)

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    registry._conn = FailingCommit()  # type: ignore[assignment]
    when = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        registry.set_watermark("v", when)
    registry.set_watermark("v", when)  # the next write begins and commits
    assert registry.get_watermark("v") == when


def test_a_folder_or_a_file_on_the_way_is_a_config_error(tmp_path: Path) -> None:
    from pitstore import ConfigError

    with pytest.raises(ConfigError, match="is a folder, not a file"):
        SqliteRegistry(tmp_path, "p")
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="goes through the file"):
        SqliteRegistry(tmp_path / "f" / "r.db", "p")
