"""Shared fixtures: eager Celery for unit tests, real services for integration tests, the demo
seeded once per module. Builders of test worlds are in tests/builders.py."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from pytest_django import DjangoDbBlocker
from pytest_django.fixtures import Settings

from seal.celery import app as celery_app
from tests.support import (
    WorkerProcess,
    celery_connections_forget,
    require_broker,
    require_postgres,
)


@pytest.fixture(scope="session", autouse=True)
def _flush_may_truncate() -> Iterator[None]:
    """Transactional tests empty the database with TRUNCATE between tests, which the append-only
    tables refuse (leaderboards 0004, annotation 0004) unless the transaction opts in: the flush,
    and only the flush, does (SET LOCAL ends with the flush's own transaction)."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        statements = original(
            self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
        )
        return ["SET LOCAL seal.allow_truncate = 'on';", *statements] if statements else []

    DatabaseOperations.sql_flush = sql_flush  # type: ignore[method-assign]
    yield
    DatabaseOperations.sql_flush = original  # type: ignore[method-assign]


FAST_PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="module")
def seeded_demo(django_db_setup: None, django_db_blocker: DjangoDbBlocker) -> Iterator[str]:
    """The demo (`seed_demo`, gold items off), seeded once for the tests of a module, which see it
    from their own transactions (pytest.mark.django_db: a savepoint each, rolled back after each
    test, so one test's writes never reach the next). The seed's transaction is rolled back after
    the module's last test: the next module starts from an empty database, on SQLite as on
    PostgreSQL. For modules of non-transactional tests only (a transactional test's flush would
    empty the seed). Gives the command's output."""
    out = StringIO()
    eager = celery_app.conf.task_always_eager
    with django_db_blocker.unblock():
        cache.clear()
        with transaction.atomic():
            # Seeded as a unit test would seed it: tasks in-process, fast hashing, no gold.
            celery_app.conf.task_always_eager = True
            try:
                with override_settings(
                    SEAL_GOLD_RATE=0.0,
                    SEAL_EAGER_TASKS_IN_BACKGROUND=False,
                    PASSWORD_HASHERS=FAST_PASSWORD_HASHERS,
                ):
                    call_command("seed_demo", stdout=out)
            finally:
                celery_app.conf.task_always_eager = eager
            yield out.getvalue()
            transaction.set_rollback(True)
        # Pages are cached per snapshot; SQLite reuses the rolled-back snapshots' ids.
        cache.clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Settings) -> None:
    """Tests create hundreds of users; production-strength hashing would dominate their time."""
    settings.PASSWORD_HASHERS = FAST_PASSWORD_HASHERS


@pytest.fixture(autouse=True)
def _eager_tasks_inside_the_request(settings: Settings) -> None:
    """Unit tests expect a request's eager tasks to have run when it returns; the tests of the
    background runner (tests/seal/test_background_tasks.py) turn it back on."""
    settings.SEAL_EAGER_TASKS_IN_BACKGROUND = False


@pytest.fixture(autouse=True)
def _eager_celery_unless_integration(request: pytest.FixtureRequest) -> Iterator[None]:
    """Unit tests run tasks in-process; integration tests talk to the real broker."""
    integration = request.node.get_closest_marker("integration") is not None
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = not integration
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def celery_worker_process(tmp_path: Path) -> Iterator[WorkerProcess]:
    """A running real worker; tests using it need `django_db(transaction=True)` and Postgres."""
    require_postgres()
    broker_url = require_broker()
    queue = f"seal-test-{uuid.uuid4().hex[:10]}"
    worker = WorkerProcess(broker_url, queue, tmp_path / "worker.log")
    saved = {key: celery_app.conf[key] for key in ("task_default_queue", "task_always_eager")}
    celery_app.conf.update(task_default_queue=queue, task_always_eager=False)
    # The producer pool caches connections to the old broker URL; start from a fresh one.
    celery_connections_forget()
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        celery_app.conf.update(saved)
        celery_connections_forget()


@pytest.fixture
def settings_production_env() -> dict[str, str]:
    """Environment for a production-mode subprocess."""
    return {
        **os.environ,
        "SEAL_ENV": "production",
        "SECRET_KEY": "prod-" + uuid.uuid4().hex + uuid.uuid4().hex,
        "ALLOWED_HOSTS": "seal.example.org",
        "DEBUG": "",
    }
