"""Every write of the leaderboards: recompute jobs, snapshot publishing, hiding, charts.

A recompute is a RecomputeJob row (the source of truth; the broker only signals). Requests are
debounced to one queued-or-running job per domain by a partial unique index; a request while a
job runs flags a rerun (requests, claims and the sweep of job rows: leaderboards/jobs.py). A run
claims its job with a fresh token, computes outside any transaction, then publishes in one
transaction: the snapshot inserted unpublished, its boards and entries, the snapshot marked
published, the public pointer moved, or nothing (the database triggers of migration 0004 allow
no other shape). A worker killed mid-run leaves the previous snapshot public; the sweep puts its
job back in the queue and the rerun, which reads the same data, publishes once (a snapshot is
unique per domain and input fingerprint).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from annotation.models import RATINGS_PER_COMPARISON
from leaderboards.jobs import RECOMPUTE_JOBS, SCHEDULING_JOBS, ClaimLost
from leaderboards.models import (
    EvaluationProgress,
    PublishedLeaderboard,
    RecomputeJob,
    SchedulingJob,
    Snapshot,
    SnapshotBoard,
    SnapshotChart,
    SnapshotEntry,
    SnapshotRatingsFile,
    SnapshotRatingsSource,
)
from leaderboards.selectors import (
    domains_with_unrequested_approvals,
    model_labels,
    snapshot_results_by_lab,
)
from seal.errors import ApplicationError
from seal.models import Domain, Submission, WebhookEndpoint
from seal.services import response_styles_backfill, webhook_event_emit

if TYPE_CHECKING:
    from leaderboards.recompute import SnapshotDraft
    from leaderboards.recompute_inputs import RecomputeInputs
    from leaderboards.scheduling import EvaluationState

# The recompute (its reads in recompute_inputs.py, its computation in recompute.py: numpy, pandas)
# and the charts (matplotlib) are imported by the functions that use them: a web process loads
# this module for the admin and the staff actions, and serves pages without ever computing a
# board or drawing a chart.

logger = logging.getLogger(__name__)

# Errors worth another try: the database went away or a connection broke mid-run.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)


# --- Requests and the debounce ------------------------------------------------------------------


def recompute_request(
    *,
    domain: Domain,
    trigger: str = RecomputeJob.Trigger.APPROVAL,
    requested_by: User | None = None,
    enqueue: bool = True,
) -> RecomputeJob:
    """Ask for a recompute of a domain's leaderboards; at most one job runs per domain at a time.

    A queued job already covers the request; a running one is told to run once more when done."""
    return RECOMPUTE_JOBS.request(
        domain_id=domain.pk, trigger=trigger, enqueue=enqueue, requested_by=requested_by
    )


def recompute_request_all(*, trigger: str = RecomputeJob.Trigger.SCHEDULE) -> int:
    """Request a recompute of every active domain (beat); unchanged input publishes nothing new."""
    domains = list(Domain.objects.filter(is_active=True))
    for domain in domains:
        recompute_request(domain=domain, trigger=trigger)
    return len(domains)


# --- Running a job -------------------------------------------------------------------------------


def _inputs_read(domain: Domain) -> RecomputeInputs:
    from leaderboards.recompute_inputs import recompute_inputs_read

    return recompute_inputs_read(domain=domain)


def snapshot_draft_compute(inputs: RecomputeInputs) -> SnapshotDraft:
    """Every board of a snapshot from its input (the recompute module, loaded on first use)."""
    from leaderboards.recompute import snapshot_draft_compute as compute

    return compute(inputs)


def recompute_job_run(*, job_id: int, draw_charts: bool = True) -> Snapshot | None:
    """Run a queued recompute job: every board, published atomically, then its charts."""
    token = uuid.uuid4().hex
    job = RECOMPUTE_JOBS.claim(job_id, token)
    if job is None:
        return None
    try:
        domain = Domain.objects.get(pk=job.domain_id)
        # Answers are counted when stored; any stored by another path are counted now, so the
        # style-controlled boards (and the input fingerprint) see every answer's style.
        response_styles_backfill(domain_id=domain.pk)
        inputs = _inputs_read(domain)
        snapshot = Snapshot.objects.filter(
            domain=domain, input_fingerprint=inputs.fingerprint
        ).first()
        if snapshot is None:
            draft = snapshot_draft_compute(inputs)
            snapshot = _snapshot_publish(job_id=job_id, token=token, draft=draft)
        else:
            # Same input as an existing snapshot: nothing new to publish (a hidden one stays so).
            _snapshot_republish(job_id=job_id, token=token, snapshot=snapshot)
    except ClaimLost:
        logger.warning("recompute job %s was taken over by another run; not publishing", job_id)
        return None
    except TRANSIENT_ERRORS as exc:
        RECOMPUTE_JOBS.release(job_id, token, f"{type(exc).__name__}: {exc}")
        raise
    except Exception as exc:
        logger.exception("recompute job %s failed", job_id)
        RECOMPUTE_JOBS.fail(job_id, token, f"{type(exc).__name__}: {exc}")
        return None
    if not draw_charts:
        return snapshot
    try:
        snapshot_charts_render(snapshot=snapshot)
    except Exception:
        # The chart views draw a missing chart on first request; the snapshot stands.
        logger.exception("charts of snapshot %s could not be drawn now", snapshot.pk)
    return snapshot


def _pointer_set(domain_id: int, snapshot: Snapshot | None) -> None:
    if snapshot is None:
        PublishedLeaderboard.objects.filter(domain_id=domain_id).delete()
    else:
        PublishedLeaderboard.objects.update_or_create(
            domain_id=domain_id,
            defaults={"snapshot": snapshot, "published_at": timezone.now()},
        )


def _snapshot_publish(*, job_id: int, token: str, draft: SnapshotDraft) -> Snapshot:
    with transaction.atomic():
        job = RECOMPUTE_JOBS.locked(job_id, token)
        try:
            with transaction.atomic():
                snapshot = _snapshot_insert(draft)
        except IntegrityError:
            # A run that lost its claim published the same input first: that one counts.
            snapshot = Snapshot.objects.get(
                domain_id=draft.domain_id, input_fingerprint=draft.fingerprint
            )
        current = PublishedLeaderboard.objects.filter(domain_id=draft.domain_id).first()
        if _pointer_may_move(snapshot, current):
            _pointer_set(draft.domain_id, snapshot)
            _results_published_emit(snapshot)
        job.snapshot = snapshot
        RECOMPUTE_JOBS.close(job, status=RecomputeJob.Status.SUCCEEDED)
    return snapshot


def _results_published_emit(snapshot: Snapshot) -> None:
    """Tell each lab with a model on the newly public snapshot (webhook `results.published`),
    in the publishing transaction: the event is recorded exactly when the snapshot goes public."""
    if not WebhookEndpoint.objects.filter(is_active=True).exists():
        return  # nobody listens: skip reading every line of the snapshot
    for lab, data in snapshot_results_by_lab(snapshot=snapshot).items():
        try:
            webhook_event_emit(
                lab=lab,
                event_type=WebhookEndpoint.EventType.RESULTS_PUBLISHED,
                # Per snapshot and lab: publishing the same snapshot again sends nothing new.
                event_id=f"evt_results_{snapshot.pk}_lab_{lab.pk}",
                payload=data,
            )
        except ApplicationError as exc:
            # A refused event (say, over SEAL_WEBHOOK_MAX_PAYLOAD_BYTES) never holds up the board.
            logger.error("results.published for lab %s not sent: %s", lab.pk, exc.message)


def _pointer_may_move(snapshot: Snapshot, current: PublishedLeaderboard | None) -> bool:
    """The pointer's rule, as the database trigger holds it: forward, or to the latest visible."""
    if snapshot.is_hidden or not snapshot.is_published:
        return False
    if current is None or snapshot.pk > current.snapshot_id:
        return True
    latest = _latest_visible(snapshot.domain_id)
    return current.snapshot_id != snapshot.pk and latest is not None and latest.pk == snapshot.pk


