"""The job-row pattern the recompute and the adaptive scheduling share.

A job is a row (the source of truth; the broker only signals). A partial unique index keeps at
most one queued-or-running job per domain, so a request joins the active job; a recompute
requested while its job runs flags one more run. A run claims its job under the row lock with a
fresh token, and every later write of that run locks the row again and checks the token
(`locked`): a run whose job the sweep gave away raises ClaimLost and writes nothing. The sweep
re-queues a job a dead worker left running (or fails it after too many lost workers) and
re-sends a message that never got picked up.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from leaderboards.models import RecomputeJob, SchedulingJob
from seal.task_names import RECOMPUTE_JOB_RUN, SCHEDULING_JOB_RUN
from seal.tasking import task_send_on_commit

J = TypeVar("J", RecomputeJob, SchedulingJob)

# A job's error is kept to this many characters.
ERROR_LIMIT = 4000


class ClaimLost(Exception):
    """Another run holds the job now (the sweep gave it away); this run must not write."""


class JobQueue(Generic[J]):
    """The rows of one kind of job and the task that runs one."""

    def __init__(self, model: type[J], task_name: str) -> None:
        self.model: type[J] = model
        self.task_name = task_name

    def enqueue(self, job: J) -> None:
        """Send the job's message once the current transaction commits."""
        task_send_on_commit(self.task_name, job.pk)

    def _active(self, domain_id: int) -> J | None:
        return (
            self.model.objects.select_for_update()
            .filter(domain_id=domain_id, status__in=self.model.ACTIVE_STATUSES)
            .first()
        )

    def request(self, *, domain_id: int, trigger: str, enqueue: bool, **fields: Any) -> J:
        """The domain's queued or running job, or a new queued one (sent if `enqueue`).

        A running recompute is told to run once more when done."""
        now = timezone.now()
        with transaction.atomic():
            active = self._active(domain_id)
            if active is None:
                try:
                    with transaction.atomic():
                        job = self.model.objects.create(
                            domain_id=domain_id,
                            trigger=trigger,
                            requested_at=now,
                            enqueued_at=now if enqueue else None,
                            **fields,
                        )
                except IntegrityError:
                    # Another request created the domain's job between our read and insert.
                    active = self._active(domain_id)
                    if active is None:
                        raise
                else:
                    if enqueue:
                        self.enqueue(job)
                    return job
            if (
                isinstance(active, RecomputeJob)
                and active.status == RecomputeJob.Status.RUNNING
                and not active.rerun_requested
            ):
                active.rerun_requested = True
                active.save(update_fields=["rerun_requested"])
            return active

    def claim(self, job_id: int, token: str) -> J | None:
        """Mark a queued job running under this run's token; None if it is not queued."""
        with transaction.atomic():
            job = self.model.objects.select_for_update().filter(pk=job_id).first()
            if job is None or job.status != self.model.Status.QUEUED:
                return None
            job.status = self.model.Status.RUNNING
            job.started_at = timezone.now()
            job.attempts += 1
            job.run_token = token
            if isinstance(job, RecomputeJob):
                # The run reads the ratings after this commit, so earlier requests are covered.
                job.rerun_requested = False
            job.error = ""
            job.save()
        return job

    def locked(self, job_id: int, token: str) -> J:
        """The job under its row lock, if this run still holds it (else ClaimLost)."""
        job = self.model.objects.select_for_update().get(pk=job_id)
        if job.status != self.model.Status.RUNNING or job.run_token != token:
            raise ClaimLost
        return job

    def close(self, job: J, *, status: str, error: str = "") -> None:
        """Finish a job (under its row lock) and start the rerun it was asked for."""
        job.status = status
        job.finished_at = timezone.now()
        job.error = error[:ERROR_LIMIT]
        job.save()
        if isinstance(job, RecomputeJob) and job.rerun_requested:
            rerun = RecomputeJob.objects.create(
                domain_id=job.domain_id,
                trigger=RecomputeJob.Trigger.RERUN,
                requested_at=job.finished_at,
                enqueued_at=job.finished_at,
            )
            task_send_on_commit(self.task_name, rerun.pk)

    def release(self, job_id: int, token: str, error: str) -> None:
        """Put a job back in the queue after a transient failure (the task retries it)."""
        with transaction.atomic():
            try:
                job = self.locked(job_id, token)
            except ClaimLost:
                return
            job.status = self.model.Status.QUEUED
            job.run_token = ""
            job.error = error[:ERROR_LIMIT]
            job.enqueued_at = timezone.now()
            job.save()

    def fail(self, job_id: int, token: str, error: str) -> None:
        """Close a job this run still holds as failed."""
        with transaction.atomic():
            try:
                job = self.locked(job_id, token)
            except ClaimLost:
                return
            self.close(job, status=self.model.Status.FAILED, error=error)

    def sweep(
        self,
        *,
        now: datetime,
        timeout_seconds: float,
        queued_stale_seconds: float,
        max_attempts: int,
    ) -> int:
        """Re-queue jobs a dead worker left running (fail them after `max_attempts` lost
        workers) and re-send queued jobs whose message went missing; the number touched."""
        running_cutoff = now - timedelta(seconds=timeout_seconds)
        queued_cutoff = now - timedelta(seconds=queued_stale_seconds)
        status = self.model.Status
        touched = 0
        with transaction.atomic():
            stale = self.model.objects.select_for_update(skip_locked=True).filter(
                Q(status=status.RUNNING, started_at__lt=running_cutoff)
                | Q(status=status.QUEUED, enqueued_at__lt=queued_cutoff)
                | Q(status=status.QUEUED, enqueued_at__isnull=True)
            )
            for job in stale:
                touched += 1
                if job.status == status.RUNNING:
                    if job.attempts >= max_attempts:
                        self.close(
                            job,
                            status=status.FAILED,
                            error=f"gave up: the worker was lost {job.attempts} times",
                        )
                        continue
                    job.status = status.QUEUED
                    job.run_token = ""
                    job.error = "the worker running this job was lost; queued again"
                job.enqueued_at = now
                job.save()
                self.enqueue(job)
        return touched


RECOMPUTE_JOBS = JobQueue(RecomputeJob, RECOMPUTE_JOB_RUN)
SCHEDULING_JOBS = JobQueue(SchedulingJob, SCHEDULING_JOB_RUN)
