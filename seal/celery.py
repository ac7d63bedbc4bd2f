"""The Celery app: configured from Django settings (CELERY_ namespace), tasks autodiscovered.

Services enqueue work with `seal.tasking.task_send_on_commit`: a job is sent only once the
transaction that made it necessary has committed, so a worker never looks for a row that is not
there yet (or was rolled back), and a broker outage is logged rather than failing the request.
"""

import os
from typing import Any

from celery import Celery

from seal import task_names

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seal.settings")

app = Celery("seal", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Collection spends its time waiting on labs' endpoints, so it has a queue of its own, served by a
# thread-pool worker with many slots: a lab whose endpoint hangs holds one cheap thread, never the
# CPU-bound recompute worker's few processes nor another lab's turn.
# Webhook sends wait on labs' servers too, so they go there as well.
COLLECTION_TASKS = frozenset({task_names.LAB_RESPONSES_COLLECT, task_names.WEBHOOK_DELIVERY_SEND})


def collection_queue(default_queue: str) -> str:
    """The queue collection tasks go to, beside the deployment's default queue."""
    return f"{default_queue}-collection"


def route_task(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **kw: Any) -> Any:
    """Celery router: collection tasks to the collection queue, the rest to the default."""
    if name in COLLECTION_TASKS:
        return {"queue": collection_queue(app.conf.task_default_queue)}
    return None
