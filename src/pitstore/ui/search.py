"""Search over the catalog's items: by name, description, tag and owner.

A query is words; every word must match (AND). A plain word matches a name, a description,
an owner or a tag (``key=value``) anywhere, case-insensitively. Prefixed words narrow the
field: ``owner:ml-platform``, ``tag:team=drivers`` (or ``tag:team``), ``kind:view``.
Results are ranked: exact name, then name prefix, then name substring, then other fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from pitstore.ui.model import LABELS, Item

#: ``kind:`` words and the kinds they select.
KIND_WORDS: Final = {
    "entity": "entity",
    "entities": "entity",
    "view": "feature_view",
    "views": "feature_view",
    "on-demand": "on_demand_feature_view",
    "odfv": "on_demand_feature_view",
    "service": "feature_service",
    "services": "feature_service",
    "feature": "feature",
    "features": "feature",
}
#: Objects before their features when scores tie: a view is a better answer than its column.
KIND_ORDER: Final = {
    "feature_view": 0,
    "on_demand_feature_view": 1,
    "feature_service": 2,
    "entity": 3,
    "feature": 4,
}
LIMIT: Final = 50


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result and its score."""

    item: Item
    score: int

    def to_json(self) -> dict[str, Any]:
        """The hit as the search API returns it."""
        item = self.item
        return {
            "kind": item.kind,
            "label": LABELS[item.kind],
            "name": item.name,
            "url": item.url,
            "description": item.description,
            "owner": item.owner,
            "tags": item.tags,
            "detail": item.detail,
        }


def search(items: list[Item], query: str, limit: int = LIMIT) -> list[Hit]:
    """The items matching every word of ``query``, best first (none for a blank query)."""
    words = query.lower().split()
    if not words:
        return []
    hits = []
    for item in items:
        score = _score(item, words)
        if score > 0:
            hits.append(Hit(item, score))
    hits.sort(key=lambda h: (-h.score, KIND_ORDER.get(h.item.kind, 9), h.item.name))
    return hits[:limit]


def _score(item: Item, words: list[str]) -> int:
    """The sum of every word's score, or 0 when a word does not match."""
    total = 0
    for word in words:
        points = _word_score(item, word)
        if points == 0:
            return 0
        total += points
    return total


def _word_score(item: Item, word: str) -> int:
    field, sep, value = word.partition(":")
    if sep and value and field in {"owner", "tag", "kind"}:
        return _field_score(item, field, value)
    return _text_score(item, word)


def _field_score(item: Item, field: str, value: str) -> int:
    if field == "owner":
        return 20 if value in item.owner.lower() else 0
    if field == "kind":
        return 1 if KIND_WORDS.get(value) == item.kind else 0
    return 20 if any(value in tag for tag in _tags(item)) else 0


def _text_score(item: Item, word: str) -> int:
    name = item.name.lower()
    short = name.rsplit(":", 1)[-1]  # a feature's own name, without its view
    if word in (name, short):
        return 100
    if name.startswith(word) or short.startswith(word):
        return 60
    if word in name:
        return 40
    if word in item.owner.lower() or any(word in t for t in _tags(item)):
        return 20
    if word in item.description.lower():
        return 10
    if any(word in c.lower() for c in item.context):
        return 5
    return 0


def _tags(item: Item) -> list[str]:
    own = [f"{k}={v}".lower() for k, v in item.tags.items()]
    # Context entries with "=" are inherited tags (a feature's view tags).
    return own + [c.lower() for c in item.context if "=" in c]
