"""On-demand feature views: a Python function of request data and other features.

The same function runs on the training frame (``get_historical_features``) and on each online
request (``get_online_features``), so a model sees the same transformation in both places.

The registry keeps the function's source text, the text of the user code it reaches (helpers,
repo modules, constants: :mod:`.code_deps`) and a hash of both, never a pickle: at run time the
function comes from the feature repo's own files (or from the object applied in this process),
and a hash that differs from the registered one is an error ("run pitstore apply").
"""

from __future__ import annotations

import hashlib
import inspect
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Final

from pitstore.definitions.base import Definition, validate_tags, validate_text
from pitstore.definitions.code_deps import dependencies
from pitstore.definitions.feature_view import FeatureView, FeatureViewProjection
from pitstore.definitions.field import Field
from pitstore.errors import DefinitionError
from pitstore.names import validate_name

MODES: Final = ("python", "pandas", "arrow")


class RequestSource:
    """Values that arrive with a request (or as columns of the training entity frame)."""

    __slots__ = ("name", "schema")

    def __init__(self, name: str, schema: Sequence[Field]) -> None:
        self.name = validate_name(name, "request source")
        self.schema = tuple(schema)
        if not self.schema or not all(isinstance(f, Field) for f in self.schema):
            raise DefinitionError(f"request source {name!r} needs a schema of Field objects")

    def to_spec(self) -> dict[str, Any]:
        return {"type": "request", "name": self.name, "schema": [f.to_spec() for f in self.schema]}

    def __repr__(self) -> str:
        return f"RequestSource({self.name!r})"


class OnDemandFeatureView(Definition):
    """Features computed by ``function`` from source views' features and request values.

    ``mode`` says what the function takes and returns: ``"python"`` a dict of one row's values
    (input name -> value) returning a dict of outputs; ``"pandas"`` a DataFrame returning a
    DataFrame; ``"arrow"`` a pyarrow Table returning a Table. Inputs are named by feature name
    (or request field name); they must not clash.
    """

    __slots__ = (
        "_fingerprint",
        "code",
        "description",
        "function",
        "function_name",
        "mode",
        "owner",
        "requests",
        "schema",
        "sources",
        "tags",
    )
    kind: ClassVar[str] = "on_demand_feature_view"

    def __init__(
        self,
        name: str,
        sources: Sequence[FeatureView | FeatureViewProjection | RequestSource],
        schema: Sequence[Field],
        function: Callable[..., Any],
        mode: str = "python",
        description: str = "",
        owner: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> None:
        self.name = validate_name(name, "on-demand feature view")
        self.sources, self.requests = _sources(name, sources)
        self.schema = _outputs(name, schema)
        if mode not in MODES:
            raise DefinitionError(
                f"on-demand feature view {name!r}: unknown mode {mode!r}; valid: {MODES}"
            )
        self.mode = mode
        if not callable(function):
            raise DefinitionError(f"on-demand feature view {name!r}: function is not callable")
        self.function: Callable[..., Any] | None = function
        self.function_name = getattr(function, "__name__", name)
        self.code = function_source(function)
        self._fingerprint: tuple[tuple[str, ...], str] | None = None  # when first asked for
        self.description = validate_text(description, f"description of {name!r}")
        self.owner = validate_text(owner, f"owner of {name!r}")
        self.tags = validate_tags(tags, f"on-demand feature view {name!r}")
        _check_input_names(self)
        self._freeze()

    @property
    def deps(self) -> tuple[str, ...]:
        """The user code the function reaches (helpers, repo modules, constants), as text."""
        return self._code_fingerprint()[0]

    @property
    def code_hash(self) -> str:
        """sha256 of the function's text and of its :attr:`deps` (of the text alone when it
        has none, as before deps were kept)."""
        return self._code_fingerprint()[1]

    @property
    def text_hash(self) -> str:
        """sha256 of the function's text alone: the hash registries kept before deps were
        (a view applied then still runs until it is applied again)."""
        return hashlib.sha256(self.code.encode()).hexdigest()

    def _code_fingerprint(self) -> tuple[tuple[str, ...], str]:
        # Computed when first needed, not in __init__: the decorator runs while its module is
        # still being imported, before the helpers defined below the function exist.
        if self._fingerprint is None:
            assert self.function is not None  # a registered view has its fingerprint
            deps = tuple(dependencies(self.function))
            digest = hashlib.sha256(self.code.encode())
            for text in deps:
                digest.update(b"\0" + text.encode())
            object.__setattr__(self, "_fingerprint", (deps, digest.hexdigest()))
        assert self._fingerprint is not None
        return self._fingerprint

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.schema)

    @property
    def features(self) -> tuple[Field, ...]:
        return self.schema

    def __getitem__(self, features: Sequence[str]) -> FeatureViewProjection:
        """``odfv[["a"]]``: some of its features, for a feature service."""
        if isinstance(features, str):
            features = [features]
        for name in features:
            self.feature(name)
        projection = FeatureViewProjection.__new__(FeatureViewProjection)
        projection.view = self  # type: ignore[assignment]
        projection.features = tuple(features)
        return projection

    def feature(self, name: str) -> Field:
        from pitstore.errors import NotFoundError

        for field in self.schema:
            if field.name == name:
                return field
        raise NotFoundError(f"feature of on-demand view {self.name!r}", name, self.feature_names)

    def input_names(self) -> list[str]:
        """Every input the function receives, in order."""
        names = [f for _, feats in self.sources for f in feats]
        return names + [f.name for r in self.requests for f in r.schema]

    def to_spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sources": [{"view": v, "features": list(f)} for v, f in self.sources],
            "requests": [r.to_spec() for r in self.requests],
            "features": [f.to_spec() for f in self.schema],
            "mode": self.mode,
            "function": self._function_spec(),
            "description": self.description,
            "owner": self.owner,
            "tags": self.tags,
        }

    def _function_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"name": self.function_name, "code": self.code}
        if self.deps:  # absent when empty: specs applied before deps were kept are unchanged
            spec["deps"] = list(self.deps)
        spec["hash"] = self.code_hash
        return spec

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> OnDemandFeatureView:
        """The registered view; its ``function`` is None (code is never run from the registry)."""
        view = cls.__new__(cls)
        view.name = spec["name"]
        view.sources = tuple((s["view"], tuple(s["features"])) for s in spec["sources"])
        view.requests = tuple(
            RequestSource(r["name"], [Field.from_spec(f) for f in r["schema"]])
            for r in spec["requests"]
        )
        view.schema = tuple(Field.from_spec(f) for f in spec["features"])
        view.mode = spec["mode"]
        view.function = None
        view.function_name = spec["function"]["name"]
        view.code = spec["function"]["code"]
        deps = tuple(spec["function"].get("deps", ()))
        view._fingerprint = (deps, spec["function"]["hash"])
        view.description = spec.get("description", "")
        view.owner = spec.get("owner", "")
        view.tags = dict(spec.get("tags", {}))
        view._freeze()
        return view


