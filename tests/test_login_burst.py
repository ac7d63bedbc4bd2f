"""A burst of logins: password checks (deliberately slow) run one at a time per web process, the
other logins wait their turn, and every one of them logs in."""

from __future__ import annotations

import runpy
import threading
from pathlib import Path

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher, check_password, make_password
from django.db import connections
from django.test import Client

from tests.factories import UserFactory
from tests.support import require_postgres

# Each login runs in a thread of its own, with its own database connection: committed users.
pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "test-password-123"  # tests.factories.UserFactory's
CLIENTS = 4


class WatchedHasher(MD5PasswordHasher):
    """MD5 (fast, as every test uses) that notes how many password checks run at the same time.

    Each check waits at a barrier for the others: where checks run side by side they all meet
    there at once; where they run one at a time the barrier's wait lapses and the check goes on."""

    algorithm = "watched_md5"
    lock = threading.Lock()
    running = 0
    peak = 0
    barrier = threading.Barrier(CLIENTS, timeout=2)

    def verify(self, password: str, encoded: str) -> bool:
        cls = type(self)
        with cls.lock:
            cls.running += 1
            cls.peak = max(cls.peak, cls.running)
        try:
            cls.barrier.wait()
        except threading.BrokenBarrierError:
            pass
        finally:
            with cls.lock:
                cls.running -= 1
        return super().verify(password, encoded)


def test_a_burst_of_logins_checks_one_password_at_a_time_and_all_log_in(settings):
    require_postgres()  # SQLite's in-memory test database is one writer for all the threads
    settings.PASSWORD_HASHERS = ["tests.test_login_burst.WatchedHasher"]
    names = [UserFactory.create(username=f"burst{i}").username for i in range(CLIENTS)]
    WatchedHasher.peak = 0
    WatchedHasher.barrier.reset()
    statuses: list[int] = []

    def log_in(username: str) -> None:
        try:
            response = Client().post(
                "/accounts/login/", {"username": username, "password": PASSWORD}
            )
            statuses.append(response.status_code)
        finally:
            connections.close_all()  # this thread's; the test database is dropped after

    threads = [threading.Thread(target=log_in, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert statuses == [302] * CLIENTS  # every login went through
    assert WatchedHasher.peak == 1


def test_passwords_move_to_argon2id_at_owasp_strength_when_their_owner_logs_in(settings):
    import seal.settings as project_settings  # the deployed list; the suite's fixture uses MD5

    settings.PASSWORD_HASHERS = project_settings.PASSWORD_HASHERS
    user = UserFactory.create(username="oldhash")
    user.password = make_password(PASSWORD, hasher="pbkdf2_sha256")  # an account from before
    user.save(update_fields=["password"])

    response = Client().post("/accounts/login/", {"username": "oldhash", "password": PASSWORD})

    assert response.status_code == 302
    user.refresh_from_db()
    algorithm, variety, version, params, *_ = user.password.split("$")
    assert (algorithm, variety, version) == ("argon2", "argon2id", "v=19")
    memory, passes, lanes = (int(part.split("=")[1]) for part in params.split(","))
    # OWASP's minimum for argon2id: 19 MiB with 2 passes (or more memory with fewer passes).
    assert memory >= 19 * 1024 and passes >= 2 and lanes >= 1
    assert check_password(PASSWORD, user.password)
    again = Client().post("/accounts/login/", {"username": "oldhash", "password": PASSWORD})
    assert again.status_code == 302  # still logs in, now with argon2id


def test_the_server_keeps_idle_connections_longer_than_the_clients_that_reuse_them():
    """A server that closes an idle kept-alive connection first drops the request a client sends
    on it at that moment; the proxy's (nginx, 60 s) and httpx's (5 s) idle timeouts are shorter."""
    config = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))

    assert config["keepalive"] > 60


def test_a_login_that_waited_too_long_gets_the_form_back_with_503_and_retry_after(
    settings, monkeypatch
):
    from annotation import views

    settings.SEAL_LOGIN_WAIT_SECONDS = 0.1
    UserFactory.create(username="patient")
    slots = threading.BoundedSemaphore(1)
    monkeypatch.setattr(views, "_login_slots", slots)
    credentials = {"username": "patient", "password": PASSWORD}

    slots.acquire()  # every password-check slot of this process is taken by other logins
    try:
        busy = Client().post("/accounts/login/", credentials)
    finally:
        slots.release()
    assert busy.status_code == 503
    assert busy["Retry-After"] == "5"
    page = busy.content.decode()
    assert "Many people are logging in right now" in page
    assert 'value="patient"' in page and PASSWORD not in page
    assert "_auth_user_id" not in busy.client.session

    again = Client().post("/accounts/login/", credentials)  # a slot is free again
    assert again.status_code == 302
