"""Reads of the leaderboards: the recompute's aggregated input, and what the public may see.

The public only ever reads published, visible snapshots. Nothing here returns prompt text except
`public_sample_prompts`, which returns only prompts staff marked as public samples.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Exists, F, Max, OuterRef, Prefetch, Q, Subquery

from annotation.models import ApprovedRating
from leaderboards.grading import numeric_answer_is_correct
from leaderboards.models import (
    OVERALL_KEY,
    PublishedLeaderboard,
    RecomputeJob,
    Snapshot,
    SnapshotBoard,
    SnapshotChart,
    SnapshotEntry,
    SnapshotRatingsFile,
)
from seal.models import Category, Domain, Lab, ModelVersion, Prompt, PromptSet, Response

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    IntArray = npt.NDArray[np.int64]

# numpy is imported by the functions that build the recompute's input (below), so that the web
# process, which reads published snapshots through this module, does not load it.

# --- The recompute's input, grouped by the database -----------------------------------------------

_COUNTS = {
    "wins_a": Count("pk", filter=Q(outcome=1.0)),
    "ties": Count("pk", filter=Q(outcome=0.5)),
    "wins_b": Count("pk", filter=Q(outcome=0.0)),
    # The strong ends of the 5-point scale: with the outcome counts they give every unit's
    # preference distribution, which is what the agreement statistic needs.
    "much_a": Count("pk", filter=Q(preference=2)),
    "much_b": Count("pk", filter=Q(preference=-2)),
}
_KEYS = ("prompt_id", "model_a_id", "model_b_id")


@dataclass(frozen=True, eq=False)
class CountRows:
    """Approved ratings grouped by (prompt, model_a, model_b), with outcome counts."""

    prompt: IntArray
    model_a: IntArray
    model_b: IntArray
    wins_a: IntArray
    ties: IntArray
    wins_b: IntArray
    much_a: IntArray
    much_b: IntArray

    FIELDS = ("prompt", "model_a", "model_b", "wins_a", "ties", "wins_b", "much_a", "much_b")

    @classmethod
    def from_matrix(cls, matrix: IntArray) -> CountRows:
        import numpy as np

        return cls(*(np.ascontiguousarray(matrix[:, i]) for i in range(len(cls.FIELDS))))

    @classmethod
    def empty(cls) -> CountRows:
        import numpy as np

        return cls.from_matrix(np.zeros((0, len(cls.FIELDS)), dtype=np.int64))

    @property
    def n_ratings(self) -> int:
        return int(self.wins_a.sum() + self.ties.sum() + self.wins_b.sum())

    def take(self, index: IntArray) -> CountRows:
        return CountRows(*(getattr(self, name)[index] for name in self.FIELDS))

    def sorted(self) -> CountRows:
        """Rows in (prompt, model_a, model_b) order, whatever order the database returned."""
        import numpy as np

        return self.take(np.lexsort((self.model_b, self.model_a, self.prompt)))

    def digest_update(self, digest: Any) -> None:
        import numpy as np

        for name in self.FIELDS:
            digest.update(np.ascontiguousarray(getattr(self, name), dtype=np.int64).tobytes())
            digest.update(b"|")


def _matrix(rows: list[tuple[int, ...]], width: int) -> IntArray:
    import numpy as np

    if not rows:
        return np.zeros((0, width), dtype=np.int64)
    return np.array(rows, dtype=np.int64).reshape(len(rows), width)


def approved_counts(*, domain_id: int) -> CountRows:
    """The domain's approved ratings as one row per (prompt, model_a, model_b): one query."""
    rows = (
        ApprovedRating.objects.filter(domain_id=domain_id)
        .order_by()
        .values(*_KEYS)
        .annotate(**_COUNTS)
        .values_list(*_KEYS, *_COUNTS)
    )
    return CountRows.from_matrix(_matrix(list(rows), 8))


