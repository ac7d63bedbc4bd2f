"""Celery tasks of the catalog: thin, ids in, a service call."""

from __future__ import annotations

import logging
import socket

from celery import shared_task
from celery.contrib.django.task import DjangoTask

from seal import task_names
from seal.models import Lab
from seal.services import (
    CollectionLeaseBusy,
    WebhookDeliveryRetry,
    collections_resume,
    lab_responses_collect,
    webhook_deliveries_sweep,
    webhook_delivery_send,
    worker_heartbeat_record,
)

logger = logging.getLogger(__name__)

# Retries due sooner than this wait as a Celery countdown; later ones are left to the sweep.
WEBHOOK_COUNTDOWN_MAX_SECONDS = 600


@shared_task(bind=True, base=DjangoTask, name=task_names.WORKER_HEARTBEAT_RECORD)
def worker_heartbeat_record_task(self: DjangoTask) -> None:
    """Record that a worker picked up a job just now (beat sends one a minute)."""
    worker_heartbeat_record(hostname=self.request.hostname or socket.gethostname())


@shared_task(bind=True, base=DjangoTask, name=task_names.LAB_RESPONSES_COLLECT, max_retries=5)
def lab_responses_collect_task(self: DjangoTask, lab_id: int) -> None:
    """Collect the lab's missing responses; retry later while another collector holds the lab."""
    lab = Lab.objects.filter(pk=lab_id).first()
    if lab is None:
        return
    try:
        lab_responses_collect(lab=lab)
    except CollectionLeaseBusy as exc:
        if self.request.is_eager or self.request.retries >= (self.max_retries or 0):
            # Beat's collections_resume starts a collector once the holder's lease lapses.
            logger.info("lab %s: a collector is already running; not starting another", lab_id)
            return
        # The live collector picks up new work itself; this retry covers a holder that died.
        raise self.retry(exc=exc, countdown=exc.retry_in + 1) from exc


@shared_task(bind=True, base=DjangoTask, name=task_names.COLLECTIONS_RESUME)
def collections_resume_task(self: DjangoTask) -> None:
    """Restart collection for labs whose collector died or never started (beat, once a minute)."""
    collections_resume()


@shared_task(bind=True, base=DjangoTask, name=task_names.WEBHOOK_DELIVERY_SEND, max_retries=None)
def webhook_delivery_send_task(self: DjangoTask, delivery_id: int) -> None:
    """Send one webhook delivery; on a transient failure, come back when it is due again."""
    try:
        webhook_delivery_send(delivery_id=delivery_id)
    except WebhookDeliveryRetry as exc:
        if self.request.is_eager or exc.retry_in > WEBHOOK_COUNTDOWN_MAX_SECONDS:
            # The row says when it is due and beat's sweep sends it then: no countdown in-process,
            # and no long one held by a worker (Redis would redeliver it after its visibility
            # timeout, and a worker's memory is no place for hours of waiting messages).
            return
        # The attempt count lives in the row (SEAL_WEBHOOK_MAX_ATTEMPTS), not in Celery.
        raise self.retry(exc=exc, countdown=exc.retry_in) from exc


@shared_task(bind=True, base=DjangoTask, name=task_names.WEBHOOK_DELIVERIES_SWEEP)
def webhook_deliveries_sweep_task(self: DjangoTask) -> None:
    """Send webhook deliveries whose message was lost or whose sender died (beat)."""
    webhook_deliveries_sweep()
