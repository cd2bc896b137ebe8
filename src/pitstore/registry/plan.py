"""Plans: the difference between what is registered and what a repo defines, as data.

A plan is computed without writing anything; the registry applies it in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

Action = Literal["add", "change", "remove"]

#: Spec keys of a feature view whose change makes already materialized rows stale. An
#: aggregated view stores event lists of its ``inputs`` (typed as they are), as far back as
#: its longest window of ``aggregations``.
DATA_SHAPING_KEYS = frozenset(
    {"features", "key_fields", "entities", "source", "inputs", "aggregations"}
)
#: Keys inside those that only describe (a feature's or the source's description, tags,
#: owner): editing them keeps the data.
DESCRIPTIVE_KEYS = frozenset({"description", "tags", "owner"})
#: Keys of a stream source that keep the data too: its broker, topic, message format and
#: consumer group say where rows come from next, not what the rows already stored are (the
#: rows pushed before are still the view's rows, in the push log as online).
STREAM_DELIVERY_KEYS = frozenset({"broker", "topic", "format", "group"})
#: Spec keys of a source that hold another source (a push source's historical rows).
NESTED_SOURCE_KEYS = frozenset({"batch_source"})


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One changed value inside a spec; ``path`` such as ``features.conv_rate.dtype``.

    With ``order``, the items of the named list at ``path`` were put in another order:
    ``old`` and ``new`` are their names, in order (``join_keys: [a, b] -> [b, a]``).
    """

    path: str
    old: Any
    new: Any
    order: bool = False


@dataclass(frozen=True, slots=True)
class ObjectChange:
    """One object to add, change or remove, with its field-level differences."""

    kind: str
    name: str
    action: Action
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    fields: tuple[FieldChange, ...] = ()

    @property
    def resets_data(self) -> bool:
        """True when a view's stored online data and watermark no longer fit its definition."""
        if self.kind != "feature_view":
            return False
        if self.action == "remove":
            return True
        return any(_shapes_data(f) for f in self.fields)

    @property
    def resets_watermark(self) -> bool:
        """True when a view's next incremental materialization must start over: its data is
        reset, its TTL grew, or it is online again. An incremental run loads from the
        watermark, and the first one from ``end - ttl``: rows older than that but inside a
        longer TTL were never loaded, and online reads would miss them where training data
        has them. (A shorter TTL needs nothing: reads expire what it no longer covers.) A view
        with ``online=False`` is neither materialized nor pushed to online, so its watermark
        no longer says what its online rows hold: rows pushed meanwhile reached only the push
        log, and those older than the watermark would never be loaded. Its rows stay: they
        still fit the view, and writes never roll a newer value back."""
        if self.resets_data:
            return True
        return self.kind == "feature_view" and any(
            (f.path == "ttl" and _longer(f.old, f.new))
            or (f.path == "online" and f.old is False and f.new is not False)
            for f in self.fields
        )


def _longer(old: str | None, new: str | None) -> bool:
    """Whether TTL ``new`` covers more than ``old`` (as specs write them; None: no limit)."""
    from pitstore.timeutil import parse_duration

    if old is None:
        return False
    return new is None or parse_duration(new) > parse_duration(old)


def _shapes_data(change: FieldChange) -> bool:
    """Whether a change at ``change.path`` (``features.conv_rate.dtype``, ``source.path``...)
    makes stored rows stale: a data-shaping key, unless only a descriptive part of it changed.
    """
    parts = change.path.split(".")
    if parts[0] not in DATA_SHAPING_KEYS:
        return False
    if change.order:
        # A view's named lists (features, inputs...) are stored and looked up by name; the
        # order of its keys is the order of its ``entities`` (a plain list) and of their join
        # keys (a change of the entity, see _with_rekeyed_views).
        return False
    if parts[0] == "source":
        return _source_shapes_data(parts[1:])
    # features, key_fields, inputs and aggregations are named lists: features.<name>.<attr>
    # (a feature named "tags", added or removed, is features.tags: it shapes the data)
    attribute = parts[2] if len(parts) > 2 else None
    return attribute not in DESCRIPTIVE_KEYS


def _source_shapes_data(parts: list[str]) -> bool:
    """:func:`_shapes_data` inside a source spec, at ``parts`` (``["path"]``,
    ``["batch_source", "description"]``...). A source spec holds no named lists; a nested
    source (``batch_source``) is read as a source of its own, unless it is the whole change
    (added, removed)."""
    if not parts:
        return True
    if parts[0] in STREAM_DELIVERY_KEYS:  # only a stream has them (a new type: "type" changes)
        return False
    while len(parts) > 1 and parts[0] in NESTED_SOURCE_KEYS:
        parts = parts[1:]
    return parts[0] not in DESCRIPTIVE_KEYS


