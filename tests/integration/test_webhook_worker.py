"""Webhooks as deployed: a real Celery worker, Redis and PostgreSQL, POSTing to a real local
receiver that verifies every message with the Standard Webhooks reference library."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import transaction

from seal import task_names
from seal.models import WebhookDelivery
from seal.services import webhook_endpoint_create, webhook_event_emit
from seal.tasks import webhook_delivery_send_task
from tests.factories import LabFactory
from tests.fake_webhook_receiver import WebhookReceiver
from tests.support import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def receiver(settings, monkeypatch) -> Iterator[WebhookReceiver]:
    with WebhookReceiver(failures=2) as server:
        settings.SEAL_ENDPOINT_ALLOWED_HOSTS = [server.address]
        # What the worker process reads from its environment when the fixture starts it.
        monkeypatch.setenv("SEAL_ENDPOINT_ALLOWED_HOSTS", server.address)
        monkeypatch.setenv("SEAL_WEBHOOK_TIMEOUT_SECONDS", "2")
        monkeypatch.setenv("SEAL_WEBHOOK_BACKOFF_BASE_SECONDS", "0.5")
        monkeypatch.setenv("SEAL_WEBHOOK_MAX_ATTEMPTS", "5")
        yield server


def status_of(delivery_id: int) -> str:
    return WebhookDelivery.objects.values_list("status", flat=True).get(pk=delivery_id)


def test_a_worker_sends_a_signed_delivery_once_and_retries_a_failing_one(
    receiver, celery_worker_process
):
    lab = LabFactory.create()
    good = webhook_endpoint_create(lab=lab, url=receiver.url("/ok"))
    flaky = webhook_endpoint_create(lab=lab, url=receiver.url("/flaky"))
    receiver.secrets.update({"/ok": good.secret, "/flaky": flaky.secret})
    with transaction.atomic():
        deliveries = webhook_event_emit(
            lab=lab,
            event_type="submission.completed",
            event_id="evt_worker_1",
            payload={"submission_id": 1},
        )
    by_endpoint = {delivery.endpoint_id: delivery.pk for delivery in deliveries}
    # Duplicates of the message, as a redelivery or the sweep would send: still one POST.
    for _ in range(3):
        webhook_delivery_send_task.delay(by_endpoint[good.pk])

    wait_for(lambda: status_of(by_endpoint[good.pk]) == "delivered", timeout=30)
    # Two 500s, then the worker's own retries (Celery countdown, backoff 0.5 s, 1 s) deliver it.
    wait_for(lambda: status_of(by_endpoint[flaky.pk]) == "delivered", timeout=30)

    [got] = receiver.to("/ok")
    assert got.verified
    assert got.message["type"] == "submission.completed"
    assert got.webhook_id == "evt_worker_1"
    flaky_got = receiver.to("/flaky")
    assert len(flaky_got) == 3
    assert all(seen.verified for seen in flaky_got)
    assert WebhookDelivery.objects.get(pk=by_endpoint[flaky.pk]).attempts == 3
    log = celery_worker_process.log()
    assert task_names.WEBHOOK_DELIVERY_SEND in log
    assert good.secret not in log
    assert flaky.secret not in log
