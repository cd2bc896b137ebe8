"""Aggregation: a windowed aggregate of one source column, as a feature.

For an entity at time ``t``, an aggregation over ``window`` covers the events with
``t - window < event_ts <= t`` (the window is open at its start and closed at ``t``), offline and
online alike. Null values are skipped by every function. Over a window with no non-null value,
``count`` and ``count_distinct`` are 0 and the other functions are null.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final

from pitstore.errors import DefinitionError
from pitstore.names import check_column_name, validate_name
from pitstore.timeutil import format_duration, parse_duration
from pitstore.types import DType, Float32, Float64, Int32, Int64, Scalar, String, Timestamp

FUNCTIONS: Final = ("count", "count_distinct", "sum", "mean", "min", "max", "last")
_NUMERIC: Final = (Int32, Int64, Float32, Float64)
_ORDERED: Final = (*_NUMERIC, String, Timestamp)


class Aggregation:
    """``Aggregation("amount", "sum", "1h")``: the sum of ``amount`` over the last hour.

    The feature is named ``name``, by default ``<column>_<function>_<window>`` such as
    ``amount_sum_1h``.
    """

    __slots__ = ("column", "function", "name", "window")

    def __init__(
        self, column: str, function: str, window: timedelta | str, name: str | None = None
    ) -> None:
        self.column = check_column_name(
            validate_name(column, "aggregation column"), "aggregation column"
        )
        if function not in FUNCTIONS:
            raise DefinitionError(
                f"unknown aggregation function {function!r}; valid: {', '.join(FUNCTIONS)}"
            )
        self.function = function
        self.window = parse_duration(window, f"window of aggregation {column}/{function}")
        if self.window <= timedelta(0) or self.window % timedelta(microseconds=1):
            raise DefinitionError(
                f"window of aggregation {column}/{function} must be a positive whole number of "
                f"microseconds, got {window!r}"
            )
        default = f"{column}_{function}_{format_duration(self.window)}"
        self.name = check_column_name(validate_name(name or default, "aggregation"), "aggregation")

    def output_type(self, input_type: DType) -> DType:
        """The feature's type for an input column of ``input_type`` (or a DefinitionError)."""
        fn = self.function
        if fn in ("count", "count_distinct"):
            if not isinstance(input_type, Scalar):
                raise self._bad_type(input_type, "scalar")
            return Int64
        if fn == "sum":
            if input_type not in _NUMERIC:
                raise self._bad_type(input_type, "numeric")
            return Int64 if input_type in (Int32, Int64) else Float64
        if fn == "mean":
            if input_type not in _NUMERIC:
                raise self._bad_type(input_type, "numeric")
            return Float64
        if fn in ("min", "max") and input_type not in _ORDERED:
            raise self._bad_type(input_type, "numeric, string or timestamp")
        if fn == "last" and not isinstance(input_type, Scalar):
            raise self._bad_type(input_type, "scalar")
        return input_type

    def _bad_type(self, dtype: DType, wanted: str) -> DefinitionError:
        return DefinitionError(
            f"aggregation {self.name!r}: {self.function} needs a {wanted} column, but "
            f"{self.column!r} is {dtype}"
        )

    @property
    def window_us(self) -> int:
        """The window in microseconds."""
        return self.window // timedelta(microseconds=1)

    def to_spec(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "function": self.function,
            "window": format_duration(self.window),
            "name": self.name,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Aggregation:
        return cls(spec["column"], spec["function"], spec["window"], spec.get("name"))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Aggregation) and self.to_spec() == other.to_spec()

    def __hash__(self) -> int:
        return hash(tuple(self.to_spec().values()))

    def __repr__(self) -> str:
        return f"Aggregation({self.column!r}, {self.function!r}, {format_duration(self.window)!r})"
