"""The SQLite registry: plan/apply round trips, diffs, history, concurrency, bad files."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pitstore import ConflictError, Entity, RegistryError
from pitstore.registry import Node, build_lineage, make_plan
from pitstore.registry.sqlite import SCHEMA_VERSION, SqliteRegistry


def specs(*entities: Entity) -> dict[tuple[str, str], dict[str, object]]:
    return {(e.kind, e.name): e.to_spec() for e in entities}


def test_apply_plan_round_trip_with_versions(tmp_path: Path) -> None:
    reg = SqliteRegistry(tmp_path / "r.db", "p")
    plan = make_plan({}, specs(Entity("driver"), Entity("rider")), reg.revision())
    assert [c.action for c in plan.changes] == ["add", "add"]
    assert reg.apply(plan, "alice") == 1
    assert [o.name for o in reg.list_objects("entity")] == ["driver", "rider"]

    current = {(o.kind, o.name): o.spec for o in reg.list_objects()}
    changed = make_plan(current, specs(Entity("driver", description="new")), reg.revision())
    assert [(c.action, c.name) for c in changed.changes] == [
        ("change", "driver"),
        ("remove", "rider"),
    ]
    assert [(f.path, f.old, f.new) for f in changed.changes[0].fields] == [
        ("description", "", "new")
    ]
    assert reg.apply(changed, "bob") == 2
    stored = reg.get_object("entity", "driver")
    assert stored is not None and stored.version == 2 and stored.updated_by == "bob"
    assert reg.get_object("entity", "rider") is None
    history = reg.history("entity", "rider")
    assert [(h.version, h.action, h.applied_by) for h in history] == [
        (1, "added", "alice"),
        (2, "removed", "bob"),
    ]


def test_plan_without_prune_keeps_other_objects(tmp_path: Path) -> None:
    reg = SqliteRegistry(tmp_path / "r.db", "p")
    reg.apply(make_plan({}, specs(Entity("driver")), 0), "a")
    current = {(o.kind, o.name): o.spec for o in reg.list_objects()}
    plan = make_plan(current, specs(Entity("rider")), 1, prune=False)
    assert [(c.action, c.name) for c in plan.changes] == [("add", "rider")]


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


def test_stale_plan_is_a_conflict(tmp_path: Path) -> None:
    reg = SqliteRegistry(tmp_path / "r.db", "p")
    first = make_plan({}, specs(Entity("driver")), 0)
    second = make_plan({}, specs(Entity("rider")), 0)
    reg.apply(first, "a")
    with pytest.raises(ConflictError, match="plan"):
        reg.apply(second, "b")
    assert [o.name for o in reg.list_objects()] == ["driver"]


def test_projects_are_isolated(tmp_path: Path) -> None:
    a = SqliteRegistry(tmp_path / "r.db", "a")
    b = SqliteRegistry(tmp_path / "r.db", "b")
    a.apply(make_plan({}, specs(Entity("driver")), 0), "x")
    assert b.list_objects() == [] and b.revision() == 0
    a.teardown()
    assert a.list_objects() == [] and a.revision() == 0


def test_watermarks(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    reg = SqliteRegistry(tmp_path / "r.db", "p")
    assert reg.get_watermark("v") is None
    when = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    reg.set_watermark("v", when)
    assert reg.get_watermark("v") == when


_APPLY_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from pitstore import ConflictError, Entity
    from pitstore.registry import make_plan
    from pitstore.registry.sqlite import SqliteRegistry

    path, name, barrier = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    reg = SqliteRegistry(path, "p")
    current = {(o.kind, o.name): o.spec for o in reg.list_objects()}
    entity = Entity(name)
    plan = make_plan(current, {(entity.kind, entity.name): entity.to_spec()}, reg.revision(),
                     prune=False)
    print("planned", flush=True)
    while not barrier.exists():
        time.sleep(0.005)
    try:
        reg.apply(plan, name)
    except ConflictError as exc:
        print("conflict:", exc, flush=True)
        sys.exit(3)
    print("applied", flush=True)
    """
)


def test_two_processes_applying_at_once_never_lose_a_change(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    SqliteRegistry(db, "p").close()  # create the schema first
    barrier = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _APPLY_SCRIPT, str(db), name, str(barrier)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("driver", "rider")
    ]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "planned"
    barrier.touch()
    codes = sorted(p.wait(timeout=60) for p in procs)
    assert codes == [0, 3], "exactly one apply wins; the other must get a ConflictError"
    reg = SqliteRegistry(db, "p")
    assert reg.revision() == 1
    assert len(reg.list_objects()) == 1  # the loser wrote nothing


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
