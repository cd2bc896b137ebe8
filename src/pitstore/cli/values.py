"""``pitstore get-online --entity key=value``: the text as a value of the column's type.

A shell gives text only; the registry says what each column holds (a String key of digits such
as a zip code ``02139`` stays a string, an Int64 key becomes an int), so the value is typed by
the declared type, never guessed from its look.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from pitstore.errors import SchemaError
from pitstore.types import Array, DType, Scalar, Vector

_INT = re.compile(r"[+-]?[0-9]+")  # not int()'s: no '1_000', no other scripts' digits
_INT_RANGE = {"int32": 2**31, "int64": 2**63}
_BOOLS = {"true": True, "false": False, "1": True, "0": False}


def entity_value(key: str, text: str, dtype: DType | None) -> Any:
    """``text`` as a value of ``dtype`` (the type of ``key``); SchemaError naming the key,
    the value and the type when it is not one. ``None``: a column the read does not type
    (unused, or a request field of times or bytes), kept as text."""
    if dtype is None:
        return text
    if isinstance(dtype, Array | Vector):
        return _list(key, text, dtype)
    assert isinstance(dtype, Scalar)
    name = dtype.name
    if name in _INT_RANGE:
        limit = _INT_RANGE[name]
        if _INT.fullmatch(text) and -limit <= int(text) < limit:
            return int(text)
        raise _bad(key, text, dtype, "a whole number such as 1001 that fits the type")
    if name in ("float32", "float64"):
        try:
            if "_" not in text:
                return float(text)
        except ValueError:
            pass
        raise _bad(key, text, dtype, "a number such as 0.5")
    if name == "bool":
        if text.lower() in _BOOLS:
            return _BOOLS[text.lower()]
        raise _bad(key, text, dtype, "true or false")
    if name == "bytes":  # a join key: request fields of bytes stay text, as from JSON
        try:
            return base64.b64decode(text, validate=True)
        except binascii.Error:
            raise _bad(key, text, dtype, "base64 text, as in JSON") from None
    return text  # a string


def _list(key: str, text: str, dtype: Array | Vector) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, list):
        raise _bad(key, text, dtype, "a JSON list such as [1, 2]")
    return value


def _bad(key: str, text: str, dtype: DType, wanted: str) -> SchemaError:
    return SchemaError(
        f"invalid --entity {key}={text}: {key!r} is {dtype} in the registry; write {wanted}"
    )
