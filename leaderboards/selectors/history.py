"""Snapshot history: every visible snapshot by id and by date, diffs, the changelog, citations and
downloads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from leaderboards.models import (
    OVERALL_KEY,
    Snapshot,
    SnapshotBoard,
    SnapshotEntry,
)
from leaderboards.selectors.boards import BoardView, DomainInfo, _board_view_of, _domain_info
from leaderboards.selectors.lines import EntryRow, _entry_row
from seal.models import (
    Domain,
    ModelVersion,
)

# --- Snapshot history: every visible snapshot by id and by date, diffs, the changelog -------------
#
# A published snapshot is public from its creation (it is written, published and pointed to in one
# transaction) until staff hide it; the pointer only moves forward or to the latest visible one.
# So "the snapshot public on a day" is the latest visible snapshot created by the end of that day,
# as the record stands now: a snapshot retracted since is not served for any date.


@dataclass(frozen=True)
class SnapshotSummary:
    """One snapshot of a domain as its history lists it."""

    id: int
    domain_slug: str
    fingerprint: str
    created_at: datetime
    ratings_through: datetime | None
    n_ratings: int
    n_prompts: int
    n_models: int
    is_hidden: bool


_SUMMARY_FIELDS = (
    "pk",
    "domain__slug",
    "input_fingerprint",
    "created_at",
    "ratings_through",
    "n_ratings",
    "n_prompts",
    "n_models",
    "is_hidden",
)


def _history_snapshots(*, domain_slug: str | None, include_hidden: bool) -> Any:
    snapshots = Snapshot.objects.filter(is_published=True, domain__is_active=True)
    if domain_slug is not None:
        snapshots = snapshots.filter(domain__slug=domain_slug)
    if not include_hidden:
        snapshots = snapshots.filter(is_hidden=False)
    return snapshots.order_by("-created_at", "-pk")


def history_domain(*, domain_slug: str) -> DomainInfo | None:
    """An active domain, whether or not it has a published snapshot."""
    domain = Domain.objects.filter(slug=domain_slug, is_active=True).first()
    return None if domain is None else _domain_info(domain)


def snapshot_history(*, domain_slug: str, include_hidden: bool = False) -> list[SnapshotSummary]:
    """Every published snapshot of an active domain, newest first; hidden ones only for staff."""
    rows = _history_snapshots(domain_slug=domain_slug, include_hidden=include_hidden).values_list(
        *_SUMMARY_FIELDS
    )
    return [SnapshotSummary(*row) for row in rows]


def snapshot_summary(
    *, domain_slug: str, snapshot_id: int, include_hidden: bool = False
) -> SnapshotSummary | None:
    """One published snapshot of an active domain; None if hidden (unless for staff) or absent."""
    row = (
        _history_snapshots(domain_slug=domain_slug, include_hidden=include_hidden)
        .filter(pk=snapshot_id)
        .values_list(*_SUMMARY_FIELDS)
        .first()
    )
    return None if row is None else SnapshotSummary(*row)


def snapshot_on_date(
    *, domain_slug: str, day: date, include_hidden: bool = False
) -> SnapshotSummary | None:
    """The snapshot the public saw at the end of `day` (UTC): the latest visible one by then."""
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)
    row = (
        _history_snapshots(domain_slug=domain_slug, include_hidden=include_hidden)
        .filter(created_at__lt=end)
        .values_list(*_SUMMARY_FIELDS)
        .first()
    )
    return None if row is None else SnapshotSummary(*row)


def snapshot_board_view(
    *,
    domain_slug: str,
    snapshot_id: int,
    board_key: str = OVERALL_KEY,
    include_hidden: bool = False,
) -> BoardView | None:
    """A board of any published snapshot of an active domain (hidden ones only for staff)."""
    snapshot = (
        _history_snapshots(domain_slug=domain_slug, include_hidden=include_hidden)
        .filter(pk=snapshot_id)
        .select_related("domain")
        .first()
    )
    if snapshot is None:
        return None
    # Written, published and pointed to in one transaction: created is when it went public.
    return _board_view_of(snapshot, snapshot.created_at, board_key)


class DiffStatus:
    """How a model's standing on a board changed between two snapshots."""

    RANKED = "ranked"  # ranked in both: see the moves
    ADDED = "added"  # not on the board before
    REMOVED = "removed"  # not on the board after
    NEWLY_RANKED = "newly_ranked"  # on the board before without a rank, ranked now
    NEWLY_UNRANKED = "newly_unranked"  # ranked before, on the board without a rank now
    UNRANKED = "unranked"  # on the board, without a rank, in both

    ALL = (RANKED, ADDED, REMOVED, NEWLY_RANKED, NEWLY_UNRANKED, UNRANKED)


