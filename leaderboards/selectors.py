"""Reads of the leaderboards: what the public may see (the recompute reads in recompute_inputs).

The public only ever reads published, visible snapshots. Nothing here returns prompt text except
`public_sample_prompts`, which returns only prompts staff marked as public samples.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import typing
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import Exists, F, Max, OuterRef, Prefetch, Q, Subquery

from annotation.models import ApprovedRating
from leaderboards.models import (
    OVERALL_KEY,
    EvaluationProgress,
    PublishedLeaderboard,
    RecomputeJob,
    Snapshot,
    SnapshotBoard,
    SnapshotChart,
    SnapshotEntry,
    SnapshotRatingsFile,
    SnapshotRatingsSource,
)
from leaderboards.public_cache import remembered
from seal.models import (
    Category,
    Domain,
    Lab,
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


def _spread_shown(rank: int | None, lower: int | None, upper: int | None) -> bool:
    """A rank spread is shown unless it is unknown or the rank itself in (nearly) every replica."""
    if lower is None or upper is None:
        return False
    return not (lower == upper == rank)


def _line(help_text: str = "", *, column: bool = True) -> Any:
    """A field of a model's line on a board. `help_text` is its description in the API schema;
    `column`: filled from the SnapshotEntry column of the same name."""
    return dataclasses.field(metadata={"help": help_text, "column": column})


@dataclass(frozen=True)
class EntryRow:
    """A model's line on one board: the one declaration of a line's fields, in their public order.

    The board JSON (EntrySerializer), a lab's results (LabResultSerializer), the CSV and Parquet
    downloads and the `results.published` webhook take their fields, types and descriptions from
    here (`LINE_FIELDS`); `_entry_row` fills it from the SnapshotEntry columns of the same names."""

    model_version_id: int = _line(column=False)
    model: str = _line(column=False)
    lab: str = _line(column=False)
    rank: int | None = _line("By Elo; null when not ranked")
    rank_with_uncertainty: int | None = _line("1 + models whose interval lies wholly above")
    elo: float | None = _line()
    lower: float | None = _line("95% interval, lower end")
    upper: float | None = _line("95% interval, upper end")
    n_ratings: int = _line()
    wins: int = _line()
    ties: int = _line()
    losses: int = _line()
    accuracy: float | None = _line("Auto-graded (math) only")
    accuracy_lower: float | None = _line()
    accuracy_upper: float | None = _line()
    accuracy_n: int | None = _line()
    contaminated: bool = _line("The lab had been sent some of this board's prompts before")
    few_ratings: bool = _line()
    not_ranked_reason: str | None = _line(
        'Why the model has no rank, e.g. "no losses yet"; null if ranked'
    )
    rank_lower: int | None = _line(
        "Rank spread, best end: the 2.5% quantile of the model's rank over the bootstrap replicas"
    )
    rank_upper: int | None = _line(
        "Rank spread, worst end: the 97.5% quantile of its rank over the replicas"
    )
    style_elo: float | None = _line("Style-controlled Elo (length and Markdown held equal)")
    style_lower: float | None = _line("Its 95% interval, lower end")
    style_upper: float | None = _line("Its 95% interval, upper end")
    style_rank: int | None = _line("Rank with uncertainty on the style-controlled view")
    style_rank_lower: int | None = _line("Rank spread on the style-controlled view, best end")
    style_rank_upper: int | None = _line("Rank spread on the style-controlled view, worst end")
    # What experts found (SnapshotEntry.diagnostics); None on entries written before it existed.
    # Not a scalar: the serializers describe its structure themselves.
    findings: dict[str, Any] | None = None

    @property
    def is_ranked(self) -> bool:
        return self.rank is not None

    @property
    def has_spread(self) -> bool:
        """The rank spread is known and says more than the rank: not that rank in every replica."""
        return _spread_shown(self.rank_with_uncertainty, self.rank_lower, self.rank_upper)

    @property
    def style_plus(self) -> float | None:
        if self.style_upper is None or self.style_elo is None:
            return None
        return self.style_upper - self.style_elo

    @property
    def style_minus(self) -> float | None:
        if self.style_lower is None or self.style_elo is None:
            return None
        return self.style_elo - self.style_lower

    @property
    def style_shift(self) -> float | None:
        """Style-controlled Elo minus plain Elo."""
        if self.style_elo is None or self.elo is None:
            return None
        return self.style_elo - self.elo

    @property
    def style_has_spread(self) -> bool:
        return _spread_shown(self.style_rank, self.style_rank_lower, self.style_rank_upper)

    @property
    def finding_scores(self) -> list[Finding]:
        """Mean score per rubric dimension, with its interval, in rubric order."""
        return [
            Finding(
                label=item["label"],
                estimate=Estimate(item["mean"], item["lower"], item["upper"]),
                count=item["n"],
            )
            for item in (self.findings or {}).get("dimensions", [])
        ]

    @property
    def finding_tags(self) -> list[Finding]:
        """Rate of each issue tag on this model's rated answers, highest first; tags seen only."""
        items = [item for item in (self.findings or {}).get("tags", []) if item["count"]]
        items.sort(key=lambda item: (-(item["rate"] or 0.0), item["label"]))
        return [
            Finding(
                label=item["label"],
                estimate=Estimate(item["rate"], item["lower"], item["upper"], percent=True),
                count=item["count"],
            )
            for item in items
        ]

    @property
    def answers_rated(self) -> int:
        return int((self.findings or {}).get("answers", 0))

    @property
    def vs_overall(self) -> StandingShift | None:
        """The category-minus-overall standing (category boards with both ranked), or None."""
        found = (self.findings or {}).get("vs_overall")
        if not found or found.get("difference") is None:
            return None
        return StandingShift(
            difference=found["difference"],
            lower=found["lower"],
            upper=found["upper"],
            mark=found.get("mark"),
        )

    @property
    def plus(self) -> float | None:
        return None if self.upper is None or self.elo is None else self.upper - self.elo

    @property
    def minus(self) -> float | None:
        return None if self.lower is None or self.elo is None else self.elo - self.lower