@dataclass(frozen=True, eq=False)
class RatingRows:
    """The domain's approved ratings, one per row, as parallel arrays (no text, no identity but
    the annotator's id, which the ratings file replaces by a per-snapshot pseudonym)."""

    prompt: IntArray
    model_a: IntArray
    model_b: IntArray
    preference: IntArray
    outcome: npt.NDArray[np.float64]
    annotator: IntArray

    def __len__(self) -> int:
        return len(self.prompt)


def _season(prompt_set_id: int | None, prefix: str = "prompt__") -> dict[str, int]:
    """The filter that keeps a season's rows: those on prompts of its prompt set (all if None)."""
    return {} if prompt_set_id is None else {f"{prefix}prompt_set_id": prompt_set_id}


def current_season(*, domain_id: int) -> tuple[int, str] | None:
    """The domain's active prompt set (id, version): the season a recompute computes now."""
    return (
        PromptSet.objects.filter(domain_id=domain_id, status=PromptSet.Status.ACTIVE)
        .values_list("pk", "version")
        .first()
    )


def approved_rating_rows(*, domain_id: int, prompt_set_id: int | None = None) -> RatingRows:
    """Every approved rating of the domain (of one season if given): one query, plain tuples."""
    import numpy as np

    rows = list(
        ApprovedRating.objects.filter(domain_id=domain_id, **_season(prompt_set_id))
        .order_by()
        .values_list(
            "prompt_id", "model_a_id", "model_b_id", "preference", "annotator_id", "outcome"
        )
    )
    if not rows:
        ints = np.zeros((0, 5), dtype=np.int64)
        outcome = np.zeros(0, dtype=np.float64)
    else:
        columns = list(zip(*rows, strict=True))
        ints = np.array(columns[:5], dtype=np.int64).T
        outcome = np.array(columns[5], dtype=np.float64)
    return RatingRows(
        prompt=np.ascontiguousarray(ints[:, 0]),
        model_a=np.ascontiguousarray(ints[:, 1]),
        model_b=np.ascontiguousarray(ints[:, 2]),
        preference=np.ascontiguousarray(ints[:, 3]),
        outcome=outcome,
        annotator=np.ascontiguousarray(ints[:, 4]),
    )


def approved_counts_by_category(*, domain_id: int) -> tuple[CountRows, IntArray]:
    """The same rows for every category board at once, joined through the prompts' categories.

    Returns the rows and, aligned with them, the category id of each (a prompt in two
    categories contributes its rows to both)."""
    rows = (
        ApprovedRating.objects.filter(domain_id=domain_id, prompt__categories__isnull=False)
        .order_by()
        .values("prompt__categories", *_KEYS)
        .annotate(**_COUNTS)
        .values_list("prompt__categories", *_KEYS, *_COUNTS)
    )
    import numpy as np

    matrix = _matrix(list(rows), 9)
    return CountRows.from_matrix(matrix[:, 1:]), np.ascontiguousarray(matrix[:, 0])


def approved_summary(*, domain_id: int, prompt_set_id: int | None = None) -> datetime | None:
    """When the latest rating counted for the domain (the season) was finally approved."""
    latest: datetime | None = ApprovedRating.objects.filter(
        domain_id=domain_id, **_season(prompt_set_id)
    ).aggregate(latest=Max("approved_at"))["latest"]
    return latest


def domain_categories(*, domain_id: int) -> list[tuple[int, str, str, str]]:
    """(id, facet, value, slug) of every category of the domain, in display order."""
    return list(
        Category.objects.filter(domain_id=domain_id)
        .order_by("facet", "value")
        .values_list("pk", "facet", "value", "slug")
    )


def prompt_category_pairs(*, domain_id: int) -> list[tuple[int, int]]:
    """(prompt id, category id) of every categorised prompt of the domain."""
    through = Prompt.categories.through
    return list(
        through.objects.filter(category__domain_id=domain_id).values_list(
            "prompt_id", "category_id"
        )
    )


