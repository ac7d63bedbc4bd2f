"""A finally approved rating cannot change: not by save(), not by update(), not by raw SQL."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from annotation.models import ApprovedRating, Assignment
from annotation.services import assignment_next, rating_submit, review_approve
from tests.builders import World, good_rating

pytestmark = pytest.mark.django_db


@pytest.fixture
def approved(world: World, settings) -> Assignment:
    settings.SEAL_GOLD_RATE = 0.0
    annotator = world.annotator("ann")
    assignment = assignment_next(profile=annotator)
    assert assignment is not None
    rating_submit(assignment_id=assignment.pk, profile=annotator, rating=good_rating())
    review_approve(assignment_id=assignment.pk, reviewer=world.reviewer("r1", 1), layer=1)
    return review_approve(assignment_id=assignment.pk, reviewer=world.reviewer("r2", 2), layer=2)


def refused(action) -> str:
    with pytest.raises(DatabaseError) as excinfo, transaction.atomic():
        action()
    return str(excinfo.value)


def test_orm_save_is_refused(approved: Assignment):
    approved.preference = 0
    assert "immutable" in refused(approved.save)
    approved.refresh_from_db()
    assert approved.preference == (1 if approved.left_is_a else -1)


def test_queryset_update_and_delete_are_refused(approved: Assignment):
    rows = Assignment.objects.filter(pk=approved.pk)
    assert "immutable" in refused(lambda: rows.update(justification="rewritten"))
    assert "immutable" in refused(lambda: rows.update(status=Assignment.Status.REJECTED))
    # The ORM's collector refuses first (the approved copy protects it); below it, the trigger.
    assert "protected foreign keys" in refused(lambda: rows.delete())
    assert "immutable" in refused(lambda: rows._raw_delete(using="default"))
    approved.refresh_from_db()
    assert approved.status == Assignment.Status.APPROVED


def test_raw_sql_is_refused(approved: Assignment):
    def raw(sql: str, *params: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)

    assert "immutable" in refused(
        lambda: raw("UPDATE annotation_assignment SET preference = 0 WHERE id = %s", approved.pk)
    )
    assert "immutable" in refused(
        lambda: raw("DELETE FROM annotation_assignment WHERE id = %s", approved.pk)
    )
    counted = ApprovedRating.objects.get(assignment=approved)
    assert "immutable" in refused(
        lambda: raw("UPDATE annotation_approvedrating SET outcome = 0.5 WHERE id = %s", counted.pk)
    )
    assert "immutable" in refused(
        lambda: raw("DELETE FROM annotation_approvedrating WHERE id = %s", counted.pk)
    )
    assert ApprovedRating.objects.get(pk=counted.pk).outcome == counted.outcome


def test_changes_before_final_approval_are_in_the_audit_history(approved: Assignment):
    history = list(approved.history.order_by("history_date"))
    statuses = [h.status for h in history]
    assert statuses == ["leased", "submitted", "layer1_approved", "approved"]
    who = [h.history_user.username if h.history_user else None for h in history]
    assert who[1:] == ["ann", "r1", "r2"]
