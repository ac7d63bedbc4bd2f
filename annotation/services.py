"""Every write of the annotation workflow: vetting, hand-out, rating, two review layers.

Locking order, to stay free of deadlocks: an assignment row before its task row. Hand-out locks
only task rows and with SKIP LOCKED, so it never waits on anyone.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from annotation.answer_sums import (
    answer_sums_add,
    answer_sums_decode,
    answer_sums_encode,
    answer_sums_keys,
)
from annotation.models import (
    RATINGS_PER_COMPARISON,
    AnnotatorProfile,
    ApprovedAnswerSums,
    ApprovedRating,
    Assignment,
    ComparisonTask,
)
from annotation.selectors import (
    domain_ratings_committed,
    eligible_tasks,
    justification_minimum,
    lab_conflict,
    prompt_is_rated,
    response_is_rated,
)
from seal.errors import ApplicationError
from seal.models import Domain, Lab, ModelVersion, Prompt, PromptSet, Response, Submission
from seal.prompt_import import content_hash
from seal.rubrics import Rubric
from seal.task_names import COMPARISONS_SCHEDULE_FOR_SUBMISSION, LEADERBOARD_RECOMPUTE_REQUESTED
from seal.tasking import task_send_on_commit

# What a rater saw of a prompt (and where it counts): frozen once a final rating cites it. The
# gold answer, categories, external id and public-sample flag classify or publish it; they stay.
PROMPT_FROZEN_FIELDS = ("text", "content_hash", "prompt_set")
# A rated answer is frozen whole but for the link to its submission (set null if one is deleted).
RESPONSE_EDITABLE_FIELDS = ("submission",)
PREFERENCE_VALUES = (-2, -1, 0, 1, 2)
# SKIP LOCKED may find every eligible task held by a concurrent hand-out; ask again briefly.
HANDOUT_ATTEMPTS = 20


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


def preference_outcome(preference: int) -> float:
    """The Bradley–Terry outcome of a preference for response A: 1 win, 0.5 tie, 0 loss."""
    return {1: 1.0, 0: 0.5, -1: 0.0}[_sign(preference)]


# --- annotators and vetting -------------------------------------------------------------------


def annotator_profile_upsert(
    *,
    user: User,
    domains: Iterable[Domain],
    programming_languages: Sequence[str] = (),
    spoken_languages: Sequence[str] = ("en",),
    regional_varieties: Sequence[str] = (),
    affiliated_labs: Iterable[Lab] = (),
    is_layer1_reviewer: bool = False,
    is_layer2_reviewer: bool = False,
) -> AnnotatorProfile:
    """Create or update a person's expertise profile; a new profile starts as an applicant."""
    with transaction.atomic():
        profile, _ = AnnotatorProfile.objects.update_or_create(
            user=user,
            defaults={
                "programming_languages": list(programming_languages),
                "spoken_languages": list(spoken_languages),
                "regional_varieties": list(regional_varieties),
                "is_layer1_reviewer": is_layer1_reviewer,
                "is_layer2_reviewer": is_layer2_reviewer,
            },
        )
        profile.domains.set(list(domains))
        profile.affiliated_labs.set(list(affiliated_labs))
    return profile


def annotator_vet(*, profile: AnnotatorProfile, score: float | None = None) -> AnnotatorProfile:
    """Mark an annotator as vetted, keeping the qualification score that earned it."""
    if profile.status == AnnotatorProfile.Status.SUSPENDED:
        raise ApplicationError("A suspended annotator must be reinstated by staff before vetting")
    profile.status = AnnotatorProfile.Status.VETTED
    profile.qualification_score = score if score is not None else profile.qualification_score
    profile.vetted_at = profile.vetted_at or timezone.now()
    profile.save(update_fields=["status", "qualification_score", "vetted_at", "updated_at"])
    return profile