def graded_answers(
    *, domain_id: int, model_ids: list[int], prompt_set_id: int | None = None
) -> list[tuple[int, int, int]]:
    """(model, prompt, 1 if correct else 0) for every collected answer to a gold-answer prompt
    (of the season's prompt set if given)."""
    answers = (
        Response.objects.filter(
            **_season(prompt_set_id),
            prompt__prompt_set__domain_id=domain_id,
            status=Response.Status.OK,
            model_version_id__in=model_ids,
        )
        .exclude(prompt__gold_answer="")
        .order_by()
        .values_list("model_version_id", "prompt_id", "text", "prompt__gold_answer")
        .iterator(chunk_size=2000)
    )
    return [
        (model, prompt, int(numeric_answer_is_correct(response_text=text, gold_answer=gold)))
        for model, prompt, text, gold in answers
    ]


def model_labels(*, model_ids: Iterable[int]) -> dict[int, str]:
    """Display names ("name version") of model versions, for charts."""
    return {
        pk: f"{name} {version}"
        for pk, name, version in ModelVersion.objects.filter(pk__in=list(model_ids)).values_list(
            "pk", "name", "version"
        )
    }


def exposed_answers(
    *, domain_id: int, model_ids: list[int], prompt_set_id: int | None = None
) -> list[tuple[int, int]]:
    """(model, prompt) of answers given after the model's lab had already been sent the prompt."""
    return list(
        Response.objects.filter(
            **_season(prompt_set_id),
            prompt__prompt_set__domain_id=domain_id,
            model_version_id__in=model_ids,
            lab_previously_exposed=True,
        )
        .order_by()
        .values_list("model_version_id", "prompt_id")
    )


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
class EntryRow:
    model_version_id: int
    model: str
    lab: str
    rank: int | None
    rank_with_uncertainty: int | None
    elo: float | None
    lower: float | None
    upper: float | None
    n_ratings: int
    wins: int
    ties: int
    losses: int
    accuracy: float | None
    accuracy_lower: float | None
    accuracy_upper: float | None
    accuracy_n: int | None
    contaminated: bool
    few_ratings: bool
    not_ranked_reason: str | None = None

    @property
    def is_ranked(self) -> bool:
        return self.rank is not None

    @property
    def plus(self) -> float | None:
        return None if self.upper is None or self.elo is None else self.upper - self.elo

    @property
    def minus(self) -> float | None:
        return None if self.lower is None or self.elo is None else self.elo - self.lower

    @property
    def tied(self) -> bool:
        """Ranked by Elo below others it cannot be told apart from."""
        return self.rank is not None and self.rank != self.rank_with_uncertainty


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


def _entry_row(entry: SnapshotEntry) -> EntryRow:
    model = entry.model_version
    return EntryRow(
        model_version_id=model.pk,
        model=f"{model.name} {model.version}",
        lab=model.lab.name,
        rank=entry.rank,
        rank_with_uncertainty=entry.rank_with_uncertainty,
        elo=entry.elo,
        lower=entry.lower,
        upper=entry.upper,
        n_ratings=entry.n_ratings,
        wins=entry.wins,
        ties=entry.ties,
        losses=entry.losses,
        accuracy=entry.accuracy,
        accuracy_lower=entry.accuracy_lower,
        accuracy_upper=entry.accuracy_upper,
        accuracy_n=entry.accuracy_n,
        contaminated=entry.contaminated,
        few_ratings=entry.few_ratings,
        not_ranked_reason=entry.not_ranked_reason,
    )


def _entries(board_id: int) -> list[EntryRow]:
    entries = (
        SnapshotEntry.objects.filter(board_id=board_id)
        .select_related("model_version__lab")
        .only(
            *(f.name for f in SnapshotEntry._meta.concrete_fields if f.name != "snapshot"),
            "model_version__name",
            "model_version__version",
            "model_version__lab__name",
        )
        .order_by("position")
    )
    return [_entry_row(entry) for entry in entries]


