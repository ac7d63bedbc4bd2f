"""Login lockout, ending sessions, and the JSON security log (with no secret in any line)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pythonjsonlogger.json import JsonFormatter

from annotation.services import assignment_next
from seal.models import Prompt
from seal.services import lab_responses_collect
from tests.builders import api_client, build_world, domain_with_prompts
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "Correct-Horse-PASSWORD-MARKER-9417"
WRONG_PASSWORD = "Wrong-Horse-PASSWORD-MARKER-5530"
PROMPT_MARKER = "WOMBAT-PRIVATE-PROMPT-6612"
ENDPOINT_SECRET = "sk-live-ENDPOINT-SECRET-MARKER-8080"
BAD_KEY = "BadPrefix.BAD-API-KEY-MARKER-0000000000"


def login(client: Client, username: str, password: str, *, url: str | None = None):
    return client.post(url or reverse("login"), {"username": username, "password": password})


def signed_in_as(client: Client) -> str | None:
    user_id = client.session.get("_auth_user_id")
    return str(user_id) if user_id else None


class RecordList(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def security_records(caplog) -> Iterator[list[logging.LogRecord]]:
    """Every log record at DEBUG and up, the seal.security ones (not propagated) included."""
    caplog.set_level(logging.DEBUG)
    for noisy in ("httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=noisy)
    handler = RecordList()
    watched = [logging.getLogger(), logging.getLogger("seal.security")]
    for logger in watched:
        logger.addHandler(handler)
    yield handler.records
    for logger in watched:
        logger.removeHandler(handler)


def events(records: list[logging.LogRecord]) -> list[dict]:
    return [
        {key: getattr(r, key, None) for key in ("event", "user", "ip", "path", "status")}
        for r in records
        if r.name == "seal.security"
    ]


# --- lockout -------------------------------------------------------------------------------


def test_five_wrong_passwords_lock_the_username_from_that_ip():
    alice = UserFactory.create(username="alice", password=PASSWORD)
    UserFactory.create(username="bob", password=PASSWORD)
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, "alice", WRONG_PASSWORD).status_code == 200  # the form again
    assert login(client, "alice", WRONG_PASSWORD).status_code == 429
    # Now even the right password is refused, on the site's and on the admin's login page.
    assert login(client, "alice", PASSWORD).status_code == 429
    assert signed_in_as(client) is None
    assert login(client, "alice", PASSWORD, url=reverse("admin:login")).status_code == 429
    assert signed_in_as(client) is None

    # Other users from the same address, and alice from another address, are unaffected.
    assert login(client, "bob", PASSWORD).status_code == 302
    elsewhere = Client(REMOTE_ADDR="10.1.2.3")
    assert login(elsewhere, "alice", PASSWORD).status_code == 302
    assert signed_in_as(elsewhere) == str(alice.pk)


def test_the_lockout_ends_after_the_cool_off():
    UserFactory.create(username="alice", password=PASSWORD)
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, "alice", WRONG_PASSWORD)
    assert login(client, "alice", PASSWORD).status_code == 429
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )
    assert login(client, "alice", PASSWORD).status_code == 302


def test_staff_can_unlock_with_the_command_or_the_admin():
    UserFactory.create(username="alice", password=PASSWORD)
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, "alice", WRONG_PASSWORD)
    assert login(client, "alice", PASSWORD).status_code == 429
    call_command("axes_reset_username", "alice")
    assert login(client, "alice", PASSWORD).status_code == 302

    client = Client(REMOTE_ADDR="10.9.9.9")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, "alice", WRONG_PASSWORD)
    assert login(client, "alice", PASSWORD).status_code == 429
    staff = Client()
    staff.force_login(UserFactory.create(username="staff", is_staff=True, is_superuser=True))
    (attempt,) = AccessAttempt.objects.filter(username="alice")
    changelist = reverse("admin:axes_accessattempt_changelist")
    assert staff.get(changelist).status_code == 200
    deleted = staff.post(
        changelist,
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )
    assert deleted.status_code == 302
    assert not AccessAttempt.objects.exists()
    assert login(client, "alice", PASSWORD).status_code == 302


# --- deactivation ----------------------------------------------------------------------------


def test_a_deactivated_annotator_is_logged_out_on_the_next_request():
    world = build_world(task_count=1)
    annotator = world.annotator("ann")
    client = Client()
    client.force_login(annotator.user)
    assert client.get(reverse("annotation:work_home")).status_code == 200
    staff = Client()
    staff.force_login(UserFactory.create(username="staff", is_staff=True, is_superuser=True))
    # Staff untick "Active" on the user's admin page and save.
    saved = staff.post(
        reverse("admin:auth_user_change", args=[annotator.user.pk]),
        {
            "username": "ann",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "09:00:00",
            "_save": "Save",
        },
    )
    assert saved.status_code == 302, saved.content.decode()[-2000:]
    annotator.user.refresh_from_db()
    assert annotator.user.is_active is False
    response = client.get(reverse("annotation:work_home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_admin_action_deactivates_and_ends_every_session():
    world = build_world(task_count=1)
    annotator = world.annotator("ann")
    laptop, phone = Client(), Client()
    for device in (laptop, phone):
        device.force_login(annotator.user)
    other = Client()
    other.force_login(world.annotator("other").user)
    staff = Client()
    staff.force_login(UserFactory.create(username="staff", is_staff=True, is_superuser=True))
    response = staff.post(
        reverse("admin:auth_user_changelist"),
        {"action": "deactivate_and_end_sessions", "_selected_action": [annotator.user.pk]},
    )
    assert response.status_code == 302
    annotator.user.refresh_from_db()
    assert annotator.user.is_active is False
    remaining = {s.get_decoded().get("_auth_user_id") for s in Session.objects.all()}
    assert str(annotator.user.pk) not in remaining
    for device in (laptop, phone):
        assert device.get(reverse("annotation:work_home")).status_code == 302
    assert other.get(reverse("annotation:work_home")).status_code == 200
    # Reactivating the account does not bring the old sessions back.
    annotator.user.is_active = True
    annotator.user.save()
    assert laptop.get(reverse("annotation:work_home")).status_code == 302


# --- the security log ------------------------------------------------------------------------


def test_security_events_are_json_lines_with_the_decision_fields(security_records):
    UserFactory.create(username="alice", password=PASSWORD)
    client = Client()
    login(client, "alice", WRONG_PASSWORD)
    login(client, "alice", PASSWORD)
    client.get(reverse("annotation:work_home"))  # no annotator profile: 403
    client.post(reverse("logout"))
    api_client(BAD_KEY).get("/api/v1/lab/")
    api_client().get("/api/v1/submissions/")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, "alice", WRONG_PASSWORD)

    logged = events(security_records)
    assert {"event": "login_failed", "user": "alice", "ip": "127.0.0.1", "path": "/accounts/login/",
            "status": None} in logged  # fmt: skip
    assert {"event": "login_success", "user": "alice", "ip": "127.0.0.1",
            "path": "/accounts/login/", "status": None} in logged  # fmt: skip
    assert {"event": "permission_denied", "user": "alice", "ip": "127.0.0.1", "path": "/work/",
            "status": 403} in logged  # fmt: skip
    assert {"event": "logout", "user": "alice", "ip": "127.0.0.1", "path": "/accounts/logout/",
            "status": None} in logged  # fmt: skip
    api_refusals = [e for e in logged if e["event"] == "api_auth_failed"]
    assert {(e["path"], e["status"]) for e in api_refusals} == {
        ("/api/v1/lab/", 401),
        ("/api/v1/submissions/", 401),
    }
    assert any(e["event"] == "lockout" and e["user"] == "alice" for e in logged)

    # The configured handler writes each event as one JSON object with those fields as keys.
    handler = next(
        h for h in logging.getLogger("seal.security").handlers if not isinstance(h, RecordList)
    )
    assert isinstance(handler.formatter, JsonFormatter)
    record = next(r for r in security_records if getattr(r, "event", None) == "login_failed")
    line = json.loads(handler.formatter.format(record))
    assert line["event"] == "login_failed" and line["user"] == "alice"
    assert line["ip"] == "127.0.0.1" and line["path"] == "/accounts/login/"


def test_no_log_line_carries_a_password_key_secret_or_prompt_text(
    security_records, make_lab_client, fake_endpoint, settings
):
    settings.SEAL_GOLD_RATE = 0.0
    world = build_world(task_count=1)
    Prompt.objects.update(text=f"Private prompt {PROMPT_MARKER}: sort a list")
    annotator = world.annotator("ann")
    annotator.user.set_password(PASSWORD)
    annotator.user.save()

    # An annotator fails, then logs in, opens a comparison and logs out.
    client = Client()
    login(client, "ann", WRONG_PASSWORD)
    assert login(client, "ann", PASSWORD).status_code == 302
    assignment = assignment_next(profile=annotator)
    assert assignment is not None
    page = client.get(reverse("annotation:comparison", args=[assignment.pk]))
    assert PROMPT_MARKER in page.content.decode()
    client.get(reverse("annotation:review_home"))  # 403
    client.post(reverse("logout"))
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, "ann", WRONG_PASSWORD)  # ends in a lockout
    login(client, "ann", PASSWORD)

    # A lab uses a bad key, then its good one, registers a model with an endpoint secret,
    # submits it, its prompts are collected, and it pokes at another lab's submission.
    lab = make_lab_client()
    assert api_client(BAD_KEY).get("/api/v1/lab/").status_code == 401
    assert lab.client.get("/api/v1/lab/").status_code == 200
    domain_with_prompts(3, slug="math", text=f"{PROMPT_MARKER} math {{i}}")
    model = lab.client.post(
        "/api/v1/model-versions/",
        {
            "name": "Wombat",
            "version": "1",
            "base_url": fake_endpoint.base_url,
            "model_id": "ok",
            "api_secret": ENDPOINT_SECRET,
        },
        format="json",
    ).json()
    submission = lab.client.post(
        "/api/v1/submissions/", {"model_version": model["id"], "domains": ["math"]}, format="json"
    ).json()
    lab_responses_collect(lab=lab.lab)
    assert len(fake_endpoint.calls_for("ok")) == 3
    stranger = make_lab_client()
    assert stranger.client.get(f"/api/v1/submissions/{submission['id']}/").status_code == 404

    logged = {e["event"] for e in events(security_records)}
    assert {"login_failed", "login_success", "logout", "lockout", "permission_denied"} <= logged
    assert {"api_auth_failed", "not_found"} <= logged
    markers = [PASSWORD, WRONG_PASSWORD, PROMPT_MARKER, ENDPOINT_SECRET, BAD_KEY, lab.raw_key]
    # The random part of a key (after the public prefix) must not appear either.
    markers += [BAD_KEY.split(".", 1)[1], lab.raw_key.split(".", 1)[1]]
    assert security_records
    for record in security_records:
        text = record.getMessage() + json.dumps(record.__dict__, default=str)
        for marker in markers:
            assert marker not in text, f"{marker!r} leaked into a log line of {record.name}"
