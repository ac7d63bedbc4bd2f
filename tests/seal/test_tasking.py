"""Sending tasks after commit: a broker that cannot be reached never fails a committed request;
the job's row stays, and the beat sweep sends it once the broker is back."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator

import pytest

from seal import task_names
from seal.celery import app as celery_app
from seal.celery import collection_queue, route_task
from seal.models import Submission
from seal.services import collections_resume
from tests.builders import domain_with_prompts, model_on
from tests.support import celery_connections_forget

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DeadBroker:
    """A local port that takes each connection and drops it at once, counting them: a broker
    that is down, whose every connection attempt the test can see."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = int(self.listener.getsockname()[1])
        self.attempts = 0
        self.thread = threading.Thread(target=self._drop_each, daemon=True)
        self.thread.start()

    def _drop_each(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return  # closed
            self.attempts += 1
            connection.close()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def broker_down(monkeypatch) -> Iterator[DeadBroker]:
    """The real broker client, pointed at a local port that drops every connection."""
    keys = ("broker_url", "task_always_eager")
    saved = {key: celery_app.conf[key] for key in keys}
    broker = DeadBroker()
    dead = f"redis://127.0.0.1:{broker.port}/0"
    monkeypatch.setenv("CELERY_BROKER_URL", dead)  # Celery prefers it to the setting
    celery_app.conf.update(broker_url=dead, task_always_eager=False)
    celery_connections_forget()
    try:
        yield broker
    finally:
        broker.close()
        celery_app.conf.update(saved)
        celery_connections_forget()


def test_a_submission_made_while_the_broker_is_down_succeeds_and_is_collected_later(
    lab_client, fake_endpoint, broker_down, django_capture_on_commit_callbacks, caplog
):
    domain_with_prompts(3, slug="coding")
    model_version = model_on(fake_endpoint, "ok", lab=lab_client.lab)
    tasking_logger = logging.getLogger("seal.tasking")
    tasking_logger.addHandler(caplog.handler)
    with django_capture_on_commit_callbacks(execute=True):
        response = lab_client.client.post(
            "/api/v1/submissions/",
            {"model_version": model_version.pk, "domains": ["coding"]},
            format="json",
        )
    # An outage costs the request a bounded few connection attempts (one, then Celery's publish
    # retries, 0.2 s apart), then the message is left to the sweep: counted at the broker's port
    # rather than timed, so a loaded machine cannot fail it.
    policy = celery_app.conf.task_publish_retry_policy
    assert 1 <= broker_down.attempts <= policy["max_retries"] + 1 <= 6, broker_down.attempts
    assert response.status_code == 201, response.content
    submission = Submission.objects.get(pk=response.json()["id"])
    assert submission.status == Submission.Status.PENDING
    tasking_logger.removeHandler(caplog.handler)
    assert f"could not send task {task_names.LAB_RESPONSES_COLLECT}" in caplog.text

    # The broker is back (eager here); beat's sweep finds the pending submission and collects it.
    celery_app.conf.update(task_always_eager=True)
    with django_capture_on_commit_callbacks(execute=True):
        assert collections_resume() == [lab_client.lab.pk]
    submission.refresh_from_db()
    assert submission.status == Submission.Status.COLLECTED
    assert submission.responses.filter(status="ok").count() == 3


def test_collection_tasks_have_a_queue_of_their_own_beside_the_default():
    default = celery_app.conf.task_default_queue
    assert route_task(task_names.LAB_RESPONSES_COLLECT, (1,), {}, {}) == {
        "queue": collection_queue(default)
    }
    assert collection_queue("seal") == "seal-collection"
    assert route_task(task_names.RECOMPUTE_JOB_RUN, (1,), {}, {}) is None


def test_every_task_is_registered_under_its_name_in_the_one_registry(settings):
    import annotation.tasks
    import leaderboards.tasks
    import seal.tasks

    modules = {module.__name__ for module in (seal.tasks, annotation.tasks, leaderboards.tasks)}
    ours = {name for name in celery_app.tasks if name.rsplit(".", 1)[0] in modules}
    assert ours == task_names.ALL
    for name in task_names.ALL:
        # The name says where the task lives: a newcomer finds it in one hop.
        assert celery_app.tasks[name].__module__ == name.rsplit(".", 1)[0]
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled <= task_names.ALL
