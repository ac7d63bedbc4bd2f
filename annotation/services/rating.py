"""The rating workflow: submit a rating, two review layers, final approval and what it freezes.

Locking order, to stay free of deadlocks: an assignment row before its task row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from annotation.answer_sums import (
    answer_sums_add,
    answer_sums_decode,
    answer_sums_encode,
    answer_sums_keys,
)
from annotation.models import (
    AnnotatorProfile,
    ApprovedAnswerSums,
    ApprovedRating,
    Assignment,
    ComparisonTask,
)
from annotation.selectors import (
    justification_minimum,
    lab_conflict,
    prompt_is_rated,
    response_is_rated,
)
from annotation.services.scheduling import (
    _assignment_release,
    _own_assignment_locked,
    _task_slots_recount,
)
from annotation.services.vetting import _qualification_evaluate
from scales.preference import PREFERENCE_VALUES
from seal.errors import ApplicationError
from seal.models import Domain, Prompt, Response
from seal.prompt_import import content_hash
from seal.rubrics import Rubric
from seal.services import answer_html_render, response_style_recount
from seal.task_names import LEADERBOARD_RECOMPUTE_REQUESTED
from seal.tasking import task_send_on_commit

# What a rater saw of a prompt (and where it counts): frozen once a final rating cites it. The
# gold answer, categories, external id and public-sample flag classify or publish it; they stay.
PROMPT_FROZEN_FIELDS = ("text", "content_hash", "prompt_set")
# A rated answer is frozen whole but for the link to its submission (set null if one is deleted).
RESPONSE_EDITABLE_FIELDS = ("submission",)


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


def preference_outcome(preference: int) -> float:
    """The Bradley–Terry outcome of a preference for response A: 1 win, 0.5 tie, 0 loss."""
    return {1: 1.0, 0: 0.5, -1: 0.0}[_sign(preference)]


# --- rating -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RatingInput:
    """A rating as the annotator saw the screen: left is the answer shown on the left."""

    preference: int | None
    scores_left: Mapping[str, int | None] = field(default_factory=dict)
    scores_right: Mapping[str, int | None] = field(default_factory=dict)
    tags_left: Sequence[str] = ()
    tags_right: Sequence[str] = ()
    justification: str = ""


def rating_validate(*, rubric: Rubric, rating: RatingInput) -> dict[str, list[str]]:
    """Check a rating against its domain's rubric; the errors are keyed by form field."""
    errors: dict[str, list[str]] = {}
    if rating.preference is None:
        errors["preference"] = ["Choose which answer is better (or a tie)"]
    elif rating.preference not in PREFERENCE_VALUES:
        errors["preference"] = ["Must be one of the five preference options"]
    for side, scores in (("left", rating.scores_left), ("right", rating.scores_right)):
        for key in sorted(set(scores) - set(rubric.dimension_keys)):
            errors[f"score_{side}_{key}"] = ["Not a dimension of this rubric"]
        for dimension in rubric.dimensions:
            value = scores.get(dimension.key)
            name = f"score_{side}_{dimension.key}"
            if value is None:
                errors[name] = [f"Score {dimension.label} for this answer"]
            elif not dimension.scale.contains(value):
                errors[name] = [f"Must be between {dimension.scale.min} and {dimension.scale.max}"]
    for side, tags in (("left", rating.tags_left), ("right", rating.tags_right)):
        unknown = sorted(set(tags) - set(rubric.issue_tag_keys))
        if unknown:
            errors[f"tags_{side}"] = [f"Unknown issue tags: {', '.join(unknown)}"]
    minimum = justification_minimum(rubric=rubric)
    if len(rating.justification.strip()) < minimum:
        errors["justification"] = [f"Write at least {minimum} characters explaining your choice"]
    return errors


