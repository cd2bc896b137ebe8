"""The conformance suite every registry passes (STYLE.md §13).

Subclass :class:`RegistryConformance` in a test module (the class name must start with
``Test``) and override the ``registry_factory`` fixture. It returns a
:class:`RegistryRecipe`: the import path of the registry class and the arguments that come
before and after the project, so that the suite can open registries in this process *and*
in other processes (the concurrent-apply test starts real processes, which cannot share
Python objects)::

    class TestMyRegistry(RegistryConformance):
        @pytest.fixture
        def registry_factory(self, tmp_path):
            return RegistryRecipe("my_pkg.registry:MyRegistry", (str(tmp_path / "r.db"),))

Every registry opened through the factory is closed after the test. The factory must point
at an empty store. Field-level diffs are pure functions of the specs (tested once, with
:func:`pitstore.registry.diff_specs`), so the suite does not repeat them.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from pitstore.errors import ConflictError
from pitstore.registry.base import Registry
from pitstore.registry.plan import Plan, make_plan

__all__ = ["RegistryConformance", "RegistryRecipe", "specs"]

Specs = dict[tuple[str, str], dict[str, Any]]


@dataclass(frozen=True)
class RegistryRecipe:
    """How to open a registry: ``Class(*args, project, **kwargs)``, ``Class`` named by
    ``target`` (``"package.module:Class"``). Arguments are JSON values, so that another
    process can follow the same recipe.
    """

    target: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __call__(self, project: str) -> Registry:
        module, _, name = self.target.partition(":")
        cls = getattr(importlib.import_module(module), name)
        registry: Registry = cls(*self.args, project, **self.kwargs)
        return registry

    def to_json(self) -> str:
        """The recipe as JSON (for a command line)."""
        return json.dumps({"target": self.target, "args": self.args, "kwargs": self.kwargs})

    @classmethod
    def from_json(cls, text: str) -> RegistryRecipe:
        """The recipe of :meth:`to_json`."""
        data = json.loads(text)
        return cls(data["target"], tuple(data["args"]), dict(data["kwargs"]))


def specs(*objects: tuple[str, str, dict[str, Any]]) -> Specs:
    """Desired specs from ``(kind, name, spec)`` triples."""
    return {(kind, name): spec for kind, name, spec in objects}


def entity(name: str, description: str = "") -> tuple[str, str, dict[str, Any]]:
    """An entity spec (the registry stores specs as given: it does not validate them)."""
    return ("entity", name, {"name": name, "join_keys": [name + "_id"], "description": description})


def view(
    name: str, dtype: str = "int64", description: str = "", ttl: str | None = None
) -> tuple[str, str, dict[str, Any]]:
    """A feature view spec with one feature of type ``dtype``."""
    spec = {
        "name": name,
        "entities": ["driver"],
        "features": [{"name": "x", "dtype": dtype}],
        "source": {"name": "src"},
        "description": description,
        "ttl": ttl,
    }
    return ("feature_view", name, spec)


def current(registry: Registry) -> Specs:
    """The registered specs, keyed like :func:`specs`."""
    return {(o.kind, o.name): o.spec for o in registry.list_objects()}


def plan_to(registry: Registry, desired: Specs, prune: bool = True) -> Plan:
    """The plan from the registry's state to ``desired``."""
    return make_plan(current(registry), desired, registry.revision(), prune=prune)


