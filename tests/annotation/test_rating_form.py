"""The rating form as a page: straight on to the next comparison, the rules shown up front,
the rubric's descriptions at hand, scores as radio groups, and a draft the page saves by itself."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from annotation.models import Assignment
from seal.models import Domain
from tests.builders import World, build_world

pytestmark = pytest.mark.django_db

RUBRIC_WITH_DESCRIPTIONS = {
    "dimensions": [
        {
            "key": "correctness",
            "label": "Correctness",
            "description": "Does the code run and give the right result on every listed case?",
            "scale": {"min": 1, "max": 5, "labels": {"1": "Broken", "5": "Flawless"}},
        },
        {
            "key": "overall",
            "label": "Overall",
            "description": "Would you ship this answer to the person who asked?",
            "scale": {"min": 1, "max": 5},
        },
    ],
    "issue_tags": [
        {
            "key": "correctness",
            "label": "Correctness / functionality",
            "description": "Wrong output, crash, or a case the prompt lists left out.",
        }
    ],
    "justification_min_chars": 25,
}

COMPLETE = {
    "action": "submit",
    "preference": "2",
    "score_left_correctness": "5",
    "score_left_overall": "5",
    "score_right_correctness": "2",
    "score_right_overall": "2",
    "tags_right": ["correctness"],
    "justification": "Left answer handles every case the prompt lists.",
}


@pytest.fixture
def real_only(settings) -> None:
    settings.SEAL_GOLD_RATE = 0.0


def start(world: World, name: str = "ann") -> tuple[Client, str, Assignment]:
    client = Client()
    client.force_login(world.annotator(name).user)
    started = client.post(reverse("annotation:work_next"))
    assert started.status_code == 302
    assignment = Assignment.objects.get(annotator__user__username=name)
    return client, started["Location"], assignment


def test_after_submitting_the_next_comparison_opens_with_a_notice(db, real_only):
    world = build_world(task_count=2)
    client, url, first = start(world)

    done = client.post(url, COMPLETE, follow=True)
    first.refresh_from_db()
    assert first.status == Assignment.Status.SUBMITTED
    second = Assignment.objects.exclude(pk=first.pk).get(annotator=first.annotator)
    assert second.status == Assignment.Status.LEASED
    assert done.redirect_chain[-1][0] == reverse("annotation:comparison", args=[second.pk])
    html = done.content.decode()
    assert "Rating submitted for review." in html
    assert 'id="rating-form"' in html

    # The last one: back to the workspace, saying nothing is left.
    last = client.post(reverse("annotation:comparison", args=[second.pk]), COMPLETE, follow=True)
    assert last.redirect_chain[-1][0] == reverse("annotation:work_home")
    html = last.content.decode()
    assert "Rating submitted for review." in html
    assert "No comparison in your expertise is waiting right now." in html


def test_skipping_opens_the_next_comparison_as_submitting_does(db, real_only):
    world = build_world(task_count=2)
    client, url, first = start(world)

    skipped = client.post(url, {"action": "skip"}, follow=True)
    first.refresh_from_db()
    assert first.status == Assignment.Status.SKIPPED
    second = Assignment.objects.exclude(pk=first.pk).get(annotator=first.annotator)
    assert second.task_id != first.task_id
    assert skipped.redirect_chain[-1][0] == reverse("annotation:comparison", args=[second.pk])
    html = skipped.content.decode()
    assert "Skipped; it goes to another annotator." in html
    assert 'id="rating-form"' in html

    # Skipping the last one: back to the workspace, saying nothing is left.
    last = client.post(reverse("annotation:comparison", args=[second.pk]), {"action": "skip"})
    assert last["Location"] == reverse("annotation:work_home")
    html = client.get(last["Location"]).content.decode()
    assert "No comparison in your expertise is waiting right now." in html


def test_the_justification_minimum_and_a_live_count_are_shown_before_any_submit(
    world: World, real_only
):
    Domain.objects.filter(pk=world.domain.pk).update(rubric=RUBRIC_WITH_DESCRIPTIONS)
    client, url, _ = start(world)

    html = client.get(url).content.decode()
    assert "At least 25 characters." in html
    assert re.search(r'id="justification-count" data-min="25">0</span> / 25 characters', html)

    # A saved draft shows its own count.
    client.post(url, {"action": "draft", "justification": "twelve chars"})
    html = client.get(url).content.decode()
    assert re.search(r'id="justification-count" data-min="25">12<', html)


def test_dimension_descriptions_scale_labels_and_guidelines_are_beside_the_rubric(
    world: World, real_only
):
    Domain.objects.filter(pk=world.domain.pk).update(
        rubric=RUBRIC_WITH_DESCRIPTIONS,
        description="Judge code as a senior reviewer would: run it in your head on the edge cases.",
    )
    client, url, _ = start(world)
    html = client.get(url).content.decode()
    panel = html[html.index('id="rating-panel"') :]

    assert "Does the code run and give the right result on every listed case?" in panel
    assert "Would you ship this answer to the person who asked?" in panel
    assert "1 Broken" in panel and "5 Flawless" in panel
    assert 'id="guidelines" open' in panel
    assert "run it in your head on the edge cases" in panel
    assert "Wrong output, crash, or a case the prompt lists left out." in panel


def test_scores_are_radio_groups_not_dropdowns(world: World, real_only):
    client, url, _ = start(world)
    html = client.get(url).content.decode()

    assert "<select" not in html
    for name in ("score_left_correctness", "score_right_overall"):
        values = re.findall(rf'<input type="radio" name="{name}" value="(\d+)"', html)
        assert values == ["1", "2", "3", "4", "5"], name


def test_the_autosave_endpoint_answers_json_and_keeps_every_ticked_tag(world: World, real_only):
    client, url, assignment = start(world)

    saved = client.post(
        url,
        {
            "action": "draft",
            "preference": "-1",
            "score_left_overall": "3",
            "tags_left": ["correctness", "style"],
            "justification": "half a thought",
        },
        HTTP_ACCEPT="application/json",
    )
    assert saved.status_code == 200
    assert saved["Content-Type"] == "application/json"
    assert saved.json()["saved"] is True
    assignment.refresh_from_db()
    assert assignment.draft == {
        "justification": "half a thought",
        "preference": "-1",
        "score_left_overall": "3",
        "tags_left": ["correctness", "style"],
    }
    html = client.get(url).content.decode()
    assert re.search(r'name="score_left_overall" value="3"[^>]*checked', html)
    assert re.search(r'name="tags_left" value="correctness"[^>]*checked', html)

    # Once submitted there is no draft to save: a JSON refusal, not a page.
    client.post(url, COMPLETE)
    refused = client.post(
        url, {"action": "draft", "justification": "late"}, HTTP_ACCEPT="application/json"
    )
    assert refused.status_code == 409
    assert refused.json() == {
        "saved": False,
        "error": "Only a comparison in progress has a draft",
    }