@dataclass(frozen=True)
class LineField:
    """A scalar field of a board line (EntryRow): its JSON type, nullability and description."""

    name: str
    kind: type
    nullable: bool
    help: str
    column: bool


def _line_fields() -> tuple[LineField, ...]:
    hints = typing.get_type_hints(EntryRow)
    found = []
    for item in dataclasses.fields(EntryRow):
        kinds = set(typing.get_args(hints[item.name])) or {hints[item.name]}
        nullable = type(None) in kinds
        kinds.discard(type(None))
        if len(kinds) == 1 and (kind := kinds.pop()) in (int, float, str, bool):
            found.append(
                LineField(item.name, kind, nullable, item.metadata["help"], item.metadata["column"])
            )
    return tuple(found)


# Every scalar field of a line, in order; the SnapshotEntry columns among them.
LINE_FIELDS = _line_fields()
ENTRY_COLUMNS = tuple(line.name for line in LINE_FIELDS if line.column)


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
class Estimate:
    """A mean or a rate with its 95% interval, for display; None where there is nothing."""

    value: float | None
    lower: float | None
    upper: float | None
    percent: bool = False

    def _format(self, number: float) -> str:
        return f"{100 * number:.0f}%" if self.percent else f"{number:.2f}"

    @property
    def text(self) -> str:
        return "—" if self.value is None else self._format(self.value)

    @property
    def range(self) -> str:
        if self.lower is None or self.upper is None:
            return ""
        return f"{self._format(self.lower)}–{self._format(self.upper)}"


@dataclass(frozen=True)
class Finding:
    label: str
    estimate: Estimate
    count: int


@dataclass(frozen=True)
class StandingShift:
    """Category Elo minus overall Elo (centred on the models ranked in both), 95% interval."""

    difference: float
    lower: float | None
    upper: float | None
    mark: str | None

    @property
    def text(self) -> str:
        return f"{self.difference:+.0f}"

    @property
    def range(self) -> str:
        if self.lower is None or self.upper is None:
            return ""
        return f"{self.lower:+.0f} to {self.upper:+.0f}"


@dataclass(frozen=True)
class FindingsRow:
    entry: EntryRow
    scores: list[Estimate]
    tags: list[Estimate]


def _entry_row(entry: SnapshotEntry) -> EntryRow:
    model = entry.model_version
    return EntryRow(
        model_version_id=model.pk,
        model=f"{model.name} {model.version}",
        lab=model.lab.name,
        findings=entry.diagnostics,
        **{name: getattr(entry, name) for name in ENTRY_COLUMNS},
    )


def _entries(board_id: int) -> list[EntryRow]:
    entries = (
        SnapshotEntry.objects.filter(board_id=board_id)
        .select_related("model_version__lab")
        .only(
            *ENTRY_COLUMNS,
            "diagnostics",
            "model_version",
            "model_version__name",
            "model_version__version",
            "model_version__lab__name",
        )
        .order_by("position")
    )
    return [_entry_row(entry) for entry in entries]


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
    """A lab's model on one board: where it is published, its line there (an empty line when not
    on a public board yet), and the issue tags raters gave its own answers."""

    model_version_id: int
    model_version: str
    domain: str
    board: str
    category: str | None
    snapshot_id: int | None
    published_at: datetime | None
    line: EntryRow
    issue_tags: dict[str, int]


