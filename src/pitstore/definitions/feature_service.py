"""FeatureService: the set of features one model consumes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pitstore.definitions.base import Definition, as_tuple, validate_tags, validate_text
from pitstore.definitions.feature_view import FeatureView, FeatureViewProjection
from pitstore.definitions.on_demand import OnDemandFeatureView
from pitstore.errors import DefinitionError
from pitstore.names import validate_name


class FeatureService(Definition):
    """A named list of views or view projections (``view[["a", "b"]]``).

    A whole view is resolved to its features when the service is defined, so that a model's
    feature list does not change silently when the view gains a feature.
    """

    __slots__ = ("description", "owner", "projections", "tags")
    kind: ClassVar[str] = "feature_service"

    def __init__(
        self,
        name: str,
        features: Sequence[FeatureView | FeatureViewProjection | OnDemandFeatureView],
        description: str = "",
        owner: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> None:
        self.name = validate_name(name, "feature service")
        self.projections: tuple[tuple[str, tuple[str, ...]], ...] = _projections(name, features)
        self.description = validate_text(description, f"description of feature service {name!r}")
        self.owner = validate_text(owner, f"owner of feature service {name!r}")
        self.tags = validate_tags(tags, f"feature service {name!r}")
        self._freeze()

    @property
    def feature_refs(self) -> list[str]:
        """The service's features as ``"view:feature"`` references, in order."""
        return [f"{view}:{feature}" for view, feats in self.projections for feature in feats]

    @property
    def view_names(self) -> list[str]:
        return [view for view, _ in self.projections]

    def to_spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "features": [{"view": v, "features": list(f)} for v, f in self.projections],
            "description": self.description,
            "owner": self.owner,
            "tags": self.tags,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> FeatureService:
        service = cls.__new__(cls)
        service.name = validate_name(spec["name"], "feature service")
        service.projections = tuple((p["view"], tuple(p["features"])) for p in spec["features"])
        service.description = spec.get("description", "")
        service.owner = spec.get("owner", "")
        service.tags = validate_tags(spec.get("tags"), f"feature service {service.name!r}")
        service._freeze()
        return service


def _projections(
    service: str, features: Sequence[FeatureView | FeatureViewProjection | OnDemandFeatureView]
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if isinstance(features, (FeatureView, FeatureViewProjection, OnDemandFeatureView)):
        features = [features]
    items = as_tuple(features, f"features of feature service {service!r}", "[driver_stats]")
    out: list[tuple[str, tuple[str, ...]]] = []
    for item in items:
        if isinstance(item, (FeatureView, OnDemandFeatureView)):
            out.append((item.name, item.feature_names))
        elif isinstance(item, FeatureViewProjection):
            out.append((item.view.name, item.features))
        else:
            raise DefinitionError(
                f"feature service {service!r}: features must be feature views or projections "
                f"such as view[['a', 'b']], got {item!r}"
            )
    if not out:
        raise DefinitionError(f"feature service {service!r} needs at least one feature view")
    views = [v for v, _ in out]
    repeated = sorted({v for v in views if views.count(v) > 1})
    if repeated:
        raise DefinitionError(
            f"feature service {service!r} lists view(s) {repeated} more than once; "
            "list each view once with all the features it needs"
        )
    return tuple(out)
