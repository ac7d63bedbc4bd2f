"""Annotation: vetted experts rate comparisons blind; every rating passes two review layers.

One Assignment row is one expert's slot on one comparison: the lease, the screen order, the
rating itself and both review decisions. Keeping them in one row lets the database check the
rules that matter (three slots per task, the annotator never reviews their own work, the two
layers are different people) and lets a trigger freeze the row once it is finally approved.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords  # type: ignore[import-untyped, unused-ignore]

from scales.preference import Preference
from seal.models import Domain, Lab, ModelVersion, Prompt, Response, TimeStamped

RATINGS_PER_COMPARISON = 3

# The 5-point overall preference, stored in the comparison's own terms: positive means response A.
PREFERENCE_CHOICES = [(point.value, point.label) for point in Preference]


class AnnotatorProfileQuerySet(models.QuerySet["AnnotatorProfile"]):
    def raters_in(self, domain_id: int) -> AnnotatorProfileQuerySet:
        """Who rates the domain's real comparisons: vetted, with an active account and the domain
        among their expertise (`AnnotatorProfile.is_vetted` as a list filter)."""
        return self.filter(
            status=AnnotatorProfile.Status.VETTED, user__is_active=True, domains=domain_id
        )


class AnnotatorProfile(TimeStamped):
    """A person's expertise and standing; the role rules (who rates, who reviews which layer)
    are the properties below, read by services, selectors, views and the page header alike."""

    class Status(models.TextChoices):
        APPLICANT = "applicant", "Applicant"
        QUALIFYING = "qualifying", "Qualifying"
        VETTED = "vetted", "Vetted"
        SUSPENDED = "suspended", "Suspended"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="annotator_profile"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.APPLICANT)
    domains = models.ManyToManyField(Domain, blank=True, related_name="annotators")
    # Values equal Category values of the same facet (language, region): matching is a lookup.
    programming_languages = models.JSONField(default=list, blank=True)
    spoken_languages = models.JSONField(
        default=list, blank=True, help_text="ISO codes, e.g. en, es"
    )
    regional_varieties = models.JSONField(
        default=list, blank=True, help_text="Native varieties, e.g. Spain, Mexico, Latin America"
    )
    affiliated_labs = models.ManyToManyField(
        Lab,
        blank=True,
        related_name="affiliated_annotators",
        help_text="Labs this person is tied to: they never rate those labs' models.",
    )
    is_layer1_reviewer = models.BooleanField(default=False)
    is_layer2_reviewer = models.BooleanField(default=False)
    qualification_score = models.FloatField(null=True, blank=True)
    vetted_at = models.DateTimeField(null=True, blank=True)
    suspended_reason = models.TextField(blank=True)

    history = HistoricalRecords()

    objects = AnnotatorProfileQuerySet.as_manager()

    class Meta:
        ordering = ["user__username"]
        permissions = [
            # Apart from view_annotatorprofile: these figures judge people by name, so only the
            # staff who manage annotators get them, not every account that can open the admin.
            ("view_annotator_quality", "Can view annotator quality (agreement, gold accuracy)"),
        ]

    def __str__(self) -> str:
        return f"{self.user.get_username()} ({self.status})"

    # The role rules read only status and the two reviewer flags, so a profile loaded with
    # .only() of those (annotation.selectors.annotator_roles_for) answers them without a query.

    @property
    def is_vetted(self) -> bool:
        """Rates real comparisons (in the profile's domains) and, with a flag, reviews."""
        return self.status == self.Status.VETTED

    @property
    def is_qualifying(self) -> bool:
        """Rates only the gold comparisons that decide whether they are vetted."""
        return self.status == self.Status.QUALIFYING

    @property
    def can_rate(self) -> bool:
        """Gets the annotation workspace and comparisons: vetted, or qualifying on gold."""
        return self.is_vetted or self.is_qualifying

    @property
    def is_reviewer(self) -> bool:
        return self.is_layer1_reviewer or self.is_layer2_reviewer

    def reviews_layer(self, layer: int) -> bool:
        """Reviews this layer (1 or 2; 0 means either): vetted, with that layer's flag."""
        if not self.is_vetted:
            return False
        if layer == 1:
            return self.is_layer1_reviewer
        if layer == 2:
            return self.is_layer2_reviewer
        return layer == 0 and self.is_reviewer


class ComparisonTask(TimeStamped):
    """One prompt answered by two model versions, to be rated by three experts (or a gold item)."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        COMPLETE = "complete", "Complete"
        CANCELLED = "cancelled", "Cancelled"

    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, related_name="comparison_tasks")
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="comparison_tasks")
    response_a = models.ForeignKey(Response, on_delete=models.PROTECT, related_name="+")
    response_b = models.ForeignKey(Response, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    # Leased, submitted or approved slots; kept in step under the task's row lock so hand-out can
    # order and filter on it inside SELECT ... FOR UPDATE SKIP LOCKED (no GROUP BY allowed there).
    active_slots = models.PositiveSmallIntegerField(default=0)
    approved_count = models.PositiveSmallIntegerField(default=0)
    is_gold = models.BooleanField(default=False)
    gold_expected_preference = models.SmallIntegerField(
        null=True, blank=True, choices=PREFERENCE_CHOICES
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            # Canonical order makes (a, b) and (b, a) the same comparison for the unique check.
            models.CheckConstraint(
                condition=Q(response_a__lt=F("response_b")), name="task_canonical_pair"
            ),
            models.UniqueConstraint(fields=["response_a", "response_b"], name="task_unique_pair"),
            models.CheckConstraint(
                condition=Q(active_slots__lte=RATINGS_PER_COMPARISON) | Q(is_gold=True),
                name="task_at_most_three_slots",
            ),
            models.CheckConstraint(
                condition=Q(is_gold=False) | Q(gold_expected_preference__isnull=False),
                name="task_gold_has_expectation",
            ),
        ]
        indexes = [
            models.Index(
                fields=["domain", "-active_slots", "id"],
                condition=Q(status="open", is_gold=False),
                name="task_open_handout",
            )
        ]

    def __str__(self) -> str:
        return f"Comparison #{self.pk}"

    @property
    def needs_more_ratings(self) -> bool:
        return self.active_slots < RATINGS_PER_COMPARISON

    @staticmethod
    def pair_problems(first: Response, second: Response) -> list[tuple[str, str]]:
        """Why two answers cannot be compared, first things first, each with the field (second
        answer: response_b) it belongs to; comparison_task_create and the admin (clean) apply it."""
        problems: list[tuple[str, str]] = []
        if first.prompt_id != second.prompt_id:
            problems.append(("response_b", "Both responses must answer the same prompt"))
        if first.model_version_id == second.model_version_id:
            problems.append(("response_b", "A comparison needs two different model versions"))
        for name, response in (("response_a", first), ("response_b", second)):
            if response.status != Response.Status.OK:
                problems.append((name, "Only collected responses can be compared"))
        return problems

    def clean(self) -> None:
        """The admin's form: pair_problems, and the prompt and domain are the answers' own."""
        if self.response_a_id is None or self.response_b_id is None:
            return  # the form names the missing answer
        errors: dict[str, list[str]] = {}
        for name, message in self.pair_problems(self.response_a, self.response_b):
            errors.setdefault(name, []).append(message)
        if self.response_a_id > self.response_b_id:
            # Stored in order, so (a, b) and (b, a) are one comparison (task_canonical_pair).
            errors.setdefault("response_b", []).append(
                "Response B must be the one with the higher id: swap the two answers (and the "
                "sign of the expected preference)"
            )
        prompt = self.response_a.prompt
        if self.response_b.prompt_id == prompt.pk:
            if self.prompt_id is not None and self.prompt_id != prompt.pk:
                errors.setdefault("prompt", []).append(
                    f"Must be the prompt both responses answer ({prompt})"
                )
            if self.domain_id is not None and self.domain_id != prompt.prompt_set.domain_id:
                errors.setdefault("domain", []).append(
                    f"Must be the domain of the responses' prompt ({prompt.prompt_set.domain})"
                )
        if errors:
            raise ValidationError(errors)


class Assignment(models.Model):
    """An expert's slot on a comparison: lease, screen order, the rating, and both reviews."""

    class Status(models.TextChoices):
        LEASED = "leased", "In progress"
        SUBMITTED = "submitted", "Awaiting layer-1 review"
        LAYER1_APPROVED = "layer1_approved", "Awaiting final review"
        APPROVED = "approved", "Approved (final)"
        REJECTED = "rejected", "Rejected"
        EXPIRED = "expired", "Lease expired"
        SKIPPED = "skipped", "Skipped"

    ACTIVE_STATUSES = (Status.LEASED, Status.SUBMITTED, Status.LAYER1_APPROVED, Status.APPROVED)

    class Decision(models.TextChoices):
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    task = models.ForeignKey(ComparisonTask, on_delete=models.PROTECT, related_name="assignments")
    annotator = models.ForeignKey(
        AnnotatorProfile, on_delete=models.PROTECT, related_name="assignments"
    )
    # 1..3 for real comparisons, empty for gold items (any number of people rate those).
    slot = models.PositiveSmallIntegerField(null=True, blank=True)
    is_gold = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.LEASED)
    left_is_a = models.BooleanField(help_text="Response A was shown on the left")
    leased_at = models.DateTimeField()
    lease_expires_at = models.DateTimeField()

    draft = models.JSONField(default=dict, blank=True)
    preference = models.SmallIntegerField(null=True, blank=True, choices=PREFERENCE_CHOICES)
    scores = models.JSONField(default=dict, blank=True, help_text='{"a": {dim: n}, "b": {...}}')
    issue_tags = models.JSONField(default=dict, blank=True, help_text='{"a": [tag], "b": [...]}')
    justification = models.TextField(blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    # Gold items only: did the overall preference point the way staff marked it?
    gold_correct = models.BooleanField(null=True, blank=True)

    layer1_reviewer = models.ForeignKey(
        AnnotatorProfile, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    layer1_decision = models.CharField(max_length=20, choices=Decision.choices, blank=True)
    layer1_reason = models.TextField(blank=True)
    layer1_at = models.DateTimeField(null=True, blank=True)
    layer2_reviewer = models.ForeignKey(
        AnnotatorProfile, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    layer2_decision = models.CharField(max_length=20, choices=Decision.choices, blank=True)
    layer2_reason = models.TextField(blank=True)
    layer2_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-leased_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["task", "slot"],
                condition=Q(status__in=["leased", "submitted", "layer1_approved", "approved"]),
                name="assignment_one_live_per_slot",
            ),
            models.UniqueConstraint(
                fields=["task", "annotator"],
                condition=Q(status__in=["leased", "submitted", "layer1_approved", "approved"]),
                name="assignment_annotator_once_per_task",
            ),
            models.CheckConstraint(
                condition=(Q(is_gold=True, slot__isnull=True))
                | Q(is_gold=False, slot__gte=1, slot__lte=RATINGS_PER_COMPARISON),
                name="assignment_slot_range",
            ),
            models.CheckConstraint(
                condition=Q(layer1_reviewer__isnull=True) | ~Q(layer1_reviewer=F("annotator")),
                name="assignment_layer1_not_annotator",
            ),
            models.CheckConstraint(
                condition=Q(layer2_reviewer__isnull=True)
                | (~Q(layer2_reviewer=F("annotator")) & ~Q(layer2_reviewer=F("layer1_reviewer"))),
                name="assignment_layer2_distinct",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["submitted", "layer1_approved", "approved"])
                | Q(preference__isnull=False, submitted_at__isnull=False),
                name="assignment_submitted_has_rating",
            ),
            models.CheckConstraint(
                condition=~Q(status="approved")
                | Q(
                    layer1_decision="approved",
                    layer2_decision="approved",
                    approved_at__isnull=False,
                ),
                name="assignment_approved_passed_both_layers",
            ),
            models.CheckConstraint(
                condition=~Q(layer1_decision="rejected") | ~Q(layer1_reason=""),
                name="assignment_layer1_rejection_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(layer2_decision="rejected") | ~Q(layer2_reason=""),
                name="assignment_layer2_rejection_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "lease_expires_at"], name="assignment_lease_sweep"),
            models.Index(fields=["annotator", "status"], name="assignment_by_annotator"),
        ]

    def __str__(self) -> str:
        return f"Assignment #{self.pk} ({self.status})"

    @property
    def is_live(self) -> bool:
        return self.status == self.Status.LEASED


class ApprovedRating(models.Model):
    """Append-only, denormalised copy of each finally approved rating, for fast recomputes.

    The leaderboard recompute groups these rows in the database by (prompt, model pair) without
    touching the workflow tables. Triggers refuse UPDATE and DELETE.
    """

    assignment = models.OneToOneField(Assignment, on_delete=models.PROTECT, related_name="+")
    task = models.ForeignKey(ComparisonTask, on_delete=models.PROTECT, related_name="+")
    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, related_name="approved_ratings")
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="approved_ratings")
    model_a = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    model_b = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    annotator = models.ForeignKey(AnnotatorProfile, on_delete=models.PROTECT, related_name="+")
    preference = models.SmallIntegerField(choices=PREFERENCE_CHOICES)
    outcome = models.FloatField(help_text="1 = A better, 0.5 = tie, 0 = B better")
    issue_tags_a = models.JSONField(default=list)
    issue_tags_b = models.JSONField(default=list)
    # Per-dimension scores of each answer, {dimension: n}, as the rating holds them. Nullable and
    # without a default so that adding them was a plain ADD COLUMN on SQLite (a table rebuild
    # drops the append-only triggers); rows approved before they existed stay NULL = not known.
    scores_a = models.JSONField(null=True, blank=True)
    scores_b = models.JSONField(null=True, blank=True)
    approved_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome__in=[0.0, 0.5, 1.0]), name="approved_outcome"
            ),
            models.CheckConstraint(
                condition=~Q(model_a=F("model_b")), name="approved_distinct_models"
            ),
        ]
        indexes = [
            models.Index(fields=["domain", "prompt"], name="approved_by_domain_prompt"),
            # The latest approval per domain: recompute inputs and the lost-request sweep.
            models.Index(fields=["domain", "-approved_at"], name="approved_by_domain_latest"),
        ]

    def __str__(self) -> str:
        return f"Approved rating #{self.pk}"


class ApprovedAnswerSums(models.Model):
    """Per (prompt, model): the rated answers and their score and tag totals, kept at approval.

    Written in the transaction that copies a finally approved rating (one row per answer's
    prompt and model, added to), so a recompute reads one row per (prompt, model) of plain
    numbers instead of unpacking the JSON of every approved rating. `keys` names the totals
    ("s:<dimension>" score sum, "c:<dimension>" scores given, "t:<tag>" answers with the tag;
    sorted, comma-separated) and `totals` holds them as big-endian float64
    (annotation/answer_sums.py). The recompute checks `answers` against the approved ratings
    and unpacks the ratings itself when they disagree (rows written by a path that skipped
    this table), so the table only ever saves time.
    """

    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, related_name="+")
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="+")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    answers = models.PositiveIntegerField(default=0)
    keys = models.TextField(default="", blank=True)
    totals = models.BinaryField(default=b"")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["domain", "prompt", "model_version"], name="approved_answer_sums_unique"
            )
        ]

    def __str__(self) -> str:
        return f"Answer sums of model {self.model_version_id} on prompt {self.prompt_id}"
