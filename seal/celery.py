"""The Celery app: configured from Django settings (CELERY_ namespace), tasks autodiscovered.

Tasks subclass Celery's DjangoTask, whose `delay_on_commit` is how services enqueue work: a job is
sent only once the transaction that made it necessary has committed, so a worker never looks for a
row that is not there yet (or was rolled back).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seal.settings")

app = Celery("seal", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
