"""Atom feeds of published snapshots: one per domain and one for the whole site.

Each entry is one visible snapshot, linked to its permanent page, summarising what changed on the
domain's overall board since the visible snapshot before it. A hidden snapshot leaves the feed.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.syndication.views import Feed
from django.http import Http404, HttpRequest
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed

from leaderboards.selectors import ChangelogItem, DomainInfo, changelog, history_domain

FEED_ITEMS = 30


def _moves(item: ChangelogItem) -> str:
    parts = []
    if item.added:
        parts.append("Added: " + ", ".join(row.model for row in item.added) + ".")
    if item.removed:
        parts.append("Removed: " + ", ".join(row.model for row in item.removed) + ".")
    if item.newly_ranked:
        parts.append("Newly ranked: " + ", ".join(row.model for row in item.newly_ranked) + ".")
    if item.biggest_moves:
        parts.append(
            "Biggest moves: "
            + ", ".join(f"{row.model} {row.elo_change:+.0f} Elo" for row in item.biggest_moves)
            + "."
        )
    if item.previous_id is None:
        parts.append("The first published snapshot of this domain.")
    return " ".join(parts)


class SnapshotFeed(Feed):
    """The latest published snapshots of every active domain."""

    feed_type = Atom1Feed
    title = "SEAL leaderboards: published snapshots"
    subtitle = "Every snapshot of the expert-rated leaderboards, with what changed."

    def link(self) -> str:
        return reverse("leaderboards:index")

    def items(self) -> list[ChangelogItem]:
        return changelog(limit=FEED_ITEMS)

    def item_title(self, item: ChangelogItem) -> str:
        return (
            f"{item.domain.name} leaderboard, snapshot {item.snapshot.id}: "
            f"{item.snapshot.n_models} models, {item.snapshot.n_ratings} ratings"
        )

    def item_description(self, item: ChangelogItem) -> str:
        return _moves(item)

    def item_link(self, item: ChangelogItem) -> str:
        return reverse("leaderboards:snapshot", args=[item.domain.slug, item.snapshot.id])

    def item_guid(self, item: ChangelogItem) -> str:
        return f"seal:leaderboards:{item.domain.slug}:snapshot:{item.snapshot.id}"

    item_guid_is_permalink = False

    def item_pubdate(self, item: ChangelogItem) -> datetime:
        return item.snapshot.created_at

    def item_updateddate(self, item: ChangelogItem) -> datetime:
        return item.snapshot.created_at

    def item_categories(self, item: ChangelogItem) -> list[str]:
        return [item.domain.slug]


class DomainSnapshotFeed(SnapshotFeed):
    """The latest published snapshots of one domain."""

    def get_object(self, request: HttpRequest, domain_slug: str) -> DomainInfo:
        domain = history_domain(domain_slug=domain_slug)
        if domain is None:
            raise Http404("No such domain")
        return domain

    def title(self, obj: DomainInfo) -> str:  # type: ignore[override]
        return f"SEAL {obj.name} leaderboard: published snapshots"

    def link(self, obj: DomainInfo) -> str:  # type: ignore[override]
        return reverse("leaderboards:snapshots", args=[obj.slug])

    def items(self, obj: DomainInfo) -> list[ChangelogItem]:  # type: ignore[override]
        return changelog(domain_slug=obj.slug, limit=FEED_ITEMS)
