"""Copyable Python that retrieves an object's features: training data and online values.

The entity frame and entity rows are spelled out with the object's real join keys (and an
on-demand view's request fields), with a placeholder value of the right type.
"""

from __future__ import annotations

from pitstore.ui.model import CatalogModel

#: Example values by pitstore type name; anything else gets None.
EXAMPLES = {
    "bool": "True",
    "int32": "1001",
    "int64": "1001",
    "float32": "1.0",
    "float64": "1.0",
    "string": '"a"',
    "bytes": 'b"a"',
    "timestamp": 'pd.Timestamp("2026-01-01", tz="UTC")',
}


def _value(dtype: str) -> str:
    return EXAMPLES.get(dtype, "None")


def for_features(
    model: CatalogModel, refs: list[str], columns: list[tuple[str, str]], repo: str
) -> str:
    """Training data and online values of the feature references ``refs``."""
    listed = "\n".join(f'    "{r}",' for r in refs)
    return _snippet(f"features = [\n{listed}\n]", "features", columns, repo)


def for_service(model: CatalogModel, service: str, repo: str) -> str:
    """Training data and online values of a feature service."""
    views = [v for v, _ in model.services[service].projections]
    return _snippet(
        f'service = "{service}"', "feature_service=service", entity_columns(model, views), repo
    )


def for_view(model: CatalogModel, view: str, repo: str) -> str:
    """Every feature of a feature view or an on-demand view."""
    obj = model.views.get(view) or model.on_demand[view]
    refs = [f"{view}:{f}" for f in obj.feature_names]
    return for_features(model, refs, entity_columns(model, [view]), repo)


def for_feature(model: CatalogModel, view: str, feature: str, repo: str) -> str:
    """One feature."""
    return for_features(model, [f"{view}:{feature}"], entity_columns(model, [view]), repo)


def for_entity(model: CatalogModel, entity: str, repo: str) -> str | None:
    """Every feature of the views keyed by exactly this entity (None when there are none)."""
    views = [v for v in model.views_of_entity(entity) if model.views[v].entities == (entity,)]
    if not views:
        return None
    refs = [f"{v}:{f}" for v in views for f in model.views[v].feature_names]
    return for_features(model, refs, entity_columns(model, views), repo)


def entity_columns(model: CatalogModel, views: list[str]) -> list[tuple[str, str]]:
    """The entity frame's columns for ``views``: join keys and request fields, once each."""
    columns: dict[str, str] = {}
    for view in views:
        columns.update(model.key_columns(view))
        columns.update(model.request_fields(view))
    return list(columns.items())


def _snippet(selection: str, argument: str, columns: list[tuple[str, str]], repo: str) -> str:
    frame = "\n".join(f'        "{name}": [{_value(dtype)}],' for name, dtype in columns)
    row = ", ".join(f'"{name}": {_value(dtype)}' for name, dtype in columns)
    return f'''import pandas as pd
from pitstore import FeatureStore

store = FeatureStore("{repo}")
{selection}

# Training data: point-in-time correct values for each row's event_timestamp
entity_df = pd.DataFrame(
    {{
{frame}
        "event_timestamp": [pd.Timestamp.now(tz="UTC")],
    }}
)
training = store.get_historical_features(entity_df, {argument}).to_pandas()

# Online: the latest values, for serving
online = store.get_online_features({argument}, entity_rows=[{{{row}}}]).to_dict()
'''
