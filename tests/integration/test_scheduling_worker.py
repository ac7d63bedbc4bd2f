"""Adaptive scheduling as deployed: a real worker killed while running a domain's scheduling job
leaves nothing written; the sweep queues it again and a new worker completes it once."""

from __future__ import annotations

import time

import pytest
from django.db import transaction

from annotation.models import ComparisonTask
from leaderboards.models import SchedulingJob
from leaderboards.services import scheduling_request
from leaderboards.tasks import scheduling_job_run_task, scheduling_jobs_sweep_task
from seal.models import Domain, Submission
from tests.leaderboards.test_scheduling import pool_join, world_with_newcomer
from tests.support import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_worker_killed_mid_run_writes_nothing_and_the_swept_rerun_completes_once(
    celery_worker_process,
):
    world, submission = world_with_newcomer()
    pool_join(world)
    world.domain.rating_budget = 10_000
    world.domain.save()
    submission.status = Submission.Status.COMPARING
    submission.save()

    # Hold the domain row: the run claims its job, then waits on the lock it takes before
    # reading, and is killed there, mid-run.
    job = scheduling_request(domain=world.domain, enqueue=False)
    with transaction.atomic():
        Domain.objects.select_for_update().get(pk=world.domain.pk)
        scheduling_job_run_task.delay(job.pk)
        wait_for(
            lambda: SchedulingJob.objects.get(pk=job.pk).status == SchedulingJob.Status.RUNNING,
            timeout=60,
        )
        time.sleep(0.5)
        celery_worker_process.kill()
    job.refresh_from_db()
    assert job.status == SchedulingJob.Status.RUNNING and job.attempts == 1
    assert not ComparisonTask.objects.filter(domain=world.domain, status="open").exists()

    celery_worker_process.start(extra_env={"SEAL_SCHEDULING_JOB_TIMEOUT_SECONDS": "1"})
    time.sleep(1.5)
    scheduling_jobs_sweep_task.delay()
    wait_for(
        lambda: SchedulingJob.objects.get(pk=job.pk).status == SchedulingJob.Status.SUCCEEDED,
        timeout=90,
    )
    job.refresh_from_db()
    assert job.attempts == 2 and job.created_comparisons > 0
    opened = ComparisonTask.objects.filter(domain=world.domain, status="open").count()
    assert opened == job.created_comparisons
    # A further sweep finds nothing to redo: no second run of this job, no more comparisons.
    scheduling_jobs_sweep_task.delay()
    time.sleep(2.0)
    assert ComparisonTask.objects.filter(domain=world.domain, status="open").count() == opened
    assert not SchedulingJob.objects.filter(
        domain=world.domain, status__in=SchedulingJob.ACTIVE_STATUSES
    ).exists()
    pairs = list(
        ComparisonTask.objects.filter(domain=world.domain).values_list(
            "response_a_id", "response_b_id"
        )
    )
    assert len(pairs) == len(set(pairs))