def rating_submit(
    *,
    assignment_id: int,
    profile: AnnotatorProfile,
    rating: RatingInput,
    now: datetime | None = None,
) -> Assignment:
    """Submit a rating for review: validated against the rubric, stored in model terms."""
    now = now or timezone.now()
    lease_lapsed = False
    with transaction.atomic():
        assignment = _own_assignment_locked(assignment_id, profile)
        if assignment.status == Assignment.Status.LEASED and assignment.lease_expires_at <= now:
            _assignment_release(assignment_id=assignment.pk, status=Assignment.Status.EXPIRED)
            lease_lapsed = True
        elif assignment.status == Assignment.Status.EXPIRED:
            lease_lapsed = True
    if lease_lapsed:
        raise ApplicationError(
            f"Your lease on this comparison expired at "
            f"{assignment.lease_expires_at:%H:%M UTC}; it has gone back to the pool and your "
            "rating was not submitted."
        )
    if assignment.status != Assignment.Status.LEASED:
        raise ApplicationError(
            f"This comparison is no longer in progress ({assignment.get_status_display().lower()})"
        )

    rubric = assignment.task.domain.parsed_rubric
    errors = rating_validate(rubric=rubric, rating=rating)
    if errors:
        raise ApplicationError("Please correct the highlighted fields", field_errors=errors)
    assert rating.preference is not None  # rating_validate refused None

    # Screen order back to model terms: "left better" means A better only when A was on the left.
    flip = 1 if assignment.left_is_a else -1
    a_side, b_side = ("left", "right") if assignment.left_is_a else ("right", "left")
    sides = {
        "left": (dict(rating.scores_left), sorted(set(rating.tags_left))),
        "right": (dict(rating.scores_right), sorted(set(rating.tags_right))),
    }
    with transaction.atomic():
        assignment = _own_assignment_locked(assignment_id, profile)
        if assignment.status != Assignment.Status.LEASED:
            raise ApplicationError("This comparison is no longer in progress")
        assignment.preference = rating.preference * flip
        assignment.scores = {"a": sides[a_side][0], "b": sides[b_side][0]}
        assignment.issue_tags = {"a": sides[a_side][1], "b": sides[b_side][1]}
        assignment.justification = rating.justification.strip()
        assignment.submitted_at = now
        assignment.status = Assignment.Status.SUBMITTED
        assignment.draft = {}
        if assignment.is_gold:
            expected = assignment.task.gold_expected_preference
            assignment.gold_correct = expected is not None and _sign(
                assignment.preference
            ) == _sign(expected)
        assignment._history_user = profile.user  # type: ignore[attr-defined]
        assignment.save()
        if assignment.is_gold and profile.is_qualifying:
            _qualification_evaluate(AnnotatorProfile.objects.select_for_update().get(pk=profile.pk))
    return assignment


# --- review -----------------------------------------------------------------------------------


def _review_locked(*, assignment_id: int, reviewer: AnnotatorProfile, layer: int) -> Assignment:
    if layer not in (1, 2):
        raise ApplicationError("The review layer is 1 or 2")
    if not reviewer.is_vetted:
        raise ApplicationError("Only vetted reviewers can review")
    if not reviewer.reviews_layer(layer):
        raise ApplicationError(f"You are not a layer-{layer} reviewer")
    assignment = (
        Assignment.objects.select_for_update(of=("self",))
        .filter(pk=assignment_id, is_gold=False, task__domain__in=reviewer.domains.all())
        .first()
    )
    if assignment is None:
        raise ApplicationError("No such rating to review")
    expected = Assignment.Status.SUBMITTED if layer == 1 else Assignment.Status.LAYER1_APPROVED
    if assignment.status != expected:
        raise ApplicationError(
            f"This rating is {assignment.get_status_display().lower()}; it is not waiting for "
            f"layer-{layer} review"
        )
    if assignment.annotator_id == reviewer.pk:
        raise ApplicationError("You cannot review your own rating")
    if layer == 2 and assignment.layer1_reviewer_id == reviewer.pk:
        raise ApplicationError(
            "The final review must be by someone other than the layer-1 reviewer"
        )
    conflict = lab_conflict(profile=reviewer)
    if conflict is not None and (
        ComparisonTask.objects.filter(conflict, pk=assignment.task_id).exists()
    ):
        raise ApplicationError(
            "You are tied to a lab whose model is in this comparison; someone else reviews it"
        )
    return assignment


def _review_record(
    assignment: Assignment,
    *,
    reviewer: AnnotatorProfile,
    layer: int,
    decision: str,
    reason: str,
    now: datetime,
) -> None:
    """Write one layer's decision onto the (locked) assignment; the caller sets the status."""
    setattr(assignment, f"layer{layer}_reviewer", reviewer)
    setattr(assignment, f"layer{layer}_decision", decision)
    setattr(assignment, f"layer{layer}_reason", reason)
    setattr(assignment, f"layer{layer}_at", now)
    assignment._history_user = reviewer.user  # type: ignore[attr-defined]


