"""Reads of the annotation workflow, and who may see what.

What annotators and reviewers get is built here as plain dataclasses holding only what their screen
shows: the prompt and the two answers as "A" and "B". No model, lab or endpoint name is in them, so
no template can leak one by accident.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString

from annotation.models import (
    RATINGS_PER_COMPARISON,
    AnnotatorProfile,
    ApprovedRating,
    Assignment,
    ComparisonTask,
)
from scales.preference import Preference
from seal.models import Domain, Prompt, Submission
from seal.rendering import prompt_html, stored_html
from seal.rubrics import Rubric

if TYPE_CHECKING:
    import pandas as pd

# Prompt category facets that need matching expertise, and the profile field that lists it.
EXPERTISE_FACETS = {"language": "programming_languages", "region": "regional_varieties"}


def annotator_profile_for(user: AbstractBaseUser | AnonymousUser) -> AnnotatorProfile | None:
    if not user.is_authenticated:
        return None
    return (
        AnnotatorProfile.objects.filter(user_id=user.pk)
        .prefetch_related("domains", "affiliated_labs")
        .first()
    )


def annotator_roles_for(user: AbstractBaseUser | AnonymousUser) -> AnnotatorProfile | None:
    """The profile's status and reviewer flags only: enough for its role rules (`can_rate`,
    `reviews_layer`)."""
    if not user.is_authenticated:
        return None
    return (
        AnnotatorProfile.objects.filter(user_id=user.pk)
        .only("status", "is_layer1_reviewer", "is_layer2_reviewer")
        .first()
    )


def landing_url(user: AbstractBaseUser | AnonymousUser) -> str:
    """Where a person starts after logging in: the first of admin, review, workspace they may open
    (the same rules the views enforce), else the public home."""
    if not user.is_authenticated:
        return reverse("home")
    if getattr(user, "is_staff", False):
        return reverse("admin:index")
    profile = annotator_profile_for(user)
    if profile is not None and profile.reviews_layer(0):
        return reverse("annotation:review_home")
    if profile is not None and profile.can_rate:
        return reverse("annotation:work_home")
    return reverse("home")


def lab_conflict(*, profile: AnnotatorProfile, task_path: str = "") -> Q | None:
    """The conflict rule, one for rating and both review layers: a comparison is off limits when
    either answer comes from a lab this person is tied to. A filter on comparison tasks (or, with
    `task_path`, on rows that reach one through it); None when the person has no ties."""
    labs = [lab.pk for lab in profile.affiliated_labs.all()]
    if not labs:
        return None
    prefix = f"{task_path}__" if task_path else ""
    return Q(**{f"{prefix}response_a__model_version__lab__in": labs}) | Q(
        **{f"{prefix}response_b__model_version__lab__in": labs}
    )


def eligible_tasks(*, profile: AnnotatorProfile) -> QuerySet[ComparisonTask]:
    """Open real comparisons this annotator may rate: their domains and expertise, no lab ties,
    never a task they already held."""
    tasks = ComparisonTask.objects.filter(
        status=ComparisonTask.Status.OPEN,
        is_gold=False,
        active_slots__lt=RATINGS_PER_COMPARISON,
        domain__in=profile.domains.all(),
    ).exclude(Exists(Assignment.objects.filter(task=OuterRef("pk"), annotator=profile)))
    conflict = lab_conflict(profile=profile)
    if conflict is not None:
        tasks = tasks.exclude(conflict)
    through = Prompt.categories.through
    for facet, attribute in EXPERTISE_FACETS.items():
        allowed = list(getattr(profile, attribute) or [])
        tasks = tasks.exclude(
            Exists(
                through.objects.filter(
                    prompt_id=OuterRef("prompt_id"), category__facet=facet
                ).exclude(category__value__in=allowed)
            )
        )
    return tasks


@dataclass(frozen=True)
class QueueCounts:
    available: int
    in_progress: int
    awaiting_review: int
    approved: int
    rejected: int


def annotator_queue_counts(*, profile: AnnotatorProfile) -> QueueCounts:
    mine = Assignment.objects.filter(annotator=profile, is_gold=False).aggregate(
        in_progress=Count("pk", filter=Q(status=Assignment.Status.LEASED)),
        awaiting=Count(
            "pk",
            filter=Q(status__in=[Assignment.Status.SUBMITTED, Assignment.Status.LAYER1_APPROVED]),
        ),
        approved=Count("pk", filter=Q(status=Assignment.Status.APPROVED)),
        rejected=Count("pk", filter=Q(status=Assignment.Status.REJECTED)),
    )
    available = eligible_tasks(profile=profile).count() if profile.is_vetted else 0
    return QueueCounts(
        available=available,
        in_progress=mine["in_progress"],
        awaiting_review=mine["awaiting"],
        approved=mine["approved"],
        rejected=mine["rejected"],
    )


@dataclass(frozen=True)
class ComparisonScreen:
    """The blind view of one comparison: answers labelled only by screen position."""

    assignment_id: int
    domain_name: str
    categories: list[str]
    prompt_html: SafeString
    answer_a_html: SafeString  # "A" is whatever this viewer sees first (on the left)
    answer_b_html: SafeString
    rubric: Rubric
    status: str
    status_label: str
    lease_expires_at: datetime
    draft: dict[str, Any]
    guidelines: str  # the domain's description: what its raters should look for
    justification_min_chars: int


def justification_minimum(*, rubric: Rubric) -> int:
    """The shortest justification a rating under this rubric accepts (its own, else the site's)."""
    return rubric.justification_min_chars or settings.SEAL_JUSTIFICATION_MIN_CHARS


def _screen(assignment: Assignment, *, a_first: bool) -> ComparisonScreen:
    task = assignment.task
    first, second = (
        (task.response_a, task.response_b) if a_first else (task.response_b, task.response_a)
    )
    rubric = task.domain.parsed_rubric
    return ComparisonScreen(
        assignment_id=assignment.pk,
        domain_name=task.domain.name,
        categories=[f"{c.facet_label}: {c.value}" for c in task.prompt.categories.all()],
        prompt_html=prompt_html(task.prompt.text),
        # Rendered once when the answer was stored; never per view.
        answer_a_html=stored_html(first.html, first.text),
        answer_b_html=stored_html(second.html, second.text),
        rubric=rubric,
        status=assignment.status,
        status_label=assignment.get_status_display(),
        lease_expires_at=assignment.lease_expires_at,
        draft=dict(assignment.draft),
        guidelines=task.domain.description,
        justification_min_chars=justification_minimum(rubric=rubric),
    )


def _with_comparison(queryset: QuerySet[Assignment]) -> QuerySet[Assignment]:
    return queryset.select_related(
        "task__domain", "task__prompt", "task__response_a", "task__response_b"
    ).prefetch_related("task__prompt__categories")


def annotator_comparison_screen(
    *, profile: AnnotatorProfile, assignment_id: int
) -> ComparisonScreen | None:
    """The annotator's own assignment in their screen order, or None if it is not theirs."""
    assignment = _with_comparison(
        Assignment.objects.filter(pk=assignment_id, annotator=profile)
    ).first()
    if assignment is None:
        return None
    return _screen(assignment, a_first=assignment.left_is_a)


@dataclass(frozen=True)
class HistoryRow:
    assignment_id: int
    domain_name: str
    status: str
    status_label: str
    leased_at: datetime
    submitted_at: datetime | None
    rejection_reason: str


def annotator_history(*, profile: AnnotatorProfile, limit: int = 200) -> list[HistoryRow]:
    """The annotator's own ratings with their review outcome and any rejection reason."""
    rows = (
        Assignment.objects.filter(annotator=profile, is_gold=False)
        .exclude(status=Assignment.Status.LEASED)
        .select_related("task__domain")
        .order_by("-leased_at")[:limit]
    )
    return [
        HistoryRow(
            assignment_id=a.pk,
            domain_name=a.task.domain.name,
            status=a.status,
            status_label=a.get_status_display(),
            leased_at=a.leased_at,
            submitted_at=a.submitted_at,
            rejection_reason=a.layer2_reason or a.layer1_reason,
        )
        for a in rows
    ]


def review_queue(*, reviewer: AnnotatorProfile, layer: int) -> QuerySet[Assignment]:
    """Ratings waiting for this reviewer at this layer: their domains, never their own work, never
    a comparison of a lab they are tied to."""
    status = Assignment.Status.SUBMITTED if layer == 1 else Assignment.Status.LAYER1_APPROVED
    # Any layer but 1 reads as the final layer here, as it always has (the views let only 1, 2
    # and the layer-0 overview through).
    if not reviewer.reviews_layer(1 if layer == 1 else 2):
        return Assignment.objects.none()
    queue = Assignment.objects.filter(
        status=status, is_gold=False, task__domain__in=reviewer.domains.all()
    ).exclude(annotator=reviewer)
    if layer == 2:
        queue = queue.exclude(layer1_reviewer=reviewer)
    conflict = lab_conflict(profile=reviewer, task_path="task")
    if conflict is not None:
        queue = queue.exclude(conflict)
    return queue.select_related("task__domain").order_by("submitted_at", "pk")


def review_next_id(*, reviewer: AnnotatorProfile, layer: int, after_id: int) -> int | None:
    """The rating after `after_id` in this reviewer's queue (oldest first), if any is left."""
    queue = review_queue(reviewer=reviewer, layer=layer)
    submitted_at = (
        Assignment.objects.filter(pk=after_id).values_list("submitted_at", flat=True).first()
    )
    if submitted_at is not None:
        queue = queue.filter(
            Q(submitted_at__gt=submitted_at) | Q(submitted_at=submitted_at, pk__gt=after_id)
        )
    return queue.exclude(pk=after_id).values_list("pk", flat=True).first()


@dataclass(frozen=True)
class ReviewSide:
    """One answer of a rating under review, with the scores and issues given to it."""

    label: str  # "A" or "B", as the annotator saw it
    position: str  # "left" or "right" on the annotator's screen
    answer_html: SafeString
    scores: list[tuple[str, int | None]]  # (dimension label, score) in rubric order
    tags: list[str]  # the rubric's labels


@dataclass(frozen=True)
class ReviewScreen:
    """A rating as its annotator gave it: the answers in their screen order, labelled A (left)
    and B (right) as they saw them, so the justification's "A" and "B" mean what it says."""

    comparison: ComparisonScreen
    layer: int
    sides: tuple[ReviewSide, ReviewSide]
    preference_label: str  # in the annotator's screen terms ("A better" as they chose it)
    justification: str
    layer1_decision: str
    layer1_reason: str
    seconds_spent: float | None


def review_screen(
    *, reviewer: AnnotatorProfile, layer: int, assignment_id: int
) -> ReviewScreen | None:
    """A rating in the reviewer's queue, shown in the annotator's own screen order and terms."""
    assignment = _with_comparison(
        review_queue(reviewer=reviewer, layer=layer).filter(pk=assignment_id)
    ).first()
    if assignment is None:
        return None
    assert assignment.preference is not None
    spent = (
        (assignment.submitted_at - assignment.leased_at).total_seconds()
        if assignment.submitted_at
        else None
    )
    comparison = _screen(assignment, a_first=assignment.left_is_a)
    rubric = comparison.rubric
    # The rating is stored in model terms (rating_submit); this is the inverse translation, back
    # to the annotator's screen: their left answer is model A only when left_is_a.
    flip = 1 if assignment.left_is_a else -1
    stored_keys = ("a", "b") if assignment.left_is_a else ("b", "a")

    # A tag the rubric no longer lists keeps its key: the rating stays readable after an edit.
    tag_labels = {tag.key: tag.label for tag in rubric.issue_tags}

    def side(label: str, position: str, answer_html: SafeString, key: str) -> ReviewSide:
        scores = assignment.scores.get(key, {})
        return ReviewSide(
            label=label,
            position=position,
            answer_html=answer_html,
            scores=[(d.label, scores.get(d.key)) for d in rubric.dimensions],
            tags=[tag_labels.get(tag, tag) for tag in assignment.issue_tags.get(key, [])],
        )

    return ReviewScreen(
        comparison=comparison,
        layer=layer,
        sides=(
            side("A", "left", comparison.answer_a_html, stored_keys[0]),
            side("B", "right", comparison.answer_b_html, stored_keys[1]),
        ),
        preference_label=Preference(assignment.preference * flip).label,
        justification=assignment.justification,
        layer1_decision=assignment.layer1_decision if layer == 2 else "",
        layer1_reason=assignment.layer1_reason if layer == 2 else "",
        seconds_spent=spent,
    )


@dataclass(frozen=True)
class AnnotatorQuality:
    profile_id: int
    username: str
    status: str
    volume: int
    agreement: float | None
    gold_accuracy: float | None
    gold_count: int
    layer1_approval: float | None
    layer2_approval: float | None
    median_seconds: float | None


def _rate(series: pd.Series) -> float | None:
    return float(series.mean()) if len(series) else None


def annotator_quality_table() -> list[AnnotatorQuality]:
    """Per-annotator quality for staff: agreement with co-raters, gold accuracy, approval rates,
    median time per rating and volume."""
    profiles = list(AnnotatorProfile.objects.select_related("user").order_by("user__username"))
    rows = list(
        Assignment.objects.filter(submitted_at__isnull=False).values(
            "annotator_id",
            "task_id",
            "is_gold",
            "gold_correct",
            "preference",
            "status",
            "layer1_decision",
            "layer2_decision",
            "leased_at",
            "submitted_at",
        )
    )
    # Staff-only; pandas stays out of the web process until this table is asked for.
    import pandas as pd

    frame = pd.DataFrame(rows)
    result = []
    for profile in profiles:
        mine = frame[frame["annotator_id"] == profile.pk] if len(frame) else frame
        real = mine[~mine["is_gold"]] if len(mine) else mine
        gold = mine[mine["is_gold"] & mine["gold_correct"].notna()] if len(mine) else mine
        agreement = None
        if len(real):
            # Rejected ratings count too: disagreement is often why they were rejected.
            counted = frame[~frame["is_gold"]]
            signs = counted.assign(sign=counted["preference"].apply(lambda v: (v > 0) - (v < 0)))
            own = signs[signs["annotator_id"] == profile.pk][["task_id", "sign"]]
            others = signs[signs["annotator_id"] != profile.pk][["task_id", "sign"]]
            pairs = own.merge(others, on="task_id", suffixes=("_own", "_other"))
            if len(pairs):
                agreement = float((pairs["sign_own"] == pairs["sign_other"]).mean())
        l1 = real[real["layer1_decision"] != ""] if len(real) else real
        l2 = real[real["layer2_decision"] != ""] if len(real) else real
        seconds = (
            (real["submitted_at"] - real["leased_at"]).dt.total_seconds() if len(real) else None
        )
        result.append(
            AnnotatorQuality(
                profile_id=profile.pk,
                username=profile.user.get_username(),
                status=profile.status,
                volume=len(real),
                agreement=agreement,
                gold_accuracy=_rate(gold["gold_correct"].astype(float)) if len(gold) else None,
                gold_count=len(gold),
                layer1_approval=_rate(l1["layer1_decision"] == "approved") if len(l1) else None,
                layer2_approval=_rate(l2["layer2_decision"] == "approved") if len(l2) else None,
                median_seconds=float(seconds.median()) if seconds is not None else None,
            )
        )
    return result


def comparison_tasks_for_staff() -> QuerySet[ComparisonTask]:
    return ComparisonTask.objects.select_related(
        "domain", "prompt", "response_a__model_version", "response_b__model_version"
    )


@dataclass(frozen=True)
class SubmissionEvaluation:
    comparisons_created: int
    ratings_approved: int


def submission_evaluation_many(
    *, submissions: Sequence[Submission]
) -> dict[int, SubmissionEvaluation]:
    """How far human evaluation got for each submission: counts only, in two queries."""
    if not submissions:
        return {}
    model_ids = {s.model_version_id for s in submissions}
    tasks = (
        ComparisonTask.objects.filter(is_gold=False)
        .filter(
            Q(response_a__model_version_id__in=model_ids)
            | Q(response_b__model_version_id__in=model_ids)
        )
        .values_list("domain_id", "response_a__model_version_id", "response_b__model_version_id")
    )
    approved = ApprovedRating.objects.filter(
        Q(model_a_id__in=model_ids) | Q(model_b_id__in=model_ids)
    ).values_list("domain_id", "model_a_id", "model_b_id")
    task_counts: Counter[tuple[int, int]] = Counter()
    for domain_id, model_a, model_b in tasks:
        task_counts[(domain_id, model_a)] += 1
        task_counts[(domain_id, model_b)] += 1
    rating_counts: Counter[tuple[int, int]] = Counter()
    for domain_id, model_a, model_b in approved:
        rating_counts[(domain_id, model_a)] += 1
        rating_counts[(domain_id, model_b)] += 1
    result = {}
    for submission in submissions:
        domains = [d.pk for d in submission.domains.all()]
        key = submission.model_version_id
        result[submission.pk] = SubmissionEvaluation(
            comparisons_created=sum(task_counts[(d, key)] for d in domains),
            ratings_approved=sum(rating_counts[(d, key)] for d in domains),
        )
    return result


# --- Budget and pool capacity of a domain -----------------------------------------------------


def domain_open_ratings(*, domain_id: int) -> int:
    """Ratings still to come on the domain's open comparisons (leased and unclaimed slots)."""
    total = (
        ComparisonTask.objects.filter(
            domain_id=domain_id, status=ComparisonTask.Status.OPEN, is_gold=False
        )
        .annotate(left=RATINGS_PER_COMPARISON - F("approved_count"))
        .aggregate(total=Sum("left"))["total"]
    )
    return int(total or 0)


def domain_ratings_committed(*, domain_id: int) -> int:
    """What the domain's rating budget has spent: finally approved ratings plus every slot
    still to be rated on open comparisons (a rejection reopens a slot; it is counted once)."""
    done = ApprovedRating.objects.filter(domain_id=domain_id).count()
    return done + domain_open_ratings(domain_id=domain_id)


def domain_annotator_pool(*, domain_id: int) -> QuerySet[AnnotatorProfile]:
    """The vetted, active annotators whose expertise covers the domain."""
    return AnnotatorProfile.objects.raters_in(domain_id)


@dataclass(frozen=True)
class PoolCapacity:
    annotators: int
    # Ratings an hour the pool gives the domain: measured over the recent window, or (with no
    # history) the nominal rate per annotator; 0 when fewer than three could finish a comparison.
    ratings_per_hour: float
    measured: bool
    open_ratings: int

    def hours_for(self, ratings: int) -> float | None:
        """Hours the pool needs for this many ratings at its rate; None if it cannot do them."""
        if ratings <= 0:
            return 0.0
        return None if self.ratings_per_hour <= 0 else ratings / self.ratings_per_hour


def domain_pool_capacity(*, domain: Domain, now: datetime | None = None) -> PoolCapacity:
    """How much the domain's annotator pool can rate: its size and recent ratings an hour."""
    now = now or timezone.now()
    window = float(settings.SEAL_SCHEDULING_THROUGHPUT_WINDOW_HOURS)
    pool = domain_annotator_pool(domain_id=domain.pk)
    annotators = pool.count()
    recent = Assignment.objects.filter(
        is_gold=False,
        task__domain_id=domain.pk,
        submitted_at__gte=now - timedelta(hours=window),
        annotator__in=pool,
    ).count()
    if annotators < RATINGS_PER_COMPARISON:
        rate, measured = 0.0, recent > 0
    elif recent:
        rate, measured = recent / window, True
    else:
        rate = annotators * float(settings.SEAL_SCHEDULING_NOMINAL_RATINGS_PER_HOUR)
        measured = False
    return PoolCapacity(
        annotators=annotators,
        ratings_per_hour=rate,
        measured=measured,
        open_ratings=domain_open_ratings(domain_id=domain.pk),
    )


# --- What final ratings cite (frozen by the triggers of migration 0004) -------------------------


def prompt_is_rated(*, prompt_id: int) -> bool:
    """A final rating cites this prompt: its text and prompt set may no longer change."""
    return ApprovedRating.objects.filter(prompt_id=prompt_id).exists()


def response_is_rated(*, response_id: int) -> bool:
    """A final rating was given on this answer: it may no longer change."""
    return ApprovedRating.objects.filter(
        Q(task__response_a_id=response_id) | Q(task__response_b_id=response_id)
    ).exists()