def annotator_suspend(
    *, profile: AnnotatorProfile, reason: str, by: User | None = None
) -> AnnotatorProfile:
    """Stop giving an annotator work; their live leases go back to the pool."""
    if not reason.strip():
        raise ApplicationError("A reason is required", field_errors={"reason": ["required"]})
    with transaction.atomic():
        profile = AnnotatorProfile.objects.select_for_update().get(pk=profile.pk)
        profile.status = AnnotatorProfile.Status.SUSPENDED
        profile.suspended_reason = reason.strip()
        profile._history_user = by  # type: ignore[attr-defined]
        profile.save(update_fields=["status", "suspended_reason", "updated_at"])
        for assignment in Assignment.objects.filter(
            annotator=profile, status=Assignment.Status.LEASED
        ):
            _assignment_release(assignment_id=assignment.pk, status=Assignment.Status.EXPIRED)
    return profile


def qualification_start(*, profile: AnnotatorProfile) -> AnnotatorProfile:
    """Let an applicant start rating the gold comparisons of their domains."""
    if profile.status not in (
        AnnotatorProfile.Status.APPLICANT,
        AnnotatorProfile.Status.QUALIFYING,
    ):
        raise ApplicationError(f"Only applicants can qualify; this profile is {profile.status}")
    if not ComparisonTask.objects.filter(is_gold=True, domain__in=profile.domains.all()).exists():
        raise ApplicationError("There are no gold comparisons in this person's domains yet")
    profile.status = AnnotatorProfile.Status.QUALIFYING
    profile.save(update_fields=["status", "updated_at"])
    return profile


def _qualification_evaluate(profile: AnnotatorProfile) -> None:
    results = [
        bool(correct)
        for correct in Assignment.objects.filter(
            annotator=profile, is_gold=True, gold_correct__isnull=False
        ).values_list("gold_correct", flat=True)
    ]
    available = ComparisonTask.objects.filter(
        is_gold=True, domain__in=profile.domains.all()
    ).count()
    needed = min(settings.SEAL_QUALIFICATION_SIZE, available)
    if len(results) < needed:
        return
    score = sum(results) / len(results)
    profile.qualification_score = score
    if score >= settings.SEAL_QUALIFICATION_PASS_RATE:
        profile.status = AnnotatorProfile.Status.VETTED
        profile.vetted_at = timezone.now()
    else:
        # Failing keeps them out of real work, with the score kept for staff to see.
        profile.status = AnnotatorProfile.Status.APPLICANT
    profile.save(update_fields=["status", "qualification_score", "vetted_at", "updated_at"])


# --- comparison tasks -------------------------------------------------------------------------


def comparison_task_create(
    *,
    response_1: Response,
    response_2: Response,
    gold_expected_preference: int | None = None,
) -> ComparisonTask:
    """A comparison of two answers to one prompt; `gold_expected_preference` (for response_1)
    makes it a gold item."""
    if response_1.prompt_id != response_2.prompt_id:
        raise ApplicationError("Both responses must answer the same prompt")
    if response_1.model_version_id == response_2.model_version_id:
        raise ApplicationError("A comparison needs two different model versions")
    if response_1.status != Response.Status.OK or response_2.status != Response.Status.OK:
        raise ApplicationError("Only collected responses can be compared")
    if gold_expected_preference is not None and gold_expected_preference not in PREFERENCE_VALUES:
        raise ApplicationError("The expected preference must be one of -2..2")
    response_a, response_b = sorted((response_1, response_2), key=lambda r: r.pk)
    expected = gold_expected_preference
    if expected is not None and response_a.pk != response_1.pk:
        expected = -expected
    prompt = response_a.prompt
    try:
        with transaction.atomic():
            return ComparisonTask.objects.create(
                domain_id=prompt.prompt_set.domain_id,
                prompt=prompt,
                response_a=response_a,
                response_b=response_b,
                is_gold=expected is not None,
                gold_expected_preference=expected,
            )
    except IntegrityError as exc:
        raise ApplicationError("These two responses are already compared") from exc