def _snapshot_republish(*, job_id: int, token: str, snapshot: Snapshot) -> None:
    with transaction.atomic():
        job = RECOMPUTE_JOBS.locked(job_id, token)
        current = PublishedLeaderboard.objects.filter(domain_id=snapshot.domain_id).first()
        if _pointer_may_move(snapshot, current):
            _pointer_set(snapshot.domain_id, snapshot)
            _results_published_emit(snapshot)
        elif current is not None and current.snapshot_id != snapshot.pk:
            logger.warning(
                "snapshot %s matches the input again but is older than the public one (%s); "
                "the public board does not roll back (hide the newer one to show it)",
                snapshot.pk,
                current.snapshot_id,
            )
        job.snapshot = snapshot
        RECOMPUTE_JOBS.close(job, status=RecomputeJob.Status.SUCCEEDED)


def _snapshot_insert(draft: SnapshotDraft) -> Snapshot:
    snapshot = Snapshot.objects.create(
        domain_id=draft.domain_id,
        input_fingerprint=draft.fingerprint,
        config=draft.config,
        agreement=draft.agreement,
        n_ratings=draft.n_ratings,
        n_prompts=draft.n_prompts,
        n_models=draft.n_models,
        ratings_through=draft.ratings_through,
        prompt_set_id=draft.prompt_set_id,
    )
    boards = SnapshotBoard.objects.bulk_create(
        SnapshotBoard(
            snapshot=snapshot,
            key=board.key,
            category_id=board.category_id,
            facet=board.facet,
            title=board.title,
            position=board.position,
            status=board.status,
            status_detail=board.status_detail,
            n_ratings=board.n_ratings,
            n_prompts=board.n_prompts,
            n_models=board.n_models,
            separability=board.separability,
            has_accuracy=board.has_accuracy,
            data=board.data,
            style=board.style,
        )
        for board in draft.boards
    )
    from leaderboards.recompute import EntryDraft

    # Every field of an entry's draft is a column of the same name.
    columns = [column.name for column in dataclasses.fields(EntryDraft)]
    _entries_insert(
        [
            {
                "snapshot_id": snapshot.pk,
                "board_id": board.pk,
                "board_key": board.key,
                **{name: getattr(entry, name) for name in columns},
            }
            for board, board_draft in zip(boards, draft.boards, strict=True)
            for entry in board_draft.entries
        ]
    )
    if draft.ratings_file_source is not None:
        _ratings_file_insert(snapshot, draft)
    # From here on the triggers refuse any row added to, changed in or deleted from it.
    Snapshot.objects.filter(pk=snapshot.pk).update(is_published=True)
    snapshot.is_published = True
    return snapshot


