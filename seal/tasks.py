"""Celery tasks of the catalog: thin, ids in, a service call."""

from __future__ import annotations

import socket

from celery import shared_task
from celery.contrib.django.task import DjangoTask

from seal.services import worker_heartbeat_record


@shared_task(bind=True, base=DjangoTask, name="seal.tasks.worker_heartbeat_record")
def worker_heartbeat_record_task(self: DjangoTask) -> None:
    """Record that a worker picked up a job just now (beat sends one a minute)."""
    worker_heartbeat_record(hostname=self.request.hostname or socket.gethostname())
