"""Eager tasks on the embedded default run on a background thread, after the request: a lab's
submission and a final approval return before their collection or recompute has run, the work
still gets done, in the order it was sent, and a task that fails is logged with its traceback."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import reverse

from annotation.models import Assignment
from annotation.services import assignment_next, rating_submit, review_approve
from leaderboards.models import RecomputeJob
from seal.celery import app as celery_app
from seal.models import Submission
from seal.tasking import background, task_send_on_commit
from tests.builders import build_world, domain_with_prompts, good_rating, model_on
from tests.support import require_postgres

# Committed data: the background thread reads the database through a connection of its own.
pytestmark = pytest.mark.django_db(transaction=True)

RELEASES: dict[str, threading.Event] = {}
HELD = threading.Event()
RAN: list[str] = []
WAIT = 60.0  # a bound, never an expectation: the tests wait on events, not on the clock


@celery_app.task(name="tests.background.hold_until_released")
def hold_until_released(key: str) -> None:
    """Hold the background thread, and so every task queued behind it, until the test says."""
    RAN.append(key)
    HELD.set()
    if not RELEASES[key].wait(timeout=WAIT):
        raise RuntimeError(f"{key} was never released")


@celery_app.task(name="tests.background.record")
def record(key: str) -> None:
    """Note that it ran, in order."""
    RAN.append(key)


@celery_app.task(name="tests.background.fail")
def fail(key: str) -> None:
    """Fail, as a task with a bug would."""
    raise ValueError(f"broken task {key}")


@pytest.fixture
def in_background(settings) -> Iterator[threading.Event]:
    """Background mode on, with the runner held by a first task until the event is set."""
    settings.SEAL_EAGER_TASKS_IN_BACKGROUND = True
    RAN.clear()
    release = RELEASES.setdefault("hold", threading.Event())
    release.clear()
    HELD.clear()
    task_send_on_commit("tests.background.hold_until_released", "hold")
    assert HELD.wait(timeout=WAIT), "the background thread never started the held task"
    try:
        yield release
    finally:
        release.set()
        assert background.wait_until_idle(timeout=WAIT), "background tasks still running"


def test_a_submission_returns_before_its_collection_which_then_runs(
    in_background, lab_client, fake_endpoint
):
    domain_with_prompts(3, slug="coding")
    model_version = model_on(fake_endpoint, "ok", lab=lab_client.lab)
    response = lab_client.client.post(
        "/api/v1/submissions/",
        {"model_version": model_version.pk, "domains": ["coding"]},
        format="json",
    )
    assert response.status_code == 201, response.content
    submission = Submission.objects.get(pk=response.json()["id"])
    # The request is over; its collection waits behind the held task, not inside the request.
    assert submission.status == Submission.Status.PENDING
    assert not submission.responses.exists()

    in_background.set()
    assert background.wait_until_idle(timeout=WAIT)
    submission.refresh_from_db()
    assert submission.status == Submission.Status.COLLECTED
    assert submission.responses.filter(status="ok").count() == 3


def test_a_final_approval_returns_before_the_recompute_which_then_runs(in_background):
    # Emptying the database after a transactional test deletes approved ratings, which the
    # append-only trigger allows only on PostgreSQL (tests/conftest.py, _flush_may_truncate).
    require_postgres()
    world = build_world(task_count=1)
    annotator = world.annotator("ann")
    layer1, layer2 = world.reviewer("rev1", 1), world.reviewer("rev2", 2)
    assignment = assignment_next(profile=annotator)
    assert assignment is not None
    rating_submit(assignment_id=assignment.pk, profile=annotator, rating=good_rating())
    review_approve(assignment_id=assignment.pk, reviewer=layer1, layer=1)
    client = Client()
    client.force_login(layer2.user)

    url = reverse("annotation:review_item", kwargs={"layer": 2, "assignment_id": assignment.pk})
    assert client.post(url, {"decision": "approve"}).status_code == 302
    assert Assignment.objects.get(pk=assignment.pk).status == Assignment.Status.APPROVED
    assert not RecomputeJob.objects.filter(domain=world.domain).exists()

    in_background.set()
    assert background.wait_until_idle(timeout=WAIT)
    job = RecomputeJob.objects.get(domain=world.domain)
    assert job.trigger == RecomputeJob.Trigger.APPROVAL
    assert job.status == RecomputeJob.Status.SUCCEEDED


def test_background_tasks_run_in_the_order_they_were_sent(in_background):
    for key in ("first", "second", "third"):
        task_send_on_commit("tests.background.record", key)
    assert RAN == ["hold"]
    in_background.set()
    assert background.wait_until_idle(timeout=WAIT)
    assert RAN == ["hold", "first", "second", "third"]


def test_a_failing_background_task_is_logged_with_its_traceback_and_the_next_one_runs(
    in_background, caplog
):
    task_send_on_commit("tests.background.fail", "bad")
    task_send_on_commit("tests.background.record", "after")
    in_background.set()
    assert background.wait_until_idle(timeout=WAIT)
    failures = [r for r in caplog.records if "tests.background.fail" in r.getMessage()]
    assert failures
    assert all(r.name == "seal.tasking" and r.levelno == logging.ERROR for r in failures)
    assert all(r.exc_info is not None for r in failures)
    assert "broken task bad" in caplog.text  # the traceback's last line
    assert RAN == ["hold", "after"]
