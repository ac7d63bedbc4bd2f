"""The deployed shape: PostgreSQL, Redis and a real `celery worker` process."""

import pytest
from django.db import transaction

from seal.models import WorkerHeartbeat
from seal.tasking import task_send_on_commit
from seal.tasks import worker_heartbeat_record_task
from tests.support import wait_for

HEARTBEAT = "seal.tasks.worker_heartbeat_record"

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_real_worker_runs_a_task_from_redis_against_postgres(celery_worker_process):
    worker_heartbeat_record_task.delay()
    heartbeat = wait_for(lambda: WorkerHeartbeat.objects.first(), timeout=30)
    assert heartbeat.hostname.split("@")[0].endswith(celery_worker_process.queue)


def test_a_job_enqueued_in_a_transaction_is_sent_only_after_commit(celery_worker_process):
    with transaction.atomic():
        task_send_on_commit(HEARTBEAT)
        # Had the message gone out already, the worker would have written its row by now.
        for _ in range(10):
            assert not WorkerHeartbeat.objects.exists()
    wait_for(lambda: WorkerHeartbeat.objects.exists(), timeout=30)


def test_a_job_enqueued_in_a_rolled_back_transaction_is_never_sent(celery_worker_process):
    class RolledBack(Exception):
        pass

    try:
        with transaction.atomic():
            task_send_on_commit(HEARTBEAT)
            raise RolledBack
    except RolledBack:
        pass
    worker_heartbeat_record_task.delay()  # a marker job after it: once it ran, the first would have
    wait_for(lambda: WorkerHeartbeat.objects.exists(), timeout=30)
    assert HEARTBEAT in celery_worker_process.log()
    assert celery_worker_process.log().count("succeeded in") == 1