def _entries_insert(rows: list[dict[str, Any]]) -> None:
    """Insert a snapshot's entries (column name to value, one dict per entry).

    On PostgreSQL as one JSON document that the database unpacks into the table's own row
    type: a bulk insert passes each column as an array, and quoting the arrays of the entries'
    findings JSON (every quote escaped one by one in Python) cost more than the rest of the
    publish's writes. Floats come back exactly (shortest round-trip text, read by float8in); a
    non-finite one, which JSON cannot carry, takes the bulk insert."""
    if not rows:
        return
    document = None
    if connection.vendor == "postgresql":
        with contextlib.suppress(ValueError):
            document = json.dumps(rows, allow_nan=False)
    if document is None:
        SnapshotEntry.objects.bulk_create((SnapshotEntry(**row) for row in rows), batch_size=1000)
        return
    table = SnapshotEntry._meta.db_table
    columns = ", ".join(connection.ops.quote_name(name) for name in rows[0])
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} "  # noqa: S608
            f"FROM jsonb_populate_recordset(NULL::{table}, %s::jsonb)",
            [document],
        )


def _ratings_file_insert(snapshot: Snapshot, draft: SnapshotDraft) -> None:
    """Keep what the snapshot's anonymised ratings file is written from, with the snapshot: its
    full header (which names the snapshot row) and the recompute's packed arrays. Formatting
    and compressing 300,000 lines is left to the first download (snapshot_ratings_file_ensure),
    off the publishing path."""
    assert draft.ratings_file_source is not None
    domain_slug = Domain.objects.filter(pk=snapshot.domain_id).values_list("slug", flat=True)[0]
    SnapshotRatingsSource.objects.create(
        snapshot=snapshot,
        header={
            "snapshot": snapshot.pk,
            "domain": domain_slug,
            "domain_id": snapshot.domain_id,
            "created_at": snapshot.created_at.isoformat(),
            **draft.ratings_file_header,
        },
        packed=draft.ratings_file_source,
        n_ratings=draft.n_ratings,
    )


