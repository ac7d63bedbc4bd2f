"""The review page for a day of work: decide and go on, keys on the page, a refused rejection
that comes back as the reviewer left it."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from annotation.models import Assignment
from annotation.services import assignment_next, rating_submit
from tests.builders import World, build_world, good_rating

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_waiting(db, settings) -> tuple[World, list[int]]:
    """Three submitted ratings, oldest first."""
    settings.SEAL_GOLD_RATE = 0.0
    world = build_world(task_count=3)
    annotator = world.annotator("ann")
    submitted = []
    while (assignment := assignment_next(profile=annotator)) is not None:
        rating_submit(assignment_id=assignment.pk, profile=annotator, rating=good_rating())
        submitted.append(assignment.pk)
    assert len(submitted) == 3
    return world, submitted


def item_url(pk: int, layer: int = 1) -> str:
    return reverse("annotation:review_item", kwargs={"layer": layer, "assignment_id": pk})


def test_a_decision_opens_the_next_rating_in_the_queue(three_waiting):
    world, (first, second, third) = three_waiting
    client = Client()
    client.force_login(world.reviewer("rev1", 1).user)

    approved = client.post(item_url(first), {"decision": "approve"})
    assert approved.status_code == 302
    assert approved["Location"] == item_url(second)
    rejected = client.post(item_url(second), {"decision": "reject", "reason": "Scores too kind"})
    assert rejected["Location"] == item_url(third)
    page = client.get(rejected["Location"]).content.decode()
    assert "Rejected; the slot is open again." in page
    # The last one: back to the (now empty) queue.
    last = client.post(item_url(third), {"decision": "approve"})
    assert last["Location"] == reverse("annotation:review_list", kwargs={"layer": 1})
    statuses = dict(Assignment.objects.values_list("pk", "status"))
    assert [statuses[pk] for pk in (first, second, third)] == [
        Assignment.Status.LAYER1_APPROVED,
        Assignment.Status.REJECTED,
        Assignment.Status.LAYER1_APPROVED,
    ]


def test_the_page_shows_its_keys_and_links_the_next_rating(three_waiting):
    world, (first, second, third) = three_waiting
    client = Client()
    client.force_login(world.reviewer("rev1", 1).user)

    html = client.get(item_url(first)).content.decode()
    assert "seal/review.js" in html
    assert 'id="review-keys"' in html
    for key in ("a", "r", "n"):
        assert f"<kbd>{key}</kbd>" in html
    assert re.search(rf'id="next-item"[^>]*href="{item_url(second)}"', html)
    last = client.get(item_url(third)).content.decode()
    queue = reverse("annotation:review_list", kwargs={"layer": 1})
    assert re.search(rf'id="next-item"[^>]*href="{queue}"', last)


def test_a_refused_rejection_keeps_the_choice_and_the_typed_text(three_waiting):
    world, (first, _, _) = three_waiting
    client = Client()
    client.force_login(world.reviewer("rev1", 1).user)

    no_reason = client.post(item_url(first), {"decision": "reject", "reason": "   "})
    assert no_reason.status_code == 200
    html = no_reason.content.decode()
    assert "Say why the rating is rejected" in html
    assert re.search(r'<input type="radio" name="decision" value="reject"[^>]*checked', html)
    assert not re.search(r'value="approve"[^>]*checked', html)

    no_decision = client.post(item_url(first), {"reason": "The justification cites B's bug"})
    html = no_decision.content.decode()
    assert "This field is required." in html
    assert "The justification cites B&#x27;s bug</textarea>" in html
    assert Assignment.objects.get(pk=first).status == Assignment.Status.SUBMITTED
