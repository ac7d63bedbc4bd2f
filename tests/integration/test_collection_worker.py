"""Response collection as deployed: a real Celery worker, Redis and PostgreSQL, calling a real
local chat-completions server."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from seal import task_names
from seal.models import Response, Submission
from seal.services import submission_create
from seal.tasks import lab_responses_collect_task
from tests.builders import domain_with_prompts, model_on
from tests.fake_endpoint import FakeEndpoint
from tests.support import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WAITING = {Submission.Status.PENDING, Submission.Status.COLLECTING}


@pytest.fixture
def worker_env(monkeypatch, endpoint) -> None:
    """Settings the worker process reads from its environment when the fixture starts it."""
    monkeypatch.setenv("SEAL_ENDPOINT_ALLOWED_HOSTS", endpoint.address)
    monkeypatch.setenv("SEAL_COLLECTION_TIMEOUT_SECONDS", "2")
    monkeypatch.setenv("SEAL_COLLECTION_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("SEAL_COLLECTION_CONCURRENCY_PER_LAB", "4")


@pytest.fixture
def endpoint(settings) -> Iterator[FakeEndpoint]:
    with FakeEndpoint(latency=0.05) as fake:
        settings.SEAL_ENDPOINT_ALLOWED_HOSTS = [fake.address]
        yield fake


def status_of(submission: Submission) -> str:
    return Submission.objects.values_list("status", flat=True).get(pk=submission.pk)


def test_a_worker_collects_each_answer_once_even_when_the_job_is_delivered_again(
    worker_env, endpoint, celery_worker_process
):
    domain, _ = domain_with_prompts(30)
    model_version = model_on(endpoint, "ok", api_secret="sk-worker")
    submission = submission_create(model_version=model_version, domains=[domain.slug])
    for _ in range(3):  # duplicates and redeliveries of the same job
        lab_responses_collect_task.delay(model_version.lab_id)

    wait_for(lambda: status_of(submission) not in WAITING, timeout=60)
    assert status_of(submission) in {Submission.Status.COLLECTED, Submission.Status.COMPARING}
    assert Response.objects.filter(model_version=model_version).count() == 30
    assert set(Response.objects.values_list("status", flat=True)) == {Response.Status.OK}
    # The lab lease let one collector call the endpoint: every prompt went out exactly once.
    counts = endpoint.prompt_counts("ok")
    assert len(counts) == 30
    assert set(counts.values()) == {1}
    assert task_names.LAB_RESPONSES_COLLECT in celery_worker_process.log()


def test_a_hanging_lab_does_not_hold_up_another_labs_collection(
    worker_env, endpoint, celery_worker_process
):
    domain, _ = domain_with_prompts(20)
    hanging = model_on(endpoint, "hang")
    good = model_on(endpoint, "ok-good")
    stuck = submission_create(model_version=hanging, domains=[domain.slug])
    time.sleep(0.5)  # the hanging lab's collector is already busy when the good lab submits
    quick = submission_create(model_version=good, domains=[domain.slug])

    wait_for(lambda: status_of(quick) not in WAITING, timeout=30)
    # An order of events, not a wall-clock bound: the good lab's 20 quick answers are all in while
    # the hanging lab's collection (20 prompts x 2 s / 4 slots = 10 s at least) is still running.
    assert status_of(stuck) == Submission.Status.COLLECTING
    assert Response.objects.filter(model_version=good, status=Response.Status.OK).count() == 20

    wait_for(lambda: status_of(stuck) not in WAITING, timeout=60)
    assert status_of(stuck) == Submission.Status.FAILED
    errors = set(Response.objects.filter(model_version=hanging).values_list("error", flat=True))
    assert all(error.startswith("timeout:") for error in errors)
