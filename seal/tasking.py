"""Enqueue Celery tasks after commit, in a way that a broker outage cannot turn into an error.

Every job has a database row (a pending submission, a queued recompute job, a collected
submission waiting for its comparisons) and a beat sweep that sends it again when its message
was lost. So a message that cannot be sent (Redis restarting, say) is logged and left to the
sweep: the request that made the job necessary has committed and must not fail afterwards.

A lower layer (the catalog, annotation) must not import the layers above it, yet it knows when
their work is due (responses collected, a rating finally approved): it names the task instead
(`task_send_on_commit`). In eager mode (no broker) tasks run in-process, and their errors
propagate as they would anywhere else in a request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from celery import Celery, Task, current_app
from django.db import transaction

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskSend:
    """An on-commit callback that sends one task (a class, so tests can find and count them)."""

    name: str
    args: tuple[Any, ...]

    def __call__(self) -> None:
        app = current_app
        task = _registered_task(app, self.name)
        if app.conf.task_always_eager:
            if task is None:
                logger.error("task %s is not registered; nothing ran", self.name)
            else:
                task.delay(*self.args)
            return
        try:
            if task is not None:
                task.delay(*self.args)
            else:
                app.send_task(self.name, args=list(self.args))
        except Exception as exc:
            # Whatever the broker client raised; the job's row and its sweep stay the record.
            logger.error(
                "could not send task %s%r (%s: %s); the beat sweep will send it again",
                self.name,
                self.args,
                type(exc).__name__,
                exc,
            )


def _registered_task(app: Celery, name: str) -> Task | None:
    """The task registered as `name`, importing the apps' task modules if it is not (yet)."""
    if not app.finalized or name not in app.tasks:  # type: ignore[attr-defined]  # not in the stubs
        # A web process has not imported the task modules: import them, and only them (before
        # the registry is first read, so that finalizing it registers them). The loader's
        # import_default_modules() would do it by sending import_modules, on which Celery's
        # Django fixup re-runs django.setup(); that re-applies LOGGING, and in a worker points
        # the handlers at Celery's redirected stderr, so the worker logs nothing after.
        app.autodiscover_tasks(force=True)
    task: Task | None = app.tasks.get(name)
    return task


def task_send_on_commit(name: str, *args: Any) -> None:
    """Send the task registered as `name` once the current transaction commits."""
    transaction.on_commit(TaskSend(name, args))
