"""The annotator and reviewer workspaces as pages: blind, sanitised, keyboard-ready, role-gated."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from annotation.models import Assignment
from annotation.services import RatingInput, assignment_next, rating_submit, review_approve
from seal.models import Domain
from tests.builders import LAB_NAMES, MODEL_NAMES, World, build_world, good_rating
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

HOSTILE = "<script>alert('pwned')</script> <img src=x onerror=alert(1)> [x](javascript:alert(2))"


@pytest.fixture
def hostile_world(db, settings) -> World:
    settings.SEAL_GOLD_RATE = 0.0
    return build_world(
        task_count=2, answer_text="Answer {i} " + HOSTILE + "\n\n```python\nx = {m}\n```"
    )


def logged_in(profile) -> Client:
    client = Client()
    client.force_login(profile.user)
    return client


def assert_blind(html: str, world: World) -> None:
    forbidden = [*MODEL_NAMES, *LAB_NAMES]
    for model in world.models:
        forbidden += [model.name, model.model_id, model.base_url, model.lab.name, model.lab.slug]
    for name in forbidden:
        assert name not in html, f"{name!r} leaked into an annotator/reviewer page"


def assert_sanitised(html: str) -> None:
    assert "<script>alert" not in html
    assert "onerror=" not in html.replace("onerror=alert(1)&gt;", "")
    assert 'href="javascript:' not in html
    assert (
        "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in html or "&lt;script&gt;" in html
    )


def test_annotator_flow_through_the_pages(hostile_world: World):
    annotator = hostile_world.annotator("ann")
    client = logged_in(annotator)
    home = client.get(reverse("annotation:work_home"))
    assert home.status_code == 200
    assert re.search(r'id="count-available">2<', home.content.decode())

    started = client.post(reverse("annotation:work_next"))
    assert started.status_code == 302
    page = client.get(started["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    assert_blind(html, hostile_world)
    assert_sanitised(html)
    assert 'class="highlight"' in html, "code blocks are highlighted"
    assert "workspace.js" in html and "<kbd>1</kbd>" in html
    assert "Answer A" in html and "Answer B" in html

    assignment = Assignment.objects.get(annotator=annotator)
    form = {
        "action": "submit",
        "preference": "2",
        "score_left_correctness": "5",
        "score_left_overall": "5",
        "score_right_correctness": "2",
        "score_right_overall": "2",
        "tags_right": ["correctness"],
        "justification": "Left answer handles every case the prompt lists.",
    }
    bad = client.post(started["Location"], {**form, "justification": "meh", "preference": ""})
    assert bad.status_code == 400
    bad_html = bad.content.decode()
    assert "Choose which answer is better" in bad_html
    assert "Write at least 10 characters" in bad_html
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.LEASED

    draft = client.post(started["Location"], {**form, "action": "draft", "justification": "half"})
    assert draft.status_code == 302
    assignment.refresh_from_db()
    assert assignment.draft["justification"] == "half"
    assert "half" in client.get(started["Location"]).content.decode()

    done = client.post(started["Location"], form)
    assert done.status_code == 302
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.SUBMITTED
    assert assignment.preference == (2 if assignment.left_is_a else -2)

    history = client.get(reverse("annotation:history")).content.decode()
    assert "Awaiting layer-1 review" in history
    assert_blind(history, hostile_world)


@pytest.mark.parametrize("path", ["/review/layer-0/", "/review/layer-3/", "/review/layer-0/1/"])
def test_only_the_two_review_layers_have_pages(hostile_world: World, path: str):
    # A layer-2 reviewer once reached a "layer 0" queue that listed the final reviews.
    reviewer = hostile_world.reviewer("rev2", 2)
    assert logged_in(reviewer).get(path).status_code == 404


def test_reviewer_pages_are_blind_sanitised_and_show_the_rating(hostile_world: World):
    annotator = hostile_world.annotator("ann")
    l1, l2 = hostile_world.reviewer("rev1", 1), hostile_world.reviewer("rev2", 2)
    assignment = assignment_next(profile=annotator)
    assert assignment is not None
    rating_submit(assignment_id=assignment.pk, profile=annotator, rating=good_rating(2))

    client = logged_in(l1)
    queue = client.get(reverse("annotation:review_list", kwargs={"layer": 1})).content.decode()
    assert f"#{assignment.pk}" in queue
    url = reverse("annotation:review_item", kwargs={"layer": 1, "assignment_id": assignment.pk})
    html = client.get(url).content.decode()
    assert_blind(html, hostile_world)
    assert_sanitised(html)
    # In the annotator's own terms, whichever way round the answers were stored.
    assert 'id="rated-preference">A much better<' in html

    missing_reason = client.post(url, {"decision": "reject", "reason": ""})
    assert missing_reason.status_code == 200
    assert "Say why the rating is rejected" in missing_reason.content.decode()
    assert client.post(url, {"decision": "approve"}).status_code == 302

    client2 = logged_in(l2)
    url2 = reverse("annotation:review_item", kwargs={"layer": 2, "assignment_id": assignment.pk})
    assert "Layer 1:</strong> approved" in client2.get(url2).content.decode()
    client2.post(url2, {"decision": "reject", "reason": "Scores contradict the justification"})
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.REJECTED
    history = logged_in(annotator).get(reverse("annotation:history")).content.decode()
    assert "Scores contradict the justification" in history


def test_pages_refuse_people_without_the_role(world: World, settings):
    settings.SEAL_GOLD_RATE = 0.0
    annotator = world.annotator("ann")
    other = world.annotator("other")
    l1 = world.reviewer("rev1", 1)
    assignment = assignment_next(profile=annotator)
    assert assignment is not None
    rating_submit(assignment_id=assignment.pk, profile=annotator, rating=good_rating())
    comparison_url = reverse("annotation:comparison", kwargs={"assignment_id": assignment.pk})
    l1_item = reverse("annotation:review_item", kwargs={"layer": 1, "assignment_id": assignment.pk})
    l2_queue = reverse("annotation:review_list", kwargs={"layer": 2})

    anonymous = Client()
    for url in (reverse("annotation:work_home"), comparison_url, l1_item):
        response = anonymous.get(url)
        assert response.status_code == 302
        assert reverse("login") in response["Location"]

    plain_user = Client()
    plain_user.force_login(UserFactory.create())
    assert plain_user.get(reverse("annotation:work_home")).status_code == 403
    assert plain_user.post(reverse("annotation:work_next")).status_code == 403

    # Another annotator cannot open someone else's comparison; an annotator is not a reviewer.
    assert logged_in(other).get(comparison_url).status_code == 404
    assert logged_in(annotator).get(l1_item).status_code == 403
    assert logged_in(annotator).get(reverse("annotation:review_home")).status_code == 403
    # A layer-1 reviewer is not a layer-2 reviewer.
    assert logged_in(l1).get(l2_queue).status_code == 403
    assert logged_in(l1).get(l1_item).status_code == 200

    suspended = world.annotator("gone", status="suspended")
    assert logged_in(suspended).get(reverse("annotation:work_home")).status_code == 403


def test_a_reviewer_cannot_open_their_own_rating(world: World, settings):
    settings.SEAL_GOLD_RATE = 0.0
    both = world.annotator("both", is_layer1_reviewer=True)
    assignment = assignment_next(profile=both)
    assert assignment is not None
    rating_submit(assignment_id=assignment.pk, profile=both, rating=good_rating())
    url = reverse("annotation:review_item", kwargs={"layer": 1, "assignment_id": assignment.pk})
    assert logged_in(both).get(url).status_code == 404
    assert logged_in(both).post(url, {"decision": "approve"}).status_code == 404
    # Not yet approved at layer 1, so it is in no layer-2 queue either.
    other_l2 = world.reviewer("l2", 2)
    assert logged_in(other_l2).get(url.replace("layer-1", "layer-2")).status_code == 404


@pytest.mark.parametrize("layer", [1, 2])
def test_a_reviewer_tied_to_a_lab_neither_sees_nor_reviews_it_in_the_pages(
    world: World, settings, layer: int
):
    settings.SEAL_GOLD_RATE = 0.0
    annotator = world.annotator("ann")
    tied = world.reviewer("tied", layer)
    tied.affiliated_labs.add(world.models[1].lab)
    assignment = assignment_next(profile=annotator)
    assert assignment is not None
    rating_submit(assignment_id=assignment.pk, profile=annotator, rating=good_rating())
    if layer == 2:
        review_approve(assignment_id=assignment.pk, reviewer=world.reviewer("l1", 1), layer=1)
    waiting = Assignment.objects.get(pk=assignment.pk).status
    client = logged_in(tied)
    item = reverse(
        "annotation:review_item", kwargs={"layer": layer, "assignment_id": assignment.pk}
    )

    queue = client.get(reverse("annotation:review_list", kwargs={"layer": layer}))
    assert queue.status_code == 200
    assert item not in queue.content.decode()
    assert "Nothing waiting." in queue.content.decode()
    assert client.get(item).status_code == 404
    assert client.post(item, {"decision": "approve"}).status_code == 404
    assert client.post(item, {"decision": "reject", "reason": "Biased"}).status_code == 404
    assert Assignment.objects.get(pk=assignment.pk).status == waiting

    # An untied reviewer of the same layer gets it.
    untied = logged_in(world.reviewer("untied", layer))
    assert (
        item
        in untied.get(reverse("annotation:review_list", kwargs={"layer": layer})).content.decode()
    )
    assert untied.post(item, {"decision": "approve"}).status_code == 302
    assert Assignment.objects.get(pk=assignment.pk).status != waiting


def answer_sections(html: str) -> list[str]:
    """The review page's answer panels, left to right."""
    return re.findall(r'<section class="answer"[^>]*>(.*?)</section>', html, re.S)


