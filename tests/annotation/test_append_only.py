"""Final ratings are append-only in the database, and what they cite is frozen.

Forged writes are raw SQL (connection.cursor().execute); the legitimate paths are the services
and the admin. SQLite and PostgreSQL alike; TRUNCATE and the commit-time check are PostgreSQL's.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from annotation.models import ApprovedRating, Assignment, ComparisonTask
from annotation.services import (
    assignment_next,
    assignment_skip,
    prompt_edit,
    rating_submit,
    response_edit,
    review_approve,
)
from seal.errors import ApplicationError
from seal.models import Prompt, Response
from seal.prompt_import import content_hash
from tests.builders import World, good_rating
from tests.support import require_postgres

pytestmark = pytest.mark.django_db

FORGED_COPY = (
    "INSERT INTO annotation_approvedrating (assignment_id, task_id, domain_id, prompt_id, "
    "model_a_id, model_b_id, annotator_id, preference, outcome, issue_tags_a, issue_tags_b, "
    "approved_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, '[]', '[]', %s)"
)


def sql(statement: str, *params: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def refused(statement: str, *params: Any) -> str:
    with pytest.raises(DatabaseError) as excinfo, transaction.atomic():
        sql(statement, *params)
    return str(excinfo.value)


def copy_params(assignment: Assignment, **override: object) -> list[object]:
    task = ComparisonTask.objects.select_related("response_a", "response_b").get(
        pk=assignment.task_id
    )
    values: dict[str, object] = {
        "assignment": assignment.pk,
        "task": task.pk,
        "domain": task.domain_id,
        "prompt": task.prompt_id,
        "model_a": task.response_a.model_version_id,
        "model_b": task.response_b.model_version_id,
        "annotator": assignment.annotator_id,
        "preference": assignment.preference,
        "outcome": 1.0,
        "approved_at": assignment.approved_at or assignment.submitted_at,
    }
    values.update(override)
    return list(values.values())


@pytest.fixture
def rated(world: World, settings) -> tuple[World, Assignment, Assignment]:
    """One finally approved rating and one only submitted, on different comparisons."""
    settings.SEAL_GOLD_RATE = 0.0
    first, second = world.annotator("ann1"), world.annotator("ann2")
    done = assignment_next(profile=first)
    assert done is not None
    rating_submit(assignment_id=done.pk, profile=first, rating=good_rating(2))
    review_approve(assignment_id=done.pk, reviewer=world.reviewer("r1", 1), layer=1)
    done = review_approve(assignment_id=done.pk, reviewer=world.reviewer("r2", 2), layer=2)
    pending = assignment_next(profile=second)
    assert pending is not None
    if pending.task_id == done.task_id:
        # Another comparison (another prompt), so nothing it cites is finally rated yet.
        assignment_skip(assignment_id=pending.pk, profile=second)
        pending = assignment_next(profile=second)
        assert pending is not None and pending.task_id != done.task_id
    rating_submit(assignment_id=pending.pk, profile=second, rating=good_rating(2))
    pending.refresh_from_db()
    return world, done, pending


def test_a_forged_approved_rating_for_a_submitted_rating_is_refused(rated):
    _, done, pending = rated
    assert pending.status == Assignment.Status.SUBMITTED
    assert "copies a finally approved rating" in refused(FORGED_COPY, *copy_params(pending))
    assert not ApprovedRating.objects.filter(assignment=pending).exists()
    # Nor a second, different copy of an approved one (the one-to-one refuses it, after the
    # trigger): numbers other than the rating's are refused whatever the assignment.
    assert "copies a finally approved rating" in refused(
        FORGED_COPY, *copy_params(done, preference=-2, outcome=0.0)
    )
    assert ApprovedRating.objects.count() == 1


def test_final_ratings_cannot_be_deleted_nor_changed(rated):
    _, done, _ = rated
    copy = ApprovedRating.objects.get(assignment=done)
    assert "immutable" in refused("DELETE FROM annotation_approvedrating WHERE id = %s", copy.pk)
    assert "immutable" in refused("DELETE FROM annotation_assignment WHERE id = %s", done.pk)
    assert "immutable" in refused(
        "UPDATE annotation_approvedrating SET preference = -2 WHERE id = %s", copy.pk
    )


def test_what_a_final_rating_cites_is_frozen_in_the_database(rated):
    _, done, pending = rated
    task = ComparisonTask.objects.select_related("prompt", "response_a").get(pk=done.task_id)
    prompt_id, answer_id = task.prompt_id, task.response_a_id
    for statement in (
        "UPDATE seal_prompt SET text = 'rewritten' WHERE id = %s",
        "UPDATE seal_prompt SET content_hash = 'x' WHERE id = %s",
        "DELETE FROM seal_prompt WHERE id = %s",
    ):
        assert "a final rating cites this prompt" in refused(statement, prompt_id)
    for statement in (
        "UPDATE seal_response SET text = 'a better answer' WHERE id = %s",
        "UPDATE seal_response SET finish_reason = 'length' WHERE id = %s",
        "DELETE FROM seal_response WHERE id = %s",
    ):
        assert "a final rating cites this answer" in refused(statement, answer_id)
    assert Prompt.objects.get(pk=prompt_id).text == task.prompt.text
    assert Response.objects.get(pk=answer_id).text == task.response_a.text
    # What classifies or publishes a prompt stays editable; so does an answer's submission link.
    sql("UPDATE seal_prompt SET is_public_sample = %s WHERE id = %s", True, prompt_id)
    sql("UPDATE seal_response SET submission_id = NULL WHERE id = %s", answer_id)
    # A prompt only a submitted rating cites is not frozen yet.
    unrated = ComparisonTask.objects.get(pk=pending.task_id).prompt_id
    sql("UPDATE seal_prompt SET external_id = 'renamed' WHERE id = %s", unrated)
    sql("UPDATE seal_prompt SET text = 'fixed typo' WHERE id = %s", unrated)


def test_the_services_refuse_frozen_fields_by_name(rated):
    _, done, pending = rated
    task = ComparisonTask.objects.select_related("prompt", "response_b").get(pk=done.task_id)
    with pytest.raises(ApplicationError) as excinfo:
        prompt_edit(prompt=task.prompt, changes={"text": "rewritten"})
    assert set(excinfo.value.field_errors) == {"text", "content_hash"}
    assert "text" in excinfo.value.message
    with pytest.raises(ApplicationError) as excinfo:
        response_edit(response=task.response_b, changes={"text": "better"})
    assert set(excinfo.value.field_errors) == {"text"}
    edited = prompt_edit(prompt=task.prompt, changes={"gold_answer": "42"})
    assert edited.gold_answer == "42"
    # Before a final rating, an edit goes through and the hash follows the text.
    other = ComparisonTask.objects.select_related("prompt").get(pk=pending.task_id).prompt
    edited = prompt_edit(prompt=other, changes={"text": "Sort a list, fixed"})
    assert edited.content_hash == content_hash("Sort a list, fixed")


def test_the_admin_shows_rated_fields_read_only_with_a_note(client, rated):
    _, done, _ = rated
    task = ComparisonTask.objects.get(pk=done.task_id)
    client.force_login(User.objects.create_superuser("boss", "boss@example.org", "x-boss-1"))
    page = client.get(reverse("admin:seal_prompt_change", args=[task.prompt_id]))
    html = page.content.decode()
    assert "A final rating cites this prompt" in html
    assert 'name="text"' not in html and 'name="is_public_sample"' in html
    answer = client.get(reverse("admin:seal_response_change", args=[task.response_a_id]))
    assert "A final rating cites this answer" in answer.content.decode()
    assert 'name="text"' not in answer.content.decode()
    delete = client.get(reverse("admin:seal_prompt_delete", args=[task.prompt_id]))
    assert delete.status_code == 403


@pytest.mark.postgres
def test_truncate_of_the_rating_tables_is_refused(rated):
    require_postgres()
    for table in (
        "annotation_approvedrating",
        "annotation_assignment",
        "annotation_historicalassignment",
        "annotation_comparisontask",
    ):
        assert "TRUNCATE" in refused(f"TRUNCATE {table} CASCADE")
    assert ApprovedRating.objects.count() == 1


@pytest.mark.postgres
def test_an_approval_without_its_copy_cannot_be_committed(rated):
    require_postgres()
    _, _, pending = rated
    with transaction.atomic():
        sql(
            "UPDATE annotation_assignment SET status = 'approved', layer1_decision = 'approved', "
            "layer2_decision = 'approved', approved_at = submitted_at WHERE id = %s",
            pending.pk,
        )
        assert "in its own transaction" in refused("SET CONSTRAINTS ALL IMMEDIATE")
        transaction.set_rollback(True)  # leave nothing behind


FORGED_SCORED_COPY = (
    "INSERT INTO annotation_approvedrating (assignment_id, task_id, domain_id, prompt_id, "
    "model_a_id, model_b_id, annotator_id, preference, outcome, issue_tags_a, issue_tags_b, "
    "approved_at, scores_a, scores_b) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def test_final_approval_copies_the_dimension_scores_in_model_terms(rated):
    _, done, _ = rated
    copy = ApprovedRating.objects.get(assignment=done)
    # good_rating scores the left answer 4/4 and the right 2/2; A is on the left or the right.
    left, right = {"correctness": 4, "overall": 4}, {"correctness": 2, "overall": 2}
    expected = (left, right) if done.left_is_a else (right, left)
    assert (copy.scores_a, copy.scores_b) == expected
    assert (copy.scores_a, copy.scores_b) == (done.scores["a"], done.scores["b"])


def test_an_approved_rating_with_other_scores_than_the_rating_is_refused(rated):
    import json

    _, _, pending = rated
    with transaction.atomic():
        # Make the submitted rating finally approved by hand, so only the copy is missing.
        sql(
            "UPDATE annotation_assignment SET status = 'approved', layer1_decision = 'approved', "
            "layer2_decision = 'approved', approved_at = submitted_at WHERE id = %s",
            pending.pk,
        )
        pending.refresh_from_db()
        with connection.cursor() as cursor:
            # The stored value as is: SQLite compares the text of the two columns.
            cursor.execute(
                "SELECT approved_at FROM annotation_assignment WHERE id = %s", [pending.pk]
            )
            (approved_at,) = cursor.fetchone()
        outcome = 1.0 if pending.preference > 0 else 0.0 if pending.preference < 0 else 0.5
        base = copy_params(pending, outcome=outcome, approved_at=approved_at)
        tags = [json.dumps(pending.issue_tags["a"]), json.dumps(pending.issue_tags["b"])]
        params = [*base[:-1], *tags, base[-1]]
        scores_a, scores_b = pending.scores["a"], pending.scores["b"]
        for forged_a, forged_b in (
            ({**scores_a, "overall": 1}, scores_b),  # another number
            (scores_a, {**scores_b, "correctness": 5}),
            (scores_a, {}),  # dropped
            (None, None),  # left out
        ):
            message = refused(
                FORGED_SCORED_COPY,
                *params,
                None if forged_a is None else json.dumps(forged_a),
                None if forged_b is None else json.dumps(forged_b),
            )
            assert "copies a finally approved rating" in message
        # The exact copy goes in: the check is not simply refusing everything.
        sql(FORGED_SCORED_COPY, *params, json.dumps(scores_a), json.dumps(scores_b))
        assert ApprovedRating.objects.get(assignment=pending).scores_a == scores_a
        transaction.set_rollback(True)  # leave nothing behind
