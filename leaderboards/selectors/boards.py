"""The public boards: one board with its links and facets, the leaderboard index, the charts and the
public sample prompts.

The public only ever reads published, visible snapshots. Nothing here returns prompt text except
`public_sample_prompts`, which returns only prompts staff marked as public samples.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Prefetch

from leaderboards.models import (
    OVERALL_KEY,
    PublishedLeaderboard,
    Snapshot,
    SnapshotBoard,
    SnapshotChart,
    SnapshotEntry,
)
from leaderboards.public_cache import remembered
from leaderboards.selectors.findings import Estimate, Finding
from leaderboards.selectors.lines import EntryRow, _entries, _entry_row
from leaderboards.selectors.pointers import PublishedVersion, published_pointer
from seal.models import (
    Category,
    Domain,
    ModelVersion,
    Prompt,
    PromptSet,
)


def model_labels(*, model_ids: Iterable[int]) -> dict[int, str]:
    """Display names ("name version") of model versions, for charts."""
    return {
        pk: f"{name} {version}"
        for pk, name, version in ModelVersion.objects.filter(pk__in=list(model_ids)).values_list(
            "pk", "name", "version"
        )
    }


# --- What the public sees: published, visible snapshots only -----------------------------------


@dataclass(frozen=True)
class SnapshotInfo:
    id: int
    fingerprint: str
    created_at: datetime
    published_at: datetime
    ratings_through: datetime | None
    n_ratings: int
    n_prompts: int
    n_models: int
    agreement_alpha: float | None
    agreement_units: int | None
    config: dict[str, Any]

    @property
    def etag(self) -> str:
        return f'"{self.id}-{self.fingerprint[:16]}"'


@dataclass(frozen=True)
class BoardLink:
    id: int
    key: str
    title: str
    facet: str
    status: str
    status_detail: str
    n_ratings: int
    n_models: int

    @property
    def is_ranked(self) -> bool:
        return self.status == SnapshotBoard.Status.RANKED

    @property
    def is_overall(self) -> bool:
        return self.key == OVERALL_KEY

    @property
    def value(self) -> str:
        return self.title.split(": ", 1)[-1]


@dataclass(frozen=True)
class DomainInfo:
    id: int
    slug: str
    name: str
    description: str
    numeric: bool


@dataclass(frozen=True)
class FacetGroup:
    label: str
    boards: list[BoardLink]


@dataclass(frozen=True)
class BoardView:
    """One published board with everything its page and its JSON show."""

    domain: DomainInfo
    snapshot: SnapshotInfo
    board: BoardLink
    separability: float | None
    n_prompts: int
    entries: list[EntryRow]
    boards: list[BoardLink]
    style: dict[str, Any] | None = None

    @property
    def style_entries(self) -> list[EntryRow]:
        """Ranked entries with a style-controlled line, best style-controlled Elo first."""
        lines = [entry for entry in self.entries if entry.style_elo is not None]
        return sorted(lines, key=lambda entry: -(entry.style_elo or 0.0))

    @property
    def style_coefficients(self) -> list[dict[str, Any]]:
        """The published style coefficients that could be estimated on this board."""
        if not self.style:
            return []
        return [c for c in self.style.get("coefficients", []) if c.get("coefficient") is not None]

    # The board's part of what experts found (SnapshotBoard.data["findings"]), or None.
    findings: dict[str, Any] | None = None

    # Tag columns in the board's findings table: its main error sources.
    FINDING_TAG_COLUMNS = 3

    @property
    def error_sources(self) -> list[Finding]:
        """Issue tags by their rate over every rated answer on this board, highest first."""
        return [
            Finding(
                label=item["label"],
                estimate=Estimate(item["rate"], item["lower"], item["upper"], percent=True),
                count=item["count"],
            )
            for item in (self.findings or {}).get("error_sources", [])
        ]

    @property
    def finding_dimensions(self) -> list[dict[str, Any]]:
        return list((self.findings or {}).get("dimensions", []))

    @property
    def finding_tag_columns(self) -> list[dict[str, Any]]:
        sources = (self.findings or {}).get("error_sources", [])
        return list(sources[: self.FINDING_TAG_COLUMNS])

    @property
    def findings_rows(self) -> list[FindingsRow]:
        """One row per model with findings: its score means, then its rates of the top tags."""
        keys = [dimension["key"] for dimension in self.finding_dimensions]
        tag_keys = [tag["key"] for tag in self.finding_tag_columns]
        rows = []
        for entry in self.entries:
            if not entry.findings:
                continue
            scores = {item["key"]: item for item in entry.findings.get("dimensions", [])}
            tags = {item["key"]: item for item in entry.findings.get("tags", [])}
            rows.append(
                FindingsRow(
                    entry=entry,
                    scores=[
                        Estimate(scores[key]["mean"], scores[key]["lower"], scores[key]["upper"])
                        if key in scores
                        else Estimate(None, None, None)
                        for key in keys
                    ],
                    tags=[
                        Estimate(tags[key]["rate"], tags[key]["lower"], tags[key]["upper"], True)
                        if key in tags
                        else Estimate(None, None, None, True)
                        for key in tag_keys
                    ],
                )
            )
        return rows

    @property
    def facets(self) -> list[FacetGroup]:
        groups: dict[str, list[BoardLink]] = defaultdict(list)
        for link in self.boards:
            if not link.is_overall:
                groups[link.facet].append(link)
        return [
            FacetGroup(label=facet.replace("_", " ").capitalize(), boards=links)
            for facet, links in groups.items()
        ]

    @property
    def ranked_entries(self) -> list[EntryRow]:
        return [entry for entry in self.entries if entry.is_ranked]

    @property
    def unranked_entries(self) -> list[EntryRow]:
        return [entry for entry in self.entries if not entry.is_ranked]

    @property
    def has_contamination(self) -> bool:
        return any(entry.contaminated for entry in self.entries)

    @property
    def has_few_ratings(self) -> bool:
        return any(entry.few_ratings and entry.is_ranked for entry in self.entries)


def _domain_info(domain: Domain) -> DomainInfo:
    return DomainInfo(
        id=domain.pk,
        slug=domain.slug,
        name=domain.name,
        description=domain.description,
        numeric=domain.answer_grading == Domain.AnswerGrading.NUMERIC,
    )


def _snapshot_info(snapshot: Snapshot, published_at: datetime) -> SnapshotInfo:
    agreement = snapshot.agreement or {}
    return SnapshotInfo(
        id=snapshot.pk,
        fingerprint=snapshot.input_fingerprint,
        created_at=snapshot.created_at,
        published_at=published_at,
        ratings_through=snapshot.ratings_through,
        n_ratings=snapshot.n_ratings,
        n_prompts=snapshot.n_prompts,
        n_models=snapshot.n_models,
        agreement_alpha=agreement.get("alpha"),
        agreement_units=agreement.get("n_units"),
        config=snapshot.config,
    )


def _board_link(board: SnapshotBoard) -> BoardLink:
    return BoardLink(
        id=board.pk,
        key=board.key,
        title=board.title,
        facet=board.facet,
        status=board.status,
        status_detail=board.status_detail,
        n_ratings=board.n_ratings,
        n_models=board.n_models,
    )


@dataclass(frozen=True)
class FindingsRow:
    entry: EntryRow
    scores: list[Estimate]
    tags: list[Estimate]


def board_view(
    *, domain_slug: str, board_key: str = OVERALL_KEY, version: PublishedVersion | None = None
) -> BoardView | None:
    """A published board of a domain, or None if the domain or the board is not public.

    With `version`, the board of exactly that snapshot (what a page keyed by it must show, even
    if the pointer moved meanwhile); otherwise the one the pointer names now."""
    if version is None:
        pointer = published_pointer(domain_slug=domain_slug)
        if pointer is None:
            return None
        snapshot, published_at = pointer.snapshot, pointer.published_at
    else:
        found = (
            Snapshot.objects.filter(
                pk=version.snapshot_id,
                domain__slug=domain_slug,
                domain__is_active=True,
                is_published=True,
                is_hidden=False,
            )
            .select_related("domain")
            .first()
        )
        if found is None:
            return None
        snapshot, published_at = found, version.published_at
    return _board_view_of(snapshot, published_at, board_key)


def _board_findings(board_id: int) -> dict[str, Any] | None:
    """Only the findings part of a board's stored data (the rest is large and not needed)."""
    found = (
        SnapshotBoard.objects.filter(pk=board_id).values_list("data__findings", flat=True).first()
    )
    return found if isinstance(found, dict) else None


