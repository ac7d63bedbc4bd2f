"""Leaderboards: recompute jobs, immutable snapshots of every board of a domain, the public pointer.

A snapshot holds everything one recompute produced for a domain: a board for the whole domain and
one per category, each with its per-model lines (SnapshotEntry, for fast per-model history) and its
charts. A snapshot is written unpublished, filled, then marked published and the public pointer
(PublishedLeaderboard) switched to it, all in one transaction, so nobody sees a half-written one.
Database triggers (migrations 0002 and 0004) make published snapshots append-only: nothing is
added to, changed in or deleted from a published snapshot (only staff's `is_hidden` flag flips, and
charts, drawn from the entries, may be added once per kind), no table is truncated, and the pointer
only moves to a published, visible snapshot of its own domain.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from seal.models import Category, Domain, ModelVersion, PromptSet, Submission

OVERALL_KEY = "overall"


class RecomputeJob(models.Model):
    """One recompute of a domain's leaderboards. At most one is queued or running per domain."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        APPROVAL = "approval", "Final approval"
        SCHEDULE = "schedule", "Beat schedule"
        STAFF = "staff", "Staff"
        SEED = "seed", "Demo seed"
        RERUN = "rerun", "Rerun (data changed during a run)"
        SWEEP = "sweep", "Sweep (an approval's request was lost)"

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="recompute_jobs")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.APPROVAL)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    # When a message for this job was last sent; the sweep re-sends one that never got picked up.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Set per claim; only the run holding the current token may publish.
    run_token = models.CharField(max_length=32, blank=True)
    error = models.TextField(blank=True)
    rerun_requested = models.BooleanField(
        default=False, help_text="Ratings arrived while running: run once more when done"
    )
    snapshot = models.ForeignKey(
        "Snapshot", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-requested_at", "-pk"]
        constraints = [
            # The debounce: a request while a job is queued joins it, while running flags a rerun.
            models.UniqueConstraint(
                fields=["domain"],
                condition=Q(status__in=["queued", "running"]),
                name="recompute_job_one_active_per_domain",
            ),
            models.CheckConstraint(
                condition=~Q(status="running") | Q(started_at__isnull=False),
                name="recompute_job_running_has_start",
            ),
        ]
        indexes = [models.Index(fields=["status", "started_at"], name="recompute_job_sweep")]

    def __str__(self) -> str:
        return f"Recompute #{self.pk} of {self.domain_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES


class Snapshot(models.Model):
    """Every board of one domain as computed from one set of approved ratings; immutable."""

    domain = models.ForeignKey(
        Domain, on_delete=models.PROTECT, related_name="leaderboard_snapshots"
    )
    input_fingerprint = models.CharField(
        max_length=64, help_text="SHA-256 of the aggregated input, the grading and the config"
    )
    created_at = models.DateTimeField(default=timezone.now)
    config = models.JSONField(help_text="Engine parameters, thresholds and versions")
    agreement = models.JSONField(
        null=True, blank=True, help_text="Krippendorff's alpha on the ordinal preference"
    )
    n_ratings = models.PositiveIntegerField(default=0)
    n_prompts = models.PositiveIntegerField(default=0)
    n_models = models.PositiveIntegerField(default=0)
    ratings_through = models.DateTimeField(
        null=True, blank=True, help_text="Latest final approval included"
    )
    # The season: the prompt set whose ratings it was computed from (the domain's active set at
    # the time); None for a domain without an active set (then every rating counts) and for
    # snapshots from before seasons. Nullable without default: a plain ADD COLUMN on SQLite,
    # whose table rebuild would drop the append-only triggers.
    prompt_set = models.ForeignKey(
        PromptSet, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Set once, in the transaction that writes the snapshot, after its boards and entries: from
    # then on the triggers refuse any row added to, changed in or deleted from it.
    is_published = models.BooleanField(default=False)
    # The only fields that may change after insert (staff retract a snapshot).
    is_hidden = models.BooleanField(default=False)
    hidden_at = models.DateTimeField(null=True, blank=True)
    hidden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["domain", "input_fingerprint"], name="snapshot_unique_input"
            ),
        ]
        indexes = [models.Index(fields=["domain", "-created_at"], name="snapshot_by_domain")]

    def __str__(self) -> str:
        return f"Snapshot #{self.pk} of {self.domain_id} ({self.created_at:%Y-%m-%d %H:%M})"

    @property
    def etag(self) -> str:
        return f'"{self.pk}-{self.input_fingerprint[:16]}"'