@pytest.mark.parametrize("layer", [1, 2])
@pytest.mark.parametrize("left_is_a", [False, True])
def test_the_review_page_shows_the_rating_in_the_annotators_screen_order(
    world: World, settings, layer: int, left_is_a: bool
):
    """The justification says "A" and "B" as the annotator saw them; so must the page."""
    settings.SEAL_GOLD_RATE = 0.0
    annotator = world.annotator("ann")
    assignment = assignment_next(profile=annotator)
    assert assignment is not None
    Assignment.objects.filter(pk=assignment.pk).update(left_is_a=left_is_a)
    task = assignment.task
    seen_left, seen_right = (
        (task.response_a, task.response_b) if left_is_a else (task.response_b, task.response_a)
    )
    rating = RatingInput(
        preference=1,  # "A better": the left answer, as the annotator saw it
        scores_left={"correctness": 5, "overall": 4},
        scores_right={"correctness": 2, "overall": 1},
        tags_left=[],
        tags_right=["correctness"],
        justification="A handles the empty list; B crashes on it.",
    )
    rating_submit(assignment_id=assignment.pk, profile=annotator, rating=rating)
    if layer == 2:
        review_approve(assignment_id=assignment.pk, reviewer=world.reviewer("l1", 1), layer=1)

    reviewer = world.reviewer(f"rev{layer}", layer)
    url = reverse("annotation:review_item", kwargs={"layer": layer, "assignment_id": assignment.pk})
    page = logged_in(reviewer).get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert_blind(html, world)

    left, right = answer_sections(html)
    assert "Answer A" in left and seen_left.text in left and seen_right.text not in left
    assert "Answer B" in right and seen_right.text in right and seen_left.text not in right
    assert 'id="rated-preference">A better<' in html
    assert "A handles the empty list; B crashes on it." in html
    assert 'id="order-note"' in html and "the order the annotator saw" in html

    def scores(section: str) -> list[tuple[str, str]]:
        return re.findall(r'<td>([^<]+)</td><td class="score">([^<]+)</td>', section)

    assert scores(left) == [("Correctness", "5"), ("Overall", "4")]
    assert scores(right) == [("Correctness", "2"), ("Overall", "1")]
    assert re.search(r'class="issues">none<', left)
    assert not re.search(r'class="issues">none<', right)