@dataclass(frozen=True)
class DiffLine:
    """A model's line on one board of one snapshot, as a diff compares it."""

    model_version_id: int
    position: int
    rank: int | None
    rank_with_uncertainty: int | None
    elo: float | None


@dataclass(frozen=True)
class DiffRow:
    model_version_id: int
    model: str
    lab: str
    status: str
    rank_before: int | None
    rank_after: int | None
    rank_with_uncertainty_before: int | None
    rank_with_uncertainty_after: int | None
    elo_before: float | None
    elo_after: float | None

    @property
    def rank_change(self) -> int | None:
        """Places gained (positive: moved up) by Elo rank; None unless ranked in both."""
        if self.rank_before is None or self.rank_after is None:
            return None
        return self.rank_before - self.rank_after

    @property
    def rank_with_uncertainty_change(self) -> int | None:
        """Places gained by rank with uncertainty; None unless ranked in both."""
        before, after = self.rank_with_uncertainty_before, self.rank_with_uncertainty_after
        return None if before is None or after is None else before - after

    @property
    def elo_change(self) -> float | None:
        """Elo after minus before; None unless the model has an Elo in both."""
        if self.elo_before is None or self.elo_after is None:
            return None
        return self.elo_after - self.elo_before

    @property
    def elo_change_signed(self) -> str:
        """The Elo change to one decimal with its sign, for pages ("+12.3", "-4.0")."""
        change = self.elo_change
        return "" if change is None else f"{change:+.1f}"

    @property
    def elo_change_rounded(self) -> str:
        """The Elo change in whole points with its sign ("+12")."""
        change = self.elo_change
        return "" if change is None else f"{change:+.0f}"


def diff_rows(
    before: list[DiffLine], after: list[DiffLine], names: dict[int, tuple[str, str]]
) -> list[DiffRow]:
    """Compare two boards' lines: the board after in its order, then the models it dropped."""
    old = {line.model_version_id: line for line in before}
    new = {line.model_version_id: line for line in after}
    rows = []
    by_position = [
        *sorted(after, key=lambda line: line.position),
        *sorted(before, key=lambda line: line.position),
    ]
    for line in by_position:
        model_id = line.model_version_id
        if line is not new.get(model_id) and model_id in new:
            continue  # listed already, from the board after
        was, now = old.get(model_id), new.get(model_id)
        if was is None:
            status = DiffStatus.ADDED
        elif now is None:
            status = DiffStatus.REMOVED
        elif was.rank is None:
            status = DiffStatus.UNRANKED if now.rank is None else DiffStatus.NEWLY_RANKED
        else:
            status = DiffStatus.NEWLY_UNRANKED if now.rank is None else DiffStatus.RANKED
        name, lab = names.get(model_id, (str(model_id), ""))
        rows.append(
            DiffRow(
                model_version_id=model_id,
                model=name,
                lab=lab,
                status=status,
                rank_before=was.rank if was else None,
                rank_after=now.rank if now else None,
                rank_with_uncertainty_before=was.rank_with_uncertainty if was else None,
                rank_with_uncertainty_after=now.rank_with_uncertainty if now else None,
                elo_before=was.elo if was else None,
                elo_after=now.elo if now else None,
            )
        )
    return rows


class _RowsByStatus:
    """The rows of a comparison of two snapshots, picked by what happened to each model."""

    rows: list[DiffRow]

    def having(self, status: str) -> list[DiffRow]:
        return [row for row in self.rows if row.status == status]

    @property
    def added(self) -> list[DiffRow]:
        return self.having(DiffStatus.ADDED)

    @property
    def removed(self) -> list[DiffRow]:
        return self.having(DiffStatus.REMOVED)

    @property
    def newly_ranked(self) -> list[DiffRow]:
        return self.having(DiffStatus.NEWLY_RANKED)

    @property
    def newly_unranked(self) -> list[DiffRow]:
        return self.having(DiffStatus.NEWLY_UNRANKED)


