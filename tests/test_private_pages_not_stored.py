"""Pages that can show private prompts or answers tell browsers and proxies not to store them:
the annotator workspace, the review pages and the admin, including their error answers."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from annotation.services import assignment_next, rating_submit
from tests.builders import build_world, good_rating
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def assert_not_stored(response, url: str) -> None:
    assert response.status_code in {200, 400}, (url, response.status_code)
    directives = {part.strip() for part in response.get("Cache-Control", "").split(",")}
    assert "no-store" in directives, (url, response.get("Cache-Control"))


def test_workspace_review_and_admin_pages_are_never_stored(settings):
    settings.SEAL_GOLD_RATE = 0.0
    world = build_world(task_count=2)
    annotator = world.annotator("ann")
    reviewer = world.reviewer("rev1", 1)
    rated = assignment_next(profile=annotator)
    assert rated is not None
    rating_submit(assignment_id=rated.pk, profile=annotator, rating=good_rating())
    leased = assignment_next(profile=annotator)
    assert leased is not None
    prompt = world.prompts[0]

    comparison = reverse("annotation:comparison", kwargs={"assignment_id": leased.pk})
    review_item = reverse("annotation:review_item", kwargs={"layer": 1, "assignment_id": rated.pk})
    annotator_client = logged_in(annotator.user)
    for url in (reverse("annotation:work_home"), comparison, reverse("annotation:history")):
        assert_not_stored(annotator_client.get(url), url)
    # A refused rating form shows the prompt again.
    assert_not_stored(annotator_client.post(comparison, {"action": "submit"}), comparison)

    reviewer_client = logged_in(reviewer.user)
    for url in (
        reverse("annotation:review_home"),
        reverse("annotation:review_list", kwargs={"layer": 1}),
        review_item,
    ):
        assert_not_stored(reviewer_client.get(url), url)

    staff = logged_in(UserFactory.create(is_staff=True, is_superuser=True))
    for url in (
        reverse("admin:seal_prompt_changelist") + "?q=prompt",
        reverse("admin:seal_prompt_change", args=[prompt.pk]),
        reverse("admin:seal_response_changelist"),
    ):
        assert_not_stored(staff.get(url), url)