def test_the_review_page_names_issue_tags_by_their_rubric_labels(world: World, settings):
    settings.SEAL_GOLD_RATE = 0.0
    annotator = world.annotator("ann")
    assignment = assignment_next(profile=annotator)
    assert assignment is not None
    rating_submit(assignment_id=assignment.pk, profile=annotator, rating=good_rating())
    url = reverse("annotation:review_item", kwargs={"layer": 1, "assignment_id": assignment.pk})
    client = logged_in(world.reviewer("rev1", 1))

    left, right = answer_sections(client.get(url).content.decode())
    assert 'class="issues">none<' in left
    assert 'class="issues">Correctness / functionality<' in right

    # A tag the rubric has since dropped still shows, by its key.
    rubric = dict(world.domain.rubric, issue_tags=[{"key": "style", "label": "Style"}])
    Domain.objects.filter(pk=world.domain.pk).update(rubric=rubric)
    left, right = answer_sections(client.get(url).content.decode())
    assert 'class="issues">correctness<' in right


def test_a_150_row_review_queue_is_paginated(db, settings):
    settings.SEAL_GOLD_RATE = 0.0
    world = build_world(task_count=50)
    submitted = []
    for name in ("ann1", "ann2", "ann3"):
        annotator = world.annotator(name)
        while (assignment := assignment_next(profile=annotator)) is not None:
            rating_submit(assignment_id=assignment.pk, profile=annotator, rating=good_rating())
            submitted.append(assignment.pk)
    assert len(submitted) == 150
    client = logged_in(world.reviewer("rev1", 1))
    queue_url = reverse("annotation:review_list", kwargs={"layer": 1})

    def rows(page: int | str | None) -> list[int]:
        html = client.get(queue_url, {"page": page} if page is not None else {}).content.decode()
        return [int(pk) for pk in re.findall(r"<tr><td>#(\d+)</td>", html)]

    pages = [rows(None), rows(2), rows(3)]
    assert [len(p) for p in pages] == [50, 50, 50]
    first = client.get(queue_url).content.decode()
    assert "150 waiting" in first
    assert 'href="?page=2"' in first and 'href="?page=3"' in first
    # Oldest first, each rating on exactly one page.
    assert [pk for p in pages for pk in p] == submitted
    last = client.get(queue_url, {"page": 3}).content.decode()
    assert 'href="?page=2"' in last and 'rel="next"' not in last
    # A page number out of range or malformed lands on a real page, not an error.
    assert rows(99) == pages[2]
    assert rows("abc") == pages[0]
