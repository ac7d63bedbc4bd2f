"""Math: auto-graded accuracy beside Elo; footnotes for contamination and few ratings."""

from __future__ import annotations

import pytest
from django.urls import reverse

from leaderboards.grading import final_answer_extract, numeric_answer_is_correct
from leaderboards.models import SnapshotBoard, SnapshotEntry
from leaderboards.services import leaderboards_publish_now
from seal.models import Response
from tests.builders import leaderboard_world


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Step 1: 14 × 36 = 504\n\nFinal answer: 518", "518"),
        ("**Final answer:** $1,250.50", "1250.5"),
        ("final answer is 42.", "42"),
        ("The total is 12, then 7 more make 19.", "19"),
        ("Final answer: 20\n\nCorrection. Final answer: 24", "24"),
        ("It drops to −3 degrees. Final answer: -3", "-3"),
        ("Final answer: 0.50", "0.5"),
        ("No number here.", None),
    ],
)
def test_the_final_numeric_answer_is_extracted(text, expected):
    assert final_answer_extract(text) == expected


def test_grading_compares_normalised_numbers():
    assert numeric_answer_is_correct(response_text="So: Final answer: 1,000", gold_answer="1000")
    assert not numeric_answer_is_correct(response_text="Final answer: 999", gold_answer="1000")
    assert not numeric_answer_is_correct(response_text="Final answer: 5", gold_answer="n/a")


@pytest.mark.django_db
def test_math_boards_show_accuracy_with_its_interval(client):
    # Model 0 answers every prompt right, model 1 every other one, model 2 never.
    world = leaderboard_world(
        slug="math",
        numeric=True,
        categories={"topic": ["Fractions", "Money"]},
        answers={0: "Work. Final answer: {gold}", 2: "Final answer: 99999"},
    )
    for k, prompt in enumerate(world.prompts):
        if k % 2:
            Response.objects.filter(model_version=world.models[1], prompt=prompt).update(
                text="I think the answer is 3"
            )
    world.rate()
    (snapshot,) = leaderboards_publish_now(domains=[world.domain])
    overall = {e.model_version_id: e for e in snapshot.entries.filter(board_key="overall")}
    best, half, none = (overall[m.pk] for m in world.models)
    assert (best.accuracy, best.accuracy_n) == (1.0, 12)
    assert half.accuracy == pytest.approx(0.5)
    assert half.accuracy_lower is not None and half.accuracy_upper is not None
    assert half.accuracy_lower < 0.5 < half.accuracy_upper
    assert none.accuracy == 0.0 and (none.accuracy_upper or 0) > 0
    board = snapshot.boards.get(key="fractions")
    assert board.has_accuracy
    fractions = SnapshotEntry.objects.get(board=board, model_version=world.models[1])
    assert fractions.accuracy_n == 6
    assert snapshot.config["accuracy"] == "wilson"

    page = client.get(reverse("leaderboards:domain", args=["math"])).content.decode()
    assert "Accuracy" in page and "100%" in page and "Wilson" in page
    data = client.get(reverse("api-leaderboard-board", args=["math", "overall"])).json()
    assert data["entries"][0]["accuracy"] == 1.0


@pytest.mark.django_db
def test_contamination_and_few_ratings_are_footnoted(client, settings):
    settings.SEAL_LEADERBOARD_FEW_RATINGS = 40
    world = leaderboard_world()
    exposed_model = world.models[1]
    python_prompt = world.prompts_in("python")[0]
    Response.objects.filter(model_version=exposed_model, prompt=python_prompt).update(
        lab_previously_exposed=True
    )
    world.rate()
    (snapshot,) = leaderboards_publish_now(domains=[world.domain])

    flagged = SnapshotEntry.objects.filter(snapshot=snapshot, contaminated=True)
    assert {(e.board_key, e.model_version_id) for e in flagged} == {
        ("overall", exposed_model.pk),
        ("python", exposed_model.pk),
    }
    # 72 ratings per model overall, 36 on each category board (below 40).
    assert not SnapshotEntry.objects.filter(board_key="overall", few_ratings=True).exists()
    assert SnapshotEntry.objects.filter(board_key="sql", few_ratings=True).count() == 3

    python = client.get(reverse("leaderboards:board", args=["coding", "python"])).content.decode()
    assert "Possible contamination" in python and "†" in python
    assert "‡ Few ratings" in python
    sql = client.get(reverse("leaderboards:board", args=["coding", "sql"])).content.decode()
    assert "Possible contamination" not in sql
    data = client.get(reverse("api-leaderboard-board", args=["coding", "python"])).json()
    assert {e["model_version_id"] for e in data["entries"] if e["contaminated"]} == {
        exposed_model.pk
    }
    assert data["board"]["status"] == SnapshotBoard.Status.RANKED
