"""Celery tasks of the annotation workflow: thin, ids in, a service call."""

from __future__ import annotations

from celery import shared_task
from celery.contrib.django.task import DjangoTask

from annotation.services import (
    assignments_expire,
    comparisons_schedule,
    comparisons_schedule_sweep,
)


@shared_task(
    bind=True, base=DjangoTask, name="annotation.tasks.comparisons_schedule_for_submission"
)
def comparisons_schedule_for_submission(self: DjangoTask, submission_id: int) -> int:
    """Create the comparison tasks for a submission whose responses are collected (idempotent)."""
    return comparisons_schedule(submission_id=submission_id)


@shared_task(bind=True, base=DjangoTask, name="annotation.tasks.assignments_expire")
def assignments_expire_task(self: DjangoTask) -> int:
    """Return abandoned leases to the pool (beat runs it every minute)."""
    return assignments_expire()


@shared_task(bind=True, base=DjangoTask, name="annotation.tasks.comparisons_schedule_sweep")
def comparisons_schedule_sweep_task(self: DjangoTask) -> int:
    """Schedule collected submissions whose scheduling message was lost (beat, every minute)."""
    return len(comparisons_schedule_sweep())