def published_board_elo(*, domain_id: int) -> tuple[int | None, dict[str, dict[int, float]]]:
    """The published snapshot of a domain and the Elo of each ranked model on each of its boards.

    A recompute anchors its scale on these, so that models ranked in both keep their numbers.
    """
    pointer = PublishedLeaderboard.objects.filter(domain_id=domain_id).first()
    if pointer is None:
        return None, {}
    boards: dict[str, dict[int, float]] = defaultdict(dict)
    rows = SnapshotEntry.objects.filter(
        snapshot_id=pointer.snapshot_id, rank__isnull=False, elo__isnull=False
    ).values_list("board_key", "model_version_id", "elo")
    for board_key, model_id, elo in rows:
        if elo is not None:
            boards[board_key][model_id] = elo
    return pointer.snapshot_id, dict(boards)


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
    """Whether a snapshot has a ratings file (snapshots published before files were kept do not)."""
    return SnapshotRatingsFile.objects.filter(snapshot_id=snapshot_id).exists()


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
    """The domain's public snapshot, read fresh (one indexed query): pages key their cache by it.

    Never remembered: a pointer moved by any means is seen by the very next request."""
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


def public_domain_exists(*, domain_slug: str) -> bool:
    """Whether an active domain has this slug."""
    return Domain.objects.filter(slug=domain_slug, is_active=True).exists()


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
    )


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
    """What the index shows right now, read fresh (one query): the index is keyed by it."""
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


@dataclass(frozen=True)
class HistoryPoint:
    snapshot_id: int
    created_at: datetime
    elo: float
    lower: float
    upper: float
    rank: int | None
    rank_with_uncertainty: int | None


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
    for snapshot_id, domain_id, created_at, elo, lower, upper, rank, rank_ub in (
        SnapshotEntry.objects.filter(
            model_version_id=model_version_id,
            board_key=OVERALL_KEY,
            snapshot__is_hidden=False,
            snapshot__is_published=True,
            snapshot__domain_id__in=domain_names,
            elo__isnull=False,
        )
        .order_by("snapshot__created_at", "snapshot_id")
        .values_list(
            "snapshot_id",
            "snapshot__domain_id",
            "snapshot__created_at",
            "elo",
            "lower",
            "upper",
            "rank",
            "rank_with_uncertainty",
        )
    ):
        if elo is None or lower is None or upper is None:
            continue
        history[domain_names[domain_id]].append(
            HistoryPoint(snapshot_id, created_at, elo, lower, upper, rank, rank_ub)
        )
    return ModelView(
        id=model.pk,
        name=f"{model.name} {model.version}",
        lab=model.lab.name,
        standings=standings,
        history=dict(history),
    )


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


# --- A lab's own results (lab API) ---------------------------------------------------------------


@dataclass(frozen=True)
class LabResult:
    model_version_id: int
    model_version: str
    domain: str
    board: str
    category: str | None
    snapshot_id: int | None
    published_at: datetime | None
    rank: int | None
    rank_with_uncertainty: int | None
    elo: float | None
    lower: float | None
    upper: float | None
    n_ratings: int
    accuracy: float | None
    accuracy_lower: float | None
    accuracy_upper: float | None
    issue_tags: dict[str, int]