class SnapshotBoard(models.Model):
    """One leaderboard of a snapshot: the whole domain, or one category value."""

    class Status(models.TextChoices):
        RANKED = "ranked", "Ranked"
        INSUFFICIENT = "insufficient", "Too few ratings"
        DISCONNECTED = "disconnected", "Models never compared with each other"

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="boards")
    key = models.CharField(max_length=120, help_text='"overall" or the category slug')
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Copied from the category, so an old snapshot reads as it was published.
    facet = models.CharField(max_length=50, blank=True)
    title = models.CharField(max_length=200)
    position = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=20, choices=Status.choices)
    status_detail = models.TextField(blank=True)
    n_ratings = models.PositiveIntegerField(default=0)
    n_prompts = models.PositiveIntegerField(default=0)
    n_models = models.PositiveIntegerField(default=0)
    separability = models.FloatField(null=True, blank=True)
    has_accuracy = models.BooleanField(default=False)
    data = models.JSONField(
        default=dict, help_text="The engine's output (win-rate matrices, config, diagnostics)"
    )
    # Nullable without a default, so adding it is a plain ADD COLUMN on SQLite too (a table
    # rebuild would drop the append-only triggers). None: no style-controlled view.
    style = models.JSONField(
        null=True,
        blank=True,
        help_text="Style control: the style coefficients with their intervals, and counts",
    )

    class Meta:
        ordering = ["snapshot", "position"]
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "key"], name="snapshot_board_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.title} (snapshot #{self.snapshot_id})"

    @property
    def is_ranked(self) -> bool:
        return self.status == self.Status.RANKED

    @property
    def is_overall(self) -> bool:
        return self.key == OVERALL_KEY


class SnapshotEntry(models.Model):
    """One model's line on one board of a snapshot."""

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="entries")
    board = models.ForeignKey(SnapshotBoard, on_delete=models.CASCADE, related_name="entries")
    board_key = models.CharField(max_length=120)
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="leaderboard_entries"
    )
    position = models.PositiveIntegerField()
    rank = models.PositiveIntegerField(null=True, blank=True)
    rank_with_uncertainty = models.PositiveIntegerField(null=True, blank=True)
    elo = models.FloatField(null=True, blank=True)
    lower = models.FloatField(null=True, blank=True)
    upper = models.FloatField(null=True, blank=True)
    standard_error = models.FloatField(null=True, blank=True)
    n_ratings = models.PositiveIntegerField(default=0)
    wins = models.PositiveIntegerField(default=0)
    ties = models.PositiveIntegerField(default=0)
    losses = models.PositiveIntegerField(default=0)
    accuracy = models.FloatField(null=True, blank=True)
    accuracy_lower = models.FloatField(null=True, blank=True)
    accuracy_upper = models.FloatField(null=True, blank=True)
    accuracy_n = models.PositiveIntegerField(null=True, blank=True)
    contaminated = models.BooleanField(
        default=False, help_text="The lab had been sent some of this board's prompts before"
    )
    few_ratings = models.BooleanField(default=False)
    # Nullable so that adding it is a plain ADD COLUMN on SQLite too: a table rebuild there
    # would drop the append-only triggers of this table.
    not_ranked_reason = models.CharField(  # noqa: DJ001
        max_length=200,
        null=True,
        blank=True,
        help_text='Why an unranked model has no rank, e.g. "3 ratings; needs 20"',
    )
    # Added nullable (plain ADD COLUMN on SQLite): the rank spread, the 95% range of the
    # model's rank over the bootstrap replicas; and its line on the style-controlled view.
    rank_lower = models.PositiveIntegerField(null=True, blank=True)
    rank_upper = models.PositiveIntegerField(null=True, blank=True)
    style_elo = models.FloatField(null=True, blank=True)
    style_lower = models.FloatField(null=True, blank=True)
    style_upper = models.FloatField(null=True, blank=True)
    style_rank = models.PositiveIntegerField(
        null=True, blank=True, help_text="Rank with uncertainty on the style-controlled view"
    )
    style_rank_lower = models.PositiveIntegerField(null=True, blank=True)
    style_rank_upper = models.PositiveIntegerField(null=True, blank=True)
    # What experts found on this board: mean rubric scores and issue-tag rates with intervals,
    # and (category boards) the standing against the whole domain. Nullable without a default
    # for the same reason as above; NULL on entries written before it existed.
    diagnostics = models.JSONField(
        null=True,
        blank=True,
        help_text="Rubric-score means and issue-tag rates with 95% intervals; category boards "
        "also the difference from the model's overall standing",
    )

    class Meta:
        ordering = ["board", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["board", "model_version"], name="snapshot_entry_unique_model"
            ),
        ]
        indexes = [
            models.Index(
                fields=["model_version", "board_key", "snapshot"], name="snapshot_entry_history"
            )
        ]

    def __str__(self) -> str:
        return f"{self.model_version_id} on board {self.board_id}"

    @property
    def is_ranked(self) -> bool:
        return self.rank is not None

    @property
    def plus(self) -> float | None:
        return None if self.upper is None or self.elo is None else self.upper - self.elo

    @property
    def minus(self) -> float | None:
        return None if self.lower is None or self.elo is None else self.elo - self.lower


