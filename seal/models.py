"""The evaluation catalog: what is evaluated (domains, prompts) and who is evaluated (labs, models).

Prompt text is private. Only staff, the annotators working on a comparison and the lab endpoint
being evaluated may receive it; the selectors decide who reads what.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey

from seal.generation_params import validate_generation_params
from seal.prompt_import import (
    content_hash,
    gold_answer_normalise,
    prompt_text_problem,
    text_problem,
)
from seal.rubrics import Rubric, rubric_parse, validate_rubric


class TimeStamped(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Domain(TimeStamped):
    class AnswerGrading(models.TextChoices):
        NONE = "none", "Human preference only"
        NUMERIC = "numeric", "Numeric final answer, auto-graded"

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    rubric = models.JSONField(validators=[validate_rubric])
    answer_grading = models.CharField(
        max_length=20, choices=AnswerGrading.choices, default=AnswerGrading.NONE
    )
    is_active = models.BooleanField(default=True)
    # Nullable without default so adding them is a plain ADD COLUMN (see the migration).
    rating_budget = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Most expert ratings this domain may spend in all (done plus scheduled). "
        "Empty: comparisons are scheduled once per submission, nothing adaptive is added.",
    )
    target_half_width = models.FloatField(
        null=True,
        blank=True,
        help_text="A submitted model's evaluation is done when its 95% interval is this narrow "
        "(Elo points, half the width). Empty: SEAL_SCHEDULING_TARGET_HALF_WIDTH.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def parsed_rubric(self) -> Rubric:
        return rubric_parse(self.rubric)

    @property
    def requires_gold_answer(self) -> bool:
        return self.answer_grading == self.AnswerGrading.NUMERIC


# A category's slug is its board's key under /leaderboards/<domain>/: one equal to the overall
# board's key or to a page there would shadow it or be shadowed ("overall" is
# leaderboards.models.OVERALL_KEY; a test checks this set against the URL patterns).
RESERVED_CATEGORY_SLUGS = frozenset({"overall", "snapshots", "diff", "seasons"})


def category_slug_problem(slug: str) -> str | None:
    """Why a category cannot have this slug, or None."""
    if slug in RESERVED_CATEGORY_SLUGS:
        return f'"{slug}" names a leaderboard page; choose another slug'
    return None


def validate_category_slug(slug: str) -> None:
    if problem := category_slug_problem(slug):
        raise ValidationError(problem)


class Category(models.Model):
    """One value of one facet of a domain: Coding / language / Python, Spanish / region / Mexico."""

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="categories")
    facet = models.SlugField(max_length=50, help_text="e.g. use_case, language, region, task")
    value = models.CharField(max_length=100)
    slug = models.SlugField(max_length=120, validators=[validate_category_slug])
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["domain", "facet", "value"]
        verbose_name_plural = "categories"
        constraints = [
            models.UniqueConstraint(
                fields=["domain", "facet", "value"], name="category_unique_value"
            ),
            models.UniqueConstraint(fields=["domain", "slug"], name="category_unique_slug"),
        ]

    def __str__(self) -> str:
        return f"{self.domain.name} / {self.facet_label} / {self.value}"

    @property
    def facet_label(self) -> str:
        return self.facet.replace("_", " ")


class PromptSet(TimeStamped):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, related_name="prompt_sets")
    version = models.CharField(max_length=50, help_text="e.g. 2026-11")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["domain", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["domain", "version"], name="prompt_set_unique_version"),
            # At most one active set per domain: it is the set new submissions are evaluated on.
            models.UniqueConstraint(
                fields=["domain"], condition=Q(status="active"), name="prompt_set_one_active"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.domain.name} {self.version} ({self.status})"

    def activation_problem(self) -> str | None:
        """Why this set, as it stands, cannot become its domain's active one (prompt_set_activate
        and the admin's form keep this): only a draft with prompts can."""
        if self.status != self.Status.DRAFT:
            return f"Only a draft set can be activated; this one is {self.status}"
        if self.pk is None or not self.prompts.exists():
            return "An empty prompt set cannot be activated"
        return None

    def clean(self) -> None:
        """The admin's form: a set becomes active only as prompt_set_activate makes it."""
        if self.status != self.Status.ACTIVE or self.domain_id is None:
            return
        stored = None if self._state.adding else PromptSet.objects.filter(pk=self.pk).first()
        if stored is not None and stored.status == self.Status.ACTIVE:
            return
        problem = (stored or PromptSet(domain_id=self.domain_id)).activation_problem()
        others = PromptSet.objects.filter(domain_id=self.domain_id, status=self.Status.ACTIVE)
        if problem is None and others.exclude(pk=self.pk).exists():
            problem = (
                "Another set of this domain is active: activate this one with the action "
                "“Activate the selected draft sets”, which retires the other"
            )
        if problem:
            raise ValidationError({"status": [problem]})