def board_stored(*, board_id: int) -> dict[str, Any]:
    """A board's win-rate matrices (model version ids index rows and columns) and the anchor
    of its Elo scale (None if not ranked)."""
    data = SnapshotBoard.objects.filter(pk=board_id).values_list("data", flat=True).first() or {}
    win_rates: dict[str, Any] = data.get("win_rates") or {
        "models": [],
        "empirical": [],
        "predicted": [],
    }
    return {"win_rates": win_rates, "anchor": data.get("anchor")}


@dataclass(frozen=True)
class DomainSummary:
    domain: DomainInfo
    snapshot: SnapshotInfo | None
    top: list[EntryRow]
    boards: list[BoardLink]

    @property
    def ranked_categories(self) -> int:
        return sum(1 for board in self.boards if board.is_ranked and not board.is_overall)


@dataclass(frozen=True)
class IndexVersion:
    """Every active domain's public snapshot and when it was switched to, read at once."""

    published: dict[int, tuple[int, datetime]]

    @property
    def key(self) -> str:
        """Changes whenever any domain's public snapshot does: the index's cache key and ETag."""
        return (
            "-".join(
                f"{domain}.{snapshot}.{at.timestamp():.6f}"
                for domain, (snapshot, at) in sorted(self.published.items())
            )
            or "none"
        )


def leaderboard_index_version() -> IndexVersion:
    """What the index shows right now (one query, or remembered as `published_version` is)."""
    return remembered("index", _leaderboard_index_version)


