"""Helpers for tests that use the real services: requirement checks, a worker process, polling.

Integration tests use the real PostgreSQL, Redis and a Celery worker process. A run that is not
configured for them (the embedded default: SQLite, no broker) skips them, unless
SEAL_REQUIRE_SERVICES=1 (CI sets it), where a missing service fails the test instead. A service
that is configured but unreachable always fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from seal.celery import collection_queue

PROJECT_DIR = Path(__file__).resolve().parent.parent


def services_required() -> bool:
    return os.environ.get("SEAL_REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}


def _missing(reason: str) -> None:
    if services_required():
        pytest.fail(f"{reason} (SEAL_REQUIRE_SERVICES is set, so this fails instead of skipping)")
    pytest.skip(reason)


def require_postgres() -> None:
    if connection.vendor != "postgresql":
        _missing("needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/seal")


def require_broker() -> str:
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url:
        _missing("needs Redis: set CELERY_BROKER_URL=redis://127.0.0.1:6379/14")
    from seal.selectors import broker_ping

    try:
        broker_ping(timeout=3)  # Celery reads CELERY_BROKER_URL from the environment first
    except Exception as exc:  # any failure: configured but unreachable is always a failure
        pytest.fail(f"CELERY_BROKER_URL={url} is configured but unreachable: {exc!r}")
    return url


CHROMIUM = os.environ.get("SEAL_CHROMIUM", "/usr/bin/chromium")


def require_chromium() -> str:
    """The browser for the end-to-end tests: Debian's chromium, driven by Playwright (which may
    not download its own browser here). Missing, it skips, or fails under SEAL_REQUIRE_SERVICES."""
    if not Path(CHROMIUM).is_file():
        _missing(f"needs Chromium at {CHROMIUM}: apt-get install chromium (or set SEAL_CHROMIUM)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        _missing("needs the playwright package: make install-dev")
    return CHROMIUM


def celery_connections_forget() -> None:
    """Drop the Celery app's pooled broker connections and producers, after its broker changed.

    `app.close()` drops only the connection pool; the producer pool (which keeps connections of
    its own, to the broker of its day) is reset here too, as Celery does after a fork."""
    from celery._state import _register_app  # type: ignore[attr-defined]  # not in the stubs

    from seal.celery import app

    app.close()
    app.amqp._producer_pool = None  # type: ignore[attr-defined]
    # close() also forgets the app as a live one, and task modules imported after that would
    # register their shared tasks nowhere; the app lives on, so it stays registered.
    _register_app(app)


def _database_url_for_worker() -> str:
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


class WorkerProcess:
    """A real `celery worker` subprocess on the test database and a queue of its own."""

    def __init__(self, broker_url: str, queue: str, log_path: Path) -> None:
        self.broker_url = broker_url
        self.queue = queue
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(
        self,
        *,
        concurrency: int = 2,
        pool: str = "prefork",
        queues: list[str] | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        """Start it, by default on both queues (the default and collection), and wait till ready."""
        queues = queues or [self.queue, collection_queue(self.queue)]
        env = {
            **os.environ,
            "DATABASE_URL": _database_url_for_worker(),
            "CELERY_BROKER_URL": self.broker_url,
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        log = self.log_path.open("ab")
        logged_before = log.tell()  # a restarted worker appends; only its own lines count
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "seal",
                "worker",
                "--queues",
                ",".join(queues),
                "--concurrency",
                str(concurrency),
                "--pool",
                pool,
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--hostname",
                f"{pool}-{self.queue}@%h",
            ],
            cwd=PROJECT_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited early:\n{self.log()}")
            if b"ready." in self.log_path.read_bytes()[logged_before:]:
                return
            time.sleep(0.2)
        raise RuntimeError(f"celery worker did not become ready in 60 s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kill the whole process group (main process and its pool children)."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_for(predicate: Any, *, timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Poll until predicate() is truthy; return its value or fail with the last one."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    if not value:
        pytest.fail(f"condition not met within {timeout} s")
    return value
