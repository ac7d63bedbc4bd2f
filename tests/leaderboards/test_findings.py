"""What experts found: scores and tags flow from a rating to the snapshot, its pages and its JSON.

The first test walks the real services: rating_submit (screen terms) -> both review layers ->
the ApprovedRating copy -> a recompute -> the published snapshot -> the board and model pages,
the public JSON and the lab results API. The others use the bulk leaderboard world.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from annotation.models import ApprovedRating, Assignment
from annotation.services import assignment_next, rating_submit, review_approve
from leaderboards.models import OVERALL_KEY, SnapshotBoard, SnapshotEntry
from leaderboards.services import leaderboards_publish_now
from seal.services import lab_api_key_create
from tests.builders import PRIVATE_MARKER, build_world, good_rating, leaderboard_world

pytestmark = pytest.mark.django_db

TAG_LABEL = "Correctness / functionality"  # the rubric's label of the tag "correctness"


def found_in(entry: SnapshotEntry) -> dict[str, Any]:
    """The entry's findings, which every entry of a rated board has."""
    assert entry.diagnostics is not None
    return dict(entry.diagnostics)


def _rate_everything(world, raters: int = 3) -> list[Assignment]:
    reviewer1, reviewer2 = world.reviewer("revzq-one", 1), world.reviewer("revzq-two", 2)
    done = []
    for k in range(raters):
        profile = world.annotator(f"rater-zq{k}")
        while (assignment := assignment_next(profile=profile)) is not None:
            # good_rating: left answer 4/4 with no tag, right answer 2/2 tagged "correctness".
            rating_submit(assignment_id=assignment.pk, profile=profile, rating=good_rating(1))
            review_approve(assignment_id=assignment.pk, reviewer=reviewer1, layer=1)
            done.append(review_approve(assignment_id=assignment.pk, reviewer=reviewer2, layer=2))
    return done