def review_approve(
    *, assignment_id: int, reviewer: AnnotatorProfile, layer: int, now: datetime | None = None
) -> Assignment:
    """Approve a rating at a layer; final (layer-2) approval makes it count and freezes it."""
    now = now or timezone.now()
    with transaction.atomic():
        assignment = _review_locked(assignment_id=assignment_id, reviewer=reviewer, layer=layer)
        _review_record(
            assignment,
            reviewer=reviewer,
            layer=layer,
            decision=Assignment.Decision.APPROVED,
            reason="",
            now=now,
        )
        if layer == 1:
            assignment.status = Assignment.Status.LAYER1_APPROVED
            assignment.save()
            return assignment
        assignment.approved_at = now
        assignment.status = Assignment.Status.APPROVED
        assignment.save()
        task = ComparisonTask.objects.select_related("response_a", "response_b", "domain").get(
            pk=assignment.task_id
        )
        assert assignment.preference is not None  # submitted ratings always have one
        rating = ApprovedRating.objects.create(
            assignment=assignment,
            task=task,
            domain_id=task.domain_id,
            prompt_id=task.prompt_id,
            model_a_id=task.response_a.model_version_id,
            model_b_id=task.response_b.model_version_id,
            annotator_id=assignment.annotator_id,
            preference=assignment.preference,
            outcome=preference_outcome(assignment.preference),
            issue_tags_a=assignment.issue_tags.get("a", []),
            issue_tags_b=assignment.issue_tags.get("b", []),
            scores_a=assignment.scores.get("a", {}),
            scores_b=assignment.scores.get("b", {}),
            approved_at=now,
        )
        _answer_sums_record(rating, task.domain.parsed_rubric)
        _task_slots_recount(task_id=task.pk)
        task_send_on_commit(LEADERBOARD_RECOMPUTE_REQUESTED, task.domain_id)
    return assignment


def _answer_sums_record(rating: ApprovedRating, rubric: Rubric) -> None:
    # Same transaction as the copy: the totals never miss or double an approved rating. The
    # row of a (prompt, model) is created if missing (a concurrent approval may create it
    # first: ignore_conflicts) and then locked, so two approvals add up instead of racing.
    # Rows are locked in model id order, so two approvals of the same prompt never deadlock.
    names = answer_sums_keys(rubric.dimension_keys, rubric.issue_tag_keys)
    for model_id, scores, tags in sorted(
        [
            (rating.model_a_id, rating.scores_a, rating.issue_tags_a),
            (rating.model_b_id, rating.scores_b, rating.issue_tags_b),
        ],
        key=lambda side: side[0],
    ):
        key = {"domain_id": rating.domain_id, "prompt_id": rating.prompt_id}
        ApprovedAnswerSums.objects.bulk_create(
            [ApprovedAnswerSums(**key, model_version_id=model_id)], ignore_conflicts=True
        )
        row = ApprovedAnswerSums.objects.select_for_update().get(**key, model_version_id=model_id)
        sums = answer_sums_decode(row.keys, row.totals)
        answer_sums_add(sums, scores, tags)
        row.answers += 1
        row.keys, row.totals = answer_sums_encode(sums, names)
        row.save(update_fields=["answers", "keys", "totals"])


