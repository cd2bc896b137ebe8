"""Request bodies: checked by hand (a few type tests are faster than a model per request).

A body that is JSON but not a valid request is a 422 naming the field; an entity batch over
the configured limit is a 413. Values inside the entity lists (a string for an integer key,
a null...) are checked by the key encoder, whose SchemaError is a 422 too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from pitstore.server.errors import invalid, too_large

#: Keys of Feast's request that pitstore accepts and ignores (it has no such metadata).
_FEAST_IGNORED: Final = frozenset({"include_feature_view_version_metadata"})
_ONLINE_KEYS: Final = frozenset({"entities", "features", "feature_service", "full_feature_names"})
_PUSH_TARGETS: Final = ("online", "offline", "online_and_offline")
_PUSH_KEYS: Final = frozenset(
    {"feature_view", "feature_view_name", "push_source_name", "rows", "df", "to"}
)
#: Flags of Feast's push and write bodies that pitstore accepts and ignores: its registry is
#: always the server's cached one, and on-demand features are computed when they are read.
_FEAST_PUSH_IGNORED: Final = frozenset({"allow_registry_cache", "transform_on_write"})


@dataclass(frozen=True, slots=True)
class OnlineRequest:
    """An online read: features or a feature service, and entity columns or rows."""

    features: list[str] | None
    feature_service: str | None
    entities: dict[str, list[Any]] | list[dict[str, Any]]
    full_feature_names: bool
    with_metadata: bool = False


@dataclass(frozen=True, slots=True)
class PushRequest:
    """Rows (or columns) of a push source (or of one feature view, online only)."""

    view: str | None
    source: str | None
    rows: list[dict[str, Any]] | dict[str, list[Any]]
    to: str = "online"


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise invalid(f"the body must be a JSON object, got {type(data).__name__}")
    return data


def _unknown(data: dict[str, Any], allowed: frozenset[str]) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise invalid(f"unknown key(s) {extra}; valid keys: {sorted(allowed)}", field=str(extra[0]))


def _bool(data: dict[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise invalid(f"{key} must be true or false, got {value!r:.60}", field=key)
    return value


def _selection(data: dict[str, Any]) -> tuple[list[str] | None, str | None]:
    features = data.get("features")
    service = data.get("feature_service")
    if features is not None and (
        not isinstance(features, list) or not all(isinstance(f, str) for f in features)
    ):
        raise invalid("features must be a list of 'view:feature' strings", field="features")
    if service is not None and not isinstance(service, str):
        raise invalid("feature_service must be a string", field="feature_service")
    if features and service:
        raise invalid("pass either features or feature_service, not both", field="features")
    if not features and not service:
        raise invalid(
            "pass features (a list of 'view:feature') or feature_service (a name)",
            field="features",
        )
    return (features or None), service


def _columns(value: Any, max_entities: int, field: str = "entities") -> dict[str, list[Any]]:
    if not isinstance(value, dict) or not value:
        raise invalid(
            f'{field} must be an object of columns, e.g. {{"driver_id": [1001, 1002]}}',
            field=field,
        )
    lengths = {}
    for key, column in value.items():
        if not isinstance(column, list):
            raise invalid(
                f"{field}.{key} must be a list, got {type(column).__name__}",
                field=f"{field}.{key}",
            )
        lengths[key] = len(column)
    _limit(max(lengths.values()), max_entities)
    if len(set(lengths.values())) > 1:
        sizes = ", ".join(f"{k}={n}" for k, n in lengths.items())
        raise invalid(f"{field} lists have different lengths: {sizes}", field=field)
    return value


def _rows(value: Any, max_entities: int, field: str = "entities") -> list[dict[str, Any]]:
    _limit(len(value), max_entities)
    for i, row in enumerate(value):
        if not isinstance(row, dict):
            raise invalid(f"{field}[{i}] must be an object", field=field)
    return value  # type: ignore[no-any-return]


def _limit(count: int, max_entities: int) -> None:
    if count > max_entities:
        raise too_large(
            "too_many_entities",
            f"{count} entities in one request; the limit is {max_entities}: split the batch",
            max_entities,
        )


def parse_feast(data: Any, max_entities: int) -> OnlineRequest:
    """Feast's ``GetOnlineFeaturesRequest`` (entities as columns)."""
    body = _object(data)
    _unknown(body, _ONLINE_KEYS | _FEAST_IGNORED)
    features, service = _selection(body)
    entities = _columns(body.get("entities"), max_entities)
    return OnlineRequest(features, service, entities, _bool(body, "full_feature_names"))


def parse_rows(data: Any, max_entities: int) -> OnlineRequest:
    """pitstore's row form: entities as a list of objects (or as columns), optional metadata."""
    body = _object(data)
    _unknown(body, _ONLINE_KEYS | {"metadata"})
    features, service = _selection(body)
    raw = body.get("entities")
    entities: dict[str, list[Any]] | list[dict[str, Any]]
    entities = _rows(raw, max_entities) if isinstance(raw, list) else _columns(raw, max_entities)
    return OnlineRequest(
        features,
        service,
        entities,
        _bool(body, "full_feature_names"),
        _bool(body, "metadata"),
    )


def parse_push(data: Any, max_rows: int) -> PushRequest:
    """Feast's push body ``{"push_source_name", "df" | "rows", "to"}``, pitstore's
    ``{"feature_view", "rows" | "df"}`` (online only), and Feast's write-to-online-store body."""
    body = _object(data)
    _unknown(body, _PUSH_KEYS | _FEAST_PUSH_IGNORED)
    for flag in _FEAST_PUSH_IGNORED & body.keys():
        _bool(body, flag)  # ignored, but a wrong type is still an error
    if "feature_view" in body and "feature_view_name" in body:
        raise invalid("pass feature_view or feature_view_name, not both", field="feature_view")
    source = body.get("push_source_name")
    view = body.get("feature_view", body.get("feature_view_name"))
    if source is not None and view is not None:
        raise invalid("pass push_source_name or feature_view, not both", field="push_source_name")
    if source is not None and (not isinstance(source, str) or not source):
        raise invalid(
            "push_source_name must be the name of a push source", field="push_source_name"
        )
    if source is None and (not isinstance(view, str) or not view):
        raise invalid(
            "pass push_source_name (a push source) or feature_view (a feature view)",
            field="feature_view",
        )
    to = body.get("to", "online")
    if to not in _PUSH_TARGETS:
        raise invalid(f"to={to!r:.40} is not one of {list(_PUSH_TARGETS)}", field="to")
    if source is None and to != "online":
        raise invalid(
            f"to={to!r} needs a push source: rows of a feature view are written online only; "
            "send push_source_name to log rows offline",
            field="to",
        )
    return PushRequest(view, source, _push_rows(body, max_rows), to)


def _push_rows(body: dict[str, Any], max_rows: int) -> list[dict[str, Any]] | dict[str, list[Any]]:
    if ("rows" in body) == ("df" in body):
        raise invalid("pass rows (a list of objects) or df (an object of columns)", field="rows")
    if "rows" in body:
        rows = body["rows"]
        if not isinstance(rows, list):
            raise invalid("rows must be a list of objects", field="rows")
        return _rows(rows, max_rows, "rows")
    return _columns(body["df"], max_rows, "df")


def check_feature_services(request: OnlineRequest, allowed: frozenset[str] | None) -> bool:
    """Whether a token limited to ``allowed`` services may make ``request``."""
    return allowed is None or (request.feature_service in allowed)
