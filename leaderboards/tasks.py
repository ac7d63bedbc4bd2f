"""Celery tasks of the leaderboards: thin, ids in, a service call; jobs are RecomputeJob rows."""

from __future__ import annotations

from celery import shared_task
from celery.contrib.django.task import DjangoTask

from leaderboards.models import RecomputeJob
from leaderboards.services import (
    TRANSIENT_ERRORS,
    recompute_job_run,
    recompute_jobs_sweep,
    recompute_request,
    recompute_request_all,
    scheduling_job_run,
    scheduling_jobs_sweep,
    scheduling_request_all,
)
from seal import task_names
from seal.models import Domain


@shared_task(bind=True, base=DjangoTask, name=task_names.LEADERBOARD_RECOMPUTE_REQUESTED)
def leaderboard_recompute_requested(self: DjangoTask, domain_id: int) -> None:
    """A rating was finally approved in the domain: request a (debounced) recompute."""
    domain = Domain.objects.filter(pk=domain_id).first()
    if domain is not None:
        recompute_request(domain=domain, trigger=RecomputeJob.Trigger.APPROVAL)


@shared_task(
    bind=True,
    base=DjangoTask,
    name=task_names.RECOMPUTE_JOB_RUN,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=5,
    retry_backoff_max=120,
    max_retries=5,
)
def recompute_job_run_task(self: DjangoTask, job_id: int) -> int | None:
    """Run one recompute job; a duplicate message for a job already taken does nothing."""
    snapshot = recompute_job_run(job_id=job_id)
    return snapshot.pk if snapshot is not None else None


@shared_task(bind=True, base=DjangoTask, name=task_names.RECOMPUTE_JOBS_SWEEP)
def recompute_jobs_sweep_task(self: DjangoTask) -> int:
    """Re-enqueue recompute jobs left by dead workers or lost messages (beat, every minute)."""
    return recompute_jobs_sweep()


@shared_task(bind=True, base=DjangoTask, name=task_names.RECOMPUTE_REQUEST_ALL)
def recompute_request_all_task(self: DjangoTask) -> int:
    """Request a recompute of every active domain (beat); unchanged input publishes nothing."""
    return recompute_request_all()


@shared_task(
    bind=True,
    base=DjangoTask,
    name=task_names.SCHEDULING_JOB_RUN,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=5,
    retry_backoff_max=120,
    max_retries=5,
)
def scheduling_job_run_task(self: DjangoTask, job_id: int) -> int | None:
    """Run one adaptive scheduling job; a duplicate message for a job already taken does nothing."""
    job = scheduling_job_run(job_id=job_id)
    return None if job is None else job.created_comparisons


@shared_task(bind=True, base=DjangoTask, name=task_names.SCHEDULING_REQUEST_ALL)
def scheduling_request_all_task(self: DjangoTask) -> int:
    """Request a scheduling run of every active domain (beat)."""
    return scheduling_request_all()


@shared_task(bind=True, base=DjangoTask, name=task_names.SCHEDULING_JOBS_SWEEP)
def scheduling_jobs_sweep_task(self: DjangoTask) -> int:
    """Re-enqueue scheduling jobs left by dead workers or lost messages (beat, every minute)."""
    return scheduling_jobs_sweep()