def approved_answer_sums_rebuild(*, domain_id: int) -> int:
    """Recount the per (prompt, model) answer totals of a domain from its approved ratings."""
    rubric = Domain.objects.get(pk=domain_id).parsed_rubric
    with transaction.atomic():
        answers: dict[tuple[int, int], int] = {}
        totals: dict[tuple[int, int], dict[str, float]] = {}
        rows = ApprovedRating.objects.filter(domain_id=domain_id).values_list(
            "prompt_id",
            "model_a_id",
            "model_b_id",
            "scores_a",
            "scores_b",
            "issue_tags_a",
            "issue_tags_b",
        )
        for prompt_id, model_a, model_b, scores_a, scores_b, tags_a, tags_b in rows.iterator(
            chunk_size=5000
        ):
            for model_id, scores, tags in (
                (model_a, scores_a, tags_a),
                (model_b, scores_b, tags_b),
            ):
                answers[(prompt_id, model_id)] = answers.get((prompt_id, model_id), 0) + 1
                answer_sums_add(totals.setdefault((prompt_id, model_id), {}), scores, tags)
        # One layout for the whole domain: the rubric's totals and any other seen.
        names = answer_sums_keys(rubric.dimension_keys, rubric.issue_tag_keys)
        names |= {name for sums in totals.values() for name in sums}
        ApprovedAnswerSums.objects.filter(domain_id=domain_id).delete()
        ApprovedAnswerSums.objects.bulk_create(
            (
                ApprovedAnswerSums(
                    domain_id=domain_id,
                    prompt_id=prompt_id,
                    model_version_id=model_id,
                    answers=count,
                    keys=encoded[0],
                    totals=encoded[1],
                )
                for (prompt_id, model_id), count in answers.items()
                for encoded in [answer_sums_encode(totals[(prompt_id, model_id)], names)]
            ),
            batch_size=2000,
        )
    return len(answers)


def review_reject(
    *,
    assignment_id: int,
    reviewer: AnnotatorProfile,
    layer: int,
    reason: str,
    now: datetime | None = None,
) -> Assignment:
    """Reject a rating at a layer: it is voided and its slot reopens for another annotator."""
    if not reason.strip():
        raise ApplicationError(
            "Say why the rating is rejected; the annotator sees it",
            field_errors={"reason": ["required"]},
        )
    now = now or timezone.now()
    with transaction.atomic():
        assignment = _review_locked(assignment_id=assignment_id, reviewer=reviewer, layer=layer)
        _review_record(
            assignment,
            reviewer=reviewer,
            layer=layer,
            decision=Assignment.Decision.REJECTED,
            reason=reason.strip(),
            now=now,
        )
        assignment.status = Assignment.Status.REJECTED
        assignment.save()
        _task_slots_recount(task_id=assignment.task_id)
    return assignment


# --- Editing what final ratings cite ------------------------------------------------------------


def _frozen_refusal(noun: str, fields: list[str]) -> ApplicationError:
    names = ", ".join(name.replace("_", " ") for name in fields)
    return ApplicationError(
        f"A final rating cites this {noun}: its {names} can no longer change",
        field_errors={name: [f"Frozen: a final rating cites this {noun}."] for name in fields},
    )


def prompt_edit(*, prompt: Prompt, changes: Mapping[str, Any]) -> Prompt:
    """Change a prompt's fields; its text and set are refused once a final rating cites it."""
    with transaction.atomic():
        locked = Prompt.objects.select_for_update().get(pk=prompt.pk)
        changed = {name: value for name, value in changes.items() if getattr(locked, name) != value}
        if "text" in changed:
            changed["content_hash"] = content_hash(changed["text"])
        frozen = [name for name in PROMPT_FROZEN_FIELDS if name in changed]
        if frozen and prompt_is_rated(prompt_id=locked.pk):
            raise _frozen_refusal("prompt", frozen)
        for name, value in changed.items():
            setattr(locked, name, value)
        if problems := locked.problems():
            raise ApplicationError("Invalid prompt", field_errors=problems)
        locked.save()
    return locked


def response_edit(*, response: Response, changes: Mapping[str, Any]) -> Response:
    """Change an answer's fields; refused (but its submission link) once a final rating cites it."""
    # Rendered before the row is locked, as the collector does: a slow render must not hold it.
    html = answer_html_render(text=changes["text"]) if "text" in changes else ""
    with transaction.atomic():
        locked = Response.objects.select_for_update().get(pk=response.pk)
        changed = {name: value for name, value in changes.items() if getattr(locked, name) != value}
        frozen = sorted(name for name in changed if name not in RESPONSE_EDITABLE_FIELDS)
        if frozen and response_is_rated(response_id=locked.pk):
            raise _frozen_refusal("answer", frozen)
        if "text" in changed:
            changed["html"] = html
        for name, value in changed.items():
            setattr(locked, name, value)
        locked.save()
        if "text" in changed:
            response_style_recount(response=locked)
    return locked
