"""Plan and apply: from desired definitions to a registry change, as data then execution."""

from __future__ import annotations

import getpass
from collections.abc import Iterable
from dataclasses import dataclass

from pitstore.definitions import Definition, RepoContents, from_spec
from pitstore.registry.base import Registry
from pitstore.registry.plan import Plan, make_plan


@dataclass(frozen=True)
class ApplyResult:
    """What an apply did: the plan it performed and the new registry revision."""

    plan: Plan
    revision: int


def desired_specs(contents: RepoContents) -> dict[tuple[str, str], dict[str, object]]:
    """Specs of every definition, keyed by ``(kind, name)``."""
    return {(d.kind, d.name): d.to_spec() for d in contents.all()}


def build_plan(registry: Registry, objects: Iterable[Definition], prune: bool) -> Plan:
    """Diff ``objects`` against the registry without writing anything.

    Without ``prune`` the registered objects not in ``objects`` are kept, so the combined set is
    validated (a service may refer to a view registered earlier).
    """
    revision = registry.revision()
    current = {(o.kind, o.name): o.spec for o in registry.list_objects()}
    desired = list(objects)
    if prune:
        contents = RepoContents.of(desired)
        contents.check_push_columns()
        specs = desired_specs(contents)
    else:
        # The registered objects stay, so the combination is what must be valid (a new view
        # may use an entity registered earlier).
        names = {(d.kind, d.name) for d in desired}
        kept = [from_spec(key[0], spec) for key, spec in current.items() if key not in names]
        RepoContents.of([*kept, *desired]).check_push_columns({d.name for d in desired})
        specs = {(d.kind, d.name): d.to_spec() for d in desired}
    return make_plan(current, specs, revision, prune=prune)


def current_user() -> str:
    """Who applies: the OS user name (recorded with every version)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