def snapshot_ratings_file_ensure(*, snapshot_id: int) -> SnapshotRatingsFile | None:
    """The snapshot's anonymised ratings file, formatted from its source and stored on first use
    (idempotent); None for a snapshot published without one."""
    import hashlib

    from leaderboards.stats.ratings_file import (
        ratings_file_body,
        ratings_file_header,
        ratings_source_unpack,
    )

    found = SnapshotRatingsFile.objects.filter(snapshot_id=snapshot_id).first()
    if found is not None:
        return found
    source = SnapshotRatingsSource.objects.filter(snapshot_id=snapshot_id).first()
    if source is None:
        return None
    # The same function and arguments as at publishing: the file is the one it would have been.
    content = ratings_file_header(source.header) + ratings_file_body(
        **ratings_source_unpack(bytes(source.packed))
    )
    try:
        with transaction.atomic():
            return SnapshotRatingsFile.objects.create(
                snapshot_id=snapshot_id,
                content=content,
                sha256=hashlib.sha256(content).hexdigest(),
                size=len(content),
                n_ratings=source.n_ratings,
            )
    except IntegrityError:
        # Another request wrote it first: the same bytes.
        return SnapshotRatingsFile.objects.get(snapshot_id=snapshot_id)


# --- Recovery ------------------------------------------------------------------------------------


def recompute_jobs_sweep(*, now: datetime | None = None) -> int:
    """Re-enqueue jobs a dead worker left running or whose message went missing, and request
    the recompute an approval asked for when that request was lost."""
    now = now or timezone.now()
    touched = RECOMPUTE_JOBS.sweep(
        now=now,
        timeout_seconds=settings.SEAL_LEADERBOARD_JOB_TIMEOUT_SECONDS,
        queued_stale_seconds=settings.SEAL_LEADERBOARD_QUEUED_STALE_SECONDS,
        max_attempts=int(settings.SEAL_LEADERBOARD_JOB_MAX_ATTEMPTS),
    )
    for domain in domains_with_unrequested_approvals():
        recompute_request(domain=domain, trigger=RecomputeJob.Trigger.SWEEP)
        touched += 1
    return touched


# --- Publishing by hand, hiding ------------------------------------------------------------------


def leaderboards_publish_now(
    *,
    domains: Iterable[Domain] | None = None,
    trigger: str = RecomputeJob.Trigger.SEED,
    requested_by: User | None = None,
    draw_charts: bool = True,
) -> list[Snapshot]:
    """Recompute and publish the given (default: all active) domains in this process.

    Without `draw_charts` the charts are drawn by the chart views on first request."""
    published = []
    for domain in domains if domains is not None else Domain.objects.filter(is_active=True):
        job = recompute_request(
            domain=domain, trigger=trigger, requested_by=requested_by, enqueue=False
        )
        if job.status != RecomputeJob.Status.QUEUED:
            continue
        snapshot = recompute_job_run(job_id=job.pk, draw_charts=draw_charts)
        if snapshot is not None:
            published.append(snapshot)
    return published


def _latest_visible(domain_id: int) -> Snapshot | None:
    return (
        Snapshot.objects.filter(domain_id=domain_id, is_hidden=False, is_published=True)
        .order_by("-created_at", "-pk")
        .first()
    )


def snapshot_hide(*, snapshot: Snapshot, by: User | None = None) -> Snapshot:
    """Retract a snapshot from the public; the domain falls back to its latest visible one."""
    with transaction.atomic():
        locked = Snapshot.objects.select_for_update().get(pk=snapshot.pk)
        if locked.is_hidden:
            raise ApplicationError("This snapshot is already hidden")
        locked.is_hidden = True
        locked.hidden_at = timezone.now()
        locked.hidden_by = by
        locked.save(update_fields=["is_hidden", "hidden_at", "hidden_by"])
        _pointer_set(locked.domain_id, _latest_visible(locked.domain_id))
    return locked


