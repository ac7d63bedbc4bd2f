"""Celery tasks of the catalog: thin, ids in, a service call."""

from __future__ import annotations

import logging
import socket

from celery import shared_task
from celery.contrib.django.task import DjangoTask

from seal.models import Lab
from seal.services import (
    CollectionLeaseBusy,
    collections_resume,
    lab_responses_collect,
    worker_heartbeat_record,
)

logger = logging.getLogger(__name__)


@shared_task(bind=True, base=DjangoTask, name="seal.tasks.worker_heartbeat_record")
def worker_heartbeat_record_task(self: DjangoTask) -> None:
    """Record that a worker picked up a job just now (beat sends one a minute)."""
    worker_heartbeat_record(hostname=self.request.hostname or socket.gethostname())


@shared_task(bind=True, base=DjangoTask, name="seal.tasks.lab_responses_collect", max_retries=5)
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


@shared_task(bind=True, base=DjangoTask, name="seal.tasks.collections_resume")
def collections_resume_task(self: DjangoTask) -> None:
    """Restart collection for labs whose collector died or never started (beat, once a minute)."""
    collections_resume()