class Prompt(models.Model):
    prompt_set = models.ForeignKey(PromptSet, on_delete=models.CASCADE, related_name="prompts")
    external_id = models.CharField(max_length=100, blank=True)
    text = models.TextField()
    gold_answer = models.CharField(max_length=200, blank=True)
    categories = models.ManyToManyField(Category, blank=True, related_name="prompts")
    is_public_sample = models.BooleanField(
        default=False, help_text="Published on the methodology page. Everything else stays private."
    )
    content_hash = models.CharField(max_length=64, help_text="SHA-256 of the normalised text")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["prompt_set", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["prompt_set", "content_hash"], name="prompt_unique_content"
            ),
            models.UniqueConstraint(
                fields=["prompt_set", "external_id"],
                condition=~Q(external_id=""),
                name="prompt_unique_external_id",
            ),
        ]

    def __str__(self) -> str:
        # Never the text: this string shows up in logs and admin breadcrumbs.
        label = self.external_id or f"#{self.pk}"
        return f"Prompt {label}"

    def problems(self) -> dict[str, list[str]]:
        """Derive the hash and gold answer as the import does; name each import rule broken.

        The import's rules for one prompt (seal/prompt_import.py: the text, the external id, a
        numeric gold answer), one copy of a text per set (the hash of the normalised text), and
        prompts added only to a draft set. The admin's form (clean) and the services
        (prompt_edit) call this, so a written text always carries its own hash and a copy is
        refused by name. The text's rules hold for a text being written (a new prompt, a new
        text, a move to another set): a row a final rating cites keeps its text as it is.
        """
        errors: dict[str, list[str]] = {}
        stored = (
            None
            if self._state.adding
            else Prompt.objects.filter(pk=self.pk).values_list("prompt_set_id", "text").first()
        )
        moved = stored is None or stored[0] != self.prompt_set_id
        if moved or stored is None or stored[1] != self.text:
            if problem := prompt_text_problem(self.text):
                errors["text"] = [problem]
            self.content_hash = content_hash(self.text)
            if "text" not in errors and self.prompt_set_id is not None:
                same = Prompt.objects.filter(
                    prompt_set_id=self.prompt_set_id, content_hash=self.content_hash
                ).exclude(pk=self.pk)
                for ext, pk in same.values_list("external_id", "pk")[:1]:
                    errors["text"] = [f"duplicate of prompt {ext or f'#{pk}'} already in this set"]
        if problem := text_problem("external_id", self.external_id):
            errors["external_id"] = [problem]
        if self.prompt_set_id is None:
            return errors  # the form names the missing set
        prompt_set = self.prompt_set
        self.gold_answer, gold_problems = gold_answer_normalise(
            self.gold_answer, numeric=prompt_set.domain.requires_gold_answer
        )
        if gold_problems:
            errors["gold_answer"] = gold_problems
        if moved and prompt_set.status != PromptSet.Status.DRAFT:
            errors["prompt_set"] = [
                f"Prompt set {prompt_set.domain.slug} {prompt_set.version} is "
                f"{prompt_set.status}; prompts can only be added to a draft set. Import into a "
                "new version instead."
            ]
        return errors

    def clean(self) -> None:
        """The admin's form: the rules of problems(), each on its field."""
        problems = self.problems()
        if problems:
            raise ValidationError(problems)

    @staticmethod
    def categories_problem(prompt_set: PromptSet, categories: Iterable[Category]) -> str | None:
        """Why these cannot be a prompt's categories in this set: each is one of its domain's."""
        foreign = [str(c) for c in categories if c.domain_id != prompt_set.domain_id]
        if foreign:
            return f"Not categories of {prompt_set.domain}: {', '.join(foreign)}"
        return None