def snapshot_unhide(*, snapshot: Snapshot, by: User | None = None) -> Snapshot:
    """Show a hidden snapshot again; the domain shows its latest visible snapshot."""
    with transaction.atomic():
        locked = Snapshot.objects.select_for_update().get(pk=snapshot.pk)
        if not locked.is_hidden:
            raise ApplicationError("This snapshot is not hidden")
        locked.is_hidden = False
        locked.hidden_at = None
        locked.hidden_by = None
        locked.save(update_fields=["is_hidden", "hidden_at", "hidden_by"])
        _pointer_set(locked.domain_id, _latest_visible(locked.domain_id))
    return locked


# --- Charts --------------------------------------------------------------------------------------


def _chart_draw(board: SnapshotBoard, kind: str, labels: dict[int, str]) -> str:
    from leaderboards.charts import IntervalRow, intervals_svg, win_rates_svg

    if kind == SnapshotChart.Kind.INTERVALS:
        rows = [
            IntervalRow(
                label=labels.get(entry.model_version_id, str(entry.model_version_id)),
                elo=entry.elo,
                lower=entry.lower,
                upper=entry.upper,
            )
            for entry in board.entries.all()
            if entry.elo is not None and entry.lower is not None and entry.upper is not None
        ]
        return intervals_svg(rows)
    win_rates = board.data.get("win_rates") or {}
    ids = [int(model) for model in win_rates.get("models", [])]
    return win_rates_svg([labels.get(pk, str(pk)) for pk in ids], win_rates.get("empirical", []))


def snapshot_charts_render(*, snapshot: Snapshot) -> int:
    """Draw the charts of every ranked board of a snapshot that has none yet (idempotent)."""
    boards = list(
        SnapshotBoard.objects.filter(snapshot=snapshot, status=SnapshotBoard.Status.RANKED)
        .prefetch_related("entries", "charts")
        .order_by("position")
    )
    model_ids = {entry.model_version_id for board in boards for entry in board.entries.all()}
    labels = model_labels(model_ids=model_ids)
    charts = []
    for board in boards:
        have = {chart.kind for chart in board.charts.all()}
        for kind in SnapshotChart.Kind.values:
            if kind not in have:
                charts.append(
                    SnapshotChart(board=board, kind=kind, svg=_chart_draw(board, kind, labels))
                )
    SnapshotChart.objects.bulk_create(charts, ignore_conflicts=True)
    return len(charts)


def snapshot_chart_ensure(*, board: SnapshotBoard, kind: str) -> str:
    """The SVG of one chart of a ranked board, drawn and stored on first use."""
    if not board.is_ranked or kind not in SnapshotChart.Kind.values:
        raise ApplicationError("This board has no such chart")
    chart = SnapshotChart.objects.filter(board=board, kind=kind).only("svg").first()
    if chart is not None:
        return chart.svg
    labels = model_labels(model_ids=board.entries.values_list("model_version_id", flat=True))
    svg = _chart_draw(board, kind, labels)
    SnapshotChart.objects.bulk_create(
        [SnapshotChart(board=board, kind=kind, svg=svg)], ignore_conflicts=True
    )
    return svg


# --- Adaptive scheduling and completion -----------------------------------------------------------
# The same job-row pattern as the recompute (leaderboards/jobs.py): one queued-or-running
# SchedulingJob per domain (a partial unique index), a claim token per run, everything a run
# writes (new comparisons, the progress rows) in one transaction that also closes the job, so a
# worker killed mid-run wrote nothing and the sweep's rerun starts from the same state.


def scheduling_request(
    *, domain: Domain, trigger: str = SchedulingJob.Trigger.SCHEDULE, enqueue: bool = True
) -> SchedulingJob:
    """Queue a scheduling run of the domain, or return the one already queued or running."""
    return SCHEDULING_JOBS.request(domain_id=domain.pk, trigger=trigger, enqueue=enqueue)