def lab_results(*, lab: Lab) -> list[LabResult]:
    """The lab's own models on every published board, with the issue tags raters gave *their*
    answers. Nothing about other labs' answers and no prompt text."""
    models = {
        model.pk: model for model in ModelVersion.objects.filter(lab=lab).order_by("name", "pk")
    }
    if not models:
        return []
    pointers = {
        pointer.snapshot_id: pointer
        for pointer in PublishedLeaderboard.objects.filter(
            domain__is_active=True, snapshot__is_hidden=False
        ).select_related("domain")
    }
    rows: dict[tuple[int, int, str], LabResult] = {}
    for entry in (
        SnapshotEntry.objects.filter(model_version_id__in=models, snapshot_id__in=pointers)
        .select_related("board")
        .defer("board__data")
        .order_by("model_version_id", "board__position")
    ):
        pointer = pointers[entry.snapshot_id]
        rows[(entry.model_version_id, pointer.domain_id, entry.board_key)] = LabResult(
            model_version_id=entry.model_version_id,
            model_version=str(models[entry.model_version_id]),
            domain=pointer.domain.slug,
            board=entry.board_key,
            category=None if entry.board.key == OVERALL_KEY else entry.board.title,
            snapshot_id=entry.snapshot_id,
            published_at=pointer.published_at,
            rank=entry.rank,
            rank_with_uncertainty=entry.rank_with_uncertainty,
            elo=entry.elo,
            lower=entry.lower,
            upper=entry.upper,
            n_ratings=entry.n_ratings,
            accuracy=entry.accuracy,
            accuracy_lower=entry.accuracy_lower,
            accuracy_upper=entry.accuracy_upper,
            issue_tags={},
        )
    tags = _own_issue_tags(list(models))
    unpublished = {key for key in tags if key not in rows}
    domains = dict(
        Domain.objects.filter(pk__in={key[1] for key in unpublished}).values_list("pk", "slug")
    )
    titles = {
        (domain_id, slug): f"{facet.replace('_', ' ').capitalize()}: {value}"
        for domain_id, slug, facet, value in Category.objects.filter(
            domain_id__in=domains
        ).values_list("domain_id", "slug", "facet", "value")
    }
    for key in sorted(unpublished):
        model_id, domain_id, board_key = key
        rows[key] = LabResult(
            model_version_id=model_id,
            model_version=str(models[model_id]),
            domain=domains[domain_id],
            board=board_key,
            category=None if board_key == OVERALL_KEY else titles.get((domain_id, board_key)),
            snapshot_id=None,
            published_at=None,
            rank=None,
            rank_with_uncertainty=None,
            elo=None,
            lower=None,
            upper=None,
            n_ratings=0,
            accuracy=None,
            accuracy_lower=None,
            accuracy_upper=None,
            issue_tags={},
        )
    for key, counter in tags.items():
        rows[key].issue_tags.update(sorted(counter.items()))
    return sorted(
        rows.values(),
        key=lambda row: (row.model_version_id, row.domain, row.board != OVERALL_KEY, row.board),
    )


def _own_issue_tags(model_ids: list[int]) -> dict[tuple[int, int, str], Counter[str]]:
    """Issue tags on the lab's own answers: tags_a where its model was A, tags_b where B."""
    categories: dict[int, list[str]] = defaultdict(list)
    counts: dict[tuple[int, int, str], Counter[str]] = defaultdict(Counter)
    ratings: list[tuple[int, int, int, Any]] = []
    for model_field, tags_field in (("model_a_id", "issue_tags_a"), ("model_b_id", "issue_tags_b")):
        ratings.extend(
            ApprovedRating.objects.filter(**{f"{model_field}__in": model_ids})
            .exclude(**{tags_field: []})
            .order_by()
            .values_list(model_field, "domain_id", "prompt_id", tags_field)
        )
    prompt_ids = {prompt_id for _, _, prompt_id, _ in ratings}
    for prompt_id, slug in Prompt.categories.through.objects.filter(
        prompt_id__in=prompt_ids
    ).values_list("prompt_id", "category__slug"):
        categories[prompt_id].append(slug)
    for model_id, domain_id, prompt_id, tags in ratings:
        keys = [OVERALL_KEY, *categories.get(prompt_id, [])]
        for key in keys:
            counts[(model_id, domain_id, key)].update(str(tag) for tag in tags or [])
    return counts


def domains_with_unrequested_approvals() -> list[Domain]:
    """Active domains with a final approval newer than their last recompute request and no job
    queued or running: the approval's request message was lost."""
    last_approval = (
        ApprovedRating.objects.filter(domain=OuterRef("pk"))
        .order_by("-approved_at")
        .values("approved_at")[:1]
    )
    last_request = (
        RecomputeJob.objects.filter(domain=OuterRef("pk"))
        .order_by("-requested_at")
        .values("requested_at")[:1]
    )
    active_job = RecomputeJob.objects.filter(
        domain=OuterRef("pk"), status__in=RecomputeJob.ACTIVE_STATUSES
    )
    return list(
        Domain.objects.filter(is_active=True)
        .annotate(last_approval=Subquery(last_approval), last_request=Subquery(last_request))
        .filter(last_approval__isnull=False)
        .filter(Q(last_request__isnull=True) | Q(last_request__lt=F("last_approval")))
        .exclude(Exists(active_job))
    )
