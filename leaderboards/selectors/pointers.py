"""The public pointer reads: which snapshot a domain publishes now, its version, its numbers and its
ratings file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leaderboards.models import (
    PublishedLeaderboard,
    Snapshot,
    SnapshotBoard,
    SnapshotEntry,
    SnapshotRatingsFile,
    SnapshotRatingsSource,
)
from leaderboards.public_cache import remembered
from seal.models import (
    Domain,
)


def snapshot_published_numbers(
    *, snapshot_id: int
) -> tuple[dict[str, Any], dict[str, Any] | None, list[dict[str, Any]]] | None:
    """A snapshot's counts, agreement and boards with entries as stored: what a reproduction
    from its ratings file is compared with. None if there is no such published snapshot."""
    snapshot = Snapshot.objects.filter(pk=snapshot_id, is_published=True).first()
    if snapshot is None:
        return None
    counts = {
        "n_ratings": snapshot.n_ratings,
        "n_prompts": snapshot.n_prompts,
        "n_models": snapshot.n_models,
    }
    boards: dict[int, dict[str, Any]] = {}
    for board in SnapshotBoard.objects.filter(snapshot_id=snapshot_id).defer("data"):
        boards[board.pk] = {
            "key": board.key,
            "status": board.status,
            "n_ratings": board.n_ratings,
            "n_prompts": board.n_prompts,
            "n_models": board.n_models,
            "separability": board.separability,
            "entries": [],
        }
    fields = [f.attname for f in SnapshotEntry._meta.concrete_fields]
    for entry in (
        SnapshotEntry.objects.filter(snapshot_id=snapshot_id)
        .order_by("board_id", "position")
        .values(*fields)
    ):
        boards[entry["board_id"]]["entries"].append({**entry, "model": entry["model_version_id"]})
    return counts, snapshot.agreement, list(boards.values())


def public_ratings_file(*, domain_slug: str, snapshot_id: int) -> SnapshotRatingsFile | None:
    """The ratings file of a published, visible snapshot of an active domain; None otherwise."""
    return SnapshotRatingsFile.objects.filter(
        snapshot_id=snapshot_id,
        snapshot__domain__slug=domain_slug,
        snapshot__domain__is_active=True,
        snapshot__is_published=True,
        snapshot__is_hidden=False,
    ).first()


def public_ratings_file_exists(*, snapshot_id: int) -> bool:
    """Whether a snapshot has a ratings file, written or still to be formatted from its source
    (snapshots published before files were kept have neither)."""
    return (
        SnapshotRatingsFile.objects.filter(snapshot_id=snapshot_id).exists()
        or SnapshotRatingsSource.objects.filter(snapshot_id=snapshot_id).exists()
    )


def public_ratings_file_source_exists(*, domain_slug: str, snapshot_id: int) -> bool:
    """Whether a published, visible snapshot of an active domain has a ratings file still to be
    formatted (at its first download)."""
    return SnapshotRatingsSource.objects.filter(
        snapshot_id=snapshot_id,
        snapshot__domain__slug=domain_slug,
        snapshot__domain__is_active=True,
        snapshot__is_published=True,
        snapshot__is_hidden=False,
    ).exists()


def published_pointer(*, domain_slug: str) -> PublishedLeaderboard | None:
    """The public pointer of an active domain, with its snapshot (one query); None if none."""
    return (
        PublishedLeaderboard.objects.filter(
            domain__slug=domain_slug,
            domain__is_active=True,
            snapshot__is_hidden=False,
            snapshot__is_published=True,
        )
        .select_related("domain", "snapshot")
        .first()
    )


@dataclass(frozen=True)
class PublishedVersion:
    """What the public sees of a domain right now: the snapshot and when it was switched to."""

    snapshot_id: int
    fingerprint: str
    published_at: datetime

    @property
    def key(self) -> str:
        """Names this publication for good: a cache key and ETag part (a snapshot never changes)."""
        return f"{self.snapshot_id}-{self.fingerprint[:16]}-{self.published_at.timestamp():.6f}"


def published_version(*, domain_slug: str) -> PublishedVersion | None:
    """The domain's public snapshot: pages key their cache by it.

    Read fresh (one indexed query), or remembered by this process until the database notifies it
    that a pointer, a snapshot's visibility or a domain changed (leaderboards/public_cache.py)."""
    return remembered(("version", domain_slug), lambda: _published_version(domain_slug))


def _published_version(domain_slug: str) -> PublishedVersion | None:
    row = (
        PublishedLeaderboard.objects.filter(
            domain__slug=domain_slug,
            domain__is_active=True,
            snapshot__is_hidden=False,
            snapshot__is_published=True,
        )
        .order_by()
        .values_list("snapshot_id", "snapshot__input_fingerprint", "published_at")
        .first()
    )
    return None if row is None else PublishedVersion(*row)


def public_domain_exists(*, domain_slug: str) -> bool:
    """Whether an active domain has this slug."""
    return Domain.objects.filter(slug=domain_slug, is_active=True).exists()