def scheduling_request_all(*, trigger: str = SchedulingJob.Trigger.SCHEDULE) -> int:
    """Request a scheduling run of every active domain (beat)."""
    domains = list(Domain.objects.filter(is_active=True))
    for domain in domains:
        scheduling_request(domain=domain, trigger=trigger)
    return len(domains)


def scheduling_job_run(*, job_id: int) -> SchedulingJob | None:
    """Run a queued scheduling job: the stopping rule per submission, then new comparisons
    where the board is unsure, within the budget and the pool's capacity; then completions."""
    token = uuid.uuid4().hex
    if SCHEDULING_JOBS.claim(job_id, token) is None:
        return None
    try:
        job, completable = _scheduling_execute(job_id=job_id, token=token)
    except ClaimLost:
        logger.warning("scheduling job %s was taken over by another run; not writing", job_id)
        return None
    except TRANSIENT_ERRORS as exc:
        SCHEDULING_JOBS.release(job_id, token, f"{type(exc).__name__}: {exc}")
        raise
    except Exception as exc:
        logger.exception("scheduling job %s failed", job_id)
        SCHEDULING_JOBS.fail(job_id, token, f"{type(exc).__name__}: {exc}")
        return None
    for submission_id in completable:
        submission_complete(submission_id=submission_id)
    return job


def _scheduling_execute(*, job_id: int, token: str) -> tuple[SchedulingJob, list[int]]:
    from annotation.services import comparison_tasks_add
    from leaderboards.scheduling import (
        comparisons_plan,
        evaluations_assess,
        scheduling_state_load,
    )

    now = timezone.now()
    job = SchedulingJob.objects.get(pk=job_id)
    with transaction.atomic():
        # The domain row lock orders this run after any seed scheduling in flight (which
        # takes the same lock): the budget is counted on settled numbers and never overrun.
        domain = Domain.objects.select_for_update().get(pk=job.domain_id)
        state = scheduling_state_load(domain=domain, now=now)
        evaluations = evaluations_assess(state)
        plan = comparisons_plan(state)
        job = SCHEDULING_JOBS.locked(job_id, token)
        created = comparison_tasks_add(
            domain_id=domain.pk,
            pairs=[(p.response_1, p.response_2) for p in plan.comparisons],
        )
        if created == len(plan.comparisons):
            for planned in plan.comparisons:
                for evaluation in evaluations:
                    if evaluation.model_id in planned.models:
                        evaluation.ratings_scheduled += RATINGS_PER_COMPARISON
        else:
            # Some were compared meanwhile: count what is open now.
            _scheduled_recount(evaluations, domain.pk)
        _progress_write(
            evaluations,
            domain_id=domain.pk,
            target=state.target_half_width,
            snapshot_id=state.snapshot_id,
            now=now,
        )
        job.created_comparisons = created
        job.summary = {
            "budget": state.budget,
            "committed_before": state.committed,
            "limit": plan.limit,
            "limited_by": plan.limited_by,
            "created": created,
            "open_contrasts": plan.open_contrasts,
            "pool_annotators": state.capacity.annotators,
            "pool_ratings_per_hour": round(state.capacity.ratings_per_hour, 3),
            "evaluating": sum(1 for e in evaluations if not e.done_reason),
            "done": sum(1 for e in evaluations if e.done_reason),
        }
        SCHEDULING_JOBS.close(job, status=SchedulingJob.Status.SUCCEEDED)
    completable = list(
        Submission.objects.filter(status=Submission.Status.COMPARING, domains=domain)
        .exclude(
            Exists(
                EvaluationProgress.objects.filter(submission=OuterRef("pk"), done_reason="").values(
                    "pk"
                )
            )
        )
        .filter(evaluation_progress__isnull=False)
        .values_list("pk", flat=True)
        .distinct()
    )
    return job, completable


def _scheduled_recount(evaluations: list[EvaluationState], domain_id: int) -> None:
    """Ratings still to come per model, counted from the open comparisons."""
    from leaderboards.scheduling import pending_by_pair

    pending = pending_by_pair(domain_id=domain_id)
    for evaluation in evaluations:
        evaluation.ratings_scheduled = sum(
            n for pair, n in pending.items() if evaluation.model_id in pair
        )


