"""A lab's own results over the API key, and the staff-only leaderboard actions in the admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from django.db.models import Model
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from leaderboards.models import DomainLeaderboard, PublishedLeaderboard, RecomputeJob, Snapshot
from leaderboards.services import leaderboards_publish_now
from seal.models import LabAPIKey
from seal.services import lab_api_key_create, lab_api_key_revoke
from tests.builders import PRIVATE_MARKER, leaderboard_world, messages_sent

pytestmark = pytest.mark.django_db
RESULTS = "/api/v1/results/"


def keyed(raw_key: str | None) -> APIClient:
    client = APIClient()
    if raw_key:
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    return client


@pytest.fixture
def rated(db):
    world = leaderboard_world()
    ours, theirs, third = world.models
    # Raters tag "ours" when it is answer A and the other model when it is answer B.
    world.rate(pairs=[(ours, theirs)], tags_a=["correctness"], tags_b=["readability"])
    world.rate(pairs=[(theirs, third)], seed=4, tags_a=["style"], tags_b=["style"])
    world.rate(pairs=[(ours, third)], seed=5)
    leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    cache.clear()
    return world


def test_a_lab_sees_only_its_own_models_and_tags_on_its_own_answers(rated):
    ours, theirs, third = rated.models
    _, raw_key = lab_api_key_create(lab=ours.lab, name="ci")
    response = keyed(raw_key).get(RESULTS)
    assert response.status_code == 200
    body = response.content.decode()
    rows = response.json()["results"]
    assert {row["model_version"] for row in rows} == {ours.pk}
    for other in (theirs, third):
        assert other.name not in body
    assert PRIVATE_MARKER not in body and "solve it" not in body
    overall = next(row for row in rows if row["board"] == "overall")
    assert overall["domain"] == "coding" and overall["elo"] is not None
    assert overall["rank"] == 1 and overall["lower"] < overall["elo"] < overall["upper"]
    # Whether "ours" was A or B, only the tags on its own answer count; never "readability",
    # which raters gave the other lab's answer.
    assert overall["issue_tags"] == {"correctness": 12 * 3}
    boards = {row["board"] for row in rows}
    assert boards == {"overall", "python", "sql"}
    python = next(row for row in rows if row["board"] == "python")
    assert python["category"] == "Language: Python"
    assert python["issue_tags"]["correctness"] == 6 * 3

    filtered = keyed(raw_key).get(RESULTS, {"domain": "math"}).json()
    assert filtered["results"] == []


def test_the_other_lab_sees_its_tags_and_not_ours(rated):
    _, theirs, _ = rated.models
    _, raw_key = lab_api_key_create(lab=theirs.lab, name="ci")
    rows = keyed(raw_key).get(RESULTS).json()["results"]
    assert {row["model_version"] for row in rows} == {theirs.pk}
    overall = next(row for row in rows if row["board"] == "overall")
    # B against ours (readability) and A against the third (style): both about its own answers.
    assert overall["issue_tags"] == {"readability": 36, "style": 36}


def test_results_need_a_valid_live_key(rated):
    ours = rated.models[0]
    assert keyed(None).get(RESULTS).status_code == 401
    assert keyed("nope.nope").get(RESULTS).status_code == 401
    key, raw_key = lab_api_key_create(lab=ours.lab, name="old")
    lab_api_key_revoke(key=key)
    revoked = keyed(raw_key).get(RESULTS)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]["message"]
    expiring, expired_key = lab_api_key_create(
        lab=ours.lab, name="expiring", expires_at=timezone.now() + timedelta(hours=1)
    )
    assert keyed(expired_key).get(RESULTS).status_code == 200
    LabAPIKey.objects.filter(pk=expiring.pk).update(expiry_date=timezone.now())
    expired = keyed(expired_key).get(RESULTS)
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]


def test_a_lab_with_unpublished_ratings_sees_its_tags_without_a_rank(db):
    world = leaderboard_world()
    ours, theirs, _ = world.models
    world.rate(prompts=world.prompts[:1], pairs=[(ours, theirs)], tags_a=["correctness"])
    _, raw_key = lab_api_key_create(lab=ours.lab, name="ci")
    rows = keyed(raw_key).get(RESULTS).json()["results"]
    overall = next(row for row in rows if row["board"] == "overall")
    assert overall["snapshot_id"] is None and overall["elo"] is None
    assert overall["issue_tags"] == {"correctness": 3}


# --- Staff actions ------------------------------------------------------------------------------


def _changelist(model: type[Model]) -> str:
    return reverse(f"admin:leaderboards_{model._meta.model_name}_changelist")


def test_only_staff_with_the_permission_can_hide_a_snapshot_or_trigger_a_recompute(
    client, rated, django_capture_on_commit_callbacks
):
    snapshot = Snapshot.objects.get()
    hide = {"action": "hide", "_selected_action": [snapshot.pk]}
    recompute = {"action": "recompute", "_selected_action": [rated.domain.pk]}

    # Anonymous and non-staff users are sent to the admin login.
    assert client.post(_changelist(Snapshot), hide).status_code == 302
    client.force_login(User.objects.create_user("someone", password="x-someone-1"))
    assert client.post(_changelist(Snapshot), hide).status_code == 302
    assert not Snapshot.objects.get().is_hidden

    # Staff without the change permission cannot run the actions.
    staff = User.objects.create_user("staffer", password="x-staffer-1", is_staff=True)
    staff.user_permissions.add(
        Permission.objects.get(codename="view_snapshot"),
        Permission.objects.get(codename="view_domainleaderboard"),
    )
    client.force_login(staff)
    assert client.get(_changelist(Snapshot)).status_code == 200
    client.post(_changelist(Snapshot), hide)
    client.post(_changelist(DomainLeaderboard), recompute)
    assert not Snapshot.objects.get().is_hidden
    assert RecomputeJob.objects.filter(trigger=RecomputeJob.Trigger.STAFF).count() == 0

    # With it, they can.
    staff.user_permissions.add(
        Permission.objects.get(codename="change_snapshot"),
        Permission.objects.get(codename="change_domainleaderboard"),
    )
    staff = User.objects.get(pk=staff.pk)
    client.force_login(staff)
    assert client.post(_changelist(Snapshot), hide).status_code == 302
    assert Snapshot.objects.get().is_hidden
    assert not PublishedLeaderboard.objects.exists()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(_changelist(DomainLeaderboard), recompute)
    job = RecomputeJob.objects.get(trigger=RecomputeJob.Trigger.STAFF)
    assert job.requested_by == staff and job.status == RecomputeJob.Status.QUEUED
    assert messages_sent(callbacks) == 1
    # Snapshots and jobs cannot be added or deleted by hand.
    assert client.get(reverse("admin:leaderboards_snapshot_add")).status_code == 403
    assert client.get(_changelist(RecomputeJob)).status_code == 403  # no view permission
