"""Celery tasks of the annotation workflow: thin, ids in, a service call."""

from __future__ import annotations

from celery import shared_task
from celery.contrib.django.task import DjangoTask

from annotation.services import (
    assignments_expire,
    comparisons_schedule,
    comparisons_schedule_sweep,
)
from seal import task_names


@shared_task(bind=True, base=DjangoTask, name=task_names.COMPARISONS_SCHEDULE_FOR_SUBMISSION)
def comparisons_schedule_for_submission(self: DjangoTask, submission_id: int) -> int:
    """Create the comparison tasks for a submission whose responses are collected (idempotent)."""
    return comparisons_schedule(submission_id=submission_id)


@shared_task(bind=True, base=DjangoTask, name=task_names.ASSIGNMENTS_EXPIRE)
def assignments_expire_task(self: DjangoTask) -> int:
    """Return abandoned leases to the pool (beat runs it every minute)."""
    return assignments_expire()


@shared_task(bind=True, base=DjangoTask, name=task_names.COMPARISONS_SCHEDULE_SWEEP)
def comparisons_schedule_sweep_task(self: DjangoTask) -> int:
    """Schedule collected submissions whose scheduling message was lost (beat, every minute)."""
    return len(comparisons_schedule_sweep())