def comparison_tasks_add(*, domain_id: int, pairs: Sequence[tuple[int, int]]) -> int:
    """Open comparisons of many (response, response) pairs at once, as a scheduler planned them;
    pairs already compared, or not two collected answers of one prompt in the domain by two
    models, are skipped. Returns how many were created."""
    wanted = {(min(a, b), max(a, b)) for a, b in pairs if a != b}
    if not wanted:
        return 0
    ids = {r for pair in wanted for r in pair}
    info = {
        pk: (prompt_id, model_id)
        for pk, prompt_id, model_id in Response.objects.filter(
            pk__in=ids,
            status=Response.Status.OK,
            prompt__prompt_set__domain_id=domain_id,
        ).values_list("pk", "prompt_id", "model_version_id")
    }
    existing = set(
        ComparisonTask.objects.filter(
            response_a_id__in=[a for a, _ in wanted], response_b_id__in=[b for _, b in wanted]
        ).values_list("response_a_id", "response_b_id")
    )
    rows = [
        ComparisonTask(domain_id=domain_id, prompt_id=info[a][0], response_a_id=a, response_b_id=b)
        for a, b in sorted(wanted - existing)
        if a in info and b in info and info[a][0] == info[b][0] and info[a][1] != info[b][1]
    ]
    try:
        with transaction.atomic():
            ComparisonTask.objects.bulk_create(rows, batch_size=1000)
        return len(rows)
    except IntegrityError:
        pass  # one was created meanwhile: insert one by one, skipping the duplicates
    created = 0
    for row in rows:
        try:
            with transaction.atomic():
                row.pk = None
                row.save(force_insert=True)
            created += 1
        except IntegrityError:
            continue
    return created


def comparisons_schedule(*, submission_id: int, per_prompt: int | None = None) -> int:
    """Pair a submitted model's answers with established models' answers (idempotent).

    Each prompt's answer is compared with `per_prompt` other models, rotating through them so every
    established model meets the newcomer about equally often; models with the fewest comparisons
    against it come first, which is where a pair adds most information.
    """
    per_prompt = per_prompt or settings.SEAL_COMPARISONS_PER_PROMPT
    with transaction.atomic():
        # Locked, so a duplicate message (or the sweep's resend) waits and then finds every pair.
        submission = (
            Submission.objects.select_for_update(of=("self",))
            .select_related("model_version")
            .get(pk=submission_id)
        )
        if submission.status == Submission.Status.CANCELLED:
            return 0
        if submission.comparisons_scheduled_at is not None:
            return 0  # a duplicate message, or the sweep's resend racing the original
        created = 0
        adaptive = False
        for domain in submission.domains.all():
            limit = _seed_limit(domain)
            adaptive = adaptive or limit is not None
            created += _comparisons_schedule_domain(
                model_version=submission.model_version,
                domain=domain,
                per_prompt=per_prompt,
                limit=limit,
            )
        # Under adaptive scheduling the periodic run adds comparisons even after an empty seed.
        if (created or adaptive) and submission.status in (
            Submission.Status.COLLECTED,
            Submission.Status.PENDING,
        ):
            submission.status = Submission.Status.COMPARING
        submission.comparisons_scheduled_at = timezone.now()
        submission.save(update_fields=["status", "comparisons_scheduled_at", "updated_at"])
    return created