class Lab(TimeStamped):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=50, unique=True)
    contact_email = models.EmailField(blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ModelVersion(TimeStamped):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="model_versions")
    name = models.CharField(max_length=100)
    version = models.CharField(max_length=50)
    base_url = models.URLField(
        max_length=500, help_text="OpenAI-compatible base URL, e.g. https://api.example.com/v1"
    )
    model_id = models.CharField(max_length=200, help_text="The `model` sent to the endpoint")
    generation_params = models.JSONField(
        default=dict, blank=True, validators=[validate_generation_params]
    )
    # Write-only: forms and serializers accept it but never render it back.
    api_secret = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)

    class Meta:
        ordering = ["lab", "name", "version"]
        constraints = [
            models.UniqueConstraint(fields=["lab", "name", "version"], name="model_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"

    @property
    def has_api_secret(self) -> bool:
        return bool(self.api_secret)


class Submission(TimeStamped):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        COLLECTING = "collecting", "Collecting responses"
        COLLECTED = "collected", "Responses collected"
        COMPARING = "comparing", "In human evaluation"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="submissions"
    )
    domains = models.ManyToManyField(Domain, related_name="submissions")
    # The domains' active sets when the lab submitted: later activations do not move the target.
    prompt_sets = models.ManyToManyField(PromptSet, blank=True, related_name="submissions")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    status_detail = models.TextField(blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    collection_started_at = models.DateTimeField(null=True, blank=True)
    collection_finished_at = models.DateTimeField(null=True, blank=True)
    # Set by the annotation layer once it paired the collected answers; while a collected
    # submission has none, its scheduling message may have been lost and the sweep sends it again.
    comparisons_scheduled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Submission #{self.pk} of {self.model_version}"

    @property
    def is_collecting(self) -> bool:
        return self.status in {self.Status.PENDING, self.Status.COLLECTING}


class Response(TimeStamped):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        OK = "ok", "Collected"
        FAILED = "failed", "Failed"

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="responses"
    )
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="responses")
    submission = models.ForeignKey(
        Submission, null=True, blank=True, on_delete=models.SET_NULL, related_name="responses"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    text = models.TextField(blank=True)
    # The answer rendered once, when it was stored: sanitised HTML, or the escaped text in <pre>
    # when rendering was refused or ran over its bounds. Pages show this and never render again.
    html = models.TextField(blank=True)
    finish_reason = models.CharField(max_length=50, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # How many times a collector claimed this prompt to send it, counted before sending, so a
    # send whose collector died counts too; at SEAL_COLLECTION_MAX_SENDS_PER_PROMPT it is failed.
    sends = models.PositiveIntegerField(default=0)
    # Set when the lab had been sent this prompt before this submission (possible contamination).
    lab_previously_exposed = models.BooleanField(default=False)

    class Meta:
        ordering = ["model_version", "prompt"]
        constraints = [
            models.UniqueConstraint(fields=["model_version", "prompt"], name="response_unique"),
            models.CheckConstraint(
                condition=~Q(status="ok") | Q(error=""), name="response_ok_has_no_error"
            ),
        ]

    def __str__(self) -> str:
        return f"Response of {self.model_version} to {self.prompt}"


class ResponseStyle(models.Model):
    """Style counts of one collected answer (seal/answer_style.py), counted once when stored.

    A table of its own rather than columns on Response: a response cited by a final rating is
    frozen by database triggers, and adding columns to Response would rebuild the table on
    SQLite and drop them. The leaderboards' style control reads these counts."""

    response = models.OneToOneField(
        Response, on_delete=models.CASCADE, primary_key=True, related_name="style"
    )
    tokens = models.PositiveIntegerField()
    headers = models.PositiveIntegerField()
    list_items = models.PositiveIntegerField()
    bold = models.PositiveIntegerField()
    code_blocks = models.PositiveIntegerField()
    version = models.PositiveSmallIntegerField(help_text="Counting rules version")

    class Meta:
        ordering = ["response"]

    def __str__(self) -> str:
        return f"Style of response {self.response_id}"


class PromptExposure(models.Model):
    """The first time a lab's endpoint was sent a prompt: prompt text has then left the platform."""

    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="exposures")
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="exposures")
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="exposures"
    )
    submission = models.ForeignKey(
        Submission, null=True, blank=True, on_delete=models.SET_NULL, related_name="exposures"
    )
    first_exposed_at = models.DateTimeField()

    class Meta:
        ordering = ["-first_exposed_at"]
        constraints = [
            models.UniqueConstraint(fields=["lab", "prompt"], name="exposure_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.lab} saw {self.prompt}"


class LabAPIKey(AbstractAPIKey):
    """A lab's key to the API: stored hashed, shown once, revocable, optionally expiring."""

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="api_keys")

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "lab API key"
        verbose_name_plural = "lab API keys"

    @property
    def is_usable(self) -> bool:
        return not self.revoked and not self.has_expired

    @staticmethod
    def expiry_problem(expiry: datetime | None) -> str | None:
        """Why a new key cannot have this expiry (None: it can): none, or a time still to come."""
        if expiry is not None and expiry <= timezone.now():
            return "The expiry must be in the future."
        return None


class CollectionLease(models.Model):
    """Who is calling a lab's endpoints now: one collector per lab keeps its concurrency bounded."""

    lab = models.OneToOneField(
        Lab, on_delete=models.CASCADE, primary_key=True, related_name="collection_lease"
    )
    holder = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Collection lease of {self.lab}"


class WorkerHeartbeat(models.Model):
    """Last sign of life from the Celery workers, written by a beat-scheduled task."""

    hostname = models.CharField(max_length=255, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.hostname} at {self.seen_at:%Y-%m-%d %H:%M:%S}"


class WebhookEndpoint(TimeStamped):
    """Where a lab wants to hear about its evaluations (Standard Webhooks, signed per endpoint)."""

    class EventType(models.TextChoices):
        SUBMISSION_COLLECTED = "submission.collected", "Submission collected"
        SUBMISSION_COMPLETED = "submission.completed", "Submission completed"
        RESULTS_PUBLISHED = "results.published", "Results published"

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    # `whsec_` + base64 of 32 random bytes, generated by the platform. It signs the messages, so
    # it is kept as is (a hash could not sign); only the lab reads it back, through the API.
    secret = models.CharField(max_length=100)
    # After a rotation, messages carry a signature with the old secret too until this passes,
    # so a lab can switch its receiver over without dropping a message (Standard Webhooks allows
    # several space-separated signatures).
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    event_types = models.JSONField(default=list, help_text="Event types sent to this endpoint")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["lab", "pk"]

    def __str__(self) -> str:
        return f"Webhook #{self.pk} of {self.lab}"

    def subscribes_to(self, event_type: str) -> bool:
        return event_type in self.event_types


class WebhookDelivery(TimeStamped):
    """One event for one endpoint: sent until it is acknowledged with a 2xx or given up on."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    # Sent as `webhook-id`: the same on every attempt, so a receiver can drop a repeat.
    event_id = models.CharField(max_length=100)
    event_type = models.CharField(max_length=50)
    # The message's `data`; its `timestamp` is created_at, so every attempt sends the same body.
    payload = models.JSONField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A sender owns the delivery while claim_token is its own and claimed_until has not passed.
    claim_token = models.CharField(max_length=32, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event_id"], name="webhook_delivery_unique_event"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} to webhook #{self.endpoint_id}"
