"""Start work in a higher layer without importing it: send its task by name after commit.

A lower layer (the catalog, annotation) must not import the layers above it, yet it knows when
their work is due (responses collected, a rating finally approved). It names the task instead.
In eager mode (no broker) the named task runs in-process, as every other task does.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import current_app
from django.db import transaction

logger = logging.getLogger(__name__)


def task_send_on_commit(name: str, *args: Any) -> None:
    """Enqueue the task registered as `name` once the current transaction commits."""

    def send() -> None:
        app = current_app
        app.loader.import_default_modules()
        task = app.tasks.get(name)
        if task is not None:
            task.delay(*args)
        elif app.conf.task_always_eager:
            logger.error("task %s is not registered; nothing ran", name)
        else:
            app.send_task(name, args=list(args))

    transaction.on_commit(send)