def _seed_limit(domain: Domain) -> int | None:
    """With a rating budget, scheduling after collection is only the seed (a spread over
    established models), and never past the budget; the periodic run adds the rest. The
    domain row is locked so a concurrent scheduling run counts the budget after this one."""
    if domain.rating_budget is None:
        return None
    locked = Domain.objects.select_for_update().get(pk=domain.pk)
    budget = locked.rating_budget
    if budget is None:
        return None
    left = budget - domain_ratings_committed(domain_id=domain.pk)
    return max(
        0, min(int(settings.SEAL_SCHEDULING_SEED_COMPARISONS), left // RATINGS_PER_COMPARISON)
    )


def _comparisons_schedule_domain(
    *, model_version: ModelVersion, domain: Domain, per_prompt: int, limit: int | None = None
) -> int:
    prompt_set = PromptSet.objects.filter(domain=domain, status=PromptSet.Status.ACTIVE).first()
    if prompt_set is None:
        return 0
    own = {
        r.prompt_id: r
        for r in Response.objects.filter(
            model_version=model_version,
            prompt__prompt_set=prompt_set,
            status=Response.Status.OK,
        )
    }
    others: dict[int, list[Response]] = {}
    for response in (
        Response.objects.filter(prompt__prompt_set=prompt_set, status=Response.Status.OK)
        .exclude(model_version=model_version)
        .order_by("model_version_id")
    ):
        others.setdefault(response.prompt_id, []).append(response)
    existing = set(
        ComparisonTask.objects.filter(prompt__prompt_set=prompt_set, is_gold=False).values_list(
            "response_a_id", "response_b_id"
        )
    )
    model_of = {r.pk: r.model_version_id for answers in others.values() for r in answers}
    # Pairs made by an earlier run count: each answer meets `per_prompt` others, however often
    # scheduling runs (answers retried later, a message delivered twice).
    own_ids = {r.pk for r in own.values()}
    met: dict[int, set[int]] = {}
    meetings: dict[int, int] = {}
    for a, b in existing:
        mine_id, other_id = (a, b) if a in own_ids else (b, a)
        other_model = model_of.get(other_id)
        if mine_id in own_ids and other_model is not None:
            met.setdefault(mine_id, set()).add(other_model)
            meetings[other_model] = meetings.get(other_model, 0) + 1
    created = 0
    # The seed spreads its few comparisons over prompts: one prompt meets `per_prompt` models.
    for prompt_id in sorted(own):
        if limit is not None and created >= limit:
            break
        mine = own[prompt_id]
        already = met.get(mine.pk, set())
        candidates = sorted(
            (r for r in others.get(prompt_id, []) if r.model_version_id not in already),
            key=lambda r: (meetings.get(r.model_version_id, 0), r.model_version_id),
        )
        room = max(0, per_prompt - len(already))
        if limit is not None:
            room = min(room, limit - created)
        for other in candidates[:room]:
            meetings[other.model_version_id] = meetings.get(other.model_version_id, 0) + 1
            comparison_task_create(response_1=mine, response_2=other)
            created += 1
    return created


def comparisons_schedule_sweep(*, now: datetime | None = None) -> list[int]:
    """Send the scheduling task again for collected submissions still unpaired; return their ids.

    Their message was lost (a broker restart) or its worker died; scheduling is idempotent."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.SEAL_COMPARISONS_SCHEDULE_STALE_SECONDS)
    submission_ids = list(
        Submission.objects.filter(
            status=Submission.Status.COLLECTED,
            comparisons_scheduled_at__isnull=True,
            collection_finished_at__lt=cutoff,
        ).values_list("pk", flat=True)
    )
    for submission_id in submission_ids:
        task_send_on_commit(COMPARISONS_SCHEDULE_FOR_SUBMISSION, submission_id)
    return submission_ids


# --- hand-out and leases ----------------------------------------------------------------------


def _lease_expiry(now: datetime) -> datetime:
    return now + timedelta(minutes=settings.SEAL_ASSIGNMENT_LEASE_MINUTES)


def _assignment_release(*, assignment_id: int, status: str, by: User | None = None) -> None:
    """End a live lease (expired or skipped) and give its slot back; caller holds a transaction."""
    assignment = Assignment.objects.select_for_update().get(pk=assignment_id)
    if assignment.status != Assignment.Status.LEASED:
        return
    assignment.status = status
    assignment._history_user = by  # type: ignore[attr-defined]
    assignment.save(update_fields=["status"])
    if not assignment.is_gold:
        _task_slots_recount(task_id=assignment.task_id)


def _task_slots_recount(*, task_id: int) -> ComparisonTask:
    task = ComparisonTask.objects.select_for_update().get(pk=task_id)
    task.active_slots = task.assignments.filter(status__in=Assignment.ACTIVE_STATUSES).count()
    task.approved_count = task.assignments.filter(status=Assignment.Status.APPROVED).count()
    if task.approved_count >= RATINGS_PER_COMPARISON:
        task.status = ComparisonTask.Status.COMPLETE
    task.save(update_fields=["active_slots", "approved_count", "status", "updated_at"])
    return task


def assignments_expire(*, now: datetime | None = None, limit: int = 500) -> int:
    """Return abandoned leases to the pool; safe to run from many processes at once."""
    now = now or timezone.now()
    expired = 0
    with transaction.atomic():
        due = list(
            Assignment.objects.select_for_update(skip_locked=True)
            .filter(status=Assignment.Status.LEASED, lease_expires_at__lte=now)
            .values_list("pk", flat=True)[:limit]
        )
        for assignment_id in due:
            _assignment_release(assignment_id=assignment_id, status=Assignment.Status.EXPIRED)
            expired += 1
    return expired


def _gold_next(profile: AnnotatorProfile, now: datetime) -> Assignment | None:
    gold = (
        ComparisonTask.objects.filter(is_gold=True, domain__in=profile.domains.all())
        .exclude(Exists(Assignment.objects.filter(task=OuterRef("pk"), annotator=profile)))
        .order_by("?")
        .first()
    )
    if gold is None:
        return None
    return Assignment.objects.create(
        task=gold,
        annotator=profile,
        slot=None,
        is_gold=True,
        left_is_a=random.random() < 0.5,  # noqa: S311 - screen order, not a secret
        leased_at=now,
        lease_expires_at=_lease_expiry(now),
    )


def assignment_next(*, profile: AnnotatorProfile, now: datetime | None = None) -> Assignment | None:
    """Hand the annotator their next comparison under a lease (their live one if they have it).

    Real comparisons that already have ratings go first, so tasks finish before new ones start.
    Gold items are mixed in silently for vetted annotators; qualifying ones get only gold.
    """
    now = now or timezone.now()
    with transaction.atomic():
        # One request at a time per annotator: two tabs asking at once get the same lease.
        locked = AnnotatorProfile.objects.select_for_update().get(pk=profile.pk)
        if locked.status not in (
            AnnotatorProfile.Status.VETTED,
            AnnotatorProfile.Status.QUALIFYING,
        ):
            raise ApplicationError("Only vetted annotators receive comparisons")
        live = (
            Assignment.objects.filter(
                annotator=profile, status=Assignment.Status.LEASED, lease_expires_at__gt=now
            )
            .order_by("leased_at")
            .first()
        )
        return live or _assignment_new(locked, now)


def _assignment_new(profile: AnnotatorProfile, now: datetime) -> Assignment | None:
    if profile.status == AnnotatorProfile.Status.QUALIFYING:
        return _gold_next(profile, now)
    if random.random() < settings.SEAL_GOLD_RATE:  # noqa: S311 - sampling, not a secret
        gold = _gold_next(profile, now)
        if gold is not None:
            return gold
    for attempt in range(HANDOUT_ATTEMPTS):
        assignment = _task_lease(profile, now)
        if assignment is not None:
            return assignment
        # Nothing unlocked right now; if eligible tasks exist, others hold them for a moment.
        if not eligible_tasks(profile=profile).exists():
            return None
        time.sleep(0.005 * (attempt + 1))
    return None


def _task_lease(profile: AnnotatorProfile, now: datetime) -> Assignment | None:
    """Lock the best eligible task nobody else holds, and lease its next free slot."""
    with transaction.atomic():
        task = (
            eligible_tasks(profile=profile)
            .order_by("-active_slots", "id")
            .select_for_update(skip_locked=True, of=("self",))
            .first()
        )
        if task is None:
            return None
        used = set(
            task.assignments.filter(status__in=Assignment.ACTIVE_STATUSES).values_list(
                "slot", flat=True
            )
        )
        free = sorted(set(range(1, RATINGS_PER_COMPARISON + 1)) - used)
        if not free:  # the counter was stale; put it right and let the caller ask again
            _task_slots_recount(task_id=task.pk)
            return None
        assignment = Assignment.objects.create(
            task=task,
            annotator=profile,
            slot=free[0],
            left_is_a=random.random() < 0.5,  # noqa: S311 - screen order, not a secret
            leased_at=now,
            lease_expires_at=_lease_expiry(now),
        )
        task.active_slots = len(used) + 1
        task.save(update_fields=["active_slots", "updated_at"])
    return assignment


def _own_assignment_locked(assignment_id: int, profile: AnnotatorProfile) -> Assignment:
    # of=("self",): lock only this row, not the joined task and domain everyone shares.
    assignment = (
        Assignment.objects.select_for_update(of=("self",))
        .select_related("task__domain")
        .filter(pk=assignment_id, annotator=profile)
        .first()
    )
    if assignment is None:
        raise ApplicationError("No such assignment")
    return assignment


def assignment_skip(*, assignment_id: int, profile: AnnotatorProfile) -> None:
    """Give a comparison back without rating it; it goes to someone else."""
    with transaction.atomic():
        assignment = _own_assignment_locked(assignment_id, profile)
        if assignment.status != Assignment.Status.LEASED:
            raise ApplicationError("Only a comparison in progress can be skipped")
        _assignment_release(
            assignment_id=assignment.pk, status=Assignment.Status.SKIPPED, by=profile.user
        )


def assignment_draft_save(
    *, assignment_id: int, profile: AnnotatorProfile, draft: Mapping[str, Any]
) -> Assignment:
    """Keep unfinished form input; a draft is never reviewed or counted."""
    with transaction.atomic():
        assignment = _own_assignment_locked(assignment_id, profile)
        if assignment.status != Assignment.Status.LEASED:
            raise ApplicationError("Only a comparison in progress has a draft")
        if assignment.lease_expires_at <= timezone.now():
            raise ApplicationError("Your lease on this comparison has expired")
        assignment.draft = {
            key: draft[key] for key in sorted(draft) if key != "csrfmiddlewaretoken"
        }
        assignment._history_user = profile.user  # type: ignore[attr-defined]
        assignment.save(update_fields=["draft"])
    return assignment


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
        if assignment.is_gold and profile.status == AnnotatorProfile.Status.QUALIFYING:
            _qualification_evaluate(AnnotatorProfile.objects.select_for_update().get(pk=profile.pk))
    return assignment


# --- review -----------------------------------------------------------------------------------


def _review_locked(*, assignment_id: int, reviewer: AnnotatorProfile, layer: int) -> Assignment:
    if layer not in (1, 2):
        raise ApplicationError("The review layer is 1 or 2")
    if reviewer.status != AnnotatorProfile.Status.VETTED:
        raise ApplicationError("Only vetted reviewers can review")
    if (layer == 1 and not reviewer.is_layer1_reviewer) or (
        layer == 2 and not reviewer.is_layer2_reviewer
    ):
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
        locked.save()
    return locked


def response_edit(*, response: Response, changes: Mapping[str, Any]) -> Response:
    """Change an answer's fields; refused (but its submission link) once a final rating cites it."""
    with transaction.atomic():
        locked = Response.objects.select_for_update().get(pk=response.pk)
        changed = {name: value for name, value in changes.items() if getattr(locked, name) != value}
        frozen = sorted(name for name in changed if name not in RESPONSE_EDITABLE_FIELDS)
        if frozen and response_is_rated(response_id=locked.pk):
            raise _frozen_refusal("answer", frozen)
        for name, value in changed.items():
            setattr(locked, name, value)
        locked.save()
    return locked