def on_demand_feature_view(
    *,
    sources: Sequence[FeatureView | FeatureViewProjection | RequestSource],
    schema: Sequence[Field],
    mode: str = "python",
    name: str | None = None,
    description: str = "",
    owner: str = "",
    tags: Mapping[str, str] | None = None,
) -> Callable[[Callable[..., Any]], OnDemandFeatureView]:
    """Decorator: ``@on_demand_feature_view(sources=[...], schema=[...])`` over a function."""

    def wrap(function: Callable[..., Any]) -> OnDemandFeatureView:
        return OnDemandFeatureView(
            name or function.__name__,
            sources,
            schema,
            function,
            mode,
            description=description or (inspect.getdoc(function) or ""),
            owner=owner,
            tags=tags,
        )

    return wrap


def function_source(function: Callable[..., Any]) -> str:
    """The function's source text, dedented, without decorators (what the registry shows)."""
    try:
        text = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError) as exc:
        raise DefinitionError(
            f"cannot read the source of {function!r} ({exc}); define the function in a .py "
            "file (not a lambda built at run time or code typed into a REPL)"
        ) from None
    lines = text.splitlines()
    while lines and lines[0].lstrip().startswith("@"):
        lines = _drop_decorator(lines)
    return "\n".join(lines).rstrip() + "\n"


def _drop_decorator(lines: list[str]) -> list[str]:
    """Remove the first decorator, which may span several lines (balanced brackets)."""
    depth = 0
    for i, line in enumerate(lines):
        depth += sum(line.count(c) for c in "([{") - sum(line.count(c) for c in ")]}")
        if depth <= 0:
            return lines[i + 1 :]
    return []


def _sources(
    name: str, sources: Sequence[FeatureView | FeatureViewProjection | RequestSource]
) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], tuple[RequestSource, ...]]:
    views: list[tuple[str, tuple[str, ...]]] = []
    requests: list[RequestSource] = []
    for source in sources:
        if isinstance(source, FeatureView):
            views.append((source.name, source.feature_names))
        elif isinstance(source, FeatureViewProjection):
            views.append((source.view.name, source.features))
        elif isinstance(source, RequestSource):
            requests.append(source)
        else:
            raise DefinitionError(
                f"on-demand feature view {name!r}: sources must be feature views, projections "
                f"or RequestSource objects, got {source!r}"
            )
    if not views and not requests:
        raise DefinitionError(f"on-demand feature view {name!r} needs at least one source")
    return tuple(views), tuple(requests)


def _outputs(name: str, schema: Sequence[Field]) -> tuple[Field, ...]:
    fields = tuple(schema)
    if not fields or not all(isinstance(f, Field) for f in fields):
        raise DefinitionError(f"on-demand feature view {name!r} needs a schema of Field objects")
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise DefinitionError(f"on-demand feature view {name!r} repeats an output: {names}")
    return fields


def _check_input_names(view: OnDemandFeatureView) -> None:
    names = view.input_names()
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DefinitionError(
            f"on-demand feature view {view.name!r}: inputs {repeated} come from more than one "
            "source; the function receives inputs by name, so project the views to distinct "
            "features"
        )
