"""A model's public page: its standing on every board and its history."""

from __future__ import annotations

import dataclasses
import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from leaderboards.models import (
    OVERALL_KEY,
    PublishedLeaderboard,
    SnapshotEntry,
)
from leaderboards.selectors.boards import BoardLink, DomainInfo, _board_link, _domain_info
from leaderboards.selectors.lines import EntryRow, _entry_row


@dataclass(frozen=True)
class HistoryPoint:
    snapshot_id: int
    created_at: datetime
    elo: float
    lower: float
    upper: float
    rank: int | None
    rank_with_uncertainty: int | None


# HistoryPoint's line fields (after snapshot id and date): SnapshotEntry columns, in its order.
HISTORY_LINE = tuple(item.name for item in dataclasses.fields(HistoryPoint))[2:]


@dataclass(frozen=True)
class ModelStanding:
    domain: DomainInfo
    snapshot_id: int
    published_at: datetime
    board: BoardLink
    entry: EntryRow


@dataclass(frozen=True)
class ModelView:
    id: int
    name: str
    lab: str
    standings: list[ModelStanding]
    history: dict[str, list[HistoryPoint]]

    @property
    def has_findings(self) -> bool:
        return any(standing.entry.findings for standing in self.standings)

    @property
    def strengths(self) -> list[ModelStanding]:
        """Category boards where the model stands clearly higher than overall."""
        return self._shifted("strength")

    @property
    def weaknesses(self) -> list[ModelStanding]:
        """Category boards where the model stands clearly lower than overall."""
        return self._shifted("weakness")

    def _shifted(self, mark: str) -> list[ModelStanding]:
        found = [
            standing
            for standing in self.standings
            if (shift := standing.entry.vs_overall) is not None and shift.mark == mark
        ]
        return sorted(found, key=lambda s: -abs(s.entry.vs_overall.difference))  # type: ignore[union-attr]

    def standings_for(self, slug: str) -> list[ModelStanding]:
        return [standing for standing in self.standings if standing.domain.slug == slug]

    @property
    def history_key(self) -> str:
        """Changes whenever the model's standings or history do: a cache key and ETag part."""
        parts = [f"{s.snapshot_id}.{s.board.key}" for s in self.standings]
        parts += [str(point.snapshot_id) for points in self.history.values() for point in points]
        return hashlib.sha256("|".join(sorted(parts)).encode()).hexdigest()[:24]


def model_view(*, model_version_id: int) -> ModelView | None:
    """A model's place on every public board and its overall Elo across visible snapshots.

    None unless the model is on a published board: a registered model stays private until then.
    """
    pointers = list(
        PublishedLeaderboard.objects.filter(
            domain__is_active=True, snapshot__is_hidden=False, snapshot__is_published=True
        )
        .select_related("domain")
        .order_by("domain__name")
    )
    by_snapshot = {pointer.snapshot_id: pointer for pointer in pointers}
    entries = list(
        SnapshotEntry.objects.filter(model_version_id=model_version_id, snapshot_id__in=by_snapshot)
        .select_related("board", "model_version__lab")
        .defer("board__data")
        .order_by("board__position")
    )
    if not entries:
        return None
    model = entries[0].model_version
    standings = [
        ModelStanding(
            domain=_domain_info(by_snapshot[entry.snapshot_id].domain),
            snapshot_id=entry.snapshot_id,
            published_at=by_snapshot[entry.snapshot_id].published_at,
            board=_board_link(entry.board),
            entry=_entry_row(entry),
        )
        for entry in entries
    ]
    standings.sort(key=lambda s: (s.domain.name, s.board.is_overall is False, s.board.title))
    history: dict[str, list[HistoryPoint]] = defaultdict(list)
    domain_names = {pointer.domain_id: pointer.domain.name for pointer in pointers}
    for snapshot_id, domain_id, created_at, *line in (
        SnapshotEntry.objects.filter(
            model_version_id=model_version_id,
            board_key=OVERALL_KEY,
            snapshot__is_hidden=False,
            snapshot__is_published=True,
            snapshot__domain_id__in=domain_names,
            elo__isnull=False,
        )
        .order_by("snapshot__created_at", "snapshot_id")
        .values_list("snapshot_id", "snapshot__domain_id", "snapshot__created_at", *HISTORY_LINE)
    ):
        if None in line[:3]:  # elo, lower, upper: a point needs all three
            continue
        history[domain_names[domain_id]].append(HistoryPoint(snapshot_id, created_at, *line))
    return ModelView(
        id=model.pk,
        name=f"{model.name} {model.version}",
        lab=model.lab.name,
        standings=standings,
        history=dict(history),
    )
