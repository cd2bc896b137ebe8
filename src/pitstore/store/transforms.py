"""Running on-demand feature views: the same function on a training frame and on a request.

Inputs arrive as columns (Arrow arrays or Python lists) named by the function's input names;
the function runs in its declared mode and its outputs are checked and typed against the
view's schema, with errors that name the view and the column.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pitstore.definitions import OnDemandFeatureView
from pitstore.errors import PitstoreError, SchemaError

if TYPE_CHECKING:
    import pyarrow as pa


class TransformError(PitstoreError):
    """An on-demand feature view's function raised; the message names the view."""

    code = "transform_error"


def run_transform(
    view: OnDemandFeatureView,
    function: Callable[..., Any],
    inputs: Mapping[str, Sequence[Any] | pa.Array],
    rows: int,
    types: Mapping[str, pa.DataType] | None = None,
) -> dict[str, pa.Array]:
    """Run ``function`` on ``inputs`` and return every output column, typed.

    ``types`` gives the declared Arrow type of the inputs that are features: those reach the
    function in that type in every mode (an online read has Python values, null-typed when all
    are missing), so that a function sees what it sees on a training frame. Other inputs
    (request values) are passed as they come.
    """
    typed = _typed_inputs(view, inputs, types or {})
    try:
        if view.mode == "python":
            produced = _run_rows(view, function, typed, rows)
        elif view.mode == "pandas":
            frame = function(_table(typed, rows).to_pandas())
            produced = {str(c): frame[c].tolist() for c in frame.columns}
        else:
            result = function(_table(typed, rows))
            produced = {name: result.column(name) for name in result.column_names}
    except PitstoreError:
        raise
    except Exception as exc:
        raise TransformError(
            f"on-demand feature view {view.name!r}: its function raised {type(exc).__name__}: {exc}"
        ) from exc
    return _typed_outputs(view, produced, rows)


def _typed_inputs(
    view: OnDemandFeatureView,
    inputs: Mapping[str, Sequence[Any] | pa.Array],
    types: Mapping[str, pa.DataType],
) -> dict[str, Sequence[Any] | pa.Array]:
    """``inputs`` with every input named in ``types`` as an Arrow array of that type."""
    import pyarrow as pa

    out = dict(inputs)
    for name, arrow_type in types.items():
        values = out[name]
        try:
            if isinstance(values, (pa.Array, pa.ChunkedArray)):
                # check_metadata: list item names too (DuckDB names them "l", not "item")
                if not values.type.equals(arrow_type, check_metadata=True):
                    out[name] = values.cast(arrow_type)
            else:
                out[name] = pa.array(values, type=arrow_type)
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            raise SchemaError(
                f"on-demand feature view {view.name!r}: input {name!r} holds a value that is "
                f"not {arrow_type}: {exc}"[:300]
            ) from None
    return out


def _table(inputs: Mapping[str, Sequence[Any] | pa.Array], rows: int) -> pa.Table:
    import pyarrow as pa

    if not inputs:
        return pa.table({"__row": pa.nulls(rows)})
    return pa.table({name: _array(values) for name, values in inputs.items()})


def _array(values: Sequence[Any] | pa.Array) -> pa.Array:
    import pyarrow as pa

    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    return pa.array(list(values))


def _run_rows(
    view: OnDemandFeatureView,
    function: Callable[..., Any],
    inputs: Mapping[str, Sequence[Any] | pa.Array],
    rows: int,
) -> dict[str, list[Any]]:
    """Python mode: the function takes one row's inputs as a dict, returns a dict.

    Arrow inputs become Python values as training frames' columns do (``to_pylist``); Python
    lists are passed as they are."""
    columns = {
        name: values.to_pylist() if hasattr(values, "to_pylist") else list(values)
        for name, values in inputs.items()
    }
    names = list(columns)
    out: dict[str, list[Any]] = {f.name: [] for f in view.schema}
    for i in range(rows):
        result = function({name: columns[name][i] for name in names})
        if not isinstance(result, Mapping):
            raise SchemaError(
                f"on-demand feature view {view.name!r}: in python mode the function must "
                f"return a dict of outputs, got {type(result).__name__}"
            )
        for name, values in out.items():
            if name not in result:
                raise _missing(view, name, list(result))
            values.append(result[name])
    return out


def _typed_outputs(
    view: OnDemandFeatureView, produced: Mapping[str, Any], rows: int
) -> dict[str, pa.Array]:
    import pyarrow as pa

    out = {}
    for field in view.schema:
        if field.name not in produced:
            raise _missing(view, field.name, list(produced))
        values = produced[field.name]
        try:
            array = (
                values.cast(field.dtype.to_arrow())
                if isinstance(values, (pa.Array, pa.ChunkedArray))
                else pa.array(values, type=field.dtype.to_arrow(), from_pandas=True)
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            raise SchemaError(
                f"on-demand feature view {view.name!r}: output {field.name!r} does not fit "
                f"its declared type {field.dtype} ({exc})"
            ) from None
        if len(array) != rows:
            raise SchemaError(
                f"on-demand feature view {view.name!r}: output {field.name!r} has "
                f"{len(array)} values for {rows} rows"
            )
        out[field.name] = array
    return out


def _missing(view: OnDemandFeatureView, name: str, got: list[str]) -> SchemaError:
    return SchemaError(
        f"on-demand feature view {view.name!r}: the function returned no {name!r} "
        f"(returned: {got}); return every feature of its schema"
    )