@dataclass(frozen=True, slots=True)
class Plan:
    """Changes to apply on top of registry revision ``base_revision``."""

    base_revision: int
    changes: tuple[ObjectChange, ...]

    @property
    def is_empty(self) -> bool:
        return not self.changes

    def of(self, action: Action) -> list[ObjectChange]:
        return [c for c in self.changes if c.action == action]


_KIND_ORDER = {"entity": 0, "feature_view": 1, "feature_service": 2}


def make_plan(
    current: Mapping[tuple[str, str], dict[str, Any]],
    desired: Mapping[tuple[str, str], dict[str, Any]],
    base_revision: int,
    prune: bool = True,
) -> Plan:
    """Diff ``current`` against ``desired`` specs, keyed by ``(kind, name)``.

    With ``prune``, objects registered but not desired are removed (a repo is the whole truth);
    without it, only additions and changes are planned (the SDK's partial apply).
    """
    changes: list[ObjectChange] = []
    for key, spec in desired.items():
        old = current.get(key)
        if old is None:
            changes.append(ObjectChange(key[0], key[1], "add", None, spec))
        elif old != spec:
            fields = tuple(diff_specs(old, spec))
            changes.append(ObjectChange(key[0], key[1], "change", old, spec, fields))
    if prune:
        for key, spec in current.items():
            if key not in desired:
                changes.append(ObjectChange(key[0], key[1], "remove", spec, None))
    changes = _with_rekeyed_views(changes, {**current, **desired})
    changes.sort(key=lambda c: (_KIND_ORDER.get(c.kind, 9), c.name))
    return Plan(base_revision, tuple(changes))


def _with_rekeyed_views(
    changes: list[ObjectChange], specs: Mapping[tuple[str, str], dict[str, Any]]
) -> list[ObjectChange]:
    """``changes`` plus a change of every view whose entity's join keys change (their names,
    types or order): its stored rows are keyed the old way, so it resets like a changed view
    (``entities.<entity>`` in its fields). ``specs`` are the views after the plan: the desired
    ones and, without pruning, the registered ones kept as they are (an SDK apply of the
    entity alone)."""
    rekeyed = {
        c.name: c
        for c in changes
        if c.kind == "entity"
        and c.action == "change"
        and any(f.path.split(".")[0] == "join_keys" for f in c.fields)
    }
    if not rekeyed:
        return changes
    out = list(changes)
    position = {(c.kind, c.name): i for i, c in enumerate(out)}
    for (kind, name), spec in specs.items():
        entities = (
            [e for e in spec.get("entities", []) if e in rekeyed] if kind == "feature_view" else []
        )
        if not entities:
            continue
        fields = tuple(
            FieldChange(
                f"entities.{e}",
                (rekeyed[e].old or {}).get("join_keys"),
                (rekeyed[e].new or {}).get("join_keys"),
            )
            for e in entities
        )
        i = position.get((kind, name))
        if i is None:  # the view itself is unchanged
            out.append(ObjectChange(kind, name, "change", spec, spec, fields))
        elif out[i].action == "change":
            out[i] = replace(out[i], fields=out[i].fields + fields)
        # an added view has nothing stored yet
    return out


def diff_specs(old: Any, new: Any, path: str = "") -> list[FieldChange]:
    """Field-level differences between two specs; lists of named dicts are matched by name,
    and items kept in another order are an ``order`` change of the list."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[FieldChange] = []
        for key in list(old) + [k for k in new if k not in old]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in new:
                out.append(FieldChange(sub, old[key], None))
            elif key not in old:
                out.append(FieldChange(sub, None, new[key]))
            else:
                out.extend(diff_specs(old[key], new[key], sub))
        return out
    if _named_list(old) and _named_list(new):
        by_name = diff_specs({i["name"]: i for i in old}, {i["name"]: i for i in new}, path)
        return _order_change(old, new, path) + by_name
    return [] if old == new else [FieldChange(path, old, new)]


def _order_change(old: list[Any], new: list[Any], path: str) -> list[FieldChange]:
    """The change of order of the items both named lists hold (an added or removed item is a
    change of its own): the order of some lists is part of what is stored, such as an
    entity's join keys, which key encodings follow."""
    before, after = [i["name"] for i in old], [i["name"] for i in new]
    kept = set(before) & set(after)
    if [n for n in before if n in kept] == [n for n in after if n in kept]:
        return []
    return [FieldChange(path, before, after, order=True)]


def _named_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(i, dict) and "name" in i for i in value)
        and len({i["name"] for i in value}) == len(value)
    )
