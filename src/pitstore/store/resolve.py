"""Resolving a feature list or a feature service into what to read and what to compute.

Shared by training-data retrieval and online reads, so that both name, order and check the
output columns the same way. On-demand features add the source features their functions need:
those are read under hidden column names (dropped after the functions ran) unless the request
asked for them too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pitstore.definitions import FeatureService, FeatureView, OnDemandFeatureView, parse_ref
from pitstore.errors import DefinitionError, NotFoundError
from pitstore.store.catalog import Snapshot
from pitstore.types import DType

HIDDEN_PREFIX = "__odfv__"


@dataclass(frozen=True, slots=True)
class ViewSelection:
    """Features wanted from one view, with their output column names."""

    view: FeatureView
    features: tuple[str, ...]
    outputs: tuple[str, ...]
    join_keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TransformSelection:
    """Features wanted from one on-demand view, and where each of its inputs comes from."""

    view: OnDemandFeatureView
    features: tuple[str, ...]
    outputs: tuple[str, ...]
    inputs: dict[str, str]
    """Function input name -> column holding it (a feature output or a request field)."""
    input_types: dict[str, DType] = field(default_factory=dict)
    """Function input name -> declared type, for the inputs that are features: the function
    gets them in these types online as offline."""


@dataclass(frozen=True)
class Resolved:
    """A resolved request: views to read, functions to run, and the final column order."""

    selections: list[ViewSelection]
    transforms: list[TransformSelection]
    columns: list[str]
    """The visible output columns, in order."""
    hidden: list[str] = field(default_factory=list)
    """Columns read only as function inputs (dropped from the result)."""
    request_fields: list[str] = field(default_factory=list)
    """Values the request (or the entity frame) must carry for the functions."""


def resolve(
    snapshot: Snapshot,
    features: list[str] | None,
    feature_service: str | FeatureService | None,
    full_feature_names: bool,
) -> Resolved:
    """The views and functions of a request, with clash-checked output names."""
    contents = snapshot.contents
    order, wanted = _wanted(snapshot, _refs(snapshot, features, feature_service))

    def output(view: str, feature: str) -> str:
        return f"{view}__{feature}" if full_feature_names else feature

    reads: dict[str, dict[str, str]] = {}  # view -> feature -> output column
    for name in order:
        if name in contents.views:
            reads[name] = {f: output(name, f) for f in wanted[name]}
    hidden: list[str] = []
    requests: list[str] = []
    transforms = []
    for name in order:
        odfv = contents.on_demand.get(name)
        if odfv is not None:
            inputs = _transform_inputs(odfv, reads, hidden, requests)
            outputs = tuple(output(name, f) for f in wanted[name])
            types = {
                feature: snapshot.view(view).feature(feature).dtype
                for view, feats in odfv.sources
                for feature in feats
            }
            transforms.append(TransformSelection(odfv, tuple(wanted[name]), outputs, inputs, types))
    selections = [
        ViewSelection(
            snapshot.view(view),
            tuple(cols),
            tuple(cols.values()),
            tuple(k for k, _ in contents.join_keys(snapshot.view(view))),
        )
        for view, cols in reads.items()
    ]
    columns = [output(name, f) for name in order for f in wanted[name]]
    _check_clashes(order, wanted, columns)
    return Resolved(selections, transforms, columns, hidden, requests)


def _wanted(
    snapshot: Snapshot, refs: list[tuple[str, str]]
) -> tuple[list[str], dict[str, list[str]]]:
    """Views in order of first use, and the features wanted of each (checked to exist)."""
    order: list[str] = []
    wanted: dict[str, list[str]] = {}
    for name, feature in refs:
        if name in snapshot.contents.on_demand:
            snapshot.contents.on_demand[name].feature(feature)
        else:
            snapshot.view(name).feature(feature)  # NotFoundError with the closest names
        if name not in wanted:
            order.append(name)
        if feature not in wanted.setdefault(name, []):
            wanted[name].append(feature)
    return order, wanted


def _transform_inputs(
    odfv: OnDemandFeatureView,
    reads: dict[str, dict[str, str]],
    hidden: list[str],
    requests: list[str],
) -> dict[str, str]:
    """Where each input of ``odfv`` comes from; adds hidden reads and request fields."""
    inputs: dict[str, str] = {}
    for view, feats in odfv.sources:
        for feature in feats:
            column = reads.setdefault(view, {}).get(feature)
            if column is None:
                column = f"{HIDDEN_PREFIX}{view}__{feature}"
                reads[view][feature] = column
                hidden.append(column)
            inputs[feature] = column
    for request in odfv.requests:
        for f in request.schema:
            inputs[f.name] = f.name
            if f.name not in requests:
                requests.append(f.name)
    return inputs


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
    known = [*snapshot.contents.views, *snapshot.contents.on_demand]
    for ref in parsed:
        if ref.view not in known:
            raise NotFoundError("feature view", ref.view, known)
    return [(r.view, r.feature) for r in parsed]


def _check_clashes(order: list[str], wanted: dict[str, list[str]], columns: list[str]) -> None:
    owner: dict[str, str] = {}
    names = iter(columns)
    for view in order:
        for _ in wanted[view]:
            column = next(names)
            if column in owner:
                raise DefinitionError(
                    f"feature name {column!r} is in both views {owner[column]!r} and "
                    f"{view!r}; pass full_feature_names=True to get "
                    f"'{owner[column]}__{column}' and '{view}__{column}'"
                )
            owner[column] = view