def test_scores_and_tags_flow_from_the_rating_to_the_snapshot_pages_and_json(db, settings):
    settings.SEAL_GOLD_RATE = 0.0
    settings.SEAL_LEADERBOARD_REPLICAS = 50
    world = build_world(task_count=3)
    approved = _rate_everything(world)
    assert len(approved) == 9
    first, second = world.models
    # Expected per model, in model terms: 4 where its answer was shown on the left, else 2
    # (and then tagged). The screen order is random per assignment.
    expected: dict[int, list[tuple[int, bool]]] = {first.pk: [], second.pk: []}
    for assignment in approved:
        copy = ApprovedRating.objects.get(assignment=assignment)
        assert copy.scores_a is not None and copy.scores_b is not None
        a_left = assignment.left_is_a
        expected[copy.model_a_id].append((4 if a_left else 2, not a_left))
        expected[copy.model_b_id].append((2 if a_left else 4, a_left))

    (snapshot,) = leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    cache.clear()
    for model in world.models:
        entry = SnapshotEntry.objects.get(
            snapshot=snapshot, board_key=OVERALL_KEY, model_version=model
        )
        found = found_in(entry)
        scores = [score for score, _ in expected[model.pk]]
        tagged = sum(tag for _, tag in expected[model.pk])
        assert found["answers"] == 9
        by_key = {item["key"]: item for item in found["dimensions"]}
        assert by_key["correctness"]["label"] == "Correctness"
        assert by_key["correctness"]["n"] == 9
        assert by_key["correctness"]["mean"] == pytest.approx(sum(scores) / 9, abs=1e-4)
        assert by_key["overall"]["mean"] == pytest.approx(sum(scores) / 9, abs=1e-4)
        (tag,) = found["tags"]
        assert (tag["key"], tag["label"], tag["count"]) == ("correctness", TAG_LABEL, tagged)
        assert tag["rate"] == pytest.approx(tagged / 9, abs=1e-4)
        assert tag["lower"] <= tag["rate"] <= tag["upper"]
    board = SnapshotBoard.objects.get(snapshot=snapshot, key=OVERALL_KEY)
    (source,) = board.data["findings"]["error_sources"]
    assert source["label"] == TAG_LABEL and source["count"] == 9  # one side of each rating

    outputs = []
    page = Client().get(f"/leaderboards/{world.domain.slug}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "What experts found" in html and "Main error sources" in html and TAG_LABEL in html
    outputs.append(html)
    model_page = Client().get(f"/leaderboards/models/{first.pk}/").content.decode()
    mean = sum(score for score, _ in expected[first.pk]) / 9
    assert "What experts found" in model_page and f"{mean:.2f}" in model_page
    outputs.append(model_page)
    public = APIClient().get(f"/api/v1/leaderboards/models/{first.pk}/").json()
    (standing,) = public["standings"]
    assert standing["entry"]["findings"]["dimensions"][0]["label"] == "Correctness"
    outputs.append(str(public))
    board_json = APIClient().get(f"/api/v1/leaderboards/{world.domain.slug}/").json()
    assert board_json["findings"]["error_sources"][0]["label"] == TAG_LABEL
    outputs.append(str(board_json))
    _, raw_key = lab_api_key_create(lab=first.lab, name="ci")
    lab = APIClient()
    lab.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    rows = lab.get("/api/v1/results/").json()["results"]
    assert {row["model_version"] for row in rows} == {first.pk}
    (row,) = [row for row in rows if row["board"] == OVERALL_KEY]
    assert row["findings"]["tags"][0]["label"] == TAG_LABEL
    assert row["findings"]["tags"][0]["count"] == sum(tag for _, tag in expected[first.pk])
    outputs.append(str(rows))
    # Nothing of the prompts or of who rated.
    for output in outputs:
        assert "sort a list" not in output  # every prompt's text ends so
        assert "rater-zq" not in output and "revzq" not in output


def test_category_strengths_and_weaknesses_are_marked_only_where_the_interval_excludes_zero(db):
    world = leaderboard_world(n_models=3, n_prompts=40, categories={"language": ["Python", "SQL"]})
    strong, middle, weak = world.models
    python = world.prompts_in("python")
    sql = world.prompts_in("sql")
    # On Python prompts the usual order; on SQL prompts the weak model is the best by far.
    world.rate(prompts=python, scores_a={"correctness": 4, "overall": 4}, seed=1)
    world.strengths = {strong.pk: 0.0, middle.pk: -0.5, weak.pk: 3.0}
    world.rate(prompts=sql, scores_a={"correctness": 3, "overall": 3}, seed=2)
    (snapshot,) = leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    entries = SnapshotEntry.objects.filter(snapshot=snapshot, board_key="sql")
    shifts = {entry.model_version_id: found_in(entry)["vs_overall"] for entry in entries}
    assert shifts[weak.pk]["mark"] == "strength" and shifts[weak.pk]["lower"] > 0
    for shift in shifts.values():
        if shift["mark"] == "strength":
            assert shift["lower"] > 0
        elif shift["mark"] == "weakness":
            assert shift["upper"] < 0
        else:
            assert shift["lower"] <= 0 <= shift["upper"]
    # The overall board compares nothing with itself.
    overall = SnapshotEntry.objects.filter(snapshot=snapshot, board_key=OVERALL_KEY)
    assert all("vs_overall" not in found_in(entry) for entry in overall)
    cache.clear()
    page = Client().get(f"/leaderboards/models/{weak.pk}/").content.decode()
    assert "Strengths and weaknesses" in page and "Strength:" in page and "SQL" in page
    board = Client().get(f"/leaderboards/{world.domain.slug}/sql/").content.decode()
    assert "vs overall" in board and "strength" in board
    assert PRIVATE_MARKER not in page and PRIVATE_MARKER not in board


def test_ratings_approved_before_scores_were_kept_count_as_missing(db):
    world = leaderboard_world(n_models=2, n_prompts=12)
    first, second = world.models  # the first model's answers are always answer A here
    # Half the ratings carry no scores (as rows approved before the columns existed read).
    world.rate(prompts=world.prompts[:6], seed=1)
    world.rate(
        prompts=world.prompts[6:],
        seed=2,
        scores_a={"correctness": 5, "overall": 4},
        scores_b={"correctness": 1, "overall": 2},
    )
    (snapshot,) = leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    found = {
        entry.model_version_id: found_in(entry)
        for entry in SnapshotEntry.objects.filter(snapshot=snapshot, board_key=OVERALL_KEY)
    }
    for model, means in ((first, (5.0, 4.0)), (second, (1.0, 2.0))):
        # Means over the scored ratings only; tag rates still over every rated answer.
        assert found[model.pk]["answers"] == 36
        dimensions = found[model.pk]["dimensions"]
        assert [item["n"] for item in dimensions] == [18, 18]
        assert [item["mean"] for item in dimensions] == list(means)
