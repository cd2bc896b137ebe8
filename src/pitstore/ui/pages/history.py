"""Version history: the versions of an object and the field-level diff between any two.

The registry keeps every applied version's whole spec, so any pair can be compared with the
same :func:`~pitstore.registry.plan.diff_specs` that ``pitstore plan`` uses.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from pitstore.registry.base import VersionRecord
from pitstore.registry.plan import FieldChange, diff_specs
from pitstore.ui.html import Html, el
from pitstore.ui.model import url
from pitstore.ui.pages.layout import Ctx, empty, heading, page, section, table, when

#: Versions listed on an object's own page (the history page lists them all).
RECENT = 5


def history_url(kind: str, name: str, old: int | None = None, new: int | None = None) -> str:
    """The history page of an object, comparing versions ``old`` and ``new`` if given."""
    base = url(kind, name) + "/history"
    if old is None or new is None:
        return base
    return base + "?" + urlencode({"from": old, "to": new})


def recent_section(kind: str, name: str, records: list[VersionRecord]) -> Html:
    """The last few versions, newest first, each linked to its diff with the one before."""
    if not records:
        return section("History", empty("No recorded versions."), id="history")
    rows = [_row(kind, name, r) for r in reversed(records[-RECENT:])]
    more = el(
        "p",
        el(
            "a",
            "Every version and the diff between any two" if len(records) > 1 else "History page",
            href=history_url(kind, name),
        ),
    )
    return section(
        "History",
        table(["Version", "Change", "Applied", "By", "Revision", ""], rows, "Versions"),
        more,
        id="history",
    )


def _row(kind: str, name: str, record: VersionRecord) -> list[Any]:
    diff = None
    if record.version > 1:
        href = history_url(kind, name, record.version - 1, record.version)
        diff = el("a", "diff", href=href, aria_label=f"diff of version {record.version}")
    return [
        f"v{record.version}",
        el("span", record.action, class_=f"action action-{record.action}"),
        when(record.applied_at),
        record.applied_by,
        str(record.revision),
        diff,
    ]


def pick(records: list[VersionRecord], old: int | None, new: int | None) -> tuple[int, int]:
    """The versions to compare: as asked, else the latest against the one before it."""
    versions = [r.version for r in records]
    latest = versions[-1]
    new = new if new in versions else latest
    if old not in versions:
        earlier = [v for v in versions if v < new]
        old = earlier[-1] if earlier else new
    assert old is not None
    return old, new


def history_page(
    ctx: Ctx, kind: str, name: str, records: list[VersionRecord], old: int, new: int
) -> Html:
    """Every version, a form to choose two, and their field-level diff."""
    by_version = {r.version: r for r in records}
    a, b = by_version[old], by_version[new]
    changes = diff_specs(a.spec, b.spec)
    current = (kind, name) in ctx.model.snapshot.stored
    back = el("a", f"Back to {name}", href=url(kind, name)) if current else el("span", "(removed)")
    body = [
        heading(kind, name),
        el("p", back, " · ", f"{len(records)} versions"),
        section(
            "Versions",
            table(
                ["Version", "Change", "Applied", "By", "Revision", ""],
                [_row(kind, name, r) for r in reversed(records)],
                "Versions",
            ),
            id="versions",
        ),
        section(
            f"Changes from v{old} to v{new}",
            _compare_form(kind, name, records, old, new),
            _diff_table(changes, a, b),
            id="diff",
        ),
    ]
    return page(f"History of {name}", body, ctx)


def _compare_form(kind: str, name: str, records: list[VersionRecord], old: int, new: int) -> Html:
    def select(field: str, label: str, chosen: int) -> Html:
        options = [
            el(
                "option",
                f"v{r.version} ({r.action})",
                value=r.version,
                selected=r.version == chosen,
            )
            for r in records
        ]
        return el(
            "span",
            el("label", label, for_=f"version-{field}"),
            " ",
            el("select", options, id=f"version-{field}", name=field),
        )

    return el(
        "form",
        select("from", "From version", old),
        " ",
        select("to", "To version", new),
        " ",
        el("button", "Compare", type="submit"),
        method="get",
        action=history_url(kind, name),
        class_="compare",
    )


def _diff_table(changes: list[FieldChange], a: VersionRecord, b: VersionRecord) -> Html:
    if a.version == b.version:
        return empty("Choose two different versions to see what changed.")
    if not changes:
        note = "removed" if b.action == "removed" else "no field changed"
        return empty(f"No differences in the definition ({note}).")
    rows = [[el("code", c.path), _value(c.old, "old"), _value(c.new, "new")] for c in changes]
    return el(
        "div",
        table(["Field", f"v{a.version}", f"v{b.version}"], rows, "Changed fields"),
        class_="diff",
    )


def _value(value: Any, side: str) -> Html:
    if value is None:
        return el("span", "—", class_="muted")
    shown = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return el("code", shown, class_=f"diff-{side}")


def feature_changes(
    records: list[VersionRecord], feature: str
) -> list[tuple[VersionRecord, list[FieldChange]]]:
    """The view versions that added or changed ``feature``, with those changes."""
    out = []
    previous: dict[str, Any] = {}
    for record in records:
        prefix = f"features.{feature}"
        changes = [c for c in diff_specs(previous, record.spec) if c.path.startswith(prefix)]
        listed = any(f.get("name") == feature for f in record.spec.get("features", []))
        if not previous and listed:  # the view's first version: everything is new
            changes = [FieldChange(prefix, None, "added")]
        if changes:
            out.append((record, changes))
        previous = record.spec
    return out


def feature_history_section(view: str, feature: str, records: list[VersionRecord]) -> Html:
    """Versions of a feature's view that touched this feature."""
    found = feature_changes(records, feature)
    if not found:
        return section("History", empty("No recorded change of this feature."), id="history")
    rows = []
    for record, changes in reversed(found):
        paths = ", ".join(
            c.path.removeprefix(f"features.{feature}").lstrip(".") or "added" for c in changes
        )
        href = history_url("feature_view", view, record.version - 1, record.version)
        link = (
            el("a", f"{view} v{record.version}", href=href) if record.version > 1 else f"{view} v1"
        )
        rows.append([link, paths, when(record.applied_at), record.applied_by])
    return section(
        "History",
        table(["View version", "What changed", "Applied", "By"], rows, "Feature changes"),
        id="history",
    )
