"""Hand-out under load on PostgreSQL: row locks with SKIP LOCKED and constraints, real threads."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, connections

from annotation.models import Assignment
from annotation.services import assignment_next
from tests.builders import build_world
from tests.support import require_postgres

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_200_simultaneous_requests_from_100_annotators_over_20_tasks(settings):
    require_postgres()
    settings.SEAL_GOLD_RATE = 0.0
    world = build_world(task_count=20)
    annotators = [world.annotator(f"ann{i:03d}") for i in range(100)]
    barrier = threading.Barrier(50)
    errors: list[BaseException] = []
    handed: list[tuple[int, int]] = []
    lock = threading.Lock()

    def worker(chunk: list) -> None:
        try:
            barrier.wait(timeout=30)
            for profile in chunk:
                # Each annotator asks twice: the second ask must return their live lease.
                for _ in range(2):
                    assignment = assignment_next(profile=profile)
                    if assignment is not None:
                        with lock:
                            handed.append((assignment.task_id, profile.pk))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    chunks = [annotators[i::50] for i in range(50)]
    threads = [threading.Thread(target=worker, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors

    live = list(
        Assignment.objects.filter(status=Assignment.Status.LEASED).values_list(
            "task_id", "annotator_id"
        )
    )
    per_task = Counter(task for task, _ in live)
    assert max(per_task.values()) <= 3
    assert sum(per_task.values()) == 60, "20 tasks x 3 slots, all handed out"
    # Asking again returns the live lease, so 60 annotators got theirs twice and 40 got nothing.
    assert len(handed) == 120
    assert Counter(handed) == Counter(dict.fromkeys(live, 2))
    assert len(set(live)) == len(live), "never one annotator twice on a task"
    per_annotator = Counter(annotator for _, annotator in live)
    assert max(per_annotator.values()) == 1
    assert connection.vendor == "postgresql"
