"""JSON in and out (orjson), and the two response shapes of an online read.

Feast's shape (``POST /get-online-features``) is columnar::

    {"metadata": {"feature_names": ["driver_id", "conv_rate"]},
     "results": [{"values": [1001], "statuses": ["PRESENT"],
                  "event_timestamps": ["1970-01-01T00:00:00Z"]},
                 {"values": [0.5], "statuses": ["PRESENT"],
                  "event_timestamps": ["2026-01-01T08:00:00Z"]}]}

Entity columns come first, with status PRESENT and the epoch as time, as Feast sends them;
NOT_FOUND values have the epoch too; pitstore's EXPIRED is Feast's OUTSIDE_MAX_AGE. Times are
RFC 3339 in UTC with a ``Z``, fractions only when non-zero (Feast's format).

The work per request is per column, not per value, where it can be: the status and time lists
of one view are shared by its features (the online service builds them once per view), so they
are converted once, and formatted times are cached.
"""

from __future__ import annotations

import base64
import math
import time
from typing import TYPE_CHECKING, Any, Final

import orjson

from pitstore.server.errors import ApiError

if TYPE_CHECKING:
    from pitstore.store.online import OnlineResponse

EPOCH: Final = "1970-01-01T00:00:00Z"
_FEAST_STATUS: Final = {"EXPIRED": "OUTSIDE_MAX_AGE"}
_DUMP_OPTIONS: Final = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC | orjson.OPT_SERIALIZE_NUMPY
_TIME_CACHE: dict[int, str] = {}
_TIME_CACHE_SIZE: Final = 65_536


def loads(body: bytes) -> Any:
    """The JSON document in ``body``, or a 400 saying where it is broken."""
    if not body:
        raise ApiError(400, "invalid_json", "the request body is empty; send a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"the request body is not valid JSON: {exc}") from None


def _default(value: Any) -> Any:
    # Called by orjson only for types it lacks: bytes go out as base64, as Feast sends them.
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dumps(value: Any) -> bytes:
    """``value`` as JSON bytes (datetimes as RFC 3339 UTC, bytes as base64)."""
    return orjson.dumps(value, default=_default, option=_DUMP_OPTIONS)


def format_micros(micros: int) -> str:
    """Feast's timestamp text of ``micros`` since the epoch: ``2026-01-01T08:00:00Z``."""
    text = _TIME_CACHE.get(micros)
    if text is None:
        seconds, fraction = divmod(micros, 1_000_000)
        t = time.gmtime(seconds)  # not strftime: its %Y does not pad years before 1000
        base = (
            f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
            f"T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
        )
        if fraction == 0:
            text = base + "Z"
        elif fraction % 1000 == 0:
            text = f"{base}.{fraction // 1000:03d}Z"
        else:
            text = f"{base}.{fraction:06d}Z"
        if len(_TIME_CACHE) >= _TIME_CACHE_SIZE:
            _TIME_CACHE.clear()  # bounded; the live set of times is small (one per batch)
        _TIME_CACHE[micros] = text
    return text


def _times(stamps: list[int | None]) -> list[str]:
    return [EPOCH if t is None else format_micros(t) for t in stamps]


def _feast_values(values: list[Any]) -> list[Any]:
    """Non-finite floats as Feast's strings ("NaN", "Infinity"); JSON has no such numbers."""
    try:
        # One C loop for the common case, a column of numbers without nulls: a finite sum
        # means no NaN or infinity (a sum that overflows only sends it down the slow path).
        if math.isfinite(sum(values)):
            return values
    except TypeError:  # nulls, strings, lists...: look value by value
        pass
    first = next((v for v in values if v is not None), None)
    if type(first) is not float or all(math.isfinite(v) for v in values if v is not None):
        return values
    return [_float_text(v) for v in values]


def _float_text(value: Any) -> Any:
    if type(value) is not float or math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"


def event_micros(response: OnlineResponse) -> dict[str, list[int | None]]:
    """Event times in microseconds, per feature (lists are shared by a view's features)."""
    # OnlineResponse keeps them as integers; its public accessor builds a datetime per value,
    # which would cost more than the whole store read of a 100-entity request.
    stamps = response.event_micros()
    return stamps


def feast_response(response: OnlineResponse) -> dict[str, Any]:
    """Feast's ``GetOnlineFeaturesResponse`` as JSON-ready data."""
    count = len(next(iter(response.entities.values()), []))
    present = ["PRESENT"] * count
    epochs = [EPOCH] * count
    results: list[dict[str, Any]] = [
        {"values": values, "statuses": present, "event_timestamps": epochs}
        for values in response.entities.values()
    ]
    converted: dict[int, list[str]] = {}  # id(shared list) -> converted list
    stamps = event_micros(response)
    for name, values in response.values.items():
        statuses = response.statuses[name]
        times = stamps[name]
        if id(statuses) not in converted:
            converted[id(statuses)] = [_FEAST_STATUS.get(s, s) for s in statuses]
        if id(times) not in converted:
            converted[id(times)] = _times(times)
        results.append(
            {
                "values": _feast_values(values),
                "statuses": converted[id(statuses)],
                "event_timestamps": converted[id(times)],
            }
        )
    names = [*response.entities, *response.values]
    return {"metadata": {"feature_names": names}, "results": results}


def row_response(response: OnlineResponse, with_metadata: bool) -> dict[str, Any]:
    """pitstore's row form: one object per entity, keys first, then features."""
    columns = {**response.entities, **response.values}
    names = list(columns)
    rows = [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]
    out: dict[str, Any] = {"feature_names": names, "rows": rows}
    if with_metadata:
        features = list(response.values)
        stamps = event_micros(response)
        status_cols = [response.statuses[f] for f in features]
        time_cols = [[None if t is None else format_micros(t) for t in stamps[f]] for f in features]
        out["statuses"] = [
            dict(zip(features, r, strict=True)) for r in zip(*status_cols, strict=True)
        ]
        out["event_timestamps"] = [
            dict(zip(features, r, strict=True)) for r in zip(*time_cols, strict=True)
        ]
    return out