def _progress_write(
    evaluations: list[EvaluationState],
    *,
    domain_id: int,
    target: float,
    snapshot_id: int | None,
    now: datetime,
) -> None:
    """Upsert each submission's progress row; a done reason, once set, is never changed."""
    for evaluation in evaluations:
        row, _ = EvaluationProgress.objects.select_for_update().get_or_create(
            submission_id=evaluation.submission_id,
            domain_id=domain_id,
            defaults={"target_half_width": target},
        )
        row.ratings_done = evaluation.ratings_done
        row.ratings_scheduled = evaluation.ratings_scheduled
        row.updated_at = now
        if row.done_reason:
            row.save()
            continue
        row.ratings_needed = evaluation.ratings_needed
        row.elo, row.lower, row.upper = evaluation.elo, evaluation.lower, evaluation.upper
        row.target_half_width = target
        row.snapshot_id = snapshot_id
        row.estimated_finish = evaluation.estimated_finish
        if evaluation.done_reason:
            row.done_reason = evaluation.done_reason
            row.done_at = now
            row.estimated_finish = None
        row.save()


def submission_complete(*, submission_id: int) -> bool:
    """Move a submission whose every domain is done to completed, with the reasons; exactly
    once (row lock and status check): True only for the call that completed it."""
    with transaction.atomic():
        submission = (
            Submission.objects.select_for_update(of=("self",))
            .filter(pk=submission_id, status=Submission.Status.COMPARING)
            .first()
        )
        if submission is None:
            return False
        domains = list(submission.domains.order_by("slug"))
        rows = {
            row.domain_id: row
            for row in EvaluationProgress.objects.filter(submission=submission).select_related(
                "domain"
            )
        }
        if any(d.pk not in rows or not rows[d.pk].is_done for d in domains):
            return False
        parts = []
        for domain in domains:
            row = rows[domain.pk]
            detail = row.get_done_reason_display()
            if row.half_width is not None:
                detail += f" (±{row.half_width:.1f} Elo, target ±{row.target_half_width:g})"
            parts.append(f"{domain.slug}: {detail}")
        submission.status = Submission.Status.COMPLETED
        submission.status_detail = "Evaluation complete. " + "; ".join(parts)
        submission.save(update_fields=["status", "status_detail", "updated_at"])
        # The one place a submission becomes completed, once per submission; the delivery rows
        # commit with the status and are sent after commit.
        model_version = submission.model_version
        webhook_event_emit(
            lab=model_version.lab,
            event_type="submission.completed",
            event_id=f"evt_submission_{submission.pk}_completed",
            payload={
                "submission_id": submission.pk,
                "model_version_id": model_version.pk,
                "model_version": str(model_version),
                "status": submission.status,
                "status_detail": submission.status_detail,
                "domains": [_completed_domain(domain.slug, rows[domain.pk]) for domain in domains],
            },
        )
    return True


def _completed_domain(slug: str, row: EvaluationProgress) -> dict[str, Any]:
    """One domain's final evaluation numbers for the `submission.completed` webhook."""
    return {
        "domain": slug,
        "reason": row.done_reason,
        "elo": row.elo,
        "lower": row.lower,
        "upper": row.upper,
        "half_width": row.half_width,
        "target_half_width": row.target_half_width,
        "ratings_done": row.ratings_done,
        "snapshot_id": row.snapshot_id,
    }


def scheduling_jobs_sweep(*, now: datetime | None = None) -> int:
    """Re-enqueue scheduling jobs a dead worker left running or whose message went missing."""
    return SCHEDULING_JOBS.sweep(
        now=now or timezone.now(),
        timeout_seconds=settings.SEAL_SCHEDULING_JOB_TIMEOUT_SECONDS,
        queued_stale_seconds=settings.SEAL_SCHEDULING_QUEUED_STALE_SECONDS,
        max_attempts=int(settings.SEAL_SCHEDULING_JOB_MAX_ATTEMPTS),
    )
