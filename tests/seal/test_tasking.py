"""Sending tasks after commit: a broker that cannot be reached never fails a committed request;
the job's row stays, and the beat sweep sends it once the broker is back."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import pytest

from seal.celery import app as celery_app
from seal.celery import collection_queue, route_task
from seal.models import Submission
from seal.services import collections_resume
from tests.seal.conftest import domain_with_prompts, model_on
from tests.support import celery_connections_forget

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def broker_down(monkeypatch) -> Iterator[None]:
    """The real broker client, pointed at a local port where nothing listens."""
    keys = ("broker_url", "task_always_eager")
    saved = {key: celery_app.conf[key] for key in keys}
    dead = f"redis://127.0.0.1:{closed_port()}/0"
    monkeypatch.setenv("CELERY_BROKER_URL", dead)  # Celery prefers it to the setting
    celery_app.conf.update(broker_url=dead, task_always_eager=False)
    celery_connections_forget()
    try:
        yield
    finally:
        celery_app.conf.update(saved)
        celery_connections_forget()


def test_a_submission_made_while_the_broker_is_down_succeeds_and_is_collected_later(
    lab_client, fake_endpoint, broker_down, django_capture_on_commit_callbacks, caplog
):
    domain_with_prompts(3, slug="coding")
    model_version = model_on(fake_endpoint, "ok", lab=lab_client.lab)
    tasking_logger = logging.getLogger("seal.tasking")
    tasking_logger.addHandler(caplog.handler)
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        response = lab_client.client.post(
            "/api/v1/submissions/",
            {"model_version": model_version.pk, "domains": ["coding"]},
            format="json",
        )
    assert time.monotonic() - started < 5  # an outage costs a request about a second, no more
    assert response.status_code == 201, response.content
    submission = Submission.objects.get(pk=response.json()["id"])
    assert submission.status == Submission.Status.PENDING
    tasking_logger.removeHandler(caplog.handler)
    assert "could not send task seal.tasks.lab_responses_collect" in caplog.text

    # The broker is back (eager here); beat's sweep finds the pending submission and collects it.
    celery_app.conf.update(task_always_eager=True)
    with django_capture_on_commit_callbacks(execute=True):
        assert collections_resume() == [lab_client.lab.pk]
    submission.refresh_from_db()
    assert submission.status == Submission.Status.COLLECTED
    assert submission.responses.filter(status="ok").count() == 3


def test_collection_tasks_have_a_queue_of_their_own_beside_the_default():
    default = celery_app.conf.task_default_queue
    assert route_task("seal.tasks.lab_responses_collect", (1,), {}, {}) == {
        "queue": collection_queue(default)
    }
    assert collection_queue("seal") == "seal-collection"
    assert route_task("leaderboards.tasks.recompute_job_run", (1,), {}, {}) is None
