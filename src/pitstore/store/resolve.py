"""Resolving a feature list or a feature service into the views and columns to read.

Shared by training-data retrieval and online reads, so that both name, order and check the
output columns the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from pitstore.definitions import FeatureService, FeatureView, parse_ref
from pitstore.errors import DefinitionError, NotFoundError
from pitstore.store.catalog import Snapshot


@dataclass(frozen=True, slots=True)
class ViewSelection:
    """Features wanted from one view, with their output column names."""

    view: FeatureView
    features: tuple[str, ...]
    outputs: tuple[str, ...]
    join_keys: tuple[str, ...]


def resolve(
    snapshot: Snapshot,
    features: list[str] | None,
    feature_service: str | FeatureService | None,
    full_feature_names: bool,
) -> list[ViewSelection]:
    """The views and features to read, in request order, with clash-checked output names."""
    refs = _refs(snapshot, features, feature_service)
    by_view: dict[str, list[str]] = {}
    for view_name, feature in refs:
        view = snapshot.view(view_name)
        view.feature(feature)  # NotFoundError with the closest feature names
        wanted = by_view.setdefault(view_name, [])
        if feature not in wanted:
            wanted.append(feature)
    selections = []
    for view_name, names in by_view.items():
        view = snapshot.view(view_name)
        outputs = tuple(f"{view_name}__{f}" if full_feature_names else f for f in names)
        keys = tuple(k for k, _ in snapshot.contents.join_keys(view))
        selections.append(ViewSelection(view, tuple(names), outputs, keys))
    _check_clashes(selections)
    return selections


def _refs(
    snapshot: Snapshot,
    features: list[str] | None,
    feature_service: str | FeatureService | None,
) -> list[tuple[str, str]]:
    if (features is None) == (feature_service is None):
        raise DefinitionError(
            "pass either features=['view:feature', ...] or feature_service='name', not both "
            "and not neither"
        )
    if feature_service is not None:
        service = (
            feature_service
            if isinstance(feature_service, FeatureService)
            else snapshot.service(feature_service)
        )
        return [(v, f) for v, feats in service.projections for f in feats]
    assert features is not None
    if isinstance(features, str):
        features = [features]
    if not features:
        raise DefinitionError("features is empty; list at least one 'view:feature'")
    parsed = [parse_ref(ref) for ref in features]
    for ref in parsed:
        if ref.view not in snapshot.contents.views:
            raise NotFoundError("feature view", ref.view, snapshot.contents.views)
    return [(r.view, r.feature) for r in parsed]


def _check_clashes(selections: list[ViewSelection]) -> None:
    owner: dict[str, str] = {}
    for selection in selections:
        for output in selection.outputs:
            if output in owner:
                raise DefinitionError(
                    f"feature name {output!r} is in both views {owner[output]!r} and "
                    f"{selection.view.name!r}; pass full_feature_names=True to get "
                    f"'{owner[output]}__{output}' and '{selection.view.name}__{output}'"
                )
            owner[output] = selection.view.name
