"""A lab's own results (the lab API), the `results.published` webhook's lines and the evaluation
progress.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from annotation.models import ApprovedRating
from leaderboards.models import (
    OVERALL_KEY,
    EvaluationProgress,
    PublishedLeaderboard,
    Snapshot,
    SnapshotEntry,
)
from leaderboards.selectors.lines import LINE_FIELDS, EntryRow, _entry_row
from seal.models import (
    Category,
    Domain,
    Lab,
    ModelVersion,
    Prompt,
)

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
