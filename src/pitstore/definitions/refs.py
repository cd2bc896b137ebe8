"""Feature references: ``"view:feature"``."""

from __future__ import annotations

from typing import NamedTuple

from pitstore.errors import DefinitionError
from pitstore.names import is_valid_name


class FeatureRef(NamedTuple):
    """A parsed ``"view:feature"`` reference."""

    view: str
    feature: str

    def __str__(self) -> str:
        return f"{self.view}:{self.feature}"


def parse_ref(ref: str) -> FeatureRef:
    """Parse ``"view:feature"``; a malformed reference raises a DefinitionError naming it."""
    if isinstance(ref, str):
        view, sep, feature = ref.partition(":")
        if sep and is_valid_name(view) and is_valid_name(feature):
            return FeatureRef(view, feature)
    raise DefinitionError(
        f"invalid feature reference {ref!r}: write it as 'view:feature', "
        "e.g. 'driver_stats:conv_rate'"
    )
