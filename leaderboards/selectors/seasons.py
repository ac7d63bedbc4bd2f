"""Seasons: the snapshot a domain published at the end of each season."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Max

from leaderboards.models import (
    PublishedLeaderboard,
    Snapshot,
)
from leaderboards.selectors.pointers import PublishedVersion


@dataclass(frozen=True)
class SeasonLink:
    """A season of a domain: a prompt set with a visible published snapshot, and its latest."""

    prompt_set_id: int
    version: str
    status: str
    snapshot_id: int
    created_at: datetime
    is_current: bool


def domain_seasons(*, domain_slug: str) -> list[SeasonLink]:
    """The seasons of an active domain whose boards the public may read, newest first; the
    current one is the season of the snapshot the public pointer names."""
    current = (
        PublishedLeaderboard.objects.filter(domain__slug=domain_slug)
        .values_list("snapshot__prompt_set_id", flat=True)
        .first()
    )
    latest = (
        Snapshot.objects.filter(
            domain__slug=domain_slug,
            domain__is_active=True,
            is_published=True,
            is_hidden=False,
            prompt_set__isnull=False,
        )
        .order_by()
        .values("prompt_set_id")
        .annotate(latest=Max("pk"))
        .values_list("latest", flat=True)
    )
    rows = (
        Snapshot.objects.filter(pk__in=list(latest))
        .order_by("-created_at", "-pk")
        .values_list(
            "prompt_set_id", "prompt_set__version", "prompt_set__status", "pk", "created_at"
        )
    )
    return [
        SeasonLink(
            prompt_set_id=prompt_set_id,
            version=version,
            status=status,
            snapshot_id=snapshot_id,
            created_at=created_at,
            is_current=prompt_set_id == current,
        )
        for prompt_set_id, version, status, snapshot_id, created_at in rows
        # A season is addressed by its version in URLs: one with a slash has no address.
        if "/" not in version
    ]


def season_version(*, domain_slug: str, season: str) -> PublishedVersion | None:
    """The latest visible published snapshot of one season (a prompt set version) of an active
    domain: what the season's pages show. Its publication time is its creation time."""
    row = (
        Snapshot.objects.filter(
            domain__slug=domain_slug,
            domain__is_active=True,
            is_published=True,
            is_hidden=False,
            prompt_set__version=season,
        )
        .order_by("-created_at", "-pk")
        .values_list("pk", "input_fingerprint", "created_at")
        .first()
    )
    return None if row is None else PublishedVersion(*row)