class SnapshotChart(models.Model):
    """A chart of one board as SVG text drawn by matplotlib; written once, served as is."""

    class Kind(models.TextChoices):
        INTERVALS = "intervals", "Elo with 95% intervals"
        WIN_RATES = "win-rates", "Win-rate heatmap"

    board = models.ForeignKey(SnapshotBoard, on_delete=models.CASCADE, related_name="charts")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    svg = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["board", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["board", "kind"], name="snapshot_chart_unique_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} chart of board {self.board_id}"


class SnapshotRatingsFile(models.Model):
    """The anonymised ratings file of a snapshot (gzip JSON Lines, no text): exactly the input
    that produced it, so anyone can recompute its numbers. Formatted from the snapshot's
    SnapshotRatingsSource at its first download and inserted once; never changed or deleted
    afterwards (the triggers of migrations 0009 and 0011 hold it)."""

    snapshot = models.OneToOneField(Snapshot, on_delete=models.CASCADE, related_name="ratings_file")
    content = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    n_ratings = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["snapshot"]

    def __str__(self) -> str:
        return f"Ratings file of snapshot #{self.snapshot_id}"


class SnapshotRatingsSource(models.Model):
    """What a snapshot's anonymised ratings file is written from, kept in its publishing
    transaction (append-only like the snapshot): the file's header and the recompute's sorted,
    pseudonymised arrays (`leaderboards.stats.ratings_file.ratings_source_pack`). The file is
    formatted from it once, at its first download, and kept (SnapshotRatingsFile)."""

    snapshot = models.OneToOneField(
        Snapshot, on_delete=models.CASCADE, related_name="ratings_source"
    )
    header = models.JSONField()
    packed = models.BinaryField()
    n_ratings = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["snapshot"]

    def __str__(self) -> str:
        return f"Ratings file source of snapshot #{self.snapshot_id}"


class PublishedLeaderboard(models.Model):
    """Which snapshot the public sees for a domain; switched in the transaction that publishes."""

    domain = models.OneToOneField(
        Domain, on_delete=models.CASCADE, related_name="published_leaderboard"
    )
    snapshot = models.ForeignKey(Snapshot, on_delete=models.PROTECT, related_name="+")
    published_at = models.DateTimeField()

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return f"{self.domain_id} -> snapshot #{self.snapshot_id}"


class SchedulingJob(models.Model):
    """One adaptive scheduling run of a domain (the recompute's job-row pattern): at most one
    queued or running per domain; a run that lost its claim writes nothing."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Beat schedule"
        STAFF = "staff", "Staff"
        SWEEP = "sweep", "Sweep"

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="scheduling_jobs")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.SCHEDULE)
    requested_at = models.DateTimeField(default=timezone.now)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    run_token = models.CharField(max_length=32, blank=True)
    error = models.TextField(blank=True)
    created_comparisons = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True, help_text="What the run saw and did")

    class Meta:
        ordering = ["-requested_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["domain"],
                condition=Q(status__in=["queued", "running"]),
                name="scheduling_job_one_active_per_domain",
            ),
            models.CheckConstraint(
                condition=~Q(status="running") | Q(started_at__isnull=False),
                name="scheduling_job_running_has_start",
            ),
        ]
        indexes = [models.Index(fields=["status", "started_at"], name="scheduling_job_sweep")]

    def __str__(self) -> str:
        return f"Scheduling #{self.pk} of {self.domain_id} ({self.status})"


class EvaluationProgress(models.Model):
    """Where one submission's evaluation in one domain stands; written by the scheduling run.

    `done_reason` is set once, with the interval that ended it (`final_snapshot`)."""

    class Reason(models.TextChoices):
        PRECISION = "precision", "Interval reached the target width"
        SETTLED = "settled", "Position relative to its neighbours is settled"
        BUDGET = "budget", "The domain's rating budget is spent"
        NO_COMPARISONS = "no_comparisons", "Nothing to compare in this domain"

    submission = models.ForeignKey(
        Submission, on_delete=models.CASCADE, related_name="evaluation_progress"
    )
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="+")
    ratings_done = models.PositiveIntegerField(default=0)
    ratings_scheduled = models.PositiveIntegerField(
        default=0, help_text="Ratings still to come on comparisons already scheduled"
    )
    ratings_needed = models.PositiveIntegerField(
        null=True, blank=True, help_text="Estimated further ratings before the target is met"
    )
    elo = models.FloatField(null=True, blank=True)
    lower = models.FloatField(null=True, blank=True)
    upper = models.FloatField(null=True, blank=True)
    target_half_width = models.FloatField()
    snapshot = models.ForeignKey(
        Snapshot, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    estimated_finish = models.DateTimeField(null=True, blank=True)
    done_reason = models.CharField(max_length=20, choices=Reason.choices, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["submission", "domain"]
        constraints = [
            models.UniqueConstraint(
                fields=["submission", "domain"], name="evaluation_progress_unique"
            ),
            models.CheckConstraint(
                condition=Q(done_reason="") | Q(done_at__isnull=False),
                name="evaluation_progress_done_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"Evaluation of submission {self.submission_id} in {self.domain_id}"

    @property
    def is_done(self) -> bool:
        return bool(self.done_reason)

    @property
    def half_width(self) -> float | None:
        if self.lower is None or self.upper is None:
            return None
        return (self.upper - self.lower) / 2.0


class DomainLeaderboard(Domain):
    """A domain as staff see it in the leaderboards admin: its public snapshot, its recomputes."""

    class Meta:
        proxy = True
        verbose_name = "domain leaderboard"