def _leaderboard_index_version() -> IndexVersion:
    rows = (
        PublishedLeaderboard.objects.filter(
            domain__is_active=True, snapshot__is_hidden=False, snapshot__is_published=True
        )
        .order_by()
        .values_list("domain_id", "snapshot_id", "published_at")
    )
    return IndexVersion({domain: (snapshot, at) for domain, snapshot, at in rows})


@dataclass(frozen=True)
class _Pointer:
    snapshot_id: int
    snapshot: Snapshot
    published_at: datetime


def leaderboard_index(*, version: IndexVersion | None = None) -> list[DomainSummary]:
    """Every active domain with its published snapshot (if any), its leaders and its boards.

    With `version`, exactly those snapshots (what an index keyed by it must show)."""
    version = version or leaderboard_index_version()
    domains = list(Domain.objects.filter(is_active=True).order_by("name"))
    snapshots = Snapshot.objects.in_bulk([snapshot for snapshot, _ in version.published.values()])
    pointers = {
        domain_id: _Pointer(snapshot_id, snapshots[snapshot_id], published_at)
        for domain_id, (snapshot_id, published_at) in version.published.items()
        if snapshot_id in snapshots
    }
    snapshot_ids = [pointer.snapshot_id for pointer in pointers.values()]
    boards: dict[int, list[BoardLink]] = defaultdict(list)
    overall_board: dict[int, int] = {}
    for board in (
        SnapshotBoard.objects.filter(snapshot_id__in=snapshot_ids)
        .defer("data")
        .order_by("position")
    ):
        boards[board.snapshot_id].append(_board_link(board))
        if board.key == OVERALL_KEY:
            overall_board[board.snapshot_id] = board.pk
    top: dict[int, list[EntryRow]] = defaultdict(list)
    for entry in (
        SnapshotEntry.objects.filter(
            board_id__in=overall_board.values(), position__lt=3, rank__isnull=False
        )
        .select_related("model_version__lab")
        .order_by("position")
    ):
        top[entry.snapshot_id].append(_entry_row(entry))
    result = []
    for domain in domains:
        pointer = pointers.get(domain.pk)
        result.append(
            DomainSummary(
                domain=_domain_info(domain),
                snapshot=_snapshot_info(pointer.snapshot, pointer.published_at)
                if pointer
                else None,
                top=top.get(pointer.snapshot_id, []) if pointer else [],
                boards=boards.get(pointer.snapshot_id, []) if pointer else [],
            )
        )
    return result


def public_chart_board(*, board_id: int) -> SnapshotBoard | None:
    """A ranked board of a visible snapshot of an active domain (whose charts may be shown)."""
    return (
        SnapshotBoard.objects.filter(
            pk=board_id,
            status=SnapshotBoard.Status.RANKED,
            snapshot__is_hidden=False,
            snapshot__is_published=True,
            snapshot__domain__is_active=True,
        )
        .defer("data")
        .first()
    )


def public_chart_svg(*, board_id: int, kind: str) -> str | None:
    """A stored chart of a visible snapshot, if drawn already (one query)."""
    return (
        SnapshotChart.objects.filter(
            board_id=board_id,
            kind=kind,
            board__snapshot__is_hidden=False,
            board__snapshot__is_published=True,
            board__snapshot__domain__is_active=True,
        )
        .values_list("svg", flat=True)
        .first()
    )


@dataclass(frozen=True)
class SamplePrompt:
    id: int
    domain: str
    external_id: str
    categories: list[str]
    text: str
    gold_answer: str


def public_sample_prompts() -> list[SamplePrompt]:
    """The prompts staff published as samples, and only those: every other prompt is private."""
    prompts = (
        Prompt.objects.filter(
            is_public_sample=True,
            prompt_set__domain__is_active=True,
            prompt_set__status__in=[PromptSet.Status.ACTIVE, PromptSet.Status.RETIRED],
        )
        .select_related("prompt_set__domain")
        .prefetch_related(Prefetch("categories", queryset=Category.objects.order_by("facet")))
        .order_by("prompt_set__domain__name", "pk")
    )
    return [
        SamplePrompt(
            id=prompt.pk,
            domain=prompt.prompt_set.domain.name,
            external_id=prompt.external_id,
            categories=[
                f"{category.facet_label}: {category.value}" for category in prompt.categories.all()
            ],
            text=prompt.text,
            gold_answer=prompt.gold_answer,
        )
        for prompt in prompts
    ]


def _board_view_of(snapshot: Snapshot, published_at: datetime, board_key: str) -> BoardView | None:
    boards = list(
        SnapshotBoard.objects.filter(snapshot_id=snapshot.pk).defer("data").order_by("position")
    )
    board = next((b for b in boards if b.key == board_key), None)
    if board is None:
        return None
    return BoardView(
        domain=_domain_info(snapshot.domain),
        snapshot=_snapshot_info(snapshot, published_at),
        board=_board_link(board),
        separability=board.separability,
        n_prompts=board.n_prompts,
        entries=_entries(board.pk),
        boards=[_board_link(b) for b in boards],
        style=board.style,
        findings=_board_findings(board.pk),
    )