_APPLY_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from pitstore.errors import ConflictError
    from pitstore.registry import make_plan
    from pitstore.testing.registry import RegistryRecipe

    recipe, name, barrier = RegistryRecipe.from_json(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    reg = recipe("p")
    current = {(o.kind, o.name): o.spec for o in reg.list_objects()}
    plan = make_plan(current, {("entity", name): {"name": name}}, reg.revision(), prune=False)
    print("planned", flush=True)
    while not barrier.exists():
        time.sleep(0.002)
    try:
        reg.apply(plan, name)
    except ConflictError as exc:
        print("conflict:", exc, flush=True)
        sys.exit(3)
    finally:
        reg.close()
    print("applied", flush=True)
    """
)


class RegistryConformance:
    """Behaviour every :class:`~pitstore.registry.base.Registry` must have."""

    @pytest.fixture
    def registry_factory(self) -> RegistryRecipe:
        """A recipe for registries of an empty store: override in the subclass."""
        raise NotImplementedError("override the `registry_factory` fixture in your test class")

    @pytest.fixture
    def open_registry(
        self, registry_factory: Callable[[str], Registry]
    ) -> Iterator[Callable[[str], Registry]]:
        """Opens registries with the factory and closes them after the test."""
        opened: list[Registry] = []

        def open_one(project: str) -> Registry:
            registry = registry_factory(project)
            opened.append(registry)
            return registry

        yield open_one
        for registry in opened:
            registry.close()

    @pytest.fixture
    def registry(self, open_registry: Callable[[str], Registry]) -> Registry:
        """A registry of project ``p``."""
        return open_registry("p")

    # --- a new project --------------------------------------------------------------------

    def test_new_project_is_empty(self, registry: Registry) -> None:
        assert registry.project == "p"
        assert registry.revision() == 0
        assert registry.list_objects() == []
        assert registry.get_object("entity", "driver") is None
        assert registry.history("entity", "driver") == []
        assert registry.get_watermark("v") is None

    # --- apply and plan -------------------------------------------------------------------

    def test_apply_plan_round_trip_with_versions(self, registry: Registry) -> None:
        plan = plan_to(registry, specs(entity("driver"), entity("rider")))
        assert [c.action for c in plan.changes] == ["add", "add"]
        assert registry.apply(plan, "alice") == 1
        assert [o.name for o in registry.list_objects("entity")] == ["driver", "rider"]

        changed = plan_to(registry, specs(entity("driver", description="new")))
        assert [(c.action, c.name) for c in changed.changes] == [
            ("change", "driver"),
            ("remove", "rider"),
        ]
        assert registry.apply(changed, "bob") == 2
        stored = registry.get_object("entity", "driver")
        assert stored is not None
        assert (stored.version, stored.updated_by) == (2, "bob")
        assert stored.spec == entity("driver", description="new")[2]
        assert registry.get_object("entity", "rider") is None
        history = registry.history("entity", "rider")
        assert [(h.version, h.action, h.applied_by, h.revision) for h in history] == [
            (1, "added", "alice", 1),
            (2, "removed", "bob", 2),
        ]
        assert history[1].spec == entity("rider")[2]  # a removal keeps the last spec
        assert plan_to(registry, current(registry)).is_empty

    def test_plan_without_prune_keeps_other_objects(self, registry: Registry) -> None:
        registry.apply(plan_to(registry, specs(entity("driver"))), "a")
        plan = plan_to(registry, specs(entity("rider")), prune=False)
        assert [(c.action, c.name) for c in plan.changes] == [("add", "rider")]
        registry.apply(plan, "a")
        assert [o.name for o in registry.list_objects()] == ["driver", "rider"]

    def test_list_objects_sorted_by_kind_then_name(self, registry: Registry) -> None:
        objects = specs(view("b_view"), view("A_view"), entity("zed"), entity("Zed"), entity("a"))
        registry.apply(plan_to(registry, objects), "a")
        listed = [(o.kind, o.name) for o in registry.list_objects()]
        assert listed == sorted(objects)
        assert [o.name for o in registry.list_objects("feature_view")] == ["A_view", "b_view"]
        assert registry.list_objects("feature_service") == []

    def test_specs_round_trip_exactly(self, registry: Registry) -> None:
        spec = {
            "name": "v",
            "unicode": "é 中文 🎉 'quote' \"dq\" \\ back",
            "numbers": [0, -1, 2**62, 1.5, -0.25, 1e300],
            "nested": {"b": [None, True, False], "a": {"deep": []}},
            "empty": {},
        }
        registry.apply(plan_to(registry, specs(("feature_view", "v", spec))), "a")
        stored = registry.get_object("feature_view", "v")
        assert stored is not None and stored.spec == spec
        assert registry.history("feature_view", "v")[0].spec == spec

    def test_times_and_authors_are_recorded(self, registry: Registry) -> None:
        before = datetime.now(UTC) - timedelta(seconds=5)
        registry.apply(plan_to(registry, specs(entity("driver"))), "alice@example.com")
        stored = registry.get_object("entity", "driver")
        (record,) = registry.history("entity", "driver")
        assert stored is not None
        for moment in (stored.updated_at, record.applied_at):
            assert moment.utcoffset() == timedelta(0)
            assert before <= moment <= datetime.now(UTC) + timedelta(seconds=5)
        assert record.applied_by == stored.updated_by == "alice@example.com"

    def test_versions_continue_after_remove_and_re_add(self, registry: Registry) -> None:
        registry.apply(plan_to(registry, specs(entity("driver"))), "a")
        registry.apply(plan_to(registry, {}), "a")
        registry.apply(plan_to(registry, specs(entity("driver", "back"))), "a")
        stored = registry.get_object("entity", "driver")
        assert stored is not None and stored.version == 3
        actions = [h.action for h in registry.history("entity", "driver")]
        assert actions == ["added", "removed", "added"]

    def test_another_instance_sees_applied_state(
        self, registry: Registry, open_registry: Callable[[str], Registry]
    ) -> None:
        registry.apply(plan_to(registry, specs(entity("driver"))), "a")
        other = open_registry("p")
        assert other.revision() == 1
        assert [o.name for o in other.list_objects()] == ["driver"]

    # --- concurrency ----------------------------------------------------------------------

    def test_stale_plan_is_a_conflict(self, registry: Registry) -> None:
        first = make_plan({}, specs(entity("driver")), 0)
        second = make_plan({}, specs(entity("rider")), 0)
        registry.apply(first, "a")
        with pytest.raises(ConflictError, match="plan"):
            registry.apply(second, "b")
        assert [o.name for o in registry.list_objects()] == ["driver"]
        assert registry.history("entity", "rider") == []
        assert registry.revision() == 1

    def test_conflict_on_a_new_project_writes_nothing(self, registry: Registry) -> None:
        with pytest.raises(ConflictError):
            registry.apply(make_plan({}, specs(entity("driver")), 3), "a")
        assert registry.revision() == 0
        assert registry.list_objects() == []

    def test_before_commit_runs_last_and_a_failure_there_applies_nothing(
        self, registry: Registry
    ) -> None:
        registry.apply(plan_to(registry, specs(entity("driver"))), "a")
        calls: list[int] = []
        plan = plan_to(registry, specs(entity("driver"), entity("rider")))

        def fail() -> None:
            calls.append(1)
            raise RuntimeError("the online store failed")

        with pytest.raises(RuntimeError, match="online store"):
            registry.apply(plan, "b", before_commit=fail)
        assert calls == [1]
        assert registry.revision() == 1
        assert [o.name for o in registry.list_objects()] == ["driver"]
        assert registry.history("entity", "rider") == []
        # a stale plan is refused before the hook runs; a good one runs it once
        with pytest.raises(ConflictError):
            registry.apply(make_plan({}, specs(entity("rider")), 0), "c", before_commit=fail)
        assert calls == [1]
        assert registry.apply(plan, "b", before_commit=lambda: calls.append(2)) == 2
        assert calls == [1, 2] and registry.get_object("entity", "rider") is not None

    def test_threads_applying_at_once_exactly_one_wins(
        self, open_registry: Callable[[str], Registry]
    ) -> None:
        registries = [open_registry("p") for _ in range(4)]
        plans = [make_plan({}, specs(entity(f"e{i}")), 0) for i in range(4)]
        outcomes: list[str] = []
        barrier = threading.Barrier(len(plans))

        def apply(registry: Registry, plan: Plan) -> None:
            barrier.wait()
            try:
                registry.apply(plan, "t")
                outcomes.append("applied")
            except ConflictError:
                outcomes.append("conflict")

        threads = [
            threading.Thread(target=apply, args=pair)
            for pair in zip(registries, plans, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["applied", "conflict", "conflict", "conflict"]
        assert registries[0].revision() == 1
        assert len(registries[0].list_objects()) == 1

    def test_two_processes_applying_at_once_never_lose_a_change(
        self, registry_factory: Callable[[str], Registry], tmp_path: Path
    ) -> None:
        if not isinstance(registry_factory, RegistryRecipe):
            pytest.fail("registry_factory must return a RegistryRecipe for this test")
        registry_factory("p").close()  # create the tables before the race
        barrier = tmp_path / "go"
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _APPLY_SCRIPT,
                    registry_factory.to_json(),
                    name,
                    str(barrier),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for name in ("driver", "rider")
        ]
        try:
            for proc in procs:
                assert proc.stdout is not None
                assert proc.stdout.readline().strip() == "planned"
            barrier.touch()
            codes = sorted(p.wait(timeout=60) for p in procs)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                if proc.stdout is not None:
                    proc.stdout.close()
        assert codes == [0, 3], "exactly one apply wins; the other must get a ConflictError"
        registry = registry_factory("p")
        try:
            assert registry.revision() == 1
            assert len(registry.list_objects()) == 1  # the loser wrote nothing
        finally:
            registry.close()

    # --- projects, watermarks, teardown ---------------------------------------------------

    def test_projects_are_isolated(self, open_registry: Callable[[str], Registry]) -> None:
        a, b = open_registry("a"), open_registry("b")
        a.apply(plan_to(a, specs(entity("driver"))), "x")
        a.set_watermark("v", datetime(2026, 1, 1, tzinfo=UTC))
        assert b.list_objects() == [] and b.revision() == 0
        assert b.get_watermark("v") is None and b.history("entity", "driver") == []
        b.apply(plan_to(b, specs(entity("driver", "b's"))), "y")
        a.teardown()
        assert a.list_objects() == [] and a.revision() == 2
        assert [o.spec["description"] for o in b.list_objects()] == ["b's"]

    def test_watermarks(self, registry: Registry) -> None:
        assert registry.get_watermark("v") is None
        when = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
        registry.set_watermark("v", when)
        assert registry.get_watermark("v") == when
        later = datetime(2026, 1, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=2)))
        registry.set_watermark("v", later)
        got = registry.get_watermark("v")
        assert got == later and got is not None and got.utcoffset() == timedelta(0)
        registry.set_watermark("w", datetime(2026, 1, 1))  # naive: read as UTC
        assert registry.get_watermark("w") == datetime(2026, 1, 1, tzinfo=UTC)
        registry.set_watermark("v", when)  # an overlapping run that finished last
        assert registry.get_watermark("v") == later  # a watermark never moves backwards
        registry.clear_watermarks(["v", "not-there"])
        assert registry.get_watermark("v") is None
        assert registry.get_watermark("w") == datetime(2026, 1, 1, tzinfo=UTC)

    def test_data_shaping_changes_reset_watermarks(self, registry: Registry) -> None:
        when = datetime(2026, 1, 1, tzinfo=UTC)
        registry.apply(plan_to(registry, specs(view("a"), view("b"), view("c"))), "x")
        for name in "abc":
            registry.set_watermark(name, when)
        # a: a feature's type changes (stale data); b: only the description; c: removed
        desired = specs(view("a", dtype="string"), view("b", description="new"))
        plan = plan_to(registry, desired)
        assert {c.name: c.resets_data for c in plan.changes} == {"a": True, "b": False, "c": True}
        registry.apply(plan, "x")
        assert registry.get_watermark("a") is None
        assert registry.get_watermark("b") == when
        assert registry.get_watermark("c") is None

    def test_a_watermark_for_a_version_is_recorded_only_at_that_version(
        self, registry: Registry
    ) -> None:
        when = datetime(2026, 1, 1, tzinfo=UTC)
        registry.apply(plan_to(registry, specs(view("a"), view("b"))), "x")
        (a,) = [o for o in registry.list_objects("feature_view") if o.name == "a"]
        assert registry.set_watermark("a", when, version=a.version)
        assert registry.get_watermark("a") == when
        registry.apply(plan_to(registry, specs(view("a", description="new"), view("b"))), "x")
        later = when + timedelta(hours=1)
        assert not registry.set_watermark("a", later, version=a.version)  # a moved on
        assert registry.get_watermark("a") == when
        assert not registry.set_watermark("gone", later, version=1)
        assert registry.get_watermark("gone") is None

    def test_a_longer_ttl_resets_the_watermark_only(self, registry: Registry) -> None:
        when = datetime(2026, 1, 1, tzinfo=UTC)
        before = specs(view("a", ttl="1h"), view("b", ttl="1d"), view("c", ttl="1h"))
        registry.apply(plan_to(registry, before), "x")
        for name in "abc":
            registry.set_watermark(name, when)
        # a: 1h -> 1d and c: 1h -> no limit (rows older than the first run's start were never
        # loaded); b: 1d -> 1h (reads expire what the shorter TTL no longer covers)
        plan = plan_to(registry, specs(view("a", ttl="1d"), view("b", ttl="1h"), view("c")))
        assert {c.name: c.resets_watermark for c in plan.changes} == {
            "a": True,
            "b": False,
            "c": True,
        }
        assert not any(c.resets_data for c in plan.changes)  # online rows stay
        registry.apply(plan, "x")
        assert registry.get_watermark("a") is None
        assert registry.get_watermark("b") == when
        assert registry.get_watermark("c") is None

    def test_views_rekeyed_by_their_entity_reset_watermarks(self, registry: Registry) -> None:
        def pair(*keys: str) -> tuple[str, str, dict[str, Any]]:
            join_keys = [{"name": k, "dtype": "int64"} for k in keys]
            return ("entity", "pair", {"name": "pair", "join_keys": join_keys})

        def keyed_view(name: str) -> tuple[str, str, dict[str, Any]]:
            return ("feature_view", name, {**view(name)[2], "entities": ["pair"]})

        when = datetime(2026, 1, 1, tzinfo=UTC)
        registry.apply(plan_to(registry, specs(pair("a", "b"), keyed_view("v"), view("w"))), "x")
        for name in "vw":
            registry.set_watermark(name, when)
        # The entity alone, its join keys in another order (keys are encoded in that order),
        # without pruning: the registered view keyed by it is planned too.
        plan = plan_to(registry, specs(pair("b", "a")), prune=False)
        assert {c.name: c.resets_watermark for c in plan.changes} == {"pair": False, "v": True}
        registry.apply(plan, "x")
        assert registry.get_watermark("v") is None
        assert registry.get_watermark("w") == when
        assert [h.version for h in registry.history("feature_view", "v")] == [1, 2]

    def test_teardown_removes_everything_of_the_project(self, registry: Registry) -> None:
        registry.apply(plan_to(registry, specs(entity("driver"), view("v"))), "x")
        registry.set_watermark("v", datetime(2026, 1, 1, tzinfo=UTC))
        stale = plan_to(registry, specs(entity("driver", "planned before the teardown")))
        registry.teardown()
        assert registry.revision() == 2  # moves on, never back: no plan of revision 1 fits
        assert registry.list_objects() == []
        assert registry.history("entity", "driver") == []
        assert registry.get_watermark("v") is None
        assert registry.apply(plan_to(registry, specs(entity("driver"))), "x") == 3
        with pytest.raises(ConflictError):
            registry.apply(stale, "late")
