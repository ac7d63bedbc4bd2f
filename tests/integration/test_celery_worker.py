"""The deployed shape: PostgreSQL, Redis and a real `celery worker` process."""

import re

import pytest
from django.db import transaction

from leaderboards.models import RecomputeJob
from leaderboards.tasks import leaderboard_recompute_requested
from seal import task_names
from seal.models import WorkerHeartbeat
from seal.tasking import task_send_on_commit
from seal.tasks import worker_heartbeat_record_task
from tests.factories import DomainFactory
from tests.support import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_real_worker_runs_a_task_from_redis_against_postgres(celery_worker_process):
    worker_heartbeat_record_task.delay()
    heartbeat = wait_for(lambda: WorkerHeartbeat.objects.first(), timeout=30)
    assert heartbeat.hostname.split("@")[0].endswith(celery_worker_process.queue)


def test_a_job_enqueued_in_a_transaction_is_sent_only_after_commit(celery_worker_process):
    with transaction.atomic():
        task_send_on_commit(task_names.WORKER_HEARTBEAT_RECORD)
        # Had the message gone out already, the worker would have written its row by now.
        for _ in range(10):
            assert not WorkerHeartbeat.objects.exists()
    wait_for(lambda: WorkerHeartbeat.objects.exists(), timeout=30)


def test_a_job_enqueued_in_a_rolled_back_transaction_is_never_sent(celery_worker_process):
    class RolledBack(Exception):
        pass

    try:
        with transaction.atomic():
            task_send_on_commit(task_names.WORKER_HEARTBEAT_RECORD)
            raise RolledBack
    except RolledBack:
        pass
    worker_heartbeat_record_task.delay()  # a marker job after it: once it ran, the first would have
    wait_for(lambda: WorkerHeartbeat.objects.exists(), timeout=30)
    assert task_names.WORKER_HEARTBEAT_RECORD in celery_worker_process.log()
    assert celery_worker_process.log().count("succeeded in") == 1


def test_a_worker_keeps_logging_after_a_task_that_sends_a_task(celery_worker_process):
    # One pool process, so the task that sends and the task it sent share one process's logging.
    celery_worker_process.stop()
    celery_worker_process.start(concurrency=1)
    domain = DomainFactory.create()
    # The worker's recompute request sends recompute_job_run from inside a task.
    leaderboard_recompute_requested.delay(domain.pk)
    job = wait_for(
        lambda: RecomputeJob.objects.filter(
            domain=domain, status__in=[RecomputeJob.Status.SUCCEEDED, RecomputeJob.Status.FAILED]
        ).first(),
        timeout=60,
    )
    worker_heartbeat_record_task.delay()
    wait_for(lambda: WorkerHeartbeat.objects.exists(), timeout=30)

    def logged(task_name: str) -> bool:
        return re.search(rf"{re.escape(task_name)}\[[0-9a-f-]+\] succeeded in", log()) is not None

    def log() -> str:
        return celery_worker_process.log_path.read_text(errors="replace")

    wait_for(lambda: logged(task_names.WORKER_HEARTBEAT_RECORD), timeout=15)
    assert job.status == RecomputeJob.Status.SUCCEEDED
    assert logged(task_names.LEADERBOARD_RECOMPUTE_REQUESTED), log()
    assert logged(task_names.RECOMPUTE_JOB_RUN), log()