# The line fields of a lab's results (the lab API), in their order there.
LAB_LINE = (
    "rank",
    "rank_with_uncertainty",
    "rank_lower",
    "rank_upper",
    "elo",
    "lower",
    "upper",
    "style_elo",
    "style_lower",
    "style_upper",
    "n_ratings",
    "accuracy",
    "accuracy_lower",
    "accuracy_upper",
)


# A line's columns with nothing published: null numbers, no ratings, flags off.
_EMPTY_LINE: dict[str, Any] = {
    line.name: None if line.nullable else line.kind() for line in LINE_FIELDS if line.column
}


def _empty_line(model: ModelVersion) -> EntryRow:
    """The line of a model on no public board: no numbers, no ratings, no flags."""
    return EntryRow(
        model_version_id=model.pk,
        model=f"{model.name} {model.version}",
        lab=model.lab.name,
        **_EMPTY_LINE,
    )


def lab_results(*, lab: Lab) -> list[LabResult]:
    """The lab's own models on every published board, with the issue tags raters gave *their*
    answers. Nothing about other labs' answers and no prompt text."""
    models = {
        model.pk: model
        for model in ModelVersion.objects.filter(lab=lab)
        .select_related("lab")
        .order_by("name", "pk")
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
        .select_related("board", "model_version__lab")
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
            line=_entry_row(entry),
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
            line=_empty_line(models[model_id]),
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


# The line fields a lab's `results.published` webhook carries per board (in this order).
WEBHOOK_LINE = (
    "rank",
    "rank_with_uncertainty",
    "elo",
    "lower",
    "upper",
    "n_ratings",
    "wins",
    "ties",
    "losses",
    "accuracy",
    "not_ranked_reason",
)


def snapshot_results_by_lab(*, snapshot: Snapshot) -> dict[Lab, dict[str, Any]]:
    """Per lab with a model on the snapshot's boards, the `results.published` webhook data: its
    own models' lines only (never another lab's, never prompt text)."""
    per_lab: dict[int, dict[int, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    models: dict[int, ModelVersion] = {}
    for entry in (
        SnapshotEntry.objects.filter(snapshot=snapshot)
        .select_related("model_version__lab", "board")
        .defer("board__data")
        .order_by("model_version_id", "board__position", "board_id")
    ):
        model = entry.model_version
        models[model.pk] = model
        per_lab[model.lab_id][model.pk].append(
            {
                "board": entry.board_key,
                "category": None if entry.board_key == OVERALL_KEY else entry.board.title,
                **{name: getattr(entry, name) for name in WEBHOOK_LINE},
            }
        )
    domain = Domain.objects.only("slug").get(pk=snapshot.domain_id)
    results: dict[Lab, dict[str, Any]] = {}
    for model_lines in per_lab.values():
        lab = models[next(iter(model_lines))].lab
        results[lab] = {
            "domain": domain.slug,
            "snapshot_id": snapshot.pk,
            "snapshot_created_at": snapshot.created_at.isoformat(),
            "ratings_through": (
                snapshot.ratings_through.isoformat() if snapshot.ratings_through else None
            ),
            "models": [
                {
                    "model_version_id": model_id,
                    "model_version": str(models[model_id]),
                    "boards": lines,
                }
                for model_id, lines in sorted(model_lines.items())
            ],
        }
    return results


# --- Evaluation progress (the lab API) ---------------------------------------------------------


def evaluation_progress_many(
    *, submission_ids: Iterable[int]
) -> dict[int, list[EvaluationProgress]]:
    """Each submission's per-domain evaluation progress (the caller scopes to one lab)."""
    result: dict[int, list[EvaluationProgress]] = {}
    rows = EvaluationProgress.objects.filter(submission_id__in=list(submission_ids))
    for row in rows.select_related("domain").order_by("submission_id", "domain__slug"):
        result.setdefault(row.submission_id, []).append(row)
    return result


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


@dataclass(frozen=True)
class SnapshotDiff:
    domain: DomainInfo
    board_key: str
    board_title: str
    before: SnapshotSummary
    after: SnapshotSummary
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
class ChangelogItem:
    """One snapshot in a domain's changelog, compared with the visible one before it."""

    domain: DomainInfo
    snapshot: SnapshotSummary
    previous_id: int | None
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
