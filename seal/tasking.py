"""Enqueue Celery tasks after commit, in a way that a broker outage cannot turn into an error.

Every job has a database row (a pending submission, a queued recompute job, a collected
submission waiting for its comparisons) and a beat sweep that sends it again when its message
was lost. So a message that cannot be sent (Redis restarting, say) is logged and left to the
sweep: the request that made the job necessary has committed and must not fail afterwards.

A lower layer (the catalog, annotation) must not import the layers above it, yet it knows when
their work is due (responses collected, a rating finally approved): it names the task instead
(`task_send_on_commit`).

In eager mode (no broker, the embedded default) tasks run in this process. A collection takes as
long as the labs' endpoints do and a recompute seconds, so no request may run them: with
SEAL_EAGER_TASKS_IN_BACKGROUND (on by default when there is no broker) they go to one background
thread, in the order they were sent, and the request returns at once. One thread, not a pool:
SQLite has one writer, and a recompute must see the approvals sent before it. A job the thread
never ran (the process stopped) keeps its row, as with a lost broker message. The test suite turns
it off so that a request's tasks have run when the request returns.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any

from celery import Celery, Task, current_app
from django.conf import settings
from django.db import connections, transaction

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
            elif settings.SEAL_EAGER_TASKS_IN_BACKGROUND:
                background.submit(self)
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


EXIT_GRACE_SECONDS = 5.0


class BackgroundRunner:
    """One daemon thread that runs eager tasks one at a time, in the order they were submitted."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[TaskSend] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._unfinished = 0
        self._idle = threading.Condition(self._lock)

    def submit(self, send: TaskSend) -> None:
        """Queue one task to run after those already queued; start the thread on first use."""
        with self._lock:
            if self._thread is None:
                atexit.register(self._drain_at_exit)
            if self._thread is None or not self._thread.is_alive():
                # A daemon: stopping the server never waits for a collection to finish.
                self._thread = threading.Thread(
                    target=self._run, name="seal-eager-tasks", daemon=True
                )
                self._thread.start()
            self._unfinished += 1
        self._jobs.put(send)

    def wait_until_idle(self, timeout: float) -> bool:
        """Wait until every submitted task has finished; False if `timeout` seconds passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._unfinished == 0, timeout=timeout)

    def _drain_at_exit(self) -> None:
        # A short grace for a command or a server stopping with work queued; never a hang.
        if not self.wait_until_idle(timeout=EXIT_GRACE_SECONDS):
            logger.warning(
                "stopping with %d background task(s) unfinished; their rows stay for the sweeps",
                self._unfinished,
            )

    def _run(self) -> None:
        while True:
            send = self._jobs.get()
            try:
                task = _registered_task(current_app, send.name)
                if task is not None:
                    task.delay(*send.args)
            except Exception:
                # Nobody waits on this thread: the log is the only place an error can go.
                logger.exception("background task %s%r failed", send.name, send.args)
            finally:
                # This thread's own connections; the next task opens fresh ones.
                connections.close_all()
                with self._idle:
                    self._unfinished -= 1
                    self._idle.notify_all()


background = BackgroundRunner()


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
