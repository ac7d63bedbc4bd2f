"""Comparison tasks and hand-out: pairing answers, leasing slots, skips, drafts and expiry.

Locking order, to stay free of deadlocks: an assignment row before its task row. Hand-out locks
only task rows and with SKIP LOCKED, so it never waits on anyone.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from annotation.models import (
    RATINGS_PER_COMPARISON,
    AnnotatorProfile,
    Assignment,
    ComparisonTask,
)
from annotation.selectors import domain_ratings_committed, eligible_tasks
from scales.preference import PREFERENCE_VALUES
from seal.errors import ApplicationError
from seal.models import Domain, ModelVersion, PromptSet, Response, Submission
from seal.task_names import COMPARISONS_SCHEDULE_FOR_SUBMISSION
from seal.tasking import task_send_on_commit

# SKIP LOCKED may find every eligible task held by a concurrent hand-out; ask again briefly.
HANDOUT_ATTEMPTS = 20


# --- comparison tasks -------------------------------------------------------------------------


def comparison_task_create(
    *,
    response_1: Response,
    response_2: Response,
    gold_expected_preference: int | None = None,
) -> ComparisonTask:
    """A comparison of two answers to one prompt; `gold_expected_preference` (for response_1)
    makes it a gold item."""
    if problems := ComparisonTask.pair_problems(response_1, response_2):
        raise ApplicationError(problems[0][1])
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
    # One query for every answer: ComparisonTask.pair_problems reads only these three fields.
    answers = {
        response.pk: response
        for response in Response.objects.filter(
            pk__in=ids, prompt__prompt_set__domain_id=domain_id
        ).only("prompt_id", "model_version_id", "status")
    }
    existing = set(
        ComparisonTask.objects.filter(
            response_a_id__in=[a for a, _ in wanted], response_b_id__in=[b for _, b in wanted]
        ).values_list("response_a_id", "response_b_id")
    )
    rows = [
        ComparisonTask(
            domain_id=domain_id, prompt_id=answers[a].prompt_id, response_a_id=a, response_b_id=b
        )
        for a, b in sorted(wanted - existing)
        if a in answers
        and b in answers
        and not ComparisonTask.pair_problems(answers[a], answers[b])
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
        if not locked.can_rate:
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
    if profile.is_qualifying:
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