@dataclass(frozen=True)
class SnapshotDiff(_RowsByStatus):
    domain: DomainInfo
    board_key: str
    board_title: str
    before: SnapshotSummary
    after: SnapshotSummary
    rows: list[DiffRow]


def _diff_lines(snapshot_ids: Iterable[int], board_key: str) -> dict[int, list[DiffLine]]:
    lines: dict[int, list[DiffLine]] = defaultdict(list)
    # DiffLine's fields are SnapshotEntry columns of the same names, in its order.
    columns = [item.name for item in dataclasses.fields(DiffLine)]
    for snapshot_id, *values in (
        SnapshotEntry.objects.filter(snapshot_id__in=list(snapshot_ids), board_key=board_key)
        .order_by()
        .values_list("snapshot_id", *columns)
    ):
        lines[snapshot_id].append(DiffLine(*values))
    return lines


def _model_names(model_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    return {
        pk: (f"{name} {version}", lab)
        for pk, name, version, lab in ModelVersion.objects.filter(
            pk__in=set(model_ids)
        ).values_list("pk", "name", "version", "lab__name")
    }


def snapshot_diff(
    *,
    domain_slug: str,
    before_id: int,
    after_id: int,
    board_key: str = OVERALL_KEY,
    include_hidden: bool = False,
) -> SnapshotDiff | None:
    """Rank and Elo moves of every model on one board between two snapshots of a domain.

    None if either snapshot is not visible, or neither has the board."""
    domain = history_domain(domain_slug=domain_slug)
    before = snapshot_summary(
        domain_slug=domain_slug, snapshot_id=before_id, include_hidden=include_hidden
    )
    after = snapshot_summary(
        domain_slug=domain_slug, snapshot_id=after_id, include_hidden=include_hidden
    )
    if domain is None or before is None or after is None:
        return None
    titles = dict(
        SnapshotBoard.objects.filter(snapshot_id__in=[before.id, after.id], key=board_key)
        .order_by("snapshot_id")
        .values_list("snapshot_id", "title")
    )
    if not titles:
        return None
    lines = _diff_lines([before.id, after.id], board_key)
    names = _model_names(line.model_version_id for group in lines.values() for line in group)
    return SnapshotDiff(
        domain=domain,
        board_key=board_key,
        board_title=titles.get(after.id) or titles[before.id],
        before=before,
        after=after,
        rows=diff_rows(lines.get(before.id, []), lines.get(after.id, []), names),
    )


@dataclass(frozen=True)
class ChangelogItem(_RowsByStatus):
    """One snapshot in a domain's changelog, compared with the visible one before it."""

    domain: DomainInfo
    snapshot: SnapshotSummary
    previous_id: int | None
    rows: list[DiffRow]

    @property
    def biggest_moves(self) -> list[DiffRow]:
        """Up to three models ranked in both with the largest Elo change, largest first."""
        moved = [row for row in self.rows if row.status == DiffStatus.RANKED and row.elo_change]
        moved.sort(key=lambda row: (-abs(row.elo_change or 0.0), row.model))
        return moved[:3]


CHANGELOG_PAGE = 25


def changelog(
    *, domain_slug: str | None = None, limit: int = CHANGELOG_PAGE, offset: int = 0
) -> list[ChangelogItem]:
    """Visible snapshots, newest first (one domain or all), each against its domain's previous
    visible one on the overall board: models added and removed, newly ranked, biggest moves."""
    all_rows = list(
        _history_snapshots(domain_slug=domain_slug, include_hidden=False).values_list(
            *_SUMMARY_FIELDS, "domain_id"
        )
    )
    page = all_rows[offset : offset + limit]
    previous: dict[int, int | None] = {}
    older_in_domain: dict[int, int] = {}
    for row in reversed(all_rows):  # oldest first: the last one seen per domain is the previous
        previous[row[0]] = older_in_domain.get(row[-1])
        older_in_domain[row[-1]] = row[0]
    needed = {row[0] for row in page} | {
        pk for pk in (previous[row[0]] for row in page) if pk is not None
    }
    lines = _diff_lines(needed, OVERALL_KEY)
    names = _model_names(line.model_version_id for group in lines.values() for line in group)
    domains = {
        domain.pk: _domain_info(domain)
        for domain in Domain.objects.filter(pk__in={row[-1] for row in page})
    }
    items = []
    for row in page:
        summary = SnapshotSummary(*row[:-1])
        before = previous[summary.id]
        items.append(
            ChangelogItem(
                domain=domains[row[-1]],
                snapshot=summary,
                previous_id=before,
                rows=diff_rows(
                    lines.get(before, []) if before else [], lines.get(summary.id, []), names
                ),
            )
        )
    return items


def changelog_size(*, domain_slug: str | None = None) -> int:
    """How many visible snapshots the changelog lists."""
    return int(_history_snapshots(domain_slug=domain_slug, include_hidden=False).count())


def history_version(*, domain_slug: str | None = None) -> str:
    """Changes whenever a domain's visible history does (a publish, a hide): a cache key part."""
    rows = _history_snapshots(domain_slug=domain_slug, include_hidden=False).values_list("pk")
    digest = hashlib.sha256(",".join(str(pk) for (pk,) in rows).encode()).hexdigest()
    return digest[:24]


@dataclass(frozen=True)
class Citation:
    key: str
    bibtex: str
    text: str
    url: str


def snapshot_citation(*, domain: DomainInfo, snapshot: SnapshotSummary, url: str) -> Citation:
    """How to cite one snapshot: BibTeX and plain text naming its id, date, fingerprint and URL."""
    day = snapshot.created_at.astimezone(UTC)
    key = f"seal-{domain.slug}-snapshot-{snapshot.id}"
    title = f"SEAL {domain.name} leaderboard, snapshot {snapshot.id}"
    # BibTeX treats braces and a few characters specially: keep the title's words as written.
    safe_title = re.sub(r"([{}\\%&$#_^~])", r"\\\1", title)
    bibtex = "\n".join(
        [
            f"@misc{{{key},",
            "  author       = {{SEAL}},",
            f"  title        = {{{{{safe_title}}}}},",
            f"  year         = {{{day:%Y}}},",
            f"  month        = {{{day.month}}},",
            f"  day          = {{{day.day}}},",
            f"  howpublished = {{\\url{{{url}}}}},",
            f"  note         = {{Snapshot {snapshot.id} of {day:%Y-%m-%d %H:%M} UTC; "
            f"{snapshot.n_ratings} approved ratings; input fingerprint "
            f"{snapshot.fingerprint[:16]}}},",
            "}",
        ]
    )
    text = (
        f"SEAL. {title}. Published {day:%-d %B %Y, %H:%M} UTC "
        f"({snapshot.n_ratings} approved ratings, {snapshot.n_models} models; input fingerprint "
        f"{snapshot.fingerprint[:16]}). {url}"
    )
    return Citation(key=key, bibtex=bibtex, text=text, url=url)


@dataclass(frozen=True)
class DownloadBoard:
    key: str
    title: str
    entries: list[EntryRow]


def snapshot_download_boards(
    *,
    domain_slug: str,
    snapshot_id: int,
    board_key: str | None = None,
    include_hidden: bool = False,
) -> list[DownloadBoard] | None:
    """The boards of a snapshot (or one of them) with their public rows, for the downloads.

    None if the snapshot is not visible or has no such board."""
    summary = snapshot_summary(
        domain_slug=domain_slug, snapshot_id=snapshot_id, include_hidden=include_hidden
    )
    if summary is None:
        return None
    boards = SnapshotBoard.objects.filter(snapshot_id=summary.id).order_by("position")
    if board_key is not None:
        boards = boards.filter(key=board_key)
    found = list(boards.values_list("pk", "key", "title"))
    if not found:
        return None
    by_board: dict[int, list[EntryRow]] = defaultdict(list)
    for entry in (
        SnapshotEntry.objects.filter(board_id__in=[pk for pk, _, _ in found])
        .select_related("model_version__lab")
        .order_by("board_id", "position")
    ):
        by_board[entry.board_id].append(_entry_row(entry))
    return [DownloadBoard(key=key, title=title, entries=by_board[pk]) for pk, key, title in found]
