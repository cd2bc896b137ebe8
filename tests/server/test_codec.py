"""Feast's response shape for values JSON has no numbers for (NaN and the infinities), and
its timestamp text."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pitstore.server.codec import dumps, feast_response, format_micros
from pitstore.store.online import OnlineResponse
from pitstore.timeutil import from_micros, to_micros

NAN, INF = math.nan, math.inf


def response_of(values: list[object]) -> dict[str, object]:
    n = len(values)
    statuses = ["PRESENT"] * n
    online = OnlineResponse(
        {"id": list(range(n))},
        {"f": values},
        {"f": statuses},
        {"f": [0] * n},
        {},
    )
    return orjson.loads(dumps(feast_response(online)))  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("values", "sent"),
    [
        ([0.5, NAN, 1.0], [0.5, "NaN", 1.0]),
        ([INF, -INF], ["Infinity", "-Infinity"]),
        ([None, NAN, 2.5], [None, "NaN", 2.5]),
        ([INF, -INF, 1.0], ["Infinity", "-Infinity", 1.0]),  # sums to NaN
        ([1e308, 1e308], [1e308, 1e308]),  # the sum overflows; the values are finite
        ([0.25, None], [0.25, None]),
        ([1, 2, 3], [1, 2, 3]),
        (["a", None], ["a", None]),
        ([True, False], [True, False]),
        ([], []),
    ],
)
def test_non_finite_floats_are_sent_as_feast_strings(
    values: list[object], sent: list[object]
) -> None:
    body = response_of(values)
    assert body["results"][1]["values"] == sent  # type: ignore[index]


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)))
def test_times_are_rfc3339_text_of_the_same_instant(moment: datetime) -> None:
    micros = to_micros(moment.replace(tzinfo=UTC))
    text = format_micros(micros)
    assert len(text.split("T")[0]) == 10  # four-digit years, also before 1000
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert parsed == from_micros(micros)
